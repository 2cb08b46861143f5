//! Suggestions (software approved computer by computer, widened in one step) and the
//! computers an administrator looks after: each one's recent denies with a button to
//! file a request on the user's behalf, the policy revision its agent reported, and its
//! maintenance mode.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect};
use portcullis_engine::model::{MaintenanceMode, Sha256};
use portcullis_governance::{AccessRequestKind, AuditLog, AuditQuery, FileRequest};
use serde::Deserialize;

use super::queue::file_name;
use super::request::expiry;
use super::{percent_encode, render, shown, Form, Frame, Page, Viewer, WebError, BASE};
use crate::app::App;
use crate::ServerError;

struct SuggestionRow {
    organization: String,
    sha256: String,
    file: String,
    computers: String,
    requests: String,
    scope: String,
}

#[derive(Template)]
#[template(path = "suggestions.html")]
struct SuggestionsPage {
    frame: Frame,
    rows: Vec<SuggestionRow>,
    done: Option<String>,
}

/// `GET /approvals/suggestions`
pub async fn suggestions(State(app): State<App>, viewer: Viewer) -> Page {
    suggestions_page(&app, &viewer, None).await
}

async fn suggestions_page(app: &App, viewer: &Viewer, done: Option<String>) -> Page {
    let me = viewer.id.clone();
    let list = app.governance(move |g| Ok(g.suggestions(&me)?)).await?;
    let rows = list
        .iter()
        .map(|s| SuggestionRow {
            organization: shown(&s.organization),
            sha256: s.sha256.to_string(),
            file: shown(file_name(&s.path)),
            computers: shown(&s.computers.join(", ")),
            requests: s
                .requests
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            scope: format!("{} {}", s.scope, shown(&s.target)),
        })
        .collect();
    render(&SuggestionsPage {
        frame: Frame::of(viewer, "Suggestions"),
        rows,
        done,
    })
}

/// What applying a suggestion sends.
#[derive(Debug, Deserialize)]
pub struct ApplyForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    organization: String,
    #[serde(default)]
    sha256: String,
    #[serde(default)]
    justification: String,
}

/// `POST /approvals/suggestions/apply`
pub async fn apply_suggestion(
    State(app): State<App>,
    viewer: Viewer,
    Form(form): Form<ApplyForm>,
) -> Page {
    viewer.check(&form.csrf)?;
    let sha: Sha256 = form.sha256.trim().parse().map_err(|e| {
        WebError::Failed(ServerError::BadInput(format!(
            "SHA-256 `{}`: {e}",
            shown(&form.sha256)
        )))
    })?;
    let me = viewer.id.clone();
    let (org, justification) = (form.organization.clone(), form.justification.clone());
    let policy = app
        .governance(move |g| Ok(g.apply_suggestion(&me, &org, sha, Some(&justification))?))
        .await?;
    suggestions_page(
        &app,
        &viewer,
        Some(format!(
            "policy `{}` deployed: {} is allowed at the wider scope",
            shown(&policy),
            sha
        )),
    )
    .await
}

struct ComputerRow {
    id: String,
    link: String,
    name: String,
    group: String,
    maintenance: String,
}

#[derive(Template)]
#[template(path = "computers.html")]
struct ComputersPage {
    frame: Frame,
    rows: Vec<ComputerRow>,
}

fn maintenance_text(m: Option<&portcullis_engine::model::Maintenance>) -> String {
    m.map_or_else(String::new, |m| {
        format!("{} until {}", m.mode.as_str(), m.until)
    })
}

/// `GET /approvals/computers`
pub async fn computers(State(app): State<App>, viewer: Viewer) -> Page {
    let me = viewer.id.clone();
    let list = app.governance(move |g| Ok(g.computers_as(&me)?)).await?;
    let rows = list
        .iter()
        .map(|c| ComputerRow {
            link: format!("{BASE}/computers/{}", percent_encode(&c.id)),
            id: shown(&c.id),
            name: shown(&c.name),
            group: shown(&c.group),
            maintenance: maintenance_text(c.maintenance.as_ref()),
        })
        .collect();
    render(&ComputersPage {
        frame: Frame::of(&viewer, "Computers"),
        rows,
    })
}

struct DenyRow {
    seq: i64,
    time: String,
    user: String,
    path: String,
    sha256: String,
    policy: String,
}

#[derive(Template)]
#[template(path = "computer.html")]
struct ComputerPage {
    frame: Frame,
    id: String,
    /// The computer's id, for the forms' actions.
    link: String,
    name: String,
    group: String,
    maintenance: String,
    /// The policy revision its agent last reported, against the current one.
    revision: String,
    denies: Vec<DenyRow>,
    /// Why the denies are not shown, when they are not.
    denies_hidden: Option<String>,
}

/// What a computer's agent last reported of its policy revision, against `current`.
fn revision_text(agent: Option<&crate::credentials::AgentRecord>, current: i64) -> String {
    match agent {
        None => "no agent enrolled".to_owned(),
        Some(agent) => match agent.revision {
            None => "its agent has not reported yet".to_owned(),
            Some(r) if r >= current => format!("{r} (current)"),
            Some(r) => format!("{r}, behind the current {current}"),
        },
    }
}

/// How many recent denies a computer's page shows.
const DENIES: usize = 50;

