//! Genesys Cloud External Contacts: OAuth client credentials, the external source that links
//! contacts to Salesforce, scan reads and bulk fetch/add/update.

mod auth;
mod bulk;
mod identifier_lookup;
pub mod models;
mod region;
mod scan;
mod sources;

pub use bulk::{DEFAULT_BULK_ENTITIES, MAX_BULK_ENTITIES};
pub use region::{api_base_for_region, login_base_for};
pub use scan::contact_to_raw;
pub use sources::DataSchemaInfo;

use crate::batch_limit::BatchLimit;
use crate::credentials::Secret;
use crate::http::{self, Gate, Replay, Response, Retrier, RetryPolicy, TokenCache, build_client};
use async_trait::async_trait;
use auth::Token;
use contact_sync_engine::Side;
use contact_sync_pipeline::system::{
    ApiUsage, ChangePage, ContactReader, ContactWriter, CreateRequest, DeletionRead, RawRecord,
    SystemError, SystemFacts, SystemResult, UpdateRequest, Watermark, WriteOutcome,
};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

const SIDE: Side = Side::Genesys;

/// `client.credentials.token.rate.per.minute` (API-NOTES B.4).
pub const DEFAULT_REQUESTS_PER_MINUTE: u32 = 300;

/// Settings of a [`GenesysSystem`].
#[derive(Debug, Clone)]
pub struct GenesysConfig {
    /// `https://api.mypurecloud.com` (see [`api_base_for_region`]).
    pub api_base: String,
    /// `https://login.mypurecloud.com` (see [`GenesysConfig::login_base_for`]).
    pub login_base: String,
    pub client_id: String,
    pub client_secret: Secret,
    /// Scan page size, 10–200.
    pub page_size: u32,
    /// Largest bulk request body; the platform's `request.bytes.max` is 512,000.
    pub max_request_bytes: usize,
    /// Entities per bulk request to start from, 1–200 (Genesys documents no limit): lowered
    /// for the rest of the client's life when a request is refused as a whole, see
    /// [`ContactWriter::bulk_limit`].
    pub bulk_entities: usize,
    /// Name of the external source whose id links a contact to its Salesforce record.
    pub link_source_name: String,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Retries of transient failures (5xx, 429, timeouts).
    pub retry: RetryPolicy,
    /// Client-side limit on API requests per minute, shared by every clone of the system (the
    /// platform allows 300 per token); `None` sends as fast as answers come.
    pub requests_per_minute: Option<NonZeroU32>,
}

impl GenesysConfig {
    /// Defaults: login base derived from `api_base`, 200 per page, 500,000 bytes and 100
    /// entities per bulk call,
    /// source "Salesforce", 30 s timeout, 4 attempts within 2 minutes, 300 requests per minute.
    pub fn new(
        api_base: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<Secret>,
    ) -> Self {
        let api_base = api_base.into().trim_end_matches('/').to_owned();
        GenesysConfig {
            login_base: login_base_for(&api_base),
            api_base,
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            page_size: 200,
            max_request_bytes: 500_000,
            bulk_entities: DEFAULT_BULK_ENTITIES,
            link_source_name: "Salesforce".into(),
            timeout: Duration::from_secs(30),
            retry: RetryPolicy::new(4),
            requests_per_minute: NonZeroU32::new(DEFAULT_REQUESTS_PER_MINUTE),
        }
    }

    /// `https://api.X` → `https://login.X`; other bases (a simulator) are returned unchanged.
    pub fn login_base_for(api_base: &str) -> String {
        login_base_for(api_base)
    }
}

/// Genesys Cloud as a [`ContactSystem`](contact_sync_pipeline::system::ContactSystem). Clones share the HTTP client, token and source id.
#[derive(Clone)]
pub struct GenesysSystem {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    api_base: String,
    login_base: String,
    client_id: String,
    client_secret: Secret,
    page_size: u32,
    max_request_bytes: usize,
    batch_limit: BatchLimit,
    link_source_name: String,
    http: reqwest::Client,
    retrier: Retrier,
    token: TokenCache<Token>,
    link_source_id: Mutex<Option<String>>,
}

impl std::fmt::Debug for GenesysSystem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GenesysSystem")
            .field("api_base", &self.inner.api_base)
            .field("login_base", &self.inner.login_base)
            .field("link_source_name", &self.inner.link_source_name)
            .finish_non_exhaustive()
    }
}

fn config_error(message: impl Into<String>) -> SystemError {
    SystemError::Config {
        side: SIDE,
        message: message.into(),
    }
}

