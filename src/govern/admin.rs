//! Who may do what: `admin …`, `role …`, `grant`, `revoke`, `permissions`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use portcullis_governance::{
    AdminChanges, AdminRecord, Channels, Grant, Grantable, Permission, RoleRecord,
};
use portcullis_server::api::{AdminBody, RoleBody};
use serde_json::json;

use super::requests::KindArg;
use super::text;
use crate::common::{read_password, shown};
use crate::error::CliError;
use crate::state::{open, Acting, StateArgs};

/// `admin …`
#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    /// Add an administrator (`--name` and `--org` needed), or edit one's details
    /// (what is not given stays as it is).
    Add {
        #[command(flatten)]
        acting: Acting,
        /// The administrator's id.
        id: String,
        /// Display name.
        #[arg(long)]
        name: Option<String>,
        /// Their organization.
        #[arg(long)]
        org: Option<String>,
        /// Email address.
        #[arg(long)]
        email: Option<String>,
        /// Phone number for SMS (`+` and digits).
        #[arg(long)]
        phone: Option<String>,
    },
    /// Delete an administrator and their grants.
    Delete {
        #[command(flatten)]
        acting: Acting,
        /// The administrator.
        id: String,
    },
    /// The administrators the actor may see.
    List {
        #[command(flatten)]
        acting: Acting,
    },
    /// Set an administrator's "notify on request" channels for a request kind; with
    /// neither `--email` nor `--sms`, switch it off.
    Notify {
        #[command(flatten)]
        acting: Acting,
        /// The administrator.
        id: String,
        /// The request kind.
        #[arg(long, value_enum)]
        kind: KindArg,
        /// By email (needs an email address on the administrator).
        #[arg(long)]
        email: bool,
        /// By SMS (needs a phone number on the administrator).
        #[arg(long)]
        sms: bool,
    },
    /// An administrator's grants and effective permissions per organization.
    Show {
        #[command(flatten)]
        acting: Acting,
        /// The administrator.
        id: String,
    },
    /// Make an invitation (or password reset) link for an administrator, through a
    /// server (Edit Administrators over them).
    Invite {
        #[command(flatten)]
        acting: Acting,
        /// The administrator.
        id: String,
        /// Also write the invitation (the part of the link after `#`) to this file.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Set an administrator's password for `portcullis serve`, on the state's own
    /// machine (elsewhere, send them an invitation through the server).
    Password {
        #[command(flatten)]
        state: StateArgs,
        /// The administrator.
        id: String,
        /// The password, from this file (`-`: standard input; the first line).
        #[arg(long, value_name = "FILE")]
        password_file: PathBuf,
    },
}

/// `role …`
#[derive(Subcommand, Debug)]
pub enum RoleCommand {
    /// Define or redefine a role in an organization.
    Define {
        #[command(flatten)]
        acting: Acting,
        /// The role's id.
        id: String,
        /// The organization that defines it.
        #[arg(long)]
        org: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// A permission (id or name); repeat for several.
        #[arg(long = "permission", required = true)]
        permissions: Vec<Permission>,
    },
    /// Every role.
    List {
        #[command(flatten)]
        state: StateArgs,
    },
}

// What `grant` and `revoke` are given.
#[derive(Args, Debug, Clone)]
pub struct GrantArgs {
    #[command(flatten)]
    acting: Acting,
    /// The administrator.
    admin: String,
    /// The organization (the grant covers its descendants).
    #[arg(long)]
    org: String,
    /// A permission (id or name).
    #[arg(long, required_unless_present = "role", conflicts_with = "role")]
    permission: Option<Permission>,
    /// A role's id.
    #[arg(long)]
    role: Option<String>,
}

/// Whether a grant is given or taken back.
#[derive(Clone, Copy, Debug)]
pub enum Change {
    /// `grant`
    Grant,
    /// `revoke`
    Revoke,
}

/// `admin …`
pub fn admin(command: AdminCommand) -> Result<ExitCode, CliError> {
    match command {
        AdminCommand::Add {
            acting,
            id,
            name,
            org,
            email,
            phone,
        } => {
            let changes = AdminChanges {
                name,
                organization: org,
                email,
                phone,
            };
            let body = AdminBody {
                name: changes.name.clone(),
                organization: changes.organization.clone(),
                email: changes.email.clone(),
                phone: changes.phone.clone(),
            };
            let record: AdminRecord =
                acting.write("PUT", &format!("/administrators/{id}"), &body, |g, me| {
                    g.update_admin(me, &id, changes)
                })?;
            shown(acting.json(), &record, || {
                format!(
                    "administrator `{}` saved in `{}`\n",
                    record.id, record.organization
                )
            })
        }
        AdminCommand::Delete { acting, id } => {
            acting.run(
                |g, me| g.delete_admin(me, &id),
                |c| c.delete(&format!("/administrators/{id}")),
            )?;
            shown(acting.json(), &json!({"deleted": id}), || {
                format!("administrator `{id}` deleted\n")
            })
        }
        AdminCommand::List { acting } => {
            let admins: Vec<AdminRecord> = acting.read("/administrators", |g, me| g.admins(me))?;
            shown(acting.json(), &admins, || {
                admins.iter().map(text::admin).collect()
            })
        }
        AdminCommand::Notify {
            acting,
            id,
            kind,
            email,
            sms,
        } => notify(&acting, &id, kind, Channels { email, sms }),
        AdminCommand::Show { acting, id } => {
            #[derive(serde::Deserialize)]
            struct Held {
                grants: Vec<Grant>,
                permissions: BTreeMap<String, Vec<Permission>>,
            }
            let Held {
                grants,
                permissions: held,
            } = acting.read(&format!("/administrators/{id}/permissions"), |g, me| {
                Ok(Held {
                    permissions: g.permissions_of(me, &id)?,
                    grants: g.grants_as(me, &id)?,
                })
            })?;
            let value = json!({"grants": grants, "permissions": held});
            shown(acting.json(), &value, || {
                let mut out = String::new();
                for g in &grants {
                    let _ = writeln!(out, "grant: {} in `{}`", text::what(g), g.organization);
                }
                for (org, perms) in &held {
                    let names: Vec<&str> = perms.iter().map(|p| p.name()).collect();
                    let _ = writeln!(out, "{org}: {}", names.join(", "));
                }
                out
            })
        }
        AdminCommand::Invite { acting, id, out } => {
            super::session::invite(&acting, &id, out.as_deref())
        }
        AdminCommand::Password {
            state,
            id,
            password_file,
        } => password(&state, &id, &password_file),
    }
}

