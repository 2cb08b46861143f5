#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The cost of a plugin per language: the known-bad example as a Rust, C, Python and
//! JavaScript component. For each: its size, its first load (compile, then one
//! instantiation to check its export), its load from the compile cache, a call on a
//! fresh instance made by the call (what a host without instances made ahead does), a
//! call on an instance made ahead (a host with `warm_instances`: what the caller waits
//! for, with the calls spaced so that the warmer keeps up: twice a fresh call's time,
//! 2 ms at least) and, with the `bench`
//! feature, a call on a reused instance and the memory one instance holds after a call
//! (the growth of the process's resident memory over 16 instances, each called once,
//! divided by 16).
//!
//! `cargo bench -p portcullis-plugins --features bench --bench languages`
//!
//! Prints the median wall time of each (loads: 5 runs; calls: 200 on a fresh instance
//! and on one made ahead, 10,000 on a reused one). Wall time: on a shared machine, run
//! it when it is quiet.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use portcullis_engine::plugin::{ApprovalInput, Verdict};
use portcullis_plugins::{HostOptions, Limits, Plugin, Vector, WasmHost};

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// The process's resident memory, in bytes.
#[cfg(feature = "bench")]
fn resident() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not: then one run of
    // each, to check that the bench works.
    let quick = !std::env::args().any(|a| a == "--bench");
    let (loads, fresh, reused) = if quick { (1, 1, 1) } else { (5, 200, 10_000) };
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let vector = &Vector::load_dir(&examples.join("vectors/known-bad")).unwrap()[0];
    let input: ApprovalInput = serde_json::from_value(vector.input.clone()).unwrap();
    let config = Arc::new(vector.config.clone());
    let limits = Limits {
        time: Duration::from_secs(5),
        ..Limits::default()
    };
    let cache = std::env::temp_dir().join(format!("portcullis-bench-{}", std::process::id()));
    println!(
        "{:<11} {:>9} {:>12} {:>11} {:>12} {:>12} {:>12} {:>12}",
        "language",
        "size",
        "first load",
        "from cache",
        "fresh call",
        "made ahead",
        "reused call",
        "per instance"
    );
    for (language, file) in [
        ("rust", "known-bad.wasm"),
        ("c", "known-bad-c.wasm"),
        ("python", "known-bad-py.wasm"),
        ("javascript", "known-bad-js.wasm"),
    ] {
        let bytes = std::fs::read(examples.join("components").join(file)).unwrap();
        let _ = std::fs::remove_dir_all(&cache);
        let host = WasmHost::with_cache(&cache).unwrap();
        let start = Instant::now();
        host.load(language, &bytes, limits).unwrap();
        let first = start.elapsed();
        let from_cache = median(
            (0..loads)
                .map(|_| {
                    let start = Instant::now();
                    host.load(language, &bytes, limits).unwrap();
                    start.elapsed()
                })
                .collect(),
        );
        // The median of `fresh` calls of `plugin`, each followed by a pause of `gap`.
        let calls = |plugin: &Plugin, gap: Duration| {
            median(
                (0..fresh)
                    .map(|_| {
                        let start = Instant::now();
                        let outcome = plugin.review(&input, &config);
                        let elapsed = start.elapsed();
                        assert!(
                            matches!(outcome.result, Ok(Verdict::Reject { .. })),
                            "{outcome:?}"
                        );
                        std::thread::sleep(gap);
                        elapsed
                    })
                    .collect(),
            )
        };
        let plugin = Plugin::Wasm(host.load(language, &bytes, limits).unwrap());
        let call = calls(&plugin, Duration::ZERO);
        // The same component on a host that keeps instances made ahead; each call is
        // timed, then the warmer is given twice a fresh call's time (2 ms at least) to
        // drop the used store and make the next.
        let warm_host = WasmHost::open(HostOptions {
            cache_dir: Some(cache.clone()),
            warm_instances: 2,
            ..HostOptions::default()
        })
        .unwrap();
        let warm_plugin = Plugin::Wasm(warm_host.load(language, &bytes, limits).unwrap());
        std::thread::sleep(call * 4);
        let ahead = calls(&warm_plugin, (call * 2).max(Duration::from_millis(2)));
        drop(warm_plugin);
        drop(warm_host);
        #[cfg(feature = "bench")]
        let (reused_call, per_instance) = {
            let Plugin::Wasm(wasm) = &plugin else {
                unreachable!()
            };
            let mut instance = wasm.reusable(&config).unwrap();
            let reused_call = median(
                (0..reused)
                    .map(|_| {
                        let start = Instant::now();
                        let verdict = instance.review(&input);
                        let elapsed = start.elapsed();
                        assert!(matches!(verdict, Some(Verdict::Reject { .. })));
                        elapsed
                    })
                    .collect(),
            );
            let before = resident();
            let mut kept = Vec::new();
            for _ in 0..16 {
                let mut instance = wasm.reusable(&config).unwrap();
                assert!(instance.review(&input).is_some());
                kept.push(instance);
            }
            let per_instance = resident().saturating_sub(before) / 16;
            drop(kept);
            (reused_call, per_instance)
        };
        #[cfg(not(feature = "bench"))]
        let (reused_call, per_instance) = {
            let _ = reused;
            (Duration::ZERO, 0)
        };
        println!(
            "{:<11} {:>7.1}kB {:>10.1}ms {:>9.1}ms {:>10.1}µs {:>10.1}µs {:>10.2}µs {:>9.0} KiB",
            language,
            bytes.len() as f64 / 1000.0,
            first.as_secs_f64() * 1e3,
            from_cache.as_secs_f64() * 1e3,
            call.as_secs_f64() * 1e6,
            ahead.as_secs_f64() * 1e6,
            reused_call.as_secs_f64() * 1e6,
            per_instance as f64 / 1024.0,
        );
    }
    let _ = std::fs::remove_dir_all(&cache);
}
