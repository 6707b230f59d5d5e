//! The `contact-sync` binary as a user runs it.

mod common;

use common::{contact_sync, stderr, stdout};
use contact_sync_pipeline::store::embedded::EmbeddedStore;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// The one JSON document a `--json` command printed.
fn json(o: &Output) -> Value {
    assert!(
        o.status.success(),
        "exit {:?}: {}",
        o.status.code(),
        stderr(o)
    );
    serde_json::from_str(stdout(o).trim()).expect("one JSON document")
}

fn json_lines(o: &Output) -> Vec<Value> {
    stdout(o)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect()
}

fn writes(run: &Value) -> u64 {
    let w = &run["sandbox_requests"];
    w["salesforce"]["writes"].as_u64().expect("sf") + w["genesys"]["writes"].as_u64().expect("gz")
}

/// Everything the sandbox's store holds about the sandbox's records, for before/after
/// comparisons (read through the store port, after the command has exited).
async fn sandbox_state(state: &Path) -> String {
    let store = EmbeddedStore::open(&state.join("sandbox.redb")).expect("store");
    let orgs: Value = serde_json::from_str(
        &std::fs::read_to_string(state.join("sandbox-orgs.json")).expect("orgs"),
    )
    .expect("orgs json");
    let ids = |records: &Value, key: &str| -> Vec<String> {
        records
            .as_object()
            .map(|m| m.keys().cloned().collect::<Vec<_>>())
            .or_else(|| {
                records.as_array().map(|a| {
                    a.iter()
                        .filter_map(|r| r[key].as_str().map(str::to_string))
                        .collect()
                })
            })
            .unwrap_or_default()
    };
    let sf = ids(&orgs["salesforce"]["contacts"]["records"], "Id");
    let gz = ids(&orgs["genesys"]["contacts"]["contacts"], "id");
    assert!(
        !sf.is_empty() && !gz.is_empty(),
        "records found in the orgs file"
    );
    common::store_dump(&store, "default", &sf, &gz).await
}

