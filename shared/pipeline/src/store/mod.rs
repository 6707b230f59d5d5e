//! The `SyncStore` port: everything the pipeline remembers between runs (DESIGN.md section 4).
//!
//! Implementations: [`memory::MemoryStore`] (tests), [`embedded::EmbeddedStore`] (a redb file,
//! for the CLI), and the DynamoDB store in `contact-sync-aws`. All of them pass the same contract
//! tests ([`contract_tests`], behind the `contract-tests` feature for other crates).

#[cfg(any(test, feature = "contract-tests"))]
pub mod contract_tests;
pub mod embedded;
pub mod memory;
mod rules;

use crate::system::{RecordError, Watermark};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use contact_sync_engine::merge::Resolutions;
use contact_sync_engine::{CanonicalContact, Side};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Where a pair stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PairStatus {
    /// Both records exist and the base is what both agreed on at the last sync.
    Synced,
    /// The last reconcile could not finish (a record failed); the base is the last agreed one
    /// and the pair is retried on the next run.
    Pending,
    /// One side's record is gone (deleted, or the pair was unlinked by the delete policy); the
    /// pair is kept as a tombstone so neither record is ever re-created or re-matched.
    Unlinked,
    /// A system refused a write for good (validation); parked with an open review item and
    /// retried only when one of its records changes.
    Rejected,
}

/// A linked pair of records and their base snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pair {
    pub pair_id: String,
    pub sf_id: Option<String>,
    pub gz_id: Option<String>,
    /// Normalised values both sides agreed on at the last successful sync; `None` before the
    /// first one.
    pub base: Option<CanonicalContact>,
    /// Incremented by every successful [`SyncStore::save_pair`]; starts at 1.
    pub version: u64,
    pub status: PairStatus,
    pub last_error: Option<RecordError>,
    pub synced_at: Option<DateTime<Utc>>,
    /// Choices a person made for held fields, applied (and cleared) by the next reconcile.
    #[serde(default, skip_serializing_if = "Resolutions::is_empty")]
    pub resolutions: Resolutions,
}

impl Pair {
    /// Makes the pair a tombstone: unlinked, keeping its ids (so neither record is re-created
    /// or re-matched) but no person's values: the base snapshot and any chosen values go.
    pub fn make_tombstone(&mut self) {
        self.status = PairStatus::Unlinked;
        self.base = None;
        self.resolutions.clear();
    }

    /// A new pair (version 1, pending its first sync).
    pub fn new(pair_id: String, sf_id: Option<String>, gz_id: Option<String>) -> Pair {
        Pair {
            pair_id,
            sf_id,
            gz_id,
            base: None,
            version: 1,
            status: PairStatus::Pending,
            last_error: None,
            synced_at: None,
            resolutions: Resolutions::new(),
        }
    }
}

/// Result of [`SyncStore::create_pair`] and [`SyncStore::save_pair`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaveOutcome {
    Saved,
    /// Another writer changed the pair first (compare-and-set lost); nothing was written.
    VersionMismatch,
    /// A record id is already linked to another pair; nothing was written.
    LinkTaken {
        side: Side,
        record_id: String,
        pair_id: String,
    },
    /// `create_pair` only: a pair with this id already exists; nothing was written.
    AlreadyExists,
}

/// What a conflict record is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum ConflictKind {
    /// Both sides changed a field differently; the policy chose `winner`.
    Resolved { winner: Side },
    /// Both sides changed a `manual` field differently: nothing written, waiting for a person.
    Manual,
    /// An unlinked record matched several candidates (or several records matched one): nothing
    /// linked or created, waiting for a person.
    AmbiguousMatch { candidates: Vec<String> },
    /// A linked record disappeared from one side; the pair was unlinked (`policy` says how the
    /// other record was treated: `unlink` kept it, `propagate` deleted it).
    Deleted { side: Side },
    /// A value has no entry in the field's value map (rule `review`): the field is left alone
    /// for this pair until a person chooses a value or the value changes.
    Unmapped { side: Side },
    /// A person's choice was applied (audit).
    Chosen,
    /// A linked record was merged into a record that already has its own pair: the survivor
    /// keeps its own twin; the merged pair is unlinked under the delete policy (its twin written
    /// without the link, or deleted under `propagate`), never linked to the survivor.
    MergeCollision { side: Side, survivor: String },
    /// The delete circuit breaker held `count` deletes of `population` records.
    DeletesHeld { count: u64, population: u64 },
    /// A system refused to write the record (`code` is the system's error code; `message` may
    /// quote a value, so it lives here and never in logs).
    Rejected {
        side: Side,
        code: String,
        message: String,
    },
    /// A person's values were erased from the store (`contact-sync forget`, naming the record
    /// of `side`): this entry keeps the ids only.
    Erased { side: Side },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConflictStatus {
    /// Needs a person (manual conflicts, ambiguous matches).
    Open,
    /// Audit only: decided by policy, or resolved by a person.
    Closed,
}

