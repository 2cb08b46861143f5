//! WebAssembly components on wasmtime.
//!
//! One [`WasmHost`] per process holds the wasmtime `Engine`, a ticker thread that
//! advances the engine's epoch, and the on-disk cache of compiled components
//! (`crate::cache`). A
//! [`WasmPlugin`] is a component compiled once and pre-instantiated (`InstancePre`);
//! every call gets a fresh `Store` and instance, so no state survives between calls,
//! with a time budget (epoch deadline) and a memory cap (resource limiter). Instances
//! come from wasmtime's pooling allocator, so a fresh one reuses memory and table
//! slots reserved when the host starts instead of mapping new ones: at most
//! 128 calls can be in flight in one host at once, and a call beyond that fails.
//!
//! The sandbox: a plugin may import the functions of `portcullis:plugin/host` and a
//! minimal, virtualized WASI 0.2 (`crate::wasi`: an empty environment, no files, no
//! network, stdout and stderr into the call's bounded log, clocks coarsened to 1 ms,
//! randomness). Anything else it imports is linked to a function that traps when
//! called, naming the import; [`WasmPlugin::unprovided_imports`] lists them.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use portcullis_engine::plugin::{
    self as contract, ApprovalInput, Execution, FailureKind, Hook, LogLevel, LogLine,
    PluginOutcome, RuleVerdict, Verdict,
};
use wasmtime::component::{HasSelf, Instance, InstancePre, Linker};
use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, ResourceLimiter,
    Store, Trap,
};

use crate::call::{Limits, LoadError, Settings};
use crate::wasi::{self, CallWasi, HasWasi};

mod bindings {
    //! Host bindings generated from `wit/`.
    #![allow(
        missing_docs,
        unsafe_code,
        clippy::all,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )]

    // One world that uses every type of the contract, so that the generated types
    // that borrow (the inputs) and own (the verdicts) are all well-formed. The host
    // instantiates a component targeting either world of `wit/` and looks up the one
    // export it has.
    wasmtime::component::bindgen!({
        path: "../wit",
        inline: "
            package portcullis:host-bindings;
            world host-bindings {
                import portcullis:plugin/host@0.1.0;
                export portcullis:plugin/approval-reviewer@0.1.0;
                export portcullis:plugin/rule-checker@0.1.0;
            }
        ",
        ownership: Borrowing { duplicate_if_necessary: true },
    });
}

use bindings::exports::portcullis::plugin::{approval_reviewer, rule_checker};
use bindings::portcullis::plugin::{host as wit_host, types as wit};

/// How often the ticker advances the epoch; the resolution of time budgets.
const TICK: Duration = Duration::from_millis(1);

/// The longest deadline, in ticks (about 35 years).
const MAX_TICKS: u64 = 1 << 40;

/// How many component instances (calls) may be alive at once in one host; a call
/// beyond that fails (and counts as abstain) instead of waiting.
const POOL_INSTANCES: u32 = 128;

/// Core instances (and tables) per component instance the pool holds room for, on
/// average. A `wasm32-wasip2` guest from Rust or C has three or four (its module and
/// the shims `wasm-component-ld` adds); a componentize-py guest instantiates 38 core
/// modules (CPython, libc and its shims). With 48, 128 Python calls fit at once. The slots are address space reserved when the
/// host starts, not memory.
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
    stop: Arc<AtomicBool>,
    ticker: Option<JoinHandle<()>>,
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
        Self::build(None)
    }

    /// A host that keeps compiled components in `dir`, so that a component is
    /// compiled once, not in every process that loads it: loading a 18 MB Python
    /// component from there takes milliseconds instead of seconds.
    ///
    /// A file there is named by the component's SHA-256 and the engine's compatibility
    /// hash, and holds the component's SHA-256 and the artifact's own SHA-256 before the
    /// artifact; one that is truncated, damaged, of another component or of another
    /// engine is not used, and is replaced by a fresh compile. The checksums catch
    /// accidents, not an attacker: the files are machine code the host runs, so `dir`
    /// must be writable only by the account that runs the host.
    pub fn with_cache(dir: &Path) -> Result<Arc<WasmHost>, LoadError> {
        std::fs::create_dir_all(dir).map_err(|e| LoadError::Io {
            path: dir.to_path_buf(),
            message: e.to_string(),
        })?;
        Self::build(Some(dir.to_path_buf()))
    }

    fn build(cache_dir: Option<PathBuf>) -> Result<Arc<WasmHost>, LoadError> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        config.wasm_component_model(true);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool()));
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
        let plugin = WasmPlugin {
            host: Arc::clone(self),
            name: name.to_owned(),
            pre,
            target,
            limits,
            unprovided,
        };
        plugin.check_export()?;
        Ok(plugin)
    }
}

