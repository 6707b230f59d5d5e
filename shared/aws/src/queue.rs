//! [`WorkQueue`] on two SQS standard queues: reconcile batches and conflict events.
//!
//! Messages are the pipeline's versioned JSON (ids only, never field values). They are sent
//! with `SendMessageBatch`, at most ten entries and [`MAX_BATCH_BYTES`] a request; an entry the
//! service refuses through no fault of ours is sent again (with backoff) until it is accepted or
//! the attempts run out, and an entry refused as our fault fails the call as permanent. One
//! message may not exceed [`MAX_MESSAGE_BYTES`], far below SQS's 256 KiB, so a batch that grew
//! by accident is refused here with a clear error instead of at the service.

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::{DisplayErrorContext, SdkError};
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use contact_sync_pipeline::queue::{ConflictEvent, QueueError, ReconcileBatch, WorkQueue};
use serde::Serialize;

/// Largest message this adapter sends (a 200-pair reconcile batch is about 25 KiB).
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;
/// Largest `SendMessageBatch` payload (the service's limit for the sum is 256 KiB).
pub const MAX_BATCH_BYTES: usize = 192 * 1024;
/// Entries per `SendMessageBatch` (the service's limit).
pub const MAX_BATCH_ENTRIES: usize = 10;
/// Attempts per entry refused by the service for a transient reason.
const ATTEMPTS: u32 = 5;

/// The two queues of a deployment. A function is given only the queue it sends to (least
/// privilege); sending to the other is a permanent error.
#[derive(Clone, Debug)]
pub struct SqsQueue {
    client: Client,
    reconcile_queue_url: Option<String>,
    conflict_queue_url: Option<String>,
}

impl SqsQueue {
    pub fn new(client: Client) -> SqsQueue {
        SqsQueue {
            client,
            reconcile_queue_url: None,
            conflict_queue_url: None,
        }
    }

    /// Where reconcile batches go.
    pub fn with_reconcile_queue(mut self, url: impl Into<String>) -> SqsQueue {
        self.reconcile_queue_url = Some(url.into());
        self
    }

    /// Where conflict events go.
    pub fn with_conflict_queue(mut self, url: impl Into<String>) -> SqsQueue {
        self.conflict_queue_url = Some(url.into());
        self
    }

    async fn send<T: Serialize>(
        &self,
        queue_url: Option<&str>,
        kind: &str,
        messages: &[T],
    ) -> Result<(), QueueError> {
        if messages.is_empty() {
            return Ok(());
        }
        let queue_url = queue_url.ok_or_else(|| {
            QueueError::Permanent(format!("{kind}: no queue configured for this function"))
        })?;
        let bodies = messages
            .iter()
            .map(|m| encode(kind, m))
            .collect::<Result<Vec<String>, QueueError>>()?;
        for group in groups(&bodies) {
            self.send_group(queue_url, kind, group).await?;
        }
        Ok(())
    }

