//! The reconcile use case: one batch of pair references → leases, bulk reads of both sides,
//! the engine's plans, bulk writes, and a compare-and-set commit of each pair's new base.
//!
//! Idempotent under redelivery: a pair whose writes already landed re-plans to nothing (values
//! equal the base); a new pair is reserved in the store (conditional link put) before anything
//! is created, so two workers can never create it twice.

use crate::integration::{Integration, PipelineError, RunFacts};
use crate::queue::{ConflictEvent, MESSAGE_VERSION, PairRef, ReconcileBatch};
use crate::stats::SyncStats;
use crate::store::{ConflictKind, ConflictRecord, ConflictStatus, Pair, PairStatus, SaveOutcome};
use crate::system::{CreateRequest, RawRecord, RecordError, UpdateRequest, WriteOutcome};
use contact_sync_engine::mapping::GenesysLink;
use contact_sync_engine::merge::{MergeClock, Reason};
use contact_sync_engine::plan::{
    PairAction, PairInput, PairPlan, PlanContext, SideWrite, plan_pair,
};
use contact_sync_engine::{Side, SideRecord};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The result of reconciling one batch.
#[derive(Debug, Default)]
pub struct ReconcileOutcome {
    pub stats: SyncStats,
    /// References that could not be worked on now (pair leased by another worker, store
    /// unavailable); redeliver them. Pairs whose *writes* failed are not here: they are stored
    /// as pending and the next poll retries them.
    pub retry: Vec<PairRef>,
    /// Conflict events sent to the conflict queue.
    pub conflicts_sent: usize,
}

/// One pair being worked on.
struct Work {
    /// The stored pair, or a fresh reservation for a new one.
    pair: Pair,
    /// True when `pair` was reserved by this batch (not stored before).
    is_new: bool,
    sf_id: Option<String>,
    gz_id: Option<String>,
    plan: Option<PairPlan>,
    /// Set when any write for this pair failed: the side and the system's answer.
    error: Option<(Side, RecordError)>,
}

/// Reconciles one batch.
pub async fn reconcile(
    integration: &Integration,
    batch: &ReconcileBatch,
) -> Result<ReconcileOutcome, PipelineError> {
    if batch.v != MESSAGE_VERSION {
        return Err(PipelineError::Message(format!(
            "reconcile batch version {} (this build reads {MESSAGE_VERSION})",
            batch.v
        )));
    }
    if batch.integration != integration.name {
        return Err(PipelineError::Message(format!(
            "batch for integration `{}` delivered to `{}`",
            batch.integration, integration.name
        )));
    }
    let facts = integration.prepare().await?;
    let owner = format!("{}:{}", batch.run_id, uuid::Uuid::new_v4());
    let mut outcome = ReconcileOutcome::default();
    let mut work = resolve(integration, batch, &mut outcome).await?;

    // Lease every pair (new ones get a fresh id nobody else knows, so this always succeeds).
    let now = integration.clock.now();
    let ttl = integration.settings.lease_ttl;
    let mut leased = Vec::with_capacity(work.len());
    for w in work.drain(..) {
        let key = lease_key(&w.pair.pair_id);
        if integration
            .store
            .acquire_lease(&key, &owner, now, ttl)
            .await?
        {
            leased.push(w);
        } else {
            outcome.retry.push(PairRef {
                pair_id: Some(w.pair.pair_id.clone()),
                sf_id: w.sf_id.clone(),
                gz_id: w.gz_id.clone(),
            });
        }
    }
    let result = reconcile_leased(integration, batch, &facts, &mut leased, &mut outcome).await;
    for w in &leased {
        integration
            .store
            .release_lease(&lease_key(&w.pair.pair_id), &owner)
            .await?;
    }
    result?;
    tracing::info!(
        run_id = %batch.run_id,
        pairs = batch.pairs.len(),
        created_sf = outcome.stats.created.salesforce,
        created_gz = outcome.stats.created.genesys,
        updated_sf = outcome.stats.updated.salesforce,
        updated_gz = outcome.stats.updated.genesys,
        unchanged = outcome.stats.unchanged,
        conflicts = outcome.stats.conflicts,
        failed = outcome.stats.failed,
        "batch reconciled"
    );
    Ok(outcome)
}

