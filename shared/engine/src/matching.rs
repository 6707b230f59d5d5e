//! Matching of records that are not linked yet: the Salesforce Id a Genesys contact carries in
//! `externalIds`, then normalised email (any Genesys email slot), then E.164 phone. Only a unique
//! candidate links; several candidates, or several records claiming one candidate, are
//! *ambiguous* and go to review — never to an automatic create.

use crate::contact::SideRecord;
use crate::side::Side;
use serde::Serialize;
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};

/// What identified a match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchKey {
    Link,
    Email,
    Phone,
}

/// The outcome for one unlinked record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MatchOutcome {
    /// Exactly one candidate on the other side.
    Matched { other_id: String, by: MatchKey },
    /// No candidate: the record may be created on the other side.
    NoMatch,
    /// Several candidates, or a candidate claimed by several records: hold for review.
    Ambiguous {
        candidates: Vec<String>,
        by: MatchKey,
    },
}

/// Match keys of one record (either side).
#[derive(Debug, Clone, Default)]
pub struct Candidate {
    pub id: String,
    /// Genesys: the Salesforce Id from `externalIds`. Salesforce: unused.
    pub link: Option<String>,
    pub emails: Vec<String>,
    pub phones: Vec<String>,
}

impl From<&SideRecord> for Candidate {
    fn from(r: &SideRecord) -> Self {
        Candidate {
            id: r.id.clone(),
            link: r.link.clone(),
            emails: r.match_emails.clone(),
            phones: r.match_phones.clone(),
        }
    }
}

/// The records of one side that unlinked records of the other side may match, indexed by key.
/// Records already linked to a pair must not be added (they are taken). Each id is held once:
/// inserting a record again replaces it.
///
/// Compact, because an initial sync holds every record of an org in one: each record's keys
/// are packed into one allocation, and the index maps a 32-bit hash of each (kind, key) to the
/// slots of the records holding it. Every hit is checked against the record's own keys, so a
/// hash collision costs a comparison, never a wrong match. About 140 bytes a record with one
/// email and one phone.
#[derive(Default)]
pub struct CandidateIndex {
    side: Option<Side>,
    /// Records by slot; `None` once removed or replaced.
    records: Vec<Option<Packed>>,
    /// Hash of (kind, key) → a slot, or (with [`SHARED`] set) a list in `shared`.
    slots: HashMap<u32, u32, BuildHasherDefault<Prehashed>>,
    /// Slots of hashes that several records hold.
    shared: Vec<Vec<u32>>,
    hasher: RandomState,
    live: usize,
}

/// Marks a slot value of [`CandidateIndex::slots`] as an index into its `shared` lists.
const SHARED: u32 = 1 << 31;

/// The kinds of key a record is indexed by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum KeyKind {
    Id,
    Link,
    Email,
    Phone,
}

impl std::fmt::Debug for CandidateIndex {
    // Counts only: the keys are personal data.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CandidateIndex")
            .field("side", &self.side)
            .field("records", &self.live)
            .finish_non_exhaustive()
    }
}

impl CandidateIndex {
    pub fn new(side: Side) -> CandidateIndex {
        CandidateIndex {
            side: Some(side),
            ..CandidateIndex::default()
        }
    }

    pub fn side(&self) -> Option<Side> {
        self.side
    }

    /// Adds a record, replacing the one with its id if any.
    pub fn insert(&mut self, candidate: &Candidate) {
        self.remove(&candidate.id);
        let Ok(slot) = u32::try_from(self.records.len()) else {
            return;
        };
        if slot >= SHARED {
            return;
        }
        let packed = Packed::new(candidate);
        for (kind, key) in packed.keys() {
            let hash = self.hash(kind, key);
            self.link(hash, slot);
        }
        self.records.push(Some(packed));
        self.live += 1;
    }

    /// Removes the record with this id; whether there was one.
    pub fn remove(&mut self, id: &str) -> bool {
        let found: Vec<u32> = self.slots_of(KeyKind::Id, id).collect();
        for slot in &found {
            if let Some(record) = self.records.get_mut(*slot as usize)
                && record.take().is_some()
            {
                self.live -= 1;
            }
        }
        !found.is_empty()
    }

    /// Whether a record with this id is indexed.
    pub fn contains(&self, id: &str) -> bool {
        self.slots_of(KeyKind::Id, id).next().is_some()
    }

    /// The keys of the record with this id.
    pub fn candidate(&self, id: &str) -> Option<Candidate> {
        self.records_of(KeyKind::Id, id)
            .next()
            .map(Packed::candidate)
    }

