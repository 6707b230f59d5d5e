//! Reconciler: an SQS batch of `ReconcileBatch` messages → `reconcile` for each, over DynamoDB
//! (pair leases, conditional link puts, compare-and-set commits) with conflict events sent to
//! the conflict queue. The response (`ReportBatchItemFailures`) names only the messages to
//! deliver again:
//!
//! - a malformed message (not JSON, wrong shape or version, another integration) fails alone
//!   and reaches the dead-letter queue after its receives; its neighbours are processed;
//! - a batch whose pairs could not all be worked on now (leased by another worker, a lost
//!   race, a transient store error) is delivered again: reconcile is idempotent;
//! - pairs whose writes a system refused are stored (pending / rejected) and not redelivered.
//!
//! Delete decisions a person made and no poll has closed yet apply to every batch
//! (`review::with_pending_decisions`, one query a message), as they apply to the poll.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use contact_sync_aws::metrics::{self, ReconcileTally};
use contact_sync_aws::{Deployment, DeploymentError};
use contact_sync_pipeline::queue::ReconcileBatch;
use contact_sync_pipeline::reconcile::reconcile;
use contact_sync_pipeline::review;
use std::time::Instant;

/// Handles one delivery and emits its metrics (EMF, see `contact_sync_aws::metrics`). `Err`
/// (setup failed: secrets, settings) fails the whole delivery.
pub async fn handle(
    deployment: &Deployment,
    event: SqsEvent,
) -> Result<SqsBatchResponse, DeploymentError> {
    let started = Instant::now();
    let before = metrics::usage(deployment).await;
    let mut tally = ReconcileTally {
        oldest_message_age_seconds: oldest_age(&event),
        ..ReconcileTally::default()
    };
    let mut response = SqsBatchResponse::default();
    for message in event.records {
        tally.messages += 1;
        let id = message.message_id.clone().unwrap_or_default();
        let batch = match decode(message.body.as_deref().unwrap_or("")) {
            Ok(batch) => batch,
            Err(problem) => {
                tracing::error!(message_id = %id, %problem, "malformed reconcile batch; it goes to the dead-letter queue after its receives");
                tally.malformed_messages += 1;
                tally.failed_messages += 1;
                response.add_failure(id);
                continue;
            }
        };
        tally.pairs += batch.pairs.len() as u64;
        let result = deployment
            .with_integration(|integration| {
                let batch = batch.clone();
                async move {
                    let integration = review::with_pending_decisions(integration).await?;
                    reconcile(&integration, &batch).await
                }
            })
            .await?;
        match result {
            Ok(outcome) if outcome.retry.is_empty() => tally.stats += outcome.stats,
            Ok(outcome) => {
                tracing::info!(message_id = %id, retry = outcome.retry.len(), "some pairs could not be worked on now; delivering the batch again");
                tally.stats += outcome.stats;
                tally.failed_messages += 1;
                response.add_failure(id);
            }
            Err(error) => {
                tracing::error!(message_id = %id, retryable = error.is_retryable(), %error, "reconcile failed");
                tally.failed_messages += 1;
                response.add_failure(id);
            }
        }
    }
    metrics::emit_reconcile(deployment, &tally, before, started).await;
    Ok(response)
}

/// Seconds since the oldest message of the delivery was sent (`SentTimestamp`, which Lambda's
/// SQS event source passes on); `None` when no message carries it.
fn oldest_age(event: &SqsEvent) -> Option<f64> {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    event
        .records
        .iter()
        .filter_map(|m| m.attributes.get("SentTimestamp")?.parse::<i64>().ok())
        .min()
        .map(|sent| (now_ms - sent).max(0) as f64 / 1000.0)
}

/// The batch in a message body. serde's message may quote the body: keep only its category
/// and position.
fn decode(body: &str) -> Result<ReconcileBatch, String> {
    serde_json::from_str(body).map_err(|e| {
        format!(
            "{:?} error at line {} column {}",
            e.classify(),
            e.line(),
            e.column()
        )
    })
}
