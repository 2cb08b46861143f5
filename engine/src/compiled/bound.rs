//! How far down the position order an organization's path patterns can matter.
//!
//! A rule with neither a hash nor a certificate condition is filed under path patterns
//! only, so only a search of the pattern sets finds it. Such a search costs more than
//! the rest of a decision on a hash or certificate hit, and it can only change the
//! decision through a policy that targets such a rule's application. [`PathBounds`]
//! keeps, per organization, the best (lowest) position of any such policy a computer
//! can see. Once the hash and certificate candidates have fixed a deciding policy at a
//! better position, the search cannot change the decision and is skipped.

use rustc_hash::FxHashMap;

use super::policy::{CompiledPolicy, Slot};

/// The bound when no policy can decide through path patterns.
pub(crate) const NO_POLICY: i64 = i64::MAX;

/// A bound from one position: `i64::MAX` itself is kept apart for [`NO_POLICY`], so a
/// policy there lowers the bound by one, which only ever makes a search happen.
fn bound_of(position: i64) -> i64 {
    position.min(NO_POLICY - 1)
}

/// Per organization: the best position of an enabled policy that may decide through a
/// rule only path patterns find, by the scope a computer sees it in.
#[derive(Debug, Clone, Default)]
#[repr(C)]
pub(crate) struct PathBounds {
    /// Policies targeting such an application of this organization, scoped `global`:
    /// what a computer of a descendant organization sees.
    own_global: i64,
    /// The same over the `organization` and `global` scopes.
    own_organization: i64,
    /// Per computer (local index), over its own scope, its group's, the organization's
    /// and global. Empty when no computer- or group-scoped policy targets such an
    /// application: then `own_organization` holds for every computer.
    own_computer: Box<[i64]>,
    /// Policies targeting an application of another organization, which may have such
    /// rules (that is not known while this organization compiles): scoped `global`,
    /// and in any scope.
    foreign_global: i64,
    foreign_any: i64,
}

/// What a policy's target is, seen from the organization compiling it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// An application of this organization with a rule only path patterns find.
    OwnPath,
    /// An application of this organization whose rules are all filed under a hash or
    /// a certificate.
    OwnMapped,
    /// Another organization's application.
    Foreign,
}

impl PathBounds {
    /// Computes the bounds of one organization.
    ///
    /// `app_keys` are the keys of its applications by local index, `path_apps` the
    /// local indices of those with a rule only path patterns find, `computer_groups`
    /// the group of each computer, and `groups` the number of groups.
    pub(crate) fn new(
        app_keys: &[u32],
        path_apps: &[u32],
        policies: &[CompiledPolicy],
        computer_groups: &[u32],
        groups: usize,
    ) -> PathBounds {
        let mut kinds: FxHashMap<u32, Target> = app_keys
            .iter()
            .map(|&key| (key, Target::OwnMapped))
            .collect();
        for &local in path_apps {
            if let Some(&key) = app_keys.get(local as usize) {
                kinds.insert(key, Target::OwnPath);
            }
        }
        let mut bounds = PathBounds {
            own_global: NO_POLICY,
            own_organization: NO_POLICY,
            own_computer: Box::default(),
            foreign_global: NO_POLICY,
            foreign_any: NO_POLICY,
        };
        let mut by_computer = vec![NO_POLICY; computer_groups.len()];
        let mut by_group = vec![NO_POLICY; groups];
        let mut scoped = false;
        for policy in policies.iter().filter(|p| p.enabled) {
            let targets = || {
                policy
                    .targets
                    .iter()
                    .map(|(key, _)| kinds.get(key).copied().unwrap_or(Target::Foreign))
            };
            let position = bound_of(policy.position);
            if targets().any(|t| t == Target::Foreign) {
                bounds.foreign_any = bounds.foreign_any.min(position);
                if policy.slot == Slot::Global {
                    bounds.foreign_global = bounds.foreign_global.min(position);
                }
            }
            if !targets().any(|t| t == Target::OwnPath) {
                continue;
            }
            match policy.slot {
                Slot::Global => {
                    bounds.own_global = bounds.own_global.min(position);
                    bounds.own_organization = bounds.own_organization.min(position);
                }
                Slot::Organization => {
                    bounds.own_organization = bounds.own_organization.min(position);
                }
                Slot::Group(g) => {
                    scoped = true;
                    match by_group.get_mut(g as usize) {
                        Some(bound) => *bound = (*bound).min(position),
                        // Not a group of this organization: count it everywhere.
                        None => bounds.own_organization = bounds.own_organization.min(position),
                    }
                }
                Slot::Computer(c) => {
                    scoped = true;
                    match by_computer.get_mut(c as usize) {
                        Some(bound) => *bound = (*bound).min(position),
                        None => bounds.own_organization = bounds.own_organization.min(position),
                    }
                }
            }
        }
        if scoped {
            for (c, bound) in by_computer.iter_mut().enumerate() {
                let group = computer_groups
                    .get(c)
                    .and_then(|&g| by_group.get(g as usize))
                    .copied()
                    .unwrap_or(NO_POLICY);
                *bound = (*bound).min(group).min(bounds.own_organization);
            }
            bounds.own_computer = by_computer.into_boxed_slice();
        }
        bounds
    }

