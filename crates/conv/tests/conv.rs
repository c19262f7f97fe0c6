//! Gradient checks of every layer, the residual flow and the whole model against central
//! finite differences; the flow against an independent direct-convolution loop.
//!
//! Finite differences: `D_i = (F(p + h e_i) − F(p − h e_i)) / 2h` with `h = ε^{1/3}`
//! (ε = f64 machine epsilon) has truncation error `≤ h² M₃ / 6` and rounding error
//! `≲ ε S / h`, with `S` a bound on the magnitudes summed into `F` and `M₃` on its third
//! derivative. Each check uses `|D_i − g_i| ≤ C (h² + ε/h) S` with the scale `S` stated
//! at the call and `C = 100` covering `M₃/S` of these smooth, small functions.

#![forbid(unsafe_code)]

use plres_conv::layers::batchnorm::BatchNorm;
use plres_conv::layers::conv2d::{Conv2d, ConvSpec};
use plres_conv::layers::linear::Linear;
use plres_conv::layers::loss::softmax_cross_entropy;
use plres_conv::layers::relu::{relu_backward_in_place, relu_in_place};
use plres_conv::{
    ChunkedFlowWork, ConvResNet, ConvResNetConfig, FlowWork, Residual, ResidualKind, flow_chunk,
};
use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

mod common;

use common::{images, tiny_cases};

/// `PROPTEST_CASES` cases (default 8); failures are kept in `tests/conv.proptest-regressions`.
fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(8);
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

fn randn(len: usize, rng: &mut ChaCha8Rng) -> Vec<f64> {
    (0..len).map(|_| StandardNormal.sample(rng)).collect()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn abs_dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x * y).abs()).sum()
}

/// Checks `grad` against central differences of `f` at `p`, with scale `s`.
fn fd_check(name: &str, p: &[f64], grad: &[f64], s: f64, mut f: impl FnMut(&[f64]) -> f64) -> f64 {
    assert_eq!(p.len(), grad.len(), "{name}: gradient length");
    let eps = f64::EPSILON;
    let h = eps.cbrt();
    let tol = 100.0 * (h * h + eps / h) * s.max(1.0);
    let mut q = p.to_vec();
    let mut worst: f64 = 0.0;
    for i in 0..p.len() {
        q[i] = p[i] + h;
        let fp = f(&q);
        q[i] = p[i] - h;
        let fm = f(&q);
        q[i] = p[i];
        let d = (fp - fm) / (2.0 * h);
        let err = (d - grad[i]).abs();
        worst = worst.max(err / tol);
        assert!(
            err <= tol,
            "{name}[{i}]: fd {d:e} vs analytic {:e} (err {err:e} > tol {tol:e})",
            grad[i]
        );
    }
    worst
}

/// Direct convolution (independent of im2col): `y[o, b, i, j]`.
fn conv_direct(
    spec: &ConvSpec,
    w: &[f64],
    bias: Option<&[f64]>,
    x: &[f64],
    n: usize,
    h: usize,
    ww: usize,
) -> Vec<f64> {
    let (ho, wo) = spec.out_hw(h, ww);
    let mut y = vec![0.0; spec.c_out * n * ho * wo];
    for o in 0..spec.c_out {
        for b in 0..n {
            for i in 0..ho {
                for j in 0..wo {
                    let mut s = bias.map_or(0.0, |bb| bb[o]);
                    for c in 0..spec.c_in {
                        for u in 0..spec.k {
                            for v in 0..spec.k {
                                let yy = (i * spec.stride + u) as isize - spec.pad as isize;
                                let xx = (j * spec.stride + v) as isize - spec.pad as isize;
                                if yy >= 0 && xx >= 0 && (yy as usize) < h && (xx as usize) < ww {
                                    s += w[((o * spec.c_in + c) * spec.k + u) * spec.k + v]
                                        * x[((c * n + b) * h + yy as usize) * ww + xx as usize];
                                }
                            }
                        }
                    }
                    y[((o * n + b) * ho + i) * wo + j] = s;
                }
            }
        }
    }
    y
}

