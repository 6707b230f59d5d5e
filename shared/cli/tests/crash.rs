//! `contact-sync sync` killed with SIGKILL in the middle of an initial sync (out of memory, a
//! laptop closed): the next run takes over what the dead run left (its run lock died with it;
//! its leases are ended at once) and finishes, with nothing lost or duplicated.
//!
//! The kill lands at a chosen write: a simulator processes every write request but holds the
//! answer of the (k+1)-th (`Fault::HoldWriteAnswersAfter`), so when the test kills the process,
//! exactly k+1 writes landed on that system and the run learnt of k: the last one landed
//! without the run knowing, the worst case for duplicates.

mod common;

use common::{stderr, stdout};
use contact_sync_simulators::{
    Fault, GenesysSim, GenesysSimConfig, SalesforceSim, SalesforceSimConfig,
};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// People only in Salesforce, only in Genesys, and in both (same email).
const SALESFORCE_ONLY: usize = 220;
const GENESYS_ONLY: usize = 50;
const BOTH: usize = 40;

#[derive(Debug, Clone, Copy)]
enum KillAt {
    Salesforce(u64),
    Genesys(u64),
}

struct Orgs {
    sf: SalesforceSim,
    gz: GenesysSim,
    emails: Vec<String>,
}

async fn orgs() -> Orgs {
    let sf = SalesforceSim::start(SalesforceSimConfig::default())
        .await
        .expect("salesforce simulator");
    let gz = GenesysSim::start(GenesysSimConfig::default())
        .await
        .expect("genesys simulator");
    let mut emails = Vec::new();
    for i in 0..SALESFORCE_ONLY + BOTH {
        let email = format!("sf{i}@example.com");
        sf.insert(json!({"FirstName": "Sal", "LastName": format!("Person {i}"), "Email": email}));
        if i >= SALESFORCE_ONLY {
            gz.insert(
                json!({"firstName": "Sal", "lastName": format!("Person {i}"), "workEmail": email}),
            );
        }
        emails.push(email);
    }
    for i in 0..GENESYS_ONLY {
        let email = format!("gz{i}@example.com");
        gz.insert(
            json!({"firstName": "Gen", "lastName": format!("Person {i}"), "workEmail": email}),
        );
        emails.push(email);
    }
    Orgs { sf, gz, emails }
}

fn env(o: &Orgs) -> Vec<(&'static str, String)> {
    vec![
        ("SALESFORCE_LOGIN_URL", o.sf.url()),
        ("SALESFORCE_CLIENT_ID", o.sf.client_id().to_string()),
        ("SALESFORCE_CLIENT_SECRET", o.sf.client_secret().to_string()),
        ("GENESYS_API_BASE", o.gz.url()),
        ("GENESYS_LOGIN_BASE", o.gz.url()),
        ("GENESYS_CLIENT_ID", o.gz.client_id().to_string()),
        ("GENESYS_CLIENT_SECRET", o.gz.client_secret().to_string()),
        // No client-side pacing: the simulator has no rate limit, and the kill points are
        // counted in writes, not time.
        ("GENESYS_REQUESTS_PER_MINUTE", "0".to_string()),
    ]
}

