//! The poll use case: read each side's changes since its watermark, resolve every change to a
//! pair (linked, matched, or new), hold ambiguous matches for review, fan the pairs out in
//! batches, and only then move the watermarks forward.

use crate::integration::{Integration, PipelineError};
use crate::queue::{MESSAGE_VERSION, PairRef, ReconcileBatch};
use crate::stats::SyncStats;
use crate::store::ConflictRecord;
use crate::system::{ContactReader, Watermark};
use contact_sync_engine::Side;
use contact_sync_engine::SideRecord;
use contact_sync_engine::matching::{Candidate, CandidateIndex, MatchOutcome};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// When the poll moves the watermarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatermarkAdvance {
    /// Right after every batch is enqueued (durable queue: SQS).
    AfterEnqueue,
    /// Not at all: the caller advances them once the batches are reconciled (in-process
    /// queue, which does not survive the process).
    Deferred,
}

/// The result of a poll.
#[derive(Debug, Clone)]
pub struct PollOutcome {
    pub stats: SyncStats,
    pub batches: usize,
    /// Watermarks reached by this poll (already stored when `AfterEnqueue`).
    pub watermarks: Vec<(Side, Watermark)>,
    /// How far the Salesforce delete log was read (already stored when `AfterEnqueue`);
    /// `None` when it must not move (nothing new, or deletes held by the circuit breaker).
    pub deletions_watermark: Option<Watermark>,
}

/// The store key under which an integration's Salesforce delete-log watermark is kept.
pub fn deletions_key(integration: &str) -> String {
    format!("{integration}#deletions")
}

/// Everything read from one side during a poll.
struct SideRead {
    /// Records changed after the watermark, as match candidates.
    changed: Vec<Candidate>,
    /// Every record read, as match candidates for the other side.
    index: CandidateIndex,
    /// The newest change seen.
    newest: Option<Watermark>,
    read: u64,
    /// Genesys: changed records that others were merged into (`mergedFrom`), by survivor.
    merged_from: HashMap<String, Vec<String>>,
}

/// Runs one poll under the integration's run lease (owner: `run_id`).
pub async fn poll(
    integration: &Integration,
    run_id: &str,
    advance: WatermarkAdvance,
) -> Result<PollOutcome, PipelineError> {
    let store = &integration.store;
    let lease_key = format!("run#{}", integration.name);
    let now = integration.clock.now();
    if !store
        .acquire_lease(&lease_key, run_id, now, integration.settings.lease_ttl)
        .await?
    {
        return Err(PipelineError::RunInProgress(integration.name.clone()));
    }
    let result = poll_under_lease(integration, run_id, advance).await;
    store.release_lease(&lease_key, run_id).await?;
    result
}