/// An audit entry or review item. Holds field values (personal data): they live here, in the
/// store, never in logs or queue messages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConflictRecord {
    /// Stable id: the same conflict seen twice (redelivery, a re-run) has the same id, so
    /// recording it again is a no-op.
    pub id: String,
    pub integration: String,
    pub run_id: String,
    pub pair_id: Option<String>,
    pub sf_id: Option<String>,
    pub gz_id: Option<String>,
    /// Canonical field name, or `"match"` / `"record"` for matching and delete items.
    pub field: String,
    pub policy: String,
    pub kind: ConflictKind,
    pub status: ConflictStatus,
    pub base_value: Option<String>,
    pub salesforce_value: Option<String>,
    pub genesys_value: Option<String>,
    pub at: DateTime<Utc>,
}

impl ConflictRecord {
    /// True when the record keeps a person's values: a base, Salesforce or Genesys value, or a
    /// refusal message (which may quote one).
    pub fn holds_values(&self) -> bool {
        self.base_value.is_some()
            || self.salesforce_value.is_some()
            || self.genesys_value.is_some()
            || matches!(&self.kind, ConflictKind::Rejected { message, .. } if !message.is_empty())
    }

    /// Drops the values (see [`ConflictRecord::holds_values`]); ids, field, policy, kind (a
    /// refusal keeps its code), status and time stay. True when something was dropped.
    pub fn drop_values(&mut self) -> bool {
        let held = self.holds_values();
        self.base_value = None;
        self.salesforce_value = None;
        self.genesys_value = None;
        if let ConflictKind::Rejected { message, .. } = &mut self.kind {
            message.clear();
        }
        held
    }

    /// True when the record is about the person `subject` names (one of its ids is theirs).
    pub fn is_about(&self, subject: &ErasureSubject) -> bool {
        let same = |mine: &Option<String>, theirs: &Option<String>| {
            mine.is_some() && theirs.is_some() && mine == theirs
        };
        same(&self.pair_id, &subject.pair_id)
            || same(&self.sf_id, &subject.sf_id)
            || same(&self.gz_id, &subject.gz_id)
    }

    /// An open review item for records that cannot be paired automatically: `id` is stable for
    /// the records involved, so seeing the same ambiguity again is a no-op.
    #[allow(clippy::too_many_arguments)]
    pub fn ambiguous_match(
        id: String,
        integration: &str,
        run_id: &str,
        (pair_id, sf_id, gz_id): (Option<String>, Option<String>, Option<String>),
        reason: &str,
        candidates: Vec<String>,
        at: DateTime<Utc>,
    ) -> ConflictRecord {
        ConflictRecord {
            id,
            integration: integration.to_string(),
            run_id: run_id.to_string(),
            pair_id,
            sf_id,
            gz_id,
            field: "match".into(),
            policy: reason.into(),
            kind: ConflictKind::AmbiguousMatch { candidates },
            status: ConflictStatus::Open,
            base_value: None,
            salesforce_value: None,
            genesys_value: None,
            at,
        }
    }
}

/// The ids of one person whose values are erased (see [`SyncStore::erase_conflict_values`]):
/// a conflict record is about them when its pair id, Salesforce id or Genesys id is one of
/// these.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErasureSubject {
    pub pair_id: Option<String>,
    pub sf_id: Option<String>,
    pub gz_id: Option<String>,
}

/// What [`SyncStore::erase_conflict_values`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ErasedConflicts {
    /// Conflict records (audit entries and review items) about the person.
    pub found: usize,
    /// Those of them that held values (now dropped).
    pub erased: usize,
}

/// Statistics of one run, kept for `status` and audits.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub run_id: String,
    pub integration: String,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub summary: serde_json::Value,
}

/// The saved progress of a poll that spans several invocations (see [`crate::poll`]). At most
/// one per integration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PollCheckpoint {
    pub integration: String,
    /// The poll this progress belongs to: unique per poll, never reused by a later one.
    pub poll_id: String,
    /// Set by the store: 1 on a poll's first save, one more on each later save (the value passed
    /// to [`SyncStore::save_poll_checkpoint`] is ignored).
    pub version: u64,
    pub saved_at: DateTime<Utc>,
    /// The poll's own state, opaque to the store: ids, cursors and counts only, never field
    /// values. At most [`MAX_CHECKPOINT_STATE_BYTES`] as JSON.
    pub state: serde_json::Value,
}

