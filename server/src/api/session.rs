//! Signing in and out, API tokens, invitations and password resets.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use portcullis_governance::Authentication;
use serde::Deserialize;
use serde_json::{json, Value};

use super::Body;
use crate::app::App;
use crate::auth::{session_clear_cookie, session_cookie, session_set_cookie, Admin, Peer, Via};
use crate::clock::unix_now;
use crate::{secret, totp, ServerError};

/// What signing in takes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    /// The administrator's id.
    pub admin: String,
    /// Their password.
    pub password: String,
    /// The one-time code of their second factor, when they have one.
    #[serde(default)]
    pub totp: Option<String>,
}

/// A one-time code, to confirm or turn off a second factor.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Code {
    /// The code the authenticator shows now.
    pub code: String,
}

/// What making an API token takes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// A name to tell it by (unique among the caller's tokens).
    pub name: String,
}

/// What accepting an invitation takes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Invitation {
    /// The invitation from the link.
    pub invitation: String,
    /// The new password.
    pub password: String,
}

/// The one answer to a failed sign-in, whatever failed: it does not tell whether the
/// administrator exists.
const WRONG: &str = "the administrator id or the password is wrong";

/// `POST /session`
pub async fn sign_in(
    State(app): State<App>,
    Peer(peer): Peer,
    Body(body): Body<SignIn>,
) -> Result<Response, ServerError> {
    let admin = body.admin.clone();
    let session = start_session(&app, peer, body).await?;
    let mut response = Json(json!({
        "admin": admin, "csrf": session.csrf, "expires": session.expires,
    }))
    .into_response();
    set_cookie(&mut response, &session.cookie)?;
    Ok(response)
}

/// A new session of an administrator who signed in.
#[derive(Debug)]
pub(crate) struct Session {
    /// The `Set-Cookie` value that carries it.
    pub cookie: String,
    /// Its CSRF token.
    pub csrf: String,
    /// When it ends (Unix seconds).
    pub expires: i64,
}

/// Signs in with a password and, when the administrator has one, a second factor:
/// the one sign-in of the API and the Approval Center. Limited, audited, and answered
/// alike whatever failed.
pub(crate) async fn start_session(
    app: &App,
    peer: std::net::IpAddr,
    body: SignIn,
) -> Result<Session, ServerError> {
    let now = unix_now();
    if let Err((refused, first)) = app.check_sign_in(&body.admin, peer, now) {
        if first {
            let detail = json!({"from": peer});
            audit(app, &body.admin, Authentication::SignInThrottled, detail).await?;
        }
        return Err(refused);
    }
    let admin = body.admin.clone();
    let stored = app.credentials(move |c| c.password_hash(&admin)).await?;
    let password = body.password;
    // Verify even without a stored hash, so that the time taken does not tell.
    let good = tokio::task::spawn_blocking(move || match stored {
        Some(hash) => secret::verify_password(&password, &hash),
        None => {
            secret::verify_password(&password, &DUMMY_HASH);
            false
        }
    })
    .await
    .map_err(|e| ServerError::Internal(format!("password check: {e}")))?;
    if !good {
        return Err(failed(app, &body.admin, peer, now, "password").await);
    }
    if let Some(refusal) = second_factor(app, &body.admin, body.totp.as_deref(), now).await? {
        return Err(match refusal {
            Missing => {
                // Counted like a failure, so that it cannot serve to try passwords.
                app.failed_sign_in(&body.admin, peer, now);
                ServerError::Unauthenticated(
                    "a one-time code is needed too: give `totp`, from the administrator's authenticator"
                        .to_owned(),
                )
            }
            Wrong => failed(app, &body.admin, peer, now, "second factor").await,
        });
    }
    app.good_sign_in(&body.admin, peer);
    let lifetime = app.settings().session_lifetime;
    let admin = body.admin.clone();
    let (token, csrf) = app
        .credentials(move |c| c.start_session(&admin, now, lifetime))
        .await?;
    audit(
        app,
        &body.admin,
        Authentication::SignedIn,
        json!({"from": peer}),
    )
    .await?;
    Ok(Session {
        cookie: session_set_cookie(&token, lifetime, app.settings().secure_cookies),
        csrf,
        expires: now.saturating_add(lifetime),
    })
}

