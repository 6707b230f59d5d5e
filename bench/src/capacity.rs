//! DynamoDB capacity units counted from the requests a client sends: an SDK interceptor that
//! sizes every item written and read and applies AWS's published formulas
//! (developerguide `CapacityUnitCalculations` and `read-write-operations`):
//!
//! - item size = Σ (attribute name bytes + value size); a string is its UTF-8 bytes, a number
//!   1 byte per two significant digits + 1, a boolean or null 1, a list or map 3 + Σ (1 +
//!   element, names included);
//! - writes: `PutItem` ⌈size / 1 KB⌉ (at least 1); `DeleteItem` and `UpdateItem` 1 (the items
//!   this store deletes or updates in place, leases and review items, are under 1 KB); every
//!   item of `TransactWriteItems` twice that; a failed condition costs the same as a success
//!   (every attempt is counted, retried transactions included);
//! - reads: strongly consistent `GetItem` ⌈size / 4 KB⌉ (at least 1, found or not);
//!   `BatchGetItem` the same per key; `Query` (on an index: eventually consistent) half of
//!   ⌈Σ sizes / 4 KB⌉ per page (at least ½).
//!
//! Moto answers like DynamoDB but reports no consumed capacity, hence the counting here.

use aws_sdk_dynamodb::config::interceptors::{
    AfterDeserializationInterceptorContextRef, BeforeSerializationInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::operation::batch_get_item::{BatchGetItemInput, BatchGetItemOutput};
use aws_sdk_dynamodb::operation::batch_write_item::BatchWriteItemInput;
use aws_sdk_dynamodb::operation::delete_item::DeleteItemInput;
use aws_sdk_dynamodb::operation::get_item::{GetItemInput, GetItemOutput};
use aws_sdk_dynamodb::operation::put_item::PutItemInput;
use aws_sdk_dynamodb::operation::query::{QueryInput, QueryOutput};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsInput;
use aws_sdk_dynamodb::operation::update_item::UpdateItemInput;
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Item = HashMap<String, AttributeValue>;

/// Units and requests so far, by operation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Consumption {
    /// Operation → (requests, read units, write units).
    pub operations: BTreeMap<&'static str, (u64, f64, f64)>,
    /// Keys asked for by `BatchGetItem` that were neither returned nor left unprocessed
    /// (charged like a `GetItem` of a missing item).
    pub missing_keys: u64,
    /// Reads sent without `ConsistentRead` to the table (charged as strongly consistent here).
    pub eventually_consistent_gets: u64,
}

impl Consumption {
    pub fn read_units(&self) -> f64 {
        self.operations.values().map(|(_, r, _)| r).sum()
    }

    pub fn write_units(&self) -> f64 {
        self.operations.values().map(|(_, _, w)| w).sum()
    }

    pub fn requests(&self) -> u64 {
        self.operations.values().map(|(n, _, _)| n).sum()
    }

    /// What happened between `earlier` and `self`.
    pub fn since(&self, earlier: &Consumption) -> Consumption {
        let mut out = self.clone();
        for (op, (n, r, w)) in &earlier.operations {
            let entry = out.operations.entry(op).or_default();
            entry.0 -= n;
            entry.1 -= r;
            entry.2 -= w;
        }
        out.operations.retain(|_, (n, _, _)| *n > 0);
        out.missing_keys -= earlier.missing_keys;
        out.eventually_consistent_gets -= earlier.eventually_consistent_gets;
        out
    }

    fn add(&mut self, operation: &'static str, requests: u64, read: f64, write: f64) {
        let entry = self.operations.entry(operation).or_default();
        entry.0 += requests;
        entry.1 += read;
        entry.2 += write;
    }
}

/// The interceptor; clones share one tally. Add it to a DynamoDB client's configuration.
#[derive(Debug, Clone, Default)]
pub struct CapacityMeter {
    tally: Arc<Mutex<Tally>>,
}

#[derive(Debug, Default)]
struct Tally {
    consumption: Consumption,
    /// Keys asked for by `BatchGetItem` requests whose answer has not been counted yet.
    batch_keys_asked: u64,
}

