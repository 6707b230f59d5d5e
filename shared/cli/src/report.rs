//! What the CLI prints: the closing statistics of a run (a table, or JSON), a dry run's plan,
//! conflict and review lists. Counts, ids, field names and reasons only; stored values appear
//! only where the user asks for them (`--values`).

use crate::systems::Requests;
use contact_sync_pipeline::cycle::{CycleEnd, CycleOutcome, DryRunOutcome};
use contact_sync_pipeline::stats::SyncStats;
use contact_sync_pipeline::store::{ConflictKind, ConflictRecord, ConflictStatus};
use serde::Serialize;
use serde_json::{Value, json};
use std::io::Write;
use std::process::ExitCode;

/// Exit code of a run that was interrupted (as a shell reports Ctrl-C).
pub const INTERRUPTED: u8 = 130;
/// Exit code of a run in which some pairs failed with a retryable error (pending).
pub const FAILED: u8 = 3;
/// Exit code of a run in which a system refused records (see `review list`).
pub const REFUSED: u8 = 4;

/// Everything the closing statistics show.
#[derive(Debug, Clone, Serialize)]
pub struct Figures {
    pub run_id: String,
    pub dry_run: bool,
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub finished_at: chrono::DateTime<chrono::Utc>,
    pub duration_seconds: f64,
    pub end: CycleEnd,
    pub stats: SyncStats,
    /// HTTP requests each client sent during the run (token requests and retries included).
    pub api_calls: Requests,
    /// Records retrieved from both systems per second of the run.
    pub records_per_second: f64,
}

impl Figures {
    fn new(
        run_id: &str,
        dry_run: bool,
        (started_at, finished_at): (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>),
        end: CycleEnd,
        stats: &SyncStats,
        api_calls: Requests,
    ) -> Figures {
        let duration_seconds = (finished_at - started_at).num_milliseconds().max(0) as f64 / 1000.0;
        let records_per_second = if duration_seconds > 0.0 {
            stats.read.total() as f64 / duration_seconds
        } else {
            0.0
        };
        Figures {
            run_id: run_id.to_string(),
            dry_run,
            started_at,
            finished_at,
            duration_seconds,
            end,
            stats: stats.clone(),
            api_calls,
            records_per_second,
        }
    }

    pub fn of_cycle(outcome: &CycleOutcome, api_calls: Requests) -> Figures {
        Figures::new(
            &outcome.run_id,
            false,
            (outcome.started_at, outcome.finished_at),
            outcome.end,
            &outcome.stats,
            api_calls,
        )
    }

