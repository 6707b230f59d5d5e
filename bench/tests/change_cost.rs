//! The issue-7 API-call targets as a fast check (the figures themselves come from
//! `cargo bench -p contact-sync-bench --bench api_calls`).

use contact_sync_bench::change_cost::measure;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_changes_cost_at_most_forty_calls_and_25_times_fewer_than_the_seed_style() {
    // GIVEN a steady-state 2,000-contact org pair (its Genesys scan is 10 pages)
    // WHEN 500 Salesforce and 500 Genesys edits are carried over by one cycle, and by the
    // seed-style baseline on copies of the same orgs
    let cost = measure(2_000, 1_000).await;
    // THEN the pipeline spends at most 40 API calls on both systems, scan included
    assert_eq!((cost.salesforce_edits, cost.genesys_edits), (500, 500));
    assert!(
        cost.pipeline.total() <= 40,
        "pipeline calls: {:?}",
        cost.pipeline
    );
    // AND the baseline at least 25 times as many
    assert!(
        cost.baseline.total() >= 25 * cost.pipeline.total(),
        "baseline {:?} vs pipeline {:?}",
        cost.baseline,
        cost.pipeline
    );
}
