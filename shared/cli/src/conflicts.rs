//! `contact-sync conflicts list | show | resolve`: the audit of conflicts and the held fields a
//! person settles.

use crate::report;
use crate::wiring::{self, Target};
use contact_sync_engine::Side;
use contact_sync_pipeline::review::{Decision, resolve};
use std::io::Write;
use std::process::ExitCode;

#[derive(Debug, clap::Subcommand)]
pub enum ConflictsCommand {
    /// List conflicts and review items, newest first.
    List {
        /// Only items waiting for a person.
        #[arg(long)]
        open: bool,
        /// Read the sandbox's state instead of the real one.
        #[arg(long)]
        sandbox: bool,
        /// Print JSON lines.
        #[arg(long)]
        json: bool,
        /// With --json: include the stored field values (personal data).
        #[arg(long, requires = "json")]
        values: bool,
    },
    /// Print one item in full: pair, both records' ids, field, policy, reason, status, when.
    Show {
        /// The item's id (last column of `conflicts list`).
        id: String,
        /// Read the sandbox's state instead of the real one.
        #[arg(long)]
        sandbox: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Also print the values the store keeps for it (base, Salesforce, Genesys: personal
        /// data).
        #[arg(long)]
        values: bool,
    },
    /// Settle a held field (manual conflict or unmapped value): the choice is stored, the item
    /// closed, and the next sync writes the chosen value (audited as `chosen`).
    #[command(group(clap::ArgGroup::new("choice").required(true).args(["side", "value", "clear"])))]
    Resolve {
        /// The review item's id (last column of `conflicts list --open`).
        id: String,
        /// Keep the value this side holds.
        #[arg(long, value_parser = ["salesforce", "genesys"])]
        side: Option<String>,
        /// Write this value on both sides.
        #[arg(long)]
        value: Option<String>,
        /// Clear the field on both sides.
        #[arg(long)]
        clear: bool,
        /// Use the sandbox's state instead of the real one.
        #[arg(long)]
        sandbox: bool,
    },
}

pub async fn run(command: ConflictsCommand) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    match command {
        ConflictsCommand::List {
            open,
            sandbox,
            json,
            values,
        } => {
            let mapping = crate::mapping::for_backend(None).await?;
            let store = wiring::store(Target::from_flag(sandbox), false).await?;
            let conflicts = store.conflicts(&mapping.integration, open).await?;
            report::print_conflicts(&mut out, &conflicts, json, values)?;
        }
        ConflictsCommand::Show {
            id,
            sandbox,
            json,
            values,
        } => {
            let store = wiring::store(Target::from_flag(sandbox), false).await?;
            let Some(item) = store.conflict(&id).await? else {
                anyhow::bail!("no conflict `{id}` (list them with `contact-sync conflicts list`)");
            };
            if json {
                writeln!(out, "{}", report::conflict_json(&item, values))?;
            } else {
                report::print_conflict(&mut out, &item, values)?;
            }
        }
        ConflictsCommand::Resolve {
            id,
            side,
            value,
            clear,
            sandbox,
        } => {
            let decision = match (side.as_deref(), value) {
                (Some("salesforce"), _) => Decision::Side(Side::Salesforce),
                (Some(_), _) => Decision::Side(Side::Genesys),
                (None, Some(v)) => Decision::Value(v),
                (None, None) if clear => Decision::Clear,
                (None, None) => anyhow::bail!("choose --side, --value or --clear"),
            };
            let mapping = crate::mapping::for_backend(None).await?;
            let store = wiring::store(Target::from_flag(sandbox), false).await?;
            let done = resolve(&*store, &mapping, &id, decision).await?;
            writeln!(
                out,
                "resolved: field `{}` of pair {} will be written by the next sync",
                done.field, done.pair_id
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
