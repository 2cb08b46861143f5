//! Notifications (SPEC §9): who is told about a request, what the message says, and
//! delivery over SMTP and an HTTP SMS gateway from a durable outbox.
//!
//! A notification is written to the outbox in the same transaction as the event that
//! causes it, so a crash loses none. Delivery claims due rows for a short lease, sends
//! them, and marks each delivered, or schedules a retry with exponential backoff, or
//! gives up after the configured attempts with the last error. A crash after sending
//! and before marking sends that one again; one marked delivered is never sent again.

use std::collections::BTreeMap;
use std::time::Duration;

use portcullis_engine::model::Recipient;
use serde::{Deserialize, Serialize};

use crate::store::{Channel, Notification, RequestRecord};
use crate::Error;

/// How notifications are delivered. Stored in the state; set with
/// `portcullis notify configure`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    /// The base of the link that opens a request, e.g.
    /// `https://portcullis.example.com/approvals`; the link is `{link_base}/requests/{id}`.
    pub link_base: String,
    /// Email over SMTP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<SmtpConfig>,
    /// SMS through an HTTP gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sms: Option<SmsConfig>,
    /// Retries.
    #[serde(default)]
    pub retry: RetryConfig,
}

/// An SMTP server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    /// Host name or address.
    pub host: String,
    /// Port (25, 465, 587, …).
    pub port: u16,
    /// `none`, `starttls` (upgrade, required) or `tls` (implicit TLS).
    #[serde(default)]
    pub tls: TlsMode,
    /// User name for authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The environment variable that holds the password (kept out of the state).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
    /// The sender, e.g. `Portcullis <portcullis@example.com>`.
    pub from: String,
    /// Seconds before a connection or command gives up (default 10).
    #[serde(default = "ten")]
    pub timeout_seconds: u64,
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// Plain text (only for a relay on the same host or network).
    None,
    /// STARTTLS, required: no credentials or mail without it.
    #[default]
    Starttls,
    /// TLS from the first byte (SMTPS).
    Tls,
}

/// An HTTP SMS gateway (for example a Twilio-style API).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsConfig {
    /// The URL messages are POSTed to.
    pub url: String,
    /// The request body; `{to}` and `{message}` are replaced, encoded for the content
    /// type (default `To={to}&Body={message}`).
    #[serde(default = "form_body")]
    pub body: String,
    /// The content type (default `application/x-www-form-urlencoded`; with
    /// `application/json` the values are JSON-escaped).
    #[serde(default = "form_type")]
    pub content_type: String,
    /// Extra headers.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// User name for HTTP basic authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The environment variable that holds the basic-authentication password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
    /// Seconds before a request gives up (default 10).
    #[serde(default = "ten")]
    pub timeout_seconds: u64,
}

/// When to retry, and when to give up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryConfig {
    /// The first retry waits this long; each next one twice as long, up to an hour
    /// (default 30).
    #[serde(default = "thirty")]
    pub base_seconds: i64,
    /// Give up after this many attempts (default 10).
    #[serde(default = "attempts")]
    pub max_attempts: u32,
    /// How long a sender holds a notification it claimed (default 120). A sender
    /// renews the claim right before it sends, so only one send must fit in it: it must
    /// be longer than each transport's `timeout_seconds`.
    #[serde(default = "lease")]
    pub lease_seconds: i64,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            base_seconds: thirty(),
            max_attempts: attempts(),
            lease_seconds: lease(),
        }
    }
}

fn ten() -> u64 {
    10
}

fn lease() -> i64 {
    120
}

fn thirty() -> i64 {
    30
}

fn attempts() -> u32 {
    10
}

fn form_body() -> String {
    "To={to}&Body={message}".to_owned()
}

fn form_type() -> String {
    "application/x-www-form-urlencoded".to_owned()
}

