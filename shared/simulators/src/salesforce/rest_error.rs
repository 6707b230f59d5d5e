//! Salesforce REST error responses: a JSON array of `{message, errorCode}`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::fault::StatusFault;

/// `[{"message": message, "errorCode": code}]` with `status`.
pub(crate) fn rest_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!([{ "message": message, "errorCode": code }])),
    )
        .into_response()
}

pub(crate) fn invalid_session() -> Response {
    rest_error(
        StatusCode::UNAUTHORIZED,
        "INVALID_SESSION_ID",
        "Session expired or invalid",
    )
}

pub(crate) fn request_limit_exceeded() -> Response {
    rest_error(
        StatusCode::FORBIDDEN,
        "REQUEST_LIMIT_EXCEEDED",
        "TotalRequests Limit exceeded.",
    )
}

pub(crate) fn not_found() -> Response {
    rest_error(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        "The requested resource does not exist",
    )
}

pub(crate) fn json_parser_error() -> Response {
    rest_error(
        StatusCode::BAD_REQUEST,
        "JSON_PARSER_ERROR",
        "Json Deserialization failed: the request body is not valid JSON",
    )
}

/// The body a fault with this status gets on an API route.
pub(crate) fn fault_response(fault: StatusFault) -> Response {
    let status = StatusCode::from_u16(fault.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = match fault.status {
        401 => invalid_session(),
        403 => request_limit_exceeded(),
        404 => not_found(),
        429 => rest_error(
            status,
            "REQUEST_LIMIT_EXCEEDED",
            "ConcurrentPerOrgLongTxn Limit exceeded.",
        ),
        503 => rest_error(
            status,
            "SERVER_UNAVAILABLE",
            "Server temporarily unavailable. Please try again later.",
        ),
        400..=499 => rest_error(status, "INVALID_OPERATION", "The request was rejected."),
        _ => rest_error(
            status,
            "UNKNOWN_EXCEPTION",
            "An unexpected error occurred. Please include this ErrorId if you contact support: 1234567890-12345 (-1234567890)",
        ),
    };
    add_retry_after(&mut response, fault.retry_after_secs);
    response
}

/// The body a fault with this status gets on the token endpoint (OAuth error object).
pub(crate) fn oauth_fault_response(fault: StatusFault) -> Response {
    let status = StatusCode::from_u16(fault.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let (error, description) = match fault.status {
        400..=403 => ("invalid_client", "invalid client credentials"),
        429 | 503 => ("temporarily_unavailable", "service temporarily unavailable"),
        _ => ("server_error", "unexpected server error"),
    };
    let mut response = (status, Json(oauth_error(error, description))).into_response();
    add_retry_after(&mut response, fault.retry_after_secs);
    response
}

pub(crate) fn oauth_error(error: &str, description: &str) -> Value {
    json!({ "error": error, "error_description": description })
}

fn add_retry_after(response: &mut Response, retry_after_secs: Option<u64>) {
    if let Some(seconds) = retry_after_secs {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
}
