//! The reconciler Lambda's cost: the real release `reconciler` binary, started under a local
//! Lambda Runtime API with the variables `template.yaml` gives it (table and conflict queue in
//! moto, credentials in moto's Secrets Manager), handed one SQS event of 10 messages × 50
//! new pairs (500 Salesforce contacts to create in Genesys), then the same event again (a
//! redelivery: a warm invocation that finds every pair in sync), with both simulators
//! answering every request 50 ms late. The binary's AWS requests go through a counting
//! pass-through in front of moto, so each phase's DynamoDB, SQS and Secrets Manager calls are
//! counted by operation and timed.
//!
//! Prints, per phase (init = process start → first `next`; each invocation = event handed out →
//! response posted): wall time, the simulators' and AWS requests, and the process's peak
//! resident memory (`VmHWM`), resident memory and CPU time at the end of the phase; then the
//! binary's size; then, in this process, the init path itself (`Deployment::new` + first
//! `integration()`: SDK clients, both secrets read from moto, both connectors built).
//!
//! The harness starts a moto server of its own (`aws_world::Moto`, from the venv `infra/moto
//! start` installs; stopped at the end, killed if it passes 4 GB). Build the binary first:
//! `cargo build --release -p reconciler && cargo bench -p contact-sync-bench --bench reconciler_cost`
//! The binary's own output (its log lines and metrics) goes to `target/release/reconciler_cost.log`.

