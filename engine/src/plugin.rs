//! Plugins as plain data: what a plugin is given, what it answers, how answers combine,
//! and the two traits a plugin host implements.
//!
//! The types mirror the WIT package `portcullis:plugin@0.1.0` in `wit/plugin.wit`, one
//! for one. Their JSON form (snake_case fields, kebab-case enum values) is what a Rego
//! policy reads as `input` and writes as its `verdict`, and what test vectors hold.
//!
//! This module runs no plugin: hosts (WebAssembly, Rego) live in the `portcullis-plugins`
//! crate and implement [`ApprovalReviewer`] and [`RulePlugin`]. A host never returns an
//! error to its caller: a plugin that traps, overruns its budget, or answers something
//! malformed gives a [`PluginOutcome`] holding a [`Failure`], which counts as abstain
//! ([`PluginOutcome::verdict`]) and is reported. A failure never counts as approve.
//!
//! Rule plugins are not part of [`Snapshot::decide`](crate::Snapshot::decide): the
//! static decision is computed first, and [`apply_rules`] then consults the rule plugins
//! only when that decision is an allow. A plugin deny turns the allow into a deny that
//! names the plugin and its reason; nothing a plugin answers turns a deny into an allow.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::model::{DecisionRecord, Event, Os, Outcome, SignatureStatus};

/// The version of the plugin contract (the WIT package) this module mirrors.
pub const CONTRACT_VERSION: &str = "0.1.0";

/// The longest reason or justification a verdict may carry, in bytes.
pub const MAX_REASON: usize = 1024;

/// The most administrators a route verdict may name.
pub const MAX_ROUTE: usize = 32;

/// The longest administrator name in a route verdict, in bytes.
pub const MAX_NAME: usize = 256;

/// The two plugin hooks, one WIT world each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Hook {
    /// Reviews access requests: world `approval-review`.
    ApprovalReview,
    /// May deny executions the static policies allow: world `rule`.
    Rule,
}

impl Hook {
    /// The WIT world's name.
    pub fn world(self) -> &'static str {
        match self {
            Hook::ApprovalReview => "approval-review",
            Hook::Rule => "rule",
        }
    }
}

impl fmt::Display for Hook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "portcullis:plugin/{}@{CONTRACT_VERSION}", self.world())
    }
}

/// One certificate of a signature's chain (WIT `signer`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signer {
    /// The certificate's subject, e.g. `CN=Contoso Ltd, O=Contoso Ltd`.
    pub subject: String,
    /// The certificate's issuer.
    #[serde(default)]
    pub issuer: Option<String>,
    /// The certificate's SHA-256 thumbprint, lowercase hex.
    #[serde(default)]
    pub thumbprint: Option<String>,
}

/// One program execution on one computer (WIT `execution`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Execution {
    /// The computer's id.
    pub computer: String,
    /// The computer's operating system family.
    pub os: Os,
    /// The user running the program.
    pub user: String,
    /// Full path of the file, as reported.
    pub path: String,
    /// SHA-256 of the file, lowercase hex.
    pub sha256: String,
    /// Whether the signature verifies.
    pub signature: SignatureStatus,
    /// The signing certificate first, then its chain.
    #[serde(default)]
    pub signers: Vec<Signer>,
    /// Path of the parent process.
    #[serde(default)]
    pub parent: Option<String>,
    /// Path of the process that wrote the file.
    #[serde(default)]
    pub created_by: Option<String>,
    /// Elevation was requested.
    #[serde(default)]
    pub elevation: bool,
    /// When, RFC 3339 in UTC.
    pub time: String,
}

impl Execution {
    /// The plugin view of an engine event on a computer of family `os`.
    pub fn from_event(event: &Event, os: Os) -> Execution {
        Execution {
            computer: event.computer.clone(),
            os,
            user: event.user.clone(),
            path: event.path.clone(),
            sha256: event.sha256.to_string(),
            signature: event.signature.status,
            signers: event
                .signature
                .signers
                .iter()
                .map(|s| Signer {
                    subject: s.subject.to_string(),
                    issuer: s.issuer.as_ref().map(ToString::to_string),
                    thumbprint: s.thumbprint.map(|t| t.to_string()),
                })
                .collect(),
            parent: event.parent.clone(),
            created_by: event.created_by.clone(),
            elevation: event.elevation,
            time: event.time.to_string(),
        }
    }
}

