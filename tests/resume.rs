//! End-to-end: a poll that spans several invocations (`poll_resumable`) over both simulators,
//! a memory store and the in-process queue, reconciling what each invocation enqueued before
//! the next one runs (as the reconciler Lambda would). Stopped after any number of steps, after
//! a checkpoint but before its finish could enqueue, by a killed invocation, by a refused
//! cursor, or raced by a second invocation, it ends where an uninterrupted poll ends.

use async_trait::async_trait;
use contact_sync_connectors::GenesysConfig;
use contact_sync_connectors::SalesforceConfig;
use contact_sync_e2e::World;
use contact_sync_engine::Side;
use contact_sync_engine::mapping::Mapping;
use contact_sync_pipeline::poll::{PollBudget, PollProgress, poll_resumable};
use contact_sync_pipeline::queue::{ConflictEvent, QueueError, ReconcileBatch, WorkQueue};
use contact_sync_pipeline::reconcile::reconcile;
use contact_sync_pipeline::store::{CheckpointWrite, PollCheckpoint, SyncStore};
use contact_sync_pipeline::system::{
    ChangePage, ContactReader, ContactSystem, ContactWriter, CreateRequest, DeletionRead,
    RawRecord, SystemFacts, SystemResult, UpdateRequest, Watermark, WriteOutcome,
};
use contact_sync_pipeline::{Integration, PipelineError};
use contact_sync_simulators::{GenesysSimConfig, SalesforceSimConfig, StampResolution};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::{Notify, Semaphore};

/// Salesforce query pages of 5 records, Genesys scan pages of 10 (the smallest it allows).
/// Salesforce stamps are unique milliseconds here in both profiles: these tests count the
/// poll's steps and place edits on pages already read, which whole-second stamps (the strict
/// profile) shift by a re-read of the read's own second; the strict profile's stamps are
/// exercised by the other end-to-end tests.
async fn small_pages() -> World {
    World::build(
        Mapping::default_mapping(),
        SalesforceSimConfig {
            query_batch_size: 5,
            stamps: StampResolution::UniqueMillisecond,
            ..SalesforceSimConfig::default()
        },
        GenesysSimConfig::default(),
        |_: &mut SalesforceConfig, gz: &mut GenesysConfig| {
            gz.requests_per_minute = None;
            gz.page_size = 10;
        },
    )
    .await
}

async fn tick() {
    tokio::time::sleep(Duration::from_millis(15)).await;
}

/// Reconciles every batch waiting in the in-process queue.
async fn reconcile_all(w: &World, integration: &Integration) {
    while let Some(batch) = w.queue.next_batch() {
        reconcile(integration, &batch).await.expect("reconcile");
    }
    w.queue.drain_conflicts();
}

async fn watermarks(w: &World) -> [Option<Watermark>; 2] {
    let name = &w.integration.name;
    [
        w.store.watermark(name, Side::Salesforce).await.expect("wm"),
        w.store.watermark(name, Side::Genesys).await.expect("wm"),
    ]
}

async fn checkpoint(w: &World) -> Option<PollCheckpoint> {
    w.store
        .load_poll_checkpoint(&w.integration.name)
        .await
        .expect("checkpoint")
}

