//! The plan for one pair: the writes to make on each side, the base to store afterwards, and
//! the reason for every field. Deterministic: the same inputs always give the same plan.

use crate::contact::{CanonicalContact, SideRecord};
use crate::mapping::{DeletePolicy, GenesysLink, Mapping};
use crate::merge::{FieldDecision, MergeClock, Reason, Resolutions, derive, merge_pair};
use crate::side::Side;
use serde::Serialize;
use serde_json::Value;
use std::fmt;
use std::sync::Arc;

/// What the pipeline knows about a pair before planning.
#[derive(Debug, Clone, Copy)]
pub struct PairInput<'a> {
    /// The base snapshot (`None` before the first successful sync).
    pub base: Option<&'a CanonicalContact>,
    /// The Salesforce Id the pair is linked to, if any.
    pub sf_id: Option<&'a str>,
    /// The Genesys id the pair is linked to, if any.
    pub gz_id: Option<&'a str>,
    /// The records as just read; `None` when the side has no record (never had, or deleted).
    pub salesforce: Option<&'a SideRecord>,
    pub genesys: Option<&'a SideRecord>,
    /// When the linked Salesforce record is gone because it was merged: the surviving record
    /// (`MasterRecordId`). Genesys merges arrive as a record with `merged_into` set.
    pub salesforce_merged_into: Option<SalesforceMerge<'a>>,
    /// Choices a person made for held fields, applied by this plan.
    pub resolutions: Option<&'a Resolutions>,
}

/// The Salesforce merge that took the pair's record away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SalesforceMerge<'a> {
    /// The surviving record (`MasterRecordId`).
    pub survivor: &'a str,
    /// The survivor already has a pair (its own twin): the pair cannot follow it, and the
    /// merged record's twin is handled as if the record were deleted (never a second twin).
    pub survivor_paired: bool,
}

/// Facts from the systems the plan needs to build link bodies.
#[derive(Debug, Clone, Copy)]
pub struct PlanContext<'a> {
    pub mapping: &'a Mapping,
    pub clock: MergeClock,
    /// Id of the Genesys external source that carries Salesforce Ids.
    pub link_source_id: &'a str,
    /// Salesforce instance URL, for `externalSystemUrl`.
    pub instance_url: Option<&'a str>,
}

/// A write to one side.
#[derive(Debug, Clone, PartialEq)]
pub enum SideWrite {
    Create {
        body: Value,
    },
    Update {
        id: String,
        body: Value,
        /// Canonical fields changed (for the summary and the audit); empty when only the
        /// link is written.
        fields: Vec<String>,
    },
    /// Delete the record (delete policy `propagate`).
    Delete {
        id: String,
    },
}

impl SideWrite {
    fn op(&self) -> &'static str {
        match self {
            SideWrite::Create { .. } => "create",
            SideWrite::Update { .. } => "update",
            SideWrite::Delete { .. } => "delete",
        }
    }
}

/// What happens to the pair as a whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "action")]
pub enum PairAction {
    /// Nothing to write.
    Unchanged,
    /// Both records exist; one or both are updated.
    Update,
    /// Only one record exists and nothing was ever linked on the other side: create it there.
    Create { on: Side },
    /// A linked record is gone: unlink the pair, keep the other record, notify (delete
    /// policy `unlink`). The pair stays as a tombstone: the record is never re-created.
    Unlink { missing: Side },
    /// As `Unlink`, without a notification (delete policy `ignore`).
    Forget { missing: Side },
    /// A linked record is gone: delete the other one too (delete policy `propagate`). The pair
    /// stays as a tombstone.
    Delete { missing: Side },
    /// A linked record was merged into `into`: the pair follows the surviving record.
    Repoint { side: Side, into: String },
    /// A one-way mapping leaves this record where it is (nothing may flow to the other side).
    Skip,
}

