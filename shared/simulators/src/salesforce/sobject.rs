//! Single-record sObject calls on Contact: create, retrieve, update, delete.

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::Org;
use super::collections::{create_is_rejected, rejected_by_validation_rule};
use super::contact::{RecordError, STANDARD_FIELDS, WriteMode, parse_datetime};
use super::query::render;
use super::record_id;
use super::rest_error::{json_parser_error, not_found, rest_error};
use super::server::no_content;
use crate::http_server::IncomingRequest;

fn record_error(status: StatusCode, error: &RecordError) -> Response {
    (
        status,
        Json(json!([{
            "message": error.message,
            "errorCode": error.status_code,
            "fields": error.fields,
        }])),
    )
        .into_response()
}

fn body_object(request: &IncomingRequest) -> Result<Map<String, Value>, Box<Response>> {
    match serde_json::from_slice::<Value>(&request.body) {
        Ok(Value::Object(object)) => Ok(object),
        _ => Err(Box::new(json_parser_error())),
    }
}

/// Map an unwritable id to the single-record status: deleted 404, otherwise 404 NOT_FOUND.
fn id_error(error: &RecordError) -> Response {
    if error.status_code == "ENTITY_IS_DELETED" {
        record_error(StatusCode::NOT_FOUND, error)
    } else {
        not_found()
    }
}

pub(crate) fn create(org: &Org, request: &IncomingRequest) -> Response {
    let record = match body_object(request) {
        Ok(record) => record,
        Err(response) => return *response,
    };
    org.counters.record_written(1);
    let mut state = org.lock();
    let fields = match state.contacts.validate(&record, WriteMode::Create) {
        Ok(fields) => fields,
        Err(error) => return record_error(StatusCode::BAD_REQUEST, &error),
    };
    if create_is_rejected(org, &record) {
        return record_error(StatusCode::BAD_REQUEST, &rejected_by_validation_rule());
    }
    let id = state.contacts.create(fields, org.clock.next_stamp());
    (
        StatusCode::CREATED,
        Json(json!({ "id": id, "success": true, "errors": [] })),
    )
        .into_response()
}

pub(crate) fn get(org: &Org, request: &IncomingRequest, version: &str, id: &str) -> Response {
    let Some(id) = record_id::to_18(id) else {
        return not_found();
    };
    let state = org.lock();
    if !state.contacts.is_live(&id) {
        return not_found();
    }
    let Some(record) = state.contacts.get(&id) else {
        return not_found();
    };
    let fields: Vec<String> = match request.query_param("fields") {
        Some(list) => {
            let mut fields = Vec::new();
            for name in list
                .split(',')
                .map(str::trim)
                .filter(|name| !name.is_empty())
            {
                match state.contacts.resolve_field(name) {
                    Some(field) => fields.push(field.name),
                    None => {
                        return rest_error(
                            StatusCode::BAD_REQUEST,
                            "INVALID_FIELD",
                            &format!("No such column '{name}' on sobject of type Contact"),
                        );
                    }
                }
            }
            fields
        }
        None => {
            let mut fields: Vec<String> = STANDARD_FIELDS.iter().map(|f| f.to_string()).collect();
            fields.extend(
                record
                    .keys()
                    .filter(|key| !STANDARD_FIELDS.contains(&key.as_str()))
                    .cloned(),
            );
            fields
        }
    };
    Json(render(record, &fields, version)).into_response()
}

pub(crate) fn update(org: &Org, request: &IncomingRequest, id: &str) -> Response {
    let record = match body_object(request) {
        Ok(record) => record,
        Err(response) => return *response,
    };
    org.counters.record_written(1);
    let mut state = org.lock();
    let id = match state.contacts.writable_id(id) {
        Ok(id) => id,
        Err(error) => return id_error(&error),
    };
    if let Some(since) = request
        .headers
        .get(header::IF_UNMODIFIED_SINCE)
        .and_then(|value| value.to_str().ok())
    {
        let Ok(since) = DateTime::parse_from_rfc2822(since) else {
            return rest_error(
                StatusCode::BAD_REQUEST,
                "INVALID_HEADER_VALUE",
                "Invalid If-Unmodified-Since header value",
            );
        };
        let last_modified = state
            .contacts
            .get(&id)
            .and_then(|record| record.get("LastModifiedDate"))
            .and_then(Value::as_str)
            .and_then(parse_datetime);
        // HTTP dates have whole seconds: compare at that precision.
        let modified_after = last_modified
            .is_some_and(|modified: DateTime<Utc>| modified.timestamp() > since.timestamp());
        if modified_after {
            return rest_error(
                StatusCode::PRECONDITION_FAILED,
                "PRECONDITION_FAILED",
                "The requested Salesforce object has been modified since the If-Unmodified-Since date",
            );
        }
    }
    let fields = match state.contacts.validate(&record, WriteMode::Update) {
        Ok(fields) => fields,
        Err(error) => return record_error(StatusCode::BAD_REQUEST, &error),
    };
    if org.faults.is_rejected(&id) {
        return record_error(StatusCode::BAD_REQUEST, &rejected_by_validation_rule());
    }
    state.contacts.update(&id, fields, org.clock.next_stamp());
    no_content()
}

pub(crate) fn delete(org: &Org, id: &str) -> Response {
    org.counters.record_written(1);
    let mut state = org.lock();
    let id = match state.contacts.writable_id(id) {
        Ok(id) => id,
        Err(error) => return id_error(&error),
    };
    if org.faults.is_rejected(&id) {
        return record_error(StatusCode::BAD_REQUEST, &rejected_by_validation_rule());
    }
    state.contacts.soft_delete(&id, org.clock.next_stamp());
    no_content()
}
