//! The delete log: soft-deleted and merged-away Contacts through `queryAll` (API-NOTES A.1).

use super::query::Endpoint;
use super::wire::record_to_deletion;
use super::{Inner, SIDE, config_error, soql};
use crate::http::protocol;
use contact_sync_pipeline::system::{DeletionRead, SystemResult, Watermark};

impl Inner {
    /// Every deleted row after `since`, ordered by `(SystemModstamp, Id)`, all pages.
    pub(crate) async fn read_deletions(
        &self,
        since: Option<&Watermark>,
    ) -> SystemResult<DeletionRead> {
        let soql = soql::deletions_query(since)
            .ok_or_else(|| config_error("deletions watermark id is not a Salesforce id"))?;
        let mut deletions = Vec::new();
        self.query_pages(Endpoint::QueryAll, &soql, |page| {
            for record in &page.records {
                deletions.push(
                    record_to_deletion(record)
                        .map_err(|e| protocol(SIDE, 200, "query all deleted", e))?,
                );
            }
            Ok(())
        })
        .await?;
        let newest = deletions.last().map(|d| Watermark {
            stamp: d.deleted_at,
            last_id: d.id.clone(),
        });
        let merged = deletions.iter().filter(|d| d.merged_into.is_some()).count();
        tracing::debug!(side = %SIDE, deleted = deletions.len(), merged, "salesforce deletions read");
        Ok(DeletionRead {
            deletions,
            newest,
            // queryAll alone cannot tell whether rows were purged from the Recycle Bin.
            complete: true,
        })
    }
}
