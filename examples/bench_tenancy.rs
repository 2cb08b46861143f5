//! The control plane on a large tenancy (docs/PERFORMANCE.md, "The control plane on
//! the large tenancy"): `portcullis gen` makes the fleet, `init` stores it, and a
//! release `portcullis serve` on loopback (SQLite) is timed as an administrator's
//! script would see it, through the API:
//!
//! 1. start-up until it listens, and the first filing (which compiles the tenancy);
//! 2. `--requests` filings, one at a time, each for a different file on a computer of
//!    the fleet (from the generated events);
//! 3. `--reads` reads of the whole queue (`GET /requests`), of its first page
//!    (`?limit=50`) and of one request;
//! 4. `--approvals` approvals, one at a time, each at computer scope by hash: from the
//!    call until its answer, which comes once the new snapshot decided the execution
//!    allowed;
//! 5. the server's resident memory at each step, and the bytes each approval's
//!    bundle version takes in the database.
//!
//! Run: `scripts/bench-tenancy` (builds the release binaries first).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

mod support;

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::{json, Value};
use support::{memory, run, Sample, Server};

struct Args {
    portcullis: PathBuf,
    size: String,
    requests: usize,
    reads: usize,
    approvals: usize,
    keep: Option<PathBuf>,
}

fn args() -> Args {
    let mut args = Args {
        portcullis: std::env::current_exe()
            .unwrap()
            .parent()
            .and_then(Path::parent)
            .unwrap()
            .join("portcullis"),
        size: "large".to_owned(),
        requests: 1_000,
        reads: 200,
        approvals: 100,
        keep: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| usage(&flag));
        let number = |v: String| v.parse::<usize>().unwrap_or_else(|_| usage(&v));
        match flag.as_str() {
            "--portcullis" => args.portcullis = PathBuf::from(value()),
            "--size" => args.size = value(),
            "--requests" => args.requests = number(value()),
            "--reads" => args.reads = number(value()),
            "--approvals" => args.approvals = number(value()),
            "--keep" => args.keep = Some(PathBuf::from(value())),
            _ => usage(&flag),
        }
    }
    assert!(
        args.approvals <= args.requests,
        "--approvals must not exceed --requests"
    );
    args
}

fn usage(at: &str) -> ! {
    eprintln!(
        "bench_tenancy: unexpected `{at}`\nusage: bench_tenancy [--portcullis PATH] \
         [--size small|medium|large|xlarge] [--requests N] [--reads N] [--approvals N] \
         [--keep DIR]"
    );
    std::process::exit(2)
}

fn mib(bytes: u64) -> String {
    format!("{:.0} MiB", bytes as f64 / f64::from(1 << 20))
}

