//! Preprocessing: per-feature standardisation fitted on the training set, a seeded
//! train/test split, and a fixed random linear input embedding `A: R^{d_in} → R^d`.

pub mod embed;
pub mod split;
pub mod standardize;
