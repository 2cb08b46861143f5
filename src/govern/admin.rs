//! Who may do what: `admin …`, `role …`, `grant`, `revoke`, `permissions`.

use std::fmt::Write as _;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use portcullis_governance::{AdminChanges, Channels, Grant, Grantable, Permission, RoleRecord};
use serde_json::json;

use super::requests::KindArg;
use super::text;
use crate::common::shown;
use crate::error::CliError;
use crate::state::{Acting, StateArgs};

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
            let record = acting.open()?.update_admin(acting.id(), &id, changes)?;
            shown(acting.json(), &record, || {
                format!(
                    "administrator `{}` saved in `{}`\n",
                    record.id, record.organization
                )
            })
        }
        AdminCommand::Delete { acting, id } => {
            acting.open()?.delete_admin(acting.id(), &id)?;
            shown(acting.json(), &json!({"deleted": id}), || {
                format!("administrator `{id}` deleted\n")
            })
        }
        AdminCommand::List { acting } => {
            let admins = acting.open()?.admins(acting.id())?;
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
            let gov = acting.open()?;
            let held = gov.permissions_of(acting.id(), &id)?;
            let grants = gov.grants(&id)?;
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
    }
}

/// `admin notify`
fn notify(
    acting: &Acting,
    id: &str,
    kind: KindArg,
    channels: Channels,
) -> Result<ExitCode, CliError> {
    let kind = portcullis_governance::RequestKind::from(kind);
    let Channels { email, sms } = channels;
    acting.open()?.set_notify(acting.id(), id, kind, channels)?;
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
            acting.open()?.define_role(acting.id(), role.clone())?;
            shown(acting.json(), &role, || {
                format!("role `{}` defined in `{}`\n", role.id, role.organization)
            })
        }
        RoleCommand::List { state } => {
            let roles = crate::state::open(&state)?.roles()?;
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
    let mut gov = args.acting.open()?;
    let (done, to) = match change {
        Change::Grant => {
            gov.grant(args.acting.id(), grant.clone())?;
            ("granted", "to")
        }
        Change::Revoke => {
            gov.revoke(args.acting.id(), grant.clone())?;
            ("revoked", "from")
        }
    };
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
