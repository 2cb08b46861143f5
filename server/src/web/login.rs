//! Signing in and out of the Approval Center: the API's own sign-in (password, the
//! second factor when the administrator has one, the same limits and audit), answered
//! with the session cookie and a redirect to the page the administrator was going to.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
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
    render(&LoginPage {
        next,
        admin: String::new(),
        error: None,
        needs_code: false,
        refresh,
    })
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
}

/// `POST /approvals/login`
pub async fn submit(
    State(app): State<App>,
    Peer(peer): Peer,
    Form(form): Form<Credentials>,
) -> Page {
    let next = safe_next(form.next.as_deref());
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
            let status = e.status();
            with_status(
                status,
                render(&LoginPage {
                    next,
                    admin: shown(&admin),
                    error: Some(if needs_code {
                        "this administrator has a second factor: enter the code from the authenticator too"
                            .to_owned()
                    } else {
                        shown(&e.to_string())
                    }),
                    needs_code,
                    refresh: None,
                }),
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
