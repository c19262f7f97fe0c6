//! The seven experiments of the study (issue 8), one module each, and what they share.

pub mod common;
pub mod pl_certificate;
pub mod rff_bound;
pub mod width;

pub use pl_certificate::{PlCertificate, PlCertificateConfig};
pub use rff_bound::{RffBound, RffBoundConfig};
pub use width::{Width, WidthConfig};
