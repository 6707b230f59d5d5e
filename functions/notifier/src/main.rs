//! Notifier Lambda: an SQS batch of `ConflictEvent` messages → one alert digest. Malformed
//! messages are reported as failed (they reach the DLQ); the rest are digested.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use contact_sync_pipeline::notify::{LogAlerter, notify};
use contact_sync_pipeline::queue::ConflictEvent;
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| async move {
        let mut response = SqsBatchResponse::default();
        let mut events = Vec::new();
        let mut ids = Vec::new();
        for message in event.payload.records {
            let id = message.message_id.clone().unwrap_or_default();
            match serde_json::from_str::<ConflictEvent>(message.body.as_deref().unwrap_or("")) {
                Ok(e) => {
                    events.push(e);
                    ids.push(id);
                }
                Err(error) => {
                    tracing::error!(message_id = %id, %error, "malformed conflict event");
                    response.add_failure(id);
                }
            }
        }
        if let Err(error) = notify(&events, &LogAlerter).await {
            tracing::error!(%error, "digest not delivered");
            for id in ids {
                response.add_failure(id);
            }
        }
        Ok::<_, Error>(response)
    }))
    .await
}
