//! `sync --sandbox`: both simulators in-process, seeded with sample data, synced twice — the
//! second cycle shows that a sync with no edits writes nothing.

use crate::report;
use crate::wiring::{self, Setup};
use anyhow::Context;
use contact_sync_connectors::environment::ConnectionSettings;
use contact_sync_connectors::{GenesysConfig, SalesforceConfig};
use contact_sync_simulators::{GenesysSim, GenesysSimConfig, SalesforceSim, SalesforceSimConfig};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub fn state_file(dir: &Path) -> PathBuf {
    dir.join("sandbox.redb")
}

pub async fn run(json: bool) -> anyhow::Result<ExitCode> {
    let sf = SalesforceSim::start(SalesforceSimConfig::default())
        .await
        .context("cannot start the Salesforce simulator")?;
    let gz = GenesysSim::start(GenesysSimConfig::default())
        .await
        .context("cannot start the Genesys simulator")?;
    let seeded = contact_sync_simulators::sandbox::seed(&sf, &gz);
    let dir = contact_sync_connectors::environment::state_dir_from_env();
    let file = state_file(&dir);
    if file.exists() {
        std::fs::remove_file(&file)
            .with_context(|| format!("cannot reset the sandbox state {}", file.display()))?;
    }
    let setup = Setup {
        connections: ConnectionSettings {
            salesforce: SalesforceConfig::new(sf.url(), sf.client_id(), sf.client_secret()),
            genesys: GenesysConfig::new(gz.url(), gz.client_id(), gz.client_secret()),
        },
        mapping: contact_sync_connectors::environment::mapping_from_env()?,
        state_file: file.clone(),
    };
    let integration = setup.integration()?;
    if !json {
        println!(
            "sandbox: Salesforce simulator at {} with {} contacts, Genesys simulator at {} with {} contacts ({} people on both)",
            sf.url(),
            seeded.salesforce,
            gz.url(),
            seeded.genesys,
            seeded.overlapping
        );
    }
    let mut summaries = Vec::new();
    let mut code = ExitCode::SUCCESS;
    for (cycle, title) in [(1, "first sync"), (2, "second sync, no edits in between")] {
        sf.reset_counters();
        gz.reset_counters();
        let outcome = wiring::cycle(&integration).await?;
        let (sfc, gzc) = (sf.counters(), gz.counters());
        if json {
            let mut summary = report::summary_json(&outcome);
            summary["cycle"] = cycle.into();
            summary["api_requests"] = serde_json::json!({
                "salesforce": {"reads": sfc.reads, "writes": sfc.writes, "auth": sfc.auth},
                "genesys": {"reads": gzc.reads, "writes": gzc.writes, "auth": gzc.auth},
            });
            summaries.push(summary);
        } else {
            println!("\n== {title}");
            report::print_cycle(&outcome, false)?;
            println!(
                "  API requests: Salesforce {} reads, {} writes; Genesys {} reads, {} writes",
                sfc.reads, sfc.writes, gzc.reads, gzc.writes
            );
        }
        if outcome.stats.failed > 0 {
            code = report::exit_code(&outcome);
        }
    }
    if json {
        writeln!(
            std::io::stdout().lock(),
            "{}",
            serde_json::Value::Array(summaries)
        )?;
    } else {
        println!(
            "\nstate: {}\nsee the conflicts: contact-sync conflicts list --sandbox",
            file.display()
        );
    }
    Ok(code)
}
