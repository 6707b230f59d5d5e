//! API calls spent on a steady-state bidirectional cycle with a known number of edits, by the
//! pipeline and by the [seed-style baseline](crate::seed_style), on copies of the same orgs
//! with the same edits.

use crate::edits::EditPlan;
use crate::seed_style::{Endpoints, SeedStyleSync};
use chrono::{DateTime, Utc};
use contact_sync_e2e::World;
use contact_sync_simulators::{
    Counters, GenesysSim, GenesysSimConfig, SalesforceSim, SalesforceSimConfig,
};
use serde_json::Value;

/// API calls (token requests left out) one system received in one run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Calls {
    pub reads: u64,
    pub writes: u64,
    /// Genesys scan pages (part of `reads`): change detection, which grows with the org.
    pub scan_pages: u64,
}

impl Calls {
    fn of(counters: &Counters) -> Calls {
        Calls {
            reads: counters.reads,
            writes: counters.writes,
            scan_pages: counters
                .by_route
                .get("GET /scan/contacts")
                .copied()
                .unwrap_or(0),
        }
    }

    pub fn total(&self) -> u64 {
        self.reads + self.writes
    }
}

/// Both systems' calls in one run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunCalls {
    pub salesforce: Calls,
    pub genesys: Calls,
}

impl RunCalls {
    fn of(sf: &SalesforceSim, gz: &GenesysSim) -> RunCalls {
        RunCalls {
            salesforce: Calls::of(&sf.counters()),
            genesys: Calls::of(&gz.counters()),
        }
    }

    pub fn total(&self) -> u64 {
        self.salesforce.total() + self.genesys.total()
    }

    /// Calls that grow with the number of changes: everything but the Genesys scan.
    pub fn without_scan(&self) -> u64 {
        self.total() - self.genesys.scan_pages
    }
}

/// What [`measure`] found.
#[derive(Debug, Clone)]
pub struct ChangeCost {
    pub contacts: usize,
    pub salesforce_edits: usize,
    pub genesys_edits: usize,
    /// The cycle that carries the edits over.
    pub pipeline: RunCalls,
    /// The next cycle: each record the first one wrote comes back once as a change.
    pub pipeline_echo: RunCalls,
    pub baseline: RunCalls,
    pub baseline_echo: RunCalls,
}

/// Syncs `contacts` Salesforce contacts to an empty Genesys org and settles (the steady state);
/// copies both orgs for the baseline; makes the same `edits` on both copies (half Salesforce
/// titles, half Genesys titles, of different pairs spread over the org); then counts the calls
/// of one pipeline cycle and one baseline run, and of the run after each. Panics when an edit
/// did not reach the other side.
pub async fn measure(contacts: usize, edits: usize) -> ChangeCost {
    // Before each cycle real time passes the simulators' stamps (see `wait_past_stamps`), as
    // it would on real systems, so no cycle reads a burst of its predecessor's writes twice.
    let world = World::new().await;
    world.sf.insert_numbered(contacts);
    world.wait_past_stamps().await;
    world.sync().await;
    world.wait_past_stamps().await;
    let settle = world.sync().await;
    assert_eq!(settle.stats.failed, 0, "steady state reached");

    let (sf_copy, gz_copy) = copies(&world.sf, &world.gz).await;
    let sf_watermark = newest(&world.sf.all(), "SystemModstamp");
    let gz_watermark = newest(&world.gz.all(), "modifyDate");
    let plan = EditPlan::spread(&world.sf, &world.gz, edits);
    plan.apply(&world.sf, &world.gz);
    plan.apply(&sf_copy, &gz_copy);

    world.wait_past_stamps().await;
    world.reset_counters();
    let outcome = world.sync().await;
    assert_eq!(outcome.stats.failed, 0, "no failed pair");
    let pipeline = RunCalls::of(&world.sf, &world.gz);
    plan.assert_landed(&world.sf, &world.gz, "pipeline");
    world.wait_past_stamps().await;
    world.reset_counters();
    world.sync().await;
    let pipeline_echo = RunCalls::of(&world.sf, &world.gz);

    let endpoints = Endpoints {
        salesforce_url: sf_copy.url(),
        salesforce_client: (
            sf_copy.client_id().to_string(),
            sf_copy.client_secret().to_string(),
        ),
        genesys_url: gz_copy.url(),
        genesys_client: (
            gz_copy.client_id().to_string(),
            gz_copy.client_secret().to_string(),
        ),
    };
    let mut baseline_sync = SeedStyleSync::new(endpoints, sf_watermark, gz_watermark);
    sf_copy.reset_counters();
    gz_copy.reset_counters();
    baseline_sync.run().await.expect("baseline run");
    let baseline = RunCalls::of(&sf_copy, &gz_copy);
    plan.assert_landed(&sf_copy, &gz_copy, "baseline");
    sf_copy.reset_counters();
    gz_copy.reset_counters();
    baseline_sync.run().await.expect("baseline run");
    let baseline_echo = RunCalls::of(&sf_copy, &gz_copy);

    ChangeCost {
        contacts,
        salesforce_edits: plan.on_salesforce.len(),
        genesys_edits: plan.on_genesys.len(),
        pipeline,
        pipeline_echo,
        baseline,
        baseline_echo,
    }
}

/// Both orgs copied into new simulators, their clocks set ahead of every stamp they hold.
async fn copies(sf: &SalesforceSim, gz: &GenesysSim) -> (SalesforceSim, GenesysSim) {
    let sf_copy = SalesforceSim::start(SalesforceSimConfig::default())
        .await
        .expect("salesforce simulator");
    sf_copy.restore(&sf.snapshot()).expect("salesforce copy");
    let gz_copy = GenesysSim::start(GenesysSimConfig::default())
        .await
        .expect("genesys simulator");
    gz_copy.restore(&gz.snapshot()).expect("genesys copy");
    // A simulator stamps fast inserts 1 ms apart, which can run ahead of the real clock; a
    // copy starts from the real clock, so it is moved past the newest stamp it inherited.
    let ahead = |newest: DateTime<Utc>| {
        (newest - Utc::now() + chrono::Duration::seconds(1)).max(chrono::Duration::zero())
    };
    sf_copy.set_clock_offset(ahead(newest(&sf.all(), "SystemModstamp")));
    gz_copy.set_clock_offset(ahead(newest(&gz.all(), "modifyDate")));
    (sf_copy, gz_copy)
}

fn newest(records: &[Value], key: &str) -> DateTime<Utc> {
    records
        .iter()
        .filter_map(|r| contact_sync_e2e::record_stamp(r, key))
        .max()
        .unwrap_or(DateTime::UNIX_EPOCH)
}
