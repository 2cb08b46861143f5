//! Signing in and out of the Approval Center: the API's own sign-in (password, the
//! second factor when the administrator has one, the same limits and audit), answered
//! with the session cookie and a redirect to the page the administrator was going to.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect};
use serde::Deserialize;

use super::{percent_encode, render, shown, with_status, Form, Page, Viewer, WebError, BASE};
use crate::api::session::{audit, set_cookie, start_session};
use crate::api::SignIn;
use crate::app::App;
use crate::auth::{session_clear_cookie, session_cookie, Peer};
use crate::ServerError;

/// The sign-in page.
#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    next: String,
    admin: String,
    error: Option<String>,
    /// The last attempt lacked the one-time code.
    needs_code: bool,
    /// Where the page reloads itself once (see [`form`]).
    refresh: Option<String>,
    /// The form's CSRF token, also in the [`LOGIN_COOKIE`].
    csrf: String,
}

/// The cookie that carries the sign-in form's CSRF token. Before a session there is no
/// session token to tie a form to, so the form's token is also set as a cookie
/// (`SameSite=Strict`, for this page only) and the two must match: a page on another
/// site cannot sign a browser in to an account of its choosing.
pub const LOGIN_COOKIE: &str = "portcullis_login";

/// Answers the sign-in page with a fresh token in the form and its cookie.
fn login_page(app: &App, mut page: LoginPage) -> Page {
    page.csrf = crate::secret::token("login")?;
    let cookie = format!(
        "{LOGIN_COOKIE}={}; Path={BASE}/login; Max-Age=3600; HttpOnly; SameSite=Strict{}",
        page.csrf,
        if app.settings().secure_cookies {
            "; Secure"
        } else {
            ""
        }
    );
    let mut response = render(&page)?;
    set_cookie(&mut response, &cookie)?;
    Ok(response)
}

/// The sign-in form's token from its cookie.
fn login_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == LOGIN_COOKIE)
        .map(|(_, value)| value.to_owned())
}

/// Where the sign-in page was asked to go next.
#[derive(Debug, Deserialize)]
pub struct Next {
    #[serde(default)]
    next: Option<String>,
    /// Set on the page's own reload.
    #[serde(default)]
    again: Option<String>,
}

/// Only a page of the Approval Center, never another site (`//host`, `/\host`).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if (n == BASE || n.starts_with("/approvals/") || n.starts_with("/approvals?"))
                && !n.contains(['\\', '\r', '\n'])
                && !n.contains("//") =>
        {
            n.to_owned()
        }
        _ => BASE.to_owned(),
    }
}

/// `GET /approvals/login`: straight on to the page asked for with a live session.
///
/// The session cookie is `SameSite=Strict`, so a browser that follows a link from
/// another site (a notification in a mail client) does not send it, and lands here.
/// The page then reloads itself once: a navigation the page starts is same-site, so
/// the cookie comes along, and an administrator still signed in goes on to the
/// request without signing in again.
pub async fn form(State(app): State<App>, headers: HeaderMap, Query(query): Query<Next>) -> Page {
    let next = safe_next(query.next.as_deref());
    if let Some(cookie) = session_cookie(&headers) {
        let now = crate::clock::unix_now();
        if app
            .credentials(move |c| c.session(&cookie, now))
            .await?
            .is_some()
        {
            return Ok(Redirect::to(&next).into_response());
        }
    }
    let refresh = query
        .again
        .is_none()
        .then(|| format!("{BASE}/login?again=1&next={}", percent_encode(&next)));
    login_page(
        &app,
        LoginPage {
            next,
            admin: String::new(),
            error: None,
            needs_code: false,
            refresh,
            csrf: String::new(),
        },
    )
}

/// What the sign-in form sends.
#[derive(Debug, Deserialize)]
pub struct Credentials {
    #[serde(default)]
    admin: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    next: Option<String>,
    #[serde(default)]
    csrf: String,
}

/// `POST /approvals/login`
pub async fn submit(
    State(app): State<App>,
    Peer(peer): Peer,
    headers: HeaderMap,
    Form(form): Form<Credentials>,
) -> Page {
    let next = safe_next(form.next.as_deref());
    let again = |error: String, needs_code: bool, admin: &str| LoginPage {
        next: next.clone(),
        admin: shown(admin),
        error: Some(error),
        needs_code,
        refresh: None,
        csrf: String::new(),
    };
    let sent = login_cookie(&headers).unwrap_or_default();
    if sent.is_empty() || !crate::secret::same(&sent, &form.csrf) {
        let page = again(
            "the sign-in form had expired or came from another page; sign in again here".to_owned(),
            false,
            &form.admin,
        );
        return with_status(StatusCode::FORBIDDEN, login_page(&app, page));
    }
    let code = form.code.trim();
    let body = SignIn {
        admin: form.admin.trim().to_owned(),
        password: form.password,
        totp: (!code.is_empty()).then(|| code.to_owned()),
    };
    let admin = body.admin.clone();
    match start_session(&app, peer, body).await {
        Ok(session) => {
            let mut response = Redirect::to(&next).into_response();
            set_cookie(&mut response, &session.cookie)?;
            Ok(response)
        }
        Err(e @ (ServerError::Unauthenticated(_) | ServerError::TooMany { .. })) => {
            let needs_code = e.to_string().contains("one-time code");
            let error = if needs_code {
                "this administrator has a second factor: enter the code from the authenticator too"
                    .to_owned()
            } else {
                shown(&e.to_string())
            };
            with_status(
                e.status(),
                login_page(&app, again(error, needs_code, &admin)),
            )
        }
        Err(e) => Err(e.into()),
    }
}

/// What signing out sends.
#[derive(Debug, Deserialize)]
pub struct SignOut {
    #[serde(default)]
    csrf: String,
}

/// `POST /approvals/logout`
pub async fn sign_out(
    State(app): State<App>,
    viewer: Viewer,
    headers: HeaderMap,
    Form(form): Form<SignOut>,
) -> Page {
    viewer.check(&form.csrf)?;
    if let Some(token) = session_cookie(&headers) {
        app.credentials(move |c| c.end_session(&token)).await?;
    }
    audit(
        &app,
        &viewer.id,
        portcullis_governance::Authentication::SignedOut,
        serde_json::json!({}),
    )
    .await?;
    let mut response = Redirect::to(&format!("{BASE}/login")).into_response();
    set_cookie(
        &mut response,
        &session_clear_cookie(app.settings().secure_cookies),
    )
    .map_err(WebError::Failed)?;
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_pages_of_the_approval_center_are_a_target() {
        assert_eq!(
            safe_next(Some("/approvals/requests/1")),
            "/approvals/requests/1"
        );
        assert_eq!(
            safe_next(Some("/approvals?kind=storage")),
            "/approvals?kind=storage"
        );
        for bad in [
            "https://evil.example",
            "//evil.example",
            "/approvals//evil",
            "/approvals/\\evil",
            "/api/v1/session",
            "javascript:alert(1)",
        ] {
            assert_eq!(safe_next(Some(bad)), "/approvals", "{bad}");
        }
    }
}
