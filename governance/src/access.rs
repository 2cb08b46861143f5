//! Who may do what, where (SPEC §8): grants cover an organization and its descendants,
//! the Super Admin variants, the combination rules, and the governed actions.

use std::collections::HashMap;
use std::fmt;

use portcullis_engine::Bundle;
use serde::{Deserialize, Serialize};

use crate::permission::Permission;

/// The organization tree, by id.
#[derive(Debug, Clone, Default)]
pub struct OrgTree {
    parent: HashMap<String, Option<String>>,
}

impl OrgTree {
    /// The tree of a bundle's organizations.
    pub fn of(bundle: &Bundle) -> OrgTree {
        OrgTree {
            parent: bundle
                .organizations
                .iter()
                .map(|o| (o.id.clone(), o.parent.clone()))
                .collect(),
        }
    }

    /// Whether the organization exists.
    pub fn contains(&self, org: &str) -> bool {
        self.parent.contains_key(org)
    }

    /// `org` itself, then its parent, up to the root.
    pub fn lineage<'a>(&'a self, org: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        let mut next = self.parent.get_key_value(org).map(|(k, _)| k.as_str());
        // The compiler rejects cycles; the bound keeps a bad tree from looping here.
        let mut budget = self.parent.len();
        std::iter::from_fn(move || {
            let current = next?;
            budget = budget.checked_sub(1)?;
            next = self.parent.get(current).and_then(|p| p.as_deref());
            Some(current)
        })
    }

    /// The tenancy path of `org`: its top-level organization first, `org` last.
    pub fn path<'a>(&'a self, org: &'a str) -> Vec<&'a str> {
        let mut path: Vec<&str> = self.lineage(org).collect();
        path.reverse();
        path
    }

    /// Whether `org` is `ancestor` or one of its descendants.
    pub fn within(&self, org: &str, ancestor: &str) -> bool {
        self.lineage(org).any(|o| o == ancestor)
    }

    /// `org` and all its descendants.
    pub fn subtree<'a>(&'a self, org: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.parent
            .keys()
            .map(String::as_str)
            .filter(move |o| self.within(o, org))
    }

    /// The parent of `org` (`None` for a top-level or unknown organization).
    pub fn parent(&self, org: &str) -> Option<&str> {
        self.parent.get(org).and_then(|p| p.as_deref())
    }

    /// The top-level organizations, sorted.
    pub fn roots(&self) -> Vec<&str> {
        let mut roots: Vec<&str> = self
            .parent
            .iter()
            .filter(|(_, p)| p.is_none())
            .map(|(o, _)| o.as_str())
            .collect();
        roots.sort_unstable();
        roots
    }

    /// Whether `org` is a descendant of `ancestor` (not `ancestor` itself).
    pub fn strictly_within(&self, org: &str, ancestor: &str) -> bool {
        org != ancestor && self.within(org, ancestor)
    }
}

/// The scope an approval targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScopeKind {
    /// The requesting computer.
    Computer,
    /// The requesting computer's group.
    Group,
    /// The requesting computer's organization.
    Organization,
    /// The organization and all its descendants.
    Global,
}

impl ScopeKind {
    /// The name used in commands and output.
    pub fn as_str(self) -> &'static str {
        match self {
            ScopeKind::Computer => "computer",
            ScopeKind::Group => "group",
            ScopeKind::Organization => "organization",
            ScopeKind::Global => "global",
        }
    }
}

/// What a request asks for: the kind the plugin contract defines, which approval
/// plugins are given as it is.
pub use portcullis_engine::plugin::AccessRequestKind;

/// A governed action; each one is checked against the actor's permissions for the
/// organization it touches before it happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    /// List the approval queue.
    ListRequests,
    /// Open a request (its execution, message and file).
    OpenRequest(AccessRequestKind),
    /// Approve a request at a scope, possibly elevating.
    Approve {
        /// The request's kind.
        kind: AccessRequestKind,
        /// The scope of the new policy.
        scope: ScopeKind,
        /// The new policy elevates.
        elevate: bool,
    },
    /// Add a rule to an existing application (checked on the application's owner).
    MergeIntoApplication,
    /// Reject a request.
    Reject(AccessRequestKind),
    /// Deploy a bundle, or roll back.
    Deploy,
    /// Set or end a maintenance mode.
    Maintenance,
    /// Change the organization's approval guardrails.
    EditSettings,
    /// Add, change or remove policies, or place one at a chosen position.
    EditPolicies,
    /// Add, change or remove applications and their file rules; write a custom,
    /// wildcard, regex or subject-only rule in an approval.
    EditApplications,
    /// Add, change or remove computers.
    EditComputers,
    /// Add, change or remove computer groups.
    EditComputerGroups,
    /// Add or remove organizations, or change one's own settings or parent.
    EditOrganizations,
    /// Configure notification delivery, read the outbox.
    EditIntegrations,
    /// See administrators.
    ViewAdministrators,
    /// Add or delete administrators, edit their details.
    EditAdministrators,
    /// Grant or revoke permissions.
    ChangePermissions,
    /// Assign or unassign roles.
    AssignRoles,
    /// Define roles.
    DefineRoles,
    /// View the unified audit.
    ViewUnifiedAudit,
    /// View the system audit.
    ViewSystemAudit,
    /// Re-anchor a damaged audit (Super Admin on every top-level organization).
    ReanchorAudit,
    /// Read the stored state directly, whatever it holds (Super Admin on every
    /// top-level organization).
    ReadState,
}

