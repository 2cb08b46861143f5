//! The agent end to end, on Linux, as root: a tmpfs the test mounts itself (the only
//! mount marked, so nothing else on the machine is affected), `portcullis serve` on
//! loopback, an agent enrolled with an install key, a copied binary refused with
//! `EPERM`, a request filed from the endpoint, approved through the API, and the
//! binary running; then the server killed — the agent restarted keeps enforcing from
//! its view on disk — and restarted, and the agent catching up.
//!
//! Without root, or where fanotify or tmpfs mounts are not available, the test says it
//! is skipped and why.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const EPERM: i32 = 1;

fn portcullis() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_portcullis"));
    for name in [
        "PORTCULLIS_STATE",
        "PORTCULLIS_SERVER",
        "PORTCULLIS_TOKEN",
        "PORTCULLIS_AGENT_CONFIG",
    ] {
        command.env_remove(name);
    }
    command
}

fn run(command: &mut Command) -> Output {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{command:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Polls `check` every 50 ms until it gives a value or `deadline` passes.
fn poll<T>(what: &str, deadline: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let until = Instant::now() + deadline;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < until, "gave up waiting: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The tmpfs the test mounted; unmounted when dropped, even after a failure.
struct Mounted(PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let unmounted = Command::new("umount")
            .arg(&self.0)
            .status()
            .is_ok_and(|s| s.success());
        if !unmounted {
            // Something still holds it: detach it now, gone when released.
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
}

/// A child process killed when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct World {
    dir: tempfile::TempDir,
    state: PathBuf,
    agent_state: PathBuf,
    socket: PathBuf,
    mount: PathBuf,
    url: String,
    token: String,
    /// The server's certificate, its key and the authority that signed it, for TLS.
    tls: Option<(PathBuf, PathBuf, PathBuf)>,
}

impl World {
    fn http(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut config = ureq::Agent::config_builder().http_status_as_error(false);
        if let Some((_, _, authority)) = &self.tls {
            let pem = std::fs::read(authority).unwrap();
            let certificates = ureq::tls::parse_pem(&pem)
                .filter_map(|item| match item.unwrap() {
                    ureq::tls::PemItem::Certificate(c) => Some(c),
                    _ => None,
                })
                .collect();
            config = config.tls_config(
                ureq::tls::TlsConfig::builder()
                    .root_certs(ureq::tls::RootCerts::Specific(std::sync::Arc::new(
                        certificates,
                    )))
                    .build(),
            );
        }
        let agent: ureq::Agent = config.build().into();
        let request = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}/api/v1{path}", self.url))
            .header("Authorization", format!("Bearer {}", self.token))
            .header("Content-Type", "application/json")
            .body(body.map(|b| b.to_string()).unwrap_or_default())
            .unwrap();
        let mut response = agent.run(request).unwrap();
        let status = response.status().as_u16();
        let bytes = response.body_mut().read_to_vec().unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// `portcullis serve` on `listen`; its address is read from its first line.
    fn serve(&mut self, listen: &str) -> Killed {
        let log = std::fs::File::create(self.dir.path().join("serve.log")).unwrap();
        let mut command = portcullis();
        command
            .args(["serve", "--listen", listen, "--state"])
            .arg(&self.state);
        if let Some((cert, key, _)) = &self.tls {
            command
                .arg("--tls-cert")
                .arg(cert)
                .arg("--tls-key")
                .arg(key);
        }
        let mut child = command.stdout(Stdio::piped()).stderr(log).spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        self.url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap()
            .to_owned();
        Killed(child)
    }

    /// `portcullis agent run` on the test's mount; `None` (and why) when fanotify is
    /// not available.
    fn agent(&self, log_name: &str) -> Result<Killed, String> {
        self.agent_with(log_name, &[])
    }

    /// [`World::agent`] with more options.
    fn agent_with(&self, log_name: &str, options: &[&str]) -> Result<Killed, String> {
        let log_path = self.dir.path().join(log_name);
        let log = std::fs::File::create(&log_path).unwrap();
        let child = portcullis()
            .args(["agent", "run"])
            .args(options)
            .arg("--state")
            .arg(&self.agent_state)
            .arg("--mount")
            .arg(&self.mount)
            .arg("--socket")
            .arg(&self.socket)
            .stderr(log)
            .spawn()
            .unwrap();
        let mut child = Killed(child);
        let started = poll("the agent to start", Duration::from_secs(60), || {
            let text = std::fs::read_to_string(&log_path).unwrap_or_default();
            if text.contains("\"enforcing\":true") {
                return Some(Ok(()));
            }
            match child.0.try_wait() {
                Ok(Some(_)) => Some(Err(text)),
                _ => None,
            }
        });
        started.map(|()| child)
    }

    fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default()
    }

    /// Runs a program from the tmpfs: `Ok` when it ran, else the OS error number.
    fn exec(&self, name: &str) -> Result<(), i32> {
        match Command::new(self.mount.join(name))
            .stdout(Stdio::null())
            .status()
        {
            Ok(_) => Ok(()),
            Err(e) => Err(e.raw_os_error().unwrap_or(-1)),
        }
    }

    /// `portcullis agent request` for the newest blocked execution of `path`; the
    /// server's request id.
    fn request(&self, path: &Path) -> i64 {
        let output = run(portcullis()
            .args([
                "agent",
                "request",
                "--message",
                "I need it for the test",
                "--socket",
            ])
            .arg(&self.socket)
            .arg("--path")
            .arg(path));
        let answer: Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(answer["state"], "pending", "{answer}");
        answer["request"].as_i64().unwrap()
    }

    fn approve(&self, request: i64) {
        let (status, answer) = self.http(
            "POST",
            &format!("/requests/{request}/approve"),
            Some(json!({"scope": "computer", "match": "hash"})),
        );
        assert_eq!(status, 200, "{answer}");
    }
}

impl World {
    /// A state with one organization and one group of Linux computers, no policy;
    /// `portcullis serve` on it, and Root's API token.
    fn start(
        dir: tempfile::TempDir,
        mount: PathBuf,
        tls: Option<(PathBuf, PathBuf, PathBuf)>,
    ) -> (World, Killed) {
        let bundle = json!({"format": "portcullis.bundle/v1",
            "organizations": [{"id": "acme", "name": "Acme"}],
            "groups": [{"id": "acme-linux", "organization": "acme", "name": "Linux"}],
            "computers": [], "applications": [], "policies": []});
        std::fs::write(dir.path().join("bundle.json"), bundle.to_string()).unwrap();
        std::fs::write(
            dir.path().join("root.pass"),
            "correct horse battery staple\n",
        )
        .unwrap();
        let state = dir.path().join("state");
        run(portcullis()
            .args(["init", "--admin", "root", "--name", "Root", "--state"])
            .arg(&state)
            .arg("--bundle")
            .arg(dir.path().join("bundle.json"))
            .arg("--password-file")
            .arg(dir.path().join("root.pass")));
        let mut world = World {
            agent_state: dir.path().join("agent"),
            socket: dir.path().join("agent/agent.sock"),
            state,
            mount,
            url: String::new(),
            token: String::new(),
            tls,
            dir,
        };
        let server = world.serve("127.0.0.1:0");
        let token_file = world.dir.path().join("root.token");
        let mut create = portcullis();
        create
            .args([
                "token", "create", "--admin", "root", "--name", "e2e", "--server",
            ])
            .arg(&world.url)
            .arg("--password-file")
            .arg(world.dir.path().join("root.pass"))
            .arg("--out")
            .arg(&token_file);
        if let Some((_, _, authority)) = &world.tls {
            create.arg("--server-ca").arg(authority);
        }
        run(&mut create);
        world.token = std::fs::read_to_string(&token_file)
            .unwrap()
            .trim()
            .to_owned();
        (world, server)
    }

    /// An install key for `acme`.
    fn install_key(&self, name: &str) -> String {
        let (status, made) = self.http(
            "POST",
            "/install-keys",
            Some(json!({"name": name, "organization": "acme"})),
        );
        assert_eq!(status, 201, "{made}");
        made["key"].as_str().unwrap().to_owned()
    }
}

/// A temporary directory with a tmpfs of the test's own mounted at `mnt` in it
/// (unmounted when the guard drops); `None`, said, when the test cannot run here.
fn tmpfs() -> Option<(tempfile::TempDir, PathBuf, Mounted)> {
    if portcullis_agent::euid() != 0 {
        skip("needs root (fanotify and mounting a tmpfs)");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let mount = dir.path().join("mnt");
    std::fs::create_dir(&mount).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64m,mode=0755", "portcullis-test"])
        .arg(&mount)
        .output()
        .unwrap();
    if !mounted.status.success() {
        skip(&format!(
            "cannot mount a tmpfs here: {}",
            String::from_utf8_lossy(&mounted.stderr)
        ));
        return None;
    }
    let guard = Mounted(mount.clone());
    Some((dir, mount, guard))
}

fn skip(why: &str) {
    eprintln!("SKIPPED: the agent's end-to-end test {why}");
}

#[test]
fn the_agent_enforces_takes_requests_and_keeps_enforcing_without_the_server() {
    let Some((dir, mount, _mounted)) = tmpfs() else {
        return;
    };
    let (mut world, mut server) = World::start(dir, mount, None);

    // Enroll with an install key.
    let key = world.install_key("e2e");
    let key = key.as_str();
    let enrolled = run(portcullis()
        .args([
            "agent",
            "enroll",
            "--hostname",
            "e2e-host",
            "--key",
            key,
            "--server",
        ])
        .arg(&world.url)
        .arg("--state")
        .arg(&world.agent_state));
    let enrolled: Value = serde_json::from_slice(&enrolled.stdout).unwrap();
    assert_eq!(enrolled["computer"], "e2e-host");

    let mut agent = match world.agent("agent.log") {
        Ok(agent) => agent,
        Err(log) if log.contains("fanotify is not available") => {
            return skip(&format!("needs fanotify: {log}"));
        }
        Err(log) => panic!("the agent did not start: {log}"),
    };

    // A copied binary on the marked mount: refused.
    std::fs::copy("/bin/true", world.mount.join("tool")).unwrap();
    std::fs::copy("/bin/echo", world.mount.join("other")).unwrap();
    assert_eq!(world.exec("tool"), Err(EPERM));
    assert!(
        world.log("agent.log").contains("\"deny\""),
        "a deny is logged: {}",
        world.log("agent.log")
    );

    // Requested from the endpoint, approved through the API: it runs.
    let request = world.request(&world.mount.join("tool"));
    world.approve(request);
    let approved = Instant::now();
    poll(
        "the approval to reach the agent",
        Duration::from_secs(20),
        || world.exec("tool").ok(),
    );
    eprintln!(
        "the approval took {:?} to reach the agent",
        approved.elapsed()
    );
    assert_eq!(
        world.exec("other"),
        Err(EPERM),
        "only what was approved runs"
    );

    // The server reports the agent, and that it is not behind.
    poll(
        "the agent to report its revision",
        Duration::from_secs(20),
        || {
            let (_, agents) = world.http("GET", "/agents", None);
            (agents[0]["computer"] == "e2e-host" && agents[0]["behind"] == false).then_some(())
        },
    );

    // The server dies, and so does the agent: started again, it enforces from the
    // view on disk.
    drop(server);
    drop(agent);
    agent = world.agent("agent-2.log").unwrap();
    assert!(
        world.log("agent-2.log").contains("from disk"),
        "{}",
        world.log("agent-2.log")
    );
    assert_eq!(world.exec("tool"), Ok(()));
    assert_eq!(world.exec("other"), Err(EPERM));

    // The server comes back where it was; the agent catches up with what is approved
    // after.
    let address = world.url.trim_start_matches("http://").to_owned();
    server = world.serve(&address);
    let request = poll(
        "the server to take a request",
        Duration::from_secs(30),
        || {
            let output = portcullis()
                .args(["agent", "request", "--message", "this one too", "--socket"])
                .arg(&world.socket)
                .arg("--path")
                .arg(world.mount.join("other"))
                .output()
                .unwrap();
            let answer: Value = serde_json::from_slice(&output.stdout).ok()?;
            answer["request"].as_i64()
        },
    );
    world.approve(request);
    poll("the agent to catch up", Duration::from_secs(30), || {
        world.exec("other").ok()
    });

    // Its denies reached the audit, from the spool.
    poll("the denies to be uploaded", Duration::from_secs(30), || {
        let (_, found) = world.http("GET", "/audit?computer=e2e-host&kind=deny", None);
        found.to_string().contains("/tool").then_some(())
    });

    // Installation mode: what no policy matches runs, and is learned on the server.
    std::fs::copy("/bin/uname", world.mount.join("installer")).unwrap();
    assert_eq!(world.exec("installer"), Err(EPERM));
    let (status, answer) = world.http(
        "PUT",
        "/computers/e2e-host/maintenance",
        Some(json!({"mode": "installation", "until": "2099-01-01T00:00:00Z"})),
    );
    assert_eq!(status, 200, "{answer}");
    poll(
        "installation mode to reach the agent",
        Duration::from_secs(30),
        || world.exec("installer").ok(),
    );
    poll(
        "the learned file to reach the server",
        Duration::from_secs(30),
        || {
            let (_, found) = world.http("GET", "/audit?computer=e2e-host&kind=learned", None);
            found.to_string().contains("/installer").then_some(())
        },
    );
    let (status, answer) = world.http("DELETE", "/computers/e2e-host/maintenance", None);
    assert_eq!(status, 200, "{answer}");
    poll(
        "the end of the mode to reach the agent",
        Duration::from_secs(30),
        || (world.exec("installer") == Err(EPERM)).then_some(()),
    );
    let status = run(portcullis()
        .args(["agent", "status", "--state"])
        .arg(&world.agent_state));
    let status: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["computer"], "e2e-host");
    assert_eq!(status["view"]["verified"], true, "{status}");
    drop(agent);
    drop(server);
}

/// A private authority and a certificate it signed for 127.0.0.1, made by openssl:
/// (the server's certificate, its key, the authority's certificate).
fn certificate(dir: &Path) -> Option<(PathBuf, PathBuf, PathBuf)> {
    let openssl = |args: &[&str]| {
        Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let ec = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes";
    let authority =
        format!("req -x509 {ec} -days 2 -subj /CN=Test-Authority -keyout ca.key -out ca.pem");
    let request = format!("req {ec} -subj /CN=127.0.0.1 -keyout server.key -out server.csr");
    std::fs::write(
        dir.join("ext.cnf"),
        "basicConstraints=critical,CA:FALSE\nsubjectAltName=IP:127.0.0.1\n",
    )
    .ok()?;
    let sign = "x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile ext.cnf -out server.pem";
    for args in [authority.as_str(), request.as_str(), sign] {
        if !openssl(&args.split(' ').collect::<Vec<_>>()) {
            return None;
        }
    }
    Some((
        dir.join("server.pem"),
        dir.join("server.key"),
        dir.join("ca.pem"),
    ))
}

/// Needs neither root nor fanotify: enrolling fetches and verifies the first view.
#[test]
fn over_tls_an_agent_enrolls_only_trusting_the_authority_it_is_given() {
    let dir = tempfile::tempdir().unwrap();
    let Some(tls) = certificate(dir.path()) else {
        return skip("over TLS needs openssl to make a certificate authority");
    };
    let authority = tls.2.clone();
    let mount = dir.path().join("unused");
    let (world, _server) = World::start(dir, mount, Some(tls));
    assert!(world.url.starts_with("https://"), "{}", world.url);
    let enroll = |ca: Option<&Path>, hostname: &str| {
        let mut command = portcullis();
        command
            .args(["agent", "enroll", "--hostname", hostname, "--server"])
            .arg(&world.url)
            .arg("--key")
            .arg(world.install_key(hostname))
            .arg("--state")
            .arg(world.dir.path().join(hostname));
        if let Some(ca) = ca {
            command.arg("--server-ca").arg(ca);
        }
        command.output().unwrap()
    };
    let untrusted = enroll(None, "tls-1");
    assert!(!untrusted.status.success());
    assert!(
        String::from_utf8_lossy(&untrusted.stderr).contains("cannot reach the server"),
        "{}",
        String::from_utf8_lossy(&untrusted.stderr)
    );
    let trusted = enroll(Some(&authority), "tls-2");
    assert!(
        trusted.status.success(),
        "{}",
        String::from_utf8_lossy(&trusted.stderr)
    );
    let view = std::fs::read_to_string(world.dir.path().join("tls-2/view.json")).unwrap();
    assert!(view.contains("tls-2"), "the first view is kept: {view}");
}

/// Many execs at once against one worker and a queue of one, failing closed: every one
/// is answered (none hangs), and none runs.
#[test]
fn under_overload_every_exec_is_answered() {
    let Some((dir, mount, _mounted)) = tmpfs() else {
        return;
    };
    let (world, _server) = World::start(dir, mount, None);
    let key = world.install_key("busy");
    run(portcullis()
        .args([
            "agent",
            "enroll",
            "--hostname",
            "busy-host",
            "--key",
            &key,
            "--server",
        ])
        .arg(&world.url)
        .arg("--state")
        .arg(&world.agent_state));
    let config = world.dir.path().join("agent.json");
    std::fs::write(
        &config,
        json!({"workers": 1, "queue": 1, "deadline_ms": 60_000, "fail": "deny"}).to_string(),
    )
    .unwrap();
    let config = config.display().to_string();
    let agent = match world.agent_with("busy.log", &["--config", &config]) {
        Ok(agent) => agent,
        Err(log) if log.contains("fanotify is not available") => {
            return skip(&format!("needs fanotify: {log}"));
        }
        Err(log) => panic!("the agent did not start: {log}"),
    };
    std::fs::copy("/bin/true", world.mount.join("tool")).unwrap();
    let tool = world.mount.join("tool");
    let threads: Vec<_> = (0..64)
        .map(|_| {
            let tool = tool.clone();
            std::thread::spawn(move || {
                Command::new(&tool)
                    .stdout(Stdio::null())
                    .status()
                    .map(|_| ())
                    .map_err(|e| e.raw_os_error())
            })
        })
        .collect();
    for thread in threads {
        assert_eq!(thread.join().unwrap(), Err(Some(EPERM)));
    }
    drop(agent);
}
