//! Immutable compiled snapshots: one partition per organization, plus the tables that
//! find a computer's organization and the organization's ancestors.

use std::sync::Arc;

use rustc_hash::FxHashMap;

use crate::compile::{self, CompileErrors, OrgSource};
use crate::index::{PathBounds, RuleIndex, RuleOf};
use crate::model::{Action, Application, Bundle, DenyOptions, FileRule, Timestamp};

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

/// Where a policy applies inside its organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Slot {
    Computer(u32),
    Group(u32),
    Organization,
    Global,
}

/// Packs an application key and a computer or group slot into one map key.
fn slot_key(app: u32, slot: Slot) -> u64 {
    let low: u64 = match slot {
        Slot::Organization => 0,
        Slot::Global => 1,
        Slot::Computer(i) => 2 + 2 * u64::from(i),
        Slot::Group(i) => 3 + 2 * u64::from(i),
    };
    (u64::from(app) << 34) ^ low
}

/// The bit of a computer's or group's local index in [`Targeting`]'s summaries.
fn slot_bit(local: u32) -> u64 {
    1 << (local % 64)
}

/// The enabled policies of one partition that target one application.
#[derive(Debug, Default)]
pub(crate) struct Targeting {
    /// Scoped to the organization, sorted by position.
    organization: Box<[u32]>,
    /// Global, sorted by position.
    global: Box<[u32]>,
    /// Bit `i % 64` is set when a policy targets the application at computer `i`;
    /// a clear bit saves the lookup in `Targets::scoped`.
    computers: u64,
    /// The same for groups.
    groups: u64,
}

/// Enabled policies by target, sorted by position: one lookup by application gives the
/// organization-wide and global ones, and says whether a computer's or group's own
/// list is worth a second lookup.
#[derive(Debug, Default)]
pub(crate) struct Targets {
    by_app: FxHashMap<u32, Targeting>,
    /// Computer- and group-scoped lists, by `slot_key`.
    scoped: FxHashMap<u64, Box<[u32]>>,
}

impl Targets {
    /// Files each `(application, slot, policy)`; `position` orders each list.
    pub(crate) fn new(
        entries: impl IntoIterator<Item = (u32, Slot, u32)>,
        position: impl Fn(u32) -> i64,
    ) -> Targets {
        let mut lists: FxHashMap<(u32, Slot), Vec<u32>> = FxHashMap::default();
        for (app, slot, policy) in entries {
            lists.entry((app, slot)).or_default().push(policy);
        }
        let mut targets = Targets::default();
        for ((app, slot), mut list) in lists {
            list.sort_by_key(|&p| position(p));
            list.dedup();
            let list = list.into_boxed_slice();
            let entry = targets.by_app.entry(app).or_default();
            match slot {
                Slot::Organization => entry.organization = list,
                Slot::Global => entry.global = list,
                Slot::Computer(i) => {
                    entry.computers |= slot_bit(i);
                    targets.scoped.insert(slot_key(app, slot), list);
                }
                Slot::Group(i) => {
                    entry.groups |= slot_bit(i);
                    targets.scoped.insert(slot_key(app, slot), list);
                }
            }
        }
        targets.by_app.shrink_to_fit();
        targets.scoped.shrink_to_fit();
        targets
    }

    /// The lists of policies targeting `app` that a computer at `(local, group)` of
    /// this organization sees (computer, group, organization, global), or with `None`
    /// one in a descendant organization (global only); a slot with no policy for it
    /// gets an empty list.
    pub(crate) fn lists(&self, app: u32, at: Option<(u32, u32)>) -> [&[u32]; 4] {
        let mut out: [&[u32]; 4] = [&[]; 4];
        let Some(targeting) = self.by_app.get(&app) else {
            return out;
        };
        let scoped = |bits: u64, i: u32, slot: Slot| -> &[u32] {
            if bits & slot_bit(i) == 0 {
                return &[];
            }
            self.scoped.get(&slot_key(app, slot)).map_or(&[], |l| &**l)
        };
        match at {
            Some((local, group)) => {
                out = [
                    scoped(targeting.computers, local, Slot::Computer(local)),
                    scoped(targeting.groups, group, Slot::Group(group)),
                    &targeting.organization,
                    &targeting.global,
                ];
            }
            None => out[3] = &targeting.global,
        }
        out
    }
}

