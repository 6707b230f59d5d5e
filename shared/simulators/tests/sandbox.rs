//! The sandbox seed.

use contact_sync_simulators::sandbox::{SeedReport, seed};
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
            salesforce: 40,
            genesys: 30,
            overlapping: 20
        }
    );
    assert_eq!(sf.all().len(), 40);
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
