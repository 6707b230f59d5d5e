//! Salesforce REST response shapes (API-NOTES A.1, A.2, A.4) and the functions that parse them.
//! Public so the contract tests can run every recorded response through them.

use crate::credentials::Secret;
use crate::http::{DecodeError, decode, describe_json_error};
use chrono::{DateTime, Utc};
use contact_sync_pipeline::system::{Deletion, RawRecord, RecordError};
use serde::Deserialize;

/// `POST /services/oauth2/token` → 200. There is no `expires_in`: a 401 `INVALID_SESSION_ID`
/// is the expiry signal.
#[derive(Debug, Deserialize)]
pub struct TokenResponse {
    pub access_token: Secret,
    pub instance_url: String,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub token_type: Option<String>,
    #[serde(default)]
    pub issued_at: Option<String>,
    #[serde(default)]
    pub scope: Option<String>,
}

/// OAuth endpoint errors are an object, unlike REST errors.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct OAuthError {
    pub error: String,
    #[serde(default)]
    pub error_description: Option<String>,
}

/// One page of a SOQL query.
#[derive(Debug, Deserialize)]
pub struct QueryPage {
    #[serde(rename = "totalSize")]
    pub total_size: u64,
    pub done: bool,
    #[serde(rename = "nextRecordsUrl", default)]
    pub next_records_url: Option<String>,
    pub records: Vec<serde_json::Map<String, serde_json::Value>>,
}

/// A REST API error entry: `{"message","errorCode"[,"fields"]}`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct RestError {
    #[serde(default)]
    pub message: String,
    #[serde(rename = "errorCode")]
    pub error_code: String,
    #[serde(default)]
    pub fields: Vec<String>,
}

/// `GET .../sobjects/Contact/deleted/?start=&end=` → 200 (getDeleted).
#[derive(Debug, Deserialize)]
pub struct DeletedResponse {
    #[serde(rename = "deletedRecords", default)]
    pub deleted_records: Vec<DeletedRecord>,
    #[serde(rename = "earliestDateAvailable")]
    pub earliest_date_available: String,
    #[serde(rename = "latestDateCovered")]
    pub latest_date_covered: String,
}

/// One entry of [`DeletedResponse`].
#[derive(Debug, Deserialize)]
pub struct DeletedRecord {
    pub id: String,
    #[serde(rename = "deletedDate")]
    pub deleted_date: String,
}

/// One sObject Collections result (create/update/delete/upsert), in request order.
#[derive(Debug, Clone, Deserialize)]
pub struct SaveResult {
    #[serde(default)]
    pub id: Option<String>,
    pub success: bool,
    #[serde(default)]
    pub errors: Vec<SaveError>,
    #[serde(default)]
    pub created: Option<bool>,
}

/// A per-record error: note `statusCode`, not `errorCode`.
#[derive(Debug, Clone, Deserialize)]
pub struct SaveError {
    #[serde(rename = "statusCode", default)]
    pub status_code: Option<String>,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub fields: Vec<String>,
}

pub fn parse_token(body: &[u8]) -> Result<TokenResponse, DecodeError> {
    decode(body)
}

pub fn parse_oauth_error(body: &[u8]) -> Result<OAuthError, DecodeError> {
    decode(body)
}

pub fn parse_query_page(body: &[u8]) -> Result<QueryPage, DecodeError> {
    decode(body)
}

/// REST errors: an array of entries, or (some 400s) a single object.
/// Only JSON objects count as entries (serde would otherwise read a struct from an array, e.g.
/// the list of URLs of a 300 answer).
pub fn parse_rest_errors(body: &[u8]) -> Result<Vec<RestError>, DecodeError> {
    let entry = |v: serde_json::Value| -> Result<RestError, DecodeError> {
        if !v.is_object() {
            return Err(DecodeError("error entry is not an object".into()));
        }
        serde_json::from_value(v).map_err(|e| describe_json_error(&e))
    };
    match decode::<serde_json::Value>(body)? {
        serde_json::Value::Array(items) => items.into_iter().map(entry).collect(),
        v @ serde_json::Value::Object(_) => Ok(vec![entry(v)?]),
        _ => Err(DecodeError(
            "error body is neither an array nor an object".into(),
        )),
    }
}

/// getDeleted's answer, with its coverage dates parsed.
pub fn parse_deleted(body: &[u8]) -> Result<(DeletedResponse, DateTime<Utc>), DecodeError> {
    let parsed: DeletedResponse = decode(body)?;
    let earliest = parse_datetime(&parsed.earliest_date_available)
        .ok_or_else(|| DecodeError("earliestDateAvailable is not a datetime".into()))?;
    Ok((parsed, earliest))
}