/// The scenario: 16 people synced once, then, before the poll under test, edits on both
/// sides, people new on one side, a person new on both (same email), an ambiguous email, and a
/// deleted Salesforce contact.
async fn scenario(w: &World) {
    let mut filler_gz = Vec::new();
    for n in 1..=12 {
        let email = format!("p{n:02}@example.com");
        w.sf.insert(
            json!({"FirstName": "Pat", "LastName": format!("Filler{n:02}"), "Email": email}),
        );
        filler_gz.push(w.gz.insert(
            json!({"firstName": "Pat", "lastName": format!("Filler{n:02}"), "workEmail": email}),
        ));
    }
    let ana = w.sf.insert(json!({"FirstName": "Ana", "LastName": "Lopez", "Email": "Ana@Example.com", "Title": "Agent"}));
    w.gz.insert(json!({"firstName": "Ana", "lastName": "Lopez", "workEmail": "ana@example.com", "title": "Agent"}));
    w.sf.insert(json!({"FirstName": "Ben", "LastName": "Okafor", "Email": "ben@example.com"}));
    let cai =
        w.sf.insert(json!({"FirstName": "Cai", "LastName": "Wu", "Email": "cai@example.com"}));
    w.gz.insert(json!({"firstName": "Dee", "lastName": "Ng", "workEmail": "dee@example.com"}));
    let first = w.sync().await;
    assert_eq!(first.stats.failed, 0);
    assert_eq!((w.sf.all().len(), w.gz.all().len()), (16, 16));
    tick().await;

    // Changes the poll under test must find.
    w.sf.edit(&ana, json!({"Title": "Lead"}));
    w.gz.edit(&filler_gz[4], json!({"title": "Supervisor"}));
    w.sf.delete(&cai);
    w.sf.insert(json!({"FirstName": "Eve", "LastName": "Stone", "Email": "eve@example.com"}));
    w.gz.insert(json!({"firstName": "Fay", "lastName": "Kim", "workEmail": "fay@example.com"}));
    w.sf.insert(json!({"FirstName": "Gus", "LastName": "Hart", "Email": "gus@example.com"}));
    w.gz.insert(json!({"firstName": "Gus", "lastName": "Hart", "workEmail": "GUS@example.com"}));
    w.sf.insert(json!({"FirstName": "Hal", "LastName": "Berg", "Email": "hal@example.com"}));
    w.gz.insert(json!({"firstName": "Hal", "lastName": "Berg", "workEmail": "hal@example.com"}));
    w.gz.insert(
        json!({"firstName": "Hal", "lastName": "Berg II", "personalEmail": "hal@example.com"}),
    );
    for n in 1..=6 {
        w.sf.insert(
            json!({"LastName": format!("Sfonly{n}"), "Email": format!("r{n}@example.com")}),
        );
    }
    for n in 1..=5 {
        w.gz.insert(
            json!({"lastName": format!("Gzonly{n}"), "workEmail": format!("q{n}@example.com")}),
        );
    }
    tick().await;
}

/// Both systems and the review items as content (record ids differ from world to world):
/// every Salesforce contact, every Genesys contact with the email of the Salesforce contact
/// it links to, every open review item with the records it names.
#[derive(Debug, PartialEq)]
struct Snapshot {
    salesforce: Vec<String>,
    genesys: Vec<String>,
    review: Vec<String>,
}

async fn snapshot(w: &World) -> Snapshot {
    let text = |c: &Value, field: &str| c[field].as_str().unwrap_or("").to_lowercase();
    let sf_email: HashMap<String, String> =
        w.sf.all()
            .iter()
            .map(|c| (text(c, "Id"), text(c, "Email")))
            .collect();
    let gz_email: HashMap<String, String> =
        w.gz.all()
            .iter()
            .map(|c| {
                (
                    text(c, "id"),
                    text(c, "workEmail") + &text(c, "personalEmail"),
                )
            })
            .collect();
    let mut salesforce: Vec<String> =
        w.sf.all()
            .iter()
            .map(|c| {
                ["FirstName", "LastName", "Email", "Title"]
                    .map(|f| text(c, f))
                    .join("|")
            })
            .collect();
    let mut genesys: Vec<String> =
        w.gz.all()
            .iter()
            .map(|c| {
                let link = c["externalIds"][0]["value"]
                    .as_str()
                    .map_or("-".into(), |id| {
                        sf_email
                            .get(&id.to_lowercase())
                            .cloned()
                            .unwrap_or_else(|| "deleted".into())
                    });
                let fields = [
                    "firstName",
                    "lastName",
                    "workEmail",
                    "personalEmail",
                    "title",
                ]
                .map(|f| text(c, f))
                .join("|");
                format!("{fields}|linked to {link}")
            })
            .collect();
    let name = |map: &HashMap<String, String>, id: &Option<String>| {
        id.as_ref()
            .map(|id| map.get(&id.to_lowercase()).cloned().unwrap_or_default())
            .unwrap_or_default()
    };
    let mut review: Vec<String> = w
        .store
        .conflicts(&w.integration.name, true)
        .await
        .expect("conflicts")
        .iter()
        .map(|c| {
            format!(
                "{}|{}|sf {}|gz {}",
                c.field,
                c.policy,
                name(&sf_email, &c.sf_id),
                name(&gz_email, &c.gz_id)
            )
        })
        .collect();
    salesforce.sort();
    genesys.sort();
    review.sort();
    Snapshot {
        salesforce,
        genesys,
        review,
    }
}

