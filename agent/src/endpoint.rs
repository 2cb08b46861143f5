//! The agent's Unix socket, where a blocked user asks for access (`portcullis
//! request`). The agent knows who asks from the socket's peer credentials, never from
//! what the message says; a user sees and requests only their own blocked executions.
//!
//! One JSON line in, one JSON line out:
//! - `{"op": "blocked"}` — the user's blocked executions, newest first;
//! - `{"op": "request", "message": "…", "email": "…", "id": N, "path": "…",
//!   "attach": true}` — files a request for blocked execution `id` (or the newest one
//!   of `path`, or the newest one) with the server, with a copy of the file unless
//!   `attach` is `false`; the answer has the request's id and state;
//! - `{"op": "status", "id": N}` — whether that execution is now allowed (the view
//!   has caught up with an approval).
//!
//! Anything else gets `{"error": "…"}`; nothing a message says changes the agent's
//! view or its decisions.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use portcullis_engine::Outcome;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::Digest as _;

use crate::enforce::{log, Blocked, Decider};
use crate::link::Link;
use crate::Stop;

/// A message to the agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase", deny_unknown_fields)]
pub enum Ask {
    /// The asking user's blocked executions.
    Blocked,
    /// File a request.
    Request {
        /// Why the user needs it.
        message: String,
        /// Where to tell them the outcome.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        email: Option<String>,
        /// Which blocked execution (default: the newest, of `path` if given).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<u64>,
        /// The blocked file's path.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        path: Option<String>,
        /// Send a copy of the file (default `true`).
        #[serde(default = "yes")]
        attach: bool,
    },
    /// Whether a blocked execution is now allowed.
    Status {
        /// Which one.
        id: u64,
    },
}

fn yes() -> bool {
    true
}

/// The longest message a user may send, in bytes.
pub const MAX_MESSAGE: u64 = 64 * 1024;

/// The largest file copy sent with a request (what the server takes).
pub const MAX_COPY: u64 = 64 << 20;

/// Connections served at once, at most.
const MAX_CONNECTIONS: usize = 16;

/// Listens on `socket` (made reachable by every local user) until `stop`.
pub fn serve(
    socket: &Path,
    decider: Arc<Decider>,
    link: Link,
    stop: Arc<Stop>,
) -> Result<JoinHandle<()>, String> {
    let fail = |e: std::io::Error| format!("the socket `{}`: {e}", socket.display());
    if let Some(parent) = socket.parent() {
        std::fs::create_dir_all(parent).map_err(fail)?;
    }
    let _ = std::fs::remove_file(socket);
    let listener = UnixListener::bind(socket).map_err(fail)?;
    std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o666)).map_err(fail)?;
    listener.set_nonblocking(true).map_err(fail)?;
    let busy = Arc::new(AtomicUsize::new(0));
    std::thread::Builder::new()
        .name("portcullis-socket".to_owned())
        .spawn(move || {
            while !stop.is_set() {
                match listener.accept() {
                    Ok((stream, _)) => {
                        if busy.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
                            busy.fetch_sub(1, Ordering::SeqCst);
                            let _ =
                                reply(&stream, &json!({"error": "the agent is busy; try again"}));
                            continue;
                        }
                        let (decider, link, busy) =
                            (Arc::clone(&decider), link.clone(), Arc::clone(&busy));
                        let spawned = std::thread::Builder::new()
                            .name("portcullis-request".to_owned())
                            .spawn(move || {
                                serve_one(&stream, &decider, &link);
                                busy.fetch_sub(1, Ordering::SeqCst);
                            });
                        if spawned.is_err() {
                            log(&json!({"socket": "cannot start a thread for a connection"}));
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        stop.wait(Duration::from_millis(100));
                    }
                    Err(e) => {
                        log(&json!({"socket": e.to_string()}));
                        stop.wait(Duration::from_millis(100));
                    }
                }
            }
        })
        .map_err(|e| format!("cannot start the socket's thread: {e}"))
}

fn reply(mut stream: &UnixStream, answer: &Value) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(answer)?;
    line.push(b'\n');
    stream.write_all(&line)
}

