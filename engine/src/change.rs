//! A change to some organizations of a deployed bundle: what an approval, a
//! maintenance mode or an edit of one customer's policies makes. Deploying a change
//! ([`Engine::deploy_change`](crate::Engine::deploy_change)) costs what the changed
//! organizations cost, not what the tenancy costs.

use rustc_hash::{FxHashMap, FxHashSet};

use crate::model::{Bundle, Scope};

/// The new entries of some organizations, and the organizations removed.
///
/// Each organization in `entries` replaces the deployed organization of the same id —
/// all of whose groups, computers, applications and policies are dropped — or is added.
/// Every other entry of `entries` must belong to one of those organizations. The result
/// is validated exactly as the bundle it makes ([`BundleChange::apply`]) would be, and
/// error paths name places in `entries` (`policies[0]` is the change's first policy).
///
/// ```
/// use portcullis_engine::{BundleChange, Engine};
///
/// let mut bundle: portcullis_engine::Bundle =
///     serde_json::from_str(include_str!("../../examples/bundle.json"))?;
/// let engine = Engine::new(&bundle)?;
/// bundle.organizations[1].name = "Lakeside Dental (renamed)".to_owned();
/// let change = BundleChange::organizations(&bundle, &[bundle.organizations[1].id.as_str()]);
/// let deployed = engine.deploy_change(&change)?;
/// assert_eq!(deployed.stats.recompiled, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct BundleChange {
    /// The changed and added organizations with everything they own, as they should
    /// now be. Its `format` must be the bundle format.
    pub entries: Bundle,
    /// Organizations removed, with everything they own.
    pub removed: Vec<String>,
}

/// Which organization each entry of a bundle belongs to, as the entry names it (a
/// computer through its group, a policy through its scope); `None` when the name
/// leads nowhere.
struct Owners<'a> {
    groups: Vec<&'a str>,
    computers: Vec<Option<&'a str>>,
    applications: Vec<&'a str>,
    policies: Vec<Option<&'a str>>,
}

impl<'a> Owners<'a> {
    fn of(bundle: &'a Bundle) -> Owners<'a> {
        let mut group_org: FxHashMap<&str, &str> = FxHashMap::default();
        for g in &bundle.groups {
            group_org.entry(&g.id).or_insert(&g.organization);
        }
        let mut computer_group: FxHashMap<&str, &str> = FxHashMap::default();
        for c in &bundle.computers {
            computer_group.entry(&c.id).or_insert(&c.group);
        }
        let group = |id: &str| group_org.get(id).copied();
        Owners {
            groups: bundle
                .groups
                .iter()
                .map(|g| g.organization.as_str())
                .collect(),
            computers: bundle.computers.iter().map(|c| group(&c.group)).collect(),
            applications: bundle
                .applications
                .iter()
                .map(|a| a.organization.as_str())
                .collect(),
            policies: bundle
                .policies
                .iter()
                .map(|p| match &p.scope {
                    Scope::Computer(c) => computer_group.get(c.as_str()).and_then(|g| group(g)),
                    Scope::Group(g) => group(g),
                    Scope::Organization(o) | Scope::Global(o) => Some(o.as_str()),
                })
                .collect(),
        }
    }
}

fn some<'a>(list: &[&'a str]) -> Vec<Option<&'a str>> {
    list.iter().map(|o| Some(*o)).collect()
}

/// Keeps the entries of `list` whose owner passes `keep`.
fn filter<T: Clone>(
    list: &[T],
    owners: &[Option<&str>],
    keep: impl Fn(Option<&str>) -> bool,
) -> Vec<T> {
    list.iter()
        .zip(owners)
        .filter(|(_, owner)| keep(**owner))
        .map(|(entry, _)| entry.clone())
        .collect()
}

/// The organizations of `bundle` that pass `keep_org`, and its other entries whose
/// owner passes `keep`.
fn kept(
    bundle: &Bundle,
    keep_org: impl Fn(&str) -> bool,
    keep: impl Fn(Option<&str>) -> bool + Copy,
) -> Bundle {
    let owners = Owners::of(bundle);
    Bundle {
        format: bundle.format.clone(),
        organizations: bundle
            .organizations
            .iter()
            .filter(|o| keep_org(&o.id))
            .cloned()
            .collect(),
        groups: filter(&bundle.groups, &some(&owners.groups), keep),
        computers: filter(&bundle.computers, &owners.computers, keep),
        applications: filter(&bundle.applications, &some(&owners.applications), keep),
        policies: filter(&bundle.policies, &owners.policies, keep),
    }
}

/// The change holding organizations `orgs` of `bundle` and the other entries whose
/// owner passes `keep`, removing organizations `removed`.
fn select(
    bundle: &Bundle,
    orgs: &FxHashSet<&str>,
    keep: impl Fn(Option<&str>) -> bool + Copy,
    removed: Vec<String>,
) -> BundleChange {
    BundleChange {
        entries: kept(bundle, |id| orgs.contains(id), keep),
        removed,
    }
}

