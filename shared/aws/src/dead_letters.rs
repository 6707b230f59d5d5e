//! The dead-letter queues of a deployment: what is in them, and moving messages back to the
//! queue they came from (`contact-sync dlq list|replay`).
//!
//! - **Listing** receives every message of both DLQs (long polling, ten at a time, each hidden
//!   for [`SCAN_VISIBILITY`] so that one scan sees each message once), then makes them visible
//!   again. A receive counts as a receive: `ApproximateReceiveCount` grows by one per listing
//!   (nothing consumes a DLQ, so nothing else changes). Bodies are decoded to ids and counts
//!   (kind, integration, run id, pairs); a body that is not a message of this version is listed
//!   as malformed, with the parse error's category and position only.
//! - **Replay** sends the chosen messages' bodies to the source queue (`SendMessageBatch`) and
//!   deletes a message from the DLQ (`DeleteMessageBatch`) only after its send succeeded; a
//!   message whose send failed stays in the DLQ, visible again. Malformed messages are left
//!   alone unless forced. A crash between send and delete leaves a message in both queues:
//!   reconcile and notify are idempotent, so a later second replay is harmless.
//!   (`StartMessageMoveTask` would move everything server-side but cannot pick messages, and
//!   moto does not implement it; see reference/TOOLCHAIN.md.)
//!
//! Which queues: the reconcile and conflict queues' URLs (the variables the functions use);
//! each one's DLQ is read from its `RedrivePolicy`, unless given explicitly.

use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry,
    MessageSystemAttributeName, QueueAttributeName, SendMessageBatchRequestEntry,
};
use chrono::{DateTime, Utc};
use contact_sync_pipeline::queue::{ConflictEvent, MESSAGE_VERSION, ReconcileBatch};
use serde::Serialize;
use std::collections::HashSet;

/// How long a scanned message stays hidden while a listing or replay works on it.
pub const SCAN_VISIBILITY: i32 = 300;
/// The most messages one listing or replay reads per queue.
pub const SCAN_LIMIT: usize = 10_000;
/// Consecutive empty receives after which a queue is taken as scanned. One is enough: the
/// receives long-poll, which asks every SQS server (a short poll may answer empty while
/// messages exist).
const EMPTY_RECEIVES: u32 = 1;
/// Long-poll wait of each receive, in seconds.
const RECEIVE_WAIT: i32 = 1;

/// Which pipeline messages a queue carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    /// `ReconcileBatch` (reconcile queue → reconciler).
    Reconcile,
    /// `ConflictEvent` (conflict queue → notifier).
    Conflict,
}

impl MessageKind {
    pub fn name(self) -> &'static str {
        match self {
            MessageKind::Reconcile => "reconcile",
            MessageKind::Conflict => "conflict",
        }
    }
}

/// A dead-letter queue and the queue its messages came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetterQueue {
    pub kind: MessageKind,
    pub url: String,
    pub source_url: String,
}

/// What a dead letter's body is, as ids and counts (never field values).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "content")]
pub enum Content {
    Message {
        integration: String,
        run_id: String,
        /// Pair references (reconcile batch), or 1 / 0 for a conflict event with / without a
        /// pair.
        pairs: usize,
    },
    /// Not a message of this version; `problem` names the parse error's category and
    /// position, never the body.
    Malformed { problem: String },
}

/// One message of a dead-letter queue.
#[derive(Debug, Clone, Serialize)]
pub struct DeadLetter {
    pub kind: MessageKind,
    pub message_id: String,
    #[serde(flatten)]
    pub content: Content,
    pub receive_count: Option<u64>,
    pub first_received_at: Option<DateTime<Utc>>,
    pub sent_at: Option<DateTime<Utc>>,
    #[serde(skip)]
    body: String,
    #[serde(skip)]
    receipt_handle: String,
}

impl DeadLetter {
    pub fn is_malformed(&self) -> bool {
        matches!(self.content, Content::Malformed { .. })
    }
}

/// Which messages to replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    All,
    Ids(Vec<String>),
}

/// What a replay did (or, on a dry run, would do), by message id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReplayReport {
    pub dry_run: bool,
    /// Sent back to the source queue and deleted from the DLQ (dry run: would be).
    pub replayed: Vec<String>,
    /// Malformed and not forced: left in the DLQ.
    pub skipped_malformed: Vec<String>,
    /// The send failed: left in the DLQ.
    pub failed: Vec<String>,
    /// Sent, but the delete from the DLQ failed: the message is now in both queues (harmless:
    /// the consumers are idempotent; a later replay sends it once more).
    pub sent_not_deleted: Vec<String>,
    /// Asked for by id but not found in any DLQ.
    pub not_found: Vec<String>,
}