/// Runs one poll in invocations of at most `steps` steps each (a fresh run id each),
/// reconciling after each; checks that no watermark moves before the last one. Returns how
/// many invocations it took.
async fn poll_in_invocations(w: &World, integration: &Integration, steps: usize) -> usize {
    let before = watermarks(w).await;
    for invocation in 1.. {
        let run_id = format!("run-{steps}-{invocation}");
        let progress = poll_resumable(integration, &run_id, &PollBudget::steps(steps))
            .await
            .expect("poll");
        reconcile_all(w, integration).await;
        match progress {
            PollProgress::Finished(_) => {
                assert!(checkpoint(w).await.is_none(), "the finish clears it");
                return invocation;
            }
            PollProgress::Continued(continued) => {
                assert_eq!(continued.steps, steps);
                assert!(checkpoint(w).await.is_some());
                assert_eq!(watermarks(w).await, before, "watermarks only at the end");
            }
        }
    }
    unreachable!("the loop returns")
}

/// Polls one step an invocation (reconciling after each) until the stored checkpoint's state
/// satisfies `stop`.
async fn poll_until(w: &World, integration: &Integration, stop: impl Fn(&Value) -> bool) {
    for invocation in 1..=20 {
        let run_id = format!("run-until-{invocation}");
        let progress = poll_resumable(integration, &run_id, &PollBudget::steps(1))
            .await
            .expect("poll");
        reconcile_all(w, integration).await;
        assert!(
            matches!(progress, PollProgress::Continued(_)),
            "finished too early"
        );
        if checkpoint(w).await.is_some_and(|c| stop(&c.state)) {
            return;
        }
    }
    panic!("the checkpoint never reached the state looked for");
}

/// The scenario's world after one uninterrupted poll (and its reconcile).
async fn uninterrupted() -> Snapshot {
    let w = small_pages().await;
    scenario(&w).await;
    let invocations = poll_in_invocations(&w, &w.integration, usize::MAX).await;
    assert_eq!(invocations, 1);
    snapshot(&w).await
}

#[tokio::test]
async fn a_poll_stopped_after_any_number_of_steps_ends_like_an_uninterrupted_one() {
    // GIVEN the scenario, and where one uninterrupted poll takes it
    let expected = uninterrupted().await;
    // (what that is: edits copied, deleted contact unlinked, Eve created in Genesys, Fay and
    // the five Genesys-only people in Salesforce, Gus linked not duplicated, Hal held)
    // Salesforce: 16 − Cai + Eve, Gus, Hal, 6 new + Fay and 5 created from Genesys.
    assert_eq!(expected.salesforce.len(), 30);
    // Genesys: 16 (Cai's kept: unlink) + Fay, Gus, 2 Hals, 5 new + Eve and 6 created.
    assert_eq!(expected.genesys.len(), 32);
    assert!(
        expected
            .salesforce
            .contains(&"ana|lopez|ana@example.com|lead".to_string())
    );
    assert!(
        expected
            .genesys
            .contains(&"gus|hart|gus@example.com|||linked to gus@example.com".to_string()),
        "{:?}",
        expected.genesys
    );
    assert!(expected.review.iter().any(|r| r.starts_with("match|")));

    // WHEN the same poll runs in invocations of one step each, then two, ... up to all steps
    let one_step = small_pages().await;
    scenario(&one_step).await;
    one_step.wait_past_stamps().await;
    let steps = poll_in_invocations(&one_step, &one_step.integration, 1).await;
    // 11 Salesforce changes (the 10 above and Dee, created by the first sync) in pages of 5,
    // 25 Genesys contacts in pages of 10, and the finish; one Salesforce page more when the
    // first sync's own writes are stamped after this poll's read start (the simulator stamps a
    // burst of writes 1 ms apart, ahead of the clock) and so fall in its re-read window. Each
    // world waits for real time to pass its stamps first, so all of them take the same steps.
    assert!((7..=8).contains(&steps), "{steps} steps");
    let mut ends = vec![snapshot(&one_step).await];
    for k in 2..=steps {
        let w = small_pages().await;
        scenario(&w).await;
        w.wait_past_stamps().await;
        let invocations = poll_in_invocations(&w, &w.integration, k).await;
        // k steps an invocation; the reconciles between invocations write records whose
        // stamps may land in a page still to be read (a simulator stamps a burst ahead of the
        // clock), which can add a page: at most two steps more than the one-step run
        assert!(
            (steps.div_ceil(k)..=(steps + 2).div_ceil(k)).contains(&invocations),
            "{invocations} invocations of {k} steps, one-step run {steps} steps"
        );
        ends.push(snapshot(&w).await);
    }

    // THEN every one ends exactly like the uninterrupted poll: no change lost, nothing created
    // twice, the same items held for review
    for (k, end) in ends.iter().enumerate() {
        assert_eq!(end, &expected, "stopping every {} step(s)", k + 1);
    }
}

