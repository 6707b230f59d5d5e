//! End-to-end: what happens to pairs over their life — deletes under each policy, merges on
//! both sides, the delete circuit breaker, one-way mode, and a person settling a held field.

use contact_sync_e2e::World;
use contact_sync_engine::Side;
use contact_sync_engine::mapping::{DEFAULT_MAPPING_YAML, Mapping};
use contact_sync_pipeline::review::{Decision, resolve};
use contact_sync_pipeline::store::{ConflictKind, ConflictStatus, PairStatus, SyncStore};
use contact_sync_simulators::SalesforceSimConfig;
use serde_json::json;
use std::time::Duration;

async fn tick() {
    tokio::time::sleep(Duration::from_millis(15)).await;
}

/// The default mapping with extra top-level settings.
fn default_with(extra: &str) -> Mapping {
    Mapping::from_yaml(&format!("{extra}\n{DEFAULT_MAPPING_YAML}"), "test").expect("mapping")
}

async fn world(extra: &str) -> World {
    World::with(default_with(extra), SalesforceSimConfig::default()).await
}

/// Ana and Ben in Salesforce, synced once; returns their Salesforce and Genesys ids.
async fn two_synced(w: &World) -> [(String, String); 2] {
    let ana =
        w.sf.insert(json!({"FirstName": "Ana", "LastName": "Lopez", "Email": "ana@example.com"}));
    let ben =
        w.sf.insert(json!({"FirstName": "Ben", "LastName": "Okafor", "Email": "ben@example.com"}));
    let first = w.sync().await;
    assert_eq!(first.stats.created.genesys, 2);
    let gz = |sf: &str| {
        w.genesys_linked_to(sf)[0]["id"]
            .as_str()
            .expect("gz")
            .to_string()
    };
    [(ana.clone(), gz(&ana)), (ben.clone(), gz(&ben))]
}

/// How many `externalIds` entries of a Genesys contact name this Salesforce Id.
fn link_entries(contact: &serde_json::Value, sf_id: &str) -> usize {
    contact["externalIds"]
        .as_array()
        .map_or(0, |ids| ids.iter().filter(|e| e["value"] == sf_id).count())
}

async fn pair_of(w: &World, side: Side, id: &str) -> contact_sync_pipeline::store::Pair {
    let links = w.store.links(side, &[id.to_string()]).await.expect("links");
    let pair_id = links.get(id).expect("linked").clone();
    w.store.pair(&pair_id).await.expect("pair").expect("stored")
}

#[tokio::test]
async fn unlink_keeps_the_other_record_and_never_recreates_the_deleted_one() {
    // GIVEN a synced pair under the default delete policy (unlink)
    let w = world("").await;
    let [(ana, ana_gz), _] = two_synced(&w).await;

    let before = w.gz.get(&ana_gz).expect("synced");
    assert_eq!(link_entries(&before, &ana), 1);
    assert!(
        before["externalSystemUrl"]
            .as_str()
            .is_some_and(|u| u.contains(&ana))
    );

    // WHEN Ana is deleted in Salesforce and a sync runs
    w.sf.delete(&ana);
    w.reset_counters();
    let outcome = w.sync().await;
    assert_eq!(w.gz.counters().writes, 1, "the unlink is one bulk update");

    // THEN her Genesys record stays, without the link to the gone record (neither its
    // `externalIds` entry nor `externalSystemUrl`), the pair is a tombstone, and a review item
    // says so
    let kept = w.gz.get(&ana_gz).expect("kept");
    assert_eq!(link_entries(&kept, &ana), 0, "{kept}");
    assert!(kept.get("externalSystemUrl").is_none(), "{kept}");
    assert_eq!(outcome.stats.unlinked, 1);
    let tombstone = pair_of(&w, Side::Genesys, &ana_gz).await;
    assert_eq!(tombstone.status, PairStatus::Unlinked);
    // AND the tombstone keeps both ids but none of her values (no base snapshot)
    assert_eq!(
        (tombstone.sf_id.as_deref(), tombstone.gz_id.as_deref()),
        (Some(ana.as_str()), Some(ana_gz.as_str()))
    );
    assert_eq!(
        outcome.stats.updated.genesys, 0,
        "an unlink is not an update"
    );
    assert!(tombstone.base.is_none(), "{:?}", tombstone.base);
    assert!(tombstone.resolutions.is_empty());
    let open = w
        .store
        .conflicts(&w.integration.name, true)
        .await
        .expect("conflicts");
    assert!(open.iter().any(|c| c.kind
        == ConflictKind::Deleted {
            side: Side::Salesforce
        }));

    // WHEN her Genesys record is edited afterwards
    tick().await;
    w.gz.edit(&ana_gz, json!({"title": "Still here"}));
    w.reset_counters();
    w.sync().await;

    // THEN she is never re-created in Salesforce, and nothing is written anywhere
    assert!(w.salesforce_with_email("ana@example.com").is_empty());
    assert_eq!(w.sf.counters().writes + w.gz.counters().writes, 0);
}

