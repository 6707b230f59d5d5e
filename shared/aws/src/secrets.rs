//! Credentials from Secrets Manager: one JSON secret per system, read once per cold start and
//! cached; [`SecretCache::forget`] drops a cached secret so that the next read picks up a
//! rotated value (the Lambdas call it when a system refuses the credentials).
//!
//! Secret shapes (string secrets holding a JSON object):
//!
//! ```json
//! // Salesforce (connected app with the client-credentials flow and a run-as user)
//! {"client_id": "3MVG9...", "client_secret": "...", "login_url": "https://yourdomain.my.salesforce.com"}
//! // or Salesforce with the JWT bearer flow (certificate on the connected app, no secret)
//! {"auth": "jwt_bearer", "client_id": "3MVG9...", "jwt_username": "integration@acme.com",
//!  "jwt_private_key": "-----BEGIN PRIVATE KEY-----\n...", "login_url": "https://login.salesforce.com"}
//! // Genesys Cloud (OAuth client, client-credentials grant, external-contacts permissions)
//! {"client_id": "...", "client_secret": "...", "region": "us_east_1"}
//! // Alert webhook (optional; Slack incoming webhook or anything that takes {"text": ...})
//! {"url": "https://hooks.slack.com/services/..."}
//! ```
//!
//! `login_url` and `jwt_audience` (Salesforce) and `region` / `api_base` / `login_base` (Genesys) are optional in
//! the secret; when absent, the environment variables of the same meaning
//! (`SALESFORCE_LOGIN_URL`, `GENESYS_REGION`, ...) or their defaults apply.

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use contact_sync_connectors::environment as env;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

/// A secret's JSON object. `Debug` shows the field names only.
#[derive(Clone)]
pub struct SecretDocument(Map<String, Value>);

impl SecretDocument {
    /// A non-empty string field.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|v| !v.is_empty())
    }
}

impl fmt::Debug for SecretDocument {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

/// Why a secret could not be used. Never holds a secret value.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("secret {name}: Secrets Manager temporarily unavailable: {message}")]
    Transient { name: String, message: String },
    #[error("secret {name}: {message}")]
    Permanent { name: String, message: String },
}

impl SecretError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, SecretError::Transient { .. })
    }
}

/// Secrets read from Secrets Manager, cached for the life of the process.
#[derive(Debug)]
pub struct SecretCache {
    client: Client,
    cached: Mutex<HashMap<String, Arc<SecretDocument>>>,
}

impl SecretCache {
    pub fn new(client: Client) -> SecretCache {
        SecretCache {
            client,
            cached: Mutex::new(HashMap::new()),
        }
    }

    /// The secret `id` (ARN or name) as a JSON object, from the cache when read before.
    pub async fn document(&self, id: &str) -> Result<Arc<SecretDocument>, SecretError> {
        if let Some(doc) = self.cached.lock().expect("secret cache lock").get(id) {
            return Ok(Arc::clone(doc));
        }
        let out = self
            .client
            .get_secret_value()
            .secret_id(id)
            .send()
            .await
            .map_err(|e| classify(id, e))?;
        let text = out.secret_string().ok_or_else(|| SecretError::Permanent {
            name: id.to_string(),
            message: "has no string value (store the JSON as a string secret)".into(),
        })?;
        // serde_json's message could quote part of the secret: keep only its position.
        let map: Map<String, Value> =
            serde_json::from_str(text).map_err(|e| SecretError::Permanent {
                name: id.to_string(),
                message: format!(
                    "is not a JSON object (error at line {} column {})",
                    e.line(),
                    e.column()
                ),
            })?;
        let doc = Arc::new(SecretDocument(map));
        self.cached
            .lock()
            .expect("secret cache lock")
            .insert(id.to_string(), Arc::clone(&doc));
        tracing::info!(secret = id, "secret read");
        Ok(doc)
    }

    /// Drops every cached secret: the next [`SecretCache::document`] reads them again.
    pub fn forget(&self) {
        self.cached.lock().expect("secret cache lock").clear();
    }
}

fn classify<E>(id: &str, error: SdkError<E>) -> SecretError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let retryable = match &error {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(e) => matches!(
            e.err().code(),
            Some("InternalServiceError" | "ThrottlingException" | "ServiceUnavailable")
        ),
        _ => false,
    };
    let message = DisplayErrorContext(&error).to_string();
    let name = id.to_string();
    if retryable {
        SecretError::Transient { name, message }
    } else {
        SecretError::Permanent { name, message }
    }
}

/// Which secret field stands for which connection variable.
const SALESFORCE_FIELDS: [(&str, &str); 7] = [
    ("client_id", env::SALESFORCE_CLIENT_ID),
    ("client_secret", env::SALESFORCE_CLIENT_SECRET),
    ("login_url", env::SALESFORCE_LOGIN_URL),
    ("auth", env::SALESFORCE_AUTH),
    ("jwt_username", env::SALESFORCE_JWT_USERNAME),
    ("jwt_private_key", env::SALESFORCE_JWT_PRIVATE_KEY),
    ("jwt_audience", env::SALESFORCE_JWT_AUDIENCE),
];

