//! (R3) How uncertain a ROC-AUC is (notes/recipe.md §2).

/// (R3) The approximate standard error of a ROC-AUC `a` with `n1` positives and `n0`
/// negatives (Hanley & McNeil, 1982):
/// `SE² = (a(1 − a) + (n1 − 1)(Q1 − a²) + (n0 − 1)(Q2 − a²)) / (n1·n0)`,
/// `Q1 = a/(2 − a)`, `Q2 = 2a²/(1 + a)`.
pub fn auc_standard_error(a: f64, n1: usize, n0: usize) -> f64 {
    let (n1f, n0f) = (n1 as f64, n0 as f64);
    let q1 = a / (2.0 - a);
    let q2 = 2.0 * a * a / (1.0 + a);
    ((a * (1.0 - a) + (n1f - 1.0) * (q1 - a * a) + (n0f - 1.0) * (q2 - a * a)) / (n1f * n0f)).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_standard_error_matches_hand_values() {
        // A = 1/2, one positive, one negative: Q1 = Q2 = 1/3 and SE² = A(1 − A) = 1/4.
        assert_eq!(auc_standard_error(0.5, 1, 1), 0.5);
        // The test split: Python `math.sqrt(...)` of (R3) gives 0.009523923981422171.
        let se = auc_standard_error(0.924, 382, 2084);
        assert!((se - 0.009523923981422171).abs() < 1e-15, "{se}");
    }
}
