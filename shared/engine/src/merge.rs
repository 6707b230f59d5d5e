//! Three-way merge, field by field, of a Salesforce and a Genesys record against the pair's
//! base snapshot (the values both sides agreed on at the last sync).
//!
//! Values are compared as their kind says ([`crate::normalise::same_value`]: a phone by its
//! digits, everything else by its text). Per field `(base, salesforce, genesys)`:
//! - equal on both sides → nothing to write (this is also what suppresses echoes: after we
//!   write, the next read sees values equal to base);
//! - changed on one side → copied to the other when the direction allows, otherwise the
//!   owner's value overwrites the drift;
//! - changed on both sides differently → the field's policy decides (`manual` writes nothing
//!   and holds the field for a person);
//! - no base yet (a freshly matched pair) → an empty side is filled from the other; two
//!   different values are settled by the policy;
//! - `reject_empty` (the default): an empty value never overwrites a non-empty one; the
//!   non-empty value is kept (and restored on the emptied side when the direction allows);
//! - a value with no entry in the field's value map → the field is left alone for the pair;
//! - a person's choice for a held `manual` field → the chosen value is written where it differs;
//! - derived fields (templates, conditionals) → computed from the merged values and written to
//!   their one side when it holds something else.

use crate::contact::{CanonicalContact, SideRecord};
use crate::mapping::{FieldSpec, Mapping, Policy};
use crate::normalise::same_option;
use crate::side::Side;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// Clock facts the merge needs (the engine has no clock of its own).
#[derive(Debug, Clone, Copy)]
pub struct MergeClock {
    /// Now, by the caller's clock.
    pub now: DateTime<Utc>,
    /// Stamps later than `now + max_future_skew` are untrusted and lose `newest_wins` to any
    /// plausible stamp, so a record stamped in the future by a skewed clock cannot win forever.
    pub max_future_skew: Duration,
}

impl MergeClock {
    pub fn at(now: DateTime<Utc>) -> MergeClock {
        MergeClock {
            now,
            max_future_skew: Duration::minutes(5),
        }
    }

    /// The stamp when it is plausible; `None` (older than any stamp) when it lies beyond the
    /// allowed skew.
    fn trusted(&self, stamp: DateTime<Utc>) -> Option<DateTime<Utc>> {
        (stamp <= self.now + self.max_future_skew).then_some(stamp)
    }
}

/// Why a field ended the way it did (the plan's explanation, also used by the audit log).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "reason")]
pub enum Reason {
    /// Same on both sides and in the base.
    Unchanged,
    /// Both sides hold the same value (changed identically, or first agreement).
    SameOnBoth,
    /// Changed on one side only; copied to the other.
    ChangedOn { side: Side },
    /// First sync of a matched pair: one side was empty and is filled from the other.
    FilledFrom { side: Side },
    /// A one-way field changed on the side that does not own it; the owner's value is restored.
    Drift { owner: Side },
    /// Changed differently on both sides; the policy chose the winner.
    Conflict { policy: Policy, winner: Side },
    /// Changed differently on both sides of a `manual` field: nothing written, held for review.
    HeldForReview,
    /// An empty value was not allowed to overwrite `kept`'s value (`reject_empty`).
    EmptyRejected { kept: Side },
    /// The value on `side` has no entry in the field's value map: the field is left alone.
    Unmapped { side: Side, review: bool },
    /// A person chose the value (resolution of a held conflict).
    ChosenByPerson,
    /// Computed from other fields (template / conditional) and written to its side.
    Derived,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Unchanged => write!(f, "unchanged"),
            Reason::SameOnBoth => write!(f, "same value on both sides"),
            Reason::ChangedOn { side } => {
                write!(f, "changed on {side}; copied to {}", side.other())
            }
            Reason::FilledFrom { side } => {
                write!(f, "empty on {}; filled from {side}", side.other())
            }
            Reason::Drift { owner } => write!(
                f,
                "one-way field changed on {}; {owner}'s value restored",
                owner.other()
            ),
            Reason::Conflict { policy, winner } => {
                write!(
                    f,
                    "changed on both sides; {} chose {winner}",
                    policy.as_str()
                )
            }
            Reason::HeldForReview => write!(f, "changed on both sides; held for review (manual)"),
            Reason::EmptyRejected { kept } => {
                write!(
                    f,
                    "emptied on {}; {kept}'s value kept (reject_empty)",
                    kept.other()
                )
            }
            Reason::Unmapped { side, review } => write!(
                f,
                "{side} value is not in the value map; left alone{}",
                if *review { " and held for review" } else { "" }
            ),
            Reason::ChosenByPerson => write!(f, "value chosen by a person"),
            Reason::Derived => write!(f, "derived from other fields"),
        }
    }
}

