//! End-to-end under faults: every fault the simulators inject, through the one-process cycle.
//! Each test shows that no record is lost, none is duplicated, and the run's summary says what
//! happened.

use contact_sync_connectors::{GenesysConfig, SalesforceConfig};
use contact_sync_e2e::World;
use contact_sync_engine::mapping::Mapping;
use contact_sync_pipeline::poll::{WatermarkAdvance, poll};
use contact_sync_pipeline::reconcile::reconcile;
use contact_sync_pipeline::store::SyncStore;
use contact_sync_simulators::{Fault, GenesysSimConfig, SalesforceSimConfig};
use serde_json::json;
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// 30 people in Salesforce only and 20 in Genesys only, all with distinct emails.
fn seed(w: &World) -> (Vec<String>, Vec<String>) {
    let sf = (0..30)
        .map(|i| {
            w.sf.insert(json!({"FirstName": format!("S{i}"), "LastName": format!("Sf{i}"), "Email": format!("sf{i}@example.com")}))
        })
        .collect();
    let gz = (0..20)
        .map(|i| {
            w.gz.insert(json!({"firstName": format!("G{i}"), "lastName": format!("Gz{i}"), "workEmail": format!("gz{i}@example.org")}))
        })
        .collect();
    (sf, gz)
}

/// Both sides hold exactly the 50 people once, and every Genesys contact links to a live
/// Salesforce record.
fn assert_converged(w: &World) {
    let sf = w.sf.all();
    let gz = w.gz.all();
    assert_eq!(sf.len(), 50, "Salesforce holds each person once");
    assert_eq!(gz.len(), 50, "Genesys holds each person once");
    let sf_emails: HashSet<String> = sf
        .iter()
        .filter_map(|c| c["Email"].as_str())
        .map(str::to_lowercase)
        .collect();
    assert_eq!(sf_emails.len(), 50, "no duplicate email in Salesforce");
    let sf_ids: HashSet<&str> = sf.iter().filter_map(|c| c["Id"].as_str()).collect();
    let links: Vec<&str> = gz
        .iter()
        .filter_map(|c| c["externalIds"].as_array())
        .filter_map(|ids| ids.first())
        .filter_map(|e| e["value"].as_str())
        .collect();
    assert_eq!(links.len(), 50, "every Genesys contact is linked");
    assert_eq!(
        links.iter().copied().collect::<HashSet<_>>(),
        sf_ids,
        "one Genesys contact per Salesforce record"
    );
}

async fn world(
    gz_config: GenesysSimConfig,
    tune: impl FnOnce(&mut SalesforceConfig, &mut GenesysConfig),
) -> World {
    World::build(
        Mapping::default_mapping(),
        SalesforceSimConfig::default(),
        gz_config,
        tune,
    )
    .await
}

fn no_client_limit(_: &mut SalesforceConfig, gz: &mut GenesysConfig) {
    gz.requests_per_minute = None;
}

#[tokio::test]
async fn a_429_with_retry_after_is_waited_out_and_nothing_is_written_twice() {
    // GIVEN 50 people to sync, and Genesys answering the first bulk add with 429 Retry-After: 1
    let w = world(GenesysSimConfig::default(), no_client_limit).await;
    seed(&w);
    w.gz.inject(Fault::Status {
        path_contains: "/bulk/contacts/add".into(),
        status: 429,
        times: 1,
        retry_after_secs: Some(1),
    });
    // WHEN one cycle runs
    let started = Instant::now();
    let outcome = w.sync().await;
    // THEN it waited for Retry-After, then created everyone exactly once
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_converged(&w);
    assert_eq!(outcome.stats.created.genesys, 30);
    assert_eq!(outcome.stats.created.salesforce, 20);
    assert_eq!(outcome.stats.failed, 0);
    // AND the add was sent twice (the 429 and its retry), not more
    assert_eq!(w.gz.counters().by_route["POST /bulk/contacts/add"], 2);
}

