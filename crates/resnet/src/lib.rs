//! # plres-resnet — the models the theory is about
//!
//! One job: the linear-residual ResNet (finite width, DESIGN §3.2), its infinite-width
//! limit (the kernel ResNet, §3.4) and the non-linear baseline (§3.3), with exact
//! gradients (§4) and safetensors checkpoints (§8).
//!
//! Planned modules: `linear` (LinearResNet, `x^{k+1} = x^k + h U_k φ(x^k)`), `shl`
//! (ShlResNet), `kernel` (KernelResNet), `loss` (squared, softmax cross-entropy),
//! `checkpoint` (safetensors save/load).
