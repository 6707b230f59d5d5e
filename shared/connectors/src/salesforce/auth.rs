//! OAuth 2.0 client credentials against the org's My Domain (API-NOTES A.4).

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

pub(crate) async fn request_session(
    http: &reqwest::Client,
    retrier: &Retrier,
    login_url: &str,
    client_id: &str,
    client_secret: &Secret,
) -> Result<Session, SystemError> {
    let side = Side::Salesforce;
    let url = format!("{}/services/oauth2/token", login_url.trim_end_matches('/'));
    let resp = retrier
        .send("oauth token", Replay::Safe, || {
            http.post(&url).form(&[
                ("grant_type", "client_credentials"),
                ("client_id", client_id),
                ("client_secret", client_secret.expose()),
            ])
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
