//! The YouTube-DNN-style model (K36–K37) and the default (K38): the examples of a log worked
//! by hand, a fit bit-identical at 1, 2 and 7 threads (full softmax with dense Adam, sampled
//! softmax with lazy Adam), and the default fitted on a small log.

use glassbox_core::{build_pool, seeded_rng};
use glassbox_recommend::default_model::fit_default;
use glassbox_recommend::dnn::{Dnn, DnnConfig, DnnLoss, examples, held_out_examples};
use glassbox_recommend::softmax::TargetWeighting;
use glassbox_recommend::{Mode, Scorer, Split};
use glassbox_train::batching::uniform_below;

mod common;

use common::{DAY, buy};

/// Cutoff at day 20. u1: {A, B} on day 1, {B, C} on day 3, {D} on day 10, {A, E} on day 12;
/// u2: {C} on day 2 only; u3: {A} on day 5, {A} on day 6.
fn hand_split() -> Split {
    let log = vec![
        buy("u1", "A", 1),
        buy("u1", "B", 1),
        buy("u1", "B", 3),
        buy("u1", "C", 3),
        buy("u1", "D", 10),
        buy("u1", "A", 12),
        buy("u1", "E", 12),
        buy("u2", "C", 2),
        buy("u3", "A", 5),
        buy("u3", "A", 6),
        buy("u1", "F", 25),
    ];
    Split::new(&log, 20 * DAY, None)
}

#[test]
fn examples_of_a_log_worked_by_hand() {
    let s = hand_split();
    // Items A..E are ids 0..4 (F is after the cutoff: not a candidate).
    assert_eq!(s.items, ["A", "B", "C", "D", "E"]);
    // Horizon 1 day: the next basket's new items. u1 at day 3: history {A, B}, last {A, B},
    // target {C} (B is not new); at day 10: history {A, B, C}, last {B, C}, target {D}; at
    // day 12: history {A, B, C, D}, last {D}, target {E} (A is not new). u2 has one basket;
    // u3's second basket holds nothing new: no example.
    let e = examples(&s, 1.0, false);
    assert_eq!(e.len(), 3);
    assert_eq!(e.history_offsets, [0, 2, 5, 9]);
    assert_eq!(e.history, [0, 1, 0, 1, 2, 0, 1, 2, 3]);
    assert_eq!(e.last, [0, 1, 1, 2, 3]);
    assert_eq!(e.targets, [2, 3, 4]);
    // Horizon 10 days: at day 3 the targets are the new items of the baskets in [3, 13) —
    // days 3, 10 and 12 → {C, D, E}; at day 10, [10, 20) → {D, E}; at day 12, {E}.
    let e = examples(&s, 10.0, false);
    assert_eq!(e.target_offsets, [0, 3, 5, 6]);
    assert_eq!(e.targets, [2, 3, 4, 3, 4, 4]);
    assert!(e.age.iter().all(|&a| a == 0.0));
    // With the example age: (cutoff − t_k) in years, 17, 10 and 8 days.
    let e = examples(&s, 1.0, true);
    let want = [17.0f32, 10.0, 8.0].map(|d| ((d * 86_400.0) as f64 / (365.0 * 86_400.0)) as f32);
    assert_eq!(e.age, want);
    // Held out: every item a target with p = 1 leaves no history (no example); p = 0 no
    // target (none either).
    assert!(held_out_examples(&s, 1.0, &mut seeded_rng(1)).is_empty());
    assert!(held_out_examples(&s, 0.0, &mut seeded_rng(1)).is_empty());
    let h = held_out_examples(&s, 0.5, &mut seeded_rng(1));
    for k in 0..h.len() {
        let hist = &h.history[h.history_offsets[k]..h.history_offsets[k + 1]];
        let t = &h.targets[h.target_offsets[k]..h.target_offsets[k + 1]];
        assert!(!hist.is_empty() && !t.is_empty());
        assert!(t.iter().all(|i| !hist.contains(i)));
    }
}

/// 60 users, 40 items, 2–6 baskets each of 1–5 items over 100 days; cutoff at day 100.
fn random_split() -> Split {
    let mut rng = seeded_rng(4);
    let mut log = Vec::new();
    for u in 0..60 {
        let baskets = 2 + uniform_below(&mut rng, 5);
        for _ in 0..baskets {
            let day = uniform_below(&mut rng, 100) as i64;
            for _ in 0..1 + uniform_below(&mut rng, 5) {
                let item = format!("i{:02}", uniform_below(&mut rng, 40));
                log.push(buy(&format!("u{u:02}"), &item, day));
            }
        }
    }
    Split::new(&log, 100 * DAY, None)
}

#[test]
fn a_fit_is_bit_identical_at_1_2_and_7_threads() {
    let s = random_split();
    for (loss, lazy_input) in [
        (DnnLoss::Full(TargetWeighting::PerTarget), false),
        (
            DnnLoss::Sampled {
                samples: 10,
                alpha: 0.75,
            },
            true,
        ),
    ] {
        let cfg = DnnConfig {
            dim: 8,
            hidden: 6,
            epochs: 3,
            batch: 16,
            loss,
            lazy_input,
            holdout: 0.5,
            horizon_days: 30.0,
            ..DnnConfig::default()
        };
        let run = |threads| {
            build_pool(threads)
                .unwrap()
                .install(|| Dnn::fit(&s, &cfg, |_| false, |_, _| {}).unwrap())
        };
        let one = run(1);
        let bits = |m: &Dnn| -> Vec<u32> {
            m.users
                .iter()
                .chain(&m.output)
                .chain(&m.input)
                .chain(&m.bias)
                .chain(m.mlp.params())
                .map(|x| x.to_bits())
                .collect()
        };
        let init = Dnn::fit(&s, &DnnConfig { epochs: 0, ..cfg }, |_| false, |_, _| {}).unwrap();
        assert_ne!(init.output, one.output, "training moved nothing");
        for threads in [2, 7] {
            assert_eq!(
                bits(&one),
                bits(&run(threads)),
                "{threads} threads, {loss:?}"
            );
        }
    }
}

#[test]
fn the_default_fits_a_small_log_and_puts_own_items_first_in_the_all_mode() {
    let s = random_split();
    let model = fit_default(&s, 0).unwrap();
    let again = fit_default(&s, 0).unwrap();
    let other = fit_default(&s, 1).unwrap();
    let n = s.items.len();
    let (mut a, mut b, mut c) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
    model.score(3, &mut a);
    again.score(3, &mut b);
    other.score(3, &mut c);
    assert_eq!(a, b, "one seed, one model");
    assert_ne!(a, c, "the seed reaches the DNN");
    assert!(a.iter().all(|x| x.is_finite()));
    // γ is large: every item user 3 bought scores above every item they did not.
    let owned: Vec<u32> = s.excluded(3, Mode::New);
    let low_own = owned
        .iter()
        .map(|&i| a[i as usize])
        .fold(f64::MAX, f64::min);
    let high_other = (0..n as u32)
        .filter(|i| !owned.contains(i))
        .map(|i| a[i as usize])
        .fold(f64::MIN, f64::max);
    assert!(low_own > high_other, "{low_own} vs {high_other}");
}