/// Why the queues could not be read or written. Carries the service's messages, never a body.
#[derive(Debug, thiserror::Error)]
pub enum DeadLetterError {
    #[error("{queue}: {message}")]
    Sqs { queue: String, message: String },
    #[error("{queue}: has no dead-letter queue (no RedrivePolicy)")]
    NoRedrive { queue: String },
}

fn sqs_error(queue: &str, error: impl std::error::Error + 'static) -> DeadLetterError {
    DeadLetterError::Sqs {
        queue: queue.to_string(),
        message: DisplayErrorContext(error).to_string(),
    }
}

/// The dead-letter queues of a deployment.
#[derive(Debug, Clone)]
pub struct DeadLetters {
    client: Client,
    queues: Vec<DeadLetterQueue>,
}

impl DeadLetters {
    pub fn new(client: Client, queues: Vec<DeadLetterQueue>) -> DeadLetters {
        DeadLetters { client, queues }
    }

    /// The DLQs of the given source queues, read from their `RedrivePolicy`.
    pub async fn discover(
        client: Client,
        sources: &[(MessageKind, String)],
    ) -> Result<DeadLetters, DeadLetterError> {
        let mut queues = Vec::new();
        for (kind, source_url) in sources {
            let url = dead_letter_queue_of(&client, source_url).await?;
            queues.push(DeadLetterQueue {
                kind: *kind,
                url,
                source_url: source_url.clone(),
            });
        }
        Ok(DeadLetters { client, queues })
    }

    pub fn queues(&self) -> &[DeadLetterQueue] {
        &self.queues
    }

    /// Every message of every DLQ (at most [`SCAN_LIMIT`] each), oldest sent first; they are
    /// visible again when this returns.
    pub async fn list(&self) -> Result<Vec<DeadLetter>, DeadLetterError> {
        let mut all = Vec::new();
        for queue in &self.queues {
            let letters = self.scan(queue).await?;
            self.release(queue, &letters.iter().collect::<Vec<_>>())
                .await;
            all.extend(letters);
        }
        all.sort_by(|a, b| (a.sent_at, &a.message_id).cmp(&(b.sent_at, &b.message_id)));
        Ok(all)
    }

    /// Moves the selected messages back to their source queues (see the module docs).
    /// `force`: replay malformed messages too. `dry_run`: change nothing, report what would
    /// be done.
    pub async fn replay(
        &self,
        selection: &Selection,
        force: bool,
        dry_run: bool,
    ) -> Result<ReplayReport, DeadLetterError> {
        let mut report = ReplayReport {
            dry_run,
            ..ReplayReport::default()
        };
        let mut found: HashSet<String> = HashSet::new();
        for queue in &self.queues {
            let letters = self.scan(queue).await?;
            let mut keep = Vec::new();
            let mut send = Vec::new();
            for letter in &letters {
                let chosen = match selection {
                    Selection::All => true,
                    Selection::Ids(ids) => ids.contains(&letter.message_id),
                };
                if chosen {
                    found.insert(letter.message_id.clone());
                }
                if !chosen {
                    keep.push(letter);
                } else if letter.is_malformed() && !force {
                    report.skipped_malformed.push(letter.message_id.clone());
                    keep.push(letter);
                } else if dry_run {
                    report.replayed.push(letter.message_id.clone());
                    keep.push(letter);
                } else {
                    send.push(letter);
                }
            }
            for group in send.chunks(crate::queue::MAX_BATCH_ENTRIES) {
                let (sent, failed) = self.send_back(queue, group).await;
                report
                    .failed
                    .extend(failed.iter().map(|l| l.message_id.clone()));
                keep.extend(failed);
                let (deleted, not_deleted) = self.delete(queue, &sent).await;
                report
                    .replayed
                    .extend(deleted.iter().map(|l| l.message_id.clone()));
                report
                    .sent_not_deleted
                    .extend(not_deleted.iter().map(|l| l.message_id.clone()));
                keep.extend(not_deleted);
            }
            self.release(queue, &keep).await;
        }
        if let Selection::Ids(ids) = selection {
            report.not_found = ids
                .iter()
                .filter(|id| !found.contains(*id))
                .cloned()
                .collect();
        }
        Ok(report)
    }

