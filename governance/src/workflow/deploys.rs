//! Maintenance modes, deploys and rollbacks: every change to the bundle goes through
//! `commit_bundle` (a whole new bundle) or `commit_edit` (a few entries put: an
//! approval), which deploy it aside, let a gate prove something, and commit it with
//! its audit entries before the new snapshot is swapped in.

use portcullis_engine::model::{Application, Maintenance, MaintenanceMode, Policy, Timestamp};
use portcullis_engine::{Bundle, BundleChange, DeployError, Deployed, Engine, Snapshot};
use serde_json::json;

use crate::access::{Act, OrgTree};
use crate::audit::{AuditEntry, AuditLog};
use crate::edits::{self};
use crate::error::Error;
use crate::sql::put_entries;
use crate::store::{DeployNote, DeployRecord, Store, Tx};

use super::places::Places;
use super::state::Governance;

impl<S: Store> Governance<S> {
    /// Sets a computer's maintenance mode until `until`, or ends it (`mode` `None`).
    pub fn set_maintenance(
        &mut self,
        actor: &str,
        computer: &str,
        mode: Option<(MaintenanceMode, Timestamp)>,
    ) -> Result<i64, Error> {
        let org = self.org_of_computer(computer)?;
        self.holdings(actor)?
            .check(&self.tree, Act::Maintenance, &org)?;
        let now = self.now();
        if let Some((_, until)) = mode {
            if until <= now {
                return Err(Error::invalid(
                    "until",
                    format!("the end time {until} is not in the future"),
                ));
            }
        }
        let mut bundle = self.bundle.clone();
        let entry = bundle
            .computers
            .iter_mut()
            .find(|c| c.id == computer)
            .ok_or_else(|| Error::not_found("computer", computer))?;
        if mode.is_none() && entry.maintenance.is_none() {
            return Err(Error::unchanged(format!(
                "`{computer}` is not in a maintenance mode"
            )));
        }
        entry.maintenance = mode.map(|(mode, until)| Maintenance { mode, until });
        let audit = AuditEntry {
            time: now,
            actor: actor.to_owned(),
            organization: Some(org.clone()),
            log: AuditLog::Unified,
            kind: if mode.is_some() {
                "maintenance-set"
            } else {
                "maintenance-end"
            }
            .to_owned(),
            detail: json!({
                "computer": computer,
                "mode": mode.map(|(m, _)| m.as_str()),
                "until": mode.map(|(_, u)| u),
            }),
        };
        self.commit_bundle(
            &bundle,
            DeployNote {
                actor: actor.to_owned(),
                time: now,
                reason: format!(
                    "{} maintenance mode of {computer}",
                    if mode.is_some() { "set" } else { "end" }
                ),
            },
            |_| Ok(()),
            |tx| tx.append_audit(&audit).map(|_| ()),
        )?;
        Ok(self.version)
    }

    /// Deploys a whole bundle. Every entry it adds, changes or removes needs the
    /// permission that governs its kind on the organizations it touches, in the current
    /// tree and in the new one, and every changed organization needs a deploy
    /// permission (Edit or View Organizations); see [`crate::edits`].
    pub fn deploy(&mut self, actor: &str, bundle: Bundle, reason: &str) -> Result<i64, Error> {
        let holdings = self.holdings(actor)?;
        if bundle == self.bundle {
            return Err(Error::unchanged("the bundle is the one already deployed"));
        }
        let changed = edits::authorize_deploy(&holdings, &self.bundle, &bundle)?;
        let now = self.now();
        let audit = AuditEntry {
            time: now,
            actor: actor.to_owned(),
            organization: None,
            log: AuditLog::Unified,
            kind: "deploy".to_owned(),
            detail: json!({"organizations": changed, "reason": reason}),
        };
        self.commit_bundle(
            &bundle,
            DeployNote {
                actor: actor.to_owned(),
                time: now,
                reason: reason.to_owned(),
            },
            |_| Ok(()),
            |tx| tx.append_audit(&audit).map(|_| ()),
        )?;
        Ok(self.version)
    }

