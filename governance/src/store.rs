//! Durable state behind a trait: the workflow speaks only to [`Store`] and [`Tx`], so a
//! shared server database can stand in for the embedded one ([`crate::SqliteStore`]).

use portcullis_engine::model::{Application, Policy, Recipient, Sha256, Timestamp};
use portcullis_engine::{Bundle, Event};
use serde::{Deserialize, Serialize};

use crate::access::{AccessRequestKind, ScopeKind};
use crate::audit::{AuditEntry, AuditKey, AuditRecord, HeadRead};
use crate::error::Error;
use crate::permission::Permission;

/// A unit of work: everything done through one [`Tx`] is committed together when the
/// closure returns `Ok`, and none of it when it returns `Err`. Reads go through a
/// [`ReadTx`], which can change nothing, and need only a shared reference, so any
/// number of readers share one store.
pub trait Store {
    /// Runs `work` in one transaction. Writers are serialized.
    fn transaction<T>(
        &mut self,
        work: impl FnOnce(&mut dyn Tx) -> Result<T, Error>,
    ) -> Result<T, Error>;

    /// Runs `work` on one consistent view of the state; it cannot write.
    fn read<T>(&self, work: impl FnOnce(&mut dyn ReadTx) -> Result<T, Error>) -> Result<T, Error>;

    /// Like [`Store::transaction`], but an append to the audit does not first check
    /// the head against the audit: what re-anchoring a damaged audit runs in.
    fn reanchor<T>(
        &mut self,
        work: impl FnOnce(&mut dyn Tx) -> Result<T, Error>,
    ) -> Result<T, Error>;

    /// The audit's head as recorded outside the audit table: the signed checkpoint
    /// of the last commit that appended to it. Every transaction that appends checks
    /// it first and refuses to write when it does not match, and verification checks
    /// it, so that entries cut off the end or a rewritten chain are noticed.
    fn audit_head(&self) -> Result<HeadRead, Error>;

    /// The key that signs the audit's head.
    fn audit_key(&self) -> Result<&AuditKey, Error>;
}

/// What a transaction reads.
pub trait ReadTx {
    /// The current bundle and its version, if one was stored.
    fn current_bundle(&mut self) -> Result<Option<(i64, Bundle)>, Error>;
    /// The current bundle's version, without reading the bundle.
    fn current_version(&mut self) -> Result<Option<i64>, Error>;
    /// A stored bundle version.
    fn bundle(&mut self, version: i64) -> Result<Option<Bundle>, Error>;
    /// What each version after `version` put, oldest first, when every one of them only
    /// put applications and policies (approvals, suggestions) and is stored as that
    /// change; `None` otherwise (then the current bundle is read whole).
    fn puts_since(&mut self, version: i64) -> Result<Option<Vec<Puts>>, Error>;
    /// The deploy history, newest first.
    fn deploys(&mut self, limit: usize) -> Result<Vec<DeployRecord>, Error>;

