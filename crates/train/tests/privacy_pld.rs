//! The PLD accountant (notes/privacy_pld.md, P34–P40) against Google `dp_accounting` 0.6.0's
//! pessimistic PLD (fixture: tests/reference/privacy/pld_fixtures.json, made by
//! make_pld_fixtures.py; the same 24 (σ, q, T) as accountant_fixtures.json, δ = 1e-5, mesh
//! 1e-4), the shared privacy README's PRV column, our RDP accountant, the exact one-step
//! hockey-stick divergence, and the naive convolution.
//!
//! Tolerance against dp_accounting: 1e-3 absolute in ε (the brief's; measured: at most
//! 4.6e-5, ours always the larger). `cargo test -p glassbox-train --test privacy_pld --
//! --nocapture` prints every row.

use glassbox_train::privacy::accountant::epsilon;
use glassbox_train::privacy::fft::{fft_convolution, fft_in_place, naive_convolution};
use glassbox_train::privacy::pld::{
    DEFAULT_GRID_STEP, Direction, Rounding, direction_epsilon, one_step_distribution, pld_epsilon,
    pld_epsilon_with_grid,
};
use glassbox_train::privacy::special::erfc;
use serde::Deserialize;

const TOLERANCE: f64 = 1e-3;

/// Opacus 1.6.0's PRV upper bound (eps_error 0.01) for the fixture rows, in their order
/// (the shared README's "Opacus PRV ε (upper)" column, then the "PRV" half of its last
/// column for the eight final runs).
const PRV_UPPER: [f64; 24] = [
    3.872976115,
    8.364421633,
    11.47919201,
    58.82674392,
    0.2243528425,
    0.9335156626,
    1.849290481,
    9.53864472,
    0.0945775239,
    0.4883608747,
    0.8337191533,
    4.829414354,
    0.0329250328,
    0.1542758245,
    0.2360651039,
    1.409863137,
    0.4548,
    0.9172,
    2.7524,
    7.2507,
    0.4624,
    0.9152,
    2.7569,
    6.9858,
];

/// PRV's eps_error: its estimate lies within 0.01 of the truth, so `PRV_UPPER − 2·0.01` is
/// below the true ε, hence below any valid upper bound.
const PRV_EPS_ERROR: f64 = 0.01;

#[derive(Deserialize)]
struct PldFixture {
    rows: Vec<PldRow>,
}

#[derive(Deserialize)]
struct PldRow {
    sigma: f64,
    q: f64,
    steps: u64,
    delta: f64,
    epsilon_pld: f64,
}

fn fixture() -> Vec<PldRow> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/reference/privacy/pld_fixtures.json"
    );
    let text = std::fs::read_to_string(path).expect("the PLD fixture is committed");
    let parsed: PldFixture = serde_json::from_str(&text).expect("the PLD fixture parses");
    assert_eq!(parsed.rows.len(), 24);
    parsed.rows
}

#[test]
fn pld_epsilon_matches_dp_accounting_and_lies_between_prv_and_rdp_on_every_row() {
    let mut worst: f64 = 0.0;
    for (row, prv) in fixture().iter().zip(PRV_UPPER) {
        let ours = pld_epsilon(row.sigma, row.q, row.steps, row.delta).unwrap();
        let rdp = epsilon(row.sigma, row.q, row.steps, row.delta)
            .unwrap()
            .epsilon;
        let gap = ours.epsilon - row.epsilon_pld;
        println!(
            "σ {} q {:.6} T {}: ours {:.10} (remove {:.10}, add {:.10}), dp_accounting {:.10} \
             ({gap:+.2e}), PRV {prv}, RDP {rdp:.6}",
            row.sigma, row.q, row.steps, ours.epsilon, ours.remove, ours.add, row.epsilon_pld
        );
        assert!(
            gap.abs() <= TOLERANCE,
            "row σ {} T {}: {gap}",
            row.sigma,
            row.steps
        );
        assert!(
            ours.epsilon >= prv - 2.0 * PRV_EPS_ERROR,
            "below PRV's lower end"
        );
        assert!(ours.epsilon <= rdp, "above RDP: {} > {rdp}", ours.epsilon);
        assert_eq!(ours.epsilon, ours.remove.max(ours.add));
        worst = worst.max(gap.abs());
    }
    println!("largest |ε − dp_accounting|: {worst:.2e}");
}

