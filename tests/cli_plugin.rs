#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! `portcullis plugin check` and `portcullis plugin test`, run as a user would.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::json;

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("plugins/examples")
}

/// The compile cache of these tests, not the user's: the one the plugin tests share
/// (`target/tmp/plugin-cache`), so a large component is compiled once per build
/// directory.
fn cache() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("plugin-cache")
}

fn portcullis(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(args)
        .env("PORTCULLIS_PLUGIN_CACHE", cache())
        .current_dir(examples())
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

#[test]
fn check_names_the_world_and_version() {
    for (file, world, kind) in [
        (
            "components/trusted-publisher.wasm",
            "approval-review",
            "component",
        ),
        (
            "components/known-bad-c.wasm",
            "approval-review",
            "component",
        ),
        ("components/user-writable.wasm", "rule", "component"),
        ("rego/user-writable.rego", "rule", "rego"),
    ] {
        let output = portcullis(&["plugin", "check", file]);
        assert!(output.status.success(), "{file}: {}", stderr(&output));
        let json: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
        assert_eq!(json["world"], world, "{file}");
        assert_eq!(json["kind"], kind, "{file}");
        assert_eq!(
            json["contract"],
            format!("portcullis:plugin/{world}@0.1.0"),
            "{file}"
        );
        // The example policies run on regorus's virtual machine; components have no
        // evaluator to report.
        let evaluator = if kind == "rego" {
            json!("vm")
        } else {
            json!(null)
        };
        assert_eq!(json["evaluator"], evaluator, "{file}");
    }
}

#[test]
fn check_lists_the_imports_the_host_does_not_provide() {
    let output = portcullis(&["plugin", "check", "components/hostile.wasm"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let json: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    let unprovided = json["unprovided_imports"].as_array().unwrap();
    assert!(
        unprovided
            .iter()
            .any(|i| i.as_str().unwrap().starts_with("wasi:sockets/tcp@0.2.")),
        "{json}"
    );
    let output = portcullis(&["plugin", "check", "components/known-bad.wasm"]);
    let json: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(json["unprovided_imports"], json!([]), "{json}");
    // The compile was kept, named by the component's SHA-256.
    let bytes = std::fs::read(examples().join("components/known-bad.wasm")).unwrap();
    let sha = portcullis_engine::identity::sha256_bytes(&bytes).to_string();
    let cached = std::fs::read_dir(cache())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .any(|name| name.starts_with(&sha) && name.ends_with(".cwasm"));
    assert!(cached, "no artifact of {sha} in {}", cache().display());
}

#[test]
fn the_python_and_javascript_examples_pass_their_vectors() {
    for (file, vectors) in [
        ("components/known-bad-py.wasm", "vectors/known-bad"),
        (
            "components/trusted-publisher-js.wasm",
            "vectors/trusted-publisher",
        ),
    ] {
        let output = portcullis(&["plugin", "test", file, "--vectors", vectors]);
        assert!(
            output.status.success(),
            "{file}: {}{}",
            stdout(&output),
            stderr(&output)
        );
        assert!(stdout(&output).contains("all vectors pass"), "{file}");
    }
}

#[test]
fn check_says_when_a_policy_runs_on_the_interpreter() {
    let dir = std::env::temp_dir().join(format!("portcullis-cli-print-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let policy = dir.join("prints.rego");
    std::fs::write(
        &policy,
        "package portcullis.rule\nverdict := {\"verdict\": \"abstain\"} if print(input.path)\n",
    )
    .unwrap();
    let output = portcullis(&["plugin", "check", policy.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    let json: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(json["evaluator"], "interpreter");
    assert!(
        json["evaluator_reason"]
            .as_str()
            .is_some_and(|r| r.contains("print")),
        "{json}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn check_says_why_a_file_is_rejected() {
    let dir = std::env::temp_dir().join(format!("portcullis-cli-plugin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let garbage = dir.join("garbage.wasm");
    std::fs::write(&garbage, b"\0asm but not really").unwrap();
    let output = portcullis(&["plugin", "check", garbage.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("garbage.wasm"),
        "{}",
        stderr(&output)
    );
    assert!(
        stderr(&output).contains("not a WebAssembly component"),
        "{}",
        stderr(&output)
    );

    let policy = dir.join("other.rego");
    std::fs::write(&policy, "package acme\nverdict := 1\n").unwrap();
    let output = portcullis(&["plugin", "check", policy.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("targets no supported world"),
        "{}",
        stderr(&output)
    );

    let output = portcullis(&["plugin", "check", "does-not-exist.wasm"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("cannot read `does-not-exist.wasm`"),
        "{}",
        stderr(&output)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn test_prints_the_verdict_and_the_time() {
    let output = portcullis(&[
        "plugin",
        "test",
        "components/trusted-publisher.wasm",
        "--request",
        "requests/contoso.json",
        "--config",
        "publishers=CN=Contoso Ltd, O=Contoso Ltd",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let json: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(json["verdict"]["verdict"], "approve");
    assert_eq!(json["verdict"]["options"]["scope"], "computer");
    assert!(json["elapsed_us"].as_u64().is_some());
    assert_eq!(json["logs"][0]["level"], "info");

    // Without the setting, the same request abstains.
    let output = portcullis(&[
        "plugin",
        "test",
        "rego/trusted-publisher.rego",
        "--request",
        "requests/contoso.json",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let json: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(json["verdict"]["verdict"], "abstain");

    let output = portcullis(&[
        "plugin",
        "test",
        "components/user-writable.wasm",
        "--request",
        "requests/downloads-execution.json",
    ]);
    let json: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(json["verdict"]["verdict"], "deny");
}

#[test]
fn a_contained_failure_exits_1_and_abstains() {
    let output = portcullis(&[
        "plugin",
        "test",
        "components/hostile.wasm",
        "--request",
        "requests/contoso.json",
        "--config",
        "mode=trap",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(json["verdict"]["verdict"], "abstain");
    assert_eq!(json["failure"]["kind"], "trap");
}

#[test]
fn vectors_print_a_table_and_fail_on_a_mismatch() {
    for plugin in [
        "components/known-bad.wasm",
        "components/known-bad-c.wasm",
        "rego/known-bad.rego",
    ] {
        let output = portcullis(&["plugin", "test", plugin, "--vectors", "vectors/known-bad"]);
        assert!(
            output.status.success(),
            "{plugin}: {}{}",
            stdout(&output),
            stderr(&output)
        );
        let out = stdout(&output);
        assert_eq!(
            out.lines().filter(|l| l.starts_with("pass")).count(),
            4,
            "{out}"
        );
        assert!(out.contains("all vectors pass"));
    }
    // The trusted-publisher plugin does not reject known-bad files.
    let output = portcullis(&[
        "plugin",
        "test",
        "components/trusted-publisher.wasm",
        "--vectors",
        "vectors/known-bad",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let out = stdout(&output);
    assert!(out.contains("FAIL"), "{out}");
    assert!(out.contains("vector(s) failed"), "{out}");
}
