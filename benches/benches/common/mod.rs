//! Set-up shared by the bench binaries that time `plres_rff::trig::sincos`
//! (`machine.rs`, `rff_apply.rs`).

use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput};

/// The criterion group `name` of the sincos timings: 30 samples of 3 s each, `elements`
/// arguments per iteration.
pub fn sincos_group<'a>(
    c: &'a mut Criterion,
    name: &str,
    elements: usize,
) -> BenchmarkGroup<'a, WallTime> {
    let mut group = c.benchmark_group(name);
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(3));
    group.throughput(Throughput::Elements(elements as u64));
    group
}