pub fn parse_save_results(body: &[u8]) -> Result<Vec<SaveResult>, DecodeError> {
    decode(body)
}

/// Salesforce datetimes: `2011-07-07T00:37:00.000+0000` (offset without colon), also RFC 3339.
pub fn parse_datetime(value: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%S%.f%z")
        .or_else(|_| DateTime::parse_from_rfc3339(value))
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

/// A query record's `Id` and `SystemModstamp`.
fn id_and_stamp(
    record: &serde_json::Map<String, serde_json::Value>,
) -> Result<(String, DateTime<Utc>), DecodeError> {
    let id = record
        .get("Id")
        .and_then(|v| v.as_str())
        .ok_or_else(|| DecodeError("record without an Id".into()))?
        .to_owned();
    let stamp = record
        .get("SystemModstamp")
        .and_then(|v| v.as_str())
        .and_then(parse_datetime)
        .ok_or_else(|| DecodeError(format!("record {id} without a readable SystemModstamp")))?;
    Ok((id, stamp))
}

/// A query record as a [`RawRecord`]: `Id`, `SystemModstamp`, and the record object as returned.
pub fn record_to_raw(
    record: serde_json::Map<String, serde_json::Value>,
) -> Result<RawRecord, DecodeError> {
    let (id, modified_at) = id_and_stamp(&record)?;
    Ok(RawRecord {
        id,
        modified_at,
        body: serde_json::Value::Object(record),
    })
}

/// A deleted row of a `queryAll` as a [`Deletion`]: `Id`, `SystemModstamp` (when it was
/// deleted) and `MasterRecordId` (the survivor of a merge, null otherwise).
pub fn record_to_deletion(
    record: &serde_json::Map<String, serde_json::Value>,
) -> Result<Deletion, DecodeError> {
    let (id, deleted_at) = id_and_stamp(record)?;
    let merged_into = match record.get("MasterRecordId") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(master)) if !master.is_empty() => Some(master.clone()),
        Some(serde_json::Value::String(_)) => None,
        Some(_) => {
            return Err(DecodeError(format!(
                "deleted record {id}: MasterRecordId is not a string"
            )));
        }
    };
    Ok(Deletion {
        id,
        deleted_at,
        merged_into,
    })
}

/// Per-record error codes worth retrying later.
pub fn is_retryable_code(code: &str) -> bool {
    matches!(
        code,
        "UNABLE_TO_LOCK_ROW"
            | "ALL_OR_NONE_OPERATION_ROLLED_BACK"
            | "REQUEST_RUNNING_TOO_LONG"
            | "SERVER_UNAVAILABLE"
            | "API_TEMPORARILY_UNAVAILABLE"
            | "REQUEST_LIMIT_EXCEEDED"
            | "PROCESSING_HALTED"
    )
}

/// A result as the record's outcome: the id, or the first error's code with every message.
pub fn save_result_outcome(result: SaveResult) -> Result<String, RecordError> {
    if result.success {
        return result
            .id
            .filter(|id| !id.is_empty())
            .ok_or_else(|| RecordError {
                code: "MISSING_ID".into(),
                message: "Salesforce reported success without an id".into(),
                retryable: false,
            });
    }
    let code = result
        .errors
        .iter()
        .find_map(|e| e.status_code.clone())
        .unwrap_or_else(|| "UNKNOWN_ERROR".into());
    let message = result
        .errors
        .iter()
        .map(|e| {
            if e.fields.is_empty() {
                e.message.clone()
            } else {
                format!("{} (fields: {})", e.message, e.fields.join(", "))
            }
        })
        .collect::<Vec<_>>()
        .join("; ");
    let retryable = result
        .errors
        .iter()
        .filter_map(|e| e.status_code.as_deref())
        .any(is_retryable_code);
    Err(RecordError {
        code,
        message,
        retryable,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetimes_parse_with_and_without_offset_colon() {
        // GIVEN the three spellings Salesforce and our own literals use
        let expected = DateTime::parse_from_rfc3339("2011-07-07T00:37:00Z")
            .map(|d| d.with_timezone(&Utc))
            .ok();
        // WHEN parsed
        // THEN they all denote the same instant
        assert_eq!(parse_datetime("2011-07-07T00:37:00.000+0000"), expected);
        assert_eq!(parse_datetime("2011-07-07T02:37:00.000+0200"), expected);
        assert_eq!(parse_datetime("2011-07-07T00:37:00.000Z"), expected);
        assert_eq!(parse_datetime("2011-07-07T00:37:00+00:00"), expected);
        assert_eq!(parse_datetime("yesterday"), None);
    }
}
