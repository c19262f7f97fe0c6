//! The fixed linear maps around the flow and the checks every model shares.
//!
//! * input embedding `A ∈ R^{d×d_in}`: `x_i^0 = A x_i` (identity when absent, `d_in = d`);
//! * output map `B ∈ R^{d_out×d}`: `z_i = B x_i^L` (identity by default, docs/theory.md §3.1);
//!   the adjoint starts at `P^L = (∂L/∂Z) B` (docs/theory.md §4, `p_i^L = Bᵀ ∂L/∂z_i`).
//!
//! In row-major batch form (one sample per row) these are `X^0 = X Aᵀ`, `Z = X^L Bᵀ`.

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatMut, MatRef, Par};
use plres_data::TargetsRef;

use crate::error::ResNetError;
use crate::loss::{check_finite, loss_in_place};

/// GEMMs whose work `rows·inner·cols` reaches this size run with faer's global
/// parallelism ([`faer::get_global_parallelism`], set it with
/// [`faer::set_global_parallelism`]); smaller ones run sequentially (rayon's fork/join
/// costs ~10 µs, the time of a ~10⁵-flop product on one core).
pub const PAR_THRESHOLD: usize = 1 << 17;

/// Parallelism for a product with `rows·inner·cols` multiply–adds: faer's global setting
/// at or above [`PAR_THRESHOLD`], sequential below.
#[inline]
pub(crate) fn par_for(rows: usize, inner: usize, cols: usize) -> Par {
    if rows.saturating_mul(inner).saturating_mul(cols) >= PAR_THRESHOLD {
        faer::get_global_parallelism()
    } else {
        Par::Seq
    }
}

/// Whether faer's global parallelism allows more than one thread (the tiled step then
/// splits its work in two at fixed positions).
#[inline]
pub(crate) fn parallel() -> bool {
    faer::get_global_parallelism().degree() > 1
}

/// The builders and getters every model with fields `d` (state dimension), `depth` (`L`)
/// and `maps: FixedMaps` shares, as inherent methods (one definition, same names and
/// signatures on `LinearResNet`, `ShlResNet` and `KernelResNet`). Used inside `impl Model`.
macro_rules! fixed_maps_methods {
    () => {
        /// Adds the fixed input embedding `A ∈ R^{d×d_in}`: `x^0 = A x`.
        ///
        /// # Errors
        /// [`ResNetError::DimensionMismatch`](crate::ResNetError::DimensionMismatch) (`A`
        /// must have `d` rows), [`ResNetError::ZeroDimension`](crate::ResNetError::ZeroDimension),
        /// [`ResNetError::NonFinite`](crate::ResNetError::NonFinite).
        pub fn with_input_embedding(
            mut self,
            a: faer::Mat<f64>,
        ) -> Result<Self, crate::error::ResNetError> {
            self.maps.set_embed_in(a, self.d)?;
            Ok(self)
        }

        /// Sets the fixed output map `B ∈ R^{d_out×d}`: `z = B x^L` (identity by default).
        ///
        /// # Errors
        /// [`ResNetError::DimensionMismatch`](crate::ResNetError::DimensionMismatch) (`B`
        /// must have `d` columns), [`ResNetError::ZeroDimension`](crate::ResNetError::ZeroDimension),
        /// [`ResNetError::NonFinite`](crate::ResNetError::NonFinite).
        pub fn with_output_map(
            mut self,
            b: faer::Mat<f64>,
        ) -> Result<Self, crate::error::ResNetError> {
            self.maps.set_embed_out(b, self.d)?;
            Ok(self)
        }

        /// State dimension `d`.
        pub fn dim(&self) -> usize {
            self.d
        }

        /// Depth `L`.
        pub fn depth(&self) -> usize {
            self.depth
        }

        /// The fixed maps `A`, `B`.
        pub fn maps(&self) -> &crate::maps::FixedMaps {
            &self.maps
        }
    };
}
pub(crate) use fixed_maps_methods;

/// `Model::input_dim` and `Model::output_dim` of a model with fields `d` and
/// `maps: FixedMaps`: `d_in` (`d` without embedding) and `d_out` (`d` without output map).
macro_rules! fixed_maps_dims {
    () => {
        fn input_dim(&self) -> usize {
            self.maps.input_dim(self.d)
        }

        fn output_dim(&self) -> usize {
            self.maps.output_dim(self.d)
        }
    };
}
pub(crate) use fixed_maps_dims;

