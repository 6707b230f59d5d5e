//! sObject Collections: `POST`, `PATCH` and `DELETE /composite/sobjects`.
//!
//! A malformed request gets 400 with the REST error array; a well-formed one gets 200 with
//! one SaveResult per record, in request order, whatever each record's outcome.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::Org;
use super::contact::{RecordError, WriteMode};
use super::record_id;
use super::rest_error::{json_parser_error, rest_error};
use crate::http_server::IncomingRequest;

/// One record of a collection request, ready to write or failed.
type Outcome<T> = Result<(Option<String>, T), (Option<String>, RecordError)>;

/// The refusal of a request over the record cap (`max_collection_records`, 200 in a real
/// org): 400 `EXCEEDED_ID_LIMIT` for the whole request, no SaveResults.
fn too_many_records(max: usize) -> Response {
    rest_error(
        StatusCode::BAD_REQUEST,
        "EXCEEDED_ID_LIMIT",
        &format!("record limit reached. cannot submit more than {max} records into this call"),
    )
}

/// The error of a record a test asked to reject with [`crate::Fault::RejectRecord`].
pub(crate) fn rejected_by_validation_rule() -> RecordError {
    RecordError::new(
        "FIELD_CUSTOM_VALIDATION_EXCEPTION",
        "This record was rejected by a validation rule.",
    )
}

/// Whether a create carries a value that a `RejectRecord` fault names.
pub(crate) fn create_is_rejected(org: &Org, record: &Map<String, Value>) -> bool {
    org.faults.has_rejections()
        && record
            .iter()
            .filter(|(key, _)| key.as_str() != "attributes")
            .filter_map(|(_, value)| value.as_str())
            .any(|value| org.faults.is_rejected(value))
}

struct Envelope {
    all_or_none: bool,
    records: Vec<Map<String, Value>>,
}

fn parse_envelope(org: &Org, request: &IncomingRequest) -> Result<Envelope, Box<Response>> {
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&request.body) else {
        return Err(Box::new(json_parser_error()));
    };
    let all_or_none = match body.get("allOrNone") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(flag)) => *flag,
        Some(_) => return Err(Box::new(json_parser_error())),
    };
    let Some(Value::Array(records)) = body.get("records") else {
        return Err(Box::new(rest_error(
            StatusCode::BAD_REQUEST,
            "REQUIRED_FIELD_MISSING",
            "Required field is missing: records",
        )));
    };
    if records.len() > org.config.max_collection_records {
        org.counters.record_over_cap();
        return Err(Box::new(too_many_records(
            org.config.max_collection_records,
        )));
    }
    let mut parsed = Vec::with_capacity(records.len());
    for record in records {
        let Value::Object(record) = record else {
            return Err(Box::new(json_parser_error()));
        };
        let object_type = record
            .get("attributes")
            .and_then(|attributes| attributes.get("type"))
            .and_then(Value::as_str);
        match object_type {
            Some(name) if name.eq_ignore_ascii_case("Contact") => {}
            Some(name) => {
                return Err(Box::new(rest_error(
                    StatusCode::BAD_REQUEST,
                    "INVALID_TYPE",
                    &format!("sObject type '{name}' is not supported."),
                )));
            }
            None => {
                return Err(Box::new(rest_error(
                    StatusCode::BAD_REQUEST,
                    "INVALID_TYPE",
                    "Must send a concrete entity type.",
                )));
            }
        }
        parsed.push(record.clone());
    }
    Ok(Envelope {
        all_or_none,
        records: parsed,
    })
}

fn success(id: &str) -> Value {
    json!({ "id": id, "success": true, "errors": [] })
}

fn failure(id: Option<String>, error: &RecordError) -> Value {
    let mut result = json!({ "success": false, "errors": [error.to_json()] });
    if let Some(id) = id {
        result["id"] = Value::String(id);
    }
    result
}

/// Turn outcomes into SaveResults, writing the good records unless allOrNone rolls back.
fn save_results<T>(
    outcomes: Vec<Outcome<T>>,
    all_or_none: bool,
    mut write: impl FnMut(Option<String>, T) -> String,
) -> Vec<Value> {
    let any_failed = outcomes.iter().any(Result::is_err);
    if all_or_none && any_failed {
        let rolled_back = RecordError::new(
            "ALL_OR_NONE_OPERATION_ROLLED_BACK",
            "Record rolled back because not all records were valid and the request was using AllOrNone header",
        );
        return outcomes
            .into_iter()
            .map(|outcome| match outcome {
                Ok((id, _)) => failure(id, &rolled_back),
                Err((id, error)) => failure(id, &error),
            })
            .collect();
    }
    outcomes
        .into_iter()
        .map(|outcome| match outcome {
            Ok((id, prepared)) => success(&write(id, prepared)),
            Err((id, error)) => failure(id, &error),
        })
        .collect()
}

