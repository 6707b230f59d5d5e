//! The reconcile use case: one batch of pair references → bulk reads of the store and both
//! sides, the engine's plans, leases for the pairs that have something to write, bulk writes,
//! and a compare-and-set commit of each pair's new base.
//!
//! A pair whose plan changes nothing (both sides equal the stored base, the pair synced with
//! nothing to record) costs reads only: no lease, no store write. A pair with writes is leased
//! after the reads, and only if nobody else has held its lease since the reads began
//! (`SyncStore::acquire_lease_free_since`): every writer holds the lease while it writes, so a
//! pair written by anyone after our reads is refused and read again on redelivery, and no
//! write is ever planned on stale reads (the commit's compare-and-set alone would catch a
//! moved pair only after our writes had landed).
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
    PairAction, PairInput, PairPlan, PlanContext, PlanExplanation, SalesforceMerge, SideWrite,
    plan_pair,
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
    /// The Salesforce merge survivor the poll saw in the delete log, if any.
    merged_into: Option<String>,
    plan: Option<PairPlan>,
    /// Set when any write for this pair failed: the side and the system's answer.
    error: Option<(Side, RecordError)>,
}

/// Reconciles one batch.
pub async fn reconcile(
    integration: &Integration,
    batch: &ReconcileBatch,
) -> Result<ReconcileOutcome, PipelineError> {
    reconcile_within(integration, batch, &mut None).await
}

/// Reconciles one batch, writing at most `budget` pairs when it is `Some` (and lowering it by
/// the pairs written). A pair counts when its plan does anything but leave it `unchanged` or
/// `skip` it; pairs over the budget are left untouched (not leased for long, not reserved,
/// not written, not committed) and counted in `stats.left`, for a later run to find again.
pub async fn reconcile_within(
    integration: &Integration,
    batch: &ReconcileBatch,
    budget: &mut Option<usize>,
) -> Result<ReconcileOutcome, PipelineError> {
    check_batch(integration, batch)?;
    crate::bulk_limits::adopt_remembered(integration).await;
    let facts = integration.prepare().await?;
    let owner = format!("{}:{}", batch.run_id, uuid::Uuid::new_v4());
    let mut outcome = ReconcileOutcome::default();
    // Every read the plans rest on (the stored pairs, then both systems' records) happens
    // after this instant. Reads need no lease: a pair is leased only when its plan writes,
    // and only if nobody else has held its lease since (so nobody can have written it after
    // these reads).
    let read_at = integration.clock.now();
    let mut work = resolve(integration, batch, &mut outcome).await?;
    let records = plan_work(integration, batch, &facts, &mut work, &mut outcome).await?;
    settle_quiet(&mut work, &mut outcome);

    let mut leased = Vec::new();
    let result = async {
        let mut work = lease_writers(
            integration,
            &owner,
            read_at,
            work,
            &mut leased,
            &mut outcome,
        )
        .await?;
        reconcile_leased(
            integration,
            batch,
            &facts,
            (&mut work, read_at),
            (&records.0, &records.1),
            &mut outcome,
            budget,
        )
        .await
    }
    .await;
    let released_at = integration.clock.now();
    integration
        .store
        .release_leases(&leased, &owner, released_at)
        .await?;
    crate::bulk_limits::remember_learned(integration).await;
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

fn check_batch(integration: &Integration, batch: &ReconcileBatch) -> Result<(), PipelineError> {
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
    // Refused before any call, so a malformed message touches nothing.
    if batch
        .pairs
        .iter()
        .any(|r| r.pair_id.is_none() && r.sf_id.is_none() && r.gz_id.is_none())
    {
        return Err(PipelineError::Message(
            "a pair reference names no record".into(),
        ));
    }
    Ok(())
}

/// What one pair of a batch would get (a dry run): field names and reasons, never values.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PairPreview {
    /// `None` for a pair that does not exist yet.
    pub pair_id: Option<String>,
    pub sf_id: Option<String>,
    pub gz_id: Option<String>,
    pub plan: PlanExplanation,
    /// The plan deletes or unlinks, and the batch has more of those than the delete circuit
    /// breaker lets through: the run would hold it.
    pub held_by_breaker: bool,
}

/// What a batch would do, planned against both systems' current records.
#[derive(Debug, Default)]
pub struct BatchPreview {
    pub pairs: Vec<PairPreview>,
    /// The counts the batch would add to a run's statistics if every write succeeded.
    pub stats: SyncStats,
}

/// Plans one batch exactly as [`reconcile`] would, and stops there: no lease, no reservation,
/// no write to either system, no commit. Review items it would record go to the
/// integration's store, so run it over a store that withholds writes
/// (`run_store::RunStore::dry`). `budget` works as in [`reconcile_within`].
pub async fn preview(
    integration: &Integration,
    batch: &ReconcileBatch,
    budget: &mut Option<usize>,
) -> Result<BatchPreview, PipelineError> {
    check_batch(integration, batch)?;
    let facts = integration.prepare().await?;
    let mut outcome = ReconcileOutcome::default();
    let mut work = resolve(integration, batch, &mut outcome).await?;
    plan_work(integration, batch, &facts, &mut work, &mut outcome).await?;
    let held = breaker_trips(integration, &work);
    for w in work.iter_mut().filter(|w| held && is_delete(w)) {
        // Held deletes are not written, so they do not spend the budget.
        if let Some(plan) = w.plan.take() {
            outcome.stats.failed += 1;
            preview_of(w, plan, true, &mut outcome.stats, &mut Vec::new());
        }
    }
    if held {
        outcome.stats.review += 1;
    }
    spend_budget(&mut work, budget, &mut outcome);
    let mut pairs = Vec::new();
    for w in work.iter_mut() {
        if let Some(plan) = w.plan.take() {
            preview_of(w, plan, false, &mut outcome.stats, &mut pairs);
        }
    }
    Ok(BatchPreview {
        pairs,
        stats: outcome.stats,
    })
}

/// Adds one planned pair to a preview and tallies what its plan would write.
fn preview_of(
    w: &Work,
    plan: PairPlan,
    held: bool,
    stats: &mut SyncStats,
    out: &mut Vec<PairPreview>,
) {
    if !held {
        tally(&plan, stats);
    }
    out.push(PairPreview {
        pair_id: (!w.is_new).then(|| w.pair.pair_id.clone()),
        sf_id: w.sf_id.clone(),
        gz_id: w.gz_id.clone(),
        plan: plan.explain(),
        held_by_breaker: held,
    });
}

/// True for a plan that unlinks its pair (its only write takes the link off the record left).
fn unlinks(plan: Option<&PairPlan>) -> bool {
    matches!(
        plan.map(|p| &p.action),
        Some(PairAction::Unlink { .. } | PairAction::Forget { .. })
    )
}

/// Counts a plan the way [`commit`] counts it once every write has landed.
fn tally(plan: &PairPlan, stats: &mut SyncStats) {
    for side in [Side::Salesforce, Side::Genesys] {
        // A record created in Salesforce gets its Genesys link in a write-back instead; an
        // unlink's write is counted as the unlink.
        let write_back = side == Side::Genesys
            && plan.action
                == (PairAction::Create {
                    on: Side::Salesforce,
                });
        let counted = !write_back && !unlinks(Some(plan));
        match plan.write_for(side) {
            Some(SideWrite::Create { .. }) => stats.created.add(side, 1),
            Some(SideWrite::Update { .. }) if counted => stats.updated.add(side, 1),
            Some(SideWrite::Delete { .. }) => stats.deleted.add(side, 1),
            _ => {}
        }
    }
    match &plan.action {
        PairAction::Create {
            on: Side::Salesforce,
        } => stats.updated.add(Side::Genesys, 1),
        PairAction::Unchanged => stats.unchanged += 1,
        PairAction::Skip | PairAction::Repoint { .. } => stats.skipped += 1,
        PairAction::Unlink { .. } => {
            stats.unlinked += 1;
            stats.review += 1;
        }
        PairAction::Delete { .. } | PairAction::Forget { .. } => stats.unlinked += 1,
        _ => {}
    }
    if matches!(
        plan.action,
        PairAction::Unlink { .. } | PairAction::Delete { .. } | PairAction::Forget { .. }
    ) {
        return;
    }
    for d in &plan.decisions {
        match &d.reason {
            Reason::Conflict { .. } | Reason::ChosenByPerson => stats.conflicts += 1,
            Reason::HeldForReview | Reason::Unmapped { review: true, .. } => stats.review += 1,
            _ => {}
        }
    }
}

