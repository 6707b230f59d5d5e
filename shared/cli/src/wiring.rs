//! Assembling an integration for the CLI: settings from the environment, the mapping, the
//! embedded store in the state directory, and the in-process queue.

use anyhow::anyhow;
use contact_sync_connectors::environment::{self, ConnectionSettings};
use contact_sync_engine::mapping::Mapping;
use contact_sync_pipeline::Integration;
use contact_sync_pipeline::cycle::{CycleOutcome, run_cycle};
use contact_sync_pipeline::notify::LogAlerter;
use contact_sync_pipeline::queue::InProcessQueue;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Everything read from the environment.
pub struct Setup {
    pub connections: ConnectionSettings,
    pub mapping: Mapping,
    pub state_file: PathBuf,
}

/// An integration on the in-process queue.
pub type Local = (Integration, Arc<InProcessQueue>);

impl Setup {
    pub fn from_env() -> anyhow::Result<Setup> {
        let mapping = environment::mapping_from_env()?;
        let connections = ConnectionSettings::from_env().map_err(|e| anyhow!("{e}"))?;
        Ok(Setup {
            connections,
            mapping,
            state_file: state_file(&environment::state_dir_from_env()),
        })
    }

    /// Builds the integration (no network yet: systems authenticate on first use).
    pub fn integration(self) -> anyhow::Result<Local> {
        Ok(environment::local_integration(
            self.connections,
            self.mapping,
            &self.state_file,
        )?)
    }
}

/// Runs one cycle; conflict digests go to the log.
pub async fn cycle((integration, queue): &Local) -> anyhow::Result<CycleOutcome> {
    Ok(run_cycle(integration, queue, &LogAlerter, |done, total| {
        tracing::info!(done, total, "batches reconciled");
    })
    .await?)
}

pub fn state_file(dir: &Path) -> PathBuf {
    dir.join("state.redb")
}
