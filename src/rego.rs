//! The Rego baseline of `portcullis bench`: the same policy set written as Rego and
//! decided by regorus.
//!
//! The encoding is the one a Rego author would write for this problem, with data-driven
//! lookups rather than one rule per policy:
//! - `data.hash[sha256]`, `data.thumbprint[sha256]`: the applications with a rule on
//!   that hash or leaf thumbprint (objects keyed by lowercase hex);
//! - `data.subject[common name]`: subject (and issuer) conditions filed by their folded
//!   common name, each checked attribute by attribute;
//! - `data.literal[org][family][path]`: literal path patterns, by owning organization
//!   and normalized path;
//! - `data.patterns[org][family]`: every other path pattern of the organization as an
//!   anchored regular expression over the normalized path (globs translated, `regex:`
//!   as written); only the computer's organization and its ancestors are searched, as
//!   the engine does;
//! - `data.policies[application]`: the enabled policies targeting it, with scope,
//!   owner, position, validity window and users;
//! - `data.computers[id]`: organization, group, path family and the organization chain
//!   (`{org: depth}`).
//!
//! The host normalizes the event's path (the engine's own normalizer) and hands the
//! policy a ready input, so Rego pays neither for JSON parsing nor for path
//! normalization. Rules with more than one condition are not encoded: the fleet
//! generator makes none, and a given bundle that has them is refused.

use std::collections::BTreeMap;

use portcullis_engine::model::{Action, Application, Bundle, Event, FileRule, Scope, Sha256};
use portcullis_engine::path::{normalize, Family, Pattern, Strategy};
use regorus::languages::rego::compiler::Compiler;
use regorus::rvm::RegoVM;
use serde_json::{json, Map, Value};

/// The policy. `decision` is `{"policy": id, "allow": bool}`, `policy` null for the
/// default deny.
pub const POLICY: &str = r#"package portcullis

import rego.v1

computer := data.computers[input.computer]

apps contains app if {
	some app in data.hash[input.sha256]
}

apps contains app if {
	some app in data.thumbprint[input.signer.thumbprint]
}

apps contains c.app if {
	some c in data.subject[input.signer.subject.cn]
	every k, v in c.subject {
		input.signer.subject[k] == v
	}
	every k, v in c.issuer {
		input.signer.issuer[k] == v
	}
}

apps contains app if {
	some org, _ in computer.chain
	some app in data.literal[org][computer.family][input.path]
}

apps contains p.app if {
	some org, _ in computer.chain
	some p in data.patterns[org][computer.family]
	regex.match(p.re, input.path)
}

in_scope(p) if {
	p.scope == "computer"
	p.target == input.computer
}

in_scope(p) if {
	p.scope == "group"
	p.target == computer.group
}

in_scope(p) if {
	p.scope == "organization"
	p.target == computer.org
}

in_scope(p) if {
	p.scope == "global"
	computer.chain[p.target]
}

user_ok(p) if not p.users

user_ok(p) if p.users[lower(input.user)]

candidates contains [p.position, 0 - computer.chain[p.owner], p.id, p.action] if {
	some app in apps
	some p in data.policies[app]
	in_scope(p)
	p.not_before <= input.time
	input.time < p.expires
	user_ok(p)
}

default decision := {"policy": null, "allow": false}

decision := {"policy": w[2], "allow": w[3] == "permit"} if {
	count(candidates) > 0
	w := min(candidates)
}
"#;

/// Rego's answer for one event, to compare with the engine's.
#[derive(Debug, PartialEq, Eq)]
pub struct Verdict {
    pub policy: Option<String>,
    pub allow: bool,
}

/// The policy loaded with a bundle's data, on regorus's virtual machine (the default,
/// and what the plugin host uses) or its interpreter.
pub struct RegoBaseline {
    evaluator: Evaluator,
    families: BTreeMap<String, Family>,
}

/// What decides.
enum Evaluator {
    Vm(Box<RegoVM>),
    Interpreter(Box<regorus::Engine>),
}

/// The rule whose value is the decision.
const DECISION: &str = "data.portcullis.decision";

fn hex(hash: &Sha256) -> String {
    hash.to_string()
}

fn family_name(family: Family) -> &'static str {
    match family {
        Family::Windows => "windows",
        Family::Posix => "posix",
    }
}

fn push(map: &mut Map<String, Value>, key: String, value: Value) {
    match map.entry(key).or_insert_with(|| Value::Array(Vec::new())) {
        Value::Array(list) => list.push(value),
        other => *other = Value::Array(vec![value]),
    }
}

