//! Training recipes: every choice that turns a feature matrix into a model, in one
//! serialisable record that goes into the model bundle (notes/recipe.md).
//!
//! Two presets:
//! - [`Recipe::paper`] — the Keras recipe of Sakar et al. (2019) as the brief of issue 4 states
//!   it: 64-64-1, ReLU then sigmoid, Glorot-uniform weights and zero biases, Adam with Keras's
//!   defaults (lr 1e-3, β 0.9/0.999, ε̂ = 1e-7 in Keras's form), Keras's binary cross-entropy —
//!   which `model.fit` on the TensorFlow backend evaluates from the logits
//!   (notes/losses.md §3) — 10 epochs of batch 32, no early stopping, no class weights, every
//!   training row used for training, Keras's decision rule `p ≥ 0.5`, and standardised raw
//!   features (no `log1p`: the Keras figures it is compared with were measured that way,
//!   `scripts/keras_paper_recipe.py`);
//! - [`Recipe::default_recipe`] — the best recipe the search in `notes/recipe.md` found,
//!   choosing everything on a validation part carved out of the training file.
//!
//! Command-line flags change single fields of a preset ([`Recipe::apply`]); the changed fields
//! are listed in [`Recipe::overrides`] so a report says exactly what was run.
//!
//! ```
//! use glassbox_app::recipe::{Recipe, RecipeChanges};
//! let mut r = Recipe::paper();
//! assert_eq!((r.hidden.clone(), r.epochs, r.batch_size), (vec![64, 64], 10, 32));
//! r.apply(&RecipeChanges { epochs: Some(3), ..Default::default() }).unwrap();
//! assert_eq!(r.overrides, ["epochs = 3"]);
//! assert_eq!(r.label(), "paper (epochs = 3)");
//! ```

use glassbox_core::{Activation, Init};
use glassbox_data::{FeatureOptions, NumericScaling};
use glassbox_train::loss::focal::Focal;
use glassbox_train::privacy::{Accountant, DpMethod, DpRequest, NoiseChoice, PrivacyError};
use glassbox_train::{
    AdamEpsilon, ClassWeights, LossConfig, LossError, LossKind, OptimizerConfig, Schedule,
    WeightDecay,
};
use serde::{Deserialize, Serialize};

mod layers;

/// The recipe's threshold rule; its maths (R2) lives with the metrics.
pub use glassbox_train::metrics::threshold::ThresholdRule;

/// Per-class loss weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum ClassWeightRule {
    /// Every row weighs 1.
    None,
    /// scikit-learn's "balanced": `w_c = n / (2·n_c)` on the training rows (L4).
    Balanced,
}

/// The learning-rate schedule, resolved into a [`Schedule`] once the number of steps is known.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScheduleRule {
    /// The base learning rate throughout (O15).
    Constant,
    /// Cosine decay from the base rate to `min_fraction × base` over all planned steps (O17).
    Cosine { min_fraction: f64 },
}

impl ScheduleRule {
    /// The schedule for a run of `total_steps` optimizer steps at base rate `lr`.
    pub fn resolve(&self, lr: f64, total_steps: usize) -> Schedule {
        match *self {
            ScheduleRule::Constant => Schedule::Constant,
            ScheduleRule::Cosine { min_fraction } => Schedule::Cosine {
                total_steps: total_steps.max(1),
                min_lr: lr * min_fraction,
            },
        }
    }
}

/// Optimizer names accepted by `--optimizer`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OptimizerName {
    /// Adam with PyTorch's ε form (ε = 1e-8 added to √v̂).
    Adam,
    /// Adam with Keras's ε form (ε̂ = 1e-7 added to √v, bias correction in the step size).
    AdamKeras,
    /// Adam with decoupled weight decay (PyTorch AdamW; `--weight-decay`, default 0.01).
    Adamw,
    /// Plain SGD.
    Sgd,
    /// SGD with heavy-ball momentum 0.9.
    SgdMomentum,
    /// RMSprop, PyTorch's defaults.
    Rmsprop,
}

