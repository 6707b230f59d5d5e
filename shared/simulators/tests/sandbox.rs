//! The sandbox seed.

use std::collections::BTreeMap;

use contact_sync_simulators::sandbox::{SeedReport, SpellingCount, country_spellings, seed};
use contact_sync_simulators::{GenesysSim, GenesysSimConfig, SalesforceSim, SalesforceSimConfig};
use serde_json::Value;

async fn seeded() -> (SalesforceSim, GenesysSim, SeedReport) {
    let sf = SalesforceSim::start(SalesforceSimConfig::default())
        .await
        .expect("sf");
    let gz = GenesysSim::start(GenesysSimConfig::default())
        .await
        .expect("gz");
    let report = seed(&sf, &gz);
    (sf, gz, report)
}

/// The contacts without server-set fields (ids, stamps), for comparing two seeds.
fn content(records: Vec<Value>, server_fields: &[&str]) -> Vec<Value> {
    records
        .into_iter()
        .map(|mut record| {
            if let Some(object) = record.as_object_mut() {
                for field in server_fields {
                    object.remove(*field);
                }
            }
            record
        })
        .collect()
}

#[tokio::test]
async fn seed_fills_both_systems_with_overlapping_people() {
    // GIVEN two fresh simulators
    // WHEN seeding them
    let (sf, gz, report) = seeded().await;
    // THEN the report matches what is stored and the overlap has realistic differences
    assert_eq!(
        report,
        SeedReport {
            salesforce: 41,
            genesys: 30,
            overlapping: 20
        }
    );
    assert_eq!(sf.all().len(), 41);
    assert_eq!(gz.all().len(), 30);
    let sf_ana = sf
        .all()
        .into_iter()
        .find(|c| c["FirstName"] == "Ana")
        .expect("Ana in SF");
    let gz_ana = gz
        .all()
        .into_iter()
        .find(|c| c["firstName"] == "Ana")
        .expect("Ana in GC");
    assert_eq!(sf_ana["Email"], "Ana.Lopez@Example.com");
    assert_eq!(gz_ana["workEmail"], "ana.lopez@example.com");
    assert_eq!(sf_ana["Phone"], "(415) 555-0100");
    assert_eq!(gz_ana["workPhone"]["e164"], "+14155550100");
    assert!(
        gz.all().iter().any(|c| c.get("lastName").is_none()),
        "one contact has no last name"
    );
    // AND the people are typed as real orgs type them: a nickname in quotes, an apostrophe,
    // accents, national and international phones with an extension, one person twice
    let sf_all = sf.all();
    let gz_all = gz.all();
    let sf_has = |field: &str, value: &str| sf_all.iter().any(|c| c[field] == value);
    let gz_has = |value: &str| {
        gz_all
            .iter()
            .any(|c| c["firstName"] == value || c["lastName"] == value)
    };
    assert!(sf_has("FirstName", "Robert \"Bob\"") && gz_has("Bob"));
    assert!(sf_has("LastName", "O'Brien") && gz_has("O'Brien"));
    assert!(sf_has("FirstName", "Inès") && gz_has("Ines"));
    assert!(sf_has("FirstName", "Zoë") && gz_has("Théo"));
    assert!(sf_has("Phone", "020 7946 0105"));
    assert!(sf_has("Phone", "(312) 555-0102 x12"));
    assert!(sf_has("Phone", "01 23 45 67 89"));
    assert!(sf_has("Phone", "098765 43210"));
    let gz_chloe_work = gz_all
        .iter()
        .find(|c| c["firstName"] == "Chloe")
        .map(|c| c["workPhone"].clone())
        .expect("Chloe in GC");
    assert_eq!(gz_chloe_work["e164"], "+13125550102");
    assert_eq!(gz_chloe_work["extension"], 12);
    assert!(
        gz_all
            .iter()
            .any(|c| c["workPhone"]["e164"] == "+442079460105")
    );
    assert!(
        gz_all
            .iter()
            .any(|c| c["workPhone"]["e164"] == "+919876543210")
    );
    let mut sf_emails: Vec<String> = sf_all
        .iter()
        .filter_map(|c| c["Email"].as_str().map(str::to_lowercase))
        .collect();
    let before = sf_emails.len();
    sf_emails.sort();
    sf_emails.dedup();
    assert_eq!(
        before - sf_emails.len(),
        1,
        "one email held by two contacts"
    );
    let emails: Vec<String> = sf
        .all()
        .iter()
        .chain(gz.all().iter())
        .flat_map(|c| {
            [
                c["Email"].clone(),
                c["workEmail"].clone(),
                c["personalEmail"].clone(),
            ]
        })
        .filter_map(|e| e.as_str().map(str::to_lowercase))
        .collect();
    assert!(
        emails
            .iter()
            .all(|e| e.ends_with("@example.com") || e.ends_with("@example.org"))
    );
}

