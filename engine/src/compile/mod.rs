//! Bundle → snapshot. Every validation error is raised here, so that a compiled
//! snapshot answers every event without failing.

mod error;
mod layout;
mod partition;
mod shapes;
pub(crate) mod span;

use std::sync::Arc;

use rayon::prelude::*;
use rustc_hash::{FxHashMap, FxHashSet};

pub use error::{CompileError, CompileErrors, EntryKind, ErrorKind, LOCATED_ERRORS};
pub(crate) use layout::Lists;

use crate::change::BundleChange;
use crate::compiled::{
    AppKeys, CompileStats, ComputerLoc, ComputerMap, OrgNode, OrgSource, Partition, Tables,
    TenancyIds,
};
use crate::model::{strip_position, Bundle};
use layout::{OrgPlan, Rest};

/// Reads a bundle from JSON text. Errors name the place (`policies[2].scope`) and give
/// line and column.
pub fn parse(text: &str) -> Result<Bundle, CompileErrors> {
    // Editors on Windows may start a file with a byte-order mark; it is not JSON.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut de = serde_json::Deserializer::from_str(text);
    let parsed: Result<Bundle, _> = serde_path_to_error::deserialize(&mut de);
    let error = match parsed {
        Ok(bundle) => match de.end() {
            Ok(()) => return Ok(bundle),
            Err(error) => (String::new(), error),
        },
        Err(error) => {
            let path = error.path().to_string();
            (
                if path == "." { String::new() } else { path },
                error.into_inner(),
            )
        }
    };
    let (path, inner) = error;
    let mut first = CompileError::new(
        ErrorKind::Syntax,
        EntryKind::Bundle,
        None,
        path,
        strip_position(&inner),
    );
    if inner.line() > 0 {
        first.location = Some((inner.line(), inner.column()));
    }
    if inner.is_data() {
        // A value of the wrong shape: report every entry that has one, not only the
        // first (the strict parse stops there).
        let mut all = shapes::entry_errors(text);
        if !all.is_empty() {
            if !all.iter().any(|e| e.path == first.path) {
                all.insert(0, first);
            }
            return Err(CompileErrors::new(all));
        }
    }
    Err(CompileErrors::one(first))
}

/// A compiled partition, or the errors of its organization's entries.
type PartitionResult = Result<Arc<Partition>, Vec<CompileError>>;

/// Compiles the plans that need it, in parallel: each with its source cloned out of the
/// bundle, or its previous partition when `reuse` gives one.
fn compile_plans(
    lists: Lists<'_>,
    plans: &[OrgPlan],
    keys: &AppKeys,
    reuse: impl Fn(&OrgPlan) -> Option<Arc<Partition>> + Sync,
) -> Vec<(PartitionResult, bool)> {
    let compile_one = |plan: &OrgPlan| match reuse(plan) {
        Some(partition) => (Ok(partition), true),
        None => (
            partition::compile(plan.source(lists), &plan.indices, keys).map(Arc::new),
            false,
        ),
    };
    if plans.len() == 1 {
        return plans.iter().map(compile_one).collect();
    }
    plans.par_iter().map(compile_one).collect()
}

