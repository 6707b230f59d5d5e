//! GIVEN/WHEN/THEN tests of country and state fields through the mapping: records read from
//! raw Salesforce and Genesys JSON, merged, and written back as update bodies.

use chrono::{DateTime, Utc};
use contact_sync_engine::mapping::Mapping;
use contact_sync_engine::merge::{MergeClock, Reason, merge_pair};
use contact_sync_engine::{CanonicalContact, Side, SideRecord};
use serde_json::{Value, json};

const SF_ID: &str = "003000000000001AAA";

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_717_243_200, 0).expect("valid timestamp")
}

fn salesforce(mapping: &Mapping, country: &str, state: &str) -> SideRecord {
    mapping.salesforce_record(
        SF_ID,
        now(),
        &json!({"Id": SF_ID, "LastName": "Lopez", "MailingCountry": country, "MailingState": state}),
    )
}

fn genesys_body(country: &str, state: &str) -> Value {
    json!({"id": "g1", "lastName": "Lopez", "address": {"countryCode": country, "state": state}})
}

fn genesys(mapping: &Mapping, country: &str, state: &str) -> SideRecord {
    mapping.genesys_record("g1", now(), genesys_body(country, state), None)
}

/// The writes a merge of the two records (against `base`) makes, by field.
fn writes(
    mapping: &Mapping,
    base: Option<&CanonicalContact>,
    sf: &SideRecord,
    gz: &SideRecord,
) -> Vec<(String, Side, Option<String>)> {
    merge_pair(mapping, base, sf, gz, &MergeClock::at(now()), None)
        .decisions
        .into_iter()
        .filter_map(|d| d.write.map(|(side, v)| (d.field.to_string(), side, v)))
        .collect()
}

#[test]
fn usa_in_salesforce_and_us_in_genesys_are_one_value_and_cause_no_write() {
    // GIVEN the default mapping, and one contact typed differently on each side
    let m = Mapping::default_mapping();
    for (sf_country, sf_state) in [
        ("USA", "Indiana"),
        ("U.S.A.", "indiana"),
        ("United States", "IN"),
        ("us", "US-IN"),
    ] {
        let sf = salesforce(&m, sf_country, sf_state);
        let gz = genesys(&m, "US", "IN");
        // WHEN both are read THEN the canonical values are the ISO codes on both sides
        assert_eq!(sf.fields.get("address.country"), Some("US"), "{sf_country}");
        assert_eq!(gz.fields.get("address.country"), Some("US"));
        assert_eq!(sf.fields.get("address.state"), Some("US-IN"), "{sf_state}");
        assert_eq!(gz.fields.get("address.state"), Some("US-IN"));
        assert!(sf.unmapped.is_empty() && gz.unmapped.is_empty());
        // AND a first merge of the pair writes nothing for them (no ping-pong)
        assert_eq!(writes(&m, None, &sf, &gz), vec![], "{sf_country}");
    }
}

#[test]
fn a_change_in_salesforce_to_deutschland_writes_de_to_genesys() {
    // GIVEN a synced pair in the US, then Salesforce changes the country to "Deutschland"
    // and the state to "Bayern"
    let m = Mapping::default_mapping();
    let base = salesforce(&m, "US", "IN").fields;
    let sf = salesforce(&m, "Deutschland", "Bayern");
    let gz = genesys(&m, "US", "IN");
    // WHEN merged
    let w = writes(&m, Some(&base), &sf, &gz);
    // THEN Genesys gets the new canonical values
    assert_eq!(
        w,
        vec![
            (
                "address.state".to_string(),
                Side::Genesys,
                Some("DE-BY".to_string())
            ),
            (
                "address.country".to_string(),
                Side::Genesys,
                Some("DE".to_string())
            ),
        ]
    );
    // AND the Genesys body carries the codes, not the names
    let changes: Vec<_> = w.into_iter().map(|(f, _, v)| (f.into(), v)).collect();
    let body = m.genesys_update_body(&genesys_body("US", "IN"), &changes, None);
    assert_eq!(body["address"], json!({"countryCode": "DE", "state": "BY"}));
}

