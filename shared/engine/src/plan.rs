//! The plan for one pair: the writes to make on each side, the base to store afterwards, and
//! the reason for every field. Deterministic: the same inputs always give the same plan.

use crate::contact::{CanonicalContact, SideRecord};
use crate::mapping::{GenesysLink, Mapping};
use crate::merge::{FieldDecision, MergeClock, Reason, merge_pair};
use crate::side::Side;
use serde::Serialize;
use serde_json::Value;

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
}

/// What happens to the pair as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "action")]
pub enum PairAction {
    /// Nothing to write.
    Unchanged,
    /// Both records exist; one or both are updated.
    Update,
    /// Only one record exists and nothing was ever linked on the other side: create it there.
    Create { on: Side },
    /// A linked record is gone: unlink the pair (delete policy `unlink`) and never re-create it.
    Unlink { missing: Side },
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
    match (input.salesforce, input.genesys) {
        (Some(sf), Some(gz)) => plan_update(ctx, input.base, sf, gz),
        (Some(_), None) if input.gz_id.is_some() => PairPlan::without_writes(
            PairAction::Unlink {
                missing: Side::Genesys,
            },
            input.base,
        ),
        (None, Some(_)) if input.sf_id.is_some() => PairPlan::without_writes(
            PairAction::Unlink {
                missing: Side::Salesforce,
            },
            input.base,
        ),
        (Some(sf), None) => plan_create(ctx, sf),
        (None, Some(gz)) => plan_create(ctx, gz),
        (None, None) => PairPlan::without_writes(
            PairAction::Unlink {
                missing: if input.sf_id.is_some() {
                    Side::Salesforce
                } else {
                    Side::Genesys
                },
            },
            input.base,
        ),
    }
}

fn plan_update(
    ctx: &PlanContext<'_>,
    base: Option<&CanonicalContact>,
    sf: &SideRecord,
    gz: &SideRecord,
) -> PairPlan {
    let merge = merge_pair(ctx.mapping, base, sf, gz, &ctx.clock);
    let sf_changes = merge.changes_for(Side::Salesforce);
    let gz_changes = merge.changes_for(Side::Genesys);
    let salesforce = (!sf_changes.is_empty()).then(|| SideWrite::Update {
        id: sf.id.clone(),
        body: ctx.mapping.salesforce_update_body(&sf.id, &sf_changes),
        fields: sf_changes.iter().map(|(f, _)| f.clone()).collect(),
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
            fields: gz_changes.iter().map(|(f, _)| f.clone()).collect(),
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
    let mut values = CanonicalContact::new();
    let mut decisions = Vec::new();
    for spec in ctx.mapping.fields.iter() {
        if !spec.direction.allows(from) {
            continue;
        }
        if let Some(v) = source.fields.get(&spec.name) {
            values.set(spec.name.clone(), Some(v.to_string()));
            decisions.push(FieldDecision {
                field: spec.name.clone(),
                reason: Reason::FilledFrom { side: from },
                write: Some((from.other(), Some(v.to_string()))),
                new_base: Some(v.to_string()),
            });
        }
    }
    let write = match from {
        // The link flows Salesforce → Genesys, so a Salesforce record is always mirrored.
        Side::Salesforce => Some(SideWrite::Create {
            body: ctx.mapping.genesys_create_body(
                &values,
                &GenesysLink::new(ctx.link_source_id, &source.id, ctx.instance_url),
            ),
        }),
        // A Genesys record reaches Salesforce only through fields that flow that way.
        Side::Genesys if !values.is_empty() => Some(SideWrite::Create {
            body: ctx.mapping.salesforce_create_body(&values),
        }),
        Side::Genesys => None,
    };
    let Some(write) = write else {
        return PairPlan::without_writes(PairAction::Skip, None);
    };
    let (salesforce, genesys) = match from {
        Side::Salesforce => (None, Some(write)),
        Side::Genesys => (Some(write), None),
    };
    PairPlan {
        action: PairAction::Create { on: from.other() },
        salesforce,
        genesys,
        new_base: values,
        decisions,
    }
}