    /// Whether some record has this (normalised) email.
    pub fn has_email(&self, email: &str) -> bool {
        self.slots_of(KeyKind::Email, email).next().is_some()
    }

    /// Records indexed.
    pub fn len(&self) -> usize {
        self.live
    }

    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// The ids of the records `other` (a record of the other side) shares a key with: the one
    /// its link names, those linked to it, those with one of its emails or phones. Matching any
    /// other record of this index against an index holding `other` finds no match.
    pub fn reachable(&self, other: &Candidate) -> BTreeSet<String> {
        let by_link = other
            .link
            .iter()
            .flat_map(|link| self.records_of(KeyKind::Id, link));
        let linked = self.records_of(KeyKind::Link, &other.id);
        let by_email = other
            .emails
            .iter()
            .flat_map(|email| self.records_of(KeyKind::Email, email));
        let by_phone = other
            .phones
            .iter()
            .flat_map(|phone| self.records_of(KeyKind::Phone, phone));
        by_link
            .chain(linked)
            .chain(by_email)
            .chain(by_phone)
            .map(|record| record.id().to_string())
            .collect()
    }

    fn hash(&self, kind: KeyKind, key: &str) -> u32 {
        // The low half of a keyed 64-bit hash; collisions are checked against the records.
        self.hasher.hash_one((kind, key)) as u32
    }

    fn link(&mut self, hash: u32, slot: u32) {
        match self.slots.entry(hash) {
            Entry::Vacant(entry) => {
                entry.insert(slot);
            }
            Entry::Occupied(mut entry) => {
                let held = *entry.get();
                if held & SHARED != 0 {
                    // A record's own keys are linked one after another: a key it holds twice
                    // would be its list's last slot.
                    if let Some(list) = self.shared.get_mut((held & !SHARED) as usize)
                        && list.last() != Some(&slot)
                    {
                        list.push(slot);
                    }
                } else if held != slot {
                    let Ok(list) = u32::try_from(self.shared.len()) else {
                        return;
                    };
                    self.shared.push(vec![held, slot]);
                    entry.insert(SHARED | list);
                }
            }
        }
    }

    /// The slots of the live records holding this key.
    fn slots_of<'s>(&'s self, kind: KeyKind, key: &'s str) -> impl Iterator<Item = u32> + 's {
        let listed: &[u32] = match self.slots.get(&self.hash(kind, key)) {
            None => &[],
            Some(held) if held & SHARED != 0 => self
                .shared
                .get((held & !SHARED) as usize)
                .map_or(&[], Vec::as_slice),
            Some(held) => std::slice::from_ref(held),
        };
        listed.iter().copied().filter(move |slot| {
            self.record(*slot)
                .is_some_and(|record| record.keys().any(|k| k == (kind, key)))
        })
    }

    fn records_of<'s>(&'s self, kind: KeyKind, key: &'s str) -> impl Iterator<Item = &'s Packed> {
        self.slots_of(kind, key)
            .filter_map(|slot| self.record(slot))
    }

    fn record(&self, slot: u32) -> Option<&Packed> {
        self.records.get(slot as usize).and_then(Option::as_ref)
    }

    /// The ids of records holding any of `keys`, except those linked to another record than
    /// `own_id` (a candidate linked to another Salesforce record is not free).
    fn lookup(&self, kind: KeyKind, keys: &[String], own_id: &str) -> BTreeSet<String> {
        keys.iter()
            .flat_map(|key| self.records_of(kind, key))
            .filter(|record| record.link().is_none_or(|link| link == own_id))
            .map(|record| record.id().to_string())
            .collect()
    }

    /// Matches one record against this index (ignoring other records of its batch).
    pub fn match_one(&self, record: &Candidate) -> MatchOutcome {
        // 1. Link: a Genesys candidate carrying this Salesforce Id, or the Salesforce Id a
        //    Genesys record carries.
        let linked: BTreeSet<String> = match (&record.link, self.side) {
            (Some(sf_id), Some(Side::Salesforce)) => [sf_id.clone()].into_iter().collect(),
            (_, Some(Side::Genesys)) => self
                .records_of(KeyKind::Link, &record.id)
                .map(|r| r.id().to_string())
                .collect(),
            _ => BTreeSet::new(),
        };
        if let Some(outcome) = decide(linked, MatchKey::Link) {
            return outcome;
        }
        let by_email = self.lookup(KeyKind::Email, &record.emails, &record.id);
        if let Some(outcome) = decide(by_email, MatchKey::Email) {
            return outcome;
        }
        let by_phone = self.lookup(KeyKind::Phone, &record.phones, &record.id);
        decide(by_phone, MatchKey::Phone).unwrap_or(MatchOutcome::NoMatch)
    }

