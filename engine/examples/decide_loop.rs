//! Decides generated events in a loop: a fixed workload for instruction counts.
//!
//! ```sh
//! cargo build --release -p portcullis-engine --example decide_loop
//! valgrind --tool=callgrind --toggle-collect='*decide_with*' \
//!     target/release/examples/decide_loop small hash-hit 1000 21
//! ```
//!
//! Arguments: fleet size (`small`, `medium`, `large`, `xlarge`), scenario (`hash-hit`,
//! `cert-hit`, `path-hit`, `miss`, `elevation`, `mixed`), events, rounds. Every event
//! is decided once per round; the instructions collected, divided by events × rounds,
//! are the cost of one decision.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use portcullis_engine::fleet::{EventKind, EventMix, Fleet, Preset};
use portcullis_engine::{Outcome, Scratch, Snapshot};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let size = args.get(1).map_or("small", String::as_str);
    let scenario = args.get(2).map_or("hash-hit", String::as_str);
    let count: usize = args.get(3).map_or(1000, |a| a.parse().expect("events"));
    let rounds: usize = args.get(4).map_or(21, |a| a.parse().expect("rounds"));
    let preset = Preset::from_name(size).expect("size: small, medium, large or xlarge");
    let mix = if scenario == "mixed" {
        EventMix::MIXED
    } else {
        let kind = EventKind::ALL
            .into_iter()
            .find(|k| k.name() == scenario)
            .expect("scenario");
        EventMix::only(kind)
    };
    let fleet = Fleet::preset(preset, 7);
    let snapshot = Snapshot::compile(&fleet.bundle).expect("the fleet compiles");
    let events = fleet.events(&mix, count, 11);
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
