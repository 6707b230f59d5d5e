//! The store as one operator-started run sees it: where the change reads start (`--full`,
//! `--since`), and whether anything may be written at all (`--dry-run`).
//!
//! [`RunStore`] wraps the integration's store for the length of one cycle. Reads pass through,
//! except the two change watermarks when a [`ReadFrom`] other than the stored watermark is
//! asked for. Writes pass through, except in a dry run, where nothing reaches the store: the
//! review items the run would open are kept in memory for the report, leases and watermark
//! moves are answered without being stored, and every other write is refused with an error (a
//! dry run that tried one would be a bug, and must fail loudly rather than write).

use crate::store::{
    CheckpointWrite, ConflictRecord, ErasedConflicts, ErasureSubject, Pair, PollCheckpoint,
    RunRecord, SaveOutcome, StoreError, StoreResult, SyncStore,
};
use crate::system::Watermark;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use contact_sync_engine::Side;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Where a run's change reads start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReadFrom {
    /// After each side's stored watermark (an incremental run).
    #[default]
    Watermark,
    /// From the beginning: every record of both sides (Salesforce through Bulk API 2.0 above
    /// its threshold; Genesys is always a full scan).
    Start,
    /// From this instant, or from the stored watermark when that is older: a window is
    /// re-read, never a change skipped that was not synced yet.
    Since(DateTime<Utc>),
}

/// One run's view of a store (see the module documentation).
pub struct RunStore {
    inner: Arc<dyn SyncStore>,
    /// The integration whose change watermarks `read_from` replaces (the delete-log
    /// watermark, under another key, is never replaced).
    integration: String,
    read_from: ReadFrom,
    /// `Some` in a dry run: the review items the run would have recorded.
    dry: Option<Mutex<Vec<ConflictRecord>>>,
}

impl RunStore {
    /// A view that writes through.
    pub fn new(inner: Arc<dyn SyncStore>, integration: &str, read_from: ReadFrom) -> RunStore {
        RunStore {
            inner,
            integration: integration.to_string(),
            read_from,
            dry: None,
        }
    }

    /// A view that writes nothing.
    pub fn dry(inner: Arc<dyn SyncStore>, integration: &str, read_from: ReadFrom) -> RunStore {
        RunStore {
            dry: Some(Mutex::new(Vec::new())),
            ..RunStore::new(inner, integration, read_from)
        }
    }

    /// The review items a dry run would have recorded (empty for a writing view).
    pub fn withheld_conflicts(&self) -> Vec<ConflictRecord> {
        self.dry
            .as_ref()
            .map(|held| held.lock().unwrap_or_else(|p| p.into_inner()).clone())
            .unwrap_or_default()
    }

    fn refuse<T>(&self, what: &str) -> StoreResult<T> {
        Err(StoreError::Permanent(format!(
            "dry run: {what} is never written (a dry run that reaches this is a bug)"
        )))
    }
}

#[async_trait]
impl SyncStore for RunStore {
    async fn watermark(&self, integration: &str, side: Side) -> StoreResult<Option<Watermark>> {
        let stored = self.inner.watermark(integration, side).await?;
        if integration != self.integration {
            return Ok(stored);
        }
        Ok(match self.read_from {
            ReadFrom::Watermark => stored,
            ReadFrom::Start => None,
            ReadFrom::Since(at) => {
                // Strictly after `at - 1 ms`: records stamped exactly at `at` are read too.
                let from =
                    Watermark::position(at - chrono::Duration::milliseconds(1), String::new());
                Some(match stored {
                    Some(wm) if wm < from => wm,
                    _ => from,
                })
            }
        })
    }

    async fn advance_watermark(
        &self,
        integration: &str,
        side: Side,
        watermark: &Watermark,
    ) -> StoreResult<bool> {
        if self.dry.is_some() {
            return Ok(false);
        }
        // The stored watermark only moves forward (store contract), whatever this run read.
        self.inner
            .advance_watermark(integration, side, watermark)
            .await
    }

    async fn pair(&self, pair_id: &str) -> StoreResult<Option<Pair>> {
        self.inner.pair(pair_id).await
    }

    async fn pairs(&self, pair_ids: &[String]) -> StoreResult<Vec<Pair>> {
        self.inner.pairs(pair_ids).await
    }

    async fn pending_pairs(&self, limit: usize) -> StoreResult<Vec<Pair>> {
        self.inner.pending_pairs(limit).await
    }