/// A queue that refuses everything while `down` (the invocation dies before it enqueues).
struct Outage {
    inner: Arc<dyn WorkQueue>,
    down: AtomicBool,
}

#[async_trait]
impl WorkQueue for Outage {
    async fn send_batches(&self, batches: Vec<ReconcileBatch>) -> Result<(), QueueError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(QueueError::Transient("queue down (test)".into()));
        }
        self.inner.send_batches(batches).await
    }

    async fn send_conflicts(&self, events: Vec<ConflictEvent>) -> Result<(), QueueError> {
        self.inner.send_conflicts(events).await
    }
}

#[tokio::test]
async fn an_invocation_dying_after_a_checkpoint_before_its_finish_enqueues_loses_nothing() {
    // GIVEN the scenario read to the end by a first invocation, which saved its checkpoint
    // before the finish (the step that enqueues new pairs)
    let expected = uninterrupted().await;
    let w = small_pages().await;
    scenario(&w).await;
    let before = watermarks(&w).await;
    poll_until(&w, &w.integration, |state| state["phase"] == "finish").await;
    let saved = checkpoint(&w).await.expect("a checkpoint");
    assert!(
        w.gz.all()
            .iter()
            .all(|c| c["workEmail"] != "eve@example.com"),
        "new pairs wait for the finish"
    );

    // WHEN the next invocation dies while it enqueues (the queue refuses), and the one after
    // runs normally
    let mut broken = w.integration.clone();
    broken.queue = Arc::new(Outage {
        inner: w.queue.clone(),
        down: AtomicBool::new(true),
    });
    let died = poll_resumable(&broken, "run-2", &PollBudget::unlimited()).await;
    let kept = checkpoint(&w).await.expect("still there");
    let watermarks_after_death = watermarks(&w).await;
    let third = poll_resumable(&w.integration, "run-3", &PollBudget::unlimited())
        .await
        .expect("poll");
    reconcile_all(&w, &w.integration).await;

    // THEN the dying invocation failed without touching the checkpoint or a watermark, and
    // the next one finished the poll exactly as an uninterrupted poll would have
    assert!(matches!(died, Err(PipelineError::Queue(_))), "{died:?}");
    assert_eq!(kept, saved);
    assert_eq!(watermarks_after_death, before);
    assert!(matches!(third, PollProgress::Finished(_)));
    assert_eq!(snapshot(&w).await, expected);
}

/// A Genesys system whose next scan read, once armed, waits at a gate: a slow invocation, or
/// one the Lambda runtime is about to kill.
struct Gated {
    inner: Arc<dyn ContactSystem>,
    armed: AtomicBool,
    waiting: Notify,
    gate: Semaphore,
}

impl Gated {
    fn new(inner: Arc<dyn ContactSystem>) -> Arc<Gated> {
        Arc::new(Gated {
            inner,
            armed: AtomicBool::new(true),
            waiting: Notify::new(),
            gate: Semaphore::new(0),
        })
    }
}

#[async_trait]
impl ContactReader for Gated {
    fn side(&self) -> Side {
        self.inner.side()
    }
    async fn prepare(&self) -> SystemResult<SystemFacts> {
        self.inner.prepare().await
    }
    async fn read_changes(
        &self,
        since: Option<&Watermark>,
        cursor: Option<String>,
    ) -> SystemResult<ChangePage> {
        if self.armed.swap(false, Ordering::SeqCst) {
            self.waiting.notify_one();
            self.gate.acquire().await.expect("gate").forget();
        }
        self.inner.read_changes(since, cursor).await
    }
    async fn read_deletions(&self, since: Option<&Watermark>) -> SystemResult<DeletionRead> {
        self.inner.read_deletions(since).await
    }
    async fn fetch(&self, ids: &[String]) -> SystemResult<Vec<RawRecord>> {
        self.inner.fetch(ids).await
    }
    async fn find_by_emails(&self, emails: &[String]) -> SystemResult<Vec<RawRecord>> {
        self.inner.find_by_emails(emails).await
    }

