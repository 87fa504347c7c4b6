//! The words for every numerical convention: one `impl` [`Describe`] per convention enum,
//! read by the checkpoint manifest ([`Conventions`]), the model bundle and its report (the
//! app's recipe table and conventions) and the trace ([`OptimizerConfig::heading`]).
//!
//! Each output keeps the words it has always written, because every bundle stores them and
//! reports print them: [`Describe::describe`] is the short form of the bundle and report
//! (`Adam (lr 0.001, β 0.9/0.999, ε̂ 1e-7 Keras form)`), [`Describe::rule`] the update rule
//! with its equation tags that manifests record
//! (`Adam, Keras form (O10, O11′, O13): θ ← …`), and the trace's heading puts the form first
//! and prints every number through the trace's own formatter
//! (`Adam, Keras form (lr 0.001, β₁ 0.9, β₂ 0.999, ε̂ 1e-7)`). The pieces the three share —
//! the form's name, the ε symbol, the momentum and weight-decay words — are written once, here
//! (notes/design.md, "One training step, one container, one set of words").

use glassbox_core::{Float, Init};

use crate::checkpoint::Conventions;
use crate::trainer::{LossReads, Trainer, loss_reads};
use crate::{AdamEpsilon, LossKind, Momentum, OptimizerConfig, RmsPropEpsilon, WeightDecay};

/// A numerical convention in words.
pub trait Describe {
    /// The convention and its parameters in a few words: the recipe table and the
    /// conventions of a model bundle, as its report prints them.
    fn describe(&self) -> String;

    /// The rule written out with its equation tags, as a checkpoint manifest (and every
    /// bundle member with it) records it; the short form where a manifest has no rule.
    fn rule(&self) -> String {
        self.describe()
    }
}

impl AdamEpsilon {
    /// Whose form of ε this is: `"PyTorch form"` (ε added to √v̂, O12) or `"Keras form"`
    /// (ε̂ added to √v, O13).
    pub fn form(&self) -> &'static str {
        match self {
            AdamEpsilon::Torch(_) => "PyTorch form",
            AdamEpsilon::Keras(_) => "Keras form",
        }
    }

    /// The symbol of its value: `ε` (PyTorch form) or `ε̂` (Keras form).
    pub fn symbol(&self) -> &'static str {
        match self {
            AdamEpsilon::Torch(_) => "ε",
            AdamEpsilon::Keras(_) => "ε̂",
        }
    }

    /// The value of ε or ε̂.
    pub fn value(&self) -> f64 {
        match *self {
            AdamEpsilon::Torch(e) | AdamEpsilon::Keras(e) => e,
        }
    }
}

impl Describe for AdamEpsilon {
    /// `ε 1e-8 PyTorch form` or `ε̂ 1e-7 Keras form`.
    fn describe(&self) -> String {
        format!("{} {:e} {}", self.symbol(), self.value(), self.form())
    }

    /// Adam's update in this form, without its parameters.
    fn rule(&self) -> String {
        match self {
            AdamEpsilon::Torch(_) => {
                "Adam, PyTorch form (O10–O12): θ ← θ − (lr/(1 − β₁ᵗ))·m/(√v/√(1 − β₂ᵗ) + ε)"
            }
            AdamEpsilon::Keras(_) => {
                "Adam, Keras form (O10, O11′, O13): θ ← θ − α_t·m/(√v + ε̂), α_t = lr·√(1 − β₂ᵗ)/(1 − β₁ᵗ)"
            }
        }
        .to_string()
    }
}

impl RmsPropEpsilon {
    /// Whose form of ε this is: `"PyTorch form"` (ε added to √v, O8) or `"Keras form"` (ε
    /// added to v under the root, O9).
    pub fn form(&self) -> &'static str {
        match self {
            RmsPropEpsilon::Torch(_) => "PyTorch form",
            RmsPropEpsilon::Keras(_) => "Keras form",
        }
    }

    /// The value of ε.
    pub fn value(&self) -> f64 {
        match *self {
            RmsPropEpsilon::Torch(e) | RmsPropEpsilon::Keras(e) => e,
        }
    }
}

impl Describe for RmsPropEpsilon {
    /// `ε 1e-8 PyTorch form` or `ε 1e-7 Keras form`.
    fn describe(&self) -> String {
        format!("ε {:e} {}", self.value(), self.form())
    }

