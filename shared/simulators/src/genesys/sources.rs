//! External source endpoints: list (cursor listing), get, create.

use axum::Json;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::Org;
use super::cursor;
use super::error_body::{bad_request, malformed_body, not_found};
use crate::http_server::IncomingRequest;

const SOURCES_PATH: &str = "/api/v2/externalcontacts/externalsources";

pub(crate) fn list(org: &Org, request: &IncomingRequest) -> Response {
    let limit = match cursor::page_limit(request.query_param("limit")) {
        Ok(limit) => limit,
        Err(message) => return bad_request(&message),
    };
    // Sources are listed in creation order; the cursor holds the position.
    let start = match request.query_param("cursor").filter(|c| !c.is_empty()) {
        None => 0,
        Some(raw) => {
            match cursor::decode(&raw).and_then(|(position, _)| position.parse::<usize>().ok()) {
                Some(position) => position,
                None => return bad_request("The cursor is invalid or has expired."),
            }
        }
    };
    let state = org.lock();
    let all = state.sources.all();
    let entities: Vec<Value> = all
        .iter()
        .skip(start)
        .take(limit)
        .map(|source| Value::Object(source.clone()))
        .collect();
    let end = start + entities.len();
    let mut body = json!({
        "entities": entities,
        "selfUri": request.path_and_query(),
        "cursors": {},
    });
    if end < all.len() {
        let next = cursor::encode(&(end.to_string(), String::new()));
        body["cursors"] = json!({ "after": next });
        body["nextUri"] = json!(format!("{SOURCES_PATH}?limit={limit}&cursor={next}"));
    }
    Json(body).into_response()
}

/// `GET /contacts/schemas/{id}`: a custom-field data schema added with
/// `GenesysSim::add_data_schema`.
pub(crate) fn schema(org: &Org, id: &str) -> Response {
    let state = org.lock();
    match state.schemas.get(id) {
        Some(schema) => Json(schema.clone()).into_response(),
        None => not_found(&format!("Unable to find data schema with id {id}")),
    }
}

pub(crate) fn get(org: &Org, id: &str) -> Response {
    let state = org.lock();
    match state.sources.get(id) {
        Some(source) => Json(Value::Object(source.clone())).into_response(),
        None => not_found(&format!("Unable to find external source with id {id}")),
    }
}

pub(crate) fn create(org: &Org, request: &IncomingRequest) -> Response {
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&request.body) else {
        return malformed_body();
    };
    org.counters.record_written(1);
    let mut state = org.lock();
    match state.sources.create(&body) {
        Ok(source) => {
            tracing::debug!(
                sources = state.sources.all().len(),
                "external source created"
            );
            Json(Value::Object(source)).into_response()
        }
        Err(problem) => bad_request(&problem.message()),
    }
}
