//! The `ContactSystem` port: one implementation per CRM (Salesforce REST, Genesys Cloud), in a
//! read half ([`ContactReader`]) and a write half ([`ContactWriter`]).
//!
//! Bodies travel in each system's own JSON shape; the engine's mapping turns them into
//! canonical contacts and builds write bodies, so adapters stay thin and never interpret fields.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use contact_sync_engine::Side;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A record as one system holds it.
#[derive(Clone)]
pub struct RawRecord {
    /// Salesforce 18-character Id or Genesys contact UUID.
    pub id: String,
    /// `SystemModstamp` (Salesforce) or `modifyDate` (Genesys).
    pub modified_at: DateTime<Utc>,
    /// The body exactly as the API returned it (Salesforce: the flat record including
    /// `attributes`; Genesys: the `ExternalContact`).
    pub body: serde_json::Value,
}

impl fmt::Debug for RawRecord {
    // The body holds personal data: never print it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawRecord")
            .field("id", &self.id)
            .field("modified_at", &self.modified_at)
            .finish_non_exhaustive()
    }
}

/// How far a side has been read: the last change seen, ordered by `(stamp, id)`, and the ids
/// of every change read at that stamp.
///
/// Stamps are shared: Salesforce may stamp at whole seconds, and unrelated writes share one
/// (`docs/assumptions.md`). A record written in the watermark's own stamp *after* the read that
/// set it must still be read, whatever its id; so a watermark that names the ids it read at its
/// stamp (`at_stamp`) is read again from `>= stamp`, less those ids. A watermark without them
/// (stored before they existed, or a limit) keeps the plain `(stamp, id)` order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Watermark {
    pub stamp: DateTime<Utc>,
    pub last_id: String,
    /// The ids read at `stamp`, sorted, each once; at most [`Watermark::MAX_AT_STAMP`] (the rest
    /// are read again: harmless, the merge makes it a no-op).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub at_stamp: Vec<String>,
}

impl Watermark {
    /// Most ids a watermark keeps for its stamp (a DynamoDB item holds them with room to spare).
    pub const MAX_AT_STAMP: usize = 2_000;

    /// The watermark of one record read: its stamp, and its id as the one read there.
    pub fn of_record(stamp: DateTime<Utc>, id: &str) -> Watermark {
        Watermark {
            stamp,
            last_id: id.to_string(),
            at_stamp: vec![id.to_string()],
        }
    }

    /// A position without ids: everything strictly after `(stamp, last_id)`.
    pub fn position(stamp: DateTime<Utc>, last_id: impl Into<String>) -> Watermark {
        Watermark {
            stamp,
            last_id: last_id.into(),
            at_stamp: Vec::new(),
        }
    }

    /// True when `(modified_at, id)` was not read by the reads this watermark stands for: after
    /// its stamp, or at its stamp and not one of the ids read there (without ids: after
    /// `(stamp, last_id)`).
    pub fn is_before(&self, modified_at: DateTime<Utc>, id: &str) -> bool {
        if self.at_stamp.is_empty() {
            return (modified_at, id) > (self.stamp, self.last_id.as_str());
        }
        modified_at > self.stamp
            || (modified_at == self.stamp
                && self
                    .at_stamp
                    .binary_search_by(|x| x.as_str().cmp(id))
                    .is_err())
    }

    /// True when the next read must start at the stamp itself (`>=`), not after it.
    pub fn reads_its_stamp(&self) -> bool {
        !self.at_stamp.is_empty()
    }

    /// Takes in one more change: a later stamp starts a new set, the same stamp adds its id.
    /// Earlier changes leave the watermark as it is.
    pub fn absorb(&mut self, stamp: DateTime<Utc>, id: &str) {
        if stamp > self.stamp {
            *self = Watermark::of_record(stamp, id);
            return;
        }
        if stamp < self.stamp {
            return;
        }
        if id > self.last_id.as_str() {
            self.last_id = id.to_string();
        }
        self.add_at_stamp(id);
    }

    /// Adds the ids `other` read at the same stamp (a later read of the same stamp does not
    /// see again what the earlier one had already read, so it must keep those ids).
    pub fn keep_ids_of(&mut self, other: &Watermark) {
        if other.stamp != self.stamp {
            return;
        }
        if other.last_id > self.last_id {
            self.last_id = other.last_id.clone();
        }
        for id in &other.at_stamp {
            self.add_at_stamp(id);
        }
    }

    fn add_at_stamp(&mut self, id: &str) {
        if let Err(at) = self.at_stamp.binary_search_by(|x| x.as_str().cmp(id))
            && self.at_stamp.len() < Self::MAX_AT_STAMP
        {
            self.at_stamp.insert(at, id.to_string());
        }
    }
}

