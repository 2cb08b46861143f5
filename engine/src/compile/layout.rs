//! Checks that hold across entries — unique ids, references, the organization tree,
//! positions — and splits the bundle into one plan per organization. The bundle is
//! borrowed: an organization's entries are cloned only when it must be compiled.
//!
//! The same checks run on a [`BundleChange`](crate::BundleChange): the change's
//! entries are laid out with the rest of the current snapshot ([`Rest`]) standing in
//! for the entries the change leaves alone, so a change is validated exactly as the
//! bundle it makes would be.

use rustc_hash::{FxHashMap, FxHashSet};

use super::error::{CompileError, EntryKind, ErrorKind};
use crate::compiled::{OrgSource, Partition, Tables, TenancyIds};
use crate::model::{
    Application, Bundle, Computer, ComputerGroup, Organization, Policy, Scope, BUNDLE_FORMAT,
};

/// Where each entry of an [`OrgSource`] stood in the bundle, for error paths.
#[derive(Debug, Default)]
pub(crate) struct SourceIndices {
    pub(crate) organization: usize,
    pub(crate) groups: Vec<usize>,
    pub(crate) computers: Vec<usize>,
    pub(crate) applications: Vec<usize>,
    pub(crate) policies: Vec<usize>,
}

/// A bundle's lists, borrowed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Lists<'a> {
    pub(crate) format: &'a str,
    pub(crate) organizations: &'a [Organization],
    pub(crate) groups: &'a [ComputerGroup],
    pub(crate) computers: &'a [Computer],
    pub(crate) applications: &'a [Application],
    pub(crate) policies: &'a [Policy],
}

impl<'a> Lists<'a> {
    pub(crate) fn of(bundle: &'a Bundle) -> Self {
        Lists {
            format: &bundle.format,
            organizations: &bundle.organizations,
            groups: &bundle.groups,
            computers: &bundle.computers,
            applications: &bundle.applications,
            policies: &bundle.policies,
        }
    }
}

/// One organization's place in the tree and what it owns.
#[derive(Debug)]
pub(crate) struct OrgPlan {
    /// The organization's index in the compiled tables.
    pub(crate) at: u32,
    pub(crate) indices: SourceIndices,
    /// Itself first, then its parent, up to the root (indices in the tables).
    pub(crate) chain: Vec<u32>,
}

impl OrgPlan {
    /// The organization's entries, cloned out of the bundle.
    pub(crate) fn source(&self, lists: Lists<'_>) -> OrgSource {
        // Sized up front: collected through `filter_map` the vector would grow by
        // doubling and keep up to half its room unused for the snapshot's life.
        fn pick<T: Clone>(list: &[T], at: &[usize]) -> Vec<T> {
            let mut picked = Vec::with_capacity(at.len());
            picked.extend(at.iter().filter_map(|&n| list.get(n).cloned()));
            picked
        }
        OrgSource {
            organization: lists
                .organizations
                .get(self.indices.organization)
                .cloned()
                .unwrap_or_else(|| Organization {
                    id: String::new(),
                    name: String::new(),
                    parent: None,
                    default_deny: None,
                }),
            groups: pick(lists.groups, &self.indices.groups),
            computers: pick(lists.computers, &self.indices.computers),
            applications: pick(lists.applications, &self.indices.applications),
            policies: pick(lists.policies, &self.indices.policies),
        }
    }

    /// Whether the organization's entries equal those `partition` was compiled from,
    /// without cloning them.
    pub(crate) fn same_as(&self, lists: Lists<'_>, partition: &Partition) -> bool {
        fn same<T: PartialEq>(list: &[T], at: &[usize], other: &[T]) -> bool {
            at.len() == other.len()
                && at
                    .iter()
                    .zip(other)
                    .all(|(&n, entry)| list.get(n) == Some(entry))
        }
        let source = &partition.source;
        lists.organizations.get(self.indices.organization) == Some(&source.organization)
            && same(lists.groups, &self.indices.groups, &source.groups)
            && same(lists.computers, &self.indices.computers, &source.computers)
            && self.indices.applications.len() == source.applications.len()
            && (0u32..).zip(&self.indices.applications).all(|(local, &n)| {
                lists
                    .applications
                    .get(n)
                    .is_some_and(|app| partition.same_application(local, app))
            })
            && same(lists.policies, &self.indices.policies, &source.policies)
    }
}