    /// Matches a batch of unlinked records: duplicates (same id) are matched once, and a
    /// candidate claimed by more than one record makes all of those claims ambiguous.
    pub fn match_batch(&self, records: &[Candidate]) -> BTreeMap<String, MatchOutcome> {
        let mut outcomes: BTreeMap<String, MatchOutcome> = BTreeMap::new();
        for record in records {
            outcomes
                .entry(record.id.clone())
                .or_insert_with(|| self.match_one(record));
        }
        let mut claims: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (id, outcome) in &outcomes {
            if let MatchOutcome::Matched { other_id, .. } = outcome {
                claims.entry(other_id.clone()).or_default().push(id.clone());
            }
        }
        for (other_id, claimants) in claims {
            if claimants.len() > 1 {
                for id in &claimants {
                    if let Some(MatchOutcome::Matched { by, .. }) = outcomes.get(id).cloned() {
                        outcomes.insert(
                            id.clone(),
                            MatchOutcome::Ambiguous {
                                candidates: vec![other_id.clone()],
                                by,
                            },
                        );
                    }
                }
            }
        }
        outcomes
    }
}

/// One record's keys in one allocation: whether it has a link, the numbers of emails and of
/// phones (u32, little-endian), then the id, the link, the emails and the phones, each as its
/// length (u32, little-endian) and its bytes.
struct Packed(Box<[u8]>);

impl Packed {
    const HEADER: usize = 9;

    fn new(c: &Candidate) -> Packed {
        let parts = std::iter::once(&c.id)
            .chain(&c.link)
            .chain(&c.emails)
            .chain(&c.phones);
        let size = Packed::HEADER + parts.clone().map(|p| 4 + p.len()).sum::<usize>();
        let mut bytes = Vec::with_capacity(size);
        bytes.push(u8::from(c.link.is_some()));
        bytes.extend_from_slice(&count(c.emails.len()).to_le_bytes());
        bytes.extend_from_slice(&count(c.phones.len()).to_le_bytes());
        for part in parts {
            bytes.extend_from_slice(&count(part.len()).to_le_bytes());
            bytes.extend_from_slice(part.as_bytes());
        }
        Packed(bytes.into_boxed_slice())
    }

    fn number(&self, at: usize) -> usize {
        self.0
            .get(at..at + 4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map_or(0, |b| u32::from_le_bytes(b) as usize)
    }

    /// Every key, in the order packed.
    fn keys(&self) -> impl Iterator<Item = (KeyKind, &str)> + Clone {
        let has_link = self.0.first() == Some(&1);
        let kinds = std::iter::once(KeyKind::Id)
            .chain(has_link.then_some(KeyKind::Link))
            .chain(std::iter::repeat_n(KeyKind::Email, self.number(1)))
            .chain(std::iter::repeat_n(KeyKind::Phone, self.number(5)));
        let mut at = Packed::HEADER;
        kinds.map(move |kind| {
            let len = self.number(at);
            let text = self
                .0
                .get(at + 4..at + 4 + len)
                .and_then(|b| std::str::from_utf8(b).ok())
                .unwrap_or_default();
            at += 4 + len;
            (kind, text)
        })
    }

    fn id(&self) -> &str {
        self.keys().next().map_or("", |(_, id)| id)
    }

    fn link(&self) -> Option<&str> {
        self.keys()
            .nth(1)
            .filter(|(kind, _)| *kind == KeyKind::Link)
            .map(|(_, link)| link)
    }

    fn candidate(&self) -> Candidate {
        let mut candidate = Candidate::default();
        for (kind, key) in self.keys() {
            let key = key.to_string();
            match kind {
                KeyKind::Id => candidate.id = key,
                KeyKind::Link => candidate.link = Some(key),
                KeyKind::Email => candidate.emails.push(key),
                KeyKind::Phone => candidate.phones.push(key),
            }
        }
        candidate
    }
}

/// A length or count as packed (keys longer than 4 GiB do not occur).
fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// A hasher for keys that are hashes already: spreads them over 64 bits.
#[derive(Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0.wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.0 = u64::from(n);
    }
}

