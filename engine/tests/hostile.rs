//! Hostile bundles: each is rejected with the error of the limit it breaks (kind, place
//! and message), or compiles and answers within the limits. No test here times
//! anything; `measure_hostile_inputs` (ignored by default) prints the times that
//! docs/ROBUSTNESS.md quotes:
//!
//! ```text
//! cargo test --release --test hostile -- --ignored --nocapture
//! ```
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::Instant;

use portcullis_engine::model::{Computer, Organization};
use portcullis_engine::{Bundle, Engine};
use portcullis_engine::{
    CompileError, CompileErrors, EntryKind, ErrorKind, Event, Limits, Outcome, Snapshot,
};
use serde_json::{json, Value};

/// One organization, group and Windows computer; one application with `rules`; one
/// policy permitting it.
fn bundle_with_rules(rules: Value) -> Value {
    json!({
        "format": "portcullis.bundle/v1",
        "organizations": [{"id": "acme", "name": "Acme"}],
        "groups": [{"id": "ws", "organization": "acme", "name": "Workstations"}],
        "computers": [{"id": "pc-1", "group": "ws", "name": "PC-1", "os": "windows"}],
        "applications": [{"id": "tools", "organization": "acme", "name": "Tools",
                          "rules": rules}],
        "policies": [{"id": "allow-tools", "scope": {"organization": "acme"},
                      "position": 10, "applications": ["tools"], "action": "permit"}]
    })
}

fn plain() -> Value {
    bundle_with_rules(json!([{"path": r"C:\Tools\*.exe"}]))
}

fn event(path: &str) -> Event {
    Event::from_json(
        &json!({"computer": "pc-1", "user": "ACME\\ann", "path": path,
                "time": "2026-11-22T10:00:00Z",
                "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"})
        .to_string(),
    )
    .unwrap()
}

/// The one error of a rejected compile, which must be a limit error.
fn only_limit_error(result: Result<Snapshot, CompileErrors>) -> CompileError {
    let errors = result.expect_err("the bundle must be rejected");
    assert_eq!(errors.errors().len(), 1, "{errors}");
    let error = errors.errors()[0].clone();
    assert_eq!(error.kind, ErrorKind::Limit, "{error}");
    error
}

#[test]
fn deeply_nested_json_is_rejected_before_parsing() {
    let depth = 100_000;
    let text = format!(
        r#"{{"format": "portcullis.bundle/v1", "organizations": {}{}}}"#,
        "[".repeat(depth),
        "]".repeat(depth)
    );
    let error = only_limit_error(Snapshot::compile_json(&text));
    assert_eq!(error.entry, EntryKind::Bundle);
    // The 33rd `[` (the bundle's object is level 1) is where the limit is crossed.
    assert_eq!(error.location, Some((1, 52 + 32)));
    assert_eq!(
        error.to_string(),
        "1:84: arrays and objects nest more than 32 deep (`max_json_depth`)"
    );
}

#[test]
fn raising_the_depth_limit_leaves_deep_json_to_the_parser_which_rejects_it() {
    let limits = Limits {
        max_json_depth: 1_000_000,
        ..Limits::default()
    };
    let depth = 100_000;
    let text = format!(
        r#"{{"format": "portcullis.bundle/v1", "organizations": {}{}}}"#,
        "[".repeat(depth),
        "]".repeat(depth)
    );
    let errors = Engine::builder()
        .limits(limits)
        .snapshot_json(&text)
        .unwrap_err();
    let error = &errors.errors()[0];
    assert_eq!(error.kind, ErrorKind::Syntax, "{error}");
    assert_eq!(
        error.to_string(),
        "1:54: organizations[0][0]: invalid type: sequence, expected a string"
    );
}

