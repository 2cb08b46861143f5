//! WebAssembly components on wasmtime.
//!
//! One [`WasmHost`] per process holds the wasmtime `Engine`, a ticker thread that
//! advances the engine's epoch, and the on-disk cache of compiled components
//! (`crate::cache`). A
//! [`WasmPlugin`] is a component compiled once and pre-instantiated (`InstancePre`);
//! every call gets a fresh `Store` and instance, so no state survives between calls,
//! with a time budget (epoch deadline) and a memory cap (resource limiter). Instances
//! come from wasmtime's pooling allocator, so a fresh one reuses memory and table
//! slots reserved when the host starts instead of mapping new ones. A call takes room
//! in that pool for what its component has (`crate::warm`), and waits for room within
//! its budget; a long-running host can keep instances made ahead
//! ([`HostOptions::warm_instances`]).
//!
//! The sandbox: a plugin may import the functions of `portcullis:plugin/host` and a
//! minimal, virtualized WASI 0.2 (`crate::wasi`: an empty environment, no files, no
//! network, stdout and stderr into the call's bounded log, clocks coarsened to 1 ms,
//! randomness). Anything else it imports is linked to a function that traps when
//! called, naming the import; [`WasmPlugin::unprovided_imports`] lists them.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use portcullis_engine::plugin::{
    self as contract, ApprovalInput, Execution, Failure, FailureKind, Hook, LogLevel, LogLine,
    PluginOutcome, RuleVerdict, Verdict,
};
use wasmtime::component::{HasSelf, Instance, InstancePre, Linker};
use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, PoolConcurrencyLimitError,
    PoolingAllocationConfig, ResourceLimiter, Store, Trap,
};

use crate::artifacts::ArtifactStore;
use crate::call::{Limits, LoadError, Settings};
use crate::warm::{Held, Lease, Maker, Needs, Ready, Room, Warm, Warmer};
use crate::wasi::{self, CallWasi, HasWasi};

use crate::wit::bindings::exports::portcullis::plugin::{approval_reviewer, rule_checker};
use crate::wit::bindings::portcullis::plugin::{host as wit_host, types as wit};
use crate::wit::{
    from_wit_rule_verdict, from_wit_verdict, to_wit_execution, wit_signers, WitInput,
};

/// How often the ticker advances the epoch; the resolution of time budgets.
const TICK: Duration = Duration::from_millis(1);

/// The longest deadline, in ticks (about 35 years).
const MAX_TICKS: u64 = 1 << 40;

/// How many component instances (calls in flight, instances made ahead) one host has
/// room for by default ([`HostOptions::instances`]).
const POOL_INSTANCES: u32 = 128;

/// Core instances (and tables) per component instance the pool holds room for, on
/// average. A `wasm32-wasip2` guest from Rust or C has three or four (its module and
/// the shims `wasm-component-ld` adds); a componentize-py guest instantiates 14 core
/// modules (CPython, libc and its shims). The slots are address space reserved when the
/// host starts, not memory. Each call takes what its component counts
/// (`crate::warm::Room`).
const POOL_CORE_PER_COMPONENT: u32 = 48;

/// Linear memories per component instance the pool holds room for. Those guests have
/// one. Each costs a 4 GiB reservation of address space (not memory), so the pool
/// reserves 1 TiB.
const POOL_MEMORIES_PER_COMPONENT: u32 = 2;

/// Bytes of a linear memory reset in place (rather than handed back to the kernel and
/// faulted in again) when an instance ends: a Rust guest's 1 MiB stack and the start
/// of its heap. Only used where the kernel can say which pages a call touched
/// (`PAGEMAP_SCAN`, Linux 6.7): without it wasmtime would clear all of these bytes on
/// every call. The scan walks the whole range, so it is kept small.
const KEEP_RESIDENT: usize = 2 << 20;

/// The process-wide wasmtime engine, its epoch ticker, and the compiled-component cache.
pub struct WasmHost {
    pub(crate) engine: Engine,
    /// When the host started: the origin of the plugins' monotonic clock.
    origin: Instant,
    pub(crate) cache_dir: Option<PathBuf>,
    /// Where compiled components are shared with other hosts.
    pub(crate) artifacts: Option<Arc<dyn ArtifactStore>>,
    /// What the instance pool has left.
    room: Arc<Room>,
    /// The thread that keeps instances of each component made ahead, if it does.
    warmer: Option<Warmer<CallState>>,
    stop: Arc<AtomicBool>,
    ticker: Option<JoinHandle<()>>,
}

