//! [`SyncStore`] on one DynamoDB table (layout: [`crate::table`]).
//!
//! How each part of the port's contract holds on DynamoDB:
//! - **Watermarks only move forward**: a conditional `PutItem` whose condition compares the
//!   stored `(stamp, last_id)` with the new one (stamps as fixed-width strings). The store
//!   remembers the newest watermark it has read or written per key; since a stored watermark
//!   never moves back, one not after that is answered `false` without a request (a failed
//!   condition would be charged a write unit for nothing: a quiet poll's case).
//! - **One pair per record**: `create_pair` is one `TransactWriteItems` — the pair put
//!   (`attribute_not_exists`) and one conditional put per link (`attribute_not_exists(pk) OR
//!   pair_id = :me`) — so a pair and its links land together or not at all, and two workers
//!   can never link one record to two pairs. `save_pair` first tries a plain `PutItem` of the
//!   pair whose condition also requires the stored pair to hold the same record ids: their
//!   links were written with them (by the transaction that added them) and links are never
//!   removed, so there is nothing to link. When that condition fails, the failed put returns
//!   the stored item: another version is a `VersionMismatch`; other ids (a first create's id,
//!   a merge survivor) make the save the transaction above, with `version = :expected`, and
//!   link puts for the new ids only. A changed pair costs one write unit instead of six.
//! - **Leases**: a conditional `PutItem` (never held, held by nobody else since `free_since`,
//!   or ours) and a conditional `UpdateItem` (ours) that sets the end (`expires_ms`) to the
//!   release time and keeps the item for [`ENDED_LEASE_RETENTION`] (TTL). The end is compared
//!   on every acquire: DynamoDB's TTL deletes items only eventually, moto never.
//! - **Conflicts**: `attribute_not_exists` put (idempotent by id); closing is a conditional
//!   update that also drops the item from the sparse `open_items` index.
//! - **Poll checkpoints** may be larger than one item (the port allows 4 MiB of state), so a
//!   checkpoint is a header item `INT#{integration}` / `POLL#CHECKPOINT` (poll id, version, a
//!   random `nonce`, chunk count) and its state in chunk items `INT#{integration}` /
//!   `POLL#CHUNK#{nonce}#{n}` of at most 256 KiB each (far under the 400 KB item limit). A save
//!   writes new chunks under a fresh nonce, then flips the header with one conditional `PutItem`
//!   (`poll_id = :poll AND version = :expected`, or `attribute_not_exists`): that put is the
//!   compare-and-set, and chunks of a losing or crashed save are never referenced (deleted
//!   after the fact, and by TTL after 7 days otherwise). A load reads the header, then the
//!   chunks its nonce names (consistent reads); chunks replaced meanwhile make it read again.
//!   Only `GetItem`, `PutItem`, `DeleteItem` and `Query` on the table: the poller's policy.
//! - **Bulk limits only go down**: a conditional `PutItem` of `INT#{integration}` /
//!   `BULK#{side}` with a number `records` (`attribute_not_exists(pk) OR records > :new`).
//! - **Batch writes** (`create_pairs`, `save_pairs`, `acquire_leases_free_since`,
//!   `release_leases`, `record_conflicts`; [`batch`]): the same conditional puts and updates as
//!   the single calls, many entries per `TransactWriteItems` (cut as [`crate::transaction`]
//!   says: ≤ 100 actions, ≤ 4 MB, no item twice, in order). A cancelled transaction's
//!   `CancellationReasons` answer the refused entries; the rest are sent again. A batch save
//!   plans its link puts from the pairs this store last created, saved or read at the expected
//!   version, and reads only the others first. A batch of one makes the single call (a
//!   transactional write costs twice the write units).
//! - Batch reads (`pairs`, `links`) use `BatchGetItem` (100 keys a request, unprocessed keys
//!   retried) with consistent reads; listings query the indexes (eventually consistent on
//!   DynamoDB: a just-written run or conflict may show up a moment later).
//!
//! `Pair`, `ConflictRecord` and `RunRecord` are stored as whole documents through serde
//! (`serde_dynamo`), so fields added to them later are stored without touching this file.
//! A lost condition is an outcome (`false`, `VersionMismatch`, `LinkTaken`...), never an error.
//! Errors carry keys and the service's error codes, never stored values.

mod batch;

use crate::table::{self, LISTING_INDEX, LISTING_PK, LISTING_SK, OPEN_INDEX, OPEN_PK, OPEN_SK};
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{
    AttributeValue, KeysAndAttributes, Put, ReturnValue, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem,
};
use chrono::{DateTime, Duration, Utc};
use contact_sync_engine::Side;
use contact_sync_pipeline::store::{
    CheckpointWrite, ConflictRecord, ConflictStatus, ENDED_LEASE_RETENTION, ErasedConflicts,
    ErasureSubject, Pair, PairStatus, PollCheckpoint, RunRecord, SaveOutcome, StoreError,
    StoreResult, SyncStore,
};
use contact_sync_pipeline::system::Watermark;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

type Item = HashMap<String, AttributeValue>;

/// Keys per `BatchGetItem` request (the service's limit).
const BATCH_GET_KEYS: usize = 100;
/// Attempts for a batch read with unprocessed keys, or a transaction that lost to another
/// transaction on the same items, before giving up with a retryable error.
const ATTEMPTS: u32 = 8;

/// The DynamoDB store. Cheap to clone (the SDK client and the watermarks seen are shared).
#[derive(Clone, Debug)]
pub struct DynamoDbStore {
    client: Client,
    table: String,
    run_retention: Duration,
    /// The newest watermark read or written per (integration, side): the stored one is at
    /// least this (watermarks only move forward).
    seen_watermarks: Arc<Mutex<HashMap<(String, Side), Watermark>>>,
    /// The record ids of pairs at the version this store last read or wrote them (see
    /// [`KnownPair`]): lets a batch save skip reading pairs it has just created or read.
    known_pairs: Arc<Mutex<HashMap<String, KnownPair>>>,
}

/// A pair's record ids at one version. A version of a pair is written once (creation is
/// version 1 only once, every save compare-and-sets `version + 1`, pairs are never deleted), so
/// this stays true of that version forever: a batch save expecting `version` may plan its link
/// puts from it, and its version condition refuses it if the pair has moved on.
#[derive(Debug, Clone, PartialEq, Eq)]
struct KnownPair {
    version: u64,
    sf_id: Option<String>,
    gz_id: Option<String>,
}

impl KnownPair {
    fn of(pair: &Pair) -> KnownPair {
        KnownPair {
            version: pair.version,
            sf_id: pair.sf_id.clone(),
            gz_id: pair.gz_id.clone(),
        }
    }
}

/// At most this many known pairs are kept (then the memory is cleared and refilled).
const KNOWN_PAIRS: usize = 20_000;

