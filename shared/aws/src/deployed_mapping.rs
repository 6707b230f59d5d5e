//! The mapping as deployed configuration: one SSM Parameter Store parameter holding the
//! mapping YAML, named by the stack's `MappingParameterName` (the functions get it as
//! [`CONTACT_SYNC_MAPPING_PARAMETER`]), read once per cold start and validated like the CLI
//! validates a mapping file. Empty: the built-in mapping (or `CONTACT_SYNC_CONFIG`, a file, for
//! local runs).
//!
//! Why Parameter Store: one `ssm:GetParameter` on one parameter ARN is the whole grant (no
//! bucket, no AppConfig application, environment and deployment strategy to create), every
//! `put` keeps a version with who wrote it, and a mapping (the built-in one is 3.5 KB) fits the
//! advanced tier's 8 KB. `contact-sync mapping publish` validates a file and writes it here.
//!
//! The stack's `IntegrationName` (the metrics' dimension, which the alarms read) reaches the
//! functions as [`CONTACT_SYNC_INTEGRATION`]; a mapping naming another integration is refused
//! at cold start, so alarms never watch a dimension nobody emits.

use aws_config::SdkConfig;
use aws_sdk_ssm::types::{ParameterTier, ParameterType};
use contact_sync_connectors::environment::{MappingLoadError, mapping_from_env};
use contact_sync_engine::mapping::{Mapping, MappingError};
use std::collections::HashMap;

/// The parameter's name (`/contact-sync/mapping`); empty or unset: no deployed mapping.
pub const CONTACT_SYNC_MAPPING_PARAMETER: &str = "CONTACT_SYNC_MAPPING_PARAMETER";
/// The integration the stack's alarms and dashboard watch (its `IntegrationName`).
pub const CONTACT_SYNC_INTEGRATION: &str = "CONTACT_SYNC_INTEGRATION";
/// The most an advanced-tier parameter holds (bytes).
pub const MAX_MAPPING_BYTES: usize = 8 * 1024;

/// Why the deployed mapping could not be read, written or used.
#[derive(Debug, thiserror::Error)]
pub enum DeployedMappingError {
    #[error("mapping parameter {name}: {message}")]
    Read {
        name: String,
        message: String,
        retryable: bool,
    },
    #[error("mapping parameter {name}: cannot write it: {message}")]
    Write { name: String, message: String },
    /// (The mapping error names its source: the file or the parameter.)
    #[error(transparent)]
    Invalid(#[from] MappingError),
    #[error(transparent)]
    File(#[from] MappingLoadError),
    #[error(
        "mapping {source_name}: {size} bytes, over the {MAX_MAPPING_BYTES} bytes a parameter holds"
    )]
    TooLarge { source_name: String, size: usize },
    #[error(
        "the mapping's integration is `{mapping}` but the stack's IntegrationName is `{stack}`: \
         the alarms and the dashboard would watch an integration nobody reports; make them equal"
    )]
    IntegrationMismatch { mapping: String, stack: String },
}

impl DeployedMappingError {
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            DeployedMappingError::Read {
                retryable: true,
                ..
            }
        )
    }
}

/// The mapping a function runs with: the parameter [`CONTACT_SYNC_MAPPING_PARAMETER`] names,
/// else `CONTACT_SYNC_CONFIG` or the built-in one; checked against [`CONTACT_SYNC_INTEGRATION`]
/// when that is set.
pub async fn load(
    sdk: &SdkConfig,
    vars: &HashMap<String, String>,
) -> Result<Mapping, DeployedMappingError> {
    let mapping = match set(vars, CONTACT_SYNC_MAPPING_PARAMETER) {
        Some(name) => read(&aws_sdk_ssm::Client::new(sdk), name).await?,
        None => mapping_from_env()?,
    };
    check_integration(&mapping, set(vars, CONTACT_SYNC_INTEGRATION))?;
    Ok(mapping)
}

/// The mapping stored in parameter `name`, validated.
pub async fn read(
    client: &aws_sdk_ssm::Client,
    name: &str,
) -> Result<Mapping, DeployedMappingError> {
    let (yaml, source) = read_yaml(client, name).await?;
    validate(&yaml, &source)
}

