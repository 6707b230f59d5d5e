//! The functions' IAM roles, proven against what their code does. Moto enforces no IAM, so
//! every other moto test would pass with a role missing an action; here each function's
//! deployment talks to moto through its own recording pass-through, which turns every request
//! into the IAM actions AWS authorises it with. The test then holds each function's actions
//! against the statements its role gets in `template.yaml`:
//!
//! - every action a function made is granted to its role (the `UpdateItem` of the lease
//!   release was not: on AWS every poll would have ended in `AccessDenied`);
//! - every action granted is used, or listed in [`KEPT`] with the reason it is kept.
//!
//! The functions run as their mains run them (`poller::invoke`, the reconciler's init and
//! `reconciler::handle`, the notifier's alerter and `notifier::handle_measured`), over
//! paths that cover their AWS calls: the mapping read from its parameter at cold start, a poll
//! continued over two invocations, conflicts and a held delete reconciled, a digest sent to a
//! webhook read from its secret. Needs moto
//! (`CONTACT_SYNC_MOTO_URL`, see `contact_sync_aws::emulator`).
//!
//! What the Lambda service does with a role itself (the SQS event source receiving and
//! deleting messages, the log agent writing logs) is not the handler's and not recorded: SAM
//! adds those grants (`SQSPollerPolicy`, `AWSLambdaBasicExecutionRole`) on its own.

use aws_lambda_events::event::cloudwatch_events::CloudWatchEvent;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use axum::body::Bytes;
use axum::extract::State;
use contact_sync_aws::Deployment;
use contact_sync_aws::deployed_mapping::{
    self, CONTACT_SYNC_INTEGRATION, CONTACT_SYNC_MAPPING_PARAMETER,
};
use contact_sync_aws::deployment::{
    ALERT_WEBHOOK_SECRET_ARN, GENESYS_SECRET_ARN, SALESFORCE_SECRET_ARN,
};
use contact_sync_aws::emulator::{self, Stack};
use contact_sync_engine::mapping::DEFAULT_MAPPING_YAML;
use contact_sync_pipeline::poll::PollBudget;
use contact_sync_simulators::{GenesysSim, GenesysSimConfig, SalesforceSim, SalesforceSimConfig};
use poller::PollReport;
use serde_json::{Value, json};
use serde_yaml_ng::Value as Yaml;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Actions a role holds that the recorded paths do not make, with why each is kept:
/// (function, action, reason). Empty reasons are refused.
const KEPT: &[(&str, &str, &str)] = &[(
    "ReconcilerFunction",
    "dynamodb:GetItem",
    "a link put that lost a race to another reconciler reads the link's holder when the \
     cancellation did not return it (`DynamoDbStore::link_holder`); DynamoDB returns it with \
     ReturnValuesOnConditionCheckFailure, so the read is a fallback no run here reaches",
)];

/// One request as IAM sees it: the action, and for DynamoDB whether it named an index.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Use {
    action: String,
    on_index: bool,
}

/// The IAM actions AWS authorises a request with (`X-Amz-Target` and, for transactions, the
/// body). A request this cannot name fails the test: nothing is let through unexamined.
fn actions_of(target: &str, body: &[u8]) -> Vec<Use> {
    let (service, operation) = target
        .split_once('.')
        .unwrap_or_else(|| panic!("a request without a JSON-protocol X-Amz-Target: `{target}`"));
    let prefix = match service {
        s if s.starts_with("DynamoDB_") => "dynamodb",
        "AmazonSQS" => "sqs",
        "secretsmanager" => "secretsmanager",
        "AmazonSSM" => "ssm",
        other => panic!("a request to an unexpected service `{other}`"),
    };
    let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let on_index = body.get("IndexName").is_some();
    let one = |action: String| {
        vec![Use {
            action: format!("{prefix}:{action}"),
            on_index,
        }]
    };
    match (prefix, operation) {
        // TransactWriteItems is no IAM action of its own: each item needs its operation's.
        ("dynamodb", "TransactWriteItems") => body["TransactItems"]
            .as_array()
            .expect("TransactItems")
            .iter()
            .flat_map(|item| item.as_object().expect("a transact item").keys())
            .map(|kind| Use {
                action: match kind.as_str() {
                    "Put" => "dynamodb:PutItem",
                    "Update" => "dynamodb:UpdateItem",
                    "Delete" => "dynamodb:DeleteItem",
                    "ConditionCheck" => "dynamodb:ConditionCheckItem",
                    other => panic!("transact item `{other}`"),
                }
                .to_string(),
                on_index: false,
            })
            .collect(),
        // SQS authorises a batch with its single counterpart's action.
        ("sqs", op) if op.ends_with("Batch") => one(op.trim_end_matches("Batch").to_string()),
        (_, op) => one(op.to_string()),
    }
}

