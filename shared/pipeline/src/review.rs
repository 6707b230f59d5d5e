//! The review use case: a person settles what a run could not decide alone.
//!
//! - A held field (a `manual` conflict, a value with no entry in its value map): [`resolve`]
//!   stores the chosen side or value on the pair and closes the item; the next run applies it
//!   (and audits it as `chosen`).
//! - An ambiguous match: [`decide`] with [`ReviewDecision::Link`] pairs the record with the
//!   chosen candidate, [`ReviewDecision::CreateNew`] gives it a pair of its own (the next run
//!   creates its twin), [`ReviewDecision::Dismiss`] leaves it alone. The pair is stored pending,
//!   so the next run reconciles it.
//! - Deletes held by the circuit breaker: [`ReviewDecision::Release`] lets the next run apply
//!   them, [`ReviewDecision::Keep`] makes the next run unlink instead of deleting. The decision
//!   is stored as an open item of its own ([`pending_delete_decisions`]) that the next completed
//!   run applies ([`lift_for`]) and then closes ([`settle_delete_decisions`]). The scheduled
//!   runtime (a poll in one function, its batches reconciled by another) does the same through
//!   [`decisions_for_poll`] and [`with_pending_decisions`].
//!
//! Every decision closes its item and leaves an audit record (`{item}#decision`, policy = the
//! decision) naming the pair it created, if any. Never a value in a log line.

use crate::integration::PipelineError;
use crate::store::{
    ConflictKind, ConflictRecord, ConflictStatus, Pair, PairStatus, SaveOutcome, SyncStore,
};
use chrono::{DateTime, Utc};
use contact_sync_engine::Side;
use contact_sync_engine::mapping::{DeleteBreaker, DeletePolicy, Mapping};
use contact_sync_engine::merge::Choice;

/// What a person decided for a held field.
#[derive(Clone, PartialEq, Eq)]
pub enum Decision {
    /// Keep the value this side holds when the next run applies the choice.
    Side(Side),
    /// Write this value on both sides (normalised like a read value; must be a value the
    /// field's value map knows, if it has one).
    Value(String),
    /// Clear the field on both sides.
    Clear,
}

impl std::fmt::Debug for Decision {
    // A chosen value is personal data: never print it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Decision::Side(side) => write!(f, "Side({side})"),
            Decision::Value(_) => write!(f, "Value(..)"),
            Decision::Clear => write!(f, "Clear"),
        }
    }
}

/// Why a review item could not be resolved. Messages name ids and fields, never values.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error("no review item `{0}` (list them with `contact-sync conflicts list --open`)")]
    NotFound(String),
    #[error("review item `{0}` is already closed")]
    Closed(String),
    #[error(
        "review item `{id}` is {what}: only held fields (manual conflicts, unmapped values) and conflicts settled by policy take a chosen side or value"
    )]
    NotAFieldConflict { id: String, what: &'static str },
    #[error("review item `{id}`: {problem}")]
    BadValue { id: String, problem: String },
    #[error("review item `{id}` is {what}: {allowed}")]
    WrongDecision {
        id: String,
        what: &'static str,
        allowed: &'static str,
    },
    #[error("review item `{id}`: `{candidate}` is not one of its candidates ({candidates})")]
    NotACandidate {
        id: String,
        candidate: String,
        candidates: String,
    },
    #[error("review item `{id}`: {side} record `{record}` is already paired (pair {pair_id})")]
    AlreadyPaired {
        id: String,
        side: Side,
        record: String,
        pair_id: String,
    },
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
}

/// What resolving did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub pair_id: String,
    pub field: String,
}

