//! A counting global allocator, so that allocation tests need no `unsafe` of their own.
//!
//! ```standalone_crate
//! #![forbid(unsafe_code)]
//! use plres_simd::alloc::CountingAllocator;
//!
//! #[global_allocator]
//! static A: CountingAllocator = CountingAllocator::new();
//!
//! fn main() {
//!     let n = A.allocations_during(|| drop(std::hint::black_box(vec![1u8; 16])));
//!     assert_eq!(n, 1);
//! }
//! ```

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

thread_local! {
    /// Allocations (`alloc`, `alloc_zeroed`, `realloc`) made on this thread through a
    /// [`CountingAllocator`].
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

/// The system allocator, counting the allocations of each thread (`alloc`, `alloc_zeroed`
/// and `realloc`; `dealloc` is not counted). Per-thread counts let tests that run
/// concurrently measure their own code only.
///
/// Install it with `#[global_allocator] static A: CountingAllocator =
/// CountingAllocator::new();` and read the counts with [`Self::thread_allocations`] or
/// [`Self::allocations_during`].
#[derive(Debug, Default)]
pub struct CountingAllocator {
    _private: (),
}

impl CountingAllocator {
    /// A counting allocator (usable in a `static`).
    pub const fn new() -> Self {
        CountingAllocator { _private: () }
    }

    /// Allocations made so far by the calling thread.
    pub fn thread_allocations(&self) -> u64 {
        ALLOCATIONS.with(Cell::get)
    }

    /// Allocations made by the calling thread while `f` runs (work that `f` hands to other
    /// threads is not counted).
    pub fn allocations_during(&self, f: impl FnOnce()) -> u64 {
        let before = self.thread_allocations();
        f();
        self.thread_allocations() - before
    }
}

fn bump() {
    // `try_with`: the thread-local may already be destroyed while a thread exits
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: every method forwards its arguments unchanged to the system allocator, whose
// implementation satisfies the `GlobalAlloc` contract; counting touches only a thread-local
// `Cell` (no allocation, no re-entrancy: `Cell<u64>` has no destructor and a `const`
// initialiser).
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        bump();
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which we pass on.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        bump();
        // SAFETY: the caller upholds `GlobalAlloc::alloc_zeroed`'s contract, passed on.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        bump();
        // SAFETY: `ptr` came from this allocator, i.e. from `System` (every method
        // forwards), and the caller upholds `realloc`'s contract, passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` (every method forwards) with this `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
}