    async fn find_by_links(&self, linked_ids: &[String]) -> SystemResult<Vec<RawRecord>> {
        self.inner.find_by_links(linked_ids).await
    }

    async fn find_deleted_by_emails(&self, emails: &[String]) -> SystemResult<Vec<RawRecord>> {
        self.inner.find_deleted_by_emails(emails).await
    }

    async fn find_created_since(
        &self,
        since: chrono::DateTime<chrono::Utc>,
    ) -> SystemResult<Vec<RawRecord>> {
        self.inner.find_created_since(since).await
    }
}

#[async_trait]
impl ContactWriter for Gated {
    async fn create(&self, records: Vec<CreateRequest>) -> SystemResult<Vec<WriteOutcome>> {
        self.inner.create(records).await
    }
    async fn update(&self, records: Vec<UpdateRequest>) -> SystemResult<Vec<WriteOutcome>> {
        self.inner.update(records).await
    }
    async fn delete(&self, ids: Vec<String>) -> SystemResult<Vec<WriteOutcome>> {
        self.inner.delete(ids).await
    }
}

/// Where the scenario ends after an uninterrupted poll, and a fresh world with the scenario
/// ready to poll through an integration whose run lease lasts one second (so a test can
/// outlive one).
async fn short_lease_scenario() -> (Snapshot, World, Integration) {
    let expected = uninterrupted().await;
    let w = small_pages().await;
    scenario(&w).await;
    let mut integration = w.integration.clone();
    integration.settings.lease_ttl = chrono::Duration::seconds(1);
    (expected, w, integration)
}

/// The integration with its Genesys system behind a gate.
fn gated(integration: &Integration, gate: &Arc<Gated>) -> Integration {
    let mut integration = integration.clone();
    integration.genesys = gate.clone();
    integration
}

#[tokio::test]
async fn an_invocation_killed_mid_poll_is_taken_over_once_its_lease_expires() {
    // GIVEN a poll whose first invocation saved a checkpoint in its Salesforce pages
    let (expected, w, integration) = short_lease_scenario().await;
    let first = poll_resumable(&integration, "run-1", &PollBudget::steps(2))
        .await
        .expect("poll");
    assert!(matches!(first, PollProgress::Continued(_)));
    let saved = checkpoint(&w).await.expect("checkpoint");
    assert_eq!(saved.state["phase"], "salesforce");

    // WHEN the second invocation is killed while it reads Genesys (holding the lease)
    let gate = Gated::new(w.integration.genesys.clone());
    let slow = gated(&integration, &gate);
    let killed =
        tokio::spawn(async move { poll_resumable(&slow, "run-2", &PollBudget::unlimited()).await });
    gate.waiting.notified().await;
    killed.abort();
    let _ = killed.await;
    let left_by_the_dead = checkpoint(&w).await;
    // AND a third runs while the dead one's lease is live, and a fourth once it expired
    let blocked = poll_resumable(&integration, "run-3", &PollBudget::unlimited()).await;
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let fourth = poll_resumable(&integration, "run-4", &PollBudget::unlimited())
        .await
        .expect("poll");
    reconcile_all(&w, &integration).await;

    // THEN the third found the run in progress, the dead one left the checkpoint as it was,
    // and the fourth took over from it and ended like an uninterrupted poll
    assert!(matches!(blocked, Err(PipelineError::RunInProgress(_))));
    assert_eq!(left_by_the_dead, Some(saved));
    assert!(matches!(fourth, PollProgress::Finished(_)));
    assert_eq!(snapshot(&w).await, expected);
}

