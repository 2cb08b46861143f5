//! Agents: install keys (made by administrators who may edit computers), enrollment,
//! and what an enrolled agent may do — read its own computer's view, file requests for
//! its own computer, upload its own decisions. Nothing else.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use portcullis_engine::model::{Computer, DecisionRecord, Os};
use portcullis_engine::{BundleChange, Event};
use portcullis_governance::{computer_view, Act, Governance};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::filing::{file_and_review, request, FileBody};
use super::Body;
use crate::app::App;
use crate::auth::{Admin, Agent};
use crate::clock::unix_now;
use crate::credentials::InstallKey;
use crate::ServerError;
use axum::routing::{delete, get, post};

/// What making an install key takes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstallKeyBody {
    /// A name to tell it by, unique in its organization.
    pub name: String,
    /// The organization its computers join.
    pub organization: String,
    /// The group they join (default: the organization's only group).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Days it works (default 30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<u32>,
}

/// `POST /install-keys` (Edit Computers on the organization).
pub async fn create_key(
    State(app): State<App>,
    admin: Admin,
    Body(body): Body<InstallKeyBody>,
) -> Result<(StatusCode, Json<Value>), ServerError> {
    let (actor, org, group) = (
        admin.id.clone(),
        body.organization.clone(),
        body.group.clone(),
    );
    app.governance(move |g| {
        g.authorize(&actor, Act::EditComputers, &org)?;
        if let Some(group) = &group {
            let inside = g
                .bundle()
                .groups
                .iter()
                .any(|x| x.id == *group && x.organization == org);
            if !inside {
                return Err(ServerError::BadInput(format!(
                    "`{org}` has no group `{group}`"
                )));
            }
        }
        Ok(())
    })
    .await?;
    let now = unix_now();
    let key = InstallKey {
        name: body.name,
        organization: body.organization,
        group: body.group,
        created_by: admin.id,
        created: now,
        expires: now.saturating_add(i64::from(body.days.unwrap_or(30).clamp(1, 3650)) * 86_400),
    };
    let stored = key.clone();
    let secret = app
        .credentials(move |c| c.create_install_key(&stored))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"key": secret, "install_key": key})),
    ))
}

/// `GET /install-keys`: those of organizations where the caller may edit computers.
pub async fn list_keys(State(app): State<App>, admin: Admin) -> Result<Json<Value>, ServerError> {
    let keys = app.credentials(|c| c.install_keys()).await?;
    let visible = app
        .governance(move |g| {
            Ok(keys
                .into_iter()
                .filter(|k| {
                    g.authorize(&admin.id, Act::EditComputers, &k.organization)
                        .is_ok()
                })
                .collect::<Vec<_>>())
        })
        .await?;
    Ok(Json(json!(visible)))
}