#[test]
fn negative_control_the_add_direction_alone_fails_every_row() {
    // The remove direction is the worse one on every row, so the add direction alone
    // certifies too small an ε: it must miss the fixture by more than the tolerance.
    for row in fixture() {
        let add = direction_epsilon(
            row.sigma,
            row.q,
            row.steps,
            row.delta,
            DEFAULT_GRID_STEP,
            Direction::Add,
            Rounding::Pessimistic,
        )
        .unwrap();
        assert!(
            add < row.epsilon_pld - TOLERANCE,
            "σ {} T {}: add {add} vs {}",
            row.sigma,
            row.steps,
            row.epsilon_pld
        );
    }
}

#[test]
fn negative_control_optimistic_rounding_falls_below_the_bound() {
    // Rounding every loss down under-estimates δ; at mesh 1e-3 the shift is visible.
    for row in fixture().iter().filter(|r| r.sigma >= 1.5) {
        let optimistic = direction_epsilon(
            row.sigma,
            row.q,
            row.steps,
            row.delta,
            1e-3,
            Direction::Remove,
            Rounding::Optimistic,
        )
        .unwrap();
        assert!(
            optimistic < row.epsilon_pld - TOLERANCE,
            "σ {} T {}: optimistic {optimistic} vs {}",
            row.sigma,
            row.steps,
            row.epsilon_pld
        );
    }
}

/// The exact hockey-stick divergence `δ(ε) = ∫ (p − e^ε·q)₊` of one step (notes/privacy_pld.md
/// P34), from the closed forms: Remove, with `x′ = (e^ε − 1 + q)/q` and `o* = σ² ln x′ + ½`:
/// `q·(Φ̄((o* − 1)/σ) − x′·Φ̄(o*/σ))`; Add, with `c = 1 − e^ε(1 − q)` and
/// `o* = σ² ln(c/(e^ε q)) + ½`: `c·Φ(o*/σ) − e^ε q·Φ((o* − 1)/σ)`.
fn exact_delta(direction: Direction, sigma: f64, q: f64, eps: f64) -> f64 {
    let upper = |z: f64| 0.5 * erfc(z / std::f64::consts::SQRT_2);
    let x = eps.exp();
    match direction {
        Direction::Remove => {
            let shifted = (x - 1.0 + q) / q;
            if shifted <= 0.0 {
                return 1.0 - x;
            }
            let o = sigma * sigma * shifted.ln() + 0.5;
            q * (upper((o - 1.0) / sigma) - shifted * upper(o / sigma))
        }
        Direction::Add => {
            let c = 1.0 - x * (1.0 - q);
            if c <= 0.0 {
                return 0.0;
            }
            let o = sigma * sigma * (c / (x * q)).ln() + 0.5;
            c * upper(-o / sigma) - x * q * upper(-(o - 1.0) / sigma)
        }
    }
}

#[test]
fn one_step_pessimistic_distribution_dominates_the_exact_divergence_and_optimistic_does_not() {
    let (sigma, q, h) = (0.8, 0.05, 0.01);
    for direction in [Direction::Remove, Direction::Add] {
        let pess = one_step_distribution(sigma, q, h, direction, Rounding::Pessimistic).unwrap();
        let opt = one_step_distribution(sigma, q, h, direction, Rounding::Optimistic).unwrap();
        let total: f64 = pess.masses.iter().sum::<f64>() + pess.infinite_mass;
        assert!((total - 1.0).abs() < 1e-12, "{direction:?}: mass {total}");
        let mut optimistic_below = 0;
        for i in 0..400 {
            // Off-grid ε values between −1 and 3 (the grid is exact at its own points).
            let eps = -1.0 + 0.010_37 * f64::from(i);
            let exact = exact_delta(direction, sigma, q, eps);
            let bound = pess.delta_for_epsilon(eps);
            assert!(
                bound >= exact - 1e-12,
                "{direction:?} ε {eps}: {bound} < {exact}"
            );
            // Connect-the-dots is tight at ε ≥ 0, within 5h² (a chord's gap is O(h²)·δ″;
            // below 0 the chord to δ(x = 0) = 1 is looser).
            if eps >= 0.0 {
                let gap = bound - exact;
                assert!(
                    gap <= 5.0 * h * h,
                    "{direction:?} ε {eps}: {bound} vs {exact}"
                );
            }
            if opt.delta_for_epsilon(eps) < exact - 1e-9 {
                optimistic_below += 1;
            }
        }
        assert!(optimistic_below > 100, "{direction:?}: {optimistic_below}");
    }
}