/// A failed sign-in: counted, audited, and answered alike whatever failed.
async fn failed(
    app: &App,
    admin: &str,
    peer: std::net::IpAddr,
    now: i64,
    what: &str,
) -> ServerError {
    app.failed_sign_in(admin, peer, now);
    let detail = json!({"from": peer, "failed": what});
    if let Err(e) = audit(app, admin, Authentication::SignInFailed, detail).await {
        return e;
    }
    ServerError::Unauthenticated(WRONG.to_owned())
}

/// Why a second factor stops a sign-in.
enum SecondFactor {
    /// The administrator has one and no code came.
    Missing,
    /// The code is wrong or was used before.
    Wrong,
}
use axum::routing::{delete, get, post};
use SecondFactor::{Missing, Wrong};

/// Checks the second factor of an administrator whose password was right.
async fn second_factor(
    app: &App,
    admin: &str,
    code: Option<&str>,
    now: i64,
) -> Result<Option<SecondFactor>, ServerError> {
    let id = admin.to_owned();
    let Some(totp) = app.credentials(move |c| c.totp(&id)).await? else {
        return Ok(None);
    };
    if !totp.active {
        return Ok(None);
    }
    let Some(code) = code else {
        return Ok(Some(Missing));
    };
    let Some(step) = totp::verify(&totp.secret, code, now) else {
        return Ok(Some(Wrong));
    };
    let id = admin.to_owned();
    let fresh = app
        .credentials(move |c| c.totp_use(&id, step, false))
        .await?;
    Ok((!fresh).then_some(Wrong))
}

/// `POST /totp`: a new second factor's secret, required once a code confirms it.
pub async fn totp_begin(State(app): State<App>, admin: Admin) -> Result<Json<Value>, ServerError> {
    let secret = totp::new_secret()?;
    let (id, stored) = (admin.id.clone(), secret.clone());
    app.credentials(move |c| c.totp_begin(&id, &stored)).await?;
    Ok(Json(json!({
        "secret": secret,
        "uri": totp::uri("Portcullis", &admin.id, &secret),
        "confirm": "POST /api/v1/totp/confirm with a code from the authenticator",
    })))
}

/// `POST /totp/confirm`: the first code makes the second factor required.
pub async fn totp_confirm(
    State(app): State<App>,
    admin: Admin,
    Body(body): Body<Code>,
) -> Result<Json<Value>, ServerError> {
    let id = admin.id.clone();
    let totp = app
        .credentials(move |c| c.totp(&id))
        .await?
        .ok_or_else(|| ServerError::BadInput("start with POST /api/v1/totp".to_owned()))?;
    let step = totp::verify(&totp.secret, &body.code, unix_now()).ok_or_else(|| {
        ServerError::BadInput("the code does not match; check the authenticator's clock".to_owned())
    })?;
    let id = admin.id.clone();
    if !app
        .credentials(move |c| c.totp_use(&id, step, true))
        .await?
    {
        return Err(ServerError::BadInput(
            "that code was used already; wait for the next".to_owned(),
        ));
    }
    audit(&app, &admin.id, Authentication::SecondFactorOn, json!({})).await?;
    Ok(Json(json!({"admin": admin.id, "second_factor": true})))
}