/// A glob over a normalized path as an anchored regular expression.
fn glob_regex(glob: &str, family: Family) -> String {
    let mut out = String::from(if family == Family::Windows {
        "(?is)^"
    } else {
        "(?s)^"
    });
    let mut literal = String::new();
    for c in glob.chars() {
        match c {
            '*' | '?' => {
                out.push_str(&regex_escape(&literal));
                literal.clear();
                out.push_str(if c == '*' { ".*" } else { "." });
            }
            c => literal.push(c),
        }
    }
    out.push_str(&regex_escape(&literal));
    out.push('$');
    out
}

fn regex_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn dn_object(dn: &portcullis_engine::model::DistinguishedName) -> Value {
    let mut map = Map::new();
    for (kind, _, folded) in dn.attributes() {
        map.insert(kind.to_string().to_lowercase(), json!(folded));
    }
    Value::Object(map)
}

/// The file rules as lookups: by hash, thumbprint, subject common name, literal path
/// and path pattern.
#[derive(Default)]
struct Lookups<'b> {
    hash: Map<String, Value>,
    thumbprint: Map<String, Value>,
    subject: Map<String, Value>,
    /// By owning organization, then Windows and POSIX.
    literal: BTreeMap<&'b str, [Map<String, Value>; 2]>,
    /// By owning organization, then Windows and POSIX.
    patterns: BTreeMap<&'b str, [Vec<Value>; 2]>,
}

impl<'b> Lookups<'b> {
    /// Files every rule of every application.
    fn of(bundle: &'b Bundle) -> Result<Lookups<'b>, String> {
        let mut lookups = Lookups::default();
        for app in &bundle.applications {
            let owner = app.organization.as_str();
            lookups.literal.entry(owner).or_default();
            lookups.patterns.entry(owner).or_default();
            for (r, rule) in app.rules.iter().enumerate() {
                lookups.add(app, r, rule)?;
            }
        }
        Ok(lookups)
    }

    /// Files one rule (of one condition) of an application.
    fn add(&mut self, app: &'b Application, r: usize, rule: &FileRule) -> Result<(), String> {
        let conditions = usize::from(rule.sha256.is_some())
            + usize::from(rule.certificate().is_some())
            + usize::from(rule.path().is_some())
            + usize::from(rule.process().is_some())
            + usize::from(rule.created_by().is_some());
        let unsupported = || {
            format!(
                "application `{}` rule {r}: the Rego baseline encodes rules of one \
                 condition (sha256, certificate or path) only",
                app.id
            )
        };
        if conditions != 1 {
            return Err(unsupported());
        }
        let id = json!(app.id);
        if let Some(sha) = &rule.sha256 {
            push(&mut self.hash, hex(sha), id);
        } else if let Some(cert) = rule.certificate() {
            if let Some(t) = &cert.thumbprint {
                push(&mut self.thumbprint, hex(t), id);
            } else if let Some(s) = &cert.subject {
                let cn = s
                    .attributes()
                    .find(|(kind, _, _)| kind.to_string() == "CN")
                    .map(|(_, _, folded)| folded.to_owned())
                    .ok_or_else(unsupported)?;
                let issuer = cert.issuer.as_ref().map_or(json!({}), dn_object);
                push(
                    &mut self.subject,
                    cn,
                    json!({"app": app.id, "subject": dn_object(s), "issuer": issuer}),
                );
            }
        } else if let Some(path) = rule.path() {
            self.add_path(app, path);
        } else {
            return Err(unsupported());
        }
        Ok(())
    }

    /// Files a path pattern for both path families: a literal by its text, anything
    /// else as an anchored regular expression.
    fn add_path(&mut self, app: &'b Application, path: &str) {
        let owner = app.organization.as_str();
        let literal = self.literal.entry(owner).or_default();
        let patterns = self.patterns.entry(owner).or_default();
        for (f, family) in [Family::Windows, Family::Posix].into_iter().enumerate() {
            let Ok(pattern) = Pattern::compile(family, path) else {
                continue;
            };
            let (Some(literal), Some(patterns)) = (literal.get_mut(f), patterns.get_mut(f)) else {
                continue;
            };
            match pattern.strategy() {
                Strategy::Literal(text) => push(literal, text.to_owned(), json!(app.id)),
                Strategy::Regex => {
                    let flags = if family == Family::Windows {
                        "(?i)"
                    } else {
                        ""
                    };
                    patterns.push(json!({"app": app.id,
                        "re": format!("{flags}{}", pattern.normalized())}));
                }
                _ => patterns.push(json!({"app": app.id,
                    "re": glob_regex(pattern.normalized(), family)})),
            }
        }
    }
}

/// Where groups and computers belong.
struct Places<'b> {
    group_org: BTreeMap<&'b str, &'b str>,
    computer_org: BTreeMap<&'b str, &'b str>,
}

