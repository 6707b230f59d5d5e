//! `contact-sync`: run a sync in one process (embedded store, in-process queue), against real
//! orgs configured from the environment or against the built-in sandbox simulators.
//!
//! Exit codes: 0 every pair synced or parked for review; 3 some records failed (they stay
//! pending and are retried next run); 1 the run could not complete (bad config, auth failure).

mod backend;
mod dlq;
mod report;
mod sandbox;
mod status;
mod wiring;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "contact-sync",
    version,
    about = "Keep Salesforce and Genesys Cloud contacts in sync"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a sync cycle: poll both sides, reconcile every changed pair, record conflicts.
    Sync {
        /// Run one cycle and exit (the only mode this version has).
        #[arg(long)]
        once: bool,
        /// Start both simulators in-process, seed them with sample data and sync them (no
        /// accounts needed). State goes to `<state dir>/sandbox.redb`, fresh each time.
        #[arg(long)]
        sandbox: bool,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Conflicts and review items recorded by earlier runs.
    Conflicts {
        #[command(subcommand)]
        command: ConflictsCommand,
    },
    /// Health: the last runs, error and conflict rates, watermark lag per side, open review
    /// items, pending pairs.
    Status {
        /// How many recent runs to show and rate.
        #[arg(long, default_value_t = 10)]
        runs: usize,
        /// Read the sandbox's state instead of the real one.
        #[arg(long)]
        sandbox: bool,
        /// Print one JSON document.
        #[arg(long)]
        json: bool,
    },
    /// The dead-letter queues of the deployed backend (CONTACT_SYNC_BACKEND=aws).
    Dlq {
        #[command(subcommand)]
        command: dlq::DlqCommand,
    },
}

#[derive(Subcommand)]
enum ConflictsCommand {
    /// List conflicts, newest first.
    List {
        /// Only items waiting for a person.
        #[arg(long)]
        open: bool,
        /// Read the sandbox's state instead of the real one.
        #[arg(long)]
        sandbox: bool,
        /// Print JSON lines.
        #[arg(long)]
        json: bool,
    },
    /// Settle a held field (manual conflict or unmapped value): the choice is stored, the item
    /// closed, and the next sync writes the chosen value (audited as `chosen`).
    #[command(group(clap::ArgGroup::new("choice").required(true).args(["side", "value", "clear"])))]
    Resolve {
        /// The review item's id (first column of `conflicts list --open`).
        id: String,
        /// Keep the value this side holds.
        #[arg(long, value_parser = ["salesforce", "genesys"])]
        side: Option<String>,
        /// Write this value on both sides.
        #[arg(long)]
        value: Option<String>,
        /// Clear the field on both sides.
        #[arg(long)]
        clear: bool,
        /// Use the sandbox's state instead of the real one.
        #[arg(long)]
        sandbox: bool,
    },
}

fn main() -> ExitCode {
    init_logging();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Sync {
            once: _,
            sandbox: true,
            json,
        } => sandbox::run(json).await,
        Command::Sync {
            once: _,
            sandbox: false,
            json,
        } => {
            let setup = wiring::Setup::from_env()?;
            let local = backend::Backend::open(false)
                .await?
                .integration(setup.connections)?;
            let outcome = wiring::cycle(&local).await?;
            report::print_cycle(&outcome, json)?;
            Ok(report::exit_code(&outcome))
        }
        Command::Conflicts {
            command:
                ConflictsCommand::List {
                    open,
                    sandbox,
                    json,
                },
        } => {
            let backend = backend::Backend::open(sandbox).await?;
            let conflicts = backend
                .store
                .conflicts(&backend.mapping.integration, open)
                .await?;
            report::print_conflicts(&conflicts, json)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Conflicts {
            command:
                ConflictsCommand::Resolve {
                    id,
                    side,
                    value,
                    clear,
                    sandbox,
                },
        } => {
            use contact_sync_pipeline::review::{Decision, resolve};
            let decision = match (side.as_deref(), value) {
                (Some("salesforce"), _) => Decision::Side(contact_sync_engine::Side::Salesforce),
                (Some(_), _) => Decision::Side(contact_sync_engine::Side::Genesys),
                (None, Some(v)) => Decision::Value(v),
                (None, None) if clear => Decision::Clear,
                (None, None) => anyhow::bail!("choose --side, --value or --clear"),
            };
            let backend = backend::Backend::open(sandbox).await?;
            let done = resolve(&*backend.store, &backend.mapping, &id, decision).await?;
            println!(
                "resolved: field `{}` of pair {} will be written by the next sync",
                done.field, done.pair_id
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Status {
            runs,
            sandbox,
            json,
        } => {
            let backend = backend::Backend::open(sandbox).await?;
            status::print(&status::gather(&backend, runs).await?, json)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Dlq { command } => dlq::run(command).await,
    }
}

/// Logs go to stderr; `RUST_LOG` sets the level (default `warn`). Never values: ids and counts.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
}