/// `POST /totp/disable`: a current code turns the second factor off.
pub async fn totp_disable(
    State(app): State<App>,
    admin: Admin,
    Body(body): Body<Code>,
) -> Result<Json<Value>, ServerError> {
    let id = admin.id.clone();
    let active = app
        .credentials(move |c| c.totp(&id))
        .await?
        .filter(|t| t.active)
        .ok_or_else(|| ServerError::BadInput(format!("`{}` has no second factor", admin.id)))?;
    let good = totp::verify(&active.secret, &body.code, unix_now());
    let id = admin.id.clone();
    let fresh = match good {
        Some(step) => {
            app.credentials(move |c| c.totp_use(&id, step, false))
                .await?
        }
        None => false,
    };
    if !fresh {
        return Err(ServerError::BadInput(
            "the code does not match, or was used already".to_owned(),
        ));
    }
    let id = admin.id.clone();
    app.credentials(move |c| c.totp_remove(&id)).await?;
    audit(&app, &admin.id, Authentication::SecondFactorOff, json!({})).await?;
    Ok(Json(json!({"admin": admin.id, "second_factor": false})))
}

/// An argon2id hash of a random secret nobody knows, verified against when an
/// administrator has no password, so that both cases take the same time.
static DUMMY_HASH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    secret::token("unknown")
        .and_then(|t| secret::hash_password(&t))
        .unwrap_or_default()
});

/// `GET /session`
pub async fn who_am_i(admin: Admin) -> Json<Value> {
    Json(match &admin.via {
        Via::Token => json!({"admin": admin.id, "via": "token"}),
        Via::Session { csrf } => json!({"admin": admin.id, "via": "session", "csrf": csrf}),
    })
}

/// `DELETE /session`
pub async fn sign_out(
    State(app): State<App>,
    admin: Admin,
    headers: HeaderMap,
) -> Result<Response, ServerError> {
    let Some(token) = session_cookie(&headers).filter(|_| admin.via != Via::Token) else {
        return Err(ServerError::BadInput(
            "this call authenticated with an API token, not a session; revoke the token instead"
                .to_owned(),
        ));
    };
    app.credentials(move |c| c.end_session(&token)).await?;
    audit(&app, &admin.id, Authentication::SignedOut, json!({})).await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    set_cookie(
        &mut response,
        &session_clear_cookie(app.settings().secure_cookies),
    )?;
    Ok(response)
}

/// `GET /tokens`
pub async fn list_tokens(State(app): State<App>, admin: Admin) -> Result<Json<Value>, ServerError> {
    let id = admin.id;
    let tokens = app.credentials(move |c| c.tokens(&id)).await?;
    Ok(Json(json!(tokens)))
}

/// `POST /tokens`
pub async fn create_token(
    State(app): State<App>,
    admin: Admin,
    Body(body): Body<NewToken>,
) -> Result<Response, ServerError> {
    let (id, name, now) = (admin.id.clone(), body.name.clone(), unix_now());
    let token = app
        .credentials(move |c| c.create_token(&id, &name, now))
        .await?;
    audit(
        &app,
        &admin.id,
        Authentication::TokenCreated,
        json!({"token": body.name}),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"name": body.name, "token": token})),
    )
        .into_response())
}

