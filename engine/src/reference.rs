//! The reference evaluator: SPEC §4 written out as plainly as possible — a linear scan
//! over the bundle, no index, no compilation kept between calls.
//!
//! It is the oracle the indexed evaluator is tested against (property tests and the
//! differential fuzz target), and the baseline benchmarks compare with. It expects a
//! bundle that compiles; on one that does not, its answer is unspecified (but it does
//! not panic).

use crate::model::{
    Action, Application, Bundle, CertificateCondition, Computer, ComputerGroup, DecisionRecord,
    DenyOptions, Event, FileRule, MaintenanceMode, Outcome, Policy, RequestKind, Scope, Signer,
};
use crate::path::{fold_char, normalize, Family, PathError, Pattern};

/// Decides `event` against `bundle` by reading the SPEC literally. The generation in
/// the answer is 0.
pub fn decide(bundle: &Bundle, event: &Event) -> DecisionRecord {
    let mut record = DecisionRecord {
        decision: Outcome::Deny,
        elevated: false,
        policy: None,
        application: None,
        default_deny: true,
        would_deny: false,
        mode: None,
        notify_user: false,
        can_request: false,
        request_kind: None,
        notify: Vec::new(),
        learn: false,
        generation: 0,
        problems: Vec::new(),
    };

    // The computer, its group, its organization and the organization's ancestors.
    let Some(computer) = bundle.computers.iter().find(|c| c.id == event.computer) else {
        record
            .problems
            .push("the computer is not in the bundle".to_owned());
        return record;
    };
    let Some(group) = bundle.groups.iter().find(|g| g.id == computer.group) else {
        return record;
    };
    let chain = chain_of(bundle, &group.organization);
    let paths = Normalized::of(computer.os.family(), event);
    paths.report(&mut record.problems);
    let fields = paths.fields();

    // 1. Applicable policies, 2. in ascending position.
    let applicable = applicable_policies(bundle, event, computer, group, &chain);

    // 3. The first policy whose application matches decides.
    let org = bundle
        .organizations
        .iter()
        .find(|o| o.id == group.organization);
    let default_deny = org
        .and_then(|o| o.default_deny.clone())
        .unwrap_or_else(DenyOptions::implicit_default);
    let kind = if event.elevation {
        RequestKind::Elevation
    } else {
        RequestKind::Application
    };
    match first_match(bundle, &applicable, event, &fields) {
        Some((policy, app)) => decided_by(&mut record, policy, app, event, &default_deny, kind),
        None => no_policy(&mut record, computer, event, &default_deny, kind),
    }
    record
}

/// The organization `org` and its ancestors, up to the root; a cycle stops the walk.
fn chain_of<'b>(bundle: &'b Bundle, org: &'b str) -> Vec<&'b str> {
    let mut chain: Vec<&str> = vec![org];
    while let Some(parent) = bundle
        .organizations
        .iter()
        .find(|o| Some(o.id.as_str()) == chain.last().copied())
        .and_then(|o| o.parent.as_deref())
    {
        if chain.contains(&parent) || chain.len() > bundle.organizations.len() {
            break;
        }
        chain.push(parent);
    }
    chain
}

/// The event's paths, normalized for the computer's path family.
struct Normalized {
    family: Family,
    path: Result<String, PathError>,
    parent: Option<Result<String, PathError>>,
    created_by: Option<Result<String, PathError>>,
}

impl Normalized {
    fn of(family: Family, event: &Event) -> Normalized {
        Normalized {
            family,
            path: normalize(family, &event.path),
            parent: event.parent.as_deref().map(|p| normalize(family, p)),
            created_by: event.created_by.as_deref().map(|p| normalize(family, p)),
        }
    }

    /// Adds a problem for each path that cannot be normalized.
    fn report(&self, problems: &mut Vec<String>) {
        for (field, value) in [
            ("path", Some(&self.path)),
            ("parent", self.parent.as_ref()),
            ("created_by", self.created_by.as_ref()),
        ] {
            if let Some(Err(error)) = value {
                problems.push(format!("`{field}` cannot be normalized: {error}"));
            }
        }
    }

    fn fields(&self) -> Fields<'_> {
        Fields {
            family: self.family,
            path: self.path.as_deref().map_err(|e| *e),
            parent: self.parent.as_ref().map(|r| r.as_deref().map_err(|e| *e)),
            created_by: self
                .created_by
                .as_ref()
                .map(|r| r.as_deref().map_err(|e| *e)),
        }
    }
}

/// Steps 1 and 2: the policies in scope on the computer that apply (enabled, within
/// their validity window, for the event's user), each with its owner's depth below the
/// root, in ascending position; a tie goes to the ancestor.
fn applicable_policies<'b>(
    bundle: &'b Bundle,
    event: &Event,
    computer: &Computer,
    group: &ComputerGroup,
    chain: &[&str],
) -> Vec<(&'b Policy, usize)> {
    let org_id = group.organization.as_str();
    let mut applicable: Vec<(&Policy, usize)> = Vec::new();
    for policy in &bundle.policies {
        let owner = match &policy.scope {
            Scope::Computer(id) if *id == computer.id => org_id,
            Scope::Group(id) if *id == group.id => org_id,
            Scope::Organization(id) if id == org_id => org_id,
            Scope::Global(id) if chain.contains(&id.as_str()) => id.as_str(),
            _ => continue,
        };
        let in_window = policy.not_before.is_none_or(|t| event.time >= t)
            && policy.expires.is_none_or(|t| event.time < t);
        let user_ok = policy
            .users
            .as_ref()
            .is_none_or(|users| users.iter().any(|u| same_user(u, &event.user)));
        if policy.enabled && in_window && user_ok {
            // Depth below the root: an ancestor is shallower and wins a tie.
            let depth = chain.len() - chain.iter().position(|o| *o == owner).unwrap_or(0);
            applicable.push((policy, depth));
        }
    }
    applicable.sort_by_key(|(policy, depth)| (policy.position, *depth));
    applicable
}

