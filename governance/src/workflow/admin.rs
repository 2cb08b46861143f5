//! Administrators, roles, grants and the organizations' settings.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;

use crate::access::{Act, Holdings};
use crate::error::Error;
use crate::permission::Permission;
use crate::store::{AdminRecord, Grant, Grantable, RoleRecord, Settings, Store};

use super::state::Governance;

/// Details of an administrator to change; `None` keeps what is there.
#[derive(Debug, Clone, Default)]
pub struct AdminChanges {
    /// Display name.
    pub name: Option<String>,
    /// Home organization.
    pub organization: Option<String>,
    /// Email address.
    pub email: Option<String>,
    /// Phone number for SMS.
    pub phone: Option<String>,
}

impl<S: Store> Governance<S> {
    /// Adds an administrator, or edits one's details (Edit Administrators on their
    /// organization).
    pub fn put_admin(&mut self, actor: &str, admin: AdminRecord) -> Result<(), Error> {
        admin.validate()?;
        if !self.tree.contains(&admin.organization) {
            return Err(Error::not_found("organization", &admin.organization));
        }
        let holdings = self.holdings(actor)?;
        holdings.check(&self.tree, Act::EditAdministrators, &admin.organization)?;
        let existing = self.store.read(|tx| tx.admin(&admin.id))?;
        if let Some(old) = &existing {
            self.check_power_over(&holdings, old)?;
        }
        self.commit_system(
            actor,
            &admin.organization,
            if existing.is_some() {
                "admin-edit"
            } else {
                "admin-add"
            },
            json!({"administrator": admin}),
            |tx| {
                tx.put_admin(&admin)?;
                Ok(())
            },
        )
    }

    /// Adds an administrator (name and organization needed), or changes the given
    /// details of an existing one, keeping the rest; returns the record saved.
    pub fn update_admin(
        &mut self,
        actor: &str,
        id: &str,
        changes: AdminChanges,
    ) -> Result<AdminRecord, Error> {
        let existing = self.store.read(|tx| tx.admin(id))?;
        let record = match existing {
            Some(old) => AdminRecord {
                id: old.id,
                name: changes.name.unwrap_or(old.name),
                organization: changes.organization.unwrap_or(old.organization),
                email: changes.email.or(old.email),
                phone: changes.phone.or(old.phone),
            },
            None => {
                let (Some(name), Some(organization)) = (changes.name, changes.organization) else {
                    return Err(Error::invalid(
                        "name",
                        format!("`{id}` is a new administrator: give a name and an organization"),
                    ));
                };
                AdminRecord {
                    id: id.to_owned(),
                    name,
                    organization,
                    email: changes.email,
                    phone: changes.phone,
                }
            }
        };
        self.put_admin(actor, record.clone())?;
        Ok(record)
    }

    /// Deletes an administrator and their grants.
    pub fn delete_admin(&mut self, actor: &str, id: &str) -> Result<(), Error> {
        if actor == id {
            return Err(Error::invalid(
                "id",
                "nobody can delete themselves".to_owned(),
            ));
        }
        let admin = self.load_admin(id)?;
        let holdings = self.holdings(actor)?;
        self.check_power_over(&holdings, &admin)?;
        self.commit_system(
            actor,
            &admin.organization,
            "admin-delete",
            json!({"administrator": id}),
            |tx| {
                tx.delete_admin(id)?;
                Ok(())
            },
        )
    }

    /// The administrators the actor may see.
    pub fn admins(&self, actor: &str) -> Result<Vec<AdminRecord>, Error> {
        let holdings = self.holdings(actor)?;
        let home = self.home_org(actor)?;
        let all = self.store.read(|tx| tx.admins())?;
        let visible: Vec<AdminRecord> = all
            .into_iter()
            .filter(|a| {
                a.id == actor
                    || holdings
                        .check(&self.tree, Act::ViewAdministrators, &a.organization)
                        .is_ok()
            })
            .collect();
        if visible.len() <= 1 {
            holdings.check(&self.tree, Act::ViewAdministrators, &home)?;
        }
        Ok(visible)
    }

