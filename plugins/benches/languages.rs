#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The cost of a plugin per language: the known-bad example as a Rust, C, Python and
//! JavaScript component. For each: its size, its first load (compile, then one
//! instantiation to check its export), its load from the compile cache, a call on a
//! fresh instance (what the host does for every call) and, with the `bench` feature,
//! a call on a reused instance.
//!
//! `cargo bench -p portcullis-plugins --features bench --bench languages`
//!
//! Prints the median wall time of each (loads: 5 runs; calls: 200 on a fresh instance,
//! 10,000 on a reused one). Wall time: on a shared machine, run it when it is quiet.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use portcullis_engine::plugin::{ApprovalInput, Verdict};
use portcullis_plugins::{Limits, Plugin, Vector, WasmHost};

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
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
        "{:<11} {:>9} {:>12} {:>11} {:>12} {:>12}",
        "language", "size", "first load", "from cache", "fresh call", "reused call"
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
        let plugin = Plugin::Wasm(host.load(language, &bytes, limits).unwrap());
        let call = median(
            (0..fresh)
                .map(|_| {
                    let start = Instant::now();
                    let outcome = plugin.review(&input, &config);
                    let elapsed = start.elapsed();
                    assert!(
                        matches!(outcome.result, Ok(Verdict::Reject { .. })),
                        "{outcome:?}"
                    );
                    elapsed
                })
                .collect(),
        );
        #[cfg(feature = "bench")]
        let reused_call = {
            let Plugin::Wasm(wasm) = &plugin else {
                unreachable!()
            };
            let mut instance = wasm.reusable(&config).unwrap();
            median(
                (0..reused)
                    .map(|_| {
                        let start = Instant::now();
                        let verdict = instance.review(&input);
                        let elapsed = start.elapsed();
                        assert!(matches!(verdict, Some(Verdict::Reject { .. })));
                        elapsed
                    })
                    .collect(),
            )
        };
        #[cfg(not(feature = "bench"))]
        let reused_call = {
            let _ = reused;
            Duration::ZERO
        };
        println!(
            "{:<11} {:>7.1}kB {:>10.1}ms {:>9.1}ms {:>10.1}µs {:>10.2}µs",
            language,
            bytes.len() as f64 / 1000.0,
            first.as_secs_f64() * 1e3,
            from_cache.as_secs_f64() * 1e3,
            call.as_secs_f64() * 1e6,
            reused_call.as_secs_f64() * 1e6,
        );
    }
    let _ = std::fs::remove_dir_all(&cache);
}
