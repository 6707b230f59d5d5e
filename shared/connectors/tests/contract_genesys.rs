//! Contract tests: the Genesys models deserialize example bodies built mechanically from the
//! definitions in `reference/genesys/externalcontacts_schema.json`, and round-trip them
//! without losing or renaming a field.

use contact_sync_connectors::genesys::contact_to_raw;
use contact_sync_connectors::genesys::models::{
    BulkResponse, CursorListing, ErrorBody, ExternalContact, ExternalSource, parse_bulk_response,
    parse_contact_listing, parse_error_body,
};
use contact_sync_connectors::http::parse_retry_after;
use serde_json::{Map, Value, json};
use std::path::PathBuf;

fn schema() -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../reference/genesys/externalcontacts_schema.json");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).expect("schema is JSON")
}

/// An example value for a schema node: every property filled, refs expanded to `depth`.
fn example(schema: &Value, node: &Value, depth: usize) -> Value {
    if let Some(r) = node.get("$ref").and_then(Value::as_str) {
        let name = r.trim_start_matches("#/definitions/");
        return match schema["definitions"].get(name) {
            Some(def) if depth > 0 => example(schema, def, depth - 1),
            _ => json!({}),
        };
    }
    if let Some(values) = node.get("enum").and_then(Value::as_array) {
        return values[0].clone();
    }
    match node.get("type").and_then(Value::as_str) {
        Some("string") if node.get("format").and_then(Value::as_str) == Some("date-time") => {
            json!("2024-03-01T12:34:56.789Z")
        }
        Some("string") => json!("text"),
        Some("integer") => json!(7),
        Some("number") => json!(1.5),
        Some("boolean") => json!(true),
        Some("array") => json!([example(schema, &node["items"], depth)]),
        _ => {
            let mut obj = Map::new();
            if let Some(props) = node.get("properties").and_then(Value::as_object) {
                for (k, v) in props {
                    obj.insert(k.clone(), example(schema, v, depth));
                }
            } else if let Some(extra) = node.get("additionalProperties") {
                obj.insert("key".into(), example(schema, extra, depth));
            }
            Value::Object(obj)
        }
    }
}

fn definition_example(schema: &Value, name: &str, depth: usize) -> Value {
    example(schema, &schema["definitions"][name], depth)
}

#[test]
fn external_contact_round_trips_every_schema_field() {
    // GIVEN an ExternalContact with every property of the schema (phones, address, externalIds…)
    let schema = schema();
    let contact = definition_example(&schema, "ExternalContact", 2);
    for field in [
        "workPhone",
        "cellPhone",
        "address",
        "externalIds",
        "modifyDate",
        "identifiers",
    ] {
        assert!(contact.get(field).is_some(), "example lacks {field}");
    }
    // WHEN it is deserialized into the typed model and serialized again
    let typed: ExternalContact = serde_json::from_value(contact.clone()).expect("deserializes");
    let back = serde_json::to_value(&typed).expect("serializes");
    // THEN nothing is lost or renamed: every name is exactly the schema's
    let schema_keys: Vec<&String> = contact.as_object().expect("object").keys().collect();
    let model_keys: Vec<&String> = back.as_object().expect("object").keys().collect();
    let mut a = schema_keys.clone();
    let mut b = model_keys.clone();
    a.sort();
    b.sort();
    assert_eq!(a, b);
    for key in [
        "workPhone",
        "address",
        "externalIds",
        "identifiers",
        "division",
        "mergedTo",
    ] {
        assert_eq!(back[key], contact[key], "{key} round-trips");
    }
    let phone = typed.work_phone.expect("phone");
    assert_eq!(phone.e164.as_deref(), Some("text"));
    assert_eq!(phone.accepts_sms, Some(true));
    let ext = &typed.external_ids.expect("externalIds")[0];
    assert_eq!(ext.value, "text");
    assert!(ext.external_source.id.is_some());
}

#[test]
fn scan_listing_parses_and_maps_to_raw_records() {
    // GIVEN a CursorContactListing built from the schema, with a next page
    let schema = schema();
    let mut listing = definition_example(&schema, "CursorContactListing", 2);
    listing["cursors"]["after"] = json!("cursor-2");
    listing["entities"][0]["id"] = json!("6c7a4f0e-1b2c-4d3e-8f9a-0b1c2d3e4f5a");
    // WHEN parsed as the scan does
    let mut page =
        parse_contact_listing(&serde_json::to_vec(&listing).expect("json")).expect("listing");
    // THEN the next cursor is cursors.after, and entities map to (id, modifyDate, body)
    assert_eq!(page.next_cursor().as_deref(), Some("cursor-2"));
    let raw = contact_to_raw(page.entities.remove(0)).expect("raw");
    assert_eq!(raw.id, "6c7a4f0e-1b2c-4d3e-8f9a-0b1c2d3e4f5a");
    assert_eq!(
        raw.modified_at.to_rfc3339(),
        "2024-03-01T12:34:56.789+00:00"
    );
    assert_eq!(raw.body["workPhone"]["display"], "text");
    // AND the last page (no nextUri) has no cursor even when cursors.after is present
    listing.as_object_mut().expect("object").remove("nextUri");
    let last: CursorListing<Value> = serde_json::from_value(listing).expect("listing");
    assert_eq!(last.next_cursor(), None);
    // AND the typed listing works too
    let typed: CursorListing<ExternalContact> =
        serde_json::from_value(definition_example(&schema, "CursorContactListing", 2))
            .expect("typed");
    assert_eq!(typed.entities.len(), 1);
}

