//! The API against its own OpenAPI document, fuzzed: schemathesis generates thousands
//! of calls from the document (valid and not) with an administrator's token and checks
//! that none is a server error, and that every status and content type is one the
//! document promises. A real `portcullis serve` on a fresh state, on loopback.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

fn portcullis(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(args)
        .current_dir(dir)
        .env_remove("PORTCULLIS_STATE")
        .env_remove("PORTCULLIS_SERVER")
        .env_remove("PORTCULLIS_TOKEN")
        .output()
        .unwrap()
}

struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn generated_calls_get_no_server_error_and_only_documented_answers() {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::write(
        dir.path().join("root.pass"),
        "correct horse battery staple\n",
    )
    .unwrap();
    let bundle = root.join("examples/bundle.json");
    let init = portcullis(
        dir.path(),
        &[
            "init",
            "--state",
            "s",
            "--bundle",
            bundle.to_str().unwrap(),
            "--admin",
            "root",
            "--name",
            "Root",
            "--password-file",
            "root.pass",
        ],
    );
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["serve", "--state", "s", "--listen", "127.0.0.1:0"])
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.path().join("serve.log")).unwrap())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _server = Server(child);
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_owned();
    let token = portcullis(
        dir.path(),
        &[
            "token",
            "create",
            "--server",
            &url,
            "--admin",
            "root",
            "--password-file",
            "root.pass",
            "--name",
            "fuzz",
            "--out",
            "root.token",
        ],
    );
    assert!(
        token.status.success(),
        "{}",
        String::from_utf8_lossy(&token.stderr)
    );
    let secret = std::fs::read_to_string(dir.path().join("root.token")).unwrap();
    let run = Command::new("python3")
        .args([
            "-m",
            "schemathesis.cli",
            "run",
            &format!("{url}/api/v1/openapi.json"),
        ])
        .args(["-H", &format!("Authorization: Bearer {}", secret.trim())])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance",
        ])
        .args(["--max-examples", "25", "--seed", "7", "--no-color"])
        .current_dir(dir.path())
        .output()
        .expect("python3 -m schemathesis.cli (scripts/test installs schemathesis)");
    let report = String::from_utf8_lossy(&run.stdout);
    let log = std::fs::read_to_string(dir.path().join("serve.log")).unwrap_or_default();
    assert!(
        run.status.success(),
        "schemathesis found failures:\n{report}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(report.contains("passed"), "{report}");
    assert!(
        !log.contains("\"status\":500"),
        "a call failed on the server: {log}"
    );
}
