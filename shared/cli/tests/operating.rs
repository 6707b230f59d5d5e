//! The use cases behind the operator's commands, end to end over both simulators: limited and
//! interrupted runs, full and windowed reads, dry runs, and the review decisions.

mod common;

use contact_sync_e2e::World;
use contact_sync_engine::Side;
use contact_sync_engine::mapping::{DEFAULT_MAPPING_YAML, Mapping};
use contact_sync_pipeline::cycle::{CycleEnd, CycleOptions, Progress, dry_run, run_cycle_with};
use contact_sync_pipeline::notify::LogAlerter;
use contact_sync_pipeline::review::{ReviewDecision, ReviewError, decide};
use contact_sync_pipeline::run_store::ReadFrom;
use contact_sync_pipeline::store::{ConflictKind, ConflictStatus, PairStatus, SyncStore};
use contact_sync_pipeline::system::Watermark;
use contact_sync_simulators::SalesforceSimConfig;
use serde_json::json;
use std::time::Duration;

async fn tick() {
    tokio::time::sleep(Duration::from_millis(15)).await;
}

/// A world whose reconcile batches hold `batch` pairs.
async fn world(extra_yaml: &str, batch: usize) -> World {
    let mapping =
        Mapping::from_yaml(&format!("{extra_yaml}\n{DEFAULT_MAPPING_YAML}"), "test").expect("map");
    let mut w = World::with(mapping, SalesforceSimConfig::default()).await;
    w.integration.settings.batch_size = batch;
    w
}

fn people(w: &World, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            w.sf.insert(
                json!({"LastName": format!("Person {i}"), "Email": format!("p{i}@example.com")}),
            )
        })
        .collect()
}

async fn run(w: &World, options: &CycleOptions) -> contact_sync_pipeline::cycle::CycleOutcome {
    run_cycle_with(&w.integration, &w.queue, &LogAlerter, options, |_| {})
        .await
        .expect("cycle")
}

async fn watermarks(w: &World) -> [Option<Watermark>; 2] {
    let name = &w.integration.name;
    [
        w.store.watermark(name, Side::Salesforce).await.expect("wm"),
        w.store.watermark(name, Side::Genesys).await.expect("wm"),
    ]
}

#[tokio::test]
async fn a_limited_run_writes_at_most_n_pairs_and_the_next_runs_finish_without_loss() {
    // GIVEN 25 Salesforce contacts, batches of 7 pairs
    let w = world("", 7).await;
    people(&w, 25);
    let limited = CycleOptions {
        limit: Some(10),
        ..CycleOptions::default()
    };

    // WHEN a run limited to 10 pairs runs
    let first = run(&w, &limited).await;

    // THEN exactly 10 contacts are created, the other 15 are left, and no watermark moved
    assert_eq!(first.stats.created.genesys, 10);
    assert_eq!(first.stats.left, 15);
    assert_eq!(first.end, CycleEnd::Limited);
    assert_eq!(watermarks(&w).await, [None, None]);
    let runs = w.store.runs(&w.integration.name, 1).await.expect("runs");
    assert_eq!(runs[0].summary["end"], "limited");

    // WHEN two more limited runs follow
    let second = run(&w, &limited).await;
    let third = run(&w, &limited).await;

    // THEN each makes progress (the pairs done before are unchanged and free), the last one
    // completes and moves the watermarks, and every contact exists once in Genesys
    assert_eq!(second.stats.created.genesys, 10);
    assert_eq!(second.stats.unchanged, 10);
    assert_eq!(third.stats.created.genesys, 5);
    assert_eq!(third.end, CycleEnd::Completed);
    assert!(watermarks(&w).await.iter().all(Option::is_some));
    assert_eq!(w.gz.all().len(), 25);
}

