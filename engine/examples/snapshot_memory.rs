//! How many heap bytes a snapshot holds per rule, and what one more hash rule costs.
//!
//! ```sh
//! cargo run --release -p portcullis-engine --example snapshot_memory -- large
//! ```
//!
//! Arguments: fleet size (`small`, `medium`, `large`, `xlarge`) and how many bare hash
//! rules to add to each application for the second compile (default 16). The heap is
//! counted by a global allocator that adds up what is live, so the figures leave out
//! what the allocator keeps besides (its size classes, freed memory not yet returned):
//! `portcullis bench` reports resident memory, which includes that. The second compile
//! adds rules with random digests to every application and keeps everything else; the
//! difference divided by the rules added is the cost of one more hash rule.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    unsafe_code
)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use portcullis_engine::fleet::{Fleet, Preset, SplitMix64};
use portcullis_engine::model::{FileRule, Sha256};
use portcullis_engine::Snapshot;

/// The system allocator, counting the bytes live.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call goes to `System` with the arguments it was given; the counter
// does not touch the memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Relaxed);
        // SAFETY: the caller's contract is `System.alloc`'s.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Relaxed);
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size, Relaxed);
        LIVE.fetch_sub(layout.size(), Relaxed);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The heap bytes `f`'s result holds.
fn held<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = LIVE.load(Relaxed);
    let value = f();
    (value, LIVE.load(Relaxed).saturating_sub(before))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let size = args.get(1).map_or("large", String::as_str);
    let per_app: usize = args
        .get(2)
        .map_or(16, |a| a.parse().expect("rules per application"));
    let preset = Preset::from_name(size).expect("size: small, medium, large or xlarge");
    let fleet = Fleet::preset(preset, 7);
    let rules = preset.size().rules();

    let mut more = fleet.bundle.clone();
    let mut rng = SplitMix64::new(11);
    let mut added = 0usize;
    for app in &mut more.applications {
        for _ in 0..per_app {
            let mut digest = [0u8; 32];
            for chunk in digest.chunks_mut(8) {
                chunk.copy_from_slice(&rng.next_u64().to_le_bytes());
            }
            app.rules.push(FileRule::hash(Sha256(digest)));
            added += 1;
        }
    }

    let (_source, source) = held(|| fleet.bundle.clone());
    let (base, compiled) = held(|| Snapshot::compile(&fleet.bundle).expect("the fleet compiles"));
    let (bigger, compiled_more) = held(|| Snapshot::compile(&more).expect("it still compiles"));
    let per_rule = |bytes: usize, rules: usize| bytes as f64 / rules.max(1) as f64;
    println!("{size} fleet, {rules} rules");
    println!(
        "the bundle itself: {:.1} bytes per rule",
        per_rule(source, rules)
    );
    println!(
        "its snapshot: {:.1} bytes per rule ({:.1} MiB)",
        per_rule(compiled, rules),
        compiled as f64 / (1 << 20) as f64
    );
    println!(
        "one more hash rule: {:.1} bytes ({added} added to {} applications)",
        (compiled_more as f64 - compiled as f64) / added.max(1) as f64,
        more.applications.len()
    );
    std::hint::black_box((&base, &bigger));
}
