//! The listwise term (crates/train/src/loss/value_ranking.rs, notes/value.md V26, V27):
//! its value worked out by hand, an f64 gradient check with a negative control on both heads,
//! the all-zero batch, and its place in `LossConfig` (L = L_value + λ·Q).

mod support;

use glassbox_train::{LossConfig, LossKind, ValueHead, Weighting, listwise_ranking, ziln};
use ndarray::{Array2, array};
use support::check_output_gradient;

fn ours(head: ValueHead, lambda: f64, out: &Array2<f64>, y: &Array2<f64>) -> (f64, Array2<f64>) {
    let mut grad = Array2::zeros(out.dim());
    let value = listwise_ranking(head, lambda, out.view(), y.view(), Some(grad.view_mut()));
    (value, grad)
}

#[test]
fn the_listwise_term_is_the_kl_divergence_of_spend_shares() {
    // Log1p head: r = a. Scores ln 1, ln 2, ln 5 → predicted shares 1/8, 2/8, 5/8; actual
    // spend 0, 30, 10 → shares 0, 3/4, 1/4. Q = ¾·ln(¾ / ¼) + ¼·ln(¼ / ⅝).
    let out = array![[0.0], [2f64.ln()], [5f64.ln()]];
    let y = array![[0.0], [30.0], [10.0]];
    let (q, grad) = ours(ValueHead::Log1p, 2.0, &out, &y);
    let expected = 0.75 * 3f64.ln() + 0.25 * (0.25f64 / 0.625).ln();
    assert!(
        (q - 2.0 * expected).abs() < 1e-13,
        "{q} vs {}",
        2.0 * expected
    );
    // V27: λ·(q_i − P_i).
    let want = [2.0 * 0.125, 2.0 * (0.25 - 0.75), 2.0 * (0.625 - 0.25)];
    for (g, w) in grad.iter().zip(want) {
        assert!((g - w).abs() < 1e-13, "{g} vs {w}");
    }
    // Shares matched exactly: Q = 0, no gradient; a batch that spends nothing: likewise.
    let matched = array![[3f64.ln()], [0.0]];
    let (q, grad) = ours(ValueHead::Log1p, 1.0, &matched, &array![[3.0], [1.0]]);
    assert!(
        q.abs() < 1e-14 && grad.iter().all(|g| g.abs() < 1e-14),
        "{q}"
    );
    let (q, grad) = ours(
        ValueHead::Ziln,
        1.0,
        &array![[0.3, 1.0, 0.2]],
        &array![[0.0]],
    );
    assert_eq!(q, 0.0);
    assert!(grad.iter().all(|&g| g == 0.0));
    // Huge scores do not overflow (shifted log-sum-exp).
    let (q, grad) = ours(
        ValueHead::Log1p,
        1.0,
        &array![[800.0], [790.0]],
        &y.slice(ndarray::s![1.., ..]).to_owned(),
    );
    assert!(q.is_finite() && grad.iter().all(|g| g.is_finite()), "{q}");
}

/// Central differences of λ·Q against the analytic gradient; the negative control drops
/// C43's `∂r/∂z = 1 − σ(z)` of the ZILN score (uses 1), which must fail.
#[test]
fn f64_gradients_pass_the_gradient_check_and_a_wrong_one_fails() {
    let ziln_out = array![
        [0.3, 2.0, -0.5],
        [-1.0, 4.0, 0.2],
        [1.2, 1.0, 0.0],
        [2.5, 3.0, 1.5],
        [-0.4, 0.5, -2.0]
    ];
    let y = array![[5.0], [0.0], [40.0], [120.0], [0.0]];
    let (_, grad) = ours(ValueHead::Ziln, 0.7, &ziln_out, &y);
    let drop_sigma = |g: &mut [f64]| {
        for i in (0..g.len()).step_by(3) {
            g[i] = g[i + 1];
        }
    };
    check_output_gradient("ziln", &ziln_out, &grad, Some(&drop_sigma), |m| {
        ours(ValueHead::Ziln, 0.7, m, &y).0
    });
    let log_out = array![[1.0], [0.2], [3.0], [2.0], [-0.5]];
    let (_, grad) = ours(ValueHead::Log1p, 1.3, &log_out, &y);
    check_output_gradient("log1p", &log_out, &grad, None, |m| {
        ours(ValueHead::Log1p, 1.3, m, &y).0
    });
}

#[test]
fn the_loss_config_adds_lambda_q_to_the_value_loss_and_refuses_misuse() {
    let out = array![[0.3, 2.0, -0.5], [-1.0, 4.0, 0.2], [1.2, 1.0, 0.0]];
    let y = array![[5.0], [0.0], [40.0]];
    let config = LossConfig {
        listwise: Some(0.7),
        ..LossConfig::new(LossKind::Ziln)
    };
    config.validate().expect("a value loss with λ ≥ 0");
    let mut d = Array2::zeros(out.dim());
    let l = config.compute(out.view(), y.view(), None, Some(d.view_mut()));
    let mut d_parts = Array2::zeros(out.dim());
    let q = listwise_ranking(
        ValueHead::Ziln,
        0.7,
        out.view(),
        y.view(),
        Some(d_parts.view_mut()),
    );
    let v = ziln(
        out.view(),
        y.view(),
        &Weighting::NONE,
        Some(d_parts.view_mut()),
    );
    assert!(q > 0.0);
    assert_eq!(l, q + v);
    assert_eq!(d, d_parts);
    for bad in [-0.1, f64::NAN] {
        let c = LossConfig {
            listwise: Some(bad),
            ..LossConfig::new(LossKind::Ziln)
        };
        assert!(c.validate().is_err(), "λ = {bad} accepted");
    }
    let not_value = LossConfig {
        listwise: Some(1.0),
        ..LossConfig::new(LossKind::BceWithLogits)
    };
    assert!(not_value.validate().is_err());
    // Absent from the manifest's JSON when off; round-trips when on.
    let plain = serde_json::to_string(&LossConfig::new(LossKind::Ziln)).expect("json");
    assert!(!plain.contains("listwise"), "{plain}");
    let back: LossConfig =
        serde_json::from_str(&serde_json::to_string(&config).expect("json")).expect("reads");
    assert_eq!(back.listwise, Some(0.7));
}
