//! How `template.yaml` runs on a real account, read as YAML: the things moto cannot show
//! (concurrency, logs, what `sam local invoke` passes on).

use serde_yaml_ng::Value;
use std::collections::BTreeSet;

fn template() -> Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml"))
        .expect("template.yaml");
    serde_yaml_ng::from_str(&text).expect("template.yaml parses")
}

/// `!Ref X` → `X`.
fn reference(v: &Value) -> Option<&str> {
    match v {
        Value::Tagged(t) if t.tag == "Ref" => t.value.as_str(),
        _ => None,
    }
}

/// The template's functions: (logical id, resource).
fn functions(t: &Value) -> Vec<(String, Value)> {
    t["Resources"]
        .as_mapping()
        .expect("Resources")
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::Serverless::Function")
        .map(|(id, r)| (id.as_str().expect("id").to_string(), r.clone()))
        .collect()
}

#[test]
fn sqs_fed_functions_are_bounded_by_their_event_source_not_by_reserved_concurrency() {
    // GIVEN the template's functions and parameters
    let t = template();
    let mut sqs_events = 0;
    for (id, function) in functions(&t) {
        // THEN no function reserves concurrency (it throttles the SQS event source's five
        // pollers into the dead-letter queue, and fails a first deploy on low-quota accounts)
        assert!(
            function["Properties"]
                .get("ReservedConcurrentExecutions")
                .is_none(),
            "{id} reserves concurrency"
        );
        // AND the reconciler's SQS event source has a maximum concurrency from a parameter
        // that cannot go under Lambda's minimum of 2
        if id != "ReconcilerFunction" {
            continue;
        }
        let events = function["Properties"]["Events"]
            .as_mapping()
            .expect("Events");
        for (name, event) in events.iter().filter(|(_, e)| e["Type"] == "SQS") {
            sqs_events += 1;
            let max = &event["Properties"]["ScalingConfig"]["MaximumConcurrency"];
            let parameter = reference(max)
                .unwrap_or_else(|| panic!("{id}.{name:?}: MaximumConcurrency from a parameter"));
            let p = &t["Parameters"][parameter];
            assert!(p["MinValue"].as_i64() >= Some(2), "{parameter}: MinValue");
            assert!(p["Default"].as_i64() >= Some(2), "{parameter}: Default");
            assert!(
                p["MaxValue"].as_i64() <= Some(1000),
                "{parameter}: MaxValue"
            );
        }
    }
    assert_eq!(sqs_events, 1, "the reconciler has its SQS event source");
}

#[test]
fn an_alarm_watches_every_function_for_throttles() {
    // GIVEN the template's alarms
    let t = template();
    let mut watched = BTreeSet::new();
    for (_, resource) in t["Resources"].as_mapping().expect("Resources") {
        if resource["Type"] != "AWS::CloudWatch::Alarm" {
            continue;
        }
        let props = &resource["Properties"];
        // (a single-metric alarm, or the metrics of a metric-math one)
        let mut metrics = vec![props.clone()];
        if let Some(list) = props["Metrics"].as_sequence() {
            metrics.extend(list.iter().map(|m| m["MetricStat"]["Metric"].clone()));
        }
        for m in metrics {
            if m["Namespace"] == "AWS/Lambda" && m["MetricName"] == "Throttles" {
                for d in m["Dimensions"].as_sequence().into_iter().flatten() {
                    if d["Name"] == "FunctionName" {
                        watched.insert(reference(&d["Value"]).unwrap_or("?").to_string());
                    }
                }
            }
        }
    }
    // THEN every function's Throttles is read by an alarm
    let all: BTreeSet<String> = functions(&t).into_iter().map(|(id, _)| id).collect();
    assert_eq!(watched, all);
}

