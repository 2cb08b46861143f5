//! Approving and rejecting requests: where the new policy goes, who may write it,
//! the rule it matches by, and the proof that it allows the request's execution.

use portcullis_engine::model::{
    Application, CertificateCondition, FileRule, Policy, Scope, Timestamp,
};
use portcullis_engine::{Action, DecisionRecord, Event, Outcome, Snapshot};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::access::{AccessRequestKind, Act, Holdings, ScopeKind};
use crate::audit::{AuditEntry, AuditLog};
use crate::error::Error;
use crate::store::{ApprovalRecord, Closure, DeployNote, RequestRecord, RequestState, Store};

use super::delivery::enqueue_outcome;
use super::deploys::Edit;
use super::requests::Suggestion;
use super::state::{about, describe_decider, Approver, Governance};

/// How an approval's rule matches the file. As JSON: `"hash"`, `"certificate"`,
/// `"certificate-path"`, `"path"` or `{"custom": rule}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Matching {
    /// The file's SHA-256.
    Hash,
    /// The signer's subject and issuer (needs a valid signature).
    Certificate,
    /// The signer and the file's path.
    CertificatePath,
    /// The file's path.
    Path,
    /// A rule the approver writes.
    Custom(FileRule),
}

impl Matching {
    /// The name used in commands and records.
    pub fn as_str(&self) -> &'static str {
        match self {
            Matching::Hash => "hash",
            Matching::Certificate => "certificate",
            Matching::CertificatePath => "certificate-path",
            Matching::Path => "path",
            Matching::Custom(_) => "custom",
        }
    }
}

/// What an approver chooses. A server reads it from a request's JSON body: `scope`
/// and `matching` are needed, every other field may be left out.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApproveOptions {
    /// Where the new policy applies.
    pub scope: ScopeKind,
    /// The scope's target: the computer, group or organization. Default: the
    /// requesting computer, its group, its organization. An organization scope may name
    /// an ancestor of the computer's organization; every target must contain the
    /// requesting computer.
    pub target: Option<String>,
    /// How its rule matches the file.
    pub matching: Matching,
    /// Add the rule to this existing application instead of creating one.
    pub application: Option<String>,
    /// The name of a new application (default: the file's name).
    pub application_name: Option<String>,
    /// Permit with elevation (always so for an elevation request).
    #[serde(default)]
    pub elevate: bool,
    /// The policy stops applying at this time.
    pub expires: Option<Timestamp>,
    /// Why; needed for approvals wider than one computer.
    pub justification: Option<String>,
    /// The new policy's position (default: after the organization's last policy).
    pub position: Option<i64>,
}

impl ApproveOptions {
    /// Computer scope, matched by hash, into a new application.
    pub fn new(scope: ScopeKind, matching: Matching) -> ApproveOptions {
        ApproveOptions {
            scope,
            target: None,
            matching,
            application: None,
            application_name: None,
            elevate: false,
            expires: None,
            justification: None,
            position: None,
        }
    }
}

/// A successful approval.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Approved {
    /// The request, now approved.
    pub request: RequestRecord,
    /// The snapshot generation that allows it.
    pub generation: u64,
    /// How many organizations were compiled anew for it (the others were reused).
    pub recompiled: usize,
    /// The decision on the new snapshot that proves the approval.
    pub proof: DecisionRecord,
    /// A wider policy to consider, when this software has now been approved manually
    /// on enough computers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suggestion: Option<Suggestion>,
}

/// Where an approval's policy goes.
struct Place {
    /// The requesting computer.
    computer: String,
    /// Its organization.
    computer_org: String,
    /// The computer, group or organization the scope names.
    target: String,
    /// The organization that owns the new policy.
    org: String,
}

/// An approval checked and ready to commit.
pub(super) struct Plan {
    pub(super) request: RequestRecord,
    place: Place,
    /// The application with the rule, and the policy.
    pub(super) edit: Edit,
    pub(super) approval: ApprovalRecord,
    justification: Option<String>,
    pub(super) elevate: bool,
    pub(super) now: Timestamp,
}