/// Lowers `budget` by the pairs whose plans do something, and drops the plans of those over
/// it (counted as left). Pairs that are unchanged or skipped are free.
fn spend_budget(work: &mut [Work], budget: &mut Option<usize>, outcome: &mut ReconcileOutcome) {
    let Some(remaining) = budget else { return };
    for w in work.iter_mut() {
        let Some(plan) = &w.plan else { continue };
        if matches!(plan.action, PairAction::Unchanged | PairAction::Skip) {
            continue;
        }
        if *remaining == 0 {
            w.plan = None;
            outcome.stats.left += 1;
        } else {
            *remaining -= 1;
        }
    }
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
                    // A new Salesforce record matched to a Genesys contact that a tombstone
                    // holds (unlinked after its own Salesforce record went): synced as a new
                    // record, never linked to that contact (see `past_tombstone`).
                    if let Some(new) = past_tombstone(r, pair) {
                        fresh
                            .entry((new.sf_id.clone(), None))
                            .or_insert_with(|| Work {
                                pair: Pair::new(format!("p-{}", uuid::Uuid::new_v4()), None, None),
                                is_new: true,
                                sf_id: new.sf_id,
                                gz_id: None,
                                merged_into: None,
                                plan: None,
                                error: None,
                            });
                        continue;
                    }
                    outcome.stats.skipped += 1;
                    continue;
                }
                let w = existing.entry(pair_id.clone()).or_insert_with(|| Work {
                    pair: pair.clone(),
                    is_new: false,
                    sf_id: pair.sf_id.clone(),
                    gz_id: pair.gz_id.clone(),
                    merged_into: None,
                    plan: None,
                    error: None,
                });
                if r.merged_into.is_some() {
                    w.merged_into = r.merged_into.clone();
                }
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
                        pair: Pair::new(format!("p-{}", uuid::Uuid::new_v4()), None, None),
                        is_new: true,
                        sf_id: r.sf_id.clone(),
                        gz_id: r.gz_id.clone(),
                        merged_into: None,
                        plan: None,
                        error: None,
                    });
            }
        }
    }
    Ok(existing.into_values().chain(fresh.into_values()).collect())
}

/// The reference of a new Salesforce record that the poll matched to a Genesys contact held by
/// `tombstone` (an unlinked pair), without that contact: the person was created again in
/// Salesforce after the pair was unlinked. The tombstone keeps the contact (it is never
/// re-matched, neither to the gone record nor to a new one, whose twin is created instead:
/// a person who wants the old contact back decides it from the unlink's review item).
fn past_tombstone(r: &PairRef, tombstone: &Pair) -> Option<PairRef> {
    let sf_id = r.sf_id.as_ref()?;
    (r.pair_id.is_none()
        && tombstone.sf_id.as_ref() != Some(sf_id)
        && r.gz_id.is_some()
        && r.gz_id == tombstone.gz_id)
        .then(|| PairRef {
            pair_id: None,
            sf_id: Some(sf_id.clone()),
            gz_id: None,
            merged_into: None,
        })
}

/// A pair's plan is done without a lease or a write when it leaves everything as stored: the
/// plan writes nothing to either system, the stored pair is synced with the same ids, no
/// error and no choices waiting, its base is the plan's new base, and no decision has an
/// audit entry or review item to record. Saving it would change nothing but its version.
fn is_quiet(w: &Work, plan: &PairPlan) -> bool {
    plan.action == PairAction::Unchanged
        && plan.salesforce.is_none()
        && plan.genesys.is_none()
        && !w.is_new
        && w.merged_into.is_none()
        && w.error.is_none()
        && w.pair.status == PairStatus::Synced
        && w.pair.last_error.is_none()
        && w.pair.resolutions.is_empty()
        && w.sf_id == w.pair.sf_id
        && w.gz_id == w.pair.gz_id
        && w.pair.base.as_ref() == Some(&plan.new_base)
        && plan
            .decisions
            .iter()
            .all(|d| audit_entry(&d.reason).is_none())
}

/// Counts the quiet pairs (see [`is_quiet`]) unchanged and drops their plans: nothing of theirs
/// is leased, written or committed.
fn settle_quiet(work: &mut [Work], outcome: &mut ReconcileOutcome) {
    for w in work.iter_mut() {
        if w.plan.as_ref().is_some_and(|plan| is_quiet(w, plan)) {
            w.plan = None;
            outcome.stats.unchanged += 1;
        }
    }
}

/// Leases every pair that still has a plan, each only when nobody else has held its lease
/// since `read_at` (the batch's reads began): a pair taken meanwhile, or still held, may have
/// been written after our reads, so it is asked for again (redelivery re-reads it) instead.
/// Returns the work left (pairs without a plan stay, for the delete breaker's population);
/// `leased` gets the keys taken.
async fn lease_writers(
    integration: &Integration,
    owner: &str,
    read_at: chrono::DateTime<chrono::Utc>,
    work: Vec<Work>,
    leased: &mut Vec<String>,
    outcome: &mut ReconcileOutcome,
) -> Result<Vec<Work>, PipelineError> {
    let now = integration.clock.now();
    let ttl = integration.settings.lease_ttl;
    // A new pair's id is fresh (nobody else knows it): its lease is always taken, and stops a
    // worker that finds the pair through its links once it is reserved. One batch call.
    let keys: Vec<String> = work
        .iter()
        .filter(|w| w.plan.is_some())
        .map(|w| lease_key(&w.pair.pair_id))
        .collect();
    let mut taken = integration
        .store
        .acquire_leases_free_since(&keys, owner, read_at, now, ttl)
        .await?
        .into_iter();
    let mut keys = keys.into_iter();
    let mut kept = Vec::with_capacity(work.len());
    for w in work {
        if w.plan.is_none() {
            kept.push(w);
            continue;
        }
        let (Some(key), Some(taken)) = (keys.next(), taken.next()) else {
            return Err(answers_missing("acquire_leases_free_since"));
        };
        if taken {
            leased.push(key);
            kept.push(w);
        } else {
            outcome.retry.push(retry_ref(&w));
        }
    }
    Ok(kept)
}

/// A batch call of the store answered fewer items than it was given (a store bug): nothing
/// more is written for the batch, and it is delivered again.
fn answers_missing(operation: &str) -> PipelineError {
    PipelineError::from(crate::store::StoreError::Permanent(format!(
        "{operation}: the store answered fewer items than it was given"
    )))
}

/// The reference that asks for a pair of this batch again.
fn retry_ref(w: &Work) -> PairRef {
    PairRef {
        pair_id: (!w.is_new).then(|| w.pair.pair_id.clone()),
        sf_id: w.sf_id.clone(),
        gz_id: w.gz_id.clone(),
        merged_into: w.merged_into.clone(),
    }
}

/// Writes and commits the planned `work`, leased after reads that began at `read_at`.
async fn reconcile_leased(
    integration: &Integration,
    batch: &ReconcileBatch,
    facts: &RunFacts,
    (work, read_at): (&mut [Work], chrono::DateTime<chrono::Utc>),
    (sf_records, gz_records): (&Records, &Records),
    outcome: &mut ReconcileOutcome,
    budget: &mut Option<usize>,
) -> Result<(), PipelineError> {
    if leases_may_have_expired(integration, read_at) {
        give_back(batch, work, outcome);
        return Ok(());
    }
    hold_deletes_over_the_breaker(integration, batch, work, outcome).await?;
    spend_budget(work, budget, outcome);

    reserve_new_pairs(integration, work, outcome).await?;

    let decided_at = integration.clock.now();
    record_decisions_before_writes(
        integration,
        batch,
        work,
        (sf_records, gz_records),
        decided_at,
    )
    .await?;
    apply(integration, Side::Salesforce, work, Vec::new(), outcome).await;
    let links = link_write_backs(integration, facts, work, gz_records);
    apply(integration, Side::Genesys, work, links, outcome).await;
    commit(
        integration,
        batch,
        work,
        (sf_records, gz_records),
        decided_at,
        outcome,
    )
    .await
}

