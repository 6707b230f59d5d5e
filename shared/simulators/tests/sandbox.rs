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
