//! Customer value, model side: a customer table (crates/value) → a value model (an MLP whose
//! last layer is the loss's head, notes/value.md §1) → predictions; saved as one checkpoint
//! whose manifest carries everything prediction needs (roles, horizon, scaler, loss).
//!
//! ```text
//! fit_value_model(table, fit rows, val rows, recipe, spec)
//!     Scaler::fit(fit rows) (C20, C23) → X, Y = y in money → Trainer (early stopping on val)
//! ValueModel::predict(table, rows) → ValuePrediction per row (C2, C7)
//! ```

use std::path::Path;

use glassbox_core::{Activation, Init, InputLayerSpec, LayerSpec, MlpSpec};
use glassbox_train::{
    DataView, EarlyStopping, LossConfig, LossKind, Monitor, OptimizerConfig, TrainConfig,
    TrainError, Trainer, ValueHead, ValuePrediction, WeightDecay, apply_power_map, blend,
    blend_weight, decile_power_map, level_scale,
};
use glassbox_value::{Columns, CustomerTable, Scaler, last_period_rule_of};
use ndarray::Array2;
use serde::{Deserialize, Serialize};

/// The manifest key holding [`ValueModelInfo`].
const INFO_KEY: &str = "value_model";

/// How a value model is trained (the case's presets; the command line can change the loss).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValueRecipe {
    /// The loss; it fixes the head (ZILN: 3 outputs, the log1p losses: 1).
    pub loss: LossKind,
    /// Hidden ReLU layers.
    pub hidden: Vec<usize>,
    /// Dropout after each hidden layer.
    pub dropout: f64,
    /// Adam's learning rate.
    pub lr: f64,
    /// Coupled L2 (Adam's `weight_decay`, as the reference MLPs).
    pub l2: f64,
    /// Rows per batch.
    pub batch_size: usize,
    /// At most this many epochs; early stopping on the validation loss ends sooner.
    pub max_epochs: usize,
    /// Epochs without a better validation loss before stopping (the best is restored).
    pub patience: usize,
    /// Initialisation and shuffling.
    pub seed: u64,
    /// Fit the level factor (C36) on the validation rows after training.
    #[serde(default)]
    pub calibrate_level: bool,
    /// Blend the network with the "last period repeats" rule (C25), the weight fitted on the
    /// validation rows (C37).
    #[serde(default)]
    pub blend_rule: bool,
    /// Map the (blended) prediction through the decile power map fitted on the validation
    /// rows (C39), before the level factor.
    #[serde(default)]
    pub calibrate_deciles: bool,
    /// Input layers of a table network before the hidden layers (notes/tabular.md N10:
    /// per-feature scaling, PLR), as `InputLayerSpec` reads them (`scale`,
    /// `plr(k=K,h=H,sigma=σ)`); empty in both presets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub input_layers: Vec<String>,
    /// λ of the pairwise ranking term beside the value loss (C41–C43); none in both presets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ranking: Option<f64>,
    /// λ of the listwise term beside the value loss (V26, V27); none in both presets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listwise: Option<f64>,
    /// The transaction-history features (C44–C46) as inputs too; off in both presets.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub history_features: bool,
}

impl ValueRecipe {
    /// The default: the paper's MLP (64-64 ReLU) with the ZILN loss. Batch 128 and lr 2e-3
    /// (the reference used 64 and 3e-4) were chosen on the headline val customers for speed:
    /// val Gini 0.78–0.79 either way, in about half the epochs. Mapped by the decile power
    /// map (C39), whose own level stands: the level factor
    /// (C36) after it, a ratio of two val sums that the largest spenders dominate, made the
    /// half-split val decile MAPE worse (notes/value.md §4, the tenth session). L2 1e-2 (the
    /// reference's 1e-3 before the eleventh session): on the same val harness it lifted the
    /// headline val Gini by 0.004 (3 seed sd) without losing on the pooled val folds 1–4;
    /// 3e-2 and above lost there. Not blended with the rule since the twelfth session: with
    /// L2 1e-2 the network alone (then C39) gained 0.007 (2 seed sd) on the pooled val folds
    /// 1–4 and was level on the headline val (−0.001 ± 0.003), with a lower decile MAPE on
    /// both; the data README's exact recipe (lr 3e-4, L2 1e-3, batch 64, patience 40) lost
    /// on both (notes/value.md §4).
    pub fn ziln(seed: u64) -> Self {
        ValueRecipe {
            loss: LossKind::Ziln,
            hidden: vec![64, 64],
            dropout: 0.25,
            lr: 2e-3,
            l2: 1e-2,
            batch_size: 128,
            max_epochs: 150,
            patience: 10,
            seed,
            calibrate_level: false,
            blend_rule: false,
            calibrate_deciles: true,
            input_layers: Vec::new(),
            ranking: None,
            listwise: None,
            history_features: false,
        }
    }