#[tokio::test]
async fn propagate_deletes_the_other_record_in_one_bulk_call() {
    // GIVEN two synced pairs under delete policy propagate
    let w = world("deletes: {policy: propagate}").await;
    let [(ana, ana_gz), (ben, ben_gz)] = two_synced(&w).await;

    // WHEN both are deleted in Salesforce
    w.sf.delete(&ana);
    w.sf.delete(&ben);
    w.reset_counters();
    let outcome = w.sync().await;

    // THEN both Genesys records are gone, with one bulk remove call, and audited
    assert!(w.gz.get(&ana_gz).is_none() && w.gz.get(&ben_gz).is_none());
    assert_eq!(outcome.stats.deleted.genesys, 2);
    assert_eq!(w.gz.counters().writes, 1, "one bulk remove");
    let all = w
        .store
        .conflicts(&w.integration.name, false)
        .await
        .expect("conflicts");
    let audited = all
        .iter()
        .filter(|c| c.policy == "propagate" && c.status == ConflictStatus::Closed)
        .count();
    assert_eq!(audited, 2);

    // WHEN the next sync runs THEN nothing comes back
    w.reset_counters();
    w.sync().await;
    assert_eq!(w.sf.counters().writes + w.gz.counters().writes, 0);
}

#[tokio::test]
async fn a_salesforce_merge_repoints_the_pair_to_the_master_record() {
    // GIVEN Ana synced, and a duplicate Ana in Salesforce only (not in Genesys yet)
    let w = world("").await;
    let [(ana, ana_gz), _] = two_synced(&w).await;
    let master = w.sf.insert(
        json!({"FirstName": "Ana", "LastName": "Lopez-Garcia", "Email": "ana.lg@example.com"}),
    );
    w.sync().await;
    let master_gz = w.genesys_linked_to(&master)[0]["id"]
        .as_str()
        .expect("gz")
        .to_string();
    assert_ne!(master_gz, ana_gz);

    // WHEN Ana is merged into the master, whose pair already exists
    w.sf.merge(&master, &ana);
    w.sync().await;

    // THEN the merged pair cannot take over the master's pair: it is unlinked and a person
    // is asked (two Genesys contacts now stand for one Salesforce contact)
    let open = w
        .store
        .conflicts(&w.integration.name, true)
        .await
        .expect("conflicts");
    assert!(
        open.iter().any(|c| matches!(&c.kind, ConflictKind::MergeCollision { side: Side::Salesforce, survivor } if *survivor == master)),
        "{open:?}"
    );
    assert!(w.gz.get(&ana_gz).is_some(), "nothing deleted on a merge");
    // AND the master keeps its one twin; Ana's twin is unlinked (no link to the gone record,
    // none to the master), counted, and stays a tombstone
    let linked = w.genesys_linked_to(&master);
    assert_eq!(linked.len(), 1, "{linked:?}");
    assert_eq!(linked[0]["id"], master_gz.as_str());
    let loser_twin = w.gz.get(&ana_gz).expect("kept");
    assert_eq!(link_entries(&loser_twin, &ana), 0, "{loser_twin}");
    assert!(
        loser_twin.get("externalSystemUrl").is_none(),
        "{loser_twin}"
    );
    assert_eq!(
        pair_of(&w, Side::Genesys, &ana_gz).await.status,
        PairStatus::Unlinked
    );
    assert_eq!(
        pair_of(&w, Side::Salesforce, &master)
            .await
            .gz_id
            .as_deref(),
        Some(master_gz.as_str())
    );

    // WHEN both Genesys contacts are edited and another sync runs
    tick().await;
    w.gz.edit(&ana_gz, json!({"title": "Loser"}));
    w.gz.edit(&master_gz, json!({"title": "Survivor"}));
    w.sync().await;
    // THEN only the master's twin flows to the master; the loser's twin stays unlinked
    assert_eq!(w.sf.get(&master).expect("master")["Title"], "Survivor");
    assert_eq!(w.genesys_linked_to(&master).len(), 1);
}

