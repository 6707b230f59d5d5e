//! Large reads through Bulk API 2.0 (API-NOTES A.3): when the first REST page of a change read
//! (a full read, or a very large change set) reports more Contacts than the configured
//! threshold (`totalSize`), one query job replaces the remaining REST pages: create the job,
//! poll it until `JobComplete`, and page its CSV results with `Sforce-Locator`.
//! Salesforce advises Bulk only above about 2,000 records; each results page here carries up to
//! [`RESULTS_PER_PAGE`] records against 2,000 for a REST query page.
//!
//! The change cursor of a bulk read is `bulk2:<job id>:<locator>`.

use super::wire::{QueryPage, record_to_raw};
use super::{Inner, SIDE, Target, config_error, soql};
use crate::http::{Replay, protocol};
use contact_sync_pipeline::system::{ChangePage, SystemError, SystemResult, Watermark};
use serde_json::{Map, Value, json};
use std::time::Duration;

/// Records asked for per results page (`maxRecords`).
pub const RESULTS_PER_PAGE: usize = 50_000;
const CURSOR_PREFIX: &str = "bulk2:";
/// First wait between two job status requests; doubles up to [`MAX_POLL_INTERVAL`].
const FIRST_POLL_INTERVAL: Duration = Duration::from_millis(250);
const MAX_POLL_INTERVAL: Duration = Duration::from_secs(5);

/// Whether a change cursor belongs to a bulk read.
pub(crate) fn is_bulk_cursor(cursor: &str) -> bool {
    cursor.starts_with(CURSOR_PREFIX)
}

