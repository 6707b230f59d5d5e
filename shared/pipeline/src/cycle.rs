//! One full sync cycle in one process: poll → reconcile every batch → notify, over the
//! in-process queue. This is what `contact-sync sync` runs; [`dry_run`] plans the same cycle
//! and writes nothing.
//!
//! A cycle can be bounded ([`CycleOptions::limit`]) or stopped ([`CycleOptions::stop`]); either
//! way the pairs it did not get to are left untouched and the watermarks do not move, so the
//! next run reads the same changes again and finishes the work.

use crate::audit_retention;
use crate::integration::{Integration, PipelineError};
use crate::notify::{Alerter, notify};
use crate::poll::{WatermarkAdvance, advance_deletions_watermark, advance_watermarks, poll};
use crate::queue::{InProcessQueue, ReconcileBatch};
use crate::reconcile::{PairPreview, ReconcileOutcome, preview, reconcile_within};
use crate::review;
use crate::run_store::{ReadFrom, RunStore};
use crate::stats::SyncStats;
use crate::store::{ConflictRecord, RunRecord};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::sync::Arc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// How an operator's run is bounded.
#[derive(Debug, Clone, Default)]
pub struct CycleOptions {
    /// Where the change reads start (`--full`, `--since`).
    pub read_from: ReadFrom,
    /// At most this many pairs written (see [`crate::reconcile::reconcile_within`]); when the
    /// limit is reached the rest is left for the next run.
    pub limit: Option<usize>,
    /// Cancelled: no new batch is started; the one in progress finishes (those in progress,
    /// with [`run_cycle_overlapped`]).
    pub stop: CancellationToken,
}

/// How a cycle ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CycleEnd {
    /// Every pair found was handled; the watermarks moved.
    Completed,
    /// `limit` pairs were written and others were left; the watermarks did not move.
    Limited,
    /// Stopped before every batch was reconciled; the watermarks did not move.
    Interrupted,
}

/// Where a cycle is, for progress displays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// The poll finished: this many pairs to reconcile, in this many batches.
    Polled { pairs: u64, batches: usize },
    /// A batch is done (or left): pairs and batches handled so far.
    Batch { pairs: u64, batches: usize },
}

/// What a cycle did.
#[derive(Debug, Clone)]
pub struct CycleOutcome {
    pub run_id: String,
    pub stats: SyncStats,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// Conflict digests that could not be delivered.
    pub alert_failures: usize,
    pub end: CycleEnd,
}

/// How the run ids of one-process cycles begin, and so the owners of every lease they take
/// (the run lease is owned by the run id, a pair lease by `<run id>:<uuid>`): what lets the
/// CLI, holding its run lock, recognise the leases a run that died left behind. A deployed
/// poller's run ids (`run-<time>-…`) never begin so.
pub const ONE_PROCESS_RUN_PREFIX: &str = "run-local-";