impl DynamoDbStore {
    /// A store on `table`. Run records are kept 90 days after their last write (TTL).
    pub fn new(client: Client, table: impl Into<String>) -> DynamoDbStore {
        DynamoDbStore {
            client,
            table: table.into(),
            run_retention: Duration::days(90),
            seen_watermarks: Arc::default(),
            known_pairs: Arc::default(),
        }
    }

    /// Notes the record ids of `pair` at its version (read or written).
    fn know_pair(&self, pair: &Pair) {
        let mut known = self.known_pairs.lock().unwrap_or_else(|p| p.into_inner());
        if known.len() >= KNOWN_PAIRS {
            known.clear();
        }
        known.insert(pair.pair_id.clone(), KnownPair::of(pair));
    }

    /// The record ids of pair `pair_id` at `version`, when this store knows them.
    fn known_pair(&self, pair_id: &str, version: u64) -> Option<KnownPair> {
        self.known_pairs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(pair_id)
            .filter(|k| k.version == version)
            .cloned()
    }

    /// Notes that the stored watermark of `(integration, side)` is at least `watermark`.
    fn saw_watermark(&self, integration: &str, side: Side, watermark: &Watermark) {
        let mut seen = self
            .seen_watermarks
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let entry = seen
            .entry((integration.to_string(), side))
            .or_insert_with(|| watermark.clone());
        if *entry < *watermark {
            *entry = watermark.clone();
        }
    }

    /// True when the stored watermark is known to be at or after `watermark`.
    fn watermark_not_after_seen(
        &self,
        integration: &str,
        side: Side,
        watermark: &Watermark,
    ) -> bool {
        self.seen_watermarks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(integration.to_string(), side))
            .is_some_and(|seen| watermark <= seen)
    }

    /// How long run records live after their last write before DynamoDB's TTL removes them.
    pub fn with_run_retention(mut self, retention: Duration) -> DynamoDbStore {
        self.run_retention = retention;
        self
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// A `PutItem` of `item` guarded by `condition` (in which `#pk` names the key attribute).
    fn put_if(
        &self,
        item: Item,
        condition: &str,
    ) -> aws_sdk_dynamodb::operation::put_item::builders::PutItemFluentBuilder {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition)
            .expression_attribute_names("#pk", table::PK)
    }

    async fn get(&self, (pk, sk): (String, String)) -> StoreResult<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(&pk, &sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify(&format!("GetItem {pk}"), e))?;
        Ok(out.item)
    }

    async fn get_doc<T: DeserializeOwned>(&self, k: (String, String)) -> StoreResult<Option<T>> {
        let label = k.0.clone();
        self.get(k)
            .await?
            .map(|item| decode(&label, item))
            .transpose()
    }

    /// Consistent batch read of `keys` (duplicates allowed); items in no particular order.
    async fn batch_get(&self, keys: Vec<(String, String)>) -> StoreResult<Vec<Item>> {
        let mut seen = HashSet::new();
        let unique: Vec<(String, String)> = keys
            .into_iter()
            .filter(|k| seen.insert(k.clone()))
            .collect();
        let mut found = Vec::with_capacity(unique.len());
        for chunk in unique.chunks(BATCH_GET_KEYS) {
            let mut pending: Vec<Item> = chunk.iter().map(|(pk, sk)| key(pk, sk)).collect();
            let mut attempt = 0;
            while !pending.is_empty() {
                if attempt == ATTEMPTS {
                    return Err(StoreError::Transient(format!(
                        "BatchGetItem: {} keys still unprocessed after {ATTEMPTS} attempts",
                        pending.len()
                    )));
                }
                backoff(attempt).await;
                attempt += 1;
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(pending))
                    .consistent_read(true)
                    .build()
                    .map_err(|e| StoreError::Permanent(format!("BatchGetItem request: {e}")))?;
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(|e| classify("BatchGetItem", e))?;
                if let Some(mut responses) = out.responses {
                    found.extend(responses.remove(&self.table).unwrap_or_default());
                }
                pending = out
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(&self.table))
                    .map(|k| k.keys)
                    .unwrap_or_default();
            }
        }
        Ok(found)
    }

    /// Every item of one index partition, in sort key order (`newest_first`: descending), at
    /// most `limit`.
    async fn query_index(
        &self,
        index: &str,
        (pk_attr, pk_value): (&str, String),
        newest_first: bool,
        limit: Option<usize>,
    ) -> StoreResult<Vec<Item>> {
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let remaining = limit.map(|l| l.saturating_sub(items.len()));
            if remaining == Some(0) {
                break;
            }
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(index)
                .key_condition_expression("#p = :p")
                .expression_attribute_names("#p", pk_attr)
                .expression_attribute_values(":p", s(&pk_value))
                .scan_index_forward(!newest_first)
                .set_limit(remaining.map(|r| r.min(1000) as i32))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| classify(&format!("Query {index} {pk_value}"), e))?;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        if let Some(limit) = limit {
            items.truncate(limit);
        }
        Ok(items)
    }

    /// Runs a write transaction; a cancellation caused only by competing transactions is
    /// retried, one caused by a failed condition is returned as the per-item reasons.
    async fn transact(&self, items: Vec<TransactWriteItem>) -> StoreResult<Transaction> {
        let mut attempt = 0;
        loop {
            backoff(attempt).await;
            attempt += 1;
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .send()
                .await;
            let error = match result {
                Ok(_) => return Ok(Transaction::Committed),
                Err(e) => e,
            };
            let reasons: Option<Vec<Cancellation>> = error
                .as_service_error()
                .and_then(|e| match e {
                    aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(c) => Some(c),
                    _ => None,
                })
                .map(|c| {
                    c.cancellation_reasons()
                        .iter()
                        .map(|r| Cancellation {
                            failed_condition: r.code() == Some("ConditionalCheckFailed"),
                            item: r.item().cloned(),
                        })
                        .collect()
                });
            match reasons {
                Some(reasons) if reasons.iter().any(|r| r.failed_condition) => {
                    return Ok(Transaction::Cancelled(reasons));
                }
                // Cancelled for another reason (TransactionConflict with a concurrent
                // transaction, throttling): try again.
                Some(_) if attempt < ATTEMPTS => continue,
                // The request itself refused (too many actions, too large): a batch splits it.
                None if error
                    .as_service_error()
                    .and_then(ProvideErrorMetadata::code)
                    == Some("ValidationException") =>
                {
                    return Ok(Transaction::Refused(classify("TransactWriteItems", error)));
                }
                _ if attempt < ATTEMPTS && is_retryable(&error) => continue,
                _ => return Err(classify("TransactWriteItems", error)),
            }
        }
    }

    /// Closes an open conflict that keeps values: it moves from the open items to its
    /// integration's audit values partition (same sort key) in one conditional update.
    async fn close_keeping_values(&self, stored: &ConflictRecord) -> StoreResult<bool> {
        let (pk, sk) = table::conflict_key(&stored.id);
        let open = serde_dynamo::aws_sdk_dynamodb_1::to_attribute_value(ConflictStatus::Open)
            .map_err(|e| StoreError::Permanent(format!("status: {e}")))?;
        let closed = serde_dynamo::aws_sdk_dynamodb_1::to_attribute_value(ConflictStatus::Closed)
            .map_err(|e| StoreError::Permanent(format!("status: {e}")))?;
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(&pk, &sk)))
            .condition_expression("#status = :open")
            .update_expression("SET #status = :closed, #open_pk = :values, #open_sk = :order")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#open_pk", OPEN_PK)
            .expression_attribute_names("#open_sk", OPEN_SK)
            .expression_attribute_values(":open", open)
            .expression_attribute_values(":closed", closed)
            .expression_attribute_values(":values", s(&table::audit_values(&stored.integration)))
            .expression_attribute_values(":order", s(&table::conflict_order(stored.at, &stored.id)))
            .send()
            .await;
        written(&format!("UpdateItem {pk}"), result)
    }

    /// Writes back a conflict whose values were dropped (only while it exists: never
    /// re-creates one); its index attributes follow from what it now is.
    async fn put_conflict_without_values(&self, conflict: &ConflictRecord) -> StoreResult<()> {
        let (pk, item) = conflict_item(conflict)?;
        let result = self.put_if(item, "attribute_exists(#pk)").send().await;
        written(&format!("PutItem {pk}"), result)?;
        Ok(())
    }

    /// The pair currently holding `record_id` on `side` (the reason a link put failed).
    async fn link_holder(
        &self,
        side: Side,
        record_id: &str,
        cancelled: Option<&Item>,
    ) -> StoreResult<SaveOutcome> {
        let holder = match cancelled.and_then(|item| string(item, "pair_id")) {
            Some(holder) => Some(holder),
            None => self
                .get(table::link_key(side, record_id))
                .await?
                .and_then(|item| string(&item, "pair_id")),
        };
        match holder {
            Some(pair_id) => Ok(SaveOutcome::LinkTaken {
                side,
                record_id: record_id.to_string(),
                pair_id,
            }),
            None => Err(StoreError::Transient(format!(
                "link {side} {record_id} refused but not found; retry"
            ))),
        }
    }

    /// The pair item and one link put per record id of `ids` (the pair's ids not linked to
    /// it yet), as one transaction. `pair_condition` guards the pair put; each link put
    /// succeeds when the link is free or already ours.
    async fn write_pair(
        &self,
        pair: &Pair,
        pair_condition: (&str, Vec<(&str, AttributeValue)>),
        on_pair_condition_failed: SaveOutcome,
        ids: Vec<(Side, &str)>,
    ) -> StoreResult<SaveOutcome> {
        let item = pair_item(pair)?;
        let (condition, values) = pair_condition;
        let mut pair_put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition)
            .expression_attribute_names("#pk", table::PK);
        if condition.contains("#version") {
            pair_put = pair_put.expression_attribute_names("#version", "version");
        }
        for (name, value) in values {
            pair_put = pair_put.expression_attribute_values(name, value);
        }
        let mut writes = vec![TransactWriteItem::builder().put(build(pair_put)?).build()];
        for (side, record_id) in &ids {
            writes.push(link_put(&self.table, &pair.pair_id, *side, record_id)?);
        }
        match self.transact(writes).await? {
            Transaction::Committed => Ok(SaveOutcome::Saved),
            Transaction::Refused(e) => Err(e),
            Transaction::Cancelled(reasons) => {
                if reasons.first().is_some_and(|r| r.failed_condition) {
                    return Ok(on_pair_condition_failed);
                }
                for (reason, (side, record_id)) in reasons.iter().skip(1).zip(&ids) {
                    if reason.failed_condition {
                        return self
                            .link_holder(*side, record_id, reason.item.as_ref())
                            .await;
                    }
                }
                Err(StoreError::Transient(format!(
                    "pair {}: transaction cancelled without a failed condition",
                    pair.pair_id
                )))
            }
        }
    }
}

