//! Property tests of the three-way merge (docs/design.md section 2, "Properties the engine must
//! hold"): idempotence, no echo, no lost one-sided edit, convergence, one-way safety, order
//! independence and bounded future stamps.
//!
//! Scenarios are random mappings (a random subset of a handful of canonical text fields, each
//! with a random direction and policy, loaded through `Mapping::from_yaml`), a random base (or
//! none) and random values on both sides drawn from a tiny alphabet with "empty" in it, so that
//! equalities between base and sides happen often.
//!
//! Each field also draws `reject_empty` (an empty value never overwrites a non-empty one), and
//! scenarios may run in `one_way` mode and carry a person's choices for some fields.
//!
//! "Applying" a merge is modelled on canonical values: every decision that writes
//! `(side, value)` sets that side's field to `value`.

use chrono::{DateTime, Duration, Utc};
use contact_sync_engine::mapping::{Direction, Mapping, Policy};
use contact_sync_engine::merge::{
    Choice, FieldDecision, MergeClock, PairMerge, Reason, Resolutions, merge_pair,
};
use contact_sync_engine::{CanonicalContact, Side, SideRecord};
use proptest::prelude::*;
use proptest::sample::{select, subsequence};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// A field value; `None` is an empty field.
type Val = Option<&'static str>;

/// The alphabet: small, with "empty", so that collisions happen.
const VALUES: [Val; 4] = [None, Some("a"), Some("b"), Some("c")];

/// The canonical text fields a random mapping is drawn from:
/// (canonical name, Salesforce field, Genesys path).
const FIELDS: [(&str, &str, &str); 5] = [
    ("first_name", "FirstName", "firstName"),
    ("last_name", "LastName", "lastName"),
    ("title", "Title", "title"),
    ("department", "Department", "department"),
    ("address.city", "MailingCity", "address.city"),
];

const POLICIES: [Policy; 4] = [
    Policy::SalesforceWins,
    Policy::GenesysWins,
    Policy::NewestWins,
    Policy::Manual,
];

/// Seconds; `MergeClock::at` allows five minutes of future skew.
const SKEW_SECS: i64 = 300;

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_717_243_200, 0).expect("valid timestamp") // 2024-06-01T12:00:00Z
}

fn clock() -> MergeClock {
    let clock = MergeClock::at(now());
    assert_eq!(clock.max_future_skew, Duration::seconds(SKEW_SECS));
    clock
}

/// One mapped field as written in the YAML.
#[derive(Debug, Clone)]
struct FieldConf {
    name: &'static str,
    salesforce: &'static str,
    genesys: &'static str,
    direction: Direction,
    /// As written in the YAML: for one-way fields either absent or the owner's `*_wins`.
    policy: Option<Policy>,
    reject_empty: bool,
}

impl FieldConf {
    /// The side that owns a one-way field.
    fn owner(&self) -> Option<Side> {
        self.direction.owner()
    }
}

fn direction_name(direction: Direction) -> &'static str {
    match direction {
        Direction::Both => "both",
        Direction::SalesforceToGenesys => "salesforce_to_genesys",
        Direction::GenesysToSalesforce => "genesys_to_salesforce",
    }
}

fn yaml_of(fields: &[FieldConf]) -> String {
    let mut yaml = String::from("version: 1\nfields:\n");
    for f in fields {
        write!(
            yaml,
            "  - name: {}\n    salesforce: {}\n    genesys: {}\n    direction: {}\n    reject_empty: {}\n",
            f.name,
            f.salesforce,
            f.genesys,
            direction_name(f.direction),
            f.reject_empty
        )
        .expect("write to String");
        if let Some(p) = f.policy {
            writeln!(yaml, "    policy: {}", p.as_str()).expect("write to String");
        }
    }
    yaml
}

fn mapping_of(fields: &[FieldConf]) -> Mapping {
    let yaml = yaml_of(fields);
    Mapping::from_yaml(&yaml, "random.yaml").unwrap_or_else(|e| panic!("{e}\n{yaml}"))
}