/// Reserves the batch's new pairs before anything is created, in one (durable) batch call: the
/// conditional link put is what stops two workers from creating the same record twice.
async fn reserve_new_pairs(
    integration: &Integration,
    work: &mut [Work],
    outcome: &mut ReconcileOutcome,
) -> Result<(), PipelineError> {
    let mut reserved = Vec::new();
    for (i, w) in work.iter_mut().enumerate() {
        if !(w.is_new && w.plan.is_some()) {
            continue;
        }
        if matches!(w.plan.as_ref().map(|p| &p.action), Some(PairAction::Skip)) {
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
        reserved.push(i);
    }
    let pairs: Vec<Pair> = reserved.iter().map(|&i| work[i].pair.clone()).collect();
    let outcomes = integration.store.create_pairs(&pairs).await?;
    if outcomes.len() != reserved.len() {
        return Err(answers_missing("create_pairs"));
    }
    for (i, saved) in reserved.into_iter().zip(outcomes) {
        if saved != SaveOutcome::Saved {
            let w = &mut work[i];
            tracing::info!(pair_id = %w.pair.pair_id, outcome = ?saved, "new pair taken by another worker");
            outcome.stats.skipped += 1;
            w.plan = None;
        }
    }
    Ok(())
}

/// True when half the lease lifetime has passed since the batch's reads began (the leases
/// were taken later): another worker may own the pairs by the time our writes land, and what
/// we read may be stale, so nothing planned on those reads may be written (a stalled worker
/// would overwrite newer values).
fn leases_may_have_expired(
    integration: &Integration,
    read_at: chrono::DateTime<chrono::Utc>,
) -> bool {
    integration.clock.now() - read_at > integration.settings.lease_ttl / 2
}

/// Drops every plan of the batch unwritten and asks for the references again (redelivery
/// re-reads both sides).
fn give_back(batch: &ReconcileBatch, work: &mut [Work], outcome: &mut ReconcileOutcome) {
    tracing::warn!(run_id = %batch.run_id, pairs = work.len(), "reads older than half the lease lifetime; nothing written, the batch is delivered again");
    for w in work.iter_mut() {
        if w.plan.take().is_some() {
            outcome.retry.push(retry_ref(w));
        }
    }
}

/// Records of both sides, by id, as read for a batch.
type Records = HashMap<String, SideRecord>;

/// Reads both sides' records of the batch in bulk and plans every pair (`w.plan`); pairs that
/// cannot be planned (a Genesys record linked to another Salesforce record) are parked for
/// review and keep no plan.
async fn plan_work(
    integration: &Integration,
    batch: &ReconcileBatch,
    facts: &RunFacts,
    work: &mut [Work],
    outcome: &mut ReconcileOutcome,
) -> Result<(Records, Records), PipelineError> {
    let mapping = &integration.mapping;
    // Bulk reads of both sides.
    let sf_ids: Vec<String> = unique(work.iter().filter_map(|w| w.sf_id.clone()));
    let gz_ids: Vec<String> = unique(work.iter().filter_map(|w| w.gz_id.clone()));
    let (sf_raw, gz_raw) = tokio::try_join!(
        integration.salesforce.fetch(&sf_ids),
        integration.genesys.fetch(&gz_ids)
    )?;
    let mut sf_records: HashMap<String, SideRecord> = sf_raw
        .iter()
        .map(|r: &RawRecord| {
            let rec = mapping.salesforce_record(&r.id, r.modified_at, &r.body);
            (rec.id.clone(), rec)
        })
        .collect();
    let mut gz_records: HashMap<String, SideRecord> = gz_raw
        .into_iter()
        .map(|r| {
            let rec =
                mapping.genesys_record(&r.id, r.modified_at, r.body, Some(&facts.link_source_id));
            (rec.id.clone(), rec)
        })
        .collect();
    adopt_unanswered_creates(integration, work, &mut sf_records, &gz_records).await?;
    adopt_unanswered_genesys_creates(integration, facts, work, &sf_records, &mut gz_records)
        .await?;
    find_twins_deleted_before_pairing(integration, work, (&sf_records, &gz_records)).await?;
    let survivors = unique(work.iter().filter_map(|w| w.merged_into.clone()));
    let survivor_pairs = if survivors.is_empty() {
        HashMap::new()
    } else {
        integration
            .store
            .links(Side::Salesforce, &survivors)
            .await?
    };

    // Plan.
    let ctx = PlanContext {
        mapping,
        clock: MergeClock::at(integration.clock.now()),
        link_source_id: &facts.link_source_id,
        instance_url: facts.instance_url.as_deref(),
    };
    // Salesforce records a stored pair of this batch has just adopted (an earlier create's
    // record): a new pair of the same batch for that record alone stands down (the record
    // already has its twin), instead of reserving it first and making the adoption lose.
    let adopted: BTreeSet<String> = work
        .iter()
        .filter(|w| !w.is_new && w.pair.sf_id.is_none())
        .filter_map(|w| w.sf_id.clone())
        .collect();
    for w in work.iter_mut() {
        if w.is_new && w.gz_id.is_none() && w.sf_id.as_ref().is_some_and(|id| adopted.contains(id))
        {
            continue;
        }
        let sf = w.sf_id.as_ref().and_then(|id| sf_records.get(id));
        let gz = w.gz_id.as_ref().and_then(|id| gz_records.get(id));
        // A Genesys record linked (externalIds) to another Salesforce record is not ours —
        // unless the pair already owns it (its link then names the pair's earlier Salesforce
        // record, e.g. before a merge, and is rewritten by this plan).
        let owned = |gz: &SideRecord| !w.is_new && w.pair.gz_id.as_deref() == Some(gz.id.as_str());
        if let (Some(sf), Some(gz)) = (sf, gz)
            && gz.link.as_ref().is_some_and(|l| *l != sf.id)
            && !owned(gz)
        {
            outcome.stats.review += 1;
            let r = PairRef {
                pair_id: (!w.is_new).then(|| w.pair.pair_id.clone()),
                sf_id: Some(sf.id.clone()),
                gz_id: Some(gz.id.clone()),
                merged_into: None,
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
            salesforce_merged_into: w.merged_into.as_deref().map(|survivor| SalesforceMerge {
                survivor,
                // A survivor with its own pair keeps its one twin.
                survivor_paired: survivor_pairs
                    .get(survivor)
                    .is_some_and(|pair_id| *pair_id != w.pair.pair_id),
            }),
            resolutions: Some(&w.pair.resolutions),
        };
        w.plan = Some(plan_pair(&ctx, &input));
    }
    Ok((sf_records, gz_records))
}

/// A stored pair that never got its Salesforce record may have had one created by an earlier
/// attempt whose answer never arrived (a timeout, a crash before the commit): Salesforce has
/// no idempotent create, so before creating again, the unlinked Salesforce record with the
/// Genesys record's email (exactly one) is adopted instead (found by the poll's matching too,
/// but a redelivered batch may get here first).
async fn adopt_unanswered_creates(
    integration: &Integration,
    work: &mut [Work],
    sf_records: &mut Records,
    gz_records: &Records,
) -> Result<(), PipelineError> {
    let all: Vec<usize> = work
        .iter()
        .enumerate()
        .filter(|(_, w)| !w.is_new && w.pair.sf_id.is_none() && w.sf_id.is_none())
        .filter(|(_, w)| {
            w.gz_id
                .as_ref()
                .is_some_and(|id| gz_records.contains_key(id))
        })
        .map(|(i, _)| i)
        .collect();
    let orphans: Vec<(usize, Vec<String>)> = all
        .iter()
        .filter_map(|&i| {
            let gz = gz_records.get(work[i].gz_id.as_ref()?)?;
            (!gz.match_emails.is_empty()).then(|| (i, gz.match_emails.clone()))
        })
        .collect();
    let without_email: Vec<usize> = all
        .iter()
        .copied()
        .filter(|i| !orphans.iter().any(|(o, _)| o == i))
        .collect();
    if orphans.is_empty() {
        return adopt_recent_creates(integration, work, &without_email, sf_records, gz_records)
            .await;
    }
    let emails = unique(orphans.iter().flat_map(|(_, e)| e.iter().cloned()));
    let found: Vec<SideRecord> = integration
        .salesforce
        .find_by_emails(&emails)
        .await?
        .iter()
        .map(|r| {
            integration
                .mapping
                .salesforce_record(&r.id, r.modified_at, &r.body)
        })
        .collect();
    let ids: Vec<String> = found.iter().map(|r| r.id.clone()).collect();
    let taken = integration.store.links(Side::Salesforce, &ids).await?;
    let mut unadopted = without_email;
    for (i, emails) in orphans {
        let mut candidates = found.iter().filter(|r| {
            !taken.contains_key(&r.id) && r.match_emails.iter().any(|e| emails.contains(e))
        });
        if let (Some(only), None) = (candidates.next(), candidates.next()) {
            tracing::info!(pair_id = %work[i].pair.pair_id, sf_id = %only.id, "adopting a Salesforce record an unanswered create made");
            work[i].sf_id = Some(only.id.clone());
            sf_records.insert(only.id.clone(), only.clone());
        } else {
            unadopted.push(i);
        }
    }
    adopt_recent_creates(integration, work, &unadopted, sf_records, gz_records).await
}

/// How far back [`adopt_recent_creates`] looks for the record an unanswered create made.
const RECENT_CREATES: chrono::Duration = chrono::Duration::days(1);

/// The orphans `indices` whose Salesforce record was not found by its Genesys twin's email:
/// a person may have changed the created record's email before this retry. Among the records
/// created in the last [`RECENT_CREATES`] that no pair holds, the one sharing an email, a
/// phone (compared normalised, as matching compares them) or the last name with the Genesys
/// record is adopted
/// when it is the only one (and no other orphan of the batch takes it); otherwise the create
/// goes ahead as before.
async fn adopt_recent_creates(
    integration: &Integration,
    work: &mut [Work],
    indices: &[usize],
    sf_records: &mut Records,
    gz_records: &Records,
) -> Result<(), PipelineError> {
    let orphans: Vec<(usize, &SideRecord)> = indices
        .iter()
        .filter_map(|&i| Some((i, gz_records.get(work[i].gz_id.as_ref()?)?)))
        .filter(|(_, gz)| !gz.match_emails.is_empty() || !gz.match_phones.is_empty())
        .collect();
    if orphans.is_empty() {
        return Ok(());
    }
    let since = integration.clock.now() - RECENT_CREATES;
    let created: Vec<SideRecord> = integration
        .salesforce
        .find_created_since(since)
        .await?
        .iter()
        .map(|r| {
            integration
                .mapping
                .salesforce_record(&r.id, r.modified_at, &r.body)
        })
        .collect();
    if created.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = created.iter().map(|r| r.id.clone()).collect();
    let taken = integration.store.links(Side::Salesforce, &ids).await?;
    // `LastName` is required on every Contact, so the record a create made always had the
    // Genesys record's last name; people rarely change it right after it appeared.
    let last_name = integration
        .mapping
        .fields
        .iter()
        .find(|f| f.salesforce.as_deref() == Some("LastName"))
        .map(|f| f.name.clone());
    let same_last_name = |sf: &SideRecord, gz: &SideRecord| {
        let Some(field) = &last_name else {
            return false;
        };
        match (sf.fields.get(field), gz.fields.get(field)) {
            (Some(a), Some(b)) => !a.is_empty() && a == b,
            _ => false,
        }
    };
    let shares_a_key = |sf: &SideRecord, gz: &SideRecord| {
        sf.match_emails.iter().any(|e| gz.match_emails.contains(e))
            || sf.match_phones.iter().any(|p| gz.match_phones.contains(p))
            || same_last_name(sf, gz)
    };
    let mut claims: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, gz) in &orphans {
        let mut candidates = created
            .iter()
            .filter(|r| !taken.contains_key(&r.id) && shares_a_key(r, gz));
        if let (Some(only), None) = (candidates.next(), candidates.next()) {
            claims.entry(only.id.clone()).or_default().push(*i);
        }
    }
    for (sf_id, claimants) in claims {
        let [i] = claimants[..] else {
            continue;
        };
        let Some(record) = created.iter().find(|r| r.id == sf_id) else {
            continue;
        };
        tracing::info!(pair_id = %work[i].pair.pair_id, sf_id = %sf_id, "adopting a recent Salesforce record an unanswered create made");
        work[i].sf_id = Some(sf_id);
        sf_records.insert(record.id.clone(), record.clone());
    }
    Ok(())
}

/// A stored pair (reserved by an earlier attempt) that never got its Genesys record may have
/// had one created by an attempt whose answer never arrived (a timeout, a crash before the
/// commit, a broken answer): Genesys has no idempotent create, but the contact carries the
/// link to its Salesforce record, so before creating again the contact that carries it (the
/// identifier lookup) is adopted, unless another pair holds it (found by the poll's scan too,
/// but a redelivered batch may get here first).
async fn adopt_unanswered_genesys_creates(
    integration: &Integration,
    facts: &RunFacts,
    work: &mut [Work],
    sf_records: &Records,
    gz_records: &mut Records,
) -> Result<(), PipelineError> {
    let orphans: Vec<(usize, String)> = work
        .iter()
        .enumerate()
        .filter(|(_, w)| !w.is_new && w.pair.gz_id.is_none() && w.gz_id.is_none())
        .filter_map(|(i, w)| {
            let sf_id = w.sf_id.as_ref()?;
            sf_records.contains_key(sf_id).then(|| (i, sf_id.clone()))
        })
        .collect();
    if orphans.is_empty() {
        return Ok(());
    }
    let sf_ids = unique(orphans.iter().map(|(_, id)| id.clone()));
    let found: Vec<SideRecord> = integration
        .genesys
        .find_by_links(&sf_ids)
        .await?
        .into_iter()
        .map(|r| {
            integration.mapping.genesys_record(
                &r.id,
                r.modified_at,
                r.body,
                Some(&facts.link_source_id),
            )
        })
        .filter(|r| r.merged_into.is_none())
        .collect();
    let ids: Vec<String> = found.iter().map(|r| r.id.clone()).collect();
    let taken = integration.store.links(Side::Genesys, &ids).await?;
    for (i, sf_id) in orphans {
        let mut candidates = found
            .iter()
            .filter(|r| !taken.contains_key(&r.id) && r.link.as_deref() == Some(sf_id.as_str()));
        if let (Some(only), None) = (candidates.next(), candidates.next()) {
            tracing::info!(pair_id = %work[i].pair.pair_id, gz_id = %only.id, "adopting a Genesys contact an unanswered create made");
            work[i].gz_id = Some(only.id.clone());
            gz_records.insert(only.id.clone(), only.clone());
        }
    }
    Ok(())
}

/// A Genesys record about to be mirrored into Salesforce may be the twin of a person deleted
/// (or merged away) in Salesforce before the sync ever paired them: to the pair that record
/// never existed, and creating it again would resurrect the person. Before a Salesforce create
/// is planned, the Recycle Bin is searched for deleted records with the Genesys record's email
/// that no pair holds; when exactly one matches, the pair is linked to it, so the plan sees a
/// linked record gone (the delete policy decides: unlink, or delete the twin too) or merged
/// (the pair follows the survivor). Nothing is looked up when Salesforce is not written.
async fn find_twins_deleted_before_pairing(
    integration: &Integration,
    work: &mut [Work],
    (sf_records, gz_records): (&Records, &Records),
) -> Result<(), PipelineError> {
    if integration.mapping.is_one_way() {
        return Ok(());
    }
    let unpaired: Vec<(usize, Vec<String>)> = work
        .iter()
        .enumerate()
        // No Salesforce record in hand (a reference may name one the poll saw deleted).
        .filter(|(_, w)| {
            w.pair.sf_id.is_none()
                && w.sf_id
                    .as_ref()
                    .is_none_or(|id| !sf_records.contains_key(id))
        })
        .filter_map(|(i, w)| {
            let gz = gz_records.get(w.gz_id.as_ref()?)?;
            (gz.merged_into.is_none() && !gz.match_emails.is_empty())
                .then(|| (i, gz.match_emails.clone()))
        })
        .collect();
    if unpaired.is_empty() {
        return Ok(());
    }
    let emails = unique(unpaired.iter().flat_map(|(_, e)| e.iter().cloned()));
    let deleted: Vec<(SideRecord, Option<String>)> = integration
        .salesforce
        .find_deleted_by_emails(&emails)
        .await?
        .iter()
        .map(|r| {
            let master = r
                .body
                .get("MasterRecordId")
                .and_then(|m| m.as_str())
                .filter(|m| !m.is_empty())
                .map(str::to_owned);
            let record = integration
                .mapping
                .salesforce_record(&r.id, r.modified_at, &r.body);
            (record, master)
        })
        .collect();
    if deleted.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = deleted.iter().map(|(r, _)| r.id.clone()).collect();
    let taken = integration.store.links(Side::Salesforce, &ids).await?;
    for (i, emails) in unpaired {
        let mut candidates = deleted.iter().filter(|(r, _)| {
            !taken.contains_key(&r.id) && r.match_emails.iter().any(|e| emails.contains(e))
        });
        if let (Some((gone, master)), None) = (candidates.next(), candidates.next()) {
            tracing::info!(pair_id = %work[i].pair.pair_id, sf_id = %gone.id, merged = master.is_some(), "the Genesys record's Salesforce twin was deleted before the pair's first sync");
            let w = &mut work[i];
            w.pair.sf_id = Some(gone.id.clone());
            w.sf_id = Some(gone.id.clone());
            if w.merged_into.is_none() {
                w.merged_into = master.clone();
            }
        }
    }
    Ok(())
}

/// True when a pair's plan deletes or unlinks it (what the delete circuit breaker counts).
fn is_delete(w: &Work) -> bool {
    matches!(
        w.plan.as_ref().map(|p| &p.action),
        Some(PairAction::Delete { .. } | PairAction::Unlink { .. } | PairAction::Forget { .. })
    )
}

/// True when the batch plans more deletes than the delete circuit breaker lets through.
fn breaker_trips(integration: &Integration, work: &[Work]) -> bool {
    let deletes = work.iter().filter(|w| is_delete(w)).count();
    deletes > 0
        && integration
            .mapping
            .delete_breaker
            .trips(deletes, work.len())
}

/// Holds every delete of the batch when there are too many (the delete circuit breaker): the
/// pairs stay pending with a `DELETE_BREAKER` error, an open review item and an alert say why,
/// and the next run holds them again until a person raises the limit, restores the records, or
/// settles the item (`contact-sync review resolve <id> --release | --keep`).
///
/// The item is the poll's (one per integration) until a person settles it; after that, a new
/// hold opens an item named by the pairs it holds (the same held deletes seen again, as each
/// run retries them, are the same item).
async fn hold_deletes_over_the_breaker(
    integration: &Integration,
    batch: &ReconcileBatch,
    work: &mut [Work],
    outcome: &mut ReconcileOutcome,
) -> Result<(), PipelineError> {
    let deletes = work.iter().filter(|w| is_delete(w)).count();
    // Deletes are held while a hold is open (the breaker tripped earlier and nobody settled
    // it), not only when this batch alone trips the breaker.
    if deletes == 0 {
        return Ok(());
    }
    let open_hold = crate::poll::open_hold(integration).await?;
    if open_hold.is_none() && !breaker_trips(integration, work) {
        return Ok(());
    }
    let population = work.len();
    tracing::warn!(run_id = %batch.run_id, deletes, population, "delete circuit breaker tripped: deletes held for review");
    let mut held_ids = Vec::new();
    let mut saves = Vec::new();
    for w in work.iter_mut().filter(|w| is_delete(w)) {
        w.plan = None;
        if w.is_new {
            continue;
        }
        held_ids.push(w.pair.pair_id.clone());
        let mut held = w.pair.clone();
        held.status = PairStatus::Pending;
        held.last_error = Some(RecordError {
            code: "DELETE_BREAKER".into(),
            message: "delete held by the circuit breaker".into(),
            retryable: true,
        });
        saves.push((held, w.pair.version));
        outcome.stats.failed += 1;
    }
    let saved = integration.store.save_pairs(&saves).await?;
    if saved.len() != saves.len() {
        return Err(answers_missing("save_pairs"));
    }
    for ((held, _), saved) in saves.iter().zip(saved) {
        if saved != SaveOutcome::Saved {
            outcome.retry.push(PairRef::to_pair(held.pair_id.clone()));
        }
    }
    let mut item = crate::poll::deletes_held(
        integration,
        &batch.run_id,
        deletes as u64,
        population as u64,
    );
    item.id = match open_hold {
        Some(open) => open.id,
        None => crate::poll::hold_item_id(integration, &item.id, &held_ids).await?,
    };
    integration.store.record_conflict(&item).await?;
    outcome.stats.review += 1;
    integration
        .queue
        .send_conflicts(vec![conflict_event(integration, batch, &item)])
        .await?;
    outcome.conflicts_sent += 1;
    Ok(())
}

/// Sends every create, update and delete the batch plans on `side` in bulk (`extra`: updates
/// that belong to no plan, the link write-backs). A side without a writer (Salesforce in
/// one-way mode) cannot be written: the engine never plans such writes, and if one appeared the
/// pair would fail for good rather than reach the system.
async fn apply(
    integration: &Integration,
    side: Side,
    work: &mut [Work],
    extra: Vec<UpdateRequest>,
    outcome: &mut ReconcileOutcome,
) {
    let mut creates = Vec::new();
    let mut updates = extra;
    let mut deletes = Vec::new();
    for w in work.iter() {
        let Some(plan) = &w.plan else { continue };
        // A Genesys record just created in Salesforce gets its link (and any derived fields)
        // in one write-back update, built after the Salesforce create.
        if side == Side::Genesys
            && plan.action
                == (PairAction::Create {
                    on: Side::Salesforce,
                })
        {
            continue;
        }
        match plan.write_for(side) {
            Some(SideWrite::Create { body }) => {
                if let Some(key) = create_key(side, w) {
                    creates.push(CreateRequest {
                        key,
                        body: body.clone(),
                    });
                }
            }
            Some(SideWrite::Update { id, body, .. }) => updates.push(UpdateRequest {
                id: id.clone(),
                body: body.clone(),
            }),
            Some(SideWrite::Delete { id }) => deletes.push(id.clone()),
            None => {}
        }
    }
    if creates.is_empty() && updates.is_empty() && deletes.is_empty() {
        return;
    }
    let own_id = move |w: &Work| -> Option<String> {
        match side {
            Side::Salesforce => w.sf_id.clone(),
            Side::Genesys => w.gz_id.clone(),
        }
    };
    let Some(writer) = integration.writer(side) else {
        tracing::error!(%side, "a write was planned for a read-only side; refused");
        let refused = RecordError {
            code: "READ_ONLY_SIDE".into(),
            message: format!("{side} is read-only in this integration's mode"),
            retryable: false,
        };
        for w in work.iter_mut() {
            if w.plan.as_ref().and_then(|p| p.write_for(side)).is_some() {
                fail(w, side, refused.clone());
            }
        }
        return;
    };
    if !creates.is_empty() {
        let keys = creates.iter().map(|c| c.key.clone()).collect();
        let results = writer.create(creates).await;
        settle(
            work,
            side,
            keys,
            results,
            |w| create_key(side, w),
            |w, id| {
                outcome.stats.created.add(side, 1);
                match side {
                    Side::Salesforce => w.sf_id = Some(id),
                    Side::Genesys => w.gz_id = Some(id),
                }
            },
        );
    }
    if !updates.is_empty() {
        let keys = updates.iter().map(|u| u.id.clone()).collect();
        let results = writer.update(updates).await;
        settle(work, side, keys, results, own_id, |w, _| {
            // An unlink's write removes the link; the pair is counted unlinked at the commit.
            if !unlinks(w.plan.as_ref()) {
                outcome.stats.updated.add(side, 1);
            }
        });
    }
    if !deletes.is_empty() {
        let keys = deletes.clone();
        let results = writer.delete(deletes).await;
        settle(work, side, keys, results, own_id, |_, _| {
            outcome.stats.deleted.add(side, 1);
        });
    }
}

/// The key a create on `side` is sent and answered under: Salesforce results come back in
/// request order under our key (the pair id); Genesys results are matched by the Salesforce Id
/// the new contact carries.
fn create_key(side: Side, w: &Work) -> Option<String> {
    match side {
        Side::Salesforce => Some(w.pair.pair_id.clone()),
        Side::Genesys => w.sf_id.clone(),
    }
}

/// Genesys link write-backs for records just created in Salesforce from a Genesys record.
fn link_write_backs(
    integration: &Integration,
    facts: &RunFacts,
    work: &[Work],
    gz_records: &HashMap<String, SideRecord>,
) -> Vec<UpdateRequest> {
    let mut updates = Vec::new();
    for w in work {
        let Some(plan) = &w.plan else { continue };
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
            let link =
                GenesysLink::new(&facts.link_source_id, sf_id, facts.instance_url.as_deref());
            // The derived-field update of the source record, if any, goes in the same body.
            let changes = plan.changes_for(Side::Genesys);
            updates.push(UpdateRequest {
                id: gz.id.clone(),
                body: integration
                    .mapping
                    .genesys_update_body(&gz.raw, &changes, Some(&link)),
            });
        }
    }
    updates
}

