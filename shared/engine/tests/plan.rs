//! GIVEN/WHEN/THEN tests of `plan_pair` through the default mapping and raw records as the two
//! APIs return them.

use chrono::{DateTime, Duration, Utc};
use contact_sync_engine::mapping::Mapping;
use contact_sync_engine::merge::Choice;
use contact_sync_engine::merge::{MergeClock, Reason};
use contact_sync_engine::plan::{
    PairAction, PairInput, PairPlan, PlanContext, SalesforceMerge, SideWrite, plan_pair,
};
use contact_sync_engine::{CanonicalContact, Side, SideRecord};
use serde_json::{Value, json};
use std::collections::BTreeMap;

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
            salesforce_merged_into: None,
            resolutions: None,
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
    // ... and the values go back exactly as Genesys holds them (minus server-set fields,
    // phones as they were written: without the e164/countryCode Genesys derives)
    for key in ["workEmail", "firstName", "title", "address"] {
        assert_eq!(body[key], gz_raw[key], "{key}");
    }
    for key in ["workPhone", "cellPhone"] {
        assert_eq!(body[key], as_written(&gz_raw[key]), "{key}");
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
            salesforce_merged_into: None,
            resolutions: None,
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
            salesforce_merged_into: None,
            resolutions: None,
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
            salesforce_merged_into: None,
            resolutions: None,
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
            salesforce_merged_into: None,
            resolutions: None,
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
            salesforce_merged_into: None,
            resolutions: None,
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
        gz_write["cellPhone"],
        as_written(&gz_body["cellPhone"]),
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
            .map(|d| (&*d.field, d.reason.clone()))
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

/// A mapping with the given mode and delete policy over the default fields' names and phones.
fn mapping_with(mode: &str, deletes: &str) -> Mapping {
    let yaml = format!(
        "version: 1\nmode: {mode}\ndeletes: {{policy: {deletes}}}\nfields:\n  - {{name: first_name, salesforce: FirstName, genesys: firstName{dir}}}\n  - {{name: email, kind: email, salesforce: Email, genesys: workEmail{dir}}}\n",
        dir = if mode == "both" {
            ", direction: both, policy: salesforce_wins"
        } else {
            ""
        }
    );
    Mapping::from_yaml(&yaml, "deletes.yaml").expect("valid")
}

/// The record URL we write in `externalSystemUrl` for [`SF_ID`].
fn record_url() -> String {
    format!("{INSTANCE_URL}/lightning/r/Contact/{SF_ID}/view")
}

/// A linked Genesys contact as we leave it: the link source's entry, our record URL, and an
/// entry of another external source (someone else's).
fn linked_with_url() -> Value {
    let mut body = linked(genesys_body());
    body["externalSystemUrl"] = json!(record_url());
    body["externalIds"]
        .as_array_mut()
        .expect("ids")
        .push(json!({"externalSource": {"id": "src-erp"}, "value": "ERP-7"}));
    body
}

/// One row of the delete-policy table: mode, policy, the side whose record is gone, the
/// action, the side deleted, and whether the Genesys contact left is written without its link.
type GoneCase = (
    &'static str,
    &'static str,
    Side,
    PairAction,
    Option<Side>,
    bool,
);

fn gone_plan(mapping: &Mapping, missing: Side, merged_into: Option<SalesforceMerge>) -> PairPlan {
    let sf = salesforce(mapping, &salesforce_body(), now());
    let gz = genesys(mapping, &linked_with_url(), now());
    let base = CanonicalContact::new().with("first_name", "Ana");
    plan_pair(
        &ctx(mapping),
        &PairInput {
            base: Some(&base),
            sf_id: Some(SF_ID),
            gz_id: Some(GZ_ID),
            salesforce: (missing != Side::Salesforce).then_some(&sf),
            genesys: (missing != Side::Genesys).then_some(&gz),
            salesforce_merged_into: merged_into,
            resolutions: None,
        },
    )
}

#[test]
fn a_deleted_record_follows_the_delete_policy_in_every_mode() {
    // GIVEN a linked pair whose record on one side is gone, for every mode × policy × side
    #[rustfmt::skip]
    // The last column: the surviving Genesys contact is written without its link (the
    // Salesforce record is gone and the pair is unlinked, not deleted).
    let table: &[GoneCase] = &[
        // mode     policy      missing          action                                           delete on           unlink write
        ("both",    "propagate", Side::Salesforce, PairAction::Delete { missing: Side::Salesforce }, Some(Side::Genesys), false),
        ("both",    "propagate", Side::Genesys,    PairAction::Delete { missing: Side::Genesys },    Some(Side::Salesforce), false),
        ("both",    "unlink",    Side::Salesforce, PairAction::Unlink { missing: Side::Salesforce }, None, true),
        ("both",    "unlink",    Side::Genesys,    PairAction::Unlink { missing: Side::Genesys },    None, false),
        ("both",    "ignore",    Side::Salesforce, PairAction::Forget { missing: Side::Salesforce }, None, true),
        ("both",    "ignore",    Side::Genesys,    PairAction::Forget { missing: Side::Genesys },    None, false),
        ("one_way", "propagate", Side::Salesforce, PairAction::Delete { missing: Side::Salesforce }, Some(Side::Genesys), false),
        // One-way mode never deletes from Salesforce: the pair is unlinked instead.
        ("one_way", "propagate", Side::Genesys,    PairAction::Unlink { missing: Side::Genesys },    None, false),
        ("one_way", "unlink",    Side::Genesys,    PairAction::Unlink { missing: Side::Genesys },    None, false),
        ("one_way", "unlink",    Side::Salesforce, PairAction::Unlink { missing: Side::Salesforce }, None, true),
        ("one_way", "ignore",    Side::Salesforce, PairAction::Forget { missing: Side::Salesforce }, None, true),
    ];
    for (mode, policy, missing, action, delete_on, unlinks) in table {
        // WHEN planned
        let plan = gone_plan(&mapping_with(mode, policy), *missing, None);
        // THEN the action is the policy's, the only write is the propagated delete, and the
        // base is kept (the pair becomes a tombstone)
        assert_eq!(&plan.action, action, "{mode} / {policy} / {missing}");
        let deleted: Vec<Side> = [Side::Salesforce, Side::Genesys]
            .into_iter()
            .filter(|side| matches!(plan.write_for(*side), Some(SideWrite::Delete { .. })))
            .collect();
        assert_eq!(
            deleted,
            delete_on.iter().copied().collect::<Vec<_>>(),
            "{mode} / {policy} / {missing}"
        );
        let creates_or_updates = [Side::Salesforce, Side::Genesys]
            .into_iter()
            .filter(|side| {
                matches!(
                    plan.write_for(*side),
                    Some(SideWrite::Create { .. } | SideWrite::Update { .. })
                )
            })
            .count();
        assert_eq!(creates_or_updates, usize::from(*unlinks));
        if *unlinks {
            assert_unlinked(&plan);
        }
        assert_eq!(plan.new_base.get("first_name"), Some("Ana"));
    }
}

/// The plan's only write is the Genesys contact without the link to [`SF_ID`]: no entry of
/// the link source, no record URL; everything else kept (the other source's entry, fields).
fn assert_unlinked(plan: &PairPlan) {
    assert!(plan.salesforce.is_none());
    let Some(SideWrite::Update { id, body, fields }) = &plan.genesys else {
        panic!("no unlink write: {:?}", plan.genesys);
    };
    assert_eq!(id, GZ_ID);
    assert!(fields.is_empty(), "an unlink changes no field: {fields:?}");
    assert_eq!(
        body["externalIds"],
        json!([{"externalSource": {"id": "src-erp"}, "value": "ERP-7"}])
    );
    assert!(body.get("externalSystemUrl").is_none(), "{body}");
    assert_eq!(body["firstName"], "Ana");
    assert!(
        body.get("modifyDate").is_none(),
        "server-set fields are not sent back"
    );
}

#[test]
fn an_unlink_of_a_contact_already_without_its_link_writes_nothing() {
    // GIVEN a pair whose Salesforce record is gone and whose Genesys contact no longer carries
    // the link (an earlier unlink landed, and the commit did not)
    let mapping = mapping_with("both", "unlink");
    let gz = genesys(&mapping, &genesys_body(), now());
    let base = CanonicalContact::new().with("first_name", "Ana");
    // WHEN planned again
    let plan = plan_pair(
        &ctx(&mapping),
        &PairInput {
            base: Some(&base),
            sf_id: Some(SF_ID),
            gz_id: Some(GZ_ID),
            salesforce: None,
            genesys: Some(&gz),
            salesforce_merged_into: None,
            resolutions: None,
        },
    );
    // THEN it still unlinks the pair, and writes nothing
    assert_eq!(
        plan.action,
        PairAction::Unlink {
            missing: Side::Salesforce
        }
    );
    assert!(plan.salesforce.is_none() && plan.genesys.is_none());
}

#[test]
fn an_unlink_keeps_a_link_and_a_url_that_are_not_ours() {
    // GIVEN a Genesys contact whose link source entry names another Salesforce record and
    // whose externalSystemUrl points elsewhere (a person re-linked it by hand)
    let mapping = mapping_with("both", "unlink");
    let mut body = genesys_body();
    body["externalIds"] =
        json!([{"externalSource": {"id": SOURCE_ID}, "value": "003000000000009AAA"}]);
    body["externalSystemUrl"] = json!("https://crm.example.com/people/42");
    let gz = mapping.genesys_record(GZ_ID, now(), body, Some(SOURCE_ID));
    // WHEN the pair's Salesforce record is gone and the pair is planned
    let plan = plan_pair(
        &ctx(&mapping),
        &PairInput {
            base: None,
            sf_id: Some(SF_ID),
            gz_id: Some(GZ_ID),
            salesforce: None,
            genesys: Some(&gz),
            salesforce_merged_into: None,
            resolutions: None,
        },
    );
    // THEN nothing is written: neither is the gone record's link
    assert!(plan.genesys.is_none(), "{:?}", plan.genesys);
}

#[test]
fn a_merge_into_a_record_that_has_its_own_twin_unlinks_or_removes_the_losers_twin() {
    // GIVEN a Salesforce record merged into a survivor that already has a pair
    let merge = SalesforceMerge {
        survivor: "003000000000002AAA",
        survivor_paired: true,
    };
    // WHEN planned under unlink, ignore and propagate
    let unlink = gone_plan(
        &mapping_with("both", "unlink"),
        Side::Salesforce,
        Some(merge),
    );
    let ignore = gone_plan(
        &mapping_with("both", "ignore"),
        Side::Salesforce,
        Some(merge),
    );
    let propagate = gone_plan(
        &mapping_with("both", "propagate"),
        Side::Salesforce,
        Some(merge),
    );
    // THEN the pair never follows the survivor (it would be a second twin): the loser's twin
    // is unlinked (written without its link), or deleted under propagate
    assert_eq!(
        unlink.action,
        PairAction::Unlink {
            missing: Side::Salesforce
        }
    );
    assert_unlinked(&unlink);
    assert_eq!(
        ignore.action,
        PairAction::Forget {
            missing: Side::Salesforce
        }
    );
    assert_unlinked(&ignore);
    assert_eq!(
        propagate.action,
        PairAction::Delete {
            missing: Side::Salesforce
        }
    );
    assert_eq!(
        propagate.genesys,
        Some(SideWrite::Delete { id: GZ_ID.into() })
    );
}

#[test]
fn merged_records_repoint_the_pair_to_the_survivor() {
    // GIVEN a Salesforce record merged away (MasterRecordId) and a Genesys contact with mergedTo
    let mapping = mapping_with("both", "propagate");
    let sf_merged = gone_plan(
        &mapping,
        Side::Salesforce,
        Some(SalesforceMerge {
            survivor: "003000000000002AAA",
            survivor_paired: false,
        }),
    );
    let sf = salesforce(&mapping, &salesforce_body(), now());
    let mut gz_body = linked(genesys_body());
    gz_body["mergedTo"] = json!({"id": "gz-survivor", "selfUri": "/x"});
    let gz = genesys(&mapping, &gz_body, now());
    // WHEN planned
    let gz_merged = plan_pair(
        &ctx(&mapping),
        &PairInput {
            base: None,
            sf_id: Some(SF_ID),
            gz_id: Some(GZ_ID),
            salesforce: Some(&sf),
            genesys: Some(&gz),
            salesforce_merged_into: None,
            resolutions: None,
        },
    );
    // THEN the pair follows the survivor and nothing is deleted or written, even under propagate
    assert_eq!(
        sf_merged.action,
        PairAction::Repoint {
            side: Side::Salesforce,
            into: "003000000000002AAA".into()
        }
    );
    assert_eq!(
        gz_merged.action,
        PairAction::Repoint {
            side: Side::Genesys,
            into: "gz-survivor".into()
        }
    );
    for plan in [&sf_merged, &gz_merged] {
        assert!(plan.salesforce.is_none() && plan.genesys.is_none());
    }
}

#[test]
fn one_way_mode_never_creates_or_updates_salesforce() {
    // GIVEN a one-way mapping, a Genesys-only contact and a linked pair edited in Genesys
    let mapping = mapping_with("one_way", "unlink");
    let gz_only = genesys(&mapping, &genesys_body(), now());
    let sf = salesforce(&mapping, &salesforce_body(), now());
    let mut edited = linked(genesys_body());
    edited["firstName"] = json!("Anita");
    let gz = genesys(&mapping, &edited, now());
    let base = CanonicalContact::new()
        .with("first_name", "Ana")
        .with("email", "ana.lopez@example.com");
    // WHEN planned
    let create = plan_pair(
        &ctx(&mapping),
        &PairInput {
            base: None,
            sf_id: None,
            gz_id: Some(GZ_ID),
            salesforce: None,
            genesys: Some(&gz_only),
            salesforce_merged_into: None,
            resolutions: None,
        },
    );
    let update = plan_pair(
        &ctx(&mapping),
        &PairInput {
            base: Some(&base),
            sf_id: Some(SF_ID),
            gz_id: Some(GZ_ID),
            salesforce: Some(&sf),
            genesys: Some(&gz),
            salesforce_merged_into: None,
            resolutions: None,
        },
    );
    // THEN the Genesys-only contact is skipped and the drift is overwritten in Genesys
    assert_eq!(create.action, PairAction::Skip);
    assert!(create.salesforce.is_none());
    assert!(update.salesforce.is_none());
    let (_, body, fields) = update_of(update.genesys.as_ref());
    assert_eq!(fields, ["first_name".to_string()]);
    assert_eq!(body["firstName"], "Ana");
    assert_eq!(
        update.decisions[0].reason,
        Reason::Drift {
            owner: Side::Salesforce
        }
    );
}

#[test]
fn a_persons_choice_is_applied_and_explained() {
    // GIVEN a manual field held in review, and a person who chose the Genesys value
    let yaml = "version: 1\nfields:\n  - {name: title, salesforce: Title, genesys: title, direction: both, policy: manual}\n";
    let mapping = Mapping::from_yaml(yaml, "manual.yaml").unwrap();
    let sf = salesforce(&mapping, &salesforce_body(), now());
    let mut gz_body = linked(genesys_body());
    gz_body["title"] = json!("Staff Engineer");
    let gz = genesys(&mapping, &gz_body, now());
    let base = CanonicalContact::new().with("title", "Intern");
    let input = |resolutions| PairInput {
        base: Some(&base),
        sf_id: Some(SF_ID),
        gz_id: Some(GZ_ID),
        salesforce: Some(&sf),
        genesys: Some(&gz),
        salesforce_merged_into: None,
        resolutions,
    };
    let held = plan_pair(&ctx(&mapping), &input(None));
    let choice = BTreeMap::from([(
        "title".to_string(),
        Choice::Side {
            side: Side::Genesys,
        },
    )]);
    // WHEN planned with the choice
    let chosen = plan_pair(&ctx(&mapping), &input(Some(&choice)));
    // THEN the held plan writes nothing and says why; the chosen plan writes Salesforce only
    assert!(held.salesforce.is_none() && held.genesys.is_none());
    assert_eq!(held.decisions[0].reason, Reason::HeldForReview);
    let (_, body, _) = update_of(chosen.salesforce.as_ref());
    assert_eq!(body["Title"], "Staff Engineer");
    assert!(chosen.genesys.is_none());
    assert_eq!(chosen.new_base.get("title"), Some("Staff Engineer"));
    // AND the explanation names the action, the sides and the reason, never a value
    let text = chosen.explain().to_string();
    assert_eq!(
        text,
        "update; update salesforce\n  title: value chosen by a person"
    );
    let json = serde_json::to_value(chosen.explain()).unwrap();
    assert_eq!(json["action"], "update");
    assert_eq!(
        json["fields"][0],
        json!({"field": "title", "reason": "chosen_by_person", "writes": ["salesforce"]})
    );
    assert!(!held.explain().to_string().contains("Staff"));
}

#[test]
fn derived_fields_are_written_on_create_and_when_their_inputs_change() {
    // GIVEN a template into Salesforce and a conditional into Genesys
    let yaml = r#"
version: 1
genesys_schema: {id: s1, version: 1}
fields:
  - {name: first_name, salesforce: FirstName, genesys: firstName, direction: both, policy: salesforce_wins}
  - {name: last_name, salesforce: LastName, genesys: lastName, direction: both, policy: salesforce_wins}
  - {name: lead_score, kind: number, salesforce: Lead_Score__c, genesys: customFields.lead_score, direction: salesforce_to_genesys}
  - {name: full_name, salesforce: Full_Name__c, template: "{first_name} {last_name}"}
  - {name: temperature, genesys: customFields.temperature, when: "lead_score >= 75", then: Hot, else: Warm}
"#;
    let mapping = Mapping::from_yaml(yaml, "derived.yaml").unwrap();
    let mut sf_body = salesforce_body();
    sf_body["Lead_Score__c"] = json!(80);
    let sf = salesforce(&mapping, &sf_body, now());
    // WHEN a Salesforce-only record is planned
    let create = plan_pair(
        &ctx(&mapping),
        &PairInput {
            base: None,
            sf_id: Some(SF_ID),
            gz_id: None,
            salesforce: Some(&sf),
            genesys: None,
            salesforce_merged_into: None,
            resolutions: None,
        },
    );
    // THEN Genesys is created with the conditional's value, and Salesforce gets the template
    let Some(SideWrite::Create { body }) = &create.genesys else {
        panic!("{:?}", create.genesys)
    };
    assert_eq!(body["customFields"]["temperature"], "Hot");
    assert_eq!(body["customFields"]["lead_score"], 80);
    let (_, sf_update, fields) = update_of(create.salesforce.as_ref());
    assert_eq!(sf_update["Full_Name__c"], "Ana Lopez");
    assert_eq!(fields, ["full_name".to_string()]);

    // WHEN the last name changes in Genesys after the first sync
    let mut sf_synced = sf_body.clone();
    sf_synced["Full_Name__c"] = json!("Ana Lopez");
    let sf = salesforce(&mapping, &sf_synced, now());
    let mut gz_body = linked(genesys_body());
    gz_body["lastName"] = json!("Garcia");
    gz_body["customFields"] = json!({"lead_score": 80, "temperature": "Hot"});
    let gz = genesys(&mapping, &gz_body, now());
    let update = plan_pair(
        &ctx(&mapping),
        &PairInput {
            base: Some(&create.new_base),
            sf_id: Some(SF_ID),
            gz_id: Some(GZ_ID),
            salesforce: Some(&sf),
            genesys: Some(&gz),
            salesforce_merged_into: None,
            resolutions: None,
        },
    );
    // THEN Salesforce gets the new last name and the re-derived full name in one update
    let (_, body, fields) = update_of(update.salesforce.as_ref());
    assert_eq!(body["LastName"], "Garcia");
    assert_eq!(body["Full_Name__c"], "Ana Garcia");
    assert_eq!(fields, ["last_name".to_string(), "full_name".to_string()]);
    assert!(update.genesys.is_none());
}

/// A Genesys phone as it was written: `display` is the `userInput` (when there is one), and
/// the fields Genesys derives (`e164`, `countryCode`, `userInput`) are not sent back.
fn as_written(phone: &Value) -> Value {
    let mut phone = phone.clone();
    if let Value::Object(map) = &mut phone {
        if let Some(input) = map.remove("userInput") {
            map.insert("display".into(), input);
        }
        map.remove("e164");
        map.remove("countryCode");
    }
    phone
}
