//! The [`LinearResNet`] type, its configuration and its public API.

use std::sync::Arc;

use faer::{Mat, MatRef};
use plres_data::TargetsRef;
use plres_optim::Metric;
use plres_rff::FeatureMap;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use crate::error::ResNetError;
use crate::integrator::Integrator;
use crate::linear::field;
use crate::linear::fused;
use crate::linear::workspace::{self, LinearWorkspace};
use crate::loss::loss_in_place;
use crate::maps::FixedMaps;
use crate::model::{Model, Trainable, Workspace};
use crate::report::Trajectory;

/// Initial value of the trained slices.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Init {
    /// `U = 0` (the study's choice): the network starts as the identity map.
    #[default]
    Zero,
    /// `U` entries iid `N(0, std²)` from a `ChaCha8Rng` seeded with `seed`.
    Normal {
        /// Standard deviation (`≥ 0`, finite).
        std: f64,
        /// Seed of the generator.
        seed: u64,
    },
}

impl Init {
    /// Fills `u` with the initial values.
    ///
    /// # Errors
    /// [`ResNetError::InvalidSetting`] for a negative or non-finite `std`.
    pub(crate) fn fill(&self, u: &mut [f64]) -> Result<(), ResNetError> {
        match *self {
            Init::Zero => u.fill(0.0),
            Init::Normal { std, seed } => {
                if !(std >= 0.0 && std.is_finite()) {
                    return Err(ResNetError::InvalidSetting {
                        what: "init std",
                        value: std,
                        reason: "must be finite and ≥ 0",
                    });
                }
                let mut rng = ChaCha8Rng::seed_from_u64(seed);
                for v in u.iter_mut() {
                    let z: f64 = StandardNormal.sample(&mut rng);
                    *v = std * z;
                }
            }
        }
        Ok(())
    }
}

/// Shape and initialisation of a [`LinearResNet`] (the feature map fixes `d` and `p`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LinearResNetConfig {
    /// Depth `L ≥ 1` (step `h = 1/L`). Default 16.
    pub depth: usize,
    /// Depth discretisation. Default [`Integrator::Euler`] (the ResNet).
    pub integrator: Integrator,
    /// Initial `U`. Default [`Init::Zero`].
    pub init: Init,
}

impl Default for LinearResNetConfig {
    fn default() -> Self {
        Self {
            depth: 16,
            integrator: Integrator::Euler,
            init: Init::Zero,
        }
    }
}

/// The finite-width ResNet linear in its trained parameters (docs/theory.md §3.2, module docs
/// of [`crate::linear`]).
///
/// ```
/// use std::sync::Arc;
/// use faer::Mat;
/// use plres_kernels::KernelSpec;
/// use plres_resnet::{LinearResNet, LinearResNetConfig, Model, TargetsRef, Trainable};
/// use plres_rff::{FourierVariant, RandomFourierFeatures};
/// use rand::SeedableRng;
///
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
/// let spec = KernelSpec::Gaussian { sigma: 1.0 };
/// let phi = RandomFourierFeatures::sample(&spec, 2, 64, FourierVariant::CosineWithPhase, &mut rng)
///     .unwrap();
/// let net = LinearResNet::new(Arc::new(phi), LinearResNetConfig { depth: 4, ..Default::default() })
///     .unwrap();
/// let x = Mat::from_fn(5, 2, |i, j| (i + j) as f64 * 0.1);
/// // zero initialisation: the identity map
/// assert_eq!(net.forward(x.as_ref()).unwrap(), x);
/// let y = Mat::from_fn(5, 2, |i, _| i as f64 * 0.2);
/// let g = net.gradient_report(x.as_ref(), TargetsRef::Regression(y.as_ref())).unwrap();
/// assert_eq!(g.euclidean.len(), 4 * 2 * 64);
/// ```
#[derive(Clone, Debug)]
pub struct LinearResNet {
    pub(crate) features: Arc<dyn FeatureMap>,
    pub(crate) seed: Option<u64>,
    pub(crate) d: usize,
    pub(crate) p: usize,
    pub(crate) depth: usize,
    pub(crate) integrator: Integrator,
    pub(crate) u: Vec<f64>,
    pub(crate) maps: FixedMaps,
}

