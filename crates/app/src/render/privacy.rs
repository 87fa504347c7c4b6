//! How a private run's guarantee reads: the lines `train`, `inspect` and the case study print
//! for a [`PrivacyRecord`] (notes/privacy.md §12).

use std::fmt::Write as _;

use glassbox_train::privacy::{ClipSplit, PrivacyRecord};

/// The guarantee and its parameters, one per line, indented by two spaces.
pub(crate) fn describe_privacy(r: &PrivacyRecord) -> String {
    let mut s = String::new();
    let target = r
        .target_epsilon
        .map_or(String::new(), |t| format!(" (target ε = {t})"));
    let _ = writeln!(
        s,
        "  (ε, δ) = ({:.4}, {:e}){target} with respect to adding or removing one of the {} training rows",
        r.epsilon, r.delta, r.rows
    );
    let _ = writeln!(s, "  noise multiplier σ      {}", r.noise_multiplier);
    let _ = writeln!(s, "  clipping norm C         {}", r.clip_norm);
    if let Some(gamma) = r.method.automatic_clip {
        let _ = writeln!(
            s,
            "  clipping rule           automatic, each example scaled by C/(‖g‖ + γ), γ = {gamma}"
        );
    }
    if let Some(split) = r.method.clip_per_layer {
        let how = match split {
            ClipSplit::Equal => "C_l = C/√L",
            ClipSplit::Params => "C_l = C·√(P_l/P), P_l the layer's parameters",
        };
        let _ = writeln!(
            s,
            "  clipping rule           per layer, each layer's part to C_l with Σ C_l² = C², {how}"
        );
    }
    let _ = writeln!(
        s,
        "  sampling rate q         {} (Poisson; nominal batch {}, expected batch ⌊N·q⌋ = {})",
        r.sample_rate, r.batch_size, r.expected_batch_size
    );
    let _ = writeln!(
        s,
        "  steps T                 {} ({} network(s) × {} steps)",
        r.steps, r.runs, r.steps_per_run
    );
    if let Some(gamma) = r.method.adam_bias_correction {
        let _ = writeln!(
            s,
            "  optimizer               DP-AdamBC, v̂ less the noise variance (σC/B)², floored at γ = {gamma} (post-processing)"
        );
    }
    if let Some(beta) = r.method.average_decay {
        let _ = writeln!(
            s,
            "  model                   the average of the iterates, decay β = {beta}{} (post-processing)",
            if r.method.average_warmup {
                " warmed up as min(β, (1 + t)/(10 + t))"
            } else {
                ""
            }
        );
    }
    if let Some(order) = r.optimal_order {
        let _ = writeln!(s, "  optimal Rényi order     {order}");
    }
    let _ = writeln!(s, "  accountant              {}", r.accountant);
    s
}