/// How a [`WasmHost`] is set up.
#[derive(Clone)]
pub struct HostOptions {
    /// Where compiled components are kept (see [`WasmHost::with_cache`]); none: in
    /// memory only.
    pub cache_dir: Option<PathBuf>,
    /// Where compiled components are shared with other hosts (a governance state): a
    /// component missing from the cache directory is taken from there before it is
    /// compiled, and one compiled is stored there too.
    pub artifacts: Option<Arc<dyn ArtifactStore>>,
    /// How many instances of each loaded component to keep made ahead, for a
    /// long-running host: a call takes one that nothing has run on instead of waiting
    /// for an instantiation, and a thread of the host makes the next one. Each holds
    /// its memory while it waits. 0 (the default): every call instantiates.
    pub warm_instances: usize,
    /// How many component instances (calls in flight, and instances made ahead) the
    /// host has room for: 128 by default. Each takes room for the core instances and
    /// memories its component has, out of 48 core instances and 2 memories per
    /// instance on average; a call that finds no room waits for some, within its time
    /// budget.
    pub instances: u32,
}

impl std::fmt::Debug for HostOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostOptions")
            .field("cache_dir", &self.cache_dir)
            .field("artifacts", &self.artifacts.is_some())
            .field("warm_instances", &self.warm_instances)
            .field("instances", &self.instances)
            .finish()
    }
}

impl Default for HostOptions {
    fn default() -> Self {
        HostOptions {
            cache_dir: None,
            artifacts: None,
            warm_instances: 0,
            instances: POOL_INSTANCES,
        }
    }
}

impl std::fmt::Debug for WasmHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmHost")
            .field("cache_dir", &self.cache_dir)
            .finish_non_exhaustive()
    }
}

impl WasmHost {
    /// A host that compiles components in memory only.
    pub fn new() -> Result<Arc<WasmHost>, LoadError> {
        Self::open(HostOptions::default())
    }

    /// A host that keeps compiled components in `dir`, so that a component is
    /// compiled once, not in every process that loads it: loading a 18 MB Python
    /// component from there takes milliseconds instead of seconds.
    ///
    /// A file there is named by the component's SHA-256 and the engine's compatibility
    /// hash, and holds the component's SHA-256 and the artifact's CRC-32 before the
    /// artifact; one that is truncated, damaged, of another component or of another
    /// engine is not used, and is replaced by a fresh compile. The checksums catch
    /// accidents, not an attacker: the files are machine code the host runs, so `dir`
    /// must be writable only by the account that runs the host.
    pub fn with_cache(dir: &Path) -> Result<Arc<WasmHost>, LoadError> {
        Self::open(HostOptions {
            cache_dir: Some(dir.to_path_buf()),
            ..HostOptions::default()
        })
    }

