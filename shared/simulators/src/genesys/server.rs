//! Request dispatch of the fake Genesys org: counting, faults, auth, rate and size limits.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method};
use axum::response::Response;

use super::{Org, bulk, contacts, error_body, identifier_lookup, oauth, sources};
use crate::counters::RequestKind;
use crate::http_server::IncomingRequest;

const CORRELATION_ID: HeaderName = HeaderName::from_static("inin-correlation-id");
const API_PREFIX: &str = "/api/v2/externalcontacts";

pub(crate) fn router(org: Arc<Org>) -> Router {
    Router::new().fallback(handle).with_state(org)
}

/// The API a request is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route {
    Token,
    Scan,
    ContactCreate,
    ContactGet(String),
    ContactReplace(String),
    ContactDelete(String),
    BulkFetch,
    BulkAdd,
    BulkUpdate,
    BulkRemove,
    IdentifierLookup,
    SourceList,
    SourceGet(String),
    SourceCreate,
    SchemaGet(String),
    Unknown,
}

impl Route {
    pub(crate) fn resolve(method: &Method, path: &str) -> Route {
        let path = path.trim_end_matches('/');
        if path == "/oauth/token" {
            return if method == Method::POST {
                Route::Token
            } else {
                Route::Unknown
            };
        }
        let Some(rest) = path.strip_prefix(API_PREFIX) else {
            return Route::Unknown;
        };
        let segments: Vec<&str> = rest.split('/').skip(1).collect();
        match (method.as_str(), segments.as_slice()) {
            ("GET", ["scan", "contacts"]) => Route::Scan,
            ("POST", ["contacts"]) => Route::ContactCreate,
            ("GET", ["contacts", "schemas", id]) => Route::SchemaGet((*id).to_string()),
            ("GET", ["contacts", id]) => Route::ContactGet((*id).to_string()),
            ("PUT", ["contacts", id]) => Route::ContactReplace((*id).to_string()),
            ("DELETE", ["contacts", id]) => Route::ContactDelete((*id).to_string()),
            ("POST", ["bulk", "contacts"]) => Route::BulkFetch,
            ("POST", ["bulk", "contacts", "add"]) => Route::BulkAdd,
            ("POST", ["bulk", "contacts", "update"]) => Route::BulkUpdate,
            ("POST", ["bulk", "contacts", "remove"]) => Route::BulkRemove,
            ("POST", ["identifierlookup", "contacts"]) => Route::IdentifierLookup,
            ("GET", ["externalsources"]) => Route::SourceList,
            ("GET", ["externalsources", id]) => Route::SourceGet((*id).to_string()),
            ("POST", ["externalsources"]) => Route::SourceCreate,
            _ => Route::Unknown,
        }
    }

    fn counter_key(&self, method: &Method, path: &str) -> String {
        let route = match self {
            Route::Token => "/oauth/token",
            Route::Scan => "/scan/contacts",
            Route::ContactCreate => "/contacts",
            Route::ContactGet(_) | Route::ContactReplace(_) | Route::ContactDelete(_) => {
                "/contacts/{id}"
            }
            Route::BulkFetch => "/bulk/contacts",
            Route::BulkAdd => "/bulk/contacts/add",
            Route::BulkUpdate => "/bulk/contacts/update",
            Route::BulkRemove => "/bulk/contacts/remove",
            Route::IdentifierLookup => "/identifierlookup/contacts",
            Route::SourceList | Route::SourceCreate => "/externalsources",
            Route::SourceGet(_) => "/externalsources/{id}",
            Route::SchemaGet(_) => "/contacts/schemas/{id}",
            Route::Unknown => path,
        };
        format!("{method} {route}")
    }

    fn kind(&self) -> RequestKind {
        match self {
            Route::Token => RequestKind::Auth,
            Route::Scan
            | Route::ContactGet(_)
            | Route::BulkFetch
            | Route::IdentifierLookup
            | Route::SourceList
            | Route::SourceGet(_)
            | Route::SchemaGet(_) => RequestKind::Read,
            Route::ContactCreate
            | Route::ContactReplace(_)
            | Route::ContactDelete(_)
            | Route::BulkAdd
            | Route::BulkUpdate
            | Route::BulkRemove
            | Route::SourceCreate => RequestKind::Write,
            Route::Unknown => RequestKind::Other,
        }
    }
}