/// One pair's commit, waiting for the batch's `save_pairs`.
struct StagedCommit {
    /// The plan's field decisions were recorded before its writes.
    decided_before_writes: bool,
    expected: u64,
    next: Pair,
    /// Audit entries and review items recorded once the commit is saved.
    conflicts: Vec<ConflictRecord>,
}

/// Stores each pair's outcome: the new base when every write landed, otherwise `pending` with
/// the old base (re-planning against it converges once the failed write goes through).
async fn commit(
    integration: &Integration,
    batch: &ReconcileBatch,
    work: &mut [Work],
    (sf_records, gz_records): (&Records, &Records),
    now: chrono::DateTime<chrono::Utc>,
    outcome: &mut ReconcileOutcome,
) -> Result<(), PipelineError> {
    // Two passes: the pairs' own commits first (one batch call), then the pairs that follow a
    // merge, so a survivor that another pair of this batch has just adopted or linked is seen
    // as taken (a merge collision) rather than taken from it.
    for repoints in [false, true] {
        let mut events = Vec::new();
        // Every pair's commit, saved in one batch call after the loop.
        let mut staged: Vec<StagedCommit> = Vec::new();
        for w in work.iter_mut() {
            let follows_a_merge = w.error.is_none()
                && matches!(
                    w.plan.as_ref().map(|p| &p.action),
                    Some(PairAction::Repoint { .. })
                );
            if follows_a_merge != repoints {
                continue;
            }
            let Some(plan) = w.plan.take() else { continue };
            let expected = w.pair.version;
            let mut next = w.pair.clone();
            // Ids as they stand after the writes (including records created just now).
            next.sf_id = w.sf_id.clone();
            next.gz_id = w.gz_id.clone();
            let mut conflicts = Vec::new();
            let record = |next: &Pair, field: &str, policy: &str, kind, status, values| {
                conflict_record(
                    integration,
                    batch,
                    next,
                    field,
                    policy,
                    kind,
                    status,
                    values,
                    now,
                )
            };
            match (&w.error, &plan.action) {
                (Some((_, error)), _) if error.retryable => {
                    outcome.stats.failed += 1;
                    tracing::warn!(pair_id = %w.pair.pair_id, code = %error.code, "pair failed; pending for the next run");
                    next.status = PairStatus::Pending;
                    next.last_error = Some(error.clone());
                }
                (Some((side, error)), _) => {
                    outcome.stats.review += 1;
                    outcome.stats.refused.add(*side, 1);
                    tracing::warn!(pair_id = %w.pair.pair_id, %side, code = %error.code, "write refused; parked for review until the record changes");
                    next.status = PairStatus::Rejected;
                    next.last_error = Some(error.clone());
                    let kind = ConflictKind::Rejected {
                        side: *side,
                        code: error.code.clone(),
                        message: error.message.clone(),
                    };
                    conflicts.push(record(
                        &next,
                        "record",
                        "write",
                        kind,
                        ConflictStatus::Open,
                        NO_VALUES,
                    ));
                }
                (None, PairAction::Unlink { missing } | PairAction::Delete { missing }) => {
                    let propagated = matches!(plan.action, PairAction::Delete { .. });
                    outcome.stats.unlinked += 1;
                    next.make_tombstone();
                    next.last_error = None;
                    // Unlink: a person decides what to do with the record left behind. Propagate:
                    // both records are gone; the audit says so.
                    let (policy, status) = if propagated {
                        ("propagate", ConflictStatus::Closed)
                    } else {
                        outcome.stats.review += 1;
                        ("unlink", ConflictStatus::Open)
                    };
                    // A record merged away is reported as the merge it was (its survivor keeps
                    // its own twin).
                    let kind = match &w.merged_into {
                        Some(survivor) if *missing == Side::Salesforce => {
                            ConflictKind::MergeCollision {
                                side: Side::Salesforce,
                                survivor: survivor.clone(),
                            }
                        }
                        _ => ConflictKind::Deleted { side: *missing },
                    };
                    conflicts.push(record(&next, "record", policy, kind, status, NO_VALUES));
                }
                (None, PairAction::Forget { .. }) => {
                    outcome.stats.unlinked += 1;
                    next.make_tombstone();
                    next.last_error = None;
                }
                (None, PairAction::Repoint { side, into }) => {
                    // Follow the merge: the pair now stands for the surviving record; it is synced
                    // against it on the next run (pending). If the survivor has a pair of its own,
                    // the two need a person.
                    let mut moved = next.clone();
                    match side {
                        Side::Salesforce => moved.sf_id = Some(into.clone()),
                        Side::Genesys => moved.gz_id = Some(into.clone()),
                    }
                    moved.status = PairStatus::Pending;
                    match integration.store.save_pair(&moved, expected).await? {
                        SaveOutcome::Saved => {
                            tracing::info!(pair_id = %w.pair.pair_id, %side, "pair follows a merge");
                            outcome.stats.skipped += 1;
                            continue;
                        }
                        SaveOutcome::LinkTaken { .. } if *side == Side::Salesforce => {
                            // The survivor got a pair of its own after our reads: the pair stays
                            // pending, and the next run unlinks (or deletes) the merged record's
                            // twin under the delete policy, so no link to the gone record stays.
                            outcome.stats.failed += 1;
                            next.status = PairStatus::Pending;
                            next.last_error = Some(RecordError {
                                code: "MERGE_SURVIVOR_PAIRED".into(),
                                message: "the merge survivor has a twin of its own; this pair is unlinked on the next run".into(),
                                retryable: true,
                            });
                        }
                        SaveOutcome::LinkTaken { .. } => {
                            outcome.stats.unlinked += 1;
                            outcome.stats.review += 1;
                            next.make_tombstone();
                            let kind = ConflictKind::MergeCollision {
                                side: *side,
                                survivor: into.clone(),
                            };
                            conflicts.push(record(
                                &next,
                                "record",
                                "merge",
                                kind,
                                ConflictStatus::Open,
                                NO_VALUES,
                            ));
                        }
                        other => {
                            tracing::warn!(pair_id = %w.pair.pair_id, outcome = ?other, "pair commit lost a race");
                            outcome.stats.failed += 1;
                            outcome.retry.push(PairRef::to_pair(w.pair.pair_id.clone()));
                            continue;
                        }
                    }
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
                    // Choices were applied by this plan.
                    next.resolutions.clear();
                    for c in decision_records(
                        integration,
                        batch,
                        (&next, w.pair.base.as_ref()),
                        &plan,
                        (sf_records, gz_records),
                        now,
                    ) {
                        if c.status == ConflictStatus::Open {
                            outcome.stats.review += 1;
                        } else {
                            outcome.stats.conflicts += 1;
                        }
                        conflicts.push(c);
                    }
                }
            }
            staged.push(StagedCommit {
                decided_before_writes: decided_before_writes(&plan.action),
                expected,
                next,
                conflicts,
            });
        }
        let saves: Vec<(Pair, u64)> = staged
            .iter()
            .map(|c| (c.next.clone(), c.expected))
            .collect();
        let saved = integration.store.save_pairs(&saves).await?;
        if saved.len() != staged.len() {
            return Err(answers_missing("save_pairs"));
        }
        let mut audit = Vec::new();
        for (commit, saved) in staged.into_iter().zip(saved) {
            if saved != SaveOutcome::Saved {
                // Writes may have landed; the pair is re-planned next time and converges.
                tracing::warn!(pair_id = %commit.next.pair_id, outcome = ?saved, "pair commit lost a race");
                outcome.stats.failed += 1;
                outcome
                    .retry
                    .push(PairRef::to_pair(commit.next.pair_id.clone()));
                continue;
            }
            for c in commit.conflicts {
                events.push(conflict_event(integration, batch, &c));
                // Policy decisions were recorded before the writes.
                if !(commit.decided_before_writes && is_decision(&c)) {
                    audit.push(c);
                }
            }
        }
        integration.store.record_conflicts(&audit).await?;
        outcome.conflicts_sent += events.len();
        if !events.is_empty() {
            integration.queue.send_conflicts(events).await?;
        }
    }
    Ok(())
}

