//! What the CLI prints: the run summary (a table, or JSON) and conflict lists. Counts and ids
//! only on the terminal; values appear only where the user asked for conflicts.

use contact_sync_pipeline::cycle::CycleOutcome;
use contact_sync_pipeline::store::{ConflictKind, ConflictRecord, ConflictStatus};
use serde_json::json;
use std::io::Write;
use std::process::ExitCode;

/// 0 when every pair synced or was parked for review, 3 when some failed (pending, retried).
pub fn exit_code(outcome: &CycleOutcome) -> ExitCode {
    if outcome.stats.failed > 0 {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    }
}

pub fn summary_json(outcome: &CycleOutcome) -> serde_json::Value {
    json!({
        "run_id": outcome.run_id,
        "started_at": outcome.started_at,
        "finished_at": outcome.finished_at,
        "duration_seconds": duration_secs(outcome),
        "stats": outcome.stats,
    })
}

fn duration_secs(outcome: &CycleOutcome) -> f64 {
    (outcome.finished_at - outcome.started_at).num_milliseconds() as f64 / 1000.0
}

pub fn print_cycle(outcome: &CycleOutcome, json: bool) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        return writeln!(out, "{}", summary_json(outcome));
    }
    let s = &outcome.stats;
    writeln!(
        out,
        "run {}  ({:.2} s)",
        outcome.run_id,
        duration_secs(outcome)
    )?;
    writeln!(out, "  {:<22}{:>12}{:>12}", "", "Salesforce", "Genesys")?;
    for (label, v) in [
        ("read", s.read),
        ("changed since last run", s.changed),
        ("created", s.created),
        ("updated", s.updated),
    ] {
        writeln!(out, "  {label:<22}{:>12}{:>12}", v.salesforce, v.genesys)?;
    }
    writeln!(
        out,
        "  pairs: {} reconciled, {} unchanged, {} unlinked, {} skipped",
        s.pairs_enqueued, s.unchanged, s.unlinked, s.skipped
    )?;
    writeln!(
        out,
        "  conflicts settled by policy: {}   review items: {}   errors (pending, retried next run): {}",
        s.conflicts, s.review, s.failed
    )
}

pub fn print_conflicts(conflicts: &[ConflictRecord], json: bool) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        for c in conflicts {
            writeln!(out, "{}", serde_json::to_string(c).unwrap_or_default())?;
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
        let outcome = match &c.kind {
            ConflictKind::Resolved { winner } => format!("{winner} won ({})", c.policy),
            ConflictKind::Manual => "held (manual)".into(),
            ConflictKind::AmbiguousMatch { candidates } => {
                format!("ambiguous ({} candidates)", candidates.len())
            }
            ConflictKind::Deleted { side } => format!("deleted on {side}"),
            ConflictKind::Rejected { side, code, .. } => format!("{side} refused: {code}"),
            ConflictKind::Unmapped { side } => format!("{side} value not in value map"),
            ConflictKind::Chosen => "chosen by a person".into(),
            ConflictKind::MergeCollision { side, survivor } => {
                format!("{side} merged into paired {survivor}")
            }
            ConflictKind::DeletesHeld { count, population } => {
                format!("{count} deletes of {population} held")
            }
        };
        writeln!(
            out,
            "{:<20} {:<6} {:<20} {:<40} {:<18} {:<36} {:<40} {}",
            c.at.format("%Y-%m-%d %H:%M:%S"),
            match c.status {
                ConflictStatus::Open => "open",
                ConflictStatus::Closed => "closed",
            },
            c.field,
            outcome,
            c.sf_id.as_deref().unwrap_or("-"),
            c.gz_id.as_deref().unwrap_or("-"),
            c.pair_id.as_deref().unwrap_or("-"),
            c.id,
        )?;
    }
    Ok(())
}
