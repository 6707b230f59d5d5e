//! Contract tests: every recorded Salesforce response in `reference/salesforce/` goes
//! through the client's own parsing functions.

use contact_sync_connectors::salesforce::bulk::parse_results_csv;
use contact_sync_connectors::salesforce::wire::{
    SaveResult, parse_datetime, parse_deleted, parse_oauth_error, parse_query_page,
    parse_rest_errors, parse_save_results, parse_token, record_to_raw, save_result_outcome,
};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::PathBuf;

fn reference_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../reference/salesforce")
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(reference_dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn index() -> Value {
    serde_json::from_slice(&read("index.json")).expect("index.json is JSON")
}

/// The HTTP status recorded for a file in index.json (`"... -> 200"`).
fn recorded_status(index: &Value, name: &str) -> Option<u16> {
    let http = index["files"][name]["http"].as_str()?;
    http.rsplit("-> ")
        .next()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn outcomes(body: &[u8]) -> Vec<Result<String, contact_sync_pipeline::system::RecordError>> {
    parse_save_results(body)
        .expect("collection results parse")
        .into_iter()
        .map(save_result_outcome)
        .collect()
}

/// Checks one file with the parser its kind calls for; returns what was checked.
fn check(name: &str, body: &[u8], status: Option<u16>) -> &'static str {
    match name {
        n if n.starts_with("oauth_token_") || n == "oauth_refresh_success__restforce.json" => {
            let t = parse_token(body).expect("token parses");
            assert!(!t.access_token.expose().is_empty());
            assert!(
                url::Url::parse(&t.instance_url).is_ok(),
                "{name}: instance_url"
            );
            assert!(
                !format!("{t:?}").contains(t.access_token.expose()),
                "{name}: token in Debug"
            );
            "token"
        }
        n if n.starts_with("oauth_") => {
            let e = parse_oauth_error(body).expect("oauth error parses");
            assert_eq!(e.error, "invalid_grant");
            assert!(e.error_description.is_some());
            // A token parse of an error body fails without quoting it.
            let err = parse_token(body).expect_err("not a token");
            assert!(!err.to_string().contains("Password"), "{err}");
            "oauth error"
        }
        n if n.starts_with("query") => {
            let page = parse_query_page(body).expect("query page parses");
            assert_eq!(
                page.done,
                page.next_records_url.is_none(),
                "{name}: done vs nextRecordsUrl"
            );
            if let Some(next) = &page.next_records_url {
                assert!(
                    next.starts_with("/services/data/"),
                    "{name}: relative nextRecordsUrl"
                );
            }
            for r in &page.records {
                assert!(
                    r["attributes"]["type"].is_string(),
                    "{name}: attributes.type"
                );
            }
            assert!(page.total_size >= page.records.len() as u64);
            "query page"
        }
        n if n.starts_with("error_")
            || n == "bulk2_query_results_412_job_not_complete__sfdocs.json" =>
        {
            let errors = parse_rest_errors(body).expect("REST error array parses");
            assert!(!errors.is_empty());
            assert!(
                errors
                    .iter()
                    .all(|e| !e.error_code.is_empty() && !e.message.is_empty())
            );
            let code = errors[0].error_code.as_str();
            match status {
                Some(401) => assert_eq!(code, "INVALID_SESSION_ID"),
                Some(403) => assert_eq!(code, "REQUEST_LIMIT_EXCEEDED"),
                _ => {}
            }
            "REST error array"
        }
        "composite_sobjects_400_body_object__restforce.json"
        | "composite_sobjects_delete_400_no_ids__restforce.json" => {
            let errors = parse_rest_errors(body).expect("400 body parses (object or array)");
            assert_eq!(errors.len(), 1);
            assert!(
                ["INVALID_FIELD", "REQUIRED_FIELD_MISSING"]
                    .contains(&errors[0].error_code.as_str())
            );
            "REST error (object or array)"
        }
        "composite_sobjects_200_all_success__restforce.json" => {
            assert_eq!(outcomes(body), vec![Ok("some_id".to_owned())]);
            "collection results"
        }
        "composite_sobjects_delete_200__restforce.json" => {
            assert_eq!(outcomes(body), vec![Ok("Foo".to_owned())]);
            "collection results"
        }
        "composite_sobjects_update_200__sfdocs.json" => {
            assert_eq!(
                outcomes(body),
                vec![
                    Ok("001xx000003DGb2AAG".to_owned()),
                    Ok("003xx000004TmiQAAS".to_owned())
                ]
            );
            "collection results"
        }
        "composite_sobjects_upsert_created_and_updated__sfdocs.json" => {
            let results = parse_save_results(body).expect("upsert results");
            assert_eq!(
                results.iter().map(|r| r.created).collect::<Vec<_>>(),
                vec![Some(true), Some(false)]
            );
            "collection results"
        }
        "composite_sobjects_create_allornone_true_rollback__sfdocs.json" => {
            let got = outcomes(body);
            let first = got[0].clone().expect_err("duplicate");
            let second = got[1].clone().expect_err("rolled back");
            assert_eq!(first.code, "DUPLICATES_DETECTED");
            assert!(!first.retryable);
            assert_eq!(second.code, "ALL_OR_NONE_OPERATION_ROLLED_BACK");
            assert!(second.retryable, "a rolled-back record can be sent again");
            "collection results"
        }
        "composite_sobjects_delete_allornone_true_mixed__sfdocs.json" => {
            let codes: Vec<String> = outcomes(body)
                .into_iter()
                .map(|o| o.expect_err("all failed").code)
                .collect();
            assert_eq!(
                codes,
                vec!["ALL_OR_NONE_OPERATION_ROLLED_BACK", "MALFORMED_ID"]
            );
            "collection results"
        }
        "sobject_create_201__restforce.json" | "upsert_extid_201_created__restforce.json" => {
            let r: SaveResult = serde_json::from_slice(body).expect("single save result");
            assert!(save_result_outcome(r).is_ok());
            "single save result"
        }
        "upsert_extid_300_multiple_matches__restforce.json" => {
            // A list of record URLs: neither a REST error nor results. The client never upserts
            // by external id; it must simply not mistake this for an error array.
            assert!(parse_rest_errors(body).is_err());
            assert!(parse_save_results(body).is_err());
            "300 body (not used)"
        }
        "get_updated__restforce.json" | "get_deleted__restforce.json" => {
            let v: Value = serde_json::from_slice(body).expect("json");
            let latest = v["latestDateCovered"].as_str().expect("latestDateCovered");
            assert!(
                parse_datetime(latest).is_some(),
                "{name}: datetime without colon parses"
            );
            if let Some(deleted) = v["deletedRecords"].as_array() {
                for d in deleted {
                    assert!(parse_datetime(d["deletedDate"].as_str().unwrap_or("")).is_some());
                }
            }
            if name == "get_deleted__restforce.json" {
                let (parsed, earliest) = parse_deleted(body).expect("getDeleted parses");
                assert_eq!(parsed.deleted_records.len(), 1);
                assert_eq!(parsed.deleted_records[0].id, "a00D0000008pQRAIA2");
                assert!(parse_datetime(&parsed.deleted_records[0].deleted_date).is_some());
                assert_eq!(earliest.to_rfc3339(), "2013-05-03T15:57:00+00:00");
                return "getDeleted (coverage dates)";
            }
            "replication (datetimes)"
        }
        "bulk2_query_job_create_200__sfdocs.json" => {
            let v: Value = serde_json::from_slice(body).expect("json");
            assert!(parse_datetime(v["systemModstamp"].as_str().unwrap_or("")).is_some());
            // The client reads the job id (letters and digits only) and the state.
            let id = v["id"].as_str().expect("id");
            assert!(id.bytes().all(|b| b.is_ascii_alphanumeric()));
            assert_eq!(v["state"], "UploadComplete");
            "bulk 2.0 query job"
        }
        "bulk2_ingest_job_open__simple_salesforce_mock.json" => {
            let v: Value = serde_json::from_slice(body).expect("json");
            assert_eq!(v["state"], "Open");
            "bulk 2.0 job (unused)"
        }
        "bulk2_query_results_page__sfdocs.csv" => {
            let records = parse_results_csv(body, "v58.0").expect("results CSV parses");
            assert_eq!(records.len(), 3);
            assert_eq!(records[0]["Id"], "005R0000000UyrWIAS");
            assert_eq!(records[0]["Name"], "Jane Dunn");
            assert_eq!(records[0]["attributes"]["type"], "Contact");
            "bulk 2.0 results CSV"
        }
        other => panic!("reference file {other} is not covered by the contract tests"),
    }
}

#[test]
fn every_recorded_salesforce_response_parses() {
    // GIVEN every file of the recorded Salesforce responses, and the index of their statuses
    let index = index();
    let mut names: Vec<String> = std::fs::read_dir(reference_dir())
        .expect("reference directory")
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|n| n != "index.json")
        .collect();
    names.sort();
    assert!(
        names.len() >= 31,
        "expected the 31 recorded bodies, found {}",
        names.len()
    );
    // AND the index describes exactly these files
    let indexed: BTreeSet<String> = index["files"]
        .as_object()
        .expect("files")
        .keys()
        .cloned()
        .collect();
    assert_eq!(indexed, names.iter().cloned().collect::<BTreeSet<_>>());
    // WHEN each goes through the parser its kind calls for
    // THEN every one parses as the client expects (check() panics on any surprise)
    for name in &names {
        let kind = check(name, &read(name), recorded_status(&index, name));
        assert!(!kind.is_empty());
    }
}

