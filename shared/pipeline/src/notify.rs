//! The notify use case: conflict events → one alert digest per delivery, so a burst of 500
//! conflicts is one message, not 500. Values never travel here: the audit entries holding them
//! were written to the store by the reconciler; events carry ids, field names and outcomes.

use crate::queue::ConflictEvent;
use async_trait::async_trait;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// A digest of conflict events for one alert.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AlertDigest {
    pub integration: String,
    pub runs: BTreeSet<String>,
    /// Distinct events (duplicates from at-least-once delivery are counted once).
    pub total: usize,
    /// Count per `(field, outcome)`.
    pub by_field: BTreeMap<String, BTreeMap<String, usize>>,
    /// Events that wait for a person.
    pub needs_review: usize,
    /// Up to ten pairs to look at first.
    pub examples: Vec<String>,
}

impl AlertDigest {
    /// Builds a digest; events are deduplicated by conflict id.
    pub fn from_events(events: &[ConflictEvent]) -> AlertDigest {
        let mut digest = AlertDigest::default();
        let mut seen = BTreeSet::new();
        for e in events {
            if !seen.insert(e.conflict_id.as_str()) {
                continue;
            }
            digest.integration = e.integration.clone();
            digest.runs.insert(e.run_id.clone());
            digest.total += 1;
            *digest
                .by_field
                .entry(e.field.clone())
                .or_default()
                .entry(e.outcome.clone())
                .or_default() += 1;
            if matches!(e.outcome.as_str(), "held_for_review" | "ambiguous_match")
                || e.outcome.starts_with("deleted_on_")
                || e.outcome.starts_with("rejected_by_")
            {
                digest.needs_review += 1;
            }
            if digest.examples.len() < 10
                && let Some(pair) = &e.pair_id
            {
                digest.examples.push(pair.clone());
            }
        }
        digest
    }

    /// A short human text (no personal data: field names, counts and pair ids only).
    pub fn text(&self) -> String {
        let mut lines = vec![format!(
            "contact-sync `{}`: {} conflict(s), {} waiting for review",
            self.integration, self.total, self.needs_review
        )];
        for (field, outcomes) in &self.by_field {
            let parts: Vec<String> = outcomes.iter().map(|(o, n)| format!("{o} ×{n}")).collect();
            lines.push(format!("  {field}: {}", parts.join(", ")));
        }
        if !self.examples.is_empty() {
            lines.push(format!("  pairs: {}", self.examples.join(", ")));
        }
        lines.join("\n")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    #[error("alert could not be delivered, retry: {0}")]
    Transient(String),
    #[error("alert refused: {0}")]
    Permanent(String),
}

/// The `Alerter` port: where digests go (a Slack-compatible webhook in AWS, the log locally).
///
/// Contract: at-least-once; a digest may be delivered twice after a retry.
#[async_trait]
pub trait Alerter: Send + Sync {
    async fn send(&self, digest: &AlertDigest) -> Result<(), AlertError>;
}

/// Writes digests to the log (counts and ids only).
#[derive(Debug, Default)]
pub struct LogAlerter;

#[async_trait]
impl Alerter for LogAlerter {
    async fn send(&self, digest: &AlertDigest) -> Result<(), AlertError> {
        tracing::warn!(
            integration = %digest.integration,
            conflicts = digest.total,
            needs_review = digest.needs_review,
            "conflict digest"
        );
        Ok(())
    }
}

/// Sends one digest for a delivery of conflict events; nothing when there are none.
pub async fn notify(
    events: &[ConflictEvent],
    alerter: &dyn Alerter,
) -> Result<Option<AlertDigest>, AlertError> {
    if events.is_empty() {
        return Ok(None);
    }
    let digest = AlertDigest::from_events(events);
    alerter.send(&digest).await?;
    Ok(Some(digest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn event(id: &str, field: &str, outcome: &str) -> ConflictEvent {
        ConflictEvent {
            v: 1,
            integration: "default".into(),
            run_id: "r1".into(),
            conflict_id: id.into(),
            pair_id: Some(format!("p-{id}")),
            sf_id: None,
            gz_id: None,
            field: field.into(),
            policy: "newest_wins".into(),
            outcome: outcome.into(),
            at: Utc::now(),
        }
    }

    #[test]
    fn a_burst_of_500_conflicts_is_one_digest_and_duplicates_count_once() {
        // GIVEN 500 conflicts, each delivered twice
        let mut events: Vec<ConflictEvent> = (0..500)
            .map(|i| {
                event(
                    &i.to_string(),
                    if i % 2 == 0 { "email" } else { "title" },
                    "genesys_won",
                )
            })
            .collect();
        events.extend(events.clone());
        // WHEN digested
        let digest = AlertDigest::from_events(&events);
        // THEN one digest counts 500, split by field, with at most ten examples
        assert_eq!(digest.total, 500);
        assert_eq!(digest.by_field["email"]["genesys_won"], 250);
        assert_eq!(digest.examples.len(), 10);
        assert_eq!(digest.needs_review, 0);
    }
}