/// `save` and `load` of a model with `to_checkpoint` and `from_checkpoint` (safetensors,
/// atomic write). Used inside `impl Model`.
macro_rules! checkpoint_file_methods {
    () => {
        /// Saves atomically to `path` (safetensors).
        ///
        /// # Errors
        /// [`CheckpointError::Io`](crate::error::CheckpointError::Io).
        pub fn save(
            &self,
            path: impl AsRef<std::path::Path>,
        ) -> Result<(), crate::error::CheckpointError> {
            self.to_checkpoint().save(path)
        }

        /// Loads and validates a checkpoint; errors name the file.
        ///
        /// # Errors
        /// Every [`CheckpointError`](crate::error::CheckpointError) case.
        pub fn load(
            path: impl AsRef<std::path::Path>,
        ) -> Result<Self, crate::error::CheckpointError> {
            let path = path.as_ref();
            Self::from_checkpoint(&crate::checkpoint::Checkpoint::load(path)?)
                .map_err(|e| e.in_file(path))
        }
    };
}
pub(crate) use checkpoint_file_methods;

/// `Trainable::params` and `Trainable::params_mut` of a model whose flat parameters are the
/// field `$field` (`Vec<f64>`); the attributes (the layout's doc) go on `params`.
macro_rules! flat_params {
    ($(#[$doc:meta])* $field:ident) => {
        $(#[$doc])*
        fn params(&self) -> &[f64] {
            &self.$field
        }

        fn params_mut(&mut self) -> &mut [f64] {
            &mut self.$field
        }
    };
}
pub(crate) use flat_params;

/// `Trainable::trajectory_at_unchecked` of a model whose `forward_into(params, ws, x)` leaves
/// the states in `ws.states` and the output in `ws.z`, with `ws` from `self.$workspace(n)`.
macro_rules! trajectory_from_forward {
    ($workspace:ident) => {
        fn trajectory_at_unchecked(
            &self,
            params: &[f64],
            x: faer::MatRef<'_, f64>,
        ) -> crate::report::Trajectory {
            let mut ws = self.$workspace(x.nrows());
            self.forward_into(params, &mut ws, x);
            crate::report::Trajectory {
                states: ws.states,
                output: ws.z,
            }
        }
    };
}
pub(crate) use trajectory_from_forward;

/// The fixed input embedding `A` and output map `B` of a model.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FixedMaps {
    /// `A ∈ R^{d×d_in}` (`None` = identity, `d_in = d`).
    pub embed_in: Option<Mat<f64>>,
    /// `B ∈ R^{d_out×d}` (`None` = identity, `d_out = d`).
    pub embed_out: Option<Mat<f64>>,
}

impl FixedMaps {
    /// Input dimension `d_in`.
    pub fn input_dim(&self, d: usize) -> usize {
        self.embed_in.as_ref().map_or(d, |a| a.ncols())
    }

    /// Output dimension `d_out`.
    pub fn output_dim(&self, d: usize) -> usize {
        self.embed_out.as_ref().map_or(d, |b| b.nrows())
    }

    /// Validates `A` (`d×d_in`, finite, `d_in ≥ 1`) for state dimension `d`.
    pub(crate) fn check_embed_in(a: &Mat<f64>, d: usize) -> Result<(), ResNetError> {
        check_dim("rows of the input embedding A (d)", d, a.nrows())?;
        if a.ncols() == 0 {
            return Err(ResNetError::ZeroDimension {
                what: "d_in (columns of A)",
            });
        }
        check_finite(a.as_ref(), "input embedding A")
    }

    /// Validates `B` (`d_out×d`, finite, `d_out ≥ 1`) for state dimension `d`.
    pub(crate) fn check_embed_out(b: &Mat<f64>, d: usize) -> Result<(), ResNetError> {
        check_dim("columns of the output map B (d)", d, b.ncols())?;
        if b.nrows() == 0 {
            return Err(ResNetError::ZeroDimension {
                what: "d_out (rows of B)",
            });
        }
        check_finite(b.as_ref(), "output map B")
    }

    /// Sets the input embedding `A` after [`FixedMaps::check_embed_in`].
    pub(crate) fn set_embed_in(&mut self, a: Mat<f64>, d: usize) -> Result<(), ResNetError> {
        Self::check_embed_in(&a, d)?;
        self.embed_in = Some(a);
        Ok(())
    }

    /// Sets the output map `B` after [`FixedMaps::check_embed_out`].
    pub(crate) fn set_embed_out(&mut self, b: Mat<f64>, d: usize) -> Result<(), ResNetError> {
        Self::check_embed_out(&b, d)?;
        self.embed_out = Some(b);
        Ok(())
    }

    /// `x0 = X Aᵀ` (or a copy of `X`).
    ///
    /// # Panics
    /// If the shapes disagree (`x: N×d_in`, `x0: N×d`).
    pub(crate) fn embed(&self, x: MatRef<'_, f64>, x0: MatMut<'_, f64>) {
        apply_map(self.embed_in.as_ref().map(|a| a.transpose()), x, x0);
    }

    /// `z = X^L Bᵀ` (or a copy of `X^L`).
    pub(crate) fn output(&self, xl: MatRef<'_, f64>, z: MatMut<'_, f64>) {
        apply_map(self.embed_out.as_ref().map(|b| b.transpose()), xl, z);
    }

    /// `P^L = G B` from the loss gradient `G = ∂L/∂Z` (or a copy of `G`).
    pub(crate) fn adjoint_terminal(&self, g: MatRef<'_, f64>, pl: MatMut<'_, f64>) {
        apply_map(self.embed_out.as_ref().map(|b| b.as_ref()), g, pl);
    }
}

/// `dst = src M` for a fixed map `M` (one GEMM), `dst = src` without one: the three
/// products of [`FixedMaps`] with `M = Aᵀ`, `Bᵀ` or `B`.
fn apply_map(m: Option<MatRef<'_, f64>>, src: MatRef<'_, f64>, mut dst: MatMut<'_, f64>) {
    match m {
        None => dst.copy_from(src),
        Some(m) => {
            let par = par_for(src.nrows(), m.nrows(), m.ncols());
            matmul(dst, Accum::Replace, src, m, 1.0, par);
        }
    }
}

impl FixedMaps {
    /// The loss `L(Z)` of the output `z` (`N×d_out`), with `∂L/∂Z` written into `gz` and
    /// the terminal adjoint `P^L = (∂L/∂Z) B` into `pl` (`N×d`).
    ///
    /// # Panics
    /// If the shapes disagree.
    pub(crate) fn terminal_loss(
        &self,
        z: MatRef<'_, f64>,
        targets: TargetsRef<'_>,
        gz: MatMut<'_, f64>,
        pl: MatMut<'_, f64>,
    ) -> f64 {
        let mut gz = gz;
        let loss = loss_in_place(z, targets, gz.as_mut());
        self.adjoint_terminal(gz.as_ref(), pl);
        loss
    }
}

/// Validates a batch `x`: `N ≥ 1` rows, `d_in` columns, finite entries.
pub(crate) fn check_batch(x: MatRef<'_, f64>, d_in: usize) -> Result<(), ResNetError> {
    if x.nrows() == 0 {
        return Err(ResNetError::EmptyData { what: "input X" });
    }
    check_dim("input columns (d_in)", d_in, x.ncols())?;
    check_finite(x, "input X")
}

/// Validates a dimension of the data against what the model expects.
///
/// # Errors
/// [`ResNetError::DimensionMismatch`] naming `what`, unless `found == expected`.
pub(crate) fn check_dim(
    what: &'static str,
    expected: usize,
    found: usize,
) -> Result<(), ResNetError> {
    if expected != found {
        return Err(ResNetError::DimensionMismatch {
            what,
            expected,
            found,
        });
    }
    Ok(())
}

/// Validates the length of a flat parameter (or gradient) vector.
pub(crate) fn check_len(
    what: &'static str,
    expected: usize,
    found: usize,
) -> Result<(), ResNetError> {
    if expected != found {
        return Err(ResNetError::ParameterLength {
            what,
            expected,
            found,
        });
    }
    Ok(())
}

/// A zero vector of `len` entries, or [`ResNetError::TooLarge`] (with `what` and the
/// operands) when `len` overflowed (`None`) or cannot be allocated: sizes computed from
/// user values go through here instead of `vec![0.0; len]`.
pub(crate) fn zeros_checked(
    what: &'static str,
    len: Option<usize>,
    operands: impl FnOnce() -> String,
) -> Result<Vec<f64>, ResNetError> {
    let len = len.ok_or_else(|| ResNetError::TooLarge {
        what,
        value: operands(),
    })?;
    let mut v = Vec::new();
    v.try_reserve_exact(len)
        .map_err(|_| ResNetError::TooLarge {
            what,
            value: len.to_string(),
        })?;
    v.resize(len, 0.0);
    Ok(v)
}
