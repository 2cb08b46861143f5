//! `portcullis plugin attach|list|detach --server`: the server loads the plugin and
//! runs its vectors, as the command line does on a state directory.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn portcullis(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(args)
        .env_remove("PORTCULLIS_STATE")
        .env_remove("PORTCULLIS_SERVER")
        .env_remove("PORTCULLIS_TOKEN")
        .env_remove("PORTCULLIS_ADMIN")
        .output()
        .unwrap()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn plugins_are_attached_listed_and_detached_through_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let password = dir.path().join("root.pass");
    std::fs::write(&password, "correct horse battery staple\n").unwrap();
    let (state_s, password_s) = (state.to_str().unwrap(), password.to_str().unwrap());
    let bundle = root().join("examples/bundle.json");
    ok(&portcullis(&[
        "init",
        "--state",
        state_s,
        "--bundle",
        bundle.to_str().unwrap(),
        "--admin",
        "root",
        "--name",
        "Root",
        "--password-file",
        password_s,
    ]));
    let mut server = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["serve", "--state", state_s, "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_owned();
    let token = dir.path().join("root.token");
    let token_s = token.to_str().unwrap();
    ok(&portcullis(&[
        "token",
        "create",
        "--server",
        &url,
        "--admin",
        "root",
        "--password-file",
        password_s,
        "--name",
        "laptop",
        "--out",
        token_s,
    ]));
    let remote = ["--server", url.as_str(), "--token-file", token_s];
    let plugin = root().join("plugins/examples/rego/known-bad.rego");
    let vectors = root().join("plugins/examples/vectors/known-bad");
    let mut attach = vec![
        "plugin",
        "attach",
        plugin.to_str().unwrap(),
        "--org",
        "northwind",
        "--vectors",
        vectors.to_str().unwrap(),
        "--config",
        "hashes=00",
    ];
    attach.extend(remote);
    let attached = ok(&portcullis(&attach));
    assert!(
        attached.contains(
            "plugin `known-bad` (approval-review, 4 vectors passed) attached to `northwind`"
        ),
        "{attached}"
    );
    let mut list = vec!["plugin", "list"];
    list.extend(remote);
    let listed = ok(&portcullis(&list));
    assert!(
        listed.contains("northwind") && listed.contains("known-bad.rego"),
        "{listed}"
    );
    let mut detach = vec!["plugin", "detach", "known-bad", "--org", "northwind"];
    detach.extend(remote);
    ok(&portcullis(&detach));
    assert!(ok(&portcullis(&list)).contains("no plugins attached"));
    server.kill().unwrap();
    server.wait().unwrap();
}
