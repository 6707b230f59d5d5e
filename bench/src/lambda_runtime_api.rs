//! A local Lambda Runtime API (the `2018-06-01` interface a custom runtime polls), so that a
//! real function binary runs here as it does on Lambda: it starts, asks for the next event,
//! gets the events queued with [`RuntimeApi::push`], and posts each response. Every call is
//! time-stamped, so a harness can tell how long the binary took to start (its first `next`)
//! and to answer each event.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// What the function did through the API.
#[derive(Debug, Clone, Default)]
pub struct RuntimeCalls {
    /// When each `GET /runtime/invocation/next` arrived.
    pub next_requests: Vec<Instant>,
    /// Each event handed out: request id and when (a `next` waits until an event is pushed,
    /// so this is when the invocation started).
    pub handed_out: Vec<(String, Instant)>,
    /// Each answer: request id, when it arrived, its body, and whether it was an error.
    pub answers: Vec<(String, Instant, Value, bool)>,
    /// Bodies of `POST /runtime/init/error`.
    pub init_errors: Vec<Value>,
}

#[derive(Default)]
struct Shared {
    events: Mutex<VecDeque<(String, Value)>>,
    calls: Mutex<RuntimeCalls>,
    changed: Notify,
}

/// A running Runtime API on `127.0.0.1`.
pub struct RuntimeApi {
    address: String,
    shared: Arc<Shared>,
}

impl RuntimeApi {
    pub async fn start() -> std::io::Result<RuntimeApi> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?.to_string();
        let shared = Arc::new(Shared::default());
        let router = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(shared.clone());
        tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, router).await {
                eprintln!("runtime API stopped: {error}");
            }
        });
        Ok(RuntimeApi { address, shared })
    }

    /// `host:port`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Queues an event under a request id.
    pub fn push(&self, request_id: &str, event: Value) {
        lock(&self.shared.events).push_back((request_id.to_string(), event));
        self.shared.changed.notify_waiters();
    }

    pub fn calls(&self) -> RuntimeCalls {
        lock(&self.shared.calls).clone()
    }

    /// Waits (at most `timeout`) until `done` holds for the calls so far.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        done: impl Fn(&RuntimeCalls) -> bool,
    ) -> Option<RuntimeCalls> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.shared.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let calls = self.calls();
            if done(&calls) {
                return Some(calls);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return None;
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// Hands out the next queued event, waiting for one as long as it takes.
async fn next(State(shared): State<Arc<Shared>>) -> Response {
    lock(&shared.calls).next_requests.push(Instant::now());
    shared.changed.notify_waiters();
    loop {
        let notified = shared.changed.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if let Some((id, event)) = lock(&shared.events).pop_front() {
            lock(&shared.calls)
                .handed_out
                .push((id.clone(), Instant::now()));
            let mut headers = HeaderMap::new();
            let deadline = chrono::Utc::now().timestamp_millis() + 900_000;
            let pairs = [
                ("lambda-runtime-aws-request-id", id),
                ("lambda-runtime-deadline-ms", deadline.to_string()),
                (
                    "lambda-runtime-invoked-function-arn",
                    "arn:aws:lambda:us-east-1:000000000000:function:bench".to_string(),
                ),
                ("lambda-runtime-trace-id", "Root=1-bench".to_string()),
            ];
            for (name, value) in pairs {
                if let Ok(value) = HeaderValue::from_str(&value) {
                    headers.insert(name, value);
                }
            }
            return (StatusCode::OK, headers, event.to_string()).into_response();
        }
        notified.await;
    }
}

fn record(shared: &Shared, id: String, body: &Bytes, is_error: bool) -> StatusCode {
    let body = serde_json::from_slice(body).unwrap_or(Value::Null);
    lock(&shared.calls)
        .answers
        .push((id, Instant::now(), body, is_error));
    shared.changed.notify_waiters();
    StatusCode::ACCEPTED
}

async fn response(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    record(&shared, id, &body, false)
}

async fn error(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    record(&shared, id, &body, true)
}

async fn init_error(State(shared): State<Arc<Shared>>, body: Bytes) -> StatusCode {
    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
    lock(&shared.calls).init_errors.push(body);
    shared.changed.notify_waiters();
    StatusCode::ACCEPTED
}
