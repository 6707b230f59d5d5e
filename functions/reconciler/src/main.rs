//! Reconciler Lambda: init once, then one `reconcile` per message (see the library).

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
    // Both secrets read and both connectors built during init, once per cold start, before the
    // first event. A failure is left to the first invocation, which reads them again and fails
    // its messages if it cannot.
    if let Err(error) = deployment.integration().await {
        tracing::warn!(retryable = error.is_retryable(), %error, "credentials not read during init; the first invocation tries again");
    }
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| {
        let deployment = &deployment;
        async move { Ok::<_, Error>(reconciler::handle(deployment, event.payload).await?) }
    }))
    .await
}
