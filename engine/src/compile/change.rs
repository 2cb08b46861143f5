//! Compiling a [`BundleChange`] beside the current tables: only the organizations it
//! holds are laid out and compiled, with the rest of the tenancy standing in for the
//! entries the change leaves alone.
//!
//! It takes three steps, so that the engine can check the limits in between as it
//! does before a full compile: [`plan_change`] decides whether the change can be
//! compiled on its own, [`ChangePlan::totals`] gives the lengths of the bundle it
//! makes, and [`compile_change`] compiles it.

use std::sync::Arc;

use rustc_hash::FxHashSet;

use super::error::CompileErrors;
use super::layout::{self, Lists, OrgPlan, Rest};
use super::{compile_plans, intern, same_computer_records};
use crate::change::BundleChange;
use crate::compiled::{
    AppKeys, CompileStats, ComputerLoc, ComputerMap, OrgNode, Partition, Tables, TenancyIds,
};

/// A change that can be compiled on its own: it replaces or adds organizations, and
/// each organization it replaces keeps its parent and every one of its applications.
pub(crate) struct ChangePlan<'a> {
    /// The change's entries.
    pub(crate) lists: Lists<'a>,
    /// Tables indices of the organizations the change replaces.
    replaced: FxHashSet<u32>,
}

/// Plans a change beside the `previous` tables, whose ids `ids` holds. `None` when the
/// change removes organizations, moves one in the tree or takes applications away from
/// one: other organizations' entries must be checked again, so the change is deployed
/// as the whole bundle it makes.
pub(crate) fn plan_change<'a>(
    change: &'a BundleChange,
    previous: &Tables,
    ids: &TenancyIds,
) -> Option<ChangePlan<'a>> {
    if !change.removed.is_empty() {
        return None;
    }
    let lists = Lists::of(&change.entries);
    let mut replaced: FxHashSet<u32> = FxHashSet::default();
    let change_apps: FxHashSet<(&str, &str)> = lists
        .applications
        .iter()
        .map(|a| (a.id.as_str(), a.organization.as_str()))
        .collect();
    for org in lists.organizations {
        let Some(&at) = ids.orgs.get(org.id.as_str()) else {
            continue;
        };
        let Some(node) = previous.orgs.get(at as usize) else {
            continue;
        };
        let old = &node.partition.source;
        if old.organization.parent != org.parent
            || old
                .applications
                .iter()
                .any(|a| !change_apps.contains(&(a.id.as_str(), org.id.as_str())))
        {
            return None;
        }
        replaced.insert(at);
    }
    Some(ChangePlan { lists, replaced })
}

impl ChangePlan<'_> {
    /// The lengths of the five lists (organizations, groups, computers, applications,
    /// policies) of the bundle the change makes, for the limits.
    pub(crate) fn totals(&self, previous: &Tables, ids: &TenancyIds) -> [usize; 5] {
        let mut counts = [
            ids.orgs.len(),
            ids.groups.len(),
            previous.computers.len(),
            ids.applications.len(),
            ids.policies.len(),
        ];
        for &at in &self.replaced {
            if let Some(node) = previous.orgs.get(at as usize) {
                let old = &node.partition.source;
                let gone = [
                    1,
                    old.groups.len(),
                    old.computers.len(),
                    old.applications.len(),
                    old.policies.len(),
                ];
                for (count, gone) in counts.iter_mut().zip(gone) {
                    *count = count.saturating_sub(gone);
                }
            }
        }
        let lists = self.lists;
        let added = [
            lists.organizations.len(),
            lists.groups.len(),
            lists.computers.len(),
            lists.applications.len(),
            lists.policies.len(),
        ];
        for (count, added) in counts.iter_mut().zip(added) {
            *count += added;
        }
        counts
    }
}

/// What compiling a change gave.
pub(crate) struct ChangeCompiled {
    /// The new tables.
    pub(crate) tables: Tables,
    pub(crate) stats: CompileStats,
    /// The tables indices of the organizations compiled.
    pub(crate) changed: Vec<u32>,
}

/// Compiles a planned change beside the `previous` tables (compiled with
/// `previous_stats`): only the organizations it holds are laid out and compiled; `ids`
/// stands in for the rest of the tenancy.
pub(crate) fn compile_change(
    plan: &ChangePlan<'_>,
    keys: &mut AppKeys,
    previous: &Tables,
    previous_stats: CompileStats,
    ids: &TenancyIds,
) -> Result<ChangeCompiled, CompileErrors> {
    let compiled = compile_organizations(plan, keys, previous, ids)?;
    let spliced = splice(previous, previous_stats, &compiled);
    let computers = if spliced.computers_moved {
        Arc::new(move_computers(previous, &spliced.changed, &compiled))
    } else {
        Arc::clone(&previous.computers)
    };
    let mut stats = spliced.stats;
    stats.recompiled = spliced.changed.len();
    stats.reused = spliced.orgs.len() - spliced.changed.len();
    Ok(ChangeCompiled {
        tables: Tables {
            orgs: spliced.orgs.into_boxed_slice(),
            computers,
        },
        stats,
        changed: spliced.changed,
    })
}

