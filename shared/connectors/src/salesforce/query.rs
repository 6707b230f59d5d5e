//! SOQL reads: the change feed, lookups by id and by email (API-NOTES A.1).

use super::wire::{QueryPage, parse_query_page, record_to_raw};
use super::{Inner, SIDE, Target, bulk, config_error, soql};
use crate::http::{Replay, protocol};
use contact_sync_pipeline::system::{ChangePage, RawRecord, SystemResult, Watermark};
use std::collections::HashSet;

/// Ids per `WHERE Id IN (...)` query: 200 × 21 characters keeps the URL short.
pub(crate) const IDS_PER_QUERY: usize = 200;
/// Emails per `WHERE Email IN (...)` query.
pub(crate) const EMAILS_PER_QUERY: usize = 100;
/// Upper bound on the characters of one IN list (keeps URLs well under the 414 limit).
const MAX_IN_LIST_CHARS: usize = 8_000;

/// `query` leaves deleted rows out; `queryAll` includes them (API-NOTES A.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    Query,
    QueryAll,
}

impl Inner {
    pub(crate) async fn query_page(
        &self,
        endpoint: Endpoint,
        soql: Option<&str>,
        cursor: Option<&str>,
    ) -> SystemResult<QueryPage> {
        let resp = match (soql, cursor) {
            (_, Some(next)) => {
                if !next.starts_with("/services/data/") || next.contains("://") {
                    return Err(config_error("query cursor is not a nextRecordsUrl path"));
                }
                self.call(
                    "query more",
                    reqwest::Method::GET,
                    Target::Absolute(next),
                    None,
                    None,
                    Replay::Safe,
                )
                .await?
            }
            (Some(q), None) => {
                let (what, path) = match endpoint {
                    Endpoint::Query => ("query", "query"),
                    Endpoint::QueryAll => ("query all", "queryAll"),
                };
                self.call(
                    what,
                    reqwest::Method::GET,
                    Target::Api(path),
                    Some(&[("q", q)]),
                    None,
                    Replay::Safe,
                )
                .await?
            }
            (None, None) => return Err(config_error("query without SOQL or cursor")),
        };
        parse_query_page(&resp.body).map_err(|e| protocol(SIDE, resp.status, "query", e))
    }

    fn page_records(&self, page: &mut QueryPage, status: u16) -> SystemResult<Vec<RawRecord>> {
        std::mem::take(&mut page.records)
            .into_iter()
            .map(|r| record_to_raw(r).map_err(|e| protocol(SIDE, status, "query record", e)))
            .collect()
    }

    /// Every record of a query, following `nextRecordsUrl`.
    async fn query_all(&self, soql: &str) -> SystemResult<Vec<RawRecord>> {
        let mut out = Vec::new();
        self.query_pages(Endpoint::Query, soql, |page| {
            out.extend(self.page_records(page, 200)?);
            Ok(())
        })
        .await?;
        Ok(out)
    }

    /// Runs a query and hands every page to `each`, following `nextRecordsUrl`.
    pub(crate) async fn query_pages(
        &self,
        endpoint: Endpoint,
        soql: &str,
        mut each: impl FnMut(&mut QueryPage) -> SystemResult<()>,
    ) -> SystemResult<()> {
        let mut page = self.query_page(endpoint, Some(soql), None).await?;
        loop {
            each(&mut page)?;
            match (page.done, page.next_records_url.take()) {
                (false, Some(next)) => page = self.query_page(endpoint, None, Some(&next)).await?,
                (false, None) => {
                    return Err(protocol(
                        SIDE,
                        200,
                        "query",
                        "done=false without nextRecordsUrl",
                    ));
                }
                (true, _) => return Ok(()),
            }
        }
    }

    pub(crate) async fn read_changes(
        &self,
        since: Option<&Watermark>,
        cursor: Option<String>,
    ) -> SystemResult<ChangePage> {
        if let Some(c) = cursor.as_deref().filter(|c| bulk::is_bulk_cursor(c)) {
            return self.bulk_cursor_page(c).await;
        }
        let cursor_was = cursor.clone();
        let mut page = match cursor {
            Some(next) => self.query_page(Endpoint::Query, None, Some(&next)).await?,
            None => {
                let soql = soql::changes_query(&self.fields, since)
                    .ok_or_else(|| config_error("watermark id is not a Salesforce id"))?;
                self.query_page(Endpoint::Query, Some(&soql), None).await?
            }
        };
        // A read learns its size from its first page (`totalSize`); above the threshold that
        // page is dropped and one Bulk API 2.0 job reads the same records instead.
        if let (None, Some(threshold)) = (&cursor_was, self.bulk_threshold)
            && !page.done
            && page.total_size > threshold
        {
            tracing::debug!(side = %SIDE, total = page.total_size, threshold, full = since.is_none(), "read through Bulk API 2.0");
            return self.start_bulk_read(since).await;
        }
        let records = self.page_records(&mut page, 200)?;
        let next = match (page.done, page.next_records_url.take()) {
            (false, Some(next)) => Some(next),
            (false, None) => {
                return Err(protocol(
                    SIDE,
                    200,
                    "query",
                    "done=false without nextRecordsUrl",
                ));
            }
            (true, _) => None,
        };
        tracing::debug!(side = %SIDE, records = records.len(), total = page.total_size, more = next.is_some(), "salesforce change page");
        Ok(ChangePage { records, next })
    }