    /// RMSProp's update in this form, without its parameters.
    fn rule(&self) -> String {
        match self {
            RmsPropEpsilon::Torch(_) => {
                "RMSProp, PyTorch form (O7, O8): v ← ρ·v + (1 − ρ)·g²; θ ← θ − lr·g/(√v + ε)"
            }
            RmsPropEpsilon::Keras(_) => {
                "RMSProp, Keras form (O7, O9): v ← ρ·v + (1 − ρ)·g²; θ ← θ − lr·g/√(v + ε)"
            }
        }
        .to_string()
    }
}

impl Describe for Momentum {
    /// `none`, `momentum 0.9` or `Nesterov 0.9`.
    fn describe(&self) -> String {
        match self {
            Momentum::None => "none".into(),
            Momentum::Classic(mu) => format!("momentum {mu}"),
            Momentum::Nesterov(mu) => format!("Nesterov {mu}"),
        }
    }

    /// SGD's update with this momentum.
    fn rule(&self) -> String {
        match self {
            Momentum::None => "SGD (O3): θ ← θ − lr·g".into(),
            Momentum::Classic(mu) => {
                format!("SGD, PyTorch momentum (O4, O5): b ← μ·b + g; θ ← θ − lr·b; μ = {mu}")
            }
            Momentum::Nesterov(mu) => format!(
                "SGD, PyTorch Nesterov (O4, O6): b ← μ·b + g; θ ← θ − lr·(g + μ·b); μ = {mu}"
            ),
        }
    }
}

impl Describe for WeightDecay {
    /// `none`, `L2 0.0001 (coupled)` or `weight decay 0.01 (decoupled)`.
    fn describe(&self) -> String {
        match self {
            WeightDecay::None => "none".into(),
            WeightDecay::L2(l) => format!("L2 {l} (coupled)"),
            WeightDecay::Decoupled(l) => format!("weight decay {l} (decoupled)"),
        }
    }

    fn rule(&self) -> String {
        match self {
            WeightDecay::None => "none".into(),
            WeightDecay::L2(l) => format!("coupled L2 (O1): g ← g + λ·θ; λ = {l}"),
            WeightDecay::Decoupled(l) => format!("decoupled (O2): θ ← θ·(1 − lr·λ); λ = {l}"),
        }
    }
}

impl Describe for OptimizerConfig {
    /// `Adam (lr 0.001, β 0.9/0.999, ε̂ 1e-7 Keras form)`, `AdamW (…, weight decay 0.01
    /// (decoupled))`, `SGD (lr 0.01, Nesterov 0.9)`, `RMSprop (lr 0.001, ρ 0.9, ε 1e-7 Keras
    /// form)`: name, parameters, then any momentum and weight decay.
    fn describe(&self) -> String {
        let extra = |words: String, none: bool| {
            if none {
                String::new()
            } else {
                format!(", {words}")
            }
        };
        let wd = |w: &WeightDecay| extra(w.describe(), *w == WeightDecay::None);
        match self {
            OptimizerConfig::Adam {
                lr,
                beta1,
                beta2,
                eps,
                weight_decay,
            } => {
                let name = if matches!(weight_decay, WeightDecay::Decoupled(_)) {
                    "AdamW"
                } else {
                    "Adam"
                };
                let eps = eps.describe();
                format!(
                    "{name} (lr {lr}, β {beta1}/{beta2}, {eps}{})",
                    wd(weight_decay)
                )
            }
            OptimizerConfig::Sgd {
                lr,
                momentum,
                weight_decay,
            } => {
                let m = extra(momentum.describe(), *momentum == Momentum::None);
                format!("SGD (lr {lr}{m}{})", wd(weight_decay))
            }
            OptimizerConfig::RmsProp {
                lr,
                rho,
                eps,
                weight_decay,
            } => {
                let eps = eps.describe();
                format!("RMSprop (lr {lr}, ρ {rho}, {eps}{})", wd(weight_decay))
            }
        }
    }

    /// The update rule with its parameters except lr (weight decay is recorded apart:
    /// [`WeightDecay::rule`]).
    fn rule(&self) -> String {
        match *self {
            OptimizerConfig::Sgd { momentum, .. } => momentum.rule(),
            OptimizerConfig::RmsProp { rho, eps, .. } => {
                format!("{}; ρ = {rho}, ε = {}", eps.rule(), eps.value())
            }
            OptimizerConfig::Adam {
                beta1, beta2, eps, ..
            } => format!(
                "{}; β₁ = {beta1}, β₂ = {beta2}, {} = {}",
                eps.rule(),
                eps.symbol(),
                eps.value()
            ),
        }
    }
}

