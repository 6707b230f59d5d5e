//! One integration (a Salesforce org and a Genesys org kept in sync) with everything its use
//! cases need: the mapping, both systems, the store, the queue and the clock.

use crate::queue::QueueError;
use crate::queue::WorkQueue;
use crate::store::{StoreError, SyncStore};
use crate::system::{ContactReader, ContactSystem, ContactWriter, SystemError, SystemFacts};
use chrono::{DateTime, Duration, Utc};
use contact_sync_engine::mapping::Mapping;
use std::sync::Arc;

/// The `Clock` port: the engine has none, the use cases ask this one.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The machine's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Tunables of a run.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Pairs per reconcile batch. 200 matches the sObject Collections limit, so one batch
    /// costs at most one Salesforce write call per kind (create / update).
    pub batch_size: usize,
    /// How long a pair or run lease lives; longer than any reconcile of one batch.
    pub lease_ttl: Duration,
    /// Re-read window behind the watermark (late commits with an older stamp still arrive).
    pub overlap: Duration,
    /// Pending pairs (failed earlier) re-queued per run, at most.
    pub pending_retry_limit: usize,
    /// A poll never moves a watermark past the start of its read minus this: an edit that
    /// lands while a long read runs, with an older stamp than a record already read, is read
    /// again by the next poll. Zero (the default) caps at the read's start exactly, which is
    /// enough when the systems' clocks agree with ours; more also covers clocks behind ours and
    /// late commits, at the price of reading the last `watermark_skew` of changes again every
    /// poll (a pair parked after a refused write is retried once more when its record is read
    /// again). The poller Lambda, whose reads span invocations, uses 5 minutes.
    pub watermark_skew: Duration,
    /// Unlinked changed records per side that one *resumable* poll carries to its final
    /// matching step (their ids are in its checkpoint); more are left to the next poll, whose
    /// watermark stops before them. Bounds the checkpoint (ids only: about 80 bytes a record).
    pub poll_unlinked_limit: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            batch_size: 200,
            lease_ttl: Duration::minutes(15),
            overlap: Duration::zero(),
            pending_retry_limit: 10_000,
            watermark_skew: Duration::zero(),
            poll_unlinked_limit: 10_000,
        }
    }
}

/// The ports of one integration.
///
/// Built only by [`Integration::new`]: in one-way mode (`mode: one_way`) it keeps Salesforce
/// as a reader and holds no Salesforce writer at all, so no code path can write Salesforce.
#[derive(Clone)]
pub struct Integration {
    pub name: String,
    pub mapping: Arc<Mapping>,
    pub salesforce: Arc<dyn ContactReader>,
    salesforce_writer: Option<Arc<dyn ContactWriter>>,
    pub genesys: Arc<dyn ContactSystem>,
    pub store: Arc<dyn SyncStore>,
    pub queue: Arc<dyn WorkQueue>,
    pub clock: Arc<dyn Clock>,
    pub settings: Settings,
    /// The bulk limits known to be stored (see [`crate::bulk_limits`]); shared by clones.
    remembered_limits: Arc<crate::bulk_limits::Remembered>,
}

/// What both systems told us before a run (see `ContactSystem::prepare`).
#[derive(Debug, Clone)]
pub struct RunFacts {
    pub instance_url: Option<String>,
    pub link_source_id: String,
}

impl Integration {
    /// Assembles an integration named after its mapping. In one-way mode the Salesforce
    /// system is kept only as a [`ContactReader`].
    pub fn new(
        mapping: Mapping,
        salesforce: Arc<dyn ContactSystem>,
        genesys: Arc<dyn ContactSystem>,
        store: Arc<dyn SyncStore>,
        queue: Arc<dyn WorkQueue>,
        clock: Arc<dyn Clock>,
        settings: Settings,
    ) -> Integration {
        let salesforce_writer: Option<Arc<dyn ContactWriter>> = if mapping.is_one_way() {
            None
        } else {
            Some(salesforce.clone())
        };
        Integration {
            name: mapping.integration.clone(),
            mapping: Arc::new(mapping),
            salesforce,
            salesforce_writer,
            genesys,
            store,
            queue,
            clock,
            settings,
            remembered_limits: Arc::default(),
        }
    }

    pub(crate) fn remembered_limits(&self) -> &crate::bulk_limits::Remembered {
        &self.remembered_limits
    }

    /// The writer of a side; `None` for Salesforce in one-way mode.
    pub fn writer(&self, side: contact_sync_engine::Side) -> Option<&dyn ContactWriter> {
        match side {
            contact_sync_engine::Side::Salesforce => self.salesforce_writer.as_deref(),
            contact_sync_engine::Side::Genesys => Some(&*self.genesys),
        }
    }

    /// Authenticates with both systems and gathers the link facts.
    pub async fn prepare(&self) -> Result<RunFacts, PipelineError> {
        let (sf, gz): (SystemFacts, SystemFacts) =
            tokio::try_join!(self.salesforce.prepare(), self.genesys.prepare())?;
        let link_source_id = gz.link_source_id.ok_or_else(|| {
            PipelineError::Invariant("the Genesys system did not report its link source id".into())
        })?;
        Ok(RunFacts {
            instance_url: sf.instance_url,
            link_source_id,
        })
    }
}

/// A use-case failure, classified for the caller: retry later, or stop and tell a person.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    System(#[from] SystemError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// Another run holds the run lease: not an error for a scheduler, just nothing to do.
    #[error("another run of integration `{0}` is in progress")]
    RunInProgress(String),
    /// A message that cannot be processed (wrong version, malformed).
    #[error("malformed message: {0}")]
    Message(String),
    #[error("internal invariant broken: {0}")]
    Invariant(String),
}

impl PipelineError {
    pub fn is_retryable(&self) -> bool {
        match self {
            PipelineError::System(e) => e.is_retryable(),
            PipelineError::Store(e) => e.is_retryable(),
            PipelineError::Queue(e) => e.is_retryable(),
            PipelineError::RunInProgress(_) => true,
            PipelineError::Message(_) | PipelineError::Invariant(_) => false,
        }
    }
}