impl DynamoDbStore {
    /// `save_pair` when the stored pair at `expected_version` holds the same record ids as
    /// `pair` (whose version is already `expected_version + 1`): one conditional `PutItem`, no
    /// link written (they exist: see the module documentation). When the condition fails,
    /// nothing was written and the stored item (returned by the failed put) says why.
    async fn put_pair_same_links(
        &self,
        pair: &Pair,
        expected_version: u64,
    ) -> StoreResult<SameLinks> {
        let mut condition = "attribute_exists(#pk) AND #version = :expected".to_string();
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(pair_item(pair)?))
            .expression_attribute_names("#pk", table::PK)
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":expected", n(expected_version))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        for (name, attribute, id) in [
            ("#sf", "sf_id", pair.sf_id.as_deref()),
            ("#gz", "gz_id", pair.gz_id.as_deref()),
        ] {
            put = put.expression_attribute_names(name, attribute);
            match id {
                Some(id) => {
                    let value = format!(":{}", &name[1..]);
                    condition.push_str(&format!(" AND {name} = {value}"));
                    put = put.expression_attribute_values(value, s(id));
                }
                // `None` is stored as NULL (serde_dynamo).
                None => {
                    condition.push_str(&format!(
                        " AND (attribute_not_exists({name}) OR attribute_type({name}, :null))"
                    ));
                    put = put.expression_attribute_values(":null", s("NULL"));
                }
            }
        }
        let label = format!("PutItem pair {}", pair.pair_id);
        let error = match put.condition_expression(condition).send().await {
            Ok(_) => return Ok(SameLinks::Saved),
            Err(e) => e,
        };
        let stored = match &error {
            SdkError::ServiceError(e) => match e.err() {
                aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(
                    failed,
                ) => Some(failed.item().cloned()),
                _ => None,
            },
            _ => None,
        };
        match stored {
            // No such pair.
            Some(None) => Ok(SameLinks::VersionMismatch),
            Some(Some(item)) if item.is_empty() => Ok(SameLinks::VersionMismatch),
            Some(Some(item)) => {
                let stored: Pair = decode(&pair.pair_id, item)?;
                if stored.version == expected_version {
                    Ok(SameLinks::IdsChanged(stored))
                } else {
                    Ok(SameLinks::VersionMismatch)
                }
            }
            None => Err(classify(&label, error)),
        }
    }
}

/// How [`DynamoDbStore::put_pair_same_links`] ended.
enum SameLinks {
    Saved,
    VersionMismatch,
    /// The stored pair is at the expected version with other ids (returned).
    IdsChanged(Pair),
}

