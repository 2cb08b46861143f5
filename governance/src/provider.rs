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

use portcullis_engine::plugin::{ApprovalReviewer, Hook, RulePlugin};

use crate::error::Error;
use crate::store::PluginAttachment;

/// The plugins of one hook along a tenancy path, loaded and ready to call, in the
/// order they are consulted: the top-level organization's first, each organization's
/// in name order.
#[derive(Default)]
pub struct Plugins {
    /// The approval-review plugins, when those were asked for.
    pub reviewers: Vec<Arc<dyn ApprovalReviewer>>,
    /// The rule plugins, when those were asked for.
    pub rules: Vec<Arc<dyn RulePlugin>>,
}

/// Loads the plugins attached in a state and hands them out per tenancy path.
pub trait PluginProvider: Send + Sync {
    /// The plugins of `hook` attached along `path` (organization ids, the top-level
    /// organization first). `attached` is every plugin the state holds for the
    /// organizations on the path, of both hooks: the provider loads what it does not
    /// hold yet, replaces what changed and drops what is no longer there. One that does
    /// not load is left out (it abstains) and the provider reports it. An error means
    /// the plugin host itself failed.
    fn plugins(
        &self,
        hook: Hook,
        path: &[&str],
        attached: &[PluginAttachment],
    ) -> Result<Plugins, Error>;

    /// Which of `attached` (given without their bytes: `content` is empty) the provider
    /// needs the bytes of to answer [`PluginProvider::plugins`] for `hook`: those it
    /// does not hold loaded yet. Governance reads only those from the store; the others
    /// reach `plugins` without their bytes. By default, every one.
    fn needs_content(&self, hook: Hook, attached: &[PluginAttachment]) -> Vec<bool> {
        let _ = hook;
        vec![true; attached.len()]
    }
}