    /// One `SendMessageBatch` for `bodies`, re-sending entries refused for transient reasons.
    async fn send_group(
        &self,
        queue_url: &str,
        kind: &str,
        bodies: &[String],
    ) -> Result<(), QueueError> {
        // Entry ids are the bodies' positions in this group.
        let mut pending: Vec<usize> = (0..bodies.len()).collect();
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                let ms = 50u64 << attempt;
                tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
            }
            let entries = pending
                .iter()
                .map(|&i| {
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(&bodies[i])
                        .build()
                        .map_err(|e| QueueError::Permanent(format!("{kind} entry: {e}")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let out = self
                .client
                .send_message_batch()
                .queue_url(queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| classify(kind, e))?;
            if let Some(ours) = out.failed().iter().find(|f| f.sender_fault()) {
                return Err(QueueError::Permanent(format!(
                    "{kind}: SQS refused a message as malformed ({}: {})",
                    ours.code(),
                    ours.message().unwrap_or("")
                )));
            }
            pending = out
                .failed()
                .iter()
                .filter_map(|f| f.id().parse::<usize>().ok())
                .collect();
            if pending.is_empty() {
                return Ok(());
            }
            tracing::warn!(
                kind,
                failed = pending.len(),
                attempt,
                "SQS refused some entries; sending them again"
            );
        }
        Err(QueueError::Transient(format!(
            "{kind}: {} message(s) still refused by SQS after {ATTEMPTS} attempts",
            pending.len()
        )))
    }
}

fn encode<T: Serialize>(kind: &str, message: &T) -> Result<String, QueueError> {
    let body = serde_json::to_string(message)
        .map_err(|e| QueueError::Permanent(format!("{kind}: cannot encode ({e})")))?;
    if body.len() > MAX_MESSAGE_BYTES {
        return Err(QueueError::Permanent(format!(
            "{kind}: message of {} bytes exceeds this adapter's {MAX_MESSAGE_BYTES}-byte limit \
             (send smaller batches)",
            body.len()
        )));
    }
    Ok(body)
}

/// Splits bodies into `SendMessageBatch` requests: at most ten entries and
/// [`MAX_BATCH_BYTES`] each.
fn groups(bodies: &[String]) -> Vec<&[String]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (i, body) in bodies.iter().enumerate() {
        let full = i - start == MAX_BATCH_ENTRIES || bytes + body.len() > MAX_BATCH_BYTES;
        if full && i > start {
            out.push(&bodies[start..i]);
            start = i;
            bytes = 0;
        }
        bytes += body.len();
    }
    if start < bodies.len() {
        out.push(&bodies[start..]);
    }
    out
}

fn classify<E>(kind: &str, error: SdkError<E>) -> QueueError
where
    E: aws_sdk_sqs::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    let retryable = match &error {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(e) => matches!(
            e.err().code(),
            Some(
                "RequestThrottled"
                    | "ThrottlingException"
                    | "ServiceUnavailable"
                    | "InternalError"
                    | "InternalFailure"
                    | "KmsThrottled"
            )
        ),
        _ => false,
    };
    let message = format!("{kind}: SendMessageBatch: {}", DisplayErrorContext(&error));
    if retryable {
        QueueError::Transient(message)
    } else {
        QueueError::Permanent(message)
    }
}

#[async_trait]
impl WorkQueue for SqsQueue {
    async fn send_batches(&self, batches: Vec<ReconcileBatch>) -> Result<(), QueueError> {
        self.send(
            self.reconcile_queue_url.as_deref(),
            "reconcile batch",
            &batches,
        )
        .await
    }

    async fn send_conflicts(&self, events: Vec<ConflictEvent>) -> Result<(), QueueError> {
        self.send(
            self.conflict_queue_url.as_deref(),
            "conflict event",
            &events,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_hold_at_most_ten_entries_and_the_byte_limit() {
        // GIVEN 23 small bodies, then 5 bodies of 60 KiB
        let small: Vec<String> = (0..23).map(|i| format!("{{\"n\":{i}}}")).collect();
        let big: Vec<String> = (0..5).map(|_| "x".repeat(60 * 1024)).collect();
        // WHEN grouped
        let small_groups: Vec<usize> = groups(&small).iter().map(|g| g.len()).collect();
        let big_groups: Vec<usize> = groups(&big).iter().map(|g| g.len()).collect();
        // THEN tens and a remainder, and byte-bound groups of three (180 KiB ≤ 192 KiB)
        assert_eq!(small_groups, vec![10, 10, 3]);
        assert_eq!(big_groups, vec![3, 2]);
        assert!(groups(&[]).is_empty());
    }

    #[test]
    fn an_oversized_message_is_refused_before_sending() {
        // GIVEN a message larger than the adapter's limit
        let body = "x".repeat(MAX_MESSAGE_BYTES);
        // WHEN encoded THEN it is a permanent error naming the size
        let error = encode("reconcile batch", &body).unwrap_err();
        assert!(matches!(error, QueueError::Permanent(_)), "{error:?}");
        assert!(error.to_string().contains("exceeds"), "{error}");
    }
}
