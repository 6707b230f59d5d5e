//! Integration tests of `GenesysSystem` against the Genesys Cloud simulator.

use contact_sync_connectors::genesys::models::external_ids;
use contact_sync_connectors::{GenesysConfig, GenesysSystem};
use contact_sync_pipeline::system::{
    ContactReader, ContactWriter, CreateRequest, RawRecord, UpdateRequest,
};
use contact_sync_simulators::{BrokenBody, Fault, GenesysSim, GenesysSimConfig};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

async fn sim_with(config: GenesysSimConfig) -> GenesysSim {
    GenesysSim::start(config).await.expect("simulator starts")
}

async fn sim() -> GenesysSim {
    sim_with(GenesysSimConfig::default()).await
}

fn config(sim: &GenesysSim) -> GenesysConfig {
    let mut cfg = GenesysConfig::new(sim.url(), sim.client_id(), sim.client_secret());
    cfg.timeout = Duration::from_secs(10);
    cfg
}

fn system(sim: &GenesysSim) -> GenesysSystem {
    GenesysSystem::new(config(sim)).expect("valid config")
}

fn route(sim: &GenesysSim, key: &str) -> u64 {
    sim.counters().by_route.get(key).copied().unwrap_or(0)
}

/// An 18-character Salesforce-like id for request `i`.
fn sf_id(i: usize) -> String {
    format!("003{i:012}AAA")
}

fn linked_contact(source: &str, i: usize) -> Value {
    json!({
        "firstName": format!("First{i}"),
        "lastName": format!("Last{i}"),
        "workEmail": format!("person{i}@example.com"),
        "workPhone": {"display": "+1 317-555-0100"},
        "externalIds": [{"externalSource": {"id": source}, "value": sf_id(i)}],
    })
}

async fn scan_all(sys: &GenesysSystem) -> Vec<RawRecord> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = sys.read_changes(None, cursor).await.expect("scan page");
        out.extend(page.records);
        match page.next {
            Some(next) => cursor = Some(next),
            None => return out,
        }
    }
}

#[tokio::test]
async fn the_link_source_is_created_once_and_reused() {
    // GIVEN an org without a "Salesforce" source (but with another one)
    let sim = sim().await;
    sim.add_external_source("Zendesk");
    let sys = system(&sim);
    // WHEN the system prepares twice, and a second process prepares too
    let first = sys.prepare().await.expect("prepare");
    let again = sys.prepare().await.expect("prepare again");
    let other = system(&sim).prepare().await.expect("other process");
    // THEN one source was created, and everyone uses its id
    let id = first.link_source_id.expect("source id");
    assert_eq!(again.link_source_id.as_deref(), Some(id.as_str()));
    assert_eq!(other.link_source_id.as_deref(), Some(id.as_str()));
    assert_eq!(route(&sim, "POST /externalsources"), 1);
    let names: Vec<Value> = sim
        .external_sources()
        .into_iter()
        .map(|s| s["name"].clone())
        .collect();
    assert_eq!(names, vec![json!("Zendesk"), json!("Salesforce")]);
    // AND the cached id spared the second prepare any call: 2 lists (one per process), 2 tokens
    assert_eq!(route(&sim, "GET /externalsources"), 2);
    assert_eq!(sim.counters().auth, 2);
}

#[tokio::test]
async fn scan_pages_through_every_contact() {
    // GIVEN 450 contacts
    let sim = sim().await;
    let ids: HashSet<String> = (0..450)
        .map(|i| sim.insert(json!({"firstName": format!("F{i}"), "lastName": "L"})))
        .collect();
    let sys = system(&sim);
    // WHEN every scan page is read (200 per page)
    let records = scan_all(&sys).await;
    // THEN all arrive once, with modifyDate as the stamp, in 3 requests and one token
    let got: HashSet<String> = records.iter().map(|r| r.id.clone()).collect();
    assert_eq!(records.len(), 450);
    assert_eq!(got, ids);
    let first = &records[0];
    let stamp = first.body["modifyDate"].as_str().expect("modifyDate");
    assert_eq!(
        first.modified_at,
        chrono::DateTime::parse_from_rfc3339(stamp)
            .expect("date")
            .with_timezone(&chrono::Utc)
    );
    assert_eq!(route(&sim, "GET /scan/contacts"), 3);
    assert_eq!(sim.counters().auth, 1);
    // AND find_by_emails makes no call (the scan already returns everything)
    assert!(
        sys.find_by_emails(&["a@b.c".into()])
            .await
            .expect("empty")
            .is_empty()
    );
    assert_eq!(sim.counters().total, 4);
}

