//! Salesforce REST (Contact): OAuth client credentials, SOQL change reads and lookups, and
//! sObject Collections writes.

mod auth;
mod budget;
pub mod bulk;
mod collections;
mod deletions;
mod describe;
mod query;
pub mod soql;
pub mod wire;

use crate::batch_limit::BatchLimit;
use crate::credentials::Secret;
use crate::http::{self, Gate, Replay, Response, Retrier, RetryPolicy, TokenCache, build_client};
use async_trait::async_trait;
pub use auth::JwtBearer;
use auth::Session;
use contact_sync_engine::Side;
use contact_sync_pipeline::system::{
    ApiUsage, ChangePage, ContactReader, ContactWriter, CreateRequest, DailyAllocation,
    DeletionRead, RawRecord, SystemError, SystemFacts, SystemResult, UpdateRequest, Watermark,
    WriteOutcome,
};
pub use describe::FieldDescription;
use std::sync::Arc;
use std::time::Duration;

const SIDE: Side = Side::Salesforce;

/// Change reads of more Contacts than this use Bulk API 2.0.
pub const DEFAULT_BULK_THRESHOLD: u64 = 10_000;

/// Settings of a [`SalesforceSystem`].
#[derive(Debug, Clone)]
pub struct SalesforceConfig {
    /// The org's My Domain URL (client credentials do not work on login.salesforce.com).
    pub login_url: String,
    pub client_id: String,
    pub client_secret: Secret,
    /// REST API version, e.g. `v62.0`.
    pub api_version: String,
    /// Mapped Contact fields to SELECT besides `Id` and `SystemModstamp`.
    pub fields: Vec<String>,
    /// The field `find_by_emails` matches on.
    pub email_field: String,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Retries of transient failures (5xx, 429, timeouts).
    pub retry: RetryPolicy,
    /// When set, sessions come from the JWT bearer flow (the client secret is not used);
    /// otherwise from client credentials.
    pub jwt: Option<JwtBearer>,
    /// A change read (full or incremental) of more Contacts than this goes through one Bulk
    /// API 2.0 query job instead of REST query pages; `None` never uses Bulk.
    pub bulk_threshold: Option<u64>,
    /// How long a Bulk API 2.0 job may take before the read fails as transient.
    pub bulk_timeout: Duration,
    /// Share of the org's daily API allocation (`Sforce-Limit-Info: api-usage=N/M`) after which
    /// calls stop with [`SystemError::Budget`] until the next run; in `(0, 1]`.
    pub budget_share: f64,
}

impl SalesforceConfig {
    /// Defaults: `v62.0`, `Email`, no extra fields, 60 s timeout, 4 attempts within 2 minutes,
    /// stop at 80% of the daily API allocation, Bulk API 2.0 for reads of more than 10,000
    /// Contacts.
    pub fn new(
        login_url: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<Secret>,
    ) -> Self {
        SalesforceConfig {
            login_url: login_url.into(),
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            api_version: "v62.0".into(),
            fields: Vec::new(),
            email_field: "Email".into(),
            timeout: Duration::from_secs(60),
            retry: RetryPolicy::new(4),
            budget_share: budget::DEFAULT_SHARE,
            jwt: None,
            bulk_threshold: Some(DEFAULT_BULK_THRESHOLD),
            bulk_timeout: Duration::from_secs(600),
        }
    }
}

/// Salesforce as a [`ContactSystem`](contact_sync_pipeline::system::ContactSystem). Clones share the HTTP client and the session.
#[derive(Clone)]
pub struct SalesforceSystem {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    login_url: String,
    client_id: String,
    client_secret: Secret,
    jwt: Option<JwtBearer>,
    api_version: String,
    /// Validated, without `Id`/`SystemModstamp`, deduplicated.
    fields: Vec<String>,
    email_field: String,
    bulk_threshold: Option<u64>,
    bulk_timeout: Duration,
    http: reqwest::Client,
    retrier: Retrier,
    session: TokenCache<Session>,
    budget: budget::Budget,
    /// Records per sObject Collections request: the documented 200, lowered when a request
    /// is refused as a whole (see `batch_limit`).
    batch_limit: BatchLimit,
}