impl Act {
    /// Words for refusals: "may not {describe} in `org`".
    pub fn describe(self) -> String {
        match self {
            Act::ListRequests => "list the approval queue".to_owned(),
            Act::OpenRequest(kind) => format!("open {} requests", kind.as_str()),
            Act::Approve {
                kind,
                scope,
                elevate,
            } => format!(
                "approve {} requests at {} scope{}",
                kind.as_str(),
                scope.as_str(),
                if elevate { " with elevation" } else { "" }
            ),
            Act::MergeIntoApplication => "add rules to existing applications".to_owned(),
            Act::Reject(kind) => format!("reject {} requests", kind.as_str()),
            Act::Deploy => "deploy policies".to_owned(),
            Act::Maintenance => "set maintenance modes".to_owned(),
            Act::EditSettings => "change approval settings".to_owned(),
            Act::EditPolicies => "edit policies".to_owned(),
            Act::EditApplications => "edit applications".to_owned(),
            Act::EditComputers => "edit computers".to_owned(),
            Act::EditComputerGroups => "edit computer groups".to_owned(),
            Act::EditOrganizations => "edit organizations".to_owned(),
            Act::EditIntegrations => "configure notifications".to_owned(),
            Act::ViewAdministrators => "view administrators".to_owned(),
            Act::EditAdministrators => "edit administrators".to_owned(),
            Act::ChangePermissions => "change permissions".to_owned(),
            Act::AssignRoles => "assign roles".to_owned(),
            Act::DefineRoles => "define roles".to_owned(),
            Act::ViewUnifiedAudit => "view the unified audit".to_owned(),
            Act::ViewSystemAudit => "view the system audit".to_owned(),
            Act::ReanchorAudit => "re-anchor the audit".to_owned(),
            Act::ReadState => "read the whole stored state".to_owned(),
        }
    }

    fn requirement(self) -> Req {
        use Permission as P;
        let approve_any = || Req::Any(P::APPROVE.to_vec());
        match self {
            Act::ListRequests => Req::Any(vec![
                P::ViewApprovals,
                P::ApproveOrganization,
                P::ApproveGroup,
                P::ApproveComputer,
                P::ApproveComputerApplication,
            ]),
            Act::OpenRequest(kind) | Act::Reject(kind) => {
                let approve = Req::Any(approvers(kind, None));
                if kind == AccessRequestKind::Elevation {
                    Req::All(vec![Req::Any(vec![P::ElevationAdministrator]), approve])
                } else {
                    approve
                }
            }
            Act::Approve {
                kind,
                scope,
                elevate,
            } => {
                let approve = Req::Any(approvers(kind, Some(scope)));
                if elevate || kind == AccessRequestKind::Elevation {
                    Req::All(vec![Req::Any(vec![P::ElevationAdministrator]), approve])
                } else {
                    approve
                }
            }
            Act::MergeIntoApplication => Req::All(vec![
                Req::Any(vec![P::AllowApplicationMerge]),
                Req::Any(vec![P::EditApplications]),
            ]),
            Act::Deploy => Req::Any(vec![P::EditOrganizations, P::ViewOrganizations]),
            Act::Maintenance => Req::All(vec![Req::Any(vec![P::EditComputers]), approve_any()]),
            Act::EditSettings | Act::EditPolicies => Req::Any(vec![P::EditPolicies]),
            Act::EditApplications => Req::Any(vec![P::EditApplications]),
            Act::EditComputers => Req::Any(vec![P::EditComputers]),
            Act::EditComputerGroups => Req::Any(vec![P::EditComputerGroups]),
            Act::EditOrganizations => Req::Any(vec![P::EditOrganizations]),
            Act::EditIntegrations => Req::Any(vec![P::EditIntegrations]),
            Act::ViewAdministrators => Req::Any(vec![P::ViewAdministrators, P::EditAdministrators]),
            Act::EditAdministrators => Req::Any(vec![P::EditAdministrators]),
            Act::ChangePermissions => Req::All(vec![
                Req::Any(vec![P::ChangePermission]),
                Req::Any(vec![P::ViewAdministrators, P::EditAdministrators]),
            ]),
            Act::AssignRoles => Req::Any(vec![P::AssignRoles]),
            Act::DefineRoles => Req::Any(vec![P::RoleAdministrator]),
            Act::ViewUnifiedAudit => Req::Any(vec![P::ViewUnifiedAudit]),
            Act::ViewSystemAudit => Req::Any(vec![P::ViewSystemAudit]),
            Act::ReanchorAudit | Act::ReadState => Req::Any(vec![P::SuperAdmin]),
        }
    }
}

