//! The running agent: its view (from disk, or from the server), the enforcement
//! threads, the users' socket, and two threads that keep in touch with the server —
//! one long-polls for changes, one uploads spooled decisions and reports health.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::config::Config;
use crate::enforce::{log, Decider};
use crate::link::{self, Enrollment, Link, LinkError};
use crate::store::{write_atomic, Spool};
use crate::view::{HeldView, Verifier, ViewError};

/// Why the agent could not enroll or start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AgentError {
    /// The server refused or could not be reached.
    #[error(transparent)]
    Link(#[from] LinkError),
    /// A view was refused.
    #[error(transparent)]
    View(#[from] ViewError),
    /// Anything else: the state directory, fanotify, the socket.
    #[error("{0}")]
    Setup(String),
}

/// A flag threads wait on; set once, to stop.
#[derive(Debug, Default)]
pub struct Stop {
    set: Mutex<bool>,
    changed: Condvar,
}

impl Stop {
    /// Asks every thread to stop.
    pub fn set(&self) {
        *self.set.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.changed.notify_all();
    }

    /// Whether stopping was asked for.
    pub fn is_set(&self) -> bool {
        *self.set.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits up to `timeout`, or until stopping is asked for; whether it was.
    pub fn wait(&self, timeout: Duration) -> bool {
        let guard = self.set.lock().unwrap_or_else(PoisonError::into_inner);
        let (guard, _) = self
            .changed
            .wait_timeout_while(guard, timeout, |set| !*set)
            .unwrap_or_else(PoisonError::into_inner);
        *guard
    }
}

/// Enrolls this computer with an install key, keeps what enrolling gave in the state
/// directory (owner-only), and fetches and keeps the first view.
///
/// `server_ca` (PEM text) is trusted for the server's certificate instead of the
/// public web's roots, from then on.
pub fn enroll(
    config: &Config,
    server: &str,
    key: &str,
    hostname: &str,
    server_ca: Option<&str>,
) -> Result<Enrollment, AgentError> {
    let setup = |e: std::io::Error| {
        AgentError::Setup(format!(
            "the state directory `{}`: {e}",
            config.state.display()
        ))
    };
    std::fs::create_dir_all(&config.state).map_err(setup)?;
    let enrollment = link::enroll(server, key, hostname, server_ca)?;
    let text =
        serde_json::to_vec_pretty(&enrollment).map_err(|e| AgentError::Setup(e.to_string()))?;
    write_atomic(&config.enrollment_file(), &text).map_err(setup)?;
    let mut held = held_view(config, &enrollment)?;
    held.take(&Link::new(&enrollment)?.view()?)?;
    Ok(enrollment)
}

/// What enrolling left in the state directory.
pub fn enrollment(config: &Config) -> Result<Enrollment, AgentError> {
    let path = config.enrollment_file();
    let text = std::fs::read(&path).map_err(|e| {
        AgentError::Setup(format!(
            "not enrolled (`{}`: {e}); run `portcullis agent enroll --server URL --key KEY` first",
            path.display()
        ))
    })?;
    serde_json::from_slice(&text)
        .map_err(|e| AgentError::Setup(format!("`{}`: {e}", path.display())))
}

/// What the agent's state directory says, read without disturbing a running agent:
/// the computer and server, the revision of the view on disk (verified), and the
/// spool's counts.
pub fn status(config: &Config) -> Result<serde_json::Value, AgentError> {
    let enrollment = enrollment(config)?;
    let mut held = held_view(config, &enrollment)?;
    let view = match held.load() {
        Ok(true) => json!({"revision": held.revision(), "verified": true}),
        Ok(false) => json!(null),
        Err(e) => json!({"refused": e.to_string()}),
    };
    let spool = Spool::counts_in(&config.state)
        .map_err(|e| AgentError::Setup(format!("the spool: {e}")))?;
    Ok(json!({
        "computer": enrollment.computer, "organization": enrollment.organization,
        "group": enrollment.group, "server": enrollment.server, "view": view,
        "spool": spool,
    }))
}

fn held_view(config: &Config, enrollment: &Enrollment) -> Result<HeldView, AgentError> {
    Ok(HeldView::new(
        &enrollment.computer,
        Verifier::from_base64(&enrollment.view_key)?,
        config.view_file(),
    ))
}

/// A running agent.
#[derive(Debug)]
pub struct Running {
    stop: Arc<Stop>,
    threads: Vec<JoinHandle<()>>,
    decider: Arc<Decider>,
    revision: Arc<AtomicI64>,
}

impl Running {
    /// The revision of the view enforced.
    pub fn revision(&self) -> i64 {
        self.revision.load(Ordering::SeqCst)
    }

    /// What decides executions.
    pub fn decider(&self) -> &Arc<Decider> {
        &self.decider
    }

    /// Stops every thread and waits for them; executions in the kernel's queue are
    /// then let through by the kernel.
    pub fn stop(mut self) {
        self.stop.set();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }

    /// Runs until the process ends.
    pub fn wait(mut self) {
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// Starts the agent: its view from disk (or, failing that, from the server), then
/// enforcement on the configured mounts, the users' socket, and the sync threads.
pub fn start(config: &Config) -> Result<Running, AgentError> {
    if config.mounts.is_empty() && config.filesystems.is_empty() {
        return Err(AgentError::Setup(
            "nothing to enforce on: give at least one mount or filesystem".to_owned(),
        ));
    }
    let enrollment = enrollment(config)?;
    let link = Link::new(&enrollment)?;
    let mut held = held_view(config, &enrollment)?;
    match held.load() {
        Ok(true) => log(&json!({"view": "from disk", "revision": held.revision()})),
        Ok(false) => {
            held.take(&link.view()?)?;
        }
        Err(e) => {
            log(&json!({"view": format!("the view on disk is refused: {e}; fetching it")}));
            held = held_view(config, &enrollment)?;
            held.take(&link.view()?)?;
        }
    }
    let engine = held
        .engine()
        .cloned()
        .ok_or_else(|| AgentError::Setup("no view to enforce".to_owned()))?;
    let spool = Spool::open(&config.state, config.spool_limit)
        .map_err(|e| AgentError::Setup(format!("the spool: {e}")))?;
    let spool = Arc::new(Mutex::new(spool));
    let decider = Arc::new(Decider::new(
        &enrollment.computer,
        engine,
        config,
        Arc::clone(&spool),
    ));
    decider.set_audit_allows(held.audit_allows());
    let revision = Arc::new(AtomicI64::new(held.revision()));
    let stop = Arc::new(Stop::default());
    let mut threads = crate::enforce::start(config, Arc::clone(&decider), Arc::clone(&stop))
        .map_err(AgentError::Setup)?;
    threads.push(
        crate::endpoint::serve(
            &config.socket,
            Arc::clone(&decider),
            link.clone(),
            Arc::clone(&stop),
        )
        .map_err(AgentError::Setup)?,
    );
    let sync = Sync {
        link: link.clone(),
        held,
        decider: Arc::clone(&decider),
        revision: Arc::clone(&revision),
        stop: Arc::clone(&stop),
        wait: Duration::from_secs(config.poll_seconds.max(1)),
    };
    threads.push(spawn("portcullis-sync", move || sync.run())?);
    let report = Report {
        link,
        spool,
        decider: Arc::clone(&decider),
        revision: Arc::clone(&revision),
        stop: Arc::clone(&stop),
        every: Duration::from_secs(config.upload_seconds.max(1)),
        health: Duration::from_secs(config.health_seconds.max(1)),
        marks: config
            .mounts
            .iter()
            .chain(&config.filesystems)
            .map(|p| p.display().to_string())
            .collect(),
    };
    threads.push(spawn("portcullis-report", move || report.run())?);
    log(&json!({"enforcing": true, "computer": enrollment.computer,
        "revision": revision.load(Ordering::SeqCst), "mounts": config.mounts,
        "filesystems": config.filesystems}));
    Ok(Running {
        stop,
        threads,
        decider,
        revision,
    })
}

fn spawn(name: &str, work: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>, AgentError> {
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(work)
        .map_err(|e| AgentError::Setup(format!("cannot start {name}: {e}")))
}

/// Where views and changes come from: the server, or a test's stand-in.
trait Source {
    fn view(&self) -> Result<crate::view::Envelope, LinkError>;
    fn changes(&self, since: i64, wait: Duration) -> Result<crate::view::Envelope, LinkError>;
}

impl Source for Link {
    fn view(&self) -> Result<crate::view::Envelope, LinkError> {
        Link::view(self)
    }

    fn changes(&self, since: i64, wait: Duration) -> Result<crate::view::Envelope, LinkError> {
        Link::changes(self, since, wait)
    }
}

/// Keeps the view in step with the server.
struct Sync<S: Source = Link> {
    link: S,
    held: HeldView,
    decider: Arc<Decider>,
    revision: Arc<AtomicI64>,
    stop: Arc<Stop>,
    wait: Duration,
}

impl<S: Source> Sync<S> {
    fn run(mut self) {
        let mut reachable = true;
        let mut backoff = Duration::from_millis(250);
        while !self.stop.is_set() {
            match self.step() {
                Ok(()) => {
                    if !reachable {
                        log(
                            &json!({"server": "reachable again", "revision": self.held.revision()}),
                        );
                    }
                    reachable = true;
                    backoff = Duration::from_millis(250);
                }
                Err(AgentError::Link(LinkError::Unreachable { reason, .. })) => {
                    if reachable {
                        log(
                            &json!({"server": format!("unreachable ({reason}); enforcing the view held"),
                            "revision": self.held.revision()}),
                        );
                    }
                    reachable = false;
                    self.stop.wait(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
                Err(e) => {
                    log(&json!({"sync": e.to_string(), "revision": self.held.revision()}));
                    self.stop.wait(Duration::from_secs(2));
                }
            }
        }
    }

    /// One long-poll, and what it brought taken.
    fn step(&mut self) -> Result<(), AgentError> {
        let envelope = if self.held.wants_whole_view() {
            self.link.view()?
        } else {
            self.link.changes(self.held.revision(), self.wait)?
        };
        let before = self.held.revision();
        match self.held.take(&envelope) {
            Ok(_) => {}
            Err(ViewError::Gap { held, from }) => {
                log(
                    &json!({"sync": format!("a change from revision {from} while {held} is held; fetching the whole view")}),
                );
                self.held.take(&self.link.view()?)?;
            }
            Err(e) => return Err(e.into()),
        }
        self.decider.set_audit_allows(self.held.audit_allows());
        let after = self.held.revision();
        self.revision.store(after, Ordering::SeqCst);
        if after != before {
            log(&json!({"view": "updated", "revision": after}));
        }
        Ok(())
    }
}

/// Uploads spooled decisions and reports health.
struct Report {
    link: Link,
    spool: Arc<Mutex<Spool>>,
    decider: Arc<Decider>,
    revision: Arc<AtomicI64>,
    stop: Arc<Stop>,
    every: Duration,
    health: Duration,
    marks: Vec<String>,
}

/// Decisions one upload carries at most (the server takes 1,000).
const BATCH: usize = 500;

impl Report {
    fn run(self) {
        let mut reported: Option<(i64, Instant)> = None;
        loop {
            self.upload();
            let revision = self.revision.load(Ordering::SeqCst);
            let due = reported.is_none_or(|(r, at)| r != revision || at.elapsed() >= self.health);
            if due && self.report(revision).is_ok() {
                reported = Some((revision, Instant::now()));
            }
            if self.stop.wait(self.every) {
                return;
            }
        }
    }

    fn upload(&self) {
        loop {
            let batch = self.lock().peek(BATCH);
            if batch.is_empty() {
                return;
            }
            match self.link.decisions(&batch) {
                Ok(_) => {
                    if let Err(e) = self.lock().commit(batch.len()) {
                        log(&json!({"spool": e.to_string()}));
                        return;
                    }
                }
                Err(LinkError::Refused { status, detail }) if status == 400 || status == 403 => {
                    // A batch the server will never take must not block the ones after
                    // it: it is reported, then let go.
                    log(
                        &json!({"upload": format!("the server refused {} decisions: {detail}", batch.len())}),
                    );
                    let _ = self.lock().commit(batch.len());
                }
                Err(_) => {
                    let _ = self.lock().sync();
                    return;
                }
            }
        }
    }

    fn report(&self, revision: i64) -> Result<(), LinkError> {
        let spool = self.lock().counts();
        self.link.health(&json!({
            "revision": revision, "enforcing": true, "elevation": false,
            "marks": self.marks, "spool": spool, "answered": self.decider.counters.report(),
            "agent": env!("CARGO_PKG_VERSION"),
        }))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Spool> {
        self.spool.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::view::tests::{change, key, sign, view};
    use crate::view::Envelope;
    use std::cell::RefCell;

    /// A server that answers a change with a gap, and counts whole-view fetches.
    struct Gappy {
        change: Envelope,
        view: Envelope,
        views: RefCell<usize>,
    }

    impl Source for Gappy {
        fn view(&self) -> Result<Envelope, LinkError> {
            *self.views.borrow_mut() += 1;
            Ok(self.view.clone())
        }

        fn changes(&self, _: i64, _: Duration) -> Result<Envelope, LinkError> {
            Ok(self.change.clone())
        }
    }

    #[test]
    fn a_gap_in_revisions_fetches_the_whole_view() {
        let dir = tempfile::tempdir().unwrap();
        let (pair, verifier) = key();
        let mut held = HeldView::new("pc-1", verifier, dir.path().join("view.json"));
        held.take(&sign(&pair, &view(3, false))).unwrap();
        let engine = Arc::clone(held.engine().unwrap());
        let spool = Spool::open(dir.path(), 10).unwrap();
        let decider = Arc::new(Decider::new(
            "pc-1",
            engine,
            &Config::default(),
            Arc::new(Mutex::new(spool)),
        ));
        let mut sync = Sync {
            link: Gappy {
                change: sign(&pair, &change(5, 6, true)),
                view: sign(&pair, &view(7, true)),
                views: RefCell::new(0),
            },
            held,
            decider,
            revision: Arc::new(AtomicI64::new(3)),
            stop: Arc::new(Stop::default()),
            wait: Duration::from_secs(1),
        };
        sync.step().unwrap();
        assert_eq!(*sync.link.views.borrow(), 1);
        assert_eq!(sync.held.revision(), 7);
        assert_eq!(sync.revision.load(Ordering::SeqCst), 7);
    }
}