#[tokio::test]
async fn seed_is_deterministic() {
    // GIVEN two independently seeded pairs
    let (sf1, gz1, _) = seeded().await;
    let (sf2, gz2, _) = seeded().await;
    // WHEN comparing their content
    // THEN Salesforce ids and all field values match; Genesys ids match too (fixed-seed ids)
    let sf_stamps = ["SystemModstamp", "LastModifiedDate", "CreatedDate"];
    assert_eq!(
        content(sf1.all(), &sf_stamps),
        content(sf2.all(), &sf_stamps)
    );
    let gz_stamps = ["createDate", "modifyDate"];
    assert_eq!(
        content(gz1.all(), &gz_stamps),
        content(gz2.all(), &gz_stamps)
    );
}

#[tokio::test]
async fn a_snapshot_restored_into_new_simulators_keeps_ids_and_continues_them() {
    // GIVEN seeded simulators, one Salesforce contact deleted, one Genesys source, and their
    // snapshots
    let (sf, gz, _) = seeded().await;
    let gone = sf.all()[0]["Id"].as_str().expect("id").to_string();
    sf.delete(&gone);
    let source = gz.add_external_source("Salesforce");
    let (sf_saved, gz_saved) = (sf.snapshot(), gz.snapshot());

    // WHEN new simulators restore them and each creates one more record
    let sf2 = SalesforceSim::start(SalesforceSimConfig::default())
        .await
        .expect("sf");
    let gz2 = GenesysSim::start(GenesysSimConfig::default())
        .await
        .expect("gz");
    sf2.restore(&sf_saved).expect("restore sf");
    gz2.restore(&gz_saved).expect("restore gz");
    let new_sf = sf2.insert(serde_json::json!({"LastName": "Newcomer"}));
    let new_gz = gz2.insert(serde_json::json!({"lastName": "Newcomer"}));

    // THEN the data is the same (deleted record included), in the same scan order, the source
    // keeps its id, and the new ids were never used before
    assert_eq!(sf2.get(&gone), sf.get(&gone));
    assert_eq!(sf2.all().len(), sf.all().len() + 1);
    let restored: Vec<Value> = gz2
        .all()
        .into_iter()
        .filter(|c| c["id"] != new_gz.as_str())
        .collect();
    assert!(
        restored == gz.all(),
        "the Genesys contacts differ after restore"
    );
    assert_eq!(gz2.external_sources()[0]["id"], source.as_str());
    assert!(sf.get(&new_sf).is_none());
    assert!(gz.all().iter().all(|c| c["id"] != new_gz.as_str()));
    // AND a snapshot that is not one is refused
    assert!(sf2.restore(&serde_json::json!({"contacts": 3})).is_err());
}

#[tokio::test]
async fn seed_types_countries_many_ways_and_counts_each_spelling() {
    // GIVEN seeded simulators
    let (sf, gz, _) = seeded().await;
    // WHEN counting the country spellings the seed reports and the ones the systems hold
    let reported = country_spellings();
    let mut held: BTreeMap<String, SpellingCount> = BTreeMap::new();
    for contact in sf.all() {
        if let Some(country) = contact["MailingCountry"].as_str() {
            held.entry(country.to_string()).or_default().salesforce += 1;
        }
    }
    for contact in gz.all() {
        if let Some(country) = contact["address"]["countryCode"].as_str() {
            held.entry(country.to_string()).or_default().genesys += 1;
        }
    }
    println!("country spelling      salesforce  genesys");
    for (spelling, count) in &reported {
        println!(
            "{spelling:<20}  {:>10}  {:>7}",
            count.salesforce, count.genesys
        );
    }
    // THEN the report is what the systems hold, every contact has a country, and every
    // spelling real orgs use appears
    let reported_owned: BTreeMap<String, SpellingCount> = reported
        .iter()
        .map(|(spelling, count)| ((*spelling).to_string(), *count))
        .collect();
    assert_eq!(reported_owned, held);
    let total = |side: fn(&SpellingCount) -> usize| held.values().map(side).sum::<usize>();
    assert_eq!(total(|c| c.salesforce), 41);
    assert_eq!(total(|c| c.genesys), 30);
    for spelling in [
        "US",
        "USA",
        "U.S.A.",
        "United States",
        "usa",
        "UK",
        "Great Britain",
        "United Kingdom",
        "Deutschland",
        "España",
        "France",
        "India",
    ] {
        assert!(held.contains_key(spelling), "no contact typed {spelling}");
    }
}

#[tokio::test]
async fn people_in_both_systems_have_their_country_typed_differently_on_each_side() {
    // GIVEN seeded simulators
    let (sf, gz, _) = seeded().await;
    // WHEN pairing the overlapping people by email
    let gz_by_email: BTreeMap<String, Value> = gz
        .all()
        .into_iter()
        .filter_map(|c| Some((c["workEmail"].as_str()?.to_lowercase(), c)))
        .collect();
    let pairs: Vec<(Value, Value)> = sf
        .all()
        .into_iter()
        .filter(|c| c["Phone"].is_string())
        .filter_map(|c| {
            let twin = gz_by_email
                .get(&c["Email"].as_str()?.to_lowercase())?
                .clone();
            Some((c, twin))
        })
        .collect();
    // THEN all 20 pairs differ in how the country is spelled
    assert_eq!(pairs.len(), 20);
    for (salesforce, genesys) in &pairs {
        assert_ne!(
            salesforce["MailingCountry"], genesys["address"]["countryCode"],
            "{} typed the same on both sides",
            salesforce["Id"]
        );
    }
}