impl OptimizerName {
    /// The optimizer at learning rate `lr`; `weight_decay` is decoupled for AdamW (default
    /// 0.01) and coupled L2 for the others (default none).
    pub fn config(self, lr: f64, weight_decay: Option<f64>) -> OptimizerConfig {
        let l2 = |c: OptimizerConfig| match weight_decay {
            Some(w) if w > 0.0 => c.with_weight_decay(WeightDecay::L2(w)),
            _ => c,
        };
        match self {
            OptimizerName::Adam => l2(OptimizerConfig::adam_torch(lr)),
            OptimizerName::AdamKeras => l2(OptimizerConfig::adam_keras(lr)),
            OptimizerName::Adamw => OptimizerConfig::adamw(lr, weight_decay.unwrap_or(0.01)),
            OptimizerName::Sgd => l2(OptimizerConfig::sgd(lr)),
            OptimizerName::SgdMomentum => l2(OptimizerConfig::sgd_momentum(lr, 0.9)),
            OptimizerName::Rmsprop => l2(OptimizerConfig::rmsprop_torch(lr)),
        }
    }

    /// The name of a configured optimizer (the inverse of [`OptimizerName::config`]).
    pub fn of(config: &OptimizerConfig) -> Self {
        match config {
            OptimizerConfig::Adam {
                weight_decay: WeightDecay::Decoupled(_),
                ..
            } => OptimizerName::Adamw,
            OptimizerConfig::Adam {
                eps: AdamEpsilon::Keras(_),
                ..
            } => OptimizerName::AdamKeras,
            OptimizerConfig::Adam { .. } => OptimizerName::Adam,
            OptimizerConfig::Sgd {
                momentum: glassbox_train::Momentum::None,
                ..
            } => OptimizerName::Sgd,
            OptimizerConfig::Sgd { .. } => OptimizerName::SgdMomentum,
            OptimizerConfig::RmsProp { .. } => OptimizerName::Rmsprop,
        }
    }
}

/// Loss names accepted by `--loss`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LossName {
    /// Binary cross-entropy from the logit, `max(z,0) − zy + ln(1 + e^{−|z|})` (L5): what
    /// Keras's `fit` computes on the TensorFlow backend.
    BceLogits,
    /// Keras's binary cross-entropy on probabilities clipped to [1e-7, 1 − 1e-7] (L9–L11), as
    /// Keras's JAX and PyTorch backends compute it.
    BceKeras,
    /// Focal loss from the logit, `α_t·(1 − p_t)^γ·BCE` (L15–L17): down-weights the rows
    /// the model already gets right (--focal-gamma, --focal-alpha).
    Focal,
}

impl LossName {
    /// The trainer's loss kind.
    pub fn kind(self) -> LossKind {
        match self {
            LossName::BceLogits => LossKind::BceWithLogits,
            LossName::BceKeras => LossKind::BceKeras,
            LossName::Focal => LossKind::Focal,
        }
    }
}

