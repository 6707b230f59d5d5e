//! Audit value retention: the values an audit entry holds (base, Salesforce and Genesys values,
//! a refusal's message) are dropped once the entry is older than the mapping's
//! `audit.value_retention_days`; its ids, field, decision and time stay. Open review items keep
//! their values (a person still needs them) until they are closed.
//!
//! Run once per run by both runtimes (the CLI's cycle, the scheduled poller), bounded by
//! [`AUDIT_VALUES_PER_RUN`]: the store reads only the entries that still hold values, oldest
//! first, so a run costs what it drops. Idempotent: an entry without values is never touched
//! again, and a run that stops half-way leaves the rest to the next one.

use crate::integration::Integration;
use crate::store::StoreResult;

/// The most audit entries one run drops values from. Entries due beyond this wait for the next
/// run (a backlog, e.g. after the retention was shortened, drains over a few runs).
pub const AUDIT_VALUES_PER_RUN: usize = 250;

/// [`drop_expired_values`] as a run's upkeep: a failure is logged (ids and the store's
/// message, never values) and the run goes on; the next run drops what this one could not.
/// The run's own work is done by then, and must not be reported failed for its upkeep.
pub async fn upkeep(integration: &Integration) -> usize {
    match drop_expired_values(integration).await {
        Ok(dropped) => dropped,
        Err(error) => {
            tracing::warn!(%error, "audit values past their retention not dropped this run; the next run tries again");
            0
        }
    }
}

/// Drops the values of the integration's closed audit entries recorded before now minus the
/// mapping's retention, at most [`AUDIT_VALUES_PER_RUN`]; the number dropped.
pub async fn drop_expired_values(integration: &Integration) -> StoreResult<usize> {
    let before = integration.clock.now() - integration.mapping.audit.value_retention();
    let dropped = integration
        .store
        .drop_audit_values(&integration.name, before, AUDIT_VALUES_PER_RUN)
        .await?;
    if dropped == AUDIT_VALUES_PER_RUN {
        tracing::info!(
            dropped,
            "audit values past their retention dropped; more are due, the next run continues"
        );
    } else if dropped > 0 {
        tracing::info!(dropped, "audit values past their retention dropped");
    }
    Ok(dropped)
}
