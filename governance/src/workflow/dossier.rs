//! What an approver reads before deciding, and what an approval would do before it is
//! made: a request's dossier (the decision's explanation, the software's prevalence,
//! earlier approvals, the plugins' verdicts, and the choices this approver has), and
//! the preview of an approval (the rule and policy it writes, the computers it covers,
//! and whether the request's execution would then be allowed). Both are reads: they
//! check the actor's permissions like the approval itself, and write nothing.

use std::collections::BTreeSet;

use portcullis_engine::model::{FileRule, Policy};
use portcullis_engine::{DecisionRecord, DeployError, Explanation};
use serde::Serialize;

use crate::access::{Act, ScopeKind};
use crate::audit::{AuditLog, AuditRecord};
use crate::error::Error;
use crate::store::{RequestRecord, RequestState, Store};

use super::approve::{prove, rule_for, ApproveOptions, Matching};
use super::state::{Approver, Governance};

/// What a preview's gate answers, so that the snapshot it decided on is not swapped in.
struct NotSwapped;

/// Everything an approver needs to judge one request.
#[derive(Debug, Clone, Serialize)]
pub struct Dossier {
    /// The request.
    pub request: RequestRecord,
    /// Its organization's name.
    pub organization_name: String,
    /// The requesting computer's group (empty when the computer is gone).
    pub group: String,
    /// The request's execution decided and explained on the current policies: the
    /// policies considered, in order, and why each did not decide.
    pub explanation: Explanation,
    /// How widely this software was seen.
    pub prevalence: Prevalence,
    /// The approval plugins' verdicts and failures on this request, from the audit.
    pub verdicts: Vec<AuditRecord>,
    /// What this approver may choose when approving (`None` once it is closed).
    pub choices: Option<Choices>,
}

/// How widely a request's software was seen in its organization.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Prevalence {
    /// Computers that ran it (an audited decision) or asked for it.
    pub computers: usize,
    /// Requests for it, this one included.
    pub requests: usize,
    /// Earlier approvals of it (the approved requests, newest first).
    pub approvals: Vec<RequestRecord>,
}

/// The approval choices an administrator has on a request, and the guardrails that
/// apply.
#[derive(Debug, Clone, Serialize)]
pub struct Choices {
    /// The scopes they may approve at, each with the targets they may name (the
    /// default first).
    pub scopes: Vec<(ScopeKind, Vec<String>)>,
    /// The matches this execution and this approver allow (`hash`, `certificate`, …).
    pub matches: Vec<&'static str>,
    /// Existing applications the rule may join (id, name).
    pub applications: Vec<(String, String)>,
    /// They may approve with elevation.
    pub elevate: bool,
    /// The approval elevates whatever is chosen (an elevation request).
    pub elevation_request: bool,
    /// They may choose the policy's position.
    pub position: bool,
    /// They may reject it.
    pub reject: bool,
    /// The organization's guardrails that apply to this approval, in words.
    pub guardrails: Vec<String>,
}

/// What an approval would write and decide, made without writing it.
#[derive(Debug, Clone, Serialize)]
pub struct Preview {
    /// The rule it writes.
    pub rule: FileRule,
    /// The application that gets the rule.
    pub application: String,
    /// That application would be made for it.
    pub new_application: bool,
    /// The policy it writes.
    pub policy: Policy,
    /// The computers the policy covers.
    pub computers: Vec<String>,
    /// The decision on the new policies that would prove the approval, or the sentence
    /// naming the earlier policy that would still decide.
    pub outcome: Result<DecisionRecord, String>,
}

impl<S: Store> Governance<S> {
    /// A request's dossier, for an administrator who may open it.
    pub fn request_dossier(&mut self, actor: &str, id: i64) -> Result<Dossier, Error> {
        let request = self.request(actor, id)?;
        let org = request.filed.organization.clone();
        let explanation = self.engine()?.current().explain(&request.filed.event);
        let group = self
            .computer(&request.filed.computer)
            .map(|c| c.group.clone())
            .unwrap_or_default();
        let choices = match request.state {
            RequestState::Pending => Some(self.choices(actor, &request)?),
            _ => None,
        };
        // One read of the audit for both the prevalence and the verdicts.
        let audit = self.store.read(|tx| tx.audit(0))?;
        Ok(Dossier {
            organization_name: self.organization_name(&org),
            group,
            explanation,
            prevalence: self.prevalence(&request, &audit)?,
            verdicts: verdicts(&request, audit),
            choices,
            request,
        })
    }

