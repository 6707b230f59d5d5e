//! Bulk endpoints: fetch (`POST /bulk/contacts`), add, update (full replace per entity,
//! matched by `id`) and remove.
//!
//! Results come back out of request order (the real API does not guarantee order): reversed,
//! or shuffled per request (`GenesysSimConfig::bulk_result_order`), so clients must match
//! them by `id`. `errorIndexes` index into the returned `results`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use std::sync::atomic::Ordering;

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use super::Org;
use super::contact::{self, FieldProblem};
use super::contacts::contact_not_found;
use super::error_body::{bad_request, malformed_body};
use crate::http_server::IncomingRequest;
use crate::profile::ResultOrder;

/// The entities of a bulk request: at most `max_bulk_entities` (not documented by Genesys;
/// beyond it the whole request gets 400 `bad.request`, no per-entity results).
fn entities(org: &Org, request: &IncomingRequest) -> Result<Vec<Value>, Box<Response>> {
    let max = org.config.max_bulk_entities;
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&request.body) else {
        return Err(Box::new(malformed_body()));
    };
    let Some(Value::Array(entities)) = body.get("entities") else {
        return Err(Box::new(bad_request("entities is required")));
    };
    if entities.len() > max {
        org.counters.record_over_cap();
        return Err(Box::new(bad_request(&format!(
            "A bulk request may contain at most {max} entities; {} were provided",
            entities.len()
        ))));
    }
    Ok(entities.clone())
}

fn entity_id(entity: &Value) -> Option<&str> {
    entity
        .get("id")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
}

fn success(id: &str, entity: Option<Map<String, Value>>) -> Value {
    let mut result = json!({ "id": id, "success": true, "status": 200 });
    if let Some(entity) = entity {
        result["entity"] = Value::Object(entity);
    }
    result
}

fn failure(
    id: Option<&str>,
    status: StatusCode,
    code: &str,
    message: &str,
    details: Vec<Value>,
    entity: &Value,
) -> Value {
    let mut result = json!({
        "success": false,
        "status": status.as_u16(),
        "error": {
            "code": code,
            "message": message,
            "status": status.as_u16(),
            "retryable": false,
            "details": details,
            "entity": entity,
        },
    });
    if let Some(id) = id {
        result["id"] = Value::String(id.to_string());
    }
    result
}

fn missing_id(entity: &Value) -> Value {
    failure(
        None,
        StatusCode::BAD_REQUEST,
        "bad.request",
        "The entity id is required",
        Vec::new(),
        entity,
    )
}

fn not_found(id: &str, entity: &Value) -> Value {
    failure(
        Some(id),
        StatusCode::NOT_FOUND,
        "not.found",
        &contact_not_found(id),
        Vec::new(),
        entity,
    )
}

fn invalid(id: Option<&str>, problems: &[FieldProblem], entity: &Value) -> Value {
    failure(
        id,
        StatusCode::BAD_REQUEST,
        "bad.request",
        &contact::summary(problems),
        problems.iter().map(FieldProblem::bulk_detail).collect(),
        entity,
    )
}

fn rejected(id: Option<&str>, entity: &Value) -> Value {
    failure(
        id,
        StatusCode::BAD_REQUEST,
        "bad.request",
        "The contact was rejected by validation.",
        Vec::new(),
        entity,
    )
}

/// Put results in the configured order and count the failures.
fn respond(org: &Org, mut results: Vec<Value>) -> Response {
    match org.config.bulk_result_order {
        ResultOrder::Reversed => results.reverse(),
        ResultOrder::Shuffled { seed } => {
            let request = org.bulk_requests.fetch_add(1, Ordering::Relaxed);
            let mut rng = StdRng::seed_from_u64(seed ^ request.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            results.shuffle(&mut rng);
        }
    }
    let error_indexes: Vec<usize> = results
        .iter()
        .enumerate()
        .filter(|(_, result)| result.get("success") != Some(&Value::Bool(true)))
        .map(|(index, _)| index)
        .collect();
    tracing::debug!(
        results = results.len(),
        errors = error_indexes.len(),
        "genesys bulk"
    );
    Json(json!({
        "results": results,
        "errorCount": error_indexes.len(),
        "errorIndexes": error_indexes,
    }))
    .into_response()
}

pub(crate) fn fetch(org: &Org, request: &IncomingRequest) -> Response {
    let entities = match entities(org, request) {
        Ok(entities) => entities,
        Err(response) => return *response,
    };
    let state = org.lock();
    let results = entities
        .iter()
        .map(|entity| match entity_id(entity) {
            None => missing_id(entity),
            Some(id) => match state.contacts.read(id) {
                Some(contact) => success(id, Some(contact.clone())),
                None => not_found(id, entity),
            },
        })
        .collect();
    respond(org, results)
}

pub(crate) fn add(org: &Org, request: &IncomingRequest) -> Response {
    let entities = match entities(org, request) {
        Ok(entities) => entities,
        Err(response) => return *response,
    };
    org.counters.record_written(entities.len());
    let mut state = org.lock();
    let mut results = Vec::with_capacity(entities.len());
    for entity in &entities {
        let Value::Object(body) = entity else {
            results.push(failure(
                None,
                StatusCode::BAD_REQUEST,
                "bad.request",
                "The entity must be an object",
                Vec::new(),
                entity,
            ));
            continue;
        };
        let fields = match contact::prepare(body, &state.sources) {
            Ok(fields) => fields,
            Err(problems) => {
                results.push(invalid(None, &problems, entity));
                continue;
            }
        };
        if org.rejects(None, &fields) {
            results.push(rejected(None, entity));
            continue;
        }
        let created = state.contacts.create(fields, org.clock.next_stamp());
        let id = created
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        results.push(success(&id, Some(created)));
    }
    respond(org, results)
}

pub(crate) fn update(org: &Org, request: &IncomingRequest) -> Response {
    let entities = match entities(org, request) {
        Ok(entities) => entities,
        Err(response) => return *response,
    };
    org.counters.record_written(entities.len());
    let mut state = org.lock();
    let mut results = Vec::with_capacity(entities.len());
    for entity in &entities {
        let (Value::Object(body), Some(id)) = (entity, entity_id(entity)) else {
            results.push(missing_id(entity));
            continue;
        };
        if state.contacts.get(id).is_none() {
            results.push(not_found(id, entity));
            continue;
        }
        let fields = match contact::prepare(body, &state.sources) {
            Ok(fields) => fields,
            Err(problems) => {
                results.push(invalid(Some(id), &problems, entity));
                continue;
            }
        };
        if org.rejects(Some(id), &fields) {
            results.push(rejected(Some(id), entity));
            continue;
        }
        match state
            .contacts
            .replace(id, fields, org.clock.next_stamp(), org.config.no_op_write)
        {
            Some(updated) => results.push(success(id, Some(updated))),
            None => results.push(not_found(id, entity)),
        }
    }
    respond(org, results)
}

pub(crate) fn remove(org: &Org, request: &IncomingRequest) -> Response {
    let entities = match entities(org, request) {
        Ok(entities) => entities,
        Err(response) => return *response,
    };
    org.counters.record_written(entities.len());
    let mut state = org.lock();
    let results = entities
        .iter()
        .map(|entity| {
            let Some(id) = entity_id(entity) else {
                return missing_id(entity);
            };
            if state.contacts.get(id).is_none() {
                return not_found(id, entity);
            }
            if org.rejects(Some(id), &Map::new()) {
                return rejected(Some(id), entity);
            }
            state.contacts.remove(id);
            success(id, None)
        })
        .collect();
    respond(org, results)
}