/// A pass-through to moto that records what goes through it.
#[derive(Clone)]
struct Recorder {
    upstream: String,
    client: reqwest::Client,
    uses: Arc<Mutex<Vec<Use>>>,
}

impl Recorder {
    /// Listens on a free loopback port; its URL and the recorder.
    async fn start(upstream: &str) -> (String, Recorder) {
        let recorder = Recorder {
            upstream: upstream.trim_end_matches('/').to_string(),
            client: reqwest::Client::new(),
            uses: Arc::default(),
        };
        let app = axum::Router::new()
            .fallback(forward)
            .with_state(recorder.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind recorder");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        (url, recorder)
    }

    fn actions(&self) -> BTreeSet<Use> {
        self.uses
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .cloned()
            .collect()
    }
}

async fn forward(
    State(recorder): State<Recorder>,
    request: axum::extract::Request,
) -> axum::response::Response {
    let (parts, body) = request.into_parts();
    let body: Bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .expect("request body");
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let uses = actions_of(target, &body);
    recorder
        .uses
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .extend(uses);
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut upstream = recorder
        .client
        .request(parts.method.clone(), format!("{}{path}", recorder.upstream))
        .body(body);
    for (name, value) in &parts.headers {
        if name != axum::http::header::HOST && name != axum::http::header::CONTENT_LENGTH {
            upstream = upstream.header(name, value);
        }
    }
    let answer = upstream.send().await.expect("moto answers");
    let mut response = axum::response::Response::builder().status(answer.status());
    for (name, value) in answer.headers() {
        if name != axum::http::header::CONTENT_LENGTH
            && name != axum::http::header::TRANSFER_ENCODING
            && name != axum::http::header::CONNECTION
        {
            response = response.header(name, value);
        }
    }
    let bytes = answer.bytes().await.expect("moto's body");
    response
        .body(axum::body::Body::from(bytes))
        .expect("response")
}

/// One IAM statement of a role: actions and resources (as the template writes them).
#[derive(Debug)]
struct Statement {
    actions: Vec<String>,
    resources: Vec<String>,
}

fn template() -> Yaml {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml"))
        .expect("template.yaml");
    serde_yaml_ng::from_str(&text).expect("template.yaml parses")
}

/// A scalar or a tagged scalar (`!GetAtt X.Arn`, `!Sub "..."`, `!Ref X`) as text.
fn text(v: &Yaml) -> String {
    match v {
        Yaml::String(s) => s.clone(),
        Yaml::Tagged(t) => format!("!{} {}", t.tag, text(&t.value)),
        Yaml::Sequence(items) => items.iter().map(text).collect::<Vec<_>>().join(" "),
        other => format!("{other:?}"),
    }
}

fn list(v: &Yaml) -> Vec<&Yaml> {
    match v {
        Yaml::Sequence(items) => items.iter().collect(),
        other => vec![other],
    }
}

/// Every statement a function's role gets from its `Policies` (both branches of an `!If`).
/// A policy that is not an inline statement fails: the test could not tell what it grants.
fn statements(template: &Yaml, function: &str) -> Vec<Statement> {
    let policies = &template["Resources"][function]["Properties"]["Policies"];
    let mut stack: Vec<&Yaml> = list(policies);
    let mut out = Vec::new();
    while let Some(policy) = stack.pop() {
        match policy {
            Yaml::Tagged(t) if t.tag == "If" => {
                stack.extend(list(&t.value).into_iter().skip(1));
            }
            Yaml::Tagged(t) if t.tag == "Ref" && t.value == "AWS::NoValue" => {}
            Yaml::Mapping(map) if map.len() == 1 && map.contains_key("Statement") => {
                for s in list(&map["Statement"]) {
                    assert_eq!(s["Effect"], "Allow", "{function}: {s:?}");
                    out.push(Statement {
                        actions: list(&s["Action"]).into_iter().map(text).collect(),
                        resources: list(&s["Resource"]).into_iter().map(text).collect(),
                    });
                }
            }
            other => panic!(
                "{function}: policy {other:?} is not an inline statement; write it out so this \
                 test can see what it grants"
            ),
        }
    }
    out
}

/// A Slack-compatible webhook on loopback that accepts every post; how many it received.
async fn webhook() -> (String, Arc<Mutex<usize>>) {
    async fn hook(State(n): State<Arc<Mutex<usize>>>) {
        *n.lock().unwrap_or_else(|p| p.into_inner()) += 1;
    }
    let received = Arc::new(Mutex::new(0));
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(hook))
        .with_state(Arc::clone(&received));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind webhook");
    let url = format!("http://{}/hook", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, received)
}

