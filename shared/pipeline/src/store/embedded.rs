//! [`SyncStore`] in one redb file, for the CLI.
//!
//! Every operation is one redb transaction: those that check and then write (watermarks, pairs
//! and their links, leases, conflicts) do both inside the same write transaction, and redb
//! allows one write transaction at a time, so a check cannot go stale before its write.
//!
//! redb calls block (file I/O, fsync on commit, waiting for the writer slot): every trait
//! method runs them on tokio's blocking pool with `spawn_blocking`, so they never stall the
//! async workers. [`EmbeddedStore::open`] is synchronous: it runs once, at start-up.
//!
//! Values are JSON. Error messages carry keys (ids) and redb's own messages, never values.
//!
//! **Batches**: each batch operation of the port (`acquire_leases_free_since`,
//! `release_leases`, `create_pairs`, `save_pairs`, `record_conflicts`) is one write transaction
//! (one commit, one `fdatasync`) applying its items in order with the single calls' rules.
//!
//! **Durability**: every commit is durable (`Durability::Immediate`) except lease writes
//! (acquire, release, single or batch), which commit with `Durability::None`: they are visible
//! at once to every later transaction of this process, and reach the disk with the next
//! durable commit (redb persists commits in order, so after a crash the file holds exactly the
//! commits up to the last durable one: the state of a crash at that instant). Leases need no
//! more: a redb file is open in one process at a time (redb locks it; the CLI also holds its
//! run lock), so they only coordinate the writers inside that process, and a run that starts
//! after a crash ends every lease a dead run left (`end_leases_held_by`); its reads all begin
//! after any lease time the crash lost. Reservations (`create_pair(s)`), commits
//! (`save_pair(s)`) and audit records stay durable before the call returns, which is what the
//! pipeline's crash guarantees rest on (a reservation before a create is sent; a decision's
//! audit before the writes that apply it).

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
use redb::{
    Database, Durability, ReadTransaction, ReadableDatabase, ReadableTable, Table, TableDefinition,
    WriteTransaction,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt::Display;
use std::path::Path;
use std::sync::Arc;

/// `(integration, side)` → [`Watermark`].
const WATERMARKS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("watermarks");
/// pair id → [`Pair`].
const PAIRS: TableDefinition<&str, &[u8]> = TableDefinition::new("pairs");
/// pair id of every pair whose status is [`PairStatus::Pending`].
const PENDING_PAIRS: TableDefinition<&str, ()> = TableDefinition::new("pending_pairs");
/// `salesforce#<id>` / `genesys#<id>` → pair id (a JSON string). Never removed.
const LINKS: TableDefinition<&str, &[u8]> = TableDefinition::new("links");
/// lease key → [`Lease`].
const LEASES: TableDefinition<&str, &[u8]> = TableDefinition::new("leases");
/// conflict id → [`ConflictRecord`].
const CONFLICTS: TableDefinition<&str, &[u8]> = TableDefinition::new("conflicts");
/// `(integration, conflict id)`: the conflicts of an integration.
const CONFLICTS_BY_INTEGRATION: TableDefinition<(&str, &str), ()> =
    TableDefinition::new("conflicts_by_integration");
/// run id → [`RunRecord`].
const RUNS: TableDefinition<&str, &[u8]> = TableDefinition::new("runs");
/// `(integration, run id)`: the runs of an integration.
const RUNS_BY_INTEGRATION: TableDefinition<(&str, &str), ()> =
    TableDefinition::new("runs_by_integration");

/// `(integration, "<at>#<id>")` → conflict id: the closed conflicts that still hold values,
/// oldest first (what `drop_audit_values` reads, instead of the whole audit).
const AUDIT_VALUES: TableDefinition<(&str, &str), &str> = TableDefinition::new("audit_values");
/// Markers of one-time upgrades of an existing file (name → `()`).
const UPGRADES: TableDefinition<&str, ()> = TableDefinition::new("upgrades");

/// integration → its [`PollCheckpoint`].
const POLL_CHECKPOINTS: TableDefinition<&str, &[u8]> = TableDefinition::new("poll_checkpoints");
/// `(integration, side)` → the learned bulk request limit (records per request).
const BULK_LIMITS: TableDefinition<(&str, &str), u64> = TableDefinition::new("bulk_limits");

/// A lease, held or ended (kept after its release: see the port's lease contract).
#[derive(Debug, Serialize, Deserialize)]
struct Lease {
    owner: String,
    /// Its expiry while held; the release time once released.
    expires_at: DateTime<Utc>,
}

/// How a write transaction ends once its closure has decided.
enum Finish<T> {
    /// Something was written: commit.
    Commit(T),
    /// A check refused the write: nothing was written, abort.
    Rollback(T),
}

/// A store kept in one redb file.
#[derive(Clone)]
pub struct EmbeddedStore {
    db: Arc<Database>,
}

impl std::fmt::Debug for EmbeddedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedStore").finish_non_exhaustive()
    }
}

