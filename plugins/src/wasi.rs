//! The minimal, virtualized WASI 0.2 the component host gives every call.
//!
//! What a plugin sees (docs/plugins.md says the same for plugin authors):
//!
//! - `wasi:cli`: an empty environment and no arguments, no initial directory; stdin is
//!   empty (end of stream at once); stdout and stderr are captured into the call's
//!   bounded log (a line of stdout is an `info` line, of stderr a `warn` line, under
//!   the same limits as `host.log`); no terminal; `exit` ends the call (a trap).
//! - `wasi:clocks`: the wall clock is the host's UTC time and the monotonic clock
//!   counts from when the host started; both are coarsened to [`CLOCK_RESOLUTION`]
//!   (1 ms), the resolution of the time budget. A wait on the monotonic clock
//!   (`subscribe-duration`, `subscribe-instant`) ends no later than the call's budget,
//!   after which the call is interrupted as a timeout.
//! - `wasi:random`: the host's cryptographically seeded generators, fresh for every
//!   call (nothing repeats between calls); at most [`MAX_RANDOM`] bytes per request.
//! - `wasi:filesystem`: no preopened directory, so no file can be opened: a path
//!   operation fails with an error code, as a missing file would.
//! - `wasi:io`: the streams and pollables of the above.
//!
//! Nothing else: `wasi:sockets`, `wasi:http` and any other interface is linked to a
//! function that traps, naming the import, when called (`plugin check` lists them).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use wasmtime::component::types::ComponentItem;
use wasmtime::component::{
    Component, HasData, Linker, LinkerInstance, Resource, ResourceTable, ResourceType,
};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream, WasiCli};
use wasmtime_wasi::clocks::{WasiClocks, WasiClocksCtxView};
use wasmtime_wasi::filesystem::WasiFilesystem;
use wasmtime_wasi::p2::bindings::clocks::monotonic_clock;
use wasmtime_wasi::p2::bindings::{cli, clocks, filesystem, random, sync};
use wasmtime_wasi::p2::{DynPollable, OutputStream, Pollable, StreamResult};
use wasmtime_wasi::random::WasiRandom;
use wasmtime_wasi::{HostWallClock, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

/// The resolution of both clocks a plugin reads.
pub(crate) const CLOCK_RESOLUTION: Duration = Duration::from_millis(1);

/// The most bytes one `get-random-bytes` call may ask for.
pub(crate) const MAX_RANDOM: u64 = 1 << 20;

/// The interfaces (without their version) this host provides, all at 0.2.
pub(crate) const PROVIDED: &[&str] = &[
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
    "wasi:clocks/wall-clock",
    "wasi:clocks/monotonic-clock",
    "wasi:random/random",
    "wasi:random/insecure",
    "wasi:random/insecure-seed",
    "wasi:filesystem/types",
    "wasi:filesystem/preopens",
    "wasi:io/error",
    "wasi:io/poll",
    "wasi:io/streams",
];

/// Whether the host provides the import `name` (`ns:pkg/interface@version`):
/// `portcullis:plugin` at 0.1 and the WASI interfaces of [`PROVIDED`] at 0.2.
pub(crate) fn provides(name: &str) -> bool {
    let (interface, version) = name.split_once('@').unwrap_or((name, ""));
    if interface.starts_with("portcullis:plugin/") {
        return version.starts_with("0.1.");
    }
    PROVIDED.contains(&interface) && version.starts_with("0.2.")
}

/// What a call's WASI state needs from the store's data.
pub(crate) trait HasWasi: WasiView + 'static {
    /// The call's WASI state.
    fn wasi(&mut self) -> &mut CallWasi;
}

/// One call's WASI context, resources, captured output and deadline.
pub(crate) struct CallWasi {
    ctx: WasiCtx,
    table: ResourceTable,
    /// Where stdout and stderr go.
    pub(crate) output: Output,
    /// When the monotonic clock started (the host's start).
    origin: Instant,
    /// When the call's budget ends: no wait on a clock lasts beyond it.
    deadline: Instant,
    /// A wait was cut short at the deadline.
    cut: bool,
}

