//! The audit (search, verify, checkpoint, re-anchor) and notification delivery's
//! configuration and outbox.

use axum::extract::{Query, State};
use axum::Json;
use portcullis_engine::model::{Sha256, Timestamp};
use portcullis_governance::{AuditLog, AuditQuery, Checkpoint, NotifyConfig, OutboxState};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::Body;
use crate::app::App;
use crate::auth::Admin;
use crate::ServerError;

/// What to look for in the audit; empty fields match everything.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
    /// `unified` (default) or `system`.
    #[serde(default)]
    log: Option<AuditLog>,
    #[serde(default)]
    organization: Option<String>,
    #[serde(default)]
    computer: Option<String>,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    sha256: Option<Sha256>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    since: Option<Timestamp>,
    #[serde(default)]
    until: Option<Timestamp>,
}

/// `GET /audit`
pub async fn search(
    State(app): State<App>,
    admin: Admin,
    Query(query): Query<SearchQuery>,
) -> Result<Json<Value>, ServerError> {
    let query = AuditQuery {
        log: Some(query.log.unwrap_or(AuditLog::Unified)),
        organization: query.organization,
        computer: query.computer,
        user: query.user,
        sha256: query.sha256,
        kind: query.kind,
        since: query.since,
        until: query.until,
    };
    let entries = app
        .governance(move |g| Ok(g.search_audit(&admin.id, &query)?))
        .await?;
    Ok(Json(json!(entries)))
}

/// `GET /audit/verify`: `{"verified": entries}` or `{"broken": where}`.
pub async fn verify(State(app): State<App>, admin: Admin) -> Result<Json<Value>, ServerError> {
    let result = app
        .governance(move |g| Ok(g.verify_audit_as(&admin.id)?))
        .await?;
    Ok(Json(verdict(result)))
}

/// `POST /audit/verify`: whether the audit extends the checkpoint in the body.
pub async fn verify_extends(
    State(app): State<App>,
    admin: Admin,
    Body(checkpoint): Body<Checkpoint>,
) -> Result<Json<Value>, ServerError> {
    let result = app
        .governance(move |g| Ok(g.verify_audit_extends_as(&admin.id, &checkpoint)?))
        .await?;
    Ok(Json(verdict(result)))
}

fn verdict(result: Result<usize, portcullis_governance::AuditBreak>) -> Value {
    match result {
        Ok(count) => json!({"verified": count}),
        Err(problem) => json!({"broken": problem, "message": problem.to_string()}),
    }
}

/// `GET /audit/checkpoint`
pub async fn checkpoint(State(app): State<App>, admin: Admin) -> Result<Json<Value>, ServerError> {
    let checkpoint = app
        .governance(move |g| Ok(g.audit_checkpoint_as(&admin.id)?))
        .await?;
    Ok(Json(json!(checkpoint)))
}

/// What re-anchoring takes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReanchorBody {
    /// What was looked into.
    pub reason: String,
}

/// `POST /audit/reanchor`
pub async fn reanchor(
    State(app): State<App>,
    admin: Admin,
    Body(body): Body<ReanchorBody>,
) -> Result<Json<Value>, ServerError> {
    let problems = app
        .governance(move |g| Ok(g.reanchor_audit(&admin.id, &body.reason)?))
        .await?;
    Ok(Json(json!({"reanchored": problems})))
}

/// `PUT /notifications/config`
pub async fn configure(
    State(app): State<App>,
    admin: Admin,
    Body(config): Body<NotifyConfig>,
) -> Result<Json<Value>, ServerError> {
    app.governance(move |g| Ok(g.configure_notifications(&admin.id, config)?))
        .await?;
    Ok(Json(json!({"configured": true})))
}

/// The outbox's filter.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboxQuery {
    /// pending, delivered or failed (default: all).
    #[serde(default)]
    state: Option<OutboxState>,
}

/// `GET /notifications/outbox`
pub async fn outbox(
    State(app): State<App>,
    admin: Admin,
    Query(query): Query<OutboxQuery>,
) -> Result<Json<Value>, ServerError> {
    let rows = app
        .governance(move |g| Ok(g.outbox(&admin.id, query.state)?))
        .await?;
    Ok(Json(json!(rows)))
}
