//! What a deploy changes, entry by entry, and who may change it (SPEC §8): each added,
//! changed or removed entry needs the permission that governs its kind on the
//! organizations it touches, in the current tree and in the new one; publishing needs
//! Edit or View Organizations on every changed organization; and a policy never comes
//! before an ancestor's global policies unless the actor may edit that ancestor's
//! policies.

use std::collections::{BTreeMap, BTreeSet};

use portcullis_engine::model::{Policy, Scope};
use portcullis_engine::Bundle;

use crate::access::{Act, Holdings, OrgTree};
use crate::error::Error;

/// The organization that owns a policy of `bundle` with this scope: a computer's or
/// group's organization, or the organization named.
pub(crate) fn owner_of(bundle: &Bundle, scope: &Scope) -> Option<String> {
    let group_org = |group: &str| {
        bundle
            .groups
            .iter()
            .find(|g| g.id == group)
            .map(|g| g.organization.clone())
    };
    match scope {
        Scope::Computer(c) => bundle
            .computers
            .iter()
            .find(|k| &k.id == c)
            .and_then(|k| group_org(&k.group)),
        Scope::Group(g) => group_org(g),
        Scope::Organization(o) | Scope::Global(o) => Some(o.clone()),
    }
}

/// `(kind, id) → (act, owner, content)` for every entry of the listed kinds of a
/// bundle: each kind's list, the name of its kind, the act that governs it, and the
/// organization that owns an entry.
macro_rules! entries {
    ($bundle:expr; $($list:ident: $kind:literal, $act:ident, |$e:ident| $owner:expr;)*) => {{
        let mut out = BTreeMap::new();
        $(for $e in &$bundle.$list {
            out.insert(($kind, $e.id.as_str()), (Act::$act, $owner, text($e)));
        })*
        out
    }};
}

/// One side (current or new) of a deploy: its tree and, for every entry, the
/// organization that owns it.
struct Side<'a> {
    bundle: &'a Bundle,
    tree: OrgTree,
}

impl<'a> Side<'a> {
    fn new(bundle: &'a Bundle) -> Self {
        Side {
            bundle,
            tree: OrgTree::of(bundle),
        }
    }

    fn group_org(&self, group: &str) -> Option<String> {
        self.bundle
            .groups
            .iter()
            .find(|g| g.id == group)
            .map(|g| g.organization.clone())
    }

    /// Every entry as `(kind, id) → (act, owner, content)`; `content` compares entries.
    fn entries(&self) -> BTreeMap<(&'static str, &'a str), (Act, Option<String>, String)> {
        entries!(self.bundle;
            organizations: "organization", EditOrganizations, |o| Some(o.id.clone());
            groups: "group", EditComputerGroups, |g| Some(g.organization.clone());
            computers: "computer", EditComputers, |c| self.group_org(&c.group);
            applications: "application", EditApplications, |a| Some(a.organization.clone());
            policies: "policy", EditPolicies, |p| owner_of(self.bundle, &p.scope);
        )
    }
}

/// An entry's content, to compare the current and the new one.
fn text<T: serde::Serialize>(entry: &T) -> String {
    serde_json::to_string(entry).unwrap_or_default()
}

/// Checks that `holdings` may deploy `new` over `current`, and returns the
/// organizations whose entries change (sorted). Refused at the first entry the actor
/// may not change; nothing is changed then.
pub(crate) fn authorize_deploy(
    holdings: &Holdings,
    current: &Bundle,
    new: &Bundle,
) -> Result<Vec<String>, Error> {
    let (old, next) = (Side::new(current), Side::new(new));
    let (before, after) = (old.entries(), next.entries());
    let keys: BTreeSet<&(&str, &str)> = before.keys().chain(after.keys()).collect();
    let mut touched: BTreeSet<String> = BTreeSet::new();
    // Each check runs in both trees, wherever the organization exists: an entry cannot
    // be moved out of reach of the current tree's grants, nor into the actor's reach by
    // the new tree.
    let check = |act: Act, org: &str| -> Result<(), Error> {
        let mut found = false;
        for tree in [&old.tree, &next.tree] {
            if tree.contains(org) {
                found = true;
                holdings.check(tree, act, org)?;
            }
        }
        if !found {
            return Err(Error::invalid(
                "bundle",
                format!("organization `{org}` is in neither the current nor the new bundle"),
            ));
        }
        Ok(())
    };
    for key in keys {
        let (was, is) = (before.get(key), after.get(key));
        if was.map(|w| &w.2) == is.map(|i| &i.2) {
            continue;
        }
        let (kind, id) = *key;
        for (act, owner, _) in [was, is].into_iter().flatten() {
            if let Some(owner) = owner {
                touched.insert(owner.clone());
                if !(kind == "organization" && was.is_none()) {
                    check(*act, owner)?;
                }
            }
        }
        let (old_parent, new_parent) = (
            was.map(|_| old.tree.parent(id)),
            is.map(|_| next.tree.parent(id)),
        );
        // Adding, removing or moving an organization needs Edit Organizations where it
        // leaves and where it lands; its own settings need it on itself alone.
        if kind == "organization" && old_parent != new_parent {
            for parent in [old_parent, new_parent].into_iter().flatten() {
                match parent {
                    Some(parent) => {
                        touched.insert(parent.to_owned());
                        check(Act::EditOrganizations, parent)?;
                    }
                    // The whole tenancy: a new top-level organization, or one made
                    // top-level.
                    None => holdings.check_everywhere(&old.tree, Act::EditOrganizations)?,
                }
            }
        }
        if kind == "policy" {
            if let Some(policy) = new.policies.iter().find(|p| p.id == id) {
                check_position(&next, policy, &check)?;
            }
        }
    }
    if touched.is_empty() {
        return Err(Error::unchanged(
            "the bundle changes no entry of the one deployed",
        ));
    }
    for org in &touched {
        check(Act::Deploy, org)?;
    }
    Ok(touched.into_iter().collect())
}

/// A policy placed before one of its ancestors' global policies needs Edit Policies on
/// that ancestor (a tie goes to the ancestor, SPEC §4).
fn check_position(
    next: &Side<'_>,
    policy: &Policy,
    check: &impl Fn(Act, &str) -> Result<(), Error>,
) -> Result<(), Error> {
    let Some(owner) = owner_of(next.bundle, &policy.scope) else {
        return Ok(());
    };
    for ancestor in next.tree.lineage(&owner).skip(1) {
        let ahead = next.bundle.policies.iter().any(|p| {
            matches!(&p.scope, Scope::Global(o) if o == ancestor) && policy.position < p.position
        });
        if ahead {
            check(Act::EditPolicies, ancestor)?;
        }
    }
    Ok(())
}