/// Stores a person's decision for the open review item `conflict_id` on its pair (applied by
/// the next run) and closes the item. Safe to repeat: a second call finds the item closed.
///
/// A conflict the field's policy settled (an audit entry) can be overridden the same way,
/// once: the next run writes the chosen value, and `{id}#override` records when a person
/// chose it.
pub async fn resolve(
    store: &dyn SyncStore,
    mapping: &Mapping,
    conflict_id: &str,
    decision: Decision,
) -> Result<Resolved, ReviewError> {
    let item = store
        .conflict(conflict_id)
        .await
        .map_err(PipelineError::from)?
        .ok_or_else(|| ReviewError::NotFound(conflict_id.to_string()))?;
    let overriding = matches!(item.kind, ConflictKind::Resolved { .. });
    let override_id = format!("{conflict_id}#override");
    let overridden = overriding
        && store
            .conflict(&override_id)
            .await
            .map_err(PipelineError::from)?
            .is_some();
    if (item.status != ConflictStatus::Open && !overriding) || overridden {
        return Err(ReviewError::Closed(conflict_id.to_string()));
    }
    let what = match item.kind {
        ConflictKind::Manual | ConflictKind::Unmapped { .. } | ConflictKind::Resolved { .. } => {
            None
        }
        ConflictKind::AmbiguousMatch { .. } => Some("an ambiguous match"),
        ConflictKind::Deleted { .. } => Some("a deleted record"),
        ConflictKind::Rejected { .. } => Some("a record a system refused"),
        ConflictKind::MergeCollision { .. } => Some("a merge collision"),
        ConflictKind::DeletesHeld { .. } => Some("held deletes"),
        ConflictKind::Chosen | ConflictKind::Erased { .. } => Some("an audit entry"),
    };
    let (Some(pair_id), None) = (&item.pair_id, what) else {
        return Err(ReviewError::NotAFieldConflict {
            id: conflict_id.to_string(),
            what: what.unwrap_or("not tied to a pair"),
        });
    };
    let choice = match decision {
        // The policy already wrote the winner's value over the other side's: choosing a side
        // of a settled conflict means the value that side held then (kept in the record).
        Decision::Side(side) if overriding => Choice::Value {
            value: match side {
                Side::Salesforce => item.salesforce_value.clone(),
                Side::Genesys => item.genesys_value.clone(),
            },
        },
        Decision::Side(side) => Choice::Side { side },
        Decision::Clear => Choice::Value { value: None },
        Decision::Value(value) => Choice::Value {
            value: mapping
                .normalise_choice(&item.field, &value)
                .map_err(|problem| ReviewError::BadValue {
                    id: conflict_id.to_string(),
                    problem,
                })?,
        },
    };
    // Compare-and-set against concurrent reconciles: reload and retry a few times.
    for _ in 0..5 {
        let mut pair = store
            .pair(pair_id)
            .await
            .map_err(PipelineError::from)?
            .ok_or_else(|| {
                PipelineError::Invariant(format!("review item names missing pair {pair_id}"))
            })?;
        if pair.status == PairStatus::Unlinked {
            return Err(ReviewError::NotAFieldConflict {
                id: conflict_id.to_string(),
                what: "about a pair that is unlinked",
            });
        }
        let expected = pair.version;
        pair.resolutions.insert(item.field.clone(), choice.clone());
        // Pending pairs are picked up by the next poll even when neither record changes.
        if pair.status == PairStatus::Synced {
            pair.status = PairStatus::Pending;
        }
        match store
            .save_pair(&pair, expected)
            .await
            .map_err(PipelineError::from)?
        {
            SaveOutcome::Saved => {
                if overriding {
                    let audit = ConflictRecord {
                        id: override_id.clone(),
                        run_id: "review".into(),
                        policy: "override".into(),
                        kind: ConflictKind::Chosen,
                        status: ConflictStatus::Closed,
                        base_value: None,
                        salesforce_value: None,
                        genesys_value: None,
                        ..item.clone()
                    };
                    store
                        .record_conflict(&audit)
                        .await
                        .map_err(PipelineError::from)?;
                } else {
                    store
                        .close_conflict(conflict_id)
                        .await
                        .map_err(PipelineError::from)?;
                }
                tracing::info!(conflict_id, pair_id = %pair_id, field = %item.field, "review item resolved; applied next run");
                return Ok(Resolved {
                    pair_id: pair_id.clone(),
                    field: item.field.clone(),
                });
            }
            SaveOutcome::VersionMismatch => continue,
            other => {
                return Err(
                    PipelineError::Invariant(format!("saving pair {pair_id}: {other:?}")).into(),
                );
            }
        }
    }
    Err(
        PipelineError::Store(crate::store::StoreError::Transient(format!(
            "pair {pair_id} kept changing; try again"
        )))
        .into(),
    )
}

