//! Integration tests of `SalesforceSystem` against the Salesforce simulator.

use contact_sync_connectors::{SalesforceConfig, SalesforceSystem, Secret};
use contact_sync_pipeline::system::{
    ContactReader, ContactWriter, CreateRequest, RawRecord, SystemError, UpdateRequest, Watermark,
};
use contact_sync_simulators::{Fault, SalesforceSim, SalesforceSimConfig};
use serde_json::json;
use std::collections::HashSet;
use std::time::{Duration, Instant};

async fn sim() -> SalesforceSim {
    SalesforceSim::start(SalesforceSimConfig::default())
        .await
        .expect("simulator starts")
}

fn config(sim: &SalesforceSim) -> SalesforceConfig {
    let mut cfg = SalesforceConfig::new(sim.url(), sim.client_id(), sim.client_secret());
    cfg.fields = vec!["FirstName".into(), "LastName".into(), "Email".into()];
    cfg.timeout = Duration::from_secs(10);
    cfg
}

fn system(sim: &SalesforceSim) -> SalesforceSystem {
    SalesforceSystem::new(config(sim)).expect("valid config")
}

fn route(sim: &SalesforceSim, key: &str) -> u64 {
    sim.counters().by_route.get(key).copied().unwrap_or(0)
}

async fn read_all(sys: &SalesforceSystem, since: Option<&Watermark>) -> Vec<RawRecord> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = sys.read_changes(since, cursor).await.expect("page");
        out.extend(page.records);
        match page.next {
            Some(next) => cursor = Some(next),
            None => return out,
        }
    }
}

fn new_contact(i: usize) -> serde_json::Value {
    json!({
        "attributes": {"type": "Contact"},
        "FirstName": format!("First{i}"),
        "LastName": format!("Last{i}"),
        "Email": format!("person{i}@example.com"),
    })
}

#[tokio::test]
async fn authenticates_once_and_reads_4500_contacts_across_pages() {
    // GIVEN an org with 4,500 contacts (pages of 2,000)
    let sim = sim().await;
    for i in 0..4_500 {
        sim.insert(json!({"LastName": format!("Last{i}"), "Email": format!("p{i}@example.com")}));
    }
    let sys = system(&sim);
    // WHEN the system is prepared and every change page is read
    let facts = sys.prepare().await.expect("prepare");
    let records = read_all(&sys, None).await;
    // THEN the instance URL is known, all 4,500 arrive once, in (stamp, id) order
    assert_eq!(
        facts.instance_url.as_deref(),
        Some(sim.url().trim_end_matches('/'))
    );
    assert_eq!(records.len(), 4_500);
    let ids: HashSet<&str> = records.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids.len(), 4_500);
    assert!(
        records
            .windows(2)
            .all(|w| (w[0].modified_at, &w[0].id) < (w[1].modified_at, &w[1].id))
    );
    assert_eq!(records[0].body["attributes"]["type"], "Contact");
    // AND it took one token request, one query and two nextRecordsUrl pages
    let c = sim.counters();
    assert_eq!(c.auth, 1);
    assert_eq!(route(&sim, "GET /query"), 1);
    assert_eq!(route(&sim, "GET /query/{locator}"), 2);
    assert_eq!(c.reads, 3);
}

#[tokio::test]
async fn the_watermark_filters_by_stamp_then_id() {
    // GIVEN three contacts read once
    let sim = sim().await;
    for i in 0..3 {
        sim.insert(json!({"LastName": format!("L{i}")}));
    }
    let sys = system(&sim);
    let all = read_all(&sys, None).await;
    assert_eq!(all.len(), 3);
    // WHEN reading after the second record's (stamp, id)
    let after_second = Watermark::position(all[1].modified_at, all[1].id.clone());
    let newer = read_all(&sys, Some(&after_second)).await;
    // AND after the same stamp with a smaller id
    let same_stamp_lower_id = Watermark::position(all[1].modified_at, "000000000000000AAA");
    let tie = read_all(&sys, Some(&same_stamp_lower_id)).await;
    // THEN only later records come back; a same-stamp record with a greater id is included
    assert_eq!(
        newer.iter().map(|r| r.id.clone()).collect::<Vec<_>>(),
        vec![all[2].id.clone()]
    );
    assert_eq!(
        tie.iter().map(|r| r.id.clone()).collect::<Vec<_>>(),
        vec![all[1].id.clone(), all[2].id.clone()]
    );
    // AND an edit moves a record past the watermark
    sim.edit(&all[0].id, json!({"FirstName": "Edited"}));
    let after_edit = read_all(
        &sys,
        Some(&Watermark::position(all[2].modified_at, all[2].id.clone())),
    )
    .await;
    assert_eq!(after_edit.len(), 1);
    assert_eq!(after_edit[0].id, all[0].id);
    assert_eq!(after_edit[0].body["FirstName"], "Edited");
}

