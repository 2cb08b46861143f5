//! The engine: the current snapshot behind an `ArcSwap`, swapped whole on deploy and
//! rollback while decisions keep flowing.

use std::collections::VecDeque;
use std::ops::Deref;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use arc_swap::{ArcSwap, Guard};

use crate::change::BundleChange;
use crate::compile::{self, ChangeCompiled, CompileErrors};
use crate::compiled::{AppKeys, CompileStats, Tables, TenancyIds};
use crate::model::{Bundle, DecisionRecord, Event};
use crate::snapshot::Snapshot;

/// How many earlier snapshots an engine keeps for rollback, unless told otherwise.
pub const DEFAULT_HISTORY: usize = 8;

/// Holds the current snapshot; decisions never block, deploys never tear.
///
/// ```
/// use portcullis_engine::{Engine, Event};
///
/// let engine = Engine::from_json(include_str!("../../examples/bundle.json"))?;
/// let event = Event::from_json(r#"{"computer": "lakeside-fd-01", "user": "LAKESIDE\\amy",
///     "path": "C:\\Windows\\System32\\notepad.exe", "time": "2026-11-22T09:00:00Z",
///     "sha256": "0000000000000000000000000000000000000000000000000000000000000000"}"#)?;
/// let snapshot = engine.snapshot();
/// let decision = snapshot.decide(&event);
/// assert_eq!(decision.generation, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Engine {
    current: ArcSwap<Snapshot>,
    writer: Mutex<Writer>,
}

/// Writers (deploy, rollback) take turns; readers never touch this.
#[derive(Debug)]
struct Writer {
    keys: AppKeys,
    history: VecDeque<Arc<Snapshot>>,
    history_limit: usize,
    next_generation: u64,
    limits: crate::Limits,
    /// The ids of the tables they were filed for; built again when those are no
    /// longer the current ones (after a full deploy or a rollback).
    ids: (Weak<Tables>, TenancyIds),
}

/// A borrowed view of the current snapshot: cheap to take, lock-free, and stable for as
/// long as it is held, so one decision sees one snapshot from start to end.
pub struct SnapshotGuard(Guard<Arc<Snapshot>>);

impl Deref for SnapshotGuard {
    type Target = Snapshot;

    fn deref(&self) -> &Snapshot {
        &self.0
    }
}

impl std::fmt::Debug for SnapshotGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SnapshotGuard")
            .field(&self.generation())
            .finish()
    }
}

/// What a deploy did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Deployed {
    /// The new snapshot's generation.
    pub generation: u64,
    /// Organizations compiled anew and carried over.
    pub stats: CompileStats,
}

/// Why a gated deploy did not happen; in both cases nothing changed.
#[derive(Debug, thiserror::Error)]
pub enum DeployError<E> {
    /// The bundle does not compile.
    #[error("the bundle does not compile: {0}")]
    Compile(CompileErrors),
    /// The gate refused the compiled snapshot.
    #[error("the new snapshot was refused: {0}")]
    Gate(E),
}

/// How an engine or a snapshot is made: the limits a bundle is checked against and,
/// for an engine, how many earlier snapshots it keeps for rollback. The one way to
/// compile with other than the defaults; see [`Engine::builder`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Builder {
    limits: crate::Limits,
    history: usize,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            limits: crate::Limits::default(),
            history: DEFAULT_HISTORY,
        }
    }
}

impl Builder {
    /// Check bundles against `limits` (an engine keeps them for its deploys).
    pub fn limits(mut self, limits: crate::Limits) -> Builder {
        self.limits = limits;
        self
    }

    /// Keep `history` earlier snapshots for rollback (default [`DEFAULT_HISTORY`]).
    pub fn history(mut self, history: usize) -> Builder {
        self.history = history;
        self
    }

    /// An engine serving `bundle` as generation 1.
    pub fn engine(&self, bundle: &Bundle) -> Result<Engine, CompileErrors> {
        self.limits.check_bundle(bundle)?;
        Engine::serve(bundle, self.history, self.limits)
    }

