//! (R1) The probability of an ensemble of binary classifiers (notes/recipe.md §2): every
//! caller — the model bundle (`predict`, `evaluate`, `evaluate --by`, the case study) and the
//! audits (`explain`'s f64 networks) — computes it here.

use glassbox_core::{Float, Mlp, Mode, Workspace, sigmoid};
use ndarray::ArrayView2;

/// (R1) `p̄(x) = (1/K) Σ_k σ(z_k(x))` for the features `x` (N, D): each member's inference
/// forward pass in `T`, its logit `z_k` (the last layer's pre-activation, output column 0)
/// widened exactly to f64, `σ` in f64 (B10a), summed over the members in order and divided
/// by K — so the result does not depend on the thread count. A BatchEnsemble network of k
/// members (notes/tabular.md N21) has k logit columns: each counts as one member, so K
/// networks of k members average K·k probabilities.
///
/// `workspaces` holds one workspace per member, or a single one that the members use in
/// turn (members of one architecture, as in a model bundle); each for at least N rows.
/// A bundle's f32 networks and the audits' f64 casts of them differ in their logits' last
/// bits, so each caller passes the precision it documents.
///
/// # Panics
/// If `members` is empty, `x` does not have D columns, or `workspaces` holds neither one
/// workspace nor one per member.
pub fn ensemble_probabilities<T: Float>(
    members: &[Mlp<T>],
    x: ArrayView2<'_, T>,
    workspaces: &mut [Workspace<T>],
) -> Vec<f64> {
    assert!(!members.is_empty(), "an ensemble needs at least one member");
    assert!(
        workspaces.len() == 1 || workspaces.len() == members.len(),
        "one workspace, or one per member: {} for {} members",
        workspaces.len(),
        members.len()
    );
    let mut sum = vec![0.0f64; x.nrows()];
    if x.nrows() == 0 {
        return sum;
    }
    let shared = workspaces.len() == 1;
    let mut count = 0usize;
    for (k, member) in members.iter().enumerate() {
        let ws = &mut workspaces[if shared { 0 } else { k }];
        let fwd = member.forward(x, Mode::Inference, ws);
        // A BatchEnsemble network's logits are (N, k'), one column per member of its own
        // (N21): each is one more probability in the mean.
        for column in fwd.logits().columns() {
            for (s, &z) in sum.iter_mut().zip(column) {
                *s += sigmoid(z.to_f64());
            }
            count += 1;
        }
    }
    let k = count as f64;
    sum.iter_mut().for_each(|s| *s /= k);
    sum
}

#[cfg(test)]
mod tests {
    use super::*;
    use glassbox_core::{Activation, Init, LayerSpec, MlpSpec, seeded_rng};
    use ndarray::array;

    fn member(seed: u64) -> Mlp<f32> {
        let spec = MlpSpec::new(
            2,
            vec![
                LayerSpec::new(3, Activation::Relu),
                LayerSpec::new(1, Activation::Sigmoid),
            ],
        );
        Mlp::new(spec, Init::GlorotUniform, &mut seeded_rng(seed)).unwrap()
    }

    #[test]
    fn the_mean_of_the_members_sigmoids_with_one_or_many_workspaces() {
        let members = [member(0), member(1)];
        let x = array![[0.3f32, 1.0], [-1.2, 0.5], [2.0, -0.7]];
        let mut shared = [members[0].workspace(3)];
        let p = ensemble_probabilities(&members, x.view(), &mut shared);
        let mut own: Vec<_> = members.iter().map(|m| m.workspace(3)).collect();
        assert_eq!(p, ensemble_probabilities(&members, x.view(), &mut own));
        for (i, &pi) in p.iter().enumerate() {
            let manual: f64 = members
                .iter()
                .map(|m| {
                    let mut ws = m.workspace(3);
                    let fwd = m.forward(x.view(), Mode::Inference, &mut ws);
                    sigmoid(f64::from(fwd.logits()[[i, 0]]))
                })
                .sum::<f64>()
                / 2.0;
            assert_eq!(pi, manual);
        }
        let none = ndarray::Array2::<f32>::zeros((0, 2));
        assert!(ensemble_probabilities(&members, none.view(), &mut shared).is_empty());
    }
}
