//! One organization, compiled: its entries as written, its rule index, its policies
//! and their lists by target.

use crate::index::{RuleIndex, RuleOf};
use crate::model::{
    Application, Computer, ComputerGroup, DenyOptions, FileRule, Organization, Policy,
};

use super::bound::PathBounds;
use super::policy::{CompiledPolicy, Targets};

/// Everything one organization owns, as written. Compiling it is a pure function of
/// this value (and the application keys), which is what lets an unchanged organization
/// keep its compiled partition across deploys.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct OrgSource {
    pub(crate) organization: Organization,
    pub(crate) groups: Vec<ComputerGroup>,
    pub(crate) computers: Vec<Computer>,
    /// As written until compiled. A compiled partition's source keeps only the rules
    /// that are not bare hash rules: read an application whole through
    /// [`Partition::application`].
    pub(crate) applications: Vec<Application>,
    pub(crate) policies: Vec<Policy>,
}

/// One organization, compiled.
///
/// In C order and on a cache line of its own: what every decision reads of the
/// organization (its policy lists, application keys, policies and path bounds, then
/// the head of its rule index: 168 bytes) fills the first three lines, in this
/// order; a signed event or a search of the path patterns reads the fourth, and the
/// rest comes after.
#[derive(Debug)]
#[repr(C, align(64))]
pub(crate) struct Partition {
    /// Enabled policies by the application and the slot they target.
    pub(crate) targets: Targets,
    /// The key of each of the organization's applications, by local index.
    pub(crate) app_keys: Box<[u32]>,
    pub(crate) policies: Box<[CompiledPolicy]>,
    /// Where in the position order its path patterns stop mattering.
    pub(crate) path_bounds: PathBounds,
    pub(crate) index: RuleIndex,
    pub(crate) source: OrgSource,
    /// The group of each computer, by local index.
    pub(crate) computer_groups: Box<[u32]>,
    pub(crate) default_deny: DenyOptions,
}

impl Partition {
    /// Application `local` as written, its bare hash rules put back in place.
    pub(crate) fn application(&self, local: u32) -> Option<Application> {
        let source = self.source.applications.get(local as usize)?;
        let mut kept = source.rules.iter();
        let rules = self
            .index
            .rules_of(local)
            .filter_map(|rule| match rule {
                RuleOf::Compiled(_) => kept.next().cloned(),
                RuleOf::Bare(_, digest) => Some(FileRule::hash(*digest)),
            })
            .collect();
        Some(Application {
            id: source.id.clone(),
            organization: source.organization.clone(),
            name: source.name.clone(),
            rules,
        })
    }

    /// Whether application `local` equals `other`, without building it.
    pub(crate) fn same_application(&self, local: u32, other: &Application) -> bool {
        let Some(source) = self.source.applications.get(local as usize) else {
            return false;
        };
        // Destructured, so that a field added to `Application` is not left out here.
        let Application {
            id,
            organization,
            name,
            rules,
        } = other;
        let mut kept = source.rules.iter();
        let mut ours = self.index.rules_of(local);
        let same_rules = rules.iter().all(|rule| match ours.next() {
            Some(RuleOf::Compiled(_)) => kept.next() == Some(rule),
            Some(RuleOf::Bare(_, digest)) => *rule == FileRule::hash(*digest),
            None => false,
        });
        same_rules
            && ours.next().is_none()
            && source.id == *id
            && source.organization == *organization
            && source.name == *name
    }
}

#[cfg(test)]
mod tests {
    use std::mem::{align_of, offset_of};

    use super::Partition;
    use crate::index::DECISION_HEAD;

    #[test]
    fn what_every_decision_reads_fills_the_first_three_cache_lines() {
        assert_eq!(align_of::<Partition>(), 64);
        assert!(
            offset_of!(Partition, index) + DECISION_HEAD <= 3 * 64,
            "the head of a partition spills past three cache lines: {} bytes",
            offset_of!(Partition, index) + DECISION_HEAD
        );
    }
}
