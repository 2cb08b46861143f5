//! Bundle → snapshot. Every validation error is raised here, so that a compiled
//! snapshot answers every event without failing.

mod error;
mod layout;
mod partition;
pub(crate) mod span;

use std::sync::Arc;

use rayon::prelude::*;
use rustc_hash::FxHashMap;

pub use error::{CompileError, CompileErrors, EntryKind, ErrorKind, LOCATED_ERRORS};
pub(crate) use layout::OrgSource;

use crate::model::{strip_position, Bundle};
use crate::snapshot::{AppKeys, CompileStats, ComputerLoc, OrgNode, Partition, Tables};

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
    let mut compile_error = CompileError::new(
        ErrorKind::Syntax,
        EntryKind::Bundle,
        None,
        path,
        strip_position(&inner),
    );
    if inner.line() > 0 {
        compile_error.location = Some((inner.line(), inner.column()));
    }
    Err(CompileErrors::one(compile_error))
}

/// A compiled partition, or the errors of its organization's entries.
type PartitionResult = Result<Arc<Partition>, Vec<CompileError>>;

/// Compiles a bundle into snapshot tables, reusing the partitions of `previous` for
/// organizations whose entries did not change.
pub(crate) fn compile(
    bundle: Bundle,
    keys: &mut AppKeys,
    previous: Option<&Tables>,
) -> Result<(Tables, CompileStats), CompileErrors> {
    let mut errors = Vec::new();
    let layout = layout::build(bundle, &mut errors);
    for plan in &layout.orgs {
        for app in &plan.source.applications {
            keys.intern(&app.id);
        }
    }
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

    let mut chains = Vec::with_capacity(layout.orgs.len());
    let mut jobs = Vec::with_capacity(layout.orgs.len());
    for plan in layout.orgs {
        chains.push(plan.chain.into_boxed_slice());
        let reuse = old
            .get(plan.source.organization.id.as_str())
            .filter(|partition| partition.source == plan.source)
            .map(|partition| Arc::clone(partition));
        jobs.push((plan.source, plan.indices, reuse));
    }
    let results: Vec<(PartitionResult, bool)> = jobs
        .into_par_iter()
        .map(|(source, indices, reuse)| match reuse {
            Some(partition) => (Ok(partition), true),
            None => (
                partition::compile(source, &indices, keys).map(Arc::new),
                false,
            ),
        })
        .collect();

    let mut stats = CompileStats::default();
    let mut orgs = Vec::with_capacity(results.len());
    for ((result, reused), chain) in results.into_iter().zip(chains) {
        match result {
            Ok(partition) => {
                if reused {
                    stats.reused += 1;
                } else {
                    stats.recompiled += 1;
                }
                stats.rules += partition.index.len();
                stats.policies += partition.policies.len();
                orgs.push(OrgNode { partition, chain });
            }
            Err(mut more) => errors.append(&mut more),
        }
    }
    if !errors.is_empty() {
        return Err(CompileErrors::new(errors));
    }
    let mut computers = FxHashMap::default();
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
    Ok((
        Tables {
            orgs: orgs.into_boxed_slice(),
            computers,
        },
        stats,
    ))
}