impl<'b> Places<'b> {
    fn of(bundle: &'b Bundle) -> Places<'b> {
        let group_org: BTreeMap<&str, &str> = bundle
            .groups
            .iter()
            .map(|g| (g.id.as_str(), g.organization.as_str()))
            .collect();
        let computer_org = bundle
            .computers
            .iter()
            .filter_map(|c| Some((c.id.as_str(), *group_org.get(c.group.as_str())?)))
            .collect();
        Places {
            group_org,
            computer_org,
        }
    }
}

/// `data.computers`: each computer's organization, group, path family and
/// organization chain.
fn computers(bundle: &Bundle, places: &Places) -> Map<String, Value> {
    let parents: BTreeMap<&str, Option<&str>> = bundle
        .organizations
        .iter()
        .map(|o| (o.id.as_str(), o.parent.as_deref()))
        .collect();
    let chain = |org: &str| -> Map<String, Value> {
        let mut out = Map::new();
        let mut at = Some(org);
        let mut depth = 0;
        while let Some(o) = at {
            if out.contains_key(o) {
                break;
            }
            out.insert(o.to_owned(), json!(depth));
            depth += 1;
            at = parents.get(o).copied().flatten();
        }
        out
    };
    let mut computers = Map::new();
    for c in &bundle.computers {
        let Some(&org) = places.group_org.get(c.group.as_str()) else {
            continue;
        };
        computers.insert(
            c.id.clone(),
            json!({"org": org, "group": c.group, "family": family_name(c.os.family()),
                   "chain": chain(org)}),
        );
    }
    computers
}

/// `data.policies`: the enabled policies, filed under each application they target.
fn policies(bundle: &Bundle, places: &Places) -> Result<Map<String, Value>, String> {
    let mut policies = Map::new();
    for p in bundle.policies.iter().filter(|p| p.enabled) {
        let owner = match &p.scope {
            Scope::Computer(id) => places.computer_org.get(id.as_str()).copied(),
            Scope::Group(id) => places.group_org.get(id.as_str()).copied(),
            Scope::Organization(id) | Scope::Global(id) => Some(id.as_str()),
        }
        .ok_or_else(|| format!("policy `{}`: unknown scope target", p.id))?;
        let users = p.users.as_ref().map(|users| {
            Value::Object(
                users
                    .iter()
                    .map(|u| (u.to_lowercase(), json!(true)))
                    .collect(),
            )
        });
        let mut entry = json!({
            "id": p.id, "position": p.position, "owner": owner,
            "scope": p.scope.kind(), "target": p.scope.target(),
            "action": match p.action { Action::Permit => "permit", Action::Deny => "deny" },
            "not_before": p.not_before.map_or(i64::MIN / 2, |t| t.unix()),
            "expires": p.expires.map_or(i64::MAX / 2, |t| t.unix()),
        });
        if let (Some(users), Value::Object(map)) = (users, &mut entry) {
            map.insert("users".to_owned(), users);
        }
        for app in &p.applications {
            push(&mut policies, app.clone(), entry.clone());
        }
    }
    Ok(policies)
}

/// By organization, the Windows and POSIX halves as `{"windows": …, "posix": …}`.
fn by_family<T: Into<Value>>(by_org: BTreeMap<&str, [T; 2]>) -> Map<String, Value> {
    by_org
        .into_iter()
        .map(|(org, [w, p])| {
            (
                org.to_owned(),
                json!({"windows": w.into(), "posix": p.into()}),
            )
        })
        .collect()
}

/// The bundle as the policy's `data` document.
pub fn encode(bundle: &Bundle) -> Result<Value, String> {
    let lookups = Lookups::of(bundle)?;
    let places = Places::of(bundle);
    Ok(json!({
        "hash": lookups.hash, "thumbprint": lookups.thumbprint, "subject": lookups.subject,
        "literal": by_family(lookups.literal),
        "patterns": by_family(lookups.patterns),
        "policies": policies(bundle, &places)?, "computers": computers(bundle, &places),
    }))
}

impl RegoBaseline {
    /// Loads the policy and the bundle's data, for the virtual machine or, with
    /// `interpreter`, for the interpreter.
    pub fn new(bundle: &Bundle, interpreter: bool) -> Result<RegoBaseline, String> {
        let data = regorus::Value::from_json_str(&encode(bundle)?.to_string())
            .map_err(|e| format!("the Rego data does not load: {e}"))?;
        let mut engine = regorus::Engine::new();
        engine
            .add_policy("portcullis.rego".to_owned(), POLICY.to_owned())
            .map_err(|e| format!("the Rego baseline policy does not load: {e}"))?;
        let evaluator = if interpreter {
            engine
                .add_data(data)
                .map_err(|e| format!("the Rego data does not load: {e}"))?;
            Evaluator::Interpreter(Box::new(engine))
        } else {
            let policy = engine
                .compile_with_entrypoint(&DECISION.into())
                .map_err(|e| format!("the Rego baseline policy does not compile: {e}"))?;
            let program = Compiler::compile_from_policy(&policy, &[DECISION])
                .map_err(|e| format!("the Rego baseline policy does not compile: {e}"))?;
            let mut vm = RegoVM::new_with_policy(policy);
            vm.load_program(program);
            vm.set_data(data)
                .map_err(|e| format!("the Rego data does not load: {e}"))?;
            // As the interpreter: builtin errors are errors, and no instruction limit.
            vm.set_strict_builtin_errors(true);
            vm.set_max_instructions(usize::MAX);
            Evaluator::Vm(Box::new(vm))
        };
        let families = bundle
            .computers
            .iter()
            .map(|c| (c.id.clone(), c.os.family()))
            .collect();
        Ok(RegoBaseline {
            evaluator,
            families,
        })
    }

