//! The README's walk-through through a server, run as written: `portcullis serve` in
//! the background, a token made with a password, Ann invited, the request approved
//! through the API; then the same state probed as a script would, and the server
//! stopped with SIGTERM, which it survives gracefully.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use portcullis_testkit::readme::{steps, Step};

/// The address the README uses; the test's server listens where the system chose.
const README_ADDRESS: &str = "127.0.0.1:8443";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

struct Walk {
    dir: tempfile::TempDir,
    env: BTreeMap<String, String>,
    address: String,
    server: Option<Child>,
}

impl Walk {
    fn portcullis(&self, args: &[String]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_portcullis"))
            .args(args)
            .current_dir(self.dir.path())
            .env_remove("PORTCULLIS_STATE")
            .env_remove("PORTCULLIS_ADMIN")
            .env_remove("PORTCULLIS_TOKEN")
            .env_remove("PORTCULLIS_SERVER")
            .envs(&self.env)
            .output()
            .unwrap()
    }

    fn here(&self, text: &str) -> String {
        text.replace(README_ADDRESS, &self.address)
    }

    /// `portcullis serve … &`: started, and its address read from its first line.
    fn serve(&mut self, step: &Step) {
        let mut args: Vec<String> = step.words[1..]
            .iter()
            .filter(|w| *w != "&")
            .map(|w| w.replace(README_ADDRESS, "127.0.0.1:0"))
            .collect();
        args.retain(|a| !a.is_empty());
        let log = std::fs::File::create(self.dir.path().join("serve.log")).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_portcullis"))
            .args(&args)
            .current_dir(self.dir.path())
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
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("serve printed {line:?}; its log: {}", self.log()));
        self.address = url.to_owned();
        for expected in &step.expected {
            assert_eq!(self.here(expected), line.trim());
        }
        self.server = Some(child);
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("serve.log")).unwrap_or_default()
    }

    fn run(&mut self, step: &Step) {
        if step.is_portcullis() && step.words.get(1).is_some_and(|w| w == "serve") {
            return self.serve(step);
        }
        if step.words[0] == "export" {
            let (key, value) = step.words[1].split_once('=').unwrap();
            let value = self.here(value);
            self.env.insert(key.to_owned(), value);
            return;
        }
        let output = if step.is_portcullis() {
            let args: Vec<String> = step.words[1..].iter().map(|w| self.here(w)).collect();
            self.portcullis(&args)
        } else {
            Command::new("sh")
                .args(["-c", &step.line])
                .current_dir(self.dir.path())
                .output()
                .unwrap()
        };
        let stdout = text(&output.stdout);
        assert!(
            output.status.success(),
            "{} failed: {stdout}{}\nthe server's log:\n{}",
            step.line,
            text(&output.stderr),
            self.log()
        );
        for line in &step.expected {
            let line = self.here(line.trim_end_matches('…').trim_end());
            assert!(
                stdout.contains(&line),
                "{} printed {stdout:?}, not {line:?}",
                step.line
            );
        }
    }

    fn json(&self, args: &[&str], token: &str) -> serde_json::Value {
        let mut argv: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
        argv.extend(["--token-file", token, "--json"].map(str::to_owned));
        let output = self.portcullis(&argv);
        assert!(
            output.status.success(),
            "{args:?}: {}",
            text(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).unwrap()
    }
}

impl Drop for Walk {
    fn drop(&mut self) {
        if let Some(mut server) = self.server.take() {
            let _ = server.kill();
            let _ = server.wait();
        }
    }
}

#[test]
fn the_readme_walkthrough_through_a_server_runs_as_written() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let walk_steps = steps(&readme, &["## The server"]);
    assert!(walk_steps.len() >= 12, "{walk_steps:?}");
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(root().join("examples"), dir.path().join("examples")).unwrap();
    let mut walk = Walk {
        dir,
        env: BTreeMap::new(),
        address: String::new(),
        server: None,
    };
    for step in &walk_steps {
        walk.run(step);
    }

    // The same state through the server, as a script would see it: what local mode
    // shows (the README's local walk-through checks the same fields).
    let approved = walk.json(&["requests", "list", "--status", "approved"], "ann.token");
    assert_eq!(approved[0]["id"], 1);
    assert_eq!(approved[0]["closure"]["by"], "ann");
    assert_eq!(approved[0]["closure"]["approval"]["scope"], "computer");
    assert!(
        approved[0]["file"].is_string(),
        "the copy was uploaded: {approved}"
    );
    let decision = walk.json(&["decide", "examples/request/blocked.json"], "root.token");
    assert_eq!(decision["decision"], "allow");
    assert_eq!(decision["policy"], "approval-1");
    let history = walk.json(&["history"], "root.token");
    assert_eq!(history[0]["version"], 2);
    let verified = walk.json(&["audit", "verify"], "root.token");
    assert!(verified["verified"].as_u64().unwrap() >= 5, "{verified}");
    let signed_in = walk.json(
        &["audit", "search", "--system", "--kind", "sign-in"],
        "root.token",
    );
    assert!(signed_in.as_array().unwrap().len() >= 2, "{signed_in}");

    // Ann may not do what her grant does not cover, through the server as locally.
    let output = walk.portcullis(
        &[
            "approve",
            "--token-file",
            "ann.token",
            "1",
            "--scope",
            "group",
        ]
        .map(str::to_owned),
    );
    assert!(!output.status.success());
    assert!(text(&output.stderr).contains("request 1 is already approved"));
    let output = walk.portcullis(&["history", "--token-file", "ann.token"].map(str::to_owned));
    assert!(!output.status.success());
    assert!(
        text(&output.stderr).contains("`ann` may not deploy policies"),
        "{}",
        text(&output.stderr)
    );

    // SIGTERM: the server finishes and exits successfully.
    let mut server = walk.server.take().unwrap();
    let killed = Command::new("kill")
        .arg(server.id().to_string())
        .status()
        .unwrap();
    assert!(killed.success());
    let status = server.wait().unwrap();
    assert!(status.success(), "serve exited {status:?}: {}", walk.log());
    assert!(walk.log().contains("shutting down"), "{}", walk.log());
    // Delivery is not configured here: queued notifications wait, and nothing is logged
    // as failing.
    assert!(!walk.log().contains("\"level\":\"WARN\""), "{}", walk.log());
}