fn lease_key(pair_id: &str) -> String {
    format!("pair#{pair_id}")
}

/// Turns references into work: finds each one's pair, merges references to the same pair,
/// and parks contradictory references for review.
async fn resolve(
    integration: &Integration,
    batch: &ReconcileBatch,
    outcome: &mut ReconcileOutcome,
) -> Result<Vec<Work>, PipelineError> {
    let store = &integration.store;
    let sf_ids: Vec<String> = batch.pairs.iter().filter_map(|r| r.sf_id.clone()).collect();
    let gz_ids: Vec<String> = batch.pairs.iter().filter_map(|r| r.gz_id.clone()).collect();
    let sf_links = store.links(Side::Salesforce, &sf_ids).await?;
    let gz_links = store.links(Side::Genesys, &gz_ids).await?;
    let mut pair_ids: BTreeSet<String> = batch
        .pairs
        .iter()
        .filter_map(|r| r.pair_id.clone())
        .collect();
    pair_ids.extend(sf_links.values().cloned());
    pair_ids.extend(gz_links.values().cloned());
    let pair_ids: Vec<String> = pair_ids.into_iter().collect();
    let pairs: HashMap<String, Pair> = store
        .pairs(&pair_ids)
        .await?
        .into_iter()
        .map(|p| (p.pair_id.clone(), p))
        .collect();

    let mut existing: BTreeMap<String, Work> = BTreeMap::new();
    let mut fresh: BTreeMap<(Option<String>, Option<String>), Work> = BTreeMap::new();
    for r in &batch.pairs {
        let found: BTreeSet<&String> = [
            r.pair_id.as_ref(),
            r.sf_id.as_ref().and_then(|id| sf_links.get(id)),
            r.gz_id.as_ref().and_then(|id| gz_links.get(id)),
        ]
        .into_iter()
        .flatten()
        .collect();
        if found.len() > 1 {
            outcome.stats.review += 1;
            record_review(
                integration,
                &batch.run_id,
                r,
                "the records of this reference belong to different pairs",
            )
            .await?;
            continue;
        }
        match found.into_iter().next() {
            Some(pair_id) => {
                let Some(pair) = pairs.get(pair_id) else {
                    // A link without its pair: the store lost an item. Leave it for a person.
                    outcome.stats.failed += 1;
                    tracing::error!(pair_id = %pair_id, "linked pair is missing from the store");
                    continue;
                };
                if pair.status == PairStatus::Unlinked {
                    outcome.stats.skipped += 1;
                    continue;
                }
                let w = existing.entry(pair_id.clone()).or_insert_with(|| Work {
                    pair: pair.clone(),
                    is_new: false,
                    sf_id: pair.sf_id.clone(),
                    gz_id: pair.gz_id.clone(),
                    plan: None,
                    error: None,
                });
                // Adopt an id the pair does not have yet (e.g. a record created by a run that
                // crashed before linking it); refuse one that contradicts the pair.
                let contradicts = |have: &Option<String>, offered: &Option<String>| matches!((have, offered), (Some(a), Some(b)) if a != b);
                if contradicts(&w.sf_id, &r.sf_id) || contradicts(&w.gz_id, &r.gz_id) {
                    outcome.stats.review += 1;
                    record_review(
                        integration,
                        &batch.run_id,
                        r,
                        "the reference contradicts the pair's links",
                    )
                    .await?;
                    continue;
                }
                w.sf_id = w.sf_id.take().or(r.sf_id.clone());
                w.gz_id = w.gz_id.take().or(r.gz_id.clone());
            }
            None => {
                if r.sf_id.is_none() && r.gz_id.is_none() {
                    return Err(PipelineError::Message(
                        "a pair reference names no record".into(),
                    ));
                }
                fresh
                    .entry((r.sf_id.clone(), r.gz_id.clone()))
                    .or_insert_with(|| Work {
                        pair: Pair {
                            pair_id: format!("p-{}", uuid::Uuid::new_v4()),
                            sf_id: None,
                            gz_id: None,
                            base: None,
                            version: 1,
                            status: PairStatus::Pending,
                            last_error: None,
                            synced_at: None,
                        },
                        is_new: true,
                        sf_id: r.sf_id.clone(),
                        gz_id: r.gz_id.clone(),
                        plan: None,
                        error: None,
                    });
            }
        }
    }
    Ok(existing.into_values().chain(fresh.into_values()).collect())
}

