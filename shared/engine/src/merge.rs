//! Three-way merge, field by field, of a Salesforce and a Genesys record against the pair's
//! base snapshot (the values both sides agreed on at the last sync).
//!
//! Per field `(base, salesforce, genesys)`:
//! - equal on both sides → nothing to write (this is also what suppresses echoes: after we
//!   write, the next read sees values equal to base);
//! - changed on one side → copied to the other when the direction allows, otherwise the
//!   owner's value overwrites the drift;
//! - changed on both sides differently → the field's policy decides (`manual` writes nothing
//!   and holds the field for a person);
//! - no base yet (a freshly matched pair) → an empty side is filled from the other; two
//!   different values are settled by the policy.

use crate::contact::{CanonicalContact, SideRecord};
use crate::mapping::{FieldSpec, Mapping, Policy};
use crate::side::Side;
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

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
}

/// The decision for one field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldDecision {
    pub field: String,
    #[serde(flatten)]
    pub reason: Reason,
    /// The side to write and the value to write there (`None` clears the field).
    #[serde(skip)]
    pub write: Option<(Side, Option<String>)>,
    /// The base value once the write is done (the held base for a `manual` conflict).
    #[serde(skip)]
    pub new_base: Option<String>,
}

impl FieldDecision {
    /// True for decisions that are conflicts (audit entries / review items).
    pub fn is_conflict(&self) -> bool {
        matches!(self.reason, Reason::Conflict { .. } | Reason::HeldForReview)
    }
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
    let decided = |reason: Reason, write: Option<(Side, Option<&str>)>, new_base: Option<&str>| {
        FieldDecision {
            field: spec.name.clone(),
            reason,
            write: write.map(|(side, v)| (side, v.map(str::to_string))),
            new_base: new_base.map(str::to_string),
        }
    };
    let value_on = |side: Side| match side {
        Side::Salesforce => salesforce,
        Side::Genesys => genesys,
    };

    if salesforce == genesys {
        let reason = if base == Some(salesforce) {
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

    let changed = |side: Side| base != Some(value_on(side));
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
    pub fn changes_for(&self, side: Side) -> Vec<(String, Option<String>)> {
        self.decisions
            .iter()
            .filter_map(|d| match &d.write {
                Some((s, v)) if *s == side => Some((d.field.clone(), v.clone())),
                _ => None,
            })
            .collect()
    }

    pub fn conflicts(&self) -> impl Iterator<Item = &FieldDecision> {
        self.decisions.iter().filter(|d| d.is_conflict())
    }
}

/// Merges two linked records against the pair's base (`None` before the first sync).
pub fn merge_pair(
    mapping: &Mapping,
    base: Option<&CanonicalContact>,
    salesforce: &SideRecord,
    genesys: &SideRecord,
    clock: &MergeClock,
) -> PairMerge {
    let mut new_base = CanonicalContact::new();
    let decisions: Vec<FieldDecision> = mapping
        .fields
        .iter()
        .map(|spec| {
            let decision = merge_field(
                spec,
                base.map(|b| b.get(&spec.name)),
                salesforce.fields.get(&spec.name),
                genesys.fields.get(&spec.name),
                (salesforce.modified_at, genesys.modified_at),
                clock,
            );
            new_base.set(spec.name.clone(), decision.new_base.clone());
            decision
        })
        .collect();
    PairMerge {
        decisions,
        new_base,
    }
}
