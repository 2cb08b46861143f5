//! The governance commands: a state directory, requests, approvals, administrators,
//! roles, grants, maintenance modes, deploys. Each prints text for a person, or JSON
//! with `--json`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};
use portcullis_engine::model::{FileRule, MaintenanceMode, Sha256, Timestamp};
use portcullis_engine::plugin::{
    apply_rules, ApprovalReviewer, Execution, Hook, RulePlugin, RuledDecision,
};
use portcullis_engine::{DecisionRecord, Event, Outcome};
use portcullis_governance::{
    AdminChanges, AdminRecord, ApproveOptions, AuditLog, AuditQuery, Channels, Checkpoint,
    DeliveryReport, FileRequest, Governance, Grant, Grantable, Matching, NotifyConfig, Permission,
    RequestKind, RequestRecord, RequestState, Review, ReviewOutcome, RoleRecord, ScopeKind,
    Settings,
};
use serde::Serialize;
use serde_json::json;

use crate::common::{inert, inert_lines, read, to_json};

/// Where the state lives, who acts, and how to print.
#[derive(Args, Debug, Clone)]
pub struct StateArgs {
    /// The state directory (created by `portcullis init`).
    #[arg(long, value_name = "DIR", env = "PORTCULLIS_STATE")]
    state: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    /// The audit signing key (ed25519, owner-only; made by `init`). Default:
    /// `audit.key` in the state directory. Keep it where whoever can write the
    /// database cannot.
    #[arg(long, value_name = "FILE", env = "PORTCULLIS_AUDIT_KEY")]
    audit_key: Option<PathBuf>,
}

/// The administrator an action is done as.
#[derive(Args, Debug, Clone)]
pub struct Actor {
    /// The administrator's id.
    #[arg(long = "as", value_name = "ADMIN", env = "PORTCULLIS_ADMIN")]
    actor: String,
}

