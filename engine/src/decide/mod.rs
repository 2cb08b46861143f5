//! `decide(&Snapshot, &Event) -> Decision`: pure, lock-free, and allocation-free once
//! the thread's scratch space has grown.
//!
//! The steps, for an execution on computer C (group G, organization O, ancestors A…):
//! 1. nothing is normalized up front: each of the event's paths is normalized for C's
//!    path family the first time a rule or a pattern set needs it;
//! 2. in the rule index of O and of each ancestor, collect the applications with a
//!    matching rule: first the rules filed under the hash and the signer, then, only
//!    where a policy that could still come first depends on them, those filed under
//!    path patterns;
//! 3. for each such application, look up the enabled policies targeting it at C, G, O
//!    and global-of-O, and global-of-each-ancestor up to the application's owner — each
//!    list already sorted by position — and keep the first applicable one (time window,
//!    users) with the lowest (position, depth), where an ancestor wins a tie;
//! 4. no policy: the default deny of O; then maintenance modes and elevation. Every
//!    path that cannot be normalized is reported; one no rule needed is only checked,
//!    and normalized only when the check cannot vouch for it.

mod explain;

use std::cell::RefCell;

pub use explain::{Explanation, PolicyTrace, TraceStatus};

use crate::compiled::{CompiledPolicy, ComputerLoc, OrgNode, Partition, Tables, NO_POLICY};
use crate::index::{Candidate, EventView, IndexScratch, Match, PathField};
use crate::model::{
    Action, Decision, DenyOptions, Event, MaintenanceMode, Outcome, Problems, RequestKind,
};
use crate::snapshot::Snapshot;

/// Reusable buffers for decisions; keep one per thread and pass it to
/// [`Snapshot::decide_with`] to decide without allocating.
#[derive(Debug, Default)]
pub struct Scratch {
    path: String,
    parent: String,
    created_by: String,
    index: IndexScratch,
    apps: Vec<Matched>,
}

/// An application with a rule that matches the event (step 2).
#[derive(Debug, Clone, Copy)]
struct Matched {
    key: u32,
    /// Its local index in the organization that owns it.
    local: u32,
    /// The strongest match among its rules.
    strength: Match,
    /// Index in the computer's organization chain of the organization that owns it.
    owner: usize,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// The deciding policy, found in step 3.
#[derive(Clone, Copy)]
pub(crate) struct Winner<'s> {
    pub(crate) policy: &'s CompiledPolicy,
    /// Index in the computer's organization chain: 0 is its own organization.
    depth: usize,
    app: u32,
    /// Index of `app` among the policy's targets: when several of a policy's
    /// applications match, the first one listed is reported.
    target: usize,
}

impl Winner<'_> {
    /// Ordering key: lower wins. An ancestor (larger `depth`) wins a position tie.
    fn rank(&self) -> (i64, std::cmp::Reverse<usize>, usize) {
        (
            self.policy.position,
            std::cmp::Reverse(self.depth),
            self.target,
        )
    }
}

/// Where the event's computer sits: its organization and its record.
pub(crate) struct Place<'s> {
    pub(crate) node: &'s OrgNode,
    /// The organization's chain: itself, then its ancestors.
    pub(crate) chain: &'s [u32],
    pub(crate) computer: &'s ComputerLoc,
}

