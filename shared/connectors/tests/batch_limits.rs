//! Bulk limits nobody documents are discovered, not assumed (issue 14 item 3): against
//! simulators that take fewer records per request than the client starts with, every record is
//! written, none is refused because its batch was, and the smaller size is learned with one
//! refused request per learned step.

use contact_sync_connectors::outcomes::REQUEST_REFUSED;
use contact_sync_connectors::{GenesysConfig, GenesysSystem, SalesforceConfig, SalesforceSystem};
use contact_sync_pipeline::system::{
    ContactReader, ContactWriter, CreateRequest, UpdateRequest, WriteOutcome,
};
use contact_sync_simulators::{
    Fault, GenesysSim, GenesysSimConfig, SalesforceSim, SalesforceSimConfig,
};
use serde_json::{Value, json};
use std::time::Duration;

async fn genesys_capped_at(max_bulk_entities: usize) -> GenesysSim {
    GenesysSim::start(GenesysSimConfig {
        max_bulk_entities,
        ..GenesysSimConfig::default()
    })
    .await
    .expect("simulator starts")
}

fn genesys_client(sim: &GenesysSim, bulk_entities: usize) -> GenesysSystem {
    let mut cfg = GenesysConfig::new(sim.url(), sim.client_id(), sim.client_secret());
    cfg.timeout = Duration::from_secs(10);
    cfg.bulk_entities = bulk_entities;
    GenesysSystem::new(cfg).expect("valid config")
}

fn route(counters: &contact_sync_simulators::Counters, key: &str) -> u64 {
    counters.by_route.get(key).copied().unwrap_or(0)
}

fn sf_id(i: usize) -> String {
    format!("003{i:012}AAA")
}

fn linked_contact(source: &str, i: usize) -> Value {
    json!({
        "firstName": format!("First{i}"),
        "lastName": format!("Last{i}"),
        "workEmail": format!("person{i}@example.com"),
        "externalIds": [{"externalSource": {"id": source}, "value": sf_id(i)}],
    })
}

async fn genesys_creates(sys: &GenesysSystem, n: usize) -> Vec<CreateRequest> {
    let source = sys
        .prepare()
        .await
        .expect("prepare")
        .link_source_id
        .expect("source");
    (0..n)
        .map(|i| CreateRequest {
            key: sf_id(i),
            body: linked_contact(&source, i),
        })
        .collect()
}

fn refused(outcomes: &[WriteOutcome]) -> Vec<&WriteOutcome> {
    outcomes.iter().filter(|o| o.result.is_err()).collect()
}

#[tokio::test]
async fn genesys_capped_at_50_with_a_client_starting_at_100_creates_everything() {
    // GIVEN a Genesys org that takes at most 50 entities per bulk request, and a client
    // starting at 100
    let sim = genesys_capped_at(50).await;
    let sys = genesys_client(&sim, 100);
    let requests = genesys_creates(&sys, 400).await;
    sim.reset_counters();
    // WHEN 400 contacts are created
    let out = sys.create(requests).await.expect("create call");
    // THEN every contact is created and none is refused
    assert_eq!(out.len(), 400);
    assert!(refused(&out).is_empty(), "{:?}", refused(&out).first());
    assert_eq!(sim.all().len(), 400);
    // AND one request was refused (the first 100), then 8 requests of 50 went through
    assert_eq!(route(&sim.counters(), "POST /bulk/contacts/add"), 1 + 8);
    // AND the client reports the learned size
    assert_eq!(sys.bulk_limit(), Some(50));

    // WHEN it fetches and updates them all afterwards
    sim.reset_counters();
    let ids: Vec<String> = out.iter().map(|o| o.result.clone().expect("id")).collect();
    let fetched = sys.fetch(&ids).await.expect("fetch");
    let updates = fetched
        .iter()
        .map(|r| {
            let mut body = r.body.clone();
            body["title"] = json!("Updated");
            UpdateRequest {
                id: r.id.clone(),
                body,
            }
        })
        .collect();
    let updated = sys.update(updates).await.expect("update call");
    // THEN no request is refused any more: 8 fetches and 8 updates of 50
    assert_eq!(fetched.len(), 400);
    assert!(refused(&updated).is_empty());
    let counters = sim.counters();
    assert_eq!(route(&counters, "POST /bulk/contacts"), 8);
    assert_eq!(route(&counters, "POST /bulk/contacts/update"), 8);
}

#[tokio::test]
async fn genesys_capped_at_50_with_a_client_starting_at_200_learns_in_two_steps() {
    // GIVEN a Genesys org capped at 50 and a client starting at 200
    let sim = genesys_capped_at(50).await;
    let sys = genesys_client(&sim, 200);
    let requests = genesys_creates(&sys, 400).await;
    sim.reset_counters();
    // WHEN 400 contacts are created
    let out = sys.create(requests).await.expect("create call");
    // THEN all are created, none refused
    assert!(refused(&out).is_empty());
    assert_eq!(sim.all().len(), 400);
    // AND two requests were refused (200, then 100: one per learned step), then 8 of 50
    assert_eq!(route(&sim.counters(), "POST /bulk/contacts/add"), 2 + 8);
    assert_eq!(sys.bulk_limit(), Some(50));
}

