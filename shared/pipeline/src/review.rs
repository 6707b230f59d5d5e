//! The review use case: a person settles a held field (a `manual` conflict or a value with no
//! entry in its value map) by choosing a side or a value. The choice is stored on the pair,
//! the review item is closed, and the next run applies it (and audits it as `chosen`).

use crate::integration::PipelineError;
use crate::store::{ConflictKind, ConflictStatus, PairStatus, SaveOutcome, SyncStore};
use contact_sync_engine::Side;
use contact_sync_engine::mapping::Mapping;
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
        "review item `{id}` is {what}: only held fields (manual conflicts, unmapped values) take a chosen side or value"
    )]
    NotAFieldConflict { id: String, what: &'static str },
    #[error("review item `{id}`: {problem}")]
    BadValue { id: String, problem: String },
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
    if item.status != ConflictStatus::Open {
        return Err(ReviewError::Closed(conflict_id.to_string()));
    }
    let what = match item.kind {
        ConflictKind::Manual | ConflictKind::Unmapped { .. } => None,
        ConflictKind::AmbiguousMatch { .. } => Some("an ambiguous match"),
        ConflictKind::Deleted { .. } => Some("a deleted record"),
        ConflictKind::Rejected { .. } => Some("a record a system refused"),
        ConflictKind::MergeCollision { .. } => Some("a merge collision"),
        ConflictKind::DeletesHeld { .. } => Some("held deletes"),
        ConflictKind::Resolved { .. } | ConflictKind::Chosen => Some("an audit entry"),
    };
    let (Some(pair_id), None) = (&item.pair_id, what) else {
        return Err(ReviewError::NotAFieldConflict {
            id: conflict_id.to_string(),
            what: what.unwrap_or("not tied to a pair"),
        });
    };
    let choice = match decision {
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
                store
                    .close_conflict(conflict_id)
                    .await
                    .map_err(PipelineError::from)?;
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
