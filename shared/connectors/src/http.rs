//! What both clients share: the HTTP client, bounded retries with backoff and jitter, error
//! classification helpers, safe JSON decoding and a token cache.
//!
//! Nothing here formats a URL, a header value or a body into a message: URLs carry SOQL with
//! personal data, headers carry tokens and bodies carry contacts.

use contact_sync_engine::Side;
use contact_sync_pipeline::system::SystemError;
use reqwest::header::HeaderMap;
use serde::de::DeserializeOwned;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// First backoff delay; doubles per attempt (before jitter).
pub(crate) const BASE_DELAY: Duration = Duration::from_millis(200);
/// Longest backoff delay between two attempts (before jitter).
pub(crate) const MAX_DELAY: Duration = Duration::from_secs(5);
/// A `Retry-After` longer than this is not waited for in-process: the call fails as transient.
pub(crate) const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
/// How long a 429 without `Retry-After` pauses the client (the Genesys SDKs' default).
pub(crate) const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(3);
/// How long refused credentials are remembered before the token endpoint is asked again.
pub(crate) const REFUSAL_MEMORY: Duration = Duration::from_secs(60);

/// Builds the one `reqwest::Client` a system uses.
pub(crate) fn build_client(side: Side, timeout: Duration) -> Result<reqwest::Client, SystemError> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .user_agent(concat!("contact-sync/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|_| SystemError::Config {
            side,
            message: "cannot build the HTTP client (TLS setup failed)".into(),
        })
}

/// A fully read HTTP response.
pub(crate) struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Response {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// `Retry-After` in seconds or as an HTTP date.
    pub fn retry_after(&self) -> Option<Duration> {
        let value = self
            .headers
            .get(reqwest::header::RETRY_AFTER)?
            .to_str()
            .ok()?;
        parse_retry_after(value, chrono::Utc::now())
    }
}

/// Parses a `Retry-After` value: delay seconds or an HTTP date (relative to `now`).
pub fn parse_retry_after(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0)
            .then(|| Duration::from_secs_f64(secs.min(86_400.0)));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let delta = at.with_timezone(&chrono::Utc) - now;
    Some(delta.to_std().unwrap_or(Duration::ZERO))
}

/// Whether a request may be sent again when its first attempt's fate is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Replay {
    /// Reads and full-value updates: repeating them is harmless.
    Safe,
    /// Creates: only repeated when the server certainly did not process the request
    /// (connection refused, 429, 503). A timeout or a 500 after sending is reported, not retried,
    /// because a retry could create the records twice.
    OnlyIfUnprocessed,
}

/// How often and how long a request is retried: exponential backoff with jitter (from
/// `backon`), at most `max_attempts` sends, and never past `time_limit` since the first send
/// (waits included), so a run cannot stall on one call.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Sends per request (≥ 1).
    pub max_attempts: u32,
    /// First backoff; doubles per attempt, plus a random jitter of up to the same amount.
    pub min_delay: Duration,
    /// Largest backoff before jitter.
    pub max_delay: Duration,
    /// No retry starts later than this after the first send.
    pub time_limit: Duration,
}

impl RetryPolicy {
    /// 4 attempts, 200 ms doubling to 5 s, within 2 minutes.
    pub fn new(max_attempts: u32) -> Self {
        RetryPolicy {
            max_attempts: max_attempts.max(1),
            min_delay: BASE_DELAY,
            max_delay: MAX_DELAY,
            time_limit: Duration::from_secs(120),
        }
    }

    /// The backoffs between attempts: `max_attempts - 1` of them.
    fn backoffs(&self) -> impl Iterator<Item = Duration> + use<> {
        use backon::BackoffBuilder as _;
        backon::ExponentialBuilder::default()
            .with_min_delay(self.min_delay)
            .with_max_delay(self.max_delay)
            .with_max_times(self.max_attempts.saturating_sub(1) as usize)
            .with_jitter()
            .build()
    }
}

/// Admission of requests to one system, shared by every clone of a client: an optional
/// client-side rate limit (a GCRA token bucket from `governor`) and a pause that a 429 with
/// `Retry-After` imposes on every caller, not only the one that got it.
pub(crate) struct Gate {
    limiter: Option<governor::DefaultDirectRateLimiter>,
    paused_until: std::sync::Mutex<Option<tokio::time::Instant>>,
}

impl Gate {
    /// `per_minute` requests per minute, evenly spaced (burst of one, so no 60-second window
    /// ever sees more than `per_minute`); `None` admits everything.
    pub fn new(per_minute: Option<std::num::NonZeroU32>) -> Self {
        let limiter = per_minute.map(|n| {
            let quota = governor::Quota::per_minute(n).allow_burst(std::num::NonZeroU32::MIN);
            governor::RateLimiter::direct(quota)
        });
        Gate {
            limiter,
            paused_until: std::sync::Mutex::new(None),
        }
    }