    /// Whether `actor` may open `request` (View Approvals lists it but cannot).
    pub fn may_open(&self, actor: &str, request: &RequestRecord) -> Result<bool, Error> {
        Ok(self
            .holdings(actor)?
            .check(
                &self.tree,
                Act::OpenRequest(request.filed.kind),
                &request.filed.organization,
            )
            .is_ok())
    }

    /// What approving would write and decide, checked exactly as approving is;
    /// nothing is written.
    pub fn preview_approval(
        &mut self,
        actor: &str,
        id: i64,
        options: &ApproveOptions,
    ) -> Result<Preview, Error> {
        let request = self.request(actor, id)?;
        request.ensure_pending("approved")?;
        let plan = self.plan_approval(Approver::Admin(actor), request, options)?;
        let mut probe = plan.request.filed.event.clone();
        probe.time = plan.now;
        let needs_elevation = plan.elevate && plan.request.filed.event.elevation;
        // The change compiled aside as approving would, and decided on by a gate that
        // then refuses the swap: the engine keeps serving what it served.
        let mut outcome = None;
        let aside = self
            .engine()?
            .deploy_change_gated(&plan.edit.change, |snapshot| {
                outcome =
                    Some(prove(snapshot, &probe, id, needs_elevation).map_err(|e| e.to_string()));
                Err(NotSwapped)
            });
        match aside {
            Err(DeployError::Gate(NotSwapped)) => {}
            Err(DeployError::Compile(errors)) => return Err(Error::Compile(errors)),
            Ok(_) => return Err(Error::Conflict),
        }
        let outcome = outcome.ok_or(Error::Conflict)?;
        let policy = plan
            .edit
            .policies
            .iter()
            .find(|p| p.id == plan.approval.policy)
            .cloned()
            .ok_or(Error::Conflict)?;
        let rule = rule_for(&plan.request.filed.event, &options.matching)?;
        Ok(Preview {
            rule,
            application: plan.approval.application.clone(),
            new_application: plan.approval.new_application,
            computers: self.covered(options.scope, &plan.approval.target),
            policy,
            outcome,
        })
    }

    /// The computers a policy at `scope` on `target` covers.
    fn covered(&self, scope: ScopeKind, target: &str) -> Vec<String> {
        let computers = &self.bundle.computers;
        let in_org = |c: &&portcullis_engine::model::Computer, within: bool| {
            self.org_of_computer(&c.id).is_ok_and(|org| {
                if within {
                    self.tree.within(&org, target)
                } else {
                    org == target
                }
            })
        };
        computers
            .iter()
            .filter(|c| match scope {
                ScopeKind::Computer => c.id == target,
                ScopeKind::Group => c.group == target,
                ScopeKind::Organization => in_org(c, false),
                ScopeKind::Global => in_org(c, true),
            })
            .map(|c| c.id.clone())
            .collect()
    }

    fn prevalence(
        &self,
        request: &RequestRecord,
        audit: &[AuditRecord],
    ) -> Result<Prevalence, Error> {
        let org = &request.filed.organization;
        let sha = request.filed.event.sha256;
        let all = self.store.read(|tx| tx.requests(None))?;
        let same: Vec<&RequestRecord> = all
            .iter()
            .filter(|r| r.filed.organization == *org && r.filed.event.sha256 == sha)
            .collect();
        let mut computers: BTreeSet<String> =
            same.iter().map(|r| r.filed.computer.clone()).collect();
        let sha_text = sha.to_string();
        for record in audit {
            let entry = &record.entry;
            let decision = entry.kind == "deny" || entry.kind == "allow";
            if decision
                && entry.log == AuditLog::Unified
                && entry.organization.as_deref() == Some(org.as_str())
                && entry.detail.get("sha256").and_then(|v| v.as_str()) == Some(&sha_text)
            {
                if let Some(computer) = entry.detail.get("computer").and_then(|v| v.as_str()) {
                    computers.insert(computer.to_owned());
                }
            }
        }
        let mut approvals: Vec<RequestRecord> = same
            .iter()
            .filter(|r| r.state == RequestState::Approved && r.id != request.id)
            .map(|r| (*r).clone())
            .collect();
        approvals.sort_by_key(|r| std::cmp::Reverse(r.id));
        Ok(Prevalence {
            computers: computers.len(),
            requests: same.len(),
            approvals,
        })
    }