fn sync_command(state: &Path, env: &[(&'static str, String)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_contact-sync"));
    cmd.args(["sync", "--once", "--json"])
        .env_clear()
        .env("CONTACT_SYNC_STATE_DIR", state)
        .env("RUST_LOG", "warn");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// A whole run, off the async workers (the simulators answer on them meanwhile).
async fn sync(state: &Path, env: &[(&'static str, String)]) -> Output {
    let mut cmd = sync_command(state, env);
    tokio::task::spawn_blocking(move || cmd.output().expect("run contact-sync"))
        .await
        .expect("join")
}

/// Starts a run and kills it with SIGKILL once the chosen write is being held.
async fn killed_run(o: &Orgs, state: &Path, at: KillAt) {
    let (held, after): (&dyn Fn() -> u64, u64) = match at {
        KillAt::Salesforce(k) => (&|| o.sf.answers_held(), k),
        KillAt::Genesys(k) => (&|| o.gz.answers_held(), k),
    };
    let fault = Fault::HoldWriteAnswersAfter { after };
    match at {
        KillAt::Salesforce(_) => o.sf.inject(fault),
        KillAt::Genesys(_) => o.gz.inject(fault),
    }
    let mut child = sync_command(state, &env(o))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(30);
    while held() == 0 {
        if let Some(status) = child.try_wait().expect("try_wait") {
            panic!("{at:?}: the run ended ({status}) before reaching the kill point");
        }
        assert!(Instant::now() < deadline, "{at:?}: kill point not reached");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill().expect("SIGKILL");
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), None, "killed by a signal, not exited");
    o.sf.clear_faults();
    o.gz.clear_faults();
}

fn json(out: &Output) -> Value {
    serde_json::from_str(stdout(out).trim())
        .unwrap_or_else(|e| panic!("{e}: {} / {}", stdout(out), stderr(out)))
}

fn writes(o: &Orgs) -> u64 {
    o.sf.counters().writes + o.gz.counters().writes
}

/// Every person is exactly once on each side, and each Genesys contact is linked to the
/// Salesforce record with the same email; the problems found, if not.
fn each_person_once_on_each_side(o: &Orgs, at: KillAt) -> Vec<String> {
    let by_email = |records: Vec<Value>, key: &str| -> BTreeMap<String, Vec<Value>> {
        let mut map: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        for r in records {
            let email = r[key].as_str().unwrap_or("").to_ascii_lowercase();
            map.entry(email).or_default().push(r);
        }
        map
    };
    let sf = by_email(o.sf.all(), "Email");
    let gz = by_email(o.gz.all(), "workEmail");
    let mut problems = Vec::new();
    let people = o.emails.len();
    if (sf.len(), gz.len()) != (people, people) {
        problems.push(format!(
            "{at:?}: {} people in Salesforce, {} in Genesys, {people} expected",
            sf.len(),
            gz.len()
        ));
    }
    for email in &o.emails {
        let (s, g) = (
            sf.get(email).map_or(&[][..], Vec::as_slice),
            gz.get(email).map_or(&[][..], Vec::as_slice),
        );
        if (s.len(), g.len()) != (1, 1) {
            problems.push(format!(
                "{at:?}: {email} is {} times in Salesforce, {} in Genesys",
                s.len(),
                g.len()
            ));
            continue;
        }
        let links: Vec<&Value> = g[0]["externalIds"]
            .as_array()
            .map(|ids| ids.iter().map(|e| &e["value"]).collect())
            .unwrap_or_default();
        if links != vec![&s[0]["Id"]] {
            problems.push(format!("{at:?}: {email} is not linked to its twin"));
        }
    }
    problems
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_killed_at_any_write_is_finished_by_the_next_run_without_loss_or_duplicate() {
    // Kill points: at the first Genesys write (the external source), at each later Genesys
    // write of the run (bulk adds and updates), and at the first Salesforce write (the
    // creates). Every kill point is run and every problem reported at the end.
    let mut problems = Vec::new();
    for at in [
        KillAt::Genesys(0),
        KillAt::Genesys(1),
        KillAt::Genesys(2),
        KillAt::Genesys(3),
        KillAt::Salesforce(0),
    ] {
        // GIVEN two orgs with a few hundred people (some on one side, some on both) and an
        // empty state, and an initial sync killed with SIGKILL at that write
        let started = Instant::now();
        let o = orgs().await;
        let dir = tempfile::tempdir().expect("tempdir");
        let state: PathBuf = dir.path().to_path_buf();
        killed_run(&o, &state, at).await;
        let killed = started.elapsed();

        // WHEN the next run starts at once (well within the dead run's lease lifetime)
        let next = sync(&state, &env(&o)).await;

        // THEN it finishes (exit 0, completed): every person exactly once on each side,
        // linked to their twin
        if next.status.code() != Some(0) {
            problems.push(format!(
                "{at:?}: exit {:?}: {}",
                next.status.code(),
                stderr(&next)
            ));
        }
        let summary = json(&next);
        if summary["end"] != "completed" {
            problems.push(format!("{at:?}: not completed: {summary}"));
        }
        problems.extend(each_person_once_on_each_side(&o, at).into_iter().take(5));

        // AND a third run writes nothing
        let before = writes(&o);
        let third = sync(&state, &env(&o)).await;
        if third.status.code() != Some(0) || writes(&o) != before {
            problems.push(format!(
                "{at:?}: third run exit {:?}, {} writes",
                third.status.code(),
                writes(&o) - before
            ));
        }
        eprintln!(
            "{at:?}: killed after {killed:.1?}, three runs in {:.1?}",
            started.elapsed()
        );
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_run_while_one_is_alive_is_refused_with_exit_1() {
    // GIVEN a run that is alive, held at its first Genesys write
    let o = orgs().await;
    let dir = tempfile::tempdir().expect("tempdir");
    o.gz.inject(Fault::HoldWriteAnswersAfter { after: 0 });
    let mut first = sync_command(dir.path(), &env(&o))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(30);
    while o.gz.answers_held() == 0 {
        assert!(first.try_wait().expect("try_wait").is_none(), "ended early");
        assert!(Instant::now() < deadline, "the first run never wrote");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    // WHEN a second run starts on the same state
    let second = sync(dir.path(), &env(&o)).await;

    // THEN it is refused at once with exit 1 and a message that says why
    assert_eq!(second.status.code(), Some(1), "{}", stderr(&second));
    assert!(
        stderr(&second).contains("another contact-sync run is working on the state"),
        "{}",
        stderr(&second)
    );
    first.kill().expect("kill");
    first.wait().expect("wait");
}
