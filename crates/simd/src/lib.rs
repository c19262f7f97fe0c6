//! # plres-simd — every `unsafe` line of plres
//!
//! **One job:** the low-level kernels that need `unsafe` — runtime-dispatched SIMD, raw
//! views of faer matrices, `vzeroupper`, non-temporal stores, a counting global allocator
//! — behind safe functions. It is the only plres crate with `unsafe` code (every other
//! crate root has `#![forbid(unsafe_code)]`, and `cargo xtask tidy` fails on the token
//! `unsafe` in any `.rs` file outside `crates/simd`). It depends on no plres crate.
//!
//! ## Dispatch: one token trait
//!
//! One mechanism selects the compiled variant at run time (`dispatch`): [`Backend`]
//! (AVX-512F + FMA, AVX2 + FMA, or the baseline) is detected with std's
//! `is_x86_feature_detected!`; a kernel is generic over a zero-sized token `S: Simd`
//! (a `SimdFn` holding its operands, or a `SliceFn` receiving an output slice and a second
//! operand as arguments, so that their `noalias` reaches the vectoriser as it did before
//! the move), and the dispatchers run it inside a `#[target_feature]` function of the
//! chosen back end, where its `#[inline(always)]` body is compiled with those features. A SIMD token can only be created there, after detection: that is the safety
//! argument of every intrinsic call in the token methods. Kernels with explicit vectors
//! (sin/cos, the fused features) use the token's vector operations; scalar loops (exp,
//! squared distances, linear combinations, Hadamard) are autovectorised and use the token
//! only for its rounding (fused or not). The AVX-512 linear
//! combination is written out with intrinsics and selected by the same [`Backend`].
//!
//! Why a token trait rather than `pulp` (0.22, already in the tree through faer): the
//! sin/cos kernel, its masks and its tails are written against this trait, and keeping it
//! keeps the generated code of every kernel exactly as it was measured; pulp would add a
//! second vector abstraction (its own `Simd` trait, dispatch and lane types) for no
//! function the three back ends here lack.
//!
//! ## Equations and error bounds
//!
//! - [`trig`]: `sin x = (−1)^m sin r`, `x = mπ + r`; `cos x = (−1)^{m+1} sin r`,
//!   `x = (2m + 1)π/2 + r`; three-part Cody–Waite reduction of `π/2` (`k·P₁`, `k·P₂`
//!   exact for `|x| ≤ 10⁵`), an odd degree-17 polynomial on `|r| ≤ π/2` (fit error
//!   `< 4·10⁻¹⁹`); lanes with `|x| > 10⁵`, NaN/∞ or `|r| < 2⁻⁵⁰` go to libm. Measured
//!   ≤ 2 ulp against libm (tested bound 4 ulp) on every back end.
//! - [`exp`]: `exp x = 2ⁿ e^r`, `x = n ln 2 + r`, `|r| ≤ ln 2/2`, degree-13 Taylor
//!   polynomial (truncation `< 4·10⁻¹⁸`); ≤ 2 ulp against `f64::exp` (tested); flushes
//!   to 0 below `−708`, ∞ above 709. Squared distances
//!   `‖x_i‖² + ‖y_j‖² − 2 x_i·y_j` with a cancellation flag.
//! - [`fused`]: `Φ_ij = s·act(b_j + Σ_l x_il w_jl)` (`act` = cos, cos/sin pair, relu) and
//!   its derivative cache, computed in registers for `d ≤ 64`.
//! - [`lincomb`]: `out = base + Σ_k c_k M_k`, every element by the same `mul`-then-`add`
//!   sequence on every back end (bitwise identical results), plus a non-finite flag.
//! - [`hadamard`]: `v ← v ⊙ s` (exact: the same bits on every path).
//!
//! ## Module map
//!
//! - `dispatch` (private) — [`Backend`] (public), the token trait, its three
//!   implementations and the dispatchers.
//! - [`trig`] — vectorised `sin`/`cos`/`sincos` on slices (re-exported as `plres_rff::trig`).
//! - [`exp`] — vectorised `exp`, scaled `exp`, squared distances (plres-kernels' Grams).
//! - [`stream`] — non-temporal copy and store fence (mirroring symmetric Grams).
//! - [`fused`] — the fused pre-activation + activation kernel of plres-rff's column-wise maps.
//! - [`lincomb`] — the chunk kernel of plres-ode's stage combinations, flat views of
//!   contiguous faer matrices.
//! - [`hadamard`] — the `V ⊙ σ'` product of plres-resnet's tiled Euler step.
//! - [`hygiene`] — [`clear_upper_state`] (`vzeroupper` after faer's GEMMs; one copy).
//! - [`alloc`] — [`alloc::CountingAllocator`], a safe counting `#[global_allocator]` for
//!   the allocation tests.
//!
//! ## Safety argument
//!
//! Every `unsafe` block carries a `// SAFETY:` comment; the arguments are of five kinds:
//!
//! 1. **Target features.** A `#[target_feature]` function or intrinsic is called only
//!    after [`Backend::detect`] / [`Backend::is_available`] confirmed the features (the
//!    dispatchers), or through a token that only exists after that check (token methods).
//! 2. **Bounds.** Vector loads and stores through raw pointers (`load_ptr`, `store_ptr`,
//!    the AVX-512 combination, the fused kernel, the streaming copy) are at offsets proven
//!    in bounds by the loop condition and by shape assertions made before the loop
//!    (`try_forward` asserts every operand's shape; `combine_chunk` asserts column lengths).
//! 3. **Layout.** [`lincomb::flat`] views a matrix as one slice only after checking unit
//!    row stride and column stride `n`; the slice inherits the matrix borrow.
//! 4. **Disjoint writes.** The fused kernel's two threads write disjoint column ranges of
//!    `Φ` and the cache (`Send`/`Sync` of its raw view).
//! 5. **Forwarding.** [`alloc::CountingAllocator`] forwards every call unchanged to
//!    `System`.
//!
//! `vzeroupper` ([`clear_upper_state`]) needs AVX only, and LLVM models it as clobbering
//! the upper register halves, so no live value is lost.

#![deny(clippy::undocumented_unsafe_blocks)]

pub mod alloc;
mod dispatch;
pub mod exp;
pub mod fused;
pub mod hadamard;
pub mod hygiene;
pub mod lincomb;
pub mod stream;
pub mod trig;

pub use dispatch::Backend;
pub use hygiene::clear_upper_state;
