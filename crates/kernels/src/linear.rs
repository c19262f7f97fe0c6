//! The linear kernel `k(x, y) = x·y` (not stationary; its RKHS is the linear maps).

use faer::linalg::matmul::matmul;
use faer::prelude::Reborrow;
use faer::{Accum, MatMut, MatRef};
use serde::{Deserialize, Serialize};

use crate::kernel::{check_grad_x, check_weighted_grad_shapes};
use crate::pairwise::{ColumnFn, cross_driver, par, row_sq_norms, sym_driver};
use crate::{Kernel, KernelSpec};

/// Linear kernel `k(x, y) = x·y`, `∇_x k = y`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "KernelSpec", into = "KernelSpec")]
pub struct Linear;

impl Kernel for Linear {
    fn name(&self) -> &'static str {
        "linear"
    }

    fn eval(&self, x: &[f64], y: &[f64]) -> f64 {
        assert!(
            x.len() == y.len(),
            "eval: x has length {}, y has length {}",
            x.len(),
            y.len()
        );
        x.iter().zip(y).map(|(a, b)| a * b).sum()
    }

    fn grad_x(&self, x: &[f64], y: &[f64], out: &mut [f64]) {
        check_grad_x(x, y, out);
        out.copy_from_slice(y);
    }

    fn gram_in_place(&self, x: MatRef<'_, f64>, out: MatMut<'_, f64>) {
        let nx = row_sq_norms(x);
        let f: &ColumnFn<'_> = &|_, _, _| {};
        sym_driver("gram_in_place", x, out, f, |i| nx[i]);
    }

    fn cross_gram_in_place(&self, x: MatRef<'_, f64>, y: MatRef<'_, f64>, out: MatMut<'_, f64>) {
        let f: &ColumnFn<'_> = &|_, _, _| {};
        cross_driver("cross_gram_in_place", x, y, out, f);
    }

    fn spec(&self) -> Option<KernelSpec> {
        Some(KernelSpec::Linear)
    }

    /// `out (⊕)= W Y` — one GEMM; `scratch` is not touched.
    fn weighted_grad_in_place(
        &self,
        x: MatRef<'_, f64>,
        y: MatRef<'_, f64>,
        w: MatRef<'_, f64>,
        scratch: MatMut<'_, f64>,
        out: MatMut<'_, f64>,
        accum: Accum,
    ) {
        check_weighted_grad_shapes(x, y, w, scratch.rb(), out.rb());
        matmul(out, accum, w, y, 1.0, par());
    }
}