#[tokio::test]
async fn the_readme_walk_check_dry_run_sync_resolve_sync_on_a_kept_sandbox() {
    // GIVEN an empty state directory
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path();

    // WHEN the sandbox is checked
    let check = contact_sync(state, &["check", "--sandbox", "--json"], &[]);
    // THEN every check passes and check wrote nothing
    let checks = json(&check);
    assert!(
        checks
            .as_array()
            .expect("array")
            .iter()
            .all(|c| c["status"] != "fail"),
        "{checks}"
    );
    assert!(!state.join("sandbox.redb").exists());

    // WHEN a dry run plans the first sync
    let dry = json(&contact_sync(
        state,
        &["sync", "--sandbox", "--dry-run", "--json"],
        &[],
    ));
    // THEN it plans every pair with reasons, and nothing was written: no write request
    // reached a simulator, no state was created
    assert_eq!(writes(&dry), 0);
    assert!(dry["stats"]["created"]["genesys"].as_u64() > Some(0));
    let planned = dry["pairs"].as_array().expect("pairs");
    assert!(planned.iter().any(|p| {
        p["plan"]["fields"]
            .as_array()
            .is_some_and(|f| f.iter().any(|f| f["reason"] == "filled_from"))
    }));
    assert!(!state.join("sandbox.redb").exists());
    assert!(!state.join("sandbox-orgs.json").exists());

    // WHEN the first sync runs, then a second one
    let first = contact_sync(state, &["sync", "--sandbox", "--json"], &[]);
    assert!(
        !stderr(&first).contains("@example."),
        "a log line carries an email"
    );
    // (the sandbox holds one Genesys contact Salesforce refuses: the first run exits 4)
    assert_eq!(first.status.code(), Some(4), "{}", stderr(&first));
    let first: Value = serde_json::from_str(stdout(&first).trim()).expect("one JSON document");
    assert_eq!(first["stats"]["refused"]["salesforce"], 1, "{first}");
    let second = json(&contact_sync(state, &["sync", "--sandbox", "--json"], &[]));

    // THEN the first creates on both sides and counts its API calls; the second, against
    // the kept orgs and state, writes nothing at all
    assert!(first["stats"]["created"]["genesys"].as_u64() > Some(0));
    assert!(first["stats"]["created"]["salesforce"].as_u64() > Some(0));
    assert!(first["api_calls"]["salesforce"].as_u64() > Some(0));
    assert!(first["api_calls"]["genesys"].as_u64() > Some(0));
    assert!(first["records_per_second"].as_f64() > Some(0.0));
    assert_eq!(first["end"], "completed");
    assert_eq!(writes(&second), 0);
    assert_eq!(second["stats"]["failed"], 0);

    // WHEN the conflicts are listed, one is shown, and a person overrides its policy
    let all = json_lines(&contact_sync(
        state,
        &["conflicts", "list", "--sandbox", "--json"],
        &[],
    ));
    let settled: Vec<&Value> = all
        .iter()
        .filter(|c| c["kind"]["kind"] == "resolved")
        .collect();
    assert_eq!(
        Some(settled.len() as u64),
        first["stats"]["conflicts"].as_u64()
    );
    assert!(
        all.iter().all(|c| c.get("salesforce_value").is_none()),
        "no values by default"
    );
    let id = settled[0]["id"].as_str().expect("id");
    // The policy wrote the winner's value over the loser's: choose the loser's.
    let loser = if settled[0]["kind"]["winner"] == "salesforce" {
        "genesys"
    } else {
        "salesforce"
    };
    let shown = contact_sync(state, &["conflicts", "show", id, "--sandbox"], &[]);
    let with_values = contact_sync(
        state,
        &["conflicts", "show", id, "--sandbox", "--values"],
        &[],
    );
    let resolve = contact_sync(
        state,
        &["conflicts", "resolve", id, "--sandbox", "--side", loser],
        &[],
    );
    let again = contact_sync(
        state,
        &["conflicts", "resolve", id, "--sandbox", "--side", "genesys"],
        &[],
    );
    // THEN show prints the item's ids and policy, values only with --values; the choice is
    // accepted once
    assert!(stdout(&shown).contains(id) && stdout(&shown).contains("policy"));
    assert!(stdout(&shown).contains("add --values") && !stdout(&shown).contains("genesys value"));
    assert!(stdout(&with_values).contains("genesys value"));
    assert_eq!(resolve.status.code(), Some(0), "{}", stderr(&resolve));
    assert_eq!(again.status.code(), Some(1));
    assert!(
        stderr(&again).contains("already closed"),
        "{}",
        stderr(&again)
    );

    // WHEN a dry run shows what the next sync does, then the sync runs
    let before = sandbox_state(state).await;
    let dry = json(&contact_sync(
        state,
        &["sync", "--sandbox", "--dry-run", "--json"],
        &[],
    ));
    let after_dry = sandbox_state(state).await;
    let third = json(&contact_sync(state, &["sync", "--sandbox", "--json"], &[]));

    // THEN the dry run plans the chosen value, writes no request and leaves the state as it
    // was; the sync writes it to both sides (each holds the winner's value) and audits it
    assert_eq!(writes(&dry), 0);
    assert_eq!(after_dry, before, "a dry run changed the state");
    let chosen = |p: &Value| {
        p["plan"]["fields"]
            .as_array()
            .is_some_and(|f| f.iter().any(|f| f["reason"] == "chosen_by_person"))
    };
    assert!(dry["pairs"].as_array().expect("pairs").iter().any(chosen));
    assert_eq!(third["stats"]["updated"]["salesforce"], 1, "{third}");
    assert_eq!(third["stats"]["updated"]["genesys"], 1, "{third}");
    let audit = json_lines(&contact_sync(
        state,
        &["conflicts", "list", "--sandbox", "--json"],
        &[],
    ));
    assert!(
        audit
            .iter()
            .any(|c| c["kind"]["kind"] == "chosen" && c["policy"] == "person")
    );

    // WHEN the review items are listed and the refused contact's item is dismissed
    let review = contact_sync(state, &["review", "list", "--sandbox", "--json"], &[]);
    let items = json_lines(&review);
    let refused = items
        .iter()
        .find(|c| c["kind"]["kind"] == "rejected")
        .expect("the contact Salesforce refused");
    let rid = refused["id"].as_str().expect("id");
    let link = contact_sync(
        state,
        &["review", "resolve", rid, "--sandbox", "--link", "x"],
        &[],
    );
    let dismiss = contact_sync(
        state,
        &["review", "resolve", rid, "--sandbox", "--dismiss"],
        &[],
    );
    let left = contact_sync(state, &["review", "list", "--sandbox"], &[]);
    let left_items = json_lines(&contact_sync(
        state,
        &["review", "list", "--sandbox", "--json"],
        &[],
    ));
    // THEN a link is refused for it, the dismissal is taken and audited, and what is left is
    // the person Salesforce holds twice (the seed's duplicate, same email): one ambiguous
    // match per record, each naming the others as candidates
    assert_eq!(link.status.code(), Some(1));
    assert!(
        stderr(&link).contains("only --dismiss applies"),
        "{}",
        stderr(&link)
    );
    assert_eq!(dismiss.status.code(), Some(0), "{}", stderr(&dismiss));
    assert!(stdout(&dismiss).contains(&format!("{rid}#dismissed")));
    assert!(!stdout(&left).contains(rid), "{}", stdout(&left));
    assert_eq!(left_items.len(), 3, "{}", stdout(&left));
    assert!(
        left_items
            .iter()
            .all(|c| c["kind"]["kind"] == "ambiguous_match"),
        "{}",
        stdout(&left)
    );
}