impl NotifyConfig {
    /// Checks everything that can be checked without sending.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |field: &'static str, m: String| {
            Err(Error::invalid(field, format!("notification settings: {m}")))
        };
        if !(self.link_base.starts_with("https://") || self.link_base.starts_with("http://")) {
            return bad(
                "link_base",
                format!(
                    "`link_base` must be an http(s) URL, not `{}`",
                    self.link_base
                ),
            );
        }
        if let Some(email) = &self.email {
            if email.host.trim().is_empty() {
                return bad("email.host", "`email.host` is empty".to_owned());
            }
            if email.from.parse::<lettre::message::Mailbox>().is_err() {
                return bad(
                    "email.from",
                    format!("`email.from` `{}` is not an email address", email.from),
                );
            }
            if email.password_env.is_some() && email.username.is_none() {
                return bad(
                    "email.password_env",
                    "`email.password_env` needs `email.username`".to_owned(),
                );
            }
        }
        if let Some(sms) = &self.sms {
            if !(sms.url.starts_with("https://") || sms.url.starts_with("http://")) {
                return bad(
                    "sms.url",
                    format!("`sms.url` must be an http(s) URL, not `{}`", sms.url),
                );
            }
            if !sms.body.contains("{to}") || !sms.body.contains("{message}") {
                return bad(
                    "sms.body",
                    "`sms.body` must contain `{to}` and `{message}`".to_owned(),
                );
            }
        }
        if self.retry.base_seconds < 0 || self.retry.max_attempts == 0 {
            return bad(
                "retry",
                "`retry.base_seconds` must be ≥ 0 and `retry.max_attempts` ≥ 1".to_owned(),
            );
        }
        let timeouts = [
            self.email.as_ref().map(|e| ("email", e.timeout_seconds)),
            self.sms.as_ref().map(|s| ("sms", s.timeout_seconds)),
        ];
        for (transport, timeout) in timeouts.into_iter().flatten() {
            if u64::try_from(self.retry.lease_seconds).map_or(true, |lease| lease <= timeout) {
                return bad("retry.lease_seconds", format!(
                    "`retry.lease_seconds` ({}) must be longer than `{transport}.timeout_seconds` ({timeout}): a claim must outlast one send",
                    self.retry.lease_seconds
                ));
            }
        }
        Ok(())
    }

    /// The link that opens a request.
    pub fn link(&self, request: i64) -> String {
        format!(
            "{}/requests/{request}",
            self.link_base.trim_end_matches('/')
        )
    }
}

/// What one delivery run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DeliveryReport {
    /// Sent and marked delivered.
    pub delivered: usize,
    /// Failed this time; retried later.
    pub retrying: usize,
    /// Failed for the last time.
    pub failed: usize,
    /// Claimed, then found taken by another sender after the claim lapsed; not sent
    /// by this run.
    pub skipped: usize,
    /// The errors of this run, by outbox id.
    pub errors: Vec<(i64, String)>,
}

/// The facts a message about a request gives.
#[derive(Debug, Clone)]
pub struct RequestFacts<'a> {
    /// The request.
    pub request: &'a RequestRecord,
    /// The organization's name.
    pub organization: &'a str,
    /// The computer's host name.
    pub computer: &'a str,
    /// The link that opens it.
    pub link: String,
}

impl RequestFacts<'_> {
    fn certificate(&self) -> String {
        let signature = &self.request.filed.event.signature;
        match signature.signers.first() {
            None => "unsigned".to_owned(),
            Some(leaf) => format!(
                "{} (issued by {}; signature {})",
                leaf.subject,
                leaf.issuer
                    .as_ref()
                    .map_or_else(|| "unknown".to_owned(), ToString::to_string),
                match signature.status {
                    portcullis_engine::model::SignatureStatus::Valid => "valid",
                    portcullis_engine::model::SignatureStatus::Invalid => "invalid",
                    portcullis_engine::model::SignatureStatus::Unsigned => "absent",
                }
            ),
        }
    }

    /// The message to administrators about a new request: subject, email text, SMS text.
    pub fn new_request(&self) -> (String, String, String) {
        let r = self.request;
        let f = &r.filed;
        let subject = format!(
            "Access request {} from {} on {} ({})",
            r.id, f.event.user, self.computer, self.organization
        );
        let body = format!(
            "{user} asks for {kind} access on {computer} ({computer_id}) in {org}.\n\
             \n\
             Message:     {message}\n\
             \n\
             File:        {path}\n\
             SHA-256:     {sha}\n\
             Certificate: {cert}\n\
             Denied by:   {denied}\n\
             \n\
             Open the request to approve or reject it:\n\
             {link}\n",
            user = f.event.user,
            kind = f.kind,
            computer = self.computer,
            computer_id = f.computer,
            org = self.organization,
            message = f.message,
            path = f.event.path,
            sha = f.event.sha256,
            cert = self.certificate(),
            denied = f
                .denied_by
                .as_deref()
                .map_or_else(|| "the default deny".to_owned(), |p| format!("policy {p}")),
            link = self.link,
        );
        let sms = format!(
            "Portcullis: {} on {} ({}) requests {} access to {}: \"{}\" {}",
            f.event.user,
            self.computer,
            self.organization,
            f.kind,
            f.event.path,
            f.message,
            self.link
        );
        (subject, body, sms)
    }

    /// The message to the requester about the outcome: subject and text.
    pub fn outcome(&self) -> (String, String) {
        let r = self.request;
        let f = &r.filed;
        let (what, why) = match &r.closure {
            Some(c) => (c.state.as_str(), c.reason.as_str()),
            None => ("pending", ""),
        };
        let subject = format!("Your request {} was {what}", r.id);
        let mut body = format!(
            "Your {} request for {} on {} ({}) was {what}.\n",
            f.kind, f.event.path, self.computer, self.organization
        );
        if !why.is_empty() {
            body.push_str(&format!("Reason: {why}\n"));
        }
        if what == "approved" {
            body.push_str("You can run it now.\n");
        }
        (subject, body)
    }
}

