//! Plugins attached per organization, swapped atomically.
//!
//! The registry maps each organization to its plugin set, all behind one `ArcSwap`. A
//! call loads the map once and keeps the sets it uses alive for its whole duration, so
//! a call in flight finishes on the versions it started with while a new version is
//! swapped in, and a combined verdict never mixes two versions of a set.
//!
//! Attaching validates first: the plugin is already loaded (so it compiled and targets
//! a supported world), and every test vector shipped with it must give its expected
//! verdict. Only then is the new map stored; a rejected attachment changes nothing.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use portcullis_engine::model::DecisionRecord;
use portcullis_engine::plugin::{
    self as contract, combine, ApprovalInput, ApprovalReviewer, Execution, Failure, FailureKind,
    Hook, PluginOutcome, RulePlugin, RuleVerdict, RuledDecision, Verdict,
};
use serde::Serialize;

use crate::plugin::Plugin;
use crate::vectors::{Vector, VectorError};

/// Failures in a row after which a plugin is switched off, unless the attachment says.
pub const DEFAULT_BREAKER: u32 = 5;

/// A plugin with the settings it is attached with.
#[derive(Clone)]
pub struct Attachment {
    plugin: Arc<Plugin>,
    name: String,
    config: BTreeMap<String, String>,
    vectors: Vec<Vector>,
    breaker: u32,
    fingerprint: String,
}

impl fmt::Debug for Attachment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Attachment")
            .field("name", &self.name)
            .field("config", &self.config)
            .field("vectors", &self.vectors.len())
            .finish_non_exhaustive()
    }
}

impl Attachment {
    /// Attach `plugin` under its own name, with no settings and no vectors.
    pub fn new(plugin: Arc<Plugin>) -> Attachment {
        Attachment {
            name: plugin.name().to_owned(),
            plugin,
            config: BTreeMap::new(),
            vectors: Vec::new(),
            breaker: DEFAULT_BREAKER,
            fingerprint: String::new(),
        }
    }

    /// The name it is audited under; attaching a second plugin of the same name to an
    /// organization replaces the first.
    pub fn name(mut self, name: &str) -> Self {
        name.clone_into(&mut self.name);
        self
    }

    /// One setting the plugin reads through the host's `config`.
    pub fn config(mut self, key: &str, value: &str) -> Self {
        self.config.insert(key.to_owned(), value.to_owned());
        self
    }

    /// Every setting the plugin reads through the host's `config`, replacing those
    /// given before.
    pub fn configs(mut self, config: BTreeMap<String, String>) -> Self {
        self.config = config;
        self
    }

    /// What identifies this version of the plugin and its settings (for example their
    /// digest): [`Registry::sync`] keeps an attached plugin whose name and fingerprint
    /// are asked for again, with its failure count.
    pub fn fingerprint(mut self, fingerprint: &str) -> Self {
        fingerprint.clone_into(&mut self.fingerprint);
        self
    }

    /// The test vectors that must pass before it is swapped in.
    pub fn vectors(mut self, vectors: Vec<Vector>) -> Self {
        self.vectors = vectors;
        self
    }

    /// Switch it off after `failures` failed calls in a row (at least 1).
    pub fn breaker(mut self, failures: u32) -> Self {
        self.breaker = failures.max(1);
        self
    }
}

/// Why an attachment was refused; the registry is unchanged.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum AttachError {
    /// A vector cannot be run on this plugin.
    #[error(transparent)]
    Vector(#[from] VectorError),
    /// A vector gave another verdict than expected.
    #[error("plugin `{plugin}`: vector `{vector}` {message}")]
    VectorFailed {
        /// The plugin.
        plugin: String,
        /// The vector's name.
        vector: String,
        /// What was expected and what the plugin answered.
        message: String,
    },
}

/// What the registry tells the organization's administrators.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "notice", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Notice {
    /// One call failed and counted as abstain.
    Failed {
        /// The organization the plugin is attached to.
        organization: String,
        /// The plugin.
        plugin: String,
        /// What went wrong.
        failure: Failure,
    },
    /// The plugin failed too often in a row and is switched off until attached again.
    SwitchedOff {
        /// The organization.
        organization: String,
        /// The plugin.
        plugin: String,
        /// Failures in a row.
        failures: u32,
    },
    /// The plugin does not load (or its vectors no longer pass); it is left out and
    /// abstains.
    NotLoaded {
        /// The organization it is attached to.
        organization: String,
        /// The plugin.
        plugin: String,
        /// Why.
        error: String,
    },
}