impl OptimizerConfig {
    /// The trace's heading: the form first, then every parameter but weight decay, each
    /// number written by `number` — `Adam, Keras form (lr 0.001, β₁ 0.9, β₂ 0.999, ε̂ 1e-7)`,
    /// `RMSprop, PyTorch form (lr …, ρ …, ε …)`, `SGD (lr 0.1, Nesterov momentum 0.9)`.
    pub fn heading(&self, number: impl Fn(f64) -> String) -> String {
        let v = number;
        match *self {
            OptimizerConfig::Sgd { lr, momentum, .. } => match momentum {
                Momentum::None => format!("SGD (lr {})", v(lr)),
                Momentum::Classic(mu) => format!("SGD (lr {}, momentum {})", v(lr), v(mu)),
                Momentum::Nesterov(mu) => {
                    format!("SGD (lr {}, Nesterov momentum {})", v(lr), v(mu))
                }
            },
            OptimizerConfig::RmsProp { lr, rho, eps, .. } => format!(
                "RMSprop, {} (lr {}, ρ {}, ε {})",
                eps.form(),
                v(lr),
                v(rho),
                v(eps.value())
            ),
            OptimizerConfig::Adam {
                lr,
                beta1,
                beta2,
                eps,
                ..
            } => format!(
                "Adam, {} (lr {}, β₁ {}, β₂ {}, {} {})",
                eps.form(),
                v(lr),
                v(beta1),
                v(beta2),
                eps.symbol(),
                v(eps.value())
            ),
        }
    }
}

impl Describe for LossKind {
    /// What the loss computes, in the bundle's words: the two binary cross-entropies spelled
    /// out (the recipes use them), the others by name.
    fn describe(&self) -> String {
        match self {
            LossKind::BceWithLogits => "binary cross-entropy from the logit, max(z,0) − z·y + ln(1 + e^{−|z|}) (L5), mean over the batch — what Keras's fit computes on the TensorFlow backend".into(),
            LossKind::BceKeras => "Keras binary cross-entropy on p clipped to [1e-7, 1 − 1e-7] (L9)–(L11), mean over the batch".into(),
            other => other.to_string(),
        }
    }

    /// The formula with its equation tags.
    fn rule(&self) -> String {
        match self {
            LossKind::Mse => "mse (L1, L2)",
            LossKind::BceWithLogits => "binary cross-entropy from logits, stable form (L5–L8)",
            LossKind::BceKeras => {
                "Keras binary cross-entropy on probabilities clipped to [1e-7, 1 − 1e-7] (L9–L11)"
            }
            LossKind::SoftmaxCrossEntropy => "softmax cross-entropy from logits (L12–L14)",
            LossKind::MseLog1p => "squared error on ln(1 + y) (C1)",
            LossKind::HuberLog1p => "Huber loss, delta 1, on ln(1 + y) (C3)",
            LossKind::Ziln => {
                "zero-inflated lognormal: BCE on y > 0 plus the lognormal NLL (C4–C6)"
            }
            LossKind::Focal => "focal loss from logits, α_t·(1 − p_t)^γ·BCE (L15–L17)",
        }
        .to_string()
    }
}

impl Describe for Init {
    /// `glorot_uniform (B21)–(B23)`: the name and the equations of the initialisers.
    fn describe(&self) -> String {
        format!("{} (B21)–(B23)", self.name())
    }

    /// The name alone (`glorot_uniform`, `he_uniform`, `torch_default`), as manifests record
    /// it.
    fn rule(&self) -> String {
        self.name().to_string()
    }
}

