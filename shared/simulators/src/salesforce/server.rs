//! Request dispatch of the fake Salesforce org: counting, faults, auth, API usage.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use axum::response::Response;

use super::{Org, bulk_query, collections, deleted, describe, oauth, query, rest_error, sobject};
use crate::counters::RequestKind;
use crate::http_server::IncomingRequest;

const LIMIT_INFO: HeaderName = HeaderName::from_static("sforce-limit-info");

pub(crate) fn router(org: Arc<Org>) -> Router {
    Router::new().fallback(handle).with_state(org)
}

/// The API a request is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route {
    Token,
    Query { version: String, all: bool },
    QueryMore { version: String, locator: String },
    CollectionCreate,
    CollectionUpdate,
    CollectionDelete,
    ContactCreate,
    ContactDeleted,
    ContactDescribe,
    BulkQueryCreate { version: String },
    BulkQueryGet { id: String },
    BulkQueryResults { id: String },
    ContactGet { version: String, id: String },
    ContactUpdate { id: String },
    ContactDelete { id: String },
    Unknown,
}

impl Route {
    pub(crate) fn resolve(method: &Method, path: &str) -> Route {
        let path = path.trim_end_matches('/');
        if path == "/services/oauth2/token" {
            return if method == Method::POST {
                Route::Token
            } else {
                Route::Unknown
            };
        }
        let Some(rest) = path.strip_prefix("/services/data/") else {
            return Route::Unknown;
        };
        let segments: Vec<&str> = rest.split('/').collect();
        let Some((version, segments)) = segments.split_first() else {
            return Route::Unknown;
        };
        if !is_api_version(version) {
            return Route::Unknown;
        }
        let version = (*version).to_string();
        let is_contact = |name: &str| name.eq_ignore_ascii_case("Contact");
        match (method.as_str(), segments) {
            ("GET", ["query"]) => Route::Query {
                version,
                all: false,
            },
            ("GET", ["queryAll"]) => Route::Query { version, all: true },
            ("GET", ["query" | "queryAll", locator]) => Route::QueryMore {
                version,
                locator: (*locator).to_string(),
            },
            ("POST", ["jobs", "query"]) => Route::BulkQueryCreate { version },
            ("GET", ["jobs", "query", id]) => Route::BulkQueryGet {
                id: (*id).to_string(),
            },
            ("GET", ["jobs", "query", id, "results"]) => Route::BulkQueryResults {
                id: (*id).to_string(),
            },
            ("POST", ["composite", "sobjects"]) => Route::CollectionCreate,
            ("PATCH", ["composite", "sobjects"]) => Route::CollectionUpdate,
            ("DELETE", ["composite", "sobjects"]) => Route::CollectionDelete,
            ("POST", ["sobjects", object]) if is_contact(object) => Route::ContactCreate,
            ("GET", ["sobjects", object, "deleted"]) if is_contact(object) => Route::ContactDeleted,
            ("GET", ["sobjects", object, "describe"]) if is_contact(object) => {
                Route::ContactDescribe
            }
            ("GET", ["sobjects", object, id]) if is_contact(object) => Route::ContactGet {
                version,
                id: (*id).to_string(),
            },
            ("PATCH", ["sobjects", object, id]) if is_contact(object) => Route::ContactUpdate {
                id: (*id).to_string(),
            },
            ("DELETE", ["sobjects", object, id]) if is_contact(object) => Route::ContactDelete {
                id: (*id).to_string(),
            },
            _ => Route::Unknown,
        }
    }

    /// The key of this route in `Counters::by_route`.
    fn counter_key(&self, method: &Method, path: &str) -> String {
        let route = match self {
            Route::Token => "/services/oauth2/token",
            Route::Query { all: false, .. } => "/query",
            Route::Query { all: true, .. } => "/queryAll",
            Route::QueryMore { .. } => "/query/{locator}",
            Route::CollectionCreate | Route::CollectionUpdate | Route::CollectionDelete => {
                "/composite/sobjects"
            }
            Route::ContactCreate => "/sobjects/Contact",
            Route::ContactDeleted => "/sobjects/Contact/deleted",
            Route::ContactDescribe => "/sobjects/Contact/describe",
            Route::BulkQueryCreate { .. } => "/jobs/query",
            Route::BulkQueryGet { .. } => "/jobs/query/{id}",
            Route::BulkQueryResults { .. } => "/jobs/query/{id}/results",
            Route::ContactGet { .. }
            | Route::ContactUpdate { .. }
            | Route::ContactDelete { .. } => "/sobjects/Contact/{id}",
            Route::Unknown => path,
        };
        format!("{method} {route}")
    }