/// The pooling instance allocator: every call's instance, memory and tables come from
/// slots reserved once, so a fresh instance costs no `mmap` and, where the kernel can
/// say which pages were touched, no page faults either. Memory is still capped per
/// plugin by the store's resource limiter.
fn pool() -> PoolingAllocationConfig {
    let mut pool = PoolingAllocationConfig::new();
    let core = POOL_INSTANCES.saturating_mul(POOL_CORE_PER_COMPONENT);
    pool.total_component_instances(POOL_INSTANCES)
        .total_core_instances(core)
        .total_tables(core)
        .total_memories(POOL_INSTANCES.saturating_mul(POOL_MEMORIES_PER_COMPONENT));
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

/// A compiled, pre-instantiated component, callable from any thread.
pub struct WasmPlugin {
    host: Arc<WasmHost>,
    name: String,
    pre: InstancePre<CallState>,
    target: Target,
    limits: Limits,
    unprovided: Vec<String>,
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

    /// The interfaces the component imports that this host does not provide
    /// (`ns:package/interface@version`): calling a function of one traps.
    pub fn unprovided_imports(&self) -> &[String] {
        &self.unprovided
    }

    /// Instantiates the component once, within its limits, and looks its hook up with
    /// the contract's types. An export found by name is not yet known to have them: one
    /// with other types would load and then fail every call.
    fn check_export(&self) -> Result<(), LoadError> {
        let mut store = self.store(&Arc::default());
        let instance = self
            .pre
            .instantiate(&mut store)
            .map_err(|e| LoadError::Invalid {
                message: format!("the component cannot be instantiated: {e:#}"),
            })?;
        let (export, found) = match &self.target {
            Target::Approval(export) => (
                "portcullis:plugin/approval-reviewer@0.1.0",
                export.load(&mut store, &instance).map(drop),
            ),
            Target::Rule(export) => (
                "portcullis:plugin/rule-checker@0.1.0",
                export.load(&mut store, &instance).map(drop),
            ),
        };
        found.map_err(|e| LoadError::Invalid {
            message: format!("the export `{export}` does not have the contract's types: {e:#}"),
        })
    }

    fn store(&self, config: &Settings) -> Store<CallState> {
        let now = Instant::now();
        let deadline = now.checked_add(self.limits.time).unwrap_or(now);
        let output = self.limits.max_logs.saturating_mul(self.limits.max_log_len);
        let mut store = Store::new(
            &self.host.engine,
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
                wasi: CallWasi::new(self.host.origin, deadline, output),
            },
        );
        store.limiter(|s| &mut s.limiter);
        let ticks = self.limits.time.as_micros() / TICK.as_micros().max(1) + 1;
        // wasmtime adds the deadline to the current epoch: keep the sum far from overflow.
        store.set_epoch_deadline(u64::try_from(ticks).unwrap_or(MAX_TICKS).min(MAX_TICKS));
        store.epoch_deadline_trap();
        store
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
    /// `validate`.
    fn on_fresh_instance<G, V: contract::Abstain>(
        &self,
        config: &Settings,
        load: impl FnOnce(&mut Store<CallState>, &Instance) -> wasmtime::Result<G>,
        call: impl FnOnce(G, &mut Store<CallState>) -> wasmtime::Result<V>,
        validate: impl Fn(&V) -> Result<(), String>,
    ) -> PluginOutcome<V> {
        let mut store = self.store(config);
        let result = self
            .pre
            .instantiate(&mut store)
            .and_then(|instance| load(&mut store, &instance))
            .and_then(|guest| call(guest, &mut store));
        finish(store, result, validate)
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
        let mut store = self.store(config);
        store.set_epoch_deadline(MAX_TICKS);
        store.data_mut().wasi.never_ends();
        let guest = self
            .pre
            .instantiate(&mut store)
            .and_then(|instance| export.load(&mut store, &instance))
            .map_err(|e| LoadError::Invalid {
                message: format!("{e:#}"),
            })?;
        Ok(Reusable { store, guest })
    }
}

/// One instance kept across calls (the `bench` feature only).
#[cfg(feature = "bench")]
pub struct Reusable {
    store: Store<CallState>,
    guest: approval_reviewer::Guest,
}

#[cfg(feature = "bench")]
impl Reusable {
    /// Review a request on the kept instance.
    pub fn review(&mut self, input: &ApprovalInput) -> Option<Verdict> {
        self.store.data_mut().logs.clear();
        let input = WitInput::new(input);
        self.guest
            .call_review(&mut self.store, input.record())
            .ok()
            .map(from_wit_verdict)
    }
}

fn finish<V: contract::Abstain>(
    store: Store<CallState>,
    result: wasmtime::Result<V>,
    validate: impl Fn(&V) -> Result<(), String>,
) -> PluginOutcome<V> {
    let mut state = store.into_data();
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
        logs: state.logs,
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

// The call lowers the input straight from these borrowed records into the guest's
// memory: no string of the input is copied on the host side. Only the lists need
// vectors of their own.

fn wit_signers(e: &Execution) -> Vec<wit::Signer<'_>> {
    e.signers
        .iter()
        .map(|s| wit::Signer {
            subject: &s.subject,
            issuer: s.issuer.as_deref(),
            thumbprint: s.thumbprint.as_deref(),
        })
        .collect()
}

fn to_wit_execution<'a>(e: &'a Execution, signers: &'a [wit::Signer<'a>]) -> wit::Execution<'a> {
    use portcullis_engine::model::{Os, SignatureStatus};
    wit::Execution {
        computer: &e.computer,
        os: match e.os {
            Os::Windows => wit::OsFamily::Windows,
            Os::Linux => wit::OsFamily::Linux,
            Os::Macos => wit::OsFamily::Macos,
        },
        user: &e.user,
        path: &e.path,
        sha256: &e.sha256,
        signature: match e.signature {
            SignatureStatus::Valid => wit::SignatureStatus::Valid,
            SignatureStatus::Invalid => wit::SignatureStatus::Invalid,
            SignatureStatus::Unsigned => wit::SignatureStatus::Unsigned,
        },
        signers,
        parent: e.parent.as_deref(),
        created_by: e.created_by.as_deref(),
        elevation: e.elevation,
        time: &e.time,
    }
}