    pub fn of_dry_run(outcome: &DryRunOutcome, api_calls: Requests) -> Figures {
        Figures::new(
            &outcome.run_id,
            true,
            (outcome.started_at, outcome.finished_at),
            outcome.end,
            &outcome.stats,
            api_calls,
        )
    }

    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// 0: every pair synced or waits for a person's decision (or a limited run); 4: a system
/// refused records in this run (parked, see `review list`); 3: some failed (pending, retried
/// next run); 130: interrupted (the next run finishes the work). When several apply, the
/// first of 130, 3, 4 wins.
pub fn exit_code(figures: &Figures) -> ExitCode {
    ExitCode::from(exit_status(figures))
}

/// The number behind [`exit_code`].
pub fn exit_status(figures: &Figures) -> u8 {
    if figures.end == CycleEnd::Interrupted {
        INTERRUPTED
    } else if figures.stats.failed > 0 {
        FAILED
    } else if figures.stats.refused.total() > 0 && !figures.dry_run {
        REFUSED
    } else {
        0
    }
}

/// The closing statistics table.
pub fn print_figures(out: &mut impl Write, f: &Figures) -> std::io::Result<()> {
    let s = &f.stats;
    let would = if f.dry_run { " (would be)" } else { "" };
    writeln!(
        out,
        "{}run {}  {:.2} s  {}",
        if f.dry_run { "dry " } else { "" },
        f.run_id,
        f.duration_seconds,
        match f.end {
            CycleEnd::Completed => "completed",
            CycleEnd::Limited => "stopped at --limit: the rest is left for the next run",
            CycleEnd::Interrupted => "interrupted: the next run finishes the work",
        }
    )?;
    writeln!(out, "  {:<28}{:>12}{:>12}", "", "Salesforce", "Genesys")?;
    let rows = [
        ("retrieved", s.read),
        ("changed since last run", s.changed),
        (
            if f.dry_run {
                "created (would be)"
            } else {
                "created"
            },
            s.created,
        ),
        (
            if f.dry_run {
                "updated (would be)"
            } else {
                "updated"
            },
            s.updated,
        ),
        (
            if f.dry_run {
                "deleted (would be)"
            } else {
                "deleted"
            },
            s.deleted,
        ),
        ("refused (see review list)", s.refused),
    ];
    for (label, v) in rows {
        writeln!(out, "  {label:<28}{:>12}{:>12}", v.salesforce, v.genesys)?;
    }
    writeln!(
        out,
        "  {:<28}{:>12}{:>12}",
        "API calls", f.api_calls.salesforce, f.api_calls.genesys
    )?;
    let processed = s.pairs_enqueued.saturating_sub(s.left);
    for (label, value) in [
        ("pairs processed", processed),
        ("unchanged", s.unchanged),
        ("conflicts settled by policy", s.conflicts),
        ("review items", s.review),
        ("unlinked", s.unlinked),
        ("skipped", s.skipped),
        ("errors (pending, retried)", s.failed),
        ("left for the next run", s.left),
    ] {
        writeln!(out, "  {label:<28}{value:>12}{would}")?;
    }
    writeln!(
        out,
        "  {:<28}{:>12.1}",
        "records per second", f.records_per_second
    )
}

/// A dry run: every pair that would change, with the reason per field, then the figures.
pub fn print_dry_run(
    out: &mut impl Write,
    outcome: &DryRunOutcome,
    figures: &Figures,
) -> std::io::Result<()> {
    let mut unchanged = 0;
    for p in &outcome.pairs {
        if p.plan.action == contact_sync_engine::plan::PairAction::Unchanged {
            unchanged += 1;
            continue;
        }
        writeln!(
            out,
            "pair {}  salesforce {}  genesys {}{}",
            p.pair_id.as_deref().unwrap_or("(new)"),
            p.sf_id.as_deref().unwrap_or("-"),
            p.gz_id.as_deref().unwrap_or("-"),
            if p.held_by_breaker {
                "  [held by the delete breaker]"
            } else {
                ""
            }
        )?;
        writeln!(out, "  {}", p.plan.to_string().replace('\n', "\n  "))?;
    }
    if unchanged > 0 {
        writeln!(out, "{unchanged} pairs unchanged (not listed)")?;
    }
    for item in &outcome.review_items {
        writeln!(
            out,
            "would open review item {}: {}",
            item.id,
            outcome_text(item)
        )?;
    }
    writeln!(out, "nothing was written: no system, no state")?;
    print_figures(out, figures)
}

/// A dry run as JSON: the figures, every pair's plan, and the review items it would open.
pub fn dry_run_json(outcome: &DryRunOutcome, figures: &Figures) -> Value {
    let mut value = figures.to_json();
    value["pairs"] = serde_json::to_value(&outcome.pairs).unwrap_or(Value::Null);
    value["review_items"] = outcome
        .review_items
        .iter()
        .map(|c| conflict_json(c, false))
        .collect();
    value
}

/// What a conflict record says, in words (no values).
pub fn outcome_text(c: &ConflictRecord) -> String {
    match &c.kind {
        ConflictKind::Resolved { winner } => format!("{winner} won ({})", c.policy),
        ConflictKind::Manual => "held (manual)".into(),
        ConflictKind::AmbiguousMatch { candidates } if c.policy == "link" => {
            format!("linked by a person to {}", candidates.join(", "))
        }
        ConflictKind::AmbiguousMatch { candidates } => match c.policy.as_str() {
            "create_new" => "created as new by a person".into(),
            "dismissed" => "dismissed by a person".into(),
            _ => format!("ambiguous ({} candidates)", candidates.len()),
        },
        ConflictKind::Deleted { side } => format!("deleted on {side}"),
        ConflictKind::Rejected { side, code, .. } => format!("{side} refused: {code}"),
        ConflictKind::Unmapped { side } => format!("{side} value not in value map"),
        ConflictKind::Chosen => "chosen by a person".into(),
        ConflictKind::Erased { side } => format!("values erased ({side} record forgotten)"),
        ConflictKind::MergeCollision { side, survivor } => {
            format!("{side} merged into paired {survivor}")
        }
        ConflictKind::DeletesHeld { count, population } => match c.policy.as_str() {
            "release" => format!("{count} held deletes released: the next sync applies them"),
            "keep" => format!("{count} held deletes kept: the next sync unlinks instead"),
            _ => format!("{count} deletes of {population} held"),
        },
    }
}

fn status_text(status: ConflictStatus) -> &'static str {
    match status {
        ConflictStatus::Open => "open",
        ConflictStatus::Closed => "closed",
    }
}

/// A conflict as JSON; the stored values only when `values`.
pub fn conflict_json(c: &ConflictRecord, values: bool) -> Value {
    let mut v = serde_json::to_value(c).unwrap_or(Value::Null);
    if let Some(map) = v.as_object_mut() {
        for key in ["base_value", "salesforce_value", "genesys_value"] {
            if !values {
                map.remove(key);
            }
        }
        // A refused record's message may quote a value.
        if !values && let Some(kind) = map.get_mut("kind").and_then(Value::as_object_mut) {
            kind.remove("message");
        }
        map.insert("outcome".into(), json!(outcome_text(c)));
    }
    v
}

