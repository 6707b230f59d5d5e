//! Security properties of `template.yaml`, read as YAML (so they hold for whatever else the
//! template gains, dashboards and alarms included): secrets reach the functions only as
//! Secrets Manager ARNs, and every IAM grant is scoped — no `*` action, no `*` resource unless
//! every action in the statement is one AWS only grants on `*`.

use serde_yaml_ng::Value;

/// Actions AWS authorises only with `Resource: "*"` (no resource-level permissions).
const STAR_ONLY_ACTIONS: [&str; 4] = [
    "cloudwatch:PutMetricData",
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "logs:CreateLogGroup",
];

/// SAM policy templates the functions may use: each is scoped by its parameter.
const SCOPED_POLICY_TEMPLATES: [&str; 6] = [
    "SQSSendMessagePolicy",
    "SQSPollerPolicy",
    "AWSSecretsManagerGetSecretValuePolicy",
    "DynamoDBCrudPolicy",
    "DynamoDBReadPolicy",
    "CloudWatchPutMetricPolicy",
];

fn template() -> Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml"))
        .expect("template.yaml");
    serde_yaml_ng::from_str(&text).expect("template.yaml parses")
}

/// The value under a tag (`!If`, `!Ref`, ...) or the value itself.
fn untagged(v: &Value) -> &Value {
    match v {
        Value::Tagged(t) => &t.value,
        other => other,
    }
}

fn as_list(v: &Value) -> Vec<&Value> {
    match untagged(v) {
        Value::Sequence(items) => items.iter().collect(),
        other => vec![other],
    }
}

/// IAM statements by owning resource.
type Statements = Vec<(String, Value)>;
/// Policy templates (or managed policy names) by owning resource, with their parameters.
type Templates = Vec<(String, String, Value)>;

/// Every IAM statement and policy-template use in the template, with where it is.
fn grants(template: &Value) -> (Statements, Templates) {
    let mut statements = Vec::new();
    let mut templates = Vec::new();
    let resources = template["Resources"].as_mapping().expect("Resources");
    for (name, resource) in resources {
        let name = name.as_str().unwrap_or_default().to_string();
        let props = &resource["Properties"];
        // SAM functions: Policies; IAM roles and policies: PolicyDocument(s).
        let mut policy_values: Vec<&Value> = Vec::new();
        if let Some(p) = props.get("Policies") {
            policy_values.extend(as_list(p));
        }
        if let Some(doc) = props.get("PolicyDocument") {
            policy_values.push(doc);
        }
        let mut stack = policy_values;
        while let Some(p) = stack.pop() {
            if matches!(p, Value::Tagged(t) if t.tag == "Ref" && t.value == "AWS::NoValue") {
                continue;
            }
            match untagged(p) {
                // !If [condition, a, b]: both branches.
                Value::Sequence(items) if matches!(p, Value::Tagged(t) if t.tag == "If") => {
                    stack.extend(items.iter().skip(1));
                }
                Value::Mapping(map) => {
                    for (key, value) in map {
                        let key = key.as_str().unwrap_or_default();
                        match key {
                            "Statement" => statements.extend(
                                as_list(value)
                                    .into_iter()
                                    .map(|s| (name.clone(), untagged(s).clone())),
                            ),
                            "PolicyDocument" => stack.push(value),
                            "PolicyName" => {}
                            _ => templates.push((name.clone(), key.to_string(), value.clone())),
                        }
                    }
                }
                Value::String(managed) => {
                    templates.push((name.clone(), managed.clone(), Value::Null));
                }
                _ => {}
            }
        }
    }
    (statements, templates)
}

