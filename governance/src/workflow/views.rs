//! Reads for a caller who is not trusted with the whole state, as a server's callers
//! are not: each one checks the actor's permissions first, like every change does.
//! (The command line's local mode reads the state directly: whoever can read the
//! state directory can read it all anyway.)

use portcullis_engine::plugin::RuledDecision;
use portcullis_engine::Event;

use crate::access::Act;
use crate::audit::Checkpoint;
use crate::error::AuditBreak;
use crate::store::{DeployRecord, Grant, RequestRecord, RoleRecord, Settings, Store};
use crate::Error;

use super::{FileRequest, Governance};

impl<S: Store> Governance<S> {
    /// Refused unless `actor` may do `act` on every top-level organization: for what
    /// concerns the whole tenancy (its deploy history, its audit chain).
    pub fn authorize_everywhere(&self, actor: &str, act: Act) -> Result<(), Error> {
        Ok(self.holdings(actor)?.check_everywhere(&self.tree, act)?)
    }

    /// Refused unless `actor` may do one of `acts` on some organization; the refusal
    /// names their own organization and the first act.
    pub fn authorize_somewhere(&self, actor: &str, acts: &[Act]) -> Result<(), Error> {
        let holdings = self.holdings(actor)?;
        let home = self.home_org(actor)?;
        let tree = &self.tree;
        let may = |org: &str| {
            acts.iter()
                .any(|act| holdings.check(tree, *act, org).is_ok())
        };
        if self.bundle.organizations.iter().any(|o| may(&o.id)) {
            return Ok(());
        }
        match acts.first() {
            Some(act) => Ok(holdings.check(tree, *act, &home)?),
            None => Ok(()),
        }
    }

    /// The deploy history, newest first (Edit or View Organizations on every
    /// top-level organization: the history is the whole tenancy's).
    pub fn history(&self, actor: &str, limit: usize) -> Result<Vec<DeployRecord>, Error> {
        self.authorize_everywhere(actor, Act::Deploy)?;
        self.deploys(limit)
    }

    /// The settings that apply to `org`, for an administrator who edits them or works
    /// its approval queue.
    pub fn settings_as(&self, actor: &str, org: &str) -> Result<Settings, Error> {
        if !self.tree.contains(org) {
            return Err(Error::NotFound {
                kind: "organization",
                id: org.to_owned(),
            });
        }
        let holdings = self.holdings(actor)?;
        if holdings.check(&self.tree, Act::EditSettings, org).is_err() {
            holdings.check(&self.tree, Act::ListRequests, org)?;
        }
        self.settings_for(org)
    }

    /// An administrator's grants (View Administrators on their organization, unless
    /// asking about themselves).
    pub fn grants_as(&self, actor: &str, admin: &str) -> Result<Vec<Grant>, Error> {
        let target = self.load_admin(admin)?;
        if actor != admin {
            self.authorize(actor, Act::ViewAdministrators, &target.organization)?;
        }
        self.grants(admin)
    }

    /// The roles an administrator may see: those defined in their own organization's
    /// lineage (assignable to them) and where they may view administrators.
    pub fn roles_as(&self, actor: &str) -> Result<Vec<RoleRecord>, Error> {
        let holdings = self.holdings(actor)?;
        let home = self.home_org(actor)?;
        let tree = &self.tree;
        let roles = self.stored(|tx| tx.roles())?;
        Ok(roles
            .into_iter()
            .filter(|role| {
                tree.within(&home, &role.organization)
                    || holdings
                        .check(tree, Act::ViewAdministrators, &role.organization)
                        .is_ok()
            })
            .collect())
    }

    /// Refused unless `actor` may read some audit: View Unified Audit or View System
    /// Audit somewhere (to verify the chain or export its checkpoint, which show no
    /// entry).
    pub fn authorize_audit_reader(&self, actor: &str) -> Result<(), Error> {
        self.authorize_somewhere(actor, &[Act::ViewUnifiedAudit, Act::ViewSystemAudit])
    }

    /// Verifies the audit, for someone who may read some audit.
    pub fn verify_audit_as(&self, actor: &str) -> Result<Result<usize, AuditBreak>, Error> {
        self.authorize_audit_reader(actor)?;
        self.verify_audit()
    }

    /// Verifies that the audit extends `checkpoint`, for someone who may read some
    /// audit.
    pub fn verify_audit_extends_as(
        &self,
        actor: &str,
        checkpoint: &Checkpoint,
    ) -> Result<Result<usize, AuditBreak>, Error> {
        self.authorize_audit_reader(actor)?;
        self.verify_audit_extends(checkpoint)
    }

    /// The audit's latest signed checkpoint, for someone who may read some audit.
    pub fn audit_checkpoint_as(&self, actor: &str) -> Result<Checkpoint, Error> {
        self.authorize_audit_reader(actor)?;
        self.audit_checkpoint()
    }

    /// Decides an event on the policies and the rule plugins (audited like every
    /// decision), for an administrator who works the approval queue of its computer's
    /// organization.
    pub fn decide_as(&mut self, actor: &str, event: &Event) -> Result<RuledDecision, Error> {
        let org = self.org_of_computer(&event.computer)?;
        self.authorize(actor, Act::ListRequests, &org)?;
        self.decide_with_rules(event)
    }

    /// Files a request on the blocked user's behalf, for an administrator who may open
    /// requests of its kind in its computer's organization.
    pub fn file_request_as(
        &mut self,
        actor: &str,
        request: FileRequest,
    ) -> Result<RequestRecord, Error> {
        let org = self.org_of_computer(&request.event.computer)?;
        self.authorize(actor, Act::OpenRequest(request.kind), &org)?;
        self.file_request(request)
    }
}