/// The decision on the new snapshot that proves an approval: the request's execution
/// is allowed (with elevation when it asked for it), or the error names what still
/// decides it.
pub(super) fn prove(
    snapshot: &Snapshot,
    probe: &Event,
    id: i64,
    needs_elevation: bool,
) -> Result<DecisionRecord, Error> {
    let decision = snapshot.decide(probe).to_record();
    let allowed = decision.decision == Outcome::Allow
        && !decision.would_deny
        && (!needs_elevation || decision.elevated);
    if allowed {
        return Ok(decision);
    }
    Err(Error::Shadowed {
        id,
        blocker: describe_decider(&decision),
        outcome: if decision.decision == Outcome::Allow {
            "allow without elevation".to_owned()
        } else {
            "deny".to_owned()
        },
    })
}

/// The rule an approval writes for an execution.
pub(super) fn rule_for(event: &Event, matching: &Matching) -> Result<FileRule, Error> {
    let signer = || {
        event.signature.valid_leaf().ok_or_else(|| {
            Error::invalid(
                "matching",
                "the execution has no valid signature; match it by hash or path".to_owned(),
            )
        })
    };
    let path = || {
        if event.path.contains(['*', '?']) || event.path.starts_with("regex:") {
            Err(Error::invalid(
                "matching",
                format!(
                    "the path `{}` would be read as a pattern; match it by hash or a custom rule",
                    event.path
                ),
            ))
        } else {
            Ok(event.path.clone())
        }
    };
    let certificate = |signer: &portcullis_engine::model::Signer| CertificateCondition {
        thumbprint: None,
        subject: Some(signer.subject.clone()),
        issuer: signer.issuer.clone(),
    };
    Ok(match matching {
        Matching::Hash => FileRule::hash(event.sha256),
        Matching::Certificate => FileRule::default().with_certificate(certificate(signer()?)),
        Matching::CertificatePath => FileRule::default()
            .with_certificate(certificate(signer()?))
            .with_path(path()?),
        Matching::Path => FileRule::default().with_path(path()?),
        Matching::Custom(rule) => {
            if rule == &FileRule::default() {
                return Err(Error::invalid(
                    "matching",
                    "a custom rule needs at least one condition".to_owned(),
                ));
            }
            rule.clone()
        }
    })
}

/// Whether an approval's rule goes beyond the built-in match choices an approver has:
/// a custom rule, a path pattern (wildcard or `regex:`), or a certificate named by its
/// subject alone. Writing one needs Edit Application Control Applications.
fn writes_rule(matching: &Matching, rule: &FileRule) -> bool {
    if matches!(matching, Matching::Custom(_)) {
        return true;
    }
    let pattern = rule
        .path()
        .is_some_and(|p| p.contains(['*', '?']) || p.starts_with("regex:"));
    let subject_only = rule
        .certificate()
        .is_some_and(|c| c.thumbprint.is_none() && c.issuer.is_none());
    pattern || subject_only
}

pub(super) fn file_name(path: &str) -> String {
    path.rsplit(['\\', '/'])
        .find(|part| !part.is_empty())
        .unwrap_or(path)
        .to_owned()
}

pub(super) fn unique_id(base: &str, taken: impl Fn(&str) -> bool) -> String {
    if !taken(base) {
        return base.to_owned();
    }
    (2..)
        .map(|n| format!("{base}-{n}"))
        .find(|candidate| !taken(candidate))
        .unwrap_or_else(|| base.to_owned())
}

impl<S: Store> Governance<S> {
    /// Approves a request: writes the rule and policy, deploys them (one organization
    /// recompiled), and proves that the request's execution is now allowed. If an
    /// earlier policy still decides it, nothing is deployed or recorded and the error
    /// names that policy.
    pub fn approve(
        &mut self,
        actor: &str,
        id: i64,
        options: ApproveOptions,
    ) -> Result<Approved, Error> {
        self.approve_by(Approver::Admin(actor), id, options)
    }

    /// Approves as an administrator (permission-checked) or as an approval plugin
    /// attached to the organization (its verdict is the organization's own logic; it
    /// cannot choose a target, an existing application or a position). Plan, check,
    /// commit: nothing is written until every check passed and the new snapshot proved
    /// the approval.
    pub(crate) fn approve_by(
        &mut self,
        approver: Approver<'_>,
        id: i64,
        options: ApproveOptions,
    ) -> Result<Approved, Error> {
        if let Approver::Plugin(name) = approver {
            if options.target.is_some()
                || options.application.is_some()
                || options.position.is_some()
            {
                return Err(Error::invalid("options", format!(
                    "plugin `{name}` may only choose scope, match, elevation, expiry and justification"
                )));
            }
        }
        self.expire_due()?;
        let request = self.load_request(id)?;
        request.ensure_pending("approved")?;
        let plan = self.plan_approval(approver, request, &options)?;
        self.commit_approval(&approver.audit_name(), plan)
    }

