//! Seeded synthetic datasets. Every generator draws from an explicitly passed
//! `&mut R where R: rand::Rng` (use `ChaCha8Rng::seed_from_u64(seed)`), so a seed fixes
//! the data bit for bit.
//!
//! - [`separated`]: points in a ball with a guaranteed minimum pairwise distance `δ`
//!   (the separation the PL certificate's Gershgorin bound needs, docs/theory.md §5), and
//!   random targets;
//! - [`shapes`]: two moons, concentric circles, uniform points on the sphere `S^{d−1}`;
//! - [`teacher`]: targets `y = Φ(x)` from the time-1 flow of a fixed random smooth
//!   vector field in a random-Fourier-feature span, so a zero-loss solution exists.

pub mod separated;
pub mod shapes;
pub mod teacher;