    /// Restores an earlier bundle version (default: the one before the current) as a
    /// new version.
    pub fn rollback(&mut self, actor: &str, to: Option<i64>) -> Result<i64, Error> {
        // Nothing about the versions is told to someone who may deploy nowhere.
        self.authorize_somewhere(actor, &[Act::Deploy])?;
        let target = match to {
            Some(v) => v,
            None => self.version - 1,
        };
        if target < 1 || target >= self.version {
            return Err(Error::invalid(
                "version",
                format!(
                "there is no earlier version {target} to roll back to (the current version is {})",
                self.version
            ),
            ));
        }
        let bundle = self
            .store
            .read(|tx| tx.bundle(target))?
            .ok_or(Error::not_found("bundle version", target))?;
        self.deploy(actor, bundle, &format!("rollback to version {target}"))
    }

    /// The deploy history, newest first.
    pub fn deploys(&self, limit: usize) -> Result<Vec<DeployRecord>, Error> {
        self.store.read(|tx| tx.deploys(limit))
    }

    /// Deploys `bundle` aside as a change to the organizations whose entries differ
    /// from the current bundle (only they are laid out and compiled), lets `gate`
    /// check the new snapshot, stores the bundle and whatever `record` writes in one
    /// transaction, and only then swaps the snapshot in. Returns what the engine
    /// deployed.
    pub(super) fn commit_bundle(
        &mut self,
        bundle: &Bundle,
        note: DeployNote,
        gate: impl FnOnce(&Snapshot) -> Result<(), Error>,
        record: impl FnOnce(&mut dyn Tx) -> Result<(), Error>,
    ) -> Result<Deployed, Error> {
        let expected = self.version;
        let change = BundleChange::between(&self.bundle, bundle);
        let engine = Self::compiled(&self.engine, &self.bundle, self.version)?;
        let limits = engine.limits();
        let store = &mut self.store;
        let previous = &self.bundle;
        let mut version = expected;
        let deployed = engine
            .deploy_change_gated(&change, |snapshot| {
                gate(snapshot)?;
                version = store.transaction(|tx| {
                    let push = |tx: &mut dyn Tx| tx.push_bundle(bundle, Some(previous), &note);
                    store_version(tx, expected, &change, &note, push, record)
                })?;
                Ok(())
            })
            .map_err(|e| match e {
                // The change's errors name places in the change; the whole bundle's
                // name places in the bundle the administrator gave.
                DeployError::Compile(errors) => {
                    match Engine::builder().limits(limits).snapshot(bundle) {
                        Err(whole) => Error::Compile(whole),
                        Ok(_) => Error::Compile(errors),
                    }
                }
                DeployError::Gate(error) => error,
            })?;
        self.version = version;
        self.bundle = bundle.clone();
        self.tree = OrgTree::of(bundle);
        self.places = Places::of(bundle);
        Ok(deployed)
    }

    /// As [`Governance::commit_bundle`] for an edit that puts a few entries (an
    /// approval's): the engine recompiles the organizations that own them, the store
    /// keeps the entries, and the bundle in memory is changed in place. Nothing costs
    /// what the tenancy costs.
    pub(super) fn commit_edit(
        &mut self,
        edit: &Edit,
        note: DeployNote,
        gate: impl FnOnce(&Snapshot) -> Result<(), Error>,
        record: impl FnOnce(&mut dyn Tx) -> Result<(), Error>,
    ) -> Result<Deployed, Error> {
        let expected = self.version;
        let engine = Self::compiled(&self.engine, &self.bundle, self.version)?;
        let store = &mut self.store;
        let previous = &self.bundle;
        let mut version = expected;
        let deployed = engine
            .deploy_change_gated(&edit.change, |snapshot| {
                gate(snapshot)?;
                version = store.transaction(|tx| {
                    let whole = || {
                        let mut bundle = previous.clone();
                        put_entries(&mut bundle, &edit.applications, &edit.policies);
                        bundle
                    };
                    let push = |tx: &mut dyn Tx| {
                        tx.push_entries(&edit.applications, &edit.policies, &note, &whole)
                    };
                    store_version(tx, expected, &edit.change, &note, push, record)
                })?;
                Ok(())
            })
            .map_err(|e| match e {
                DeployError::Compile(errors) => Error::Compile(errors),
                DeployError::Gate(error) => error,
            })?;
        self.put_in_memory(&edit.applications, &edit.policies);
        self.version = version;
        Ok(deployed)
    }

