//! The plain map: the simplest in-process encoding of a bundle whose policies are
//! scoped to organizations. Per organization, hash sets of the hashes its policies
//! deny and permit, the signers it trusts by common name, and a list of path
//! prefixes scanned in order; a computer's organization and its ancestors are
//! looked up one after the other.
//!
//! What it leaves out is what makes it fast and small: no computer or group scopes,
//! no users or validity windows, no patterns but `dir\*` prefixes compared with the
//! event's path as reported (ASCII case folded, not normalized), and a fixed order of
//! kinds instead of positions. [`PlainMap::new`] refuses a bundle where that order
//! could disagree with the positions, or that has anything it does not encode, so
//! that on the bundles it accepts it answers the question the engine answers.

use std::collections::HashMap;

use portcullis_engine::model::dn::AttributeType;
use portcullis_engine::model::{
    Action, Bundle, DistinguishedName, Event, FileRule, Policy, Scope, Sha256,
};

use crate::Verdict;

/// Rules of one kind under one action, in one organization.
#[derive(Debug, Default)]
struct Sets {
    hashes: HashMap<Sha256, u32>,
    thumbprints: HashMap<Sha256, u32>,
    /// By folded common name: the subject and issuer conditions, and the policy.
    subjects: HashMap<String, Vec<(DistinguishedName, Option<DistinguishedName>, u32)>>,
    /// Lowercase prefixes and their policy, scanned in order.
    prefixes: Vec<(String, u32)>,
}

/// What one organization's computers see of it (`local`: its `organization` and
/// `global` policies) and what its descendants' computers see (`global`).
#[derive(Debug, Default)]
struct Org {
    parent: Option<u32>,
    local: [Sets; 2],
    global: [Sets; 2],
}

/// The kinds, in the order a decision tries them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Hash,
    Signer,
    Prefix,
}

/// The plain map of one bundle.
#[derive(Debug)]
pub struct PlainMap {
    computers: HashMap<String, u32>,
    orgs: Vec<Org>,
    policies: Vec<(String, bool)>,
    /// (action: 0 deny, 1 permit; kind), in the order of their positions.
    order: Vec<(usize, Kind)>,
}

fn common_name(dn: &DistinguishedName) -> Option<&str> {
    dn.attributes()
        .find(|(kind, _, _)| **kind == AttributeType::CommonName)
        .map(|(_, _, folded)| folded)
}

impl PlainMap {
    /// Encodes `bundle`, or says what it cannot encode.
    pub fn new(bundle: &Bundle) -> Result<PlainMap, String> {
        let org_at: HashMap<&str, u32> = (0u32..)
            .zip(&bundle.organizations)
            .map(|(i, o)| (o.id.as_str(), i))
            .collect();
        let mut orgs: Vec<Org> = bundle
            .organizations
            .iter()
            .map(|o| Org {
                parent: o.parent.as_deref().and_then(|p| org_at.get(p).copied()),
                ..Org::default()
            })
            .collect();
        let group_org: HashMap<&str, u32> = bundle
            .groups
            .iter()
            .filter_map(|g| Some((g.id.as_str(), *org_at.get(g.organization.as_str())?)))
            .collect();
        let computers = bundle
            .computers
            .iter()
            .filter_map(|c| Some((c.id.clone(), *group_org.get(c.group.as_str())?)))
            .collect();
        let apps: HashMap<&str, &[FileRule]> = bundle
            .applications
            .iter()
            .map(|a| (a.id.as_str(), a.rules.as_slice()))
            .collect();
        let mut policies = Vec::new();
        // The lowest and highest position of each (action, kind).
        let mut ranges: HashMap<(usize, Kind), (i64, i64)> = HashMap::new();
        for policy in bundle.policies.iter().filter(|p| p.enabled) {
            refuse_unencoded(policy)?;
            let (owner, global) = match &policy.scope {
                Scope::Organization(o) => (o, false),
                Scope::Global(o) => (o, true),
                Scope::Computer(_) | Scope::Group(_) => unreachable_scope(policy)?,
            };
            let Some(org) = org_at
                .get(owner.as_str())
                .and_then(|&o| orgs.get_mut(o as usize))
            else {
                return Err(format!("policy `{}`: unknown organization", policy.id));
            };
            let p = policies.len() as u32;
            policies.push((policy.id.clone(), policy.action == Action::Permit));
            let action = usize::from(policy.action == Action::Permit);
            for app in &policy.applications {
                for rule in apps.get(app.as_str()).copied().unwrap_or_default() {
                    let kind = Kind::of(rule).ok_or_else(|| {
                        format!("application `{app}`: the plain map encodes rules of one condition: a hash, a signer or a `dir\\*` prefix")
                    })?;
                    let range = ranges
                        .entry((action, kind))
                        .or_insert((policy.position, policy.position));
                    range.0 = range.0.min(policy.position);
                    range.1 = range.1.max(policy.position);
                    let mut targets = vec![&mut org.local];
                    if global {
                        targets.push(&mut org.global);
                    }
                    for sets in targets {
                        let Some(sets) = sets.get_mut(action) else {
                            continue;
                        };
                        sets.add(rule, p);
                    }
                }
            }
        }
        let mut order: Vec<((usize, Kind), (i64, i64))> = ranges.into_iter().collect();
        order.sort_by_key(|(_, (low, _))| *low);
        if order
            .windows(2)
            .any(|w| matches!(w, [(_, (_, high)), (_, (low, _))] if high >= low))
        {
            return Err(
                "the plain map tries each kind of rule in turn: the positions of the policies of \
                 one kind and action must all come before those of the next"
                    .to_owned(),
            );
        }
        Ok(PlainMap {
            computers,
            orgs,
            policies,
            order: order.into_iter().map(|(k, _)| k).collect(),
        })
    }