/// One page of a change read.
#[derive(Debug, Default)]
pub struct ChangePage {
    pub records: Vec<RawRecord>,
    /// Opaque cursor for the next page; `None` on the last page.
    pub next: Option<String>,
}

/// Facts a system tells the engine before a run (see [`ContactSystem::prepare`]).
#[derive(Debug, Clone, Default)]
pub struct SystemFacts {
    /// Salesforce: the org's `instance_url`, used to build `externalSystemUrl` links.
    pub instance_url: Option<String>,
    /// Genesys: the id of the external source named "Salesforce" (created if missing).
    pub link_source_id: Option<String>,
}

/// A record to create. `key` identifies it in the results: for Salesforce the caller's own key
/// (results come back in request order); for Genesys the Salesforce Id carried in
/// `externalIds` (bulk results are unordered and carry only the new id and entity).
#[derive(Clone)]
pub struct CreateRequest {
    pub key: String,
    pub body: serde_json::Value,
}

/// A record to update, with the body to send (Salesforce: the changed fields only;
/// Genesys: the whole contact, since `PUT`/bulk update replace it).
#[derive(Clone)]
pub struct UpdateRequest {
    pub id: String,
    pub body: serde_json::Value,
}

/// Why one record of a batch was refused. `message` may quote a value: store it, never log it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordError {
    pub code: String,
    pub message: String,
    pub retryable: bool,
}

/// The result for one record of a bulk write.
#[derive(Debug, Clone)]
pub struct WriteOutcome {
    /// The create key or the updated record's id.
    pub key: String,
    /// The record id on success.
    pub result: Result<String, RecordError>,
}

/// A failure of a whole call (not of one record inside a successful batch).
#[derive(Debug, thiserror::Error)]
pub enum SystemError {
    /// Credentials refused or missing permission: permanent, fail fast.
    #[error("{side}: authentication failed: {message}")]
    Auth { side: Side, message: String },
    /// 429, 5xx, timeouts, connection errors: retry later.
    #[error("{side}: temporarily unavailable: {message}")]
    Transient { side: Side, message: String },
    /// The system refused the request as malformed or not allowed: permanent.
    #[error("{side}: request refused (HTTP {status}): {message}")]
    Rejected {
        side: Side,
        status: u16,
        message: String,
    },
    /// The system answered with something we cannot read: permanent.
    #[error("{side}: unexpected response: {message}")]
    Protocol { side: Side, message: String },
    /// Bad configuration (URL, missing setting): permanent.
    #[error("{side}: configuration: {message}")]
    Config { side: Side, message: String },
    /// The share of the daily API allocation this sync may use is spent (Salesforce
    /// `Sforce-Limit-Info`). Not retryable within a run: the run stops cleanly and the next
    /// run resumes once the rolling 24-hour usage has dropped.
    #[error(
        "{side}: API budget reached: {used} of {max} daily requests used; stopping until the next run"
    )]
    Budget { side: Side, used: u64, max: u64 },
}

impl SystemError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, SystemError::Transient { .. })
    }

    /// The side that failed.
    pub fn side(&self) -> Side {
        match self {
            SystemError::Auth { side, .. }
            | SystemError::Transient { side, .. }
            | SystemError::Rejected { side, .. }
            | SystemError::Protocol { side, .. }
            | SystemError::Config { side, .. }
            | SystemError::Budget { side, .. } => *side,
        }
    }
}

pub type SystemResult<T> = Result<T, SystemError>;

/// What a system client has spent since it was built: the HTTP requests it sent (retries and
/// token requests included), and the org's rolling daily API allocation as the system last
/// reported it (Salesforce `Sforce-Limit-Info: api-usage=N/M`; Genesys reports none). Counts
/// only: for metrics and the operator's statistics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiUsage {
    pub requests: u64,
    pub daily: Option<DailyAllocation>,
}

/// `used` of `max` requests in the rolling 24 hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DailyAllocation {
    pub used: u64,
    pub max: u64,
}

impl DailyAllocation {
    /// Share of the allocation used, in percent (0 when the maximum is unknown).
    pub fn percent_used(&self) -> f64 {
        if self.max == 0 {
            0.0
        } else {
            self.used as f64 * 100.0 / self.max as f64
        }
    }
}

/// A record that no longer exists on its side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deletion {
    pub id: String,
    /// When it was deleted (Salesforce: the deleted row's `SystemModstamp`).
    pub deleted_at: DateTime<Utc>,
    /// The surviving record when it was merged away (Salesforce `MasterRecordId`).
    pub merged_into: Option<String>,
}