/// The plan for one pair.
#[derive(Debug, Clone)]
pub struct PairPlan {
    pub action: PairAction,
    pub salesforce: Option<SideWrite>,
    pub genesys: Option<SideWrite>,
    /// The base to store once every write of this plan succeeded.
    pub new_base: CanonicalContact,
    /// One decision per mapped field (empty for creates, unlinks and skips).
    pub decisions: Vec<FieldDecision>,
}

impl PairPlan {
    pub fn write_for(&self, side: Side) -> Option<&SideWrite> {
        match side {
            Side::Salesforce => self.salesforce.as_ref(),
            Side::Genesys => self.genesys.as_ref(),
        }
    }

    pub fn conflicts(&self) -> impl Iterator<Item = &FieldDecision> {
        self.decisions.iter().filter(|d| d.is_conflict())
    }

    /// The field changes this plan's decisions write to one side.
    pub fn changes_for(&self, side: Side) -> Vec<(Arc<str>, Option<String>)> {
        crate::merge::changes_for(&self.decisions, side)
    }

    fn without_writes(action: PairAction, base: Option<&CanonicalContact>) -> PairPlan {
        PairPlan {
            action,
            salesforce: None,
            genesys: None,
            new_base: base.cloned().unwrap_or_default(),
            decisions: Vec::new(),
        }
    }
}

/// Plans one pair.
pub fn plan_pair(ctx: &PlanContext<'_>, input: &PairInput<'_>) -> PairPlan {
    // A Genesys record merged into another: the pair follows the survivor.
    if let Some(into) = input.genesys.and_then(|g| g.merged_into.as_ref()) {
        return PairPlan::without_writes(
            PairAction::Repoint {
                side: Side::Genesys,
                into: into.clone(),
            },
            input.base,
        );
    }
    match (input.salesforce, input.genesys) {
        (Some(sf), Some(gz)) => plan_update(ctx, input, sf, gz),
        (Some(sf), None) if input.gz_id.is_some() => plan_gone(ctx, input, Side::Genesys, Some(sf)),
        (None, Some(gz)) if input.sf_id.is_some() => {
            plan_gone(ctx, input, Side::Salesforce, Some(gz))
        }
        (Some(sf), None) => plan_create(ctx, sf),
        (None, Some(gz)) => plan_create(ctx, gz),
        (None, None) => plan_gone(
            ctx,
            input,
            if input.sf_id.is_some() {
                Side::Salesforce
            } else {
                Side::Genesys
            },
            None,
        ),
    }
}

/// A linked record is gone (`missing` side): follow a merge, or apply the delete policy to
/// the surviving record.
fn plan_gone(
    ctx: &PlanContext<'_>,
    input: &PairInput<'_>,
    missing: Side,
    survivor: Option<&SideRecord>,
) -> PairPlan {
    if missing == Side::Salesforce
        && let Some(merge) = input.salesforce_merged_into
        && Some(merge.survivor) != input.sf_id
        && !merge.survivor_paired
    {
        return PairPlan::without_writes(
            PairAction::Repoint {
                side: Side::Salesforce,
                into: merge.survivor.to_string(),
            },
            input.base,
        );
    }
    let mut policy = ctx.mapping.delete_policy;
    // One-way mode never deletes from Salesforce.
    if policy == DeletePolicy::Propagate && missing == Side::Genesys && ctx.mapping.is_one_way() {
        policy = DeletePolicy::Unlink;
    }
    match (policy, survivor) {
        (DeletePolicy::Propagate, Some(record)) => {
            let delete = Some(SideWrite::Delete {
                id: record.id.clone(),
            });
            let (salesforce, genesys) = match record.side {
                Side::Salesforce => (delete, None),
                Side::Genesys => (None, delete),
            };
            PairPlan {
                action: PairAction::Delete { missing },
                salesforce,
                genesys,
                new_base: input.base.cloned().unwrap_or_default(),
                decisions: Vec::new(),
            }
        }
        (DeletePolicy::Ignore, _) => unlink(ctx, input, PairAction::Forget { missing }, survivor),
        _ => unlink(ctx, input, PairAction::Unlink { missing }, survivor),
    }
}

