//! `contact-sync status`: the health of the integration from its stored state — the last runs
//! (when, how long, outcome, counts), error and conflict rates over them, how far behind each
//! side's watermark is, open review items and pending pairs. Counts and ids only.
//!
//! On the deployed backend a run record is written by the poller, so its counts are the
//! poll's (records read and changed, pairs enqueued, ambiguous matches); what the reconcilers
//! did (writes, conflicts, failed pairs) is in the CloudWatch metrics, not in the run record,
//! so the rates are not computed there.

use crate::backend::{Backend, BackendKind};
use chrono::{DateTime, Utc};
use contact_sync_engine::Side;
use contact_sync_pipeline::stats::{PerSide, SyncStats};
use contact_sync_pipeline::store::RunRecord;
use serde::Serialize;
use std::io::Write;

/// Pending pairs counted at most (the count is shown as "at least" beyond it).
pub const PENDING_LIMIT: usize = 10_000;

#[derive(Debug, Serialize)]
pub struct Status {
    pub backend: &'static str,
    pub state: String,
    pub integration: String,
    pub at: DateTime<Utc>,
    pub runs: Vec<RunLine>,
    pub rates: Option<Rates>,
    pub last_successful_run_at: Option<DateTime<Utc>>,
    pub watermarks: Watermarks,
    pub open_review_items: usize,
    pub pending_pairs: usize,
    /// True when there are at least [`PENDING_LIMIT`] pending pairs (not all counted).
    pub pending_pairs_capped: bool,
}

#[derive(Debug, Serialize)]
pub struct RunLine {
    pub run_id: String,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub duration_seconds: Option<f64>,
    /// `ok`, `partial` (some pairs failed and stay pending), `refused` (a system refused
    /// records: see `review list`), `unfinished` (no finish time),
    /// or how the run recorded it ended when not completed (`limited`, `interrupted`).
    pub outcome: String,
    pub stats: SyncStats,
}

/// Over the runs listed: failed pairs and conflicts settled by policy per pair reconciled.
#[derive(Debug, Serialize, PartialEq)]
pub struct Rates {
    pub runs: usize,
    pub runs_with_errors: usize,
    pub pairs: u64,
    pub errors: u64,
    pub conflicts: u64,
    /// Percent of pairs.
    pub error_rate: f64,
    pub conflict_rate: f64,
}

#[derive(Debug, Serialize)]
pub struct Watermarks {
    pub salesforce: Option<WatermarkLag>,
    pub genesys: Option<WatermarkLag>,
}

/// The newest change read from a side, and how long ago that change was made (it grows while
/// nothing changes on that side: compare it with the last run's time).
#[derive(Debug, Serialize)]
pub struct WatermarkLag {
    pub stamp: DateTime<Utc>,
    pub lag_seconds: i64,
}

fn run_line(run: &RunRecord) -> RunLine {
    let stats: SyncStats = serde_json::from_value(run.summary.clone()).unwrap_or_default();
    // A run may record how it ended (`end`: `completed`, `limited`, `interrupted`, written
    // by the one-process cycle) or an `outcome`; a completed run is rated by its counts.
    let recorded = ["outcome", "end"]
        .iter()
        .find_map(|key| run.summary.get(*key).and_then(|o| o.as_str()))
        .filter(|o| *o != "completed")
        .map(str::to_string);
    let outcome = recorded.unwrap_or_else(|| {
        if run.finished_at.is_none() {
            "unfinished".into()
        } else if stats.failed > 0 {
            "partial".into()
        } else if stats.refused.total() > 0 {
            "refused".into()
        } else {
            "ok".into()
        }
    });
    RunLine {
        run_id: run.run_id.clone(),
        started_at: run.started_at,
        finished_at: run.finished_at,
        duration_seconds: match (run.started_at, run.finished_at) {
            (Some(s), Some(f)) => Some((f - s).num_milliseconds() as f64 / 1000.0),
            _ => None,
        },
        outcome,
        stats,
    }
}

/// Error and conflict rates over runs (`None` without runs).
pub fn rates(runs: &[RunLine]) -> Option<Rates> {
    if runs.is_empty() {
        return None;
    }
    let sum = |f: fn(&SyncStats) -> u64| runs.iter().map(|r| f(&r.stats)).sum::<u64>();
    let pairs = sum(|s| s.pairs_enqueued);
    let errors = sum(|s| s.failed);
    let conflicts = sum(|s| s.conflicts);
    let percent = |n: u64| {
        if pairs == 0 {
            0.0
        } else {
            (n as f64 * 1000.0 / pairs as f64).round() / 10.0
        }
    };
    Some(Rates {
        runs: runs.len(),
        runs_with_errors: runs.iter().filter(|r| r.stats.failed > 0).count(),
        pairs,
        errors,
        conflicts,
        error_rate: percent(errors),
        conflict_rate: percent(conflicts),
    })
}