    /// Receives every message of `queue` (each hidden for [`SCAN_VISIBILITY`]).
    async fn scan(&self, queue: &DeadLetterQueue) -> Result<Vec<DeadLetter>, DeadLetterError> {
        let mut letters: Vec<DeadLetter> = Vec::new();
        let mut seen = HashSet::new();
        let mut empty = 0;
        while empty < EMPTY_RECEIVES && letters.len() < SCAN_LIMIT {
            let out = self
                .client
                .receive_message()
                .queue_url(&queue.url)
                .max_number_of_messages(10)
                .wait_time_seconds(RECEIVE_WAIT)
                .visibility_timeout(SCAN_VISIBILITY)
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .send()
                .await
                .map_err(|e| sqs_error(&queue.url, e))?;
            let messages = out.messages.unwrap_or_default();
            if messages.is_empty() {
                empty += 1;
                continue;
            }
            empty = 0;
            for m in messages {
                let id = m.message_id.clone().unwrap_or_default();
                if !seen.insert(id.clone()) {
                    // A duplicate delivery of a standard queue: the newer receipt handle is
                    // the valid one.
                    if let Some(l) = letters.iter_mut().find(|l| l.message_id == id) {
                        l.receipt_handle = m.receipt_handle.clone().unwrap_or_default();
                    }
                    continue;
                }
                let attribute = |name: MessageSystemAttributeName| {
                    m.attributes
                        .as_ref()
                        .and_then(|a| a.get(&name))
                        .and_then(|v| v.parse::<i64>().ok())
                };
                let body = m.body.clone().unwrap_or_default();
                letters.push(DeadLetter {
                    kind: queue.kind,
                    message_id: id,
                    content: decode(queue.kind, &body),
                    receive_count: attribute(MessageSystemAttributeName::ApproximateReceiveCount)
                        .map(|n| n.max(0) as u64),
                    first_received_at: attribute(
                        MessageSystemAttributeName::ApproximateFirstReceiveTimestamp,
                    )
                    .and_then(DateTime::from_timestamp_millis),
                    sent_at: attribute(MessageSystemAttributeName::SentTimestamp)
                        .and_then(DateTime::from_timestamp_millis),
                    body,
                    receipt_handle: m.receipt_handle.unwrap_or_default(),
                });
            }
        }
        Ok(letters)
    }

    /// Makes messages visible again at once. Best effort: a message not released becomes
    /// visible by itself after [`SCAN_VISIBILITY`].
    async fn release(&self, queue: &DeadLetterQueue, letters: &[&DeadLetter]) {
        for group in letters.chunks(crate::queue::MAX_BATCH_ENTRIES) {
            let entries: Vec<_> = group
                .iter()
                .enumerate()
                .filter_map(|(i, l)| {
                    ChangeMessageVisibilityBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(&l.receipt_handle)
                        .visibility_timeout(0)
                        .build()
                        .ok()
                })
                .collect();
            let result = self
                .client
                .change_message_visibility_batch()
                .queue_url(&queue.url)
                .set_entries(Some(entries))
                .send()
                .await;
            if let Err(e) = result {
                tracing::warn!(queue = %queue.url, error = %DisplayErrorContext(&e), "could not make dead letters visible again; they will be after their visibility timeout");
            }
        }
    }

    /// One `SendMessageBatch` of the bodies to the source queue: the letters sent and those
    /// whose send failed.
    async fn send_back<'a>(
        &self,
        queue: &DeadLetterQueue,
        group: &[&'a DeadLetter],
    ) -> (Vec<&'a DeadLetter>, Vec<&'a DeadLetter>) {
        let entries: Vec<_> = group
            .iter()
            .enumerate()
            .filter_map(|(i, l)| {
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(&l.body)
                    .build()
                    .ok()
            })
            .collect();
        let out = match self
            .client
            .send_message_batch()
            .queue_url(&queue.source_url)
            .set_entries(Some(entries))
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) => {
                tracing::warn!(queue = %queue.source_url, error = %DisplayErrorContext(&e), "replay: send failed; the messages stay in the dead-letter queue");
                return (Vec::new(), group.to_vec());
            }
        };
        let ok: HashSet<usize> = out
            .successful()
            .iter()
            .filter_map(|s| s.id().parse().ok())
            .collect();
        split(group, &ok)
    }

    /// Deletes sent letters from the DLQ: the letters deleted, and those not deleted.
    async fn delete<'a>(
        &self,
        queue: &DeadLetterQueue,
        sent: &[&'a DeadLetter],
    ) -> (Vec<&'a DeadLetter>, Vec<&'a DeadLetter>) {
        if sent.is_empty() {
            return (Vec::new(), Vec::new());
        }
        let entries: Vec<_> = sent
            .iter()
            .enumerate()
            .filter_map(|(i, l)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(&l.receipt_handle)
                    .build()
                    .ok()
            })
            .collect();
        let deleted: HashSet<usize> = match self
            .client
            .delete_message_batch()
            .queue_url(&queue.url)
            .set_entries(Some(entries))
            .send()
            .await
        {
            Ok(out) => out
                .successful()
                .iter()
                .filter_map(|s| s.id().parse().ok())
                .collect(),
            Err(e) => {
                tracing::warn!(queue = %queue.url, error = %DisplayErrorContext(&e), "replay: sent, but the delete from the dead-letter queue failed");
                HashSet::new()
            }
        };
        split(sent, &deleted)
    }
}

