//! The poll use case: read each side's changes since its watermark, resolve every change to a
//! pair (linked, matched, or new), hold ambiguous matches for review, fan the pairs out in
//! batches, and only then move the watermarks forward.
//!
//! # A poll is a sequence of steps
//!
//! So that a poll too long for one Lambda invocation continues in the next one
//! ([`poll_resumable`]), it runs as small steps; the CLI runs them all in one go ([`poll`]).
//!
//! 1. **Salesforce pages**, a step each: changes after the watermark (SOQL ordered by
//!    `(SystemModstamp, Id)`, or one Bulk API 2.0 job). A linked change names its pair. An
//!    unlinked one becomes a *candidate*: it must be matched against every Genesys record, and
//!    Genesys can only be read whole.
//! 2. **Genesys scan pages**, a step each (Genesys has no modified-since filter). Every
//!    candidate is matched against the page; per candidate the Genesys ids found by the
//!    strongest key so far (link, then email, then phone) are kept — over all pages that is
//!    exactly the engine's answer for all records at once. The page's own changes: linked →
//!    their pair; unlinked → matched at once against the candidates and the Salesforce records
//!    their emails find (`find_by_emails`), keeping the Salesforce ids found.
//! 3. **Finish**, one step: the Salesforce delete log (the circuit breaker counts the Genesys
//!    scan), each unlinked record's outcome (no candidate → create, one → link, several → a
//!    review item; one record claimed by several → review), pending pairs; everything is
//!    enqueued, and only then do the watermarks move.
//!
//! # Checkpoints
//!
//! Between invocations the progress is a [`PollCheckpoint`] in the store, saved with a
//! compare-and-set on `(poll_id, version)`: per side the read position (`since`, cursor, newest
//! change, when the read started), the candidates' and unlinked Genesys changes' ids with the
//! ids they matched, and counters. Ids, cursors and counts only, never a field value: a resumed
//! invocation fetches the candidates again by id to match the rest of the scan against them.
//! Linked changes need no matching: they are enqueued before every save, so a checkpoint never
//! names work that was not enqueued; new pairs are enqueued only by the finish.
//!
//! Under at-least-once delivery:
//! - An invocation that dies after enqueueing but before saving is redone from the last
//!   checkpoint; its batches are enqueued again, which reconcile shrugs off (idempotent).
//! - Two invocations on one checkpoint (the run lease expired under a slow one): only one save
//!   of a version succeeds; the other run stops (`RunInProgress`) without moving a watermark.
//!   The finish clears the checkpoint with the same check *before* it moves the watermarks.
//! - A cursor the system no longer accepts (Salesforce query locators expire within minutes,
//!   Genesys scan cursors after a day) restarts that side's read from the poll's `since`. A
//!   Salesforce restart keeps the candidates (ids); a Genesys restart forgets every match found
//!   (a record may have changed since) and scans again. At most [`MAX_READ_RESTARTS`] a side.
//! - A checkpoint this build cannot read is cleared and the poll starts over: the watermarks
//!   never moved, so nothing is lost.
//!
//! # Watermarks
//!
//! A side's watermark moves to the newest change read, but never past the start of that read
//! minus `Settings::watermark_skew` (an edit landing during a long read, with an older stamp
//! than a record already read, is read again by the next poll; reconcile makes the overlap
//! cheap), and never past a change left for the next poll.
//!
//! # Bounds
//!
//! A resumable poll carries at most `Settings::poll_unlinked_limit` unlinked records a side
//! (10,000 by default: about 1.6 MB of checkpoint, which the DynamoDB store chunks). Beyond it:
//! - Salesforce: further unlinked changes are left to the next poll (linked ones are still
//!   enqueued). A new Genesys contact can be told from an existing Salesforce record only once
//!   every Salesforce change is known, so unlinked Genesys changes no candidate matched are then
//!   left to the next poll too.
//! - Genesys: further unlinked changes are left to the next poll, except those a candidate
//!   matched (the candidate's outcome depends on them).
//!
//! An initial sync of a large org therefore takes several polls on AWS (10,000 new records a
//! side each); [`poll`] (one process, the CLI) has no such bound.

use crate::integration::{Integration, PipelineError, RunFacts};
use crate::queue::{MESSAGE_VERSION, PairRef, ReconcileBatch};
use crate::stats::SyncStats;
use crate::store::{CheckpointWrite, ConflictRecord, PollCheckpoint};
use crate::system::{ChangePage, ContactReader, SystemError, Watermark};
use chrono::{DateTime, Duration, Timelike, Utc};
use contact_sync_engine::matching::{Candidate, CandidateIndex, MatchKey, MatchOutcome};
use contact_sync_engine::{Side, SideRecord};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::time::Instant;

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

/// How much one invocation of a resumable poll may do before it saves its progress and stops.
#[derive(Debug, Clone)]
pub struct PollBudget {
    deadline: Option<Instant>,
    max_steps: Option<usize>,
    save_every: std::time::Duration,
}

impl PollBudget {
    /// No limit: the poll runs to its end.
    pub fn unlimited() -> PollBudget {
        PollBudget {
            deadline: None,
            max_steps: None,
            save_every: std::time::Duration::from_secs(60),
        }
    }

    /// No step starts at or after `deadline`.
    pub fn until(deadline: Instant) -> PollBudget {
        PollBudget {
            deadline: Some(deadline),
            ..PollBudget::unlimited()
        }
    }

    /// At most `max_steps` steps (tests; a scheduler that counts work rather than time).
    pub fn steps(max_steps: usize) -> PollBudget {
        PollBudget {
            max_steps: Some(max_steps),
            ..PollBudget::unlimited()
        }
    }

    /// Saves progress (a checkpoint) at least this often while running, so an invocation that
    /// is killed loses at most this much work. Default: a minute.
    pub fn saving_every(mut self, every: std::time::Duration) -> PollBudget {
        self.save_every = every;
        self
    }

    fn allows(&self, steps_done: usize) -> bool {
        self.deadline.is_none_or(|d| Instant::now() < d)
            && self.max_steps.is_none_or(|max| steps_done < max)
    }
}

/// What one invocation of a resumable poll did.
#[derive(Debug, Clone)]
pub enum PollProgress {
    /// The poll is done: everything enqueued, watermarks stored, checkpoint cleared.
    Finished(PollOutcome),
    /// The budget ran out: progress is saved and the next invocation continues.
    Continued(PollContinued),
}

/// A poll that goes on in the next invocation.
#[derive(Debug, Clone)]
pub struct PollContinued {
    pub poll_id: String,
    /// Steps this invocation made; 0 when the budget did not allow one (nothing moved).
    pub steps: usize,
    /// The poll's statistics so far, over all its invocations.
    pub stats: SyncStats,
    /// Batches enqueued so far, over all its invocations.
    pub batches: usize,
    /// The stored checkpoint's version (`None`: nothing stored yet).
    pub version: Option<u64>,
}

/// The store key under which an integration's Salesforce delete-log watermark is kept.
pub fn deletions_key(integration: &str) -> String {
    format!("{integration}#deletions")
}

/// Times one side's read may restart because its cursor was refused, per poll.
pub const MAX_READ_RESTARTS: u32 = 3;

/// Unlinked records whose links the finish looks up in one call (bounds its memory).
const LINK_LOOKUP_CHUNK: usize = 10_000;

/// Version of the checkpoint state below; a checkpoint of another version is dropped.
const STATE_VERSION: u32 = 1;

/// Runs one whole poll under the integration's run lease (owner: `run_id`), in one go and
/// without a checkpoint: what the one-process cycle runs.
pub async fn poll(
    integration: &Integration,
    run_id: &str,
    advance: WatermarkAdvance,
) -> Result<PollOutcome, PipelineError> {
    under_run_lease(integration, run_id, async {
        let facts = integration.prepare().await?;
        let state = PollState::fresh(integration).await?;
        let mut poll = Poll::new(integration, run_id, facts, state, usize::MAX);
        let finished = loop {
            if let Some(finished) = poll.step().await? {
                break finished;
            }
        };
        if advance == WatermarkAdvance::AfterEnqueue {
            finished.store_watermarks(integration).await?;
        }
        Ok(poll.outcome(finished))
    })
    .await
}

