//! The store's batch operations on DynamoDB: the entries of a batch (a pair with its links, a
//! lease, a review item) written in `TransactWriteItems` requests of many entries each, cut as
//! [`crate::transaction`] describes, with the same conditions as the single calls.
//!
//! A transaction is all or nothing: when one entry's condition fails, DynamoDB cancels the
//! whole request and says, action by action (`CancellationReasons`), which conditions failed.
//! Those entries are answered as the single call would answer them (`AlreadyExists`,
//! `VersionMismatch`, `LinkTaken` with the holder the failed link put returned, a refused
//! lease, a review item already recorded); the others are sent again without them. Every
//! cancellation answers at least one entry, so a batch ends after at most one transaction per
//! entry (one per group when nothing fails).
//!
//! Transactional writes cost two write units per item where a single `PutItem` costs one, so a
//! batch of one entry makes the single call.

use super::{
    Cancellation, DynamoDbStore, Item, KnownPair, LEASE_FREE_SINCE, NEW_ITEM, Transaction, build,
    conflict_item, epoch_ms, epoch_ms_ceil, key, link_put, n, pair_item, record_ids, s,
    ttl_seconds,
};
use crate::table;
use crate::transaction::{self, Limits, Shape, item_bytes};
use aws_sdk_dynamodb::types::{Put, TransactWriteItem, Update};
use chrono::{DateTime, Duration, Utc};
use contact_sync_engine::Side;
use contact_sync_pipeline::store::{
    ConflictRecord, ENDED_LEASE_RETENTION, Pair, SaveOutcome, StoreError, StoreResult, SyncStore,
};
use std::collections::{HashMap, HashSet, VecDeque};

/// Bytes counted for a link item (its key and pair id are far below this).
const LINK_BYTES: usize = 256;

/// A save the batch sends: the pair as it will be stored, and its record ids to link.
struct PlannedSave {
    stored: Pair,
    new_ids: Vec<(Side, String)>,
}

/// Why a cancelled transaction refused a pair entry.
enum PairRefusal {
    /// The pair put's condition failed.
    Pair,
    /// The entry's `n`th link put failed; the stored link, when the service returned it.
    Link(usize, Option<Item>),
}

fn pair_refusal(reasons: &[Cancellation]) -> Option<PairRefusal> {
    if reasons.first().is_some_and(|r| r.failed_condition) {
        return Some(PairRefusal::Pair);
    }
    reasons
        .iter()
        .enumerate()
        .skip(1)
        .find(|(_, r)| r.failed_condition)
        .map(|(i, r)| PairRefusal::Link(i - 1, r.item.clone()))
}

fn first_refused(reasons: &[Cancellation]) -> Option<()> {
    reasons
        .first()
        .is_some_and(|r| r.failed_condition)
        .then_some(())
}

impl DynamoDbStore {
    /// Applies `entries` (each: actions that land together; together within one transaction's
    /// limits, touching no item twice) in as few transactions as their conditions allow.
    /// Per entry, in order: `None` when it was written, `Some(answer)` when a cancelled
    /// transaction refused it (`refused` reads its reasons; nothing of it was written). A
    /// transaction the service refuses as a request is split in two, down to one entry.
    async fn apply<T>(
        &self,
        entries: &[Vec<TransactWriteItem>],
        refused: impl Fn(&[Cancellation]) -> Option<T>,
    ) -> StoreResult<Vec<Option<T>>> {
        let mut answers: Vec<Option<Option<T>>> = entries.iter().map(|_| None).collect();
        let mut work: VecDeque<Vec<usize>> = VecDeque::from([(0..entries.len()).collect()]);
        while let Some(pending) = work.pop_front() {
            if pending.is_empty() {
                continue;
            }
            let actions: Vec<TransactWriteItem> = pending
                .iter()
                .flat_map(|&i| entries[i].iter().cloned())
                .collect();
            match self.transact(actions).await? {
                Transaction::Committed => {
                    for i in pending {
                        answers[i] = Some(None);
                    }
                }
                Transaction::Refused(error) => {
                    if pending.len() == 1 {
                        return Err(error);
                    }
                    tracing::warn!(
                        entries = pending.len(),
                        "transaction refused as a request; splitting it"
                    );
                    let (first, second) = pending.split_at(pending.len() / 2);
                    work.push_front(second.to_vec());
                    work.push_front(first.to_vec());
                }
                Transaction::Cancelled(reasons) => {
                    let mut offset = 0;
                    let mut rest = Vec::new();
                    let mut answered = 0;
                    for i in pending {
                        let len = entries[i].len();
                        let own = reasons.get(offset..offset + len).unwrap_or(&[]);
                        offset += len;
                        match refused(own) {
                            Some(answer) => {
                                answers[i] = Some(Some(answer));
                                answered += 1;
                            }
                            None => rest.push(i),
                        }
                    }
                    if answered == 0 {
                        // No entry answered: the failed condition belongs to none of them.
                        return Err(StoreError::Transient(
                            "transaction cancelled by a condition no batch entry owns; retry"
                                .into(),
                        ));
                    }
                    work.push_front(rest);
                }
            }
        }
        answers
            .into_iter()
            .map(|a| a.ok_or_else(|| StoreError::Permanent("batch entry left unanswered".into())))
            .collect()
    }

