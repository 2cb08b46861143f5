//! Where each computer and group of the bundle sits, and which positions each
//! organization's policies take: the lookups filings, approvals and the Approval
//! Center make on every call, kept beside the bundle so that none of them scans the
//! tenancy (100,000 computers on the large one).

use std::collections::{BTreeSet, HashMap};

use portcullis_engine::model::{Application, Computer, Policy, Scope};
use portcullis_engine::{Bundle, BundleChange};

/// The places of a bundle's computers, groups and policies.
#[derive(Debug, Default)]
pub(crate) struct Places {
    /// A group's organization.
    groups: HashMap<String, String>,
    /// A computer's index in the bundle's list (the first of its id).
    computers: HashMap<String, usize>,
    /// The positions of the policies each organization owns.
    positions: HashMap<String, BTreeSet<i64>>,
    /// Each organization's entries, by their indices in the bundle's lists.
    members: HashMap<String, Members>,
}

/// An organization's entries: indices into the bundle's lists, in list order.
#[derive(Debug, Default)]
struct Members {
    organization: Vec<usize>,
    groups: Vec<usize>,
    computers: Vec<usize>,
    applications: Vec<usize>,
    policies: Vec<usize>,
}

impl Places {
    /// The places of `bundle`'s entries.
    pub(crate) fn of(bundle: &Bundle) -> Places {
        let mut places = Places::default();
        for (i, o) in bundle.organizations.iter().enumerate() {
            places.member(&o.id).organization.push(i);
        }
        for (i, g) in bundle.groups.iter().enumerate() {
            places
                .groups
                .entry(g.id.clone())
                .or_insert_with(|| g.organization.clone());
            places.member(&g.organization).groups.push(i);
        }
        for (i, c) in bundle.computers.iter().enumerate() {
            places.computers.entry(c.id.clone()).or_insert(i);
            if let Some(org) = places.group_org(&c.group).map(str::to_owned) {
                places.member(&org).computers.push(i);
            }
        }
        for (i, a) in bundle.applications.iter().enumerate() {
            places.member(&a.organization).applications.push(i);
        }
        for (i, p) in bundle.policies.iter().enumerate() {
            places.add_policy(bundle, p, i);
        }
        places
    }

    fn member(&mut self, org: &str) -> &mut Members {
        self.members.entry(org.to_owned()).or_default()
    }

    /// The change that makes organizations `owners` what they are in `bundle`, as
    /// [`BundleChange::organizations`] makes it, from these places: what it costs is
    /// what those organizations hold, not what the tenancy holds.
    pub(crate) fn change(&self, bundle: &Bundle, owners: &[&str]) -> BundleChange {
        let mut orgs: Vec<&Members> = Vec::new();
        let mut removed = Vec::new();
        let mut seen: Vec<&str> = Vec::new();
        for owner in owners {
            if seen.contains(owner) {
                continue;
            }
            seen.push(owner);
            match self.members.get(*owner) {
                Some(m) if !m.organization.is_empty() => orgs.push(m),
                _ => removed.push((*owner).to_owned()),
            }
        }
        fn pick<T: Clone>(list: &[T], orgs: &[&Members], at: fn(&Members) -> &[usize]) -> Vec<T> {
            let mut indices: Vec<usize> = orgs.iter().flat_map(|m| at(m).iter().copied()).collect();
            indices.sort_unstable();
            indices.dedup();
            indices
                .iter()
                .filter_map(|&i| list.get(i).cloned())
                .collect()
        }
        let mut entries = Bundle::new();
        entries.format = bundle.format.clone();
        entries.organizations = pick(&bundle.organizations, &orgs, |m| &m.organization);
        entries.groups = pick(&bundle.groups, &orgs, |m| &m.groups);
        entries.computers = pick(&bundle.computers, &orgs, |m| &m.computers);
        entries.applications = pick(&bundle.applications, &orgs, |m| &m.applications);
        entries.policies = pick(&bundle.policies, &orgs, |m| &m.policies);
        removed.sort();
        removed.dedup();
        let mut change = BundleChange::new(entries);
        change.removed = removed;
        change
    }

    /// Notes application `application`, the `index`th of the bundle's list.
    pub(crate) fn add_application(&mut self, application: &Application, index: usize) {
        let member = self.member(&application.organization);
        if !member.applications.contains(&index) {
            member.applications.push(index);
        }
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

    /// Notes policy `policy`, the `index`th of `bundle`'s list.
    pub(crate) fn add_policy(&mut self, bundle: &Bundle, policy: &Policy, index: usize) {
        if let Some(owner) = self.owner(bundle, &policy.scope).map(str::to_owned) {
            self.positions
                .entry(owner.clone())
                .or_default()
                .insert(policy.position);
            self.member(&owner).policies.push(index);
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
        let ids: Vec<&str> = bundle.organizations.iter().map(|o| o.id.as_str()).collect();
        for n in 0..ids.len() {
            let some = [ids[n], ids[(n + 2) % ids.len()], "gone"];
            assert_eq!(
                places.change(&bundle, &some),
                BundleChange::organizations(&bundle, &some)
            );
        }
    }
}
