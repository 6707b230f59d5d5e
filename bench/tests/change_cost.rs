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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_changes_cost_at_most_15_calls_beyond_the_scan_and_their_echo_none() {
    // GIVEN a steady-state 2,000-contact org pair (its Genesys scan is 10 pages)
    // WHEN 500 Salesforce and 500 Genesys edits are carried over by one cycle, then the next
    // cycle runs
    let cost = measure(2_000, 1_000).await;
    // THEN the cycle with the edits spends at most 15 calls beyond the scan (issue 15): the
    // Genesys records come from the scan and the Salesforce changes from the poll, so only the
    // Salesforce twins of Genesys edits are looked up
    assert!(
        cost.pipeline.without_scan() <= 15,
        "pipeline calls: {:?}",
        cost.pipeline
    );
    assert_eq!(
        cost.pipeline.genesys.reads, cost.pipeline.genesys.scan_pages,
        "no Genesys record fetched by id"
    );
    // AND the next cycle reads none of the records the first one wrote: the Salesforce change
    // query and delete log, and the Genesys scan, nothing else
    assert_eq!(cost.pipeline_echo.salesforce.reads, 2);
    assert_eq!(
        cost.pipeline_echo.genesys.reads,
        cost.pipeline_echo.genesys.scan_pages
    );
    assert_eq!(cost.pipeline_echo.without_scan(), 2);
}
