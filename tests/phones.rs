//! End-to-end: phones in the record's own country (issue 14 item 2), through the whole
//! pipeline against both simulators. Salesforce contacts in GB/DE/FR/IN/US with national
//! numbers and extensions reach Genesys as E.164 `display` plus `extension` (so Genesys' own
//! `e164` is right), a number not valid in the contact's country is copied as typed, Genesys
//! extensions come back to Salesforce, and a second run writes nothing.

use contact_sync_e2e::World;
use contact_sync_engine::mapping::{DEFAULT_MAPPING_YAML, Mapping};
use contact_sync_simulators::SalesforceSimConfig;
use serde_json::{Value, json};
use std::time::Duration;

/// The default mapping with the country as `kind: country` (ISO codes on both sides), which
/// is what the record's phone region is read from.
fn mapping() -> Mapping {
    let mut yaml = String::new();
    let mut skipping = false;
    for line in DEFAULT_MAPPING_YAML.lines() {
        if line == "  - name: address.country" {
            skipping = true;
            yaml.push_str(
                "  - {name: address.country, kind: country, salesforce: MailingCountry, genesys: address.countryCode, direction: both, policy: salesforce_wins}\n",
            );
            continue;
        }
        if skipping && (line.starts_with("  - name:") || !line.starts_with(' ')) {
            skipping = false;
        }
        if !skipping {
            yaml.push_str(line);
            yaml.push('\n');
        }
    }
    let mapping = Mapping::from_yaml(&yaml, "phones.yaml").expect("valid mapping");
    assert!(mapping.field("address.country").unwrap().values.is_none());
    mapping
}

fn linked(w: &World, sf_id: &str) -> Value {
    let linked = w.genesys_linked_to(sf_id);
    assert_eq!(linked.len(), 1, "one Genesys contact for {sf_id}");
    linked[0].clone()
}

#[tokio::test]
async fn national_numbers_and_extensions_reach_genesys_in_their_own_country_and_settle() {
    // GIVEN Salesforce contacts in five countries with national numbers and extensions, one
    // without country, and a US number on a UK contact
    let w = World::with(mapping(), SalesforceSimConfig::default()).await;
    let ana = w.sf.insert(json!({"LastName": "Ana", "MailingCountry": "GB", "Phone": "020 7946 0105 ext. 45", "MobilePhone": "07400 123456"}));
    let bert = w.sf.insert(json!({"LastName": "Bert", "MailingCountry": "DE", "Phone": "030 123456", "MobilePhone": "0151 23456789 x7"}));
    let chloe = w.sf.insert(
        json!({"LastName": "Chloe", "MailingCountry": "FR", "Phone": "01 23 45 67 89 #12"}),
    );
    let dev =
        w.sf.insert(json!({"LastName": "Dev", "MailingCountry": "IN", "Phone": "098765 43210"}));
    let eve = w
        .sf
        .insert(json!({"LastName": "Eve", "MailingCountry": "US", "Phone": "(415) 555-0134 x123"}));
    let finn =
        w.sf.insert(json!({"LastName": "Finn", "Phone": "020 7946 0105"}));
    let gus =
        w.sf.insert(json!({"LastName": "Gus", "MailingCountry": "GB", "Phone": "+1 415 555 0199"}));

    // WHEN one cycle runs
    let first = w.sync().await;
    assert_eq!(first.stats.failed, 0);

    // THEN each Genesys phone is the number of the contact's country, with its extension, and
    // Genesys computed the right e164 from what was written
    let cases = [
        (&ana, "workPhone", "+442079460105", Some(45)),
        (&ana, "cellPhone", "+447400123456", None),
        (&bert, "workPhone", "+4930123456", None),
        (&bert, "cellPhone", "+4915123456789", Some(7)),
        (&chloe, "workPhone", "+33123456789", Some(12)),
        (&dev, "workPhone", "+919876543210", None),
        (&eve, "workPhone", "+14155550134", Some(123)),
        (&gus, "workPhone", "+14155550199", None),
    ];
    for (sf_id, slot, e164, extension) in cases {
        let phone = &linked(&w, sf_id)[slot];
        assert_eq!(phone["userInput"], e164, "{sf_id} {slot}");
        assert_eq!(phone["e164"], e164, "{sf_id} {slot}");
        assert_eq!(
            phone["extension"].as_i64(),
            extension,
            "{sf_id} {slot} extension"
        );
        let display_digits: String = phone["display"]
            .as_str()
            .unwrap_or_default()
            .chars()
            .filter(|c| c.is_ascii_digit() || *c == '+')
            .collect();
        assert_eq!(display_digits, e164, "{sf_id} {slot} display");
    }
    // AND the UK number on the contact without country was copied as typed: no country code
    // of ours (Genesys guesses +1 for it, as documented, and that guess is not read back)
    let finn_phone = &linked(&w, &finn)["workPhone"];
    assert_eq!(finn_phone["userInput"], "020 7946 0105");
    assert!(finn_phone.get("extension").is_none());

    // WHEN a second and a third cycle run without edits
    for run in ["second", "third"] {
        w.reset_counters();
        let outcome = w.sync().await;
        // THEN nothing is written anywhere (no ping-pong)
        assert_eq!(w.sf.counters().writes, 0, "{run}: Salesforce writes");
        assert_eq!(w.gz.counters().writes, 0, "{run}: Genesys writes");
        assert_eq!(
            outcome.stats.created.total() + outcome.stats.updated.total(),
            0,
            "{run}"
        );
    }
    // AND Salesforce still holds the numbers as typed (nothing was written back)
    assert_eq!(w.sf.get(&ana).unwrap()["Phone"], "020 7946 0105 ext. 45");
    assert_eq!(w.sf.get(&finn).unwrap()["Phone"], "020 7946 0105");
}

#[tokio::test]
async fn a_genesys_extension_comes_back_to_salesforce_and_settles() {
    // GIVEN an Indian contact synced to Genesys
    let w = World::with(mapping(), SalesforceSimConfig::default()).await;
    let dev =
        w.sf.insert(json!({"LastName": "Dev", "MailingCountry": "IN", "Phone": "098765 43210"}));
    w.sync().await;
    let dev_gz = linked(&w, &dev)["id"].as_str().unwrap().to_string();

    // WHEN an agent types the national number again in Genesys, now with an extension
    tokio::time::sleep(Duration::from_millis(15)).await;
    w.gz.edit(
        &dev_gz,
        json!({"workPhone": {"display": "098765 43210", "extension": 9}}),
    );
    w.sync().await;

    // THEN Salesforce gets the number with the extension, as text that reads back the same
    assert_eq!(w.sf.get(&dev).unwrap()["Phone"], "+919876543210 x9");
    // AND the Genesys phone is left as the agent typed it
    let phone = &linked(&w, &dev)["workPhone"];
    assert_eq!(phone["userInput"], "098765 43210");
    assert_eq!(phone["extension"], 9);

    // WHEN two more cycles run without edits THEN nothing is written
    for run in ["second", "third"] {
        w.reset_counters();
        w.sync().await;
        assert_eq!(
            w.sf.counters().writes + w.gz.counters().writes,
            0,
            "{run}: writes"
        );
    }
}
