//! The `ContactSystem` port: one implementation per CRM (Salesforce REST, Genesys Cloud).
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

/// How far a side has been read: the last change seen, ordered by `(stamp, id)`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Watermark {
    pub stamp: DateTime<Utc>,
    pub last_id: String,
}

impl Watermark {
    /// True when `(modified_at, id)` is strictly after this watermark.
    pub fn is_before(&self, modified_at: DateTime<Utc>, id: &str) -> bool {
        (modified_at, id) > (self.stamp, self.last_id.as_str())
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
}

impl SystemError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, SystemError::Transient { .. })
    }
}

pub type SystemResult<T> = Result<T, SystemError>;

/// One CRM, as the pipeline sees it.
///
/// Contract:
/// - Reads are safe to repeat. `read_changes` returns *at least* every record whose
///   `(modified_at, id)` is after `since` (all records when `since` is `None`); it may return
///   more (Genesys has no modified-since filter: it returns every record and the caller filters).
///   Records are never silently dropped: a page that cannot be read is an error.
/// - `fetch` returns the records that exist among `ids`; ids that do not exist (deleted, merged
///   away) are simply absent from the result. Any number of ids: the adapter batches.
/// - `create` / `update` send as few calls as the API allows (Salesforce sObject Collections
///   ≤200, Genesys bulk endpoints under the byte limit) and return one outcome per request;
///   a record refused by the system is an `Err` outcome, not a call failure, and never fails its
///   neighbours. A call failure (`SystemError`) means the outcome of that call is unknown.
/// - Neither reads nor writes log field values.
#[async_trait]
pub trait ContactSystem: Send + Sync {
    fn side(&self) -> Side;

    /// Authenticates and gathers the facts the engine needs (see [`SystemFacts`]). Idempotent.
    async fn prepare(&self) -> SystemResult<SystemFacts>;

    /// One page of records changed after `since`; pass the returned `next` back as `cursor`.
    async fn read_changes(
        &self,
        since: Option<&Watermark>,
        cursor: Option<String>,
    ) -> SystemResult<ChangePage>;

    /// Records with these ids that still exist.
    async fn fetch(&self, ids: &[String]) -> SystemResult<Vec<RawRecord>>;

    /// Records whose email field equals one of `emails` (already normalised), for matching
    /// records of the other side. Systems whose change read already returns everything
    /// (Genesys) may return an empty list.
    async fn find_by_emails(&self, emails: &[String]) -> SystemResult<Vec<RawRecord>>;

    async fn create(&self, records: Vec<CreateRequest>) -> SystemResult<Vec<WriteOutcome>>;

    async fn update(&self, records: Vec<UpdateRequest>) -> SystemResult<Vec<WriteOutcome>>;
}