/// Reads everything `status` shows.
pub async fn gather(backend: &Backend, runs: usize) -> anyhow::Result<Status> {
    let store = &backend.store;
    let integration = backend.mapping.integration.clone();
    let now = Utc::now();
    let records = store.runs(&integration, runs).await?;
    let lines: Vec<RunLine> = records.iter().map(run_line).collect();
    let lag = |side: Side| {
        let store = store.clone();
        let integration = integration.clone();
        async move {
            anyhow::Ok(
                store
                    .watermark(&integration, side)
                    .await?
                    .map(|w| WatermarkLag {
                        stamp: w.stamp,
                        lag_seconds: (now - w.stamp).num_seconds(),
                    }),
            )
        }
    };
    let (salesforce, genesys, open, pending) = tokio::try_join!(
        lag(Side::Salesforce),
        lag(Side::Genesys),
        async { Ok(store.conflicts(&integration, true).await?.len()) },
        async { Ok(store.pending_pairs(PENDING_LIMIT).await?.len()) },
    )?;
    Ok(Status {
        backend: backend.kind.name(),
        state: backend.location.clone(),
        integration,
        at: now,
        rates: match backend.kind {
            BackendKind::Local => rates(&lines),
            BackendKind::Aws => None,
        },
        last_successful_run_at: lines
            .iter()
            .find(|r| r.outcome == "ok")
            .and_then(|r| r.finished_at),
        runs: lines,
        watermarks: Watermarks {
            salesforce,
            genesys,
        },
        open_review_items: open,
        pending_pairs: pending,
        pending_pairs_capped: pending >= PENDING_LIMIT,
    })
}

fn ago(seconds: i64) -> String {
    match seconds {
        s if s < 120 => format!("{s} s"),
        s if s < 7_200 => format!("{} min", s / 60),
        s if s < 172_800 => format!("{:.1} h", s as f64 / 3600.0),
        s => format!("{:.1} days", s as f64 / 86_400.0),
    }
}

fn sides(v: PerSide) -> String {
    format!("{}/{}", v.salesforce, v.genesys)
}

