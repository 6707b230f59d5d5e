//! Table-driven tests of `merge_field`: every policy × direction × situation, each row checkable
//! by eye against docs/design.md section 2, "Three-way merge per field (base, salesforce, genesys)":
//!
//! - unchanged -> nothing;
//! - one side changed -> copy to the other (if direction allows);
//! - both changed to the same value -> nothing;
//! - both changed differently -> the field's policy (`newest_wins` compares the two records'
//!   modification stamps, with a deterministic tie-break; `manual` writes nothing and opens a
//!   review item);
//! - one-way: edits on the side that does not own the field are overwritten and recorded as
//!   drift; nothing is ever written to the owner.
//!
//! A pair with no base snapshot yet (freshly matched) fills an empty side from the other and
//! settles two different values like a conflict (one-way: the owner's value, empty or not).
//!
//! `reject_empty` (on by default): an empty value never overwrites a non-empty one; the kept
//! value is restored on the emptied side where the direction allows. The first tables run with
//! `reject_empty: false` (the plain design rules), the last ones with the default.
//!
//! Notation: `A`, `B`, `C` are values, `EMPTY` is an empty field, `NO_BASE` means the pair has
//! no base snapshot. A write is `(side written, value written)`.

use chrono::{DateTime, Duration, Utc};
use contact_sync_engine::Side;
use contact_sync_engine::mapping::{Mapping, Policy};
use contact_sync_engine::merge::{MergeClock, Reason, merge_field};

type Val = Option<&'static str>;

const A: Val = Some("a");
const B: Val = Some("b");
const C: Val = Some("c");
const EMPTY: Val = None;
/// The pair has no base snapshot (never synced).
const NO_BASE: Option<Val> = None;

const SF: Side = Side::Salesforce;
const GZ: Side = Side::Genesys;

/// What the merge sees for one field.
#[derive(Debug, Clone, Copy)]
struct Situation {
    name: &'static str,
    base: Option<Val>,
    sf: Val,
    gz: Val,
}

const fn situation(name: &'static str, base: Option<Val>, sf: Val, gz: Val) -> Situation {
    Situation { name, base, sf, gz }
}

// Situations: situation(name, base, salesforce, genesys).
const UNCHANGED: Situation = situation("unchanged", Some(A), A, A);
const SF_CHANGED: Situation = situation("changed on Salesforce only", Some(A), B, A);
const GZ_CHANGED: Situation = situation("changed on Genesys only", Some(A), A, B);
const BOTH_SAME: Situation = situation("both changed to the same value", Some(A), B, B);
const BOTH_DIFFERENT: Situation = situation("both changed differently", Some(A), B, C);
const SF_EMPTIED: Situation = situation("emptied on Salesforce", Some(A), EMPTY, A);
const GZ_EMPTIED: Situation = situation("emptied on Genesys", Some(A), A, EMPTY);
const NO_BASE_GZ_EMPTY: Situation = situation("no base, Genesys empty", NO_BASE, A, EMPTY);
const NO_BASE_SF_EMPTY: Situation = situation("no base, Salesforce empty", NO_BASE, EMPTY, A);
const NO_BASE_DIFFERENT: Situation = situation("no base, both different", NO_BASE, A, B);
const NO_BASE_SAME: Situation = situation("no base, both the same", NO_BASE, A, A);
const SF_EMPTIED_GZ_CHANGED: Situation = situation(
    "emptied on Salesforce, changed on Genesys",
    Some(A),
    EMPTY,
    C,
);

/// One row: the situation, then the expected reason, write and new base.
type Row = (Situation, Reason, Option<(Side, Val)>, Val);

const NOTHING: Option<(Side, Val)> = None;

fn changed_on(side: Side) -> Reason {
    Reason::ChangedOn { side }
}
fn filled_from(side: Side) -> Reason {
    Reason::FilledFrom { side }
}
fn drift(owner: Side) -> Reason {
    Reason::Drift { owner }
}
fn conflict(policy: Policy, winner: Side) -> Reason {
    Reason::Conflict { policy, winner }
}
fn kept(side: Side) -> Reason {
    Reason::EmptyRejected { kept: side }
}
use Reason::{HeldForReview, SameOnBoth, Unchanged};

