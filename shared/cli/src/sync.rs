//! `contact-sync sync`: one run, incremental by default, or full, over a date window, limited,
//! one-way, or dry; with progress on a terminal, a closing statistics table, and Ctrl-C that
//! stops between batches.

use crate::progress::Display;
use crate::report::{self, Figures};
use crate::sandbox::Sandbox;
use crate::wiring::{self, Direction, Target};
use anyhow::Context;
use chrono::{DateTime, NaiveDate, Utc};
use contact_sync_connectors::environment::{self, ConnectionSettings};
use contact_sync_pipeline::cycle::{self, CycleOptions};
use contact_sync_pipeline::notify::LogAlerter;
use contact_sync_pipeline::run_store::ReadFrom;
use std::io::Write;
use std::process::ExitCode;
use tokio_util::sync::CancellationToken;

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("window").args(["once", "full", "days", "since"])))]
pub struct SyncArgs {
    /// Incremental: read each side's changes since its watermark (the default).
    #[arg(long)]
    pub once: bool,
    /// Ignore the watermarks and read everything: Salesforce through Bulk API 2.0 (above
    /// SALESFORCE_BULK_THRESHOLD records), a full scan of Genesys. Every pair is checked;
    /// pairs already in sync are not written. Watermarks only ever move forward.
    #[arg(long)]
    pub full: bool,
    /// Read the changes of the last N days instead of since the watermark (or since the
    /// watermark if that is older: nothing not yet synced is skipped).
    #[arg(long, value_name = "N")]
    pub days: Option<u32>,
    /// Read the changes since DATE (`2026-11-01` or `2026-11-01T08:00:00Z`) instead of since the
    /// watermark (or since the watermark if that is older).
    #[arg(long, value_name = "DATE", value_parser = parse_since)]
    pub since: Option<DateTime<Utc>>,
    /// Write at most N pairs this run (created, updated, deleted, unlinked or parked for
    /// review; pairs already in sync are checked but do not count). When the limit is reached
    /// the remaining pairs are left untouched and the watermarks do not move, so the next run
    /// reads the same changes again and carries on: nothing is lost, and each run makes
    /// progress by up to N pairs.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Override the mapping's mode: `one-way` (Salesforce → Genesys; nothing is ever written
    /// to Salesforce) or `both` (as each field's direction says).
    #[arg(long, value_enum)]
    pub direction: Option<Direction>,
    /// Read both sides and print what the run would do, per pair and field (names and
    /// reasons, never values). Writes nothing anywhere: no system, no state.
    #[arg(long)]
    pub dry_run: bool,
    /// Run against the built-in simulators (no accounts needed); their data is kept in the
    /// state directory between commands (`sandbox-orgs.json`, state in `sandbox.redb`).
    #[arg(long)]
    pub sandbox: bool,
    /// With --sandbox: start over with freshly seeded orgs and an empty state.
    #[arg(long, requires = "sandbox")]
    pub fresh: bool,
    /// Print the summary as JSON (no progress display).
    #[arg(long)]
    pub json: bool,
}

fn parse_since(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc())
        .ok_or_else(|| format!("`{text}` is not a date (2026-11-01) or an RFC 3339 time"))
}

impl SyncArgs {
    fn read_from(&self) -> ReadFrom {
        match (self.full, self.days, self.since) {
            (true, _, _) => ReadFrom::Start,
            (_, Some(days), _) => ReadFrom::Since(Utc::now() - chrono::Duration::days(days.into())),
            (_, _, Some(at)) => ReadFrom::Since(at),
            _ => ReadFrom::Watermark,
        }
    }
}

/// Ctrl-C: the first stops the run between batches, the second ends the process at once.
fn stop_on_ctrl_c(stop: CancellationToken) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_err() {
            return;
        }
        stop.cancel();
        eprintln!(
            "stopping: the batch in progress finishes and no new one starts (Ctrl-C again to quit at once)"
        );
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("quit: pairs in progress are retried by the next run");
            std::process::exit(i32::from(report::INTERRUPTED));
        }
    })
}

pub async fn run(args: SyncArgs) -> anyhow::Result<ExitCode> {
    let stop = CancellationToken::new();
    let watcher = stop_on_ctrl_c(stop.clone());
    let result = run_until(args, stop).await;
    watcher.abort();
    result
}