/// Prints the status (a table, or one JSON document).
pub fn print(status: &Status, json: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::to_string(status)?)?;
        return Ok(());
    }
    writeln!(
        out,
        "integration `{}` on the {} backend ({})",
        status.integration, status.backend, status.state
    )?;
    if status.runs.is_empty() {
        writeln!(out, "no runs recorded yet")?;
    } else {
        writeln!(
            out,
            "\n{:<20} {:>9} {:<10} {:>11} {:>11} {:>7} {:>11} {:>11} {:>9} {:>6} {:>6}  run",
            "started (UTC)",
            "seconds",
            "outcome",
            "read sf/gz",
            "chg sf/gz",
            "pairs",
            "new sf/gz",
            "upd sf/gz",
            "conflicts",
            "review",
            "errors"
        )?;
        for r in &status.runs {
            let s = &r.stats;
            writeln!(
                out,
                "{:<20} {:>9} {:<10} {:>11} {:>11} {:>7} {:>11} {:>11} {:>9} {:>6} {:>6}  {}",
                r.started_at
                    .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                    .unwrap_or_else(|| "-".into()),
                r.duration_seconds
                    .map(|d| format!("{d:.1}"))
                    .unwrap_or_else(|| "-".into()),
                r.outcome,
                sides(s.read),
                sides(s.changed),
                s.pairs_enqueued,
                sides(s.created),
                sides(s.updated),
                s.conflicts,
                s.review,
                s.failed,
                r.run_id
            )?;
        }
    }
    writeln!(out)?;
    match (&status.rates, status.backend) {
        (Some(r), _) => writeln!(
            out,
            "over the last {} runs: {} pairs, error rate {:.1} % ({} failed, {} runs with errors), conflict rate {:.1} % ({} settled by policy)",
            r.runs,
            r.pairs,
            r.error_rate,
            r.errors,
            r.runs_with_errors,
            r.conflict_rate,
            r.conflicts
        )?,
        (None, "aws") => writeln!(
            out,
            "rates: the deployed backend's run records hold the poll's counts only; the \
             reconcilers' writes, conflicts and errors are in CloudWatch (namespace ContactSync, \
             the stack's dashboard)"
        )?,
        (None, _) => {}
    }
    match status.last_successful_run_at {
        Some(at) => writeln!(
            out,
            "last successful run finished {} ago ({})",
            ago((status.at - at).num_seconds()),
            at.format("%Y-%m-%d %H:%M:%S")
        )?,
        None => writeln!(out, "no successful run among these")?,
    }
    for (side, w) in [
        ("Salesforce", &status.watermarks.salesforce),
        ("Genesys", &status.watermarks.genesys),
    ] {
        match w {
            Some(w) => writeln!(
                out,
                "{side} watermark: newest change read was made {} ago ({})",
                ago(w.lag_seconds),
                w.stamp.format("%Y-%m-%d %H:%M:%S")
            )?,
            None => writeln!(
                out,
                "{side} watermark: none yet (the first run reads everything)"
            )?,
        }
    }
    writeln!(
        out,
        "open review items: {}   (contact-sync conflicts list --open)",
        status.open_review_items
    )?;
    writeln!(
        out,
        "pending pairs (failed, retried by the next run): {}{}",
        if status.pending_pairs_capped {
            "at least "
        } else {
            ""
        },
        status.pending_pairs
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(id: &str, failed: u64, conflicts: u64, pairs: u64, finished: bool) -> RunRecord {
        let at = DateTime::parse_from_rfc3339("2026-11-24T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        RunRecord {
            run_id: id.into(),
            integration: "default".into(),
            started_at: Some(at),
            finished_at: finished.then(|| at + chrono::Duration::milliseconds(2_500)),
            summary: serde_json::to_value(SyncStats {
                failed,
                conflicts,
                pairs_enqueued: pairs,
                ..SyncStats::default()
            })
            .unwrap(),
        }
    }

    #[test]
    fn outcome_and_duration_come_from_the_run_record() {
        // GIVEN a clean run, a run with a failed pair, an unfinished run, a run that recorded
        // it was interrupted, and a completed run with a failed pair
        let mut own = run("d", 0, 0, 1, true);
        own.summary["end"] = json!("interrupted");
        let mut completed = run("e", 1, 0, 1, true);
        completed.summary["end"] = json!("completed");
        // AND a run in which Genesys refused a record
        let mut refused = run("f", 0, 0, 1, true);
        refused.summary["refused"] = json!({"salesforce": 0, "genesys": 1});
        // WHEN turned into lines
        let lines: Vec<RunLine> = [
            run("a", 0, 0, 1, true),
            run("b", 1, 0, 1, true),
            run("c", 0, 0, 1, false),
            own,
            completed,
            refused,
        ]
        .iter()
        .map(run_line)
        .collect();
        // THEN the outcomes are ok, partial, unfinished, the recorded end, for a run that
        // recorded a completed end what its counts say, and refused
        let outcomes: Vec<&str> = lines.iter().map(|l| l.outcome.as_str()).collect();
        assert_eq!(
            outcomes,
            [
                "ok",
                "partial",
                "unfinished",
                "interrupted",
                "partial",
                "refused"
            ]
        );
        assert_eq!(lines[0].duration_seconds, Some(2.5));
        assert_eq!(lines[2].duration_seconds, None);
    }

    #[test]
    fn rates_are_errors_and_conflicts_per_pair_over_the_runs() {
        // GIVEN three runs: 200 pairs with 2 failed and 10 conflicts, 100 clean, 0 pairs
        let lines: Vec<RunLine> = [
            run("a", 2, 10, 200, true),
            run("b", 0, 0, 100, true),
            run("c", 0, 0, 0, true),
        ]
        .iter()
        .map(run_line)
        .collect();
        // WHEN rated
        let r = rates(&lines).expect("rates");
        // THEN the rates are over the 300 pairs, rounded to a tenth of a percent
        assert_eq!(
            r,
            Rates {
                runs: 3,
                runs_with_errors: 1,
                pairs: 300,
                errors: 2,
                conflicts: 10,
                error_rate: 0.7,
                conflict_rate: 3.3,
            }
        );
        // AND no runs give no rates, and runs without pairs give zero, not a division by zero
        assert_eq!(rates(&[]), None);
        assert_eq!(rates(&lines[2..]).expect("rates").error_rate, 0.0);
    }
}
