//! Decides the stream fleet's events of one kind, on random customers' computers: a
//! fixed cross-organization workload for instruction and cache-miss counts.
//!
//! ```sh
//! cargo build --release -p portcullis-engine --example stream_loop
//! valgrind --tool=callgrind --cache-sim=yes --toggle-collect='*decide_with*' \
//!     target/release/examples/stream_loop miss 20000 1
//! ```
//!
//! Arguments: kind (`deny-hash`, `hash-hit`, `cert-hit`, `path-hit`, `miss`), events,
//! rounds. Every event is decided once per round; the instructions (and misses)
//! collected, divided by events × rounds, are the cost of one decision.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use portcullis_engine::fleet::{StreamFleet, StreamKind, StreamSize};
use portcullis_engine::{Outcome, Scratch, Snapshot};

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
    let snapshot = Snapshot::compile(&fleet.bundle).expect("the fleet compiles");
    let events = fleet.events(kind, count, 1);
    let mut scratch = Scratch::default();
    let mut allowed = 0usize;
    for _ in 0..rounds {
        for event in &events {
            let decision = snapshot.decide_with(event, &mut scratch);
            allowed += usize::from(decision.decision == Outcome::Allow);
        }
    }
    println!("{allowed} allowed of {}", count * rounds);
}
