//! The Approval Center: HTML pages under `/approvals`, for administrators in a browser.
//! Server-rendered from askama templates compiled into the binary (escaping on by
//! default), a stylesheet and a little JavaScript; every action works without it.
//!
//! A page authenticates with the session cookie only (the API's tokens are for
//! scripts), and every form that changes anything carries the session's CSRF token in
//! a hidden field. What the administrator may see or do is asked of governance with
//! their id, through the same calls the API makes: the one authorization point.

mod audit;
mod fleet;
mod login;
mod queue;
mod request;

use askama::Template;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::de::DeserializeOwned;

use crate::app::App;
use crate::auth::session_cookie;
use crate::clock::unix_now;
use crate::{secret, ServerError};

/// Where the Approval Center lives; a notification's link is
/// `{public URL}/approvals/requests/{id}`.
pub const BASE: &str = "/approvals";

/// The Approval Center's router.
pub fn router() -> Router<App> {
    Router::new()
        .route("/approvals", get(queue::page))
        .route("/approvals/", get(queue::page))
        .route("/approvals/login", get(login::form).post(login::submit))
        .route("/approvals/logout", post(login::sign_out))
        .route("/approvals/requests/{id}", get(request::page))
        .route("/approvals/requests/{id}/preview", post(request::preview))
        .route("/approvals/requests/{id}/approve", post(request::approve))
        .route("/approvals/requests/{id}/reject", post(request::reject))
        .route("/approvals/requests/{id}/file", get(request::file))
        .route("/approvals/suggestions", get(fleet::suggestions))
        .route(
            "/approvals/suggestions/apply",
            post(fleet::apply_suggestion),
        )
        .route("/approvals/computers", get(fleet::computers))
        .route("/approvals/computers/{id}", get(fleet::computer))
        .route(
            "/approvals/computers/{id}/maintenance",
            post(fleet::maintenance),
        )
        .route(
            "/approvals/computers/{id}/request",
            post(fleet::file_request),
        )
        .route("/approvals/audit", get(audit::search))
        .route("/approvals/audit/verify", post(audit::verify))
        .route("/approvals/deploys", get(audit::deploys))
        .route("/approvals/deploys/rollback", post(audit::rollback))
        .route("/approvals/static/style.css", get(style))
        .route("/approvals/static/app.js", get(script))
        .route("/approvals/{*rest}", get(unknown).post(unknown))
        .layer(axum::middleware::map_response(harden))
}

/// Every page: no script or style from elsewhere, no inline script, no framing, and
/// nothing cached.
async fn harden(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
             form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// A page the Approval Center does not have.
async fn unknown(uri: axum::http::Uri) -> WebError {
    WebError::Failed(ServerError::NotFound(format!(
        "the Approval Center has no page `{}`",
        shown(uri.path())
    )))
}

async fn style() -> Response {
    asset("text/css", include_str!("../../assets/style.css"))
}

async fn script() -> Response {
    asset("text/javascript", include_str!("../../assets/app.js"))
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        body,
    )
        .into_response()
}

/// Why a page is not shown: the visitor must sign in first (they come back to the
/// page after), or the call failed (an HTML page with the sentence and its status).
#[derive(Debug)]
pub enum WebError {
    /// Not signed in, or the session ended: to the sign-in page, then back here.
    SignIn(String),
    /// Anything else.
    Failed(ServerError),
}

impl From<ServerError> for WebError {
    fn from(e: ServerError) -> WebError {
        WebError::Failed(e)
    }
}

impl From<portcullis_governance::Error> for WebError {
    fn from(e: portcullis_governance::Error) -> WebError {
        WebError::Failed(e.into())
    }
}

impl From<askama::Error> for WebError {
    fn from(e: askama::Error) -> WebError {
        WebError::Failed(ServerError::Internal(format!(
            "a page failed to render: {e}"
        )))
    }
}

/// The error page.
#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    status: u16,
    title: String,
    detail: String,
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        match self {
            WebError::SignIn(next) => {
                let to = format!("{BASE}/login?next={}", percent_encode(&next));
                Redirect::to(&to).into_response()
            }
            WebError::Failed(error) => {
                let status = error.status();
                let detail = if status.is_server_error() {
                    tracing::error!(error = %error, "page failed");
                    "the server failed; its log says why".to_owned()
                } else {
                    shown(&error.to_string())
                };
                let page = ErrorPage {
                    status: status.as_u16(),
                    title: status.canonical_reason().unwrap_or("Error").to_owned(),
                    detail,
                };
                match page.render() {
                    Ok(body) => (status, Html(body)).into_response(),
                    Err(_) => (status, "failed").into_response(),
                }
            }
        }
    }
}

