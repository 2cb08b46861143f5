#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The permission matrix of SPEC §8: every approve permission at every scope for every
//! request kind, the combination rules, the Super Admin variants, grants that cover
//! descendants but never the parent, roles, and the hardening rules. Checked on the
//! pure rules (`Holdings::check` on the example bundle's organization tree), then for a
//! representative subset through `Governance` on a real SQLite state, where a refused
//! action must also leave the state as it was.
//!
//! Organizations of the example bundle: northwind → lakeside, harbor, summit →
//! summit-lab.

mod support;

use portcullis_engine::model::{MaintenanceMode, Timestamp};
use portcullis_engine::Outcome;
use portcullis_governance::{
    AccessRequestKind, Act, ApproveOptions, AuditLog, AuditQuery, Error, Governance, Grant,
    Holdings, Matching, OrgTree, Permission, Refused, RequestState, RoleRecord, ScopeKind,
};
use support::{add_admin, content, file, init_state, permission, role, unknown_file, ROOT};

use AccessRequestKind as K;
use Permission as P;
use ScopeKind as S;

const KINDS: [AccessRequestKind; 3] = [K::Application, K::Storage, K::Elevation];
const SCOPES: [ScopeKind; 4] = [S::Computer, S::Group, S::Organization, S::Global];

fn tree() -> OrgTree {
    OrgTree::of(&support::example_bundle())
}

fn holdings(held: &[(&str, Permission)]) -> Holdings {
    Holdings::new(
        "tester",
        held.iter().map(|&(o, p)| (o.to_owned(), p)).collect(),
    )
}

/// Every governed action.
fn all_acts() -> Vec<Act> {
    let mut acts = vec![
        Act::ListRequests,
        Act::MergeIntoApplication,
        Act::Deploy,
        Act::Maintenance,
        Act::EditSettings,
        Act::ViewAdministrators,
        Act::EditAdministrators,
        Act::ChangePermissions,
        Act::AssignRoles,
        Act::DefineRoles,
        Act::ViewUnifiedAudit,
        Act::ViewSystemAudit,
    ];
    for kind in KINDS {
        acts.push(Act::OpenRequest(kind));
        acts.push(Act::Reject(kind));
        for scope in SCOPES {
            for elevate in [false, true] {
                acts.push(Act::Approve {
                    kind,
                    scope,
                    elevate,
                });
            }
        }
    }
    acts
}

/// A refusal must say what is missing: `missing` lists clauses (`, and `), each a
/// choice of catalogue permissions (` or `), and the actor holds none of a listed
/// clause's permissions for the organization.
fn assert_names_missing(refused: &Refused, holdings: &Holdings, tree: &OrgTree, context: &str) {
    assert!(!refused.missing.is_empty(), "{context}: empty `missing`");
    for clause in refused.missing.split(", and ") {
        for name in clause.split(" or ") {
            let p: Permission = name
                .parse()
                .unwrap_or_else(|e| panic!("{context}: `missing` names no permission: {e}"));
            assert!(
                !holdings.holds(tree, p, &refused.organization),
                "{context}: `missing` ({}) names {p}, which is held",
                refused.missing
            );
        }
    }
}

/// Runs one check and compares it with the expectation: `None` allowed, `Some(text)`
/// refused with `text` in `missing`.
fn expect(
    tree: &OrgTree,
    held: &[(&str, Permission)],
    act: Act,
    org: &str,
    refused_for: Option<&str>,
    context: &str,
) {
    let h = holdings(held);
    let context = format!("{context}: {held:?} {act:?} on `{org}`");
    match (h.check(tree, act, org), refused_for) {
        (Ok(()), None) => {}
        (Ok(()), Some(missing)) => panic!("{context}: allowed, expected refused for {missing}"),
        (Err(r), None) => panic!("{context}: refused ({r}), expected allowed"),
        (Err(r), Some(missing)) => {
            assert_eq!(r.admin, "tester", "{context}");
            assert_eq!(r.organization, org, "{context}");
            assert_eq!(r.action, act.describe(), "{context}");
            assert!(
                r.missing.contains(missing),
                "{context}: `missing` is `{}`, expected it to name {missing}",
                r.missing
            );
            assert_names_missing(&r, &h, tree, &context);
        }
    }
}

// ---- approve permissions × scope × kind --------------------------------------------

/// Rows: application, storage, elevation requests, then application and storage
/// requests approved with elevation. Columns: computer, group, organization, global
/// scope. `Y` allowed, `-` refused.
type Grid = [&'static str; 5];

const ROWS: [(AccessRequestKind, bool); 5] = [
    (K::Application, false),
    (K::Storage, false),
    (K::Elevation, false),
    (K::Application, true),
    (K::Storage, true),
];

/// The approval matrix of SPEC §8, without and with Elevation Administrator.
#[rustfmt::skip]
const APPROVE_MATRIX: &[(&[Permission], Grid)] = &[
    (&[P::ApproveOrganization], ["YYYY", "YYYY", "----", "----", "----"]),
    (&[P::ApproveGroup], ["YY--", "YY--", "----", "----", "----"]),
    (&[P::ApproveComputer], ["Y---", "Y---", "----", "----", "----"]),
    (&[P::ApproveComputerApplication], ["Y---", "----", "----", "----", "----"]),
    (&[P::ElevationAdministrator], ["----", "----", "----", "----", "----"]),
    (&[P::ViewApprovals], ["----", "----", "----", "----", "----"]),
    (&[P::ApproveOrganization, P::ElevationAdministrator], ["YYYY", "YYYY", "YYYY", "YYYY", "YYYY"]),
    (&[P::ApproveGroup, P::ElevationAdministrator], ["YY--", "YY--", "YY--", "YY--", "YY--"]),
    (&[P::ApproveComputer, P::ElevationAdministrator], ["Y---", "Y---", "Y---", "Y---", "Y---"]),
    (&[P::ApproveComputerApplication, P::ElevationAdministrator], ["Y---", "----", "----", "Y---", "----"]),
    (&[P::ViewApprovals, P::ElevationAdministrator], ["----", "----", "----", "----", "----"]),
];

/// Listing the queue; opening and rejecting application, storage, elevation requests.
#[rustfmt::skip]
const OPEN_MATRIX: &[(&[Permission], &str, &str)] = &[
    (&[P::ApproveOrganization], "Y", "YY-"),
    (&[P::ApproveGroup], "Y", "YY-"),
    (&[P::ApproveComputer], "Y", "YY-"),
    (&[P::ApproveComputerApplication], "Y", "Y--"),
    (&[P::ElevationAdministrator], "-", "---"),
    (&[P::ViewApprovals], "Y", "---"),
    (&[P::ApproveOrganization, P::ElevationAdministrator], "Y", "YYY"),
    (&[P::ApproveGroup, P::ElevationAdministrator], "Y", "YYY"),
    (&[P::ApproveComputer, P::ElevationAdministrator], "Y", "YYY"),
    (&[P::ApproveComputerApplication, P::ElevationAdministrator], "Y", "Y--"),
    (&[P::ViewApprovals, P::ElevationAdministrator], "Y", "---"),
];

/// Where the permissions are granted and where the action is checked: the grid
/// applies on the organization itself and on its descendants; a grant on a child or a
/// sibling gives nothing on the organization.
const PLACES: &[(&str, &str, bool)] = &[
    ("summit", "summit", true),
    ("northwind", "summit-lab", true),
    ("summit", "summit-lab", true),
    ("summit-lab", "summit", false),
    ("lakeside", "summit", false),
];

/// What a refused approval must name as missing.
fn approve_missing(held: &[Permission], kind: AccessRequestKind, elevate: bool) -> &'static str {
    let needs_elevation = elevate || kind == K::Elevation;
    if needs_elevation && !held.contains(&P::ElevationAdministrator) {
        "Elevation Administrator"
    } else {
        // Every approve requirement lists the widest approve permission.
        "Approve for Entire Organization"
    }
}