/// One mapped field per configuration under test.
const MAPPING: &str = "\
version: 1
genesys_schema: {id: table-schema, version: 1}
fields:
  - {name: sf_wins, salesforce: SfWins__c, genesys: customFields.sf_wins, direction: both, policy: salesforce_wins, reject_empty: false}
  - {name: gz_wins, salesforce: GzWins__c, genesys: customFields.gz_wins, direction: both, policy: genesys_wins, reject_empty: false}
  - {name: newest, salesforce: Newest__c, genesys: customFields.newest, direction: both, policy: newest_wins, reject_empty: false}
  - {name: manual, salesforce: Manual__c, genesys: customFields.manual, direction: both, policy: manual, reject_empty: false}
  - {name: sf_to_gz, salesforce: SfToGz__c, genesys: customFields.sf_to_gz, direction: salesforce_to_genesys, reject_empty: false}
  - {name: gz_to_sf, salesforce: GzToSf__c, genesys: customFields.gz_to_sf, direction: genesys_to_salesforce, reject_empty: false}
  - {name: sf_wins_keep, salesforce: SfWinsKeep__c, genesys: customFields.sf_wins_keep, direction: both, policy: salesforce_wins}
  - {name: gz_wins_keep, salesforce: GzWinsKeep__c, genesys: customFields.gz_wins_keep, direction: both, policy: genesys_wins}
  - {name: newest_keep, salesforce: NewestKeep__c, genesys: customFields.newest_keep, direction: both, policy: newest_wins}
  - {name: manual_keep, salesforce: ManualKeep__c, genesys: customFields.manual_keep, direction: both, policy: manual}
  - {name: sf_to_gz_keep, salesforce: SfToGzKeep__c, genesys: customFields.sf_to_gz_keep, direction: salesforce_to_genesys}
  - {name: gz_to_sf_keep, salesforce: GzToSfKeep__c, genesys: customFields.gz_to_sf_keep, direction: genesys_to_salesforce}
";

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_717_243_200, 0).expect("valid timestamp") // 2024-06-01T12:00:00Z
}

/// Record stamps `(salesforce, genesys)`.
type Stamps = (DateTime<Utc>, DateTime<Utc>);

fn salesforce_newer() -> Stamps {
    (now() - Duration::minutes(1), now() - Duration::hours(1))
}
fn genesys_newer() -> Stamps {
    (now() - Duration::hours(1), now() - Duration::minutes(1))
}
fn same_stamp() -> Stamps {
    (now() - Duration::minutes(10), now() - Duration::minutes(10))
}