impl CallWasi {
    /// The context of one call whose budget ends at `deadline`; stdout and stderr
    /// keep at most `capacity` bytes.
    pub(crate) fn new(origin: Instant, deadline: Instant, capacity: usize) -> CallWasi {
        let output = Output::new(capacity);
        let ctx = WasiCtxBuilder::new()
            .stdout(Stream {
                output: output.clone(),
                stderr: false,
            })
            .stderr(Stream {
                output: output.clone(),
                stderr: true,
            })
            .wall_clock(WallClock)
            .max_random_size(MAX_RANDOM)
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        CallWasi {
            ctx,
            table: ResourceTable::new(),
            output,
            origin,
            deadline,
            cut: false,
        }
    }
}

impl CallWasi {
    /// The call's budget now ends at `deadline`: for an instance made ahead, when a
    /// call takes it.
    pub(crate) fn rearm(&mut self, deadline: Instant) {
        self.deadline = deadline;
        self.cut = false;
    }

    /// No wait ends early: for an instance kept across calls (the `bench` feature).
    #[cfg(feature = "bench")]
    pub(crate) fn never_ends(&mut self) {
        if let Some(far) = Instant::now().checked_add(Duration::from_secs(1 << 32)) {
            self.deadline = far;
        }
    }
}

impl CallWasi {
    /// Whether the call asked to wait on a clock beyond its budget, and the budget is
    /// spent: the call then fails as a timeout even if it returned (its wait was cut
    /// short, so what it computed after it is not what it meant).
    pub(crate) fn waited_past_deadline(&self) -> bool {
        self.cut && Instant::now() >= self.deadline
    }

    /// The view wasmtime-wasi's implementations take.
    pub(crate) fn view(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.ctx,
            table: &mut self.table,
        }
    }
}

/// Adds the interfaces of [`PROVIDED`] to `linker`.
pub(crate) fn add_to_linker<T: HasWasi>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    let l = linker;
    sync::io::error::add_to_linker::<T, Io>(l, |t| &mut t.wasi().table)?;
    sync::io::poll::add_to_linker::<T, Io>(l, |t| &mut t.wasi().table)?;
    sync::io::streams::add_to_linker::<T, Io>(l, |t| &mut t.wasi().table)?;
    clocks::wall_clock::add_to_linker::<T, WasiClocks>(l, |t| {
        let WasiCtxView { ctx, table } = t.ctx();
        WasiClocksCtxView {
            ctx: ctx.clocks(),
            table,
        }
    })?;
    monotonic_clock::add_to_linker::<T, Monotonic>(l, |t| t.wasi())?;
    random::random::add_to_linker::<T, WasiRandom>(l, |t| t.ctx().ctx.random())?;
    random::insecure::add_to_linker::<T, WasiRandom>(l, |t| t.ctx().ctx.random())?;
    random::insecure_seed::add_to_linker::<T, WasiRandom>(l, |t| t.ctx().ctx.random())?;
    cli::exit::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::environment::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::stdin::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::stdout::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::stderr::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_input::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_output::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_stdin::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_stdout::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_stderr::add_to_linker::<T, WasiCli>(l, T::cli)?;
    filesystem::preopens::add_to_linker::<T, WasiFilesystem>(l, T::filesystem)?;
    sync::filesystem::types::add_to_linker::<T, WasiFilesystem>(l, T::filesystem)?;
    Ok(())
}

/// Links every function of the imports `unprovided` of `component` to one that traps,
/// naming the import, and their resource types to types no host function makes.
///
/// wasmtime's `define_unknown_imports_as_traps` would do it for every import not
/// defined under its exact name: it would also stub a WASI import of another 0.2
/// version than the one linked, which the linker otherwise matches by semver.
pub(crate) fn define_unprovided_as_traps<T: 'static>(
    linker: &mut Linker<T>,
    component: &Component,
    unprovided: &[String],
) -> wasmtime::Result<()> {
    let engine = linker.engine().clone();
    // The resources of the provided interfaces, as the component's types and as this
    // host's: an unprovided interface may use one (`wasi:http/types` uses
    // `wasi:io/streams.input-stream`), and must then be linked with the host's type.
    let mut provided = Vec::new();
    for (name, item) in component.component_type().imports(&engine) {
        let interface = name.split_once('@').map_or(name, |(i, _)| i);
        if let ComponentItem::ComponentInstance(instance) = &item.ty {
            for (export, item) in instance.exports(&engine) {
                if let (ComponentItem::Resource(ty), Some(host)) =
                    (&item.ty, host_resource(interface, export))
                {
                    provided.push((*ty, host));
                }
            }
        }
    }
    for (name, item) in component.component_type().imports(&engine) {
        if unprovided.iter().any(|u| u == name) {
            let mut root = linker.root();
            stub(&mut root, &engine, &provided, name, None, &item.ty)?;
        }
    }
    Ok(())
}

