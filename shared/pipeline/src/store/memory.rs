//! In-memory [`SyncStore`] for tests: every operation runs under one lock, which gives the
//! atomicity the contract asks for.

use super::rules::{
    check_new_version, lease_available, newest_conflicts_first, newest_runs_first, record_ids,
};
use super::{
    CheckpointWrite, ConflictRecord, ConflictStatus, ErasedConflicts, ErasureSubject, Pair,
    PairStatus, PollCheckpoint, RunRecord, SaveOutcome, StoreError, StoreResult, SyncStore,
};
use crate::system::Watermark;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use contact_sync_engine::Side;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

/// A lease, held or ended (kept after its release: see the port's lease contract).
#[derive(Debug, Clone)]
struct Lease {
    owner: String,
    /// Its expiry while held; the release time once released.
    held_until: DateTime<Utc>,
}

#[derive(Debug, Default)]
struct State {
    watermarks: HashMap<(String, Side), Watermark>,
    pairs: HashMap<String, Pair>,
    /// `(side, record id)` → pair id. Never removed.
    links: HashMap<(Side, String), String>,
    leases: HashMap<String, Lease>,
    conflicts: HashMap<String, ConflictRecord>,
    runs: HashMap<String, RunRecord>,
    /// integration → its poll checkpoint.
    checkpoints: HashMap<String, PollCheckpoint>,
    /// Learned bulk request limits.
    bulk_limits: HashMap<(String, Side), u64>,
}

impl State {
    /// The first id of `pair` linked to a pair other than `pair.pair_id`, if any.
    fn taken_link(&self, pair: &Pair) -> Option<SaveOutcome> {
        record_ids(pair).find_map(|(side, record_id)| {
            self.links
                .get(&(side, record_id.to_string()))
                .filter(|owner| *owner != &pair.pair_id)
                .map(|owner| SaveOutcome::LinkTaken {
                    side,
                    record_id: record_id.to_string(),
                    pair_id: owner.clone(),
                })
        })
    }

    fn link(&mut self, pair: &Pair) {
        for (side, record_id) in record_ids(pair) {
            self.links
                .entry((side, record_id.to_string()))
                .or_insert_with(|| pair.pair_id.clone());
        }
    }

    /// `create_pair`'s rule (version checked by the caller).
    fn create_pair(&mut self, pair: &Pair) -> SaveOutcome {
        if self.pairs.contains_key(&pair.pair_id) {
            return SaveOutcome::AlreadyExists;
        }
        if let Some(taken) = self.taken_link(pair) {
            return taken;
        }
        self.link(pair);
        self.pairs.insert(pair.pair_id.clone(), pair.clone());
        SaveOutcome::Saved
    }

    /// `save_pair`'s compare-and-set rule.
    fn save_pair(&mut self, pair: &Pair, expected_version: u64) -> SaveOutcome {
        let current = self.pairs.get(&pair.pair_id).map(|stored| stored.version);
        if current != Some(expected_version) {
            return SaveOutcome::VersionMismatch;
        }
        if let Some(taken) = self.taken_link(pair) {
            return taken;
        }
        self.link(pair);
        let mut stored = pair.clone();
        stored.version = expected_version + 1;
        self.pairs.insert(stored.pair_id.clone(), stored);
        SaveOutcome::Saved
    }

    /// The lease rule of `acquire_lease_free_since`.
    fn take_lease(
        &mut self,
        key: &str,
        owner: &str,
        (free_since, now, ttl): (DateTime<Utc>, DateTime<Utc>, chrono::Duration),
    ) -> bool {
        let held = self
            .leases
            .get(key)
            .map(|lease| (lease.owner.as_str(), lease.held_until));
        if !lease_available(held, owner, free_since) {
            return false;
        }
        self.leases.insert(
            key.to_string(),
            Lease {
                owner: owner.to_string(),
                held_until: now + ttl,
            },
        );
        true
    }

    fn end_lease(&mut self, key: &str, owner: &str, now: DateTime<Utc>) {
        if let Some(lease) = self.leases.get_mut(key)
            && lease.owner == owner
        {
            lease.held_until = now;
        }
    }

    fn add_conflict(&mut self, conflict: &ConflictRecord) {
        self.conflicts
            .entry(conflict.id.clone())
            .or_insert_with(|| conflict.clone());
    }
}

/// Everything in process memory, lost on drop.
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
    /// Calls to mutating methods so far.
    write_requests: AtomicU64,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Calls to the port's mutating methods so far (watermark, pair, lease, conflict, run and
    /// checkpoint writes), whether or not their condition let them change anything: what a
    /// store billed per request (DynamoDB charges a failed condition too) would charge. A
    /// batch call counts once (an empty one not at all).
    pub fn write_requests(&self) -> u64 {
        self.write_requests.load(Ordering::SeqCst)
    }

    fn state(&self) -> StoreResult<MutexGuard<'_, State>> {
        self.state
            .lock()
            .map_err(|_| StoreError::Permanent("memory store: lock poisoned".to_string()))
    }

    /// The state, for a mutating method (counted).
    fn state_to_write(&self) -> StoreResult<MutexGuard<'_, State>> {
        self.write_requests.fetch_add(1, Ordering::SeqCst);
        self.state()
    }
}

