//! `contact-sync forget --salesforce-id ID | --genesys-id ID`: erases a person's values from
//! the store, on either backend (see `contact_sync_pipeline::erasure`).

use crate::wiring::{self, Target};
use anyhow::Context;
use contact_sync_engine::Side;
use contact_sync_pipeline::erasure::{self, ErasureError};
use std::io::Write;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("record").required(true).args(["salesforce_id", "genesys_id"])))]
pub struct ForgetArgs {
    /// The person's Salesforce contact id.
    #[arg(long, value_name = "ID")]
    pub salesforce_id: Option<String>,
    /// The person's Genesys external contact id.
    #[arg(long, value_name = "ID")]
    pub genesys_id: Option<String>,
    /// Use the sandbox's state instead of the real one.
    #[arg(long)]
    pub sandbox: bool,
    /// Print what was erased as JSON.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(args: ForgetArgs) -> anyhow::Result<ExitCode> {
    let (side, record_id) = match (&args.salesforce_id, &args.genesys_id) {
        (Some(id), _) => (Side::Salesforce, id.trim().to_string()),
        (None, Some(id)) => (Side::Genesys, id.trim().to_string()),
        (None, None) => anyhow::bail!("choose --salesforce-id or --genesys-id"),
    };
    if record_id.is_empty() {
        anyhow::bail!("the record id is empty");
    }
    let mapping = crate::mapping::for_backend(None).await?;
    // Not writable: a state that does not exist yet is not created (the id is then unknown).
    let store = wiring::store(Target::from_flag(args.sandbox), false).await?;
    let done = erasure::forget(
        &*store,
        &mapping.integration,
        side,
        &record_id,
        chrono::Utc::now(),
    )
    .await
    .map_err(|e| match e {
        ErasureError::Unknown { .. } => anyhow::anyhow!(
            "{e}; check the id (`contact-sync conflicts list` shows the ids the store knows)"
        ),
        other => anyhow::Error::new(other),
    })
    .with_context(|| format!("forget {side} record {record_id}"))?;
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string(&done)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    let ids = |id: &Option<String>| id.clone().unwrap_or_else(|| "-".into());
    writeln!(
        out,
        "forgotten: {side} record {record_id} (pair {}, Salesforce {}, Genesys {})",
        ids(&done.pair_id),
        ids(&done.salesforce_id),
        ids(&done.genesys_id)
    )?;
    writeln!(
        out,
        "  pair base snapshot and chosen values: {}",
        if done.pair_values_erased {
            "erased"
        } else if done.pair_id.is_some() {
            "none held"
        } else {
            "no pair"
        }
    )?;
    writeln!(
        out,
        "  audit entries and review items about them: {} found, {} held values (erased)",
        done.entries_found, done.entries_erased
    )?;
    writeln!(
        out,
        "  recorded as audit entry {} (ids only)",
        done.audit_id
    )?;
    writeln!(
        out,
        "the records in Salesforce and Genesys are untouched: while one exists, the next sync stores its current values again"
    )?;
    Ok(ExitCode::SUCCESS)
}