async fn poll_under_lease(
    integration: &Integration,
    run_id: &str,
    advance: WatermarkAdvance,
) -> Result<PollOutcome, PipelineError> {
    let facts = integration.prepare().await?;
    let mut stats = SyncStats::default();

    let genesys = read_side(
        integration,
        &*integration.genesys,
        Some(&facts.link_source_id),
    )
    .await?;
    let salesforce = read_side(integration, &*integration.salesforce, None).await?;
    stats.read.add(Side::Genesys, genesys.read);
    stats.read.add(Side::Salesforce, salesforce.read);
    stats
        .changed
        .add(Side::Genesys, genesys.changed.len() as u64);
    stats
        .changed
        .add(Side::Salesforce, salesforce.changed.len() as u64);

    let mut resolver = Resolver::default();
    let mut review: Vec<ConflictRecord> = Vec::new();

    // Salesforce deletes and merges of linked records (held back when they are too many).
    // The survivor of a merge is not a new record: its pair is the merged record's.
    let deletions = read_deletions(
        integration,
        run_id,
        genesys.read,
        &mut resolver,
        &mut review,
    )
    .await?;
    let sf_survivors = deletions.survivors;
    let deletions_watermark = deletions.watermark;

    // Salesforce changes: linked → their pair; unlinked → matched against every Genesys record.
    let sf_ids: Vec<String> = salesforce.changed.iter().map(|c| c.id.clone()).collect();
    let sf_links = integration.store.links(Side::Salesforce, &sf_ids).await?;
    let unlinked_sf: Vec<Candidate> = salesforce
        .changed
        .iter()
        .filter(|c| !sf_links.contains_key(&c.id) && !sf_survivors.contains(&c.id))
        .cloned()
        .collect();
    for (sf_id, pair_id) in &sf_links {
        resolver.add(PairRef {
            pair_id: Some(pair_id.clone()),
            sf_id: Some(sf_id.clone()),
            gz_id: None,
            merged_into: None,
        });
    }
    for (sf_id, outcome) in genesys.index.match_batch(&unlinked_sf) {
        match outcome {
            MatchOutcome::Matched { other_id, .. } => resolver.add(PairRef {
                pair_id: None,
                sf_id: Some(sf_id),
                gz_id: Some(other_id),
                merged_into: None,
            }),
            MatchOutcome::NoMatch => resolver.add(PairRef {
                pair_id: None,
                sf_id: Some(sf_id),
                gz_id: None,
                merged_into: None,
            }),
            MatchOutcome::Ambiguous { candidates, .. } => review.push(ambiguous(
                integration,
                run_id,
                Side::Salesforce,
                &sf_id,
                candidates,
            )),
        }
    }

    // Genesys changes: linked → their pair; carrying a Salesforce Id → that record; otherwise
    // matched against the Salesforce records read now, then looked up by email.
    let gz_ids: Vec<String> = genesys.changed.iter().map(|c| c.id.clone()).collect();
    let gz_links = integration.store.links(Side::Genesys, &gz_ids).await?;
    for (gz_id, pair_id) in &gz_links {
        resolver.add(PairRef {
            pair_id: Some(pair_id.clone()),
            sf_id: None,
            gz_id: Some(gz_id.clone()),
            merged_into: None,
        });
    }
    // A Genesys contact that linked contacts were merged into is not a new record: the merged
    // contacts' pairs are reconciled (their fetch shows `mergedTo`) and follow it.
    let merged_away: Vec<String> = genesys.merged_from.values().flatten().cloned().collect();
    let merged_links = integration.store.links(Side::Genesys, &merged_away).await?;
    let mut gz_survivors = BTreeSet::new();
    for (survivor, losers) in &genesys.merged_from {
        for loser in losers {
            if let Some(pair_id) = merged_links.get(loser) {
                gz_survivors.insert(survivor.clone());
                resolver.add(PairRef {
                    pair_id: Some(pair_id.clone()),
                    sf_id: None,
                    gz_id: Some(loser.clone()),
                    merged_into: None,
                });
            }
        }
    }
    let unlinked_gz: Vec<Candidate> = genesys
        .changed
        .iter()
        .filter(|c| !gz_links.contains_key(&c.id) && !gz_survivors.contains(&c.id))
        .cloned()
        .collect();
    let sf_index = unlinked_salesforce_index(integration, &salesforce, &unlinked_gz).await?;
    for (gz_id, outcome) in sf_index.match_batch(&unlinked_gz) {
        match outcome {
            MatchOutcome::Matched { other_id, .. } => resolver.add(PairRef {
                pair_id: None,
                sf_id: Some(other_id),
                gz_id: Some(gz_id),
                merged_into: None,
            }),
            MatchOutcome::NoMatch => resolver.add(PairRef {
                pair_id: None,
                sf_id: None,
                gz_id: Some(gz_id),
                merged_into: None,
            }),
            MatchOutcome::Ambiguous { candidates, .. } => review.push(ambiguous(
                integration,
                run_id,
                Side::Genesys,
                &gz_id,
                candidates,
            )),
        }
    }

    // Pairs that failed before are retried.
    for pair in integration
        .store
        .pending_pairs(integration.settings.pending_retry_limit)
        .await?
    {
        resolver.add(PairRef {
            pair_id: Some(pair.pair_id),
            sf_id: None,
            gz_id: None,
            merged_into: None,
        });
    }

    let (refs, contested) = resolver.finish();
    for (side, id, others) in contested {
        review.push(ambiguous(integration, run_id, side, &id, others));
    }
    for item in &review {
        integration.store.record_conflict(item).await?;
    }
    stats.review += review.len() as u64;
    stats.pairs_enqueued = refs.len() as u64;

    let batches: Vec<ReconcileBatch> = refs
        .chunks(integration.settings.batch_size.max(1))
        .map(|chunk| ReconcileBatch {
            v: MESSAGE_VERSION,
            integration: integration.name.clone(),
            run_id: run_id.to_string(),
            pairs: chunk.to_vec(),
        })
        .collect();
    let batch_count = batches.len();
    // Ten at a time: the queue adapter's natural batch; a failure leaves the watermark behind.
    for group in batches.chunks(10) {
        integration.queue.send_batches(group.to_vec()).await?;
    }

    let watermarks: Vec<(Side, Watermark)> = [
        (Side::Salesforce, salesforce.newest),
        (Side::Genesys, genesys.newest),
    ]
    .into_iter()
    .filter_map(|(side, wm)| wm.map(|wm| (side, wm)))
    .collect();
    if advance == WatermarkAdvance::AfterEnqueue {
        advance_watermarks(integration, &watermarks).await?;
        advance_deletions_watermark(integration, deletions_watermark.as_ref()).await?;
    }
    tracing::info!(
        run_id,
        sf_changed = stats.changed.salesforce,
        gz_changed = stats.changed.genesys,
        gz_scanned = stats.read.genesys,
        pairs = stats.pairs_enqueued,
        batches = batch_count,
        review = stats.review,
        "poll finished"
    );
    Ok(PollOutcome {
        stats,
        batches: batch_count,
        watermarks,
        deletions_watermark,
    })
}

