#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The plugin hosts on the committed example and hostile components and the example
//! Rego policies: same verdicts on the same vectors, containment, attachment, swaps.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use portcullis_engine::model::{DecisionRecord, Outcome};
use portcullis_engine::plugin::{
    ApprovalInput, Execution, FailureKind, Hook, LogLevel, RuleVerdict, Verdict,
};
use portcullis_plugins::{
    AttachError, Attachment, HostOptions, Limits, LoadError, Notice, Plugin, Registry, RegoPlugin,
    Vector, WasmHost,
};

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")
}

fn host() -> Arc<WasmHost> {
    WasmHost::new().unwrap()
}

/// A host with the compile cache the tests share (`target/tmp/plugin-cache`), so the
/// large Python and JavaScript components are compiled once per build directory, here
/// or by `tests/cli_plugin.rs`.
fn cached_host() -> Arc<WasmHost> {
    WasmHost::with_cache(&Path::new(env!("CARGO_TARGET_TMPDIR")).join("plugin-cache")).unwrap()
}

fn load(host: &Arc<WasmHost>, relative: &str) -> Plugin {
    Plugin::load_file(host, &examples().join(relative), Limits::default())
        .unwrap_or_else(|e| panic!("{relative}: {e}"))
}

/// Loaded with a generous time budget: a Python or JavaScript call, on an unoptimized
/// build of the host on a loaded machine, can take longer than the default 50 ms. The
/// tests assert verdicts, not timing.
fn load_generous(host: &Arc<WasmHost>, relative: &str) -> Plugin {
    let limits = Limits {
        time: Duration::from_secs(20),
        ..Limits::default()
    };
    Plugin::load_file(host, &examples().join(relative), limits)
        .unwrap_or_else(|e| panic!("{relative}: {e}"))
}

fn vectors(name: &str) -> Vec<Vector> {
    Vector::load_dir(&examples().join("vectors").join(name)).unwrap()
}

/// Every example, in each of its implementations.
fn implementations() -> Vec<(&'static str, Vec<&'static str>)> {
    vec![
        (
            "trusted-publisher",
            vec![
                "components/trusted-publisher.wasm",
                "components/trusted-publisher-py.wasm",
                "components/trusted-publisher-js.wasm",
                "rego/trusted-publisher.rego",
            ],
        ),
        (
            "known-bad",
            vec![
                "components/known-bad.wasm",
                "components/known-bad-c.wasm",
                "components/known-bad-py.wasm",
                "components/known-bad-js.wasm",
                "rego/known-bad.rego",
            ],
        ),
        (
            "user-writable",
            vec!["components/user-writable.wasm", "rego/user-writable.rego"],
        ),
    ]
}

#[test]
fn every_implementation_gives_the_same_verdict_on_every_vector() {
    let host = cached_host();
    for (example, files) in implementations() {
        let vectors = vectors(example);
        assert!(vectors.len() >= 4, "{example} has too few vectors");
        let plugins: Vec<Plugin> = files.iter().map(|f| load_generous(&host, f)).collect();
        let hook = plugins[0].hook();
        for (plugin, file) in plugins.iter().zip(&files) {
            assert_eq!(plugin.hook(), hook, "{file}");
        }
        for vector in &vectors {
            let mut verdicts = Vec::new();
            for (plugin, file) in plugins.iter().zip(&files) {
                let result = vector.run(plugin).unwrap();
                assert!(
                    result.pass,
                    "{file}, vector `{}`: expected {} got {} ({:?})",
                    vector.name, vector.expected, result.actual, result.failure
                );
                verdicts.push(result.actual);
            }
            assert!(
                verdicts.windows(2).all(|w| w[0] == w[1]),
                "{example}: {verdicts:?}"
            );
        }
    }
}

#[test]
fn the_vectors_cover_each_kind_of_answer() {
    // A vector set where every answer is abstain could not catch a plugin that does
    // nothing.
    for (example, _) in implementations() {
        let kinds: std::collections::BTreeSet<String> = vectors(example)
            .iter()
            .map(|v| v.expected["verdict"].as_str().unwrap().to_owned())
            .collect();
        assert!(kinds.len() >= 2, "{example}: {kinds:?}");
    }
}

fn approval_input() -> ApprovalInput {
    serde_json::from_value(vectors("trusted-publisher")[0].input.clone()).unwrap()
}

fn hostile(limits: Limits) -> Plugin {
    Plugin::load_file(&host(), &examples().join("components/hostile.wasm"), limits).unwrap()
}

