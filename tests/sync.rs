//! End-to-end: the whole pipeline in one process against both simulators.

use contact_sync_e2e::World;
use contact_sync_engine::Side;
use contact_sync_engine::mapping::Mapping;
use contact_sync_pipeline::store::{ConflictKind, SyncStore};
use contact_sync_simulators::SalesforceSimConfig;
use serde_json::json;
use std::time::Duration;

/// A pause long enough for the next edit to carry a later stamp on any system.
async fn tick() {
    tokio::time::sleep(Duration::from_millis(15)).await;
}

#[tokio::test]
async fn initial_sync_links_matches_and_creates_both_ways_without_duplicates() {
    // GIVEN Ana on both sides with a different email case and phone format,
    // Ben only in Salesforce, and Cleo only in Genesys
    let w = World::new().await;
    let ana = w.sf.insert(json!({"FirstName": "Ana", "LastName": "Lopez", "Email": "Ana.Lopez@Example.com", "Phone": "(415) 555-0134"}));
    let ana_gz = w.gz.insert(json!({"firstName": "Ana", "lastName": "Lopez", "workEmail": "ana.lopez@example.com", "workPhone": {"display": "+1 415-555-0134"}}));
    let ben = w.sf.insert(json!({"FirstName": "Ben", "LastName": "Okafor", "Email": "ben@example.com", "MobilePhone": "415.555.0150", "Title": "Buyer"}));
    let cleo_gz = w.gz.insert(json!({"firstName": "Cleo", "lastName": "Park", "workEmail": "cleo@example.org", "cellPhone": {"display": "(415) 555-0177"}}));

    // WHEN one cycle runs
    let outcome = w.sync().await;

    // THEN Ana is linked (not duplicated) and her Genesys record carries her Salesforce Id
    assert_eq!(w.sf.all().len(), 3, "Salesforce: Ana, Ben, Cleo");
    assert_eq!(w.gz.all().len(), 3, "Genesys: Ana, Ben, Cleo");
    let linked = w.genesys_linked_to(&ana);
    assert_eq!(linked.len(), 1);
    assert_eq!(linked[0]["id"], ana_gz);
    // AND Ben was created in Genesys with his values and the link
    let ben_gz = w.genesys_linked_to(&ben);
    assert_eq!(ben_gz.len(), 1);
    assert_eq!(ben_gz[0]["workEmail"], "ben@example.com");
    assert_eq!(ben_gz[0]["cellPhone"]["e164"], "+14155550150");
    assert_eq!(ben_gz[0]["title"], "Buyer");
    // AND Cleo was created in Salesforce, and her Genesys record now links to it
    let cleo = w.salesforce_with_email("cleo@example.org");
    assert_eq!(cleo.len(), 1);
    assert_eq!(cleo[0]["LastName"], "Park");
    assert_eq!(cleo[0]["MobilePhone"], "+14155550177");
    let cleo_sf_id = cleo[0]["Id"].as_str().expect("id");
    assert_eq!(w.genesys_linked_to(cleo_sf_id)[0]["id"], cleo_gz);
    assert_eq!(outcome.stats.created.genesys, 1);
    assert_eq!(outcome.stats.created.salesforce, 1);
    assert_eq!(outcome.stats.failed, 0);
}

#[tokio::test]
async fn a_second_sync_without_edits_makes_zero_write_requests() {
    // GIVEN a first sync of overlapping contacts in different formats
    let w = World::new().await;
    w.sf.insert(json!({"FirstName": "Ana", "LastName": "Lopez", "Email": "Ana.Lopez@Example.com", "Phone": "(415) 555-0134"}));
    w.gz.insert(json!({"firstName": "Ana", "lastName": "Lopez", "workEmail": "ana.lopez@example.com", "workPhone": {"display": "415.555.0134"}}));
    w.sf.insert(json!({"LastName": "Only-in-Salesforce", "Phone": "+1 (415) 555-0101"}));
    w.gz.insert(json!({"lastName": "Only-in-Genesys", "workPhone": {"display": "4155550102"}}));
    let first = w.sync().await;
    assert_eq!(first.stats.failed, 0);

    // WHEN a second sync runs with no edits in between
    w.reset_counters();
    let second = w.sync().await;

    // THEN neither system received a single write request, and nothing was counted as changed
    assert_eq!(w.sf.counters().writes, 0, "Salesforce writes");
    assert_eq!(w.gz.counters().writes, 0, "Genesys writes");
    assert_eq!(
        second.stats.created.total() + second.stats.updated.total(),
        0
    );
    assert_eq!(second.stats.failed, 0);
    // AND a third one neither (the echoes of the first sync's writes are gone too)
    w.reset_counters();
    w.sync().await;
    assert_eq!(w.sf.counters().writes + w.gz.counters().writes, 0);
}