fn strings(v: &Value) -> Vec<String> {
    as_list(v)
        .into_iter()
        .filter_map(|x| match untagged(x) {
            Value::String(s) => Some(s.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn iam_grants_name_their_actions_and_resources() {
    // GIVEN every IAM statement of the template (functions' inline policies, roles, policies)
    let (statements, _) = grants(&template());
    assert!(!statements.is_empty(), "the template grants something");
    for (owner, statement) in &statements {
        // WHEN its actions and resources are read
        let actions = strings(&statement["Action"]);
        let resources = strings(&statement["Resource"]);
        // THEN no action is a wildcard, there is no NotAction/NotResource, and a `*`
        // resource appears only for actions that AWS grants on nothing narrower
        assert!(statement.get("NotAction").is_none(), "{owner}: NotAction");
        assert!(
            statement.get("NotResource").is_none(),
            "{owner}: NotResource"
        );
        assert!(!actions.is_empty(), "{owner}: a statement with no action");
        for action in &actions {
            assert!(!action.contains('*'), "{owner}: wildcard action `{action}`");
        }
        assert!(
            statement.get("Resource").is_some(),
            "{owner}: a statement with no resource"
        );
        if resources.iter().any(|r| r == "*") {
            assert!(
                actions
                    .iter()
                    .all(|a| STAR_ONLY_ACTIONS.contains(&a.as_str())),
                "{owner}: `Resource: \"*\"` for {actions:?}"
            );
        }
    }
}

#[test]
fn functions_use_only_scoped_policy_templates_and_no_managed_policies() {
    // GIVEN every SAM policy template and managed policy the functions name
    let (_, templates) = grants(&template());
    for (owner, name, params) in &templates {
        // THEN each is a scoped template with its scope given, never a managed policy
        assert!(
            SCOPED_POLICY_TEMPLATES.contains(&name.as_str()),
            "{owner}: policy `{name}` is not a scoped template"
        );
        let scope = params
            .as_mapping()
            .map(|m| m.values().cloned().collect::<Vec<_>>())
            .unwrap_or_default();
        assert!(!scope.is_empty(), "{owner}: `{name}` without its scope");
        for value in scope {
            assert!(
                !matches!(&value, Value::String(s) if s.contains('*')),
                "{owner}: `{name}` scoped to a wildcard"
            );
        }
    }
}

#[test]
fn secrets_reach_the_functions_only_as_secrets_manager_arns() {
    // GIVEN the template's parameters and every function's environment
    let t = template();
    let parameters = t["Parameters"].as_mapping().expect("Parameters");
    for (name, parameter) in parameters {
        let name = name.as_str().unwrap_or_default();
        // THEN a parameter about a secret is its ARN, with no default value
        if name.to_lowercase().contains("secret") {
            assert!(name.ends_with("Arn"), "parameter {name} must be an ARN");
            let default = parameter
                .get("Default")
                .and_then(Value::as_str)
                .unwrap_or("");
            assert!(
                default.is_empty(),
                "parameter {name} must not carry a default secret ARN"
            );
        }
        assert!(
            !["password", "token", "clientsecret", "privatekey"]
                .iter()
                .any(|w| name.to_lowercase().contains(w)),
            "parameter {name} would put a credential in the stack"
        );
    }
    let resources = t["Resources"].as_mapping().expect("Resources");
    let mut secret_vars = 0;
    for (name, resource) in resources {
        let name = name.as_str().unwrap_or_default();
        let Some(vars) = resource["Properties"]["Environment"]["Variables"].as_mapping() else {
            continue;
        };
        for (var, value) in vars {
            let var = var.as_str().unwrap_or_default();
            let upper = var.to_uppercase();
            // AND a variable about a credential is a reference to a secret ARN parameter
            if ["SECRET", "PASSWORD", "TOKEN", "PRIVATE_KEY"]
                .iter()
                .any(|w| upper.contains(w))
            {
                secret_vars += 1;
                assert!(upper.ends_with("_ARN"), "{name}: {var} must be an ARN");
                let Value::Tagged(tagged) = value else {
                    panic!("{name}: {var} must be a !Ref to a parameter, not a literal");
                };
                assert_eq!(tagged.tag, "Ref", "{name}: {var}");
                let target = tagged.value.as_str().unwrap_or_default();
                assert!(
                    target.ends_with("SecretArn"),
                    "{name}: {var} refers to {target}"
                );
            }
        }
    }
    assert!(secret_vars >= 3, "the functions read their secrets by ARN");
}
