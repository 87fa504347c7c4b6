//! Audit and teaching tools: what auditors and teachers come to glassbox for.
//!
//! - [`trace`] — one training step with every number: Z and Y of each layer, the loss, every
//!   ∂L/∂Z, ∂L/∂Θ, ∂L/∂b, ∂L/∂X and the optimizer's update, each labelled with the equation of
//!   `notes/` that produced it, computed by the engine's own code paths (notes/teaching.md);
//! - [`gradcheck`] — the f64 central-difference check of a model on rows of a CSV file,
//!   per tensor, with a verdict (notes/backprop.md §7);
//! - [`explain`] — gradient × input and integrated gradients per row, mapped back to the
//!   CSV's columns, and permutation importance over a data set (notes/explain.md);
//! - [`fairness`] — metrics per group of one CSV column, demographic-parity and
//!   equalised-odds differences, with the model's probabilities (notes/fairness.md).
//!
//! Every function here takes plain pieces — an [`Mlp`](glassbox_core::Mlp), a
//! [`Preprocessor`], a [`Table`], labels and scores — and returns a plain report struct
//! (serde-serialisable), so the command line only loads them, calls one function and
//! renders the result. How a report reads — text, Markdown, plots — is the app's
//! (`glassbox_app::render`, `glassbox_app::plot`); there is no clap, no plotting and no exit
//! code here. The fairness equations themselves are [`glassbox_train::metrics::fairness`].
//! Bad input (an unknown column, more rows than the file holds, a model that does not fit
//! the preprocessor) is an [`AuditError`] naming what is wrong, never a panic.
//!
//! Shapes follow the legend of notes/backprop.md §0: `N` rows, `D` features, `O` outputs.

pub mod explain;
pub mod fairness;
pub mod gradcheck;
pub mod trace;

mod classifier;
mod error;
mod number;

pub use classifier::{Classifier, check_binary_output, check_model_fits};
pub use error::AuditError;
pub use number::{sig, sig13};

use glassbox_data::{Preprocessor, Table};
use ndarray::{Array1, Array2};

/// The most rows one trace shows: it prints every number of the step, several per row,
/// feature and unit, so a few thousand rows already make a report no one reads (and the
/// report of millions would not fit in memory).
pub const MAX_TRACE_ROWS: usize = 1_000;

/// The most rows one `explain` request explains: each costs an integrated-gradients path of
/// `steps` forward and backward passes (2,048 by default) and a table of its own; a data
/// set's global view is permutation importance, which has no such limit.
pub const MAX_EXPLAIN_ROWS: usize = 10_000;

/// [`AuditError::TooManyRows`] if `requested` exceeds `limit`.
pub(crate) fn check_row_limit(
    audit: &'static str,
    requested: usize,
    limit: usize,
    why: &'static str,
) -> Result<(), AuditError> {
    if requested > limit {
        return Err(AuditError::TooManyRows {
            audit,
            requested,
            limit,
            why,
        });
    }
    Ok(())
}

/// The first `k` rows of `table`.
///
/// # Errors
/// [`AuditError::RowCount`] if `k` is 0 or larger than the table.
pub fn first_rows(table: &Table, k: usize) -> Result<Table, AuditError> {
    if k == 0 || k > table.n_rows() {
        return Err(AuditError::RowCount {
            file: table.file().to_string(),
            requested: k,
            available: table.n_rows(),
        });
    }
    Ok(table.select_rows(&(0..k).collect::<Vec<_>>()))
}

/// The given data rows (0-based, in the given order) of `table`.
///
/// # Errors
/// [`AuditError::RowIndex`] for an index beyond the table; [`AuditError::RowCount`] for an
/// empty list.
pub fn pick_rows(table: &Table, rows: &[usize]) -> Result<Table, AuditError> {
    if rows.is_empty() {
        return Err(AuditError::RowCount {
            file: table.file().to_string(),
            requested: 0,
            available: table.n_rows(),
        });
    }
    if let Some(&row) = rows.iter().find(|&&r| r >= table.n_rows()) {
        return Err(AuditError::RowIndex {
            file: table.file().to_string(),
            row,
            available: table.n_rows(),
        });
    }
    Ok(table.select_rows(rows))
}

/// Features X (N, D) and labels y (N,) of `table` through the preprocessor, in `f64`
/// (the f32 features widened exactly).
///
/// # Errors
/// The data layer's errors (missing column, column of another kind, unknown label, …).
pub fn encode_f64(
    pre: &Preprocessor,
    table: &Table,
) -> Result<(Array2<f64>, Array1<f64>), AuditError> {
    let (x, y) = pre.transform(table)?;
    Ok((x.mapv(f64::from), y.mapv(f64::from)))
}