fn to_wit_scope(s: contract::Scope) -> wit::Scope {
    match s {
        contract::Scope::Computer => wit::Scope::Computer,
        contract::Scope::Group => wit::Scope::Group,
        contract::Scope::Organization => wit::Scope::Organization,
        contract::Scope::Global => wit::Scope::Global,
    }
}

fn from_wit_scope(s: wit::Scope) -> contract::Scope {
    match s {
        wit::Scope::Computer => contract::Scope::Computer,
        wit::Scope::Group => contract::Scope::Group,
        wit::Scope::Organization => contract::Scope::Organization,
        wit::Scope::Global => contract::Scope::Global,
    }
}

fn to_wit_match(m: contract::MatchKind) -> wit::MatchKind {
    match m {
        contract::MatchKind::Hash => wit::MatchKind::Hash,
        contract::MatchKind::Certificate => wit::MatchKind::Certificate,
        contract::MatchKind::CertificateAndPath => wit::MatchKind::CertificateAndPath,
        contract::MatchKind::Path => wit::MatchKind::Path,
    }
}

fn from_wit_match(m: wit::MatchKind) -> contract::MatchKind {
    match m {
        wit::MatchKind::Hash => contract::MatchKind::Hash,
        wit::MatchKind::Certificate => contract::MatchKind::Certificate,
        wit::MatchKind::CertificateAndPath => contract::MatchKind::CertificateAndPath,
        wit::MatchKind::Path => contract::MatchKind::Path,
    }
}

