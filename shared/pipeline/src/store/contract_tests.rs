//! The `SyncStore` contract, written once and run against every implementation.
//!
//! Each check is a `pub async fn` taking the store under test. [`store_contract_tests!`]
//! (exported at the crate root) turns the whole list into one `#[tokio::test]` per check for a
//! given store factory. This crate runs it for the memory and embedded stores; other crates
//! (the DynamoDB store) enable the `contract-tests` feature and add one line:
//!
//! ```ignore
//! contact_sync_pipeline::store_contract_tests!(dynamodb, crate::fresh_store);
//! ```
//!
//! where `fresh_store` is an `async fn() -> Option<Subject>` giving an empty store (`None`
//! skips the checks, e.g. when the emulator a store needs is not running).

use super::{
    CheckpointWrite, ConflictKind, ConflictRecord, ConflictStatus, ErasedConflicts, ErasureSubject,
    MAX_CHECKPOINT_STATE_BYTES, Pair, PairStatus, PollCheckpoint, RunRecord, SaveOutcome,
    StoreError, SyncStore,
};
use crate::system::Watermark;
use chrono::{DateTime, Duration, TimeZone, Utc};
use contact_sync_engine::{CanonicalContact, Side};
use std::sync::Arc;

const INTEGRATION: &str = "acme";

/// A store under test, and whatever must live as long as it (a temp dir, a table guard).
pub struct Subject {
    pub store: Arc<dyn SyncStore>,
    pub keep_alive: Option<Box<dyn std::any::Any + Send>>,
    pub isolation: Isolation,
}

impl Subject {
    pub fn new(store: Arc<dyn SyncStore>) -> Subject {
        Subject {
            store,
            keep_alive: None,
            isolation: Isolation::Isolated,
        }
    }

    /// The backend under test does not isolate concurrent transactions (see [`Isolation`]).
    pub fn not_isolated(mut self) -> Subject {
        self.isolation = Isolation::NotIsolated;
        self
    }
}

/// One `#[tokio::test]` per contract check, in a module named `$module`, each on a fresh store
/// from `$factory` (an `async fn() -> Option<Subject>`; `None` skips the check).
#[macro_export]
macro_rules! store_contract_tests {
    ($module:ident, $factory:path) => {
        $crate::store_contract_tests!(@checks $module, $factory;
            watermark_is_absent_until_first_advance,
            watermark_never_moves_backward,
            watermark_breaks_stamp_ties_by_last_id,
            watermark_keeps_the_ids_read_at_its_stamp,
            watermarks_are_kept_per_integration_and_side,
            bulk_limit_is_absent_until_lowered_and_never_rises,
            create_pair_stores_the_pair_and_links_its_ids,
            create_pair_with_a_taken_link_writes_nothing,
            create_pair_twice_is_already_exists,
            create_pair_refuses_a_version_other_than_one,
            save_pair_with_stale_version_writes_nothing,
            save_pair_with_the_same_ids_and_a_stale_version_writes_nothing,
            save_pair_bumps_version_to_expected_plus_one,
            save_pair_of_an_unknown_pair_is_a_version_mismatch,
            save_pair_links_a_new_id,
            save_pair_with_an_id_held_by_another_pair_writes_nothing,
            links_are_kept_when_a_pair_drops_an_id,
            links_batch_returns_only_linked_ids,
            pairs_batch_returns_only_existing_pairs,
            pending_pairs_are_listed_in_id_order_up_to_the_limit,
            concurrent_create_pair_for_one_record_has_one_winner,
            concurrent_create_pair_with_one_pair_id_has_one_winner,
            concurrent_save_pair_with_one_expected_version_has_one_winner,
            free_lease_is_acquired,
            live_lease_is_refused_to_another_owner,
            expired_lease_is_taken_over,
            lease_owner_renews,
            lease_release_by_non_owner_does_nothing,
            lease_release_by_owner_frees_it,
            lease_held_since_a_read_is_refused,
            lease_released_before_a_read_is_taken,
            lease_expired_before_a_read_is_taken,
            record_conflict_is_idempotent_by_id,
            create_pairs_answer_item_by_item_like_single_creates,
            save_pairs_answer_item_by_item_like_single_saves,
            create_pairs_refuses_a_batch_with_a_version_other_than_one,
            record_conflicts_keep_the_first_record_of_each_id,
            lease_batches_answer_item_by_item_like_single_leases,
            conflicts_are_newest_first_with_open_only_filter,
            an_open_conflict_is_closed_once,
            runs_are_newest_first_with_limit,
            record_run_again_replaces_the_run,
            poll_checkpoint_is_absent_until_saved_and_reads_back,
            poll_checkpoint_save_needs_the_stored_poll_and_version,
            poll_checkpoint_of_another_poll_is_never_overwritten,
            poll_checkpoint_is_cleared_only_by_its_poll_and_version,
            concurrent_poll_checkpoint_saves_have_one_winner,
            poll_checkpoints_are_kept_per_integration,
            a_large_poll_checkpoint_reads_back_whole,
            an_oversized_poll_checkpoint_is_refused,
            audit_values_are_dropped_oldest_first_before_a_time_up_to_a_limit,
            audit_values_of_open_items_stay_until_they_are_closed,
            audit_values_recorded_in_a_batch_are_dropped_too,
            erasing_a_person_drops_the_values_of_their_records_only,
        );
    };
    (@checks $module:ident, $factory:path; $($check:ident),* $(,)?) => {
        mod $module {
            // The factory path is written at the call site, one module up.
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $check() {
                    let Some(subject) = $factory().await else { return };
                    let store = ::std::sync::Arc::clone(&subject.store);
                    match $crate::store::contract_tests::in_sequence(stringify!($check)) {
                        Some(in_sequence)
                            if subject.isolation
                                == $crate::store::contract_tests::Isolation::NotIsolated =>
                        {
                            in_sequence(store).await
                        }
                        _ => $crate::store::contract_tests::$check(store).await,
                    }
                    drop(subject);
                }
            )*
        }
    };
}

// ---------------------------------------------------------------------------------------------
// Fixtures

fn at(minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, 12, minute, 0)
        .single()
        .expect("valid time")
}

fn mark(minute: u32, last_id: &str) -> Watermark {
    Watermark::position(at(minute), last_id.to_string())
}

fn pair(pair_id: &str, sf_id: Option<&str>, gz_id: Option<&str>) -> Pair {
    Pair {
        pair_id: pair_id.to_string(),
        sf_id: sf_id.map(str::to_string),
        gz_id: gz_id.map(str::to_string),
        base: Some(CanonicalContact::new().with("email", "ada@example.com")),
        version: 1,
        status: PairStatus::Synced,
        last_error: None,
        synced_at: Some(at(0)),
        resolutions: Default::default(),
    }
}

fn ids(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| v.to_string()).collect()
}

fn conflict(id: &str, integration: &str, minute: u32, status: ConflictStatus) -> ConflictRecord {
    ConflictRecord {
        id: id.to_string(),
        integration: integration.to_string(),
        run_id: "run-1".to_string(),
        pair_id: Some("p1".to_string()),
        sf_id: Some("sf-1".to_string()),
        gz_id: Some("gz-1".to_string()),
        field: "email".to_string(),
        policy: "manual".to_string(),
        kind: ConflictKind::Manual,
        status,
        base_value: Some("old@example.com".to_string()),
        salesforce_value: Some("sf@example.com".to_string()),
        genesys_value: Some("gz@example.com".to_string()),
        at: at(minute),
    }
}

fn run(run_id: &str, integration: &str, started_minute: Option<u32>) -> RunRecord {
    RunRecord {
        run_id: run_id.to_string(),
        integration: integration.to_string(),
        started_at: started_minute.map(at),
        finished_at: None,
        summary: serde_json::json!({ "pairs": 1 }),
    }
}

fn conflict_ids(conflicts: &[ConflictRecord]) -> Vec<&str> {
    conflicts.iter().map(|c| c.id.as_str()).collect()
}

fn run_ids(runs: &[RunRecord]) -> Vec<&str> {
    runs.iter().map(|r| r.run_id.as_str()).collect()
}

// ---------------------------------------------------------------------------------------------
// Watermarks

pub async fn watermark_is_absent_until_first_advance(store: Arc<dyn SyncStore>) {
    // GIVEN an empty store
    // WHEN the watermark is read, then advanced for the first time
    let before = store
        .watermark(INTEGRATION, Side::Salesforce)
        .await
        .unwrap();
    let advanced = store
        .advance_watermark(INTEGRATION, Side::Salesforce, &mark(10, "a"))
        .await
        .unwrap();
    // THEN it was absent, the first advance writes, and reads back
    assert_eq!(before, None);
    assert!(advanced);
    assert_eq!(
        store
            .watermark(INTEGRATION, Side::Salesforce)
            .await
            .unwrap(),
        Some(mark(10, "a"))
    );
}

pub async fn watermark_keeps_the_ids_read_at_its_stamp(store: Arc<dyn SyncStore>) {
    // GIVEN a watermark naming the three ids read at its stamp
    let mut wm = Watermark::of_record(at(10), "c");
    wm.absorb(at(10), "a");
    wm.absorb(at(10), "b");
    // WHEN it is advanced and read back
    assert!(
        store
            .advance_watermark(INTEGRATION, Side::Salesforce, &wm)
            .await
            .unwrap()
    );
    let back = store
        .watermark(INTEGRATION, Side::Salesforce)
        .await
        .unwrap()
        .expect("a watermark");
    // THEN every id comes back, sorted, so a record of that stamp with another id is a change
    assert_eq!(back.at_stamp, vec!["a", "b", "c"]);
    assert_eq!(back, wm);
    assert!(back.is_before(at(10), "0"));
    assert!(!back.is_before(at(10), "b"));
}

pub async fn watermark_never_moves_backward(store: Arc<dyn SyncStore>) {
    // GIVEN a stored watermark
    let stored = mark(10, "m");
    assert!(
        store
            .advance_watermark(INTEGRATION, Side::Genesys, &stored)
            .await
            .unwrap()
    );
    // WHEN an older and then an equal watermark are offered
    let older = store
        .advance_watermark(INTEGRATION, Side::Genesys, &mark(9, "z"))
        .await
        .unwrap();
    let equal = store
        .advance_watermark(INTEGRATION, Side::Genesys, &stored)
        .await
        .unwrap();
    // THEN both are refused and the stored value is unchanged
    assert!(!older);
    assert!(!equal);
    assert_eq!(
        store.watermark(INTEGRATION, Side::Genesys).await.unwrap(),
        Some(stored)
    );
    // AND WHEN a later one is offered THEN it is written
    assert!(
        store
            .advance_watermark(INTEGRATION, Side::Genesys, &mark(11, "a"))
            .await
            .unwrap()
    );
    assert_eq!(
        store.watermark(INTEGRATION, Side::Genesys).await.unwrap(),
        Some(mark(11, "a"))
    );
}