    pub(crate) async fn fetch(&self, ids: &[String]) -> SystemResult<Vec<RawRecord>> {
        let mut seen = HashSet::new();
        let literals: Vec<String> = ids
            .iter()
            .filter(|id| soql::is_valid_id(id) && seen.insert(id.as_str()))
            .map(|id| format!("'{id}'"))
            .collect();
        let skipped = ids.len() - literals.len();
        if skipped > 0 {
            tracing::debug!(side = %SIDE, skipped, "fetch: ids that are not Salesforce ids or repeated are skipped");
        }
        self.lookup("Id", literals, IDS_PER_QUERY).await
    }

    pub(crate) async fn find_by_emails(&self, emails: &[String]) -> SystemResult<Vec<RawRecord>> {
        let mut seen = HashSet::new();
        let literals: Vec<String> = emails
            .iter()
            .filter(|e| !e.is_empty() && seen.insert(e.as_str()))
            .filter_map(|e| soql::string_literal(e))
            .collect();
        self.lookup(&self.email_field.clone(), literals, EMAILS_PER_QUERY)
            .await
    }

    /// Contacts created at or after `since` (`CreatedDate >= since`), with their mapped fields:
    /// the candidates when a create's answer never came and the created record no longer
    /// carries the email it was created with.
    pub(crate) async fn find_created_since(
        &self,
        since: chrono::DateTime<chrono::Utc>,
    ) -> SystemResult<Vec<RawRecord>> {
        let q = format!(
            "{} WHERE CreatedDate >= {}",
            soql::select_clause(&self.fields),
            soql::datetime_literal(since)
        );
        let mut out = Vec::new();
        self.query_pages(Endpoint::Query, &q, |page| {
            out.extend(self.page_records(page, 200)?);
            Ok(())
        })
        .await?;
        tracing::debug!(side = %SIDE, found = out.len(), "salesforce created lookup");
        Ok(out)
    }

    /// Deleted Contacts still in the Recycle Bin (`queryAll` on `IsDeleted = TRUE`, API-NOTES
    /// A.1) whose email field equals one of `emails`, with their mapped fields and
    /// `MasterRecordId` (set when merged away).
    pub(crate) async fn find_deleted_by_emails(
        &self,
        emails: &[String],
    ) -> SystemResult<Vec<RawRecord>> {
        let mut seen = HashSet::new();
        let literals: Vec<String> = emails
            .iter()
            .filter(|e| !e.is_empty() && seen.insert(e.as_str()))
            .filter_map(|e| soql::string_literal(e))
            .collect();
        let mut fields = self.fields.clone();
        if !fields.iter().any(|f| f == "MasterRecordId") {
            fields.push("MasterRecordId".into());
        }
        let field = self.email_field.clone();
        let mut out = Vec::new();
        let groups = soql::group_literals(literals, EMAILS_PER_QUERY, MAX_IN_LIST_CHARS);
        let queries = groups.len();
        for group in groups {
            let q = format!(
                "{} WHERE IsDeleted = TRUE AND {field} IN ({})",
                soql::select_clause(&fields),
                group.join(", ")
            );
            self.query_pages(Endpoint::QueryAll, &q, |page| {
                out.extend(self.page_records(page, 200)?);
                Ok(())
            })
            .await?;
        }
        tracing::debug!(side = %SIDE, queries, found = out.len(), "salesforce deleted lookup");
        Ok(out)
    }

    async fn lookup(
        &self,
        field: &str,
        literals: Vec<String>,
        per_query: usize,
    ) -> SystemResult<Vec<RawRecord>> {
        let mut out = Vec::new();
        let groups = soql::group_literals(literals, per_query, MAX_IN_LIST_CHARS);
        let queries = groups.len();
        for group in groups {
            let q = soql::in_query(&self.fields, field, &group);
            out.extend(self.query_all(&q).await?);
        }
        tracing::debug!(side = %SIDE, field, queries, found = out.len(), "salesforce lookup");
        Ok(out)
    }
}
