//! Compiles one organization: its rules into an index, its policies into lists keyed
//! by (application, scope) and sorted by position.

use rustc_hash::FxHashMap;

use super::error::{CompileError, EntryKind, ErrorKind};
use super::layout::SourceIndices;
use crate::compiled::{AppKeys, CompiledPolicy, OrgSource, Partition, PathBounds, Slot, Targets};
use crate::index::{CompiledRule, FieldPattern, PathField, RuleIndexBuilder};
use crate::model::{Action, CertificateCondition, DenyOptions, FileRule, Policy, Scope};
use crate::path::{fold_char, Family, Pattern, PatternError};

struct Errors<'a> {
    out: &'a mut Vec<CompileError>,
}

impl Errors<'_> {
    fn push(&mut self, entry: EntryKind, id: &str, path: String, message: String) {
        self.out.push(CompileError::new(
            ErrorKind::Invalid,
            entry,
            Some(id),
            path,
            message,
        ));
    }
}

/// Takes out of `source` the rules the index keeps as bare hash rules: their digests
/// are in the index's digest table, which gives them back in order
/// ([`RuleIndex::rules_of`](crate::index::RuleIndex::rules_of)). Most rules of a large
/// fleet are bare, and a source rule is 48 bytes besides the table's 36.
fn drop_bare_rules(source: &mut OrgSource, index: &crate::index::RuleIndex) {
    for (app, application) in (0u32..).zip(source.applications.iter_mut()) {
        let compiled = index.compiled_of(app);
        if compiled.len() == application.rules.len() {
            continue;
        }
        let mut kept = compiled.iter().map(|rule| rule.rule_no).peekable();
        let mut rule_no = 0u32;
        application.rules.retain(|_| {
            let keep = kept.next_if_eq(&rule_no).is_some();
            rule_no += 1;
            keep
        });
        application.rules.shrink_to_fit();
    }
}

/// Compiles a partition; every problem in the organization's own entries is reported.
pub(crate) fn compile(
    mut source: OrgSource,
    indices: &SourceIndices,
    keys: &AppKeys,
) -> Result<Partition, Vec<CompileError>> {
    let mut out = Vec::new();
    let mut errors = Errors { out: &mut out };
    let default_deny = default_deny(&source, indices, &mut errors);
    let locals = Locals::of(&source);
    let computer_groups = locals.computer_groups(&source);
    let (rules, app_keys) = compile_rules(&source, indices, keys, &mut errors);
    let (policies, targeted) = compile_policies(&source, indices, keys, &locals, &mut errors);
    if !out.is_empty() {
        return Err(out);
    }
    let targets = Targets::new(
        targeted,
        &app_keys,
        |p| {
            policies
                .get(p as usize)
                .map_or(i64::MAX, |policy: &CompiledPolicy| policy.position)
        },
        |p, app| {
            policies
                .get(p as usize)
                .and_then(|policy| policy.targets.iter().position(|(key, _)| *key == app))
                .unwrap_or(0) as u32
        },
    );
    let index = rules.build();
    let path_bounds = PathBounds::new(
        &app_keys,
        index.path_apps(),
        &policies,
        &computer_groups,
        source.groups.len(),
    );
    drop_bare_rules(&mut source, &index);
    Ok(Partition {
        source,
        app_keys: app_keys.into_boxed_slice(),
        index,
        path_bounds,
        policies: policies.into_boxed_slice(),
        targets,
        computer_groups,
        default_deny,
    })
}

/// The organization's default deny, checked, or the implicit one.
fn default_deny(
    source: &OrgSource,
    indices: &SourceIndices,
    errors: &mut Errors<'_>,
) -> DenyOptions {
    let org = &source.organization;
    match &org.default_deny {
        Some(options) => {
            let path = format!("organizations[{}].default_deny", indices.organization);
            check_deny_options(options, EntryKind::Organization, &org.id, &path, errors);
            options.clone()
        }
        None => DenyOptions::implicit_default(),
    }
}

/// The local index of each of the organization's groups and computers, by id.
struct Locals<'s> {
    groups: FxHashMap<&'s str, u32>,
    computers: FxHashMap<&'s str, u32>,
}

