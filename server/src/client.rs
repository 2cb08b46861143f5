//! A client of the API, for the command line's `--server` mode and for scripts in
//! Rust: an API token, JSON in and out, and a refusal as the server's own sentence.

use std::path::Path;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;
use ureq::tls::{Certificate, RootCerts, TlsConfig};

use crate::api::PREFIX;

/// Why a call through the API did not do what it asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The server refused or failed: its status and the problem's detail (the same
    /// sentence the command line prints in local mode).
    #[error("{detail}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// What the server said.
        detail: String,
    },
    /// The server could not be reached.
    #[error("cannot reach the server at {url}: {reason}")]
    Unreachable {
        /// The URL called.
        url: String,
        /// Why.
        reason: String,
    },
    /// The server's answer is not what the call expects.
    #[error("the server's answer to {what} does not read: {reason}")]
    Answer {
        /// The call.
        what: String,
        /// Why.
        reason: String,
    },
    /// The client is set up wrong (a bad URL, a trust file that does not read).
    #[error("{0}")]
    Setup(String),
}

/// A client of one server, authenticated by an API token.
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    token: String,
    agent: ureq::Agent,
}

impl Client {
    /// A client of the server at `base` (`https://portcullis.example`), with `token`;
    /// `trust` is a PEM file of the certificates to trust instead of the system's
    /// (for a server with its own certificate).
    pub fn new(base: &str, token: &str, trust: Option<&Path>) -> Result<Client, ClientError> {
        let base = base.trim_end_matches('/');
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ClientError::Setup(format!(
                "`{base}` is not a server URL: give http://HOST:PORT or https://HOST:PORT"
            )));
        }
        let mut config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(std::time::Duration::from_secs(120)));
        if let Some(trust) = trust {
            config = config.tls_config(
                TlsConfig::builder()
                    .root_certs(RootCerts::Specific(Arc::new(certificates(trust)?)))
                    .build(),
            );
        }
        Ok(Client {
            base: base.to_owned(),
            token: token.trim().to_owned(),
            agent: config.build().into(),
        })
    }

    /// A client with no credential yet, for signing in and accepting invitations.
    pub fn anonymous(base: &str, trust: Option<&Path>) -> Result<Client, ClientError> {
        Client::new(base, "", trust)
    }

    /// Signs in with a password and makes a named API token for scripts and the
    /// command line; the session ends after.
    pub fn token_with_password(
        &self,
        admin: &str,
        password: &str,
        name: &str,
    ) -> Result<String, ClientError> {
        let anonymous = self;
        let sign_in = serde_json::json!({"admin": admin, "password": password});
        let body = serde_json::to_vec(&sign_in).map_err(|e| ClientError::Setup(e.to_string()))?;
        let (answer, cookie) =
            anonymous.exchange("POST", "/session", Some(("application/json", &body)), &[])?;
        let csrf = serde_json::from_slice::<serde_json::Value>(&answer)
            .ok()
            .and_then(|v| v.get("csrf")?.as_str().map(str::to_owned))
            .unwrap_or_default();
        let cookie = cookie
            .as_deref()
            .and_then(|c| c.split(';').next())
            .unwrap_or_default()
            .to_owned();
        let session = [("Cookie", cookie.as_str()), ("X-CSRF-Token", csrf.as_str())];
        let body = serde_json::to_vec(&serde_json::json!({"name": name}))
            .map_err(|e| ClientError::Setup(e.to_string()))?;
        let made = anonymous.exchange(
            "POST",
            "/tokens",
            Some(("application/json", &body)),
            &session,
        );
        let _ = anonymous.exchange("DELETE", "/session", None, &session);
        let (made, _) = made?;
        serde_json::from_slice::<serde_json::Value>(&made)
            .ok()
            .and_then(|v| v.get("token")?.as_str().map(str::to_owned))
            .ok_or_else(|| ClientError::Answer {
                what: "POST /tokens".to_owned(),
                reason: "no token in the answer".to_owned(),
            })
    }

    /// Sets a password with an invitation (or reset) from an administrator; the id of
    /// the administrator it was for.
    pub fn accept_invitation(
        &self,
        invitation: &str,
        password: &str,
    ) -> Result<String, ClientError> {
        let answer: serde_json::Value = self.send(
            "POST",
            "/invitations/accept",
            &serde_json::json!({"invitation": invitation.trim(), "password": password}),
        )?;
        Ok(answer
            .get("admin")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_owned())
    }

    /// `GET` an operation's JSON.
    pub fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.call("GET", path, None)
    }

    /// `GET` an operation's bytes.
    pub fn get_bytes(&self, path: &str) -> Result<Vec<u8>, ClientError> {
        self.exchange("GET", path, None, &[])
            .map(|(bytes, _)| bytes)
    }

    /// Sends `body` as JSON with `method`; the answer's JSON (`null` for none).
    pub fn send<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T, ClientError> {
        let json = serde_json::to_vec(body).map_err(|e| ClientError::Setup(e.to_string()))?;
        self.call(method, path, Some(("application/json", &json)))
    }

    /// Sends raw bytes (`content_type`) with `method`; the answer's JSON.
    pub fn send_raw<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        bytes: &[u8],
    ) -> Result<T, ClientError> {
        self.call(method, path, Some((content_type, bytes)))
    }

    /// `DELETE`; the answer's JSON (`null` for none).
    pub fn delete<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.call("DELETE", path, None)
    }

    fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<(&str, &[u8])>,
    ) -> Result<T, ClientError> {
        let (bytes, _) = self.exchange(method, path, body, &[])?;
        let bytes: &[u8] = if bytes.is_empty() { b"null" } else { &bytes };
        serde_json::from_slice(bytes).map_err(|e| ClientError::Answer {
            what: format!("{method} {path}"),
            reason: e.to_string(),
        })
    }

    /// One call: the answer's bytes and its `Set-Cookie`, or the refusal.
    fn exchange(
        &self,
        method: &str,
        path: &str,
        body: Option<(&str, &[u8])>,
        headers: &[(&str, &str)],
    ) -> Result<(Vec<u8>, Option<String>), ClientError> {
        let url = format!("{}{PREFIX}{path}", self.base);
        let mut request = ureq::http::Request::builder().method(method).uri(&url);
        if !self.token.is_empty() {
            request = request.header("Authorization", format!("Bearer {}", self.token));
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some((content_type, _)) = body {
            request = request.header("Content-Type", content_type);
        }
        let request = request
            .body(body.map_or_else(Vec::new, |(_, b)| b.to_vec()))
            .map_err(|e| ClientError::Setup(format!("{url}: {e}")))?;
        let unreachable = |e: ureq::Error| ClientError::Unreachable {
            url: url.clone(),
            reason: e.to_string(),
        };
        let mut response = self.agent.run(request).map_err(unreachable)?;
        let status = response.status().as_u16();
        let cookie = response
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = response
            .body_mut()
            .with_config()
            .limit(u64::MAX)
            .read_to_vec()
            .map_err(unreachable)?;
        if status >= 400 {
            let detail = serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|v| v.get("detail")?.as_str().map(str::to_owned))
                .unwrap_or_else(|| format!("the server answered {status}"));
            return Err(ClientError::Refused { status, detail });
        }
        Ok((bytes, cookie))
    }
}