/// A direction with a policy that mapping validation accepts.
fn direction_and_policy() -> impl Strategy<Value = (Direction, Option<Policy>)> {
    prop_oneof![
        select(POLICIES.to_vec()).prop_map(|p| (Direction::Both, Some(p))),
        any::<bool>().prop_map(|explicit| (
            Direction::SalesforceToGenesys,
            explicit.then_some(Policy::SalesforceWins)
        )),
        any::<bool>().prop_map(|explicit| (
            Direction::GenesysToSalesforce,
            explicit.then_some(Policy::GenesysWins)
        )),
    ]
}

fn field_confs() -> impl Strategy<Value = Vec<FieldConf>> {
    (
        subsequence(FIELDS.to_vec(), 1..=FIELDS.len()),
        proptest::collection::vec((direction_and_policy(), any::<bool>()), FIELDS.len()),
    )
        .prop_map(|(fields, dps)| {
            fields
                .into_iter()
                .zip(dps)
                .map(
                    |((name, salesforce, genesys), ((direction, policy), reject_empty))| {
                        FieldConf {
                            name,
                            salesforce,
                            genesys,
                            direction,
                            policy,
                            reject_empty,
                        }
                    },
                )
                .collect()
        })
}

fn val() -> impl Strategy<Value = Val> {
    select(VALUES.to_vec())
}

/// `(base, salesforce, genesys)` for one field, biased towards "unchanged" and "changed on one
/// side only" so that every branch of the merge is hit often.
fn triple() -> impl Strategy<Value = (Val, Val, Val)> {
    prop_oneof![
        (val(), val(), val()),
        val().prop_map(|b| (b, b, b)),
        (val(), val()).prop_map(|(b, x)| (b, x, b)),
        (val(), val()).prop_map(|(b, x)| (b, b, x)),
    ]
}

/// A modification stamp, as seconds from `now`: around the skew limit, far past, far future.
fn stamp() -> impl Strategy<Value = i64> {
    prop_oneof![
        select(vec![
            -86_400,
            -3_600,
            -1,
            0,
            1,
            SKEW_SECS - 1,
            SKEW_SECS,
            SKEW_SECS + 1,
            3_600,
            365 * 86_400,
        ]),
        -200_000i64..200_000,
    ]
}

#[derive(Debug, Clone)]
struct Scenario {
    fields: Vec<FieldConf>,
    has_base: bool,
    /// Per field name: (base, salesforce, genesys).
    values: BTreeMap<&'static str, (Val, Val, Val)>,
    sf_stamp: i64,
    gz_stamp: i64,
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (
        field_confs(),
        prop::bool::weighted(0.8),
        proptest::collection::vec(triple(), FIELDS.len()),
        stamp(),
        stamp(),
    )
        .prop_map(|(fields, has_base, triples, sf_stamp, gz_stamp)| {
            let values = fields.iter().map(|f| f.name).zip(triples).collect();
            Scenario {
                fields,
                has_base,
                values,
                sf_stamp,
                gz_stamp,
            }
        })
}