#[test]
fn one_way_from_the_command_line_never_writes_salesforce() {
    // GIVEN a fresh sandbox
    let state = tempfile::tempdir().expect("tempdir");
    // WHEN it syncs one-way
    let run = json(&contact_sync(
        state.path(),
        &["sync", "--sandbox", "--direction", "one-way", "--json"],
        &[],
    ));
    // THEN Genesys gets the Salesforce contacts and Salesforce receives no write request
    assert!(run["stats"]["created"]["genesys"].as_u64() > Some(0));
    assert_eq!(run["stats"]["created"]["salesforce"], 0);
    assert_eq!(run["sandbox_requests"]["salesforce"]["writes"], 0);
}

#[test]
fn check_names_what_fails_with_the_fix_and_exits_2() {
    // GIVEN no credentials at all
    let state = tempfile::tempdir().expect("tempdir");
    // WHEN checked
    let bare = contact_sync(state.path(), &["check"], &[]);
    // THEN the settings line fails with the variable and its fix, the system checks are
    // skipped, and the exit code is 2
    assert_eq!(bare.status.code(), Some(2), "{}", stderr(&bare));
    let out = stdout(&bare);
    assert!(out.contains("FAIL  settings"), "{out}");
    assert!(out.contains("SALESFORCE_CLIENT_ID"), "{out}");
    assert!(out.contains("skip  salesforce credentials"), "{out}");

    // GIVEN the sandbox and a mapping with a custom field the org does not have
    let config = state.path().join("mapping.yaml");
    let yaml = contact_sync_engine::mapping::DEFAULT_MAPPING_YAML.replace(
        "fields:\n",
        "fields:\n  - name: score\n    salesforce: Score__c\n    genesys: title2\n    direction: both\n    policy: newest_wins\n",
    );
    std::fs::write(&config, yaml).expect("write config");
    // WHEN checked
    let custom = contact_sync(
        state.path(),
        &["check", "--sandbox", "--json"],
        &[("CONTACT_SYNC_CONFIG", config.to_str().expect("utf-8"))],
    );
    // THEN the Contact-fields check fails naming the field, and nothing else does
    assert_eq!(custom.status.code(), Some(2), "{}", stderr(&custom));
    let checks: Vec<Value> = serde_json::from_str(stdout(&custom).trim()).expect("json");
    let failed: Vec<&Value> = checks.iter().filter(|c| c["status"] == "fail").collect();
    assert_eq!(failed.len(), 1, "{checks:?}");
    assert_eq!(failed[0]["check"], "salesforce contact fields");
    assert!(
        failed[0]["detail"]
            .as_str()
            .expect("detail")
            .contains("Score__c")
    );
    assert!(failed[0]["fix"].is_string());
}