/// Every choice of a training run. Serialised into the bundle (`recipe` in
/// `glassbox.bundle`) and into `metrics.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recipe {
    /// The preset this recipe started from: `paper` or `default`.
    pub base: String,
    /// Fields changed from the preset, as `field = value`, in the order applied.
    pub overrides: Vec<String>,
    /// Apply the `log1p` settings of the schema file and `--log1p` flags (D3). `false`
    /// standardises raw values, as the paper's preprocessing did.
    pub log1p: bool,
    /// Numeric scaling, missing indicators, rare-level pooling (notes/data.md §11, D17–D23).
    /// Absent from records written before these choices existed: the defaults (D4–D10).
    /// Left out when default, so a bundle written before them is rewritten byte for byte.
    #[serde(default, skip_serializing_if = "FeatureOptions::is_default")]
    pub features: FeatureOptions,
    /// Input layers of tables before the hidden layers (notes/tabular.md N10), each as the
    /// text of an [`InputLayerSpec`](glassbox_core::InputLayerSpec) (`scale`,
    /// `plr(k=16,h=16,sigma=0.1)`); PLR embeds every column the preprocessor makes, one-hot
    /// ones included, unless it ends `,columns=numeric` (N23). Left out when empty, so a
    /// bundle written before them is rewritten byte for byte.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub input_layers: Vec<String>,
    /// k, the members of a BatchEnsemble network (`--ensemble-k`, notes/tabular.md N19–N21):
    /// every layer shares its weights among k members with their own adapters, trained on
    /// the mean of their losses; the probability is the mean of theirs. 1 = a plain network.
    /// Left out when 1, so a bundle written before it is rewritten byte for byte.
    #[serde(default = "one_member", skip_serializing_if = "is_one_member")]
    pub ensemble_k: usize,
    /// The wide & deep linear term (notes/backprop.md B27–B30): the logit becomes
    /// `MLP(x) + wᵀx + c`, w over every column the preprocessor makes, stored as the tensor
    /// `wide.weight` of each member. Left out when off, so a bundle written before it is
    /// rewritten byte for byte (and loads as a network without it).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub wide: bool,
    /// Units of each hidden layer (the output layer, one unit, follows).
    pub hidden: Vec<usize>,
    /// Activation of the hidden layers (canonical text of [`Activation`]).
    pub activation: String,
    /// Drop probability after each hidden layer during training (B14–B16); 0 = none.
    pub dropout: f64,
    /// Initialiser of every layer ([`Init`] name).
    pub init: String,
    /// The training loss. The network ends in `Dense(1, sigmoid)`; `bce_with_logits` reads
    /// the pre-activation z (the logit), `bce_keras` the probability σ(z).
    pub loss: LossKind,
    /// γ and α of the focal loss; absent for the other losses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub focal: Option<Focal>,
    /// Per-class weights of the loss.
    pub class_weight: ClassWeightRule,
    /// Weight of the positive rows in `bce_with_logits` (L7, L8; PyTorch's `pos_weight`);
    /// absent = 1. It multiplies the model's odds by this much, which
    /// a caller undoes like a negative sample's (V25).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pos_weight: Option<f64>,
    /// The optimizer and its hyper-parameters (named conventions: ε form, weight decay).
    pub optimizer: OptimizerConfig,
    /// Learning-rate schedule over the planned steps.
    pub schedule: ScheduleRule,
    /// Maximum number of passes over the training rows.
    pub epochs: usize,
    /// Rows per optimizer step (the last batch of an epoch may be smaller).
    pub batch_size: usize,
    /// Stop after this many epochs without a better validation loss and restore the best
    /// epoch's weights; `None` trains every epoch. Needs a validation part.
    pub early_stopping: Option<usize>,
    /// Number of networks trained from different seeds whose probabilities are averaged.
    pub ensemble: usize,
    /// Fraction of the training file held out (stratified) for validation: early stopping,
    /// the threshold, validation metrics. 0 trains on every row.
    pub val_fraction: f64,
    /// How the bundle's decision threshold is chosen.
    pub threshold: ThresholdRule,
    /// Seed of the split; member `k` of the ensemble is initialised and shuffled with
    /// `seed + k`.
    pub seed: u64,
    /// Differentially private training (DP-SGD, notes/privacy.md §12), or none. Absent from
    /// the records of a non-private run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privacy: Option<PrivacyRecipe>,
}

