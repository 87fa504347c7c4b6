//! (N29) Permutation importance with the PLR embedding of the unpermuted columns kept
//! between passes (notes/events_default.md §15): the same scores, bit for bit, as the whole
//! networks give, at a fraction of the cost, for every network whose input layer is one PLR
//! layer on every column. [`super::permutation_importance`] takes this path when it applies,
//! so every caller (`glassbox explain`, the next-hour case) gets it.
//!
//! A PLR layer on every column maps each column alone (N3–N4: y_d depends on x_d only), and
//! a permutation pass changes one column; so each member's PLR output of the unpermuted rows
//! is computed once, and a pass recomputes only the changed columns' blocks, then runs the
//! Dense layers above on the assembled rows. (N31) Every row is scored alone (one FMA chain
//! per output element, G2), so only the rows whose values a pass changes are scored again —
//! a permutation of a mostly-zero count moves zeros among zeros — and every other row keeps
//! its baseline probability. Every number is the one the whole network computes: the same
//! [`plr_forward`] per column, the same Dense layers (a network of the member's Dense
//! parameters) on the same values, and the probabilities averaged as (R1) does.

use glassbox_core::tabular::plr_forward;
use glassbox_core::{InputLayerSpec, Mlp, MlpSpec, PlrSpec, Workspace};
use glassbox_data::FeatureGroup;
use glassbox_train::metrics::ensemble::ensemble_probabilities;
use ndarray::{Array2, ArrayView2, Axis, s};

use super::{PermutationConfig, PermutationImportance, pass_score, permutation_importance_by};
use crate::{AuditError, Classifier};

/// One member split at its PLR layer: the embedding's shape and parameters, the Dense
/// layers above as a network of their own, and the PLR output of the baseline rows.
struct Split {
    plr: PlrSpec,
    /// c (D, K), W (D, H, 2K), b (D, H): the member's first parameters.
    params: Vec<f64>,
    /// The Dense layers, reading the D·H embedded columns.
    dense: Mlp<f64>,
    /// y (N, D·H) of the baseline rows.
    base: Array2<f64>,
}

/// (N3, N4) The PLR output y (N, D·H) of `x` (N, D) with `params` laid out as `spec` says.
fn embed(spec: &PlrSpec, params: &[f64], x: ArrayView2<f64>) -> Array2<f64> {
    let n = x.nrows();
    let (d, k, h) = (spec.features, spec.frequencies, spec.units);
    let mut periodic = vec![0.0; n * d * 2 * k];
    let mut z = vec![0.0; n * d * h];
    let mut y = vec![0.0; n * d * h];
    plr_forward(spec, params, x, &mut periodic, &mut z, &mut y);
    Array2::from_shape_fn((n, d * h), |(i, j)| y[i * d * h + j])
}

/// The parameters of column `j` alone, laid out as a one-column PLR's (c_j, W_j, b_j).
fn column_params(spec: &PlrSpec, params: &[f64], j: usize) -> Vec<f64> {
    let (freq, weight, bias) = spec.split(params);
    let (k, h) = (spec.frequencies, spec.units);
    let mut out = Vec::with_capacity(k + h * 2 * k + h);
    out.extend_from_slice(&freq[j * k..(j + 1) * k]);
    out.extend_from_slice(&weight[j * h * 2 * k..(j + 1) * h * 2 * k]);
    out.extend_from_slice(&bias[j * h..(j + 1) * h]);
    out
}

impl Split {
    /// `member` split at its input layer when it is one PLR layer on every column (no
    /// BatchEnsemble, no wide term); `None` otherwise.
    fn new(member: &Mlp<f64>, x: ArrayView2<f64>) -> Option<Split> {
        let spec = member.spec();
        let [InputLayerSpec::Plr { columns: None, .. }] = spec.input_layers.as_slice() else {
            return None;
        };
        if spec.ensemble_k != 1 || spec.wide {
            return None;
        }
        let plr = spec.input_layers[0].plr(spec.inputs)?;
        let (params, rest) = member.params().split_at(plr.num_params());
        let dense_spec = MlpSpec {
            inputs: plr.outputs(),
            input_layers: Vec::new(),
            layers: spec.layers.clone(),
            ensemble_k: 1,
            wide: false,
        };
        let dense = Mlp::from_params(dense_spec, rest.to_vec()).ok()?;
        let base = embed(&plr, params, x);
        Some(Split {
            plr,
            params: params.to_vec(),
            dense,
            base,
        })
    }