/// `DELETE /tokens/{name}`
pub async fn revoke_token(
    State(app): State<App>,
    admin: Admin,
    Path(name): Path<String>,
) -> Result<StatusCode, ServerError> {
    let (id, token) = (admin.id.clone(), name.clone());
    if !app
        .credentials(move |c| c.revoke_token(&id, &token))
        .await?
    {
        return Err(ServerError::NotFound(format!(
            "`{}` has no token named `{name}`",
            admin.id
        )));
    }
    audit(
        &app,
        &admin.id,
        Authentication::TokenRevoked,
        json!({"token": name}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /administrators/{id}/invitation`
pub async fn invite(
    State(app): State<App>,
    admin: Admin,
    Path(target): Path<String>,
) -> Result<Json<Value>, ServerError> {
    let (actor, whom) = (admin.id.clone(), target.clone());
    app.governance(move |g| Ok(g.authorize_credentials(&actor, &whom)?))
        .await?;
    let (actor, whom, now) = (admin.id.clone(), target.clone(), unix_now());
    let lifetime = app.settings().invitation_lifetime;
    let invitation = app
        .credentials(move |c| c.invite(&whom, &actor, now, lifetime))
        .await?;
    audit(
        &app,
        &target,
        Authentication::Invited,
        json!({"by": admin.id}),
    )
    .await?;
    let link = format!(
        "{}/invitation#{invitation}",
        app.settings().public_url.trim_end_matches('/')
    );
    Ok(Json(json!({
        "admin": target, "invitation": invitation, "link": link,
        "expires": now.saturating_add(lifetime),
    })))
}

/// `POST /invitations/accept`
pub async fn accept_invitation(
    State(app): State<App>,
    Body(body): Body<Invitation>,
) -> Result<Json<Value>, ServerError> {
    let password = body.password;
    let hash = tokio::task::spawn_blocking(move || secret::hash_password(&password))
        .await
        .map_err(|e| ServerError::Internal(format!("password hash: {e}")))??;
    let (invitation, now) = (body.invitation, unix_now());
    let admin = app
        .credentials(move |c| c.redeem(&invitation, &hash, now))
        .await?;
    audit(&app, &admin, Authentication::PasswordSet, json!({})).await?;
    Ok(Json(json!({"admin": admin})))
}

pub(crate) async fn audit(
    app: &App,
    admin: &str,
    event: Authentication,
    detail: Value,
) -> Result<(), ServerError> {
    let admin = admin.to_owned();
    app.governance(move |g| Ok(g.audit_authentication(&admin, event, detail)?))
        .await
}

pub(crate) fn set_cookie(response: &mut Response, cookie: &str) -> Result<(), ServerError> {
    let value =
        HeaderValue::from_str(cookie).map_err(|e| ServerError::Internal(format!("cookie: {e}")))?;
    response.headers_mut().insert(header::SET_COOKIE, value);
    Ok(())
}

/// This group's rows of the operations table.
pub(super) fn operations() -> Vec<super::Route> {
    use super::{Input, NONE};
    vec![
        route!(POST "/session" "signIn", Public, Input::Json("SignIn"), Json, &[], post(sign_in),
            "Sign in with an administrator's id and password: a session cookie and its CSRF token"),
        route!(GET "/session" "whoAmI", Admin, NONE, Json, &[], get(who_am_i),
            "The administrator calling, how they authenticated, and their session's CSRF token"),
        route!(DELETE "/session" "signOut", Admin, NONE, Empty, &[], delete(sign_out),
            "End the calling session"),
        route!(POST "/totp" "beginSecondFactor", Admin, NONE, Json, &[], post(totp_begin),
            "Start a second factor (TOTP): its secret and otpauth URI; required once confirmed"),
        route!(POST "/totp/confirm" "confirmSecondFactor", Admin, Input::Json("Code"), Json, &[], post(totp_confirm),
            "Confirm the second factor with a code; sign-ins need a code from then on"),
        route!(POST "/totp/disable" "disableSecondFactor", Admin, Input::Json("Code"), Json, &[], post(totp_disable),
            "Turn the second factor off with a current code"),
        route!(GET "/tokens" "listTokens", Admin, NONE, Json, &[], get(list_tokens),
            "The caller's API tokens (names and dates, never the tokens)"),
        route!(POST "/tokens" "createToken", Admin, Input::Json("NewToken"), Created, &[], post(create_token),
            "Make a named API token for the caller; the token is shown once"),
        route!(DELETE "/tokens/{name}" "revokeToken", Admin, NONE, Empty, &[], delete(revoke_token),
            "Revoke one of the caller's API tokens"),
        route!(POST "/administrators/{id}/invitation" "inviteAdministrator", Admin, NONE, Json, &[], post(invite),
            "Make an invitation (or password reset) link for an administrator (Edit Administrators over them)"),
        route!(POST "/invitations/accept" "acceptInvitation", Public, Input::Json("Invitation"), Json, &[], post(accept_invitation),
            "Set a password with an invitation or reset link"),
    ]
}