/// The letters whose batch entry id (their position) is in `ok`, and the others.
fn split<'a>(
    letters: &[&'a DeadLetter],
    ok: &HashSet<usize>,
) -> (Vec<&'a DeadLetter>, Vec<&'a DeadLetter>) {
    let (done, left): (Vec<_>, Vec<_>) = letters
        .iter()
        .enumerate()
        .partition(|(i, _)| ok.contains(i));
    let letters = |v: Vec<(usize, &&'a DeadLetter)>| v.into_iter().map(|(_, l)| *l).collect();
    (letters(done), letters(left))
}

/// The URL of `source_url`'s dead-letter queue, from its `RedrivePolicy`.
async fn dead_letter_queue_of(
    client: &Client,
    source_url: &str,
) -> Result<String, DeadLetterError> {
    let out = client
        .get_queue_attributes()
        .queue_url(source_url)
        .attribute_names(QueueAttributeName::RedrivePolicy)
        .send()
        .await
        .map_err(|e| sqs_error(source_url, e))?;
    let policy = out
        .attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::RedrivePolicy))
        .ok_or_else(|| DeadLetterError::NoRedrive {
            queue: source_url.to_string(),
        })?;
    let arn = serde_json::from_str::<serde_json::Value>(&policy)
        .ok()
        .and_then(|p| p["deadLetterTargetArn"].as_str().map(str::to_string))
        .ok_or_else(|| DeadLetterError::NoRedrive {
            queue: source_url.to_string(),
        })?;
    // arn:aws:sqs:region:account:name
    let mut parts = arn.rsplitn(3, ':');
    let (name, account) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let mut request = client.get_queue_url().queue_name(name);
    if !account.is_empty() {
        request = request.queue_owner_aws_account_id(account);
    }
    request
        .send()
        .await
        .map_err(|e| sqs_error(&arn, e))?
        .queue_url
        .ok_or_else(|| DeadLetterError::Sqs {
            queue: arn,
            message: "GetQueueUrl returned no URL".into(),
        })
}

/// A body as ids and counts; anything else is malformed (category and position only).
fn decode(kind: MessageKind, body: &str) -> Content {
    let problem = |e: serde_json::Error| Content::Malformed {
        problem: format!(
            "not a {} message: {:?} error at line {} column {}",
            kind.name(),
            e.classify(),
            e.line(),
            e.column()
        ),
    };
    let wrong_version = |v: u32| Content::Malformed {
        problem: format!("message version {v} (this build reads {MESSAGE_VERSION})"),
    };
    match kind {
        MessageKind::Reconcile => match serde_json::from_str::<ReconcileBatch>(body) {
            Ok(b) if b.v != MESSAGE_VERSION => wrong_version(b.v),
            Ok(b) => Content::Message {
                integration: b.integration,
                run_id: b.run_id,
                pairs: b.pairs.len(),
            },
            Err(e) => problem(e),
        },
        MessageKind::Conflict => match serde_json::from_str::<ConflictEvent>(body) {
            Ok(e) if e.v != MESSAGE_VERSION => wrong_version(e.v),
            Ok(e) => Content::Message {
                integration: e.integration,
                run_id: e.run_id,
                pairs: usize::from(e.pair_id.is_some()),
            },
            Err(e) => problem(e),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_decode_to_ids_and_counts_and_anything_else_is_malformed_without_its_text() {
        // GIVEN a reconcile batch, a batch of another version, and a body that is not one
        let batch = r#"{"v":1,"integration":"acme","run_id":"run-1","pairs":[{"sf_id":"003A"},{"pair_id":"p2"}]}"#;
        let future = r#"{"v":2,"integration":"acme","run_id":"run-1","pairs":[]}"#;
        let secret = r#"{"email":"someone@example.com"}"#;
        // WHEN decoded as reconcile messages
        // THEN the batch gives its integration, run and pair count
        assert_eq!(
            decode(MessageKind::Reconcile, batch),
            Content::Message {
                integration: "acme".into(),
                run_id: "run-1".into(),
                pairs: 2
            }
        );
        // AND the others are malformed, naming the problem but never the body
        for body in [future, secret] {
            let Content::Malformed { problem } = decode(MessageKind::Reconcile, body) else {
                panic!("{body} decoded");
            };
            assert!(!problem.contains("example.com"), "{problem}");
        }
        assert!(matches!(
            decode(MessageKind::Conflict, batch),
            Content::Malformed { .. }
        ));
    }
}
