//! The `contact-sync` binary as a user runs it.

mod common;

use common::{contact_sync, stderr, stdout};
use serde_json::Value;

#[test]
fn sandbox_sync_then_conflicts_list() {
    // GIVEN an empty state directory
    let state = tempfile::tempdir().expect("tempdir");

    // WHEN the README's main command runs
    let out = contact_sync(state.path(), &["sync", "--sandbox", "--json"], &[]);

    // THEN it succeeds; the first cycle creates and links, the second writes nothing at all
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    let cycles: Value = serde_json::from_str(stdout(&out).trim()).expect("json summary");
    let (first, second) = (&cycles[0], &cycles[1]);
    assert!(first["stats"]["created"]["genesys"].as_u64() > Some(0));
    assert!(first["stats"]["created"]["salesforce"].as_u64() > Some(0));
    assert!(first["stats"]["conflicts"].as_u64() > Some(0));
    assert_eq!(second["api_requests"]["salesforce"]["writes"], 0);
    assert_eq!(second["api_requests"]["genesys"]["writes"], 0);
    assert_eq!(second["stats"]["failed"], 0);
    // AND no log line carries a seeded email address
    assert!(
        !stderr(&out).contains("@example."),
        "a log line carries an email"
    );

    // WHEN the conflicts are listed
    let list = contact_sync(
        state.path(),
        &["conflicts", "list", "--sandbox", "--json"],
        &[],
    );

    // THEN every conflict the run counted is there, with its winner
    assert_eq!(list.status.code(), Some(0), "stderr: {}", stderr(&list));
    let conflicts: Vec<Value> = stdout(&list)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    let resolved = conflicts
        .iter()
        .filter(|c| c["kind"]["kind"] == "resolved")
        .count();
    assert_eq!(Some(resolved as u64), first["stats"]["conflicts"].as_u64());
    // AND the open items are what waits for a person (the contact Salesforce refused)
    let open = contact_sync(
        state.path(),
        &["conflicts", "list", "--sandbox", "--open", "--json"],
        &[],
    );
    let open_count = stdout(&open).lines().count() as u64;
    assert_eq!(Some(open_count), first["stats"]["review"].as_u64());

    // WHEN a person tries to settle the refused contact's item with a chosen side, and an
    // unknown item with a value
    let refused: Value =
        serde_json::from_str(stdout(&open).lines().next().expect("an open item")).expect("json");
    let id = refused["id"].as_str().expect("id");
    let wrong_kind = contact_sync(
        state.path(),
        &["conflicts", "resolve", id, "--side", "genesys", "--sandbox"],
        &[],
    );
    let unknown = contact_sync(
        state.path(),
        &[
            "conflicts",
            "resolve",
            "no-such-item",
            "--value",
            "x",
            "--sandbox",
        ],
        &[],
    );
    // THEN both are refused with exit 1 and a line that says why, and the item stays open
    assert_eq!(wrong_kind.status.code(), Some(1));
    assert!(
        stderr(&wrong_kind).contains("only held fields"),
        "{}",
        stderr(&wrong_kind)
    );
    assert_eq!(unknown.status.code(), Some(1));
    assert!(stderr(&unknown).contains("no review item `no-such-item`"));
    let still_open = contact_sync(
        state.path(),
        &["conflicts", "list", "--sandbox", "--open", "--json"],
        &[],
    );
    assert_eq!(stdout(&still_open).lines().count() as u64, open_count);
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