/// The governance subcommands.
#[derive(Subcommand, Debug)]
pub enum GovernCommand {
    /// Create a state directory from a bundle, with the first administrator (Super
    /// Admin on every top-level organization).
    Init {
        #[command(flatten)]
        state: StateArgs,
        /// The bundle (JSON).
        #[arg(long)]
        bundle: PathBuf,
        /// The first administrator's id.
        #[arg(long)]
        admin: String,
        /// Their display name.
        #[arg(long)]
        name: String,
        /// Their organization (default: the first top-level organization).
        #[arg(long)]
        org: Option<String>,
        /// Their email address.
        #[arg(long)]
        email: Option<String>,
    },
    /// Decide an execution event on the state's current policies (a deny is audited).
    Decide {
        #[command(flatten)]
        state: StateArgs,
        /// The event (JSON); `-` reads standard input.
        event: PathBuf,
    },
    /// File a request for a denied execution, as the user who was blocked.
    Request {
        #[command(flatten)]
        state: StateArgs,
        /// The blocked execution event (JSON); `-` reads standard input.
        event: PathBuf,
        /// What to ask for.
        #[arg(long, value_enum, default_value = "application")]
        kind: KindArg,
        /// Why the user needs it.
        #[arg(long)]
        message: String,
        /// Where to tell the user the outcome.
        #[arg(long)]
        email: Option<String>,
        /// A copy of the blocked file (its SHA-256 must be the event's).
        #[arg(long, value_name = "FILE")]
        attach: Option<PathBuf>,
    },
    /// List, show or fetch the file of requests.
    #[command(subcommand)]
    Requests(RequestsCommand),
    /// Approve a pending request: writes the policy, deploys it, and proves the
    /// request's execution is now allowed.
    Approve {
        #[command(flatten)]
        state: StateArgs,
        #[command(flatten)]
        actor: Actor,
        /// The request's number.
        id: i64,
        /// Where the new policy applies.
        #[arg(long, value_enum, default_value = "computer")]
        scope: ScopeArg,
        /// The computer, group or organization of the scope (default: the requesting
        /// computer, its group, its organization). An organization or global scope may
        /// name an ancestor organization.
        #[arg(long)]
        target: Option<String>,
        /// How the rule matches the file.
        #[arg(long = "match", value_enum, default_value = "hash")]
        matching: MatchArg,
        /// With `--match custom`: the file rule, as JSON (e.g.
        /// `{"path": "C:\\Tools\\*.exe"}`).
        #[arg(long, value_name = "JSON")]
        rule: Option<String>,
        /// Add the rule to this existing application (needs Allow Application Merge).
        #[arg(long)]
        application: Option<String>,
        /// The name of the new application (default: the file's name).
        #[arg(long)]
        name: Option<String>,
        /// Permit with elevation (always so for an elevation request).
        #[arg(long)]
        elevate: bool,
        /// The policy stops applying at this time (RFC 3339).
        #[arg(long)]
        expires: Option<Timestamp>,
        /// Why; needed for an approval wider than one computer.
        #[arg(long)]
        justification: Option<String>,
        /// The policy's position (default: after the organization's last policy).
        #[arg(long)]
        position: Option<i64>,
    },
    /// Reject a pending request with a reason.
    Reject {
        #[command(flatten)]
        state: StateArgs,
        #[command(flatten)]
        actor: Actor,
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
    Suggestions {
        #[command(flatten)]
        state: StateArgs,
        #[command(flatten)]
        actor: Actor,
    },
    /// Set or end a computer's maintenance mode.
    Maintenance {
        #[command(flatten)]
        state: StateArgs,
        #[command(flatten)]
        actor: Actor,
        /// The computer.
        computer: String,
        /// The mode; omit with `--end`.
        #[arg(long, value_enum, required_unless_present = "end")]
        mode: Option<ModeArg>,
        /// When the mode ends by itself (RFC 3339).
        #[arg(long, required_unless_present = "end")]
        until: Option<Timestamp>,
        /// End the computer's maintenance mode now.
        #[arg(long, conflicts_with_all = ["mode", "until"])]
        end: bool,
    },
    /// Manage administrators.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Define and list roles.
    #[command(subcommand)]
    Role(RoleCommand),
    /// Grant a permission or assign a role to an administrator for an organization.
    Grant {
        #[command(flatten)]
        state: StateArgs,
        #[command(flatten)]
        actor: Actor,
        #[command(flatten)]
        grant: GrantArgs,
    },
    /// Revoke a permission or unassign a role.
    Revoke {
        #[command(flatten)]
        state: StateArgs,
        #[command(flatten)]
        actor: Actor,
        #[command(flatten)]
        grant: GrantArgs,
    },
    /// Deploy a whole bundle (needs Edit or View Organizations on every organization it
    /// changes).
    Deploy {
        #[command(flatten)]
        state: StateArgs,
        #[command(flatten)]
        actor: Actor,
        /// The bundle (JSON).
        #[arg(long)]
        bundle: PathBuf,
    },
    /// Restore an earlier bundle version as a new version.
    Rollback {
        #[command(flatten)]
        state: StateArgs,
        #[command(flatten)]
        actor: Actor,
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
    Settings {
        #[command(flatten)]
        state: StateArgs,
        #[command(flatten)]
        actor: Actor,
        /// The organization.
        org: String,
        /// Change a setting: `suggest_after=2`, `request_ttl_seconds=86400`,
        /// `new_software_computer_first=false`, `wider_needs_justification=false`,
        /// `audit_allows=true`.
        #[arg(long, value_name = "KEY=VALUE")]
        set: Vec<String>,
    },
    /// Configure and run notification delivery.
    #[command(subcommand)]
    Notify(NotifyCommand),
    /// Search the audit, or verify its hash chain.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// List the permission catalogue.
    Permissions,
}

/// `requests …`
#[derive(Subcommand, Debug)]
pub enum RequestsCommand {
    /// The approval queue (pending requests, or `--status`).
    List {
        #[command(flatten)]
        state: StateArgs,
        #[command(flatten)]
        actor: Actor,
        /// Which requests.
        #[arg(long, value_enum, default_value = "pending")]
        status: StatusArg,
    },
    /// One request in full (needs an approve permission).
    Show {
        #[command(flatten)]
        state: StateArgs,
        #[command(flatten)]
        actor: Actor,
        /// The request's number, or the link from its notification.
        id: RequestRef,
    },
    /// Write the stored copy of a request's file.
    File {
        #[command(flatten)]
        state: StateArgs,
        #[command(flatten)]
        actor: Actor,
        /// The request's number.
        id: i64,
        /// Where to write it.
        #[arg(long)]
        out: PathBuf,
    },
}

/// `notify …`
#[derive(Subcommand, Debug)]
pub enum NotifyCommand {
    /// Set how notifications are delivered (SMTP, SMS gateway, link base, retries) from
    /// a JSON file; see docs/notifications.md.
    Configure {
        #[command(flatten)]
        state: StateArgs,
        #[command(flatten)]
        actor: Actor,
        /// The settings (JSON).
        #[arg(long)]
        file: PathBuf,
    },
    /// Send the notifications that are due (retries wait for their backoff unless
    /// `--all`).
    Deliver {
        #[command(flatten)]
        state: StateArgs,
        /// Try every pending notification now, whatever its backoff.
        #[arg(long)]
        all: bool,
    },
    /// The outbox: every notification and where it stands.
    Outbox {
        #[command(flatten)]
        state: StateArgs,
        #[command(flatten)]
        actor: Actor,
    },
}

/// `audit …`
#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Audit entries the actor may see, oldest first.
    Search {
        #[command(flatten)]
        state: StateArgs,
        #[command(flatten)]
        actor: Actor,
        /// The system audit (administrators' actions) instead of the unified audit.
        #[arg(long)]
        system: bool,
        /// Entries of this organization.
        #[arg(long)]
        org: Option<String>,
        /// Entries about this computer.
        #[arg(long)]
        computer: Option<String>,
        /// Entries about this user.
        #[arg(long)]
        user: Option<String>,
        /// Entries about this file.
        #[arg(long)]
        sha256: Option<Sha256>,
        /// Entries of this kind: deny, allow, request, approve, reject, expire,
        /// deploy, maintenance-set, maintenance-end, grant, revoke, …
        #[arg(long)]
        kind: Option<String>,
        /// At or after this time (RFC 3339).
        #[arg(long)]
        since: Option<Timestamp>,
        /// Before this time (RFC 3339).
        #[arg(long)]
        until: Option<Timestamp>,
    },
    /// Verify the hash chain and its signed head; exit 1 and name the first problem.
    /// Needs View Unified Audit or View System Audit somewhere.
    Verify {
        #[command(flatten)]
        state: StateArgs,
        #[command(flatten)]
        actor: Actor,
        /// A checkpoint exported earlier by `audit checkpoint`: the audit must still
        /// extend it (nothing it covered was removed or rewritten).
        #[arg(long, value_name = "FILE")]
        checkpoint: Option<PathBuf>,
    },
    /// Print the audit's latest signed checkpoint (entry count, last hash,
    /// signature) as JSON, to keep somewhere else. Same permission as `verify`.
    Checkpoint {
        #[command(flatten)]
        state: StateArgs,
        #[command(flatten)]
        actor: Actor,
        /// Write it to this file instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// After looking into a damaged audit: record what was lost or broken, sign a new
    /// head, and let writes go on. Needs Super Admin on every top-level organization.
    Reanchor {
        #[command(flatten)]
        state: StateArgs,
        #[command(flatten)]
        actor: Actor,
        /// What was looked into, and why the audit may go on.
        #[arg(long)]
        reason: String,
    },
}

/// `admin …`
#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    /// Add an administrator (`--name` and `--org` needed), or edit one's details
    /// (what is not given stays as it is).
    Add {
        #[command(flatten)]
        state: StateArgs,
        #[command(flatten)]
        actor: Actor,
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
        state: StateArgs,
        #[command(flatten)]
        actor: Actor,
        /// The administrator.
        id: String,
    },
    /// The administrators the actor may see.
    List {
        #[command(flatten)]
        state: StateArgs,
        #[command(flatten)]
        actor: Actor,
    },
    /// Set an administrator's "notify on request" channels for a request kind; with
    /// neither `--email` nor `--sms`, switch it off.
    Notify {
        #[command(flatten)]
        state: StateArgs,
        #[command(flatten)]
        actor: Actor,
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
        state: StateArgs,
        #[command(flatten)]
        actor: Actor,
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
        state: StateArgs,
        #[command(flatten)]
        actor: Actor,
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

/// What to grant or revoke.
#[derive(Args, Debug, Clone)]
pub struct GrantArgs {
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

/// A request named by its number or by the link that opens it
/// (`https://…/requests/7`).
#[derive(Clone, Copy, Debug)]
pub struct RequestRef(i64);

impl std::str::FromStr for RequestRef {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let number = text
            .trim_end_matches('/')
            .rsplit_once("/requests/")
            .map_or(text, |(_, id)| id);
        number
            .parse()
            .map(RequestRef)
            .map_err(|_| format!("`{text}` is neither a request number nor a link to a request"))
    }
}

/// Request kinds on the command line.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum KindArg {
    /// Run a blocked application.
    Application,
    /// Run a blocked file from a storage device.
    Storage,
    /// Run an application with administrator rights.
    Elevation,
}

/// Approval scopes on the command line.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ScopeArg {
    /// The requesting computer.
    Computer,
    /// Its group.
    Group,
    /// Its organization (or `--target` an ancestor).
    Organization,
    /// The organization and its descendants.
    Global,
}

/// How an approval matches.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum MatchArg {
    /// The SHA-256.
    Hash,
    /// The signer's subject and issuer.
    Certificate,
    /// The signer and the path.
    CertificatePath,
    /// The path.
    Path,
    /// `--rule JSON`.
    Custom,
}

