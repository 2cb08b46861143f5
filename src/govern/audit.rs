//! `audit search|verify|checkpoint|reanchor`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use portcullis_engine::model::{Sha256, Timestamp};
use portcullis_governance::{AuditBreak, AuditLog, AuditQuery, AuditRecord, Checkpoint};
use serde_json::json;

use super::text;
use crate::common::{field, print_either, read, shown, to_json};
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
            #[derive(serde::Deserialize)]
            struct Reanchored {
                reanchored: Vec<AuditBreak>,
            }
            let problems = acting
                .write(
                    "POST",
                    "/audit/reanchor",
                    &json!({"reason": reason}),
                    |g, me| {
                        Ok(Reanchored {
                            reanchored: g.reanchor_audit(me, &reason)?,
                        })
                    },
                )?
                .reanchored;
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
    let path = format!(
        "/audit{}",
        portcullis_server::client::query(&[
            (
                "log",
                Some(if args.system { "system" } else { "unified" }.to_owned())
            ),
            ("organization", query.organization.clone()),
            ("computer", query.computer.clone()),
            ("user", query.user.clone()),
            ("sha256", query.sha256.map(|s| s.to_string())),
            ("kind", query.kind.clone()),
            ("since", query.since.map(|t| t.to_string())),
            ("until", query.until.map(|t| t.to_string())),
        ])
    );
    let entries: Vec<AuditRecord> = acting.read(&path, |g, me| g.search_audit(me, &query))?;
    shown(acting.json(), &entries, || {
        if entries.is_empty() {
            return "no entries\n".to_owned();
        }
        entries.iter().map(text::audit_entry).collect()
    })
}

/// `audit verify`: exit 1 when the audit is broken.
fn verify(acting: &Acting, checkpoint: Option<&Path>) -> Result<ExitCode, CliError> {
    let given = checkpoint
        .map(|path| {
            let text = read(path)?;
            serde_json::from_str::<Checkpoint>(&text)
                .map_err(|e| CliError::from(format!("`{}`: not a checkpoint: {e}", path.display())))
        })
        .transpose()?;
    let result = acting.run(
        |g, me| match &given {
            None => g.verify_audit_as(me),
            Some(checkpoint) => g.verify_audit_extends_as(me, checkpoint),
        },
        |c| {
            let verdict: serde_json::Value = match &given {
                None => c.get("/audit/verify")?,
                Some(checkpoint) => c.send("POST", "/audit/verify", checkpoint)?,
            };
            match field(&verdict, "verified").as_u64() {
                Some(count) => Ok(Ok(usize::try_from(count).unwrap_or(usize::MAX))),
                None => serde_json::from_value(field(&verdict, "broken").clone())
                    .map(Err)
                    .map_err(|e| portcullis_server::ClientError::Answer {
                        what: "GET /audit/verify".to_owned(),
                        reason: e.to_string(),
                    }),
            }
        },
    );
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
    let checkpoint: Checkpoint =
        acting.read("/audit/checkpoint", |g, me| g.audit_checkpoint_as(me))?;
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
