//! End-to-end: countries and states as people type them, synced between the simulators with
//! the default mapping (issue 14, item 1).

use contact_sync_e2e::World;
use contact_sync_engine::mapping::Mapping;
use contact_sync_simulators::SalesforceSimConfig;
use serde_json::{Value, json};

/// The one Genesys contact linked to a Salesforce Id.
fn linked(w: &World, sf_id: &str) -> Value {
    let mut linked = w.genesys_linked_to(sf_id);
    assert_eq!(linked.len(), 1, "one Genesys contact for {sf_id}");
    linked.remove(0)
}

#[tokio::test]
async fn countries_typed_any_way_reach_genesys_as_codes_and_a_second_run_writes_nothing() {
    // GIVEN Salesforce contacts whose countries (and states) were typed the ways people type
    let w = World::new().await;
    let typed = [
        ("US", "IN", "US", "IN"),
        ("U.S.A.", "Indiana", "US", "IN"),
        ("United Kingdom", "", "GB", ""),
        ("Deutschland", "Bayern", "DE", "BY"),
        ("España", "", "ES", ""),
        ("Atlantis", "Lemuria", "Atlantis", "Lemuria"),
    ];
    let ids: Vec<String> = typed
        .iter()
        .enumerate()
        .map(|(i, (country, state, _, _))| {
            w.sf.insert(json!({
                "LastName": format!("Person{i}"),
                "MailingCountry": country,
                "MailingState": state,
            }))
        })
        .collect();

    // WHEN one cycle runs
    let first = w.sync().await;

    // THEN each reached Genesys with its ISO code, and what names no country as typed
    assert_eq!(first.stats.failed, 0);
    for (id, (country, _, code, state)) in ids.iter().zip(typed) {
        let gz = linked(&w, id);
        assert_eq!(gz["address"]["countryCode"], code, "{country}");
        if state.is_empty() {
            assert!(gz["address"].get("state").is_none(), "{country}");
        } else {
            assert_eq!(gz["address"]["state"], state, "{country}");
        }
    }
    // AND no review item was opened, and Salesforce kept what people typed
    assert_eq!(first.stats.conflicts, 0);
    assert_eq!(w.open_conflicts().await, 0);
    assert_eq!(w.sf.get(&ids[1]).expect("kept")["MailingCountry"], "U.S.A.");

    // WHEN a second cycle runs without edits
    w.wait_past_stamps().await;
    w.reset_counters();
    let second = w.sync().await;
    // THEN neither side gets a write ("U.S.A." and "US" are one value: no ping-pong)
    assert_eq!(w.sf.counters().writes, 0, "Salesforce writes");
    assert_eq!(w.gz.counters().writes, 0, "Genesys writes");
    assert_eq!(
        second.stats.updated.total() + second.stats.created.total(),
        0
    );
}

#[tokio::test]
async fn a_genesys_code_reaches_salesforce_as_a_name_and_stays_put() {
    // GIVEN a Genesys contact in Quebec, Canada (codes), and the default style (names)
    let w = World::new().await;
    w.gz.insert(json!({"lastName": "Tremblay", "workEmail": "marie@example.ca", "address": {"countryCode": "CA", "state": "QC"}}));

    // WHEN one cycle runs
    let first = w.sync().await;

    // THEN Salesforce gets the ISO English names
    assert_eq!(first.stats.failed, 0);
    let sf = w.salesforce_with_email("marie@example.ca");
    assert_eq!(sf.len(), 1);
    assert_eq!(sf[0]["MailingCountry"], "Canada");
    assert_eq!(sf[0]["MailingState"], "Quebec");
    // AND a second run writes nothing back to Genesys (the name reads as the same code)
    w.wait_past_stamps().await;
    w.reset_counters();
    w.sync().await;
    assert_eq!(w.sf.counters().writes + w.gz.counters().writes, 0);
}

#[tokio::test]
async fn an_org_with_state_and_country_picklists_is_synced_through_the_code_fields() {
    // GIVEN an org with State and Country picklists, the default mapping adapted to it at
    // start-up, a Salesforce contact in Bavaria and a Genesys contact in France
    let w = World::adapted_to_org(
        Mapping::default_mapping(),
        SalesforceSimConfig {
            state_country_picklists: true,
            ..SalesforceSimConfig::default()
        },
    )
    .await;
    // (the start-up describe switched both address fields to their code fields)
    let field = |name: &str| {
        w.integration
            .mapping
            .field(name)
            .and_then(|f| f.salesforce.clone())
    };
    assert_eq!(
        field("address.country").as_deref(),
        Some("MailingCountryCode")
    );
    assert_eq!(field("address.state").as_deref(), Some("MailingStateCode"));
    let hans = w
        .sf
        .insert(json!({"LastName": "Huber", "MailingCountryCode": "DE", "MailingStateCode": "BY"}));
    w.gz.insert(json!({"lastName": "Martin", "workEmail": "martin@example.fr", "address": {"countryCode": "fr"}}));

    // WHEN one cycle runs
    let first = w.sync().await;

    // THEN Genesys gets Hans's codes
    assert_eq!(first.stats.failed, 0);
    let gz = linked(&w, &hans);
    assert_eq!(gz["address"]["countryCode"], "DE");
    assert_eq!(gz["address"]["state"], "BY");
    // AND Salesforce gets Martin's country through the code field (its name follows)
    let sf = w.salesforce_with_email("martin@example.fr");
    assert_eq!(sf.len(), 1);
    assert_eq!(sf[0]["MailingCountryCode"], "FR");
    assert_eq!(sf[0]["MailingCountry"], "France");
    assert_eq!(w.open_conflicts().await, 0);

    // WHEN a second cycle runs without edits THEN nothing is written
    w.wait_past_stamps().await;
    w.reset_counters();
    w.sync().await;
    assert_eq!(w.sf.counters().writes + w.gz.counters().writes, 0);
}