    /// Puts applications and policies into the bundle in memory, as a stored version
    /// puts them, and keeps the places up to date. Returns the organizations that own
    /// them (the ones to deploy anew).
    pub(super) fn put_in_memory(
        &mut self,
        applications: &[Application],
        policies: &[Policy],
    ) -> Vec<String> {
        let replaced = policies
            .iter()
            .any(|p| self.bundle.policies.iter().any(|q| q.id == p.id));
        let moved = applications.iter().any(|a| {
            self.bundle
                .applications
                .iter()
                .any(|b| b.id == a.id && b.organization != a.organization)
        });
        let mut owners: Vec<String> = applications
            .iter()
            .map(|a| a.organization.clone())
            .collect();
        put_entries(&mut self.bundle, applications, policies);
        if replaced || moved {
            self.places = Places::of(&self.bundle);
        } else {
            for application in applications {
                if let Some(at) = self
                    .bundle
                    .applications
                    .iter()
                    .rposition(|a| a.id == application.id)
                {
                    self.places.add_application(application, at);
                }
            }
            let added = self.bundle.policies.len() - policies.len();
            for (n, policy) in policies.iter().enumerate() {
                self.places.add_policy(&self.bundle, policy, added + n);
            }
        }
        owners.extend(
            policies
                .iter()
                .filter_map(|p| self.places.owner(&self.bundle, &p.scope))
                .map(str::to_owned),
        );
        owners.sort();
        owners.dedup();
        owners
    }
}

/// A few entries put into the bundle (an approval's application and policy), and the
/// change of the organizations that own them, as the engine deploys it.
pub(super) struct Edit {
    /// Applications put: each replaces the one of its id, or is added.
    pub(super) applications: Vec<Application>,
    /// Policies put, likewise.
    pub(super) policies: Vec<Policy>,
    /// The owning organizations as they are with the entries put.
    pub(super) change: BundleChange,
}

impl Edit {
    /// The edit putting `applications` and `policies` into `bundle` (whose places are
    /// `places`); their owners are organizations `owners`.
    pub(super) fn new(
        bundle: &Bundle,
        places: &Places,
        owners: &[&str],
        applications: Vec<Application>,
        policies: Vec<Policy>,
    ) -> Edit {
        let mut change = places.change(bundle, owners);
        put_entries(&mut change.entries, &applications, &policies);
        Edit {
            applications,
            policies,
            change,
        }
    }
}

/// Stores the new version `push` writes, what `record` writes, and the policy-edit
/// audit entry of `change`, when the current version is still `expected` (else
/// [`Error::Conflict`]: another writer came first). Returns the new version.
fn store_version(
    tx: &mut dyn Tx,
    expected: i64,
    change: &BundleChange,
    note: &DeployNote,
    push: impl FnOnce(&mut dyn Tx) -> Result<i64, Error>,
    record: impl FnOnce(&mut dyn Tx) -> Result<(), Error>,
) -> Result<i64, Error> {
    if tx.current_version()? != Some(expected) {
        return Err(Error::Conflict);
    }
    let version = push(tx)?;
    record(tx)?;
    let changed = change.organization_ids();
    // Every policy edit is an administrator's action too.
    tx.append_audit(&AuditEntry {
        time: note.time,
        actor: note.actor.clone(),
        organization: match changed.as_slice() {
            [only] => Some((*only).to_owned()),
            _ => None,
        },
        log: AuditLog::System,
        kind: "policy-edit".to_owned(),
        detail: json!({
            "version": version, "reason": note.reason, "organizations": changed,
        }),
    })?;
    Ok(version)
}