/// Runs every row against the mapping's field `field` and reports all mismatches at once.
fn check(field: &str, stamps: Stamps, rows: &[Row]) {
    let mapping = Mapping::from_yaml(MAPPING, "table.yaml").expect("table mapping is valid");
    let spec = mapping.field(field).expect("field is mapped");
    let clock = MergeClock::at(now());
    let mut failures = Vec::new();
    for (s, reason, write, new_base) in rows {
        let d = merge_field(spec, s.base, s.sf, s.gz, stamps, &clock);
        let expected_write = write.map(|(side, v)| (side, v.map(str::to_string)));
        let expected_base = new_base.map(str::to_string);
        if *d.field != *field
            || d.reason != *reason
            || d.write != expected_write
            || d.new_base != expected_base
        {
            failures.push(format!(
                "{field} / {}: base {:?} sf {:?} gz {:?}\n  expected {reason:?}, write {expected_write:?}, base {expected_base:?}\n  actual   {:?}, write {:?}, base {:?}",
                s.name, s.base, s.sf, s.gz, d.reason, d.write, d.new_base
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows differ:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );
}

#[test]
fn both_ways_salesforce_wins() {
    // GIVEN a `both` field with policy salesforce_wins (and Genesys holding the newer stamp,
    // which this policy must ignore)
    #[rustfmt::skip]
    let rows: &[Row] = &[
        // situation          reason                                       write              new base
        (UNCHANGED,          Unchanged,                                    NOTHING,           A),
        (SF_CHANGED,         changed_on(SF),                               Some((GZ, B)),     B),
        (GZ_CHANGED,         changed_on(GZ),                               Some((SF, B)),     B),
        (BOTH_SAME,          SameOnBoth,                                   NOTHING,           B),
        (BOTH_DIFFERENT,     conflict(Policy::SalesforceWins, SF),         Some((GZ, B)),     B),
        (SF_EMPTIED,         changed_on(SF),                               Some((GZ, EMPTY)), EMPTY),
        (GZ_EMPTIED,         changed_on(GZ),                               Some((SF, EMPTY)), EMPTY),
        (NO_BASE_GZ_EMPTY,   filled_from(SF),                              Some((GZ, A)),     A),
        (NO_BASE_SF_EMPTY,   filled_from(GZ),                              Some((SF, A)),     A),
        (NO_BASE_DIFFERENT,  conflict(Policy::SalesforceWins, SF),         Some((GZ, A)),     A),
        (NO_BASE_SAME,       SameOnBoth,                                   NOTHING,           A),
    ];
    // WHEN each row is merged
    // THEN each row's reason, write and new base are as listed
    check("sf_wins", genesys_newer(), rows);
}

#[test]
fn both_ways_genesys_wins() {
    // GIVEN a `both` field with policy genesys_wins (and Salesforce holding the newer stamp,
    // which this policy must ignore)
    #[rustfmt::skip]
    let rows: &[Row] = &[
        // situation          reason                                       write              new base
        (UNCHANGED,          Unchanged,                                    NOTHING,           A),
        (SF_CHANGED,         changed_on(SF),                               Some((GZ, B)),     B),
        (GZ_CHANGED,         changed_on(GZ),                               Some((SF, B)),     B),
        (BOTH_SAME,          SameOnBoth,                                   NOTHING,           B),
        (BOTH_DIFFERENT,     conflict(Policy::GenesysWins, GZ),            Some((SF, C)),     C),
        (SF_EMPTIED,         changed_on(SF),                               Some((GZ, EMPTY)), EMPTY),
        (GZ_EMPTIED,         changed_on(GZ),                               Some((SF, EMPTY)), EMPTY),
        (NO_BASE_GZ_EMPTY,   filled_from(SF),                              Some((GZ, A)),     A),
        (NO_BASE_SF_EMPTY,   filled_from(GZ),                              Some((SF, A)),     A),
        (NO_BASE_DIFFERENT,  conflict(Policy::GenesysWins, GZ),            Some((SF, B)),     B),
        (NO_BASE_SAME,       SameOnBoth,                                   NOTHING,           A),
    ];
    // WHEN each row is merged
    // THEN each row's reason, write and new base are as listed
    check("gz_wins", salesforce_newer(), rows);
}

#[test]
fn both_ways_newest_wins_salesforce_newer() {
    // GIVEN a `both` field with policy newest_wins and the Salesforce record stamped later
    #[rustfmt::skip]
    let rows: &[Row] = &[
        // situation          reason                                       write              new base
        (UNCHANGED,          Unchanged,                                    NOTHING,           A),
        (SF_CHANGED,         changed_on(SF),                               Some((GZ, B)),     B),
        (GZ_CHANGED,         changed_on(GZ),                               Some((SF, B)),     B),
        (BOTH_SAME,          SameOnBoth,                                   NOTHING,           B),
        (BOTH_DIFFERENT,     conflict(Policy::NewestWins, SF),             Some((GZ, B)),     B),
        (SF_EMPTIED,         changed_on(SF),                               Some((GZ, EMPTY)), EMPTY),
        (GZ_EMPTIED,         changed_on(GZ),                               Some((SF, EMPTY)), EMPTY),
        (NO_BASE_GZ_EMPTY,   filled_from(SF),                              Some((GZ, A)),     A),
        (NO_BASE_SF_EMPTY,   filled_from(GZ),                              Some((SF, A)),     A),
        (NO_BASE_DIFFERENT,  conflict(Policy::NewestWins, SF),             Some((GZ, A)),     A),
        (NO_BASE_SAME,       SameOnBoth,                                   NOTHING,           A),
    ];
    // WHEN each row is merged
    // THEN each row's reason, write and new base are as listed
    check("newest", salesforce_newer(), rows);
}

#[test]
fn both_ways_newest_wins_genesys_newer() {
    // GIVEN a `both` field with policy newest_wins and the Genesys record stamped later
    #[rustfmt::skip]
    let rows: &[Row] = &[
        // situation          reason                                       write              new base
        (UNCHANGED,          Unchanged,                                    NOTHING,           A),
        (SF_CHANGED,         changed_on(SF),                               Some((GZ, B)),     B),
        (GZ_CHANGED,         changed_on(GZ),                               Some((SF, B)),     B),
        (BOTH_SAME,          SameOnBoth,                                   NOTHING,           B),
        (BOTH_DIFFERENT,     conflict(Policy::NewestWins, GZ),             Some((SF, C)),     C),
        (SF_EMPTIED,         changed_on(SF),                               Some((GZ, EMPTY)), EMPTY),
        (GZ_EMPTIED,         changed_on(GZ),                               Some((SF, EMPTY)), EMPTY),
        (NO_BASE_GZ_EMPTY,   filled_from(SF),                              Some((GZ, A)),     A),
        (NO_BASE_SF_EMPTY,   filled_from(GZ),                              Some((SF, A)),     A),
        (NO_BASE_DIFFERENT,  conflict(Policy::NewestWins, GZ),             Some((SF, B)),     B),
        (NO_BASE_SAME,       SameOnBoth,                                   NOTHING,           A),
    ];
    // WHEN each row is merged
    // THEN each row's reason, write and new base are as listed
    check("newest", genesys_newer(), rows);
}

#[test]
fn both_ways_newest_wins_tie_goes_to_salesforce() {
    // GIVEN a `both` field with policy newest_wins and both records stamped at the same instant
    // (the design asks for a deterministic tie-break; the engine's is Salesforce)
    #[rustfmt::skip]
    let rows: &[Row] = &[
        // situation          reason                                       write              new base
        (UNCHANGED,          Unchanged,                                    NOTHING,           A),
        (SF_CHANGED,         changed_on(SF),                               Some((GZ, B)),     B),
        (GZ_CHANGED,         changed_on(GZ),                               Some((SF, B)),     B),
        (BOTH_SAME,          SameOnBoth,                                   NOTHING,           B),
        (BOTH_DIFFERENT,     conflict(Policy::NewestWins, SF),             Some((GZ, B)),     B),
        (SF_EMPTIED,         changed_on(SF),                               Some((GZ, EMPTY)), EMPTY),
        (GZ_EMPTIED,         changed_on(GZ),                               Some((SF, EMPTY)), EMPTY),
        (NO_BASE_GZ_EMPTY,   filled_from(SF),                              Some((GZ, A)),     A),
        (NO_BASE_SF_EMPTY,   filled_from(GZ),                              Some((SF, A)),     A),
        (NO_BASE_DIFFERENT,  conflict(Policy::NewestWins, SF),             Some((GZ, A)),     A),
        (NO_BASE_SAME,       SameOnBoth,                                   NOTHING,           A),
    ];
    // WHEN each row is merged
    // THEN each row's reason, write and new base are as listed
    check("newest", same_stamp(), rows);
}

#[test]
fn both_ways_manual() {
    // GIVEN a `both` field with policy manual: a real conflict writes nothing and keeps the
    // base the sides last agreed on (none, before the first sync)
    #[rustfmt::skip]
    let rows: &[Row] = &[
        // situation          reason                                       write              new base
        (UNCHANGED,          Unchanged,                                    NOTHING,           A),
        (SF_CHANGED,         changed_on(SF),                               Some((GZ, B)),     B),
        (GZ_CHANGED,         changed_on(GZ),                               Some((SF, B)),     B),
        (BOTH_SAME,          SameOnBoth,                                   NOTHING,           B),
        (BOTH_DIFFERENT,     HeldForReview,                                NOTHING,           A),
        (SF_EMPTIED,         changed_on(SF),                               Some((GZ, EMPTY)), EMPTY),
        (GZ_EMPTIED,         changed_on(GZ),                               Some((SF, EMPTY)), EMPTY),
        (NO_BASE_GZ_EMPTY,   filled_from(SF),                              Some((GZ, A)),     A),
        (NO_BASE_SF_EMPTY,   filled_from(GZ),                              Some((SF, A)),     A),
        (NO_BASE_DIFFERENT,  HeldForReview,                                NOTHING,           EMPTY),
        (NO_BASE_SAME,       SameOnBoth,                                   NOTHING,           A),
    ];
    // WHEN each row is merged
    // THEN each row's reason, write and new base are as listed
    check("manual", genesys_newer(), rows);
}

#[test]
fn one_way_salesforce_to_genesys() {
    // GIVEN a salesforce_to_genesys field (Salesforce owns it, Genesys mirrors it; no policy),
    // with Genesys holding the newer stamp, which must not matter: Salesforce is never written
    #[rustfmt::skip]
    let rows: &[Row] = &[
        // situation          reason                                       write              new base
        (UNCHANGED,          Unchanged,                                    NOTHING,           A),
        (SF_CHANGED,         changed_on(SF),                               Some((GZ, B)),     B),
        (GZ_CHANGED,         drift(SF),                                    Some((GZ, A)),     A),
        (BOTH_SAME,          SameOnBoth,                                   NOTHING,           B),
        (BOTH_DIFFERENT,     drift(SF),                                    Some((GZ, B)),     B),
        (SF_EMPTIED,         changed_on(SF),                               Some((GZ, EMPTY)), EMPTY),
        (GZ_EMPTIED,         drift(SF),                                    Some((GZ, A)),     A),
        (NO_BASE_GZ_EMPTY,   filled_from(SF),                              Some((GZ, A)),     A),
        (NO_BASE_SF_EMPTY,   drift(SF),                                    Some((GZ, EMPTY)), EMPTY),
        (NO_BASE_DIFFERENT,  drift(SF),                                    Some((GZ, A)),     A),
        (NO_BASE_SAME,       SameOnBoth,                                   NOTHING,           A),
    ];
    // WHEN each row is merged
    // THEN each row's reason, write and new base are as listed
    check("sf_to_gz", genesys_newer(), rows);
}

#[test]
fn one_way_genesys_to_salesforce() {
    // GIVEN a genesys_to_salesforce field (Genesys owns it, Salesforce mirrors it; no policy),
    // with Salesforce holding the newer stamp, which must not matter: Genesys is never written
    #[rustfmt::skip]
    let rows: &[Row] = &[
        // situation          reason                                       write              new base
        (UNCHANGED,          Unchanged,                                    NOTHING,           A),
        (SF_CHANGED,         drift(GZ),                                    Some((SF, A)),     A),
        (GZ_CHANGED,         changed_on(GZ),                               Some((SF, B)),     B),
        (BOTH_SAME,          SameOnBoth,                                   NOTHING,           B),
        (BOTH_DIFFERENT,     drift(GZ),                                    Some((SF, C)),     C),
        (SF_EMPTIED,         drift(GZ),                                    Some((SF, A)),     A),
        (GZ_EMPTIED,         changed_on(GZ),                               Some((SF, EMPTY)), EMPTY),
        (NO_BASE_GZ_EMPTY,   drift(GZ),                                    Some((SF, EMPTY)), EMPTY),
        (NO_BASE_SF_EMPTY,   filled_from(GZ),                              Some((SF, A)),     A),
        (NO_BASE_DIFFERENT,  drift(GZ),                                    Some((SF, B)),     B),
        (NO_BASE_SAME,       SameOnBoth,                                   NOTHING,           A),
    ];
    // WHEN each row is merged
    // THEN each row's reason, write and new base are as listed
    check("gz_to_sf", salesforce_newer(), rows);
}

// ---------------------------------------------------------------------------------------------
// reject_empty (the default): the rows where a value is emptied. Every other situation merges
// exactly as in the tables above (checked by `reject_empty_changes_only_rows_with_an_empty_write`).

#[test]
fn reject_empty_on_two_way_fields_keeps_and_restores_the_value() {
    // GIVEN `both` fields of every policy with reject_empty on, Genesys holding the newer stamp
    for (field, both_changed) in [
        ("sf_wins_keep", (kept(GZ), Some((SF, C)), C)),
        (
            "gz_wins_keep",
            (conflict(Policy::GenesysWins, GZ), Some((SF, C)), C),
        ),
        (
            "newest_keep",
            (conflict(Policy::NewestWins, GZ), Some((SF, C)), C),
        ),
        ("manual_keep", (HeldForReview, NOTHING, A)),
    ] {
        #[rustfmt::skip]
        let rows: &[Row] = &[
            // situation             reason      write           new base
            (SF_EMPTIED,             kept(GZ),   Some((SF, A)),  A),
            (GZ_EMPTIED,             kept(SF),   Some((GZ, A)),  A),
            (SF_EMPTIED_GZ_CHANGED,  both_changed.0, both_changed.1, both_changed.2),
            (NO_BASE_GZ_EMPTY,       filled_from(SF), Some((GZ, A)), A),
            (NO_BASE_SF_EMPTY,       filled_from(GZ), Some((SF, A)), A),
        ];
        // WHEN each row is merged
        // THEN an emptied side gets the kept value back, a conflict never clears a value
        check(field, genesys_newer(), rows);
    }
}

#[test]
fn reject_empty_on_one_way_fields_never_clears_the_mirror() {
    // GIVEN one-way fields with reject_empty on
    #[rustfmt::skip]
    let sf_owned: &[Row] = &[
        // situation             reason        write           new base
        (SF_EMPTIED,             kept(GZ),     NOTHING,        EMPTY),
        (GZ_EMPTIED,             drift(SF),    Some((GZ, A)),  A),
        (SF_EMPTIED_GZ_CHANGED,  kept(GZ),     NOTHING,        EMPTY),
        (NO_BASE_SF_EMPTY,       kept(GZ),     NOTHING,        EMPTY),
    ];
    #[rustfmt::skip]
    let gz_owned: &[Row] = &[
        (GZ_EMPTIED,             kept(SF),     NOTHING,        EMPTY),
        (SF_EMPTIED,             drift(GZ),    Some((SF, A)),  A),
        (NO_BASE_GZ_EMPTY,       kept(SF),     NOTHING,        EMPTY),
    ];
    // WHEN each row is merged
    // THEN the owner's empty value does not clear the mirror, and the owner is never written
    check("sf_to_gz_keep", genesys_newer(), sf_owned);
    check("gz_to_sf_keep", salesforce_newer(), gz_owned);
}

#[test]
fn reject_empty_changes_only_rows_with_an_empty_write() {
    // GIVEN every situation and both variants of every field
    let mapping = Mapping::from_yaml(MAPPING, "table.yaml").expect("valid");
    let clock = MergeClock::at(now());
    let situations = [
        UNCHANGED,
        SF_CHANGED,
        GZ_CHANGED,
        BOTH_SAME,
        BOTH_DIFFERENT,
        SF_EMPTIED,
        GZ_EMPTIED,
        NO_BASE_GZ_EMPTY,
        NO_BASE_SF_EMPTY,
        NO_BASE_DIFFERENT,
        NO_BASE_SAME,
        SF_EMPTIED_GZ_CHANGED,
    ];
    for field in [
        "sf_wins", "gz_wins", "newest", "manual", "sf_to_gz", "gz_to_sf",
    ] {
        let plain = mapping.field(field).expect("plain");
        let keep = mapping.field(&format!("{field}_keep")).expect("keep");
        for stamps in [salesforce_newer(), genesys_newer(), same_stamp()] {
            for s in situations {
                // WHEN merged with and without reject_empty
                let a = merge_field(plain, s.base, s.sf, s.gz, stamps, &clock);
                let b = merge_field(keep, s.base, s.sf, s.gz, stamps, &clock);
                // THEN they differ only where the plain merge would clear a non-empty value
                let clears = matches!(&a.write, Some((to, None)) if match to { Side::Salesforce => s.sf, Side::Genesys => s.gz }.is_some());
                if !clears {
                    assert_eq!(
                        (&a.reason, &a.write, &a.new_base),
                        (&b.reason, &b.write, &b.new_base),
                        "{field} / {}",
                        s.name
                    );
                } else {
                    assert!(
                        matches!(b.reason, Reason::EmptyRejected { .. }),
                        "{field} / {}: {:?}",
                        s.name,
                        b.reason
                    );
                    assert!(
                        !matches!(&b.write, Some((_, None))),
                        "{field} / {} still clears",
                        s.name
                    );
                }
            }
        }
    }
}
