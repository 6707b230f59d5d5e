//! `POST /services/oauth2/token` with the client credentials flow or the JWT bearer flow (an
//! RS256 assertion signed with the connected app's certificate key, API-NOTES A.4).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::json;

use super::Org;
use super::record_id;
use super::rest_error::oauth_error;
use crate::http_server::IncomingRequest;

const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

fn refused(error: &str, description: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(oauth_error(error, description)),
    )
        .into_response()
}

#[derive(serde::Deserialize)]
struct AssertionClaims {
    #[allow(dead_code)]
    sub: String,
}

/// Checks a JWT bearer assertion: RS256 signature by the configured key, `iss` = the client
/// id, `sub` = the integration user, `aud` = a login host or this org, `exp` in the future.
fn assertion_is_valid(org: &Org, assertion: &str) -> bool {
    let Some(public_key) = org.config.jwt_public_key_pem.as_deref() else {
        return false;
    };
    let Ok(key) = jsonwebtoken::DecodingKey::from_rsa_pem(public_key.as_bytes()) else {
        return false;
    };
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[
        "https://login.salesforce.com",
        "https://test.salesforce.com",
        org.url.as_str(),
    ]);
    validation.set_issuer(&[org.config.client_id.as_str()]);
    validation.sub = Some(org.config.jwt_username.clone());
    validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
    jsonwebtoken::decode::<AssertionClaims>(assertion, &key, &validation).is_ok()
}

pub(crate) fn token(org: &Org, request: &IncomingRequest) -> Response {
    match request.form_field("grant_type").as_deref() {
        Some("client_credentials") => {
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
                return refused("invalid_client", "invalid client credentials");
            }
        }
        Some(JWT_BEARER) => {
            let valid = request
                .form_field("assertion")
                .is_some_and(|assertion| assertion_is_valid(org, &assertion));
            if !valid {
                return refused("invalid_grant", "invalid assertion");
            }
        }
        _ => return refused("unsupported_grant_type", "grant type not supported"),
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