async fn reconcile_leased(
    integration: &Integration,
    batch: &ReconcileBatch,
    facts: &RunFacts,
    work: &mut [Work],
    outcome: &mut ReconcileOutcome,
) -> Result<(), PipelineError> {
    let mapping = &integration.mapping;
    // Bulk reads of both sides.
    let sf_ids: Vec<String> = unique(work.iter().filter_map(|w| w.sf_id.clone()));
    let gz_ids: Vec<String> = unique(work.iter().filter_map(|w| w.gz_id.clone()));
    let (sf_raw, gz_raw) = tokio::try_join!(
        integration.salesforce.fetch(&sf_ids),
        integration.genesys.fetch(&gz_ids)
    )?;
    let sf_records: HashMap<String, SideRecord> = sf_raw
        .iter()
        .map(|r: &RawRecord| {
            let rec = mapping.salesforce_record(&r.id, r.modified_at, &r.body);
            (rec.id.clone(), rec)
        })
        .collect();
    let gz_records: HashMap<String, SideRecord> = gz_raw
        .into_iter()
        .map(|r| {
            let rec =
                mapping.genesys_record(&r.id, r.modified_at, r.body, Some(&facts.link_source_id));
            (rec.id.clone(), rec)
        })
        .collect();

    // Plan.
    let ctx = PlanContext {
        mapping,
        clock: MergeClock::at(integration.clock.now()),
        link_source_id: &facts.link_source_id,
        instance_url: facts.instance_url.as_deref(),
    };
    for w in work.iter_mut() {
        let sf = w.sf_id.as_ref().and_then(|id| sf_records.get(id));
        let gz = w.gz_id.as_ref().and_then(|id| gz_records.get(id));
        // A Genesys record linked (externalIds) to another Salesforce record is not ours.
        if let (Some(sf), Some(gz)) = (sf, gz)
            && gz.link.as_ref().is_some_and(|l| *l != sf.id)
        {
            outcome.stats.review += 1;
            let r = PairRef {
                pair_id: (!w.is_new).then(|| w.pair.pair_id.clone()),
                sf_id: Some(sf.id.clone()),
                gz_id: Some(gz.id.clone()),
            };
            record_review(
                integration,
                &batch.run_id,
                &r,
                "the Genesys contact is linked to another Salesforce record",
            )
            .await?;
            continue;
        }
        // Linked ids: the stored pair's, or for a new pair a Genesys record's own link (its
        // Salesforce record is gone: never re-create it).
        let linked_sf = w.pair.sf_id.clone().or_else(|| {
            gz.and_then(|g| g.link.clone())
                .filter(|l| Some(l) == w.sf_id.as_ref() && sf.is_none())
        });
        // From here on an id is kept only when its record exists or it is linked (a linked
        // record that is gone makes the plan unlink the pair).
        if sf.is_none() {
            w.sf_id = linked_sf.clone();
        }
        if gz.is_none() {
            w.gz_id = w.pair.gz_id.clone();
        }
        let input = PairInput {
            base: w.pair.base.as_ref(),
            sf_id: linked_sf.as_deref(),
            gz_id: w.pair.gz_id.as_deref(),
            salesforce: sf,
            genesys: gz,
        };
        w.plan = Some(plan_pair(&ctx, &input));
    }

    // Reserve new pairs before creating anything: the conditional link put is what stops two
    // workers from creating the same record twice.
    for w in work.iter_mut().filter(|w| w.is_new && w.plan.is_some()) {
        let plan = w.plan.as_ref().map(|p| p.action);
        if matches!(plan, Some(PairAction::Skip)) {
            outcome.stats.skipped += 1;
            w.plan = None;
            continue;
        }
        if w.sf_id.is_none() && w.gz_id.is_none() {
            // Nothing left to pair (the records vanished before we got here).
            w.plan = None;
            continue;
        }
        w.pair.sf_id = w.sf_id.clone();
        w.pair.gz_id = w.gz_id.clone();
        match integration.store.create_pair(&w.pair).await? {
            SaveOutcome::Saved => {}
            other => {
                tracing::info!(pair_id = %w.pair.pair_id, outcome = ?other, "new pair taken by another worker");
                outcome.stats.skipped += 1;
                w.plan = None;
            }
        }
    }

    apply_salesforce(integration, work, outcome).await;
    apply_genesys(integration, facts, work, &gz_records, outcome).await;
    commit(integration, batch, work, &sf_records, &gz_records, outcome).await
}

