//! Limits and authentication at the connector level: the Genesys token bucket, the shared
//! `Retry-After` pause, the Salesforce budget guard, token expiry between pages, and bad
//! credentials failing fast.

use contact_sync_connectors::{GenesysConfig, GenesysSystem, SalesforceConfig, SalesforceSystem};
use contact_sync_pipeline::system::{ApiUsage, ContactReader, SystemError};
use contact_sync_simulators::{
    Fault, GenesysSim, GenesysSimConfig, SalesforceSim, SalesforceSimConfig,
};
use serde_json::json;
use std::num::NonZeroU32;
use std::time::{Duration, Instant};

fn genesys_config(sim: &GenesysSim, per_minute: Option<u32>) -> GenesysConfig {
    let mut cfg = GenesysConfig::new(sim.url(), sim.client_id(), sim.client_secret());
    cfg.timeout = Duration::from_secs(10);
    cfg.requests_per_minute = per_minute.and_then(NonZeroU32::new);
    cfg
}

fn salesforce_config(sim: &SalesforceSim) -> SalesforceConfig {
    let mut cfg = SalesforceConfig::new(sim.url(), sim.client_id(), sim.client_secret());
    cfg.fields = vec!["LastName".into()];
    cfg.timeout = Duration::from_secs(10);
    cfg
}