impl Conventions {
    /// The conventions of `trainer`'s run, for its manifest.
    pub(crate) fn of<T: Float>(trainer: &Trainer<T>) -> Self {
        let config = &trainer.config;
        let spec = trainer.mlp.spec();
        let last = spec.layers[spec.layers.len() - 1].activation;
        let reads = match loss_reads(config.loss.kind, last, spec.outputs()) {
            Ok(LossReads::Logits) => "the last layer's pre-activation Z (logits)",
            _ => "the last layer's output Y",
        };
        Conventions {
            dtype: T::NAME.into(),
            init: trainer.init.clone(),
            weight_layout: "layers.{l}.weight is (H_l, H_{l-1}) row-major and layers.{l}.bias is (H_l): z = a·Wᵀ + b, as torch.nn.Linear; in nn.Sequential(Linear_0, act_0, Linear_1, act_1, …) layers.{l}.* is {2l}.*".into(),
            relu_derivative_at_zero: 0.0,
            dropout: "inverted (B14–B16): a kept unit is scaled by 1/(1 − p) in training; identity at inference".into(),
            loss: format!(
                "{} on {reads}; per batch the weighted sum divided by N·O (N for softmax) (L3); class weights {:?}, pos_weight {:?}",
                config.loss.kind.rule(), config.loss.class_weights, config.loss.pos_weight
            ),
            optimizer: config.optimizer.rule(),
            weight_decay: config.optimizer.weight_decay().rule(),
            clipping: match config.clip_norm {
                None => "none".into(),
                Some(c) => format!("global L2 norm (O14): g ← g·min(1, {c}/(‖g‖ + 1e-6)), ‖g‖ summed in f64"),
            },
            batching: format!(
                "{}; batches of {} rows, the last one partial and kept (T3); epoch loss = Σ L_b·n_b / Σ n_b (T7)",
                if config.shuffle {
                    "rows shuffled every epoch by Fisher–Yates from the identity (T1, T2)"
                } else {
                    "rows in the data's order"
                },
                config.batch_size
            ),
            rng: "ChaCha8 (rand_chacha 0.9); initial weights from seeded_rng(seed) stream 0, row shuffles then dropout masks from stream 1; uniform01 = top 53 bits of next_u64 / 2^53".into(),
            flush_to_zero: "FTZ and DAZ on every training thread (subnormal results and inputs are 0)".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The literal words every bundle and manifest written so far holds: a change here changes
    // stored bytes.
    #[test]
    fn optimizer_words_are_the_stored_ones() {
        let keras = OptimizerConfig::adam_keras(1e-3);
        assert_eq!(
            keras.describe(),
            "Adam (lr 0.001, β 0.9/0.999, ε̂ 1e-7 Keras form)"
        );
        assert_eq!(
            keras.rule(),
            "Adam, Keras form (O10, O11′, O13): θ ← θ − α_t·m/(√v + ε̂), α_t = lr·√(1 − β₂ᵗ)/(1 − β₁ᵗ); β₁ = 0.9, β₂ = 0.999, ε̂ = 0.0000001"
        );
        assert_eq!(
            keras.heading(|x| format!("{x}")),
            "Adam, Keras form (lr 0.001, β₁ 0.9, β₂ 0.999, ε̂ 0.0000001)"
        );
        let adamw = OptimizerConfig::adamw(1e-3, 0.01);
        assert_eq!(
            adamw.describe(),
            "AdamW (lr 0.001, β 0.9/0.999, ε 1e-8 PyTorch form, weight decay 0.01 (decoupled))"
        );
        assert_eq!(
            adamw.weight_decay().rule(),
            "decoupled (O2): θ ← θ·(1 − lr·λ); λ = 0.01"
        );
        let nesterov =
            OptimizerConfig::sgd_nesterov(1e-2, 0.9).with_weight_decay(WeightDecay::L2(1e-4));
        assert_eq!(
            nesterov.describe(),
            "SGD (lr 0.01, Nesterov 0.9, L2 0.0001 (coupled))"
        );
        assert_eq!(
            nesterov.rule(),
            "SGD, PyTorch Nesterov (O4, O6): b ← μ·b + g; θ ← θ − lr·(g + μ·b); μ = 0.9"
        );
        assert_eq!(
            nesterov.heading(|x| format!("{x}")),
            "SGD (lr 0.01, Nesterov momentum 0.9)"
        );
        assert_eq!(OptimizerConfig::sgd(0.1).rule(), "SGD (O3): θ ← θ − lr·g");
        assert_eq!(WeightDecay::None.rule(), "none");
        let rms = OptimizerConfig::rmsprop_keras(1e-3);
        assert_eq!(
            rms.describe(),
            "RMSprop (lr 0.001, ρ 0.9, ε 1e-7 Keras form)"
        );
        assert_eq!(
            rms.rule(),
            "RMSProp, Keras form (O7, O9): v ← ρ·v + (1 − ρ)·g²; θ ← θ − lr·g/√(v + ε); ρ = 0.9, ε = 0.0000001"
        );
    }

    #[test]
    fn loss_and_init_words_are_the_stored_ones() {
        assert_eq!(
            LossKind::BceWithLogits.rule(),
            "binary cross-entropy from logits, stable form (L5–L8)"
        );
        assert_eq!(LossKind::Mse.describe(), "mse");
        assert!(
            LossKind::BceKeras
                .describe()
                .starts_with("Keras binary cross-entropy on p")
        );
        assert_eq!(Init::HeUniform.describe(), "he_uniform (B21)–(B23)");
        assert_eq!(Init::TorchDefault.rule(), "torch_default");
    }
}