async fn handle(State(org): State<Arc<Org>>, request: Request) -> Response {
    let correlation_id = uuid::Uuid::new_v4().to_string();
    let mut response = match IncomingRequest::read(request).await {
        Ok(request) => {
            let mut response = respond(&org, &request).await;
            let kind = Route::resolve(&request.method, &request.path).kind();
            if org.faults.hold_answer(kind == RequestKind::Write) {
                // Processed; the answer never comes (until the client goes away).
                std::future::pending::<()>().await;
            }
            if let Some(broken) = org.faults.take_malformed(&request.path) {
                response = crate::http_server::break_body(response, broken).await;
            }
            if let Some(delay) = org.faults.take_slow_answer(&request.path) {
                tokio::time::sleep(delay).await;
            }
            response
        }
        Err(_) => error_body::malformed_body(),
    };
    org.counters.record_status(response.status().as_u16());
    if let Ok(value) = HeaderValue::from_str(&correlation_id) {
        response.headers_mut().insert(CORRELATION_ID, value);
    }
    response
}

async fn respond(org: &Org, request: &IncomingRequest) -> Response {
    let route = Route::resolve(&request.method, &request.path);
    org.counters.record_request(
        &route.counter_key(&request.method, &request.path),
        route.kind(),
    );
    if let Some(delay) = org.faults.take_delay(&request.path) {
        tokio::time::sleep(delay).await;
    }
    if let Some(fault) = org.faults.take_status(&request.path) {
        return error_body::fault_response(fault);
    }
    if route == Route::Token {
        return oauth::token(org, request);
    }
    if let Some(refusal) = admit(org, request) {
        return refusal;
    }
    match route {
        Route::Scan => contacts::scan(org, request),
        Route::ContactCreate => contacts::create(org, request),
        Route::ContactGet(id) => contacts::get(org, &id),
        Route::ContactReplace(id) => contacts::replace(org, request, &id),
        Route::ContactDelete(id) => contacts::delete(org, &id),
        Route::BulkFetch => bulk::fetch(org, request),
        Route::BulkAdd => bulk::add(org, request),
        Route::BulkUpdate => bulk::update(org, request),
        Route::BulkRemove => bulk::remove(org, request),
        Route::IdentifierLookup => identifier_lookup::lookup(org, request),
        Route::SourceList => sources::list(org, request),
        Route::SourceGet(id) => sources::get(org, &id),
        Route::SourceCreate => sources::create(org, request),
        Route::SchemaGet(id) => sources::schema(org, &id),
        Route::Token | Route::Unknown => {
            error_body::not_found("The requested resource was not found.")
        }
    }
}

/// Auth, per-token rate limit and request size: `Some(response)` refuses the request.
fn admit(org: &Org, request: &IncomingRequest) -> Option<Response> {
    let Some(token) = request.bearer_token() else {
        return Some(error_body::authentication_required(
            "No authentication bearer token specified in authorization header.",
        ));
    };
    {
        let mut state = org.lock();
        if !state.tokens.contains(&token) {
            return Some(error_body::invalid_token());
        }
        if let Some(limit) = org.config.rate_limit_per_minute
            && let Some(retry_after) = state.rates.admit(&token, limit)
        {
            return Some(error_body::too_many_requests(retry_after));
        }
    }
    if request.body.len() > org.config.max_request_bytes {
        return Some(error_body::request_too_large(
            request.body.len(),
            org.config.max_request_bytes,
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_resolve_under_the_api_prefix() {
        // GIVEN API paths
        // WHEN resolving them
        // THEN they map to the right routes
        assert_eq!(
            Route::resolve(
                &Method::POST,
                "/api/v2/externalcontacts/bulk/contacts/update"
            ),
            Route::BulkUpdate
        );
        assert_eq!(
            Route::resolve(&Method::GET, "/api/v2/externalcontacts/contacts/abc"),
            Route::ContactGet("abc".into())
        );
        assert_eq!(
            Route::resolve(&Method::GET, "/api/v2/users"),
            Route::Unknown
        );
    }
}