#[tokio::test]
async fn one_sided_edits_flow_both_ways() {
    // GIVEN a synced pair
    let w = World::new().await;
    let ana = w.sf.insert(json!({"FirstName": "Ana", "LastName": "Lopez", "Email": "ana@example.com", "Title": "Agent"}));
    w.sync().await;
    let ana_gz = w.genesys_linked_to(&ana)[0]["id"]
        .as_str()
        .expect("linked")
        .to_string();

    // WHEN Salesforce changes the title and, later, Genesys changes the mobile phone
    w.sf.edit(&ana, json!({"Title": "Team Lead"}));
    tick().await;
    w.gz.edit(&ana_gz, json!({"cellPhone": {"display": "(415) 555-0188"}}));
    let outcome = w.sync().await;

    // THEN each edit reached the other side
    assert_eq!(w.gz.get(&ana_gz).expect("gz")["title"], "Team Lead");
    assert_eq!(w.sf.get(&ana).expect("sf")["MobilePhone"], "+14155550188");
    assert_eq!(outcome.stats.updated.salesforce, 1);
    assert_eq!(outcome.stats.updated.genesys, 1);
    assert_eq!(outcome.stats.conflicts, 0);
}

#[tokio::test]
async fn concurrent_edits_to_different_fields_both_survive() {
    // GIVEN a synced pair
    let w = World::new().await;
    let ana = w.sf.insert(json!({"FirstName": "Ana", "LastName": "Lopez", "Email": "ana@example.com", "Title": "Agent", "MobilePhone": "+14155550100"}));
    w.sync().await;
    let ana_gz = w.genesys_linked_to(&ana)[0]["id"]
        .as_str()
        .expect("linked")
        .to_string();

    // WHEN both sides edit different fields between two syncs (Genesys last)
    w.sf.edit(&ana, json!({"Title": "Supervisor"}));
    tick().await;
    w.gz.edit(
        &ana_gz,
        json!({"cellPhone": {"display": "+1 415 555 0199"}}),
    );
    w.sync().await;

    // THEN both edits are on both sides: the Genesys edit did not bring back the old title
    let sf = w.sf.get(&ana).expect("sf");
    let gz = w.gz.get(&ana_gz).expect("gz");
    assert_eq!(sf["Title"], "Supervisor");
    assert_eq!(gz["title"], "Supervisor");
    assert_eq!(sf["MobilePhone"], "+14155550199");
    assert_eq!(gz["cellPhone"]["e164"], "+14155550199");
}

#[tokio::test]
async fn same_field_conflicts_follow_the_policy_and_are_recorded() {
    // GIVEN a synced pair
    let w = World::new().await;
    let ana = w.sf.insert(json!({"FirstName": "Ana", "LastName": "Lopez", "Email": "ana@example.com", "Title": "Agent"}));
    w.sync().await;
    let ana_gz = w.genesys_linked_to(&ana)[0]["id"]
        .as_str()
        .expect("linked")
        .to_string();

    // WHEN both sides change the first name (salesforce_wins) and the title (newest_wins),
    // Genesys editing last
    w.sf.edit(&ana, json!({"FirstName": "Anna", "Title": "Lead"}));
    tick().await;
    w.gz.edit(&ana_gz, json!({"firstName": "Ann", "title": "Manager"}));
    let outcome = w.sync().await;

    // THEN Salesforce's first name wins, Genesys's newer title wins, on both sides
    let sf = w.sf.get(&ana).expect("sf");
    let gz = w.gz.get(&ana_gz).expect("gz");
    assert_eq!(
        (sf["FirstName"].as_str(), gz["firstName"].as_str()),
        (Some("Anna"), Some("Anna"))
    );
    assert_eq!(
        (sf["Title"].as_str(), gz["title"].as_str()),
        (Some("Manager"), Some("Manager"))
    );
    // AND both conflicts are in the audit with their winner
    assert_eq!(outcome.stats.conflicts, 2);
    let conflicts = w
        .store
        .conflicts(&w.integration.name, false)
        .await
        .expect("conflicts");
    let winner = |field: &str| {
        conflicts
            .iter()
            .find(|c| c.field == field)
            .map(|c| c.kind.clone())
    };
    assert_eq!(
        winner("first_name"),
        Some(ConflictKind::Resolved {
            winner: Side::Salesforce
        })
    );
    assert_eq!(
        winner("title"),
        Some(ConflictKind::Resolved {
            winner: Side::Genesys
        })
    );
    // AND the conflicting values are kept in the audit entry
    let title = conflicts
        .iter()
        .find(|c| c.field == "title")
        .expect("title conflict");
    assert_eq!(title.salesforce_value.as_deref(), Some("Lead"));
    assert_eq!(title.genesys_value.as_deref(), Some("Manager"));
    assert_eq!(title.base_value.as_deref(), Some("Agent"));
}

