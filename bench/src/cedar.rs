//! The Cedar baseline: a bundle as a Cedar entity hierarchy and one Cedar policy per
//! bundle policy, decided by `cedar-policy`'s authorizer.
//!
//! The entities: `Organization` (its parent organization as parent), `Group` (its
//! organization), `Computer` (its group; attribute `organization`), `Application`,
//! `Hash::"<hex>"` (the applications that list it) and `Signer::"<key>"` (the
//! applications with a rule on that signer: by thumbprint, or by the whole subject and
//! issuer). A request is `Computer` × `Action::"execute"` × `Hash` with the context
//! `{path, signer, thumbprint}`: the path normalized as the engine normalizes it, with
//! `/` for separators (Cedar's `like` reads `\*` as a literal star).
//!
//! A policy is `permit` or `forbid` on its scope (`principal in Organization` for
//! `global`, `principal.organization ==` for `organization`, `principal in Group`,
//! `principal ==` a computer) when the resource, the signer or the thumbprint is `in`
//! one of its applications, or the path is `like` one of their patterns. Cedar has no
//! order: a `forbid` overrides every `permit`, which is the engine's first match only
//! when every deny comes before every permit, and [`CedarBaseline::new`] refuses a
//! bundle where it does not. Among the policies that decide, the one with the lowest
//! position is reported. Users, validity windows, conditions on the parent process or
//! the creator, `?` wildcards, `regex:` patterns and rules of more than one condition
//! are not encoded, and refused.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;

use cedar_policy::{
    Authorizer, Context, Decision, Entities, Entity, EntityId, EntityTypeName, EntityUid, Policy,
    PolicyId, PolicySet, Request, RestrictedExpression,
};
use portcullis_engine::model::{
    Action, Bundle, CertificateCondition, DistinguishedName, Event, FileRule, Os, Scope, Signer,
};
use portcullis_engine::path::{normalize, Family, Pattern};

use crate::Verdict;

/// The bundle as Cedar entities and policies.
pub struct CedarBaseline {
    entities: Entities,
    policies: PolicySet,
    authorizer: Authorizer,
    /// Each policy's id and position, and whether it permits.
    positions: HashMap<String, (i64, bool)>,
    /// Each computer's path family.
    families: HashMap<String, Family>,
    types: Types,
}

/// The entity type names, parsed once.
struct Types {
    computer: EntityTypeName,
    hash: EntityTypeName,
    signer: EntityTypeName,
    action: EntityUid,
}

fn type_name(name: &str) -> Result<EntityTypeName, String> {
    EntityTypeName::from_str(name).map_err(|e| e.to_string())
}

fn uid(kind: &EntityTypeName, id: &str) -> EntityUid {
    EntityUid::from_type_name_and_id(kind.clone(), EntityId::new(id))
}

/// A name's folded attributes, as one string.
fn dn_key(dn: &DistinguishedName) -> String {
    let parts: Vec<String> = dn
        .attributes()
        .map(|(kind, _, folded)| format!("{kind}={folded}"))
        .collect();
    parts.join(",")
}

fn subject_key(subject: &DistinguishedName, issuer: Option<&DistinguishedName>) -> String {
    format!(
        "subject:{};issuer:{}",
        dn_key(subject),
        issuer.map(dn_key).unwrap_or_default()
    )
}

fn signer_keys(signer: Option<&Signer>) -> (String, String) {
    match signer {
        Some(s) => (
            subject_key(&s.subject, s.issuer.as_ref()),
            s.thumbprint
                .map(|t| format!("thumbprint:{t}"))
                .unwrap_or_default(),
        ),
        None => (String::new(), String::new()),
    }
}

/// A Cedar string literal.
fn literal(text: &str) -> String {
    format!("{text:?}")
}

/// What a rule is filed under.
enum Filed {
    Hash(String),
    Signer(String),
    Path([Option<String>; 2]),
}