fn new_run_id(at: DateTime<Utc>) -> String {
    format!(
        "{ONE_PROCESS_RUN_PREFIX}{}-{}",
        at.format("%Y%m%dT%H%M%SZ"),
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

/// Runs one unbounded cycle; `progress(done, total)` counts batches. `queue` must be the
/// queue `integration.queue` sends to.
pub async fn run_cycle(
    integration: &Integration,
    queue: &Arc<InProcessQueue>,
    alerter: &dyn Alerter,
    mut progress: impl FnMut(usize, usize),
) -> Result<CycleOutcome, PipelineError> {
    let mut total = 0;
    run_cycle_with(
        integration,
        queue,
        alerter,
        &CycleOptions::default(),
        |p| match p {
            Progress::Polled { batches, .. } => {
                total = batches;
                progress(0, total);
            }
            Progress::Batch { batches, .. } => progress(batches, total),
        },
    )
    .await
}

/// Runs one cycle within `options`. `queue` must be the queue `integration.queue` sends to.
///
/// The in-process queue does not survive the process, so the watermarks move only after every
/// batch was reconciled; pairs that failed are stored as pending and retried by the next run.
/// Delete decisions a person made (`review resolve --release/--keep`) apply to this run and
/// are closed once it completes.
pub async fn run_cycle_with(
    integration: &Integration,
    queue: &Arc<InProcessQueue>,
    alerter: &dyn Alerter,
    options: &CycleOptions,
    progress: impl FnMut(Progress),
) -> Result<CycleOutcome, PipelineError> {
    run_cycle_overlapped(integration, queue, alerter, options, 1, progress).await
}

/// Runs one cycle within `options` like [`run_cycle_with`], reconciling up to
/// `batches_at_once` batches at once when the run has no limit (a limit is one budget for the
/// whole run: its batches go one at a time). While one batch waits for its Salesforce lookup,
/// another's Genesys write goes out, so Genesys is not left idle ([`RECONCILE_CONCURRENCY`]
/// is what the benchmarks use). What changes for the operator: a stop lets every batch already
/// started finish, up to `batches_at_once`, not only one.
pub async fn run_cycle_overlapped(
    integration: &Integration,
    queue: &Arc<InProcessQueue>,
    alerter: &dyn Alerter,
    options: &CycleOptions,
    batches_at_once: usize,
    mut progress: impl FnMut(Progress),
) -> Result<CycleOutcome, PipelineError> {
    let started_at = integration.clock.now();
    let run_id = new_run_id(started_at);
    let view = RunStore::new(
        integration.store.clone(),
        &integration.name,
        options.read_from,
    );
    let (run, decisions) = for_this_run(integration, Arc::new(view)).await?;
    let polled = poll(&run, &run_id, WatermarkAdvance::Deferred).await?;
    let mut stats = polled.stats;
    progress(Progress::Polled {
        pairs: stats.pairs_enqueued,
        batches: queue.pending_batches(),
    });
    let mut walk = Walk::new(queue, options);
    stats += reconcile_all(&run, &mut walk, batches_at_once, &mut progress).await?;
    stats.left += walk.left;
    let end = walk.end;
    if end == CycleEnd::Completed {
        advance_watermarks(&run, &polled.watermarks).await?;
        advance_deletions_watermark(&run, polled.deletions_watermark.as_ref()).await?;
        review::settle_delete_decisions(&*integration.store, &decisions).await?;
    }
    let events = queue.drain_conflicts();
    let alert_failures = match notify(&events, alerter).await {
        Ok(_) => 0,
        Err(e) => {
            tracing::warn!(error = %e, "conflict digest not delivered");
            1
        }
    };
    // Per-run upkeep, as the scheduled poller does it: audit values past their retention.
    audit_retention::upkeep(integration).await;
    let finished_at = integration.clock.now();
    let mut summary = serde_json::to_value(&stats).unwrap_or_default();
    summary["end"] = serde_json::to_value(end).unwrap_or_default();
    integration
        .store
        .record_run(&RunRecord {
            run_id: run_id.clone(),
            integration: integration.name.clone(),
            started_at: Some(started_at),
            finished_at: Some(finished_at),
            summary,
        })
        .await?;
    Ok(CycleOutcome {
        run_id,
        stats,
        started_at,
        finished_at,
        alert_failures,
        end,
    })
}

/// Batches reconciled at once by an overlapped cycle ([`run_cycle_overlapped`]) in the
/// benchmarks: 4 keep the Genesys rate limit used in full at 3,000 requests/min.
pub const RECONCILE_CONCURRENCY: usize = 4;

/// Reconciles the batches `walk` hands out, `batches_at_once` at a time when the run has no
/// limit. After a failure no batch is started; those in flight finish, then the first error is
/// returned (batches not started stay untouched, as when one batch at a time fails).
async fn reconcile_all(
    run: &Integration,
    walk: &mut Walk<'_>,
    batches_at_once: usize,
    progress: &mut impl FnMut(Progress),
) -> Result<SyncStats, PipelineError> {
    let concurrency = if walk.budget.is_some() {
        1
    } else {
        batches_at_once.max(1)
    };
    let mut stats = SyncStats::default();
    if concurrency == 1 {
        // One at a time, in this task: the budget is the run's.
        while let Some(batch) = walk.next(progress) {
            let outcome = reconcile_within(run, &batch, &mut walk.budget).await?;
            count_batch(walk, &batch, outcome, &mut stats, progress);
        }
        return Ok(stats);
    }
    let mut in_flight = JoinSet::new();
    let mut failure: Option<PipelineError> = None;
    loop {
        while failure.is_none() && in_flight.len() < concurrency {
            let Some(batch) = walk.next(progress) else {
                break;
            };
            let run = run.clone();
            in_flight.spawn(async move {
                let outcome = reconcile_within(&run, &batch, &mut None).await;
                (batch, outcome)
            });
        }
        let Some(joined) = in_flight.join_next().await else {
            break;
        };
        let (batch, outcome) = joined
            .map_err(|e| PipelineError::Invariant(format!("a batch's reconcile panicked: {e}")))?;
        match outcome {
            Ok(outcome) => count_batch(walk, &batch, outcome, &mut stats, progress),
            Err(error) => {
                failure.get_or_insert(error);
            }
        }
    }
    match failure {
        Some(error) => Err(error),
        None => Ok(stats),
    }
}

/// Counts a reconciled batch into the run's statistics and progress.
fn count_batch(
    walk: &mut Walk<'_>,
    batch: &ReconcileBatch,
    outcome: ReconcileOutcome,
    stats: &mut SyncStats,
    progress: &mut impl FnMut(Progress),
) {
    walk.done(batch, outcome.stats.left, progress);
    *stats += outcome.stats;
    // In one process nobody else holds leases for long; a reference that could not be worked
    // on now stays pending (its pair is retried next run).
    stats.failed += outcome.retry.len() as u64;
}

/// The integration as this run sees it: its store through `view`, and its mapping with the
/// delete decisions that wait for this run (returned too) applied.
async fn for_this_run(
    integration: &Integration,
    view: Arc<RunStore>,
) -> Result<(Integration, Vec<ConflictRecord>), PipelineError> {
    let decisions =
        review::pending_delete_decisions(&*integration.store, &integration.name).await?;
    let mut run = integration.clone();
    run.store = view;
    if let Some(mapping) = review::lift_for(&integration.mapping, &decisions) {
        tracing::info!(
            decisions = decisions.len(),
            "delete decisions apply to this run: the delete breaker is lifted"
        );
        run.mapping = Arc::new(mapping);
    }
    Ok((run, decisions))
}

/// The queued batches of one cycle, walked in order: the ones to work on are handed out; once
/// the run is stopped or its budget is spent, the rest are left (counted, untouched).
struct Walk<'a> {
    queue: &'a InProcessQueue,
    options: &'a CycleOptions,
    /// Pairs that may still be written (`CycleOptions::limit`).
    budget: Option<usize>,
    end: CycleEnd,
    /// Pairs in the batches left without being worked on.
    left: u64,
    pairs: u64,
    batches: usize,
}

impl<'a> Walk<'a> {
    fn new(queue: &'a InProcessQueue, options: &'a CycleOptions) -> Walk<'a> {
        Walk {
            queue,
            options,
            budget: options.limit,
            end: CycleEnd::Completed,
            left: 0,
            pairs: 0,
            batches: 0,
        }
    }

    /// The next batch to work on, or `None` when every batch was handed out or left.
    fn next(&mut self, progress: &mut impl FnMut(Progress)) -> Option<ReconcileBatch> {
        loop {
            let batch = self.queue.next_batch()?;
            let stopped = self.options.stop.is_cancelled();
            if !stopped && self.budget != Some(0) {
                return Some(batch);
            }
            if self.end == CycleEnd::Completed {
                self.end = if stopped {
                    CycleEnd::Interrupted
                } else {
                    CycleEnd::Limited
                };
                tracing::info!(run_id = %batch.run_id, end = ?self.end, "no further batches this run");
            }
            self.left += batch.pairs.len() as u64;
            self.done(&batch, 0, progress);
        }
    }

    /// A batch is finished; `left` of its pairs were left by the budget.
    fn done(&mut self, batch: &ReconcileBatch, left: u64, progress: &mut impl FnMut(Progress)) {
        if left > 0 && self.end == CycleEnd::Completed {
            self.end = CycleEnd::Limited;
        }
        self.pairs += batch.pairs.len() as u64;
        self.batches += 1;
        progress(Progress::Batch {
            pairs: self.pairs,
            batches: self.batches,
        });
    }
}

