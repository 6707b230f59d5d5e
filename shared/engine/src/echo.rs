//! The echo of our own write: a record whose mapped values are exactly the pair's base on its
//! side. Reading it again tells the sync nothing: what it holds is what both sides agreed on at
//! the last sync (usually because we just wrote it), so merging it against the base leaves
//! every field of that side unchanged.
//!
//! This module answers only the value half of "is this change our echo" (pure); whether the
//! record's stamp is at or after our write, and whether the pair is cleanly synced, is the
//! poll's to check.

use crate::contact::{CanonicalContact, SideRecord};
use crate::mapping::{FieldSpec, Mapping};
use crate::normalise::same_option;
use crate::side::Side;

/// Whether `record` holds, for every field the mapping reads on its side, the value `base`
/// holds (compared as the field's kind says, like the merge: a phone by its digits). A record
/// with a value the mapping could not translate (`unmapped`) is never an echo: the merge keeps
/// the base for such a field whatever the side holds, so equality would say nothing.
pub fn is_echo(mapping: &Mapping, base: &CanonicalContact, record: &SideRecord) -> bool {
    record.unmapped.is_empty()
        && mapping
            .fields
            .iter()
            .filter(|spec| is_on_side(spec, record.side))
            .all(|spec| {
                same_option(
                    spec.kind,
                    base.get(&spec.name),
                    record.fields.get(&spec.name),
                )
            })
}

/// Whether a field is read from `side` (a field derived into the other side is not).
fn is_on_side(spec: &FieldSpec, side: Side) -> bool {
    match side {
        Side::Salesforce => spec.salesforce.is_some(),
        Side::Genesys => spec.genesys.is_some(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merge::{MergeClock, Reason, merge_pair};
    use chrono::{DateTime, Utc};
    use proptest::prelude::*;
    use serde_json::{Value, json};

    fn at() -> DateTime<Utc> {
        DateTime::from_timestamp(1_717_243_200, 0).expect("valid timestamp")
    }

    fn salesforce(mapping: &Mapping, body: Value) -> SideRecord {
        mapping.salesforce_record("003000000000001AAA", at(), &body)
    }

    fn genesys(mapping: &Mapping, body: Value) -> SideRecord {
        mapping.genesys_record("6f1c9a52-0000-4000-8000-000000000001", at(), body, None)
    }

    /// Title, first and last name drawn from a tiny alphabet with "empty" in it.
    fn value() -> impl Strategy<Value = Option<&'static str>> {
        prop::sample::select(vec![None, Some("Ada"), Some("Grace"), Some("Alan")])
    }

    fn sf_body(first: Option<&str>, last: Option<&str>, title: Option<&str>) -> Value {
        json!({ "FirstName": first, "LastName": last, "Title": title })
    }

    fn gz_body(first: Option<&str>, last: Option<&str>, title: Option<&str>) -> Value {
        json!({ "firstName": first, "lastName": last, "title": title })
    }

    #[test]
    fn a_record_holding_the_base_is_an_echo_and_one_changed_field_is_not() {
        // GIVEN the default mapping and a base taken from a Salesforce record
        let m = Mapping::default_mapping();
        let written = salesforce(
            &m,
            json!({ "FirstName": "Ada", "LastName": "Lovelace", "Email": "ADA@Example.com ", "Phone": "+44 20 7946 0018" }),
        );
        let base = written.fields.clone();
        // WHEN the same record is read again, with the phone formatted otherwise
        let again = salesforce(
            &m,
            json!({ "FirstName": "Ada", "LastName": "Lovelace", "Email": "ada@example.com", "Phone": "+442079460018" }),
        );
        // THEN it is an echo
        assert!(is_echo(&m, &base, &again));
        // AND a record with a title the base does not hold is not
        let edited = salesforce(
            &m,
            json!({ "FirstName": "Ada", "LastName": "Lovelace", "Email": "ada@example.com", "Phone": "+442079460018", "Title": "Countess" }),
        );
        assert!(!is_echo(&m, &base, &edited));
    }

    #[test]
    fn a_genesys_record_is_compared_on_the_fields_genesys_holds() {
        // GIVEN a base agreed from a Genesys record
        let m = Mapping::default_mapping();
        let base = genesys(
            &m,
            json!({ "firstName": "Grace", "lastName": "Hopper", "workEmail": "grace@example.com" }),
        )
        .fields;
        // WHEN the contact is read again unchanged, and once with its email emptied
        let same = genesys(
            &m,
            json!({ "firstName": "Grace", "lastName": "Hopper", "workEmail": "grace@example.com" }),
        );
        let emptied = genesys(&m, json!({ "firstName": "Grace", "lastName": "Hopper" }));
        // THEN the first is an echo and the second is not
        assert!(is_echo(&m, &base, &same));
        assert!(!is_echo(&m, &base, &emptied));
    }

    proptest! {
        /// For every base and every pair of records: when both records are echoes of the base,
        /// the merge writes nothing and leaves every field unchanged; and a record is an echo
        /// of its own values.
        #[test]
        fn echoes_on_both_sides_merge_to_nothing(
            base in (value(), value(), value()),
            sf in (value(), value(), value()),
            gz in (value(), value(), value()),
        ) {
            // GIVEN a base agreed at the last sync and the records read on both sides
            let m = Mapping::default_mapping();
            let base = salesforce(&m, sf_body(base.0, base.1, base.2)).fields;
            let sf = salesforce(&m, sf_body(sf.0, sf.1, sf.2));
            let gz = genesys(&m, gz_body(gz.0, gz.1, gz.2));
            // WHEN each is checked for an echo of the base, and the pair is merged
            let merged = merge_pair(&m, Some(&base), &sf, &gz, &MergeClock::at(at()), None);
            // THEN a record always echoes its own values
            prop_assert!(is_echo(&m, &sf.fields, &sf));
            // AND two echoes merge to no write, every field unchanged, the base kept
            if is_echo(&m, &base, &sf) && is_echo(&m, &base, &gz) {
                prop_assert!(merged.decisions.iter().all(|d| d.writes().next().is_none()));
                prop_assert!(merged.decisions.iter().all(|d| d.reason == Reason::Unchanged));
                prop_assert_eq!(&merged.new_base, &base);
            }
            // AND an echo is never read as a change of its side
            if is_echo(&m, &base, &sf) {
                let changed_on_salesforce = Reason::ChangedOn { side: Side::Salesforce };
                prop_assert!(merged.decisions.iter().all(|d| d.reason != changed_on_salesforce));
            }
        }
    }
}