#[tokio::test]
async fn an_interrupted_run_stops_between_batches_and_the_next_run_finishes_the_work() {
    // GIVEN 30 Salesforce contacts in batches of 5, and a stop requested after two batches
    let w = world("", 5).await;
    people(&w, 30);
    let options = CycleOptions::default();
    let stop = options.stop.clone();

    // WHEN the run is stopped (as Ctrl-C does) once two batches are done
    let outcome = run_cycle_with(&w.integration, &w.queue, &LogAlerter, &options, |p| {
        if p == (Progress::Batch {
            pairs: 10,
            batches: 2,
        }) {
            stop.cancel();
        }
    })
    .await
    .expect("cycle");

    // THEN the two batches are written, the rest is left untouched, the run is recorded as
    // interrupted, and the watermarks did not move
    assert_eq!(outcome.end, CycleEnd::Interrupted);
    assert_eq!(outcome.stats.created.genesys, 10);
    assert_eq!(outcome.stats.left, 20);
    assert_eq!(w.gz.all().len(), 10);
    let runs = w.store.runs(&w.integration.name, 1).await.expect("runs");
    assert_eq!(runs[0].summary["end"], "interrupted");
    assert_eq!(watermarks(&w).await, [None, None]);

    // WHEN the next run starts
    let next = run(&w, &CycleOptions::default()).await;

    // THEN it creates the 20 that were left, re-checks the 10 done, and creates no duplicate
    assert_eq!(next.end, CycleEnd::Completed);
    assert_eq!(next.stats.created.genesys, 20);
    assert_eq!(next.stats.unchanged, 10);
    assert_eq!(w.gz.all().len(), 30);
    assert!(watermarks(&w).await.iter().all(Option::is_some));
}

#[tokio::test]
async fn full_and_windowed_reads_recheck_past_changes_and_never_move_watermarks_back() {
    // GIVEN three synced contacts (their creation stamps behind real time when the first run
    // reads them, as a real system's are: see `World::wait_past_stamps`)
    let w = world("", 200).await;
    people(&w, 3);
    w.wait_past_stamps().await;
    run(&w, &CycleOptions::default()).await;
    w.reset_counters();

    // WHEN an incremental (which reads back the run's own Genesys creates), a windowed (last
    // day) and a full run follow, with nothing edited
    let incremental = run(&w, &CycleOptions::default()).await;
    let before = watermarks(&w).await;
    let window = CycleOptions {
        read_from: ReadFrom::Since(chrono::Utc::now() - chrono::Duration::days(1)),
        ..CycleOptions::default()
    };
    let windowed = run(&w, &window).await;
    let full = run(
        &w,
        &CycleOptions {
            read_from: ReadFrom::Start,
            ..CycleOptions::default()
        },
    )
    .await;

    // THEN the incremental run sees no Salesforce change, the other two see all three again
    // and find them in sync; nothing is written, and no watermark moved back
    assert_eq!(incremental.stats.changed.salesforce, 0);
    assert_eq!(windowed.stats.changed.salesforce, 3);
    assert_eq!(full.stats.changed.salesforce, 3);
    assert_eq!(full.stats.changed.genesys, 3);
    assert_eq!(windowed.stats.unchanged + full.stats.unchanged, 6);
    assert_eq!(w.sf.counters().writes + w.gz.counters().writes, 0);
    // (a watermark capped at an earlier read's start may move forward to the records it
    // re-read, never back)
    let after = watermarks(&w).await;
    for (after, before) in after.iter().zip(&before) {
        assert!(after >= before, "{after:?} < {before:?}");
    }
}

/// Everything the store says about a world's records, for before/after comparisons.
async fn store_state(w: &World, sf_ids: &[String], gz_ids: &[String]) -> String {
    common::store_dump(&*w.store, &w.integration.name, sf_ids, gz_ids).await
}