/// The approve permissions that cover `kind` (at `scope`, or at some scope).
fn approvers(kind: AccessRequestKind, scope: Option<ScopeKind>) -> Vec<Permission> {
    use Permission as P;
    let mut out = vec![P::ApproveOrganization];
    match scope {
        Some(ScopeKind::Organization | ScopeKind::Global) => {}
        Some(ScopeKind::Group) => out.push(P::ApproveGroup),
        Some(ScopeKind::Computer) | None => {
            out.extend([P::ApproveGroup, P::ApproveComputer]);
            if kind == AccessRequestKind::Application {
                out.push(P::ApproveComputerApplication);
            }
        }
    }
    out
}

/// A requirement: one of some permissions, or all of several requirements.
#[derive(Debug, Clone)]
enum Req {
    Any(Vec<Permission>),
    All(Vec<Req>),
}

/// An action refused, with the permission that is missing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{admin}` may not {action} in `{organization}`: needs {missing}")]
pub struct Refused {
    /// Who asked.
    pub admin: String,
    /// What they asked to do.
    pub action: String,
    /// Where.
    pub organization: String,
    /// What they lack, in words (`Approve for Group or Approve for Entire Organization`).
    pub missing: String,
}

/// One administrator's permissions, each for an organization, roles expanded.
#[derive(Debug, Clone)]
pub struct Holdings {
    admin: String,
    held: Vec<(String, Permission)>,
}

impl Holdings {
    /// `held` lists `(organization, permission)` pairs, from grants and roles.
    pub fn new(admin: &str, held: Vec<(String, Permission)>) -> Holdings {
        Holdings {
            admin: admin.to_owned(),
            held,
        }
    }

    /// The administrator's id.
    pub fn admin(&self) -> &str {
        &self.admin
    }

    /// Whether the permission is held for `org`, by a grant on it or an ancestor, or
    /// through a Super Admin variant; combination rules are not applied here.
    pub fn holds(&self, tree: &OrgTree, permission: Permission, org: &str) -> bool {
        self.held
            .iter()
            .any(|(granted, held)| covers(tree, granted, *held, permission, org))
    }

    /// Whether the permission is held for `org` and every descendant: what a grant on
    /// `org` would give, since grants cover descendants.
    pub fn holds_throughout(&self, tree: &OrgTree, permission: Permission, org: &str) -> bool {
        tree.subtree(org).all(|o| self.holds(tree, permission, o))
    }

    /// The permissions held for `org` (combination rules not applied).
    pub fn held_for(&self, tree: &OrgTree, org: &str) -> Vec<Permission> {
        Permission::ALL
            .iter()
            .copied()
            .filter(|&p| self.holds(tree, p, org))
            .collect()
    }

    /// Checks a governed action on `org`.
    pub fn check(&self, tree: &OrgTree, act: Act, org: &str) -> Result<(), Refused> {
        match self.missing(tree, &act.requirement(), org) {
            None => Ok(()),
            Some(missing) => Err(Refused {
                admin: self.admin.clone(),
                action: act.describe(),
                organization: org.to_owned(),
                missing,
            }),
        }
    }

    /// Checks a governed action on every top-level organization: what an action on the
    /// whole tenancy needs.
    pub fn check_everywhere(&self, tree: &OrgTree, act: Act) -> Result<(), Refused> {
        for root in tree.roots() {
            self.check(tree, act, root)?;
        }
        Ok(())
    }

    fn missing(&self, tree: &OrgTree, req: &Req, org: &str) -> Option<String> {
        match req {
            Req::Any(options) => {
                if options.iter().any(|&p| self.holds(tree, p, org)) {
                    None
                } else {
                    Some(
                        options
                            .iter()
                            .map(|p| p.name())
                            .collect::<Vec<_>>()
                            .join(" or "),
                    )
                }
            }
            Req::All(parts) => {
                let missing: Vec<String> = parts
                    .iter()
                    .filter_map(|part| self.missing(tree, part, org))
                    .collect();
                if missing.is_empty() {
                    None
                } else {
                    Some(missing.join(", and "))
                }
            }
        }
    }
}

/// Whether a grant of `held` on `granted` gives `wanted` on `org`.
fn covers(tree: &OrgTree, granted: &str, held: Permission, wanted: Permission, org: &str) -> bool {
    use Permission as P;
    match held {
        P::SuperAdmin => tree.within(org, granted),
        P::SuperAdminChild => {
            tree.strictly_within(org, granted)
                && !matches!(wanted, P::SuperAdmin | P::ViewSystemAudit)
        }
        P::SuperAdminParentOnly => {
            org == granted
                && !matches!(
                    wanted,
                    P::SuperAdmin | P::SuperAdminChild | P::ViewSystemAudit
                )
        }
        _ => held == wanted && tree.within(org, granted),
    }
}

impl fmt::Display for ScopeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
