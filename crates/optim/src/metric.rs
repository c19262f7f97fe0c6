//! The parameter inner product: per-block weights, Riesz gradients, norms (docs/theory.md §4).
//!
//! A metric is `⟨u, v⟩_M = Σ_b w_b ⟨u_b, v_b⟩` over consecutive blocks `b` of the flat
//! parameter vector. The Riesz gradient `G` is the vector with `⟨G, v⟩_M = ⟨g, v⟩` for all
//! `v`, where `g = ∂L/∂θ` is the Euclidean gradient: `G_b = g_b / w_b`. Its squared norm is
//! `‖G‖²_M = Σ_b w_b ‖g_b/w_b‖² = Σ_b ‖g_b‖²/w_b = ⟨g, G⟩`.
//!
//! The discretised `L²([0,1])` metric of the ResNet has one block per layer with weight
//! `h = 1/L` ([`Metric::l2_layers`]): gradient descent in it, `U_k ← U_k − η ∂L/∂U_k / h`, has a
//! depth-independent limit. [`Metric::euclidean`] is what a deep-learning framework does.

use serde::{Deserialize, Serialize};

use crate::error::ConfigError;

/// One block of a [`Metric`]: `len` consecutive parameters with inner-product weight `weight`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricBlock {
    /// Number of parameters in the block.
    pub len: usize,
    /// Weight `w_b > 0` of the block in `⟨u, v⟩ = Σ_b w_b ⟨u_b, v_b⟩`.
    pub weight: f64,
}

/// Serialised form of a [`Metric`] (validated on deserialisation).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum MetricRepr {
    Euclidean,
    Blocks { blocks: Vec<MetricBlock> },
}

/// Per-block weights of the parameter inner product `⟨u, v⟩ = Σ_b w_b ⟨u_b, v_b⟩`.
///
/// [`Metric::default`] is the Euclidean metric for a vector of any length; the other
/// constructors fix the length and are checked against the problem when a run starts.
///
/// ```
/// use plres_optim::Metric;
/// // 4 layers of 3 parameters, h = 1/4: G_k = g_k / h
/// let m = Metric::l2_layers(4, 3, 0.25).unwrap();
/// let mut g = vec![1.0; 12];
/// m.riesz_in_place(&mut g);
/// assert!(g.iter().all(|&x| x == 4.0));
/// // ‖G‖² = h Σ_k ‖G_k‖² = 0.25 · 12 · 16
/// assert_eq!(m.norm_sq(&g), 48.0);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "MetricRepr", into = "MetricRepr")]
pub struct Metric {
    /// `None`: Euclidean of any length.
    blocks: Option<Vec<MetricBlock>>,
}

impl TryFrom<MetricRepr> for Metric {
    type Error = ConfigError;
    fn try_from(r: MetricRepr) -> Result<Self, ConfigError> {
        match r {
            MetricRepr::Euclidean => Ok(Metric::default()),
            MetricRepr::Blocks { blocks } => {
                Metric::blocks(blocks.into_iter().map(|b| (b.len, b.weight)).collect())
            }
        }
    }
}

impl From<Metric> for MetricRepr {
    fn from(m: Metric) -> Self {
        match m.blocks {
            None => MetricRepr::Euclidean,
            Some(blocks) => MetricRepr::Blocks { blocks },
        }
    }
}

impl Metric {
    /// The Euclidean metric on `ℝⁿ` (one block of weight 1): `G = g`.
    ///
    /// # Panics
    /// If `n == 0`.
    pub fn euclidean(n: usize) -> Self {
        assert!(n > 0, "Metric::euclidean: n = 0 parameters");
        Self {
            blocks: Some(vec![MetricBlock {
                len: n,
                weight: 1.0,
            }]),
        }
    }

    /// The discretised `L²([0,1])` metric of docs/theory.md §4: `n_layers` blocks of `block_len`
    /// parameters, each with weight `h` (usually `h = 1/L`): `⟨U, V⟩ = h Σ_k ⟨U_k, V_k⟩_F`,
    /// Riesz gradient `G_k = (1/h) ∂L/∂U_k`.
    ///
    /// # Errors
    /// `h` not positive and finite, or an empty block.
    pub fn l2_layers(n_layers: usize, block_len: usize, h: f64) -> Result<Self, ConfigError> {
        Self::blocks(vec![(block_len, h); n_layers])
    }

    /// A general block metric from `(len, weight)` pairs, in parameter order.
    ///
    /// # Errors
    /// A weight not positive and finite, an empty block, or no block at all.
    pub fn blocks(blocks: Vec<(usize, f64)>) -> Result<Self, ConfigError> {
        if blocks.is_empty() {
            return Err(ConfigError::EmptyMetricBlock { block: 0 });
        }
        let mut out = Vec::with_capacity(blocks.len());
        for (b, &(len, weight)) in blocks.iter().enumerate() {
            if len == 0 {
                return Err(ConfigError::EmptyMetricBlock { block: b });
            }
            if !(weight > 0.0 && weight.is_finite()) {
                return Err(ConfigError::NonPositiveMetricWeight { block: b, weight });
            }
            out.push(MetricBlock { len, weight });
        }
        Ok(Self { blocks: Some(out) })
    }

