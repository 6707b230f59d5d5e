//! The one place where the CLI opens its state and assembles an integration: the mapping
//! (with a `--direction` override), the store (embedded file in the state directory, the
//! sandbox's or the real one), and both systems over the in-process queue. Commands take the
//! store as `Arc<dyn SyncStore>`, so another backend plugs in here.

use crate::backend::{Backend, BackendKind};
use crate::run_lock::RunLock;
use crate::sandbox;
use crate::systems::Systems;
use anyhow::{Context, anyhow, bail};
use contact_sync_connectors::environment::{self, ConnectionSettings};
use contact_sync_engine::mapping::{DEFAULT_MAPPING_YAML, Mapping};
use contact_sync_pipeline::cycle::ONE_PROCESS_RUN_PREFIX;
use contact_sync_pipeline::queue::InProcessQueue;
use contact_sync_pipeline::store::SyncStore;
use contact_sync_pipeline::store::embedded::EmbeddedStore;
use contact_sync_pipeline::store::memory::MemoryStore;
use contact_sync_pipeline::{Integration, Settings, SystemClock};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Which state a command works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The orgs configured in the environment; state in `<state dir>/state.redb`.
    Real,
    /// The sandbox simulators; state in `<state dir>/sandbox.redb`.
    Sandbox,
}

impl Target {
    pub fn from_flag(sandbox: bool) -> Target {
        if sandbox {
            Target::Sandbox
        } else {
            Target::Real
        }
    }

    /// The store file of this target.
    pub fn state_file(self) -> PathBuf {
        let dir = environment::state_dir_from_env();
        match self {
            Target::Real => state_file(&dir),
            Target::Sandbox => sandbox::state_file(&dir),
        }
    }
}

pub fn state_file(dir: &Path) -> PathBuf {
    dir.join("state.redb")
}

/// `--direction`: overrides the mapping's `mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Direction {
    /// Salesforce → Genesys only (`mode: one_way`): nothing is ever written to Salesforce.
    OneWay,
    /// As each field's `direction` says (`mode: both`).
    Both,
}

/// The mapping named by `CONTACT_SYNC_CONFIG` (or the built-in one), with its `mode` replaced
/// when `direction` is given. The file is loaded again with the new mode, so one-way goes
/// through the same validation (and the same writer-less integration) as `mode: one_way`:
/// for one-way, each field's `direction` and `policy` are dropped (everything flows
/// Salesforce → Genesys; a field that flows only Genesys → Salesforce is refused); for both,
/// fields without a direction keep flowing Salesforce → Genesys.
pub fn mapping(direction: Option<Direction>) -> anyhow::Result<Mapping> {
    let Some(direction) = direction else {
        return Ok(environment::mapping_from_env()?);
    };
    let (yaml, source) =
        match std::env::var_os(environment::CONTACT_SYNC_CONFIG).filter(|v| !v.is_empty()) {
            Some(path) => {
                let path = PathBuf::from(path);
                let text = std::fs::read_to_string(&path).with_context(|| {
                    format!(
                        "{}: cannot read {}",
                        environment::CONTACT_SYNC_CONFIG,
                        path.display()
                    )
                })?;
                (text, path.display().to_string())
            }
            None => (
                DEFAULT_MAPPING_YAML.to_string(),
                "built-in mapping".to_string(),
            ),
        };
    with_direction(&yaml, &source, direction)
}

/// A mapping's YAML loaded with its mode replaced (see [`mapping`]).
pub(crate) fn with_direction(
    yaml: &str,
    source: &str,
    direction: Direction,
) -> anyhow::Result<Mapping> {
    let mut doc: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(yaml).with_context(|| format!("{source}: not YAML"))?;
    let mode = match direction {
        Direction::OneWay => "one_way",
        Direction::Both => "both",
    };
    let top = doc
        .as_mapping_mut()
        .ok_or_else(|| anyhow!("{source}: the mapping is not a YAML mapping"))?;
    top.insert("mode".into(), mode.into());
    let fields = top
        .get_mut("fields")
        .and_then(serde_yaml_ng::Value::as_sequence_mut)
        .into_iter()
        .flatten()
        .filter_map(serde_yaml_ng::Value::as_mapping_mut);
    for field in fields {
        let derived = field.contains_key("template") || field.contains_key("when");
        if derived {
            continue;
        }
        let name = field
            .get("name")
            .and_then(serde_yaml_ng::Value::as_str)
            .unwrap_or("?")
            .to_string();
        match direction {
            // Every field flows Salesforce → Genesys and Salesforce always wins: the
            // fields' own directions (both / salesforce_to_genesys) and policies go.
            Direction::OneWay => {
                let flows = field
                    .get("direction")
                    .and_then(serde_yaml_ng::Value::as_str)
                    .unwrap_or("salesforce_to_genesys");
                if flows == "genesys_to_salesforce" {
                    bail!(
                        "{source}: field `{name}` flows genesys_to_salesforce, which --direction one-way cannot do (remove the field, or sync with --direction both)"
                    );
                }
                field.remove("direction");
                field.remove("policy");
            }
            // A one-way file's fields keep flowing Salesforce → Genesys unless they say
            // otherwise.
            Direction::Both => {
                if !field.contains_key("direction") {
                    field.insert("direction".into(), "salesforce_to_genesys".into());
                }
            }
        }
    }
    let yaml = serde_yaml_ng::to_string(&doc)?;
    Mapping::from_yaml(&yaml, &format!("{source} with --direction {mode}"))
        .map_err(|e| anyhow!("{e}"))
}

