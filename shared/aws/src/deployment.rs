//! A deployment as one Lambda sees it: its SDK clients, the store, the queue, the credentials
//! and the integration built from them, assembled once per cold start from the environment
//! variables `template.yaml` sets.
//!
//! | variable | used by | meaning |
//! |---|---|---|
//! | `SYNC_TABLE` | all | DynamoDB table name |
//! | `RECONCILE_QUEUE_URL` | poller | where reconcile batches go |
//! | `CONFLICT_QUEUE_URL` | reconciler | where conflict events go |
//! | `SALESFORCE_SECRET_ARN`, `GENESYS_SECRET_ARN` | poller, reconciler | credentials (see [`crate::secrets`]) |
//! | `ALERT_WEBHOOK_SECRET_ARN` | notifier | optional: secret `{"url": ...}` of a Slack-compatible webhook |
//! | `ALERT_WEBHOOK_URL` | notifier | optional, local runs: the webhook URL itself |
//! | `CONTACT_SYNC_MAPPING_PARAMETER` | all | the SSM parameter holding the mapping (see [`crate::deployed_mapping`]) |
//! | `CONTACT_SYNC_INTEGRATION` | all | the stack's `IntegrationName`: the mapping must name it |
//! | `CONTACT_SYNC_CONFIG` | all | local runs: mapping YAML file (default: the built-in mapping) |
//! | `AWS_ENDPOINT_URL` | all | optional: an emulator (moto) instead of AWS |
//! | `CONTACT_SYNC_ENDPOINT_URL` | all | the same, declared by the template (empty there) so that `sam local invoke --env-vars` can set it |

use crate::metrics::Sink;
use crate::queue::SqsQueue;
use crate::secrets::{SecretCache, SecretError, connection_vars};
use crate::store::DynamoDbStore;
use crate::webhook::WebhookAlerter;
use aws_config::{BehaviorVersion, SdkConfig};
use contact_sync_connectors::environment::{
    ConnectionSettings, MappingLoadError, SettingsError, integration_for_org,
};
use contact_sync_engine::mapping::Mapping;
use contact_sync_pipeline::notify::{AlertError, Alerter, LogAlerter};
use contact_sync_pipeline::system::SystemError;
use contact_sync_pipeline::{Integration, PipelineError};
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

pub const SYNC_TABLE: &str = "SYNC_TABLE";
pub const RECONCILE_QUEUE_URL: &str = "RECONCILE_QUEUE_URL";
pub const CONFLICT_QUEUE_URL: &str = "CONFLICT_QUEUE_URL";
pub const SALESFORCE_SECRET_ARN: &str = "SALESFORCE_SECRET_ARN";
pub const GENESYS_SECRET_ARN: &str = "GENESYS_SECRET_ARN";
pub const ALERT_WEBHOOK_SECRET_ARN: &str = "ALERT_WEBHOOK_SECRET_ARN";
pub const ALERT_WEBHOOK_URL: &str = "ALERT_WEBHOOK_URL";
/// The SDK's own variable for a custom endpoint (an emulator).
pub const AWS_ENDPOINT_URL: &str = "AWS_ENDPOINT_URL";
/// An emulator's URL under a name the template declares (`sam local invoke --env-vars` passes
/// on only declared variables); empty or unset: the SDK's own configuration.
pub const CONTACT_SYNC_ENDPOINT_URL: &str = "CONTACT_SYNC_ENDPOINT_URL";