/// One organization of the tenancy tree (WIT `organization`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Organization {
    /// The organization's id.
    pub id: String,
    /// Its display name.
    pub name: String,
}

/// Where the requesting computer sits (WIT `tenancy`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tenancy {
    /// From the root organization down to the computer's own.
    pub organizations: Vec<Organization>,
    /// The computer's group id.
    pub group: String,
    /// The computer's id.
    pub computer: String,
}

/// What a user's access request asks for (WIT `request-kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AccessRequestKind {
    /// Run a blocked application.
    Application,
    /// Use a blocked storage device.
    Storage,
    /// Run an application with administrator rights.
    Elevation,
}

impl AccessRequestKind {
    /// The name used in the contract, in commands and in output.
    pub fn as_str(self) -> &'static str {
        match self {
            AccessRequestKind::Application => "application",
            AccessRequestKind::Storage => "storage",
            AccessRequestKind::Elevation => "elevation",
        }
    }
}

impl fmt::Display for AccessRequestKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A user's access request (WIT `access-request`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessRequest {
    /// The request's id.
    pub id: String,
    /// What is asked for.
    pub kind: AccessRequestKind,
    /// The user's message.
    #[serde(default)]
    pub message: Option<String>,
    /// The execution that was denied.
    pub execution: Execution,
}

/// How widely an approval applies (WIT `scope`), narrowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    /// The requesting computer.
    Computer,
    /// Its group.
    Group,
    /// Its organization.
    Organization,
    /// The organization and its descendants.
    Global,
}

/// What an approval's policy matches on (WIT `match-kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MatchKind {
    /// The file's SHA-256.
    Hash,
    /// The signing certificate.
    Certificate,
    /// The signing certificate and the path.
    CertificateAndPath,
    /// The path.
    Path,
}

/// The choices an approval makes (WIT `approval-options`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalOptions {
    /// Where the new policy applies.
    pub scope: Scope,
    /// What it matches on.
    pub match_kind: MatchKind,
    /// Permit with elevation.
    #[serde(default)]
    pub elevate: bool,
    /// When the policy expires, RFC 3339.
    #[serde(default)]
    pub expires: Option<String>,
    /// Why; recorded in the audit.
    pub justification: String,
}

/// An earlier approval of the same software (WIT `prior-approval`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriorApproval {
    /// The request it approved.
    pub request: String,
    /// The computer it came from.
    pub computer: String,
    /// Who approved.
    pub approved_by: String,
    /// The options it was approved with.
    pub options: ApprovalOptions,
    /// When, RFC 3339.
    pub time: String,
}

/// The input of the approval-review hook (WIT `approval-input`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalInput {
    /// The request under review.
    pub request: AccessRequest,
    /// Where the requesting computer sits.
    pub tenancy: Tenancy,
    /// Earlier approvals of the same software, newest first.
    #[serde(default)]
    pub prior_approvals: Vec<PriorApproval>,
}

/// The answer of the approval-review hook (WIT `verdict`).
///
/// In JSON: `{"verdict": "approve", "options": {…}}`, `{"verdict": "reject", "reason":
/// "…"}`, `{"verdict": "route", "administrators": […]}` or `{"verdict": "abstain"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Verdict {
    /// Approve with these options.
    Approve {
        /// How the approval's policy looks.
        options: ApprovalOptions,
    },
    /// Reject, telling the requester why.
    Reject {
        /// Why.
        reason: String,
    },
    /// Leave the request to these administrators.
    Route {
        /// Administrator ids or email addresses; not empty.
        administrators: Vec<String>,
    },
    /// No opinion.
    Abstain,
}

/// The answer of the rule hook (WIT `rule-verdict`).
///
/// In JSON: `{"verdict": "deny", "reason": "…"}` or `{"verdict": "abstain"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "kebab-case", deny_unknown_fields)]
pub enum RuleVerdict {
    /// Deny the execution.
    Deny {
        /// Why; shown to the user and in the audit.
        reason: String,
    },
    /// The static decision stands.
    Abstain,
}

