//! Reconciler Lambda: an SQS batch of `ReconcileBatch` messages → reconcile each, reporting
//! only the failed message ids (`ReportBatchItemFailures`). A malformed message fails alone
//! (and reaches the DLQ after its receives), never its neighbours.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use contact_sync_connectors::environment::local_integration_from_env;
use contact_sync_pipeline::queue::ReconcileBatch;
use contact_sync_pipeline::reconcile::reconcile;
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let (integration, _queue) = local_integration_from_env()?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| {
        let integration = &integration;
        async move {
            let mut response = SqsBatchResponse::default();
            for message in event.payload.records {
                let id = message.message_id.clone().unwrap_or_default();
                let batch: Result<ReconcileBatch, _> =
                    serde_json::from_str(message.body.as_deref().unwrap_or(""));
                let result = match batch {
                    Ok(batch) => reconcile(integration, &batch)
                        .await
                        .map(|outcome| outcome.retry.is_empty())
                        .map_err(|e| e.to_string()),
                    Err(e) => Err(format!("malformed reconcile batch: {e}")),
                };
                match result {
                    Ok(true) => {}
                    Ok(false) => response.add_failure(id),
                    Err(error) => {
                        tracing::error!(message_id = %id, %error, "message failed");
                        response.add_failure(id);
                    }
                }
            }
            Ok::<_, Error>(response)
        }
    }))
    .await
}