/// A person's decision for a field held for review.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "choose")]
pub enum Choice {
    /// Take the value this side holds at the next run.
    Side { side: Side },
    /// Take this value (already normalised, see `Mapping::normalise_choice`); `None` clears.
    Value { value: Option<String> },
}

impl fmt::Debug for Choice {
    // A chosen value is personal data: never print it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Choice::Side { side } => write!(f, "Choice::Side({side})"),
            Choice::Value { .. } => write!(f, "Choice::Value(..)"),
        }
    }
}

/// Choices made by a person, by canonical field name.
pub type Resolutions = BTreeMap<String, Choice>;

/// The decision for one field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldDecision {
    pub field: Arc<str>,
    #[serde(flatten)]
    pub reason: Reason,
    /// The side to write and the value to write there (`None` clears the field).
    #[serde(skip)]
    pub write: Option<(Side, Option<String>)>,
    /// A second write, when a person's chosen value differs from both sides.
    #[serde(skip)]
    pub also: Option<(Side, Option<String>)>,
    /// The base value once the write is done (the held base for a `manual` conflict).
    /// [`merge_pair`] moves it into [`PairMerge::new_base`] (read it there); it is set on the
    /// decisions [`merge_field`] returns on its own.
    #[serde(skip)]
    pub new_base: Option<String>,
}

impl FieldDecision {
    /// True for decisions that are conflicts (audit entries / review items).
    pub fn is_conflict(&self) -> bool {
        matches!(self.reason, Reason::Conflict { .. }) || self.needs_review()
    }

    /// True for decisions that wait for a person (open review items).
    pub fn needs_review(&self) -> bool {
        matches!(
            self.reason,
            Reason::HeldForReview | Reason::Unmapped { review: true, .. }
        )
    }

    /// The writes of this decision, side by side.
    pub fn writes(&self) -> impl Iterator<Item = &(Side, Option<String>)> {
        self.write.iter().chain(self.also.iter())
    }
}

/// The value of one side, out of a `(salesforce, genesys)` pair of values.
fn on_side<T>(side: Side, salesforce: T, genesys: T) -> T {
    match side {
        Side::Salesforce => salesforce,
        Side::Genesys => genesys,
    }
}

/// The changes a list of decisions writes to one side, as `(canonical field, value)`.
pub fn changes_for(decisions: &[FieldDecision], side: Side) -> Vec<(Arc<str>, Option<String>)> {
    decisions
        .iter()
        .flat_map(|d| {
            d.writes()
                .filter(|(s, _)| *s == side)
                .map(|(_, v)| (d.field.clone(), v.clone()))
        })
        .collect()
}

/// Merges one field. `base` is `None` when the pair has no base snapshot yet.
pub fn merge_field(
    spec: &FieldSpec,
    base: Option<Option<&str>>,
    salesforce: Option<&str>,
    genesys: Option<&str>,
    stamps: (DateTime<Utc>, DateTime<Utc>),
    clock: &MergeClock,
) -> FieldDecision {
    let decision = merge_values(spec, base, salesforce, genesys, stamps, clock);
    if !spec.reject_empty {
        return decision;
    }
    // An empty value never overwrites a non-empty one.
    let value_on = |side: Side| on_side(side, salesforce, genesys);
    match &decision.write {
        Some((to, None)) if value_on(*to).is_some() => {
            let kept = value_on(*to).map(str::to_string);
            let emptied = to.other();
            // Restore the kept value on the emptied side when it may flow there; otherwise the
            // emptied side owns the field and nothing is written (its empty value is the base).
            let (write, new_base) = if spec.direction.allows(*to) {
                (Some((emptied, kept.clone())), kept)
            } else {
                (None, None)
            };
            FieldDecision {
                field: decision.field,
                reason: Reason::EmptyRejected { kept: *to },
                write,
                also: None,
                new_base,
            }
        }
        _ => decision,
    }
}