impl PollCheckpoint {
    /// The state as JSON, refused (permanently, naming only the integration and the size)
    /// above [`MAX_CHECKPOINT_STATE_BYTES`].
    pub fn state_json(&self) -> StoreResult<Vec<u8>> {
        let bytes = serde_json::to_vec(&self.state).map_err(|e| {
            StoreError::Permanent(format!(
                "poll checkpoint of {}: cannot encode ({:?} error)",
                self.integration,
                e.classify()
            ))
        })?;
        if bytes.len() > MAX_CHECKPOINT_STATE_BYTES {
            return Err(StoreError::Permanent(format!(
                "poll checkpoint of {}: {} bytes, more than the {MAX_CHECKPOINT_STATE_BYTES} a store takes",
                self.integration,
                bytes.len()
            )));
        }
        Ok(bytes)
    }

    /// Whether a save of `poll_id`'s checkpoint expecting `expected` may replace the stored one
    /// (`stored`: its poll id and version, if any): the compare-and-set rule of
    /// [`SyncStore::save_poll_checkpoint`].
    pub fn replaces(stored: Option<(&str, u64)>, poll_id: &str, expected: Option<u64>) -> bool {
        match (stored, expected) {
            (None, None) => true,
            (Some((stored_poll, version)), Some(expected)) => {
                stored_poll == poll_id && version == expected
            }
            _ => false,
        }
    }
}

/// The largest checkpoint `state` (encoded as JSON) every store accepts. The poll bounds what it
/// carries far below this (see `Settings::poll_unlinked_limit`).
pub const MAX_CHECKPOINT_STATE_BYTES: usize = 4 * 1024 * 1024;

/// How long a store may need to keep the record of a lease that ended (released or expired)
/// before dropping it: far longer than any `free_since` lies behind its `now` (a reconcile
/// gives its reads back after half the lease lifetime, 15 minutes by default).
pub const ENDED_LEASE_RETENTION: chrono::Duration = chrono::Duration::days(1);

/// Result of [`SyncStore::save_poll_checkpoint`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckpointWrite {
    /// Stored, with this version.
    Saved { version: u64 },
    /// The stored checkpoint is not the one expected (another run saved or cleared it, or
    /// another poll's checkpoint is stored): nothing was written.
    Superseded,
}

/// A store failure. `Transient` may succeed on retry; `Permanent` will not.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store temporarily unavailable: {0}")]
    Transient(String),
    #[error("store failure: {0}")]
    Permanent(String),
    #[error("stored item {key} is unreadable: {message}")]
    Corrupt { key: String, message: String },
}

