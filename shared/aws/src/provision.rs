//! Creates the template's table and queues (see [`crate::template`]) under a name prefix, in
//! an emulator or a sandbox account: what `contact-sync-bootstrap` and the moto tests use.
//! A deployment gets the same resources from CloudFormation instead.

use crate::template::{Resources, TableDefinition};
use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;
use std::collections::BTreeMap;

/// Why provisioning failed (messages carry the service's error text; no data is involved).
#[derive(Debug, thiserror::Error)]
#[error("provisioning {what}: {message}")]
pub struct ProvisionError {
    pub what: String,
    pub message: String,
}

fn fail(what: &str, error: impl std::fmt::Display) -> ProvisionError {
    ProvisionError {
        what: what.to_string(),
        message: error.to_string(),
    }
}

/// The names of what was created.
#[derive(Debug, Clone)]
pub struct Provisioned {
    pub table: String,
    /// Logical id → queue URL.
    pub queue_urls: BTreeMap<String, String>,
    /// Logical id → queue ARN.
    pub queue_arns: BTreeMap<String, String>,
    resources: Resources,
}

impl Provisioned {
    /// The environment variables the template sets from these resources (`SYNC_TABLE`,
    /// `RECONCILE_QUEUE_URL`, ...), for every function, with their values here.
    pub fn variables(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let all = self
            .resources
            .functions
            .iter()
            .flat_map(|f| f.resource_variables.iter())
            .chain(self.resources.global_variables.iter());
        for (variable, logical_id) in all {
            let value = if *logical_id == self.resources.table.logical_id {
                Some(self.table.clone())
            } else {
                self.queue_urls.get(logical_id).cloned()
            };
            if let Some(value) = value {
                out.insert(variable.clone(), value);
            }
        }
        out
    }

    /// The URL of the queue with this logical id.
    pub fn queue_url(&self, logical_id: &str) -> &str {
        self.queue_urls
            .get(logical_id)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("no queue {logical_id} in the template"))
    }
}

/// Creates the table (with its indexes and TTL) and every queue (dead-letter queues first,
/// then the queues that redrive to them), each named `{prefix}-{LogicalId}`.
pub async fn provision(
    sdk: &SdkConfig,
    resources: &Resources,
    prefix: &str,
) -> Result<Provisioned, ProvisionError> {
    let table = format!("{prefix}-{}", resources.table.logical_id);
    create_table(
        &aws_sdk_dynamodb::Client::new(sdk),
        &table,
        &resources.table,
    )
    .await?;

    let sqs = aws_sdk_sqs::Client::new(sdk);
    let mut queue_urls = BTreeMap::new();
    let mut queue_arns = BTreeMap::new();
    let mut ordered: Vec<_> = resources.queues.iter().collect();
    ordered.sort_by_key(|q| q.redrive.is_some());
    for q in ordered {
        let name = format!("{prefix}-{}", q.logical_id);
        let mut create = sqs.create_queue().queue_name(&name);
        if let Some(v) = q.visibility_timeout {
            create = create.attributes(QueueAttributeName::VisibilityTimeout, v.to_string());
        }
        if let Some(r) = q.retention_period {
            create = create.attributes(QueueAttributeName::MessageRetentionPeriod, r.to_string());
        }
        if let Some((dlq, max)) = &q.redrive {
            let arn = queue_arns
                .get(dlq)
                .ok_or_else(|| fail(&name, format!("dead-letter queue {dlq} is not a queue")))?;
            let policy = serde_json::json!({"deadLetterTargetArn": arn, "maxReceiveCount": max});
            create = create.attributes(QueueAttributeName::RedrivePolicy, policy.to_string());
        }
        let url = create
            .send()
            .await
            .map_err(|e| fail(&name, aws_sdk_sqs::error::DisplayErrorContext(e)))?
            .queue_url
            .ok_or_else(|| fail(&name, "no queue URL returned"))?;
        let arn = sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(|e| fail(&name, aws_sdk_sqs::error::DisplayErrorContext(e)))?
            .attributes
            .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
            .ok_or_else(|| fail(&name, "no queue ARN returned"))?;
        queue_urls.insert(q.logical_id.clone(), url);
        queue_arns.insert(q.logical_id.clone(), arn);
    }
    Ok(Provisioned {
        table,
        queue_urls,
        queue_arns,
        resources: resources.clone(),
    })
}

fn key_schema(elements: &[(String, String)]) -> Result<Vec<KeySchemaElement>, ProvisionError> {
    elements
        .iter()
        .map(|(name, kind)| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(KeyType::from(kind.as_str()))
                .build()
                .map_err(|e| fail("key schema", e))
        })
        .collect()
}

async fn create_table(
    client: &aws_sdk_dynamodb::Client,
    name: &str,
    def: &TableDefinition,
) -> Result<(), ProvisionError> {
    let attributes = def
        .attributes
        .iter()
        .map(|(attr, kind)| {
            AttributeDefinition::builder()
                .attribute_name(attr)
                .attribute_type(ScalarAttributeType::from(kind.as_str()))
                .build()
                .map_err(|e| fail(name, e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let indexes = def
        .indexes
        .iter()
        .map(|ix| {
            GlobalSecondaryIndex::builder()
                .index_name(&ix.name)
                .set_key_schema(Some(key_schema(&ix.key_schema)?))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::from(ix.projection.as_str()))
                        .build(),
                )
                .build()
                .map_err(|e| fail(&ix.name, e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::from(def.billing_mode.as_str()))
        .set_attribute_definitions(Some(attributes))
        .set_key_schema(Some(key_schema(&def.key_schema)?))
        .set_global_secondary_indexes((!indexes.is_empty()).then_some(indexes))
        .send()
        .await
        .map_err(|e| fail(name, aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
    if let Some(ttl) = &def.ttl_attribute {
        client
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(ttl)
                    .enabled(true)
                    .build()
                    .map_err(|e| fail(name, e))?,
            )
            .send()
            .await
            .map_err(|e| fail(name, aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
    }
    Ok(())
}