#[test]
fn salesforce_gets_the_style_of_the_field() {
    // GIVEN a change made in Genesys (country and state codes)
    let m = Mapping::default_mapping();
    let changes = vec![
        ("address.country".into(), Some("CA".to_string())),
        ("address.state".into(), Some("CA-QC".to_string())),
    ];
    // WHEN written to Salesforce with the default style THEN as ISO English names
    let body = m.salesforce_update_body(SF_ID, &changes);
    assert_eq!(body["MailingCountry"], "Canada");
    assert_eq!(body["MailingState"], "Quebec");
    // AND what is written reads back as the same canonical values (no ping-pong)
    let back = m.salesforce_record(SF_ID, now(), &body);
    assert_eq!(back.fields.get("address.country"), Some("CA"));
    assert_eq!(back.fields.get("address.state"), Some("CA-QC"));
    // GIVEN `country_style: alpha2` on both fields WHEN written THEN as codes
    let yaml = contact_sync_engine::mapping::DEFAULT_MAPPING_YAML
        .replace(
            "    kind: country\n",
            "    kind: country\n    country_style: alpha2\n",
        )
        .replace(
            "    kind: subdivision\n",
            "    kind: subdivision\n    country_style: alpha2\n",
        );
    let coded = Mapping::from_yaml(&yaml, "alpha2.yaml").expect("valid");
    let body = coded.salesforce_update_body(SF_ID, &changes);
    assert_eq!(body["MailingCountry"], "CA");
    assert_eq!(body["MailingState"], "QC");
    let create = coded.salesforce_create_body(
        &CanonicalContact::new()
            .with("address.country", "GB")
            .with("address.state", "Atlantis"),
    );
    assert_eq!(create["MailingCountry"], "GB");
    assert_eq!(create["MailingState"], "Atlantis");
}

#[test]
fn a_value_that_names_no_country_is_copied_as_typed_unless_the_field_asks_for_review() {
    // GIVEN Salesforce values that name no country and no state
    let m = Mapping::default_mapping();
    let sf = salesforce(&m, " Atlantis ", "Lemuria");
    // WHEN read with the default rule THEN kept as typed (trimmed), and merged into Genesys
    assert_eq!(sf.fields.get("address.country"), Some("Atlantis"));
    assert_eq!(sf.fields.get("address.state"), Some("Lemuria"));
    assert!(sf.unmapped.is_empty());
    let gz = m.genesys_record("g1", now(), json!({"id": "g1", "lastName": "Lopez"}), None);
    let w = writes(&m, None, &sf, &gz);
    assert!(w.contains(&(
        "address.country".into(),
        Side::Genesys,
        Some("Atlantis".into())
    )));
    let changes: Vec<_> = w.into_iter().map(|(f, _, v)| (f.into(), v)).collect();
    let body = m.genesys_update_body(&json!({"id": "g1"}), &changes, None);
    assert_eq!(
        body["address"],
        json!({"countryCode": "Atlantis", "state": "Lemuria"})
    );
    // GIVEN `unmapped: review` on the country WHEN read THEN the field is held for review
    let yaml = contact_sync_engine::mapping::DEFAULT_MAPPING_YAML.replace(
        "    kind: country\n",
        "    kind: country\n    unmapped: review\n",
    );
    let strict = Mapping::from_yaml(&yaml, "review.yaml").expect("valid");
    let sf = salesforce(&strict, "Atlantis", "");
    assert_eq!(sf.unmapped, vec!["address.country".to_string()]);
    let decision = merge_pair(&strict, None, &sf, &gz, &MergeClock::at(now()), None)
        .decisions
        .into_iter()
        .find(|d| &*d.field == "address.country")
        .expect("decision");
    assert_eq!(
        decision.reason,
        Reason::Unmapped {
            side: Side::Salesforce,
            review: true
        }
    );
    assert!(decision.write.is_none());
}

#[test]
fn a_state_is_read_in_the_record_s_own_country() {
    // GIVEN "IN" as the state of a US and of an Indian contact
    let m = Mapping::default_mapping();
    // WHEN read THEN Indiana in the US, and nothing Indian by that code (copied as typed)
    assert_eq!(
        salesforce(&m, "USA", "IN").fields.get("address.state"),
        Some("US-IN")
    );
    assert_eq!(
        salesforce(&m, "India", "Karnataka")
            .fields
            .get("address.state"),
        Some("IN-KA")
    );
    assert_eq!(
        salesforce(&m, "India", "IN").fields.get("address.state"),
        Some("IN")
    );
    // AND without a country only a full code resolves
    assert_eq!(
        salesforce(&m, "", "Indiana").fields.get("address.state"),
        Some("Indiana")
    );
}

