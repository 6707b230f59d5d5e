//! Operating commands as a user runs them: `status` (local and deployed backends), `dlq`, and
//! the backend selection. The deployed-backend test needs moto (`CONTACT_SYNC_MOTO_URL`, see
//! `contact_sync_aws::emulator`).

mod common;

use chrono::{Duration, Utc};
use common::{contact_sync, stderr, stdout};
use contact_sync_aws::DynamoDbStore;
use contact_sync_aws::emulator::Stack;
use contact_sync_engine::CanonicalContact;
use contact_sync_engine::Side;
use contact_sync_pipeline::stats::{PerSide, SyncStats};
use contact_sync_pipeline::store::embedded::EmbeddedStore;
use contact_sync_pipeline::store::{
    ConflictKind, ConflictRecord, ConflictStatus, Pair, PairStatus, RunRecord, SyncStore,
};
use contact_sync_pipeline::system::Watermark;
use serde_json::Value;
use std::process::Output;

fn json(o: &Output) -> Value {
    serde_json::from_str(stdout(o).trim()).unwrap_or_else(|e| panic!("{e}: {}", stdout(o)))
}

#[test]
fn status_after_sandbox_syncs_shows_the_runs_rates_watermarks_and_open_items() {
    // GIVEN a sandbox state after two sandbox syncs (the first creates, links and settles
    // conflicts; the second finds nothing to do)
    let state = tempfile::tempdir().expect("tempdir");
    let mut cycles = Vec::new();
    // (the sandbox holds one Genesys contact Salesforce refuses: the first run exits 4)
    for expected in [4, 0] {
        let sync = contact_sync(state.path(), &["sync", "--sandbox", "--json"], &[]);
        assert_eq!(sync.status.code(), Some(expected), "{}", stderr(&sync));
        cycles.push(json(&sync));
    }
    let (first, second) = (&cycles[0], &cycles[1]);

    // WHEN the status is asked for as JSON
    let out = contact_sync(state.path(), &["status", "--sandbox", "--json"], &[]);

    // THEN it lists both runs newest first, with their counts and outcome
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let status = json(&out);
    assert_eq!(status["backend"], "local");
    let runs = status["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0]["run_id"], second["run_id"]);
    assert_eq!(runs[1]["run_id"], first["run_id"]);
    assert_eq!(runs[1]["stats"], first["stats"]);
    assert_eq!(runs[1]["outcome"], "refused");
    assert_eq!(runs[0]["outcome"], "ok");
    assert!(runs[1]["duration_seconds"].as_f64() >= Some(0.0));
    // AND the rates are over the pairs of both runs
    let pairs = first["stats"]["pairs_enqueued"].as_u64().unwrap()
        + second["stats"]["pairs_enqueued"].as_u64().unwrap();
    let conflicts = first["stats"]["conflicts"].as_u64().unwrap();
    assert_eq!(status["rates"]["pairs"], pairs);
    assert_eq!(status["rates"]["conflicts"], conflicts);
    let expected_rate = (conflicts as f64 * 1000.0 / pairs as f64).round() / 10.0;
    assert_eq!(
        status["rates"]["conflict_rate"].as_f64(),
        Some(expected_rate)
    );
    assert_eq!(status["rates"]["errors"], 0);
    // AND both watermarks are set, the last successful run is the second, and the open
    // review items are the ones `conflicts list --open` shows
    for side in ["salesforce", "genesys"] {
        assert!(
            status["watermarks"][side]["lag_seconds"].as_i64() >= Some(0),
            "{status}"
        );
    }
    assert_eq!(status["last_successful_run_at"], second["finished_at"]);
    let open = contact_sync(
        state.path(),
        &["conflicts", "list", "--sandbox", "--open", "--json"],
        &[],
    );
    assert_eq!(
        status["open_review_items"].as_u64(),
        Some(stdout(&open).lines().count() as u64)
    );
    assert_eq!(status["pending_pairs"], 0);

    // WHEN the status is printed for a person
    let text = contact_sync(state.path(), &["status", "--sandbox"], &[]);
    // THEN it names the backend, both runs, the rates and the review items, and no email
    let text = stdout(&text);
    assert!(text.contains("on the local backend"), "{text}");
    assert!(text.contains(first["run_id"].as_str().unwrap()), "{text}");
    assert!(text.contains("conflict rate"), "{text}");
    assert!(text.contains("open review items:"), "{text}");
    assert!(!text.contains("@example."), "{text}");
}

#[test]
fn the_local_backend_says_it_has_no_dead_letter_queue() {
    // GIVEN the local backend (the default)
    let state = tempfile::tempdir().expect("tempdir");
    // WHEN the dead-letter queues are listed, and a replay is asked for
    let list = contact_sync(state.path(), &["dlq", "list"], &[]);
    let replay = contact_sync(state.path(), &["dlq", "replay", "--all"], &[]);
    // THEN listing says why there is none (exit 0), and replaying fails saying the same
    assert_eq!(list.status.code(), Some(0), "{}", stderr(&list));
    assert!(
        stdout(&list).contains("the local backend has no dead-letter queue"),
        "{}",
        stdout(&list)
    );
    assert_eq!(replay.status.code(), Some(1));
    assert!(
        stderr(&replay).contains("no dead-letter queue"),
        "{}",
        stderr(&replay)
    );
}

#[test]
fn an_unknown_backend_or_a_missing_table_is_one_clear_line() {
    let state = tempfile::tempdir().expect("tempdir");
    // GIVEN a misspelt backend WHEN status runs THEN it fails naming the variable
    let bad = contact_sync(
        state.path(),
        &["status"],
        &[("CONTACT_SYNC_BACKEND", "dynamo")],
    );
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        stderr(&bad).contains("CONTACT_SYNC_BACKEND: `dynamo` is not `local` or `aws`"),
        "{}",
        stderr(&bad)
    );
    // GIVEN the deployed backend without a table WHEN status runs THEN it names SYNC_TABLE
    let no_table = contact_sync(
        state.path(),
        &["status"],
        &[("CONTACT_SYNC_BACKEND", "aws")],
    );
    assert_eq!(no_table.status.code(), Some(1));
    assert!(
        stderr(&no_table).contains("SYNC_TABLE: not set"),
        "{}",
        stderr(&no_table)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_conflicts_and_dlq_work_on_the_deployed_backend() {
    // GIVEN a deployment in moto with a recorded poll, a watermark, an open review item and
    // a reconcile batch in the dead-letter queue
    let Some(stack) = Stack::create("CLI on the deployed backend").await else {
        return;
    };
    let endpoint =
        contact_sync_aws::emulator::endpoint("CLI on the deployed backend").expect("moto url");
    let store = DynamoDbStore::new(
        aws_sdk_dynamodb::Client::new(&stack.sdk),
        &stack.resources.table,
    );
    let started = Utc::now() - Duration::minutes(30);
    let stats = SyncStats {
        read: PerSide {
            salesforce: 3,
            genesys: 5,
        },
        pairs_enqueued: 4,
        ..SyncStats::default()
    };
    store
        .record_run(&RunRecord {
            run_id: "run-1".into(),
            integration: "default".into(),
            started_at: Some(started),
            finished_at: Some(started + Duration::seconds(42)),
            summary: serde_json::to_value(&stats).unwrap(),
        })
        .await
        .expect("run");
    store
        .advance_watermark(
            "default",
            Side::Salesforce,
            &Watermark::position(started, "003A"),
        )
        .await
        .expect("watermark");
    store
        .record_conflict(&ConflictRecord::ambiguous_match(
            "c-1".into(),
            "default",
            "run-1",
            (None, Some("003A".into()), None),
            "two candidates",
            vec!["g-1".into(), "g-2".into()],
            started,
        ))
        .await
        .expect("conflict");
    let sqs = aws_sdk_sqs::Client::new(&stack.sdk);
    let dead = sqs
        .send_message()
        .queue_url(stack.resources.queue_url("ReconcileDeadLetterQueue"))
        .message_body(
            r#"{"v":1,"integration":"default","run_id":"run-1","pairs":[{"sf_id":"003A"}]}"#,
        )
        .send()
        .await
        .expect("send")
        .message_id
        .expect("id");
    let state = tempfile::tempdir().expect("tempdir");
    let vars = stack.resources.variables();
    let env = [
        ("CONTACT_SYNC_BACKEND", "aws"),
        ("SYNC_TABLE", vars["SYNC_TABLE"].as_str()),
        ("RECONCILE_QUEUE_URL", vars["RECONCILE_QUEUE_URL"].as_str()),
        ("CONFLICT_QUEUE_URL", vars["CONFLICT_QUEUE_URL"].as_str()),
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
    ];
    // (Blocking in this test is fine: nothing else runs on its runtime meanwhile.)
    let run = |args: &[&str]| contact_sync(state.path(), args, &env);

    // WHEN the status is asked for
    let status = run(&["status", "--json"]);
    // THEN it reads the run, the watermark and the open item from DynamoDB, without rates
    assert_eq!(status.status.code(), Some(0), "{}", stderr(&status));
    let status = json(&status);
    assert_eq!(status["backend"], "aws");
    assert_eq!(status["runs"][0]["run_id"], "run-1");
    assert_eq!(status["runs"][0]["duration_seconds"], 42.0);
    assert_eq!(status["runs"][0]["stats"]["read"]["genesys"], 5);
    assert_eq!(status["rates"], Value::Null);
    assert!(status["watermarks"]["salesforce"]["lag_seconds"].as_i64() >= Some(1_790));
    assert_eq!(status["watermarks"]["genesys"], Value::Null);
    assert_eq!(status["open_review_items"], 1);

    // WHEN the open items are listed THEN the ambiguous match is there
    let open = run(&["conflicts", "list", "--open", "--json"]);
    assert_eq!(open.status.code(), Some(0), "{}", stderr(&open));
    assert_eq!(json(&open)["id"], "c-1");

    // WHEN the dead-letter queues are listed THEN the batch is there with its counts
    let list = run(&["dlq", "list", "--json"]);
    assert_eq!(list.status.code(), Some(0), "{}", stderr(&list));
    let letter = json(&list);
    assert_eq!(letter["message_id"], dead);
    assert_eq!(
        (letter["kind"].as_str(), letter["pairs"].as_u64()),
        (Some("reconcile"), Some(1))
    );

    // WHEN it is replayed THEN it is back in the reconcile queue and the DLQ is empty
    let replay = run(&["dlq", "replay", "--all", "--json"]);
    assert_eq!(replay.status.code(), Some(0), "{}", stderr(&replay));
    assert_eq!(json(&replay)["replayed"], serde_json::json!([dead]));
    let back = sqs
        .receive_message()
        .queue_url(stack.resources.queue_url("ReconcileQueue"))
        .wait_time_seconds(1)
        .send()
        .await
        .expect("receive");
    assert_eq!(back.messages().len(), 1);
    let after = run(&["dlq", "list"]);
    assert!(
        stdout(&after).contains("both dead-letter queues are empty"),
        "{}",
        stdout(&after)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mapping_publish_validates_writes_the_parameter_and_check_reads_it_back() {
    // GIVEN a deployment in moto, a valid mapping file, one with a typo and one for another
    // integration than the stack's
    let Some(stack) = Stack::create("mapping publish").await else {
        return;
    };
    let endpoint = contact_sync_aws::emulator::endpoint("mapping publish").expect("moto url");
    let state = tempfile::tempdir().expect("tempdir");
    let file = |name: &str, text: &str| {
        let path = state.path().join(name);
        std::fs::write(&path, text).expect("write");
        path.display().to_string()
    };
    let default = contact_sync_engine::mapping::DEFAULT_MAPPING_YAML;
    let one_way = default
        .replace("version: 1\n", "version: 1\nmode: one_way\n")
        .replace("    direction: both\n", "")
        .replace("    policy: salesforce_wins\n", "")
        .replace("    policy: newest_wins\n", "");
    let valid = file("mapping.yaml", &one_way);
    let typo = file("typo.yaml", &format!("{default}\nintegraton: crm\n"));
    let parameter = format!("/{}/mapping", stack.resources.table);
    let vars = stack.resources.variables();
    let env = [
        ("CONTACT_SYNC_BACKEND", "aws"),
        ("SYNC_TABLE", vars["SYNC_TABLE"].as_str()),
        ("CONTACT_SYNC_MAPPING_PARAMETER", parameter.as_str()),
        ("CONTACT_SYNC_INTEGRATION", "default"),
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
    ];
    let run = |args: &[&str]| contact_sync(state.path(), args, &env);
    let ssm = aws_sdk_ssm::Client::new(&stack.sdk);
    let stored = || async {
        contact_sync_aws::deployed_mapping::read(&ssm, &parameter)
            .await
            .ok()
    };

    // WHEN the file with the typo is published THEN it is refused with the file and the key
    // named, and nothing is written
    let refused = run(&["mapping", "publish", &typo]);
    assert_ne!(refused.status.code(), Some(0));
    assert!(
        stderr(&refused).contains("typo.yaml") && stderr(&refused).contains("integraton"),
        "{}",
        stderr(&refused)
    );
    assert!(stored().await.is_none(), "nothing written");
    // AND a mapping for another integration than the stack's is refused too
    let other = run(&["mapping", "publish", &valid, "--integration", "crm"]);
    assert_ne!(other.status.code(), Some(0));
    assert!(
        stderr(&other).contains("IntegrationName"),
        "{}",
        stderr(&other)
    );
    assert!(stored().await.is_none(), "nothing written");

    // WHEN the valid file is published
    let published = run(&["mapping", "publish", &valid]);
    // THEN the parameter holds it, as the functions will read it
    assert_eq!(published.status.code(), Some(0), "{}", stderr(&published));
    let deployed = stored().await.expect("the published mapping");
    assert!(deployed.is_one_way());
    // AND `check` against the deployment validates the deployed mapping
    let check = run(&["check", "--json"]);
    let checks = json(&check);
    let mapping = checks
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["check"] == "mapping")
        .expect("the mapping check")
        .clone();
    assert_eq!(mapping["status"], "ok", "{mapping}");
    assert!(
        mapping["detail"]
            .as_str()
            .unwrap_or("")
            .contains("mode one_way"),
        "{mapping}"
    );
}

/// A synced pair sf-1 / gz-1 with a base snapshot, a closed audit entry and an open review item
/// about it (both with values), and an entry about someone else.
async fn a_person_on_record(store: &dyn SyncStore, integration: &str) -> ConflictRecord {
    let mut pair = Pair::new("p1".into(), Some("003SF1".into()), Some("gz-1".into()));
    pair.base = Some(CanonicalContact::new().with("email", "ana@example.com"));
    pair.status = PairStatus::Synced;
    store.create_pair(&pair).await.expect("pair");
    let entry = |id: &str, pair_id: &str, sf_id: &str, status: ConflictStatus| ConflictRecord {
        id: id.into(),
        integration: integration.into(),
        run_id: "run-1".into(),
        pair_id: Some(pair_id.into()),
        sf_id: Some(sf_id.into()),
        gz_id: None,
        field: "email".into(),
        policy: "manual".into(),
        kind: ConflictKind::Manual,
        status,
        base_value: Some("old@example.com".into()),
        salesforce_value: Some("ana@example.com".into()),
        genesys_value: Some("ana@example.org".into()),
        at: Utc::now() - Duration::days(1),
    };
    for e in [
        entry("audit-1", "p1", "003SF1", ConflictStatus::Closed),
        entry("item-1", "p1", "003SF1", ConflictStatus::Open),
    ] {
        store.record_conflict(&e).await.expect("conflict");
    }
    let theirs = entry("theirs", "p2", "003SF2", ConflictStatus::Closed);
    store.record_conflict(&theirs).await.expect("conflict");
    theirs
}

/// What `forget` must leave: the pair's ids without values, the person's entries without
/// values (the review item still open), the other person's entry untouched, and an `Erased`
/// entry with ids only.
async fn assert_forgotten(store: &dyn SyncStore, integration: &str, theirs: &ConflictRecord) {
    let pair = store.pair("p1").await.expect("pair").expect("kept");
    assert_eq!(
        (
            pair.sf_id.as_deref(),
            pair.gz_id.as_deref(),
            pair.base.as_ref()
        ),
        (Some("003SF1"), Some("gz-1"), None)
    );
    let item = store.conflict("item-1").await.expect("read").expect("kept");
    assert!(!item.holds_values());
    assert_eq!(item.status, ConflictStatus::Open);
    let audit = store
        .conflict("audit-1")
        .await
        .expect("read")
        .expect("kept");
    assert!(!audit.holds_values());
    assert_eq!(
        store.conflict("theirs").await.expect("read").as_ref(),
        Some(theirs)
    );
    let erased: Vec<ConflictRecord> = store
        .conflicts(integration, false)
        .await
        .expect("list")
        .into_iter()
        .filter(|c| matches!(c.kind, ConflictKind::Erased { .. }))
        .collect();
    assert_eq!(erased.len(), 1, "{erased:?}");
    assert!(!erased[0].holds_values());
    assert_eq!(erased[0].gz_id.as_deref(), Some("gz-1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forget_erases_a_persons_values_from_the_local_state_and_refuses_an_unknown_id() {
    // GIVEN a local state holding a person's pair, audit entry and review item
    let state = tempfile::tempdir().expect("tempdir");
    let theirs = {
        let store = EmbeddedStore::open(&state.path().join("state.redb")).expect("store");
        a_person_on_record(&store, "default").await
    };
    // WHEN their Genesys record is forgotten
    let done = contact_sync(state.path(), &["forget", "--genesys-id", "gz-1"], &[]);
    // THEN it says what it erased, by ids and counts only
    assert_eq!(done.status.code(), Some(0), "{}", stderr(&done));
    let text = stdout(&done);
    assert!(
        text.contains("forgotten: genesys record gz-1 (pair p1"),
        "{text}"
    );
    assert!(text.contains("2 found, 2 held values"), "{text}");
    assert!(!text.contains("example"), "no values printed: {text}");
    // AND the state keeps ids and decisions but no values of theirs
    {
        let store = EmbeddedStore::open(&state.path().join("state.redb")).expect("store");
        assert_forgotten(&store, "default", &theirs).await;
    }
    // WHEN it is forgotten again, as JSON THEN nothing is left to erase
    let again = contact_sync(
        state.path(),
        &["forget", "--salesforce-id", "003SF1", "--json"],
        &[],
    );
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    let again = json(&again);
    assert_eq!(again["pair_values_erased"], false);
    assert_eq!(again["entries_erased"], 0);
    // WHEN an id nobody knows is forgotten THEN exit 1 with one clear line naming it
    let unknown = contact_sync(state.path(), &["forget", "--salesforce-id", "003NOPE"], &[]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(
        stderr(&unknown).contains("003NOPE") && stderr(&unknown).contains("no salesforce record"),
        "{}",
        stderr(&unknown)
    );
    // AND without an id the command line is wrong (clap's exit 2)
    let neither = contact_sync(state.path(), &["forget"], &[]);
    assert_eq!(neither.status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn against_a_deployment_forget_conflicts_and_review_use_the_deployed_mapping() {
    // GIVEN a deployment in moto whose published mapping names integration `crm`, a person on
    // record under `crm`, and an open item of the built-in mapping's integration `default`
    let Some(stack) = Stack::create("forget on the deployed backend").await else {
        return;
    };
    let endpoint =
        contact_sync_aws::emulator::endpoint("forget on the deployed backend").expect("moto url");
    let store = DynamoDbStore::new(
        aws_sdk_dynamodb::Client::new(&stack.sdk),
        &stack.resources.table,
    );
    let theirs = a_person_on_record(&store, "crm").await;
    store
        .record_conflict(&ConflictRecord::ambiguous_match(
            "default-item".into(),
            "default",
            "run-1",
            (None, Some("003X".into()), None),
            "two candidates",
            vec!["g-1".into(), "g-2".into()],
            Utc::now(),
        ))
        .await
        .expect("conflict");
    let parameter = format!("/{}/mapping", stack.resources.table);
    let crm = contact_sync_engine::mapping::DEFAULT_MAPPING_YAML
        .replace("integration: default\n", "integration: crm\n");
    contact_sync_aws::deployed_mapping::publish(
        &aws_sdk_ssm::Client::new(&stack.sdk),
        &parameter,
        &crm,
        "crm mapping",
    )
    .await
    .expect("publish");
    let state = tempfile::tempdir().expect("tempdir");
    let vars = stack.resources.variables();
    let env = [
        ("CONTACT_SYNC_BACKEND", "aws"),
        ("SYNC_TABLE", vars["SYNC_TABLE"].as_str()),
        ("CONTACT_SYNC_MAPPING_PARAMETER", parameter.as_str()),
        ("CONTACT_SYNC_INTEGRATION", "crm"),
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
    ];
    let run = |args: &[&str]| contact_sync(state.path(), args, &env);

    // WHEN the open items are listed THEN they are the deployed integration's (`crm`), not
    // the built-in mapping's
    let open = run(&["conflicts", "list", "--open", "--json"]);
    assert_eq!(open.status.code(), Some(0), "{}", stderr(&open));
    let listed: Vec<Value> = stdout(&open)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["id"], "item-1");
    let review = run(&["review", "list", "--json"]);
    assert_eq!(review.status.code(), Some(0), "{}", stderr(&review));
    assert!(
        !stdout(&review).contains("default-item"),
        "{}",
        stdout(&review)
    );

    // WHEN the person is forgotten by their Salesforce id
    let done = run(&["forget", "--salesforce-id", "003SF1", "--json"]);
    // THEN the table keeps their ids and decisions without values
    assert_eq!(done.status.code(), Some(0), "{}", stderr(&done));
    let done = json(&done);
    assert_eq!(done["pair_id"], "p1");
    assert_eq!(done["pair_values_erased"], true);
    assert_eq!(done["entries_erased"], 2);
    assert_forgotten(&store, "crm", &theirs).await;
}