    /// Decides `event`: the policy that decides it (none for the default deny) and
    /// whether it runs.
    #[inline(never)]
    pub fn decide(&self, event: &Event) -> Verdict<'_> {
        let Some(&start) = self.computers.get(event.computer.as_str()) else {
            return Verdict::DEFAULT_DENY;
        };
        let leaf = event.signature.valid_leaf();
        for &(action, kind) in &self.order {
            let mut at = Some(start);
            let mut own = true;
            while let Some(org) = at.and_then(|o| self.orgs.get(o as usize)) {
                let sets = if own { &org.local } else { &org.global };
                let found = sets.get(action).and_then(|s| s.find(kind, event, leaf));
                if let Some((id, allow)) = found.and_then(|p| self.policies.get(p as usize)) {
                    return Verdict {
                        policy: Some(id),
                        allow: *allow,
                    };
                }
                at = org.parent;
                own = false;
            }
        }
        Verdict::DEFAULT_DENY
    }
}

fn unreachable_scope(policy: &Policy) -> Result<(&String, bool), String> {
    Err(format!(
        "policy `{}`: the plain map has no computer or group scopes",
        policy.id
    ))
}

fn refuse_unencoded(policy: &Policy) -> Result<(), String> {
    if policy.users.is_some() || policy.not_before.is_some() || policy.expires.is_some() {
        return Err(format!(
            "policy `{}`: the plain map has no users or validity windows",
            policy.id
        ));
    }
    Ok(())
}

impl Kind {
    fn of(rule: &FileRule) -> Option<Kind> {
        let conditions = usize::from(rule.sha256.is_some())
            + usize::from(rule.certificate().is_some())
            + usize::from(rule.path().is_some())
            + usize::from(rule.process().is_some())
            + usize::from(rule.created_by().is_some());
        if conditions != 1 {
            return None;
        }
        if rule.sha256.is_some() {
            return Some(Kind::Hash);
        }
        if let Some(cert) = rule.certificate() {
            return match (&cert.thumbprint, &cert.subject) {
                (Some(_), None) if cert.issuer.is_none() => Some(Kind::Signer),
                (None, Some(subject)) => common_name(subject).map(|_| Kind::Signer),
                _ => None,
            };
        }
        rule.path().and_then(prefix).map(|_| Kind::Prefix)
    }
}

/// The directory of a `dir\*` or `dir/*` pattern, lowercase, with its separator.
fn prefix(pattern: &str) -> Option<String> {
    let dir = pattern.strip_suffix('*')?;
    let plain = !dir.contains(['*', '?']) && !dir.contains('%') && !pattern.starts_with("regex:");
    (plain && dir.ends_with(['\\', '/'])).then(|| dir.to_ascii_lowercase())
}

impl Sets {
    fn add(&mut self, rule: &FileRule, policy: u32) {
        if let Some(hash) = rule.sha256 {
            self.hashes.entry(hash).or_insert(policy);
        } else if let Some(cert) = rule.certificate() {
            if let Some(thumbprint) = cert.thumbprint {
                self.thumbprints.entry(thumbprint).or_insert(policy);
            } else if let Some(subject) = &cert.subject {
                if let Some(cn) = common_name(subject) {
                    self.subjects.entry(cn.to_owned()).or_default().push((
                        subject.clone(),
                        cert.issuer.clone(),
                        policy,
                    ));
                }
            }
        } else if let Some(dir) = rule.path().and_then(prefix) {
            self.prefixes.push((dir, policy));
        }
    }

    fn find(
        &self,
        kind: Kind,
        event: &Event,
        leaf: Option<&portcullis_engine::model::Signer>,
    ) -> Option<u32> {
        match kind {
            Kind::Hash => self.hashes.get(&event.sha256).copied(),
            Kind::Signer => {
                let leaf = leaf?;
                if let Some(p) = leaf.thumbprint.and_then(|t| self.thumbprints.get(&t)) {
                    return Some(*p);
                }
                let conditions = self.subjects.get(common_name(&leaf.subject)?)?;
                conditions.iter().find_map(|(subject, issuer, p)| {
                    let issuer_ok = match (issuer, &leaf.issuer) {
                        (None, _) => true,
                        (Some(wanted), Some(have)) => have.matches(wanted),
                        (Some(_), None) => false,
                    };
                    (leaf.subject.matches(subject) && issuer_ok).then_some(*p)
                })
            }
            Kind::Prefix => {
                let path = event.path.as_bytes();
                self.prefixes.iter().find_map(|(dir, p)| {
                    let head = path.get(..dir.len())?;
                    head.eq_ignore_ascii_case(dir.as_bytes()).then_some(*p)
                })
            }
        }
    }
}
