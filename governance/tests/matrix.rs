#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The permission matrix as data (`tests/matrix/permissions.txt`): every governed
//! action × every permission of the catalogue, pairs of permissions and roles × where
//! the grant is relative to the organization acted on. One runner; roles go through a
//! real state so that their expansion is part of what is checked.

mod support;

use std::collections::BTreeSet;

use portcullis_governance::{
    AccessRequestKind, Act, Governance, Holdings, OrgTree, Permission, RoleRecord, ScopeKind,
};
use support::{add_admin, role, ROOT};

const TARGET: &str = "summit";
/// Where the grant is, per column: same, ancestor, descendant, sibling.
const RELATIONS: [(&str, &str); 4] = [
    ("same", "summit"),
    ("ancestor", "northwind"),
    ("descendant", "summit-lab"),
    ("sibling", "harbor"),
];

fn act(text: &str) -> Act {
    let kind = |k: &str| match k {
        "application" => AccessRequestKind::Application,
        "storage" => AccessRequestKind::Storage,
        "elevation" => AccessRequestKind::Elevation,
        other => panic!("unknown request kind `{other}`"),
    };
    let scope = |s: &str| match s {
        "computer" => ScopeKind::Computer,
        "group" => ScopeKind::Group,
        "organization" => ScopeKind::Organization,
        "global" => ScopeKind::Global,
        other => panic!("unknown scope `{other}`"),
    };
    let parts: Vec<&str> = text.split(':').collect();
    match parts.as_slice() {
        ["open-request", k] => Act::OpenRequest(kind(k)),
        ["reject", k] => Act::Reject(kind(k)),
        ["approve", k, s] => Act::Approve {
            kind: kind(k),
            scope: scope(s),
            elevate: false,
        },
        ["approve", k, s, "elevate"] => Act::Approve {
            kind: kind(k),
            scope: scope(s),
            elevate: true,
        },
        ["list-requests"] => Act::ListRequests,
        ["merge-into-application"] => Act::MergeIntoApplication,
        ["deploy"] => Act::Deploy,
        ["maintenance"] => Act::Maintenance,
        ["edit-settings"] => Act::EditSettings,
        ["edit-policies"] => Act::EditPolicies,
        ["edit-applications"] => Act::EditApplications,
        ["edit-computers"] => Act::EditComputers,
        ["edit-computer-groups"] => Act::EditComputerGroups,
        ["edit-organizations"] => Act::EditOrganizations,
        ["edit-integrations"] => Act::EditIntegrations,
        ["view-administrators"] => Act::ViewAdministrators,
        ["edit-administrators"] => Act::EditAdministrators,
        ["change-permissions"] => Act::ChangePermissions,
        ["assign-roles"] => Act::AssignRoles,
        ["define-roles"] => Act::DefineRoles,
        ["view-unified-audit"] => Act::ViewUnifiedAudit,
        ["view-system-audit"] => Act::ViewSystemAudit,
        ["reanchor-audit"] => Act::ReanchorAudit,
        _ => panic!("unknown act `{text}`"),
    }
}

struct Row {
    line: usize,
    act: String,
    holding: String,
    expected: [bool; 4],
}

fn rows() -> Vec<Row> {
    let text = include_str!("matrix/permissions.txt");
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|(n, l)| {
            let fields: Vec<&str> = l.split('|').map(str::trim).collect();
            let [act, holding, cells] = fields.as_slice() else {
                panic!("line {}: `act | holding | cells`", n + 1)
            };
            let cells: Vec<bool> = cells
                .split_whitespace()
                .map(|c| match c {
                    "Y" => true,
                    "-" => false,
                    other => panic!("line {}: `{other}` is not Y or -", n + 1),
                })
                .collect();
            Row {
                line: n + 1,
                act: (*act).to_owned(),
                holding: (*holding).to_owned(),
                expected: cells
                    .try_into()
                    .unwrap_or_else(|_| panic!("line {}: four cells", n + 1)),
            }
        })
        .collect()
}

