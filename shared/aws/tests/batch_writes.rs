//! `DynamoDbStore`'s batch operations: how many DynamoDB requests a batch costs (counted by an
//! SDK interceptor on the store's own client) and that each entry is answered as the single
//! call would answer it when some of a transaction's conditions fail. Needs moto
//! (`CONTACT_SYNC_MOTO_URL`). Moto does not isolate concurrent transactions, so nothing here
//! races: every refusal is set up before the batch.

use aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept};
use aws_sdk_dynamodb::operation::batch_get_item::BatchGetItemInput;
use aws_sdk_dynamodb::operation::batch_write_item::BatchWriteItemInput;
use aws_sdk_dynamodb::operation::get_item::GetItemInput;
use aws_sdk_dynamodb::operation::put_item::PutItemInput;
use aws_sdk_dynamodb::operation::query::QueryInput;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsInput;
use aws_sdk_dynamodb::operation::update_item::UpdateItemInput;
use chrono::{Duration, TimeZone, Utc};
use contact_sync_aws::DynamoDbStore;
use contact_sync_aws::emulator::Stack;
use contact_sync_engine::{CanonicalContact, Side};
use contact_sync_pipeline::store::{
    ConflictKind, ConflictRecord, ConflictStatus, Pair, PairStatus, SaveOutcome, SyncStore,
};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// DynamoDB requests by operation, as the SDK sends them (retries of a transaction included).
#[derive(Debug, Clone, Default)]
struct Requests(Arc<Mutex<BTreeMap<&'static str, u64>>>);

impl Requests {
    fn take(&self) -> BTreeMap<&'static str, u64> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

impl Intercept for Requests {
    fn name(&self) -> &'static str {
        "Requests"
    }

    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let input = context.input();
        let operation = if input.downcast_ref::<TransactWriteItemsInput>().is_some() {
            "TransactWriteItems"
        } else if input.downcast_ref::<BatchGetItemInput>().is_some() {
            "BatchGetItem"
        } else if input.downcast_ref::<BatchWriteItemInput>().is_some() {
            "BatchWriteItem"
        } else if input.downcast_ref::<GetItemInput>().is_some() {
            "GetItem"
        } else if input.downcast_ref::<PutItemInput>().is_some() {
            "PutItem"
        } else if input.downcast_ref::<UpdateItemInput>().is_some() {
            "UpdateItem"
        } else if input.downcast_ref::<QueryInput>().is_some() {
            "Query"
        } else {
            "other"
        };
        *self.0.lock().unwrap().entry(operation).or_default() += 1;
        Ok(())
    }
}

/// A store on a fresh table whose client counts its requests.
async fn counted_store(test: &str) -> Option<(DynamoDbStore, Requests, Stack)> {
    let stack = Stack::create(test).await?;
    let requests = Requests::default();
    let config = aws_sdk_dynamodb::config::Builder::from(&stack.sdk)
        .interceptor(requests.clone())
        .build();
    let store = DynamoDbStore::new(
        aws_sdk_dynamodb::Client::from_conf(config),
        stack.resources.table.clone(),
    );
    Some((store, requests, stack))
}

