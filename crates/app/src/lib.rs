//! glassbox-app: the `glassbox` command line and everything around the maths — no maths of
//! its own. The command line (`cli`, one file per subcommand), the training pipeline
//! (`pipeline`, with its own error type), the model bundle and recipes, the reports' text and
//! tables (`render`), plots (`plot`), the case studies (`cases`), output files, exit codes and
//! progress. The maths it calls: `glassbox_core`, `glassbox_train`, `glassbox_data`,
//! `glassbox_audit`.

pub mod bundle;
pub(crate) mod cases;
pub mod cli;
pub(crate) mod describe;
pub mod exit;
#[cfg(feature = "mpi")]
pub mod mpi;
pub(crate) mod out_dir;
pub mod output;
pub mod pipeline;
pub mod plot;
pub mod progress;
pub mod recipe;
pub mod render;
pub(crate) mod report;