fn config(pairs: &[(&str, &str)]) -> Arc<BTreeMap<String, String>> {
    Arc::new(
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    )
}

#[test]
fn hostile_guests_are_contained() {
    // A generous time budget, so that on a loaded machine only the loop can time out:
    // the test asserts the kind of containment, not timing.
    let generous = Limits {
        time: Duration::from_secs(20),
        memory: 16 << 20,
        ..Limits::default()
    };
    let plugin = hostile(generous);
    let input = approval_input();
    // Without a mode the hostile plugin approves: proof that it runs at all.
    let outcome = plugin.review(&input, &config(&[]));
    assert!(
        matches!(outcome.result, Ok(Verdict::Approve { .. })),
        "{outcome:?}"
    );

    let short = hostile(Limits {
        time: Duration::from_millis(100),
        ..generous
    });
    for (plugin, mode, kind) in [
        (&short, "loop", FailureKind::Timeout),
        (&plugin, "memory", FailureKind::Memory),
        (&plugin, "trap", FailureKind::Trap),
        (&plugin, "huge", FailureKind::Malformed),
        (&plugin, "empty-route", FailureKind::Malformed),
        (&plugin, "wasi", FailureKind::Trap),
        (&short, "sleep", FailureKind::Timeout),
    ] {
        let outcome = plugin.review(&input, &config(&[("mode", mode)]));
        let failure = outcome
            .failure()
            .unwrap_or_else(|| panic!("{mode}: {outcome:?}"));
        assert_eq!(failure.kind, kind, "{mode}: {failure}");
        assert_eq!(outcome.verdict(), Verdict::Abstain, "{mode}");
    }
}

#[test]
fn a_wasi_call_is_not_granted() {
    let outcome =
        hostile(Limits::default()).review(&approval_input(), &config(&[("mode", "wasi")]));
    let failure = outcome.failure().unwrap();
    // The cause comes first: the import called, not only a backtrace.
    assert!(
        failure
            .message
            .starts_with("the plugin called `wasi:sockets/"),
        "{failure}"
    );
    assert!(failure.message.contains("does not provide"), "{failure}");
}

#[test]
fn the_imports_the_host_does_not_provide_are_listed() {
    let host = host();
    let Plugin::Wasm(hostile) = load(&host, "components/hostile.wasm") else {
        panic!("a component");
    };
    let unprovided = hostile.unprovided_imports();
    assert!(
        unprovided
            .iter()
            .any(|i| i.starts_with("wasi:sockets/tcp@0.2.")),
        "{unprovided:?}"
    );
    assert!(
        unprovided.iter().all(|i| i.starts_with("wasi:sockets/")),
        "{unprovided:?}"
    );
    // A guest that uses only the contract and the WASI this host gives lists none.
    assert_eq!(
        load(&host, "components/known-bad.wasm").unprovided_imports(),
        &[] as &[String]
    );
}

#[test]
fn a_plugin_sees_no_environment_arguments_or_files() {
    let outcome =
        hostile(Limits::default()).review(&approval_input(), &config(&[("mode", "peek")]));
    assert_eq!(outcome.result, Ok(Verdict::Abstain), "{outcome:?}");
}

#[test]
fn printing_goes_to_the_bounded_log() {
    let limits = Limits {
        time: Duration::from_secs(20),
        ..Limits::default()
    };
    let outcome = hostile(limits).review(&approval_input(), &config(&[("mode", "print-spam")]));
    assert_eq!(outcome.result, Ok(Verdict::Abstain), "{outcome:?}");
    assert_eq!(outcome.logs.len(), limits.max_logs);
    assert!(
        outcome.logs[0].message.starts_with("spam line 0 "),
        "{:?}",
        outcome.logs[0]
    );
    assert_eq!(outcome.logs[0].level, LogLevel::Info);
    assert!(outcome.dropped_logs > 0);
    assert!(outcome
        .logs
        .iter()
        .all(|l| l.message.len() <= limits.max_log_len + 3));
}

#[test]
fn log_spam_is_bounded() {
    let limits = Limits {
        time: Duration::from_secs(20),
        ..Limits::default()
    };
    let outcome = hostile(limits).review(&approval_input(), &config(&[("mode", "log-spam")]));
    assert_eq!(outcome.result, Ok(Verdict::Abstain));
    assert_eq!(outcome.logs.len(), limits.max_logs);
    assert_eq!(outcome.dropped_logs as usize, 10_000 - limits.max_logs);
    assert!(outcome
        .logs
        .iter()
        .all(|l| l.message.len() <= limits.max_log_len + 3));
}

