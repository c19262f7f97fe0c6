//! The certificate of the infinite-width [`KernelResNet`] (exact kernel Grams).
//!
//! Per layer `k`: `λ_k = λ_min(K(X^k, X^k))` with the exact kernel, and
//! `a_k = max_i ‖Dθ_k(x_i^k)‖_op` from the expansion's Jacobian
//! `Dθ_k(x) = Σ_c a_c ∇_x k(x, c)ᵀ` (`O(m d²)` per point for `m` centres).
//! `‖G‖²` is the model's `h Σ_k tr(P^{k+1ᵀ} K_k P^{k+1})` — for this model the exact
//! identity (item 1) is the definition of the Riesz norm, so it is checked elsewhere
//! against a finite-difference directional derivative (see the crate's tests).

use faer::{Mat, MatRef, Par};
use plres_resnet::Model as _;
use plres_resnet::{KernelResNet, TargetsRef};

use crate::error::TheoryError;
use crate::linalg::OpNorm;
use crate::pl::certificate::{continuous_analogue_cells, mu_cert};
use crate::pl::linear::{IdentitySums, frob_sq, model_err, sigma_min_sq};
use crate::pl::snapshot::{CertificateKind, PlSnapshot};
use plres_kernels::spectral::SymEigen;

/// The snapshot of docs/theory.md §5 for a kernel ResNet at its current `θ`, squared loss on
/// `(x, y)`. `output_map` is the `B` the network was given with `with_output_map`
/// (`None` = identity); it is checked against the network's output on `x`.
///
/// # Errors
/// The model's data errors as [`TheoryError::Model`]; [`TheoryError::Shape`] when
/// `output_map` does not reproduce the network's output (relative error above
/// `4 d eps`); [`TheoryError::NoConvergence`], [`TheoryError::Spectral`].
pub fn kernel_snapshot(
    net: &KernelResNet,
    x: MatRef<'_, f64>,
    y: MatRef<'_, f64>,
    output_map: Option<MatRef<'_, f64>>,
) -> Result<PlSnapshot, TheoryError> {
    let g = net
        .loss_and_gradient(x, TargetsRef::Regression(y))
        .map_err(model_err)?;
    let (n, d, depth) = (x.nrows(), net.dim(), net.depth());
    let h = 1.0 / depth as f64;
    // B consistency: Z = X^L Bᵀ must match the network's output
    let z = net.forward(x).map_err(model_err)?;
    let xl = g.states[depth].as_ref();
    let zb = match output_map {
        None => xl.to_owned(),
        Some(b) => {
            if b.ncols() != d || b.nrows() != z.ncols() {
                return Err(TheoryError::Shape {
                    what: "output map B (d_out×d)",
                    expected: z.ncols() * d,
                    got: b.nrows() * b.ncols(),
                });
            }
            xl * b.transpose()
        }
    };
    if zb.ncols() != z.ncols() {
        return Err(TheoryError::Shape {
            what: "output columns (d_out) of the identity output map",
            expected: z.ncols(),
            got: zb.ncols(),
        });
    }
    let diff = frob_sq((&zb - &z).as_ref()).sqrt();
    if diff > 4.0 * d as f64 * f64::EPSILON * frob_sq(z.as_ref()).sqrt().max(f64::MIN_POSITIVE) {
        return Err(TheoryError::Shape {
            what: "output map B does not reproduce the network output",
            expected: 0,
            got: 1,
        });
    }
    let sigma_b_sq = sigma_min_sq(output_map)?;
    let kernel = net.kernel();
    let mut gram = Mat::<f64>::zeros(n, n);
    let mut eig = SymEigen::new(n, Par::Seq);
    let mut opn = OpNorm::new(d);
    let mut jac = Mat::<f64>::zeros(d, d);
    let mut xi = vec![0.0; d];
    let (mut lambda, mut a, mut adj) = (vec![0.0; depth], vec![0.0; depth], vec![0.0; depth]);
    let mut sums = IdentitySums::default();
    for k in 0..depth {
        let xk = g.states[k].as_ref();
        kernel.gram_in_place(xk, gram.as_mut());
        lambda[k] = eig.lambda_min(gram.as_ref())?;
        let layer = &net.layers()[k];
        let mut best = 0.0f64;
        if layer.n_centres() > 0 {
            for i in 0..n {
                for c in 0..d {
                    xi[c] = xk[(i, c)];
                }
                layer.jacobian_at(&xi, jac.as_mut());
                best = best.max(opn.op_norm(jac.as_ref())?);
            }
        }
        a[k] = best;
        let pk1 = g.adjoints[k + 1].as_ref();
        let kp = &gram * pk1;
        adj[k] = sums.add_layer(h, kp.as_ref(), pk1, |i| gram[(i, i)].max(0.0));
    }
    let rho = if g.loss > 0.0 {
        g.riesz_norm_sq / g.loss
    } else {
        f64::NAN
    };
    let kernel_bound = h * lambda.iter().zip(&adj).map(|(l, q)| l * q).sum::<f64>();
    Ok(PlSnapshot {
        kind: CertificateKind::Exact,
        n_samples: n,
        depth,
        width: None,
        loss: g.loss,
        grad_norm_sq: g.riesz_norm_sq,
        rho,
        mu_cert: Some(mu_cert(&lambda, &a, h, n, sigma_b_sq)),
        mu_continuous: continuous_analogue_cells(&lambda, &a, h, n, sigma_b_sq),
        lambda,
        a,
        sigma_b_sq,
        terminal_adjoint_sq: frob_sq(g.adjoints[depth].as_ref()),
        adjoint_norm_sq: adj,
        identity: Some(sums.identity),
        kernel_bound: Some(kernel_bound),
        rounding_scale: sums.scale,
        n_inner: 2 * n + d,
        eig_scale: sums.eig_scale,
    })
}
