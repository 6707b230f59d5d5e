//! The two systems as the CLI runs them: the connectors' clients, kept by the CLI for their
//! request counters, behind a wrapper that counts the records the poll reads (for the progress
//! display) and, in a dry run, refuses every write before it reaches a system.

use async_trait::async_trait;
use contact_sync_connectors::{GenesysSystem, SalesforceSystem};
use contact_sync_engine::Side;
use contact_sync_pipeline::system::{
    ChangePage, ContactReader, ContactSystem, ContactWriter, CreateRequest, DeletionRead,
    RawRecord, SystemError, SystemFacts, SystemResult, UpdateRequest, Watermark, WriteOutcome,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The link source id a dry run plans with when the Genesys org has no link source yet: no
/// contact can carry it, exactly as no contact can carry a source that does not exist.
pub const NOT_CREATED_YET: &str = "(link source not created yet)";

/// Records read by the poll so far, per side.
#[derive(Debug, Clone, Default)]
pub struct ReadCounts {
    pub salesforce: Arc<AtomicU64>,
    pub genesys: Arc<AtomicU64>,
}

impl ReadCounts {
    pub fn get(&self) -> (u64, u64) {
        (
            self.salesforce.load(Ordering::Relaxed),
            self.genesys.load(Ordering::Relaxed),
        )
    }
}

/// Both clients of a run (clones share their HTTP clients, sessions and counters).
#[derive(Clone)]
pub struct Systems {
    pub salesforce: SalesforceSystem,
    pub genesys: GenesysSystem,
    pub read: ReadCounts,
}

/// HTTP requests sent per side.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Requests {
    pub salesforce: u64,
    pub genesys: u64,
}

impl Systems {
    pub fn new(salesforce: SalesforceSystem, genesys: GenesysSystem) -> Systems {
        Systems {
            salesforce,
            genesys,
            read: ReadCounts::default(),
        }
    }

    /// Requests both clients have sent so far (token requests and retries included).
    pub fn requests(&self) -> Requests {
        Requests {
            salesforce: self.salesforce.requests_sent(),
            genesys: self.genesys.requests_sent(),
        }
    }

    /// Salesforce and Genesys as the pipeline's ports; `dry` makes both read-only.
    pub fn ports(&self, dry: bool) -> (Arc<dyn ContactSystem>, Arc<dyn ContactSystem>) {
        let salesforce = Watched {
            side: Side::Salesforce,
            inner: Arc::new(self.salesforce.clone()),
            read: self.read.salesforce.clone(),
            dry: dry.then_some(DryPrepare::AsIs),
        };
        let genesys = Watched {
            side: Side::Genesys,
            inner: Arc::new(self.genesys.clone()),
            read: self.read.genesys.clone(),
            dry: dry.then(|| DryPrepare::LookUpLinkSource(self.genesys.clone())),
        };
        (Arc::new(salesforce), Arc::new(genesys))
    }
}

/// How a read-only system prepares a run.
enum DryPrepare {
    /// Its `prepare` writes nothing (Salesforce: authentication only).
    AsIs,
    /// Genesys' `prepare` creates the link source when it is missing; look it up instead.
    LookUpLinkSource(GenesysSystem),
}

struct Watched {
    side: Side,
    inner: Arc<dyn ContactSystem>,
    read: Arc<AtomicU64>,
    /// `Some` in a dry run.
    dry: Option<DryPrepare>,
}

impl Watched {
    fn refuse(&self) -> SystemError {
        SystemError::Config {
            side: self.side,
            message: "dry run: nothing is written".into(),
        }
    }
}

#[async_trait]
impl ContactReader for Watched {
    fn side(&self) -> Side {
        self.side
    }

    async fn prepare(&self) -> SystemResult<SystemFacts> {
        match &self.dry {
            Some(DryPrepare::LookUpLinkSource(genesys)) => {
                let id = genesys.find_link_source().await?;
                Ok(SystemFacts {
                    instance_url: None,
                    link_source_id: Some(id.unwrap_or_else(|| NOT_CREATED_YET.to_string())),
                })
            }
            _ => self.inner.prepare().await,
        }
    }

    async fn read_changes(
        &self,
        since: Option<&Watermark>,
        cursor: Option<String>,
    ) -> SystemResult<ChangePage> {
        let page = self.inner.read_changes(since, cursor).await?;
        self.read
            .fetch_add(page.records.len() as u64, Ordering::Relaxed);
        Ok(page)
    }

    async fn read_deletions(&self, since: Option<&Watermark>) -> SystemResult<DeletionRead> {
        self.inner.read_deletions(since).await
    }

    async fn fetch(&self, ids: &[String]) -> SystemResult<Vec<RawRecord>> {
        self.inner.fetch(ids).await
    }

    async fn find_by_emails(&self, emails: &[String]) -> SystemResult<Vec<RawRecord>> {
        self.inner.find_by_emails(emails).await
    }

    async fn find_by_links(&self, linked_ids: &[String]) -> SystemResult<Vec<RawRecord>> {
        self.inner.find_by_links(linked_ids).await
    }

    async fn find_deleted_by_emails(&self, emails: &[String]) -> SystemResult<Vec<RawRecord>> {
        self.inner.find_deleted_by_emails(emails).await
    }

    async fn find_created_since(
        &self,
        since: chrono::DateTime<chrono::Utc>,
    ) -> SystemResult<Vec<RawRecord>> {
        self.inner.find_created_since(since).await
    }
}

#[async_trait]
impl ContactWriter for Watched {
    async fn create(&self, records: Vec<CreateRequest>) -> SystemResult<Vec<WriteOutcome>> {
        if self.dry.is_some() {
            return Err(self.refuse());
        }
        self.inner.create(records).await
    }

    async fn update(&self, records: Vec<UpdateRequest>) -> SystemResult<Vec<WriteOutcome>> {
        if self.dry.is_some() {
            return Err(self.refuse());
        }
        self.inner.update(records).await
    }

    async fn delete(&self, ids: Vec<String>) -> SystemResult<Vec<WriteOutcome>> {
        if self.dry.is_some() {
            return Err(self.refuse());
        }
        self.inner.delete(ids).await
    }
}