    /// Defines (or redefines) a role. The actor needs Role Administrator on the role's
    /// organization and must hold every permission they put in it.
    pub fn define_role(&mut self, actor: &str, role: RoleRecord) -> Result<(), Error> {
        if role.id.trim().is_empty() || role.permissions.is_empty() {
            return Err(Error::invalid(
                "role",
                "a role needs an id and at least one permission".to_owned(),
            ));
        }
        if !self.tree.contains(&role.organization) {
            return Err(Error::not_found("organization", &role.organization));
        }
        let holdings = self.holdings(actor)?;
        holdings.check(&self.tree, Act::DefineRoles, &role.organization)?;
        if let Some(old) = self.store.read(|tx| tx.role(&role.id))? {
            if old.organization != role.organization {
                return Err(Error::invalid(
                    "organization",
                    format!(
                        "role `{}` is defined in `{}`; it cannot move to `{}`",
                        role.id, old.organization, role.organization
                    ),
                ));
            }
        }
        let assigned = self.store.read(|tx| tx.role_grants(&role.id))?;
        if assigned.iter().any(|g| g.admin == actor) {
            return Err(Error::invalid(
                "role",
                format!(
                "role `{}` is assigned to `{actor}`, and nobody can change their own permissions",
                role.id
            ),
            ));
        }
        // A role applies where it is assigned: the role's organization or below.
        for &p in &role.permissions {
            if !holdings.holds_throughout(&self.tree, p, &role.organization) {
                return Err(Error::Refused(crate::access::Refused {
                    admin: actor.to_owned(),
                    action: format!("put {p} in a role"),
                    organization: role.organization.clone(),
                    missing: format!("{p} (nobody can hand out a permission they do not hold)"),
                }));
            }
        }
        self.commit_system(
            actor,
            &role.organization,
            "role-define",
            json!({"role": role}),
            |tx| {
                tx.put_role(&role)?;
                Ok(())
            },
        )
    }

    /// Every role.
    pub fn roles(&self) -> Result<Vec<RoleRecord>, Error> {
        self.store.read(|tx| tx.roles())
    }

    /// Grants a permission or assigns a role. Nobody can change their own permissions
    /// or hand out a permission they do not hold for that organization.
    pub fn grant(&mut self, actor: &str, grant: Grant) -> Result<(), Error> {
        self.change_grant(actor, grant, true)
    }

    /// Revokes a permission or unassigns a role, under the same rules as [`Governance::grant`].
    pub fn revoke(&mut self, actor: &str, grant: Grant) -> Result<(), Error> {
        self.change_grant(actor, grant, false)
    }

    fn change_grant(&mut self, actor: &str, grant: Grant, add: bool) -> Result<(), Error> {
        if actor == grant.admin {
            return Err(Error::invalid(
                "admin",
                "nobody can change their own permissions".to_owned(),
            ));
        }
        self.load_admin(&grant.admin)?;
        let org = grant.organization.clone();
        if !self.tree.contains(&org) {
            return Err(Error::not_found("organization", org));
        }
        let holdings = self.holdings(actor)?;
        let permissions = match &grant.what {
            Grantable::Permission(p) => {
                holdings.check(&self.tree, Act::ChangePermissions, &org)?;
                vec![*p]
            }
            Grantable::Role(role_id) => {
                holdings.check(&self.tree, Act::AssignRoles, &org)?;
                let role = self
                    .store
                    .read(|tx| tx.role(role_id))?
                    .ok_or_else(|| Error::not_found("role", role_id))?;
                if !self.tree.within(&org, &role.organization) {
                    return Err(Error::invalid("organization", format!(
                        "role `{role_id}` is defined in `{}`; it can be assigned there or in its descendants, not in `{org}`",
                        role.organization
                    )));
                }
                role.permissions
            }
        };
        // A grant covers the organization's descendants too.
        for p in permissions {
            if !holdings.holds_throughout(&self.tree, p, &org) {
                return Err(Error::Refused(crate::access::Refused {
                    admin: actor.to_owned(),
                    action: format!("{} {p}", if add { "grant" } else { "revoke" }),
                    organization: org,
                    missing: format!("{p} (nobody can hand out a permission they do not hold)"),
                }));
            }
        }
        self.commit_system(
            actor,
            &grant.organization,
            if add { "grant" } else { "revoke" },
            json!({"grant": grant}),
            |tx| {
                let changed = if add {
                    tx.insert_grant(&grant)?
                } else {
                    tx.delete_grant(&grant)?
                };
                if !changed {
                    return Err(Error::unchanged(format!(
                        "`{}` {} that {} in `{}`",
                        grant.admin,
                        if add { "already has" } else { "does not have" },
                        match &grant.what {
                            Grantable::Permission(p) => format!("permission ({p})"),
                            Grantable::Role(r) => format!("role (`{r}`)"),
                        },
                        grant.organization
                    )));
                }
                Ok(())
            },
        )
    }