    /// Where the policy goes, who may write it, and the bundle with it: every check of
    /// an approval, before anything is written.
    pub(super) fn plan_approval(
        &self,
        approver: Approver<'_>,
        request: RequestRecord,
        options: &ApproveOptions,
    ) -> Result<Plan, Error> {
        let place = self.place(&request, options)?;
        let elevate = options.elevate || request.filed.kind == AccessRequestKind::Elevation;
        let holdings = match approver {
            Approver::Admin(admin) => Some(self.holdings(admin)?),
            Approver::Plugin(_) => None,
        };
        if let Some(holdings) = &holdings {
            let act = Act::Approve {
                kind: request.filed.kind,
                scope: options.scope,
                elevate,
            };
            holdings.check(&self.tree, act, &place.org)?;
            if options.scope == ScopeKind::Global {
                // A global policy reaches every descendant: the approver must be able to
                // approve there too (Super Admin - Parent Only cannot).
                for descendant in self.tree.subtree(&place.org) {
                    holdings.check(&self.tree, act, descendant)?;
                }
            }
        }
        let rule = rule_for(&request.filed.event, &options.matching)?;
        if let Some(holdings) = &holdings {
            if writes_rule(&options.matching, &rule) {
                holdings.check(&self.tree, Act::EditApplications, &place.org)?;
            }
        }
        let now = self.now();
        let justification = options
            .justification
            .as_deref()
            .map(str::trim)
            .filter(|j| !j.is_empty())
            .map(str::to_owned);
        self.check_guardrails(&request, &place, options, justification.is_some())?;
        if let Some(expires) = options.expires {
            if expires <= now {
                return Err(Error::invalid(
                    "expires",
                    format!("the expiry {expires} is not in the future"),
                ));
            }
        }
        let (edit, approval) =
            self.write_approval(holdings.as_ref(), &request, &place, options, rule, elevate)?;
        Ok(Plan {
            request,
            place,
            edit,
            approval,
            justification,
            elevate,
            now,
        })
    }

    /// The target of the approval's scope (it must contain the requesting computer),
    /// and the organization that owns the new policy.
    fn place(&self, request: &RequestRecord, options: &ApproveOptions) -> Result<Place, Error> {
        let computer = self.computer(&request.filed.computer)?;
        let computer_org = self.org_of_computer(&computer.id)?;
        let target = match (options.scope, options.target.clone()) {
            (ScopeKind::Computer, None) => computer.id.clone(),
            (ScopeKind::Group, None) => computer.group.clone(),
            (ScopeKind::Organization | ScopeKind::Global, None) => computer_org.clone(),
            (ScopeKind::Computer, Some(t)) if t == computer.id => t,
            (ScopeKind::Group, Some(t)) if t == computer.group => t,
            (ScopeKind::Organization | ScopeKind::Global, Some(t))
                if self.tree.within(&computer_org, &t) =>
            {
                t
            }
            (scope, Some(t)) => {
                return Err(Error::invalid(
                    "target",
                    format!(
                        "{scope} `{t}` does not contain `{}`, the computer of request {}",
                        computer.id, request.id
                    ),
                ))
            }
        };
        // The organization whose permissions, guardrails and positions apply.
        let org = match options.scope {
            ScopeKind::Computer | ScopeKind::Group => computer_org.clone(),
            ScopeKind::Organization | ScopeKind::Global => target.clone(),
        };
        Ok(Place {
            computer: computer.id.clone(),
            computer_org,
            target,
            org,
        })
    }

    /// The organization's guardrails on approvals wider than one computer.
    fn check_guardrails(
        &self,
        request: &RequestRecord,
        place: &Place,
        options: &ApproveOptions,
        justified: bool,
    ) -> Result<(), Error> {
        if options.scope == ScopeKind::Computer {
            return Ok(());
        }
        let settings = self.settings_for(&place.computer_org)?;
        if settings.new_software_computer_first
            && !self.seen_before(&place.computer_org, &request.filed.event.sha256)?
        {
            return Err(Error::Guardrail {
                organization: place.org.clone(),
                message: format!(
                    "software {} was never approved in this organization; approve it at computer scope first",
                    request.filed.event.sha256
                ),
            });
        }
        if settings.wider_needs_justification && !justified {
            return Err(Error::Guardrail {
                organization: place.org.clone(),
                message: format!(
                    "an approval at {} scope needs a justification",
                    options.scope
                ),
            });
        }
        Ok(())
    }