/// Lays out and compiles the change's organizations beside the rest of the tenancy;
/// each with its plan, in tables order.
fn compile_organizations(
    plan: &ChangePlan<'_>,
    keys: &mut AppKeys,
    previous: &Tables,
    ids: &TenancyIds,
) -> Result<Vec<(OrgPlan, Arc<Partition>)>, CompileErrors> {
    let lists = plan.lists;
    let mut errors = Vec::new();
    let rest = Rest {
        tables: previous,
        ids,
        replaced: &plan.replaced,
    };
    let mut layout = layout::build(lists, Some(&rest), &mut errors);
    intern(lists, &layout.orgs, keys);
    let results = compile_plans(lists, &layout.orgs, keys, |_| None);
    let mut compiled = Vec::with_capacity(results.len());
    for ((result, _), plan) in results.into_iter().zip(layout.orgs.drain(..)) {
        match result {
            Ok(partition) => compiled.push((plan, partition)),
            Err(mut more) => errors.append(&mut more),
        }
    }
    if !errors.is_empty() {
        return Err(CompileErrors::new(errors));
    }
    compiled.sort_by_key(|(plan, _)| plan.at);
    Ok(compiled)
}

/// The previous organizations with the compiled ones put in.
struct Spliced {
    orgs: Vec<OrgNode>,
    /// The previous stats with the rules and policies of the replaced organizations
    /// swapped for the new ones'.
    stats: CompileStats,
    /// The tables indices of the organizations put in.
    changed: Vec<u32>,
    /// Whether a computer was added, removed or moved, or its record in the computer
    /// map changed (group, path family, maintenance mode).
    computers_moved: bool,
}

/// Copies the previous organization list (an `Arc` and a chain each) and puts the
/// compiled organizations in: in place of the ones they replace, new ones at the end.
fn splice(
    previous: &Tables,
    previous_stats: CompileStats,
    compiled: &[(OrgPlan, Arc<Partition>)],
) -> Spliced {
    let mut stats = previous_stats;
    let mut orgs: Vec<OrgNode> = previous
        .orgs
        .iter()
        .map(|node| OrgNode {
            partition: Arc::clone(&node.partition),
            chain: node.chain.clone(),
        })
        .collect();
    let mut computers_moved = false;
    let mut changed = Vec::with_capacity(compiled.len());
    for (plan, partition) in compiled {
        let node = OrgNode {
            partition: Arc::clone(partition),
            chain: plan.chain.clone().into(),
        };
        stats.rules += partition.index.len();
        stats.policies += partition.policies.len();
        match orgs.get_mut(plan.at as usize) {
            Some(slot) => {
                let old = &slot.partition;
                stats.rules = stats.rules.saturating_sub(old.index.len());
                stats.policies = stats.policies.saturating_sub(old.policies.len());
                computers_moved |= !same_computer_records(old, partition);
                *slot = node;
            }
            None => {
                computers_moved |= !partition.source.computers.is_empty();
                orgs.push(node);
            }
        }
        changed.push(plan.at);
    }
    Spliced {
        orgs,
        stats,
        changed,
        computers_moved,
    }
}

/// The previous computer map with the computers of the `changed` organizations taken
/// out and those of the compiled ones put in.
fn move_computers(
    previous: &Tables,
    changed: &[u32],
    compiled: &[(OrgPlan, Arc<Partition>)],
) -> ComputerMap {
    let mut map = ComputerMap::clone(&previous.computers);
    for &at in changed {
        if let Some(old) = previous.orgs.get(at as usize) {
            for computer in &old.partition.source.computers {
                if map
                    .get(computer.id.as_bytes())
                    .is_some_and(|loc| loc.org == at)
                {
                    map.remove(computer.id.as_bytes());
                }
            }
        }
    }
    for (plan, partition) in compiled {
        for (c, computer) in (0u32..).zip(&partition.source.computers) {
            if let Some(loc) = ComputerLoc::of(partition, plan.at, c) {
                map.insert(computer.id.as_str().into(), loc);
            }
        }
    }
    map
}
