//! # plres — train, certify and size a linear-residual ResNet on your own data
//!
//! One job: the user-facing entry to the library crates, in the shape of scikit-learn's
//! estimators — a builder with sound defaults ([`Estimator`]), `fit(x, y)` returning the
//! trained network, the training report and the PL-certificate trace ([`Fitted`]),
//! `predict`, `score`, checkpoints ([`Network::save`], [`Network::load`]) and
//! [`certify`]; the `plres` command line (`src/main.rs`) is a thin layer over it and
//! the [`io`] readers and writers.
//!
//! ## The equations
//!
//! The network (docs/theory.md §3): standardised inputs `x̃`, `x^0 = A x̃`,
//! `x^{k+1} = x^k + h U_k φ(x^k)` (`h = 1/L`; the kernel and SHL variants of
//! plres-resnet), output `z = B x^L`. Loss `L = (1/N) Σ ½‖z_i − y_i‖²` (labels one-hot)
//! or the softmax cross-entropy. The certificate (§5 item 4): `ρ = ‖G‖²/L ≥ μ_cert`
//! at every iterate of an Euler network; the tight constant `μ_tight = (2/N) λ_min(Θ)`
//! sits between. The `auto` width (§6): the smallest `p` with
//! `P(λ_min(K_p) < λ_min(K)/2) ≤ δ` by matrix Bernstein.
//!
//! ```
//! let digits = plres_data::load_digits()?;
//! let fitted = plres::Estimator::new().width(64).depth(4).steps(20)
//!     .fit(digits.x.as_ref(), digits.y.as_ref())?;
//! for row in fitted.trace.iter().filter(|r| r.mu_cert.is_some()) {
//!     assert!(row.rho >= row.mu_cert.unwrap()); // ‖G‖² ≥ μ_cert L, certified
//! }
//! println!("test accuracy {:.3}", fitted.report.test_score.unwrap());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Modules
//!
//! * [`config`] — [`EstimatorConfig`] (what is asked, `auto` allowed) and
//!   [`ResolvedConfig`] (every default resolved).
//! * [`estimator`] — [`Estimator`], [`Prepared`], [`Fitted`], [`TraceRow`],
//!   [`TrainingReport`], the `auto` bandwidth and width.
//! * [`network`] — [`Network`] (a trained model with its preprocessing), [`Task`],
//!   [`Predictions`], checkpoints.
//! * [`certify`](mod@certify) — [`certify()`], [`Certificate`].
//! * [`sizing`] — [`features_needed()`]: both feature-count bounds on given points.
//! * [`io`] — data files (CSV with a header, `.npy`, IDX) in, CSV and `.npy` out.
//! * [`error`] — [`PlresError`].

#![forbid(unsafe_code)]

pub mod certify;
pub mod config;
pub mod error;
pub mod estimator;
pub mod io;
pub mod network;
pub mod sizing;

pub use certify::{Certificate, certify};
pub use config::{
    Bandwidth, Budget, EstimatorConfig, FeatureKind, IntegratorKind, LossKind, ModelKind,
    OptimizerKind, ResolvedConfig, Width, WidthChoice,
};
pub use error::PlresError;
pub use estimator::{Estimator, Fitted, Prepared, TraceRow, TrainingReport};
pub use network::{Network, Predictions, Task, TrainedModel};
pub use plres_data::{Targets, TargetsRef};
pub use sizing::{FeatureBounds, features_needed};
