//! Helpers shared by the CLI's test files.

use contact_sync_engine::Side;
use contact_sync_pipeline::store::SyncStore;

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
