//! The plugins attached in a governance state, loaded on demand and kept in a
//! [`Registry`]: the [`PluginProvider`] the command line, a server and an agent give a
//! state.
//!
//! Each consultation brings the registry's sets of the organizations on the tenancy
//! path in line with what the state holds: an attachment already loaded (same name,
//! content, file name and settings) is kept, with its circuit breaker's count, so a
//! long-running host switches off a plugin that keeps failing; a new or changed one is
//! loaded, and one detached is dropped. A plugin that does not load is reported once
//! per version as [`Notice::NotLoaded`] and abstains.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use portcullis_engine::plugin::Hook;
use portcullis_governance::{Database, Error, PluginAttachment, PluginProvider, Plugins, Store};

use crate::artifacts::ArtifactStore;
use crate::call::{Limits, LoadError};
use crate::plugin::Plugin;
use crate::registry::{Attachment, Notice, Registry};
use crate::wasm::{HostOptions, WasmHost};

/// The compiled components kept in a governance state (its `plugin_artifacts`), for
/// every host that loads the state's plugins: with PostgreSQL, the nodes of one
/// database compile a component once between them. It uses a store handle of its own
/// (it is called while governance consults its plugins), opened the first time an
/// artifact is looked for, so a host that loads no component holds no connection for
/// it.
pub struct StateArtifacts {
    open: Box<dyn Fn() -> Result<Database, Error> + Send + Sync>,
    store: Mutex<Option<Database>>,
}

impl StateArtifacts {
    /// Keeps artifacts in the store `open` opens, when it is first needed.
    pub fn new(
        open: impl Fn() -> Result<Database, Error> + Send + Sync + 'static,
    ) -> StateArtifacts {
        StateArtifacts {
            open: Box::new(open),
            store: Mutex::new(None),
        }
    }

    /// Runs `f` on the store, opened if it is not yet; `None` when it cannot be
    /// opened or `f` fails (a host then compiles).
    fn with<T>(&self, f: impl FnOnce(&mut Database) -> Result<T, Error>) -> Option<T> {
        let mut store = self.store.lock().unwrap_or_else(PoisonError::into_inner);
        if store.is_none() {
            *store = (self.open)().ok();
        }
        f(store.as_mut()?).ok()
    }
}

impl std::fmt::Debug for StateArtifacts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateArtifacts").finish_non_exhaustive()
    }
}

impl ArtifactStore for StateArtifacts {
    fn get(&self, name: &str) -> Option<Vec<u8>> {
        self.with(|store| store.read(|tx| tx.plugin_artifact(name)))
            .flatten()
    }

    fn put(&self, name: &str, file: &[u8]) {
        let _ = self.with(|store| store.transaction(|tx| tx.put_plugin_artifact(name, file)));
    }
}

/// Loads a state's attached plugins and keeps them, each behind its circuit breaker.
pub struct StatePlugins {
    registry: Registry,
    host: OnceLock<Arc<WasmHost>>,
    cache_dir: Option<PathBuf>,
    artifacts: Option<Arc<dyn ArtifactStore>>,
    warm_instances: usize,
    limits: Limits,
    /// The version (fingerprint) of each plugin that did not load, by organization and
    /// name: it is not tried again until it changes.
    broken: Mutex<HashMap<(String, String), String>>,
}

impl std::fmt::Debug for StatePlugins {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatePlugins")
            .field("registry", &self.registry)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Default for StatePlugins {
    fn default() -> Self {
        StatePlugins::new()
    }
}

impl StatePlugins {
    /// A provider with the default limits whose notices are dropped.
    pub fn new() -> StatePlugins {
        StatePlugins::with_notices(Limits::default(), |_| {})
    }

    /// A provider whose plugins run within `limits` and whose every [`Notice`] (a
    /// failed call, a plugin switched off, one that does not load) goes to `sink`.
    pub fn with_notices(
        limits: Limits,
        sink: impl Fn(&Notice) + Send + Sync + 'static,
    ) -> StatePlugins {
        StatePlugins {
            registry: Registry::with_notices(sink),
            host: OnceLock::new(),
            cache_dir: None,
            artifacts: None,
            warm_instances: 0,
            limits,
            broken: Mutex::new(HashMap::new()),
        }
    }

    /// Keeps compiled components in `dir` ([`WasmHost::with_cache`]), so that a
    /// restart, or another process on the same state, does not compile them again.
    pub fn cache_dir(mut self, dir: impl Into<PathBuf>) -> StatePlugins {
        self.cache_dir = Some(dir.into());
        self
    }

    /// Shares compiled components through `store` ([`HostOptions::artifacts`]).
    pub fn artifacts(mut self, store: Arc<dyn ArtifactStore>) -> StatePlugins {
        self.artifacts = Some(store);
        self
    }

    /// Keeps `count` instances of each component made ahead
    /// ([`HostOptions::warm_instances`]): for a long-running host.
    pub fn warm_instances(mut self, count: usize) -> StatePlugins {
        self.warm_instances = count;
        self
    }

