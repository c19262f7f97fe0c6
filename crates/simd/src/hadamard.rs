//! The Hadamard product `v ← v ⊙ s` of plres-resnet's tiled Euler step (`V ⊙ σ'`, the
//! backward pass through a column-wise activation).

use crate::dispatch::{Simd, SliceFn, dispatch_slices};
use crate::hygiene::clear_upper_state;

/// `v ← v ⊙ s` as a [`SliceFn`] (`out` = `v`, `inp` = `s`).
struct Hadamard;

impl SliceFn<&[f64]> for Hadamard {
    type Output = ();
    #[inline(always)]
    fn call<S: Simd>(self, _: S, v: &mut [f64], s: &[f64]) {
        if S::LANES == 1 {
            // the baseline-x86-64 loop runs after faer's kernels, which leave the upper
            // vector state dirty
            clear_upper_state();
        }
        for (vi, si) in v.iter_mut().zip(s) {
            *vi *= *si;
        }
    }
}

/// `v_i ← v_i · s_i` over `min(v.len(), s.len())` entries, with the widest vectors the CPU
/// has (a product is exact in any width: the same bits on every path). The baseline loop
/// runs after `vzeroupper` ([`clear_upper_state`]).
pub fn hadamard_in_place(v: &mut [f64], s: &[f64]) {
    dispatch_slices(Hadamard, v, s);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every entry is the exact product (any vector width gives the same bits), whatever
    /// the length (full vectors and tails).
    #[test]
    fn products_are_exact() {
        for n in [0usize, 1, 7, 8, 9, 33] {
            let s: Vec<f64> = (0..n).map(|i| (i as f64 * 0.7).sin()).collect();
            let v0: Vec<f64> = (0..n).map(|i| 1.0 / (i as f64 + 0.3)).collect();
            let mut v = v0.clone();
            hadamard_in_place(&mut v, &s);
            for i in 0..n {
                assert_eq!(v[i].to_bits(), (v0[i] * s[i]).to_bits(), "n = {n}, i = {i}");
            }
        }
    }
}