/// What `--dp-epsilon`/`--dp-noise`, `--dp-delta` and `--dp-clip` ask for.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrivacyRecipe {
    /// The target ε (σ is calibrated to it), or none when σ is given.
    pub target_epsilon: Option<f64>,
    /// The noise multiplier σ, or none when it is calibrated.
    pub noise_multiplier: Option<f64>,
    /// δ, below 1/N.
    pub delta: f64,
    /// The per-example clipping norm C.
    pub clip_norm: f64,
    /// The method's options beside σ and C (notes/privacy.md P28–P31), under their own keys.
    #[serde(flatten)]
    pub method: DpMethod,
    /// The accountant that calibrates σ and certifies ε (`--dp-accountant`); RDP, the
    /// default, is left out.
    #[serde(default, skip_serializing_if = "Accountant::is_rdp")]
    pub accounting: Accountant,
}

impl PrivacyRecipe {
    /// The trainer's request.
    ///
    /// # Errors
    /// Both or neither of ε and σ.
    pub fn request(&self) -> Result<DpRequest, PrivacyError> {
        let noise = match (self.target_epsilon, self.noise_multiplier) {
            (Some(e), None) => NoiseChoice::TargetEpsilon(e),
            (None, Some(s)) => NoiseChoice::NoiseMultiplier(s),
            _ => return Err(PrivacyError::EpsilonAndNoiseBoth),
        };
        Ok(DpRequest {
            noise,
            delta: self.delta,
            clip_norm: self.clip_norm,
            method: self.method,
        })
    }
}

/// Field changes requested on the command line; `None` keeps the preset's value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecipeChanges {
    pub log1p: Option<bool>,
    /// Numeric scaling (D17–D21).
    pub numeric_scaling: Option<NumericScaling>,
    /// Missing indicators (D22).
    pub missing_indicators: Option<bool>,
    /// Minimum training count of a categorical level, else pooled (D23).
    pub rare_min_count: Option<usize>,
    /// A learned scale per input column (`--feature-scale`, N1, N2); `Some(false)` removes it.
    pub feature_scale: Option<bool>,
    /// PLR embeddings (`--embedding plr`, N3–N9); `Some(false)` removes them.
    pub plr: Option<bool>,
    /// PLR on the numeric columns only (`--embedding plr-numeric`, N23), else every column.
    pub plr_numeric: Option<bool>,
    /// PLR's K, H and σ (`--plr-frequencies`, `--plr-units`, `--plr-sigma`); need PLR on.
    pub plr_frequencies: Option<usize>,
    pub plr_units: Option<usize>,
    pub plr_sigma: Option<f64>,
    /// k of a BatchEnsemble network (`--ensemble-k`, N19).
    pub ensemble_k: Option<usize>,
    /// The wide linear term (`--wide`, B27).
    pub wide: Option<bool>,
    pub hidden: Option<Vec<usize>>,
    pub activation: Option<String>,
    pub dropout: Option<f64>,
    pub init: Option<String>,
    pub loss: Option<LossName>,
    /// γ of the focal loss (needs `loss` focal).
    pub focal_gamma: Option<f64>,
    /// α of the focal loss (needs `loss` focal).
    pub focal_alpha: Option<f64>,
    pub class_weight: Option<ClassWeightRule>,
    pub optimizer: Option<OptimizerName>,
    pub lr: Option<f64>,
    pub weight_decay: Option<f64>,
    pub cosine: Option<bool>,
    pub epochs: Option<usize>,
    pub batch_size: Option<usize>,
    /// `Some(0)` turns early stopping off.
    pub early_stopping: Option<usize>,
    pub ensemble: Option<usize>,
    pub val_fraction: Option<f64>,
    pub threshold: Option<ThresholdRule>,
    pub seed: Option<u64>,
}

/// Names accepted by `--embedding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EmbeddingName {
    /// No embedding: the columns go to the first hidden layer as they are.
    None,
    /// PLR: periodic features, a dense layer and ReLU per column (notes/tabular.md §2).
    Plr,
    /// PLR of the numeric columns only; the others pass through (notes/tabular.md N23).
    PlrNumeric,
}