pub async fn watermark_breaks_stamp_ties_by_last_id(store: Arc<dyn SyncStore>) {
    // GIVEN a watermark at (10:00, "m")
    assert!(
        store
            .advance_watermark(INTEGRATION, Side::Salesforce, &mark(10, "m"))
            .await
            .unwrap()
    );
    // WHEN the same stamp comes with a smaller id, then a larger one
    let smaller = store
        .advance_watermark(INTEGRATION, Side::Salesforce, &mark(10, "a"))
        .await
        .unwrap();
    let larger = store
        .advance_watermark(INTEGRATION, Side::Salesforce, &mark(10, "n"))
        .await
        .unwrap();
    // THEN only the larger id moves it forward
    assert!(!smaller);
    assert!(larger);
    assert_eq!(
        store
            .watermark(INTEGRATION, Side::Salesforce)
            .await
            .unwrap(),
        Some(mark(10, "n"))
    );
}

pub async fn watermarks_are_kept_per_integration_and_side(store: Arc<dyn SyncStore>) {
    // GIVEN a late watermark for one integration and side
    assert!(
        store
            .advance_watermark(INTEGRATION, Side::Salesforce, &mark(50, "z"))
            .await
            .unwrap()
    );
    // WHEN earlier watermarks are offered for the other side and another integration
    let other_side = store
        .advance_watermark(INTEGRATION, Side::Genesys, &mark(1, "a"))
        .await
        .unwrap();
    let other_integration = store
        .advance_watermark("globex", Side::Salesforce, &mark(1, "a"))
        .await
        .unwrap();
    // THEN each is independent
    assert!(other_side);
    assert!(other_integration);
    assert_eq!(
        store
            .watermark(INTEGRATION, Side::Salesforce)
            .await
            .unwrap(),
        Some(mark(50, "z"))
    );
    assert_eq!(
        store.watermark("globex", Side::Genesys).await.unwrap(),
        None
    );
}

// ---------------------------------------------------------------------------------------------
// Pairs and links

pub async fn bulk_limit_is_absent_until_lowered_and_never_rises(store: Arc<dyn SyncStore>) {
    // GIVEN a fresh store THEN no limit is known
    assert_eq!(
        store.bulk_limit(INTEGRATION, Side::Genesys).await.unwrap(),
        None
    );
    // WHEN a run learns 100, then another 50
    assert!(
        store
            .lower_bulk_limit(INTEGRATION, Side::Genesys, 100)
            .await
            .unwrap()
    );
    assert!(
        store
            .lower_bulk_limit(INTEGRATION, Side::Genesys, 50)
            .await
            .unwrap()
    );
    // THEN 50 is remembered, and a larger or equal value (a run that started higher) changes
    // nothing
    assert!(
        !store
            .lower_bulk_limit(INTEGRATION, Side::Genesys, 100)
            .await
            .unwrap()
    );
    assert!(
        !store
            .lower_bulk_limit(INTEGRATION, Side::Genesys, 50)
            .await
            .unwrap()
    );
    assert_eq!(
        store.bulk_limit(INTEGRATION, Side::Genesys).await.unwrap(),
        Some(50)
    );
    // AND limits are kept per side and per integration
    assert_eq!(
        store
            .bulk_limit(INTEGRATION, Side::Salesforce)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.bulk_limit("other", Side::Genesys).await.unwrap(),
        None
    );
    assert!(
        store
            .lower_bulk_limit(INTEGRATION, Side::Salesforce, 120)
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .bulk_limit(INTEGRATION, Side::Salesforce)
            .await
            .unwrap(),
        Some(120)
    );
    assert_eq!(
        store.bulk_limit(INTEGRATION, Side::Genesys).await.unwrap(),
        Some(50)
    );
}

pub async fn create_pair_stores_the_pair_and_links_its_ids(store: Arc<dyn SyncStore>) {
    // GIVEN an empty store
    let p1 = pair("p1", Some("sf-1"), Some("gz-1"));
    // WHEN a pair is created
    let outcome = store.create_pair(&p1).await.unwrap();
    // THEN it is saved at version 1 and both ids are linked to it
    assert_eq!(outcome, SaveOutcome::Saved);
    assert_eq!(store.pair("p1").await.unwrap(), Some(p1));
    let sf = store
        .links(Side::Salesforce, &ids(&["sf-1"]))
        .await
        .unwrap();
    let gz = store.links(Side::Genesys, &ids(&["gz-1"])).await.unwrap();
    assert_eq!(sf.get("sf-1").map(String::as_str), Some("p1"));
    assert_eq!(gz.get("gz-1").map(String::as_str), Some("p1"));
}

pub async fn create_pair_with_a_taken_link_writes_nothing(store: Arc<dyn SyncStore>) {
    // GIVEN pair p1 holding sf-1 and gz-1
    assert_eq!(
        store
            .create_pair(&pair("p1", Some("sf-1"), Some("gz-1")))
            .await
            .unwrap(),
        SaveOutcome::Saved
    );
    // WHEN p2 claims sf-1 (taken) with a free gz-2, and p3 claims a free sf-3 with gz-1 (taken)
    let p2 = store
        .create_pair(&pair("p2", Some("sf-1"), Some("gz-2")))
        .await
        .unwrap();
    let p3 = store
        .create_pair(&pair("p3", Some("sf-3"), Some("gz-1")))
        .await
        .unwrap();
    // THEN both are refused naming the holder
    assert_eq!(
        p2,
        SaveOutcome::LinkTaken {
            side: Side::Salesforce,
            record_id: "sf-1".to_string(),
            pair_id: "p1".to_string(),
        }
    );
    assert_eq!(
        p3,
        SaveOutcome::LinkTaken {
            side: Side::Genesys,
            record_id: "gz-1".to_string(),
            pair_id: "p1".to_string(),
        }
    );
    // AND neither the pairs nor their free ids were written
    assert_eq!(store.pair("p2").await.unwrap(), None);
    assert_eq!(store.pair("p3").await.unwrap(), None);
    assert!(
        store
            .links(Side::Genesys, &ids(&["gz-2"]))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .links(Side::Salesforce, &ids(&["sf-3"]))
            .await
            .unwrap()
            .is_empty()
    );
    // AND the holder's links are intact
    let sf = store
        .links(Side::Salesforce, &ids(&["sf-1"]))
        .await
        .unwrap();
    assert_eq!(sf.get("sf-1").map(String::as_str), Some("p1"));
}

