//! Compiled data: what [`compile`](crate::compile) makes of a bundle and what
//! snapshots and decisions read. One partition per organization, the tables that find
//! a computer's organization and the organization's ancestors, and the numbering of
//! applications the partitions share.
//!
//! This module builds nothing from a bundle and imports neither the compiler nor the
//! snapshot: it sits below both.

mod bound;
mod partition;
mod policy;

use std::sync::Arc;

use rustc_hash::FxHashMap;

use crate::model::Maintenance;
use crate::path::Family;

pub(crate) use bound::{PathBounds, NO_POLICY};
pub(crate) use partition::{OrgSource, Partition};
pub(crate) use policy::{CompiledPolicy, Slot, Targets};

/// Stable numbers for application ids, shared by every snapshot of one engine, so that
/// a partition that refers to an ancestor's application stays valid when only the
/// ancestor is recompiled. Numbers are never reused.
#[derive(Debug, Default, Clone)]
pub(crate) struct AppKeys {
    keys: FxHashMap<Box<str>, u32>,
}

impl AppKeys {
    pub(crate) fn get(&self, id: &str) -> Option<u32> {
        self.keys.get(id).copied()
    }

    pub(crate) fn intern(&mut self, id: &str) -> u32 {
        if let Some(&key) = self.keys.get(id) {
            return key;
        }
        let key = self.keys.len() as u32;
        self.keys.insert(id.into(), key);
        key
    }
}

/// An organization in the snapshot's tree, on a cache line of its own: a decision
/// reads the partition's address and the chain together.
#[derive(Debug)]
#[repr(align(64))]
pub(crate) struct OrgNode {
    pub(crate) partition: Arc<Partition>,
    /// Itself first, then its parent, up to the root.
    pub(crate) chain: Chain,
}

/// An organization's chain of ancestors (itself first), kept in the node when it is
/// short, as it is in most tenancies (an MSP and its customers: two), so that a
/// decision does not load it from elsewhere.
#[derive(Debug, Clone, Default)]
pub(crate) struct Chain {
    len: u32,
    short: [u32; Chain::SHORT],
    /// The whole chain when it is longer than [`Chain::SHORT`]; else empty.
    long: Box<[u32]>,
}

impl Chain {
    /// The longest chain kept in the node.
    const SHORT: usize = 5;
}

impl From<Vec<u32>> for Chain {
    fn from(chain: Vec<u32>) -> Chain {
        let mut short = [0; Chain::SHORT];
        match short.get_mut(..chain.len()) {
            Some(head) => {
                head.copy_from_slice(&chain);
                Chain {
                    len: chain.len() as u32,
                    short,
                    long: Box::default(),
                }
            }
            None => Chain {
                len: chain.len() as u32,
                short,
                long: chain.into_boxed_slice(),
            },
        }
    }
}

impl std::ops::Deref for Chain {
    type Target = [u32];

    #[inline]
    fn deref(&self) -> &[u32] {
        match self.short.get(..self.len as usize) {
            Some(short) => short,
            None => &self.long,
        }
    }
}

/// Where a computer lives, and what a decision reads of it: its group and path family
/// and its maintenance mode, kept here so that a decision does not load the
/// organization's list of computers, nor the computer as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ComputerLoc {
    pub(crate) org: u32,
    pub(crate) local: u32,
    /// The group's local index in the organization.
    pub(crate) group: u32,
    pub(crate) family: Family,
    pub(crate) maintenance: Option<Maintenance>,
}

impl ComputerLoc {
    /// Computer `local` of `partition`, at index `org` of the tables; `None` when the
    /// partition has no such computer.
    pub(crate) fn of(partition: &Partition, org: u32, local: u32) -> Option<ComputerLoc> {
        let computer = partition.source.computers.get(local as usize)?;
        let group = partition.computer_groups.get(local as usize).copied()?;
        Some(ComputerLoc {
            org,
            local,
            group,
            family: computer.os.family(),
            maintenance: computer.maintenance,
        })
    }
}

/// Where every computer lives, by id (its bytes: look one up with `id.as_bytes()`).
pub(crate) type ComputerMap = FxHashMap<ComputerId, ComputerLoc>;

/// A computer id as a key of the [`ComputerMap`]: an id of up to
/// [`ComputerId::SHORT`] bytes (a host name, a short id) is kept in the map's entry
/// itself, so that comparing it with the event's does not load it from elsewhere; a
/// longer one is boxed. Hashed and compared as its bytes.
#[derive(Debug, Clone)]
pub(crate) enum ComputerId {
    Short {
        len: u8,
        bytes: [u8; ComputerId::SHORT],
    },
    Long(Box<[u8]>),
}

