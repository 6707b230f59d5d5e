//! Genesys Cloud `ErrorBody` responses.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::fault::StatusFault;

/// `{message, code, status, contextId, details, errors}`.
pub(crate) fn error_body(status: StatusCode, code: &str, message: &str) -> Response {
    error_with_details(status, code, message, Vec::new())
}

/// An ErrorBody with `details` (Detail: `{errorCode, fieldName, entityId, entityName}`).
pub(crate) fn error_with_details(
    status: StatusCode,
    code: &str,
    message: &str,
    details: Vec<Value>,
) -> Response {
    let body = json!({
        "message": message,
        "code": code,
        "status": status.as_u16(),
        "contextId": uuid::Uuid::new_v4().to_string(),
        "details": details,
        "errors": [],
    });
    (status, Json(body)).into_response()
}

pub(crate) fn bad_request(message: &str) -> Response {
    error_body(StatusCode::BAD_REQUEST, "bad.request", message)
}

pub(crate) fn malformed_body() -> Response {
    bad_request("The request could not be understood by the server due to malformed syntax.")
}

pub(crate) fn not_found(message: &str) -> Response {
    error_body(StatusCode::NOT_FOUND, "not.found", message)
}

pub(crate) fn authentication_required(message: &str) -> Response {
    error_body(StatusCode::UNAUTHORIZED, "authentication.required", message)
}

pub(crate) fn invalid_token() -> Response {
    authentication_required("Authentication failed: the bearer token is invalid or has expired.")
}

/// The normalised 429 (2021-11-10) with `Retry-After`.
pub(crate) fn too_many_requests(retry_after_secs: u64) -> Response {
    let mut response = error_body(
        StatusCode::TOO_MANY_REQUESTS,
        "too.many.requests.retry.after",
        &format!(
            "Rate limit exceeded the maximum. Retry the request in [{retry_after_secs}] seconds"
        ),
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
    response
}

pub(crate) fn request_too_large(content_length: usize, maximum: usize) -> Response {
    error_body(
        StatusCode::PAYLOAD_TOO_LARGE,
        "request.entity.too.large",
        &format!(
            "The request is over the size limit. Content-Length: {content_length}, Maximum bytes: {maximum}"
        ),
    )
}

/// The body a fault with this status gets (token endpoint included).
pub(crate) fn fault_response(fault: StatusFault) -> Response {
    let status = StatusCode::from_u16(fault.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = match fault.status {
        401 => invalid_token(),
        429 => return too_many_requests(fault.retry_after_secs.unwrap_or(1)),
        400 => bad_request("The request could not be processed."),
        403 => error_body(
            status,
            "missing.permissions",
            "You are missing the required permissions for this operation.",
        ),
        404 => not_found("The requested resource was not found."),
        413 => request_too_large(0, 0),
        503 => error_body(
            status,
            "service.unavailable",
            "Service Unavailable. The server is currently unavailable (because it is overloaded or down for maintenance).",
        ),
        504 => error_body(status, "request.timeout", "The request timed out."),
        _ => error_body(
            status,
            "internal.server.error",
            "The server encountered an unexpected condition which prevented it from fulfilling the request.",
        ),
    };
    if let Some(seconds) = fault.retry_after_secs {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}
