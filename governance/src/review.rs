//! Approval plugins reviewing a request before a person does (SPEC §6, §7).
//!
//! Each attached plugin gives a verdict, or fails and so abstains. The verdicts are
//! combined (reject over route over approve over abstain) and the result is applied
//! under the deciding plugin's name: an approval goes through the same guardrails and
//! proof as a person's, a rejection tells the requester, a route notifies the named
//! administrators. Every verdict and failure is audited; a failure never approves.

use portcullis_engine::model::Timestamp;
use portcullis_engine::plugin::{
    combine, AccessRequest, ApprovalInput, ApprovalOptions, ApprovalReviewer, Execution, Failure,
    FailureKind, Hook, LogLine, MatchKind, Organization, PriorApproval, Scope, Tenancy, Verdict,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::access::ScopeKind;
use crate::audit::{AuditEntry, AuditLog};
use crate::error::Error;
use crate::notify::plugin_switched_off;
use crate::store::{RequestRecord, RequestState, Store};
use crate::workflow::{ApproveOptions, Approver, Governance, Matching};

/// What one plugin said.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PluginReport {
    /// The plugin's name.
    pub plugin: String,
    /// Its verdict, when it gave one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
    /// Why it gave none (it counts as abstain).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    /// What it logged.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub logs: Vec<LogLine>,
}

/// What came of the combined verdict.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum ReviewOutcome {
    /// A plugin approved, and the approval took effect.
    Approved {
        /// The request, now approved.
        request: Box<RequestRecord>,
    },
    /// A plugin rejected the request.
    Rejected {
        /// The request, now rejected.
        request: Box<RequestRecord>,
    },
    /// The request waits for these administrators, who were notified.
    Routed {
        /// Administrator ids or email addresses.
        administrators: Vec<String>,
    },
    /// The request waits for a person.
    LeftForPeople {
        /// Why, when a plugin's approval could not take effect.
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
}

/// The review of one request by the approval plugins.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Review {
    /// The request.
    pub request: i64,
    /// Each plugin's verdict or failure, in order.
    pub plugins: Vec<PluginReport>,
    /// The combined verdict.
    pub verdict: Verdict,
    /// What was done with it.
    pub outcome: ReviewOutcome,
}

impl<S: Store> Governance<S> {
    /// The input the approval-review hook gets for a request: the request with its
    /// execution, the tenancy path, and earlier approvals of the same software in the
    /// same organization (newest first).
    pub fn approval_input(&self, request: &RequestRecord) -> Result<ApprovalInput, Error> {
        let f = &request.filed;
        let computer = self
            .bundle()
            .computers
            .iter()
            .find(|c| c.id == f.computer)
            .cloned()
            .ok_or_else(|| Error::not_found("computer", &f.computer))?;
        let organizations: Vec<Organization> = self
            .tree()
            .path(&f.organization)
            .into_iter()
            .map(|id| Organization {
                id: id.to_owned(),
                name: self.organization_name(id),
            })
            .collect();
        let approved = self.stored(|tx| tx.requests(Some(RequestState::Approved)))?;
        let mut prior: Vec<PriorApproval> = approved
            .iter()
            .filter(|r| {
                r.filed.organization == f.organization && r.filed.event.sha256 == f.event.sha256
            })
            .filter_map(|r| {
                let closure = r.closure.as_ref()?;
                let approval = closure.approval.as_ref()?;
                Some(PriorApproval {
                    request: r.id.to_string(),
                    computer: r.filed.computer.clone(),
                    approved_by: closure.by.clone(),
                    options: ApprovalOptions {
                        scope: match approval.scope {
                            ScopeKind::Computer => Scope::Computer,
                            ScopeKind::Group => Scope::Group,
                            ScopeKind::Organization => Scope::Organization,
                            ScopeKind::Global => Scope::Global,
                        },
                        match_kind: match approval.matching.as_str() {
                            "hash" => MatchKind::Hash,
                            "certificate" => MatchKind::Certificate,
                            "certificate-path" => MatchKind::CertificateAndPath,
                            "path" => MatchKind::Path,
                            // A person's custom rule has no equivalent in the contract.
                            _ => return None,
                        },
                        elevate: approval.elevate,
                        expires: approval.expires.map(|t| t.to_string()),
                        justification: closure.reason.clone(),
                    },
                    time: closure.at.to_string(),
                })
            })
            .collect();
        prior.reverse();
        Ok(ApprovalInput {
            request: AccessRequest {
                id: request.id.to_string(),
                kind: f.kind,
                message: Some(f.message.clone()).filter(|m| !m.is_empty()),
                execution: Execution::from_event(&f.event, computer.os),
            },
            tenancy: Tenancy {
                organizations,
                group: computer.group.clone(),
                computer: computer.id.clone(),
            },
            prior_approvals: prior,
        })
    }