    /// One request.
    fn request(&mut self, id: i64) -> Result<Option<RequestRecord>, Error>;
    /// Requests, oldest first, of a state if given.
    fn requests(&mut self, state: Option<RequestState>) -> Result<Vec<RequestRecord>, Error>;
    /// At most `limit` requests (of a state if given) older than request `before` (the
    /// newest when `None`), newest first.
    fn requests_before(
        &mut self,
        state: Option<RequestState>,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<RequestRecord>, Error>;
    /// Each pending request's id, organization and filing time (Unix seconds), oldest
    /// first: what expiry looks at, without reading whole requests.
    fn pending_filed(&mut self) -> Result<Vec<(i64, String, i64)>, Error>;
    /// The pending request of `kind` for the file `sha256` on `computer`, if there is
    /// one.
    fn pending_request(
        &mut self,
        kind: AccessRequestKind,
        computer: &str,
        sha256: &Sha256,
    ) -> Result<Option<i64>, Error>;

    /// A stored file.
    fn file(&mut self, sha256: &Sha256) -> Result<Option<Vec<u8>>, Error>;
    /// How many files are stored.
    fn file_count(&mut self) -> Result<u64, Error>;

    /// One administrator.
    fn admin(&mut self, id: &str) -> Result<Option<AdminRecord>, Error>;
    /// Every administrator.
    fn admins(&mut self) -> Result<Vec<AdminRecord>, Error>;

    /// One role.
    fn role(&mut self, id: &str) -> Result<Option<RoleRecord>, Error>;
    /// Every role.
    fn roles(&mut self) -> Result<Vec<RoleRecord>, Error>;

    /// The grants of one administrator.
    fn grants(&mut self, admin: &str) -> Result<Vec<Grant>, Error>;
    /// The assignments of one role.
    fn role_grants(&mut self, role: &str) -> Result<Vec<Grant>, Error>;

    /// An organization's own settings, if it set any.
    fn settings(&mut self, org: &str) -> Result<Option<Settings>, Error>;

    /// Every attached plugin; without `content`, their bytes are left out (empty),
    /// which is all a listing or a host that holds them already needs.
    fn plugins(&mut self, content: bool) -> Result<Vec<PluginAttachment>, Error>;

    /// One attached plugin, with its bytes.
    fn plugin(&mut self, organization: &str, name: &str)
        -> Result<Option<PluginAttachment>, Error>;

    /// A compiled plugin component stored under `name` (its compile-cache file name).
    fn plugin_artifact(&mut self, name: &str) -> Result<Option<Vec<u8>>, Error>;

    /// A value stored under a key (configuration).
    fn meta(&mut self, key: &str) -> Result<Option<String>, Error>;

    /// Every notification setting.
    fn notify_settings(&mut self) -> Result<Vec<NotifySetting>, Error>;
    /// The outbox, oldest first, of a state if given.
    fn outbox(&mut self, state: Option<OutboxState>) -> Result<Vec<OutboxRecord>, Error>;

    /// Audit entries with a sequence number above `after`, oldest first.
    fn audit(&mut self, after: i64) -> Result<Vec<AuditRecord>, Error>;
}

/// The applications and policies one bundle version put: each replaced the entry of
/// its id, or was appended.
#[derive(Debug, Clone, PartialEq)]
pub struct Puts {
    /// The version.
    pub version: i64,
    /// Applications put.
    pub applications: Vec<Application>,
    /// Policies put.
    pub policies: Vec<Policy>,
}

/// What a transaction writes, besides everything it reads.
pub trait Tx: ReadTx {
    /// Stores a new current bundle; returns its version. `previous` is the current
    /// bundle it follows, as stored (none for the first): the store may keep only
    /// what changed.
    fn push_bundle(
        &mut self,
        bundle: &Bundle,
        previous: Option<&Bundle>,
        deploy: &DeployNote,
    ) -> Result<i64, Error>;

    /// Stores a new current bundle: the current one with `applications` and
    /// `policies` put (each replaces the entry of its id, or is appended); returns its
    /// version. `whole` makes that bundle, for a store that keeps a whole one now and
    /// then.
    fn push_entries(
        &mut self,
        applications: &[Application],
        policies: &[Policy],
        deploy: &DeployNote,
        whole: &dyn Fn() -> Bundle,
    ) -> Result<i64, Error>;

    /// Files a request; returns its id.
    fn insert_request(&mut self, request: &NewRequest) -> Result<i64, Error>;
    /// Ends a pending request. Returns `false`, changing nothing, when it is not pending.
    fn close_request(&mut self, id: i64, closure: &Closure) -> Result<bool, Error>;

    /// Stores a file under its SHA-256; returns `false` when it was already stored.
    fn put_file(&mut self, sha256: &Sha256, content: &[u8]) -> Result<bool, Error>;

    /// Adds or replaces an administrator.
    fn put_admin(&mut self, admin: &AdminRecord) -> Result<(), Error>;
    /// Deletes an administrator and their grants.
    fn delete_admin(&mut self, id: &str) -> Result<bool, Error>;

    /// Adds or replaces a role.
    fn put_role(&mut self, role: &RoleRecord) -> Result<(), Error>;

    /// Adds a grant; returns `false` when the same grant exists.
    fn insert_grant(&mut self, grant: &Grant) -> Result<bool, Error>;
    /// Removes a grant; returns `false` when there was none.
    fn delete_grant(&mut self, grant: &Grant) -> Result<bool, Error>;

