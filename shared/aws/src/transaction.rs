//! How a batch of store writes is cut into DynamoDB transactions (`TransactWriteItems`).
//!
//! A batch operation of the store (`create_pairs`, `save_pairs`, leases, conflicts) answers
//! item by item what the single calls would answer one after the other. Each batch entry (one
//! pair, one lease, one review item) is one or more actions that must land together; entries
//! are cut, in order, into consecutive groups that each fit one transaction:
//!
//! - at most [`MAX_ACTIONS`] actions ("groups up to 100 action requests", AWS API reference,
//!   `TransactWriteItems`);
//! - at most [`MAX_BYTES`] of items ("the aggregate size of the items in the transaction
//!   cannot exceed 4 MB", same page; sized by [`item_bytes`] with a margin);
//! - no item touched twice ("no two actions can target the same item", same page): an entry
//!   that touches an item an earlier entry of the group touches starts a new group, so it is
//!   applied after that entry, as the single calls would be (two pairs linking one record:
//!   the first is saved, the second meets its link).
//!
//! Groups are applied in order, so an entry always sees every earlier entry's write.

use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::{HashMap, HashSet};
use std::ops::Range;

/// Actions per `TransactWriteItems` request (AWS API reference, `TransactWriteItems`).
pub const MAX_ACTIONS: usize = 100;

/// Item bytes per transaction: the documented 4 MB aggregate, less a tenth for what
/// [`item_bytes`] does not count exactly.
pub const MAX_BYTES: usize = 4_000_000 / 10 * 9;

/// A table item's key.
pub type Key = (String, String);

/// What grouping needs to know of one entry.
#[derive(Debug, Clone)]
pub struct Shape {
    /// Every item the entry may touch (its actions' keys).
    pub keys: Vec<Key>,
    /// How many actions it may need.
    pub actions: usize,
    /// Size of its items ([`item_bytes`]).
    pub bytes: usize,
}

/// The limits of one transaction (the documented ones in [`Limits::DYNAMODB`]; smaller ones
/// when DynamoDB refused a transaction as too large).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub actions: usize,
    pub bytes: usize,
}

impl Limits {
    pub const DYNAMODB: Limits = Limits {
        actions: MAX_ACTIONS,
        bytes: MAX_BYTES,
    };
}

/// Consecutive ranges of `entries`, in order and covering all of them, each within `limits`
/// and touching no item twice. An entry alone over the limits gets a group of its own (the
/// service then refuses it, as it would refuse the single call).
pub fn groups(entries: &[Shape], limits: Limits) -> Vec<Range<usize>> {
    let mut groups = Vec::new();
    let mut start = 0;
    let mut actions = 0;
    let mut bytes = 0;
    let mut touched: HashSet<&Key> = HashSet::new();
    for (i, entry) in entries.iter().enumerate() {
        let fits = actions + entry.actions <= limits.actions
            && bytes + entry.bytes <= limits.bytes
            && entry.keys.iter().all(|k| !touched.contains(k));
        if !fits && i > start {
            groups.push(start..i);
            start = i;
            actions = 0;
            bytes = 0;
            touched.clear();
        }
        actions += entry.actions;
        bytes += entry.bytes;
        touched.extend(entry.keys.iter());
    }
    if start < entries.len() {
        groups.push(start..entries.len());
    }
    groups
}

/// An item's size by DynamoDB's published rules (developer guide, "Item sizes and formats"):
/// attribute name bytes plus value size; strings and binaries their bytes, a number at most 21
/// bytes, booleans and nulls 1, lists and maps 3 plus 1 per element plus their contents.
pub fn item_bytes(item: &HashMap<String, AttributeValue>) -> usize {
    item.iter()
        .map(|(name, value)| name.len() + value_bytes(value))
        .sum()
}