fn conv_forward(conv: &Conv2d<f64>, x: &[f64], n: usize, h: usize, w: usize) -> Vec<f64> {
    let (ho, wo) = conv.spec.out_hw(h, w);
    let mut col = vec![0.0; conv.spec.col_len(n, h, w)];
    let mut y = vec![0.0; conv.spec.c_out * n * ho * wo];
    conv.forward(x, n, h, w, &mut col, &mut y, faer::Par::Seq);
    y
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn conv2d_matches_direct_and_finite_differences(
        c_in in 1usize..4, c_out in 1usize..4, k in 1usize..4, stride in 1usize..3,
        pad in 0usize..2, n in 1usize..3, h in 4usize..7, w in 4usize..7, seed in any::<u64>(),
    ) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let spec = ConvSpec { c_in, c_out, k, stride, pad };
        let conv = Conv2d { spec, weight: randn(spec.weight_len(), &mut rng), bias: Some(randn(c_out, &mut rng)) };
        let x = randn(c_in * n * h * w, &mut rng);
        let y = conv_forward(&conv, &x, n, h, w);
        let yd = conv_direct(&spec, &conv.weight, conv.bias.as_deref(), &x, n, h, w);
        let scale: f64 = yd.iter().map(|v| v.abs()).sum::<f64>() + 1.0;
        for (a, b) in y.iter().zip(&yd) {
            prop_assert!((a - b).abs() <= 4.0 * f64::EPSILON * spec.patch_len() as f64 * scale);
        }
        // ℓ = Σ r ⊙ Y
        let r = randn(y.len(), &mut rng);
        let mut col = vec![0.0; spec.col_len(n, h, w)];
        spec.im2col(&x, n, h, w, &mut col);
        let (mut dw, mut db) = (vec![0.0; spec.weight_len()], vec![0.0; c_out]);
        let (mut dx, mut dcol) = (vec![0.0; x.len()], vec![0.0; col.len()]);
        conv.backward(&r, &col, n, h, w, &mut dw, Some(&mut db), Some((&mut dx, &mut dcol)), faer::Par::Seq);
        let s = abs_dot(&r, &yd) + abs_dot(&r, &r);
        fd_check("conv dx", &x, &dx, s, |p| dot(&r, &conv_forward(&conv, p, n, h, w)));
        fd_check("conv dw", &conv.weight, &dw, s, |p| {
            let c = Conv2d { weight: p.to_vec(), ..conv.clone() };
            dot(&r, &conv_forward(&c, &x, n, h, w))
        });
        fd_check("conv db", conv.bias.as_ref().unwrap(), &db, s, |p| {
            let c = Conv2d { bias: Some(p.to_vec()), ..conv.clone() };
            dot(&r, &conv_forward(&c, &x, n, h, w))
        });
    }

    #[test]
    fn batchnorm_train_gradients(c in 1usize..4, m in 2usize..12, seed in any::<u64>()) {
        // m = n·h·w values per channel: m = n for BatchNorm1d, n·h·w for BatchNorm2d
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut bn = BatchNorm::<f64>::new(c);
        bn.gamma = randn(c, &mut rng);
        bn.beta = randn(c, &mut rng);
        let x = randn(c * m, &mut rng);
        let r = randn(c * m, &mut rng);
        let fwd = |bn: &BatchNorm<f64>, x: &[f64]| {
            let mut b = bn.clone();
            let (mut y, mut xh, mut is) = (vec![0.0; c * m], vec![0.0; c * m], vec![0.0; c]);
            b.forward_train(x, m, &mut y, &mut xh, &mut is, false);
            (y, xh, is)
        };
        let (y, xh, is) = fwd(&bn, &x);
        let (mut dx, mut dg, mut dbeta) = (vec![0.0; c * m], vec![0.0; c], vec![0.0; c]);
        bn.backward(&r, &xh, &is, m, &mut dx, Some((&mut dg, &mut dbeta)));
        // x̂ has O(1) entries but its derivatives scale with 1/σ: include max inv_std³
        let sig = is.iter().fold(1.0f64, |a, &v| a.max(v));
        let s = (abs_dot(&r, &y) + abs_dot(&r, &r)) * sig.powi(3);
        fd_check("bn dx", &x, &dx, s, |p| dot(&r, &fwd(&bn, p).0));
        fd_check("bn dgamma", &bn.gamma, &dg, s, |p| dot(&r, &fwd(&BatchNorm { gamma: p.to_vec(), ..bn.clone() }, &x).0));
        fd_check("bn dbeta", &bn.beta, &dbeta, s, |p| dot(&r, &fwd(&BatchNorm { beta: p.to_vec(), ..bn.clone() }, &x).0));
    }

    #[test]
    fn linear_relu_softmax_gradients(n in 1usize..4, d_in in 1usize..6, d_out in 2usize..5, seed in any::<u64>()) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let lin = Linear { d_in, d_out, weight: randn(d_out * d_in, &mut rng), bias: randn(d_out, &mut rng) };
        let x = randn(n * d_in, &mut rng);
        let labels: Vec<usize> = (0..n).map(|b| (b * 7 + seed as usize) % d_out).collect();
        // ℓ = CE(Linear(ReLU(x)))
        let f = |lin: &Linear<f64>, x: &[f64]| {
            let mut a = x.to_vec();
            relu_in_place(&mut a);
            let mut z = vec![0.0; n * d_out];
            lin.forward(&a, n, &mut z, faer::Par::Seq);
            softmax_cross_entropy(&z, &labels, d_out, None).loss
        };
        let mut a = x.clone();
        relu_in_place(&mut a);
        let mut z = vec![0.0; n * d_out];
        lin.forward(&a, n, &mut z, faer::Par::Seq);
        let mut dz = vec![0.0; n * d_out];
        softmax_cross_entropy(&z, &labels, d_out, Some(&mut dz));
        let (mut dw, mut db, mut dx) = (vec![0.0; d_out * d_in], vec![0.0; d_out], vec![0.0; n * d_in]);
        lin.backward(&dz, &a, n, &mut dw, &mut db, Some(&mut dx), faer::Par::Seq);
        relu_backward_in_place(&a, &mut dx);
        let s = 1.0 + z.iter().map(|v| v.abs()).sum::<f64>();
        fd_check("ce∘linear∘relu dx", &x, &dx, s, |p| f(&lin, p));
        fd_check("ce∘linear dw", &lin.weight, &dw, s, |p| f(&Linear { weight: p.to_vec(), ..lin.clone() }, &x));
        fd_check("ce∘linear db", &lin.bias, &db, s, |p| f(&Linear { bias: p.to_vec(), ..lin.clone() }, &x));
    }

    #[test]
    fn flow_gradients_match_finite_differences(
        shl in any::<bool>(), q in 1usize..4, q_int in 1usize..4, steps in 1usize..4,
        side in 2usize..5, n in 1usize..3, seed in any::<u64>(),
    ) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let res = random_residual(shl, q, q_int, steps, side, &mut rng);
        let x0 = randn(q * n * side * side, &mut rng);
        let r = randn(x0.len(), &mut rng);
        let flow = |res: &Residual<f64>, x0: &[f64]| {
            let mut x = x0.to_vec();
            res.forward(&mut x, n, &mut FlowWork::default(), false, faer::Par::Seq);
            x
        };
        let mut work = FlowWork::default();
        let mut x = x0.clone();
        res.forward(&mut x, n, &mut work, true, faer::Par::Seq);
        let mut a = r.clone();
        let mut g = vec![0.0; res.n_params()];
        res.backward(&mut a, n, &mut work, &mut g, faer::Par::Seq);
        let s = abs_dot(&r, &x) + abs_dot(&r, &r) + x0.iter().map(|v| v * v).sum::<f64>();
        fd_check("flow dparams", &res.params, &g, s, |p| dot(&r, &flow(&Residual { params: p.to_vec(), ..res.clone() }, &x0)));
        fd_check("flow dx0", &x0, &a, s, |p| dot(&r, &flow(&res, p)));
    }

    #[test]
    fn flow_matches_a_hand_written_midpoint_loop(
        shl in any::<bool>(), q in 1usize..4, q_int in 1usize..4, steps in 1usize..5,
        side in 2usize..5, n in 1usize..3, seed in any::<u64>(),
    ) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let res = random_residual(shl, q, q_int, steps, side, &mut rng);
        let x0 = randn(q * n * side * side, &mut rng);
        let mut x = x0.clone();
        res.forward(&mut x, n, &mut FlowWork::default(), false, faer::Par::Seq);
        // independent: direct convolutions, parameters interpolated at t = k/L and t + h/2
        let (si, so) = (res.spec_in(), res.spec_out());
        let tb = res.theta_block();
        let t1b = res.theta1_block();
        let theta = |t: f64| -> (Vec<f64>, Vec<f64>) {
            let s = t * steps as f64;
            let k = (s.floor() as usize).min(steps - 1);
            let a = s - k as f64;
            let lerp = |off: usize, len: usize| -> Vec<f64> {
                (0..len).map(|i| (1.0 - a) * res.params[off + k * len + i] + a * res.params[off + (k + 1) * len + i]).collect()
            };
            let w_out = lerp(0, tb);
            let w_in = if shl { lerp((steps + 1) * tb, t1b) } else { res.omega.clone() };
            (w_in, w_out)
        };
        let f = |t: f64, x: &[f64]| -> Vec<f64> {
            let (w_in, w_out) = theta(t);
            let mut z = conv_direct(&si, &w_in, None, x, n, side, side);
            for v in &mut z { *v = v.max(0.0); }
            let (w, b) = w_out.split_at(so.weight_len());
            conv_direct(&so, w, Some(b), &z, n, side, side)
        };
        let h = 1.0 / steps as f64;
        let mut y = x0.clone();
        for k in 0..steps {
            let t = k as f64 * h;
            let k1 = f(t, &y);
            let mid: Vec<f64> = y.iter().zip(&k1).map(|(a, b)| a + 0.5 * h * b).collect();
            let k2 = f(t + 0.5 * h, &mid);
            for (a, b) in y.iter_mut().zip(&k2) { *a += h * b; }
        }
        let scale = 1.0 + y.iter().map(|v| v.abs()).fold(0.0, f64::max);
        let tol = 64.0 * f64::EPSILON * (steps * 9 * (q + q_int)) as f64 * scale;
        for (a, b) in x.iter().zip(&y) {
            prop_assert!((a - b).abs() <= tol, "{a} vs {b} (tol {tol:e})");
        }
    }
}

