//! Bundle → snapshot. Every validation error is raised here, so that a compiled
//! snapshot answers every event without failing.

mod change;
mod error;
mod layout;
mod partition;
mod shapes;
pub(crate) mod span;

use std::sync::Arc;

use rayon::prelude::*;
use rustc_hash::FxHashMap;

pub(crate) use change::{compile_change, plan_change, ChangeCompiled};
pub use error::{CompileError, CompileErrors, EntryKind, ErrorKind, LOCATED_ERRORS};
pub(crate) use layout::Lists;

use crate::compiled::{
    AppKeys, CompileStats, ComputerLoc, ComputerMap, OrgNode, Partition, Tables,
};
use crate::model::{strip_position, Bundle};
use layout::OrgPlan;

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
                    chain: plan.chain.into(),
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

/// Whether two lists of organizations place the same computers at the same places,
/// with the same records ([`ComputerLoc`]).
fn same_computers(old: &[OrgNode], new: &[OrgNode]) -> bool {
    old.len() == new.len()
        && old.iter().zip(new).all(|(a, b)| {
            Arc::ptr_eq(&a.partition, &b.partition)
                || same_computer_records(&a.partition, &b.partition)
        })
}

/// Whether two partitions of one organization give each computer the same id and the
/// same record in the computer map: then the map carries over.
pub(super) fn same_computer_records(a: &Partition, b: &Partition) -> bool {
    a.source.computers.len() == b.source.computers.len()
        && a.computer_groups == b.computer_groups
        && a.source
            .computers
            .iter()
            .zip(&b.source.computers)
            .all(|(x, y)| {
                x.id == y.id && x.os.family() == y.os.family() && x.maintenance == y.maintenance
            })
}

fn computer_map(orgs: &[OrgNode]) -> ComputerMap {
    let mut computers = ComputerMap::default();
    computers.reserve(
        orgs.iter()
            .map(|o| o.partition.source.computers.len())
            .sum(),
    );
    for (o, node) in orgs.iter().enumerate() {
        for (c, computer) in (0u32..).zip(&node.partition.source.computers) {
            if let Some(loc) = ComputerLoc::of(&node.partition, o as u32, c) {
                computers.insert(computer.id.as_str().into(), loc);
            }
        }
    }
    computers
}