    async fn links(
        &self,
        side: Side,
        record_ids: &[String],
    ) -> StoreResult<HashMap<String, String>> {
        self.inner.links(side, record_ids).await
    }

    async fn create_pair(&self, pair: &Pair) -> StoreResult<SaveOutcome> {
        if self.dry.is_some() {
            return self.refuse("a new pair");
        }
        self.inner.create_pair(pair).await
    }

    async fn save_pair(&self, pair: &Pair, expected_version: u64) -> StoreResult<SaveOutcome> {
        if self.dry.is_some() {
            return self.refuse("a pair");
        }
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
        if self.dry.is_some() {
            // A dry run changes nothing, so it needs no exclusion from real runs.
            return Ok(true);
        }
        self.inner
            .acquire_lease_free_since(key, owner, free_since, now, ttl)
            .await
    }

    async fn release_lease(&self, key: &str, owner: &str, now: DateTime<Utc>) -> StoreResult<()> {
        if self.dry.is_some() {
            return Ok(());
        }
        self.inner.release_lease(key, owner, now).await
    }

    async fn acquire_leases_free_since(
        &self,
        keys: &[String],
        owner: &str,
        free_since: DateTime<Utc>,
        now: DateTime<Utc>,
        ttl: chrono::Duration,
    ) -> StoreResult<Vec<bool>> {
        if self.dry.is_some() {
            return Ok(vec![true; keys.len()]);
        }
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
        if self.dry.is_some() {
            return Ok(());
        }
        self.inner.release_leases(keys, owner, now).await
    }

    async fn create_pairs(&self, pairs: &[Pair]) -> StoreResult<Vec<SaveOutcome>> {
        if self.dry.is_some() {
            return self.refuse("a new pair");
        }
        self.inner.create_pairs(pairs).await
    }

    async fn save_pairs(&self, saves: &[(Pair, u64)]) -> StoreResult<Vec<SaveOutcome>> {
        if self.dry.is_some() {
            return self.refuse("a pair");
        }
        self.inner.save_pairs(saves).await
    }

    async fn record_conflicts(&self, conflicts: &[ConflictRecord]) -> StoreResult<()> {
        if self.dry.is_some() {
            for conflict in conflicts {
                self.record_conflict(conflict).await?;
            }
            return Ok(());
        }
        self.inner.record_conflicts(conflicts).await
    }

    async fn record_conflict(&self, conflict: &ConflictRecord) -> StoreResult<()> {
        if let Some(held) = &self.dry {
            let mut held = held.lock().unwrap_or_else(|p| p.into_inner());
            if !held.iter().any(|c| c.id == conflict.id) {
                held.push(conflict.clone());
            }
            return Ok(());
        }
        self.inner.record_conflict(conflict).await
    }

    async fn conflicts(
        &self,
        integration: &str,
        open_only: bool,
    ) -> StoreResult<Vec<ConflictRecord>> {
        self.inner.conflicts(integration, open_only).await
    }

    async fn conflict(&self, id: &str) -> StoreResult<Option<ConflictRecord>> {
        self.inner.conflict(id).await
    }

    async fn close_conflict(&self, id: &str) -> StoreResult<bool> {
        if self.dry.is_some() {
            return self.refuse("a review item's status");
        }
        self.inner.close_conflict(id).await
    }

    async fn record_run(&self, run: &RunRecord) -> StoreResult<()> {
        if self.dry.is_some() {
            return self.refuse("a run record");
        }
        self.inner.record_run(run).await
    }

    async fn runs(&self, integration: &str, limit: usize) -> StoreResult<Vec<RunRecord>> {
        self.inner.runs(integration, limit).await
    }

    async fn load_poll_checkpoint(&self, integration: &str) -> StoreResult<Option<PollCheckpoint>> {
        self.inner.load_poll_checkpoint(integration).await
    }

    async fn save_poll_checkpoint(
        &self,
        checkpoint: &PollCheckpoint,
        expected_version: Option<u64>,
    ) -> StoreResult<CheckpointWrite> {
        if self.dry.is_some() {
            return self.refuse("a poll checkpoint");
        }
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
        if self.dry.is_some() {
            return Ok(false);
        }
        self.inner
            .clear_poll_checkpoint(integration, poll_id, version)
            .await
    }

    async fn bulk_limit(&self, integration: &str, side: Side) -> StoreResult<Option<u64>> {
        self.inner.bulk_limit(integration, side).await
    }