#[tokio::test]
async fn server_errors_on_reads_are_retried_and_a_500_on_a_create_is_not_repeated_blindly() {
    // GIVEN 50 people, Salesforce failing its first query with 503 and its first create with
    // 500 (a create whose fate is unknown must not be sent again in the same call)
    let w = world(GenesysSimConfig::default(), no_client_limit).await;
    seed(&w);
    w.sf.inject(Fault::Status {
        path_contains: "/query".into(),
        status: 503,
        times: 1,
        retry_after_secs: None,
    });
    w.sf.inject(Fault::Status {
        path_contains: "/composite/sobjects".into(),
        status: 500,
        times: 1,
        retry_after_secs: None,
    });
    // WHEN one cycle runs
    let first = w.sync().await;
    // THEN the read succeeded after a retry, the Salesforce creates failed as a whole and are
    // pending, the Genesys creates went through
    assert_eq!(first.stats.created.genesys, 30);
    assert_eq!(first.stats.created.salesforce, 0);
    assert_eq!(first.stats.failed, 20);
    assert_eq!(w.sf.all().len(), 30);
    // WHEN the next cycle runs without faults
    let second = w.sync().await;
    // THEN the pending people are created once and both sides converge
    assert_eq!(second.stats.created.salesforce, 20);
    assert_eq!(second.stats.failed, 0);
    assert_converged(&w);
}

#[tokio::test]
async fn a_slow_read_times_out_and_is_retried() {
    // GIVEN 50 people, a 1 s client timeout, and a Genesys scan page that answers in 3 s
    let w = world(GenesysSimConfig::default(), |_, gz| {
        gz.requests_per_minute = None;
        gz.timeout = Duration::from_secs(1);
    })
    .await;
    seed(&w);
    w.gz.inject(Fault::Delay {
        path_contains: "/scan/contacts".into(),
        millis: 3_000,
        times: 1,
    });
    // WHEN one cycle runs
    let outcome = w.sync().await;
    // THEN the timed-out page was read again and everyone converged in one run
    assert_eq!(outcome.stats.failed, 0);
    assert_converged(&w);
    assert!(w.gz.counters().by_route["GET /scan/contacts"] >= 2);
}

#[tokio::test]
async fn a_create_that_times_out_is_not_duplicated_by_the_next_run() {
    // GIVEN 30 Salesforce-only people, a 1 s client timeout, and a Genesys bulk add that is
    // processed but answered after 2 s (the client gives up; the contacts exist)
    let w = world(GenesysSimConfig::default(), |_, gz| {
        gz.requests_per_minute = None;
        gz.timeout = Duration::from_secs(1);
    })
    .await;
    seed(&w);
    w.gz.inject(Fault::SlowAnswer {
        path_contains: "/bulk/contacts/add".into(),
        millis: 2_000,
        times: 1,
    });
    // WHEN a cycle runs, the server finishes the add, and another cycle runs
    let first = w.sync().await;
    let adds = w.gz.counters().by_route["POST /bulk/contacts/add"];
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let second = w.sync().await;
    // THEN the first run reports the adds as failed (outcome unknown) without resending them
    assert_eq!(first.stats.created.genesys, 0);
    assert!(first.stats.failed >= 30, "{:?}", first.stats);
    assert_eq!(adds, 1);
    // AND the second links the contacts the timed-out call created instead of adding them again
    assert_eq!(second.stats.created.genesys, 0, "{:?}", second.stats);
    assert_eq!(second.stats.failed, 0);
    assert_converged(&w);
}

