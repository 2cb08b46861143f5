//! Closing requests and the settings around them: `approve`, `reject`, `expire`,
//! `suggestions`, `maintenance`.

use std::process::ExitCode;

use clap::{Args, ValueEnum};
use portcullis_engine::model::{FileRule, MaintenanceMode, Timestamp};
use portcullis_governance::{Approved, RequestRecord, ScopeKind, Suggestion};
use portcullis_server::api::{ApproveBody, MatchKind};
use serde_json::json;

use super::notify::deliver_now;
use super::text;
use crate::common::{field, shown};
use crate::error::CliError;
use crate::state::{open, Acting, StateArgs};

// What `approve` is given.
#[derive(Args, Debug)]
pub struct ApproveArgs {
    #[command(flatten)]
    acting: Acting,
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
}

// What `maintenance` is given.
#[derive(Args, Debug)]
pub struct MaintenanceArgs {
    #[command(flatten)]
    acting: Acting,
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

impl From<ScopeArg> for ScopeKind {
    fn from(scope: ScopeArg) -> ScopeKind {
        match scope {
            ScopeArg::Computer => ScopeKind::Computer,
            ScopeArg::Group => ScopeKind::Group,
            ScopeArg::Organization => ScopeKind::Organization,
            ScopeArg::Global => ScopeKind::Global,
        }
    }
}

impl From<ModeArg> for MaintenanceMode {
    fn from(mode: ModeArg) -> MaintenanceMode {
        match mode {
            ModeArg::Monitor => MaintenanceMode::Monitor,
            ModeArg::Learning => MaintenanceMode::Learning,
            ModeArg::Installation => MaintenanceMode::Installation,
        }
    }
}

/// The approval asked for, as the API takes it (and local mode turns into options).
fn approve_body(args: &ApproveArgs) -> Result<ApproveBody, CliError> {
    let rule = args
        .rule
        .as_deref()
        .map(|rule| {
            serde_json::from_str::<FileRule>(rule)
                .map_err(|e| format!("--rule: not a file rule: {e}"))
        })
        .transpose()?;
    let matching = match args.matching {
        MatchArg::Hash => MatchKind::Hash,
        MatchArg::Certificate => MatchKind::Certificate,
        MatchArg::CertificatePath => MatchKind::CertificatePath,
        MatchArg::Path => MatchKind::Path,
        MatchArg::Custom => MatchKind::Custom,
    };
    match (matching, &rule) {
        (MatchKind::Custom, None) => return Err("--match custom needs --rule JSON".into()),
        (MatchKind::Custom, Some(_)) | (_, None) => {}
        (_, Some(_)) => return Err("--rule goes with --match custom".into()),
    }
    Ok(ApproveBody {
        scope: Some(args.scope.into()),
        target: args.target.clone(),
        matching,
        rule,
        application: args.application.clone(),
        name: args.name.clone(),
        elevate: args.elevate,
        expires: args.expires,
        justification: args.justification.clone(),
        position: args.position,
    })
}

/// `approve`: writes the policy, deploys it, proves the execution is allowed.
pub fn approve(args: ApproveArgs) -> Result<ExitCode, CliError> {
    let body = approve_body(&args)?;
    let options = body.clone().options()?;
    let id = args.id;
    let approved: Approved = args.acting.run(
        |g, me| {
            let approved = g.approve(me, id, options)?;
            deliver_now(g);
            Ok(approved)
        },
        |c| c.send("POST", &format!("/requests/{id}/approve"), &body),
    )?;
    shown(args.acting.json(), &approved, || {
        text::approved(id, &approved)
    })
}

/// `reject`
pub fn reject(acting: &Acting, id: i64, reason: &str) -> Result<ExitCode, CliError> {
    let request: RequestRecord = acting.run(
        |g, me| {
            let request = g.reject(me, id, reason)?;
            deliver_now(g);
            Ok(request)
        },
        |c| {
            c.send(
                "POST",
                &format!("/requests/{id}/reject"),
                &json!({"reason": reason}),
            )
        },
    )?;
    shown(acting.json(), &request, || {
        format!("request {id} rejected: {reason}\n")
    })
}

/// `expire`
pub fn expire(state: &StateArgs) -> Result<ExitCode, CliError> {
    let mut gov = open(state)?;
    let expired = gov.expire_due()?;
    deliver_now(&mut gov);
    shown(state.json, &json!({"expired": expired}), || {
        format!("{} request(s) expired {:?}\n", expired.len(), expired)
    })
}

/// `suggestions`
pub fn suggestions(acting: &Acting) -> Result<ExitCode, CliError> {
    let suggestions: Vec<Suggestion> = acting.read("/suggestions", |g, me| g.suggestions(me))?;
    shown(acting.json(), &suggestions, || {
        if suggestions.is_empty() {
            return "no suggestions\n".to_owned();
        }
        suggestions.iter().map(text::suggestion).collect()
    })
}

/// `maintenance`
pub fn maintenance(args: MaintenanceArgs) -> Result<ExitCode, CliError> {
    let setting = match (args.end, args.mode, args.until) {
        (true, _, _) => None,
        (false, Some(mode), Some(until)) => Some((MaintenanceMode::from(mode), until)),
        _ => return Err("give --mode and --until, or --end".into()),
    };
    let computer = args.computer;
    let path = format!("/computers/{computer}/maintenance");
    let answer: serde_json::Value = args.acting.run(
        |g, me| {
            let version = g.set_maintenance(me, &computer, setting)?;
            Ok(json!({"computer": computer, "version": version}))
        },
        |c| match setting {
            Some((mode, until)) => c.send("PUT", &path, &json!({"mode": mode, "until": until})),
            None => c.delete(&path),
        },
    )?;
    let version = field(&answer, "version").as_i64().unwrap_or_default();
    shown(
        args.acting.json(),
        &json!({"computer": computer, "version": version}),
        || match setting {
            Some((mode, until)) => format!(
                "`{computer}` is in {} mode until {until} (bundle version {version})\n",
                mode.as_str()
            ),
            None => format!("`{computer}`'s maintenance mode ended (bundle version {version})\n"),
        },
    )
}