impl<'s> Locals<'s> {
    fn of(source: &'s OrgSource) -> Self {
        let groups = source
            .groups
            .iter()
            .enumerate()
            .map(|(i, g)| (g.id.as_str(), i as u32))
            .collect();
        let computers = source
            .computers
            .iter()
            .enumerate()
            .map(|(i, c)| (c.id.as_str(), i as u32))
            .collect();
        Locals { groups, computers }
    }

    /// The group of each computer, by local index.
    fn computer_groups(&self, source: &OrgSource) -> Box<[u32]> {
        source
            .computers
            .iter()
            .map(|c| {
                self.groups
                    .get(c.group.as_str())
                    .copied()
                    .unwrap_or_default()
            })
            .collect()
    }

    /// Where in the organization a policy with this scope applies.
    fn slot(&self, scope: &Scope) -> Slot {
        match scope {
            Scope::Computer(id) => {
                Slot::Computer(self.computers.get(id.as_str()).copied().unwrap_or_default())
            }
            Scope::Group(id) => {
                Slot::Group(self.groups.get(id.as_str()).copied().unwrap_or_default())
            }
            Scope::Organization(_) => Slot::Organization,
            Scope::Global(_) => Slot::Global,
        }
    }
}

/// Compiles every application's rules into an index, and gives each application's key
/// by local index.
fn compile_rules(
    source: &OrgSource,
    indices: &SourceIndices,
    keys: &AppKeys,
    errors: &mut Errors<'_>,
) -> (RuleIndexBuilder, Vec<u32>) {
    let mut rules = RuleIndexBuilder::default();
    let mut app_keys = Vec::with_capacity(source.applications.len());
    for (a, app) in source.applications.iter().enumerate() {
        let at = indices.applications.get(a).copied().unwrap_or_default();
        app_keys.push(keys.get(&app.id).unwrap_or_default());
        if app.rules.is_empty() {
            let message = "an application needs at least one rule".to_owned();
            errors.push(
                EntryKind::Application,
                &app.id,
                format!("applications[{at}].rules"),
                message,
            );
        }
        for (r, rule) in app.rules.iter().enumerate() {
            let path = EntryPath::Rule(at, r);
            if let Some(compiled) = compile_rule(rule, a as u32, r as u32, &app.id, path, errors) {
                rules.add(compiled);
            }
        }
    }
    (rules, app_keys)
}

/// Compiles every policy, and lists what the enabled ones target: `(application key,
/// slot, policy number)`.
fn compile_policies(
    source: &OrgSource,
    indices: &SourceIndices,
    keys: &AppKeys,
    locals: &Locals<'_>,
    errors: &mut Errors<'_>,
) -> (Vec<CompiledPolicy>, Vec<(u32, Slot, u32)>) {
    let mut policies = Vec::with_capacity(source.policies.len());
    let mut targeted: Vec<(u32, Slot, u32)> = Vec::new();
    for (p, policy) in source.policies.iter().enumerate() {
        let at = indices.policies.get(p).copied().unwrap_or_default();
        let slot = locals.slot(&policy.scope);
        let compiled = compile_policy(policy, slot, keys, at, errors);
        if compiled.enabled {
            for &(key, _) in compiled.targets.iter() {
                targeted.push((key, slot, policies.len() as u32));
            }
        }
        policies.push(compiled);
    }
    (policies, targeted)
}