/// Compiles a bundle into snapshot tables, reusing the partitions of `previous` for
/// organizations whose entries did not change. Only organizations compiled anew have
/// their entries cloned.
pub(crate) fn compile(
    bundle: &Bundle,
    keys: &mut AppKeys,
    previous: Option<&Tables>,
) -> Result<(Tables, CompileStats), CompileErrors> {
    let lists = Lists::of(bundle);
    let mut errors = Vec::new();
    let layout = layout::build(lists, None, &mut errors);
    intern(lists, &layout.orgs, keys);
    let old: FxHashMap<&str, &Arc<Partition>> = previous
        .map(|tables| {
            tables
                .orgs
                .iter()
                .map(|node| {
                    (
                        node.partition.source.organization.id.as_str(),
                        &node.partition,
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let results = compile_plans(lists, &layout.orgs, keys, |plan| {
        let id = lists
            .organizations
            .get(plan.indices.organization)?
            .id
            .as_str();
        old.get(id)
            .filter(|partition| plan.same_as(lists, partition))
            .map(|partition| Arc::clone(partition))
    });

    let mut stats = CompileStats::default();
    let mut orgs = Vec::with_capacity(results.len());
    for ((result, reused), plan) in results.into_iter().zip(layout.orgs) {
        match result {
            Ok(partition) => {
                if reused {
                    stats.reused += 1;
                } else {
                    stats.recompiled += 1;
                }
                stats.rules += partition.index.len();
                stats.policies += partition.policies.len();
                orgs.push(OrgNode {
                    partition,
                    chain: plan.chain.into_boxed_slice(),
                });
            }
            Err(mut more) => errors.append(&mut more),
        }
    }
    if !errors.is_empty() {
        return Err(CompileErrors::new(errors));
    }
    let computers = match previous {
        Some(previous) if same_computers(&previous.orgs, &orgs) => Arc::clone(&previous.computers),
        _ => Arc::new(computer_map(&orgs)),
    };
    Ok((
        Tables {
            orgs: orgs.into_boxed_slice(),
            computers,
        },
        stats,
    ))
}

/// Gives every application the plans hold a key.
fn intern(lists: Lists<'_>, plans: &[OrgPlan], keys: &mut AppKeys) {
    for plan in plans {
        for &n in &plan.indices.applications {
            if let Some(app) = lists.applications.get(n) {
                keys.intern(&app.id);
            }
        }
    }
}

/// Whether two lists of organizations place the same computers at the same places.
fn same_computers(old: &[OrgNode], new: &[OrgNode]) -> bool {
    old.len() == new.len()
        && old.iter().zip(new).all(|(a, b)| {
            Arc::ptr_eq(&a.partition, &b.partition)
                || same_computer_ids(&a.partition.source, &b.partition.source)
        })
}

fn same_computer_ids(a: &OrgSource, b: &OrgSource) -> bool {
    a.computers.len() == b.computers.len()
        && a.computers
            .iter()
            .zip(&b.computers)
            .all(|(x, y)| x.id == y.id)
}

fn computer_map(orgs: &[OrgNode]) -> ComputerMap {
    let mut computers = ComputerMap::default();
    computers.reserve(
        orgs.iter()
            .map(|o| o.partition.source.computers.len())
            .sum(),
    );
    for (o, node) in orgs.iter().enumerate() {
        for (c, computer) in node.partition.source.computers.iter().enumerate() {
            computers.insert(
                computer.id.as_str().into(),
                ComputerLoc {
                    org: o as u32,
                    local: c as u32,
                },
            );
        }
    }
    computers
}

/// What compiling a change gave.
pub(crate) enum ChangeCompiled {
    /// The new tables; `changed` lists the tables indices of the organizations compiled.
    Tables {
        tables: Tables,
        stats: CompileStats,
        changed: Vec<u32>,
    },
    /// The change moves organizations in the tree, removes organizations or takes
    /// applications away: other organizations' entries must be checked again, so the
    /// change is deployed as the whole bundle it makes.
    Whole,
}

/// Compiles a change beside the `previous` tables: only the organizations it holds are
/// laid out and compiled; `ids` stands in for the rest of the tenancy.
pub(crate) fn compile_change(
    change: &BundleChange,
    keys: &mut AppKeys,
    previous: &Tables,
    previous_stats: CompileStats,
    ids: &TenancyIds,
    limits: &crate::Limits,
) -> Result<ChangeCompiled, CompileErrors> {
    if !change.removed.is_empty() {
        return Ok(ChangeCompiled::Whole);
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
            return Ok(ChangeCompiled::Whole);
        }
        replaced.insert(at);
    }

    // The limits, on the bundle the change makes.
    let mut counts = [
        ids.orgs.len(),
        ids.groups.len(),
        previous.computers.len(),
        ids.applications.len(),
        ids.policies.len(),
    ];
    for &at in &replaced {
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
    limits.check_lists(lists, counts)?;

    let mut errors = Vec::new();
    let rest = Rest {
        tables: previous,
        ids,
        replaced: &replaced,
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
    for (plan, partition) in &compiled {
        let node = OrgNode {
            partition: Arc::clone(partition),
            chain: plan.chain.clone().into_boxed_slice(),
        };
        stats.rules += partition.index.len();
        stats.policies += partition.policies.len();
        match orgs.get_mut(plan.at as usize) {
            Some(slot) => {
                let old = &slot.partition;
                stats.rules = stats.rules.saturating_sub(old.index.len());
                stats.policies = stats.policies.saturating_sub(old.policies.len());
                computers_moved |= !same_computer_ids(&old.source, &partition.source);
                *slot = node;
            }
            None => {
                computers_moved |= !partition.source.computers.is_empty();
                orgs.push(node);
            }
        }
        changed.push(plan.at);
    }
    let computers = if computers_moved {
        let mut map = ComputerMap::clone(&previous.computers);
        for &at in &changed {
            if let Some(old) = previous.orgs.get(at as usize) {
                for computer in &old.partition.source.computers {
                    if map
                        .get(computer.id.as_str())
                        .is_some_and(|loc| loc.org == at)
                    {
                        map.remove(computer.id.as_str());
                    }
                }
            }
        }
        for (plan, partition) in &compiled {
            for (c, computer) in partition.source.computers.iter().enumerate() {
                map.insert(
                    computer.id.as_str().into(),
                    ComputerLoc {
                        org: plan.at,
                        local: c as u32,
                    },
                );
            }
        }
        Arc::new(map)
    } else {
        Arc::clone(&previous.computers)
    };
    stats.recompiled = changed.len();
    stats.reused = orgs.len() - changed.len();
    Ok(ChangeCompiled::Tables {
        tables: Tables {
            orgs: orgs.into_boxed_slice(),
            computers,
        },
        stats,
        changed,
    })
}