#[tokio::test]
async fn fetch_returns_existing_records_and_skips_missing_ids() {
    // GIVEN 450 contacts, one deleted
    let sim = sim().await;
    let ids: Vec<String> = (0..450)
        .map(|i| sim.insert(json!({"LastName": format!("L{i}")})))
        .collect();
    sim.delete(&ids[3]);
    let sys = system(&sim);
    // WHEN fetching them all plus an unknown id and a non-id
    let mut wanted = ids.clone();
    wanted.push("003000000000000ZZZ".into());
    wanted.push("x' OR Name != '".into());
    let got = sys.fetch(&wanted).await.expect("fetch");
    // THEN the 449 live ones come back, in ≤200-id queries (3 queries)
    assert_eq!(got.len(), 449);
    assert!(!got.iter().any(|r| r.id == ids[3]));
    assert_eq!(route(&sim, "GET /query"), 3);
    // AND an empty request makes no call
    assert!(sys.fetch(&[]).await.expect("empty").is_empty());
    assert_eq!(route(&sim, "GET /query"), 3);
}

#[tokio::test]
async fn find_by_emails_escapes_literals() {
    // GIVEN contacts with an apostrophe in the email, and a last name full of SOQL escapes
    let sim = sim().await;
    let tricky_email = "o'hara@example.com";
    let tricky_name = "Back\\slash \"quoted\" o'hara\ttab";
    let a = sim.insert(json!({"LastName": "A", "Email": tricky_email}));
    let b = sim.insert(json!({"LastName": "B", "Email": "b@example.com"}));
    let c = sim.insert(json!({"LastName": tricky_name}));
    sim.insert(json!({"LastName": "D", "Email": "d@example.com"}));
    let sys = system(&sim);
    // WHEN looking up those emails, an injection attempt and an unknown one
    let found = sys
        .find_by_emails(&[
            tricky_email.to_owned(),
            "b@example.com".into(),
            "x' OR Email != '".into(),
            "nobody@example.com".into(),
        ])
        .await
        .expect("lookup");
    // THEN exactly the two matching records come back
    let ids: HashSet<String> = found.into_iter().map(|r| r.id).collect();
    assert_eq!(ids, HashSet::from([a, b]));
    // AND with the match field set to LastName, backslashes, quotes and tabs round-trip
    let mut cfg = config(&sim);
    cfg.email_field = "LastName".into();
    let by_name = SalesforceSystem::new(cfg).expect("config");
    let found = by_name
        .find_by_emails(&[tricky_name.to_owned()])
        .await
        .expect("lookup");
    assert_eq!(
        found.iter().map(|r| r.id.clone()).collect::<Vec<_>>(),
        vec![c]
    );
}

#[tokio::test]
async fn creates_and_updates_450_records_in_three_calls_each_with_one_rejection() {
    // GIVEN 450 new contacts, one of which the org refuses
    let sim = sim().await;
    sim.inject(Fault::RejectRecord {
        id: "Last137".into(),
    });
    let sys = system(&sim);
    let requests: Vec<CreateRequest> = (0..450)
        .map(|i| CreateRequest {
            key: format!("k{i}"),
            body: new_contact(i),
        })
        .collect();
    // WHEN they are created
    let created = sys.create(requests).await.expect("create call");
    // THEN there is one outcome per request, in order, and only the refused one failed
    assert_eq!(created.len(), 450);
    assert!(
        created
            .iter()
            .enumerate()
            .all(|(i, o)| o.key == format!("k{i}"))
    );
    let failed: Vec<_> = created.iter().filter(|o| o.result.is_err()).collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].key, "k137");
    let err = failed[0].result.clone().expect_err("refused");
    assert!(!err.code.is_empty());
    // AND the records exist, written by 3 collection calls
    assert_eq!(sim.all().len(), 449);
    assert_eq!(route(&sim, "POST /composite/sobjects"), 3);
    let first_id = created[0].result.clone().expect("created");
    assert_eq!(sim.get(&first_id).expect("exists")["LastName"], "Last0");

    // GIVEN updates of the 449 created records, one refused
    let ids: Vec<String> = created
        .iter()
        .filter_map(|o| o.result.clone().ok())
        .collect();
    sim.clear_faults();
    sim.inject(Fault::RejectRecord {
        id: ids[10].clone(),
    });
    let updates: Vec<UpdateRequest> = ids
        .iter()
        .map(|id| UpdateRequest {
            id: id.clone(),
            body: json!({"attributes": {"type": "Contact"}, "id": id, "FirstName": "Updated"}),
        })
        .collect();
    // WHEN they are sent
    let updated = sys.update(updates).await.expect("update call");
    // THEN 448 succeed, the refused one fails alone, in 3 PATCH calls
    assert_eq!(updated.len(), 449);
    let failed: Vec<_> = updated.iter().filter(|o| o.result.is_err()).collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].key, ids[10]);
    assert_eq!(route(&sim, "PATCH /composite/sobjects"), 3);
    assert_eq!(sim.get(&ids[0]).expect("exists")["FirstName"], "Updated");
    assert_ne!(sim.get(&ids[10]).expect("exists")["FirstName"], "Updated");
}

