//! The counting allocator counts this thread's allocations and nothing else.

#![forbid(unsafe_code)]

use plres_simd::alloc::CountingAllocator;

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator::new();

/// One `Vec::with_capacity` is one allocation, a growth past the capacity one more
/// (`realloc`), a zeroed allocation one, freeing none; pure arithmetic none; and work on
/// another thread is not charged to this one.
#[test]
fn counts_this_threads_allocations() {
    let n = GLOBAL.allocations_during(|| {
        let mut v: Vec<u64> = Vec::with_capacity(4);
        v.extend([1, 2, 3, 4]);
        v.push(5); // exceeds the capacity: one realloc
        std::hint::black_box(&v);
    });
    assert_eq!(n, 2);
    let zeroed = GLOBAL.allocations_during(|| {
        std::hint::black_box(vec![0u8; 1 << 12]);
    });
    assert_eq!(zeroed, 1);
    let none = GLOBAL.allocations_during(|| {
        std::hint::black_box((0..100u64).map(|i| i * i).sum::<u64>());
    });
    assert_eq!(none, 0);
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let handle = std::thread::spawn(move || {
        rx.recv().unwrap();
        let before = GLOBAL.thread_allocations();
        for _ in 0..1000 {
            std::hint::black_box(vec![1u8; 64]);
        }
        GLOBAL.thread_allocations() - before
    });
    let mut other = 0;
    let here = GLOBAL.allocations_during(|| {
        tx.send(()).unwrap();
        other = handle.join().unwrap();
    });
    assert_eq!(other, 1000, "the other thread counts its own allocations");
    assert!(here < 1000, "{here} allocations charged to this thread");
}
