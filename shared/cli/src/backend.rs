//! Which state the CLI works on, chosen by `CONTACT_SYNC_BACKEND`:
//!
//! - `local` (default): the embedded store (`state.redb`, or `sandbox.redb` with `--sandbox`)
//!   in `CONTACT_SYNC_STATE_DIR`, and the in-process queue. No dead-letter queue: a pair that
//!   fails stays pending in the store and the next run retries it.
//! - `aws`: a deployment's DynamoDB table and SQS queues, named by the variables the Lambdas
//!   get from `template.yaml` (`SYNC_TABLE`, `RECONCILE_QUEUE_URL`, `CONFLICT_QUEUE_URL`), with
//!   the AWS SDK's own settings (`AWS_REGION`, `AWS_PROFILE` or `AWS_ACCESS_KEY_ID`/..., and
//!   `AWS_ENDPOINT_URL` for moto). The dead-letter queues are read from the queues' redrive
//!   policies, or named by `RECONCILE_DLQ_URL` / `CONFLICT_DLQ_URL`.
//!
//! Commands take the store as `Arc<dyn SyncStore>` and never learn which backend it is,
//! except `dlq` (deployed only) and `status` (which says where its figures come from).

use anyhow::{Context, anyhow, bail};
use contact_sync_aws::DynamoDbStore;
use contact_sync_aws::dead_letters::{DeadLetterQueue, DeadLetters, MessageKind};
use contact_sync_aws::deployment::{CONFLICT_QUEUE_URL, RECONCILE_QUEUE_URL, SYNC_TABLE};
use contact_sync_connectors::environment;
use contact_sync_engine::mapping::Mapping;
use contact_sync_pipeline::store::SyncStore;
use contact_sync_pipeline::store::embedded::EmbeddedStore;
use std::sync::Arc;

/// `local` (default) or `aws`.
pub const CONTACT_SYNC_BACKEND: &str = "CONTACT_SYNC_BACKEND";
/// Optional: the reconcile queue's dead-letter queue (default: from its redrive policy).
pub const RECONCILE_DLQ_URL: &str = "RECONCILE_DLQ_URL";
/// Optional: the conflict queue's dead-letter queue (default: from its redrive policy).
pub const CONFLICT_DLQ_URL: &str = "CONFLICT_DLQ_URL";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    Local,
    Aws,
}

impl BackendKind {
    pub fn from_env() -> anyhow::Result<BackendKind> {
        match var(CONTACT_SYNC_BACKEND).as_deref() {
            None | Some("local") => Ok(BackendKind::Local),
            Some("aws") => Ok(BackendKind::Aws),
            Some(other) => bail!("{CONTACT_SYNC_BACKEND}: `{other}` is not `local` or `aws`"),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Local => "local",
            BackendKind::Aws => "aws",
        }
    }
}

/// The store (and, deployed, the SDK configuration) the commands work on, and the mapping.
pub struct Backend {
    pub kind: BackendKind,
    pub store: Arc<dyn SyncStore>,
    pub mapping: Mapping,
    /// Where the state is, for messages: a file path or a table name.
    pub location: String,
    sdk: Option<aws_config::SdkConfig>,
}

fn var(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

fn required(name: &str, what: &str) -> anyhow::Result<String> {
    var(name)
        .ok_or_else(|| anyhow!("{name}: not set ({what}; needed with {CONTACT_SYNC_BACKEND}=aws)"))
}

impl Backend {
    /// The backend `CONTACT_SYNC_BACKEND` names. `sandbox`: the sandbox's local state (only
    /// on the local backend).
    pub async fn open(sandbox: bool) -> anyhow::Result<Backend> {
        let mapping = crate::mapping::for_backend(None).await?;
        match BackendKind::from_env()? {
            BackendKind::Local => {
                let dir = environment::state_dir_from_env();
                let file = if sandbox {
                    crate::sandbox::state_file(&dir)
                } else {
                    crate::wiring::state_file(&dir)
                };
                let store = EmbeddedStore::open(&file)
                    .with_context(|| format!("cannot open the state at {}", file.display()))?;
                Ok(Backend {
                    kind: BackendKind::Local,
                    store: Arc::new(store),
                    mapping,
                    location: file.display().to_string(),
                    sdk: None,
                })
            }
            BackendKind::Aws if sandbox => bail!(
                "--sandbox uses the local backend; unset {CONTACT_SYNC_BACKEND} (it is `aws`)"
            ),
            BackendKind::Aws => {
                let table = required(SYNC_TABLE, "the DynamoDB table, output SyncTableName")?;
                let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
                let store = DynamoDbStore::new(aws_sdk_dynamodb::Client::new(&sdk), &table);
                Ok(Backend {
                    kind: BackendKind::Aws,
                    store: Arc::new(store),
                    mapping,
                    location: format!("DynamoDB table {table}"),
                    sdk: Some(sdk),
                })
            }
        }
    }

    /// The deployment's dead-letter queues; an error that says so on the local backend.
    pub async fn dead_letters(&self) -> anyhow::Result<DeadLetters> {
        let Some(sdk) = &self.sdk else {
            bail!(
                "the local backend has no dead-letter queue: a one-process sync keeps a pair \
                 that failed as pending in {} and retries it on the next run (see \
                 `contact-sync status`). Dead-letter queues exist on the deployed backend \
                 ({CONTACT_SYNC_BACKEND}=aws).",
                self.location
            );
        };
        let client = aws_sdk_sqs::Client::new(sdk);
        let reconcile = required(
            RECONCILE_QUEUE_URL,
            "the reconcile queue, output ReconcileQueueUrl",
        )?;
        let conflict = required(
            CONFLICT_QUEUE_URL,
            "the conflict queue, output ConflictQueueUrl",
        )?;
        match (var(RECONCILE_DLQ_URL), var(CONFLICT_DLQ_URL)) {
            (Some(reconcile_dlq), Some(conflict_dlq)) => Ok(DeadLetters::new(
                client,
                vec![
                    DeadLetterQueue {
                        kind: MessageKind::Reconcile,
                        url: reconcile_dlq,
                        source_url: reconcile,
                    },
                    DeadLetterQueue {
                        kind: MessageKind::Conflict,
                        url: conflict_dlq,
                        source_url: conflict,
                    },
                ],
            )),
            _ => Ok(DeadLetters::discover(
                client,
                &[
                    (MessageKind::Reconcile, reconcile),
                    (MessageKind::Conflict, conflict),
                ],
            )
            .await?),
        }
    }
}
