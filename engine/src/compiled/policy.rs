//! Compiled policies and where they apply: a policy's slot in its organization, and
//! the lists of enabled policies by target that a decision looks up.

use rustc_hash::FxHashMap;

use crate::model::{Action, DenyOptions, Timestamp};

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

/// A policy of a list and where the list's application is among its targets (the
/// first place it is listed): a decision ranks and reports the target without
/// searching the policy's targets, which for a policy of many applications spans
/// several cache lines.
pub(crate) type Listed = (u32, u32);

/// Policies sorted by position, a list of one kept inline: most applications have
/// one policy per slot, and a decision then reads it with the [`Targeting`] instead of
/// loading the list from elsewhere.
#[derive(Debug)]
struct PolicyList {
    /// The list when it has one entry; else [`PolicyList::NOT_ONE`] in the policy.
    one: Listed,
    /// The list when it does not have one entry.
    many: Box<[Listed]>,
}

impl PolicyList {
    const NOT_ONE: Listed = (u32::MAX, u32::MAX);

    fn new(list: Box<[Listed]>) -> PolicyList {
        match *list {
            [one] if one != PolicyList::NOT_ONE => PolicyList {
                one,
                many: Box::default(),
            },
            _ => PolicyList {
                one: PolicyList::NOT_ONE,
                many: list,
            },
        }
    }

    #[inline]
    fn as_slice(&self) -> &[Listed] {
        if self.one == PolicyList::NOT_ONE {
            &self.many
        } else {
            std::slice::from_ref(&self.one)
        }
    }
}

impl Default for PolicyList {
    fn default() -> PolicyList {
        PolicyList::new(Box::default())
    }
}

/// The enabled policies of one partition that target one application: one cache line.
#[derive(Debug, Default)]
#[repr(align(64))]
pub(crate) struct Targeting {
    /// Scoped to the organization, sorted by position.
    organization: PolicyList,
    /// Global, sorted by position.
    global: PolicyList,
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
#[repr(C)]
pub(crate) struct Targets {
    /// The organization's own applications, by local index: a decision that found the
    /// application in this organization indexes it, with no hashing or probing.
    own: Box<[Targeting]>,
    /// Applications of ancestors that this organization's policies target, by key;
    /// most organizations have none (`None`), and then a decision does not look.
    foreign: Option<Box<FxHashMap<u32, Targeting>>>,
    /// Computer- and group-scoped lists, by `slot_key`; boxed, as a decision reads it
    /// only for a computer or group whose summary bit is set.
    scoped: Box<FxHashMap<u64, Box<[Listed]>>>,
}

impl Targets {
    /// Files each `(application, slot, policy)`; `own` are the keys of the
    /// organization's applications by local index, `position` orders each list, and
    /// `target(policy, application)` says where the application is among the policy's
    /// targets.
    pub(crate) fn new(
        entries: impl IntoIterator<Item = (u32, Slot, u32)>,
        own: &[u32],
        position: impl Fn(u32) -> i64,
        target: impl Fn(u32, u32) -> u32,
    ) -> Targets {
        let mut lists: FxHashMap<(u32, Slot), Vec<u32>> = FxHashMap::default();
        for (app, slot, policy) in entries {
            lists.entry((app, slot)).or_default().push(policy);
        }
        let local: FxHashMap<u32, usize> = own.iter().enumerate().map(|(i, &k)| (k, i)).collect();
        let mut targets = Targets {
            own: own.iter().map(|_| Targeting::default()).collect(),
            ..Targets::default()
        };
        for ((app, slot), mut list) in lists {
            list.sort_by_key(|&p| position(p));
            list.dedup();
            let list: Box<[Listed]> = list.into_iter().map(|p| (p, target(p, app))).collect();
            let entry = match local.get(&app).and_then(|&i| targets.own.get_mut(i)) {
                Some(entry) => entry,
                None => targets
                    .foreign
                    .get_or_insert_with(Box::default)
                    .entry(app)
                    .or_default(),
            };
            match slot {
                Slot::Organization => entry.organization = PolicyList::new(list),
                Slot::Global => entry.global = PolicyList::new(list),
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
        if let Some(foreign) = &mut targets.foreign {
            foreign.shrink_to_fit();
        }
        targets.scoped.shrink_to_fit();
        targets
    }

    /// The lists of policies targeting `app` that a computer at `(local, group)` of
    /// this organization sees (computer, group, organization, global), or with `None`
    /// one in a descendant organization (global only); a slot with no policy for it
    /// gets an empty list. `own` is the application's local index when it is one of
    /// this organization's, `None` when it is an ancestor's.
    #[inline]
    pub(crate) fn lists(
        &self,
        app: u32,
        own: Option<u32>,
        at: Option<(u32, u32)>,
    ) -> [&[Listed]; 4] {
        let mut out: [&[Listed]; 4] = [&[]; 4];
        let targeting = match own {
            Some(local) => self.own.get(local as usize),
            None => self.foreign.as_ref().and_then(|foreign| foreign.get(&app)),
        };
        let Some(targeting) = targeting else {
            return out;
        };
        let scoped = |bits: u64, i: u32, slot: Slot| -> &[Listed] {
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
                    targeting.organization.as_slice(),
                    targeting.global.as_slice(),
                ];
            }
            None => out[3] = targeting.global.as_slice(),
        }
        out
    }
}

/// A policy ready to decide.
///
/// In C order and on cache lines of its own: what ranking a policy and checking that
/// it applies read is on the first line, what the decision reports on the second.
#[derive(Debug)]
#[repr(C, align(64))]
pub(crate) struct CompiledPolicy {
    pub(crate) position: i64,
    pub(crate) not_before: Option<Timestamp>,
    pub(crate) expires: Option<Timestamp>,
    /// Case-folded user names; `None` applies to everyone.
    pub(crate) users: Option<Box<[Box<str>]>>,
    pub(crate) enabled: bool,
    pub(crate) action: Action,
    pub(crate) elevate: bool,
    pub(crate) id: Box<str>,
    /// Targeted applications: key and id.
    pub(crate) targets: Box<[(u32, Box<str>)]>,
    pub(crate) on_deny: DenyOptions,
    pub(crate) slot: Slot,
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

#[cfg(test)]
mod tests {
    use super::{Slot, Targets};