    /// (N29, N31) The PLR output of rows `rows` of `x`, whose values differ from the baseline
    /// rows in `changed` columns only: the baseline's rows with the changed columns' blocks
    /// computed again, with the same `plr_forward` on a one-column PLR of those rows (each
    /// row's embedding reads that row alone, N28), so the numbers the whole network gives.
    fn embed_rows(&self, x: ArrayView2<f64>, changed: &[usize], rows: &[usize]) -> Array2<f64> {
        let h = self.plr.units;
        let mut y = self.base.select(Axis(0), rows);
        let one = PlrSpec {
            features: 1,
            ..self.plr
        };
        for &j in changed {
            let params = column_params(&self.plr, &self.params, j);
            let column = Array2::from_shape_fn((rows.len(), 1), |(r, _)| x[[rows[r], j]]);
            let block = embed(&one, &params, column.view());
            y.slice_mut(s![.., j * h..(j + 1) * h]).assign(&block);
        }
        y
    }
}

/// The columns in which `xp` differs from `x` (same shape) by some bit, increasing, and the
/// rows in which it does, increasing: one pass over the rows in memory order.
fn changed_columns_and_rows(x: ArrayView2<f64>, xp: ArrayView2<f64>) -> (Vec<usize>, Vec<usize>) {
    let mut differs = vec![false; x.ncols()];
    let mut rows = Vec::new();
    for (i, (a, b)) in x.rows().into_iter().zip(xp.rows()).enumerate() {
        let mut row_differs = false;
        for ((d, u), v) in differs.iter_mut().zip(a).zip(b) {
            let bit = u.to_bits() != v.to_bits();
            *d |= bit;
            row_differs |= bit;
        }
        if row_differs {
            rows.push(i);
        }
    }
    ((0..x.ncols()).filter(|&j| differs[j]).collect(), rows)
}

/// (N29, N31) [`super::permutation_importance`] with each member's PLR embedding kept
/// between passes and only the rows that a pass changes scored again, or `None` when some
/// member's input layer is not one PLR layer on every column (or there are no rows): the
/// caller then scores the whole networks. The score and its error are the whole-network
/// path's.
pub(super) fn importance(
    model: &Classifier,
    x: ArrayView2<f64>,
    labels: &[bool],
    groups: &[FeatureGroup],
    config: &PermutationConfig,
) -> Option<Result<PermutationImportance, AuditError>> {
    if x.nrows() == 0 {
        return None;
    }
    let splits = model
        .members()
        .iter()
        .map(|m| Split::new(m, x))
        .collect::<Option<Vec<Split>>>()?;
    let mut workspaces: Vec<Workspace<f64>> = splits
        .iter()
        .map(|s| s.dense.workspace(x.nrows()))
        .collect();
    // (N31) Each member's probabilities of the baseline rows: a row whose values a pass
    // leaves equal keeps its own.
    let baseline: Vec<Vec<f64>> = splits
        .iter()
        .zip(workspaces.iter_mut())
        .map(|(split, ws)| member_probabilities(split, split.base.view(), ws))
        .collect();
    let score = |xp: ArrayView2<f64>| {
        let (changed, rows) = changed_columns_and_rows(x, xp);
        // (R1) σ of each member's logit, summed over the members in order, over K.
        let mut sum = vec![0.0f64; xp.nrows()];
        for ((split, ws), base) in splits.iter().zip(workspaces.iter_mut()).zip(&baseline) {
            let mut p = base.clone();
            if !rows.is_empty() {
                let embedded = split.embed_rows(xp, &changed, &rows);
                let fresh = member_probabilities(split, embedded.view(), ws);
                for (&i, v) in rows.iter().zip(fresh) {
                    p[i] = v;
                }
            }
            for (s, v) in sum.iter_mut().zip(p) {
                *s += v;
            }
        }
        let k = splits.len() as f64;
        sum.iter_mut().for_each(|s| *s /= k);
        pass_score(labels, &sum)
    };
    Some(permutation_importance_by(
        x, groups, config, "roc_auc", score,
    ))
}

/// One member's probabilities (R1 with one member) of its embedded rows, through its Dense
/// layers.
fn member_probabilities(
    split: &Split,
    embedded: ArrayView2<f64>,
    ws: &mut Workspace<f64>,
) -> Vec<f64> {
    ensemble_probabilities(
        std::slice::from_ref(&split.dense),
        embedded,
        std::slice::from_mut(ws),
    )
}