#[async_trait]
impl SyncStore for MemoryStore {
    async fn watermark(&self, integration: &str, side: Side) -> StoreResult<Option<Watermark>> {
        Ok(self
            .state()?
            .watermarks
            .get(&(integration.to_string(), side))
            .cloned())
    }

    async fn advance_watermark(
        &self,
        integration: &str,
        side: Side,
        watermark: &Watermark,
    ) -> StoreResult<bool> {
        let mut state = self.state_to_write()?;
        let key = (integration.to_string(), side);
        if state
            .watermarks
            .get(&key)
            .is_some_and(|stored| watermark <= stored)
        {
            return Ok(false);
        }
        state.watermarks.insert(key, watermark.clone());
        Ok(true)
    }

    async fn pair(&self, pair_id: &str) -> StoreResult<Option<Pair>> {
        Ok(self.state()?.pairs.get(pair_id).cloned())
    }

    async fn pairs(&self, pair_ids: &[String]) -> StoreResult<Vec<Pair>> {
        let state = self.state()?;
        Ok(pair_ids
            .iter()
            .filter_map(|id| state.pairs.get(id).cloned())
            .collect())
    }

    async fn pending_pairs(&self, limit: usize) -> StoreResult<Vec<Pair>> {
        let mut pending: Vec<Pair> = self
            .state()?
            .pairs
            .values()
            .filter(|pair| pair.status == PairStatus::Pending)
            .cloned()
            .collect();
        pending.sort_by(|a, b| a.pair_id.cmp(&b.pair_id));
        pending.truncate(limit);
        Ok(pending)
    }

    async fn links(
        &self,
        side: Side,
        record_ids: &[String],
    ) -> StoreResult<HashMap<String, String>> {
        let state = self.state()?;
        Ok(record_ids
            .iter()
            .filter_map(|id| {
                state
                    .links
                    .get(&(side, id.clone()))
                    .map(|pair_id| (id.clone(), pair_id.clone()))
            })
            .collect())
    }

    async fn create_pair(&self, pair: &Pair) -> StoreResult<SaveOutcome> {
        check_new_version(pair)?;
        Ok(self.state_to_write()?.create_pair(pair))
    }

    async fn save_pair(&self, pair: &Pair, expected_version: u64) -> StoreResult<SaveOutcome> {
        Ok(self.state_to_write()?.save_pair(pair, expected_version))
    }

    async fn acquire_lease_free_since(
        &self,
        key: &str,
        owner: &str,
        free_since: DateTime<Utc>,
        now: DateTime<Utc>,
        ttl: chrono::Duration,
    ) -> StoreResult<bool> {
        Ok(self
            .state_to_write()?
            .take_lease(key, owner, (free_since, now, ttl)))
    }

    async fn release_lease(&self, key: &str, owner: &str, now: DateTime<Utc>) -> StoreResult<()> {
        self.state_to_write()?.end_lease(key, owner, now);
        Ok(())
    }

    async fn record_conflict(&self, conflict: &ConflictRecord) -> StoreResult<()> {
        self.state_to_write()?.add_conflict(conflict);
        Ok(())
    }

    // Batches: one request each (what a store billed per request would charge for one
    // batch write), applied under one lock. An empty batch sends nothing.