#[test]
fn a_huge_string_in_text_is_rejected_where_it_starts() {
    let mut bundle = plain();
    bundle["organizations"][0]["name"] = json!("x".repeat(10 << 20));
    let text = serde_json::to_string_pretty(&bundle).unwrap();
    let error = only_limit_error(Snapshot::compile_json(&text));
    let (line, _) = error.location.expect("a location");
    let at = text.lines().nth(line - 1).unwrap().trim();
    assert!(at.starts_with(r#""name": "xxxx"#), "line {line}");
    assert!(
        error
            .message
            .contains("a string longer than 32768 bytes (`max_string_bytes`)"),
        "{error}"
    );
}

#[test]
fn a_huge_string_in_a_bundle_value_is_rejected_with_its_place() {
    let mut bundle: Bundle = serde_json::from_value(plain()).unwrap();
    bundle.computers[0].name = "n".repeat(40_000);
    let error = only_limit_error(Snapshot::compile(&bundle));
    assert_eq!(error.entry, EntryKind::Computer);
    assert_eq!(error.id.as_deref(), Some("pc-1"));
    assert_eq!(error.path, "computers[0].name");
    assert_eq!(
        error.message,
        "the text is 40000 bytes; the limit is 32768 bytes (`max_string_bytes`)"
    );
    // A huge id is not repeated in the message about it.
    bundle.computers[0].name = "PC-1".into();
    bundle.computers[0].id = "i".repeat(40_000);
    let error = only_limit_error(Snapshot::compile(&bundle));
    assert_eq!(error.path, "computers[0].id");
    assert_eq!(error.id, None);
}

#[test]
fn a_bundle_over_the_byte_limit_is_rejected_unread() {
    let text = format!("{}{}", plain(), " ".repeat(64 << 20));
    let error = only_limit_error(Snapshot::compile_json(&text));
    assert_eq!(
        error.message,
        format!(
            "the bundle is {} bytes; the limit is 67108864 bytes (`max_bundle_bytes`)",
            text.len()
        )
    );
    assert_eq!(error.location, None);
}

#[test]
fn too_many_entries_of_one_kind_are_rejected_without_walking_them() {
    let limits = Limits {
        max_entries: 1_000,
        ..Limits::default()
    };
    let mut bundle: Bundle = serde_json::from_value(plain()).unwrap();
    let computer = bundle.computers[0].clone();
    bundle.computers = (0..1_001)
        .map(|n| Computer {
            id: format!("pc-{n}"),
            ..computer.clone()
        })
        .collect();
    let organization = bundle.organizations[0].clone();
    bundle.organizations = (0..1_001)
        .map(|n| Organization {
            id: format!("org-{n}"),
            ..organization.clone()
        })
        .collect();
    let errors = Engine::builder()
        .limits(limits)
        .snapshot(&bundle)
        .unwrap_err();
    let messages: Vec<String> = errors.errors().iter().map(|e| e.to_string()).collect();
    assert_eq!(
        messages,
        [
            "organizations: 1001 organizations; the limit is 1000 entries of each kind (`max_entries`)",
            "computers: 1001 computers; the limit is 1000 entries of each kind (`max_entries`)",
        ]
    );
    assert!(errors.errors().iter().all(|e| e.kind == ErrorKind::Limit));
    // Within the limit, the same number compiles as far as the limits go (the copies
    // share ids and fail for that, not for their number).
    let within = Limits {
        max_entries: 1_001,
        ..limits
    };
    let errors = Engine::builder()
        .limits(within)
        .snapshot(&bundle)
        .unwrap_err();
    assert!(errors.errors().iter().all(|e| e.kind != ErrorKind::Limit));
}

#[test]
fn too_many_entries_in_text_are_rejected_before_parsing() {
    let limits = Limits {
        max_entries: 1_000,
        ..Limits::default()
    };
    let computers: Vec<String> = (0..1_001)
        .map(|n| format!(r#"{{"id": "pc-{n}", "group": "ws", "name": "", "os": "linux"}}"#))
        .collect();
    let text = format!(
        "{{\"format\": \"portcullis.bundle/v1\",\n\"computers\": [\n{}\n]}}",
        computers.join(",\n")
    );
    let error = only_limit_error(Engine::builder().limits(limits).snapshot_json(&text));
    assert_eq!(
        error.to_string(),
        "1003:1: a list of more than 1000 entries (`max_entries`)"
    );
    // One fewer passes the text check (and fails later for the unknown group).
    let text = text.replacen(&format!("{},\n", computers[0]), "", 1);
    let errors = Engine::builder()
        .limits(limits)
        .snapshot_json(&text)
        .unwrap_err();
    assert_eq!(errors.errors()[0].kind, ErrorKind::Reference, "{errors}");
}

#[test]
fn too_many_rules_in_one_application_are_rejected() {
    let rules: Vec<Value> = (0..11)
        .map(|n| json!({"path": format!(r"C:\Tools\{n}.exe")}))
        .collect();
    let text = bundle_with_rules(json!(rules)).to_string();
    let limits = Limits {
        max_rules_per_application: 10,
        ..Limits::default()
    };
    let error = only_limit_error(Engine::builder().limits(limits).snapshot_json(&text));
    assert_eq!(error.path, "applications[0].rules");
    assert_eq!(error.id.as_deref(), Some("tools"));
    assert_eq!(
        error.message,
        "11 rules; the limit is 10 per application (`max_rules_per_application`)"
    );
    assert!(
        error.location.is_some(),
        "text errors carry line and column"
    );
    assert!(Snapshot::compile_json(&text).is_ok());
}

#[test]
fn long_lists_inside_an_entry_are_rejected() {
    let mut bundle = plain();
    bundle["policies"][0]["users"] = json!(["ACME\\ann", "ACME\\bob", "ACME\\cy", "ACME\\di"]);
    let limits = Limits {
        max_list_items: 3,
        ..Limits::default()
    };
    let error = only_limit_error(
        Engine::builder()
            .limits(limits)
            .snapshot_json(&bundle.to_string()),
    );
    assert_eq!(error.path, "policies[0].users");
    assert_eq!(error.message, "4 items; the limit is 3 (`max_list_items`)");
}

#[test]
fn a_long_glob_is_rejected() {
    let glob = format!(r"C:\{}*.exe", "a*".repeat(1_100));
    let text = bundle_with_rules(json!([{"path": glob}])).to_string();
    let error = only_limit_error(Snapshot::compile_json(&text));
    assert_eq!(error.path, "applications[0].rules[0].path");
    assert_eq!(
        error.message,
        "the pattern is 2208 bytes; the limit is 2048 bytes (`max_pattern_bytes`)"
    );
    let process = bundle_with_rules(json!([{"process": format!("regex:{}", "a".repeat(3_000))}]));
    let error = only_limit_error(Snapshot::compile_json(&process.to_string()));
    assert_eq!(error.path, "applications[0].rules[0].process");
}

#[test]
fn a_huge_counted_repetition_is_rejected_by_compiled_size() {
    for regex in [
        r"regex:a{10000}{10000}",
        r"regex:(\w{500}){500}",
        r"regex:[\s\S]{60000}",
    ] {
        let text = bundle_with_rules(json!([{"path": regex}])).to_string();
        let error = only_limit_error(Snapshot::compile_json(&text));
        assert_eq!(error.path, "applications[0].rules[0].path", "{regex}");
        assert_eq!(
            error.message,
            "the regular expression is too large once compiled; the limit is 1048576 bytes \
             (`regex_size_limit`)",
            "{regex}"
        );
    }
    // A smaller configured limit rejects what the default accepts.
    let text =
        bundle_with_rules(json!([{"path": r"regex:^c:\\tools\\[a-z]{100}\.exe$"}])).to_string();
    assert!(Snapshot::compile_json(&text).is_ok());
    let limits = Limits {
        regex_size_limit: 10_000,
        ..Limits::default()
    };
    let error = only_limit_error(Engine::builder().limits(limits).snapshot_json(&text));
    assert!(
        error.message.contains("the limit is 10000 bytes"),
        "{error}"
    );
}

#[test]
fn deeply_nested_regex_is_rejected() {
    let regex = format!("regex:{}a{}", "(".repeat(100), ")".repeat(100));
    let text = bundle_with_rules(json!([{"path": regex}])).to_string();
    let error = only_limit_error(Snapshot::compile_json(&text));
    assert_eq!(
        error.message,
        "the regular expression nests groups and repetitions more than 64 deep \
         (`regex_nest_limit`)"
    );
}

#[test]
fn an_invalid_regex_is_still_reported_by_the_compiler() {
    let text = bundle_with_rules(json!([{"path": "regex:(unclosed"}])).to_string();
    let errors = Snapshot::compile_json(&text).unwrap_err();
    assert_eq!(errors.errors()[0].kind, ErrorKind::Invalid, "{errors}");
}

#[test]
fn catastrophic_backtracking_patterns_compile_and_answer() {
    // Linear-time engines: these are ordinary expressions here.
    let text = bundle_with_rules(json!([
        {"path": r"regex:^c:\\(a*)*b$"},
        {"path": r"regex:^c:\\(a|aa)+$"},
        {"path": r"regex:^c:\\(a|a?)+z$"},
    ]))
    .to_string();
    let snapshot = Snapshot::compile_json(&text).unwrap();
    let long = format!(r"C:\{}", "a".repeat(30_000));
    assert_eq!(snapshot.decide(&event(&long)).decision, Outcome::Allow);
    let miss = format!(r"C:\{}c", "a".repeat(30_000));
    assert_eq!(snapshot.decide(&event(&miss)).decision, Outcome::Deny);
    let hit = format!(r"C:\{}b", "a".repeat(30_000));
    assert_eq!(snapshot.decide(&event(&hit)).decision, Outcome::Allow);
}

#[test]
fn an_engine_keeps_serving_when_a_hostile_deploy_is_rejected() {
    let limits = Limits {
        max_rules_per_application: 2,
        ..Limits::default()
    };
    let engine = Engine::builder()
        .limits(limits)
        .engine_json(&plain().to_string())
        .unwrap();
    assert_eq!(engine.limits(), limits);
    let allowed = event(r"C:\Tools\x.exe");
    assert_eq!(engine.decide(&allowed).decision, Outcome::Allow);

    let three = bundle_with_rules(json!([{"path": "C:\\a"}, {"path": "C:\\b"}, {"path": "C:\\c"}]));
    let errors = engine.deploy_json(&three.to_string()).unwrap_err();
    assert_eq!(errors.errors()[0].kind, ErrorKind::Limit, "{errors}");
    let bundle: Bundle = serde_json::from_value(three).unwrap();
    assert_eq!(
        engine.deploy(&bundle).unwrap_err().errors()[0].kind,
        ErrorKind::Limit
    );
    let nested = format!(r#"{{"format": {}"x"{}}}"#, "[".repeat(40), "]".repeat(40));
    assert_eq!(
        engine.deploy_json(&nested).unwrap_err().errors()[0].kind,
        ErrorKind::Limit
    );
    assert_eq!(engine.generation(), 1);
    assert_eq!(engine.decide(&allowed).decision, Outcome::Allow);

    // The default engine uses the default limits.
    let engine = Engine::from_json(&plain().to_string()).unwrap();
    assert_eq!(engine.limits(), Limits::default());
    let over = bundle_with_rules(json!([{"path": format!(r"C:\{}", "a".repeat(3_000))}]));
    assert_eq!(
        engine.deploy_json(&over.to_string()).unwrap_err().errors()[0].kind,
        ErrorKind::Limit
    );
    assert_eq!(engine.generation(), 1);
}

/// Times (and, under `/usr/bin/time -v`, peak memory) for docs/ROBUSTNESS.md. Prints,
/// asserts only the outcomes.
#[test]
#[ignore = "measurement for the docs; run with --ignored --nocapture"]
fn measure_hostile_inputs() {
    let which = std::env::var("HOSTILE").unwrap_or_default();
    let run = |name: &str, text: &dyn Fn() -> String| {
        if !which.is_empty() && which != name {
            return;
        }
        let text = text();
        let started = Instant::now();
        let result = Snapshot::compile_json(&text);
        let elapsed = started.elapsed();
        let outcome = match &result {
            Ok(s) => format!("compiled ({} rules)", s.stats().rules),
            Err(e) => format!("rejected: {}", e.errors()[0]),
        };
        let outcome: String = outcome.chars().take(140).collect();
        eprintln!("{name}: {} bytes, {:.1?}: {outcome}", text.len(), elapsed);
    };
    run("nested", &|| {
        format!(
            r#"{{"organizations": {}{}}}"#,
            "[".repeat(1 << 20),
            "]".repeat(1 << 20)
        )
    });
    run("huge_string", &|| {
        let mut b = plain();
        b["organizations"][0]["name"] = json!("x".repeat(60 << 20));
        b.to_string()
    });
    run("over_byte_limit", &|| {
        format!("{}{}", plain(), " ".repeat(100 << 20))
    });
    run("two_million_orgs", &|| {
        let orgs: Vec<Value> = (0..2_000_000)
            .map(|n| json!({"id": format!("{n}"), "name": ""}))
            .collect();
        json!({"format": "portcullis.bundle/v1", "organizations": orgs}).to_string()
    });
    run("max_rules", &|| {
        let rules: Vec<Value> = (0..100_001)
            .map(|n| json!({"path": format!(r"C:\T\{n}.exe")}))
            .collect();
        bundle_with_rules(json!(rules)).to_string()
    });
    run("100k_rules", &|| {
        let rules: Vec<Value> = (0..100_000)
            .map(|n| json!({"path": format!(r"C:\T\{n}.exe")}))
            .collect();
        bundle_with_rules(json!(rules)).to_string()
    });
    run("counted_repetition", &|| {
        bundle_with_rules(json!([{"path": "regex:a{10000}{10000}"}])).to_string()
    });
    run("unicode_word_repetition", &|| {
        bundle_with_rules(json!([{"path": r"regex:\w{90}"}])).to_string()
    });
    run("large_regex_within_limits", &|| {
        bundle_with_rules(json!([{"path": r"regex:^c:\\[a-z]{2000}$"}])).to_string()
    });
    run("nested_regex", &|| {
        let regex = format!("regex:{}a{}", "(".repeat(100), ")".repeat(100));
        bundle_with_rules(json!([{"path": regex}])).to_string()
    });
    run("1000_regexes", &|| {
        let rules: Vec<Value> = (0..1_000)
            .map(|n| json!({"path": format!(r"regex:^c:\\t\\(a*)*{n}\.exe$")}))
            .collect();
        bundle_with_rules(json!(rules)).to_string()
    });
    if which.is_empty() || which == "backtracking_decide" {
        let text = bundle_with_rules(json!([{"path": r"regex:^c:\\(a*)*b$"}])).to_string();
        let snapshot = Snapshot::compile_json(&text).unwrap();
        let path = format!(r"C:\{}c", "a".repeat(30_000));
        let e = event(&path);
        let started = Instant::now();
        let decision = snapshot.decide(&e).decision;
        eprintln!(
            "backtracking_decide: `(a*)*b` on a 30,000-character path: {:.1?}: {decision:?}",
            started.elapsed()
        );
    }
}