#[test]
fn external_source_listing_parses() {
    // GIVEN a CursorExternalSourceListing from the schema
    let schema = schema();
    let listing = definition_example(&schema, "CursorExternalSourceListing", 2);
    // WHEN parsed
    let typed: CursorListing<ExternalSource> = serde_json::from_value(listing).expect("listing");
    // THEN sources carry id, name and active
    let s = &typed.entities[0];
    assert_eq!(
        (s.id.as_deref(), s.name.as_deref(), s.active),
        (Some("text"), Some("text"), Some(true))
    );
}

#[test]
fn bulk_responses_parse_success_and_failure_results() {
    // GIVEN BulkContactsResponse and BulkFetchContactsResponse examples from the schema, with a
    // second, failed result
    let schema = schema();
    for name in [
        "BulkContactsResponse",
        "BulkFetchContactsResponse",
        "BulkDeleteResponse",
    ] {
        let mut resp = definition_example(&schema, name, 3);
        let ok = resp["results"][0].clone();
        let mut failed = ok.clone();
        failed["success"] = json!(false);
        failed["status"] = json!(400);
        failed.as_object_mut().expect("object").remove("entity");
        resp["results"] = json!([ok, failed]);
        // WHEN parsed the way the bulk client does
        let parsed = parse_bulk_response(&serde_json::to_vec(&resp).expect("json")).expect(name);
        // THEN results, error details and the echoed entity are all read
        assert_eq!(parsed.results.len(), 2, "{name}");
        assert!(parsed.results[0].success && parsed.results[0].entity.is_some());
        let error = parsed.results[1].error.as_ref().expect("error");
        assert_eq!(error.code.as_deref(), Some("text"));
        assert_eq!(error.retryable, Some(true));
        assert_eq!(error.status, Some(7));
        assert!(error.entity.is_some(), "{name}: error echoes the entity");
        assert_eq!(error.details[0].field_name.as_deref(), Some("text"));
        assert_eq!(parsed.error_count, Some(7));
        assert_eq!(parsed.error_indexes, Some(vec![7]));
    }
    // AND the typed model reads the echoed ExternalContact with its externalIds
    let typed: BulkResponse<ExternalContact> =
        serde_json::from_value(definition_example(&schema, "BulkContactsResponse", 5))
            .expect("typed");
    let echoed = typed.results[0]
        .error
        .as_ref()
        .and_then(|e| e.entity.as_ref())
        .expect("echo");
    assert_eq!(echoed.external_ids.as_ref().map(Vec::len), Some(1));
}

#[test]
fn error_bodies_and_the_429_example_parse() {
    // GIVEN the ErrorBody definition and the normalised 429 example
    let schema = schema();
    let body = definition_example(&schema, "ErrorBody", 2);
    let example = &schema["normalized_429_example"];
    // WHEN parsed
    let typed: ErrorBody = serde_json::from_value(body).expect("ErrorBody");
    let limited =
        parse_error_body(&serde_json::to_vec(&example["body"]).expect("json")).expect("429 body");
    // THEN the fields are read and Retry-After is understood
    assert_eq!(typed.details[0].error_code.as_deref(), Some("text"));
    assert_eq!(
        typed.limit.and_then(|l| l.namespace).as_deref(),
        Some("workforce.management.forecast")
    );
    assert_eq!(
        limited.code.as_deref(),
        Some("too.many.requests.retry.after")
    );
    assert_eq!(limited.status, Some(429));
    let retry_after = example["headers"]["Retry-After"].as_str().expect("header");
    assert_eq!(
        parse_retry_after(retry_after, chrono::Utc::now()),
        Some(std::time::Duration::from_secs(42))
    );
    // AND the 2017 official ErrorBody shape is read as well
    let legacy = example_from_legacy(&schema);
    let _: ErrorBody = serde_json::from_value(legacy).expect("legacy ErrorBody");
}

fn example_from_legacy(schema: &Value) -> Value {
    let legacy = json!({ "definitions": schema["legacy_2017_official"]["definitions"].clone() });
    match legacy["definitions"].get("ErrorBody") {
        Some(def) => example(&legacy, def, 2),
        None => json!({"message": "m", "code": "bad.request", "status": 400}),
    }
}
