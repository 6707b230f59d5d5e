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

/// What a run did. Every pair the run touched lands in exactly one of `unchanged`,
/// `updated_pairs`, `created` (by side), `unlinked`, `review`, `failed`, `skipped` or `left`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
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
    #[serde(default)]
    pub deleted: PerSide,
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
    #[serde(default)]
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
        self.unchanged += o.unchanged;
        self.conflicts += o.conflicts;
        self.review += o.review;
        self.unlinked += o.unlinked;
        self.failed += o.failed;
        self.skipped += o.skipped;
        self.left += o.left;
    }
}
