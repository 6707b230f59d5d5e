//! Notifier: an SQS batch of `ConflictEvent` messages → one alert digest (a burst of 500
//! conflicts is one message), sent to the configured webhook with retry.
//!
//! The audit entries and review items themselves (with the field values) are written to
//! DynamoDB by the reconciler in the step that found them, before their events are sent:
//! values never travel through a queue, so the notifier has none to write. A malformed
//! message fails alone; when the alert cannot be delivered, every well-formed message of the
//! delivery is reported failed and comes back (the digest may then be sent twice: at least
//! once).

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use contact_sync_aws::Deployment;
use contact_sync_aws::metrics::{self, NotifyTally};
use contact_sync_pipeline::notify::{Alerter, notify};
use contact_sync_pipeline::queue::{ConflictEvent, MESSAGE_VERSION};
use std::time::Instant;

/// Handles one delivery.
pub async fn handle(alerter: &dyn Alerter, event: SqsEvent) -> SqsBatchResponse {
    handle_counted(alerter, event).await.0
}

/// Handles one delivery and emits its metrics (EMF, see `contact_sync_aws::metrics`).
pub async fn handle_measured(
    deployment: &Deployment,
    alerter: &dyn Alerter,
    event: SqsEvent,
) -> SqsBatchResponse {
    let started = Instant::now();
    let (response, tally) = handle_counted(alerter, event).await;
    metrics::emit_notify(deployment, tally, started);
    response
}

async fn handle_counted(alerter: &dyn Alerter, event: SqsEvent) -> (SqsBatchResponse, NotifyTally) {
    let mut tally = NotifyTally {
        messages: event.records.len() as u64,
        ..NotifyTally::default()
    };
    let mut response = SqsBatchResponse::default();
    let mut events = Vec::new();
    let mut ids = Vec::new();
    for message in event.records {
        let id = message.message_id.clone().unwrap_or_default();
        match decode(message.body.as_deref().unwrap_or("")) {
            Ok(e) => {
                events.push(e);
                ids.push(id);
            }
            Err(problem) => {
                tracing::error!(message_id = %id, %problem, "malformed conflict event; it goes to the dead-letter queue after its receives");
                response.add_failure(id);
            }
        }
    }
    match notify(&events, alerter).await {
        Ok(Some(digest)) => {
            tally.digests += 1;
            tracing::info!(
                conflicts = digest.total,
                needs_review = digest.needs_review,
                "digest sent"
            )
        }
        Ok(None) => {}
        Err(error) => {
            tracing::error!(%error, events = ids.len(), "digest not delivered; the events come back");
            for id in ids {
                response.add_failure(id);
            }
        }
    }
    tally.failed_messages = response.batch_item_failures.len() as u64;
    (response, tally)
}

fn decode(body: &str) -> Result<ConflictEvent, String> {
    let event: ConflictEvent = serde_json::from_str(body).map_err(|e| {
        format!(
            "{:?} error at line {} column {}",
            e.classify(),
            e.line(),
            e.column()
        )
    })?;
    if event.v != MESSAGE_VERSION {
        return Err(format!(
            "conflict event version {} (this build reads {MESSAGE_VERSION})",
            event.v
        ));
    }
    Ok(event)
}
