//! `contact-sync`: check the setup, run a sync in one process (embedded store, in-process
//! queue) against real orgs configured from the environment or against the built-in sandbox
//! simulators, and settle what waits for a person.
//!
//! Exit codes: 0 success (every pair synced or parked for review; every check passed); 3 some
//! records failed (they stay pending and are retried next run); 2 a check failed or the
//! command line is wrong; 130 the run was interrupted (the next run finishes the work); 1 the
//! command could not complete (bad config, auth failure).

mod backend;
mod check;
mod conflicts;
mod dlq;
mod forget;
mod mapping;
mod progress;
mod report;
mod review;
mod run_lock;
mod sandbox;
mod status;
mod sync;
mod systems;
mod wiring;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// mimalloc: allocation-heavy JSON mapping runs measurably faster than with the system
/// allocator (see BENCHMARKS.md, engine throughput).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Verify the configuration, both systems' credentials and the integration user's
    /// permissions, read-only; prints one line per check with the fix for each failure.
    Check {
        /// Check against the sandbox simulators instead of the orgs in the environment.
        #[arg(long)]
        sandbox: bool,
        /// Print the checks as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run a sync: poll both sides, reconcile every changed pair, record conflicts.
    Sync(sync::SyncArgs),
    /// Conflicts recorded by earlier runs, and the held fields a person settles.
    Conflicts {
        #[command(subcommand)]
        command: conflicts::ConflictsCommand,
    },
    /// Ambiguous matches, held deletes and other items a person decides.
    Review {
        #[command(subcommand)]
        command: review::ReviewCommand,
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
    /// Erase a person's values from the store (their pair's base snapshot and chosen values,
    /// the values of their audit entries and review items), keeping ids and decisions; the
    /// erasure is audited by ids only. The records in Salesforce and Genesys are not touched.
    Forget(forget::ForgetArgs),
    /// The mapping of a deployment: `publish` validates a file and writes it to the stack's
    /// mapping parameter.
    Mapping {
        #[command(subcommand)]
        command: mapping::MappingCommand,
    },
    /// The sandbox simulators for other processes (e.g. the Lambdas under `cargo lambda`).
    Sandbox {
        #[command(subcommand)]
        command: SandboxCommand,
    },
}

#[derive(Subcommand)]
enum SandboxCommand {
    /// Start both simulators on loopback, print their connection variables (`NAME=value`) and
    /// serve until Ctrl-C; the orgs are kept in the state directory like `sync --sandbox`'s.
    Serve {
        /// Start from newly seeded orgs.
        #[arg(long)]
        fresh: bool,
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
        Command::Check { sandbox, json } => {
            // The simulators run as long as `sandbox` lives.
            let sandbox = match sandbox {
                true => Some(sandbox::Sandbox::open(&state_dir(), false, true).await?),
                false => None,
            };
            let connections = sandbox.as_ref().map(sandbox::Sandbox::connections);
            let checks = check::run(mapping::for_check().await, connections).await;
            finish_check(&checks, json)
        }
        Command::Sync(args) => sync::run(args).await,
        Command::Conflicts { command } => conflicts::run(command).await,
        Command::Review { command } => review::run(command).await,
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
        Command::Forget(args) => forget::run(args).await,
        Command::Mapping { command } => mapping::run(command).await,
        Command::Sandbox {
            command: SandboxCommand::Serve { fresh },
        } => sandbox::serve(&state_dir(), fresh).await,
    }
}

fn state_dir() -> std::path::PathBuf {
    contact_sync_connectors::environment::state_dir_from_env()
}

fn finish_check(checks: &[check::Check], json: bool) -> anyhow::Result<ExitCode> {
    check::print(&mut std::io::stdout().lock(), checks, json)?;
    Ok(if check::any_failed(checks) {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
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