#[test]
fn a_missing_setting_is_one_clear_line_and_exit_1() {
    // GIVEN no credentials in the environment
    let state = tempfile::tempdir().expect("tempdir");
    // WHEN a real sync is started
    let out = contact_sync(state.path(), &["sync", "--once"], &[]);
    // THEN it stops before any request, naming the variable
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("SALESFORCE_CLIENT_ID: not set"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_bad_mapping_names_the_file_and_field_and_exits_1() {
    // GIVEN a mapping with a direction/policy contradiction
    let state = tempfile::tempdir().expect("tempdir");
    let config = state.path().join("mapping.yaml");
    std::fs::write(
        &config,
        "version: 1\nfields:\n  - name: title\n    salesforce: Title\n    genesys: title\n    direction: salesforce_to_genesys\n    policy: genesys_wins\n",
    )
    .expect("write config");
    // WHEN a sync starts
    let out = contact_sync(
        state.path(),
        &["sync", "--sandbox"],
        &[("CONTACT_SYNC_CONFIG", config.to_str().expect("utf-8 path"))],
    );
    // THEN it fails with the file, the field and the problem
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("mapping.yaml")
            && err.contains("field `title`")
            && err.contains("contradicts"),
        "{err}"
    );
}

#[test]
fn an_unreachable_salesforce_fails_the_run_with_exit_1() {
    // GIVEN settings that point at a port where nothing listens
    let state = tempfile::tempdir().expect("tempdir");
    let env = [
        ("SALESFORCE_LOGIN_URL", "http://127.0.0.1:9"),
        ("SALESFORCE_CLIENT_ID", "id"),
        ("SALESFORCE_CLIENT_SECRET", "very-secret-value"),
        ("GENESYS_API_BASE", "http://127.0.0.1:9"),
        ("GENESYS_CLIENT_ID", "id"),
        ("GENESYS_CLIENT_SECRET", "other-secret-value"),
    ];
    // WHEN a sync runs
    let out = contact_sync(state.path(), &["sync", "--once"], &env);
    // THEN it fails with a message and never prints a secret
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.starts_with("error:") || err.contains("error:"), "{err}");
    assert!(!err.contains("very-secret-value") && !err.contains("other-secret-value"));
}

#[test]
fn ctrl_c_asks_the_run_to_stop_and_a_second_one_quits_with_130() {
    // GIVEN a Salesforce login URL that accepts connections and never answers, so the run
    // is still at its first request when interrupted
    let tarpit = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", tarpit.local_addr().expect("addr"));
    let state = tempfile::tempdir().expect("tempdir");
    let child = Command::new(env!("CARGO_BIN_EXE_contact-sync"))
        .args(["sync", "--once"])
        .env_clear()
        .env("CONTACT_SYNC_STATE_DIR", state.path())
        .env("SALESFORCE_LOGIN_URL", &url)
        .env("SALESFORCE_CLIENT_ID", "id")
        .env("SALESFORCE_CLIENT_SECRET", "secret")
        .env("GENESYS_API_BASE", &url)
        .env("GENESYS_CLIENT_ID", "id")
        .env("GENESYS_CLIENT_SECRET", "secret")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // Wait until the run has connected (its handler is installed before it connects).
    tarpit.set_nonblocking(false).expect("blocking");
    let _held = tarpit.accept().expect("the run connects");
    let interrupt = || {
        let status = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    };

    // WHEN Ctrl-C is pressed, and again
    interrupt();
    std::thread::sleep(std::time::Duration::from_millis(300));
    interrupt();
    let out = child.wait_with_output().expect("wait");

    // THEN the first asks to stop between batches, the second quits at once with 130
    let err = stderr(&out);
    assert!(
        err.contains("stopping: the batch in progress finishes"),
        "{err}"
    );
    assert!(err.contains("quit: pairs in progress are retried"), "{err}");
    assert_eq!(out.status.code(), Some(130), "{err}");
}

