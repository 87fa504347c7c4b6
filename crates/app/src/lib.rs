//! glassbox-app: the purchase-prediction case study — CSV → schema → features, the
//! training pipeline, the `glassbox` command line, reports and plots.

pub mod bundle;
pub mod cases;
pub mod cli;
pub mod describe;
pub mod exit;
pub mod out_dir;
pub mod output;
pub mod pipeline;
pub mod plot;
pub mod progress;
pub mod recipe;
pub mod render;
pub mod report;