fn to_wit_options(o: &contract::ApprovalOptions) -> wit::ApprovalOptionsParam<'_> {
    wit::ApprovalOptionsParam {
        scope: to_wit_scope(o.scope),
        match_kind: to_wit_match(o.match_kind),
        elevate: o.elevate,
        expires: o.expires.as_deref(),
        justification: &o.justification,
    }
}

/// An approval input and its lists as the records the call borrows.
struct WitInput<'a> {
    input: &'a ApprovalInput,
    signers: Vec<wit::Signer<'a>>,
    organizations: Vec<wit::Organization<'a>>,
    prior_approvals: Vec<wit::PriorApproval<'a>>,
}

impl<'a> WitInput<'a> {
    fn new(input: &'a ApprovalInput) -> WitInput<'a> {
        WitInput {
            input,
            signers: wit_signers(&input.request.execution),
            organizations: input
                .tenancy
                .organizations
                .iter()
                .map(|o| wit::Organization {
                    id: &o.id,
                    name: &o.name,
                })
                .collect(),
            prior_approvals: input
                .prior_approvals
                .iter()
                .map(|p| wit::PriorApproval {
                    request: &p.request,
                    computer: &p.computer,
                    approved_by: &p.approved_by,
                    options: to_wit_options(&p.options),
                    time: &p.time,
                })
                .collect(),
        }
    }

    /// The input as the contract's record.
    fn record(&self) -> wit::ApprovalInput<'_> {
        let input = self.input;
        let r = &input.request;
        wit::ApprovalInput {
            request: wit::AccessRequest {
                id: &r.id,
                kind: match r.kind {
                    contract::AccessRequestKind::Application => wit::RequestKind::Application,
                    contract::AccessRequestKind::Storage => wit::RequestKind::Storage,
                    contract::AccessRequestKind::Elevation => wit::RequestKind::Elevation,
                },
                message: r.message.as_deref(),
                execution: to_wit_execution(&r.execution, &self.signers),
            },
            tenancy: wit::Tenancy {
                organizations: &self.organizations,
                group: &input.tenancy.group,
                computer: &input.tenancy.computer,
            },
            prior_approvals: &self.prior_approvals,
        }
    }
}

fn from_wit_verdict(v: wit::Verdict) -> Verdict {
    match v {
        wit::Verdict::Approve(o) => Verdict::Approve {
            options: contract::ApprovalOptions {
                scope: from_wit_scope(o.scope),
                match_kind: from_wit_match(o.match_kind),
                elevate: o.elevate,
                expires: o.expires,
                justification: o.justification,
            },
        },
        wit::Verdict::Reject(reason) => Verdict::Reject { reason },
        wit::Verdict::Route(administrators) => Verdict::Route { administrators },
        wit::Verdict::Abstain => Verdict::Abstain,
    }
}

fn from_wit_rule_verdict(v: wit::RuleVerdict) -> RuleVerdict {
    match v {
        wit::RuleVerdict::Deny(reason) => RuleVerdict::Deny { reason },
        wit::RuleVerdict::Abstain => RuleVerdict::Abstain,
    }
}