    /// A host set up as `options` say.
    pub fn open(options: HostOptions) -> Result<Arc<WasmHost>, LoadError> {
        let HostOptions {
            cache_dir,
            artifacts,
            warm_instances,
            instances,
        } = options;
        let instances = instances.max(1);
        if let Some(dir) = &cache_dir {
            std::fs::create_dir_all(dir).map_err(|e| LoadError::Io {
                path: dir.clone(),
                message: e.to_string(),
            })?;
        }
        let warmer =
            if warm_instances > 0 {
                Some(Warmer::start(warm_instances).map_err(|e| {
                    LoadError::Host(format!("cannot start the instance warmer: {e}"))
                })?)
            } else {
                None
            };
        let mut config = Config::new();
        config.epoch_interruption(true);
        config.wasm_component_model(true);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool(instances)));
        let engine = Engine::new(&config).map_err(|e| LoadError::Host(e.to_string()))?;
        let stop = Arc::new(AtomicBool::new(false));
        let ticker = {
            let engine = engine.clone();
            let stop = Arc::clone(&stop);
            std::thread::Builder::new()
                .name("portcullis-wasm-epoch".to_owned())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(TICK);
                        engine.increment_epoch();
                    }
                })
                .map_err(|e| LoadError::Host(format!("cannot start the epoch ticker: {e}")))?
        };
        Ok(Arc::new(WasmHost {
            engine,
            origin: Instant::now(),
            cache_dir,
            artifacts,
            room: Room::new(
                instances,
                instances.saturating_mul(POOL_CORE_PER_COMPONENT),
                instances.saturating_mul(POOL_MEMORIES_PER_COMPONENT),
            ),
            warmer,
            stop,
            ticker: Some(ticker),
        }))
    }

    /// The cache directory, if the host has one.
    pub fn cache_dir(&self) -> Option<&Path> {
        self.cache_dir.as_deref()
    }

    /// Load a component: compile it (or take it from the cache), check its imports,
    /// find which world it targets, and instantiate it once to check that its export
    /// has the contract's types.
    pub fn load(
        self: &Arc<Self>,
        name: &str,
        bytes: &[u8],
        limits: Limits,
    ) -> Result<WasmPlugin, LoadError> {
        let component = self.component(bytes)?;
        let needs = needs(bytes, &component);
        self.room
            .can_hold(needs)
            .map_err(|message| LoadError::Invalid { message })?;
        let mut linker: Linker<CallState> = Linker::new(&self.engine);
        wit_host::add_to_linker::<CallState, HasSelf<CallState>>(&mut linker, |s| s)
            .map_err(|e| LoadError::Host(format!("cannot link the host interface: {e}")))?;
        wasi::add_to_linker(&mut linker)
            .map_err(|e| LoadError::Host(format!("cannot link WASI: {e}")))?;
        let unprovided: Vec<String> = component
            .component_type()
            .imports(&self.engine)
            .map(|(name, _)| name)
            .filter(|name| !wasi::provides(name))
            .map(str::to_owned)
            .collect();
        wasi::define_unprovided_as_traps(&mut linker, &component, &unprovided).map_err(|e| {
            LoadError::Invalid {
                message: format!("the component's imports cannot be linked: {e:#}"),
            }
        })?;
        let pre = linker
            .instantiate_pre(&component)
            .map_err(|e| LoadError::Invalid {
                message: format!("the component's imports cannot be linked: {e:#}"),
            })?;
        let target = if let Ok(export) = approval_reviewer::GuestIndices::new(&pre) {
            Target::Approval(export)
        } else if let Ok(export) = rule_checker::GuestIndices::new(&pre) {
            Target::Rule(export)
        } else {
            let exports: Vec<String> = component
                .component_type()
                .exports(&self.engine)
                .map(|(name, _)| format!("`{name}`"))
                .collect();
            return Err(LoadError::NoWorld {
                found: if exports.is_empty() {
                    "nothing".to_owned()
                } else {
                    exports.join(", ")
                },
            });
        };
        let factory = Arc::new(Factory {
            engine: self.engine.clone(),
            origin: self.origin,
            room: Arc::clone(&self.room),
            pre,
            needs,
            limits,
        });
        let plugin = WasmPlugin {
            host: Arc::clone(self),
            name: name.to_owned(),
            factory,
            target,
            unprovided,
            warm: self.warmer.as_ref().map(Warmer::warm),
            taken_ahead: AtomicU64::new(0),
        };
        plugin.check_export()?;
        if let (Some(warmer), Some(warm)) = (&self.warmer, &plugin.warm) {
            warmer.top_up(&plugin.maker(), warm);
        }
        Ok(plugin)
    }
}

/// The pooling instance allocator: every call's instance, memory and tables come from
/// slots reserved once, so a fresh instance costs no `mmap` and, where the kernel can
/// say which pages were touched, no page faults either. Memory is still capped per
/// plugin by the store's resource limiter.
fn pool(instances: u32) -> PoolingAllocationConfig {
    let mut pool = PoolingAllocationConfig::new();
    let core = instances.saturating_mul(POOL_CORE_PER_COMPONENT);
    pool.total_component_instances(instances)
        .total_core_instances(core)
        .total_tables(core)
        .total_memories(instances.saturating_mul(POOL_MEMORIES_PER_COMPONENT));
    if PoolingAllocationConfig::is_pagemap_scan_available() {
        pool.pagemap_scan(Enabled::Yes)
            .linear_memory_keep_resident(KEEP_RESIDENT)
            .table_keep_resident(KEEP_RESIDENT);
    }
    pool
}

impl Drop for WasmHost {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(ticker) = self.ticker.take() {
            let _ = ticker.join();
        }
    }
}

/// The export a component has, found when it is loaded.
enum Target {
    Approval(approval_reviewer::GuestIndices),
    Rule(rule_checker::GuestIndices),
}