/// Runs one invocation's share of a poll under the run lease (owner: `run_id`): continues the
/// stored checkpoint (or starts a poll), takes steps while `budget` allows, then either
/// finishes (enqueues the rest, clears the checkpoint, stores the watermarks) or saves the
/// progress for the next invocation. An error after some steps saves them first (when the
/// queue still takes their batches), so a transient failure late in a long scan loses little.
///
/// `Err(RunInProgress)`: another run holds the lease, or took this poll over (its save or
/// clear won): nothing of this run's progress was saved, no watermark moved.
pub async fn poll_resumable(
    integration: &Integration,
    run_id: &str,
    budget: &PollBudget,
) -> Result<PollProgress, PipelineError> {
    under_run_lease(integration, run_id, resume(integration, run_id, budget)).await
}

async fn under_run_lease<T>(
    integration: &Integration,
    run_id: &str,
    work: impl Future<Output = Result<T, PipelineError>>,
) -> Result<T, PipelineError> {
    let store = &integration.store;
    let lease_key = format!("run#{}", integration.name);
    let now = integration.clock.now();
    if !store
        .acquire_lease(&lease_key, run_id, now, integration.settings.lease_ttl)
        .await?
    {
        return Err(PipelineError::RunInProgress(integration.name.clone()));
    }
    let result = work.await;
    store
        .release_lease(&lease_key, run_id, integration.clock.now())
        .await?;
    result
}

async fn resume(
    integration: &Integration,
    run_id: &str,
    budget: &PollBudget,
) -> Result<PollProgress, PipelineError> {
    let store = &integration.store;
    let name = &integration.name;
    let (poll_id, mut version, loaded) = match store.load_poll_checkpoint(name).await? {
        Some(checkpoint) => match PollState::from_checkpoint(&checkpoint) {
            Some(state) => (checkpoint.poll_id, Some(checkpoint.version), Some(state)),
            None => {
                tracing::warn!(poll_id = %checkpoint.poll_id, "poll checkpoint of another format dropped; the poll starts over");
                if !store
                    .clear_poll_checkpoint(name, &checkpoint.poll_id, checkpoint.version)
                    .await?
                {
                    return Err(PipelineError::RunInProgress(name.clone()));
                }
                (run_id.to_string(), None, None)
            }
        },
        None => (run_id.to_string(), None, None),
    };
    if !budget.allows(0) {
        let (stats, batches) = loaded.map(|s| (s.stats, s.batches)).unwrap_or_default();
        return Ok(PollProgress::Continued(PollContinued {
            poll_id,
            steps: 0,
            stats,
            batches,
            version,
        }));
    }
    let facts = integration.prepare().await?;
    let state = match loaded {
        Some(state) => state,
        None => PollState::fresh(integration).await?,
    };
    let limit = integration.settings.poll_unlinked_limit;
    let mut poll = Poll::new(integration, run_id, facts, state, limit);
    let mut steps = 0;
    let mut last_save = Instant::now();
    loop {
        if !budget.allows(steps) {
            if steps > 0 {
                version = Some(poll.save(&poll_id, version).await?);
            }
            return Ok(PollProgress::Continued(
                poll.continued(poll_id, steps, version),
            ));
        }
        match poll.step().await {
            Ok(None) => {
                steps += 1;
                if last_save.elapsed() >= budget.save_every {
                    version = Some(poll.save(&poll_id, version).await?);
                    last_save = Instant::now();
                }
            }
            Ok(Some(finished)) => {
                if let Some(v) = version
                    && !store.clear_poll_checkpoint(name, &poll_id, v).await?
                {
                    tracing::warn!(%poll_id, "another run took this poll over; watermarks left to it");
                    return Err(PipelineError::RunInProgress(name.clone()));
                }
                finished.store_watermarks(integration).await?;
                return Ok(PollProgress::Finished(poll.outcome(finished)));
            }
            Err(error) => {
                if steps > 0
                    && let Err(unsaved) = poll.save(&poll_id, version).await
                {
                    tracing::warn!(%poll_id, error = %unsaved, "progress since the last checkpoint not saved");
                }
                return Err(error);
            }
        }
    }
}

/// The phase a poll is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Phase {
    Salesforce,
    Genesys,
    Finish,
}

/// Where one side's read stands.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct SideScan {
    /// Changes are the records after this (the stored watermark, less the overlap window).
    since: Option<Watermark>,
    /// The next page; `None` before the first page and after the last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cursor: Option<String>,
    /// The newest change read.
    newest: Option<Watermark>,
    /// When the read started (our clock); the watermark stays `watermark_skew` before it.
    started_at: Option<DateTime<Utc>>,
    /// Records read by the current pass (a restart starts it again).
    scanned: u64,
    restarts: u32,
    /// The oldest change left to the next poll: the watermark stays before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    deferred: Option<Watermark>,
    /// Whether a change read had a stamp finer than a whole second: then the system stamps
    /// finer than seconds, and the watermark needs to stay only a millisecond before the
    /// read's start, not before its whole second.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    sub_second: bool,
}

impl SideScan {
    fn seen(&mut self, change: &Watermark) {
        self.sub_second |= change.stamp.nanosecond() != 0;
        match &mut self.newest {
            Some(newest) => newest.absorb(change.stamp, &change.last_id),
            None => self.newest = Some(change.clone()),
        }
    }

    fn defer(&mut self, change: &Watermark) {
        if self.deferred.as_ref().is_none_or(|d| change < d) {
            self.deferred = Some(change.clone());
        }
    }

    /// The watermark this read may store: the newest change, held back to before the read's
    /// start (less `skew`), and to before the oldest change left to the next poll. (A limit is
    /// a stamp a millisecond earlier with no ids: the change query reads `SystemModstamp >`
    /// such a watermark, so a record stamped at the limit itself is read.) When every stamp
    /// read was a whole second, the system may stamp whole seconds (`docs/assumptions.md`):
    /// a record written later in the second the read started in would keep a stamp before
    /// the read's start, so the watermark stays before that whole second.
    /// At the stamp it started from, the read keeps the ids it started with: those records
    /// were not read again (they were not changes), yet they stay read.
    fn reached(&self, skew: Duration) -> Option<Watermark> {
        let mut reached = self.newest.clone()?;
        let start_limit = |at: DateTime<Utc>| {
            if self.sub_second {
                at - skew
            } else {
                whole_second(at - skew)
            }
        };
        // With whole-second stamps the newest second itself is read again by the next poll: a
        // record written again in that second keeps the stamp it was read with (whatever the
        // two clocks say), so only a read of the whole second can see that write.
        let newest_second = (!self.sub_second).then(|| whole_second(reached.stamp));
        let limits = [
            self.started_at.map(start_limit),
            self.deferred.as_ref().map(|d| d.stamp),
            newest_second,
        ];
        for stamp in limits.into_iter().flatten() {
            let limit = Watermark::position(stamp - Duration::milliseconds(1), "");
            if limit < reached {
                reached = limit;
            }
        }
        if let Some(since) = &self.since {
            reached.keep_ids_of(since);
        }
        Some(reached)
    }
}

/// A match key, strongest last (so `Ord` ranks them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Key {
    Phone,
    Email,
    Link,
}

impl From<MatchKey> for Key {
    fn from(key: MatchKey) -> Key {
        match key {
            MatchKey::Link => Key::Link,
            MatchKey::Email => Key::Email,
            MatchKey::Phone => Key::Phone,
        }
    }
}

impl From<Key> for MatchKey {
    fn from(key: Key) -> MatchKey {
        match key {
            Key::Link => MatchKey::Link,
            Key::Email => MatchKey::Email,
            Key::Phone => MatchKey::Phone,
        }
    }
}

