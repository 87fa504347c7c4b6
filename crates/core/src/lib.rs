//! glassbox-core: the hand-written maths of the glassbox engine.
//!
//! Shape legend used throughout (notes/backprop.md §0): `N` rows in a batch, `D` inputs,
//! `H` units of a layer, `O` outputs. Gradients are named `d_<symbol>`.

pub mod float;
pub mod gemm;
pub mod rng;
pub mod threads;

pub use float::Float;
pub use gemm::{gemm, gemm_naive, gemm_serial};
pub use rng::{Rng, seeded_rng};
pub use threads::{build_pool, enable_flush_to_zero, init_global_pool};