/// What a person decided for a review item that is not a held field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReviewDecision {
    /// Ambiguous match: pair the record with this candidate (an id of the other side).
    Link(String),
    /// Ambiguous match: the record is nobody else; the next run creates its twin.
    CreateNew,
    /// Leave the record as it is and close the item (ambiguous matches, deleted or refused
    /// records, merge collisions). A dismissed ambiguous record is not matched again.
    Dismiss,
    /// Held deletes: the next run applies every delete it finds (the breaker is lifted once).
    Release,
    /// Held deletes: the next run unlinks the pairs instead of deleting the other records (the
    /// breaker is lifted once, delete policy `propagate` becomes `unlink`).
    Keep,
}

impl ReviewDecision {
    /// The audit record's `policy`.
    pub fn name(&self) -> &'static str {
        match self {
            ReviewDecision::Link(_) => "link",
            ReviewDecision::CreateNew => "create_new",
            ReviewDecision::Dismiss => "dismissed",
            ReviewDecision::Release => "release",
            ReviewDecision::Keep => "keep",
        }
    }
}

/// What deciding did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decided {
    /// The audit record of the decision.
    pub audit_id: String,
    /// The pair created for the next run to reconcile (link / create new).
    pub pair_id: Option<String>,
}

/// Carries out a person's decision on the open review item `item_id` of `integration` and
/// audits it. Ids and kinds are checked first; nothing is written when the decision does not
/// fit the item.
pub async fn decide(
    store: &dyn SyncStore,
    integration: &str,
    item_id: &str,
    decision: ReviewDecision,
    now: DateTime<Utc>,
) -> Result<Decided, ReviewError> {
    let item = open_item(store, item_id).await?;
    let wrong = |what, allowed| ReviewError::WrongDecision {
        id: item_id.to_string(),
        what,
        allowed,
    };
    if is_delete_decision(&item) {
        return Err(wrong(
            "a decision waiting for the next run",
            "the next `contact-sync sync` applies it",
        ));
    }
    let pair_id = match (&item.kind, &decision) {
        (ConflictKind::AmbiguousMatch { candidates }, ReviewDecision::Link(chosen)) => {
            let (side, record) = lone_record(&item)
                .ok_or_else(|| wrong(MATCH_OF_PAIRS, "only --dismiss applies"))?;
            if !candidates.contains(chosen) {
                return Err(ReviewError::NotACandidate {
                    id: item_id.to_string(),
                    candidate: chosen.clone(),
                    candidates: candidates.join(", "),
                });
            }
            let pair = match side {
                Side::Salesforce => new_pair(Some(record), Some(chosen.clone())),
                Side::Genesys => new_pair(Some(chosen.clone()), Some(record)),
            };
            Some(reserve(store, item_id, pair).await?)
        }
        (ConflictKind::AmbiguousMatch { .. }, ReviewDecision::CreateNew) => {
            let (side, record) = lone_record(&item)
                .ok_or_else(|| wrong(MATCH_OF_PAIRS, "only --dismiss applies"))?;
            let pair = match side {
                Side::Salesforce => new_pair(Some(record), None),
                Side::Genesys => new_pair(None, Some(record)),
            };
            Some(reserve(store, item_id, pair).await?)
        }
        (
            ConflictKind::AmbiguousMatch { .. }
            | ConflictKind::Deleted { .. }
            | ConflictKind::Rejected { .. }
            | ConflictKind::MergeCollision { .. },
            ReviewDecision::Dismiss,
        ) => None,
        (ConflictKind::DeletesHeld { .. }, ReviewDecision::Release | ReviewDecision::Keep) => None,
        (ConflictKind::AmbiguousMatch { .. }, _) => {
            return Err(wrong(
                "an ambiguous match",
                "choose --link <candidate>, --create-new or --dismiss",
            ));
        }
        (ConflictKind::DeletesHeld { .. }, _) => {
            return Err(wrong("held deletes", "choose --release or --keep"));
        }
        (ConflictKind::Manual | ConflictKind::Unmapped { .. }, _) => {
            return Err(wrong(
                "a held field",
                "settle it with `contact-sync conflicts resolve`",
            ));
        }
        (ConflictKind::Deleted { .. }, _)
        | (ConflictKind::Rejected { .. }, _)
        | (ConflictKind::MergeCollision { .. }, _) => {
            return Err(wrong("about one record", "only --dismiss applies"));
        }
        (ConflictKind::Resolved { .. } | ConflictKind::Chosen | ConflictKind::Erased { .. }, _) => {
            return Err(wrong("an audit entry", "nothing to decide"));
        }
    };
    // Held deletes: the decision waits, open, for the next run to apply it.
    let pending = matches!(decision, ReviewDecision::Release | ReviewDecision::Keep);
    let audit = ConflictRecord {
        id: format!("{item_id}#{}", decision.name()),
        integration: integration.to_string(),
        run_id: "review".into(),
        pair_id: pair_id.clone().or(item.pair_id.clone()),
        policy: decision.name().into(),
        kind: match &decision {
            ReviewDecision::Link(chosen) => ConflictKind::AmbiguousMatch {
                candidates: vec![chosen.clone()],
            },
            _ => item.kind.clone(),
        },
        status: if pending {
            ConflictStatus::Open
        } else {
            ConflictStatus::Closed
        },
        base_value: None,
        salesforce_value: None,
        genesys_value: None,
        at: now,
        ..item.clone()
    };
    store
        .record_conflict(&audit)
        .await
        .map_err(PipelineError::from)?;
    store
        .close_conflict(item_id)
        .await
        .map_err(PipelineError::from)?;
    tracing::info!(item_id, decision = decision.name(), pair_id = ?pair_id, "review item decided");
    Ok(Decided {
        audit_id: audit.id,
        pair_id,
    })
}