#[tokio::test]
async fn a_client_that_adopts_a_remembered_limit_sends_no_refused_request() {
    // GIVEN a Genesys org capped at 50 and a client starting at 100 that is told 50 was
    // learned earlier
    let sim = genesys_capped_at(50).await;
    let sys = genesys_client(&sim, 100);
    sys.adopt_bulk_limit(50);
    let requests = genesys_creates(&sys, 120).await;
    sim.reset_counters();
    // WHEN 120 contacts are created
    let out = sys.create(requests).await.expect("create call");
    // THEN three requests carry them (50, 50, 20), none refused
    assert!(refused(&out).is_empty());
    assert_eq!(route(&sim.counters(), "POST /bulk/contacts/add"), 3);
}

#[tokio::test]
async fn only_the_invalid_record_of_a_refused_batch_is_refused() {
    // GIVEN a Genesys org capped at 50 that refuses one contact (validation), and a client
    // starting at 100
    let sim = genesys_capped_at(50).await;
    let sys = genesys_client(&sim, 100);
    let requests = genesys_creates(&sys, 100).await;
    sim.inject(Fault::RejectRecord { id: sf_id(37) });
    // WHEN 100 contacts are created
    let out = sys.create(requests).await.expect("create call");
    // THEN exactly that contact is refused, with the system's per-record error
    let refused = refused(&out);
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0].key, sf_id(37));
    let error = refused[0].result.clone().expect_err("refused");
    assert!(!error.retryable);
    assert_ne!(error.code, REQUEST_REFUSED);
    // AND the 99 others are created, and the size learned
    assert_eq!(sim.all().len(), 99);
    assert_eq!(sys.bulk_limit(), Some(50));
}

#[tokio::test]
async fn a_genesys_org_that_takes_only_one_entity_is_still_written() {
    // GIVEN an org that refuses any bulk request of more than one entity
    let sim = genesys_capped_at(1).await;
    let sys = genesys_client(&sim, 100);
    let requests = genesys_creates(&sys, 5).await;
    // WHEN 5 contacts are created
    let out = sys.create(requests).await.expect("create call");
    // THEN all 5 exist and the client learned 1
    assert!(refused(&out).is_empty());
    assert_eq!(sim.all().len(), 5);
    assert_eq!(sys.bulk_limit(), Some(1));
}

fn salesforce_client(sim: &SalesforceSim) -> SalesforceSystem {
    let mut cfg = SalesforceConfig::new(sim.url(), sim.client_id(), sim.client_secret());
    cfg.fields = vec!["FirstName".into(), "LastName".into(), "Email".into()];
    cfg.timeout = Duration::from_secs(10);
    SalesforceSystem::new(cfg).expect("valid config")
}

fn salesforce_contact(i: usize) -> Value {
    json!({
        "attributes": {"type": "Contact"},
        "FirstName": format!("First{i}"),
        "LastName": format!("Last{i}"),
        "Email": format!("person{i}@example.com"),
    })
}

#[tokio::test]
async fn salesforce_collections_capped_below_200_write_everything() {
    // GIVEN a Salesforce org whose Collections take at most 50 records, one record refused by
    // a validation rule
    let sim = SalesforceSim::start(SalesforceSimConfig {
        max_collection_records: 50,
        ..SalesforceSimConfig::default()
    })
    .await
    .expect("simulator starts");
    sim.inject(Fault::RejectRecord {
        id: "Last77".into(),
    });
    let sys = salesforce_client(&sim);
    sim.reset_counters();
    // WHEN 120 contacts are created (the client starts at the documented 200)
    let requests = (0..120)
        .map(|i| CreateRequest {
            key: format!("k{i}"),
            body: salesforce_contact(i),
        })
        .collect();
    let out = sys.create(requests).await.expect("create call");
    // THEN only the invalid record is refused, with Salesforce's per-record error
    let refused = refused(&out);
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].key, "k77");
    assert_eq!(
        refused[0].result.clone().expect_err("refused").code,
        "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    );
    assert_eq!(sim.all().len(), 119);
    // AND two requests were refused (120, then 60), then 4 requests of 30 went through: the
    // client learned 30 (the half that passed)
    assert_eq!(
        sim.counters()
            .by_route
            .get("POST /composite/sobjects")
            .copied(),
        Some(2 + 4)
    );
    assert_eq!(sys.bulk_limit(), Some(30));

    // WHEN the created records are deleted
    sim.reset_counters();
    let ids: Vec<String> = out.iter().filter_map(|o| o.result.clone().ok()).collect();
    let deleted = sys.delete(ids).await.expect("delete call");
    // THEN all go in requests of the learned size, none refused
    assert!(deleted.iter().all(|o| o.result.is_ok()));
    assert_eq!(
        sim.counters()
            .by_route
            .get("DELETE /composite/sobjects")
            .copied(),
        Some(4)
    );
}
