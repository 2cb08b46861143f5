//! The tenancy's bundle and what changes it besides approvals: deploys, rollbacks,
//! the history, organizations' approval settings, computers' maintenance modes.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use portcullis_engine::model::{MaintenanceMode, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::Body;
use crate::app::App;
use crate::auth::Admin;
use crate::ServerError;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, patch, post, put};

/// The largest bundle a deploy takes, in bytes (a 1,000-organization tenancy's bundle
/// is about 110 MB).
pub const BUNDLE_LIMIT: usize = 256 << 20;

/// `POST /deploys`: the body is the whole bundle.
pub async fn deploy(
    State(app): State<App>,
    admin: Admin,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ServerError> {
    let text = std::str::from_utf8(&body)
        .map_err(|e| ServerError::BadInput(format!("the bundle is not UTF-8: {e}")))?;
    let bundle = portcullis_engine::parse(text).map_err(|errors| {
        let located: Vec<String> = errors
            .errors()
            .iter()
            .take(portcullis_engine::LOCATED_ERRORS)
            .map(|e| format!("  {e}"))
            .collect();
        ServerError::BadInput(format!(
            "the bundle has {} error(s):\n{}",
            errors.errors().len(),
            located.join("\n")
        ))
    })?;
    let version = app
        .governance(move |g| Ok(g.deploy(&admin.id, bundle, "deploy through the API")?))
        .await?;
    Ok((StatusCode::CREATED, Json(json!({"version": version}))))
}

/// What a rollback takes.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RollbackBody {
    /// The version to restore (default: the one before the current).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<i64>,
}

/// `POST /rollback`
pub async fn rollback(
    State(app): State<App>,
    admin: Admin,
    Body(body): Body<RollbackBody>,
) -> Result<Json<Value>, ServerError> {
    let version = app
        .governance(move |g| Ok(g.rollback(&admin.id, body.to)?))
        .await?;
    Ok(Json(json!({"version": version})))
}

/// The history's length.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    /// How many versions, newest first (default 50).
    #[serde(default)]
    limit: Option<usize>,
}

/// `GET /deploys`
pub async fn history(
    State(app): State<App>,
    admin: Admin,
    Query(query): Query<HistoryQuery>,
) -> Result<Json<Value>, ServerError> {
    let limit = query.limit.unwrap_or(50).min(10_000);
    super::as_admin(&app, admin, move |g, me| g.history(me, limit)).await
}

/// `GET /organizations/{org}/settings`
pub async fn settings(
    State(app): State<App>,
    admin: Admin,
    Path(org): Path<String>,
) -> Result<Json<Value>, ServerError> {
    super::as_admin(&app, admin, move |g, me| g.settings_as(me, &org)).await
}

/// `PATCH /organizations/{org}/settings`: the fields given change, the rest stay.
pub async fn change_settings(
    State(app): State<App>,
    admin: Admin,
    Path(org): Path<String>,
    Body(changes): Body<Map<String, Value>>,
) -> Result<Json<Value>, ServerError> {
    let settings = app
        .governance(move |g| {
            let current = serde_json::to_value(g.settings_as(&admin.id, &org)?)
                .map_err(|e| ServerError::Internal(format!("settings: {e}")))?;
            let mut fields = match current {
                Value::Object(fields) => fields,
                _ => Map::new(),
            };
            for (key, value) in changes {
                if !fields.contains_key(&key) {
                    let known: Vec<&str> = fields.keys().map(String::as_str).collect();
                    return Err(ServerError::BadInput(format!(
                        "`{key}` is not a setting; the settings are {}",
                        known.join(", ")
                    )));
                }
                fields.insert(key, value);
            }
            let settings = serde_json::from_value(Value::Object(fields))
                .map_err(|e| ServerError::BadInput(format!("the settings: {e}")))?;
            g.set_settings(&admin.id, &org, settings)?;
            Ok(g.settings_as(&admin.id, &org)?)
        })
        .await?;
    Ok(Json(json!(settings)))
}

/// A maintenance mode to set.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceBody {
    /// monitor, learning or installation.
    pub mode: MaintenanceMode,
    /// When it ends by itself (RFC 3339).
    pub until: Timestamp,
}

/// `PUT /computers/{id}/maintenance`
pub async fn set_maintenance(
    State(app): State<App>,
    admin: Admin,
    Path(computer): Path<String>,
    Body(body): Body<MaintenanceBody>,
) -> Result<Json<Value>, ServerError> {
    maintenance(app, admin, computer, Some((body.mode, body.until))).await
}

/// `DELETE /computers/{id}/maintenance`
pub async fn end_maintenance(
    State(app): State<App>,
    admin: Admin,
    Path(computer): Path<String>,
) -> Result<Json<Value>, ServerError> {
    maintenance(app, admin, computer, None).await
}

async fn maintenance(
    app: App,
    admin: Admin,
    computer: String,
    setting: Option<(MaintenanceMode, Timestamp)>,
) -> Result<Json<Value>, ServerError> {
    let id = computer.clone();
    let version = app
        .governance(move |g| Ok(g.set_maintenance(&admin.id, &id, setting)?))
        .await?;
    Ok(Json(json!({"computer": computer, "version": version})))
}

/// This group's rows of the operations table.
pub(super) fn operations() -> Vec<super::Route> {
    use super::{Input, NONE};
    vec![
        route!(POST "/deploys" "deploy", Admin, Input::Bundle, Created, &[], post(deploy).layer(DefaultBodyLimit::max(BUNDLE_LIMIT)),
            "Deploy a whole bundle (Edit or View Organizations on every organization it changes)"),
        route!(GET "/deploys" "history", Admin, NONE, Json, &[("limit", "how many versions, newest first (default 50)")], get(history),
            "The deploy history (Edit or View Organizations on every top-level organization)"),
        route!(POST "/rollback" "rollback", Admin, Input::Json("RollbackBody"), Json, &[], post(rollback),
            "Restore an earlier bundle version as a new version"),
        route!(GET "/organizations/{org}/settings" "organizationSettings", Admin, NONE, Json, &[], get(settings),
            "The approval settings that apply to an organization"),
        route!(PATCH "/organizations/{org}/settings" "changeSettings", Admin, Input::Json("SettingsChange"), Json, &[], patch(change_settings),
            "Change some of an organization's approval settings"),
        route!(PUT "/computers/{id}/maintenance" "setMaintenance", Admin, Input::Json("MaintenanceBody"), Json, &[], put(set_maintenance),
            "Put a computer in a maintenance mode until a time"),
        route!(DELETE "/computers/{id}/maintenance" "endMaintenance", Admin, NONE, Json, &[], delete(end_maintenance),
            "End a computer's maintenance mode now"),
    ]
}
