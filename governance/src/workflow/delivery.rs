//! Notification settings, the outbox, and delivering what it holds.

use std::collections::BTreeMap;

use portcullis_engine::model::{Recipient, Timestamp};
use serde_json::json;

use crate::access::{AccessRequestKind, Act, Holdings, OrgTree};
use crate::audit::{AuditEntry, AuditLog};
use crate::error::{Error, StorageError};
use crate::notify::{
    request_link, DeliveryReport, NotifyConfig, RequestFacts, RetryConfig, Transport, Transports,
};
use crate::store::{
    AdminRecord, Attempt, Channel, Channels, Claim, Closure, Notification, NotifySetting,
    OutboxRecord, OutboxState, ReadTx, RequestRecord, Store, Tx,
};

use super::state::{holdings_in, Context, Governance};

/// A name for one delivery run's claims, unique across processes and runs.
fn claimant() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static RUNS: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{}-{nanos}-{}",
        std::process::id(),
        RUNS.fetch_add(1, Ordering::Relaxed)
    )
}

/// Where the notification settings are stored.
const NOTIFY_CONFIG: &str = "notify-config";

/// How many notifications one delivery run takes.
const DELIVERY_BATCH: usize = 1000;

fn notify_config(tx: &mut dyn ReadTx) -> Result<Option<NotifyConfig>, Error> {
    tx.meta(NOTIFY_CONFIG)?
        .map(|text| {
            serde_json::from_str(&text).map_err(|e| {
                Error::from(StorageError::Unreadable {
                    what: "notification settings".to_owned(),
                    problem: format!("are unreadable: {e}"),
                })
            })
        })
        .transpose()
}

/// Adds a recipient once: the key is the channel and the address.
fn add_recipient(out: &mut BTreeMap<(Channel, String), ()>, recipient: &Recipient) {
    match recipient {
        Recipient::Email(address) => {
            out.insert((Channel::Email, address.to_lowercase()), ());
        }
        Recipient::Sms(phone) => {
            out.insert((Channel::Sms, phone.clone()), ());
        }
    }
}

/// What messages about `request` say, with its context.
fn facts<'a>(
    request: &'a RequestRecord,
    context: &'a Context,
    config: Option<&NotifyConfig>,
) -> RequestFacts<'a> {
    RequestFacts {
        request,
        organization: &context.organization_name,
        computer: &context.computer_name,
        link: match &context.link_base {
            Some(base) => format!("{}/requests/{}", base.trim_end_matches('/'), request.id),
            None => request_link(config, request.id),
        },
    }
}

/// What the messages about new requests are made from, read once per transaction and
/// kept for every filing of it: the notification settings, and each administrator who
/// has one, with what they hold. Nothing a filing writes changes them.
#[derive(Default)]
pub(super) struct Recipients {
    read: Option<Readers>,
}

struct Readers {
    config: Option<NotifyConfig>,
    /// Each setting whose administrator exists, with the administrator and what they
    /// hold.
    settings: Vec<(NotifySetting, AdminRecord, Option<Holdings>)>,
}

impl Recipients {
    fn read(&mut self, tx: &mut dyn Tx) -> Result<&Readers, Error> {
        let readers = match self.read.take() {
            Some(readers) => readers,
            None => Self::load(tx)?,
        };
        Ok(self.read.insert(readers))
    }

    fn load(tx: &mut dyn Tx) -> Result<Readers, Error> {
        let config = notify_config(tx)?;
        let mut admins: BTreeMap<String, Option<(AdminRecord, Option<Holdings>)>> = BTreeMap::new();
        let mut settings = Vec::new();
        for setting in tx.notify_settings()? {
            if !admins.contains_key(&setting.admin) {
                let found = match tx.admin(&setting.admin)? {
                    Some(admin) => {
                        let holdings = holdings_in(tx, &admin.id)?;
                        Some((admin, holdings))
                    }
                    None => None,
                };
                admins.insert(setting.admin.clone(), found);
            }
            if let Some(Some((admin, holdings))) = admins.get(&setting.admin) {
                settings.push((setting, admin.clone(), holdings.clone()));
            }
        }
        Ok(Readers { config, settings })
    }
}