    /// The scopes, targets, matches and options `actor` may use on `request`.
    fn choices(&self, actor: &str, request: &RequestRecord) -> Result<Choices, Error> {
        let holdings = self.holdings(actor)?;
        let tree = &self.tree;
        let kind = request.filed.kind;
        let event = &request.filed.event;
        let computer = self.computer(&request.filed.computer)?.clone();
        let computer_org = self.org_of_computer(&computer.id)?;
        let may = |scope, elevate, org: &str| {
            holdings
                .check(
                    tree,
                    Act::Approve {
                        kind,
                        scope,
                        elevate,
                    },
                    org,
                )
                .is_ok()
        };
        let lineage: Vec<String> = tree.lineage(&computer_org).map(str::to_owned).collect();
        let mut scopes = Vec::new();
        for scope in [ScopeKind::Computer, ScopeKind::Group] {
            if may(scope, false, &computer_org) {
                let target = match scope {
                    ScopeKind::Computer => computer.id.clone(),
                    _ => computer.group.clone(),
                };
                scopes.push((scope, vec![target]));
            }
        }
        for scope in [ScopeKind::Organization, ScopeKind::Global] {
            let targets: Vec<String> = lineage
                .iter()
                .filter(|org| may(scope, false, org))
                .filter(|org| {
                    scope != ScopeKind::Global || tree.subtree(org).all(|d| may(scope, false, d))
                })
                .cloned()
                .collect();
            if !targets.is_empty() {
                scopes.push((scope, targets));
            }
        }
        let mut matches = vec!["hash"];
        let pattern = event.path.contains(['*', '?']) || event.path.starts_with("regex:");
        if event.signature.valid_leaf().is_some() {
            matches.push("certificate");
            if !pattern {
                matches.push("certificate-path");
            }
        }
        if !pattern {
            matches.push("path");
        }
        let edits_applications = holdings
            .check(tree, Act::EditApplications, &computer_org)
            .is_ok();
        if edits_applications {
            matches.push("custom");
        }
        let applications = self
            .bundle
            .applications
            .iter()
            .filter(|a| lineage.contains(&a.organization))
            .filter(|a| {
                holdings
                    .check(tree, Act::MergeIntoApplication, &a.organization)
                    .is_ok()
            })
            .map(|a| (a.id.clone(), a.name.clone()))
            .collect();
        Ok(Choices {
            elevate: scopes.iter().any(|(scope, targets)| {
                targets
                    .iter()
                    .any(|t| may(*scope, true, t) || may(*scope, true, &computer_org))
            }),
            elevation_request: kind == crate::access::AccessRequestKind::Elevation,
            position: holdings
                .check(tree, Act::EditPolicies, &computer_org)
                .is_ok(),
            reject: holdings
                .check(tree, Act::Reject(kind), &request.filed.organization)
                .is_ok(),
            guardrails: self.guardrails(request, &computer_org)?,
            scopes,
            matches,
            applications,
        })
    }

    fn guardrails(&self, request: &RequestRecord, org: &str) -> Result<Vec<String>, Error> {
        let settings = self.settings_for(org)?;
        let mut out = Vec::new();
        if settings.new_software_computer_first
            && !self.seen_before(org, &request.filed.event.sha256)?
        {
            out.push(
                "this software was never approved in this organization: approve it at computer scope first"
                    .to_owned(),
            );
        }
        if settings.wider_needs_justification {
            out.push("an approval wider than one computer needs a justification".to_owned());
        }
        Ok(out)
    }
}

/// The approval plugins' verdicts and failures on `request`, from the audit.
fn verdicts(request: &RequestRecord, audit: Vec<AuditRecord>) -> Vec<AuditRecord> {
    audit
        .into_iter()
        .filter(|r| {
            matches!(r.entry.kind.as_str(), "plugin-verdict" | "plugin-failure")
                && r.entry.detail.get("request").and_then(|v| v.as_i64()) == Some(request.id)
        })
        .collect()
}

impl Matching {
    /// The matching named `name` (`hash`, `certificate`, `certificate-path`, `path`);
    /// a custom rule is built by its caller.
    pub fn named(name: &str) -> Option<Matching> {
        Some(match name {
            "hash" => Matching::Hash,
            "certificate" => Matching::Certificate,
            "certificate-path" => Matching::CertificatePath,
            "path" => Matching::Path,
            _ => return None,
        })
    }
}
