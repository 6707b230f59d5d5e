//! Bulk API 2.0 query jobs (API-NOTES A.3): `POST .../jobs/query`, `GET .../jobs/query/{id}`
//! until `JobComplete`, and `GET .../jobs/query/{id}/results?locator=&maxRecords=` answering
//! CSV pages with `Sforce-NumberOfRecords` and `Sforce-Locator` (the literal `null` on the last
//! page). Results before completion get 412 `JOB_NOT_COMPLETE`.
//!
//! The query runs when the job is created (a snapshot, as the real service's result set is);
//! the job then answers `InProgress` to `bulk_polls_until_complete` status requests.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::Org;
use super::contact::{format_datetime, parse_datetime};
use super::query::select;
use super::record_id;
use super::rest_error::rest_error;
use super::soql;
use crate::http_server::IncomingRequest;

/// The query jobs of one org.
#[derive(Debug, Default)]
pub(crate) struct BulkJobs {
    jobs: HashMap<String, Job>,
    sequence: u64,
}

#[derive(Debug)]
struct Job {
    info: Map<String, Value>,
    polls_left: u32,
    header: Vec<String>,
    rows: Arc<Vec<Vec<String>>>,
}

const JOB_PREFIX: &str = "750";

fn not_found() -> Response {
    rest_error(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        "The requested resource does not exist",
    )
}

/// A field value as Bulk API 2.0 writes it in CSV: empty for null, datetimes in UTC with `Z`.
fn csv_value(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(text)) => match parse_datetime(text) {
            Some(time) if text.len() >= 20 && text.as_bytes().get(10) == Some(&b'T') => {
                time.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
            }
            _ => text.clone(),
        },
        Some(other) => other.to_string(),
    }
}

pub(crate) fn create(org: &Org, request: &IncomingRequest, version: &str) -> Response {
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&request.body) else {
        return super::rest_error::json_parser_error();
    };
    let operation = match body.get("operation").and_then(Value::as_str) {
        Some(op @ ("query" | "queryAll")) => op.to_string(),
        _ => {
            return rest_error(
                StatusCode::BAD_REQUEST,
                "INVALIDJOB",
                "operation must be query or queryAll",
            );
        }
    };
    let Some(soql) = body.get("query").and_then(Value::as_str) else {
        return rest_error(
            StatusCode::BAD_REQUEST,
            "INVALIDJOB",
            "A query string has to be specified",
        );
    };
    let now = format_datetime(org.clock.now());
    let mut state = org.lock();
    let query = match soql::parse(soql, &|name: &str| state.contacts.resolve_field(name)) {
        Ok(query) if !query.count => query,
        Ok(_) => {
            return rest_error(
                StatusCode::BAD_REQUEST,
                "INVALIDJOB",
                "COUNT() is not supported by Bulk API 2.0",
            );
        }
        Err(error) => return rest_error(StatusCode::BAD_REQUEST, error.error_code, &error.message),
    };
    let rows: Vec<Vec<String>> = select(&state.contacts, &query, operation == "queryAll")
        .into_iter()
        .map(|record| {
            query
                .fields
                .iter()
                .map(|field| csv_value(record.get(field)))
                .collect()
        })
        .collect();
    state.bulk_jobs.sequence += 1;
    let id = record_id::new_id(JOB_PREFIX, state.bulk_jobs.sequence);
    let api_version: f64 = version.trim_start_matches('v').parse().unwrap_or(62.0);
    let mut info = json!({
        "id": id,
        "operation": operation,
        "object": "Contact",
        "createdById": record_id::new_id("005", 1),
        "createdDate": now,
        "systemModstamp": now,
        "state": "UploadComplete",
        "concurrencyMode": "Parallel",
        "contentType": "CSV",
        "apiVersion": api_version,
        "lineEnding": "LF",
        "columnDelimiter": "COMMA",
    });
    let response = Json(info.clone()).into_response();
    if let Value::Object(map) = &mut info {
        map.insert("state".into(), Value::String("InProgress".into()));
        tracing::debug!(records = rows.len(), "salesforce bulk query job created");
        let job = Job {
            info: std::mem::take(map),
            polls_left: org.config.bulk_polls_until_complete,
            header: query.fields.clone(),
            rows: Arc::new(rows),
        };
        state.bulk_jobs.jobs.insert(id, job);
    }
    response
}

