//! Explanations: every policy that could apply, in order, and why each one before the
//! decider did not decide. Off the hot path: it allocates freely.

use serde::Serialize;

use rustc_hash::FxHashMap;

use super::{locate, Place, Scratch};
use crate::compiled::{CompiledPolicy, Partition, Slot, Tables};
use crate::index::{EventView, Match, PathField};
use crate::model::{Action, DecisionRecord, Event};
use crate::path::PatternScratch;
use crate::snapshot::Snapshot;

/// A decision with the reasons behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Explanation {
    /// The decision, exactly as [`Snapshot::decide`] gives it.
    #[serde(flatten)]
    pub decision: DecisionRecord,
    /// The normalized path the rules were matched against, when it could be normalized.
    pub normalized_path: Option<String>,
    /// Every policy scoped to the computer, its group, its organization, or global in
    /// the organization or an ancestor, in the order they are considered.
    pub policies: Vec<PolicyTrace>,
}

/// What one policy did for the event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct PolicyTrace {
    /// The policy's id.
    pub policy: String,
    /// The owning organization's id.
    pub organization: String,
    /// The scope, e.g. `group clinic-ws`.
    pub scope: String,
    /// Its position.
    pub position: i64,
    /// `permit` or `deny`.
    pub action: Action,
    /// Whether it elevates.
    pub elevate: bool,
    /// What happened to it.
    pub status: TraceStatus,
    /// Why it did not decide (for `skipped` and `no_match`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
}

/// What happened to a policy while deciding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TraceStatus {
    /// It decided.
    Decided,
    /// It applies, but none of its applications matched.
    NoMatch,
    /// It does not apply: disabled, outside its validity window, or another user.
    Skipped,
    /// It comes after the deciding policy.
    NotReached,
}

impl Snapshot {
    /// Decides an execution and explains the decision.
    pub fn explain(&self, event: &Event) -> Explanation {
        let decision = self.decide_with(event, &mut Scratch::default()).to_record();
        let tables: &Tables = &self.tables;
        let Some(place) = locate(tables, &event.computer) else {
            return Explanation {
                decision,
                normalized_path: None,
                policies: Vec::new(),
            };
        };
        let family = place.computer.family;
        let mut buffers: [String; 3] = Default::default();
        let [path, parent, created_by] = &mut buffers;
        let mut view = EventView::new(family, event, [path, parent, created_by]);

        let visible = visible_applications(tables, &place);
        let mut ordered = applicable_in_order(tables, &place);
        let mut policies = Vec::with_capacity(ordered.len());
        let mut decided = false;
        for (policy, org, _) in ordered.drain(..) {
            let (status, reasons) = if decided {
                (TraceStatus::NotReached, Vec::new())
            } else if decision.policy.as_deref() == Some(&*policy.id) {
                decided = true;
                (TraceStatus::Decided, Vec::new())
            } else if let Err(why) = policy.applicability(event.time, &event.user) {
                (TraceStatus::Skipped, vec![why.describe().to_owned()])
            } else {
                (
                    TraceStatus::NoMatch,
                    why_no_match(&visible, policy, &mut view),
                )
            };
            policies.push(PolicyTrace {
                policy: policy.id.to_string(),
                organization: org.to_owned(),
                scope: scope_text(policy, &place, org),
                position: policy.position,
                action: policy.action,
                elevate: policy.elevate,
                status,
                reasons,
            });
        }
        Explanation {
            decision,
            normalized_path: view
                .field(PathField::Path)
                .and_then(Result::ok)
                .map(str::to_owned),
            policies,
        }
    }
}

/// Every policy scoped to the computer's place, sorted as decisions consider them.
fn applicable_in_order<'s>(
    tables: &'s Tables,
    place: &Place<'s>,
) -> Vec<(&'s CompiledPolicy, &'s str, usize)> {
    let mut out = Vec::new();
    for (depth, &org) in place.chain.iter().enumerate() {
        let Some(partition) = tables.orgs.get(org as usize).map(|n| &n.partition) else {
            continue;
        };
        let org_id = partition.source.organization.id.as_str();
        for policy in partition.policies.iter() {
            let scoped = match policy.slot {
                Slot::Global => true,
                Slot::Organization => depth == 0,
                Slot::Group(g) => depth == 0 && g == place.computer.group,
                Slot::Computer(c) => depth == 0 && c == place.computer.local,
            };
            if scoped {
                out.push((policy, org_id, depth));
            }
        }
    }
    out.sort_by_key(|(policy, _, depth)| (policy.position, std::cmp::Reverse(*depth)));
    out
}

fn scope_text(policy: &CompiledPolicy, place: &Place<'_>, org: &str) -> String {
    let source = &place.node.partition.source;
    match policy.slot {
        Slot::Global => format!("global {org}"),
        Slot::Organization => format!("organization {org}"),
        Slot::Group(g) => format!(
            "group {}",
            source.groups.get(g as usize).map_or("", |g| g.id.as_str())
        ),
        Slot::Computer(c) => format!(
            "computer {}",
            source
                .computers
                .get(c as usize)
                .map_or("", |c| c.id.as_str())
        ),
    }
}

/// Where each application visible from the computer's organization is compiled:
/// built once per explanation, so that explaining stays linear in the policies.
type Visible<'s> = FxHashMap<u32, (&'s Partition, u32)>;

fn visible_applications<'s>(tables: &'s Tables, place: &Place<'s>) -> Visible<'s> {
    let mut visible = FxHashMap::default();
    for &org in place.chain.iter() {
        if let Some(node) = tables.orgs.get(org as usize) {
            for (local, &key) in node.partition.app_keys.iter().enumerate() {
                visible.insert(key, (&*node.partition, local as u32));
            }
        }
    }
    visible
}

/// For each targeted application, why none of its rules matched.
fn why_no_match(
    visible: &Visible<'_>,
    policy: &CompiledPolicy,
    view: &mut EventView<'_>,
) -> Vec<String> {
    let mut reasons = Vec::new();
    let mut scratch = PatternScratch::default();
    for (key, app_id) in policy.targets.iter() {
        let Some(&(partition, local)) = visible.get(key) else {
            reasons.push(format!("application `{app_id}` is not visible here"));
            continue;
        };
        for rule in partition.index.rules_of(local) {
            rule.as_compiled(local, |rule| {
                let rule_no = rule.rule_no;
                match rule.check(view, &mut scratch) {
                    Match::Unknown if policy.action == Action::Permit => reasons.push(format!(
                        "application `{app_id}` rule {rule_no}: it depends on a path that cannot be normalized, which never permits"
                    )),
                    Match::Yes | Match::Unknown => {
                        reasons.push(format!("application `{app_id}` rule {rule_no} matches"))
                    }
                    Match::No => {
                        for reason in rule.reasons(view) {
                            reasons.push(format!("application `{app_id}` rule {rule_no}: {reason}"));
                        }
                    }
                }
            });
        }
    }
    reasons
}
