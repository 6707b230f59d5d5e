//! OAuth 2.0 against the org's My Domain or a login host (API-NOTES A.4): client credentials,
//! or the JWT bearer flow with an RS256 assertion signed by the connected app's private key
//! (`jsonwebtoken` with its pure-Rust backend).

use super::wire::{parse_oauth_error, parse_token};
use crate::credentials::Secret;
use crate::http::{Expiring, Replay, Retrier, protocol};
use contact_sync_engine::Side;
use contact_sync_pipeline::system::SystemError;

/// A session: the bearer token and the instance every API call goes to.
pub(crate) struct Session {
    pub access_token: Secret,
    /// Without a trailing slash.
    pub instance_url: String,
}

impl Expiring for Session {
    // Salesforce does not say when a session ends; a 401 tells.
    fn is_fresh(&self) -> bool {
        true
    }
}

/// The JWT bearer flow's settings: the assertion names `client_id` as `iss`, `username` as
/// `sub`, `audience` as `aud`, and is signed with `private_key_pem` (RSA, PEM).
#[derive(Debug, Clone)]
pub struct JwtBearer {
    /// The integration user the app was pre-authorised for.
    pub username: String,
    /// `https://login.salesforce.com`, `https://test.salesforce.com` or a community URL.
    pub audience: String,
    /// PKCS#1 or PKCS#8 RSA private key in PEM.
    pub private_key_pem: Secret,
}

const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// Lifetime of an assertion: Salesforce accepts up to a few minutes.
const ASSERTION_LIFETIME_SECS: i64 = 180;

#[derive(serde::Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    exp: i64,
}

/// A signed assertion. Errors name the problem, never the key.
pub(crate) fn assertion(client_id: &str, jwt: &JwtBearer) -> Result<Secret, SystemError> {
    let config = |message: &str| SystemError::Config {
        side: Side::Salesforce,
        message: message.into(),
    };
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(jwt.private_key_pem.expose().as_bytes())
        .map_err(|_| config("the JWT private key is not an RSA private key in PEM"))?;
    let claims = Claims {
        iss: client_id,
        sub: &jwt.username,
        aud: &jwt.audience,
        exp: chrono::Utc::now().timestamp() + ASSERTION_LIFETIME_SECS,
    };
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        &claims,
        &key,
    )
    .map(Secret::new)
    .map_err(|_| config("the JWT assertion cannot be signed with this key"))
}

pub(crate) async fn request_session(
    http: &reqwest::Client,
    retrier: &Retrier,
    login_url: &str,
    client_id: &str,
    client_secret: &Secret,
    jwt: Option<&JwtBearer>,
) -> Result<Session, SystemError> {
    let side = Side::Salesforce;
    let url = format!("{}/services/oauth2/token", login_url.trim_end_matches('/'));
    let assertion = jwt.map(|jwt| assertion(client_id, jwt)).transpose()?;
    let resp = retrier
        .send("oauth token", Replay::Safe, || match &assertion {
            Some(assertion) => http.post(&url).form(&[
                ("grant_type", JWT_BEARER),
                ("assertion", assertion.expose()),
            ]),
            None => http.post(&url).form(&[
                ("grant_type", "client_credentials"),
                ("client_id", client_id),
                ("client_secret", client_secret.expose()),
            ]),
        })
        .await?;
    tracing::debug!(side = %side, status = resp.status, "salesforce token response");
    if resp.is_success() {
        let token =
            parse_token(&resp.body).map_err(|e| protocol(side, resp.status, "oauth token", e))?;
        let instance_url = token.instance_url.trim_end_matches('/').to_owned();
        if url::Url::parse(&instance_url).is_err() {
            return Err(protocol(
                side,
                resp.status,
                "oauth token",
                "instance_url is not a URL",
            ));
        }
        return Ok(Session {
            access_token: token.access_token,
            instance_url,
        });
    }
    if resp.status == 429 || resp.status >= 500 {
        return Err(SystemError::Transient {
            side,
            message: format!("oauth token: HTTP {}", resp.status),
        });
    }
    let message = match parse_oauth_error(&resp.body) {
        Ok(e) => match e.error_description {
            Some(d) => format!("{}: {d}", e.error),
            None => e.error,
        },
        Err(_) => format!("HTTP {} from the token endpoint", resp.status),
    };
    Err(SystemError::Auth { side, message })
}