pub async fn create_pair_twice_is_already_exists(store: Arc<dyn SyncStore>) {
    // GIVEN pair p1
    let p1 = pair("p1", Some("sf-1"), None);
    assert_eq!(store.create_pair(&p1).await.unwrap(), SaveOutcome::Saved);
    // WHEN p1 is created again, this time with other ids
    let again = store
        .create_pair(&pair("p1", Some("sf-2"), Some("gz-2")))
        .await
        .unwrap();
    // THEN it is refused and nothing changed
    assert_eq!(again, SaveOutcome::AlreadyExists);
    assert_eq!(store.pair("p1").await.unwrap(), Some(p1));
    assert!(
        store
            .links(Side::Salesforce, &ids(&["sf-2"]))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .links(Side::Genesys, &ids(&["gz-2"]))
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn create_pair_refuses_a_version_other_than_one(store: Arc<dyn SyncStore>) {
    // GIVEN a new pair with version 2
    let mut p1 = pair("p1", Some("sf-1"), None);
    p1.version = 2;
    // WHEN it is created
    let result = store.create_pair(&p1).await;
    // THEN it is a permanent error and nothing is written
    assert!(
        matches!(result, Err(StoreError::Permanent(_))),
        "{result:?}"
    );
    assert_eq!(store.pair("p1").await.unwrap(), None);
    assert!(
        store
            .links(Side::Salesforce, &ids(&["sf-1"]))
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn save_pair_with_stale_version_writes_nothing(store: Arc<dyn SyncStore>) {
    // GIVEN pair p1 saved once (version 2)
    let p1 = pair("p1", Some("sf-1"), None);
    store.create_pair(&p1).await.unwrap();
    let mut first = p1.clone();
    first.status = PairStatus::Pending;
    assert_eq!(
        store.save_pair(&first, 1).await.unwrap(),
        SaveOutcome::Saved
    );
    // WHEN a writer still holding version 1 saves, adding a new id
    let mut stale = p1.clone();
    stale.gz_id = Some("gz-1".to_string());
    stale.base = None;
    let outcome = store.save_pair(&stale, 1).await.unwrap();
    // THEN it loses and nothing is written (pair nor link)
    assert_eq!(outcome, SaveOutcome::VersionMismatch);
    let stored = store.pair("p1").await.unwrap().expect("p1");
    assert_eq!(stored.version, 2);
    assert_eq!(stored.status, PairStatus::Pending);
    assert_eq!(stored.base, p1.base);
    assert!(
        store
            .links(Side::Genesys, &ids(&["gz-1"]))
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn save_pair_with_the_same_ids_and_a_stale_version_writes_nothing(
    store: Arc<dyn SyncStore>,
) {
    // GIVEN pair p1 (both ids) saved once: version 2, synced
    let p1 = pair("p1", Some("sf-1"), Some("gz-1"));
    store.create_pair(&p1).await.unwrap();
    let mut first = p1.clone();
    first.status = PairStatus::Synced;
    assert_eq!(
        store.save_pair(&first, 1).await.unwrap(),
        SaveOutcome::Saved
    );
    // WHEN a writer still holding version 1 saves it with the same ids
    let mut stale = p1.clone();
    stale.status = PairStatus::Pending;
    let outcome = store.save_pair(&stale, 1).await.unwrap();
    // THEN it loses and nothing is written; a save at version 2 with the same ids goes through
    assert_eq!(outcome, SaveOutcome::VersionMismatch);
    let stored = store.pair("p1").await.unwrap().expect("p1");
    assert_eq!((stored.version, stored.status), (2, PairStatus::Synced));
    assert_eq!(
        store.save_pair(&stale, 2).await.unwrap(),
        SaveOutcome::Saved
    );
    let stored = store.pair("p1").await.unwrap().expect("p1");
    assert_eq!((stored.version, stored.status), (3, PairStatus::Pending));
    assert_eq!(store.pending_pairs(10).await.unwrap(), vec![stored]);
}

pub async fn save_pair_bumps_version_to_expected_plus_one(store: Arc<dyn SyncStore>) {
    // GIVEN pair p1 at version 1
    store
        .create_pair(&pair("p1", Some("sf-1"), None))
        .await
        .unwrap();
    // WHEN it is saved with a changed base and a nonsense version field, twice
    let mut update = pair("p1", Some("sf-1"), None);
    update.base = Some(CanonicalContact::new().with("email", "grace@example.com"));
    update.version = 99;
    let first = store.save_pair(&update, 1).await.unwrap();
    let second = store.save_pair(&update, 2).await.unwrap();
    // THEN each save stores version = expected + 1 with the new content
    assert_eq!(first, SaveOutcome::Saved);
    assert_eq!(second, SaveOutcome::Saved);
    let stored = store.pair("p1").await.unwrap().expect("p1");
    assert_eq!(stored.version, 3);
    assert_eq!(stored.base, update.base);
}

pub async fn save_pair_of_an_unknown_pair_is_a_version_mismatch(store: Arc<dyn SyncStore>) {
    // GIVEN an empty store
    // WHEN a pair that was never created is saved
    let outcome = store
        .save_pair(&pair("ghost", Some("sf-1"), None), 1)
        .await
        .unwrap();
    // THEN it is a version mismatch and nothing is written
    assert_eq!(outcome, SaveOutcome::VersionMismatch);
    assert_eq!(store.pair("ghost").await.unwrap(), None);
    assert!(
        store
            .links(Side::Salesforce, &ids(&["sf-1"]))
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn save_pair_links_a_new_id(store: Arc<dyn SyncStore>) {
    // GIVEN pair p1 with only a Salesforce id
    store
        .create_pair(&pair("p1", Some("sf-1"), None))
        .await
        .unwrap();
    // WHEN it is saved with a Genesys id
    let outcome = store
        .save_pair(&pair("p1", Some("sf-1"), Some("gz-1")), 1)
        .await
        .unwrap();
    // THEN the new id is linked to p1
    assert_eq!(outcome, SaveOutcome::Saved);
    let gz = store.links(Side::Genesys, &ids(&["gz-1"])).await.unwrap();
    assert_eq!(gz.get("gz-1").map(String::as_str), Some("p1"));
}

pub async fn save_pair_with_an_id_held_by_another_pair_writes_nothing(store: Arc<dyn SyncStore>) {
    // GIVEN p1 holding gz-1, and p2 holding only sf-2
    store
        .create_pair(&pair("p1", None, Some("gz-1")))
        .await
        .unwrap();
    let p2 = pair("p2", Some("sf-2"), None);
    store.create_pair(&p2).await.unwrap();
    // WHEN p2 is saved claiming gz-1
    let mut claim = p2.clone();
    claim.gz_id = Some("gz-1".to_string());
    claim.status = PairStatus::Pending;
    let outcome = store.save_pair(&claim, 1).await.unwrap();
    // THEN it is refused and p2 is unchanged
    assert_eq!(
        outcome,
        SaveOutcome::LinkTaken {
            side: Side::Genesys,
            record_id: "gz-1".to_string(),
            pair_id: "p1".to_string(),
        }
    );
    assert_eq!(store.pair("p2").await.unwrap(), Some(p2));
    let gz = store.links(Side::Genesys, &ids(&["gz-1"])).await.unwrap();
    assert_eq!(gz.get("gz-1").map(String::as_str), Some("p1"));
}

pub async fn links_are_kept_when_a_pair_drops_an_id(store: Arc<dyn SyncStore>) {
    // GIVEN p1 holding sf-1 and gz-1
    store
        .create_pair(&pair("p1", Some("sf-1"), Some("gz-1")))
        .await
        .unwrap();
    // WHEN p1 is saved unlinked, without its Genesys id
    let mut unlinked = pair("p1", Some("sf-1"), None);
    unlinked.status = PairStatus::Unlinked;
    assert_eq!(
        store.save_pair(&unlinked, 1).await.unwrap(),
        SaveOutcome::Saved
    );
    // THEN gz-1 stays linked to p1 (tombstone) and cannot be taken by a new pair
    let gz = store.links(Side::Genesys, &ids(&["gz-1"])).await.unwrap();
    assert_eq!(gz.get("gz-1").map(String::as_str), Some("p1"));
    assert!(matches!(
        store
            .create_pair(&pair("p2", None, Some("gz-1")))
            .await
            .unwrap(),
        SaveOutcome::LinkTaken { .. }
    ));
}

pub async fn links_batch_returns_only_linked_ids(store: Arc<dyn SyncStore>) {
    // GIVEN p1 (sf-1, gz-1) and p2 (sf-2)
    store
        .create_pair(&pair("p1", Some("sf-1"), Some("gz-1")))
        .await
        .unwrap();
    store
        .create_pair(&pair("p2", Some("sf-2"), None))
        .await
        .unwrap();
    // WHEN links are read for linked and unknown ids, on each side
    let sf = store
        .links(Side::Salesforce, &ids(&["sf-1", "sf-9", "sf-2", "gz-1"]))
        .await
        .unwrap();
    let gz = store
        .links(Side::Genesys, &ids(&["sf-1", "gz-1"]))
        .await
        .unwrap();
    let none = store.links(Side::Genesys, &[]).await.unwrap();
    // THEN only ids linked on that side are present
    assert_eq!(sf.len(), 2);
    assert_eq!(sf.get("sf-1").map(String::as_str), Some("p1"));
    assert_eq!(sf.get("sf-2").map(String::as_str), Some("p2"));
    assert_eq!(gz.len(), 1);
    assert_eq!(gz.get("gz-1").map(String::as_str), Some("p1"));
    assert!(none.is_empty());
}

pub async fn pairs_batch_returns_only_existing_pairs(store: Arc<dyn SyncStore>) {
    // GIVEN p1 and p2
    let p1 = pair("p1", Some("sf-1"), None);
    let p2 = pair("p2", Some("sf-2"), None);
    store.create_pair(&p1).await.unwrap();
    store.create_pair(&p2).await.unwrap();
    // WHEN they are read in a batch with an unknown id
    let mut found = store.pairs(&ids(&["p2", "missing", "p1"])).await.unwrap();
    // THEN exactly the existing ones come back
    found.sort_by(|a, b| a.pair_id.cmp(&b.pair_id));
    assert_eq!(found, vec![p1, p2]);
    assert!(store.pairs(&[]).await.unwrap().is_empty());
}

pub async fn pending_pairs_are_listed_in_id_order_up_to_the_limit(store: Arc<dyn SyncStore>) {
    // GIVEN pairs created pending (p4, p2, p3) and synced (p1)
    for (pair_id, status) in [
        ("p4", PairStatus::Pending),
        ("p1", PairStatus::Synced),
        ("p2", PairStatus::Pending),
        ("p3", PairStatus::Pending),
    ] {
        let mut p = pair(pair_id, Some(&format!("sf-{pair_id}")), None);
        p.status = status;
        assert_eq!(store.create_pair(&p).await.unwrap(), SaveOutcome::Saved);
    }
    // AND p3 later synced, p1 later failed
    let mut p3 = pair("p3", Some("sf-p3"), None);
    p3.status = PairStatus::Synced;
    assert_eq!(store.save_pair(&p3, 1).await.unwrap(), SaveOutcome::Saved);
    let mut p1 = pair("p1", Some("sf-p1"), None);
    p1.status = PairStatus::Pending;
    assert_eq!(store.save_pair(&p1, 1).await.unwrap(), SaveOutcome::Saved);
    // WHEN pending pairs are listed with a generous and a tight limit
    let all = store.pending_pairs(100).await.unwrap();
    let two = store.pending_pairs(2).await.unwrap();
    // THEN exactly the pending ones come back, in pair id order, cut at the limit
    let ids_of = |pairs: &[Pair]| pairs.iter().map(|p| p.pair_id.clone()).collect::<Vec<_>>();
    assert_eq!(ids_of(&all), vec!["p1", "p2", "p4"]);
    assert_eq!(ids_of(&two), vec!["p1", "p2"]);
    assert_eq!(all[0].version, 2);
    assert!(store.pending_pairs(0).await.unwrap().is_empty());
}

const RACERS: usize = 16;

/// How the writers of a racing check run: all at once (the check), or one after the other
/// (its in-sequence form, see [`in_sequence`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Writers {
    AtOnce,
    InSequence,
}

/// Runs `RACERS` writers (`start(n)`), as `writers` says; their results in writer order.
async fn run_writers<T, F>(writers: Writers, start: impl Fn(usize) -> F) -> Vec<T>
where
    T: Send + 'static,
    F: std::future::Future<Output = T> + Send + 'static,
{
    let mut results = Vec::with_capacity(RACERS);
    match writers {
        Writers::AtOnce => {
            let tasks: Vec<_> = (0..RACERS).map(|n| tokio::spawn(start(n))).collect();
            for task in tasks {
                results.push(task.await.unwrap());
            }
        }
        Writers::InSequence => {
            for n in 0..RACERS {
                results.push(start(n).await);
            }
        }
    }
    results
}

/// Whether the backend under test isolates concurrent transactions as the real service does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    Isolated,
    /// An emulator that does not (moto: its threaded server checks a transaction's conditions
    /// and writes its items without a lock, and a cancelled transaction restores the whole
    /// table as it was when it began, erasing transactions committed meanwhile). The checks
    /// that race transactions then run their in-sequence form ([`in_sequence`]).
    NotIsolated,
}

/// A check as the contract macro runs it.
pub type Check =
    fn(Arc<dyn SyncStore>) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// The in-sequence form of a check that races concurrent transactions (`None` for any other
/// check): the same writes one after the other, so that the store's conditions decide every
/// answer without relying on the backend's isolation. Proves the conditions, not isolation.
pub fn in_sequence(check: &str) -> Option<Check> {
    match check {
        "concurrent_create_pair_for_one_record_has_one_winner" => {
            Some(|store| Box::pin(create_pair_for_one_record_in_sequence_has_one_winner(store)))
        }
        "concurrent_create_pair_with_one_pair_id_has_one_winner" => Some(|store| {
            Box::pin(create_pair_with_one_pair_id_in_sequence_has_one_winner(
                store,
            ))
        }),
        _ => None,
    }
}

pub async fn concurrent_create_pair_for_one_record_has_one_winner(store: Arc<dyn SyncStore>) {
    create_pair_for_one_record_has_one_winner(store, Writers::AtOnce).await;
}

pub async fn create_pair_for_one_record_in_sequence_has_one_winner(store: Arc<dyn SyncStore>) {
    create_pair_for_one_record_has_one_winner(store, Writers::InSequence).await;
}

async fn create_pair_for_one_record_has_one_winner(store: Arc<dyn SyncStore>, writers: Writers) {
    // GIVEN many workers that each saw sf-1 unlinked and try to create a pair for it
    // WHEN they all run at once (or one after the other)
    let outcomes = run_writers(writers, |n| {
        let store = Arc::clone(&store);
        async move {
            let pair_id = format!("p{n}");
            let gz_id = format!("gz-{n}");
            let outcome = store
                .create_pair(&pair(&pair_id, Some("sf-1"), Some(&gz_id)))
                .await
                .unwrap();
            (pair_id, outcome)
        }
    })
    .await;
    // THEN exactly one wins, the others see its link
    let winners: Vec<&String> = outcomes
        .iter()
        .filter(|(_, o)| *o == SaveOutcome::Saved)
        .map(|(id, _)| id)
        .collect();
    assert_eq!(winners.len(), 1, "{outcomes:?}");
    let winner = winners[0].clone();
    for (_, outcome) in outcomes.iter().filter(|(id, _)| *id != winner) {
        assert_eq!(
            *outcome,
            SaveOutcome::LinkTaken {
                side: Side::Salesforce,
                record_id: "sf-1".to_string(),
                pair_id: winner.clone(),
            }
        );
    }
    // AND only the winner's pair and links exist
    let all_pairs: Vec<String> = (0..RACERS).map(|n| format!("p{n}")).collect();
    let stored = store.pairs(&all_pairs).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].pair_id, winner);
    let all_gz: Vec<String> = (0..RACERS).map(|n| format!("gz-{n}")).collect();
    assert_eq!(store.links(Side::Genesys, &all_gz).await.unwrap().len(), 1);
}

pub async fn concurrent_create_pair_with_one_pair_id_has_one_winner(store: Arc<dyn SyncStore>) {
    create_pair_with_one_pair_id_has_one_winner(store, Writers::AtOnce).await;
}

pub async fn create_pair_with_one_pair_id_in_sequence_has_one_winner(store: Arc<dyn SyncStore>) {
    create_pair_with_one_pair_id_has_one_winner(store, Writers::InSequence).await;
}

async fn create_pair_with_one_pair_id_has_one_winner(store: Arc<dyn SyncStore>, writers: Writers) {
    // GIVEN many workers creating pair p1, each with its own record ids
    // WHEN they all run at once (or one after the other)
    let outcomes = run_writers(writers, |n| {
        let store = Arc::clone(&store);
        async move {
            let sf_id = format!("sf-{n}");
            store
                .create_pair(&pair("p1", Some(&sf_id), None))
                .await
                .unwrap()
        }
    })
    .await;
    // THEN one is saved, the rest already exist, and only the winner's id is linked
    let saved = outcomes
        .iter()
        .filter(|o| **o == SaveOutcome::Saved)
        .count();
    let exists = outcomes
        .iter()
        .filter(|o| **o == SaveOutcome::AlreadyExists)
        .count();
    assert_eq!((saved, exists), (1, RACERS - 1), "{outcomes:?}");
    let all_sf: Vec<String> = (0..RACERS).map(|n| format!("sf-{n}")).collect();
    let linked = store.links(Side::Salesforce, &all_sf).await.unwrap();
    assert_eq!(linked.len(), 1);
    let stored = store.pair("p1").await.unwrap().expect("p1");
    assert_eq!(linked.keys().next(), stored.sf_id.as_ref());
}

pub async fn concurrent_save_pair_with_one_expected_version_has_one_winner(
    store: Arc<dyn SyncStore>,
) {
    // GIVEN pair p1 at version 1, and many workers that all read version 1
    store
        .create_pair(&pair("p1", Some("sf-1"), None))
        .await
        .unwrap();
    let tasks: Vec<_> = (0..RACERS)
        .map(|n| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let mut update = pair("p1", Some("sf-1"), None);
                update.base = Some(CanonicalContact::new().with("phone", &format!("+1555{n}")));
                store.save_pair(&update, 1).await.unwrap()
            })
        })
        .collect();
    // WHEN they all save at once
    let mut outcomes = Vec::with_capacity(RACERS);
    for finished in tasks {
        outcomes.push(finished.await.expect("a saving task"));
    }
    // THEN one wins and the pair is at version 2
    let saved = outcomes
        .iter()
        .filter(|o| **o == SaveOutcome::Saved)
        .count();
    assert_eq!(saved, 1, "{outcomes:?}");
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, SaveOutcome::Saved | SaveOutcome::VersionMismatch))
    );
    assert_eq!(store.pair("p1").await.unwrap().expect("p1").version, 2);
}