#[test]
fn approve_permissions_by_scope_and_request_kind() {
    let tree = tree();
    let mut checked = 0;
    for &(permissions, grid) in APPROVE_MATRIX {
        for &(granted_on, org, applies) in PLACES {
            let held: Vec<(&str, Permission)> =
                permissions.iter().map(|&p| (granted_on, p)).collect();
            for (row, &(kind, elevate)) in ROWS.iter().enumerate() {
                for (column, &scope) in SCOPES.iter().enumerate() {
                    let allowed = applies && grid[row].as_bytes()[column] == b'Y';
                    let missing = if applies {
                        Some(approve_missing(permissions, kind, elevate))
                    } else {
                        // Nothing is held on `org` at all.
                        Some("Approve for Entire Organization")
                    };
                    expect(
                        &tree,
                        &held,
                        Act::Approve {
                            kind,
                            scope,
                            elevate,
                        },
                        org,
                        if allowed { None } else { missing },
                        "approve matrix",
                    );
                    checked += 1;
                }
            }
        }
    }
    assert_eq!(
        checked,
        APPROVE_MATRIX.len() * PLACES.len() * ROWS.len() * SCOPES.len()
    );
}

#[test]
fn listing_opening_and_rejecting_requests() {
    let tree = tree();
    for &(permissions, list, open) in OPEN_MATRIX {
        for &(granted_on, org, applies) in PLACES {
            let held: Vec<(&str, Permission)> =
                permissions.iter().map(|&p| (granted_on, p)).collect();
            let listed = applies && list == "Y";
            expect(
                &tree,
                &held,
                Act::ListRequests,
                org,
                (!listed).then_some("View Approvals"),
                "list",
            );
            for (column, kind) in KINDS.into_iter().enumerate() {
                let allowed = applies && open.as_bytes()[column] == b'Y';
                let missing = if kind == K::Elevation
                    && applies
                    && !permissions.contains(&P::ElevationAdministrator)
                {
                    "Elevation Administrator"
                } else {
                    "Approve for Entire Organization"
                };
                for act in [Act::OpenRequest(kind), Act::Reject(kind)] {
                    expect(
                        &tree,
                        &held,
                        act,
                        org,
                        (!allowed).then_some(missing),
                        "open/reject",
                    );
                }
            }
        }
    }
}

// ---- combination rules and single-permission actions --------------------------------

/// Permissions, each on an organization.
type Held = &'static [(&'static str, Permission)];

struct Case {
    name: &'static str,
    held: Held,
    act: Act,
    org: &'static str,
    /// `None`: allowed; `Some(name)`: refused, naming `name` as missing.
    refused_for: Option<&'static str>,
}

const fn ok(name: &'static str, held: Held, act: Act, org: &'static str) -> Case {
    Case {
        name,
        held,
        act,
        org,
        refused_for: None,
    }
}

const fn no(
    name: &'static str,
    held: Held,
    act: Act,
    org: &'static str,
    missing: &'static str,
) -> Case {
    Case {
        name,
        held,
        act,
        org,
        refused_for: Some(missing),
    }
}

const ELEVATE_COMPUTER: Act = Act::Approve {
    kind: K::Elevation,
    scope: S::Computer,
    elevate: true,
};
const ELEVATE_ORGANIZATION: Act = Act::Approve {
    kind: K::Elevation,
    scope: S::Organization,
    elevate: true,
};