fn scheduled_event() -> CloudWatchEvent {
    serde_json::from_value(json!({
        "version": "0",
        "id": uuid::Uuid::new_v4().to_string(),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": chrono::Utc::now(),
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/contact-sync-poller"],
        "detail": {}
    }))
    .expect("scheduled event")
}

/// The three functions, each with its own deployment behind its own recorder.
struct World {
    sf: SalesforceSim,
    gz: GenesysSim,
    stack: Stack,
    sqs: aws_sdk_sqs::Client,
    functions: BTreeMap<&'static str, (Deployment, Recorder)>,
    digests: Arc<Mutex<usize>>,
}

impl World {
    async fn new(test: &str) -> Option<World> {
        let url = emulator::endpoint(test)?;
        let stack = Stack::create(test).await?;
        let sf = SalesforceSim::start(SalesforceSimConfig::default())
            .await
            .expect("salesforce simulator");
        let gz = GenesysSim::start(GenesysSimConfig::default())
            .await
            .expect("genesys simulator");
        let prefix = stack.resources.table.clone();
        let sf_arn = stack.create_secret(
            &format!("{prefix}-salesforce"),
            &json!({"client_id": sf.client_id(), "client_secret": sf.client_secret(), "login_url": sf.url()}),
        )
        .await;
        let gz_arn = stack.create_secret(
            &format!("{prefix}-genesys"),
            &json!({"client_id": gz.client_id(), "client_secret": gz.client_secret(), "api_base": gz.url()}),
        )
        .await;
        let (hook_url, digests) = webhook().await;
        let hook_arn = stack
            .create_secret(&format!("{prefix}-webhook"), &json!({"url": hook_url}))
            .await;
        let mut vars: HashMap<String, String> = stack.resources.variables().into_iter().collect();
        vars.insert(SALESFORCE_SECRET_ARN.into(), sf_arn);
        vars.insert(GENESYS_SECRET_ARN.into(), gz_arn);
        vars.insert(ALERT_WEBHOOK_SECRET_ARN.into(), hook_arn);
        // The mapping as deployed: in a parameter the functions read at cold start.
        let parameter = format!("/{prefix}/mapping");
        deployed_mapping::publish(
            &aws_sdk_ssm::Client::new(&stack.sdk),
            &parameter,
            DEFAULT_MAPPING_YAML,
            "built-in",
        )
        .await
        .expect("publish the mapping");
        vars.insert(CONTACT_SYNC_MAPPING_PARAMETER.into(), parameter);
        vars.insert(CONTACT_SYNC_INTEGRATION.into(), "default".into());
        let mut functions = BTreeMap::new();
        for function in ["PollerFunction", "ReconcilerFunction", "NotifierFunction"] {
            let (proxy, recorder) = Recorder::start(&url).await;
            let sdk = emulator::sdk_config(&proxy).await;
            let (sink, _) = contact_sync_aws::metrics::Sink::memory();
            // (as `Deployment::from_env` does at cold start)
            let mapping = deployed_mapping::load(&sdk, &vars)
                .await
                .expect("the deployed mapping");
            let deployment = Deployment::new(&sdk, vars.clone(), mapping)
                .expect("deployment")
                .with_metrics(sink);
            functions.insert(function, (deployment, recorder));
        }
        Some(World {
            sf,
            gz,
            sqs: aws_sdk_sqs::Client::new(&stack.sdk),
            stack,
            functions,
            digests,
        })
    }

