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
//!   equalised-odds differences (notes/fairness.md).
//!
//! Every function here takes plain pieces — an [`Mlp`], a [`Preprocessor`], a [`Table`],
//! labels and scores — so the command line only loads them and calls one function. Bad
//! input (an unknown column, more rows than the file holds, a model that does not fit the
//! preprocessor) is an [`AuditError`] naming what is wrong, never a panic.
//!
//! Shapes follow the legend of notes/backprop.md §0: `N` rows, `D` features, `O` outputs.

pub mod commands;
pub mod explain;
pub mod fairness;
pub mod gradcheck;
pub mod trace;

use std::fmt::Write as _;

use glassbox_core::{Activation, Float, Mlp, MlpSpec, Mode, Workspace, sigmoid};
use ndarray::{Array1, Array2, ArrayView2};

use crate::output::OutputError;
use glassbox_data::{DataError, Names, Preprocessor, Table};

/// How a report is written: plain text for a terminal, JSON for programs, Markdown for
/// handouts and pull requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Aligned plain text.
    Text,
    /// Pretty-printed JSON (serde).
    Json,
    /// GitHub-flavoured Markdown tables.
    Markdown,
}

/// Everything an audit command can reject.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// Reading or encoding the data failed (bad CSV, a column the model needs is absent, a
    /// column of another kind than at training time, …).
    #[error(transparent)]
    Data(#[from] DataError),
    /// A column named on the command line is not in the file.
    #[error("{file}: no column \"{column}\" for {purpose}; the file's columns are {available}")]
    UnknownColumn {
        /// The file.
        file: String,
        /// The column asked for.
        column: String,
        /// What the column was wanted for (`--by`, …).
        purpose: String,
        /// The file's columns.
        available: Names,
    },
    /// More rows were asked for than the file holds (or none at all).
    #[error("{file}: {requested} rows requested but the file holds {available}")]
    RowCount {
        /// The file.
        file: String,
        /// Rows asked for.
        requested: usize,
        /// Rows in the file.
        available: usize,
    },
    /// A row index beyond the file.
    #[error("{file}: row {row} requested but the file holds rows 0..{available}")]
    RowIndex {
        /// The file.
        file: String,
        /// The 0-based data row asked for.
        row: usize,
        /// Rows in the file.
        available: usize,
    },
    /// The model does not fit the preprocessor or the task.
    #[error("the model does not fit: {0}")]
    Model(String),
    /// An option value outside its range.
    #[error("{name} = {value}: {reason}")]
    InvalidOption {
        /// The option.
        name: &'static str,
        /// Its value, as text.
        value: String,
        /// What is allowed.
        reason: String,
    },
    /// A metric could not be computed.
    #[error("{context}: {source}")]
    Metrics {
        /// What was being computed.
        context: String,
        /// The metric's error.
        #[source]
        source: glassbox_train::metrics::MetricsError,
    },
    /// A consistency check between two engine code paths failed — a bug, not bad input.
    #[error("internal consistency check failed: {0}")]
    Internal(String),
    /// Writing a report or plot failed.
    #[error(transparent)]
    Output(#[from] OutputError),
}

impl AuditError {
    /// Whether the user can fix it (bad input or options) rather than it being a bug.
    pub fn is_user_error(&self) -> bool {
        !matches!(self, AuditError::Internal(_))
    }
}

/// A binary classifier under audit, in `f64`: one network, or an ensemble whose probability
/// is the mean of its members' `σ(z)` (the model bundle's rule). Every member has D inputs
/// and one output whose activation is sigmoid or identity, so `z`, its last
/// pre-activation, is the member's logit.
#[derive(Debug, Clone, PartialEq)]
pub struct Classifier {
    members: Vec<Mlp<f64>>,
}

impl Classifier {
    /// The members, each cast to `f64` (every parameter widened exactly from `f32`).
    ///
    /// # Errors
    /// [`AuditError::Model`] for no members, a member that is not a one-output classifier
    /// ([`check_binary_output`]), or members with different input counts.
    pub fn new<T: Float>(members: &[Mlp<T>]) -> Result<Self, AuditError> {
        let first = members
            .first()
            .ok_or_else(|| AuditError::Model("the model has no networks".into()))?;
        for (k, m) in members.iter().enumerate() {
            check_binary_output(m.spec())
                .map_err(|e| AuditError::Model(format!("member {k}: {e}")))?;
            if m.spec().inputs != first.spec().inputs {
                return Err(AuditError::Model(format!(
                    "member {k} reads {} features, member 0 reads {}",
                    m.spec().inputs,
                    first.spec().inputs
                )));
            }
        }
        Ok(Classifier {
            members: members.iter().map(Mlp::cast::<f64>).collect(),
        })
    }

    /// One network.
    ///
    /// # Errors
    /// As [`Classifier::new`].
    pub fn single<T: Float>(mlp: &Mlp<T>) -> Result<Self, AuditError> {
        Self::new(std::slice::from_ref(mlp))
    }

    /// The networks, in order.
    pub fn members(&self) -> &[Mlp<f64>] {
        &self.members
    }

    /// D, the features every member reads.
    pub fn inputs(&self) -> usize {
        self.members[0].spec().inputs
    }

    /// One workspace per member for batches of up to `rows` rows.
    pub fn workspaces(&self, rows: usize) -> Vec<Workspace<f64>> {
        self.members.iter().map(|m| m.workspace(rows)).collect()
    }

    /// Checks that the model reads the preprocessor's D features.
    ///
    /// # Errors
    /// [`AuditError::Model`] naming both counts.
    pub fn check_fits(&self, pre: &Preprocessor) -> Result<(), AuditError> {
        check_model_fits(&self.members[0], pre)
    }

    /// Checks that X (N, D) has the model's D columns and at least one row.
    ///
    /// # Errors
    /// [`AuditError::Model`] for the wrong width, [`AuditError::InvalidOption`] for no rows.
    pub fn check_batch(&self, x: ArrayView2<f64>) -> Result<(), AuditError> {
        if x.ncols() != self.inputs() {
            return Err(AuditError::Model(format!(
                "X has {} columns but the network has {} inputs",
                x.ncols(),
                self.inputs()
            )));
        }
        if x.nrows() == 0 {
            return Err(AuditError::InvalidOption {
                name: "rows",
                value: "0".into(),
                reason: "no rows to work on".into(),
            });
        }
        Ok(())
    }

    /// The probabilities (N,): the mean over the members, in order, of `σ(z)`.
    ///
    /// # Panics
    /// If X does not have D columns or `ws` does not hold one workspace per member.
    pub fn probabilities(&self, x: ArrayView2<f64>, ws: &mut [Workspace<f64>]) -> Vec<f64> {
        assert_eq!(ws.len(), self.members.len(), "one workspace per member");
        let mut sum = vec![0.0; x.nrows()];
        for (m, w) in self.members.iter().zip(ws.iter_mut()) {
            let fwd = m.forward(x, Mode::Inference, w);
            for (s, &z) in sum.iter_mut().zip(fwd.logits().column(0)) {
                *s += sigmoid(z);
            }
        }
        let k = self.members.len() as f64;
        sum.iter().map(|s| s / k).collect()
    }
}

/// Checks that `mlp` reads the preprocessor's D features.
///
/// # Errors
/// [`AuditError::Model`] naming both counts.
pub fn check_model_fits<T: Float>(mlp: &Mlp<T>, pre: &Preprocessor) -> Result<(), AuditError> {
    let d = pre.n_features();
    if mlp.spec().inputs != d {
        return Err(AuditError::Model(format!(
            "the network reads {} features but the preprocessor produces {d} ({} source columns)",
            mlp.spec().inputs,
            pre.columns().len()
        )));
    }
    Ok(())
}

/// Checks that `spec` is a binary classifier whose probability is `σ` of the last layer's
/// pre-activation: one output, last activation sigmoid (output = probability) or identity
/// (output = logit).
///
/// # Errors
/// [`AuditError::Model`] otherwise.
pub fn check_binary_output(spec: &MlpSpec) -> Result<(), AuditError> {
    let last = spec
        .layers
        .last()
        .ok_or_else(|| AuditError::Model("the network has no layers".into()))?;
    if last.units != 1 {
        return Err(AuditError::Model(format!(
            "a binary classifier has one output, this network has {}",
            last.units
        )));
    }
    match last.activation {
        Activation::Sigmoid | Activation::Identity => Ok(()),
        other => Err(AuditError::Model(format!(
            "the last layer's activation is {other}; a binary classifier's is sigmoid \
             (probability) or identity (logit)"
        ))),
    }
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

/// `x` with 13 significant digits, trailing zeros removed: plain decimals for
/// `1e-4 ≤ |x| < 1e6`, scientific notation otherwise (the precision of the hand-worked
/// tables in notes/backprop.md §9).
pub fn sig13(x: f64) -> String {
    sig(x, 13)
}

/// `x` with `digits` significant digits (see [`sig13`]).
pub fn sig(x: f64, digits: usize) -> String {
    if !x.is_finite() {
        return format!("{x}");
    }
    if x == 0.0 {
        return "0".into();
    }
    let a = x.abs();
    if (1e-4..1e6).contains(&a) {
        let exp = a.log10().floor() as i64;
        let decimals = (digits as i64 - 1 - exp).max(0) as usize;
        let mut s = format!("{x:.decimals$}");
        if s.contains('.') {
            while s.ends_with('0') {
                s.pop();
            }
            if s.ends_with('.') {
                s.pop();
            }
        }
        s
    } else {
        let s = format!("{x:.prec$e}", prec = digits - 1);
        // Trim zeros of the mantissa: 1.500000e-7 → 1.5e-7.
        match s.split_once('e') {
            Some((m, e)) if m.contains('.') => {
                let m = m.trim_end_matches('0').trim_end_matches('.');
                format!("{m}e{e}")
            }
            _ => s,
        }
    }
}

/// A Markdown table: header row, alignment row, then the rows; `|` in cells is escaped.
pub(crate) fn markdown_table(header: &[&str], rows: &[Vec<String>]) -> String {
    let esc = |s: &str| s.replace('|', "\\|");
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| {} |",
        header
            .iter()
            .map(|h| esc(h))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    let _ = writeln!(
        out,
        "|{}|",
        header.iter().map(|_| "---").collect::<Vec<_>>().join("|")
    );
    for row in rows {
        let _ = writeln!(
            out,
            "| {} |",
            row.iter().map(|c| esc(c)).collect::<Vec<_>>().join(" | ")
        );
    }
    out
}

/// A plain-text table with columns padded to their widest cell (first column left-aligned,
/// the others right-aligned).
pub(crate) fn text_table(header: &[&str], rows: &[Vec<String>]) -> String {
    let n = header.len();
    let mut width: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (j, cell) in row.iter().enumerate().take(n) {
            width[j] = width[j].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (j, cell) in cells.iter().enumerate() {
            let pad = width[j].saturating_sub(cell.chars().count());
            if j == 0 {
                s.push_str(cell);
                s.push_str(&" ".repeat(pad));
            } else {
                s.push_str("  ");
                s.push_str(&" ".repeat(pad));
                s.push_str(cell);
            }
        }
        s.trim_end().to_string()
    };
    let mut out = line(header.to_vec());
    out.push('\n');
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
        out.push('\n');
    }
    out
}

/// `value` as pretty JSON with a trailing newline (serialising these plain structs cannot
/// fail; a failure would be a bug and is reported as [`AuditError::Internal`]).
pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> Result<String, AuditError> {
    serde_json::to_string_pretty(value)
        .map(|s| s + "\n")
        .map_err(|e| AuditError::Internal(format!("JSON serialisation: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sig13_matches_the_notes_precision() {
        assert_eq!(sig13(0.593_269_992_107_211_7), "0.5932699921072");
        assert_eq!(sig13(1.105_905_967_059_659), "1.10590596706"); // 1.105905967060, trailing 0 trimmed
        assert_eq!(sig13(-0.044_877_175_908_960_1), "-0.04487717590896");
        assert_eq!(sig13(0.3775), "0.3775");
        assert_eq!(sig13(0.0), "0");
        assert_eq!(sig13(-6.363_772_020_568e-4), "-0.0006363772020568");
        assert_eq!(sig13(1.5e-7), "1.5e-7");
        assert_eq!(sig13(f64::NAN), "NaN");
        assert_eq!(sig(123_456_789.0, 4), "1.235e8");
    }

    #[test]
    fn tables_align_and_escape() {
        let rows = vec![vec!["a|b".to_string(), "1".to_string()]];
        assert_eq!(
            markdown_table(&["x", "y"], &rows),
            "| x | y |\n|---|---|\n| a\\|b | 1 |\n"
        );
        let rows = vec![
            vec!["long name".to_string(), "1".to_string()],
            vec!["n".to_string(), "100".to_string()],
        ];
        assert_eq!(
            text_table(&["k", "v"], &rows),
            "k            v\nlong name    1\nn          100\n"
        );
    }
}