/// The target's store: the deployment's table when `CONTACT_SYNC_BACKEND=aws` (see
/// [`crate::backend`]), else the embedded file. `writable: false` never creates a local state
/// that does not exist yet (an empty in-memory store stands in for it).
pub async fn store(target: Target, writable: bool) -> anyhow::Result<Arc<dyn SyncStore>> {
    if BackendKind::from_env()? == BackendKind::Aws {
        if target == Target::Sandbox {
            bail!("--sandbox uses the local backend; unset CONTACT_SYNC_BACKEND (it is `aws`)");
        }
        return Ok(Backend::open(false).await?.store);
    }
    let file = target.state_file();
    if !writable && !file.exists() {
        return Ok(Arc::new(MemoryStore::new()));
    }
    let store = EmbeddedStore::open(&file)
        .with_context(|| format!("cannot open the state at {}", file.display()))?;
    Ok(Arc::new(store))
}

/// The run lock of the target's local state, taken without waiting (see [`RunLock`]); `None`
/// on the deployed backend, whose state other processes share (Lambdas, other machines): a
/// lock on this machine proves nothing there.
pub fn run_lock(target: Target) -> anyhow::Result<Option<RunLock>> {
    if BackendKind::from_env()? == BackendKind::Aws {
        return Ok(None);
    }
    Ok(Some(RunLock::acquire(&target.state_file())?))
}

/// The store of a sync run: as [`store`]; and on the local state, when the run may write and
/// holds the run lock (`lock`), every lease a one-process run left in it is ended first. The
/// lock proves that no other run is alive on this state (and only one-process runs use a
/// local state), so such a lease belongs to a run that died (`kill -9`, out of memory): its
/// pairs are worked on now, not after the lease lifetime. Leases on the deployed backend are
/// never taken over.
pub async fn store_for_run(
    target: Target,
    writable: bool,
    lock: Option<&RunLock>,
) -> anyhow::Result<Arc<dyn SyncStore>> {
    if lock.is_none() || !writable || BackendKind::from_env()? == BackendKind::Aws {
        return store(target, writable).await;
    }
    let file = target.state_file();
    let store = EmbeddedStore::open(&file)
        .with_context(|| format!("cannot open the state at {}", file.display()))?;
    let ended = store
        .end_leases_held_by(ONE_PROCESS_RUN_PREFIX, chrono::Utc::now())
        .await
        .with_context(|| format!("cannot take over the leases in {}", file.display()))?;
    if ended > 0 {
        tracing::warn!(
            leases = ended,
            "took over the leases of an earlier run that ended without releasing them"
        );
    }
    Ok(Arc::new(store))
}

/// An integration of one run.
pub struct Wired {
    pub integration: Integration,
    pub queue: Arc<InProcessQueue>,
    pub systems: Systems,
}

/// Both systems for `mapping`, adapted to the Salesforce org (State and Country picklists:
/// [`environment::systems_for_org`]), over `store` and a fresh in-process queue; `dry` makes
/// the systems read-only (no write call can reach either of them).
pub async fn integration(
    connections: ConnectionSettings,
    mut mapping: Mapping,
    store: Arc<dyn SyncStore>,
    dry: bool,
) -> anyhow::Result<Wired> {
    let (salesforce, genesys) = environment::systems_for_org(connections, &mut mapping).await?;
    let systems = Systems::new(salesforce, genesys);
    let (sf, gz) = systems.ports(dry);
    let queue = Arc::new(InProcessQueue::new());
    let integration = Integration::new(
        mapping,
        sf,
        gz,
        store,
        queue.clone(),
        Arc::new(SystemClock),
        Settings::default(),
    );
    Ok(Wired {
        integration,
        queue,
        systems,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use contact_sync_engine::Side;

    #[test]
    fn one_way_drops_the_fields_directions_and_policies_and_both_restores_directions() {
        // GIVEN the built-in mapping (every field `direction: both` with a policy)
        // WHEN loaded one-way
        let one_way =
            with_direction(DEFAULT_MAPPING_YAML, "built-in", Direction::OneWay).expect("one-way");
        // THEN it is a one-way mapping where every field flows Salesforce → Genesys
        assert!(one_way.is_one_way());
        assert!(
            one_way
                .fields
                .iter()
                .all(|f| !f.direction.allows(Side::Genesys))
        );

        // GIVEN a one-way file without directions WHEN loaded both ways
        let file = "version: 1\nmode: one_way\nfields:\n  - name: title\n    salesforce: Title\n    genesys: title\n";
        let both = with_direction(file, "f.yaml", Direction::Both).expect("both");
        // THEN the field keeps flowing Salesforce → Genesys, now in mode both
        assert!(!both.is_one_way());
        assert!(!both.fields[0].direction.allows(Side::Genesys));
    }

    #[test]
    fn one_way_refuses_a_field_that_only_flows_to_salesforce() {
        // GIVEN a field that flows Genesys → Salesforce only
        let file = "version: 1\nfields:\n  - name: title\n    salesforce: Title\n    genesys: title\n    direction: genesys_to_salesforce\n";
        // WHEN loaded one-way THEN the field is named with the way out
        let e = with_direction(file, "f.yaml", Direction::OneWay).expect_err("refused");
        let text = e.to_string();
        assert!(
            text.contains("field `title`") && text.contains("--direction both"),
            "{text}"
        );
    }
}
