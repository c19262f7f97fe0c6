//! The fused pre-activation and activation for small input dimensions (private): the
//! kernel is [`plres_simd::fused`] (called directly, [`try_forward`]); this module decides
//! how many threads the work is worth.

use faer::Par;

pub(crate) use plres_simd::fused::{Activation, try_forward};

use crate::map::effective_par;

/// The parallelism to hand [`try_forward`] for `n` rows and `q` weight rows under `act`:
/// one thread when the output (`2q` columns for paired features, `q` otherwise) is too
/// small to be worth splitting.
pub(crate) fn fused_par(par: Par, n: usize, q: usize, act: Activation) -> Par {
    let outputs = if act == Activation::Paired {
        q.saturating_mul(2)
    } else {
        q
    };
    effective_par(par, n, outputs)
}