    /// Sets an organization's settings.
    fn put_settings(&mut self, org: &str, settings: &Settings) -> Result<(), Error>;

    /// Attaches (or replaces) a plugin of an organization.
    fn put_plugin(&mut self, plugin: &PluginAttachment) -> Result<(), Error>;
    /// Detaches a plugin; `false` when there was none of that name.
    fn delete_plugin(&mut self, organization: &str, name: &str) -> Result<bool, Error>;

    /// Stores a value under a key.
    fn set_meta(&mut self, key: &str, value: &str) -> Result<(), Error>;

    /// Stores a compiled plugin component under `name`, replacing one stored there.
    fn put_plugin_artifact(&mut self, name: &str, file: &[u8]) -> Result<(), Error>;

    /// Sets an administrator's notification channels for a request kind.
    fn put_notify(&mut self, setting: &NotifySetting) -> Result<(), Error>;
    /// Writes a notification to the outbox; `false` when the same request, reason,
    /// channel and recipient is already there (each recipient is told once).
    fn enqueue(&mut self, notification: &Notification, now: Timestamp) -> Result<bool, Error>;
    /// Claims up to `limit` pending notifications due at the claim's time (or every
    /// pending one when `all`) that no other sender holds: each gets `claim`, so that
    /// no other sender takes it until the claim lapses.
    fn claim_due(
        &mut self,
        claim: &Claim,
        all: bool,
        limit: usize,
    ) -> Result<Vec<OutboxRecord>, Error>;
    /// Renews the sender's claim on one notification right before it sends it; false
    /// when the notification is no longer the sender's to send (its claim lapsed and
    /// another sender took it, or it is no longer pending).
    fn renew_claim(&mut self, id: i64, claim: &Claim) -> Result<bool, Error>;
    /// Records how an attempt to send a notification ended and releases `by`'s claim
    /// on it: delivered, retried later, or given up. False when `by` did not hold it.
    fn record_attempt(&mut self, id: i64, by: &str, attempt: &Attempt<'_>) -> Result<bool, Error>;

    /// Appends an audit entry; returns its sequence number.
    fn append_audit(&mut self, entry: &AuditEntry) -> Result<i64, Error>;
}

/// Who deployed a bundle, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployNote {
    /// The administrator.
    pub actor: String,
    /// When.
    pub time: Timestamp,
    /// Why: `init`, `deploy`, `rollback to 3`, `approve request 7`, …
    pub reason: String,
}

/// One stored bundle version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployRecord {
    /// The version.
    pub version: i64,
    /// Who, when, why.
    #[serde(flatten)]
    pub note: DeployNote,
}

/// The states of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RequestState {
    /// Waiting in the approval queue.
    Pending,
    /// Approved; a policy now allows it.
    Approved,
    /// Rejected with a reason.
    Rejected,
    /// Not handled in time.
    Expired,
}

impl RequestState {
    /// The name used in commands and storage.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestState::Pending => "pending",
            RequestState::Approved => "approved",
            RequestState::Rejected => "rejected",
            RequestState::Expired => "expired",
        }
    }

    /// Parses a stored name.
    pub fn parse(text: &str) -> Option<RequestState> {
        [
            RequestState::Pending,
            RequestState::Approved,
            RequestState::Rejected,
            RequestState::Expired,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// A request as filed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewRequest {
    /// What it asks for.
    pub kind: AccessRequestKind,
    /// The requesting computer's organization.
    pub organization: String,
    /// The requesting computer.
    pub computer: String,
    /// The blocked execution.
    pub event: Event,
    /// The policy that denied it; `None` for the default deny.
    pub denied_by: Option<String>,
    /// The user's message.
    pub message: String,
    /// Where to tell the user the outcome.
    pub email: Option<String>,
    /// The SHA-256 of the stored copy of the file, when one was attached.
    pub file: Option<Sha256>,
    /// When it was filed.
    pub created: Timestamp,
}

/// A stored request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestRecord {
    /// Its number.
    pub id: i64,
    /// As filed.
    #[serde(flatten)]
    pub filed: NewRequest,
    /// `pending` until it is approved, rejected or expires.
    pub state: RequestState,
    /// How it ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closure: Option<Closure>,
}

