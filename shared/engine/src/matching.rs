//! Matching of records that are not linked yet: the Salesforce Id a Genesys contact carries in
//! `externalIds`, then normalised email (any Genesys email slot), then E.164 phone. Only a unique
//! candidate links; several candidates, or several records claiming one candidate, are
//! *ambiguous* and go to review — never to an automatic create.

use crate::contact::SideRecord;
use crate::side::Side;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};

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
/// Records already linked to a pair must not be added (they are taken).
#[derive(Debug, Default)]
pub struct CandidateIndex {
    side: Option<Side>,
    by_link: HashMap<String, BTreeSet<String>>,
    by_email: HashMap<String, BTreeSet<String>>,
    by_phone: HashMap<String, BTreeSet<String>>,
    /// Genesys candidates that carry a link to some Salesforce record: they belong to that
    /// record and are never matched by email or phone to another.
    linked_elsewhere: HashMap<String, String>,
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

    pub fn insert(&mut self, candidate: &Candidate) {
        if let Some(link) = &candidate.link {
            self.by_link
                .entry(link.clone())
                .or_default()
                .insert(candidate.id.clone());
            self.linked_elsewhere
                .insert(candidate.id.clone(), link.clone());
        }
        for email in &candidate.emails {
            self.by_email
                .entry(email.clone())
                .or_default()
                .insert(candidate.id.clone());
        }
        for phone in &candidate.phones {
            self.by_phone
                .entry(phone.clone())
                .or_default()
                .insert(candidate.id.clone());
        }
    }

    pub fn len(&self) -> usize {
        // Distinct ids are not tracked separately; this counts keyed entries, good enough for
        // progress output.
        self.by_email.len() + self.by_phone.len() + self.by_link.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lookup(
        &self,
        map: &HashMap<String, BTreeSet<String>>,
        keys: &[String],
        own_id: &str,
    ) -> BTreeSet<String> {
        keys.iter()
            .filter_map(|k| map.get(k))
            .flatten()
            // A candidate linked to another Salesforce record is not free.
            .filter(|id| {
                self.linked_elsewhere
                    .get(*id)
                    .is_none_or(|link| link == own_id)
            })
            .cloned()
            .collect()
    }

    /// Matches one record against this index (ignoring other records of its batch).
    pub fn match_one(&self, record: &Candidate) -> MatchOutcome {
        // 1. Link: a Genesys candidate carrying this Salesforce Id, or the Salesforce Id a
        //    Genesys record carries.
        let linked: BTreeSet<String> = match (&record.link, self.side) {
            (Some(sf_id), Some(Side::Salesforce)) => [sf_id.clone()].into_iter().collect(),
            (_, Some(Side::Genesys)) => self.by_link.get(&record.id).cloned().unwrap_or_default(),
            _ => BTreeSet::new(),
        };
        if let Some(outcome) = decide(linked, MatchKey::Link) {
            return outcome;
        }
        let by_email = self.lookup(&self.by_email, &record.emails, &record.id);
        if let Some(outcome) = decide(by_email, MatchKey::Email) {
            return outcome;
        }
        let by_phone = self.lookup(&self.by_phone, &record.phones, &record.id);
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
}