impl std::fmt::Debug for SalesforceSystem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SalesforceSystem")
            .field("login_url", &self.inner.login_url)
            .field("api_version", &self.inner.api_version)
            .field("fields", &self.inner.fields)
            .finish_non_exhaustive()
    }
}

fn config_error(message: impl Into<String>) -> SystemError {
    SystemError::Config {
        side: SIDE,
        message: message.into(),
    }
}

fn is_valid_api_version(v: &str) -> bool {
    v.strip_prefix('v').is_some_and(|rest| {
        let mut parts = rest.split('.');
        let major = parts.next().unwrap_or("");
        let minor = parts.next().unwrap_or("");
        parts.next().is_none()
            && !major.is_empty()
            && major.bytes().all(|b| b.is_ascii_digit())
            && !minor.is_empty()
            && minor.bytes().all(|b| b.is_ascii_digit())
    })
}

impl SalesforceSystem {
    /// Validates the configuration (URL, API version, every field name) and builds the client.
    /// No network call: authentication happens on first use or in [`ContactReader::prepare`].
    pub fn new(config: SalesforceConfig) -> SystemResult<Self> {
        let login_url = config.login_url.trim_end_matches('/').to_owned();
        match url::Url::parse(&login_url) {
            Ok(u) if u.scheme() == "https" || u.scheme() == "http" => {}
            _ => return Err(config_error("login_url must be an http(s) URL")),
        }
        match &config.jwt {
            None if config.client_id.is_empty() || config.client_secret.is_empty() => {
                return Err(config_error("client_id and client_secret are required"));
            }
            Some(jwt) => {
                if config.client_id.is_empty() || jwt.username.is_empty() {
                    return Err(config_error(
                        "the JWT bearer flow needs client_id (the consumer key) and a username",
                    ));
                }
                // Fails now, not at the first call, when the key is not usable.
                auth::assertion(&config.client_id, jwt)?;
            }
            None => {}
        }
        if !is_valid_api_version(&config.api_version) {
            return Err(config_error(format!(
                "api_version {:?} is not of the form v62.0",
                config.api_version
            )));
        }
        if !soql::is_valid_field_name(&config.email_field) {
            return Err(config_error(format!(
                "email_field {:?} is not a field API name",
                config.email_field
            )));
        }
        let mut fields: Vec<String> = Vec::new();
        for f in &config.fields {
            if !soql::is_valid_field_name(f) {
                return Err(config_error(format!("field {f:?} is not a field API name")));
            }
            let fixed = f.eq_ignore_ascii_case("Id") || f.eq_ignore_ascii_case("SystemModstamp");
            if !fixed && !fields.iter().any(|g| g.eq_ignore_ascii_case(f)) {
                fields.push(f.clone());
            }
        }
        if !(config.budget_share > 0.0 && config.budget_share <= 1.0) {
            return Err(config_error("budget_share must be in (0, 1]"));
        }
        let http = build_client(SIDE, config.timeout)?;
        Ok(SalesforceSystem {
            inner: Arc::new(Inner {
                login_url,
                client_id: config.client_id,
                client_secret: config.client_secret,
                jwt: config.jwt,
                api_version: config.api_version,
                fields,
                email_field: config.email_field,
                bulk_threshold: config.bulk_threshold,
                bulk_timeout: config.bulk_timeout,
                http,
                retrier: Retrier::new(SIDE, config.retry, Gate::new(None)),
                session: TokenCache::new(),
                budget: budget::Budget::new(config.budget_share),
                batch_limit: BatchLimit::new(SIDE, collections::RECORDS_PER_CALL),
            }),
        })
    }
}

/// The org's daily API allocation as the last answer reported it (`Sforce-Limit-Info`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ApiBudget {
    pub used: u64,
    pub max: u64,
    /// The share of `max` after which this client stops calling (`budget_share`).
    pub stop_share: f64,
}

impl SalesforceSystem {
    /// HTTP requests this client (and its clones) sent so far: token requests and retries
    /// included.
    pub fn requests_sent(&self) -> u64 {
        self.inner.retrier.requests_sent()
    }

