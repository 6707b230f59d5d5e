//! GIVEN/WHEN/THEN tests of `plan_pair` through the default mapping and raw records as the two
//! APIs return them.

use chrono::{DateTime, Duration, Utc};
use contact_sync_engine::mapping::Mapping;
use contact_sync_engine::merge::{MergeClock, Reason};
use contact_sync_engine::plan::{PairAction, PairInput, PlanContext, SideWrite, plan_pair};
use contact_sync_engine::{CanonicalContact, Side, SideRecord};
use serde_json::{Value, json};

const SF_ID: &str = "003000000000001AAA";
const GZ_ID: &str = "6f1e2d3c-0000-4000-8000-000000000001";
const SOURCE_ID: &str = "src-salesforce";
const INSTANCE_URL: &str = "https://example.my.salesforce.com";

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_717_243_200, 0).expect("valid timestamp") // 2024-06-01T12:00:00Z
}

fn ctx(mapping: &Mapping) -> PlanContext<'_> {
    PlanContext {
        mapping,
        clock: MergeClock::at(now()),
        link_source_id: SOURCE_ID,
        instance_url: Some(INSTANCE_URL),
    }
}

/// Ana Lopez as Salesforce returns her.
fn salesforce_body() -> Value {
    json!({
        "attributes": {"type": "Contact", "url": format!("/services/data/v62.0/sobjects/Contact/{SF_ID}")},
        "Id": SF_ID,
        "FirstName": "Ana",
        "LastName": "Lopez",
        "Email": "Ana.Lopez@Example.com",
        "Phone": "(415) 555-0134",
        "MobilePhone": "415.555.0199",
        "Title": "Engineer",
        "MailingCity": "Oakland",
    })
}

/// The same person as Genesys returns her: email in lower case, phones in other formats, no link.
fn genesys_body() -> Value {
    json!({
        "id": GZ_ID,
        "firstName": "Ana",
        "lastName": "Lopez",
        "workEmail": "ana.lopez@example.com",
        "workPhone": {"display": "+1 415-555-0134", "e164": "+14155550134", "countryCode": 1},
        "cellPhone": {"display": "+1 (415) 555-0199", "e164": "+14155550199", "countryCode": 1},
        "title": "Engineer",
        "address": {"city": "Oakland"},
        "modifyDate": "2024-06-01T10:00:00.000Z",
        "selfUri": format!("/api/v2/externalcontacts/contacts/{GZ_ID}"),
    })
}

/// The Genesys body carrying its link to the Salesforce record.
fn linked(mut body: Value) -> Value {
    body["externalIds"] = json!([{
        "externalSource": {"id": SOURCE_ID, "name": "Salesforce"},
        "value": SF_ID,
    }]);
    body
}

fn salesforce(mapping: &Mapping, body: &Value, modified: DateTime<Utc>) -> SideRecord {
    mapping.salesforce_record(SF_ID, modified, body)
}

fn genesys(mapping: &Mapping, body: &Value, modified: DateTime<Utc>) -> SideRecord {
    mapping.genesys_record(GZ_ID, modified, body.clone(), Some(SOURCE_ID))
}

fn update_of(write: Option<&SideWrite>) -> (&str, &Value, &[String]) {
    match write {
        Some(SideWrite::Update { id, body, fields }) => (id, body, fields),
        other => panic!("expected an update, got {other:?}"),
    }
}

