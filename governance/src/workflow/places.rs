//! Where each computer and group of the bundle sits, and which positions each
//! organization's policies take: the lookups filings, approvals and the Approval
//! Center make on every call, kept beside the bundle so that none of them scans the
//! tenancy (100,000 computers on the large one).

use std::collections::{BTreeSet, HashMap};

use portcullis_engine::model::{Computer, Policy, Scope};
use portcullis_engine::Bundle;

/// The places of a bundle's computers, groups and policies.
#[derive(Debug, Default)]
pub(crate) struct Places {
    /// A group's organization.
    groups: HashMap<String, String>,
    /// A computer's index in the bundle's list (the first of its id).
    computers: HashMap<String, usize>,
    /// The positions of the policies each organization owns.
    positions: HashMap<String, BTreeSet<i64>>,
}

impl Places {
    /// The places of `bundle`'s entries.
    pub(crate) fn of(bundle: &Bundle) -> Places {
        let mut places = Places::default();
        for g in &bundle.groups {
            places
                .groups
                .entry(g.id.clone())
                .or_insert_with(|| g.organization.clone());
        }
        for (i, c) in bundle.computers.iter().enumerate() {
            places.computers.entry(c.id.clone()).or_insert(i);
        }
        for p in &bundle.policies {
            places.add_policy(bundle, p);
        }
        places
    }

    /// Computer `id` of `bundle` (the bundle these places were made of).
    pub(crate) fn computer<'b>(&self, bundle: &'b Bundle, id: &str) -> Option<&'b Computer> {
        self.computers
            .get(id)
            .and_then(|&i| bundle.computers.get(i))
    }

    /// The organization of group `id`.
    pub(crate) fn group_org(&self, id: &str) -> Option<&str> {
        self.groups.get(id).map(String::as_str)
    }

    /// The organization that owns a policy of `scope`: the organization it names, the
    /// group's, or the computer's group's.
    pub(crate) fn owner<'s>(&'s self, bundle: &Bundle, scope: &'s Scope) -> Option<&'s str> {
        match scope {
            Scope::Computer(c) => self
                .computer(bundle, c)
                .and_then(|k| self.group_org(&k.group)),
            Scope::Group(g) => self.group_org(g),
            Scope::Organization(o) | Scope::Global(o) => Some(o),
        }
    }

    /// The positions of the policies `org` owns.
    pub(crate) fn positions(&self, org: &str) -> impl Iterator<Item = i64> + '_ {
        self.positions.get(org).into_iter().flatten().copied()
    }

    /// Whether position `position` is taken in `org`.
    pub(crate) fn taken(&self, org: &str, position: i64) -> bool {
        self.positions
            .get(org)
            .is_some_and(|taken| taken.contains(&position))
    }

    /// Notes policy `policy`, added to `bundle`.
    pub(crate) fn add_policy(&mut self, bundle: &Bundle, policy: &Policy) {
        if let Some(owner) = self.owner(bundle, &policy.scope).map(str::to_owned) {
            self.positions
                .entry(owner)
                .or_default()
                .insert(policy.position);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn places_answer_as_a_scan_of_the_bundle_does() {
        let bundle =
            portcullis_engine::parse(include_str!("../../../examples/bundle.json")).unwrap();
        let places = Places::of(&bundle);
        for c in &bundle.computers {
            assert_eq!(places.computer(&bundle, &c.id), Some(c));
        }
        assert!(places.computer(&bundle, "nowhere").is_none());
        for org in &bundle.organizations {
            let scanned: BTreeSet<i64> = bundle
                .policies
                .iter()
                .filter(|p| crate::edits::owner_of(&bundle, &p.scope).as_deref() == Some(&org.id))
                .map(|p| p.position)
                .collect();
            assert_eq!(places.positions(&org.id).collect::<BTreeSet<_>>(), scanned);
            for p in &scanned {
                assert!(places.taken(&org.id, *p));
            }
        }
        for p in &bundle.policies {
            assert_eq!(
                places.owner(&bundle, &p.scope).map(str::to_owned),
                crate::edits::owner_of(&bundle, &p.scope)
            );
        }
    }
}
