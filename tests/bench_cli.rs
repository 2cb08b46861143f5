//! `portcullis gen` and `portcullis bench`, run as a user would run them, at the small
//! size. Nothing here is timed: the tests check what is written and the shape of the
//! report, never how fast anything was.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn portcullis(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("portcullis-bench-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn generate(dir: &Path, events: usize) {
    let output = portcullis(&[
        "gen",
        "--size",
        "small",
        "--seed",
        "3",
        "--events",
        &events.to_string(),
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{output:?}");
    let summary: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["organizations"], 10);
    assert_eq!(summary["computers"], 1000);
    assert_eq!(summary["rules"], 10_200);
}

#[test]
fn gen_writes_a_bundle_that_compiles_and_events_that_decide() {
    let dir = temp_dir("gen");
    generate(&dir, 200);
    let bundle = dir.join("bundle.json");
    let events = dir.join("events.jsonl");
    let check = portcullis(&["check", bundle.to_str().unwrap()]);
    assert!(check.status.success(), "{check:?}");
    let text = std::fs::read_to_string(&events).unwrap();
    assert_eq!(text.lines().count(), 200);
    let eval = portcullis(&[
        "eval",
        "--bundle",
        bundle.to_str().unwrap(),
        "--events",
        events.to_str().unwrap(),
    ]);
    assert!(eval.status.success(), "{eval:?}");
    let decisions: Vec<Value> = String::from_utf8(eval.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(decisions.len(), 200);
    // The default mix is mostly hits: most events are decided by a policy.
    let by_policy = decisions.iter().filter(|d| d["policy"].is_string()).count();
    assert!(by_policy > 120, "{by_policy} of 200");
    // The same seed gives the same files.
    let again = temp_dir("gen-again");
    generate(&again, 200);
    assert_eq!(
        std::fs::read(&bundle).unwrap(),
        std::fs::read(again.join("bundle.json")).unwrap()
    );
    assert_eq!(
        text,
        std::fs::read_to_string(again.join("events.jsonl")).unwrap()
    );
}

#[test]
fn bench_reports_every_figure_as_json() {
    let dir = temp_dir("bench");
    generate(&dir, 300);
    let output = portcullis(&[
        "bench",
        "--bundle",
        dir.join("bundle.json").to_str().unwrap(),
        "--events",
        dir.join("events.jsonl").to_str().unwrap(),
        "--seconds",
        "0.05",
        "--baseline-seconds",
        "0.05",
        "--repeats",
        "3",
        "--json",
    ]);
    assert!(output.status.success(), "{output:?}");
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["scenario"], "given");
    let method = report["latency_method"].as_str().unwrap();
    assert!(method.contains("then 3 more decided"), "{method}");
    assert_eq!(report["events"], 300);
    assert_eq!(report["rules"], 10_200);
    assert_eq!(report["redeploy_recompiled"], 1);
    for key in ["compile_ms", "redeploy_ms"] {
        assert!(report[key].is_number(), "{key}");
    }
    for key in [
        "one_thread_per_s",
        "all_threads_per_s",
        "threads",
        "one_computer_per_s",
    ] {
        assert!(report["throughput"][key].as_f64().unwrap() > 0.0, "{key}");
    }
    // One computer's share of the 300 events: at least the first, never all of a
    // fleet of ten organizations.
    let agent = report["throughput"]["one_computer_events"]
        .as_u64()
        .unwrap();
    assert!((1..300).contains(&agent), "{agent}");
    for latency in ["latency", "latency_cold"] {
        for key in ["p50_ns", "p99_ns", "p999_ns"] {
            assert!(report[latency][key].is_number(), "{latency} {key}");
        }
        assert_eq!(report[latency]["samples"], 300, "{latency}");
    }
    for key in [
        "rss_before_kib",
        "rss_after_kib",
        "peak_kib",
        "bytes_per_rule",
    ] {
        assert!(report["memory"][key].is_number(), "{key}");
    }
    assert!(report["under_deploy"]["deploys_per_second"].is_number());
    for key in ["idle", "deploying", "idle_cold", "deploying_cold"] {
        assert!(report["under_deploy"][key]["p99_ns"].is_number(), "{key}");
    }
    for key in ["p99_ratio", "cold_p99_ratio"] {
        assert!(report["under_deploy"][key].as_f64().unwrap() > 0.0, "{key}");
    }
    let baselines = report["baselines"].as_array().unwrap();
    let names: Vec<&str> = baselines
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["reference", "rego"]);
    for baseline in baselines {
        assert!(baseline["sampled"].as_u64().unwrap() >= 1, "{baseline}");
        for key in [
            "speedup",
            "speedup_warm",
            "indexed_mean_ns",
            "indexed_warm_mean_ns",
        ] {
            assert!(baseline[key].as_f64().unwrap() > 0.0, "{key}: {baseline}");
        }
    }
    // Rego decides with the same policy as the engine on every sampled event, on
    // regorus's virtual machine unless asked for the interpreter.
    assert_eq!(baselines[1]["same_policy"], baselines[1]["sampled"]);
    assert_eq!(baselines[1]["evaluator"], "vm");
    assert!(report["machine"]["cpu"].is_string());
}

#[test]
fn bench_generates_a_scenario_and_rejects_unknown_ones() {
    let output = portcullis(&[
        "bench",
        "--size",
        "small",
        "--scenario",
        "path-hit",
        "--count",
        "200",
        "--seconds",
        "0.05",
        "--no-rego",
        "--no-reference",
        "--no-deploy-load",
        "--json",
    ]);
    assert!(output.status.success(), "{output:?}");
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["scenario"], "path-hit");
    assert_eq!(report["input"]["size"], "small");
    assert_eq!(report["baselines"].as_array().unwrap().len(), 0);
    assert!(report["under_deploy"].is_null());

    let output = portcullis(&["bench", "--size", "small", "--scenario", "bogus"]);
    assert!(!output.status.success());
    assert!(String::from_utf8(output.stderr)
        .unwrap()
        .contains("unknown scenario `bogus`"));
    let output = portcullis(&["bench", "--size", "huge"]);
    assert!(String::from_utf8(output.stderr)
        .unwrap()
        .contains("unknown size `huge`"));
    let output = portcullis(&["bench", "--size", "small", "--repeats", "0"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("--repeats"), "{stderr}");
}

#[test]
fn the_stream_bench_decides_every_kind_with_every_baseline_and_they_agree() {
    let output = portcullis(&[
        "bench",
        "--stream",
        "--stream-customers",
        "3",
        "--stream-events",
        "30",
        "--rounds",
        "2",
        "--baseline-seconds",
        "5",
        "--json",
    ]);
    assert!(output.status.success(), "{output:?}");
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["fleet"]["customers"], 3);
    for kind in ["deny-hash", "hash-hit", "cert-hit", "path-hit", "miss"] {
        let row = &report["kinds"][kind];
        assert_eq!(row["events"], 30, "{kind}");
        let baselines: &[&str] = if cfg!(feature = "cedar") {
            &["plain_map", "regorus", "cedar"]
        } else {
            &["plain_map", "regorus"]
        };
        for baseline in baselines {
            assert_eq!(
                row[baseline]["same"], row[baseline]["events"],
                "{kind} {baseline}"
            );
            assert!(
                row[baseline]["events"].as_u64().unwrap() > 0,
                "{kind} {baseline}"
            );
        }
        let allowed = row["allowed"].as_u64().unwrap();
        match kind {
            "deny-hash" | "miss" => assert_eq!(allowed, 0, "{kind}"),
            _ => assert_eq!(allowed, 30, "{kind}"),
        }
    }
}
