//! Connection settings from environment variables (the CLI's source of credentials; Lambdas
//! read credentials from Secrets Manager instead). Every problem is reported as one clear line
//! naming the variable; secrets never appear in it.

use crate::credentials::Secret;
use crate::genesys::{GenesysConfig, GenesysSystem, api_base_for_region};
use crate::salesforce::{JwtBearer, SalesforceConfig, SalesforceSystem};
use contact_sync_engine::mapping::Mapping;
use contact_sync_engine::normalise::FieldKind;
use contact_sync_pipeline::queue::{InProcessQueue, WorkQueue};
use contact_sync_pipeline::store::SyncStore;
use contact_sync_pipeline::store::embedded::EmbeddedStore;
use contact_sync_pipeline::system::SystemError;
use contact_sync_pipeline::{Integration, Settings, SystemClock};
use std::collections::HashMap;
use std::sync::Arc;

pub const SALESFORCE_LOGIN_URL: &str = "SALESFORCE_LOGIN_URL";
pub const SALESFORCE_CLIENT_ID: &str = "SALESFORCE_CLIENT_ID";
pub const SALESFORCE_CLIENT_SECRET: &str = "SALESFORCE_CLIENT_SECRET";
pub const GENESYS_API_BASE: &str = "GENESYS_API_BASE";
pub const GENESYS_REGION: &str = "GENESYS_REGION";
pub const GENESYS_LOGIN_BASE: &str = "GENESYS_LOGIN_BASE";
pub const GENESYS_CLIENT_ID: &str = "GENESYS_CLIENT_ID";
pub const GENESYS_CLIENT_SECRET: &str = "GENESYS_CLIENT_SECRET";
/// `client_credentials` (default) or `jwt_bearer`.
pub const SALESFORCE_AUTH: &str = "SALESFORCE_AUTH";
/// JWT bearer: the integration user (`sub`).
pub const SALESFORCE_JWT_USERNAME: &str = "SALESFORCE_JWT_USERNAME";
/// JWT bearer: the connected app's RSA private key, PEM text.
pub const SALESFORCE_JWT_PRIVATE_KEY: &str = "SALESFORCE_JWT_PRIVATE_KEY";
/// JWT bearer: the assertion's audience (default `https://login.salesforce.com`).
pub const SALESFORCE_JWT_AUDIENCE: &str = "SALESFORCE_JWT_AUDIENCE";
/// Change reads of more Contacts than this use Bulk API 2.0 (default 10000; `off` = never).
pub const SALESFORCE_BULK_THRESHOLD: &str = "SALESFORCE_BULK_THRESHOLD";
/// Share of the Salesforce daily API allocation after which a run stops (default 0.8).
pub const SALESFORCE_API_BUDGET_SHARE: &str = "SALESFORCE_API_BUDGET_SHARE";
/// Genesys API requests per minute the client allows itself (default 300; `0` = no limit).
pub const GENESYS_REQUESTS_PER_MINUTE: &str = "GENESYS_REQUESTS_PER_MINUTE";
/// Entities per Genesys bulk request to start from (default 100, 1–200); lowered when the
/// org refuses a request as a whole, and the lower size remembered in the store.
pub const GENESYS_BULK_ENTITIES: &str = "GENESYS_BULK_ENTITIES";

const DEFAULT_SALESFORCE_LOGIN_URL: &str = "https://login.salesforce.com";
const DEFAULT_GENESYS_REGION: &str = "us_east_1";

/// A setting that is missing or malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}: {problem}")]
pub struct SettingsError {
    pub variable: &'static str,
    pub problem: String,
}

/// Both systems' connection settings.
#[derive(Debug, Clone)]
pub struct ConnectionSettings {
    pub salesforce: SalesforceConfig,
    pub genesys: GenesysConfig,
}