impl StoreError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Transient(_))
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Everything the pipeline remembers.
///
/// Contract (every implementation, checked by the shared contract tests):
/// - **Watermarks only move forward.** `advance_watermark` writes only when the new watermark
///   is strictly after the stored one (or none is stored) and says whether it wrote.
/// - **One pair per record.** A record id (per side) is linked to at most one pair, ever.
///   `create_pair` and `save_pair` add links atomically with the pair write and fail with
///   `LinkTaken` (writing nothing) if another pair holds one of the ids. Links are never removed
///   (an unlinked pair keeps them as a tombstone).
/// - **Compare-and-set on pairs.** `save_pair(pair, expected)` writes only when the stored
///   version equals `expected`, and stores `pair` with `version = expected + 1`.
/// - **Leases**: `acquire_lease_free_since(key, owner, free_since, now, ttl)` succeeds when
///   nobody but `owner` has held the lease at any moment from `free_since` (≤ `now`) on: no
///   lease was ever stored (or its record has been dropped, see below), the stored one expired
///   or was released at or before `free_since`, or `owner` is its holder (renewal); it then
///   holds until `now + ttl`. `acquire_lease(key, owner, now, ttl)` is the same with
///   `free_since = now` (free right now). `release_lease(key, owner, now)` ends the lease at
///   `now` only for its owner: the store keeps the release time, so a later
///   `acquire_lease_free_since` with an earlier `free_since` is refused (someone held it in
///   between). A store may drop the record of a lease that ended more than
///   [`ENDED_LEASE_RETENTION`] ago. All
///   times come from the callers' clocks, which are assumed to agree (as expiry already does).
/// - **Conflicts**: `record_conflict` is idempotent by `id` (a second call with the same id
///   keeps the first record). `close_conflict` turns an open record closed once and says
///   whether it did (false when unknown or already closed).
/// - **Poll checkpoints** (one per integration, compare-and-set): `save_poll_checkpoint` with
///   `expected_version: None` writes only when no checkpoint is stored (version 1); with
///   `Some(v)` only when the stored one has the same `poll_id` and version `v` (version `v + 1`);
///   otherwise it writes nothing and answers `Superseded`, so two runs can never both advance
///   one poll, and a late run of a finished poll never overwrites the next poll's checkpoint.
///   `clear_poll_checkpoint` removes it only for the same poll and version. A load after a
///   successful save returns exactly what was saved (never a mix of two saves). A `state`
///   larger than [`MAX_CHECKPOINT_STATE_BYTES`] is refused with a permanent error, writing
///   nothing.
/// - **Bulk limits only go down**: `lower_bulk_limit(integration, side, n)` stores `n` (≥ 1)
///   only when no limit is stored for that integration and side or the stored one is larger,
///   and says whether it wrote; `bulk_limit` reads it back (see `crate::bulk_limits`).
/// - All operations are atomic individually; none spans another call.
/// - **Batch operations** (`acquire_leases_free_since`, `release_leases`, `create_pairs`,
///   `save_pairs`, `record_conflicts`) answer, item by item and in order, exactly what the
///   single call would answer if the items were applied one after the other in that order (an
///   item may therefore see an earlier item of the same batch: two pairs linking one record
///   give `Saved` then `LinkTaken`). A store may apply a whole batch in one durable write; when
///   a batch call fails, any prefix of it may have been applied (every item is idempotent or
///   compare-and-set, so the caller retries or re-plans). The default implementations make the
///   single calls in order.
/// - **Values dropped, ids kept**: `drop_audit_values(integration, before, limit)` drops the
///   values ([`ConflictRecord::drop_values`]) of closed records of `integration` whose `at` is
///   before `before`, oldest first (ties by id), at most `limit` that still hold values, and
///   says how many it changed; open records keep theirs (a person still needs them), and a
///   record closed later is dropped by a later call. A store keeps the records that hold values
///   apart (an index), so a call reads what it changes, not the whole audit.
///   `erase_conflict_values(integration, subject)` drops the values of every record of
///   `integration`, open or closed, about `subject` ([`ConflictRecord::is_about`]). Both keep
///   everything else of a record as it was and are idempotent.
#[async_trait]
pub trait SyncStore: Send + Sync {
    async fn watermark(&self, integration: &str, side: Side) -> StoreResult<Option<Watermark>>;

    async fn advance_watermark(
        &self,
        integration: &str,
        side: Side,
        watermark: &Watermark,
    ) -> StoreResult<bool>;

    async fn pair(&self, pair_id: &str) -> StoreResult<Option<Pair>>;

    /// The pairs that exist among `pair_ids` (batch read).
    async fn pairs(&self, pair_ids: &[String]) -> StoreResult<Vec<Pair>>;

    /// Pairs whose status is [`PairStatus::Pending`] (to retry), at most `limit`, in pair id
    /// order.
    async fn pending_pairs(&self, limit: usize) -> StoreResult<Vec<Pair>>;

    /// Pair ids linked to the given record ids of one side (batch read); unlinked ids are absent.
    async fn links(
        &self,
        side: Side,
        record_ids: &[String],
    ) -> StoreResult<HashMap<String, String>>;

    /// Inserts a new pair (its `version` must be 1) with links for its ids.
    async fn create_pair(&self, pair: &Pair) -> StoreResult<SaveOutcome>;

    /// Compare-and-set update, adding links for ids the stored pair did not have yet.
    async fn save_pair(&self, pair: &Pair, expected_version: u64) -> StoreResult<SaveOutcome>;

    /// Takes the lease when it is free at `now` (see the contract).
    async fn acquire_lease(
        &self,
        key: &str,
        owner: &str,
        now: DateTime<Utc>,
        ttl: chrono::Duration,
    ) -> StoreResult<bool> {
        self.acquire_lease_free_since(key, owner, now, now, ttl)
            .await
    }

    /// Takes the lease when nobody else has held it since `free_since` (see the contract): a
    /// caller that read something at `free_since` learns that no other lease holder can have
    /// written after its read.
    async fn acquire_lease_free_since(
        &self,
        key: &str,
        owner: &str,
        free_since: DateTime<Utc>,
        now: DateTime<Utc>,
        ttl: chrono::Duration,
    ) -> StoreResult<bool>;

    /// Ends `owner`'s lease at `now` (nobody else's).
    async fn release_lease(&self, key: &str, owner: &str, now: DateTime<Utc>) -> StoreResult<()>;