fn file(rule: &FileRule, app: &str) -> Result<Filed, String> {
    let conditions = usize::from(rule.sha256.is_some())
        + usize::from(rule.certificate().is_some())
        + usize::from(rule.path().is_some())
        + usize::from(rule.process().is_some())
        + usize::from(rule.created_by().is_some());
    let unsupported = || {
        format!(
            "application `{app}`: the Cedar baseline encodes rules of one condition \
             (a hash, a signer, or a path glob without `?`)"
        )
    };
    if conditions != 1 {
        return Err(unsupported());
    }
    if let Some(hash) = rule.sha256 {
        return Ok(Filed::Hash(hash.to_string()));
    }
    if let Some(CertificateCondition {
        thumbprint,
        subject,
        issuer,
    }) = rule.certificate()
    {
        return match (thumbprint, subject) {
            (Some(t), None) => Ok(Filed::Signer(format!("thumbprint:{t}"))),
            (None, Some(s)) => Ok(Filed::Signer(subject_key(s, issuer.as_ref()))),
            _ => Err(unsupported()),
        };
    }
    let path = rule.path().ok_or_else(unsupported)?;
    if path.starts_with("regex:") {
        return Err(unsupported());
    }
    let mut globs = [None, None];
    for (glob, family) in globs.iter_mut().zip([Family::Windows, Family::Posix]) {
        if let Ok(pattern) = Pattern::compile(family, path) {
            let normalized = pattern.normalized();
            if normalized.contains('?') {
                return Err(unsupported());
            }
            *glob = Some(normalized.replace('\\', "/"));
        }
    }
    Ok(Filed::Path(globs))
}

