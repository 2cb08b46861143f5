//! Benchmarks of the Linux agent (docs/PERFORMANCE.md, "The agent"): a real
//! `portcullis serve` on loopback, a real `portcullis agent run` enforcing with
//! fanotify on a tmpfs this program mounts in a temporary directory (the only mount
//! marked; unmounted at the end, even after a failure), and:
//!
//! 1. **exec cost**: a copy of `/bin/true` run from the marked tmpfs and from a second,
//!    unmarked tmpfs, one after the other, `--execs` times each; the difference is
//!    what the agent adds to an exec. Before the agent starts, the same pairs run
//!    with nothing marked, as a control. Then the agent's own decision (what a worker
//!    does for one event) timed in this process on the agent's view, with a warm
//!    identity cache.
//! 2. **approval to enforcement**: `--approvals` files, each blocked, requested from
//!    the endpoint and approved through the API; the time from the approve response
//!    until the file runs.
//! 3. **fan-out** (`--fanout N[,N…]`): N enrolled computers long-polling `GET
//!    /api/v1/agent/changes` over real loopback connections from this process; one
//!    organization-wide approval, and the time until every one had its change, with the
//!    server's CPU time.
//!
//! Run as root on Linux: `scripts/bench-agent` (builds the release binaries first).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::fs::File;
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

mod support;

use portcullis_agent::enforce::Decider;
use portcullis_agent::{Config, HeldView, Verifier};
use portcullis_engine::identity::{IdentityCache, TrustRoots};
use portcullis_engine::model::Signature;
use portcullis_engine::Event;
use serde_json::{json, Value};
use support::{run, Killed, Sample, Server};

struct Args {
    portcullis: PathBuf,
    execs: usize,
    control: usize,
    decisions: usize,
    approvals: usize,
    fanout: Vec<usize>,
}

fn args() -> Args {
    let mut args = Args {
        portcullis: std::env::current_exe()
            .unwrap()
            .parent()
            .and_then(Path::parent)
            .unwrap()
            .join("portcullis"),
        execs: 10_000,
        control: 2_000,
        decisions: 100_000,
        approvals: 100,
        fanout: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| usage(&flag));
        let number = |v: String| v.parse::<usize>().unwrap_or_else(|_| usage(&v));
        match flag.as_str() {
            "--portcullis" => args.portcullis = PathBuf::from(value()),
            "--execs" => args.execs = number(value()),
            "--control" => args.control = number(value()),
            "--decisions" => args.decisions = number(value()),
            "--approvals" => args.approvals = number(value()),
            "--fanout" => {
                args.fanout = value()
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(|s| number(s.to_owned()))
                    .collect();
            }
            _ => usage(&flag),
        }
    }
    args
}

fn usage(at: &str) -> ! {
    eprintln!(
        "bench_agent: unexpected `{at}`\nusage: bench_agent [--portcullis PATH] [--execs N] \
         [--control N] [--decisions N] [--approvals N] [--fanout N,N…]"
    );
    std::process::exit(2)
}

/// A tmpfs this program mounted; unmounted when dropped, even after a failure.
struct Mounted(PathBuf);

impl Mounted {
    fn new(at: PathBuf) -> Mounted {
        std::fs::create_dir_all(&at).unwrap();
        let status = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                "size=256m,mode=0755",
                "portcullis-bench",
            ])
            .arg(&at)
            .status()
            .unwrap();
        assert!(status.success(), "cannot mount a tmpfs at {}", at.display());
        Mounted(at)
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let unmounted = Command::new("umount")
            .arg(&self.0)
            .status()
            .is_ok_and(|s| s.success());
        if !unmounted {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
}

/// The server the agents talk to, with an install key for `acme`.
struct World {
    server: Server,
    key: String,
}

impl World {
    fn cli(&self) -> Command {
        Server::cli(&self.server.portcullis)
    }

