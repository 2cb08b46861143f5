//! The governance commands: a state directory, requests, approvals, administrators,
//! roles, grants, maintenance modes, deploys. Each prints text for a person, or JSON
//! with `--json`.
//!
//! This module holds the command tree and sends each command to the file of its group;
//! [`text`] renders the records for a person.

mod admin;
mod approve;
mod audit;
mod deploy;
mod notify;
mod requests;
mod session;
mod text;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

use crate::error::CliError;
use crate::state::{Acting, StateArgs};

/// The governance subcommands.
#[derive(Subcommand, Debug)]
pub enum GovernCommand {
    /// Create a state directory from a bundle, with the first administrator (Super
    /// Admin on every top-level organization).
    Init(deploy::InitArgs),
    /// Decide an execution event on the state's current policies (a deny is audited).
    Decide {
        #[command(flatten)]
        state: StateArgs,
        /// The event (JSON); `-` reads standard input.
        event: PathBuf,
    },
    /// File a request for a denied execution, as the user who was blocked.
    Request(requests::RequestArgs),
    /// List, show or fetch the file of requests.
    #[command(subcommand)]
    Requests(requests::RequestsCommand),
    /// Approve a pending request: writes the policy, deploys it, and proves the
    /// request's execution is now allowed.
    Approve(approve::ApproveArgs),
    /// Reject a pending request with a reason.
    Reject {
        #[command(flatten)]
        acting: Acting,
        /// The request's number.
        id: i64,
        /// Why (the requester is told).
        #[arg(long)]
        reason: String,
    },
    /// Expire requests not handled within their organization's time limit.
    Expire {
        #[command(flatten)]
        state: StateArgs,
    },
    /// Software approved computer by computer often enough to deserve a wider policy.
    Suggestions(Acting),
    /// Set or end a computer's maintenance mode.
    Maintenance(approve::MaintenanceArgs),
    /// Manage administrators.
    #[command(subcommand)]
    Admin(admin::AdminCommand),
    /// Define and list roles.
    #[command(subcommand)]
    Role(admin::RoleCommand),
    /// Grant a permission or assign a role to an administrator for an organization.
    Grant(admin::GrantArgs),
    /// Revoke a permission or unassign a role.
    Revoke(admin::GrantArgs),
    /// Deploy a whole bundle (needs Edit or View Organizations on every organization it
    /// changes).
    Deploy {
        #[command(flatten)]
        acting: Acting,
        /// The bundle (JSON).
        #[arg(long)]
        bundle: PathBuf,
    },
    /// Restore an earlier bundle version as a new version.
    Rollback {
        #[command(flatten)]
        acting: Acting,
        /// The version (default: the one before the current).
        #[arg(long)]
        to: Option<i64>,
    },
    /// The deploy history, newest first.
    History {
        #[command(flatten)]
        state: StateArgs,
    },
    /// Show an organization's approval settings, or change them.
    Settings(deploy::SettingsArgs),
    /// Configure and run notification delivery.
    #[command(subcommand)]
    Notify(notify::NotifyCommand),
    /// Search the audit, or verify its hash chain.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// List the permission catalogue.
    Permissions,
    /// API tokens for a server: sign in and make one, list or revoke yours.
    #[command(subcommand)]
    Token(session::TokenCommand),
    /// Accept an invitation to a server: set your password.
    #[command(subcommand)]
    Invitation(session::InvitationCommand),
}

/// Runs one governance command.
pub fn run(command: GovernCommand) -> Result<ExitCode, CliError> {
    match command {
        GovernCommand::Init(args) => deploy::init(args),
        GovernCommand::Decide { state, event } => requests::decide(&state, &event),
        GovernCommand::Request(args) => requests::file(args),
        GovernCommand::Requests(command) => requests::run(command),
        GovernCommand::Approve(args) => approve::approve(args),
        GovernCommand::Reject { acting, id, reason } => approve::reject(&acting, id, &reason),
        GovernCommand::Expire { state } => approve::expire(&state),
        GovernCommand::Suggestions(acting) => approve::suggestions(&acting),
        GovernCommand::Maintenance(args) => approve::maintenance(args),
        GovernCommand::Admin(command) => admin::admin(command),
        GovernCommand::Role(command) => admin::role(command),
        GovernCommand::Grant(args) => admin::change_grant(args, admin::Change::Grant),
        GovernCommand::Revoke(args) => admin::change_grant(args, admin::Change::Revoke),
        GovernCommand::Deploy { acting, bundle } => deploy::deploy(&acting, &bundle),
        GovernCommand::Rollback { acting, to } => deploy::rollback(&acting, to),
        GovernCommand::History { state } => deploy::history(&state),
        GovernCommand::Settings(args) => deploy::settings(args),
        GovernCommand::Notify(command) => notify::run(command),
        GovernCommand::Audit(command) => audit::run(command),
        GovernCommand::Permissions => admin::permissions(),
        GovernCommand::Token(command) => session::token(command),
        GovernCommand::Invitation(command) => session::invitation(command),
    }
}