#[tokio::test]
async fn bulk_add_matches_shuffled_results_by_external_id() {
    // GIVEN 450 linked contacts to create, one of which the org refuses
    let sim = sim().await;
    let sys = system(&sim);
    let source = sys
        .prepare()
        .await
        .expect("prepare")
        .link_source_id
        .expect("source");
    sim.inject(Fault::RejectRecord { id: sf_id(77) });
    let requests: Vec<CreateRequest> = (0..450)
        .map(|i| CreateRequest {
            key: sf_id(i),
            body: linked_contact(&source, i),
        })
        .collect();
    // WHEN they are created
    let outcomes = sys.create(requests).await.expect("bulk add");
    // THEN every request has its own outcome: the created contact carries that request's key
    assert_eq!(outcomes.len(), 450);
    let keys: HashSet<&str> = outcomes.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(keys.len(), 450);
    for o in &outcomes {
        if o.key == sf_id(77) {
            let err = o.result.clone().expect_err("refused");
            assert!(!err.code.is_empty());
            continue;
        }
        let id = o.result.clone().expect("created");
        let contact = sim.get(&id).expect("exists");
        let links = external_ids(&contact);
        assert_eq!(
            links,
            vec![(Some(source.as_str()), o.key.as_str())],
            "result matched to the wrong request"
        );
    }
    // AND 5 bulk calls were made (≤100 entities each, the default start)
    assert_eq!(route(&sim, "POST /bulk/contacts/add"), 5);
    assert_eq!(sim.all().len(), 449);
}

#[tokio::test]
async fn a_413_splits_the_chunk_until_it_fits() {
    // GIVEN an org whose byte limit is below what the client packs into one call
    let sim = sim_with(GenesysSimConfig {
        max_request_bytes: 20_000,
        ..GenesysSimConfig::default()
    })
    .await;
    let sys = system(&sim);
    let source = sys
        .prepare()
        .await
        .expect("prepare")
        .link_source_id
        .expect("source");
    let requests: Vec<CreateRequest> = (0..100)
        .map(|i| CreateRequest {
            key: sf_id(i),
            body: linked_contact(&source, i),
        })
        .collect();
    let body_bytes = serde_json::to_vec(
        &json!({"entities": requests.iter().map(|r| &r.body).collect::<Vec<_>>()}),
    )
    .expect("json")
    .len();
    assert!(body_bytes > 20_000 && body_bytes < 80_000, "{body_bytes}");
    // WHEN they are created
    let outcomes = sys.create(requests).await.expect("bulk add");
    // THEN all succeed after splitting: one 413 for 100, then halves of 50 (≈15 KB) fit
    assert_eq!(outcomes.len(), 100);
    assert!(outcomes.iter().all(|o| o.result.is_ok()));
    assert_eq!(sim.all().len(), 100);
    assert_eq!(route(&sim, "POST /bulk/contacts/add"), 3);
    // AND a contact alone over the limit is refused per record, without failing the others
    let mut huge = linked_contact(&source, 1000);
    huge["lastName"] = json!("x".repeat(30_000));
    let small = linked_contact(&source, 1001);
    let outcomes = sys
        .create(vec![
            CreateRequest {
                key: sf_id(1000),
                body: huge,
            },
            CreateRequest {
                key: sf_id(1001),
                body: small,
            },
        ])
        .await
        .expect("bulk add");
    let by_key: HashMap<String, _> = outcomes.into_iter().map(|o| (o.key, o.result)).collect();
    assert_eq!(
        by_key[&sf_id(1000)].clone().expect_err("too large").code,
        "request.too.large"
    );
    assert!(by_key[&sf_id(1001)].is_ok());
}

