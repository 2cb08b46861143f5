//! What one computer needs to decide for itself: its organization and their ancestors,
//! its group, itself, the policies that can apply to it, and the applications those
//! policies target. Nothing of another organization outside its lineage, of another
//! group, or of another computer.

use std::collections::BTreeSet;

use portcullis_engine::model::Scope;
use portcullis_engine::Bundle;

use crate::access::OrgTree;

/// The view of `bundle` for computer `id`; `None` when the bundle has no such computer
/// (or its group is missing).
pub fn computer_view(bundle: &Bundle, id: &str) -> Option<Bundle> {
    let computer = bundle.computers.iter().find(|c| c.id == id)?;
    let group = bundle.groups.iter().find(|g| g.id == computer.group)?;
    let tree = OrgTree::of(bundle);
    let lineage: BTreeSet<&str> = tree.lineage(&group.organization).collect();
    let applies = |scope: &Scope| match scope {
        Scope::Computer(c) => c == id,
        Scope::Group(g) => *g == group.id,
        Scope::Organization(o) => *o == group.organization,
        Scope::Global(o) => lineage.contains(o.as_str()),
    };
    let policies: Vec<_> = bundle
        .policies
        .iter()
        .filter(|p| applies(&p.scope))
        .cloned()
        .collect();
    let targeted: BTreeSet<&str> = policies
        .iter()
        .flat_map(|p| p.applications.iter().map(String::as_str))
        .collect();
    Some(Bundle {
        format: bundle.format.clone(),
        organizations: bundle
            .organizations
            .iter()
            .filter(|o| lineage.contains(o.id.as_str()))
            .cloned()
            .collect(),
        groups: vec![group.clone()],
        computers: vec![computer.clone()],
        applications: bundle
            .applications
            .iter()
            .filter(|a| targeted.contains(a.id.as_str()))
            .cloned()
            .collect(),
        policies,
    })
}
