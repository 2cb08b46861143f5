//! # portcullis-governance
//!
//! The workflow around the engine (SPEC §6 and §8): a blocked user files a request, an
//! administrator with the right permission approves it at the right scope, the new
//! policy is deployed by hot swap and proven to allow the request's execution, and the
//! next decision allows it. Administrators, roles and grants decide who may do what.
//! Every change is durable ([`Store`]; [`SqliteStore`] by default) and audited in a
//! hash chain.
//!
//! This crate depends on the engine; the engine knows nothing of it.
//!
//! ```
//! use portcullis_governance::{AdminRecord, Governance, SqliteStore};
//!
//! let dir = tempfile::tempdir()?;
//! let store = SqliteStore::open(&dir.path().join("state.db"))?;
//! let bundle = portcullis_engine::parse(include_str!("../../examples/bundle.json"))
//!     .map_err(|e| e.to_string())?;
//! let first = AdminRecord {
//!     id: "root".into(), name: "Root".into(), organization: "northwind".into(),
//!     email: None, phone: None,
//! };
//! let gov = Governance::init(store, bundle, first, Governance::<SqliteStore>::system_clock())?;
//! assert_eq!(gov.version(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod access;
mod audit;
mod edits;
mod notify;
mod permission;
mod review;
mod sqlite;
mod store;
mod view;
mod workflow;

pub use access::{AccessRequestKind, Act, Holdings, OrgTree, Refused, ScopeKind};
pub use audit::{
    chain_hash, AuditBreak, AuditEntry, AuditKey, AuditLog, AuditQuery, AuditRecord, Checkpoint,
    Head, HeadRead, REANCHOR,
};
pub use notify::{DeliveryReport, NotifyConfig, RetryConfig, SmsConfig, SmtpConfig, TlsMode};
pub use permission::{Permission, UnknownPermission};
pub use review::{PluginReport, Review, ReviewOutcome};
pub use sqlite::SqliteStore;
pub use store::{
    AdminRecord, ApprovalRecord, Channel, Channels, Claim, Closure, DeployNote, DeployRecord,
    Grant, Grantable, NewRequest, Notification, NotifySetting, OutboxRecord, OutboxState,
    PluginAttachment, RequestRecord, RequestState, RoleRecord, Settings, Store, Tx,
};
pub use view::computer_view;
pub use workflow::{
    AdminChanges, ApproveOptions, Approved, Authentication, Clock, FileRequest, Governance,
    Matching, Suggestion, MAX_ATTACHMENT,
};

/// Why a governed action did not happen. In every case nothing changed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The actor lacks a permission.
    #[error(transparent)]
    Refused(#[from] Refused),
    /// An id names nothing.
    #[error("{kind} `{id}` does not exist")]
    NotFound {
        /// `request`, `administrator`, `computer`, …
        kind: &'static str,
        /// The id given.
        id: String,
    },
    /// The input is wrong; the message says what and where.
    #[error("{0}")]
    Invalid(String),
    /// The request was already decided.
    #[error("request {id} is already {state}; only a pending request can be {action}")]
    AlreadyClosed {
        /// The request.
        id: i64,
        /// Its state.
        state: &'static str,
        /// What was attempted (`approved`, `rejected`).
        action: &'static str,
    },
    /// A guardrail of the organization stops this approval.
    #[error("guardrail of `{organization}`: {message}")]
    Guardrail {
        /// The organization whose settings apply.
        organization: String,
        /// What to do instead.
        message: String,
    },
    /// The approval would not allow the request's execution: an earlier policy still
    /// decides it. Nothing was deployed or recorded.
    #[error("the approval would not take effect: {blocker} still decides request {id}'s execution ({outcome}); nothing was changed")]
    Shadowed {
        /// The request.
        id: i64,
        /// The policy that still decides (`policy `deny-tools``, or `the default deny`).
        blocker: String,
        /// What it decides (`deny`, `allow without elevation`).
        outcome: String,
    },
    /// The bundle does not compile.
    #[error("the bundle does not compile:\n{0}")]
    Compile(String),
    /// Another writer changed the state since it was read; nothing was changed.
    #[error("the state changed while this action ran (another administrator?); nothing was changed, try again")]
    Conflict,
    /// The state is not initialized, or is already.
    #[error("{0}")]
    State(String),
    /// The database failed.
    #[error("storage: {0}")]
    Storage(String),
    /// The audit's head does not match the audit: entries were removed, rewritten or
    /// written around the state. Nothing more is written until a Super Admin looks
    /// into it and re-anchors the audit.
    #[error("the audit cannot be extended: {0}; nothing was changed. A Super Admin must look into it and run `portcullis audit reanchor --reason …`")]
    AuditBlocked(AuditBreak),
}