/// `DELETE /organizations/{org}/install-keys/{name}`
pub async fn revoke_key(
    State(app): State<App>,
    admin: Admin,
    Path((org, name)): Path<(String, String)>,
) -> Result<StatusCode, ServerError> {
    let where_ = org.clone();
    app.governance(move |g| Ok(g.authorize(&admin.id, Act::EditComputers, &where_)?))
        .await?;
    let (o, n) = (org.clone(), name.clone());
    if !app
        .credentials(move |c| c.revoke_install_key(&o, &n))
        .await?
    {
        return Err(ServerError::NotFound(format!(
            "`{org}` has no install key named `{name}`"
        )));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /computers/{id}/agent`: the computer's agent must enroll again.
pub async fn revoke_agent(
    State(app): State<App>,
    admin: Admin,
    Path(computer): Path<String>,
) -> Result<StatusCode, ServerError> {
    let id = computer.clone();
    app.governance(move |g| {
        let org = organization_of(g, &id)?;
        Ok(g.authorize(&admin.id, Act::EditComputers, &org)?)
    })
    .await?;
    let id = computer.clone();
    if !app.credentials(move |c| c.revoke_agent(&id)).await? {
        return Err(ServerError::NotFound(format!(
            "no agent is enrolled as `{computer}`"
        )));
    }
    Ok(StatusCode::NO_CONTENT)
}

fn organization_of(g: &Governance, computer: &str) -> Result<String, ServerError> {
    let bundle = g.bundle();
    bundle
        .computers
        .iter()
        .find(|c| c.id == computer)
        .and_then(|c| bundle.groups.iter().find(|x| x.id == c.group))
        .map(|x| x.organization.clone())
        .ok_or_else(|| ServerError::NotFound(format!("computer `{computer}` does not exist")))
}

/// What enrolling takes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Enrollment {
    /// The install key.
    pub key: String,
    /// The computer's host name; its id is the name in lowercase.
    pub hostname: String,
    /// Its operating system family.
    pub os: Os,
}

/// `POST /agents/enroll`: the computer joins the key's organization (added with the
/// rights of the key's maker, unless an administrator added it already) and gets its
/// agent credential, once.
pub async fn enroll(
    State(app): State<App>,
    Body(body): Body<Enrollment>,
) -> Result<(StatusCode, Json<Value>), ServerError> {
    let id = computer_id(&body.hostname)?;
    let (secret, now) = (body.key.clone(), unix_now());
    let key = app
        .credentials(move |c| c.install_key(&secret, now))
        .await?
        .ok_or_else(|| {
            ServerError::Unauthenticated(
                "the install key is unknown, revoked or expired".to_owned(),
            )
        })?;
    let computer = id.clone();
    if app.credentials(move |c| c.is_enrolled(&computer)).await? {
        return Err(ServerError::Conflict(format!(
            "an agent is enrolled as `{id}` already; an administrator must revoke it first"
        )));
    }
    let (joined, hostname, os) = (key.clone(), body.hostname.clone(), body.os);
    let computer = id.clone();
    let group = app
        .governance(move |g| join(g, &joined, &computer, &hostname, os))
        .await?;
    let (computer, key_name) = (id.clone(), key.name.clone());
    let credential = app
        .credentials(move |c| c.enroll(&computer, &key_name, now))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "computer": id, "organization": key.organization, "group": group,
            "credential": credential, "view_key": app.view_key().public(),
        })),
    ))
}

/// Adds the computer to the key's group (or finds it there); its group.
fn join(
    g: &mut Governance,
    key: &InstallKey,
    id: &str,
    hostname: &str,
    os: Os,
) -> Result<String, ServerError> {
    let bundle = g.bundle();
    let groups: Vec<&str> = bundle
        .groups
        .iter()
        .filter(|x| x.organization == key.organization)
        .map(|x| x.id.as_str())
        .collect();
    let group = match (&key.group, groups.as_slice()) {
        (Some(group), _) => group.clone(),
        (None, [only]) => (*only).to_owned(),
        (None, _) => {
            return Err(ServerError::Conflict(format!(
            "install key `{}` names no group and `{}` has {} groups; ask for a key with a group",
            key.name,
            key.organization,
            groups.len()
        )))
        }
    };
    if let Some(existing) = bundle.computers.iter().find(|c| c.id == id) {
        if existing.group != group {
            return Err(ServerError::Conflict(format!(
                "computer `{id}` exists in another group; choose another host name or ask an administrator"
            )));
        }
        return Ok(group);
    }
    let mut next = bundle.clone();
    next.computers.push(Computer {
        id: id.to_owned(),
        group: group.clone(),
        name: hostname.to_owned(),
        os,
        maintenance: None,
    });
    let reason = format!("enroll `{id}` with install key `{}`", key.name);
    g.deploy(&key.created_by, next, &reason)?;
    Ok(group)
}

/// A host name as a computer id: 1 to 64 letters, digits, `.`, `-` or `_`, lowercased.
fn computer_id(hostname: &str) -> Result<String, ServerError> {
    let good = !hostname.is_empty()
        && hostname.len() <= 64
        && hostname
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    if good {
        Ok(hostname.to_ascii_lowercase())
    } else {
        Err(ServerError::BadInput(format!(
            "`{hostname}` is not a host name: 1 to 64 letters, digits, `.`, `-` or `_`"
        )))
    }
}

/// `GET /agent/view`: the agent's computer's view of the policies, signed.
pub async fn view(State(app): State<App>, agent: Agent) -> Result<Json<Value>, ServerError> {
    let payload = app
        .governance(move |g| full_view(g, &agent.computer))
        .await?;
    Ok(Json(app.view_key().sign(&payload)?))
}

/// The payload of a computer's whole view at the current version.
fn full_view(g: &Governance, computer: &str) -> Result<Value, ServerError> {
    let view = computer_view(g.bundle(), computer)
        .ok_or_else(|| ServerError::NotFound(format!("computer `{computer}` does not exist")))?;
    Ok(json!({
        "kind": "view", "computer": computer, "revision": g.version(),
        "audit_allows": audit_allows(g, &view)?, "bundle": view,
    }))
}

/// Whether the computer's organization audits allows (its agent then uploads them).
fn audit_allows(g: &Governance, view: &portcullis_engine::Bundle) -> Result<bool, ServerError> {
    match view.groups.first() {
        Some(group) => Ok(g.settings_for(&group.organization)?.audit_allows),
        None => Ok(false),
    }
}

/// The payload of what changed in a computer's view since version `since`; its whole
/// view when that version is not stored or did not hold the computer.
fn changes_since(
    g: &Governance,
    app: &App,
    computer: &str,
    since: i64,
) -> Result<Value, ServerError> {
    let now = g.version();
    if since == now {
        // Nothing was deployed: the answer of most long-polls, made without a view.
        let org = organization_of(g, computer)?;
        return Ok(json!({
            "kind": "change", "computer": computer, "from": since, "revision": now,
            "audit_allows": g.settings_for(&org)?.audit_allows,
            "change": {"entries": BundleChange::default().entries, "removed": []},
        }));
    }
    let old = match since {
        s if s <= 0 || s > now => None,
        s => app
            .bundle_at(g, s)?
            .and_then(|bundle| computer_view(&bundle, computer)),
    };
    let Some(old) = old else {
        return full_view(g, computer);
    };
    let new = computer_view(g.bundle(), computer)
        .ok_or_else(|| ServerError::NotFound(format!("computer `{computer}` does not exist")))?;
    let change = BundleChange::between(&old, &new);
    Ok(json!({
        "kind": "change", "computer": computer, "from": since, "revision": now,
        "audit_allows": audit_allows(g, &new)?,
        "change": {"entries": change.entries, "removed": change.removed},
    }))
}

/// What `GET /agent/changes` reads.
#[derive(Debug, Clone, Deserialize)]
pub struct ChangesQuery {
    /// The revision the agent holds.
    pub since: Option<i64>,
    /// Seconds to wait for a change (at most the server's long-poll limit).
    pub wait: Option<u64>,
}

/// `GET /agent/changes?since=N&wait=S`: a long-poll. Answers at once when the bundle
/// is newer than `since`, else when a deploy commits or `wait` seconds pass: the
/// signed change of the computer's view since `since` (empty when nothing in the view
/// changed), or its whole view when no change can be made from `since`.
pub async fn changes(
    State(app): State<App>,
    agent: Agent,
    axum::extract::Query(query): axum::extract::Query<ChangesQuery>,
) -> Result<Json<Value>, ServerError> {
    let since = query.since.unwrap_or(0);
    let mut revision = app.revision();
    let limit = app.settings().long_poll;
    let wait = std::time::Duration::from_secs(query.wait.unwrap_or(0)).min(limit);
    if since > 0 && *revision.borrow_and_update() == since {
        let _ = tokio::time::timeout(wait, revision.changed()).await;
    }
    let (computer, cache) = (agent.computer, app.clone());
    let payload = app
        .governance(move |g| changes_since(g, &cache, &computer, since))
        .await?;
    Ok(Json(app.view_key().sign(&payload)?))
}

/// What an agent reports about itself.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HealthReport {
    /// The revision of the view it enforces.
    pub revision: i64,
    /// Anything else it says (enforcing, spool, elevation, version …), kept as sent.
    #[serde(flatten)]
    pub detail: serde_json::Map<String, Value>,
}

/// `POST /agent/health`: the agent's revision and health, kept as its latest report.
pub async fn health(
    State(app): State<App>,
    agent: Agent,
    Body(report): Body<HealthReport>,
) -> Result<StatusCode, ServerError> {
    let text = serde_json::to_string(&report)
        .map_err(|e| ServerError::Internal(format!("cannot keep a report: {e}")))?;
    if text.len() > 16 * 1024 {
        return Err(ServerError::TooLarge(
            "a health report may have at most 16 KiB".to_owned(),
        ));
    }
    let (now, revision) = (unix_now(), report.revision);
    app.credentials(move |c| c.report_health(&agent.computer, revision, &text, now))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /agents`: the enrolled agents of computers in organizations where the caller
/// may edit computers, with their latest report and whether they are behind the
/// current revision.
pub async fn list_agents(State(app): State<App>, admin: Admin) -> Result<Json<Value>, ServerError> {
    let agents = app.credentials(|c| c.agents()).await?;
    let listed = app
        .governance(move |g| {
            let current = g.version();
            let mut out = Vec::new();
            for agent in agents {
                let Ok(org) = organization_of(g, &agent.computer) else {
                    continue;
                };
                if g.authorize(&admin.id, Act::EditComputers, &org).is_err() {
                    continue;
                }
                let behind = agent.revision.is_none_or(|r| r < current);
                out.push(json!({
                    "computer": agent.computer, "organization": org,
                    "enrolled": agent.enrolled, "reported": agent.reported,
                    "revision": agent.revision, "current": current, "behind": behind,
                    "report": agent.report,
                }));
            }
            Ok(out)
        })
        .await?;
    Ok(Json(json!(listed)))
}

/// `POST /agent/requests`: a request of the agent's own computer's user.
pub async fn file(
    State(app): State<App>,
    agent: Agent,
    Body(body): Body<FileBody>,
) -> Result<(StatusCode, Json<Value>), ServerError> {
    let (request, upload) = request(&app, body).await?;
    own(&agent, &request.event)?;
    file_and_review(&app, upload, None, request).await
}

/// One decision an agent made.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Decided {
    /// The execution.
    pub event: Value,
    /// What the agent decided.
    pub decision: DecisionRecord,
}

/// The most decisions one upload takes.
pub const DECISIONS_PER_UPLOAD: usize = 1000;

/// `POST /agent/decisions`: the agent's own decisions, audited.
pub async fn decisions(
    State(app): State<App>,
    agent: Agent,
    Body(batch): Body<Vec<Decided>>,
) -> Result<Json<Value>, ServerError> {
    if batch.len() > DECISIONS_PER_UPLOAD {
        return Err(ServerError::TooLarge(format!(
            "{} decisions; send at most {DECISIONS_PER_UPLOAD} at once",
            batch.len()
        )));
    }
    let mut decided: Vec<(Event, DecisionRecord)> = Vec::with_capacity(batch.len());
    for (i, item) in batch.into_iter().enumerate() {
        let event = super::filing::event(item.event.to_string().as_bytes())
            .map_err(|e| ServerError::BadInput(format!("decision {i}: {e}")))?;
        own(&agent, &event).map_err(|e| ServerError::Forbidden(format!("decision {i}: {e}")))?;
        decided.push((event, item.decision));
    }
    let recorded = app
        .governance(move |g| Ok(g.record_decisions(&decided)?))
        .await?;
    Ok(Json(json!({"recorded": recorded})))
}

/// Refused unless the event is of the agent's own computer.
fn own(agent: &Agent, event: &Event) -> Result<(), ServerError> {
    if event.computer == agent.computer {
        Ok(())
    } else {
        Err(ServerError::Forbidden(format!(
            "the agent of `{}` may not speak for computer `{}`",
            agent.computer, event.computer
        )))
    }
}

/// This group's rows of the operations table.
pub(super) fn operations() -> Vec<super::Route> {
    use super::{Input, NONE};
    vec![
        route!(POST "/install-keys" "createInstallKey", Admin, Input::Json("InstallKeyBody"), Created, &[], post(create_key),
            "Make an install key for an organization (Edit Computers there); shown once"),
        route!(GET "/install-keys" "listInstallKeys", Admin, NONE, Json, &[], get(list_keys),
            "The install keys of organizations where the caller may edit computers"),
        route!(DELETE "/organizations/{org}/install-keys/{name}" "revokeInstallKey", Admin, NONE, Empty, &[], delete(revoke_key),
            "Revoke an install key"),
        route!(DELETE "/computers/{id}/agent" "revokeAgent", Admin, NONE, Empty, &[], delete(revoke_agent),
            "Revoke a computer's agent credential; the agent must enroll again"),
        route!(POST "/agents/enroll" "enroll", Public, Input::Json("Enrollment"), Created, &[], post(enroll),
            "Enroll an agent with an install key: its computer's id and its credential, once"),
        route!(GET "/agents" "listAgents", Admin, NONE, Json, &[], get(list_agents),
            "The enrolled agents where the caller may edit computers: their latest report, revision, and whether they are behind"),
        route!(GET "/agent/view" "agentView", Agent, NONE, Json, &[], get(view),
            "The agent's computer's view, signed: its organizations, group, computer, the policies that apply and their applications"),
        route!(GET "/agent/changes" "agentChanges", Agent, NONE, Json,
            &[("since", "the revision the agent holds"), ("wait", "seconds to wait for a change (long-poll)")], get(changes),
            "Long-poll: the signed change of the agent's view since a revision, or its whole view when no change can be made"),
        route!(POST "/agent/health" "agentHealth", Agent, Input::Json("HealthReport"), Empty, &[], post(health),
            "Report the agent's revision and health"),
        route!(POST "/agent/requests" "agentRequest", Agent, Input::Json("FileBody"), Created, &[], post(file),
            "File a request for an execution blocked on the agent's own computer"),
        route!(POST "/agent/decisions" "agentDecisions", Agent, Input::Json("Decisions"), Json, &[], post(decisions),
            "Upload the agent's own decisions (at most 1,000 at once), audited"),
    ]
}
