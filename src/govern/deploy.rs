//! The state's bundle and its versions: `init`, `deploy`, `rollback`, `history`,
//! `settings`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use portcullis_governance::{AdminRecord, DeployRecord, Governance, Settings};
use serde_json::json;

use super::text;
use crate::common::{field, parse_bundle, read_password, shown};
use crate::error::CliError;
use crate::state::{open, Acting, StateArgs};

// What `init` is given.
#[derive(Args, Debug)]
pub struct InitArgs {
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
    /// Their password for `portcullis serve`, from this file (`-`: standard input; the
    /// first line, at least 12 characters). Without it, they get a password through an
    /// invitation, or `portcullis admin password` on this machine.
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
}

// What `settings` is given.
#[derive(Args, Debug)]
pub struct SettingsArgs {
    #[command(flatten)]
    acting: Acting,
    /// The organization.
    org: String,
    /// Change a setting: `suggest_after=2`, `request_ttl_seconds=86400`,
    /// `new_software_computer_first=false`, `wider_needs_justification=false`,
    /// `audit_allows=true`.
    #[arg(long, value_name = "KEY=VALUE")]
    set: Vec<String>,
}

/// `init`: a new state directory with its first administrator.
pub fn init(args: InitArgs) -> Result<ExitCode, CliError> {
    let parsed = parse_bundle(&args.bundle)?;
    let organization = match args.org {
        Some(org) => org,
        None => parsed
            .organizations
            .iter()
            .find(|o| o.parent.is_none())
            .map(|o| o.id.clone())
            .ok_or("the bundle has no organization")?,
    };
    let first = AdminRecord {
        id: args.admin,
        name: args.name,
        organization,
        email: args.email,
        phone: None,
    };
    let password = args
        .password_file
        .as_deref()
        .map(read_password)
        .transpose()?;
    let state = &args.state;
    let dir = state.dir()?;
    let gov = match &state.database {
        None => {
            Governance::init_dir_with_key(dir, state.audit_key.as_deref(), parsed, first.clone())?
        }
        Some(url) => {
            // The directory holds this machine's files: the audit key.
            make_private_dir(dir)?;
            Governance::init_postgres(url, &state.key()?, parsed, first.clone())?
        }
    };
    if let Some(password) = password {
        portcullis_server::credentials::set_password(
            dir,
            state.database.as_deref(),
            &first.id,
            &password,
        )?;
    }
    let value = json!({"state": dir, "version": gov.version(), "administrator": first.id});
    shown(state.json, &value, || {
        format!(
            "initialized `{}` at bundle version {}; `{}` is Super Admin on every top-level organization\n",
            dir.display(),
            gov.version(),
            first.id
        )
    })
}

/// Creates `dir` (owner-only) when it is missing.
fn make_private_dir(dir: &Path) -> Result<(), CliError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .map_err(|e| CliError::from(format!("cannot create `{}`: {e}", dir.display())))
}

/// `deploy`
pub fn deploy(acting: &Acting, bundle: &Path) -> Result<ExitCode, CliError> {
    let parsed = parse_bundle(bundle)?;
    let reason = format!("deploy {}", bundle.display());
    let version = match acting.state.remote()? {
        Some(client) => {
            let answer: serde_json::Value = client.send("POST", "/deploys", &parsed)?;
            field(&answer, "version").as_i64().unwrap_or_default()
        }
        None => acting.open()?.deploy(acting.id(), parsed, &reason)?,
    };
    shown(acting.json(), &json!({"version": version}), || {
        format!("deployed as bundle version {version}\n")
    })
}

/// `rollback`
pub fn rollback(acting: &Acting, to: Option<i64>) -> Result<ExitCode, CliError> {
    let answer: serde_json::Value =
        acting.write("POST", "/rollback", &json!({"to": to}), |g, me| {
            Ok(json!({"version": g.rollback(me, to)?}))
        })?;
    let version = field(&answer, "version").as_i64().unwrap_or_default();
    shown(acting.json(), &json!({"version": version}), || {
        format!("rolled back; now at bundle version {version}\n")
    })
}

/// `history`: the last 50 deploys.
pub fn history(state: &StateArgs) -> Result<ExitCode, CliError> {
    let history: Vec<DeployRecord> = match state.remote()? {
        Some(client) => client.get("/deploys?limit=50")?,
        None => open(state)?.deploys(50)?,
    };
    shown(state.json, &history, || {
        history
            .iter()
            .map(|d| {
                format!(
                    "{:>4}  {}  {:<12} {}\n",
                    d.version, d.note.time, d.note.actor, d.note.reason
                )
            })
            .collect()
    })
}

/// `settings`: shows them, after applying `--set` when given.
pub fn settings(args: SettingsArgs) -> Result<ExitCode, CliError> {
    let acting = &args.acting;
    let path = format!("/organizations/{}/settings", args.org);
    let settings = acting.run(
        |g, me| {
            let mut settings = g.settings_for(&args.org)?;
            if !args.set.is_empty() {
                settings = changed(&settings, &args.set).map_err(|e| {
                    portcullis_governance::Error::InvalidInput {
                        field: "--set",
                        reason: e.to_string(),
                    }
                })?;
                g.set_settings(me, &args.org, settings.clone())?;
            }
            Ok(settings)
        },
        |c| {
            let current: Settings = c.get(&path)?;
            if args.set.is_empty() {
                return Ok(current);
            }
            let new = changed(&current, &args.set)
                .map_err(|e| portcullis_server::ClientError::Setup(e.to_string()))?;
            c.send("PATCH", &path, &new)
        },
    )?;
    shown(acting.json(), &settings, || {
        text::settings(&args.org, &settings)
    })
}

/// `settings` with each `KEY=VALUE` assignment applied.
fn changed(settings: &Settings, set: &[String]) -> Result<Settings, CliError> {
    let mut value = serde_json::to_value(settings)?;
    for assignment in set {
        let (key, raw) = assignment
            .split_once('=')
            .ok_or_else(|| format!("--set `{assignment}`: write KEY=VALUE"))?;
        let parsed: serde_json::Value = serde_json::from_str(raw).map_err(|_| {
            format!("--set `{assignment}`: the value must be a number or true/false")
        })?;
        match value.get_mut(key) {
            Some(slot) => *slot = parsed,
            None => return Err(format!("--set `{assignment}`: unknown setting `{key}`").into()),
        }
    }
    Ok(serde_json::from_value::<Settings>(value).map_err(|e| format!("--set: {e}"))?)
}