#[tokio::test]
async fn a_dry_run_plans_every_pair_with_reasons_and_writes_nothing_anywhere() {
    // GIVEN a synced pair, then an edit on each side, a new Salesforce contact, a Genesys
    // contact two Salesforce contacts match (ambiguous), and a limit of 1 write
    let w = world("", 200).await;
    let ana =
        w.sf.insert(json!({"LastName": "Lopez", "Email": "ana@example.com", "Title": "Agent"}));
    run(&w, &CycleOptions::default()).await;
    let ana_gz = w.genesys_linked_to(&ana)[0]["id"]
        .as_str()
        .expect("gz")
        .to_string();
    tick().await;
    w.sf.edit(&ana, json!({"Title": "Lead"}));
    w.gz.edit(&ana_gz, json!({"lastName": "Lopez-Garcia"}));
    let ben =
        w.sf.insert(json!({"LastName": "Okafor", "Email": "ben@example.com"}));
    w.sf.insert(json!({"LastName": "Twin A", "Email": "twin@example.com"}));
    w.sf.insert(json!({"LastName": "Twin B", "Email": "twin@example.com"}));
    let twin =
        w.gz.insert(json!({"lastName": "Twin", "workEmail": "twin@example.com"}));
    let sf_ids: Vec<String> =
        w.sf.all()
            .iter()
            .map(|c| c["Id"].as_str().expect("id").to_string())
            .collect();
    let gz_ids = vec![ana_gz.clone(), twin.clone()];
    let before = store_state(&w, &sf_ids, &gz_ids).await;
    w.reset_counters();

    // WHEN a dry run plans the next cycle, then a limited one
    let plan = dry_run(&w.integration, &CycleOptions::default(), |_| {})
        .await
        .expect("dry run");
    let limited = dry_run(
        &w.integration,
        &CycleOptions {
            limit: Some(1),
            ..CycleOptions::default()
        },
        |_| {},
    )
    .await
    .expect("dry run");

    // THEN both systems received reads only, and the store is exactly as it was
    assert_eq!(w.sf.counters().writes, 0);
    assert_eq!(w.gz.counters().writes, 0);
    assert!(w.sf.counters().reads > 0 && w.gz.counters().reads > 0);
    assert_eq!(store_state(&w, &sf_ids, &gz_ids).await, before);
    // AND Ana's pair shows each field's action and reason, Ben a create, the twin a review
    let ana_plan = plan
        .pairs
        .iter()
        .find(|p| p.sf_id.as_deref() == Some(&ana))
        .expect("ana planned");
    let text = ana_plan.plan.to_string();
    assert!(
        text.starts_with("update; update salesforce; update genesys"),
        "{text}"
    );
    assert!(
        text.contains("title: changed on salesforce; copied to genesys"),
        "{text}"
    );
    assert!(
        text.contains("last_name: changed on genesys; copied to salesforce"),
        "{text}"
    );
    assert!(
        !text.contains("Lead") && !text.contains("Garcia"),
        "no values: {text}"
    );
    let ben_plan = plan
        .pairs
        .iter()
        .find(|p| p.sf_id.as_deref() == Some(&ben))
        .expect("ben planned");
    assert_eq!(ben_plan.pair_id, None);
    assert!(ben_plan.plan.to_string().starts_with("create on genesys"));
    assert_eq!(plan.stats.created.genesys, 1);
    assert_eq!(plan.stats.updated.salesforce, 1);
    assert!(
        plan.review_items
            .iter()
            .any(|c| c.gz_id.as_deref() == Some(twin.as_str())
                && matches!(c.kind, ConflictKind::AmbiguousMatch { .. }))
    );
    // AND the limited plan stops after one pair that writes
    assert_eq!(limited.end, CycleEnd::Limited);
    assert_eq!(limited.stats.left, 1);
    assert_eq!(limited.pairs.len(), 1);
}

/// The open ambiguous-match item about one record.
async fn ambiguous_item(w: &World, record: &str) -> contact_sync_pipeline::store::ConflictRecord {
    let open = w
        .store
        .conflicts(&w.integration.name, true)
        .await
        .expect("open");
    open.into_iter()
        .find(|c| {
            matches!(c.kind, ConflictKind::AmbiguousMatch { .. })
                && (c.sf_id.as_deref() == Some(record) || c.gz_id.as_deref() == Some(record))
                && c.pair_id.is_none()
        })
        .unwrap_or_else(|| panic!("no ambiguous item for {record}"))
}

