//! Deletes and merges through both connectors, against the simulators: the Salesforce delete
//! log (`queryAll`), collection deletes, Genesys bulk remove and `mergedTo`.

use contact_sync_connectors::{GenesysConfig, GenesysSystem, SalesforceConfig, SalesforceSystem};
use contact_sync_pipeline::system::{ContactReader, ContactWriter, Watermark};
use contact_sync_simulators::{
    Fault, GenesysSim, GenesysSimConfig, SalesforceSim, SalesforceSimConfig,
};
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

async fn salesforce() -> (SalesforceSim, SalesforceSystem) {
    let sim = SalesforceSim::start(SalesforceSimConfig {
        query_batch_size: 200,
        ..SalesforceSimConfig::default()
    })
    .await
    .expect("simulator starts");
    let mut cfg = SalesforceConfig::new(sim.url(), sim.client_id(), sim.client_secret());
    cfg.fields = vec!["LastName".into(), "Email".into()];
    cfg.timeout = Duration::from_secs(10);
    let sys = SalesforceSystem::new(cfg).expect("valid config");
    (sim, sys)
}

async fn genesys() -> (GenesysSim, GenesysSystem) {
    let sim = GenesysSim::start(GenesysSimConfig::default())
        .await
        .expect("simulator starts");
    let mut cfg = GenesysConfig::new(sim.url(), sim.client_id(), sim.client_secret());
    cfg.timeout = Duration::from_secs(10);
    let sys = GenesysSystem::new(cfg).expect("valid config");
    (sim, sys)
}

fn route(counters: &contact_sync_simulators::Counters, key: &str) -> u64 {
    counters.by_route.get(key).copied().unwrap_or(0)
}

#[tokio::test]
async fn salesforce_deletions_are_read_from_querys_all_after_the_watermark_with_merges() {
    // GIVEN 500 contacts of which 250 are deleted by a user and one is merged into another
    let (sim, sys) = salesforce().await;
    let ids: Vec<String> = (0..500)
        .map(|i| sim.insert(json!({"LastName": format!("L{i}")})))
        .collect();
    for id in ids.iter().step_by(2) {
        sim.delete(id);
    }
    sim.merge(&ids[1], &ids[3]);
    // WHEN the deletions are read from the beginning (pages of 200)
    let read = sys.read_deletions(None).await.expect("read");
    // THEN all 251 arrive once, in (stamp, id) order, the merge naming its survivor
    assert_eq!(read.deletions.len(), 251);
    assert!(read.complete);
    assert!(
        read.deletions
            .windows(2)
            .all(|w| (w[0].deleted_at, &w[0].id) < (w[1].deleted_at, &w[1].id))
    );
    let merged: Vec<_> = read
        .deletions
        .iter()
        .filter(|d| d.merged_into.is_some())
        .collect();
    assert_eq!(merged.len(), 1);
    assert_eq!(merged[0].id, ids[3]);
    assert_eq!(merged[0].merged_into.as_deref(), Some(ids[1].as_str()));
    let newest = read.newest.clone().expect("newest");
    assert_eq!(newest.last_id, ids[3]);
    // AND it took one queryAll and one nextRecordsUrl page per further 200
    let counters = sim.counters();
    assert_eq!(route(&counters, "GET /queryAll"), 1);
    assert_eq!(route(&counters, "GET /query/{locator}"), 1);

    // WHEN one more record is deleted and the log is read again from the watermark
    sim.delete(&ids[7]);
    let again = sys.read_deletions(Some(&newest)).await.expect("read");
    // THEN only the new deletion comes back
    assert_eq!(
        again
            .deletions
            .iter()
            .map(|d| d.id.as_str())
            .collect::<Vec<_>>(),
        vec![ids[7].as_str()]
    );
    // AND a read past everything is empty and keeps the caller's watermark (newest = None)
    let last = again.newest.expect("newest");
    let none = sys.read_deletions(Some(&last)).await.expect("read");
    assert!(none.deletions.is_empty() && none.newest.is_none());
}

#[tokio::test]
async fn salesforce_a_hostile_watermark_id_is_refused_before_any_call() {
    // GIVEN a watermark whose id tries to widen the query
    let (sim, sys) = salesforce().await;
    let mark = Watermark::position(chrono::Utc::now(), "x' OR IsDeleted = FALSE OR Id != '");
    // WHEN deletions are read from it
    let err = sys.read_deletions(Some(&mark)).await.expect_err("refused");
    // THEN it is a configuration error and nothing was sent
    assert!(matches!(
        err,
        contact_sync_pipeline::system::SystemError::Config { .. }
    ));
    assert_eq!(sim.counters().total, 0);
}

