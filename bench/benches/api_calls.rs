//! API calls per 1,000 changed contacts: one steady-state bidirectional cycle carrying 1,000
//! edits (500 in each system, of different pairs) over both simulators, by the pipeline and by
//! the seed-style baseline (one record per call) on copies of the same orgs with the same edits;
//! then the cycle after each (the records just written come back once as changes).
//!
//! `cargo bench -p contact-sync-bench --bench api_calls -- [contacts] [edits]`
//! (defaults: 10000 contacts, 1000 edits).

use contact_sync_bench::change_cost::{RunCalls, measure};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args = contact_sync_bench::numeric_arguments();
    let contacts = args.first().copied().unwrap_or(10_000);
    let edits = args.get(1).copied().unwrap_or(1_000);
    let cost = measure(contacts, edits).await;
    println!(
        "org: {} contacts; edits: {} in Salesforce, {} in Genesys (different pairs)",
        cost.contacts, cost.salesforce_edits, cost.genesys_edits
    );
    println!("API calls (token requests left out), per system: reads / writes");
    let row = |name: &str, run: &RunCalls| {
        println!(
            "  {name:<34} salesforce {:>5} / {:<5} genesys {:>5} / {:<5} (scan pages {:>4})  total {:>5}; without the scan {:>5}",
            run.salesforce.reads,
            run.salesforce.writes,
            run.genesys.reads,
            run.genesys.writes,
            run.genesys.scan_pages,
            run.total(),
            run.without_scan()
        );
    };
    row("pipeline, the cycle with the edits", &cost.pipeline);
    row("seed-style baseline, same edits", &cost.baseline);
    row("pipeline, the next cycle (echo)", &cost.pipeline_echo);
    row("seed-style baseline, next run", &cost.baseline_echo);
    let ratio = |a: u64, b: u64| a as f64 / b.max(1) as f64;
    println!(
        "baseline / pipeline: {:.1}x in total, {:.1}x without the scan; over both runs: {:.1}x, {:.1}x",
        ratio(cost.baseline.total(), cost.pipeline.total()),
        ratio(cost.baseline.without_scan(), cost.pipeline.without_scan()),
        ratio(
            cost.baseline.total() + cost.baseline_echo.total(),
            cost.pipeline.total() + cost.pipeline_echo.total()
        ),
        ratio(
            cost.baseline.without_scan() + cost.baseline_echo.without_scan(),
            cost.pipeline.without_scan() + cost.pipeline_echo.without_scan()
        ),
    );
}
