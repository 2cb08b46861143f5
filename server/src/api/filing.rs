//! Deciding events and filing requests through the API, with the blocked file's copy
//! sent first as a streamed upload.
//!
//! An upload is written to `uploads/` in the state directory as it arrives, hashed on
//! the way, and kept under its SHA-256 until a request takes it (or an hour passes).
//! A request then names the upload by that hash, which must be its execution's.

use std::path::{Path as FsPath, PathBuf};

use axum::body::{Body as HttpBody, Bytes};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use http_body_util::BodyExt as _;
use portcullis_engine::model::Sha256;
use portcullis_engine::{Event, Limits};
use portcullis_governance::{AccessRequestKind, FileRequest, MAX_ATTACHMENT};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::Digest as _;
use tokio::io::AsyncWriteExt as _;

use super::Body;
use crate::app::App;
use crate::auth::{Admin, Caller};
use crate::ServerError;
use axum::extract::DefaultBodyLimit;
use axum::routing::{post, put};

/// How long an upload no request took is kept, in seconds.
pub const UPLOAD_LIFETIME: u64 = 3600;

/// The folder of uploads in a state directory.
pub fn uploads(state: &FsPath) -> PathBuf {
    state.join("uploads")
}

/// `POST /decisions`: the body is an execution event.
pub async fn decide(
    State(app): State<App>,
    admin: Admin,
    body: Bytes,
) -> Result<Json<Value>, ServerError> {
    let event = event(&body)?;
    super::as_admin(&app, admin, move |g, me| g.decide_as(me, &event)).await
}

pub(super) fn event(body: &[u8]) -> Result<Event, ServerError> {
    let text = std::str::from_utf8(body)
        .map_err(|e| ServerError::BadInput(format!("the event is not UTF-8: {e}")))?;
    Limits::default()
        .parse_event(text)
        .map_err(|e| ServerError::BadInput(format!("the event: {e}")))
}

/// `PUT /uploads`: the body is the file, streamed to disk and hashed on the way.
pub async fn upload(
    State(app): State<App>,
    _: Caller,
    body: HttpBody,
) -> Result<(StatusCode, Json<Value>), ServerError> {
    let folder = uploads(&app.settings().state);
    let fail = |e: std::io::Error| ServerError::Storage(format!("upload: {e}"));
    tokio::fs::create_dir_all(&folder).await.map_err(fail)?;
    let partial = folder.join(format!("partial-{}", crate::secret::token("u")?));
    let written = receive(body, &partial).await;
    let (sha, size) = match written {
        Ok(done) => done,
        Err(e) => {
            let _ = tokio::fs::remove_file(&partial).await;
            return Err(e);
        }
    };
    tokio::fs::rename(&partial, folder.join(sha.to_string()))
        .await
        .map_err(fail)?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"sha256": sha, "size": size})),
    ))
}

/// Writes the body to `path` as it arrives; its SHA-256 and size.
async fn receive(mut body: HttpBody, path: &FsPath) -> Result<(Sha256, u64), ServerError> {
    let fail = |e: std::io::Error| ServerError::Storage(format!("upload: {e}"));
    let mut file = tokio::fs::File::create(path).await.map_err(fail)?;
    let mut hasher = sha2::Sha256::new();
    let mut size: u64 = 0;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            if e.to_string().contains("length limit exceeded") {
                ServerError::TooLarge(format!(
                    "a file copy may have at most {MAX_ATTACHMENT} bytes"
                ))
            } else {
                ServerError::BadInput(format!("the upload could not be read: {e}"))
            }
        })?;
        if let Ok(chunk) = frame.into_data() {
            size += chunk.len() as u64;
            hasher.update(&chunk);
            file.write_all(&chunk).await.map_err(fail)?;
        }
    }
    file.sync_all().await.map_err(fail)?;
    let digest: [u8; 32] = hasher.finalize().into();
    Ok((Sha256(digest), size))
}

/// What filing a request takes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileBody {
    /// application (default), storage or elevation.
    #[serde(default = "application")]
    pub kind: AccessRequestKind,
    /// The blocked execution.
    pub event: Value,
    /// Why the user needs it.
    pub message: String,
    /// Where to tell the user the outcome.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The SHA-256 of an upload holding the blocked file's copy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<Sha256>,
}

fn application() -> AccessRequestKind {
    AccessRequestKind::Application
}

/// `POST /requests`: an administrator files a request on the blocked user's behalf.
pub async fn file(
    State(app): State<App>,
    admin: Admin,
    Body(body): Body<FileBody>,
) -> Result<(StatusCode, Json<Value>), ServerError> {
    let (request, upload) = request(&app, body).await?;
    file_and_review(&app, upload, Some(admin.id), request).await
}

/// Files a request (as `actor`, or for an agent's own computer) in the next group
/// commit, lets the approval plugins attached along its organization's path review it,
/// and answers both; the upload goes once stored.
pub(super) async fn file_and_review(
    app: &App,
    upload: Option<PathBuf>,
    actor: Option<String>,
    request: FileRequest,
) -> Result<(StatusCode, Json<Value>), ServerError> {
    let filed = app.file_request(actor, request).await;
    if let Some(path) = upload {
        let _ = tokio::fs::remove_file(path).await;
    }
    Ok((StatusCode::CREATED, Json(filed?)))
}

/// The request a body asks to file, with the upload it takes (removed once filed).
pub(super) async fn request(
    app: &App,
    body: FileBody,
) -> Result<(FileRequest, Option<PathBuf>), ServerError> {
    let event = event(body.event.to_string().as_bytes())?;
    let upload = body
        .file
        .map(|sha| uploads(&app.settings().state).join(sha.to_string()));
    let attachment = match &upload {
        None => None,
        Some(path) => Some(tokio::fs::read(path).await.map_err(|_| {
            ServerError::BadInput(
                "`file` names no upload: send the file with `PUT /api/v1/uploads` first".to_owned(),
            )
        })?),
    };
    let request = FileRequest {
        kind: body.kind,
        event,
        message: body.message,
        email: body.email,
        attachment,
    };
    Ok((request, upload))
}

/// Removes uploads older than [`UPLOAD_LIFETIME`].
pub fn sweep_uploads(state: &FsPath) {
    let Ok(entries) = std::fs::read_dir(uploads(state)) else {
        return;
    };
    for entry in entries.flatten() {
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age.as_secs() > UPLOAD_LIFETIME);
        if old {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// This group's rows of the operations table.
pub(super) fn operations() -> Vec<super::Route> {
    use super::Input;
    vec![
        route!(POST "/decisions" "decide", Admin, Input::Event, Json, &[], post(decide),
            "Decide an execution event on the current policies (audited); for who works its organization's queue"),
        route!(PUT "/uploads" "upload", Either, Input::Bytes, Created, &[], put(upload).layer(DefaultBodyLimit::max(portcullis_governance::MAX_ATTACHMENT)),
            "Send a blocked file's copy, streamed; answers its SHA-256 for a request to name"),
        route!(POST "/requests" "fileRequest", Admin, Input::Json("FileBody"), Created, &[], post(file),
            "File a request for a blocked execution on the user's behalf (a permission to open such requests there)"),
    ]
}
