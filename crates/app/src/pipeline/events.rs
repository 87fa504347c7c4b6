//! Event logs through the table pipeline: the featurizer's examples (`glassbox-events`) become
//! a numeric table, so the one preprocessor (D2–D7), trainer and bundle of the table path serve
//! them too, and `glassbox evaluate` reads the examples CSV that `glassbox events featurize`
//! writes.
//!
//! ```text
//! log ─ featurize (V1–V22) ─→ FeatureMatrix ─ matrix_table ─→ Table ─ prepare_training_table
//!     ─→ TrainingSet ─ train ─→ Bundle { …, events: Some(EventFeaturizer { spec, M }) }
//! scoring: the same featurizer at the cutoffs asked for ─→ score_matrix (R1, then V25)
//! ```

use std::ops::Range;

use glassbox_data::{ColumnKind, ColumnSchema, Schema, Table, TargetSpec};
use glassbox_events::{EventSpec, FeatureMatrix, correct_sampled_probability};
use serde::{Deserialize, Serialize};

use super::{PipelineError, TrainingSet, ValidationPart, prepare_training_table};
use crate::bundle::Bundle;
use crate::recipe::{Recipe, RecipeChanges, RecipeName, ScheduleRule};

/// The label column of an example table (and of the CSV `events featurize` writes).
pub const LABEL_COLUMN: &str = "label";

/// How an event-log model turns a log into rows; the bundle holds it (`glassbox.events`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventFeaturizer {
    /// Columns, event kinds, horizon, cutoffs and windows (notes/events.md).
    pub spec: EventSpec,
    /// `M` of (V24): training kept every positive and one negative in `M`; scores are
    /// corrected by (V25). 1 = every example was kept.
    pub negative_keep_one_in: u64,
}

impl EventFeaturizer {
    /// (V25) The population probability of a probability of the sampled model, trained with
    /// positive weight `pos_weight` (absent = 1): its odds are `M·w` times the population's
    /// (the identity when `M·w` = 1). Increasing, so it maps thresholds and keeps every ranking.
    pub fn population_probability(&self, p: f64, pos_weight: Option<f64>) -> f64 {
        let odds_factor = self.negative_keep_one_in.max(1) as f64 * pos_weight.unwrap_or(1.0);
        if odds_factor == 1.0 {
            p
        } else {
            correct_sampled_probability(p, odds_factor)
        }
    }
}

/// Whether (D3) `log1p` applies to a feature of the event featurizer: to every count,
/// duration, distinct count and popularity (all ≥ 0, heavy-tailed), not to the item rates
/// (V15–V18, already in [0, 1]), the session flag (V14) or the hour encoding (V19) — the
/// data README's preprocessing of the reference models.
pub fn log1p_applies(feature: &str) -> bool {
    !(feature.contains("rate") || feature == "ls_active" || feature.starts_with("hour_"))
}

/// The recipe `name` for event logs: the paper's network and optimizer unchanged, but on
/// `log1p` features as the reference Keras run (data README, model (d)); and the default
/// recipe for event logs (notes/events.md, "The recipes"): wider batches, AdamW with a
/// cosine decay to 0 (the reference's best MLP, model (e)), dropout 0.2, positive weight 10,
/// a PLR embedding of every column (K = 8, H = 4, σ = 0.01) and two members of 4 epochs
/// averaged, the threshold maximising F1 on the validation rows.
pub fn event_recipe(name: RecipeName) -> Recipe {
    let mut recipe = Recipe::paper();
    let changes = match name {
        RecipeName::Paper => RecipeChanges {
            log1p: Some(true),
            ..Default::default()
        },
        RecipeName::Default => {
            recipe.base = "default".into();
            recipe.threshold = crate::recipe::ThresholdRule::MaxF1;
            recipe.schedule = ScheduleRule::Cosine { min_fraction: 0.0 };
            recipe.log1p = true;
            recipe.dropout = 0.2;
            recipe.hidden = vec![64, 64];
            recipe.optimizer = crate::recipe::OptimizerName::Adamw.config(1e-3, Some(1e-4));
            recipe.batch_size = 256;
            recipe.val_fraction = 0.2;
            // Chosen on the validation day (examples/next_hour_search.rs, notes/events.md §9).
            recipe.pos_weight = Some(10.0);
            // "s18g", chosen on the validation day as the cheapest shape that passed the rule
            // and keeps the case under 10 s (notes/events_default.md §17–18).
            recipe.input_layers = vec!["plr(k=8,h=4,sigma=0.01)".into()];
            recipe.ensemble = 2;
            recipe.epochs = 4;
            return recipe;
        }
    };
    // `apply` cannot fail on a log1p change; the preset is returned unchanged if it did.
    let _ = recipe.apply(&changes);
    recipe
}