fn check_text(what: &str, text: &str) -> Result<(), String> {
    if text.trim().is_empty() {
        return Err(format!("{what} is empty"));
    }
    if text.len() > MAX_REASON {
        return Err(format!(
            "{what} is {} bytes long, more than {MAX_REASON}",
            text.len()
        ));
    }
    Ok(())
}

impl Verdict {
    /// Check what the types cannot: reasons and justifications are present and short,
    /// a route names between 1 and [`MAX_ROUTE`] administrators, an expiry is RFC 3339.
    /// A host turns a verdict that fails this into a [`FailureKind::Malformed`] failure.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            Verdict::Approve { options } => {
                check_text("the justification", &options.justification)?;
                if let Some(expires) = &options.expires {
                    expires
                        .parse::<crate::model::Timestamp>()
                        .map_err(|e| format!("the expiry `{expires}` is not a time: {e}"))?;
                }
                Ok(())
            }
            Verdict::Reject { reason } => check_text("the reason", reason),
            Verdict::Route { administrators } => {
                if administrators.is_empty() {
                    return Err("the route names no administrator".to_owned());
                }
                if administrators.len() > MAX_ROUTE {
                    return Err(format!(
                        "the route names {} administrators, more than {MAX_ROUTE}",
                        administrators.len()
                    ));
                }
                for name in administrators {
                    if name.trim().is_empty() || name.len() > MAX_NAME {
                        return Err(format!(
                            "an administrator name is empty or longer than {MAX_NAME} bytes"
                        ));
                    }
                }
                Ok(())
            }
            Verdict::Abstain => Ok(()),
        }
    }

    /// Precedence when verdicts combine: reject > route > approve > abstain.
    pub fn rank(&self) -> u8 {
        match self {
            Verdict::Reject { .. } => 3,
            Verdict::Route { .. } => 2,
            Verdict::Approve { .. } => 1,
            Verdict::Abstain => 0,
        }
    }
}

impl RuleVerdict {
    /// Check that a deny carries a reason of at most [`MAX_REASON`] bytes.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            RuleVerdict::Deny { reason } => check_text("the reason", reason),
            RuleVerdict::Abstain => Ok(()),
        }
    }
}

/// The verdict of several plugins together (SPEC §7): reject wins over route, route
/// over approve, approve over abstain.
///
/// Within the winning kind: the first reject (in plugin order) gives the reason; routes
/// merge their administrators (first mention kept, duplicates dropped); of several
/// approvals the narrowest scope wins (least privilege), the first on a tie.
pub fn combine<'a>(verdicts: impl IntoIterator<Item = &'a Verdict>) -> Verdict {
    let mut best = Verdict::Abstain;
    for verdict in verdicts {
        match (&mut best, verdict) {
            (
                Verdict::Route { administrators },
                Verdict::Route {
                    administrators: more,
                },
            ) => {
                for name in more {
                    if !administrators.contains(name) && administrators.len() < MAX_ROUTE {
                        administrators.push(name.clone());
                    }
                }
            }
            (Verdict::Approve { options }, Verdict::Approve { options: other })
                if other.scope < options.scope =>
            {
                *options = other.clone();
            }
            (current, next) if next.rank() > current.rank() => *current = next.clone(),
            _ => {}
        }
    }
    best
}

/// Why a plugin call gave no verdict. Every kind counts as abstain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum FailureKind {
    /// The plugin trapped (a panic, `unreachable`, an out-of-bounds access, a WASI call
    /// the host does not grant) or the Rego evaluation failed.
    Trap,
    /// The call overran its time budget.
    Timeout,
    /// The plugin tried to grow its memory past its cap.
    Memory,
    /// The plugin answered something the contract does not allow.
    Malformed,
    /// The plugin is switched off after too many failures in a row.
    Disabled,
    /// The host had no room for another instance within the call's budget: every
    /// slot of its pool was taken by calls in flight. The host's doing, not the
    /// plugin's, so it does not count toward switching the plugin off.
    Busy,
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FailureKind::Trap => "trap",
            FailureKind::Timeout => "timeout",
            FailureKind::Memory => "memory",
            FailureKind::Malformed => "malformed",
            FailureKind::Disabled => "disabled",
            FailureKind::Busy => "busy",
        })
    }
}

