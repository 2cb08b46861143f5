//! The API under `/api/v1`: one table of operations, from which both the router and
//! the OpenAPI document are made, so neither can name an operation the other lacks.

/// A row of the operations table: method, path, id, access, body, answer, query
/// parameters, handler, summary.
macro_rules! route {
    ($method:ident $path:literal $id:literal, $access:ident, $input:expr, $output:ident, $query:expr, $handler:expr, $summary:literal) => {
        (
            $crate::api::Operation {
                method: axum::http::Method::$method,
                path: $path,
                id: $id,
                summary: $summary,
                access: $crate::api::Access::$access,
                input: $input,
                output: $crate::api::Output::$output,
                query: $query,
            },
            $handler,
        )
    };
}

mod admin;
mod agents;
mod audit;
mod body;
mod deploy;
mod filing;
mod plugins;
mod requests;
pub(crate) mod session;

use axum::http::Method;
use axum::routing::MethodRouter;
use axum::Router;

use axum::Json;
use portcullis_governance::Governance;
use serde::Serialize;
use serde_json::Value;

use crate::app::App;
use crate::auth::Admin;
use crate::ServerError;

pub use admin::{AdminBody, RoleBody};
pub use agents::{Decided, Enrollment, InstallKeyBody, DECISIONS_PER_UPLOAD};
pub use audit::ReanchorBody;
pub use body::Body;
pub use deploy::{MaintenanceBody, RollbackBody, BUNDLE_LIMIT};
pub use filing::{sweep_uploads, uploads, FileBody};
pub use plugins::{PluginBody, PluginInfo, VectorFile, PLUGIN_LIMIT};
pub use requests::{ApproveBody, MatchKind, RejectBody};
pub use session::{Code, Invitation, NewToken, SignIn};

/// Who may call an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone: signing in, accepting an invitation, the OpenAPI document.
    Public,
    /// An authenticated administrator; governance decides what they may do.
    Admin,
    /// An enrolled agent, for its own computer only.
    Agent,
    /// An administrator or an agent.
    Either,
}

/// What an operation takes as its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// Nothing.
    None,
    /// A JSON object, described by the named schema.
    Json(&'static str),
    /// A bundle (JSON, as in `docs/bundle.schema.json`).
    Bundle,
    /// An execution event (JSON, as in `docs/event.schema.json`).
    Event,
    /// Bytes, streamed (`application/octet-stream`).
    Bytes,
}

/// What an operation answers with on success.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// A JSON value.
    Json,
    /// A JSON value about what was made (201).
    Created,
    /// Bytes (`application/octet-stream`).
    Bytes,
    /// Nothing (204).
    Empty,
}

/// One operation of the API.
#[derive(Debug, Clone)]
pub struct Operation {
    /// The HTTP method.
    pub method: Method,
    /// The path, with `{name}` parameters.
    pub path: &'static str,
    /// The OpenAPI `operationId`.
    pub id: &'static str,
    /// One line on what it does.
    pub summary: &'static str,
    /// Who may call it.
    pub access: Access,
    /// Its body.
    pub input: Input,
    /// Its answer.
    pub output: Output,
    /// Query parameters it reads (name, description).
    pub query: &'static [(&'static str, &'static str)],
}

/// The prefix of every operation's path.
pub const PREFIX: &str = "/api/v1";

/// No body.
pub const NONE: Input = Input::None;

/// One row of the table: an operation and its handler.
pub type Route = (Operation, MethodRouter<App>);

/// Every operation, with its handler: each group's rows. (The OpenAPI document is
/// made from this table, so its own route is added beside it, in `listen.rs`.)
pub fn operations() -> Vec<Route> {
    [
        session::operations(),
        requests::operations(),
        filing::operations(),
        admin::operations(),
        deploy::operations(),
        audit::operations(),
        agents::operations(),
        plugins::operations(),
    ]
    .concat()
}

/// One governance call as the administrator calling, answered as JSON: what most
/// operations are.
async fn as_admin<T, F>(app: &App, admin: Admin, work: F) -> Result<Json<Value>, ServerError>
where
    T: Serialize + Send + 'static,
    F: FnOnce(&mut Governance, &str) -> Result<T, portcullis_governance::Error> + Send + 'static,
{
    let value = app.governance(move |g| Ok(work(g, &admin.id)?)).await?;
    Ok(Json(serde_json::json!(value)))
}

/// The API's router (paths under [`PREFIX`]).
pub fn router() -> Router<App> {
    operations()
        .into_iter()
        .fold(Router::new(), |router, (op, handler)| {
            router.route(&format!("{PREFIX}{}", op.path), handler)
        })
}