    /// The plain alternative: the same MLP with MSE on log1p(y), with the reference's L2 1e-3
    /// and the blend with the rule (C37) (the eleventh and twelfth sessions' searches moved
    /// the ZILN default only).
    pub fn mse_log1p(seed: u64) -> Self {
        ValueRecipe {
            loss: LossKind::MseLog1p,
            l2: 1e-3,
            blend_rule: true,
            ..Self::ziln(seed)
        }
    }

    fn head(&self) -> ValueHead {
        self.loss
            .value_head()
            .unwrap_or_else(|| panic!("{} is not a value loss", self.loss))
    }
}

/// What a saved value model needs besides its weights: how to read a log and scale a row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValueModelInfo {
    /// The roles of the log's columns.
    pub columns: Columns,
    /// The horizon the model predicts over, ms.
    pub horizon_ms: i64,
    /// The scaler fitted on the fit customers (C20, C23).
    pub scaler: Scaler,
    /// The level factor fitted on the validation customers (C36); 1 when not calibrated.
    #[serde(default = "one")]
    pub level: f64,
    /// The network's weight α in the blend with the rule (C37); 1: the network alone.
    #[serde(default = "one")]
    pub blend: f64,
    /// The decile power map `(a, b)` fitted on the validation customers (C39); `(1, 1)`:
    /// the identity.
    #[serde(default = "identity")]
    pub decile_map: (f64, f64),
}

fn one() -> f64 {
    1.0
}

fn identity() -> (f64, f64) {
    (1.0, 1.0)
}

/// A trained value model.
#[derive(Debug)]
pub struct ValueModel {
    /// The network, its config and history.
    pub trainer: Trainer<f32>,
    /// Reading and scaling.
    pub info: ValueModelInfo,
    /// The head of the model's loss, fixed when the model is trained or loaded.
    head: ValueHead,
}

/// The inputs (rows × scaler width) of `rows` of `table`.
pub fn inputs(scaler: &Scaler, table: &CustomerTable, rows: &[usize]) -> Array2<f32> {
    let width = scaler.width();
    let mut x = Array2::zeros((rows.len(), width));
    let mut row = vec![0.0f64; width];
    for (r, &i) in rows.iter().enumerate() {
        scaler.transform_row(&table.features[i], &table.categories[i], &mut row);
        for (j, v) in row.iter().enumerate() {
            x[[r, j]] = *v as f32;
        }
    }
    x
}

fn targets(table: &CustomerTable, rows: &[usize]) -> Array2<f32> {
    Array2::from_shape_fn((rows.len(), 1), |(r, _)| table.target[rows[r]] as f32)
}

/// Fits the scaler on `fit`, trains on `fit` with early stopping on `val`, restores the best
/// epoch and, if the recipe says so, fits on `val` the blend with the rule (C37), the decile
/// power map (C39) and the level factor (C36), in that order.
///
/// # Errors
/// The trainer's errors (bad data, a non-finite loss).
pub fn fit_value_model(
    table: &CustomerTable,
    columns: &Columns,
    horizon_ms: i64,
    fit: &[usize],
    val: &[usize],
    recipe: &ValueRecipe,
    threads: Option<usize>,
) -> Result<ValueModel, TrainError> {
    let scaler = Scaler::fit_with(
        &table.features,
        &table.categories,
        &columns.categorical,
        fit,
        recipe.history_features,
    );
    let head = recipe.head();
    let mut layers: Vec<LayerSpec> = recipe
        .hidden
        .iter()
        .map(|&h| LayerSpec::new(h, Activation::Relu).with_dropout(recipe.dropout))
        .collect();
    layers.push(LayerSpec::new(head.outputs(), Activation::Identity));
    let input_layers = recipe
        .input_layers
        .iter()
        .map(|t| t.parse::<InputLayerSpec>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|reason| TrainError::Config {
            field: "input layers",
            reason,
        })?;
    let spec = MlpSpec::new(scaler.width(), layers).with_input_layers(input_layers);
    let config = TrainConfig {
        epochs: recipe.max_epochs,
        batch_size: recipe.batch_size,
        loss: LossConfig {
            ranking: recipe.ranking,
            listwise: recipe.listwise,
            ..LossConfig::new(recipe.loss)
        },
        optimizer: OptimizerConfig::adam_torch(recipe.lr)
            .with_weight_decay(WeightDecay::L2(recipe.l2)),
        early_stopping: Some(EarlyStopping {
            patience: recipe.patience,
            min_delta: 0.0,
            monitor: Monitor::ValLoss,
            restore_best: true,
        }),
        threads,
        ..TrainConfig::keras_recipe(recipe.max_epochs, recipe.seed)
    };
    let mut trainer = Trainer::<f32>::new(spec, Init::TorchDefault, config)?;
    let (x_fit, y_fit) = (inputs(&scaler, table, fit), targets(table, fit));
    let (x_val, y_val) = (inputs(&scaler, table, val), targets(table, val));
    trainer.fit(
        &DataView::new(x_fit.view(), y_fit.view()),
        Some(&DataView::new(x_val.view(), y_val.view())),
        &mut |_| {},
    )?;
    trainer.restore_best();
    let mut model = ValueModel {
        trainer,
        info: ValueModelInfo {
            columns: columns.clone(),
            horizon_ms,
            scaler,
            level: 1.0,
            blend: 1.0,
            decile_map: identity(),
        },
        head,
    };
    let actual: Vec<f64> = val.iter().map(|&i| table.target[i]).collect();
    let rule = last_period_rule_of(table, horizon_ms, val);
    let expected = |m: &ValueModel| -> Vec<f64> {
        m.predict_inputs(&x_val, &rule)
            .iter()
            .map(|p| p.expected)
            .collect()
    };
    if recipe.blend_rule {
        model.info.blend = blend_weight(&actual, &expected(&model), &rule); // C37
    }
    if recipe.calibrate_deciles {
        // C39 on val: the level per decile, not only overall (decile MAPE).
        model.info.decile_map = decile_power_map(&actual, &expected(&model));
    }
    if recipe.calibrate_level {
        // C36 on val: the holdout level of new customers can differ from the fit split's
        // (three of the log's largest spenders may sit in one split).
        model.info.level = level_scale(&actual, &expected(&model));
    }
    // Plain numbers and strings: serde_json cannot fail here, but an error is still an error.
    let info = serde_json::to_string(&model.info).map_err(|e| TrainError::Config {
        field: "value model info",
        reason: format!("cannot be stored in the bundle: {e}"),
    })?;
    model.trainer.extra_mut().insert(INFO_KEY.into(), info);
    Ok(model)
}