/// The type this host gives a resource of a WASI interface it provides.
fn host_resource(interface: &str, resource: &str) -> Option<ResourceType> {
    use wasmtime_wasi::p2::{DynInputStream, DynOutputStream, IoError};
    Some(match (interface, resource) {
        ("wasi:io/error", "error") => ResourceType::host::<IoError>(),
        ("wasi:io/poll", "pollable") => ResourceType::host::<DynPollable>(),
        ("wasi:io/streams", "input-stream") => ResourceType::host::<DynInputStream>(),
        ("wasi:io/streams", "output-stream") => ResourceType::host::<DynOutputStream>(),
        ("wasi:filesystem/types", "descriptor") => {
            ResourceType::host::<wasmtime_wasi::filesystem::Descriptor>()
        }
        _ => return None,
    })
}

fn stub<T: 'static>(
    linker: &mut LinkerInstance<'_, T>,
    engine: &wasmtime::Engine,
    provided: &[(ResourceType, ResourceType)],
    name: &str,
    parent: Option<&str>,
    item: &ComponentItem,
) -> wasmtime::Result<()> {
    match item {
        ComponentItem::ComponentFunc(_) => {
            let full = match parent {
                Some(parent) => format!("{parent}#{name}"),
                None => name.to_owned(),
            };
            linker.func_new(name, move |_, _, _, _| {
                Err(wasmtime::Error::msg(format!(
                    "unknown import: `{full}` has not been defined"
                )))
            })?;
        }
        ComponentItem::ComponentInstance(instance) => {
            let mut inner = linker.instance(name)?;
            for (export, item) in instance.exports(engine) {
                stub(&mut inner, engine, provided, export, Some(name), &item.ty)?;
            }
        }
        ComponentItem::Resource(ty) => {
            let host = provided
                .iter()
                .find(|(component, _)| component == ty)
                .map_or_else(ResourceType::host::<Unprovided>, |(_, host)| *host);
            linker.resource(name, host, |_, _| Ok(()))?;
        }
        // Types other than resources need no definition; a component or a module
        // import fails to link, with the linker's error.
        _ => {}
    }
    Ok(())
}

/// The resource type of an interface the host does not provide: none is ever made.
struct Unprovided;

use wasmtime_wasi::cli::WasiCliView as _;
use wasmtime_wasi::filesystem::WasiFilesystemView as _;

struct Io;

impl HasData for Io {
    type Data<'a> = &'a mut ResourceTable;
}

/// Rounds `d` down to the clocks' resolution.
fn coarse(d: Duration) -> Duration {
    let step = CLOCK_RESOLUTION.as_nanos();
    let nanos = d.as_nanos() / step * step;
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

/// The host's UTC time, coarsened.
struct WallClock;

impl HostWallClock for WallClock {
    fn resolution(&self) -> Duration {
        CLOCK_RESOLUTION
    }

    fn now(&self) -> Duration {
        // A clock before 1970 reads as 1970.
        coarse(
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default(),
        )
    }
}

/// The monotonic clock: counts from the host's start, coarsened; its waits end at
/// the call's deadline at the latest.
struct Monotonic;

impl HasData for Monotonic {
    type Data<'a> = &'a mut CallWasi;
}

impl CallWasi {
    fn monotonic_now(&self) -> u64 {
        u64::try_from(coarse(self.origin.elapsed()).as_nanos()).unwrap_or(u64::MAX)
    }

    /// A pollable ready after `wait`, or at the deadline if that is sooner.
    fn subscribe(&mut self, wait: Duration) -> wasmtime::Result<Resource<DynPollable>> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if wait > left {
            self.cut = true;
        }
        let wait = u64::try_from(wait.min(left).as_nanos()).unwrap_or(u64::MAX);
        let mut view = WasiClocksCtxView {
            ctx: self.ctx.clocks(),
            table: &mut self.table,
        };
        monotonic_clock::Host::subscribe_duration(&mut view, wait)
    }
}