    /// A dry run remembers nothing (a limit its reads learned is learned again).
    async fn lower_bulk_limit(
        &self,
        integration: &str,
        side: Side,
        limit: u64,
    ) -> StoreResult<bool> {
        if self.dry.is_some() {
            return Ok(false);
        }
        self.inner.lower_bulk_limit(integration, side, limit).await
    }

    async fn drop_audit_values(
        &self,
        integration: &str,
        before: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<usize> {
        if self.dry.is_some() {
            return self.refuse("an audit entry's values");
        }
        self.inner
            .drop_audit_values(integration, before, limit)
            .await
    }

    async fn erase_conflict_values(
        &self,
        integration: &str,
        subject: &ErasureSubject,
    ) -> StoreResult<ErasedConflicts> {
        if self.dry.is_some() {
            return self.refuse("an audit entry's values");
        }
        self.inner.erase_conflict_values(integration, subject).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;
    use chrono::TimeZone;

    fn at(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, day, 0, 0, 0)
            .single()
            .expect("date")
    }

    fn mark(day: u32) -> Watermark {
        Watermark::position(at(day), "003000000000001AAA")
    }

    #[tokio::test]
    async fn read_from_replaces_only_the_change_watermarks_and_never_skips_ahead() {
        // GIVEN a store whose change watermark is on the 10th, and a delete-log watermark
        let store: Arc<dyn SyncStore> = Arc::new(MemoryStore::new());
        store
            .advance_watermark("crm", Side::Salesforce, &mark(10))
            .await
            .expect("advance");
        store
            .advance_watermark("crm#deletions", Side::Salesforce, &mark(10))
            .await
            .expect("advance");
        let view = |from| RunStore::new(store.clone(), "crm", from);

        // WHEN read through each kind of view
        let full = view(ReadFrom::Start);
        let earlier = view(ReadFrom::Since(at(3)));
        let later = view(ReadFrom::Since(at(20)));

        // THEN full reads start from nothing, an earlier date replaces the watermark, a later
        // date keeps the older watermark, and the delete log is untouched
        assert_eq!(
            full.watermark("crm", Side::Salesforce).await.expect("wm"),
            None
        );
        let from = earlier
            .watermark("crm", Side::Salesforce)
            .await
            .expect("wm")
            .expect("some");
        assert!(from.stamp < at(3) && from.last_id.is_empty());
        assert_eq!(
            later.watermark("crm", Side::Salesforce).await.expect("wm"),
            Some(mark(10))
        );
        assert_eq!(
            full.watermark("crm#deletions", Side::Salesforce)
                .await
                .expect("wm"),
            Some(mark(10))
        );
    }

    #[tokio::test]
    async fn a_dry_view_writes_nothing_and_refuses_pair_writes() {
        // GIVEN a dry view over an empty store
        let store = Arc::new(MemoryStore::new());
        let view = RunStore::dry(store.clone(), "crm", ReadFrom::Start);
        let item = ConflictRecord::ambiguous_match(
            "match#salesforce#x".into(),
            "crm",
            "run-1",
            (None, Some("x".into()), None),
            "unique_match",
            vec!["a".into(), "b".into()],
            at(1),
        );

        // WHEN a run's writes go through it
        let moved = view
            .advance_watermark("crm", Side::Genesys, &mark(5))
            .await
            .expect("advance");
        let leased = view
            .acquire_lease("run#crm", "r", at(1), chrono::Duration::minutes(1))
            .await
            .expect("lease");
        view.record_conflict(&item).await.expect("record");
        view.record_conflict(&item).await.expect("record again");
        let pair = view
            .create_pair(&Pair::new("p-1".into(), Some("x".into()), None))
            .await;

        // THEN the store is untouched, the review item is kept for the report once, and a
        // pair write is an error
        assert!(!moved && leased);
        assert_eq!(
            store.watermark("crm", Side::Genesys).await.expect("wm"),
            None
        );
        assert!(
            store
                .conflicts("crm", false)
                .await
                .expect("list")
                .is_empty()
        );
        assert_eq!(view.withheld_conflicts(), vec![item]);
        assert!(pair.is_err());
        assert!(store.pair("p-1").await.expect("read").is_none());
        // AND the lease was never taken: a real run can start meanwhile
        assert!(
            store
                .acquire_lease("run#crm", "other", at(1), chrono::Duration::minutes(1))
                .await
                .expect("lease")
        );
    }
}