impl LinearResNet {
    /// A network over `features` (shared by all layers) with the given depth,
    /// integrator and initial `U`.
    ///
    /// # Errors
    /// [`ResNetError::ZeroDepth`], [`ResNetError::ZeroWidth`],
    /// [`ResNetError::ZeroDimension`], [`ResNetError::InvalidSetting`] (init),
    /// [`ResNetError::TooLarge`] when `slices·d·p` overflows or cannot be allocated.
    pub fn new(
        features: Arc<dyn FeatureMap>,
        config: LinearResNetConfig,
    ) -> Result<Self, ResNetError> {
        let d = features.input_dim();
        let p = features.output_dim();
        if config.depth == 0 {
            return Err(ResNetError::ZeroDepth);
        }
        if p == 0 {
            return Err(ResNetError::ZeroWidth);
        }
        if d == 0 {
            return Err(ResNetError::ZeroDimension { what: "d (state)" });
        }
        let what = "parameters (slices·d·p)";
        let len = match config.integrator {
            Integrator::Euler => Some(config.depth),
            _ => config.depth.checked_add(1),
        }
        .and_then(|s| s.checked_mul(d))
        .and_then(|s| s.checked_mul(p))
        .ok_or_else(|| ResNetError::TooLarge {
            what,
            value: format!(
                "depth {} ({:?}) · d {d} · p {p}",
                config.depth, config.integrator
            ),
        })?;
        let mut u = Vec::new();
        u.try_reserve_exact(len)
            .map_err(|_| ResNetError::TooLarge {
                what,
                value: len.to_string(),
            })?;
        u.resize(len, 0.0);
        config.init.fill(&mut u)?;
        Ok(Self {
            features,
            seed: None,
            d,
            p,
            depth: config.depth,
            integrator: config.integrator,
            u,
            maps: FixedMaps::default(),
        })
    }

    crate::maps::fixed_maps_methods!();

    /// Records the seed the feature map was drawn with (the `seed` checkpoint metadata).
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// The seed recorded with [`LinearResNet::with_seed`].
    pub fn seed(&self) -> Option<u64> {
        self.seed
    }

    /// The feature map `φ`.
    pub fn features(&self) -> &Arc<dyn FeatureMap> {
        &self.features
    }

    /// Width `p`.
    pub fn width(&self) -> usize {
        self.p
    }

    /// Step `h = 1/L`.
    pub fn step(&self) -> f64 {
        1.0 / self.depth as f64
    }

    /// The integrator.
    pub fn integrator(&self) -> Integrator {
        self.integrator
    }

    /// Number of slices `S` (`L` for Euler, `L+1` otherwise).
    pub fn n_slices(&self) -> usize {
        self.integrator.n_slices(self.depth)
    }