/// Creates `dir` and its missing parents, owner-only (0700) on Unix.
fn owner_only_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Creates the empty store file owner-only (0600 on Unix) when it is missing; redb then
/// initialises it.
fn owner_only_file(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

impl EmbeddedStore {
    /// Opens the store file at `path`, creating it (and its parent directories) if missing.
    /// The store holds people's values (base snapshots, audit entries), so what it creates is
    /// the owner's only: directories 0700, the file 0600 (on Unix; existing ones are left as
    /// they are, and `contact-sync check` warns when they are wider).
    ///
    /// Fails when the directory cannot be created, the file is not a redb database, or another
    /// process has it open.
    pub fn open(path: &Path) -> StoreResult<EmbeddedStore> {
        let cannot_open = |e: &dyn Display| {
            StoreError::Permanent(format!("cannot open store file {}: {e}", path.display()))
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            owner_only_dir(parent).map_err(|e| {
                StoreError::Permanent(format!(
                    "cannot create directory {} for the store file: {e}",
                    parent.display()
                ))
            })?;
        }
        owner_only_file(path).map_err(|e| cannot_open(&e))?;
        let db = Database::create(path).map_err(|e| cannot_open(&e))?;
        // Create every table up front so read transactions never meet a missing table.
        let txn = db.begin_write().map_err(|e| cannot_open(&e))?;
        create_tables(&txn).map_err(|e| cannot_open(&e))?;
        index_audit_values_once(&txn)?;
        txn.commit().map_err(|e| cannot_open(&e))?;
        Ok(EmbeddedStore { db: Arc::new(db) })
    }

    /// Runs `f` in one durable write transaction on the blocking pool; commits or aborts as it
    /// decides.
    async fn write<T, F>(&self, operation: &'static str, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&WriteTransaction) -> StoreResult<Finish<T>> + Send + 'static,
    {
        self.write_with(operation, Durability::Immediate, f).await
    }

    /// [`EmbeddedStore::write`] with the commit's durability (see the module's note: only
    /// lease writes commit with `Durability::None`).
    async fn write_with<T, F>(
        &self,
        operation: &'static str,
        durability: Durability,
        f: F,
    ) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&WriteTransaction) -> StoreResult<Finish<T>> + Send + 'static,
    {
        let db = Arc::clone(&self.db);
        tokio::task::spawn_blocking(move || {
            let mut txn = db.begin_write().map_err(storage(operation))?;
            txn.set_durability(durability).map_err(storage(operation))?;
            match f(&txn) {
                Ok(Finish::Commit(value)) => {
                    txn.commit().map_err(storage(operation))?;
                    Ok(value)
                }
                Ok(Finish::Rollback(value)) => {
                    txn.abort().map_err(storage(operation))?;
                    Ok(value)
                }
                Err(error) => {
                    // The closure's error is the one worth reporting; dropping the transaction
                    // would abort it as well.
                    let _ = txn.abort();
                    Err(error)
                }
            }
        })
        .await
        .map_err(|e| {
            StoreError::Permanent(format!("embedded store: {operation}: task failed: {e}"))
        })?
    }

    /// Runs `f` in one read transaction (a consistent snapshot) on the blocking pool.
    async fn read<T, F>(&self, operation: &'static str, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&ReadTransaction) -> StoreResult<T> + Send + 'static,
    {
        let db = Arc::clone(&self.db);
        tokio::task::spawn_blocking(move || {
            let txn = db.begin_read().map_err(storage(operation))?;
            f(&txn)
        })
        .await
        .map_err(|e| {
            StoreError::Permanent(format!("embedded store: {operation}: task failed: {e}"))
        })?
    }
}

impl EmbeddedStore {
    /// Ends at `now` every lease still held whose owner starts with `owner_prefix`; the number
    /// ended. Only for a caller that knows no holder of such a lease is alive (the CLI holding
    /// its run lock: any such lease was left by a run that died), so the pairs they guard are
    /// free at once instead of after the lease lifetime. An ended lease is kept, as a release
    /// keeps it: a reader from before `now` still sees that it was held.
    pub async fn end_leases_held_by(
        &self,
        owner_prefix: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<usize> {
        let prefix = owner_prefix.to_string();
        self.write("end_leases_held_by", move |txn| {
            let mut leases = txn
                .open_table(LEASES)
                .map_err(storage("end_leases_held_by"))?;
            let mut held = Vec::new();
            for entry in leases.iter().map_err(storage("end_leases_held_by"))? {
                let (key, value) = entry.map_err(storage("end_leases_held_by"))?;
                let key = key.value().to_string();
                let lease: Lease = decode(&lease_key(&key), value.value())?;
                if lease.expires_at > now && lease.owner.starts_with(&prefix) {
                    held.push((key, lease));
                }
            }
            if held.is_empty() {
                return Ok(Finish::Rollback(0));
            }
            for (key, lease) in &mut held {
                lease.expires_at = now;
                put_json(&mut leases, key, lease)?;
            }
            Ok(Finish::Commit(held.len()))
        })
        .await
    }
}

fn create_tables(txn: &WriteTransaction) -> Result<(), redb::TableError> {
    txn.open_table(WATERMARKS)?;
    txn.open_table(PAIRS)?;
    txn.open_table(PENDING_PAIRS)?;
    txn.open_table(LINKS)?;
    txn.open_table(LEASES)?;
    txn.open_table(CONFLICTS)?;
    txn.open_table(CONFLICTS_BY_INTEGRATION)?;
    txn.open_table(RUNS)?;
    txn.open_table(RUNS_BY_INTEGRATION)?;
    txn.open_table(POLL_CHECKPOINTS)?;
    txn.open_table(BULK_LIMITS)?;
    txn.open_table(AUDIT_VALUES)?;
    txn.open_table(UPGRADES)?;
    Ok(())
}

/// A file written before the audit values index existed: lists its closed conflicts that
/// still hold values, once.
fn index_audit_values_once(txn: &WriteTransaction) -> StoreResult<()> {
    const MARKER: &str = "audit_values_indexed";
    let mut upgrades = txn.open_table(UPGRADES).map_err(storage("upgrade"))?;
    if upgrades.get(MARKER).map_err(storage("upgrade"))?.is_some() {
        return Ok(());
    }
    let conflicts = txn.open_table(CONFLICTS).map_err(storage("upgrade"))?;
    for entry in conflicts.iter().map_err(storage("upgrade"))? {
        let (key, value) = entry.map_err(storage("upgrade"))?;
        let conflict: ConflictRecord = decode(&conflict_key(key.value()), value.value())?;
        index_audit_values(txn, &conflict)?;
    }
    upgrades.insert(MARKER, ()).map_err(storage("upgrade"))?;
    Ok(())
}

/// The audit values index key of a conflict: its integration, then time and id (time order).
fn audit_values_key(conflict: &ConflictRecord) -> (String, String) {
    (
        conflict.integration.clone(),
        format!(
            "{}#{}",
            conflict
                .at
                .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
            conflict.id
        ),
    )
}

/// Keeps the audit values index in step with a conflict just written (same transaction):
/// listed while it is closed and holds values.
fn index_audit_values(txn: &WriteTransaction, conflict: &ConflictRecord) -> StoreResult<()> {
    let mut index = txn
        .open_table(AUDIT_VALUES)
        .map_err(storage("index audit values"))?;
    let (integration, order) = audit_values_key(conflict);
    if conflict.status == ConflictStatus::Closed && conflict.holds_values() {
        index
            .insert((integration.as_str(), order.as_str()), conflict.id.as_str())
            .map_err(storage("index audit values"))?;
    } else {
        index
            .remove((integration.as_str(), order.as_str()))
            .map_err(storage("index audit values"))?;
    }
    Ok(())
}

/// Maps a redb error to a permanent store error naming the operation.
fn storage<E: Display>(operation: &'static str) -> impl FnOnce(E) -> StoreError {
    move |e| StoreError::Permanent(format!("embedded store: {operation}: {e}"))
}

fn link_key(side: Side, record_id: &str) -> String {
    format!("{}#{record_id}", side.as_str())
}

fn watermark_key(integration: &str, side: Side) -> String {
    format!("watermark#{integration}#{}", side.as_str())
}

fn pair_key(pair_id: &str) -> String {
    format!("pair#{pair_id}")
}

fn lease_key(key: &str) -> String {
    format!("lease#{key}")
}

fn conflict_key(id: &str) -> String {
    format!("conflict#{id}")
}

fn run_key(run_id: &str) -> String {
    format!("run#{run_id}")
}

fn checkpoint_key(integration: &str) -> String {
    format!("poll-checkpoint#{integration}")
}

/// Decodes a stored value. serde_json's messages may quote the offending value (personal data),
/// so the error keeps only the category and position.
fn decode<T: DeserializeOwned>(key: &str, bytes: &[u8]) -> StoreResult<T> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        key: key.to_string(),
        message: format!(
            "undecodable JSON ({:?} error at line {} column {})",
            e.classify(),
            e.line(),
            e.column()
        ),
    })
}