#[tokio::test]
async fn under_propagate_a_salesforce_merge_removes_the_losers_twin() {
    // GIVEN Ana and a master record both synced, under delete policy propagate
    let w = world("deletes: {policy: propagate}").await;
    let [(ana, ana_gz), _] = two_synced(&w).await;
    let master = w.sf.insert(
        json!({"FirstName": "Ana", "LastName": "Lopez-Garcia", "Email": "ana.lg@example.com"}),
    );
    w.sync().await;
    let master_gz = w.genesys_linked_to(&master)[0]["id"]
        .as_str()
        .expect("gz")
        .to_string();

    // WHEN Ana is merged into the master and a sync runs
    w.sf.merge(&master, &ana);
    let outcome = w.sync().await;

    // THEN Ana's twin is deleted, the master keeps its one twin
    assert!(w.gz.get(&ana_gz).is_none());
    assert_eq!(outcome.stats.deleted.genesys, 1);
    let linked = w.genesys_linked_to(&master);
    assert_eq!(linked.len(), 1, "{linked:?}");
    assert_eq!(linked[0]["id"], master_gz.as_str());
}

#[tokio::test]
async fn a_person_created_again_in_salesforce_after_an_unlink_is_synced_as_a_new_contact() {
    // GIVEN Ana synced, then deleted in Salesforce and unlinked
    let w = world("").await;
    let [(ana, ana_gz), _] = two_synced(&w).await;
    w.sf.delete(&ana);
    w.sync().await;

    // WHEN she is created again in Salesforce (same email) and a sync runs
    tick().await;
    let again = w.sf.insert(
        json!({"FirstName": "Ana", "LastName": "Lopez", "Email": "ana@example.com", "Title": "Back"}),
    );
    let outcome = w.sync().await;

    // THEN she is not matched to the unlinked Genesys contact (left as it is, a tombstone),
    // and not lost either: a new Genesys contact carries the new record
    assert_eq!(outcome.stats.created.genesys, 1);
    let linked = w.genesys_linked_to(&again);
    assert_eq!(linked.len(), 1, "{linked:?}");
    assert_ne!(linked[0]["id"], ana_gz.as_str());
    assert_eq!(linked[0]["title"], "Back");
    let old = w.gz.get(&ana_gz).expect("kept");
    assert_eq!(link_entries(&old, &again), 0);
    assert_eq!(
        pair_of(&w, Side::Genesys, &ana_gz).await.status,
        PairStatus::Unlinked
    );
    // AND the next sync writes nothing
    w.reset_counters();
    w.sync().await;
    assert_eq!(w.sf.counters().writes + w.gz.counters().writes, 0);
}

/// Carmen on both sides before any sync (the same email in another letter case), and Dan in
/// Genesys only; Carmen's Salesforce record is deleted before the first sync.
fn carmen_deleted_before_the_first_sync(w: &World) -> String {
    let carmen = w
        .sf
        .insert(json!({"FirstName": "Carmen", "LastName": "Diaz", "Email": "carmen@example.com"}));
    let carmen_gz = w.gz.insert(
        json!({"firstName": "Carmen", "lastName": "Diaz", "workEmail": "Carmen@Example.com"}),
    );
    w.gz.insert(json!({"firstName": "Dan", "lastName": "Moss", "workEmail": "dan@example.com"}));
    w.sf.delete(&carmen);
    carmen_gz
}

#[tokio::test]
async fn a_person_deleted_in_salesforce_before_the_first_sync_is_not_mirrored_back() {
    // GIVEN Carmen deleted in Salesforce before the first sync paired her with her Genesys
    // twin (delete policy unlink), and Dan only in Genesys
    let w = world("").await;
    let carmen_gz = carmen_deleted_before_the_first_sync(&w);
    // WHEN the first sync runs
    let outcome = w.sync().await;
    // THEN Dan is created in Salesforce, Carmen is not (her deleted record is found in the
    // Recycle Bin): her Genesys contact stays, its pair is a tombstone, a review item says so
    assert_eq!(outcome.stats.created.salesforce, 1, "{:?}", outcome.stats);
    assert_eq!(w.salesforce_with_email("dan@example.com").len(), 1);
    assert!(w.salesforce_with_email("carmen@example.com").is_empty());
    assert!(w.gz.get(&carmen_gz).is_some());
    assert_eq!(
        pair_of(&w, Side::Genesys, &carmen_gz).await.status,
        PairStatus::Unlinked
    );
    let open = w
        .store
        .conflicts(&w.integration.name, true)
        .await
        .expect("conflicts");
    assert!(open.iter().any(|c| c.kind
        == ConflictKind::Deleted {
            side: Side::Salesforce
        }));
    // AND an edit of her Genesys contact later still creates nothing
    tick().await;
    w.gz.edit(&carmen_gz, json!({"title": "Still here"}));
    w.reset_counters();
    w.sync().await;
    assert!(w.salesforce_with_email("carmen@example.com").is_empty());
    assert_eq!(w.sf.counters().writes + w.gz.counters().writes, 0);
}