#[tokio::test]
async fn an_ambiguous_match_is_linked_to_the_chosen_candidate_or_created_or_dismissed() {
    // GIVEN three ambiguous Salesforce records: each shares its email with two Genesys contacts
    let w = world("", 200).await;
    let mut cases = Vec::new();
    for name in ["link", "create", "dismiss"] {
        let email = format!("{name}@example.com");
        let sf = w.sf.insert(json!({"LastName": name, "Email": email}));
        let one =
            w.gz.insert(json!({"lastName": format!("{name} one"), "workEmail": email}));
        let two =
            w.gz.insert(json!({"lastName": format!("{name} two"), "personalEmail": email}));
        cases.push((sf, one, two));
    }
    run(&w, &CycleOptions::default()).await;
    assert_eq!(w.sf.all().len(), 3, "nothing created for ambiguous records");
    let now = chrono::Utc::now();
    let name = w.integration.name.clone();
    let [
        (link_sf, link_one, link_two),
        (create_sf, ..),
        (dismiss_sf, ..),
    ] = &cases[..]
    else {
        unreachable!()
    };

    // WHEN a person links the first to its first candidate, creates the second as new, and
    // dismisses the third; and tries a record that is not a candidate
    let link_item = ambiguous_item(&w, link_sf).await;
    let wrong = decide(
        &*w.store,
        &name,
        &link_item.id,
        ReviewDecision::Link("nobody".into()),
        now,
    )
    .await;
    let linked = decide(
        &*w.store,
        &name,
        &link_item.id,
        ReviewDecision::Link(link_one.clone()),
        now,
    )
    .await
    .expect("link");
    let create_item = ambiguous_item(&w, create_sf).await;
    let created = decide(
        &*w.store,
        &name,
        &create_item.id,
        ReviewDecision::CreateNew,
        now,
    )
    .await
    .expect("create new");
    let dismiss_item = ambiguous_item(&w, dismiss_sf).await;
    decide(
        &*w.store,
        &name,
        &dismiss_item.id,
        ReviewDecision::Dismiss,
        now,
    )
    .await
    .expect("dismiss");
    let again = decide(
        &*w.store,
        &name,
        &dismiss_item.id,
        ReviewDecision::Dismiss,
        now,
    )
    .await;
    w.reset_counters();
    // (a full read: every record is seen again, as a re-read or a later edit would)
    let next = run(
        &w,
        &CycleOptions {
            read_from: ReadFrom::Start,
            ..CycleOptions::default()
        },
    )
    .await;

    // THEN a wrong candidate and a second decision are refused; the linked record now carries
    // its Genesys contact's link (no create), the new one got a twin, the dismissed one none
    assert!(
        matches!(wrong, Err(ReviewError::NotACandidate { .. })),
        "{wrong:?}"
    );
    assert!(matches!(again, Err(ReviewError::Closed(_))), "{again:?}");
    assert_eq!(w.genesys_linked_to(link_sf).len(), 1);
    assert_eq!(w.genesys_linked_to(link_sf)[0]["id"], link_one.as_str());
    assert!(w.genesys_linked_to(link_two).is_empty());
    assert_eq!(w.genesys_linked_to(create_sf).len(), 1);
    assert!(w.genesys_linked_to(dismiss_sf).is_empty());
    assert_eq!(next.stats.created.genesys, 1);
    assert!(linked.pair_id.is_some() && created.pair_id.is_some());
    // AND each decision is audited and its item closed
    for (item, policy) in [
        (&link_item, "link"),
        (&create_item, "create_new"),
        (&dismiss_item, "dismissed"),
    ] {
        let audit = w
            .store
            .conflict(&format!("{}#{policy}", item.id))
            .await
            .expect("read")
            .expect("audited");
        assert_eq!(audit.status, ConflictStatus::Closed);
        let closed = w
            .store
            .conflict(&item.id)
            .await
            .expect("read")
            .expect("item");
        assert_eq!(closed.status, ConflictStatus::Closed);
    }
}

