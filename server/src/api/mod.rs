//! The API under `/api/v1`: one table of operations, from which both the router and
//! the OpenAPI document are made, so neither can name an operation the other lacks.

mod admin;
mod agents;
mod audit;
mod body;
mod deploy;
mod filing;
mod requests;
mod session;

use axum::extract::DefaultBodyLimit;
use axum::http::Method;
use axum::routing::{delete, get, patch, post, put, MethodRouter};
use axum::Router;

use crate::app::App;

pub use admin::{AdminBody, RoleBody};
pub use agents::{Decided, Enrollment, InstallKeyBody, DECISIONS_PER_UPLOAD};
pub use audit::ReanchorBody;
pub use body::Body;
pub use deploy::{MaintenanceBody, RollbackBody, BUNDLE_LIMIT};
pub use filing::{sweep_uploads, uploads, FileBody};
pub use requests::{ApproveBody, MatchKind, RejectBody};
pub use session::{Code, Invitation, NewToken, SignIn};

/// Who may call an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone: signing in, accepting an invitation, the OpenAPI document.
    Public,
    /// An authenticated administrator; governance decides what they may do.
    Admin,
    /// An enrolled agent, for its own computer only.
    Agent,
    /// An administrator or an agent.
    Either,
}

/// What an operation takes as its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// Nothing.
    None,
    /// A JSON object, described by the named schema.
    Json(&'static str),
    /// A bundle (JSON, as in `docs/bundle.schema.json`).
    Bundle,
    /// An execution event (JSON, as in `docs/event.schema.json`).
    Event,
    /// Bytes, streamed (`application/octet-stream`).
    Bytes,
}

/// What an operation answers with on success.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// A JSON value.
    Json,
    /// Bytes (`application/octet-stream`).
    Bytes,
    /// Nothing (204).
    Empty,
}

/// One operation of the API.
#[derive(Debug, Clone)]
pub struct Operation {
    /// The HTTP method.
    pub method: Method,
    /// The path, with `{name}` parameters.
    pub path: &'static str,
    /// The OpenAPI `operationId`.
    pub id: &'static str,
    /// One line on what it does.
    pub summary: &'static str,
    /// Who may call it.
    pub access: Access,
    /// Its body.
    pub input: Input,
    /// Its answer.
    pub output: Output,
    /// Query parameters it reads (name, description).
    pub query: &'static [(&'static str, &'static str)],
}

/// The prefix of every operation's path.
pub const PREFIX: &str = "/api/v1";

macro_rules! op {
    ($method:ident $path:literal $id:literal, $access:ident, $input:expr, $output:ident, $query:expr, $summary:literal) => {
        Operation {
            method: Method::$method,
            path: $path,
            id: $id,
            summary: $summary,
            access: Access::$access,
            input: $input,
            output: Output::$output,
            query: $query,
        }
    };
}

