#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The cost of one plugin call: a Rust component on a fresh instance (what the host
//! does for every call) and, with the `bench` feature, on a reused one (the call
//! alone), the C component, and the same approval logic as a Rego policy.
//!
//! `cargo bench -p portcullis-plugins --features bench --bench plugins`
//!
//! Times are the CPU time of the benchmarking thread (user and system, so the kernel
//! work of recycling an instance's memory counts), not wall time: on a shared machine
//! wall time also counts the time other processes held the core.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{criterion_group, criterion_main, Criterion};
use portcullis_engine::plugin::{ApprovalInput, Verdict};
use portcullis_plugins::{Limits, Plugin, Vector, WasmHost};

fn bench(c: &mut Criterion<ThreadCpuTime>) {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let vector = &Vector::load_dir(&examples.join("vectors/known-bad")).unwrap()[0];
    let input: ApprovalInput = serde_json::from_value(vector.input.clone()).unwrap();
    let config: Arc<BTreeMap<String, String>> = Arc::new(vector.config.clone());
    let host = WasmHost::new().unwrap();
    let load =
        |file: &str| Plugin::load_file(&host, &examples.join(file), Limits::default()).unwrap();

    let mut group = c.benchmark_group("known-bad review");
    for (label, file) in [
        (
            "rust component, fresh instance",
            "components/known-bad.wasm",
        ),
        ("c component, fresh instance", "components/known-bad-c.wasm"),
        ("rego policy", "rego/known-bad.rego"),
    ] {
        let plugin = load(file);
        assert!(matches!(
            plugin.review(&input, &config).result,
            Ok(Verdict::Reject { .. })
        ));
        group.bench_function(label, |b| b.iter(|| plugin.review(&input, &config)));
    }
    #[cfg(feature = "bench")]
    {
        let Plugin::Wasm(rust) = load("components/known-bad.wasm") else {
            unreachable!()
        };
        let mut reused = rust.reusable(&config).unwrap();
        assert!(matches!(
            reused.review(&input),
            Some(Verdict::Reject { .. })
        ));
        group.bench_function("rust component, reused instance", |b| {
            b.iter(|| reused.review(&input))
        });
    }
    group.finish();

    let trusted = load("rego/trusted-publisher.rego");
    let vector = &Vector::load_dir(&examples.join("vectors/trusted-publisher")).unwrap()[0];
    let input: ApprovalInput = serde_json::from_value(vector.input.clone()).unwrap();
    let config = Arc::new(vector.config.clone());
    assert!(matches!(
        trusted.review(&input, &config).result,
        Ok(Verdict::Approve { .. })
    ));
    c.bench_function("trusted-publisher review, rego policy", |b| {
        b.iter(|| trusted.review(&input, &config))
    });
}

/// The CPU time the calling thread has used.
struct ThreadCpuTime;

#[expect(
    unsafe_code,
    reason = "clock_gettime with a valid pointer to a local timespec"
)]
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(status, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

impl Measurement for ThreadCpuTime {
    type Intermediate = Duration;
    type Value = Duration;

    fn start(&self) -> Duration {
        thread_cpu_time()
    }

    fn end(&self, start: Duration) -> Duration {
        thread_cpu_time().saturating_sub(start)
    }

    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }

    fn zero(&self) -> Duration {
        Duration::ZERO
    }

    fn to_f64(&self, value: &Duration) -> f64 {
        value.as_nanos() as f64
    }

    fn formatter(&self) -> &dyn ValueFormatter {
        // Durations in nanoseconds, printed as wall time is.
        const WALL: &WallTime = &WallTime;
        WALL.formatter()
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(ThreadCpuTime);
    targets = bench
}
criterion_main!(benches);