/// A contained plugin failure: what kind, and a message for the audit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// What went wrong.
    pub kind: FailureKind,
    /// Details, for administrators.
    pub message: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

/// The severity of a plugin's log line (WIT `host.level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Detail.
    Debug,
    /// Normal operation.
    Info,
    /// Something looks wrong.
    Warn,
    /// Something is wrong.
    Error,
}

/// One line a plugin logged during a call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// Its severity.
    pub level: LogLevel,
    /// Its text, cut to the host's limit.
    pub message: String,
}

/// The result of one plugin call: a verdict or a contained failure, and the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginOutcome<V> {
    /// The verdict, or why there is none.
    pub result: Result<V, Failure>,
    /// The lines the plugin logged (bounded by the host).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub logs: Vec<LogLine>,
    /// Lines the host dropped because the plugin logged too much.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub dropped_logs: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// A verdict type that has an abstain.
pub trait Abstain: Clone {
    /// The abstain verdict.
    fn abstain() -> Self;
}

impl Abstain for Verdict {
    fn abstain() -> Self {
        Verdict::Abstain
    }
}

impl Abstain for RuleVerdict {
    fn abstain() -> Self {
        RuleVerdict::Abstain
    }
}

impl<V: Abstain> PluginOutcome<V> {
    /// A verdict with no log.
    pub fn verdict_only(verdict: V) -> Self {
        PluginOutcome {
            result: Ok(verdict),
            logs: Vec::new(),
            dropped_logs: 0,
        }
    }

    /// A failure with no log.
    pub fn failed(kind: FailureKind, message: impl Into<String>) -> Self {
        PluginOutcome {
            result: Err(Failure {
                kind,
                message: message.into(),
            }),
            logs: Vec::new(),
            dropped_logs: 0,
        }
    }

    /// The verdict that counts: the plugin's, or abstain when it failed.
    pub fn verdict(&self) -> V {
        match &self.result {
            Ok(verdict) => verdict.clone(),
            Err(_) => V::abstain(),
        }
    }

    /// The failure, if the call failed.
    pub fn failure(&self) -> Option<&Failure> {
        self.result.as_ref().err()
    }
}

/// An approval-review plugin, ready to be called from any thread.
pub trait ApprovalReviewer: Send + Sync {
    /// The plugin's name, as audited.
    fn name(&self) -> &str;
    /// Review one request. Never fails: a failure is a [`PluginOutcome`] that counts
    /// as abstain.
    fn review(&self, input: &ApprovalInput) -> PluginOutcome<Verdict>;
}

/// A rule plugin, ready to be called from any thread.
pub trait RulePlugin: Send + Sync {
    /// The plugin's name, as audited.
    fn name(&self) -> &str;
    /// Check one execution. Never fails: a failure is a [`PluginOutcome`] that counts
    /// as abstain.
    fn check(&self, execution: &Execution) -> PluginOutcome<RuleVerdict>;
}

/// A plugin that denied an execution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginDeny {
    /// The plugin's name.
    pub plugin: String,
    /// Its reason.
    pub reason: String,
}

/// A plugin call that failed (and so abstained), for the audit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginFailure {
    /// The plugin's name.
    pub plugin: String,
    /// What went wrong.
    pub failure: Failure,
}

/// A static decision after the rule plugins were consulted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuledDecision {
    /// The decision: the static one, or a deny when a plugin denied.
    pub decision: DecisionRecord,
    /// The plugin that turned the allow into a deny, with its reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub denied_by: Option<PluginDeny>,
    /// Plugins that failed; each counted as abstain.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<PluginFailure>,
}