impl ValueModel {
    /// The head of the model's loss.
    pub fn head(&self) -> ValueHead {
        self.head
    }

    /// Predictions for `rows` of `table` (C2, C7, C36, C37, C39).
    pub fn predict(&self, table: &CustomerTable, rows: &[usize]) -> Vec<ValuePrediction> {
        let rule = last_period_rule_of(table, self.info.horizon_ms, rows);
        self.predict_inputs(&inputs(&self.info.scaler, table, rows), &rule)
    }

    /// Predictions for scaled inputs and the rule's value of each row (C25): the head's
    /// prediction, blended with the rule (C37) and scaled by the level factor (C36). The
    /// head's distribution is rescaled to the final mean (C36 with the row's own factor), so
    /// its quantiles stay consistent with the expected value.
    pub fn predict_inputs(&self, x: &Array2<f32>, rule: &[f64]) -> Vec<ValuePrediction> {
        let head = self.head();
        let width = head.outputs();
        let (alpha, level, map) = (self.info.blend, self.info.level, self.info.decile_map);
        self.trainer
            .scores(x.view())
            .chunks(width)
            .zip(rule)
            .map(|(row, &r)| {
                let p = head.predict(row);
                let mean = level * apply_power_map(map, blend(alpha, p.expected, r));
                if p.expected > 0.0 && p.expected.is_finite() {
                    head.rescale(p, mean / p.expected)
                } else {
                    ValuePrediction {
                        expected: mean,
                        ..p
                    }
                }
            })
            .collect()
    }

    /// Writes the model (one checkpoint file, atomically).
    ///
    /// # Errors
    /// The checkpoint's I/O error.
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        Ok(self.trainer.save(path)?)
    }

    /// Reads a model written by [`ValueModel::save`].
    ///
    /// # Errors
    /// A bad or foreign checkpoint (no value-model manifest entry).
    pub fn load(path: &Path) -> anyhow::Result<ValueModel> {
        let trainer = Trainer::<f32>::resume(path)?;
        let text = trainer.extra().get(INFO_KEY).ok_or_else(|| {
            anyhow::anyhow!(
                "{}: not a value model (train one with `glassbox value train`)",
                path.display()
            )
        })?;
        let info: ValueModelInfo = serde_json::from_str(text)
            .map_err(|e| anyhow::anyhow!("{}: bad value-model entry: {e}", path.display()))?;
        if info.scaler.mean.len() != info.scaler.width() {
            anyhow::bail!(
                "{}: the model was written for {} input columns, this version makes {}: \
                 train it again",
                path.display(),
                info.scaler.mean.len(),
                info.scaler.width()
            );
        }
        let Some(head) = trainer.config().loss.kind.value_head() else {
            anyhow::bail!("{}: the model's loss is not a value loss", path.display());
        };
        Ok(ValueModel {
            trainer,
            info,
            head,
        })
    }
}
