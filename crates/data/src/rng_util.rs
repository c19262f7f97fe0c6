//! Small sampling helpers on top of an explicitly passed generator.

use rand::{Rng, RngExt};
use rand_distr::StandardNormal;

/// A uniform integer in `0..n` (`n > 0`), by Lemire's multiply-and-reject method
/// (D. Lemire, "Fast random integer generation in an interval", ACM TOMACS 2019).
/// Written here, on `next_u64`, so that seeded permutations do not depend on the
/// internals of `rand`'s range sampling.
pub(crate) fn below<R: Rng + ?Sized>(rng: &mut R, n: u64) -> u64 {
    debug_assert!(n > 0);
    let mut m = u128::from(rng.next_u64()) * u128::from(n);
    if (m as u64) < n {
        // 2^64 mod n: products whose low word falls below it are rejected.
        let threshold = n.wrapping_neg() % n;
        while (m as u64) < threshold {
            m = u128::from(rng.next_u64()) * u128::from(n);
        }
    }
    (m >> 64) as u64
}

/// Fisher–Yates shuffle (Durstenfeld's in-place form): for `i = n−1, …, 1` swap entry
/// `i` with a uniform entry in `0..=i`. Every permutation is equally likely.
pub(crate) fn fisher_yates<T, R: Rng + ?Sized>(items: &mut [T], rng: &mut R) {
    for i in (1..items.len()).rev() {
        let j = below(rng, i as u64 + 1) as usize;
        items.swap(i, j);
    }
}

/// A standard normal variate.
pub(crate) fn gaussian<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    rng.sample(StandardNormal)
}

/// A uniform variate in `[0, 1)`.
pub(crate) fn uniform01<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    rng.random::<f64>()
}

/// Fills `out` with a uniform point of the unit sphere `S^{d−1}`, `d = out.len() ≥ 1`:
/// a standard Gaussian vector divided by its norm (the Gaussian is rotation invariant).
/// A draw of norm below `1e-150` (probability ~0) is redrawn so the division is safe.
pub(crate) fn unit_sphere_point<R: Rng + ?Sized>(rng: &mut R, out: &mut [f64]) {
    loop {
        let mut sq = 0.0;
        for v in out.iter_mut() {
            *v = gaussian(rng);
            sq += *v * *v;
        }
        let norm = sq.sqrt();
        if norm > 1e-150 {
            for v in out.iter_mut() {
                *v /= norm;
            }
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn below_stays_in_range_and_hits_every_value() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for n in [1u64, 2, 3, 7, 10] {
            let mut seen = vec![false; n as usize];
            for _ in 0..200 {
                let k = below(&mut rng, n);
                assert!(k < n);
                seen[k as usize] = true;
            }
            // P(a value is missed in 200 draws) ≤ 10·(9/10)^200 < 1e-8.
            assert!(seen.iter().all(|&s| s));
        }
    }

    #[test]
    fn fisher_yates_is_a_permutation() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let mut v: Vec<usize> = (0..50).collect();
        fisher_yates(&mut v, &mut rng);
        let mut sorted = v.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..50).collect::<Vec<_>>());
        assert_ne!(
            v, sorted,
            "a uniform shuffle of 50 items is the identity with prob 1/50!"
        );
    }
}
