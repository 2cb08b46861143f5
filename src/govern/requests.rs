//! Deciding on the state, filing requests, and reading them back: `decide`,
//! `request`, `requests list|show|file`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};
use portcullis_engine::plugin::RuledDecision;
use portcullis_engine::Event;
use portcullis_governance::{AccessRequestKind, FileRequest, RequestRecord, RequestState, Review};
use portcullis_server::Client;
use serde_json::json;

use super::notify::deliver_now;
use super::text;
use crate::common::{field, read_event, shown};
use crate::error::CliError;
use crate::state::{open, Acting, StateArgs};

// What `request` is given.
#[derive(Args, Debug)]
pub struct RequestArgs {
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
}

/// `requests …`
#[derive(Subcommand, Debug)]
pub enum RequestsCommand {
    /// The approval queue (pending requests, or `--status`).
    List {
        #[command(flatten)]
        acting: Acting,
        /// Which requests.
        #[arg(long, value_enum, default_value = "pending")]
        status: StatusArg,
    },
    /// One request in full (needs an approve permission).
    Show {
        #[command(flatten)]
        acting: Acting,
        /// The request's number, or the link from its notification.
        id: RequestRef,
    },
    /// Write the stored copy of a request's file.
    File {
        #[command(flatten)]
        acting: Acting,
        /// The request's number.
        id: i64,
        /// Where to write it.
        #[arg(long)]
        out: PathBuf,
    },
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

impl StatusArg {
    /// The name the API takes.
    fn name(self) -> &'static str {
        match self {
            StatusArg::Pending => "pending",
            StatusArg::Approved => "approved",
            StatusArg::Rejected => "rejected",
            StatusArg::Expired => "expired",
            StatusArg::All => "all",
        }
    }

    fn state(self) -> Option<RequestState> {
        match self {
            StatusArg::Pending => Some(RequestState::Pending),
            StatusArg::Approved => Some(RequestState::Approved),
            StatusArg::Rejected => Some(RequestState::Rejected),
            StatusArg::Expired => Some(RequestState::Expired),
            StatusArg::All => None,
        }
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

impl From<KindArg> for AccessRequestKind {
    fn from(kind: KindArg) -> AccessRequestKind {
        match kind {
            KindArg::Application => AccessRequestKind::Application,
            KindArg::Storage => AccessRequestKind::Storage,
            KindArg::Elevation => AccessRequestKind::Elevation,
        }
    }
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

/// `decide`: the decision on the state's policies and rule plugins, audited.
pub fn decide(state: &StateArgs, event: &Path) -> Result<ExitCode, CliError> {
    let event = read_event(event)?;
    let ruled: RuledDecision = match state.remote()? {
        Some(client) => client.send("POST", "/decisions", &event)?,
        None => open(state)?.decide_with_rules(&event)?,
    };
    // The decision's own fields, plus what the rule plugins did when they did anything.
    let mut decision = serde_json::to_value(&ruled.decision)?;
    if let Some(fields) = decision.as_object_mut() {
        if let Some(deny) = &ruled.denied_by {
            fields.insert("denied_by_plugin".to_owned(), json!(deny));
        }
        if !ruled.failures.is_empty() {
            fields.insert("plugin_failures".to_owned(), json!(ruled.failures));
        }
    }
    shown(state.json, &decision, || text::ruled_decision(&ruled))
}

/// `request`: files it, lets the approval plugins review it, sends what is due.
pub fn file(args: RequestArgs) -> Result<ExitCode, CliError> {
    let event = read_event(&args.event)?;
    let attachment = match &args.attach {
        None => None,
        Some(path) => Some(read_attachment(path)?),
    };
    if let Some(client) = args.state.remote()? {
        return file_remote(&client, args, event, attachment);
    }
    let mut gov = open(&args.state)?;
    let request = gov.file_request(FileRequest {
        kind: args.kind.into(),
        event,
        message: args.message,
        email: args.email,
        attachment,
    })?;
    let review = gov.review_attached(request.id)?;
    deliver_now(&mut gov);
    let filed = json!({"request": request, "review": review});
    shown(args.state.json, &filed, || {
        text::filed(&request, review.as_ref())
    })
}

/// `request --server`: the copy goes first as an upload, then the request names it.
fn file_remote(
    client: &Client,
    args: RequestArgs,
    event: Event,
    attachment: Option<Vec<u8>>,
) -> Result<ExitCode, CliError> {
    let file = match attachment {
        None => None,
        Some(bytes) => {
            let uploaded: serde_json::Value =
                client.send_raw("PUT", "/uploads", "application/octet-stream", &bytes)?;
            Some(field(&uploaded, "sha256").clone())
        }
    };
    let body = json!({
        "kind": AccessRequestKind::from(args.kind), "event": event, "message": args.message,
        "email": args.email, "file": file,
    });
    #[derive(serde::Deserialize)]
    struct Filed {
        request: RequestRecord,
        review: Option<Review>,
    }
    let filed: Filed = client.send("POST", "/requests", &body)?;
    let value = json!({"request": filed.request, "review": filed.review});
    shown(args.state.json, &value, || {
        text::filed(&filed.request, filed.review.as_ref())
    })
}

fn read_attachment(path: &Path) -> Result<Vec<u8>, CliError> {
    let meta = std::fs::metadata(path).map_err(CliError::read(path))?;
    if !meta.is_file() {
        return Err(format!("`{}` is not a file", path.display()).into());
    }
    if meta.len() > portcullis_governance::MAX_ATTACHMENT as u64 {
        return Err(format!(
            "`{}` has {} bytes; a request may carry at most {}",
            path.display(),
            meta.len(),
            portcullis_governance::MAX_ATTACHMENT
        )
        .into());
    }
    std::fs::read(path).map_err(CliError::read(path))
}

/// `requests …`
pub fn run(command: RequestsCommand) -> Result<ExitCode, CliError> {
    match command {
        RequestsCommand::List { acting, status } => {
            let path = format!("/requests?status={}", status.name());
            let list = acting.read(&path, |g, me| g.requests(me, status.state()))?;
            shown(acting.json(), &list, || {
                if list.is_empty() {
                    return "no requests\n".to_owned();
                }
                list.iter().map(text::summary).collect()
            })
        }
        RequestsCommand::Show { acting, id } => {
            let request =
                acting.read(&format!("/requests/{}", id.0), |g, me| g.request(me, id.0))?;
            shown(acting.json(), &request, || text::detail(&request))
        }
        RequestsCommand::File { acting, id, out } => {
            let bytes = acting.run(
                |g, me| g.request_file(me, id),
                |c| c.get_bytes(&format!("/requests/{id}/file")),
            )?;
            std::fs::write(&out, &bytes).map_err(CliError::write(&out))?;
            shown(
                acting.json(),
                &json!({"written": out, "bytes": bytes.len()}),
                || format!("wrote {} bytes to `{}`\n", bytes.len(), out.display()),
            )
        }
    }
}