const MATCH_OF_PAIRS: &str = "a conflict between stored pairs";

async fn open_item(store: &dyn SyncStore, id: &str) -> Result<ConflictRecord, ReviewError> {
    let item = store
        .conflict(id)
        .await
        .map_err(PipelineError::from)?
        .ok_or_else(|| ReviewError::NotFound(id.to_string()))?;
    if item.status != ConflictStatus::Open {
        return Err(ReviewError::Closed(id.to_string()));
    }
    Ok(item)
}

/// The one record an ambiguous-match item of the poll is about (no pair, one side's id).
fn lone_record(item: &ConflictRecord) -> Option<(Side, String)> {
    match (&item.pair_id, &item.sf_id, &item.gz_id) {
        (None, Some(sf), None) => Some((Side::Salesforce, sf.clone())),
        (None, None, Some(gz)) => Some((Side::Genesys, gz.clone())),
        _ => None,
    }
}

fn new_pair(sf_id: Option<String>, gz_id: Option<String>) -> Pair {
    // Pending: the next poll retries it, and its first reconcile links or creates.
    Pair::new(format!("p-{}", uuid::Uuid::new_v4()), sf_id, gz_id)
}

/// Stores a new pair (its links reserve the records), refusing records already paired.
async fn reserve(store: &dyn SyncStore, item_id: &str, pair: Pair) -> Result<String, ReviewError> {
    match store
        .create_pair(&pair)
        .await
        .map_err(PipelineError::from)?
    {
        SaveOutcome::Saved => Ok(pair.pair_id),
        SaveOutcome::LinkTaken {
            side,
            record_id,
            pair_id,
        } => Err(ReviewError::AlreadyPaired {
            id: item_id.to_string(),
            side,
            record: record_id,
            pair_id,
        }),
        other => Err(PipelineError::Invariant(format!("new pair: {other:?}")).into()),
    }
}

