//! Notification delivery: `notify configure|deliver|outbox`, and sending what a
//! command made due.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use portcullis_governance::{Governance, NotifyConfig, OutboxRecord};
use serde_json::json;

use super::text;
use crate::common::{print_either, read, shown};
use crate::error::CliError;
use crate::state::{open, Acting, StateArgs};

/// `notify …`
#[derive(Subcommand, Debug)]
pub enum NotifyCommand {
    /// Set how notifications are delivered (SMTP, SMS gateway, link base, retries) from
    /// a JSON file; see docs/notifications.md.
    Configure {
        #[command(flatten)]
        acting: Acting,
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
        acting: Acting,
    },
}

/// `notify …`
pub fn run(command: NotifyCommand) -> Result<ExitCode, CliError> {
    match command {
        NotifyCommand::Configure { acting, file } => {
            let text = read(&file)?;
            let config: NotifyConfig =
                serde_json::from_str(&text).map_err(|e| format!("`{}`: {e}", file.display()))?;
            acting.write("PUT", "/notifications/config", &config, |g, me| {
                g.configure_notifications(me, config.clone())
                    .map(|()| json!({"configured": true}))
            })?;
            shown(acting.json(), &json!({"configured": true}), || {
                "notification delivery configured\n".to_owned()
            })
        }
        NotifyCommand::Deliver { state, all } => {
            let report = open(&state)?.deliver_notifications(all)?;
            print_either(state.json, &report, || text::delivery(&report))?;
            Ok(if report.failed > 0 {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
        NotifyCommand::Outbox { acting } => {
            let outbox: Vec<OutboxRecord> =
                acting.read("/notifications/outbox", |g, me| g.outbox(me, None))?;
            shown(acting.json(), &outbox, || {
                if outbox.is_empty() {
                    return "the outbox is empty\n".to_owned();
                }
                outbox.iter().map(text::outbox_entry).collect()
            })
        }
    }
}

/// After a command that wrote notifications: send what is due, if delivery is
/// configured. A failure is reported and left to retry; the command still succeeded.
pub fn deliver_now(gov: &mut Governance) {
    match gov.notify_config() {
        Ok(Some(_)) => match gov.deliver_notifications(false) {
            Ok(report) if report.errors.is_empty() => {}
            Ok(report) => eprint!("portcullis: {}", text::delivery(&report)),
            Err(error) => eprintln!("portcullis: notifications: {error}"),
        },
        Ok(None) => {}
        Err(error) => eprintln!("portcullis: notifications: {error}"),
    }
}