fn merge_values(
    spec: &FieldSpec,
    base: Option<Option<&str>>,
    salesforce: Option<&str>,
    genesys: Option<&str>,
    stamps: (DateTime<Utc>, DateTime<Utc>),
    clock: &MergeClock,
) -> FieldDecision {
    let decided = |reason: Reason, write: Option<(Side, Option<&str>)>, new_base: Option<&str>| {
        FieldDecision {
            field: spec.name.clone(),
            reason,
            write: write.map(|(side, v)| (side, v.map(str::to_string))),
            also: None,
            new_base: new_base.map(str::to_string),
        }
    };
    let value_on = |side: Side| on_side(side, salesforce, genesys);

    // Values are compared as their kind says (a phone by its digits, `crate::phone`).
    let same = |a: Option<&str>, b: Option<&str>| same_option(spec.kind, a, b);
    if same(salesforce, genesys) {
        let reason = if base.is_some_and(|base| same(base, salesforce)) {
            Reason::Unchanged
        } else {
            Reason::SameOnBoth
        };
        return decided(reason, None, salesforce);
    }

    // Copies a one-sided change, or restores the owner's value over drift.
    let propagate = |from: Side, reason_if_allowed: Reason| {
        let to = from.other();
        if spec.direction.allows(from) {
            decided(
                reason_if_allowed,
                Some((to, value_on(from))),
                value_on(from),
            )
        } else {
            decided(
                Reason::Drift { owner: to },
                Some((from, value_on(to))),
                value_on(to),
            )
        }
    };

    let changed = |side: Side| !base.is_some_and(|base| same(base, value_on(side)));
    match (changed(Side::Salesforce), changed(Side::Genesys)) {
        (true, false) => {
            return propagate(
                Side::Salesforce,
                Reason::ChangedOn {
                    side: Side::Salesforce,
                },
            );
        }
        (false, true) => {
            return propagate(
                Side::Genesys,
                Reason::ChangedOn {
                    side: Side::Genesys,
                },
            );
        }
        _ => {}
    }

    // Both differ from base (or there is no base yet).
    if base.is_none() {
        if genesys.is_none() {
            return propagate(
                Side::Salesforce,
                Reason::FilledFrom {
                    side: Side::Salesforce,
                },
            );
        }
        if salesforce.is_none() {
            return propagate(
                Side::Genesys,
                Reason::FilledFrom {
                    side: Side::Genesys,
                },
            );
        }
    }
    if let Some(owner) = spec.direction.owner() {
        return decided(
            Reason::Drift { owner },
            Some((owner.other(), value_on(owner))),
            value_on(owner),
        );
    }
    let policy = spec.policy.unwrap_or(Policy::SalesforceWins);
    let winner = match policy {
        Policy::SalesforceWins => Side::Salesforce,
        Policy::GenesysWins => Side::Genesys,
        Policy::NewestWins => {
            let (sf_at, gz_at) = (clock.trusted(stamps.0), clock.trusted(stamps.1));
            // Ties go to Salesforce, the system of record for identity: deterministic.
            if gz_at > sf_at {
                Side::Genesys
            } else {
                Side::Salesforce
            }
        }
        Policy::Manual => {
            return decided(Reason::HeldForReview, None, base.flatten());
        }
    };
    decided(
        Reason::Conflict { policy, winner },
        Some((winner.other(), value_on(winner))),
        value_on(winner),
    )
}

/// The merge of a whole pair.
#[derive(Debug, Clone)]
pub struct PairMerge {
    /// One decision per mapped field, in mapping order.
    pub decisions: Vec<FieldDecision>,
    /// The base to store once every write succeeded.
    pub new_base: CanonicalContact,
}