use contact_sync_aws::Deployment;
use contact_sync_bench::aws_world::{AwsWorld, Moto};
use contact_sync_bench::lambda_runtime_api::{RuntimeApi, RuntimeCalls};
use contact_sync_bench::process::{self, Usage};
use contact_sync_engine::mapping::Mapping;
use contact_sync_pipeline::poll::{WatermarkAdvance, poll};
use contact_sync_simulators::{Counters, Fault};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const MESSAGES: usize = 10;
const PAIRS_PER_MESSAGE: usize = 50;
const LATENCY_MS: u64 = 50;
/// Moto is stopped beyond this resident size.
const MOTO_LIMIT_KB: u64 = 4 * 1024 * 1024;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let binary = reconciler_binary();
    let Some(moto) = Moto::start().await else {
        return;
    };
    watch_memory(moto.pid());
    let world = AwsWorld::at(moto.url(), PAIRS_PER_MESSAGE).await;
    // 500 Salesforce contacts, none in Genesys: the event creates every pair (a pair reserved,
    // a Genesys bulk add, the link committed). Moto copies the whole table for every
    // transaction and keeps the memory, so nothing else goes through it first: the poll
    // advances its watermarks as soon as the batches are enqueued, no settle cycle.
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
    let aws = aws_requests::AwsRequests::start(moto.url())
        .await
        .expect("AWS pass-through");

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
    aws.take();

    let api = RuntimeApi::start().await.expect("runtime API");
    // mimalloc's options (`MIMALLOC_*`) pass through to the binary, to compare its settings.
    let allocator_options: Vec<(String, String)> = std::env::vars()
        .filter(|(name, _)| name.starts_with("MIMALLOC_"))
        .collect();
    let log_path = binary.with_file_name("reconciler_cost.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let started = Instant::now();
    let mut child = Command::new(&binary)
        .env_clear()
        .envs(&vars)
        .envs([
            ("AWS_LAMBDA_RUNTIME_API", api.address()),
            ("AWS_LAMBDA_FUNCTION_NAME", "reconciler"),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256"),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
            ("AWS_LAMBDA_LOG_STREAM_NAME", "bench"),
            ("AWS_LAMBDA_LOG_GROUP_NAME", "bench"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_ENDPOINT_URL", aws.url().as_str()),
        ])
        .envs(allocator_options.iter().cloned())
        .stdin(Stdio::null())
        .stdout(log)
        .spawn()
        .expect("reconciler binary");
    let pid = child.id();

    let calls = wait(&api, &mut child, |c| {
        !c.next_requests.is_empty() || !c.init_errors.is_empty()
    })
    .await;
    assert!(calls.init_errors.is_empty(), "init failed: {calls:?}");
    let init = Phase {
        name: "init".into(),
        wall: calls.next_requests[0] - started,
        usage: Usage::of(pid),
        salesforce: world.sf.counters(),
        genesys: world.gz.counters(),
        aws: aws.take(),
    };

    let mut phases = vec![init];
    for (i, name) in ["cold", "warm-redelivery"].into_iter().enumerate() {
        world.sf.reset_counters();
        world.gz.reset_counters();
        api.push(name, event.clone());
        let calls = wait(&api, &mut child, |c| c.next_requests.len() >= i + 2).await;
        let (id, answered, body, is_error) = &calls.answers[i];
        assert!(!is_error, "invocation {id} failed: {body}");
        assert_eq!(
            body["batchItemFailures"].as_array().map_or(0, Vec::len),
            0,
            "invocation {id}: every message done"
        );
        phases.push(Phase {
            name: name.into(),
            wall: *answered - calls.handed_out[i].1,
            usage: Usage::of(pid),
            salesforce: world.sf.counters(),
            genesys: world.gz.counters(),
            aws: aws.take(),
        });
    }
    child.kill().ok();
    child.wait().ok();

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

    println!(
        "reconciler binary: {} ({:.1} MB, release profile, host target x86_64; not the arm64 build)",
        binary.display(),
        std::fs::metadata(&binary).map_or(0, |m| m.len()) as f64 / 1_048_576.0
    );
    println!(
        "event: {MESSAGES} messages x {PAIRS_PER_MESSAGE} new pairs (Salesforce -> Genesys creates), then the same event again; simulators answer every request {LATENCY_MS} ms late; DynamoDB, SQS, Secrets Manager: moto on loopback, no latency added"
    );
    println!("allocator options given to the binary: {allocator_options:?}");
    for phase in &phases {
        phase.print();
    }
    // Issue 15's figure: every DynamoDB request of an invocation, retried transactions included.
    for phase in phases.iter().filter(|p| p.name != "init") {
        println!(
            "DynamoDB calls per {} {pairs}-pair reconcile ({MESSAGES} messages): {} (target for the cold one: at most 60)",
            phase.name,
            phase.dynamodb_calls()
        );
    }
    println!("the binary's output: {}", log_path.display());
    println!(
        "moto server: peak resident {:.0} MB",
        process::status_kb(moto.pid(), "VmHWM").unwrap_or(0) as f64 / 1024.0
    );
    world.sf.clear_faults();
    world.gz.clear_faults();
    init_path(&world, vars).await;
}

/// What one phase of the process took.
struct Phase {
    name: String,
    wall: Duration,
    /// At the end of the phase.
    usage: Usage,
    salesforce: Counters,
    genesys: Counters,
    aws: BTreeMap<String, (u64, Duration)>,
}

impl Phase {
    /// DynamoDB requests of the phase (the pass-through names them `DynamoDB.<operation>`).
    fn dynamodb_calls(&self) -> u64 {
        self.aws
            .iter()
            .filter(|(operation, _)| operation.starts_with("DynamoDB."))
            .map(|(_, (count, _))| count)
            .sum()
    }

    fn print(&self) {
        let mb =
            |v: Option<u64>| v.map_or("?".into(), |kb| format!("{:.1} MB", kb as f64 / 1024.0));
        println!(
            "{}: wall {:.1} ms; at its end: peak resident {} (VmHWM), resident {}, CPU {:.2} s since start",
            self.name,
            self.wall.as_secs_f64() * 1000.0,
            mb(self.usage.peak_kb),
            mb(self.usage.resident_kb),
            self.usage.cpu_seconds.unwrap_or(f64::NAN)
        );
        for (system, c) in [("salesforce", &self.salesforce), ("genesys", &self.genesys)] {
            println!(
                "  {system}: {} requests ({} token, {} reads, {} writes; {} records written) {:?}",
                c.total, c.auth, c.reads, c.writes, c.records_written, c.by_route
            );
        }
        let (count, time) = self
            .aws
            .values()
            .fold((0, Duration::ZERO), |(n, t), (c, d)| (n + c, t + *d));
        println!(
            "  aws (moto): {count} requests, {:.1} ms answering them; wall without them {:.1} ms",
            time.as_secs_f64() * 1000.0,
            self.wall.saturating_sub(time).as_secs_f64() * 1000.0
        );
        for (operation, (count, time)) in &self.aws {
            println!(
                "    {operation}: {count} ({:.1} ms)",
                time.as_secs_f64() * 1000.0
            );
        }
    }
}

/// Kills the moto server `pid` if it grows past [`MOTO_LIMIT_KB`] (the machine is shared).
fn watch_memory(pid: u32) {
    tokio::spawn(async move {
        loop {
            match process::status_kb(pid, "VmRSS") {
                Some(kb) if kb > MOTO_LIMIT_KB => {
                    eprintln!("moto passed {} MB: stopping it", kb / 1024);
                    Command::new("kill").arg(pid.to_string()).status().ok();
                    return;
                }
                Some(_) => tokio::time::sleep(Duration::from_secs(1)).await,
                None => return,
            }
        }
    });
}

/// Waits until `done` holds for the Runtime API calls; panics when the binary exits or five
/// minutes pass first.
async fn wait(
    api: &RuntimeApi,
    child: &mut Child,
    done: impl Fn(&RuntimeCalls) -> bool + Copy,
) -> RuntimeCalls {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        if let Some(calls) = api.wait_for(Duration::from_millis(500), done).await {
            return calls;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the reconciler exited ({status}): {:?}", api.calls());
        }
        assert!(
            Instant::now() < deadline,
            "the reconciler did not get there in 5 minutes: {:?}",
            api.calls()
        );
    }
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

/// A pass-through in front of moto that counts and times the AWS requests by operation (the
/// `X-Amz-Target` header of the JSON protocols DynamoDB, SQS and Secrets Manager speak).
mod aws_requests {
    use axum::Router;
    use axum::body::{Body, Bytes};
    use axum::extract::State;
    use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
    use axum::response::Response;
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    struct Shared {
        upstream: String,
        client: reqwest::Client,
        counts: Mutex<BTreeMap<String, (u64, Duration)>>,
    }

    pub struct AwsRequests {
        url: String,
        shared: Arc<Shared>,
    }

    impl AwsRequests {
        pub async fn start(upstream: &str) -> std::io::Result<AwsRequests> {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let url = format!("http://{}", listener.local_addr()?);
            let shared = Arc::new(Shared {
                upstream: upstream.trim_end_matches('/').to_string(),
                client: reqwest::Client::new(),
                counts: Mutex::default(),
            });
            let router = Router::new().fallback(forward).with_state(shared.clone());
            tokio::spawn(async move {
                if let Err(error) = axum::serve(listener, router).await {
                    eprintln!("AWS pass-through stopped: {error}");
                }
            });
            Ok(AwsRequests { url, shared })
        }

        /// The endpoint to give the SDK (`AWS_ENDPOINT_URL`).
        pub fn url(&self) -> String {
            self.url.clone()
        }

        /// The requests so far, by operation (count, time moto took), and starts counting anew.
        pub fn take(&self) -> BTreeMap<String, (u64, Duration)> {
            std::mem::take(&mut *self.shared.counts.lock().unwrap_or_else(|p| p.into_inner()))
        }
    }

    async fn forward(
        State(shared): State<Arc<Shared>>,
        method: Method,
        uri: Uri,
        headers: HeaderMap,
        body: Bytes,
    ) -> Response {
        let operation = headers
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .map_or_else(
                || format!("{method} {}", uri.path()),
                |t| t.replace("DynamoDB_20120810", "DynamoDB"),
            );
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        let mut request = shared
            .client
            .request(method, format!("{}{path}", shared.upstream))
            .body(body);
        for (name, value) in &headers {
            if name != header::HOST && name != header::CONTENT_LENGTH {
                request = request.header(name, value);
            }
        }
        let started = Instant::now();
        let answer = match request.send().await {
            Ok(answer) => answer,
            Err(error) => {
                return Response::builder()
                    .status(StatusCode::BAD_GATEWAY)
                    .body(Body::from(error.to_string()))
                    .unwrap_or_default();
            }
        };
        let status = answer.status();
        let answer_headers = answer.headers().clone();
        let bytes = answer.bytes().await.unwrap_or_default();
        {
            let mut counts = shared.counts.lock().unwrap_or_else(|p| p.into_inner());
            let entry = counts.entry(operation).or_default();
            entry.0 += 1;
            entry.1 += started.elapsed();
        }
        let mut response = Response::builder().status(status);
        for (name, value) in &answer_headers {
            if name != header::TRANSFER_ENCODING
                && name != header::CONTENT_LENGTH
                && name != header::CONNECTION
            {
                response = response.header(name, value);
            }
        }
        response.body(Body::from(bytes)).unwrap_or_default()
    }
}