    /// The best position of a policy that may decide through this organization's path
    /// patterns, for a computer at `depth` in its chain of organizations (0: its own,
    /// where `computer` is its local index), counting only this organization's
    /// policies; see [`PathBounds::foreign`] for the others'.
    pub(crate) fn own(&self, depth: usize, computer: u32) -> i64 {
        if depth > 0 {
            self.own_global
        } else if self.own_computer.is_empty() {
            self.own_organization
        } else {
            // A computer past the table cannot happen; searching is always safe.
            self.own_computer
                .get(computer as usize)
                .copied()
                .unwrap_or(i64::MIN)
        }
    }

    /// The best position of this organization's policies, as seen by a computer at
    /// `depth`, that target another organization's application: they may decide
    /// through that organization's path patterns.
    pub(crate) fn foreign(&self, depth: usize) -> i64 {
        if depth > 0 {
            self.foreign_global
        } else {
            self.foreign_any
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Action, DenyOptions};

    fn policy(position: i64, slot: Slot, targets: &[u32], enabled: bool) -> CompiledPolicy {
        CompiledPolicy {
            id: format!("p{position}").into(),
            position,
            action: Action::Permit,
            elevate: false,
            enabled,
            slot,
            users: None,
            not_before: None,
            expires: None,
            on_deny: DenyOptions::policy_default(),
            targets: targets.iter().map(|&k| (k, "app".into())).collect(),
        }
    }

    #[test]
    fn bounds_follow_scope_target_and_enabled() {
        // Applications 10 (hash only) and 11 (path rule); 99 is another organization's.
        let keys = [10, 11];
        let path_apps = [1];
        // Computers 0 and 1 in group 0, computer 2 in group 1.
        let groups = [0, 0, 1];
        let policies = [
            policy(5, Slot::Organization, &[10], true),
            policy(7, Slot::Computer(1), &[11], true),
            policy(8, Slot::Group(1), &[10, 11], true),
            policy(3, Slot::Global, &[11], false),
            policy(20, Slot::Organization, &[11], true),
            policy(40, Slot::Global, &[11], true),
            policy(30, Slot::Group(0), &[99], true),
            policy(i64::MAX, Slot::Global, &[99], true),
        ];
        let bounds = PathBounds::new(&keys, &path_apps, &policies, &groups, 2);
        assert_eq!(bounds.own(0, 0), 20);
        assert_eq!(bounds.own(0, 1), 7);
        assert_eq!(bounds.own(0, 2), 8);
        assert_eq!(bounds.own(1, 0), 40);
        assert_eq!(bounds.foreign(0), 30);
        assert_eq!(bounds.foreign(1), i64::MAX - 1);

        let none = PathBounds::new(&keys, &[], &policies[..1], &groups, 2);
        assert_eq!(none.own(0, 0), NO_POLICY);
        assert_eq!(none.own(1, 0), NO_POLICY);
        assert_eq!(none.foreign(0), NO_POLICY);
    }
}