/// The result of [`ContactReader::read_deletions`].
#[derive(Debug, Clone, Default)]
pub struct DeletionRead {
    /// Ordered by `(deleted_at, id)`.
    pub deletions: Vec<Deletion>,
    /// The newest deletion seen; pass it back as `since` next time. `None` when nothing was
    /// deleted after `since` (keep the old watermark).
    pub newest: Option<Watermark>,
    /// False when the system's delete log no longer reaches back to `since` (Recycle Bin
    /// emptied / `getDeleted` `earliestDateAvailable` later than `since`): deletes may have been
    /// missed and the caller must check its linked records by fetching them.
    pub complete: bool,
}

/// Reading one CRM.
///
/// Contract:
/// - Reads are safe to repeat. `read_changes` returns *at least* every record whose
///   `(modified_at, id)` is after `since` (all records when `since` is `None`); it may return
///   more (Genesys has no modified-since filter: it returns every record and the caller filters).
///   Records are never silently dropped: a page that cannot be read is an error.
/// - `fetch` returns the records that exist among `ids`; ids that do not exist (deleted) are
///   simply absent from the result. A record merged into another (Genesys `mergedTo`) is
///   returned under the requested id with its body as the system gives it (carrying
///   `mergedTo`). Any number of ids: the adapter batches.
/// - `read_deletions` returns every record deleted (or merged away) after `since` that the
///   system still knows of, in `(deleted_at, id)` order, and says whether its log reaches back
///   to `since`.
/// - Neither reads nor writes log field values.
#[async_trait]
pub trait ContactReader: Send + Sync {
    fn side(&self) -> Side;

    /// Authenticates and gathers the facts the engine needs (see [`SystemFacts`]). Idempotent.
    async fn prepare(&self) -> SystemResult<SystemFacts>;

    /// One page of records changed after `since`; pass the returned `next` back as `cursor`.
    async fn read_changes(
        &self,
        since: Option<&Watermark>,
        cursor: Option<String>,
    ) -> SystemResult<ChangePage>;

    /// Records deleted (or merged away) after `since`. Salesforce: `queryAll` on
    /// `IsDeleted = TRUE` ordered by `(SystemModstamp, Id)` selecting `MasterRecordId`.
    /// Genesys has no delete log: an empty, complete read (its deletes show up when `fetch`
    /// no longer returns a linked id; its merges when `fetch` returns the id with `mergedTo`).
    async fn read_deletions(&self, since: Option<&Watermark>) -> SystemResult<DeletionRead>;

    /// Records with these ids that still exist.
    async fn fetch(&self, ids: &[String]) -> SystemResult<Vec<RawRecord>>;

    /// Records whose email field equals one of `emails` (already normalised), for matching
    /// records of the other side. Systems whose change read already returns everything
    /// (Genesys) may return an empty list.
    async fn find_by_emails(&self, emails: &[String]) -> SystemResult<Vec<RawRecord>>;

    /// Records that carry a link to one of `linked_ids` (ids of the other side), for adopting
    /// a record an earlier create made when its answer never came. Genesys: one identifier
    /// lookup per id (`ExternalId` under the link source). Systems whose records carry no link
    /// (Salesforce) find none. An id nothing links to is simply absent; a broken answer is an
    /// error, never an absence.
    async fn find_by_links(&self, _linked_ids: &[String]) -> SystemResult<Vec<RawRecord>> {
        Ok(Vec::new())
    }

    /// Records deleted but still restorable whose email field equals one of `emails`
    /// (normalised), for telling a person deleted before the sync paired them from one who
    /// never existed. Salesforce: `queryAll` on `IsDeleted = TRUE` (the Recycle Bin's reach),
    /// bodies with `MasterRecordId` (set when merged away). Systems that keep nothing deleted
    /// (Genesys) find none. A broken answer is an error, never an absence.
    async fn find_deleted_by_emails(&self, _emails: &[String]) -> SystemResult<Vec<RawRecord>> {
        Ok(Vec::new())
    }

    /// Records created at or after `since`, for finding the record an earlier create made
    /// when its answer never came and a person has since changed the key it was created with
    /// (the caller matches them on its own). Salesforce: `CreatedDate >= since`. Systems with
    /// another way to find their own creates (Genesys: the link) find none.
    async fn find_created_since(
        &self,
        _since: chrono::DateTime<chrono::Utc>,
    ) -> SystemResult<Vec<RawRecord>> {
        Ok(Vec::new())
    }

    /// Requests sent so far and the allocation last reported (see [`ApiUsage`]); adapters
    /// that count nothing keep the default.
    fn api_usage(&self) -> ApiUsage {
        ApiUsage::default()
    }
}

