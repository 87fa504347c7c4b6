//! The binary focal loss (notes/losses.md §7, L15–L17): PyTorch's values and gradients, an
//! f64 finite-difference gradient check with a negative control, and determinism.

use glassbox_train::loss::Weighting;
use glassbox_train::loss::focal::{Focal, focal_with_logits};
use ndarray::Array2;
use serde_json::Value;

fn num(v: &Value) -> f64 {
    v.as_str().unwrap().parse().unwrap()
}

fn loss_and_grad(z: &Array2<f64>, y: &Array2<f64>, focal: Focal) -> (f64, Array2<f64>) {
    let mut d = Array2::zeros(z.dim());
    let l = focal_with_logits(
        z.view(),
        y.view(),
        focal,
        &Weighting::NONE,
        Some(d.view_mut()),
    );
    (l, d)
}

#[test]
fn focal_loss_matches_pytorch_float64() {
    let v: Value = serde_json::from_str(include_str!("reference/focal_fixtures.json")).unwrap();
    for c in v["cases"].as_array().unwrap() {
        let name = c["name"].as_str().unwrap();
        let shape: Vec<usize> = c["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_u64().unwrap() as usize)
            .collect();
        let vals = |k: &str| c[k].as_array().unwrap().iter().map(num).collect::<Vec<_>>();
        let z = Array2::from_shape_vec((shape[0], shape[1]), vals("z")).unwrap();
        let y = Array2::from_shape_vec((shape[0], shape[1]), vals("y")).unwrap();
        let focal = Focal {
            gamma: num(&c["gamma"]),
            alpha: c["alpha"].as_str().map(|a| a.parse().unwrap()),
        };
        let (l, d) = loss_and_grad(&z, &y, focal);
        let expected = num(&c["loss"]);
        assert!(
            (l - expected).abs() <= 1e-12 * expected.abs().max(1e-300),
            "{name}: loss {l} vs {expected}"
        );
        for (got, want) in d.iter().zip(vals("grad")) {
            // Beyond |z| ≈ 12 PyTorch's 1 − p_t cancels; glassbox's is exact: an absolute floor.
            assert!(
                (got - want).abs() <= 1e-12 * want.abs() + 1e-15,
                "{name}: grad {got} vs {want}"
            );
        }
    }
}

/// Central differences with h = 1e-6 on random logits and soft targets agree with the
/// analytic gradient to 1e-7 (relative, or absolute below 0.01); a gradient missing the ∂(m^γ)/∂z term fails.
#[test]
fn focal_gradient_check_f64_with_a_negative_control() {
    let z = Array2::from_shape_vec((3, 2), vec![-2.1, -0.3, 0.0, 0.7, 1.9, 3.2]).unwrap();
    let y = Array2::from_shape_vec((3, 2), vec![0.0, 1.0, 1.0, 0.0, 0.25, 1.0]).unwrap();
    let focal = Focal {
        gamma: 2.0,
        alpha: Some(0.25),
    };
    let (_, analytic) = loss_and_grad(&z, &y, focal);
    let bce = Focal {
        gamma: 0.0,
        alpha: Some(0.25),
    };
    let (_, without_focusing) = loss_and_grad(&z, &y, bce);
    let h = 1e-6;
    let mut worst = 0.0f64;
    let mut worst_control = 0.0f64;
    for i in 0..z.len() {
        let (r, c) = (i / 2, i % 2);
        let mut plus = z.clone();
        plus[[r, c]] += h;
        let mut minus = z.clone();
        minus[[r, c]] -= h;
        let numeric =
            (loss_and_grad(&plus, &y, focal).0 - loss_and_grad(&minus, &y, focal).0) / (2.0 * h);
        let rel = |g: f64| (g - numeric).abs() / numeric.abs().max(1e-2);
        worst = worst.max(rel(analytic[[r, c]]));
        // Negative control: the α-weighted BCE gradient scaled by m^γ only (the chain-rule
        // term through p_t left out) is not the focal gradient.
        let m = {
            let p = 1.0 / (1.0 + (-z[[r, c]]).exp());
            y[[r, c]] * (1.0 - p) + (1.0 - y[[r, c]]) * p
        };
        worst_control = worst_control.max(rel(without_focusing[[r, c]] * m * m));
    }
    assert!(worst < 1e-7, "gradient check: worst relative error {worst}");
    assert!(
        worst_control > 1e-2,
        "the negative control passed: {worst_control}"
    );
}

#[test]
fn focal_loss_is_deterministic_and_f32_follows_f64() {
    let z = Array2::from_shape_fn((64, 1), |(i, _)| (i as f64 * 0.37).sin() * 4.0);
    let y = Array2::from_shape_fn((64, 1), |(i, _)| f64::from(u8::from(i % 3 == 0)));
    let focal = Focal {
        gamma: 2.0,
        alpha: Some(0.25),
    };
    let (a, da) = loss_and_grad(&z, &y, focal);
    let (b, db) = loss_and_grad(&z, &y, focal);
    assert_eq!(a.to_bits(), b.to_bits());
    assert!(da.iter().zip(&db).all(|(x, y)| x.to_bits() == y.to_bits()));
    let (z32, y32) = (z.mapv(|v| v as f32), y.mapv(|v| v as f32));
    let mut d32 = Array2::<f32>::zeros(z32.dim());
    let l32 = focal_with_logits(
        z32.view(),
        y32.view(),
        focal,
        &Weighting::NONE,
        Some(d32.view_mut()),
    );
    assert!(
        (l32 - a).abs() < 1e-5 * a.abs().max(1.0),
        "f32 {l32} vs f64 {a}"
    );
}

#[test]
fn focal_is_a_loss_kind_of_the_trainer_with_checked_settings() {
    use glassbox_train::{LossConfig, LossKind};
    let z = Array2::from_shape_vec((4, 1), vec![2.0, -1.0, 0.3, -3.0]).unwrap();
    let y = Array2::from_shape_vec((4, 1), vec![1.0, 0.0, 0.0, 1.0]).unwrap();
    let focal = Focal {
        gamma: 1.5,
        alpha: Some(0.6),
    };
    let config = LossConfig {
        focal: Some(focal),
        ..LossConfig::new(LossKind::Focal)
    };
    config.validate().unwrap();
    let mut d = Array2::zeros(z.dim());
    let l = config.compute(z.view(), y.view(), None, Some(d.view_mut()));
    let (l_direct, d_direct) = loss_and_grad(&z, &y, focal);
    assert_eq!((l, &d), (l_direct, &d_direct));
    // Without settings the kind uses γ = 2, no α.
    let plain = LossConfig::new(LossKind::Focal).compute(z.view(), y.view(), None, None);
    assert_eq!(plain, loss_and_grad(&z, &y, Focal::DEFAULT).0);
    // The settings round-trip through the manifest's JSON; bad ones are refused.
    let json = serde_json::to_string(&config).unwrap();
    assert_eq!(serde_json::from_str::<LossConfig>(&json).unwrap(), config);
    for bad in [
        Focal {
            gamma: -1.0,
            alpha: None,
        },
        Focal {
            gamma: 2.0,
            alpha: Some(1.5),
        },
    ] {
        let c = LossConfig {
            focal: Some(bad),
            ..LossConfig::new(LossKind::Focal)
        };
        assert!(c.validate().is_err(), "{bad:?} accepted");
    }
    let not_focal = LossConfig {
        focal: Some(focal),
        ..LossConfig::new(LossKind::BceWithLogits)
    };
    assert!(not_focal.validate().is_err());
}
