//! The `Alerter` for a Slack-compatible incoming webhook: one `POST {"text": ...}` per digest,
//! retried with exponential backoff (the `backon` crate) on network errors, 429 and 5xx.
//! The text holds field names, counts and pair ids only (see `AlertDigest::text`).

use async_trait::async_trait;
use backon::{ExponentialBuilder, Retryable};
use contact_sync_pipeline::notify::{AlertDigest, AlertError, Alerter};
use std::time::Duration;

/// Posts digests to a webhook URL. `Debug` hides the URL (it is a credential).
pub struct WebhookAlerter {
    http: reqwest::Client,
    url: String,
    retry: ExponentialBuilder,
}

impl std::fmt::Debug for WebhookAlerter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookAlerter").finish_non_exhaustive()
    }
}

impl WebhookAlerter {
    /// Four attempts, 200 ms doubling to at most 5 s, 10 s per request.
    pub fn new(url: impl Into<String>) -> Result<WebhookAlerter, AlertError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| AlertError::Permanent(format!("webhook client: {e}")))?;
        Ok(WebhookAlerter {
            http,
            url: url.into(),
            retry: ExponentialBuilder::default()
                .with_min_delay(Duration::from_millis(200))
                .with_max_delay(Duration::from_secs(5))
                .with_max_times(3)
                .with_jitter(),
        })
    }

    async fn post(&self, text: &str) -> Result<(), AlertError> {
        let response = self
            .http
            .post(&self.url)
            .json(&serde_json::json!({ "text": text }))
            .send()
            .await
            // reqwest's error text includes the URL: leave it out.
            .map_err(|e| AlertError::Transient(format!("webhook unreachable ({})", kind(&e))))?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else if status.as_u16() == 429 || status.is_server_error() {
            Err(AlertError::Transient(format!(
                "webhook answered HTTP {status}"
            )))
        } else {
            Err(AlertError::Permanent(format!(
                "webhook refused the alert: HTTP {status}"
            )))
        }
    }
}

fn kind(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    }
}

#[async_trait]
impl Alerter for WebhookAlerter {
    async fn send(&self, digest: &AlertDigest) -> Result<(), AlertError> {
        let text = digest.text();
        (|| self.post(&text))
            .retry(self.retry)
            .when(|e| matches!(e, AlertError::Transient(_)))
            .notify(|e, wait| tracing::warn!(error = %e, ?wait, "alert not delivered; retrying"))
            .await
    }
}
