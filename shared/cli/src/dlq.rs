//! `contact-sync dlq list|replay`: the deployed backend's dead-letter queues (see
//! `contact_sync_aws::dead_letters`). Ids and counts only; message bodies are never printed.

use crate::backend::Backend;
use clap::Subcommand;
use contact_sync_aws::dead_letters::{Content, DeadLetter, ReplayReport, Selection};
use std::io::Write;
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// List the messages of the reconcile and conflict dead-letter queues (listing counts as
    /// one receive of each message; nothing else changes).
    List {
        /// Print JSON lines.
        #[arg(long)]
        json: bool,
    },
    /// Send messages back to the queue they came from; each is deleted from the dead-letter
    /// queue only after its send succeeded.
    #[command(group(clap::ArgGroup::new("which").required(true).args(["id", "all"])))]
    Replay {
        /// A message id from `dlq list` (repeatable).
        #[arg(long)]
        id: Vec<String>,
        /// Every message of both dead-letter queues.
        #[arg(long)]
        all: bool,
        /// Say what would be replayed; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Replay malformed messages too (they fail again unless the consumer changed).
        #[arg(long)]
        force: bool,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(command: DlqCommand) -> anyhow::Result<ExitCode> {
    let backend = Backend::open(false).await?;
    let dead_letters = match backend.dead_letters().await {
        Ok(d) => d,
        Err(e) if matches!(command, DlqCommand::List { .. }) => {
            // Nothing to list is not a failure.
            println!("{e}");
            return Ok(ExitCode::SUCCESS);
        }
        Err(e) => return Err(e),
    };
    match command {
        DlqCommand::List { json } => {
            print_list(&dead_letters.list().await?, json)?;
            Ok(ExitCode::SUCCESS)
        }
        DlqCommand::Replay {
            id,
            all,
            dry_run,
            force,
            json,
        } => {
            let selection = if all {
                Selection::All
            } else {
                Selection::Ids(id)
            };
            let report = dead_letters.replay(&selection, force, dry_run).await?;
            print_report(&report, json)?;
            Ok(if report.failed.is_empty() && report.not_found.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(3)
            })
        }
    }
}

fn print_list(letters: &[DeadLetter], json: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        for l in letters {
            writeln!(out, "{}", serde_json::to_string(l)?)?;
        }
        return Ok(());
    }
    if letters.is_empty() {
        writeln!(out, "both dead-letter queues are empty")?;
        return Ok(());
    }
    writeln!(
        out,
        "{:<38} {:<10} {:<14} {:<34} {:>5} {:>8}  {:<20} problem",
        "message id", "kind", "integration", "run", "pairs", "receives", "first received (UTC)"
    )?;
    for l in letters {
        let (integration, run, pairs, problem) = match &l.content {
            Content::Message {
                integration,
                run_id,
                pairs,
            } => (integration.as_str(), run_id.as_str(), pairs.to_string(), ""),
            Content::Malformed { problem } => ("-", "-", "-".into(), problem.as_str()),
        };
        writeln!(
            out,
            "{:<38} {:<10} {:<14} {:<34} {:>5} {:>8}  {:<20} {}",
            l.message_id,
            l.kind.name(),
            integration,
            run,
            pairs,
            l.receive_count
                .map(|n| n.to_string())
                .unwrap_or_else(|| "-".into()),
            l.first_received_at
                .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                .unwrap_or_else(|| "-".into()),
            problem
        )?;
    }
    let malformed = letters.iter().filter(|l| l.is_malformed()).count();
    writeln!(
        out,
        "\n{} message(s), {malformed} malformed (replayed only with --force)",
        letters.len()
    )?;
    Ok(())
}

fn print_report(report: &ReplayReport, json: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::to_string(report)?)?;
        return Ok(());
    }
    let verb = if report.dry_run {
        "would replay"
    } else {
        "replayed"
    };
    for (label, ids) in [
        (verb, &report.replayed),
        (
            "left (malformed; --force to replay)",
            &report.skipped_malformed,
        ),
        ("left (send failed; try again)", &report.failed),
        (
            "sent but still in the dead-letter queue (delete failed; harmless duplicate)",
            &report.sent_not_deleted,
        ),
        ("not found", &report.not_found),
    ] {
        if !ids.is_empty() {
            writeln!(out, "{label}: {}", ids.len())?;
            for id in ids {
                writeln!(out, "  {id}")?;
            }
        }
    }
    if report.replayed.is_empty()
        && report.skipped_malformed.is_empty()
        && report.failed.is_empty()
        && report.not_found.is_empty()
    {
        writeln!(out, "nothing to replay")?;
    }
    Ok(())
}
