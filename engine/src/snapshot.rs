//! Immutable snapshots: compiled tables (see [`compiled`](crate::compiled)) under a
//! generation. A snapshot only reads what the compiler made; it is built by the
//! [`Builder`](crate::Builder) and the [`Engine`](crate::Engine), and decided on in
//! [`decide`](crate::decide).

use std::sync::Arc;

use crate::compiled::{CompileStats, Tables};
use crate::model::Bundle;

/// An immutable, indexed snapshot of a bundle: what decisions are computed on.
///
/// Build one with [`Snapshot::compile`], or let an [`Engine`](crate::Engine) hold the
/// current one. Cloning is cheap (it shares the compiled tables).
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub(crate) generation: u64,
    pub(crate) tables: Arc<Tables>,
    pub(crate) stats: CompileStats,
}

impl Snapshot {
    /// The generation: it grows with every deploy and rollback of an engine.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// What compiling this snapshot did.
    pub fn stats(&self) -> CompileStats {
        self.stats
    }

    /// The bundle this snapshot was compiled from, entries grouped by organization.
    pub fn bundle(&self) -> Bundle {
        let mut bundle = Bundle::new();
        for node in self.tables.orgs.iter() {
            let source = &node.partition.source;
            bundle.organizations.push(source.organization.clone());
            bundle.groups.extend(source.groups.iter().cloned());
            bundle.computers.extend(source.computers.iter().cloned());
            bundle.applications.extend(
                (0..source.applications.len() as u32)
                    .filter_map(|local| node.partition.application(local)),
            );
            bundle.policies.extend(source.policies.iter().cloned());
        }
        bundle
    }

    pub(crate) fn with_generation(&self, generation: u64) -> Snapshot {
        Snapshot {
            generation,
            tables: Arc::clone(&self.tables),
            stats: self.stats,
        }
    }
}
