//! Full sync at scale against both simulators, with the sync in a process of its own.
//!
//! The orgs (both simulators) live in this process; the sync runs in a child process (this
//! same binary, started with [`SYNC_PROCESS`] set) that holds only what `contact-sync sync`
//! would hold: the engine, both connectors, the in-memory store and the in-process queue. So
//! the peak memory printed (`VmHWM` of the child) is the sync's own, not the simulators'.
//! Genesys enforces its per-token rate limit scaled by a factor, and the client's token
//! bucket is set to the same scaled limit.
//!
//! Phases (`all`, the default), each one `sync --once` cycle in the child, with up to
//! [`RECONCILE_CONCURRENCY`] batches reconciled at once (`run_cycle_overlapped`):
//!
//! 1. **initial**: N contacts in Salesforce, none in Genesys.
//! 2. **settle**: the next cycle. Genesys has no modified-since filter and the first cycle saw
//!    no Genesys record, so every contact it created comes back as a Genesys change once.
//! 3. **incremental**: 1,000 edits (500 Salesforce titles, 500 Genesys titles of other pairs),
//!    then a cycle: how long the poll takes to find them (the full Genesys scan included).
//! 4. **matching**: a fresh Genesys org already holding the N contacts (same emails; one in
//!    ten with another title), a fresh sync process (empty store): every pair is found by
//!    matching and linked, nothing is created.
//!
//! After phases 1, 3 and 4 the two orgs are compared in full through the mapping: every
//! Salesforce contact must have exactly one linked Genesys contact with the same canonical
//! values, and no Genesys contact may be left unlinked. A harness, not a test: it asserts only
//! that each run was correct, so its figures describe correct runs.
//!
//! `cargo bench -p contact-sync-connectors --bench full_sync -- [contacts] [scale] [phases]`
//! (defaults: 100000 contacts, scale 10 = 3,000 requests/min, phases `all`; `initial` runs
//! phase 1 only, `matching` phase 4 only). With [`STORE`]` = redb` the sync process keeps its
//! pairs in a redb file (what `contact-sync` ships) instead of in memory.

