//! End-to-end on the AWS path: the three Lambda handlers over DynamoDB, SQS and Secrets Manager
//! in moto (tables and queues created from `template.yaml`), both simulators, and a local
//! webhook receiver. EventBridge and the SQS event source mapping do not run in moto, so the
//! tests play them: a scheduled event is handed to the poller's handler, and [`AwsWorld::drain`]
//! receives messages, hands them to a handler as an `SqsEvent`, deletes the ones it did not
//! report failed and makes the failed ones visible again (as Lambda does once their visibility
//! timeout passes). Needs `CONTACT_SYNC_MOTO_URL` (see `contact_sync_aws::emulator`).

use aws_lambda_events::event::cloudwatch_events::CloudWatchEvent;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use axum::Json;
use axum::extract::State;
use contact_sync_aws::Deployment;
use contact_sync_aws::deployment::{ALERT_WEBHOOK_URL, GENESYS_SECRET_ARN, SALESFORCE_SECRET_ARN};
use contact_sync_aws::emulator::Stack;
use contact_sync_engine::Side;
use contact_sync_engine::mapping::Mapping;
use contact_sync_pipeline::poll::PollBudget;
use contact_sync_pipeline::store::{
    ConflictKind, ConflictRecord, ConflictStatus, PollCheckpoint, SyncStore,
};
use contact_sync_pipeline::system::Watermark;
use contact_sync_simulators::{GenesysSim, GenesysSimConfig, SalesforceSim, SalesforceSimConfig};
use poller::PollReport;
use serde_json::{Value, json};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const RECONCILE_QUEUE: &str = "ReconcileQueue";
const RECONCILE_DLQ: &str = "ReconcileDeadLetterQueue";
const CONFLICT_QUEUE: &str = "ConflictQueue";

/// Both simulators, a fresh copy of the template's resources in moto, secrets pointing at the
/// simulators, a webhook receiver, and the deployment the Lambdas would build from them.
struct AwsWorld {
    sf: SalesforceSim,
    gz: GenesysSim,
    stack: Stack,
    deployment: Deployment,
    sqs: aws_sdk_sqs::Client,
    secrets: aws_sdk_secretsmanager::Client,
    genesys_secret_arn: String,
    webhook: Arc<Mutex<Vec<Value>>>,
    /// The EMF documents the handlers emitted.
    metrics: Arc<Mutex<Vec<Value>>>,
}

impl AwsWorld {
    async fn new(test: &str) -> Option<AwsWorld> {
        AwsWorld::with_genesys_secret(test, None).await
    }

    /// With its functions on `mapping` instead of the built-in one.
    async fn with_mapping(test: &str, mapping: Mapping) -> Option<AwsWorld> {
        AwsWorld::build(test, None, mapping).await
    }

    /// `genesys_secret`: a client secret to store instead of the simulator's (a wrong one).
    async fn with_genesys_secret(test: &str, genesys_secret: Option<&str>) -> Option<AwsWorld> {
        AwsWorld::build(test, genesys_secret, Mapping::default_mapping()).await
    }

    async fn build(test: &str, genesys_secret: Option<&str>, mapping: Mapping) -> Option<AwsWorld> {
        let stack = Stack::create(test).await?;
        let sf = SalesforceSim::start(SalesforceSimConfig::default())
            .await
            .expect("salesforce simulator");
        let gz = GenesysSim::start(GenesysSimConfig::default())
            .await
            .expect("genesys simulator");
        let secrets = aws_sdk_secretsmanager::Client::new(&stack.sdk);
        let prefix = &stack.resources.table;
        let sf_arn = stack.create_secret(
            &format!("{prefix}-salesforce"),
            &json!({"client_id": sf.client_id(), "client_secret": sf.client_secret(), "login_url": sf.url()}),
        )
        .await;
        let gz_arn = stack.create_secret(
            &format!("{prefix}-genesys"),
            &json!({"client_id": gz.client_id(), "client_secret": genesys_secret.unwrap_or(gz.client_secret()), "api_base": gz.url()}),
        )
        .await;
        let webhook = Arc::new(Mutex::new(Vec::new()));
        let webhook_url = webhook_receiver(Arc::clone(&webhook)).await;
        let mut vars: std::collections::HashMap<String, String> =
            stack.resources.variables().into_iter().collect();
        vars.insert(SALESFORCE_SECRET_ARN.into(), sf_arn);
        vars.insert(GENESYS_SECRET_ARN.into(), gz_arn.clone());
        vars.insert(ALERT_WEBHOOK_URL.into(), webhook_url);
        let (sink, metrics) = contact_sync_aws::metrics::Sink::memory();
        let deployment = Deployment::new(&stack.sdk, vars, mapping)
            .expect("deployment")
            .with_metrics(sink);
        Some(AwsWorld {
            sf,
            gz,
            sqs: aws_sdk_sqs::Client::new(&stack.sdk),
            secrets,
            genesys_secret_arn: gz_arn,
            stack,
            deployment,
            webhook,
            metrics,
        })
    }

