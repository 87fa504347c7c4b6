//! glassbox: a neural-network engine written by hand, every line of its maths open to audit.
//!
//! This root crate re-exports the workspace crates:
//! - [`core`] — float trait, GEMM, activations, Dense, MLP, gradient check;
//! - [`train`] — losses, optimizers, schedules, batching, trainer, metrics, checkpoints;
//! - [`data`] — CSV → schema → typed table → preprocessor;
//! - [`app`] — the purchase-prediction case study, CLI, reports and plots.

pub use glassbox_app as app;
pub use glassbox_core as core;
pub use glassbox_data as data;
pub use glassbox_train as train;