    pub(super) async fn batch_acquire_leases(
        &self,
        keys: &[String],
        owner: &str,
        free_since: DateTime<Utc>,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> StoreResult<Vec<bool>> {
        let expires = now + ttl;
        let mut entries = Vec::with_capacity(keys.len());
        let mut shapes = Vec::with_capacity(keys.len());
        for lease in keys {
            let (pk, sk) = table::lease_key(lease);
            let mut item = key(&pk, &sk);
            item.insert("owner".into(), s(owner));
            item.insert("expires_ms".into(), n(epoch_ms_ceil(expires)));
            item.insert(
                table::TTL_ATTRIBUTE.into(),
                n(ttl_seconds(expires + ENDED_LEASE_RETENTION)),
            );
            shapes.push(Shape {
                keys: vec![(pk, sk)],
                actions: 1,
                bytes: item_bytes(&item),
            });
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression(LEASE_FREE_SINCE)
                .expression_attribute_names("#pk", table::PK)
                .expression_attribute_names("#owner", "owner")
                .expression_attribute_values(":owner", s(owner))
                .expression_attribute_values(":since", n(epoch_ms(free_since)));
            entries.push(vec![TransactWriteItem::builder().put(build(put)?).build()]);
        }
        let mut taken = Vec::with_capacity(keys.len());
        for group in transaction::groups(&shapes, Limits::DYNAMODB) {
            let answers = self.apply(&entries[group], first_refused).await?;
            taken.extend(answers.into_iter().map(|refused| refused.is_none()));
        }
        Ok(taken)
    }

    pub(super) async fn batch_release_leases(
        &self,
        keys: &[String],
        owner: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let mut entries = Vec::with_capacity(keys.len());
        let mut shapes = Vec::with_capacity(keys.len());
        for lease in keys {
            let (pk, sk) = table::lease_key(lease);
            shapes.push(Shape {
                keys: vec![(pk.clone(), sk.clone())],
                actions: 1,
                bytes: LINK_BYTES,
            });
            let update = Update::builder()
                .table_name(&self.table)
                .set_key(Some(key(&pk, &sk)))
                .condition_expression("#owner = :owner")
                .update_expression("SET expires_ms = :now, #ttl = :ttl")
                .expression_attribute_names("#owner", "owner")
                .expression_attribute_names("#ttl", table::TTL_ATTRIBUTE)
                .expression_attribute_values(":owner", s(owner))
                .expression_attribute_values(":now", n(epoch_ms_ceil(now)))
                .expression_attribute_values(":ttl", n(ttl_seconds(now + ENDED_LEASE_RETENTION)))
                .build()
                .map_err(|e| StoreError::Permanent(format!("Update request: {e}")))?;
            entries.push(vec![TransactWriteItem::builder().update(update).build()]);
        }
        // A lease held by someone else (or never held) is left alone: refused is done.
        for group in transaction::groups(&shapes, Limits::DYNAMODB) {
            self.apply(&entries[group], first_refused).await?;
        }
        Ok(())
    }

    pub(super) async fn batch_record_conflicts(
        &self,
        conflicts: &[ConflictRecord],
    ) -> StoreResult<()> {
        let mut entries = Vec::with_capacity(conflicts.len());
        let mut shapes = Vec::with_capacity(conflicts.len());
        for conflict in conflicts {
            let (_, item) = conflict_item(conflict)?;
            shapes.push(Shape {
                keys: vec![table::conflict_key(&conflict.id)],
                actions: 1,
                bytes: item_bytes(&item),
            });
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression(NEW_ITEM)
                .expression_attribute_names("#pk", table::PK);
            entries.push(vec![TransactWriteItem::builder().put(build(put)?).build()]);
        }
        // A review item already recorded keeps its first record: refused is done.
        for group in transaction::groups(&shapes, Limits::DYNAMODB) {
            self.apply(&entries[group], first_refused).await?;
        }
        Ok(())
    }

    pub(super) async fn batch_create_pairs(&self, pairs: &[Pair]) -> StoreResult<Vec<SaveOutcome>> {
        if let Some(pair) = pairs.iter().find(|p| p.version != 1) {
            return Err(StoreError::Permanent(format!(
                "create_pair: pair {} has version {}, a new pair must have version 1",
                pair.pair_id, pair.version
            )));
        }
        let mut entries = Vec::with_capacity(pairs.len());
        let mut shapes = Vec::with_capacity(pairs.len());
        for pair in pairs {
            let item = pair_item(pair)?;
            let ids = record_ids(pair);
            let mut keys = vec![table::pair_key(&pair.pair_id)];
            keys.extend(ids.iter().map(|(side, id)| table::link_key(*side, id)));
            shapes.push(Shape {
                keys,
                actions: 1 + ids.len(),
                bytes: item_bytes(&item) + LINK_BYTES * ids.len(),
            });
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression(NEW_ITEM)
                .expression_attribute_names("#pk", table::PK);
            let mut actions = vec![TransactWriteItem::builder().put(build(put)?).build()];
            for (side, id) in &ids {
                actions.push(link_put(&self.table, &pair.pair_id, *side, id)?);
            }
            entries.push(actions);
        }
        let mut outcomes = Vec::with_capacity(pairs.len());
        for group in transaction::groups(&shapes, Limits::DYNAMODB) {
            let answers = self.apply(&entries[group.clone()], pair_refusal).await?;
            for (pair, answer) in pairs[group].iter().zip(answers) {
                let links = record_ids(pair);
                let outcome = self
                    .outcome(answer, SaveOutcome::AlreadyExists, &links)
                    .await?;
                if outcome == SaveOutcome::Saved {
                    self.know_pair(pair);
                }
                outcomes.push(outcome);
            }
        }
        Ok(outcomes)
    }

    /// A pair entry's answer: written, its pair condition failed (`on_pair`), or a link taken
    /// (`links`: the record ids of its link puts, in order).
    async fn outcome(
        &self,
        answer: Option<PairRefusal>,
        on_pair: SaveOutcome,
        links: &[(Side, &str)],
    ) -> StoreResult<SaveOutcome> {
        match answer {
            None => Ok(SaveOutcome::Saved),
            Some(PairRefusal::Pair) => Ok(on_pair),
            Some(PairRefusal::Link(n, item)) => {
                let (side, record_id) = links.get(n).copied().ok_or_else(|| {
                    StoreError::Transient("a link put beyond the entry's links failed".into())
                })?;
                self.link_holder(side, record_id, item.as_ref()).await
            }
        }
    }

    /// The batch `save_pairs`: each save needs to know which of its record ids the stored pair
    /// lacks (those need a link put). The store knows the ids of the pairs it has just created,
    /// saved or read at their version ([`super::KnownPair`]); the others are read first (one
    /// consistent `BatchGetItem` per 100). The transaction's version condition (`version =
    /// expected`) makes either safe: the ids only change with the version. A save whose stored
    /// pair is absent or at another version when read is a `VersionMismatch` without a write,
    /// as the single call's failed condition would be.
    pub(super) async fn batch_save_pairs(
        &self,
        saves: &[(Pair, u64)],
    ) -> StoreResult<Vec<SaveOutcome>> {
        // The stored pair of each id as far as this batch knows it (known, read, or written by
        // an earlier group); ids whose pair a lost compare-and-set made unknown are read again.
        let mut known: HashMap<String, KnownPair> = HashMap::new();
        let mut wanted: Vec<String> = Vec::new();
        let mut seen = HashSet::new();
        for (pair, expected) in saves {
            if seen.insert(pair.pair_id.as_str()) {
                match self.known_pair(&pair.pair_id, *expected) {
                    Some(k) => {
                        known.insert(pair.pair_id.clone(), k);
                    }
                    None => wanted.push(pair.pair_id.clone()),
                }
            }
        }
        if !wanted.is_empty() {
            for pair in self.pairs(&wanted).await? {
                known.insert(pair.pair_id.clone(), KnownPair::of(&pair));
            }
        }
        let mut unknown: HashSet<String> = HashSet::new();
        // Grouped by the actions each save needs as read (a later group is planned again
        // from what the earlier ones wrote, and cut again if that needs more actions).
        let mut shapes = Vec::with_capacity(saves.len());
        for (pair, expected) in saves {
            let ids = record_ids(pair);
            let mut keys = vec![table::pair_key(&pair.pair_id)];
            keys.extend(ids.iter().map(|(side, id)| table::link_key(*side, id)));
            let actions = known
                .get(&pair.pair_id)
                .filter(|before| before.version == *expected)
                .map_or(0, |before| 1 + new_links(before, pair).len());
            shapes.push(Shape {
                keys,
                actions,
                bytes: item_bytes(&pair_item(pair)?) + LINK_BYTES * ids.len(),
            });
        }
        let mut outcomes = Vec::with_capacity(saves.len());
        for group in transaction::groups(&shapes, Limits::DYNAMODB) {
            let again: Vec<String> = saves[group.clone()]
                .iter()
                .map(|(p, _)| p.pair_id.clone())
                .filter(|id| unknown.contains(id))
                .collect();
            if !again.is_empty() {
                for id in &again {
                    known.remove(id);
                    unknown.remove(id);
                }
                for pair in self.pairs(&again).await? {
                    known.insert(pair.pair_id.clone(), KnownPair::of(&pair));
                }
            }
            // Per save of the group: its stored pair as written, and its new links; `None`
            // when it is a mismatch without a write.
            let mut planned: Vec<Option<PlannedSave>> = Vec::new();
            let mut entries = Vec::new();
            for (pair, expected) in &saves[group] {
                let Some(before) = known.get(&pair.pair_id).filter(|b| b.version == *expected)
                else {
                    planned.push(None);
                    continue;
                };
                let mut stored = pair.clone();
                stored.version = expected + 1;
                let new_ids = new_links(before, &stored);
                let put = Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(pair_item(&stored)?))
                    .condition_expression("attribute_exists(#pk) AND #version = :expected")
                    .expression_attribute_names("#pk", table::PK)
                    .expression_attribute_names("#version", "version")
                    .expression_attribute_values(":expected", n(*expected));
                let mut actions = vec![TransactWriteItem::builder().put(build(put)?).build()];
                for (side, id) in &new_ids {
                    actions.push(link_put(&self.table, &stored.pair_id, *side, id)?);
                }
                entries.push(actions);
                planned.push(Some(PlannedSave { stored, new_ids }));
            }
            let mut answers = Vec::with_capacity(entries.len());
            for part in within_actions(&entries) {
                answers.extend(self.apply(&entries[part], pair_refusal).await?);
            }
            let mut answers = answers.into_iter();
            for plan in planned {
                let Some(PlannedSave { stored, new_ids }) = plan else {
                    outcomes.push(SaveOutcome::VersionMismatch);
                    continue;
                };
                let answer = answers
                    .next()
                    .ok_or_else(|| StoreError::Permanent("batch save left unanswered".into()))?;
                let links: Vec<(Side, &str)> = new_ids
                    .iter()
                    .map(|(side, id)| (*side, id.as_str()))
                    .collect();
                let outcome = self
                    .outcome(answer, SaveOutcome::VersionMismatch, &links)
                    .await?;
                match outcome {
                    SaveOutcome::Saved => {
                        self.know_pair(&stored);
                        known.insert(stored.pair_id.clone(), KnownPair::of(&stored));
                    }
                    SaveOutcome::VersionMismatch => {
                        unknown.insert(stored.pair_id.clone());
                    }
                    _ => {}
                }
                outcomes.push(outcome);
            }
        }
        Ok(outcomes)
    }
}

/// The record ids of `pair` the stored pair `before` does not hold: those need a link put.
fn new_links(before: &KnownPair, pair: &Pair) -> Vec<(Side, String)> {
    record_ids(pair)
        .into_iter()
        .filter(|(side, id)| {
            let held = match side {
                Side::Salesforce => before.sf_id.as_deref(),
                Side::Genesys => before.gz_id.as_deref(),
            };
            held != Some(*id)
        })
        .map(|(side, id)| (side, id.to_string()))
        .collect()
}

/// Consecutive ranges of `entries` of at most [`transaction::MAX_ACTIONS`] actions each.
fn within_actions(entries: &[Vec<TransactWriteItem>]) -> Vec<std::ops::Range<usize>> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut actions = 0;
    for (i, entry) in entries.iter().enumerate() {
        if actions + entry.len() > transaction::MAX_ACTIONS && i > start {
            parts.push(start..i);
            start = i;
            actions = 0;
        }
        actions += entry.len();
    }
    if start < entries.len() {
        parts.push(start..entries.len());
    }
    parts
}
