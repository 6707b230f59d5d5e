//! `GET .../sobjects/Contact/deleted/?start=&end=` (getDeleted, API-NOTES A.1): the deletes
//! still in the Recycle Bin between two datetimes (seconds ignored), with
//! `earliestDateAvailable` and `latestDateCovered`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, DurationRound, Utc};
use serde_json::{Value, json};

use super::Org;
use super::contact::{format_datetime, parse_datetime};
use super::rest_error::rest_error;
use crate::http_server::IncomingRequest;

/// How far back the delete log reaches at most.
const RETENTION_DAYS: i64 = 15;

fn minute(time: DateTime<Utc>) -> DateTime<Utc> {
    time.duration_trunc(Duration::minutes(1)).unwrap_or(time)
}

pub(crate) fn get_deleted(org: &Org, request: &IncomingRequest) -> Response {
    let param = |name: &str| {
        request
            .query_param(name)
            .as_deref()
            .and_then(parse_datetime)
    };
    let (Some(start), Some(end)) = (param("start"), param("end")) else {
        return rest_error(
            StatusCode::BAD_REQUEST,
            "INVALID_REPLICATION_DATE",
            "start and end must be valid dateTimes",
        );
    };
    let (start, end) = (minute(start), minute(end));
    if end <= start {
        return rest_error(
            StatusCode::BAD_REQUEST,
            "INVALID_REPLICATION_DATE",
            "end must be after start",
        );
    }
    let now = org.clock.now();
    let state = org.lock();
    let horizon = now - Duration::days(RETENTION_DAYS);
    // Rounded up to the minute: a purge at 12:30:15 may have lost a delete of 12:30:10.
    let earliest = state
        .earliest_deleted_available
        .map_or(horizon, |purged| purged.max(horizon));
    let earliest = if minute(earliest) == earliest {
        earliest
    } else {
        minute(earliest) + Duration::minutes(1)
    };
    let latest = minute(now).min(end);
    let deleted: Vec<Value> = state
        .contacts
        .records()
        .filter(|record| record.get("IsDeleted") == Some(&Value::Bool(true)))
        .filter_map(|record| {
            let stamp = record
                .get("SystemModstamp")
                .and_then(Value::as_str)
                .and_then(parse_datetime)?;
            (stamp >= start && stamp < latest).then(|| {
                json!({
                    "id": record.get("Id").cloned().unwrap_or(Value::Null),
                    "deletedDate": format_datetime(stamp),
                })
            })
        })
        .collect();
    Json(json!({
        "deletedRecords": deleted,
        "earliestDateAvailable": format_datetime(earliest),
        "latestDateCovered": format_datetime(latest),
    }))
    .into_response()
}