type NoticeSink = Arc<dyn Fn(&Notice) + Send + Sync>;

struct Attached {
    organization: String,
    name: String,
    fingerprint: String,
    plugin: Arc<Plugin>,
    config: Arc<BTreeMap<String, String>>,
    threshold: u32,
    failures: AtomicU32,
    off: AtomicBool,
    notices: NoticeSink,
}

impl Attached {
    fn guard<V: contract::Abstain>(
        &self,
        call: impl FnOnce() -> PluginOutcome<V>,
    ) -> PluginOutcome<V> {
        if self.off.load(Ordering::Acquire) {
            return PluginOutcome::failed(
                FailureKind::Disabled,
                format!(
                    "plugin `{}` is switched off after {} failures in a row",
                    self.name, self.threshold
                ),
            );
        }
        let outcome = call();
        match outcome.failure() {
            None => self.failures.store(0, Ordering::Release),
            // The host had no room for the call: reported, but not the plugin's fault.
            Some(failure) if failure.kind == FailureKind::Busy => {
                (self.notices)(&Notice::Failed {
                    organization: self.organization.clone(),
                    plugin: self.name.clone(),
                    failure: failure.clone(),
                });
            }
            Some(failure) => {
                (self.notices)(&Notice::Failed {
                    organization: self.organization.clone(),
                    plugin: self.name.clone(),
                    failure: failure.clone(),
                });
                let failures = self
                    .failures
                    .fetch_add(1, Ordering::AcqRel)
                    .saturating_add(1);
                if failures >= self.threshold && !self.off.swap(true, Ordering::AcqRel) {
                    (self.notices)(&Notice::SwitchedOff {
                        organization: self.organization.clone(),
                        plugin: self.name.clone(),
                        failures,
                    });
                }
            }
        }
        outcome
    }
}

impl ApprovalReviewer for Attached {
    fn name(&self) -> &str {
        &self.name
    }

    fn review(&self, input: &ApprovalInput) -> PluginOutcome<Verdict> {
        self.guard(|| self.plugin.review(input, &self.config))
    }
}

impl RulePlugin for Attached {
    fn name(&self) -> &str {
        &self.name
    }

    fn check(&self, execution: &Execution) -> PluginOutcome<RuleVerdict> {
        self.guard(|| self.plugin.check(execution, &self.config))
    }
}

type Sets = HashMap<String, Arc<Vec<Arc<Attached>>>>;

/// Plugin sets per organization.
pub struct Registry {
    sets: ArcSwap<Sets>,
    writer: Mutex<()>,
    notices: NoticeSink,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("organizations", &self.sets.load().len())
            .finish_non_exhaustive()
    }
}

impl Default for Registry {
    fn default() -> Self {
        Registry::new()
    }
}

/// One plugin's part in a review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Call {
    /// The organization it is attached to.
    pub organization: String,
    /// The plugin.
    pub plugin: String,
    /// What it answered.
    pub outcome: PluginOutcome<Verdict>,
}

/// The combined answer of an organization path's approval plugins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Review {
    /// reject > route > approve > abstain over every plugin consulted.
    pub verdict: Verdict,
    /// Every plugin consulted, in order, with its outcome (for the audit).
    pub calls: Vec<Call>,
}

impl Registry {
    /// An empty registry whose notices are dropped.
    pub fn new() -> Registry {
        Registry::with_notices(|_| {})
    }

    /// An empty registry that sends every [`Notice`] to `sink` (the audit, the
    /// administrators' notifications).
    pub fn with_notices(sink: impl Fn(&Notice) + Send + Sync + 'static) -> Registry {
        Registry {
            sets: ArcSwap::from_pointee(HashMap::new()),
            writer: Mutex::new(()),
            notices: Arc::new(sink),
        }
    }