/// The bundle, split by organization, in bundle order.
#[derive(Debug, Default)]
pub(crate) struct Layout {
    pub(crate) orgs: Vec<OrgPlan>,
}

/// How deep the organization tree may go. Every decision walks a computer's ancestors,
/// so the depth is bounded; real MSP trees are a handful of levels.
pub(crate) const MAX_DEPTH: usize = 32;

/// The organizations of the current snapshot that a change leaves as they are, and
/// the ids they hold.
pub(crate) struct Rest<'a> {
    pub(crate) tables: &'a Tables,
    pub(crate) ids: &'a TenancyIds,
    /// Tables indices of the organizations the change replaces.
    pub(crate) replaced: &'a FxHashSet<u32>,
}

impl Rest<'_> {
    /// The index of an organization the change does not replace.
    fn kept(&self, org: Option<&u32>) -> Option<u32> {
        org.copied().filter(|o| !self.replaced.contains(o))
    }

    fn org(&self, id: &str) -> Option<u32> {
        self.kept(self.ids.orgs.get(id))
    }

    fn org_id(&self, at: u32) -> &str {
        self.tables
            .orgs
            .get(at as usize)
            .map(|node| node.partition.source.organization.id.as_str())
            .unwrap_or_default()
    }

    fn chain(&self, at: u32) -> &[u32] {
        self.tables
            .orgs
            .get(at as usize)
            .map(|node| &*node.chain)
            .unwrap_or_default()
    }

    /// The organization that holds an id of this kind, unless the change replaces it.
    fn holder(&self, entry: EntryKind, id: &str) -> Option<u32> {
        match entry {
            EntryKind::Organization => self.org(id),
            EntryKind::Group => self.kept(self.ids.groups.get(id)),
            EntryKind::Computer => {
                self.kept(self.tables.computers.get(id.as_bytes()).map(|loc| &loc.org))
            }
            EntryKind::Application => self.kept(self.ids.applications.get(id)),
            EntryKind::Policy => self.kept(self.ids.policies.get(id)),
            EntryKind::Bundle => None,
        }
    }

    /// Why an entry of a change may not name `id`, an entry of kind `what` that
    /// belongs to organization `at`, which the change leaves alone.
    fn outside(&self, what: &str, id: &str, at: u32) -> String {
        if what == "organization" || what == "global" {
            format!("organization `{id}` is not one of the organizations this change replaces")
        } else {
            format!(
                "{what} `{id}` belongs to organization `{}`, which is not one of the organizations this change replaces",
                self.org_id(at)
            )
        }
    }
}

fn err(kind: ErrorKind, entry: EntryKind, id: &str, path: String, message: String) -> CompileError {
    CompileError::new(kind, entry, Some(id), path, message)
}

/// Ids must be non-empty and printable: they appear in logs, links and messages.
fn check_id(
    id: &str,
    entry: EntryKind,
    path: impl Fn() -> String,
    errors: &mut Vec<CompileError>,
) -> bool {
    let problem = if id.trim().is_empty() {
        Some("the id is empty")
    } else if id.chars().any(char::is_control) {
        Some("the id contains a control character")
    } else {
        None
    };
    if let Some(problem) = problem {
        errors.push(err(
            ErrorKind::Invalid,
            entry,
            id,
            format!("{}.id", path()),
            problem.to_owned(),
        ));
    }
    problem.is_none()
}

/// One kind of entry, for messages and paths.
struct Kind {
    /// The bundle's list, e.g. `groups`.
    list: &'static str,
    entry: EntryKind,
    noun: &'static str,
    /// The kind of entry that owns it, for looking the owner up outside a change.
    owner: EntryKind,
}

