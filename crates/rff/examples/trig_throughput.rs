//! Quick throughput check of the vectorised sincos against libm (single thread):
//! `cargo run --release -p plres-rff --example trig_throughput`.

use plres_rff::trig::{self, Backend};
use std::time::Instant;

fn main() {
    let n = 1 << 20;
    let x: Vec<f64> = (0..n)
        .map(|i| ((i as f64) * 0.618_034).sin() * 50.0)
        .collect();
    let (mut s, mut c) = (vec![0.0; n], vec![0.0; n]);
    let reps = 20;
    let time = |f: &mut dyn FnMut()| {
        f();
        let t = Instant::now();
        for _ in 0..reps {
            f();
        }
        t.elapsed().as_secs_f64() / reps as f64
    };
    for backend in Backend::available() {
        let secs = time(&mut || trig::sincos_with(backend, &x, &mut s, &mut c));
        println!(
            "{backend:?}: sincos {:.2} ns/element ({:.0} M elements/s)",
            secs * 1e9 / n as f64,
            n as f64 / secs / 1e6
        );
        let mut y = x.clone();
        let secs = time(&mut || trig::shifted_cos_in_place_with(backend, &mut y, 0.0, 1.0));
        println!(
            "{backend:?}: cos in place {:.2} ns/element",
            secs * 1e9 / n as f64
        );
    }
    let secs = time(&mut || {
        for i in 0..n {
            (s[i], c[i]) = x[i].sin_cos();
        }
    });
    println!("libm sin_cos: {:.2} ns/element", secs * 1e9 / n as f64);
}