/// The other side's records found for one unlinked record so far: those of the strongest key
/// that found any. Adding the outcomes of disjoint parts of an index gives the outcome of the
/// whole index.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Tally {
    #[serde(rename = "k", default, skip_serializing_if = "Option::is_none")]
    key: Option<Key>,
    /// Sorted, without repeats (a set, but a matching run holds one a record: a vector of one
    /// id costs a tenth of a one-element `BTreeSet`, and is written the same way).
    #[serde(rename = "i", default, skip_serializing_if = "Vec::is_empty")]
    ids: Vec<String>,
}

impl Tally {
    fn add(&mut self, outcome: &MatchOutcome) {
        let (key, ids) = match outcome {
            MatchOutcome::NoMatch => return,
            MatchOutcome::Matched { other_id, by } => {
                (Key::from(*by), std::slice::from_ref(other_id))
            }
            MatchOutcome::Ambiguous { candidates, by } => (Key::from(*by), candidates.as_slice()),
        };
        if self.key.is_none_or(|held| key > held) {
            self.key = Some(key);
            self.ids.clear();
        }
        if self.key == Some(key) {
            self.ids.extend(ids.iter().cloned());
            self.ids.sort_unstable();
            self.ids.dedup();
        }
    }

    fn outcome(&self) -> MatchOutcome {
        let (Some(key), Some(first)) = (self.key, self.ids.first()) else {
            return MatchOutcome::NoMatch;
        };
        let by = MatchKey::from(key);
        if self.ids.len() == 1 {
            MatchOutcome::Matched {
                other_id: first.clone(),
                by,
            }
        } else {
            MatchOutcome::Ambiguous {
                candidates: self.ids.clone(),
                by,
            }
        }
    }
}

/// The ids an outcome names.
fn named(outcome: &MatchOutcome) -> &[String] {
    match outcome {
        MatchOutcome::NoMatch => &[],
        MatchOutcome::Matched { other_id, .. } => std::slice::from_ref(other_id),
        MatchOutcome::Ambiguous { candidates, .. } => candidates,
    }
}

/// A poll's progress: what a checkpoint holds (ids, cursors, counts).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct PollState {
    v: u32,
    phase: Phase,
    salesforce: SideScan,
    genesys: SideScan,
    /// Unlinked Salesforce changes → the Genesys records matched so far.
    candidates: BTreeMap<String, Tally>,
    /// Unlinked Genesys changes → the Salesforce records they matched.
    unlinked_genesys: BTreeMap<String, Tally>,
    stats: SyncStats,
    batches: usize,
}

impl PollState {
    /// A new poll: each side read from its stored watermark, less the overlap window.
    async fn fresh(integration: &Integration) -> Result<PollState, PipelineError> {
        let overlap = integration.settings.overlap;
        let mut scans = Vec::with_capacity(2);
        for side in [Side::Salesforce, Side::Genesys] {
            let stored = integration.store.watermark(&integration.name, side).await?;
            // Read from a little before the watermark (late commits): re-reading is harmless,
            // the merge makes it a no-op.
            let since = stored.map(|wm| {
                if overlap.is_zero() {
                    wm
                } else {
                    Watermark::position(wm.stamp - overlap, "")
                }
            });
            scans.push(SideScan {
                since,
                ..SideScan::default()
            });
        }
        let genesys = scans.pop().unwrap_or_default();
        let salesforce = scans.pop().unwrap_or_default();
        Ok(PollState {
            v: STATE_VERSION,
            phase: Phase::Salesforce,
            salesforce,
            genesys,
            candidates: BTreeMap::new(),
            unlinked_genesys: BTreeMap::new(),
            stats: SyncStats::default(),
            batches: 0,
        })
    }

    /// The state a checkpoint holds; `None` when it is not one this build writes.
    fn from_checkpoint(checkpoint: &PollCheckpoint) -> Option<PollState> {
        serde_json::from_value::<PollState>(checkpoint.state.clone())
            .ok()
            .filter(|state| state.v == STATE_VERSION)
    }

    fn scan(&mut self, side: Side) -> &mut SideScan {
        match side {
            Side::Salesforce => &mut self.salesforce,
            Side::Genesys => &mut self.genesys,
        }
    }
}

/// What the finish step reached.
struct Finished {
    watermarks: Vec<(Side, Watermark)>,
    deletions_watermark: Option<Watermark>,
}

impl Finished {
    async fn store_watermarks(&self, integration: &Integration) -> Result<(), PipelineError> {
        advance_watermarks(integration, &self.watermarks).await?;
        advance_deletions_watermark(integration, self.deletions_watermark.as_ref()).await
    }
}

/// One changed Genesys record of a page.
struct GenesysChange {
    candidate: Candidate,
    mark: Watermark,
    merged_from: Vec<String>,
}

/// A poll being run by this invocation.
struct Poll<'a> {
    integration: &'a Integration,
    run_id: &'a str,
    link_source_id: String,
    state: PollState,
    /// Linked pairs read and not enqueued yet, by pair id.
    linked: BTreeMap<String, PairRef>,
    /// Match keys of candidates read (or fetched again) by this invocation, indexed: what
    /// every Genesys page is matched against. Compact (one allocation a candidate), since an
    /// initial sync holds every record of the org here.
    keys: CandidateIndex,
    /// Whether this invocation's first Genesys step made `keys` hold exactly the candidates.
    matcher_ready: bool,
    /// Unlinked records per side carried to the finish.
    unlinked_limit: usize,
}