/// Files entries that name their owner by id: checks each id, rejects duplicates,
/// resolves the owner in `owners` (the key and the id come from `fields`), and hands
/// each good entry to `file` with its organization (plan index) and bundle index.
/// Returns each entry's organization by id.
fn place<'a, T>(
    entries: &'a [T],
    kind: Kind,
    fields: impl Fn(&'a T) -> (&'a str, &'static str, &'a str),
    owners: &FxHashMap<&'a str, u32>,
    rest: Option<&Rest<'_>>,
    errors: &mut Vec<CompileError>,
    mut file: impl FnMut(u32, usize),
) -> FxHashMap<&'a str, u32> {
    let mut placed: FxHashMap<&'a str, u32> = FxHashMap::default();
    placed.reserve(entries.len());
    for (n, entry) in entries.iter().enumerate() {
        let path = || format!("{}[{n}]", kind.list);
        let (id, key, owner) = fields(entry);
        if !check_id(id, kind.entry, path, errors) {
            continue;
        }
        let taken = placed.contains_key(id)
            || rest.is_some_and(|rest| rest.holder(kind.entry, id).is_some());
        if taken {
            let message = format!("another {} already has the id `{id}`", kind.noun);
            errors.push(err(
                ErrorKind::Duplicate,
                kind.entry,
                id,
                format!("{}.id", path()),
                message,
            ));
            continue;
        }
        let Some(&org) = owners.get(owner) else {
            // Not an organization of this layout: one a change leaves alone, or none.
            let outside = rest.and_then(|rest| {
                rest.holder(kind.owner, owner)
                    .map(|at| rest.outside(key, owner, at))
            });
            let message = outside.unwrap_or_else(|| format!("unknown {key} `{owner}`"));
            errors.push(err(
                ErrorKind::Reference,
                kind.entry,
                id,
                format!("{}.{key}", path()),
                message,
            ));
            continue;
        };
        placed.insert(id, org);
        file(org, n);
    }
    placed
}

/// Where a parent was found.
#[derive(Clone, Copy)]
enum Parent {
    None,
    /// An organization of this layout (plan index).
    Here(u32),
    /// An organization outside the change (tables index).
    Outside(u32),
}

/// Lays out a bundle, or a change's entries beside the `rest` of the tenancy. Plans
/// of organizations that already exist in `rest`'s tables keep their index there;
/// new ones follow the last.
pub(crate) fn build(
    lists: Lists<'_>,
    rest: Option<&Rest<'_>>,
    errors: &mut Vec<CompileError>,
) -> Layout {
    check_format(lists.format, errors);
    let mut planner = Planner {
        lists,
        rest,
        errors,
        plans: Vec::with_capacity(lists.organizations.len()),
        org_ids: FxHashMap::default(),
    };
    planner.organizations();
    let parents = planner.parents();
    planner.chains(&parents);
    let owners = planner.owned_entries();
    planner.policies(&owners);
    Layout {
        orgs: planner.plans,
    }
}

fn check_format(format: &str, errors: &mut Vec<CompileError>) {
    if format != BUNDLE_FORMAT {
        errors.push(CompileError::new(
            ErrorKind::Format,
            EntryKind::Bundle,
            None,
            "format".to_owned(),
            format!("unsupported format `{format}`: this version reads `{BUNDLE_FORMAT}`"),
        ));
    }
}

/// A layout in the making: the plans so far, and what the steps of [`build`] share.
struct Planner<'a, 'r> {
    lists: Lists<'a>,
    rest: Option<&'r Rest<'r>>,
    errors: &'r mut Vec<CompileError>,
    plans: Vec<OrgPlan>,
    /// The plan index of each organization of this layout, by id.
    org_ids: FxHashMap<&'a str, u32>,
}

/// The organization (plan index) of each group, computer and application, by id.
struct Owners<'a> {
    groups: FxHashMap<&'a str, u32>,
    computers: FxHashMap<&'a str, u32>,
    applications: FxHashMap<&'a str, u32>,
}

