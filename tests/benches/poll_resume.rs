//! Resumable polls over both simulators (HTTP on loopback, no client-side rate limit, memory
//! store, in-process queue, default settings: at most 10,000 unlinked records a side per poll),
//! printing what they cost: the checkpoint's size, an invocation's resume (fetching the
//! candidates again), a Genesys scan page matched against 10,000 candidates, the polls an
//! initial sync takes, and a steady-state poll.
//!
//! `cargo bench -p contact-sync-e2e --bench poll_resume -- [people]` (default 20,000 people,
//! the same in both systems, unlinked: an initial sync).

use contact_sync_connectors::{GenesysConfig, SalesforceConfig};
use contact_sync_e2e::World;
use contact_sync_engine::mapping::Mapping;
use contact_sync_pipeline::Integration;
use contact_sync_pipeline::poll::{PollBudget, PollProgress, poll_resumable};
use contact_sync_pipeline::reconcile::reconcile;
use contact_sync_pipeline::store::SyncStore;
use contact_sync_simulators::{GenesysSimConfig, SalesforceSimConfig};
use serde_json::json;
use std::time::{Duration, Instant};

#[tokio::main]
async fn main() {
    let people: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(20_000);
    let w = World::build(
        Mapping::default_mapping(),
        SalesforceSimConfig::default(),
        GenesysSimConfig::default(),
        |_: &mut SalesforceConfig, gz: &mut GenesysConfig| gz.requests_per_minute = None,
    )
    .await;
    for n in 0..people {
        let email = format!("person{n}@example.com");
        w.sf.insert(json!({"FirstName": "Pat", "LastName": format!("P{n}"), "Email": email, "Phone": format!("+1415555{:04}", n % 10_000)}));
        w.gz.insert(json!({"firstName": "Pat", "lastName": format!("P{n}"), "workEmail": email}));
    }
    println!("{people} people in each system, unlinked (an initial sync); Genesys pages of 200");
    w.wait_past_stamps().await;
    let integration = &w.integration;

    // The first poll, invocation by invocation.
    let started = Instant::now();
    let mut invocations = 0;
    while phase(&w).await.as_deref() != Some("genesys") {
        invocations += 1;
        step(integration, PollBudget::steps(1)).await;
    }
    let salesforce_phase = started.elapsed();
    let (bytes, candidates, _) = checkpoint_size(&w).await;
    println!(
        "poll 1, Salesforce pages: {invocations} invocation(s) of one step, {} ms; checkpoint {bytes} bytes for {candidates} candidates ({} bytes each)",
        salesforce_phase.as_millis(),
        bytes / candidates.max(1)
    );
    let one = step(integration, PollBudget::steps(1)).await;
    let pages = people.div_ceil(200);
    let rest = step(integration, PollBudget::steps(pages - 1)).await;
    let (bytes, candidates, unlinked_genesys) = checkpoint_size(&w).await;
    println!(
        "poll 1, Genesys: a resumed invocation's first page (fetching {candidates} candidates again, building the matcher) {} ms; the next {} pages {} ms ({:.1} ms a page against {candidates} candidates)",
        one.as_millis(),
        pages - 1,
        rest.as_millis(),
        rest.as_secs_f64() * 1000.0 / (pages - 1) as f64
    );
    println!(
        "poll 1, before its finish: checkpoint {bytes} bytes ({candidates} candidates, {unlinked_genesys} unlinked Genesys changes with their matches)"
    );
    let finish = step(integration, PollBudget::unlimited()).await;
    let batches = w.queue.pending_batches();
    let (reconciled, written) = reconcile_all(&w, integration).await;
    println!(
        "poll 1, finish: {} ms, {batches} batches; reconciling them {} ms, {written} records written; linked Genesys contacts: {}",
        finish.as_millis(),
        reconciled.as_millis(),
        linked(&w)
    );

    // The next polls, one invocation each, until one leads to no write at all.
    for poll in 2..=6 {
        w.wait_past_stamps().await;
        let took = step(integration, PollBudget::unlimited()).await;
        let batches = w.queue.pending_batches();
        let (reconciled, written) = reconcile_all(&w, integration).await;
        println!(
            "poll {poll}: {} ms, {batches} batches; reconciling them {} ms, {written} records written; linked Genesys contacts: {}",
            took.as_millis(),
            reconciled.as_millis(),
            linked(&w)
        );
        if written == 0 {
            break;
        }
    }

    // Steady state: 100 edits a side.
    tokio::time::sleep(Duration::from_millis(20)).await;
    for contact in w.gz.all().iter().take(100) {
        if let Some(id) = contact["id"].as_str() {
            w.gz.edit(id, json!({"title": "Edited"}));
        }
    }
    for contact in w.sf.all().iter().rev().take(100) {
        if let Some(id) = contact["Id"].as_str() {
            w.sf.edit(id, json!({"Title": "Edited"}));
        }
    }
    w.wait_past_stamps().await;
    let took = step(integration, PollBudget::unlimited()).await;
    let batches = w.queue.pending_batches();
    let (_, written) = reconcile_all(&w, integration).await;
    println!(
        "steady state, 100 edits a side: one poll {} ms ({} Genesys pages), {batches} batch(es), {written} records written",
        took.as_millis(),
        people.div_ceil(200)
    );
}

/// One invocation within `budget`; its wall time.
async fn step(integration: &Integration, budget: PollBudget) -> Duration {
    let started = Instant::now();
    let run_id = format!("run-{}", uuid::Uuid::new_v4().simple());
    match poll_resumable(integration, &run_id, &budget).await {
        Ok(PollProgress::Finished(_) | PollProgress::Continued(_)) => started.elapsed(),
        Err(e) => panic!("poll failed: {e}"),
    }
}

/// Reconciles every batch waiting; the wall time and the records written (both systems).
async fn reconcile_all(w: &World, integration: &Integration) -> (Duration, u64) {
    let written = || w.sf.counters().records_written + w.gz.counters().records_written;
    let before = written();
    let started = Instant::now();
    while let Some(batch) = w.queue.next_batch() {
        reconcile(integration, &batch).await.expect("reconcile");
    }
    w.queue.drain_conflicts();
    (started.elapsed(), written() - before)
}

async fn phase(w: &World) -> Option<String> {
    let checkpoint = w
        .store
        .load_poll_checkpoint(&w.integration.name)
        .await
        .expect("checkpoint")?;
    checkpoint.state["phase"].as_str().map(str::to_string)
}

/// The stored checkpoint's state in bytes, its candidates and unlinked Genesys changes.
async fn checkpoint_size(w: &World) -> (usize, usize, usize) {
    let Some(checkpoint) = w
        .store
        .load_poll_checkpoint(&w.integration.name)
        .await
        .expect("checkpoint")
    else {
        return (0, 0, 0);
    };
    let count = |field: &str| checkpoint.state[field].as_object().map_or(0, |m| m.len());
    (
        checkpoint.state_json().expect("json").len(),
        count("candidates"),
        count("unlinked_genesys"),
    )
}

/// Genesys contacts carrying a link to Salesforce.
fn linked(w: &World) -> usize {
    w.gz.all()
        .iter()
        .filter(|c| {
            c["externalIds"]
                .as_array()
                .is_some_and(|ids| !ids.is_empty())
        })
        .count()
}