#[tokio::test]
async fn the_client_byte_limit_chunks_before_the_server_refuses() {
    // GIVEN a client limit of 20 KB (the org accepts up to 512 KB)
    let sim = sim().await;
    let mut cfg = config(&sim);
    cfg.max_request_bytes = 20_000;
    let sys = GenesysSystem::new(cfg).expect("config");
    let source = sys
        .prepare()
        .await
        .expect("prepare")
        .link_source_id
        .expect("source");
    let requests: Vec<CreateRequest> = (0..100)
        .map(|i| CreateRequest {
            key: sf_id(i),
            body: linked_contact(&source, i),
        })
        .collect();
    // WHEN they are created
    let outcomes = sys.create(requests).await.expect("bulk add");
    // THEN all succeed in byte-bounded calls (≈23 KB in two calls, no 413)
    assert!(outcomes.iter().all(|o| o.result.is_ok()));
    assert_eq!(route(&sim, "POST /bulk/contacts/add"), 2);
}

#[tokio::test]
async fn injected_413_splits_in_halves() {
    // GIVEN an org that refuses the next bulk add with 413
    let sim = sim().await;
    let sys = system(&sim);
    let source = sys
        .prepare()
        .await
        .expect("prepare")
        .link_source_id
        .expect("source");
    sim.inject(Fault::Status {
        path_contains: "/bulk/contacts/add".into(),
        status: 413,
        times: 1,
        retry_after_secs: None,
    });
    let requests: Vec<CreateRequest> = (0..10)
        .map(|i| CreateRequest {
            key: sf_id(i),
            body: linked_contact(&source, i),
        })
        .collect();
    // WHEN they are created
    let outcomes = sys.create(requests).await.expect("bulk add");
    // THEN the chunk is split in two and each half succeeds: 3 calls in all
    assert!(outcomes.iter().all(|o| o.result.is_ok()));
    assert_eq!(route(&sim, "POST /bulk/contacts/add"), 3);
}

#[tokio::test]
async fn fetch_returns_existing_contacts_only() {
    // GIVEN 150 contacts, one deleted
    let sim = sim().await;
    let ids: Vec<String> = (0..150)
        .map(|i| sim.insert(json!({"lastName": format!("L{i}")})))
        .collect();
    sim.delete(&ids[5]);
    let sys = system(&sim);
    // WHEN fetching them, an unknown UUID and a non-UUID
    let mut wanted = ids.clone();
    wanted.push("6c7a4f0e-1b2c-4d3e-8f9a-0b1c2d3e4f5a".into());
    wanted.push("not-a-contact-id".into());
    let got = sys.fetch(&wanted).await.expect("fetch");
    // THEN the 149 live contacts come back in 2 calls (≤100 ids each)
    assert_eq!(got.len(), 149);
    assert!(!got.iter().any(|r| r.id == ids[5]));
    assert_eq!(route(&sim, "POST /bulk/contacts"), 2);
}

#[tokio::test]
async fn bulk_update_matches_by_id() {
    // GIVEN 20 contacts read back as full bodies
    let sim = sim().await;
    let ids: Vec<String> = (0..20)
        .map(|i| sim.insert(json!({"lastName": format!("L{i}")})))
        .collect();
    let sys = system(&sim);
    let current = sys.fetch(&ids).await.expect("fetch");
    sim.inject(Fault::RejectRecord { id: ids[3].clone() });
    let updates: Vec<UpdateRequest> = current
        .into_iter()
        .map(|r| {
            let mut body = r.body;
            body["title"] = json!("Updated");
            UpdateRequest { id: r.id, body }
        })
        .collect();
    // WHEN they are updated
    let outcomes = sys.update(updates).await.expect("bulk update");
    // THEN each id gets its own outcome and the refused one fails alone
    assert_eq!(outcomes.len(), 20);
    for o in &outcomes {
        if o.key == ids[3] {
            assert!(o.result.is_err());
        } else {
            assert_eq!(o.result.as_deref(), Ok(o.key.as_str()));
            assert_eq!(sim.get(&o.key).expect("exists")["title"], "Updated");
        }
    }
    assert_eq!(route(&sim, "POST /bulk/contacts/update"), 1);
}

