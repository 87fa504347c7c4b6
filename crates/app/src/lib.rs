//! glassbox-app: the purchase-prediction case study — CSV → schema → features, the
//! training pipeline, the `glassbox` command line, reports and plots.

pub mod bundle;
pub(crate) mod cases;
pub mod cli;
pub(crate) mod describe;
pub mod exit;
pub(crate) mod out_dir;
pub mod output;
pub mod pipeline;
pub mod plot;
pub mod progress;
pub mod recipe;
pub mod render;
pub(crate) mod report;
