//! The `portcullis` command line, run as a user would run it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn portcullis(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(args)
        .current_dir(root())
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

fn temp_file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("portcullis-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn check_accepts_the_example() {
    let output = portcullis(&["check", "examples/bundle.json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("is valid"));
}

#[test]
fn check_names_every_error_with_line_and_column() {
    let text = std::fs::read_to_string(root().join("examples/bundle.json"))
        .unwrap()
        .replace(
            r#""group": "harbor-ws", "name": "HP-PARALEGAL-01""#,
            r#""group": "harbour-ws", "name": "HP-PARALEGAL-01""#,
        )
        .replace(
            r#""path": "/opt/cad/bin/*""#,
            r#""path": "%OPTDIR%\\cad\\*""#,
        );
    let bundle = temp_file("broken.json", &text);
    let output = portcullis(&["check", bundle.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(err.contains("2 errors"), "{err}");
    let group_line = text.lines().position(|l| l.contains("harbour-ws")).unwrap() + 1;
    assert!(
        err.contains(&format!(":{group_line}:"))
            && err.contains(
                "computers[3].group (computer `harbor-pc-01`): unknown group `harbour-ws`"
            ),
        "{err}"
    );
    assert!(
        err.contains("applications[10].rules[0].path (application `cad-suite`)"),
        "{err}"
    );
    assert!(err.contains("%OPTDIR%"), "{err}");
}

#[test]
fn check_names_every_value_of_the_wrong_type_too() {
    let text = std::fs::read_to_string(root().join("examples/bundle.json"))
        .unwrap()
        .replace(r#""position": 1100,"#, r#""position": "last","#)
        .replace(r#""os": "linux"}"#, r#""os": "plan9"}"#);
    let bundle = temp_file("types.json", &text);
    let output = portcullis(&["check", bundle.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    let wrong = text.matches(r#""position": "last""#).count() + text.matches("plan9").count();
    assert!(wrong >= 2, "the example changed");
    assert!(err.contains(&format!("{wrong} errors")), "{err}");
    let os_line = text.lines().position(|l| l.contains("plan9")).unwrap() + 1;
    assert!(err.contains(&format!(":{os_line}:")), "{err}");
    assert!(
        err.contains("policies[") && err.contains("].position"),
        "{err}"
    );
}

#[test]
fn eval_decides_the_example_events_in_order() {
    let output = portcullis(&[
        "eval",
        "--bundle",
        "examples/bundle.json",
        "--events",
        "examples/events.jsonl",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let events = std::fs::read_to_string(root().join("examples/events.jsonl")).unwrap();
    let decisions: Vec<serde_json::Value> = stdout(&output)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        decisions.len(),
        events.lines().filter(|l| !l.trim().is_empty()).count()
    );
    let policies: Vec<&str> = decisions
        .iter()
        .map(|d| d["policy"].as_str().unwrap_or("-"))
        .collect();
    assert_eq!(
        policies,
        [
            "permit-chrome",
            "permit-windows",
            "deny-powershell",
            "permit-powershell-servers",
            "-",
            "elevate-scanner",
            "-",
            "deny-known-bad",
            "permit-casetrack",
            "-",
            "permit-linux-base",
            "-",
            "permit-lab-scripts",
            "-",
            "-"
        ]
    );
    assert_eq!(decisions[6]["mode"], "learning");
    assert_eq!(decisions[13]["would_deny"], true);
    assert_eq!(
        decisions[14]["problems"][0],
        "the computer is not in the bundle"
    );
}

#[test]
fn eval_reads_one_event_from_stdin_and_explains() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["eval", "--bundle", "examples/bundle.json", "--explain", "-"])
        .current_dir(root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let event = std::fs::read_to_string(root().join("examples/events.jsonl")).unwrap();
    let powershell = event.lines().nth(2).unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(powershell.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let explanation: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(explanation["decision"], "deny");
    assert_eq!(
        explanation["normalized_path"],
        r"c:\windows\system32\windowspowershell\v1.0\powershell.exe"
    );
    let traces = explanation["policies"].as_array().unwrap();
    let first = &traces[0];
    assert_eq!(first["policy"], "deny-known-bad");
    assert_eq!(first["status"], "no_match");
    let decided: Vec<&serde_json::Value> =
        traces.iter().filter(|t| t["status"] == "decided").collect();
    assert_eq!(decided.len(), 1);
    assert_eq!(decided[0]["policy"], "deny-powershell");
}

#[test]
fn eval_reports_bad_event_lines_and_keeps_going() {
    let events = temp_file(
        "events.jsonl",
        "{\"computer\": \"lab-ws-01\", \"user\": \"dana\", \"path\": \"/usr/bin/ls\", \"sha256\": \"zz\", \"time\": \"2026-11-22T09:00:00Z\"}\n\
         {\"computer\": \"lab-ws-01\", \"user\": \"dana\", \"path\": \"/usr/bin/ls\", \"sha256\": \"4355a46b19d348dc2f57c046f8ef63d4538ebb936000f3c9ee954a27460dd865\", \"time\": \"2026-11-22T09:00:00Z\"}\n",
    );
    let output = portcullis(&[
        "eval",
        "--bundle",
        "examples/bundle.json",
        "--events",
        events.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1));
    let lines: Vec<serde_json::Value> = stdout(&output)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["line"], 1);
    assert!(
        lines[0]["error"].as_str().unwrap().contains("sha256"),
        "{}",
        lines[0]
    );
    assert_eq!(lines[1]["decision"], "allow");
    assert!(stderr(&output).contains("1 of 2 events"));
}

#[test]
fn schema_is_the_published_one() {
    let output = portcullis(&["schema"]);
    assert!(output.status.success());
    let printed: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    let published: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("docs/bundle.schema.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        printed, published,
        "docs/bundle.schema.json is stale: regenerate it with `portcullis schema`"
    );
    let output = portcullis(&["schema", "--event"]);
    let printed: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    let published: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("docs/event.schema.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        printed, published,
        "docs/event.schema.json is stale: regenerate it with `portcullis schema --event`"
    );
}