fn main() {
    let args = args();
    let temp = tempfile::tempdir().unwrap();
    let dir = args.keep.clone().unwrap_or_else(|| temp.path().to_owned());
    let fleet = dir.join("fleet");
    let started = Instant::now();
    run(Server::cli(&args.portcullis)
        .args(["gen", "--size", &args.size, "--events", "20000", "--out"])
        .arg(&fleet));
    println!(
        "gen --size {}: {:.1} s, bundle {}",
        args.size,
        started.elapsed().as_secs_f64(),
        mib(std::fs::metadata(fleet.join("bundle.json")).unwrap().len())
    );
    let started = Instant::now();
    let server = Server::start(&args.portcullis, &dir, &fleet.join("bundle.json"));
    let database = dir.join("state").join("state.db");
    println!(
        "init and serve: {:.1} s in all; serve listened {:.2} s after it started; \
         resident {}; state.db {}",
        started.elapsed().as_secs_f64(),
        server.started_in.as_secs_f64(),
        mib(memory(server.pid(), "VmRSS")),
        mib(std::fs::metadata(&database).unwrap().len())
    );

    // Events of the fleet, each given a file of its own: denied by default.
    let events: Vec<Value> =
        std::io::BufReader::new(std::fs::File::open(fleet.join("events.jsonl")).unwrap())
            .lines()
            .map(|line| serde_json::from_str(&line.unwrap()).unwrap())
            .collect();
    let mut filed = Vec::new();
    let mut filing = Vec::new();
    let mut refused = 0usize;
    let mut n = 0usize;
    let mut first = None;
    while filed.len() < args.requests {
        let mut event = events[n % events.len()].clone();
        n += 1;
        assert!(n < args.requests * 10 + 100, "too many filings refused");
        event["sha256"] = json!(format!("{:064x}", 0xb0b0_0000_u64 + n as u64));
        event["signature"] = json!({"status": "unsigned"});
        event["elevation"] = json!(false);
        event["time"] = json!(now());
        let body = json!({"event": event, "message": "bench"});
        let start = Instant::now();
        let (status, answer) = server.api("POST", "/requests", Some(body));
        let took = start.elapsed();
        if first.is_none() {
            first = Some(took);
            println!(
                "first filing (compiles the tenancy): {:.2} s, status {status}; resident {}",
                took.as_secs_f64(),
                mib(memory(server.pid(), "VmRSS"))
            );
        }
        if status == 201 {
            filing.push(took);
            filed.push(answer["request"]["id"].as_i64().unwrap());
        } else {
            if refused == 0 {
                println!("first refusal: {status} {answer}");
            }
            refused += 1;
        }
    }
    println!(
        "filings, one at a time, ms: {} ({} refused: the event was not denied)",
        Sample::of(&filing).line(1e3, ""),
        refused
    );
    println!(
        "resident after filing: {}",
        mib(memory(server.pid(), "VmRSS"))
    );

    let mut queue = Vec::new();
    let mut page = Vec::new();
    let mut one = Vec::new();
    for i in 0..args.reads {
        let start = Instant::now();
        let (status, answer) = server.api("GET", "/requests", None);
        queue.push(start.elapsed());
        assert_eq!(status, 200, "{answer}");
        let start = Instant::now();
        let (status, answer) = server.api("GET", "/requests?limit=50", None);
        page.push(start.elapsed());
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer.as_array().map(Vec::len), Some(50.min(filed.len())));
        let id = filed[i % filed.len()];
        let start = Instant::now();
        let (status, answer) = server.api("GET", &format!("/requests/{id}"), None);
        one.push(start.elapsed());
        assert_eq!(status, 200, "{answer}");
    }
    println!(
        "queue read (GET /requests, {} pending), ms: {}",
        filed.len(),
        Sample::of(&queue).line(1e3, "")
    );
    println!(
        "queue page (GET /requests?limit=50, newest first), ms: {}",
        Sample::of(&page).line(1e3, "")
    );
    println!(
        "request read (GET /requests/ID), ms: {}",
        Sample::of(&one).line(1e3, "")
    );

    let stored = |sql: &str| -> i64 {
        let db = rusqlite::Connection::open_with_flags(
            &database,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap();
        db.query_row(sql, [], |r| r.get::<_, Option<i64>>(0))
            .unwrap()
            .unwrap_or(0)
    };
    let last = stored("SELECT MAX(version) FROM bundles");
    let mut approving = Vec::new();
    for id in filed.iter().take(args.approvals) {
        let body = json!({"scope": "computer", "match": "hash"});
        let start = Instant::now();
        let (status, answer) = server.api("POST", &format!("/requests/{id}/approve"), Some(body));
        approving.push(start.elapsed());
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["proof"]["decision"], "allow", "{answer}");
    }

    println!(
        "approvals, one at a time (until the new snapshot allows), ms: {}",
        Sample::of(&approving).line(1e3, "")
    );
    let versions = stored(&format!(
        "SELECT COUNT(*) FROM bundles WHERE version > {last}"
    ));
    let bytes = stored(&format!(
        "SELECT SUM(LENGTH(bundle)) + SUM(COALESCE(LENGTH(change), 0)) FROM bundles WHERE version > {last}"
    ));
    println!(
        "the approvals stored {versions} bundle versions, {bytes} bytes ({} bytes each)",
        bytes / versions.max(1)
    );
    println!(
        "resident at the end: {}; peak {}",
        mib(memory(server.pid(), "VmRSS")),
        mib(memory(server.pid(), "VmHWM"))
    );
    drop(server);
}

fn now() -> String {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    portcullis_engine::model::Timestamp::from_unix(i64::try_from(seconds).unwrap()).to_string()
}
