//! Notifications (SPEC §9): who is told about a request, what the message says, and
//! delivery over SMTP and an HTTP SMS gateway from a durable outbox.
//!
//! A notification is written to the outbox in the same transaction as the event that
//! causes it, so a crash loses none. Delivery claims due rows for a short lease, sends
//! them, and marks each delivered, or schedules a retry with exponential backoff, or
//! gives up after the configured attempts with the last error. A crash after sending
//! and before marking sends that one again; one marked delivered is never sent again.
//!
//! `settings` holds what is configured, `templates` every message text, and
//! `transport` the [`Transport`]s that send.

use serde::Serialize;

mod settings;
mod templates;
mod transport;

pub use settings::{NotifyConfig, RetryConfig, SmsConfig, SmtpConfig, TlsMode};
pub(crate) use templates::{plugin_switched_off, request_link, RequestFacts};
pub use transport::{SmsGateway, Smtp, Transport, Transports};

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