/// Why a deployment could not be assembled or used. Never holds a credential.
#[derive(Debug, thiserror::Error)]
pub enum DeploymentError {
    #[error("{variable}: {problem}")]
    Setting {
        variable: &'static str,
        problem: String,
    },
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error("connection settings from the secrets: {0}")]
    Connection(#[from] SettingsError),
    #[error(transparent)]
    Mapping(#[from] MappingLoadError),
    #[error(transparent)]
    DeployedMapping(#[from] crate::deployed_mapping::DeployedMappingError),
    #[error(transparent)]
    System(#[from] SystemError),
    #[error(transparent)]
    Alert(#[from] AlertError),
}

impl DeploymentError {
    pub fn is_retryable(&self) -> bool {
        match self {
            DeploymentError::Secret(e) => e.is_retryable(),
            DeploymentError::System(e) => e.is_retryable(),
            DeploymentError::DeployedMapping(e) => e.is_retryable(),
            _ => false,
        }
    }
}

/// Everything one function needs, built once per cold start.
pub struct Deployment {
    vars: HashMap<String, String>,
    mapping: Mapping,
    store: Arc<DynamoDbStore>,
    queue: Arc<SqsQueue>,
    secrets: SecretCache,
    /// Built on first use from the secrets; dropped when the credentials are refused.
    integration: tokio::sync::Mutex<Option<Integration>>,
    /// Where the functions' EMF metrics go (stdout unless a test says otherwise).
    metrics: Sink,
}

impl std::fmt::Debug for Deployment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deployment")
            .field("table", &self.store.table())
            .finish_non_exhaustive()
    }
}

impl Deployment {
    /// From the process environment and the SDK's default configuration chain.
    pub async fn from_env() -> Result<Deployment, DeploymentError> {
        let vars: HashMap<String, String> = std::env::vars().collect();
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(url) = optional(&vars, CONTACT_SYNC_ENDPOINT_URL) {
            loader = loader.endpoint_url(url);
        }
        let sdk = loader.load().await;
        let mapping = crate::deployed_mapping::load(&sdk, &vars).await?;
        Deployment::new(&sdk, vars, mapping)
    }

    /// From explicit variables (tests, tools).
    pub fn new(
        sdk: &SdkConfig,
        vars: HashMap<String, String>,
        mapping: Mapping,
    ) -> Result<Deployment, DeploymentError> {
        let table = required(&vars, SYNC_TABLE)?;
        let store = DynamoDbStore::new(aws_sdk_dynamodb::Client::new(sdk), table);
        let mut queue = SqsQueue::new(aws_sdk_sqs::Client::new(sdk));
        if let Some(url) = optional(&vars, RECONCILE_QUEUE_URL) {
            queue = queue.with_reconcile_queue(url);
        }
        if let Some(url) = optional(&vars, CONFLICT_QUEUE_URL) {
            queue = queue.with_conflict_queue(url);
        }
        Ok(Deployment {
            store: Arc::new(store),
            queue: Arc::new(queue),
            secrets: SecretCache::new(aws_sdk_secretsmanager::Client::new(sdk)),
            mapping,
            vars,
            integration: tokio::sync::Mutex::new(None),
            metrics: Sink::Stdout,
        })
    }

    /// Sends the functions' metrics to `sink` instead of stdout (tests).
    pub fn with_metrics(mut self, sink: Sink) -> Deployment {
        self.metrics = sink;
        self
    }

    /// Where the functions' metrics go.
    pub fn metrics(&self) -> &Sink {
        &self.metrics
    }

    pub fn store(&self) -> Arc<DynamoDbStore> {
        Arc::clone(&self.store)
    }

    pub fn mapping(&self) -> &Mapping {
        &self.mapping
    }

    /// The integration over DynamoDB and SQS with credentials from Secrets Manager (read on
    /// first use, then cached).
    pub async fn integration(&self) -> Result<Integration, DeploymentError> {
        let mut cached = self.integration.lock().await;
        if let Some(integration) = cached.as_ref() {
            return Ok(integration.clone());
        }
        let sf_arn = required(&self.vars, SALESFORCE_SECRET_ARN)?;
        let gz_arn = required(&self.vars, GENESYS_SECRET_ARN)?;
        let (sf, gz) = tokio::try_join!(
            self.secrets.document(&sf_arn),
            self.secrets.document(&gz_arn)
        )?;
        let vars = connection_vars(&self.vars, (&sf_arn, &sf), (&gz_arn, &gz))?;
        let built = integration_for_org(
            ConnectionSettings::from_vars(&vars)?,
            self.mapping.clone(),
            self.store.clone(),
            self.queue.clone(),
        )
        .await?;
        *cached = Some(built.clone());
        Ok(built)
    }

    /// Runs a use case on the integration. When a system refuses the credentials, the secrets
    /// are read again (they may have been rotated) and the use case runs once more.
    pub async fn with_integration<T, F, Fut>(
        &self,
        op: F,
    ) -> Result<Result<T, PipelineError>, DeploymentError>
    where
        F: Fn(Integration) -> Fut,
        Fut: Future<Output = Result<T, PipelineError>>,
    {
        let first = op(self.integration().await?).await;
        if let Err(PipelineError::System(SystemError::Auth { side, .. })) = &first {
            tracing::warn!(%side, "credentials refused; reading the secrets again");
            self.forget_credentials().await;
            return Ok(op(self.integration().await?).await);
        }
        Ok(first)
    }

    /// Drops the cached secrets and the integration built from them.
    pub async fn forget_credentials(&self) {
        self.secrets.forget();
        *self.integration.lock().await = None;
    }

    /// Where conflict digests go: the webhook of `ALERT_WEBHOOK_SECRET_ARN` or
    /// `ALERT_WEBHOOK_URL`, otherwise the log.
    pub async fn alerter(&self) -> Result<Arc<dyn Alerter>, DeploymentError> {
        let url = match (
            optional(&self.vars, ALERT_WEBHOOK_SECRET_ARN),
            optional(&self.vars, ALERT_WEBHOOK_URL),
        ) {
            (Some(arn), _) => {
                let doc = self.secrets.document(&arn).await?;
                Some(
                    doc.field("url")
                        .ok_or_else(|| SecretError::Permanent {
                            name: arn.clone(),
                            message: "field `url` is missing or empty".into(),
                        })?
                        .to_string(),
                )
            }
            (None, url) => url,
        };
        Ok(match url {
            Some(url) => Arc::new(WebhookAlerter::new(url)?),
            None => Arc::new(LogAlerter),
        })
    }
}

fn optional(vars: &HashMap<String, String>, name: &str) -> Option<String> {
    vars.get(name)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

fn required(vars: &HashMap<String, String>, name: &'static str) -> Result<String, DeploymentError> {
    optional(vars, name).ok_or(DeploymentError::Setting {
        variable: name,
        problem: "not set (template.yaml sets it for the functions that need it)".into(),
    })
}