/// What one instance of a component takes from the pool: its core instances, counted
/// from the component's core instance sections (nested components included), and its
/// memories, as wasmtime counts them (or one per core instance where it cannot). The
/// core instances counted are a lower bound: wasmtime instantiates modules of its own
/// (adapters between nested components) where a component's parts call each other
/// through the canonical ABI, so an instantiation the pool still refuses fails as
/// `busy` too. For the examples the count is exact: 3 (Rust, C), 4 (JavaScript) and 14
/// (Python) core instances, 1 memory each.
fn needs(bytes: &[u8], component: &wasmtime::component::Component) -> Needs {
    let mut cores: u32 = 0;
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        if let Ok(wasmparser::Payload::InstanceSection(section)) = payload {
            for instance in section.into_iter().flatten() {
                if matches!(instance, wasmparser::Instance::Instantiate { .. }) {
                    cores = cores.saturating_add(1);
                }
            }
        }
    }
    let cores = cores.max(1);
    let memories = component
        .resources_required()
        .map_or(cores, |r| r.num_memories);
    Needs { cores, memories }
}

/// How a plugin's stores and instances are made, on the caller's thread or the warmer's.
struct Factory {
    engine: Engine,
    /// The host's start: the origin of the plugins' monotonic clock.
    origin: Instant,
    room: Arc<Room>,
    pre: InstancePre<CallState>,
    needs: Needs,
    limits: Limits,
}

impl Factory {
    /// A fresh store whose call ends at `deadline`, in room taken for it.
    fn store(&self, config: &Settings, deadline: Instant, lease: Lease) -> Held<CallState> {
        let output = self.limits.max_logs.saturating_mul(self.limits.max_log_len);
        let mut store = Store::new(
            &self.engine,
            CallState {
                config: Arc::clone(config),
                limiter: Limiter {
                    memory: self.limits.memory,
                    hit: false,
                },
                logs: Vec::new(),
                dropped_logs: 0,
                max_logs: self.limits.max_logs,
                max_log_len: self.limits.max_log_len,
                wasi: CallWasi::new(self.origin, deadline, output),
            },
        );
        store.limiter(|s| &mut s.limiter);
        arm(&mut store, deadline);
        Held::new(store, lease)
    }

    /// A fresh store and instance for one call with `config`, within the call's budget
    /// from now (waiting for room in the pool counts in it).
    fn fresh(
        &self,
        config: &Settings,
    ) -> Result<(Held<CallState>, wasmtime::Result<Instance>), Failure> {
        let now = Instant::now();
        let deadline = now.checked_add(self.limits.time).unwrap_or(now);
        let lease = self
            .room
            .take(self.needs, deadline)
            .ok_or_else(|| Failure {
                kind: FailureKind::Busy,
                message: format!(
                    "no room in the plugin host for another instance within the call's budget \
                 of {} ms: every slot is taken by calls in flight",
                    self.limits.time.as_millis()
                ),
            })?;
        let mut held = self.store(config, deadline, lease);
        let instance = self.pre.instantiate(&mut held.store);
        Ok((held, instance))
    }
}

/// Sets a store's epoch deadline to `deadline`, from the current epoch.
fn arm(store: &mut Store<CallState>, deadline: Instant) {
    let left = deadline.saturating_duration_since(Instant::now());
    let ticks = left.as_micros() / TICK.as_micros().max(1) + 1;
    // wasmtime adds the deadline to the current epoch: keep the sum far from overflow.
    store.set_epoch_deadline(u64::try_from(ticks).unwrap_or(MAX_TICKS).min(MAX_TICKS));
    store.epoch_deadline_trap();
}

impl Maker<CallState> for Factory {
    fn make(&self) -> Option<Ready<CallState>> {
        // The warmer does not wait for room: a call will.
        let now = Instant::now();
        let lease = self.room.take(self.needs, now)?;
        let deadline = now.checked_add(self.limits.time).unwrap_or(now);
        let mut held = self.store(&Arc::default(), deadline, lease);
        let instance = self.pre.instantiate(&mut held.store).ok()?;
        Some(Ready { held, instance })
    }
}