    /// Slice `U_k ∈ R^{d×p}` (`k < S`) as a view of the parameters.
    ///
    /// # Panics
    /// If `k ≥ S`.
    pub fn slice(&self, k: usize) -> MatRef<'_, f64> {
        workspace::slice_t(&self.u, k, self.d, self.p).transpose()
    }

    /// Per-slice weights of the `L²` metric (see [`Integrator::slice_weights`]).
    pub fn slice_weights(&self) -> Vec<f64> {
        self.integrator.slice_weights(self.depth)
    }

    /// Buffers for batches of up to `n_max` samples. With forward Euler and a column-wise
    /// feature map ([`FeatureMap::columnwise`]: cosine
    /// Fourier features with a phase, ReLU features) the training step is the tiled one of
    /// the tiled step (`linear/fused.rs`) and keeps no `Φ_k` ([`LinearWorkspace::phi`] is `None`); otherwise as
    /// [`LinearResNet::workspace_keeping_features`].
    pub fn workspace(&self, n_max: usize) -> LinearWorkspace {
        self.workspace_with(n_max, self.features.columnwise().is_none(), true)
    }

    /// Buffers that keep every `Φ_k = φ(X_k)` and the feature map's vjp cache of the last
    /// Euler pass ([`LinearWorkspace::phi`]): `2·N·p·L` more doubles than [`LinearResNet::workspace`],
    /// for analyses that want the features themselves.
    pub fn workspace_keeping_features(&self, n_max: usize) -> LinearWorkspace {
        self.workspace_with(n_max, true, true)
    }

    fn workspace_with(
        &self,
        n_max: usize,
        keep_features: bool,
        keep_adjoints: bool,
    ) -> LinearWorkspace {
        LinearWorkspace::new(
            n_max,
            self.d,
            self.p,
            self.features.cache_dim(),
            self.depth,
            self.input_dim(),
            self.output_dim(),
            self.integrator,
            keep_features,
            keep_adjoints,
            self.maps.embed_out.is_none(),
        )
    }

    /// Panics unless `ws` was made for this model and holds `n` rows.
    #[track_caller]
    fn assert_workspace(&self, ws: &LinearWorkspace, n: usize) {
        let model = (
            self.d,
            self.p,
            self.depth,
            self.input_dim(),
            self.output_dim(),
            self.integrator,
        );
        assert!(
            ws.dims() == model,
            "workspace made for (d, p, L, d_in, d_out, integrator) = {:?}; model has {model:?}",
            ws.dims()
        );
        assert!(
            ws.identity_out == self.maps.embed_out.is_none(),
            "workspace made for a model {} an output map B; this model {}: use its own \
             LinearResNet::workspace",
            if ws.identity_out { "without" } else { "with" },
            if ws.identity_out {
                "has one"
            } else {
                "has none"
            }
        );
        assert!(
            ws.tiled.is_none() || self.features.columnwise().is_some(),
            "workspace made for the tiled step of a column-wise feature map; this model's map \
             ({:?}) is not column-wise: use its own LinearResNet::workspace",
            self.features.spec()
        );
        assert!(
            n <= ws.capacity(),
            "batch of N={n} rows over the workspace capacity n_max={}",
            ws.capacity()
        );
    }

    /// Forward pass into `ws` (states `X_0..X_L` and output), for `params` (layout of
    /// [`LinearResNet::params`]). Keeps what the backward pass needs.
    fn forward_into(&self, u: &[f64], ws: &mut LinearWorkspace, x: MatRef<'_, f64>) {
        let n = x.nrows();
        ws.n = n;
        self.maps.embed(x, ws.states[0].as_mut().subrows_mut(0, n));
        match self.integrator {
            Integrator::Euler => match (&mut ws.tiled, self.features.columnwise()) {
                (Some(scratch), Some(cw)) => fused::forward(&cw, u, &mut ws.states, n, scratch),
                _ => workspace::euler_forward(self.features.as_ref(), u, ws, n),
            },
            _ => field::ode_forward(self, u, ws, n),
        }
        if !ws.identity_out {
            let xl = ws.states[self.depth].as_ref().subrows(0, n);
            self.maps.output(xl, ws.z.as_mut().subrows_mut(0, n));
        }
    }

    /// States at the layer boundaries and output for `params`, inputs validated.
    fn trajectory_at(&self, u: &[f64], x: MatRef<'_, f64>) -> Trajectory {
        let n = x.nrows();
        let mut states: Vec<Mat<f64>> = (0..=self.depth).map(|_| Mat::zeros(n, self.d)).collect();
        self.maps.embed(x, states[0].as_mut());
        match self.integrator {
            Integrator::Euler => match self.features.columnwise() {
                Some(cw) => {
                    let mut scratch = fused::Scratch::new(self.p, 0);
                    fused::forward(&cw, u, &mut states, n, &mut scratch);
                }
                None => {
                    let mut phi = Mat::zeros(n, self.p);
                    workspace::euler_forward_eval(
                        self.features.as_ref(),
                        u,
                        &mut states,
                        &mut phi,
                        n,
                        self.d,
                        self.p,
                    );
                }
            },
            _ => field::ode_forward_eval(self, u, &mut states),
        }
        let mut output = Mat::zeros(n, self.output_dim());
        self.maps
            .output(states[self.depth].as_ref(), output.as_mut());
        Trajectory { states, output }
    }
}