fn serve_one(stream: &UnixStream, decider: &Decider, link: &Link) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let answer = match crate::sys::peer(stream) {
        Ok((_, uid)) => {
            let mut line = String::new();
            match BufReader::new(stream.take(MAX_MESSAGE)).read_line(&mut line) {
                Ok(_) => match serde_json::from_str::<Ask>(&line) {
                    Ok(ask) => answer(ask, uid, decider, link),
                    Err(e) => json!({"error": format!("the message does not read: {e}")}),
                },
                Err(e) => json!({"error": format!("the message could not be read: {e}")}),
            }
        }
        Err(e) => json!({"error": format!("cannot tell who is asking: {e}")}),
    };
    let _ = reply(stream, &answer);
}

fn summary(b: &Blocked) -> Value {
    json!({"id": b.id, "path": b.event.path, "sha256": b.event.sha256, "time": b.event.time,
        "user": b.event.user, "policy": b.decision.policy, "default_deny": b.decision.default_deny,
        "can_request": b.decision.can_request})
}

/// What the agent answers `ask` from user `uid`.
pub fn answer(ask: Ask, uid: u32, decider: &Decider, link: &Link) -> Value {
    let mine = decider.blocked_for(uid);
    match ask {
        Ask::Blocked => json!({"blocked": mine.iter().map(summary).collect::<Vec<_>>()}),
        Ask::Status { id } => match mine.iter().find(|b| b.id == id) {
            Some(blocked) => {
                let mut event = blocked.event.clone();
                event.time = crate::enforce::now();
                let decision = decider.engine().decide(&event);
                json!({"id": id, "allowed": decision.decision == Outcome::Allow,
                    "generation": decision.generation})
            }
            None => json!({"error": format!("you have no blocked execution {id}")}),
        },
        Ask::Request {
            message,
            email,
            id,
            path,
            attach,
        } => {
            let found = mine.iter().find(|b| {
                id.is_none_or(|id| b.id == id) && path.as_ref().is_none_or(|p| b.event.path == *p)
            });
            let Some(blocked) = found else {
                return json!({"error": "no blocked execution of yours matches; `portcullis agent request --list` shows them"});
            };
            file(blocked, message, email, attach, link)
        }
    }
}

fn file(
    blocked: &Blocked,
    message: String,
    email: Option<String>,
    attach: bool,
    link: &Link,
) -> Value {
    let mut note = None;
    let mut copy = None;
    let too_large = std::fs::metadata(&blocked.event.path).is_ok_and(|m| m.len() > MAX_COPY);
    if attach && too_large {
        note = Some(format!(
            "the file is larger than {} MiB; no copy was sent",
            MAX_COPY >> 20
        ));
    } else if attach {
        match std::fs::read(&blocked.event.path) {
            Ok(bytes) if sha2::Sha256::digest(&bytes).as_slice() == blocked.event.sha256.0 => {
                match link.upload(&bytes) {
                    Ok(sha) => copy = Some(sha),
                    Err(e) => note = Some(format!("the file copy was not sent: {e}")),
                }
            }
            Ok(_) => {
                note = Some("the file changed since it was blocked; no copy was sent".to_owned())
            }
            Err(e) => note = Some(format!("the file could not be read for a copy: {e}")),
        }
    }
    let body = json!({"event": blocked.event, "message": message, "email": email, "file": copy});
    match link.file_request(&body) {
        Ok(filed) => {
            let request = filed.get("request").unwrap_or(&filed);
            json!({"id": blocked.id, "request": request.get("id"), "state": request.get("state"),
                "path": blocked.event.path, "note": note})
        }
        Err(e) => json!({"error": format!("the request was not filed: {e}")}),
    }
}

