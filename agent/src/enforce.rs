//! Enforcement: every exec on the marked mounts is held by the kernel
//! (`FAN_OPEN_EXEC_PERM`) until the agent answers. One thread reads events and
//! decides those whose file's identity is cached (no file to read: a few
//! microseconds) itself; the others go through a bounded queue to a pool of workers,
//! which hash the file. Every event is answered: when the queue is full, or an event
//! waited past the deadline, or its file cannot be read, the configured fail mode
//! answers.
//!
//! A decision takes the file's identity through the identity cache (keyed by device,
//! inode, size and times from an `fstat` of the event's descriptor, so an unchanged
//! file is hashed once) and its path from the descriptor, then asks the engine. The
//! calling process (`/proc/PID/exe`) and the user (`/proc/PID/status`) are read first
//! only when a policy of the view looks at them, and otherwise only for a decision
//! that is logged or kept. The agent never blocks itself, the files its own process
//! maps (its binary and libraries), or the excluded paths.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fs::File;
use std::os::fd::AsRawFd as _;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use portcullis_engine::identity::IdentityCache;
use portcullis_engine::identity::TrustRoots;
use portcullis_engine::model::{Signature, SignatureStatus, Timestamp};
use portcullis_engine::{DecisionRecord, Engine, Event, Outcome, Snapshot};
use serde::Serialize;
use serde_json::json;

use crate::config::{Config, FailMode};
use crate::store::Spool;
use crate::sys::{Fanotify, OPEN_EXEC_PERM};
use crate::Stop;

/// An execution the agent blocked, kept so that its user can ask for it.
#[derive(Debug, Clone, Serialize)]
pub struct Blocked {
    /// A number to name it by, unique while the agent runs.
    pub id: u64,
    /// The user id of the process that tried.
    #[serde(skip)]
    pub uid: u32,
    /// The execution.
    pub event: Event,
    /// The decision.
    pub decision: DecisionRecord,
}

/// Blocked executions kept for requests, at most.
pub const BLOCKED_KEPT: usize = 256;

/// Counts of what the agent answered.
#[derive(Debug, Default)]
pub struct Counters {
    allowed: AtomicU64,
    denied: AtomicU64,
    skipped: AtomicU64,
    late: AtomicU64,
    overloaded: AtomicU64,
    unreadable: AtomicU64,
}

impl Counters {
    /// The counts as JSON, for health reports.
    pub fn report(&self) -> serde_json::Value {
        let n = |c: &AtomicU64| c.load(Ordering::Relaxed);
        json!({
            "allowed": n(&self.allowed), "denied": n(&self.denied), "skipped": n(&self.skipped),
            "late": n(&self.late), "overloaded": n(&self.overloaded),
            "unreadable": n(&self.unreadable),
        })
    }
}

/// What decides an execution: the engine on the agent's view, and what the agent
/// remembers and spools of its decisions.
#[derive(Debug)]
pub struct Decider {
    computer: String,
    engine: Arc<Engine>,
    cache: IdentityCache,
    own_pid: u32,
    own_files: HashSet<(u64, u64)>,
    exclude: Vec<PathBuf>,
    fail: FailMode,
    audit_allows: AtomicBool,
    spool: Arc<Mutex<Spool>>,
    blocked: Mutex<VecDeque<Blocked>>,
    next_id: AtomicU64,
    users: Mutex<HashMap<u32, String>>,
    /// [`Reads`] of the current snapshot, packed with its generation.
    reads: AtomicU64,
    /// What was answered.
    pub counters: Counters,
}

impl Decider {
    /// A decider for `computer` on `engine`.
    pub fn new(
        computer: &str,
        engine: Arc<Engine>,
        config: &Config,
        spool: Arc<Mutex<Spool>>,
    ) -> Decider {
        Decider {
            computer: computer.to_owned(),
            engine,
            cache: IdentityCache::new(TrustRoots::none()),
            own_pid: std::process::id(),
            own_files: own_files(),
            exclude: config.exclude.clone(),
            fail: config.fail,
            audit_allows: AtomicBool::new(false),
            spool,
            blocked: Mutex::new(VecDeque::new()),
            next_id: AtomicU64::new(1),
            users: Mutex::new(HashMap::new()),
            reads: AtomicU64::new(u64::MAX),
            counters: Counters::default(),
        }
    }

