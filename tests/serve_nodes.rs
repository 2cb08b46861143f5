//! Two `portcullis serve` processes on one real PostgreSQL database, set up as the
//! README says (`init --database`, `serve --database`, the keys copied to the second
//! node). One node is killed with SIGKILL in the middle of a stream of filings
//! and approvals; the other has every change the killed one acknowledged, decides
//! accordingly, and its audit verifies.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
#![cfg(unix)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use portcullis_server::Client;
use portcullis_testkit::postgres::TestPostgres;
use serde_json::{json, Value};

const PASSWORD: &str = "a long enough test password";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn portcullis(args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(args)
        .env_remove("PORTCULLIS_STATE")
        .env_remove("PORTCULLIS_DATABASE")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "portcullis {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `portcullis serve --state DIR --database URL --listen 127.0.0.1:0`; the child and
/// its address.
fn serve(state: &Path, database: &str) -> (Child, String) {
    let log = std::fs::File::create(state.with_extension("log")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database",
            database,
            "--state",
        ])
        .arg(state)
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("serve printed {line:?}"))
        .to_owned();
    (child, url)
}

/// The blocked execution of the README's request, for a file numbered `n`.
fn event(n: usize) -> Value {
    let text = std::fs::read_to_string(root().join("examples/request/blocked.json")).unwrap();
    let mut event: Value = serde_json::from_str(&text).unwrap();
    event["sha256"] = json!(format!("{:064x}", 0xfeed_0000_usize + n));
    event["path"] = json!(format!("C:\\Users\\amy\\Downloads\\tool-{n}.exe"));
    event
}

#[test]
fn a_node_killed_mid_approval_loses_nothing_it_acknowledged() {
    let database = TestPostgres::shared().database("serve_nodes").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (a_state, b_state) = (dir.path().join("a"), dir.path().join("b"));
    let password = dir.path().join("password");
    std::fs::write(&password, PASSWORD).unwrap();
    let bundle = root().join("examples/bundle.json");
    portcullis(&[
        "init",
        "--state",
        a_state.to_str().unwrap(),
        "--database",
        &database,
        "--bundle",
        bundle.to_str().unwrap(),
        "--admin",
        "root",
        "--name",
        "Root",
        "--password-file",
        password.to_str().unwrap(),
    ]);
    let (mut a, a_url) = serve(&a_state, &database);
    // Every node signs with the same keys: the audit's (made by `init`) and the one
    // agents' views are signed with (made by the first node's start).
    std::fs::create_dir_all(&b_state).unwrap();
    for key in ["audit.key", "view.key"] {
        std::fs::copy(a_state.join(key), b_state.join(key)).unwrap();
    }
    let (mut b, b_url) = serve(&b_state, &database);

    let token = Client::anonymous(&a_url, None)
        .unwrap()
        .token_with_password("root", PASSWORD, "nodes")
        .unwrap();
    let on_a = Client::new(&a_url, &token, None).unwrap();
    let on_b = Client::new(&b_url, &token, None).unwrap();

    // Filings and approvals through A, each acknowledged once its call returned.
    let filed = Arc::new(Mutex::new(Vec::<(usize, i64)>::new()));
    let approved = Arc::new(Mutex::new(Vec::<usize>::new()));
    let calls = Arc::new(AtomicUsize::new(0));
    let worker = {
        let (filed, approved, calls) = (filed.clone(), approved.clone(), calls.clone());
        std::thread::spawn(move || {
            for n in 0..10_000 {
                let body = json!({"event": event(n), "message": format!("file {n}")});
                let Ok(answer) = on_a.send::<Value>("POST", "/requests", &body) else {
                    return;
                };
                let Some(id) = answer["request"]["id"].as_i64() else {
                    panic!("no request id in {answer}");
                };
                filed.lock().unwrap().push((n, id));
                calls.fetch_add(1, Ordering::SeqCst);
                let approve = json!({"scope": "computer", "match": "hash"});
                let path = format!("/requests/{id}/approve");
                if on_a.send::<Value>("POST", &path, &approve).is_err() {
                    return;
                }
                approved.lock().unwrap().push(n);
                calls.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    while calls.load(Ordering::SeqCst) < 12 && !worker.is_finished() {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    a.kill().unwrap();
    a.wait().unwrap();
    worker.join().unwrap();

    let filed = filed.lock().unwrap().clone();
    let approved = approved.lock().unwrap().clone();
    assert!(approved.len() >= 5, "{approved:?}");
    for &(n, id) in &filed {
        let request: Value = on_b.get(&format!("/requests/{id}")).unwrap();
        assert_eq!(request["message"], format!("file {n}"), "{request}");
        let decided: Value = on_b.send("POST", "/decisions", &event(n)).unwrap();
        let expected = if approved.contains(&n) {
            "allow"
        } else {
            "deny"
        };
        assert_eq!(
            decided["decision"]["decision"], expected,
            "file {n}: {decided}"
        );
        if approved.contains(&n) {
            assert_eq!(request["state"], "approved", "{request}");
        }
    }
    let verified: Value = on_b.get("/audit/verify").unwrap();
    assert!(verified["verified"].as_u64() > Some(0), "{verified}");
    b.kill().unwrap();
    b.wait().unwrap();
}