// ---------------------------------------------------------------------------------------------
// Leases

const LEASE: &str = "acme#run";

fn ttl() -> Duration {
    Duration::minutes(5)
}

pub async fn free_lease_is_acquired(store: Arc<dyn SyncStore>) {
    // GIVEN no lease
    // WHEN an owner acquires it
    let acquired = store.acquire_lease(LEASE, "a", at(0), ttl()).await.unwrap();
    // THEN it succeeds
    assert!(acquired);
}

pub async fn live_lease_is_refused_to_another_owner(store: Arc<dyn SyncStore>) {
    // GIVEN a lease held by a until 12:05
    assert!(store.acquire_lease(LEASE, "a", at(0), ttl()).await.unwrap());
    // WHEN b asks before it expires
    let taken = store.acquire_lease(LEASE, "b", at(4), ttl()).await.unwrap();
    // THEN b is refused, and a still holds it (b cannot release it, a can renew)
    assert!(!taken);
    assert!(store.acquire_lease(LEASE, "a", at(4), ttl()).await.unwrap());
    // AND a different key is independent
    assert!(
        store
            .acquire_lease("acme#other", "b", at(4), ttl())
            .await
            .unwrap()
    );
}

pub async fn expired_lease_is_taken_over(store: Arc<dyn SyncStore>) {
    // GIVEN a lease held by a until 12:05
    assert!(store.acquire_lease(LEASE, "a", at(0), ttl()).await.unwrap());
    // WHEN b asks once it has expired
    let taken = store.acquire_lease(LEASE, "b", at(6), ttl()).await.unwrap();
    // THEN b gets it, and a no longer holds it
    assert!(taken);
    assert!(!store.acquire_lease(LEASE, "a", at(7), ttl()).await.unwrap());
}

pub async fn lease_owner_renews(store: Arc<dyn SyncStore>) {
    // GIVEN a lease held by a until 12:05
    assert!(store.acquire_lease(LEASE, "a", at(0), ttl()).await.unwrap());
    // WHEN a renews at 12:04
    let renewed = store.acquire_lease(LEASE, "a", at(4), ttl()).await.unwrap();
    // THEN the renewal succeeds and extends the lease to 12:09: b is refused at 12:06
    assert!(renewed);
    assert!(!store.acquire_lease(LEASE, "b", at(6), ttl()).await.unwrap());
    assert!(store.acquire_lease(LEASE, "b", at(9), ttl()).await.unwrap());
}

pub async fn lease_release_by_non_owner_does_nothing(store: Arc<dyn SyncStore>) {
    // GIVEN a lease held by a
    assert!(store.acquire_lease(LEASE, "a", at(0), ttl()).await.unwrap());
    // WHEN b releases it
    store.release_lease(LEASE, "b", at(1)).await.unwrap();
    // THEN a still holds it: b is refused
    assert!(!store.acquire_lease(LEASE, "b", at(1), ttl()).await.unwrap());
    // AND releasing a lease that does not exist is fine
    store
        .release_lease("acme#nothing", "b", at(1))
        .await
        .unwrap();
}

pub async fn lease_release_by_owner_frees_it(store: Arc<dyn SyncStore>) {
    // GIVEN a lease held by a
    assert!(store.acquire_lease(LEASE, "a", at(0), ttl()).await.unwrap());
    // WHEN a releases it
    store.release_lease(LEASE, "a", at(1)).await.unwrap();
    // THEN b can take it before the old expiry
    assert!(store.acquire_lease(LEASE, "b", at(1), ttl()).await.unwrap());
}

/// `owner` asks at minute `now` for [`LEASE`], free since minute `since`.
async fn free_since(store: &Arc<dyn SyncStore>, owner: &str, since: u32, now: u32) -> bool {
    store
        .acquire_lease_free_since(LEASE, owner, at(since), at(now), ttl())
        .await
        .unwrap()
}

/// `a` holds [`LEASE`] from 12:00 until it releases it at minute `released`.
async fn held_by_a_until(store: &Arc<dyn SyncStore>, released: u32) {
    assert!(store.acquire_lease(LEASE, "a", at(0), ttl()).await.unwrap());
    store.release_lease(LEASE, "a", at(released)).await.unwrap();
}

pub async fn lease_held_since_a_read_is_refused(store: Arc<dyn SyncStore>) {
    // GIVEN b read something at 12:01, while a held the lease from 12:00 to its release at 12:02
    held_by_a_until(&store, 2).await;
    // WHEN b asks at 12:03 for the lease free since its read
    let taken = free_since(&store, "b", 1, 3).await;
    // THEN b is refused (a may have written after b's read), though the lease is free now
    assert!(!taken);
    assert!(store.acquire_lease(LEASE, "c", at(3), ttl()).await.unwrap());
}

pub async fn lease_released_before_a_read_is_taken(store: Arc<dyn SyncStore>) {
    // GIVEN a held the lease from 12:00 until its release at 12:01
    held_by_a_until(&store, 1).await;
    // WHEN b, which read at 12:02, asks at 12:03
    let taken = free_since(&store, "b", 2, 3).await;
    // THEN b gets it, until 12:08: c (free since 12:03) is refused at 12:07
    assert!(taken);
    assert!(!free_since(&store, "c", 3, 7).await);
}