#[tokio::test]
async fn two_invocations_on_one_checkpoint_advance_it_once() {
    // GIVEN a poll checkpointed in its Genesys scan
    let (expected, w, integration) = short_lease_scenario().await;
    poll_until(&w, &integration, |state| {
        state["genesys"]["cursor"].is_string()
    })
    .await;

    // WHEN invocation A resumes it and stalls on its next Genesys page past its lease, and
    // invocation B, taking the expired lease, resumes the same checkpoint and finishes
    let gate = Gated::new(w.integration.genesys.clone());
    let slow = gated(&integration, &gate);
    let a =
        tokio::spawn(async move { poll_resumable(&slow, "run-a", &PollBudget::unlimited()).await });
    gate.waiting.notified().await;
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let b = poll_resumable(&integration, "run-b", &PollBudget::unlimited())
        .await
        .expect("poll");
    reconcile_all(&w, &integration).await;
    let after_b = watermarks(&w).await;
    // AND A wakes up and goes on to its own finish
    gate.gate.add_permits(1);
    let a = a.await.expect("task");
    reconcile_all(&w, &integration).await;

    // THEN B finished the poll; A, whose checkpoint was gone, moved no watermark and stopped
    // as a run in progress; A's duplicate batches created nothing twice
    assert!(matches!(b, PollProgress::Finished(_)));
    assert!(matches!(a, Err(PipelineError::RunInProgress(_))), "{a:?}");
    assert_eq!(watermarks(&w).await, after_b);
    assert!(checkpoint(&w).await.is_none());
    assert_eq!(snapshot(&w).await, expected);
}

/// Replaces the stored checkpoint's cursor for `side` (a cursor the system no longer takes).
async fn spoil_cursor(w: &World, side: &str, cursor: &str) {
    let mut stored = checkpoint(w).await.expect("checkpoint");
    assert!(
        stored.state[side]["cursor"].is_string(),
        "{side} has a cursor"
    );
    stored.state[side]["cursor"] = json!(cursor);
    let version = stored.version;
    let written = w
        .store
        .save_poll_checkpoint(&stored, Some(version))
        .await
        .expect("save");
    assert_eq!(
        written,
        CheckpointWrite::Saved {
            version: version + 1
        }
    );
}

#[tokio::test]
async fn a_cursor_the_system_no_longer_accepts_restarts_that_read_safely() {
    let expected = uninterrupted().await;
    for (side, spoiled) in [
        // Genesys answers 400 "The cursor is invalid or has expired."
        ("genesys", "bm8tc3VjaC1wb3NpdGlvbg"),
        // Salesforce answers 400 INVALID_QUERY_LOCATOR.
        (
            "salesforce",
            "/services/data/v62.0/query/01g000000000999AAA-5",
        ),
    ] {
        // GIVEN a poll checkpointed in the middle of one side's read, whose cursor has expired
        let w = small_pages().await;
        scenario(&w).await;
        poll_until(&w, &w.integration, |state| {
            state[side]["cursor"].is_string()
        })
        .await;
        spoil_cursor(&w, side, spoiled).await;

        // WHEN the next invocation takes one step, and a last one finishes
        let refused = poll_resumable(&w.integration, "run-2", &PollBudget::steps(1))
            .await
            .expect("a refused cursor is not an error");
        let restarted = checkpoint(&w).await.expect("checkpoint");
        let last = poll_resumable(&w.integration, "run-3", &PollBudget::unlimited())
            .await
            .expect("poll");
        reconcile_all(&w, &w.integration).await;

        // THEN that step restarted the side's read (no cursor, one restart counted), and the
        // poll ended like an uninterrupted one
        assert!(matches!(refused, PollProgress::Continued(_)));
        assert_eq!(restarted.state[side]["restarts"], 1, "{side}");
        assert!(restarted.state[side].get("cursor").is_none(), "{side}");
        assert!(matches!(last, PollProgress::Finished(_)));
        assert_eq!(snapshot(&w).await, expected, "{side}");
    }
}