/// Writing one CRM.
///
/// Contract:
/// - Every method sends as few calls as the API allows (Salesforce sObject Collections ≤200,
///   Genesys bulk endpoints under the byte limit) and returns one outcome per request; a record
///   refused by the system is an `Err` outcome, not a call failure, and never fails its
///   neighbours. A call failure (`SystemError`) means the outcome of that call is unknown.
/// - A record is refused only when the system refuses *that record* (a per-record error, or
///   the refusal of a one-record request): a multi-record request refused as a whole is split
///   and sent again (see [`ContactWriter::bulk_limit`]), never reported as its records'
///   refusal.
#[async_trait]
pub trait ContactWriter: Send + Sync {
    async fn create(&self, records: Vec<CreateRequest>) -> SystemResult<Vec<WriteOutcome>>;

    async fn update(&self, records: Vec<UpdateRequest>) -> SystemResult<Vec<WriteOutcome>>;

    /// Deletes records by id, batched (Salesforce collections DELETE ≤200 with
    /// `allOrNone=false`, Genesys bulk remove); one outcome per id, keyed by id. Deleting a
    /// record that is already gone is a success (idempotent under redelivery).
    async fn delete(&self, ids: Vec<String>) -> SystemResult<Vec<WriteOutcome>>;

    /// The most records one bulk write request carries, when the writer has learned a limit
    /// lower than it started with (a multi-record request refused as a whole, then both its
    /// halves accepted); `None` while it sends at its configured size. Writers without such
    /// a limit keep the default.
    fn bulk_limit(&self) -> Option<usize> {
        None
    }

    /// Starts from `limit` records per bulk request (learned by an earlier run) when it is
    /// lower than the writer's current limit; never raises it.
    fn adopt_bulk_limit(&self, _limit: usize) {}
}

/// A CRM the sync may read and write. `Arc<dyn ContactSystem>` upcasts to
/// `Arc<dyn ContactReader>` / `Arc<dyn ContactWriter>`.
pub trait ContactSystem: ContactReader + ContactWriter {}

impl<T: ContactReader + ContactWriter + ?Sized> ContactSystem for T {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    struct Nothing;

    #[async_trait]
    impl ContactReader for Nothing {
        fn side(&self) -> Side {
            Side::Genesys
        }
        async fn prepare(&self) -> SystemResult<SystemFacts> {
            Ok(SystemFacts::default())
        }
        async fn read_changes(
            &self,
            _since: Option<&Watermark>,
            _cursor: Option<String>,
        ) -> SystemResult<ChangePage> {
            Ok(ChangePage::default())
        }
        async fn read_deletions(&self, _since: Option<&Watermark>) -> SystemResult<DeletionRead> {
            Ok(DeletionRead {
                complete: true,
                ..DeletionRead::default()
            })
        }
        async fn fetch(&self, _ids: &[String]) -> SystemResult<Vec<RawRecord>> {
            Ok(Vec::new())
        }
        async fn find_by_emails(&self, _emails: &[String]) -> SystemResult<Vec<RawRecord>> {
            Ok(Vec::new())
        }
    }

    #[async_trait]
    impl ContactWriter for Nothing {
        async fn create(&self, _records: Vec<CreateRequest>) -> SystemResult<Vec<WriteOutcome>> {
            Ok(Vec::new())
        }
        async fn update(&self, _records: Vec<UpdateRequest>) -> SystemResult<Vec<WriteOutcome>> {
            Ok(Vec::new())
        }
        async fn delete(&self, ids: Vec<String>) -> SystemResult<Vec<WriteOutcome>> {
            Ok(ids
                .into_iter()
                .map(|id| WriteOutcome {
                    result: Ok(id.clone()),
                    key: id,
                })
                .collect())
        }
    }

    #[tokio::test]
    async fn a_system_upcasts_to_its_reader_and_writer_halves() {
        // GIVEN a system behind the full port
        let system: Arc<dyn ContactSystem> = Arc::new(Nothing);
        // WHEN it is upcast to each half
        let reader: Arc<dyn ContactReader> = system.clone();
        let writer: Arc<dyn ContactWriter> = system;
        // THEN both halves answer through the same object
        assert_eq!(reader.side(), Side::Genesys);
        let read = reader.read_deletions(None).await.expect("read");
        assert!(read.complete && read.deletions.is_empty());
        let out = writer.delete(vec!["a".into()]).await.expect("delete");
        assert_eq!(out[0].result, Ok("a".to_owned()));
    }

    #[test]
    fn budget_errors_stop_the_run_and_show_only_counts() {
        // GIVEN a budget error
        let e = SystemError::Budget {
            side: Side::Salesforce,
            used: 80_001,
            max: 100_000,
        };
        // WHEN classified and shown
        // THEN it is not retryable in this run, and its text carries only the counts
        assert!(!e.is_retryable());
        assert_eq!(e.side(), Side::Salesforce);
        let text = e.to_string();
        assert!(text.contains("80001 of 100000"), "{text}");
    }
}