    async fn acquire_leases_free_since(
        &self,
        keys: &[String],
        owner: &str,
        free_since: DateTime<Utc>,
        now: DateTime<Utc>,
        ttl: chrono::Duration,
    ) -> StoreResult<Vec<bool>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut state = self.state_to_write()?;
        Ok(keys
            .iter()
            .map(|key| state.take_lease(key, owner, (free_since, now, ttl)))
            .collect())
    }

    async fn release_leases(
        &self,
        keys: &[String],
        owner: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        if keys.is_empty() {
            return Ok(());
        }
        let mut state = self.state_to_write()?;
        for key in keys {
            state.end_lease(key, owner, now);
        }
        Ok(())
    }

    async fn create_pairs(&self, pairs: &[Pair]) -> StoreResult<Vec<SaveOutcome>> {
        if pairs.is_empty() {
            return Ok(Vec::new());
        }
        pairs.iter().try_for_each(check_new_version)?;
        let mut state = self.state_to_write()?;
        Ok(pairs.iter().map(|pair| state.create_pair(pair)).collect())
    }

    async fn save_pairs(&self, saves: &[(Pair, u64)]) -> StoreResult<Vec<SaveOutcome>> {
        if saves.is_empty() {
            return Ok(Vec::new());
        }
        let mut state = self.state_to_write()?;
        Ok(saves
            .iter()
            .map(|(pair, expected)| state.save_pair(pair, *expected))
            .collect())
    }

    async fn record_conflicts(&self, conflicts: &[ConflictRecord]) -> StoreResult<()> {
        if conflicts.is_empty() {
            return Ok(());
        }
        let mut state = self.state_to_write()?;
        for conflict in conflicts {
            state.add_conflict(conflict);
        }
        Ok(())
    }

    async fn conflicts(
        &self,
        integration: &str,
        open_only: bool,
    ) -> StoreResult<Vec<ConflictRecord>> {
        let mut found: Vec<ConflictRecord> = self
            .state()?
            .conflicts
            .values()
            .filter(|c| c.integration == integration)
            .filter(|c| !open_only || c.status == ConflictStatus::Open)
            .cloned()
            .collect();
        newest_conflicts_first(&mut found);
        Ok(found)
    }

    async fn conflict(&self, id: &str) -> StoreResult<Option<ConflictRecord>> {
        Ok(self.state()?.conflicts.get(id).cloned())
    }

    async fn close_conflict(&self, id: &str) -> StoreResult<bool> {
        let mut state = self.state_to_write()?;
        Ok(match state.conflicts.get_mut(id) {
            Some(conflict) if conflict.status == ConflictStatus::Open => {
                conflict.status = ConflictStatus::Closed;
                true
            }
            _ => false,
        })
    }

    async fn record_run(&self, run: &RunRecord) -> StoreResult<()> {
        self.state_to_write()?
            .runs
            .insert(run.run_id.clone(), run.clone());
        Ok(())
    }

    async fn runs(&self, integration: &str, limit: usize) -> StoreResult<Vec<RunRecord>> {
        let mut found: Vec<RunRecord> = self
            .state()?
            .runs
            .values()
            .filter(|r| r.integration == integration)
            .cloned()
            .collect();
        newest_runs_first(&mut found);
        found.truncate(limit);
        Ok(found)
    }

    async fn load_poll_checkpoint(&self, integration: &str) -> StoreResult<Option<PollCheckpoint>> {
        Ok(self.state()?.checkpoints.get(integration).cloned())
    }

    async fn save_poll_checkpoint(
        &self,
        checkpoint: &PollCheckpoint,
        expected_version: Option<u64>,
    ) -> StoreResult<CheckpointWrite> {
        checkpoint.state_json()?;
        let mut state = self.state_to_write()?;
        let stored = state
            .checkpoints
            .get(&checkpoint.integration)
            .map(|c| (c.poll_id.as_str(), c.version));
        if !PollCheckpoint::replaces(stored, &checkpoint.poll_id, expected_version) {
            return Ok(CheckpointWrite::Superseded);
        }
        let version = expected_version.map_or(1, |v| v + 1);
        let mut saved = checkpoint.clone();
        saved.version = version;
        state
            .checkpoints
            .insert(checkpoint.integration.clone(), saved);
        Ok(CheckpointWrite::Saved { version })
    }

    async fn clear_poll_checkpoint(
        &self,
        integration: &str,
        poll_id: &str,
        version: u64,
    ) -> StoreResult<bool> {
        let mut state = self.state_to_write()?;
        let matches = state
            .checkpoints
            .get(integration)
            .is_some_and(|c| c.poll_id == poll_id && c.version == version);
        if matches {
            state.checkpoints.remove(integration);
        }
        Ok(matches)
    }

    async fn bulk_limit(&self, integration: &str, side: Side) -> StoreResult<Option<u64>> {
        Ok(self
            .state()?
            .bulk_limits
            .get(&(integration.to_string(), side))
            .copied())
    }

    async fn lower_bulk_limit(
        &self,
        integration: &str,
        side: Side,
        limit: u64,
    ) -> StoreResult<bool> {
        let limit = limit.max(1);
        let mut state = self.state_to_write()?;
        let key = (integration.to_string(), side);
        if state.bulk_limits.get(&key).is_some_and(|&l| l <= limit) {
            return Ok(false);
        }
        state.bulk_limits.insert(key, limit);
        Ok(true)
    }

    async fn drop_audit_values(
        &self,
        integration: &str,
        before: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<usize> {
        let mut state = self.state_to_write()?;
        let mut due: Vec<(DateTime<Utc>, String)> = state
            .conflicts
            .values()
            .filter(|c| c.integration == integration && c.status == ConflictStatus::Closed)
            .filter(|c| c.at < before && c.holds_values())
            .map(|c| (c.at, c.id.clone()))
            .collect();
        due.sort();
        due.truncate(limit);
        for (_, id) in &due {
            if let Some(conflict) = state.conflicts.get_mut(id) {
                conflict.drop_values();
            }
        }
        Ok(due.len())
    }

    async fn erase_conflict_values(
        &self,
        integration: &str,
        subject: &ErasureSubject,
    ) -> StoreResult<ErasedConflicts> {
        let mut state = self.state_to_write()?;
        let mut done = ErasedConflicts::default();
        for conflict in state.conflicts.values_mut() {
            if conflict.integration == integration && conflict.is_about(subject) {
                done.found += 1;
                if conflict.drop_values() {
                    done.erased += 1;
                }
            }
        }
        Ok(done)
    }
}