#[tokio::test]
async fn an_edit_landing_on_a_record_already_read_is_read_by_the_next_poll() {
    // GIVEN 12 synced people (Genesys scans them in creation order, 10 a page)
    let w = small_pages().await;
    let mut gz_ids = Vec::new();
    let mut sf_ids = Vec::new();
    for n in 1..=12 {
        let email = format!("p{n:02}@example.com");
        sf_ids.push(
            w.sf.insert(json!({"LastName": format!("P{n:02}"), "Email": email, "Title": "Agent"})),
        );
        gz_ids.push(
            w.gz.insert(
                json!({"lastName": format!("P{n:02}"), "workEmail": email, "title": "Agent"}),
            ),
        );
    }
    w.sync().await;
    tick().await;
    // (a second sync reads the first one's link write-backs, so nothing is left to read)
    w.sync().await;
    tick().await;
    // AND a poll that has read the first Genesys page (step 1: Salesforce, step 2: page 1)
    let first = poll_resumable(&w.integration, "run-1", &PollBudget::steps(2))
        .await
        .expect("poll");
    assert!(matches!(first, PollProgress::Continued(_)));

    // WHEN a contact of that page is edited, then one of the next page, and the poll goes on
    tick().await;
    w.gz.edit(&gz_ids[0], json!({"title": "Early edit"}));
    tick().await;
    w.gz.edit(&gz_ids[11], json!({"title": "Late edit"}));
    let rest = poll_resumable(&w.integration, "run-2", &PollBudget::unlimited())
        .await
        .expect("poll");
    reconcile_all(&w, &w.integration).await;
    let after_first_poll = w.sf.get(&sf_ids[0]).expect("sf")["Title"].clone();

    // THEN the poll carries the late edit (read on its page) but not the early one (its page
    // was read before it), and its watermark stays before its read's start, so the next poll
    // carries the early edit instead of skipping it for an older stamp than the late one's
    assert!(matches!(rest, PollProgress::Finished(_)));
    assert_eq!(w.sf.get(&sf_ids[11]).expect("sf")["Title"], "Late edit");
    assert_eq!(after_first_poll, "Agent");
    let next = poll_resumable(&w.integration, "run-3", &PollBudget::unlimited())
        .await
        .expect("poll");
    reconcile_all(&w, &w.integration).await;
    assert!(matches!(next, PollProgress::Finished(_)));
    assert_eq!(w.sf.get(&sf_ids[0]).expect("sf")["Title"], "Early edit");
}

#[tokio::test]
async fn beyond_the_unlinked_limit_new_records_wait_for_the_next_poll() {
    // GIVEN 5 people only in Salesforce and 4 only in Genesys, and a limit of 3 unlinked
    // records a side per poll
    let w = small_pages().await;
    for n in 1..=5 {
        w.sf.insert(json!({"LastName": format!("Sf{n}"), "Email": format!("s{n}@example.com")}));
    }
    for n in 1..=4 {
        w.gz.insert(
            json!({"lastName": format!("Gz{n}"), "workEmail": format!("g{n}@example.com")}),
        );
    }
    let mut integration = w.integration.clone();
    integration.settings.poll_unlinked_limit = 3;

    // WHEN polls run one after the other (each reconciled before the next)
    let mut counts = Vec::new();
    for _ in 0..4 {
        poll_in_invocations(&w, &integration, usize::MAX).await;
        counts.push((w.sf.all().len(), w.gz.all().len()));
        tick().await;
    }

    // THEN the first creates 3 Salesforce people in Genesys and leaves the Genesys-only ones
    // (they may match a Salesforce record not read yet); the second the last 2 Salesforce
    // people and 3 Genesys ones; the third the last one; then nothing is left, and nobody was
    // created twice
    assert_eq!(counts, vec![(5, 4 + 3), (5 + 3, 7 + 2), (9, 9), (9, 9)]);
    let snapshot = snapshot(&w).await;
    assert!(snapshot.genesys.iter().all(|g| !g.ends_with("linked to -")));
    assert!(snapshot.review.is_empty(), "{:?}", snapshot.review);
}

#[tokio::test]
async fn a_budget_without_room_for_one_step_moves_nothing() {
    // GIVEN a change waiting
    let w = small_pages().await;
    w.sf.insert(json!({"LastName": "Ida", "Email": "ida@example.com"}));
    // WHEN an invocation has no room for a single step
    let progress = poll_resumable(&w.integration, "run-1", &PollBudget::steps(0))
        .await
        .expect("poll");
    // THEN it reports no step, and nothing was enqueued, saved or moved
    assert!(
        matches!(&progress, PollProgress::Continued(c) if c.steps == 0 && c.version.is_none()),
        "{progress:?}"
    );
    assert_eq!(w.queue.pending_batches(), 0);
    assert!(checkpoint(&w).await.is_none());
    assert_eq!(watermarks(&w).await, [None, None]);
}