    /// An engine serving the bundle in JSON `text`; errors carry line and column.
    pub fn engine_json(&self, text: &str) -> Result<Engine, CompileErrors> {
        self.limits.check_text(text)?;
        let bundle = compile::parse(text)?;
        self.engine(&bundle).map_err(|errors| errors.locate(text))
    }

    /// A snapshot of `bundle`, on its own (generation 1).
    pub fn snapshot(&self, bundle: &Bundle) -> Result<Snapshot, CompileErrors> {
        self.limits.check_bundle(bundle)?;
        let (tables, stats) = compile::compile(bundle, &mut AppKeys::default(), None)?;
        Ok(Snapshot {
            generation: 1,
            tables: Arc::new(tables),
            stats,
        })
    }

    /// A snapshot of the bundle in JSON `text`; errors carry line and column.
    pub fn snapshot_json(&self, text: &str) -> Result<Snapshot, CompileErrors> {
        self.limits.check_text(text)?;
        let bundle = compile::parse(text)?;
        self.snapshot(&bundle).map_err(|errors| errors.locate(text))
    }
}

// A snapshot on its own is made through a builder with the default limits.
impl Snapshot {
    /// Compiles a bundle within the default [`Limits`](crate::Limits); generation 1.
    pub fn compile(bundle: &Bundle) -> Result<Snapshot, CompileErrors> {
        Builder::default().snapshot(bundle)
    }

    /// Reads a bundle from JSON text and compiles it; errors carry line and column.
    pub fn compile_json(text: &str) -> Result<Snapshot, CompileErrors> {
        Builder::default().snapshot_json(text)
    }
}

/// Why a rollback could not happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RollbackError {
    /// Nothing was deployed before the current snapshot, or the history is used up.
    #[error("there is no earlier snapshot to roll back to")]
    NoHistory,
}

impl Engine {
    /// An engine serving the compiled bundle as generation 1, with the default limits
    /// and history; [`Engine::builder`] chooses others.
    pub fn new(bundle: &Bundle) -> Result<Engine, CompileErrors> {
        Builder::default().engine(bundle)
    }

    /// Reads a bundle from JSON text and starts an engine on it (default limits and
    /// history); errors carry line and column.
    pub fn from_json(text: &str) -> Result<Engine, CompileErrors> {
        Builder::default().engine_json(text)
    }

    /// How engines and snapshots are made, when the defaults do not fit: the limits a
    /// bundle is checked against (kept for every deploy), and how many earlier
    /// snapshots are kept for rollback.
    ///
    /// ```
    /// use portcullis_engine::{Engine, Limits};
    ///
    /// let text = include_str!("../../examples/bundle.json");
    /// let engine = Engine::builder()
    ///     .limits(Limits { max_entries: 100, ..Limits::default() })
    ///     .history(2)
    ///     .engine_json(text)?;
    /// assert_eq!(engine.generation(), 1);
    /// assert_eq!(engine.limits().max_entries, 100);
    /// # Ok::<(), portcullis_engine::CompileErrors>(())
    /// ```
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// An engine serving `bundle`, checked against `limits` already.
    fn serve(
        bundle: &Bundle,
        history: usize,
        limits: crate::Limits,
    ) -> Result<Engine, CompileErrors> {
        let mut keys = AppKeys::default();
        let (tables, stats) = compile::compile(bundle, &mut keys, None)?;
        let snapshot = Snapshot {
            generation: 1,
            tables: Arc::new(tables),
            stats,
        };
        Ok(Engine {
            current: ArcSwap::from_pointee(snapshot),
            writer: Mutex::new(Writer {
                keys,
                history: VecDeque::new(),
                history_limit: history,
                next_generation: 2,
                limits,
                ids: (Weak::new(), TenancyIds::default()),
            }),
        })
    }

    /// The current snapshot. Hold it for the duration of one decision (or a batch).
    pub fn snapshot(&self) -> SnapshotGuard {
        SnapshotGuard(self.current.load())
    }

