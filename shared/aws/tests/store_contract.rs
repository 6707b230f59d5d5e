//! The `SyncStore` contract suite (the same checks the memory and embedded stores pass), run
//! against `DynamoDbStore` on a fresh table in moto per check. Needs `CONTACT_SYNC_MOTO_URL`
//! (see `contact_sync_aws::emulator`).
//!
//! Moto does not isolate concurrent transactions (`Isolation::NotIsolated`: no lock around a
//! transaction's condition checks and writes, and a cancelled transaction restores the table
//! as it was when it began, erasing a transaction committed meanwhile): the checks that race
//! transactions run their in-sequence form here, and `DynamoDbStore`'s unit tests show the
//! conditions on the requests it builds. On DynamoDB, the service's transaction isolation
//! (serializable across `TransactWriteItems`) does the rest.

use contact_sync_aws::DynamoDbStore;
use contact_sync_aws::emulator::Stack;
use contact_sync_pipeline::store::contract_tests::Subject;
use std::sync::Arc;

async fn dynamodb_store() -> Option<Subject> {
    let stack = Stack::create("DynamoDbStore contract").await?;
    let client = aws_sdk_dynamodb::Client::new(&stack.sdk);
    Some(Subject::new(Arc::new(DynamoDbStore::new(client, &stack.resources.table))).not_isolated())
}

contact_sync_pipeline::store_contract_tests!(dynamodb, dynamodb_store);