fn encode<T: Serialize>(key: &str, value: &T) -> StoreResult<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| {
        StoreError::Permanent(format!(
            "embedded store: cannot encode {key} ({:?} error)",
            e.classify()
        ))
    })
}

/// Reads and decodes the value under `key`; `label` names it in errors.
fn get_json<T: DeserializeOwned>(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
    key: &str,
    label: &str,
) -> StoreResult<Option<T>> {
    match table.get(key).map_err(storage("read"))? {
        Some(guard) => decode(label, guard.value()).map(Some),
        None => Ok(None),
    }
}

fn put_json<T: Serialize>(
    table: &mut Table<'_, &'static str, &'static [u8]>,
    key: &str,
    value: &T,
) -> StoreResult<()> {
    let bytes = encode(key, value)?;
    table
        .insert(key, bytes.as_slice())
        .map_err(storage("write"))?;
    Ok(())
}

/// The first id of `pair` already linked to another pair, as a `LinkTaken` outcome.
fn taken_link(
    links: &impl ReadableTable<&'static str, &'static [u8]>,
    pair: &Pair,
) -> StoreResult<Option<SaveOutcome>> {
    for (side, record_id) in record_ids(pair) {
        let key = link_key(side, record_id);
        if let Some(owner) = get_json::<String>(links, &key, &key)?
            && owner != pair.pair_id
        {
            return Ok(Some(SaveOutcome::LinkTaken {
                side,
                record_id: record_id.to_string(),
                pair_id: owner,
            }));
        }
    }
    Ok(None)
}

/// Links every id of `pair` not linked yet (call after [`taken_link`] found none taken).
fn add_links(links: &mut Table<'_, &'static str, &'static [u8]>, pair: &Pair) -> StoreResult<()> {
    for (side, record_id) in record_ids(pair) {
        let key = link_key(side, record_id);
        if get_json::<String>(links, &key, &key)?.is_none() {
            put_json(links, &key, &pair.pair_id)?;
        }
    }
    Ok(())
}

/// Keeps the pending index in step with the pair's status (same transaction as the pair write).
fn index_pending(pending: &mut Table<'_, &'static str, ()>, pair: &Pair) -> StoreResult<()> {
    if pair.status == PairStatus::Pending {
        pending
            .insert(pair.pair_id.as_str(), ())
            .map_err(storage("index pending"))?;
    } else {
        pending
            .remove(pair.pair_id.as_str())
            .map_err(storage("index pending"))?;
    }
    Ok(())
}