/// `admin password`
fn password(state: &StateArgs, id: &str, file: &Path) -> Result<ExitCode, CliError> {
    let gov = open(state)?;
    if gov.administrator(id)?.is_none() {
        return Err(format!("administrator `{id}` does not exist").into());
    }
    let password = read_password(file)?;
    portcullis_server::credentials::set_password(
        state.dir()?,
        state.database.as_deref(),
        id,
        &password,
    )?;
    shown(state.json, &json!({"administrator": id}), || {
        format!("`{id}` may now sign in to `portcullis serve` with that password\n")
    })
}

/// `admin notify`
fn notify(
    acting: &Acting,
    id: &str,
    kind: KindArg,
    channels: Channels,
) -> Result<ExitCode, CliError> {
    let kind = portcullis_governance::AccessRequestKind::from(kind);
    let Channels { email, sms } = channels;
    acting.run(
        |g, me| g.set_notify(me, id, kind, channels),
        |c| {
            c.send::<serde_json::Value>(
                "PUT",
                &format!("/administrators/{id}/notifications/{}", kind.as_str()),
                &channels,
            )
            .map(|_| ())
        },
    )?;
    let value = json!({"admin": id, "kind": kind, "email": email, "sms": sms});
    shown(acting.json(), &value, || {
        let channels = match (email, sms) {
            (true, true) => "email and SMS",
            (true, false) => "email",
            (false, true) => "SMS",
            (false, false) => "nothing (off)",
        };
        format!("`{id}` is notified of new {kind} requests by {channels}\n")
    })
}

/// `role …`
pub fn role(command: RoleCommand) -> Result<ExitCode, CliError> {
    match command {
        RoleCommand::Define {
            acting,
            id,
            org,
            name,
            permissions,
        } => {
            let role = RoleRecord {
                id,
                organization: org,
                name,
                permissions,
            };
            let body = RoleBody {
                organization: role.organization.clone(),
                name: role.name.clone(),
                permissions: role.permissions.clone(),
            };
            let path = format!("/roles/{}", role.id);
            let saved = role.clone();
            acting.run(
                |g, me| g.define_role(me, saved),
                |c| c.send::<serde_json::Value>("PUT", &path, &body).map(|_| ()),
            )?;
            shown(acting.json(), &role, || {
                format!("role `{}` defined in `{}`\n", role.id, role.organization)
            })
        }
        RoleCommand::List { state } => {
            let roles: Vec<RoleRecord> = match state.remote()? {
                Some(client) => client.get("/roles")?,
                None => crate::state::open(&state)?.roles()?,
            };
            shown(state.json, &roles, || {
                roles.iter().map(text::role).collect()
            })
        }
    }
}

/// `grant` or `revoke`.
pub fn change_grant(args: GrantArgs, change: Change) -> Result<ExitCode, CliError> {
    let grant = Grant {
        admin: args.admin,
        organization: args.org,
        what: match (args.permission, args.role) {
            (Some(p), _) => Grantable::Permission(p),
            (None, Some(r)) => Grantable::Role(r),
            // clap requires one of the two.
            (None, None) => Grantable::Role(String::new()),
        },
    };
    let given = grant.clone();
    let (done, to, path) = match change {
        Change::Grant => ("granted", "to", "/grants"),
        Change::Revoke => ("revoked", "from", "/grants/revoke"),
    };
    args.acting.run(
        |g, me| match change {
            Change::Grant => g.grant(me, given),
            Change::Revoke => g.revoke(me, given),
        },
        |c| {
            c.send::<serde_json::Value>("POST", path, &grant)
                .map(|_| ())
        },
    )?;
    shown(args.acting.json(), &grant, || {
        format!(
            "{done} {} {to} `{}` in `{}`\n",
            text::what(&grant),
            grant.admin,
            grant.organization
        )
    })
}

/// `permissions`: the catalogue.
pub fn permissions() -> Result<ExitCode, CliError> {
    for p in Permission::ALL {
        println!("{:<30} {}", p.id(), p.name());
    }
    Ok(ExitCode::SUCCESS)
}
