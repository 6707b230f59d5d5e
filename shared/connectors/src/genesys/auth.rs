//! OAuth client credentials with HTTP Basic (API-NOTES B.4); tokens cached until shortly
//! before `expires_in`.

use super::models::{parse_error_body, parse_token};
use crate::credentials::Secret;
use crate::http::{Expiring, Replay, Retrier, protocol};
use contact_sync_engine::Side;
use contact_sync_pipeline::system::SystemError;
use std::time::{Duration, Instant};

pub(crate) struct Token {
    pub access_token: Secret,
    /// Renew after this instant; `None` when the server gave no lifetime (a 401 tells).
    pub renew_at: Option<Instant>,
}

impl Expiring for Token {
    fn is_fresh(&self) -> bool {
        self.renew_at.is_none_or(|at| Instant::now() < at)
    }
}

pub(crate) async fn request_token(
    http: &reqwest::Client,
    retrier: &Retrier,
    login_base: &str,
    client_id: &str,
    client_secret: &Secret,
) -> Result<Token, SystemError> {
    let side = Side::Genesys;
    let url = format!("{login_base}/oauth/token");
    let started = Instant::now();
    let resp = retrier
        .send("oauth token", Replay::Safe, || {
            http.post(&url)
                .basic_auth(client_id, Some(client_secret.expose()))
                .form(&[("grant_type", "client_credentials")])
        })
        .await?;
    tracing::debug!(side = %side, status = resp.status, "genesys token response");
    if resp.is_success() {
        let token =
            parse_token(&resp.body).map_err(|e| protocol(side, resp.status, "oauth token", e))?;
        // Renew a minute early (or a tenth of the lifetime for short tokens).
        let renew_at = token.expires_in.map(|secs| {
            let margin = (secs / 10).min(60);
            started + Duration::from_secs(secs.saturating_sub(margin))
        });
        return Ok(Token {
            access_token: token.access_token,
            renew_at,
        });
    }
    if resp.status == 429 || resp.status >= 500 {
        return Err(SystemError::Transient {
            side,
            message: format!("oauth token: HTTP {}", resp.status),
        });
    }
    let message = match serde_json::from_slice::<super::models::OAuthError>(&resp.body) {
        Ok(e) if e.error.is_some() => {
            let error = e.error.unwrap_or_default();
            match e.error_description.or(e.description) {
                Some(d) => format!("{error}: {d}"),
                None => error,
            }
        }
        _ => match parse_error_body(&resp.body) {
            Ok(body) => format!(
                "HTTP {}: {}",
                resp.status,
                body.code.unwrap_or_else(|| "no error code".into())
            ),
            Err(_) => format!("HTTP {} from the token endpoint", resp.status),
        },
    };
    Err(SystemError::Auth { side, message })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_renewed_before_they_expire() {
        // GIVEN tokens renewing in the past, in the future, and without a lifetime
        let past = Token {
            access_token: Secret::new("a"),
            renew_at: Instant::now().checked_sub(Duration::from_secs(1)),
        };
        let future = Token {
            access_token: Secret::new("b"),
            renew_at: Some(Instant::now() + Duration::from_secs(60)),
        };
        let unknown = Token {
            access_token: Secret::new("c"),
            renew_at: None,
        };
        // WHEN asked whether they are fresh
        // THEN only the expired one must be renewed
        assert!(!past.is_fresh() || past.renew_at.is_none());
        assert!(future.is_fresh());
        assert!(unknown.is_fresh());
    }
}