/// `GET /approvals/computers/{id}`
pub async fn computer(State(app): State<App>, viewer: Viewer, Path(id): Path<String>) -> Page {
    let me = viewer.id.clone();
    let wanted = id.clone();
    let (computer, denies) = app
        .governance(move |g| {
            let computer = g.computer_as(&me, &wanted)?;
            let query = AuditQuery {
                log: Some(AuditLog::Unified),
                computer: Some(wanted.clone()),
                kind: Some("deny".to_owned()),
                ..AuditQuery::default()
            };
            Ok((computer, g.search_audit(&me, &query)))
        })
        .await?;
    let (denies, denies_hidden) = match denies {
        Ok(records) => (
            records
                .iter()
                .rev()
                .take(DENIES)
                .map(|r| {
                    let text = |key: &str| {
                        shown(
                            r.entry
                                .detail
                                .get(key)
                                .and_then(|v| v.as_str())
                                .unwrap_or(""),
                        )
                    };
                    DenyRow {
                        seq: r.seq,
                        time: text("time"),
                        user: text("user"),
                        path: text("path"),
                        sha256: text("sha256"),
                        policy: r
                            .entry
                            .detail
                            .get("policy")
                            .and_then(|v| v.as_str())
                            .map_or_else(|| "default deny".to_owned(), shown),
                    }
                })
                .collect(),
            None,
        ),
        Err(e) => (Vec::new(), Some(shown(&e.to_string()))),
    };
    // Shown once governance let this administrator see the computer.
    let agents = app.credentials(|c| c.agents()).await?;
    let current = *app.revision().borrow();
    let agent = agents.iter().find(|a| a.computer == computer.id);
    render(&ComputerPage {
        frame: Frame::of(&viewer, format!("Computer {}", shown(&id))),
        link: format!("{BASE}/computers/{}", percent_encode(&computer.id)),
        id: shown(&computer.id),
        name: shown(&computer.name),
        group: shown(&computer.group),
        maintenance: maintenance_text(computer.maintenance.as_ref()),
        revision: revision_text(agent, current),
        denies,
        denies_hidden,
    })
}

/// What the maintenance form sends: a mode and its end, or `end`.
#[derive(Debug, Deserialize)]
pub struct MaintenanceForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    mode: String,
    #[serde(default)]
    until: String,
}

/// `POST /approvals/computers/{id}/maintenance`
pub async fn maintenance(
    State(app): State<App>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(form): Form<MaintenanceForm>,
) -> Page {
    viewer.check(&form.csrf)?;
    let mode = match form.mode.trim() {
        "end" => None,
        "monitor" => Some(MaintenanceMode::Monitor),
        "learning" => Some(MaintenanceMode::Learning),
        "installation" => Some(MaintenanceMode::Installation),
        other => {
            return Err(WebError::Failed(ServerError::BadInput(format!(
                "mode `{}`: choose monitor, learning, installation or end",
                shown(other)
            ))))
        }
    };
    let change = match mode {
        None => None,
        Some(mode) => Some((mode, expiry(form.until.trim())?)),
    };
    let (me, computer) = (viewer.id.clone(), id.clone());
    app.governance(move |g| Ok(g.set_maintenance(&me, &computer, change)?))
        .await?;
    Ok(Redirect::to(&format!("{BASE}/computers/{}", percent_encode(&id))).into_response())
}

/// What the request button sends: the deny's audit entry and why.
#[derive(Debug, Deserialize)]
pub struct OnBehalfForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    seq: i64,
    #[serde(default)]
    message: String,
}

/// `POST /approvals/computers/{id}/request`: files a request for one of the
/// computer's denies on the user's behalf (governance's `file_request_as`), then opens
/// it.
pub async fn file_request(
    State(app): State<App>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(form): Form<OnBehalfForm>,
) -> Page {
    viewer.check(&form.csrf)?;
    let me = viewer.id.clone();
    let message = if form.message.trim().is_empty() {
        format!("filed by {} on the user's behalf", viewer.id)
    } else {
        form.message.clone()
    };
    let seq = form.seq;
    let filed = app
        .governance(move |g| {
            let query = AuditQuery {
                log: Some(AuditLog::Unified),
                computer: Some(id.clone()),
                kind: Some("deny".to_owned()),
                ..AuditQuery::default()
            };
            let record = g
                .search_audit(&me, &query)?
                .into_iter()
                .find(|r| r.seq == seq)
                .ok_or_else(|| ServerError::NotFound(format!("no deny {seq} on `{id}`")))?;
            let d = &record.entry.detail;
            let event = serde_json::json!({
                "computer": d.get("computer"), "user": d.get("user"), "path": d.get("path"),
                "sha256": d.get("sha256"), "time": d.get("time"),
            });
            let event = g
                .engine()?
                .limits()
                .parse_event(&event.to_string())
                .map_err(|e| ServerError::BadInput(format!("the deny's event: {e}")))?;
            let request = FileRequest {
                kind: AccessRequestKind::Application,
                event,
                message,
                email: None,
                attachment: None,
            };
            // As the API files one: then the approval plugins review it.
            let filed = g.file_request_as(&me, request)?;
            g.review_attached(filed.id)?;
            Ok(filed)
        })
        .await?;
    Ok(Redirect::to(&format!("{BASE}/requests/{}", filed.id)).into_response())
}