impl CedarBaseline {
    /// Encodes `bundle`, or says what it cannot encode.
    pub fn new(bundle: &Bundle) -> Result<CedarBaseline, String> {
        let organization = type_name("Organization")?;
        let group = type_name("Group")?;
        let application = type_name("Application")?;
        let types = Types {
            computer: type_name("Computer")?,
            hash: type_name("Hash")?,
            signer: type_name("Signer")?,
            action: EntityUid::from_str(r#"Action::"execute""#).map_err(|e| e.to_string())?,
        };
        let mut entities = Vec::new();
        for org in &bundle.organizations {
            let parents = org.parent.iter().map(|p| uid(&organization, p)).collect();
            entities.push(Entity::new_no_attrs(uid(&organization, &org.id), parents));
        }
        let mut group_org = HashMap::new();
        for g in &bundle.groups {
            group_org.insert(g.id.as_str(), g.organization.as_str());
            let parents = HashSet::from([uid(&organization, &g.organization)]);
            entities.push(Entity::new_no_attrs(uid(&group, &g.id), parents));
        }
        let mut families = HashMap::new();
        for c in &bundle.computers {
            families.insert(c.id.clone(), c.os.family());
            let org = group_org.get(c.group.as_str()).copied().unwrap_or_default();
            let attrs = HashMap::from([(
                "organization".to_owned(),
                RestrictedExpression::new_entity_uid(uid(&organization, org)),
            )]);
            let parents = HashSet::from([uid(&group, &c.group)]);
            let entity = Entity::new(uid(&types.computer, &c.id), attrs, parents)
                .map_err(|e| e.to_string())?;
            entities.push(entity);
        }
        // Each hash and signer, with the applications that list it; each application's
        // path globs (Windows, POSIX) and whether it lists hashes or signers.
        let mut members: HashMap<(bool, String), HashSet<EntityUid>> = HashMap::new();
        let mut globs: HashMap<&str, Vec<[Option<String>; 2]>> = HashMap::new();
        let mut kinds: HashMap<&str, (bool, bool)> = HashMap::new();
        for app in &bundle.applications {
            entities.push(Entity::new_no_attrs(
                uid(&application, &app.id),
                HashSet::new(),
            ));
            let kind = kinds.entry(app.id.as_str()).or_default();
            for rule in &app.rules {
                match file(rule, &app.id)? {
                    Filed::Hash(hex) => {
                        kind.0 = true;
                        members
                            .entry((true, hex))
                            .or_default()
                            .insert(uid(&application, &app.id));
                    }
                    Filed::Signer(key) => {
                        kind.1 = true;
                        members
                            .entry((false, key))
                            .or_default()
                            .insert(uid(&application, &app.id));
                    }
                    Filed::Path(pair) => globs.entry(app.id.as_str()).or_default().push(pair),
                }
            }
        }
        for ((is_hash, key), parents) in members {
            let kind = if is_hash { &types.hash } else { &types.signer };
            entities.push(Entity::new_no_attrs(uid(kind, &key), parents));
        }
        let entities = Entities::from_entities(entities, None).map_err(|e| e.to_string())?;

        let mut policies = PolicySet::new();
        let mut positions = HashMap::new();
        let (mut last_deny, mut first_permit) = (i64::MIN, i64::MAX);
        for policy in bundle.policies.iter().filter(|p| p.enabled) {
            if policy.users.is_some() || policy.not_before.is_some() || policy.expires.is_some() {
                return Err(format!(
                    "policy `{}`: the Cedar baseline has no users or validity windows",
                    policy.id
                ));
            }
            let permit = policy.action == Action::Permit;
            if permit {
                first_permit = first_permit.min(policy.position);
            } else {
                last_deny = last_deny.max(policy.position);
            }
            positions.insert(policy.id.clone(), (policy.position, permit));
            let (head, scope) = match &policy.scope {
                Scope::Global(o) => (
                    format!("principal in Organization::{}", literal(o)),
                    "true".to_owned(),
                ),
                Scope::Organization(o) => (
                    "principal".to_owned(),
                    format!("principal.organization == Organization::{}", literal(o)),
                ),
                Scope::Group(g) => (
                    format!("principal in Group::{}", literal(g)),
                    "true".to_owned(),
                ),
                Scope::Computer(c) => (
                    format!("principal == Computer::{}", literal(c)),
                    "true".to_owned(),
                ),
            };
            let mut any = Vec::new();
            let list = |pick: fn(&(bool, bool)) -> bool| {
                let apps: Vec<String> = policy
                    .applications
                    .iter()
                    .filter(|a| kinds.get(a.as_str()).is_some_and(pick))
                    .map(|a| format!("Application::{}", literal(a)))
                    .collect();
                (!apps.is_empty()).then(|| format!("[{}]", apps.join(", ")))
            };
            if let Some(apps) = list(|k| k.0) {
                any.push(format!("resource in {apps}"));
            }
            if let Some(apps) = list(|k| k.1) {
                any.push(format!(
                    "context.signer in {apps} || context.thumbprint in {apps}"
                ));
            }
            for app in &policy.applications {
                for pair in globs.get(app.as_str()).into_iter().flatten() {
                    for (glob, family) in pair.iter().zip(["windows", "posix"]) {
                        if let Some(glob) = glob {
                            any.push(format!(
                                "(context.family == {} && context.path like {})",
                                literal(family),
                                literal(glob)
                            ));
                        }
                    }
                }
            }
            if any.is_empty() {
                continue;
            }
            let effect = if permit { "permit" } else { "forbid" };
            let text = format!(
                "{effect}(principal, action == Action::\"execute\", resource) when {{ {scope} && ({}) }};",
                any.join(" || ")
            )
            .replacen("principal,", &format!("{head},"), 1);
            let parsed = Policy::parse(Some(PolicyId::new(&policy.id)), &text)
                .map_err(|e| format!("policy `{}`: {e}", policy.id))?;
            policies.add(parsed).map_err(|e| e.to_string())?;
        }
        if last_deny >= first_permit {
            return Err(
                "in Cedar a forbid overrides every permit: the Cedar baseline needs every \
                        deny to come before every permit"
                    .to_owned(),
            );
        }
        Ok(CedarBaseline {
            entities,
            policies,
            authorizer: Authorizer::new(),
            positions,
            families,
            types,
        })
    }

    /// The request for `event`, built before a decision is timed, as the Rego
    /// baseline's input is.
    pub fn request(&self, event: &Event) -> Result<Request, String> {
        let family = self
            .families
            .get(&event.computer)
            .copied()
            .unwrap_or(Os::Windows.family());
        let path = normalize(family, &event.path)
            .map(|p| p.replace('\\', "/"))
            .unwrap_or_default();
        let (signer, thumbprint) = signer_keys(event.signature.valid_leaf());
        let context = Context::from_pairs([
            ("path".to_owned(), RestrictedExpression::new_string(path)),
            (
                "family".to_owned(),
                RestrictedExpression::new_string(
                    if family == Family::Windows {
                        "windows"
                    } else {
                        "posix"
                    }
                    .to_owned(),
                ),
            ),
            (
                "signer".to_owned(),
                RestrictedExpression::new_entity_uid(uid(&self.types.signer, &signer)),
            ),
            (
                "thumbprint".to_owned(),
                RestrictedExpression::new_entity_uid(uid(&self.types.signer, &thumbprint)),
            ),
        ])
        .map_err(|e| e.to_string())?;
        Request::new(
            uid(&self.types.computer, &event.computer),
            self.types.action.clone(),
            uid(&self.types.hash, &event.sha256.to_string()),
            context,
            None,
        )
        .map_err(|e| e.to_string())
    }

    /// Decides a request: among the policies that decide it, the one with the lowest
    /// position.
    pub fn decide(&self, request: &Request) -> Verdict<'_> {
        let response = self
            .authorizer
            .is_authorized(request, &self.policies, &self.entities);
        let allow = response.decision() == Decision::Allow;
        let policy = response
            .diagnostics()
            .reason()
            .filter_map(|id| self.positions.get_key_value(AsRef::<str>::as_ref(id)))
            .filter(|(_, (_, permit))| *permit == allow)
            .min_by_key(|(_, (position, _))| *position)
            .map(|(id, _)| id.as_str());
        Verdict { policy, allow }
    }

    /// How many policies the encoding has.
    pub fn policy_count(&self) -> usize {
        self.policies.policies().count()
    }
}