    /// Lets approval plugins review a pending request, in order, and applies their
    /// combined verdict under the deciding plugin's name.
    pub fn review(
        &mut self,
        id: i64,
        reviewers: &[&dyn ApprovalReviewer],
    ) -> Result<Review, Error> {
        self.expire_due()?;
        let request = self.load_request(id)?;
        request.ensure_pending("reviewed")?;
        let input = self.approval_input(&request)?;
        let reports: Vec<PluginReport> = reviewers
            .iter()
            .map(|plugin| {
                let outcome = plugin.review(&input);
                let (verdict, failure) = match outcome.result {
                    Ok(verdict) => (Some(verdict), None),
                    Err(failure) => (None, Some(failure)),
                };
                PluginReport {
                    plugin: plugin.name().to_owned(),
                    verdict,
                    failure,
                    logs: outcome.logs,
                }
            })
            .collect();
        let verdict = combine(reports.iter().filter_map(|r| r.verdict.as_ref()));
        self.audit_reports(&request, &reports)?;

        // The plugin whose verdict decided: the one that gave exactly the combined
        // verdict (for a route, the first that routed).
        let decider = reports
            .iter()
            .find(|r| r.verdict.as_ref() == Some(&verdict))
            .or_else(|| {
                reports
                    .iter()
                    .find(|r| r.verdict.as_ref().is_some_and(|v| same_kind(v, &verdict)))
            })
            .map(|r| r.plugin.clone())
            .unwrap_or_default();
        let outcome = match &verdict {
            Verdict::Abstain => ReviewOutcome::LeftForPeople { reason: None },
            Verdict::Reject { reason } => ReviewOutcome::Rejected {
                request: Box::new(self.reject_by(Approver::Plugin(&decider), id, reason)?),
            },
            Verdict::Route { administrators } => {
                self.route(&request, &decider, administrators)?;
                ReviewOutcome::Routed {
                    administrators: administrators.clone(),
                }
            }
            Verdict::Approve { options } => {
                let approve = ApproveOptions {
                    elevate: options.elevate,
                    expires: options
                        .expires
                        .as_deref()
                        .map(|t| t.parse::<Timestamp>())
                        .transpose()
                        .map_err(|e| {
                            Error::invalid("expires", format!("plugin `{decider}`: expiry: {e}"))
                        })?,
                    justification: Some(options.justification.clone()),
                    ..ApproveOptions::new(
                        match options.scope {
                            Scope::Computer => ScopeKind::Computer,
                            Scope::Group => ScopeKind::Group,
                            Scope::Organization => ScopeKind::Organization,
                            Scope::Global => ScopeKind::Global,
                        },
                        match options.match_kind {
                            MatchKind::Hash => Matching::Hash,
                            MatchKind::Certificate => Matching::Certificate,
                            MatchKind::CertificateAndPath => Matching::CertificatePath,
                            MatchKind::Path => Matching::Path,
                        },
                    )
                };
                match self.approve_by(Approver::Plugin(&decider), id, approve) {
                    Ok(approved) => ReviewOutcome::Approved {
                        request: Box::new(approved.request),
                    },
                    // Guardrails and the proof hold for plugins too; the request
                    // stays for a person, and the audit says why.
                    Err(error) => {
                        let reason = format!(
                            "the approval of plugin `{decider}` did not take effect: {error}"
                        );
                        let now = self.now();
                        let entry = AuditEntry {
                            time: now,
                            actor: format!("plugin:{decider}"),
                            organization: Some(request.filed.organization.clone()),
                            log: AuditLog::Unified,
                            kind: "plugin-approval-refused".to_owned(),
                            detail: json!({"request": id, "error": error.to_string()}),
                        };
                        self.write(|tx| tx.append_audit(&entry).map(|_| ()))?;
                        ReviewOutcome::LeftForPeople {
                            reason: Some(reason),
                        }
                    }
                }
            }
        };
        Ok(Review {
            request: id,
            plugins: reports,
            verdict,
            outcome,
        })
    }

