//! `contact-sync review list | resolve`: what a run could not decide alone besides held
//! fields: ambiguous matches, held deletes, records deleted, refused or merged on one side.

use crate::report;
use crate::wiring::{self, Target};
use contact_sync_pipeline::review::{ReviewDecision, decide};
use contact_sync_pipeline::store::ConflictKind;
use std::io::Write;
use std::process::ExitCode;

#[derive(Debug, clap::Subcommand)]
pub enum ReviewCommand {
    /// List the open items, oldest decisions first, with what can be decided.
    List {
        /// Read the sandbox's state instead of the real one.
        #[arg(long)]
        sandbox: bool,
        /// Print JSON lines.
        #[arg(long)]
        json: bool,
    },
    /// Decide an item. The decision is audited (`<id>#<decision>` in `conflicts list`) and
    /// applied by the next sync.
    #[command(group(clap::ArgGroup::new("decision").required(true)
        .args(["link", "create_new", "dismiss", "release", "keep"])))]
    Resolve {
        /// The item's id (first line of each item in `review list`).
        id: String,
        /// Ambiguous match: pair the record with this candidate (an id of the other side).
        #[arg(long, value_name = "CANDIDATE")]
        link: Option<String>,
        /// Ambiguous match: the record is nobody else; the next sync creates its twin.
        #[arg(long)]
        create_new: bool,
        /// Leave the record as it is and close the item (ambiguous matches, records deleted,
        /// refused or merged on one side). A dismissed ambiguous record is not matched again.
        #[arg(long)]
        dismiss: bool,
        /// Held deletes: the next sync applies them (its delete breaker is lifted once).
        #[arg(long)]
        release: bool,
        /// Held deletes: the next sync unlinks the pairs instead of deleting the other records.
        #[arg(long)]
        keep: bool,
        /// Use the sandbox's state instead of the real one.
        #[arg(long)]
        sandbox: bool,
    },
}

pub async fn run(command: ReviewCommand) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    let mapping = crate::mapping::for_backend(None).await?;
    match command {
        ReviewCommand::List { sandbox, json } => {
            let store = wiring::store(Target::from_flag(sandbox), false).await?;
            let mut items = store.conflicts(&mapping.integration, true).await?;
            // Held fields are settled with `conflicts resolve`.
            items.retain(|c| {
                !matches!(c.kind, ConflictKind::Manual | ConflictKind::Unmapped { .. })
            });
            items.reverse();
            report::print_review(&mut out, &items, json)?;
        }
        ReviewCommand::Resolve {
            id,
            link,
            create_new,
            dismiss,
            release,
            keep,
            sandbox,
        } => {
            let decision = match (link, create_new, dismiss, release, keep) {
                (Some(candidate), ..) => ReviewDecision::Link(candidate),
                (None, true, ..) => ReviewDecision::CreateNew,
                (None, false, true, ..) => ReviewDecision::Dismiss,
                (None, false, false, true, _) => ReviewDecision::Release,
                _ => ReviewDecision::Keep,
            };
            let store = wiring::store(Target::from_flag(sandbox), false).await?;
            let done = decide(
                &*store,
                &mapping.integration,
                &id,
                decision.clone(),
                chrono::Utc::now(),
            )
            .await?;
            let effect = match (&decision, &done.pair_id) {
                (ReviewDecision::Link(c), Some(pair)) => {
                    format!("linked to {c} as pair {pair}; the next sync reconciles it")
                }
                (ReviewDecision::CreateNew, Some(pair)) => {
                    format!("pair {pair} created; the next sync creates the record's twin")
                }
                (ReviewDecision::Release, _) => {
                    "released: the next sync applies the held deletes".into()
                }
                (ReviewDecision::Keep, _) => {
                    "kept: the next sync unlinks the pairs instead of deleting".into()
                }
                _ => "dismissed".into(),
            };
            writeln!(out, "{id}: {effect} (audit: {})", done.audit_id)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
