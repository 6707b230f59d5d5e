//! `POST /oauth/token` (login host) with the client credentials grant and Basic auth.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::Org;
use crate::http_server::IncomingRequest;

/// Token lifetime reported to clients (tokens stay valid until `Fault::ExpireTokens`).
const EXPIRES_IN_SECS: u64 = 86_400;

fn oauth_error(error: &str, description: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({
            "error": error,
            "description": description,
            "error_description": description,
        })),
    )
        .into_response()
}

pub(crate) fn token(org: &Org, request: &IncomingRequest) -> Response {
    if request.form_field("grant_type").as_deref() != Some("client_credentials") {
        return oauth_error("unsupported_grant_type", "Unsupported grant type");
    }
    let valid = request.basic_credentials().is_some_and(|(id, secret)| {
        id == org.config.client_id && secret == org.config.client_secret
    });
    if !valid {
        return oauth_error("invalid_client", "client is not valid");
    }
    let access_token = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    {
        let mut state = org.lock();
        state.tokens.insert(access_token.clone());
        tracing::debug!(tokens = state.tokens.len(), "genesys token issued");
    }
    Json(json!({
        "access_token": access_token,
        "token_type": "bearer",
        "expires_in": EXPIRES_IN_SECS,
    }))
    .into_response()
}
