//! Cost decisions from the command line (notes/metrics.md §7, M21–M24): the per-row miss
//! costs of a CSV file, the validation choice of the cost threshold for a trained model, and
//! the expected cost of a model's decisions on a labelled file.

use std::path::Path;

use glassbox_data::{
    ColumnKind, ColumnSchema, RawTable, ReadOptions, Schema, Table, Value, is_missing_token,
};
use glassbox_train::metrics::cost::{CostDecision, CostMatrix, CostReport, CostSpec, MissCost};
use glassbox_train::metrics::threshold::ThresholdInfo;
use serde::Serialize;

use super::{Evaluation, PipelineError, TrainedModel, evaluate};
use crate::bundle::Bundle;

/// Checks a cost given on the command line: a finite number ≥ 0.
///
/// # Errors
/// A message naming `flag` for a negative or non-finite amount.
pub fn check_amount(flag: &str, amount: f64) -> Result<f64, String> {
    if amount.is_finite() && amount >= 0.0 {
        Ok(amount)
    } else {
        Err(format!(
            "{flag} {amount}: a cost must be a finite number ≥ 0"
        ))
    }
}

/// The miss cost of every data row of the CSV `path`, in file order: `n` times the constant,
/// or the values of the column, each a finite number ≥ 0.
///
/// # Errors
/// [`PipelineError::Cost`] naming the file (and its columns) for an unknown column, and the
/// file, line and column for a missing, non-numeric, negative or infinite cell;
/// [`PipelineError::Data`] for an unreadable file.
pub fn miss_costs(path: &Path, miss: &MissCost, n: usize) -> Result<Vec<f64>, PipelineError> {
    let column = match miss {
        MissCost::Constant(m) => return Ok(vec![*m; n]),
        MissCost::Column(c) => c,
    };
    let raw = RawTable::read(path, &ReadOptions::default())?;
    let file = path.display();
    let j = raw
        .header()
        .iter()
        .position(|h| h == column)
        .ok_or_else(|| PipelineError::Cost {
            message: format!(
                "{file}: no column \"{column}\" (--cost-fn-column); the file's columns are {}",
                raw.header().join(", ")
            ),
        })?;
    raw.column(j)
        .iter()
        .zip(raw.lines())
        .map(|(text, line)| {
            let bad = |problem: &str| PipelineError::Cost {
                message: format!(
                    "{file}, line {line}, column {} (\"{column}\"): \"{text}\" {problem}",
                    j + 1
                ),
            };
            if is_missing_token(text) {
                return Err(bad(
                    "is missing, but the column gives the cost of each missed positive",
                ));
            }
            match text.trim().parse::<f64>() {
                Ok(m) if m.is_finite() && m >= 0.0 => Ok(m),
                Ok(_) => Err(bad("is not a cost: a cost must be a finite number ≥ 0")),
                Err(_) => Err(bad("is not a number, but the column gives a cost")),
            }
        })
        .collect()
}

/// Replaces the threshold of `trained` by the cost decision chosen on its validation rows
/// (M24) under `costs`, with `val_miss` the miss costs of those rows, and recomputes the
/// validation metrics at it.
///
/// # Errors
/// [`PipelineError::Threshold`] when the model has no validation rows; those of
/// [`CostDecision::choose`] and [`evaluate`].
pub fn decide_by_cost(
    trained: &mut TrainedModel,
    costs: &CostSpec,
    val_miss: &[f64],
) -> Result<(), PipelineError> {
    use glassbox_train::metrics::threshold::{ThresholdError, ThresholdRule};
    let val = trained
        .validation
        .as_ref()
        .ok_or(ThresholdError::NeedsValidation(ThresholdRule::MinCost))?;
    let decision = CostDecision::choose(&val.labels, &val.probs, val_miss, costs)?;
    let threshold = ThresholdInfo::from_cost(decision, &val.probs, val_miss);
    let eval = evaluate(
        "validation",
        val.labels.clone(),
        val.probs.clone(),
        threshold.value,
    )?;
    let info = &mut trained.bundle.info;
    info.threshold = threshold;
    info.validation = Some(eval.at_threshold.clone());
    trained.validation = Some(eval);
    Ok(())
}

