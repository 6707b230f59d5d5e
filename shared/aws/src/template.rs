//! The table and queue definitions of `template.yaml`, read from the template itself, so that
//! the emulator (moto) gets exactly what a deployment gets: [`crate::provision`] creates them,
//! and the tests hold the store's attribute names against them.

use serde_yaml_ng::Value;
use std::collections::BTreeMap;

/// The SAM template of this repository (compiled in, so tools need no path).
pub const TEMPLATE: &str = include_str!("../../../template.yaml");

/// Why the template could not be read.
#[derive(Debug, thiserror::Error)]
#[error("template.yaml: {0}")]
pub struct TemplateError(String);

fn err(message: impl Into<String>) -> TemplateError {
    TemplateError(message.into())
}

/// A key element: attribute name and `HASH` / `RANGE`.
pub type KeyElement = (String, String);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexDefinition {
    pub name: String,
    pub key_schema: Vec<KeyElement>,
    pub projection: String,
}

/// An `AWS::DynamoDB::Table` resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableDefinition {
    pub logical_id: String,
    pub billing_mode: String,
    /// Attribute name → type (`S`, `N`, `B`).
    pub attributes: BTreeMap<String, String>,
    pub key_schema: Vec<KeyElement>,
    pub indexes: Vec<IndexDefinition>,
    pub ttl_attribute: Option<String>,
}

/// An `AWS::SQS::Queue` resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueDefinition {
    pub logical_id: String,
    pub visibility_timeout: Option<i64>,
    pub retention_period: Option<i64>,
    /// Logical id of the dead-letter queue and `maxReceiveCount`.
    pub redrive: Option<(String, i64)>,
}

/// An `AWS::Serverless::Function` resource: what the tests check against the queues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionDefinition {
    pub logical_id: String,
    pub timeout: Option<i64>,
    /// Environment variables set from a resource (`!Ref X`): variable → logical id.
    pub resource_variables: BTreeMap<String, String>,
    /// Queues it consumes (SQS events): logical ids.
    pub consumes: Vec<String>,
}

/// Everything of the template the emulator needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resources {
    pub table: TableDefinition,
    pub queues: Vec<QueueDefinition>,
    pub functions: Vec<FunctionDefinition>,
    /// `Globals.Function` environment variables set from a resource: variable → logical id.
    pub global_variables: BTreeMap<String, String>,
}

impl Resources {
    /// The resources of the repository's `template.yaml`.
    pub fn of_template() -> Result<Resources, TemplateError> {
        Resources::from_yaml(TEMPLATE)
    }

    pub fn from_yaml(text: &str) -> Result<Resources, TemplateError> {
        let doc: Value =
            serde_yaml_ng::from_str(text).map_err(|e| err(format!("not YAML: {e}")))?;
        let resources = doc
            .get("Resources")
            .and_then(Value::as_mapping)
            .ok_or_else(|| err("no Resources"))?;
        let mut tables = Vec::new();
        let mut queues = Vec::new();
        let mut functions = Vec::new();
        for (id, resource) in resources {
            let id = id
                .as_str()
                .ok_or_else(|| err("a resource id is not a string"))?;
            let props = resource.get("Properties").cloned().unwrap_or(Value::Null);
            match resource.get("Type").and_then(Value::as_str) {
                Some("AWS::DynamoDB::Table") => tables.push(table(id, &props)?),
                Some("AWS::SQS::Queue") => queues.push(queue(id, &props)?),
                Some("AWS::Serverless::Function") => functions.push(function(id, &props)),
                _ => {}
            }
        }
        let table = match tables.len() {
            1 => tables.remove(0),
            n => return Err(err(format!("expected one DynamoDB table, found {n}"))),
        };
        let global_variables = doc
            .get("Globals")
            .and_then(|g| g.get("Function"))
            .map(resource_variables)
            .unwrap_or_default();
        Ok(Resources {
            table,
            queues,
            functions,
            global_variables,
        })
    }

    pub fn queue(&self, logical_id: &str) -> Option<&QueueDefinition> {
        self.queues.iter().find(|q| q.logical_id == logical_id)
    }

    pub fn function(&self, logical_id: &str) -> Option<&FunctionDefinition> {
        self.functions.iter().find(|f| f.logical_id == logical_id)
    }
}

fn text(value: Option<&Value>, what: &str) -> Result<String, TemplateError> {
    value
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| err(format!("{what} is missing or not a string")))
}

fn key_schema(value: Option<&Value>, what: &str) -> Result<Vec<KeyElement>, TemplateError> {
    value
        .and_then(Value::as_sequence)
        .ok_or_else(|| err(format!("{what}: no KeySchema")))?
        .iter()
        .map(|k| {
            Ok((
                text(k.get("AttributeName"), what)?,
                text(k.get("KeyType"), what)?,
            ))
        })
        .collect()
}