fn permissions(text: &str) -> Vec<Permission> {
    text.split('+').map(|p| p.parse().unwrap()).collect()
}

/// Checks one cell: allowed, or refused naming only permissions the holder lacks.
fn check(tree: &OrgTree, holdings: &Holdings, act: Act, allowed: bool, context: &str) {
    match (holdings.check(tree, act, TARGET), allowed) {
        (Ok(()), true) => {}
        (Ok(()), false) => panic!("{context}: allowed, the matrix says refused"),
        (Err(r), true) => panic!("{context}: refused ({r}), the matrix says allowed"),
        (Err(r), false) => {
            assert_eq!(r.organization, TARGET, "{context}");
            assert_eq!(r.action, act.describe(), "{context}");
            for name in r.missing.split(", and ").flat_map(|c| c.split(" or ")) {
                let p: Permission = name
                    .parse()
                    .unwrap_or_else(|e| panic!("{context}: `missing` names no permission: {e}"));
                assert!(
                    !holdings.holds(tree, p, TARGET),
                    "{context}: names {p}, held"
                );
            }
        }
    }
}

#[test]
fn the_permission_matrix() {
    let tree = OrgTree::of(&support::example_bundle());
    let rows = rows();
    let dir = tempfile::tempdir().unwrap();
    let mut gov = support::init_state(dir.path());
    let mut listed: BTreeSet<(String, Permission)> = BTreeSet::new();
    let mut acts: BTreeSet<String> = BTreeSet::new();
    let mut checked = 0usize;
    for row in &rows {
        let act = act(&row.act);
        acts.insert(row.act.clone());
        for (column, (relation, at)) in RELATIONS.iter().enumerate() {
            let context = format!(
                "line {}: {} with {} {relation}",
                row.line, row.act, row.holding
            );
            let holdings = match row.holding.strip_prefix("role:") {
                None => {
                    let held = permissions(&row.holding);
                    if let [single] = held.as_slice() {
                        listed.insert((row.act.clone(), *single));
                    }
                    Holdings::new(
                        "tester",
                        held.into_iter().map(|p| ((*at).to_owned(), p)).collect(),
                    )
                }
                Some(perms) => role_holdings(&mut gov, row.line, relation, at, &permissions(perms)),
            };
            check(&tree, &holdings, act, row.expected[column], &context);
            checked += 1;
        }
    }
    // Every other single permission is refused everywhere.
    for name in &acts {
        let act = act(name);
        for &p in Permission::ALL {
            if listed.contains(&(name.clone(), p)) {
                continue;
            }
            for (relation, at) in RELATIONS {
                let holdings = Holdings::new("tester", vec![(at.to_owned(), p)]);
                let context = format!("{name} with {p} {relation} (not listed)");
                check(&tree, &holdings, act, false, &context);
                checked += 1;
            }
        }
    }
    assert!(acts.len() >= 49, "{} acts in the matrix", acts.len());
    assert!(checked > 7_000, "{checked} cells");
}

/// What an administrator holds after being assigned, at `at`, a role defined in
/// `northwind` with `permissions`, as the state expands it.
fn role_holdings(
    gov: &mut Governance,
    line: usize,
    relation: &str,
    at: &str,
    permissions: &[Permission],
) -> Holdings {
    let role_id = format!("role-{line}");
    if !gov.roles().unwrap().iter().any(|r| r.id == role_id) {
        gov.define_role(
            ROOT,
            RoleRecord {
                id: role_id.clone(),
                organization: "northwind".into(),
                name: role_id.clone(),
                permissions: permissions.to_vec(),
            },
        )
        .unwrap();
    }
    let admin = format!("a-{line}-{relation}");
    add_admin(gov, &admin, "northwind", &[]);
    gov.grant(ROOT, role(&admin, at, &role_id)).unwrap();
    let held = gov.permissions_of(ROOT, &admin).unwrap();
    Holdings::new(
        "tester",
        held.into_iter()
            .flat_map(|(org, ps)| ps.into_iter().map(move |p| (org.clone(), p)))
            .collect(),
    )
}
