//! The audit (search the unified and system audits, verify the chain) and the deploy
//! history with rollback: governance's `search_audit`, `verify_audit_as`, `history`
//! and `rollback`, as the API calls them.

use askama::Template;
use axum::extract::{Query, State};
use portcullis_governance::{AuditLog, AuditQuery};
use serde::Deserialize;

use super::request::expiry;
use super::{render, shown, Form, Frame, Page, Viewer, WebError};
use crate::app::App;
use crate::ServerError;

/// The audit search's fields; empty ones match everything.
#[derive(Debug, Default, Deserialize)]
pub struct AuditForm {
    #[serde(default)]
    log: String,
    #[serde(default)]
    organization: String,
    #[serde(default)]
    computer: String,
    #[serde(default)]
    user: String,
    #[serde(default)]
    hash: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    since: String,
    #[serde(default)]
    until: String,
}

fn bad(message: String) -> WebError {
    WebError::Failed(ServerError::BadInput(message))
}

impl AuditForm {
    fn query(&self) -> Result<AuditQuery, WebError> {
        let text = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
        let time = |s: &str| text(s).map(|t| expiry(&t)).transpose();
        Ok(AuditQuery {
            log: Some(match self.log.trim() {
                "" | "unified" => AuditLog::Unified,
                "system" => AuditLog::System,
                other => return Err(bad(format!("log `{}`: unified or system", shown(other)))),
            }),
            organization: text(&self.organization),
            computer: text(&self.computer),
            user: text(&self.user),
            sha256: text(&self.hash)
                .map(|h| h.parse())
                .transpose()
                .map_err(|e| bad(format!("SHA-256 `{}`: {e}", shown(&self.hash))))?,
            kind: text(&self.kind),
            since: time(&self.since)?,
            until: time(&self.until)?,
        })
    }

    fn shown(&self) -> AuditForm {
        AuditForm {
            log: shown(&self.log),
            organization: shown(&self.organization),
            computer: shown(&self.computer),
            user: shown(&self.user),
            hash: shown(&self.hash),
            kind: shown(&self.kind),
            since: shown(&self.since),
            until: shown(&self.until),
        }
    }
}

struct EntryRow {
    seq: i64,
    time: String,
    actor: String,
    organization: String,
    kind: String,
    detail: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    frame: Frame,
    form: AuditForm,
    rows: Vec<EntryRow>,
    total: usize,
    verified: Option<String>,
    broken: Option<String>,
}

/// How many entries a search shows, newest first.
const SHOWN: usize = 200;

/// `GET /approvals/audit`
pub async fn search(State(app): State<App>, viewer: Viewer, Query(form): Query<AuditForm>) -> Page {
    let query = form.query()?;
    let me = viewer.id.clone();
    let records = app
        .governance(move |g| Ok(g.search_audit(&me, &query)?))
        .await?;
    let rows = records
        .iter()
        .rev()
        .take(SHOWN)
        .map(|r| EntryRow {
            seq: r.seq,
            time: r.entry.time.to_string(),
            actor: shown(&r.entry.actor),
            organization: shown(r.entry.organization.as_deref().unwrap_or("")),
            kind: shown(&r.entry.kind),
            detail: shown(&r.entry.detail.to_string()),
        })
        .collect();
    render(&AuditPage {
        frame: Frame::of(&viewer, "Audit"),
        form: form.shown(),
        rows,
        total: records.len(),
        verified: None,
        broken: None,
    })
}

/// The CSRF token alone.
#[derive(Debug, Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /approvals/audit/verify`: the chain checked from its first entry.
pub async fn verify(State(app): State<App>, viewer: Viewer, Form(form): Form<TokenForm>) -> Page {
    viewer.check(&form.csrf)?;
    let me = viewer.id.clone();
    let outcome = app.governance(move |g| Ok(g.verify_audit_as(&me)?)).await?;
    let (verified, broken) = match outcome {
        Ok(count) => (
            Some(format!(
                "the chain verifies: {count} entries, and the signed head"
            )),
            None,
        ),
        Err(at) => (None, Some(shown(&at.to_string()))),
    };
    render(&AuditPage {
        frame: Frame::of(&viewer, "Audit"),
        form: AuditForm::default(),
        rows: Vec::new(),
        total: 0,
        verified,
        broken,
    })
}

struct DeployRow {
    version: i64,
    actor: String,
    time: String,
    reason: String,
}

#[derive(Template)]
#[template(path = "deploys.html")]
struct DeploysPage {
    frame: Frame,
    rows: Vec<DeployRow>,
    done: Option<String>,
}

async fn deploys_page(app: &App, viewer: &Viewer, done: Option<String>) -> Page {
    let me = viewer.id.clone();
    let history = app.governance(move |g| Ok(g.history(&me, 50)?)).await?;
    let rows = history
        .iter()
        .map(|d| DeployRow {
            version: d.version,
            actor: shown(&d.note.actor),
            time: d.note.time.to_string(),
            reason: shown(&d.note.reason),
        })
        .collect();
    render(&DeploysPage {
        frame: Frame::of(viewer, "Deploys"),
        rows,
        done,
    })
}

/// `GET /approvals/deploys`
pub async fn deploys(State(app): State<App>, viewer: Viewer) -> Page {
    deploys_page(&app, &viewer, None).await
}

/// What rolling back sends.
#[derive(Debug, Deserialize)]
pub struct RollbackForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    version: String,
}

/// `POST /approvals/deploys/rollback`: an earlier version restored as a new one.
pub async fn rollback(
    State(app): State<App>,
    viewer: Viewer,
    Form(form): Form<RollbackForm>,
) -> Page {
    viewer.check(&form.csrf)?;
    let to: i64 = form.version.trim().parse().map_err(|_| {
        bad(format!(
            "version `{}` is not a number",
            shown(&form.version)
        ))
    })?;
    let me = viewer.id.clone();
    let version = app
        .governance(move |g| Ok(g.rollback(&me, Some(to))?))
        .await?;
    deploys_page(
        &app,
        &viewer,
        Some(format!("version {to} restored as version {version}")),
    )
    .await
}
