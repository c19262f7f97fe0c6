//! Seeded train/test split: a uniformly random permutation of `0..N` (Fisher–Yates with
//! `ChaCha8Rng::seed_from_u64(seed)`), whose first `n_test` entries are the test set and
//! the rest the training set. Both parts keep the permuted order, so the training set
//! also comes shuffled. The same seed gives the same split on every platform: the
//! bounded integers come from a local Lemire sampler on `next_u64`, not from `rand`'s
//! range sampling, whose algorithm may change between versions.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::{DataError, Dataset};

/// Shuffles `items` uniformly in place (Fisher–Yates), drawing from `rng`.
pub fn shuffle<T, R: Rng + ?Sized>(items: &mut [T], rng: &mut R) {
    crate::rng_util::fisher_yates(items, rng);
}

/// The index sets of a split of `0..n`: `(train, test)`, disjoint, together a
/// permutation of `0..n`, `test.len() == n_test`.
///
/// # Panics
/// If `n_test > n`.
pub fn split_indices(n: usize, n_test: usize, seed: u64) -> (Vec<usize>, Vec<usize>) {
    assert!(
        n_test <= n,
        "split_indices: n_test = {n_test} exceeds n = {n}"
    );
    let mut perm: Vec<usize> = (0..n).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    shuffle(&mut perm, &mut rng);
    let train = perm.split_off(n_test);
    (train, perm)
}

/// A train/test split and the original indices of each part.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    /// Training samples.
    pub train: Dataset,
    /// Test samples.
    pub test: Dataset,
    /// Row of the original dataset of each training sample.
    pub train_indices: Vec<usize>,
    /// Row of the original dataset of each test sample.
    pub test_indices: Vec<usize>,
}

/// Splits `data` with `n_test = round(test_fraction · N)` test samples (see the module
/// doc for the construction).
///
/// # Errors
/// [`DataError::InvalidParameter`] unless `0 ≤ test_fraction ≤ 1`.
///
/// ```
/// let digits = plres_data::load_digits()?;
/// let split = plres_data::train_test_split(&digits, 0.25, 7)?;
/// assert_eq!(split.test.n_samples(), 449); // round(0.25 · 1797)
/// assert_eq!(split.train.n_samples() + split.test.n_samples(), 1797);
/// # Ok::<(), plres_data::DataError>(())
/// ```
pub fn train_test_split(data: &Dataset, test_fraction: f64, seed: u64) -> Result<Split, DataError> {
    if !(0.0..=1.0).contains(&test_fraction) {
        return Err(DataError::param(
            "test_fraction",
            test_fraction,
            "a number in [0, 1]",
        ));
    }
    let n = data.n_samples();
    // test_fraction ∈ [0, 1], so the rounded product lies in [0, n].
    let n_test = ((test_fraction * n as f64).round() as usize).min(n);
    let (train_indices, test_indices) = split_indices(n, n_test, seed);
    Ok(Split {
        train: data.select(&train_indices),
        test: data.select(&test_indices),
        train_indices,
        test_indices,
    })
}
