//! Poller Lambda: init once, then one poll per scheduled event (see the library).

use aws_lambda_events::event::cloudwatch_events::CloudWatchEvent;
use contact_sync_aws::Deployment;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// mimalloc: allocation-heavy JSON mapping runs measurably faster than with the system
/// allocator (see BENCHMARKS.md, engine throughput).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let deployment = Deployment::from_env().await?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<CloudWatchEvent>| {
        let deployment = &deployment;
        async move {
            let deadline = deadline(event.context.deadline);
            // Boxed: the poll's future is too deep for the compiler's layout query inline.
            let invocation = Box::pin(poller::invoke(deployment, &event.payload, deadline));
            Ok::<_, Error>(invocation.await?)
        }
    }))
    .await
}

/// Lambda's deadline (epoch milliseconds) as an `Instant`. Lambda always sends one in the
/// future; an emulator may not (`cargo lambda watch` sends the constant 600000, i.e. 1970), and
/// then the invocation gets Lambda's maximum of 15 minutes instead of none at all.
fn deadline(epoch_ms: u64) -> Instant {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    match epoch_ms.saturating_sub(now_ms) {
        0 => Instant::now() + Duration::from_secs(15 * 60),
        left => Instant::now() + Duration::from_millis(left),
    }
}