    /// The edit: the rule in a new or existing application, and a permit policy for
    /// it; and the record of what was written.
    fn write_approval(
        &self,
        holdings: Option<&Holdings>,
        request: &RequestRecord,
        place: &Place,
        options: &ApproveOptions,
        rule: FileRule,
        elevate: bool,
    ) -> Result<(Edit, ApprovalRecord), Error> {
        let (application, new_application) =
            self.add_rule(holdings, request, place, options, rule)?;
        let position = self.position(holdings, &place.org, options.position)?;
        let policy = unique_id(&format!("approval-{}", request.id), |c| {
            self.bundle.policies.iter().any(|p| p.id == c)
        });
        let target = place.target.clone();
        let written = Policy {
            id: policy.clone(),
            scope: match options.scope {
                ScopeKind::Computer => Scope::Computer(target.clone()),
                ScopeKind::Group => Scope::Group(target.clone()),
                ScopeKind::Organization => Scope::Organization(target.clone()),
                ScopeKind::Global => Scope::Global(target.clone()),
            },
            position,
            applications: vec![application.id.clone()],
            action: Action::Permit,
            elevate,
            users: None,
            not_before: None,
            expires: options.expires,
            enabled: true,
            on_deny: None,
        };
        let approval = ApprovalRecord {
            scope: options.scope,
            target,
            matching: options.matching.as_str().to_owned(),
            application: application.id.clone(),
            new_application,
            policy,
            position,
            elevate,
            expires: options.expires,
            version: self.version + 1,
        };
        let owner = application.organization.clone();
        let owners = [place.org.as_str(), owner.as_str()];
        let edit = Edit::new(
            &self.bundle,
            &self.places,
            &owners,
            vec![application],
            vec![written],
        );
        Ok((edit, approval))
    }

    /// The application the rule goes into: the chosen existing one (Allow Application
    /// Merge and Edit Applications on its owner) with the rule added, or a new one;
    /// and whether it is new.
    fn add_rule(
        &self,
        holdings: Option<&Holdings>,
        request: &RequestRecord,
        place: &Place,
        options: &ApproveOptions,
        rule: FileRule,
    ) -> Result<(Application, bool), Error> {
        let org = &place.org;
        let Some(app_id) = &options.application else {
            let app_id = unique_id(&format!("approval-{}", request.id), |c| {
                self.bundle.applications.iter().any(|a| a.id == c)
            });
            let name = options
                .application_name
                .clone()
                .unwrap_or_else(|| file_name(&request.filed.event.path));
            let application = Application {
                id: app_id,
                organization: org.clone(),
                name,
                rules: vec![rule],
            };
            return Ok((application, true));
        };
        let app = self
            .bundle
            .applications
            .iter()
            .find(|a| &a.id == app_id)
            .ok_or_else(|| Error::not_found("application", app_id))?;
        if !self.tree.within(org, &app.organization) {
            return Err(Error::invalid(
                "application",
                format!(
                "application `{app_id}` belongs to `{}`, which is not `{org}` or an ancestor of it",
                app.organization
            ),
            ));
        }
        if let Some(holdings) = holdings {
            holdings.check(&self.tree, Act::MergeIntoApplication, &app.organization)?;
        }
        let mut app = app.clone();
        if !app.rules.contains(&rule) {
            app.rules.push(rule);
        }
        Ok((app, false))
    }

    /// The new policy's position: the one chosen (Edit Policies; free in the
    /// organization, and after every ancestor's policy), or the next after the
    /// organization's and its ancestors' last. An approval never jumps ahead of an
    /// ancestor's policies: an inherited deny still blocks (and is reported), whoever
    /// approves.
    pub(super) fn position(
        &self,
        holdings: Option<&Holdings>,
        org: &str,
        chosen: Option<i64>,
    ) -> Result<i64, Error> {
        let inherited = self
            .tree
            .lineage(org)
            .skip(1)
            .flat_map(|ancestor| self.places.positions(ancestor))
            .max();
        let Some(p) = chosen else {
            return Ok(self
                .places
                .positions(org)
                .chain(inherited)
                .max()
                .map_or(100, |last| last.saturating_add(10)));
        };
        if let Some(holdings) = holdings {
            holdings.check(&self.tree, Act::EditPolicies, org)?;
        }
        if self.places.taken(org, p) {
            return Err(Error::invalid(
                "position",
                format!(
                    "position {p} is taken in `{org}`; positions are unique within an organization"
                ),
            ));
        }
        if let Some(limit) = inherited.filter(|&limit| p <= limit) {
            return Err(Error::invalid("position", format!(
                "position {p} is not after {limit}, the last position of `{org}`'s ancestors; an approval cannot come before an ancestor's policies"
            )));
        }
        Ok(p)
    }

