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
use std::time::Duration;
use tokio::sync::Mutex;

/// First backoff delay; doubles per attempt.
pub(crate) const BASE_DELAY: Duration = Duration::from_millis(200);
/// Longest backoff delay between two attempts.
pub(crate) const MAX_DELAY: Duration = Duration::from_secs(5);
/// A `Retry-After` longer than this is not waited for in-process: the call fails as transient.
pub(crate) const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

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

/// Bounded retries with exponential backoff and full jitter, honouring `Retry-After`.
#[derive(Debug, Clone)]
pub(crate) struct Retrier {
    pub side: Side,
    pub max_attempts: u32,
    pub base: Duration,
    pub cap: Duration,
}

impl Retrier {
    pub fn new(side: Side, max_attempts: u32) -> Self {
        Retrier {
            side,
            max_attempts: max_attempts.max(1),
            base: BASE_DELAY,
            cap: MAX_DELAY,
        }
    }

    /// Backoff before attempt `attempt + 1` (attempt counts from 1): a random delay in
    /// `[d/2, d]` with `d = min(cap, base * 2^(attempt-1))`.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .base
            .saturating_mul(1u32 << (attempt.saturating_sub(1)).min(16));
        let d = exp.min(self.cap);
        let half = d / 2;
        let jitter_ms = rand::random_range(0..=half.as_millis().max(1) as u64);
        half + Duration::from_millis(jitter_ms)
    }

    /// Sends the request built by `make` until it gets an answer that is not worth repeating,
    /// or attempts run out. Returns the last HTTP response whatever its status (the caller
    /// classifies it), or a `Transient` error when no response arrived at all.
    pub async fn send<F>(
        &self,
        what: &'static str,
        replay: Replay,
        make: F,
    ) -> Result<Response, SystemError>
    where
        F: Fn() -> reqwest::RequestBuilder,
    {
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let last = attempt >= self.max_attempts;
            match send_once(make()).await {
                Ok(resp) => {
                    if last || !retryable_status(resp.status, replay) {
                        return Ok(resp);
                    }
                    let retry_after = resp.retry_after();
                    if retry_after.is_some_and(|d| d > MAX_RETRY_AFTER) {
                        // Waiting that long in-process would stall the run: let the caller
                        // retry later.
                        return Ok(resp);
                    }
                    let wait = retry_after
                        .map(|ra| ra.max(self.backoff(attempt) / 4))
                        .unwrap_or_else(|| self.backoff(attempt));
                    tracing::debug!(
                        side = %self.side,
                        what,
                        status = resp.status,
                        attempt,
                        wait_ms = wait.as_millis() as u64,
                        "retrying after a transient status"
                    );
                    tokio::time::sleep(wait).await;
                }
                Err(failure) => {
                    let repeatable = replay == Replay::Safe || failure.unsent;
                    if last || !repeatable {
                        return Err(SystemError::Transient {
                            side: self.side,
                            message: format!(
                                "{what}: {} (attempt {attempt} of {})",
                                failure.reason, self.max_attempts
                            ),
                        });
                    }
                    let wait = self.backoff(attempt);
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
/// a refresh after a 401 happens once however many calls saw the stale token.
pub(crate) struct TokenCache<T> {
    slot: Mutex<Option<Arc<T>>>,
}

impl<T: Expiring> TokenCache<T> {
    pub fn new() -> Self {
        TokenCache {
            slot: Mutex::new(None),
        }
    }

    /// The cached token, fetched first when missing or stale.
    pub async fn get<Fut>(&self, fetch: impl FnOnce() -> Fut) -> Result<Arc<T>, SystemError>
    where
        Fut: Future<Output = Result<T, SystemError>>,
    {
        let mut slot = self.slot.lock().await;
        if let Some(token) = slot.as_ref().filter(|t| t.is_fresh()) {
            return Ok(Arc::clone(token));
        }
        let token = Arc::new(fetch().await?);
        *slot = Some(Arc::clone(&token));
        Ok(token)
    }

    /// A new token after `stale` was refused, unless another caller already replaced it.
    pub async fn refresh<Fut>(
        &self,
        stale: &Arc<T>,
        fetch: impl FnOnce() -> Fut,
    ) -> Result<Arc<T>, SystemError>
    where
        Fut: Future<Output = Result<T, SystemError>>,
    {
        let mut slot = self.slot.lock().await;
        if let Some(current) = slot.as_ref()
            && !Arc::ptr_eq(current, stale)
            && current.is_fresh()
        {
            return Ok(Arc::clone(current));
        }
        *slot = None;
        let token = Arc::new(fetch().await?);
        *slot = Some(Arc::clone(&token));
        Ok(token)
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
    fn backoff_grows_and_is_capped() {
        // GIVEN the default policy (200 ms base, 5 s cap)
        let r = Retrier::new(Side::Genesys, 4);
        // WHEN backoffs are drawn for successive attempts
        for _ in 0..50 {
            let first = r.backoff(1);
            let tenth = r.backoff(10);
            // THEN each lies in [d/2, d] and never exceeds the cap
            assert!(first >= Duration::from_millis(100) && first <= Duration::from_millis(200));
            assert!(tenth >= Duration::from_millis(2500) && tenth <= MAX_DELAY);
        }
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
