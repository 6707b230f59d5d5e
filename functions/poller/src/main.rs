//! Poller Lambda: an EventBridge schedule → one sync cycle.
//!
//! This build runs the whole cycle (poll → reconcile → notify) in this function over the
//! embedded store in `CONTACT_SYNC_STATE_DIR`; fanning batches out through SQS to the
//! reconciler, with DynamoDB as the store, comes with the AWS adapters.

use aws_lambda_events::event::cloudwatch_events::CloudWatchEvent;
use contact_sync_connectors::environment::local_integration_from_env;
use contact_sync_pipeline::cycle::run_cycle;
use contact_sync_pipeline::notify::LogAlerter;
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let (integration, queue) = local_integration_from_env()?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<CloudWatchEvent>| {
        let (integration, queue) = (&integration, &queue);
        async move {
            tracing::info!(detail_type = ?event.payload.detail_type, "scheduled sync");
            let outcome = run_cycle(integration, queue, &LogAlerter, |_, _| {}).await?;
            Ok::<_, Error>(serde_json::json!({"run_id": outcome.run_id, "stats": outcome.stats}))
        }
    }))
    .await
}