    /// Deploys the planned bundle, proves on the new snapshot that the request's
    /// execution is allowed (else nothing is written), and records the approval, its
    /// audit entry and the requester's notification in the same transaction.
    fn commit_approval(&mut self, actor: &str, plan: Plan) -> Result<Approved, Error> {
        let (request, place, now) = (plan.request, plan.place, plan.now);
        let id = request.id;
        let context = self.context(&place.computer_org, &place.computer);
        let closure = Closure {
            state: RequestState::Approved,
            by: actor.to_owned(),
            at: now,
            reason: plan.justification.unwrap_or_default(),
            approval: Some(plan.approval.clone()),
        };
        let audit = AuditEntry {
            time: now,
            actor: actor.to_owned(),
            organization: Some(place.org.clone()),
            log: AuditLog::Unified,
            kind: "approve".to_owned(),
            detail: about(
                &request,
                json!({"approval": plan.approval, "justification": closure.reason}),
            ),
        };
        let mut probe = request.filed.event.clone();
        probe.time = now;
        let needs_elevation = plan.elevate && request.filed.event.elevation;
        let mut proof = None;
        let note = DeployNote {
            actor: actor.to_owned(),
            time: now,
            reason: format!("approve request {id}"),
        };
        let deployed = self.commit_edit(
            &plan.edit,
            note,
            |snapshot| {
                proof = Some(prove(snapshot, &probe, id, needs_elevation)?);
                Ok(())
            },
            |tx| {
                if !tx.close_request(id, &closure)? {
                    return Err(Error::Conflict);
                }
                tx.append_audit(&audit)?;
                enqueue_outcome(tx, &request, &closure, &context, now)?;
                Ok(())
            },
        )?;
        let request = self.load_request(id)?;
        let suggestion = self
            .suggestions_for(&place.org)?
            .into_iter()
            .find(|s| s.sha256 == request.filed.event.sha256);
        Ok(Approved {
            request,
            generation: deployed.generation,
            recompiled: deployed.stats.recompiled,
            proof: proof.ok_or(Error::Conflict)?,
            suggestion,
        })
    }

    /// Rejects a pending request with a reason.
    pub fn reject(&mut self, actor: &str, id: i64, reason: &str) -> Result<RequestRecord, Error> {
        self.reject_by(Approver::Admin(actor), id, reason)
    }

    /// Rejects as an administrator (permission-checked) or as an approval plugin.
    pub(crate) fn reject_by(
        &mut self,
        approver: Approver<'_>,
        id: i64,
        reason: &str,
    ) -> Result<RequestRecord, Error> {
        let actor = approver.audit_name();
        let actor = actor.as_str();
        self.expire_due()?;
        let request = self.load_request(id)?;
        if let Approver::Admin(admin) = approver {
            self.holdings(admin)?.check(
                &self.tree,
                Act::Reject(request.filed.kind),
                &request.filed.organization,
            )?;
        }
        request.ensure_pending("rejected")?;
        if reason.trim().is_empty() {
            return Err(Error::invalid(
                "reason",
                "a rejection needs a reason".to_owned(),
            ));
        }
        let now = self.now();
        let closure = Closure {
            state: RequestState::Rejected,
            by: actor.to_owned(),
            at: now,
            reason: reason.trim().to_owned(),
            approval: None,
        };
        let context = self.context(&request.filed.organization, &request.filed.computer);
        self.store.transaction(|tx| {
            if !tx.close_request(id, &closure)? {
                return Err(Error::Conflict);
            }
            enqueue_outcome(tx, &request, &closure, &context, now)?;
            tx.append_audit(&AuditEntry {
                time: now,
                actor: actor.to_owned(),
                organization: Some(request.filed.organization.clone()),
                log: AuditLog::Unified,
                kind: "reject".to_owned(),
                detail: about(&request, json!({"reason": closure.reason})),
            })?;
            Ok(())
        })?;
        self.load_request(id)
    }
}