pub async fn lease_expired_before_a_read_is_taken(store: Arc<dyn SyncStore>) {
    // GIVEN a's lease, never released, held until 12:05
    assert!(store.acquire_lease(LEASE, "a", at(0), ttl()).await.unwrap());
    // WHEN b asks at 12:07, free since 12:04 (before the expiry), and c free since 12:06
    let b = free_since(&store, "b", 4, 7).await;
    let c = free_since(&store, "c", 6, 7).await;
    // THEN b is refused (a may still have been writing at 12:04) and c gets it
    assert!(!b);
    assert!(c);
}

// ---------------------------------------------------------------------------------------------
// Batch operations: item by item what the single calls answer, applied in order

/// What the single calls answer for the same items on a store with the same history: the
/// reference the batch answers are held to (a memory store, its singles checked by the rest
/// of this suite).
fn singles_reference() -> Arc<dyn SyncStore> {
    Arc::new(super::memory::MemoryStore::new())
}

/// Ids linked on `side` among `record_ids`, sorted, as `(record id, pair id)`.
async fn linked(
    store: &Arc<dyn SyncStore>,
    side: Side,
    record_ids: &[&str],
) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = store
        .links(side, &ids(record_ids))
        .await
        .unwrap()
        .into_iter()
        .collect();
    found.sort();
    found
}

pub async fn create_pairs_answer_item_by_item_like_single_creates(store: Arc<dyn SyncStore>) {
    // GIVEN a stored pair p0 linking sf-0 (on the store under test and on the reference)
    let reference = singles_reference();
    for s in [&store, &reference] {
        assert_eq!(
            s.create_pair(&pair("p0", Some("sf-0"), None))
                .await
                .unwrap(),
            SaveOutcome::Saved
        );
    }
    // WHEN one batch creates p1 (sf-1, gz-1), p2 linking sf-1 too, p1 again, p3 linking sf-0
    // (p0's), and p4 (gz-4)
    let batch = vec![
        pair("p1", Some("sf-1"), Some("gz-1")),
        pair("p2", Some("sf-1"), Some("gz-2")),
        pair("p1", Some("sf-9"), None),
        pair("p3", Some("sf-0"), Some("gz-3")),
        pair("p4", None, Some("gz-4")),
    ];
    let answers = store.create_pairs(&batch).await.unwrap();
    // THEN each item answers what the single call gives after the items before it: p2 sees
    // the link p1 took earlier in the same batch
    let taken = |side, record_id: &str, pair_id: &str| SaveOutcome::LinkTaken {
        side,
        record_id: record_id.to_string(),
        pair_id: pair_id.to_string(),
    };
    assert_eq!(
        answers,
        vec![
            SaveOutcome::Saved,
            taken(Side::Salesforce, "sf-1", "p1"),
            SaveOutcome::AlreadyExists,
            taken(Side::Salesforce, "sf-0", "p0"),
            SaveOutcome::Saved,
        ]
    );
    let mut singles = Vec::new();
    for p in &batch {
        singles.push(reference.create_pair(p).await.unwrap());
    }
    assert_eq!(answers, singles);
    // AND only the saved items were written: p1 and p4 with their links, nothing of p2 or p3
    let mut stored: Vec<String> = store
        .pairs(&ids(&["p0", "p1", "p2", "p3", "p4"]))
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.pair_id)
        .collect();
    stored.sort();
    assert_eq!(stored, ids(&["p0", "p1", "p4"]));
    let all_gz = ["gz-1", "gz-2", "gz-3", "gz-4"];
    assert_eq!(
        linked(&store, Side::Genesys, &all_gz).await,
        linked(&reference, Side::Genesys, &all_gz).await
    );
    assert_eq!(
        linked(&store, Side::Genesys, &all_gz).await,
        vec![
            ("gz-1".to_string(), "p1".to_string()),
            ("gz-4".to_string(), "p4".to_string())
        ]
    );
    assert_eq!(
        linked(&store, Side::Salesforce, &["sf-9"]).await,
        Vec::new()
    );
}

pub async fn save_pairs_answer_item_by_item_like_single_saves(store: Arc<dyn SyncStore>) {
    // GIVEN stored pairs p1 (sf-1), p2 (sf-2) and p3 (sf-3), all at version 1
    let reference = singles_reference();
    for s in [&store, &reference] {
        for (id, sf) in [("p1", "sf-1"), ("p2", "sf-2"), ("p3", "sf-3")] {
            s.create_pair(&pair(id, Some(sf), None)).await.unwrap();
        }
    }
    // WHEN one batch saves p1 adding gz-1 (expecting 1), p2 with a stale version (a
    // compare-and-set mismatch in the middle), p1 again expecting the version the first item
    // gave it (2), p3 linking gz-1 (p1's since the first item), an unknown pair, and p3
    // linking gz-3
    let mut p1 = pair("p1", Some("sf-1"), Some("gz-1"));
    p1.status = PairStatus::Pending;
    let mut p1_again = pair("p1", Some("sf-1"), Some("gz-1"));
    p1_again.base = Some(CanonicalContact::new().with("email", "grace@example.com"));
    let batch = vec![
        (p1, 1),
        (pair("p2", Some("sf-2"), Some("gz-2")), 5),
        (p1_again.clone(), 2),
        (pair("p3", Some("sf-3"), Some("gz-1")), 1),
        (pair("p9", Some("sf-99"), None), 1),
        (pair("p3", Some("sf-3"), Some("gz-3")), 1),
    ];
    let answers = store.save_pairs(&batch).await.unwrap();
    // THEN each item answers what the single call gives after the items before it
    assert_eq!(
        answers,
        vec![
            SaveOutcome::Saved,
            SaveOutcome::VersionMismatch,
            SaveOutcome::Saved,
            SaveOutcome::LinkTaken {
                side: Side::Genesys,
                record_id: "gz-1".to_string(),
                pair_id: "p1".to_string(),
            },
            SaveOutcome::VersionMismatch,
            SaveOutcome::Saved,
        ]
    );
    let mut singles = Vec::new();
    for (p, expected) in &batch {
        singles.push(reference.save_pair(p, *expected).await.unwrap());
    }
    assert_eq!(answers, singles);
    // AND the store holds what the saved items wrote, nothing of the refused ones
    let stored = |id: &'static str| {
        let store = Arc::clone(&store);
        async move { store.pair(id).await.unwrap().expect("stored") }
    };
    let p1 = stored("p1").await;
    assert_eq!((p1.version, p1.base.clone()), (3, p1_again.base.clone()));
    let p2 = stored("p2").await;
    assert_eq!((p2.version, p2.gz_id.clone()), (1, None));
    let p3 = stored("p3").await;
    assert_eq!((p3.version, p3.gz_id.as_deref()), (2, Some("gz-3")));
    assert_eq!(store.pair("p9").await.unwrap(), None);
    // AND the pending index follows the last write of p1 (synced again): nothing is pending
    assert_eq!(store.pending_pairs(10).await.unwrap(), Vec::new());
    let all_gz = ["gz-1", "gz-2", "gz-3"];
    assert_eq!(
        linked(&store, Side::Genesys, &all_gz).await,
        linked(&reference, Side::Genesys, &all_gz).await
    );
}

pub async fn create_pairs_refuses_a_batch_with_a_version_other_than_one(store: Arc<dyn SyncStore>) {
    // GIVEN a batch whose second pair has version 2 (a caller bug)
    let mut wrong = pair("p2", Some("sf-2"), None);
    wrong.version = 2;
    let batch = vec![
        pair("p1", Some("sf-1"), None),
        wrong,
        pair("p3", Some("sf-3"), None),
    ];
    // WHEN it is created
    let result = store.create_pairs(&batch).await;
    // THEN it fails for good, and nothing after the wrong item was written (a prefix at most)
    assert!(
        matches!(result, Err(StoreError::Permanent(_))),
        "{result:?}"
    );
    assert_eq!(store.pair("p2").await.unwrap(), None);
    assert_eq!(store.pair("p3").await.unwrap(), None);
}

pub async fn record_conflicts_keep_the_first_record_of_each_id(store: Arc<dyn SyncStore>) {
    // GIVEN a recorded conflict c1
    let c1 = conflict("c1", INTEGRATION, 1, ConflictStatus::Open);
    store.record_conflict(&c1).await.unwrap();
    // WHEN one batch records c1 again (other content), c2, c2 again (other content) and c3
    let mut c1_again = conflict("c1", INTEGRATION, 2, ConflictStatus::Closed);
    c1_again.field = "phone".to_string();
    let c2 = conflict("c2", INTEGRATION, 3, ConflictStatus::Open);
    let mut c2_again = conflict("c2", INTEGRATION, 4, ConflictStatus::Closed);
    c2_again.field = "title".to_string();
    let c3 = conflict("c3", INTEGRATION, 5, ConflictStatus::Closed);
    store
        .record_conflicts(&[c1_again, c2.clone(), c2_again, c3.clone()])
        .await
        .unwrap();
    // THEN each id is kept once, as first recorded (the stored c1, the batch's first c2)
    assert_eq!(
        store.conflicts(INTEGRATION, false).await.unwrap(),
        vec![c3, c2, c1]
    );
    // AND an empty batch is fine
    store.record_conflicts(&[]).await.unwrap();
}

pub async fn lease_batches_answer_item_by_item_like_single_leases(store: Arc<dyn SyncStore>) {
    // GIVEN k1 held by a until 12:05, and k2 held by a from 12:00 and released at 12:02
    let reference = singles_reference();
    for s in [&store, &reference] {
        assert!(s.acquire_lease("k1", "a", at(0), ttl()).await.unwrap());
        assert!(s.acquire_lease("k2", "a", at(0), ttl()).await.unwrap());
        s.release_lease("k2", "a", at(2)).await.unwrap();
    }
    // WHEN b, whose reads began at 12:03, asks at 12:04 for k1, k2, k3 and k3 again
    let keys = ids(&["k1", "k2", "k3", "k3"]);
    let taken = store
        .acquire_leases_free_since(&keys, "b", at(3), at(4), ttl())
        .await
        .unwrap();
    // THEN k1 is refused (a holds it), k2 and k3 are taken, and k3 again is b's renewal
    assert_eq!(taken, vec![false, true, true, true]);
    let mut singles = Vec::new();
    for key in &keys {
        singles.push(
            reference
                .acquire_lease_free_since(key, "b", at(3), at(4), ttl())
                .await
                .unwrap(),
        );
    }
    assert_eq!(taken, singles);
    // WHEN b releases k1, k2 and k3 at 12:04 in one batch
    store
        .release_leases(&ids(&["k1", "k2", "k3"]), "b", at(4))
        .await
        .unwrap();
    // THEN k1 is still a's (b never held it): c is refused it; k2 and k3 are free for a
    // reader from 12:04 on, refused to a reader from 12:03 (b held them then)
    assert!(!store.acquire_lease("k1", "c", at(4), ttl()).await.unwrap());
    assert_eq!(
        store
            .acquire_leases_free_since(&ids(&["k2", "k3"]), "c", at(3), at(4), ttl())
            .await
            .unwrap(),
        vec![false, false]
    );
    assert_eq!(
        store
            .acquire_leases_free_since(&ids(&["k2", "k3"]), "c", at(4), at(4), ttl())
            .await
            .unwrap(),
        vec![true, true]
    );
    // AND empty batches answer nothing
    assert_eq!(
        store
            .acquire_leases_free_since(&[], "c", at(4), at(4), ttl())
            .await
            .unwrap(),
        Vec::<bool>::new()
    );
    store.release_leases(&[], "c", at(4)).await.unwrap();
    assert_eq!(store.create_pairs(&[]).await.unwrap(), Vec::new());
    assert_eq!(store.save_pairs(&[]).await.unwrap(), Vec::new());
}