    /// The blocks, or `None` for the any-length Euclidean metric.
    pub fn block_list(&self) -> Option<&[MetricBlock]> {
        self.blocks.as_deref()
    }

    /// Number of parameters the metric is defined on (`None`: any).
    pub fn len(&self) -> Option<usize> {
        self.blocks
            .as_ref()
            .map(|bs| bs.iter().map(|b| b.len).sum())
    }

    /// Whether the metric has no parameters (never true for a constructed metric).
    pub fn is_empty(&self) -> bool {
        self.len() == Some(0)
    }

    /// Whether every block has weight exactly 1 (including the any-length default).
    pub fn is_euclidean(&self) -> bool {
        self.blocks
            .as_ref()
            .is_none_or(|bs| bs.iter().all(|b| b.weight == 1.0))
    }

    /// Whether the metric applies to vectors of length `n`.
    pub fn accepts_len(&self, n: usize) -> bool {
        self.len().is_none_or(|m| m == n)
    }

    fn check(&self, n: usize, what: &str) {
        assert!(
            self.accepts_len(n),
            "Metric::{what}: vector length {n} but the metric has {} parameters",
            self.len().unwrap_or(n)
        );
    }

    /// Turns the Euclidean gradient into the Riesz gradient in place: `g_b ← g_b / w_b`.
    ///
    /// # Panics
    /// If `grad.len()` differs from the metric's length.
    pub fn riesz_in_place(&self, grad: &mut [f64]) {
        self.check(grad.len(), "riesz_in_place");
        if let Some(bs) = &self.blocks {
            let mut off = 0;
            for b in bs {
                if b.weight != 1.0 {
                    for g in &mut grad[off..off + b.len] {
                        *g /= b.weight;
                    }
                }
                off += b.len;
            }
        }
    }

    /// Writes the Riesz gradient `G_b = g_b / w_b` into `out` and returns
    /// `‖G‖²_M = Σ_b ‖g_b‖² / w_b` (computed as `⟨g, G⟩`), in one pass.
    ///
    /// # Panics
    /// If `grad`, `out` and the metric do not all have the same length.
    pub fn riesz_into(&self, grad: &[f64], out: &mut [f64]) -> f64 {
        assert_eq!(
            grad.len(),
            out.len(),
            "Metric::riesz_into: grad has length {} but out has length {}",
            grad.len(),
            out.len()
        );
        self.check(grad.len(), "riesz_into");
        match &self.blocks {
            None => {
                out.copy_from_slice(grad);
                dot(grad, grad)
            }
            Some(bs) => {
                let mut acc = 0.0;
                for (w, r) in weighted_ranges(bs) {
                    let (g, o) = (&grad[r.clone()], &mut out[r]);
                    let mut s = 0.0;
                    for (oi, &gi) in o.iter_mut().zip(g) {
                        let gi_w = gi / w;
                        *oi = gi_w;
                        s += gi * gi_w;
                    }
                    acc += s;
                }
                acc
            }
        }
    }

    /// `⟨u, v⟩_M = Σ_b w_b ⟨u_b, v_b⟩`.
    ///
    /// # Panics
    /// If `u`, `v` and the metric do not all have the same length.
    pub fn inner(&self, u: &[f64], v: &[f64]) -> f64 {
        assert_eq!(
            u.len(),
            v.len(),
            "Metric::inner: u has length {} but v has length {}",
            u.len(),
            v.len()
        );
        self.check(u.len(), "inner");
        match &self.blocks {
            None => dot(u, v),
            Some(bs) => {
                weighted_ranges(bs).fold(0.0, |acc, (w, r)| acc + w * dot(&u[r.clone()], &v[r]))
            }
        }
    }

    /// `‖v‖²_M = ⟨v, v⟩_M`.
    ///
    /// # Panics
    /// If `v` and the metric have different lengths.
    pub fn norm_sq(&self, v: &[f64]) -> f64 {
        self.inner(v, v)
    }

    /// The squared norm of the Riesz gradient from the Euclidean gradient `g`:
    /// `‖G‖²_M = Σ_b ‖g_b‖² / w_b` (the dual norm of `g`).
    ///
    /// # Panics
    /// If `g` and the metric have different lengths.
    pub fn dual_norm_sq(&self, g: &[f64]) -> f64 {
        self.check(g.len(), "dual_norm_sq");
        match &self.blocks {
            None => dot(g, g),
            Some(bs) => weighted_ranges(bs).fold(0.0, |acc, (w, r)| {
                let s = &g[r];
                acc + dot(s, s) / w
            }),
        }
    }
}

/// The blocks as `(weight, index range)`, in order: what every block-wise sum of
/// [`Metric`] iterates over.
fn weighted_ranges(
    blocks: &[MetricBlock],
) -> impl Iterator<Item = (f64, std::ops::Range<usize>)> + '_ {
    blocks.iter().scan(0, |off, b| {
        let range = *off..*off + b.len;
        *off += b.len;
        Some((b.weight, range))
    })
}

pub(crate) fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