impl Snapshot {
    /// Decides an execution, with this thread's scratch space.
    pub fn decide(&self, event: &Event) -> Decision<'_> {
        SCRATCH.with(|cell| match cell.try_borrow_mut() {
            Ok(mut scratch) => self.decide_with(event, &mut scratch),
            Err(_) => self.decide_with(event, &mut Scratch::default()),
        })
    }

    /// Decides an execution with caller-provided scratch space.
    pub fn decide_with<'s>(&'s self, event: &Event, scratch: &mut Scratch) -> Decision<'s> {
        let tables: &Tables = &self.tables;
        let Some(place) = locate(tables, &event.computer) else {
            return self.unknown_computer();
        };
        let family = place.computer.family;
        let Scratch {
            path,
            parent,
            created_by,
            index,
            apps,
        } = scratch;
        let mut view = EventView::new(family, event, [path, parent, created_by]);
        // Step 2, first the rules filed under the hash and the signer, which need no
        // path, and the policy they give.
        apps.clear();
        for (depth, &org) in place.chain.iter().enumerate() {
            let Some(partition) = tables.orgs.get(org as usize).map(|n| &n.partition) else {
                continue;
            };
            partition.index.map_candidates(&view, &mut index.candidates);
            collect(partition, depth, &mut view, index, apps);
        }
        // No application matched yet (a miss, or a path hit): no policy to look up.
        let mut winner = if apps.is_empty() {
            None
        } else {
            first_policy(tables, &place, event, apps)
        };
        // Then the path patterns, of the organizations where a policy that could
        // still come first can decide through them.
        let before = winner.map(|w| w.policy.position);
        if search_paths(tables, &place, before, &mut view, index, apps) {
            winner = first_policy(tables, &place, event, apps);
        }
        let problems = Problems {
            unknown_computer: false,
            path: view.problem(PathField::Path),
            parent: view.problem(PathField::Process),
            created_by: view.problem(PathField::CreatedBy),
        };
        let mode = place
            .computer
            .maintenance
            .filter(|m| event.time < m.until)
            .map(|m| m.mode);
        self.conclude(&place, event, winner, mode, problems)
    }

    fn unknown_computer(&self) -> Decision<'_> {
        Decision {
            default_deny: true,
            problems: Problems {
                unknown_computer: true,
                ..Problems::default()
            },
            ..blank(self.generation)
        }
    }

    /// Step 4: from the deciding policy (or none) to the decision.
    fn conclude<'s>(
        &'s self,
        place: &Place<'s>,
        event: &Event,
        winner: Option<Winner<'s>>,
        mode: Option<MaintenanceMode>,
        problems: Problems,
    ) -> Decision<'s> {
        let default_deny = &place.node.partition.default_deny;
        let request_kind = if event.elevation {
            RequestKind::Elevation
        } else {
            RequestKind::Application
        };
        let mut decision = Decision {
            problems,
            ..blank(self.generation)
        };
        match winner {
            Some(winner) => {
                let policy = winner.policy;
                decision.policy = Some(&policy.id);
                // The target the lists recorded: no search of the policy's targets.
                decision.application = policy
                    .targets
                    .get(winner.target)
                    .filter(|(key, _)| *key == winner.app)
                    .or_else(|| policy.targets.iter().find(|(key, _)| *key == winner.app))
                    .map(|(_, id)| &**id);
                match policy.action {
                    Action::Permit => {
                        decision.decision = Outcome::Allow;
                        decision.elevated = event.elevation && policy.elevate;
                        if event.elevation && !policy.elevate {
                            // Runs, but as a standard user; the user may ask for
                            // elevation as the organization's default deny allows.
                            apply_deny_options(&mut decision, default_deny, RequestKind::Elevation);
                        }
                    }
                    // Explicit denies block in every maintenance mode.
                    Action::Deny => {
                        apply_deny_options(&mut decision, &policy.on_deny, request_kind)
                    }
                }
            }
            None => {
                decision.default_deny = true;
                match mode {
                    None => apply_deny_options(&mut decision, default_deny, request_kind),
                    Some(mode) => {
                        decision.decision = Outcome::Allow;
                        decision.mode = Some(mode);
                        decision.would_deny = mode != MaintenanceMode::Installation;
                        decision.learn = mode != MaintenanceMode::Monitor;
                    }
                }
            }
        }
        decision
    }
}

/// A deny that says nothing else: the start of every decision.
fn blank<'s>(generation: u64) -> Decision<'s> {
    Decision {
        decision: Outcome::Deny,
        elevated: false,
        policy: None,
        application: None,
        default_deny: false,
        would_deny: false,
        mode: None,
        notify_user: false,
        can_request: false,
        request_kind: None,
        notify: &[],
        learn: false,
        generation,
        problems: Problems::default(),
    }
}

fn apply_deny_options<'s>(
    decision: &mut Decision<'s>,
    options: &'s DenyOptions,
    kind: RequestKind,
) {
    decision.notify_user = options.notify_user;
    decision.can_request = options.notify_user && options.allow_request;
    if decision.can_request {
        decision.request_kind = Some(kind);
        decision.notify = &options.notify;
    }
}

pub(crate) fn locate<'s>(tables: &'s Tables, computer: &str) -> Option<Place<'s>> {
    let loc = tables.computers.get(computer.as_bytes())?;
    let node = tables.orgs.get(loc.org as usize)?;
    Some(Place {
        node,
        chain: &node.chain,
        computer: loc,
    })
}

