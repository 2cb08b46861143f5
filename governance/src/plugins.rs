//! Plugins attached per organization (SPEC §7): attaching and detaching them, and
//! consulting them through the state's [`PluginProvider`]: the approval plugins of a
//! new request's tenancy path review it, the rule plugins of a computer's tenancy path
//! check its allowed executions.

use portcullis_engine::model::Os;
use portcullis_engine::plugin::{
    apply_rules, ApprovalReviewer, Execution, FailureKind, Hook, PluginFailure, RulePlugin,
    RuledDecision,
};
use portcullis_engine::Event;
use serde_json::json;

use crate::access::Act;
use crate::audit::{AuditEntry, AuditLog};
use crate::error::Error;
use crate::provider::Plugins;
use crate::review::{tell_switched_off, Review};
use crate::store::{PluginAttachment, Store};
use crate::workflow::Governance;

impl<S: Store> Governance<S> {
    /// Attaches (or replaces) a plugin of an organization; needs Edit Integrations
    /// there. The caller has validated it (it loads, targets a supported world, and
    /// its test vectors give their expected verdicts); the state keeps the bytes that
    /// were validated.
    pub fn attach_plugin(&mut self, actor: &str, plugin: PluginAttachment) -> Result<(), Error> {
        if !self.tree().contains(&plugin.organization) {
            return Err(Error::not_found("organization", &plugin.organization));
        }
        if plugin.name.trim().is_empty() || plugin.name.contains(char::is_whitespace) {
            return Err(Error::invalid(
                "name",
                format!(
                    "plugin name `{}` must be non-empty and without spaces",
                    plugin.name
                ),
            ));
        }
        self.authorize(actor, Act::EditIntegrations, &plugin.organization)?;
        let detail = json!({"plugin": plugin});
        let org = plugin.organization.clone();
        self.commit_system(actor, &org, "plugin-attach", detail, |tx| {
            tx.put_plugin(&plugin)
        })
    }

    /// Detaches a plugin; needs Edit Integrations on its organization.
    pub fn detach_plugin(
        &mut self,
        actor: &str,
        organization: &str,
        name: &str,
    ) -> Result<(), Error> {
        self.authorize(actor, Act::EditIntegrations, organization)?;
        let detail = json!({"plugin": name});
        self.commit_system(actor, organization, "plugin-detach", detail, |tx| {
            if tx.delete_plugin(organization, name)? {
                Ok(())
            } else {
                Err(Error::not_found("plugin", format!("{organization}/{name}")))
            }
        })
    }

    /// Every attached plugin, without its bytes (`content` is empty).
    pub fn all_plugins(&self) -> Result<Vec<PluginAttachment>, Error> {
        self.stored(|tx| tx.plugins(false))
    }

    /// One attached plugin, with its bytes.
    pub fn attached_plugin(
        &self,
        organization: &str,
        name: &str,
    ) -> Result<PluginAttachment, Error> {
        self.stored(|tx| tx.plugin(organization, name))?
            .ok_or_else(|| Error::not_found("plugin", format!("{organization}/{name}")))
    }

    /// Lets the approval plugins attached along the request's tenancy path review it
    /// (see [`Governance::review`]); `None` when none is attached there.
    pub fn review_attached(&mut self, id: i64) -> Result<Option<Review>, Error> {
        let request = self.load_request(id)?;
        self.review_filed(&request)
    }

    /// As [`Governance::review_attached`], for a request just filed (not read again).
    pub fn review_filed(
        &mut self,
        request: &crate::RequestRecord,
    ) -> Result<Option<Review>, Error> {
        let id = request.id;
        let reviewers = self
            .provided(&request.filed.organization, Hook::ApprovalReview)?
            .reviewers;
        if reviewers.is_empty() {
            return Ok(None);
        }
        let refs: Vec<&dyn ApprovalReviewer> = reviewers.iter().map(|r| r.as_ref()).collect();
        self.review(id, &refs).map(Some)
    }