/// A rendered page.
pub type Page = Result<Response, WebError>;

/// Renders a template as the answer.
fn render(template: &impl Template) -> Page {
    Ok(Html(template.render()?).into_response())
}

/// The signed-in administrator of a page: their id, name and session's CSRF token.
#[derive(Debug, Clone)]
pub struct Viewer {
    /// Their id, for every governance call.
    pub id: String,
    /// Their name, for the page's header.
    pub name: String,
    /// The session's CSRF token, for every form.
    pub csrf: String,
}

impl Viewer {
    /// Refused unless `sent` is the session's CSRF token: a form that changes
    /// anything must carry it.
    fn check(&self, sent: &str) -> Result<(), WebError> {
        if !sent.is_empty() && secret::same(sent, &self.csrf) {
            Ok(())
        } else {
            Err(WebError::Failed(ServerError::Forbidden(
                "the form did not carry this session's CSRF token; reload the page and try again"
                    .to_owned(),
            )))
        }
    }
}

impl FromRequestParts<App> for Viewer {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Viewer, WebError> {
        // Back to where they were going, for a page; to the queue after a form.
        let next = if parts.method == axum::http::Method::GET {
            parts
                .uri
                .path_and_query()
                .map_or_else(|| BASE.to_owned(), |p| p.as_str().to_owned())
        } else {
            BASE.to_owned()
        };
        let Some(cookie) = session_cookie(&parts.headers) else {
            return Err(WebError::SignIn(next));
        };
        let now = unix_now();
        let Some(session) = app.credentials(move |c| c.session(&cookie, now)).await? else {
            return Err(WebError::SignIn(next));
        };
        let id = session.admin.clone();
        let Some(record) = app.governance(move |g| Ok(g.administrator(&id)?)).await? else {
            return Err(WebError::SignIn(next));
        };
        Ok(Viewer {
            id: session.admin,
            name: shown(&record.name),
            csrf: session.csrf,
        })
    }
}

/// A form body; a malformed one is a clear error page.
pub struct Form<T>(pub T);

impl<T: DeserializeOwned> FromRequest<App> for Form<T> {
    type Rejection = WebError;

    async fn from_request(request: Request, app: &App) -> Result<Form<T>, WebError> {
        match axum::Form::<T>::from_request(request, app).await {
            Ok(axum::Form(value)) => Ok(Form(value)),
            Err(e) => Err(WebError::Failed(ServerError::BadInput(format!(
                "the form could not be read: {}",
                e.body_text()
            )))),
        }
    }
}

/// What every page's frame shows: who is signed in, and the token its forms carry.
#[derive(Debug, Clone)]
pub struct Frame {
    /// The administrator's name.
    pub name: String,
    /// Their id.
    pub id: String,
    /// The session's CSRF token.
    pub csrf: String,
    /// The page's title.
    pub title: String,
}

impl Frame {
    fn of(viewer: &Viewer, title: impl Into<String>) -> Frame {
        Frame {
            name: viewer.name.clone(),
            id: shown(&viewer.id),
            csrf: viewer.csrf.clone(),
            title: title.into(),
        }
    }
}

/// Text that came from a user or an agent, with its control characters made visible
/// (`\u{1b}`), so that none can hide or reorder what the page shows. (HTML escaping is
/// the templates' own, always on.)
pub fn shown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let hidden = c.is_control()
            || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
        if hidden {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

/// `text` made safe for a URL's query.
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A duration in seconds, in words: `42 s`, `5 min`, `3 h`, `2 d`.
pub fn age(seconds: i64) -> String {
    let s = seconds.max(0);
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        3600..86_400 => format!("{} h", s / 3600),
        _ => format!("{} d", s / 86_400),
    }
}

/// A status with a page, for a refusal shown in the page itself.
fn with_status(status: StatusCode, page: Page) -> Page {
    page.map(|mut response| {
        *response.status_mut() = status;
        response
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_shown_not_obeyed() {
        assert_eq!(
            shown("a\u{1b}[31mb\u{202e}c\n"),
            "a\\u{1b}[31mb\\u{202e}c\\u{a}"
        );
        assert_eq!(shown("plain <b>"), "plain <b>");
    }

    #[test]
    fn queries_are_percent_encoded() {
        assert_eq!(
            percent_encode("/approvals/requests/1?x=a b&c"),
            "/approvals/requests/1%3Fx%3Da%20b%26c"
        );
    }

    #[test]
    fn ages_read_in_words() {
        assert_eq!(age(5), "5 s");
        assert_eq!(age(300), "5 min");
        assert_eq!(age(7200), "2 h");
        assert_eq!(age(-3), "0 s");
    }
}
