//! The PLD σ search's coarse pass (notes/privacy_pld.md P42–P43): the pessimistic PLD ε at a
//! mesh ten times coarser is never below the ε at the fine mesh (and the optimistic rounding,
//! the negative control, is); the two-pass search returns a σ that the fine mesh certifies
//! within the tolerance, the same σ as the search on the fine mesh alone.

use glassbox_train::privacy::calibration::{
    EPSILON_TOLERANCE, PLD_BRACKET_LOW, PLD_COARSE_FACTOR, Start, calibrate_noise_multiplier,
    calibrate_pld, calibrate_with, search_noise_multiplier,
};
use glassbox_train::privacy::pld::{
    DEFAULT_GRID_STEP, Direction, Rounding, direction_epsilon, pld_epsilon,
};
use glassbox_train::privacy::{Accountant, Certified};

const DELTA: f64 = 1e-5;

/// (P42) On a grid of (σ, q, T), each direction's pessimistic ε at the coarse mesh is ≥ the
/// one at the fine mesh; the optimistic rounding at the coarse mesh falls below the fine
/// pessimistic ε on every point (so the comparison can fail).
#[test]
fn coarse_pessimistic_epsilon_is_never_below_the_fine_one() {
    let fine_h = DEFAULT_GRID_STEP;
    let coarse_h = PLD_COARSE_FACTOR * fine_h;
    let mut checked = 0;
    for sigma in [0.9, 1.6, 4.0] {
        for q in [0.02, 0.1] {
            for steps in [10, 100] {
                for direction in [Direction::Remove, Direction::Add] {
                    let at = |h, rounding| {
                        direction_epsilon(sigma, q, steps, DELTA, h, direction, rounding)
                            .expect("valid")
                    };
                    let fine = at(fine_h, Rounding::Pessimistic);
                    let coarse = at(coarse_h, Rounding::Pessimistic);
                    let optimistic = at(coarse_h, Rounding::Optimistic);
                    let case = format!("σ {sigma} q {q} T {steps} {direction:?}");
                    assert!(fine.is_finite() && fine >= 0.0, "{case}: {fine}");
                    assert!(coarse >= fine, "{case}: coarse {coarse} < fine {fine}");
                    // The coarse mesh costs little accuracy: within 0.05 of the fine ε.
                    assert!(coarse - fine <= 0.05, "{case}: {coarse} vs {fine}");
                    if fine > 0.0 {
                        assert!(optimistic < fine, "{case}: {optimistic} vs {fine}");
                        checked += 1;
                    }
                }
            }
        }
    }
    assert!(checked >= 20, "{checked}");
}

/// (P43) The two-pass search: the σ it returns is certified at the fine mesh (its ε recorded
/// from a fine-mesh call, at most the target and within the tolerance), is the σ of the
/// search on the fine mesh alone, and needs fewer fine-mesh calls.
#[test]
fn the_fast_search_returns_a_fine_certified_sigma_within_the_tolerance() {
    for (target, q, steps) in [(0.5, 0.1, 50), (1.0, 0.125, 24)] {
        let fast = calibrate_with(Accountant::PLD, target, DELTA, q, steps).expect("valid");
        let sigma = fast.noise_multiplier;
        let fine = pld_epsilon(sigma, q, steps, DELTA).expect("valid");
        assert_eq!(fast.spent, Certified::Pld(fine), "ε {target}");
        assert!(
            fine.epsilon <= target && target - fine.epsilon <= EPSILON_TOLERANCE,
            "ε {target}: σ {sigma} spends {}",
            fine.epsilon
        );
        // The search on the fine mesh alone, from the same bracket (the search before P43).
        let rdp = calibrate_noise_multiplier(target, DELTA, q, steps).expect("valid");
        let bracket = Start::Bracket {
            low: PLD_BRACKET_LOW * rdp.noise_multiplier,
            high: rdp.noise_multiplier,
        };
        let spend = |s: f64| Accountant::PLD.spend(s, q, steps, DELTA);
        let slow = search_noise_multiplier(target, q, steps, bracket, spend, Certified::epsilon)
            .expect("valid");
        assert_eq!(slow.noise_multiplier, sigma, "ε {target}");
        assert_eq!(slow.spent, fast.spent, "ε {target}");
        // One fine call plus the coarse pass, which evaluates the same midpoints.
        assert!(fast.evaluations <= slow.evaluations + 1, "ε {target}");
        assert_eq!(
            calibrate_pld(DEFAULT_GRID_STEP, target, DELTA, q, steps).expect("valid"),
            fast
        );
    }
}

/// A mesh so coarse that the coarse pass misses the tolerance at the fine mesh: the search
/// falls back to the fine mesh alone and returns its σ, certified there.
#[test]
fn a_failing_coarse_pass_falls_back_to_the_fine_search() {
    let (target, q, steps) = (3.0, 0.05, 60);
    // Mesh 0.05: the coarse pass runs on 0.5, whose ε is far above the mesh-0.05 ε.
    let h = 0.05;
    let fine = Accountant::Pld { grid_step: h };
    let coarse = Accountant::Pld {
        grid_step: PLD_COARSE_FACTOR * h,
    };
    let rdp = calibrate_noise_multiplier(target, DELTA, q, steps).expect("valid");
    let bracket = Start::Bracket {
        low: PLD_BRACKET_LOW * rdp.noise_multiplier,
        high: rdp.noise_multiplier,
    };
    let search = |accountant: Accountant| {
        let spend = |s: f64| accountant.spend(s, q, steps, DELTA);
        search_noise_multiplier(target, q, steps, bracket, spend, Certified::epsilon)
            .expect("valid")
    };
    let (at_coarse, at_fine) = (search(coarse), search(fine));
    let e = fine
        .spend(at_coarse.noise_multiplier, q, steps, DELTA)
        .expect("valid")
        .epsilon();
    assert!(
        target - e > EPSILON_TOLERANCE,
        "the coarse σ is not enough: {e}"
    );
    let fast = calibrate_pld(h, target, DELTA, q, steps).expect("valid");
    assert_eq!(fast.noise_multiplier, at_fine.noise_multiplier);
    assert_eq!(fast.spent, at_fine.spent);
    assert_eq!(
        fast.evaluations,
        at_coarse.evaluations + 1 + at_fine.evaluations
    );
    let e = fast.spent.epsilon();
    assert!(e <= target && target - e <= EPSILON_TOLERANCE, "{e}");
}