/// Stores how far the Salesforce delete log was read (only forward).
pub async fn advance_deletions_watermark(
    integration: &Integration,
    watermark: Option<&Watermark>,
) -> Result<(), PipelineError> {
    if let Some(wm) = watermark {
        integration
            .store
            .advance_watermark(&deletions_key(&integration.name), Side::Salesforce, wm)
            .await?;
    }
    Ok(())
}

/// Reads the Salesforce delete log since its watermark and queues the linked pairs it names
/// (with the merge survivor, if any). When the deletes would trip the circuit breaker
/// (`population`: the Genesys records scanned, one per linked pair at most) they are not
/// queued, the watermark does not move (the next run sees them again) and an open review item
/// says so.
async fn read_deletions(
    integration: &Integration,
    run_id: &str,
    population: u64,
    resolver: &mut Resolver,
    review: &mut Vec<ConflictRecord>,
) -> Result<DeletionsRead, PipelineError> {
    let key = deletions_key(&integration.name);
    let since = integration.store.watermark(&key, Side::Salesforce).await?;
    let read = integration
        .salesforce
        .read_deletions(since.as_ref())
        .await?;
    if !read.complete {
        // Deletes older than the log may have been missed; linked pairs whose Salesforce record
        // is gone are still found (and unlinked) whenever a pair is reconciled.
        tracing::warn!(
            integration = %integration.name,
            "the Salesforce delete log no longer covers the last run; some deletes may surface late"
        );
    }
    if read.deletions.is_empty() {
        return Ok(DeletionsRead {
            watermark: read.newest,
            survivors: BTreeSet::new(),
        });
    }
    let ids: Vec<String> = read.deletions.iter().map(|d| d.id.clone()).collect();
    let links = integration.store.links(Side::Salesforce, &ids).await?;
    let linked: Vec<_> = read
        .deletions
        .iter()
        .filter_map(|d| links.get(&d.id).map(|pair_id| (pair_id, d)))
        .collect();
    let deletes = linked
        .iter()
        .filter(|(_, d)| d.merged_into.is_none())
        .count();
    let breaker = integration.mapping.delete_breaker;
    if breaker.trips(deletes, population as usize) {
        tracing::warn!(
            integration = %integration.name,
            deletes,
            population,
            "delete circuit breaker tripped: deletes held for review"
        );
        review.push(deletes_held(
            integration,
            run_id,
            deletes as u64,
            population,
        ));
        return Ok(DeletionsRead {
            watermark: None,
            survivors: BTreeSet::new(),
        });
    }
    let mut survivors = BTreeSet::new();
    for (pair_id, d) in linked {
        survivors.extend(d.merged_into.clone());
        resolver.add(PairRef {
            pair_id: Some(pair_id.clone()),
            sf_id: Some(d.id.clone()),
            gz_id: None,
            merged_into: d.merged_into.clone(),
        });
    }
    Ok(DeletionsRead {
        watermark: read.newest,
        survivors,
    })
}

/// What [`read_deletions`] found.
struct DeletionsRead {
    /// The watermark to store (`None`: keep the old one).
    watermark: Option<Watermark>,
    /// Merge survivors of linked records: not new records.
    survivors: BTreeSet<String>,
}

