//! The agent's side of the server's agent API: enrollment with an install key, then,
//! with the agent's credential, its view and changes (long-poll), health reports,
//! decisions, file copies and requests.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use ureq::tls::{parse_pem, Certificate, PemItem, RootCerts, TlsConfig};

use crate::view::Envelope;

/// Why a call to the server did not do what it asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LinkError {
    /// The server could not be reached.
    #[error("cannot reach the server at {url}: {reason}")]
    Unreachable {
        /// The URL called.
        url: String,
        /// Why.
        reason: String,
    },
    /// The server refused: its status and its sentence.
    #[error("the server refused ({status}): {detail}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// What it said.
        detail: String,
    },
    /// The link is set up wrong (a URL that is not one, a trust file without
    /// certificates).
    #[error("{0}")]
    Setup(String),
    /// The answer does not read.
    #[error("the server's answer to {what} does not read: {reason}")]
    Answer {
        /// The call.
        what: String,
        /// Why.
        reason: String,
    },
}

/// What enrolling gives: kept as `enrollment.json` in the agent's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enrollment {
    /// The server (`https://portcullis.example`).
    pub server: String,
    /// This computer's id.
    pub computer: String,
    /// Its organization.
    pub organization: String,
    /// Its group.
    pub group: String,
    /// The agent's credential (`pca_…`).
    pub credential: String,
    /// The server's view-signing key (ed25519, base64), pinned.
    pub view_key: String,
    /// The certificates (PEM) trusted for an `https://` server instead of the public
    /// web's roots, for a server with its own certificate authority.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_ca: Option<String>,
}

/// A connection to the server as one enrolled agent.
#[derive(Debug, Clone)]
pub struct Link {
    base: String,
    credential: String,
    agent: ureq::Agent,
}

fn http(timeout: Duration, ca: Option<&str>) -> Result<ureq::Agent, LinkError> {
    let mut config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .timeout_connect(Some(Duration::from_secs(5)));
    if let Some(pem) = ca {
        let certificates = certificates(pem)?;
        config = config.tls_config(
            TlsConfig::builder()
                .root_certs(RootCerts::Specific(std::sync::Arc::new(certificates)))
                .build(),
        );
    }
    Ok(config.build().into())
}

/// The certificates of PEM text; at least one.
fn certificates(pem: &str) -> Result<Vec<Certificate<'static>>, LinkError> {
    let bad =
        |reason: String| LinkError::Setup(format!("the server's certificate authority: {reason}"));
    let mut out = Vec::new();
    for item in parse_pem(pem.as_bytes()) {
        if let PemItem::Certificate(certificate) = item.map_err(|e| bad(e.to_string()))? {
            out.push(certificate);
        }
    }
    if out.is_empty() {
        return Err(bad("no PEM certificate in it".to_owned()));
    }
    Ok(out)
}

fn base(server: &str) -> Result<String, LinkError> {
    let base = server.trim().trim_end_matches('/');
    if base.starts_with("http://") || base.starts_with("https://") {
        Ok(base.to_owned())
    } else {
        Err(LinkError::Setup(format!(
            "`{server}` is not a server URL: give http://HOST:PORT or https://HOST:PORT"
        )))
    }
}

/// Enrolls this computer with an install key; `server_ca` (PEM) is trusted for the
/// server's certificate instead of the public web's roots.
pub fn enroll(
    server: &str,
    key: &str,
    hostname: &str,
    server_ca: Option<&str>,
) -> Result<Enrollment, LinkError> {
    let link = Link {
        base: base(server)?,
        credential: String::new(),
        agent: http(Duration::from_secs(60), server_ca)?,
    };
    let answer: Value = link.call(
        "POST",
        "/agents/enroll",
        Some(&json!({"key": key.trim(), "hostname": hostname, "os": "linux"})),
    )?;
    let field = |name: &str| {
        answer
            .get(name)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| LinkError::Answer {
                what: "POST /agents/enroll".to_owned(),
                reason: format!("no `{name}`"),
            })
    };
    Ok(Enrollment {
        server: link.base.clone(),
        computer: field("computer")?,
        organization: field("organization")?,
        group: field("group")?,
        credential: field("credential")?,
        view_key: field("view_key")?,
        server_ca: server_ca.map(str::to_owned),
    })
}