impl ComputerId {
    /// The longest id kept in the entry.
    pub(crate) const SHORT: usize = 22;

    pub(crate) fn as_bytes(&self) -> &[u8] {
        match self {
            ComputerId::Short { len, bytes } => bytes.get(..usize::from(*len)).unwrap_or_default(),
            ComputerId::Long(bytes) => bytes,
        }
    }
}

impl From<&str> for ComputerId {
    fn from(id: &str) -> ComputerId {
        let mut bytes = [0; ComputerId::SHORT];
        match bytes.get_mut(..id.len()) {
            Some(head) => {
                head.copy_from_slice(id.as_bytes());
                ComputerId::Short {
                    len: id.len() as u8,
                    bytes,
                }
            }
            None => ComputerId::Long(id.as_bytes().into()),
        }
    }
}

impl std::borrow::Borrow<[u8]> for ComputerId {
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl std::hash::Hash for ComputerId {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

impl PartialEq for ComputerId {
    fn eq(&self, other: &ComputerId) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for ComputerId {}

/// The compiled tenancy; shared between snapshots that differ only in generation.
#[derive(Debug)]
pub(crate) struct Tables {
    pub(crate) orgs: Box<[OrgNode]>,
    /// Shared with the previous tables when no organization's computers moved.
    pub(crate) computers: Arc<ComputerMap>,
}

/// Which organization (index in the tables) holds each id, for the kinds of entry the
/// tables do not index themselves. A change is checked against it without walking the
/// tenancy; the engine's writer keeps one for the current tables.
#[derive(Debug, Default)]
pub(crate) struct TenancyIds {
    pub(crate) orgs: FxHashMap<Box<str>, u32>,
    pub(crate) groups: FxHashMap<Box<str>, u32>,
    pub(crate) applications: FxHashMap<Box<str>, u32>,
    pub(crate) policies: FxHashMap<Box<str>, u32>,
}

impl TenancyIds {
    /// The ids of every organization of `tables`.
    pub(crate) fn of(tables: &Tables) -> TenancyIds {
        let mut ids = TenancyIds::default();
        for (at, node) in tables.orgs.iter().enumerate() {
            ids.add(at as u32, &node.partition.source);
        }
        ids
    }

    /// Files an organization's ids under `at`.
    pub(crate) fn add(&mut self, at: u32, source: &OrgSource) {
        self.orgs.insert(source.organization.id.as_str().into(), at);
        for group in &source.groups {
            self.groups.insert(group.id.as_str().into(), at);
        }
        for app in &source.applications {
            self.applications.insert(app.id.as_str().into(), at);
        }
        for policy in &source.policies {
            self.policies.insert(policy.id.as_str().into(), at);
        }
    }

    /// Forgets the ids an organization held under `at`.
    pub(crate) fn remove(&mut self, at: u32, source: &OrgSource) {
        fn forget(map: &mut FxHashMap<Box<str>, u32>, id: &str, at: u32) {
            if map.get(id) == Some(&at) {
                map.remove(id);
            }
        }
        forget(&mut self.orgs, &source.organization.id, at);
        for group in &source.groups {
            forget(&mut self.groups, &group.id, at);
        }
        for app in &source.applications {
            forget(&mut self.applications, &app.id, at);
        }
        for policy in &source.policies {
            forget(&mut self.policies, &policy.id, at);
        }
    }
}

/// What a compile did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CompileStats {
    /// Organizations compiled anew.
    pub recompiled: usize,
    /// Organizations whose compiled partition was carried over unchanged.
    pub reused: usize,
    /// File rules in the snapshot.
    pub rules: usize,
    /// Policies in the snapshot.
    pub policies: usize,
}

#[cfg(test)]
mod tests {
    use super::{Chain, ComputerId};

    #[test]
    fn computer_ids_short_and_long_read_back_and_find_their_entry() {
        let mut map = rustc_hash::FxHashMap::default();
        let ids: Vec<String> = (0..30)
            .map(|n| "x".repeat(n))
            .chain(["é-ü".to_owned()])
            .collect();
        for (i, id) in ids.iter().enumerate() {
            let key = ComputerId::from(id.as_str());
            assert_eq!(key.as_bytes(), id.as_bytes());
            map.insert(key, i);
        }
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(map.get(id.as_bytes()), Some(&i));
        }
        assert_eq!(map.get("y".as_bytes()), None);
    }

    #[test]
    fn chains_short_and_long_read_back_as_given() {
        for len in 0..12u32 {
            let chain: Vec<u32> = (0..len).map(|i| 100 - i).collect();
            assert_eq!(&*Chain::from(chain.clone()), &chain[..]);
        }
    }
}