#[tokio::test]
async fn under_propagate_a_person_deleted_in_salesforce_before_the_first_sync_goes_from_genesys() {
    // GIVEN Carmen deleted in Salesforce before the first sync, under delete policy propagate
    let w = world("deletes: {policy: propagate}").await;
    let carmen_gz = carmen_deleted_before_the_first_sync(&w);
    // WHEN the first sync runs
    w.sync().await;
    // THEN her Genesys twin is deleted too, and she is not in Salesforce
    assert!(w.gz.get(&carmen_gz).is_none());
    assert!(w.salesforce_with_email("carmen@example.com").is_empty());
    assert_eq!(w.salesforce_with_email("dan@example.com").len(), 1);
}

#[tokio::test]
async fn a_salesforce_merge_into_an_unpaired_record_follows_the_survivor() {
    // GIVEN Ana synced, and a master record created so that it has no pair yet
    let w = world("").await;
    let [(ana, ana_gz), _] = two_synced(&w).await;
    let master = w.sf.insert(json!({"FirstName": "Ana", "LastName": "Lopez", "Email": "ana@example.com", "Title": "Director"}));

    // WHEN Ana is merged into it before any sync sees the master
    w.sf.merge(&master, &ana);
    w.sync().await;
    w.sync().await;

    // THEN Ana's pair now stands for the master, and her Genesys record follows it
    let pair = pair_of(&w, Side::Genesys, &ana_gz).await;
    assert_eq!(pair.sf_id.as_deref(), Some(master.as_str()));
    assert_eq!(pair.status, PairStatus::Synced);
    let gz = w.gz.get(&ana_gz).expect("kept");
    assert_eq!(gz["title"], "Director");
    assert_eq!(gz["externalIds"][0]["value"], master);
    assert_eq!(
        w.genesys_linked_to(&master).len(),
        1,
        "no duplicate created"
    );
}

#[tokio::test]
async fn a_genesys_merge_repoints_the_pair_to_the_surviving_contact() {
    // GIVEN Ana synced, and an unlinked Genesys duplicate that Genesys merges her into
    let w = world("").await;
    let [(ana, ana_gz), _] = two_synced(&w).await;
    let survivor =
        w.gz.insert(json!({"firstName": "Ana", "lastName": "Lopez"}));
    w.gz.merge(&ana_gz, &survivor);
    tick().await;
    // WHEN the Salesforce record changes (so the pair is reconciled) and two syncs run
    w.sf.edit(&ana, json!({"Title": "CTO"}));
    w.sync().await;
    w.sync().await;

    // THEN the pair points at the survivor, which carries the link and the change
    let pair = pair_of(&w, Side::Salesforce, &ana).await;
    assert_eq!(pair.gz_id.as_deref(), Some(survivor.as_str()));
    let gz = w.gz.get(&survivor).expect("survivor");
    assert_eq!(gz["title"], "CTO");
    assert_eq!(gz["externalIds"][0]["value"], ana);
}

#[tokio::test]
async fn the_delete_breaker_holds_a_mass_delete_and_alerts() {
    // GIVEN 25 synced contacts and a breaker at 5 records
    let w = world("deletes: {policy: propagate, breaker: {max_count: 5}}").await;
    let ids: Vec<String> = (0..25)
        .map(|i| {
            w.sf.insert(
                json!({"LastName": format!("Person {i}"), "Email": format!("p{i}@example.com")}),
            )
        })
        .collect();
    w.sync().await;
    assert_eq!(w.gz.all().len(), 25);

    // WHEN 10 of them are deleted in Salesforce
    for id in &ids[..10] {
        w.sf.delete(id);
    }
    w.reset_counters();
    let outcome = w.sync().await;

    // THEN nothing is deleted or unlinked, one review item says why, and the next run holds
    // them again (the delete log is read again, not skipped)
    assert_eq!(w.gz.all().len(), 25);
    assert_eq!(w.gz.counters().writes, 0);
    assert_eq!(outcome.stats.unlinked, 0);
    let held = |c: &contact_sync_pipeline::store::ConflictRecord| {
        matches!(c.kind, ConflictKind::DeletesHeld { count: 10, .. })
    };
    let open = w
        .store
        .conflicts(&w.integration.name, true)
        .await
        .expect("conflicts");
    assert_eq!(open.iter().filter(|c| held(c)).count(), 1);
    w.sync().await;
    assert_eq!(w.gz.all().len(), 25);
}