use contact_sync_connectors::{GenesysConfig, GenesysSystem, SalesforceConfig, SalesforceSystem};
use contact_sync_engine::mapping::Mapping;
use contact_sync_engine::{CanonicalContact, SideRecord};
use contact_sync_pipeline::cycle::{
    CycleOptions, Progress, RECONCILE_CONCURRENCY, run_cycle_overlapped,
};
use contact_sync_pipeline::notify::LogAlerter;
use contact_sync_pipeline::queue::InProcessQueue;
use contact_sync_pipeline::stats::SyncStats;
use contact_sync_pipeline::store::SyncStore;
use contact_sync_pipeline::store::embedded::EmbeddedStore;
use contact_sync_pipeline::store::memory::MemoryStore;
use contact_sync_pipeline::{Integration, Settings, SystemClock};
use contact_sync_simulators::{
    Counters, GenesysSim, GenesysSimConfig, SalesforceSim, SalesforceSimConfig,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::num::NonZeroU32;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

/// The allocator every shipped binary uses, so the sync process's memory is what ships.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The platform's `client.credentials.token.rate.per.minute`.
const GENESYS_LIMIT_PER_MINUTE: u32 = 300;
/// Set (to `"<salesforce url> <genesys url> <requests per minute>"`) in the sync process.
const SYNC_PROCESS: &str = "CONTACT_SYNC_BENCH_SYNC_PROCESS";
/// `redb`: the sync process's store is a redb file in the temporary directory (the CLI's
/// store); otherwise it is the in-memory store.
const STORE: &str = "CONTACT_SYNC_BENCH_STORE";
/// Edits of the incremental phase, split evenly between the two systems.
const EDITS: usize = 1_000;

fn main() {
    match std::env::var(SYNC_PROCESS) {
        Ok(spec) => sync_process(&spec),
        Err(_) => orgs(),
    }
}

// ---------------------------------------------------------------------------------------
// The sync process.

/// What one cycle in the sync process reports to the orgs' process.
#[derive(Debug, Serialize, Deserialize)]
struct CycleReport {
    stats: SyncStats,
    wall_s: f64,
    /// From the start of the cycle until the poll had enqueued every batch.
    poll_s: f64,
    /// User + system CPU time of the whole sync process during the cycle.
    cpu_s: f64,
    rss_before_kb: u64,
    /// Peak resident memory during the poll (reset at the start of the cycle).
    peak_poll_kb: u64,
    /// Peak resident memory during the whole cycle (reset at the start of the cycle).
    peak_kb: u64,
    rss_after_kb: u64,
}

/// Reads commands (`cycle`) from stdin and answers each with one JSON [`CycleReport`] line.
fn sync_process(spec: &str) {
    let parts: Vec<&str> = spec.split(' ').collect();
    let [sf_url, gz_url, limit] = parts[..] else {
        panic!("{SYNC_PROCESS}: expected `<salesforce url> <genesys url> <limit>`");
    };
    let defaults = (SalesforceSimConfig::default(), GenesysSimConfig::default());
    let mapping = Mapping::default_mapping();
    let mut sf_cfg = SalesforceConfig::new(
        sf_url,
        &defaults.0.client_id,
        defaults.0.client_secret.as_str(),
    );
    sf_cfg.fields = mapping.salesforce_fields();
    let mut gz_cfg = GenesysConfig::new(
        gz_url,
        &defaults.1.client_id,
        defaults.1.client_secret.as_str(),
    );
    gz_cfg.requests_per_minute = limit.parse().ok().and_then(NonZeroU32::new);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let queue = Arc::new(InProcessQueue::new());
    let redb_file = std::env::temp_dir().join(format!("full-sync-{}.redb", std::process::id()));
    let store: Arc<dyn SyncStore> = if std::env::var(STORE).as_deref() == Ok("redb") {
        Arc::new(EmbeddedStore::open(&redb_file).expect("redb store"))
    } else {
        Arc::new(MemoryStore::new())
    };
    let integration = {
        let _entered = runtime.enter();
        Integration::new(
            mapping,
            Arc::new(SalesforceSystem::new(sf_cfg).expect("salesforce config")),
            Arc::new(GenesysSystem::new(gz_cfg).expect("genesys config")),
            store,
            queue.clone(),
            Arc::new(SystemClock),
            Settings::default(),
        )
    };
    let stdout = std::io::stdout();
    for line in std::io::stdin().lock().lines() {
        let line = line.expect("stdin");
        if line.trim() != "cycle" {
            break;
        }
        let report = runtime.block_on(measured_cycle(&integration, &queue));
        let mut out = stdout.lock();
        serde_json::to_writer(&mut out, &report).expect("report");
        writeln!(out).and_then(|()| out.flush()).expect("stdout");
    }
    drop(integration);
    let _ = std::fs::remove_file(&redb_file);
}

async fn measured_cycle(integration: &Integration, queue: &Arc<InProcessQueue>) -> CycleReport {
    reset_peak_memory();
    let rss_before_kb = own_status_kb("VmRSS");
    let cpu_before = own_cpu_seconds();
    let started = Instant::now();
    let mut polled: Option<(f64, u64)> = None;
    let outcome = run_cycle_overlapped(
        integration,
        queue,
        &LogAlerter,
        &CycleOptions::default(),
        RECONCILE_CONCURRENCY,
        |progress| {
            if let Progress::Polled { .. } = progress {
                polled = Some((started.elapsed().as_secs_f64(), own_status_kb("VmHWM")));
            }
        },
    )
    .await
    .expect("sync cycle");
    let wall_s = started.elapsed().as_secs_f64();
    let (poll_s, peak_poll_kb) = polled.unwrap_or((wall_s, 0));
    CycleReport {
        stats: outcome.stats,
        wall_s,
        poll_s,
        cpu_s: own_cpu_seconds() - cpu_before,
        rss_before_kb,
        peak_poll_kb,
        peak_kb: own_status_kb("VmHWM"),
        rss_after_kb: own_status_kb("VmRSS"),
    }
}

/// A `kB` line of `/proc/self/status` (`VmHWM`: peak resident set, `VmRSS`: current).
fn own_status_kb(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status.lines().find_map(|line| {
                let rest = line.strip_prefix(key)?.strip_prefix(':')?;
                rest.trim().trim_end_matches("kB").trim().parse().ok()
            })
        })
        .unwrap_or(0)
}

/// Resets `VmHWM` to the current resident set (Linux: `5` to `/proc/self/clear_refs`).
fn reset_peak_memory() {
    if let Err(error) = std::fs::write("/proc/self/clear_refs", "5") {
        eprintln!("cannot reset the peak memory mark: {error}");
    }
}

