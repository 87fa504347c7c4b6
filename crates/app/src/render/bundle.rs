//! `inspect`'s description of a model bundle: the network layer by layer, the recipe, the
//! members, the training data, the schema, the feature groups, the validation metrics and
//! the numerical conventions.

use glassbox_train::metrics::cost::MissCost;
use std::fmt::Write as _;

use crate::bundle::{Bundle, BundleInfo};
use crate::describe::recipe_rows;
use crate::recipe::ThresholdRule;

use super::metrics::f4;
use super::privacy::describe_privacy;

/// `inspect`'s human-readable description of a bundle.
pub fn describe_bundle(path: &str, b: &Bundle) -> String {
    let info: &BundleInfo = &b.info;
    let pre = &b.preprocessor;
    let mut s = String::new();
    let _ = writeln!(s, "model bundle {path}");
    let _ = writeln!(s, "  written by {}", info.created_by);
    let _ = writeln!(
        s,
        "  target \"{}\": positive = \"{}\", negative = \"{}\"",
        info.target.column,
        info.target.positive_written(),
        info.target.negative_written()
    );
    let t = &info.threshold;
    let how = match t.rule {
        ThresholdRule::Fixed(_) => "fixed".to_string(),
        ThresholdRule::MaxF1 => format!(
            "the best F1 on the validation rows: {}",
            f4(t.criterion_on_validation)
        ),
        ThresholdRule::YoudenJ => format!(
            "the best Youden's J on the validation rows: {}",
            f4(t.criterion_on_validation)
        ),
        ThresholdRule::MinCost => format!(
            "the least expected cost on the validation rows: {}",
            f4(t.criterion_on_validation)
        ),
    };
    match &t.cost {
        Some(d) => {
            let as_p = match d.costs.miss {
                MissCost::Constant(_) => "that is p ≥",
                MissCost::Column(_) => "for a row of median cost p ≥",
            };
            let _ = writeln!(
                s,
                "  decision: positive when p · m ≥ {:.6} ({how}; {}); {as_p} {:.6}",
                d.risk_threshold, d.costs, t.value
            );
        }
        None => {
            let _ = writeln!(s, "  decision: positive when p ≥ {:.6} ({how})", t.value);
        }
    }
    let _ = writeln!(
        s,
        "\nnetwork ({} member(s), probabilities averaged)",
        b.members.len()
    );
    if let Some(m) = b.members.first() {
        let spec = m.spec();
        let mut fan_in = spec.inputs;
        let _ = writeln!(s, "  input: {} features", spec.inputs);
        for (i, input_layer) in spec.input_layers.iter().enumerate() {
            let (params, width) = input_layer.shape(fan_in);
            let what = match input_layer.plr(fan_in) {
                None => {
                    format!("scale per feature, y = x ⊙ s  ({params} parameters: scale [{fan_in}])")
                }
                Some(p) => {
                    let d = p.features;
                    // N23: the columns outside S reach the Dense layers as they are.
                    let passed = match fan_in - d {
                        0 => String::new(),
                        m => format!(", {d} columns embedded, {m} passed through"),
                    };
                    format!(
                        "PLR embedding {fan_in} → {width} ({input_layer}{passed}), per feature sin/cos of {} frequencies → Dense {} → ReLU  ({params} parameters: frequencies [{d}, {}], weight [{d}, {}, {}], bias [{d}, {}])",
                        p.frequencies,
                        p.units,
                        p.frequencies,
                        p.units,
                        2 * p.frequencies,
                        p.units
                    )
                }
            };
            let _ = writeln!(s, "  input layer {i}: {what}");
            fan_in = width;
        }
        let k = spec.ensemble_k;
        for (l, layer) in spec.layers.iter().enumerate() {
            if let Some(be) = spec.ensemble_layer(l, fan_in, layer.units) {
                // N19: k members share the weight; r, s, b are each member's own.
                let h = layer.units;
                let _ = writeln!(
                    s,
                    "  layer {l}: BatchEnsemble {} → {k} × {h} ({}), {}  ({} parameters: weight [{h}, {fan_in}], r [{k}, {fan_in}], s [{k}, {h}], bias [{k}, {h}])",
                    be.input_width(),
                    if be.shared_input {
                        "input shared by the members"
                    } else {
                        "each member its own block"
                    },
                    layer.activation,
                    be.num_params()
                );
                fan_in = h;
                continue;
            }
            let params = layer.units * (fan_in + 1);
            let _ = writeln!(
                s,
                "  layer {l}: Dense {fan_in} → {}, {}{}  ({params} parameters: weight [{}, {fan_in}], bias [{}])",
                layer.units,
                layer.activation,
                if layer.dropout > 0.0 {
                    format!(", dropout {} in training", layer.dropout)
                } else {
                    String::new()
                },
                layer.units,
                layer.units
            );
            fan_in = layer.units;
        }
        if spec.wide {
            // B27: the output layer's pre-activation also gains X·Wᵀ.
            let _ = writeln!(
                s,
                "  wide term: {} → {} added to the last layer's pre-activation ({} parameters: weight [{}, {}])",
                spec.inputs,
                spec.outputs(),
                spec.wide_params(),
                spec.outputs(),
                spec.inputs
            );
        }
        let _ = writeln!(
            s,
            "  output: p = {}, z = the last layer's pre-activation (the logit)\n  parameters: {} per member, {} in all",
            if k > 1 {
                format!("mean of the {k} BatchEnsemble members' σ(z_i) (N21)")
            } else {
                "σ(z)".to_string()
            },
            spec.num_params(),
            spec.num_params() * b.members.len()
        );
    }
    let _ = writeln!(s, "\nrecipe: {}", info.recipe.label());
    for (k, v) in recipe_rows(&info.recipe) {
        let _ = writeln!(s, "  {k:26} {v}");
    }
    if let Some(p) = &info.privacy {
        let _ = writeln!(s, "\ndifferential privacy (DP-SGD)");
        s.push_str(&describe_privacy(p));
    }
    let _ = writeln!(s, "\nmembers");
    for (k, m) in info.members.iter().enumerate() {
        let _ = writeln!(
            s,
            "  {k}: seed {}, {} epoch(s) run, kept epoch {}, train loss {:.4}, validation loss {}",
            m.seed,
            m.epochs_run,
            m.best_epoch,
            m.train_loss,
            f4(m.val_loss)
        );
    }
    let d = &info.data;
    let cb = &d.class_balance;
    let _ = writeln!(
        s,
        "\ntraining data {}: {} rows ({} trained on, {} validation), {} features; {} positive ({:.2} %), {} negative; {} rows repeat an earlier row exactly",
        d.file,
        d.rows,
        d.train_rows,
        d.val_rows,
        d.features,
        cb.positive_count,
        100.0 * cb.positive_rate,
        cb.negative_count,
        d.duplicates.repeats
    );
    let _ = writeln!(s, "\nschema (columns in file order)");
    for c in &pre.schema().columns {
        let mut extra = Vec::new();
        if c.name == info.target.column {
            extra.push("target".to_string());
        }
        if c.drop {
            extra.push("dropped".into());
        }
        if c.log1p {
            extra.push("log1p".into());
        }
        if !c.missing.is_empty() {
            let m: Vec<String> = c.missing.iter().map(|m| m.to_string()).collect();
            extra.push(format!("missing = [{}]", m.join(", ")));
        }
        let _ = writeln!(
            s,
            "  {:28} {:11} {:9}{}",
            c.name,
            c.kind.to_string(),
            format!("{:?}", c.source).to_lowercase(),
            if extra.is_empty() {
                String::new()
            } else {
                format!(" {}", extra.join(", "))
            }
        );
    }
    let _ = writeln!(s, "\nfeatures: {} in all", pre.n_features());
    for g in pre.feature_groups() {
        let _ = writeln!(
            s,
            "  {:>3}..{:<3} {} ({}{})",
            g.start,
            g.end,
            g.column,
            g.kind,
            if g.end - g.start > 1 {
                format!(", {} one-hot columns incl. <unknown>", g.end - g.start)
            } else {
                String::new()
            }
        );
    }
    if let Some(v) = &info.validation {
        let _ = writeln!(
            s,
            "\nvalidation metrics ({} rows, threshold {:.4}): ROC-AUC {}, PR-AUC {}, F1 {:.4}, precision {:.4}, recall {:.4}, accuracy {:.4}, log-loss {:.4}",
            v.n,
            v.threshold,
            f4(v.roc_auc),
            f4(v.average_precision),
            v.f1,
            v.precision,
            v.recall,
            v.accuracy,
            v.log_loss
        );
    }
    let _ = writeln!(s, "\nconventions");
    for (k, v) in &info.conventions {
        let _ = writeln!(s, "  {k}: {v}");
    }
    s
}
