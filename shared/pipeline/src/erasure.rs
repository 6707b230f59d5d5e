//! Forgetting a person (`contact-sync forget`): every value the store keeps about them is
//! erased — their pair's base snapshot and chosen values (a chosen side, which holds no value,
//! stays), and the values of every audit entry
//! and review item about them — while ids, links, statuses and decisions stay (so neither
//! record is re-created or re-matched, and the audit still says what happened). The erasure is
//! recorded as an audit entry of its own kind ([`ConflictKind::Erased`]) holding ids only.
//!
//! What it cannot do: the records themselves stay in Salesforce and Genesys. While a record
//! exists there, the next sync of it stores its current values again (a pair without a base
//! is merged as on its first sync); erase the person in both systems first.
//!
//! Idempotent: forgetting again finds nothing left to erase and records another entry.

use crate::store::{
    ConflictKind, ConflictRecord, ConflictStatus, ErasedConflicts, ErasureSubject, SaveOutcome,
    StoreError, SyncStore,
};
use chrono::{DateTime, Utc};
use contact_sync_engine::Side;
use contact_sync_engine::merge::Choice;
use serde::Serialize;

/// Attempts at the pair's compare-and-set before giving up (a sync writing it at the same time).
const PAIR_ATTEMPTS: usize = 5;

/// Why a person could not be forgotten.
#[derive(Debug, thiserror::Error)]
pub enum ErasureError {
    /// Neither a pair nor any audit entry or review item names this record.
    #[error(
        "no {side} record `{record_id}` is known to the store of integration `{integration}` \
         (no pair links it and no audit entry or review item names it)"
    )]
    Unknown {
        side: Side,
        record_id: String,
        integration: String,
    },
    /// The pair kept changing under the erasure (a sync writing it); nothing is lost, run again.
    #[error("pair {pair_id} changed {PAIR_ATTEMPTS} times during the erasure; run it again")]
    Contended { pair_id: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ErasureError {
    pub fn is_retryable(&self) -> bool {
        match self {
            ErasureError::Unknown { .. } => false,
            ErasureError::Contended { .. } => true,
            ErasureError::Store(e) => e.is_retryable(),
        }
    }
}

/// What an erasure did (ids and counts only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Erasure {
    /// The audit entry that records it.
    pub audit_id: String,
    pub pair_id: Option<String>,
    pub salesforce_id: Option<String>,
    pub genesys_id: Option<String>,
    /// True when the pair held values (a base snapshot or chosen values) and they were erased.
    pub pair_values_erased: bool,
    /// Audit entries and review items about the person.
    pub entries_found: usize,
    /// Those that held values (now erased).
    pub entries_erased: usize,
}

/// Erases the values the store keeps about the person whose `side` record is `record_id` (see
/// the module documentation).
pub async fn forget(
    store: &dyn SyncStore,
    integration: &str,
    side: Side,
    record_id: &str,
    now: DateTime<Utc>,
) -> Result<Erasure, ErasureError> {
    let pair_id = store
        .links(side, &[record_id.to_string()])
        .await?
        .remove(record_id);
    let mut subject = ErasureSubject::default();
    match side {
        Side::Salesforce => subject.sf_id = Some(record_id.to_string()),
        Side::Genesys => subject.gz_id = Some(record_id.to_string()),
    }
    let mut pair_values_erased = false;
    if let Some(pair_id) = &pair_id {
        subject.pair_id = Some(pair_id.clone());
        pair_values_erased = erase_pair_values(store, pair_id, &mut subject).await?;
    }
    let ErasedConflicts { found, erased } =
        store.erase_conflict_values(integration, &subject).await?;
    if pair_id.is_none() && found == 0 {
        return Err(ErasureError::Unknown {
            side,
            record_id: record_id.to_string(),
            integration: integration.to_string(),
        });
    }
    let audit_id = format!(
        "erasure#{side}#{record_id}#{}",
        now.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
    );
    store
        .record_conflict(&ConflictRecord {
            id: audit_id.clone(),
            integration: integration.to_string(),
            run_id: "forget".to_string(),
            pair_id: subject.pair_id.clone(),
            sf_id: subject.sf_id.clone(),
            gz_id: subject.gz_id.clone(),
            field: "record".to_string(),
            policy: "forget".to_string(),
            kind: ConflictKind::Erased { side },
            status: ConflictStatus::Closed,
            base_value: None,
            salesforce_value: None,
            genesys_value: None,
            at: now,
        })
        .await?;
    tracing::info!(
        %audit_id,
        pair_values_erased,
        entries_found = found,
        entries_erased = erased,
        "a person's values were erased from the store"
    );
    Ok(Erasure {
        audit_id,
        pair_id,
        salesforce_id: subject.sf_id,
        genesys_id: subject.gz_id,
        pair_values_erased,
        entries_found: found,
        entries_erased: erased,
    })
}

