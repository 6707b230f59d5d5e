//! Helpers shared by the CLI's test files: running the `contact-sync` binary as a user would,
//! and dumping a store for before/after comparisons. Each test file uses a part of them.
#![allow(dead_code)]

use contact_sync_engine::Side;
use contact_sync_pipeline::store::SyncStore;
use std::path::Path;
use std::process::{Command, Output};

/// Everything a store holds about these records and this integration (pairs, watermarks of
/// changes and of the delete log, conflicts, runs, pending pairs), for before/after
/// comparisons.
pub async fn store_dump(
    store: &dyn SyncStore,
    integration: &str,
    sf_ids: &[String],
    gz_ids: &[String],
) -> String {
    let mut pair_ids: Vec<String> = store
        .links(Side::Salesforce, sf_ids)
        .await
        .expect("links")
        .into_values()
        .chain(
            store
                .links(Side::Genesys, gz_ids)
                .await
                .expect("links")
                .into_values(),
        )
        .collect();
    pair_ids.sort();
    pair_ids.dedup();
    format!(
        "{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}",
        store.pairs(&pair_ids).await.expect("pairs"),
        store
            .watermark(integration, Side::Salesforce)
            .await
            .expect("wm"),
        store
            .watermark(integration, Side::Genesys)
            .await
            .expect("wm"),
        store
            .watermark(&format!("{integration}#deletions"), Side::Salesforce)
            .await
            .expect("wm"),
        store
            .conflicts(integration, false)
            .await
            .expect("conflicts"),
        store.runs(integration, 100).await.expect("runs"),
        store.pending_pairs(1000).await.expect("pending"),
    )
}

/// Runs the binary with only the given variables, the state in `state`, logs at `warn`.
pub fn contact_sync(state: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_contact-sync"));
    cmd.args(args)
        .env_clear()
        .env("CONTACT_SYNC_STATE_DIR", state)
        .env("RUST_LOG", "warn");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run contact-sync")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