impl CapacityMeter {
    pub fn consumption(&self) -> Consumption {
        self.lock().consumption.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Tally> {
        self.tally.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Intercept for CapacityMeter {
    fn name(&self) -> &'static str {
        "CapacityMeter"
    }

    /// Writes are charged from the request (whatever the answer), reads are prepared.
    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let input = context.input();
        let mut tally = self.lock();
        if let Some(put) = input.downcast_ref::<PutItemInput>() {
            let units = write_units(put.item.as_ref());
            tally.consumption.add("PutItem", 1, 0.0, units);
        } else if input.downcast_ref::<DeleteItemInput>().is_some() {
            tally.consumption.add("DeleteItem", 1, 0.0, 1.0);
        } else if input.downcast_ref::<UpdateItemInput>().is_some() {
            tally.consumption.add("UpdateItem", 1, 0.0, 1.0);
        } else if let Some(transaction) = input.downcast_ref::<TransactWriteItemsInput>() {
            let units: f64 = transaction
                .transact_items()
                .iter()
                .map(|item| match item.put() {
                    Some(put) => 2.0 * write_units(Some(put.item())),
                    None => 2.0,
                })
                .sum();
            tally.consumption.add("TransactWriteItems", 1, 0.0, units);
        } else if let Some(batch) = input.downcast_ref::<BatchWriteItemInput>() {
            let units: f64 = batch
                .request_items()
                .into_iter()
                .flat_map(|tables| tables.values().flatten())
                .map(|request| match request.put_request() {
                    Some(put) => write_units(Some(put.item())),
                    None => 1.0,
                })
                .sum();
            tally.consumption.add("BatchWriteItem", 1, 0.0, units);
        } else if let Some(get) = input.downcast_ref::<GetItemInput>() {
            if get.consistent_read != Some(true) {
                tally.consumption.eventually_consistent_gets += 1;
            }
        } else if let Some(batch) = input.downcast_ref::<BatchGetItemInput>() {
            for keys in batch.request_items().into_iter().flat_map(|t| t.values()) {
                tally.batch_keys_asked += keys.keys().len() as u64;
                if keys.consistent_read != Some(true) {
                    tally.consumption.eventually_consistent_gets += 1;
                }
            }
        } else if input.downcast_ref::<QueryInput>().is_none() {
            tally.consumption.add("other", 1, 0.0, 0.0);
        }
        Ok(())
    }

    /// Reads are charged from what came back.
    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Ok(output) = context.output_or_error() else {
            return Ok(());
        };
        let mut tally = self.lock();
        if let Some(get) = output.downcast_ref::<GetItemOutput>() {
            let units = read_units(get.item.as_ref().map_or(0, item_size));
            tally.consumption.add("GetItem", 1, units, 0.0);
        } else if let Some(batch) = output.downcast_ref::<BatchGetItemOutput>() {
            let items: Vec<&Item> = batch
                .responses()
                .into_iter()
                .flat_map(|t| t.values().flatten())
                .collect();
            let unprocessed: u64 = batch
                .unprocessed_keys()
                .into_iter()
                .flat_map(|t| t.values())
                .map(|k| k.keys().len() as u64)
                .sum();
            let asked = std::mem::take(&mut tally.batch_keys_asked);
            let missing = asked.saturating_sub(items.len() as u64 + unprocessed);
            let units: f64 =
                items.iter().map(|i| read_units(item_size(i))).sum::<f64>() + missing as f64;
            tally.consumption.missing_keys += missing;
            tally.consumption.add("BatchGetItem", 1, units, 0.0);
        } else if let Some(query) = output.downcast_ref::<QueryOutput>() {
            let bytes: usize = query.items().iter().map(item_size).sum();
            tally
                .consumption
                .add("Query", 1, read_units(bytes) / 2.0, 0.0);
        }
        Ok(())
    }
}

/// ⌈size / 1 KB⌉, at least 1.
fn write_units(item: Option<&Item>) -> f64 {
    let size = item.map_or(0, item_size);
    size.div_ceil(1024).max(1) as f64
}

/// ⌈size / 4 KB⌉, at least 1.
fn read_units(size: usize) -> f64 {
    size.div_ceil(4096).max(1) as f64
}

/// An item's size by DynamoDB's published rules.
pub fn item_size(item: &Item) -> usize {
    item.iter()
        .map(|(name, v)| name.len() + value_size(v))
        .sum()
}

fn value_size(value: &AttributeValue) -> usize {
    match value {
        AttributeValue::S(s) => s.len(),
        AttributeValue::N(n) => number_size(n),
        AttributeValue::B(b) => b.as_ref().len(),
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::L(list) => 3 + list.iter().map(|e| 1 + value_size(e)).sum::<usize>(),
        AttributeValue::M(map) => {
            3 + map
                .iter()
                .map(|(k, e)| 1 + k.len() + value_size(e))
                .sum::<usize>()
        }
        AttributeValue::Ss(set) => set.iter().map(String::len).sum(),
        AttributeValue::Ns(set) => set.iter().map(|n| number_size(n)).sum(),
        AttributeValue::Bs(set) => set.iter().map(|b| b.as_ref().len()).sum(),
        _ => 0,
    }
}

/// 1 byte per two significant digits, plus 1.
fn number_size(number: &str) -> usize {
    let digits: String = number.chars().filter(char::is_ascii_digit).collect();
    let significant = digits.trim_start_matches('0').trim_end_matches('0').len();
    significant.div_ceil(2) + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_sizes_follow_the_published_rules() {
        // GIVEN an item with a string, a number, a boolean and a map holding a list
        let item: Item = [
            ("pk".to_string(), AttributeValue::S("PAIR#p-1".into())),
            ("version".to_string(), AttributeValue::N("120".into())),
            ("ok".to_string(), AttributeValue::Bool(true)),
            (
                "m".to_string(),
                AttributeValue::M(
                    [(
                        "l".to_string(),
                        AttributeValue::L(vec![AttributeValue::S("ab".into())]),
                    )]
                    .into(),
                ),
            ),
        ]
        .into();
        // WHEN sized
        // THEN pk 2+8, version 7+(1+1), ok 2+1, m 1+3+(1+1+(3+(1+2)))
        assert_eq!(item_size(&item), 10 + 9 + 3 + 12);
        // AND units round up per the formulas
        assert_eq!(write_units(Some(&item)), 1.0);
        assert_eq!(read_units(4097), 2.0);
        assert_eq!(number_size("0.00120"), 2);
    }
}
