//! The Salesforce JWT bearer flow against the simulator, which verifies the RS256 assertion.

use contact_sync_connectors::{JwtBearer, SalesforceConfig, SalesforceSystem};
use contact_sync_pipeline::system::{ContactReader, SystemError};
use contact_sync_simulators::{SANDBOX_JWT_PRIVATE_KEY_PEM, SalesforceSim, SalesforceSimConfig};
use serde_json::json;
use std::time::Duration;

fn jwt_config(sim: &SalesforceSim, username: &str, key: &str) -> SalesforceConfig {
    let mut cfg = SalesforceConfig::new(sim.url(), sim.client_id(), "");
    cfg.fields = vec!["LastName".into()];
    cfg.timeout = Duration::from_secs(10);
    cfg.jwt = Some(JwtBearer {
        username: username.into(),
        audience: "https://login.salesforce.com".into(),
        private_key_pem: key.into(),
    });
    cfg
}

#[tokio::test]
async fn a_signed_assertion_gets_a_session_without_a_client_secret() {
    // GIVEN an org trusting the sandbox certificate for its integration user
    let sim = SalesforceSim::start(SalesforceSimConfig::default())
        .await
        .expect("sim");
    sim.insert(json!({"LastName": "Only"}));
    let sys = SalesforceSystem::new(jwt_config(
        &sim,
        "integration@sandbox.example",
        SANDBOX_JWT_PRIVATE_KEY_PEM,
    ))
    .expect("config");
    // WHEN the system prepares and reads
    sys.prepare().await.expect("session");
    let page = sys.read_changes(None, None).await.expect("read");
    // THEN the assertion was accepted once and the API answered
    assert_eq!(page.records.len(), 1);
    assert_eq!(sim.counters().auth, 1);
}

#[tokio::test]
async fn an_assertion_for_another_user_is_refused_once_as_auth() {
    // GIVEN a client naming a user the app was not authorised for
    let sim = SalesforceSim::start(SalesforceSimConfig::default())
        .await
        .expect("sim");
    let sys = SalesforceSystem::new(jwt_config(
        &sim,
        "someone-else@sandbox.example",
        SANDBOX_JWT_PRIVATE_KEY_PEM,
    ))
    .expect("config");
    // WHEN it is used twice
    let first = sys.prepare().await.expect_err("refused");
    let second = sys.prepare().await.expect_err("refused");
    // THEN both fail as authentication with the OAuth error, after a single token request
    for e in [&first, &second] {
        assert!(matches!(e, SystemError::Auth { .. }), "{e:?}");
        assert!(e.to_string().contains("invalid_grant"), "{e}");
    }
    assert_eq!(sim.counters().auth, 1);
}

#[tokio::test]
async fn an_unusable_key_is_refused_at_construction_without_quoting_it() {
    // GIVEN a "key" that is not an RSA private key
    let sim = SalesforceSim::start(SalesforceSimConfig::default())
        .await
        .expect("sim");
    let cfg = jwt_config(&sim, "integration@sandbox.example", "not-a-key-s3cr3t");
    // WHEN the system is built
    let e = SalesforceSystem::new(cfg).expect_err("refused");
    // THEN it is a configuration error that does not print the key, and nothing was sent
    assert!(matches!(e, SystemError::Config { .. }), "{e:?}");
    assert!(!e.to_string().contains("s3cr3t"));
    assert_eq!(sim.counters().total, 0);
}