    /// The current snapshot as an owned handle, for keeping beyond a batch.
    pub fn current(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// The current generation.
    pub fn generation(&self) -> u64 {
        self.current.load().generation
    }

    /// Decides one event and returns an owned decision. Agents on the hot path use
    /// `engine.snapshot().decide(&event)`, which does not allocate.
    pub fn decide(&self, event: &Event) -> DecisionRecord {
        self.snapshot().decide(event).to_record()
    }

    /// Compiles `bundle` off to the side and swaps it in. Organizations whose entries
    /// did not change keep their compiled partitions. On error nothing changes and the
    /// current snapshot keeps serving.
    pub fn deploy(&self, bundle: &Bundle) -> Result<Deployed, CompileErrors> {
        self.deploy_gated(bundle, |_| Ok::<(), std::convert::Infallible>(()))
            .map_err(|error| match error {
                DeployError::Compile(errors) => errors,
                DeployError::Gate(never) => match never {},
            })
    }

    /// As [`Engine::deploy`], but `gate` sees the compiled snapshot before it is
    /// swapped in, and an `Err` from it cancels the swap: nothing changes and the
    /// current snapshot keeps serving. Other writers wait until the gate returns, so
    /// the gate can prove something about the new snapshot (an approval's execution is
    /// now allowed) and make that durable before any reader sees it.
    pub fn deploy_gated<E>(
        &self,
        bundle: &Bundle,
        gate: impl FnOnce(&Snapshot) -> Result<(), E>,
    ) -> Result<Deployed, DeployError<E>> {
        let mut writer = self.writer();
        writer
            .limits
            .check_bundle(bundle)
            .map_err(DeployError::Compile)?;
        let previous = self.current.load_full();
        // Keys are only ever added, and a key nobody uses is harmless, so a failed
        // compile may leave new ones behind.
        let (tables, stats) = compile::compile(bundle, &mut writer.keys, Some(&previous.tables))
            .map_err(DeployError::Compile)?;
        self.swap(&mut writer, previous, tables, stats, gate)
    }

    /// Deploys a change to some organizations: only they are laid out and compiled,
    /// and they are checked against the rest of the current snapshot exactly as a
    /// deploy of the whole bundle the change makes ([`BundleChange::apply`]) would
    /// check them — unique ids across the tenancy, parents, applications a policy may
    /// target, limits. It costs what the changed organizations cost, not what the
    /// tenancy costs. Decisions, errors (with paths into the change's entries),
    /// history and rollback are as with [`Engine::deploy`]; on error nothing changes.
    ///
    /// A change that removes organizations, moves one in the tree or takes
    /// applications away from one may affect other organizations' entries; it is
    /// deployed as the whole bundle it makes, at the cost of a full deploy.
    pub fn deploy_change(&self, change: &BundleChange) -> Result<Deployed, CompileErrors> {
        self.deploy_change_gated(change, |_| Ok::<(), std::convert::Infallible>(()))
            .map_err(|error| match error {
                DeployError::Compile(errors) => errors,
                DeployError::Gate(never) => match never {},
            })
    }

    /// As [`Engine::deploy_change`], with a gate as in [`Engine::deploy_gated`]: it
    /// sees the new snapshot before the swap, and an `Err` from it cancels the swap.
    pub fn deploy_change_gated<E>(
        &self,
        change: &BundleChange,
        gate: impl FnOnce(&Snapshot) -> Result<(), E>,
    ) -> Result<Deployed, DeployError<E>> {
        let mut writer = self.writer();
        let previous = self.current.load_full();
        let current = Arc::downgrade(&previous.tables);
        if !Weak::ptr_eq(&writer.ids.0, &current) {
            writer.ids = (current, TenancyIds::of(&previous.tables));
        }
        let Writer {
            keys,
            ids: (_, ids),
            limits,
            ..
        } = &mut *writer;
        let Some(plan) = compile::plan_change(change, &previous.tables, ids) else {
            return self.deploy_change_whole(&mut writer, change, previous, gate);
        };
        limits
            .check_lists(plan.lists, plan.totals(&previous.tables, ids))
            .map_err(DeployError::Compile)?;
        let ChangeCompiled {
            tables,
            stats,
            changed,
        } = compile::compile_change(&plan, keys, &previous.tables, previous.stats, ids)
            .map_err(DeployError::Compile)?;
        let old = Arc::clone(&previous.tables);
        let deployed = self.swap(&mut writer, previous, tables, stats, gate)?;
        // The ids follow the new tables: the changed organizations' old ids out, their
        // new ones in.
        let new = Arc::clone(&self.current.load().tables);
        let (filed_for, ids) = &mut writer.ids;
        for &at in &changed {
            if let Some(node) = old.orgs.get(at as usize) {
                ids.remove(at, &node.partition.source);
            }
        }
        for &at in &changed {
            if let Some(node) = new.orgs.get(at as usize) {
                ids.add(at, &node.partition.source);
            }
        }
        *filed_for = Arc::downgrade(&new);
        Ok(deployed)
    }

    /// Deploys a change that cannot be compiled on its own as the whole bundle it
    /// makes; errors name places in the change's entries.
    fn deploy_change_whole<E>(
        &self,
        writer: &mut Writer,
        change: &BundleChange,
        previous: Arc<Snapshot>,
        gate: impl FnOnce(&Snapshot) -> Result<(), E>,
    ) -> Result<Deployed, DeployError<E>> {
        let bundle = change.apply(&previous.bundle());
        let rest = [
            bundle.organizations.len() - change.entries.organizations.len(),
            bundle.groups.len() - change.entries.groups.len(),
            bundle.computers.len() - change.entries.computers.len(),
            bundle.applications.len() - change.entries.applications.len(),
            bundle.policies.len() - change.entries.policies.len(),
        ];
        let into_change = |errors: CompileErrors| errors.shifted(rest);
        writer
            .limits
            .check_bundle(&bundle)
            .map_err(|errors| DeployError::Compile(into_change(errors)))?;
        let (tables, stats) = compile::compile(&bundle, &mut writer.keys, Some(&previous.tables))
            .map_err(|errors| DeployError::Compile(into_change(errors)))?;
        self.swap(writer, previous, tables, stats, gate)
    }

    /// Lets `gate` see the new snapshot, then swaps it in and remembers the old one.
    fn swap<E>(
        &self,
        writer: &mut Writer,
        previous: Arc<Snapshot>,
        tables: Tables,
        stats: CompileStats,
        gate: impl FnOnce(&Snapshot) -> Result<(), E>,
    ) -> Result<Deployed, DeployError<E>> {
        let generation = writer.next_generation;
        let snapshot = Snapshot {
            generation,
            tables: Arc::new(tables),
            stats,
        };
        gate(&snapshot).map_err(DeployError::Gate)?;
        writer.next_generation += 1;
        self.current.store(Arc::new(snapshot));
        writer.remember(previous);
        Ok(Deployed { generation, stats })
    }

    /// As [`Engine::deploy`], from JSON text; errors carry line and column.
    pub fn deploy_json(&self, text: &str) -> Result<Deployed, CompileErrors> {
        self.limits().check_text(text)?;
        let bundle = compile::parse(text)?;
        self.deploy(&bundle).map_err(|errors| errors.locate(text))
    }

    /// Restores the snapshot before the current one, under a new generation (so
    /// generations only grow). Returns that generation.
    pub fn rollback(&self) -> Result<u64, RollbackError> {
        let mut writer = self.writer();
        let earlier = writer.history.pop_back().ok_or(RollbackError::NoHistory)?;
        let generation = writer.next_generation;
        writer.next_generation += 1;
        self.current
            .store(Arc::new(earlier.with_generation(generation)));
        Ok(generation)
    }

    /// The limits every deploy is checked against.
    pub fn limits(&self) -> crate::Limits {
        self.writer().limits
    }

    fn writer(&self) -> MutexGuard<'_, Writer> {
        // A writer that panicked mid-compile swapped nothing; its state is still sound.
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Writer {
    fn remember(&mut self, snapshot: Arc<Snapshot>) {
        if self.history_limit == 0 {
            return;
        }
        while self.history.len() >= self.history_limit {
            self.history.pop_front();
        }
        self.history.push_back(snapshot);
    }
}