    /// The poller's handler on a scheduled event.
    async fn poll(&self) -> PollReport {
        poller::handle(
            &self.deployment,
            &scheduled_event(),
            Instant::now() + Duration::from_secs(600),
        )
        .await
        .expect("poller")
    }

    fn queue_url(&self, logical_id: &str) -> &str {
        self.stack.resources.queue_url(logical_id)
    }

    /// Up to ten messages of a queue as the `SqsEvent` Lambda would deliver (none: `None`).
    async fn receive(&self, logical_id: &str) -> Option<SqsEvent> {
        let out = self
            .sqs
            .receive_message()
            .queue_url(self.queue_url(logical_id))
            .max_number_of_messages(10)
            .send()
            .await
            .expect("receive");
        let records: Vec<Value> = out
            .messages()
            .iter()
            .map(|m| {
                json!({
                    "messageId": m.message_id(),
                    "receiptHandle": m.receipt_handle(),
                    "body": m.body(),
                    "eventSource": "aws:sqs",
                })
            })
            .collect();
        (!records.is_empty())
            .then(|| serde_json::from_value(json!({ "Records": records })).expect("SqsEvent"))
    }

    /// Settles a delivery like the event source mapping: delete what succeeded, make what
    /// failed visible again at once (instead of after its visibility timeout).
    async fn settle(&self, logical_id: &str, event: &SqsEvent, response: &SqsBatchResponse) {
        let failed: HashSet<&str> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        for m in &event.records {
            let receipt = m.receipt_handle.as_deref().expect("receipt");
            if failed.contains(m.message_id.as_deref().unwrap_or("")) {
                self.sqs
                    .change_message_visibility()
                    .queue_url(self.queue_url(logical_id))
                    .receipt_handle(receipt)
                    .visibility_timeout(0)
                    .send()
                    .await
                    .expect("change visibility");
            } else {
                self.sqs
                    .delete_message()
                    .queue_url(self.queue_url(logical_id))
                    .receipt_handle(receipt)
                    .send()
                    .await
                    .expect("delete");
            }
        }
    }

    /// Delivers the reconcile queue to the reconciler until it is empty (at most `rounds`
    /// deliveries); the failed message ids of every delivery, in order.
    async fn drain_reconcile(&self, rounds: usize) -> Vec<Vec<String>> {
        let mut failures = Vec::new();
        for _ in 0..rounds {
            let Some(event) = self.receive(RECONCILE_QUEUE).await else {
                break;
            };
            let response = reconciler::handle(&self.deployment, event.clone())
                .await
                .expect("reconciler");
            self.settle(RECONCILE_QUEUE, &event, &response).await;
            failures.push(
                response
                    .batch_item_failures
                    .iter()
                    .map(|f| f.item_identifier.clone())
                    .collect(),
            );
        }
        failures
    }

    /// Delivers the conflict queue to the notifier until it is empty.
    async fn drain_conflicts(&self) {
        let alerter = self.deployment.alerter().await.expect("alerter");
        while let Some(event) = self.receive(CONFLICT_QUEUE).await {
            let response = notifier::handle(&*alerter, event.clone()).await;
            assert!(
                response.batch_item_failures.is_empty(),
                "notifier failures: {:?}",
                response.batch_item_failures
            );
            self.settle(CONFLICT_QUEUE, &event, &response).await;
        }
    }

    /// One whole scheduled run: poll, reconcile every batch, notify.
    async fn run(&self) -> PollReport {
        let report = self.poll().await;
        let failures = self.drain_reconcile(20).await;
        assert!(failures.iter().all(Vec::is_empty), "{failures:?}");
        self.drain_conflicts().await;
        report
    }

