//! The README's walk-through (blocked → requested → approved → allowed), run command by
//! command from the README itself, then the same state probed with `--json`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;
use std::process::{Command, Output};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn run(args: &[String]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(args)
        .current_dir(root())
        .env_remove("PORTCULLIS_STATE")
        .env_remove("PORTCULLIS_ADMIN")
        .output()
        .unwrap()
}

/// `examples/request/blocked.json`, to change a field of.
fn blocked_event() -> serde_json::Value {
    let text = std::fs::read_to_string(root().join("examples/request/blocked.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// A state directory in a temporary directory, and the command line run on it.
struct StateDir {
    dir: tempfile::TempDir,
    state: String,
}

impl StateDir {
    fn new() -> StateDir {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("s").to_str().unwrap().to_owned();
        StateDir { dir, state }
    }

    /// `init` from the example bundle, with `root` as the first administrator.
    fn init_example(&self) {
        self.ok(&[
            "init",
            "--bundle",
            "examples/bundle.json",
            "--admin",
            "root",
            "--name",
            "Root",
        ]);
    }

    /// Runs `portcullis ARGS --state DIR`.
    fn cmd(&self, args: &[&str]) -> Output {
        let mut argv: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
        argv.extend(["--state".to_owned(), self.state.clone()]);
        run(&argv)
    }

    /// Runs it, asserts it succeeded, and returns its standard output.
    fn ok(&self, args: &[&str]) -> String {
        let output = self.cmd(args);
        assert!(
            output.status.success(),
            "{args:?}: {}{}",
            text(&output.stdout),
            text(&output.stderr)
        );
        text(&output.stdout)
    }

    /// Runs it, asserts it failed with `message` on standard error.
    fn fails(&self, args: &[&str], message: &str) {
        let output = self.cmd(args);
        assert!(!output.status.success(), "{args:?} succeeded");
        let stderr = text(&output.stderr);
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
}

/// The commands of the README's "Requests and approvals" section, each with the
/// output it promises (from `# …` comments), in order.
fn walkthrough() -> Vec<(Vec<String>, Vec<String>)> {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    // The walk-through, and the plugin section that continues it on the same state;
    // commands that are not `portcullis` (`cargo run …`) are left out with what they
    // print.
    portcullis_testkit::readme::steps(&readme, &["## Requests and approvals", "## Plugins"])
        .into_iter()
        .filter(|step| step.is_portcullis())
        .map(|step| (step.words[1..].to_vec(), step.expected))
        .collect()
}

#[test]
fn the_readme_walkthrough_runs_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("demo");
    let state = state.to_str().unwrap();
    let commands = walkthrough();
    assert!(commands.len() >= 9, "{commands:?}");
    for (argv, expected) in &commands {
        let argv: Vec<String> = argv
            .iter()
            .map(|a| {
                if a == "demo" {
                    state.to_owned()
                } else {
                    a.clone()
                }
            })
            .collect();
        let output = run(&argv);
        let stdout = text(&output.stdout);
        assert!(
            output.status.success(),
            "{argv:?} failed: {}{}",
            stdout,
            text(&output.stderr)
        );
        for line in expected {
            let line = line.trim_end_matches('…').trim_end();
            assert!(
                stdout.contains(line),
                "{argv:?} printed {stdout:?}, not {line:?}"
            );
        }
    }

    // The same state, probed as a script would.
    let json = |args: &[&str]| -> serde_json::Value {
        let mut argv: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
        argv.extend(["--state".to_owned(), state.to_owned(), "--json".to_owned()]);
        let output = run(&argv);
        assert!(
            output.status.success(),
            "{args:?}: {}",
            text(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).unwrap()
    };
    let approved = json(&["requests", "list", "--as", "ann", "--status", "approved"]);
    assert_eq!(approved[0]["id"], 1);
    assert_eq!(approved[0]["closure"]["by"], "ann");
    assert_eq!(approved[0]["closure"]["approval"]["scope"], "computer");
    let decision = json(&["decide", "examples/request/blocked.json"]);
    assert_eq!(decision["decision"], "allow");
    assert_eq!(decision["policy"], "approval-1");
    let history = json(&["history"]);
    assert_eq!(history[0]["version"], 2);
    assert_eq!(history[0]["reason"], "approve request 1");
    let verified = json(&["audit", "verify", "--as", "root"]);
    assert!(verified["verified"].as_u64().unwrap() >= 5);
    let mut file = dir.path().join("copy.exe").to_str().unwrap().to_owned();
    json(&["requests", "file", "--as", "ann", "1", "--out", &file]);
    assert_eq!(
        std::fs::read(&file).unwrap(),
        std::fs::read(root().join("examples/request/labelprint.exe")).unwrap()
    );
    file.clear();
}

#[test]
fn refusals_and_bad_input_say_what_and_change_nothing() {
    let st = StateDir::new();
    let ok = |args: &[&str]| st.ok(args);
    let fails = |args: &[&str], message: &str| st.fails(args, message);
    fails(
        &["decide", "examples/request/blocked.json"],
        "holds no state",
    );
    ok(&[
        "init",
        "--bundle",
        "examples/bundle.json",
        "--admin",
        "root",
        "--name",
        "Root",
    ]);
    fails(
        &[
            "init",
            "--bundle",
            "examples/bundle.json",
            "--admin",
            "root",
            "--name",
            "Root",
        ],
        "already initialized",
    );
    ok(&[
        "request",
        "examples/request/blocked.json",
        "--message",
        "please",
    ]);
    ok(&[
        "admin", "add", "--as", "root", "viv", "--name", "Viv", "--org", "lakeside",
    ]);
    ok(&[
        "grant",
        "--as",
        "root",
        "viv",
        "--org",
        "lakeside",
        "--permission",
        "View Approvals",
    ]);
    // View Approvals lists the queue but cannot open a request.
    assert!(ok(&["requests", "list", "--as", "viv"]).contains("lakeside-fd-01"));
    fails(
        &["requests", "show", "--as", "viv", "1"],
        "needs Approve for Entire Organization",
    );
    fails(
        &["approve", "--as", "viv", "1"],
        "may not approve application requests",
    );
    // Nobody changes their own permissions.
    fails(
        &[
            "grant",
            "--as",
            "viv",
            "viv",
            "--org",
            "lakeside",
            "--permission",
            "super-admin",
        ],
        "their own permissions",
    );
    fails(
        &[
            "grant",
            "--as",
            "root",
            "viv",
            "--org",
            "lakeside",
            "--permission",
            "approve-all",
        ],
        "not a permission",
    );
    fails(
        &["approve", "--as", "root", "42"],
        "request `42` does not exist",
    );
    fails(
        &["approve", "--as", "ghost", "1"],
        "administrator `ghost` does not exist",
    );
    fails(
        &[
            "approve",
            "--as",
            "root",
            "1",
            "--scope",
            "group",
            "--target",
            "harbor-ws",
        ],
        "does not contain `lakeside-fd-01`",
    );
    fails(
        &[
            "request",
            "examples/request/blocked.json",
            "--message",
            "x",
            "--attach",
            "examples/bundle.json",
        ],
        "SHA-256",
    );
    fails(
        &[
            "maintenance",
            "--as",
            "viv",
            "lakeside-fd-01",
            "--mode",
            "learning",
            "--until",
            "2099-01-01T00:00:00Z",
        ],
        "Edit Computers",
    );
    // Nothing above changed the deployed bundle.
    assert!(ok(&["history"]).lines().count() == 1);
    ok(&[
        "reject",
        "--as",
        "root",
        "1",
        "--reason",
        "not on the approved list",
    ]);
    fails(&["approve", "--as", "root", "1"], "already rejected");
}

use portcullis_testkit::servers;

#[test]
fn notifications_from_the_command_line_reach_a_real_smtp_server() {
    let st = StateDir::new();
    let dir = &st.dir;
    let smtp = servers::SmtpServer::start(servers::free_port(), dir.path());
    let state = st.state.as_str();
    let cmd = |args: &[&str]| st.ok(args);
    cmd(&[
        "init",
        "--bundle",
        "examples/bundle.json",
        "--admin",
        "root",
        "--name",
        "Root",
    ]);
    let settings = dir.path().join("notify.json");
    std::fs::write(
        &settings,
        serde_json::json!({
            "link_base": "https://portcullis.test",
            "email": {"host": "127.0.0.1", "port": smtp.port, "tls": "none",
                      "from": "portcullis@northwind.example"},
        })
        .to_string(),
    )
    .unwrap();
    cmd(&[
        "notify",
        "configure",
        "--as",
        "root",
        "--file",
        settings.to_str().unwrap(),
    ]);
    cmd(&[
        "admin",
        "add",
        "--as",
        "root",
        "ann",
        "--name",
        "Ann",
        "--org",
        "lakeside",
        "--email",
        "ann@lakeside.example",
    ]);
    // Being told of requests needs the permission to open them.
    cmd(&[
        "grant",
        "--as",
        "root",
        "ann",
        "--org",
        "lakeside",
        "--permission",
        "approve-computer",
    ]);
    let on = cmd(&[
        "admin",
        "notify",
        "--as",
        "ann",
        "ann",
        "--kind",
        "application",
        "--email",
    ]);
    assert!(on.contains("by email"), "{on}");
    // SMS without a phone number is refused.
    let refused = run(&[
        "admin".into(),
        "notify".into(),
        "--as".into(),
        "ann".into(),
        "ann".into(),
        "--kind".into(),
        "application".into(),
        "--sms".into(),
        "--state".into(),
        state.into(),
    ]);
    assert!(text(&refused.stderr).contains("phone number"));
    cmd(&[
        "request",
        "examples/request/blocked.json",
        "--message",
        "labels",
        "--email",
        "amy@lakeside.example",
    ]);
    // ann, and the two addresses of Lakeside's default deny (one email, one SMS; SMS is
    // not configured here, so it waits in the outbox).
    let outbox = cmd(&["notify", "outbox", "--as", "root"]);
    assert!(
        outbox.contains("ann@lakeside.example") && outbox.contains("delivered"),
        "{outbox}"
    );
    assert!(
        outbox.contains("+15555550100") && outbox.contains("pending"),
        "{outbox}"
    );
    let mails = smtp.messages();
    let to: Vec<&str> = mails.iter().map(|m| m.to.as_str()).collect();
    assert_eq!(to, ["ann@lakeside.example", "it@lakeside.example"]);
    // The link in the message opens the request.
    let link = mails[0]
        .body
        .lines()
        .find(|l| l.starts_with("https://portcullis.test/requests/"))
        .unwrap()
        .to_owned();
    let shown = cmd(&["requests", "show", "--as", "root", &link]);
    assert!(
        shown.contains("request 1 (application, pending)"),
        "{shown}"
    );
    // Rejecting tells the requester.
    cmd(&[
        "reject",
        "--as",
        "root",
        "1",
        "--reason",
        "use the approved printer tool",
    ]);
    let rejected: Vec<_> = smtp
        .messages()
        .into_iter()
        .filter(|m| m.to == "amy@lakeside.example")
        .collect();
    assert_eq!(rejected.len(), 1);
    assert!(rejected[0].body.contains("use the approved printer tool"));
}

#[test]
fn attached_plugins_review_requests_and_check_allowed_executions() {
    let st = StateDir::new();
    let cmd = |args: &[&str]| st.cmd(args);
    let ok = |args: &[&str]| st.ok(args);
    ok(&[
        "init",
        "--bundle",
        "examples/bundle.json",
        "--admin",
        "root",
        "--name",
        "Root",
    ]);
    let blocked: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("examples/request/blocked.json")).unwrap(),
    )
    .unwrap();
    let sha = blocked["sha256"].as_str().unwrap().to_owned();

    // Vectors that do not pass: nothing is attached.
    let refused = cmd(&[
        "plugin",
        "attach",
        "--as",
        "root",
        "--org",
        "northwind",
        "plugins/examples/rego/trusted-publisher.rego",
        "--vectors",
        "plugins/examples/vectors/known-bad",
    ]);
    assert!(!refused.status.success());
    assert!(
        text(&refused.stderr).contains("nothing was attached"),
        "{}",
        text(&refused.stderr)
    );
    assert!(ok(&["plugin", "list"]).contains("no plugins attached"));

    // The MSP's known-bad component, with this file on its list, rejects the request.
    let hashes = format!("hashes={sha}");
    let attached = ok(&[
        "plugin",
        "attach",
        "--as",
        "root",
        "--org",
        "northwind",
        "plugins/examples/components/known-bad.wasm",
        "--vectors",
        "plugins/examples/vectors/known-bad",
        "--config",
        &hashes,
    ]);
    assert!(attached.contains("vectors passed"), "{attached}");
    let filed = ok(&[
        "request",
        "examples/request/blocked.json",
        "--message",
        "labels",
    ]);
    assert!(filed.contains("rejected by plugin:known-bad"), "{filed}");
    let shown = ok(&["requests", "show", "--as", "root", "1"]);
    assert!(shown.contains("rejected by plugin:known-bad"), "{shown}");
    ok(&[
        "plugin",
        "detach",
        "--as",
        "root",
        "known-bad",
        "--org",
        "northwind",
    ]);

    // Approved by a person; then Lakeside's rule policy denies unsigned files run from
    // a Downloads folder, though a policy allows it.
    ok(&[
        "request",
        "examples/request/blocked.json",
        "--message",
        "labels again",
    ]);
    ok(&["approve", "--as", "root", "2"]);
    assert!(ok(&["decide", "examples/request/blocked.json"]).starts_with("allow"));
    ok(&[
        "plugin",
        "attach",
        "--as",
        "root",
        "--org",
        "lakeside",
        "plugins/examples/rego/user-writable.rego",
        "--vectors",
        "plugins/examples/vectors/user-writable",
    ]);
    let decided = ok(&["decide", "examples/request/blocked.json"]);
    assert!(
        decided.starts_with("deny (rule plugin `user-writable`"),
        "{decided}"
    );
    let audit = ok(&[
        "audit", "search", "--as", "root", "--kind", "deny", "--json",
    ]);
    assert!(audit.contains("labelprint.exe"));
}

#[test]
fn control_characters_from_users_are_printed_inert() {
    let s = StateDir::new();
    s.init_example();
    let mut event = blocked_event();
    event["user"] =
        serde_json::json!("LAKESIDE\\amy\r\n   7  pending  fake request\u{1b}]0;owned\u{7}");
    let path = s.dir.path().join("hostile.json");
    std::fs::write(&path, event.to_string()).unwrap();
    s.ok(&[
        "request",
        path.to_str().unwrap(),
        "--message",
        "labels\u{1b}[2J\u{9b}31m\nsecond line",
    ]);
    for args in [
        &["requests", "list", "--as", "root"][..],
        &["requests", "show", "--as", "root", "1"][..],
    ] {
        let out = s.ok(args);
        assert!(
            !out.chars().any(|c| c.is_control() && c != '\n'),
            "{args:?} printed a control character: {out:?}"
        );
        assert!(
            out.contains("\\r\\n   7  pending  fake request\\u{1b}]0;owned\\u{7}"),
            "{out}"
        );
        assert!(!out.contains("\n   7  pending"), "{out}");
    }
    let shown = s.ok(&["requests", "show", "--as", "root", "1"]);
    assert!(
        shown.contains("labels\\u{1b}[2J\\u{9b}31m\\nsecond line"),
        "{shown}"
    );
    // JSON keeps the text exactly, escaped as JSON.
    let json = s.ok(&["requests", "show", "--as", "root", "1", "--json"]);
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value["message"], "labels\u{1b}[2J\u{9b}31m\nsecond line");
}

#[test]
fn the_elevation_hint_names_the_command_that_files_it() {
    let s = StateDir::new();
    s.init_example();
    let mut event = blocked_event();
    event["elevation"] = serde_json::json!(true);
    event["path"] = serde_json::json!("C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe");
    event["sha256"] =
        serde_json::json!("1b4f0e9851971998e732078544c96b36c3d01cedf7caa332359d6f1d83567014");
    event["signature"] = serde_json::json!(
        {"status": "valid", "signers": [{"subject": "CN=Google LLC, O=Google LLC"}]}
    );
    let path = s.dir.path().join("elevate.json");
    std::fs::write(&path, event.to_string()).unwrap();
    let out = s.ok(&["decide", path.to_str().unwrap()]);
    assert!(
        out.contains("may request elevation access (`portcullis request --kind elevation`)"),
        "{out}"
    );
    // The hint works as written.
    let filed = s.ok(&[
        "request",
        path.to_str().unwrap(),
        "--kind",
        "elevation",
        "--message",
        "installer",
    ]);
    assert!(filed.contains("(elevation, pending)"), "{filed}");
}
