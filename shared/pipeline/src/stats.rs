//! Counters of a run, summed across polls and reconcile batches.

use contact_sync_engine::Side;
use serde::{Deserialize, Serialize};
use std::ops::AddAssign;

/// A count per system.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PerSide {
    pub salesforce: u64,
    pub genesys: u64,
}

impl PerSide {
    pub fn add(&mut self, side: Side, n: u64) {
        match side {
            Side::Salesforce => self.salesforce += n,
            Side::Genesys => self.genesys += n,
        }
    }

    pub fn get(&self, side: Side) -> u64 {
        match side {
            Side::Salesforce => self.salesforce,
            Side::Genesys => self.genesys,
        }
    }

    pub fn total(&self) -> u64 {
        self.salesforce + self.genesys
    }
}

impl AddAssign for PerSide {
    fn add_assign(&mut self, other: PerSide) {
        self.salesforce += other.salesforce;
        self.genesys += other.genesys;
    }
}

/// What a run did: records read and written per side, and what became of each pair
/// (`unchanged`, `unlinked`, `review`, `failed`, `skipped`, `left`; writes are counted per side
/// in `created` / `updated` / `deleted`). A summary stored by an older version, or a partial
/// one, loads with the missing counters at zero.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SyncStats {
    /// Records read from each system by the poll (Genesys: every record scanned).
    pub read: PerSide,
    /// Records found changed since the watermark.
    pub changed: PerSide,
    /// Pairs enqueued for reconcile.
    pub pairs_enqueued: u64,
    /// Records created on each side.
    pub created: PerSide,
    /// Records updated on each side (link-only Genesys updates included).
    pub updated: PerSide,
    /// Records deleted on each side (delete policy `propagate`).
    pub deleted: PerSide,
    /// Records the other system refused for good in this run (a per-record validation error,
    /// or a one-record request refused), per side that refused: each pair is parked with a
    /// review item and retried when a record changes. Never a record whose batch was refused.
    pub refused: PerSide,
    /// Pairs found already in sync.
    pub unchanged: u64,
    /// Fields decided by policy after changing on both sides (audit entries).
    pub conflicts: u64,
    /// Items waiting for a person: manual conflicts, ambiguous matches, deletes.
    pub review: u64,
    /// Pairs unlinked because a record disappeared.
    pub unlinked: u64,
    /// Pairs that failed and stay pending for the next run.
    pub failed: u64,
    /// Pairs left alone (one-way mapping, held by another worker).
    pub skipped: u64,
    /// Pairs this run did not get to (`--limit` reached, or interrupted): untouched, found
    /// again by the next run (the watermarks did not move past them).
    pub left: u64,
}

impl AddAssign for SyncStats {
    fn add_assign(&mut self, o: SyncStats) {
        self.read += o.read;
        self.changed += o.changed;
        self.pairs_enqueued += o.pairs_enqueued;
        self.created += o.created;
        self.updated += o.updated;
        self.deleted += o.deleted;
        self.refused += o.refused;
        self.unchanged += o.unchanged;
        self.conflicts += o.conflicts;
        self.review += o.review;
        self.unlinked += o.unlinked;
        self.failed += o.failed;
        self.skipped += o.skipped;
        self.left += o.left;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partial_summary_loads_with_missing_counters_at_zero() {
        // GIVEN a stored summary that has only some counters (an older or partial record)
        let stored = serde_json::json!({"read": {"salesforce": 3, "genesys": 4}, "failed": 1});
        // WHEN it is loaded
        let stats: SyncStats = serde_json::from_value(stored).expect("loads");
        // THEN what it has is kept and the rest is zero
        assert_eq!(stats.read.genesys, 4);
        assert_eq!(stats.failed, 1);
        assert_eq!(stats.updated, PerSide::default());
        assert_eq!(stats.left, 0);
        assert_eq!(stats.refused, PerSide::default());
    }
}