impl monotonic_clock::Host for &mut CallWasi {
    fn now(&mut self) -> wasmtime::Result<monotonic_clock::Instant> {
        Ok(self.monotonic_now())
    }

    fn resolution(&mut self) -> wasmtime::Result<monotonic_clock::Duration> {
        Ok(u64::try_from(CLOCK_RESOLUTION.as_nanos()).unwrap_or(u64::MAX))
    }

    fn subscribe_instant(
        &mut self,
        when: monotonic_clock::Instant,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        let now = self.monotonic_now();
        self.subscribe(Duration::from_nanos(when.saturating_sub(now)))
    }

    fn subscribe_duration(
        &mut self,
        duration: monotonic_clock::Duration,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        self.subscribe(Duration::from_nanos(duration))
    }
}

/// What a call wrote to stdout and stderr, at most `capacity` bytes; the rest is
/// counted and dropped.
#[derive(Clone)]
pub(crate) struct Output(Arc<Mutex<Captured>>);

#[derive(Default)]
struct Captured {
    capacity: usize,
    /// Complete lines, in order: whether from stderr, the text.
    lines: Vec<(bool, Vec<u8>)>,
    /// The line each stream (stdout, stderr) has not ended yet.
    open: [Vec<u8>; 2],
    kept: usize,
    dropped: bool,
}

impl Output {
    fn new(capacity: usize) -> Output {
        Output(Arc::new(Mutex::new(Captured {
            capacity,
            ..Captured::default()
        })))
    }

    fn write(&self, stderr: bool, bytes: &[u8]) {
        let mut c = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let room = c.capacity.saturating_sub(c.kept);
        let (kept, rest) = bytes.split_at(bytes.len().min(room));
        if !rest.is_empty() {
            c.dropped = true;
        }
        c.kept += kept.len();
        let Captured { lines, open, .. } = &mut *c;
        let [out, err] = open;
        let open = if stderr { err } else { out };
        for piece in kept.split_inclusive(|b| *b == b'\n') {
            match piece.strip_suffix(b"\n") {
                Some(end) => {
                    open.extend_from_slice(end);
                    lines.push((stderr, std::mem::take(open)));
                }
                None => open.extend_from_slice(piece),
            }
        }
    }

    /// The lines written so far, each as `(from stderr, text)`, and whether bytes were
    /// dropped. A line not ended yet is kept for more, unless `all`.
    pub(crate) fn take(&self, all: bool) -> (Vec<(bool, String)>, bool) {
        let mut c = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let mut lines = std::mem::take(&mut c.lines);
        if all {
            let [out, err] = std::mem::take(&mut c.open);
            for (stderr, line) in [(false, out), (true, err)] {
                if !line.is_empty() {
                    lines.push((stderr, line));
                }
            }
        }
        let dropped = std::mem::take(&mut c.dropped);
        let lines = lines
            .into_iter()
            .map(|(stderr, bytes)| (stderr, String::from_utf8_lossy(&bytes).into_owned()))
            .collect();
        (lines, dropped)
    }
}

/// stdout or stderr of one call.
struct Stream {
    output: Output,
    stderr: bool,
}

impl IsTerminal for Stream {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for Stream {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(Stream {
            output: self.output.clone(),
            stderr: self.stderr,
        })
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        // Only WASI 0.3 asks for this one, and this host does not link WASI 0.3.
        Box::new(tokio::io::sink())
    }
}

impl OutputStream for Stream {
    fn write(&mut self, bytes: bytes::Bytes) -> StreamResult<()> {
        self.output.write(self.stderr, &bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        // Always room: what does not fit is dropped, never waited for.
        Ok(64 << 10)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for Stream {
    async fn ready(&mut self) {}
}