fn ops(list: &[(&'static str, u64)]) -> BTreeMap<&'static str, u64> {
    list.iter().copied().collect()
}

fn new_pair(n: usize, sf: bool, gz: bool) -> Pair {
    let mut pair = Pair::new(
        format!("p{n:04}"),
        sf.then(|| format!("sf-{n:04}")),
        gz.then(|| format!("gz-{n:04}")),
    );
    pair.base = Some(CanonicalContact::new().with("title", "Engineer"));
    pair
}

#[tokio::test]
async fn five_hundred_reservations_cost_ten_transactions_and_nothing_else() {
    // GIVEN a store and 500 new pairs, each with its Salesforce id (a reservation before a
    // Genesys create: the pair and one link)
    let Some((store, requests, _stack)) = counted_store("batch create_pairs").await else {
        return;
    };
    let pairs: Vec<Pair> = (0..500).map(|n| new_pair(n, true, false)).collect();
    // WHEN they are created in one batch
    let outcomes = store.create_pairs(&pairs).await.unwrap();
    // THEN every one is saved, in 10 transactions of 100 actions (50 pairs with a link each)
    assert!(outcomes.iter().all(|o| *o == SaveOutcome::Saved));
    assert_eq!(requests.take(), ops(&[("TransactWriteItems", 10)]));
    // AND every pair and link is stored
    let ids: Vec<String> = pairs.iter().map(|p| p.pair_id.clone()).collect();
    assert_eq!(store.pairs(&ids).await.unwrap(), pairs);
    let sf: Vec<String> = pairs.iter().filter_map(|p| p.sf_id.clone()).collect();
    assert_eq!(store.links(Side::Salesforce, &sf).await.unwrap().len(), 500);
}

#[tokio::test]
async fn five_hundred_commits_adding_a_link_cost_ten_transactions_and_a_read_when_not_known() {
    // GIVEN 500 reserved pairs (Salesforce id only), created through this store
    let Some((store, requests, stack)) = counted_store("batch save_pairs").await else {
        return;
    };
    let reserved: Vec<Pair> = (0..500).map(|n| new_pair(n, true, false)).collect();
    store.create_pairs(&reserved).await.unwrap();
    requests.take();
    let saves: Vec<(Pair, u64)> = (0..500)
        .map(|n| {
            let mut pair = new_pair(n, true, true);
            pair.status = PairStatus::Synced;
            (pair, 1)
        })
        .collect();
    // WHEN this store commits the first 250 with their new Genesys ids and a synced base
    let outcomes = store.save_pairs(&saves[..250]).await.unwrap();
    // THEN they are stored in 5 transactions of 50 pair puts and 50 link puts, without a read
    // (the store knows the ids of the pairs it created)
    assert!(outcomes.iter().all(|o| *o == SaveOutcome::Saved));
    assert_eq!(requests.take(), ops(&[("TransactWriteItems", 5)]));
    // WHEN another store (another Lambda instance) commits the other 250
    let other_requests = Requests::default();
    let other = DynamoDbStore::new(
        aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&stack.sdk)
                .interceptor(other_requests.clone())
                .build(),
        ),
        stack.resources.table.clone(),
    );
    let outcomes = other.save_pairs(&saves[250..]).await.unwrap();
    // THEN it reads the pairs first (100 keys a request), then 5 transactions
    assert!(outcomes.iter().all(|o| *o == SaveOutcome::Saved));
    assert_eq!(
        other_requests.take(),
        ops(&[("BatchGetItem", 3), ("TransactWriteItems", 5)])
    );
    // AND all 500 are linked and synced at version 2
    let gz: Vec<String> = saves.iter().filter_map(|(p, _)| p.gz_id.clone()).collect();
    assert_eq!(store.links(Side::Genesys, &gz).await.unwrap().len(), 500);
    for id in ["p0000", "p0499"] {
        let stored = store.pair(id).await.unwrap().unwrap();
        assert_eq!((stored.version, stored.status), (2, PairStatus::Synced));
    }
}

#[tokio::test]
async fn a_batch_where_3_of_100_saves_lose_their_compare_and_set_answers_exactly_those() {
    // GIVEN 100 pairs this store created at version 1, three of which another worker (another
    // store) has saved since
    let Some((store, requests, stack)) = counted_store("batch save_pairs CAS").await else {
        return;
    };
    let pairs: Vec<Pair> = (0..100).map(|n| new_pair(n, true, true)).collect();
    store.create_pairs(&pairs).await.unwrap();
    let worker = DynamoDbStore::new(
        aws_sdk_dynamodb::Client::new(&stack.sdk),
        stack.resources.table.clone(),
    );
    let lost = [7, 50, 93];
    for &n in &lost {
        let mut other = pairs[n].clone();
        other.base = Some(CanonicalContact::new().with("title", "Other worker"));
        assert_eq!(
            worker.save_pair(&other, 1).await.unwrap(),
            SaveOutcome::Saved
        );
    }
    requests.take();
    // WHEN the batch saves all 100 expecting version 1
    let saves: Vec<(Pair, u64)> = pairs
        .iter()
        .map(|p| {
            let mut p = p.clone();
            p.base = Some(CanonicalContact::new().with("title", "Batch"));
            (p, 1)
        })
        .collect();
    let outcomes = store.save_pairs(&saves).await.unwrap();
    let counted = requests.take();
    // THEN exactly those three are a VersionMismatch and the other 97 are saved
    for (n, outcome) in outcomes.iter().enumerate() {
        let expected = if lost.contains(&n) {
            SaveOutcome::VersionMismatch
        } else {
            SaveOutcome::Saved
        };
        assert_eq!(*outcome, expected, "save {n}");
    }
    // AND the three keep the other worker's values; the 97 have the batch's at version 2
    let ids: Vec<String> = pairs.iter().map(|p| p.pair_id.clone()).collect();
    for (n, stored) in store.pairs(&ids).await.unwrap().iter().enumerate() {
        let title = if lost.contains(&n) {
            "Other worker"
        } else {
            "Batch"
        };
        assert_eq!(stored.version, 2);
        assert_eq!(stored.base.as_ref().unwrap().get("title"), Some(title));
    }
    // AND it cost two transactions and no read: the 100 pair puts (same ids: no link put),
    // cancelled by the three failed version conditions, then the other 97
    assert_eq!(counted, ops(&[("TransactWriteItems", 2)]));
}

#[tokio::test]
async fn a_cancelled_transaction_answers_its_refused_entries_and_commits_the_rest() {
    // GIVEN three Genesys records already linked to other pairs, and 100 reserved pairs
    let Some((store, requests, _stack)) = counted_store("batch link refusals").await else {
        return;
    };
    let taken = [3, 60, 61];
    for &n in &taken {
        let holder = Pair::new(format!("holder-{n}"), None, Some(format!("gz-{n:04}")));
        assert_eq!(
            store.create_pair(&holder).await.unwrap(),
            SaveOutcome::Saved
        );
    }
    let reserved: Vec<Pair> = (0..100).map(|n| new_pair(n, true, false)).collect();
    store.create_pairs(&reserved).await.unwrap();
    requests.take();
    // WHEN the batch commits all 100 with their Genesys ids
    let saves: Vec<(Pair, u64)> = (0..100).map(|n| (new_pair(n, true, true), 1)).collect();
    let outcomes = store.save_pairs(&saves).await.unwrap();
    let counted = requests.take();
    // THEN the three meet the holders' links and nothing of them is written
    for (n, outcome) in outcomes.iter().enumerate() {
        let expected = if taken.contains(&n) {
            SaveOutcome::LinkTaken {
                side: Side::Genesys,
                record_id: format!("gz-{n:04}"),
                pair_id: format!("holder-{n}"),
            }
        } else {
            SaveOutcome::Saved
        };
        assert_eq!(*outcome, expected, "save {n}");
    }
    for &n in &taken {
        let stored = store.pair(&format!("p{n:04}")).await.unwrap().unwrap();
        assert_eq!((stored.version, stored.gz_id), (1, None));
    }
    // AND the other 97 are saved: each of the two transactions (50 saves) was cancelled once
    // and sent again without its refused entries; the holders came with the cancellation
    // (no GetItem)
    let ids: Vec<String> = (0..100).map(|n| format!("p{n:04}")).collect();
    let saved = store.pairs(&ids).await.unwrap();
    assert_eq!(saved.iter().filter(|p| p.version == 2).count(), 97);
    assert_eq!(counted, ops(&[("TransactWriteItems", 4)]));
}

#[tokio::test]
async fn two_pairs_of_one_batch_linking_one_record_are_saved_then_link_taken() {
    // GIVEN a batch of three new pairs, the first and the third for the same Salesforce record,
    // and one pair id twice
    let Some((store, _requests, _stack)) = counted_store("batch in-batch links").await else {
        return;
    };
    let batch = vec![
        Pair::new("a".into(), Some("sf-1".into()), None),
        Pair::new("b".into(), Some("sf-2".into()), None),
        Pair::new("c".into(), Some("sf-1".into()), Some("gz-3".into())),
        Pair::new("b".into(), Some("sf-4".into()), None),
    ];
    // WHEN they are created in one batch
    let outcomes = store.create_pairs(&batch).await.unwrap();
    // THEN as one after the other: saved, saved, the link taken by the first, already exists
    assert_eq!(
        outcomes,
        vec![
            SaveOutcome::Saved,
            SaveOutcome::Saved,
            SaveOutcome::LinkTaken {
                side: Side::Salesforce,
                record_id: "sf-1".into(),
                pair_id: "a".into(),
            },
            SaveOutcome::AlreadyExists,
        ]
    );
    // AND nothing of the refused ones was written
    let links = store
        .links(Side::Genesys, &["gz-3".to_string()])
        .await
        .unwrap();
    assert!(links.is_empty());
    assert!(store.pair("c").await.unwrap().is_none());
    let links = store
        .links(Side::Salesforce, &["sf-4".to_string()])
        .await
        .unwrap();
    assert!(links.is_empty());
}

#[tokio::test]
async fn two_hundred_leases_are_taken_and_released_in_two_transactions_each() {
    // GIVEN 200 pair leases, the first 50 held by another worker until 12:30
    let Some((store, requests, _stack)) = counted_store("batch leases").await else {
        return;
    };
    let noon = Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap();
    let keys: Vec<String> = (0..200).map(|n| format!("pair#p{n:04}")).collect();
    let held = store
        .acquire_leases_free_since(&keys[..50], "other", noon, noon, Duration::minutes(30))
        .await
        .unwrap();
    assert!(held.iter().all(|t| *t));
    requests.take();
    // WHEN this worker takes all 200 at 12:05
    let at = noon + Duration::minutes(5);
    let taken = store
        .acquire_leases_free_since(&keys, "me", at, at, Duration::minutes(30))
        .await
        .unwrap();
    // THEN the other's 50 are refused and the 150 free ones taken: two transactions, the
    // first cancelled once for the refused ones and sent again, then the second
    assert_eq!(taken[..50], [false; 50]);
    assert_eq!(taken[50..], [true; 150]);
    assert_eq!(requests.take(), ops(&[("TransactWriteItems", 3)]));
    // WHEN it releases all 200 at 12:06 (the other's 50 are not its own)
    store
        .release_leases(&keys, "me", at + Duration::minutes(1))
        .await
        .unwrap();
    // THEN its own are free for a read made after the release, the other's are still held
    let later = at + Duration::minutes(2);
    assert!(
        store
            .acquire_lease_free_since(&keys[199], "third", later, later, Duration::minutes(1))
            .await
            .unwrap()
    );
    assert!(
        !store
            .acquire_lease_free_since(&keys[0], "third", later, later, Duration::minutes(1))
            .await
            .unwrap()
    );
    // AND the release cost two transactions, the first cancelled once for the other's leases
    let counted = requests.take();
    assert_eq!(counted.get("TransactWriteItems"), Some(&3));
}

fn review_item(n: usize, status: ConflictStatus) -> ConflictRecord {
    ConflictRecord {
        id: format!("c-{n:04}"),
        integration: "acme".into(),
        run_id: "run-1".into(),
        pair_id: Some(format!("p{n:04}")),
        sf_id: None,
        gz_id: None,
        field: "title".into(),
        policy: "manual".into(),
        kind: ConflictKind::Manual,
        status,
        base_value: None,
        salesforce_value: Some("A".into()),
        genesys_value: Some("B".into()),
        at: Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap(),
    }
}

#[tokio::test]
async fn conflicts_are_recorded_in_batches_and_a_recorded_one_keeps_its_first_record() {
    // GIVEN a review item recorded and closed by a person
    let Some((store, requests, _stack)) = counted_store("batch conflicts").await else {
        return;
    };
    store
        .record_conflict(&review_item(42, ConflictStatus::Open))
        .await
        .unwrap();
    assert!(store.close_conflict("c-0042").await.unwrap());
    requests.take();
    // WHEN a batch of 150 open items, that one among them, is recorded
    let batch: Vec<ConflictRecord> = (0..150)
        .map(|n| review_item(n, ConflictStatus::Open))
        .collect();
    store.record_conflicts(&batch).await.unwrap();
    // THEN two transactions (the first cancelled once for the recorded one)
    assert_eq!(requests.take(), ops(&[("TransactWriteItems", 3)]));
    // AND the closed one stays closed; the other 149 are open
    let closed = store.conflict("c-0042").await.unwrap().unwrap();
    assert_eq!(closed.status, ConflictStatus::Closed);
    assert_eq!(store.conflicts("acme", true).await.unwrap().len(), 149);
}