// ---------------------------------------------------------------------------------------------
// Conflicts and runs

pub async fn record_conflict_is_idempotent_by_id(store: Arc<dyn SyncStore>) {
    // GIVEN a recorded conflict
    let first = conflict("c1", INTEGRATION, 1, ConflictStatus::Open);
    store.record_conflict(&first).await.unwrap();
    // WHEN the same id is recorded again with other content
    let mut again = conflict("c1", INTEGRATION, 2, ConflictStatus::Closed);
    again.field = "phone".to_string();
    store.record_conflict(&again).await.unwrap();
    // THEN the first record is kept, once
    assert_eq!(
        store.conflicts(INTEGRATION, false).await.unwrap(),
        vec![first]
    );
}

pub async fn conflicts_are_newest_first_with_open_only_filter(store: Arc<dyn SyncStore>) {
    // GIVEN conflicts at various times, open and closed, and one of another integration
    for c in [
        conflict("c-old", INTEGRATION, 1, ConflictStatus::Open),
        conflict("c-new", INTEGRATION, 9, ConflictStatus::Closed),
        conflict("c-mid-a", INTEGRATION, 5, ConflictStatus::Open),
        conflict("c-mid-b", INTEGRATION, 5, ConflictStatus::Closed),
        conflict("c-other", "globex", 7, ConflictStatus::Open),
    ] {
        store.record_conflict(&c).await.unwrap();
    }
    // WHEN all, then open ones, are listed
    let all = store.conflicts(INTEGRATION, false).await.unwrap();
    let open = store.conflicts(INTEGRATION, true).await.unwrap();
    // THEN they are newest first (ties by id, descending) and filtered
    assert_eq!(
        conflict_ids(&all),
        vec!["c-new", "c-mid-b", "c-mid-a", "c-old"]
    );
    assert_eq!(conflict_ids(&open), vec!["c-mid-a", "c-old"]);
    assert!(store.conflicts("initech", false).await.unwrap().is_empty());
}

pub async fn an_open_conflict_is_closed_once(store: Arc<dyn SyncStore>) {
    // GIVEN an open conflict
    store
        .record_conflict(&conflict("c1", INTEGRATION, 1, ConflictStatus::Open))
        .await
        .unwrap();
    // WHEN it is closed twice, and an unknown one is closed
    let first = store.close_conflict("c1").await.unwrap();
    let second = store.close_conflict("c1").await.unwrap();
    let unknown = store.close_conflict("nope").await.unwrap();
    // THEN only the first close changes something, and it is no longer open
    assert_eq!((first, second, unknown), (true, false, false));
    assert!(store.conflicts(INTEGRATION, true).await.unwrap().is_empty());
    let closed = store.conflict("c1").await.unwrap().expect("c1 kept");
    assert_eq!(closed.status, ConflictStatus::Closed);
    assert_eq!(store.conflict("nope").await.unwrap(), None);
}

pub async fn runs_are_newest_first_with_limit(store: Arc<dyn SyncStore>) {
    // GIVEN runs of two integrations, one without a start time
    for r in [
        run("r1", INTEGRATION, Some(1)),
        run("r3", INTEGRATION, Some(3)),
        run("r-none", INTEGRATION, None),
        run("r2", INTEGRATION, Some(2)),
        run("r-other", "globex", Some(9)),
    ] {
        store.record_run(&r).await.unwrap();
    }
    // WHEN they are listed with and without a tight limit
    let top = store.runs(INTEGRATION, 2).await.unwrap();
    let all = store.runs(INTEGRATION, 100).await.unwrap();
    // THEN they are newest first, runs without a start last, cut at the limit
    assert_eq!(run_ids(&top), vec!["r3", "r2"]);
    assert_eq!(run_ids(&all), vec!["r3", "r2", "r1", "r-none"]);
    assert!(store.runs(INTEGRATION, 0).await.unwrap().is_empty());
}

pub async fn record_run_again_replaces_the_run(store: Arc<dyn SyncStore>) {
    // GIVEN a started run
    store
        .record_run(&run("r1", INTEGRATION, Some(1)))
        .await
        .unwrap();
    // WHEN it is recorded again once finished
    let mut finished = run("r1", INTEGRATION, Some(1));
    finished.finished_at = Some(at(2));
    finished.summary = serde_json::json!({ "pairs": 3 });
    store.record_run(&finished).await.unwrap();
    // THEN the run is listed once, finished
    assert_eq!(store.runs(INTEGRATION, 10).await.unwrap(), vec![finished]);
}

// ---------------------------------------------------------------------------------------------
// Poll checkpoints

fn checkpoint(integration: &str, poll_id: &str, cursor: &str) -> PollCheckpoint {
    PollCheckpoint {
        integration: integration.to_string(),
        poll_id: poll_id.to_string(),
        version: 0,
        saved_at: at(3),
        state: serde_json::json!({ "cursor": cursor, "candidates": ["003000000000001AAA"] }),
    }
}

/// The stored checkpoint's `(poll_id, version, cursor)`.
async fn stored_checkpoint(
    store: &Arc<dyn SyncStore>,
    integration: &str,
) -> Option<(String, u64, String)> {
    store
        .load_poll_checkpoint(integration)
        .await
        .unwrap()
        .map(|c| {
            let cursor = c.state["cursor"].as_str().unwrap_or_default().to_string();
            (c.poll_id, c.version, cursor)
        })
}

fn stored(poll_id: &str, version: u64, cursor: &str) -> Option<(String, u64, String)> {
    Some((poll_id.to_string(), version, cursor.to_string()))
}

/// Saves a checkpoint of `poll_id` of the test integration.
async fn save(
    store: &Arc<dyn SyncStore>,
    poll_id: &str,
    cursor: &str,
    expected: Option<u64>,
) -> CheckpointWrite {
    store
        .save_poll_checkpoint(&checkpoint(INTEGRATION, poll_id, cursor), expected)
        .await
        .unwrap()
}

/// Saves poll-1's checkpoint twice (cursors `a`, then `b`): version 2.
async fn save_poll_one_twice(store: &Arc<dyn SyncStore>) {
    for (cursor, expected) in [("a", None), ("b", Some(1))] {
        let written = save(store, "poll-1", cursor, expected).await;
        assert!(matches!(written, CheckpointWrite::Saved { .. }));
    }
}

pub async fn poll_checkpoint_is_absent_until_saved_and_reads_back(store: Arc<dyn SyncStore>) {
    // GIVEN an empty store
    let before = store.load_poll_checkpoint(INTEGRATION).await.unwrap();
    // WHEN a poll saves its first checkpoint
    let written = save(&store, "poll-1", "c1", None).await;
    // THEN there was none, it is saved as version 1, and reads back as saved
    assert_eq!(before, None);
    assert_eq!(written, CheckpointWrite::Saved { version: 1 });
    let mut expected = checkpoint(INTEGRATION, "poll-1", "c1");
    expected.version = 1;
    assert_eq!(
        store.load_poll_checkpoint(INTEGRATION).await.unwrap(),
        Some(expected)
    );
}

pub async fn poll_checkpoint_save_needs_the_stored_poll_and_version(store: Arc<dyn SyncStore>) {
    // GIVEN poll-1's checkpoint at version 1
    save(&store, "poll-1", "c1", None).await;
    // WHEN it is saved expecting 1, then again expecting 1 (stale), then created anew
    let next = save(&store, "poll-1", "c2", Some(1)).await;
    let stale = save(&store, "poll-1", "stale", Some(1)).await;
    let fresh = save(&store, "poll-1", "fresh", None).await;
    // THEN only the first is written (version 2); the others are superseded and change nothing
    assert_eq!(next, CheckpointWrite::Saved { version: 2 });
    assert_eq!(
        (stale, fresh),
        (CheckpointWrite::Superseded, CheckpointWrite::Superseded)
    );
    assert_eq!(
        stored_checkpoint(&store, INTEGRATION).await,
        stored("poll-1", 2, "c2")
    );
}

pub async fn poll_checkpoint_of_another_poll_is_never_overwritten(store: Arc<dyn SyncStore>) {
    // GIVEN poll-1 saved twice (version 2), then cleared, and poll-2 started (version 1)
    save_poll_one_twice(&store).await;
    assert!(
        store
            .clear_poll_checkpoint(INTEGRATION, "poll-1", 2)
            .await
            .unwrap()
    );
    save(&store, "poll-2", "new", None).await;
    // WHEN a late run of poll-1 saves expecting poll-1's old versions (1 is poll-2's version
    // number too)
    let late_one = save(&store, "poll-1", "late", Some(1)).await;
    let late_two = save(&store, "poll-1", "late", Some(2)).await;
    // THEN both are superseded and poll-2's checkpoint is untouched
    assert_eq!(
        (late_one, late_two),
        (CheckpointWrite::Superseded, CheckpointWrite::Superseded)
    );
    assert_eq!(
        stored_checkpoint(&store, INTEGRATION).await,
        stored("poll-2", 1, "new")
    );
}

