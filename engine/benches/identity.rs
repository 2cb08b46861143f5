//! File identity: SHA-256 throughput on a large file, beside `sha256sum` on the same
//! file (the goal is at least 90% of its speed), and what an identity-cache hit costs.
//!
//! `cargo bench --bench identity` (the file is 256 MiB; set `PORTCULLIS_BENCH_MIB` to
//! change it). The comparison with `sha256sum` is printed before criterion's figures.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::hint::black_box;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use portcullis_engine::identity::{inspect_file, sha256_reader, IdentityCache, TrustRoots};

fn large_file() -> (PathBuf, u64) {
    let mib: u64 = std::env::var("PORTCULLIS_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("identity-bench-{mib}.bin"));
    let size = mib * 1024 * 1024;
    if std::fs::metadata(&path).map(|m| m.len()).ok() != Some(size) {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        // Incompressible enough, cheap to make: a xorshift stream.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut block = vec![0u8; 1024 * 1024];
        for _ in 0..mib {
            for chunk in block.chunks_exact_mut(8) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                chunk.copy_from_slice(&x.to_le_bytes());
            }
            out.write_all(&block).unwrap();
        }
        out.flush().unwrap();
    }
    (path, size)
}

fn best_of<F: FnMut()>(runs: usize, mut f: F) -> Duration {
    (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .min()
        .unwrap()
}

fn ours(path: &Path) -> String {
    let file = std::fs::File::open(path).unwrap();
    sha256_reader(file).unwrap().0.to_string()
}

/// Prints both throughputs and their ratio; the page cache is warm for both.
fn compare_with_sha256sum(path: &Path, size: u64) {
    let theirs = || {
        let out = Command::new("sha256sum").arg(path).output();
        match out {
            Ok(out) if out.status.success() => Some(
                String::from_utf8_lossy(&out.stdout)
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_owned(),
            ),
            _ => None,
        }
    };
    let Some(expected) = theirs() else {
        eprintln!("identity bench: `sha256sum` not found; skipping the comparison");
        return;
    };
    assert_eq!(ours(path), expected, "portcullis and sha256sum disagree");
    let t_ours = best_of(5, || {
        black_box(ours(path));
    });
    let t_theirs = best_of(5, || {
        black_box(theirs());
    });
    let mb = size as f64 / 1e6;
    let (a, b) = (mb / t_ours.as_secs_f64(), mb / t_theirs.as_secs_f64());
    eprintln!(
        "identity bench: SHA-256 of {mb:.0} MB: portcullis {a:.0} MB/s, sha256sum {b:.0} MB/s: {:.0}% of sha256sum",
        100.0 * a / b
    );
}

fn identity(c: &mut Criterion) {
    let (path, size) = large_file();
    compare_with_sha256sum(&path, size);

    let mut group = c.benchmark_group("identity");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(size));
    group.bench_function("sha256_large_file", |b| b.iter(|| black_box(ours(&path))));
    group.bench_function("inspect_large_file", |b| {
        b.iter(|| black_box(inspect_file(&path, &TrustRoots::none()).unwrap()))
    });
    group.finish();

    let cache = IdentityCache::new(TrustRoots::none());
    cache.inspect(&path).unwrap();
    let mut group = c.benchmark_group("identity");
    group.bench_function("cache_hit", |b| {
        b.iter(|| black_box(cache.inspect(&path).unwrap()))
    });
    group.finish();
}

criterion_group!(benches, identity);
criterion_main!(benches);
