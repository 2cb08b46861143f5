//! A global allocator that counts the allocations of the threads that ask it to, for
//! the tests that prove a path allocates nothing. A test binary installs it:
//!
//! ```ignore
//! #[global_allocator]
//! static GLOBAL: portcullis_testkit::alloc::Counting = portcullis_testkit::alloc::Counting;
//! ```
//!
//! and measures with [`allocations_during`]. Only the calling thread is watched: the
//! test harness allocates on its own threads.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

/// The system allocator, counting the allocations of watched threads.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counting;

// SAFETY: forwards to the system allocator; only counts.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCATIONS.with(|n| n.set(n.get() + 1));
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// Runs `work` and returns how many allocations this thread made meanwhile. Panics
/// when [`Counting`] is not the binary's global allocator, so that a test cannot pass
/// by counting nothing.
pub fn allocations_during(work: impl FnOnce()) -> usize {
    COUNTING.with(|c| c.set(true));
    ALLOCATIONS.with(|n| n.set(0));
    drop(std::hint::black_box(Box::new(0u64)));
    assert_eq!(
        ALLOCATIONS.with(Cell::get),
        1,
        "install `portcullis_testkit::alloc::Counting` as the #[global_allocator]"
    );
    ALLOCATIONS.with(|n| n.set(0));
    work();
    COUNTING.with(|c| c.set(false));
    ALLOCATIONS.with(Cell::get)
}
