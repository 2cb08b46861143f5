//! Who is calling: an administrator by API token (`Authorization: Bearer pct_…`) or by
//! session cookie. A call with a session that changes anything must carry the
//! session's CSRF token in `X-CSRF-Token`; a cookie alone never changes anything, so a
//! page on another site cannot act for a signed-in administrator. What the caller may
//! then do is governance's question, asked by every handler with the caller's id.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method};

use crate::app::App;
use crate::clock::unix_now;
use crate::{secret, ServerError};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "portcullis_session";
/// The header that carries a session's CSRF token.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// An authenticated administrator.
#[derive(Debug, Clone)]
pub struct Admin {
    /// Their id, for every governance call.
    pub id: String,
    /// How they authenticated.
    pub via: Via,
}

/// How a caller authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// An API token.
    Token,
    /// A session cookie; the session's CSRF token.
    Session {
        /// The session's CSRF token.
        csrf: String,
    },
}

impl FromRequestParts<App> for Admin {
    type Rejection = ServerError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Admin, ServerError> {
        let now = unix_now();
        let admin = if let Some(token) = bearer(&parts.headers)? {
            if token.starts_with(AGENT_PREFIX) {
                return Err(ServerError::Forbidden(
                    "an agent's credential cannot call an administrator's operation".to_owned(),
                ));
            }
            let id = app
                .credentials(move |c| c.token_admin(&token, now))
                .await?
                .ok_or_else(|| {
                    ServerError::Unauthenticated(
                        "the API token is unknown or was revoked".to_owned(),
                    )
                })?;
            Admin {
                id,
                via: Via::Token,
            }
        } else {
            let cookie = session_cookie(&parts.headers).ok_or_else(|| {
                ServerError::Unauthenticated(
                    "sign in first: the call carries neither an API token nor a session".to_owned(),
                )
            })?;
            let session = app
                .credentials(move |c| c.session(&cookie, now))
                .await?
                .ok_or_else(|| {
                    ServerError::Unauthenticated("the session has ended; sign in again".to_owned())
                })?;
            if !is_safe(&parts.method) {
                check_csrf(&parts.headers, &session.csrf)?;
            }
            Admin {
                id: session.admin,
                via: Via::Session { csrf: session.csrf },
            }
        };
        let id = admin.id.clone();
        let exists = app.read(move |tx| Ok(tx.admin(&id)?.is_some())).await?;
        if !exists {
            return Err(ServerError::Unauthenticated(format!(
                "administrator `{}` no longer exists",
                admin.id
            )));
        }
        Ok(admin)
    }
}

/// The bearer token of the call, if it has an `Authorization` header.
fn bearer(headers: &HeaderMap) -> Result<Option<String>, ServerError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| Some(t.trim().to_owned()))
        .ok_or_else(|| {
            ServerError::Unauthenticated(
                "the Authorization header must be `Bearer TOKEN`".to_owned(),
            )
        })
}

/// The session cookie's value, if the call carries one.
pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_owned())
}

fn check_csrf(headers: &HeaderMap, expected: &str) -> Result<(), ServerError> {
    let sent = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
    if sent.is_some_and(|s| secret::same(s, expected)) {
        Ok(())
    } else {
        Err(ServerError::Forbidden(format!(
            "a change made with a session must carry the session's CSRF token in `{CSRF_HEADER}`"
        )))
    }
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The prefix of agent credentials.
pub const AGENT_PREFIX: &str = "pca_";

/// An enrolled agent: the computer it speaks for, and nothing else.
#[derive(Debug, Clone)]
pub struct Agent {
    /// Its computer's id.
    pub computer: String,
}

impl FromRequestParts<App> for Agent {
    type Rejection = ServerError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Agent, ServerError> {
        let credential = bearer(&parts.headers)?
            .filter(|t| t.starts_with(AGENT_PREFIX))
            .ok_or_else(|| {
                ServerError::Unauthenticated(
                    "an agent's operation needs the agent's credential (`Bearer pca_…`)".to_owned(),
                )
            })?;
        let computer = app
            .credentials(move |c| c.agent(&credential))
            .await?
            .ok_or_else(|| {
                ServerError::Unauthenticated(
                    "the agent's credential is unknown or was revoked; enroll again".to_owned(),
                )
            })?;
        let id = computer.clone();
        let exists = app
            .governance(move |g| Ok(g.bundle().computers.iter().any(|c| c.id == id)))
            .await?;
        if !exists {
            return Err(ServerError::Unauthenticated(format!(
                "computer `{computer}` is no longer in the tenancy"
            )));
        }
        Ok(Agent { computer })
    }
}

/// An administrator or an agent.
#[derive(Debug, Clone)]
pub enum Caller {
    /// An administrator.
    Admin(Admin),
    /// An agent.
    Agent(Agent),
}

impl FromRequestParts<App> for Caller {
    type Rejection = ServerError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Caller, ServerError> {
        if bearer(&parts.headers)?.is_some_and(|t| t.starts_with(AGENT_PREFIX)) {
            Agent::from_request_parts(parts, app)
                .await
                .map(Caller::Agent)
        } else {
            Admin::from_request_parts(parts, app)
                .await
                .map(Caller::Admin)
        }
    }
}

/// The address the call came from.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub IpAddr);

impl FromRequestParts<App> for Peer {
    type Rejection = ServerError;

    async fn from_request_parts(parts: &mut Parts, _: &App) -> Result<Peer, ServerError> {
        Ok(Peer(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip()),
        ))
    }
}

/// The `Set-Cookie` value of a new session.
pub fn session_set_cookie(token: &str, lifetime: i64, secure: bool) -> String {
    format!(
        "{SESSION_COOKIE}={token}; Path=/; Max-Age={lifetime}; HttpOnly; SameSite=Strict{}",
        if secure { "; Secure" } else { "" }
    )
}

/// The `Set-Cookie` value that ends a session in the browser.
pub fn session_clear_cookie(secure: bool) -> String {
    session_set_cookie("", 0, secure)
}