#[tokio::test]
async fn one_way_mode_mirrors_salesforce_and_never_writes_it() {
    // GIVEN a one-way mapping, Ana in Salesforce and Cleo only in Genesys
    let yaml = DEFAULT_MAPPING_YAML
        .replace("version: 1\n", "version: 1\nmode: one_way\n")
        .replace("    direction: both\n", "")
        .replace("    policy: salesforce_wins\n", "")
        .replace("    policy: newest_wins\n", "");
    let w = World::with(
        Mapping::from_yaml(&yaml, "one-way").expect("mapping"),
        SalesforceSimConfig::default(),
    )
    .await;
    let ana = w.sf.insert(json!({"FirstName": "Ana", "LastName": "Lopez", "Email": "ana@example.com", "Title": "Agent"}));
    w.gz.insert(json!({"firstName": "Cleo", "lastName": "Park", "workEmail": "cleo@example.org"}));
    w.reset_counters();
    w.sync().await;
    let ana_gz = w.genesys_linked_to(&ana)[0]["id"]
        .as_str()
        .expect("mirrored")
        .to_string();

    // WHEN Genesys edits Ana's title and her Salesforce record changes too
    tick().await;
    w.gz.edit(&ana_gz, json!({"title": "Drifted"}));
    w.sf.edit(&ana, json!({"LastName": "Lopez-Garcia"}));
    let outcome = w.sync().await;

    // THEN Salesforce never received a write request, Cleo stays Genesys-only, and the drift
    // is overwritten with Salesforce's values
    assert_eq!(w.sf.counters().writes, 0, "no write to Salesforce, ever");
    assert!(w.salesforce_with_email("cleo@example.org").is_empty());
    let gz = w.gz.get(&ana_gz).expect("mirror");
    assert_eq!(gz["title"], "Agent");
    assert_eq!(gz["lastName"], "Lopez-Garcia");
    assert_eq!(
        outcome.stats.created.salesforce + outcome.stats.updated.salesforce,
        0
    );
}

#[tokio::test]
async fn a_held_field_is_settled_by_a_persons_choice_on_the_next_run() {
    // GIVEN title as a manual field, held after both sides changed it
    let yaml = DEFAULT_MAPPING_YAML.replace(
        "genesys: title\n    direction: both\n    policy: newest_wins",
        "genesys: title\n    direction: both\n    policy: manual",
    );
    let w = World::with(
        Mapping::from_yaml(&yaml, "manual").expect("mapping"),
        SalesforceSimConfig::default(),
    )
    .await;
    let [(ana, ana_gz), _] = two_synced(&w).await;
    tick().await;
    w.sf.edit(&ana, json!({"Title": "Lead"}));
    w.gz.edit(&ana_gz, json!({"title": "Manager"}));
    w.sync().await;
    let open = w
        .store
        .conflicts(&w.integration.name, true)
        .await
        .expect("conflicts");
    let item = open
        .iter()
        .find(|c| c.kind == ConflictKind::Manual)
        .expect("held")
        .id
        .clone();

    // WHEN a person chooses the Genesys value, and the next sync runs
    let done = resolve(
        &*w.store,
        &w.integration.mapping,
        &item,
        Decision::Side(Side::Genesys),
    )
    .await
    .expect("resolved");
    assert_eq!(done.field, "title");
    let again = resolve(&*w.store, &w.integration.mapping, &item, Decision::Clear).await;
    w.reset_counters();
    w.sync().await;

    // THEN Salesforce gets the chosen value, the item is closed, the choice is audited, and
    // resolving the same item twice is refused
    assert!(again.is_err());
    assert_eq!(w.sf.get(&ana).expect("sf")["Title"], "Manager");
    assert_eq!(w.sf.counters().writes, 1);
    let all = w
        .store
        .conflicts(&w.integration.name, false)
        .await
        .expect("conflicts");
    assert!(
        all.iter()
            .any(|c| c.kind == ConflictKind::Chosen && c.field == "title")
    );
    assert!(
        !all.iter()
            .any(|c| c.status == ConflictStatus::Open && c.kind == ConflictKind::Manual)
    );
    // AND the next sync writes nothing
    w.reset_counters();
    w.sync().await;
    assert_eq!(w.sf.counters().writes + w.gz.counters().writes, 0);
}