/// Sends every Salesforce create and update of the batch in bulk.
async fn apply_salesforce(
    integration: &Integration,
    work: &mut [Work],
    outcome: &mut ReconcileOutcome,
) {
    let mut creates = Vec::new();
    let mut updates = Vec::new();
    for w in work.iter() {
        match w.plan.as_ref().and_then(|p| p.salesforce.as_ref()) {
            Some(SideWrite::Create { body }) => creates.push(CreateRequest {
                key: w.pair.pair_id.clone(),
                body: body.clone(),
            }),
            Some(SideWrite::Update { id, body, .. }) => updates.push(UpdateRequest {
                id: id.clone(),
                body: body.clone(),
            }),
            None => {}
        }
    }
    if !creates.is_empty() {
        let keys = creates.iter().map(|c| c.key.clone()).collect();
        let results = integration.salesforce.create(creates).await;
        settle(
            work,
            Side::Salesforce,
            keys,
            results,
            |w| Some(&w.pair.pair_id),
            |w, id| {
                outcome.stats.created.add(Side::Salesforce, 1);
                w.sf_id = Some(id);
            },
        );
    }
    if !updates.is_empty() {
        let keys = updates.iter().map(|u| u.id.clone()).collect();
        let results = integration.salesforce.update(updates).await;
        settle(
            work,
            Side::Salesforce,
            keys,
            results,
            |w| w.sf_id.as_deref(),
            |_, _| {
                outcome.stats.updated.add(Side::Salesforce, 1);
            },
        );
    }
}

