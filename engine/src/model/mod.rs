//! Plain data: the bundle a rule author writes, the events an agent reports, and the
//! decisions the engine answers. Nothing here is compiled or indexed.

mod bundle;
mod decision;
pub mod dn;
mod event;
pub mod recipient;
mod schema;
pub mod sha256;
pub mod time;

pub use bundle::{
    Action, Application, Bundle, CertificateCondition, Computer, ComputerGroup, DenyOptions,
    FileRule, Maintenance, MaintenanceMode, Organization, Os, Policy, RuleConditions, Scope,
    BUNDLE_FORMAT,
};
pub use decision::{Decision, DecisionRecord, Outcome, Problems, RequestKind};
pub use dn::DistinguishedName;
pub use event::{Event, EventError, Signature, SignatureStatus, Signer};
pub use recipient::Recipient;
pub use sha256::Sha256;
pub use time::Timestamp;

pub(crate) use event::strip_position;