    /// `portcullis init` and `serve` in `dir`, with `computers` Linux computers listed
    /// in the bundle (`fan-0`, `fan-1` …).
    fn start(portcullis: &Path, dir: &Path, computers: usize) -> World {
        std::fs::create_dir_all(dir).unwrap();
        let listed: Vec<Value> = (0..computers)
            .map(|n| json!({"id": format!("fan-{n}"), "name": format!("fan-{n}"), "group": "acme-linux", "os": "linux"}))
            .collect();
        let bundle = json!({"format": "portcullis.bundle/v1",
            "organizations": [{"id": "acme", "name": "Acme"}],
            "groups": [{"id": "acme-linux", "organization": "acme", "name": "Linux"}],
            "computers": listed, "applications": [], "policies": []});
        std::fs::write(dir.join("bundle.json"), bundle.to_string()).unwrap();
        let server = Server::start(portcullis, dir, &dir.join("bundle.json"));
        let (status, made) = server.api(
            "POST",
            "/install-keys",
            Some(json!({"name": "bench", "organization": "acme"})),
        );
        assert_eq!(status, 201, "{made}");
        World {
            server,
            key: made["key"].as_str().unwrap().to_owned(),
        }
    }

    fn call(&self, method: &str, path: &str, bearer: &str, body: Option<Value>) -> (u16, Value) {
        self.server.call(method, path, bearer, body)
    }

    fn api(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.server.api(method, path, body)
    }

    fn server_pid(&self) -> u32 {
        self.server.pid()
    }
}

/// Runs `path`: `Ok` when it ran, else the OS error number.
fn exec(path: &Path) -> Result<(), i32> {
    match Command::new(path).stdout(Stdio::null()).status() {
        Ok(_) => Ok(()),
        Err(e) => Err(e.raw_os_error().unwrap_or(-1)),
    }
}

fn timed_exec(path: &Path) -> Duration {
    let start = Instant::now();
    exec(path).unwrap_or_else(|e| panic!("{} did not run: error {e}", path.display()));
    start.elapsed()
}

