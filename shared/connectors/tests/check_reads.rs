//! The read-only calls behind `contact-sync check`: Contact describe, the API budget, the link
//! source lookup that never creates, data schemas, and the request counters.

use contact_sync_connectors::{GenesysConfig, GenesysSystem, SalesforceConfig, SalesforceSystem};
use contact_sync_pipeline::system::ContactReader;
use contact_sync_simulators::{GenesysSim, GenesysSimConfig, SalesforceSim, SalesforceSimConfig};

#[tokio::test]
async fn salesforce_describe_reports_write_access_and_the_budget_is_read_from_the_answer() {
    // GIVEN an org of 1,000 daily requests where Title is read-only for the integration user
    let sim = SalesforceSim::start(SalesforceSimConfig {
        daily_api_limit: 1_000,
        ..SalesforceSimConfig::default()
    })
    .await
    .expect("sim");
    sim.set_field_read_only("Title");
    let sys = SalesforceSystem::new(SalesforceConfig::new(
        sim.url(),
        sim.client_id(),
        sim.client_secret(),
    ))
    .expect("config");
    assert!(sys.api_budget().is_none(), "nothing known before a call");

    // WHEN Contact is described
    let fields = sys.describe_contact().await.expect("describe");

    // THEN the fields carry their access, the budget is the header's, and the requests sent
    // (token + describe) are counted; nothing was written
    let field = |name: &str| fields.iter().find(|f| f.name == name).expect("field");
    assert!(field("Email").updateable && field("Email").createable);
    assert!(!field("Title").updateable);
    assert_eq!(field("Email").kind, "email");
    let budget = sys.api_budget().expect("budget");
    assert_eq!((budget.used, budget.max), (1, 1_000));
    assert_eq!(budget.stop_share, 0.8);
    assert_eq!(sys.requests_sent(), 2);
    assert_eq!(sim.counters().writes, 0);
}

#[tokio::test]
async fn the_link_source_lookup_never_creates_it_and_schemas_are_found_by_id() {
    // GIVEN an org without the "Salesforce" source and with one data schema
    let sim = GenesysSim::start(GenesysSimConfig::default())
        .await
        .expect("sim");
    sim.add_data_schema("sch-1", 2, &["lead_score"]);
    let sys = GenesysSystem::new(GenesysConfig::new(
        sim.url(),
        sim.client_id(),
        sim.client_secret(),
    ))
    .expect("config");

    // WHEN the source is looked up, and schemas are read
    let missing = sys.find_link_source().await.expect("lookup");
    let schema = sys.data_schema("sch-1").await.expect("schema");
    let unknown = sys.data_schema("sch-2").await.expect("schema");

    // THEN the source is reported missing and was not created, and the schema answers
    assert_eq!(missing, None);
    assert!(sim.external_sources().is_empty());
    assert_eq!(sim.counters().writes, 0);
    let schema = schema.expect("found");
    assert_eq!(schema.version, 2);
    assert_eq!(schema.fields, vec!["lead_score".to_string()]);
    assert_eq!(unknown, None);

    // WHEN the source exists (created by a sync's prepare) THEN the lookup finds the same id
    let facts = sys.prepare().await.expect("prepare");
    assert_eq!(
        sys.find_link_source().await.expect("lookup"),
        facts.link_source_id
    );
    assert!(sys.requests_sent() >= 4);
}