fn random_residual(
    shl: bool,
    q: usize,
    q_int: usize,
    steps: usize,
    side: usize,
    rng: &mut ChaCha8Rng,
) -> Residual<f64> {
    let kind = if shl {
        ResidualKind::Shl
    } else {
        ResidualKind::Linear
    };
    let mut res = Residual {
        kind,
        q,
        q_int,
        steps,
        hw: (side, side),
        omega: Vec::new(),
        params: Vec::new(),
    };
    let scale = |v: Vec<f64>, s: f64| v.into_iter().map(|x| x * s).collect::<Vec<_>>();
    if !shl {
        res.omega = scale(randn(q_int * q * 9, rng), 0.5);
    }
    res.params = scale(randn(res.n_params(), rng), 0.3);
    res
}

#[test]
fn zero_theta_gives_the_identity_flow() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    for shl in [false, true] {
        let mut res = random_residual(shl, 3, 4, 5, 5, &mut rng);
        let tb = res.theta_block();
        res.params[..(res.steps + 1) * tb].fill(0.0);
        let x0 = randn(3 * 2 * 25, &mut rng);
        let mut x = x0.clone();
        res.forward(&mut x, 2, &mut FlowWork::default(), false, faer::Par::Seq);
        assert_eq!(x, x0, "shl = {shl}");
    }
}