#[tokio::test]
async fn a_redelivered_batch_adopts_the_genesys_contacts_an_unanswered_create_made() {
    // GIVEN 30 Salesforce-only people (and 20 Genesys-only), a 1 s client timeout, and a
    // Genesys bulk add that is processed but answered after 2 s (the contacts exist, the
    // reconciler never hears of them)
    let w = world(GenesysSimConfig::default(), |_, gz| {
        gz.requests_per_minute = None;
        gz.timeout = Duration::from_secs(1);
    })
    .await;
    seed(&w);
    w.gz.inject(Fault::SlowAnswer {
        path_contains: "/bulk/contacts/add".into(),
        millis: 2_000,
        times: 1,
    });
    // WHEN a poll enqueues the batches (the way the Lambdas run), each is reconciled, the
    // server finishes the add, and every batch is delivered again before any other poll
    poll(&w.integration, "run-adopt", WatermarkAdvance::AfterEnqueue)
        .await
        .expect("poll");
    let mut batches = Vec::new();
    while let Some(batch) = w.queue.next_batch() {
        batches.push(batch);
    }
    for batch in &batches {
        let _ = reconcile(&w.integration, batch).await;
    }
    assert_eq!(w.gz.counters().by_route["POST /bulk/contacts/add"], 1);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let mut created_again = 0;
    for batch in &batches {
        let again = reconcile(&w.integration, batch).await.expect("redelivery");
        created_again += again.stats.created.genesys;
    }
    // THEN the redelivery creates nothing in Genesys: it looks each reserved pair's Salesforce
    // Id up (identifier lookup) and adopts the contact the unanswered add made
    assert_eq!(created_again, 0);
    assert_eq!(w.gz.counters().by_route["POST /bulk/contacts/add"], 1);
    assert!(w.gz.counters().by_route["POST /identifierlookup/contacts"] >= 30);
    // AND a full cycle after it leaves every person once on each side, linked
    w.sync().await;
    assert_converged(&w);
}

#[tokio::test]
async fn tokens_expiring_between_runs_and_mid_run_are_renewed_once() {
    // GIVEN a first sync (tokens are cached), then every token of both systems expiring
    let w = world(GenesysSimConfig::default(), no_client_limit).await;
    seed(&w);
    w.sync().await;
    w.sf.inject(Fault::ExpireTokens);
    w.gz.inject(Fault::ExpireTokens);
    w.reset_counters();
    // WHEN the next cycle runs
    let outcome = w.sync().await;
    // THEN each system was asked for exactly one new token and the run is clean
    assert_eq!(w.sf.counters().auth, 1);
    assert_eq!(w.gz.counters().auth, 1);
    assert_eq!(outcome.stats.failed, 0);
    assert_converged(&w);
}

#[tokio::test]
async fn a_record_refused_by_validation_fails_alone_and_syncs_once_fixed() {
    // GIVEN 50 people, a Salesforce validation rule refusing one Genesys-only person and
    // Genesys refusing one Salesforce-only person
    let w = world(GenesysSimConfig::default(), no_client_limit).await;
    let (sf_ids, _) = seed(&w);
    w.sf.inject(Fault::RejectRecord {
        id: "gz7@example.org".into(),
    });
    w.gz.inject(Fault::RejectRecord {
        id: sf_ids[3].clone(),
    });
    // WHEN one cycle runs
    let first = w.sync().await;
    // THEN only those two were refused (permanent errors wait for a person: review), everyone
    // else was created
    assert_eq!(first.stats.review, 2, "{:?}", first.stats);
    assert_eq!(first.stats.failed, 0);
    assert_eq!(first.stats.created.genesys, 29);
    assert_eq!(first.stats.created.salesforce, 19);
    // WHEN the rules are lifted, a person corrects both records, and the next cycle runs
    w.sf.clear_faults();
    w.gz.clear_faults();
    w.sf.edit(&sf_ids[3], json!({"Title": "Checked"}));
    let gz7 =
        w.gz.all()
            .into_iter()
            .find(|c| c["workEmail"] == "gz7@example.org")
            .and_then(|c| c["id"].as_str().map(str::to_owned))
            .expect("gz7");
    w.gz.edit(&gz7, json!({"title": "Checked"}));
    let second = w.sync().await;
    // THEN the two are created once and both sides converge
    assert_eq!(second.stats.created.total(), 2, "{:?}", second.stats);
    assert_eq!(second.stats.failed, 0);
    assert_converged(&w);
}

