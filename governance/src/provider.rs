//! Where the plugins attached in a state come from, loaded and ready to call.
//!
//! The state stores each attachment (the component or policy, its settings, its test
//! vectors); a [`PluginProvider`] turns them into plugins a review or a decision
//! consults. Governance hands it the tenancy path and what is attached along it; the
//! provider keeps what it loaded for as long as it lives. The command line gives every
//! state it opens one that lives for the command; a server or an agent keeps one, with
//! a circuit breaker per plugin, for as long as it runs
//! (`portcullis_plugins::StatePlugins`). Tests hand in their own.

use std::sync::Arc;

use portcullis_engine::plugin::{ApprovalReviewer, RulePlugin};

use crate::error::Error;
use crate::store::PluginAttachment;

/// Loads the plugins attached in a state and hands them out per tenancy path.
pub trait PluginProvider: Send + Sync {
    /// The approval-review plugins attached along `path` (organization ids, the
    /// top-level organization first), in that order, each organization's in name
    /// order. `attached` is every plugin the state holds for the organizations on the
    /// path, of both hooks: the provider loads what it does not hold yet, replaces
    /// what changed and drops what is no longer there. One that does not load is left
    /// out (it abstains) and the provider reports it. An error means the plugin host
    /// itself failed.
    fn reviewers(
        &self,
        path: &[&str],
        attached: &[PluginAttachment],
    ) -> Result<Vec<Arc<dyn ApprovalReviewer>>, Error>;

    /// The rule plugins attached along `path`, in the same order and on the same
    /// terms as [`PluginProvider::reviewers`].
    fn rules(
        &self,
        path: &[&str],
        attached: &[PluginAttachment],
    ) -> Result<Vec<Arc<dyn RulePlugin>>, Error>;
}