#[test]
fn whole_model_gradient_matches_finite_differences() {
    // nonzero θ so that every path of the flow carries gradient
    for (_, mut model, x, y) in tiny_cases([1, 2], 3) {
        let p = model.params().to_vec();
        let mut g = vec![0.0; model.n_params()];
        let l = model.loss_and_gradient(&x, &y, &mut g);
        assert!((l.loss - model.loss(&x, &y).loss).abs() <= 1e-14 * l.loss.abs().max(1.0));
        let s = 100.0 * (1.0 + l.loss);
        fd_check("model dparams", &p, &g, s, |q| {
            model.set_params(q);
            model.loss(&x, &y).loss
        });
    }
}

#[test]
fn pretraining_gradient_matches_finite_differences() {
    let cfg = ConvResNetConfig {
        q: 2,
        q_int: 2,
        steps: 1,
        kind: ResidualKind::Linear,
        seed: 3,
    };
    let mut model = ConvResNet::<f64>::new(cfg).unwrap();
    let (x, y) = images(3, 4);
    let p = model.ab_params();
    let mut g = vec![0.0; p.len()];
    let l = model.ab_loss_and_gradient(&x, &y, &mut g);
    let s = 100.0 * (1.0 + l.loss);
    fd_check("A∘B dparams", &p, &g, s, |q| {
        model.set_ab_params(q);
        model.ab_loss(&x, &y).loss
    });
}