impl<'a> Planner<'a, '_> {
    /// Gives each organization whose id is good and unique a plan, at its index in the
    /// rest's tables, or after the last.
    fn organizations(&mut self) {
        let (lists, rest) = (self.lists, self.rest);
        self.org_ids.reserve(lists.organizations.len());
        let mut next_new = rest.map_or(0, |rest| rest.tables.orgs.len() as u32);
        for (n, org) in lists.organizations.iter().enumerate() {
            let path = || format!("organizations[{n}]");
            if !check_id(&org.id, EntryKind::Organization, path, self.errors) {
                continue;
            }
            let outside = rest.is_some_and(|rest| rest.org(&org.id).is_some());
            if self.org_ids.contains_key(org.id.as_str()) || outside {
                let message = format!("another organization already has the id `{}`", org.id);
                self.errors.push(err(
                    ErrorKind::Duplicate,
                    EntryKind::Organization,
                    &org.id,
                    format!("{}.id", path()),
                    message,
                ));
                continue;
            }
            let at = match rest {
                None => self.plans.len() as u32,
                Some(rest) => match rest.ids.orgs.get(org.id.as_str()) {
                    Some(&at) => at,
                    None => {
                        next_new += 1;
                        next_new - 1
                    }
                },
            };
            self.org_ids.insert(&org.id, self.plans.len() as u32);
            self.plans.push(OrgPlan {
                at,
                indices: SourceIndices {
                    organization: n,
                    ..SourceIndices::default()
                },
                chain: Vec::new(),
            });
        }
    }

    /// The parent of each plan's organization, by plan index.
    fn parents(&mut self) -> Vec<Parent> {
        let mut parent_of: Vec<Parent> = vec![Parent::None; self.plans.len()];
        for (i, plan) in self.plans.iter().enumerate() {
            let Some(org) = self.lists.organizations.get(plan.indices.organization) else {
                continue;
            };
            let Some(parent) = &org.parent else { continue };
            let found = match self.org_ids.get(parent.as_str()) {
                Some(&p) => Some(Parent::Here(p)),
                None => self
                    .rest
                    .and_then(|rest| rest.org(parent))
                    .map(Parent::Outside),
            };
            match found {
                Some(found) => {
                    if let Some(slot) = parent_of.get_mut(i) {
                        *slot = found;
                    }
                }
                None => self.errors.push(err(
                    ErrorKind::Reference,
                    EntryKind::Organization,
                    &org.id,
                    format!("organizations[{}].parent", plan.indices.organization),
                    format!("unknown parent organization `{parent}`"),
                )),
            }
        }
        parent_of
    }

    /// Sets each plan's chain. An organization whose ancestors form a cycle or go too
    /// deep gets an error, and a chain of itself alone.
    fn chains(&mut self, parent_of: &[Parent]) {
        for i in 0..self.plans.len() {
            let Some((mut chain, problem)) = self.chain(i, parent_of) else {
                continue;
            };
            if let Some(plan) = self.plans.get_mut(i) {
                if let Some((kind, message)) = problem {
                    let path = format!("organizations[{}].parent", plan.indices.organization);
                    let id = self
                        .lists
                        .organizations
                        .get(plan.indices.organization)
                        .map(|o| o.id.as_str())
                        .unwrap_or_default();
                    self.errors
                        .push(err(kind, EntryKind::Organization, id, path, message));
                    chain.truncate(1);
                }
                plan.chain = chain;
            }
        }
    }

    /// The chain of plan `i` (tables indices, itself first), following `parent_of` and
    /// then the rest's chains, and the problem that cut it short.
    fn chain(&self, i: usize, parent_of: &[Parent]) -> Option<(Vec<u32>, Option<ChainProblem>)> {
        let plan = self.plans.get(i)?;
        let mut chain = vec![plan.at];
        let mut walked = vec![i as u32];
        let mut at = parent_of.get(i).copied().unwrap_or(Parent::None);
        let mut problem = None;
        loop {
            match at {
                Parent::None => break,
                Parent::Here(p) => {
                    if walked.contains(&p) {
                        let message = if p == i as u32 {
                            "the organization is its own ancestor: parents form a cycle"
                        } else {
                            "the organization's ancestors form a cycle"
                        };
                        problem = Some((ErrorKind::Cycle, message.to_owned()));
                        break;
                    }
                    if chain.len() >= MAX_DEPTH {
                        problem = Some(too_deep());
                        break;
                    }
                    walked.push(p);
                    chain.push(self.plans.get(p as usize).map_or(0, |plan| plan.at));
                    at = parent_of.get(p as usize).copied().unwrap_or(Parent::None);
                }
                Parent::Outside(p) => {
                    let above = self.rest.map(|rest| rest.chain(p)).unwrap_or_default();
                    if chain.len() + above.len() > MAX_DEPTH {
                        problem = Some(too_deep());
                    } else {
                        chain.extend_from_slice(above);
                    }
                    break;
                }
            }
        }
        Some((chain, problem))
    }

    /// Files groups, computers and applications, which name their owner by id, in
    /// their organizations' plans, and says where each one went.
    fn owned_entries(&mut self) -> Owners<'a> {
        let lists = self.lists;
        let mut filed_groups: Vec<(u32, usize)> = Vec::with_capacity(lists.groups.len());
        let groups = place(
            lists.groups,
            Kind {
                list: "groups",
                entry: EntryKind::Group,
                noun: "group",
                owner: EntryKind::Organization,
            },
            |g| (&g.id, "organization", &g.organization),
            &self.org_ids,
            self.rest,
            self.errors,
            |org, n| filed_groups.push((org, n)),
        );
        let mut filed_computers: Vec<(u32, usize)> = Vec::with_capacity(lists.computers.len());
        let computers = place(
            lists.computers,
            Kind {
                list: "computers",
                entry: EntryKind::Computer,
                noun: "computer",
                owner: EntryKind::Group,
            },
            |c| (&c.id, "group", &c.group),
            &groups,
            self.rest,
            self.errors,
            |org, n| filed_computers.push((org, n)),
        );
        let mut filed_apps: Vec<(u32, usize)> = Vec::with_capacity(lists.applications.len());
        let applications = place(
            lists.applications,
            Kind {
                list: "applications",
                entry: EntryKind::Application,
                noun: "application",
                owner: EntryKind::Organization,
            },
            |a| (&a.id, "organization", &a.organization),
            &self.org_ids,
            self.rest,
            self.errors,
            |org, n| filed_apps.push((org, n)),
        );
        for (list, filed) in [(0, filed_groups), (1, filed_computers), (2, filed_apps)] {
            for (org, n) in filed {
                if let Some(plan) = self.plans.get_mut(org as usize) {
                    let indices = &mut plan.indices;
                    match list {
                        0 => indices.groups.push(n),
                        1 => indices.computers.push(n),
                        _ => indices.applications.push(n),
                    }
                }
            }
        }
        Owners {
            groups,
            computers,
            applications,
        }
    }

    /// Files each policy in the plan of the organization its scope names, once its id,
    /// its applications (each the owner's own or an ancestor's) and its position
    /// (unique within the organization) are checked.
    fn policies(&mut self, owners: &Owners<'a>) {
        let lists = self.lists;
        let names: FxHashMap<u32, &str> = self
            .plans
            .iter()
            .filter_map(|plan| {
                let org = lists.organizations.get(plan.indices.organization)?;
                Some((plan.at, org.id.as_str()))
            })
            .collect();
        let lookup = Lookup {
            plans: &self.plans,
            org_ids: &self.org_ids,
            owners,
            names: &names,
            rest: self.rest,
        };
        let errors = &mut *self.errors;
        let mut policy_ids: FxHashSet<&str> = FxHashSet::default();
        policy_ids.reserve(lists.policies.len());
        let mut positions: FxHashMap<(u32, i64), &str> = FxHashMap::default();
        positions.reserve(lists.policies.len());
        let mut filed: Vec<(u32, usize)> = Vec::with_capacity(lists.policies.len());
        for (n, policy) in lists.policies.iter().enumerate() {
            let path = || format!("policies[{n}]");
            if !check_id(&policy.id, EntryKind::Policy, path, errors) {
                continue;
            }
            let taken = !policy_ids.insert(&policy.id)
                || lookup.holder_outside(EntryKind::Policy, &policy.id);
            if taken {
                let message = format!("another policy already has the id `{}`", policy.id);
                errors.push(err(
                    ErrorKind::Duplicate,
                    EntryKind::Policy,
                    &policy.id,
                    format!("{}.id", path()),
                    message,
                ));
                continue;
            }
            let Some(owner) = lookup.policy_owner(n, policy, errors) else {
                continue;
            };
            let Some(owner_plan) = lookup.plans.get(owner as usize) else {
                continue;
            };
            let owner_id = lookup.org_name(owner_plan.at);
            let mut ok = lookup.check_applications(n, policy, owner_plan, errors);
            if let Some(other) = positions.get(&(owner, policy.position)) {
                let message = format!(
                    "position {} is already taken by policy `{other}` in organization `{owner_id}`; positions are unique within an organization",
                    policy.position
                );
                errors.push(err(
                    ErrorKind::Duplicate,
                    EntryKind::Policy,
                    &policy.id,
                    format!("{}.position", path()),
                    message,
                ));
                ok = false;
            } else {
                positions.insert((owner, policy.position), &policy.id);
            }
            if ok {
                filed.push((owner, n));
            }
        }
        for (owner, n) in filed {
            if let Some(plan) = self.plans.get_mut(owner as usize) {
                plan.indices.policies.push(n);
            }
        }
    }
}