/// A copy of `/bin/true` with `tag` appended, so that its hash is its own.
fn tool(path: &Path, tag: &str) {
    let mut bytes = std::fs::read("/bin/true").unwrap();
    bytes.extend_from_slice(tag.as_bytes());
    std::fs::write(path, bytes).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Runs the two paths one after the other `n` times; their times.
fn pairs(marked: &Path, plain: &Path, n: usize) -> (Vec<Duration>, Vec<Duration>) {
    let (mut a, mut b) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for i in 0..n {
        // Alternating which goes first, so that neither always follows the other.
        if i % 2 == 0 {
            a.push(timed_exec(marked));
            b.push(timed_exec(plain));
        } else {
            b.push(timed_exec(plain));
            a.push(timed_exec(marked));
        }
    }
    (a, b)
}

fn report_pairs(what: &str, marked: &[Duration], plain: &[Duration]) {
    let differences: Vec<f64> = marked
        .iter()
        .zip(plain)
        .map(|(a, b)| (a.as_secs_f64() - b.as_secs_f64()) * 1e6)
        .collect();
    let (m, p, d) = (
        Sample::of(marked),
        Sample::of(plain),
        Sample::from_micros(differences),
    );
    println!(
        "{what}: exec from the marked tmpfs, µs: {}",
        m.line(1.0, "")
    );
    println!(
        "{what}: exec from the plain tmpfs,  µs: {}",
        p.line(1.0, "")
    );
    println!(
        "{what}: added per exec: {:.2} µs (difference of medians); median of paired differences {:.2} µs",
        m.at(0.5) - p.at(0.5),
        d.at(0.5)
    );
}

fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after.split(' ').collect();
    // utime and stime are fields 14 and 15 of stat; `after` starts at field 3.
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

fn main() {
    let args = args();
    if portcullis_agent::euid() != 0 {
        eprintln!("bench_agent: run as root (fanotify and mounting a tmpfs)");
        std::process::exit(2);
    }
    assert!(
        args.portcullis.is_file(),
        "no portcullis binary at {} (build it, or give --portcullis)",
        args.portcullis.display()
    );
    let temp = tempfile::tempdir().unwrap();
    let marked = Mounted::new(temp.path().join("marked"));
    let plain = Mounted::new(temp.path().join("plain"));
    println!(
        "bench_agent: {} execs, {} control pairs, {} approvals, fan-out {:?}, on {} cores",
        args.execs,
        args.control,
        args.approvals,
        args.fanout,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    {
        let world = World::start(&args.portcullis, &temp.path().join("one"), 0);
        enforcement(&args, &world, &marked.0, &plain.0);
    }
    for &n in &args.fanout {
        let world = World::start(&args.portcullis, &temp.path().join(format!("fan{n}")), n);
        fanout(&world, n);
    }
    drop(marked);
    drop(plain);
}

fn enforcement(args: &Args, world: &World, marked: &Path, plain: &Path) {
    let agent_state = world.server.dir.join("agent");
    let socket = world.server.dir.join("agent.sock");
    run(world
        .cli()
        .args(["agent", "enroll", "--hostname", "bench-host", "--key"])
        .arg(&world.key)
        .arg("--server")
        .arg(&world.server.url)
        .arg("--state")
        .arg(&agent_state));
    tool(&marked.join("tool"), "");
    tool(&plain.join("tool"), "");

    // The control: nothing marked yet.
    let (a, b) = pairs(&marked.join("tool"), &plain.join("tool"), args.control);
    report_pairs("no agent (control)", &a, &b);

    let agent = start_agent(world, marked, "agent.log", &[]);
    assert_eq!(exec(&marked.join("tool")), Err(1), "the agent blocks");

    // Approval to enforcement: the first one also lets `tool` run for the exec cost.
    let mut from_response = Vec::new();
    let mut from_request = Vec::new();
    for i in 0..=args.approvals {
        let path = if i == 0 {
            marked.join("tool")
        } else {
            let path = marked.join(format!("app-{i}"));
            tool(&path, &format!("\n# bench approval {i}\n"));
            assert_eq!(exec(&path), Err(1), "{} is blocked", path.display());
            path
        };
        let request = request(world, &socket, &path);
        let sent = Instant::now();
        let (status, answer) = world.api(
            "POST",
            &format!("/requests/{request}/approve"),
            Some(json!({"scope": "computer", "match": "hash"})),
        );
        let answered = Instant::now();
        assert_eq!(status, 200, "{answer}");
        let until = answered + Duration::from_secs(30);
        while exec(&path).is_err() {
            assert!(
                Instant::now() < until,
                "approval {i} never reached the agent"
            );
        }
        let ran = Instant::now();
        if i > 0 {
            from_response.push(ran - answered);
            from_request.push(ran - sent);
        }
    }
    if args.approvals > 0 {
        let unit = 1000.0;
        println!(
            "approval to enforcement, ms, from the approve response: {}",
            Sample::of(&from_response).line(unit, "")
        );
        println!(
            "approval to enforcement, ms, from sending the approve:  {}",
            Sample::of(&from_request).line(unit, "")
        );
    }

    // The exec cost with the agent enforcing the marked tmpfs.
    let (a, b) = pairs(&marked.join("tool"), &plain.join("tool"), args.execs);
    report_pairs("agent enforcing", &a, &b);
    std::thread::sleep(Duration::from_secs(3));
    let (_, agents) = world.api("GET", "/agents", None);
    println!(
        "the agent's counts (health report): {}",
        agents[0]["report"]["answered"]
    );

    // The same with the tmpfs marked but excluded: each exec still goes through
    // fanotify and the agent's threads, without a decision.
    drop(agent);
    let excluded = marked.display().to_string();
    let agent = start_agent(
        world,
        marked,
        "agent-excluded.log",
        &["--exclude", &excluded],
    );
    let (a, b) = pairs(&marked.join("tool"), &plain.join("tool"), args.execs);
    report_pairs("agent marking, path excluded", &a, &b);
    drop(agent);

    decisions(args, &agent_state, &marked.join("tool"));
}

/// `portcullis agent run` enforcing on `marked`, started (health reported every second).
fn start_agent(world: &World, marked: &Path, log: &str, options: &[&str]) -> Killed {
    let config = world.server.dir.join("agent.json");
    std::fs::write(&config, json!({"health_seconds": 1}).to_string()).unwrap();
    let log_path = world.server.dir.join(log);
    let agent = Killed(
        world
            .cli()
            .args(["agent", "run", "--config"])
            .arg(&config)
            .args(options)
            .arg("--state")
            .arg(world.server.dir.join("agent"))
            .arg("--mount")
            .arg(marked)
            .arg("--socket")
            .arg(world.server.dir.join("agent.sock"))
            .stderr(File::create(&log_path).unwrap())
            .spawn()
            .unwrap(),
    );
    let until = Instant::now() + Duration::from_secs(60);
    while !std::fs::read_to_string(&log_path)
        .unwrap_or_default()
        .contains("\"enforcing\":true")
    {
        assert!(
            Instant::now() < until,
            "the agent did not start: {}",
            std::fs::read_to_string(&log_path).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    agent
}

/// `portcullis agent request` for the newest blocked execution of `path`.
fn request(world: &World, socket: &Path, path: &Path) -> i64 {
    let output = run(world
        .cli()
        .args([
            "agent",
            "request",
            "--no-file",
            "--message",
            "bench",
            "--socket",
        ])
        .arg(socket)
        .arg("--path")
        .arg(path));
    let answer: Value = serde_json::from_slice(&output.stdout).unwrap();
    answer["request"]
        .as_i64()
        .unwrap_or_else(|| panic!("no request: {answer}"))
}

/// What one worker does for one event, timed in this process on the agent's view:
/// `Decider::decide_cached` as the fanotify reader calls it (the descriptor's path, the
/// identity cache, the engine; `/proc` for the caller and user only when the view's
/// policies look at them), and its parts alone.
fn decisions(args: &Args, agent_state: &Path, tool: &Path) {
    if args.decisions == 0 {
        return;
    }
    let config = Config {
        state: agent_state.to_owned(),
        ..Config::default()
    };
    let enrollment = portcullis_agent::enrollment(&config).unwrap();
    let mut held = HeldView::new(
        &enrollment.computer,
        Verifier::from_base64(&enrollment.view_key).unwrap(),
        config.view_file(),
    );
    assert!(held.load().unwrap(), "the agent's view is on disk");
    let engine = Arc::clone(held.engine().unwrap());
    let spool_dir = tempfile::tempdir().unwrap();
    let spool = portcullis_agent::store::Spool::open(spool_dir.path(), 1000).unwrap();
    let decider = Decider::new(
        &enrollment.computer,
        Arc::clone(&engine),
        &config,
        Arc::new(Mutex::new(spool)),
    );
    // The caller: another process (the agent skips its own).
    let caller = Killed(Command::new("sleep").arg("600").spawn().unwrap());
    let pid = i32::try_from(caller.0.id()).unwrap();
    let file = File::open(tool).unwrap();
    assert!(
        decider.decide_exec(&file, pid),
        "the approved tool is allowed"
    );
    let n = args.decisions;
    let mut whole = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        let allowed = decider.decide_cached(&file, pid);
        whole.push(start.elapsed());
        assert_eq!(allowed, Some(true));
    }
    let handle = PathBuf::from(format!(
        "/proc/self/fd/{}",
        std::os::fd::AsRawFd::as_raw_fd(&file)
    ));
    let cache = IdentityCache::new(TrustRoots::none());
    let identity = cache.inspect_file(&file).unwrap();
    let mut inspect = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        let meta = file.metadata().unwrap();
        let _ = std::hint::black_box(cache.cached(&meta).unwrap());
        inspect.push(start.elapsed());
    }
    let event = Event {
        computer: enrollment.computer.clone(),
        user: "root".to_owned(),
        path: tool.display().to_string(),
        sha256: identity.sha256,
        signature: Signature::default(),
        size: Some(identity.size),
        authenticode_digest: None,
        parent: Some("/usr/bin/bash".to_owned()),
        created_by: None,
        elevation: false,
        time: portcullis_agent::enforce::now(),
    };
    let mut decide = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        let _ = std::hint::black_box(engine.decide(std::hint::black_box(&event)));
        decide.push(start.elapsed());
    }
    // What else a decision reads: the descriptor's path, the caller's user and program.
    let time = |what: &dyn Fn()| -> Sample {
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let start = Instant::now();
            what();
            out.push(start.elapsed());
        }
        Sample::of(&out)
    };
    let link = time(&|| {
        let _ = std::hint::black_box(std::fs::read_link(&handle));
    });
    let status = time(&|| {
        let _ = std::hint::black_box(portcullis_agent::enforce::process_uid(pid));
    });
    let exe = time(&|| {
        let _ = std::hint::black_box(std::fs::read_link(format!("/proc/{pid}/exe")));
    });
    println!(
        "one decision in the agent (Decider::decide_cached), µs: {}",
        Sample::of(&whole).line(1.0, "")
    );
    println!(
        "  identity cache hit (fstat, IdentityCache::cached), µs: {}",
        Sample::of(&inspect).line(1.0, "")
    );
    println!(
        "  engine decision (Engine::decide), µs:                {}",
        Sample::of(&decide).line(1.0, "")
    );
    println!(
        "  the descriptor's path (readlink /proc/self/fd/N), µs: {}",
        link.line(1.0, "")
    );
    println!(
        "  the caller's user (/proc/PID/status), µs:           {}",
        status.line(1.0, "")
    );
    println!(
        "  the caller's program (readlink /proc/PID/exe), µs:  {}",
        exe.line(1.0, "")
    );
    drop(caller);
}