/// Delete decisions (release / keep) waiting for the next completed run of `integration`.
pub async fn pending_delete_decisions(
    store: &dyn SyncStore,
    integration: &str,
) -> Result<Vec<ConflictRecord>, PipelineError> {
    Ok(store
        .conflicts(integration, true)
        .await?
        .into_iter()
        .filter(is_delete_decision)
        .collect())
}

/// True for a release / keep decision record (as opposed to the held deletes it settles).
pub fn is_delete_decision(item: &ConflictRecord) -> bool {
    matches!(item.kind, ConflictKind::DeletesHeld { .. })
        && (item.policy == "release" || item.policy == "keep")
}

/// The mapping a run uses while `decisions` are pending: no delete circuit breaker, and with
/// a `keep` decision, `unlink` instead of `propagate`.
pub fn lift_for(mapping: &Mapping, decisions: &[ConflictRecord]) -> Option<Mapping> {
    if decisions.is_empty() {
        return None;
    }
    let mut lifted = mapping.clone();
    lifted.delete_breaker = DeleteBreaker {
        max_count: usize::MAX,
        max_share: f64::INFINITY,
        min_population: usize::MAX,
    };
    if decisions.iter().any(|d| d.policy == "keep")
        && lifted.delete_policy == DeletePolicy::Propagate
    {
        lifted.delete_policy = DeletePolicy::Unlink;
    }
    Some(lifted)
}

/// Closes delete decisions once a run has applied them (the records stay as the audit).
pub async fn settle_delete_decisions(
    store: &dyn SyncStore,
    decisions: &[ConflictRecord],
) -> Result<(), PipelineError> {
    for d in decisions {
        store.close_conflict(&d.id).await?;
        tracing::info!(decision = %d.id, "delete decision applied");
    }
    Ok(())
}

/// The delete decisions a scheduled poll applies, where a run is a poll plus the reconciles of
/// its batches in other invocations (the Lambdas): decisions made before `previous_poll_start`
/// (when the last invocation of the previous, finished poll started) were applied by that poll
/// and its batches, so they are closed here; the others are returned, for this poll to apply.
/// `previous_poll_start`: `None` when this invocation continues a poll, or none ran before.
pub async fn decisions_for_poll(
    store: &dyn SyncStore,
    integration: &str,
    previous_poll_start: Option<DateTime<Utc>>,
) -> Result<Vec<ConflictRecord>, PipelineError> {
    let (applied, waiting): (Vec<_>, Vec<_>) = pending_delete_decisions(store, integration)
        .await?
        .into_iter()
        .partition(|d| previous_poll_start.is_some_and(|start| d.at < start));
    settle_delete_decisions(store, &applied).await?;
    Ok(waiting)
}

/// The integration with the delete decisions still pending applied to its mapping (see
/// [`lift_for`]): what a reconcile of a scheduled run works with, like the poll that sent it.
pub async fn with_pending_decisions(
    mut integration: crate::Integration,
) -> Result<crate::Integration, PipelineError> {
    let decisions = pending_delete_decisions(&*integration.store, &integration.name).await?;
    if let Some(mapping) = lift_for(&integration.mapping, &decisions) {
        tracing::info!(
            decisions = decisions.len(),
            "delete decisions apply: the delete breaker is lifted"
        );
        integration.mapping = std::sync::Arc::new(mapping);
    }
    Ok(integration)
}
