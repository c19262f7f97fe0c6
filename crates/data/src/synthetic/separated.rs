//! Points in the ball `B(0, r) ⊂ R^d` with a guaranteed minimum pairwise distance `δ`,
//! and random targets.
//!
//! **Sampler.** Sequential rejection ("random sequential adsorption"): draw a candidate
//! uniformly in the ball (a Gaussian direction times `r·U^{1/d}`); keep it when its
//! computed norm is `≤ r` and its computed distance to every point kept so far is
//! `≥ δ`; stop after `max_tries` candidates with [`DataError::Infeasible`]. The
//! guarantee is exact for the distances as
//! [`plres_kernels::spectral::min_separation`] (the workspace's one minimum separation)
//! computes them (same differences, same summation order, same `sqrt`): no tolerance is
//! involved.
//!
//! **Feasibility.** The balls of radius `δ/2` around `δ`-separated points are disjoint
//! and lie in `B(0, r + δ/2)`, so by volume `N ≤ (1 + 2r/δ)^d` ([`packing_bound`]).
//! A request above that bound is refused at once (no draw is made). Below it,
//! rejection sampling may still fail (it jams well before the densest packing);
//! the try budget turns that into an error instead of an endless loop.
//!
//! **Targets** ([`BallTargets`]), drawn after all inputs: `y_i = x_i + s ξ_i` with
//! `ξ_i ~ N(0, I_d)`, or `y_i` uniform on the sphere of a given radius. Either way the
//! targets are pairwise distinct with probability 1; for `d ≥ 2` distinct points can be
//! moved to any distinct destinations by the flow of a smooth time-dependent vector
//! field, so the continuous model (docs/theory.md §3.1) can reach zero loss; for `d = 1` a
//! flow preserves order and only order-preserving assignments are reachable.

use faer::{Mat, MatRef};
use rand::Rng;

use crate::rng_util::{gaussian, uniform01, unit_sphere_point};
use crate::{DataError, Dataset, Targets};

/// Random targets for [`separated_ball`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum BallTargets {
    /// `y_i = x_i + scale · ξ_i`, `ξ_i ~ N(0, I_d)`.
    Perturbed {
        /// Standard deviation of the perturbation per coordinate (`≥ 0`).
        scale: f64,
    },
    /// `y_i` uniform on the sphere of this radius (`≥ 0`).
    Sphere {
        /// Radius of the target sphere.
        radius: f64,
    },
}

/// Parameters of [`separated_ball`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SeparatedBallConfig {
    /// Number of points `N`.
    pub n: usize,
    /// Dimension `d ≥ 1`.
    pub dim: usize,
    /// Radius `r > 0` of the ball.
    pub radius: f64,
    /// Minimum pairwise distance `δ ≥ 0`.
    pub delta: f64,
    /// Candidate draws allowed before giving up; [`SeparatedBallConfig::new`] sets
    /// `100·N + 1000`.
    pub max_tries: usize,
    /// How targets are drawn; [`SeparatedBallConfig::new`] sets
    /// `Perturbed { scale: 0.5·r/√d }` (perturbations of norm about `r/2`).
    pub targets: BallTargets,
}

impl SeparatedBallConfig {
    /// A configuration with the documented defaults for `max_tries` and `targets`.
    pub fn new(n: usize, dim: usize, radius: f64, delta: f64) -> Self {
        SeparatedBallConfig {
            n,
            dim,
            radius,
            delta,
            max_tries: n.saturating_mul(100).saturating_add(1000),
            targets: BallTargets::Perturbed {
                scale: 0.5 * radius / (dim.max(1) as f64).sqrt(),
            },
        }
    }
}

/// Upper bound `(1 + 2r/δ)^d` on the number of `δ`-separated points in `B(0, r) ⊂ R^d`
/// (volume argument, module doc); `+∞` for `δ = 0`.
pub fn packing_bound(dim: usize, radius: f64, delta: f64) -> f64 {
    if delta <= 0.0 {
        return f64::INFINITY;
    }
    (dim as f64 * (2.0 * radius / delta).ln_1p()).exp()
}

/// Euclidean distance between rows `i` and `j`, `√(Σ_k (x_ik − x_jk)²)` summed in column
/// order — the sum [`plres_kernels::spectral::min_separation`] forms for each pair, which
/// makes the separation guarantee exact.
fn row_distance(x: MatRef<'_, f64>, i: usize, j: usize) -> f64 {
    let mut s = 0.0;
    for k in 0..x.ncols() {
        let t = x[(i, k)] - x[(j, k)];
        s += t * t;
    }
    s.sqrt()
}

