//! Notification settings: the link base, the SMTP server, the SMS gateway and the
//! retries, stored in the state and checked before they are.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::Error;

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

impl RetryConfig {
    /// The wait before attempt `attempts + 1`: `base_seconds`, doubled for each attempt
    /// after the first, at most an hour.
    pub fn backoff(&self, attempts: u32) -> i64 {
        let factor = 1i64 << attempts.saturating_sub(1).min(20);
        self.base_seconds.saturating_mul(factor).min(3600)
    }
}
