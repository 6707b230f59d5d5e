//! The `WorkQueue` port and its messages (docs/design.md section 5).
//!
//! Messages carry ids only, never field values: they are personal data.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::sync::Mutex;

/// Current message format version.
pub const MESSAGE_VERSION: u32 = 1;

/// A reference to one pair to reconcile: the pair id when linked, otherwise the record id(s)
/// known on each side (a proposed match carries both).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PairRef {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pair_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sf_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gz_id: Option<String>,
    /// Set when the poll saw the Salesforce record deleted by a merge: the surviving record
    /// (`MasterRecordId`), so the pair follows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_into: Option<String>,
}

impl PairRef {
    /// A reference by pair id.
    pub fn to_pair(pair_id: String) -> PairRef {
        PairRef {
            pair_id: Some(pair_id),
            ..PairRef::default()
        }
    }
}

/// One unit of reconcile work.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReconcileBatch {
    pub v: u32,
    pub integration: String,
    pub run_id: String,
    pub pairs: Vec<PairRef>,
}

/// A conflict or review event for the notifier. No values: those stay in the store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConflictEvent {
    pub v: u32,
    pub integration: String,
    pub run_id: String,
    pub conflict_id: String,
    pub pair_id: Option<String>,
    pub sf_id: Option<String>,
    pub gz_id: Option<String>,
    pub field: String,
    pub policy: String,
    pub outcome: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("queue temporarily unavailable: {0}")]
    Transient(String),
    #[error("queue refused the message: {0}")]
    Permanent(String),
}

impl QueueError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, QueueError::Transient(_))
    }
}

/// Where work goes between the use cases.
///
/// Contract: at-least-once. `send_*` returns `Ok` only when every message is durably accepted;
/// on `Err` some may have been accepted, so consumers must tolerate duplicates.
#[async_trait]
pub trait WorkQueue: Send + Sync {
    async fn send_batches(&self, batches: Vec<ReconcileBatch>) -> Result<(), QueueError>;
    async fn send_conflicts(&self, events: Vec<ConflictEvent>) -> Result<(), QueueError>;
}

/// In-process queue for the one-process CLI and tests: FIFO, nothing durable.
#[derive(Debug, Default)]
pub struct InProcessQueue {
    batches: Mutex<VecDeque<ReconcileBatch>>,
    conflicts: Mutex<VecDeque<ConflictEvent>>,
}

impl InProcessQueue {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn next_batch(&self) -> Option<ReconcileBatch> {
        self.batches.lock().expect("queue lock").pop_front()
    }

    pub fn drain_conflicts(&self) -> Vec<ConflictEvent> {
        self.conflicts
            .lock()
            .expect("queue lock")
            .drain(..)
            .collect()
    }

    pub fn pending_batches(&self) -> usize {
        self.batches.lock().expect("queue lock").len()
    }
}

#[async_trait]
impl WorkQueue for InProcessQueue {
    async fn send_batches(&self, batches: Vec<ReconcileBatch>) -> Result<(), QueueError> {
        self.batches.lock().expect("queue lock").extend(batches);
        Ok(())
    }

    async fn send_conflicts(&self, events: Vec<ConflictEvent>) -> Result<(), QueueError> {
        self.conflicts.lock().expect("queue lock").extend(events);
        Ok(())
    }
}
