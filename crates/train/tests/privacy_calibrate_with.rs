//! The one σ search of both accountants (notes/privacy_pld.md P41): for RDP it is Opacus's
//! search bit for bit; for PLD it finds a σ below the RDP one that spends at most the target
//! (within the tolerance) under PLD; a bracket that misses the answer on either side still
//! ends with the same guarantee; records of both accountants read back.

use glassbox_train::privacy::calibration::{
    EPSILON_TOLERANCE, Start, calibrate_noise_multiplier, calibrate_with, search_noise_multiplier,
};
use glassbox_train::privacy::pld::pld_epsilon;
use glassbox_train::privacy::{
    Accountant, Certified, DpMethod, DpRequest, NoiseChoice, PrivacyError, PrivacyRecord, epsilon,
    plan_dp_sgd, plan_dp_sgd_with,
};

const DELTA: f64 = 1e-5;

#[test]
fn rdp_through_the_shared_search_is_opacus_search() {
    for (target, q, steps) in [
        (3.0, 256.0 / 9864.0, 385),
        (1.0, 0.05, 600),
        (8.0, 0.05, 60),
    ] {
        let opacus = calibrate_noise_multiplier(target, DELTA, q, steps).expect("valid");
        let shared = calibrate_with(Accountant::Rdp, target, DELTA, q, steps).expect("valid");
        assert_eq!(shared.noise_multiplier, opacus.noise_multiplier);
        assert_eq!(shared.spent, Certified::Rdp(opacus.spent));
    }
}

#[test]
fn pld_sigma_is_below_rdp_and_spends_at_most_the_target() {
    for (target, q, steps) in [(3.0, 0.05, 60), (1.0, 0.125, 24)] {
        let rdp = calibrate_noise_multiplier(target, DELTA, q, steps).expect("valid");
        let pld = calibrate_with(Accountant::PLD, target, DELTA, q, steps).expect("valid");
        let sigma = pld.noise_multiplier;
        assert!(
            sigma < rdp.noise_multiplier,
            "{sigma} vs {}",
            rdp.noise_multiplier
        );
        let spent = pld_epsilon(sigma, q, steps, DELTA).expect("valid").epsilon;
        assert_eq!(pld.spent.epsilon(), spent);
        assert!(
            spent <= target && target - spent <= EPSILON_TOLERANCE,
            "{spent}"
        );
        // The same σ is not enough for RDP: PLD certifies what RDP cannot.
        assert!(epsilon(sigma, q, steps, DELTA).expect("valid").epsilon > target);
        assert!(pld.spent.optimal_order().is_none());
    }
}

/// A stand-in accountant with a known answer: ε(σ) = 1/σ, target 1 → σ ∈ [1, 1/0.99].
fn toy(sigma: f64) -> Result<f64, PrivacyError> {
    Ok(1.0 / sigma)
}

#[test]
fn a_bracket_that_misses_the_answer_still_meets_the_target() {
    for start in [
        Start::Opacus,
        Start::Bracket {
            low: 0.9,
            high: 1.2,
        }, // holds it
        Start::Bracket {
            low: 0.2,
            high: 0.5,
        }, // both ends below: doubling from 0.5
        Start::Bracket {
            low: 3.0,
            high: 50.0,
        }, // both ends above: bisection from [0, 3]
    ] {
        let found = search_noise_multiplier(1.0, 0.1, 10, start, toy, |e| *e).expect("converges");
        let sigma = found.noise_multiplier;
        assert!(
            (1.0..=1.0 / 0.99).contains(&sigma),
            "{start:?}: σ = {sigma}"
        );
        assert_eq!(found.spent, 1.0 / sigma);
        assert!(found.evaluations >= 2, "{start:?}");
    }
    // A good bracket needs fewer evaluations than Opacus's start.
    let count = |start| {
        search_noise_multiplier(1.0, 0.1, 10, start, toy, |e| *e)
            .expect("converges")
            .evaluations
    };
    assert!(
        count(Start::Bracket {
            low: 0.9,
            high: 1.2
        }) < count(Start::Opacus)
    );
}

#[test]
fn records_name_their_accountant_and_bad_meshes_are_refused() {
    let request = DpRequest {
        noise: NoiseChoice::NoiseMultiplier(1.0),
        delta: DELTA,
        clip_norm: 1.0,
        method: DpMethod::default(),
    };
    let (config_pld, pld) =
        plan_dp_sgd_with(Accountant::PLD, &request, 200, 16, 2, 1).expect("valid");
    let (config_rdp, rdp) = plan_dp_sgd(&request, 200, 16, 2, 1).expect("valid");
    assert_eq!(
        config_pld, config_rdp,
        "a given σ trains the same either way"
    );
    assert!(
        pld.epsilon < rdp.epsilon,
        "{} vs {}",
        pld.epsilon,
        rdp.epsilon
    );
    assert_eq!(
        (pld.accounting, rdp.accounting),
        (Accountant::PLD, Accountant::Rdp)
    );
    assert!(pld.optimal_order.is_none() && rdp.optimal_order.is_some());
    assert!(pld.accountant.contains("PLD") && pld.accountant.contains("0.0001"));
    for record in [pld, rdp] {
        let json = serde_json::to_value(&record).expect("serialises");
        let back: PrivacyRecord = serde_json::from_value(json).expect("reads back");
        assert_eq!(back, record);
    }
    for bad in [0.0, -1e-4, f64::NAN, f64::INFINITY] {
        let err = plan_dp_sgd_with(Accountant::Pld { grid_step: bad }, &request, 200, 16, 2, 1)
            .expect_err("refused");
        assert!(matches!(err, PrivacyError::InvalidGridStep(_)), "{err}");
    }
    // σ = 0 certifies nothing under either accountant.
    let none = DpRequest {
        noise: NoiseChoice::NoiseMultiplier(0.0),
        ..request
    };
    assert!(matches!(
        plan_dp_sgd_with(Accountant::PLD, &none, 200, 16, 2, 1),
        Err(PrivacyError::NoPrivacy(_))
    ));
}