/// Writes the messages about a new request to the outbox: administrators of the
/// organization or an ancestor who asked for this kind, and the deciding deny's
/// recipients; each address once. Returns how many. `recipients` keeps what it reads
/// for the next filing of the same transaction.
pub(super) fn enqueue_new_request(
    tx: &mut dyn Tx,
    tree: &OrgTree,
    request: &RequestRecord,
    context: &Context,
    policy_recipients: &[Recipient],
    now: Timestamp,
    recipients: &mut Recipients,
) -> Result<usize, Error> {
    let readers = recipients.read(tx)?;
    let mut to: BTreeMap<(Channel, String), ()> = BTreeMap::new();
    for (setting, admin, holdings) in &readers.settings {
        if setting.kind != request.filed.kind {
            continue;
        }
        if !context.lineage.contains(&admin.organization) {
            continue;
        }
        // Being told of a request needs permission to open it there: the message
        // carries the user, their message, the path, the hash and the signer.
        let may_open = holdings.as_ref().is_some_and(|h| {
            h.check(
                tree,
                Act::OpenRequest(request.filed.kind),
                &request.filed.organization,
            )
            .is_ok()
        });
        if !may_open {
            continue;
        }
        if setting.channels.email {
            if let Some(email) = &admin.email {
                add_recipient(&mut to, &Recipient::Email(email.clone()));
            }
        }
        if setting.channels.sms {
            if let Some(phone) = &admin.phone {
                if let Ok(sms) = Recipient::parse(&format!("SMS:{phone}")) {
                    add_recipient(&mut to, &sms);
                }
            }
        }
    }
    for recipient in policy_recipients {
        add_recipient(&mut to, recipient);
    }
    let (subject, body, sms) = facts(request, context, readers.config.as_ref()).new_request();
    let mut count = 0;
    for (channel, recipient) in to.into_keys() {
        let notification = Notification {
            request: request.id,
            reason: "new-request".to_owned(),
            channel,
            recipient,
            subject: subject.clone(),
            body: match channel {
                Channel::Email => body.clone(),
                Channel::Sms => sms.clone(),
            },
        };
        count += usize::from(tx.enqueue(&notification, now)?);
    }
    Ok(count)
}

/// Tells the requester, when they gave an email address, how their request ended.
pub(super) fn enqueue_outcome(
    tx: &mut dyn Tx,
    request: &RequestRecord,
    closure: &Closure,
    context: &Context,
    now: Timestamp,
) -> Result<(), Error> {
    let Some(email) = &request.filed.email else {
        return Ok(());
    };
    let config = notify_config(tx)?;
    let mut closed = request.clone();
    closed.state = closure.state;
    closed.closure = Some(closure.clone());
    let (subject, body) = facts(&closed, context, config.as_ref()).outcome();
    tx.enqueue(
        &Notification {
            request: request.id,
            reason: closure.state.as_str().to_owned(),
            channel: Channel::Email,
            recipient: email.clone(),
            subject,
            body,
        },
        now,
    )?;
    Ok(())
}

impl<S: Store> Governance<S> {
    /// Sets how notifications are delivered (Edit Integrations on every top-level
    /// organization).
    pub fn configure_notifications(
        &mut self,
        actor: &str,
        config: NotifyConfig,
    ) -> Result<(), Error> {
        config.validate()?;
        self.holdings(actor)?
            .check_everywhere(&self.tree, Act::EditIntegrations)?;
        let text = serde_json::to_string(&config)
            .map_err(|e| Error::invalid("config", format!("notification settings: {e}")))?;
        let now = self.now();
        self.store.transaction(|tx| {
            tx.set_meta(NOTIFY_CONFIG, &text)?;
            tx.append_audit(&AuditEntry {
                time: now,
                actor: actor.to_owned(),
                organization: None,
                log: AuditLog::System,
                kind: "notify-configure".to_owned(),
                detail: json!({"config": config}),
            })?;
            Ok(())
        })
    }

    /// How notifications are delivered, once configured.
    pub fn notify_config(&self) -> Result<Option<NotifyConfig>, Error> {
        self.store.read(|tx| notify_config(tx))
    }

    /// Sets an administrator's *notify on request* channels for a request kind. SMS
    /// needs a phone number on the administrator, email an address. Administrators
    /// set their own; others need Edit Administrators.
    pub fn set_notify(
        &mut self,
        actor: &str,
        admin: &str,
        kind: AccessRequestKind,
        channels: Channels,
    ) -> Result<(), Error> {
        let target = self.load_admin(admin)?;
        if actor != admin {
            let holdings = self.holdings(actor)?;
            self.check_power_over(&holdings, &target)?;
        }
        if channels.sms && target.phone.is_none() {
            return Err(Error::invalid("channels", format!(
                "SMS needs a phone number on `{admin}`; add one with `portcullis admin add --state DIR --as ADMIN {admin} --phone +…`"
            )));
        }
        if channels.email && target.email.is_none() {
            return Err(Error::invalid("channels", format!(
                "email needs an address on `{admin}`; add one with `portcullis admin add --state DIR --as ADMIN {admin} --email …`"
            )));
        }
        let setting = NotifySetting {
            admin: admin.to_owned(),
            kind,
            channels,
        };
        self.commit_system(
            actor,
            &target.organization,
            "notify-setting",
            json!({"setting": setting}),
            |tx| tx.put_notify(&setting),
        )
    }

