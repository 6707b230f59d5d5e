//! `--sandbox`: both simulators in-process instead of real orgs, with their data kept in the
//! state directory between commands, so a user can dry-run, sync, resolve a conflict and sync
//! again against the same sandbox.
//!
//! - `<state dir>/sandbox-orgs.json`: both simulated orgs (every contact, the external
//!   sources, the id sequences), written after each sync that may have changed them.
//! - `<state dir>/sandbox.redb`: the sandbox's sync state (pairs, watermarks, conflicts).
//!
//! The first command seeds the orgs with the sample people; `--fresh` starts over (both files
//! are replaced). A sandbox store without its orgs file describes records that no longer
//! exist, so it is removed when the orgs are seeded.

use anyhow::Context;
use contact_sync_connectors::environment::ConnectionSettings;
use contact_sync_connectors::{GenesysConfig, SalesforceConfig};
use contact_sync_simulators::sandbox::SeedReport;
use contact_sync_simulators::{GenesysSim, GenesysSimConfig, SalesforceSim, SalesforceSimConfig};
use std::path::{Path, PathBuf};

pub fn state_file(dir: &Path) -> PathBuf {
    dir.join("sandbox.redb")
}

pub fn orgs_file(dir: &Path) -> PathBuf {
    dir.join("sandbox-orgs.json")
}

/// The running sandbox orgs.
pub struct Sandbox {
    pub salesforce: SalesforceSim,
    pub genesys: GenesysSim,
    /// Set when this command seeded the orgs (first use, or `--fresh`).
    pub seeded: Option<SeedReport>,
    orgs_file: PathBuf,
}

impl Sandbox {
    /// Starts both simulators with the sandbox's data: the kept orgs, or freshly seeded ones
    /// (on first use, or when `fresh`). `read_only` (check, dry run) never removes a stale
    /// sandbox state.
    pub async fn open(dir: &Path, fresh: bool, read_only: bool) -> anyhow::Result<Sandbox> {
        let salesforce = SalesforceSim::start(SalesforceSimConfig::default())
            .await
            .context("cannot start the Salesforce simulator")?;
        let genesys = GenesysSim::start(GenesysSimConfig::default())
            .await
            .context("cannot start the Genesys simulator")?;
        let orgs_file = orgs_file(dir);
        let kept = if fresh || !orgs_file.exists() {
            None
        } else {
            let text = std::fs::read_to_string(&orgs_file)
                .with_context(|| format!("cannot read {}", orgs_file.display()))?;
            Some(
                serde_json::from_str::<serde_json::Value>(&text)
                    .with_context(|| format!("{} is not a sandbox", orgs_file.display()))?,
            )
        };
        let seeded = match kept {
            Some(orgs) => {
                let broken = |e: String| {
                    anyhow::anyhow!("{}: {e} (start over with --fresh)", orgs_file.display())
                };
                salesforce.restore(&orgs["salesforce"]).map_err(broken)?;
                genesys.restore(&orgs["genesys"]).map_err(broken)?;
                None
            }
            None => {
                let store = state_file(dir);
                if store.exists() && !read_only {
                    std::fs::remove_file(&store).with_context(|| {
                        format!("cannot reset the sandbox state {}", store.display())
                    })?;
                }
                Some(contact_sync_simulators::sandbox::seed(
                    &salesforce,
                    &genesys,
                ))
            }
        };
        Ok(Sandbox {
            salesforce,
            genesys,
            seeded,
            orgs_file,
        })
    }

    /// Settings that point the connectors at the simulators.
    pub fn connections(&self) -> ConnectionSettings {
        let (sf, gz) = (&self.salesforce, &self.genesys);
        ConnectionSettings {
            salesforce: SalesforceConfig::new(sf.url(), sf.client_id(), sf.client_secret()),
            genesys: GenesysConfig::new(gz.url(), gz.client_id(), gz.client_secret()),
        }
    }

    /// Keeps both orgs' data for the next command (written aside, then renamed into place).
    pub fn save(&self) -> anyhow::Result<()> {
        let orgs = serde_json::json!({
            "salesforce": self.salesforce.snapshot(),
            "genesys": self.genesys.snapshot(),
        });
        if let Some(dir) = self.orgs_file.parent() {
            // Owner-only, like the store's directory: the orgs file holds people's values.
            let mut builder = std::fs::DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
            builder
                .create(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let partial = self.orgs_file.with_extension("json.partial");
        std::fs::write(&partial, orgs.to_string())
            .with_context(|| format!("cannot write {}", partial.display()))?;
        std::fs::rename(&partial, &self.orgs_file)
            .with_context(|| format!("cannot write {}", self.orgs_file.display()))?;
        Ok(())
    }
}

/// `contact-sync sandbox serve`: both simulators on loopback for other processes (the Lambda
/// binaries under `cargo lambda watch`, the bootstrap that writes their secrets). Prints the
/// connection variables as `NAME=value` lines on stdout, serves until Ctrl-C, then keeps the
/// orgs for the next command.
pub async fn serve(dir: &Path, fresh: bool) -> anyhow::Result<std::process::ExitCode> {
    use contact_sync_connectors::environment as env;
    use std::io::Write;
    let sandbox = Sandbox::open(dir, fresh, false).await?;
    let (sf, gz) = (&sandbox.salesforce, &sandbox.genesys);
    let lines = [
        (env::SALESFORCE_LOGIN_URL, sf.url()),
        (env::SALESFORCE_CLIENT_ID, sf.client_id().to_string()),
        (
            env::SALESFORCE_CLIENT_SECRET,
            sf.client_secret().to_string(),
        ),
        (env::GENESYS_API_BASE, gz.url()),
        (env::GENESYS_LOGIN_BASE, gz.url()),
        (env::GENESYS_CLIENT_ID, gz.client_id().to_string()),
        (env::GENESYS_CLIENT_SECRET, gz.client_secret().to_string()),
    ];
    let mut out = std::io::stdout().lock();
    for (name, value) in lines {
        writeln!(out, "{name}={value}")?;
    }
    out.flush()?;
    drop(out);
    eprintln!("sandbox simulators serving on loopback; Ctrl-C stops them and keeps their data");
    tokio::signal::ctrl_c()
        .await
        .context("cannot wait for Ctrl-C")?;
    sandbox.save()?;
    Ok(std::process::ExitCode::SUCCESS)
}