/// Largest `N·d` a point set may have: 2³¹ entries (16 GiB of `f64`), far above any
/// experiment, far below what would wrap or abort on allocation.
pub const MAX_ENTRIES: usize = 1 << 31;

fn validate(cfg: &SeparatedBallConfig) -> Result<(), DataError> {
    if cfg.dim == 0 {
        return Err(DataError::param("dim", cfg.dim, "at least 1"));
    }
    if cfg.n.checked_mul(cfg.dim).is_none_or(|e| e > MAX_ENTRIES) {
        return Err(DataError::param(
            "n·dim",
            format!("{}·{}", cfg.n, cfg.dim),
            "at most 2^31 entries",
        ));
    }
    DataError::check_positive("radius", cfg.radius)?;
    DataError::check_nonnegative("delta", cfg.delta)?;
    match cfg.targets {
        BallTargets::Perturbed { scale } => DataError::check_nonnegative("targets.scale", scale),
        BallTargets::Sphere { radius } => DataError::check_nonnegative("targets.radius", radius),
    }
}

/// `N` points in `B(0, r) ⊂ R^d` with pairwise distances `≥ δ` (module doc), as the
/// rows of an `N × d` matrix; the targets of `cfg` are ignored.
///
/// # Errors
/// [`DataError::InvalidParameter`] for a bad `dim`, `radius` or `delta`;
/// [`DataError::Infeasible`] when `N` exceeds [`packing_bound`] (`provably: true`) or
/// the try budget runs out.
pub fn separated_ball_points<R: Rng + ?Sized>(
    cfg: &SeparatedBallConfig,
    rng: &mut R,
) -> Result<Mat<f64>, DataError> {
    validate(cfg)?;
    let (n, d) = (cfg.n, cfg.dim);
    let infeasible = |placed, tries, provably| DataError::Infeasible {
        n,
        delta: cfg.delta,
        radius: cfg.radius,
        dim: d,
        placed,
        tries,
        provably,
    };
    if n as f64 > packing_bound(d, cfg.radius, cfg.delta) {
        return Err(infeasible(0, 0, true));
    }
    let mut x = Mat::<f64>::zeros(n, d);
    let mut dir = vec![0.0; d];
    let (mut placed, mut tries) = (0, 0);
    while placed < n {
        if tries == cfg.max_tries {
            return Err(infeasible(placed, tries, false));
        }
        tries += 1;
        unit_sphere_point(rng, &mut dir);
        let rho = cfg.radius * uniform01(rng).powf(1.0 / d as f64);
        let mut sq = 0.0;
        for k in 0..d {
            x[(placed, k)] = rho * dir[k];
            sq += x[(placed, k)] * x[(placed, k)];
        }
        if sq.sqrt() > cfg.radius {
            continue;
        }
        let xr = x.as_ref();
        if (0..placed).all(|j| row_distance(xr, placed, j) >= cfg.delta) {
            placed += 1;
        }
    }
    Ok(x)
}

/// A regression dataset: inputs from [`separated_ball_points`], then targets as
/// `cfg.targets` says (`N × d`).
///
/// # Errors
/// As [`separated_ball_points`], plus [`DataError::InvalidParameter`] for a negative
/// or non-finite target scale/radius.
///
/// ```
/// use plres_data::{separated_ball, SeparatedBallConfig};
/// use plres_kernels::spectral::min_separation;
/// use rand::SeedableRng;
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
/// let ds = separated_ball(&SeparatedBallConfig::new(20, 3, 1.0, 0.3), &mut rng)?;
/// assert!(min_separation(ds.x.as_ref()) >= 0.3);
/// # Ok::<(), plres_data::DataError>(())
/// ```
pub fn separated_ball<R: Rng + ?Sized>(
    cfg: &SeparatedBallConfig,
    rng: &mut R,
) -> Result<Dataset, DataError> {
    let x = separated_ball_points(cfg, rng)?;
    let (n, d) = (cfg.n, cfg.dim);
    let mut y = Mat::<f64>::zeros(n, d);
    let mut dir = vec![0.0; d];
    for i in 0..n {
        match cfg.targets {
            BallTargets::Perturbed { scale } => {
                for k in 0..d {
                    y[(i, k)] = x[(i, k)] + scale * gaussian(rng);
                }
            }
            BallTargets::Sphere { radius } => {
                unit_sphere_point(rng, &mut dir);
                for k in 0..d {
                    y[(i, k)] = radius * dir[k];
                }
            }
        }
    }
    Ok(Dataset {
        x,
        y: Targets::Regression(y),
    })
}
