//! Delivery: a [`Transport`] sends one notification. [`Smtp`] sends email through an
//! SMTP server (lettre, rustls), [`SmsGateway`] SMS through an HTTP gateway (ureq), and
//! [`Transports`] picks one of them by the notification's channel. A server keeps its
//! transports; a test hands in its own.

use std::time::Duration;

use crate::notify::settings::{NotifyConfig, SmsConfig, SmtpConfig, TlsMode};
use crate::store::{Channel, Notification};

/// Sends notifications of one channel, or of several.
pub trait Transport: Send + Sync {
    /// Sends one notification and returns once the server accepted it. The error says
    /// what failed and where; the outbox keeps it as the attempt's error.
    fn send(&self, notification: &Notification) -> Result<(), String>;
}

/// Email over SMTP.
#[derive(Debug, Clone)]
pub struct Smtp {
    config: SmtpConfig,
}

impl Smtp {
    /// A transport to the server `config` names; it connects for each message.
    pub fn new(config: SmtpConfig) -> Smtp {
        Smtp { config }
    }
}

/// SMS through an HTTP gateway: one POST a message.
#[derive(Debug, Clone)]
pub struct SmsGateway {
    config: SmsConfig,
}

impl SmsGateway {
    /// A transport to the gateway `config` names.
    pub fn new(config: SmsConfig) -> SmsGateway {
        SmsGateway { config }
    }
}

/// One transport a channel: each notification goes to its channel's.
#[derive(Default)]
pub struct Transports {
    email: Option<Box<dyn Transport>>,
    sms: Option<Box<dyn Transport>>,
}

impl std::fmt::Debug for Transports {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transports")
            .field("email", &self.email.is_some())
            .field("sms", &self.sms.is_some())
            .finish()
    }
}

impl Transports {
    /// The transports the settings configure: SMTP for email and the gateway for SMS,
    /// where they are set.
    pub fn from_config(config: &NotifyConfig) -> Transports {
        Transports {
            email: config
                .email
                .clone()
                .map(|c| Box::new(Smtp::new(c)) as Box<dyn Transport>),
            sms: config
                .sms
                .clone()
                .map(|c| Box::new(SmsGateway::new(c)) as Box<dyn Transport>),
        }
    }

    /// Sends email through `transport`.
    pub fn email(mut self, transport: impl Transport + 'static) -> Transports {
        self.email = Some(Box::new(transport));
        self
    }

    /// Sends SMS through `transport`.
    pub fn sms(mut self, transport: impl Transport + 'static) -> Transports {
        self.sms = Some(Box::new(transport));
        self
    }
}

impl Transport for Transports {
    fn send(&self, n: &Notification) -> Result<(), String> {
        match n.channel {
            Channel::Email => self
                .email
                .as_deref()
                .ok_or("email is not configured (`email` in the notification settings)")?
                .send(n),
            Channel::Sms => self
                .sms
                .as_deref()
                .ok_or("SMS is not configured (`sms` in the notification settings)")?
                .send(n),
        }
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

impl Transport for Smtp {
    fn send(&self, n: &Notification) -> Result<(), String> {
        send_email(&self.config, n)
    }
}

impl Transport for SmsGateway {
    fn send(&self, n: &Notification) -> Result<(), String> {
        send_sms(&self.config, n)
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
fn sms_body(config: &SmsConfig, to: &str, message: &str) -> String {
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