#[tokio::test]
async fn manual_fields_are_held_and_ambiguous_matches_never_create() {
    // GIVEN a mapping where title is manual, one Salesforce contact whose email two Genesys
    // contacts share, and a synced pair
    let yaml = contact_sync_engine::mapping::DEFAULT_MAPPING_YAML.replace(
        "genesys: title\n    direction: both\n    policy: newest_wins",
        "genesys: title\n    direction: both\n    policy: manual",
    );
    let w = World::with(
        Mapping::from_yaml(&yaml, "test").expect("mapping"),
        SalesforceSimConfig::default(),
    )
    .await;
    w.sf.insert(json!({"LastName": "Dup", "Email": "dup@example.com"}));
    w.gz.insert(json!({"lastName": "Dup One", "workEmail": "dup@example.com"}));
    w.gz.insert(json!({"lastName": "Dup Two", "personalEmail": "DUP@example.com"}));
    let ana =
        w.sf.insert(json!({"LastName": "Lopez", "Email": "ana@example.com", "Title": "Agent"}));
    let first = w.sync().await;

    // THEN the three records of the ambiguous match (one in Salesforce, two in Genesys) are
    // held for review and nothing is created for any of them
    assert_eq!(
        w.sf.all().len(),
        2,
        "no Salesforce contact created for the Genesys duplicates"
    );
    assert_eq!(w.gz.all().len(), 3, "only Ana created in Genesys");
    assert_eq!(first.stats.review, 3);

    // WHEN both sides change the manual field differently
    let ana_gz = w.genesys_linked_to(&ana)[0]["id"]
        .as_str()
        .expect("linked")
        .to_string();
    w.sf.edit(&ana, json!({"Title": "Lead"}));
    w.gz.edit(&ana_gz, json!({"title": "Manager"}));
    w.reset_counters();
    let second = w.sync().await;

    // THEN nothing is written for it, each side keeps its value, and a review item is open
    assert_eq!(w.sf.counters().writes + w.gz.counters().writes, 0);
    assert_eq!(w.sf.get(&ana).expect("sf")["Title"], "Lead");
    assert_eq!(w.gz.get(&ana_gz).expect("gz")["title"], "Manager");
    assert_eq!(second.stats.review, 1);
    assert_eq!(
        w.open_conflicts().await,
        4,
        "three ambiguous records and the manual title"
    );
}

#[tokio::test]
async fn all_4500_salesforce_contacts_across_pages_arrive() {
    // GIVEN 4,500 Salesforce contacts (three query pages of up to 2,000)
    let w = World::new().await;
    for i in 0..4500 {
        w.sf.insert(json!({"FirstName": "Test", "LastName": format!("Contact {i:04}"), "Email": format!("c{i}@example.com")}));
    }

    // WHEN one cycle runs
    let outcome = w.sync().await;

    // THEN every one is in Genesys exactly once, linked
    assert_eq!(outcome.stats.read.salesforce, 4500);
    assert_eq!(outcome.stats.created.genesys, 4500);
    let genesys = w.gz.all();
    assert_eq!(genesys.len(), 4500);
    let mut linked: Vec<&str> = genesys
        .iter()
        .filter_map(|c| c["externalIds"][0]["value"].as_str())
        .collect();
    linked.sort();
    linked.dedup();
    assert_eq!(linked.len(), 4500);
    assert!(w.sf.counters().by_route.keys().any(|r| r.contains("query")));
}

#[tokio::test]
async fn writes_are_batched_1000_changed_contacts_cost_few_write_calls() {
    // GIVEN 1,000 synced pairs
    let w = World::new().await;
    let ids: Vec<String> = (0..1000)
        .map(|i| w.sf.insert(json!({"LastName": format!("Person {i:04}"), "Email": format!("p{i}@example.com"), "Title": "Agent"})))
        .collect();
    w.sync().await;
    let gz_of: Vec<String> = ids
        .iter()
        .map(|id| {
            w.genesys_linked_to(id)[0]["id"]
                .as_str()
                .expect("linked")
                .to_string()
        })
        .collect();

    // WHEN 500 contacts are edited in Salesforce and 500 others in Genesys
    for (i, id) in ids.iter().enumerate().take(500) {
        w.sf.edit(id, json!({"Title": format!("Lead {i}")}));
    }
    for (i, id) in gz_of.iter().enumerate().skip(500) {
        w.gz.edit(id, json!({"title": format!("Manager {i}")}));
    }
    w.reset_counters();
    let outcome = w.sync().await;

    // THEN every edit is on the other side
    assert_eq!(outcome.stats.updated.genesys, 500);
    assert_eq!(outcome.stats.updated.salesforce, 500);
    assert_eq!(w.gz.get(&gz_of[7]).expect("gz")["title"], "Lead 7");
    assert_eq!(w.sf.get(&ids[700]).expect("sf")["Title"], "Manager 700");
    // AND the writes went out in bulk: at most 10 Salesforce and 25 Genesys write calls
    let (sf_writes, gz_writes) = (w.sf.counters().writes, w.gz.counters().writes);
    println!(
        "1,000 changed contacts: {sf_writes} Salesforce write calls, {gz_writes} Genesys write calls"
    );
    assert!(sf_writes <= 10, "Salesforce write calls: {sf_writes}");
    assert!(gz_writes <= 25, "Genesys write calls: {gz_writes}");
}