fn contact(values: impl IntoIterator<Item = (&'static str, Val)>) -> CanonicalContact {
    let mut c = CanonicalContact::new();
    for (name, v) in values {
        c.set(name, v.map(str::to_string));
    }
    c
}

fn record(side: Side, fields: CanonicalContact, stamp_secs: i64) -> SideRecord {
    SideRecord {
        side,
        id: format!("{side}-1"),
        modified_at: now() + Duration::seconds(stamp_secs),
        fields,
        unmapped: Vec::new(),
        link: None,
        merged_into: None,
        merged_from: Vec::new(),
        match_emails: Vec::new(),
        match_phones: Vec::new(),
        raw: serde_json::Value::Null,
    }
}

impl Scenario {
    fn base_values(&self) -> CanonicalContact {
        contact(self.values.iter().map(|(n, (b, _, _))| (*n, *b)))
    }
    fn base(&self) -> Option<CanonicalContact> {
        self.has_base.then(|| self.base_values())
    }
    fn salesforce(&self) -> CanonicalContact {
        contact(self.values.iter().map(|(n, (_, s, _))| (*n, *s)))
    }
    fn genesys(&self) -> CanonicalContact {
        contact(self.values.iter().map(|(n, (_, _, g))| (*n, *g)))
    }
    fn merge(
        &self,
        mapping: &Mapping,
        base: Option<&CanonicalContact>,
        sf: &CanonicalContact,
        gz: &CanonicalContact,
    ) -> PairMerge {
        merge_pair(
            mapping,
            base,
            &record(Side::Salesforce, sf.clone(), self.sf_stamp),
            &record(Side::Genesys, gz.clone(), self.gz_stamp),
            &clock(),
            None,
        )
    }
}

/// Applies every write of the merge to the sides' canonical values.
fn apply(
    merge: &PairMerge,
    sf: &CanonicalContact,
    gz: &CanonicalContact,
) -> (CanonicalContact, CanonicalContact) {
    let (mut sf, mut gz) = (sf.clone(), gz.clone());
    for d in &merge.decisions {
        for (side, value) in d.writes() {
            match side {
                Side::Salesforce => sf.set(d.field.clone(), value.clone()),
                Side::Genesys => gz.set(d.field.clone(), value.clone()),
            }
        }
    }
    (sf, gz)
}

fn decision<'a>(merge: &'a PairMerge, field: &str) -> &'a FieldDecision {
    merge
        .decisions
        .iter()
        .find(|d| &*d.field == field)
        .unwrap_or_else(|| panic!("no decision for `{field}`"))
}

fn writes(merge: &PairMerge) -> Vec<&FieldDecision> {
    merge
        .decisions
        .iter()
        .filter(|d| d.write.is_some())
        .collect()
}