pub(crate) fn create(org: &Org, request: &IncomingRequest) -> Response {
    let envelope = match parse_envelope(org, request) {
        Ok(envelope) => envelope,
        Err(response) => return *response,
    };
    org.counters.record_written(envelope.records.len());
    let mut state = org.lock();
    let outcomes: Vec<Outcome<_>> = envelope
        .records
        .iter()
        .map(|record| {
            let fields = state
                .contacts
                .validate(record, WriteMode::Create)
                .map_err(|error| (None, error))?;
            if create_is_rejected(org, record) {
                return Err((None, rejected_by_validation_rule()));
            }
            Ok((None, fields))
        })
        .collect();
    let results = save_results(outcomes, envelope.all_or_none, |_, fields| {
        state.contacts.create(fields, org.clock.next_stamp())
    });
    tracing::debug!(records = results.len(), "salesforce collection create");
    Json(results).into_response()
}

pub(crate) fn update(org: &Org, request: &IncomingRequest) -> Response {
    let envelope = match parse_envelope(org, request) {
        Ok(envelope) => envelope,
        Err(response) => return *response,
    };
    org.counters.record_written(envelope.records.len());
    let mut state = org.lock();
    let outcomes: Vec<Outcome<_>> = envelope
        .records
        .iter()
        .map(|record| {
            let given_id = record
                .get("id")
                .or_else(|| record.get("Id"))
                .and_then(Value::as_str);
            let Some(given_id) = given_id else {
                return Err((
                    None,
                    RecordError::new("MISSING_ARGUMENT", "Id not specified in an update call"),
                ));
            };
            let known_id = record_id::to_18(given_id);
            let id = state
                .contacts
                .writable_id(given_id)
                .map_err(|error| (known_id.clone(), error))?;
            let fields = state
                .contacts
                .validate(record, WriteMode::Update)
                .map_err(|error| (Some(id.clone()), error))?;
            if org.faults.is_rejected(&id) {
                return Err((Some(id), rejected_by_validation_rule()));
            }
            Ok((Some(id), fields))
        })
        .collect();
    let results = save_results(outcomes, envelope.all_or_none, |id, fields| {
        let id = id.unwrap_or_default();
        state.contacts.update(&id, fields, org.clock.next_stamp());
        id
    });
    tracing::debug!(records = results.len(), "salesforce collection update");
    Json(results).into_response()
}

pub(crate) fn delete(org: &Org, request: &IncomingRequest) -> Response {
    let ids: Vec<String> = request
        .query_param("ids")
        .map(|ids| {
            ids.split(',')
                .map(str::trim)
                .filter(|id| !id.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    if ids.is_empty() {
        return rest_error(
            StatusCode::BAD_REQUEST,
            "REQUIRED_FIELD_MISSING",
            "At least 1 Id is required.",
        );
    }
    if ids.len() > org.config.max_collection_records {
        org.counters.record_over_cap();
        return too_many_records(org.config.max_collection_records);
    }
    let all_or_none = request
        .query_param("allOrNone")
        .is_some_and(|flag| flag.eq_ignore_ascii_case("true"));
    org.counters.record_written(ids.len());
    let mut state = org.lock();
    let outcomes: Vec<Outcome<()>> = ids
        .iter()
        .map(|given_id| {
            let known_id = record_id::to_18(given_id);
            let id = state
                .contacts
                .writable_id(given_id)
                .map_err(|error| (known_id, error))?;
            if org.faults.is_rejected(&id) {
                return Err((Some(id), rejected_by_validation_rule()));
            }
            Ok((Some(id), ()))
        })
        .collect();
    let results = save_results(outcomes, all_or_none, |id, ()| {
        let id = id.unwrap_or_default();
        state.contacts.soft_delete(&id, org.clock.next_stamp());
        id
    });
    tracing::debug!(records = results.len(), "salesforce collection delete");
    Json(results).into_response()
}
