//! # plres-rff — random feature maps with feature-count bounds
//!
//! One job: finite feature maps `φ: R^d → R^p` whose kernel `φ(x)·φ(y)` approximates a
//! plres-kernels kernel (DESIGN §3.2), and how many features the expressivity condition
//! needs (§6).

pub mod trig;