/// Names accepted by `--recipe`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RecipeName {
    /// The paper's Keras recipe, reproduced exactly.
    Paper,
    /// The best recipe found by the search in notes/recipe.md.
    Default,
}

impl RecipeName {
    /// The preset.
    pub fn recipe(self) -> Recipe {
        match self {
            RecipeName::Paper => Recipe::paper(),
            RecipeName::Default => Recipe::default_recipe(),
        }
    }
}

impl Recipe {
    /// The paper's Keras recipe (see the module doc).
    pub fn paper() -> Recipe {
        Recipe {
            base: "paper".into(),
            overrides: Vec::new(),
            log1p: false,
            features: FeatureOptions::default(),
            input_layers: Vec::new(),
            ensemble_k: 1,
            wide: false,
            hidden: vec![64, 64],
            activation: Activation::Relu.to_string(),
            dropout: 0.0,
            init: Init::GlorotUniform.name().into(),
            loss: LossKind::BceWithLogits,
            pos_weight: None,
            focal: None,
            class_weight: ClassWeightRule::None,
            optimizer: OptimizerConfig::adam_keras(1e-3),
            schedule: ScheduleRule::Constant,
            epochs: 10,
            batch_size: 32,
            early_stopping: None,
            ensemble: 1,
            val_fraction: 0.0,
            threshold: ThresholdRule::Fixed(0.5),
            seed: 0,
            privacy: None,
        }
    }

    /// The default recipe: the paper's, with the five changes the search in
    /// notes/recipe.md kept (everything else it tried moved the validation ROC-AUC by less
    /// than its noise):
    /// 1. `log1p` on the skewed counts, durations and PageValues (+0.007 ROC-AUC);
    /// 2. a stratified 20 % validation part, early stopping on its loss (patience 5, at most
    ///    30 epochs) with the best epoch's weights restored;
    /// 3. batch 64 (as good as 32, fewer steps);
    /// 4. an ensemble of 5 seeds, probabilities averaged;
    /// 5. the threshold that maximises F1 on the validation rows.
    pub fn default_recipe() -> Recipe {
        Recipe {
            base: "default".into(),
            log1p: true,
            epochs: 30,
            batch_size: 64,
            early_stopping: Some(5),
            ensemble: 5,
            val_fraction: 0.2,
            threshold: ThresholdRule::MaxF1,
            ..Recipe::paper()
        }
    }

    /// `paper`, or `default (epochs = 3, seed = 4)` when fields were changed.
    pub fn label(&self) -> String {
        if self.overrides.is_empty() {
            self.base.clone()
        } else {
            format!("{} ({})", self.base, self.overrides.join(", "))
        }
    }

    /// The hidden activation.
    pub fn activation(&self) -> Result<Activation, String> {
        self.activation.parse().map_err(|e| format!("{e}"))
    }

    /// The initialiser.
    pub fn init(&self) -> Result<Init, String> {
        self.init.parse().map_err(|e| format!("{e}"))
    }

    /// The seed of ensemble member `k`.
    pub fn member_seed(&self, k: usize) -> u64 {
        self.seed.wrapping_add(k as u64)
    }

    /// The loss the recipe trains with: its kind, with balanced class weights from
    /// `(negatives, positives)` when the recipe asks for them (L4).
    ///
    /// # Errors
    /// [`LossError::MissingClass`] for balanced weights without both classes.
    pub fn loss_config(&self, class_counts: (usize, usize)) -> Result<LossConfig, LossError> {
        let class_weights = match self.class_weight {
            ClassWeightRule::None => None,
            ClassWeightRule::Balanced => {
                Some(ClassWeights::balanced(class_counts.0, class_counts.1)?)
            }
        };
        Ok(LossConfig {
            kind: self.loss,
            class_weights,
            pos_weight: self.pos_weight,
            focal: self.focal,
            ranking: None,
            listwise: None,
        })
    }