fn decide(found: BTreeSet<String>, by: MatchKey) -> Option<MatchOutcome> {
    match found.len() {
        0 => None,
        1 => found
            .into_iter()
            .next()
            .map(|other_id| MatchOutcome::Matched { other_id, by }),
        _ => Some(MatchOutcome::Ambiguous {
            candidates: found.into_iter().collect(),
            by,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gz(id: &str, link: Option<&str>, emails: &[&str], phones: &[&str]) -> Candidate {
        Candidate {
            id: id.into(),
            link: link.map(str::to_string),
            emails: emails.iter().map(|s| s.to_string()).collect(),
            phones: phones.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn sf(id: &str, emails: &[&str], phones: &[&str]) -> Candidate {
        gz(id, None, emails, phones)
    }

    #[test]
    fn link_beats_email_and_email_beats_phone() {
        // GIVEN Genesys candidates: one linked to SF1, one sharing SF1's email, one its phone
        let mut index = CandidateIndex::new(Side::Genesys);
        index.insert(&gz("g-link", Some("SF1"), &[], &[]));
        index.insert(&gz("g-mail", None, &["a@example.com"], &[]));
        index.insert(&gz("g-phone", None, &[], &["+14155550134"]));
        // WHEN SF1 is matched THEN the link wins
        let outcome = index.match_one(&sf("SF1", &["a@example.com"], &["+14155550134"]));
        assert_eq!(
            outcome,
            MatchOutcome::Matched {
                other_id: "g-link".into(),
                by: MatchKey::Link
            }
        );
        // WHEN SF2 (same email and phone, no link) is matched THEN email wins over phone
        let outcome = index.match_one(&sf("SF2", &["a@example.com"], &["+14155550134"]));
        assert_eq!(
            outcome,
            MatchOutcome::Matched {
                other_id: "g-mail".into(),
                by: MatchKey::Email
            }
        );
        // WHEN SF3 shares only the phone THEN phone matches
        let outcome = index.match_one(&sf("SF3", &[], &["+14155550134"]));
        assert_eq!(
            outcome,
            MatchOutcome::Matched {
                other_id: "g-phone".into(),
                by: MatchKey::Phone
            }
        );
    }

    #[test]
    fn candidate_linked_to_another_record_is_not_matched_by_email() {
        // GIVEN a Genesys contact linked to SF1 with an email
        let mut index = CandidateIndex::new(Side::Genesys);
        index.insert(&gz("g1", Some("SF1"), &["a@example.com"], &[]));
        // WHEN another SF record with the same email is matched THEN no match (create instead)
        assert_eq!(
            index.match_one(&sf("SF2", &["a@example.com"], &[])),
            MatchOutcome::NoMatch
        );
    }

    #[test]
    fn several_candidates_are_ambiguous_never_a_match() {
        // GIVEN two Genesys contacts with the same email
        let mut index = CandidateIndex::new(Side::Genesys);
        index.insert(&gz("g1", None, &["a@example.com"], &[]));
        index.insert(&gz("g2", None, &["a@example.com"], &[]));
        // WHEN matched THEN ambiguous, both candidates named
        let outcome = index.match_one(&sf("SF1", &["a@example.com"], &[]));
        assert_eq!(
            outcome,
            MatchOutcome::Ambiguous {
                candidates: vec!["g1".into(), "g2".into()],
                by: MatchKey::Email
            }
        );
    }

    #[test]
    fn two_records_claiming_one_candidate_are_both_ambiguous() {
        // GIVEN one Genesys contact and two SF records with its email in one batch
        let mut index = CandidateIndex::new(Side::Genesys);
        index.insert(&gz("g1", None, &["a@example.com"], &[]));
        let batch = [
            sf("SF1", &["a@example.com"], &[]),
            sf("SF2", &["a@example.com"], &[]),
            sf("SF1", &["a@example.com"], &[]),
        ];
        // WHEN the batch is matched THEN both claims are ambiguous; the duplicate SF1 counts once
        let outcomes = index.match_batch(&batch);
        assert_eq!(outcomes.len(), 2);
        assert!(
            outcomes
                .values()
                .all(|o| matches!(o, MatchOutcome::Ambiguous { .. }))
        );
    }

    #[test]
    fn genesys_record_with_a_link_matches_that_salesforce_record() {
        // GIVEN a Salesforce index WHEN a Genesys record carrying SF7 is matched THEN SF7
        let index = CandidateIndex::new(Side::Salesforce);
        let outcome = index.match_one(&gz("g1", Some("SF7"), &[], &[]));
        assert_eq!(
            outcome,
            MatchOutcome::Matched {
                other_id: "SF7".into(),
                by: MatchKey::Link
            }
        );
    }

    #[test]
    fn a_record_inserted_again_replaces_the_old_keys() {
        // GIVEN SF1 indexed with one email, then again with another
        let mut index = CandidateIndex::new(Side::Salesforce);
        index.insert(&sf("SF1", &["old@example.com"], &["+14155550134"]));
        index.insert(&sf("SF1", &["new@example.com"], &[]));
        // WHEN Genesys records with each email are matched
        let old = index.match_one(&gz("g1", None, &["old@example.com"], &["+14155550134"]));
        let new = index.match_one(&gz("g2", None, &["new@example.com"], &[]));
        // THEN only the new keys match, and the index holds one record with them
        assert_eq!(old, MatchOutcome::NoMatch);
        assert_eq!(
            new,
            MatchOutcome::Matched {
                other_id: "SF1".into(),
                by: MatchKey::Email
            }
        );
        assert_eq!(index.len(), 1);
        let keys = index.candidate("SF1").expect("indexed");
        assert_eq!(keys.emails, vec!["new@example.com".to_string()]);
        assert!(keys.phones.is_empty() && keys.link.is_none());
    }

    #[test]
    fn a_removed_record_is_no_longer_found() {
        // GIVEN two records sharing an email and a record with the same email twice
        let mut index = CandidateIndex::new(Side::Salesforce);
        index.insert(&sf("SF1", &["a@example.com"], &[]));
        index.insert(&sf("SF2", &["a@example.com", "a@example.com"], &[]));
        // WHEN one is removed (twice)
        assert!(index.remove("SF2"));
        assert!(!index.remove("SF2"));
        // THEN the other one alone matches, and counts stay right
        assert_eq!(index.len(), 1);
        assert!(!index.contains("SF2") && index.contains("SF1"));
        assert!(index.has_email("a@example.com"));
        assert_eq!(
            index.match_one(&gz("g1", None, &["a@example.com"], &[])),
            MatchOutcome::Matched {
                other_id: "SF1".into(),
                by: MatchKey::Email
            }
        );
    }

    #[test]
    fn reachable_names_every_record_sharing_a_key() {
        // GIVEN Salesforce records: one by id, one by email, one by phone, one unrelated
        let mut index = CandidateIndex::new(Side::Salesforce);
        index.insert(&sf("SF1", &[], &[]));
        index.insert(&sf("SF2", &["a@example.com"], &[]));
        index.insert(&sf("SF3", &[], &["+14155550134"]));
        index.insert(&sf("SF4", &["b@example.com"], &["+14155550199"]));
        // WHEN a Genesys record linked to SF1 with SF2's email and SF3's phone is looked at
        let reached = index.reachable(&gz(
            "g1",
            Some("SF1"),
            &["a@example.com"],
            &["+14155550134"],
        ));
        // THEN those three are named, the unrelated one is not
        let expected: BTreeSet<String> = ["SF1", "SF2", "SF3"].map(String::from).into();
        assert_eq!(reached, expected);
    }

    mod reachable {
        use super::*;
        use proptest::prelude::*;

        /// Records over few ids and keys, so that they share keys often.
        fn record(linked: bool) -> impl Strategy<Value = Candidate> {
            let key = |prefix: &'static str| (0..4u8).prop_map(move |k| format!("{prefix}{k}"));
            (
                0..6u8,
                proptest::option::of(0..6u8),
                proptest::collection::vec(key("e"), 0..3),
                proptest::collection::vec(key("+1"), 0..3),
            )
                .prop_map(move |(id, link, emails, phones)| Candidate {
                    id: if linked {
                        format!("g{id}")
                    } else {
                        format!("SF{id}")
                    },
                    link: link.filter(|_| linked).map(|l| format!("SF{l}")),
                    emails,
                    phones,
                })
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

            #[test]
            fn a_candidate_a_page_does_not_reach_finds_no_match_in_it(
                candidates in proptest::collection::vec(record(false), 0..8),
                page in proptest::collection::vec(record(true), 0..6),
            ) {
                // GIVEN Salesforce candidates indexed, and a page of Genesys records
                let mut index = CandidateIndex::new(Side::Salesforce);
                for c in &candidates {
                    index.insert(c);
                }
                let mut page_index = CandidateIndex::new(Side::Genesys);
                let mut reached = BTreeSet::new();
                for g in &page {
                    page_index.insert(g);
                    reached.append(&mut index.reachable(g));
                }
                // WHEN every indexed candidate is matched against the page
                // THEN those the page does not reach find no match (the poll skips them)
                for c in &candidates {
                    let kept = index.candidate(&c.id).expect("indexed");
                    if !reached.contains(&c.id) {
                        prop_assert_eq!(page_index.match_one(&kept), MatchOutcome::NoMatch);
                    }
                }
            }
        }
    }
}
