//! The reconciler Lambda's cost: the real release `reconciler` binary, started under a local
//! Lambda Runtime API with the variables `template.yaml` gives it (table and conflict queue in
//! moto, credentials in moto's Secrets Manager), handed one SQS event of 10 messages × 50
//! new pairs (500 Salesforce contacts to create in Genesys), then the same event again (a
//! redelivery: a warm invocation that finds every pair in sync), with both simulators
//! answering every request 50 ms late. Prints its init time (start → first `next`), each invocation's wall time, its
//! peak resident memory (`VmHWM`) and CPU time, and the binary's size; then, in this process,
//! the init path itself (`Deployment::new` + first `integration()`: SDK clients, both secrets
//! read from moto, both connectors built).
//!
//! Build the binary first, then run (moto must be running: `eval "$(infra/moto start)"`):
//! `cargo build --release -p reconciler && cargo bench -p contact-sync-bench --bench reconciler_cost`

use contact_sync_aws::Deployment;
use contact_sync_bench::aws_world::AwsWorld;
use contact_sync_bench::lambda_runtime_api::RuntimeApi;
use contact_sync_bench::process;
use contact_sync_engine::mapping::Mapping;
use contact_sync_pipeline::poll::{WatermarkAdvance, poll};
use contact_sync_simulators::Fault;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const MESSAGES: usize = 10;
const PAIRS_PER_MESSAGE: usize = 50;
const LATENCY_MS: u64 = 50;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let binary = reconciler_binary();
    let Some(world) = AwsWorld::new("reconciler_cost", PAIRS_PER_MESSAGE).await else {
        return;
    };
    // 500 Salesforce contacts, none in Genesys: the event creates every pair (a pair reserved,
    // a Genesys bulk add, the link committed). Moto copies the whole table for every
    // transaction and keeps the memory, so nothing else goes through it first.
    let pairs = MESSAGES * PAIRS_PER_MESSAGE;
    world.sf.insert_numbered(pairs);
    let polled = poll(
        &world.integration,
        "bench-run",
        WatermarkAdvance::AfterEnqueue,
    )
    .await
    .expect("poll");
    assert_eq!(polled.batches, MESSAGES, "one event of batches");
    let event = sqs_event(&world, "cold");
    let vars = world.function_variables().await;
    let endpoint = std::env::var(contact_sync_aws::emulator::MOTO_URL).expect("moto URL");

    // Every request to either simulator (token requests too) waits 50 ms before its answer.
    let latency = || Fault::Delay {
        path_contains: String::new(),
        millis: LATENCY_MS,
        times: u32::MAX,
    };
    world.sf.inject(latency());
    world.gz.inject(latency());
    world.sf.reset_counters();
    world.gz.reset_counters();

    let api = RuntimeApi::start().await.expect("runtime API");
    api.push("cold", event.clone());
    api.push("warm-redelivery", event);
    let started = Instant::now();
    let mut child = Command::new(&binary)
        .env_clear()
        .envs(&vars)
        .envs([
            ("AWS_LAMBDA_RUNTIME_API", api.address()),
            ("AWS_LAMBDA_FUNCTION_NAME", "reconciler"),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
            ("AWS_LAMBDA_LOG_STREAM_NAME", "bench"),
            ("AWS_LAMBDA_LOG_GROUP_NAME", "bench"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("reconciler binary");
    let pid = child.id();
    let calls = api
        .wait_for(Duration::from_secs(300), |c| c.next_requests.len() >= 3)
        .await;
    let peak_kb = process::status_kb(pid, "VmHWM");
    let rss_kb = process::status_kb(pid, "VmRSS");
    let cpu_s = process::cpu_seconds(pid);
    child.kill().ok();
    child.wait().ok();
    let calls = calls.unwrap_or_else(|| {
        panic!(
            "the reconciler did not finish both events: {:?}",
            api.calls()
        )
    });
    assert!(calls.init_errors.is_empty(), "init failed: {calls:?}");
    for (id, _, body, is_error) in &calls.answers {
        assert!(!is_error, "invocation {id} failed: {body}");
        assert_eq!(
            body["batchItemFailures"].as_array().map_or(0, Vec::len),
            0,
            "invocation {id}: every message done"
        );
    }
    let linked = world
        .gz
        .all()
        .iter()
        .filter(|c| {
            c["externalIds"]
                .as_array()
                .is_some_and(|ids| !ids.is_empty())
        })
        .count();
    assert_eq!(
        linked, pairs,
        "every contact created once in Genesys, linked"
    );

    let init = calls.next_requests[0] - started;
    let kb = |v: Option<u64>| v.map_or("?".into(), |kb| format!("{:.1} MB", kb as f64 / 1024.0));
    println!(
        "reconciler binary: {} ({:.1} MB, release profile, host target x86_64; not the arm64 build)",
        binary.display(),
        std::fs::metadata(&binary).map_or(0, |m| m.len()) as f64 / 1_048_576.0
    );
    println!(
        "event: {MESSAGES} messages x {PAIRS_PER_MESSAGE} new pairs (Salesforce -> Genesys creates), then the same event again; simulators answer every request {LATENCY_MS} ms late; DynamoDB and SQS: moto on loopback"
    );
    println!(
        "init (process start -> first `next`): {:.1} ms",
        init.as_secs_f64() * 1000.0
    );
    for (i, (id, answered, _, _)) in calls.answers.iter().enumerate() {
        let asked = calls.next_requests[i];
        println!(
            "invocation {id}: {:.2} s",
            answered.duration_since(asked).as_secs_f64()
        );
    }
    println!(
        "process after both: peak resident {} (VmHWM), resident {}, CPU {:.2} s",
        kb(peak_kb),
        kb(rss_kb),
        cpu_s.unwrap_or(f64::NAN)
    );
    let (sfc, gzc) = (world.sf.counters(), world.gz.counters());
    println!(
        "simulator requests during both invocations: salesforce {} (token {}), genesys {} (token {})",
        sfc.total, sfc.auth, gzc.total, gzc.auth
    );
    world.sf.clear_faults();
    world.gz.clear_faults();
    init_path(&world, vars).await;
}

/// The next `MESSAGES` batches of the queue as an SQS event.
fn sqs_event(world: &AwsWorld, name: &str) -> Value {
    let records: Vec<Value> = (0..MESSAGES)
        .map(|i| {
            let batch = world.queue.next_batch().expect("a batch");
            json!({
                "messageId": format!("{name}-{i}"),
                "receiptHandle": format!("{name}-{i}"),
                "body": serde_json::to_string(&batch).expect("batch JSON"),
                "attributes": {"ApproximateReceiveCount": "1"},
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:reconcile",
                "awsRegion": "us-east-1",
            })
        })
        .collect();
    json!({ "Records": records })
}

/// The init path in this process, five times: SDK clients and the deployment, then both
/// secrets read from moto and both connectors built (what the first invocation does first).
async fn init_path(world: &AwsWorld, vars: std::collections::HashMap<String, String>) {
    let mut clients_ms = Vec::new();
    let mut secrets_ms = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let deployment =
            Deployment::new(&world.stack.sdk, vars.clone(), Mapping::default_mapping())
                .expect("deployment");
        clients_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        let started = Instant::now();
        deployment.integration().await.expect("integration");
        secrets_ms.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!(
        "init path in-process (median of 5): Deployment::new {:.2} ms; first integration() (2 secrets from moto + connectors) {:.1} ms",
        median(&mut clients_ms),
        median(&mut secrets_ms)
    );
}

/// `target/release/reconciler`, next to this harness's own directory.
fn reconciler_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("own path");
    let release = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/release");
    let binary = release.join("reconciler");
    assert!(
        binary.exists(),
        "{} is missing: run `cargo build --release -p reconciler` first",
        binary.display()
    );
    binary
}