    /// The API allocation as the last answer reported it; `None` before the first API call.
    pub fn api_budget(&self) -> Option<ApiBudget> {
        self.inner.budget.usage().map(|(used, max)| ApiBudget {
            used,
            max,
            stop_share: self.inner.budget.share(),
        })
    }

    /// The Contact object's fields as `describe` reports them for the integration user (one
    /// read call; read-only).
    pub async fn describe_contact(&self) -> SystemResult<Vec<FieldDescription>> {
        self.inner.describe_contact().await
    }
}

/// Where a call goes, relative to the session's instance.
pub(crate) enum Target<'a> {
    /// Under `/services/data/<version>/`.
    Api(&'a str),
    /// A path as the API returned it (`nextRecordsUrl`), starting with `/services/data/`.
    Absolute(&'a str),
}

impl Inner {
    async fn new_session(&self) -> SystemResult<Session> {
        auth::request_session(
            &self.http,
            &self.retrier,
            &self.login_url,
            &self.client_id,
            &self.client_secret,
            self.jwt.as_ref(),
        )
        .await
    }

    fn url(&self, session: &Session, target: &Target<'_>) -> String {
        match target {
            Target::Api(rest) => format!(
                "{}/services/data/{}/{}",
                session.instance_url, self.api_version, rest
            ),
            Target::Absolute(path) => format!("{}{}", session.instance_url, path),
        }
    }

    async fn session(&self) -> SystemResult<Arc<Session>> {
        self.session.get(SIDE, || self.new_session()).await
    }

    /// Sends one API call with the session, re-authenticating once on 401, and classifies
    /// every non-2xx answer.
    pub(crate) async fn call(
        &self,
        what: &'static str,
        method: reqwest::Method,
        target: Target<'_>,
        query: Option<&[(&str, &str)]>,
        body: Option<&serde_json::Value>,
        replay: Replay,
    ) -> SystemResult<Response> {
        self.budget.check()?;
        let target = &target;
        let method = &method;
        let resp = http::send_authorized(
            SIDE,
            what,
            &self.session,
            || self.new_session(),
            |session: Arc<Session>| async move {
                let url = self.url(&session, target);
                let token = session.access_token.expose();
                self.retrier
                    .send(what, replay, || {
                        let mut rb = self.http.request(method.clone(), &url).bearer_auth(token);
                        if let Some(q) = query {
                            rb = rb.query(q);
                        }
                        if let Some(b) = body {
                            rb = rb.json(b);
                        }
                        rb
                    })
                    .await
            },
        )
        .await?;
        tracing::debug!(side = %SIDE, what, status = resp.status, bytes = resp.body.len(), "salesforce response");
        self.budget.observe(&resp.headers);
        if resp.is_success() {
            return Ok(resp);
        }
        let error = classify(what, &resp);
        // The only retryable 403 is REQUEST_LIMIT_EXCEEDED: the allocation is spent.
        Err(if resp.status == 403 && error.is_retryable() {
            self.budget.exhausted()
        } else {
            error
        })
    }
}

/// Maps a non-2xx REST answer to a [`SystemError`]. Messages carry error codes only: Salesforce
/// messages can quote values (a malformed query quotes the SOQL, with its emails).
pub(crate) fn classify(what: &str, resp: &Response) -> SystemError {
    let status = resp.status;
    let codes: Vec<String> = wire::parse_rest_errors(&resp.body)
        .map(|errs| errs.into_iter().map(|e| e.error_code).collect())
        .unwrap_or_default();
    let budget = codes.iter().any(|c| c == "REQUEST_LIMIT_EXCEEDED");
    http::status_error(SIDE, status, what, &codes, budget)
}

#[async_trait]
impl ContactReader for SalesforceSystem {
    fn side(&self) -> Side {
        SIDE
    }

    async fn prepare(&self) -> SystemResult<SystemFacts> {
        let session = self.inner.session().await?;
        Ok(SystemFacts {
            instance_url: Some(session.instance_url.clone()),
            link_source_id: None,
        })
    }

    async fn read_changes(
        &self,
        since: Option<&Watermark>,
        cursor: Option<String>,
    ) -> SystemResult<ChangePage> {
        self.inner.read_changes(since, cursor).await
    }

    async fn read_deletions(&self, since: Option<&Watermark>) -> SystemResult<DeletionRead> {
        self.inner.read_deletions(since).await
    }

    async fn fetch(&self, ids: &[String]) -> SystemResult<Vec<RawRecord>> {
        self.inner.fetch(ids).await
    }

    async fn find_by_emails(&self, emails: &[String]) -> SystemResult<Vec<RawRecord>> {
        self.inner.find_by_emails(emails).await
    }

    async fn find_deleted_by_emails(&self, emails: &[String]) -> SystemResult<Vec<RawRecord>> {
        self.inner.find_deleted_by_emails(emails).await
    }

    async fn find_created_since(
        &self,
        since: chrono::DateTime<chrono::Utc>,
    ) -> SystemResult<Vec<RawRecord>> {
        self.inner.find_created_since(since).await
    }

    fn api_usage(&self) -> ApiUsage {
        ApiUsage {
            requests: self.inner.retrier.requests_sent(),
            daily: self
                .inner
                .budget
                .usage()
                .map(|(used, max)| DailyAllocation { used, max }),
        }
    }
}

#[async_trait]
impl ContactWriter for SalesforceSystem {
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

    fn config() -> SalesforceConfig {
        SalesforceConfig::new("https://example.my.salesforce.com", "id", "secret")
    }

    #[test]
    fn construction_validates_every_name() {
        // GIVEN configurations with a custom field, a hostile field, a bad version
        let mut good = config();
        good.fields = vec![
            "FirstName".into(),
            "Sync_Key__c".into(),
            "Id".into(),
            "firstname".into(),
        ];
        let mut hostile = config();
        hostile.fields = vec!["Email FROM User WHERE Name != ''".into()];
        let mut bad_email = config();
        bad_email.email_field = "Email,Name".into();
        let mut bad_version = config();
        bad_version.api_version = "62".into();
        // WHEN systems are built
        // THEN only the valid one is accepted, with Id and duplicates dropped
        let sys = SalesforceSystem::new(good).expect("valid config");
        assert_eq!(
            sys.inner.fields,
            vec!["FirstName".to_owned(), "Sync_Key__c".to_owned()]
        );
        for bad in [hostile, bad_email, bad_version] {
            assert!(matches!(
                SalesforceSystem::new(bad),
                Err(SystemError::Config { .. })
            ));
        }
    }

    #[test]
    fn debug_output_hides_the_secret() {
        // GIVEN a config and a system
        let cfg = config();
        let sys = SalesforceSystem::new(cfg.clone()).expect("valid");
        // WHEN they are debug-printed
        let shown = format!("{cfg:?} {sys:?}");
        // THEN the secret is masked
        assert!(!shown.contains("secret\""), "{shown}");
        assert!(shown.contains("***"));
    }

    #[test]
    fn errors_are_classified_by_status_and_code() {
        // GIVEN answers of several kinds
        let resp = |status: u16, body: &str| Response {
            status,
            headers: Default::default(),
            body: body.as_bytes().to_vec(),
        };
        let limit = resp(
            403,
            r#"[{"message":"TotalRequests Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}]"#,
        );
        let denied = resp(
            403,
            r#"[{"message":"no","errorCode":"INSUFFICIENT_ACCESS"}]"#,
        );
        let malformed = resp(
            400,
            r#"{"message":"unexpected token: 'jane@example.com'","errorCode":"MALFORMED_QUERY"}"#,
        );
        let busy = resp(503, "<html>busy</html>");
        // WHEN classified
        // THEN the limit is transient, other refusals are rejected without quoting messages
        assert!(classify("q", &limit).is_retryable());
        assert!(matches!(
            classify("q", &denied),
            SystemError::Rejected { status: 403, .. }
        ));
        let e = classify("q", &malformed);
        assert!(matches!(e, SystemError::Rejected { status: 400, .. }));
        assert!(e.to_string().contains("MALFORMED_QUERY"));
        assert!(!e.to_string().contains("jane"));
        assert!(classify("q", &busy).is_retryable());
    }
}
