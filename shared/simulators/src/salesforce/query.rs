//! `GET .../query` and `.../queryAll` with `nextRecordsUrl` paging over a snapshot.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::Org;
use super::contact::ContactStore;
use super::record_id;
use super::rest_error::rest_error;
use super::soql::{self, SoqlError};
use crate::http_server::IncomingRequest;

/// How many query result sets are kept for `nextRecordsUrl` before the oldest is dropped.
const KEPT_RESULT_SETS: usize = 200;

/// Result sets of queries that have more pages, by locator.
#[derive(Debug, Default)]
pub(crate) struct QueryCursors {
    result_sets: HashMap<String, ResultSet>,
    order: VecDeque<String>,
    sequence: u64,
}

#[derive(Debug)]
struct ResultSet {
    records: Arc<Vec<Value>>,
    batch_size: usize,
}

impl QueryCursors {
    fn keep(&mut self, records: Arc<Vec<Value>>, batch_size: usize) -> String {
        self.sequence += 1;
        let locator = record_id::new_id("01g", self.sequence);
        self.result_sets.insert(
            locator.clone(),
            ResultSet {
                records,
                batch_size,
            },
        );
        self.order.push_back(locator.clone());
        while self.order.len() > KEPT_RESULT_SETS {
            if let Some(oldest) = self.order.pop_front() {
                self.result_sets.remove(&oldest);
            }
        }
        locator
    }
}

fn soql_error(error: SoqlError) -> Response {
    rest_error(StatusCode::BAD_REQUEST, error.error_code, &error.message)
}

/// The page size: the configured batch size, lowered by `Sforce-Query-Options: batchSize=N`.
fn batch_size(org: &Org, request: &IncomingRequest) -> usize {
    let configured = org.config.query_batch_size.max(1);
    let requested = request
        .headers
        .get("sforce-query-options")
        .and_then(|value| value.to_str().ok())
        .and_then(|options| {
            options.split(',').find_map(|option| {
                let (key, value) = option.split_once('=')?;
                key.trim()
                    .eq_ignore_ascii_case("batchSize")
                    .then(|| value.trim().parse::<usize>().ok())
                    .flatten()
            })
        });
    match requested {
        Some(requested) => configured.min(requested.clamp(200, 2000)),
        None => configured,
    }
}

pub(crate) fn run(org: &Org, request: &IncomingRequest, version: &str, all: bool) -> Response {
    let Some(soql) = request.query_param("q").filter(|q| !q.trim().is_empty()) else {
        return rest_error(
            StatusCode::BAD_REQUEST,
            "MALFORMED_QUERY",
            "A query string has to be specified",
        );
    };
    let batch_size = batch_size(org, request);
    let mut state = org.lock();
    let query = match soql::parse(&soql, &|name: &str| state.contacts.resolve_field(name)) {
        Ok(query) => query,
        Err(error) => return soql_error(error),
    };
    let matching = select(&state.contacts, &query, all);
    if query.count {
        return Json(json!({"totalSize": matching.len(), "done": true, "records": []}))
            .into_response();
    }
    let records: Vec<Value> = matching
        .into_iter()
        .map(|record| render(record, &query.fields, version))
        .collect();
    tracing::debug!(records = records.len(), all, "salesforce query");
    let records = Arc::new(records);
    let locator =
        (records.len() > batch_size).then(|| state.cursors.keep(records.clone(), batch_size));
    drop(state);
    page(&records, batch_size, 0, locator.as_deref(), version)
}

pub(crate) fn more(org: &Org, version: &str, locator_and_offset: &str) -> Response {
    let invalid = || {
        rest_error(
            StatusCode::BAD_REQUEST,
            "INVALID_QUERY_LOCATOR",
            "invalid query locator",
        )
    };
    let Some((locator, offset)) = locator_and_offset.rsplit_once('-') else {
        return invalid();
    };
    let Ok(offset) = offset.parse::<usize>() else {
        return invalid();
    };
    let state = org.lock();
    let Some(result_set) = state.cursors.result_sets.get(locator) else {
        return invalid();
    };
    let (records, batch_size) = (result_set.records.clone(), result_set.batch_size);
    drop(state);
    if offset >= records.len() {
        return invalid();
    }
    page(&records, batch_size, offset, Some(locator), version)
}

fn page(
    records: &[Value],
    batch_size: usize,
    offset: usize,
    locator: Option<&str>,
    version: &str,
) -> Response {
    let end = offset.saturating_add(batch_size).min(records.len());
    let done = end >= records.len();
    let mut body = json!({
        "totalSize": records.len(),
        "done": done,
        "records": records[offset.min(end)..end],
    });
    if let (false, Some(locator)) = (done, locator) {
        body["nextRecordsUrl"] = json!(format!("/services/data/{version}/query/{locator}-{end}"));
    }
    Json(body).into_response()
}

/// The records a parsed query selects, in its order, after OFFSET and LIMIT. `all` includes
/// deleted rows (queryAll).
pub(crate) fn select<'a>(
    contacts: &'a ContactStore,
    query: &soql::Query,
    all: bool,
) -> Vec<&'a Map<String, Value>> {
    let pinned = query.filter.as_ref().and_then(soql::Condition::pinned_ids);
    let candidates: Box<dyn Iterator<Item = &Map<String, Value>>> = match pinned {
        Some(mut ids) => {
            ids.sort_unstable();
            ids.dedup();
            Box::new(ids.into_iter().filter_map(|id| contacts.get(id)))
        }
        None => Box::new(contacts.records()),
    };
    let mut matching: Vec<&Map<String, Value>> = candidates
        .filter(|record| all || record.get("IsDeleted") != Some(&Value::Bool(true)))
        .filter(|record| {
            query
                .filter
                .as_ref()
                .is_none_or(|filter| filter.matches(record))
        })
        .collect();
    matching.sort_by(|left, right| soql::order_records(&query.order, left, right));
    matching
        .into_iter()
        .skip(query.offset.unwrap_or(0))
        .take(query.limit.unwrap_or(usize::MAX))
        .collect()
}

/// A query record: `attributes` plus the selected fields (null when empty).
pub(crate) fn render(record: &Map<String, Value>, fields: &[String], version: &str) -> Value {
    let id = record.get("Id").and_then(Value::as_str).unwrap_or_default();
    let mut rendered = Map::new();
    rendered.insert(
        "attributes".into(),
        json!({
            "type": "Contact",
            "url": format!("/services/data/{version}/sobjects/Contact/{id}"),
        }),
    );
    for field in fields {
        let value = record.get(field).cloned().unwrap_or(Value::Null);
        rendered.insert(field.clone(), value);
    }
    Value::Object(rendered)
}