    /// The engine decisions are made on.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// Whether allows are spooled for upload too (the organization audits them).
    pub fn set_audit_allows(&self, audit: bool) {
        self.audit_allows.store(audit, Ordering::Relaxed);
    }

    fn fail_open(&self) -> bool {
        self.fail == FailMode::Allow
    }

    /// Decides an exec of `file` by process `pid`: whether it may run. Reads (and
    /// hashes) the file when its identity is not cached.
    pub fn decide_exec(&self, file: &File, pid: i32) -> bool {
        self.decide(file, pid, true)
            .unwrap_or_else(|| self.fail_open())
    }

    /// As [`Decider::decide_exec`] when the file's identity is cached (unchanged since
    /// it was hashed), without reading the file; `None` when it would have to be read.
    /// The fanotify reader decides so itself, and hands only the rest to the workers.
    pub fn decide_cached(&self, file: &File, pid: i32) -> Option<bool> {
        self.decide(file, pid, false)
    }

    fn decide(&self, file: &File, pid: i32, read: bool) -> Option<bool> {
        if u32::try_from(pid).is_ok_and(|p| p == self.own_pid) {
            self.counters.skipped.fetch_add(1, Ordering::Relaxed);
            return Some(true);
        }
        // One `fstat` of the event's descriptor: the agent's own files, and the key of
        // the identity cache.
        let meta = file.metadata().ok();
        let own = meta
            .as_ref()
            .is_some_and(|m| self.own_files.contains(&(m.dev(), m.ino())));
        let handle = format!("/proc/self/fd/{}", file.as_raw_fd());
        let path = std::fs::read_link(&handle).unwrap_or_default();
        if own || self.exclude.iter().any(|e| path.starts_with(e)) {
            self.counters.skipped.fetch_add(1, Ordering::Relaxed);
            return Some(true);
        }
        let identity = match meta.as_ref().and_then(|m| self.cache.cached(m)) {
            Some(identity) => identity,
            None if !read => return None,
            None => match self.cache.inspect_file(file) {
                Ok(identity) => identity,
                Err(e) => {
                    self.counters.unreadable.fetch_add(1, Ordering::Relaxed);
                    log(
                        &json!({"unreadable": path, "pid": pid, "error": e.to_string(),
                        "answer": if self.fail_open() { "allow" } else { "deny" }}),
                    );
                    return Some(self.fail_open());
                }
            },
        };
        let signature = match identity.signature.status {
            SignatureStatus::Unsigned => Signature::default(),
            _ => serde_json::to_value(&identity.signature)
                .ok()
                .and_then(|v| serde_json::from_value(v).ok())
                .unwrap_or_default(),
        };
        let snapshot = self.engine.snapshot();
        let reads = self.reads(&snapshot);
        // The caller's user and program cost a read of `/proc` each (the user 14 µs):
        // read before deciding only when a policy of the view looks at them, else
        // only for a decision that is logged or kept.
        let mut uid = None;
        let mut event = Event {
            computer: self.computer.clone(),
            user: String::new(),
            path: path.to_string_lossy().into_owned(),
            sha256: identity.sha256,
            signature,
            size: Some(identity.size),
            authenticode_digest: None,
            parent: None,
            created_by: None,
            elevation: false,
            time: now(),
        };
        if reads.user {
            uid = Some(self.fill_user(&mut event, pid));
        }
        if reads.process {
            event.parent = caller_program(pid);
        }
        let decision = snapshot.decide(&event);
        let allowed = decision.decision == Outcome::Allow;
        if allowed {
            self.counters.allowed.fetch_add(1, Ordering::Relaxed);
        } else {
            self.counters.denied.fetch_add(1, Ordering::Relaxed);
        }
        let audited = self.audit_allows.load(Ordering::Relaxed);
        if allowed && !decision.learn && !decision.would_deny && !audited {
            return Some(true);
        }
        let decision = decision.to_record();
        drop(snapshot);
        let uid = uid.unwrap_or_else(|| self.fill_user(&mut event, pid));
        if !reads.process {
            event.parent = caller_program(pid);
        }
        if !allowed {
            log(&json!({"deny": event.path, "user": event.user, "pid": pid,
                "sha256": event.sha256, "parent": event.parent,
                "policy": decision.policy, "application": decision.application,
                "default_deny": decision.default_deny, "generation": decision.generation}));
        }
        if decision.would_deny {
            log(
                &json!({"would_deny": event.path, "user": event.user, "pid": pid,
                "sha256": event.sha256, "mode": decision.mode.map(|m| m.as_str())}),
            );
        }
        let entry = json!({"event": event, "decision": decision});
        let kept = self
            .spool
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(entry);
        if let Err(e) = kept {
            log(&json!({"spool": e.to_string()}));
        }
        if !allowed {
            self.remember(uid, event, decision);
        }
        Some(allowed)
    }