    /// Validate `attachment` with its vectors, then swap it into `organization`'s set,
    /// replacing a plugin of the same name. Calls in flight finish on the old set.
    pub fn attach(&self, organization: &str, attachment: Attachment) -> Result<(), AttachError> {
        let attached = self.validate(organization, attachment)?;
        self.swap(organization, |set| {
            match set.iter_mut().find(|a| a.name == attached.name) {
                Some(slot) => *slot = attached,
                None => set.push(attached),
            }
        });
        Ok(())
    }

    /// Validate every attachment, then replace `organization`'s whole set with them in
    /// one swap: a call sees either the old set or the new one, never a mix.
    pub fn attach_all(
        &self,
        organization: &str,
        attachments: Vec<Attachment>,
    ) -> Result<(), AttachError> {
        let attached = attachments
            .into_iter()
            .map(|a| self.validate(organization, a))
            .collect::<Result<Vec<_>, _>>()?;
        self.swap(organization, |set| *set = attached);
        Ok(())
    }

    fn validate(
        &self,
        organization: &str,
        attachment: Attachment,
    ) -> Result<Arc<Attached>, AttachError> {
        for vector in &attachment.vectors {
            let mut vector = vector.clone();
            // The vector's own settings win; the attachment's fill the rest.
            for (k, v) in &attachment.config {
                vector.config.entry(k.clone()).or_insert_with(|| v.clone());
            }
            let result = vector.run(&attachment.plugin)?;
            if !result.pass {
                return Err(AttachError::VectorFailed {
                    plugin: attachment.name.clone(),
                    vector: vector.name.clone(),
                    message: format!(
                        "expects {} but the plugin answered {}{}",
                        vector.expected,
                        result.actual,
                        result
                            .failure
                            .map(|f| format!(" ({f})"))
                            .unwrap_or_default()
                    ),
                });
            }
        }
        Ok(Arc::new(Attached {
            organization: organization.to_owned(),
            name: attachment.name,
            fingerprint: attachment.fingerprint,
            plugin: attachment.plugin,
            config: Arc::new(attachment.config),
            threshold: attachment.breaker,
            failures: AtomicU32::new(0),
            off: AtomicBool::new(false),
            notices: Arc::clone(&self.notices),
        }))
    }

    /// Edits `organization`'s set and swaps the new map in, under the writer's lock;
    /// `edit` returns `false` to change nothing.
    fn edit(&self, organization: &str, edit: impl FnOnce(&mut Vec<Arc<Attached>>) -> bool) -> bool {
        let _writer = self
            .writer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut set: Vec<Arc<Attached>> = self
            .sets
            .load()
            .get(organization)
            .map(|s| s.as_ref().clone())
            .unwrap_or_default();
        if !edit(&mut set) {
            return false;
        }
        let mut sets: Sets = (**self.sets.load()).clone();
        sets.insert(organization.to_owned(), Arc::new(set));
        self.sets.store(Arc::new(sets));
        true
    }

    fn swap(&self, organization: &str, edit: impl FnOnce(&mut Vec<Arc<Attached>>)) {
        self.edit(organization, |set| {
            edit(set);
            true
        });
    }

    /// Remove the plugin `name` from `organization`; `false` when it was not attached.
    pub fn detach(&self, organization: &str, name: &str) -> bool {
        self.edit(organization, |set| {
            let before = set.len();
            set.retain(|a| a.name != name);
            set.len() != before
        })
    }

    /// Whether `organization` has the plugin `name` attached in the version
    /// `fingerprint` (see [`Attachment::fingerprint`]).
    pub fn holds(&self, organization: &str, name: &str, fingerprint: &str) -> bool {
        self.sets.load().get(organization).is_some_and(|set| {
            set.iter()
                .any(|a| a.name == name && a.fingerprint == fingerprint)
        })
    }

