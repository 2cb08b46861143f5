//! The governed workflow: requests, approvals, rejections, expiry, maintenance modes,
//! deploys, administrators, roles and grants. Every action checks the actor's
//! permissions first, changes state in one transaction, and audits what it did.

mod admin;
mod approve;
mod auditing;
mod delivery;
mod deploys;
mod dossier;
mod places;
mod requests;
mod sign_in;
mod state;
mod views;
mod widen;

pub use admin::AdminChanges;
pub use approve::{ApproveOptions, Approved, Matching};
pub use dossier::{Choices, Dossier, Prevalence, Preview};
pub use requests::{FileRequest, Suggestion, MAX_ATTACHMENT};
pub use sign_in::Authentication;
pub(crate) use state::Approver;
pub use state::{Clock, Governance};