impl<'a> Poll<'a> {
    fn new(
        integration: &'a Integration,
        run_id: &'a str,
        facts: RunFacts,
        state: PollState,
        unlinked_limit: usize,
    ) -> Poll<'a> {
        Poll {
            integration,
            run_id,
            link_source_id: facts.link_source_id,
            state,
            linked: BTreeMap::new(),
            keys: CandidateIndex::new(Side::Salesforce),
            matcher_ready: false,
            unlinked_limit,
        }
    }

    /// Takes the next step; `Some` once the poll is finished. A failed step changes nothing
    /// in the state (every call that can fail comes before the state is touched).
    async fn step(&mut self) -> Result<Option<Finished>, PipelineError> {
        match self.state.phase {
            Phase::Salesforce => self.salesforce_step().await.map(|()| None),
            Phase::Genesys => self.genesys_step().await.map(|()| None),
            Phase::Finish => self.finish().await.map(Some),
        }
    }

    /// The next page of `side`'s read and when the read started; `None` when the system
    /// refused the read's cursor and the read starts over.
    async fn read_page(
        &mut self,
        side: Side,
    ) -> Result<Option<(ChangePage, DateTime<Utc>)>, PipelineError> {
        let integration = self.integration;
        let now = integration.clock.now();
        let reader: &dyn ContactReader = match side {
            Side::Salesforce => &*integration.salesforce,
            Side::Genesys => &*integration.genesys,
        };
        let scan = self.state.scan(side);
        match reader
            .read_changes(scan.since.as_ref(), scan.cursor.clone())
            .await
        {
            Ok(page) => Ok(Some((page, scan.started_at.unwrap_or(now)))),
            Err(error)
                if scan.cursor.is_some()
                    && cursor_refused(&error)
                    && scan.restarts < MAX_READ_RESTARTS =>
            {
                tracing::warn!(%side, restarts = scan.restarts + 1, %error, "the read's cursor was refused; reading again from the start");
                self.restart(side);
                Ok(None)
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Starts `side`'s read over. A Genesys restart forgets the matches found (records may
    /// have changed since); the Salesforce candidates are kept (ids).
    fn restart(&mut self, side: Side) {
        let scan = self.state.scan(side);
        scan.cursor = None;
        scan.scanned = 0;
        scan.restarts += 1;
        if side == Side::Genesys {
            scan.deferred = None;
            for tally in self.state.candidates.values_mut() {
                *tally = Tally::default();
            }
            self.state.unlinked_genesys.clear();
        }
    }

    async fn salesforce_step(&mut self) -> Result<(), PipelineError> {
        let Some((page, started_at)) = self.read_page(Side::Salesforce).await? else {
            return Ok(());
        };
        let integration = self.integration;
        let since = self.state.salesforce.since.clone();
        let read = page.records.len() as u64;
        let mut changes: Vec<(Candidate, Watermark)> = Vec::new();
        for raw in &page.records {
            let record = integration
                .mapping
                .salesforce_record(&raw.id, raw.modified_at, &raw.body);
            if is_salesforce_change(since.as_ref(), &record) {
                changes.push((Candidate::from(&record), mark(&record)));
            }
        }
        let ids: Vec<String> = changes.iter().map(|(c, _)| c.id.clone()).collect();
        let links = integration.store.links(Side::Salesforce, &ids).await?;

        let state = &mut self.state;
        state.stats.read.add(Side::Salesforce, read);
        state
            .stats
            .changed
            .add(Side::Salesforce, changes.len() as u64);
        let scan = &mut state.salesforce;
        scan.started_at = Some(started_at);
        scan.scanned += read;
        for (candidate, mark) in changes {
            scan.seen(&mark);
            if let Some(pair_id) = links.get(&candidate.id) {
                add_linked(&mut self.linked, pair_id, Side::Salesforce, &candidate.id);
            } else if state.candidates.contains_key(&candidate.id)
                || state.candidates.len() < self.unlinked_limit
            {
                state.candidates.entry(candidate.id.clone()).or_default();
                self.keys.insert(&candidate);
            } else {
                scan.defer(&mark);
            }
        }
        scan.cursor = page.next;
        if scan.cursor.is_none() {
            state.phase = Phase::Genesys;
        }
        Ok(())
    }

    /// Readies the candidates' keys once per invocation: candidates linked meanwhile become
    /// linked pairs, match keys missing (a resumed poll) are fetched again by id, candidates
    /// deleted meanwhile are dropped.
    async fn ensure_matcher(&mut self) -> Result<(), PipelineError> {
        if self.matcher_ready {
            return Ok(());
        }
        let integration = self.integration;
        let ids: Vec<String> = self.state.candidates.keys().cloned().collect();
        let links = integration.store.links(Side::Salesforce, &ids).await?;
        let missing: Vec<String> = ids
            .iter()
            .filter(|id| !links.contains_key(*id) && !self.keys.contains(id))
            .cloned()
            .collect();
        let fetched = if missing.is_empty() {
            Vec::new()
        } else {
            integration.salesforce.fetch(&missing).await?
        };

        for raw in fetched {
            let record = integration
                .mapping
                .salesforce_record(&raw.id, raw.modified_at, &raw.body);
            self.keys.insert(&Candidate::from(&record));
        }
        for (sf_id, pair_id) in &links {
            self.state.candidates.remove(sf_id);
            self.keys.remove(sf_id);
            add_linked(&mut self.linked, pair_id, Side::Salesforce, sf_id);
        }
        let keys = &self.keys;
        let before = self.state.candidates.len();
        self.state.candidates.retain(|id, _| keys.contains(id));
        let gone = before - self.state.candidates.len();
        if !missing.is_empty() || gone > 0 {
            tracing::debug!(
                fetched = missing.len() - gone,
                gone,
                "candidates fetched again to go on matching"
            );
        }
        // Keys of records no longer candidates (read again after a Salesforce restart, or
        // left by an earlier step) are not matched.
        if self.keys.len() > self.state.candidates.len() {
            let mut kept = CandidateIndex::new(Side::Salesforce);
            for id in self.state.candidates.keys() {
                if let Some(candidate) = self.keys.candidate(id) {
                    kept.insert(&candidate);
                }
            }
            self.keys = kept;
        }
        self.matcher_ready = true;
        Ok(())
    }

    async fn genesys_step(&mut self) -> Result<(), PipelineError> {
        self.ensure_matcher().await?;
        let Some((page, started_at)) = self.read_page(Side::Genesys).await? else {
            return Ok(());
        };
        let integration = self.integration;
        let since = self.state.genesys.since.clone();
        let read = page.records.len() as u64;
        let mut page_index = CandidateIndex::new(Side::Genesys);
        let mut changes: Vec<GenesysChange> = Vec::new();
        // The candidates sharing a key with a record of the page: only those can match it.
        let mut reached: BTreeSet<String> = BTreeSet::new();
        for raw in page.records {
            let record = integration.mapping.genesys_record(
                &raw.id,
                raw.modified_at,
                raw.body,
                Some(&self.link_source_id),
            );
            let candidate = Candidate::from(&record);
            page_index.insert(&candidate);
            reached.append(&mut self.keys.reachable(&candidate));
            if is_change(since.as_ref(), &record) {
                changes.push(GenesysChange {
                    mark: mark(&record),
                    merged_from: record.merged_from.clone(),
                    candidate,
                });
            }
        }
        if !self.matcher_ready {
            return Err(PipelineError::Invariant(
                "Genesys step without a candidate matcher".into(),
            ));
        }
        let matcher = &self.keys;

        // Every candidate against this page (any other one finds no match in it).
        let mut found: Vec<(String, MatchOutcome)> = Vec::new();
        let mut touched: BTreeSet<&str> = BTreeSet::new();
        for candidate in reached.iter().filter_map(|id| matcher.candidate(id)) {
            let outcome = page_index.match_one(&candidate);
            if outcome != MatchOutcome::NoMatch {
                found.push((candidate.id, outcome));
            }
        }
        for (_, outcome) in &found {
            touched.extend(named(outcome).iter().map(String::as_str));
        }

        // The page's changes: linked, survivors of merges of linked contacts, unlinked.
        let store = &integration.store;
        let ids: Vec<String> = changes.iter().map(|c| c.candidate.id.clone()).collect();
        let links = store.links(Side::Genesys, &ids).await?;
        let adopted = adopted_creates(integration, &changes, &links).await?;
        let losers: Vec<String> = changes
            .iter()
            .flat_map(|c| c.merged_from.iter().cloned())
            .collect();
        let loser_links = if losers.is_empty() {
            HashMap::new()
        } else {
            store.links(Side::Genesys, &losers).await?
        };
        let mut merged: Vec<(&String, &String)> = Vec::new();
        let mut survivors: BTreeSet<&str> = BTreeSet::new();
        for change in &changes {
            for loser in &change.merged_from {
                if let Some(pair_id) = loser_links.get(loser) {
                    // Not a new contact: the merged contacts' pairs follow it (their fetch
                    // shows `mergedTo`).
                    survivors.insert(&change.candidate.id);
                    merged.push((pair_id, loser));
                }
            }
        }
        let salesforce_complete = self.state.salesforce.deferred.is_none();
        let mut room = self
            .unlinked_limit
            .saturating_sub(self.state.unlinked_genesys.len());
        let mut kept: Vec<&Candidate> = Vec::new();
        let mut deferred: Vec<&Watermark> = Vec::new();
        for change in &changes {
            let id = change.candidate.id.as_str();
            if links.contains_key(id) || survivors.contains(id) || adopted.contains_key(id) {
                continue;
            }
            if touched.contains(id) || self.state.unlinked_genesys.contains_key(id) {
                kept.push(&change.candidate);
            } else if salesforce_complete && room > 0 {
                room -= 1;
                kept.push(&change.candidate);
            } else {
                deferred.push(&change.mark);
            }
        }
        let mut emails: Vec<String> = kept
            .iter()
            .filter(|g| g.link.is_none())
            .flat_map(|g| g.emails.iter())
            .filter(|e| !matcher.has_email(e))
            .cloned()
            .collect();
        emails.sort();
        emails.dedup();
        let looked_up = salesforce_by_emails(integration, &emails).await?;
        let outcomes: Vec<(String, Tally)> = kept
            .iter()
            .map(|g| {
                let mut tally = Tally::default();
                tally.add(&matcher.match_one(g));
                tally.add(&looked_up.match_one(g));
                (g.id.clone(), tally)
            })
            .collect();

        let state = &mut self.state;
        state.stats.read.add(Side::Genesys, read);
        state.stats.changed.add(Side::Genesys, changes.len() as u64);
        for (sf_id, outcome) in &found {
            if let Some(tally) = state.candidates.get_mut(sf_id) {
                tally.add(outcome);
            }
        }
        state.unlinked_genesys.extend(outcomes);
        let scan = &mut state.genesys;
        scan.started_at = Some(started_at);
        scan.scanned += read;
        for change in &changes {
            scan.seen(&change.mark);
        }
        for mark in deferred {
            scan.defer(mark);
        }
        for change in &changes {
            if let Some(pair_id) = links.get(&change.candidate.id) {
                add_linked(
                    &mut self.linked,
                    pair_id,
                    Side::Genesys,
                    &change.candidate.id,
                );
            }
        }
        for (gz_id, pair_id) in &adopted {
            add_linked(&mut self.linked, pair_id, Side::Genesys, gz_id);
        }
        for (pair_id, loser) in merged {
            add_linked(&mut self.linked, pair_id, Side::Genesys, loser);
        }
        scan.cursor = page.next;
        if scan.cursor.is_none() {
            state.phase = Phase::Finish;
        }
        Ok(())
    }

    /// The last step: deletes, every unlinked record's outcome, pending pairs; enqueues it all
    /// and says which watermarks were reached (storing them is the caller's).
    async fn finish(&mut self) -> Result<Finished, PipelineError> {
        let integration = self.integration;
        let run_id = self.run_id;
        let store = &integration.store;
        // The candidates' keys are not needed any more: their outcomes are in the state.
        self.keys = CandidateIndex::new(Side::Salesforce);
        self.matcher_ready = false;
        let mut resolver = Resolver::default();
        // Each unlinked record proposes at most one new pair.
        resolver
            .new_pairs
            .reserve_exact(self.state.candidates.len() + self.state.unlinked_genesys.len());
        let mut review: Vec<ConflictRecord> = Vec::new();

        // Salesforce deletes and merges of linked records (held back when they are too many).
        // The survivor of a merge is not a new record: its pair is the merged record's.
        let deletions = read_deletions(
            integration,
            run_id,
            self.state.genesys.scanned,
            &mut resolver,
            &mut review,
        )
        .await?;

        let mut per_side = Vec::with_capacity(2);
        for (side, unlinked) in [
            (Side::Salesforce, &self.state.candidates),
            (Side::Genesys, &self.state.unlinked_genesys),
        ] {
            let ids: Vec<&String> = unlinked
                .keys()
                .filter(|id| side == Side::Genesys || !deletions.survivors.contains(*id))
                .collect();
            // Only records that matched wait for the claims to be settled; the others (all of
            // an initial sync) become new pairs at once.
            let mut outcomes: BTreeMap<String, MatchOutcome> = BTreeMap::new();
            for chunk in ids.chunks(LINK_LOOKUP_CHUNK) {
                let chunk: Vec<String> = chunk.iter().map(|id| (*id).clone()).collect();
                // Linked since they were read (by an earlier poll's batches): no longer new.
                let links = store.links(side, &chunk).await?;
                for id in chunk {
                    match links.get(&id) {
                        Some(pair_id) => resolver.add(reference(Some(pair_id), side, &id)),
                        None => match unlinked.get(&id).map(Tally::outcome) {
                            None | Some(MatchOutcome::NoMatch) => {
                                resolver.add(reference(None, side, &id));
                            }
                            Some(outcome) => {
                                outcomes.insert(id, outcome);
                            }
                        },
                    }
                }
            }
            per_side.push((side, outcomes));
        }
        for (side, mut outcomes) in per_side {
            settle_claims(&mut outcomes);
            for (id, outcome) in outcomes {
                match outcome {
                    MatchOutcome::Matched { other_id, .. } => {
                        let mut proposal = reference(None, side, &id);
                        match side {
                            Side::Salesforce => proposal.gz_id = Some(other_id),
                            Side::Genesys => proposal.sf_id = Some(other_id),
                        }
                        resolver.add(proposal);
                    }
                    MatchOutcome::NoMatch => resolver.add(reference(None, side, &id)),
                    MatchOutcome::Ambiguous { candidates, .. } => {
                        review.push(ambiguous(integration, run_id, side, &id, candidates));
                    }
                }
            }
        }
        for linked in self.linked.values() {
            resolver.add(linked.clone());
        }
        // Pairs that failed before are retried.
        for pair in store
            .pending_pairs(integration.settings.pending_retry_limit)
            .await?
        {
            resolver.add(PairRef::to_pair(pair.pair_id));
        }

        let (refs, contested) = resolver.finish();
        for (side, id, others) in contested {
            review.push(ambiguous(integration, run_id, side, &id, others));
        }
        // Counted when opened: a record read again (the watermark's safety window, a redone
        // finish) finds its item already there and is not counted twice.
        let mut opened = 0;
        let mut seen = std::collections::HashSet::new();
        for item in &review {
            if seen.insert(item.id.as_str()) && store.conflict(&item.id).await?.is_none() {
                opened += 1;
            }
        }
        store.record_conflicts(&review).await?;
        self.send(refs).await?;
        self.linked.clear();
        self.state.stats.review += opened;

        let skew = integration.settings.watermark_skew;
        let watermarks: Vec<(Side, Watermark)> = [
            (Side::Salesforce, self.state.salesforce.reached(skew)),
            (Side::Genesys, self.state.genesys.reached(skew)),
        ]
        .into_iter()
        .filter_map(|(side, wm)| wm.map(|wm| (side, wm)))
        .collect();
        let stats = &self.state.stats;
        tracing::info!(
            run_id,
            sf_changed = stats.changed.salesforce,
            gz_changed = stats.changed.genesys,
            gz_scanned = self.state.genesys.scanned,
            pairs = stats.pairs_enqueued,
            batches = self.state.batches,
            review = stats.review,
            "poll finished"
        );
        Ok(Finished {
            watermarks,
            deletions_watermark: deletions.watermark,
        })
    }

    /// Enqueues pair references in batches, ten batches a call (the queue adapter's natural
    /// batch); a failure leaves the watermarks behind.
    async fn send(&mut self, refs: Vec<PairRef>) -> Result<(), PipelineError> {
        let integration = self.integration;
        let size = integration.settings.batch_size.max(1);
        // Moved, not copied, into the batches: an initial sync sends every record of an org.
        let mut refs = refs.into_iter();
        loop {
            let group: Vec<ReconcileBatch> = (0..10)
                .map_while(|_| {
                    let pairs: Vec<PairRef> = refs.by_ref().take(size).collect();
                    (!pairs.is_empty()).then(|| ReconcileBatch {
                        v: MESSAGE_VERSION,
                        integration: integration.name.clone(),
                        run_id: self.run_id.to_string(),
                        pairs,
                    })
                })
                .collect();
            if group.is_empty() {
                return Ok(());
            }
            let (batches, pairs) = (
                group.len(),
                group.iter().map(|b| b.pairs.len() as u64).sum::<u64>(),
            );
            integration.queue.send_batches(group).await?;
            self.state.batches += batches;
            self.state.stats.pairs_enqueued += pairs;
        }
    }

    /// Enqueues the linked pairs read so far, then saves the progress (compare-and-set on
    /// `expected`); the new version.
    async fn save(&mut self, poll_id: &str, expected: Option<u64>) -> Result<u64, PipelineError> {
        let linked: Vec<PairRef> = self.linked.values().cloned().collect();
        self.send(linked).await?;
        self.linked.clear();
        let integration = self.integration;
        let state = serde_json::to_value(&self.state)
            .map_err(|e| PipelineError::Invariant(format!("poll state does not encode: {e}")))?;
        let checkpoint = PollCheckpoint {
            integration: integration.name.clone(),
            poll_id: poll_id.to_string(),
            version: 0,
            saved_at: integration.clock.now(),
            state,
        };
        match integration
            .store
            .save_poll_checkpoint(&checkpoint, expected)
            .await?
        {
            CheckpointWrite::Saved { version } => {
                tracing::info!(
                    poll_id,
                    version,
                    phase = ?self.state.phase,
                    candidates = self.state.candidates.len(),
                    unlinked_genesys = self.state.unlinked_genesys.len(),
                    gz_scanned = self.state.genesys.scanned,
                    "poll checkpoint saved"
                );
                Ok(version)
            }
            CheckpointWrite::Superseded => {
                tracing::warn!(poll_id, "another run took this poll over; this run stops");
                Err(PipelineError::RunInProgress(integration.name.clone()))
            }
        }
    }

    fn continued(&self, poll_id: String, steps: usize, version: Option<u64>) -> PollContinued {
        PollContinued {
            poll_id,
            steps,
            stats: self.state.stats.clone(),
            batches: self.state.batches,
            version,
        }
    }

    fn outcome(&self, finished: Finished) -> PollOutcome {
        PollOutcome {
            stats: self.state.stats.clone(),
            batches: self.state.batches,
            watermarks: finished.watermarks,
            deletions_watermark: finished.deletions_watermark,
        }
    }
}

/// Whether a read failure means the system no longer takes the cursor (expired, unknown,
/// malformed) rather than that it is unavailable.
fn cursor_refused(error: &SystemError) -> bool {
    matches!(
        error,
        SystemError::Rejected { .. } | SystemError::Protocol { .. } | SystemError::Config { .. }
    )
}

fn is_change(since: Option<&Watermark>, record: &SideRecord) -> bool {
    since.is_none_or(|wm| wm.is_before(record.modified_at, &record.id))
}

/// A Salesforce record is a change when it is after `since`'s stamp, or at that stamp and not
/// the watermark's own record. Salesforce filtered the read by `(SystemModstamp, Id)` in its
/// own `Id` order, which Salesforce does not document (18-character ids are case-safe, so a
/// case-insensitive order is as plausible as a byte order); many records share a millisecond,
/// so a byte-order filter here could drop a record Salesforce returned as later. Reading a
/// record of the watermark's millisecond again costs a reconcile that writes nothing.
/// With the ids read at the watermark's stamp, those are the records that are no change.
fn is_salesforce_change(since: Option<&Watermark>, record: &SideRecord) -> bool {
    since.is_none_or(|wm| {
        if wm.reads_its_stamp() {
            return wm.is_before(record.modified_at, &record.id);
        }
        record.modified_at > wm.stamp || (record.modified_at == wm.stamp && record.id != wm.last_id)
    })
}

fn mark(record: &SideRecord) -> Watermark {
    Watermark::of_record(record.modified_at, &record.id)
}

/// The start of the whole second `at` falls in.
fn whole_second(at: DateTime<Utc>) -> DateTime<Utc> {
    at.with_nanosecond(0).unwrap_or(at)
}

/// A reference to a record of `side`, with its pair when linked.
fn reference(pair_id: Option<&String>, side: Side, id: &str) -> PairRef {
    let mut r = PairRef {
        pair_id: pair_id.cloned(),
        ..PairRef::default()
    };
    match side {
        Side::Salesforce => r.sf_id = Some(id.to_string()),
        Side::Genesys => r.gz_id = Some(id.to_string()),
    }
    r
}

/// Genesys contacts of a page that no pair holds but that carry the link to a Salesforce
/// record whose pair has no Genesys record yet: created for that pair by a run that died (or
/// lost the answer) before it could store the pair, so the pair adopts them (contact id →
/// pair id) rather than create its record a second time.
async fn adopted_creates(
    integration: &Integration,
    changes: &[GenesysChange],
    links: &HashMap<String, String>,
) -> Result<HashMap<String, String>, PipelineError> {
    let orphans: Vec<(&String, &String)> = changes
        .iter()
        .filter(|c| !links.contains_key(&c.candidate.id))
        .filter_map(|c| Some((&c.candidate.id, c.candidate.link.as_ref()?)))
        .collect();
    if orphans.is_empty() {
        return Ok(HashMap::new());
    }
    let store = &integration.store;
    let sf_ids: Vec<String> = orphans.iter().map(|(_, sf)| (*sf).clone()).collect();
    let by_sf = store.links(Side::Salesforce, &sf_ids).await?;
    let pair_ids: Vec<String> = by_sf
        .values()
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let without_genesys: BTreeSet<String> = store
        .pairs(&pair_ids)
        .await?
        .into_iter()
        .filter(|p| p.gz_id.is_none() && p.status != crate::store::PairStatus::Unlinked)
        .map(|p| p.pair_id)
        .collect();
    let mut adopted = HashMap::new();
    for (gz_id, sf_id) in orphans {
        if let Some(pair_id) = by_sf.get(sf_id).filter(|p| without_genesys.contains(*p)) {
            // One contact per pair: a second one carrying the same link stays unlinked.
            if !adopted.values().any(|p| p == pair_id) {
                tracing::info!(%pair_id, gz_id = %gz_id, "adopting a Genesys contact an unanswered create made");
                adopted.insert(gz_id.clone(), pair_id.clone());
            }
        }
    }
    Ok(adopted)
}

/// Records a linked change, merged with what is known of its pair.
fn add_linked(linked: &mut BTreeMap<String, PairRef>, pair_id: &String, side: Side, id: &str) {
    let r = reference(Some(pair_id), side, id);
    let entry = linked
        .entry(pair_id.clone())
        .or_insert_with(|| PairRef::to_pair(pair_id.clone()));
    entry.sf_id = entry.sf_id.take().or(r.sf_id);
    entry.gz_id = entry.gz_id.take().or(r.gz_id);
}

/// A record that several unlinked records each matched alone is claimed by all of them: every
/// such claim becomes ambiguous (what the engine's `match_batch` does within one batch, here
/// over outcomes gathered page by page).
fn settle_claims(outcomes: &mut BTreeMap<String, MatchOutcome>) {
    let mut claimants: HashMap<String, usize> = HashMap::new();
    for outcome in outcomes.values() {
        if let MatchOutcome::Matched { other_id, .. } = outcome {
            *claimants.entry(other_id.clone()).or_default() += 1;
        }
    }
    for outcome in outcomes.values_mut() {
        if let MatchOutcome::Matched { other_id, by } = outcome
            && claimants.get(other_id.as_str()).is_some_and(|n| *n > 1)
        {
            *outcome = MatchOutcome::Ambiguous {
                candidates: vec![other_id.clone()],
                by: *by,
            };
        }
    }
}

/// Unlinked Salesforce records with these emails, indexed for matching.
async fn salesforce_by_emails(
    integration: &Integration,
    emails: &[String],
) -> Result<CandidateIndex, PipelineError> {
    let mut index = CandidateIndex::new(Side::Salesforce);
    if emails.is_empty() {
        return Ok(index);
    }
    let mut found: BTreeMap<String, Candidate> = BTreeMap::new();
    for raw in integration.salesforce.find_by_emails(emails).await? {
        let record = integration
            .mapping
            .salesforce_record(&raw.id, raw.modified_at, &raw.body);
        found.insert(record.id.clone(), Candidate::from(&record));
    }
    let ids: Vec<String> = found.keys().cloned().collect();
    let linked = integration.store.links(Side::Salesforce, &ids).await?;
    for candidate in found.values() {
        if !linked.contains_key(&candidate.id) {
            index.insert(candidate);
        }
    }
    Ok(index)
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
        let mut item = deletes_held(integration, run_id, deletes as u64, population);
        let held: Vec<&String> = linked.iter().map(|(pair_id, _)| *pair_id).collect();
        item.id = hold_item_id(integration, &item.id, held).await?;
        review.push(item);
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

/// The id under which a hold of deletes is recorded: the integration's one item (`base`) while
/// nobody has settled it; once a person has, a new hold gets an item of its own, named by the
/// pairs it holds (the same held deletes seen again, as each run retries them, are the same
/// item). Without this, a hold after a settled one would land in the closed item, unseen.
pub async fn hold_item_id<'a>(
    integration: &Integration,
    base: &str,
    held_pairs: impl IntoIterator<Item = &'a String>,
) -> Result<String, PipelineError> {
    let settled = integration
        .store
        .conflict(base)
        .await?
        .is_some_and(|c| c.status == crate::store::ConflictStatus::Closed);
    if !settled {
        return Ok(base.to_string());
    }
    let mut held: Vec<&String> = held_pairs.into_iter().collect();
    held.sort();
    // FNV-1a over the sorted pair ids: stable across runs and processes.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for id in held {
        for b in id.as_bytes().iter().chain(std::iter::once(&0xff)) {
            hash ^= u64::from(*b);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    Ok(format!("{base}-{hash:016x}"))
}

/// The open, unsettled hold of deletes, if any: while there is one, a reconcile holds the
/// deletes it finds too (under the same item), so that records the poll reaches by another
/// way (a change on the surviving side) are not deleted behind the hold's back.
pub async fn open_hold(integration: &Integration) -> Result<Option<ConflictRecord>, PipelineError> {
    Ok(integration
        .store
        .conflicts(&integration.name, true)
        .await?
        .into_iter()
        .find(|c| {
            matches!(c.kind, crate::store::ConflictKind::DeletesHeld { .. })
                && c.policy == "delete_breaker"
        }))
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
    /// Proposals of new pairs, in arrival order, sorted and deduplicated by `finish` (a vector
    /// reserved for them holds an initial sync's in half the memory of a `BTreeSet`).
    new_pairs: Vec<PairRef>,
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
                self.new_pairs.push(r);
            }
        }
    }

    /// The references to enqueue, and the records contested by several new pairs.
    fn finish(mut self) -> (Vec<PairRef>, Vec<Contested>) {
        self.new_pairs.sort_unstable();
        self.new_pairs.dedup();
        // A proposal {sf, gz} makes the lone proposals {sf} and {gz} redundant. Every proposal
        // of a matching run is one: the claims are sorted pairs of borrowed ids, not maps.
        let mut by_sf: Vec<(&str, &str)> = self
            .new_pairs
            .iter()
            .filter_map(|r| Some((r.sf_id.as_deref()?, r.gz_id.as_deref()?)))
            .collect();
        by_sf.sort_unstable();
        by_sf.dedup();
        let mut by_gz: Vec<(&str, &str)> = by_sf.iter().map(|(sf, gz)| (*gz, *sf)).collect();
        by_gz.sort_unstable();
        let mut contested_list: Vec<Contested> = contested(Side::Salesforce, &by_sf);
        contested_list.extend(contested(Side::Genesys, &by_gz));
        contested_list.sort();
        let contested_ids: BTreeSet<(Side, &str)> = contested_list
            .iter()
            .map(|(side, id, _)| (*side, id.as_str()))
            .collect();
        let is_contested = |side: Side, id: &Option<String>| {
            id.as_deref()
                .is_some_and(|id| contested_ids.contains(&(side, id)))
        };
        let covered = |claims: &[(&str, &str)], id: &str| {
            claims.binary_search_by(|(own, _)| (*own).cmp(id)).is_ok()
        };
        let keep: Vec<bool> = self
            .new_pairs
            .iter()
            .map(|r| {
                if is_contested(Side::Salesforce, &r.sf_id) || is_contested(Side::Genesys, &r.gz_id)
                {
                    return false;
                }
                match (&r.sf_id, &r.gz_id) {
                    (Some(sf), None) => !covered(&by_sf, sf),
                    (None, Some(gz)) => !covered(&by_gz, gz),
                    _ => true,
                }
            })
            .collect();
        drop((by_sf, by_gz));
        let mut refs: Vec<PairRef> = Vec::with_capacity(self.by_pair.len() + self.new_pairs.len());
        refs.extend(self.by_pair.into_values());
        refs.extend(
            self.new_pairs
                .into_iter()
                .zip(keep)
                .filter_map(|(r, keep)| keep.then_some(r)),
        );
        (refs, contested_list)
    }
}

