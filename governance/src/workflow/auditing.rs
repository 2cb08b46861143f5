//! Searching, verifying, exporting and re-anchoring the audit.

use serde_json::json;

use crate::access::Act;
use crate::audit::{
    self, AuditEntry, AuditLog, AuditQuery, AuditRecord, Checkpoint, Head, HeadRead,
};
use crate::error::AuditBreak;
use crate::error::Error;
use crate::store::Store;

use super::state::Governance;

impl<S: Store> Governance<S> {
    /// Searches the audit. Unified entries need View Unified Audit on their
    /// organization, system entries View System Audit (Super Admin includes it); an
    /// entry of no one organization needs the permission on every top-level one.
    pub fn search_audit(&self, actor: &str, query: &AuditQuery) -> Result<Vec<AuditRecord>, Error> {
        let holdings = self.holdings(actor)?;
        let home = self.home_org(actor)?;
        let act = match query.log.unwrap_or(AuditLog::Unified) {
            AuditLog::Unified => Act::ViewUnifiedAudit,
            AuditLog::System => Act::ViewSystemAudit,
        };
        let tree = &self.tree;
        let may = |org: &str| holdings.check(tree, act, org).is_ok();
        let roots = tree.roots();
        let anywhere = self.bundle.organizations.iter().any(|o| may(&o.id));
        if !anywhere {
            holdings.check(tree, act, &home)?;
        }
        if let Some(org) = &query.organization {
            holdings.check(tree, act, org)?;
        }
        let all = self.store.read(|tx| tx.audit(0))?;
        Ok(all
            .into_iter()
            .filter(|r| query.matches(r))
            .filter(|r| match &r.entry.organization {
                Some(org) => may(org),
                None => roots.iter().all(|root| may(root)),
            })
            .collect())
    }

    /// Checks the audit's hash chain and its signed head; returns the number of
    /// entries, or the first place the audit breaks. A break that a re-anchoring
    /// acknowledged later in the chain is not reported again.
    pub fn verify_audit(&self) -> Result<Result<usize, AuditBreak>, Error> {
        let (count, problems) = self.audit_problems()?;
        Ok(match problems.into_iter().next() {
            Some(problem) => Err(problem),
            None => Ok(count),
        })
    }

    /// Like [`Governance::verify_audit`], and the chain must still extend
    /// `checkpoint`, exported earlier with [`Governance::audit_checkpoint`]: it must be
    /// signed by this state's key, and the entry it names must have its hash.
    pub fn verify_audit_extends(
        &self,
        checkpoint: &Checkpoint,
    ) -> Result<Result<usize, AuditBreak>, Error> {
        let key = self.store.audit_key()?.public_key();
        if !checkpoint.signed_by(&key) {
            return Ok(Err(AuditBreak::HeadCorrupt {
                reason: format!(
                    "the checkpoint of entry {} is not signed by this state's audit key ({key}); the key was replaced, or the checkpoint is not this state's",
                    checkpoint.count
                ),
            }));
        }
        let all = self.store.read(|tx| tx.audit(0))?;
        let at = usize::try_from(checkpoint.count - 1)
            .ok()
            .and_then(|i| all.get(i));
        match at {
            None if checkpoint.count > 0 => {
                return Ok(Err(AuditBreak::Truncated {
                    last: all.last().map_or(0, |r| r.seq),
                    head: checkpoint.count,
                }))
            }
            Some(record) if record.hash != checkpoint.hash || record.seq != checkpoint.count => {
                return Ok(Err(AuditBreak::Rewritten {
                    seq: checkpoint.count,
                }))
            }
            _ => {}
        }
        self.verify_audit()
    }

    /// The number of entries and every problem of the audit, in order.
    fn audit_problems(&self) -> Result<(usize, Vec<AuditBreak>), Error> {
        let all = self.store.read(|tx| tx.audit(0))?;
        let head = self.store.audit_head()?;
        let key = match self.store.audit_key() {
            Ok(key) => key.public_key(),
            // Without its key nothing about the head can be checked: that is a
            // verification failure (which re-anchoring records), not a broken command.
            Err(missing) => {
                let problem = AuditBreak::HeadCorrupt {
                    reason: missing.to_string(),
                };
                return Ok((all.len(), vec![problem]));
            }
        };
        Ok((all.len(), audit::problems(&all, &head, &key)?))
    }

    /// The audit's latest signed checkpoint, to keep somewhere else: `audit verify
    /// --checkpoint` later proves the audit still extends it. Fails when the head does
    /// not verify.
    pub fn audit_checkpoint(&self) -> Result<Checkpoint, Error> {
        let (_, problems) = self.audit_problems()?;
        if let Some(problem) = problems.into_iter().next() {
            return Err(Error::AuditBlocked(problem));
        }
        match self.store.audit_head()? {
            HeadRead::Found(Head {
                head: Some(head), ..
            }) => Ok(head),
            _ => Err(Error::NotReady {
                reason: "the audit has no head yet".to_owned(),
            }),
        }
    }

    /// Re-anchors a damaged audit: appends an entry that says what was lost or broken
    /// (every problem verification finds, and `reason`), signs a new head, and lets
    /// writes go on. Needs Super Admin on every top-level organization.
    pub fn reanchor_audit(&mut self, actor: &str, reason: &str) -> Result<Vec<AuditBreak>, Error> {
        let holdings = self.holdings(actor)?;
        holdings.check_everywhere(&self.tree, Act::ReanchorAudit)?;
        if reason.trim().is_empty() {
            return Err(Error::invalid(
                "reason",
                "re-anchoring needs a reason: what was looked into".to_owned(),
            ));
        }
        let (count, problems) = self.audit_problems()?;
        if problems.is_empty() {
            return Err(Error::unchanged(format!(
                "the audit verifies ({count} entries); there is nothing to re-anchor"
            )));
        }
        let previous = match self.store.audit_head()? {
            HeadRead::Found(head) => serde_json::to_value(head).unwrap_or_default(),
            HeadRead::Missing => json!("missing"),
            HeadRead::Corrupt(why) => json!(why),
        };
        let entry = AuditEntry {
            time: self.now(),
            actor: actor.to_owned(),
            organization: None,
            log: AuditLog::System,
            kind: audit::REANCHOR.to_owned(),
            detail: json!({
                "reason": reason.trim(), "problems": problems, "entries": count,
                "previous_head": previous,
            }),
        };
        self.store
            .reanchor(|tx| tx.append_audit(&entry).map(|_| ()))?;
        Ok(problems)
    }
}