#[test]
fn composition_by_fft_equals_the_naive_convolution() {
    let one =
        one_step_distribution(1.0, 0.1, 0.05, Direction::Remove, Rounding::Pessimistic).unwrap();
    let mut naive = one.masses.clone();
    for _ in 1..3 {
        naive = naive_convolution(&naive, &one.masses);
    }
    let three = one.compose(3).unwrap();
    assert!(three.charged_delta < 1e-12, "{}", three.charged_delta);
    let (mut compared, mut above_window) = (0, 0.0);
    for (k, &m) in naive.iter().enumerate() {
        let slot = 3 * one.first_index + k as i64 - three.first_index;
        match usize::try_from(slot).ok().and_then(|s| three.masses.get(s)) {
            // Inside the window: equal up to rounding and the ≤ 1e-15 folded tails (P36).
            Some(&fast) => {
                assert!((fast - m).abs() < 1e-14, "k {k}: {fast} vs {m}");
                compared += 1;
            }
            None if slot > 0 => above_window += m,
            None => {}
        }
    }
    assert!(compared > naive.len() / 2, "{compared} of {}", naive.len());
    // What the window cut above is covered by the δ it charged.
    assert!(above_window <= three.charged_delta, "{above_window}");
    // And the plain FFT convolution on awkward lengths, with a wrong transform failing.
    let a: Vec<f64> = (0..37).map(|i| (f64::from(i) * 0.7).sin().abs()).collect();
    let b: Vec<f64> = (0..11).map(|i| 1.0 / (1.0 + f64::from(i))).collect();
    let exact = naive_convolution(&a, &b);
    let fast = fft_convolution(&a, &b);
    assert_eq!(exact.len(), fast.len());
    for (x, y) in exact.iter().zip(&fast) {
        assert!((x - y).abs() < 1e-13, "{x} vs {y}");
    }
    // Negative control: forward twice instead of forward then inverse is not a round trip.
    let mut data: Vec<(f64, f64)> = a.iter().take(32).map(|&x| (x, 0.0)).collect();
    fft_in_place(&mut data, false);
    fft_in_place(&mut data, false);
    let off = data
        .iter()
        .zip(&a)
        .map(|(z, x)| (z.0 / 32.0 - x).abs())
        .fold(0.0, f64::max);
    assert!(off > 1e-3, "{off}");
}

#[test]
fn epsilon_is_monotone_in_sigma_q_and_steps() {
    let (sigma, q, steps, delta, h) = (1.5, 0.02, 200, 1e-5, 1e-3);
    let base = pld_epsilon_with_grid(sigma, q, steps, delta, h)
        .unwrap()
        .epsilon;
    let more_noise = pld_epsilon_with_grid(sigma * 1.1, q, steps, delta, h)
        .unwrap()
        .epsilon;
    let more_sampling = pld_epsilon_with_grid(sigma, q * 1.1, steps, delta, h)
        .unwrap()
        .epsilon;
    let more_steps = pld_epsilon_with_grid(sigma, q, steps + 50, delta, h)
        .unwrap()
        .epsilon;
    let larger_delta = pld_epsilon_with_grid(sigma, q, steps, delta * 10.0, h)
        .unwrap()
        .epsilon;
    println!("{base} {more_noise} {more_sampling} {more_steps} {larger_delta}");
    assert!(more_noise < base);
    assert!(more_sampling > base);
    assert!(more_steps > base);
    assert!(larger_delta < base);
}

#[test]
fn bad_inputs_are_refused() {
    assert!(pld_epsilon(-1.0, 0.1, 10, 1e-5).is_err());
    assert!(pld_epsilon(0.0, 0.1, 10, 1e-5).is_err());
    assert!(pld_epsilon(1.0, 0.0, 10, 1e-5).is_err());
    assert!(pld_epsilon(1.0, 1.5, 10, 1e-5).is_err());
    assert!(pld_epsilon(1.0, 0.1, 0, 1e-5).is_err());
    assert!(pld_epsilon(1.0, 0.1, 10, 0.0).is_err());
    assert!(pld_epsilon_with_grid(1.0, 0.1, 10, 1e-5, 0.0).is_err());
    assert!(pld_epsilon_with_grid(1.0, 0.1, 10, 1e-5, f64::NAN).is_err());
    // A grid too fine for the loss range is an error, not an allocation of terabytes.
    assert!(pld_epsilon_with_grid(0.1, 0.5, 1_000_000, 1e-5, 1e-6).is_err());
}