/// A pair's item, with the pending index attributes when it is pending.
fn pair_item(pair: &Pair) -> StoreResult<Item> {
    let mut item = encode(pair, table::pair_key(&pair.pair_id))?;
    if pair.status == PairStatus::Pending {
        item.insert(OPEN_PK.into(), s(table::PENDING_PAIRS));
        item.insert(OPEN_SK.into(), s(&pair.pair_id));
    }
    Ok(item)
}

/// Bytes of checkpoint state per chunk item.
const CHECKPOINT_CHUNK_BYTES: usize = 256 * 1024;

/// How long a chunk lives unreferenced (a lost or crashed save) before TTL removes it.
const CHECKPOINT_CHUNK_RETENTION: Duration = Duration::days(7);

fn checkpoint_key(integration: &str) -> (String, String) {
    (format!("INT#{integration}"), "POLL#CHECKPOINT".to_string())
}

fn checkpoint_chunk_prefix(nonce: &str) -> String {
    format!("POLL#CHUNK#{nonce}#")
}

/// The header item of a stored checkpoint.
struct CheckpointHeader {
    poll_id: String,
    version: u64,
    saved_at: DateTime<Utc>,
    nonce: String,
    chunks: usize,
}

impl CheckpointHeader {
    fn from_item(label: &str, item: &Item) -> StoreResult<CheckpointHeader> {
        let number = |name: &str| {
            item.get(name)
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse::<u64>().ok())
        };
        let corrupt = || StoreError::Corrupt {
            key: label.to_string(),
            message: "poll checkpoint header without poll_id, version, nonce or chunks".into(),
        };
        Ok(CheckpointHeader {
            poll_id: string(item, "poll_id").ok_or_else(corrupt)?,
            version: number("version").ok_or_else(corrupt)?,
            saved_at: string(item, "saved_at")
                .and_then(|at| DateTime::parse_from_rfc3339(&at).ok())
                .map(|at| at.with_timezone(&Utc))
                .ok_or_else(corrupt)?,
            nonce: string(item, "nonce").ok_or_else(corrupt)?,
            chunks: number("chunks").ok_or_else(corrupt)? as usize,
        })
    }
}

impl DynamoDbStore {
    /// Writes `bytes` as chunk items under `nonce`; returns how many.
    async fn put_checkpoint_chunks(
        &self,
        integration: &str,
        nonce: &str,
        bytes: &[u8],
    ) -> StoreResult<usize> {
        let (pk, _) = checkpoint_key(integration);
        let expires = ttl_seconds(Utc::now() + CHECKPOINT_CHUNK_RETENTION);
        let chunks: Vec<&[u8]> = bytes.chunks(CHECKPOINT_CHUNK_BYTES).collect();
        for (index, chunk) in chunks.iter().enumerate() {
            let sk = format!("{}{index:04}", checkpoint_chunk_prefix(nonce));
            let chunk_item = HashMap::from([
                (table::PK.to_string(), s(&pk)),
                (table::SK.to_string(), s(&sk)),
                ("data".to_string(), AttributeValue::B(Blob::new(*chunk))),
                (table::TTL_ATTRIBUTE.to_string(), n(expires)),
            ]);
            let put = self.client.put_item().table_name(&self.table);
            put.set_item(Some(chunk_item))
                .send()
                .await
                .map_err(|e| classify(&format!("PutItem {pk} checkpoint chunk"), e))?;
        }
        Ok(chunks.len())
    }

    /// Deletes the chunks of a checkpoint nobody references any more. Best effort: a failure
    /// is logged and left to TTL.
    async fn delete_checkpoint_chunks(&self, integration: &str, nonce: &str, count: usize) {
        let (pk, _) = checkpoint_key(integration);
        for index in 0..count {
            let sk = format!("{}{index:04}", checkpoint_chunk_prefix(nonce));
            if let Err(e) = self
                .client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(key(&pk, &sk)))
                .send()
                .await
            {
                tracing::warn!(key = %pk, error = %DisplayErrorContext(&e), "unreferenced checkpoint chunk left to TTL");
                return;
            }
        }
    }

    /// The state bytes a header names; `None` when its chunks are not all there (a save
    /// replaced them after the header was read).
    async fn read_checkpoint_chunks(
        &self,
        integration: &str,
        header: &CheckpointHeader,
    ) -> StoreResult<Option<Vec<u8>>> {
        let (pk, _) = checkpoint_key(integration);
        let prefix = checkpoint_chunk_prefix(&header.nonce);
        let mut chunks: Vec<(String, Vec<u8>)> = Vec::with_capacity(header.chunks);
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
                .expression_attribute_names("#pk", table::PK)
                .expression_attribute_names("#sk", table::SK)
                .expression_attribute_values(":pk", s(&pk))
                .expression_attribute_values(":prefix", s(&prefix))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| classify(&format!("Query {pk} checkpoint chunks"), e))?;
            for item in out.items.unwrap_or_default() {
                let (Some(sk), Some(data)) = (
                    string(&item, table::SK),
                    item.get("data").and_then(|d| d.as_b().ok()),
                ) else {
                    return Err(StoreError::Corrupt {
                        key: pk.clone(),
                        message: "poll checkpoint chunk without data".into(),
                    });
                };
                chunks.push((sk, data.as_ref().to_vec()));
            }
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        if chunks.len() != header.chunks {
            return Ok(None);
        }
        // Sort keys carry the chunk index at a fixed width: key order is chunk order.
        chunks.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(Some(
            chunks.into_iter().flat_map(|(_, data)| data).collect(),
        ))
    }
}

/// How a transaction ended.
enum Transaction {
    Committed,
    /// Cancelled with at least one failed condition: one reason per item, in request order.
    Cancelled(Vec<Cancellation>),
    /// Refused as a request (`ValidationException`: e.g. more actions or bytes than the
    /// service takes); nothing was written.
    Refused(StoreError),
}

/// A link item put for a transaction: `record_id` on `side` linked to `pair_id`, written only
/// when no pair holds the record yet or `pair_id` already does (one pair per record); a failed
/// condition returns the stored link (its holder).
fn link_put(
    table_name: &str,
    pair_id: &str,
    side: Side,
    record_id: &str,
) -> StoreResult<TransactWriteItem> {
    let (pk, sk) = table::link_key(side, record_id);
    let mut link = key(&pk, &sk);
    link.insert("pair_id".into(), s(pair_id));
    let put = Put::builder()
        .table_name(table_name)
        .set_item(Some(link))
        .condition_expression(LINK_FREE_OR_OURS)
        .expression_attribute_names("#pk", table::PK)
        .expression_attribute_values(":me", s(pair_id))
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
    Ok(TransactWriteItem::builder().put(build(put)?).build())
}