fn table(id: &str, props: &Value) -> Result<TableDefinition, TemplateError> {
    let attributes = props
        .get("AttributeDefinitions")
        .and_then(Value::as_sequence)
        .ok_or_else(|| err(format!("{id}: no AttributeDefinitions")))?
        .iter()
        .map(|a| {
            Ok((
                text(a.get("AttributeName"), id)?,
                text(a.get("AttributeType"), id)?,
            ))
        })
        .collect::<Result<_, TemplateError>>()?;
    let indexes = props
        .get("GlobalSecondaryIndexes")
        .and_then(Value::as_sequence)
        .map(|list| {
            list.iter()
                .map(|ix| {
                    let name = text(ix.get("IndexName"), id)?;
                    Ok(IndexDefinition {
                        key_schema: key_schema(ix.get("KeySchema"), &name)?,
                        projection: text(
                            ix.get("Projection").and_then(|p| p.get("ProjectionType")),
                            &name,
                        )?,
                        name,
                    })
                })
                .collect::<Result<Vec<_>, TemplateError>>()
        })
        .transpose()?
        .unwrap_or_default();
    let ttl = props.get("TimeToLiveSpecification");
    let ttl_attribute = ttl
        .filter(|t| t.get("Enabled").and_then(Value::as_bool) == Some(true))
        .and_then(|t| t.get("AttributeName"))
        .and_then(Value::as_str)
        .map(str::to_string);
    Ok(TableDefinition {
        logical_id: id.to_string(),
        billing_mode: text(props.get("BillingMode"), id)?,
        attributes,
        key_schema: key_schema(props.get("KeySchema"), id)?,
        indexes,
        ttl_attribute,
    })
}

fn queue(id: &str, props: &Value) -> Result<QueueDefinition, TemplateError> {
    let redrive = match props.get("RedrivePolicy") {
        None => None,
        Some(policy) => {
            let target = policy
                .get("deadLetterTargetArn")
                .and_then(get_att_arn)
                .ok_or_else(|| err(format!("{id}: deadLetterTargetArn must be !GetAtt X.Arn")))?;
            let max = policy
                .get("maxReceiveCount")
                .and_then(Value::as_i64)
                .ok_or_else(|| err(format!("{id}: maxReceiveCount missing")))?;
            Some((target, max))
        }
    };
    Ok(QueueDefinition {
        logical_id: id.to_string(),
        visibility_timeout: props.get("VisibilityTimeout").and_then(Value::as_i64),
        retention_period: props.get("MessageRetentionPeriod").and_then(Value::as_i64),
        redrive,
    })
}

fn function(id: &str, props: &Value) -> FunctionDefinition {
    let consumes = props
        .get("Events")
        .and_then(Value::as_mapping)
        .map(|events| {
            events
                .values()
                .filter(|e| e.get("Type").and_then(Value::as_str) == Some("SQS"))
                .filter_map(|e| e.get("Properties")?.get("Queue").and_then(get_att_arn))
                .collect()
        })
        .unwrap_or_default();
    FunctionDefinition {
        logical_id: id.to_string(),
        timeout: props.get("Timeout").and_then(Value::as_i64),
        resource_variables: resource_variables(props),
        consumes,
    }
}

/// `Environment.Variables` whose value is `!Ref X` / `{Ref: X}`: variable → X.
fn resource_variables(function: &Value) -> BTreeMap<String, String> {
    function
        .get("Environment")
        .and_then(|e| e.get("Variables"))
        .and_then(Value::as_mapping)
        .map(|vars| {
            vars.iter()
                .filter_map(|(k, v)| Some((k.as_str()?.to_string(), reference(v)?)))
                .collect()
        })
        .unwrap_or_default()
}

/// The logical id of `!Ref X` or `{Ref: X}`.
fn reference(value: &Value) -> Option<String> {
    match value {
        Value::Tagged(t) if t.tag == "Ref" => t.value.as_str().map(str::to_string),
        Value::Mapping(m) => m.get("Ref").and_then(Value::as_str).map(str::to_string),
        _ => None,
    }
}

/// The logical id of `!GetAtt X.Arn` or `{"Fn::GetAtt": [X, Arn]}`.
fn get_att_arn(value: &Value) -> Option<String> {
    match value {
        Value::Tagged(t) if t.tag == "GetAtt" => t
            .value
            .as_str()
            .and_then(|s| s.strip_suffix(".Arn"))
            .map(str::to_string),
        Value::Mapping(m) => {
            let parts = m.get("Fn::GetAtt")?.as_sequence()?;
            (parts.get(1)?.as_str()? == "Arn")
                .then(|| parts.first()?.as_str().map(str::to_string))?
        }
        _ => None,
    }
}