/// A compiled, pre-instantiated component, callable from any thread.
pub struct WasmPlugin {
    host: Arc<WasmHost>,
    name: String,
    factory: Arc<Factory>,
    target: Target,
    unprovided: Vec<String>,
    /// Instances made ahead, when the host keeps them.
    warm: Option<Arc<Warm<CallState>>>,
    /// Calls that took an instance made ahead.
    taken_ahead: AtomicU64,
}

impl std::fmt::Debug for WasmPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmPlugin")
            .field("name", &self.name)
            .field("hook", &self.hook())
            .finish_non_exhaustive()
    }
}

/// What one call may use and what it logged.
struct CallState {
    config: Settings,
    limiter: Limiter,
    logs: Vec<LogLine>,
    dropped_logs: u32,
    max_logs: usize,
    max_log_len: usize,
    wasi: CallWasi,
}

impl HasWasi for CallState {
    fn wasi(&mut self) -> &mut CallWasi {
        &mut self.wasi
    }
}

impl wasmtime_wasi::WasiView for CallState {
    fn ctx(&mut self) -> wasmtime_wasi::WasiCtxView<'_> {
        self.wasi.view()
    }
}

impl CallState {
    /// Keeps one log line, within the limits.
    fn push_log(&mut self, level: LogLevel, message: String) {
        if self.logs.len() >= self.max_logs {
            self.dropped_logs = self.dropped_logs.saturating_add(1);
            return;
        }
        let mut message = message;
        if message.len() > self.max_log_len {
            let mut cut = self.max_log_len;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push('…');
        }
        self.logs.push(LogLine { level, message });
    }

    /// Moves the lines the plugin wrote to stdout (`info`) and stderr (`warn`) into
    /// its log: the ended ones, and with `all` the last unended one too.
    fn take_output(&mut self, all: bool) {
        let (lines, dropped) = self.wasi.output.take(all);
        for (stderr, line) in lines {
            let level = if stderr {
                LogLevel::Warn
            } else {
                LogLevel::Info
            };
            self.push_log(level, line);
        }
        if dropped {
            self.dropped_logs = self.dropped_logs.saturating_add(1);
        }
    }
}