    /// [`SyncStore::acquire_lease_free_since`] for each key (see the batch rule above): one
    /// answer per key, in order.
    async fn acquire_leases_free_since(
        &self,
        keys: &[String],
        owner: &str,
        free_since: DateTime<Utc>,
        now: DateTime<Utc>,
        ttl: chrono::Duration,
    ) -> StoreResult<Vec<bool>> {
        let mut taken = Vec::with_capacity(keys.len());
        for key in keys {
            taken.push(
                self.acquire_lease_free_since(key, owner, free_since, now, ttl)
                    .await?,
            );
        }
        Ok(taken)
    }

    /// [`SyncStore::release_lease`] for each key.
    async fn release_leases(
        &self,
        keys: &[String],
        owner: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        for key in keys {
            self.release_lease(key, owner, now).await?;
        }
        Ok(())
    }

    /// [`SyncStore::create_pair`] for each pair (see the batch rule above).
    async fn create_pairs(&self, pairs: &[Pair]) -> StoreResult<Vec<SaveOutcome>> {
        let mut outcomes = Vec::with_capacity(pairs.len());
        for pair in pairs {
            outcomes.push(self.create_pair(pair).await?);
        }
        Ok(outcomes)
    }

    /// [`SyncStore::save_pair`] for each `(pair, expected_version)` (see the batch rule above).
    async fn save_pairs(&self, saves: &[(Pair, u64)]) -> StoreResult<Vec<SaveOutcome>> {
        let mut outcomes = Vec::with_capacity(saves.len());
        for (pair, expected) in saves {
            outcomes.push(self.save_pair(pair, *expected).await?);
        }
        Ok(outcomes)
    }

    /// [`SyncStore::record_conflict`] for each record.
    async fn record_conflicts(&self, conflicts: &[ConflictRecord]) -> StoreResult<()> {
        for conflict in conflicts {
            self.record_conflict(conflict).await?;
        }
        Ok(())
    }

    async fn record_conflict(&self, conflict: &ConflictRecord) -> StoreResult<()>;

    /// Conflicts of an integration, newest first; only open ones when `open_only`.
    async fn conflicts(
        &self,
        integration: &str,
        open_only: bool,
    ) -> StoreResult<Vec<ConflictRecord>>;

    /// One conflict record by id.
    async fn conflict(&self, id: &str) -> StoreResult<Option<ConflictRecord>>;

    /// Marks an open conflict closed (decided by a person, or no longer relevant). Returns false
    /// when the conflict is unknown or already closed.
    async fn close_conflict(&self, id: &str) -> StoreResult<bool>;

    async fn record_run(&self, run: &RunRecord) -> StoreResult<()>;

    /// Runs of an integration, newest first, at most `limit`.
    async fn runs(&self, integration: &str, limit: usize) -> StoreResult<Vec<RunRecord>>;

    /// The integration's poll checkpoint, if one is stored.
    async fn load_poll_checkpoint(&self, integration: &str) -> StoreResult<Option<PollCheckpoint>>;

    /// Compare-and-set save of a poll checkpoint (see the contract above).
    async fn save_poll_checkpoint(
        &self,
        checkpoint: &PollCheckpoint,
        expected_version: Option<u64>,
    ) -> StoreResult<CheckpointWrite>;

    /// Removes the checkpoint when it is `poll_id`'s at `version`; true when it did.
    async fn clear_poll_checkpoint(
        &self,
        integration: &str,
        poll_id: &str,
        version: u64,
    ) -> StoreResult<bool>;

    /// The most records per bulk write request that `side`'s system was learned to accept
    /// (a larger request was refused as a whole), if any run learned one.
    async fn bulk_limit(&self, integration: &str, side: Side) -> StoreResult<Option<u64>>;

    /// Stores `limit` when it is lower than the stored limit (or none is stored); true when
    /// it wrote. A limit is never raised.
    async fn lower_bulk_limit(
        &self,
        integration: &str,
        side: Side,
        limit: u64,
    ) -> StoreResult<bool>;

    /// Drops the values of closed conflict records of `integration` recorded before `before`,
    /// oldest first, at most `limit`; the number changed (see the contract).
    async fn drop_audit_values(
        &self,
        integration: &str,
        before: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<usize>;

    /// Drops the values of every conflict record of `integration` about `subject`, open or
    /// closed (see the contract).
    async fn erase_conflict_values(
        &self,
        integration: &str,
        subject: &ErasureSubject,
    ) -> StoreResult<ErasedConflicts>;
}
