//! A recipe and its run in words: the recipe's fields as rows (reports, `inspect`), and the
//! numerical conventions of a run — the `name → choice` map stored in every model bundle and
//! listed in the case-study report. Each convention enum's words come from its one
//! `glassbox_train::Describe` impl. Text that describes, not a renderer: the reports lay
//! these strings out.

use std::collections::BTreeMap;

use glassbox_train::Describe;

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
        ThresholdRule::MinCost => "least expected cost on validation".into(),
    };
    let layers = r
        .hidden
        .iter()
        .map(|h| h.to_string())
        .chain(["1".to_string()])
        .collect::<Vec<_>>()
        .join("-");
    let mut rows = vec![
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
            match r.pos_weight {
                None => format!("{:?}", r.class_weight).to_lowercase(),
                Some(w) => format!("{:?}; positives × {w}", r.class_weight).to_lowercase(),
            },
        ),
        ("optimizer", r.optimizer.describe()),
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
    ];
    // Only when present, so the description of a plain recipe is unchanged.
    if !r.input_layers.is_empty() {
        rows.insert(
            1,
            (
                "input layers (tables)",
                format!("{} (notes/tabular.md)", r.input_layers.join(", then ")),
            ),
        );
    }
    if r.ensemble_k > 1 {
        rows.insert(
            1,
            (
                "batch ensemble",
                format!(
                    "k = {} members sharing each layer's weights (TabM; notes/tabular.md N19–N21)",
                    r.ensemble_k
                ),
            ),
        );
    }
    rows
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
    put("loss", r.loss.describe());
    put("optimizer", r.optimizer.describe());
    put("relu_derivative_at_0", "0 (as PyTorch) (B8)".into());
    if !r.input_layers.is_empty() {
        put(
            "input_layers",
            "scale s initialised to 1 (N11); PLR frequencies c ~ N(0, σ²) by Box–Muller, its weights and biases U(±1/√(2K)) as PyTorch's nn.Linear (N6), drawn from the member's seed before the Dense layers; both act on every column the preprocessor makes".into(),
        );
    }
    if r.ensemble_k > 1 {
        put(
            "batch_ensemble",
            format!(
                "k = {} members: every layer W shared, r_id = ±1, s = 1, b ~ U(±1/√D) per member, W ~ U(±1/√D) (N18) whatever the initialiser; loss = mean of the members' losses (N20); p = mean of the members' σ(z_i) (N21)",
                r.ensemble_k
            ),
        );
    }
    let init = r.init().map_or_else(|_| r.init.clone(), |i| i.describe());
    put(
        "initialiser",
        format!("{init}, drawn layer by layer from the member's seed"),
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
