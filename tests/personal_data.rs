//! Personal data at rest, end to end in one process (the CLI's cycle over both simulators):
//! audit values are dropped after the mapping's retention by the run itself, while ids,
//! decisions and open review items' values stay. (The scheduled poller's share is in aws.rs;
//! `forget` on the command line in the CLI's tests.)

use chrono::{Duration, Utc};
use contact_sync_e2e::World;
use contact_sync_engine::mapping::{DEFAULT_MAPPING_YAML, Mapping};
use contact_sync_pipeline::store::{ConflictKind, ConflictRecord, ConflictStatus, SyncStore};
use contact_sync_simulators::SalesforceSimConfig;

fn entry(id: &str, status: ConflictStatus, age: Duration) -> ConflictRecord {
    ConflictRecord {
        id: id.into(),
        integration: "default".into(),
        run_id: "run-old".into(),
        pair_id: Some(format!("pair-{id}")),
        sf_id: Some(format!("003{id}")),
        gz_id: Some(format!("gz-{id}")),
        field: "email".into(),
        policy: "newest_wins".into(),
        kind: ConflictKind::Resolved {
            winner: contact_sync_engine::Side::Salesforce,
        },
        status,
        base_value: Some("old@example.com".into()),
        salesforce_value: Some("ana@example.com".into()),
        genesys_value: Some("ana@example.org".into()),
        at: Utc::now() - age,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sync_run_drops_audit_values_past_the_retention_and_keeps_the_rest() {
    // GIVEN a mapping keeping audit values 30 days, and in the store an entry of 31 days, one
    // of 29 days, and a review item of 31 days still open
    let mapping = Mapping::from_yaml(
        &format!("{DEFAULT_MAPPING_YAML}\naudit:\n  value_retention_days: 30\n"),
        "30 days",
    )
    .expect("mapping");
    let w = World::with(mapping, SalesforceSimConfig::default()).await;
    let old = entry("old", ConflictStatus::Closed, Duration::days(31));
    let recent = entry("recent", ConflictStatus::Closed, Duration::days(29));
    let open = entry("open", ConflictStatus::Open, Duration::days(31));
    for e in [&old, &recent, &open] {
        w.store.record_conflict(e).await.expect("record");
    }
    // WHEN a sync run completes
    w.sync().await;
    // THEN the old entry lost its values and kept everything else
    let mut expected = old.clone();
    expected.drop_values();
    assert_eq!(w.store.conflict("old").await.unwrap(), Some(expected));
    // AND the recent entry and the open review item keep theirs
    assert_eq!(w.store.conflict("recent").await.unwrap(), Some(recent));
    assert_eq!(w.store.conflict("open").await.unwrap(), Some(open));
    // AND a second run changes none of them (idempotent)
    let before = w.store.conflicts("default", false).await.unwrap();
    w.sync().await;
    assert_eq!(w.store.conflicts("default", false).await.unwrap(), before);
}
