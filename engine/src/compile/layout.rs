//! Checks that hold across entries — unique ids, references, the organization tree,
//! positions — and splits the bundle into one source per organization.

use rustc_hash::{FxHashMap, FxHashSet};

use super::error::{CompileError, EntryKind, ErrorKind};
use crate::model::{
    Application, Bundle, Computer, ComputerGroup, Organization, Policy, Scope, BUNDLE_FORMAT,
};

/// Everything one organization owns, as written. Compiling it is a pure function of
/// this value (and the application keys), which is what lets an unchanged organization
/// keep its compiled partition across deploys.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct OrgSource {
    pub(crate) organization: Organization,
    pub(crate) groups: Vec<ComputerGroup>,
    pub(crate) computers: Vec<Computer>,
    pub(crate) applications: Vec<Application>,
    pub(crate) policies: Vec<Policy>,
}

/// Where each entry of an [`OrgSource`] stood in the bundle, for error paths.
#[derive(Debug, Default)]
pub(crate) struct SourceIndices {
    pub(crate) organization: usize,
    pub(crate) groups: Vec<usize>,
    pub(crate) computers: Vec<usize>,
    pub(crate) applications: Vec<usize>,
    pub(crate) policies: Vec<usize>,
}

/// One organization's place in the tree and what it owns.
#[derive(Debug)]
pub(crate) struct OrgPlan {
    pub(crate) source: OrgSource,
    pub(crate) indices: SourceIndices,
    /// Itself first, then its parent, up to the root.
    pub(crate) chain: Vec<u32>,
}

/// The bundle, split by organization, in bundle order.
#[derive(Debug, Default)]
pub(crate) struct Layout {
    pub(crate) orgs: Vec<OrgPlan>,
}

/// How deep the organization tree may go. Every decision walks a computer's ancestors,
/// so the depth is bounded; real MSP trees are a handful of levels.
pub(crate) const MAX_DEPTH: usize = 32;

fn err(kind: ErrorKind, entry: EntryKind, id: &str, path: String, message: String) -> CompileError {
    CompileError::new(kind, entry, Some(id), path, message)
}

/// Ids must be non-empty and printable: they appear in logs, links and messages.
fn check_id(id: &str, entry: EntryKind, path: &str, errors: &mut Vec<CompileError>) -> bool {
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
            format!("{path}.id"),
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
}