    /// Audits every plugin's verdict or failure; a plugin switched off for failing is
    /// reported to the organization's administrators once.
    fn audit_reports(
        &mut self,
        request: &RequestRecord,
        reports: &[PluginReport],
    ) -> Result<(), Error> {
        let now = self.now();
        let org = request.filed.organization.clone();
        let lineage: Vec<String> = self.tree().lineage(&org).map(str::to_owned).collect();
        let disabled: Vec<&PluginReport> = reports
            .iter()
            .filter(|r| {
                r.failure
                    .as_ref()
                    .is_some_and(|f| f.kind == FailureKind::Disabled)
            })
            .collect();
        self.write(|tx| {
            for report in reports {
                tx.append_audit(&AuditEntry {
                    time: now,
                    actor: format!("plugin:{}", report.plugin),
                    organization: Some(org.clone()),
                    log: AuditLog::Unified,
                    kind: if report.failure.is_some() {
                        "plugin-failure"
                    } else {
                        "plugin-verdict"
                    }
                    .to_owned(),
                    detail: json!({
                        "request": request.id, "sha256": request.filed.event.sha256,
                        "computer": request.filed.computer,
                        "verdict": report.verdict, "failure": report.failure,
                        "logged": report.logs.len(),
                    }),
                })?;
            }
            for report in &disabled {
                let failure = report
                    .failure
                    .as_ref()
                    .map_or_else(String::new, ToString::to_string);
                tell_switched_off(
                    tx,
                    &lineage,
                    &org,
                    Hook::ApprovalReview,
                    &report.plugin,
                    &failure,
                    now,
                )?;
            }
            Ok(())
        })
    }

    /// Sends a routed request to the named administrators (by id, or an email address).
    fn route(
        &mut self,
        request: &RequestRecord,
        plugin: &str,
        names: &[String],
    ) -> Result<(), Error> {
        let now = self.now();
        let facts = self.request_message(request)?;
        self.write(|tx| {
            let mut told = Vec::new();
            for name in names {
                let email = match tx.admin(name)? {
                    Some(admin) => admin.email,
                    None if name.contains('@') => Some(name.clone()),
                    None => None,
                };
                if let Some(email) = email {
                    let fresh = tx.enqueue(
                        &crate::store::Notification {
                            request: request.id,
                            reason: "route".to_owned(),
                            channel: crate::store::Channel::Email,
                            recipient: email.to_lowercase(),
                            subject: facts.0.clone(),
                            body: facts.1.clone(),
                        },
                        now,
                    )?;
                    if fresh {
                        told.push(email);
                    }
                }
            }
            tx.append_audit(&AuditEntry {
                time: now,
                actor: format!("plugin:{plugin}"),
                organization: Some(request.filed.organization.clone()),
                log: AuditLog::Unified,
                kind: "route".to_owned(),
                detail: json!({
                    "request": request.id, "computer": request.filed.computer,
                    "sha256": request.filed.event.sha256, "administrators": names,
                    "notified": told,
                }),
            })?;
            Ok(())
        })
    }
}

fn same_kind(a: &Verdict, b: &Verdict) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
}

/// Tells the administrators of `org` and its ancestors (`lineage`), once per plugin and
/// person, that a plugin of `hook` was switched off for failing.
pub(crate) fn tell_switched_off(
    tx: &mut dyn crate::store::Tx,
    lineage: &[String],
    org: &str,
    hook: Hook,
    plugin: &str,
    failure: &str,
    now: Timestamp,
) -> Result<(), Error> {
    let admins = tx.admins()?;
    for admin in admins.iter().filter(|a| lineage.contains(&a.organization)) {
        let Some(email) = &admin.email else { continue };
        let (subject, body) = plugin_switched_off(hook, plugin, org, failure);
        tx.enqueue(
            &crate::store::Notification {
                // Not about one request: told once per plugin and person.
                request: 0,
                reason: format!("plugin-disabled:{plugin}"),
                channel: crate::store::Channel::Email,
                recipient: email.to_lowercase(),
                subject,
                body,
            },
            now,
        )?;
    }
    Ok(())
}