    /// Bring `organization`'s plugins of `hook` in line with `wanted` (names and
    /// fingerprints, in order) in one swap: one whose name and fingerprint are attached
    /// already stays as it is, with its failure count; `load` gives the others (`None`
    /// when it does not load), which are validated as [`Registry::attach`] does; one no
    /// longer wanted is detached. Plugins of the other hook are left alone.
    pub fn sync(
        &self,
        organization: &str,
        hook: Hook,
        wanted: &[(&str, &str)],
        mut load: impl FnMut(usize) -> Option<Attachment>,
    ) {
        self.edit(organization, |set| {
            let current: Vec<&Arc<Attached>> =
                set.iter().filter(|a| a.plugin.hook() == hook).collect();
            let same = |a: &Attached, (name, fingerprint): (&str, &str)| {
                a.name == name && a.fingerprint == fingerprint
            };
            if current.len() == wanted.len() && current.iter().zip(wanted).all(|(a, w)| same(a, *w))
            {
                return false;
            }
            let mut next: Vec<Arc<Attached>> = set
                .iter()
                .filter(|a| a.plugin.hook() != hook)
                .cloned()
                .collect();
            for (index, want) in wanted.iter().enumerate() {
                if let Some(kept) = current.iter().find(|a| same(a, *want)) {
                    next.push(Arc::clone(kept));
                    continue;
                }
                let Some(attachment) = load(index) else {
                    continue;
                };
                match self.validate(organization, attachment) {
                    Ok(attached) => next.push(attached),
                    Err(error) => self.notify(&Notice::NotLoaded {
                        organization: organization.to_owned(),
                        plugin: want.0.to_owned(),
                        error: error.to_string(),
                    }),
                }
            }
            *set = next;
            true
        });
    }

    /// Sends `notice` to the registry's sink.
    pub fn notify(&self, notice: &Notice) {
        (self.notices)(notice);
    }

    /// The plugins attached to `organization`: name, hook, and whether it is switched off.
    pub fn plugins(&self, organization: &str) -> Vec<(String, Hook, bool)> {
        self.sets
            .load()
            .get(organization)
            .map(|set| {
                set.iter()
                    .map(|a| {
                        (
                            a.name.clone(),
                            a.plugin.hook(),
                            a.off.load(Ordering::Acquire),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The plugins of `hook` attached along `path` (organizations, the top-level one
    /// first), each set in attach order, from one load of the map: the one walk of a
    /// tenancy path every consultation goes through.
    fn along(&self, path: &[&str], hook: Hook) -> Vec<Arc<Attached>> {
        let sets = self.sets.load();
        path.iter()
            .filter_map(|org| sets.get(*org))
            .flat_map(|set| set.iter())
            .filter(|a| a.plugin.hook() == hook)
            .cloned()
            .collect()
    }

    /// The approval plugins along `path`, each behind its circuit breaker.
    pub fn reviewers(&self, path: &[&str]) -> Vec<Arc<dyn ApprovalReviewer>> {
        self.along(path, Hook::ApprovalReview)
            .into_iter()
            .map(|a| a as Arc<dyn ApprovalReviewer>)
            .collect()
    }

    /// The rule plugins along `path`, each behind its circuit breaker.
    pub fn rules(&self, path: &[&str]) -> Vec<Arc<dyn RulePlugin>> {
        self.along(path, Hook::Rule)
            .into_iter()
            .map(|a| a as Arc<dyn RulePlugin>)
            .collect()
    }

    /// Review a request with the approval plugins of every organization on its tenancy
    /// path, root first, each set in attach order.
    pub fn review(&self, input: &ApprovalInput) -> Review {
        let path: Vec<&str> = input
            .tenancy
            .organizations
            .iter()
            .map(|o| o.id.as_str())
            .collect();
        let calls: Vec<Call> = self
            .along(&path, Hook::ApprovalReview)
            .iter()
            .map(|attached| Call {
                organization: attached.organization.clone(),
                plugin: attached.name.clone(),
                outcome: ApprovalReviewer::review(attached.as_ref(), input),
            })
            .collect();
        let verdicts: Vec<Verdict> = calls.iter().map(|c| c.outcome.verdict()).collect();
        Review {
            verdict: combine(&verdicts),
            calls,
        }
    }

    /// Consult the rule plugins of `organizations` (root first) on a static decision;
    /// see [`contract::apply_rules`] for when they are consulted and what a deny does.
    pub fn apply_rules(
        &self,
        decision: DecisionRecord,
        execution: &Execution,
        organizations: &[&str],
    ) -> RuledDecision {
        let rules = self.along(organizations, Hook::Rule);
        let rules: Vec<&dyn RulePlugin> = rules
            .iter()
            .map(|a| a.as_ref() as &dyn RulePlugin)
            .collect();
        contract::apply_rules(decision, execution, &rules)
    }
}