impl Model for LinearResNet {
    crate::maps::fixed_maps_dims!();

    fn trajectory_unchecked(&self, x: MatRef<'_, f64>) -> Trajectory {
        self.trajectory_at(&self.u, x)
    }
}

impl Trainable for LinearResNet {
    type Workspace = LinearWorkspace;

    crate::maps::flat_params!(
        /// `U`, laid out as `residual.u` `[S, d, p]` (row-major): `S·d·p` values.
        u
    );

    /// The discretised `L²([0,1])` inner product `⟨U, V⟩ = Σ_k w_k ⟨U_k, V_k⟩_F`
    /// (`w_k = h` for Euler, docs/theory.md §4).
    fn metric(&self) -> Metric {
        let blocks = self
            .slice_weights()
            .into_iter()
            .map(|w| (self.d * self.p, w))
            .collect();
        Metric::blocks(blocks).expect("slice weights are positive and blocks non-empty")
    }

    /// The leanest buffers for training: as [`LinearResNet::workspace`], but with forward
    /// Euler only two adjoint buffers alternate (only `P_0` is kept,
    /// [`LinearWorkspace::keeps_adjoints`]), so that with a column-wise map a step holds the states
    /// `X_0..X_L`, two `N×d` adjoints, two tile pairs and one `min(N, p)×d` buffer. What
    /// [`TrainingProblem`](crate::TrainingProblem) uses.
    fn training_workspace(&self, n_max: usize) -> LinearWorkspace {
        self.workspace_with(n_max, self.features.columnwise().is_none(), false)
    }

    fn trajectory_at_unchecked(&self, params: &[f64], x: MatRef<'_, f64>) -> Trajectory {
        self.trajectory_at(params, x)
    }

    /// The states and what the workspace keeps of the features and adjoints stay in `ws`
    /// ([`LinearWorkspace::state`], [`LinearWorkspace::phi`] for
    /// [`LinearResNet::workspace_keeping_features`], [`LinearWorkspace::adjoint`] — every
    /// `P_k` except for [`Trainable::training_workspace`]).
    #[track_caller]
    fn loss_and_gradient_unchecked(
        &self,
        u: &[f64],
        ws: &mut LinearWorkspace,
        x: MatRef<'_, f64>,
        targets: TargetsRef<'_>,
        grad: &mut [f64],
    ) -> f64 {
        self.assert_workspace(ws, x.nrows());
        let n = x.nrows();
        self.forward_into(u, ws, x);
        let last = ws.adjoint_slot(self.depth);
        let loss = if ws.identity_out {
            // Z = X_L and P_L = ∂L/∂Z: no copies
            loss_in_place(
                ws.states[self.depth].as_ref().subrows(0, n),
                targets,
                ws.adjoints[last].as_mut().subrows_mut(0, n),
            )
        } else {
            self.maps.terminal_loss(
                ws.z.as_ref().subrows(0, n),
                targets,
                ws.gz.as_mut().subrows_mut(0, n),
                ws.adjoints[last].as_mut().subrows_mut(0, n),
            )
        };
        match self.integrator {
            Integrator::Euler => match (&mut ws.tiled, self.features.columnwise()) {
                (Some(scratch), Some(cw)) => {
                    fused::backward(&cw, u, &ws.states, &mut ws.adjoints, n, grad, scratch)
                }
                _ => workspace::euler_backward(self.features.as_ref(), u, ws, n, grad),
            },
            _ => field::ode_backward(self, u, ws, n, grad),
        }
        loss
    }
}

impl Workspace for LinearWorkspace {
    fn capacity(&self) -> usize {
        LinearWorkspace::capacity(self)
    }
}