/// N computers enrolled, each long-polling for changes on its own connection; one
/// organization-wide approval; how long until every one had its change.
fn fanout(world: &World, n: usize) {
    let enrolled = Instant::now();
    let credentials: Vec<String> = {
        let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let out = Arc::new(Mutex::new(vec![String::new(); n]));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (next, out) = (Arc::clone(&next), Arc::clone(&out));
                let (url, key) = (world.server.url.clone(), world.key.clone());
                std::thread::spawn(move || loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= n {
                        return;
                    }
                    let enrollment =
                        portcullis_agent::link::enroll(&url, &key, &format!("fan-{i}"), None)
                            .unwrap();
                    out.lock().unwrap()[i] = enrollment.credential;
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        Arc::try_unwrap(out).unwrap().into_inner().unwrap()
    };
    println!(
        "fan-out {n}: enrolled {n} computers in {:.1} s",
        enrolled.elapsed().as_secs_f64()
    );

    // A file blocked on two of them and requested from each: approved for the first
    // computer now (an organization's guardrail wants that first), and for the whole
    // organization once every agent waits.
    let file = |computer: usize| {
        let (status, filed) = world.call(
            "POST",
            "/agent/requests",
            &credentials[computer],
            Some(json!({"message": "fan-out", "event": {
                "computer": format!("fan-{computer}"), "user": "root", "path": "/opt/fan/tool",
                "sha256": format!("{:064x}", n), "time": "2026-01-01T00:00:00Z"}})),
        );
        assert_eq!(status, 201, "{filed}");
        filed["request"]["id"]
            .as_i64()
            .unwrap_or_else(|| panic!("{filed}"))
    };
    let first = file(0);
    let (status, answer) = world.api(
        "POST",
        &format!("/requests/{first}/approve"),
        Some(json!({"scope": "computer", "match": "hash"})),
    );
    assert_eq!(status, 200, "{answer}");
    let request = file(1.min(n - 1));
    let (status, view) = world.call("GET", "/agent/view", &credentials[0], None);
    assert_eq!(status, 200, "{view}");
    let payload: Value = serde_json::from_str(view["payload"].as_str().unwrap_or("null"))
        .unwrap_or_else(|_| view["payload"].clone());
    let revision = payload["revision"]
        .as_i64()
        .unwrap_or_else(|| panic!("{view}"));

    let address = world.server.url.trim_start_matches("http://").to_owned();
    let ready = Arc::new(Barrier::new(n + 1));
    let threads: Vec<_> = credentials
        .into_iter()
        .enumerate()
        .map(|(i, credential)| {
            // Connections opened a hundred at a time, so that the listen queue keeps up.
            if i % 100 == 99 {
                std::thread::sleep(Duration::from_millis(20));
            }
            let (ready, address) = (Arc::clone(&ready), address.clone());
            std::thread::Builder::new()
                .stack_size(64 * 1024)
                .spawn(move || {
                    let sent = TcpStream::connect(&address).and_then(|mut stream| {
                        write!(
                            stream,
                            "GET /api/v1/agent/changes?since={revision}&wait=120 HTTP/1.1\r\n\
                             Host: {address}\r\nAuthorization: Bearer {credential}\r\n\
                             Connection: close\r\n\r\n"
                        )?;
                        Ok(stream)
                    });
                    ready.wait();
                    let mut stream = sent.map_err(|e| e.to_string())?;
                    let mut first = [0u8; 1];
                    stream.read_exact(&mut first).map_err(|e| e.to_string())?;
                    let at = Instant::now();
                    let mut rest = Vec::new();
                    stream.read_to_end(&mut rest).map_err(|e| e.to_string())?;
                    let text = String::from_utf8_lossy(&rest);
                    let change = text.contains("200 OK")
                        && text.contains(r#"\"kind\":\"change\""#)
                        && !text.contains(r#"\"entries\":[]"#);
                    Ok::<_, String>((at, change))
                })
                .unwrap()
        })
        .collect();
    ready.wait();
    // Every request is sent; give the server time to read them all and wait (a
    // long-poll waits 20 s at most, from when the server read it).
    std::thread::sleep(Duration::from_secs(3));
    let cpu_before = cpu_seconds(world.server_pid());
    let sent = Instant::now();
    let (status, answer) = world.api(
        "POST",
        &format!("/requests/{request}/approve"),
        Some(json!({"scope": "organization", "match": "hash", "justification": "fan-out bench"})),
    );
    let answered = Instant::now();
    assert_eq!(status, 200, "{answer}");
    let mut latencies = Vec::with_capacity(n);
    let (mut changed, mut failed) = (0, Vec::new());
    for thread in threads {
        match thread.join().unwrap() {
            Ok((at, change)) => {
                latencies.push(at.saturating_duration_since(sent));
                changed += usize::from(change);
            }
            Err(e) => failed.push(e),
        }
    }
    let cpu = cpu_seconds(world.server_pid()) - cpu_before;
    let all = Sample::of(&latencies);
    println!(
        "fan-out {n}: the approve answered in {:.1} ms; from sending it, ms, until each agent's answer: {}",
        (answered - sent).as_secs_f64() * 1e3,
        all.line(1000.0, "")
    );
    println!(
        "fan-out {n}: {changed} of {n} answers carried a change, {} connections failed{}; the server's CPU time {cpu:.2} s",
        failed.len(),
        failed.first().map(|e| format!(" (first: {e})")).unwrap_or_default()
    );
}