/// The YAML stored in parameter `name` (not validated), and how errors name it.
pub async fn read_yaml(
    client: &aws_sdk_ssm::Client,
    name: &str,
) -> Result<(String, String), DeployedMappingError> {
    let out = client
        .get_parameter()
        .name(name)
        .send()
        .await
        .map_err(|e| {
            let retryable = e.as_service_error().is_none_or(|s| {
                !(s.is_parameter_not_found() || s.is_parameter_version_not_found())
            });
            DeployedMappingError::Read {
                name: name.to_string(),
                message: aws_sdk_ssm::error::DisplayErrorContext(&e).to_string(),
                retryable,
            }
        })?;
    let yaml = out
        .parameter
        .and_then(|p| p.value)
        .ok_or_else(|| DeployedMappingError::Read {
            name: name.to_string(),
            message: "the parameter has no value".into(),
            retryable: false,
        })?;
    Ok((yaml, format!("parameter {name}")))
}

/// Validates `yaml` (named `source_name` in errors) as a mapping that fits a parameter.
pub fn validate(yaml: &str, source_name: &str) -> Result<Mapping, DeployedMappingError> {
    if yaml.len() > MAX_MAPPING_BYTES {
        return Err(DeployedMappingError::TooLarge {
            source_name: source_name.to_string(),
            size: yaml.len(),
        });
    }
    Ok(Mapping::from_yaml(yaml, source_name)?)
}

/// Validates `yaml` and writes it to parameter `name` (advanced tier, a new version);
/// the mapping written. Nothing is written when it is invalid.
pub async fn publish(
    client: &aws_sdk_ssm::Client,
    name: &str,
    yaml: &str,
    source_name: &str,
) -> Result<Mapping, DeployedMappingError> {
    let mapping = validate(yaml, source_name)?;
    client
        .put_parameter()
        .name(name)
        .value(yaml)
        .r#type(ParameterType::String)
        .tier(ParameterTier::Advanced)
        .overwrite(true)
        .description("contact-sync mapping (contact-sync mapping publish)")
        .send()
        .await
        .map_err(|e| DeployedMappingError::Write {
            name: name.to_string(),
            message: aws_sdk_ssm::error::DisplayErrorContext(&e).to_string(),
        })?;
    Ok(mapping)
}

/// Refuses a mapping whose integration is not the stack's (`stack`: its `IntegrationName`).
pub fn check_integration(
    mapping: &Mapping,
    stack: Option<&str>,
) -> Result<(), DeployedMappingError> {
    match stack {
        Some(stack) if stack != mapping.integration => {
            Err(DeployedMappingError::IntegrationMismatch {
                mapping: mapping.integration.clone(),
                stack: stack.to_string(),
            })
        }
        _ => Ok(()),
    }
}

fn set<'a>(vars: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    vars.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use contact_sync_engine::mapping::DEFAULT_MAPPING_YAML;

    #[test]
    fn a_mapping_for_another_integration_than_the_stacks_is_refused() {
        // GIVEN the built-in mapping (integration `default`)
        let mapping = validate(DEFAULT_MAPPING_YAML, "built-in").expect("valid");
        // WHEN it is checked against the stack's IntegrationName
        // THEN only the same name (or none given) passes, and the error names both
        assert!(check_integration(&mapping, Some("default")).is_ok());
        assert!(check_integration(&mapping, None).is_ok());
        let error = check_integration(&mapping, Some("crm")).expect_err("mismatch");
        let text = error.to_string();
        assert!(
            text.contains("`default`") && text.contains("`crm`"),
            "{text}"
        );
        assert!(!error.is_retryable());
    }

    #[test]
    fn an_invalid_or_oversized_mapping_is_refused_before_anything_is_written() {
        // GIVEN a mapping with an unknown key, and one over a parameter's 8 KB
        let invalid = format!("{DEFAULT_MAPPING_YAML}\nno_such_key: 1\n");
        let large = format!(
            "{DEFAULT_MAPPING_YAML}\n#{}\n",
            "x".repeat(MAX_MAPPING_BYTES)
        );
        // WHEN they are validated
        // THEN each is refused with its source named
        let e = validate(&invalid, "mapping.yaml").expect_err("invalid");
        assert!(matches!(e, DeployedMappingError::Invalid(_)), "{e:?}");
        assert!(e.to_string().contains("mapping.yaml"), "{e}");
        let e = validate(&large, "big.yaml").expect_err("too large");
        assert!(matches!(e, DeployedMappingError::TooLarge { .. }), "{e:?}");
    }
}