/// Drops the pair's base snapshot and chosen values (a chosen side stays; compare-and-set, retried when a sync
/// wrote it meanwhile), and adds its record ids to `subject`; true when it held values.
async fn erase_pair_values(
    store: &dyn SyncStore,
    pair_id: &str,
    subject: &mut ErasureSubject,
) -> Result<bool, ErasureError> {
    for _ in 0..PAIR_ATTEMPTS {
        let Some(mut pair) = store.pair(pair_id).await? else {
            return Ok(false);
        };
        subject.sf_id = subject.sf_id.take().or(pair.sf_id.clone());
        subject.gz_id = subject.gz_id.take().or(pair.gz_id.clone());
        let chosen_value = |choice: &Choice| matches!(choice, Choice::Value { .. });
        if pair.base.is_none() && !pair.resolutions.values().any(chosen_value) {
            return Ok(false);
        }
        pair.base = None;
        // A chosen value goes; a choice of a side holds no value and stays (a decision).
        pair.resolutions.retain(|_, choice| !chosen_value(choice));
        let expected = pair.version;
        match store.save_pair(&pair, expected).await? {
            SaveOutcome::Saved => return Ok(true),
            SaveOutcome::VersionMismatch => continue,
            other => {
                return Err(ErasureError::Store(StoreError::Permanent(format!(
                    "pair {pair_id}: erasing its values was refused ({other:?})"
                ))));
            }
        }
    }
    Err(ErasureError::Contended {
        pair_id: pair_id.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Pair;
    use crate::store::memory::MemoryStore;
    use contact_sync_engine::CanonicalContact;

    fn entry(id: &str, sf_id: Option<&str>, status: ConflictStatus) -> ConflictRecord {
        ConflictRecord {
            id: id.into(),
            integration: "acme".into(),
            run_id: "run-1".into(),
            pair_id: None,
            sf_id: sf_id.map(str::to_string),
            gz_id: None,
            field: "email".into(),
            policy: "manual".into(),
            kind: ConflictKind::Manual,
            status,
            base_value: Some("old@example.com".into()),
            salesforce_value: Some("ana@example.com".into()),
            genesys_value: Some("ana@example.org".into()),
            at: Utc::now(),
        }
    }

    #[tokio::test]
    async fn forgetting_a_linked_record_erases_the_pair_and_its_entries_and_records_ids_only() {
        // GIVEN a synced pair sf-1 / gz-1 with a base and a chosen value, an open item naming
        // its Genesys record, and a closed entry about someone else
        let store = MemoryStore::new();
        let mut pair = Pair::new("p1".into(), Some("sf-1".into()), Some("gz-1".into()));
        pair.base = Some(CanonicalContact::new().with("email", "ana@example.com"));
        pair.resolutions.insert(
            "email".into(),
            Choice::Value {
                value: Some("ana@example.org".into()),
            },
        );
        pair.resolutions.insert(
            "phone".into(),
            Choice::Side {
                side: Side::Genesys,
            },
        );
        store.create_pair(&pair).await.unwrap();
        let mut about_twin = entry("open-1", None, ConflictStatus::Open);
        about_twin.gz_id = Some("gz-1".into());
        store.record_conflict(&about_twin).await.unwrap();
        let other = entry("other", Some("sf-2"), ConflictStatus::Closed);
        store.record_conflict(&other).await.unwrap();
        // WHEN the Salesforce record is forgotten
        let done = forget(&store, "acme", Side::Salesforce, "sf-1", Utc::now())
            .await
            .unwrap();
        // THEN the pair keeps its ids and status but no values, the item about its twin lost
        // its values and stays open, the other entry is untouched
        let stored = store.pair("p1").await.unwrap().unwrap();
        assert_eq!(
            (stored.sf_id.as_deref(), stored.gz_id.as_deref()),
            (Some("sf-1"), Some("gz-1"))
        );
        assert!(stored.base.is_none());
        let kept: Vec<&String> = stored.resolutions.keys().collect();
        assert_eq!(
            kept,
            vec!["phone"],
            "the chosen value went, the chosen side stayed"
        );
        assert_eq!(stored.status, pair.status);
        let item = store.conflict("open-1").await.unwrap().unwrap();
        assert!(!item.holds_values());
        assert_eq!(item.status, ConflictStatus::Open);
        assert_eq!(store.conflict("other").await.unwrap().unwrap(), other);
        assert!(done.pair_values_erased);
        assert_eq!((done.entries_found, done.entries_erased), (1, 1));
        // AND the erasure is an audit entry of its own, with ids and no values
        let audit = store.conflict(&done.audit_id).await.unwrap().unwrap();
        assert_eq!(
            audit.kind,
            ConflictKind::Erased {
                side: Side::Salesforce
            }
        );
        assert_eq!(
            (
                audit.pair_id.as_deref(),
                audit.sf_id.as_deref(),
                audit.gz_id.as_deref()
            ),
            (Some("p1"), Some("sf-1"), Some("gz-1"))
        );
        assert!(!audit.holds_values());
        // AND forgetting again erases nothing more (and finds the erasure entry too)
        let again = forget(&store, "acme", Side::Genesys, "gz-1", Utc::now())
            .await
            .unwrap();
        assert!(!again.pair_values_erased);
        assert_eq!((again.entries_found, again.entries_erased), (2, 0));
    }

    #[tokio::test]
    async fn a_record_named_only_by_an_audit_entry_is_forgotten_and_an_unknown_one_is_an_error() {
        // GIVEN a closed entry about an unlinked record sf-9
        let store = MemoryStore::new();
        store
            .record_conflict(&entry("c9", Some("sf-9"), ConflictStatus::Closed))
            .await
            .unwrap();
        // WHEN sf-9 is forgotten THEN its entry loses its values (no pair to erase)
        let done = forget(&store, "acme", Side::Salesforce, "sf-9", Utc::now())
            .await
            .unwrap();
        assert_eq!(done.pair_id, None);
        assert_eq!((done.entries_found, done.entries_erased), (1, 1));
        assert!(!store.conflict("c9").await.unwrap().unwrap().holds_values());
        // WHEN a record nobody knows is forgotten THEN it is a clear, permanent error, and
        // nothing is recorded
        let before = store.conflicts("acme", false).await.unwrap().len();
        let error = forget(&store, "acme", Side::Genesys, "gz-404", Utc::now())
            .await
            .unwrap_err();
        assert!(matches!(error, ErasureError::Unknown { .. }), "{error}");
        assert!(!error.is_retryable());
        assert!(error.to_string().contains("gz-404"), "{error}");
        assert_eq!(store.conflicts("acme", false).await.unwrap().len(), before);
    }
}