#[tokio::test]
async fn an_expired_token_is_renewed_exactly_once() {
    // GIVEN a prepared system whose token then expires
    let sim = sim().await;
    sim.insert(json!({"lastName": "A"}));
    let sys = system(&sim);
    sys.prepare().await.expect("prepare");
    sim.inject(Fault::ExpireTokens);
    // WHEN two clones scan concurrently
    let other = sys.clone();
    let (a, b) = tokio::join!(sys.read_changes(None, None), other.read_changes(None, None));
    // THEN both succeed after one re-authentication
    assert_eq!(a.expect("scan").records.len(), 1);
    assert_eq!(b.expect("scan").records.len(), 1);
    assert_eq!(sim.counters().auth, 2);
}

#[tokio::test]
async fn a_429_waits_for_retry_after_and_a_503_is_retried() {
    // GIVEN an org that answers the next scan with 429 (Retry-After: 1), then 503
    let sim = sim().await;
    sim.insert(json!({"lastName": "A"}));
    let sys = system(&sim);
    sys.prepare().await.expect("prepare");
    sim.inject(Fault::Status {
        path_contains: "/scan/contacts".into(),
        status: 429,
        times: 1,
        retry_after_secs: Some(1),
    });
    sim.inject(Fault::Status {
        path_contains: "/scan/contacts".into(),
        status: 503,
        times: 1,
        retry_after_secs: None,
    });
    // WHEN scanning
    let started = Instant::now();
    let page = sys
        .read_changes(None, None)
        .await
        .expect("scan after retries");
    // THEN it succeeds on the third attempt, having waited at least a second
    assert_eq!(page.records.len(), 1);
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(route(&sim, "GET /scan/contacts"), 3);
}

#[tokio::test]
async fn a_broken_answer_is_never_read_as_contacts_missing() {
    // GIVEN three live contacts and a client that has read once (token, link source)
    let sim = sim().await;
    let ids: Vec<String> = (0..3)
        .map(|i| sim.insert(json!({"lastName": format!("L{i}")})))
        .collect();
    let sys = system(&sim);
    assert_eq!(scan_all(&sys).await.len(), 3);
    for body in BrokenBody::ALL {
        // WHEN the bulk fetch answer is broken (truncated, mistyped, `{}`, HTML, not UTF-8)
        sim.inject(Fault::Malformed {
            path_contains: "/bulk/contacts".into(),
            body,
            times: 1,
        });
        let fetched = sys.fetch(&ids).await;
        // THEN the fetch fails: the three contacts are not reported deleted
        assert!(fetched.is_err(), "{body:?}: {fetched:?}");
        // WHEN the scan answer is broken
        sim.inject(Fault::Malformed {
            path_contains: "/scan/contacts".into(),
            body,
            times: 1,
        });
        let page = sys.read_changes(None, None).await;
        // THEN the read fails: the org is not read as empty
        assert!(page.is_err(), "{body:?}: {page:?}");
    }
    // AND once the answers are whole again, everything is there
    assert_eq!(sys.fetch(&ids).await.expect("fetch").len(), 3);
}

#[tokio::test]
async fn the_identifier_lookup_finds_a_contact_by_its_salesforce_id_and_a_broken_answer_is_an_error()
 {
    // GIVEN a contact linked to Salesforce record 0 under the link source
    let sim = sim().await;
    let sys = system(&sim);
    let facts = sys.prepare().await.expect("prepare");
    let source = facts.link_source_id.expect("link source");
    let linked = sim.insert(linked_contact(&source, 0));
    // WHEN the client looks up Salesforce records 0 and 1
    let found = sys
        .find_by_links(&[sf_id(0), sf_id(1)])
        .await
        .expect("lookup");
    // THEN the contact linked to record 0 comes back, and nothing for record 1 (a 404
    // not.found), one call per id
    assert_eq!(
        found.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        [linked.as_str()]
    );
    assert_eq!(route(&sim, "POST /identifierlookup/contacts"), 2);
    for body in BrokenBody::ALL {
        // WHEN the lookup's answer is broken
        sim.inject(Fault::Malformed {
            path_contains: "/identifierlookup".into(),
            body,
            times: 1,
        });
        // THEN the lookup fails instead of finding nothing
        let broken = sys.find_by_links(&[sf_id(0)]).await;
        assert!(broken.is_err(), "{body:?}: {broken:?}");
    }
}