    /// The registry the plugins are kept in.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The component host, started the first time a component loads.
    fn host(&self) -> Result<Arc<WasmHost>, LoadError> {
        if let Some(host) = self.host.get() {
            return Ok(Arc::clone(host));
        }
        let host = WasmHost::open(HostOptions {
            cache_dir: self.cache_dir.clone(),
            artifacts: self.artifacts.clone(),
            warm_instances: self.warm_instances,
            ..HostOptions::default()
        })?;
        Ok(Arc::clone(self.host.get_or_init(|| host)))
    }

    /// Brings the sets of `hook` of the organizations on `path` in line with
    /// `attached`. Only the plugin host failing to start is an error.
    fn sync(&self, path: &[&str], hook: Hook, attached: &[PluginAttachment]) -> Result<(), Error> {
        let mut host_failure = None;
        for org in path {
            let wanted: Vec<(&PluginAttachment, String)> = attached
                .iter()
                .filter(|a| a.organization == *org && a.hook == hook.world())
                .map(|a| (a, fingerprint(a)))
                .collect();
            let keys: Vec<(&str, &str)> = wanted
                .iter()
                .map(|(a, f)| (a.name.as_str(), f.as_str()))
                .collect();
            self.registry.sync(org, hook, &keys, |index| {
                let (a, fingerprint) = wanted.get(index)?;
                match self.load(a, fingerprint) {
                    Ok(attachment) => attachment,
                    Err(error) => {
                        host_failure = Some(error);
                        None
                    }
                }
            });
        }
        match host_failure {
            Some(error) => Err(Error::Plugin(Box::new(error))),
            None => Ok(()),
        }
    }

    /// Loads one attachment: `Ok(None)` when it does not load (reported once), an
    /// error when the host does not start.
    fn load(
        &self,
        a: &PluginAttachment,
        fingerprint: &str,
    ) -> Result<Option<Attachment>, LoadError> {
        let key = (a.organization.clone(), a.name.clone());
        let mut broken = self.broken.lock().unwrap_or_else(PoisonError::into_inner);
        if broken.get(&key).is_some_and(|f| f == fingerprint) {
            return Ok(None);
        }
        if a.content.is_empty() {
            // Given without its bytes: it was held when governance asked which ones
            // were needed, and another consultation has replaced it since. It abstains
            // this time; the next consultation asks for its bytes.
            return Ok(None);
        }
        let loaded = Plugin::load_bytes(
            &a.name,
            &a.file_name,
            a.content.clone(),
            self.limits,
            || self.host(),
        );
        match loaded {
            Ok(plugin) => {
                broken.remove(&key);
                Ok(Some(
                    Attachment::new(Arc::new(plugin))
                        .name(&a.name)
                        .configs(a.config.clone())
                        .fingerprint(fingerprint),
                ))
            }
            Err(error @ LoadError::Host(_)) => Err(error),
            // Not the plugin's fault, and passing: it abstains this time and is loaded
            // again at the next consultation.
            Err(LoadError::Busy(message)) => {
                self.registry.notify(&Notice::NotLoaded {
                    organization: a.organization.clone(),
                    plugin: a.name.clone(),
                    error: format!("the plugin host is busy: {message}"),
                });
                Ok(None)
            }
            Err(error) => {
                broken.insert(key, fingerprint.to_owned());
                self.registry.notify(&Notice::NotLoaded {
                    organization: a.organization.clone(),
                    plugin: a.name.clone(),
                    error: error.to_string(),
                });
                Ok(None)
            }
        }
    }
}

/// What identifies one version of an attachment: its content, how it is read, its
/// settings, and how many times it was attached (attaching it again, even unchanged,
/// loads it afresh with its breaker reset).
fn fingerprint(a: &PluginAttachment) -> String {
    let config: &BTreeMap<String, String> = &a.config;
    format!(
        "{} {} {} {}",
        a.sha256,
        a.file_name,
        a.generation,
        serde_json::to_string(config).unwrap_or_default()
    )
}

impl PluginProvider for StatePlugins {
    fn needs_content(&self, hook: Hook, attached: &[PluginAttachment]) -> Vec<bool> {
        let broken = self.broken.lock().unwrap_or_else(PoisonError::into_inner);
        attached
            .iter()
            .map(|a| {
                if a.hook != hook.world() {
                    return false;
                }
                let fingerprint = fingerprint(a);
                let known_broken = broken
                    .get(&(a.organization.clone(), a.name.clone()))
                    .is_some_and(|f| *f == fingerprint);
                !known_broken && !self.registry.holds(&a.organization, &a.name, &fingerprint)
            })
            .collect()
    }

    fn plugins(
        &self,
        hook: Hook,
        path: &[&str],
        attached: &[PluginAttachment],
    ) -> Result<Plugins, Error> {
        self.sync(path, hook, attached)?;
        Ok(match hook {
            Hook::ApprovalReview => Plugins {
                reviewers: self.registry.reviewers(path),
                ..Plugins::default()
            },
            Hook::Rule => Plugins {
                rules: self.registry.rules(path),
                ..Plugins::default()
            },
        })
    }
}