    /// Applies command-line changes, recording each in [`Recipe::overrides`], then checks
    /// the result.
    ///
    /// Errors: a message naming the flag and the accepted values.
    pub fn apply(&mut self, c: &RecipeChanges) -> Result<(), String> {
        self.apply_input_layers(c)?;
        let mut note = |field: &str, value: String| self_note(&mut self.overrides, field, value);
        if let Some(n) = c.numeric_scaling {
            self.features.numeric = n;
            note("numeric_scaling", format!("{n:?}").to_lowercase());
        }
        if let Some(m) = c.missing_indicators {
            self.features.missing_indicators = m;
            note("missing_indicators", m.to_string());
        }
        if let Some(r) = c.rare_min_count {
            self.features.rare_min_count = r;
            note("rare_min_count", r.to_string());
        }
        if let Some(k) = c.ensemble_k {
            self.ensemble_k = k;
            note("ensemble_k", k.to_string());
        }
        if let Some(w) = c.wide {
            self.wide = w;
            note("wide", w.to_string());
        }
        if let Some(h) = &c.hidden {
            self.hidden = h.clone();
            note(
                "hidden",
                h.iter()
                    .map(|u| u.to_string())
                    .collect::<Vec<_>>()
                    .join(","),
            );
        }
        if let Some(a) = &c.activation {
            let act: Activation = a
                .parse()
                .map_err(|e| format!("--activation: {e} (e.g. relu, tanh, leaky_relu(0.01))"))?;
            self.activation = act.to_string();
            note("activation", act.to_string());
        }
        if let Some(i) = &c.init {
            let init: Init = i.parse().map_err(|e| format!("--init: {e}"))?;
            self.init = init.name().into();
            note("init", init.name().into());
        }
        if let Some(l) = c.loss {
            self.loss = l.kind();
            note("loss", l.kind().to_string());
        }
        if (c.focal_gamma.is_some() || c.focal_alpha.is_some()) && self.loss != LossKind::Focal {
            return Err(
                "--focal-gamma and --focal-alpha set the focal loss: add --loss focal".into(),
            );
        }
        if self.loss == LossKind::Focal {
            let f = Focal {
                gamma: c.focal_gamma.unwrap_or(Focal::DEFAULT.gamma),
                alpha: c.focal_alpha,
            };
            f.validate().map_err(|e| e.to_string())?;
            if c.focal_gamma.is_some() {
                note("focal_gamma", f.gamma.to_string());
            }
            if let Some(a) = f.alpha {
                note("focal_alpha", a.to_string());
            }
            self.focal = Some(f);
        } else {
            self.focal = None;
        }
        if let Some(w) = c.class_weight {
            self.class_weight = w;
            note("class_weight", format!("{w:?}").to_lowercase());
        }
        if c.optimizer.is_some() || c.lr.is_some() || c.weight_decay.is_some() {
            let name = c
                .optimizer
                .unwrap_or_else(|| OptimizerName::of(&self.optimizer));
            let lr = c.lr.unwrap_or_else(|| self.optimizer.lr());
            let wd = c.weight_decay.or(match self.optimizer {
                OptimizerConfig::Adam {
                    weight_decay: WeightDecay::Decoupled(w),
                    ..
                } if name == OptimizerName::Adamw => Some(w),
                _ => None,
            });
            self.optimizer = name.config(lr, wd);
            if let Some(o) = c.optimizer {
                note("optimizer", format!("{o:?}").to_lowercase());
            }
            if let Some(lr) = c.lr {
                note("lr", lr.to_string());
            }
            if let Some(w) = c.weight_decay {
                note("weight_decay", w.to_string());
            }
        }
        if let Some(cos) = c.cosine {
            self.schedule = if cos {
                ScheduleRule::Cosine { min_fraction: 0.0 }
            } else {
                ScheduleRule::Constant
            };
            note("schedule", if cos { "cosine" } else { "constant" }.into());
        }
        // The plain fields: copy the value, record it.
        macro_rules! plain {
            ($($field:ident),*) => {$(
                if let Some(v) = c.$field {
                    self.$field = v;
                    note(stringify!($field), v.to_string());
                }
            )*};
        }
        plain!(
            log1p,
            dropout,
            epochs,
            batch_size,
            ensemble,
            val_fraction,
            threshold,
            seed
        );
        if let Some(p) = c.early_stopping {
            self.early_stopping = (p > 0).then_some(p);
            note("early_stopping", p.to_string());
        }
        self.validate()
    }