#[test]
fn contact_records_become_raw_records() {
    // GIVEN a Contact record in the query shape (attributes + fields, offset without colon)
    let body = br#"{"totalSize":1,"done":true,"records":[{"attributes":{"type":"Contact",
        "url":"/services/data/v62.0/sobjects/Contact/003000000000001AAA"},
        "Id":"003000000000001AAA","SystemModstamp":"2011-07-07T00:37:00.000+0000",
        "Email":"jane@example.com"}]}"#;
    // WHEN the page is parsed and the record mapped
    let mut page = parse_query_page(body).expect("page");
    let raw = record_to_raw(page.records.remove(0)).expect("record");
    // THEN id and stamp come from Id and SystemModstamp, and the body is the record as returned
    assert_eq!(raw.id, "003000000000001AAA");
    assert_eq!(raw.modified_at.to_rfc3339(), "2011-07-07T00:37:00+00:00");
    assert_eq!(raw.body["attributes"]["type"], "Contact");
    assert_eq!(raw.body["Email"], "jane@example.com");
    // AND Debug never shows the body
    assert!(!format!("{raw:?}").contains("jane"));
}

#[test]
fn a_record_without_stamp_is_an_error_not_a_silent_drop() {
    // GIVEN a record missing SystemModstamp (the fixture shapes lack it)
    let page = parse_query_page(&read("query_done__sfdocs.json")).expect("page");
    // WHEN mapped
    // THEN mapping fails (a page that cannot be read is an error)
    for r in page.records {
        assert!(record_to_raw(r).is_err());
    }
}