/// A policy ready to decide.
#[derive(Debug)]
pub(crate) struct CompiledPolicy {
    pub(crate) id: Box<str>,
    pub(crate) position: i64,
    pub(crate) action: Action,
    pub(crate) elevate: bool,
    pub(crate) enabled: bool,
    pub(crate) slot: Slot,
    /// Case-folded user names; `None` applies to everyone.
    pub(crate) users: Option<Box<[Box<str>]>>,
    pub(crate) not_before: Option<Timestamp>,
    pub(crate) expires: Option<Timestamp>,
    pub(crate) on_deny: DenyOptions,
    /// Targeted applications: key and id.
    pub(crate) targets: Box<[(u32, Box<str>)]>,
}

/// Why a policy does not apply to an event, before any rule is looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Inapplicable {
    Disabled,
    NotYet,
    Expired,
    User,
}

impl Inapplicable {
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Inapplicable::Disabled => "the policy is disabled",
            Inapplicable::NotYet => "the policy is not valid yet (`not_before`)",
            Inapplicable::Expired => "the policy has expired (`expires`)",
            Inapplicable::User => "the user is not in the policy's `users`",
        }
    }
}

impl CompiledPolicy {
    /// Checks the validity window and the user list.
    pub(crate) fn applicability(&self, time: Timestamp, user: &str) -> Result<(), Inapplicable> {
        if !self.enabled {
            return Err(Inapplicable::Disabled);
        }
        if self.not_before.is_some_and(|start| time < start) {
            return Err(Inapplicable::NotYet);
        }
        if self.expires.is_some_and(|end| time >= end) {
            return Err(Inapplicable::Expired);
        }
        if let Some(users) = &self.users {
            if !users.iter().any(|u| folded_eq(u, user)) {
                return Err(Inapplicable::User);
            }
        }
        Ok(())
    }
}

/// Compares an already folded name with a raw one, folding the latter on the fly so
/// that no string is built.
fn folded_eq(folded: &str, raw: &str) -> bool {
    let mut raw = raw.chars().map(crate::path::fold_char);
    let mut folded = folded.chars();
    loop {
        match (folded.next(), raw.next()) {
            (None, None) => return true,
            (Some(a), Some(b)) if a == b => {}
            _ => return false,
        }
    }
}

/// One organization, compiled.
#[derive(Debug)]
pub(crate) struct Partition {
    pub(crate) source: OrgSource,
    /// The key of each of the organization's applications, by local index.
    pub(crate) app_keys: Box<[u32]>,
    pub(crate) index: RuleIndex,
    /// Where in the position order its path patterns stop mattering.
    pub(crate) path_bounds: PathBounds,
    pub(crate) policies: Box<[CompiledPolicy]>,
    /// Enabled policies by the application and the slot they target.
    pub(crate) targets: Targets,
    /// The group of each computer, by local index.
    pub(crate) computer_groups: Box<[u32]>,
    pub(crate) default_deny: DenyOptions,
}

impl Partition {
    /// Application `local` as written, its bare hash rules put back in place.
    pub(crate) fn application(&self, local: u32) -> Option<Application> {
        let source = self.source.applications.get(local as usize)?;
        let mut kept = source.rules.iter();
        let rules = self
            .index
            .rules_of(local)
            .filter_map(|rule| match rule {
                RuleOf::Compiled(_) => kept.next().cloned(),
                RuleOf::Bare(_, digest) => Some(FileRule::hash(*digest)),
            })
            .collect();
        Some(Application {
            id: source.id.clone(),
            organization: source.organization.clone(),
            name: source.name.clone(),
            rules,
        })
    }