/// Sends `ask` to the agent at `socket`; its answer.
pub fn ask(socket: &Path, ask: &Ask) -> Result<Value, String> {
    let fail = |e: std::io::Error| {
        format!(
            "cannot talk to the agent at `{}` (is `portcullis agent run` running?): {e}",
            socket.display()
        )
    };
    let mut stream = UnixStream::connect(socket).map_err(fail)?;
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .map_err(fail)?;
    let mut line = serde_json::to_vec(ask).map_err(|e| e.to_string())?;
    line.push(b'\n');
    stream.write_all(&line).map_err(fail)?;
    let mut answer = String::new();
    BufReader::new(stream.take(16 << 20))
        .read_line(&mut answer)
        .map_err(fail)?;
    serde_json::from_str(&answer).map_err(|e| format!("the agent's answer does not read: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::link::Enrollment;
    use crate::store::Spool;
    use crate::view::tests::{key, sign, view};
    use crate::view::HeldView;
    use std::sync::Mutex;

    /// A decider on a view with a default deny (nothing permitted outside `/opt`), and
    /// a link to a server that is not there.
    fn setup(dir: &Path) -> (Arc<Decider>, Link) {
        let (pair, verifier) = key();
        let mut held = HeldView::new("pc-1", verifier, dir.join("view.json"));
        held.take(&sign(&pair, &view(1, true))).unwrap();
        let spool = Arc::new(Mutex::new(Spool::open(dir, 100).unwrap()));
        let decider = Decider::new(
            "pc-1",
            Arc::clone(held.engine().unwrap()),
            &Config::default(),
            spool,
        );
        let link = Link::new(&Enrollment {
            server: "http://127.0.0.1:9".to_owned(),
            computer: "pc-1".to_owned(),
            organization: "acme".to_owned(),
            group: "linux".to_owned(),
            credential: "pca_test".to_owned(),
            view_key: String::new(),
            server_ca: None,
        })
        .unwrap();
        (Arc::new(decider), link)
    }

    fn send(socket: &Path, bytes: &[u8]) -> Value {
        let mut stream = UnixStream::connect(socket).unwrap();
        stream.write_all(bytes).unwrap();
        stream.shutdown(std::net::Shutdown::Write).unwrap();
        let mut answer = String::new();
        BufReader::new(stream).read_line(&mut answer).unwrap();
        serde_json::from_str(&answer).unwrap()
    }

    #[test]
    fn a_denied_exec_is_kept_for_its_user_and_bad_messages_get_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let (decider, link) = setup(dir.path());
        // A file outside `/opt`: the default deny. Asked by our parent process, which
        // is not the agent.
        let file = dir.path().join("tool");
        std::fs::write(&file, b"#!/bin/sh\n").unwrap();
        let parent = i32::try_from(std::os::unix::process::parent_id()).unwrap();
        let opened = std::fs::File::open(&file).unwrap();
        assert!(!decider.decide_exec(&opened, parent));
        // The agent's own process is never blocked.
        let own = i32::try_from(std::process::id()).unwrap();
        assert!(decider.decide_exec(&opened, own));
        let uid = crate::enforce::process_uid(parent).unwrap();
        assert_eq!(decider.blocked_for(uid).len(), 1);

        let socket = dir.path().join("agent.sock");
        let stop = Arc::new(Stop::default());
        let thread = serve(&socket, Arc::clone(&decider), link, Arc::clone(&stop)).unwrap();
        // Only the caller's own blocked executions: this test runs as the user who
        // was blocked (the parent's), so it sees the one.
        let mine = send(&socket, b"{\"op\": \"blocked\"}\n");
        if crate::sys::euid() == uid {
            assert_eq!(
                mine["blocked"][0]["path"],
                file.display().to_string(),
                "{mine}"
            );
        }
        for bad in [
            &b"not json\n"[..],
            b"{\"op\": \"shutdown\"}\n",
            b"{\"op\": \"status\"}\n",
            b"{\"op\": \"status\", \"id\": 99}\n",
            b"{\"op\": \"request\", \"message\": \"x\", \"path\": \"/nowhere\"}\n",
            &[0xff, 0xfe, b'\n'],
        ] {
            let answer = send(&socket, bad);
            assert!(
                answer["error"].as_str().is_some_and(|e| !e.is_empty()),
                "{}: {answer}",
                String::from_utf8_lossy(bad)
            );
        }
        // Longer than a message may be: refused, and the agent still answers after.
        let long = vec![b'x'; usize::try_from(MAX_MESSAGE).unwrap() + 10];
        assert!(send(&socket, &long)["error"].is_string());
        // The server is not there: the request is not filed, and it says so.
        let filed = send(&socket, b"{\"op\": \"request\", \"message\": \"please\"}\n");
        if crate::sys::euid() == uid {
            assert!(
                filed["error"]
                    .as_str()
                    .is_some_and(|e| e.contains("not filed")),
                "{filed}"
            );
        }
        assert_eq!(decider.blocked_for(uid).len(), 1);
        stop.set();
        thread.join().unwrap();
    }
}