pub async fn poll_checkpoint_is_cleared_only_by_its_poll_and_version(store: Arc<dyn SyncStore>) {
    // GIVEN poll-1's checkpoint at version 2
    save_poll_one_twice(&store).await;
    // WHEN it is cleared with a stale version, by another poll, then rightly, then again
    let stale = store
        .clear_poll_checkpoint(INTEGRATION, "poll-1", 1)
        .await
        .unwrap();
    let other = store
        .clear_poll_checkpoint(INTEGRATION, "poll-9", 2)
        .await
        .unwrap();
    let kept = stored_checkpoint(&store, INTEGRATION).await;
    let right = store
        .clear_poll_checkpoint(INTEGRATION, "poll-1", 2)
        .await
        .unwrap();
    let again = store
        .clear_poll_checkpoint(INTEGRATION, "poll-1", 2)
        .await
        .unwrap();
    // THEN only the right clear removes it
    assert_eq!((stale, other, right, again), (false, false, true, false));
    assert_eq!(kept, stored("poll-1", 2, "b"));
    assert_eq!(store.load_poll_checkpoint(INTEGRATION).await.unwrap(), None);
}

pub async fn concurrent_poll_checkpoint_saves_have_one_winner(store: Arc<dyn SyncStore>) {
    // GIVEN poll-1's checkpoint at version 1, and many runs that all loaded version 1
    save(&store, "poll-1", "start", None).await;
    let tasks: Vec<_> = (0..RACERS)
        .map(|n| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let cursor = format!("run-{n}");
                let outcome = save(&store, "poll-1", &cursor, Some(1)).await;
                (cursor, outcome)
            })
        })
        .collect();
    // WHEN they all save at once
    let mut outcomes = Vec::with_capacity(RACERS);
    for finished in tasks {
        outcomes.push(finished.await.expect("a saving task"));
    }
    // THEN exactly one is saved (version 2), and the stored checkpoint is the winner's
    let winners: Vec<&String> = outcomes
        .iter()
        .filter(|(_, o)| *o == CheckpointWrite::Saved { version: 2 })
        .map(|(cursor, _)| cursor)
        .collect();
    assert_eq!(winners.len(), 1, "{outcomes:?}");
    assert!(outcomes.iter().all(|(_, o)| matches!(
        o,
        CheckpointWrite::Saved { .. } | CheckpointWrite::Superseded
    )));
    assert_eq!(
        stored_checkpoint(&store, INTEGRATION).await,
        stored("poll-1", 2, winners[0])
    );
}

pub async fn poll_checkpoints_are_kept_per_integration(store: Arc<dyn SyncStore>) {
    // GIVEN checkpoints of two integrations
    save(&store, "poll-a", "a", None).await;
    store
        .save_poll_checkpoint(&checkpoint("globex", "poll-g", "g"), None)
        .await
        .unwrap();
    // WHEN one is cleared
    assert!(
        store
            .clear_poll_checkpoint(INTEGRATION, "poll-a", 1)
            .await
            .unwrap()
    );
    // THEN the other is still there
    assert_eq!(stored_checkpoint(&store, INTEGRATION).await, None);
    assert_eq!(
        stored_checkpoint(&store, "globex").await,
        stored("poll-g", 1, "g")
    );
}

/// Checkpoint state of at least `bytes` bytes of ids (22 each as JSON: far more than one
/// DynamoDB item holds).
fn large_state(bytes: usize, tag: &str) -> serde_json::Value {
    let ids: Vec<String> = (0..bytes / 22 + 1)
        .map(|n| format!("003{tag}{n:015}"))
        .collect();
    serde_json::json!({ "cursor": tag, "candidates": ids })
}

pub async fn a_large_poll_checkpoint_reads_back_whole(store: Arc<dyn SyncStore>) {
    // GIVEN a 1.5 MB checkpoint saved, then replaced by a 0.9 MB one
    let mut first = checkpoint(INTEGRATION, "poll-1", "unused");
    first.state = large_state(1_500_000, "A");
    store.save_poll_checkpoint(&first, None).await.unwrap();
    let mut second = checkpoint(INTEGRATION, "poll-1", "unused");
    second.state = large_state(900_000, "B");
    // WHEN the second is saved and both are read back
    let written = store.save_poll_checkpoint(&second, Some(1)).await.unwrap();
    let loaded = store
        .load_poll_checkpoint(INTEGRATION)
        .await
        .unwrap()
        .expect("a checkpoint");
    // THEN the read gives the second one whole, nothing of the first
    assert_eq!(written, CheckpointWrite::Saved { version: 2 });
    assert_eq!(loaded.version, 2);
    assert!(loaded.state == second.state, "the state read back differs");
}

pub async fn an_oversized_poll_checkpoint_is_refused(store: Arc<dyn SyncStore>) {
    // GIVEN a checkpoint whose state is larger than any store takes
    let mut huge = checkpoint(INTEGRATION, "poll-1", "unused");
    huge.state = large_state(MAX_CHECKPOINT_STATE_BYTES + 1_000, "H");
    // WHEN it is saved
    let error = store.save_poll_checkpoint(&huge, None).await.unwrap_err();
    // THEN the save fails for good and nothing is stored
    assert!(matches!(error, StoreError::Permanent(_)), "{error:?}");
    assert_eq!(store.load_poll_checkpoint(INTEGRATION).await.unwrap(), None);
}

// ---------------------------------------------------------------------------------------------
// This crate's stores, and what goes beyond the trait: the embedded file itself

// ---------------------------------------------------------------------------------------------
// Audit values: retention and erasure

/// `c` without its values (what a drop or an erasure leaves).
fn without_values(mut c: ConflictRecord) -> ConflictRecord {
    c.drop_values();
    c
}

pub async fn audit_values_are_dropped_oldest_first_before_a_time_up_to_a_limit(
    store: Arc<dyn SyncStore>,
) {
    // GIVEN closed entries with values at minutes 1, 2, 3 and 6, one without values at minute
    // 1, and a closed entry of another integration at minute 1
    let mut refused = conflict("c3", INTEGRATION, 3, ConflictStatus::Closed);
    refused.kind = ConflictKind::Rejected {
        side: Side::Genesys,
        code: "invalid.value".into(),
        message: "value ada@example.com is not valid".into(),
    };
    let mut empty = conflict("c0", INTEGRATION, 1, ConflictStatus::Closed);
    empty.drop_values();
    let entries = [
        conflict("c2", INTEGRATION, 2, ConflictStatus::Closed),
        conflict("c1", INTEGRATION, 1, ConflictStatus::Closed),
        refused.clone(),
        conflict("c6", INTEGRATION, 6, ConflictStatus::Closed),
        empty.clone(),
        conflict("other", "globex", 1, ConflictStatus::Closed),
    ];
    for c in &entries {
        store.record_conflict(c).await.unwrap();
    }
    // WHEN values before minute 5 are dropped two at a time until nothing is left
    let first = store
        .drop_audit_values(INTEGRATION, at(5), 2)
        .await
        .unwrap();
    let after_first = store.conflict("c3").await.unwrap().unwrap();
    let second = store
        .drop_audit_values(INTEGRATION, at(5), 2)
        .await
        .unwrap();
    let third = store
        .drop_audit_values(INTEGRATION, at(5), 2)
        .await
        .unwrap();
    // THEN the two oldest went first, then the third; a call with nothing left changes nothing
    assert_eq!((first, second, third), (2, 1, 0));
    assert_eq!(after_first, refused, "c3 waited for the second call");
    // AND ids, field, kind (the refusal's code), status and time stay; only values went
    let get = |id: &'static str| {
        let store = Arc::clone(&store);
        async move { store.conflict(id).await.unwrap().unwrap() }
    };
    assert_eq!(get("c1").await, without_values(entries[1].clone()));
    assert_eq!(get("c2").await, without_values(entries[0].clone()));
    let c3 = get("c3").await;
    assert_eq!(c3, without_values(refused));
    assert!(
        matches!(&c3.kind, ConflictKind::Rejected { code, message, .. } if code == "invalid.value" && message.is_empty())
    );
    // AND what is newer than the bound, or of another integration, keeps its values
    assert_eq!(get("c6").await, entries[3]);
    assert_eq!(get("other").await, entries[5]);
    assert_eq!(get("c0").await, empty);
}

pub async fn audit_values_of_open_items_stay_until_they_are_closed(store: Arc<dyn SyncStore>) {
    // GIVEN an old open review item with values
    let open = conflict("r1", INTEGRATION, 1, ConflictStatus::Open);
    store.record_conflict(&open).await.unwrap();
    // WHEN values before minute 5 are dropped
    let dropped = store
        .drop_audit_values(INTEGRATION, at(5), 10)
        .await
        .unwrap();
    // THEN the open item keeps them (a person still needs them)
    assert_eq!(dropped, 0);
    assert_eq!(store.conflict("r1").await.unwrap().unwrap(), open);
    // WHEN it is closed and values are dropped again
    assert!(store.close_conflict("r1").await.unwrap());
    let dropped = store
        .drop_audit_values(INTEGRATION, at(5), 10)
        .await
        .unwrap();
    // THEN its values go, and it stays closed
    assert_eq!(dropped, 1);
    let mut expected = without_values(open);
    expected.status = ConflictStatus::Closed;
    assert_eq!(store.conflict("r1").await.unwrap().unwrap(), expected);
    assert!(store.conflicts(INTEGRATION, true).await.unwrap().is_empty());
}

pub async fn audit_values_recorded_in_a_batch_are_dropped_too(store: Arc<dyn SyncStore>) {
    // GIVEN closed entries with values recorded by the batch call
    let batch = vec![
        conflict("b1", INTEGRATION, 1, ConflictStatus::Closed),
        conflict("b2", INTEGRATION, 2, ConflictStatus::Closed),
    ];
    store.record_conflicts(&batch).await.unwrap();
    // WHEN values before minute 5 are dropped
    let dropped = store
        .drop_audit_values(INTEGRATION, at(5), 10)
        .await
        .unwrap();
    // THEN both lost their values and are still listed
    assert_eq!(dropped, 2);
    let listed = store.conflicts(INTEGRATION, false).await.unwrap();
    assert_eq!(
        listed,
        vec![
            without_values(batch[1].clone()),
            without_values(batch[0].clone())
        ]
    );
}