/// The tables a pair write touches, open in one write transaction.
struct PairTables<'t> {
    pairs: Table<'t, &'static str, &'static [u8]>,
    links: Table<'t, &'static str, &'static [u8]>,
    pending: Table<'t, &'static str, ()>,
}

impl<'t> PairTables<'t> {
    fn open(txn: &'t WriteTransaction, operation: &'static str) -> StoreResult<PairTables<'t>> {
        Ok(PairTables {
            pairs: txn.open_table(PAIRS).map_err(storage(operation))?,
            links: txn.open_table(LINKS).map_err(storage(operation))?,
            pending: txn.open_table(PENDING_PAIRS).map_err(storage(operation))?,
        })
    }

    /// `create_pair`'s rule (version checked by the caller); writes only when `Saved`.
    fn create(&mut self, pair: &Pair) -> StoreResult<SaveOutcome> {
        if self
            .pairs
            .get(pair.pair_id.as_str())
            .map_err(storage("create_pair"))?
            .is_some()
        {
            return Ok(SaveOutcome::AlreadyExists);
        }
        if let Some(taken) = taken_link(&self.links, pair)? {
            return Ok(taken);
        }
        add_links(&mut self.links, pair)?;
        put_json(&mut self.pairs, &pair.pair_id, pair)?;
        index_pending(&mut self.pending, pair)?;
        Ok(SaveOutcome::Saved)
    }

    /// `save_pair`'s compare-and-set rule; writes only when `Saved`.
    fn save(&mut self, pair: &Pair, expected_version: u64) -> StoreResult<SaveOutcome> {
        let stored: Option<Pair> = get_json(&self.pairs, &pair.pair_id, &pair_key(&pair.pair_id))?;
        if stored.map(|stored| stored.version) != Some(expected_version) {
            return Ok(SaveOutcome::VersionMismatch);
        }
        if let Some(taken) = taken_link(&self.links, pair)? {
            return Ok(taken);
        }
        add_links(&mut self.links, pair)?;
        let mut pair = pair.clone();
        pair.version = expected_version + 1;
        put_json(&mut self.pairs, &pair.pair_id, &pair)?;
        index_pending(&mut self.pending, &pair)?;
        Ok(SaveOutcome::Saved)
    }
}

/// The lease rule of `acquire_lease_free_since`; true (and written) when taken.
fn take_lease(
    leases: &mut Table<'_, &'static str, &'static [u8]>,
    key: &str,
    owner: &str,
    (free_since, now, ttl): (DateTime<Utc>, DateTime<Utc>, chrono::Duration),
) -> StoreResult<bool> {
    let held: Option<Lease> = get_json(leases, key, &lease_key(key))?;
    let held = held
        .as_ref()
        .map(|lease| (lease.owner.as_str(), lease.expires_at));
    if !lease_available(held, owner, free_since) {
        return Ok(false);
    }
    let lease = Lease {
        owner: owner.to_string(),
        expires_at: now + ttl,
    };
    put_json(leases, key, &lease)?;
    Ok(true)
}

/// Ends `owner`'s lease at `now`; true when it wrote (the lease was `owner`'s).
fn end_lease(
    leases: &mut Table<'_, &'static str, &'static [u8]>,
    key: &str,
    owner: &str,
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    let held: Option<Lease> = get_json(leases, key, &lease_key(key))?;
    let Some(mut lease) = held.filter(|lease| lease.owner == owner) else {
        return Ok(false);
    };
    // Kept, ended now: a reader from before now must not take it as never held.
    lease.expires_at = now;
    put_json(leases, key, &lease)?;
    Ok(true)
}

/// Records `conflict` unless its id is known; true when it wrote.
fn add_conflict(txn: &WriteTransaction, conflict: &ConflictRecord) -> StoreResult<bool> {
    let mut conflicts = txn
        .open_table(CONFLICTS)
        .map_err(storage("record_conflict"))?;
    if conflicts
        .get(conflict.id.as_str())
        .map_err(storage("record_conflict"))?
        .is_some()
    {
        return Ok(false);
    }
    put_json(&mut conflicts, &conflict.id, conflict)?;
    let mut index = txn
        .open_table(CONFLICTS_BY_INTEGRATION)
        .map_err(storage("record_conflict"))?;
    index
        .insert((conflict.integration.as_str(), conflict.id.as_str()), ())
        .map_err(storage("record_conflict"))?;
    index_audit_values(txn, conflict)?;
    Ok(true)
}

/// Commits when anything was written, aborts otherwise.
fn finish<T>(wrote: bool, value: T) -> Finish<T> {
    if wrote {
        Finish::Commit(value)
    } else {
        Finish::Rollback(value)
    }
}

/// The ids listed under `integration` in an index keyed `(integration, id)`.
fn indexed_ids(
    index: &impl ReadableTable<(&'static str, &'static str), ()>,
    integration: &str,
) -> StoreResult<Vec<String>> {
    let mut ids = Vec::new();
    for entry in index
        .range((integration, "")..)
        .map_err(storage("read index"))?
    {
        let (key, _) = entry.map_err(storage("read index"))?;
        let (owner, id) = key.value();
        if owner != integration {
            break;
        }
        ids.push(id.to_string());
    }
    Ok(ids)
}

/// Reads the records an index lists; an index entry without its record is corruption.
fn indexed_records<T: DeserializeOwned>(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
    ids: &[String],
    label: fn(&str) -> String,
) -> StoreResult<Vec<T>> {
    ids.iter()
        .map(|id| {
            let key = label(id);
            get_json(table, id, &key)?.ok_or_else(|| StoreError::Corrupt {
                key,
                message: "listed in an index but missing".to_string(),
            })
        })
        .collect()
}