pub fn print_conflicts(
    out: &mut impl Write,
    conflicts: &[ConflictRecord],
    json: bool,
    values: bool,
) -> std::io::Result<()> {
    if json {
        for c in conflicts {
            writeln!(out, "{}", conflict_json(c, values))?;
        }
        return Ok(());
    }
    if conflicts.is_empty() {
        return writeln!(out, "no conflicts recorded");
    }
    writeln!(
        out,
        "{:<20} {:<6} {:<20} {:<40} {:<18} {:<36} {:<40} id",
        "when", "status", "field", "outcome", "salesforce", "genesys", "pair"
    )?;
    for c in conflicts {
        writeln!(
            out,
            "{:<20} {:<6} {:<20} {:<40} {:<18} {:<36} {:<40} {}",
            c.at.format("%Y-%m-%d %H:%M:%S"),
            status_text(c.status),
            c.field,
            outcome_text(c),
            c.sf_id.as_deref().unwrap_or("-"),
            c.gz_id.as_deref().unwrap_or("-"),
            c.pair_id.as_deref().unwrap_or("-"),
            c.id,
        )?;
    }
    Ok(())
}

/// One conflict in full; the stored values only when `values`.
pub fn print_conflict(
    out: &mut impl Write,
    c: &ConflictRecord,
    values: bool,
) -> std::io::Result<()> {
    let line = |out: &mut dyn Write, label: &str, value: &str| writeln!(out, "{label:<18}{value}");
    line(out, "id", &c.id)?;
    line(out, "status", status_text(c.status))?;
    line(out, "what", &outcome_text(c))?;
    line(out, "field", &c.field)?;
    line(out, "policy", &c.policy)?;
    line(out, "pair", c.pair_id.as_deref().unwrap_or("-"))?;
    line(out, "salesforce id", c.sf_id.as_deref().unwrap_or("-"))?;
    line(out, "genesys id", c.gz_id.as_deref().unwrap_or("-"))?;
    line(out, "run", &c.run_id)?;
    line(out, "when", &c.at.to_rfc3339())?;
    match &c.kind {
        ConflictKind::AmbiguousMatch { candidates } => {
            line(out, "candidates", &candidates.join(", "))?
        }
        ConflictKind::Rejected { code, message, .. } => {
            line(out, "error code", code)?;
            if values {
                line(out, "error message", message)?;
            }
        }
        _ => {}
    }
    if values {
        let shown = |v: &Option<String>| v.clone().unwrap_or_else(|| "(empty)".into());
        line(out, "base value", &shown(&c.base_value))?;
        line(out, "salesforce value", &shown(&c.salesforce_value))?;
        line(out, "genesys value", &shown(&c.genesys_value))?;
    } else if c.base_value.is_some() || c.salesforce_value.is_some() || c.genesys_value.is_some() {
        line(out, "values", "stored; add --values to show them")?;
    }
    Ok(())
}

/// Open review items (ambiguous matches, held deletes, pending decisions, ...).
pub fn print_review(
    out: &mut impl Write,
    items: &[ConflictRecord],
    json: bool,
) -> std::io::Result<()> {
    if json {
        for c in items {
            writeln!(out, "{}", conflict_json(c, false))?;
        }
        return Ok(());
    }
    if items.is_empty() {
        return writeln!(out, "nothing waits for review");
    }
    for c in items {
        let record = match (&c.sf_id, &c.gz_id) {
            (Some(sf), Some(gz)) => format!("salesforce {sf}, genesys {gz}"),
            (Some(sf), None) => format!("salesforce {sf}"),
            (None, Some(gz)) => format!("genesys {gz}"),
            (None, None) => "-".into(),
        };
        writeln!(out, "{}", c.id)?;
        writeln!(out, "    {}  ({record})", outcome_text(c))?;
        let hint = match &c.kind {
            ConflictKind::AmbiguousMatch { candidates }
                if c.pair_id.is_none() && (c.sf_id.is_none() != c.gz_id.is_none()) =>
            {
                format!(
                    "candidates: {}; decide with --link <candidate>, --create-new or --dismiss",
                    candidates.join(", ")
                )
            }
            ConflictKind::AmbiguousMatch { .. } => format!("{}; decide with --dismiss", c.policy),
            ConflictKind::DeletesHeld { .. }
                if contact_sync_pipeline::review::is_delete_decision(c) =>
            {
                "waits for the next sync".into()
            }
            ConflictKind::DeletesHeld { .. } => "decide with --release or --keep".into(),
            ConflictKind::Manual | ConflictKind::Unmapped { .. } => {
                "a held field: `contact-sync conflicts resolve`".into()
            }
            _ => "decide with --dismiss".into(),
        };
        writeln!(out, "    {hint}")?;
    }
    Ok(())
}
