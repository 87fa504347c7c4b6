//! A recipe and its run in words: the recipe's fields as rows (reports, `inspect`), the
//! optimizer in one line, and the numerical conventions of a run — the `name → choice` map
//! stored in every model bundle and listed in the case-study report. Text that describes,
//! not a renderer: the reports lay these strings out.

use std::collections::BTreeMap;

use crate::recipe::{Recipe, ScheduleRule, ThresholdRule};

/// A recipe's fields as `(name, value)` rows, for side-by-side tables.
pub fn recipe_rows(r: &Recipe) -> Vec<(&'static str, String)> {
    let schedule = match r.schedule {
        ScheduleRule::Constant => "constant".to_string(),
        ScheduleRule::Cosine { min_fraction } => format!("cosine to {min_fraction} × lr"),
    };
    let threshold = match r.threshold {
        ThresholdRule::Fixed(t) => format!("fixed {t}"),
        ThresholdRule::MaxF1 => "max F1 on validation".into(),
        ThresholdRule::YoudenJ => "max Youden's J on validation".into(),
    };
    let layers = r
        .hidden
        .iter()
        .map(|h| h.to_string())
        .chain(["1".to_string()])
        .collect::<Vec<_>>()
        .join("-");
    vec![
        (
            "log1p on skewed columns",
            if r.log1p {
                "as the schema declares".to_string()
            } else {
                "no (raw values standardised)".to_string()
            },
        ),
        ("layers (hidden-…-output)", layers),
        (
            "activations",
            format!(
                "{} hidden, sigmoid output (its logit z feeds the loss)",
                r.activation
            ),
        ),
        ("dropout", r.dropout.to_string()),
        ("initialiser", format!("{}, zero bias", r.init)),
        ("loss", r.loss.to_string()),
        (
            "class weights",
            format!("{:?}", r.class_weight).to_lowercase(),
        ),
        ("optimizer", optimizer_text(&r.optimizer)),
        ("learning-rate schedule", schedule),
        ("epochs (max)", r.epochs.to_string()),
        ("batch size", r.batch_size.to_string()),
        (
            "early stopping",
            r.early_stopping
                .map_or_else(|| "none".into(), |p| format!("patience {p}, restore best")),
        ),
        (
            "ensemble",
            format!("{} seed(s), mean probability", r.ensemble),
        ),
        (
            "validation part",
            format!("{} of the training file", r.val_fraction),
        ),
        ("threshold", threshold),
        ("seed", r.seed.to_string()),
    ]
}

/// `Adam (lr 0.001, β 0.9/0.999, ε̂ 1e-7 Keras form)` and the like.
pub fn optimizer_text(o: &glassbox_train::OptimizerConfig) -> String {
    use glassbox_train::{AdamEpsilon, Momentum, OptimizerConfig, RmsPropEpsilon, WeightDecay};
    let wd = |w: &WeightDecay| match w {
        WeightDecay::None => String::new(),
        WeightDecay::L2(l) => format!(", L2 {l} (coupled)"),
        WeightDecay::Decoupled(l) => format!(", weight decay {l} (decoupled)"),
    };
    match o {
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
            let eps = match eps {
                AdamEpsilon::Torch(e) => format!("ε {e:e} PyTorch form"),
                AdamEpsilon::Keras(e) => format!("ε̂ {e:e} Keras form"),
            };
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
            let m = match momentum {
                Momentum::None => String::new(),
                Momentum::Classic(m) => format!(", momentum {m}"),
                Momentum::Nesterov(m) => format!(", Nesterov {m}"),
            };
            format!("SGD (lr {lr}{m}{})", wd(weight_decay))
        }
        OptimizerConfig::RmsProp {
            lr,
            rho,
            eps,
            weight_decay,
        } => {
            let eps = match eps {
                RmsPropEpsilon::Torch(e) => format!("ε {e:e} PyTorch form"),
                RmsPropEpsilon::Keras(e) => format!("ε {e:e} Keras form"),
            };
            format!("RMSprop (lr {lr}, ρ {rho}, {eps}{})", wd(weight_decay))
        }
    }
}

/// The numerical conventions of a run, `name → choice`, for the bundle and the report.
pub fn conventions(r: &Recipe) -> BTreeMap<String, String> {
    let mut c = BTreeMap::new();
    let mut put = |k: &str, v: String| {
        c.insert(k.to_string(), v);
    };
    put(
        "features",
        "numeric: training median imputation (D2), optional u = ln(1 + x) (D3), standardised with the training mean and population σ (D4)–(D7); boolean 1/0 with mode imputation (D8); categorical one-hot over the training levels plus an <unknown> bucket, mode imputation (D10) — notes/data.md".into(),
    );
    put(
        "output",
        "Dense(1, sigmoid) as in Keras: its pre-activation z is the logit the loss reads; probability p = σ(z) computed in f64; ensemble p = mean of the members' p (R1)".into(),
    );
    put("decision", "positive when p ≥ threshold (M1)".into());
    put("loss", match r.loss {
        glassbox_train::LossKind::BceWithLogits => "binary cross-entropy from the logit, max(z,0) − z·y + ln(1 + e^{−|z|}) (L5), mean over the batch — what Keras's fit computes on the TensorFlow backend".into(),
        glassbox_train::LossKind::BceKeras => "Keras binary cross-entropy on p clipped to [1e-7, 1 − 1e-7] (L9)–(L11), mean over the batch".into(),
        other => other.to_string(),
    });
    put("optimizer", optimizer_text(&r.optimizer));
    put("relu_derivative_at_0", "0 (as PyTorch) (B8)".into());
    put(
        "initialiser",
        format!(
            "{} (B21)–(B23), drawn layer by layer from the member's seed",
            r.init
        ),
    );
    put(
        "precision",
        "parameters, activations and gradients in f32; losses summed and metrics computed in f64"
            .into(),
    );
    put(
        "batching",
        "rows reshuffled every epoch (Fisher–Yates from the member's seed), the last short batch kept".into(),
    );
    put(
        "validation_split",
        "stratified per class (T4), drawn from the recipe seed on RNG stream 1; the preprocessor is fitted on the training part only".into(),
    );
    put(
        "threads",
        "results are bit-identical whatever --threads: threads own disjoint outputs, reductions run in a fixed order".into(),
    );
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipe_rows_name_every_choice() {
        let rows = recipe_rows(&Recipe::paper());
        let get = |k: &str| rows.iter().find(|r| r.0 == k).map(|r| r.1.clone()).unwrap();
        assert_eq!(get("layers (hidden-…-output)"), "64-64-1");
        assert_eq!(
            get("optimizer"),
            "Adam (lr 0.001, β 0.9/0.999, ε̂ 1e-7 Keras form)"
        );
        assert_eq!(get("threshold"), "fixed 0.5");
        assert_eq!(get("early stopping"), "none");
    }
}
