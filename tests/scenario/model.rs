//! What the users did, as the scenario suite remembers it, and the invariants checked against
//! the settled systems (RELIABILITY.md states them in words).
//!
//! A *person* is one contact of a scenario; its `LastName` is a marker that no edit changes,
//! so every record of that person on either side can be found however the sync created it.

use contact_sync_engine::Side;
use std::collections::HashMap;

/// The mapped fields the users edit (canonical names), with their Salesforce field and their
/// Genesys field (phones are `{"display": ...}`, address parts keys of `address`). The last,
/// the country, is edited only with messy data (the strict simulator profile): typed as
/// people type countries (`USA`, `U.S.A.`, `Deutschland`, ...), meaning its ISO code.
pub const FIELDS: [(&str, &str, &str); 7] = [
    ("first_name", "FirstName", "firstName"),
    ("email", "Email", "workEmail"),
    ("phone_work", "Phone", "workPhone"),
    ("phone_mobile", "MobilePhone", "cellPhone"),
    ("title", "Title", "title"),
    ("address.city", "MailingCity", "address"),
    ("address.country", "MailingCountry", "address"),
];

/// The fields users edit: all of [`FIELDS`] with messy data, else all but the country.
pub fn edited_fields(messy: bool) -> &'static [(&'static str, &'static str, &'static str)] {
    if messy { &FIELDS } else { &FIELDS[..6] }
}

/// One user edit of one field of one person (initial values of a created record included).
#[derive(Debug, Clone)]
pub struct Edit {
    /// When, in the scenario's order of events.
    pub seq: u64,
    pub side: Side,
    /// The canonical (normalised) value the edit meant.
    pub value: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Person {
    /// The `LastName` marker.
    pub marker: String,
    /// The side a user deleted the person's record on.
    pub deleted_on: Option<Side>,
    /// The side a record of this person was merged away on (the loser of a merge).
    pub merged_away_on: Option<Side>,
    /// Created on both sides: the sync can only tell it is one person by its email or phone,
    /// so until it is linked the users leave those alone (otherwise it is two people).
    pub on_both: bool,
    /// Seen linked after a cycle.
    pub linked: bool,
    /// The id of the record deleted or merged away.
    pub gone_id: Option<String>,
    /// Part of a merge (loser or survivor): its fields are a person's decision, not checked.
    pub merged: bool,
}

impl Person {
    pub fn is_plain(&self) -> bool {
        self.deleted_on.is_none() && !self.merged
    }
}

/// Everything the users did in one scenario.
#[derive(Debug, Default)]
pub struct Model {
    pub persons: Vec<Person>,
    pub edits: HashMap<(usize, &'static str), Vec<Edit>>,
    /// Event clock: edits and cycles take increasing numbers.
    pub seq: u64,
    /// Per person and field: the cycles after which the store's base and both sides held the
    /// same value (the pair was in agreement).
    pub agreed: HashMap<(usize, &'static str), Vec<u64>>,
    /// Per person and field: the cycles after which both sides held the same value, whether or
    /// not the base said so.
    pub equal: HashMap<(usize, &'static str), Vec<u64>>,
}

impl Model {
    pub fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    pub fn record_edit(
        &mut self,
        person: usize,
        field: &'static str,
        side: Side,
        value: Option<String>,
    ) {
        let seq = self.next_seq();
        self.edits
            .entry((person, field))
            .or_default()
            .push(Edit { seq, side, value });
    }

    /// Judges the settled value `settled` of one field of a plain person.
    ///
    /// `policy_conflict`: the store holds a policy decision (closed audit entry) for this pair
    /// and field. Returns `None` when no edit was lost, else why.
    pub fn judge(
        &self,
        person: usize,
        field: &'static str,
        settled: Option<&str>,
        policy_conflict: bool,
    ) -> Verdict {
        let edits = self
            .edits
            .get(&(person, field))
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let Some(last) = edits.last() else {
            return if settled.is_none() {
                Verdict::Kept
            } else {
                Verdict::Lost(format!("`{field}` holds a value nobody entered"))
            };
        };
        if last.value.as_deref() == settled {
            return Verdict::Kept;
        }
        // The last edit lost. That is the merge rules at work only when another side's edit
        // to the same field, concurrent with it (no cycle in between left the pair agreed on
        // that field), holds the settled value and the policy decision was recorded.
        let agreed_between = |from: u64, to: u64| {
            self.agreed
                .get(&(person, field))
                .is_some_and(|cycles| cycles.iter().any(|c| *c > from && *c < to))
        };
        let equal_between = |from: u64, to: u64| {
            self.equal
                .get(&(person, field))
                .is_some_and(|cycles| cycles.iter().any(|c| *c > from && *c < to))
        };
        let rival = edits.iter().rev().find(|e| {
            e.side != last.side && e.value.as_deref() == settled && !agreed_between(e.seq, last.seq)
        });
        // A crash between the writes and the commit leaves both sides equal while the base
        // stays behind; a later edit then meets the sync's own write as a conflict.
        let overruled_after_crash = policy_conflict
            && edits.iter().rev().any(|e| {
                e.seq < last.seq
                    && e.value.as_deref() == settled
                    && equal_between(e.seq, last.seq)
                    && !agreed_between(e.seq, last.seq)
            });
        match rival {
            None if overruled_after_crash => Verdict::PolicyAfterUncommittedAgreement,
            Some(rival) if policy_conflict => {
                if equal_between(rival.seq, last.seq) {
                    Verdict::PolicyAfterUncommittedAgreement
                } else {
                    Verdict::Policy
                }
            }
            Some(_) => Verdict::Lost(format!(
                "`{field}`: the last edit ({} at #{}) lost to a concurrent edit without a recorded policy decision",
                last.side, last.seq
            )),
            None => Verdict::Lost(format!(
                "`{field}`: the last edit ({} at #{}) is not on both sides and nothing justifies it",
                last.side, last.seq
            )),
        }
    }
}

/// How one field ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The last edit is on both sides.
    Kept,
    /// A concurrent edit on the other side won by the field's policy (audit entry recorded).
    Policy,
    /// As `Policy`, but both sides had physically agreed in between while the store's base
    /// had not (a crash between the write and the commit): counted separately.
    PolicyAfterUncommittedAgreement,
    Lost(String),
}
