//! `POST /services/oauth2/token` with the client credentials flow.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::json;

use super::Org;
use super::record_id;
use super::rest_error::oauth_error;
use crate::http_server::IncomingRequest;

pub(crate) fn token(org: &Org, request: &IncomingRequest) -> Response {
    let grant_type = request.form_field("grant_type");
    if grant_type.as_deref() != Some("client_credentials") {
        return (
            StatusCode::BAD_REQUEST,
            Json(oauth_error(
                "unsupported_grant_type",
                "grant type not supported",
            )),
        )
            .into_response();
    }
    let credentials = request.basic_credentials().or_else(|| {
        Some((
            request.form_field("client_id")?,
            request.form_field("client_secret")?,
        ))
    });
    let valid = credentials.is_some_and(|(id, secret)| {
        id == org.config.client_id && secret == org.config.client_secret
    });
    if !valid {
        return (
            StatusCode::BAD_REQUEST,
            Json(oauth_error("invalid_client", "invalid client credentials")),
        )
            .into_response();
    }
    let issued_at = org.clock.now().timestamp_millis().to_string();
    let org_id = record_id::new_id("00D", 1);
    let user_id = record_id::new_id("005", 1);
    let access_token = format!("{}!{}", &org_id[..15], uuid::Uuid::new_v4().simple());
    let signature =
        base64::engine::general_purpose::STANDARD.encode(uuid::Uuid::new_v4().as_bytes());
    {
        let mut state = org.lock();
        state.tokens.insert(access_token.clone());
        tracing::debug!(tokens = state.tokens.len(), "salesforce token issued");
    }
    Json(json!({
        "access_token": access_token,
        "instance_url": org.url,
        "id": format!("{}/id/{org_id}/{user_id}", org.url),
        "token_type": "Bearer",
        "issued_at": issued_at,
        "signature": signature,
        "scope": "api",
    }))
    .into_response()
}