impl PairMerge {
    /// The changes to write on one side, as `(canonical field, value)`.
    pub fn changes_for(&self, side: Side) -> Vec<(Arc<str>, Option<String>)> {
        changes_for(&self.decisions, side)
    }

    pub fn conflicts(&self) -> impl Iterator<Item = &FieldDecision> {
        self.decisions.iter().filter(|d| d.is_conflict())
    }
}

/// Applies a person's choice: the chosen value is written to every side that holds another.
fn choose(
    spec: &FieldSpec,
    salesforce: Option<&str>,
    genesys: Option<&str>,
    choice: &Choice,
) -> FieldDecision {
    let chosen: Option<String> = match choice {
        Choice::Side { side } => on_side(*side, salesforce, genesys).map(str::to_string),
        Choice::Value { value } => value.clone(),
    };
    let mut writes = [Side::Salesforce, Side::Genesys]
        .into_iter()
        .filter(|side| {
            // A side receives only what its direction lets flow to it.
            !same_option(
                spec.kind,
                on_side(*side, salesforce, genesys),
                chosen.as_deref(),
            ) && spec.exists_on(*side)
                && spec.direction.allows(side.other())
        })
        .map(|side| (side, chosen.clone()));
    FieldDecision {
        field: spec.name.clone(),
        reason: Reason::ChosenByPerson,
        write: writes.next(),
        also: writes.next(),
        new_base: chosen,
    }
}

/// Computes a derived field from the merged values and writes it to its side when that side
/// holds something else (an empty result never clears a value under `reject_empty`).
pub(crate) fn derive(
    spec: &FieldSpec,
    merged: &CanonicalContact,
    current: Option<&str>,
) -> FieldDecision {
    let into = spec
        .derived_into()
        .expect("derive() is called for derived fields");
    let value = spec.derive.as_ref().and_then(|d| d.value(merged));
    let (write, new_base) = if value.as_deref() == current {
        (None, value)
    } else if value.is_none() && spec.reject_empty {
        (None, current.map(str::to_string))
    } else {
        (Some((into, value.clone())), value)
    };
    FieldDecision {
        field: spec.name.clone(),
        reason: if write.is_some() {
            Reason::Derived
        } else {
            Reason::Unchanged
        },
        write,
        also: None,
        new_base,
    }
}

/// Merges two linked records against the pair's base (`None` before the first sync), with
/// the choices a person made for held fields.
pub fn merge_pair(
    mapping: &Mapping,
    base: Option<&CanonicalContact>,
    salesforce: &SideRecord,
    genesys: &SideRecord,
    clock: &MergeClock,
    resolutions: Option<&Resolutions>,
) -> PairMerge {
    let mut new_base = CanonicalContact::with_capacity(mapping.fields.len());
    let mut decisions = Vec::with_capacity(mapping.fields.len());
    for spec in &mapping.fields {
        let name = &*spec.name;
        let (sf, gz) = (salesforce.fields.get(name), genesys.fields.get(name));
        let decision = if spec.derive.is_some() {
            let current = match spec.derived_into() {
                Some(Side::Salesforce) => sf,
                _ => gz,
            };
            derive(spec, &new_base, current)
        } else if let Some(side) = [salesforce, genesys]
            .into_iter()
            .find(|r| r.unmapped.iter().any(|u| u == name))
            .map(|r| r.side)
        {
            let review = spec.unmapped_rule() == Some(crate::value_map::Unmapped::Review);
            FieldDecision {
                field: spec.name.clone(),
                reason: Reason::Unmapped { side, review },
                write: None,
                also: None,
                new_base: base.and_then(|b| b.get(name)).map(str::to_string),
            }
        } else if let Some(choice) = resolutions.and_then(|r| r.get(name)) {
            choose(spec, sf, gz, choice)
        } else {
            merge_field(
                spec,
                base.map(|b| b.get(name)),
                sf,
                gz,
                (salesforce.modified_at, genesys.modified_at),
                clock,
            )
        };
        let mut decision = decision;
        // Moved, not copied: the pair's new base is read from `PairMerge::new_base`.
        new_base.add_new(spec.name.clone(), decision.new_base.take());
        decisions.push(decision);
    }
    PairMerge {
        decisions,
        new_base,
    }
}