#[async_trait]
impl SyncStore for EmbeddedStore {
    async fn watermark(&self, integration: &str, side: Side) -> StoreResult<Option<Watermark>> {
        let integration = integration.to_string();
        self.read("watermark", move |txn| {
            let table = txn.open_table(WATERMARKS).map_err(storage("watermark"))?;
            let key = watermark_key(&integration, side);
            match table
                .get((integration.as_str(), side.as_str()))
                .map_err(storage("watermark"))?
            {
                Some(guard) => decode(&key, guard.value()).map(Some),
                None => Ok(None),
            }
        })
        .await
    }

    async fn advance_watermark(
        &self,
        integration: &str,
        side: Side,
        watermark: &Watermark,
    ) -> StoreResult<bool> {
        let integration = integration.to_string();
        let watermark = watermark.clone();
        self.write("advance_watermark", move |txn| {
            let mut table = txn
                .open_table(WATERMARKS)
                .map_err(storage("advance_watermark"))?;
            let key = watermark_key(&integration, side);
            let row = (integration.as_str(), side.as_str());
            let stored: Option<Watermark> = match table.get(row).map_err(storage("watermark"))? {
                Some(guard) => Some(decode(&key, guard.value())?),
                None => None,
            };
            if stored.is_some_and(|stored| watermark <= stored) {
                return Ok(Finish::Rollback(false));
            }
            let bytes = encode(&key, &watermark)?;
            table
                .insert(row, bytes.as_slice())
                .map_err(storage("advance_watermark"))?;
            Ok(Finish::Commit(true))
        })
        .await
    }

    async fn pair(&self, pair_id: &str) -> StoreResult<Option<Pair>> {
        let pair_id = pair_id.to_string();
        self.read("pair", move |txn| {
            let pairs = txn.open_table(PAIRS).map_err(storage("pair"))?;
            get_json(&pairs, &pair_id, &pair_key(&pair_id))
        })
        .await
    }

    async fn pairs(&self, pair_ids: &[String]) -> StoreResult<Vec<Pair>> {
        let pair_ids = pair_ids.to_vec();
        self.read("pairs", move |txn| {
            let pairs = txn.open_table(PAIRS).map_err(storage("pairs"))?;
            let mut found = Vec::with_capacity(pair_ids.len());
            for pair_id in &pair_ids {
                if let Some(pair) = get_json(&pairs, pair_id, &pair_key(pair_id))? {
                    found.push(pair);
                }
            }
            Ok(found)
        })
        .await
    }

    async fn pending_pairs(&self, limit: usize) -> StoreResult<Vec<Pair>> {
        self.read("pending_pairs", move |txn| {
            let pending = txn
                .open_table(PENDING_PAIRS)
                .map_err(storage("pending_pairs"))?;
            let mut ids = Vec::new();
            for entry in pending
                .iter()
                .map_err(storage("pending_pairs"))?
                .take(limit)
            {
                let (key, _) = entry.map_err(storage("pending_pairs"))?;
                ids.push(key.value().to_string());
            }
            let pairs = txn.open_table(PAIRS).map_err(storage("pending_pairs"))?;
            indexed_records(&pairs, &ids, pair_key)
        })
        .await
    }

    async fn links(
        &self,
        side: Side,
        record_ids: &[String],
    ) -> StoreResult<HashMap<String, String>> {
        let record_ids = record_ids.to_vec();
        self.read("links", move |txn| {
            let links = txn.open_table(LINKS).map_err(storage("links"))?;
            let mut found = HashMap::new();
            for record_id in record_ids {
                let key = link_key(side, &record_id);
                if let Some(pair_id) = get_json::<String>(&links, &key, &key)? {
                    found.insert(record_id, pair_id);
                }
            }
            Ok(found)
        })
        .await
    }

    async fn create_pair(&self, pair: &Pair) -> StoreResult<SaveOutcome> {
        check_new_version(pair)?;
        let pair = pair.clone();
        self.write("create_pair", move |txn| {
            let outcome = PairTables::open(txn, "create_pair")?.create(&pair)?;
            Ok(finish(outcome == SaveOutcome::Saved, outcome))
        })
        .await
    }

    async fn save_pair(&self, pair: &Pair, expected_version: u64) -> StoreResult<SaveOutcome> {
        let pair = pair.clone();
        self.write("save_pair", move |txn| {
            let outcome = PairTables::open(txn, "save_pair")?.save(&pair, expected_version)?;
            Ok(finish(outcome == SaveOutcome::Saved, outcome))
        })
        .await
    }

    async fn create_pairs(&self, pairs: &[Pair]) -> StoreResult<Vec<SaveOutcome>> {
        if pairs.is_empty() {
            return Ok(Vec::new());
        }
        // A wrong version is a caller bug: refused before anything is written.
        pairs.iter().try_for_each(check_new_version)?;
        let pairs = pairs.to_vec();
        self.write("create_pairs", move |txn| {
            let mut tables = PairTables::open(txn, "create_pairs")?;
            let outcomes = pairs
                .iter()
                .map(|pair| tables.create(pair))
                .collect::<StoreResult<Vec<_>>>()?;
            let wrote = outcomes.contains(&SaveOutcome::Saved);
            Ok(finish(wrote, outcomes))
        })
        .await
    }

