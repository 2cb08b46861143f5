//! Closing requests and the settings around them: `approve`, `reject`, `expire`,
//! `suggestions`, `maintenance`.

use std::process::ExitCode;

use clap::{Args, ValueEnum};
use portcullis_engine::model::{FileRule, MaintenanceMode, Timestamp};
use portcullis_governance::{ApproveOptions, Matching, ScopeKind};
use serde_json::json;

use super::notify::deliver_now;
use super::text;
use crate::common::shown;
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

/// `--match` with `--rule`, as the approval's matching.
fn matching(matching: MatchArg, rule: Option<String>) -> Result<Matching, CliError> {
    Ok(match (matching, rule) {
        (MatchArg::Custom, Some(rule)) => Matching::Custom(
            serde_json::from_str::<FileRule>(&rule)
                .map_err(|e| format!("--rule: not a file rule: {e}"))?,
        ),
        (MatchArg::Custom, None) => return Err("--match custom needs --rule JSON".into()),
        (_, Some(_)) => return Err("--rule goes with --match custom".into()),
        (MatchArg::Hash, None) => Matching::Hash,
        (MatchArg::Certificate, None) => Matching::Certificate,
        (MatchArg::CertificatePath, None) => Matching::CertificatePath,
        (MatchArg::Path, None) => Matching::Path,
    })
}

/// `approve`: writes the policy, deploys it, proves the execution is allowed.
pub fn approve(args: ApproveArgs) -> Result<ExitCode, CliError> {
    let mut options = ApproveOptions::new(args.scope.into(), matching(args.matching, args.rule)?);
    options.target = args.target;
    options.application = args.application;
    options.application_name = args.name;
    options.elevate = args.elevate;
    options.expires = args.expires;
    options.justification = args.justification;
    options.position = args.position;
    let mut gov = args.acting.open()?;
    let approved = gov.approve(args.acting.id(), args.id, options)?;
    deliver_now(&mut gov);
    shown(args.acting.json(), &approved, || {
        text::approved(args.id, &approved)
    })
}

/// `reject`
pub fn reject(acting: &Acting, id: i64, reason: &str) -> Result<ExitCode, CliError> {
    let mut gov = acting.open()?;
    let request = gov.reject(acting.id(), id, reason)?;
    deliver_now(&mut gov);
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
    let suggestions = acting.open()?.suggestions(acting.id())?;
    shown(acting.json(), &suggestions, || {
        if suggestions.is_empty() {
            return "no suggestions\n".to_owned();
        }
        suggestions.iter().map(text::suggestion).collect()
    })
}

/// `maintenance`
pub fn maintenance(args: MaintenanceArgs) -> Result<ExitCode, CliError> {
    let mut gov = args.acting.open()?;
    let setting = match (args.end, args.mode, args.until) {
        (true, _, _) => None,
        (false, Some(mode), Some(until)) => Some((MaintenanceMode::from(mode), until)),
        _ => return Err("give --mode and --until, or --end".into()),
    };
    let computer = args.computer;
    let version = gov.set_maintenance(args.acting.id(), &computer, setting)?;
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