    /// Checks that the recipe can run: sizes positive, probabilities in range, a validation
    /// part where early stopping or a validation threshold needs one.
    pub fn validate(&self) -> Result<(), String> {
        if self.hidden.contains(&0) {
            return Err("--hidden: every layer needs at least one unit".into());
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(format!("--dropout must be in [0, 1), got {}", self.dropout));
        }
        self.activation()?;
        self.init()?;
        self.input_layer_specs()?;
        if self.epochs == 0 {
            return Err("--epochs must be at least 1".into());
        }
        if self.batch_size == 0 {
            return Err("--batch-size must be at least 1".into());
        }
        if self.ensemble == 0 {
            return Err("--ensemble must be at least 1".into());
        }
        self.validate_ensemble_k()?;
        let lr = self.optimizer.lr();
        if !(lr.is_finite() && lr > 0.0) {
            return Err(format!("--lr must be a positive number, got {lr}"));
        }
        if !(0.0..0.9).contains(&self.val_fraction) {
            return Err(format!(
                "--val-fraction must be in [0, 0.9), got {}",
                self.val_fraction
            ));
        }
        if let Some(p) = &self.privacy {
            p.request().map_err(|e| e.to_string())?;
            p.accounting.validate().map_err(|e| e.to_string())?;
            if self.dropout > 0.0 {
                return Err(PrivacyError::Dropout {
                    layer: 0,
                    p: self.dropout,
                }
                .to_string());
            }
            if self.class_weight == ClassWeightRule::Balanced {
                return Err(PrivacyError::ClassWeightsFromData.to_string());
            }
            p.method.validate().map_err(|e| e.to_string())?;
            if p.method.adam_bias_correction.is_some()
                && !matches!(self.optimizer, OptimizerConfig::Adam { .. })
            {
                return Err(PrivacyError::BiasCorrectionNeedsAdam.to_string());
            }
            if p.method.average_decay.is_some() && self.early_stopping.is_some() {
                return Err(
                    "--dp-average keeps the average of the iterates, early stopping the best epoch: use --early-stopping 0 with it"
                        .into(),
                );
            }
        }
        if self.val_fraction == 0.0 {
            if self.early_stopping.is_some() {
                return Err(
                    "early stopping needs a validation part: set --val-fraction (e.g. 0.2) or --early-stopping 0"
                        .into(),
                );
            }
            if !matches!(self.threshold, ThresholdRule::Fixed(_)) {
                return Err(format!(
                    "--threshold {} is chosen on validation rows: set --val-fraction (e.g. 0.2) or a fixed threshold such as 0.5",
                    self.threshold
                ));
            }
        }
        Ok(())
    }
}

/// Records `field = value`, replacing an earlier change of the same field.
fn self_note(overrides: &mut Vec<String>, field: &str, value: String) {
    let prefix = format!("{field} = ");
    overrides.retain(|o| !o.starts_with(&prefix));
    overrides.push(format!("{prefix}{value}"));
}

fn one_member() -> usize {
    1
}