/// Verifies the candidate rules of `partition` (at `depth` in the chain) in
/// `index.candidates` and adds the applications of those that match to `apps`, with the
/// strongest match seen for each. Returns whether `apps` changed.
#[inline]
fn collect(
    partition: &Partition,
    depth: usize,
    view: &mut EventView<'_>,
    index: &mut IndexScratch,
    apps: &mut Vec<Matched>,
) -> bool {
    let mut changed = false;
    for &id in &index.candidates {
        let (app, found) = match partition.index.candidate(id) {
            Some(Candidate::Bare(app)) => (app, Match::Yes),
            Some(Candidate::Rule(rule)) => (rule.app, rule.check(view, &mut index.patterns)),
            None => continue,
        };
        if found == Match::No {
            continue;
        }
        let Some(&key) = partition.app_keys.get(app as usize) else {
            continue;
        };
        match apps.iter_mut().find(|m| m.key == key) {
            Some(m) if m.strength >= found => {}
            Some(m) => {
                m.strength = found;
                changed = true;
            }
            None => {
                apps.push(Matched {
                    key,
                    local: app,
                    strength: found,
                    owner: depth,
                });
                changed = true;
            }
        }
    }
    changed
}

/// The rest of step 2: the rules filed under path patterns, in each organization of
/// the chain where a policy at or before `decided` (the position of the policy the
/// other rules gave, if any) may decide through them. Returns whether it found a match
/// the first search of policies has not seen.
///
/// Skipping is exact. Such a rule can only matter through a policy targeting its
/// application, and every such policy the computer sees is at or after the
/// organization's bound ([`PathBounds`](crate::compiled::PathBounds)): a policy that is
/// already better wins over all of them, ties included, and whatever such a rule
/// would add (an application, a stronger match, an earlier target of the same
/// policy) concerns only those later policies.
fn search_paths(
    tables: &Tables,
    place: &Place<'_>,
    decided: Option<i64>,
    view: &mut EventView<'_>,
    index: &mut IndexScratch,
    apps: &mut Vec<Matched>,
) -> bool {
    let chain = place.chain;
    let partitions = || {
        chain.iter().enumerate().filter_map(|(depth, &org)| {
            tables
                .orgs
                .get(org as usize)
                .map(|n| (depth, &*n.partition))
        })
    };
    // Another organization's policy may target this one's applications.
    let foreign = partitions()
        .map(|(depth, p)| p.path_bounds.foreign(depth))
        .min()
        .unwrap_or(NO_POLICY);
    let mut changed = false;
    for (depth, partition) in partitions() {
        let bound = partition
            .path_bounds
            .own(depth, place.computer.local)
            .min(foreign);
        if bound == NO_POLICY || decided.is_some_and(|position| position < bound) {
            continue;
        }
        partition.index.path_candidates(view, index);
        changed |= collect(partition, depth, view, index, apps);
    }
    changed
}

/// Step 3: the first applicable policy targeting one of the matched applications.
fn first_policy<'s>(
    tables: &'s Tables,
    place: &Place<'s>,
    event: &Event,
    apps: &[Matched],
) -> Option<Winner<'s>> {
    let mut best: Option<Winner<'s>> = None;
    for &Matched {
        key: app,
        local,
        strength,
        owner,
    } in apps
    {
        // A policy targets its own organization's applications or an ancestor's (the
        // compiler checks it), so none above the owner targets this one.
        for (depth, &org) in place.chain.iter().enumerate().take(owner + 1) {
            let Some(partition) = tables.orgs.get(org as usize).map(|n| &n.partition) else {
                continue;
            };
            let at = (depth == 0).then_some((place.computer.local, place.computer.group));
            let own = (depth == owner).then_some(local);
            for list in partition.targets.lists(app, own, at) {
                for &(p, target) in list {
                    let Some(policy) = partition.policies.get(p as usize) else {
                        continue;
                    };
                    let candidate = Winner {
                        policy,
                        depth,
                        app,
                        target: target as usize,
                    };
                    if best.is_some_and(|b| candidate.rank() >= b.rank()) {
                        break;
                    }
                    if policy.applicability(event.time, &event.user).is_err() {
                        continue;
                    }
                    // A rule that depends on an unreadable path never permits.
                    if strength == Match::Unknown && policy.action == Action::Permit {
                        continue;
                    }
                    best = Some(candidate);
                    break;
                }
            }
        }
    }
    best
}