/// Sends every Genesys create and update in bulk, including the link write-back for records
/// just created in Salesforce.
async fn apply_genesys(
    integration: &Integration,
    facts: &RunFacts,
    work: &mut [Work],
    gz_records: &HashMap<String, SideRecord>,
    outcome: &mut ReconcileOutcome,
) {
    let mapping = &integration.mapping;
    let mut creates = Vec::new();
    let mut updates = Vec::new();
    for w in work.iter() {
        let Some(plan) = &w.plan else { continue };
        match plan.genesys.as_ref() {
            Some(SideWrite::Create { body }) => {
                if let Some(sf_id) = &w.sf_id {
                    creates.push(CreateRequest {
                        key: sf_id.clone(),
                        body: body.clone(),
                    });
                }
            }
            Some(SideWrite::Update { id, body, .. }) => updates.push(UpdateRequest {
                id: id.clone(),
                body: body.clone(),
            }),
            None => {
                // Created in Salesforce just now: write the new Id back to the Genesys record.
                let created_sf = matches!(
                    plan.action,
                    PairAction::Create {
                        on: Side::Salesforce
                    }
                );
                if created_sf
                    && w.error.is_none()
                    && let (Some(sf_id), Some(gz)) =
                        (&w.sf_id, w.gz_id.as_ref().and_then(|id| gz_records.get(id)))
                {
                    let link = GenesysLink::new(
                        &facts.link_source_id,
                        sf_id,
                        facts.instance_url.as_deref(),
                    );
                    updates.push(UpdateRequest {
                        id: gz.id.clone(),
                        body: mapping.genesys_update_body(&gz.raw, &[], Some(&link)),
                    });
                }
            }
        }
    }
    if !creates.is_empty() {
        let keys = creates.iter().map(|c| c.key.clone()).collect();
        let results = integration.genesys.create(creates).await;
        settle(
            work,
            Side::Genesys,
            keys,
            results,
            |w| w.sf_id.as_deref(),
            |w, id| {
                outcome.stats.created.add(Side::Genesys, 1);
                w.gz_id = Some(id);
            },
        );
    }
    if !updates.is_empty() {
        let keys = updates.iter().map(|u| u.id.clone()).collect();
        let results = integration.genesys.update(updates).await;
        settle(
            work,
            Side::Genesys,
            keys,
            results,
            |w| w.gz_id.as_deref(),
            |_, _| {
                outcome.stats.updated.add(Side::Genesys, 1);
            },
        );
    }
}