#[rustfmt::skip]
const CASES: &[Case] = &[
    // Elevation Administrator: only with an approve permission, within its scope, and
    // only where both are held.
    no("elevation alone", &[("summit", P::ElevationAdministrator)], ELEVATE_COMPUTER, "summit", "Approve for Single Computer"),
    no("elevation alone cannot open", &[("summit", P::ElevationAdministrator)], Act::OpenRequest(K::Elevation), "summit", "Approve for Single Computer"),
    ok("elevation + computer", &[("summit", P::ElevationAdministrator), ("summit", P::ApproveComputer)], ELEVATE_COMPUTER, "summit"),
    no("elevation + computer, organization scope", &[("summit", P::ElevationAdministrator), ("summit", P::ApproveComputer)], ELEVATE_ORGANIZATION, "summit", "Approve for Entire Organization"),
    ok("elevation on parent + computer on own", &[("northwind", P::ElevationAdministrator), ("summit", P::ApproveComputer)], ELEVATE_COMPUTER, "summit-lab"),
    no("elevation on a sibling", &[("lakeside", P::ElevationAdministrator), ("summit", P::ApproveOrganization)], ELEVATE_COMPUTER, "summit", "Elevation Administrator"),
    no("approve on a sibling", &[("summit", P::ElevationAdministrator), ("lakeside", P::ApproveOrganization)], ELEVATE_COMPUTER, "summit", "Approve for Entire Organization"),
    no("elevation on the child", &[("summit-lab", P::ElevationAdministrator), ("summit", P::ApproveOrganization)], ELEVATE_COMPUTER, "summit", "Elevation Administrator"),
    // Change Permission: only with View or Edit Administrators.
    no("change permission alone", &[("summit", P::ChangePermission)], Act::ChangePermissions, "summit", "View Administrators or Edit Administrators"),
    ok("change permission + view administrators", &[("summit", P::ChangePermission), ("summit", P::ViewAdministrators)], Act::ChangePermissions, "summit"),
    ok("change permission + edit administrators", &[("summit", P::ChangePermission), ("summit", P::EditAdministrators)], Act::ChangePermissions, "summit"),
    ok("change permission + view administrators, child", &[("summit", P::ChangePermission), ("northwind", P::ViewAdministrators)], Act::ChangePermissions, "summit-lab"),
    no("change permission + view administrators on a sibling", &[("summit", P::ChangePermission), ("harbor", P::ViewAdministrators)], Act::ChangePermissions, "summit", "View Administrators or Edit Administrators"),
    no("edit administrators alone", &[("summit", P::EditAdministrators)], Act::ChangePermissions, "summit", "Change Permission"),
    no("view administrators alone", &[("summit", P::ViewAdministrators)], Act::ChangePermissions, "summit", "Change Permission"),
    no("change permission + view administrators, parent", &[("summit", P::ChangePermission), ("summit", P::ViewAdministrators)], Act::ChangePermissions, "northwind", "Change Permission"),
    // Allow Application Merge: only with Edit Application Control Applications.
    no("merge alone", &[("summit", P::AllowApplicationMerge)], Act::MergeIntoApplication, "summit", "Edit Application Control Applications"),
    no("edit applications alone", &[("summit", P::EditApplications)], Act::MergeIntoApplication, "summit", "Allow Application Merge"),
    ok("merge + edit applications", &[("summit", P::AllowApplicationMerge), ("summit", P::EditApplications)], Act::MergeIntoApplication, "summit"),
    ok("merge + edit applications, child", &[("summit", P::AllowApplicationMerge), ("summit", P::EditApplications)], Act::MergeIntoApplication, "summit-lab"),
    no("merge + edit applications on the child", &[("summit", P::AllowApplicationMerge), ("summit-lab", P::EditApplications)], Act::MergeIntoApplication, "summit", "Edit Application Control Applications"),
    // Maintenance mode: Edit Computers and an approve permission.
    no("edit computers alone", &[("summit", P::EditComputers)], Act::Maintenance, "summit", "Approve for Single Computer"),
    no("approve alone", &[("summit", P::ApproveOrganization)], Act::Maintenance, "summit", "Edit Computers"),
    ok("edit computers + approve organization", &[("summit", P::EditComputers), ("summit", P::ApproveOrganization)], Act::Maintenance, "summit"),
    ok("edit computers + approve group", &[("summit", P::EditComputers), ("summit", P::ApproveGroup)], Act::Maintenance, "summit"),
    ok("edit computers + approve computer", &[("summit", P::EditComputers), ("summit", P::ApproveComputer)], Act::Maintenance, "summit"),
    ok("edit computers + approve computer (application)", &[("summit", P::EditComputers), ("summit", P::ApproveComputerApplication)], Act::Maintenance, "summit"),
    no("edit computers + view approvals", &[("summit", P::EditComputers), ("summit", P::ViewApprovals)], Act::Maintenance, "summit", "Approve for Single Computer"),
    no("edit computers + elevation", &[("summit", P::EditComputers), ("summit", P::ElevationAdministrator)], Act::Maintenance, "summit", "Approve for Single Computer"),
    no("edit computers + approve on a sibling", &[("summit", P::EditComputers), ("harbor", P::ApproveOrganization)], Act::Maintenance, "summit", "Approve for Entire Organization"),
    // View Approvals: the queue, not a request.
    ok("view approvals lists", &[("summit", P::ViewApprovals)], Act::ListRequests, "summit"),
    no("view approvals cannot open", &[("summit", P::ViewApprovals)], Act::OpenRequest(K::Application), "summit", "Approve for Single Computer"),
    no("view approvals cannot reject", &[("summit", P::ViewApprovals)], Act::Reject(K::Storage), "summit", "Approve for Single Computer"),
    no("view approvals cannot approve", &[("summit", P::ViewApprovals)], Act::Approve { kind: K::Application, scope: S::Computer, elevate: false }, "summit", "Approve for Single Computer"),
    // The single-permission actions.
    ok("deploy with edit organizations", &[("summit", P::EditOrganizations)], Act::Deploy, "summit"),
    ok("deploy with view organizations", &[("summit", P::ViewOrganizations)], Act::Deploy, "summit-lab"),
    no("deploy with edit policies", &[("summit", P::EditPolicies)], Act::Deploy, "summit", "Edit Organizations or View Organizations"),
    no("deploy on the parent", &[("summit", P::EditOrganizations)], Act::Deploy, "northwind", "Edit Organizations"),
    ok("settings with edit policies", &[("summit", P::EditPolicies)], Act::EditSettings, "summit"),
    no("settings with edit applications", &[("summit", P::EditApplications)], Act::EditSettings, "summit", "Edit Application Control Policies"),
    ok("view administrators", &[("summit", P::ViewAdministrators)], Act::ViewAdministrators, "summit"),
    ok("edit administrators may view them", &[("summit", P::EditAdministrators)], Act::ViewAdministrators, "summit"),
    no("view administrators may not edit them", &[("summit", P::ViewAdministrators)], Act::EditAdministrators, "summit", "Edit Administrators"),
    ok("edit administrators", &[("summit", P::EditAdministrators)], Act::EditAdministrators, "summit-lab"),
    ok("assign roles", &[("summit", P::AssignRoles)], Act::AssignRoles, "summit"),
    no("role administrator may not assign", &[("summit", P::RoleAdministrator)], Act::AssignRoles, "summit", "Assign Roles"),
    ok("define roles", &[("summit", P::RoleAdministrator)], Act::DefineRoles, "summit"),
    no("assign roles may not define", &[("summit", P::AssignRoles)], Act::DefineRoles, "summit", "Role Administrator"),
    ok("unified audit", &[("summit", P::ViewUnifiedAudit)], Act::ViewUnifiedAudit, "summit"),
    no("unified audit is not the system audit", &[("summit", P::ViewUnifiedAudit)], Act::ViewSystemAudit, "summit", "View System Audit"),
    ok("system audit", &[("summit", P::ViewSystemAudit)], Act::ViewSystemAudit, "summit"),
    no("reports do not open the audit", &[("summit", P::ViewReports)], Act::ViewUnifiedAudit, "summit", "View Unified Audit"),
    // Super Admin variants.
    ok("super admin, system audit", &[("summit", P::SuperAdmin)], Act::ViewSystemAudit, "summit"),
    no("super admin - child, no system audit", &[("northwind", P::SuperAdminChild)], Act::ViewSystemAudit, "summit", "View System Audit"),
    ok("super admin - child, descendants", &[("northwind", P::SuperAdminChild)], ELEVATE_ORGANIZATION, "summit-lab"),
    no("super admin - child, not its own organization", &[("summit", P::SuperAdminChild)], Act::Deploy, "summit", "Edit Organizations"),
    ok("super admin - parent only, own organization", &[("summit", P::SuperAdminParentOnly)], ELEVATE_ORGANIZATION, "summit"),
    no("super admin - parent only, not descendants", &[("summit", P::SuperAdminParentOnly)], Act::Deploy, "summit-lab", "Edit Organizations"),
];