#[cfg(test)]
mod tests {
    use glassbox_core::{Activation, Init, LayerSpec, seeded_rng};
    use glassbox_data::{ColumnKind, ColumnSchema, Preprocessor, Table, TargetSpec};

    use super::super::{permutation_importance_csv, whole_network_importance};
    use super::*;
    use crate::encode_f64;

    /// 160 rows of 4 numeric columns (one mostly zero, as the case's counts) and a label.
    fn table() -> (Table, Preprocessor) {
        let n = 160;
        let value = |i: usize, c: usize| ((i * (7 + 3 * c) + c * c) % 23) as f64 / 5.0;
        let mut columns: Vec<(ColumnSchema, Vec<f64>)> = (0..4)
            .map(|c| {
                let v = (0..n)
                    .map(|i| {
                        if c == 3 && i % 9 != 0 {
                            0.0
                        } else {
                            value(i, c)
                        }
                    })
                    .collect();
                (ColumnSchema::new(&format!("f{c}"), ColumnKind::Numeric), v)
            })
            .collect();
        let label = (0..n).map(|i| f64::from(u8::from(value(i, 0) + value(i, 2) > 4.4)));
        columns.push((
            ColumnSchema::new("label", ColumnKind::Numeric),
            label.collect(),
        ));
        let (table, schema) = Table::from_numeric_columns("t.csv", columns).unwrap();
        let pre = Preprocessor::fit(&table, &schema, &TargetSpec::new("label")).unwrap();
        (table, pre)
    }

    fn member(input_layers: Vec<InputLayerSpec>, seed: u64) -> Mlp<f32> {
        let spec = MlpSpec::new(
            4,
            vec![
                LayerSpec::new(6, Activation::Relu).with_dropout(0.2),
                LayerSpec::new(1, Activation::Sigmoid),
            ],
        )
        .with_input_layers(input_layers);
        Mlp::new(spec, Init::GlorotUniform, &mut seeded_rng(seed)).unwrap()
    }

    #[test]
    fn a_pass_changes_the_columns_and_rows_that_differ_by_some_bit() {
        let x = ndarray::array![[0.0, 1.0, 2.0], [0.0, 1.0, 2.0], [3.0, 4.0, 5.0]];
        let mut xp = x.clone();
        assert_eq!(
            changed_columns_and_rows(x.view(), xp.view()),
            (vec![], vec![])
        );
        xp[[2, 2]] = -5.0;
        xp[[0, 0]] = -0.0; // a different bit, the same value: changed
        assert_eq!(
            changed_columns_and_rows(x.view(), xp.view()),
            (vec![0, 2], vec![0, 2])
        );
    }

    #[test]
    fn kept_embeddings_give_the_whole_networks_importance_bit_for_bit() {
        let (table, pre) = table();
        let plr = InputLayerSpec::Plr {
            frequencies: 3,
            units: 2,
            sigma: 0.5,
            columns: None,
        };
        let config = PermutationConfig {
            repeats: 3,
            seed: 5,
        };
        let two = Classifier::new(&[member(vec![plr.clone()], 1), member(vec![plr], 2)]).unwrap();
        let (x, y) = encode_f64(&pre, &table).unwrap();
        let labels: Vec<bool> = y.iter().map(|&v| v > 0.5).collect();
        let groups = pre.feature_groups();
        // The kept-embedding path runs for these members…
        let fast = importance(&two, x.view(), &labels, &groups, &config)
            .expect("every member starts with a PLR layer on every column")
            .unwrap();
        let whole = whole_network_importance(&two, x.view(), &labels, &groups, &config).unwrap();
        // … and gives every drop and the baseline of the whole networks, to the bit, also
        // through the public entry point that now takes it.
        assert_eq!(fast, whole);
        assert!(fast.columns.iter().any(|c| c.mean_drop != 0.0));
        let mut via_csv = permutation_importance_csv(&two, &pre, &table, &config).unwrap();
        assert_eq!(via_csv.source, "t.csv");
        via_csv.source = whole.source.clone();
        assert_eq!(via_csv, whole);
        // A network without a PLR layer on every column is left to the whole-network path.
        let plain = Classifier::new(&[member(Vec::new(), 3)]).unwrap();
        assert!(importance(&plain, x.view(), &labels, &groups, &config).is_none());
    }
}