fn compile_rule(
    rule: &FileRule,
    app: u32,
    rule_no: u32,
    app_id: &str,
    path: EntryPath,
    errors: &mut Errors<'_>,
) -> Option<CompiledRule> {
    let (sha256, certificate) = (&rule.sha256, rule.certificate());
    let (path_pattern, process, created_by) = (rule.path(), rule.process(), rule.created_by());
    if sha256.is_none()
        && certificate.is_none()
        && path_pattern.is_none()
        && process.is_none()
        && created_by.is_none()
    {
        let message = "a rule needs at least one condition: `sha256`, `certificate`, `path`, `process` or `created_by`";
        errors.push(
            EntryKind::Application,
            app_id,
            path.to_string(),
            message.to_owned(),
        );
        return None;
    }
    let mut ok = true;
    if let Some(certificate) = certificate {
        ok &= check_certificate(certificate, app_id, path, errors);
    }
    let mut patterns: [Option<FieldPattern>; 3] = Default::default();
    for (field, source) in [
        (PathField::Path, path_pattern),
        (PathField::Process, process),
        (PathField::CreatedBy, created_by),
    ] {
        let Some(source) = source else { continue };
        match compile_pattern(source) {
            Ok(pattern) => {
                if let Some(slot) = patterns.get_mut(field as usize) {
                    *slot = Some(pattern);
                }
            }
            Err(error) => {
                let message = format!("invalid pattern `{source}`: {error}");
                errors.push(
                    EntryKind::Application,
                    app_id,
                    format!("{path}.{}", field.rule_key()),
                    message,
                );
                ok = false;
            }
        }
    }
    ok.then(|| CompiledRule {
        app,
        rule_no,
        sha256: *sha256,
        certificate: rule.conditions.as_ref().and_then(|c| c.certificate.clone()),
        patterns: patterns
            .iter()
            .any(Option::is_some)
            .then(|| Box::new(patterns)),
    })
}

/// Compiles a pattern for both families. Not being an absolute path in one family only
/// means it never matches there; any other problem, or not being a path in either
/// family, is an error.
///
/// A regular expression that can only match the other family's paths (`^/opt/…` on
/// Windows, `^c:\\…` on POSIX) is not kept for this one, as it never matches there
/// and costs tens of kilobytes once compiled.
fn compile_pattern(source: &str) -> Result<FieldPattern, PatternError> {
    let family = |family| match Pattern::compile(family, source) {
        Ok(pattern) => Ok(Some(pattern)),
        Err(PatternError::NotAbsolute) => Ok(None),
        Err(error) => Err(error),
    };
    let mut windows = family(Family::Windows)?;
    let mut posix = family(Family::Posix)?;
    let can_match = |p: &Option<Pattern>| p.as_ref().is_some_and(Pattern::can_match_family);
    match (can_match(&windows), can_match(&posix)) {
        (true, false) => posix = None,
        (false, true) => windows = None,
        _ => {}
    }
    if windows.is_none() && posix.is_none() {
        return Err(PatternError::NotAbsolute);
    }
    Ok(FieldPattern { windows, posix })
}

/// Checks a rule's certificate condition; `rule` is where the rule is.
fn check_certificate(
    condition: &CertificateCondition,
    app_id: &str,
    rule: EntryPath,
    errors: &mut Errors<'_>,
) -> bool {
    let message = match (&condition.thumbprint, &condition.subject, &condition.issuer) {
        (None, None, None) => "a certificate condition needs `thumbprint` or `subject`",
        (Some(_), Some(_), _) => "give either `thumbprint` or `subject`, not both",
        (Some(_), None, Some(_)) => "`issuer` goes with `subject`, not with `thumbprint`",
        (None, None, Some(_)) => "`issuer` needs `subject` beside it",
        _ => return true,
    };
    errors.push(
        EntryKind::Application,
        app_id,
        format!("{rule}.certificate"),
        message.to_owned(),
    );
    false
}

/// Where an entry is in the bundle document, formatted only when an error needs it:
/// a fleet compiles millions of rules and almost never reports one.
#[derive(Debug, Clone, Copy)]
enum EntryPath {
    /// `applications[A].rules[R]`.
    Rule(usize, usize),
    /// `policies[P]`.
    Policy(usize),
}

impl std::fmt::Display for EntryPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EntryPath::Rule(app, rule) => write!(f, "applications[{app}].rules[{rule}]"),
            EntryPath::Policy(at) => write!(f, "policies[{at}]"),
        }
    }
}