/// The condition of a link put (see [`link_put`]).
const LINK_FREE_OR_OURS: &str = "attribute_not_exists(#pk) OR pair_id = :me";
/// The condition of a put that creates an item (pair, review item).
const NEW_ITEM: &str = "attribute_not_exists(#pk)";
/// The condition of a lease put (see `acquire_lease_free_since`).
const LEASE_FREE_SINCE: &str =
    "attribute_not_exists(#pk) OR #owner = :owner OR expires_ms <= :since";

struct Cancellation {
    failed_condition: bool,
    /// The item as it was, when the failed put asked for it.
    item: Option<Item>,
}

fn record_ids(pair: &Pair) -> Vec<(Side, &str)> {
    [
        (Side::Salesforce, pair.sf_id.as_deref()),
        (Side::Genesys, pair.gz_id.as_deref()),
    ]
    .into_iter()
    .filter_map(|(side, id)| id.map(|id| (side, id)))
    .collect()
}

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_string())
}

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn key(pk: &str, sk: &str) -> Item {
    HashMap::from([
        (table::PK.to_string(), s(pk)),
        (table::SK.to_string(), s(sk)),
    ])
}

fn string(item: &Item, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

/// A document as an item under `(pk, sk)`.
fn encode<T: Serialize>(value: &T, (pk, sk): (String, String)) -> StoreResult<Item> {
    let mut item: Item = serde_dynamo::aws_sdk_dynamodb_1::to_item(value)
        .map_err(|e| StoreError::Permanent(format!("{pk}: cannot be encoded as an item ({e})")))?;
    item.extend(key(&pk, &sk));
    Ok(item)
}

/// An item as a document (key and index attributes are ignored). serde's messages may quote
/// the offending value (personal data), so the error names only the key.
fn decode<T: DeserializeOwned>(label: &str, item: Item) -> StoreResult<T> {
    serde_dynamo::aws_sdk_dynamodb_1::from_item(item).map_err(|_| StoreError::Corrupt {
        key: label.to_string(),
        message: "the item does not decode (content not shown: it may hold personal data)"
            .to_string(),
    })
}

/// Items as documents, each named by its key when it does not decode.
fn decode_all<T: DeserializeOwned>(items: Vec<Item>) -> StoreResult<Vec<T>> {
    items
        .into_iter()
        .map(|item| {
            let label = string(&item, table::PK).unwrap_or_default();
            decode(&label, item)
        })
        .collect()
}

/// A conflict as an item (and its `pk`): listed under its integration; open, in the open
/// items; closed and keeping values, in its integration's audit values partition (both on the
/// `open_items` index, ordered by time).
fn conflict_item(conflict: &ConflictRecord) -> StoreResult<(String, Item)> {
    let (pk, sk) = table::conflict_key(&conflict.id);
    let mut item = encode(conflict, (pk.clone(), sk))?;
    let order = table::conflict_order(conflict.at, &conflict.id);
    item.insert(
        LISTING_PK.into(),
        s(&table::conflict_listing(&conflict.integration)),
    );
    item.insert(LISTING_SK.into(), s(&order));
    let partition = match conflict.status {
        ConflictStatus::Open => Some(table::open_conflicts(&conflict.integration)),
        ConflictStatus::Closed if conflict.holds_values() => {
            Some(table::audit_values(&conflict.integration))
        }
        ConflictStatus::Closed => None,
    };
    if let Some(partition) = partition {
        item.insert(OPEN_PK.into(), s(&partition));
        item.insert(OPEN_SK.into(), s(&order));
    }
    Ok((pk, item))
}

fn build(put: aws_sdk_dynamodb::types::builders::PutBuilder) -> StoreResult<Put> {
    put.build()
        .map_err(|e| StoreError::Permanent(format!("Put request: {e}")))
}

fn epoch_ms(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

/// Epoch milliseconds, rounded up: the end of a lease is never stored earlier than it is (a
/// `free_since` is rounded down by [`epoch_ms`]).
fn epoch_ms_ceil(at: DateTime<Utc>) -> i64 {
    let ms = at.timestamp_millis();
    if !at.timestamp_subsec_nanos().is_multiple_of(1_000_000) {
        ms + 1
    } else {
        ms
    }
}

/// Epoch seconds, rounded up: TTL never removes an item before its time.
fn ttl_seconds(at: DateTime<Utc>) -> i64 {
    let secs = at.timestamp();
    if at.timestamp_subsec_nanos() > 0 {
        secs + 1
    } else {
        secs
    }
}

async fn backoff(attempt: u32) {
    if attempt > 0 {
        let base = 10u64 << attempt.min(6);
        let jitter = uuid::Uuid::new_v4().as_u128() as u64 % base;
        tokio::time::sleep(std::time::Duration::from_millis(base + jitter)).await;
    }
}

const RETRYABLE_CODES: [&str; 8] = [
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionInProgressException",
    "TransactionConflictException",
    "LimitExceededException",
];

fn is_retryable<E: ProvideErrorMetadata>(error: &SdkError<E>) -> bool {
    match error {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(e) => e
            .err()
            .code()
            .is_some_and(|code| RETRYABLE_CODES.contains(&code)),
        _ => false,
    }
}

/// An SDK failure as a store error: throttling, 5xx and network trouble are retryable,
/// everything else (validation, missing table, access denied) is permanent.
fn classify<E>(operation: &str, error: SdkError<E>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let message = format!("{operation}: {}", DisplayErrorContext(&error));
    if is_retryable(&error) {
        StoreError::Transient(message)
    } else {
        StoreError::Permanent(message)
    }
}

/// A conditional write's result: `true` when written, `false` when its condition failed (an
/// outcome, not an error).
fn written<T, E>(operation: &str, result: Result<T, SdkError<E>>) -> StoreResult<bool>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match result {
        Ok(_) => Ok(true),
        Err(SdkError::ServiceError(e))
            if e.err().code() == Some("ConditionalCheckFailedException") =>
        {
            Ok(false)
        }
        Err(e) => Err(classify(operation, e)),
    }
}

#[async_trait]
impl SyncStore for DynamoDbStore {
    async fn watermark(&self, integration: &str, side: Side) -> StoreResult<Option<Watermark>> {
        let stored: Option<Watermark> = self
            .get_doc(table::watermark_key(integration, side))
            .await?;
        if let Some(wm) = &stored {
            self.saw_watermark(integration, side, wm);
        }
        Ok(stored)
    }

    async fn advance_watermark(
        &self,
        integration: &str,
        side: Side,
        watermark: &Watermark,
    ) -> StoreResult<bool> {
        if self.watermark_not_after_seen(integration, side, watermark) {
            return Ok(false);
        }
        let (pk, sk) = table::watermark_key(integration, side);
        let mut item = encode(watermark, (pk.clone(), sk))?;
        let stamp = table::sortable(watermark.stamp);
        item.insert("stamp_key".into(), s(&stamp));
        let result = self
            .put_if(
                item,
                "attribute_not_exists(#pk) OR stamp_key < :stamp OR (stamp_key = :stamp AND last_id < :id)",
            )
            .expression_attribute_values(":stamp", s(&stamp))
            .expression_attribute_values(":id", s(&watermark.last_id))
            .send()
            .await;
        let moved = written(&format!("PutItem {pk} watermark"), result)?;
        // Written, or refused because the stored one is newer: either way it is at least this.
        self.saw_watermark(integration, side, watermark);
        Ok(moved)
    }

    async fn pair(&self, pair_id: &str) -> StoreResult<Option<Pair>> {
        let pair: Option<Pair> = self.get_doc(table::pair_key(pair_id)).await?;
        if let Some(pair) = &pair {
            self.know_pair(pair);
        }
        Ok(pair)
    }

    async fn pairs(&self, pair_ids: &[String]) -> StoreResult<Vec<Pair>> {
        let items = self
            .batch_get(pair_ids.iter().map(|id| table::pair_key(id)).collect())
            .await?;
        let mut found: HashMap<String, Pair> = HashMap::new();
        for item in items {
            let label = string(&item, table::PK).unwrap_or_default();
            let pair: Pair = decode(&label, item)?;
            self.know_pair(&pair);
            found.insert(pair.pair_id.clone(), pair);
        }
        // In the order asked for, each once.
        Ok(pair_ids.iter().filter_map(|id| found.remove(id)).collect())
    }

    async fn pending_pairs(&self, limit: usize) -> StoreResult<Vec<Pair>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let items = self
            .query_index(
                OPEN_INDEX,
                (OPEN_PK, table::PENDING_PAIRS.to_string()),
                false,
                Some(limit),
            )
            .await?;
        decode_all(items)
    }

    async fn links(
        &self,
        side: Side,
        record_ids: &[String],
    ) -> StoreResult<HashMap<String, String>> {
        let items = self
            .batch_get(
                record_ids
                    .iter()
                    .map(|id| table::link_key(side, id))
                    .collect(),
            )
            .await?;
        let by_key: HashMap<String, String> = items
            .iter()
            .filter_map(|item| Some((string(item, table::PK)?, string(item, "pair_id")?)))
            .collect();
        Ok(record_ids
            .iter()
            .filter_map(|id| {
                by_key
                    .get(&table::link_key(side, id).0)
                    .map(|pair_id| (id.clone(), pair_id.clone()))
            })
            .collect())
    }

    async fn create_pair(&self, pair: &Pair) -> StoreResult<SaveOutcome> {
        if pair.version != 1 {
            return Err(StoreError::Permanent(format!(
                "create_pair: pair {} has version {}, a new pair must have version 1",
                pair.pair_id, pair.version
            )));
        }
        let outcome = self
            .write_pair(
                pair,
                (NEW_ITEM, Vec::new()),
                SaveOutcome::AlreadyExists,
                record_ids(pair),
            )
            .await?;
        if outcome == SaveOutcome::Saved {
            self.know_pair(pair);
        }
        Ok(outcome)
    }

    async fn save_pair(&self, pair: &Pair, expected_version: u64) -> StoreResult<SaveOutcome> {
        let mut stored = pair.clone();
        stored.version = expected_version + 1;
        let before = match self.put_pair_same_links(&stored, expected_version).await? {
            SameLinks::Saved => {
                self.know_pair(&stored);
                return Ok(SaveOutcome::Saved);
            }
            SameLinks::VersionMismatch => return Ok(SaveOutcome::VersionMismatch),
            SameLinks::IdsChanged(before) => before,
        };
        // Links only for the ids the stored pair does not hold (those it holds are linked to
        // it); the version condition fails if the pair moved since it was read.
        let new_ids = record_ids(&stored)
            .into_iter()
            .filter(|(side, id)| {
                let held = match side {
                    Side::Salesforce => before.sf_id.as_deref(),
                    Side::Genesys => before.gz_id.as_deref(),
                };
                held != Some(*id)
            })
            .collect();
        let outcome = self
            .write_pair(
                &stored,
                (
                    "attribute_exists(#pk) AND #version = :expected",
                    vec![(":expected", n(expected_version))],
                ),
                SaveOutcome::VersionMismatch,
                new_ids,
            )
            .await?;
        if outcome == SaveOutcome::Saved {
            self.know_pair(&stored);
        }
        Ok(outcome)
    }

    async fn acquire_lease_free_since(
        &self,
        key: &str,
        owner: &str,
        free_since: DateTime<Utc>,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> StoreResult<bool> {
        let (pk, sk) = table::lease_key(key);
        let expires = now + ttl;
        let mut item = self::key(&pk, &sk);
        item.insert("owner".into(), s(owner));
        item.insert("expires_ms".into(), n(epoch_ms_ceil(expires)));
        item.insert(
            table::TTL_ATTRIBUTE.into(),
            n(ttl_seconds(expires + ENDED_LEASE_RETENTION)),
        );
        let result = self
            .put_if(item, LEASE_FREE_SINCE)
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":since", n(epoch_ms(free_since)))
            .send()
            .await;
        written(&format!("PutItem {pk}"), result)
    }

    async fn release_lease(&self, key: &str, owner: &str, now: DateTime<Utc>) -> StoreResult<()> {
        let (pk, sk) = table::lease_key(key);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(self::key(&pk, &sk)))
            .condition_expression("#owner = :owner")
            .update_expression("SET expires_ms = :now, #ttl = :ttl")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_names("#ttl", table::TTL_ATTRIBUTE)
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":now", n(epoch_ms_ceil(now)))
            .expression_attribute_values(":ttl", n(ttl_seconds(now + ENDED_LEASE_RETENTION)))
            .send()
            .await;
        written(&format!("UpdateItem {pk}"), result)?;
        Ok(())
    }

    async fn record_conflict(&self, conflict: &ConflictRecord) -> StoreResult<()> {
        let (pk, item) = conflict_item(conflict)?;
        let result = self.put_if(item, NEW_ITEM).send().await;
        written(&format!("PutItem {pk}"), result)?;
        Ok(())
    }

    async fn acquire_leases_free_since(
        &self,
        keys: &[String],
        owner: &str,
        free_since: DateTime<Utc>,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> StoreResult<Vec<bool>> {
        if keys.len() <= 1 {
            let mut taken = Vec::with_capacity(keys.len());
            for key in keys {
                taken.push(
                    self.acquire_lease_free_since(key, owner, free_since, now, ttl)
                        .await?,
                );
            }
            return Ok(taken);
        }
        self.batch_acquire_leases(keys, owner, free_since, now, ttl)
            .await
    }

    async fn release_leases(
        &self,
        keys: &[String],
        owner: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        if keys.len() <= 1 {
            for key in keys {
                self.release_lease(key, owner, now).await?;
            }
            return Ok(());
        }
        self.batch_release_leases(keys, owner, now).await
    }

    async fn create_pairs(&self, pairs: &[Pair]) -> StoreResult<Vec<SaveOutcome>> {
        if pairs.len() <= 1 {
            let mut outcomes = Vec::with_capacity(pairs.len());
            for pair in pairs {
                outcomes.push(self.create_pair(pair).await?);
            }
            return Ok(outcomes);
        }
        self.batch_create_pairs(pairs).await
    }

    async fn save_pairs(&self, saves: &[(Pair, u64)]) -> StoreResult<Vec<SaveOutcome>> {
        if saves.len() <= 1 {
            let mut outcomes = Vec::with_capacity(saves.len());
            for (pair, expected) in saves {
                outcomes.push(self.save_pair(pair, *expected).await?);
            }
            return Ok(outcomes);
        }
        self.batch_save_pairs(saves).await
    }

    async fn record_conflicts(&self, conflicts: &[ConflictRecord]) -> StoreResult<()> {
        if conflicts.len() <= 1 {
            for conflict in conflicts {
                self.record_conflict(conflict).await?;
            }
            return Ok(());
        }
        self.batch_record_conflicts(conflicts).await
    }

    async fn conflicts(
        &self,
        integration: &str,
        open_only: bool,
    ) -> StoreResult<Vec<ConflictRecord>> {
        let items = if open_only {
            self.query_index(
                OPEN_INDEX,
                (OPEN_PK, table::open_conflicts(integration)),
                true,
                None,
            )
            .await?
        } else {
            self.query_index(
                LISTING_INDEX,
                (LISTING_PK, table::conflict_listing(integration)),
                true,
                None,
            )
            .await?
        };
        decode_all(items)
    }

    async fn conflict(&self, id: &str) -> StoreResult<Option<ConflictRecord>> {
        self.get_doc(table::conflict_key(id)).await
    }

    async fn close_conflict(&self, id: &str) -> StoreResult<bool> {
        let (pk, sk) = table::conflict_key(id);
        // Read first: an item that keeps values moves to its integration's audit values
        // partition (what `drop_audit_values` reads), one without leaves the index.
        let Some(stored) = self
            .get_doc::<ConflictRecord>((pk.clone(), sk.clone()))
            .await?
        else {
            return Ok(false);
        };
        if stored.status != ConflictStatus::Open {
            return Ok(false);
        }
        if stored.holds_values() {
            return self.close_keeping_values(&stored).await;
        }
        let open = serde_dynamo::aws_sdk_dynamodb_1::to_attribute_value(ConflictStatus::Open)
            .map_err(|e| StoreError::Permanent(format!("status: {e}")))?;
        let closed = serde_dynamo::aws_sdk_dynamodb_1::to_attribute_value(ConflictStatus::Closed)
            .map_err(|e| StoreError::Permanent(format!("status: {e}")))?;
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(&pk, &sk)))
            .condition_expression("#status = :open")
            .update_expression("SET #status = :closed REMOVE #open_pk, #open_sk")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#open_pk", OPEN_PK)
            .expression_attribute_names("#open_sk", OPEN_SK)
            .expression_attribute_values(":open", open)
            .expression_attribute_values(":closed", closed)
            .send()
            .await;
        written(&format!("UpdateItem {pk}"), result)
    }

    async fn record_run(&self, run: &RunRecord) -> StoreResult<()> {
        let (pk, sk) = table::run_key(&run.run_id);
        let mut item = encode(run, (pk.clone(), sk))?;
        item.insert(LISTING_PK.into(), s(&table::run_listing(&run.integration)));
        item.insert(
            LISTING_SK.into(),
            s(&table::run_order(run.started_at, &run.run_id)),
        );
        item.insert(
            table::TTL_ATTRIBUTE.into(),
            n(ttl_seconds(Utc::now() + self.run_retention)),
        );
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| classify(&format!("PutItem {pk}"), e))?;
        Ok(())
    }

    async fn runs(&self, integration: &str, limit: usize) -> StoreResult<Vec<RunRecord>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let items = self
            .query_index(
                LISTING_INDEX,
                (LISTING_PK, table::run_listing(integration)),
                true,
                Some(limit),
            )
            .await?;
        decode_all(items)
    }

    async fn load_poll_checkpoint(&self, integration: &str) -> StoreResult<Option<PollCheckpoint>> {
        let (pk, sk) = checkpoint_key(integration);
        let mut attempt = 0;
        loop {
            backoff(attempt).await;
            attempt += 1;
            let Some(item) = self.get((pk.clone(), sk.clone())).await? else {
                return Ok(None);
            };
            let header = CheckpointHeader::from_item(&pk, &item)?;
            let Some(bytes) = self.read_checkpoint_chunks(integration, &header).await? else {
                if attempt < ATTEMPTS {
                    continue;
                }
                return Err(StoreError::Transient(format!(
                    "{pk}: poll checkpoint replaced during every one of {ATTEMPTS} reads"
                )));
            };
            let state = serde_json::from_slice(&bytes).map_err(|_| StoreError::Corrupt {
                key: pk.clone(),
                message: "poll checkpoint state is not JSON".into(),
            })?;
            return Ok(Some(PollCheckpoint {
                integration: integration.to_string(),
                poll_id: header.poll_id,
                version: header.version,
                saved_at: header.saved_at,
                state,
            }));
        }
    }

    async fn save_poll_checkpoint(
        &self,
        checkpoint: &PollCheckpoint,
        expected_version: Option<u64>,
    ) -> StoreResult<CheckpointWrite> {
        let bytes = checkpoint.state_json()?;
        let integration = checkpoint.integration.as_str();
        let (pk, sk) = checkpoint_key(integration);
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        let chunks = match self
            .put_checkpoint_chunks(integration, &nonce, &bytes)
            .await
        {
            Ok(chunks) => chunks,
            Err(e) => {
                self.delete_checkpoint_chunks(
                    integration,
                    &nonce,
                    bytes.len().div_ceil(CHECKPOINT_CHUNK_BYTES),
                )
                .await;
                return Err(e);
            }
        };
        let version = expected_version.map_or(1, |v| v + 1);
        let mut header = key(&pk, &sk);
        header.insert("poll_id".into(), s(&checkpoint.poll_id));
        header.insert("version".into(), n(version));
        header.insert("saved_at".into(), s(&table::sortable(checkpoint.saved_at)));
        header.insert("nonce".into(), s(&nonce));
        header.insert("chunks".into(), n(chunks));
        let put = match expected_version {
            None => self.put_if(header, "attribute_not_exists(#pk)"),
            Some(expected) => self
                .put_if(
                    header,
                    "attribute_exists(#pk) AND #poll = :poll AND #version = :expected",
                )
                .expression_attribute_names("#poll", "poll_id")
                .expression_attribute_names("#version", "version")
                .expression_attribute_values(":poll", s(&checkpoint.poll_id))
                .expression_attribute_values(":expected", n(expected)),
        };
        match put.return_values(ReturnValue::AllOld).send().await {
            Ok(out) => {
                let replaced = out
                    .attributes
                    .filter(|old| !old.is_empty())
                    .map(|old| CheckpointHeader::from_item(&pk, &old))
                    .transpose();
                match replaced {
                    Ok(Some(old)) => {
                        self.delete_checkpoint_chunks(integration, &old.nonce, old.chunks)
                            .await
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "replaced checkpoint header unreadable; its chunks are left to TTL")
                    }
                }
                Ok(CheckpointWrite::Saved { version })
            }
            Err(e) => {
                self.delete_checkpoint_chunks(integration, &nonce, chunks)
                    .await;
                match written(&format!("PutItem {pk} checkpoint"), Err::<(), _>(e)) {
                    Ok(_) => Ok(CheckpointWrite::Superseded),
                    Err(e) => Err(e),
                }
            }
        }
    }

    async fn clear_poll_checkpoint(
        &self,
        integration: &str,
        poll_id: &str,
        version: u64,
    ) -> StoreResult<bool> {
        let (pk, sk) = checkpoint_key(integration);
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(&pk, &sk)))
            .condition_expression("#poll = :poll AND #version = :version")
            .expression_attribute_names("#poll", "poll_id")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":poll", s(poll_id))
            .expression_attribute_values(":version", n(version))
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        match result {
            Ok(out) => {
                if let Some(old) = out.attributes.filter(|old| !old.is_empty())
                    && let Ok(old) = CheckpointHeader::from_item(&pk, &old)
                {
                    self.delete_checkpoint_chunks(integration, &old.nonce, old.chunks)
                        .await;
                }
                Ok(true)
            }
            Err(e) => written(&format!("DeleteItem {pk} checkpoint"), Err::<(), _>(e)),
        }
    }

    async fn bulk_limit(&self, integration: &str, side: Side) -> StoreResult<Option<u64>> {
        let (pk, sk) = table::bulk_limit_key(integration, side);
        let Some(item) = self.get((pk.clone(), sk)).await? else {
            return Ok(None);
        };
        item.get(table::BULK_LIMIT_RECORDS)
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse::<u64>().ok())
            .map(Some)
            .ok_or_else(|| StoreError::Corrupt {
                key: pk,
                message: "bulk limit without a `records` number".into(),
            })
    }

    async fn lower_bulk_limit(
        &self,
        integration: &str,
        side: Side,
        limit: u64,
    ) -> StoreResult<bool> {
        let (pk, sk) = table::bulk_limit_key(integration, side);
        let limit = limit.max(1);
        let mut item = key(&pk, &sk);
        item.insert(table::BULK_LIMIT_RECORDS.into(), n(limit));
        let result = self
            .put_if(item, "attribute_not_exists(#pk) OR #records > :records")
            .expression_attribute_names("#records", table::BULK_LIMIT_RECORDS)
            .expression_attribute_values(":records", n(limit))
            .send()
            .await;
        written(&format!("PutItem {pk} bulk limit"), result)
    }

    async fn drop_audit_values(
        &self,
        integration: &str,
        before: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<usize> {
        let partition = table::audit_values(integration);
        let bound = table::sortable(before);
        let mut due: Vec<Item> = Vec::new();
        let mut start: Option<Item> = None;
        while due.len() < limit {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(OPEN_INDEX)
                .key_condition_expression("#p = :p AND #s < :before")
                .expression_attribute_names("#p", OPEN_PK)
                .expression_attribute_names("#s", OPEN_SK)
                .expression_attribute_values(":p", s(&partition))
                .expression_attribute_values(":before", s(&bound))
                .scan_index_forward(true)
                .limit((limit - due.len()).min(1000) as i32)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| classify(&format!("Query {OPEN_INDEX} {partition}"), e))?;
            due.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        due.truncate(limit);
        let mut dropped = 0;
        for mut conflict in decode_all::<ConflictRecord>(due)? {
            if conflict.status != ConflictStatus::Closed {
                continue;
            }
            if conflict.drop_values() {
                dropped += 1;
            }
            self.put_conflict_without_values(&conflict).await?;
        }
        Ok(dropped)
    }

    async fn erase_conflict_values(
        &self,
        integration: &str,
        subject: &ErasureSubject,
    ) -> StoreResult<ErasedConflicts> {
        // Rare (an operator's `forget`): reads the integration's whole audit listing.
        let items = self
            .query_index(
                LISTING_INDEX,
                (LISTING_PK, table::conflict_listing(integration)),
                false,
                None,
            )
            .await?;
        let mut done = ErasedConflicts::default();
        for mut conflict in decode_all::<ConflictRecord>(items)? {
            if !conflict.is_about(subject) {
                continue;
            }
            done.found += 1;
            if conflict.drop_values() {
                done.erased += 1;
                self.put_conflict_without_values(&conflict).await?;
            }
        }
        Ok(done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_put_is_written_only_when_the_record_is_unlinked_or_already_ours() {
        // GIVEN the link put a pair creation or save sends for record sf-1 of pair p1
        let action = link_put("table", "p1", Side::Salesforce, "sf-1").unwrap();
        let put = action.put().expect("a put");
        // THEN it writes the link item of sf-1 naming p1
        let (pk, sk) = table::link_key(Side::Salesforce, "sf-1");
        assert_eq!(put.item().get(table::PK), Some(&s(&pk)));
        assert_eq!(put.item().get(table::SK), Some(&s(&sk)));
        assert_eq!(put.item().get("pair_id"), Some(&s("p1")));
        // AND only when no item has that key, or the stored link names p1
        assert_eq!(
            put.condition_expression(),
            Some("attribute_not_exists(#pk) OR pair_id = :me")
        );
        let names = put.expression_attribute_names().expect("names");
        assert_eq!(names.get("#pk").map(String::as_str), Some(table::PK));
        let values = put.expression_attribute_values().expect("values");
        assert_eq!(values.get(":me"), Some(&s("p1")));
        // AND a refusal returns the stored link (its holder)
        assert_eq!(
            put.return_values_on_condition_check_failure(),
            Some(&ReturnValuesOnConditionCheckFailure::AllOld)
        );
    }

    #[test]
    fn a_new_item_put_requires_that_no_item_has_its_key() {
        // The pair put of a creation, and a review item's put: `#pk` is the table's key.
        assert_eq!(NEW_ITEM, "attribute_not_exists(#pk)");
        assert!(LEASE_FREE_SINCE.starts_with("attribute_not_exists(#pk) OR "));
    }
}