#[test]
fn sandbox_serve_lets_another_process_sync_the_simulators_and_keeps_them_on_ctrl_c() {
    use std::io::{BufRead, BufReader};
    // GIVEN the sandbox simulators served for other processes
    let state = tempfile::tempdir().expect("tempdir");
    let mut server = Command::new(env!("CARGO_BIN_EXE_contact-sync"))
        .args(["sandbox", "serve"])
        .env_clear()
        .env("CONTACT_SYNC_STATE_DIR", state.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut lines = BufReader::new(server.stdout.take().expect("stdout")).lines();
    let vars: Vec<(String, String)> = (0..7)
        .map(|_| {
            let line = lines.next().expect("a line").expect("utf-8");
            let (name, value) = line.split_once('=').expect("NAME=value");
            (name.to_string(), value.to_string())
        })
        .collect();
    let names: Vec<&str> = vars.iter().map(|(n, _)| n.as_str()).collect();
    for expected in [
        "SALESFORCE_LOGIN_URL",
        "SALESFORCE_CLIENT_ID",
        "SALESFORCE_CLIENT_SECRET",
        "GENESYS_API_BASE",
        "GENESYS_CLIENT_ID",
        "GENESYS_CLIENT_SECRET",
    ] {
        assert!(names.contains(&expected), "{names:?}");
    }
    assert!(
        vars.iter()
            .filter(|(n, _)| n.ends_with("_URL") || n.ends_with("_BASE"))
            .all(|(_, v)| v.starts_with("http://127.0.0.1:"))
    );

    // WHEN another process syncs with those variables (its own state)
    let other = tempfile::tempdir().expect("tempdir");
    let env: Vec<(&str, &str)> = vars.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let sync = contact_sync(other.path(), &["sync", "--once", "--json"], &env);

    // THEN it syncs the served orgs (the sandbox has people on one side only: creates; one
    // of them Salesforce refuses, so the run exits 4)
    assert_eq!(sync.status.code(), Some(4), "{}", stderr(&sync));
    let summary: Value = serde_json::from_str(stdout(&sync).trim()).expect("json");
    assert_eq!(summary["stats"]["refused"]["salesforce"], 1, "{summary}");
    assert!(
        summary["stats"]["created"]["genesys"].as_u64() > Some(0),
        "{summary}"
    );

    // WHEN the server gets Ctrl-C THEN it exits cleanly and keeps the orgs for next time
    let status = Command::new("kill")
        .args(["-INT", &server.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    assert_eq!(server.wait().expect("wait").code(), Some(0));
    assert!(state.path().join("sandbox-orgs.json").exists());
}

/// `sync --once` (with `extra` arguments) against the given simulators, in a blocking task so
/// the simulators (served by this test's runtime) keep answering.
async fn sync_against(
    state: &Path,
    sf: &contact_sync_simulators::SalesforceSim,
    gz: &contact_sync_simulators::GenesysSim,
    extra: &[&str],
) -> Output {
    let env: Vec<(String, String)> = vec![
        ("SALESFORCE_LOGIN_URL".into(), sf.url()),
        ("SALESFORCE_CLIENT_ID".into(), sf.client_id().into()),
        ("SALESFORCE_CLIENT_SECRET".into(), sf.client_secret().into()),
        ("GENESYS_API_BASE".into(), gz.url()),
        ("GENESYS_CLIENT_ID".into(), gz.client_id().into()),
        ("GENESYS_CLIENT_SECRET".into(), gz.client_secret().into()),
    ];
    let state = state.to_path_buf();
    let mut args = vec!["sync".to_string(), "--once".to_string()];
    args.extend(extra.iter().map(|a| a.to_string()));
    tokio::task::spawn_blocking(move || {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        contact_sync(&state, &args, &env)
    })
    .await
    .expect("run")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_in_which_a_record_is_refused_exits_4_and_counts_it_as_refused() {
    use contact_sync_simulators::{
        Fault, GenesysSim, GenesysSimConfig, SalesforceSim, SalesforceSimConfig,
    };
    // GIVEN three Salesforce-only people, one of whom Genesys refuses (validation)
    let sf = SalesforceSim::start(SalesforceSimConfig::default())
        .await
        .expect("sf");
    let gz = GenesysSim::start(GenesysSimConfig::default())
        .await
        .expect("gz");
    let ok1 = sf.insert(serde_json::json!({"LastName": "Kept", "Email": "kept@example.com"}));
    sf.insert(serde_json::json!({"LastName": "Also", "Email": "also@example.com"}));
    let bad = sf.insert(serde_json::json!({"LastName": "Bad", "Email": "bad@example.com"}));
    gz.inject(Fault::RejectRecord { id: bad.clone() });
    let state = tempfile::tempdir().expect("tempdir");

    // WHEN a run syncs them, with --json
    let first = sync_against(state.path(), &sf, &gz, &["--json"]).await;
    // THEN it exits 4, and the JSON counts one record refused by Genesys
    assert_eq!(first.status.code(), Some(4), "{}", stderr(&first));
    let summary: Value = serde_json::from_str(stdout(&first).trim()).expect("json");
    assert_eq!(summary["stats"]["refused"]["genesys"], 1, "{summary}");
    assert_eq!(summary["stats"]["refused"]["salesforce"], 0, "{summary}");
    assert_eq!(summary["stats"]["created"]["genesys"], 2, "{summary}");
    assert_eq!(gz.all().len(), 2);

    // WHEN the next run finds nothing changed
    let quiet = sync_against(state.path(), &sf, &gz, &[]).await;
    // THEN the parked record is not retried: nothing was refused in that run, exit 0
    assert_eq!(quiet.status.code(), Some(0), "{}", stderr(&quiet));

    // WHEN the refused record changes and a run shows the table
    sf.edit(&bad, serde_json::json!({"Title": "Fixed?"}));
    sf.edit(&ok1, serde_json::json!({"Title": "Changed"}));
    let again = sync_against(state.path(), &sf, &gz, &[]).await;
    // THEN it is retried, refused again: exit 4, a "refused" row with Genesys 1, and the hint
    assert_eq!(again.status.code(), Some(4), "{}", stderr(&again));
    let table = stdout(&again);
    let row = table
        .lines()
        .find(|l| l.trim_start().starts_with("refused"))
        .unwrap_or_else(|| panic!("a refused row: {table}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells[cells.len() - 2..], ["0", "1"], "{row}");
    assert!(table.contains("review list"), "{table}");
    // AND the refused person's data appears nowhere in the output
    assert!(!table.contains("bad@example.com"));
}

#[cfg(unix)]
#[test]
fn check_warns_when_the_state_directory_or_its_store_is_readable_by_others() {
    use std::os::unix::fs::PermissionsExt;
    // GIVEN a state directory others can read, holding a store file
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path();
    std::fs::write(state.join("state.redb"), b"").expect("store file");
    let set = |p: &std::path::Path, mode| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod")
    };
    set(state, 0o755);
    set(&state.join("state.redb"), 0o600);
    let state_check = || {
        // (check exits non-zero: no connection settings here; its JSON still lists every check)
        let out = contact_sync(state, &["check", "--json"], &[]);
        let checks: Value = serde_json::from_str(stdout(&out).trim()).expect("check's JSON");
        checks
            .as_array()
            .expect("checks")
            .iter()
            .find(|c| c["check"] == "state directory")
            .expect("the state directory check")
            .clone()
    };
    // WHEN check runs THEN it warns, with the fix, and does not count it as a failure
    let wide = state_check();
    assert_eq!(wide["status"], "warn", "{wide}");
    assert!(
        wide["fix"].as_str().unwrap_or("").contains("chmod 700"),
        "{wide}"
    );
    // AND a store file readable by others is a warning too
    set(state, 0o700);
    set(&state.join("state.redb"), 0o644);
    assert_eq!(state_check()["status"], "warn");
    // AND owner-only is fine
    set(&state.join("state.redb"), 0o600);
    assert_eq!(state_check()["status"], "ok");
}