fn check_base(name: &str, base: &str) -> SystemResult<String> {
    let base = base.trim_end_matches('/').to_owned();
    match url::Url::parse(&base) {
        Ok(u) if (u.scheme() == "https" || u.scheme() == "http") && u.query().is_none() => Ok(base),
        _ => Err(config_error(format!("{name} must be an http(s) URL"))),
    }
}

impl GenesysSystem {
    /// Validates the configuration and builds the client. No network call.
    pub fn new(config: GenesysConfig) -> SystemResult<Self> {
        let api_base = check_base("api_base", &config.api_base)?;
        let login_base = check_base("login_base", &config.login_base)?;
        if config.client_id.is_empty() || config.client_secret.is_empty() {
            return Err(config_error("client_id and client_secret are required"));
        }
        if !(10..=200).contains(&config.page_size) {
            return Err(config_error("page_size must be between 10 and 200"));
        }
        if config.max_request_bytes < 1_024 {
            return Err(config_error("max_request_bytes must be at least 1024"));
        }
        if !(1..=MAX_BULK_ENTITIES).contains(&config.bulk_entities) {
            return Err(config_error(format!(
                "bulk_entities must be between 1 and {MAX_BULK_ENTITIES}"
            )));
        }
        if config.link_source_name.trim().is_empty() {
            return Err(config_error("link_source_name is required"));
        }
        let http = build_client(SIDE, config.timeout)?;
        Ok(GenesysSystem {
            inner: Arc::new(Inner {
                api_base,
                login_base,
                client_id: config.client_id,
                client_secret: config.client_secret,
                page_size: config.page_size,
                max_request_bytes: config.max_request_bytes,
                batch_limit: BatchLimit::new(SIDE, config.bulk_entities),
                link_source_name: config.link_source_name,
                http,
                retrier: Retrier::new(SIDE, config.retry, Gate::new(config.requests_per_minute)),
                token: TokenCache::new(),
                link_source_id: Mutex::new(None),
            }),
        })
    }
}

impl GenesysSystem {
    /// HTTP requests this client (and its clones) sent so far: token requests and retries
    /// included.
    pub fn requests_sent(&self) -> u64 {
        self.inner.retrier.requests_sent()
    }

    /// The id of the link source (the external source named like `link_source_name`) when it
    /// exists. Read-only: unlike [`ContactReader::prepare`] it never creates the source.
    pub async fn find_link_source(&self) -> SystemResult<Option<String>> {
        if let Some(id) = self.inner.link_source_id.lock().await.as_ref() {
            return Ok(Some(id.clone()));
        }
        self.inner.find_source().await
    }

    /// The name of the link source this client looks for.
    pub fn link_source_name(&self) -> &str {
        &self.inner.link_source_name
    }

    /// A custom-field data schema by id; `None` when the org has none with that id.
    pub async fn data_schema(&self, id: &str) -> SystemResult<Option<DataSchemaInfo>> {
        self.inner.data_schema(id).await
    }
}

impl Inner {
    async fn new_token(&self) -> SystemResult<Token> {
        auth::request_token(
            &self.http,
            &self.retrier,
            &self.login_base,
            &self.client_id,
            &self.client_secret,
        )
        .await
    }

    /// Sends one API call (`path` under the API base, starting with `/api/v2/`), re-authenticating
    /// once on 401, and classifies every non-2xx answer.
    pub(crate) async fn call(
        &self,
        what: &'static str,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&[u8]>,
        replay: Replay,
    ) -> SystemResult<Response> {
        let resp = self.answer(what, method, path, query, body, replay).await?;
        if resp.is_success() {
            Ok(resp)
        } else {
            Err(classify(what, &resp))
        }
    }

    /// As [`Inner::call`], returning any final answer (non-2xx included) for the caller to
    /// read; transport failures and retries exhausted are still errors.
    pub(crate) async fn answer(
        &self,
        what: &'static str,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&[u8]>,
        replay: Replay,
    ) -> SystemResult<Response> {
        let url = &format!("{}{}", self.api_base, path);
        let method = &method;
        let resp = http::send_authorized(
            SIDE,
            what,
            &self.token,
            || self.new_token(),
            |token: Arc<Token>| async move {
                let bearer = token.access_token.expose();
                self.retrier
                    .send(what, replay, || {
                        let mut rb = self.http.request(method.clone(), url).bearer_auth(bearer);
                        if !query.is_empty() {
                            rb = rb.query(query);
                        }
                        if let Some(b) = body {
                            rb = rb
                                .header(reqwest::header::CONTENT_TYPE, "application/json")
                                .body(b.to_vec());
                        }
                        rb
                    })
                    .await
            },
        )
        .await?;
        tracing::debug!(side = %SIDE, what, status = resp.status, bytes = resp.body.len(), "genesys response");
        Ok(resp)
    }
}