impl ConnectionSettings {
    /// Reads the settings from the process environment.
    pub fn from_env() -> Result<ConnectionSettings, SettingsError> {
        let vars: HashMap<String, String> = std::env::vars().collect();
        ConnectionSettings::from_vars(&vars)
    }

    /// Reads the settings from a map of variables (testable without touching the process).
    pub fn from_vars(vars: &HashMap<String, String>) -> Result<ConnectionSettings, SettingsError> {
        let get = |name: &str| {
            vars.get(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let required = |name: &'static str, what: &str| {
            get(name).ok_or_else(|| SettingsError {
                variable: name,
                problem: format!("not set ({what})"),
            })
        };

        let parsed = |name: &'static str, what: &str| -> Result<Option<f64>, SettingsError> {
            get(name)
                .map(|v| {
                    v.parse::<f64>().map_err(|_| SettingsError {
                        variable: name,
                        problem: format!("`{v}` is not a number ({what})"),
                    })
                })
                .transpose()
        };

        let login_url =
            get(SALESFORCE_LOGIN_URL).unwrap_or_else(|| DEFAULT_SALESFORCE_LOGIN_URL.to_string());
        check_url(SALESFORCE_LOGIN_URL, &login_url)?;
        let client_id = required(SALESFORCE_CLIENT_ID, "the connected app's consumer key")?;
        let salesforce = match get(SALESFORCE_AUTH).as_deref() {
            None | Some("client_credentials") => SalesforceConfig::new(
                login_url.trim_end_matches('/'),
                client_id,
                Secret::from(required(
                    SALESFORCE_CLIENT_SECRET,
                    "the connected app's consumer secret",
                )?),
            ),
            Some("jwt_bearer") => {
                let mut config =
                    SalesforceConfig::new(login_url.trim_end_matches('/'), client_id, "");
                config.jwt = Some(JwtBearer {
                    username: required(SALESFORCE_JWT_USERNAME, "the integration user")?,
                    audience: get(SALESFORCE_JWT_AUDIENCE)
                        .unwrap_or_else(|| DEFAULT_SALESFORCE_LOGIN_URL.to_string()),
                    private_key_pem: Secret::from(required(
                        SALESFORCE_JWT_PRIVATE_KEY,
                        "the connected app's RSA private key in PEM",
                    )?),
                });
                config
            }
            Some(other) => {
                return Err(SettingsError {
                    variable: SALESFORCE_AUTH,
                    problem: format!("`{other}` is not client_credentials or jwt_bearer"),
                });
            }
        };

        let mut salesforce = salesforce;
        if let Some(share) = parsed(SALESFORCE_API_BUDGET_SHARE, "a share such as 0.8")? {
            if !(share > 0.0 && share <= 1.0) {
                return Err(SettingsError {
                    variable: SALESFORCE_API_BUDGET_SHARE,
                    problem: format!("{share} is not in (0, 1]"),
                });
            }
            salesforce.budget_share = share;
        }
        match get(SALESFORCE_BULK_THRESHOLD).as_deref() {
            None => {}
            Some("off") => salesforce.bulk_threshold = None,
            Some(n) => {
                salesforce.bulk_threshold = Some(n.parse::<u64>().map_err(|_| SettingsError {
                    variable: SALESFORCE_BULK_THRESHOLD,
                    problem: format!("`{n}` is not a number of records or `off`"),
                })?);
            }
        }

        let api_base = match (get(GENESYS_API_BASE), get(GENESYS_REGION)) {
            (Some(base), _) => base,
            (None, region) => {
                let region = region.unwrap_or_else(|| DEFAULT_GENESYS_REGION.to_string());
                api_base_for_region(&region).ok_or_else(|| SettingsError {
                    variable: GENESYS_REGION,
                    problem: format!(
                        "unknown region `{region}` (e.g. us_east_1, eu_west_1, or a host like mypurecloud.ie)"
                    ),
                })?
            }
        };
        check_url(GENESYS_API_BASE, &api_base)?;
        let mut genesys = GenesysConfig::new(
            api_base,
            required(GENESYS_CLIENT_ID, "the OAuth client id")?,
            Secret::from(required(GENESYS_CLIENT_SECRET, "the OAuth client secret")?),
        );
        if let Some(login) = get(GENESYS_LOGIN_BASE) {
            check_url(GENESYS_LOGIN_BASE, &login)?;
            genesys.login_base = login.trim_end_matches('/').to_string();
        }
        if let Some(rate) = parsed(GENESYS_REQUESTS_PER_MINUTE, "requests per minute")? {
            if !(rate >= 0.0 && rate.fract() == 0.0 && rate <= f64::from(u32::MAX)) {
                return Err(SettingsError {
                    variable: GENESYS_REQUESTS_PER_MINUTE,
                    problem: format!("{rate} is not a whole number of requests"),
                });
            }
            genesys.requests_per_minute = std::num::NonZeroU32::new(rate as u32);
        }
        if let Some(n) = get(GENESYS_BULK_ENTITIES) {
            let max = crate::genesys::MAX_BULK_ENTITIES;
            genesys.bulk_entities = n
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=max).contains(n))
                .ok_or_else(|| SettingsError {
                    variable: GENESYS_BULK_ENTITIES,
                    problem: format!("`{n}` is not a number of entities from 1 to {max}"),
                })?;
        }
        Ok(ConnectionSettings {
            salesforce,
            genesys,
        })
    }
}