/// The open review item of a tripped delete circuit breaker (one per integration: seeing it
/// again is a no-op until a person closes it).
pub fn deletes_held(
    integration: &Integration,
    run_id: &str,
    count: u64,
    population: u64,
) -> ConflictRecord {
    ConflictRecord {
        id: format!("deletes-held#{}#open", integration.name),
        integration: integration.name.clone(),
        run_id: run_id.to_string(),
        pair_id: None,
        sf_id: None,
        gz_id: None,
        field: "record".into(),
        policy: "delete_breaker".into(),
        kind: crate::store::ConflictKind::DeletesHeld { count, population },
        status: crate::store::ConflictStatus::Open,
        base_value: None,
        salesforce_value: None,
        genesys_value: None,
        at: integration.clock.now(),
    }
}

/// Stores the watermarks a poll reached (each only moves forward).
pub async fn advance_watermarks(
    integration: &Integration,
    watermarks: &[(Side, Watermark)],
) -> Result<(), PipelineError> {
    for (side, wm) in watermarks {
        integration
            .store
            .advance_watermark(&integration.name, *side, wm)
            .await?;
    }
    Ok(())
}

async fn read_side(
    integration: &Integration,
    system: &dyn ContactReader,
    link_source_id: Option<&str>,
) -> Result<SideRead, PipelineError> {
    let side = system.side();
    let stored = integration.store.watermark(&integration.name, side).await?;
    // Read from a little before the watermark (late commits), filter on the exact watermark
    // minus the same overlap: re-reading is harmless, the merge makes it a no-op.
    let since = stored.as_ref().map(|wm| Watermark {
        stamp: wm.stamp - integration.settings.overlap,
        last_id: if integration.settings.overlap.is_zero() {
            wm.last_id.clone()
        } else {
            String::new()
        },
    });
    let mut out = SideRead {
        changed: Vec::new(),
        index: CandidateIndex::new(side),
        newest: stored.clone(),
        read: 0,
        merged_from: HashMap::new(),
    };
    let mut cursor = None;
    loop {
        let page = system.read_changes(since.as_ref(), cursor).await?;
        for raw in page.records {
            out.read += 1;
            let record: SideRecord = match side {
                Side::Salesforce => {
                    integration
                        .mapping
                        .salesforce_record(&raw.id, raw.modified_at, &raw.body)
                }
                Side::Genesys => integration.mapping.genesys_record(
                    &raw.id,
                    raw.modified_at,
                    raw.body,
                    link_source_id,
                ),
            };
            let candidate = Candidate::from(&record);
            out.index.insert(&candidate);
            let is_change = since
                .as_ref()
                .is_none_or(|wm| wm.is_before(record.modified_at, &record.id));
            if is_change {
                let seen = Watermark {
                    stamp: record.modified_at,
                    last_id: record.id.clone(),
                };
                if out.newest.as_ref().is_none_or(|n| seen > *n) {
                    out.newest = Some(seen);
                }
                if !record.merged_from.is_empty() {
                    out.merged_from
                        .insert(record.id.clone(), record.merged_from.clone());
                }
                out.changed.push(candidate);
            }
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    Ok(out)
}

/// Salesforce candidates for unlinked Genesys changes: the unlinked Salesforce records read by
/// this poll, plus unlinked Salesforce records found by the Genesys records' emails.
async fn unlinked_salesforce_index(
    integration: &Integration,
    salesforce: &SideRead,
    unlinked_gz: &[Candidate],
) -> Result<CandidateIndex, PipelineError> {
    let mut index = CandidateIndex::new(Side::Salesforce);
    let mut candidates: BTreeMap<String, Candidate> = salesforce
        .changed
        .iter()
        .map(|c| (c.id.clone(), c.clone()))
        .collect();
    let seen_emails: BTreeSet<&str> = candidates
        .values()
        .flat_map(|c| c.emails.iter().map(String::as_str))
        .collect();
    let mut emails: Vec<String> = unlinked_gz
        .iter()
        .filter(|g| g.link.is_none())
        .flat_map(|g| g.emails.iter())
        .filter(|e| !seen_emails.contains(e.as_str()))
        .cloned()
        .collect();
    emails.sort();
    emails.dedup();
    if !emails.is_empty() {
        for raw in integration.salesforce.find_by_emails(&emails).await? {
            let record = integration
                .mapping
                .salesforce_record(&raw.id, raw.modified_at, &raw.body);
            candidates
                .entry(record.id.clone())
                .or_insert_with(|| Candidate::from(&record));
        }
    }
    let ids: Vec<String> = candidates.keys().cloned().collect();
    let linked = integration.store.links(Side::Salesforce, &ids).await?;
    for candidate in candidates.values() {
        if !linked.contains_key(&candidate.id) {
            index.insert(candidate);
        }
    }
    Ok(index)
}

fn ambiguous(
    integration: &Integration,
    run_id: &str,
    side: Side,
    record_id: &str,
    candidates: Vec<String>,
) -> ConflictRecord {
    let (sf_id, gz_id) = match side {
        Side::Salesforce => (Some(record_id.to_string()), None),
        Side::Genesys => (None, Some(record_id.to_string())),
    };
    // One open item per record: seeing the same ambiguity again is a no-op.
    ConflictRecord::ambiguous_match(
        format!("match#{side}#{record_id}"),
        &integration.name,
        run_id,
        (None, sf_id, gz_id),
        "unique_match",
        candidates,
        integration.clock.now(),
    )
}

/// A record that several new pairs would claim, with the records claiming it.
type Contested = (Side, String, Vec<String>);

/// Collects pair references, merging those that name the same pair, and finds records that
/// two different new pairs would claim.
#[derive(Default)]
struct Resolver {
    by_pair: BTreeMap<String, PairRef>,
    new_pairs: BTreeSet<PairRef>,
}

impl Resolver {
    fn add(&mut self, r: PairRef) {
        match &r.pair_id {
            Some(pair_id) => {
                let entry = self.by_pair.entry(pair_id.clone()).or_insert(PairRef {
                    pair_id: Some(pair_id.clone()),
                    sf_id: None,
                    gz_id: None,
                    merged_into: None,
                });
                entry.sf_id = entry.sf_id.take().or(r.sf_id);
                entry.gz_id = entry.gz_id.take().or(r.gz_id);
                entry.merged_into = entry.merged_into.take().or(r.merged_into);
            }
            None => {
                self.new_pairs.insert(r);
            }
        }
    }

    /// The references to enqueue, and the records contested by several new pairs.
    fn finish(self) -> (Vec<PairRef>, Vec<Contested>) {
        // A proposal {sf, gz} makes the lone proposals {sf} and {gz} redundant.
        let paired: Vec<PairRef> = self
            .new_pairs
            .iter()
            .filter(|r| r.sf_id.is_some() && r.gz_id.is_some())
            .cloned()
            .collect();
        let mut claims: HashMap<(Side, String), BTreeSet<String>> = HashMap::new();
        for r in &paired {
            if let (Some(sf), Some(gz)) = (&r.sf_id, &r.gz_id) {
                claims
                    .entry((Side::Salesforce, sf.clone()))
                    .or_default()
                    .insert(gz.clone());
                claims
                    .entry((Side::Genesys, gz.clone()))
                    .or_default()
                    .insert(sf.clone());
            }
        }
        let contested: BTreeSet<(Side, String)> = claims
            .iter()
            .filter(|(_, others)| others.len() > 1)
            .map(|(key, _)| key.clone())
            .collect();
        let is_contested = |r: &PairRef| {
            r.sf_id
                .as_ref()
                .is_some_and(|id| contested.contains(&(Side::Salesforce, id.clone())))
                || r.gz_id
                    .as_ref()
                    .is_some_and(|id| contested.contains(&(Side::Genesys, id.clone())))
        };
        let covered = |side: Side, id: &String| claims.contains_key(&(side, id.clone()));
        let mut refs: Vec<PairRef> = self.by_pair.into_values().collect();
        for r in self.new_pairs {
            if is_contested(&r) {
                continue;
            }
            let lone_and_covered = match (&r.sf_id, &r.gz_id) {
                (Some(sf), None) => covered(Side::Salesforce, sf),
                (None, Some(gz)) => covered(Side::Genesys, gz),
                _ => false,
            };
            if !lone_and_covered {
                refs.push(r);
            }
        }
        let mut contested_list: Vec<Contested> = contested
            .into_iter()
            .map(|(side, id)| {
                let others = claims
                    .get(&(side, id.clone()))
                    .map(|o| o.iter().cloned().collect())
                    .unwrap_or_default();
                (side, id, others)
            })
            .collect();
        contested_list.sort();
        (refs, contested_list)
    }
}