    /// Sets the event's user from process `pid`'s real user id; that id
    /// (`u32::MAX` when the process is gone).
    fn fill_user(&self, event: &mut Event, pid: i32) -> u32 {
        let uid = process_uid(pid);
        event.user = uid.map_or_else(|| "unknown".to_owned(), |u| self.user_name(u));
        uid.unwrap_or(u32::MAX)
    }

    /// Which of an event's fields `snapshot` reads, found once per generation.
    fn reads(&self, snapshot: &Snapshot) -> Reads {
        let known = self.reads.load(Ordering::Acquire);
        if known >> 2 == snapshot.generation() & (u64::MAX >> 2) && known != u64::MAX {
            return Reads::unpack(known);
        }
        let bundle = snapshot.bundle();
        let reads = Reads {
            user: bundle.policies.iter().any(|p| p.users.is_some()),
            process: bundle
                .applications
                .iter()
                .any(|a| a.rules.iter().any(|r| r.process().is_some())),
        };
        self.reads
            .store(reads.pack(snapshot.generation()), Ordering::Release);
        reads
    }

    fn remember(&self, uid: u32, event: Event, decision: DecisionRecord) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut blocked = self.blocked.lock().unwrap_or_else(PoisonError::into_inner);
        if blocked.len() >= BLOCKED_KEPT {
            blocked.pop_front();
        }
        blocked.push_back(Blocked {
            id,
            uid,
            event,
            decision,
        });
    }

    /// The executions blocked for user `uid`, newest first.
    pub fn blocked_for(&self, uid: u32) -> Vec<Blocked> {
        let blocked = self.blocked.lock().unwrap_or_else(PoisonError::into_inner);
        blocked
            .iter()
            .rev()
            .filter(|b| b.uid == uid)
            .cloned()
            .collect()
    }

    fn user_name(&self, uid: u32) -> String {
        let mut users = self.users.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(name) = users.get(&uid) {
            return name.clone();
        }
        let name = user_name(uid).unwrap_or_else(|| uid.to_string());
        users.insert(uid, name.clone());
        name
    }
}

/// Which fields of an event a snapshot's policies look at, besides the file's own.
#[derive(Debug, Clone, Copy)]
struct Reads {
    /// A policy is restricted to users.
    user: bool,
    /// A rule has a pattern on the calling process.
    process: bool,
}

impl Reads {
    fn pack(self, generation: u64) -> u64 {
        (generation << 2) | u64::from(self.user) | (u64::from(self.process) << 1)
    }

    fn unpack(packed: u64) -> Reads {
        Reads {
            user: packed & 1 != 0,
            process: packed & 2 != 0,
        }
    }
}

/// The program of process `pid` (`/proc/PID/exe`).
fn caller_program(pid: i32) -> Option<String> {
    std::fs::read_link(format!("/proc/{pid}/exe"))
        .ok()
        .map(|p| p.to_string_lossy().into_owned())
}

/// The time now.
pub fn now() -> Timestamp {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    Timestamp::from_unix(seconds)
}

/// One line of JSON on standard error.
pub fn log(line: &serde_json::Value) {
    eprintln!("{line}");
}

/// The files this process maps (its binary, its libraries): never blocked.
fn own_files() -> HashSet<(u64, u64)> {
    let mut out = HashSet::new();
    let mut add = |path: &Path| {
        if let Ok(meta) = std::fs::metadata(path) {
            out.insert((meta.dev(), meta.ino()));
        }
    };
    add(Path::new("/proc/self/exe"));
    if let Ok(maps) = std::fs::read_to_string("/proc/self/maps") {
        for line in maps.lines() {
            if let Some(at) = line.find('/') {
                add(Path::new(line.get(at..).unwrap_or_default()));
            }
        }
    }
    out
}

