//! Both simulators and a fresh copy of the template's table and queues in moto, with an
//! integration whose store is the real [`DynamoDbStore`] on a client that carries a
//! [`CapacityMeter`], and the in-process queue (so batches can be taken out and handed to a
//! Lambda as an SQS event). [`Moto`] is a moto server of a harness's own, without moto's
//! registry of model objects (see `bench/moto_untracked.py`).

use crate::capacity::CapacityMeter;
use contact_sync_aws::DynamoDbStore;
use contact_sync_aws::deployment::{GENESYS_SECRET_ARN, SALESFORCE_SECRET_ARN};
use contact_sync_aws::emulator::{self, Stack};
use contact_sync_aws::provision::provision;
use contact_sync_aws::template::Resources;
use contact_sync_connectors::{GenesysConfig, GenesysSystem, SalesforceConfig, SalesforceSystem};
use contact_sync_engine::mapping::Mapping;
use contact_sync_pipeline::cycle::{CycleOutcome, run_cycle};
use contact_sync_pipeline::notify::LogAlerter;
use contact_sync_pipeline::queue::InProcessQueue;
use contact_sync_pipeline::{Integration, Settings, SystemClock};
use contact_sync_simulators::{GenesysSim, GenesysSimConfig, SalesforceSim, SalesforceSimConfig};
use serde_json::json;
use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct AwsWorld {
    pub sf: SalesforceSim,
    pub gz: GenesysSim,
    pub stack: Stack,
    pub meter: CapacityMeter,
    pub integration: Integration,
    pub queue: Arc<InProcessQueue>,
}

impl AwsWorld {
    /// `None` when moto is not configured (`CONTACT_SYNC_MOTO_URL`; a message says so).
    pub async fn new(name: &str, batch_size: usize) -> Option<AwsWorld> {
        let stack = Stack::create(name).await?;
        Some(AwsWorld::on(stack, batch_size).await)
    }

    /// On the moto server at `url`.
    pub async fn at(url: &str, batch_size: usize) -> AwsWorld {
        let sdk = emulator::sdk_config(url).await;
        let resources = Resources::of_template().expect("template.yaml");
        let prefix = format!("cs-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let resources = provision(&sdk, &resources, &prefix)
            .await
            .unwrap_or_else(|e| panic!("cannot provision in moto at {url}: {e}"));
        AwsWorld::on(Stack { sdk, resources }, batch_size).await
    }

    async fn on(stack: Stack, batch_size: usize) -> AwsWorld {
        let sf = SalesforceSim::start(SalesforceSimConfig::default())
            .await
            .expect("salesforce simulator");
        let gz = GenesysSim::start(GenesysSimConfig::default())
            .await
            .expect("genesys simulator");
        let meter = CapacityMeter::default();
        let config = aws_sdk_dynamodb::config::Builder::from(&stack.sdk)
            .interceptor(meter.clone())
            .build();
        let store = DynamoDbStore::new(
            aws_sdk_dynamodb::Client::from_conf(config),
            stack.resources.table.clone(),
        );
        let mapping = Mapping::default_mapping();
        let mut sf_cfg = SalesforceConfig::new(sf.url(), sf.client_id(), sf.client_secret());
        sf_cfg.fields = mapping.salesforce_fields();
        let mut gz_cfg = GenesysConfig::new(gz.url(), gz.client_id(), gz.client_secret());
        gz_cfg.requests_per_minute = None;
        let queue = Arc::new(InProcessQueue::new());
        let settings = Settings {
            batch_size,
            ..Settings::default()
        };
        let integration = Integration::new(
            mapping,
            Arc::new(SalesforceSystem::new(sf_cfg).expect("salesforce config")),
            Arc::new(GenesysSystem::new(gz_cfg).expect("genesys config")),
            Arc::new(store),
            queue.clone(),
            Arc::new(SystemClock),
            settings,
        );
        AwsWorld {
            sf,
            gz,
            stack,
            meter,
            integration,
            queue,
        }
    }

    /// One `sync --once` cycle over DynamoDB.
    pub async fn cycle(&self) -> CycleOutcome {
        run_cycle(&self.integration, &self.queue, &LogAlerter, |_, _| {})
            .await
            .expect("sync cycle")
    }

    /// Stores both simulators' credentials in Secrets Manager, as a deployment holds them, and
    /// returns the variables a function reads (`template.yaml`'s plus the secret ARNs).
    pub async fn function_variables(&self) -> HashMap<String, String> {
        let prefix = &self.stack.resources.table;
        let sf_arn = self.stack.create_secret(
            &format!("{prefix}-salesforce"),
            &json!({"client_id": self.sf.client_id(), "client_secret": self.sf.client_secret(), "login_url": self.sf.url()}),
        )
        .await;
        let gz_arn = self.stack.create_secret(
            &format!("{prefix}-genesys"),
            &json!({"client_id": self.gz.client_id(), "client_secret": self.gz.client_secret(), "api_base": self.gz.url()}),
        )
        .await;
        let mut vars: HashMap<String, String> =
            self.stack.resources.variables().into_iter().collect();
        vars.insert(SALESFORCE_SECRET_ARN.into(), sf_arn);
        vars.insert(GENESYS_SECRET_ARN.into(), gz_arn);
        vars
    }
}

/// A moto server started by a harness, on a free loopback port, without moto's registry of
/// model objects (`bench/moto_untracked.py`: with it, every TransactWriteItems keeps a copy of
/// the whole table alive). Stopped when dropped.
pub struct Moto {
    child: Child,
    url: String,
}

impl Moto {
    /// Starts it with the interpreter of the venv `infra/moto start` installs; `None` (after a
    /// message) when that venv is missing.
    pub async fn start() -> Option<Moto> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let python = root.join(".venv-moto/bin/python3");
        if !python.exists() {
            eprintln!(
                "*** SKIPPED: {} is missing; run `infra/moto start` once to install moto ***",
                python.display()
            );
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(python)
            .arg("-c")
            .arg(include_str!("../moto_untracked.py"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto server");
        let moto = Moto {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = reqwest::Client::new();
        while client
            .get(format!("{}/moto-api/", moto.url))
            .send()
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "moto did not start in 30 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Some(moto)
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}
