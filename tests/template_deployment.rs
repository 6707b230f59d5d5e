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