#[tokio::test]
async fn an_expired_session_is_renewed_exactly_once() {
    // GIVEN a prepared system whose session then expires
    let sim = sim().await;
    sim.insert(json!({"LastName": "A"}));
    let sys = system(&sim);
    sys.prepare().await.expect("prepare");
    sim.inject(Fault::ExpireTokens);
    // WHEN two clones read concurrently
    let other = sys.clone();
    let (a, b) = tokio::join!(sys.read_changes(None, None), other.read_changes(None, None));
    // THEN both succeed after exactly one re-authentication
    assert_eq!(a.expect("read").records.len(), 1);
    assert_eq!(b.expect("read").records.len(), 1);
    assert_eq!(sim.counters().auth, 2);
}

#[tokio::test]
async fn a_503_is_retried_and_then_succeeds() {
    // GIVEN an org that answers the next query with 503
    let sim = sim().await;
    sim.insert(json!({"LastName": "A"}));
    let sys = system(&sim);
    sim.inject(Fault::Status {
        path_contains: "/query".into(),
        status: 503,
        times: 1,
        retry_after_secs: None,
    });
    // WHEN changes are read
    let page = sys
        .read_changes(None, None)
        .await
        .expect("read after retry");
    // THEN it succeeds on the second attempt
    assert_eq!(page.records.len(), 1);
    assert_eq!(route(&sim, "GET /query"), 2);
}

#[tokio::test]
async fn a_429_waits_for_retry_after() {
    // GIVEN an org that answers the next query with 429 and Retry-After: 1
    let sim = sim().await;
    let sys = system(&sim);
    sys.prepare().await.expect("prepare");
    sim.inject(Fault::Status {
        path_contains: "/query".into(),
        status: 429,
        times: 1,
        retry_after_secs: Some(1),
    });
    // WHEN changes are read
    let started = Instant::now();
    sys.read_changes(None, None)
        .await
        .expect("read after waiting");
    // THEN the retry came after at least the advertised second
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(route(&sim, "GET /query"), 2);
}

#[tokio::test]
async fn persistent_failures_become_transient_after_max_attempts() {
    // GIVEN an org that keeps answering 503, and a client allowed 3 attempts
    let sim = sim().await;
    let mut cfg = config(&sim);
    cfg.retry.max_attempts = 3;
    let sys = SalesforceSystem::new(cfg).expect("config");
    sys.prepare().await.expect("prepare");
    sim.inject(Fault::Status {
        path_contains: "/query".into(),
        status: 503,
        times: 100,
        retry_after_secs: None,
    });
    // WHEN changes are read
    let err = sys.read_changes(None, None).await.expect_err("unavailable");
    // THEN the failure is transient after exactly 3 requests
    assert!(matches!(err, SystemError::Transient { .. }), "{err}");
    assert_eq!(route(&sim, "GET /query"), 3);
}

#[tokio::test]
async fn a_create_is_not_repeated_after_a_500() {
    // GIVEN an org whose next collection call fails with 500 (outcome unknown)
    let sim = sim().await;
    let sys = system(&sim);
    sys.prepare().await.expect("prepare");
    sim.inject(Fault::Status {
        path_contains: "/composite/sobjects".into(),
        status: 500,
        times: 1,
        retry_after_secs: None,
    });
    // WHEN records are created
    let err = sys
        .create(vec![CreateRequest {
            key: "k".into(),
            body: new_contact(1),
        }])
        .await
        .expect_err("unknown outcome");
    // THEN the call fails as transient without a second attempt (no duplicate creates)
    assert!(err.is_retryable());
    assert_eq!(route(&sim, "POST /composite/sobjects"), 1);
}

#[tokio::test]
async fn wrong_credentials_fail_as_auth_without_leaking_the_secret() {
    // GIVEN a client with a wrong secret
    let sim = sim().await;
    let mut cfg = config(&sim);
    cfg.client_secret = Secret::new("definitely-wrong-secret");
    let sys = SalesforceSystem::new(cfg).expect("config");
    // WHEN it prepares
    let err = sys.prepare().await.expect_err("refused");
    // THEN the error is Auth, carries the OAuth error, never the secret
    assert!(matches!(err, SystemError::Auth { .. }), "{err}");
    let text = format!("{err} {err:?} {sys:?}");
    assert!(!text.contains("definitely-wrong-secret"), "{text}");
    assert!(
        text.contains("invalid_client") || text.contains("invalid_grant"),
        "{text}"
    );
}

#[tokio::test]
async fn hostile_ids_never_reach_a_query() {
    // GIVEN two contacts
    let sim = sim().await;
    let a = sim.insert(json!({"LastName": "A"}));
    sim.insert(json!({"LastName": "B"}));
    let sys = system(&sim);
    // WHEN fetching one real id together with ids that try to widen the IN list
    let found = sys
        .fetch(&[
            a.clone(),
            "003' OR Id != '".into(),
            "003000000000001') OR (Id != '".into(),
            format!("{a}' OR LastName != '"),
        ])
        .await
        .expect("fetch");
    // THEN only the real record comes back, from a single query
    assert_eq!(
        found.iter().map(|r| r.id.clone()).collect::<Vec<_>>(),
        vec![a]
    );
    assert_eq!(route(&sim, "GET /query"), 1);
}