impl BundleChange {
    /// A change adding or replacing the organizations in `entries`.
    pub fn new(entries: Bundle) -> BundleChange {
        BundleChange {
            entries,
            removed: Vec::new(),
        }
    }

    /// The change that makes organizations `ids` what they are in `bundle`: their
    /// entries there, and removed if `bundle` does not have them.
    pub fn organizations(bundle: &Bundle, ids: &[&str]) -> BundleChange {
        let wanted: FxHashSet<&str> = ids.iter().copied().collect();
        let keep = |owner: Option<&str>| owner.is_some_and(|o| wanted.contains(o));
        let present: FxHashSet<&str> = bundle.organizations.iter().map(|o| o.id.as_str()).collect();
        let mut removed: Vec<String> = ids
            .iter()
            .filter(|id| !present.contains(**id))
            .map(|id| (*id).to_owned())
            .collect();
        removed.dedup();
        select(bundle, &wanted, keep, removed)
    }

    /// The change from bundle `old` to bundle `new`: the organizations whose entries
    /// differ (added and removed ones included), with their entries in `new`. Entries
    /// of `new` that lead to no organization are kept in the change, so that deploying
    /// it reports them as deploying `new` would.
    pub fn between(old: &Bundle, new: &Bundle) -> BundleChange {
        /// One organization's entries, borrowed, in bundle order.
        #[derive(Default, PartialEq)]
        struct Held<'a> {
            organization: Vec<&'a crate::model::Organization>,
            groups: Vec<&'a crate::model::ComputerGroup>,
            computers: Vec<&'a crate::model::Computer>,
            applications: Vec<&'a crate::model::Application>,
            policies: Vec<&'a crate::model::Policy>,
        }
        fn held(bundle: &Bundle) -> FxHashMap<&str, Held<'_>> {
            let owners = Owners::of(bundle);
            let mut out: FxHashMap<&str, Held<'_>> = FxHashMap::default();
            for o in &bundle.organizations {
                out.entry(&o.id).or_default().organization.push(o);
            }
            for (g, owner) in bundle.groups.iter().zip(&owners.groups) {
                out.entry(owner).or_default().groups.push(g);
            }
            for (c, owner) in bundle.computers.iter().zip(&owners.computers) {
                if let Some(owner) = owner {
                    out.entry(owner).or_default().computers.push(c);
                }
            }
            for (a, owner) in bundle.applications.iter().zip(&owners.applications) {
                out.entry(owner).or_default().applications.push(a);
            }
            for (p, owner) in bundle.policies.iter().zip(&owners.policies) {
                if let Some(owner) = owner {
                    out.entry(owner).or_default().policies.push(p);
                }
            }
            out
        }
        let (before, after) = (held(old), held(new));
        let empty = Held::default();
        let mut changed: FxHashSet<&str> = FxHashSet::default();
        for id in before.keys().chain(after.keys()) {
            if before.get(id).unwrap_or(&empty) != after.get(id).unwrap_or(&empty) {
                changed.insert(id);
            }
        }
        let keep = |owner: Option<&str>| owner.is_none_or(|o| changed.contains(o));
        let mut removed: Vec<String> = old
            .organizations
            .iter()
            .map(|o| o.id.as_str())
            .filter(|id| {
                changed.contains(id) && after.get(id).is_none_or(|h| h.organization.is_empty())
            })
            .map(str::to_owned)
            .collect();
        removed.sort();
        removed.dedup();
        select(new, &changed, keep, removed)
    }

    /// Whether the change changes nothing.
    pub fn is_empty(&self) -> bool {
        let e = &self.entries;
        self.removed.is_empty()
            && e.organizations.is_empty()
            && e.groups.is_empty()
            && e.computers.is_empty()
            && e.applications.is_empty()
            && e.policies.is_empty()
    }

    /// The ids of the organizations the change adds, replaces or removes, sorted.
    pub fn organization_ids(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = self
            .entries
            .organizations
            .iter()
            .map(|o| o.id.as_str())
            .chain(self.removed.iter().map(String::as_str))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// The bundle the change makes of `bundle`: every entry of the organizations it
    /// replaces or removes dropped, then the change's entries appended, list by list.
    /// Deploying the change and deploying this bundle give the same decisions, and the
    /// same errors once each path into the appended entries is taken back to the
    /// change (`policies[N + 0]` is the change's `policies[0]`).
    pub fn apply(&self, bundle: &Bundle) -> Bundle {
        let gone: FxHashSet<&str> = self
            .entries
            .organizations
            .iter()
            .map(|o| o.id.as_str())
            .chain(self.removed.iter().map(String::as_str))
            .collect();
        let keep = |owner: Option<&str>| owner.is_none_or(|o| !gone.contains(o));
        let mut out = kept(bundle, |id| !gone.contains(id), keep);
        out.format = self.entries.format.clone();
        let e = &self.entries;
        out.organizations.extend(e.organizations.iter().cloned());
        out.groups.extend(e.groups.iter().cloned());
        out.computers.extend(e.computers.iter().cloned());
        out.applications.extend(e.applications.iter().cloned());
        out.policies.extend(e.policies.iter().cloned());
        out
    }
}