/// Request states on the command line.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum StatusArg {
    /// Waiting.
    Pending,
    /// Approved.
    Approved,
    /// Rejected.
    Rejected,
    /// Expired.
    Expired,
    /// Every request.
    All,
}

/// Maintenance modes on the command line.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ModeArg {
    /// Deny becomes allow, marked would-have-been-denied.
    Monitor,
    /// As monitor, and unmatched executions are learned.
    Learning,
    /// Unmatched executions are allowed and learned.
    Installation,
}

impl StateArgs {
    /// Whether to print JSON.
    pub fn json(&self) -> bool {
        self.json
    }
}

impl Actor {
    /// The administrator's id.
    pub fn id(&self) -> &str {
        &self.actor
    }
}

/// Opens the state directory.
pub fn open(state: &StateArgs) -> Result<Governance, String> {
    Governance::open_dir_with_key(&state.state, state.audit_key.as_deref())
        .map_err(|e| e.to_string())
}

fn print<T: Serialize>(
    json: bool,
    value: &T,
    human: impl FnOnce() -> String,
) -> Result<(), String> {
    if json {
        println!("{}", to_json(value, true)?);
    } else {
        print!("{}", inert_lines(&human()));
    }
    Ok(())
}

fn read_event(path: &Path) -> Result<Event, String> {
    let text = read(path)?;
    portcullis_engine::Limits::default()
        .parse_event(&text)
        .map_err(|e| format!("`{}`: {e}", path.display()))
}

