//! `contact-sync mapping publish`: a mapping file validated as the functions validate it, then
//! written to the deployment's SSM parameter (`MappingParameterName`), where the functions read
//! it at their next cold start. And the mapping every command works with: the deployed one
//! when the backend is a deployment with a mapping parameter ([`for_backend`]).

use crate::wiring::Direction;
use anyhow::Context;
use clap::Subcommand;
use contact_sync_aws::deployed_mapping::{
    self, CONTACT_SYNC_INTEGRATION, CONTACT_SYNC_MAPPING_PARAMETER,
};
use contact_sync_connectors::environment::CONTACT_SYNC_CONFIG;
use contact_sync_engine::mapping::Mapping;
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum MappingCommand {
    /// Validate a mapping file and publish it to the deployment's parameter (a new version;
    /// the functions pick it up at their next cold start).
    Publish {
        /// The mapping YAML (reference: docs/mapping.md).
        file: PathBuf,
        /// The parameter: the stack's MappingParameterName.
        #[arg(long, env = CONTACT_SYNC_MAPPING_PARAMETER)]
        parameter: String,
        /// The stack's IntegrationName: a mapping naming another integration is refused.
        #[arg(long, env = CONTACT_SYNC_INTEGRATION)]
        integration: Option<String>,
        /// Validate only; write nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

pub async fn run(command: MappingCommand) -> anyhow::Result<ExitCode> {
    match command {
        MappingCommand::Publish {
            file,
            parameter,
            integration,
            dry_run,
        } => {
            let yaml = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let source = file.display().to_string();
            let mapping = deployed_mapping::validate(&yaml, &source)?;
            deployed_mapping::check_integration(&mapping, integration.as_deref())?;
            if dry_run {
                println!(
                    "valid: integration `{}`, {} fields; nothing written (--dry-run)",
                    mapping.integration,
                    mapping.fields.len()
                );
                return Ok(ExitCode::SUCCESS);
            }
            let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
            deployed_mapping::publish(&aws_sdk_ssm::Client::new(&sdk), &parameter, &yaml, &source)
                .await?;
            println!(
                "published: integration `{}`, {} fields, to parameter {parameter}; the functions read it at their next cold start",
                mapping.integration,
                mapping.fields.len()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The mapping `check` validates: see [`for_backend`].
pub async fn for_check() -> anyhow::Result<Mapping> {
    for_backend(None).await
}

/// The mapping the commands work with (`check`, `sync`, `conflicts`, `review`, `forget`): with
/// `CONTACT_SYNC_BACKEND=aws` and a mapping parameter set, the deployed one — the mapping the
/// functions run with, so a value chosen, an item listed or a run made from the CLI means what
/// it means to them — checked against `CONTACT_SYNC_INTEGRATION` when set; otherwise the
/// file's (`CONTACT_SYNC_CONFIG`) or the built-in one. `direction` replaces its mode (`sync
/// --direction`).
pub async fn for_backend(direction: Option<Direction>) -> anyhow::Result<Mapping> {
    let vars: HashMap<String, String> = std::env::vars().collect();
    let set = |name: &str| vars.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
    let parameter = match (
        set(crate::backend::CONTACT_SYNC_BACKEND),
        set(CONTACT_SYNC_MAPPING_PARAMETER),
    ) {
        (Some("aws"), Some(parameter)) => parameter,
        _ => return crate::wiring::mapping(direction),
    };
    if set(CONTACT_SYNC_CONFIG).is_some() {
        tracing::warn!(
            "{CONTACT_SYNC_CONFIG} is ignored: the deployment's mapping is the one in parameter \
             {parameter} ({CONTACT_SYNC_MAPPING_PARAMETER}); publish a file with `contact-sync mapping publish`"
        );
    }
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let (yaml, source) =
        deployed_mapping::read_yaml(&aws_sdk_ssm::Client::new(&sdk), parameter).await?;
    let mapping = match direction {
        None => deployed_mapping::validate(&yaml, &source)?,
        Some(direction) => crate::wiring::with_direction(&yaml, &source, direction)?,
    };
    deployed_mapping::check_integration(&mapping, set(CONTACT_SYNC_INTEGRATION))?;
    Ok(mapping)
}
