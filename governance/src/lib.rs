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
mod database;
mod edits;
mod error;
mod notify;
mod permission;
mod plugins;
mod postgres;
mod provider;
mod review;
pub mod sql;
mod sqlite;
mod store;
mod view;
mod workflow;

pub use access::{AccessRequestKind, Act, Holdings, OrgTree, Refused, ScopeKind};
pub use audit::{
    chain_hash, AuditEntry, AuditKey, AuditLog, AuditQuery, AuditRecord, Checkpoint, Head,
    HeadRead, REANCHOR,
};
pub use database::Database;
pub use error::{AuditBreak, Error, ErrorKind, StorageError};
pub use notify::{
    DeliveryReport, NotifyConfig, RetryConfig, SmsConfig, SmsGateway, Smtp, SmtpConfig, TlsMode,
    Transport, Transports,
};
pub use permission::{Permission, UnknownPermission};
pub use postgres::{redacted, BundleListener, PostgresStore, BUNDLE_CHANNEL};
pub use provider::{PluginProvider, Plugins};
pub use review::{PluginReport, Review, ReviewOutcome};
pub use sqlite::SqliteStore;
pub use store::{
    AdminRecord, ApprovalRecord, Attempt, Channel, Channels, Claim, Closure, DeployNote,
    DeployRecord, Grant, Grantable, NewRequest, Notification, NotifySetting, OutboxRecord,
    OutboxState, PluginAttachment, Puts, ReadTx, RequestRecord, RequestState, RoleRecord, Settings,
    Store, Tx,
};
pub use view::computer_view;
pub use workflow::{
    AdminChanges, ApproveOptions, Approved, Authentication, Choices, Clock, Dossier, FileRequest,
    Governance, Matching, Prevalence, Preview, Suggestion, MAX_ATTACHMENT,
};
