//! The SQS queue and the DynamoDB store under conditions the contract suite does not create:
//! many messages, oversized ones, and many concurrent watermark writers. Needs moto
//! (`CONTACT_SYNC_MOTO_URL`).

use chrono::{Duration, TimeZone, Utc};
use contact_sync_aws::emulator::Stack;
use contact_sync_aws::{DynamoDbStore, SqsQueue};
use contact_sync_engine::Side;
use contact_sync_pipeline::queue::{
    ConflictEvent, MESSAGE_VERSION, PairRef, QueueError, ReconcileBatch, WorkQueue,
};
use contact_sync_pipeline::store::SyncStore;
use contact_sync_pipeline::system::Watermark;
use std::collections::BTreeSet;
use std::sync::Arc;

fn batch(n: usize, pairs: usize) -> ReconcileBatch {
    ReconcileBatch {
        v: MESSAGE_VERSION,
        integration: "default".into(),
        run_id: format!("run-{n}"),
        pairs: (0..pairs)
            .map(|i| PairRef {
                pair_id: Some(format!("p-{n}-{i:04}-{}", "0".repeat(30))),
                sf_id: Some(format!("003{n:05}{i:010}")),
                gz_id: Some(format!("{:036}", i)),
                merged_into: None,
            })
            .collect(),
    }
}

#[tokio::test]
async fn every_batch_sent_arrives_once_grouped_in_tens() {
    // GIVEN the reconcile queue
    let Some(stack) = Stack::create("SqsQueue send").await else {
        return;
    };
    let url = stack.resources.queue_url("ReconcileQueue").to_string();
    let sqs = aws_sdk_sqs::Client::new(&stack.sdk);
    let queue = SqsQueue::new(sqs.clone()).with_reconcile_queue(&url);
    // WHEN 23 batches of 200 pairs (≈25 KiB each) are sent in one call
    let sent: Vec<ReconcileBatch> = (0..23).map(|n| batch(n, 200)).collect();
    queue.send_batches(sent.clone()).await.expect("sent");
    // THEN all 23 arrive, each intact
    let mut received = BTreeSet::new();
    for _ in 0..50 {
        let out = sqs
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .send()
            .await
            .expect("receive");
        if out.messages().is_empty() {
            break;
        }
        for m in out.messages() {
            let b: ReconcileBatch = serde_json::from_str(m.body().unwrap_or("")).expect("batch");
            assert_eq!(b, sent[b.run_id[4..].parse::<usize>().unwrap()]);
            received.insert(b.run_id);
            sqs.delete_message()
                .queue_url(&url)
                .receipt_handle(m.receipt_handle().unwrap_or(""))
                .send()
                .await
                .expect("delete");
        }
    }
    assert_eq!(received.len(), 23);
}

#[tokio::test]
async fn an_oversized_batch_or_a_missing_queue_is_a_permanent_error() {
    // GIVEN a queue adapter that knows only the reconcile queue
    let Some(stack) = Stack::create("SqsQueue limits").await else {
        return;
    };
    let sqs = aws_sdk_sqs::Client::new(&stack.sdk);
    let queue =
        SqsQueue::new(sqs).with_reconcile_queue(stack.resources.queue_url("ReconcileQueue"));
    // WHEN a batch far above the message limit is sent, and a conflict event with no queue
    let oversized = queue.send_batches(vec![batch(1, 2_000)]).await;
    let event = ConflictEvent {
        v: MESSAGE_VERSION,
        integration: "default".into(),
        run_id: "run-1".into(),
        conflict_id: "p-1#title#run-1".into(),
        pair_id: Some("p-1".into()),
        sf_id: None,
        gz_id: None,
        field: "title".into(),
        policy: "newest_wins".into(),
        outcome: "genesys_won".into(),
        at: Utc::now(),
    };
    let nowhere = queue.send_conflicts(vec![event]).await;
    // THEN both are refused as permanent before reaching SQS, and nothing was enqueued
    assert!(
        matches!(oversized, Err(QueueError::Permanent(_))),
        "{oversized:?}"
    );
    assert!(
        matches!(nowhere, Err(QueueError::Permanent(_))),
        "{nowhere:?}"
    );
    // AND sending nothing needs no queue
    assert!(queue.send_conflicts(vec![]).await.is_ok());
}

fn mark(minute: i64) -> Watermark {
    Watermark::position(
        Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap() + Duration::minutes(minute),
        format!("id-{minute:02}"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_watermark_writers_leave_the_newest_and_never_move_it_back() {
    // GIVEN a stored watermark at 12:30
    let Some(stack) = Stack::create("watermark race").await else {
        return;
    };
    let store = Arc::new(DynamoDbStore::new(
        aws_sdk_dynamodb::Client::new(&stack.sdk),
        &stack.resources.table,
    ));
    assert!(
        store
            .advance_watermark("default", Side::Genesys, &mark(30))
            .await
            .unwrap()
    );
    // WHEN 40 writers offer watermarks from 12:10 to 12:49 at once, in scrambled order
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let store = Arc::clone(&store);
            let m = 10 + (i * 17) % 40;
            tokio::spawn(async move {
                let wrote = store
                    .advance_watermark("default", Side::Genesys, &mark(m))
                    .await
                    .unwrap();
                (m, wrote)
            })
        })
        .collect();
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap());
    }
    // THEN none older than or equal to 12:30 was written, and the newest one is stored
    assert!(
        results.iter().all(|(m, wrote)| !wrote || *m > 30),
        "{results:?}"
    );
    assert_eq!(
        store.watermark("default", Side::Genesys).await.unwrap(),
        Some(mark(49))
    );
}
