//! `audit search|verify|checkpoint|reanchor`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use portcullis_engine::model::{Sha256, Timestamp};
use portcullis_governance::{AuditLog, AuditQuery, Checkpoint, Governance};
use serde_json::json;

use super::text;
use crate::common::{print_either, read, shown, to_json};
use crate::error::CliError;
use crate::state::Acting;

/// `audit …`
#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Audit entries the actor may see, oldest first.
    Search(SearchArgs),
    /// Verify the hash chain and its signed head; exit 1 and name the first problem.
    /// Needs View Unified Audit or View System Audit somewhere.
    Verify {
        #[command(flatten)]
        acting: Acting,
        /// A checkpoint exported earlier by `audit checkpoint`: the audit must still
        /// extend it (nothing it covered was removed or rewritten).
        #[arg(long, value_name = "FILE")]
        checkpoint: Option<PathBuf>,
    },
    /// Print the audit's latest signed checkpoint (entry count, last hash,
    /// signature) as JSON, to keep somewhere else. Same permission as `verify`.
    Checkpoint {
        #[command(flatten)]
        acting: Acting,
        /// Write it to this file instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// After looking into a damaged audit: record what was lost or broken, sign a new
    /// head, and let writes go on. Needs Super Admin on every top-level organization.
    Reanchor {
        #[command(flatten)]
        acting: Acting,
        /// What was looked into, and why the audit may go on.
        #[arg(long)]
        reason: String,
    },
}

// What `audit search` is given.
#[derive(Args, Debug)]
pub struct SearchArgs {
    #[command(flatten)]
    acting: Acting,
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
}

/// `audit …`
pub fn run(command: AuditCommand) -> Result<ExitCode, CliError> {
    match command {
        AuditCommand::Search(args) => search(args),
        AuditCommand::Verify { acting, checkpoint } => verify(&acting, checkpoint.as_deref()),
        AuditCommand::Checkpoint { acting, out } => checkpoint(&acting, out.as_deref()),
        AuditCommand::Reanchor { acting, reason } => {
            let problems = acting.open()?.reanchor_audit(acting.id(), &reason)?;
            shown(acting.json(), &json!({"reanchored": problems}), || {
                let mut out =
                    String::from("the audit is re-anchored; this entry records what was found:\n");
                for problem in &problems {
                    let _ = writeln!(out, "  {problem}");
                }
                out
            })
        }
    }
}

fn search(args: SearchArgs) -> Result<ExitCode, CliError> {
    let acting = &args.acting;
    let gov = acting.open()?;
    let query = AuditQuery {
        log: Some(if args.system {
            AuditLog::System
        } else {
            AuditLog::Unified
        }),
        organization: args.org,
        computer: args.computer,
        user: args.user,
        sha256: args.sha256,
        kind: args.kind,
        since: args.since,
        until: args.until,
    };
    let entries = gov.search_audit(acting.id(), &query)?;
    shown(acting.json(), &entries, || {
        if entries.is_empty() {
            return "no entries\n".to_owned();
        }
        entries.iter().map(text::audit_entry).collect()
    })
}

/// `audit verify`: exit 1 when the audit is broken.
fn verify(acting: &Acting, checkpoint: Option<&Path>) -> Result<ExitCode, CliError> {
    let gov = acting.open()?;
    may_read_audit(&gov, acting)?;
    let result = match checkpoint {
        None => gov.verify_audit(),
        Some(path) => {
            let text = read(path)?;
            let checkpoint: Checkpoint = serde_json::from_str(&text)
                .map_err(|e| format!("`{}`: not a checkpoint: {e}", path.display()))?;
            gov.verify_audit_extends(&checkpoint)
        }
    };
    match result? {
        Ok(count) => shown(acting.json(), &json!({"verified": count}), || {
            let extends = checkpoint
                .map(|p| format!(" and extends `{}`", p.display()))
                .unwrap_or_default();
            format!("the audit verifies{extends}: {count} entries\n")
        }),
        Err(problem) => {
            print_either(acting.json(), &json!({"broken": problem}), || {
                format!("the audit is broken: {problem}\n")
            })?;
            Ok(ExitCode::FAILURE)
        }
    }
}

/// `audit checkpoint`: to standard output, or to a file.
fn checkpoint(acting: &Acting, out: Option<&Path>) -> Result<ExitCode, CliError> {
    let gov = acting.open()?;
    may_read_audit(&gov, acting)?;
    let checkpoint = gov.audit_checkpoint()?;
    let text = to_json(&checkpoint, true)?;
    match out {
        Some(path) => {
            std::fs::write(path, format!("{text}\n")).map_err(CliError::write(path))?;
            eprintln!(
                "wrote the checkpoint of entry {} to `{}`",
                checkpoint.count,
                path.display()
            );
        }
        None => println!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}

/// Reading the audit (to verify it or export its checkpoint) needs the right to read
/// some audit: View Unified Audit or View System Audit.
fn may_read_audit(gov: &Governance, acting: &Acting) -> Result<(), CliError> {
    if let Err(error) = gov.search_audit(acting.id(), &AuditQuery::default()) {
        let system = AuditQuery {
            log: Some(AuditLog::System),
            ..AuditQuery::default()
        };
        if gov.search_audit(acting.id(), &system).is_err() {
            return Err(error.into());
        }
    }
    Ok(())
}
