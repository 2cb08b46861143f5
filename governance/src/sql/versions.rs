//! Bundle versions stored as changes: a version is either a whole bundle or the
//! difference from the version before it, entry by entry (the entries added or
//! replaced, and the ids removed, of each list). An approval adds an application and a
//! policy: its version is a few hundred bytes, whatever the size of the tenancy. A
//! whole bundle is stored now and then, so that reading a version replays a bounded
//! number of changes.

use std::collections::{HashMap, HashSet};

use portcullis_engine::model::{Application, Computer, ComputerGroup, Organization, Policy};
use portcullis_engine::Bundle;
use serde::{Deserialize, Serialize};

/// At most this many changes follow a whole bundle before the next whole one.
pub(crate) const CHANGES_PER_SNAPSHOT: i64 = 64;

/// An entry of a bundle's list, by its id.
trait Entry: Clone + PartialEq {
    fn id(&self) -> &str;
}

macro_rules! entries {
    ($($t:ty),*) => {$(
        impl Entry for $t {
            fn id(&self) -> &str {
                &self.id
            }
        }
    )*};
}
entries!(Organization, ComputerGroup, Computer, Application, Policy);

/// The change of one list: what was added or replaced (in the order of the new list),
/// and the ids removed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound = "T: Serialize + serde::de::DeserializeOwned")]
pub(crate) struct ListChange<T> {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    put: Vec<T>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    removed: Vec<String>,
}

impl<T> Default for ListChange<T> {
    fn default() -> Self {
        ListChange {
            put: Vec::new(),
            removed: Vec::new(),
        }
    }
}

/// How one bundle version differs from the one before it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub(crate) struct VersionChange {
    #[serde(default)]
    organizations: ListChange<Organization>,
    #[serde(default)]
    groups: ListChange<ComputerGroup>,
    #[serde(default)]
    computers: ListChange<Computer>,
    #[serde(default)]
    applications: ListChange<Application>,
    #[serde(default)]
    policies: ListChange<Policy>,
}

/// The change of a list from `old` to `new`, when applying it to `old` gives exactly
/// `new` (entries kept in place, replaced in place, new ones appended); `None` when it
/// does not (the list was reordered, or ids repeat).
fn list_change<T: Entry>(old: &[T], new: &[T]) -> Option<ListChange<T>> {
    let in_old: HashMap<&str, &T> = old.iter().map(|e| (e.id(), e)).collect();
    let in_new: HashSet<&str> = new.iter().map(Entry::id).collect();
    if in_old.len() != old.len() || in_new.len() != new.len() {
        return None;
    }
    let removed = old
        .iter()
        .map(Entry::id)
        .filter(|id| !in_new.contains(id))
        .map(str::to_owned)
        .collect();
    // Applying keeps the old order of what stays, then appends what is new.
    let kept = old.iter().map(Entry::id).filter(|id| in_new.contains(id));
    let added = new
        .iter()
        .map(Entry::id)
        .filter(|id| !in_old.contains_key(id));
    if !kept.chain(added).eq(new.iter().map(Entry::id)) {
        return None;
    }
    let put = new
        .iter()
        .filter(|e| in_old.get(e.id()).is_none_or(|o| *o != *e))
        .cloned()
        .collect();
    Some(ListChange { put, removed })
}

fn apply_list<T: Entry>(list: &mut Vec<T>, change: &ListChange<T>) {
    if !change.removed.is_empty() {
        let removed: HashSet<&str> = change.removed.iter().map(String::as_str).collect();
        list.retain(|e| !removed.contains(e.id()));
    }
    if change.put.is_empty() {
        return;
    }
    let at: HashMap<String, usize> = list
        .iter()
        .enumerate()
        .map(|(i, e)| (e.id().to_owned(), i))
        .collect();
    for entry in &change.put {
        match at.get(entry.id()).and_then(|&i| list.get_mut(i)) {
            Some(slot) => *slot = entry.clone(),
            None => list.push(entry.clone()),
        }
    }
}

impl VersionChange {
    /// The change from `old` to `new`, when it reproduces `new` exactly.
    pub(crate) fn between(old: &Bundle, new: &Bundle) -> Option<VersionChange> {
        if old.format != new.format {
            return None;
        }
        Some(VersionChange {
            organizations: list_change(&old.organizations, &new.organizations)?,
            groups: list_change(&old.groups, &new.groups)?,
            computers: list_change(&old.computers, &new.computers)?,
            applications: list_change(&old.applications, &new.applications)?,
            policies: list_change(&old.policies, &new.policies)?,
        })
    }

    /// Makes the next version of `bundle`, in place.
    pub(crate) fn apply(&self, bundle: &mut Bundle) {
        apply_list(&mut bundle.organizations, &self.organizations);
        apply_list(&mut bundle.groups, &self.groups);
        apply_list(&mut bundle.computers, &self.computers);
        apply_list(&mut bundle.applications, &self.applications);
        apply_list(&mut bundle.policies, &self.policies);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::VersionChange;

    fn example() -> portcullis_engine::Bundle {
        portcullis_engine::parse(include_str!("../../../examples/bundle.json")).unwrap()
    }

    #[test]
    fn a_change_reproduces_the_new_bundle_or_is_not_made() {
        let old = example();
        let mut new = old.clone();
        new.policies.push(new.policies[0].clone());
        new.policies.last_mut().unwrap().id = "added".into();
        new.applications[0].name = "renamed".into();
        new.computers.remove(1);
        let change = VersionChange::between(&old, &new).unwrap();
        assert_eq!(change.policies.put.len(), 1);
        assert_eq!(change.applications.put.len(), 1);
        assert_eq!(change.computers.removed.len(), 1);
        let mut rebuilt = old.clone();
        change.apply(&mut rebuilt);
        assert_eq!(rebuilt, new);
        // Stored and read back.
        let text = serde_json::to_string(&change).unwrap();
        let read: VersionChange = serde_json::from_str(&text).unwrap();
        assert_eq!(read, change);
        // Reordered: not expressible as a change; the whole bundle is stored instead.
        let mut reordered = old.clone();
        reordered.policies.reverse();
        assert!(VersionChange::between(&old, &reordered).is_none());
        // Nothing changed: an empty change.
        let same = VersionChange::between(&old, &old).unwrap();
        assert_eq!(same, VersionChange::default());
    }
}