    async fn send(&self, logical_id: &str, body: &str) {
        self.sqs
            .send_message()
            .queue_url(self.queue_url(logical_id))
            .message_body(body)
            .send()
            .await
            .expect("send");
    }

    async fn queue_depth(&self, logical_id: &str) -> usize {
        let out = self
            .sqs
            .get_queue_attributes()
            .queue_url(self.queue_url(logical_id))
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await
            .expect("attributes");
        out.attributes()
            .and_then(|a| {
                a.get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            })
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }

    /// The poll checkpoint and the Salesforce watermark stored for the integration.
    async fn poll_position(&self) -> (Option<PollCheckpoint>, Option<Watermark>) {
        let store = self.deployment.store();
        (
            store
                .load_poll_checkpoint("default")
                .await
                .expect("checkpoint"),
            store
                .watermark("default", Side::Salesforce)
                .await
                .expect("watermark"),
        )
    }

    fn genesys_linked_to(&self, sf_id: &str) -> Vec<Value> {
        contact_sync_e2e::genesys_linked_to(&self.gz, sf_id)
    }

    fn webhook_texts(&self) -> Vec<String> {
        self.webhook
            .lock()
            .expect("webhook lock")
            .iter()
            .filter_map(|b| b["text"].as_str().map(str::to_string))
            .collect()
    }
}