/// 25 synced contacts under `propagate` with a breaker at 5, 10 of them deleted in Salesforce
/// and held by the next run; returns the world, the Salesforce ids and the held item's id.
async fn ten_deletes_held() -> (World, Vec<String>, String) {
    let w = world("deletes: {policy: propagate, breaker: {max_count: 5}}", 200).await;
    let ids = people(&w, 25);
    run(&w, &CycleOptions::default()).await;
    for id in &ids[..10] {
        w.sf.delete(id);
    }
    run(&w, &CycleOptions::default()).await;
    assert_eq!(w.gz.all().len(), 25, "held");
    let held = w
        .store
        .conflicts(&w.integration.name, true)
        .await
        .expect("open")
        .into_iter()
        .find(|c| matches!(c.kind, ConflictKind::DeletesHeld { count: 10, .. }))
        .expect("held item");
    (w, ids, held.id)
}

#[tokio::test]
async fn held_deletes_kept_by_a_person_are_unlinked_by_the_next_run() {
    // GIVEN ten deletes held by the breaker
    let (w, ids, held) = ten_deletes_held().await;
    let name = w.integration.name.clone();
    let now = chrono::Utc::now();

    // WHEN a person keeps them (unlink instead of delete) and the next run follows
    let wrong = decide(&*w.store, &name, &held, ReviewDecision::CreateNew, now).await;
    decide(&*w.store, &name, &held, ReviewDecision::Keep, now)
        .await
        .expect("keep");
    let pending = contact_sync_pipeline::review::pending_delete_decisions(&*w.store, &name)
        .await
        .expect("pending");
    let applied = run(&w, &CycleOptions::default()).await;

    // THEN only release/keep fit held deletes; the run unlinks all ten and deletes nothing;
    // the decision waited open and is closed once applied
    assert!(
        matches!(wrong, Err(ReviewError::WrongDecision { .. })),
        "{wrong:?}"
    );
    assert_eq!(pending.len(), 1);
    assert_eq!(applied.stats.unlinked, 10);
    assert_eq!(applied.stats.deleted.genesys, 0);
    assert_eq!(w.gz.all().len(), 25);
    let decision = w
        .store
        .conflict(&pending[0].id)
        .await
        .expect("read")
        .expect("decision");
    assert_eq!(decision.status, ConflictStatus::Closed);
    let links = w
        .store
        .links(Side::Salesforce, &ids[..10])
        .await
        .expect("links");
    assert_eq!(links.len(), 10);
    for pair_id in links.values() {
        let pair = w.store.pair(pair_id).await.expect("read").expect("pair");
        assert_eq!(pair.status, PairStatus::Unlinked);
    }
}

#[tokio::test]
async fn held_deletes_released_by_a_person_are_applied_by_the_next_run_only() {
    // GIVEN ten deletes held by the breaker
    let (w, ids, held) = ten_deletes_held().await;
    let name = w.integration.name.clone();

    // WHEN a person releases them and the next run follows
    decide(
        &*w.store,
        &name,
        &held,
        ReviewDecision::Release,
        chrono::Utc::now(),
    )
    .await
    .expect("release");
    let applied = run(&w, &CycleOptions::default()).await;

    // THEN the ten Genesys twins are deleted in that run
    assert_eq!(applied.stats.deleted.genesys, 10);
    assert_eq!(w.gz.all().len(), 15);

    // WHEN ten more are deleted afterwards, and three of their Genesys twins are edited (so
    // the poll also reaches those pairs through a change, in a batch the breaker alone would
    // let through)
    for id in &ids[10..20] {
        w.sf.delete(id);
    }
    for id in &ids[10..13] {
        let twin = w.genesys_linked_to(id)[0]["id"]
            .as_str()
            .expect("twin")
            .to_string();
        w.gz.edit(&twin, json!({"title": "Edited"}));
    }
    let after = run(&w, &CycleOptions::default()).await;

    // THEN the release was for one run only: the breaker holds them again, all of them, and a
    // new open item says so (the settled one stays closed)
    assert_eq!(after.stats.deleted.genesys, 0);
    assert_eq!(w.gz.all().len(), 15);
    let open_holds = w
        .store
        .conflicts(&name, true)
        .await
        .expect("open")
        .into_iter()
        .filter(|c| {
            matches!(c.kind, ConflictKind::DeletesHeld { .. }) && c.policy == "delete_breaker"
        })
        .count();
    assert_eq!(open_holds, 1);
}