pub async fn erasing_a_person_drops_the_values_of_their_records_only(store: Arc<dyn SyncStore>) {
    // GIVEN an open item and a closed entry about pair p1 (sf-1 / gz-1), an ambiguous item
    // naming only sf-1, and entries about someone else (pair p2, sf-2 / gz-2)
    let open = conflict("mine-open", INTEGRATION, 1, ConflictStatus::Open);
    let closed = conflict("mine-closed", INTEGRATION, 2, ConflictStatus::Closed);
    let ambiguous = ConflictRecord::ambiguous_match(
        "mine-match".into(),
        INTEGRATION,
        "run-1",
        (None, Some("sf-1".into()), None),
        "email",
        vec!["gz-7".into(), "gz-8".into()],
        at(3),
    );
    let mut theirs = conflict("theirs", INTEGRATION, 1, ConflictStatus::Closed);
    theirs.pair_id = Some("p2".into());
    theirs.sf_id = Some("sf-2".into());
    theirs.gz_id = Some("gz-2".into());
    let mut other_integration = conflict("elsewhere", "globex", 1, ConflictStatus::Closed);
    other_integration.pair_id = None;
    for c in [&open, &closed, &ambiguous, &theirs, &other_integration] {
        store.record_conflict(c).await.unwrap();
    }
    let subject = ErasureSubject {
        pair_id: Some("p1".into()),
        sf_id: Some("sf-1".into()),
        gz_id: Some("gz-1".into()),
    };
    // WHEN the person is erased, twice
    let first = store
        .erase_conflict_values(INTEGRATION, &subject)
        .await
        .unwrap();
    let second = store
        .erase_conflict_values(INTEGRATION, &subject)
        .await
        .unwrap();
    // THEN their three records are found, the two with values erased; the second call finds
    // them again and erases nothing
    assert_eq!(
        first,
        ErasedConflicts {
            found: 3,
            erased: 2
        }
    );
    assert_eq!(
        second,
        ErasedConflicts {
            found: 3,
            erased: 0
        }
    );
    // AND the open item stays open (ids and decision kept), the others are untouched
    assert_eq!(
        store.conflict("mine-open").await.unwrap().unwrap(),
        without_values(open)
    );
    assert_eq!(
        store.conflict("mine-closed").await.unwrap().unwrap(),
        without_values(closed)
    );
    assert_eq!(
        store.conflict("mine-match").await.unwrap().unwrap(),
        ambiguous
    );
    assert_eq!(store.conflict("theirs").await.unwrap().unwrap(), theirs);
    assert_eq!(
        store.conflict("elsewhere").await.unwrap().unwrap(),
        other_integration
    );
    assert_eq!(store.conflicts(INTEGRATION, true).await.unwrap().len(), 2);
}

#[cfg(test)]
mod local {
    use super::*;
    use crate::store::embedded::EmbeddedStore;
    use crate::store::memory::MemoryStore;

    async fn memory_store() -> Option<Subject> {
        Some(Subject::new(Arc::new(MemoryStore::new())))
    }

    async fn embedded_store() -> Option<Subject> {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = EmbeddedStore::open(&dir.path().join("state").join("sync.redb")).expect("open");
        Some(Subject {
            store: Arc::new(store),
            keep_alive: Some(Box::new(dir)),
            isolation: Isolation::Isolated,
        })
    }

    crate::store_contract_tests!(memory_store, memory_store);
    crate::store_contract_tests!(embedded_store, embedded_store);

    #[tokio::test]
    async fn memory_store_counts_a_batch_call_as_one_write_request() {
        // GIVEN a memory store
        let store = MemoryStore::new();
        // WHEN it gets one batch of each kind, three items each, and one empty batch of each
        let three = [
            pair("p1", Some("sf-1"), None),
            pair("p2", Some("sf-2"), None),
            pair("p3", Some("sf-3"), None),
        ];
        store.create_pairs(&three).await.unwrap();
        let saves: Vec<(Pair, u64)> = three.iter().map(|p| (p.clone(), 1)).collect();
        store.save_pairs(&saves).await.unwrap();
        let keys = ids(&["k1", "k2", "k3"]);
        store
            .acquire_leases_free_since(&keys, "a", at(0), at(0), ttl())
            .await
            .unwrap();
        store.release_leases(&keys, "a", at(1)).await.unwrap();
        let conflicts: Vec<ConflictRecord> = ["c1", "c2", "c3"]
            .iter()
            .map(|id| conflict(id, INTEGRATION, 1, ConflictStatus::Open))
            .collect();
        store.record_conflicts(&conflicts).await.unwrap();
        store.create_pairs(&[]).await.unwrap();
        store.save_pairs(&[]).await.unwrap();
        store
            .acquire_leases_free_since(&[], "a", at(0), at(0), ttl())
            .await
            .unwrap();
        store.release_leases(&[], "a", at(1)).await.unwrap();
        store.record_conflicts(&[]).await.unwrap();
        // THEN it counts one write request per non-empty batch: five
        assert_eq!(store.write_requests(), 5);
    }

    #[tokio::test]
    async fn embedded_store_leases_reach_the_file_with_the_next_durable_commit() {
        // GIVEN a store file where a batch of leases is taken (a non-durable commit) and a
        // pair is then created (a durable one)
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sync.redb");
        {
            let store = EmbeddedStore::open(&path).unwrap();
            let taken = store
                .acquire_leases_free_since(&ids(&["k1", "k2"]), "a", at(0), at(0), ttl())
                .await
                .unwrap();
            assert_eq!(taken, vec![true, true]);
            store
                .create_pairs(&[pair("p1", Some("sf-1"), None)])
                .await
                .unwrap();
        }
        // WHEN the file is reopened
        let store = EmbeddedStore::open(&path).unwrap();
        // THEN the pair and both leases are there: b is refused them until they expire
        assert!(store.pair("p1").await.unwrap().is_some());
        let refused = store
            .acquire_leases_free_since(&ids(&["k1", "k2"]), "b", at(1), at(1), ttl())
            .await
            .unwrap();
        assert_eq!(refused, vec![false, false]);
    }

    #[tokio::test]
    async fn embedded_store_ends_the_held_leases_of_one_owner_prefix_only() {
        // GIVEN leases held by two one-process runs (one of them released already), one held
        // by another kind of owner, and one of the prefix that expired long ago
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(&dir.path().join("sync.redb")).unwrap();
        let take = |key: &'static str, owner: &'static str, minute: u32| {
            let store = store.clone();
            async move {
                assert!(
                    store
                        .acquire_lease(key, owner, at(minute), ttl())
                        .await
                        .unwrap()
                );
            }
        };
        take("pair#1", "run-local-a:1", 10).await;
        take("run#default", "run-local-a", 10).await;
        take("pair#2", "run-local-b:2", 10).await;
        store
            .release_lease("pair#2", "run-local-b:2", at(11))
            .await
            .unwrap();
        take("pair#3", "run-20250301T120000Z-lambda:3", 10).await;
        take("pair#4", "run-local-old:4", 0).await;

        // WHEN the leases of `run-local-` owners still held at minute 12 are ended
        let ended = store
            .end_leases_held_by("run-local-", at(12))
            .await
            .unwrap();

        // THEN only the two held ones end: another owner takes them at once, while the other
        // owner's lease is still refused; a reader from before the end still sees them held
        assert_eq!(ended, 2);
        assert!(
            !store
                .acquire_lease_free_since("pair#1", "late", at(11), at(12), ttl())
                .await
                .unwrap()
        );
        for key in ["pair#1", "run#default"] {
            assert!(
                store
                    .acquire_lease(key, "next", at(12), ttl())
                    .await
                    .unwrap()
            );
        }
        assert!(
            !store
                .acquire_lease("pair#3", "next", at(12), ttl())
                .await
                .unwrap()
        );
        // AND nothing is left to end
        assert_eq!(
            store
                .end_leases_held_by("run-local-", at(12))
                .await
                .unwrap(),
            0
        );
    }

    #[tokio::test]
    async fn embedded_store_data_survives_close_and_reopen() {
        // GIVEN a store file with a watermark, a pair, a lease, a conflict and a run
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested").join("dirs").join("sync.redb");
        let p1 = pair("p1", Some("sf-1"), Some("gz-1"));
        let c1 = conflict("c1", INTEGRATION, 1, ConflictStatus::Open);
        let r1 = run("r1", INTEGRATION, Some(1));
        {
            let store = EmbeddedStore::open(&path).unwrap();
            store
                .advance_watermark(INTEGRATION, Side::Salesforce, &mark(10, "a"))
                .await
                .unwrap();
            store.create_pair(&p1).await.unwrap();
            store.save_pair(&p1, 1).await.unwrap();
            assert!(store.acquire_lease(LEASE, "a", at(0), ttl()).await.unwrap());
            store.record_conflict(&c1).await.unwrap();
            store.record_run(&r1).await.unwrap();
        }
        // WHEN the store is closed and the file reopened
        let store = EmbeddedStore::open(&path).unwrap();
        // THEN everything is still there
        assert_eq!(
            store
                .watermark(INTEGRATION, Side::Salesforce)
                .await
                .unwrap(),
            Some(mark(10, "a"))
        );
        let stored = store.pair("p1").await.unwrap().expect("p1");
        assert_eq!(stored.version, 2);
        assert_eq!(stored.base, p1.base);
        let gz = store.links(Side::Genesys, &ids(&["gz-1"])).await.unwrap();
        assert_eq!(gz.get("gz-1").map(String::as_str), Some("p1"));
        assert!(!store.acquire_lease(LEASE, "b", at(1), ttl()).await.unwrap());
        assert_eq!(store.conflicts(INTEGRATION, false).await.unwrap(), vec![c1]);
        assert_eq!(store.runs(INTEGRATION, 10).await.unwrap(), vec![r1]);
    }

    #[test]
    fn embedded_store_open_failure_names_the_path() {
        // GIVEN a path whose parent is a regular file
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("not-a-dir");
        std::fs::write(&blocker, b"x").unwrap();
        let path = blocker.join("sync.redb");
        // WHEN the store is opened there
        let error = EmbeddedStore::open(&path).unwrap_err();
        // THEN it is a permanent error naming the path
        assert!(matches!(error, StoreError::Permanent(_)), "{error:?}");
        assert!(
            error.to_string().contains(&blocker.display().to_string()),
            "{error}"
        );
    }

    #[test]
    fn embedded_store_refuses_a_file_that_is_not_a_store() {
        // GIVEN a file with other content
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notes.txt");
        std::fs::write(&path, b"these are not the bytes you are looking for").unwrap();
        // WHEN it is opened as a store
        let error = EmbeddedStore::open(&path).unwrap_err();
        // THEN the error names the file
        assert!(error.to_string().contains("notes.txt"), "{error}");
    }
}
