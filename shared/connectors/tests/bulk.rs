//! Full reads through Bulk API 2.0 against the simulator's query jobs.

use contact_sync_connectors::{SalesforceConfig, SalesforceSystem};
use contact_sync_pipeline::system::{ContactReader, RawRecord};
use contact_sync_simulators::{SalesforceSim, SalesforceSimConfig};
use serde_json::json;
use std::collections::HashSet;
use std::time::Duration;

async fn sim(contacts: usize) -> SalesforceSim {
    let sim = SalesforceSim::start(SalesforceSimConfig {
        bulk_polls_until_complete: 2,
        bulk_results_page_size: 1_000,
        ..SalesforceSimConfig::default()
    })
    .await
    .expect("sim");
    for i in 0..contacts {
        let email = (i % 10 != 0).then(|| format!("p{i}@example.com"));
        sim.insert(json!({"FirstName": format!("F{i}"), "LastName": format!("O'Hara, \"{i}\""), "Email": email}));
    }
    sim
}

fn system(sim: &SalesforceSim, threshold: Option<u64>) -> SalesforceSystem {
    let mut cfg = SalesforceConfig::new(sim.url(), sim.client_id(), sim.client_secret());
    cfg.fields = vec!["FirstName".into(), "LastName".into(), "Email".into()];
    cfg.timeout = Duration::from_secs(10);
    cfg.bulk_threshold = threshold;
    SalesforceSystem::new(cfg).expect("config")
}

async fn read_all(sys: &SalesforceSystem) -> Vec<RawRecord> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = sys.read_changes(None, cursor).await.expect("page");
        out.extend(page.records);
        match page.next {
            Some(next) => cursor = Some(next),
            None => return out,
        }
    }
}

fn route(sim: &SalesforceSim, key: &str) -> u64 {
    sim.counters().by_route.get(key).copied().unwrap_or(0)
}

#[tokio::test]
async fn a_full_read_above_the_threshold_goes_through_one_bulk_job() {
    // GIVEN 2,500 contacts (quotes and commas in names, some without email), results pages of
    // 1,000, a job that reports InProgress twice, and a threshold of 2,000
    let sim = sim(2_500).await;
    let bulk = system(&sim, Some(2_000));
    let rest = system(&sim, None);
    // WHEN everything is read through Bulk, then through REST
    let by_bulk = read_all(&bulk).await;
    let bulk_counters = sim.counters();
    let by_rest = read_all(&rest).await;
    // THEN Bulk returns every record once, with the same bodies as REST (nulls included)
    assert_eq!(by_bulk.len(), 2_500);
    let ids: HashSet<&str> = by_bulk.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids.len(), 2_500);
    let mut bulk_sorted: Vec<&RawRecord> = by_bulk.iter().collect();
    bulk_sorted.sort_by(|a, b| a.id.cmp(&b.id));
    let mut rest_sorted: Vec<&RawRecord> = by_rest.iter().collect();
    rest_sorted.sort_by(|a, b| a.id.cmp(&b.id));
    for (b, r) in bulk_sorted.iter().zip(&rest_sorted) {
        assert_eq!(b.id, r.id);
        assert_eq!(b.modified_at, r.modified_at);
        for field in ["FirstName", "LastName", "Email"] {
            assert_eq!(b.body[field], r.body[field], "{field} of {}", b.id);
        }
    }
    // AND it cost the first REST page (which told the size), one job, three status polls and
    // three results pages
    let calls = |key: &str| bulk_counters.by_route.get(key).copied().unwrap_or(0);
    assert_eq!(calls("GET /query"), 1);
    assert_eq!(calls("GET /query/{locator}"), 0);
    assert_eq!(calls("POST /jobs/query"), 1);
    assert_eq!(calls("GET /jobs/query/{id}"), 3);
    assert_eq!(calls("GET /jobs/query/{id}/results"), 3);
}

#[tokio::test]
async fn a_full_read_at_or_below_the_threshold_stays_on_rest() {
    // GIVEN 2,000 contacts and a threshold of 2,000
    let sim = sim(2_000).await;
    let sys = system(&sim, Some(2_000));
    // WHEN everything is read
    let records = read_all(&sys).await;
    // THEN no job was created and no call was added: one REST page
    assert_eq!(records.len(), 2_000);
    assert_eq!(route(&sim, "POST /jobs/query"), 0);
    assert_eq!(route(&sim, "GET /query"), 1);
}

#[tokio::test]
async fn a_large_change_set_goes_through_bulk_and_a_small_one_stays_on_rest() {
    // GIVEN 2,500 contacts, a threshold of 2,000, and a watermark after the first 1,000
    let sim = sim(2_500).await;
    let sys = system(&sim, Some(2_000));
    let rest = system(&sim, None);
    let all = read_all(&rest).await;
    let mut ordered: Vec<&RawRecord> = all.iter().collect();
    ordered.sort_by(|a, b| (a.modified_at, &a.id).cmp(&(b.modified_at, &b.id)));
    let mark = |r: &RawRecord| {
        contact_sync_pipeline::system::Watermark::position(r.modified_at, r.id.clone())
    };
    let early = mark(ordered[0]);
    let late = mark(ordered[999]);
    sim.reset_counters();
    // WHEN the changes after the first record (2,499) are read
    let large = read_since(&sys, &early).await;
    let large_jobs = route(&sim, "POST /jobs/query");
    // AND the changes after the 1,000th (1,500)
    let small = read_since(&sys, &late).await;
    // THEN the large set came from one job and holds exactly the records after the watermark
    assert_eq!(large_jobs, 1);
    assert_eq!(large.len(), 2_499);
    assert!(large.iter().all(|r| early.is_before(r.modified_at, &r.id)));
    // AND the small one from REST without a job
    assert_eq!(small.len(), 1_500);
    assert_eq!(route(&sim, "POST /jobs/query"), 1);
}

async fn read_since(
    sys: &SalesforceSystem,
    since: &contact_sync_pipeline::system::Watermark,
) -> Vec<RawRecord> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = sys.read_changes(Some(since), cursor).await.expect("page");
        out.extend(page.records);
        match page.next {
            Some(next) => cursor = Some(next),
            None => return out,
        }
    }
}