/// Every operation, with its handler.
pub fn operations() -> Vec<(Operation, MethodRouter<App>)> {
    use Input::{Json, None as Nothing};
    vec![
        (
            op!(POST "/session" "signIn", Public, Json("SignIn"), Json, &[],
                "Sign in with an administrator's id and password: a session cookie and its CSRF token"),
            post(session::sign_in),
        ),
        (
            op!(GET "/session" "whoAmI", Admin, Nothing, Json, &[],
                "The administrator calling, how they authenticated, and their session's CSRF token"),
            get(session::who_am_i),
        ),
        (
            op!(DELETE "/session" "signOut", Admin, Nothing, Empty, &[],
                "End the calling session"),
            delete(session::sign_out),
        ),
        (
            op!(POST "/totp" "beginSecondFactor", Admin, Nothing, Json, &[],
                "Start a second factor (TOTP): its secret and otpauth URI; required once confirmed"),
            post(session::totp_begin),
        ),
        (
            op!(POST "/totp/confirm" "confirmSecondFactor", Admin, Json("Code"), Json, &[],
                "Confirm the second factor with a code; sign-ins need a code from then on"),
            post(session::totp_confirm),
        ),
        (
            op!(POST "/totp/disable" "disableSecondFactor", Admin, Json("Code"), Json, &[],
                "Turn the second factor off with a current code"),
            post(session::totp_disable),
        ),
        (
            op!(GET "/tokens" "listTokens", Admin, Nothing, Json, &[],
                "The caller's API tokens (names and dates, never the tokens)"),
            get(session::list_tokens),
        ),
        (
            op!(POST "/tokens" "createToken", Admin, Json("NewToken"), Json, &[],
                "Make a named API token for the caller; the token is shown once"),
            post(session::create_token),
        ),
        (
            op!(DELETE "/tokens/{name}" "revokeToken", Admin, Nothing, Empty, &[],
                "Revoke one of the caller's API tokens"),
            delete(session::revoke_token),
        ),
        (
            op!(POST "/administrators/{id}/invitation" "inviteAdministrator", Admin, Nothing, Json, &[],
                "Make an invitation (or password reset) link for an administrator (Edit Administrators over them)"),
            post(session::invite),
        ),
        (
            op!(POST "/invitations/accept" "acceptInvitation", Public, Json("Invitation"), Json, &[],
                "Set a password with an invitation or reset link"),
            post(session::accept_invitation),
        ),
        (
            op!(GET "/requests" "listRequests", Admin, Nothing, Json,
                &[("status", "pending (default), approved, rejected, expired or all")],
                "The approval queue the caller may see"),
            get(requests::list),
        ),
        (
            op!(POST "/decisions" "decide", Admin, Input::Event, Json, &[],
                "Decide an execution event on the current policies (audited); for who works its organization's queue"),
            post(filing::decide),
        ),
        (
            op!(PUT "/uploads" "upload", Either, Input::Bytes, Json, &[],
                "Send a blocked file's copy, streamed; answers its SHA-256 for a request to name"),
            put(filing::upload).layer(DefaultBodyLimit::max(portcullis_governance::MAX_ATTACHMENT)),
        ),
        (
            op!(POST "/requests" "fileRequest", Admin, Json("FileBody"), Json, &[],
                "File a request for a blocked execution on the user's behalf (a permission to open such requests there)"),
            post(filing::file),
        ),
        (
            op!(GET "/requests/{id}" "showRequest", Admin, Nothing, Json, &[],
                "One request in full (needs a permission to approve it)"),
            get(requests::show),
        ),
        (
            op!(GET "/requests/{id}/file" "requestFile", Admin, Nothing, Bytes, &[],
                "The stored copy of a request's file"),
            get(requests::file),
        ),
        (
            op!(POST "/requests/{id}/approve" "approveRequest", Admin, Json("ApproveBody"), Json, &[],
                "Approve a pending request: writes the policy, deploys it and proves the execution is allowed"),
            post(requests::approve),
        ),
        (
            op!(POST "/requests/{id}/reject" "rejectRequest", Admin, Json("RejectBody"), Json, &[],
                "Reject a pending request with a reason"),
            post(requests::reject),
        ),
        (
            op!(GET "/suggestions" "listSuggestions", Admin, Nothing, Json, &[],
                "Software approved computer by computer often enough to deserve a wider policy"),
            get(requests::suggestions),
        ),
        (
            op!(GET "/administrators" "listAdministrators", Admin, Nothing, Json, &[],
                "The administrators the caller may see"),
            get(admin::list),
        ),
        (
            op!(PUT "/administrators/{id}" "putAdministrator", Admin, Json("AdminBody"), Json, &[],
                "Add an administrator, or change the details given (Edit Administrators)"),
            put(admin::put),
        ),
        (
            op!(DELETE "/administrators/{id}" "deleteAdministrator", Admin, Nothing, Empty, &[],
                "Delete an administrator, their grants and their credentials"),
            delete(admin::delete),
        ),
        (
            op!(GET "/administrators/{id}/permissions" "administratorPermissions", Admin, Nothing, Json, &[],
                "An administrator's grants and effective permissions per organization"),
            get(admin::permissions),
        ),
        (
            op!(PUT "/administrators/{id}/notifications/{kind}" "setNotifications", Admin, Json("Channels"), Json, &[],
                "An administrator's notify-on-request channels for a request kind"),
            put(admin::notifications),
        ),
        (
            op!(GET "/roles" "listRoles", Admin, Nothing, Json, &[],
                "The roles the caller may see"),
            get(admin::roles),
        ),
        (
            op!(PUT "/roles/{id}" "defineRole", Admin, Json("RoleBody"), Json, &[],
                "Define or redefine a role (Role Administrator)"),
            put(admin::define_role),
        ),
        (
            op!(POST "/grants" "grant", Admin, Json("Grant"), Json, &[],
                "Grant a permission or assign a role for an organization"),
            post(admin::grant),
        ),
        (
            op!(POST "/grants/revoke" "revoke", Admin, Json("Grant"), Json, &[],
                "Revoke a permission or unassign a role"),
            post(admin::revoke),
        ),
        (
            op!(GET "/permissions" "permissionCatalogue", Admin, Nothing, Json, &[],
                "The permission catalogue"),
            get(admin::catalogue),
        ),
        (
            op!(POST "/deploys" "deploy", Admin, Input::Bundle, Json, &[],
                "Deploy a whole bundle (Edit or View Organizations on every organization it changes)"),
            post(deploy::deploy).layer(DefaultBodyLimit::max(BUNDLE_LIMIT)),
        ),
        (
            op!(GET "/deploys" "history", Admin, Nothing, Json,
                &[("limit", "how many versions, newest first (default 50)")],
                "The deploy history (Edit or View Organizations on every top-level organization)"),
            get(deploy::history),
        ),
        (
            op!(POST "/rollback" "rollback", Admin, Json("RollbackBody"), Json, &[],
                "Restore an earlier bundle version as a new version"),
            post(deploy::rollback),
        ),
        (
            op!(GET "/organizations/{org}/settings" "organizationSettings", Admin, Nothing, Json, &[],
                "The approval settings that apply to an organization"),
            get(deploy::settings),
        ),
        (
            op!(PATCH "/organizations/{org}/settings" "changeSettings", Admin, Json("SettingsChange"), Json, &[],
                "Change some of an organization's approval settings"),
            patch(deploy::change_settings),
        ),
        (
            op!(PUT "/computers/{id}/maintenance" "setMaintenance", Admin, Json("MaintenanceBody"), Json, &[],
                "Put a computer in a maintenance mode until a time"),
            put(deploy::set_maintenance),
        ),
        (
            op!(DELETE "/computers/{id}/maintenance" "endMaintenance", Admin, Nothing, Json, &[],
                "End a computer's maintenance mode now"),
            delete(deploy::end_maintenance),
        ),
        (
            op!(GET "/audit" "searchAudit", Admin, Nothing, Json,
                &[("log", "unified (default) or system"), ("organization", "entries of this organization"),
                  ("computer", "entries about this computer"), ("user", "entries about this user"),
                  ("sha256", "entries about this file"), ("kind", "entries of this kind (deny, approve, sign-in-failed, …)"),
                  ("since", "at or after this time (RFC 3339)"), ("until", "before this time (RFC 3339)")],
                "Search the audit the caller may read"),
            get(audit::search),
        ),
        (
            op!(GET "/audit/verify" "verifyAudit", Admin, Nothing, Json, &[],
                "Verify the audit's hash chain and signed head"),
            get(audit::verify),
        ),
        (
            op!(POST "/audit/verify" "verifyAuditExtends", Admin, Json("Checkpoint"), Json, &[],
                "Verify the audit, and that it extends a checkpoint kept elsewhere"),
            post(audit::verify_extends),
        ),
        (
            op!(GET "/audit/checkpoint" "auditCheckpoint", Admin, Nothing, Json, &[],
                "The audit's latest signed checkpoint, to keep elsewhere"),
            get(audit::checkpoint),
        ),
        (
            op!(POST "/audit/reanchor" "reanchorAudit", Admin, Json("ReanchorBody"), Json, &[],
                "Re-anchor a damaged audit (Super Admin on every top-level organization)"),
            post(audit::reanchor),
        ),
        (
            op!(PUT "/notifications/config" "configureNotifications", Admin, Json("NotifyConfig"), Json, &[],
                "Configure notification delivery (SMTP, SMS gateway, link base, retries)"),
            put(audit::configure),
        ),
        (
            op!(GET "/notifications/outbox" "outbox", Admin, Nothing, Json,
                &[("state", "pending, delivered or failed (default: all)")],
                "The notification outbox"),
            get(audit::outbox),
        ),
        (
            op!(POST "/install-keys" "createInstallKey", Admin, Json("InstallKeyBody"), Json, &[],
                "Make an install key for an organization (Edit Computers there); shown once"),
            post(agents::create_key),
        ),
        (
            op!(GET "/install-keys" "listInstallKeys", Admin, Nothing, Json, &[],
                "The install keys of organizations where the caller may edit computers"),
            get(agents::list_keys),
        ),
        (
            op!(DELETE "/organizations/{org}/install-keys/{name}" "revokeInstallKey", Admin, Nothing, Empty, &[],
                "Revoke an install key"),
            delete(agents::revoke_key),
        ),
        (
            op!(DELETE "/computers/{id}/agent" "revokeAgent", Admin, Nothing, Empty, &[],
                "Revoke a computer's agent credential; the agent must enroll again"),
            delete(agents::revoke_agent),
        ),
        (
            op!(POST "/agents/enroll" "enroll", Public, Json("Enrollment"), Json, &[],
                "Enroll an agent with an install key: its computer's id and its credential, once"),
            post(agents::enroll),
        ),
        (
            op!(GET "/agent/view" "agentView", Agent, Nothing, Json, &[],
                "The agent's computer's view: its organizations, group, computer, the policies that apply and their applications"),
            get(agents::view),
        ),
        (
            op!(POST "/agent/requests" "agentRequest", Agent, Json("FileBody"), Json, &[],
                "File a request for an execution blocked on the agent's own computer"),
            post(agents::file),
        ),
        (
            op!(POST "/agent/decisions" "agentDecisions", Agent, Json("Decisions"), Json, &[],
                "Upload the agent's own decisions (at most 1,000 at once), audited"),
            post(agents::decisions),
        ),
        (
            op!(GET "/openapi.json" "openapi", Public, Nothing, Json, &[],
                "This document"),
            get(crate::openapi::serve),
        ),
    ]
}

/// The API's router (paths under [`PREFIX`]).
pub fn router() -> Router<App> {
    operations()
        .into_iter()
        .fold(Router::new(), |router, (op, handler)| {
            router.route(&format!("{PREFIX}{}", op.path), handler)
        })
}
