//! Benchmark harnesses of contact-sync (BENCHMARKS.md says what each measured and how):
//!
//! - [`change_cost`]: API calls of a steady-state bidirectional cycle per system, against the
//!   [`seed_style`] baseline that reads and writes one record per call
//!   (`cargo bench -p contact-sync-bench --bench api_calls`).
//! - [`bulk_script`]: the simplest program that does an initial sync (bulk reads and writes,
//!   state in one JSON file), the baseline of the CLI's wall time (`--bench cli_sync`).
//! - [`capacity`]: DynamoDB read and write units counted from the requests the store sends
//!   (`--bench dynamodb_cost`, on moto).
//! - [`lambda_runtime_api`] and [`process`]: the real `reconciler` binary run under a local
//!   Lambda Runtime API, with its init time and peak memory (`--bench reconciler_cost`).
//!
//! The full sync at 600,000 contacts is `cargo bench -p contact-sync-connectors --bench
//! full_sync`.

pub mod aws_world;
pub mod bulk_script;
pub mod capacity;
pub mod change_cost;
pub mod edits;
pub mod lambda_runtime_api;
pub mod process;
pub mod seed_style;

/// The numbers among this harness's arguments, in order (`cargo bench` adds `--bench`).
pub fn numeric_arguments() -> Vec<usize> {
    std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect()
}