#[test]
fn batch_size_changes_reuse_the_workspace_without_changing_results() {
    // a large batch first, then a smaller one: the grown buffers must give the same
    // loss and gradient as a fresh model
    let cfg = ConvResNetConfig {
        q: 3,
        q_int: 2,
        steps: 2,
        kind: ResidualKind::Shl,
        seed: 5,
    };
    let mut warm = ConvResNet::<f64>::new(cfg).unwrap();
    let mut fresh = warm.clone();
    let (x8, y8) = images(8, 6);
    let (x3, y3) = (x8[..3 * 784].to_vec(), y8[..3].to_vec());
    let mut g = vec![0.0; warm.n_params()];
    warm.loss(&x8, &y8);
    let mut out = Vec::new();
    warm.predict(&x8, &y8, 5, &mut out);
    let lw = warm.loss_and_gradient(&x3, &y3, &mut g);
    let mut gf = vec![0.0; fresh.n_params()];
    let lf = fresh.loss_and_gradient(&x3, &y3, &mut gf);
    assert_eq!(lw.loss.to_bits(), lf.loss.to_bits());
    assert_eq!(g, gf);
}

#[test]
fn same_convolutions_on_tiny_images_match_the_direct_sum_and_their_adjoint() {
    // shifts larger than the whole batch (|δ| ≥ n·h·w) exercise the fast path's clamping
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    for (k, pad) in [(3, 1), (5, 2)] {
        for (n, h, w) in [(1, 1, 1), (1, 2, 1), (2, 1, 3), (1, 2, 2)] {
            let spec = ConvSpec {
                c_in: 2,
                c_out: 3,
                k,
                stride: 1,
                pad,
            };
            let conv = Conv2d {
                spec,
                weight: randn(spec.weight_len(), &mut rng),
                bias: None,
            };
            let x = randn(2 * n * h * w, &mut rng);
            let y = conv_forward(&conv, &x, n, h, w);
            let yd = conv_direct(&spec, &conv.weight, None, &x, n, h, w);
            let scale: f64 = yd.iter().map(|v| v.abs()).sum::<f64>() + 1.0;
            for (a, b) in y.iter().zip(&yd) {
                assert!(
                    (a - b).abs() <= 4.0 * f64::EPSILON * spec.patch_len() as f64 * scale,
                    "k {k}, {n}×{h}×{w}"
                );
            }
            // adjoint: ⟨col(x), c⟩ = ⟨x, col2im(c)⟩
            let mut col = vec![0.0; spec.col_len(n, h, w)];
            spec.im2col(&x, n, h, w, &mut col);
            let c = randn(col.len(), &mut rng);
            let mut c2 = c.clone();
            let mut back = vec![0.0; x.len()];
            spec.col2im_add(&mut c2, n, h, w, &mut back);
            let (l, r) = (dot(&col, &c), dot(&x, &back));
            assert!(
                (l - r).abs() <= 8.0 * f64::EPSILON * (abs_dot(&col, &c) + 1.0),
                "{l} vs {r}"
            );
        }
    }
}