    async fn save_pairs(&self, saves: &[(Pair, u64)]) -> StoreResult<Vec<SaveOutcome>> {
        if saves.is_empty() {
            return Ok(Vec::new());
        }
        let saves = saves.to_vec();
        self.write("save_pairs", move |txn| {
            let mut tables = PairTables::open(txn, "save_pairs")?;
            let outcomes = saves
                .iter()
                .map(|(pair, expected)| tables.save(pair, *expected))
                .collect::<StoreResult<Vec<_>>>()?;
            let wrote = outcomes.contains(&SaveOutcome::Saved);
            Ok(finish(wrote, outcomes))
        })
        .await
    }

    async fn acquire_lease_free_since(
        &self,
        key: &str,
        owner: &str,
        free_since: DateTime<Utc>,
        now: DateTime<Utc>,
        ttl: chrono::Duration,
    ) -> StoreResult<bool> {
        let key = key.to_string();
        let owner = owner.to_string();
        self.write_with("acquire_lease", Durability::None, move |txn| {
            let mut leases = txn.open_table(LEASES).map_err(storage("acquire_lease"))?;
            let taken = take_lease(&mut leases, &key, &owner, (free_since, now, ttl))?;
            Ok(finish(taken, taken))
        })
        .await
    }

    async fn release_lease(&self, key: &str, owner: &str, now: DateTime<Utc>) -> StoreResult<()> {
        let key = key.to_string();
        let owner = owner.to_string();
        self.write_with("release_lease", Durability::None, move |txn| {
            let mut leases = txn.open_table(LEASES).map_err(storage("release_lease"))?;
            let wrote = end_lease(&mut leases, &key, &owner, now)?;
            Ok(finish(wrote, ()))
        })
        .await
    }

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
        let keys = keys.to_vec();
        let owner = owner.to_string();
        self.write_with("acquire_leases", Durability::None, move |txn| {
            let mut leases = txn.open_table(LEASES).map_err(storage("acquire_leases"))?;
            let taken = keys
                .iter()
                .map(|key| take_lease(&mut leases, key, &owner, (free_since, now, ttl)))
                .collect::<StoreResult<Vec<bool>>>()?;
            let wrote = taken.contains(&true);
            Ok(finish(wrote, taken))
        })
        .await
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
        let keys = keys.to_vec();
        let owner = owner.to_string();
        self.write_with("release_leases", Durability::None, move |txn| {
            let mut leases = txn.open_table(LEASES).map_err(storage("release_leases"))?;
            let mut wrote = false;
            for key in &keys {
                wrote |= end_lease(&mut leases, key, &owner, now)?;
            }
            Ok(finish(wrote, ()))
        })
        .await
    }

    async fn record_conflict(&self, conflict: &ConflictRecord) -> StoreResult<()> {
        let conflict = conflict.clone();
        self.write("record_conflict", move |txn| {
            let wrote = add_conflict(txn, &conflict)?;
            Ok(finish(wrote, ()))
        })
        .await
    }

    async fn record_conflicts(&self, conflicts: &[ConflictRecord]) -> StoreResult<()> {
        if conflicts.is_empty() {
            return Ok(());
        }
        let conflicts = conflicts.to_vec();
        self.write("record_conflicts", move |txn| {
            let mut wrote = false;
            for conflict in &conflicts {
                wrote |= add_conflict(txn, conflict)?;
            }
            Ok(finish(wrote, ()))
        })
        .await
    }

    async fn conflicts(
        &self,
        integration: &str,
        open_only: bool,
    ) -> StoreResult<Vec<ConflictRecord>> {
        let integration = integration.to_string();
        self.read("conflicts", move |txn| {
            let index = txn
                .open_table(CONFLICTS_BY_INTEGRATION)
                .map_err(storage("conflicts"))?;
            let conflicts = txn.open_table(CONFLICTS).map_err(storage("conflicts"))?;
            let ids = indexed_ids(&index, &integration)?;
            let mut found: Vec<ConflictRecord> = indexed_records(&conflicts, &ids, conflict_key)?;
            found.retain(|c| !open_only || c.status == ConflictStatus::Open);
            newest_conflicts_first(&mut found);
            Ok(found)
        })
        .await
    }

    async fn conflict(&self, id: &str) -> StoreResult<Option<ConflictRecord>> {
        let id = id.to_string();
        self.read("conflict", move |txn| {
            let conflicts = txn.open_table(CONFLICTS).map_err(storage("conflict"))?;
            get_json::<ConflictRecord>(&conflicts, &id, &conflict_key(&id))
        })
        .await
    }

    async fn close_conflict(&self, id: &str) -> StoreResult<bool> {
        let id = id.to_string();
        self.write("close_conflict", move |txn| {
            let mut conflicts = txn
                .open_table(CONFLICTS)
                .map_err(storage("close_conflict"))?;
            let key = conflict_key(&id);
            let Some(mut conflict) = get_json::<ConflictRecord>(&conflicts, &id, &key)? else {
                return Ok(Finish::Rollback(false));
            };
            if conflict.status != ConflictStatus::Open {
                return Ok(Finish::Rollback(false));
            }
            conflict.status = ConflictStatus::Closed;
            put_json(&mut conflicts, &id, &conflict)?;
            index_audit_values(txn, &conflict)?;
            Ok(Finish::Commit(true))
        })
        .await
    }

    async fn record_run(&self, run: &RunRecord) -> StoreResult<()> {
        let run = run.clone();
        self.write("record_run", move |txn| {
            let mut runs = txn.open_table(RUNS).map_err(storage("record_run"))?;
            let mut index = txn
                .open_table(RUNS_BY_INTEGRATION)
                .map_err(storage("record_run"))?;
            // A run recorded again replaces the earlier record (start, then finish).
            let previous: Option<RunRecord> = get_json(&runs, &run.run_id, &run_key(&run.run_id))?;
            if let Some(previous) = previous
                && previous.integration != run.integration
            {
                index
                    .remove((previous.integration.as_str(), run.run_id.as_str()))
                    .map_err(storage("record_run"))?;
            }
            put_json(&mut runs, &run.run_id, &run)?;
            index
                .insert((run.integration.as_str(), run.run_id.as_str()), ())
                .map_err(storage("record_run"))?;
            Ok(Finish::Commit(()))
        })
        .await
    }

    async fn runs(&self, integration: &str, limit: usize) -> StoreResult<Vec<RunRecord>> {
        let integration = integration.to_string();
        self.read("runs", move |txn| {
            let index = txn
                .open_table(RUNS_BY_INTEGRATION)
                .map_err(storage("runs"))?;
            let runs = txn.open_table(RUNS).map_err(storage("runs"))?;
            let ids = indexed_ids(&index, &integration)?;
            let mut found: Vec<RunRecord> = indexed_records(&runs, &ids, run_key)?;
            newest_runs_first(&mut found);
            found.truncate(limit);
            Ok(found)
        })
        .await
    }

    async fn load_poll_checkpoint(&self, integration: &str) -> StoreResult<Option<PollCheckpoint>> {
        let integration = integration.to_string();
        self.read("load_poll_checkpoint", move |txn| {
            let table = txn
                .open_table(POLL_CHECKPOINTS)
                .map_err(storage("load_poll_checkpoint"))?;
            get_json(&table, &integration, &checkpoint_key(&integration))
        })
        .await
    }

    async fn save_poll_checkpoint(
        &self,
        checkpoint: &PollCheckpoint,
        expected_version: Option<u64>,
    ) -> StoreResult<CheckpointWrite> {
        checkpoint.state_json()?;
        let mut checkpoint = checkpoint.clone();
        self.write("save_poll_checkpoint", move |txn| {
            let mut table = txn
                .open_table(POLL_CHECKPOINTS)
                .map_err(storage("save_poll_checkpoint"))?;
            let key = checkpoint.integration.clone();
            let stored: Option<PollCheckpoint> = get_json(&table, &key, &checkpoint_key(&key))?;
            let stored = stored.as_ref().map(|c| (c.poll_id.as_str(), c.version));
            if !PollCheckpoint::replaces(stored, &checkpoint.poll_id, expected_version) {
                return Ok(Finish::Rollback(CheckpointWrite::Superseded));
            }
            let version = expected_version.map_or(1, |v| v + 1);
            checkpoint.version = version;
            put_json(&mut table, &key, &checkpoint)?;
            Ok(Finish::Commit(CheckpointWrite::Saved { version }))
        })
        .await
    }

    async fn clear_poll_checkpoint(
        &self,
        integration: &str,
        poll_id: &str,
        version: u64,
    ) -> StoreResult<bool> {
        let integration = integration.to_string();
        let poll_id = poll_id.to_string();
        self.write("clear_poll_checkpoint", move |txn| {
            let mut table = txn
                .open_table(POLL_CHECKPOINTS)
                .map_err(storage("clear_poll_checkpoint"))?;
            let stored: Option<PollCheckpoint> =
                get_json(&table, &integration, &checkpoint_key(&integration))?;
            if !stored.is_some_and(|c| c.poll_id == poll_id && c.version == version) {
                return Ok(Finish::Rollback(false));
            }
            table
                .remove(integration.as_str())
                .map_err(storage("clear_poll_checkpoint"))?;
            Ok(Finish::Commit(true))
        })
        .await
    }

    async fn bulk_limit(&self, integration: &str, side: Side) -> StoreResult<Option<u64>> {
        let integration = integration.to_string();
        self.read("bulk_limit", move |txn| {
            let table = txn.open_table(BULK_LIMITS).map_err(storage("bulk_limit"))?;
            Ok(table
                .get((integration.as_str(), side.as_str()))
                .map_err(storage("bulk_limit"))?
                .map(|guard| guard.value()))
        })
        .await
    }

    async fn lower_bulk_limit(
        &self,
        integration: &str,
        side: Side,
        limit: u64,
    ) -> StoreResult<bool> {
        let integration = integration.to_string();
        let limit = limit.max(1);
        self.write("lower_bulk_limit", move |txn| {
            let mut table = txn
                .open_table(BULK_LIMITS)
                .map_err(storage("lower_bulk_limit"))?;
            let row = (integration.as_str(), side.as_str());
            let stored = table
                .get(row)
                .map_err(storage("lower_bulk_limit"))?
                .map(|guard| guard.value());
            if stored.is_some_and(|stored| stored <= limit) {
                return Ok(Finish::Rollback(false));
            }
            table
                .insert(row, limit)
                .map_err(storage("lower_bulk_limit"))?;
            Ok(Finish::Commit(true))
        })
        .await
    }

    async fn drop_audit_values(
        &self,
        integration: &str,
        before: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<usize> {
        let integration = integration.to_string();
        let bound = before.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        self.write("drop_audit_values", move |txn| {
            let mut due = Vec::new();
            {
                let index = txn
                    .open_table(AUDIT_VALUES)
                    .map_err(storage("drop_audit_values"))?;
                let range = index
                    .range((integration.as_str(), "")..(integration.as_str(), bound.as_str()))
                    .map_err(storage("drop_audit_values"))?;
                for entry in range.take(limit) {
                    let (_, id) = entry.map_err(storage("drop_audit_values"))?;
                    due.push(id.value().to_string());
                }
            }
            if due.is_empty() {
                return Ok(Finish::Rollback(0));
            }
            let mut conflicts = txn
                .open_table(CONFLICTS)
                .map_err(storage("drop_audit_values"))?;
            for id in &due {
                let key = conflict_key(id);
                let mut conflict: ConflictRecord =
                    get_json(&conflicts, id, &key)?.ok_or_else(|| StoreError::Corrupt {
                        key,
                        message: "listed in the audit values index but missing".to_string(),
                    })?;
                conflict.drop_values();
                put_json(&mut conflicts, id, &conflict)?;
                index_audit_values(txn, &conflict)?;
            }
            Ok(Finish::Commit(due.len()))
        })
        .await
    }

    async fn erase_conflict_values(
        &self,
        integration: &str,
        subject: &ErasureSubject,
    ) -> StoreResult<ErasedConflicts> {
        let integration = integration.to_string();
        let subject = subject.clone();
        self.write("erase_conflict_values", move |txn| {
            let ids = {
                let index = txn
                    .open_table(CONFLICTS_BY_INTEGRATION)
                    .map_err(storage("erase_conflict_values"))?;
                indexed_ids(&index, &integration)?
            };
            let mut conflicts = txn
                .open_table(CONFLICTS)
                .map_err(storage("erase_conflict_values"))?;
            let mut done = ErasedConflicts::default();
            for id in ids {
                let key = conflict_key(&id);
                let Some(mut conflict) = get_json::<ConflictRecord>(&conflicts, &id, &key)? else {
                    continue;
                };
                if !conflict.is_about(&subject) {
                    continue;
                }
                done.found += 1;
                if conflict.drop_values() {
                    done.erased += 1;
                    put_json(&mut conflicts, &id, &conflict)?;
                    index_audit_values(txn, &conflict)?;
                }
            }
            Ok(if done.erased > 0 {
                Finish::Commit(done)
            } else {
                Finish::Rollback(done)
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn the_store_creates_its_directories_and_file_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        // GIVEN a state directory that does not exist yet, two levels deep
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("state").join("nested");
        let file = dir.join("state.redb");
        // WHEN the store is opened there
        EmbeddedStore::open(&file).unwrap();
        // THEN every directory it created is 0700 and the file 0600, whatever the umask
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&root.path().join("state")), 0o700);
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&file), 0o600);
        // AND opening it again keeps it (a reopened store is the same database)
        drop(EmbeddedStore::open(&file).unwrap());
        assert_eq!(mode(&file), 0o600);
    }

    #[tokio::test]
    async fn a_file_from_before_the_audit_values_index_is_indexed_once_on_open() {
        // GIVEN a store file holding a closed entry with values, as an older build left it:
        // no audit values index entry and no upgrade marker
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sync.redb");
        let entry = ConflictRecord {
            id: "c1".into(),
            integration: "acme".into(),
            run_id: "run-1".into(),
            pair_id: Some("p1".into()),
            sf_id: None,
            gz_id: None,
            field: "email".into(),
            policy: "newest_wins".into(),
            kind: crate::store::ConflictKind::Chosen,
            status: ConflictStatus::Closed,
            base_value: Some("old@example.com".into()),
            salesforce_value: None,
            genesys_value: None,
            at: Utc::now() - chrono::Duration::days(100),
        };
        {
            let store = EmbeddedStore::open(&file).unwrap();
            store.record_conflict(&entry).await.unwrap();
            let txn = store.db.begin_write().unwrap();
            {
                let mut index = txn.open_table(AUDIT_VALUES).unwrap();
                index.retain(|_, _| false).unwrap();
                let mut upgrades = txn.open_table(UPGRADES).unwrap();
                upgrades.remove("audit_values_indexed").unwrap();
            }
            txn.commit().unwrap();
            // (the older file's state: nothing to drop)
            assert_eq!(
                store
                    .drop_audit_values("acme", Utc::now(), 10)
                    .await
                    .unwrap(),
                0
            );
        }
        // WHEN this build opens it
        let store = EmbeddedStore::open(&file).unwrap();
        // THEN the entry is indexed, so its values are dropped like any other's
        assert_eq!(
            store
                .drop_audit_values("acme", Utc::now(), 10)
                .await
                .unwrap(),
            1
        );
        let stored = store.conflict("c1").await.unwrap().unwrap();
        assert!(!stored.holds_values());
    }

    #[tokio::test]
    async fn undecodable_pair_is_corrupt_without_quoting_the_value() {
        // GIVEN a pair row holding bytes that are not a pair
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(&dir.path().join("sync.redb")).unwrap();
        let txn = store.db.begin_write().unwrap();
        {
            let mut pairs = txn.open_table(PAIRS).unwrap();
            pairs
                .insert("p1", br#"{"pair_id": "secret-ada@example.com"}"#.as_slice())
                .unwrap();
        }
        txn.commit().unwrap();
        // WHEN it is read
        let error = store.pair("p1").await.unwrap_err();
        // THEN the error is Corrupt, names the key, and does not quote the stored value
        match &error {
            StoreError::Corrupt { key, .. } => assert_eq!(key, "pair#p1"),
            other => panic!("expected Corrupt, got {other:?}"),
        }
        assert!(!error.to_string().contains("ada@example.com"), "{error}");
    }
}