#[tokio::test]
async fn bulk_requests_over_the_size_limit_are_split_until_they_fit() {
    // GIVEN a Genesys org refusing request bodies over 3,000 bytes with 413, while the client
    // believes the limit is 500,000 bytes
    let w = world(
        GenesysSimConfig {
            max_request_bytes: 3_000,
            ..GenesysSimConfig::default()
        },
        no_client_limit,
    )
    .await;
    seed(&w);
    // WHEN one cycle runs
    let outcome = w.sync().await;
    // THEN the adds were split (more than one call) and everyone was created once
    assert_eq!(outcome.stats.failed, 0);
    assert_eq!(outcome.stats.created.genesys, 30);
    assert!(w.gz.counters().by_route["POST /bulk/contacts/add"] > 1);
    assert_converged(&w);
}

#[tokio::test]
async fn the_genesys_rate_limit_is_kept_without_a_single_429() {
    // GIVEN a Genesys org enforcing 120 requests per minute per token, a client limited to the
    // same, and 250 Salesforce-only people (several bulk calls each way)
    let w = world(
        GenesysSimConfig {
            rate_limit_per_minute: Some(120),
            ..GenesysSimConfig::default()
        },
        |_, gz| gz.requests_per_minute = std::num::NonZeroU32::new(120),
    )
    .await;
    for i in 0..250 {
        w.sf.insert(json!({"LastName": format!("L{i}"), "Email": format!("p{i}@example.com")}));
    }
    // WHEN one cycle runs
    let started = Instant::now();
    let outcome = w.sync().await;
    // THEN every request was admitted (no 429), spaced at 2 per second
    let counters = w.gz.counters();
    assert_eq!(counters.rate_limited, 0);
    let api_calls = counters.total - counters.auth;
    let min = Duration::from_millis(500) * (api_calls.saturating_sub(1) as u32);
    assert!(
        started.elapsed() >= min,
        "{api_calls} calls in {:?}",
        started.elapsed()
    );
    assert_eq!(outcome.stats.created.genesys, 250);
    assert_eq!(w.gz.all().len(), 250);
}

#[tokio::test]
async fn an_initial_sync_against_a_genesys_org_capped_at_50_creates_everything_and_remembers_it() {
    // GIVEN 1,000 Salesforce-only people and a Genesys org that refuses any bulk request of
    // more than 50 entities as a whole, while the client starts at its default (100)
    let w = world(
        GenesysSimConfig {
            max_bulk_entities: 50,
            ..GenesysSimConfig::default()
        },
        no_client_limit,
    )
    .await;
    w.sf.insert_numbered(1_000);
    // WHEN the first run syncs them
    let first = w.sync().await;
    // THEN every person is created in Genesys once, nothing is refused or pending
    assert_eq!(first.stats.created.genesys, 1_000);
    assert_eq!(first.stats.refused.total(), 0);
    assert_eq!(first.stats.failed, 0);
    assert_eq!(w.gz.all().len(), 1_000);
    assert_eq!(w.open_conflicts().await, 0);
    // AND one request was refused: the learned step 100 → 50
    assert_eq!(w.gz.counters().over_record_cap, 1);
    // AND the learned size is in the store
    let stored = w
        .store
        .bulk_limit(&w.integration.name, contact_sync_engine::Side::Genesys)
        .await
        .expect("store");
    assert_eq!(stored, Some(50));

    // GIVEN a later run: new clients (a new process) over the same store, and 120 people
    // edited in Salesforce
    let integration = w.reconnect(no_client_limit);
    let ids: Vec<String> =
        w.sf.all()
            .iter()
            .take(120)
            .filter_map(|c| c["Id"].as_str().map(str::to_owned))
            .collect();
    for id in &ids {
        w.sf.edit(id, json!({"Title": "Edited"}));
    }
    w.wait_past_stamps().await;
    w.reset_counters();
    // WHEN it runs
    let second = w.sync_with(&integration).await;
    // THEN the 120 updates land with no refused request: the run started at 50
    assert_eq!(second.stats.updated.genesys, 120);
    assert_eq!(second.stats.failed, 0);
    assert_eq!(second.stats.refused.total(), 0);
    assert_eq!(w.gz.counters().over_record_cap, 0);
    assert!(w.gz.counters().by_route["POST /bulk/contacts/update"] >= 3);
}