/// The first policy, in order, with an application that decides it (one that matches
/// for a permit; one that matches or depends on a path that cannot be normalized for a
/// deny), and that application.
fn first_match<'b>(
    bundle: &'b Bundle,
    applicable: &[(&'b Policy, usize)],
    event: &Event,
    fields: &Fields<'_>,
) -> Option<(&'b Policy, &'b Application)> {
    for &(policy, _) in applicable {
        for app_id in &policy.applications {
            let Some(app) = bundle.applications.iter().find(|a| a.id == *app_id) else {
                continue;
            };
            let matched = app_matches(app, event, fields);
            let decides = match policy.action {
                Action::Permit => matched == Some(true),
                Action::Deny => matched != Some(false),
            };
            if decides {
                return Some((policy, app));
            }
        }
    }
    None
}

/// The decision of `policy` through `app`.
fn decided_by(
    record: &mut DecisionRecord,
    policy: &Policy,
    app: &Application,
    event: &Event,
    default_deny: &DenyOptions,
    kind: RequestKind,
) {
    record.default_deny = false;
    record.policy = Some(policy.id.clone());
    record.application = Some(app.id.clone());
    match policy.action {
        Action::Permit => {
            record.decision = Outcome::Allow;
            // 4. Elevation only through an elevation policy.
            record.elevated = event.elevation && policy.elevate;
            if event.elevation && !policy.elevate {
                deny_options(record, default_deny, RequestKind::Elevation);
            }
        }
        Action::Deny => {
            let options = policy
                .on_deny
                .clone()
                .unwrap_or_else(DenyOptions::policy_default);
            deny_options(record, &options, kind);
        }
    }
}

/// No match: the default deny, unless a maintenance mode is in force (5).
fn no_policy(
    record: &mut DecisionRecord,
    computer: &Computer,
    event: &Event,
    default_deny: &DenyOptions,
    kind: RequestKind,
) {
    match computer.maintenance.filter(|m| event.time < m.until) {
        None => deny_options(record, default_deny, kind),
        Some(maintenance) => {
            record.decision = Outcome::Allow;
            record.mode = Some(maintenance.mode);
            record.would_deny = matches!(
                maintenance.mode,
                MaintenanceMode::Monitor | MaintenanceMode::Learning
            );
            record.learn = matches!(
                maintenance.mode,
                MaintenanceMode::Learning | MaintenanceMode::Installation
            );
        }
    }
}

struct Fields<'a> {
    family: Family,
    path: Result<&'a str, PathError>,
    parent: Option<Result<&'a str, PathError>>,
    created_by: Option<Result<&'a str, PathError>>,
}

fn deny_options(record: &mut DecisionRecord, options: &DenyOptions, kind: RequestKind) {
    record.notify_user = options.notify_user;
    record.can_request = options.notify_user && options.allow_request;
    if record.can_request {
        record.request_kind = Some(kind);
        record.notify = options.notify.clone();
    }
}

fn same_user(a: &str, b: &str) -> bool {
    a.chars().map(fold_char).eq(b.chars().map(fold_char))
}

/// `Some(true)`: some rule matches; `Some(false)`: none does; `None`: none fails, but
/// one depends on a path that cannot be normalized.
fn app_matches(app: &Application, event: &Event, fields: &Fields<'_>) -> Option<bool> {
    let mut unknown = false;
    for rule in &app.rules {
        match rule_matches(rule, event, fields) {
            Some(true) => return Some(true),
            None => unknown = true,
            Some(false) => {}
        }
    }
    if unknown {
        None
    } else {
        Some(false)
    }
}

fn rule_matches(rule: &FileRule, event: &Event, fields: &Fields<'_>) -> Option<bool> {
    if rule.sha256.is_some_and(|h| h != event.sha256) {
        return Some(false);
    }
    if let Some(condition) = rule.certificate() {
        if !certificate_ok(condition, event.signature.valid_leaf()) {
            return Some(false);
        }
    }
    let mut unknown = false;
    for (pattern, value) in [
        (rule.path(), Some(fields.path)),
        (rule.process(), fields.parent),
        (rule.created_by(), fields.created_by),
    ] {
        let Some(pattern) = pattern else { continue };
        match value {
            None => return Some(false),
            Some(Err(_)) => unknown = true,
            Some(Ok(value)) => match Pattern::compile(fields.family, pattern) {
                Ok(compiled) if compiled.is_match(value) => {}
                _ => return Some(false),
            },
        }
    }
    if unknown {
        None
    } else {
        Some(true)
    }
}

fn certificate_ok(condition: &CertificateCondition, leaf: Option<&Signer>) -> bool {
    let Some(leaf) = leaf else { return false };
    condition
        .thumbprint
        .is_none_or(|t| leaf.thumbprint == Some(t))
        && condition
            .subject
            .as_ref()
            .is_none_or(|s| leaf.subject.matches(s))
        && condition
            .issuer
            .as_ref()
            .is_none_or(|i| leaf.issuer.as_ref().is_some_and(|actual| actual.matches(i)))
}