struct Limiter {
    memory: usize,
    hit: bool,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory {
            self.hit = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

impl wit_host::Host for CallState {
    fn log(&mut self, level: wit_host::Level, message: String) {
        // What the plugin printed before comes first.
        self.take_output(false);
        let level = match level {
            wit_host::Level::Debug => LogLevel::Debug,
            wit_host::Level::Info => LogLevel::Info,
            wit_host::Level::Warn => LogLevel::Warn,
            wit_host::Level::Error => LogLevel::Error,
        };
        self.push_log(level, message);
    }

    fn config(&mut self, key: String) -> Option<String> {
        self.config.get(&key).cloned()
    }
}

impl wit::Host for CallState {}

impl WasmPlugin {
    /// The hook (world) the component targets.
    pub fn hook(&self) -> Hook {
        match self.target {
            Target::Approval(_) => Hook::ApprovalReview,
            Target::Rule(_) => Hook::Rule,
        }
    }

    /// The name it was loaded under.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How many instances made ahead are ready now (0 on a host that makes none), and
    /// how many calls so far took one instead of instantiating their own.
    pub fn instances_ahead(&self) -> (usize, u64) {
        let ready = self.warm.as_ref().map_or(0, |warm| warm.ready());
        (ready, self.taken_ahead.load(Ordering::Relaxed))
    }

    /// The interfaces the component imports that this host does not provide
    /// (`ns:package/interface@version`): calling a function of one traps.
    pub fn unprovided_imports(&self) -> &[String] {
        &self.unprovided
    }

    /// Instantiates the component once, within its limits, and looks its hook up with
    /// the contract's types. An export found by name is not yet known to have them: one
    /// with other types would load and then fail every call.
    fn check_export(&self) -> Result<(), LoadError> {
        let (mut held, instance) = self
            .factory
            .fresh(&Arc::default())
            .map_err(|failure| LoadError::Busy(failure.message))?;
        let instance = instance.map_err(|e| LoadError::Invalid {
            message: format!("the component cannot be instantiated: {e:#}"),
        })?;
        let store = &mut held.store;
        let (export, found) = match &self.target {
            Target::Approval(export) => (
                "portcullis:plugin/approval-reviewer@0.1.0",
                export.load(&mut *store, &instance).map(drop),
            ),
            Target::Rule(export) => (
                "portcullis:plugin/rule-checker@0.1.0",
                export.load(&mut *store, &instance).map(drop),
            ),
        };
        found.map_err(|e| LoadError::Invalid {
            message: format!("the export `{export}` does not have the contract's types: {e:#}"),
        })
    }

    /// The plugin's factory, as the warmer takes it.
    fn maker(&self) -> Arc<dyn Maker<CallState>> {
        Arc::clone(&self.factory) as Arc<dyn Maker<CallState>>
    }

    /// An instance for one call with `config`: one made ahead when the host keeps them
    /// and one is ready, else a fresh one made now.
    fn instance(
        &self,
        config: &Settings,
    ) -> Result<(Held<CallState>, wasmtime::Result<Instance>), Failure> {
        if let (Some(warmer), Some(warm)) = (&self.host.warmer, &self.warm) {
            if let Some(ready) = warmer.take(&self.maker(), warm) {
                let mut held = ready.held;
                let now = Instant::now();
                let deadline = now.checked_add(self.factory.limits.time).unwrap_or(now);
                let state = held.store.data_mut();
                state.config = Arc::clone(config);
                state.wasi.rearm(deadline);
                arm(&mut held.store, deadline);
                self.taken_ahead.fetch_add(1, Ordering::Relaxed);
                return Ok((held, Ok(ready.instance)));
            }
        }
        self.factory.fresh(config)
    }

    /// Review a request on a fresh instance with the tenant's `config`.
    pub fn review(&self, input: &ApprovalInput, config: &Settings) -> PluginOutcome<Verdict> {
        let Target::Approval(export) = &self.target else {
            return PluginOutcome::failed(
                FailureKind::Malformed,
                "the plugin is not an approval-review plugin",
            );
        };
        let input = WitInput::new(input);
        self.on_fresh_instance(
            config,
            |store, instance| export.load(store, instance),
            |guest, store| {
                guest
                    .call_review(store, input.record())
                    .map(from_wit_verdict)
            },
            Verdict::validate,
        )
    }

    /// Check an execution on a fresh instance with the tenant's `config`.
    pub fn check(&self, execution: &Execution, config: &Settings) -> PluginOutcome<RuleVerdict> {
        let Target::Rule(export) = &self.target else {
            return PluginOutcome::failed(
                FailureKind::Malformed,
                "the plugin is not a rule plugin",
            );
        };
        let signers = wit_signers(execution);
        let execution = to_wit_execution(execution, &signers);
        self.on_fresh_instance(
            config,
            |store, instance| export.load(store, instance),
            |guest, store| {
                guest
                    .call_check(store, execution)
                    .map(from_wit_rule_verdict)
            },
            RuleVerdict::validate,
        )
    }

    /// One call on a fresh store and instance, within the limits: `load` finds the
    /// hook's export in the instance, `call` calls it, and the verdict must pass
    /// `validate`. The used store is dropped on the warmer's thread when the host has
    /// one.
    fn on_fresh_instance<G, V: contract::Abstain>(
        &self,
        config: &Settings,
        load: impl FnOnce(&mut Store<CallState>, &Instance) -> wasmtime::Result<G>,
        call: impl FnOnce(G, &mut Store<CallState>) -> wasmtime::Result<V>,
        validate: impl Fn(&V) -> Result<(), String>,
    ) -> PluginOutcome<V> {
        let (mut held, instance) = match self.instance(config) {
            Ok(made) => made,
            Err(failure) => {
                return PluginOutcome {
                    result: Err(failure),
                    logs: Vec::new(),
                    dropped_logs: 0,
                }
            }
        };
        let store = &mut held.store;
        let result = instance
            .and_then(|instance| load(&mut *store, &instance))
            .and_then(|guest| call(guest, &mut *store));
        let outcome = finish(store.data_mut(), result, validate);
        match &self.host.warmer {
            Some(warmer) => warmer.discard(held),
            None => drop(held),
        }
        outcome
    }

    /// A reusable instance for measuring the cost of a call without instantiation.
    /// State survives between calls on it, which the hosts never allow, so it exists
    /// only with the `bench` feature.
    #[cfg(feature = "bench")]
    pub fn reusable(&self, config: &Settings) -> Result<Reusable, LoadError> {
        let Target::Approval(export) = &self.target else {
            return Err(LoadError::Invalid {
                message: "only approval plugins can be reused".to_owned(),
            });
        };
        let (mut held, instance) =
            self.factory
                .fresh(config)
                .map_err(|failure| LoadError::Invalid {
                    message: failure.message,
                })?;
        let store = &mut held.store;
        store.set_epoch_deadline(MAX_TICKS);
        store.data_mut().wasi.never_ends();
        let guest = instance
            .and_then(|instance| export.load(&mut *store, &instance))
            .map_err(|e| LoadError::Invalid {
                message: format!("{e:#}"),
            })?;
        Ok(Reusable { held, guest })
    }
}

/// One instance kept across calls (the `bench` feature only).
#[cfg(feature = "bench")]
pub struct Reusable {
    held: Held<CallState>,
    guest: approval_reviewer::Guest,
}

#[cfg(feature = "bench")]
impl Reusable {
    /// Review a request on the kept instance.
    pub fn review(&mut self, input: &ApprovalInput) -> Option<Verdict> {
        let store = &mut self.held.store;
        store.data_mut().logs.clear();
        let input = WitInput::new(input);
        self.guest
            .call_review(store, input.record())
            .ok()
            .map(from_wit_verdict)
    }
}

fn finish<V: contract::Abstain>(
    state: &mut CallState,
    result: wasmtime::Result<V>,
    validate: impl Fn(&V) -> Result<(), String>,
) -> PluginOutcome<V> {
    state.take_output(true);
    let result = match result {
        Ok(_) if state.wasi.waited_past_deadline() => Err(contract::Failure {
            kind: FailureKind::Timeout,
            message: "the plugin waited on a clock beyond its time budget".to_owned(),
        }),
        Ok(verdict) => match validate(&verdict) {
            Ok(()) => Ok(verdict),
            Err(message) => Err(contract::Failure {
                kind: FailureKind::Malformed,
                message,
            }),
        },
        Err(error) => {
            let kind = if state.limiter.hit {
                FailureKind::Memory
            } else if error.downcast_ref::<PoolConcurrencyLimitError>().is_some() {
                // The pool ran out of a kind of slot the count at load did not see
                // (wasmtime adds core instances of its own): the host's doing.
                FailureKind::Busy
            } else if error.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
                FailureKind::Timeout
            } else {
                FailureKind::Trap
            };
            let mut message = failure_message(&error);
            if message.len() > 2048 {
                let mut cut = 2048;
                while !message.is_char_boundary(cut) {
                    cut -= 1;
                }
                message.truncate(cut);
            }
            Err(contract::Failure { kind, message })
        }
    };
    PluginOutcome {
        result,
        logs: std::mem::take(&mut state.logs),
        dropped_logs: state.dropped_logs,
    }
}

/// What a failed call says: its cause first (the trap, or the import this host does not
/// provide that the plugin called), then where it happened (the guest's backtrace),
/// which can be long and is the part cut.
fn failure_message(error: &wasmtime::Error) -> String {
    let root = error.root_cause().to_string();
    let cause = match root
        .strip_prefix("unknown import: `")
        .and_then(|r| r.strip_suffix("` has not been defined"))
    {
        Some(import) => format!(
            "the plugin called `{import}`, which this host does not provide \
             (`portcullis plugin check` lists such imports)"
        ),
        None => root.clone(),
    };
    let all = format!("{error:#}");
    if all == root {
        cause
    } else {
        format!("{cause}; {all}")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    /// What loading counts is what the pool then allocates for one instance.
    #[test]
    fn the_room_counted_is_what_an_instance_takes() {
        for file in ["known-bad.wasm", "known-bad-c.wasm", "hostile.wasm"] {
            let host = super::WasmHost::new().unwrap();
            let path = format!("{}/examples/components/{file}", env!("CARGO_MANIFEST_DIR"));
            let plugin = host
                .load(
                    file,
                    &std::fs::read(path).unwrap(),
                    crate::Limits::default(),
                )
                .unwrap();
            let pool = host.engine.pooling_allocator_metrics().unwrap();
            assert_eq!((pool.core_instances(), pool.memories()), (0, 0), "{file}");
            let (held, instance) = plugin.factory.fresh(&std::sync::Arc::default()).unwrap();
            instance.unwrap();
            let needs = plugin.factory.needs;
            assert_eq!(
                (pool.core_instances(), pool.memories()),
                (u64::from(needs.cores), needs.memories as usize),
                "{file}"
            );
            drop(held);
            assert_eq!(pool.core_instances(), 0, "{file}");
        }
    }
}
