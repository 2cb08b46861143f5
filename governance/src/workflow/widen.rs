//! Acting on a suggestion: the software approved computer by computer gets the wider
//! policy the suggestion names (its group, or its organization), in one step, with the
//! permission an approval at that scope needs; and the computers an administrator may
//! look after, for the Approval Center's computer pages.

use portcullis_engine::model::{Application, Computer, FileRule, Policy, Scope, Sha256};
use portcullis_engine::Action;
use serde_json::json;

use crate::access::{AccessRequestKind, Act, ScopeKind};
use crate::audit::{AuditEntry, AuditLog};
use crate::error::Error;
use crate::store::{DeployNote, Store};

use super::approve::{file_name, unique_id};
use super::deploys::Edit;
use super::requests::Suggestion;
use super::state::Governance;

impl<S: Store> Governance<S> {
    /// Writes and deploys the wider policy a suggestion names: a new application with
    /// the software's hash and a permit policy at the suggestion's scope. Needs the
    /// permission to approve application requests at that scope in the organization;
    /// the organization's justification guardrail applies. Returns the new policy's id.
    pub fn apply_suggestion(
        &mut self,
        actor: &str,
        organization: &str,
        sha256: Sha256,
        justification: Option<&str>,
    ) -> Result<String, Error> {
        let suggestion = self.find_suggestion(actor, organization, sha256)?;
        let holdings = self.holdings(actor)?;
        let act = Act::Approve {
            kind: AccessRequestKind::Application,
            scope: suggestion.scope,
            elevate: false,
        };
        holdings.check(&self.tree, act, organization)?;
        let justification = justification.map(str::trim).filter(|j| !j.is_empty());
        if self.settings_for(organization)?.wider_needs_justification && justification.is_none() {
            return Err(Error::Guardrail {
                organization: organization.to_owned(),
                message: format!(
                    "an approval at {} scope needs a justification",
                    suggestion.scope
                ),
            });
        }
        let base = format!(
            "suggestion-{}",
            suggestion.requests.last().copied().unwrap_or(0)
        );
        let id = unique_id(&base, |c| {
            self.bundle.applications.iter().any(|a| a.id == c)
                || self.bundle.policies.iter().any(|p| p.id == c)
        });
        let application = Application {
            id: id.clone(),
            organization: organization.to_owned(),
            name: file_name(&suggestion.path),
            rules: vec![FileRule::hash(sha256)],
        };
        let position = self.position(Some(&holdings), organization, None)?;
        let policy = Policy {
            id: id.clone(),
            scope: match suggestion.scope {
                ScopeKind::Group => Scope::Group(suggestion.target.clone()),
                _ => Scope::Organization(suggestion.target.clone()),
            },
            position,
            applications: vec![id.clone()],
            action: Action::Permit,
            elevate: false,
            users: None,
            not_before: None,
            expires: None,
            enabled: true,
            on_deny: None,
        };
        let edit = Edit::new(
            &self.bundle,
            &self.places,
            &[organization],
            vec![application],
            vec![policy],
        );
        let now = self.now();
        let audit = AuditEntry {
            time: now,
            actor: actor.to_owned(),
            organization: Some(organization.to_owned()),
            log: AuditLog::Unified,
            kind: "approve-suggestion".to_owned(),
            detail: json!({
                "sha256": sha256, "path": suggestion.path, "policy": id,
                "scope": suggestion.scope, "target": suggestion.target,
                "requests": suggestion.requests, "justification": justification,
            }),
        };
        let note = DeployNote {
            actor: actor.to_owned(),
            time: now,
            reason: format!(
                "widen the approvals of {sha256} to {} `{}`",
                suggestion.scope, suggestion.target
            ),
        };
        self.commit_edit(
            &edit,
            note,
            |_| Ok(()),
            |tx| tx.append_audit(&audit).map(|_| ()),
        )?;
        Ok(id)
    }

    /// Whether a permit policy wider than one computer, in `org` or an ancestor,
    /// already allows software `sha` by its hash (as an applied suggestion does).
    pub(super) fn widened(&self, org: &str, sha: &Sha256) -> bool {
        let lineage: Vec<&str> = self.tree.lineage(org).collect();
        let by_hash = |app: &str| {
            self.bundle
                .applications
                .iter()
                .any(|a| a.id == app && a.rules.iter().any(|r| r.sha256.as_ref() == Some(sha)))
        };
        self.bundle.policies.iter().any(|p| {
            p.action == Action::Permit
                && p.enabled
                && !matches!(p.scope, Scope::Computer(_))
                && self
                    .places
                    .owner(&self.bundle, &p.scope)
                    .is_some_and(|owner| lineage.contains(&owner))
                && p.applications.iter().any(|a| by_hash(a))
        })
    }

    fn find_suggestion(
        &self,
        actor: &str,
        organization: &str,
        sha256: Sha256,
    ) -> Result<Suggestion, Error> {
        self.suggestions(actor)?
            .into_iter()
            .find(|s| s.organization == organization && s.sha256 == sha256)
            .ok_or_else(|| Error::not_found("suggestion", format!("{sha256} in {organization}")))
    }

    /// The computers `actor` looks after: those of organizations where they may work
    /// the approval queue, read the unified audit, or set maintenance modes.
    pub fn computers_as(&self, actor: &str) -> Result<Vec<Computer>, Error> {
        let holdings = self.holdings(actor)?;
        let acts = [Act::ListRequests, Act::ViewUnifiedAudit, Act::Maintenance];
        let visible = |computer: &Computer| {
            self.org_of_computer(&computer.id).is_ok_and(|org| {
                acts.iter()
                    .any(|act| holdings.check(&self.tree, *act, &org).is_ok())
            })
        };
        let computers: Vec<Computer> = self
            .bundle
            .computers
            .iter()
            .filter(|c| visible(c))
            .cloned()
            .collect();
        if computers.is_empty() {
            self.authorize_somewhere(actor, &acts)?;
        }
        Ok(computers)
    }

    /// One computer, for someone who looks after it (see [`Governance::computers_as`]).
    pub fn computer_as(&self, actor: &str, id: &str) -> Result<Computer, Error> {
        let computer = self.computer(id)?.clone();
        let org = self.org_of_computer(id)?;
        let holdings = self.holdings(actor)?;
        let acts = [Act::ListRequests, Act::ViewUnifiedAudit, Act::Maintenance];
        if !acts
            .iter()
            .any(|act| holdings.check(&self.tree, *act, &org).is_ok())
        {
            holdings.check(&self.tree, Act::ListRequests, &org)?;
        }
        Ok(computer)
    }
}
