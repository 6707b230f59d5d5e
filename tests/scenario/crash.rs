//! A crash switch between the pipeline and its ports: wrappers around the store and both
//! systems that count the pipeline's mutating steps (system creates, updates and deletes; store
//! pair, link, lease, watermark, conflict and run writes) and, once armed with `k`, let the
//! first `k - 1` through and fail the `k`-th and every call after it (reads too), as a process
//! that died there would leave things. Leases it held stay held until they expire.
//!
//! The system wrapper also carries a one-shot "stall" hook, run right after the next Salesforce
//! `fetch` returns: the reconciler stalls there with what it read, while the hook lets time pass
//! and other work happen (a lease expiring mid-pair).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use contact_sync_engine::Side;
use contact_sync_pipeline::store::{
    CheckpointWrite, ConflictRecord, ErasedConflicts, ErasureSubject, Pair, PollCheckpoint,
    RunRecord, SaveOutcome, StoreError, StoreResult, SyncStore,
};
use contact_sync_pipeline::system::{
    ChangePage, ContactReader, ContactSystem, ContactWriter, CreateRequest, DeletionRead,
    RawRecord, SystemError, SystemFacts, SystemResult, UpdateRequest, Watermark, WriteOutcome,
};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Work run inside a stalled call.
pub type Stall = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

/// Shared by every wrapper of one scenario.
#[derive(Default)]
pub struct CrashSwitch {
    /// Mutating steps still allowed before the crash; `u64::MAX` when not armed.
    left: AtomicU64,
    /// Steps that failed because of a crash (so a test knows the crash fired).
    crashed: AtomicU64,
    stall: Mutex<Option<Stall>>,
}

impl CrashSwitch {
    pub fn new() -> Arc<CrashSwitch> {
        let s = CrashSwitch::default();
        s.left.store(u64::MAX, Ordering::SeqCst);
        Arc::new(s)
    }

    /// The `k`-th mutating step from now (k ≥ 1) and everything after it fails.
    pub fn arm(&self, k: u64) {
        self.left.store(k.saturating_sub(1), Ordering::SeqCst);
    }

    /// The process is back: every call works again.
    pub fn disarm(&self) {
        self.left.store(u64::MAX, Ordering::SeqCst);
    }

    /// True when the armed crash happened.
    pub fn fired(&self) -> bool {
        self.crashed.load(Ordering::SeqCst) > 0
    }

    pub fn reset_fired(&self) {
        self.crashed.store(0, Ordering::SeqCst);
    }

    /// Runs `stall` right after the next Salesforce fetch returns.
    pub fn stall_after_next_fetch(&self, stall: Stall) {
        *self.stall.lock().expect("stall lock") = Some(stall);
    }

    fn take_stall(&self) -> Option<Stall> {
        self.stall.lock().expect("stall lock").take()
    }

    fn is_down(&self) -> bool {
        if self.left.load(Ordering::SeqCst) == 0 {
            self.crashed.fetch_add(1, Ordering::SeqCst);
            return true;
        }
        false
    }

    /// A mutating step: allowed while steps are left (and counts one), else the crash.
    fn step(&self) -> bool {
        let mut current = self.left.load(Ordering::SeqCst);
        loop {
            if current == 0 {
                self.crashed.fetch_add(1, Ordering::SeqCst);
                return false;
            }
            let next = if current == u64::MAX {
                current
            } else {
                current - 1
            };
            match self
                .left
                .compare_exchange(current, next, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => return true,
                Err(seen) => current = seen,
            }
        }
    }
}

fn store_down() -> StoreError {
    StoreError::Transient("the reconciler process crashed (injected)".into())
}

fn system_down(side: Side) -> SystemError {
    SystemError::Transient {
        side,
        message: "the reconciler process crashed (injected)".into(),
    }
}

/// A store that crashes with the switch.
pub struct CrashStore {
    pub inner: Arc<dyn SyncStore>,
    pub switch: Arc<CrashSwitch>,
}

impl CrashStore {
    fn read(&self) -> StoreResult<()> {
        if self.switch.is_down() {
            return Err(store_down());
        }
        Ok(())
    }

    fn write(&self) -> StoreResult<()> {
        if self.switch.step() {
            Ok(())
        } else {
            Err(store_down())
        }
    }
}