/// Maps a non-2xx answer to a [`SystemError`], quoting the error code only (messages can quote
/// values).
pub(crate) fn classify(what: &str, resp: &Response) -> SystemError {
    let status = resp.status;
    let codes: Vec<String> = models::parse_error_body(&resp.body)
        .ok()
        .and_then(|b| b.code)
        .into_iter()
        .collect();
    http::status_error(SIDE, status, what, &codes, false)
}

#[async_trait]
impl ContactReader for GenesysSystem {
    fn side(&self) -> Side {
        SIDE
    }

    async fn prepare(&self) -> SystemResult<SystemFacts> {
        let id = self.inner.link_source_id().await?;
        Ok(SystemFacts {
            instance_url: None,
            link_source_id: Some(id),
        })
    }

    async fn read_changes(
        &self,
        _since: Option<&Watermark>,
        cursor: Option<String>,
    ) -> SystemResult<ChangePage> {
        self.inner.scan(cursor).await
    }

    async fn read_deletions(&self, _since: Option<&Watermark>) -> SystemResult<DeletionRead> {
        // Genesys keeps no delete log: deletes show when `fetch` no longer returns a linked id,
        // merges when it returns the id with `mergedTo`.
        Ok(DeletionRead {
            deletions: Vec::new(),
            newest: None,
            complete: true,
        })
    }

    async fn fetch(&self, ids: &[String]) -> SystemResult<Vec<RawRecord>> {
        self.inner.fetch(ids).await
    }

    async fn find_by_emails(&self, _emails: &[String]) -> SystemResult<Vec<RawRecord>> {
        // The scan already returns every contact.
        Ok(Vec::new())
    }

    async fn find_by_links(&self, linked_ids: &[String]) -> SystemResult<Vec<RawRecord>> {
        self.inner.find_by_links(linked_ids).await
    }

    fn api_usage(&self) -> ApiUsage {
        ApiUsage {
            requests: self.inner.retrier.requests_sent(),
            daily: None,
        }
    }
}

#[async_trait]
impl ContactWriter for GenesysSystem {
    async fn create(&self, records: Vec<CreateRequest>) -> SystemResult<Vec<WriteOutcome>> {
        self.inner.create(records).await
    }

    async fn update(&self, records: Vec<UpdateRequest>) -> SystemResult<Vec<WriteOutcome>> {
        self.inner.update(records).await
    }

    async fn delete(&self, ids: Vec<String>) -> SystemResult<Vec<WriteOutcome>> {
        self.inner.delete(ids).await
    }

    fn bulk_limit(&self) -> Option<usize> {
        self.inner.batch_limit.learned()
    }

    fn adopt_bulk_limit(&self, limit: usize) {
        self.inner.batch_limit.adopt(limit);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_defaults_and_validation() {
        // GIVEN a regional config
        let cfg = GenesysConfig::new("https://api.mypurecloud.ie/", "id", "s3cret");
        // THEN the login base is derived and the secret masked
        assert_eq!(cfg.login_base, "https://login.mypurecloud.ie");
        assert_eq!(cfg.api_base, "https://api.mypurecloud.ie");
        assert!(!format!("{cfg:?}").contains("s3cret"));
        // WHEN invalid settings are used THEN construction fails with Config
        let mut small_page = cfg.clone();
        small_page.page_size = 5;
        let mut bad_url = cfg.clone();
        bad_url.api_base = "api.mypurecloud.ie".into();
        for bad in [small_page, bad_url] {
            assert!(matches!(
                GenesysSystem::new(bad),
                Err(SystemError::Config { .. })
            ));
        }
        assert!(GenesysSystem::new(cfg).is_ok());
    }

    #[test]
    fn errors_are_classified_by_status() {
        // GIVEN the normalised 429 body and other refusals
        let resp = |status: u16, body: &str| Response {
            status,
            headers: Default::default(),
            body: body.as_bytes().to_vec(),
        };
        let limited = resp(
            429,
            r#"{"message":"Rate limit exceeded","code":"too.many.requests.retry.after","status":429}"#,
        );
        let bad = resp(
            400,
            r#"{"message":"jane@example.com is invalid","code":"bad.request","status":400}"#,
        );
        let forbidden = resp(403, r#"{"code":"missing.permissions","status":403}"#);
        // WHEN classified
        // THEN 429 is transient, 4xx rejected, and values are not quoted
        assert!(classify("scan", &limited).is_retryable());
        let e = classify("scan", &bad);
        assert!(matches!(e, SystemError::Rejected { status: 400, .. }));
        assert!(!e.to_string().contains("jane"));
        assert!(matches!(
            classify("scan", &forbidden),
            SystemError::Rejected { status: 403, .. }
        ));
    }
}