    fn deployment(&self, function: &str) -> &Deployment {
        &self.functions[function].0
    }

    /// Up to ten messages of a queue as the `SqsEvent` Lambda would deliver.
    async fn receive(&self, queue: &str) -> Option<SqsEvent> {
        let out = self
            .sqs
            .receive_message()
            .queue_url(self.stack.resources.queue_url(queue))
            .max_number_of_messages(10)
            .send()
            .await
            .expect("receive");
        let records: Vec<Value> = out
            .messages()
            .iter()
            .map(|m| json!({"messageId": m.message_id(), "receiptHandle": m.receipt_handle(), "body": m.body(), "eventSource": "aws:sqs"}))
            .collect();
        (!records.is_empty())
            .then(|| serde_json::from_value(json!({ "Records": records })).expect("SqsEvent"))
    }

    /// Deletes the messages the handler did not report failed (as the event source does).
    async fn settle(&self, queue: &str, event: &SqsEvent, response: &SqsBatchResponse) {
        let failed: HashSet<&str> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        for m in &event.records {
            if !failed.contains(m.message_id.as_deref().unwrap_or("")) {
                self.sqs
                    .delete_message()
                    .queue_url(self.stack.resources.queue_url(queue))
                    .receipt_handle(m.receipt_handle.as_deref().expect("receipt"))
                    .send()
                    .await
                    .expect("delete");
            }
        }
    }

    /// The reconciler as its main runs it: init (the integration), then each delivery.
    async fn reconcile_all(&self) {
        let deployment = self.deployment("ReconcilerFunction");
        deployment.integration().await.expect("reconciler init");
        for _ in 0..20 {
            let Some(event) = self.receive("ReconcileQueue").await else {
                return;
            };
            let response = reconciler::handle(deployment, event.clone())
                .await
                .expect("reconciler");
            self.settle("ReconcileQueue", &event, &response).await;
        }
        panic!("the reconcile queue did not drain");
    }

    /// The notifier as its main runs it: the alerter at init, then each delivery.
    async fn notify_all(&self) {
        let deployment = self.deployment("NotifierFunction");
        let alerter = deployment.alerter().await.expect("notifier init");
        while let Some(event) = self.receive("ConflictQueue").await {
            let response = notifier::handle_measured(deployment, &*alerter, event.clone()).await;
            assert!(response.batch_item_failures.is_empty(), "{response:?}");
            self.settle("ConflictQueue", &event, &response).await;
        }
    }