/// Stores each pair's outcome: the new base when every write landed, otherwise `pending` with
/// the old base (re-planning against it converges once the failed write goes through).
async fn commit(
    integration: &Integration,
    batch: &ReconcileBatch,
    work: &mut [Work],
    sf_records: &HashMap<String, SideRecord>,
    gz_records: &HashMap<String, SideRecord>,
    outcome: &mut ReconcileOutcome,
) -> Result<(), PipelineError> {
    let now = integration.clock.now();
    let mut events = Vec::new();
    for w in work.iter_mut() {
        let Some(plan) = w.plan.take() else { continue };
        let expected = w.pair.version;
        let mut next = w.pair.clone();
        // Ids as they stand after the writes (including records created just now).
        next.sf_id = w.sf_id.clone();
        next.gz_id = w.gz_id.clone();
        let mut conflicts = Vec::new();
        match (&w.error, plan.action) {
            (Some((_, error)), _) if error.retryable => {
                outcome.stats.failed += 1;
                tracing::warn!(pair_id = %w.pair.pair_id, code = %error.code, "pair failed; pending for the next run");
                next.status = PairStatus::Pending;
                next.last_error = Some(error.clone());
            }
            (Some((side, error)), _) => {
                outcome.stats.review += 1;
                tracing::warn!(pair_id = %w.pair.pair_id, %side, code = %error.code, "write refused; parked for review until the record changes");
                next.status = PairStatus::Rejected;
                next.last_error = Some(error.clone());
                let kind = ConflictKind::Rejected {
                    side: *side,
                    code: error.code.clone(),
                    message: error.message.clone(),
                };
                conflicts.push(conflict_record(
                    integration,
                    batch,
                    &next,
                    "record",
                    "write",
                    kind,
                    ConflictStatus::Open,
                    (None, None, None),
                    now,
                ));
            }
            (None, PairAction::Unlink { missing }) => {
                outcome.stats.unlinked += 1;
                outcome.stats.review += 1;
                next.status = PairStatus::Unlinked;
                next.last_error = None;
                conflicts.push(conflict_record(
                    integration,
                    batch,
                    &next,
                    "record",
                    "unlink",
                    ConflictKind::Deleted { side: missing },
                    ConflictStatus::Open,
                    (None, None, None),
                    now,
                ));
            }
            (None, action) => {
                match action {
                    PairAction::Unchanged => outcome.stats.unchanged += 1,
                    PairAction::Skip => outcome.stats.skipped += 1,
                    _ => {}
                }
                next.status = PairStatus::Synced;
                next.last_error = None;
                next.base = Some(plan.new_base.clone());
                next.synced_at = Some(now);
                let sf = next.sf_id.as_ref().and_then(|id| sf_records.get(id));
                let gz = next.gz_id.as_ref().and_then(|id| gz_records.get(id));
                for d in plan.conflicts() {
                    let values = (
                        w.pair
                            .base
                            .as_ref()
                            .and_then(|b| b.get(&d.field))
                            .map(str::to_string),
                        sf.and_then(|r| r.fields.get(&d.field)).map(str::to_string),
                        gz.and_then(|r| r.fields.get(&d.field)).map(str::to_string),
                    );
                    let (kind, status, policy) = match &d.reason {
                        Reason::Conflict { policy, winner } => (
                            ConflictKind::Resolved { winner: *winner },
                            ConflictStatus::Closed,
                            policy.as_str(),
                        ),
                        _ => (ConflictKind::Manual, ConflictStatus::Open, "manual"),
                    };
                    if status == ConflictStatus::Open {
                        outcome.stats.review += 1;
                    } else {
                        outcome.stats.conflicts += 1;
                    }
                    conflicts.push(conflict_record(
                        integration,
                        batch,
                        &next,
                        &d.field,
                        policy,
                        kind,
                        status,
                        values,
                        now,
                    ));
                }
            }
        }
        match integration.store.save_pair(&next, expected).await? {
            SaveOutcome::Saved => {
                for c in conflicts {
                    integration.store.record_conflict(&c).await?;
                    events.push(ConflictEvent {
                        v: MESSAGE_VERSION,
                        integration: integration.name.clone(),
                        run_id: batch.run_id.clone(),
                        conflict_id: c.id.clone(),
                        pair_id: c.pair_id.clone(),
                        sf_id: c.sf_id.clone(),
                        gz_id: c.gz_id.clone(),
                        field: c.field.clone(),
                        policy: c.policy.clone(),
                        outcome: outcome_name(&c.kind),
                        at: c.at,
                    });
                }
            }
            other => {
                // Writes may have landed; the pair is re-planned next time and converges.
                tracing::warn!(pair_id = %w.pair.pair_id, outcome = ?other, "pair commit lost a race");
                outcome.stats.failed += 1;
                outcome.retry.push(PairRef {
                    pair_id: Some(w.pair.pair_id.clone()),
                    sf_id: None,
                    gz_id: None,
                });
            }
        }
    }
    outcome.conflicts_sent = events.len();
    if !events.is_empty() {
        integration.queue.send_conflicts(events).await?;
    }
    Ok(())
}

fn outcome_name(kind: &ConflictKind) -> String {
    match kind {
        ConflictKind::Resolved { winner } => format!("{winner}_won"),
        ConflictKind::Manual => "held_for_review".into(),
        ConflictKind::AmbiguousMatch { .. } => "ambiguous_match".into(),
        ConflictKind::Deleted { side } => format!("deleted_on_{side}"),
        ConflictKind::Rejected { side, .. } => format!("rejected_by_{side}"),
    }
}

#[allow(clippy::too_many_arguments)]
fn conflict_record(
    integration: &Integration,
    batch: &ReconcileBatch,
    pair: &Pair,
    field: &str,
    policy: &str,
    kind: ConflictKind,
    status: ConflictStatus,
    (base_value, salesforce_value, genesys_value): (Option<String>, Option<String>, Option<String>),
    at: chrono::DateTime<chrono::Utc>,
) -> ConflictRecord {
    // Open items are one per pair and field (seen again → no-op); audit entries one per run.
    let id = match status {
        ConflictStatus::Open => format!("{}#{field}#open", pair.pair_id),
        ConflictStatus::Closed => format!("{}#{field}#{}", pair.pair_id, batch.run_id),
    };
    ConflictRecord {
        id,
        integration: integration.name.clone(),
        run_id: batch.run_id.clone(),
        pair_id: Some(pair.pair_id.clone()),
        sf_id: pair.sf_id.clone(),
        gz_id: pair.gz_id.clone(),
        field: field.to_string(),
        policy: policy.to_string(),
        kind,
        status,
        base_value,
        salesforce_value,
        genesys_value,
        at,
    }
}