#[test]
fn matched_pair_differing_only_in_email_case_and_phone_format_writes_only_the_link() {
    // GIVEN a freshly matched pair (no base yet) whose values differ only in email case and
    // phone formatting, and whose Genesys record does not carry the Salesforce link yet
    let mapping = Mapping::default_mapping();
    let sf = salesforce(&mapping, &salesforce_body(), now() - Duration::hours(1));
    let gz_raw = genesys_body();
    let gz = genesys(&mapping, &gz_raw, now() - Duration::hours(2));
    assert_eq!(gz.link, None);

    // WHEN planned
    let plan = plan_pair(
        &ctx(&mapping),
        &PairInput {
            base: None,
            sf_id: Some(SF_ID),
            gz_id: Some(GZ_ID),
            salesforce: Some(&sf),
            genesys: Some(&gz),
        },
    );

    // THEN no field is written anywhere: the only write is the link on the Genesys record
    assert_eq!(plan.action, PairAction::Update);
    assert!(plan.salesforce.is_none(), "{:?}", plan.salesforce);
    assert!(plan.decisions.iter().all(|d| d.write.is_none()));
    assert_eq!(plan.conflicts().count(), 0);
    let (id, body, fields) = update_of(plan.genesys.as_ref());
    assert_eq!(id, GZ_ID);
    assert!(fields.is_empty(), "{fields:?}");
    assert_eq!(
        body["externalIds"],
        json!([{"externalSource": {"id": SOURCE_ID}, "value": SF_ID}])
    );
    assert_eq!(
        body["externalSystemUrl"],
        format!("{INSTANCE_URL}/lightning/r/Contact/{SF_ID}/view")
    );
    // ... and the values go back exactly as Genesys holds them (minus server-set fields)
    for key in [
        "workEmail",
        "workPhone",
        "cellPhone",
        "firstName",
        "title",
        "address",
    ] {
        assert_eq!(body[key], gz_raw[key], "{key}");
    }
    assert!(body.get("modifyDate").is_none() && body.get("selfUri").is_none());
    // ... and the new base holds the normalised values
    assert_eq!(plan.new_base.get("email"), Some("ana.lopez@example.com"));
    assert_eq!(plan.new_base.get("phone_work"), Some("+14155550134"));
    assert_eq!(plan.new_base.get("phone_mobile"), Some("+14155550199"));
}

#[test]
fn matched_pair_with_the_link_in_place_is_fully_unchanged() {
    // GIVEN the same pair after the first sync: the Genesys record carries the link and the
    // base is the first plan's new base; the formatting differences are still there
    let mapping = Mapping::default_mapping();
    let sf = salesforce(&mapping, &salesforce_body(), now() - Duration::hours(1));
    let first_gz = genesys(&mapping, &genesys_body(), now() - Duration::hours(2));
    let first = plan_pair(
        &ctx(&mapping),
        &PairInput {
            base: None,
            sf_id: Some(SF_ID),
            gz_id: Some(GZ_ID),
            salesforce: Some(&sf),
            genesys: Some(&first_gz),
        },
    );
    let gz = genesys(
        &mapping,
        &linked(genesys_body()),
        now() - Duration::minutes(5),
    );
    assert_eq!(gz.link.as_deref(), Some(SF_ID));

    // WHEN planned again
    let plan = plan_pair(
        &ctx(&mapping),
        &PairInput {
            base: Some(&first.new_base),
            sf_id: Some(SF_ID),
            gz_id: Some(GZ_ID),
            salesforce: Some(&sf),
            genesys: Some(&gz),
        },
    );

    // THEN nothing at all is written, every field is Unchanged, and the base stays
    assert_eq!(plan.action, PairAction::Unchanged);
    assert!(plan.salesforce.is_none() && plan.genesys.is_none());
    assert_eq!(plan.decisions.len(), mapping.fields.len());
    for d in &plan.decisions {
        assert_eq!(d.reason, Reason::Unchanged, "{}", d.field);
    }
    assert_eq!(plan.new_base, first.new_base);
}

#[test]
fn salesforce_only_record_is_created_in_genesys_with_the_link() {
    // GIVEN a Salesforce contact with no Genesys counterpart and no link
    let mapping = Mapping::default_mapping();
    let sf = salesforce(&mapping, &salesforce_body(), now() - Duration::hours(1));

    // WHEN planned
    let plan = plan_pair(
        &ctx(&mapping),
        &PairInput {
            base: None,
            sf_id: Some(SF_ID),
            gz_id: None,
            salesforce: Some(&sf),
            genesys: None,
        },
    );

    // THEN a Genesys contact is created carrying the Salesforce Id and record URL, with the
    // normalised values; Salesforce is not written
    assert_eq!(plan.action, PairAction::Create { on: Side::Genesys });
    assert!(plan.salesforce.is_none());
    let Some(SideWrite::Create { body }) = &plan.genesys else {
        panic!("expected a Genesys create, got {:?}", plan.genesys);
    };
    assert_eq!(
        body["externalIds"],
        json!([{"externalSource": {"id": SOURCE_ID}, "value": SF_ID}])
    );
    assert_eq!(
        body["externalSystemUrl"],
        format!("{INSTANCE_URL}/lightning/r/Contact/{SF_ID}/view")
    );
    assert_eq!(body["firstName"], "Ana");
    assert_eq!(body["lastName"], "Lopez");
    assert_eq!(body["workEmail"], "ana.lopez@example.com");
    assert_eq!(body["workPhone"], json!({"display": "+14155550134"}));
    assert_eq!(body["cellPhone"], json!({"display": "+14155550199"}));
    assert_eq!(body["address"], json!({"city": "Oakland"}));
    // ... and the base to store is what was created
    assert_eq!(plan.new_base, sf.fields);
}

