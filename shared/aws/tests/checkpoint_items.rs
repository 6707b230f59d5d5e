//! How `DynamoDbStore` lays a poll checkpoint out in the table, beyond what the contract suite
//! can see: a large checkpoint is several chunk items, each far under the 400 KB item limit,
//! and chunks nobody references any more (a replaced checkpoint, a cleared one, a save that
//! lost its compare-and-set) are deleted. Needs moto (`CONTACT_SYNC_MOTO_URL`).

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::Utc;
use contact_sync_aws::DynamoDbStore;
use contact_sync_aws::emulator::Stack;
use contact_sync_pipeline::store::{CheckpointWrite, PollCheckpoint, SyncStore};

/// A checkpoint of `ids` Salesforce-like ids (about 22 bytes each as JSON).
fn checkpoint(poll_id: &str, ids: usize) -> PollCheckpoint {
    let candidates: Vec<String> = (0..ids).map(|n| format!("003{n:015}")).collect();
    PollCheckpoint {
        integration: "default".into(),
        poll_id: poll_id.into(),
        version: 0,
        saved_at: Utc::now(),
        state: serde_json::json!({ "candidates": candidates }),
    }
}

/// The sizes in bytes of the checkpoint's chunk items in the table (a query answers at most
/// 1 MB a page).
async fn chunk_sizes(client: &aws_sdk_dynamodb::Client, table: &str) -> Vec<usize> {
    let mut sizes = Vec::new();
    let mut start = None;
    loop {
        let out = client
            .query()
            .table_name(table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :chunk)")
            .expression_attribute_values(":pk", AttributeValue::S("INT#default".into()))
            .expression_attribute_values(":chunk", AttributeValue::S("POLL#CHUNK#".into()))
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("query");
        sizes.extend(
            out.items()
                .iter()
                .map(|item| item["data"].as_b().expect("binary chunk").as_ref().len()),
        );
        match out.last_evaluated_key {
            Some(key) if !key.is_empty() => start = Some(key),
            _ => return sizes,
        }
    }
}

#[tokio::test]
async fn a_checkpoint_is_chunked_and_unreferenced_chunks_are_deleted() {
    // GIVEN a DynamoDB store
    let Some(stack) = Stack::create("checkpoint chunks").await else {
        return;
    };
    let client = aws_sdk_dynamodb::Client::new(&stack.sdk);
    let table = stack.resources.table.clone();
    let store = DynamoDbStore::new(client.clone(), &table);

    // WHEN a 1.1 MB checkpoint is saved
    let first = store
        .save_poll_checkpoint(&checkpoint("poll-1", 50_000), None)
        .await
        .expect("save");
    let after_first = chunk_sizes(&client, &table).await;
    // AND replaced by a 0.3 MB one, then a stale save loses, then the poll's checkpoint is
    // cleared
    let second = store
        .save_poll_checkpoint(&checkpoint("poll-1", 15_000), Some(1))
        .await
        .expect("save");
    let after_second = chunk_sizes(&client, &table).await;
    let stale = store
        .save_poll_checkpoint(&checkpoint("poll-1", 15_000), Some(1))
        .await
        .expect("save");
    let after_stale = chunk_sizes(&client, &table).await;
    let cleared = store
        .clear_poll_checkpoint("default", "poll-1", 2)
        .await
        .expect("clear");
    let after_clear = chunk_sizes(&client, &table).await;

    // THEN the first is five chunks of at most 256 KiB, the second two (the first's are gone),
    // the lost save left none behind, and the clear removed the rest
    assert_eq!(first, CheckpointWrite::Saved { version: 1 });
    assert_eq!(after_first.len(), 5, "{after_first:?}");
    assert!(after_first.iter().all(|size| *size <= 256 * 1024));
    assert_eq!(second, CheckpointWrite::Saved { version: 2 });
    assert_eq!(after_second.len(), 2, "{after_second:?}");
    assert_eq!(stale, CheckpointWrite::Superseded);
    assert_eq!(after_stale, after_second);
    assert!(cleared);
    assert!(after_clear.is_empty(), "{after_clear:?}");
}