    /// Decides an event on the current snapshot, consults the rule plugins attached
    /// along the computer's tenancy path (only on an allow; see
    /// [`apply_rules`]), and audits the final decision as [`Governance::decide`] does.
    pub fn decide_with_rules(&mut self, event: &Event) -> Result<RuledDecision, Error> {
        self.check_event(event)?;
        let decision = self.engine()?.decide(event);
        let placed = self
            .computer(&event.computer)
            .ok()
            .map(|c| c.os)
            .zip(self.org_of_computer(&event.computer).ok());
        let ruled = match placed {
            Some((os, org)) => {
                let rules = self.provided(&org, Hook::Rule)?.rules;
                let refs: Vec<&dyn RulePlugin> = rules.iter().map(|r| r.as_ref()).collect();
                let ruled = apply_rules(decision, &Execution::from_event(event, os), &refs);
                self.audit_rule_failures(&org, event, &ruled.failures)?;
                ruled
            }
            // An unknown computer: no tenancy path, so no plugin applies.
            None => apply_rules(decision, &Execution::from_event(event, Os::Linux), &[]),
        };
        self.record_decisions(&[(event.clone(), ruled.decision.clone())])?;
        Ok(ruled)
    }

    /// Audits each rule plugin that failed on `event` (it counted as abstain); one
    /// switched off for failing is reported to the administrators of `org` and its
    /// ancestors once.
    fn audit_rule_failures(
        &mut self,
        org: &str,
        event: &Event,
        failures: &[PluginFailure],
    ) -> Result<(), Error> {
        if failures.is_empty() {
            return Ok(());
        }
        let now = self.now();
        let lineage: Vec<String> = self.tree().lineage(org).map(str::to_owned).collect();
        self.write(|tx| {
            for failed in failures {
                tx.append_audit(&AuditEntry {
                    time: now,
                    actor: format!("plugin:{}", failed.plugin),
                    organization: Some(org.to_owned()),
                    log: AuditLog::Unified,
                    kind: "plugin-failure".to_owned(),
                    detail: json!({
                        "hook": Hook::Rule.world(), "computer": event.computer,
                        "sha256": event.sha256, "path": event.path,
                        "failure": failed.failure,
                    }),
                })?;
                if failed.failure.kind == FailureKind::Disabled {
                    tell_switched_off(
                        tx,
                        &lineage,
                        org,
                        Hook::Rule,
                        &failed.plugin,
                        &failed.failure.to_string(),
                        now,
                    )?;
                }
            }
            Ok(())
        })
    }

    /// What the provider hands out for `org`'s tenancy path, given what is attached
    /// along it. Without a provider, attached plugins of `hook` are an error: they
    /// would silently not be consulted.
    fn provided(&self, org: &str, hook: Hook) -> Result<Plugins, Error> {
        let path = self.tree().path(org);
        let mut attached: Vec<PluginAttachment> = self
            .stored(|tx| tx.plugins(false))?
            .into_iter()
            .filter(|p| path.contains(&p.organization.as_str()))
            .collect();
        match self.plugin_provider() {
            Some(provider) => {
                // The bytes (megabytes for a Python or JavaScript component) are read
                // only for the plugins the provider does not hold loaded yet.
                let needed = provider.needs_content(hook, &attached);
                let wanted: Vec<(String, String)> = attached
                    .iter()
                    .zip(&needed)
                    .filter(|(_, needed)| **needed)
                    .map(|(a, _)| (a.organization.clone(), a.name.clone()))
                    .collect();
                if !wanted.is_empty() {
                    let whole = self.stored(|tx| {
                        wanted
                            .iter()
                            .map(|(org, name)| tx.plugin(org, name))
                            .collect::<Result<Vec<_>, Error>>()
                    })?;
                    // Each row read whole replaces its head (it may be newer).
                    for row in whole.into_iter().flatten() {
                        if let Some(head) = attached
                            .iter_mut()
                            .find(|a| a.organization == row.organization && a.name == row.name)
                        {
                            *head = row;
                        }
                    }
                }
                provider.plugins(hook, &path, &attached)
            }
            None if attached.iter().any(|a| a.hook == hook.world()) => Err(Error::NotReady {
                reason: format!(
                    "{} plugins are attached along the tenancy path of `{org}`, but this state was given no plugin provider",
                    hook.world()
                ),
            }),
            None => Ok(Plugins::default()),
        }
    }
}
