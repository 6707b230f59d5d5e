//! The CLI's initial sync against the simplest script that does the same job (issue 15's CLI
//! targets): the real release `contact-sync` binary runs `sync --once --json` as a child
//! process, with its embedded store in a fresh temporary state directory, against both
//! simulators on loopback (no rate limit, no client pacing), seeded with `SF` Salesforce and
//! `GZ` Genesys contacts of which `OVERLAP` share an email (the same person on both sides).
//! Then the run after it (nothing changed: it should write nothing). Then the baseline
//! (`bulk_script`: read both sides whole, pair by email, bulk creates/updates, state in one
//! JSON file) on freshly seeded simulators, its first run and the run after it.
//!
//! Prints per run: wall time, the child's CPU time and peak resident memory (`VmHWM`; both
//! polled while it runs, so the last 5 ms may be missing), and the simulators' requests
//! (reads/writes). With the argument `strace` (and
//! `strace` on the PATH), both CLI runs are repeated on fresh simulators and state under
//! `strace -f -c`, and their `fdatasync`/`fsync`/`pwrite64` counts are printed, per pair too
//! (wall times under strace are not comparable and are not printed).
//!
//! Build the binary first, then run (arguments: SF GZ [OVERLAP], default 4500 450 225):
//! `cargo build --release -p contact-sync-cli && cargo bench -p contact-sync-bench --bench cli_sync -- 4500 450 strace`
//! (`CLI_SYNC_BINARY=<path>` measures another build of `contact-sync`).

use contact_sync_bench::bulk_script::BulkScript;
use contact_sync_bench::numeric_arguments;
use contact_sync_bench::process::Usage;
use contact_sync_bench::seed_style::Endpoints;
use contact_sync_simulators::{
    Counters, GenesysSim, GenesysSimConfig, SalesforceSim, SalesforceSimConfig,
};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

struct Orgs {
    sf: SalesforceSim,
    gz: GenesysSim,
}

/// Both simulators, seeded: Salesforce `person{i}` for i < sf; Genesys `person{i}` for
/// i < overlap (the same people) and `gzperson{j}` for the rest.
async fn orgs(sf_count: usize, gz_count: usize, overlap: usize) -> Orgs {
    let sf = SalesforceSim::start(SalesforceSimConfig::default())
        .await
        .expect("salesforce simulator");
    let gz = GenesysSim::start(GenesysSimConfig::default())
        .await
        .expect("genesys simulator");
    sf.insert_numbered(sf_count);
    for i in 0..gz_count {
        let (first, email) = if i < overlap {
            (format!("First{i}"), format!("person{i}@example.com"))
        } else {
            (format!("Gen{i}"), format!("gzperson{i}@example.com"))
        };
        gz.insert(json!({
            "firstName": first,
            "lastName": format!("Last{i}"),
            "workEmail": email,
            "workPhone": {"display": format!("+1415{:07}", i % 10_000_000)},
            "title": "Customer",
        }));
    }
    sf.reset_counters();
    gz.reset_counters();
    Orgs { sf, gz }
}

/// The release binary next to this harness, or the one `CLI_SYNC_BINARY` names (another
/// build, e.g. the one before a change).
fn cli_binary() -> PathBuf {
    if let Some(binary) = std::env::var_os("CLI_SYNC_BINARY") {
        return PathBuf::from(binary);
    }
    let exe = std::env::current_exe().expect("own path");
    let release = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/release");
    let binary = release.join("contact-sync");
    assert!(
        binary.exists(),
        "{} is missing: run `cargo build --release -p contact-sync-cli` first",
        binary.display()
    );
    binary
}

/// The connection variables `contact-sync sandbox serve` prints, for these simulators.
fn env(o: &Orgs) -> Vec<(&'static str, String)> {
    vec![
        ("SALESFORCE_LOGIN_URL", o.sf.url()),
        ("SALESFORCE_CLIENT_ID", o.sf.client_id().to_string()),
        ("SALESFORCE_CLIENT_SECRET", o.sf.client_secret().to_string()),
        ("GENESYS_API_BASE", o.gz.url()),
        ("GENESYS_LOGIN_BASE", o.gz.url()),
        ("GENESYS_CLIENT_ID", o.gz.client_id().to_string()),
        ("GENESYS_CLIENT_SECRET", o.gz.client_secret().to_string()),
        ("GENESYS_REQUESTS_PER_MINUTE", "0".to_string()),
    ]
}

struct Figures {
    wall: Duration,
    peak_kb: Option<u64>,
    /// The child's user + system CPU seconds (last reading before its exit).
    cpu: Option<f64>,
    sf: Counters,
    gz: Counters,
}