/// The real user id of process `pid`.
pub fn process_uid(pid: i32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The name of user `uid` in `/etc/passwd`.
pub fn user_name(uid: u32) -> Option<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let id: u32 = fields.nth(1)?.parse().ok()?;
        (id == uid).then(|| name.to_owned())
    })
}

/// One exec waiting for a worker.
struct Job {
    file: File,
    pid: i32,
    arrived: Instant,
}

/// Marks the configured mounts and filesystems and starts the reader and the workers;
/// their threads. Fails (marking nothing more) when a mark cannot be set.
pub fn start(
    config: &Config,
    decider: Arc<Decider>,
    stop: Arc<Stop>,
) -> Result<Vec<JoinHandle<()>>, String> {
    let fanotify =
        Fanotify::new().map_err(|e| format!("fanotify is not available (it needs root): {e}"))?;
    for (paths, filesystem) in [(&config.mounts, false), (&config.filesystems, true)] {
        for path in paths {
            fanotify.mark(path, filesystem).map_err(|e| {
                format!(
                    "cannot mark `{}` for exec permission events: {e}",
                    path.display()
                )
            })?;
        }
    }
    let fanotify = Arc::new(fanotify);
    let (queue, jobs) = sync_channel::<Job>(config.queue.max(1));
    let jobs = Arc::new(Mutex::new(jobs));
    let mut threads = Vec::new();
    for n in 0..config.workers.max(1) {
        let (fanotify, decider, jobs) = (
            Arc::clone(&fanotify),
            Arc::clone(&decider),
            Arc::clone(&jobs),
        );
        let deadline = config.deadline();
        let worker = std::thread::Builder::new()
            .name(format!("portcullis-decide-{n}"))
            .spawn(move || work(&fanotify, &decider, &jobs, deadline))
            .map_err(|e| format!("cannot start a worker: {e}"))?;
        threads.push(worker);
    }
    let reader = std::thread::Builder::new()
        .name("portcullis-fanotify".to_owned())
        .spawn(move || {
            let mut buffer = vec![0u8; 64 * 1024];
            while !stop.is_set() {
                let events = match fanotify.read(&mut buffer, Duration::from_millis(200)) {
                    Ok(events) => events,
                    Err(e) => {
                        log(&json!({"fanotify": e.to_string()}));
                        stop.wait(Duration::from_millis(100));
                        continue;
                    }
                };
                for event in events {
                    let Some(file) = event.file else {
                        log(&json!({"fanotify": "the kernel's event queue overflowed"}));
                        continue;
                    };
                    if event.mask & OPEN_EXEC_PERM == 0 {
                        continue;
                    }
                    // A file hashed before is decided here, without waking a worker.
                    if let Some(allow) = decider.decide_cached(&file, event.pid) {
                        answer(&fanotify, &file, allow);
                        continue;
                    }
                    let job = Job {
                        file,
                        pid: event.pid,
                        arrived: Instant::now(),
                    };
                    if let Err(TrySendError::Full(job) | TrySendError::Disconnected(job)) =
                        queue.try_send(job)
                    {
                        decider.counters.overloaded.fetch_add(1, Ordering::Relaxed);
                        answer(&fanotify, &job.file, decider.fail_open());
                    }
                }
            }
        })
        .map_err(|e| format!("cannot start the fanotify reader: {e}"))?;
    threads.push(reader);
    Ok(threads)
}

fn work(fanotify: &Fanotify, decider: &Decider, jobs: &Mutex<Receiver<Job>>, deadline: Duration) {
    loop {
        let job = jobs.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok(job) = job else {
            return;
        };
        let allow = if job.arrived.elapsed() > deadline {
            decider.counters.late.fetch_add(1, Ordering::Relaxed);
            decider.fail_open()
        } else {
            decider.decide_exec(&job.file, job.pid)
        };
        answer(fanotify, &job.file, allow);
    }
}