#[async_trait]
impl SyncStore for CrashStore {
    async fn watermark(&self, integration: &str, side: Side) -> StoreResult<Option<Watermark>> {
        self.read()?;
        self.inner.watermark(integration, side).await
    }

    async fn advance_watermark(
        &self,
        integration: &str,
        side: Side,
        watermark: &Watermark,
    ) -> StoreResult<bool> {
        self.write()?;
        self.inner
            .advance_watermark(integration, side, watermark)
            .await
    }

    async fn pair(&self, pair_id: &str) -> StoreResult<Option<Pair>> {
        self.read()?;
        self.inner.pair(pair_id).await
    }

    async fn pairs(&self, pair_ids: &[String]) -> StoreResult<Vec<Pair>> {
        self.read()?;
        self.inner.pairs(pair_ids).await
    }

    async fn pending_pairs(&self, limit: usize) -> StoreResult<Vec<Pair>> {
        self.read()?;
        self.inner.pending_pairs(limit).await
    }

    async fn links(
        &self,
        side: Side,
        record_ids: &[String],
    ) -> StoreResult<HashMap<String, String>> {
        self.read()?;
        self.inner.links(side, record_ids).await
    }

    async fn create_pair(&self, pair: &Pair) -> StoreResult<SaveOutcome> {
        self.write()?;
        self.inner.create_pair(pair).await
    }

    async fn save_pair(&self, pair: &Pair, expected_version: u64) -> StoreResult<SaveOutcome> {
        self.write()?;
        self.inner.save_pair(pair, expected_version).await
    }

    async fn acquire_lease_free_since(
        &self,
        key: &str,
        owner: &str,
        free_since: DateTime<Utc>,
        now: DateTime<Utc>,
        ttl: chrono::Duration,
    ) -> StoreResult<bool> {
        self.write()?;
        self.inner
            .acquire_lease_free_since(key, owner, free_since, now, ttl)
            .await
    }

    async fn release_lease(&self, key: &str, owner: &str, now: DateTime<Utc>) -> StoreResult<()> {
        self.write()?;
        self.inner.release_lease(key, owner, now).await
    }

    // A batch is one write: it crashes whole or lands whole (as one durable transaction).
    async fn acquire_leases_free_since(
        &self,
        keys: &[String],
        owner: &str,
        free_since: DateTime<Utc>,
        now: DateTime<Utc>,
        ttl: chrono::Duration,
    ) -> StoreResult<Vec<bool>> {
        self.write()?;
        self.inner
            .acquire_leases_free_since(keys, owner, free_since, now, ttl)
            .await
    }

    async fn release_leases(
        &self,
        keys: &[String],
        owner: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.write()?;
        self.inner.release_leases(keys, owner, now).await
    }

    async fn create_pairs(&self, pairs: &[Pair]) -> StoreResult<Vec<SaveOutcome>> {
        self.write()?;
        self.inner.create_pairs(pairs).await
    }

    async fn save_pairs(&self, saves: &[(Pair, u64)]) -> StoreResult<Vec<SaveOutcome>> {
        self.write()?;
        self.inner.save_pairs(saves).await
    }

    async fn record_conflicts(&self, conflicts: &[ConflictRecord]) -> StoreResult<()> {
        self.write()?;
        self.inner.record_conflicts(conflicts).await
    }

    async fn record_conflict(&self, conflict: &ConflictRecord) -> StoreResult<()> {
        self.write()?;
        self.inner.record_conflict(conflict).await
    }

    async fn conflicts(
        &self,
        integration: &str,
        open_only: bool,
    ) -> StoreResult<Vec<ConflictRecord>> {
        self.read()?;
        self.inner.conflicts(integration, open_only).await
    }

    async fn conflict(&self, id: &str) -> StoreResult<Option<ConflictRecord>> {
        self.read()?;
        self.inner.conflict(id).await
    }

    async fn close_conflict(&self, id: &str) -> StoreResult<bool> {
        self.write()?;
        self.inner.close_conflict(id).await
    }

    async fn record_run(&self, run: &RunRecord) -> StoreResult<()> {
        self.write()?;
        self.inner.record_run(run).await
    }

    async fn runs(&self, integration: &str, limit: usize) -> StoreResult<Vec<RunRecord>> {
        self.read()?;
        self.inner.runs(integration, limit).await
    }

    async fn load_poll_checkpoint(&self, integration: &str) -> StoreResult<Option<PollCheckpoint>> {
        self.read()?;
        self.inner.load_poll_checkpoint(integration).await
    }

