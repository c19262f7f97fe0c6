//! Accuracy of the vectorised trig kernels against libm, on every back end this CPU has.

#![forbid(unsafe_code)]

mod trig_accuracy {
    use plres_simd::trig::{self, Backend};
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Number of representable doubles between `a` and `b` (the "ulp distance"): both are
    /// mapped to integers that are monotone in the value, so the difference counts the
    /// doubles strictly between them plus one. Equal values give 0.
    fn ulp_distance(a: f64, b: f64) -> u64 {
        fn ord(x: f64) -> i128 {
            let bits = x.to_bits() as i64;
            i128::from(if bits < 0 { i64::MIN - bits } else { bits })
        }
        (ord(a) - ord(b)).unsigned_abs() as u64
    }

    /// Max ulp distance from libm over `x`, for one back end, of (sin, cos) from `sincos`
    /// and of the cosine-only kernel (`cos_in_place`, a different polynomial), as
    /// `(sin, max(cos from sincos, cos alone))`.
    fn max_ulps(backend: Backend, x: &[f64]) -> (u64, u64) {
        let (mut s, mut c) = (vec![0.0; x.len()], vec![0.0; x.len()]);
        trig::sincos_with(backend, x, &mut s, &mut c);
        let mut c_only = x.to_vec();
        trig::shifted_cos_in_place_with(backend, &mut c_only, 0.0, 1.0);
        let mut worst = (0, 0);
        for i in 0..x.len() {
            let (sin, cos) = x[i].sin_cos();
            worst.0 = worst.0.max(ulp_distance(s[i], sin));
            worst.1 = worst
                .1
                .max(ulp_distance(c[i], cos))
                .max(ulp_distance(c_only[i], cos));
        }
        worst
    }

    /// Reports the worst `(sin, cos)` ulp distances of `backend` on the points `what`
    /// describes, and asserts both are at most 4 ulp.
    fn assert_within_4_ulp(backend: Backend, what: &str, worst: (u64, u64)) {
        eprintln!(
            "{backend:?}: max ulp {what}: sin {}, cos {}",
            worst.0, worst.1
        );
        assert!(
            worst.0 <= 4 && worst.1 <= 4,
            "{backend:?}: {worst:?} ulp > 4"
        );
    }

    /// 10⁷ uniform points of [−10⁴, 10⁴]: at most 4 ulp from libm on every back end.
    ///
    /// The ulp is that of the libm result (distance in representable doubles), everywhere,
    /// with no absolute-error escape near the zeros: the reduction keeps an absolute error
    /// below 2⁻¹¹² and hands |r| < 2⁻⁵⁰ to libm (module docs of `trig`), so the relative
    /// error stays ≈ 2⁻⁵² even where sin or cos is tiny. Expected budget: ≤ 1 ulp from the
    /// two roundings in the reduction, ≤ 1 ulp from polynomial + evaluation, ≤ 0.5 ulp from
    /// libm's own rounding; 4 ulp is the requirement.
    #[test]
    fn ten_million_points_within_4_ulp() {
        const TOTAL: usize = 10_000_000;
        const CHUNK: usize = 100_000;
        for backend in Backend::available() {
            let mut rng = ChaCha8Rng::seed_from_u64(0x7819);
            let mut x = vec![0.0; CHUNK];
            let mut worst = (0, 0);
            for _ in 0..TOTAL / CHUNK {
                for v in x.iter_mut() {
                    *v = rng.random_range(-1.0e4..=1.0e4);
                }
                let w = max_ulps(backend, &x);
                worst = (worst.0.max(w.0), worst.1.max(w.1));
            }
            assert_within_4_ulp(backend, "over 1e7 points", worst);
        }
    }

    /// The hard cases: doubles next to k·π/2 for every k with |k·π/2| ≤ 10⁴ (and their
    /// neighbours ±3 ulp), where sin or cos is ~10⁻¹²…10⁻¹⁷ and a naive reduction loses
    /// all relative accuracy; and points k·π/2 + δ, δ = ±10⁻¹⁴…±10⁻², which stay on the
    /// polynomial path (|r| ≥ 2⁻⁵⁰) while the result is still tiny. Same 4-ulp criterion.
    #[test]
    fn near_multiples_of_half_pi_within_4_ulp() {
        let mut x = Vec::new();
        for k in -6366i32..=6366 {
            let centre = f64::from(k) * std::f64::consts::FRAC_PI_2;
            let mut v = centre;
            for _ in 0..3 {
                v = v.next_down();
            }
            for _ in 0..7 {
                x.push(v);
                v = v.next_up();
            }
            for e in 2..=14 {
                let delta = 10f64.powi(-e) * 1.234_567;
                x.push(centre + delta);
                x.push(centre - delta);
            }
        }
        for backend in Backend::available() {
            let worst = max_ulps(backend, &x);
            assert_within_4_ulp(backend, "next to k·π/2", worst);
        }
    }

    /// Same input, same machine, same back end: bitwise the same output.
    #[test]
    fn deterministic() {
        let x: Vec<f64> = (0..1000)
            .map(|i| (i as f64 * 1.618).sin() * 5000.0)
            .collect();
        for backend in Backend::available() {
            let (mut s1, mut c1) = (vec![0.0; 1000], vec![0.0; 1000]);
            let (mut s2, mut c2) = (vec![0.0; 1000], vec![0.0; 1000]);
            trig::sincos_with(backend, &x, &mut s1, &mut c1);
            trig::sincos_with(backend, &x, &mut s2, &mut c2);
            assert!(s1.iter().zip(&s2).all(|(a, b)| a.to_bits() == b.to_bits()));
            assert!(c1.iter().zip(&c2).all(|(a, b)| a.to_bits() == b.to_bits()));
        }
    }
}