/// Rows `rows` of `matrix` as a table named `file`: one numeric column per feature (`log1p`
/// on the features of [`log1p_applies`] when `log1p`), then [`LABEL_COLUMN`] (1/0, missing
/// when unknown). The values are the matrix's f32 widened to f64, exactly what reading the
/// CSV that [`FeatureMatrix::write_csv`] writes gives back.
///
/// # Errors
/// [`PipelineError::Data`] if the matrix holds an infinite value (a featurizer bug).
pub fn matrix_table(
    file: &str,
    matrix: &FeatureMatrix,
    rows: Range<usize>,
    log1p: bool,
) -> Result<(Table, Schema), PipelineError> {
    let d = matrix.cols();
    let mut columns: Vec<(ColumnSchema, Vec<f64>)> = matrix
        .names
        .iter()
        .map(|name| {
            let mut spec = ColumnSchema::new(name, ColumnKind::Numeric);
            spec.log1p = log1p && log1p_applies(name);
            (spec, Vec::with_capacity(rows.len()))
        })
        .collect();
    for i in rows.clone() {
        for (j, (_, values)) in columns.iter_mut().enumerate() {
            values.push(f64::from(matrix.x[i * d + j]));
        }
    }
    let labels = matrix.y[rows].iter().map(|&y| f64::from(y)).collect();
    columns.push((ColumnSchema::new(LABEL_COLUMN, ColumnKind::Numeric), labels));
    Ok(Table::from_numeric_columns(file, columns)?)
}

/// The training set of `matrix` for `recipe`: its table, the validation part, the
/// preprocessor fitted on the rest.
///
/// # Errors
/// Those of [`prepare_training_table`] (a single class, a split that empties a class…).
pub fn training_set(
    file: &str,
    matrix: &FeatureMatrix,
    recipe: &Recipe,
    validation: ValidationPart,
) -> Result<TrainingSet, PipelineError> {
    let (table, schema) = matrix_table(file, matrix, 0..matrix.rows(), recipe.log1p)?;
    prepare_training_table(
        file,
        table,
        schema,
        &TargetSpec::new(LABEL_COLUMN),
        validation,
        recipe.features,
    )
}

/// Rows scored per chunk by [`score_matrix`]: the table and the networks' workspace stay
/// bounded whatever the number of examples.
const SCORE_CHUNK_ROWS: usize = 16_384;

/// The bundle's probability (R1) of every row of `matrix`, as the sampled model gives it
/// (apply [`EventFeaturizer::population_probability`] for the population's).
///
/// One workspace serves every chunk ([`Bundle::probabilities_in`], the same numbers as
/// [`Bundle::probabilities`]): a PLR network's workspace for a chunk is about 100 MB, made
/// and zeroed once instead of once per chunk (the next-hour case's page faults 350 k →
/// 320 k, no measurable time; notes/events_default.md §16).
///
/// # Errors
/// [`PipelineError::Data`] when a feature the bundle needs is not in the matrix.
pub fn score_matrix(bundle: &Bundle, matrix: &FeatureMatrix) -> Result<Vec<f64>, PipelineError> {
    let mut probs = Vec::with_capacity(matrix.rows());
    let Some(first) = bundle.members.first() else {
        return Err(PipelineError::Internal("a bundle without networks".into()));
    };
    let mut ws = first.workspace(SCORE_CHUNK_ROWS.min(matrix.rows()));
    let mut start = 0;
    while start < matrix.rows() {
        let end = (start + SCORE_CHUNK_ROWS).min(matrix.rows());
        // log1p is the bundle's schema's business: the table carries raw values.
        let (table, _) = matrix_table("examples", matrix, start..end, false)?;
        let x = bundle.preprocessor.transform_features(&table)?;
        probs.extend(bundle.probabilities_in(x.view(), &mut ws));
        start = end;
    }
    Ok(probs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_population_probability_undoes_the_sample_and_the_positive_weight() {
        let featurizer = |m| EventFeaturizer {
            spec: EventSpec::retailrocket_next_hour(),
            negative_keep_one_in: m,
        };
        let p = 0.5;
        // V25 with M = 10, then with M·w = 100 (the reference MLP's division of the odds).
        assert_eq!(featurizer(10).population_probability(p, None), 0.5 / 5.5);
        assert_eq!(
            featurizer(10).population_probability(p, Some(10.0)),
            0.5 / (0.5 + 100.0 * 0.5)
        );
        assert_eq!(featurizer(1).population_probability(p, None), p);
        assert_eq!(
            featurizer(1).population_probability(p, Some(4.0)),
            0.5 / 2.5
        );
    }
}
