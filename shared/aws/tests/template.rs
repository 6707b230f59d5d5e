//! The template and the code agree: the table the store writes to and the queues the functions
//! use are the ones `template.yaml` declares, and what the emulator creates from the template
//! is the same again (the moto half needs `CONTACT_SYNC_MOTO_URL`).

use aws_sdk_dynamodb::types::{KeyType, TimeToLiveStatus};
use aws_sdk_sqs::types::QueueAttributeName;
use contact_sync_aws::deployment::{CONFLICT_QUEUE_URL, RECONCILE_QUEUE_URL, SYNC_TABLE};
use contact_sync_aws::emulator::Stack;
use contact_sync_aws::table::{
    KEY_ATTRIBUTES, LISTING_INDEX, LISTING_PK, LISTING_SK, OPEN_INDEX, OPEN_PK, OPEN_SK, PK, SK,
    TTL_ATTRIBUTE,
};
use contact_sync_aws::template::Resources;

fn key(hash: &str, range: &str) -> Vec<(String, String)> {
    vec![
        (hash.to_string(), "HASH".to_string()),
        (range.to_string(), "RANGE".to_string()),
    ]
}

#[test]
fn the_template_table_has_the_keys_indexes_and_ttl_the_store_uses() {
    // GIVEN the template
    let resources = Resources::of_template().expect("template.yaml");
    let table = &resources.table;
    // WHEN its table is compared with the store's layout
    // THEN keys, indexes, the TTL attribute and on-demand billing are the store's
    assert_eq!(table.key_schema, key(PK, SK));
    let index = |name: &str| {
        table
            .indexes
            .iter()
            .find(|ix| ix.name == name)
            .unwrap_or_else(|| panic!("index {name} in template.yaml"))
    };
    assert_eq!(index(LISTING_INDEX).key_schema, key(LISTING_PK, LISTING_SK));
    assert_eq!(index(OPEN_INDEX).key_schema, key(OPEN_PK, OPEN_SK));
    assert!(table.indexes.iter().all(|ix| ix.projection == "ALL"));
    assert_eq!(table.indexes.len(), 2);
    assert_eq!(table.ttl_attribute.as_deref(), Some(TTL_ATTRIBUTE));
    assert_eq!(table.billing_mode, "PAY_PER_REQUEST");
    // AND every key attribute is declared as a string, and nothing else is declared
    let declared: Vec<(&str, &str)> = table
        .attributes
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let mut expected: Vec<(&str, &str)> = KEY_ATTRIBUTES.iter().map(|k| (*k, "S")).collect();
    expected.sort();
    assert_eq!(declared, expected);
}

#[test]
fn each_function_gets_the_variables_it_reads_and_queues_outlast_their_consumers() {
    // GIVEN the template
    let resources = Resources::of_template().expect("template.yaml");
    let var = |function: &str, name: &str| {
        resources
            .function(function)
            .and_then(|f| f.resource_variables.get(name))
            .or_else(|| resources.global_variables.get(name))
            .cloned()
    };
    // WHEN the functions' variables are read
    // THEN the table is everyone's, each queue URL goes to the function that sends to it
    for f in ["PollerFunction", "ReconcilerFunction", "NotifierFunction"] {
        assert_eq!(var(f, SYNC_TABLE).as_deref(), Some("SyncTable"), "{f}");
    }
    assert_eq!(
        var("PollerFunction", RECONCILE_QUEUE_URL).as_deref(),
        Some("ReconcileQueue")
    );
    assert_eq!(
        var("ReconcilerFunction", CONFLICT_QUEUE_URL).as_deref(),
        Some("ConflictQueue")
    );
    assert_eq!(var("ReconcilerFunction", RECONCILE_QUEUE_URL), None);
    // AND every consumed queue hides a message at least six times as long as its consumer
    // may run (AWS's advice for SQS event sources: retries of a throttled or failed batch
    // stay invisible), and has a dead-letter queue
    for f in &resources.functions {
        for q in &f.consumes {
            let queue = resources.queue(q).expect("consumed queue");
            let timeout = f.timeout.expect("function timeout");
            assert!(
                queue.visibility_timeout.expect("visibility") >= 6 * timeout,
                "{q}: visibility timeout under 6 x the timeout of {}",
                f.logical_id
            );
            let (dlq, max) = queue.redrive.clone().expect("redrive");
            assert!(resources.queue(&dlq).is_some() && max > 1, "{q}");
        }
    }
}

