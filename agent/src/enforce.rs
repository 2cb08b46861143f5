//! Enforcement: every exec on the marked mounts is held by the kernel
//! (`FAN_OPEN_EXEC_PERM`) until the agent answers. One thread reads events into a
//! bounded queue; a pool of workers decides them. Every event is answered: when the
//! queue is full, or an event waited past the deadline, or its file cannot be read,
//! the configured fail mode answers.
//!
//! A decision takes the file's identity through the identity cache (keyed by device,
//! inode, size and times, so an unchanged file is hashed once), its path from the
//! event's descriptor, the calling process from `/proc/PID/exe` and the user from
//! `/proc/PID/status`, then asks the engine. The agent never blocks itself, the files
//! its own process maps (its binary and libraries), or the excluded paths.

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
use portcullis_engine::{DecisionRecord, Engine, Event, Outcome};
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

    /// Decides an exec of `file` by process `pid`: whether it may run.
    pub fn decide_exec(&self, file: &File, pid: i32) -> bool {
        if u32::try_from(pid).is_ok_and(|p| p == self.own_pid) {
            self.counters.skipped.fetch_add(1, Ordering::Relaxed);
            return true;
        }
        let own = file
            .metadata()
            .is_ok_and(|m| self.own_files.contains(&(m.dev(), m.ino())));
        let handle = PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()));
        let path = std::fs::read_link(&handle).unwrap_or_default();
        if own || self.exclude.iter().any(|e| path.starts_with(e)) {
            self.counters.skipped.fetch_add(1, Ordering::Relaxed);
            return true;
        }
        let identity = match self.cache.inspect(&handle) {
            Ok(identity) => identity,
            Err(e) => {
                self.counters.unreadable.fetch_add(1, Ordering::Relaxed);
                log(
                    &json!({"unreadable": path, "pid": pid, "error": e.to_string(),
                    "answer": if self.fail_open() { "allow" } else { "deny" }}),
                );
                return self.fail_open();
            }
        };
        let signature = match identity.signature.status {
            SignatureStatus::Unsigned => Signature::default(),
            _ => serde_json::to_value(&identity.signature)
                .ok()
                .and_then(|v| serde_json::from_value(v).ok())
                .unwrap_or_default(),
        };
        let uid = process_uid(pid);
        let event = Event {
            computer: self.computer.clone(),
            user: uid.map_or_else(|| "unknown".to_owned(), |u| self.user_name(u)),
            path: path.to_string_lossy().into_owned(),
            sha256: identity.sha256,
            signature,
            size: Some(identity.size),
            authenticode_digest: None,
            parent: std::fs::read_link(format!("/proc/{pid}/exe"))
                .ok()
                .map(|p| p.to_string_lossy().into_owned()),
            created_by: None,
            elevation: false,
            time: now(),
        };
        let decision = self.engine.decide(&event);
        let allowed = decision.decision == Outcome::Allow;
        if allowed {
            self.counters.allowed.fetch_add(1, Ordering::Relaxed);
        } else {
            self.counters.denied.fetch_add(1, Ordering::Relaxed);
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
        let audited = self.audit_allows.load(Ordering::Relaxed);
        if !allowed || decision.learn || decision.would_deny || audited {
            let entry = json!({"event": event, "decision": decision});
            let kept = self
                .spool
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(entry);
            if let Err(e) = kept {
                log(&json!({"spool": e.to_string()}));
            }
        }
        if !allowed {
            self.remember(uid.unwrap_or(u32::MAX), event, decision);
        }
        allowed
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