#[test]
fn combination_rules_and_single_permissions() {
    let tree = tree();
    let mut names = std::collections::HashSet::new();
    for case in CASES {
        assert!(names.insert(case.name), "duplicate case `{}`", case.name);
        expect(
            &tree,
            case.held,
            case.act,
            case.org,
            case.refused_for,
            case.name,
        );
    }
}

#[test]
fn super_admin_covers_everything_on_its_organization_and_descendants() {
    let tree = tree();
    let held = [("summit", P::SuperAdmin)];
    for act in all_acts() {
        for org in ["summit", "summit-lab"] {
            expect(&tree, &held, act, org, None, "super admin");
        }
        for org in ["northwind", "lakeside", "harbor"] {
            let h = holdings(&held);
            let refused = h.check(&tree, act, org).unwrap_err();
            assert_names_missing(
                &refused,
                &h,
                &tree,
                &format!("super admin {act:?} on {org}"),
            );
        }
    }
    for &p in Permission::ALL {
        assert!(holdings(&held).holds(&tree, p, "summit-lab"), "{p}");
    }
}

#[test]
fn super_admin_child_covers_descendants_only_without_system_audit() {
    let tree = tree();
    let held = [("summit", P::SuperAdminChild)];
    let h = holdings(&held);
    for act in all_acts() {
        let on_child = h.check(&tree, act, "summit-lab");
        if act == Act::ViewSystemAudit {
            assert_eq!(on_child.unwrap_err().missing, "View System Audit");
        } else {
            on_child.unwrap_or_else(|r| panic!("{act:?} on the child: {r}"));
        }
        for org in ["summit", "northwind", "lakeside"] {
            let refused = h.check(&tree, act, org).unwrap_err();
            assert_names_missing(&refused, &h, &tree, &format!("{act:?} on {org}"));
        }
    }
    assert!(!h.holds(&tree, P::SuperAdmin, "summit-lab"));
    assert!(h.holds(&tree, P::EditBilling, "summit-lab"));
}

#[test]
fn super_admin_parent_only_covers_its_organization_only() {
    let tree = tree();
    let held = [("summit", P::SuperAdminParentOnly)];
    let h = holdings(&held);
    for act in all_acts() {
        // Whether "everything on the organization" includes the system audit (which is
        // not an organization's) is left to the implementation; it is not checked here.
        if act != Act::ViewSystemAudit {
            h.check(&tree, act, "summit")
                .unwrap_or_else(|r| panic!("{act:?} on its organization: {r}"));
        }
        for org in ["summit-lab", "northwind", "lakeside"] {
            let refused = h.check(&tree, act, org).unwrap_err();
            assert_names_missing(&refused, &h, &tree, &format!("{act:?} on {org}"));
        }
    }
    assert!(!h.holds(&tree, P::SuperAdmin, "summit"));
}

#[test]
fn a_grant_covers_descendants_never_the_parent_or_a_sibling() {
    let tree = tree();
    for &p in Permission::ALL.iter().filter(|p| !p.is_super_admin()) {
        let h = holdings(&[("summit", p)]);
        assert!(h.holds(&tree, p, "summit"), "{p} on its organization");
        assert!(h.holds(&tree, p, "summit-lab"), "{p} on the child");
        for org in ["northwind", "lakeside", "harbor"] {
            assert!(!h.holds(&tree, p, org), "{p} on `{org}`");
        }
        assert_eq!(
            h.held_for(&tree, "summit-lab"),
            vec![p],
            "{p} gives only itself"
        );
        assert!(h.held_for(&tree, "northwind").is_empty());
    }
}

// ---- end to end ------------------------------------------------------------------

/// Everything a refused action must leave as it was.
#[derive(Debug, PartialEq)]
struct Fingerprint {
    version: i64,
    deploys: usize,
    requests: Vec<(i64, RequestState)>,
    audit: usize,
    grants: Vec<Grant>,
    roles: Vec<RoleRecord>,
    admins: usize,
}

fn fingerprint(gov: &mut Governance) -> Fingerprint {
    let version = gov.version();
    gov.read(ROOT, |tx| {
        let admins = tx.admins()?;
        let mut grants = Vec::new();
        for a in &admins {
            grants.extend(tx.grants(&a.id)?);
        }
        Ok(Fingerprint {
            version,
            deploys: tx.deploys(usize::MAX)?.len(),
            requests: tx
                .requests(None)?
                .into_iter()
                .map(|r| (r.id, r.state))
                .collect(),
            audit: tx.audit(0)?.len(),
            grants,
            roles: tx.roles()?,
            admins: admins.len(),
        })
    })
    .unwrap()
}

/// Runs `action`, which must be refused for `actor` naming `missing`, and checks that
/// nothing changed.
fn assert_refused<T: std::fmt::Debug>(
    gov: &mut Governance,
    actor: &str,
    missing: &str,
    context: &str,
    action: impl FnOnce(&mut Governance) -> Result<T, Error>,
) {
    let before = fingerprint(gov);
    match action(gov) {
        Err(Error::Refused(r)) => {
            assert_eq!(r.admin, actor, "{context}");
            assert!(
                r.missing.contains(missing),
                "{context}: `missing` is `{}`, expected it to name {missing}",
                r.missing
            );
        }
        other => panic!("{context}: expected a refusal naming {missing}, got {other:?}"),
    }
    assert_eq!(
        fingerprint(gov),
        before,
        "{context}: a refusal changed the state"
    );
    assert!(gov.verify_audit().unwrap().is_ok());
}

/// Runs `action`, which must fail with `Error::InvalidInput`, and checks that nothing
/// changed.
fn assert_invalid<T: std::fmt::Debug>(
    gov: &mut Governance,
    says: &str,
    context: &str,
    action: impl FnOnce(&mut Governance) -> Result<T, Error>,
) {
    let before = fingerprint(gov);
    match action(gov) {
        Err(Error::InvalidInput {
            reason: message, ..
        }) => {
            assert!(
                message.contains(says),
                "{context}: `{message}` should say {says}"
            );
        }
        other => panic!("{context}: expected an invalid-input error, got {other:?}"),
    }
    assert_eq!(
        fingerprint(gov),
        before,
        "{context}: a refusal changed the state"
    );
}