#[test]
fn each_function_logs_json_to_its_own_group_with_a_retention_and_a_level_parameter() {
    // GIVEN the template's functions, log groups and parameters
    let t = template();
    let mut groups = BTreeSet::new();
    for (id, function) in functions(&t) {
        // WHEN its logging configuration is read
        let logging = &function["Properties"]["LoggingConfig"];
        // THEN it logs JSON to a log group of the template, its own
        assert_eq!(logging["LogFormat"], "JSON", "{id}");
        let group = reference(&logging["LogGroup"])
            .unwrap_or_else(|| panic!("{id}: LoggingConfig.LogGroup is a !Ref"));
        assert!(groups.insert(group.to_string()), "{id} shares {group}");
        let resource = &t["Resources"][group];
        assert_eq!(resource["Type"], "AWS::Logs::LogGroup", "{group}");
        // AND the group keeps lines for a parameter's days, 30 unless told
        let days = reference(&resource["Properties"]["RetentionInDays"])
            .unwrap_or_else(|| panic!("{group}: RetentionInDays from a parameter"));
        assert_eq!(t["Parameters"][days]["Default"].as_i64(), Some(30));
        // AND its level is a parameter's (Lambda passes it on as AWS_LAMBDA_LOG_LEVEL)
        let level = reference(&logging["ApplicationLogLevel"])
            .unwrap_or_else(|| panic!("{id}: ApplicationLogLevel from a parameter"));
        assert_eq!(t["Parameters"][level]["Default"], "INFO");
    }
    // AND each function's main sets up its logs with the Lambda runtime's subscriber, the one
    // that reads AWS_LAMBDA_LOG_LEVEL (before RUST_LOG) and AWS_LAMBDA_LOG_FORMAT
    for binary in ["poller", "reconciler", "notifier"] {
        let main = std::fs::read_to_string(format!(
            "{}/../functions/{binary}/src/main.rs",
            env!("CARGO_MANIFEST_DIR")
        ))
        .expect("main.rs");
        assert!(
            main.contains("lambda_runtime::tracing::init_default_subscriber()"),
            "{binary}: logs not set up by the runtime's subscriber"
        );
    }
}

#[test]
fn every_variable_events_env_json_sets_is_declared_for_its_function() {
    // GIVEN the variables `sam local invoke --env-vars events/env.json` is given, per function
    let env: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../events/env.json"))
            .expect("events/env.json"),
    )
    .expect("env.json parses");
    let t = template();
    let declared = |function: &str| -> BTreeSet<String> {
        let global = t["Globals"]["Function"]["Environment"]["Variables"].as_mapping();
        let own = t["Resources"][function]["Properties"]["Environment"]["Variables"].as_mapping();
        global
            .into_iter()
            .chain(own)
            .flat_map(|m| m.keys())
            .filter_map(|k| k.as_str().map(str::to_string))
            .collect()
    };
    let functions: BTreeSet<String> = functions(&t).into_iter().map(|(id, _)| id).collect();
    let given: BTreeSet<String> = env
        .as_object()
        .expect("an object")
        .keys()
        .cloned()
        .collect();
    // THEN it names every function of the template, and no other
    assert_eq!(given, functions);
    for (function, variables) in env.as_object().expect("an object") {
        // AND every variable it sets is one the template declares for that function (sam
        // drops the others without a word)
        let declared = declared(function);
        for variable in variables.as_object().expect("variables").keys() {
            assert!(
                declared.contains(variable),
                "{function}: events/env.json sets {variable}, which template.yaml does not declare"
            );
        }
    }
}

#[test]
fn the_samconfig_example_sets_every_parameter_and_only_those() {
    // GIVEN the template's parameters and the example samconfig
    let t = template();
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../samconfig.example.toml"
    ))
    .expect("samconfig.example.toml");
    let parameters: BTreeSet<String> = t["Parameters"]
        .as_mapping()
        .expect("Parameters")
        .keys()
        .filter_map(|k| k.as_str().map(str::to_string))
        .collect();
    // WHEN the `Name=value` overrides of its parameter_overrides are read
    let overrides = example
        .split("parameter_overrides")
        .nth(1)
        .expect("parameter_overrides");
    let overrides = &overrides[..overrides.find("\"\"\"\n").unwrap_or(overrides.len())];
    let named: BTreeSet<String> = overrides
        .split_whitespace()
        .filter_map(|w| {
            w.split_once('=')
                .map(|(k, _)| k.trim_matches('"').to_string())
        })
        .filter(|k| !k.is_empty())
        .collect();
    // THEN every parameter is there, and nothing the template does not declare
    assert_eq!(named, parameters);
}

#[test]
fn the_sync_table_outlives_a_stack_deletion_or_a_replacement() {
    // GIVEN the template's DynamoDB tables (the sync state and its audit)
    let t = template();
    let tables: Vec<(String, Value)> = t["Resources"]
        .as_mapping()
        .expect("Resources")
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::DynamoDB::Table")
        .map(|(id, r)| (id.as_str().unwrap_or("?").to_string(), r.clone()))
        .collect();
    assert!(!tables.is_empty());
    // THEN each is retained when the stack is deleted and when an update replaces it
    for (id, table) in tables {
        assert_eq!(table["DeletionPolicy"], "Retain", "{id}");
        assert_eq!(table["UpdateReplacePolicy"], "Retain", "{id}");
    }
}
