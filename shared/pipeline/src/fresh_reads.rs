//! Records this run has just read: what the one-process cycle's poll hands to its reconcile,
//! so that a record read by the poll is not read again by id seconds later (issue 15, "read
//! once").
//!
//! Only the one-process cycle uses it ([`crate::cycle`]): the Lambdas' batches cross a queue,
//! whose messages hold ids only (never personal data), so their reconcile fetches.
//!
//! # Why a record read earlier is as good as one fetched now
//!
//! Reconcile plans on reads that began at its `read_at` and leases a pair only if nobody held
//! its lease since then (`SyncStore::acquire_lease_free_since`): every writer holds the lease
//! while it writes, so nobody wrote the pair after our reads. A record taken from here was read
//! at the poll's read time, so reconcile lowers its `read_at` to that time (the earliest read
//! of any record it takes): the lease rule then covers the whole time since the poll read it.
//! A record taken from here is removed (each is used once: a second batch naming it fetches it
//! again, with its own `read_at`). Records older than [`FreshReads::max_age`] are not used (an
//! old `read_at` would make reconcile give its batch back, see `leases_may_have_expired`), nor
//! are more than [`FreshReads::capacity`] kept (an initial sync of a large org would otherwise
//! hold every record in memory; the rest is fetched as before).

use chrono::{DateTime, Duration, Utc};
use contact_sync_engine::{Side, SideRecord};
use std::collections::HashMap;
use std::sync::Mutex;

/// How many records one run keeps by default: a few hundred bytes to a few kilobytes each, so
/// at most some tens of megabytes.
pub const DEFAULT_CAPACITY: usize = 20_000;

/// A record read, by side and id, with the time its read began.
type Held = HashMap<(Side, String), (SideRecord, DateTime<Utc>)>;

/// Records read by this run's poll, by side and id, each with the time its read began.
#[derive(Debug)]
pub struct FreshReads {
    records: Mutex<Held>,
    capacity: usize,
    max_age: Duration,
}

/// Records taken for one batch, and the earliest time any of them was read.
#[derive(Debug, Default)]
pub struct Taken {
    pub records: Vec<SideRecord>,
    /// `None` when nothing was taken.
    pub read_at: Option<DateTime<Utc>>,
}

impl FreshReads {
    /// Keeps at most `capacity` records; a record read more than `max_age` before it is asked
    /// for is not used.
    pub fn new(capacity: usize, max_age: Duration) -> FreshReads {
        FreshReads {
            records: Mutex::new(HashMap::new()),
            capacity,
            max_age,
        }
    }

    /// Remembers `record`, read by a read that began at `read_at` (replacing an earlier read of
    /// it). Dropped when full.
    pub fn keep(&self, record: SideRecord, read_at: DateTime<Utc>) {
        let mut records = self.records.lock().unwrap_or_else(|p| p.into_inner());
        let key = (record.side, record.id.clone());
        if records.len() < self.capacity || records.contains_key(&key) {
            records.insert(key, (record, read_at));
        }
    }

    /// Takes (removes) the records of `side` with these ids that are still fresh at `now`.
    pub fn take(&self, side: Side, ids: &[String], now: DateTime<Utc>) -> Taken {
        let mut records = self.records.lock().unwrap_or_else(|p| p.into_inner());
        let mut taken = Taken::default();
        for id in ids {
            let Some((record, read_at)) = records.remove(&(side, id.clone())) else {
                continue;
            };
            if now - read_at > self.max_age {
                continue;
            }
            taken.read_at = Some(taken.read_at.map_or(read_at, |t| t.min(read_at)));
            taken.records.push(record);
        }
        taken
    }

    /// Records held now.
    pub fn len(&self) -> usize {
        self.records.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets every record (the cycle's reconcile is over).
    pub fn clear(&self) {
        self.records
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use contact_sync_engine::mapping::Mapping;
    use serde_json::json;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_717_243_200 + secs, 0).expect("valid timestamp")
    }

    fn record(id: &str) -> SideRecord {
        Mapping::default_mapping().salesforce_record(id, at(0), &json!({ "LastName": "X" }))
    }

    #[test]
    fn a_record_is_taken_once_with_its_read_time() {
        // GIVEN two records kept, read at t+1 and t+2
        let reads = FreshReads::new(10, Duration::minutes(1));
        reads.keep(record("a"), at(1));
        reads.keep(record("b"), at(2));
        // WHEN both are taken (and one id nobody read)
        let ids = ["b".to_string(), "a".to_string(), "c".to_string()];
        let taken = reads.take(Side::Salesforce, &ids, at(3));
        // THEN both come back, with the earliest read time
        assert_eq!(taken.records.len(), 2);
        assert_eq!(taken.read_at, Some(at(1)));
        // AND a second take finds nothing
        let again = reads.take(Side::Salesforce, &ids, at(3));
        assert!(again.records.is_empty() && again.read_at.is_none());
    }

    #[test]
    fn a_record_older_than_the_age_limit_or_of_the_other_side_is_not_used() {
        // GIVEN a record read at t
        let reads = FreshReads::new(10, Duration::seconds(30));
        reads.keep(record("a"), at(0));
        // WHEN it is asked for on the other side, then 31 s later
        let ids = ["a".to_string()];
        let other_side = reads.take(Side::Genesys, &ids, at(1));
        let stale = reads.take(Side::Salesforce, &ids, at(31));
        // THEN neither answer holds it
        assert!(other_side.records.is_empty());
        assert!(stale.records.is_empty() && stale.read_at.is_none());
    }

    #[test]
    fn no_more_than_the_capacity_is_kept() {
        // GIVEN a capacity of two
        let reads = FreshReads::new(2, Duration::minutes(1));
        // WHEN three records are kept, and the first one read again
        reads.keep(record("a"), at(0));
        reads.keep(record("b"), at(0));
        reads.keep(record("c"), at(0));
        reads.keep(record("a"), at(1));
        // THEN the first two are held, the first with its newer read
        assert_eq!(reads.len(), 2);
        let taken = reads.take(Side::Salesforce, &["a".to_string(), "c".to_string()], at(1));
        assert_eq!(taken.records.len(), 1);
        assert_eq!(taken.read_at, Some(at(1)));
    }
}