    /// Waits until a request may be sent.
    async fn admit(&self) {
        loop {
            let until = *self
                .paused_until
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            match until {
                Some(at) if at > tokio::time::Instant::now() => tokio::time::sleep_until(at).await,
                _ => break,
            }
        }
        if let Some(limiter) = &self.limiter {
            limiter.until_ready().await;
        }
    }

    /// Holds every request back for `wait` (a 429's `Retry-After`).
    fn pause(&self, wait: Duration) {
        let at = tokio::time::Instant::now() + wait;
        let mut slot = self
            .paused_until
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if slot.is_none_or(|current| current < at) {
            *slot = Some(at);
        }
    }
}

/// Sends requests through a [`Gate`] with a [`RetryPolicy`], honouring `Retry-After`, and
/// counts every HTTP request it sends (token requests and retries included).
pub(crate) struct Retrier {
    pub side: Side,
    pub policy: RetryPolicy,
    pub gate: Gate,
    sent: std::sync::atomic::AtomicU64,
}

impl Retrier {
    pub fn new(side: Side, policy: RetryPolicy, gate: Gate) -> Self {
        Retrier {
            side,
            policy,
            gate,
            sent: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// HTTP requests sent so far, every attempt counted.
    pub fn requests_sent(&self) -> u64 {
        self.sent.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Sends the request built by `make` until it gets an answer that is not worth repeating,
    /// or attempts or time run out. Returns the last HTTP response whatever its status (the
    /// caller classifies it), or a `Transient` error when no response arrived at all.
    pub async fn send<F>(
        &self,
        what: &'static str,
        replay: Replay,
        make: F,
    ) -> Result<Response, SystemError>
    where
        F: Fn() -> reqwest::RequestBuilder,
    {
        let started = tokio::time::Instant::now();
        let mut backoffs = self.policy.backoffs();
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            self.gate.admit().await;
            self.sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let sent = send_once(make()).await;
            let backoff = backoffs.next();
            let in_time = |wait: Duration| started.elapsed() + wait <= self.policy.time_limit;
            match sent {
                Ok(resp) => {
                    let retry_after = (resp.status == 429).then(|| {
                        resp.retry_after()
                            .unwrap_or(DEFAULT_RETRY_AFTER)
                            .min(MAX_RETRY_AFTER + Duration::from_secs(1))
                    });
                    if let Some(wait) = retry_after {
                        // Everyone waits, not just this caller: the limit is per token.
                        self.gate.pause(wait.min(MAX_RETRY_AFTER));
                    }
                    let Some(backoff) = backoff.filter(|_| retryable_status(resp.status, replay))
                    else {
                        return Ok(resp);
                    };
                    let wait = retry_after.unwrap_or(backoff);
                    if wait > MAX_RETRY_AFTER || !in_time(wait) {
                        // Waiting that long in-process would stall the run: let the caller
                        // retry later.
                        return Ok(resp);
                    }
                    tracing::debug!(
                        side = %self.side,
                        what,
                        status = resp.status,
                        attempt,
                        wait_ms = wait.as_millis() as u64,
                        "retrying after a transient status"
                    );
                    if retry_after.is_none() {
                        tokio::time::sleep(wait).await;
                    }
                }
                Err(failure) => {
                    let repeatable = replay == Replay::Safe || failure.unsent;
                    let wait = backoff.filter(|w| repeatable && in_time(*w));
                    let Some(wait) = wait else {
                        return Err(SystemError::Transient {
                            side: self.side,
                            message: format!(
                                "{what}: {} (attempt {attempt} of {}, {} ms since the first)",
                                failure.reason,
                                self.policy.max_attempts,
                                started.elapsed().as_millis()
                            ),
                        });
                    };
                    tracing::debug!(
                        side = %self.side,
                        what,
                        reason = failure.reason,
                        attempt,
                        wait_ms = wait.as_millis() as u64,
                        "retrying after a network failure"
                    );
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }
}

/// Sends a call with the cached token; when the system answers 401, fetches a new token once
/// (shared with concurrent callers, see [`TokenCache::refresh`]) and sends the call once more.
/// The last answer is returned whatever its status; only token failures are errors.
pub(crate) async fn send_authorized<T, Fetch, FetchFut, Call, CallFut>(
    side: Side,
    what: &'static str,
    tokens: &TokenCache<T>,
    fetch: Fetch,
    send: Call,
) -> Result<Response, SystemError>
where
    T: Expiring,
    Fetch: Fn() -> FetchFut,
    FetchFut: Future<Output = Result<T, SystemError>>,
    Call: Fn(Arc<T>) -> CallFut,
    CallFut: Future<Output = Result<Response, SystemError>>,
{
    let token = tokens.get(side, &fetch).await?;
    let resp = send(Arc::clone(&token)).await?;
    if resp.status != 401 {
        return Ok(resp);
    }
    tracing::debug!(side = %side, what, "token refused; re-authenticating once");
    let token = tokens.refresh(side, &token, &fetch).await?;
    send(token).await
}

fn retryable_status(status: u16, replay: Replay) -> bool {
    match replay {
        Replay::Safe => status == 429 || (500..600).contains(&status),
        Replay::OnlyIfUnprocessed => status == 429 || status == 503,
    }
}

struct NetFailure {
    /// The request certainly never reached the server (connection not established).
    unsent: bool,
    reason: &'static str,
}

async fn send_once(builder: reqwest::RequestBuilder) -> Result<Response, NetFailure> {
    let resp = builder.send().await.map_err(|e| net_failure(&e))?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.bytes().await.map_err(|e| net_failure(&e))?.to_vec();
    Ok(Response {
        status,
        headers,
        body,
    })
}

/// Describes a reqwest error without its URL (which can carry SOQL with personal data).
fn net_failure(e: &reqwest::Error) -> NetFailure {
    let reason = if e.is_connect() {
        "connection failed"
    } else if e.is_timeout() {
        "timed out"
    } else if e.is_body() || e.is_decode() {
        "response body interrupted"
    } else if e.is_builder() {
        "invalid request"
    } else {
        "request failed"
    };
    NetFailure {
        unsent: e.is_connect(),
        reason,
    }
}

/// Why a body could not be decoded, without quoting any of it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DecodeError(pub(crate) String);

/// Decodes JSON; the error names the position and, for missing fields, the field, never a value.
pub fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, DecodeError> {
    serde_json::from_slice(body).map_err(|e| describe_json_error(&e))
}

pub(crate) fn describe_json_error(e: &serde_json::Error) -> DecodeError {
    use serde_json::error::Category;
    let text = e.to_string();
    let kind = match e.classify() {
        Category::Io => "I/O error",
        Category::Syntax => "invalid JSON",
        Category::Eof => "truncated JSON",
        Category::Data => {
            if let Some(rest) = text.strip_prefix("missing field ") {
                let field: String = rest
                    .split(" at line")
                    .next()
                    .unwrap_or("")
                    .chars()
                    .take(80)
                    .collect();
                return DecodeError(format!(
                    "missing field {field} at line {} column {}",
                    e.line(),
                    e.column()
                ));
            }
            "unexpected JSON shape"
        }
    };
    DecodeError(format!("{kind} at line {} column {}", e.line(), e.column()))
}

/// Maps a non-2xx status to a [`SystemError`] of the right class, quoting only the system's
/// error codes (messages can quote values). `exhausted_budget` marks a 403 that means "out of
/// API allocation" (retry on a later run) rather than "not allowed".
pub(crate) fn status_error(
    side: Side,
    status: u16,
    what: &str,
    codes: &[String],
    exhausted_budget: bool,
) -> SystemError {
    let code_text = if codes.is_empty() {
        "no error code".to_owned()
    } else {
        codes.join(", ")
    };
    let message = format!("{what}: {code_text}");
    match status {
        401 => SystemError::Auth { side, message },
        403 if exhausted_budget => SystemError::Transient { side, message },
        429 | 500..=599 => SystemError::Transient {
            side,
            message: format!("{what}: HTTP {status} ({code_text})"),
        },
        400..=499 => SystemError::Rejected {
            side,
            status,
            message,
        },
        _ => protocol(side, status, what, "unexpected status"),
    }
}

pub(crate) fn protocol(
    side: Side,
    status: u16,
    what: &str,
    reason: impl std::fmt::Display,
) -> SystemError {
    SystemError::Protocol {
        side,
        message: format!("{what}: HTTP {status}: {reason}"),
    }
}

/// A cached credential that can tell whether it is still usable.
pub(crate) trait Expiring {
    fn is_fresh(&self) -> bool;
}

/// One token shared by every clone of a client. Concurrent callers wait for a single fetch, and
/// a refresh after a 401 happens once however many calls saw the stale token. Credentials the
/// token endpoint refused are remembered for [`REFUSAL_MEMORY`]: every call in that time fails
/// at once with the same error instead of asking again (no retry storm on bad credentials).
pub(crate) struct TokenCache<T> {
    slot: Mutex<Slot<T>>,
}

enum Slot<T> {
    Empty,
    Token(Arc<T>),
    Refused { message: String, at: Instant },
}

impl<T> Slot<T> {
    /// The remembered refusal, while it is remembered.
    fn still_refused(&self, side: Side) -> Result<(), SystemError> {
        match self {
            Slot::Refused { message, at } if at.elapsed() < REFUSAL_MEMORY => {
                Err(SystemError::Auth {
                    side,
                    message: message.clone(),
                })
            }
            _ => Ok(()),
        }
    }
}

impl<T: Expiring> TokenCache<T> {
    pub fn new() -> Self {
        TokenCache {
            slot: Mutex::new(Slot::Empty),
        }
    }

    /// The cached token, fetched first when missing or stale.
    pub async fn get<Fut>(
        &self,
        side: Side,
        fetch: impl FnOnce() -> Fut,
    ) -> Result<Arc<T>, SystemError>
    where
        Fut: Future<Output = Result<T, SystemError>>,
    {
        let mut slot = self.slot.lock().await;
        if let Slot::Token(token) = &*slot
            && token.is_fresh()
        {
            return Ok(Arc::clone(token));
        }
        slot.still_refused(side)?;
        Self::fill(&mut slot, fetch).await
    }

    /// A new token after `stale` was refused, unless another caller already replaced it.
    pub async fn refresh<Fut>(
        &self,
        side: Side,
        stale: &Arc<T>,
        fetch: impl FnOnce() -> Fut,
    ) -> Result<Arc<T>, SystemError>
    where
        Fut: Future<Output = Result<T, SystemError>>,
    {
        let mut slot = self.slot.lock().await;
        if let Slot::Token(current) = &*slot
            && !Arc::ptr_eq(current, stale)
            && current.is_fresh()
        {
            return Ok(Arc::clone(current));
        }
        slot.still_refused(side)?;
        Self::fill(&mut slot, fetch).await
    }

    async fn fill<Fut>(
        slot: &mut Slot<T>,
        fetch: impl FnOnce() -> Fut,
    ) -> Result<Arc<T>, SystemError>
    where
        Fut: Future<Output = Result<T, SystemError>>,
    {
        *slot = Slot::Empty;
        match fetch().await {
            Ok(token) => {
                let token = Arc::new(token);
                *slot = Slot::Token(Arc::clone(&token));
                Ok(token)
            }
            Err(SystemError::Auth { side, message }) => {
                *slot = Slot::Refused {
                    message: message.clone(),
                    at: Instant::now(),
                };
                Err(SystemError::Auth { side, message })
            }
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_accepts_seconds_and_http_dates() {
        // GIVEN a fixed clock
        let now = chrono::DateTime::parse_from_rfc3339("2024-01-01T00:00:00Z")
            .map(|d| d.with_timezone(&chrono::Utc))
            .expect("valid date");
        // WHEN Retry-After values of both forms are parsed
        // THEN seconds and dates both give a duration, garbage gives none
        assert_eq!(parse_retry_after("42", now), Some(Duration::from_secs(42)));
        assert_eq!(
            parse_retry_after("Mon, 01 Jan 2024 00:00:10 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-1", now), None);
    }

    #[test]
    fn backoffs_grow_with_jitter_and_stop_after_the_attempts() {
        // GIVEN the default policy (4 attempts, 200 ms base, 5 s cap)
        let policy = RetryPolicy::new(4);
        for _ in 0..50 {
            // WHEN its backoffs are drawn
            let waits: Vec<Duration> = policy.backoffs().collect();
            // THEN there are three, each in [d, 2d) for d = 200, 400, 800 ms
            assert_eq!(waits.len(), 3);
            for (wait, d) in waits.iter().zip([200u64, 400, 800]) {
                let d = Duration::from_millis(d);
                assert!(*wait >= d && *wait < d * 2, "{wait:?} for {d:?}");
            }
        }
        // AND the cap holds for long series (before jitter)
        let long = RetryPolicy::new(12);
        assert!(long.backoffs().all(|w| w < MAX_DELAY * 2));
    }

    #[test]
    fn decode_errors_never_quote_values() {
        // GIVEN bodies holding personal data in the wrong shape
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Shape {
            count: u32,
            name: String,
        }
        let wrong_type = br#"{"count":"jane@example.com","name":"x"}"#;
        let missing = br#"{"count":1}"#;
        let garbage = b"<html>jane@example.com</html>";
        // WHEN they are decoded
        let errors = [
            decode::<Shape>(wrong_type).expect_err("wrong type"),
            decode::<Shape>(missing).expect_err("missing"),
            decode::<Shape>(garbage).expect_err("garbage"),
        ];
        // THEN no message quotes the body, and a missing field is named
        for e in &errors {
            assert!(!e.to_string().contains("jane"), "{e}");
        }
        assert!(errors[1].to_string().contains("`name`"), "{}", errors[1]);
    }
}