    /// What an administrator holds, per organization of the tree (the actor needs View
    /// Administrators there, unless asking about themselves).
    pub fn permissions_of(
        &self,
        actor: &str,
        admin: &str,
    ) -> Result<BTreeMap<String, Vec<Permission>>, Error> {
        let target = self.load_admin(admin)?;
        if actor != admin {
            self.holdings(actor)?.check(
                &self.tree,
                Act::ViewAdministrators,
                &target.organization,
            )?;
        }
        let holdings = self.holdings(admin)?;
        Ok(self
            .bundle
            .organizations
            .iter()
            .map(|o| (o.id.clone(), holdings.held_for(&self.tree, &o.id)))
            .filter(|(_, held)| !held.is_empty())
            .collect())
    }

    /// The grants of an administrator.
    pub fn grants(&self, admin: &str) -> Result<Vec<Grant>, Error> {
        self.store.read(|tx| tx.grants(admin))
    }

    /// The settings that apply to an organization: its own, else its nearest
    /// ancestor's, else the defaults.
    pub fn settings_for(&self, org: &str) -> Result<Settings, Error> {
        self.store.read(|tx| {
            for o in self.tree.lineage(org) {
                if let Some(s) = tx.settings(o)? {
                    return Ok(s);
                }
            }
            Ok(Settings::default())
        })
    }

    /// Sets an organization's settings (Edit Application Control Policies).
    pub fn set_settings(
        &mut self,
        actor: &str,
        org: &str,
        settings: Settings,
    ) -> Result<(), Error> {
        if !self.tree.contains(org) {
            return Err(Error::not_found("organization", org));
        }
        if settings.request_ttl_seconds <= 0 {
            return Err(Error::invalid(
                "request_ttl_seconds",
                "request_ttl_seconds must be positive".to_owned(),
            ));
        }
        if settings.suggest_after < 1 {
            return Err(Error::invalid(
                "suggest_after",
                "suggest_after must be at least 1 (computers)".to_owned(),
            ));
        }
        self.holdings(actor)?
            .check(&self.tree, Act::EditSettings, org)?;
        self.commit_system(
            actor,
            org,
            "settings",
            json!({"settings": settings}),
            |tx| {
                tx.put_settings(org, &settings)?;
                Ok(())
            },
        )
    }

    /// Editing or deleting an administrator needs Edit Administrators on their home
    /// organization and on every organization where they hold a grant: a client's
    /// administrator cannot take over the account of an MSP's Super Admin.
    pub(super) fn check_power_over(
        &self,
        holdings: &Holdings,
        target: &AdminRecord,
    ) -> Result<(), Error> {
        let grants = self.store.read(|tx| tx.grants(&target.id))?;
        let orgs: BTreeSet<&str> = std::iter::once(target.organization.as_str())
            .chain(grants.iter().map(|g| g.organization.as_str()))
            .filter(|o| self.tree.contains(o))
            .collect();
        for org in orgs {
            holdings.check(&self.tree, Act::EditAdministrators, org)?;
        }
        Ok(())
    }
}