/// One `sync --once` of the binary (under `strace -f -c -o trace` when given), off the async
/// workers (the simulators answer on them meanwhile).
async fn cli_run(binary: &Path, state: &Path, o: &Orgs, trace: Option<&Path>) -> Figures {
    o.sf.reset_counters();
    o.gz.reset_counters();
    let mut cmd = match trace {
        Some(file) => {
            let mut c = Command::new("strace");
            c.arg("-f").arg("-c").arg("-o").arg(file).arg(binary);
            c
        }
        None => Command::new(binary),
    };
    cmd.args(["sync", "--once", "--json"])
        .env_clear()
        .env("CONTACT_SYNC_STATE_DIR", state)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env(o) {
        cmd.env(k, v);
    }
    let (wall, (peak_kb, cpu), output) = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let child = cmd.spawn().expect("spawn contact-sync");
        let pid = child.id();
        // VmHWM only grows: the last reading before the exit is the peak (to within the
        // polling interval).
        let watcher = std::thread::spawn(move || {
            let (mut peak, mut cpu) = (None, None);
            loop {
                let usage = Usage::of(pid);
                if usage.peak_kb.is_none() {
                    return (peak, cpu);
                }
                peak = usage.peak_kb;
                cpu = usage.cpu_seconds.or(cpu);
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        let output = child.wait_with_output().expect("wait");
        let wall = started.elapsed();
        (wall, watcher.join().expect("watcher"), output)
    })
    .await
    .expect("join");
    assert!(
        output.status.success(),
        "contact-sync failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    Figures {
        wall,
        peak_kb,
        cpu,
        sf: o.sf.counters(),
        gz: o.gz.counters(),
    }
}

fn requests(f: &Figures) -> String {
    format!(
        "SF {} ({} reads, {} writes), GZ {} ({} reads, {} writes)",
        f.sf.total, f.sf.reads, f.sf.writes, f.gz.total, f.gz.reads, f.gz.writes
    )
}

fn print(name: &str, f: &Figures) {
    let peak = f.peak_kb.map_or("?".to_string(), |kb| {
        format!("{:.1} MB", kb as f64 / 1024.0)
    });
    let cpu = f.cpu.map_or("?".to_string(), |s| format!("{s:.2} s"));
    println!(
        "{name:<26} {:>8.2} s  CPU {cpu:>7}  peak RSS {peak:>9}  requests: {}",
        f.wall.as_secs_f64(),
        requests(f)
    );
}

/// `fdatasync`, `fsync` and `pwrite64` calls in a `strace -c` summary.
fn syscall_counts(trace: &Path) -> [(&'static str, u64); 3] {
    let text = std::fs::read_to_string(trace).unwrap_or_default();
    ["fdatasync", "fsync", "pwrite64"].map(|name| {
        let calls = text
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .find(|cols| cols.last() == Some(&name) && cols.len() >= 5)
            .and_then(|cols| cols[3].parse().ok())
            .unwrap_or(0);
        (name, calls)
    })
}

fn strace_available() -> bool {
    Command::new("strace")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args = numeric_arguments();
    let sf_count = args.first().copied().unwrap_or(4_500);
    let gz_count = args.get(1).copied().unwrap_or(450);
    let overlap = args
        .get(2)
        .copied()
        .unwrap_or(gz_count / 2)
        .min(gz_count)
        .min(sf_count);
    let people = sf_count + gz_count - overlap;
    let traced = std::env::args().any(|a| a == "strace");
    let binary = cli_binary();
    println!(
        "cli_sync: {sf_count} Salesforce + {gz_count} Genesys contacts, {overlap} on both sides: {people} people"
    );

    // The CLI: first run, then the run after it, same state directory.
    let o = orgs(sf_count, gz_count, overlap).await;
    let state = tempfile::tempdir().expect("state dir");
    let first = cli_run(&binary, state.path(), &o, None).await;
    print("contact-sync first run", &first);
    let (sf_after, gz_after) = (o.sf.all().len(), o.gz.all().len());
    let second = cli_run(&binary, state.path(), &o, None).await;
    print("contact-sync run after it", &second);
    println!(
        "  after the runs: {sf_after} Salesforce and {gz_after} Genesys contacts (expected {people} each); second run wrote {} records",
        second.sf.records_written + second.gz.records_written
    );

    // The baseline on fresh simulators.
    let o2 = orgs(sf_count, gz_count, overlap).await;
    let script_state = tempfile::tempdir().expect("script state dir");
    let script = BulkScript::new(
        Endpoints {
            salesforce_url: o2.sf.url(),
            salesforce_client: (
                o2.sf.client_id().to_string(),
                o2.sf.client_secret().to_string(),
            ),
            genesys_url: o2.gz.url(),
            genesys_client: (
                o2.gz.client_id().to_string(),
                o2.gz.client_secret().to_string(),
            ),
        },
        script_state.path().join("pairs.json"),
    );
    for name in ["bulk script first run", "bulk script run after it"] {
        o2.sf.reset_counters();
        o2.gz.reset_counters();
        let started = Instant::now();
        let run = script.run().await.expect("baseline run");
        let f = Figures {
            wall: started.elapsed(),
            peak_kb: None,
            cpu: None,
            sf: o2.sf.counters(),
            gz: o2.gz.counters(),
        };
        print(name, &f);
        println!("  {run:?}");
    }
    println!(
        "  after the script: {} Salesforce and {} Genesys contacts",
        o2.sf.all().len(),
        o2.gz.all().len()
    );
    drop(o2);

    if !traced {
        return;
    }
    if !strace_available() {
        println!("strace: not available, no syscall counts");
        return;
    }
    let o3 = orgs(sf_count, gz_count, overlap).await;
    let state = tempfile::tempdir().expect("state dir");
    for name in ["first run", "run after it"] {
        let trace = state
            .path()
            .join(format!("{}.strace", name.replace(' ', "-")));
        let f = cli_run(&binary, &state.path().join("state"), &o3, Some(&trace)).await;
        let counts = syscall_counts(&trace);
        let listed: Vec<String> = counts
            .iter()
            .map(|(n, c)| format!("{n} {c} ({:.3}/person)", *c as f64 / people as f64))
            .collect();
        println!(
            "strace, {name:<13} {}  requests: {}",
            listed.join(", "),
            requests(&f)
        );
    }
}
