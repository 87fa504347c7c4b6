//! (D2) The training median by selection equals the median of a full sort, bit for bit.

use glassbox_data::median;
use proptest::prelude::*;

/// The median as first written: sort (total order), then the middle value or the mean of
/// the two middle values.
fn sorted_median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

#[test]
fn hand_worked_medians() {
    assert_eq!(median(&[3.0, 1.0, 7.0]), 3.0);
    assert_eq!(median(&[7.0, 1.0, 3.0, 4.0]), 3.5);
    assert_eq!(median(&[2.0]), 2.0);
    // Zeros of both signs: the total order puts −0 first, as the sort did.
    assert_eq!(
        median(&[0.0, -0.0]).to_bits(),
        sorted_median(&[0.0, -0.0]).to_bits()
    );
    assert_eq!(median(&[0.0, -0.0, 0.0]).to_bits(), 0.0f64.to_bits());
    assert_eq!(median(&[-0.0, 0.0, -0.0]).to_bits(), (-0.0f64).to_bits());
}

proptest! {
    /// Any finite values, with many repeats (small integers) or every bit pattern.
    #[test]
    fn selection_is_the_sorted_median(
        small in prop::collection::vec(-5i32..5, 1..300),
        bits in prop::collection::vec(any::<u64>(), 1..300),
    ) {
        let repeats: Vec<f64> = small.iter().map(|&i| f64::from(i) * 0.5).collect();
        prop_assert_eq!(median(&repeats).to_bits(), sorted_median(&repeats).to_bits());
        let any: Vec<f64> = bits
            .iter()
            .map(|&b| f64::from_bits(b))
            .filter(|x| !x.is_nan())
            .collect();
        if !any.is_empty() {
            prop_assert_eq!(median(&any).to_bits(), sorted_median(&any).to_bits());
        }
    }
}
