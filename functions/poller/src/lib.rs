//! Poller: an EventBridge scheduled event → one poll of both systems under the integration's
//! run lease, fanning pair batches out to the reconcile queue, watermarks moved forward only
//! after every batch is enqueued (`WatermarkAdvance::AfterEnqueue`), and a run record.
//!
//! - A second, overlapping run finds the run lease taken and exits cleanly (`skipped`).
//! - **Time budget**: every read from a system first checks the invocation's remaining time;
//!   when less than [`TIME_MARGIN`] is left, the read fails, the poll stops before enqueueing
//!   anything, releases its lease and leaves the watermarks where they were (`out_of_time`).
//!   Nothing is lost: the next run reads from the same watermarks. What this does not do is
//!   continue a long read where it stopped (see README, "Known gaps").

use async_trait::async_trait;
use aws_lambda_events::event::cloudwatch_events::CloudWatchEvent;
use chrono::{DateTime, Utc};
use contact_sync_aws::{Deployment, DeploymentError};
use contact_sync_engine::Side;
use contact_sync_pipeline::poll::{WatermarkAdvance, poll};
use contact_sync_pipeline::store::RunRecord;
use contact_sync_pipeline::system::{
    ChangePage, ContactReader, ContactWriter, CreateRequest, DeletionRead, RawRecord, SystemError,
    SystemFacts, SystemResult, UpdateRequest, Watermark, WriteOutcome,
};
use contact_sync_pipeline::{Integration, PipelineError};
use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Time kept free at the end of an invocation for enqueueing and writing the run record.
pub const TIME_MARGIN: Duration = Duration::from_secs(90);

/// What one invocation did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum PollReport {
    Polled {
        run_id: String,
        batches: usize,
        pairs: u64,
        review: u64,
    },
    /// Another run holds the run lease.
    Skipped { run_id: String },
    /// The time budget ran out before the poll finished; nothing moved.
    OutOfTime { run_id: String },
}

/// Handles one scheduled event. `deadline`: when the invocation must be done (Lambda's).
pub async fn handle(
    deployment: &Deployment,
    event: &CloudWatchEvent,
    deadline: Instant,
) -> Result<PollReport, PollerError> {
    let started_at = Utc::now();
    let run_id = run_id(event, started_at);
    let budget = deadline
        .checked_sub(TIME_MARGIN)
        .unwrap_or_else(Instant::now);
    let result = deployment
        .with_integration(|integration| {
            let run_id = run_id.clone();
            async move {
                let budgeted = within_budget(&integration, budget);
                poll(&budgeted, &run_id, WatermarkAdvance::AfterEnqueue).await
            }
        })
        .await?;
    match result {
        Ok(outcome) => {
            let integration = deployment.integration().await?;
            integration
                .store
                .record_run(&RunRecord {
                    run_id: run_id.clone(),
                    integration: integration.name.clone(),
                    started_at: Some(started_at),
                    finished_at: Some(Utc::now()),
                    summary: serde_json::to_value(&outcome.stats).unwrap_or_default(),
                })
                .await
                .map_err(PipelineError::from)?;
            Ok(PollReport::Polled {
                run_id,
                batches: outcome.batches,
                pairs: outcome.stats.pairs_enqueued,
                review: outcome.stats.review,
            })
        }
        Err(PipelineError::RunInProgress(name)) => {
            tracing::info!(%run_id, integration = %name, "another run holds the run lease; nothing to do");
            Ok(PollReport::Skipped { run_id })
        }
        Err(PipelineError::System(SystemError::Transient { message, .. }))
            if message == OUT_OF_TIME =>
        {
            tracing::warn!(%run_id, "time budget ran out during the poll; the next run starts from the same watermarks");
            Ok(PollReport::OutOfTime { run_id })
        }
        Err(e) => Err(e.into()),
    }
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

const OUT_OF_TIME: &str = "the poller's time budget ran out";

/// The integration with both systems' reads refused once `budget` has passed (writes, which
/// the poll does not make, pass through).
fn within_budget(integration: &Integration, budget: Instant) -> Integration {
    let mut budgeted = integration.clone();
    budgeted.salesforce = Arc::new(Budgeted {
        reader: Arc::clone(&integration.salesforce),
        writer: None,
        budget,
    });
    let genesys = Arc::clone(&integration.genesys);
    budgeted.genesys = Arc::new(Budgeted {
        reader: genesys.clone(),
        writer: Some(genesys),
        budget,
    });
    budgeted
}

/// A system whose reads fail (retryably) once the time budget has passed.
struct Budgeted {
    reader: Arc<dyn ContactReader>,
    writer: Option<Arc<dyn ContactWriter>>,
    budget: Instant,
}

impl Budgeted {
    fn check(&self) -> SystemResult<()> {
        if Instant::now() >= self.budget {
            Err(SystemError::Transient {
                side: self.reader.side(),
                message: OUT_OF_TIME.to_string(),
            })
        } else {
            Ok(())
        }
    }

    fn writer(&self) -> SystemResult<&dyn ContactWriter> {
        self.writer.as_deref().ok_or_else(|| SystemError::Config {
            side: self.reader.side(),
            message: "read-only here".into(),
        })
    }
}

#[async_trait]
impl ContactReader for Budgeted {
    fn side(&self) -> Side {
        self.reader.side()
    }

    async fn prepare(&self) -> SystemResult<SystemFacts> {
        self.check()?;
        self.reader.prepare().await
    }

    async fn read_changes(
        &self,
        since: Option<&Watermark>,
        cursor: Option<String>,
    ) -> SystemResult<ChangePage> {
        self.check()?;
        self.reader.read_changes(since, cursor).await
    }

    async fn read_deletions(&self, since: Option<&Watermark>) -> SystemResult<DeletionRead> {
        self.check()?;
        self.reader.read_deletions(since).await
    }

    async fn fetch(&self, ids: &[String]) -> SystemResult<Vec<RawRecord>> {
        self.check()?;
        self.reader.fetch(ids).await
    }

    async fn find_by_emails(&self, emails: &[String]) -> SystemResult<Vec<RawRecord>> {
        self.check()?;
        self.reader.find_by_emails(emails).await
    }
}

#[async_trait]
impl ContactWriter for Budgeted {
    async fn create(&self, records: Vec<CreateRequest>) -> SystemResult<Vec<WriteOutcome>> {
        self.writer()?.create(records).await
    }

    async fn update(&self, records: Vec<UpdateRequest>) -> SystemResult<Vec<WriteOutcome>> {
        self.writer()?.update(records).await
    }

    async fn delete(&self, ids: Vec<String>) -> SystemResult<Vec<WriteOutcome>> {
        self.writer()?.delete(ids).await
    }
}
