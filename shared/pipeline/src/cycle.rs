//! One full sync cycle in one process: poll → reconcile every batch → notify, over the
//! in-process queue. This is what `contact-sync sync --once` runs.

use crate::integration::{Integration, PipelineError};
use crate::notify::{Alerter, notify};
use crate::poll::{WatermarkAdvance, advance_deletions_watermark, advance_watermarks, poll};
use crate::queue::InProcessQueue;
use crate::reconcile::reconcile;
use crate::stats::SyncStats;
use crate::store::RunRecord;
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// What a cycle did.
#[derive(Debug, Clone)]
pub struct CycleOutcome {
    pub run_id: String,
    pub stats: SyncStats,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// Conflict digests that could not be delivered.
    pub alert_failures: usize,
}

/// Runs one cycle. `queue` must be the queue `integration.queue` sends to.
///
/// The in-process queue does not survive the process, so the watermarks move only after every
/// batch was reconciled; pairs that failed are stored as pending and retried by the next run.
pub async fn run_cycle(
    integration: &Integration,
    queue: &Arc<InProcessQueue>,
    alerter: &dyn Alerter,
    mut progress: impl FnMut(usize, usize),
) -> Result<CycleOutcome, PipelineError> {
    let started_at = integration.clock.now();
    let run_id = format!(
        "run-{}-{}",
        started_at.format("%Y%m%dT%H%M%SZ"),
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let polled = poll(integration, &run_id, WatermarkAdvance::Deferred).await?;
    let mut stats = polled.stats;
    let total = queue.pending_batches();
    let mut done = 0;
    progress(done, total);
    while let Some(batch) = queue.next_batch() {
        let outcome = reconcile(integration, &batch).await?;
        stats += outcome.stats;
        // In one process nobody else holds leases for long; a reference that could not be
        // worked on now stays pending (its pair is retried next run).
        stats.failed += outcome.retry.len() as u64;
        done += 1;
        progress(done, total);
    }
    advance_watermarks(integration, &polled.watermarks).await?;
    advance_deletions_watermark(integration, polled.deletions_watermark.as_ref()).await?;
    let events = queue.drain_conflicts();
    let alert_failures = match notify(&events, alerter).await {
        Ok(_) => 0,
        Err(e) => {
            tracing::warn!(error = %e, "conflict digest not delivered");
            1
        }
    };
    let finished_at = integration.clock.now();
    integration
        .store
        .record_run(&RunRecord {
            run_id: run_id.clone(),
            integration: integration.name.clone(),
            started_at: Some(started_at),
            finished_at: Some(finished_at),
            summary: serde_json::to_value(&stats).unwrap_or_default(),
        })
        .await?;
    Ok(CycleOutcome {
        run_id,
        stats,
        started_at,
        finished_at,
        alert_failures,
    })
}