fn value_on(
    side: Side,
    sf: &CanonicalContact,
    gz: &CanonicalContact,
    field: &str,
) -> Option<String> {
    match side {
        Side::Salesforce => sf.get(field),
        Side::Genesys => gz.get(field),
    }
    .map(str::to_string)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn idempotence_merge_apply_merge_writes_nothing(
        s in scenario(),
        sf_stamp2 in stamp(),
        gz_stamp2 in stamp(),
    ) {
        // GIVEN any mapping, base and side values, merged once and applied
        let mapping = mapping_of(&s.fields);
        let (sf, gz) = (s.salesforce(), s.genesys());
        let first = s.merge(&mapping, s.base().as_ref(), &sf, &gz);
        let (sf2, gz2) = apply(&first, &sf, &gz);

        // WHEN merged again against the new base (the writes gave the sides new stamps)
        let second = merge_pair(
            &mapping,
            Some(&first.new_base),
            &record(Side::Salesforce, sf2, sf_stamp2),
            &record(Side::Genesys, gz2, gz_stamp2),
            &clock(),
            None,
        );

        // THEN nothing is written and the base is a fixed point
        let again: Vec<_> = writes(&second).iter().map(|d| (d.field.clone(), d.reason.clone())).collect();
        prop_assert!(again.is_empty(), "second merge still writes: {:?}", again);
        prop_assert_eq!(&second.new_base, &first.new_base);
    }

    #[test]
    fn no_echo_when_both_sides_equal_the_base(s in scenario()) {
        // GIVEN both sides exactly equal to the base on every field
        let mapping = mapping_of(&s.fields);
        let base = s.base_values();

        // WHEN merged
        let merge = s.merge(&mapping, Some(&base), &base, &base);

        // THEN nothing is written, every field is Unchanged, and the base stays as it was
        prop_assert!(writes(&merge).is_empty());
        for d in &merge.decisions {
            prop_assert_eq!(&d.reason, &Reason::Unchanged, "field {}", d.field);
        }
        prop_assert_eq!(&merge.new_base, &base);
    }

    #[test]
    fn no_lost_one_sided_edit(s in scenario()) {
        // GIVEN a base (always, for this property) and sides drawn around it
        let mapping = mapping_of(&s.fields);
        let base = s.base_values();
        let (sf, gz) = (s.salesforce(), s.genesys());

        // WHEN merged and applied
        let merge = s.merge(&mapping, Some(&base), &sf, &gz);
        let (sf2, gz2) = apply(&merge, &sf, &gz);

        // THEN every field changed on exactly one side ends with the edit on both sides when the
        // direction lets that side flow, and with the owner's (untouched) value otherwise; an
        // edit that empties a field loses only to a non-empty value under `reject_empty`
        for f in &s.fields {
            let b = base.get(f.name);
            let edited = match (sf.get(f.name) != b, gz.get(f.name) != b) {
                (true, false) => Side::Salesforce,
                (false, true) => Side::Genesys,
                _ => continue,
            };
            let d = decision(&merge, f.name);
            if let Reason::EmptyRejected { kept } = d.reason {
                prop_assert!(f.reject_empty, "field {} rejected an empty value", f.name);
                // Nothing non-empty was lost on either side.
                for side in [Side::Salesforce, Side::Genesys] {
                    if let Some(before) = value_on(side, &sf, &gz, f.name) {
                        prop_assert_eq!(value_on(side, &sf2, &gz2, f.name), Some(before), "{} lost its value of {}", side, f.name);
                    }
                }
                prop_assert!(value_on(kept, &sf, &gz, f.name).is_some());
                continue;
            }
            let expected = if f.direction.allows(edited) {
                prop_assert_eq!(&d.reason, &Reason::ChangedOn { side: edited }, "field {}", f.name);
                value_on(edited, &sf, &gz, f.name)
            } else {
                let owner = edited.other();
                prop_assert_eq!(&d.reason, &Reason::Drift { owner }, "field {}", f.name);
                prop_assert_eq!(
                    value_on(owner, &sf2, &gz2, f.name),
                    value_on(owner, &sf, &gz, f.name),
                    "owner's value of {} changed", f.name
                );
                value_on(owner, &sf, &gz, f.name)
            };
            prop_assert_eq!(sf2.get(f.name).map(str::to_string), expected.clone(), "salesforce {}", f.name);
            prop_assert_eq!(gz2.get(f.name).map(str::to_string), expected.clone(), "genesys {}", f.name);
            prop_assert_eq!(merge.new_base.get(f.name).map(str::to_string), expected, "base {}", f.name);
        }
    }

    #[test]
    fn convergence_both_sides_equal_except_fields_held_for_review(s in scenario()) {
        // GIVEN any mapping, base (or none) and side values
        let mapping = mapping_of(&s.fields);
        let base = s.base();
        let (sf, gz) = (s.salesforce(), s.genesys());

        // WHEN merged and applied
        let merge = s.merge(&mapping, base.as_ref(), &sf, &gz);
        let (sf2, gz2) = apply(&merge, &sf, &gz);

        // THEN every field is equal on both sides and equal to the new base, except manual
        // conflicts, which keep both values untouched and hold the old base, and an emptied
        // one-way owner whose empty value may not overwrite the other side (reject_empty)
        for f in &s.fields {
            let d = decision(&merge, f.name);
            if let (Reason::EmptyRejected { kept }, None) = (&d.reason, &d.write) {
                prop_assert!(f.reject_empty);
                prop_assert_eq!(f.owner(), Some(kept.other()), "only an owner's empty value is left unrestored ({})", f.name);
                prop_assert_eq!(value_on(*kept, &sf2, &gz2, f.name), value_on(*kept, &sf, &gz, f.name));
                continue;
            }
            if d.reason == Reason::HeldForReview {
                prop_assert_eq!(f.policy, Some(Policy::Manual), "held on a non-manual field {}", f.name);
                prop_assert!(d.write.is_none());
                prop_assert_eq!(sf2.get(f.name), sf.get(f.name));
                prop_assert_eq!(gz2.get(f.name), gz.get(f.name));
                prop_assert_ne!(sf.get(f.name), gz.get(f.name));
                let held = base.as_ref().and_then(|b| b.get(f.name));
                prop_assert_eq!(merge.new_base.get(f.name), held, "held base of {}", f.name);
            } else {
                prop_assert_eq!(sf2.get(f.name), gz2.get(f.name), "field {} did not converge ({:?})", f.name, d.reason);
                prop_assert_eq!(merge.new_base.get(f.name), sf2.get(f.name), "new base of {}", f.name);
            }
        }
    }

    #[test]
    fn one_way_fields_never_write_their_owner(s in scenario()) {
        // GIVEN any mapping, base (or none) and side values
        let mapping = mapping_of(&s.fields);
        let (sf, gz) = (s.salesforce(), s.genesys());

        // WHEN merged and applied
        let merge = s.merge(&mapping, s.base().as_ref(), &sf, &gz);
        let (sf2, gz2) = apply(&merge, &sf, &gz);

        // THEN a salesforce_to_genesys field never writes Salesforce, a genesys_to_salesforce
        // field never writes Genesys, and the owner's value is never changed
        for f in &s.fields {
            let Some(owner) = f.owner() else { continue };
            let d = decision(&merge, f.name);
            for (side, _) in d.writes() {
                prop_assert_ne!(*side, owner, "field {} ({:?}) wrote its owner", f.name, f.direction);
            }
            prop_assert_eq!(value_on(owner, &sf2, &gz2, f.name), value_on(owner, &sf, &gz, f.name));
            prop_assert!(!matches!(d.reason, Reason::Conflict { .. } | Reason::HeldForReview), "one-way field {} went to policy: {:?}", f.name, d.reason);
        }
    }

    #[test]
    fn merging_the_same_inputs_twice_is_identical(s in scenario()) {
        // GIVEN any inputs
        let mapping = mapping_of(&s.fields);
        let (base, sf, gz) = (s.base(), s.salesforce(), s.genesys());

        // WHEN merged twice
        let one = s.merge(&mapping, base.as_ref(), &sf, &gz);
        let two = s.merge(&mapping, base.as_ref(), &sf, &gz);

        // THEN the decisions (reason, write, base) and the new base are identical
        prop_assert_eq!(&one.decisions, &two.decisions);
        prop_assert_eq!(&one.new_base, &two.new_base);
    }

    #[test]
    fn field_order_of_the_mapping_does_not_change_any_decision(
        (s, shuffled) in scenario().prop_flat_map(|s| {
            let fields = s.fields.clone();
            (Just(s), Just(fields).prop_shuffle())
        })
    ) {
        // GIVEN the same mapping twice, with its field list in two different orders
        let mapping = mapping_of(&s.fields);
        let reordered = mapping_of(&shuffled);
        let (base, sf, gz) = (s.base(), s.salesforce(), s.genesys());

        // WHEN both merge the same inputs
        let one = s.merge(&mapping, base.as_ref(), &sf, &gz);
        let two = s.merge(&reordered, base.as_ref(), &sf, &gz);

        // THEN every field gets the same decision, and decisions follow each mapping's order
        let by_field = |m: &PairMerge| -> BTreeMap<String, FieldDecision> {
            m.decisions.iter().map(|d| (d.field.to_string(), d.clone())).collect()
        };
        prop_assert_eq!(by_field(&one), by_field(&two));
        prop_assert_eq!(&one.new_base, &two.new_base);
        let order: Vec<&str> = two.decisions.iter().map(|d| &*d.field).collect();
        let expected: Vec<&str> = shuffled.iter().map(|f| f.name).collect();
        prop_assert_eq!(order, expected);
    }
}

