//! Bundle versions stored as changes: a version is either a whole bundle or the
//! difference from the version before it, entry by entry (the entries added or
//! replaced, and the ids removed, of each list). An approval adds an application and a
//! policy: its version is a few hundred bytes, whatever the size of the tenancy. A
//! whole bundle is stored now and then ([`WHOLE_SHARE`]), so that reading a version
//! replays a bounded amount of changes.

use std::collections::{HashMap, HashSet};

use portcullis_engine::model::{Application, Computer, ComputerGroup, Organization, Policy};
use portcullis_engine::Bundle;
use serde::{Deserialize, Serialize};

/// A whole bundle is stored when the changes since the last one would add up to more
/// than this share of its size: reading a version then costs at most about 1 + 1/4
/// whole bundles, and an approval's version is its change alone (a few hundred bytes)
/// whatever the size of the tenancy.
pub(crate) const WHOLE_SHARE: i64 = 4;

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

/// Puts `applications` and `policies` into `bundle` as a version storing them does:
/// each replaces the entry of its id, or is appended.
pub(crate) fn put_entries(bundle: &mut Bundle, applications: &[Application], policies: &[Policy]) {
    VersionChange::puts(applications, policies).apply(bundle);
}

/// A list being changed, with its ids' places, made when first needed and dropped
/// when entries are removed: replaying many changes builds it once, not per change.
struct Indexed<'a, T> {
    list: &'a mut Vec<T>,
    at: Option<HashMap<String, usize>>,
    /// Many changes follow: index the list rather than search it.
    many: bool,
}

impl<'a, T: Entry> Indexed<'a, T> {
    fn new(list: &'a mut Vec<T>, many: bool) -> Self {
        Indexed {
            list,
            at: None,
            many,
        }
    }

    fn apply(&mut self, change: &ListChange<T>) {
        if !change.removed.is_empty() {
            let removed: HashSet<&str> = change.removed.iter().map(String::as_str).collect();
            self.list.retain(|e| !removed.contains(e.id()));
            self.at = None;
        }
        if change.put.is_empty() {
            return;
        }
        // A few entries of one change (an approval's): looked up one by one, without
        // indexing the whole list.
        let few = !self.many && change.put.len() <= 4;
        if !few && self.at.is_none() {
            self.at = Some(
                self.list
                    .iter()
                    .enumerate()
                    .map(|(i, e)| (e.id().to_owned(), i))
                    .collect(),
            );
        }
        for entry in &change.put {
            let place = match &self.at {
                Some(at) => at.get(entry.id()).copied(),
                None => self.list.iter().position(|e| e.id() == entry.id()),
            };
            match place.and_then(|i| self.list.get_mut(i)) {
                Some(slot) => *slot = entry.clone(),
                None => {
                    if let Some(at) = &mut self.at {
                        at.insert(entry.id().to_owned(), self.list.len());
                    }
                    self.list.push(entry.clone());
                }
            }
        }
    }
}

/// Lists of a bundle being changed, version after version.
struct Replay<'a> {
    organizations: Indexed<'a, Organization>,
    groups: Indexed<'a, ComputerGroup>,
    computers: Indexed<'a, Computer>,
    applications: Indexed<'a, Application>,
    policies: Indexed<'a, Policy>,
}

impl<'a> Replay<'a> {
    fn new(bundle: &'a mut Bundle, many: bool) -> Self {
        Replay {
            organizations: Indexed::new(&mut bundle.organizations, many),
            groups: Indexed::new(&mut bundle.groups, many),
            computers: Indexed::new(&mut bundle.computers, many),
            applications: Indexed::new(&mut bundle.applications, many),
            policies: Indexed::new(&mut bundle.policies, many),
        }
    }

    fn apply(&mut self, change: &VersionChange) {
        self.organizations.apply(&change.organizations);
        self.groups.apply(&change.groups);
        self.computers.apply(&change.computers);
        self.applications.apply(&change.applications);
        self.policies.apply(&change.policies);
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

    /// The change that puts `applications` and `policies`: each replaces the entry
    /// of its id, or is appended.
    pub(crate) fn puts(applications: &[Application], policies: &[Policy]) -> VersionChange {
        VersionChange {
            applications: ListChange {
                put: applications.to_vec(),
                removed: Vec::new(),
            },
            policies: ListChange {
                put: policies.to_vec(),
                removed: Vec::new(),
            },
            ..VersionChange::default()
        }
    }

    /// The applications and policies the change puts, when that is all it does (an
    /// approval's or a suggestion's version); `None` when it changes anything else.
    pub(crate) fn puts_only(self) -> Option<(Vec<Application>, Vec<Policy>)> {
        let other = [
            self.organizations.put.is_empty() && self.organizations.removed.is_empty(),
            self.groups.put.is_empty() && self.groups.removed.is_empty(),
            self.computers.put.is_empty() && self.computers.removed.is_empty(),
            self.applications.removed.is_empty(),
            self.policies.removed.is_empty(),
        ];
        other
            .iter()
            .all(|&none| none)
            .then_some((self.applications.put, self.policies.put))
    }

    /// Makes the next version of `bundle`, in place.
    pub(crate) fn apply(&self, bundle: &mut Bundle) {
        Replay::new(bundle, false).apply(self);
    }

    /// Makes the version after `changes` of `bundle`, in place, indexing each list
    /// once for all of them.
    pub(crate) fn replay<'c>(bundle: &mut Bundle, changes: impl IntoIterator<Item = &'c Self>) {
        let mut replay = Replay::new(bundle, true);
        for change in changes {
            replay.apply(change);
        }
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