#[test]
fn with_state_and_country_picklists_the_code_fields_are_read_and_written() {
    // GIVEN the default mapping and an org whose Contact describe lists the code fields
    let mut m = Mapping::default_mapping();
    let org = [
        "MailingCountry",
        "MailingCountryCode",
        "MailingState",
        "MailingStateCode",
    ];
    // WHEN switched at start-up
    let switched = m.use_salesforce_code_fields(|f| org.contains(&f));
    // THEN both fields use their code field, with codes
    let switched: Vec<(String, String)> = switched
        .into_iter()
        .map(|(f, c)| (f.to_string(), c))
        .collect();
    assert_eq!(
        switched,
        vec![
            ("address.state".into(), "MailingStateCode".into()),
            ("address.country".into(), "MailingCountryCode".into())
        ]
    );
    assert!(
        m.salesforce_fields()
            .contains(&"MailingCountryCode".to_string())
    );
    assert!(
        !m.salesforce_fields()
            .contains(&"MailingCountry".to_string())
    );
    let sf = m.salesforce_record(
        SF_ID,
        now(),
        &json!({"MailingCountryCode": "DE", "MailingStateCode": "BY", "MailingCountry": "Germany"}),
    );
    assert_eq!(sf.fields.get("address.country"), Some("DE"));
    assert_eq!(sf.fields.get("address.state"), Some("DE-BY"));
    let body = m.salesforce_update_body(
        SF_ID,
        &[
            ("address.country".into(), Some("US".into())),
            ("address.state".into(), Some("US-IN".into())),
        ],
    );
    assert_eq!(
        body,
        json!({"attributes": {"type": "Contact"}, "id": SF_ID, "MailingCountryCode": "US", "MailingStateCode": "IN"})
    );
    // AND an org without picklists keeps the text fields
    let mut plain = Mapping::default_mapping();
    assert!(plain.use_salesforce_code_fields(|_| false).is_empty());
    assert!(
        plain
            .salesforce_fields()
            .contains(&"MailingCountry".to_string())
    );
}

#[test]
fn country_options_are_checked_when_the_mapping_loads() {
    // GIVEN mappings with one mistake each in a country or state field
    let base = contact_sync_engine::mapping::DEFAULT_MAPPING_YAML;
    let cases = [
        (
            base.replace(
                "    kind: country\n",
                "    kind: country\n    values:\n      - {salesforce: United States, genesys: US}\n",
            ),
            "field `address.country`: a field of `kind: country` or `kind: subdivision` resolves ISO codes itself",
        ),
        (
            base.replace("    kind: country\n", "    country_style: alpha2\n"),
            "field `address.country`: `country_style` applies to fields of `kind: country`",
        ),
        (
            base.replace("    kind: country\n", ""),
            "field `address.state`: a subdivision is resolved in the record's country",
        ),
        (
            base.replace(
                "    kind: subdivision\n",
                "    kind: subdivision\n    country_field: address.city\n",
            ),
            "field `address.state`: country_field `address.city` is not a synced field of `kind: country`",
        ),
        (
            base.replace("    kind: country\n", "    kind: country\n    unmapped: default\n"),
            "`unmapped: default` needs a `values` map",
        ),
    ];
    // WHEN loaded THEN each error names the field and the problem
    for (yaml, expected) in cases {
        let error = Mapping::from_yaml(&yaml, "test.yaml")
            .expect_err(expected)
            .to_string();
        assert!(
            error.contains(expected),
            "{error} should contain {expected}"
        );
    }
}

#[test]
fn an_old_mapping_with_a_country_value_map_on_a_text_field_still_works() {
    // GIVEN an older mapping: the country as a text field with a value map
    let yaml = r#"
version: 1
fields:
  - {name: last_name, salesforce: LastName, genesys: lastName, direction: both, policy: salesforce_wins}
  - name: address.country
    salesforce: MailingCountry
    genesys: address.countryCode
    direction: both
    policy: salesforce_wins
    values:
      - {salesforce: United States, genesys: US}
    unmapped: review
"#;
    let m = Mapping::from_yaml(yaml, "old.yaml").expect("still loads");
    // WHEN read THEN it behaves as before: listed values map, others are held for review
    let sf = m.salesforce_record(SF_ID, now(), &json!({"MailingCountry": "United States"}));
    assert_eq!(sf.fields.get("address.country"), Some("United States"));
    let sf = m.salesforce_record(SF_ID, now(), &json!({"MailingCountry": "USA"}));
    assert_eq!(sf.unmapped, vec!["address.country".to_string()]);
}