#[tokio::test]
async fn what_the_emulator_gets_is_what_the_template_declares() {
    // GIVEN the template's resources created in moto
    let Some(stack) = Stack::create("template in moto").await else {
        return;
    };
    let resources = Resources::of_template().expect("template.yaml");
    let dynamodb = aws_sdk_dynamodb::Client::new(&stack.sdk);
    let sqs = aws_sdk_sqs::Client::new(&stack.sdk);
    // WHEN the table and the queues are described
    let table = dynamodb
        .describe_table()
        .table_name(&stack.resources.table)
        .send()
        .await
        .expect("describe")
        .table
        .expect("table");
    let ttl = dynamodb
        .describe_time_to_live()
        .table_name(&stack.resources.table)
        .send()
        .await
        .expect("ttl")
        .time_to_live_description
        .expect("ttl description");
    // THEN the table has the template's key schema, indexes and TTL
    let schema = |elements: &[aws_sdk_dynamodb::types::KeySchemaElement]| -> Vec<(String, String)> {
        elements
            .iter()
            .map(|k| {
                let kind = match k.key_type() {
                    KeyType::Hash => "HASH",
                    _ => "RANGE",
                };
                (k.attribute_name().to_string(), kind.to_string())
            })
            .collect()
    };
    assert_eq!(schema(table.key_schema()), resources.table.key_schema);
    let mut indexes: Vec<(String, Vec<(String, String)>)> = table
        .global_secondary_indexes()
        .iter()
        .map(|ix| {
            (
                ix.index_name().unwrap_or("").to_string(),
                schema(ix.key_schema()),
            )
        })
        .collect();
    indexes.sort();
    let mut declared: Vec<(String, Vec<(String, String)>)> = resources
        .table
        .indexes
        .iter()
        .map(|ix| (ix.name.clone(), ix.key_schema.clone()))
        .collect();
    declared.sort();
    assert_eq!(indexes, declared);
    assert_eq!(
        ttl.attribute_name(),
        resources.table.ttl_attribute.as_deref()
    );
    assert_eq!(ttl.time_to_live_status(), Some(&TimeToLiveStatus::Enabled));
    // AND every queue has the template's visibility timeout and redrive policy
    for q in &resources.queues {
        let attributes = sqs
            .get_queue_attributes()
            .queue_url(stack.resources.queue_url(&q.logical_id))
            .attribute_names(QueueAttributeName::All)
            .send()
            .await
            .expect("queue attributes")
            .attributes
            .unwrap_or_default();
        if let Some(v) = q.visibility_timeout {
            assert_eq!(
                attributes.get(&QueueAttributeName::VisibilityTimeout),
                Some(&v.to_string()),
                "{}",
                q.logical_id
            );
        }
        let redrive: Option<serde_json::Value> = attributes
            .get(&QueueAttributeName::RedrivePolicy)
            .map(|p| serde_json::from_str(p).expect("redrive JSON"));
        match &q.redrive {
            Some((dlq, max)) => {
                let redrive = redrive.expect("redrive policy");
                assert_eq!(
                    redrive["deadLetterTargetArn"],
                    stack.resources.queue_arns[dlq]
                );
                assert_eq!(redrive["maxReceiveCount"].to_string(), max.to_string());
            }
            None => assert!(redrive.is_none(), "{}", q.logical_id),
        }
    }
}