    /// Every *notify on request* setting.
    pub fn notify_settings(&self) -> Result<Vec<NotifySetting>, Error> {
        self.store.read(|tx| tx.notify_settings())
    }

    /// Sends the notifications that are due (every pending one with `all`), marking
    /// each delivered or scheduling its retry.
    ///
    /// Each notification is sent once, however many senders run at once and however
    /// slow the servers are: a sender claims a batch, renews its claim on each
    /// notification right before sending it (so only one send has to fit in the lease),
    /// skips a notification whose lapsed claim another sender took, and releases the
    /// claim when it records the outcome. Only a crash between a send and its record
    /// can send a notification again, once its claim lapses.
    pub fn deliver_notifications(&mut self, all: bool) -> Result<DeliveryReport, Error> {
        let config = self.delivery_config()?;
        self.deliver(all, &config.retry, &Transports::from_config(&config))
    }

    /// Like [`Governance::deliver_notifications`], but sends through `transport`
    /// instead of the transports the settings configure: a server keeps its own, a test
    /// hands in one. The retry settings are the configured ones.
    pub fn deliver_notifications_via(
        &mut self,
        all: bool,
        transport: &dyn Transport,
    ) -> Result<DeliveryReport, Error> {
        let config = self.delivery_config()?;
        self.deliver(all, &config.retry, transport)
    }

    /// The delivery settings; delivering needs them.
    fn delivery_config(&self) -> Result<NotifyConfig, Error> {
        self.notify_config()?.ok_or_else(|| Error::NotReady {
            reason: "notifications are not configured; run `portcullis notify configure`"
                .to_owned(),
        })
    }

    fn deliver(
        &mut self,
        all: bool,
        retry: &RetryConfig,
        transport: &dyn Transport,
    ) -> Result<DeliveryReport, Error> {
        let lease = retry.lease_seconds.max(1);
        let by = claimant();
        let claim = |now: Timestamp| Claim {
            by: by.clone(),
            at: now,
            until: Timestamp::from_unix(now.unix().saturating_add(lease)),
        };
        let first = claim(self.now());
        let due = self
            .store
            .transaction(|tx| tx.claim_due(&first, all, DELIVERY_BATCH))?;
        let mut report = DeliveryReport::default();
        for record in due {
            let renewed = claim(self.now());
            if !self
                .store
                .transaction(|tx| tx.renew_claim(record.id, &renewed))?
            {
                report.skipped += 1;
                continue;
            }
            let result = transport.send(&record.notification);
            let at = self.now();
            let attempts = record.attempts.saturating_add(1);
            let attempt = match &result {
                Ok(()) => Attempt::Delivered(at),
                Err(error) => Attempt::Failed {
                    attempts,
                    next: (attempts < retry.max_attempts).then(|| {
                        Timestamp::from_unix(at.unix().saturating_add(retry.backoff(attempts)))
                    }),
                    error,
                },
            };
            let recorded = self
                .store
                .transaction(|tx| tx.record_attempt(record.id, &by, &attempt))?;
            match result {
                Ok(()) => report.delivered += 1,
                Err(error) => {
                    if attempts >= retry.max_attempts {
                        report.failed += 1;
                    } else {
                        report.retrying += 1;
                    }
                    report.errors.push((record.id, error));
                }
            }
            if !recorded {
                report.errors.push((
                    record.id,
                    "the claim lapsed while sending (a send took longer than `retry.lease_seconds`); another sender may send it again".to_owned(),
                ));
            }
        }
        Ok(report)
    }

    /// The outbox: every organization's notifications, so Edit Integrations on every
    /// top-level organization, as configuring delivery needs.
    pub fn outbox(
        &self,
        actor: &str,
        state: Option<OutboxState>,
    ) -> Result<Vec<OutboxRecord>, Error> {
        self.holdings(actor)?
            .check_everywhere(&self.tree, Act::EditIntegrations)?;
        self.store.read(|tx| tx.outbox(state))
    }

    /// The subject and email text that tell administrators about a request.
    pub(crate) fn request_message(
        &self,
        request: &RequestRecord,
    ) -> Result<(String, String), Error> {
        let context = self.context(&request.filed.organization, &request.filed.computer);
        let config = self.notify_config()?;
        let (subject, body, _) = facts(request, &context, config.as_ref()).new_request();
        Ok((subject, body))
    }
}