/// Where the policy checks look organizations and applications up: in this layout,
/// then in the rest of the tenancy.
struct Lookup<'p, 'a, 'r> {
    plans: &'p [OrgPlan],
    org_ids: &'p FxHashMap<&'a str, u32>,
    owners: &'p Owners<'a>,
    /// The id of each organization of this layout, by tables index.
    names: &'p FxHashMap<u32, &'a str>,
    rest: Option<&'r Rest<'r>>,
}

impl Lookup<'_, '_, '_> {
    /// The id of the organization at tables index `at`.
    fn org_name(&self, at: u32) -> &str {
        match self.names.get(&at) {
            Some(id) => id,
            None => self.rest.map(|rest| rest.org_id(at)).unwrap_or_default(),
        }
    }

    /// Whether an organization the change leaves alone holds `id`.
    fn holder_outside(&self, entry: EntryKind, id: &str) -> bool {
        self.rest
            .is_some_and(|rest| rest.holder(entry, id).is_some())
    }

    /// The organization (plan index) that owns a policy, from its scope; an error when
    /// the scope names no entry of this layout.
    fn policy_owner(
        &self,
        n: usize,
        policy: &Policy,
        errors: &mut Vec<CompileError>,
    ) -> Option<u32> {
        let target = policy.scope.target();
        let (owner, entry) = match &policy.scope {
            Scope::Computer(id) => (self.owners.computers.get(id.as_str()), EntryKind::Computer),
            Scope::Group(id) => (self.owners.groups.get(id.as_str()), EntryKind::Group),
            Scope::Organization(id) | Scope::Global(id) => {
                (self.org_ids.get(id.as_str()), EntryKind::Organization)
            }
        };
        if let Some(&owner) = owner {
            return Some(owner);
        }
        let outside = self
            .rest
            .and_then(|rest| Some((rest, rest.holder(entry, target)?)));
        let message = match outside {
            Some((rest, at)) => rest.outside(policy.scope.kind(), target, at),
            None => format!("unknown {} `{target}`", policy.scope.kind()),
        };
        let scope_path = format!("policies[{n}].scope.{}", policy.scope.kind());
        errors.push(err(
            ErrorKind::Reference,
            EntryKind::Policy,
            &policy.id,
            scope_path,
            message,
        ));
        None
    }

    /// Checks that a policy names at least one application, and that each one is
    /// known and belongs to the owner or one of its ancestors.
    fn check_applications(
        &self,
        n: usize,
        policy: &Policy,
        owner_plan: &OrgPlan,
        errors: &mut Vec<CompileError>,
    ) -> bool {
        let path = || format!("policies[{n}]");
        let owner_id = self.org_name(owner_plan.at);
        let mut ok = true;
        if policy.applications.is_empty() {
            let message = "a policy needs at least one application".to_owned();
            errors.push(err(
                ErrorKind::Invalid,
                EntryKind::Policy,
                &policy.id,
                format!("{}.applications", path()),
                message,
            ));
            ok = false;
        }
        for (a, app) in policy.applications.iter().enumerate() {
            let app_path = || format!("{}.applications[{a}]", path());
            let app_owner = match self.owners.applications.get(app.as_str()) {
                Some(&plan) => self.plans.get(plan as usize).map(|plan| plan.at),
                None => self
                    .rest
                    .and_then(|rest| rest.holder(EntryKind::Application, app)),
            };
            match app_owner {
                None => {
                    let message = format!("unknown application `{app}`");
                    errors.push(err(
                        ErrorKind::Reference,
                        EntryKind::Policy,
                        &policy.id,
                        app_path(),
                        message,
                    ));
                    ok = false;
                }
                Some(app_owner) if !owner_plan.chain.contains(&app_owner) => {
                    let message = format!(
                        "application `{app}` belongs to organization `{}`, which is neither `{owner_id}` nor one of its ancestors",
                        self.org_name(app_owner)
                    );
                    errors.push(err(
                        ErrorKind::Reference,
                        EntryKind::Policy,
                        &policy.id,
                        app_path(),
                        message,
                    ));
                    ok = false;
                }
                Some(_) => {}
            }
        }
        ok
    }
}

/// Why an organization's chain was cut short: the error's kind and message.
type ChainProblem = (ErrorKind, String);

fn too_deep() -> ChainProblem {
    (
        ErrorKind::Limit,
        format!("the organization is more than {MAX_DEPTH} levels deep"),
    )
}
