//! Test harness: both simulators, the default (or a given) mapping, a memory store and the
//! in-process queue, wired into one integration — the same pipeline the CLI runs.

use contact_sync_connectors::{GenesysConfig, GenesysSystem, SalesforceConfig, SalesforceSystem};
use contact_sync_engine::mapping::Mapping;
use contact_sync_pipeline::cycle::{CycleOutcome, run_cycle};
use contact_sync_pipeline::notify::LogAlerter;
use contact_sync_pipeline::queue::InProcessQueue;
use contact_sync_pipeline::store::SyncStore;
use contact_sync_pipeline::store::memory::MemoryStore;
use contact_sync_pipeline::{Integration, PipelineError, Settings, SystemClock};
use contact_sync_simulators::{GenesysSim, GenesysSimConfig, SalesforceSim, SalesforceSimConfig};
use serde_json::Value;
use std::sync::Arc;

pub struct World {
    pub sf: SalesforceSim,
    pub gz: GenesysSim,
    pub integration: Integration,
    pub queue: Arc<InProcessQueue>,
    pub store: Arc<MemoryStore>,
}

impl World {
    pub async fn new() -> World {
        World::with(Mapping::default_mapping(), SalesforceSimConfig::default()).await
    }

    pub async fn with(mapping: Mapping, sf_config: SalesforceSimConfig) -> World {
        // No client-side Genesys rate limit: these tests are about sync behaviour (the limit
        // has its own tests in faults.rs).
        World::build(
            mapping,
            sf_config,
            GenesysSimConfig::default(),
            |_: &mut SalesforceConfig, gz: &mut GenesysConfig| gz.requests_per_minute = None,
        )
        .await
    }

    /// Both simulators with these settings, and the clients' settings adjusted by `tune`.
    pub async fn build(
        mapping: Mapping,
        sf_config: SalesforceSimConfig,
        gz_config: GenesysSimConfig,
        tune: impl FnOnce(&mut SalesforceConfig, &mut GenesysConfig),
    ) -> World {
        World::assemble(mapping, sf_config, gz_config, tune, false).await
    }

    /// Like [`World::with`], with the mapping adapted to the simulated org at start-up as the
    /// CLI and the functions do (State and Country picklists: one describe call).
    pub async fn adapted_to_org(mapping: Mapping, sf_config: SalesforceSimConfig) -> World {
        World::assemble(
            mapping,
            sf_config,
            GenesysSimConfig::default(),
            |_: &mut SalesforceConfig, gz: &mut GenesysConfig| gz.requests_per_minute = None,
            true,
        )
        .await
    }

    async fn assemble(
        mut mapping: Mapping,
        sf_config: SalesforceSimConfig,
        gz_config: GenesysSimConfig,
        tune: impl FnOnce(&mut SalesforceConfig, &mut GenesysConfig),
        adapt: bool,
    ) -> World {
        let sf = SalesforceSim::start(sf_config)
            .await
            .expect("salesforce simulator");
        let gz = GenesysSim::start(gz_config)
            .await
            .expect("genesys simulator");
        if adapt {
            let probe = SalesforceSystem::new(SalesforceConfig::new(
                sf.url(),
                sf.client_id(),
                sf.client_secret(),
            ))
            .expect("salesforce config");
            contact_sync_connectors::environment::adapt_to_org(&probe, &mut mapping)
                .await
                .expect("describe");
        }
        let mut sf_cfg = SalesforceConfig::new(sf.url(), sf.client_id(), sf.client_secret());
        sf_cfg.fields = mapping.salesforce_fields();
        let mut gz_cfg = GenesysConfig::new(gz.url(), gz.client_id(), gz.client_secret());
        tune(&mut sf_cfg, &mut gz_cfg);
        let store = Arc::new(MemoryStore::new());
        let queue = Arc::new(InProcessQueue::new());
        let integration = Integration::new(
            mapping,
            Arc::new(SalesforceSystem::new(sf_cfg).expect("salesforce config")),
            Arc::new(GenesysSystem::new(gz_cfg).expect("genesys config")),
            store.clone(),
            queue.clone(),
            Arc::new(SystemClock),
            Settings::default(),
        );
        World {
            sf,
            gz,
            integration,
            queue,
            store,
        }
    }