/// Adds a recipient once: the key is the channel and the address.
pub fn add_recipient(out: &mut BTreeMap<(Channel, String), ()>, recipient: &Recipient) {
    match recipient {
        Recipient::Email(address) => {
            out.insert((Channel::Email, address.to_lowercase()), ());
        }
        Recipient::Sms(phone) => {
            out.insert((Channel::Sms, phone.clone()), ());
        }
    }
}

/// The backoff before attempt `attempts + 1`.
pub fn backoff(retry: &RetryConfig, attempts: u32) -> i64 {
    let factor = 1i64 << attempts.saturating_sub(1).min(20);
    retry.base_seconds.saturating_mul(factor).min(3600)
}

/// Sends one notification.
pub fn send(config: &NotifyConfig, n: &Notification) -> Result<(), String> {
    match n.channel {
        Channel::Email => send_email(
            config
                .email
                .as_ref()
                .ok_or("email is not configured (`email` in the notification settings)")?,
            n,
        ),
        Channel::Sms => send_sms(
            config
                .sms
                .as_ref()
                .ok_or("SMS is not configured (`sms` in the notification settings)")?,
            n,
        ),
    }
}

fn password(var: Option<&String>) -> Result<Option<String>, String> {
    match var {
        None => Ok(None),
        Some(var) => std::env::var(var)
            .map(Some)
            .map_err(|_| format!("the environment variable `{var}` (the password) is not set")),
    }
}

fn send_email(config: &SmtpConfig, n: &Notification) -> Result<(), String> {
    use lettre::message::header::ContentType;
    use lettre::transport::smtp::authentication::Credentials;
    use lettre::{Message, SmtpTransport, Transport};

    let from: lettre::message::Mailbox = config
        .from
        .parse()
        .map_err(|e| format!("sender `{}`: {e}", config.from))?;
    let to: lettre::message::Mailbox = n
        .recipient
        .parse()
        .map_err(|e| format!("recipient `{}`: {e}", n.recipient))?;
    let message = Message::builder()
        .from(from)
        .to(to)
        .subject(n.subject.clone())
        .header(ContentType::TEXT_PLAIN)
        .body(n.body.clone())
        .map_err(|e| format!("cannot build the message: {e}"))?;
    let builder = match config.tls {
        TlsMode::None => SmtpTransport::builder_dangerous(&config.host),
        TlsMode::Starttls => SmtpTransport::starttls_relay(&config.host)
            .map_err(|e| format!("SMTP `{}`: {e}", config.host))?,
        TlsMode::Tls => SmtpTransport::relay(&config.host)
            .map_err(|e| format!("SMTP `{}`: {e}", config.host))?,
    };
    let mut builder = builder
        .port(config.port)
        .timeout(Some(Duration::from_secs(config.timeout_seconds)));
    if let Some(user) = &config.username {
        let pass = password(config.password_env.as_ref())?.unwrap_or_default();
        builder = builder.credentials(Credentials::new(user.clone(), pass));
    }
    builder
        .build()
        .send(&message)
        .map(|_| ())
        .map_err(|e| format!("SMTP {}:{}: {e}", config.host, config.port))
}

fn form_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(byte));
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// The gateway request body for a message.
pub fn sms_body(config: &SmsConfig, to: &str, message: &str) -> String {
    let encode = |value: &str| {
        if config.content_type.contains("json") {
            let quoted = serde_json::to_string(value).unwrap_or_default();
            quoted
                .strip_prefix('"')
                .and_then(|q| q.strip_suffix('"'))
                .unwrap_or_default()
                .to_owned()
        } else {
            form_encode(value)
        }
    };
    config
        .body
        .replace("{to}", &encode(to))
        .replace("{message}", &encode(message))
}

fn send_sms(config: &SmsConfig, n: &Notification) -> Result<(), String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(config.timeout_seconds)))
        .http_status_as_error(false)
        .build()
        .into();
    let mut request = agent
        .post(&config.url)
        .header("Content-Type", &config.content_type);
    for (name, value) in &config.headers {
        request = request.header(name, value);
    }
    if let Some(user) = &config.username {
        use base64::Engine as _;
        let pass = password(config.password_env.as_ref())?.unwrap_or_default();
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
        request = request.header("Authorization", &format!("Basic {token}"));
    }
    let body = sms_body(config, &n.recipient, &n.body);
    let mut response = request
        .send(body.as_bytes())
        .map_err(|e| format!("SMS gateway {}: {e}", config.url))?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let text = response
        .body_mut()
        .read_to_string()
        .unwrap_or_default()
        .chars()
        .take(200)
        .collect::<String>();
    Err(format!(
        "SMS gateway {} answered {status}: {text}",
        config.url
    ))
}
