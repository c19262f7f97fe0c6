//! # plres-optim — optimizers in the parameter metric the theory uses
//!
//! One job: minimise a `Problem` (loss and gradient at a flat parameter vector) with
//! gradient methods whose steps are taken in a chosen metric (DESIGN §4, §5).
