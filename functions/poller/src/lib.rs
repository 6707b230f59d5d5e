//! Poller: an EventBridge scheduled event → one invocation's share of a poll of both systems
//! under the integration's run lease ([`poll_resumable`]), pair batches fanned out to the
//! reconcile queue, watermarks moved only once the whole poll is enqueued, and a run record.
//!
//! - A second, overlapping run finds the run lease taken and exits cleanly (`skipped`).
//! - **Time budget**: no step of the poll (a Salesforce page, a Genesys scan page, the finish)
//!   starts when less than [`TIME_MARGIN`] of the invocation is left. The poll then enqueues
//!   the linked changes read so far, saves its checkpoint in DynamoDB, releases the lease and
//!   reports `continued`; the next scheduled invocation picks the checkpoint up where it
//!   stopped. Progress is also saved every minute, so an invocation killed in a step overrunning
//!   the margin loses at most that. `out_of_time` (nothing moved) only when not even one step
//!   fits.
//! - **No self-invocation**: the continuation waits for the next scheduled event rather than
//!   invoking the function again at once. That needs no `lambda:InvokeFunction` permission on
//!   itself, cannot turn into a loop of invocations billing without end, and keeps one poller
//!   at a time by construction; the price is latency (a poll needing k invocations takes about
//!   k schedule periods; lower `ScheduleMinutes` for a large org). A Salesforce cursor
//!   outlived by the wait is refused and that read starts over safely (see `poll`).
//! - Once a poll is complete, the per-run upkeep the CLI's cycle does too: audit values past
//!   the mapping's retention are dropped (`audit_retention`, bounded per run).
//! - Its reads span invocations, so its watermarks keep [`WATERMARK_SKEW`] before each read's
//!   start (an edit landing on a record already read is read again next poll).

use aws_lambda_events::event::cloudwatch_events::CloudWatchEvent;
use chrono::{DateTime, Utc};
use contact_sync_aws::{Deployment, DeploymentError};
use contact_sync_pipeline::poll::{PollBudget, PollProgress, poll_resumable};
use contact_sync_pipeline::stats::SyncStats;
use contact_sync_pipeline::store::RunRecord;
use contact_sync_pipeline::{Integration, PipelineError};
use contact_sync_pipeline::{audit_retention, review};
use serde::Serialize;
use std::time::{Duration, Instant};

/// Time kept free at the end of an invocation: the last step may start just before it, so it
/// covers one slow step (a Genesys page retried under 429s), enqueueing, the checkpoint save
/// and the run record.
pub const TIME_MARGIN: Duration = Duration::from_secs(120);

/// How far before its read's start the poller keeps a watermark.
pub const WATERMARK_SKEW: chrono::Duration = chrono::Duration::minutes(5);

/// What one invocation did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum PollReport {
    /// The poll finished: everything enqueued, watermarks moved.
    Polled {
        run_id: String,
        batches: usize,
        pairs: u64,
        review: u64,
        /// The statistics the run record holds (for the metrics; not in the response).
        #[serde(skip)]
        stats: SyncStats,
    },
    /// The budget ran out after `steps` steps: progress saved, the next invocation goes on.
    Continued {
        run_id: String,
        poll_id: String,
        steps: usize,
        batches: usize,
        pairs: u64,
        /// The statistics the run record holds (for the metrics; not in the response).
        #[serde(skip)]
        stats: SyncStats,
    },
    /// Another run holds the run lease (or took this poll over).
    Skipped { run_id: String },
    /// Not even one step fitted in the time left; nothing moved.
    OutOfTime { run_id: String },
}

/// What the Lambda's main runs for each scheduled event: [`handle`] with its metrics
/// (`contact_sync_aws::metrics::observe_poll`, from the handler's own statistics).
pub async fn invoke(
    deployment: &Deployment,
    event: &CloudWatchEvent,
    deadline: Instant,
) -> Result<PollReport, PollerError> {
    invoke_within(deployment, event, &PollBudget::until(stop_at(deadline))).await
}

/// [`invoke`] within an explicit budget (tests, tools).
pub async fn invoke_within(
    deployment: &Deployment,
    event: &CloudWatchEvent,
    budget: &PollBudget,
) -> Result<PollReport, PollerError> {
    // Boxed: the poll's future is deep enough to overflow the compiler's layout query depth
    // when nested inline.
    let handler = Box::pin(handle_within(deployment, event, budget));
    contact_sync_aws::metrics::observe_poll(deployment, handler, PollReport::recorded).await
}

/// When the poll stops starting steps: [`TIME_MARGIN`] before the deadline.
fn stop_at(deadline: Instant) -> Instant {
    deadline
        .checked_sub(TIME_MARGIN)
        .unwrap_or_else(Instant::now)
}

impl PollReport {
    /// The statistics of the run this invocation recorded; `None` when it recorded none.
    pub fn recorded(&self) -> Option<&SyncStats> {
        match self {
            PollReport::Polled { stats, .. } | PollReport::Continued { stats, .. } => Some(stats),
            PollReport::Skipped { .. } | PollReport::OutOfTime { .. } => None,
        }
    }
}