/// User + system CPU time of this process, every thread (`/proc/self/stat`, USER_HZ = 100).
fn own_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses and may hold spaces).
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok());
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    (ticks(11).unwrap_or(0) + ticks(12).unwrap_or(0)) as f64 / 100.0
}

/// The sync process, as the orgs' process drives it.
struct SyncProcess {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl SyncProcess {
    fn start(sf: &SalesforceSim, gz: &GenesysSim, limit: u32) -> SyncProcess {
        let mut child = Command::new(std::env::current_exe().expect("own path"))
            .env(SYNC_PROCESS, format!("{} {} {limit}", sf.url(), gz.url()))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("sync process");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        SyncProcess {
            child,
            stdin,
            stdout,
        }
    }

    fn cycle(&mut self) -> CycleReport {
        writeln!(self.stdin, "cycle")
            .and_then(|()| self.stdin.flush())
            .expect("to the sync process");
        let mut line = String::new();
        self.stdout
            .read_line(&mut line)
            .expect("from the sync process");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("sync process report: {e}"))
    }
}

impl Drop for SyncProcess {
    fn drop(&mut self) {
        // An empty line ends its command loop.
        let _ = writeln!(self.stdin);
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------
// The orgs' process.

fn orgs() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let contacts: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let scale: u32 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(10);
    let phases = args.get(2).map_or("all", String::as_str);
    let limit = GENESYS_LIMIT_PER_MINUTE * scale;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let genesys_config = GenesysSimConfig {
        rate_limit_per_minute: Some(limit),
        ..GenesysSimConfig::default()
    };
    let sf = runtime
        .block_on(SalesforceSim::start(SalesforceSimConfig::default()))
        .expect("salesforce simulator");
    let gz = runtime
        .block_on(GenesysSim::start(genesys_config.clone()))
        .expect("genesys simulator");
    let mapping = Mapping::default_mapping();
    println!(
        "machine: {} cores; genesys limit: {GENESYS_LIMIT_PER_MINUTE}/min x {scale} = {limit}/min (simulator and client); sync store: {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::env::var(STORE).unwrap_or_else(|_| "memory".into())
    );
    // The simulators stamp each write at least 1 ms after the last one: writing N records in a
    // few seconds puts their stamps up to N ms ahead of the clock, and the poll (rightly) holds
    // its watermark before the start of its read, so the next cycles would read those records
    // again. Real systems stamp bulk writes with the time (ties allowed). Each simulator's
    // clock is set N ms behind, which absorbs the N writes it takes at most.
    let behind = chrono::Duration::milliseconds(contacts as i64);
    sf.set_clock_offset(-behind);
    gz.set_clock_offset(-behind);
    let seeding = Instant::now();
    sf.insert_numbered(contacts);
    eprintln!(
        "seeded {contacts} Salesforce contacts in {:.1} s",
        seeding.elapsed().as_secs_f64()
    );

    if phases == "matching" {
        drop(gz);
        matching(&runtime, &sf, genesys_config, &mapping, contacts);
        return;
    }
    let mut sync = SyncProcess::start(&sf, &gz, limit);
    let initial = run_phase(&mut sync, &sf, &gz, limit);
    initial.print(
        &format!("initial sync: {contacts} contacts, Salesforce -> empty Genesys"),
        contacts,
    );
    assert_eq!(initial.report.stats.created.genesys as usize, contacts);
    assert_eq!(initial.report.stats.failed, 0, "no failed pair");
    compare_in_full(&mapping, &sf, &gz, contacts);
    if phases == "initial" {
        return;
    }

    let settle = run_phase(&mut sync, &sf, &gz, limit);
    settle.print(
        "settle: the next cycle (each contact created in Genesys comes back once as a change)",
        contacts,
    );
    assert_eq!(settle.genesys.records_written, 0, "nothing to write");

    let edited = edit_both_sides(&sf, &gz, contacts);
    let incremental = run_phase(&mut sync, &sf, &gz, limit);
    incremental.print(
        &format!(
            "incremental: {} Salesforce + {} Genesys edits in a {contacts}-contact org",
            edited.0, edited.1
        ),
        contacts,
    );
    println!(
        "  poll (found the changes, full Genesys scan included): {:.1} s; scan pages: {}",
        incremental.report.poll_s,
        incremental
            .genesys
            .by_route
            .get("GET /scan/contacts")
            .unwrap_or(&0)
    );
    assert_eq!(
        incremental.report.stats.changed.salesforce as usize
            + incremental.report.stats.changed.genesys as usize,
        edited.0 + edited.1,
        "every edit found, nothing else"
    );
    compare_in_full(&mapping, &sf, &gz, contacts);
    drop(sync);
    drop(gz);
    matching(&runtime, &sf, genesys_config, &mapping, contacts);
}

/// A fresh Genesys org that already holds every Salesforce contact (one in ten with another
/// title), not linked, and a fresh sync process: every pair found by matching.
fn matching(
    runtime: &tokio::runtime::Runtime,
    sf: &SalesforceSim,
    genesys_config: GenesysSimConfig,
    mapping: &Mapping,
    contacts: usize,
) {
    let limit = genesys_config.rate_limit_per_minute.unwrap_or(0);
    let gz = runtime
        .block_on(GenesysSim::start(genesys_config))
        .expect("genesys simulator");
    gz.set_clock_offset(-chrono::Duration::milliseconds(contacts as i64));
    for (i, contact) in sf.all().iter().enumerate() {
        let title = if i % 10 == 0 {
            "Genesys title".to_string()
        } else {
            contact["Title"].as_str().unwrap_or_default().to_string()
        };
        gz.insert(json!({
            "firstName": contact["FirstName"],
            "lastName": contact["LastName"],
            "workEmail": contact["Email"],
            "workPhone": {"display": contact["Phone"]},
            "title": title,
        }));
    }
    let mut sync = SyncProcess::start(sf, &gz, limit);
    let matching = run_phase(&mut sync, sf, &gz, limit);
    matching.print(
        &format!("matching: {contacts} Salesforce contacts, Genesys already holding them"),
        contacts,
    );
    assert_eq!(matching.report.stats.created.genesys, 0, "nothing created");
    assert_eq!(matching.report.stats.failed, 0, "no failed pair");
    compare_in_full(mapping, sf, &gz, contacts);
}

/// One cycle's figures with the simulators' counters for it.
struct Phase {
    report: CycleReport,
    salesforce: Counters,
    genesys: Counters,
    limit: u32,
}

fn run_phase(sync: &mut SyncProcess, sf: &SalesforceSim, gz: &GenesysSim, limit: u32) -> Phase {
    sf.reset_counters();
    gz.reset_counters();
    let report = sync.cycle();
    Phase {
        report,
        salesforce: sf.counters(),
        genesys: gz.counters(),
        limit,
    }
}

fn api_calls(c: &Counters) -> u64 {
    c.total - c.auth
}

fn routes(c: &Counters) -> String {
    c.by_route
        .iter()
        .map(|(route, n)| format!("{route}={n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn megabytes(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

impl Phase {
    fn print(&self, title: &str, contacts: usize) {
        let r = &self.report;
        let s = &r.stats;
        let gz_calls = api_calls(&self.genesys);
        let allowed = r.wall_s * f64::from(self.limit) / 60.0;
        println!("\n{title}");
        println!(
            "  wall time: {:.1} s ({:.0} contacts/s); poll {:.1} s; CPU time of the sync process: {:.1} s",
            r.wall_s,
            contacts as f64 / r.wall_s,
            r.poll_s,
            r.cpu_s
        );
        println!(
            "  sync process memory: peak {:.0} MB (during the poll {:.0} MB); resident before {:.0} MB, after {:.0} MB",
            megabytes(r.peak_kb),
            megabytes(r.peak_poll_kb),
            megabytes(r.rss_before_kb),
            megabytes(r.rss_after_kb)
        );
        println!(
            "  genesys API requests: {gz_calls}; allowed in that time: {allowed:.0}; share of the rate limit: {:.1} %; 429 answers: {}",
            100.0 * gz_calls as f64 / allowed,
            self.genesys.rate_limited
        );
        println!(
            "  API calls: salesforce {} ({} reads, {} writes), genesys {gz_calls} ({} reads, {} writes); token requests {} / {}",
            api_calls(&self.salesforce),
            self.salesforce.reads,
            self.salesforce.writes,
            self.genesys.reads,
            self.genesys.writes,
            self.salesforce.auth,
            self.genesys.auth
        );
        println!(
            "  changes read: salesforce {}, genesys {}",
            s.changed.salesforce, s.changed.genesys
        );
        println!(
            "  pairs: {} enqueued; created sf/gz {}/{}; updated sf/gz {}/{}; unchanged {}; conflicts {}; review {}; failed {}",
            s.pairs_enqueued,
            s.created.salesforce,
            s.created.genesys,
            s.updated.salesforce,
            s.updated.genesys,
            s.unchanged,
            s.conflicts,
            s.review,
            s.failed
        );
        println!("  salesforce routes: {}", routes(&self.salesforce));
        println!("  genesys routes: {}", routes(&self.genesys));
    }
}

/// 500 Salesforce titles and 500 Genesys titles, of different pairs spread over the org.
fn edit_both_sides(sf: &SalesforceSim, gz: &GenesysSim, contacts: usize) -> (usize, usize) {
    let step = (contacts / EDITS).max(1);
    let sf_ids: Vec<String> = sf
        .all()
        .iter()
        .step_by(step)
        .take(EDITS)
        .filter_map(|c| c["Id"].as_str().map(str::to_string))
        .collect();
    let gz_by_link = genesys_ids_by_link(gz);
    let (mut on_sf, mut on_gz) = (0, 0);
    for (k, sf_id) in sf_ids.iter().enumerate() {
        if k % 2 == 0 {
            sf.edit(sf_id, json!({"Title": format!("Edited in Salesforce {k}")}));
            on_sf += 1;
        } else if let Some(gz_id) = gz_by_link.get(sf_id) {
            gz.edit(gz_id, json!({"title": format!("Edited in Genesys {k}")}));
            on_gz += 1;
        }
    }
    (on_sf, on_gz)
}

/// Genesys contact id by the Salesforce Id its `externalIds` carry.
fn genesys_ids_by_link(gz: &GenesysSim) -> HashMap<String, String> {
    gz.all()
        .iter()
        .filter_map(|c| {
            let link = c["externalIds"].as_array()?.first()?["value"].as_str()?;
            Some((link.to_string(), c["id"].as_str()?.to_string()))
        })
        .collect()
}

/// Canonical values of a record, in a comparable form.
fn values(record: &SideRecord) -> Vec<(String, String)> {
    let contact: &CanonicalContact = &record.fields;
    let mut values: Vec<(String, String)> = contact
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    values.sort();
    values
}

/// Every Salesforce contact against the Genesys contact linked to it, through the mapping.
fn compare_in_full(mapping: &Mapping, sf: &SalesforceSim, gz: &GenesysSim, contacts: usize) {
    let started = Instant::now();
    let source_id = gz
        .external_sources()
        .iter()
        .find(|s| s["name"] == mapping.link_source_name.as_str())
        .and_then(|s| s["id"].as_str().map(str::to_string))
        .expect("the link source exists");
    let stamp = chrono::DateTime::UNIX_EPOCH;
    let mut linked: HashMap<String, Vec<Vec<(String, String)>>> = HashMap::new();
    let mut unlinked = 0usize;
    let genesys = gz.all();
    let genesys_count = genesys.len();
    for contact in genesys {
        let id = contact["id"].as_str().unwrap_or_default().to_string();
        let record = mapping.genesys_record(&id, stamp, contact, Some(&source_id));
        match &record.link {
            Some(link) => linked
                .entry(link.clone())
                .or_default()
                .push(values(&record)),
            None => unlinked += 1,
        }
    }
    let (mut equal, mut missing, mut duplicated, mut differing) = (0usize, 0usize, 0usize, 0usize);
    let salesforce = sf.all();
    let salesforce_count = salesforce.len();
    for contact in &salesforce {
        let id = contact["Id"].as_str().unwrap_or_default();
        let record = mapping.salesforce_record(id, stamp, contact);
        match linked.get(id).map(Vec::as_slice) {
            None | Some([]) => missing += 1,
            Some([one]) if *one == values(&record) => equal += 1,
            Some([_]) => differing += 1,
            Some(_) => duplicated += 1,
        }
    }
    println!(
        "  full comparison ({:.1} s): {salesforce_count} Salesforce / {genesys_count} Genesys contacts; {equal} pairs equal, {missing} missing, {duplicated} duplicated, {differing} differing, {unlinked} Genesys contacts unlinked",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(salesforce_count, contacts, "no Salesforce contact lost");
    assert_eq!(
        genesys_count, contacts,
        "each contact exactly once in Genesys"
    );
    assert_eq!(equal, contacts, "every pair equal");
    assert_eq!(unlinked, 0, "no Genesys contact left unlinked");
}