/// A Slack-compatible webhook on loopback: records every JSON body it receives.
async fn webhook_receiver(received: Arc<Mutex<Vec<Value>>>) -> String {
    async fn hook(State(received): State<Arc<Mutex<Vec<Value>>>>, Json(body): Json<Value>) {
        received.lock().expect("webhook lock").push(body);
    }
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(hook))
        .with_state(received);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind webhook");
    let url = format!("http://{}/hook", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
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

/// A pause long enough for the next edit to carry a later stamp on any system.
async fn tick() {
    tokio::time::sleep(Duration::from_millis(15)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_scheduled_event_flows_through_poller_reconciler_and_notifier_to_the_webhook() {
    // GIVEN Ana in both systems (different email case), Ben only in Salesforce, and a first
    // scheduled run that links Ana and creates Ben in Genesys
    let Some(w) = AwsWorld::new("end-to-end on moto").await else {
        return;
    };
    let ana = w.sf.insert(json!({"FirstName": "Ana", "LastName": "Lopez", "Email": "Ana.Lopez@Example.com", "Title": "Agent"}));
    let ana_gz = w.gz.insert(json!({"firstName": "Ana", "lastName": "Lopez", "workEmail": "ana.lopez@example.com", "title": "Agent"}));
    let ben =
        w.sf.insert(json!({"FirstName": "Ben", "LastName": "Okafor", "Email": "ben@example.com"}));
    let first = w.run().await;
    assert!(
        matches!(first, PollReport::Polled { batches: 1, .. }),
        "{first:?}"
    );
    assert_eq!(w.genesys_linked_to(&ana)[0]["id"], ana_gz);
    assert_eq!(w.genesys_linked_to(&ben).len(), 1);
    assert!(w.webhook_texts().is_empty(), "no conflicts yet");

    // WHEN both sides change Ana's title (newest_wins), Genesys last, and the next scheduled
    // event goes poller → reconcile queue → reconciler → conflict queue → notifier
    w.sf.edit(&ana, json!({"Title": "Lead"}));
    tick().await;
    w.gz.edit(&ana_gz, json!({"title": "Manager"}));
    let second = w.run().await;

    // THEN both systems hold Genesys's newer title, and nobody was duplicated
    assert!(matches!(second, PollReport::Polled { .. }), "{second:?}");
    assert_eq!(w.sf.get(&ana).expect("sf")["Title"], "Manager");
    assert_eq!(w.gz.get(&ana_gz).expect("gz")["title"], "Manager");
    assert_eq!((w.sf.all().len(), w.gz.all().len()), (2, 2));
    // AND the audit entry in DynamoDB holds the decision and the values
    let store = w.deployment.store();
    let conflicts = store.conflicts("default", false).await.expect("conflicts");
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    let title = &conflicts[0];
    assert_eq!(title.field, "title");
    assert_eq!(
        title.kind,
        ConflictKind::Resolved {
            winner: Side::Genesys
        }
    );
    assert_eq!(
        (
            title.base_value.as_deref(),
            title.salesforce_value.as_deref(),
            title.genesys_value.as_deref()
        ),
        (Some("Agent"), Some("Lead"), Some("Manager"))
    );
    // AND the webhook got one digest naming the field, with no value in it
    let texts = w.webhook_texts();
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert!(
        texts[0].contains("1 conflict(s)") && texts[0].contains("title"),
        "{}",
        texts[0]
    );
    assert!(
        !texts[0].contains("Manager") && !texts[0].contains("Lead"),
        "{}",
        texts[0]
    );
    // AND both runs were recorded, and every queue is empty
    assert_eq!(store.runs("default", 10).await.expect("runs").len(), 2);
    assert_eq!(w.queue_depth(RECONCILE_QUEUE).await, 0);
    assert_eq!(w.queue_depth(CONFLICT_QUEUE).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_concurrent_reconcilers_create_one_pair_and_one_record() {
    // GIVEN a new Salesforce contact and a poll that enqueued its (unlinked) reference
    let Some(w) = AwsWorld::new("concurrent reconcilers").await else {
        return;
    };
    let cleo =
        w.sf.insert(json!({"FirstName": "Cleo", "LastName": "Park", "Email": "cleo@example.org"}));
    w.poll().await;
    let event = w.receive(RECONCILE_QUEUE).await.expect("one batch");
    assert_eq!(event.records.len(), 1);

    // WHEN two reconcilers get the same message at once (a duplicate delivery)
    let (a, b) = tokio::join!(
        reconciler::handle(&w.deployment, event.clone()),
        reconciler::handle(&w.deployment, event.clone())
    );
    a.expect("first reconciler");
    b.expect("second reconciler");

    // THEN exactly one Genesys contact exists for Cleo, and one pair links both records
    let linked = w.genesys_linked_to(&cleo);
    assert_eq!(linked.len(), 1, "{linked:?}");
    assert_eq!(w.gz.all().len(), 1);
    let store = w.deployment.store();
    let sf_link = store
        .links(Side::Salesforce, std::slice::from_ref(&cleo))
        .await
        .expect("links");
    let gz_id = linked[0]["id"].as_str().expect("id").to_string();
    let gz_link = store.links(Side::Genesys, &[gz_id]).await.expect("links");
    assert_eq!(sf_link.len(), 1);
    assert_eq!(sf_link.get(&cleo), gz_link.values().next());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_live_run_lease_stops_a_second_poll_and_an_expired_one_is_taken_over() {
    // GIVEN a run lease held by another poller, live for 10 more minutes
    let Some(w) = AwsWorld::new("run lease").await else {
        return;
    };
    w.sf.insert(json!({"LastName": "Dee", "Email": "dee@example.com"}));
    let store = w.deployment.store();
    // The key the poll use case leases a run under (poll.rs).
    let key = "run#default";
    let now = chrono::Utc::now();
    assert!(
        store
            .acquire_lease(key, "other-run", now, chrono::Duration::minutes(10))
            .await
            .expect("lease")
    );

    // WHEN a scheduled poll runs
    let blocked = w.poll().await;

    // THEN it exits cleanly without enqueueing anything or moving a watermark
    assert!(matches!(blocked, PollReport::Skipped { .. }), "{blocked:?}");
    assert_eq!(w.queue_depth(RECONCILE_QUEUE).await, 0);
    assert_eq!(
        store
            .watermark("default", Side::Salesforce)
            .await
            .expect("wm"),
        None
    );

    // GIVEN the other poller's lease has expired (taken again, as it, with an old start)
    assert!(
        store
            .acquire_lease(
                key,
                "other-run",
                now - chrono::Duration::hours(1),
                chrono::Duration::minutes(10)
            )
            .await
            .expect("lease")
    );
    // WHEN the next scheduled poll runs
    let taken = w.poll().await;
    // THEN it takes the lease over, enqueues the change and moves the watermark
    assert!(
        matches!(taken, PollReport::Polled { batches: 1, .. }),
        "{taken:?}"
    );
    assert_eq!(w.queue_depth(RECONCILE_QUEUE).await, 1);
    assert!(
        store
            .watermark("default", Side::Salesforce)
            .await
            .expect("wm")
            .is_some()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_redelivered_batch_changes_nothing() {
    // GIVEN a batch that was reconciled (Eve created in Genesys) and its message kept
    let Some(w) = AwsWorld::new("redelivery").await else {
        return;
    };
    let eve = w.sf.insert(json!({"FirstName": "Eve", "LastName": "Stone", "Email": "eve@example.com", "Title": "Buyer"}));
    w.poll().await;
    let event = w.receive(RECONCILE_QUEUE).await.expect("one batch");
    let first = reconciler::handle(&w.deployment, event.clone())
        .await
        .expect("reconciler");
    assert!(first.batch_item_failures.is_empty());
    assert_eq!(w.genesys_linked_to(&eve).len(), 1);
    let store = w.deployment.store();
    let links_before = store
        .links(Side::Salesforce, std::slice::from_ref(&eve))
        .await
        .expect("links");

    // WHEN the same message is delivered again (at-least-once)
    w.sf.reset_counters();
    w.gz.reset_counters();
    let again = reconciler::handle(&w.deployment, event)
        .await
        .expect("reconciler");

    // THEN it succeeds without a single write to either system, a new record or a new pair
    assert!(again.batch_item_failures.is_empty());
    assert_eq!(w.sf.counters().writes + w.gz.counters().writes, 0);
    assert_eq!((w.sf.all().len(), w.gz.all().len()), (1, 1));
    assert_eq!(
        store
            .links(Side::Salesforce, std::slice::from_ref(&eve))
            .await
            .expect("links"),
        links_before
    );
    assert!(
        store
            .conflicts("default", false)
            .await
            .expect("conflicts")
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_malformed_message_ends_in_the_dead_letter_queue_while_its_batch_succeeds() {
    // GIVEN a polled batch for a new contact and, in the same queue, a message that is not a
    // reconcile batch
    let Some(w) = AwsWorld::new("malformed message").await else {
        return;
    };
    let finn =
        w.sf.insert(json!({"FirstName": "Finn", "LastName": "Hale", "Email": "finn@example.com"}));
    w.poll().await;
    w.send(RECONCILE_QUEUE, "{\"v\":1,\"not\":\"a batch\"}")
        .await;

    // WHEN the queue is delivered to the reconciler until nothing is left (each failed
    // delivery comes back, up to the template's maxReceiveCount)
    let deliveries = w.drain_reconcile(20).await;

    // THEN the good batch was reconciled in the first delivery, beside the bad message
    assert_eq!(w.genesys_linked_to(&finn).len(), 1);
    assert_eq!(
        deliveries[0].len(),
        1,
        "only the malformed message failed: {deliveries:?}"
    );
    // AND the malformed message failed every time it came, then moved to the DLQ
    assert_eq!(
        deliveries.iter().filter(|d| d.len() == 1).count(),
        5,
        "{deliveries:?}"
    );
    assert_eq!(w.queue_depth(RECONCILE_QUEUE).await, 0);
    let dead = w.receive(RECONCILE_DLQ).await.expect("a dead letter");
    assert_eq!(dead.records.len(), 1);
    assert_eq!(
        dead.records[0].body.as_deref(),
        Some("{\"v\":1,\"not\":\"a batch\"}")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rotated_credentials_are_picked_up_after_an_auth_failure() {
    // GIVEN the Genesys secret holds a wrong client secret
    let Some(w) =
        AwsWorld::with_genesys_secret("credential rotation", Some("not-the-secret")).await
    else {
        return;
    };
    w.sf.insert(json!({"LastName": "Gus", "Email": "gus@example.com"}));
    let refused = poller::handle(
        &w.deployment,
        &scheduled_event(),
        Instant::now() + Duration::from_secs(600),
    )
    .await;
    assert!(refused.is_err(), "{refused:?}");
    assert!(!format!("{refused:?}").contains("not-the-secret"));

    // WHEN the secret is rotated to the right value, without restarting anything
    w.secrets
        .put_secret_value()
        .secret_id(&w.genesys_secret_arn)
        .secret_string(
            json!({"client_id": w.gz.client_id(), "client_secret": w.gz.client_secret(), "api_base": w.gz.url()})
                .to_string(),
        )
        .send()
        .await
        .expect("rotate");
    let report = w.poll().await;

    // THEN the next run reads the new secret after the refusal and polls
    assert!(
        matches!(report, PollReport::Polled { batches: 1, .. }),
        "{report:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_function_emits_one_emf_line_per_invocation_with_counts_and_no_values() {
    // GIVEN Hana only in Salesforce and Ivo in both systems with different titles changed on
    // both sides after a first run (a conflict settled by policy)
    let Some(w) = AwsWorld::new("metrics").await else {
        return;
    };
    let hana = w
        .sf
        .insert(json!({"FirstName": "Hana", "LastName": "Sato", "Email": "hana.sato@example.com"}));
    let ivo =
        w.sf.insert(json!({"LastName": "Ivo", "Email": "ivo@example.com", "Title": "Agent"}));
    let ivo_gz =
        w.gz.insert(json!({"lastName": "Ivo", "workEmail": "ivo@example.com", "title": "Agent"}));
    w.run().await;
    w.sf.edit(&ivo, json!({"Title": "Lead"}));
    tick().await;
    w.gz.edit(&ivo_gz, json!({"title": "Manager"}));
    w.metrics.lock().expect("metrics").clear();

    // WHEN the second run goes through the poller (as its main wraps it), the reconciler and
    // the notifier (as its main calls it)
    let report = poller::invoke(
        &w.deployment,
        &scheduled_event(),
        Instant::now() + Duration::from_secs(600),
    )
    .await
    .expect("poller");
    assert!(matches!(report, PollReport::Polled { .. }), "{report:?}");
    assert!(w.drain_reconcile(5).await.iter().all(Vec::is_empty));
    let alerter = w.deployment.alerter().await.expect("alerter");
    let event = w.receive(CONFLICT_QUEUE).await.expect("a conflict event");
    let response = notifier::handle_measured(&w.deployment, &*alerter, event.clone()).await;
    w.settle(CONFLICT_QUEUE, &event, &response).await;

    // THEN there is one document per invocation, each with the namespace and both dimensions
    let docs = w.metrics.lock().expect("metrics").clone();
    let by = |function: &str| -> Vec<&Value> {
        docs.iter().filter(|d| d["Function"] == function).collect()
    };
    let (poller, reconciler, notifier) = (by("poller"), by("reconciler"), by("notifier"));
    assert_eq!(
        (poller.len(), reconciler.len(), notifier.len()),
        (1, 1, 1),
        "{docs:#?}"
    );
    for doc in &docs {
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "ContactSync");
        assert_eq!(
            directive["Dimensions"],
            json!([["Integration", "Function"]])
        );
        assert_eq!(doc["Integration"], "default");
        assert!(doc["_aws"]["Timestamp"].is_i64());
        for metric in directive["Metrics"].as_array().expect("metrics") {
            let name = metric["Name"].as_str().expect("name");
            assert!(doc[name].is_number(), "{name} has no numeric value");
        }
    }
    // AND the poller's line says a successful run that read Ivo on both sides, with the time
    // since the first run and the API calls it made
    let p = poller[0];
    assert_eq!(
        (
            p["Runs"].as_u64(),
            p["SuccessfulRuns"].as_u64(),
            p["FailedRuns"].as_u64()
        ),
        (Some(1), Some(1), Some(0))
    );
    // (Ivo, and Hana again: the poller re-reads the last `poller::WATERMARK_SKEW` of changes)
    assert_eq!(p["SalesforceRecordsChanged"], 2);
    // (Ivo, and Hana's Genesys record created by the first run: the echo of our own write)
    assert_eq!(p["PairsEnqueued"], 2);
    assert!(p["SecondsSinceLastSuccessfulRun"].as_f64().is_some(), "{p}");
    assert!(p["SalesforceApiCalls"].as_u64() > Some(0), "{p}");
    assert!(p["GenesysApiCalls"].as_u64() > Some(0), "{p}");
    assert!(p["SalesforceApiUsagePercent"].as_f64().is_some(), "{p}");
    // AND the reconciler's line counts the conflict and the one write it made (Salesforce
    // takes Genesys's newer title), the echo as unchanged, and no error
    let r = reconciler[0];
    assert_eq!(
        (r["Messages"].as_u64(), r["Pairs"].as_u64()),
        (Some(1), Some(2))
    );
    assert_eq!(r["Conflicts"], 1);
    assert_eq!(r["Unchanged"], 1);
    assert_eq!(r["SalesforceRecordsWritten"], 1);
    assert_eq!(r["GenesysRecordsWritten"], 0);
    assert_eq!(
        (r["Errors"].as_u64(), r["FailedMessages"].as_u64()),
        (Some(0), Some(0))
    );
    // AND the notifier's line counts the delivered digest
    let n = notifier[0];
    assert_eq!(
        (
            n["Messages"].as_u64(),
            n["Digests"].as_u64(),
            n["FailedMessages"].as_u64()
        ),
        (Some(1), Some(1), Some(0))
    );
    // AND no line carries a value or an email
    let text = serde_json::to_string(&docs).expect("json");
    for value in ["Lead", "Manager", "Agent", "@example.com", "Hana", "Ivo"] {
        assert!(
            !text.contains(value),
            "a metric line carries {value}: {text}"
        );
    }
    assert!(!w.genesys_linked_to(&hana).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_poll_longer_than_one_invocation_continues_in_the_next_one() {
    // GIVEN Ana in both systems, Ben only in Salesforce, Dee only in Genesys
    let Some(w) = AwsWorld::new("poll continued").await else {
        return;
    };
    let ana =
        w.sf.insert(json!({"FirstName": "Ana", "LastName": "Lopez", "Email": "Ana@Example.com"}));
    let ana_gz = w
        .gz
        .insert(json!({"firstName": "Ana", "lastName": "Lopez", "workEmail": "ana@example.com"}));
    let ben =
        w.sf.insert(json!({"FirstName": "Ben", "LastName": "Okafor", "Email": "ben@example.com"}));
    w.gz.insert(json!({"firstName": "Dee", "lastName": "Ng", "workEmail": "dee@example.com"}));
    let store = w.deployment.store();

    // WHEN two scheduled invocations each have room for one step only (the Salesforce page,
    // then the Genesys page), and the reconciler drains what they enqueued
    let tiny = PollBudget::steps(1);
    let first = poller::handle_within(&w.deployment, &scheduled_event(), &tiny)
        .await
        .expect("poller");
    let second = poller::handle_within(&w.deployment, &scheduled_event(), &tiny)
        .await
        .expect("poller");
    let (between, watermark_between) = w.poll_position().await;
    w.drain_reconcile(5).await;
    // AND a third, with the whole invocation's time, runs the finish
    let third = w.run().await;

    // THEN the first two reported `continued` for one poll, with its checkpoint in DynamoDB
    // and no watermark moved, and the third finished it
    let poll_of = |report: &PollReport| match report {
        PollReport::Continued {
            poll_id, steps: 1, ..
        } => Some(poll_id.clone()),
        _ => None,
    };
    let poll_id = poll_of(&first).unwrap_or_else(|| panic!("{first:?}"));
    assert_eq!(poll_of(&second), Some(poll_id.clone()), "{second:?}");
    let between = between.expect("a checkpoint between invocations");
    assert_eq!((between.poll_id, between.version), (poll_id, 2));
    assert_eq!(watermark_between, None);
    assert!(matches!(third, PollReport::Polled { .. }), "{third:?}");
    // AND both systems end right: Ana linked, Ben created in Genesys, Dee in Salesforce, once
    assert_eq!(w.genesys_linked_to(&ana)[0]["id"], ana_gz);
    assert_eq!(w.genesys_linked_to(&ben).len(), 1);
    assert_eq!(
        w.sf.all()
            .iter()
            .filter(|c| c["Email"] == "dee@example.com")
            .count(),
        1
    );
    assert_eq!((w.sf.all().len(), w.gz.all().len()), (3, 3));
    // AND the checkpoint is gone, the watermarks moved, and each invocation left a run record
    let (checkpoint, watermark) = w.poll_position().await;
    assert!(checkpoint.is_none() && watermark.is_some());
    assert_eq!(store.runs("default", 10).await.expect("runs").len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_invocation_without_time_for_one_step_moves_nothing() {
    // GIVEN a change waiting
    let Some(w) = AwsWorld::new("poll out of time").await else {
        return;
    };
    w.sf.insert(json!({"LastName": "Ida", "Email": "ida@example.com"}));
    // WHEN an invocation starts with less than the time margin left
    let report = poller::handle(&w.deployment, &scheduled_event(), Instant::now())
        .await
        .expect("poller");
    // THEN it is out of time, and nothing was enqueued, saved or moved
    assert!(matches!(report, PollReport::OutOfTime { .. }), "{report:?}");
    assert_eq!(w.queue_depth(RECONCILE_QUEUE).await, 0);
    assert_eq!(w.poll_position().await, (None, None));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_scheduled_functions_apply_a_release_of_held_deletes_and_close_it() {
    // GIVEN six synced contacts, a delete breaker at 2 records, and four of them deleted in
    // Salesforce: the scheduled run holds the deletes for review
    let yaml = format!(
        "deletes: {{policy: propagate, breaker: {{max_count: 2}}}}\n{}",
        contact_sync_engine::mapping::DEFAULT_MAPPING_YAML
    );
    let mapping = Mapping::from_yaml(&yaml, "breaker at 2").expect("mapping");
    let Some(w) = AwsWorld::with_mapping("held deletes released", mapping).await else {
        return;
    };
    let ids: Vec<String> = (0..6)
        .map(|i| {
            w.sf.insert(
                json!({"LastName": format!("Person {i}"), "Email": format!("p{i}@example.com")}),
            )
        })
        .collect();
    w.run().await;
    assert_eq!(w.gz.all().len(), 6);
    for id in &ids[..4] {
        w.sf.delete(id);
    }
    w.run().await;
    assert_eq!(w.gz.all().len(), 6, "the deletes are held");
    let store = w.deployment.store();
    let open = store.conflicts("default", true).await.expect("conflicts");
    let hold = open
        .iter()
        .find(|c| matches!(c.kind, ConflictKind::DeletesHeld { .. }))
        .unwrap_or_else(|| panic!("a hold: {open:?}"))
        .id
        .clone();

    // WHEN a person releases them (as `review resolve --release` does) and the next scheduled
    // runs go poller -> reconciler
    contact_sync_pipeline::review::decide(
        &*store,
        "default",
        &hold,
        contact_sync_pipeline::review::ReviewDecision::Release,
        chrono::Utc::now(),
    )
    .await
    .expect("release");
    let pending = || async {
        contact_sync_pipeline::review::pending_delete_decisions(&*store, "default")
            .await
            .expect("decisions")
            .len()
    };
    assert_eq!(pending().await, 1);
    w.run().await;

    // THEN the Lambdas applied the decision: the four deletes reached Genesys
    assert_eq!(w.gz.all().len(), 2, "the released deletes were applied");
    // AND the next scheduled poll closed the decision it had applied (the audit stays), and
    // nothing else was deleted
    w.run().await;
    assert_eq!(pending().await, 0, "the decision was closed");
    assert_eq!(w.gz.all().len(), 2);
    assert!(
        store
            .conflicts("default", false)
            .await
            .expect("audit")
            .iter()
            .any(|c| c.policy == "release"),
        "the decision stays as the audit"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_scheduled_poller_drops_audit_values_past_the_retention() {
    // GIVEN a deployment keeping audit values 30 days, and in its table an entry of 31 days,
    // one of 29 days and a review item of 31 days still open
    let yaml = format!(
        "{}\naudit:\n  value_retention_days: 30\n",
        contact_sync_engine::mapping::DEFAULT_MAPPING_YAML
    );
    let mapping = Mapping::from_yaml(&yaml, "30 days").expect("mapping");
    let Some(w) = AwsWorld::with_mapping("audit value retention", mapping).await else {
        return;
    };
    let store = w.deployment.store();
    let entry = |id: &str, status: ConflictStatus, days: i64| ConflictRecord {
        id: id.into(),
        integration: "default".into(),
        run_id: "run-old".into(),
        pair_id: Some(format!("pair-{id}")),
        sf_id: Some(format!("003{id}")),
        gz_id: Some(format!("gz-{id}")),
        field: "email".into(),
        policy: "manual".into(),
        kind: ConflictKind::Manual,
        status,
        base_value: Some("old@example.com".into()),
        salesforce_value: Some("ana@example.com".into()),
        genesys_value: Some("ana@example.org".into()),
        at: chrono::Utc::now() - chrono::Duration::days(days),
    };
    let old = entry("old", ConflictStatus::Closed, 31);
    let recent = entry("recent", ConflictStatus::Closed, 29);
    let open = entry("open", ConflictStatus::Open, 31);
    for e in [&old, &recent, &open] {
        store.record_conflict(e).await.expect("record");
    }
    // WHEN a scheduled run completes its poll
    let report = w.run().await;
    assert!(matches!(report, PollReport::Polled { .. }), "{report:?}");
    // THEN the old entry lost its values and kept its ids, field and decision
    let mut expected = old.clone();
    expected.drop_values();
    assert_eq!(store.conflict("old").await.expect("read"), Some(expected));
    // AND the recent entry and the open review item keep theirs
    assert_eq!(store.conflict("recent").await.expect("read"), Some(recent));
    assert_eq!(store.conflict("open").await.expect("read"), Some(open));
}