/// The batch-chunked flow is the plain flow applied chunk by chunk: its final states are
/// those of [`Residual::forward`] on each chunk's images (gathered here by direct
/// indexing, independently of the library's gather), its gradient the chunks' gradients
/// summed in chunk order — to the bit, and the same bits on one thread and on two.
#[test]
fn chunked_flow_is_the_plain_flow_chunk_by_chunk_on_any_thread_count() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    for shl in [false, true] {
        let res = random_residual(shl, 3, 4, 3, 5, &mut rng);
        let c = flow_chunk(&res);
        let n = 2 * c + c / 3 + 1; // three chunks, the last one short
        let (q, s) = (res.q, 25);
        let x0 = randn(q * n * s, &mut rng);
        let a0 = randn(q * n * s, &mut rng);
        // reference: plain forward/backward per chunk
        let mut x_ref = x0.clone();
        let mut a_ref = a0.clone();
        let mut g_ref = vec![0.0; res.n_params()];
        for start in (0..n).step_by(c) {
            let m = c.min(n - start);
            let idx = |ch: usize, i: usize, p: usize| ch * n * s + (start + i) * s + p;
            let pick = |v: &[f64]| {
                let mut out = Vec::with_capacity(q * m * s);
                for ch in 0..q {
                    for i in 0..m {
                        for p in 0..s {
                            out.push(v[idx(ch, i, p)]);
                        }
                    }
                }
                out
            };
            let (mut xc, mut ac) = (pick(&x0), pick(&a0));
            let mut work = FlowWork::default();
            let mut gc = vec![0.0; res.n_params()];
            res.forward(&mut xc, m, &mut work, true, faer::Par::Seq);
            res.backward(&mut ac, m, &mut work, &mut gc, faer::Par::Seq);
            for ch in 0..q {
                for i in 0..m {
                    for p in 0..s {
                        x_ref[idx(ch, i, p)] = xc[(ch * m + i) * s + p];
                        a_ref[idx(ch, i, p)] = ac[(ch * m + i) * s + p];
                    }
                }
            }
            for (g, v) in g_ref.iter_mut().zip(&gc) {
                *g += v;
            }
        }
        for par in [faer::Par::Seq, faer::Par::rayon(2)] {
            let (mut x, mut a) = (x0.clone(), a0.clone());
            let mut g = vec![f64::NAN; res.n_params()];
            let mut work = ChunkedFlowWork::default();
            res.forward_chunked(&mut x, n, &mut work, true, par);
            res.backward_chunked(&mut a, n, &mut work, &mut g, par);
            assert_eq!(x, x_ref, "shl = {shl}, {par:?}: final states");
            assert_eq!(a, a_ref, "shl = {shl}, {par:?}: adjoint at t = 0");
            assert_eq!(g, g_ref, "shl = {shl}, {par:?}: gradient");
        }
    }
}
