#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! A process killed with SIGKILL in the middle of a stream of requests and approvals
//! loses nothing it acknowledged, and the state opens cleanly afterwards.
//!
//! The test re-runs its own binary as a child that executes `child_worker`: it files
//! requests and approves every other one, printing `ACK request N ID` and
//! `ACK approve N ID` once each call returned. The parent kills it with SIGKILL after
//! some acknowledgements, reopens the state, and checks every acknowledged change.
#![cfg(unix)]

mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use portcullis_engine::Outcome;
use portcullis_governance::{
    AccessRequestKind, ApproveOptions, Governance, Matching, RequestState, ScopeKind,
};
use support::{content, file, init_state, sha256_of, ROOT};

/// The state directory of the child worker; without it the worker does nothing.
const STATE_ENV: &str = "PORTCULLIS_DURABILITY_STATE";
/// The first file number the child worker uses.
const FIRST_ENV: &str = "PORTCULLIS_DURABILITY_FIRST";
/// A computer whose organization's default deny allows requests.
const COMPUTER: &str = "lakeside-fd-01";
const SALT: u64 = 7;
/// The worker stops by itself after this many files, should nobody kill it.
const WORKER_LIMIT: u64 = 100_000;

/// The child: files a request for a new file, approves every other one at computer
/// scope by hash, and acknowledges each call on stdout once it returned `Ok`.
#[test]
#[ignore = "the child process of `sigkill_loses_nothing_acknowledged`"]
fn child_worker() {
    let Ok(state) = std::env::var(STATE_ENV) else {
        return;
    };
    let first: u64 = std::env::var(FIRST_ENV).unwrap().parse().unwrap();
    let mut gov = support::open_dir(Path::new(&state)).unwrap();
    let mut out = std::io::stdout().lock();
    for n in first..first + WORKER_LIMIT {
        let request = file(
            &mut gov,
            AccessRequestKind::Application,
            COMPUTER,
            &content(SALT, n),
            n % 3 == 0,
        )
        .unwrap();
        writeln!(out, "ACK request {n} {}", request.id).unwrap();
        out.flush().unwrap();
        if n % 2 == 1 {
            gov.approve(
                ROOT,
                request.id,
                ApproveOptions::new(ScopeKind::Computer, Matching::Hash),
            )
            .unwrap();
            writeln!(out, "ACK approve {n} {}", request.id).unwrap();
            out.flush().unwrap();
        }
    }
}

/// Kills the child if the test fails before it does.
struct Worker(Child);

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[derive(Debug, Default)]
struct Acks {
    /// File number → request id.
    requests: BTreeMap<u64, i64>,
    /// File number → request id.
    approvals: BTreeMap<u64, i64>,
}

