//! # plres-data — datasets
//!
//! One job: produce `(X, Y)` batches: seeded synthetic data (separated points, moons,
//! circles, sphere, teacher flows), the embedded UCI digits, an IDX reader, and the
//! preprocessing (standardisation, split, random embedding).
