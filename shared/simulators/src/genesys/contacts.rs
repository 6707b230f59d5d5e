//! Single-contact CRUD and the scan enumeration.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::Org;

/// A scan position and the contact at it.
type ScanEntry<'a> = (&'a (String, String), &'a Map<String, Value>);
use super::contact::{self, FieldProblem};
use super::cursor;
use super::error_body::{bad_request, error_with_details, malformed_body, not_found};
use crate::http_server::IncomingRequest;

const SCAN_PATH: &str = "/api/v2/externalcontacts/scan/contacts";

pub(crate) fn contact_not_found(id: &str) -> String {
    format!("Unable to find contact with id {id}")
}

fn validation_failed(problems: &[FieldProblem]) -> Response {
    error_with_details(
        StatusCode::BAD_REQUEST,
        "bad.request",
        &contact::summary(problems),
        problems.iter().map(FieldProblem::error_detail).collect(),
    )
}

fn rejected() -> Response {
    bad_request("The contact was rejected by validation.")
}

fn body_object(request: &IncomingRequest) -> Result<Map<String, Value>, Box<Response>> {
    match serde_json::from_slice::<Value>(&request.body) {
        Ok(Value::Object(body)) => Ok(body),
        _ => Err(Box::new(malformed_body())),
    }
}

pub(crate) fn scan(org: &Org, request: &IncomingRequest) -> Response {
    let limit = match cursor::page_limit(request.query_param("limit")) {
        Ok(limit) => limit,
        Err(message) => return bad_request(&message),
    };
    let after = match request.query_param("cursor").filter(|c| !c.is_empty()) {
        None => None,
        Some(raw) => match cursor::decode(&raw) {
            Some(position) => Some(position),
            None => return bad_request("The cursor is invalid or has expired."),
        },
    };
    // A page may hold fewer than `limit` (GenesysSimConfig::scan_page_max), and still not
    // be the last.
    let page_size = org
        .config
        .scan_page_max
        .map_or(limit, |max| limit.min(max.max(1)));
    let state = org.lock();
    let mut page = state.contacts.in_order_after(after.as_ref());
    let entities: Vec<ScanEntry<'_>> = page.by_ref().take(page_size).collect();
    let more = page.next().is_some();
    let mut body = json!({
        "entities": entities.iter().map(|(_, contact)| Value::Object((*contact).clone())).collect::<Vec<_>>(),
        "selfUri": request.path_and_query(),
        "cursors": {},
    });
    if let (true, Some((last, _))) = (more, entities.last()) {
        let next = cursor::encode(last);
        body["cursors"] = json!({ "after": next });
        body["nextUri"] = json!(format!("{SCAN_PATH}?limit={limit}&cursor={next}"));
    }
    tracing::debug!(entities = entities.len(), more, "genesys scan page");
    Json(body).into_response()
}

pub(crate) fn create(org: &Org, request: &IncomingRequest) -> Response {
    let body = match body_object(request) {
        Ok(body) => body,
        Err(response) => return *response,
    };
    org.counters.record_written(1);
    let mut state = org.lock();
    let fields = match contact::prepare(&body, &state.sources) {
        Ok(fields) => fields,
        Err(problems) => return validation_failed(&problems),
    };
    if org.rejects(None, &fields) {
        return rejected();
    }
    let created = state.contacts.create(fields, org.clock.next_stamp());
    Json(Value::Object(created)).into_response()
}

pub(crate) fn get(org: &Org, id: &str) -> Response {
    let state = org.lock();
    match state.contacts.read(id) {
        Some(contact) => Json(Value::Object(contact.clone())).into_response(),
        None => not_found(&contact_not_found(id)),
    }
}

pub(crate) fn replace(org: &Org, request: &IncomingRequest, id: &str) -> Response {
    let body = match body_object(request) {
        Ok(body) => body,
        Err(response) => return *response,
    };
    org.counters.record_written(1);
    let mut state = org.lock();
    if state.contacts.get(id).is_none() {
        return not_found(&contact_not_found(id));
    }
    let fields = match contact::prepare(&body, &state.sources) {
        Ok(fields) => fields,
        Err(problems) => return validation_failed(&problems),
    };
    if org.rejects(Some(id), &fields) {
        return rejected();
    }
    match state
        .contacts
        .replace(id, fields, org.clock.next_stamp(), org.config.no_op_write)
    {
        Some(contact) => Json(Value::Object(contact)).into_response(),
        None => not_found(&contact_not_found(id)),
    }
}

pub(crate) fn delete(org: &Org, id: &str) -> Response {
    org.counters.record_written(1);
    let mut state = org.lock();
    if state.contacts.get(id).is_none() {
        return not_found(&contact_not_found(id));
    }
    if org.rejects(Some(id), &Map::new()) {
        return rejected();
    }
    state.contacts.remove(id);
    Json(json!({})).into_response()
}