async fn record_review(
    integration: &Integration,
    run_id: &str,
    r: &PairRef,
    why: &str,
) -> Result<(), PipelineError> {
    tracing::warn!(pair_id = ?r.pair_id, sf_id = ?r.sf_id, gz_id = ?r.gz_id, why, "reference held for review");
    let id = format!(
        "match#{}#{}",
        r.sf_id.as_deref().unwrap_or("-"),
        r.gz_id.as_deref().unwrap_or("-")
    );
    let candidates = [r.sf_id.clone(), r.gz_id.clone(), r.pair_id.clone()]
        .into_iter()
        .flatten()
        .collect();
    integration
        .store
        .record_conflict(&ConflictRecord::ambiguous_match(
            id,
            &integration.name,
            run_id,
            (r.pair_id.clone(), r.sf_id.clone(), r.gz_id.clone()),
            why,
            candidates,
            integration.clock.now(),
        ))
        .await?;
    Ok(())
}

/// Hands each outcome of one bulk call on `side` to the work item it belongs to (`key_of` gives
/// an item's request key): `on_ok` with the record id on success, the item failed otherwise.
fn settle(
    work: &mut [Work],
    side: Side,
    keys: Vec<String>,
    results: Result<Vec<WriteOutcome>, crate::system::SystemError>,
    key_of: impl Fn(&Work) -> Option<&str>,
    mut on_ok: impl FnMut(&mut Work, String),
) {
    // The first item with a key answers for it (as a linear search would).
    let mut index: HashMap<String, usize> = HashMap::new();
    for (i, w) in work.iter().enumerate() {
        if let Some(k) = key_of(w) {
            index.entry(k.to_string()).or_insert(i);
        }
    }
    for (key, result) in by_key(keys, results) {
        if let Some(w) = index.get(&key).map(|&i| &mut work[i]) {
            match result {
                Ok(id) => on_ok(w, id),
                Err(e) => fail(w, side, e),
            }
        }
    }
}

fn fail(w: &mut Work, side: Side, e: RecordError) {
    if w.error.is_none() {
        w.error = Some((side, e));
    }
}

/// Pairs each request key with its outcome; a failed call fails every request with a
/// retryable error (the outcome of the call is unknown).
fn by_key(
    keys: Vec<String>,
    results: Result<Vec<WriteOutcome>, crate::system::SystemError>,
) -> Vec<(String, Result<String, RecordError>)> {
    match results {
        Ok(outcomes) => {
            let mut found: HashMap<String, Result<String, RecordError>> =
                outcomes.into_iter().map(|o| (o.key, o.result)).collect();
            keys.into_iter()
                .map(|k| {
                    let r = found.remove(&k).unwrap_or_else(|| {
                        Err(RecordError {
                            code: "NO_RESULT".into(),
                            message: "the system returned no result for this record".into(),
                            retryable: true,
                        })
                    });
                    (k, r)
                })
                .collect()
        }
        Err(e) => {
            tracing::warn!(error = %e, records = keys.len(), "bulk write call failed");
            let error = RecordError {
                code: if e.is_retryable() {
                    "CALL_FAILED_RETRYABLE".into()
                } else {
                    "CALL_FAILED".into()
                },
                message: e.to_string(),
                retryable: e.is_retryable(),
            };
            keys.into_iter().map(|k| (k, Err(error.clone()))).collect()
        }
    }
}

fn unique(ids: impl Iterator<Item = String>) -> Vec<String> {
    let set: BTreeSet<String> = ids.collect();
    set.into_iter().collect()
}
