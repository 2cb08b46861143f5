//! Administrators, their notifications, roles, grants and the permission catalogue.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use portcullis_governance::{
    AccessRequestKind, AdminChanges, Channels, Grant, Permission, RoleRecord,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::Body;
use crate::app::App;
use crate::auth::Admin;
use crate::ServerError;
use axum::routing::{delete, get, post, put};

/// An administrator's details to set; what is left out stays as it is (a new
/// administrator needs `name` and `organization`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminBody {
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Home organization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    /// Email address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Phone number for SMS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

/// A role's definition (its id is in the path).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleBody {
    /// The organization that defines it.
    pub organization: String,
    /// Display name.
    pub name: String,
    /// What it grants (ids or names).
    pub permissions: Vec<Permission>,
}

/// `GET /administrators`
pub async fn list(State(app): State<App>, admin: Admin) -> Result<Json<Value>, ServerError> {
    let list = app.governance(move |g| Ok(g.admins(&admin.id)?)).await?;
    Ok(Json(json!(list)))
}

/// `PUT /administrators/{id}`
pub async fn save(
    State(app): State<App>,
    admin: Admin,
    Path(id): Path<String>,
    Body(body): Body<AdminBody>,
) -> Result<Json<Value>, ServerError> {
    let changes = AdminChanges {
        name: body.name,
        organization: body.organization,
        email: body.email,
        phone: body.phone,
    };
    super::as_admin(&app, admin, move |g, me| g.update_admin(me, &id, changes)).await
}

/// `DELETE /administrators/{id}`: the administrator, their grants, and every
/// credential they had.
pub async fn remove(
    State(app): State<App>,
    admin: Admin,
    Path(id): Path<String>,
) -> Result<StatusCode, ServerError> {
    let whom = id.clone();
    app.governance(move |g| Ok(g.delete_admin(&admin.id, &whom)?))
        .await?;
    app.credentials(move |c| c.forget(&id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /administrators/{id}/permissions`
pub async fn permissions(
    State(app): State<App>,
    admin: Admin,
    Path(id): Path<String>,
) -> Result<Json<Value>, ServerError> {
    let value = app
        .governance(move |g| {
            let held = g.permissions_of(&admin.id, &id)?;
            let grants = g.grants_as(&admin.id, &id)?;
            Ok(json!({"grants": grants, "permissions": held}))
        })
        .await?;
    Ok(Json(value))
}

/// `PUT /administrators/{id}/notifications/{kind}`
pub async fn notifications(
    State(app): State<App>,
    admin: Admin,
    Path((id, kind)): Path<(String, String)>,
    Body(channels): Body<Channels>,
) -> Result<Json<Value>, ServerError> {
    let kind = request_kind(&kind)?;
    let whom = id.clone();
    app.governance(move |g| Ok(g.set_notify(&admin.id, &whom, kind, channels)?))
        .await?;
    Ok(Json(
        json!({"administrator": id, "kind": kind, "channels": channels}),
    ))
}

/// A request kind in a path.
pub fn request_kind(text: &str) -> Result<AccessRequestKind, ServerError> {
    match text {
        "application" => Ok(AccessRequestKind::Application),
        "storage" => Ok(AccessRequestKind::Storage),
        "elevation" => Ok(AccessRequestKind::Elevation),
        other => Err(ServerError::BadInput(format!(
            "`{other}` is not a request kind: give application, storage or elevation"
        ))),
    }
}

/// `GET /roles`
pub async fn roles(State(app): State<App>, admin: Admin) -> Result<Json<Value>, ServerError> {
    let roles = app.governance(move |g| Ok(g.roles_as(&admin.id)?)).await?;
    Ok(Json(json!(roles)))
}

/// `PUT /roles/{id}`
pub async fn define_role(
    State(app): State<App>,
    admin: Admin,
    Path(id): Path<String>,
    Body(body): Body<RoleBody>,
) -> Result<Json<Value>, ServerError> {
    let role = RoleRecord {
        id,
        organization: body.organization,
        name: body.name,
        permissions: body.permissions,
    };
    let saved = role.clone();
    app.governance(move |g| Ok(g.define_role(&admin.id, role)?))
        .await?;
    Ok(Json(json!(saved)))
}

/// `POST /grants`
pub async fn grant(
    State(app): State<App>,
    admin: Admin,
    Body(grant): Body<Grant>,
) -> Result<Json<Value>, ServerError> {
    let given = grant.clone();
    app.governance(move |g| Ok(g.grant(&admin.id, grant)?))
        .await?;
    Ok(Json(json!(given)))
}

/// `POST /grants/revoke`
pub async fn revoke(
    State(app): State<App>,
    admin: Admin,
    Body(grant): Body<Grant>,
) -> Result<Json<Value>, ServerError> {
    let taken = grant.clone();
    app.governance(move |g| Ok(g.revoke(&admin.id, grant)?))
        .await?;
    Ok(Json(json!(taken)))
}

/// `GET /permissions`: the catalogue (no tenant's data).
pub async fn catalogue(_: Admin) -> Json<Value> {
    Json(Value::Array(
        Permission::ALL
            .iter()
            .map(|p| json!({"id": p.id(), "name": p.name()}))
            .collect(),
    ))
}

/// This group's rows of the operations table.
pub(super) fn operations() -> Vec<super::Route> {
    use super::{Input, NONE};
    vec![
        route!(GET "/administrators" "listAdministrators", Admin, NONE, Json, &[], get(list),
            "The administrators the caller may see"),
        route!(PUT "/administrators/{id}" "putAdministrator", Admin, Input::Json("AdminBody"), Json, &[], put(save),
            "Add an administrator, or change the details given (Edit Administrators)"),
        route!(DELETE "/administrators/{id}" "deleteAdministrator", Admin, NONE, Empty, &[], delete(remove),
            "Delete an administrator, their grants and their credentials"),
        route!(GET "/administrators/{id}/permissions" "administratorPermissions", Admin, NONE, Json, &[], get(permissions),
            "An administrator's grants and effective permissions per organization"),
        route!(PUT "/administrators/{id}/notifications/{kind}" "setNotifications", Admin, Input::Json("Channels"), Json, &[], put(notifications),
            "An administrator's notify-on-request channels for a request kind"),
        route!(GET "/roles" "listRoles", Admin, NONE, Json, &[], get(roles),
            "The roles the caller may see"),
        route!(PUT "/roles/{id}" "defineRole", Admin, Input::Json("RoleBody"), Json, &[], put(define_role),
            "Define or redefine a role (Role Administrator)"),
        route!(POST "/grants" "grant", Admin, Input::Json("Grant"), Json, &[], post(grant),
            "Grant a permission or assign a role for an organization"),
        route!(POST "/grants/revoke" "revoke", Admin, Input::Json("Grant"), Json, &[], post(revoke),
            "Revoke a permission or unassign a role"),
        route!(GET "/permissions" "permissionCatalogue", Admin, NONE, Json, &[], get(catalogue),
            "The permission catalogue"),
    ]
}