/// What a dry run found.
#[derive(Debug, Clone, Serialize)]
pub struct DryRunOutcome {
    pub run_id: String,
    /// What the run would count if every write succeeded.
    pub stats: SyncStats,
    /// Every pair the run would reconcile, with its plan (names and reasons, never values).
    pub pairs: Vec<PairPreview>,
    /// The review items the run would open (they hold no values: ambiguous matches, held
    /// deletes).
    #[serde(skip)]
    pub review_items: Vec<ConflictRecord>,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub end: CycleEnd,
}

/// Plans one cycle without writing anything anywhere: both systems are read (the poll and each
/// batch's bulk reads), every pair is planned, and nothing is sent to a system, the store
/// (no pair, link, watermark, lease, run or review item) or the integration's queue.
///
/// The integration's systems must be read-only ones whose `prepare` writes nothing (the
/// Genesys connector creates its link source there); the store and queue are replaced here.
pub async fn dry_run(
    integration: &Integration,
    options: &CycleOptions,
    mut progress: impl FnMut(Progress),
) -> Result<DryRunOutcome, PipelineError> {
    let started_at = integration.clock.now();
    let run_id = new_run_id(started_at);
    let view = Arc::new(RunStore::dry(
        integration.store.clone(),
        &integration.name,
        options.read_from,
    ));
    let (mut run, _) = for_this_run(integration, view.clone()).await?;
    let queue = Arc::new(InProcessQueue::new());
    run.queue = queue.clone();
    let polled = poll(&run, &run_id, WatermarkAdvance::Deferred).await?;
    let mut stats = polled.stats;
    progress(Progress::Polled {
        pairs: stats.pairs_enqueued,
        batches: queue.pending_batches(),
    });
    let mut planned = Vec::new();
    let mut walk = Walk::new(&queue, options);
    while let Some(batch) = walk.next(&mut progress) {
        let batch_preview = preview(&run, &batch, &mut walk.budget).await?;
        walk.done(&batch, batch_preview.stats.left, &mut progress);
        stats += batch_preview.stats;
        planned.extend(batch_preview.pairs);
    }
    stats.left += walk.left;
    let end = walk.end;
    Ok(DryRunOutcome {
        run_id,
        stats,
        pairs: planned,
        review_items: view.withheld_conflicts(),
        started_at,
        finished_at: integration.clock.now(),
        end,
    })
}