/// The expected cost of a model's decisions on a labelled file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CostEvaluation {
    /// The costs the decisions were priced with (`--cost-…` flags, else the model's).
    pub costs: CostSpec,
    /// `"p · m ≥ τ"` with the model's τ (M22), or `"p ≥ threshold"` for a model without a
    /// cost decision.
    pub decision: String,
    /// (M21) cost of the decisions, approve-all, alert-all, perfect, savings.
    pub report: CostReport,
}

/// Prices the bundle's decisions on `eval` (the labelled file `path`) under `costs`, or the
/// bundle's own costs when `None`: its cost decision `p · m ≥ τ` if it has one, else
/// `p ≥ threshold`. `None` when there are neither flags nor stored costs.
///
/// # Errors
/// Those of [`miss_costs`]; [`PipelineError::Metrics`] for inconsistent lengths.
pub fn evaluate_cost(
    bundle: &Bundle,
    path: &Path,
    eval: &Evaluation,
    costs: Option<&CostSpec>,
) -> Result<Option<CostEvaluation>, PipelineError> {
    let stored = bundle.info.threshold.cost.as_ref();
    let Some(costs) = costs.or(stored.map(|d| &d.costs)) else {
        return Ok(None);
    };
    let miss = miss_costs(path, &costs.miss, eval.labels.len())?;
    let matrix = CostMatrix {
        alert: costs.alert,
        miss: &miss,
    };
    let (decision, report) = match stored {
        Some(d) => {
            // The decision uses the model's miss costs; pricing may use other ones.
            let decided = miss_costs(path, &d.costs.miss, eval.labels.len())?;
            let alerts = d.alerts(&eval.probs, &decided);
            (
                format!("p · m ≥ {} ({})", d.risk_threshold, d.costs),
                CostReport::of_alerts(&eval.labels, &alerts, &matrix, d.risk_threshold)?,
            )
        }
        None => {
            let t = bundle.info.threshold.value;
            let alerts: Vec<bool> = eval.probs.iter().map(|&p| p >= t).collect();
            (
                format!("p ≥ {t}"),
                CostReport::of_alerts(&eval.labels, &alerts, &matrix, t)?,
            )
        }
    };
    Ok(Some(CostEvaluation {
        costs: costs.clone(),
        decision,
        report,
    }))
}

/// The prediction schema widened so that the cost column `column` is read as a number
/// (kept if the training schema dropped it, appended if it never had it): `predict` needs
/// each row's miss cost to decide `p · m ≥ τ` (M22).
pub fn schema_with_cost_column(mut schema: Schema, column: &str) -> Result<Schema, PipelineError> {
    match schema.columns.iter_mut().find(|c| c.name == column) {
        Some(c) if c.kind == ColumnKind::Numeric && c.datetime.is_none() => c.drop = false,
        Some(c) => {
            return Err(PipelineError::Cost {
                message: format!(
                    "the model decides by the miss cost in column \"{column}\", but its schema reads that column as {}",
                    c.kind.as_str()
                ),
            });
        }
        None => schema
            .columns
            .push(ColumnSchema::new(column, ColumnKind::Numeric)),
    }
    Ok(schema)
}

/// The miss cost of each row of a chunk read with [`schema_with_cost_column`]: the values of
/// `column`, each a finite number ≥ 0.
///
/// # Errors
/// [`PipelineError::Cost`] naming the file, line and column of a missing or negative cell.
pub fn chunk_miss_costs(table: &Table, column: &str) -> Result<Vec<f64>, PipelineError> {
    let col = table.column(column).ok_or_else(|| PipelineError::Cost {
        message: format!(
            "{}: no column \"{column}\", which holds the miss cost the model decides by",
            table.file()
        ),
    })?;
    (0..col.len())
        .zip(table.lines())
        .map(|(i, line)| match col.value(i) {
            Value::Number(m) if m.is_finite() && m >= 0.0 => Ok(m),
            other => Err(PipelineError::Cost {
                message: format!(
                    "{}, line {line}, column {} (\"{column}\"): {} is not a cost: the model decides by each row's miss cost, a finite number ≥ 0",
                    table.file(),
                    col.position(),
                    match other {
                        Value::Number(m) => m.to_string(),
                        _ => "a missing value".to_string(),
                    }
                ),
            }),
        })
        .collect()
}