/// Handles one scheduled event. `deadline`: when the invocation must be done (Lambda's).
pub async fn handle(
    deployment: &Deployment,
    event: &CloudWatchEvent,
    deadline: Instant,
) -> Result<PollReport, PollerError> {
    handle_within(deployment, event, &PollBudget::until(stop_at(deadline))).await
}

/// Handles one scheduled event within an explicit budget (tests, tools).
pub async fn handle_within(
    deployment: &Deployment,
    event: &CloudWatchEvent,
    budget: &PollBudget,
) -> Result<PollReport, PollerError> {
    let started_at = Utc::now();
    let run_id = run_id(event, started_at);
    let result = deployment
        .with_integration(|integration| {
            let run_id = run_id.clone();
            async move {
                let integration = with_delete_decisions(with_poller_settings(integration)).await?;
                let progress = poll_resumable(&integration, &run_id, budget).await?;
                // Per-run upkeep once a poll is complete, as the CLI's cycle does it: audit
                // values past their retention (bounded per run).
                if matches!(progress, PollProgress::Finished(_)) {
                    audit_retention::upkeep(&integration).await;
                }
                Ok(progress)
            }
        })
        .await?;
    let record = |stats: &SyncStats| RunRecord {
        run_id: run_id.clone(),
        integration: String::new(),
        started_at: Some(started_at),
        finished_at: Some(Utc::now()),
        summary: serde_json::to_value(stats).unwrap_or_default(),
    };
    match result {
        Ok(PollProgress::Finished(outcome)) => {
            record_run(deployment, record(&outcome.stats)).await?;
            Ok(PollReport::Polled {
                run_id,
                batches: outcome.batches,
                pairs: outcome.stats.pairs_enqueued,
                review: outcome.stats.review,
                stats: outcome.stats,
            })
        }
        Ok(PollProgress::Continued(continued)) if continued.steps == 0 => {
            tracing::warn!(%run_id, "no time left for a single step; nothing moved");
            Ok(PollReport::OutOfTime { run_id })
        }
        Ok(PollProgress::Continued(continued)) => {
            tracing::info!(%run_id, poll_id = %continued.poll_id, steps = continued.steps, "time budget reached; the next invocation continues this poll");
            record_run(deployment, record(&continued.stats)).await?;
            Ok(PollReport::Continued {
                run_id,
                poll_id: continued.poll_id,
                steps: continued.steps,
                batches: continued.batches,
                pairs: continued.stats.pairs_enqueued,
                stats: continued.stats,
            })
        }
        Err(PipelineError::RunInProgress(name)) => {
            tracing::info!(%run_id, integration = %name, "another run holds the run lease or took this poll over; nothing to do");
            Ok(PollReport::Skipped { run_id })
        }
        Err(e) => Err(e.into()),
    }
}

/// The integration as the poller runs it: see [`WATERMARK_SKEW`].
fn with_poller_settings(mut integration: Integration) -> Integration {
    integration.settings.watermark_skew = WATERMARK_SKEW;
    integration
}

/// The integration with the delete decisions a person made (`review resolve --release |
/// --keep`) applied, as the CLI's run applies them: a new poll first closes the decisions the
/// previous poll and its batches applied, then lifts the breaker for those still pending
/// (`review::decisions_for_poll`); the reconciler lifts it for the same ones.
async fn with_delete_decisions(mut integration: Integration) -> Result<Integration, PipelineError> {
    let store = &*integration.store;
    let new_poll = store
        .load_poll_checkpoint(&integration.name)
        .await?
        .is_none();
    let previous_poll_start = if new_poll {
        store
            .runs(&integration.name, 1)
            .await?
            .first()
            .and_then(|r| r.started_at)
    } else {
        None
    };
    let waiting = review::decisions_for_poll(store, &integration.name, previous_poll_start).await?;
    if let Some(mapping) = review::lift_for(&integration.mapping, &waiting) {
        tracing::info!(
            decisions = waiting.len(),
            "delete decisions apply to this poll: the delete breaker is lifted"
        );
        integration.mapping = std::sync::Arc::new(mapping);
    }
    Ok(integration)
}

/// Records an invocation's run (the poll's statistics so far).
async fn record_run(deployment: &Deployment, mut run: RunRecord) -> Result<(), PollerError> {
    let integration = deployment.integration().await?;
    run.integration = integration.name.clone();
    integration
        .store
        .record_run(&run)
        .await
        .map_err(PipelineError::from)?;
    Ok(())
}

/// A run id: the schedule's time and a part of its event id (a retried delivery of the same
/// event gets the same id), or a random suffix.
fn run_id(event: &CloudWatchEvent, now: DateTime<Utc>) -> String {
    let suffix = event
        .id
        .as_deref()
        .map(|id| {
            id.chars()
                .filter(char::is_ascii_alphanumeric)
                .take(12)
                .collect()
        })
        .filter(|s: &String| !s.is_empty())
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string()[..12].to_string());
    let at = if event.time.timestamp() > 0 {
        event.time
    } else {
        now
    };
    format!("run-{}-{suffix}", at.format("%Y%m%dT%H%M%SZ"))
}

/// Why an invocation failed (the scheduler retries it; the error alarm fires).
#[derive(Debug, thiserror::Error)]
pub enum PollerError {
    #[error(transparent)]
    Deployment(#[from] DeploymentError),
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
}
