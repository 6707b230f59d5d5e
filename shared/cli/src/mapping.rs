//! `contact-sync mapping publish`: a mapping file validated as the functions validate it, then
//! written to the deployment's SSM parameter (`MappingParameterName`), where the functions read
//! it at their next cold start. And the mapping `check` validates: the deployed one when the
//! backend is a deployment with a mapping parameter.

use anyhow::Context;
use clap::Subcommand;
use contact_sync_aws::deployed_mapping::{
    self, CONTACT_SYNC_INTEGRATION, CONTACT_SYNC_MAPPING_PARAMETER,
};
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

/// The mapping `check` validates: with `CONTACT_SYNC_BACKEND=aws` and a mapping parameter
/// set, the deployed one (checked against `CONTACT_SYNC_INTEGRATION` when set); otherwise the
/// file's or the built-in one.
pub async fn for_check() -> anyhow::Result<Mapping> {
    let vars: HashMap<String, String> = std::env::vars().collect();
    let deployed = vars
        .get(crate::backend::CONTACT_SYNC_BACKEND)
        .map(String::as_str)
        == Some("aws")
        && vars
            .get(CONTACT_SYNC_MAPPING_PARAMETER)
            .is_some_and(|v| !v.trim().is_empty());
    if !deployed {
        return crate::wiring::mapping(None);
    }
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    Ok(deployed_mapping::load(&sdk, &vars).await?)
}