impl RequestRecord {
    /// Whether the request is still pending, as `action` (`approved`, `rejected`,
    /// `reviewed`) needs: else [`Error::AlreadyClosed`].
    pub fn ensure_pending(&self, action: &'static str) -> Result<(), Error> {
        if self.state == RequestState::Pending {
            return Ok(());
        }
        Err(Error::AlreadyClosed {
            id: self.id,
            state: self.state.as_str(),
            action,
        })
    }
}

/// How a request ended: who, when, why, and for an approval what was created.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Closure {
    /// `approved`, `rejected` or `expired`.
    pub state: RequestState,
    /// The administrator, plugin (`plugin:NAME`) or `system` (expiry).
    pub by: String,
    /// When.
    pub at: Timestamp,
    /// The justification of an approval or the reason of a rejection or expiry.
    pub reason: String,
    /// What an approval created.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval: Option<ApprovalRecord>,
}

/// What an approval created.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalRecord {
    /// Where the new policy applies.
    pub scope: ScopeKind,
    /// The scope's target id (computer, group or organization).
    pub target: String,
    /// How the rule matches the file.
    pub matching: String,
    /// The application the rule went into.
    pub application: String,
    /// Whether the application was created for this approval.
    pub new_application: bool,
    /// The new policy's id.
    pub policy: String,
    /// The new policy's position.
    pub position: i64,
    /// The policy elevates.
    pub elevate: bool,
    /// The policy stops applying at this time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<Timestamp>,
    /// The bundle version that holds it.
    pub version: i64,
}

/// A plugin attached to an organization, as stored: the component or policy itself
/// (the state keeps what was validated, not a path that could change), with its test
/// vectors and settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginAttachment {
    /// The organization; its descendants' requests and executions see it too.
    pub organization: String,
    /// Unique within the organization; audited as `plugin:NAME`.
    pub name: String,
    /// `approval-review` or `rule`.
    pub hook: String,
    /// The file name it was attached from (`.wasm` or `.rego`).
    pub file_name: String,
    /// The component or policy.
    #[serde(skip)]
    pub content: Vec<u8>,
    /// The SHA-256 of `content`.
    pub sha256: Sha256,
    /// Settings the host hands the plugin.
    pub config: std::collections::BTreeMap<String, String>,
    /// The test vectors it was validated with: file name and JSON text.
    #[serde(skip)]
    pub vectors: Vec<(String, String)>,
    /// How many times it has been attached under this name (1 the first time), kept
    /// by the store: attaching it again, even unchanged, makes a new version that the
    /// hosts load afresh, with its circuit breaker reset. Ignored when storing.
    #[serde(skip)]
    pub generation: i64,
}

/// An administrator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminRecord {
    /// Unique id (a login name).
    pub id: String,
    /// Display name.
    pub name: String,
    /// The organization the administrator belongs to.
    pub organization: String,
    /// Email address; none when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Phone number for SMS (`+` and digits); none when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

impl AdminRecord {
    /// Checks the record's own values: an id without spaces, an email address, a phone
    /// number SMS can reach.
    pub fn validate(&self) -> Result<(), Error> {
        if self.id.trim().is_empty() || self.id.chars().any(char::is_whitespace) {
            return Err(Error::invalid(
                "id",
                format!(
                    "administrator id `{}` must be non-empty and without spaces",
                    self.id
                ),
            ));
        }
        if let Some(email) = &self.email {
            if !matches!(Recipient::parse(email), Ok(Recipient::Email(_))) {
                return Err(Error::invalid(
                    "email",
                    format!("`{email}` is not an email address"),
                ));
            }
        }
        if let Some(phone) = &self.phone {
            if let Err(e) = Recipient::parse(&format!("SMS:{phone}")) {
                return Err(Error::invalid("phone", format!("phone number: {e}")));
            }
        }
        Ok(())
    }
}