#[tokio::test]
async fn salesforce_deletes_450_in_three_calls_and_already_gone_counts_as_deleted() {
    // GIVEN 450 contacts, 10 already deleted, and one a validation rule protects
    let (sim, sys) = salesforce().await;
    let ids: Vec<String> = (0..450)
        .map(|i| sim.insert(json!({"LastName": format!("L{i}")})))
        .collect();
    for id in &ids[..10] {
        sim.delete(id);
    }
    sim.inject(Fault::RejectRecord {
        id: ids[100].clone(),
    });
    // WHEN all of them, a repeat, a 15-character id form and a hostile id are deleted
    let mut request = ids.clone();
    request.push(ids[20].clone());
    request.push("003' OR Id != '".into());
    let outcomes = sys.delete(request).await.expect("delete");
    // THEN one outcome per distinct id: 449 deleted, the protected one refused, the hostile one
    // refused without being sent
    let by_id: HashMap<&str, &Result<String, _>> = outcomes
        .iter()
        .map(|o| (o.key.as_str(), &o.result))
        .collect();
    assert_eq!(outcomes.len(), 451);
    assert_eq!(by_id.len(), 451);
    let ok = outcomes.iter().filter(|o| o.result.is_ok()).count();
    assert_eq!(ok, 449);
    let protected = by_id[ids[100].as_str()].clone().expect_err("rejected");
    assert_eq!(protected.code, "FIELD_CUSTOM_VALIDATION_EXCEPTION");
    assert_eq!(
        by_id["003' OR Id != '"].clone().expect_err("refused").code,
        "MALFORMED_ID"
    );
    // AND exactly three collection calls were made, and only the protected one is still live
    assert_eq!(route(&sim.counters(), "DELETE /composite/sobjects"), 3);
    assert_eq!(sim.all().len(), 1);

    // WHEN the same delete is delivered again (at-least-once)
    let again = sys.delete(ids[..200].to_vec()).await.expect("delete");
    // THEN every id is reported deleted except the protected one
    assert_eq!(again.iter().filter(|o| o.result.is_ok()).count(), 199);
}

#[tokio::test]
async fn genesys_has_no_delete_log() {
    // GIVEN a Genesys org with a deleted contact
    let (sim, sys) = genesys().await;
    let id = sim.insert(json!({"lastName": "Gone"}));
    sim.delete(&id);
    // WHEN deletions are read
    let read = sys.read_deletions(None).await.expect("read");
    // THEN the read is empty and complete, and no call was made
    assert!(read.deletions.is_empty() && read.complete && read.newest.is_none());
    assert_eq!(sim.counters().total, 0);
}

#[tokio::test]
async fn genesys_removes_in_bulk_and_a_missing_contact_counts_as_removed() {
    // GIVEN 250 contacts, 5 already deleted, one protected by validation
    let (sim, sys) = genesys().await;
    let ids: Vec<String> = (0..250)
        .map(|i| sim.insert(json!({"lastName": format!("L{i}")})))
        .collect();
    for id in &ids[..5] {
        sim.delete(id);
    }
    sim.inject(Fault::RejectRecord {
        id: ids[42].clone(),
    });
    // WHEN all of them, a repeat and a non-UUID are removed
    let mut request = ids.clone();
    request.push(ids[7].clone());
    request.push("not-a-contact".into());
    let outcomes = sys.delete(request).await.expect("remove");
    // THEN one outcome per distinct id, matched by id whatever the result order
    assert_eq!(outcomes.len(), 251);
    let failed: HashSet<&str> = outcomes
        .iter()
        .filter(|o| o.result.is_err())
        .map(|o| o.key.as_str())
        .collect();
    assert_eq!(failed, HashSet::from([ids[42].as_str(), "not-a-contact"]));
    for o in outcomes.iter().filter(|o| o.result.is_ok()) {
        assert_eq!(o.result.as_deref(), Ok(o.key.as_str()));
    }
    // AND three bulk remove calls (≤100 each, the default start) left only the protected
    // contact
    assert_eq!(route(&sim.counters(), "POST /bulk/contacts/remove"), 3);
    assert_eq!(sim.all().len(), 1);
}

#[tokio::test]
async fn genesys_fetch_returns_a_merged_contact_under_its_own_id_with_merged_to() {
    // GIVEN two contacts, the first merged into the second
    let (sim, sys) = genesys().await;
    let loser = sim.insert(json!({"lastName": "Loser"}));
    let survivor = sim.insert(json!({"lastName": "Survivor"}));
    sim.merge(&loser, &survivor);
    // WHEN both are fetched and the org is scanned
    let got = sys
        .fetch(&[loser.clone(), survivor.clone()])
        .await
        .expect("fetch");
    let scanned = sys.read_changes(None, None).await.expect("scan");
    // THEN the loser comes back under the requested id, pointing at the survivor
    let by_id: HashMap<&str, &serde_json::Value> =
        got.iter().map(|r| (r.id.as_str(), &r.body)).collect();
    assert_eq!(by_id.len(), 2);
    assert_eq!(by_id[loser.as_str()]["mergedTo"]["id"], json!(survivor));
    assert!(by_id[survivor.as_str()].get("mergedTo").is_none());
    // AND the loser has left the scan
    let scanned_ids: Vec<&str> = scanned.records.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(scanned_ids, vec![survivor.as_str()]);
}

#[tokio::test]
async fn salesforce_a_purged_recycle_bin_makes_the_deletion_read_incomplete() {
    // GIVEN a deletions watermark taken after one delete
    let (sim, sys) = salesforce().await;
    let ids: Vec<String> = (0..3)
        .map(|i| sim.insert(json!({"LastName": format!("L{i}")})))
        .collect();
    sim.delete(&ids[0]);
    let first = sys.read_deletions(None).await.expect("read");
    let mark = first.newest.expect("newest");
    // WHEN nothing else happens, the log covers the watermark
    let covered = sys.read_deletions(Some(&mark)).await.expect("read");
    assert!(covered.complete);
    // WHEN another record is deleted and the Recycle Bin is emptied before the next read
    sim.delete(&ids[1]);
    assert_eq!(sim.purge_recycle_bin(), 2);
    let after = sys.read_deletions(Some(&mark)).await.expect("read");
    // THEN the purged delete cannot be seen, and the read says so
    assert!(after.deletions.is_empty());
    assert!(!after.complete);
    assert_eq!(route(&sim.counters(), "GET /sobjects/Contact/deleted"), 2);
}