/// Every `(function, metric)` the code can emit: each function's invocation with every
/// optional figure present.
fn emitted() -> std::collections::BTreeSet<(String, String)> {
    use contact_sync_aws::metrics::{Invocation, NotifyTally, PollTally, ReconcileTally};
    use contact_sync_pipeline::system::{ApiUsage, DailyAllocation};
    let now = chrono::Utc::now();
    let usage = ApiUsage {
        requests: 1,
        daily: Some(DailyAllocation { used: 1, max: 2 }),
    };
    let mut poll = Invocation::poll(
        "default",
        &PollTally {
            failed: false,
            run: Some(Default::default()),
            previous_run_finished_at: Some(now),
        },
        now,
    );
    let mut reconcile = Invocation::reconcile(
        "default",
        &ReconcileTally {
            oldest_message_age_seconds: Some(1.0),
            ..ReconcileTally::default()
        },
        now,
    );
    let mut notify = Invocation::notify("default", NotifyTally::default(), now);
    let started = std::time::Instant::now();
    poll.api_usage(None, Some((usage, usage))).duration(started);
    reconcile
        .api_usage(None, Some((usage, usage)))
        .duration(started);
    notify.duration(started);
    [
        ("poller", poll),
        ("reconciler", reconcile),
        ("notifier", notify),
    ]
    .iter()
    .flat_map(|(f, m)| m.names().map(|n| (f.to_string(), n.to_string())))
    .collect()
}

/// `(function, metric)` of every ContactSync metric an alarm or the dashboard reads.
fn read_by_template() -> Vec<(String, String)> {
    use serde_yaml_ng::Value;
    let doc: Value =
        serde_yaml_ng::from_str(contact_sync_aws::template::TEMPLATE).expect("template");
    let untag = |v: &Value| match v {
        Value::Tagged(t) => t.value.clone(),
        other => other.clone(),
    };
    let function_of = |dims: &Value| {
        dims.as_sequence()
            .into_iter()
            .flatten()
            .find(|d| d["Name"] == "Function")
            .and_then(|d| d["Value"].as_str().map(str::to_string))
            .expect("a Function dimension")
    };
    let mut read = Vec::new();
    for (_, resource) in doc["Resources"].as_mapping().expect("resources") {
        let props = &resource["Properties"];
        match resource["Type"].as_str() {
            Some("AWS::CloudWatch::Alarm") => {
                let mut metrics: Vec<&Value> = vec![props];
                if let Some(list) = props["Metrics"].as_sequence() {
                    metrics.extend(list.iter().map(|m| &m["MetricStat"]["Metric"]));
                }
                for m in metrics {
                    if m["Namespace"] == "ContactSync" {
                        let name = m["MetricName"].as_str().expect("name").to_string();
                        read.push((function_of(&m["Dimensions"]), name));
                    }
                }
            }
            Some("AWS::CloudWatch::Dashboard") => {
                let body = untag(&props["DashboardBody"]);
                let body = body.as_str().expect("dashboard body");
                // `${...}` references are strings inside the JSON already.
                let json: serde_json::Value = serde_json::from_str(body).expect("dashboard JSON");
                for widget in json["widgets"].as_array().expect("widgets") {
                    for metric in widget["properties"]["metrics"]
                        .as_array()
                        .into_iter()
                        .flatten()
                    {
                        if metric[0] == "ContactSync" {
                            assert_eq!(metric[4], "Function", "{metric}");
                            read.push((
                                metric[5].as_str().expect("function").to_string(),
                                metric[1].as_str().expect("name").to_string(),
                            ));
                        }
                    }
                }
            }
            _ => {}
        }
    }
    read
}

#[test]
fn every_metric_the_dashboard_and_alarms_read_is_one_the_functions_emit() {
    // GIVEN the metrics the code emits per function
    let emitted = emitted();
    // WHEN the template's alarms and dashboard are read
    let read = read_by_template();
    // THEN each metric they read is emitted by that function under that name
    assert!(read.len() >= 20, "{read:?}");
    let missing: Vec<_> = read.iter().filter(|m| !emitted.contains(*m)).collect();
    assert!(missing.is_empty(), "read but never emitted: {missing:?}");
}
