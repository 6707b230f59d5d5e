//! Full initial sync against both simulators: N contacts in Salesforce, none in Genesys, one
//! `sync --once` cycle (poll, reconcile every batch, notify) in one process through both real
//! connectors. Genesys enforces its per-token rate limit scaled by a factor, and the client's
//! token bucket is set to the same scaled limit.
//!
//! Prints the wall time, the achieved share of the Genesys rate limit, 429 answers, and API
//! calls per 1,000 contacts for each side. A harness, not a test: it asserts only that the sync
//! converged (every contact created once), so its figures describe a correct run.
//!
//! `cargo bench -p contact-sync-connectors --bench full_sync -- [contacts] [scale]`
//! (defaults: 100000 contacts, scale 10 = 3,000 requests/min).

use contact_sync_connectors::{GenesysConfig, GenesysSystem, SalesforceConfig, SalesforceSystem};
use contact_sync_engine::mapping::Mapping;
use contact_sync_pipeline::cycle::run_cycle;
use contact_sync_pipeline::notify::LogAlerter;
use contact_sync_pipeline::queue::InProcessQueue;
use contact_sync_pipeline::store::memory::MemoryStore;
use contact_sync_pipeline::{Integration, Settings, SystemClock};
use contact_sync_simulators::{
    Counters, GenesysSim, GenesysSimConfig, SalesforceSim, SalesforceSimConfig,
};
use serde_json::json;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Instant;

/// The platform's `client.credentials.token.rate.per.minute`.
const GENESYS_LIMIT_PER_MINUTE: u32 = 300;

fn api_calls(c: &Counters) -> u64 {
    c.total - c.auth
}

fn per_thousand(calls: u64, contacts: usize) -> f64 {
    calls as f64 * 1_000.0 / contacts as f64
}

fn routes(c: &Counters) -> String {
    c.by_route
        .iter()
        .map(|(route, n)| format!("{route}={n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let contacts: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let scale: u32 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(10);
    let limit = GENESYS_LIMIT_PER_MINUTE * scale;

    let sf = SalesforceSim::start(SalesforceSimConfig::default())
        .await
        .expect("salesforce simulator");
    let gz = GenesysSim::start(GenesysSimConfig {
        rate_limit_per_minute: Some(limit),
        ..GenesysSimConfig::default()
    })
    .await
    .expect("genesys simulator");
    let seeding = Instant::now();
    for i in 0..contacts {
        sf.insert(json!({
            "FirstName": format!("First{i}"),
            "LastName": format!("Last{i}"),
            "Email": format!("person{i}@example.com"),
            "Phone": format!("+1415{:07}", i % 10_000_000),
            "Title": "Customer",
        }));
    }
    eprintln!(
        "seeded {contacts} Salesforce contacts in {:.1} s",
        seeding.elapsed().as_secs_f64()
    );

    let mapping = Mapping::default_mapping();
    let mut sf_cfg = SalesforceConfig::new(sf.url(), sf.client_id(), sf.client_secret());
    sf_cfg.fields = mapping.salesforce_fields();
    let mut gz_cfg = GenesysConfig::new(gz.url(), gz.client_id(), gz.client_secret());
    gz_cfg.requests_per_minute = NonZeroU32::new(limit);
    let queue = Arc::new(InProcessQueue::new());
    let integration = Integration::new(
        mapping,
        Arc::new(SalesforceSystem::new(sf_cfg).expect("salesforce config")),
        Arc::new(GenesysSystem::new(gz_cfg).expect("genesys config")),
        Arc::new(MemoryStore::new()),
        queue.clone(),
        Arc::new(SystemClock),
        Settings::default(),
    );

    let started = Instant::now();
    let outcome = run_cycle(&integration, &queue, &LogAlerter, |_, _| {})
        .await
        .expect("sync cycle");
    let elapsed = started.elapsed().as_secs_f64();

    let (sfc, gzc) = (sf.counters(), gz.counters());
    let created = outcome.stats.created.genesys;
    let in_genesys = gz.all().len();
    assert_eq!(created as usize, contacts, "every contact created");
    assert_eq!(in_genesys, contacts, "each contact exactly once");
    assert_eq!(outcome.stats.failed, 0, "no failed pair");

    let gz_calls = api_calls(&gzc);
    let allowed = elapsed * f64::from(limit) / 60.0;
    println!("full initial sync: {contacts} contacts, Salesforce -> Genesys");
    println!(
        "genesys limit: {GENESYS_LIMIT_PER_MINUTE}/min x {scale} = {limit}/min (simulator and client)"
    );
    println!(
        "wall time: {elapsed:.1} s ({:.0} contacts/s)",
        contacts as f64 / elapsed
    );
    println!(
        "genesys API requests: {gz_calls}; allowed in that time: {allowed:.0}; share of the rate limit: {:.1} %",
        100.0 * gz_calls as f64 / allowed
    );
    println!("genesys 429 answers: {}", gzc.rate_limited);
    println!(
        "API calls per 1,000 contacts: salesforce {:.2}, genesys {:.2} (token requests: {} / {})",
        per_thousand(api_calls(&sfc), contacts),
        per_thousand(gz_calls, contacts),
        sfc.auth,
        gzc.auth
    );
    println!("salesforce routes: {}", routes(&sfc));
    println!("genesys routes: {}", routes(&gzc));
}
