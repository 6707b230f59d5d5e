//! DynamoDB read and write units per reconciled pair, counted from the requests the real
//! `DynamoDbStore` sends to moto (see `contact_sync_bench::capacity` for the formulas), over a
//! sequence of `sync --once` cycles on both simulators:
//!
//! 1. initial sync: every pair new;
//! 2. the next cycle: every pair comes back once (Genesys records created by cycle 1) and
//!    nothing changed: the no-change case;
//! 3. edits on both sides (half Salesforce titles, half Genesys titles);
//! 4. the next cycle: the records written by 3 come back once, nothing changed;
//! 5. a quiet cycle: nothing changed and nothing comes back.
//!
//! Each cycle is split at the end of its poll: the poll's units, then the reconciles' and the
//! run record's. Needs moto: `eval "$(infra/moto start)"`.
//!
//! `cargo bench -p contact-sync-bench --bench dynamodb_cost -- [contacts] [edits]`
//! (defaults: 1000 contacts, 500 edits; BENCHMARKS.md uses 200 and 100: moto keeps a copy of
//! the table per transaction).

use contact_sync_bench::aws_world::AwsWorld;
use contact_sync_bench::capacity::Consumption;
use contact_sync_bench::edits::EditPlan;
use contact_sync_pipeline::cycle::{CycleOptions, Progress, run_cycle_with};
use contact_sync_pipeline::notify::LogAlerter;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args = contact_sync_bench::numeric_arguments();
    let contacts = args.first().copied().unwrap_or(1_000);
    let edits = args.get(1).copied().unwrap_or(500);
    let Some(world) = AwsWorld::new("dynamodb_cost", 200).await else {
        return;
    };
    world.sf.insert_numbered(contacts);
    println!(
        "DynamoDB units counted from the requests to moto; {contacts} contacts, batches of 200"
    );
    cycle(&world, &format!("1. initial sync: {contacts} new pairs")).await;
    cycle(
        &world,
        "2. next cycle: every pair comes back once, nothing changed",
    )
    .await;
    let plan = EditPlan::spread(&world.sf, &world.gz, edits);
    plan.apply(&world.sf, &world.gz);
    cycle(
        &world,
        &format!(
            "3. {} Salesforce + {} Genesys edits",
            plan.on_salesforce.len(),
            plan.on_genesys.len()
        ),
    )
    .await;
    plan.assert_landed(&world.sf, &world.gz, "pipeline");
    cycle(
        &world,
        "4. next cycle: the records written by 3 come back once, nothing changed",
    )
    .await;
    cycle(&world, "5. quiet cycle: nothing changed").await;
}

async fn cycle(world: &AwsWorld, title: &str) {
    let before = world.meter.consumption();
    let mut at_poll_end: Option<Consumption> = None;
    let outcome = run_cycle_with(
        &world.integration,
        &world.queue,
        &LogAlerter,
        &CycleOptions::default(),
        |progress| {
            if let Progress::Polled { .. } = progress {
                at_poll_end = Some(world.meter.consumption());
            }
        },
    )
    .await
    .expect("sync cycle");
    let after = world.meter.consumption();
    let at_poll_end = at_poll_end.unwrap_or_else(|| after.clone());
    let poll = at_poll_end.since(&before);
    let rest = after.since(&at_poll_end);
    let pairs = outcome.stats.pairs_enqueued;
    let s = &outcome.stats;
    println!("\n{title}");
    println!(
        "  records changed (poll) sf/gz {}/{}; pairs reconciled: {pairs} (created sf/gz {}/{}, updated sf/gz {}/{}, unchanged {}, failed {})",
        s.changed.salesforce,
        s.changed.genesys,
        s.created.salesforce,
        s.created.genesys,
        s.updated.salesforce,
        s.updated.genesys,
        s.unchanged,
        s.failed
    );
    print_part("poll", &poll, pairs);
    print_part("reconcile + run record", &rest, pairs);
    if poll.eventually_consistent_gets + rest.eventually_consistent_gets > 0 {
        println!("  (some table reads were eventually consistent; charged as strong)");
    }
}

fn print_part(name: &str, part: &Consumption, pairs: u64) {
    let per_pair = |units: f64| {
        if pairs == 0 {
            "-".to_string()
        } else {
            format!("{:.2}", units / pairs as f64)
        }
    };
    println!(
        "  {name}: {} requests, {:.1} RCU, {:.1} WCU; per pair {} RCU, {} WCU",
        part.requests(),
        part.read_units(),
        part.write_units(),
        per_pair(part.read_units()),
        per_pair(part.write_units())
    );
    for (operation, (requests, read, write)) in &part.operations {
        println!("    {operation}: {requests} requests, {read:.1} RCU, {write:.1} WCU");
    }
    if part.missing_keys > 0 {
        println!(
            "    (BatchGetItem keys not found: {}, 1 RCU each)",
            part.missing_keys
        );
    }
}
