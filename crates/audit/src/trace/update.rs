//! The update section of a trace: the optimizer's state and step, one column per quantity
//! and one row per parameter (O1–O13 of notes/optimizers.md).

use glassbox_train::{AdamEpsilon, Momentum, OptimizerConfig, RmsPropEpsilon, WeightDecay};

use super::{Origin, Quantity};
use crate::sig13;

/// The update section: step scalars, then the (P,) columns g, state, derived quantities,
/// Δθ and θ′. Returns it with notes on the conventions.
#[allow(clippy::too_many_arguments)]
pub(super) fn update_section(
    config: &OptimizerConfig,
    t: u64,
    t_before: u64,
    theta: &[f64],
    g: &[f64],
    before: &[(String, Vec<f64>)],
    after: &[(String, Vec<f64>)],
    theta_new: &[f64],
) -> (Vec<Quantity>, Vec<String>) {
    let p = theta.len();
    let col = |id: &str, sym: &str, formula: &str, eq: &str, origin, v: Vec<f64>| {
        Quantity::new(id, sym, formula, eq, origin, vec![p], v)
    };
    let buffer = |set: &[(String, Vec<f64>)], name: &str| {
        set.iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let mut notes = Vec::new();
    let mut q = vec![
        Quantity::scalar(
            "t",
            "t",
            "steps taken, after this one",
            "§0 of optimizers.md",
            Origin::Engine,
            t as f64,
        ),
        Quantity::scalar("lr", "lr", "learning rate", "—", Origin::Given, config.lr()),
    ];
    let wd = match *config {
        OptimizerConfig::Sgd { weight_decay, .. }
        | OptimizerConfig::RmsProp { weight_decay, .. }
        | OptimizerConfig::Adam { weight_decay, .. } => weight_decay,
    };
    q.push(col(
        "theta_before",
        "θ",
        "parameter before the step",
        "B20a",
        Origin::Given,
        theta.to_vec(),
    ));
    q.push(col(
        "g",
        "g",
        "∂L/∂θ from the backward pass",
        "B4, B5",
        Origin::Engine,
        g.to_vec(),
    ));
    // The gradient the algorithm sees after weight decay (O1, O2).
    match wd {
        WeightDecay::L2(lambda) => q.push(col(
            "g_decayed",
            "g + λθ",
            "gradient with coupled L2 decay",
            "O1",
            Origin::Derived,
            g.iter().zip(theta).map(|(g, t)| g + lambda * t).collect(),
        )),
        WeightDecay::Decoupled(lambda) => notes.push(format!(
            "decoupled weight decay (O2): θ is first multiplied by 1 − lr·λ = {}",
            sig13(1.0 - config.lr() * lambda)
        )),
        WeightDecay::None => {}
    }
    let theta_decayed: Vec<f64> = match wd {
        WeightDecay::Decoupled(lambda) => theta
            .iter()
            .map(|t| t * (1.0 - config.lr() * lambda))
            .collect(),
        _ => theta.to_vec(),
    };
    if t_before > 0 {
        notes.push(format!(
            "the optimizer had taken {t_before} step(s) before this one; its state before \
             the step is shown with a ₀ subscript"
        ));
        for (name, v) in before {
            q.push(col(
                &format!("{name}_before"),
                &format!("{}₀", state_symbol(name)),
                &format!("{name} before the step"),
                "—",
                Origin::Given,
                v.clone(),
            ));
        }
    }
    let lr = config.lr();
    match *config {
        OptimizerConfig::Sgd { momentum, .. } => {
            let new_eq = match momentum {
                Momentum::None => "O3",
                Momentum::Classic(_) => {
                    q.push(col(
                        "velocity",
                        "b",
                        "μ·b₀ + g",
                        "O4",
                        Origin::Engine,
                        buffer(after, "velocity"),
                    ));
                    "O5"
                }
                Momentum::Nesterov(_) => {
                    q.push(col(
                        "velocity",
                        "b",
                        "μ·b₀ + g",
                        "O4",
                        Origin::Engine,
                        buffer(after, "velocity"),
                    ));
                    "O6"
                }
            };
            push_step(&mut q, theta, theta_new, new_eq);
        }
        OptimizerConfig::RmsProp { rho: _, eps, .. } => {
            q.push(col(
                "rms_v",
                "v",
                "ρ·v₀ + (1 − ρ)·g²",
                "O7",
                Origin::Engine,
                buffer(after, "v"),
            ));
            let eq = match eps {
                RmsPropEpsilon::Torch(_) => "O8",
                RmsPropEpsilon::Keras(_) => "O9",
            };
            push_step(&mut q, theta, theta_new, eq);
        }
        OptimizerConfig::Adam {
            beta1, beta2, eps, ..
        } => {
            let tf = t as f64;
            let b1 = 1.0 - beta1.powf(tf);
            let b2 = 1.0 - beta2.powf(tf);
            q.push(Quantity::scalar(
                "adam_bc1",
                "1 − β₁ᵗ",
                "bias correction of m",
                "O12",
                Origin::Derived,
                b1,
            ));
            q.push(Quantity::scalar(
                "adam_bc2",
                "1 − β₂ᵗ",
                "bias correction of v",
                "O12",
                Origin::Derived,
                b2,
            ));
            let m = buffer(after, "m");
            let v = buffer(after, "v");
            let (v_formula, v_eq) = match eps {
                AdamEpsilon::Torch(_) => ("β₂·v₀ + (1 − β₂)·g²", "O11"),
                AdamEpsilon::Keras(_) => ("v₀ + (g² − v₀)·(1 − β₂)", "O11′"),
            };
            q.push(col(
                "adam_m",
                "m",
                "m₀ + (1 − β₁)·(g − m₀)",
                "O10",
                Origin::Engine,
                m.clone(),
            ));
            q.push(col(
                "adam_v",
                "v",
                v_formula,
                v_eq,
                Origin::Engine,
                v.clone(),
            ));
            let m_hat: Vec<f64> = m.iter().map(|m| m / b1).collect();
            let v_hat: Vec<f64> = v.iter().map(|v| v / b2).collect();
            q.push(col(
                "adam_m_hat",
                "m̂",
                "m/(1 − β₁ᵗ)",
                "O12",
                Origin::Derived,
                m_hat.clone(),
            ));
            q.push(col(
                "adam_v_hat",
                "v̂",
                "v/(1 − β₂ᵗ)",
                "O12",
                Origin::Derived,
                v_hat.clone(),
            ));
            let (textbook, eq): (Vec<f64>, &str) = match eps {
                AdamEpsilon::Torch(e) => (
                    m_hat
                        .iter()
                        .zip(&v_hat)
                        .map(|(m, v)| lr * m / (v.sqrt() + e))
                        .collect(),
                    "O12",
                ),
                AdamEpsilon::Keras(e) => {
                    let alpha = lr * b2.sqrt() / b1;
                    (
                        m.iter()
                            .zip(&v)
                            .map(|(m, v)| m * alpha / (v.sqrt() + e))
                            .collect(),
                        "O13",
                    )
                }
            };
            let formula = match eps {
                AdamEpsilon::Torch(_) => "lr·m̂/(√v̂ + ε)",
                AdamEpsilon::Keras(_) => "α_t·m/(√v + ε̂), α_t = lr·√(1 − β₂ᵗ)/(1 − β₁ᵗ)",
            };
            // The engine computes the same step as (lr/b₁)·(m/(√v/√b₂ + ε)); the two
            // orders of operations may differ in the last bits.
            let measured: Vec<f64> = theta_decayed
                .iter()
                .zip(theta_new)
                .map(|(a, b)| a - b)
                .collect();
            let gap = textbook
                .iter()
                .zip(&measured)
                .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
            notes.push(format!(
                "Adam's step: the textbook form {formula} and the engine's θ − θ′ differ by at \
                 most {} (order of rounding)",
                sig(gap)
            ));
            q.push(col(
                "adam_step",
                "step",
                formula,
                eq,
                Origin::Derived,
                textbook,
            ));
            q.push(col(
                "theta_new",
                "θ′",
                "θ − step",
                eq,
                Origin::Engine,
                theta_new.to_vec(),
            ));
            q.push(col(
                "delta_theta",
                "θ′ − θ",
                "the change made by the engine",
                eq,
                Origin::Derived,
                theta_new.iter().zip(theta).map(|(a, b)| a - b).collect(),
            ));
        }
    }
    (q, notes)
}

fn sig(x: f64) -> String {
    crate::sig(x, 3)
}

/// θ′ (engine) and θ′ − θ (derived) for SGD and RMSprop.
fn push_step(q: &mut Vec<Quantity>, theta: &[f64], theta_new: &[f64], eq: &str) {
    let p = theta.len();
    q.push(Quantity::new(
        "theta_new",
        "θ′",
        "parameter after the step",
        eq,
        Origin::Engine,
        vec![p],
        theta_new.to_vec(),
    ));
    q.push(Quantity::new(
        "delta_theta",
        "θ′ − θ",
        "the change made by the engine",
        eq,
        Origin::Derived,
        vec![p],
        theta_new.iter().zip(theta).map(|(a, b)| a - b).collect(),
    ));
}

fn state_symbol(name: &str) -> &str {
    match name {
        "velocity" => "b",
        other => other,
    }
}