#[derive(Debug, Clone, Copy)]
enum Do {
    Open,
    OpenFile,
    Reject,
    /// Scope, elevate, target organization (default: the computer's).
    Approve(ScopeKind, bool, Option<&'static str>),
}

struct E2e {
    actor: &'static str,
    action: Do,
    kind: AccessRequestKind,
    computer: &'static str,
    /// `None`: allowed; `Some(name)`: refused, naming `name` as missing.
    refused_for: Option<&'static str>,
}

const fn e2e(
    actor: &'static str,
    action: Do,
    kind: AccessRequestKind,
    computer: &'static str,
    refused_for: Option<&'static str>,
) -> E2e {
    E2e {
        actor,
        action,
        kind,
        computer,
        refused_for,
    }
}

const LAKE: &str = "lakeside-fd-01";
const SUMMIT: &str = "summit-build-01";
const LAB: &str = "lab-ws-01";
const AEO: Option<&str> = Some("Approve for Entire Organization");
const EA: Option<&str> = Some("Elevation Administrator");

#[rustfmt::skip]
const ADMINS: &[(&str, &str, Held)] = &[
    ("org-approver", "lakeside", &[("lakeside", P::ApproveOrganization)]),
    ("group-approver", "northwind", &[("northwind", P::ApproveGroup)]),
    ("computer-approver", "lakeside", &[("lakeside", P::ApproveComputer)]),
    ("app-only", "lakeside", &[("lakeside", P::ApproveComputerApplication)]),
    ("elevation-only", "lakeside", &[("lakeside", P::ElevationAdministrator)]),
    ("elevation-computer", "lakeside", &[("lakeside", P::ElevationAdministrator), ("lakeside", P::ApproveComputer)]),
    ("viewer", "lakeside", &[("lakeside", P::ViewApprovals)]),
    ("sibling", "harbor", &[("harbor", P::ApproveOrganization), ("harbor", P::ElevationAdministrator)]),
    ("lab-approver", "summit-lab", &[("summit-lab", P::ApproveOrganization)]),
    ("summit-approver", "summit", &[("summit", P::ApproveOrganization)]),
    ("child-super", "northwind", &[("northwind", P::SuperAdminChild)]),
    ("lake-child-super", "lakeside", &[("lakeside", P::SuperAdminChild)]),
    ("top-parent-only", "northwind", &[("northwind", P::SuperAdminParentOnly)]),
    ("summit-parent-only", "summit", &[("summit", P::SuperAdminParentOnly)]),
];

#[rustfmt::skip]
const E2E: &[E2e] = &[
    // Approve for Entire Organization, on the request's organization.
    e2e("org-approver", Do::Open, K::Storage, LAKE, None),
    e2e("org-approver", Do::OpenFile, K::Application, LAKE, None),
    e2e("org-approver", Do::Approve(S::Organization, false, None), K::Application, LAKE, None),
    e2e("org-approver", Do::Approve(S::Global, false, None), K::Storage, LAKE, None),
    e2e("org-approver", Do::Approve(S::Organization, false, Some("northwind")), K::Application, LAKE, AEO),
    e2e("org-approver", Do::Approve(S::Computer, false, None), K::Elevation, LAKE, EA),
    e2e("org-approver", Do::Open, K::Elevation, LAKE, EA),
    e2e("org-approver", Do::Reject, K::Application, LAKE, None),
    // Approve for Group, granted on the parent.
    e2e("group-approver", Do::Approve(S::Group, false, None), K::Storage, LAKE, None),
    e2e("group-approver", Do::Approve(S::Organization, false, None), K::Application, LAKE, AEO),
    e2e("group-approver", Do::Approve(S::Computer, true, None), K::Application, LAKE, EA),
    e2e("group-approver", Do::Approve(S::Computer, false, None), K::Application, LAB, None),
    // Approve for Single Computer.
    e2e("computer-approver", Do::Approve(S::Computer, false, None), K::Storage, LAKE, None),
    e2e("computer-approver", Do::Approve(S::Group, false, None), K::Application, LAKE, Some("Approve for Group")),
    e2e("computer-approver", Do::Reject, K::Storage, LAKE, None),
    // Approve for Single Computer (Application Only).
    e2e("app-only", Do::Approve(S::Computer, false, None), K::Application, LAKE, None),
    e2e("app-only", Do::Approve(S::Computer, false, None), K::Storage, LAKE, Some("Approve for Single Computer")),
    e2e("app-only", Do::Open, K::Storage, LAKE, Some("Approve for Single Computer")),
    e2e("app-only", Do::Reject, K::Storage, LAKE, Some("Approve for Single Computer")),
    // Elevation Administrator: with an approve permission, within its scope.
    e2e("elevation-only", Do::Open, K::Elevation, LAKE, Some("Approve for Single Computer")),
    e2e("elevation-only", Do::Approve(S::Computer, false, None), K::Elevation, LAKE, Some("Approve for Single Computer")),
    e2e("elevation-computer", Do::Open, K::Elevation, LAKE, None),
    e2e("elevation-computer", Do::Approve(S::Computer, false, None), K::Elevation, LAKE, None),
    e2e("elevation-computer", Do::Approve(S::Computer, true, None), K::Application, LAKE, None),
    e2e("elevation-computer", Do::Approve(S::Group, false, None), K::Elevation, LAKE, Some("Approve for Group")),
    e2e("elevation-computer", Do::Reject, K::Elevation, LAKE, None),
    // View Approvals: not a request, not its file.
    e2e("viewer", Do::Open, K::Application, LAKE, Some("Approve for Single Computer")),
    e2e("viewer", Do::OpenFile, K::Application, LAKE, Some("Approve for Single Computer")),
    e2e("viewer", Do::Reject, K::Application, LAKE, Some("Approve for Single Computer")),
    e2e("viewer", Do::Approve(S::Computer, false, None), K::Application, LAKE, Some("Approve for Single Computer")),
    // A sibling's grants give nothing.
    e2e("sibling", Do::Open, K::Application, LAKE, AEO),
    e2e("sibling", Do::Approve(S::Computer, false, None), K::Application, LAKE, AEO),
    e2e("sibling", Do::Reject, K::Elevation, LAKE, EA),
    // A grant on the child gives nothing on the parent; one on the parent covers the child.
    e2e("lab-approver", Do::Open, K::Application, SUMMIT, AEO),
    e2e("lab-approver", Do::Approve(S::Computer, false, None), K::Application, SUMMIT, AEO),
    e2e("lab-approver", Do::Approve(S::Organization, false, None), K::Application, LAB, None),
    e2e("summit-approver", Do::Approve(S::Organization, false, None), K::Storage, LAB, None),
    e2e("summit-approver", Do::Approve(S::Global, false, Some("summit")), K::Application, LAB, None),
    e2e("summit-approver", Do::Approve(S::Organization, false, Some("northwind")), K::Application, LAB, AEO),
    // Super Admin - Child: the descendants, not its own organization.
    e2e("child-super", Do::Approve(S::Organization, true, None), K::Application, LAKE, None),
    e2e("child-super", Do::OpenFile, K::Elevation, LAB, None),
    e2e("child-super", Do::Approve(S::Global, false, Some("northwind")), K::Application, SUMMIT, AEO),
    e2e("lake-child-super", Do::Open, K::Application, LAKE, AEO),
    e2e("lake-child-super", Do::Reject, K::Storage, LAKE, AEO),
    // Super Admin - Parent Only: its organization, not the descendants.
    e2e("top-parent-only", Do::Open, K::Application, LAKE, AEO),
    e2e("top-parent-only", Do::Approve(S::Computer, false, None), K::Application, SUMMIT, AEO),
    e2e("summit-parent-only", Do::Approve(S::Organization, true, None), K::Elevation, SUMMIT, None),
    e2e("summit-parent-only", Do::Reject, K::Application, LAB, AEO),
    // Super Admin (the first administrator, on northwind): everything, everywhere below.
    e2e(ROOT, Do::Approve(S::Global, true, Some("northwind")), K::Elevation, LAB, None),
    e2e(ROOT, Do::OpenFile, K::Storage, SUMMIT, None),
];

#[test]
fn end_to_end_open_approve_reject_as_each_administrator() {
    let dir = tempfile::tempdir().unwrap();
    let mut gov = init_state(dir.path());
    for &(id, home, held) in ADMINS {
        add_admin(&mut gov, id, home, held);
    }
    for (n, case) in E2E.iter().enumerate() {
        let context = format!(
            "case {n}: {} {:?} a {} request on {}",
            case.actor, case.action, case.kind, case.computer
        );
        let bytes = content(1, n as u64);
        let request = file(&mut gov, case.kind, case.computer, &bytes, true).unwrap();
        assert_eq!(request.state, RequestState::Pending);
        let id = request.id;
        let actor = case.actor;
        let run = |gov: &mut Governance| -> Result<String, Error> {
            match case.action {
                Do::Open => gov.request(actor, id).map(|r| format!("{:?}", r.state)),
                Do::OpenFile => gov.request_file(actor, id).map(|f| {
                    assert_eq!(f, bytes, "{context}: the stored file");
                    "file".to_owned()
                }),
                Do::Reject => gov
                    .reject(actor, id, "not needed here")
                    .map(|r| format!("{:?}", r.state)),
                Do::Approve(scope, elevate, target) => {
                    let mut options = ApproveOptions::new(scope, Matching::Hash);
                    options.elevate = elevate;
                    options.target = target.map(str::to_owned);
                    options.justification = Some("used across the team".to_owned());
                    gov.approve(actor, id, options)
                        .map(|a| format!("{:?}", a.request.state))
                }
            }
        };
        match case.refused_for {
            Some(missing) => assert_refused(&mut gov, actor, missing, &context, run),
            None => {
                let version = gov.version();
                let outcome = run(&mut gov).unwrap_or_else(|e| panic!("{context}: {e}"));
                let after = gov.read(ROOT, |tx| tx.request(id)).unwrap().unwrap();
                match case.action {
                    Do::Open => assert_eq!(outcome, "Pending", "{context}"),
                    Do::OpenFile => assert_eq!(after.state, RequestState::Pending),
                    Do::Reject => assert_eq!(after.state, RequestState::Rejected, "{context}"),
                    Do::Approve(..) => {
                        assert_eq!(after.state, RequestState::Approved, "{context}");
                        assert_eq!(gov.version(), version + 1, "{context}");
                        let mut event = after.filed.event.clone();
                        event.time = gov.now();
                        let decision = gov.engine().unwrap().decide(&event);
                        assert_eq!(decision.decision, Outcome::Allow, "{context}");
                        if case.kind == K::Elevation {
                            assert!(decision.elevated, "{context}: not elevated");
                        }
                    }
                }
            }
        }
    }
    assert!(gov.verify_audit().unwrap().is_ok());
}

#[test]
fn view_approvals_lists_the_queue_of_its_organizations_only() {
    let dir = tempfile::tempdir().unwrap();
    let mut gov = init_state(dir.path());
    add_admin(
        &mut gov,
        "viewer",
        "lakeside",
        &[("lakeside", P::ViewApprovals)],
    );
    add_admin(
        &mut gov,
        "nobody",
        "lakeside",
        &[("lakeside", P::ViewReports)],
    );
    let lake = file(&mut gov, K::Application, LAKE, &content(2, 1), false).unwrap();
    file(&mut gov, K::Application, SUMMIT, &content(2, 2), false).unwrap();
    let seen: Vec<i64> = gov
        .requests("viewer", None)
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(seen, vec![lake.id]);
    assert_eq!(gov.requests(ROOT, None).unwrap().len(), 2);
    assert_refused(&mut gov, "nobody", "View Approvals", "list", |g| {
        g.requests("nobody", None)
    });
    assert_refused(
        &mut gov,
        "viewer",
        "Approve for Single Computer",
        "open",
        |g| g.request("viewer", lake.id),
    );
}

#[test]
fn end_to_end_maintenance_mode_needs_edit_computers_and_an_approve_permission() {
    let dir = tempfile::tempdir().unwrap();
    let mut gov = init_state(dir.path());
    add_admin(
        &mut gov,
        "computers",
        "lakeside",
        &[("lakeside", P::EditComputers)],
    );
    add_admin(
        &mut gov,
        "approver",
        "lakeside",
        &[("lakeside", P::ApproveOrganization)],
    );
    add_admin(
        &mut gov,
        "both",
        "lakeside",
        &[
            ("lakeside", P::EditComputers),
            ("lakeside", P::ApproveComputerApplication),
        ],
    );
    add_admin(
        &mut gov,
        "elsewhere",
        "harbor",
        &[
            ("harbor", P::EditComputers),
            ("harbor", P::ApproveOrganization),
        ],
    );
    let until = Timestamp::from_unix(gov.now().unix() + 3600);
    let mode = Some((MaintenanceMode::Monitor, until));
    let computer = "lakeside-dc-01";
    assert_refused(
        &mut gov,
        "computers",
        "Approve for Single Computer",
        "edit computers alone",
        |g| g.set_maintenance("computers", computer, mode),
    );
    assert_refused(
        &mut gov,
        "approver",
        "Edit Computers",
        "approve alone",
        |g| g.set_maintenance("approver", computer, mode),
    );
    assert_refused(
        &mut gov,
        "elsewhere",
        "Edit Computers",
        "a sibling's grants",
        |g| g.set_maintenance("elsewhere", computer, mode),
    );
    let version = gov.version();
    assert_eq!(
        gov.set_maintenance("both", computer, mode).unwrap(),
        version + 1
    );
    let event = unknown_file(
        computer,
        support::sha256_of(&content(3, 1)),
        false,
        gov.now(),
    );
    let decision = gov.engine().unwrap().decide(&event);
    assert_eq!(decision.mode, Some(MaintenanceMode::Monitor));
    assert_refused(&mut gov, "approver", "Edit Computers", "end it", |g| {
        g.set_maintenance("approver", computer, None)
    });
    gov.set_maintenance("both", computer, None).unwrap();
}

fn system_log() -> AuditQuery {
    AuditQuery {
        log: Some(AuditLog::System),
        ..AuditQuery::default()
    }
}

#[test]
fn system_audit_is_for_super_admin_not_super_admin_child() {
    let dir = tempfile::tempdir().unwrap();
    let mut gov = init_state(dir.path());
    add_admin(
        &mut gov,
        "child-super",
        "northwind",
        &[("northwind", P::SuperAdminChild)],
    );
    add_admin(
        &mut gov,
        "summit-super",
        "summit",
        &[("summit", P::SuperAdmin)],
    );
    assert!(!gov.search_audit(ROOT, &system_log()).unwrap().is_empty());
    let seen = gov.search_audit("summit-super", &system_log()).unwrap();
    assert!(!seen.is_empty());
    // Only entries of summit and below, or of no one organization.
    assert!(seen.iter().all(|r| r
        .entry
        .organization
        .as_deref()
        .is_none_or(|o| o == "summit" || o == "summit-lab")));
    assert_refused(
        &mut gov,
        "child-super",
        "View System Audit",
        "system audit",
        |g| g.search_audit("child-super", &system_log()),
    );
}

#[test]
fn nobody_grants_what_they_do_not_hold_or_changes_their_own_permissions() {
    let dir = tempfile::tempdir().unwrap();
    let mut gov = init_state(dir.path());
    add_admin(
        &mut gov,
        "delegate",
        "lakeside",
        &[
            ("lakeside", P::ChangePermission),
            ("lakeside", P::ViewAdministrators),
            ("lakeside", P::ApproveComputer),
            ("lakeside", P::ViewReports),
        ],
    );
    add_admin(
        &mut gov,
        "change-only",
        "lakeside",
        &[
            ("lakeside", P::ChangePermission),
            ("lakeside", P::ApproveComputer),
        ],
    );
    add_admin(
        &mut gov,
        "editor",
        "lakeside",
        &[
            ("lakeside", P::EditAdministrators),
            ("lakeside", P::ApproveComputer),
        ],
    );
    add_admin(&mut gov, "target", "lakeside", &[]);

    // Allowed: a permission the delegate holds, on its organization.
    gov.grant(
        "delegate",
        permission("target", "lakeside", P::ApproveComputer),
    )
    .unwrap();
    assert_eq!(
        gov.grants("target").unwrap(),
        vec![permission("target", "lakeside", P::ApproveComputer)]
    );
    // A permission the delegate does not hold there.
    assert_refused(
        &mut gov,
        "delegate",
        "Approve for Entire Organization",
        "not held",
        |g| {
            g.grant(
                "delegate",
                permission("target", "lakeside", P::ApproveOrganization),
            )
        },
    );
    assert_refused(&mut gov, "delegate", "Super Admin", "not held", |g| {
        g.grant("delegate", permission("target", "lakeside", P::SuperAdmin))
    });
    // The parent and a sibling.
    assert_refused(&mut gov, "delegate", "Change Permission", "parent", |g| {
        g.grant(
            "delegate",
            permission("target", "northwind", P::ViewReports),
        )
    });
    assert_refused(&mut gov, "delegate", "Change Permission", "sibling", |g| {
        g.grant("delegate", permission("target", "harbor", P::ViewReports))
    });
    // Change Permission needs View or Edit Administrators; Edit Administrators is not
    // Change Permission.
    assert_refused(
        &mut gov,
        "change-only",
        "View Administrators or Edit Administrators",
        "change permission alone",
        |g| {
            g.grant(
                "change-only",
                permission("target", "lakeside", P::ApproveComputer),
            )
        },
    );
    assert_refused(
        &mut gov,
        "editor",
        "Change Permission",
        "edit administrators",
        |g| {
            g.revoke(
                "editor",
                permission("target", "lakeside", P::ApproveComputer),
            )
        },
    );
    // Nobody changes their own permissions, not even a Super Admin.
    assert_invalid(&mut gov, "own permissions", "grant to self", |g| {
        g.grant(
            "delegate",
            permission("delegate", "lakeside", P::ViewReports),
        )
    });
    assert_invalid(&mut gov, "own permissions", "revoke own", |g| {
        g.revoke(
            "delegate",
            permission("delegate", "lakeside", P::ViewReports),
        )
    });
    assert_invalid(&mut gov, "own permissions", "root grants to self", |g| {
        g.grant(ROOT, permission(ROOT, "lakeside", P::ViewReports))
    });
    assert_invalid(&mut gov, "own permissions", "root revokes own", |g| {
        g.revoke(ROOT, permission(ROOT, "northwind", P::SuperAdmin))
    });
    // Revoking follows the same rules.
    gov.revoke(
        "delegate",
        permission("target", "lakeside", P::ApproveComputer),
    )
    .unwrap();
    assert!(gov.grants("target").unwrap().is_empty());
}

#[test]
fn roles_apply_in_their_organization_and_descendants_and_hand_out_only_what_is_held() {
    let dir = tempfile::tempdir().unwrap();
    let mut gov = init_state(dir.path());
    add_admin(
        &mut gov,
        "role-admin",
        "summit",
        &[
            ("summit", P::RoleAdministrator),
            ("summit", P::AssignRoles),
            ("summit", P::ApproveComputer),
        ],
    );
    add_admin(
        &mut gov,
        "lab-assigner",
        "summit-lab",
        &[("summit-lab", P::AssignRoles)],
    );
    add_admin(&mut gov, "lab-admin", "summit-lab", &[]);
    add_admin(&mut gov, "lake-admin", "lakeside", &[]);
    let approvers = RoleRecord {
        id: "summit-approvers".into(),
        organization: "summit".into(),
        name: "Summit approvers".into(),
        permissions: vec![P::ApproveComputer],
    };
    gov.define_role("role-admin", approvers.clone()).unwrap();
    assert_eq!(gov.roles().unwrap(), vec![approvers.clone()]);

    // Defining: Role Administrator on the role's organization, and only held permissions.
    assert_refused(
        &mut gov,
        "role-admin",
        "Approve for Entire Organization",
        "not held",
        |g| {
            g.define_role(
                "role-admin",
                RoleRecord {
                    id: "too-much".into(),
                    permissions: vec![P::ApproveComputer, P::ApproveOrganization],
                    ..approvers.clone()
                },
            )
        },
    );
    assert_refused(
        &mut gov,
        "role-admin",
        "Role Administrator",
        "parent",
        |g| {
            g.define_role(
                "role-admin",
                RoleRecord {
                    id: "top".into(),
                    organization: "northwind".into(),
                    ..approvers.clone()
                },
            )
        },
    );
    assert_refused(
        &mut gov,
        "role-admin",
        "Approve for Entire Organization",
        "widen",
        |g| {
            g.define_role(
                "role-admin",
                RoleRecord {
                    permissions: vec![P::ApproveOrganization],
                    ..approvers.clone()
                },
            )
        },
    );

    // Assigning: in the role's organization or a descendant, never the parent or a
    // sibling, and only by someone who holds its permissions there.
    assert_invalid(&mut gov, "defined in `summit`", "parent", |g| {
        g.grant(ROOT, role("lake-admin", "northwind", "summit-approvers"))
    });
    assert_invalid(&mut gov, "defined in `summit`", "sibling", |g| {
        g.grant(ROOT, role("lake-admin", "lakeside", "summit-approvers"))
    });
    assert_refused(
        &mut gov,
        "lab-assigner",
        "Approve for Single Computer",
        "not held",
        |g| {
            g.grant(
                "lab-assigner",
                role("lab-admin", "summit-lab", "summit-approvers"),
            )
        },
    );
    assert_refused(&mut gov, "lab-assigner", "Assign Roles", "parent", |g| {
        g.grant(
            "lab-assigner",
            role("lab-admin", "summit", "summit-approvers"),
        )
    });
    assert_invalid(&mut gov, "own permissions", "self", |g| {
        g.grant(
            "role-admin",
            role("role-admin", "summit", "summit-approvers"),
        )
    });
    gov.grant(
        "role-admin",
        role("lab-admin", "summit-lab", "summit-approvers"),
    )
    .unwrap();

    // The role works where it was assigned and below, not above.
    let lab = file(&mut gov, K::Application, LAB, &content(4, 1), false).unwrap();
    let summit = file(&mut gov, K::Application, SUMMIT, &content(4, 2), false).unwrap();
    assert_refused(
        &mut gov,
        "lab-admin",
        "Approve for Single Computer",
        "above",
        |g| {
            g.approve(
                "lab-admin",
                summit.id,
                ApproveOptions::new(S::Computer, Matching::Hash),
            )
        },
    );
    assert_refused(&mut gov, "lab-admin", "Approve for Group", "wider", |g| {
        g.approve(
            "lab-admin",
            lab.id,
            ApproveOptions::new(S::Group, Matching::Hash),
        )
    });
    let approved = gov
        .approve(
            "lab-admin",
            lab.id,
            ApproveOptions::new(S::Computer, Matching::Hash),
        )
        .unwrap();
    assert_eq!(approved.request.state, RequestState::Approved);

    // Unassigning takes it away.
    gov.revoke(
        "role-admin",
        role("lab-admin", "summit-lab", "summit-approvers"),
    )
    .unwrap();
    let again = file(&mut gov, K::Application, LAB, &content(4, 3), false).unwrap();
    assert_refused(
        &mut gov,
        "lab-admin",
        "Approve for Single Computer",
        "revoked",
        |g| g.request("lab-admin", again.id),
    );
}

/// SPEC §8: nobody can change their own permissions. Redefining a role that is
/// assigned to oneself changes them; with Super Admin - Parent Only it even hands the
/// definer, on a child organization, a permission nobody granted them there.
#[test]
fn redefining_a_role_one_holds_does_not_change_ones_own_permissions() {
    let dir = tempfile::tempdir().unwrap();
    let mut gov = init_state(dir.path());
    add_admin(
        &mut gov,
        "parent-only",
        "summit",
        &[("summit", P::SuperAdminParentOnly)],
    );
    let reports = RoleRecord {
        id: "lab-reports".into(),
        organization: "summit".into(),
        name: "Lab reports".into(),
        permissions: vec![P::ViewReports],
    };
    gov.define_role(ROOT, reports.clone()).unwrap();
    gov.grant(ROOT, role("parent-only", "summit-lab", "lab-reports"))
        .unwrap();
    let held = |gov: &mut Governance| {
        gov.permissions_of(ROOT, "parent-only")
            .unwrap()
            .get("summit-lab")
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(held(&mut gov), vec![P::ViewReports]);
    let before = fingerprint(&mut gov);
    let outcome = gov.define_role(
        "parent-only",
        RoleRecord {
            permissions: vec![P::ViewReports, P::EditBilling],
            ..reports
        },
    );
    assert!(
        outcome.is_err(),
        "`parent-only` redefined a role assigned to itself and now holds {:?} on summit-lab",
        held(&mut gov)
    );
    assert_eq!(fingerprint(&mut gov), before);
    assert_eq!(held(&mut gov), vec![P::ViewReports]);
}

#[test]
fn merging_into_an_existing_application_needs_merge_and_edit_applications() {
    let dir = tempfile::tempdir().unwrap();
    let mut gov = init_state(dir.path());
    let lake = |p| ("lakeside", p);
    add_admin(
        &mut gov,
        "approver",
        "lakeside",
        &[lake(P::ApproveComputer)],
    );
    add_admin(
        &mut gov,
        "merge-only",
        "lakeside",
        &[lake(P::ApproveComputer), lake(P::AllowApplicationMerge)],
    );
    add_admin(
        &mut gov,
        "merger",
        "lakeside",
        &[
            lake(P::ApproveComputer),
            lake(P::AllowApplicationMerge),
            lake(P::EditApplications),
        ],
    );
    let into = |app: &str| {
        let mut options = ApproveOptions::new(S::Computer, Matching::Hash);
        options.application = Some(app.to_owned());
        options
    };
    let request = file(&mut gov, K::Application, LAKE, &content(5, 1), false).unwrap();
    assert_refused(
        &mut gov,
        "approver",
        "Allow Application Merge",
        "no merge",
        |g| g.approve("approver", request.id, into("ehr-client")),
    );
    assert_refused(
        &mut gov,
        "merge-only",
        "Edit Application Control Applications",
        "merge alone",
        |g| g.approve("merge-only", request.id, into("ehr-client")),
    );
    // An application of the parent organization: grants on lakeside do not reach it.
    assert_refused(
        &mut gov,
        "merger",
        "Allow Application Merge",
        "parent's",
        |g| g.approve("merger", request.id, into("google-chrome")),
    );
    let approved = gov
        .approve("merger", request.id, into("ehr-client"))
        .unwrap();
    let approval = approved.request.closure.unwrap().approval.unwrap();
    assert_eq!(approval.application, "ehr-client");
    assert!(!approval.new_application);
    let ehr = gov
        .bundle()
        .applications
        .iter()
        .find(|a| a.id == "ehr-client")
        .unwrap();
    assert!(ehr
        .rules
        .iter()
        .any(|r| r.sha256 == Some(support::sha256_of(&content(5, 1)))));
}
