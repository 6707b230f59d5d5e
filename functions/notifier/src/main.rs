//! Notifier Lambda: init once (alerter from the webhook secret), then one digest per delivery.

use aws_lambda_events::event::sqs::SqsEvent;
use contact_sync_aws::Deployment;
use lambda_runtime::{Error, LambdaEvent, service_fn};

/// mimalloc: allocation-heavy JSON mapping runs measurably faster than with the system
/// allocator (see BENCHMARKS.md, engine throughput).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let deployment = Deployment::from_env().await?;
    let alerter = deployment.alerter().await?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| {
        let (deployment, alerter) = (&deployment, alerter.clone());
        async move {
            let response = notifier::handle_measured(deployment, &*alerter, event.payload).await;
            Ok::<_, Error>(response)
        }
    }))
    .await
}