/// The audit entries and review items of a plan's field decisions, about `pair` (its ids as
/// they stand; `base`: the stored base the plan merged against), with each side's value.
fn decision_records(
    integration: &Integration,
    batch: &ReconcileBatch,
    (pair, base): (&Pair, Option<&contact_sync_engine::CanonicalContact>),
    plan: &PairPlan,
    (sf_records, gz_records): (&Records, &Records),
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<ConflictRecord> {
    let sf = pair.sf_id.as_ref().and_then(|id| sf_records.get(id));
    let gz = pair.gz_id.as_ref().and_then(|id| gz_records.get(id));
    let mut records = Vec::new();
    for d in &plan.decisions {
        let Some((kind, status, policy)) = audit_entry(&d.reason) else {
            continue;
        };
        let values = (
            base.and_then(|b| b.get(&d.field)).map(str::to_string),
            sf.and_then(|r| r.fields.get(&d.field)).map(str::to_string),
            gz.and_then(|r| r.fields.get(&d.field)).map(str::to_string),
        );
        records.push(conflict_record(
            integration,
            batch,
            pair,
            &d.field,
            policy,
            kind,
            status,
            values,
            now,
        ));
    }
    records
}

/// True for a closed audit entry of a decision (a policy's or a person's), as opposed to a
/// review item.
fn is_decision(c: &ConflictRecord) -> bool {
    c.status == ConflictStatus::Closed
}

/// Plans whose field decisions are applied by their writes (the others unlink, delete or
/// follow a merge, and record no field decision).
fn decided_before_writes(action: &PairAction) -> bool {
    matches!(
        action,
        PairAction::Unchanged | PairAction::Update | PairAction::Create { .. } | PairAction::Skip
    )
}

/// Records the field decisions (closed audit entries) of the plans about to be written,
/// before any write: a crash between the writes and the commit would otherwise leave a
/// decision applied on both systems with no trace in the store (the next run finds the sides
/// agreeing and decides nothing). Idempotent (the entries' ids name the run); the commit
/// sends their events.
async fn record_decisions_before_writes(
    integration: &Integration,
    batch: &ReconcileBatch,
    work: &[Work],
    records: (&Records, &Records),
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), PipelineError> {
    let mut decisions = Vec::new();
    for w in work {
        let Some(plan) = &w.plan else { continue };
        if !decided_before_writes(&plan.action) {
            continue;
        }
        let mut pair = w.pair.clone();
        pair.sf_id = w.sf_id.clone();
        pair.gz_id = w.gz_id.clone();
        for c in decision_records(
            integration,
            batch,
            (&pair, w.pair.base.as_ref()),
            plan,
            records,
            now,
        )
        .into_iter()
        .filter(is_decision)
        {
            decisions.push(c);
        }
    }
    // One (durable) batch call, before any write.
    integration.store.record_conflicts(&decisions).await?;
    Ok(())
}

/// The audit entry or review item a field decision records, if any: its kind, status and
/// policy.
fn audit_entry(reason: &Reason) -> Option<(ConflictKind, ConflictStatus, &str)> {
    Some(match reason {
        Reason::Conflict { policy, winner } => (
            ConflictKind::Resolved { winner: *winner },
            ConflictStatus::Closed,
            policy.as_str(),
        ),
        Reason::HeldForReview => (ConflictKind::Manual, ConflictStatus::Open, "manual"),
        Reason::Unmapped { side, review: true } => (
            ConflictKind::Unmapped { side: *side },
            ConflictStatus::Open,
            "value_map",
        ),
        Reason::ChosenByPerson => (ConflictKind::Chosen, ConflictStatus::Closed, "person"),
        _ => return None,
    })
}

/// Values of an audit entry that is about a record, not a field.
const NO_VALUES: (Option<String>, Option<String>, Option<String>) = (None, None, None);

/// The id of an open review item: stable for the same pair, field, kind and values (seeing
/// the same situation again — a redelivery, the next run — is a no-op), new when any of them
/// changes (a new conflict after a person closed the last one opens a new item). The values
/// enter only through a hash: ids reach logs and queue messages, values never do.
fn open_item_id(
    pair: &Pair,
    field: &str,
    kind: &ConflictKind,
    values: &(Option<String>, Option<String>, Option<String>),
) -> String {
    let values = [&values.0, &values.1, &values.2].map(|v| v.as_deref().unwrap_or("\u{0}"));
    let name = outcome_name(kind);
    let hash = fnv1a(std::iter::once(name.as_bytes()).chain(values.iter().map(|v| v.as_bytes())));
    format!("{}#{field}#open-{hash:016x}", pair.pair_id)
}

/// FNV-1a over parts (each closed by a separator): tiny, and stable across builds (std's
/// hasher is not).
fn fnv1a<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in part.iter().chain(std::iter::once(&0xff)) {
            hash ^= u64::from(*b);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    hash
}

/// The notifier's event for a conflict record (ids only, never values).
fn conflict_event(
    integration: &Integration,
    batch: &ReconcileBatch,
    c: &ConflictRecord,
) -> ConflictEvent {
    ConflictEvent {
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
    }
}

fn outcome_name(kind: &ConflictKind) -> String {
    match kind {
        ConflictKind::Resolved { winner } => format!("{winner}_won"),
        ConflictKind::Manual => "held_for_review".into(),
        ConflictKind::AmbiguousMatch { .. } => "ambiguous_match".into(),
        ConflictKind::Deleted { side } => format!("deleted_on_{side}"),
        ConflictKind::Rejected { side, .. } => format!("rejected_by_{side}"),
        ConflictKind::Unmapped { side } => format!("unmapped_on_{side}"),
        ConflictKind::Chosen => "chosen_by_person".into(),
        ConflictKind::MergeCollision { side, .. } => format!("merge_collision_on_{side}"),
        ConflictKind::DeletesHeld { .. } => "deletes_held".into(),
        ConflictKind::Erased { side } => format!("erased_on_{side}"),
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
    let values = (base_value, salesforce_value, genesys_value);
    let id = match status {
        ConflictStatus::Open => open_item_id(pair, field, &kind, &values),
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
        base_value: values.0,
        salesforce_value: values.1,
        genesys_value: values.2,
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
    key_of: impl Fn(&Work) -> Option<String>,
    mut on_ok: impl FnMut(&mut Work, String),
) {
    // The first item with a key answers for it (as a linear search would).
    let mut index: HashMap<String, usize> = HashMap::new();
    for (i, w) in work.iter().enumerate() {
        if let Some(k) = key_of(w) {
            index.entry(k).or_insert(i);
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
/// retryable error (the outcome of the call is unknown, and the records were not refused).
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
            // A spent API budget is not the records' fault, and a failed call is never its
            // records' refusal (a writer splits a request refused as a whole down to one
            // record): they stay pending for a later run.
            let retry_later =
                e.is_retryable() || matches!(e, crate::system::SystemError::Budget { .. });
            let error = RecordError {
                code: if retry_later {
                    "CALL_FAILED_RETRYABLE".into()
                } else {
                    "CALL_FAILED".into()
                },
                message: e.to_string(),
                retryable: true,
            };
            keys.into_iter().map(|k| (k, Err(error.clone()))).collect()
        }
    }
}

fn unique(ids: impl Iterator<Item = String>) -> Vec<String> {
    let set: BTreeSet<String> = ids.collect();
    set.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integration::{Clock, Settings};
    use crate::queue::InProcessQueue;
    use crate::store::SyncStore;
    use crate::store::memory::MemoryStore;
    use crate::system::{
        ChangePage, ContactReader, ContactWriter, DeletionRead, SystemFacts, SystemResult,
        Watermark,
    };
    use async_trait::async_trait;
    use chrono::{DateTime, TimeZone, Utc};
    use contact_sync_engine::mapping::Mapping;
    use serde_json::{Value, json};
    use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};

    const SF_ID: &str = "003000000000001AAA";
    const GZ_ID: &str = "g-1";
    const SOURCE: &str = "src-1";
    const PAIR: &str = "p-1";

    /// A clock one millisecond further on at every reading (a frozen one cannot order a
    /// release against a read).
    #[derive(Default)]
    struct Ticking(AtomicI64);

    impl Clock for Ticking {
        fn now(&self) -> DateTime<Utc> {
            let ms = self.0.fetch_add(1, Ordering::SeqCst);
            Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap()
                + chrono::Duration::milliseconds(ms)
        }
    }

    /// Another worker that takes the pair's lease and lets it go while our reads run.
    struct Intruder {
        store: Arc<dyn SyncStore>,
        clock: Arc<dyn Clock>,
    }

    /// One side's records in memory, applying updates as the real APIs do (Salesforce: the
    /// fields sent; Genesys: the whole contact), counting writes.
    struct FakeSystem {
        side: Side,
        records: Mutex<HashMap<String, Value>>,
        writes: AtomicU64,
        /// Runs once, inside the next fetch.
        intruder: Mutex<Option<Intruder>>,
        /// Saves the pair once more (another writer) inside the next update, so that our
        /// commit loses, as a crash between the writes and the commit would leave it.
        commit_thief: Mutex<Option<Arc<dyn SyncStore>>>,
        /// How the next update is answered, when not applied.
        refusal: Mutex<Option<Refusal>>,
        /// The bulk limit this writer reports as learned.
        learned: Mutex<Option<usize>>,
        /// The bulk limit it was told to start from.
        adopted: Mutex<Option<usize>>,
    }

    #[derive(Clone, Copy)]
    enum Refusal {
        /// A per-record validation error.
        Record,
        /// The whole call refused (what a writer returns when it cannot split further).
        Call,
    }

    impl FakeSystem {
        fn new(side: Side, id: &str, body: Value) -> Arc<FakeSystem> {
            Arc::new(FakeSystem {
                side,
                records: Mutex::new(HashMap::from([(id.to_string(), body)])),
                writes: AtomicU64::new(0),
                intruder: Mutex::new(None),
                commit_thief: Mutex::new(None),
                refusal: Mutex::new(None),
                learned: Mutex::new(None),
                adopted: Mutex::new(None),
            })
        }

        fn edit(&self, id: &str, field: &str, value: &str) {
            let mut records = self.records.lock().unwrap();
            records.get_mut(id).unwrap()[field] = json!(value);
        }
    }

    #[async_trait]
    impl ContactReader for FakeSystem {
        fn side(&self) -> Side {
            self.side
        }
        async fn prepare(&self) -> SystemResult<SystemFacts> {
            Ok(SystemFacts {
                instance_url: None,
                link_source_id: Some(SOURCE.into()),
            })
        }
        async fn read_changes(
            &self,
            _since: Option<&Watermark>,
            _cursor: Option<String>,
        ) -> SystemResult<ChangePage> {
            Ok(ChangePage::default())
        }
        async fn read_deletions(&self, _since: Option<&Watermark>) -> SystemResult<DeletionRead> {
            Ok(DeletionRead {
                complete: true,
                ..DeletionRead::default()
            })
        }
        async fn fetch(&self, ids: &[String]) -> SystemResult<Vec<RawRecord>> {
            let intruder = self.intruder.lock().unwrap().take();
            if let Some(Intruder { store, clock }) = intruder {
                let key = lease_key(PAIR);
                let ttl = chrono::Duration::minutes(15);
                assert!(
                    store
                        .acquire_lease(&key, "other", clock.now(), ttl)
                        .await
                        .unwrap()
                );
                store
                    .release_lease(&key, "other", clock.now())
                    .await
                    .unwrap();
            }
            let records = self.records.lock().unwrap();
            Ok(ids
                .iter()
                .filter_map(|id| {
                    records.get(id).map(|body| RawRecord {
                        id: id.clone(),
                        modified_at: Utc.with_ymd_and_hms(2026, 11, 24, 11, 0, 0).unwrap(),
                        body: body.clone(),
                    })
                })
                .collect())
        }
        async fn find_by_emails(&self, _emails: &[String]) -> SystemResult<Vec<RawRecord>> {
            Ok(Vec::new())
        }
    }

    #[async_trait]
    impl ContactWriter for FakeSystem {
        async fn create(&self, _records: Vec<CreateRequest>) -> SystemResult<Vec<WriteOutcome>> {
            panic!("no record is created in these tests");
        }
        async fn update(&self, updates: Vec<UpdateRequest>) -> SystemResult<Vec<WriteOutcome>> {
            self.writes.fetch_add(1, Ordering::SeqCst);
            match self.refusal.lock().unwrap().take() {
                Some(Refusal::Record) => {
                    return Ok(updates
                        .into_iter()
                        .map(|u| WriteOutcome {
                            key: u.id,
                            result: Err(RecordError {
                                code: "invalid.value".into(),
                                message: "workEmail: invalid".into(),
                                retryable: false,
                            }),
                        })
                        .collect());
                }
                Some(Refusal::Call) => {
                    return Err(crate::system::SystemError::Rejected {
                        side: self.side,
                        status: 400,
                        message: "bulk update: bad.request".into(),
                    });
                }
                None => {}
            }
            let thief = self.commit_thief.lock().unwrap().take();
            if let Some(store) = thief {
                let stored = store.pair(PAIR).await.unwrap().unwrap();
                let saved = store.save_pair(&stored, stored.version).await.unwrap();
                assert_eq!(saved, SaveOutcome::Saved);
            }
            let mut records = self.records.lock().unwrap();
            Ok(updates
                .into_iter()
                .map(|u| {
                    let stored = records.get_mut(&u.id).expect("updated record exists");
                    match (self.side, stored, u.body) {
                        (Side::Salesforce, Value::Object(stored), Value::Object(fields)) => {
                            stored.extend(fields)
                        }
                        (_, stored, body) => *stored = body,
                    }
                    WriteOutcome {
                        result: Ok(u.id.clone()),
                        key: u.id,
                    }
                })
                .collect())
        }
        async fn delete(&self, _ids: Vec<String>) -> SystemResult<Vec<WriteOutcome>> {
            panic!("no record is deleted in these tests");
        }
        fn bulk_limit(&self) -> Option<usize> {
            *self.learned.lock().unwrap()
        }
        fn adopt_bulk_limit(&self, limit: usize) {
            *self.adopted.lock().unwrap() = Some(limit);
        }
    }

    #[tokio::test]
    async fn a_record_the_system_refuses_is_counted_refused_for_that_side() {
        // GIVEN a synced pair edited in Salesforce, and Genesys refusing the record (validation)
        let w = world().await;
        settle(&w).await;
        w.sf.edit(SF_ID, "Title", "Director");
        *w.gz.refusal.lock().unwrap() = Some(Refusal::Record);
        // WHEN it is reconciled
        let outcome = reconcile(&w.integration, &batch(&w)).await.unwrap();
        // THEN it is refused by Genesys, parked with a review item, not counted as failed
        assert_eq!(outcome.stats.refused.genesys, 1);
        assert_eq!(outcome.stats.refused.salesforce, 0);
        assert_eq!(outcome.stats.review, 1);
        assert_eq!(outcome.stats.failed, 0);
        let pair = w.store.pair(PAIR).await.unwrap().unwrap();
        assert_eq!(pair.status, PairStatus::Rejected);
    }

    #[tokio::test]
    async fn a_refused_call_parks_no_record() {
        // GIVEN a synced pair edited in Salesforce, and a Genesys write call refused as a whole
        let w = world().await;
        settle(&w).await;
        w.sf.edit(SF_ID, "Title", "Director");
        *w.gz.refusal.lock().unwrap() = Some(Refusal::Call);
        // WHEN it is reconciled
        let outcome = reconcile(&w.integration, &batch(&w)).await.unwrap();
        // THEN nothing is refused: the pair failed and stays pending for the next run
        assert_eq!(outcome.stats.refused.total(), 0);
        assert_eq!(outcome.stats.failed, 1);
        let pair = w.store.pair(PAIR).await.unwrap().unwrap();
        assert_eq!(pair.status, PairStatus::Pending);
        assert!(pair.last_error.is_some_and(|e| e.retryable));
        // AND the next reconcile (the call accepted) syncs it
        settle(&w).await;
        assert_eq!(w.gz.records.lock().unwrap()[GZ_ID]["title"], "Director");
    }

    #[tokio::test]
    async fn learned_bulk_limits_are_read_once_and_stored_when_lowered() {
        // GIVEN a store that remembers 40 for Genesys
        let w = world().await;
        w.store
            .lower_bulk_limit(&w.integration.name, Side::Genesys, 40)
            .await
            .unwrap();
        // WHEN a batch is reconciled
        settle(&w).await;
        // THEN the Genesys writer was told to start at 40 (Salesforce has nothing stored)
        assert_eq!(*w.gz.adopted.lock().unwrap(), Some(40));
        assert_eq!(*w.sf.adopted.lock().unwrap(), None);
        // WHEN the Genesys writer learns 25 during a batch
        *w.gz.learned.lock().unwrap() = Some(25);
        w.sf.edit(SF_ID, "Title", "Director");
        reconcile(&w.integration, &batch(&w)).await.unwrap();
        // THEN 25 is stored for later runs
        assert_eq!(
            w.store
                .bulk_limit(&w.integration.name, Side::Genesys)
                .await
                .unwrap(),
            Some(25)
        );
        // AND a quiet batch afterwards writes nothing for it
        let before = w.store.write_requests();
        reconcile(&w.integration, &batch(&w)).await.unwrap();
        assert_eq!(w.store.write_requests(), before);
    }

    struct World {
        integration: Integration,
        store: Arc<MemoryStore>,
        sf: Arc<FakeSystem>,
        gz: Arc<FakeSystem>,
    }

    /// A linked pair whose records agree, not synced yet.
    async fn world() -> World {
        let sf = FakeSystem::new(
            Side::Salesforce,
            SF_ID,
            json!({"Id": SF_ID, "FirstName": "Ada", "LastName": "Lovelace", "Email": "ada@example.com", "Title": "Analyst"}),
        );
        let gz = FakeSystem::new(
            Side::Genesys,
            GZ_ID,
            json!({
                "id": GZ_ID, "firstName": "Ada", "lastName": "Lovelace",
                "workEmail": "ada@example.com", "title": "Analyst",
                "externalIds": [{"externalSource": {"id": SOURCE}, "value": SF_ID}],
            }),
        );
        let store = Arc::new(MemoryStore::new());
        let pair = Pair::new(PAIR.into(), Some(SF_ID.into()), Some(GZ_ID.into()));
        assert_eq!(store.create_pair(&pair).await.unwrap(), SaveOutcome::Saved);
        let integration = Integration::new(
            Mapping::default_mapping(),
            sf.clone(),
            gz.clone(),
            store.clone(),
            Arc::new(InProcessQueue::new()),
            Arc::new(Ticking::default()),
            Settings::default(),
        );
        World {
            integration,
            store,
            sf,
            gz,
        }
    }

    fn batch(w: &World) -> ReconcileBatch {
        ReconcileBatch {
            v: MESSAGE_VERSION,
            integration: w.integration.name.clone(),
            run_id: "run-1".into(),
            pairs: vec![PairRef::to_pair(PAIR.into())],
        }
    }

    fn system_writes(w: &World) -> u64 {
        w.sf.writes.load(Ordering::SeqCst) + w.gz.writes.load(Ordering::SeqCst)
    }

    /// Reconciles until the pair is synced and a reconcile changes nothing more (at most 3).
    async fn settle(w: &World) {
        for _ in 0..3 {
            let before = system_writes(w);
            reconcile(&w.integration, &batch(w)).await.unwrap();
            let pair = w.store.pair(PAIR).await.unwrap().unwrap();
            if pair.status == PairStatus::Synced && system_writes(w) == before {
                return;
            }
        }
        panic!("the pair did not settle");
    }

    #[tokio::test]
    async fn an_unchanged_pair_costs_no_store_write() {
        // GIVEN a synced pair whose records both still hold the base
        let w = world().await;
        settle(&w).await;
        let version = w.store.pair(PAIR).await.unwrap().unwrap().version;
        let (store_before, systems_before) = (w.store.write_requests(), system_writes(&w));

        // WHEN it comes back in a batch (an echo of our own writes, a redelivery)
        let outcome = reconcile(&w.integration, &batch(&w)).await.unwrap();

        // THEN it is counted unchanged, with no store write at all (no lease, no save) and no
        // system write
        assert_eq!(outcome.stats.unchanged, 1);
        assert!(outcome.retry.is_empty());
        assert_eq!(w.store.write_requests() - store_before, 0);
        assert_eq!(system_writes(&w), systems_before);
        assert_eq!(w.store.pair(PAIR).await.unwrap().unwrap().version, version);
    }

    #[tokio::test]
    async fn a_pending_pair_whose_records_agree_is_still_saved_synced() {
        // GIVEN a synced pair that a failed write left pending, its records equal to its base
        let w = world().await;
        settle(&w).await;
        let mut pending = w.store.pair(PAIR).await.unwrap().unwrap();
        pending.status = PairStatus::Pending;
        pending.last_error = Some(RecordError {
            code: "CALL_FAILED_RETRYABLE".into(),
            message: "timeout".into(),
            retryable: true,
        });
        let version = pending.version;
        assert_eq!(
            w.store.save_pair(&pending, version).await.unwrap(),
            SaveOutcome::Saved
        );

        // WHEN it is reconciled and nothing needs writing to either system
        let systems_before = system_writes(&w);
        reconcile(&w.integration, &batch(&w)).await.unwrap();

        // THEN the pair is saved synced, without its error
        let stored = w.store.pair(PAIR).await.unwrap().unwrap();
        assert_eq!(stored.status, PairStatus::Synced);
        assert_eq!(stored.last_error, None);
        assert_eq!(stored.version, version + 2);
        assert_eq!(system_writes(&w), systems_before);
    }

    #[tokio::test]
    async fn a_policy_decision_is_audited_even_when_the_commit_never_happens() {
        // GIVEN a synced pair whose first name was changed on both sides (salesforce_wins),
        // and a commit that will not happen (another writer saves the pair during our write)
        let w = world().await;
        settle(&w).await;
        w.sf.edit(SF_ID, "FirstName", "Augusta");
        w.gz.edit(GZ_ID, "firstName", "Countess");
        *w.gz.commit_thief.lock().unwrap() = Some(w.store.clone());

        // WHEN the batch is reconciled
        let outcome = reconcile(&w.integration, &batch(&w)).await.unwrap();

        // THEN Salesforce's value was written to Genesys, the commit lost, and the store still
        // holds the closed audit entry of the decision (the next run sees both sides agree
        // and would decide nothing)
        assert_eq!(w.gz.records.lock().unwrap()[GZ_ID]["firstName"], "Augusta");
        assert_eq!(outcome.retry.len(), 1);
        let audit = w.store.conflicts(&w.integration.name, false).await.unwrap();
        assert_eq!(audit.len(), 1, "{audit:?}");
        assert_eq!(audit[0].field, "first_name");
        assert_eq!(audit[0].status, ConflictStatus::Closed);
        assert_eq!(
            audit[0].kind,
            ConflictKind::Resolved {
                winner: Side::Salesforce
            }
        );
    }

    #[tokio::test]
    async fn a_pair_leased_by_another_worker_after_our_reads_began_is_not_written() {
        // GIVEN a synced pair edited in Salesforce, and another worker that takes and releases
        // the pair's lease while our reads run (it may have written the pair after them)
        let w = world().await;
        settle(&w).await;
        w.sf.edit(SF_ID, "Title", "Engineer");
        *w.sf.intruder.lock().unwrap() = Some(Intruder {
            store: w.store.clone(),
            clock: w.integration.clock.clone(),
        });
        let systems_before = system_writes(&w);

        // WHEN the batch is reconciled
        let outcome = reconcile(&w.integration, &batch(&w)).await.unwrap();

        // THEN nothing planned on those reads is written: the pair is asked for again
        assert_eq!(system_writes(&w), systems_before);
        assert_eq!(outcome.retry.len(), 1);
        assert_eq!(outcome.retry[0].pair_id.as_deref(), Some(PAIR));
        // AND the redelivery, reading again, writes the edit to Genesys
        reconcile(&w.integration, &batch(&w)).await.unwrap();
        assert_eq!(w.gz.records.lock().unwrap()[GZ_ID]["title"], "Engineer");
    }
}