/// A URL must parse; plain `http` is allowed only for loopback test servers.
fn check_url(variable: &'static str, value: &str) -> Result<(), SettingsError> {
    let url = url::Url::parse(value).map_err(|e| SettingsError {
        variable,
        problem: format!("`{value}` is not a URL ({e})"),
    })?;
    let loopback = matches!(
        url.host_str(),
        Some("localhost" | "127.0.0.1" | "[::1]" | "::1")
    );
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        other => Err(SettingsError {
            variable,
            problem: format!(
                "`{value}` must use https (got {other}; plain http only on localhost)"
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const CREDS: [(&str, &str); 4] = [
        (SALESFORCE_CLIENT_ID, "sf-id"),
        (SALESFORCE_CLIENT_SECRET, "sf-secret-value"),
        (GENESYS_CLIENT_ID, "gc-id"),
        (GENESYS_CLIENT_SECRET, "gc-secret-value"),
    ];

    #[test]
    fn defaults_apply_and_region_picks_the_api_and_login_hosts() {
        // GIVEN credentials and a region only
        let mut v = vars(&CREDS);
        v.insert(GENESYS_REGION.into(), "eu_west_1".into());
        // WHEN read
        let s = ConnectionSettings::from_vars(&v).expect("valid");
        // THEN defaults and derived hosts are used
        assert_eq!(s.salesforce.login_url, "https://login.salesforce.com");
        assert_eq!(s.genesys.api_base, "https://api.mypurecloud.ie");
        assert_eq!(s.genesys.login_base, "https://login.mypurecloud.ie");
    }

    #[test]
    fn a_missing_secret_names_the_variable_and_never_prints_secrets() {
        // GIVEN no Genesys secret
        let v = vars(&CREDS[..3]);
        // WHEN read THEN one line names the variable
        let e = ConnectionSettings::from_vars(&v).expect_err("missing");
        assert_eq!(e.variable, GENESYS_CLIENT_SECRET);
        assert!(e.to_string().starts_with("GENESYS_CLIENT_SECRET: not set"));
        // AND the settings' Debug output never shows a secret
        let ok = ConnectionSettings::from_vars(&vars(&CREDS)).expect("valid");
        let debug = format!("{ok:?}");
        assert!(!debug.contains("sf-secret-value") && !debug.contains("gc-secret-value"));
    }

    #[test]
    fn budget_share_and_genesys_rate_are_read_and_checked() {
        // GIVEN defaults, then explicit values, then bad ones
        let defaults = ConnectionSettings::from_vars(&vars(&CREDS)).expect("valid");
        let mut v = vars(&CREDS);
        v.insert(SALESFORCE_API_BUDGET_SHARE.into(), "0.5".into());
        v.insert(GENESYS_REQUESTS_PER_MINUTE.into(), "0".into());
        let set = ConnectionSettings::from_vars(&v).expect("valid");
        // THEN the defaults are 0.8 and 300/min, the values are taken, 0 lifts the limit
        assert_eq!(defaults.salesforce.budget_share, 0.8);
        assert_eq!(
            defaults.genesys.requests_per_minute.map(|n| n.get()),
            Some(300)
        );
        assert_eq!(set.salesforce.budget_share, 0.5);
        assert_eq!(set.genesys.requests_per_minute, None);
        assert_eq!(defaults.salesforce.bulk_threshold, Some(10_000));
        let mut off = vars(&CREDS);
        off.insert(SALESFORCE_BULK_THRESHOLD.into(), "off".into());
        let off = ConnectionSettings::from_vars(&off).expect("valid");
        assert_eq!(off.salesforce.bulk_threshold, None);
        // AND out-of-range values name their variable
        for (name, bad) in [
            (SALESFORCE_API_BUDGET_SHARE, "1.5"),
            (SALESFORCE_API_BUDGET_SHARE, "most"),
            (GENESYS_REQUESTS_PER_MINUTE, "2.5"),
            (GENESYS_REQUESTS_PER_MINUTE, "-1"),
            (SALESFORCE_BULK_THRESHOLD, "many"),
        ] {
            let mut v = vars(&CREDS);
            v.insert(name.into(), bad.into());
            let e = ConnectionSettings::from_vars(&v).expect_err(bad);
            assert_eq!(e.variable, name, "{bad}");
        }
    }

    #[test]
    fn genesys_bulk_entities_defaults_to_100_and_is_checked() {
        // GIVEN no setting THEN bulk requests start at 100 entities
        let base = vars(&CREDS);
        let s = ConnectionSettings::from_vars(&base).expect("defaults");
        assert_eq!(s.genesys.bulk_entities, 100);
        // GIVEN a valid setting THEN it is used
        let mut fifty = base.clone();
        fifty.insert(GENESYS_BULK_ENTITIES.into(), "50".into());
        let s = ConnectionSettings::from_vars(&fifty).expect("50");
        assert_eq!(s.genesys.bulk_entities, 50);
        // GIVEN values out of range or not numbers THEN the error names the variable
        for bad in ["0", "201", "many", "-3"] {
            let mut v = base.clone();
            v.insert(GENESYS_BULK_ENTITIES.into(), bad.into());
            let e = ConnectionSettings::from_vars(&v).expect_err(bad);
            assert_eq!(e.variable, GENESYS_BULK_ENTITIES);
            assert!(e.to_string().contains("1 to 200"), "{e}");
        }
    }

    #[test]
    fn jwt_bearer_is_selected_by_configuration_and_needs_its_key() {
        // GIVEN the JWT settings without a client secret
        let mut v = vars(&CREDS);
        v.remove(SALESFORCE_CLIENT_SECRET);
        v.insert(SALESFORCE_AUTH.into(), "jwt_bearer".into());
        v.insert(SALESFORCE_JWT_USERNAME.into(), "int@example.com".into());
        // WHEN the key is missing THEN its variable is named
        let e = ConnectionSettings::from_vars(&v).expect_err("no key");
        assert_eq!(e.variable, SALESFORCE_JWT_PRIVATE_KEY);
        // WHEN it is given THEN the JWT flow is configured, and Debug never shows the key
        v.insert(
            SALESFORCE_JWT_PRIVATE_KEY.into(),
            "-----BEGIN PRIVATE KEY-----x".into(),
        );
        let s = ConnectionSettings::from_vars(&v).expect("valid");
        let jwt = s.salesforce.jwt.as_ref().expect("jwt");
        assert_eq!(jwt.username, "int@example.com");
        assert_eq!(jwt.audience, "https://login.salesforce.com");
        assert!(!format!("{s:?}").contains("BEGIN PRIVATE KEY"));
        // AND an unknown flow is refused
        v.insert(SALESFORCE_AUTH.into(), "password".into());
        let e = ConnectionSettings::from_vars(&v).expect_err("unknown");
        assert_eq!(e.variable, SALESFORCE_AUTH);
    }

    #[test]
    fn plain_http_is_refused_except_on_loopback() {
        // GIVEN an http login URL on a real host WHEN read THEN refused
        let mut v = vars(&CREDS);
        v.insert(
            SALESFORCE_LOGIN_URL.into(),
            "http://login.salesforce.com".into(),
        );
        let e = ConnectionSettings::from_vars(&v).expect_err("http");
        assert_eq!(e.variable, SALESFORCE_LOGIN_URL);
        // GIVEN loopback test servers WHEN read THEN accepted
        v.insert(SALESFORCE_LOGIN_URL.into(), "http://127.0.0.1:8080".into());
        v.insert(GENESYS_API_BASE.into(), "http://127.0.0.1:8081".into());
        let s = ConnectionSettings::from_vars(&v).expect("loopback");
        assert_eq!(s.genesys.login_base, "http://127.0.0.1:8081");
    }
}

pub const CONTACT_SYNC_STATE_DIR: &str = "CONTACT_SYNC_STATE_DIR";
pub const CONTACT_SYNC_CONFIG: &str = "CONTACT_SYNC_CONFIG";

/// The mapping named by `CONTACT_SYNC_CONFIG`, or the built-in default when it is unset.
pub fn mapping_from_env() -> Result<Mapping, MappingLoadError> {
    match std::env::var_os(CONTACT_SYNC_CONFIG).filter(|v| !v.is_empty()) {
        None => Ok(Mapping::default_mapping()),
        Some(path) => {
            let path = std::path::PathBuf::from(path);
            let yaml = std::fs::read_to_string(&path).map_err(|e| {
                MappingLoadError::Read(format!(
                    "{CONTACT_SYNC_CONFIG}: cannot read {}: {e}",
                    path.display()
                ))
            })?;
            Ok(Mapping::from_yaml(&yaml, &path.display().to_string())?)
        }
    }
}

/// A mapping that could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum MappingLoadError {
    #[error("{0}")]
    Read(String),
    #[error(transparent)]
    Invalid(#[from] contact_sync_engine::mapping::MappingError),
}

/// `CONTACT_SYNC_STATE_DIR`, default `.contact-sync` in the current directory.
pub fn state_dir_from_env() -> std::path::PathBuf {
    std::env::var_os(CONTACT_SYNC_STATE_DIR)
        .filter(|v| !v.is_empty())
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(".contact-sync"))
}

/// Both systems configured for `mapping` (fields to read, email field, link source). No
/// network call yet.
pub fn systems(
    connections: ConnectionSettings,
    mapping: &Mapping,
) -> Result<(SalesforceSystem, GenesysSystem), SystemError> {
    let mut salesforce = connections.salesforce;
    salesforce.fields = mapping.salesforce_fields();
    if let Some(email) = mapping.salesforce_email_field() {
        salesforce.email_field = email.to_string();
    }
    let mut genesys = connections.genesys;
    genesys.link_source_name = mapping.link_source_name.clone();
    Ok((
        SalesforceSystem::new(salesforce)?,
        GenesysSystem::new(genesys)?,
    ))
}

/// Adapts `mapping` to the Salesforce org: when it maps a country or state field, the
/// Contact is described once and, if the org has State and Country picklists
/// (`MailingCountryCode` / `MailingStateCode` exist), those fields switch to the code fields
/// ([`Mapping::use_salesforce_code_fields`]). Returns the `(field, code field)` pairs switched.
pub async fn adapt_to_org(
    salesforce: &SalesforceSystem,
    mapping: &mut Mapping,
) -> Result<Vec<(Arc<str>, String)>, SystemError> {
    let places = mapping.fields.iter().any(|f| {
        matches!(f.kind, FieldKind::Country | FieldKind::Subdivision) && f.salesforce.is_some()
    });
    if !places {
        return Ok(Vec::new());
    }
    let described = salesforce.describe_contact().await?;
    let switched = mapping.use_salesforce_code_fields(|name| {
        described.iter().any(|f| f.name.eq_ignore_ascii_case(name))
    });
    for (field, code) in &switched {
        tracing::info!(field = %field, code_field = %code, "state and country picklists: the code field is synced");
    }
    Ok(switched)
}

/// [`systems`] for the org: the mapping adapted with [`adapt_to_org`] first (one describe
/// call), the systems built again only when a field switched.
pub async fn systems_for_org(
    connections: ConnectionSettings,
    mapping: &mut Mapping,
) -> Result<(SalesforceSystem, GenesysSystem), SystemError> {
    let (salesforce, genesys) = systems(connections.clone(), mapping)?;
    if adapt_to_org(&salesforce, mapping).await?.is_empty() {
        return Ok((salesforce, genesys));
    }
    systems(connections, mapping)
}

/// [`integration`] for the org: the mapping adapted to it first ([`systems_for_org`]).
pub async fn integration_for_org(
    connections: ConnectionSettings,
    mut mapping: Mapping,
    store: Arc<dyn SyncStore>,
    queue: Arc<dyn WorkQueue>,
) -> Result<Integration, SystemError> {
    let (salesforce, genesys) = systems_for_org(connections, &mut mapping).await?;
    Ok(Integration::new(
        mapping,
        Arc::new(salesforce),
        Arc::new(genesys),
        store,
        queue,
        Arc::new(SystemClock),
        Settings::default(),
    ))
}

/// Assembles an integration: both systems configured for `mapping` (see [`systems`]), over
/// the given store and queue, on the system clock.
pub fn integration(
    connections: ConnectionSettings,
    mapping: Mapping,
    store: Arc<dyn SyncStore>,
    queue: Arc<dyn WorkQueue>,
) -> Result<Integration, SystemError> {
    let (salesforce, genesys) = systems(connections, &mapping)?;
    Ok(Integration::new(
        mapping,
        Arc::new(salesforce),
        Arc::new(genesys),
        store,
        queue,
        Arc::new(SystemClock),
        Settings::default(),
    ))
}

/// Why a local (embedded store, in-process queue) integration could not be assembled.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error(transparent)]
    Mapping(#[from] MappingLoadError),
    #[error("cannot open the state at {path}: {source}")]
    Store {
        path: String,
        source: contact_sync_pipeline::store::StoreError,
    },
    #[error(transparent)]
    System(#[from] SystemError),
}

/// An integration from the environment over the embedded store in `CONTACT_SYNC_STATE_DIR`
/// (file `state.redb`) and an in-process queue.
pub fn local_integration_from_env() -> Result<(Integration, Arc<InProcessQueue>), SetupError> {
    local_integration(
        ConnectionSettings::from_env()?,
        mapping_from_env()?,
        &state_dir_from_env().join("state.redb"),
    )
}

/// An integration over the embedded store at `state_file` and an in-process queue.
pub fn local_integration(
    connections: ConnectionSettings,
    mapping: Mapping,
    state_file: &std::path::Path,
) -> Result<(Integration, Arc<InProcessQueue>), SetupError> {
    let store = EmbeddedStore::open(state_file).map_err(|source| SetupError::Store {
        path: state_file.display().to_string(),
        source,
    })?;
    let queue = Arc::new(InProcessQueue::new());
    let integration = integration(connections, mapping, Arc::new(store), queue.clone())?;
    Ok((integration, queue))
}