    async fn save_poll_checkpoint(
        &self,
        checkpoint: &PollCheckpoint,
        expected_version: Option<u64>,
    ) -> StoreResult<CheckpointWrite> {
        self.write()?;
        self.inner
            .save_poll_checkpoint(checkpoint, expected_version)
            .await
    }

    async fn clear_poll_checkpoint(
        &self,
        integration: &str,
        poll_id: &str,
        version: u64,
    ) -> StoreResult<bool> {
        self.write()?;
        self.inner
            .clear_poll_checkpoint(integration, poll_id, version)
            .await
    }

    async fn bulk_limit(&self, integration: &str, side: Side) -> StoreResult<Option<u64>> {
        self.inner.bulk_limit(integration, side).await
    }

    async fn lower_bulk_limit(
        &self,
        integration: &str,
        side: Side,
        limit: u64,
    ) -> StoreResult<bool> {
        self.write()?;
        self.inner.lower_bulk_limit(integration, side, limit).await
    }

    async fn drop_audit_values(
        &self,
        integration: &str,
        before: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<usize> {
        self.write()?;
        self.inner
            .drop_audit_values(integration, before, limit)
            .await
    }

    async fn erase_conflict_values(
        &self,
        integration: &str,
        subject: &ErasureSubject,
    ) -> StoreResult<ErasedConflicts> {
        self.write()?;
        self.inner.erase_conflict_values(integration, subject).await
    }
}

/// A system that crashes with the switch (and stalls once after a Salesforce fetch).
pub struct CrashSystem {
    pub inner: Arc<dyn ContactSystem>,
    pub switch: Arc<CrashSwitch>,
}

impl CrashSystem {
    fn read(&self) -> SystemResult<()> {
        if self.switch.is_down() {
            return Err(system_down(self.inner.side()));
        }
        Ok(())
    }

    fn write(&self) -> SystemResult<()> {
        if self.switch.step() {
            Ok(())
        } else {
            Err(system_down(self.inner.side()))
        }
    }
}

#[async_trait]
impl ContactReader for CrashSystem {
    fn side(&self) -> Side {
        self.inner.side()
    }

    async fn prepare(&self) -> SystemResult<SystemFacts> {
        self.read()?;
        self.inner.prepare().await
    }

    async fn read_changes(
        &self,
        since: Option<&Watermark>,
        cursor: Option<String>,
    ) -> SystemResult<ChangePage> {
        self.read()?;
        self.inner.read_changes(since, cursor).await
    }

    async fn read_deletions(&self, since: Option<&Watermark>) -> SystemResult<DeletionRead> {
        self.read()?;
        self.inner.read_deletions(since).await
    }

    async fn fetch(&self, ids: &[String]) -> SystemResult<Vec<RawRecord>> {
        self.read()?;
        let records = self.inner.fetch(ids).await;
        if self.inner.side() == Side::Salesforce
            && let Some(stall) = self.switch.take_stall()
        {
            stall().await;
        }
        records
    }

    async fn find_by_emails(&self, emails: &[String]) -> SystemResult<Vec<RawRecord>> {
        self.read()?;
        self.inner.find_by_emails(emails).await
    }

    async fn find_by_links(&self, linked_ids: &[String]) -> SystemResult<Vec<RawRecord>> {
        self.read()?;
        self.inner.find_by_links(linked_ids).await
    }

    async fn find_deleted_by_emails(&self, emails: &[String]) -> SystemResult<Vec<RawRecord>> {
        self.read()?;
        self.inner.find_deleted_by_emails(emails).await
    }

    async fn find_created_since(
        &self,
        since: chrono::DateTime<chrono::Utc>,
    ) -> SystemResult<Vec<RawRecord>> {
        self.read()?;
        self.inner.find_created_since(since).await
    }
}

#[async_trait]
impl ContactWriter for CrashSystem {
    async fn create(&self, records: Vec<CreateRequest>) -> SystemResult<Vec<WriteOutcome>> {
        self.write()?;
        self.inner.create(records).await
    }

    async fn update(&self, records: Vec<UpdateRequest>) -> SystemResult<Vec<WriteOutcome>> {
        self.write()?;
        self.inner.update(records).await
    }

    async fn delete(&self, ids: Vec<String>) -> SystemResult<Vec<WriteOutcome>> {
        self.write()?;
        self.inner.delete(ids).await
    }
}