/// A role: a named set of permissions defined in one organization, assignable there
/// and in its descendants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleRecord {
    /// Unique id.
    pub id: String,
    /// The organization that defines it.
    pub organization: String,
    /// Display name.
    pub name: String,
    /// What it grants.
    pub permissions: Vec<Permission>,
}

/// What a grant gives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Grantable {
    /// One permission.
    Permission(Permission),
    /// Every permission of a role (as the role is now and later).
    Role(String),
}

/// A permission or role given to an administrator for an organization and its
/// descendants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// The administrator.
    pub admin: String,
    /// The organization.
    pub organization: String,
    /// The permission or role.
    pub what: Grantable,
}

/// Approval guardrails and queue settings of an organization. An organization without
/// its own settings uses its nearest ancestor's, or these defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Software never approved in the organization before is approved at computer
    /// scope first (default `true`).
    #[serde(default = "yes")]
    pub new_software_computer_first: bool,
    /// An approval wider than one computer needs a justification (default `true`).
    #[serde(default = "yes")]
    pub wider_needs_justification: bool,
    /// Manual computer-scope approvals of the same software on this many computers
    /// produce a suggestion for a wider policy (default 3).
    #[serde(default = "three")]
    pub suggest_after: u32,
    /// A request not handled within this many seconds expires (default 7 days).
    #[serde(default = "week")]
    pub request_ttl_seconds: i64,
    /// Audit allowed executions too, not only denies (default `false`).
    #[serde(default)]
    pub audit_allows: bool,
}

fn yes() -> bool {
    true
}

fn three() -> u32 {
    3
}

fn week() -> i64 {
    7 * 24 * 3600
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            new_software_computer_first: true,
            wider_needs_justification: true,
            suggest_after: three(),
            request_ttl_seconds: week(),
            audit_allows: false,
        }
    }
}

/// A sender's hold on the notifications it is sending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// Who holds them: unique to one delivery run.
    pub by: String,
    /// When it was taken (or renewed).
    pub at: Timestamp,
    /// Until when, unless renewed.
    pub until: Timestamp,
}

/// How one attempt to send a notification ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt<'a> {
    /// The server accepted it at this time.
    Delivered(Timestamp),
    /// It failed; it is tried again when due.
    Failed {
        /// Attempts so far, this one included.
        attempts: u32,
        /// When it is tried again; `None` gives it up.
        next: Option<Timestamp>,
        /// Why it failed.
        error: &'a str,
    },
}

/// A delivery channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// Email over SMTP.
    Email,
    /// SMS through the gateway.
    Sms,
}

impl Channel {
    /// The name used in storage and output.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
        }
    }
}

/// Which channels an administrator wants for a request kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Channels {
    /// By email.
    pub email: bool,
    /// By SMS.
    pub sms: bool,
}

/// An administrator's *notify on request* setting for one kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotifySetting {
    /// The administrator.
    pub admin: String,
    /// The request kind.
    pub kind: AccessRequestKind,
    /// The channels.
    pub channels: Channels,
}

/// One message to one recipient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// The request it is about.
    pub request: i64,
    /// `new-request`, `approved`, `rejected` or `expired`.
    pub reason: String,
    /// How it is sent.
    pub channel: Channel,
    /// An email address, or a phone number in E.164 form.
    pub recipient: String,
    /// The subject (email).
    pub subject: String,
    /// The text.
    pub body: String,
}

/// The states of an outbox row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutboxState {
    /// Not delivered yet; retried when due.
    Pending,
    /// Sent and acknowledged by the server.
    Delivered,
    /// Given up after the configured attempts.
    Failed,
}

impl OutboxState {
    /// The name used in storage and output.
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxState::Pending => "pending",
            OutboxState::Delivered => "delivered",
            OutboxState::Failed => "failed",
        }
    }
}

/// A stored notification and its delivery state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxRecord {
    /// Its number.
    pub id: i64,
    /// When it was written.
    pub created: Timestamp,
    /// The message.
    #[serde(flatten)]
    pub notification: Notification,
    /// Where it stands.
    pub state: OutboxState,
    /// Delivery attempts so far.
    pub attempts: u32,
    /// When it is next due (pending only).
    pub next_attempt: Timestamp,
    /// The last error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// When it was delivered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivered: Option<Timestamp>,
}