pub(crate) fn status(org: &Org, id: &str) -> Response {
    let mut state = org.lock();
    let Some(job) = state.bulk_jobs.jobs.get_mut(id) else {
        return not_found();
    };
    if job.polls_left > 0 {
        job.polls_left -= 1;
    } else {
        job.info
            .insert("state".into(), Value::String("JobComplete".into()));
        job.info
            .insert("numberRecordsProcessed".into(), json!(job.rows.len()));
    }
    Json(Value::Object(job.info.clone())).into_response()
}

pub(crate) fn results(org: &Org, request: &IncomingRequest, id: &str) -> Response {
    let state = org.lock();
    let Some(job) = state.bulk_jobs.jobs.get(id) else {
        return not_found();
    };
    if job.info.get("state").and_then(Value::as_str) != Some("JobComplete") {
        return rest_error(
            StatusCode::PRECONDITION_FAILED,
            "JOB_NOT_COMPLETE",
            "can only download query results of successfully completed bulk job with status: JOB_COMPLETE. Current status: IN_PROGRESS",
        );
    }
    // The service may answer fewer records than `maxRecords`: at most the configured page.
    let page_size = request
        .query_param("maxRecords")
        .and_then(|n| n.parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(usize::MAX)
        .min(org.config.bulk_results_page_size)
        .max(1);
    // The locator is opaque to clients; here it is the offset in base 36.
    let offset = match request.query_param("locator") {
        None => 0,
        Some(locator) => match u64::from_str_radix(&locator, 36) {
            Ok(offset) if (offset as usize) < job.rows.len() => offset as usize,
            _ => {
                return rest_error(
                    StatusCode::BAD_REQUEST,
                    "INVALIDLOCATOR",
                    "the locator is not valid for this job",
                );
            }
        },
    };
    let total = job.rows.len();
    let end = offset.saturating_add(page_size).min(total);
    // Only this page is copied out (a large job's rows stay where they are).
    let (header, rows) = (job.header.clone(), job.rows[offset..end].to_vec());
    drop(state);
    let mut writer = csv::WriterBuilder::new()
        .quote_style(csv::QuoteStyle::Always)
        .from_writer(Vec::new());
    let mut failed = writer.write_record(&header).is_err();
    for row in &rows {
        failed |= writer.write_record(row).is_err();
    }
    let body = match writer.into_inner() {
        Ok(body) if !failed => body,
        _ => {
            return rest_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "UNKNOWN_EXCEPTION",
                "results could not be written",
            );
        }
    };
    let locator = if end < total {
        radix36(end as u64)
    } else {
        "null".to_string()
    };
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv"));
    if let Ok(value) = HeaderValue::from_str(&locator) {
        headers.insert("sforce-locator", value);
    }
    headers.insert("sforce-numberofrecords", HeaderValue::from(end - offset));
    response
}

fn radix36(mut n: u64) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locators_round_trip_and_values_are_written_as_bulk_csv_does() {
        // GIVEN offsets and stored values
        // WHEN written
        // THEN base-36 locators parse back, nulls are empty, datetimes end in Z
        for n in [0u64, 35, 36, 10_000, 99_999] {
            assert_eq!(u64::from_str_radix(&radix36(n), 36), Ok(n));
        }
        assert_eq!(csv_value(None), "");
        assert_eq!(csv_value(Some(&Value::Null)), "");
        assert_eq!(
            csv_value(Some(&json!("2024-01-01T00:00:00.000+0000"))),
            "2024-01-01T00:00:00.000Z"
        );
        assert_eq!(csv_value(Some(&json!("Ana"))), "Ana");
        assert_eq!(csv_value(Some(&json!(true))), "true");
    }
}
