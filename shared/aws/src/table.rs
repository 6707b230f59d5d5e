//! The single DynamoDB table (docs/design.md section 4): attribute names, index names and the key of
//! every kind of item. `template.yaml` declares the same names; `tests/template.rs` holds the two
//! together.
//!
//! | item | `pk` | `sk` | indexes |
//! |---|---|---|---|
//! | watermark | `INT#{integration}` | `WM#{side}` | |
//! | learned bulk limit | `INT#{integration}` | `BULK#{side}` | number `records`: the most records per bulk write request the side's system accepted; only ever lowered |
//! | lease (pair or run) | `LEASE#{key}` | `LEASE` | TTL `expires_at` |
//! | pair | `PAIR#{pair_id}` | `META` | `open_items`: `PENDING` / pair id while pending |
//! | link | `SF#{id}` / `GZ#{id}` | `LINK` | |
//! | run | `RUN#{run_id}` | `SUMMARY` | `listing`: `RUNS#{integration}`; TTL `expires_at` |
//! | conflict | `CONFLICT#{id}` | `ENTRY` | `listing`: `CONFLICTS#{integration}`; `open_items`: `OPEN#{integration}` while open, `VALUES#{integration}` once closed while it holds values (audit value retention) |
//!
//! Two departures from the design's table, both forced by the `SyncStore` port: lease keys are
//! opaque strings chosen by the use cases (`run#…`, `pair#…`), so a lease lives under its own
//! key rather than under its integration or pair; and conflicts are addressed by their stable id
//! (idempotent recording, `conflict(id)`, `close_conflict(id)`), so the id is the key and the
//! per-integration, time-ordered view is the `listing` index.

use chrono::{DateTime, SecondsFormat, Utc};
use contact_sync_engine::Side;

/// Partition key attribute of the table.
pub const PK: &str = "pk";
/// Sort key attribute of the table.
pub const SK: &str = "sk";

/// Index of per-integration listings (conflicts and runs), newest first.
pub const LISTING_INDEX: &str = "listing";
pub const LISTING_PK: &str = "list_pk";
pub const LISTING_SK: &str = "list_sk";

/// Sparse index of what waits for work: open review items per integration, pending pairs.
pub const OPEN_INDEX: &str = "open_items";
pub const OPEN_PK: &str = "open_pk";
pub const OPEN_SK: &str = "open_sk";

/// TTL attribute (epoch seconds) on leases and runs. DynamoDB deletes expired items only
/// eventually (moto never does), so reads never trust its absence: leases compare their own
/// expiry on every acquire.
pub const TTL_ATTRIBUTE: &str = "expires_at";

/// Every key attribute of the table and its indexes (all strings).
pub const KEY_ATTRIBUTES: [&str; 6] = [PK, SK, LISTING_PK, LISTING_SK, OPEN_PK, OPEN_SK];

pub(crate) fn watermark_key(integration: &str, side: Side) -> (String, String) {
    (format!("INT#{integration}"), format!("WM#{side}"))
}

/// The number attribute of a learned bulk limit item.
pub(crate) const BULK_LIMIT_RECORDS: &str = "records";

pub(crate) fn bulk_limit_key(integration: &str, side: Side) -> (String, String) {
    (format!("INT#{integration}"), format!("BULK#{side}"))
}

pub(crate) fn lease_key(key: &str) -> (String, String) {
    (format!("LEASE#{key}"), "LEASE".to_string())
}

pub(crate) fn pair_key(pair_id: &str) -> (String, String) {
    (format!("PAIR#{pair_id}"), "META".to_string())
}

pub(crate) fn link_key(side: Side, record_id: &str) -> (String, String) {
    let prefix = match side {
        Side::Salesforce => "SF",
        Side::Genesys => "GZ",
    };
    (format!("{prefix}#{record_id}"), "LINK".to_string())
}

pub(crate) fn run_key(run_id: &str) -> (String, String) {
    (format!("RUN#{run_id}"), "SUMMARY".to_string())
}

pub(crate) fn conflict_key(id: &str) -> (String, String) {
    (format!("CONFLICT#{id}"), "ENTRY".to_string())
}

pub(crate) const PENDING_PAIRS: &str = "PENDING";

pub(crate) fn open_conflicts(integration: &str) -> String {
    format!("OPEN#{integration}")
}

/// The `open_items` partition of an integration's closed conflicts that still hold values
/// (oldest first: what the audit value retention drops).
pub(crate) fn audit_values(integration: &str) -> String {
    format!("VALUES#{integration}")
}

pub(crate) fn conflict_listing(integration: &str) -> String {
    format!("CONFLICTS#{integration}")
}

pub(crate) fn run_listing(integration: &str) -> String {
    format!("RUNS#{integration}")
}

/// A timestamp as a fixed-width string (nanoseconds, `Z`): string order is time order, so it
/// sorts in a sort key and compares in a condition.
pub(crate) fn sortable(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

/// Sort key of a conflict in its listings: time, then id (the port's "newest first, ties by id").
pub(crate) fn conflict_order(at: DateTime<Utc>, id: &str) -> String {
    format!("{}#{id}", sortable(at))
}

/// Sort key of a run: runs with a start time after those without (descending: first), then by
/// start time, then by run id.
pub(crate) fn run_order(started_at: Option<DateTime<Utc>>, run_id: &str) -> String {
    match started_at {
        Some(at) => format!("1#{}#{run_id}", sortable(at)),
        None => format!("0#{run_id}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn sortable_stamps_order_like_the_times_they_encode() {
        // GIVEN times that differ in whole seconds, in nanoseconds, and across a year boundary
        let a = Utc.with_ymd_and_hms(2025, 12, 31, 23, 59, 59).unwrap();
        let b = a + chrono::Duration::nanoseconds(1);
        let c = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        // WHEN encoded THEN the strings sort as the times do, at one fixed width
        let (sa, sb, sc) = (sortable(a), sortable(b), sortable(c));
        assert!(sa < sb && sb < sc, "{sa} {sb} {sc}");
        assert_eq!(sa.len(), sc.len());
    }

    #[test]
    fn runs_without_a_start_sort_below_every_started_run() {
        // GIVEN a run without a start and the earliest possible started run
        let none = run_order(None, "zzz");
        let early = run_order(Some(DateTime::<Utc>::MIN_UTC), "a");
        // WHEN compared THEN the unstarted one sorts first (so last in a newest-first listing)
        assert!(none < early);
    }
}