/// The records of `side` that several proposals claim, with the records claiming them;
/// `claims` is sorted (own id, other id), without repeats.
fn contested(side: Side, claims: &[(&str, &str)]) -> Vec<Contested> {
    claims
        .chunk_by(|a, b| a.0 == b.0)
        .filter(|group| group.len() > 1)
        .map(|group| {
            let others = group.iter().map(|(_, other)| other.to_string()).collect();
            (side, group[0].0.to_string(), others)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// A record's match keys: `link:<sf id>`, emails (with `@`), phones (with `+`).
    fn keys(id: &str, keys: &[&str]) -> Candidate {
        let mut c = Candidate {
            id: id.into(),
            ..Candidate::default()
        };
        for key in keys {
            match key.strip_prefix("link:") {
                Some(sf_id) => c.link = Some(sf_id.into()),
                None if key.contains('@') => c.emails.push(key.to_string()),
                None => c.phones.push(key.to_string()),
            }
        }
        c
    }

    fn at(minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 24, 12, minute, 0)
            .single()
            .expect("valid time")
    }

    fn mark(minute: u32, id: &str) -> Watermark {
        Watermark::position(at(minute), id)
    }

    fn salesforce_record(minute: u32, id: &str) -> SideRecord {
        SideRecord {
            side: Side::Salesforce,
            id: id.into(),
            modified_at: at(minute),
            fields: Default::default(),
            unmapped: Vec::new(),
            merged_into: None,
            merged_from: Vec::new(),
            link: None,
            match_emails: Vec::new(),
            match_phones: Vec::new(),
            raw: serde_json::Value::Null,
        }
    }

    #[test]
    fn a_salesforce_record_in_the_watermarks_millisecond_is_a_change_whatever_its_id_order() {
        // GIVEN a watermark at a record whose id sorts after another's case-insensitively but
        // before it byte-wise ('a' > 'B' in bytes, 'a' < 'b' ignoring case)
        let since = mark(7, "003SM000000000aAAA");
        // WHEN Salesforce returns records of that millisecond and around it
        let same_stamp_other_id = salesforce_record(7, "003SM000000000BAAA");
        let itself = salesforce_record(7, "003SM000000000aAAA");
        let later = salesforce_record(8, "003SM0000000001AAA");
        let earlier = salesforce_record(6, "003SM000000000zAAA");
        // THEN a record of the same millisecond is kept (Salesforce's own order decided that it
        // is after the watermark), the watermark's own record and older ones are not
        assert!(is_salesforce_change(Some(&since), &same_stamp_other_id));
        assert!(!is_salesforce_change(Some(&since), &itself));
        assert!(is_salesforce_change(Some(&since), &later));
        assert!(!is_salesforce_change(Some(&since), &earlier));
        assert!(is_salesforce_change(None, &earlier));
    }

    #[test]
    fn matching_page_by_page_gives_the_answer_of_the_whole_index() {
        // GIVEN Genesys contacts spread over three pages: a link to SF1 on the last page, email
        // twins of SF2 on two pages, a phone match of SF3, one contact linked to another record
        let pages = [
            vec![
                keys("g1", &["one@example.com"]),
                keys("g2", &["two@example.com", "+14155550100"]),
            ],
            vec![
                keys("g3", &["two@example.com"]),
                keys("g4", &["+14155550103"]),
                keys("g5", &["link:SF9", "five@example.com"]),
            ],
            vec![keys("g6", &["link:SF1"])],
        ];
        let candidates = [
            keys("SF1", &["one@example.com"]),
            keys("SF2", &["two@example.com", "+14155550100"]),
            keys("SF3", &["+14155550103"]),
            keys("SF5", &["five@example.com"]),
            keys("SF6", &["nobody@example.com"]),
        ];
        let mut whole = CandidateIndex::new(Side::Genesys);
        for candidate in pages.iter().flatten() {
            whole.insert(candidate);
        }
        // WHEN each candidate is matched page by page, keeping a tally
        let mut tallies: BTreeMap<&str, Tally> = BTreeMap::new();
        for page in &pages {
            let mut index = CandidateIndex::new(Side::Genesys);
            for candidate in page {
                index.insert(candidate);
            }
            for c in &candidates {
                tallies.entry(&c.id).or_default().add(&index.match_one(c));
            }
        }
        // THEN every tally's outcome is the engine's outcome over all pages at once
        for c in &candidates {
            assert_eq!(
                tallies[c.id.as_str()].outcome(),
                whole.match_one(c),
                "{}",
                c.id
            );
        }
        // AND the cases are the interesting ones: link over email, twins, phone, taken, none
        assert!(matches!(
            tallies["SF1"].outcome(),
            MatchOutcome::Matched {
                by: MatchKey::Link,
                ..
            }
        ));
        assert!(matches!(
            tallies["SF2"].outcome(),
            MatchOutcome::Ambiguous { .. }
        ));
        assert!(matches!(
            tallies["SF3"].outcome(),
            MatchOutcome::Matched {
                by: MatchKey::Phone,
                ..
            }
        ));
        assert_eq!(tallies["SF5"].outcome(), MatchOutcome::NoMatch);
        assert_eq!(tallies["SF6"].outcome(), MatchOutcome::NoMatch);
    }

    #[test]
    fn a_tally_survives_a_checkpoint_as_ids_only() {
        // GIVEN a tally with two email matches
        let mut tally = Tally::default();
        tally.add(&MatchOutcome::Ambiguous {
            candidates: vec!["g-2".into(), "g-1".into()],
            by: MatchKey::Email,
        });
        // WHEN it is written to JSON and read back
        let json = serde_json::to_string(&tally).expect("encode");
        let back: Tally = serde_json::from_str(&json).expect("decode");
        // THEN it is the same, and the JSON holds the key kind and the ids, nothing else
        assert_eq!(back, tally);
        assert_eq!(json, r#"{"k":"email","i":["g-1","g-2"]}"#);
    }

    #[test]
    fn a_record_claimed_by_several_is_ambiguous_for_each() {
        // GIVEN two records matching g1 alone, and one matching g2
        let matched = |id: &str| MatchOutcome::Matched {
            other_id: id.into(),
            by: MatchKey::Email,
        };
        let mut outcomes: BTreeMap<String, MatchOutcome> = [
            ("SF1".to_string(), matched("g1")),
            ("SF2".to_string(), matched("g1")),
            ("SF3".to_string(), matched("g2")),
        ]
        .into();
        // WHEN the claims are settled
        settle_claims(&mut outcomes);
        // THEN both claims on g1 are ambiguous (naming g1), the one on g2 stands
        let ambiguous = MatchOutcome::Ambiguous {
            candidates: vec!["g1".into()],
            by: MatchKey::Email,
        };
        assert_eq!(outcomes["SF1"], ambiguous);
        assert_eq!(outcomes["SF2"], ambiguous);
        assert_eq!(outcomes["SF3"], matched("g2"));
    }

    #[test]
    fn a_watermark_stays_before_its_reads_start_and_before_deferred_changes() {
        // GIVEN a read that started at 12:10 and saw changes up to 12:20
        let read = SideScan {
            newest: Some(mark(20, "z")),
            started_at: Some(at(10)),
            sub_second: true,
            ..SideScan::default()
        };
        // WHEN the watermark it reached is asked for, without and with a 5-minute skew
        // THEN it is just before the read's start (less the skew), not the newest change
        let just_before = |minute: u32| {
            Watermark::position(at(minute) - Duration::milliseconds(1), String::new())
        };
        assert_eq!(read.reached(Duration::zero()), Some(just_before(10)));
        assert_eq!(read.reached(Duration::minutes(5)), Some(just_before(5)));
        // AND a change left to the next poll holds it further back, strictly before that change
        let mut deferred = read.clone();
        deferred.defer(&mark(7, "m"));
        deferred.defer(&mark(8, "a"));
        let reached = deferred.reached(Duration::zero()).expect("a watermark");
        assert_eq!(reached, just_before(7));
        assert!(reached.is_before(at(7), "m"));
        // AND a read whose changes all came before its start reaches the newest change
        let old = SideScan {
            newest: Some(mark(3, "q")),
            started_at: Some(at(10)),
            sub_second: true,
            ..SideScan::default()
        };
        assert_eq!(old.reached(Duration::minutes(5)), Some(mark(3, "q")));
        // AND a read without changes reaches nothing
        assert_eq!(SideScan::default().reached(Duration::zero()), None);
    }

    #[test]
    fn a_write_in_the_watermarks_stamp_after_the_read_is_read_by_the_next_poll() {
        let ms7 = || at(7) + Duration::milliseconds(250);
        // GIVEN a read that saw two records sharing a millisecond stamp, and stored the
        // watermark it reached (its read started a minute later)
        let mut read = SideScan {
            started_at: Some(at(8)),
            ..SideScan::default()
        };
        read.seen(&Watermark::of_record(ms7(), "003SM000000000mAAA"));
        read.seen(&Watermark::of_record(ms7(), "003SM000000000zAAA"));
        let stored = read.reached(Duration::zero()).expect("a watermark");
        assert_eq!(stored.stamp, ms7());
        // WHEN, after the read, a record with a smaller id is written in that same second, and
        // the next poll reads from the stored watermark
        let mut late = salesforce_record(7, "003SM0000000001AAA");
        late.modified_at = ms7();
        let mut already_read = salesforce_record(7, "003SM000000000mAAA");
        already_read.modified_at = ms7();
        // THEN the late write is a change; the records already read at that stamp are not
        assert!(is_salesforce_change(Some(&stored), &late));
        assert!(stored.is_before(late.modified_at, &late.id));
        assert!(!is_salesforce_change(Some(&stored), &already_read));
        assert!(!stored.is_before(already_read.modified_at, &already_read.id));
        // AND the next poll, which saw only the late write at that stamp, keeps every id read
        // there (the ones it skipped included), so none is read a third time
        let mut next = SideScan {
            since: Some(stored.clone()),
            started_at: Some(at(9)),
            ..SideScan::default()
        };
        next.seen(&mark_of(&late));
        let again = next.reached(Duration::zero()).expect("a watermark");
        assert_eq!(again.at_stamp.len(), 3);
        assert!(!again.is_before(ms7(), "003SM000000000zAAA"));
        assert!(!again.is_before(ms7(), "003SM0000000001AAA"));
    }

    #[test]
    fn a_watermark_stays_before_the_whole_second_its_read_started_in() {
        // GIVEN a read that started half a second into 12:10:00 and saw a change stamped at
        // 12:10:00 exactly (a system that stamps whole seconds)
        let started = at(10) + Duration::milliseconds(500);
        let mut read = SideScan {
            started_at: Some(started),
            ..SideScan::default()
        };
        read.seen(&Watermark::of_record(at(10), "z"));
        // WHEN the watermark it reached is asked for
        let reached = read.reached(Duration::zero()).expect("a watermark");
        // THEN it stays before 12:10:00: a write later in that second, stamped 12:10:00 with
        // any id (even the same record's again), is read by the next poll
        assert_eq!(
            reached,
            Watermark::position(at(10) - Duration::milliseconds(1), "")
        );
        assert!(reached.is_before(at(10), "z"));
        // AND a read that started long after its newest whole-second change still leaves that
        // second to the next poll (a record written again in it keeps its stamp)
        let mut late_read = SideScan {
            started_at: Some(at(30)),
            ..SideScan::default()
        };
        late_read.seen(&Watermark::of_record(at(10), "z"));
        assert!(
            late_read
                .reached(Duration::zero())
                .expect("a watermark")
                .is_before(at(10), "z")
        );
        // AND once a stamp finer than a second was read, only the millisecond before the
        // read's start is held back
        read.seen(&Watermark::of_record(
            at(9) + Duration::milliseconds(7),
            "y",
        ));
        assert_eq!(
            read.reached(Duration::zero()).map(|w| w.stamp),
            Some(at(10))
        );
    }

    fn mark_of(record: &SideRecord) -> Watermark {
        super::mark(record)
    }

    #[test]
    fn a_step_budget_allows_exactly_its_steps_and_a_past_deadline_none() {
        // GIVEN a budget of two steps and one whose deadline has passed
        let two = PollBudget::steps(2);
        let late = PollBudget::until(Instant::now());
        // WHEN asked before each step THEN the first allows steps 0 and 1 only, the second none
        assert_eq!(
            (two.allows(0), two.allows(1), two.allows(2)),
            (true, true, false)
        );
        assert!(!late.allows(0));
        assert!(PollBudget::unlimited().allows(1_000_000));
    }
}