/// Runs the worker from file number `first`, kills it with SIGKILL after `kill_after`
/// acknowledgements, and adds what it acknowledged to `acks`.
fn run_and_kill(state: &Path, first: u64, kill_after: usize, acks: &mut Acks) {
    let child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_worker",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(STATE_ENV, state)
        .env(FIRST_ENV, first.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut worker = Worker(child);
    let mut stderr = worker.0.stderr.take().unwrap();
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let stdout = BufReader::new(worker.0.stdout.take().unwrap());
    let mut seen = 0;
    let mut lines = stdout.lines();
    while seen < kill_after {
        let Some(line) = lines.next() else {
            let status = worker.0.wait().unwrap();
            panic!(
                "the worker ended ({status}) after {seen} acknowledgements:\n{}",
                errors.join().unwrap()
            );
        };
        let line = line.unwrap();
        // libtest may print `test child_worker ... ` on the same line first.
        let Some(at) = line.find("ACK ") else {
            continue;
        };
        let words: Vec<&str> = line[at..].split_whitespace().collect();
        let [_, what, n, id] = words[..] else {
            panic!("unreadable acknowledgement `{line}`");
        };
        let (n, id): (u64, i64) = (n.parse().unwrap(), id.parse().unwrap());
        match what {
            "request" => assert!(acks.requests.insert(n, id).is_none(), "{line}"),
            "approve" => {
                assert_eq!(acks.requests.get(&n), Some(&id), "{line}");
                assert!(acks.approvals.insert(n, id).is_none(), "{line}");
            }
            _ => panic!("unreadable acknowledgement `{line}`"),
        }
        seen += 1;
    }
    // `Child::kill` sends SIGKILL on Unix.
    worker.0.kill().unwrap();
    let status = worker.0.wait().unwrap();
    assert_eq!(
        status.signal(),
        Some(9),
        "the worker was not killed by SIGKILL: {status}"
    );
    drop(lines);
    drop(worker);
    let _ = errors.join();
}

/// Everything acknowledged is there, the state is consistent, and the audit verifies.
fn check_state(state: &Path, acks: &Acks) -> Governance {
    if !support::on_postgres() {
        let integrity = support::sql_rows(state, "PRAGMA integrity_check");
        assert_eq!(integrity, vec![vec![Some("ok".to_owned())]]);
    }

    let gov = support::open_dir(state).unwrap();
    let all = gov.read(ROOT, |tx| tx.requests(None)).unwrap();
    let by_id: BTreeMap<i64, _> = all.iter().map(|r| (r.id, r)).collect();
    for (&n, &id) in &acks.requests {
        let request = by_id
            .get(&id)
            .unwrap_or_else(|| panic!("acknowledged request {id} (file {n}) is lost"));
        assert_eq!(request.filed.event.sha256, sha256_of(&content(SALT, n)));
        assert_eq!(request.filed.computer, COMPUTER);
        if n % 3 == 0 {
            let stored = gov
                .read(ROOT, |tx| tx.file(&request.filed.event.sha256))
                .unwrap();
            assert_eq!(stored, Some(content(SALT, n)), "file of request {id}");
        }
    }
    // At most the one request in flight at each kill committed without an
    // acknowledgement.
    assert!(all.len() >= acks.requests.len());
    assert!(
        all.len() <= acks.requests.len() + 3,
        "{} requests stored, {} acknowledged",
        all.len(),
        acks.requests.len()
    );
    let bundle = gov.bundle().clone();
    let mut approved = 0;
    for request in &all {
        let approval_acked = acks.approvals.values().any(|&id| id == request.id);
        match request.state {
            RequestState::Approved => {
                approved += 1;
                let approval = request
                    .closure
                    .as_ref()
                    .and_then(|c| c.approval.as_ref())
                    .unwrap_or_else(|| panic!("request {} approved without a record", request.id));
                assert!(
                    bundle.policies.iter().any(|p| p.id == approval.policy),
                    "the policy of approved request {} is not deployed",
                    request.id
                );
                let mut event = request.filed.event.clone();
                event.time = gov.now();
                let decision = gov.engine().unwrap().decide(&event);
                assert_eq!(decision.decision, Outcome::Allow, "request {}", request.id);
                assert_eq!(decision.policy.as_deref(), Some(approval.policy.as_str()));
            }
            RequestState::Pending => {
                assert!(
                    !approval_acked,
                    "acknowledged approval of {} is lost",
                    request.id
                );
                let mut event = request.filed.event.clone();
                event.time = gov.now();
                assert_eq!(gov.engine().unwrap().decide(&event).decision, Outcome::Deny);
            }
            other => panic!("request {} is {other:?}", request.id),
        }
    }
    assert!(approved >= acks.approvals.len());
    assert!(
        approved <= acks.approvals.len() + 3,
        "unacknowledged approvals"
    );
    // Every approval deployed exactly one bundle version, after the initial one.
    assert_eq!(gov.version(), 1 + approved as i64);
    let audit = gov
        .verify_audit()
        .unwrap()
        .expect("the audit chain verifies");
    // init, settings, then one entry per request, and two per approval (the approval
    // and its policy edit).
    assert_eq!(audit, 2 + all.len() + 2 * approved);
    gov
}

#[test]
fn sigkill_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    drop(init_state(&state));
    let mut acks = Acks::default();
    let mut first = 0;
    for kill_after in [30, 41, 52] {
        run_and_kill(&state, first, kill_after, &mut acks);
        check_state(&state, &acks);
        first += 1000;
    }
    assert!(acks.approvals.len() >= 30, "{acks:?}");

    // The state still works: a new request, approved, allows its execution.
    let mut gov = check_state(&state, &acks);
    let bytes = content(SALT, first);
    let request = file(
        &mut gov,
        AccessRequestKind::Application,
        COMPUTER,
        &bytes,
        true,
    )
    .unwrap();
    let approved = gov
        .approve(
            ROOT,
            request.id,
            ApproveOptions::new(ScopeKind::Computer, Matching::Hash),
        )
        .unwrap();
    assert_eq!(approved.request.state, RequestState::Approved);
    drop(gov);
    let gov = support::open_dir(&state).unwrap();
    let mut event = approved.request.filed.event.clone();
    event.time = gov.now();
    assert_eq!(
        gov.engine().unwrap().decide(&event).decision,
        Outcome::Allow
    );
    assert!(gov.verify_audit().unwrap().is_ok());
}