/// A query string (`?a=1&b=x%20y`) of the pairs that have a value, percent-encoded.
pub fn query(pairs: &[(&str, Option<String>)]) -> String {
    let encoded: Vec<String> = pairs
        .iter()
        .filter_map(|(key, value)| value.as_ref().map(|v| format!("{key}={}", encode(v))))
        .collect();
    if encoded.is_empty() {
        String::new()
    } else {
        format!("?{}", encoded.join("&"))
    }
}

/// `value` as one segment of a path (percent-encoded).
pub fn segment(value: &str) -> String {
    encode(value)
}

fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The certificates of a PEM file.
fn certificates(path: &Path) -> Result<Vec<Certificate<'static>>, ClientError> {
    let pem = std::fs::read(path)
        .map_err(|e| ClientError::Setup(format!("cannot read `{}`: {e}", path.display())))?;
    let certs: Vec<Certificate<'static>> = rustls_pemfile::certs(&mut pem.as_slice())
        .map(|c| c.map(|der| Certificate::from_der(der.as_ref()).to_owned()))
        .collect::<Result<_, _>>()
        .map_err(|e| ClientError::Setup(format!("`{}`: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(ClientError::Setup(format!(
            "`{}` holds no PEM certificate",
            path.display()
        )));
    }
    Ok(certs)
}