#[test]
fn linked_pair_whose_genesys_record_vanished_is_unlinked_without_writes() {
    // GIVEN a linked pair with a base, whose Genesys record is no longer there
    let mapping = Mapping::default_mapping();
    let sf = salesforce(&mapping, &salesforce_body(), now() - Duration::hours(1));
    let base = sf.fields.clone();

    // WHEN planned
    let plan = plan_pair(
        &ctx(&mapping),
        &PairInput {
            base: Some(&base),
            sf_id: Some(SF_ID),
            gz_id: Some(GZ_ID),
            salesforce: Some(&sf),
            genesys: None,
        },
    );

    // THEN the pair is unlinked: nothing is written (the record is not re-created) and the base
    // is kept as it was
    assert_eq!(
        plan.action,
        PairAction::Unlink {
            missing: Side::Genesys
        }
    );
    assert!(plan.salesforce.is_none() && plan.genesys.is_none());
    assert!(plan.decisions.is_empty());
    assert_eq!(plan.new_base, base);
}

#[test]
fn concurrent_edits_to_different_fields_both_survive() {
    // GIVEN a linked, synced pair; then Salesforce changes the title and, later, Genesys
    // changes the mobile phone
    let mapping = Mapping::default_mapping();
    let synced = salesforce(&mapping, &salesforce_body(), now() - Duration::days(1));
    let base: CanonicalContact = synced.fields.clone();
    let mut sf_body = salesforce_body();
    sf_body["Title"] = json!("Director");
    let sf = salesforce(&mapping, &sf_body, now() - Duration::hours(2));
    let mut gz_body = linked(genesys_body());
    gz_body["cellPhone"] = json!({"display": "(415) 555-0177", "e164": "+14155550177"});
    let gz = genesys(&mapping, &gz_body, now() - Duration::hours(1));

    // WHEN planned
    let plan = plan_pair(
        &ctx(&mapping),
        &PairInput {
            base: Some(&base),
            sf_id: Some(SF_ID),
            gz_id: Some(GZ_ID),
            salesforce: Some(&sf),
            genesys: Some(&gz),
        },
    );

    // THEN no conflict: the mobile goes to Salesforce and the title goes to Genesys
    assert_eq!(plan.action, PairAction::Update);
    assert_eq!(plan.conflicts().count(), 0);
    let (sf_id, sf_write, sf_fields) = update_of(plan.salesforce.as_ref());
    assert_eq!(sf_id, SF_ID);
    assert_eq!(sf_fields, ["phone_mobile"]);
    assert_eq!(
        *sf_write,
        json!({"attributes": {"type": "Contact"}, "id": SF_ID, "MobilePhone": "+14155550177"})
    );
    let (gz_id, gz_write, gz_fields) = update_of(plan.genesys.as_ref());
    assert_eq!(gz_id, GZ_ID);
    assert_eq!(gz_fields, ["title"]);
    assert_eq!(gz_write["title"], "Director");
    assert_eq!(
        gz_write["cellPhone"], gz_body["cellPhone"],
        "Genesys edit kept"
    );
    assert_eq!(
        gz_write["externalIds"], gz_body["externalIds"],
        "link untouched"
    );
    // ... and the new base holds both edits
    assert_eq!(plan.new_base.get("title"), Some("Director"));
    assert_eq!(plan.new_base.get("phone_mobile"), Some("+14155550177"));
    assert_eq!(
        plan.decisions
            .iter()
            .filter(|d| d.write.is_some())
            .map(|d| (d.field.as_str(), d.reason.clone()))
            .collect::<Vec<_>>(),
        [
            (
                "phone_mobile",
                Reason::ChangedOn {
                    side: Side::Genesys
                }
            ),
            (
                "title",
                Reason::ChangedOn {
                    side: Side::Salesforce
                }
            ),
        ]
    );
}