fn check_deny_options(
    options: &DenyOptions,
    entry: EntryKind,
    id: &str,
    path: &str,
    errors: &mut Errors<'_>,
) {
    if options.allow_request && !options.notify_user {
        let message =
            "`allow_request` needs `notify_user`: the request is made from the notification"
                .to_owned();
        errors.push(entry, id, format!("{path}.allow_request"), message);
    }
    if !options.notify.is_empty() && !options.allow_request {
        let message =
            "`notify` lists who hears of requests, so it needs `allow_request`".to_owned();
        errors.push(entry, id, format!("{path}.notify"), message);
    }
}

fn compile_policy(
    policy: &Policy,
    slot: Slot,
    keys: &AppKeys,
    at: usize,
    errors: &mut Errors<'_>,
) -> CompiledPolicy {
    let path = EntryPath::Policy(at);
    let id = policy.id.as_str();
    if policy.elevate && policy.action == Action::Deny {
        let message = "`elevate` only goes with `permit`".to_owned();
        errors.push(EntryKind::Policy, id, format!("{path}.elevate"), message);
    }
    let on_deny = match (&policy.on_deny, policy.action) {
        (Some(options), Action::Deny) => {
            check_deny_options(
                options,
                EntryKind::Policy,
                id,
                &format!("{path}.on_deny"),
                errors,
            );
            options.clone()
        }
        (Some(_), Action::Permit) => {
            let message = "`on_deny` only goes with `deny`".to_owned();
            errors.push(EntryKind::Policy, id, format!("{path}.on_deny"), message);
            DenyOptions::policy_default()
        }
        (None, _) => DenyOptions::policy_default(),
    };
    if let (Some(start), Some(end)) = (policy.not_before, policy.expires) {
        if start >= end {
            let message = format!("the policy expires (`{end}`) before it starts (`{start}`)");
            errors.push(EntryKind::Policy, id, format!("{path}.expires"), message);
        }
    }
    let users = policy.users.as_ref().map(|users| {
        if users.is_empty() {
            let message =
                "an empty user list matches nobody; leave `users` out to apply to every user"
                    .to_owned();
            errors.push(EntryKind::Policy, id, format!("{path}.users"), message);
        }
        for (u, user) in users.iter().enumerate() {
            if user.trim().is_empty() {
                errors.push(
                    EntryKind::Policy,
                    id,
                    format!("{path}.users[{u}]"),
                    "the user name is empty".to_owned(),
                );
            }
        }
        users
            .iter()
            .map(|u| fold(u).into_boxed_str())
            .collect::<Box<[_]>>()
    });
    let targets = policy
        .applications
        .iter()
        .filter_map(|app| keys.get(app).map(|key| (key, app.clone().into_boxed_str())))
        .collect();
    CompiledPolicy {
        id: id.into(),
        position: policy.position,
        action: policy.action,
        elevate: policy.elevate,
        enabled: policy.enabled,
        slot,
        users,
        not_before: policy.not_before,
        expires: policy.expires,
        on_deny,
        targets,
    }
}

/// Case-folds a name the way Windows compares names.
pub(crate) fn fold(text: &str) -> String {
    text.chars().map(fold_char).collect()
}

#[cfg(test)]
mod tests {
    use super::compile_pattern;

    #[test]
    fn a_regex_is_kept_only_for_the_family_whose_paths_it_can_start() {
        let kept = |source: &str| {
            let field = compile_pattern(source).unwrap();
            (field.windows.is_some(), field.posix.is_some())
        };
        assert_eq!(kept(r"regex:^/opt/x/[0-9]+/svc$"), (false, true));
        assert_eq!(kept(r"regex:^c:\\tools\\"), (true, false));
        assert_eq!(kept(r"regex:^(c:\\x|/opt/x)"), (true, true));
        // Not anchored: kept for both, as always.
        assert_eq!(kept("regex:svc"), (true, true));
        assert_eq!(kept("regex:(?m)^/opt"), (true, true));
        // No POSIX path starts without `/`.
        assert_eq!(kept("regex:^svc"), (true, false));
        // Globs keep their rule: not absolute in a family, not kept there.
        assert_eq!(kept("/opt/x/*"), (false, true));
        assert_eq!(kept(r"C:\x\*"), (true, false));
        assert_eq!(kept("*.exe"), (true, true));
    }
}