    fn kind(&self) -> RequestKind {
        match self {
            Route::Token => RequestKind::Auth,
            Route::Query { .. }
            | Route::QueryMore { .. }
            | Route::ContactGet { .. }
            | Route::ContactDeleted
            | Route::ContactDescribe
            | Route::BulkQueryCreate { .. }
            | Route::BulkQueryGet { .. }
            | Route::BulkQueryResults { .. } => RequestKind::Read,
            Route::CollectionCreate
            | Route::CollectionUpdate
            | Route::CollectionDelete
            | Route::ContactCreate
            | Route::ContactUpdate { .. }
            | Route::ContactDelete { .. } => RequestKind::Write,
            Route::Unknown => RequestKind::Other,
        }
    }
}

/// `vNN.N`
fn is_api_version(segment: &str) -> bool {
    segment
        .strip_prefix('v')
        .and_then(|number| number.split_once('.'))
        .is_some_and(|(major, minor)| {
            !major.is_empty()
                && !minor.is_empty()
                && major.chars().all(|c| c.is_ascii_digit())
                && minor.chars().all(|c| c.is_ascii_digit())
        })
}

async fn handle(State(org): State<Arc<Org>>, request: Request) -> Response {
    let request = match IncomingRequest::read(request).await {
        Ok(request) => request,
        Err(_) => return rest_error::json_parser_error(),
    };
    let route = Route::resolve(&request.method, &request.path);
    org.counters.record_request(
        &route.counter_key(&request.method, &request.path),
        route.kind(),
    );
    if let Some(delay) = org.faults.take_delay(&request.path) {
        tokio::time::sleep(delay).await;
    }
    if route == Route::Token {
        if let Some(fault) = org.faults.take_status(&request.path) {
            return rest_error::oauth_fault_response(fault);
        }
        return oauth::token(&org, &request);
    }
    let mut response = if let Some(fault) = org.faults.take_status(&request.path) {
        rest_error::fault_response(fault)
    } else {
        api_call(&org, &route, &request)
    };
    org.counters.record_status(response.status().as_u16());
    if org.faults.hold_answer(route.kind() == RequestKind::Write) {
        // Processed; the answer never comes (until the client goes away).
        std::future::pending::<()>().await;
    }
    if let Some(broken) = org.faults.take_malformed(&request.path) {
        response = crate::http_server::break_body(response, broken).await;
    }
    if let Some(delay) = org.faults.take_slow_answer(&request.path) {
        tokio::time::sleep(delay).await;
    }
    let usage = org.lock().api_usage;
    let limit_info = format!("api-usage={usage}/{}", org.config.daily_api_limit);
    if let Ok(value) = HeaderValue::from_str(&limit_info) {
        response.headers_mut().insert(LIMIT_INFO, value);
    }
    response
}

fn api_call(org: &Org, route: &Route, request: &IncomingRequest) -> Response {
    {
        let mut state = org.lock();
        let authorised = request
            .bearer_token()
            .is_some_and(|token| state.tokens.contains(&token));
        if !authorised {
            return rest_error::invalid_session();
        }
        state.api_usage += 1;
        if state.api_usage > org.config.daily_api_limit {
            return rest_error::request_limit_exceeded();
        }
    }
    match route {
        Route::Query { version, all } => query::run(org, request, version, *all),
        Route::QueryMore { version, locator } => query::more(org, version, locator),
        Route::CollectionCreate => collections::create(org, request),
        Route::CollectionUpdate => collections::update(org, request),
        Route::CollectionDelete => collections::delete(org, request),
        Route::ContactCreate => sobject::create(org, request),
        Route::ContactDeleted => deleted::get_deleted(org, request),
        Route::ContactDescribe => describe::contact(org),
        Route::BulkQueryCreate { version } => bulk_query::create(org, request, version),
        Route::BulkQueryGet { id } => bulk_query::status(org, id),
        Route::BulkQueryResults { id } => bulk_query::results(org, request, id),
        Route::ContactGet { version, id } => sobject::get(org, request, version, id),
        Route::ContactUpdate { id } => sobject::update(org, request, id),
        Route::ContactDelete { id } => sobject::delete(org, id),
        Route::Token | Route::Unknown => rest_error::not_found(),
    }
}

/// An empty-bodied response.
pub(crate) fn no_content() -> Response {
    let mut response = Response::default();
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_accept_any_api_version() {
        // GIVEN paths with different API versions
        // WHEN resolving them
        // THEN the version is kept and unknown shapes are Unknown
        assert_eq!(
            Route::resolve(&Method::GET, "/services/data/v62.0/query/"),
            Route::Query {
                version: "v62.0".into(),
                all: false
            }
        );
        assert_eq!(
            Route::resolve(&Method::DELETE, "/services/data/v58.0/composite/sobjects"),
            Route::CollectionDelete
        );
        assert_eq!(
            Route::resolve(&Method::GET, "/services/data/latest/query"),
            Route::Unknown
        );
    }
}