/// Unlinks a pair whose `missing` record is gone (`action`: `Unlink` or `Forget`): the
/// surviving Genesys contact is written without its link to the gone Salesforce record, so no
/// dangling link stays behind. A surviving Salesforce record carries no link (the link lives
/// in Genesys only): nothing to write there.
fn unlink(
    ctx: &PlanContext<'_>,
    input: &PairInput<'_>,
    action: PairAction,
    survivor: Option<&SideRecord>,
) -> PairPlan {
    let mut plan = PairPlan::without_writes(action, input.base);
    if let (Some(gz), Some(gone)) = (survivor.filter(|r| r.side == Side::Genesys), input.sf_id)
        && let Some(body) = ctx
            .mapping
            .genesys_unlink_body(&gz.raw, ctx.link_source_id, gone)
    {
        plan.genesys = Some(SideWrite::Update {
            id: gz.id.clone(),
            body,
            fields: Vec::new(),
        });
    }
    plan
}

fn plan_update(
    ctx: &PlanContext<'_>,
    input: &PairInput<'_>,
    sf: &SideRecord,
    gz: &SideRecord,
) -> PairPlan {
    let merge = merge_pair(
        ctx.mapping,
        input.base,
        sf,
        gz,
        &ctx.clock,
        input.resolutions,
    );
    let sf_changes = merge.changes_for(Side::Salesforce);
    let gz_changes = merge.changes_for(Side::Genesys);
    let salesforce = (!sf_changes.is_empty()).then(|| SideWrite::Update {
        id: sf.id.clone(),
        body: ctx.mapping.salesforce_update_body(&sf.id, &sf_changes),
        fields: sf_changes.iter().map(|(f, _)| f.to_string()).collect(),
    });
    let link_missing = gz.link.as_deref() != Some(sf.id.as_str());
    let genesys = (!gz_changes.is_empty() || link_missing).then(|| {
        let link =
            link_missing.then(|| GenesysLink::new(ctx.link_source_id, &sf.id, ctx.instance_url));
        SideWrite::Update {
            id: gz.id.clone(),
            body: ctx
                .mapping
                .genesys_update_body(&gz.raw, &gz_changes, link.as_ref()),
            fields: gz_changes.iter().map(|(f, _)| f.to_string()).collect(),
        }
    });
    let action = if salesforce.is_some() || genesys.is_some() {
        PairAction::Update
    } else {
        PairAction::Unchanged
    };
    PairPlan {
        action,
        salesforce,
        genesys,
        new_base: merge.new_base,
        decisions: merge.decisions,
    }
}