    /// One `sync --once` cycle.
    pub async fn sync(&self) -> CycleOutcome {
        self.try_sync().await.expect("sync cycle")
    }

    /// One cycle, which may fail as a whole.
    pub async fn try_sync(&self) -> Result<CycleOutcome, PipelineError> {
        run_cycle(&self.integration, &self.queue, &LogAlerter, |_, _| {}).await
    }

    /// The integration a later process would build: new clients (default settings adjusted
    /// by `tune`) for the same simulators, over the same store and queue.
    pub fn reconnect(
        &self,
        tune: impl FnOnce(&mut SalesforceConfig, &mut GenesysConfig),
    ) -> Integration {
        let mapping = (*self.integration.mapping).clone();
        let mut sf_cfg =
            SalesforceConfig::new(self.sf.url(), self.sf.client_id(), self.sf.client_secret());
        sf_cfg.fields = mapping.salesforce_fields();
        let mut gz_cfg =
            GenesysConfig::new(self.gz.url(), self.gz.client_id(), self.gz.client_secret());
        tune(&mut sf_cfg, &mut gz_cfg);
        Integration::new(
            mapping,
            Arc::new(SalesforceSystem::new(sf_cfg).expect("salesforce config")),
            Arc::new(GenesysSystem::new(gz_cfg).expect("genesys config")),
            self.store.clone(),
            self.queue.clone(),
            Arc::new(SystemClock),
            self.integration.settings.clone(),
        )
    }

    /// One cycle of another integration over this world's queue (see [`World::reconnect`]).
    pub async fn sync_with(&self, integration: &Integration) -> CycleOutcome {
        run_cycle(integration, &self.queue, &LogAlerter, |_, _| {})
            .await
            .expect("sync cycle")
    }

    /// Waits until real time has passed every stamp either simulator gave. A simulator stamps
    /// writes at least 1 ms apart, so a burst of writes runs its clock ahead of real time, which
    /// a real system's does not; a poll started before real time catches up caps its watermark
    /// at its read's start and reads those records again. Benchmarks that count calls per
    /// change wait here before each measured cycle.
    pub async fn wait_past_stamps(&self) {
        let newest = self
            .sf
            .all()
            .iter()
            .filter_map(|c| record_stamp(c, "SystemModstamp"))
            .chain(
                self.gz
                    .all()
                    .iter()
                    .filter_map(|c| record_stamp(c, "modifyDate")),
            )
            .max();
        if let Some(ahead) = newest.and_then(|n| (n - chrono::Utc::now()).to_std().ok()) {
            tokio::time::sleep(ahead + std::time::Duration::from_millis(5)).await;
        }
    }

    /// Resets both simulators' request counters.
    pub fn reset_counters(&self) {
        self.sf.reset_counters();
        self.gz.reset_counters();
    }

    /// The Genesys contact linked (externalIds) to a Salesforce Id.
    pub fn genesys_linked_to(&self, sf_id: &str) -> Vec<Value> {
        genesys_linked_to(&self.gz, sf_id)
    }

    /// The Salesforce contacts with this (case-insensitive) email.
    pub fn salesforce_with_email(&self, email: &str) -> Vec<Value> {
        self.sf
            .all()
            .into_iter()
            .filter(|c| {
                c["Email"]
                    .as_str()
                    .is_some_and(|e| e.eq_ignore_ascii_case(email))
            })
            .collect()
    }

    pub async fn open_conflicts(&self) -> usize {
        self.store
            .conflicts(&self.integration.name, true)
            .await
            .expect("conflicts")
            .len()
    }
}

/// A record's stamp field (`SystemModstamp` in Salesforce's `+0000` form, `modifyDate` in
/// RFC 3339) as a time; `None` when absent or unreadable.
pub fn record_stamp(record: &Value, key: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    let raw = record[key].as_str()?;
    chrono::DateTime::parse_from_rfc3339(raw)
        .or_else(|_| chrono::DateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
}

/// The Genesys contacts whose `externalIds` carry a Salesforce Id.
pub fn genesys_linked_to(gz: &GenesysSim, sf_id: &str) -> Vec<Value> {
    gz.all()
        .into_iter()
        .filter(|c| {
            c["externalIds"]
                .as_array()
                .is_some_and(|ids| ids.iter().any(|e| e["value"] == sf_id))
        })
        .collect()
}
