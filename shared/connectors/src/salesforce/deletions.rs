//! The delete log: soft-deleted and merged-away Contacts through `queryAll`, and whether the
//! Recycle Bin still reaches back to the watermark through getDeleted's
//! `earliestDateAvailable` (API-NOTES A.1).

use super::query::Endpoint;
use super::wire::{parse_deleted, record_to_deletion};
use super::{Inner, SIDE, Target, config_error, soql};
use crate::http::{Replay, protocol};
use chrono::{DateTime, Duration, Utc};
use contact_sync_pipeline::system::{DeletionRead, SystemError, SystemResult, Watermark};

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
        let newest = deletions
            .last()
            .map(|d| Watermark::position(d.deleted_at, d.id.clone()));
        let merged = deletions.iter().filter(|d| d.merged_into.is_some()).count();
        // queryAll cannot tell whether rows were purged from the Recycle Bin; getDeleted can.
        let complete = match since {
            Some(mark) => self.log_reaches_back_to(mark.stamp).await?,
            None => true,
        };
        tracing::debug!(side = %SIDE, deleted = deletions.len(), merged, complete, "salesforce deletions read");
        Ok(DeletionRead {
            deletions,
            newest,
            complete,
        })
    }

    /// Whether the delete log still holds every delete since `since`: getDeleted's
    /// `earliestDateAvailable` is not later than it. A refused window (older than the log's
    /// retention) means it does not.
    async fn log_reaches_back_to(&self, since: DateTime<Utc>) -> SystemResult<bool> {
        // The API ignores seconds and needs end > start.
        let end = Utc::now().max(since + Duration::minutes(2));
        let (start, end) = (soql::datetime_literal(since), soql::datetime_literal(end));
        let resp = match self
            .call(
                "get deleted",
                reqwest::Method::GET,
                Target::Api("sobjects/Contact/deleted/"),
                Some(&[("start", start.as_str()), ("end", end.as_str())]),
                None,
                Replay::Safe,
            )
            .await
        {
            Ok(resp) => resp,
            Err(SystemError::Rejected { status: 400, .. }) => return Ok(false),
            Err(e) => return Err(e),
        };
        let (_, earliest) =
            parse_deleted(&resp.body).map_err(|e| protocol(SIDE, resp.status, "get deleted", e))?;
        Ok(earliest <= since)
    }
}