fn plan_create(ctx: &PlanContext<'_>, source: &SideRecord) -> PairPlan {
    let from = source.side;
    let to = from.other();
    let mut values = CanonicalContact::with_capacity(ctx.mapping.fields.len());
    let mut decisions = Vec::new();
    for spec in ctx.mapping.fields.iter() {
        if spec.derive.is_some() {
            continue;
        }
        if !spec.direction.allows(from) || source.unmapped.iter().any(|u| **u == *spec.name) {
            continue;
        }
        if let Some(v) = source.fields.get(&spec.name) {
            values.add_new(spec.name.clone(), Some(v.to_string()));
            decisions.push(FieldDecision {
                field: spec.name.clone(),
                reason: Reason::FilledFrom { side: from },
                write: Some((to, Some(v.to_string()))),
                also: None,
                new_base: Some(v.to_string()),
            });
        }
    }
    // A Genesys record reaches Salesforce only through fields that flow that way; the link
    // flows Salesforce → Genesys, so a Salesforce record is always mirrored.
    if from == Side::Genesys && values.is_empty() {
        return PairPlan::without_writes(PairAction::Skip, None);
    }
    // Derived fields: into the new record with its body; into the source record as an update.
    let mut source_changes = Vec::new();
    for spec in ctx.mapping.fields.iter() {
        let Some(into) = spec.derived_into() else {
            continue;
        };
        let current = (into == from)
            .then(|| source.fields.get(&spec.name))
            .flatten();
        let decision = derive(spec, &values, current);
        if let Some((side, v)) = &decision.write
            && *side == from
        {
            source_changes.push((spec.name.clone(), v.clone()));
        }
        values.add_new(spec.name.clone(), decision.new_base.clone());
        decisions.push(decision);
    }
    let create = Some(SideWrite::Create {
        body: match to {
            Side::Genesys => ctx.mapping.genesys_create_body(
                &values,
                &GenesysLink::new(ctx.link_source_id, &source.id, ctx.instance_url),
            ),
            Side::Salesforce => ctx.mapping.salesforce_create_body(&values),
        },
    });
    let source_update = (!source_changes.is_empty()).then(|| SideWrite::Update {
        id: source.id.clone(),
        body: match from {
            Side::Salesforce => ctx
                .mapping
                .salesforce_update_body(&source.id, &source_changes),
            Side::Genesys => ctx
                .mapping
                .genesys_update_body(&source.raw, &source_changes, None),
        },
        fields: source_changes.iter().map(|(f, _)| f.to_string()).collect(),
    });
    let (salesforce, genesys) = match from {
        Side::Salesforce => (source_update, create),
        Side::Genesys => (create, source_update),
    };
    PairPlan {
        action: PairAction::Create { on: to },
        salesforce,
        genesys,
        new_base: values,
        decisions,
    }
}

/// Why the engine planned what it did, for `--dry-run` and the audit log. Carries field names
/// and reasons, never values.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanExplanation {
    #[serde(flatten)]
    pub action: PairAction,
    /// `create` / `update` / `delete` per side, when the plan writes there.
    pub salesforce: Option<&'static str>,
    pub genesys: Option<&'static str>,
    pub fields: Vec<FieldExplanation>,
}

/// One field of a [`PlanExplanation`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldExplanation {
    pub field: String,
    #[serde(flatten)]
    pub reason: Reason,
    /// The sides written for this field.
    pub writes: Vec<Side>,
}

impl PairPlan {
    /// The plan's explanation: the action, what each side gets, and every field's reason.
    pub fn explain(&self) -> PlanExplanation {
        PlanExplanation {
            action: self.action.clone(),
            salesforce: self.salesforce.as_ref().map(SideWrite::op),
            genesys: self.genesys.as_ref().map(SideWrite::op),
            fields: self
                .decisions
                .iter()
                .map(|d| FieldExplanation {
                    field: d.field.to_string(),
                    reason: d.reason.clone(),
                    writes: d.writes().map(|(side, _)| *side).collect(),
                })
                .collect(),
        }
    }
}

impl fmt::Display for PairAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PairAction::Unchanged => write!(f, "unchanged"),
            PairAction::Update => write!(f, "update"),
            PairAction::Create { on } => write!(f, "create on {on}"),
            PairAction::Unlink { missing } => write!(f, "unlink (deleted on {missing})"),
            PairAction::Forget { missing } => {
                write!(f, "unlink silently (deleted on {missing}, policy ignore)")
            }
            PairAction::Delete { missing } => {
                write!(f, "delete on {} (deleted on {missing})", missing.other())
            }
            PairAction::Repoint { side, into } => {
                write!(f, "follow the {side} merge into {into}")
            }
            PairAction::Skip => write!(f, "skip (nothing may flow to the other side)"),
        }
    }
}

impl fmt::Display for PlanExplanation {
    /// One line for the pair, then one indented line per field that is not unchanged.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.action)?;
        for (side, op) in [
            (Side::Salesforce, self.salesforce),
            (Side::Genesys, self.genesys),
        ] {
            if let Some(op) = op {
                write!(f, "; {op} {side}")?;
            }
        }
        for field in self.fields.iter().filter(|d| d.reason != Reason::Unchanged) {
            write!(f, "\n  {}: {}", field.field, field.reason)?;
        }
        Ok(())
    }
}