fn is_one_member(k: &usize) -> bool {
    *k == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paper_recipe_is_the_keras_recipe() {
        let r = Recipe::paper();
        assert_eq!(r.hidden, [64, 64]);
        assert_eq!(r.activation, "relu");
        assert_eq!(r.init, "glorot_uniform");
        assert_eq!(r.loss, LossKind::BceWithLogits);
        assert_eq!(
            r.optimizer,
            OptimizerConfig::Adam {
                lr: 1e-3,
                beta1: 0.9,
                beta2: 0.999,
                eps: AdamEpsilon::Keras(1e-7),
                weight_decay: WeightDecay::None
            }
        );
        assert_eq!((r.epochs, r.batch_size, r.ensemble), (10, 32, 1));
        assert_eq!(r.early_stopping, None);
        assert_eq!(r.class_weight, ClassWeightRule::None);
        assert_eq!(r.threshold, ThresholdRule::Fixed(0.5));
        let spec = r.mlp_spec(79).unwrap();
        assert_eq!(spec.num_params(), 79 * 64 + 64 + 64 * 64 + 64 + 64 + 1);
        assert_eq!(spec.layers[2].activation, Activation::Sigmoid);
        r.validate().unwrap();
        Recipe::default_recipe().validate().unwrap();
    }

    #[test]
    fn changes_are_applied_and_recorded_once() {
        let mut r = Recipe::default_recipe();
        let c = RecipeChanges {
            lr: Some(0.003),
            seed: Some(4),
            hidden: Some(vec![32]),
            ..Default::default()
        };
        r.apply(&c).unwrap();
        r.apply(&RecipeChanges {
            seed: Some(5),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(r.optimizer, OptimizerConfig::adam_keras(0.003));
        // AdamW keeps its weight decay when only the rate changes.
        r.apply(&RecipeChanges {
            optimizer: Some(OptimizerName::Adamw),
            weight_decay: Some(0.1),
            ..Default::default()
        })
        .unwrap();
        r.apply(&RecipeChanges {
            lr: Some(0.01),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(r.optimizer, OptimizerConfig::adamw(0.01, 0.1));
        assert_eq!(
            r.overrides,
            [
                "hidden = 32",
                "seed = 5",
                "optimizer = adamw",
                "weight_decay = 0.1",
                "lr = 0.01"
            ]
        );
        assert_eq!(r.member_seed(2), 7);
    }

    #[test]
    fn impossible_recipes_are_refused_with_the_flag_named() {
        let mut r = Recipe::paper();
        let e = r
            .apply(&RecipeChanges {
                early_stopping: Some(3),
                ..Default::default()
            })
            .unwrap_err();
        assert!(e.contains("--val-fraction"), "{e}");
        let mut r = Recipe::paper();
        let e = r
            .apply(&RecipeChanges {
                activation: Some("swish".into()),
                ..Default::default()
            })
            .unwrap_err();
        assert!(e.contains("--activation"), "{e}");
        let mut r = Recipe::default_recipe();
        assert!(
            r.apply(&RecipeChanges {
                batch_size: Some(0),
                ..Default::default()
            })
            .unwrap_err()
            .contains("--batch-size")
        );
    }

    /// Averaged iterates (P28) with early stopping, or with β outside [0, 1), are refused
    /// before training; with `--early-stopping 0` the recipe is valid.
    #[test]
    fn averaged_iterates_refuse_early_stopping_and_bad_decays() {
        let private = |average_decay| PrivacyRecipe {
            target_epsilon: Some(3.0),
            noise_multiplier: None,
            delta: 1e-5,
            clip_norm: 1.0,
            method: DpMethod {
                average_decay,
                ..DpMethod::default()
            },
            accounting: Accountant::Rdp,
        };
        let mut r = Recipe::default_recipe();
        assert!(r.early_stopping.is_some());
        r.privacy = Some(private(Some(0.99)));
        let e = r.validate().unwrap_err();
        assert!(e.contains("--early-stopping 0"), "{e}");
        r.early_stopping = None;
        assert_eq!(r.validate(), Ok(()));
        r.privacy = Some(private(Some(1.0)));
        let e = r.validate().unwrap_err();
        assert!(e.contains("averaging decay β"), "{e}");
    }
}