fn answer(fanotify: &Fanotify, file: &File, allow: bool) {
    if let Err(e) = fanotify.respond(file, allow) {
        log(&json!({"fanotify": format!("cannot answer an event: {e}")}));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// An engine on `acme` with `pc-1` and `policies` over one application, `tool`,
    /// whose one rule is `rule`.
    fn engine(rule: &Value, policies: &Value) -> Arc<Engine> {
        let bundle = json!({"format": "portcullis.bundle/v1",
            "organizations": [{"id": "acme", "name": "Acme"}],
            "groups": [{"id": "linux", "organization": "acme", "name": "Linux"}],
            "computers": [{"id": "pc-1", "group": "linux", "name": "pc-1", "os": "linux"}],
            "applications": [{"id": "tool", "organization": "acme", "name": "Tool",
                              "rules": [rule]}],
            "policies": policies});
        Arc::new(Engine::from_json(&bundle.to_string()).unwrap())
    }

    fn decider(engine: Arc<Engine>, dir: &Path) -> Decider {
        let spool = Arc::new(Mutex::new(Spool::open(dir, 100).unwrap()));
        Decider::new("pc-1", engine, &Config::default(), spool)
    }

    fn permit(users: Option<Vec<String>>) -> Value {
        json!([{"id": "tool", "scope": {"organization": "acme"}, "position": 10,
                "applications": ["tool"], "action": "permit", "users": users}])
    }

    /// A file in `dir`, opened, and the process asking: our parent, which is not the
    /// agent.
    fn exec(dir: &Path) -> (PathBuf, File, i32) {
        let path = dir.join("tool");
        std::fs::write(&path, b"#!/bin/sh\n").unwrap();
        let file = File::open(&path).unwrap();
        let parent = i32::try_from(std::os::unix::process::parent_id()).unwrap();
        (path, file, parent)
    }

    #[test]
    fn the_reader_decides_only_what_is_cached() {
        let dir = tempfile::tempdir().unwrap();
        let (path, file, pid) = exec(dir.path());
        let rule = json!({"path": path.display().to_string()});
        let decider = decider(engine(&rule, &permit(None)), dir.path());
        assert_eq!(decider.decide_cached(&file, pid), None, "never hashed");
        assert!(decider.decide_exec(&file, pid));
        assert_eq!(decider.decide_cached(&file, pid), Some(true));
        // Changed: hashed again, by a worker.
        std::fs::write(&path, b"#!/bin/sh\nexit 1\n").unwrap();
        let changed = File::open(&path).unwrap();
        assert_eq!(decider.decide_cached(&changed, pid), None);
        assert!(decider.decide_exec(&changed, pid));
    }

    #[test]
    fn the_user_is_read_before_deciding_when_a_policy_names_users() {
        let dir = tempfile::tempdir().unwrap();
        let (path, file, pid) = exec(dir.path());
        let uid = process_uid(pid).unwrap();
        let name = user_name(uid).unwrap_or_else(|| uid.to_string());
        let rule = json!({"path": path.display().to_string()});
        let ours = decider(engine(&rule, &permit(Some(vec![name]))), dir.path());
        assert!(
            ours.decide_exec(&file, pid),
            "permitted for the caller's user"
        );
        assert_eq!(ours.decide_cached(&file, pid), Some(true));
        let theirs = decider(
            engine(&rule, &permit(Some(vec!["someone-else".to_owned()]))),
            dir.path(),
        );
        assert!(
            !theirs.decide_exec(&file, pid),
            "permitted for another user"
        );
        // A deny is kept with the caller's user, read after deciding.
        assert_eq!(theirs.blocked_for(uid).len(), 1);
    }

    #[test]
    fn the_caller_is_read_before_deciding_when_a_rule_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let (path, file, pid) = exec(dir.path());
        let caller = caller_program(pid).unwrap();
        let ours = json!({"path": path.display().to_string(), "process": caller});
        assert!(decider(engine(&ours, &permit(None)), dir.path()).decide_exec(&file, pid));
        let theirs = json!({"path": path.display().to_string(), "process": "/nowhere/*"});
        let denied = decider(engine(&theirs, &permit(None)), dir.path());
        assert!(!denied.decide_exec(&file, pid));
        let uid = process_uid(pid).unwrap();
        let kept = denied.blocked_for(uid);
        assert_eq!(kept[0].event.parent.as_deref(), Some(caller.as_str()));
    }
}