/// Files entries that name their owner by id: checks each id, rejects duplicates,
/// resolves the owner in `owners` (the key and the id come from `fields`), and hands
/// each good entry to `file` with its organization and bundle index. Returns each
/// entry's organization by id.
fn place<T>(
    entries: Vec<T>,
    kind: Kind,
    fields: impl Fn(&T) -> (&str, &'static str, &str),
    owners: &FxHashMap<String, u32>,
    errors: &mut Vec<CompileError>,
    mut file: impl FnMut(u32, T, usize),
) -> FxHashMap<String, u32> {
    let mut placed: FxHashMap<String, u32> = FxHashMap::default();
    for (n, entry) in entries.into_iter().enumerate() {
        let path = format!("{}[{n}]", kind.list);
        let (id, key, owner) = fields(&entry);
        if !check_id(id, kind.entry, &path, errors) {
            continue;
        }
        if placed.contains_key(id) {
            let message = format!("another {} already has the id `{id}`", kind.noun);
            errors.push(err(
                ErrorKind::Duplicate,
                kind.entry,
                id,
                format!("{path}.id"),
                message,
            ));
            continue;
        }
        let Some(&org) = owners.get(owner) else {
            let message = format!("unknown {key} `{owner}`");
            errors.push(err(
                ErrorKind::Reference,
                kind.entry,
                id,
                format!("{path}.{key}"),
                message,
            ));
            continue;
        };
        placed.insert(id.to_owned(), org);
        file(org, entry, n);
    }
    placed
}

pub(crate) fn build(bundle: Bundle, errors: &mut Vec<CompileError>) -> Layout {
    if bundle.format != BUNDLE_FORMAT {
        errors.push(CompileError::new(
            ErrorKind::Format,
            EntryKind::Bundle,
            None,
            "format".to_owned(),
            format!(
                "unsupported format `{}`: this version reads `{BUNDLE_FORMAT}`",
                bundle.format
            ),
        ));
    }
    let Bundle {
        organizations,
        groups,
        computers,
        applications,
        policies,
        ..
    } = bundle;

    // Organizations and their tree.
    let mut org_ids: FxHashMap<String, u32> = FxHashMap::default();
    let mut plans: Vec<OrgPlan> = Vec::with_capacity(organizations.len());
    let mut parents: Vec<Option<String>> = Vec::with_capacity(organizations.len());
    for (n, org) in organizations.into_iter().enumerate() {
        let path = format!("organizations[{n}]");
        if !check_id(&org.id, EntryKind::Organization, &path, errors) {
            continue;
        }
        if org_ids.contains_key(&org.id) {
            let message = format!("another organization already has the id `{}`", org.id);
            errors.push(err(
                ErrorKind::Duplicate,
                EntryKind::Organization,
                &org.id,
                format!("{path}.id"),
                message,
            ));
            continue;
        }
        org_ids.insert(org.id.clone(), plans.len() as u32);
        parents.push(org.parent.clone());
        plans.push(OrgPlan {
            source: OrgSource {
                organization: org,
                groups: Vec::new(),
                computers: Vec::new(),
                applications: Vec::new(),
                policies: Vec::new(),
            },
            indices: SourceIndices {
                organization: n,
                ..SourceIndices::default()
            },
            chain: Vec::new(),
        });
    }
    let mut parent_of: Vec<Option<u32>> = vec![None; plans.len()];
    for (i, parent) in parents.iter().enumerate() {
        let Some(parent) = parent else { continue };
        let Some(plan) = plans.get(i) else { continue };
        match org_ids.get(parent) {
            Some(&p) => {
                if let Some(slot) = parent_of.get_mut(i) {
                    *slot = Some(p);
                }
            }
            None => errors.push(err(
                ErrorKind::Reference,
                EntryKind::Organization,
                &plan.source.organization.id,
                format!("organizations[{}].parent", plan.indices.organization),
                format!("unknown parent organization `{parent}`"),
            )),
        }
    }
    for i in 0..plans.len() {
        let mut chain = vec![i as u32];
        let mut at = parent_of.get(i).copied().flatten();
        let mut problem = None;
        while let Some(p) = at {
            if chain.contains(&p) {
                let message = if p == i as u32 {
                    "the organization is its own ancestor: parents form a cycle"
                } else {
                    "the organization's ancestors form a cycle"
                };
                problem = Some((ErrorKind::Cycle, message.to_owned()));
                break;
            }
            if chain.len() >= MAX_DEPTH {
                let message = format!("the organization is more than {MAX_DEPTH} levels deep");
                problem = Some((ErrorKind::Limit, message));
                break;
            }
            chain.push(p);
            at = parent_of.get(p as usize).copied().flatten();
        }
        if let Some(plan) = plans.get_mut(i) {
            if let Some((kind, message)) = problem {
                let path = format!("organizations[{}].parent", plan.indices.organization);
                let id = &plan.source.organization.id;
                errors.push(err(kind, EntryKind::Organization, id, path, message));
                chain.truncate(1);
            }
            plan.chain = chain;
        }
    }

    // Groups, computers and applications each name their owner by id.
    let group_org = place(
        groups,
        Kind {
            list: "groups",
            entry: EntryKind::Group,
            noun: "group",
        },
        |g| (&g.id, "organization", &g.organization),
        &org_ids,
        errors,
        |org, group, n| {
            if let Some(plan) = plans.get_mut(org as usize) {
                plan.source.groups.push(group);
                plan.indices.groups.push(n);
            }
        },
    );
    let computer_org = place(
        computers,
        Kind {
            list: "computers",
            entry: EntryKind::Computer,
            noun: "computer",
        },
        |c| (&c.id, "group", &c.group),
        &group_org,
        errors,
        |org, computer, n| {
            if let Some(plan) = plans.get_mut(org as usize) {
                plan.source.computers.push(computer);
                plan.indices.computers.push(n);
            }
        },
    );
    let app_org = place(
        applications,
        Kind {
            list: "applications",
            entry: EntryKind::Application,
            noun: "application",
        },
        |a| (&a.id, "organization", &a.organization),
        &org_ids,
        errors,
        |org, app, n| {
            if let Some(plan) = plans.get_mut(org as usize) {
                plan.source.applications.push(app);
                plan.indices.applications.push(n);
            }
        },
    );

    // Policies: the scope names the owning organization.
    let mut policy_ids: FxHashSet<String> = FxHashSet::default();
    let mut positions: FxHashMap<(u32, i64), String> = FxHashMap::default();
    for (n, policy) in policies.into_iter().enumerate() {
        let path = format!("policies[{n}]");
        if !check_id(&policy.id, EntryKind::Policy, &path, errors) {
            continue;
        }
        if !policy_ids.insert(policy.id.clone()) {
            let message = format!("another policy already has the id `{}`", policy.id);
            errors.push(err(
                ErrorKind::Duplicate,
                EntryKind::Policy,
                &policy.id,
                format!("{path}.id"),
                message,
            ));
            continue;
        }
        let target = policy.scope.target();
        let owner = match &policy.scope {
            Scope::Computer(id) => computer_org.get(id),
            Scope::Group(id) => group_org.get(id),
            Scope::Organization(id) | Scope::Global(id) => org_ids.get(id),
        };
        let Some(&owner) = owner else {
            let message = format!("unknown {} `{target}`", policy.scope.kind());
            let scope_path = format!("{path}.scope.{}", policy.scope.kind());
            errors.push(err(
                ErrorKind::Reference,
                EntryKind::Policy,
                &policy.id,
                scope_path,
                message,
            ));
            continue;
        };
        let Some(owner_plan) = plans.get(owner as usize) else {
            continue;
        };
        let mut ok = true;
        if policy.applications.is_empty() {
            let message = "a policy needs at least one application".to_owned();
            errors.push(err(
                ErrorKind::Invalid,
                EntryKind::Policy,
                &policy.id,
                format!("{path}.applications"),
                message,
            ));
            ok = false;
        }
        for (a, app) in policy.applications.iter().enumerate() {
            let app_path = format!("{path}.applications[{a}]");
            match app_org.get(app) {
                None => {
                    let message = format!("unknown application `{app}`");
                    errors.push(err(
                        ErrorKind::Reference,
                        EntryKind::Policy,
                        &policy.id,
                        app_path,
                        message,
                    ));
                    ok = false;
                }
                Some(app_owner) if !owner_plan.chain.contains(app_owner) => {
                    let app_org_id = plans
                        .get(*app_owner as usize)
                        .map(|p| p.source.organization.id.as_str())
                        .unwrap_or_default();
                    let message = format!(
                        "application `{app}` belongs to organization `{app_org_id}`, which is neither `{}` nor one of its ancestors",
                        owner_plan.source.organization.id
                    );
                    errors.push(err(
                        ErrorKind::Reference,
                        EntryKind::Policy,
                        &policy.id,
                        app_path,
                        message,
                    ));
                    ok = false;
                }
                Some(_) => {}
            }
        }
        if let Some(other) = positions.get(&(owner, policy.position)) {
            let message = format!(
                "position {} is already taken by policy `{other}` in organization `{}`; positions are unique within an organization",
                policy.position, owner_plan.source.organization.id
            );
            errors.push(err(
                ErrorKind::Duplicate,
                EntryKind::Policy,
                &policy.id,
                format!("{path}.position"),
                message,
            ));
            ok = false;
        } else {
            positions.insert((owner, policy.position), policy.id.clone());
        }
        if ok {
            if let Some(plan) = plans.get_mut(owner as usize) {
                plan.source.policies.push(policy);
                plan.indices.policies.push(n);
            }
        }
    }
    Layout { orgs: plans }
}