fn value_bytes(value: &AttributeValue) -> usize {
    match value {
        AttributeValue::S(s) => s.len(),
        AttributeValue::N(_) => 21,
        AttributeValue::B(b) => b.as_ref().len(),
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::Ss(v) => v.iter().map(String::len).sum(),
        AttributeValue::Ns(v) => 21 * v.len(),
        AttributeValue::Bs(v) => v.iter().map(|b| b.as_ref().len()).sum(),
        AttributeValue::L(v) => 3 + v.iter().map(|e| 1 + value_bytes(e)).sum::<usize>(),
        AttributeValue::M(m) => {
            3 + m
                .iter()
                .map(|(k, e)| 1 + k.len() + value_bytes(e))
                .sum::<usize>()
        }
        // A kind added to the SDK later: counted as the largest scalar.
        _ => 400 * 1024,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn shape(keys: &[&str], actions: usize, bytes: usize) -> Shape {
        Shape {
            keys: keys
                .iter()
                .map(|k| (k.to_string(), "S".to_string()))
                .collect(),
            actions,
            bytes,
        }
    }

    #[test]
    fn two_entries_touching_one_item_go_to_consecutive_transactions() {
        // GIVEN three pair creates, the first and third linking the same record
        let entries = [
            shape(&["PAIR#p1", "SF#a"], 2, 100),
            shape(&["PAIR#p2", "SF#b"], 2, 100),
            shape(&["PAIR#p3", "SF#a"], 2, 100),
        ];
        // WHEN they are grouped
        let groups = groups(&entries, Limits::DYNAMODB);
        // THEN the third starts a transaction after the one holding the first
        assert_eq!(groups, vec![0..2, 2..3]);
    }

    #[test]
    fn a_transaction_holds_at_most_100_actions() {
        // GIVEN 500 new pairs of two actions each (pair and one link)
        let entries: Vec<Shape> = (0..500)
            .map(|i| Shape {
                keys: vec![
                    (format!("PAIR#{i}"), "META".into()),
                    (format!("SF#{i}"), "LINK".into()),
                ],
                actions: 2,
                bytes: 500,
            })
            .collect();
        // WHEN they are grouped
        let groups = groups(&entries, Limits::DYNAMODB);
        // THEN 10 transactions of 50 pairs
        assert_eq!(groups.len(), 10);
        assert!(groups.iter().all(|g| g.len() == 50));
    }

    #[test]
    fn a_transaction_holds_at_most_the_byte_limit() {
        // GIVEN ten entries of 1 MB each
        let entries: Vec<Shape> = (0..10)
            .map(|i| shape(&[&format!("C#{i}")], 1, 1_000_000))
            .collect();
        // WHEN they are grouped
        let groups = groups(&entries, Limits::DYNAMODB);
        // THEN three fit a transaction (3.6 MB allowed), never four
        assert_eq!(groups, vec![0..3, 3..6, 6..9, 9..10]);
    }

    #[test]
    fn an_entry_over_the_limits_is_alone() {
        // GIVEN an entry larger than a transaction between two small ones
        let entries = [
            shape(&["a"], 1, 10),
            shape(&["b"], 1, 5_000_000),
            shape(&["c"], 1, 10),
        ];
        // THEN it is a group of its own, and nothing is lost
        assert_eq!(groups(&entries, Limits::DYNAMODB), vec![0..1, 1..2, 2..3]);
    }

    proptest! {
        /// Every entry is in exactly one group, in order; no group exceeds the limits (unless
        /// it is one entry) or touches an item twice.
        #[test]
        fn groups_cover_in_order_within_limits(
            entries in proptest::collection::vec(
                (proptest::collection::btree_set(0u8..20, 1..4), 1usize..4, 1usize..2_000_000),
                0..200,
            ),
            actions in 1usize..120,
        ) {
            // GIVEN entries over a small key space (so keys repeat across entries; an entry
            // touches an item once)
            let shapes: Vec<Shape> = entries
                .iter()
                .map(|(keys, a, b)| Shape {
                    keys: keys.iter().map(|k| (k.to_string(), String::new())).collect(),
                    actions: *a,
                    bytes: *b,
                })
                .collect();
            let limits = Limits { actions, bytes: MAX_BYTES };
            // WHEN they are grouped
            let groups = groups(&shapes, limits);
            // THEN the groups are consecutive and cover every entry
            let mut next = 0;
            for g in &groups {
                prop_assert_eq!(g.start, next);
                prop_assert!(g.end > g.start);
                next = g.end;
                let members = &shapes[g.clone()];
                if members.len() > 1 {
                    prop_assert!(members.iter().map(|s| s.actions).sum::<usize>() <= limits.actions);
                    prop_assert!(members.iter().map(|s| s.bytes).sum::<usize>() <= limits.bytes);
                    let keys: Vec<&Key> = members.iter().flat_map(|s| &s.keys).collect();
                    let unique: HashSet<&&Key> = keys.iter().collect();
                    prop_assert_eq!(unique.len(), keys.len());
                }
            }
            prop_assert_eq!(next, shapes.len());
        }
    }

    #[test]
    fn item_size_counts_names_and_values() {
        // GIVEN an item with a string, a number and a map
        let item = HashMap::from([
            ("pk".to_string(), AttributeValue::S("PAIR#p1".into())),
            ("version".to_string(), AttributeValue::N("3".into())),
            (
                "base".to_string(),
                AttributeValue::M(HashMap::from([(
                    "email".to_string(),
                    AttributeValue::S("a@b.c".into()),
                )])),
            ),
        ]);
        // THEN names + values, numbers at their largest
        assert_eq!(item_bytes(&item), (2 + 7) + (7 + 21) + (4 + 3 + 1 + 5 + 5));
    }
}