/// Runs one governance command.
pub fn run(command: GovernCommand) -> Result<ExitCode, String> {
    match command {
        GovernCommand::Init {
            state,
            bundle,
            admin,
            name,
            org,
            email,
        } => {
            let text = read(&bundle)?;
            let parsed = portcullis_engine::parse(&text)
                .map_err(|e| crate::common::render_errors(&bundle, &e))?;
            let organization = match org {
                Some(org) => org,
                None => parsed
                    .organizations
                    .iter()
                    .find(|o| o.parent.is_none())
                    .map(|o| o.id.clone())
                    .ok_or("the bundle has no organization")?,
            };
            let first = AdminRecord {
                id: admin,
                name,
                organization,
                email,
                phone: None,
            };
            let gov = Governance::init_dir_with_key(
                &state.state,
                state.audit_key.as_deref(),
                parsed,
                first.clone(),
            )
            .map_err(|e| e.to_string())?;
            print(
                state.json,
                &json!({"state": state.state, "version": gov.version(), "administrator": first.id}),
                || {
                    format!(
                        "initialized `{}` at bundle version {}; `{}` is Super Admin on every top-level organization\n",
                        state.state.display(),
                        gov.version(),
                        first.id
                    )
                },
            )?;
        }
        GovernCommand::Decide { state, event } => {
            let mut gov = open(&state)?;
            let event = read_event(&event)?;
            let ruled = decide_with_rules(&mut gov, &event)?;
            // The decision's own fields, plus what the rule plugins did when they did
            // anything.
            let mut shown = serde_json::to_value(&ruled.decision).map_err(|e| e.to_string())?;
            if let Some(fields) = shown.as_object_mut() {
                if let Some(deny) = &ruled.denied_by {
                    fields.insert("denied_by_plugin".to_owned(), json!(deny));
                }
                if !ruled.failures.is_empty() {
                    fields.insert("plugin_failures".to_owned(), json!(ruled.failures));
                }
            }
            print(state.json, &shown, || {
                let mut out = describe_decision(&ruled.decision);
                if let Some(deny) = &ruled.denied_by {
                    out = format!(
                        "deny (rule plugin `{}`: {}); the static decision was {}",
                        deny.plugin, deny.reason, out
                    );
                }
                for failure in &ruled.failures {
                    out.push_str(&format!(
                        "rule plugin `{}` failed and abstained: {}\n",
                        failure.plugin, failure.failure
                    ));
                }
                out
            })?;
        }
        GovernCommand::Request {
            state,
            event,
            kind,
            message,
            email,
            attach,
        } => {
            let mut gov = open(&state)?;
            let event = read_event(&event)?;
            let attachment = match &attach {
                None => None,
                Some(path) => Some(read_attachment(path)?),
            };
            let request = gov
                .file_request(FileRequest {
                    kind: request_kind(kind),
                    event,
                    message,
                    email,
                    attachment,
                })
                .map_err(|e| e.to_string())?;
            let reviewers = crate::plugin::state_plugins(
                &mut gov,
                &request.filed.organization,
                Hook::ApprovalReview,
            )?;
            let review = if reviewers.is_empty() {
                None
            } else {
                let refs: Vec<&dyn ApprovalReviewer> = reviewers
                    .iter()
                    .map(|r| r as &dyn ApprovalReviewer)
                    .collect();
                Some(gov.review(request.id, &refs).map_err(|e| e.to_string())?)
            };
            deliver_now(&mut gov);
            let shown = json!({"request": request, "review": review});
            print(state.json, &shown, || {
                let mut out = format!(
                    "request {} filed ({}, pending) for {} on {}\n",
                    request.id,
                    request.filed.kind,
                    inert(&request.filed.event.path),
                    request.filed.computer
                );
                if let Some(review) = &review {
                    out.push_str(&describe_review(review));
                }
                out
            })?;
        }
        GovernCommand::Requests(command) => return requests(command),
        GovernCommand::Approve {
            state,
            actor,
            id,
            scope,
            target,
            matching,
            rule,
            application,
            name,
            elevate,
            expires,
            justification,
            position,
        } => {
            let matching = match (matching, rule) {
                (MatchArg::Custom, Some(rule)) => Matching::Custom(
                    serde_json::from_str::<FileRule>(&rule)
                        .map_err(|e| format!("--rule: not a file rule: {e}"))?,
                ),
                (MatchArg::Custom, None) => {
                    return Err("--match custom needs --rule JSON".to_owned())
                }
                (_, Some(_)) => return Err("--rule goes with --match custom".to_owned()),
                (MatchArg::Hash, None) => Matching::Hash,
                (MatchArg::Certificate, None) => Matching::Certificate,
                (MatchArg::CertificatePath, None) => Matching::CertificatePath,
                (MatchArg::Path, None) => Matching::Path,
            };
            let mut options = ApproveOptions::new(
                match scope {
                    ScopeArg::Computer => ScopeKind::Computer,
                    ScopeArg::Group => ScopeKind::Group,
                    ScopeArg::Organization => ScopeKind::Organization,
                    ScopeArg::Global => ScopeKind::Global,
                },
                matching,
            );
            options.target = target;
            options.application = application;
            options.application_name = name;
            options.elevate = elevate;
            options.expires = expires;
            options.justification = justification;
            options.position = position;
            let mut gov = open(&state)?;
            let approved = gov
                .approve(&actor.actor, id, options)
                .map_err(|e| e.to_string())?;
            deliver_now(&mut gov);
            print(state.json, &approved, || {
                let mut out = String::new();
                if let Some(approval) = approved
                    .request
                    .closure
                    .as_ref()
                    .and_then(|c| c.approval.as_ref())
                {
                    let _ = writeln!(
                        out,
                        "request {id} approved: policy `{}` (position {}, {} `{}`) permits application `{}`{}{}",
                        approval.policy,
                        approval.position,
                        approval.scope,
                        approval.target,
                        approval.application,
                        if approval.elevate { " with elevation" } else { "" },
                        approval.expires.map(|t| format!(" until {t}")).unwrap_or_default(),
                    );
                    let _ = writeln!(
                        out,
                        "deployed as bundle version {}; the request's execution is now: {}",
                        approval.version,
                        describe_decision(&approved.proof).trim_end()
                    );
                }
                if let Some(s) = &approved.suggestion {
                    let _ = writeln!(
                        out,
                        "suggestion: {} was approved on {} computers ({}); consider one policy at {} scope for `{}`",
                        s.path,
                        s.computers.len(),
                        s.computers.join(", "),
                        s.scope,
                        s.target
                    );
                }
                out
            })?;
        }
        GovernCommand::Reject {
            state,
            actor,
            id,
            reason,
        } => {
            let mut gov = open(&state)?;
            let request = gov
                .reject(&actor.actor, id, &reason)
                .map_err(|e| e.to_string())?;
            deliver_now(&mut gov);
            print(state.json, &request, || {
                format!("request {id} rejected: {reason}\n")
            })?;
        }
        GovernCommand::Expire { state } => {
            let mut gov = open(&state)?;
            let expired = gov.expire_due().map_err(|e| e.to_string())?;
            deliver_now(&mut gov);
            print(state.json, &json!({"expired": expired}), || {
                format!("{} request(s) expired {:?}\n", expired.len(), expired)
            })?;
        }
        GovernCommand::Suggestions { state, actor } => {
            let mut gov = open(&state)?;
            let suggestions = gov.suggestions(&actor.actor).map_err(|e| e.to_string())?;
            print(state.json, &suggestions, || {
                if suggestions.is_empty() {
                    return "no suggestions\n".to_owned();
                }
                suggestions
                    .iter()
                    .map(|s| {
                        format!(
                            "{} ({}) approved on {} computers of `{}` (requests {:?}): consider {} scope `{}`\n",
                            s.path,
                            s.sha256,
                            s.computers.len(),
                            s.organization,
                            s.requests,
                            s.scope,
                            s.target
                        )
                    })
                    .collect()
            })?;
        }
        GovernCommand::Maintenance {
            state,
            actor,
            computer,
            mode,
            until,
            end,
        } => {
            let mut gov = open(&state)?;
            let setting = match (end, mode, until) {
                (true, _, _) => None,
                (false, Some(mode), Some(until)) => Some((
                    match mode {
                        ModeArg::Monitor => MaintenanceMode::Monitor,
                        ModeArg::Learning => MaintenanceMode::Learning,
                        ModeArg::Installation => MaintenanceMode::Installation,
                    },
                    until,
                )),
                _ => return Err("give --mode and --until, or --end".to_owned()),
            };
            let version = gov
                .set_maintenance(&actor.actor, &computer, setting)
                .map_err(|e| e.to_string())?;
            print(
                state.json,
                &json!({"computer": computer, "version": version}),
                || match setting {
                    Some((mode, until)) => format!(
                        "`{computer}` is in {} mode until {until} (bundle version {version})\n",
                        mode.as_str()
                    ),
                    None => format!(
                        "`{computer}`'s maintenance mode ended (bundle version {version})\n"
                    ),
                },
            )?;
        }
        GovernCommand::Admin(command) => return admin(command),
        GovernCommand::Role(command) => return role(command),
        GovernCommand::Grant {
            state,
            actor,
            grant,
        } => {
            let mut gov = open(&state)?;
            let grant = to_grant(grant);
            gov.grant(&actor.actor, grant.clone())
                .map_err(|e| e.to_string())?;
            print(state.json, &grant, || {
                format!(
                    "granted {} to `{}` in `{}`\n",
                    what(&grant),
                    grant.admin,
                    grant.organization
                )
            })?;
        }
        GovernCommand::Revoke {
            state,
            actor,
            grant,
        } => {
            let mut gov = open(&state)?;
            let grant = to_grant(grant);
            gov.revoke(&actor.actor, grant.clone())
                .map_err(|e| e.to_string())?;
            print(state.json, &grant, || {
                format!(
                    "revoked {} from `{}` in `{}`\n",
                    what(&grant),
                    grant.admin,
                    grant.organization
                )
            })?;
        }
        GovernCommand::Deploy {
            state,
            actor,
            bundle,
        } => {
            let mut gov = open(&state)?;
            let text = read(&bundle)?;
            let parsed = portcullis_engine::parse(&text)
                .map_err(|e| crate::common::render_errors(&bundle, &e))?;
            let version = gov
                .deploy(
                    &actor.actor,
                    parsed,
                    &format!("deploy {}", bundle.display()),
                )
                .map_err(|e| e.to_string())?;
            print(state.json, &json!({"version": version}), || {
                format!("deployed as bundle version {version}\n")
            })?;
        }
        GovernCommand::Rollback { state, actor, to } => {
            let mut gov = open(&state)?;
            let version = gov.rollback(&actor.actor, to).map_err(|e| e.to_string())?;
            print(state.json, &json!({"version": version}), || {
                format!("rolled back; now at bundle version {version}\n")
            })?;
        }
        GovernCommand::History { state } => {
            let mut gov = open(&state)?;
            let history = gov.deploys(50).map_err(|e| e.to_string())?;
            print(state.json, &history, || {
                history
                    .iter()
                    .map(|d| {
                        format!(
                            "{:>4}  {}  {:<12} {}\n",
                            d.version, d.note.time, d.note.actor, d.note.reason
                        )
                    })
                    .collect()
            })?;
        }
        GovernCommand::Settings {
            state,
            actor,
            org,
            set,
        } => {
            let mut gov = open(&state)?;
            let mut settings = gov.settings_for(&org).map_err(|e| e.to_string())?;
            if !set.is_empty() {
                let mut value = serde_json::to_value(&settings).map_err(|e| e.to_string())?;
                for assignment in &set {
                    let (key, raw) = assignment
                        .split_once('=')
                        .ok_or_else(|| format!("--set `{assignment}`: write KEY=VALUE"))?;
                    let parsed: serde_json::Value = serde_json::from_str(raw).map_err(|_| {
                        format!("--set `{assignment}`: the value must be a number or true/false")
                    })?;
                    match value.get_mut(key) {
                        Some(slot) => *slot = parsed,
                        None => {
                            return Err(format!("--set `{assignment}`: unknown setting `{key}`"))
                        }
                    }
                }
                settings =
                    serde_json::from_value::<Settings>(value).map_err(|e| format!("--set: {e}"))?;
                gov.set_settings(&actor.actor, &org, settings.clone())
                    .map_err(|e| e.to_string())?;
            }
            print(state.json, &settings, || {
                format!(
                    "`{org}`: new software at computer scope first: {}; wider approvals need a justification: {}; suggest a wider policy after {} computers; requests expire after {} s; allowed executions audited: {}\n",
                    settings.new_software_computer_first,
                    settings.wider_needs_justification,
                    settings.suggest_after,
                    settings.request_ttl_seconds,
                    settings.audit_allows
                )
            })?;
        }
        GovernCommand::Audit(command) => return audit(command),
        GovernCommand::Notify(command) => return notify(command),
        GovernCommand::Permissions => {
            for p in Permission::ALL {
                println!("{:<30} {}", p.id(), p.name());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn requests(command: RequestsCommand) -> Result<ExitCode, String> {
    match command {
        RequestsCommand::List {
            state,
            actor,
            status,
        } => {
            let mut gov = open(&state)?;
            let status = match status {
                StatusArg::Pending => Some(RequestState::Pending),
                StatusArg::Approved => Some(RequestState::Approved),
                StatusArg::Rejected => Some(RequestState::Rejected),
                StatusArg::Expired => Some(RequestState::Expired),
                StatusArg::All => None,
            };
            let list = gov
                .requests(&actor.actor, status)
                .map_err(|e| e.to_string())?;
            print(state.json, &list, || {
                if list.is_empty() {
                    return "no requests\n".to_owned();
                }
                list.iter().map(summary).collect()
            })?;
        }
        RequestsCommand::Show { state, actor, id } => {
            let mut gov = open(&state)?;
            let request = gov.request(&actor.actor, id.0).map_err(|e| e.to_string())?;
            print(state.json, &request, || detail(&request))?;
        }
        RequestsCommand::File {
            state,
            actor,
            id,
            out,
        } => {
            let mut gov = open(&state)?;
            let bytes = gov
                .request_file(&actor.actor, id)
                .map_err(|e| e.to_string())?;
            std::fs::write(&out, &bytes)
                .map_err(|e| format!("cannot write `{}`: {e}", out.display()))?;
            print(
                state.json,
                &json!({"written": out, "bytes": bytes.len()}),
                || format!("wrote {} bytes to `{}`\n", bytes.len(), out.display()),
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn notify(command: NotifyCommand) -> Result<ExitCode, String> {
    match command {
        NotifyCommand::Configure { state, actor, file } => {
            let text = read(&file)?;
            let config: NotifyConfig =
                serde_json::from_str(&text).map_err(|e| format!("`{}`: {e}", file.display()))?;
            let mut gov = open(&state)?;
            gov.configure_notifications(&actor.actor, config)
                .map_err(|e| e.to_string())?;
            print(state.json, &json!({"configured": true}), || {
                "notification delivery configured\n".to_owned()
            })?;
        }
        NotifyCommand::Deliver { state, all } => {
            let mut gov = open(&state)?;
            let report = gov.deliver_notifications(all).map_err(|e| e.to_string())?;
            print(state.json, &report, || describe_delivery(&report))?;
            if report.failed > 0 {
                return Ok(ExitCode::FAILURE);
            }
        }
        NotifyCommand::Outbox { state, actor } => {
            let mut gov = open(&state)?;
            let outbox = gov.outbox(&actor.actor, None).map_err(|e| e.to_string())?;
            print(state.json, &outbox, || {
                if outbox.is_empty() {
                    return "the outbox is empty\n".to_owned();
                }
                outbox
                    .iter()
                    .map(|o| {
                        format!(
                            "{:>4}  request {:<4} {:<12} {:<5} {:<28} {:<9} attempts {}{}\n",
                            o.id,
                            o.notification.request,
                            o.notification.reason,
                            o.notification.channel.as_str(),
                            o.notification.recipient,
                            o.state.as_str(),
                            o.attempts,
                            o.last_error
                                .as_deref()
                                .map(|e| format!(" ({e})"))
                                .unwrap_or_default()
                        )
                    })
                    .collect()
            })?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn describe_delivery(report: &DeliveryReport) -> String {
    let mut out = format!(
        "notifications: {} delivered, {} to retry, {} given up{}\n",
        report.delivered,
        report.retrying,
        report.failed,
        if report.skipped > 0 {
            format!(", {} left to the sender that holds them", report.skipped)
        } else {
            String::new()
        }
    );
    for (id, error) in &report.errors {
        let _ = writeln!(out, "  {id}: {error}");
    }
    out
}

/// After a command that wrote notifications: send what is due, if delivery is
/// configured. A failure is reported and left to retry; the command still succeeded.
fn deliver_now(gov: &mut Governance) {
    match gov.notify_config() {
        Ok(Some(_)) => match gov.deliver_notifications(false) {
            Ok(report) if report.errors.is_empty() => {}
            Ok(report) => eprint!("portcullis: {}", describe_delivery(&report)),
            Err(error) => eprintln!("portcullis: notifications: {error}"),
        },
        Ok(None) => {}
        Err(error) => eprintln!("portcullis: notifications: {error}"),
    }
}

fn audit(command: AuditCommand) -> Result<ExitCode, String> {
    match command {
        AuditCommand::Search {
            state,
            actor,
            system,
            org,
            computer,
            user,
            sha256,
            kind,
            since,
            until,
        } => {
            let mut gov = open(&state)?;
            let query = AuditQuery {
                log: Some(if system {
                    AuditLog::System
                } else {
                    AuditLog::Unified
                }),
                organization: org,
                computer,
                user,
                sha256,
                kind,
                since,
                until,
            };
            let entries = gov
                .search_audit(&actor.actor, &query)
                .map_err(|e| e.to_string())?;
            print(state.json, &entries, || {
                if entries.is_empty() {
                    return "no entries\n".to_owned();
                }
                entries
                    .iter()
                    .map(|e| {
                        format!(
                            "{:>5}  {}  {:<16} {:<14} {:<12} {}\n",
                            e.seq,
                            e.entry.time,
                            e.entry.kind,
                            e.entry.organization.as_deref().unwrap_or("-"),
                            e.entry.actor,
                            e.entry.detail
                        )
                    })
                    .collect()
            })?;
        }
        AuditCommand::Verify {
            state,
            actor,
            checkpoint,
        } => {
            let mut gov = open(&state)?;
            may_read_audit(&mut gov, &actor)?;
            let result = match &checkpoint {
                None => gov.verify_audit(),
                Some(path) => {
                    let text = read(path)?;
                    let checkpoint: Checkpoint = serde_json::from_str(&text)
                        .map_err(|e| format!("`{}`: not a checkpoint: {e}", path.display()))?;
                    gov.verify_audit_extends(&checkpoint)
                }
            };
            return match result.map_err(|e| e.to_string())? {
                Ok(count) => {
                    print(state.json, &json!({"verified": count}), || {
                        let extends = checkpoint
                            .as_ref()
                            .map(|p| format!(" and extends `{}`", p.display()))
                            .unwrap_or_default();
                        format!("the audit verifies{extends}: {count} entries\n")
                    })?;
                    Ok(ExitCode::SUCCESS)
                }
                Err(problem) => {
                    print(state.json, &json!({"broken": problem}), || {
                        format!("the audit is broken: {problem}\n")
                    })?;
                    Ok(ExitCode::FAILURE)
                }
            };
        }
        AuditCommand::Checkpoint { state, actor, out } => {
            let mut gov = open(&state)?;
            may_read_audit(&mut gov, &actor)?;
            let checkpoint = gov.audit_checkpoint().map_err(|e| e.to_string())?;
            let text = to_json(&checkpoint, true)?;
            match out {
                Some(path) => {
                    std::fs::write(&path, format!("{text}\n"))
                        .map_err(|e| format!("cannot write `{}`: {e}", path.display()))?;
                    eprintln!(
                        "wrote the checkpoint of entry {} to `{}`",
                        checkpoint.count,
                        path.display()
                    );
                }
                None => println!("{text}"),
            }
        }
        AuditCommand::Reanchor {
            state,
            actor,
            reason,
        } => {
            let mut gov = open(&state)?;
            let problems = gov
                .reanchor_audit(&actor.actor, &reason)
                .map_err(|e| e.to_string())?;
            print(state.json, &json!({"reanchored": problems}), || {
                let mut out =
                    String::from("the audit is re-anchored; this entry records what was found:\n");
                for problem in &problems {
                    let _ = writeln!(out, "  {problem}");
                }
                out
            })?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Reading the audit (to verify it or export its checkpoint) needs the right to read
/// some audit: View Unified Audit or View System Audit.
fn may_read_audit(gov: &mut Governance, actor: &Actor) -> Result<(), String> {
    if let Err(error) = gov.search_audit(&actor.actor, &AuditQuery::default()) {
        let system = AuditQuery {
            log: Some(AuditLog::System),
            ..AuditQuery::default()
        };
        gov.search_audit(&actor.actor, &system)
            .map_err(|_| error.to_string())?;
    }
    Ok(())
}

fn admin(command: AdminCommand) -> Result<ExitCode, String> {
    match command {
        AdminCommand::Add {
            state,
            actor,
            id,
            name,
            org,
            email,
            phone,
        } => {
            let mut gov = open(&state)?;
            let record = gov
                .update_admin(
                    &actor.actor,
                    &id,
                    AdminChanges {
                        name,
                        organization: org,
                        email,
                        phone,
                    },
                )
                .map_err(|e| e.to_string())?;
            print(state.json, &record, || {
                format!(
                    "administrator `{}` saved in `{}`\n",
                    record.id, record.organization
                )
            })?;
        }
        AdminCommand::Delete { state, actor, id } => {
            let mut gov = open(&state)?;
            gov.delete_admin(&actor.actor, &id)
                .map_err(|e| e.to_string())?;
            print(state.json, &json!({"deleted": id}), || {
                format!("administrator `{id}` deleted\n")
            })?;
        }
        AdminCommand::List { state, actor } => {
            let mut gov = open(&state)?;
            let admins = gov.admins(&actor.actor).map_err(|e| e.to_string())?;
            print(state.json, &admins, || {
                admins
                    .iter()
                    .map(|a| {
                        format!(
                            "{:<16} {:<24} {:<14} {}\n",
                            a.id,
                            a.name,
                            a.organization,
                            a.email.as_deref().unwrap_or("")
                        )
                    })
                    .collect()
            })?;
        }
        AdminCommand::Notify {
            state,
            actor,
            id,
            kind,
            email,
            sms,
        } => {
            let mut gov = open(&state)?;
            let kind = request_kind(kind);
            gov.set_notify(&actor.actor, &id, kind, Channels { email, sms })
                .map_err(|e| e.to_string())?;
            print(
                state.json,
                &json!({"admin": id, "kind": kind, "email": email, "sms": sms}),
                || {
                    let channels = match (email, sms) {
                        (true, true) => "email and SMS",
                        (true, false) => "email",
                        (false, true) => "SMS",
                        (false, false) => "nothing (off)",
                    };
                    format!("`{id}` is notified of new {kind} requests by {channels}\n")
                },
            )?;
        }
        AdminCommand::Show { state, actor, id } => {
            let mut gov = open(&state)?;
            let held = gov
                .permissions_of(&actor.actor, &id)
                .map_err(|e| e.to_string())?;
            let grants = gov.grants(&id).map_err(|e| e.to_string())?;
            print(
                state.json,
                &json!({"grants": grants, "permissions": held}),
                || {
                    let mut out = String::new();
                    for g in &grants {
                        let _ = writeln!(out, "grant: {} in `{}`", what(g), g.organization);
                    }
                    for (org, perms) in &held {
                        let names: Vec<&str> = perms.iter().map(|p| p.name()).collect();
                        let _ = writeln!(out, "{org}: {}", names.join(", "));
                    }
                    out
                },
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn role(command: RoleCommand) -> Result<ExitCode, String> {
    match command {
        RoleCommand::Define {
            state,
            actor,
            id,
            org,
            name,
            permissions,
        } => {
            let mut gov = open(&state)?;
            let role = RoleRecord {
                id,
                organization: org,
                name,
                permissions,
            };
            gov.define_role(&actor.actor, role.clone())
                .map_err(|e| e.to_string())?;
            print(state.json, &role, || {
                format!("role `{}` defined in `{}`\n", role.id, role.organization)
            })?;
        }
        RoleCommand::List { state } => {
            let mut gov = open(&state)?;
            let roles = gov.roles().map_err(|e| e.to_string())?;
            print(state.json, &roles, || {
                roles
                    .iter()
                    .map(|r| {
                        let names: Vec<&str> = r.permissions.iter().map(|p| p.name()).collect();
                        format!(
                            "{:<16} {:<14} {}: {}\n",
                            r.id,
                            r.organization,
                            r.name,
                            names.join(", ")
                        )
                    })
                    .collect()
            })?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn request_kind(kind: KindArg) -> RequestKind {
    match kind {
        KindArg::Application => RequestKind::Application,
        KindArg::Storage => RequestKind::Storage,
        KindArg::Elevation => RequestKind::Elevation,
    }
}

fn to_grant(args: GrantArgs) -> Grant {
    Grant {
        admin: args.admin,
        organization: args.org,
        what: match (args.permission, args.role) {
            (Some(p), _) => Grantable::Permission(p),
            (None, Some(r)) => Grantable::Role(r),
            // clap requires one of the two.
            (None, None) => Grantable::Role(String::new()),
        },
    }
}

fn what(grant: &Grant) -> String {
    match &grant.what {
        Grantable::Permission(p) => format!("permission {p}"),
        Grantable::Role(r) => format!("role `{r}`"),
    }
}

fn read_attachment(path: &Path) -> Result<Vec<u8>, String> {
    let meta =
        std::fs::metadata(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    if !meta.is_file() {
        return Err(format!("`{}` is not a file", path.display()));
    }
    if meta.len() > portcullis_governance::MAX_ATTACHMENT as u64 {
        return Err(format!(
            "`{}` has {} bytes; a request may carry at most {}",
            path.display(),
            meta.len(),
            portcullis_governance::MAX_ATTACHMENT
        ));
    }
    std::fs::read(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))
}

/// Decides on the state's policies, consults the rule plugins that apply to the
/// computer's organization (only on an allow), and audits the final decision.
fn decide_with_rules(gov: &mut Governance, event: &Event) -> Result<RuledDecision, String> {
    let decision = gov.engine().decide(event);
    let computer = gov
        .bundle()
        .computers
        .iter()
        .find(|c| c.id == event.computer)
        .map(|c| (c.group.clone(), c.os));
    let org = computer.as_ref().and_then(|(group, _)| {
        gov.bundle()
            .groups
            .iter()
            .find(|g| &g.id == group)
            .map(|g| g.organization.clone())
    });
    let ruled = match (org, computer) {
        (Some(org), Some((_, os))) => {
            let rules = crate::plugin::state_plugins(gov, &org, Hook::Rule)?;
            let refs: Vec<&dyn RulePlugin> = rules.iter().map(|r| r as &dyn RulePlugin).collect();
            apply_rules(decision, &Execution::from_event(event, os), &refs)
        }
        _ => apply_rules(
            decision,
            &Execution::from_event(event, portcullis_engine::model::Os::Linux),
            &[],
        ),
    };
    gov.record_decisions(&[(event.clone(), ruled.decision.clone())])
        .map_err(|e| e.to_string())?;
    Ok(ruled)
}

fn describe_review(review: &Review) -> String {
    let mut out = String::new();
    for report in &review.plugins {
        match (&report.verdict, &report.failure) {
            (_, Some(failure)) => {
                let _ = writeln!(
                    out,
                    "  plugin `{}` failed and abstained: {failure}",
                    report.plugin
                );
            }
            (Some(verdict), None) => {
                let _ = writeln!(
                    out,
                    "  plugin `{}`: {}",
                    report.plugin,
                    serde_json::to_string(verdict).unwrap_or_default()
                );
            }
            (None, None) => {}
        }
    }
    let _ = match &review.outcome {
        ReviewOutcome::Approved { request } => writeln!(
            out,
            "approved by {}",
            request
                .closure
                .as_ref()
                .map_or("a plugin", |c| c.by.as_str())
        ),
        ReviewOutcome::Rejected { request } => writeln!(
            out,
            "rejected by {}: {}",
            request
                .closure
                .as_ref()
                .map_or("a plugin", |c| c.by.as_str()),
            request.closure.as_ref().map_or("", |c| c.reason.as_str())
        ),
        ReviewOutcome::Routed { administrators } => {
            writeln!(out, "routed to {}", administrators.join(", "))
        }
        ReviewOutcome::LeftForPeople {
            reason: Some(reason),
        } => {
            writeln!(out, "left for an administrator: {reason}")
        }
        ReviewOutcome::LeftForPeople { reason: None } => {
            writeln!(out, "left for an administrator")
        }
    };
    out
}

fn describe_decision(d: &DecisionRecord) -> String {
    let by = match (&d.policy, d.default_deny, d.mode) {
        (Some(policy), _, _) => format!("policy `{policy}`"),
        (None, true, Some(mode)) => format!("default deny, {} mode", mode.as_str()),
        (None, true, None) => "default deny".to_owned(),
        (None, false, Some(mode)) => format!("{} mode", mode.as_str()),
        (None, false, None) => "no policy".to_owned(),
    };
    let mut out = match d.decision {
        Outcome::Allow => format!(
            "allow{}{} ({by})",
            if d.elevated { " elevated" } else { "" },
            if d.would_deny {
                ", would have been denied"
            } else {
                ""
            }
        ),
        Outcome::Deny => format!("deny ({by})"),
    };
    if d.can_request {
        let (kind, command) = match d.request_kind {
            Some(portcullis_engine::RequestKind::Elevation) => {
                ("elevation", "portcullis request --kind elevation")
            }
            _ => ("application", "portcullis request"),
        };
        let _ = write!(out, "; the user may request {kind} access (`{command}`)");
    }
    out.push('\n');
    out
}

fn summary(r: &RequestRecord) -> String {
    format!(
        "{:>4}  {:<8} {:<11} {:<12} {:<16} {:<18} {}  {}\n",
        r.id,
        r.state.as_str(),
        r.filed.kind.as_str(),
        inert(&r.filed.organization),
        inert(&r.filed.computer),
        inert(&r.filed.event.user),
        inert(&r.filed.event.path),
        r.filed.created
    )
}

fn detail(r: &RequestRecord) -> String {
    let mut out = String::new();
    let f = &r.filed;
    let _ = writeln!(out, "request {} ({}, {})", r.id, f.kind, r.state.as_str());
    let _ = writeln!(out, "  organization  {}", inert(&f.organization));
    let _ = writeln!(out, "  computer      {}", inert(&f.computer));
    let _ = writeln!(out, "  user          {}", inert(&f.event.user));
    let _ = writeln!(out, "  filed         {}", f.created);
    let _ = writeln!(out, "  message       {}", inert(&f.message));
    if let Some(email) = &f.email {
        let _ = writeln!(out, "  email         {}", inert(email));
    }
    let _ = writeln!(out, "  path          {}", inert(&f.event.path));
    let _ = writeln!(out, "  sha256        {}", f.event.sha256);
    match f.event.signature.signers.first() {
        Some(signer) => {
            let _ = writeln!(
                out,
                "  signer        {} ({:?})",
                inert(&signer.subject.to_string()),
                f.event.signature.status
            );
        }
        None => {
            let _ = writeln!(out, "  signer        unsigned");
        }
    }
    let _ = writeln!(
        out,
        "  denied by     {}",
        f.denied_by
            .as_deref()
            .map_or("the default deny".to_owned(), |p| format!("policy `{p}`"))
    );
    let _ = writeln!(
        out,
        "  file copy     {}",
        if f.file.is_some() { "stored" } else { "none" }
    );
    if let Some(c) = &r.closure {
        let _ = writeln!(
            out,
            "  {} by {} at {}: {}",
            c.state.as_str(),
            inert(&c.by),
            c.at,
            inert(&c.reason)
        );
        if let Some(a) = &c.approval {
            let _ = writeln!(
                out,
                "  policy        `{}` ({} `{}`, match {}, application `{}`, version {})",
                a.policy, a.scope, a.target, a.matching, a.application, a.version
            );
        }
    }
    out
}
