//! Decides the stream fleet's events of one kind with the plain map: the baseline's
//! side of the instruction and cache-miss counts of `engine/examples/stream_loop.rs`.
//!
//! ```sh
//! cargo build --release -p portcullis-bench-baselines --example plain_loop
//! valgrind --tool=callgrind --cache-sim=yes --toggle-collect='*PlainMap*decide*' \
//!     target/release/examples/plain_loop miss 5000 1
//! ```

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use portcullis_bench_baselines::plain::PlainMap;
use portcullis_engine::fleet::{StreamFleet, StreamKind, StreamSize};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let kind = args.get(1).map_or("miss", String::as_str);
    let count: usize = args.get(2).map_or(20_000, |a| a.parse().expect("events"));
    let rounds: usize = args.get(3).map_or(1, |a| a.parse().expect("rounds"));
    let kind = StreamKind::ALL
        .into_iter()
        .find(|k| k.name() == kind)
        .expect("kind: deny-hash, hash-hit, cert-hit, path-hit or miss");
    let fleet = StreamFleet::generate(StreamSize::DEFAULT, 1);
    let map = PlainMap::new(&fleet.bundle).expect("the plain map encodes the fleet");
    let events = fleet.events(kind, count, 1);
    let mut allowed = 0usize;
    for _ in 0..rounds {
        for event in &events {
            allowed += usize::from(std::hint::black_box(map.decide(event)).allow);
        }
    }
    println!("{allowed} allowed of {}", count * rounds);
}