#[test]
fn a_component_for_no_supported_world_is_rejected() {
    let host = host();
    let wrong = wat::parse_str(
        r#"(component
            (core module $m (func (export "f") (param i32) (result i32) local.get 0))
            (core instance $i (instantiate $m))
            (func (export "review") (param "x" u32) (result u32) (canon lift (core func $i "f"))))"#,
    )
    .unwrap();
    let error = host.load("wrong", &wrong, Limits::default()).unwrap_err();
    assert!(matches!(error, LoadError::NoWorld { .. }), "{error}");
    assert!(error.to_string().contains("`review`"), "{error}");

    // The reviewer's export by name, with a `review` of another type: refused when
    // loaded, not on every call.
    let mistyped = wat::parse_str(
        r#"(component
            (core module $m (func (export "f") (param i32) (result i32) local.get 0))
            (core instance $i (instantiate $m))
            (func $review (param "x" u32) (result u32) (canon lift (core func $i "f")))
            (instance $reviewer (export "review" (func $review)))
            (export "portcullis:plugin/approval-reviewer@0.1.0" (instance $reviewer)))"#,
    )
    .unwrap();
    let error = host
        .load("mistyped", &mistyped, Limits::default())
        .unwrap_err();
    assert!(matches!(error, LoadError::Invalid { .. }), "{error}");
    assert!(
        error.to_string().contains(
            "`portcullis:plugin/approval-reviewer@0.1.0` does not have the contract's types"
        ),
        "{error}"
    );

    let core_module = wat::parse_str("(module)").unwrap();
    let error = host
        .load("core", &core_module, Limits::default())
        .unwrap_err();
    assert!(matches!(error, LoadError::Invalid { .. }), "{error}");
    let error = host
        .load("garbage", b"not wasm at all", Limits::default())
        .unwrap_err();
    assert!(matches!(error, LoadError::Invalid { .. }), "{error}");

    let error = RegoPlugin::load(
        "x",
        "x.rego",
        "package other\nverdict := 1\n",
        Limits::default(),
    )
    .unwrap_err();
    assert!(error.to_string().contains("`other`"), "{error}");
    let error = RegoPlugin::load(
        "x",
        "x.rego",
        "package portcullis.rule\nverdict := {",
        Limits::default(),
    )
    .unwrap_err();
    assert!(matches!(error, LoadError::Invalid { .. }), "{error}");
}

#[test]
fn rego_failures_are_contained() {
    let limits = Limits {
        time: Duration::from_millis(50),
        ..Limits::default()
    };
    let input = approval_input();
    let slow = RegoPlugin::load(
        "slow",
        "slow.rego",
        "package portcullis.approval_review\n\
         n := count([x | some a in numbers.range(1, 2000); some b in numbers.range(1, 2000); x := a * b])\n\
         verdict := {\"verdict\": \"reject\", \"reason\": sprintf(\"%d\", [n])}\n",
        limits,
    )
    .unwrap();
    let outcome = slow.review(&input, &config(&[]));
    assert_eq!(
        outcome.failure().map(|f| f.kind),
        Some(FailureKind::Timeout),
        "{outcome:?}"
    );

    for (policy, kind) in [
        ("verdict := {\"verdict\": \"approve\"}", FailureKind::Malformed),
        ("verdict := {\"verdict\": \"route\", \"administrators\": []}", FailureKind::Malformed),
        ("verdict := 42", FailureKind::Malformed),
        ("verdict := {\"verdict\": \"reject\", \"reason\": concat(\"\", [\"x\" | some _ in numbers.range(1, 5000)])}", FailureKind::Malformed),
        ("verdict := x if { x := 1 / 0 }", FailureKind::Trap),
    ] {
        let text = format!("package portcullis.approval_review\n{policy}\n");
        let plugin = RegoPlugin::load("bad", "bad.rego", &text, limits).unwrap();
        let outcome = plugin.review(&input, &config(&[]));
        match outcome.failure() {
            Some(failure) => assert_eq!(failure.kind, kind, "{policy}: {failure}"),
            // regorus makes some runtime errors undefined, which abstains too.
            None => assert_eq!(kind, FailureKind::Trap, "{policy}: {outcome:?}"),
        }
        assert_eq!(outcome.verdict(), Verdict::Abstain, "{policy}");
    }
}