impl Link {
    /// A link for an enrolled agent.
    pub fn new(enrollment: &Enrollment) -> Result<Link, LinkError> {
        Ok(Link {
            base: base(&enrollment.server)?,
            credential: enrollment.credential.clone(),
            agent: http(Duration::from_secs(120), enrollment.server_ca.as_deref())?,
        })
    }

    /// The whole view, signed.
    pub fn view(&self) -> Result<Envelope, LinkError> {
        self.call("GET", "/agent/view", None)
    }

    /// What changed since `since`, waiting up to `wait` for a change (long-poll).
    pub fn changes(&self, since: i64, wait: Duration) -> Result<Envelope, LinkError> {
        let path = format!("/agent/changes?since={since}&wait={}", wait.as_secs());
        self.call("GET", &path, None)
    }

    /// Reports the agent's revision and health.
    pub fn health(&self, report: &Value) -> Result<(), LinkError> {
        self.call::<Value>("POST", "/agent/health", Some(report))
            .map(|_| ())
    }

    /// Uploads decisions (`{"event", "decision"}` each); how many were recorded.
    pub fn decisions(&self, batch: &[Value]) -> Result<u64, LinkError> {
        let answer: Value = self.call("POST", "/agent/decisions", Some(&json!(batch)))?;
        Ok(answer.get("recorded").and_then(Value::as_u64).unwrap_or(0))
    }

    /// Sends a file copy; its SHA-256 as the server computed it.
    pub fn upload(&self, bytes: &[u8]) -> Result<String, LinkError> {
        let answer: Value = self.exchange(
            "PUT",
            "/uploads",
            Some(("application/octet-stream", bytes.to_vec())),
        )?;
        answer
            .get("sha256")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| LinkError::Answer {
                what: "PUT /uploads".to_owned(),
                reason: "no `sha256`".to_owned(),
            })
    }

    /// Files a request (`{"event", "message", "email", "file"}`); the request as the
    /// server stored it.
    pub fn file_request(&self, body: &Value) -> Result<Value, LinkError> {
        self.call("POST", "/agent/requests", Some(body))
    }

    fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<T, LinkError> {
        let body = body
            .map(|b| serde_json::to_vec(b).map(|bytes| ("application/json", bytes)))
            .transpose()
            .map_err(|e| LinkError::Answer {
                what: format!("{method} {path}"),
                reason: e.to_string(),
            })?;
        self.exchange(method, path, body)
    }

    fn exchange<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
    ) -> Result<T, LinkError> {
        let url = format!("{}/api/v1{path}", self.base);
        let unreachable = |reason: String| LinkError::Unreachable {
            url: url.clone(),
            reason,
        };
        let mut request = ureq::http::Request::builder().method(method).uri(&url);
        if !self.credential.is_empty() {
            request = request.header("Authorization", format!("Bearer {}", self.credential));
        }
        if let Some((content_type, _)) = &body {
            request = request.header("Content-Type", *content_type);
        }
        let request = request
            .body(body.map(|(_, b)| b).unwrap_or_default())
            .map_err(|e| unreachable(e.to_string()))?;
        let mut response = self
            .agent
            .run(request)
            .map_err(|e| unreachable(e.to_string()))?;
        let status = response.status().as_u16();
        let bytes = response
            .body_mut()
            .with_config()
            .limit(512 << 20)
            .read_to_vec()
            .map_err(|e| unreachable(e.to_string()))?;
        if status >= 400 {
            let detail = serde_json::from_slice::<Value>(&bytes)
                .ok()
                .and_then(|v| v.get("detail")?.as_str().map(str::to_owned))
                .unwrap_or_else(|| format!("the server answered {status}"));
            return Err(LinkError::Refused { status, detail });
        }
        let bytes: &[u8] = if bytes.is_empty() { b"null" } else { &bytes };
        serde_json::from_slice(bytes).map_err(|e| LinkError::Answer {
            what: format!("{method} {path}"),
            reason: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trust_file_without_certificates_or_a_bad_url_is_refused_clearly() {
        let refused = http(Duration::from_secs(1), Some("not a certificate")).unwrap_err();
        assert!(
            refused.to_string().contains("no PEM certificate"),
            "{refused}"
        );
        let refused = enroll("portcullis.example", "pck_x", "pc", None).unwrap_err();
        assert!(
            refused.to_string().contains("not a server URL"),
            "{refused}"
        );
    }
}