/// The fields a secret must have: the JWT bearer flow (`"auth": "jwt_bearer"`) signs with a
/// key instead of sending a client secret.
fn required_fields(doc: &SecretDocument) -> &'static [&'static str] {
    match doc.field("auth") {
        Some("jwt_bearer") => &["client_id", "jwt_username", "jwt_private_key"],
        _ => &["client_id", "client_secret"],
    }
}
const GENESYS_FIELDS: [(&str, &str); 5] = [
    ("client_id", env::GENESYS_CLIENT_ID),
    ("client_secret", env::GENESYS_CLIENT_SECRET),
    ("region", env::GENESYS_REGION),
    ("api_base", env::GENESYS_API_BASE),
    ("login_base", env::GENESYS_LOGIN_BASE),
];

/// The connection variables (`SALESFORCE_*`, `GENESYS_*`) of `base` with the secrets' fields
/// laid over them, ready for `ConnectionSettings::from_vars`. A required field missing from a
/// secret is named here, with the secret, rather than as an unset variable.
pub fn connection_vars(
    base: &HashMap<String, String>,
    (salesforce_name, salesforce): (&str, &SecretDocument),
    (genesys_name, genesys): (&str, &SecretDocument),
) -> Result<HashMap<String, String>, SecretError> {
    let mut vars = base.clone();
    for (name, doc, fields) in [
        (salesforce_name, salesforce, &SALESFORCE_FIELDS[..]),
        (genesys_name, genesys, &GENESYS_FIELDS[..]),
    ] {
        for field in required_fields(doc) {
            if doc.field(field).is_none() {
                return Err(SecretError::Permanent {
                    name: name.to_string(),
                    message: format!("field `{field}` is missing or empty"),
                });
            }
        }
        for (field, variable) in fields {
            if let Some(value) = doc.field(field) {
                vars.insert(variable.to_string(), value.to_string());
            }
        }
    }
    Ok(vars)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(json: Value) -> SecretDocument {
        SecretDocument(json.as_object().expect("object").clone())
    }

    #[test]
    fn secret_fields_override_the_environment_and_debug_hides_values() {
        // GIVEN a region in the environment and both secrets, Genesys naming its own region
        let base = HashMap::from([(env::GENESYS_REGION.to_string(), "us_east_1".to_string())]);
        let sf = doc(
            serde_json::json!({"client_id": "sf-id", "client_secret": "sf-s3cret", "login_url": "https://acme.my.salesforce.com"}),
        );
        let gz = doc(
            serde_json::json!({"client_id": "gz-id", "client_secret": "gz-s3cret", "region": "eu_west_1"}),
        );
        // WHEN merged
        let vars = connection_vars(&base, ("sf", &sf), ("gz", &gz)).expect("complete");
        // THEN the secrets' fields are the connection variables
        assert_eq!(vars[env::SALESFORCE_CLIENT_SECRET], "sf-s3cret");
        assert_eq!(
            vars[env::SALESFORCE_LOGIN_URL],
            "https://acme.my.salesforce.com"
        );
        assert_eq!(vars[env::GENESYS_REGION], "eu_west_1");
        // AND Debug output shows field names, never values
        let shown = format!("{sf:?} {gz:?}");
        assert!(shown.contains("client_secret"), "{shown}");
        assert!(!shown.contains("s3cret"), "{shown}");
    }

    #[test]
    fn a_secret_without_its_client_secret_is_named() {
        // GIVEN a Genesys secret with an empty client secret
        let sf = doc(serde_json::json!({"client_id": "a", "client_secret": "b"}));
        let gz = doc(serde_json::json!({"client_id": "c", "client_secret": " "}));
        // WHEN merged THEN the error names the secret and the field
        let error = connection_vars(&HashMap::new(), ("sf", &sf), ("gz-arn", &gz)).unwrap_err();
        assert_eq!(
            error.to_string(),
            "secret gz-arn: field `client_secret` is missing or empty"
        );
    }

    #[test]
    fn a_salesforce_secret_may_carry_the_jwt_bearer_flow_instead_of_a_client_secret() {
        // GIVEN a Salesforce secret for the JWT bearer flow (no client secret)
        let sf = doc(serde_json::json!({
            "auth": "jwt_bearer", "client_id": "sf-id", "jwt_username": "int@acme.com",
            "jwt_private_key": "-----BEGIN PRIVATE KEY-----x"
        }));
        let gz = doc(serde_json::json!({"client_id": "gz-id", "client_secret": "gz-s3cret"}));
        // WHEN laid over the environment
        let vars =
            connection_vars(&HashMap::new(), ("sf-arn", &sf), ("gz-arn", &gz)).expect("complete");
        // THEN the JWT variables are set and the settings load with the JWT flow
        assert_eq!(vars[env::SALESFORCE_AUTH], "jwt_bearer");
        assert_eq!(vars[env::SALESFORCE_JWT_USERNAME], "int@acme.com");
        let settings = env::ConnectionSettings::from_vars(&vars).expect("valid settings");
        assert!(settings.salesforce.jwt.is_some());

        // GIVEN the same secret without its key WHEN laid over THEN the secret's field is named
        let no_key = doc(serde_json::json!({
            "auth": "jwt_bearer", "client_id": "sf-id", "jwt_username": "int@acme.com"
        }));
        let e = connection_vars(&HashMap::new(), ("sf-arn", &no_key), ("gz-arn", &gz))
            .expect_err("no key");
        assert_eq!(
            e.to_string(),
            "secret sf-arn: field `jwt_private_key` is missing or empty"
        );
    }
}