#[tokio::test]
async fn clones_share_one_genesys_token_bucket() {
    // GIVEN a Genesys org enforcing 600 requests/min, a client limited to the same, and four
    // clones of it (as the tasks of a warm process would hold)
    let sim = GenesysSim::start(GenesysSimConfig {
        rate_limit_per_minute: Some(600),
        ..GenesysSimConfig::default()
    })
    .await
    .expect("sim");
    let id = sim.insert(json!({"lastName": "Only"}));
    let sys = GenesysSystem::new(genesys_config(&sim, Some(600))).expect("config");
    // WHEN the clones fetch concurrently, 10 calls each
    let started = Instant::now();
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let sys = sys.clone();
            let id = id.clone();
            tokio::spawn(async move {
                for _ in 0..10 {
                    sys.fetch(std::slice::from_ref(&id)).await.expect("fetch");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("task");
    }
    // THEN the 40 calls were spaced at 10 per second overall (≥ 3.9 s), none refused
    assert!(
        started.elapsed() >= Duration::from_millis(3_900),
        "{:?}",
        started.elapsed()
    );
    let counters = sim.counters();
    assert_eq!(counters.by_route["POST /bulk/contacts"], 40);
    assert_eq!(counters.rate_limited, 0);
}

#[tokio::test]
async fn a_429_pauses_every_caller_until_retry_after() {
    // GIVEN an unlimited client, and a 429 with Retry-After: 1 for the next bulk fetch
    let sim = GenesysSim::start(GenesysSimConfig::default())
        .await
        .expect("sim");
    let id = sim.insert(json!({"lastName": "Only"}));
    let sys = GenesysSystem::new(genesys_config(&sim, None)).expect("config");
    sys.fetch(std::slice::from_ref(&id)).await.expect("warm up");
    sim.inject(Fault::Status {
        path_contains: "/bulk/contacts".into(),
        status: 429,
        times: 1,
        retry_after_secs: Some(1),
    });
    // WHEN one call meets the 429 and a second call starts just after
    let started = Instant::now();
    let first = {
        let sys = sys.clone();
        let id = id.clone();
        tokio::spawn(async move { sys.fetch(&[id]).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let second = sys.fetch(std::slice::from_ref(&id)).await.expect("second");
    let second_done = started.elapsed();
    // THEN both succeed, and the second also waited out the pause instead of adding to the load
    assert_eq!(first.await.expect("task").expect("first").len(), 1);
    assert_eq!(second.len(), 1);
    assert!(second_done >= Duration::from_millis(950), "{second_done:?}");
    assert_eq!(sim.counters().rate_limited, 1);
}

#[tokio::test]
async fn the_salesforce_budget_guard_stops_before_the_allocation_is_spent() {
    // GIVEN an org with a daily allocation of 20 API calls and a guard at half of it
    let sim = SalesforceSim::start(SalesforceSimConfig {
        daily_api_limit: 20,
        ..SalesforceSimConfig::default()
    })
    .await
    .expect("sim");
    let id = sim.insert(json!({"LastName": "Only"}));
    let mut cfg = salesforce_config(&sim);
    cfg.budget_share = 0.5;
    let sys = SalesforceSystem::new(cfg).expect("config");
    // WHEN the client keeps calling
    let mut ok = 0;
    let error = loop {
        match sys.fetch(std::slice::from_ref(&id)).await {
            Ok(_) => ok += 1,
            Err(e) => break e,
        }
        assert!(ok < 20, "the guard never stopped the client");
    };
    // THEN it stopped cleanly with the counts after 10 calls, and sent nothing after that
    assert!(
        matches!(
            error,
            SystemError::Budget {
                used: 10,
                max: 20,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(!error.is_retryable());
    assert_eq!(ok, 10);
    assert_eq!(sim.api_usage(), 10);
}

#[tokio::test]
async fn an_exhausted_salesforce_allocation_is_a_budget_stop() {
    // GIVEN an org whose allocation is spent by others (403 REQUEST_LIMIT_EXCEEDED) and a
    // guard that would allow everything
    let sim = SalesforceSim::start(SalesforceSimConfig::default())
        .await
        .expect("sim");
    let mut cfg = salesforce_config(&sim);
    cfg.budget_share = 1.0;
    let sys = SalesforceSystem::new(cfg).expect("config");
    sim.inject(Fault::Status {
        path_contains: "/query".into(),
        status: 403,
        times: 1,
        retry_after_secs: None,
    });
    // WHEN a read is refused
    let error = sys.read_changes(None, None).await.expect_err("refused");
    // THEN it is a budget stop (not retried within the run)
    assert!(matches!(error, SystemError::Budget { .. }), "{error:?}");
    assert_eq!(sim.counters().by_route["GET /query"], 1);
}

#[tokio::test]
async fn a_session_expiring_between_pages_is_renewed_once_and_no_page_is_lost() {
    // GIVEN 4,500 contacts (three pages) and a client that read the first page
    let sim = SalesforceSim::start(SalesforceSimConfig::default())
        .await
        .expect("sim");
    for i in 0..4_500 {
        sim.insert(json!({"LastName": format!("L{i}")}));
    }
    let sys = SalesforceSystem::new(salesforce_config(&sim)).expect("config");
    let first = sys.read_changes(None, None).await.expect("page 1");
    // WHEN every session expires and the remaining pages are read
    sim.inject(Fault::ExpireTokens);
    let mut records = first.records.len();
    let mut cursor = first.next;
    while let Some(next) = cursor {
        let page = sys.read_changes(None, Some(next)).await.expect("page");
        records += page.records.len();
        cursor = page.next;
    }
    // THEN all 4,500 arrived, with exactly one new token
    assert_eq!(records, 4_500);
    assert_eq!(sim.counters().auth, 2);
}

#[tokio::test]
async fn bad_credentials_fail_fast_with_one_token_request_and_a_clear_message() {
    // GIVEN clients of both systems with wrong secrets
    let sf = SalesforceSim::start(SalesforceSimConfig::default())
        .await
        .expect("sim");
    let gz = GenesysSim::start(GenesysSimConfig::default())
        .await
        .expect("sim");
    let mut sf_cfg = salesforce_config(&sf);
    sf_cfg.client_secret = "wrong-sf-secret".into();
    let mut gz_cfg = genesys_config(&gz, None);
    gz_cfg.client_secret = "wrong-gz-secret".into();
    let sf_sys = SalesforceSystem::new(sf_cfg).expect("config");
    let gz_sys = GenesysSystem::new(gz_cfg).expect("config");
    // WHEN each is used 20 times (a run's worth of batches)
    let mut errors = Vec::new();
    for _ in 0..20 {
        errors.push(sf_sys.prepare().await.expect_err("refused"));
        errors.push(
            gz_sys
                .fetch(&["6c7a4f0e-1b2c-4d3e-8f9a-0b1c2d3e4f5a".into()])
                .await
                .expect_err("refused"),
        );
    }
    // THEN each system saw exactly one token request and no API call
    assert_eq!(sf.counters().total, 1);
    assert_eq!(gz.counters().total, 1);
    // AND every error is an authentication failure naming the OAuth error, never the secret
    for e in &errors {
        assert!(matches!(e, SystemError::Auth { .. }), "{e:?}");
        let text = e.to_string();
        assert!(text.contains("invalid_client"), "{text}");
        assert!(!text.contains("wrong-"), "{text}");
    }
}

#[tokio::test]
async fn api_usage_counts_every_request_sent_and_the_reported_allocation() {
    // GIVEN a Salesforce org with a 1,000-request daily allocation, a Genesys org, one record
    // in each, and fresh clients that have sent nothing
    let sf_sim = SalesforceSim::start(SalesforceSimConfig {
        daily_api_limit: 1_000,
        ..SalesforceSimConfig::default()
    })
    .await
    .expect("sf sim");
    let gz_sim = GenesysSim::start(GenesysSimConfig::default())
        .await
        .expect("gz sim");
    let sf_id = sf_sim.insert(json!({"LastName": "Only"}));
    let gz_id = gz_sim.insert(json!({"lastName": "Only"}));
    let sf = SalesforceSystem::new(salesforce_config(&sf_sim)).expect("sf config");
    let gz = GenesysSystem::new(genesys_config(&gz_sim, None)).expect("gz config");
    assert_eq!(sf.api_usage(), ApiUsage::default());
    assert_eq!(gz.api_usage().requests, 0);

    // WHEN each fetches its record twice
    for _ in 0..2 {
        sf.fetch(std::slice::from_ref(&sf_id))
            .await
            .expect("sf fetch");
        gz.fetch(std::slice::from_ref(&gz_id))
            .await
            .expect("gz fetch");
    }

    // THEN the requests counted are the requests the servers received (token requests too)
    let (sf_usage, gz_usage) = (sf.api_usage(), gz.api_usage());
    assert_eq!(sf_usage.requests, sf_sim.counters().total);
    assert_eq!(gz_usage.requests, gz_sim.counters().total);
    assert!(sf_usage.requests >= 3, "{sf_usage:?}");
    // AND Salesforce's allocation is the one its last answer reported; Genesys reports none
    let daily = sf_usage.daily.expect("Sforce-Limit-Info seen");
    assert_eq!((daily.used, daily.max), (sf_sim.api_usage(), 1_000));
    assert_eq!(gz_usage.daily, None);
}