    /// `vm` or `interpreter`.
    pub fn evaluator(&self) -> &'static str {
        match self.evaluator {
            Evaluator::Vm(_) => "vm",
            Evaluator::Interpreter(_) => "interpreter",
        }
    }

    /// The policy's input for an event: the path normalized for the computer's family.
    pub fn input(&self, event: &Event) -> Result<regorus::Value, String> {
        let family = self
            .families
            .get(&event.computer)
            .copied()
            .unwrap_or(Family::Windows);
        let path = normalize(family, &event.path).unwrap_or_default();
        let leaf = event.signature.valid_leaf();
        let signer = match leaf {
            Some(s) => json!({
                "thumbprint": s.thumbprint.as_ref().map(hex),
                "subject": dn_object(&s.subject),
                "issuer": s.issuer.as_ref().map_or(json!({}), dn_object),
            }),
            None => json!({"subject": {}, "issuer": {}}),
        };
        let input = json!({
            "computer": event.computer, "user": event.user, "path": path,
            "sha256": hex(&event.sha256), "signer": signer, "time": event.time.unix(),
        });
        regorus::Value::from_json_str(&input.to_string()).map_err(|e| e.to_string())
    }

    /// Decides one prepared input.
    pub fn decide(&mut self, input: &regorus::Value) -> Result<Verdict, String> {
        let value = match &mut self.evaluator {
            Evaluator::Vm(vm) => {
                vm.set_input(input.clone());
                vm.execute_entry_point_by_name(DECISION)
                    .map_err(|e| e.to_string())
            }
            Evaluator::Interpreter(engine) => {
                engine.set_input(input.clone());
                engine
                    .eval_rule(DECISION.to_owned())
                    .map_err(|e| e.to_string())
            }
        }
        .map_err(|e| format!("the Rego baseline failed: {e}"))?;
        Ok(Verdict {
            policy: value["policy"].as_string().ok().map(|s| s.to_string()),
            allow: value["allow"].as_bool().ok().copied().unwrap_or(false),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_engine::fleet::{EventMix, Fleet, Preset};
    use portcullis_engine::{Outcome, Snapshot};

    #[test]
    fn glob_translation_is_anchored_and_escaped() {
        assert_eq!(
            glob_regex("/opt/a.b/*", Family::Posix),
            r"(?s)^/opt/a\.b/.*$"
        );
        assert_eq!(
            glob_regex(r"c:\x\?.exe", Family::Windows),
            r"(?is)^c:\\x\\.\.exe$"
        );
    }

    #[test]
    fn rego_agrees_with_the_engine_on_a_small_fleet() {
        let fleet = Fleet::preset(Preset::Small, 5);
        let snapshot = Snapshot::compile(&fleet.bundle).unwrap();
        for interpreter in [false, true] {
            let mut rego = RegoBaseline::new(&fleet.bundle, interpreter).unwrap();
            let expected = if interpreter { "interpreter" } else { "vm" };
            assert_eq!(rego.evaluator(), expected);
            let mut decided = 0;
            for event in fleet.events(&EventMix::MIXED, 60, 2) {
                let decision = snapshot.decide(&event);
                let verdict = rego.decide(&rego.input(&event).unwrap()).unwrap();
                assert_eq!(
                    verdict.policy.as_deref(),
                    decision.policy,
                    "{expected}: {event:?}"
                );
                if decision.mode.is_none() {
                    assert_eq!(verdict.allow, decision.decision == Outcome::Allow);
                }
                decided += usize::from(decision.policy.is_some());
            }
            assert!(decided > 30, "{expected}: {decided}");
        }
    }
}