/// A `both`/`newest_wins` field with a real conflict (`b` on Salesforce, `c` on Genesys).
fn newest_wins_conflict(sf_secs: i64, gz_secs: i64, has_base: bool) -> FieldDecision {
    let fields = [FieldConf {
        name: "title",
        salesforce: "Title",
        genesys: "title",
        direction: Direction::Both,
        policy: Some(Policy::NewestWins),
        reject_empty: true,
    }];
    let s = Scenario {
        fields: fields.to_vec(),
        has_base,
        values: BTreeMap::from([("title", (Some("a"), Some("b"), Some("c")))]),
        sf_stamp: sf_secs,
        gz_stamp: gz_secs,
    };
    let merge = s.merge(
        &mapping_of(&fields),
        s.base().as_ref(),
        &s.salesforce(),
        &s.genesys(),
    );
    decision(&merge, "title").clone()
}

/// A stamp at or before `now + max_future_skew`, often equal to another draw (ties).
fn plausible_stamp() -> impl Strategy<Value = i64> {
    prop_oneof![
        select(vec![-3_600, -1, 0, 1, SKEW_SECS - 1, SKEW_SECS]),
        -30 * 86_400..=SKEW_SECS,
    ]
}

fn winner(d: &FieldDecision) -> Side {
    match d.reason {
        Reason::Conflict {
            policy: Policy::NewestWins,
            winner,
        } => winner,
        ref other => panic!("expected a newest_wins conflict, got {other:?}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn newest_wins_a_far_future_stamp_does_not_beat_a_plausible_one(
        far_side in select(vec![Side::Salesforce, Side::Genesys]),
        far in (SKEW_SECS + 1)..(10 * 365 * 86_400),
        plausible in -30 * 86_400..SKEW_SECS,
        has_base in any::<bool>(),
    ) {
        // GIVEN a newest_wins conflict where one side's stamp is beyond now + max_future_skew
        // and the other's is before now + max_future_skew
        let (sf_secs, gz_secs) = match far_side {
            Side::Salesforce => (far, plausible),
            Side::Genesys => (plausible, far),
        };

        // WHEN merged
        let d = newest_wins_conflict(sf_secs, gz_secs, has_base);

        // THEN the far-future stamp does not win
        prop_assert_eq!(winner(&d), far_side.other(), "stamps sf={}s gz={}s", sf_secs, gz_secs);
    }

    #[test]
    fn newest_wins_within_the_skew_the_later_stamp_wins_and_ties_are_deterministic(
        sf_secs in plausible_stamp(),
        gz_secs in plausible_stamp(),
        has_base in any::<bool>(),
    ) {
        // GIVEN a newest_wins conflict with both stamps at or before now + max_future_skew
        // WHEN merged
        let d = newest_wins_conflict(sf_secs, gz_secs, has_base);

        // THEN the later stamp wins; a tie goes to Salesforce (the deterministic tie-break)
        let expected = if gz_secs > sf_secs { Side::Genesys } else { Side::Salesforce };
        prop_assert_eq!(winner(&d), expected);
        let (value, written) = match expected {
            Side::Salesforce => ("b", Side::Genesys),
            Side::Genesys => ("c", Side::Salesforce),
        };
        prop_assert_eq!(d.write, Some((written, Some(value.to_string()))));
    }

    #[test]
    fn newest_wins_two_far_future_stamps_tie_to_salesforce(
        sf_secs in (SKEW_SECS + 1)..(10 * 365 * 86_400),
        gz_secs in (SKEW_SECS + 1)..(10 * 365 * 86_400),
    ) {
        // GIVEN a newest_wins conflict where both stamps are beyond now + max_future_skew
        // WHEN merged
        let d = newest_wins_conflict(sf_secs, gz_secs, true);

        // THEN neither implausible stamp is believed: the deterministic tie-break decides
        prop_assert_eq!(winner(&d), Side::Salesforce, "stamps sf={}s gz={}s", sf_secs, gz_secs);
    }
}

/// A person's choice for a field: a side, or one of the alphabet's values.
fn choice() -> impl Strategy<Value = Choice> {
    prop_oneof![
        select(vec![Side::Salesforce, Side::Genesys]).prop_map(|side| Choice::Side { side }),
        val().prop_map(|v| Choice::Value {
            value: v.map(str::to_string)
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn a_persons_choice_converges_and_then_stays_quiet(
        s in scenario(),
        picks in proptest::collection::vec(proptest::option::of(choice()), FIELDS.len()),
    ) {
        // GIVEN any scenario and a person's choice for some of its fields
        let mapping = mapping_of(&s.fields);
        let (sf, gz) = (s.salesforce(), s.genesys());
        let resolutions: Resolutions = s
            .fields
            .iter()
            .zip(picks)
            .filter_map(|(f, c)| c.map(|c| (f.name.to_string(), c)))
            .collect();

        // WHEN merged with the choices and applied, then merged again without them
        let first = merge_pair(
            &mapping,
            s.base().as_ref(),
            &record(Side::Salesforce, sf.clone(), s.sf_stamp),
            &record(Side::Genesys, gz.clone(), s.gz_stamp),
            &clock(),
            Some(&resolutions),
        );
        let (sf2, gz2) = apply(&first, &sf, &gz);
        let second = merge_pair(
            &mapping,
            Some(&first.new_base),
            &record(Side::Salesforce, sf2.clone(), s.sf_stamp),
            &record(Side::Genesys, gz2.clone(), s.gz_stamp),
            &clock(),
            None,
        );

        // THEN a chosen field of a two-way field holds the chosen value on both sides and in
        // the base, and the next merge writes that field nowhere
        for f in s.fields.iter().filter(|f| f.direction == Direction::Both) {
            let Some(c) = resolutions.get(f.name) else { continue };
            let chosen = match c {
                Choice::Side { side } => value_on(*side, &sf, &gz, f.name),
                Choice::Value { value } => value.clone(),
            };
            prop_assert_eq!(&decision(&first, f.name).reason, &Reason::ChosenByPerson);
            prop_assert_eq!(sf2.get(f.name).map(str::to_string), chosen.clone(), "salesforce {}", f.name);
            prop_assert_eq!(gz2.get(f.name).map(str::to_string), chosen.clone(), "genesys {}", f.name);
            prop_assert_eq!(first.new_base.get(f.name).map(str::to_string), chosen);
            prop_assert!(decision(&second, f.name).write.is_none(), "{} written again", f.name);
        }
        // AND a one-way field never has its owner written, choice or not
        for f in &s.fields {
            if let Some(owner) = f.owner() {
                for (side, _) in decision(&first, f.name).writes() {
                    prop_assert_ne!(*side, owner);
                }
            }
        }
    }

    #[test]
    fn one_way_mode_never_writes_salesforce(
        s in scenario(),
        picks in proptest::collection::vec(proptest::option::of(choice()), FIELDS.len()),
    ) {
        // GIVEN the scenario's fields in a one_way (Salesforce → Genesys mirror) mapping
        let mut yaml = String::from("version: 1\nmode: one_way\nfields:\n");
        for f in &s.fields {
            writeln!(yaml, "  - {{name: {}, salesforce: {}, genesys: {}, reject_empty: {}}}", f.name, f.salesforce, f.genesys, f.reject_empty).expect("write");
        }
        let mapping = Mapping::from_yaml(&yaml, "one-way.yaml").unwrap_or_else(|e| panic!("{e}"));
        let resolutions: Resolutions = s
            .fields
            .iter()
            .zip(picks)
            .filter_map(|(f, c)| c.map(|c| (f.name.to_string(), c)))
            .collect();
        let (sf, gz) = (s.salesforce(), s.genesys());

        // WHEN merged (with or without a person's choices) and applied
        let merge = merge_pair(
            &mapping,
            s.base().as_ref(),
            &record(Side::Salesforce, sf.clone(), s.sf_stamp),
            &record(Side::Genesys, gz.clone(), s.gz_stamp),
            &clock(),
            Some(&resolutions),
        );
        let (sf2, _) = apply(&merge, &sf, &gz);

        // THEN nothing is written to Salesforce and its values are untouched
        prop_assert!(merge.changes_for(Side::Salesforce).is_empty());
        prop_assert_eq!(sf2, sf);
    }
}