#[test]
fn compiled_components_are_cached_on_disk() {
    use std::os::unix::fs::MetadataExt;
    let dir = std::env::temp_dir().join(format!("portcullis-cache-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let bytes = std::fs::read(examples().join("components/known-bad.wasm")).unwrap();
    let host = WasmHost::with_cache(&dir).unwrap();
    host.load("a", &bytes, Limits::default()).unwrap();
    let files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let file = files[0].clone();
    assert!(file.extension().is_some_and(|e| e == "cwasm"));
    let good = std::fs::read(&file).unwrap();
    let inode = std::fs::metadata(&file).unwrap().ino();
    // Loaded from the cache (the file is not written again), it behaves the same.
    let plugin = Plugin::Wasm(host.load("b", &bytes, Limits::default()).unwrap());
    assert_eq!(std::fs::metadata(&file).unwrap().ino(), inode);
    for vector in vectors("known-bad") {
        assert!(vector.run(&plugin).unwrap().pass, "{}", vector.name);
    }
    // A damaged, truncated or foreign entry is not trusted: the component is compiled
    // again, works, and the entry is replaced by a good one.
    let mut flipped = good.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x40;
    let other = {
        let other_dir = dir.join("other");
        let other = std::fs::read(examples().join("components/trusted-publisher.wasm")).unwrap();
        WasmHost::with_cache(&other_dir)
            .unwrap()
            .load("o", &other, Limits::default())
            .unwrap();
        let entry = std::fs::read_dir(&other_dir)
            .unwrap()
            .next()
            .unwrap()
            .unwrap();
        std::fs::read(entry.path()).unwrap()
    };
    // A file of the first format (the artifact's SHA-256 where the CRC-32 is now).
    let first_format = {
        use sha2::Digest;
        let artifact = &good[16 + 32 + 4..];
        let mut file = b"portcullis-cwasm".to_vec();
        file.extend_from_slice(&good[16..48]);
        file.extend_from_slice(&sha2::Sha256::digest(artifact));
        file.extend_from_slice(artifact);
        file
    };
    for (what, content) in [
        ("not an artifact", b"damaged".to_vec()),
        ("of the first format", first_format),
        ("a flipped byte", flipped),
        ("truncated", good[..good.len() - 100].to_vec()),
        ("cut in the header", good[..40].to_vec()),
        ("the artifact of another component", other),
        ("empty", Vec::new()),
    ] {
        std::fs::write(&file, &content).unwrap();
        let plugin = Plugin::Wasm(host.load("c", &bytes, Limits::default()).unwrap());
        assert!(vectors("known-bad")[0].run(&plugin).unwrap().pass, "{what}");
        assert_eq!(std::fs::read(&file).unwrap(), good, "{what}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[cfg(feature = "governance")]
#[test]
fn compiled_components_are_shared_through_the_state() {
    use portcullis_governance::{Database, SqliteStore, Store};
    use portcullis_plugins::{ArtifactStore, StateArtifacts};

    let dir = std::env::temp_dir().join(format!("portcullis-shared-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let state = dir.join("state.db");
    let store = || -> Database { SqliteStore::open(&state).unwrap().into() };
    let opened = state.clone();
    let shared: Arc<dyn ArtifactStore> = Arc::new(StateArtifacts::new(move || {
        Ok(SqliteStore::open(&opened)?.into())
    }));
    let bytes = std::fs::read(examples().join("components/known-bad.wasm")).unwrap();
    let node = |name: &str| {
        WasmHost::open(HostOptions {
            cache_dir: Some(dir.join(name)),
            artifacts: Some(Arc::clone(&shared)),
            ..HostOptions::default()
        })
        .unwrap()
    };
    let stored = || -> Vec<Vec<u8>> {
        let db = store();
        let names: Vec<String> = std::fs::read_dir(dir.join("one"))
            .map(|d| {
                d.map(|e| e.unwrap().file_name().into_string().unwrap())
                    .collect()
            })
            .unwrap_or_default();
        names
            .iter()
            .filter_map(|n| db.read(|tx| tx.plugin_artifact(n)).unwrap())
            .collect()
    };
    // The first node compiles, into its directory and the state.
    node("one").load("a", &bytes, Limits::default()).unwrap();
    let first = stored();
    assert_eq!(first.len(), 1);
    let file_one = std::fs::read_dir(dir.join("one"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(std::fs::read(file_one.path()).unwrap(), first[0]);
    // The second takes it from the state (the same file lands in its directory) and
    // gives the same verdicts.
    let plugin = Plugin::Wasm(node("two").load("b", &bytes, Limits::default()).unwrap());
    let file_two = dir.join("two").join(file_one.file_name());
    assert_eq!(std::fs::read(&file_two).unwrap(), first[0]);
    for vector in vectors("known-bad") {
        assert!(vector.run(&plugin).unwrap().pass, "{}", vector.name);
    }
    // A damaged artifact in the state is not trusted: the third node compiles, and
    // the state gets a good one again.
    let mut damaged = first[0].clone();
    let middle = damaged.len() / 2;
    damaged[middle] ^= 0x40;
    shared.put(&file_one.file_name().into_string().unwrap(), &damaged);
    let plugin = Plugin::Wasm(node("three").load("c", &bytes, Limits::default()).unwrap());
    assert!(vectors("known-bad")[0].run(&plugin).unwrap().pass);
    assert_eq!(stored(), first);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn attaching_validates_with_the_vectors_first() {
    let host = host();
    let registry = Registry::new();
    let known_bad = Arc::new(load(&host, "components/known-bad.wasm"));
    // Shipped with the wrong vectors: refused, nothing attached.
    let error = registry
        .attach(
            "lakeside",
            Attachment::new(Arc::clone(&known_bad)).vectors(vectors("trusted-publisher")),
        )
        .unwrap_err();
    assert!(matches!(error, AttachError::VectorFailed { .. }), "{error}");
    assert!(registry.plugins("lakeside").is_empty());
    // Rule vectors cannot even be read as approval inputs.
    let error = registry
        .attach(
            "lakeside",
            Attachment::new(Arc::clone(&known_bad)).vectors(vectors("user-writable")),
        )
        .unwrap_err();
    assert!(matches!(error, AttachError::Vector(_)), "{error}");

    registry
        .attach(
            "lakeside",
            Attachment::new(known_bad)
                .vectors(vectors("known-bad"))
                .config("hashes", "ab"),
        )
        .unwrap();
    assert_eq!(
        registry.plugins("lakeside"),
        vec![("known-bad".to_owned(), Hook::ApprovalReview, false)]
    );
}

#[test]
fn verdicts_combine_along_the_tenancy_path() {
    let host = host();
    let registry = Registry::new();
    let input = approval_input();
    let trusted = Arc::new(load(&host, "components/trusted-publisher.wasm"));
    let known_bad = Arc::new(load(&host, "rego/known-bad.rego"));
    // The MSP trusts Contoso; the client lists the file as known-bad: reject wins.
    registry
        .attach(
            "msp",
            Attachment::new(trusted).config("publishers", "CN=Contoso Ltd, O=Contoso Ltd"),
        )
        .unwrap();
    let review = registry.review(&input);
    assert!(
        matches!(review.verdict, Verdict::Approve { .. }),
        "{review:?}"
    );
    registry
        .attach(
            "lakeside",
            Attachment::new(known_bad).config("hashes", &input.request.execution.sha256),
        )
        .unwrap();
    let review = registry.review(&input);
    assert!(
        matches!(review.verdict, Verdict::Reject { .. }),
        "{review:?}"
    );
    assert_eq!(review.calls.len(), 2);
    assert_eq!(review.calls[0].organization, "msp");
    assert!(registry.detach("lakeside", "known-bad"));
    assert!(matches!(
        registry.review(&input).verdict,
        Verdict::Approve { .. }
    ));
}

#[test]
fn a_failing_plugin_is_switched_off_and_reported() {
    let notices = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&notices);
    let registry = Registry::with_notices(move |n| sink.lock().unwrap().push(n.clone()));
    let plugin = Arc::new(hostile(Limits::default()));
    registry
        .attach(
            "lakeside",
            Attachment::new(plugin).config("mode", "trap").breaker(3),
        )
        .unwrap();
    let input = approval_input();
    for _ in 0..3 {
        let review = registry.review(&input);
        assert_eq!(review.verdict, Verdict::Abstain);
        assert_eq!(
            review.calls[0].outcome.failure().unwrap().kind,
            FailureKind::Trap
        );
    }
    let review = registry.review(&input);
    assert_eq!(
        review.calls[0].outcome.failure().unwrap().kind,
        FailureKind::Disabled
    );
    assert_eq!(review.verdict, Verdict::Abstain);
    assert!(registry.plugins("lakeside")[0].2);
    let notices = notices.lock().unwrap();
    assert_eq!(
        notices
            .iter()
            .filter(|n| matches!(n, Notice::Failed { .. }))
            .count(),
        3
    );
    assert_eq!(
        notices
            .iter()
            .filter(|n| matches!(n, Notice::SwitchedOff { .. }))
            .count(),
        1,
        "{notices:?}"
    );
}

#[test]
fn a_call_without_room_in_the_pool_waits_then_fails_as_busy_and_is_not_counted() {
    // Room for one instance: a sleeping call holds it.
    let host = WasmHost::open(HostOptions {
        instances: 1,
        ..HostOptions::default()
    })
    .unwrap();
    let path = examples().join("components/hostile.wasm");
    let long = Limits {
        time: Duration::from_secs(3),
        ..Limits::default()
    };
    let sleeper = Plugin::load_file(&host, &path, long).unwrap();
    let short = Limits {
        time: Duration::from_millis(30),
        ..Limits::default()
    };
    let plugin = Arc::new(Plugin::load_file(&host, &path, short).unwrap());
    let registry = Registry::new();
    // One counted failure would switch it off.
    registry
        .attach("lakeside", Attachment::new(plugin).breaker(1))
        .unwrap();
    let input = approval_input();
    let (held, busy) = std::thread::scope(|scope| {
        let holder = scope.spawn(|| sleeper.review(&input, &config(&[("mode", "sleep")])));
        // Calls run until the sleeper has taken the only slot; then they wait for room
        // within their budget and fail as busy.
        let mut busy = None;
        for _ in 0..200 {
            let review = registry.review(&input);
            if let Some(failure) = review.calls[0].outcome.failure() {
                busy = Some(failure.clone());
                break;
            }
            if holder.is_finished() {
                break;
            }
        }
        (holder.join().unwrap(), busy)
    });
    assert_eq!(held.failure().unwrap().kind, FailureKind::Timeout);
    let busy = busy.expect("no call found the pool full while the sleeper held it");
    assert_eq!(busy.kind, FailureKind::Busy, "{busy}");
    assert!(busy.message.contains("no room"), "{busy}");
    // Not counted: with the room given back, the plugin answers again.
    let review = registry.review(&input);
    assert!(
        matches!(review.calls[0].outcome.result, Ok(Verdict::Approve { .. })),
        "{:?}",
        review.calls[0].outcome
    );
    assert!(!registry.plugins("lakeside")[0].2);
}

#[test]
fn instances_made_ahead_are_taken_and_give_the_same_verdicts() {
    let host = WasmHost::open(HostOptions {
        warm_instances: 2,
        cache_dir: Some(Path::new(env!("CARGO_TARGET_TMPDIR")).join("plugin-cache")),
        ..HostOptions::default()
    })
    .unwrap();
    for (file, name) in [
        ("components/known-bad.wasm", "known-bad"),
        ("components/known-bad-py.wasm", "known-bad"),
        ("components/trusted-publisher.wasm", "trusted-publisher"),
    ] {
        let plugin = load_generous(&host, file);
        let Plugin::Wasm(wasm) = &plugin else {
            unreachable!()
        };
        // The host's thread makes two; the first call takes one of them.
        let waited = std::time::Instant::now();
        while wasm.instances_ahead().0 < 2 {
            assert!(
                waited.elapsed() < Duration::from_secs(60),
                "{file}: {:?} made ahead",
                wasm.instances_ahead()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(vectors(name)[0].run(&plugin).unwrap().pass, "{file}");
        assert_eq!(wasm.instances_ahead().1, 1, "{file}");
        // More calls than instances kept ready: the later ones take instances made
        // while the earlier ones ran, or make their own.
        for round in 0..3 {
            for vector in vectors(name) {
                let result = vector.run(&plugin).unwrap();
                assert!(result.pass, "{file} round {round}: {result:?}");
            }
        }
    }
    // An instance made ahead holds the memory its start left; a call that grows it
    // past the cap still fails as memory, and the next call is on a fresh instance.
    let limits = Limits {
        time: Duration::from_secs(20),
        memory: 16 << 20,
        ..Limits::default()
    };
    let hostile =
        Plugin::load_file(&host, &examples().join("components/hostile.wasm"), limits).unwrap();
    let input = approval_input();
    for (mode, kind) in [("memory", FailureKind::Memory), ("trap", FailureKind::Trap)] {
        let outcome = hostile.review(&input, &config(&[("mode", mode)]));
        assert_eq!(outcome.failure().unwrap().kind, kind, "{mode}");
        let outcome = hostile.review(&input, &config(&[]));
        assert!(
            matches!(outcome.result, Ok(Verdict::Approve { .. })),
            "after {mode}: {outcome:?}"
        );
    }
}

fn router(admin: &str) -> Attachment {
    let policy = "package portcullis.approval_review\n\
                  verdict := {\"verdict\": \"route\", \"administrators\": [data.config.admin]}\n";
    let plugin = RegoPlugin::load(admin, "router.rego", policy, Limits::default()).unwrap();
    Attachment::new(Arc::new(Plugin::Rego(Box::new(plugin)))).config("admin", admin)
}

#[test]
fn a_set_replaced_under_load_never_gives_a_torn_result() {
    let host = host();
    // Generous: the other tests compile the Python and JavaScript components meanwhile,
    // and a timeout here would read as a torn result.
    let trusted = Arc::new(load_generous(&host, "components/trusted-publisher.wasm"));
    let version = |v: u8| {
        let (a, b, publishers) = if v == 1 {
            ("a1", "a2", "CN=Contoso Ltd, O=Contoso Ltd")
        } else {
            ("b1", "b2", "CN=Nobody")
        };
        vec![
            router(a).name("first"),
            Attachment::new(Arc::clone(&trusted)).config("publishers", publishers),
            router(b).name("second"),
        ]
    };
    let registry = Arc::new(Registry::new());
    registry.attach_all("lakeside", version(1)).unwrap();
    let input = Arc::new(approval_input());
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let (registry, input, stop) =
                (Arc::clone(&registry), Arc::clone(&input), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut seen = [0u32; 2];
                while !stop.load(Ordering::Relaxed) {
                    let review = registry.review(&input);
                    let Verdict::Route { administrators } = &review.verdict else {
                        panic!("{review:?}");
                    };
                    let approved =
                        matches!(review.calls[1].outcome.verdict(), Verdict::Approve { .. });
                    match administrators.as_slice() {
                        [a, b] if a == "a1" && b == "a2" && approved => seen[0] += 1,
                        [a, b] if a == "b1" && b == "b2" && !approved => seen[1] += 1,
                        _ => panic!("torn: {review:?}"),
                    }
                }
                seen
            })
        })
        .collect();
    for round in 0..60u8 {
        registry
            .attach_all("lakeside", version(1 + round % 2))
            .unwrap();
        std::thread::sleep(Duration::from_millis(5));
    }
    stop.store(true, Ordering::Relaxed);
    let mut total = [0u32; 2];
    for reader in readers {
        let seen = reader.join().unwrap();
        total[0] += seen[0];
        total[1] += seen[1];
    }
    assert!(
        total[0] > 0 && total[1] > 0,
        "both versions served: {total:?}"
    );
}

#[test]
fn rule_plugins_only_turn_an_allow_into_a_deny() {
    let host = host();
    let registry = Registry::new();
    registry
        .attach(
            "lakeside",
            Attachment::new(Arc::new(load(&host, "components/user-writable.wasm")))
                .vectors(vectors("user-writable")),
        )
        .unwrap();
    let execution: Execution =
        serde_json::from_value(vectors("user-writable")[0].input.clone()).unwrap();
    let allow: DecisionRecord = serde_json::from_value(serde_json::json!({
        "decision": "allow", "elevated": false, "policy": "permit-downloads", "application": "any",
        "default_deny": false, "would_deny": false, "mode": null, "notify_user": false,
        "can_request": false, "request_kind": null, "notify": [], "learn": false, "generation": 7
    }))
    .unwrap();
    let ruled = registry.apply_rules(allow.clone(), &execution, &["msp", "lakeside"]);
    assert_eq!(ruled.decision.decision, Outcome::Deny);
    assert_eq!(ruled.decision.policy, None);
    let denied = ruled.denied_by.unwrap();
    assert_eq!(denied.plugin, "user-writable");
    assert!(denied.reason.contains("Downloads"), "{}", denied.reason);

    let mut deny = allow;
    deny.decision = Outcome::Deny;
    let ruled = registry.apply_rules(deny.clone(), &execution, &["lakeside"]);
    assert_eq!(ruled.decision, deny);
    assert_eq!(ruled.denied_by, None);

    // A signed file in the same folder is left alone.
    let mut signed = execution;
    signed.signature = portcullis_engine::model::SignatureStatus::Valid;
    let outcome = Plugin::load_file(
        &host,
        &examples().join("components/user-writable.wasm"),
        Limits::default(),
    )
    .unwrap()
    .check(&signed, &config(&[]));
    assert_eq!(outcome.result, Ok(RuleVerdict::Abstain));
}

/// A plugin as a governance state stores it.
#[cfg(feature = "governance")]
fn stored(
    org: &str,
    name: &str,
    relative: &str,
    config: &[(&str, &str)],
) -> portcullis_governance::PluginAttachment {
    let content = std::fs::read(examples().join(relative)).unwrap();
    let plugin = load(&host(), relative);
    portcullis_governance::PluginAttachment {
        organization: org.to_owned(),
        name: name.to_owned(),
        hook: plugin.hook().world().to_owned(),
        file_name: Path::new(relative)
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned(),
        sha256: portcullis_engine::identity::sha256_bytes(&content),
        content,
        config: config
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        vectors: Vec::new(),
        generation: 0,
    }
}

#[cfg(feature = "governance")]
#[test]
fn a_state_provider_keeps_its_plugins_and_their_breakers_until_they_change() {
    use portcullis_governance::PluginProvider;
    use portcullis_plugins::{StatePlugins, DEFAULT_BREAKER};

    let notices = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&notices);
    // A generous time budget: only the traps below may fail, whatever the load.
    let limits = Limits {
        time: Duration::from_secs(10),
        ..Limits::default()
    };
    let provider =
        StatePlugins::with_notices(limits, move |n| sink.lock().unwrap().push(n.clone()));
    let input = approval_input();
    let review = Hook::ApprovalReview;
    let path = ["msp", "lakeside"];
    let trap = stored(
        "msp",
        "flaky",
        "components/hostile.wasm",
        &[("mode", "trap")],
    );
    let rule = stored("lakeside", "writable", "rego/user-writable.rego", &[]);
    let attached = vec![rule.clone(), trap.clone()];
    // Each consultation hands the same attachments: the loaded plugin is kept, and its
    // failures add up until the breaker switches it off.
    for _ in 0..DEFAULT_BREAKER {
        let reviewers = provider
            .plugins(review, &path, &attached)
            .unwrap()
            .reviewers;
        assert_eq!(reviewers.len(), 1);
        let outcome = reviewers[0].review(&input);
        assert_eq!(outcome.failure().unwrap().kind, FailureKind::Trap);
    }
    let reviewers = provider
        .plugins(review, &path, &attached)
        .unwrap()
        .reviewers;
    let outcome = reviewers[0].review(&input);
    assert_eq!(outcome.failure().unwrap().kind, FailureKind::Disabled);
    let rules = provider
        .plugins(Hook::Rule, &path, &attached)
        .unwrap()
        .rules;
    assert_eq!(rules.len(), 1);
    assert_eq!(
        provider.registry().plugins("lakeside"),
        vec![("writable".to_owned(), Hook::Rule, false)]
    );
    // What it holds loaded it needs no bytes for; another version, and a plugin of the
    // other hook, neither.
    let head =
        |a: &portcullis_governance::PluginAttachment| portcullis_governance::PluginAttachment {
            content: Vec::new(),
            ..a.clone()
        };
    let changed = stored(
        "msp",
        "flaky",
        "components/hostile.wasm",
        &[("mode", "other")],
    );
    assert_eq!(
        provider.needs_content(review, &[head(&trap), head(&changed), head(&rule)]),
        [false, true, false]
    );
    // Attached again unchanged (the store counts a new generation), it is loaded
    // afresh with a new breaker: it runs, and traps, again.
    let again = portcullis_governance::PluginAttachment {
        generation: trap.generation + 1,
        ..trap.clone()
    };
    let reviewers = provider
        .plugins(review, &path, &[again, rule.clone()])
        .unwrap()
        .reviewers;
    assert_eq!(
        reviewers[0].review(&input).failure().unwrap().kind,
        FailureKind::Trap
    );
    // Attached again with other settings, it is a new version with a new breaker.
    let fixed = stored(
        "msp",
        "flaky",
        "components/hostile.wasm",
        &[("mode", "approve")],
    );
    let reviewers = provider
        .plugins(review, &path, &[fixed, rule.clone()])
        .unwrap()
        .reviewers;
    assert!(reviewers[0].review(&input).failure().is_none());
    // Detached, it is no longer consulted; one that does not load abstains, reported
    // once.
    let mut broken = stored("lakeside", "broken", "components/hostile.wasm", &[]);
    broken.content = b"not a component".to_vec();
    for _ in 0..2 {
        let reviewers = provider
            .plugins(review, &path, &[broken.clone(), rule.clone()])
            .unwrap()
            .reviewers;
        assert!(reviewers.is_empty());
    }
    let not_loaded: Vec<Notice> = notices
        .lock()
        .unwrap()
        .iter()
        .filter(|n| matches!(n, Notice::NotLoaded { .. }))
        .cloned()
        .collect();
    assert_eq!(not_loaded.len(), 1, "{not_loaded:?}");
    assert!(matches!(&not_loaded[0], Notice::NotLoaded { plugin, .. } if plugin == "broken"));
}
