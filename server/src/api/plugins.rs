//! Plugins through the API: attach (the plugin loaded and its vectors run on the
//! server, as `portcullis plugin attach` does on a state directory), detach, list.
//! Each needs Edit Integrations on the plugin's organization.

use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::Json;
use base64::Engine as _;
use portcullis_governance::{Act, PluginAttachment};
use portcullis_plugins::{AttachSource, HostOptions, WasmHost};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

use super::Body;
use crate::app::App;
use crate::auth::Admin;
use crate::ServerError;

/// The largest plugin body, in bytes: a component of the larger guest languages is
/// 12–18 MB, sent as base64.
pub const PLUGIN_LIMIT: usize = 64 << 20;

/// A test vector sent with a plugin: its file name and text.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VectorFile {
    /// The file name it is kept under.
    pub file: String,
    /// The vector (JSON text, as in `plugins/examples/vectors/`).
    pub text: String,
}

/// What attaching a plugin takes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginBody {
    /// The name to attach it under (default: the plugin's own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Its file name: `*.rego` for a Rego policy, else a WebAssembly component.
    pub file_name: String,
    /// The plugin's bytes, base64.
    pub content: String,
    /// The organization's settings for it.
    #[serde(default)]
    pub config: BTreeMap<String, String>,
    /// Its test vectors; every one must pass.
    #[serde(default)]
    pub vectors: Vec<VectorFile>,
}

impl PluginBody {
    /// The body that attaches `source` (its organization goes in the path).
    pub fn of(source: &AttachSource) -> PluginBody {
        PluginBody {
            name: source.name.clone(),
            file_name: source.file_name.clone(),
            content: base64::engine::general_purpose::STANDARD.encode(&source.content),
            config: source.config.clone(),
            vectors: source
                .vectors
                .iter()
                .map(|(file, text)| VectorFile {
                    file: file.clone(),
                    text: text.clone(),
                })
                .collect(),
        }
    }
}

/// What the list shows of an attached plugin (not its bytes).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PluginInfo {
    /// Its organization.
    pub organization: String,
    /// Its name there.
    pub name: String,
    /// The hook it serves.
    pub hook: String,
    /// Its file name.
    pub file_name: String,
    /// The SHA-256 of its bytes.
    pub sha256: String,
    /// The organization's settings for it.
    pub config: BTreeMap<String, String>,
    /// How many test vectors it passed when attached.
    pub vectors: usize,
}

impl PluginInfo {
    /// What the list shows of `plugin`.
    pub fn of(plugin: &PluginAttachment) -> PluginInfo {
        PluginInfo {
            organization: plugin.organization.clone(),
            name: plugin.name.clone(),
            hook: plugin.hook.clone(),
            file_name: plugin.file_name.clone(),
            sha256: plugin.sha256.to_string(),
            config: plugin.config.clone(),
            vectors: plugin.vectors.len(),
        }
    }
}

/// `POST /organizations/{org}/plugins`
async fn attach(
    State(app): State<App>,
    admin: Admin,
    Path(org): Path<String>,
    Body(body): Body<PluginBody>,
) -> Result<(StatusCode, Json<Value>), ServerError> {
    // Refused before anything is compiled.
    let (who, place) = (admin.id.clone(), org.clone());
    app.governance(move |g| Ok(g.authorize(&who, Act::EditIntegrations, &place)?))
        .await?;
    let content = base64::engine::general_purpose::STANDARD
        .decode(body.content.as_bytes())
        .map_err(|e| ServerError::BadInput(format!("the body at `content`: not base64: {e}")))?;
    let source = AttachSource {
        organization: org,
        name: body.name,
        file_name: body.file_name,
        content,
        config: body.config,
        vectors: body.vectors.into_iter().map(|v| (v.file, v.text)).collect(),
    };
    // Loading a component compiles it: off the async threads, outside the state's lock,
    // into the cache directory and the state's artifacts, which the state's plugins
    // load from (on this node and the others), so they do not compile it again.
    let options = HostOptions {
        cache_dir: Some(app.settings().plugin_cache()),
        artifacts: Some(app.artifacts()),
        ..HostOptions::default()
    };
    let attachment = tokio::task::spawn_blocking(move || {
        let host = WasmHost::open(options)
            .map_err(|e| ServerError::Internal(format!("the plugin host: {e}")))?;
        portcullis_plugins::prepare(source, &host).map_err(|e| ServerError::BadInput(e.to_string()))
    })
    .await
    .map_err(|e| ServerError::Internal(format!("loading the plugin failed: {e}")))??;
    let info = PluginInfo::of(&attachment);
    app.governance(move |g| Ok(g.attach_plugin(&admin.id, attachment)?))
        .await?;
    Ok((StatusCode::CREATED, Json(serde_json::json!(info))))
}

/// `DELETE /organizations/{org}/plugins/{name}`
async fn detach(
    State(app): State<App>,
    admin: Admin,
    Path((org, name)): Path<(String, String)>,
) -> Result<StatusCode, ServerError> {
    app.governance(move |g| Ok(g.detach_plugin(&admin.id, &org, &name)?))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /plugins`: the plugins of the organizations where the caller has Edit
/// Integrations.
async fn list(State(app): State<App>, admin: Admin) -> Result<Json<Value>, ServerError> {
    let shown = app
        .governance(move |g| {
            let all = g.all_plugins()?;
            Ok(all
                .iter()
                .filter(|p| {
                    g.authorize(&admin.id, Act::EditIntegrations, &p.organization)
                        .is_ok()
                })
                .map(PluginInfo::of)
                .collect::<Vec<_>>())
        })
        .await?;
    Ok(Json(serde_json::json!(shown)))
}

pub(super) fn operations() -> Vec<super::Route> {
    use super::{Input, NONE};
    vec![
        route!(POST "/organizations/{org}/plugins" "attachPlugin", Admin, Input::Json("PluginBody"), Created, &[], post(attach).layer(DefaultBodyLimit::max(PLUGIN_LIMIT)),
            "Attach a plugin to an organization: it is loaded and every test vector given must pass (Edit Integrations)"),
        route!(DELETE "/organizations/{org}/plugins/{name}" "detachPlugin", Admin, NONE, Empty, &[], delete(detach),
            "Detach a plugin (Edit Integrations)"),
        route!(GET "/plugins" "listPlugins", Admin, NONE, Json, &[], get(list),
            "The plugins attached where the caller has Edit Integrations"),
    ]
}