    /// Whether application `local` equals `other`, without building it.
    pub(crate) fn same_application(&self, local: u32, other: &Application) -> bool {
        let Some(source) = self.source.applications.get(local as usize) else {
            return false;
        };
        // Destructured, so that a field added to `Application` is not left out here.
        let Application {
            id,
            organization,
            name,
            rules,
        } = other;
        let mut kept = source.rules.iter();
        let mut ours = self.index.rules_of(local);
        let same_rules = rules.iter().all(|rule| match ours.next() {
            Some(RuleOf::Compiled(_)) => kept.next() == Some(rule),
            Some(RuleOf::Bare(_, digest)) => *rule == FileRule::hash(*digest),
            None => false,
        });
        same_rules
            && ours.next().is_none()
            && source.id == *id
            && source.organization == *organization
            && source.name == *name
    }
}

/// An organization in the snapshot's tree.
#[derive(Debug)]
pub(crate) struct OrgNode {
    pub(crate) partition: Arc<Partition>,
    /// Itself first, then its parent, up to the root.
    pub(crate) chain: Box<[u32]>,
}

/// Where a computer lives.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ComputerLoc {
    pub(crate) org: u32,
    pub(crate) local: u32,
}

/// Where every computer lives, by id.
pub(crate) type ComputerMap = FxHashMap<Box<str>, ComputerLoc>;

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
    /// Compiles a bundle within the default [`Limits`](crate::Limits); generation 1.
    pub fn compile(bundle: &Bundle) -> Result<Snapshot, CompileErrors> {
        crate::Builder::default().snapshot(bundle)
    }

    /// Compiles a bundle the limits were checked on.
    pub(crate) fn compile_checked(bundle: &Bundle) -> Result<Snapshot, CompileErrors> {
        let (tables, stats) = compile::compile(bundle, &mut AppKeys::default(), None)?;
        Ok(Snapshot {
            generation: 1,
            tables: Arc::new(tables),
            stats,
        })
    }

    /// Reads a bundle from JSON text and compiles it; errors carry line and column.
    pub fn compile_json(text: &str) -> Result<Snapshot, CompileErrors> {
        crate::Builder::default().snapshot_json(text)
    }

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

#[cfg(test)]
mod tests {
    use super::{Slot, Targets};

    const NONE: &[u32] = &[];

    /// Policy `p` is at position `10 - p`, so each list comes out in reverse order.
    fn targets(entries: &[(u32, Slot, u32)]) -> Targets {
        Targets::new(entries.iter().copied(), |p| 10 - i64::from(p))
    }

    #[test]
    fn lists_by_slot_sorted_by_position() {
        let t = targets(&[
            (7, Slot::Global, 1),
            (7, Slot::Global, 2),
            (7, Slot::Organization, 3),
            (7, Slot::Computer(5), 4),
            (7, Slot::Group(2), 5),
            (8, Slot::Global, 6),
        ]);
        let own = t.lists(7, Some((5, 2)));
        assert_eq!(own, [&[4][..], &[5], &[3], &[2, 1]]);
        // A descendant's computer sees the global policies only.
        let below = t.lists(7, None);
        assert_eq!(below, [NONE, NONE, NONE, &[2, 1]]);
        // Another computer and group of the organization.
        assert_eq!(t.lists(7, Some((6, 3))), [NONE, NONE, &[3], &[2, 1]]);
        // No policy targets application 9.
        assert_eq!(t.lists(9, Some((5, 2))), [NONE; 4]);
    }

    #[test]
    fn computers_sharing_a_summary_bit_keep_their_own_lists() {
        // Computers 3, 67 and 131 share bit 3, and groups 0, 64 and 128 bit 0; only
        // computers 3 and 131 and group 64 have policies.
        let t = targets(&[
            (1, Slot::Computer(3), 1),
            (1, Slot::Computer(131), 2),
            (1, Slot::Group(64), 3),
        ]);
        assert_eq!(t.lists(1, Some((3, 1))), [&[1], NONE, NONE, NONE]);
        assert_eq!(t.lists(1, Some((131, 1))), [&[2], NONE, NONE, NONE]);
        assert_eq!(t.lists(1, Some((67, 64))), [NONE, &[3], NONE, NONE]);
        assert_eq!(t.lists(1, Some((67, 0))), [NONE; 4]);
        assert_eq!(t.lists(1, Some((67, 128))), [NONE; 4]);
    }
}
