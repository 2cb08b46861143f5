//! The approval queue: listing, opening, fetching the file of, approving and rejecting
//! requests, and the suggestions that come of approvals.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use portcullis_engine::model::{FileRule, Timestamp};
use portcullis_governance::{ApproveOptions, Matching, RequestState, ScopeKind};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Body;
use crate::app::App;
use crate::auth::Admin;
use crate::ServerError;
use axum::routing::{get, post};

/// How an approval's rule matches the file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MatchKind {
    /// The file's SHA-256.
    #[default]
    Hash,
    /// The signer's subject and issuer.
    Certificate,
    /// The signer and the path.
    CertificatePath,
    /// The path.
    Path,
    /// The rule in `rule`.
    Custom,
}

/// What approving takes: the same choices as `portcullis approve`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApproveBody {
    /// Where the new policy applies (default: computer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<ScopeKind>,
    /// The computer, group or organization of the scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// How the rule matches the file (default: hash).
    #[serde(default, rename = "match")]
    pub matching: MatchKind,
    /// With `"match": "custom"`: the file rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<FileRule>,
    /// Add the rule to this existing application.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application: Option<String>,
    /// The name of the new application.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Permit with elevation.
    #[serde(default)]
    pub elevate: bool,
    /// The policy stops applying at this time (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<Timestamp>,
    /// Why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub justification: Option<String>,
    /// The policy's position.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<i64>,
}

impl ApproveBody {
    /// The approval options this body asks for.
    pub fn options(self) -> Result<ApproveOptions, ServerError> {
        let matching = match (self.matching, self.rule) {
            (MatchKind::Custom, Some(rule)) => Matching::Custom(rule),
            (MatchKind::Custom, None) => {
                return Err(ServerError::BadInput(
                    "`\"match\": \"custom\"` needs a `rule`".to_owned(),
                ))
            }
            (_, Some(_)) => {
                return Err(ServerError::BadInput(
                    "`rule` goes with `\"match\": \"custom\"`".to_owned(),
                ))
            }
            (MatchKind::Hash, None) => Matching::Hash,
            (MatchKind::Certificate, None) => Matching::Certificate,
            (MatchKind::CertificatePath, None) => Matching::CertificatePath,
            (MatchKind::Path, None) => Matching::Path,
        };
        let mut options = ApproveOptions::new(self.scope.unwrap_or(ScopeKind::Computer), matching);
        options.target = self.target;
        options.application = self.application;
        options.application_name = self.name;
        options.elevate = self.elevate;
        options.expires = self.expires;
        options.justification = self.justification;
        options.position = self.position;
        Ok(options)
    }
}

/// What rejecting takes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RejectBody {
    /// Why (the requester is told).
    pub reason: String,
}

/// The queue's filter.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// `pending` (default), `approved`, `rejected`, `expired` or `all`.
    #[serde(default)]
    status: Option<String>,
    /// A page of at most this many, newest first (every one, oldest first, without).
    #[serde(default)]
    limit: Option<usize>,
    /// The page after request `before` (older than it).
    #[serde(default)]
    before: Option<i64>,
}

/// The most requests one page holds.
const MAX_PAGE: usize = 1000;

fn status(text: Option<&str>) -> Result<Option<RequestState>, ServerError> {
    Ok(match text.unwrap_or("pending") {
        "pending" => Some(RequestState::Pending),
        "approved" => Some(RequestState::Approved),
        "rejected" => Some(RequestState::Rejected),
        "expired" => Some(RequestState::Expired),
        "all" => None,
        other => {
            return Err(ServerError::BadInput(format!(
                "`status={other}`: give pending, approved, rejected, expired or all"
            )))
        }
    })
}

/// `GET /requests`
pub async fn list(
    State(app): State<App>,
    admin: Admin,
    Query(query): Query<ListQuery>,
) -> Result<Json<Value>, ServerError> {
    let state = status(query.status.as_deref())?;
    match (query.limit, query.before) {
        (None, None) => super::as_admin(&app, admin, move |g, me| g.requests(me, state)).await,
        (limit, before) => {
            let limit = limit.unwrap_or(50);
            if !(1..=MAX_PAGE).contains(&limit) {
                return Err(ServerError::BadInput(format!(
                    "`limit={limit}`: a page holds 1 to {MAX_PAGE} requests"
                )));
            }
            super::as_admin(&app, admin, move |g, me| {
                g.requests_page(me, state, before, limit)
            })
            .await
        }
    }
}

/// `GET /requests/{id}`
pub async fn show(
    State(app): State<App>,
    admin: Admin,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ServerError> {
    super::as_admin(&app, admin, move |g, me| g.request(me, id)).await
}

/// `GET /requests/{id}/file`
pub async fn file(
    State(app): State<App>,
    admin: Admin,
    Path(id): Path<i64>,
) -> Result<Response, ServerError> {
    let bytes = app
        .governance(move |g| Ok(g.request_file(&admin.id, id)?))
        .await?;
    let mut response = bytes.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    Ok(response)
}

/// `POST /requests/{id}/approve`
pub async fn approve(
    State(app): State<App>,
    admin: Admin,
    Path(id): Path<i64>,
    Body(body): Body<ApproveBody>,
) -> Result<Json<Value>, ServerError> {
    let options = body.options()?;
    super::as_admin(&app, admin, move |g, me| g.approve(me, id, options)).await
}

/// `POST /requests/{id}/reject`
pub async fn reject(
    State(app): State<App>,
    admin: Admin,
    Path(id): Path<i64>,
    Body(body): Body<RejectBody>,
) -> Result<Json<Value>, ServerError> {
    super::as_admin(&app, admin, move |g, me| g.reject(me, id, &body.reason)).await
}

/// `GET /suggestions`
pub async fn suggestions(State(app): State<App>, admin: Admin) -> Result<Json<Value>, ServerError> {
    super::as_admin(&app, admin, move |g, me| g.suggestions(me)).await
}

/// This group's rows of the operations table.
pub(super) fn operations() -> Vec<super::Route> {
    use super::{Input, NONE};
    vec![
        route!(GET "/requests" "listRequests", Admin, NONE, Json, &[("status", "pending (default), approved, rejected, expired or all"), ("limit", "a page of at most this many (1 to 1000), newest first; without limit or before, every request, oldest first"), ("before", "the page of requests older than this request id (with limit, 50 by default)")], get(list),
            "The approval queue the caller may see"),
        route!(GET "/requests/{id}" "showRequest", Admin, NONE, Json, &[], get(show),
            "One request in full (needs a permission to approve it)"),
        route!(GET "/requests/{id}/file" "requestFile", Admin, NONE, Bytes, &[], get(file),
            "The stored copy of a request's file"),
        route!(POST "/requests/{id}/approve" "approveRequest", Admin, Input::Json("ApproveBody"), Json, &[], post(approve),
            "Approve a pending request: writes the policy, deploys it and proves the execution is allowed"),
        route!(POST "/requests/{id}/reject" "rejectRequest", Admin, Input::Json("RejectBody"), Json, &[], post(reject),
            "Reject a pending request with a reason"),
        route!(GET "/suggestions" "listSuggestions", Admin, NONE, Json, &[], get(suggestions),
            "Software approved computer by computer often enough to deserve a wider policy"),
    ]
}
