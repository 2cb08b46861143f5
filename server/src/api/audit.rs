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
use axum::routing::{get, post, put};

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
    super::as_admin(&app, admin, move |g, me| g.search_audit(me, &query)).await
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
    super::as_admin(&app, admin, move |g, me| g.audit_checkpoint_as(me)).await
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
    super::as_admin(&app, admin, move |g, me| g.outbox(me, query.state)).await
}

/// This group's rows of the operations table.
pub(super) fn operations() -> Vec<super::Route> {
    use super::{Input, NONE};
    vec![
        route!(GET "/audit" "searchAudit", Admin, NONE, Json, &[("log", "unified (default) or system"), ("organization", "entries of this organization"), ("computer", "entries about this computer"), ("user", "entries about this user"), ("sha256", "entries about this file"), ("kind", "entries of this kind (deny, approve, sign-in-failed, …)"), ("since", "at or after this time (RFC 3339)"), ("until", "before this time (RFC 3339)")], get(search),
            "Search the audit the caller may read"),
        route!(GET "/audit/verify" "verifyAudit", Admin, NONE, Json, &[], get(verify),
            "Verify the audit's hash chain and signed head"),
        route!(POST "/audit/verify" "verifyAuditExtends", Admin, Input::Json("Checkpoint"), Json, &[], post(verify_extends),
            "Verify the audit, and that it extends a checkpoint kept elsewhere"),
        route!(GET "/audit/checkpoint" "auditCheckpoint", Admin, NONE, Json, &[], get(checkpoint),
            "The audit's latest signed checkpoint, to keep elsewhere"),
        route!(POST "/audit/reanchor" "reanchorAudit", Admin, Input::Json("ReanchorBody"), Json, &[], post(reanchor),
            "Re-anchor a damaged audit (Super Admin on every top-level organization)"),
        route!(PUT "/notifications/config" "configureNotifications", Admin, Input::Json("NotifyConfig"), Json, &[], put(configure),
            "Configure notification delivery (SMTP, SMS gateway, link base, retries)"),
        route!(GET "/notifications/outbox" "outbox", Admin, NONE, Json, &[("state", "pending, delivered or failed (default: all)")], get(outbox),
            "The notification outbox"),
    ]
}