/// Consult rule plugins on a static decision.
///
/// Rule plugins are consulted only when the static decision is an allow (including an
/// allow of a maintenance mode), in the order given, and stop at the first deny. A deny
/// replaces the allow with a deny that grants no elevation, names no policy, shows the
/// user a notification and does not offer a request (the tenant's logic decided, not a
/// policy an approval could override). A deny is returned unchanged without calling
/// any plugin: a plugin can never turn a deny into an allow. A failed call counts as
/// abstain and is listed in `failures`.
pub fn apply_rules(
    decision: DecisionRecord,
    execution: &Execution,
    plugins: &[&dyn RulePlugin],
) -> RuledDecision {
    let mut ruled = RuledDecision {
        decision,
        denied_by: None,
        failures: Vec::new(),
    };
    if ruled.decision.decision != Outcome::Allow {
        return ruled;
    }
    for plugin in plugins {
        let outcome = plugin.check(execution);
        match outcome.result {
            Ok(RuleVerdict::Abstain) => {}
            Ok(RuleVerdict::Deny { reason }) => {
                let d = &mut ruled.decision;
                d.decision = Outcome::Deny;
                d.elevated = false;
                d.policy = None;
                d.application = None;
                d.default_deny = false;
                d.would_deny = false;
                d.mode = None;
                d.notify_user = true;
                d.can_request = false;
                d.request_kind = None;
                d.notify = Vec::new();
                d.learn = false;
                ruled.denied_by = Some(PluginDeny {
                    plugin: plugin.name().to_owned(),
                    reason,
                });
                break;
            }
            Err(failure) => ruled.failures.push(PluginFailure {
                plugin: plugin.name().to_owned(),
                failure,
            }),
        }
    }
    ruled
}

#[cfg(test)]
mod tests {
    use super::*;

    fn approve(scope: Scope) -> Verdict {
        Verdict::Approve {
            options: ApprovalOptions {
                scope,
                match_kind: MatchKind::Hash,
                elevate: false,
                expires: None,
                justification: format!("{scope:?}"),
            },
        }
    }

    fn reject(reason: &str) -> Verdict {
        Verdict::Reject {
            reason: reason.to_owned(),
        }
    }

    fn route(names: &[&str]) -> Verdict {
        Verdict::Route {
            administrators: names.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    #[test]
    fn reject_beats_route_beats_approve_beats_abstain() {
        let all = [
            Verdict::Abstain,
            approve(Scope::Group),
            route(&["ann"]),
            reject("no"),
        ];
        // Every order gives the same winner.
        for start in 0..all.len() {
            let rotated: Vec<Verdict> = all.iter().cycle().skip(start).take(4).cloned().collect();
            assert_eq!(combine(&rotated), reject("no"));
            assert_eq!(combine(&rotated[..0]), Verdict::Abstain);
        }
        assert_eq!(
            combine(&[approve(Scope::Global), route(&["a"]), Verdict::Abstain]),
            route(&["a"])
        );
        assert_eq!(
            combine(&[Verdict::Abstain, approve(Scope::Global)]),
            approve(Scope::Global)
        );
    }

    #[test]
    fn within_a_kind() {
        assert_eq!(
            combine(&[reject("first"), reject("second")]),
            reject("first")
        );
        assert_eq!(
            combine(&[route(&["a", "b"]), route(&["b", "c"])]),
            route(&["a", "b", "c"])
        );
        assert_eq!(
            combine(&[
                approve(Scope::Organization),
                approve(Scope::Computer),
                approve(Scope::Group)
            ]),
            approve(Scope::Computer)
        );
    }

    #[test]
    fn json_shapes() {
        let v: Verdict = serde_json::from_str(
            r#"{"verdict": "approve", "options": {"scope": "computer", "match_kind": "certificate-and-path", "justification": "x"}}"#,
        )
        .unwrap();
        assert!(
            matches!(v, Verdict::Approve { ref options } if options.match_kind == MatchKind::CertificateAndPath)
        );
        assert!(serde_json::from_str::<Verdict>(r#"{"verdict": "approve"}"#).is_err());
        assert_eq!(
            serde_json::to_string(&RuleVerdict::Deny { reason: "r".into() }).unwrap(),
            r#"{"verdict":"deny","reason":"r"}"#
        );
    }

    #[test]
    fn validation() {
        assert!(reject(" ").validate().is_err());
        assert!(reject(&"x".repeat(MAX_REASON + 1)).validate().is_err());
        assert!(route(&[]).validate().is_err());
        assert!(route(&["a"]).validate().is_ok());
        let mut bad = approve(Scope::Computer);
        if let Verdict::Approve { options } = &mut bad {
            options.expires = Some("tomorrow".into());
        }
        assert!(bad.validate().is_err());
        assert!(approve(Scope::Computer).validate().is_ok());
    }
}
