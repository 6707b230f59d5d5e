//! Rules every [`SyncStore`](super::SyncStore) implementation applies the same way: which ids a
//! pair links, when a lease may be taken, how listings are ordered.

use super::{ConflictRecord, Pair, RunRecord, StoreError, StoreResult};
use chrono::{DateTime, Utc};
use contact_sync_engine::Side;

/// The record ids a pair holds, with their side.
pub(super) fn record_ids(pair: &Pair) -> impl Iterator<Item = (Side, &str)> {
    [
        (Side::Salesforce, pair.sf_id.as_deref()),
        (Side::Genesys, pair.gz_id.as_deref()),
    ]
    .into_iter()
    .filter_map(|(side, id)| id.map(|id| (side, id)))
}

/// Newest first by `at`, ties by id (descending), so the order is total and stable.
pub(super) fn newest_conflicts_first(conflicts: &mut [ConflictRecord]) {
    conflicts.sort_by(|a, b| (b.at, &b.id).cmp(&(a.at, &a.id)));
}

/// Newest first by `started_at` (runs without one last), ties by run id (descending).
pub(super) fn newest_runs_first(runs: &mut [RunRecord]) {
    runs.sort_by(|a, b| (b.started_at, &b.run_id).cmp(&(a.started_at, &a.run_id)));
}

/// Whether a lease whose last holder held it until `held` (its expiry, or its release) may be
/// taken by `owner` when nobody else may have held it from `free_since` on.
pub(super) fn lease_available(
    held: Option<(&str, DateTime<Utc>)>,
    owner: &str,
    free_since: DateTime<Utc>,
) -> bool {
    match held {
        None => true,
        Some((holder, held_until)) => holder == owner || held_until <= free_since,
    }
}

/// `create_pair` takes only a fresh pair (version 1): anything else is a caller bug.
pub(super) fn check_new_version(pair: &Pair) -> StoreResult<()> {
    if pair.version == 1 {
        Ok(())
    } else {
        Err(StoreError::Permanent(format!(
            "create_pair: pair {} has version {}, a new pair must have version 1",
            pair.pair_id, pair.version
        )))
    }
}