    /// A whole run: the poller as its main runs it, then the reconciler and the notifier.
    async fn run(&self) -> PollReport {
        let report = poller::invoke(
            self.deployment("PollerFunction"),
            &scheduled_event(),
            Instant::now() + Duration::from_secs(600),
        )
        .await
        .expect("poller");
        self.reconcile_all().await;
        self.notify_all().await;
        report
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_aws_action_a_function_makes_is_granted_and_every_grant_is_used() {
    // GIVEN contacts that give each function its paths: Ana in both systems (linked by
    // email), Ben only in Salesforce, Dee only in Genesys
    let Some(w) = World::new("IAM permissions").await else {
        return;
    };
    let ana =
        w.sf.insert(json!({"FirstName": "Ana", "LastName": "Lopez", "Email": "ana@example.com", "Title": "Agent"}));
    let ana_gz = w.gz.insert(json!({"firstName": "Ana", "lastName": "Lopez", "workEmail": "ana@example.com", "title": "Agent"}));
    let ben =
        w.sf.insert(json!({"FirstName": "Ben", "LastName": "Okafor", "Email": "ben@example.com"}));
    w.gz.insert(json!({"firstName": "Dee", "lastName": "Ng", "workEmail": "dee@example.com"}));

    // WHEN a poll needs two invocations (a checkpoint saved and resumed), then a third
    // finishes it, and the reconciler and the notifier drain what they sent
    let poller = w.deployment("PollerFunction");
    let continued = poller::invoke_within(poller, &scheduled_event(), &PollBudget::steps(1))
        .await
        .expect("poller");
    assert!(
        matches!(continued, PollReport::Continued { .. }),
        "{continued:?}"
    );
    let first = w.run().await;
    assert!(matches!(first, PollReport::Polled { .. }), "{first:?}");
    // AND both sides then edit Ana's title (a conflict, sent to the notifier) and Ben is
    // deleted in Salesforce (a held delete, a review item), and the next run goes through
    w.sf.edit(&ana, json!({"Title": "Lead"}));
    tokio::time::sleep(Duration::from_millis(15)).await;
    w.gz.edit(&ana_gz, json!({"title": "Manager"}));
    w.sf.delete(&ben);
    let second = w.run().await;
    assert!(matches!(second, PollReport::Polled { .. }), "{second:?}");
    assert!(
        *w.digests.lock().expect("digests") >= 1,
        "a digest was sent"
    );

    // THEN for each function, every action it made is one its role grants (on an index, a
    // statement naming the table's indexes), and every action granted was made or is kept
    // for a stated reason
    let template = template();
    let mut problems = Vec::new();
    for (function, (_, recorder)) in &w.functions {
        let granted = statements(&template, function);
        let used = recorder.actions();
        assert!(!used.is_empty(), "{function} made no AWS request");
        for u in &used {
            let grants: Vec<&Statement> = granted
                .iter()
                .filter(|s| s.actions.contains(&u.action))
                .collect();
            if grants.is_empty() {
                problems.push(format!(
                    "{function} makes {} but is not granted it",
                    u.action
                ));
            } else if u.on_index
                && !grants
                    .iter()
                    .any(|s| s.resources.iter().any(|r| r.contains("/index/")))
            {
                problems.push(format!(
                    "{function} makes {} on an index but is granted it on the table only",
                    u.action
                ));
            }
        }
        let used_actions: BTreeSet<&str> = used.iter().map(|u| u.action.as_str()).collect();
        for action in granted.iter().flat_map(|s| s.actions.iter()) {
            let kept = KEPT
                .iter()
                .any(|(f, a, why)| f == function && a == action && !why.is_empty());
            if !used_actions.contains(action.as_str()) && !kept {
                problems.push(format!(
                    "{function} is granted {action} but never makes it (drop it, or list it in KEPT with the reason)"
                ));
            }
        }
        eprintln!("{function}: {used:?}");
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn the_recorder_names_the_actions_iam_authorises() {
    // GIVEN requests as the SDK sends them
    let put = json!({"TransactItems": [{"Put": {}}, {"Update": {}}, {"ConditionCheck": {}}]});
    // WHEN their actions are named
    let transact = actions_of(
        "DynamoDB_20120810.TransactWriteItems",
        put.to_string().as_bytes(),
    );
    let batch = actions_of("AmazonSQS.SendMessageBatch", b"{}");
    let query = actions_of("DynamoDB_20120810.Query", br#"{"IndexName": "listing"}"#);
    let secret = actions_of("secretsmanager.GetSecretValue", b"{}");
    // THEN a transaction needs each item's action, a batch its single counterpart's, and an
    // index query is marked as one
    let names = |uses: &[Use]| uses.iter().map(|u| u.action.clone()).collect::<Vec<_>>();
    assert_eq!(
        names(&transact),
        [
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:ConditionCheckItem"
        ]
    );
    assert_eq!(names(&batch), ["sqs:SendMessage"]);
    assert!(query[0].on_index && query[0].action == "dynamodb:Query");
    assert_eq!(names(&secret), ["secretsmanager:GetSecretValue"]);
}