    const NONE: &[u32] = &[];

    /// Policy `p` is at position `10 - p`, so each list comes out in reverse order;
    /// application `a` is target `a + p` of policy `p`.
    /// Every application here is an ancestor's (filed by key).
    fn targets(entries: &[(u32, Slot, u32)]) -> Targets {
        owning(entries, &[])
    }

    /// The organization's own applications are `own`, by local index.
    fn owning(entries: &[(u32, Slot, u32)], own: &[u32]) -> Targets {
        Targets::new(
            entries.iter().copied(),
            own,
            |p| 10 - i64::from(p),
            |p, a| a + p,
        )
    }

    /// The policies of each list, after checking each one's target.
    fn ids<const N: usize>(lists: [&[super::Listed]; N], app: u32) -> [Vec<u32>; N] {
        lists.map(|list| {
            list.iter()
                .map(|&(p, target)| {
                    assert_eq!(target, app + p);
                    p
                })
                .collect()
        })
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
        let own = ids(t.lists(7, None, Some((5, 2))), 7);
        assert_eq!(own, [&[4][..], &[5], &[3], &[2, 1]]);
        // A descendant's computer sees the global policies only.
        let below = ids(t.lists(7, None, None), 7);
        assert_eq!(below, [NONE, NONE, NONE, &[2, 1]]);
        // Another computer and group of the organization.
        assert_eq!(
            ids(t.lists(7, None, Some((6, 3))), 7),
            [NONE, NONE, &[3], &[2, 1]]
        );
        // No policy targets application 9.
        assert_eq!(ids(t.lists(9, None, Some((5, 2))), 9), [NONE; 4]);
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
        assert_eq!(
            ids(t.lists(1, None, Some((3, 1))), 1),
            [&[1][..], NONE, NONE, NONE]
        );
        assert_eq!(
            ids(t.lists(1, None, Some((131, 1))), 1),
            [&[2][..], NONE, NONE, NONE]
        );
        assert_eq!(
            ids(t.lists(1, None, Some((67, 64))), 1),
            [NONE, &[3], NONE, NONE]
        );
        assert_eq!(ids(t.lists(1, None, Some((67, 0))), 1), [NONE; 4]);
        assert_eq!(ids(t.lists(1, None, Some((67, 128))), 1), [NONE; 4]);
    }

    #[test]
    fn own_applications_by_local_index_ancestors_by_key() {
        // Applications 7 and 8 are this organization's (local 0 and 1); 9 is an
        // ancestor's.
        let entries = [
            (7, Slot::Organization, 1),
            (8, Slot::Global, 2),
            (9, Slot::Organization, 3),
            (7, Slot::Computer(4), 4),
        ];
        let t = owning(&entries, &[7, 8]);
        assert_eq!(
            ids(t.lists(7, Some(0), Some((4, 0))), 7),
            [&[4][..], NONE, &[1], NONE]
        );
        assert_eq!(ids(t.lists(8, Some(1), None), 8), [NONE, NONE, NONE, &[2]]);
        assert_eq!(
            ids(t.lists(9, None, Some((0, 0))), 9),
            [NONE, NONE, &[3], NONE]
        );
        // Out of range, or an ancestor's application no policy here targets.
        assert_eq!(ids(t.lists(7, Some(5), Some((4, 0))), 7), [NONE; 4]);
        assert_eq!(ids(t.lists(6, None, Some((4, 0))), 6), [NONE; 4]);
        // With no ancestor's application targeted, nothing is filed by key.
        let mine = owning(&entries[..2], &[7, 8]);
        assert!(mine.foreign.is_none());
        assert_eq!(ids(mine.lists(7, None, None), 7), [NONE; 4]);
    }

    #[test]
    fn policy_lists_read_back_as_given() {
        use super::PolicyList;
        let lists: [&[super::Listed]; 5] = [
            &[],
            &[(3, 0)],
            &[(3, 0), (1, 2)],
            &[PolicyList::NOT_ONE],
            &[PolicyList::NOT_ONE, (0, 0)],
        ];
        for list in lists {
            assert_eq!(PolicyList::new(list.into()).as_slice(), list);
        }
        assert_eq!(PolicyList::default().as_slice(), &[]);
    }
}