fn is_token(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// `(job id, locator)` out of a bulk cursor; both must be plain tokens (they go into a URL).
fn parse_cursor(cursor: &str) -> Option<(&str, &str)> {
    let (job, locator) = cursor.strip_prefix(CURSOR_PREFIX)?.split_once(':')?;
    (is_token(job) && is_token(locator)).then_some((job, locator))
}

/// A CSV results page as REST-shaped records (`attributes`, fields, empty = null), so the
/// mapping reads them exactly like query records.
pub fn parse_results_csv(
    body: &[u8],
    api_version: &str,
) -> Result<Vec<Map<String, Value>>, crate::http::DecodeError> {
    let fail = |what: &str| crate::http::DecodeError(format!("bulk results CSV: {what}"));
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(body);
    let header: Vec<String> = reader
        .headers()
        .map_err(|_| fail("unreadable header"))?
        .iter()
        .map(str::to_owned)
        .collect();
    if !header.iter().any(|h| h == "Id") {
        return Err(fail("no Id column"));
    }
    let mut out = Vec::new();
    for (index, row) in reader.records().enumerate() {
        let row = row.map_err(|_| fail(&format!("unreadable row {}", index + 1)))?;
        let mut record = Map::with_capacity(header.len() + 1);
        for (name, value) in header.iter().zip(row.iter()) {
            let value = if value.is_empty() {
                Value::Null
            } else {
                Value::String(value.to_owned())
            };
            record.insert(name.clone(), value);
        }
        let id = record.get("Id").and_then(Value::as_str).unwrap_or_default();
        let url = format!("/services/data/{api_version}/sobjects/Contact/{id}");
        record.insert("attributes".into(), json!({"type": "Contact", "url": url}));
        out.push(record);
    }
    Ok(out)
}

impl Inner {
    /// Creates the job reading the changes after `since` (everything when `None`), waits for
    /// it, and returns its first page.
    pub(crate) async fn start_bulk_read(
        &self,
        since: Option<&Watermark>,
    ) -> SystemResult<ChangePage> {
        let soql = soql::bulk_changes_query(&self.fields, since)
            .ok_or_else(|| config_error("watermark id is not a Salesforce id"))?;
        let body = json!({ "operation": "query", "query": soql });
        let resp = self
            .call(
                "bulk query job",
                reqwest::Method::POST,
                Target::Api("jobs/query"),
                None,
                Some(&body),
                Replay::OnlyIfUnprocessed,
            )
            .await?;
        let job: Value = crate::http::decode(&resp.body)
            .map_err(|e| protocol(SIDE, resp.status, "bulk query job", e))?;
        let id = job
            .get("id")
            .and_then(Value::as_str)
            .filter(|id| is_token(id))
            .ok_or_else(|| protocol(SIDE, resp.status, "bulk query job", "no usable job id"))?
            .to_owned();
        tracing::debug!(side = %SIDE, job = %id, "bulk query job created");
        self.wait_for_job(&id).await?;
        self.bulk_page(&id, None).await
    }

    async fn wait_for_job(&self, id: &str) -> SystemResult<()> {
        let started = tokio::time::Instant::now();
        let mut interval = FIRST_POLL_INTERVAL;
        let path = format!("jobs/query/{id}");
        loop {
            let resp = self
                .call(
                    "bulk query status",
                    reqwest::Method::GET,
                    Target::Api(&path),
                    None,
                    None,
                    Replay::Safe,
                )
                .await?;
            let job: Value = crate::http::decode(&resp.body)
                .map_err(|e| protocol(SIDE, resp.status, "bulk query status", e))?;
            match job.get("state").and_then(Value::as_str) {
                Some("JobComplete") => return Ok(()),
                Some("UploadComplete" | "InProgress") => {}
                Some(state @ ("Failed" | "Aborted")) => {
                    // The job's errorMessage can quote the query: only the state is reported.
                    return Err(SystemError::Transient {
                        side: SIDE,
                        message: format!("bulk query job {id} ended {state}"),
                    });
                }
                _ => {
                    return Err(protocol(
                        SIDE,
                        resp.status,
                        "bulk query status",
                        "unknown state",
                    ));
                }
            }
            if started.elapsed() + interval > self.bulk_timeout {
                return Err(SystemError::Transient {
                    side: SIDE,
                    message: format!(
                        "bulk query job {id} not complete after {} s",
                        started.elapsed().as_secs()
                    ),
                });
            }
            tokio::time::sleep(interval).await;
            interval = (interval * 2).min(MAX_POLL_INTERVAL);
        }
    }

    /// One results page of a bulk read (`cursor` from a previous page).
    pub(crate) async fn bulk_cursor_page(&self, cursor: &str) -> SystemResult<ChangePage> {
        let (job, locator) =
            parse_cursor(cursor).ok_or_else(|| config_error("bulk cursor is malformed"))?;
        self.bulk_page(job, Some(locator)).await
    }

    async fn bulk_page(&self, job: &str, locator: Option<&str>) -> SystemResult<ChangePage> {
        let path = format!("jobs/query/{job}/results");
        let max = RESULTS_PER_PAGE.to_string();
        let mut query: Vec<(&str, &str)> = vec![("maxRecords", max.as_str())];
        if let Some(l) = locator {
            query.push(("locator", l));
        }
        let resp = self
            .call(
                "bulk query results",
                reqwest::Method::GET,
                Target::Api(&path),
                Some(&query),
                None,
                Replay::Safe,
            )
            .await?;
        let mut page = QueryPage {
            total_size: 0,
            done: true,
            next_records_url: None,
            records: parse_results_csv(&resp.body, &self.api_version)
                .map_err(|e| protocol(SIDE, resp.status, "bulk query results", e))?,
        };
        page.total_size = page.records.len() as u64;
        let records = std::mem::take(&mut page.records)
            .into_iter()
            .map(|r| record_to_raw(r).map_err(|e| protocol(SIDE, resp.status, "bulk record", e)))
            .collect::<SystemResult<Vec<_>>>()?;
        let next_locator = resp
            .headers
            .get("sforce-locator")
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|l| !l.is_empty() && *l != "null");
        let next = match next_locator {
            Some(l) if is_token(l) => Some(format!("{CURSOR_PREFIX}{job}:{l}")),
            Some(_) => {
                return Err(protocol(
                    SIDE,
                    resp.status,
                    "bulk query results",
                    "unusable Sforce-Locator",
                ));
            }
            None => None,
        };
        tracing::debug!(side = %SIDE, records = records.len(), more = next.is_some(), "salesforce bulk results page");
        Ok(ChangePage { records, next })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_carry_only_plain_tokens() {
        // GIVEN cursors of several shapes
        // WHEN parsed
        // THEN only job id and locator made of letters and digits pass
        assert_eq!(parse_cursor("bulk2:750abc:1x2y"), Some(("750abc", "1x2y")));
        for bad in [
            "bulk2:750abc",
            "bulk2::1x",
            "bulk2:750/../x:1",
            "bulk2:750abc:1&q=x",
            "/services/data/v62.0/query/01g-2000",
        ] {
            assert_eq!(parse_cursor(bad), None, "{bad}");
        }
    }

    #[test]
    fn csv_rows_become_rest_shaped_records() {
        // GIVEN a results page with a quoted comma, an empty (null) field and a quote
        let csv = b"\"Id\",\"SystemModstamp\",\"LastName\",\"Email\"\n\
\"003000000000001AAA\",\"2024-01-01T00:00:00.000Z\",\"O'Hara, \"\"Jr\"\"\",\"\"\n";
        // WHEN parsed
        let records = parse_results_csv(csv, "v62.0").expect("parses");
        // THEN values round-trip, empty is null, and the record has REST attributes
        assert_eq!(records.len(), 1);
        let r = &records[0];
        assert_eq!(r["LastName"], "O'Hara, \"Jr\"");
        assert_eq!(r["Email"], Value::Null);
        assert_eq!(r["attributes"]["type"], "Contact");
        let raw = record_to_raw(r.clone()).expect("raw");
        assert_eq!(raw.id, "003000000000001AAA");
        // AND a page without an Id column is refused
        assert!(parse_results_csv(b"\"Name\"\n\"x\"\n", "v62.0").is_err());
    }
}