/// A run that stops between batches once `stop` is cancelled.
pub async fn run_until(args: SyncArgs, stop: CancellationToken) -> anyhow::Result<ExitCode> {
    let mapping = crate::mapping::for_backend(args.direction).await?;
    let target = Target::from_flag(args.sandbox);
    // Held until the run returns: one run at a time on a local state (before the sandbox,
    // which may reset that state).
    let run_lock = wiring::run_lock(target)?;
    let sandbox = if args.sandbox {
        Some(Sandbox::open(&environment::state_dir_from_env(), args.fresh, args.dry_run).await?)
    } else {
        None
    };
    let connections = match &sandbox {
        Some(sb) => sb.connections(),
        None => ConnectionSettings::from_env().map_err(|e| anyhow::anyhow!("{e}"))?,
    };
    // A dry run over freshly seeded sandbox orgs plans against an empty state (an old sandbox
    // state describes other records, and a dry run removes nothing).
    let fresh_orgs = sandbox.as_ref().is_some_and(|sb| sb.seeded.is_some());
    let store = if args.dry_run && fresh_orgs {
        std::sync::Arc::new(contact_sync_pipeline::store::memory::MemoryStore::new())
    } else {
        wiring::store_for_run(target, !args.dry_run, run_lock.as_ref()).await?
    };
    let wired = wiring::integration(connections, mapping, store, args.dry_run).await?;
    let options = CycleOptions {
        read_from: args.read_from(),
        limit: args.limit,
        stop,
    };
    let mut out = std::io::stdout().lock();
    if let (Some(sb), false) = (&sandbox, args.json) {
        match sb.seeded {
            Some(seed) => writeln!(
                out,
                "sandbox: new orgs seeded: Salesforce {} contacts, Genesys {} ({} people on both)",
                seed.salesforce, seed.genesys, seed.overlapping
            )?,
            None => writeln!(
                out,
                "sandbox: the orgs kept in {}",
                crate::sandbox::orgs_file(&environment::state_dir_from_env()).display()
            )?,
        }
    }
    let display = Display::start(!args.json, wired.systems.read.clone());
    match options.read_from {
        ReadFrom::Watermark => {}
        ReadFrom::Start => display.note("reading every record (--full), not only the changes"),
        ReadFrom::Since(at) => display.note(&format!(
            "reading the changes since {} (or since the watermark, if older)",
            at.format("%Y-%m-%d %H:%M:%S UTC")
        )),
    }
    let before = wired.systems.requests();
    let requests = |after: crate::systems::Requests| crate::systems::Requests {
        salesforce: after.salesforce - before.salesforce,
        genesys: after.genesys - before.genesys,
    };
    let (figures, json) = if args.dry_run {
        let outcome = cycle::dry_run(&wired.integration, &options, |p| display.on(p))
            .await
            .context("dry run")?;
        display.finish();
        let figures = Figures::of_dry_run(&outcome, requests(wired.systems.requests()));
        if !args.json {
            report::print_dry_run(&mut out, &outcome, &figures)?;
        }
        let json = report::dry_run_json(&outcome, &figures);
        (figures, json)
    } else {
        let outcome = cycle::run_cycle_with(
            &wired.integration,
            &wired.queue,
            &LogAlerter,
            &options,
            |p| display.on(p),
        )
        .await?;
        display.finish();
        let figures = Figures::of_cycle(&outcome, requests(wired.systems.requests()));
        if !args.json {
            report::print_figures(&mut out, &figures)?;
        }
        (figures.clone(), figures.to_json())
    };
    let mut json = json;
    if let Some(sb) = &sandbox {
        if !args.dry_run {
            sb.save()?;
        }
        let (sf, gz) = (sb.salesforce.counters(), sb.genesys.counters());
        // What the simulators received: the ground truth for "writes nothing".
        json["sandbox_requests"] = serde_json::json!({
            "salesforce": {"reads": sf.reads, "writes": sf.writes, "auth": sf.auth},
            "genesys": {"reads": gz.reads, "writes": gz.writes, "auth": gz.auth},
        });
        if !args.json {
            writeln!(
                out,
                "  simulators received: Salesforce {} reads, {} writes; Genesys {} reads, {} writes",
                sf.reads, sf.writes, gz.reads, gz.writes
            )?;
        }
    }
    if args.json {
        writeln!(out, "{json}")?;
    } else if figures.stats.review > 0 && !args.dry_run {
        let flag = if args.sandbox { " --sandbox" } else { "" };
        let refused = figures.stats.refused;
        if refused.total() > 0 {
            writeln!(
                out,
                "records were refused (Salesforce {}, Genesys {}): they are retried when they change; see contact-sync review list{flag}",
                refused.salesforce, refused.genesys
            )?;
        }
        writeln!(
            out,
            "see what waits for a person: contact-sync conflicts list --open{flag}  /  contact-sync review list{flag}"
        )?;
    }
    Ok(report::exit_code(&figures))
}
