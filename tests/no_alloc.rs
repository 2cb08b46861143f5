//! The decision path allocates nothing once a thread's scratch space has grown: a
//! counting global allocator watches every decision of the example events.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use portcullis_engine::{Engine, Event, Scratch};

struct Counting;

// Only the deciding thread is watched: the test harness allocates on its own threads.
thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator; only counts.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn deciding_does_not_allocate() {
    let engine = Engine::from_json(include_str!("../examples/bundle.json")).unwrap();
    let events: Vec<Event> = include_str!("../examples/events.jsonl")
        .lines()
        .map(|line| Event::from_json(line).unwrap())
        .collect();
    let mut scratch = Scratch::default();
    let snapshot = engine.snapshot();
    // Warm up: the scratch buffers grow to their working size.
    for event in &events {
        snapshot.decide_with(event, &mut scratch);
        snapshot.decide(event);
        engine.snapshot().decide(event);
    }
    COUNTING.with(|c| c.set(true));
    let mut allowed = 0;
    for _ in 0..100 {
        for event in &events {
            allowed += usize::from(snapshot.decide_with(event, &mut scratch).is_allowed());
            allowed += usize::from(snapshot.decide(event).is_allowed());
            allowed += usize::from(engine.snapshot().decide(event).is_allowed());
        }
    }
    COUNTING.with(|c| c.set(false));
    assert!(allowed > 0);
    assert_eq!(ALLOCATIONS.load(Ordering::SeqCst), 0, "decisions allocated");
}
