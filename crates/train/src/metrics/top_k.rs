//! Metrics of the top of a ranking — precision of the `k` highest scores and the recall of
//! the top fraction `q` — with tied scores at the cut counted at their expected value (M19),
//! and a bootstrap that resamples clusters (users) with all their rows (M20), of one model or
//! of the difference between two.

use glassbox_core::gemm::kernel::on_widest_isa;
use glassbox_core::{Rng, seeded_rng};

use super::paired::{PairedBootstrap, PairedInterval};
use super::ranking::{counts_in_order, descending_order};
use super::{MetricsError, check_scores};
use crate::batching::uniform_below;
use rayon::prelude::*;

/// (M19) Expected positives among the `k` highest scores when ties at the cut are broken at
/// random: with `s` the `k`-th highest score, `a` the scores above `s` holding `p_a`
/// positives and `b` the scores equal to `s` holding `p_b`,
/// `E = p_a + (k − a) · p_b / b`. `k` is clamped to `n`.
///
/// # Errors
/// [`MetricsError::Empty`], [`MetricsError::LengthMismatch`], [`MetricsError::NonFinite`].
pub fn expected_positives_in_top(
    labels: &[bool],
    scores: &[f64],
    k: usize,
) -> Result<f64, MetricsError> {
    if labels.is_empty() {
        return Err(MetricsError::Empty);
    }
    if labels.len() != scores.len() {
        return Err(MetricsError::LengthMismatch {
            labels: labels.len(),
            scores: scores.len(),
        });
    }
    if let Some(i) = scores.iter().position(|s| !s.is_finite()) {
        return Err(MetricsError::NonFinite {
            index: i,
            value: scores[i],
        });
    }
    let k = k.min(scores.len());
    if k == 0 {
        return Ok(0.0);
    }
    // The k-th highest score: a selection, not a full sort (the same value).
    let mut sorted: Vec<f64> = scores.to_vec();
    let (_, &mut cut, _) = sorted.select_nth_unstable_by(k - 1, |a, b| b.total_cmp(a));
    let (mut above, mut pos_above, mut tied, mut pos_tied) = (0usize, 0usize, 0usize, 0usize);
    for (&y, &s) in labels.iter().zip(scores) {
        if s > cut {
            above += 1;
            pos_above += usize::from(y);
        } else if s == cut {
            tied += 1;
            pos_tied += usize::from(y);
        }
    }
    Ok(pos_above as f64 + (k - above) as f64 * pos_tied as f64 / tied as f64)
}

/// (M19) Precision of the `k` highest scores: `E / k`.
///
/// # Errors
/// Those of [`expected_positives_in_top`].
pub fn precision_at_k(labels: &[bool], scores: &[f64], k: usize) -> Result<f64, MetricsError> {
    Ok(expected_positives_in_top(labels, scores, k)? / k.min(labels.len()).max(1) as f64)
}

/// (M19) Recall of the top fraction `q` of the scores: `E / P` with `k = round(q · n)`.
///
/// # Errors
/// Those of [`expected_positives_in_top`]; [`MetricsError::NoPositives`] without positives.
pub fn recall_at_top_fraction(
    labels: &[bool],
    scores: &[f64],
    q: f64,
) -> Result<f64, MetricsError> {
    let positives = labels.iter().filter(|&&y| y).count();
    if positives == 0 {
        return Err(MetricsError::NoPositives {
            metric: "recall at the top fraction",
            n: labels.len(),
        });
    }
    let k = (q * labels.len() as f64).round() as usize;
    Ok(expected_positives_in_top(labels, scores, k)? / positives as f64)
}

/// A percentile interval of a bootstrapped statistic.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct BootstrapInterval {
    /// The statistic on the data as they are.
    pub estimate: f64,
    /// The 2.5 % and 97.5 % quantiles over the resamples (M20).
    pub low: f64,
    pub high: f64,
    /// Resamples on which the statistic was defined (both classes present).
    pub resamples: usize,
}

/// (M20) Cluster bootstrap of ROC-AUC and average precision: `B` times, draw `C` clusters
/// with replacement from the `C` distinct cluster ids (uniformly, [`uniform_below`] on
/// `seeded_rng(seed)`), take every row of each drawn cluster as often as it was drawn, and
/// recompute both; the interval is the sorted values at `round(0.025·(B′−1))` and
/// `round(0.975·(B′−1))`, B′ the resamples with both classes. Rows of one user are dependent
/// (overlapping windows, repeat buyers), so they are resampled together.
///
/// A resample is the data with row `i` weighted by its cluster's draw count `w_i`; the rows
/// are sorted once and cut into blocks ([`blocks`]: a tie group with a positive, or the
/// negatives between two of them), and each resample walks the blocks `g` by decreasing
/// score with weighted counts `tp_g`, `fp_g` and running totals `TP`, `FP` before `g`:
/// `AUC = Σ_g fp_g·(TP + tp_g/2) / (P·N)` (M11) and `AP = Σ_g (tp_g/P)·(TP + tp_g)/(TP + tp_g
/// + FP + fp_g)` (M13) — the metrics of the resampled rows, without copying them.
/// Returns `(roc_auc, average_precision)`.
///
/// # Errors
/// Those of [`roc_auc`](super::roc_auc) and [`average_precision`](super::average_precision) on the data as they are.
pub fn cluster_bootstrap(
    labels: &[bool],
    scores: &[f64],
    clusters: &[u64],
    resamples: usize,
    seed: u64,
) -> Result<(BootstrapInterval, BootstrapInterval), MetricsError> {
    let (auc, ap, _) = cluster_bootstrap_against(labels, scores, None, clusters, resamples, seed)?;
    Ok((auc, ap))
}

/// (M20, paired) The cluster bootstrap of the differences `A − B` of two models scored on the
/// same rows: each resample's cluster draws (as in [`cluster_bootstrap`], the same generator)
/// weight both models' rows, and `ΔAUC`, `ΔAP` are taken on the resamples with both classes.
/// The differences share the draw, so their spread is much narrower than either model's
/// interval. `cost` is `None` (no decisions here); `resamples` counts the resamples used.
///
/// # Errors
/// Those of [`roc_auc`](super::roc_auc) and [`average_precision`](super::average_precision) on either model's scores;
/// [`MetricsError::LengthMismatch`] when a model's scores and the labels differ in length.
pub fn paired_cluster_bootstrap(
    labels: &[bool],
    scores_a: &[f64],
    scores_b: &[f64],
    clusters: &[u64],
    resamples: usize,
    seed: u64,
) -> Result<PairedBootstrap, MetricsError> {
    let (_, _, paired) =
        cluster_bootstrap_against(labels, scores_a, Some(scores_b), clusters, resamples, seed)?;
    paired.ok_or(MetricsError::LengthMismatch {
        labels: labels.len(),
        scores: scores_b.len(),
    })
}

/// One model's bootstrap: its ROC-AUC and AP intervals and, against a model B, the paired
/// differences (M20).
pub type ModelBootstrap = (
    BootstrapInterval,
    BootstrapInterval,
    Option<PairedBootstrap>,
);

/// [`cluster_bootstrap`] of model A and, when `scores_b` is given, [`paired_cluster_bootstrap`]
/// of `A − B`, on one walk of the draws: A's rows are sorted and walked once for both (the
/// resamples with both classes are the same for A and B: they depend on the labels and the
/// draws only). Each value is the same bits as the separate calls give.
///
/// # Errors
/// Those of [`cluster_bootstrap`] and [`paired_cluster_bootstrap`].
pub fn cluster_bootstrap_against(
    labels: &[bool],
    scores_a: &[f64],
    scores_b: Option<&[f64]>,
    clusters: &[u64],
    resamples: usize,
    seed: u64,
) -> Result<ModelBootstrap, MetricsError> {
    let mut one =
        cluster_bootstrap_models(labels, &[scores_a], scores_b, clusters, resamples, seed)?;
    one.pop().ok_or(MetricsError::Empty)
}

/// [`cluster_bootstrap_against`] of several models A₁, A₂, … against the same B, on one set of
/// draws: the draws depend on `clusters`, `resamples` and `seed` only, so every model sees the
/// resamples it would see alone, and B is sorted once and walked once per resample rather than
/// once per model. Entry `m` is the same bits as `cluster_bootstrap_against(labels, models[m],
/// scores_b, …)`.
///
/// # Errors
/// Those of [`cluster_bootstrap_against`] for each model, the first model's first.
pub fn cluster_bootstrap_models(
    labels: &[bool],
    models: &[&[f64]],
    scores_b: Option<&[f64]>,
    clusters: &[u64],
    resamples: usize,
    seed: u64,
) -> Result<Vec<ModelBootstrap>, MetricsError> {
    // One sort of each model's scores, and of B's, for its metrics on the rows as they are and
    // its blocks (M8); the models and B on rayon's workers, each alone (the same bits
    // whatever the threads).
    let resampler = ClusterResampler::new(clusters);
    let prepared = |scores_a: &&[f64]| -> Result<_, MetricsError> {
        check_scores(labels, scores_a)?;
        let order = descending_order(scores_a);
        let counts = counts_in_order(labels, scores_a, &order);
        let estimate = (counts.roc_auc()?, counts.average_precision()?);
        Ok((
            estimate,
            blocks(&order, scores_a, labels, &resampler.cluster_of),
        ))
    };
    let (models_prepared, b_prepared) = rayon::join(
        || models.par_iter().map(prepared).collect::<Vec<_>>(),
        || scores_b.map(|b| prepared(&b)),
    );
    let (mut estimates, mut walks) = (Vec::new(), Vec::new());
    for model in models_prepared {
        let (estimate, walk) = model?;
        estimates.push(estimate);
        walks.push(walk);
    }
    let (estimate_b, walk_b) = match b_prepared.transpose()? {
        Some((estimate, walk)) => (Some(estimate), Some(walk)),
        None => (None, None),
    };
    // Per model: AUCs, APs, ΔAUCs, ΔAPs over the resamples.
    let mut values = vec![
        (
            Vec::with_capacity(resamples),
            Vec::with_capacity(resamples),
            Vec::new(),
            Vec::new()
        );
        models.len()
    ];
    // Each resample's metrics are a function of its draws alone. A round's resamples are
    // walked LANES at a time, every (walk, lanes) pair a task on any worker; the values come
    // back in resample order and are kept here in that order, so the bits do not depend on
    // the threads.
    let all: Vec<(&[Block], bool)> = walks
        .iter()
        .chain(walk_b.as_ref())
        .map(|w| (w.as_slice(), needs_u64(w, resampler.count)))
        .collect();
    let walked = resampler.run(resamples, seed, |round| {
        let groups = round.size.div_ceil(LANES);
        let lanes: Vec<Vec<Option<(f64, f64)>>> = (0..all.len() * groups)
            .into_par_iter()
            .map(|t| {
                let (walk, wide) = all[t / groups];
                round.walk_lanes(walk, wide, (t % groups) * LANES)
            })
            .collect();
        let value = |w: usize, r: usize| lanes[w * groups + r / LANES][r % LANES];
        (0..round.size)
            .map(|r| {
                let a: Vec<_> = (0..walks.len()).map(|w| value(w, r)).collect();
                // Both classes drawn or not depends on the labels and the draws only, so on
                // no model: B's value counts when A's first resample value exists.
                let b = match (a.first(), walk_b.is_some()) {
                    (Some(Some(_)), true) => value(walks.len(), r),
                    _ => None,
                };
                (a, b)
            })
            .collect()
    });
    for (a, b) in walked {
        for (value, (aucs, aps, d_auc, d_ap)) in a.into_iter().zip(values.iter_mut()) {
            if let Some((auc_a, ap_a)) = value {
                aucs.push(auc_a);
                aps.push(ap_a);
                if let Some((auc_b, ap_b)) = b {
                    d_auc.push(auc_a - auc_b);
                    d_ap.push(ap_a - ap_b);
                }
            }
        }
    }
    let interval = |estimate: f64, v: Vec<f64>| {
        let (low, high, resamples) = percentile_interval(v);
        BootstrapInterval {
            estimate,
            low,
            high,
            resamples,
        }
    };
    Ok(values
        .into_iter()
        .zip(estimates)
        .map(|((aucs, aps, d_auc, d_ap), (auc, ap))| {
            // The differences on the rows as they are (paired_estimates).
            let paired = estimate_b.map(|(auc_b, ap_b)| PairedBootstrap {
                resamples: d_auc.len(),
                roc_auc: PairedInterval::of(auc - auc_b, d_auc),
                pr_auc: PairedInterval::of(ap - ap_b, d_ap),
                cost: None,
            });
            (interval(auc, aucs), interval(ap, aps), paired)
        })
        .collect())
}

/// The 2.5 % and 97.5 % quantiles of `v` (the sorted values at `round(q·(n−1))`, M20, M26) and
/// `n`; NaN bounds when `v` is empty.
pub(super) fn percentile_interval(mut v: Vec<f64>) -> (f64, f64, usize) {
    v.sort_by(f64::total_cmp);
    let at = |q: f64| {
        v.get(((v.len().saturating_sub(1)) as f64 * q).round() as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };
    (at(0.025), at(0.975), v.len())
}

/// The clusters of the rows, indexed `0..C`, and the seeded draws of M20.
struct ClusterResampler {
    cluster_of: Vec<usize>,
    count: usize,
}

impl ClusterResampler {
    fn new(clusters: &[u64]) -> ClusterResampler {
        let mut ids: Vec<u64> = clusters.to_vec();
        ids.sort_unstable();
        ids.dedup();
        let cluster_of = clusters
            .iter()
            .map(|c| ids.binary_search(c).unwrap_or(0))
            .collect();
        ClusterResampler {
            cluster_of,
            count: ids.len(),
        }
    }

    /// `resamples` times: draw `C` clusters with replacement (one generator, the resamples in
    /// order); `walk` gets the draw counts a [`Round`] of up to [`ROUND`] resamples at a time
    /// and returns one value per resample of the round. The values in resample order. The
    /// next round is drawn while one is walked.
    fn run<R: Send>(
        &self,
        resamples: usize,
        seed: u64,
        walk: impl Fn(&Round) -> Vec<R> + Sync,
    ) -> Vec<R> {
        let c = self.count;
        let mut rng: Rng = seeded_rng(seed);
        // One round's counts resample-major (each resample's C counts together, where the
        // draws scatter), then copied cluster-major into the round in 64 × 64 tiles.
        let mut counts = vec![0u32; ROUND * c];
        let mut draw = |rng: &mut Rng, size: usize, round: &mut Round| {
            counts.fill(0);
            for draws in counts.chunks_exact_mut(c.max(1)).take(size) {
                for _ in 0..c {
                    draws[uniform_below(rng, c as u64) as usize] += 1;
                }
            }
            round.size = size;
            round.weights.clear();
            round.weights.resize(c * ROUND, 0);
            for c0 in (0..c).step_by(64) {
                for r in 0..size {
                    let row = &counts[r * c + c0..r * c + (c0 + 64).min(c)];
                    let group = (r / LANES) * c;
                    for (i, &w) in row.iter().enumerate() {
                        round.weights[(group + c0 + i) * LANES + r % LANES] = w;
                    }
                }
            }
        };
        let mut out = Vec::with_capacity(resamples);
        let (mut current, mut next) = (Round::default(), Round::default());
        draw(&mut rng, ROUND.min(resamples), &mut current);
        while current.size > 0 {
            let following = ROUND.min(resamples - out.len() - current.size);
            let (walked, ()) =
                rayon::join(|| walk(&current), || draw(&mut rng, following, &mut next));
            debug_assert_eq!(walked.len(), current.size);
            out.extend(walked);
            std::mem::swap(&mut current, &mut next);
        }
        out
    }
}

/// Resamples drawn at a time by `ClusterResampler::run`: 64 × 25,100 draw counts (the
/// next-hour case's visitors) is 6.4 MB, held twice (resample-major and by groups) for two
/// rounds.
const ROUND: usize = 64;

/// Resamples walked side by side by [`Round::walk_lanes`]; divides [`ROUND`].
const LANES: usize = 16;

/// A block of [`blocks`]: `(cluster, positives, negatives)` of its rows, by cluster.
type Block = Vec<(u32, u32, u32)>;

/// Whether a block's weighted count in [`Round::walk_lanes`] could reach 2³²: it is at most
/// C (the draws of a resample, `clusters`, add up to C) times the largest `(positives,
/// negatives)` entry of any block.
fn needs_u64(blocks: &[Block], clusters: usize) -> bool {
    let largest = blocks
        .iter()
        .flatten()
        .map(|&(_, pos, neg)| u64::from(pos.max(neg)))
        .max()
        .unwrap_or(0);
    (clusters as u64).saturating_mul(largest) >= 1 << 32
}

/// One round's draw counts by groups of [`LANES`] resamples, cluster-major in each:
/// `weights[((r / LANES)·C + c)·LANES + r mod LANES]` is cluster c's count in the round's
/// resample r, 0 for r ≥ `size`. A walk of one group reads only that group's C·LANES counts
/// (1.6 MB for 25,100 clusters), each cluster's in one cache line.
#[derive(Default)]
struct Round {
    weights: Vec<u32>,
    size: usize,
}

/// The integer type of a block's weighted counts in [`Round::walk_lanes`]: `u32` (8 lanes a
/// vector) when no block's count can reach 2³², else `u64`. Both are exact, so both give
/// the same `f64`.
trait Count: Copy + Default + std::ops::AddAssign + std::ops::Mul<Output = Self> {
    fn of(v: u32) -> Self;
    fn to_f64(self) -> f64;
}

impl Count for u32 {
    fn of(v: u32) -> u32 {
        v
    }
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
}

impl Count for u64 {
    fn of(v: u32) -> u64 {
        u64::from(v)
    }
    fn to_f64(self) -> f64 {
        self as f64
    }
}

impl Round {
    /// C, the clusters.
    fn clusters(&self) -> usize {
        self.weights.len() / ROUND
    }

    /// `resampled_auc_ap` (M11, M13) of the round's resamples `first..first + LANES` (those
    /// below `size`; `first` a multiple of LANES) on `blocks`, side by side: per block, each
    /// resample's weighted counts are integer sums (exact in any order and type), and its
    /// running sums take the same floating-point operations in the same block order as
    /// `resampled_auc_ap` — the same bits. `wide` ([`needs_u64`]) sums the counts in `u64`,
    /// else in `u32`.
    fn walk_lanes(&self, blocks: &[Block], wide: bool, first: usize) -> Vec<Option<(f64, f64)>> {
        // Compiled for the widest instruction set too, where the lanes' integer products
        // vectorise (SSE2 has no 32-bit lane multiply); integer sums and unfused f64
        // operations in a fixed order give the same bits on every path.
        if wide {
            self.walk_lanes_in::<u64>(blocks, first)
        } else {
            on_widest_isa(
                #[inline(always)]
                || self.walk_lanes_in::<u32>(blocks, first),
            )
        }
    }

    #[inline(always)]
    fn walk_lanes_in<C: Count>(&self, blocks: &[Block], first: usize) -> Vec<Option<(f64, f64)>> {
        let n = LANES.min(self.size.saturating_sub(first));
        let c_n = self.clusters();
        let group = &self.weights[(first / LANES) * c_n * LANES..][..c_n * LANES];
        let (mut tp, mut fp) = ([0.0f64; LANES], [0.0f64; LANES]);
        let (mut auc_sum, mut ap_sum) = ([0.0f64; LANES], [0.0f64; LANES]);
        for block in blocks {
            let (mut tp_g, mut fp_g) = ([C::default(); LANES], [C::default(); LANES]);
            for &(c, pos, neg) in block {
                let at = c as usize * LANES;
                let w = &group[at..at + LANES];
                let (pos, neg) = (C::of(pos), C::of(neg));
                for l in 0..LANES {
                    tp_g[l] += C::of(w[l]) * pos;
                    fp_g[l] += C::of(w[l]) * neg;
                }
            }
            for l in 0..n {
                let (tp_g, fp_g) = (tp_g[l].to_f64(), fp_g[l].to_f64());
                auc_sum[l] += fp_g * (tp[l] + tp_g / 2.0);
                if tp_g > 0.0 {
                    ap_sum[l] += tp_g * (tp[l] + tp_g) / (tp[l] + tp_g + fp[l] + fp_g);
                }
                tp[l] += tp_g;
                fp[l] += fp_g;
            }
        }
        (0..n)
            .map(|l| {
                (tp[l] > 0.0 && fp[l] > 0.0)
                    .then(|| (auc_sum[l] / (tp[l] * fp[l]), ap_sum[l] / tp[l]))
            })
            .collect()
    }
}

/// ROC-AUC and AP of one resample (M11, M13 on the weighted blocks); `None` without both
/// classes. The one-resample form of `Round::walk_lanes`, the reference its tests hold it to.
#[cfg(test)]
fn resampled_auc_ap(blocks: &[Block], draws: &[u32]) -> Option<(f64, f64)> {
    let (mut tp, mut fp, mut auc_sum, mut ap_sum) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
    for block in blocks {
        let (mut tp_g, mut fp_g) = (0u64, 0u64);
        for &(c, pos, neg) in block {
            let w = u64::from(draws[c as usize]);
            tp_g += w * u64::from(pos);
            fp_g += w * u64::from(neg);
        }
        // Integer-valued sums below 2^53: exact, so merging negative-only groups into
        // one block changes no bit.
        let (tp_g, fp_g) = (tp_g as f64, fp_g as f64);
        auc_sum += fp_g * (tp + tp_g / 2.0);
        if tp_g > 0.0 {
            ap_sum += tp_g * (tp + tp_g) / (tp + tp_g + fp + fp_g);
        }
        tp += tp_g;
        fp += fp_g;
    }
    (tp > 0.0 && fp > 0.0).then(|| (auc_sum / (tp * fp), ap_sum / tp))
}

/// The rows in decreasing score order as blocks of `(cluster, positives, negatives)`: each
/// tie group holding a positive is a block; the negative-only tie groups between two such
/// groups are merged into one block (they only add to the false positives, M11, M13). Rows
/// of one cluster are counted together within a block, so a resample costs one pass over a
/// few (cluster, block) pairs rather than over every row.
fn blocks(order: &[usize], scores: &[f64], labels: &[bool], cluster_of: &[usize]) -> Vec<Block> {
    let aggregate = |rows: &mut Vec<(u32, bool)>| -> Block {
        rows.sort_unstable();
        let mut out: Vec<(u32, u32, u32)> = Vec::new();
        for &(c, y) in rows.iter() {
            match out.last_mut() {
                Some(last) if last.0 == c => {
                    last.1 += u32::from(y);
                    last.2 += u32::from(!y);
                }
                _ => out.push((c, u32::from(y), u32::from(!y))),
            }
        }
        rows.clear();
        out
    };
    let mut blocks = Vec::new();
    let (mut negatives, mut group) = (Vec::new(), Vec::new());
    let mut k = 0;
    while k < order.len() {
        let s = scores[order[k]];
        let mut positive = false;
        while k < order.len() && scores[order[k]] == s {
            let i = order[k];
            positive |= labels[i];
            group.push((cluster_of[i] as u32, labels[i]));
            k += 1;
        }
        if positive {
            if !negatives.is_empty() {
                blocks.push(aggregate(&mut negatives));
            }
            blocks.push(aggregate(&mut group));
        } else {
            negatives.append(&mut group);
        }
    }
    if !negatives.is_empty() {
        blocks.push(aggregate(&mut negatives));
    }
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{average_precision, roc_auc};

    #[test]
    fn ties_at_the_cut_count_at_their_expected_value() {
        // Scores 0.9(+) 0.5(+) 0.5(−) 0.5(−) 0.1(+): top 2 = 0.9 and one of three tied 0.5s.
        let labels = [true, true, false, false, true];
        let scores = [0.9, 0.5, 0.5, 0.5, 0.1];
        let e = expected_positives_in_top(&labels, &scores, 2).unwrap();
        assert!((e - (1.0 + 1.0 / 3.0)).abs() < 1e-15);
        assert!((precision_at_k(&labels, &scores, 2).unwrap() - e / 2.0).abs() < 1e-15);
        // No tie at the cut: exact counts.
        assert_eq!(expected_positives_in_top(&labels, &scores, 4).unwrap(), 2.0);
        // q = 0.4 of 5 rows = 2 rows; recall = E / 3 positives.
        let r = recall_at_top_fraction(&labels, &scores, 0.4).unwrap();
        assert!((r - e / 3.0).abs() < 1e-15);
        assert!(recall_at_top_fraction(&[false, false], &[0.1, 0.2], 0.5).is_err());
    }

    #[test]
    fn the_cut_by_selection_is_the_cut_of_a_full_sort() {
        // Coarse scores (many ties, signed zeros): E from the selection against E from the
        // k-th entry of a full descending sort, every k.
        let mut rng = seeded_rng(3);
        let n = 300;
        let scores: Vec<f64> = (0..n)
            .map(|_| match uniform_below(&mut rng, 9) {
                4 => -0.0,
                v => v as f64 / 8.0 - 0.5,
            })
            .collect();
        let labels: Vec<bool> = (0..n).map(|_| uniform_below(&mut rng, 3) == 0).collect();
        let mut sorted = scores.clone();
        sorted.sort_by(|a, b| b.total_cmp(a));
        for k in 1..=n {
            let cut = sorted[k - 1];
            let above: Vec<bool> = (0..n)
                .filter(|&i| scores[i] > cut)
                .map(|i| labels[i])
                .collect();
            let tied: Vec<bool> = (0..n)
                .filter(|&i| scores[i] == cut)
                .map(|i| labels[i])
                .collect();
            let count = |v: &[bool]| v.iter().filter(|&&y| y).count() as f64;
            let want = count(&above) + (k - above.len()) as f64 * count(&tied) / tied.len() as f64;
            assert_eq!(
                expected_positives_in_top(&labels, &scores, k).unwrap(),
                want,
                "k = {k}"
            );
        }
    }

    #[test]
    fn the_cluster_bootstrap_is_seeded_and_brackets_the_estimate() {
        let n = 200;
        let labels: Vec<bool> = (0..n).map(|i| i % 7 == 0).collect();
        let scores: Vec<f64> = (0..n)
            .map(|i| ((i * 37) % 101) as f64 / 101.0 + if i % 7 == 0 { 0.3 } else { 0.0 })
            .collect();
        let clusters: Vec<u64> = (0..n).map(|i| (i / 4) as u64).collect();
        let a = cluster_bootstrap(&labels, &scores, &clusters, 200, 1).unwrap();
        let b = cluster_bootstrap(&labels, &scores, &clusters, 200, 1).unwrap();
        assert_eq!(a, b);
        let (auc, ap) = a;
        assert!(auc.low <= auc.estimate && auc.estimate <= auc.high);
        assert!(ap.low < ap.high);
        assert_eq!(auc.resamples, 200);
        let other = cluster_bootstrap(&labels, &scores, &clusters, 200, 2).unwrap();
        assert_ne!(other.0.low, auc.low);
    }

    #[test]
    fn a_weighted_walk_equals_the_metrics_of_the_copied_rows() {
        // One resample by hand: draw the clusters with the same generator, copy their rows,
        // and compare with the interval of a single resample (low = high = that value).
        let labels = [true, false, false, true, false, true, false, false];
        let scores = [0.9, 0.8, 0.8, 0.7, 0.5, 0.5, 0.2, 0.1];
        let clusters = [0u64, 0, 1, 1, 2, 2, 3, 3];
        for seed in 0..20 {
            let mut rng = seeded_rng(seed);
            let (mut l, mut s) = (Vec::new(), Vec::new());
            for _ in 0..4 {
                let c = uniform_below(&mut rng, 4);
                for i in 0..8 {
                    if clusters[i] == c {
                        l.push(labels[i]);
                        s.push(scores[i]);
                    }
                }
            }
            let (auc, ap) = cluster_bootstrap(&labels, &scores, &clusters, 1, seed).unwrap();
            match (roc_auc(&l, &s), average_precision(&l, &s)) {
                (Ok(a), Ok(p)) => {
                    assert!(
                        (auc.low - a).abs() < 1e-12,
                        "seed {seed}: {} vs {a}",
                        auc.low
                    );
                    assert!((ap.low - p).abs() < 1e-12, "seed {seed}: {} vs {p}", ap.low);
                }
                _ => assert_eq!(auc.resamples, 0),
            }
        }
    }

    /// `n` rows, a positive every `every`, clusters of `size` consecutive rows: labels, an
    /// informative model A (positives lifted by 0.4), an uninformative B, the clusters.
    fn two_models(
        n: usize,
        every: usize,
        size: usize,
    ) -> (Vec<bool>, Vec<f64>, Vec<f64>, Vec<u64>) {
        let labels: Vec<bool> = (0..n).map(|i| i % every == 0).collect();
        let a: Vec<f64> = (0..n)
            .map(|i| ((i * 37) % 101) as f64 / 101.0 + if i % every == 0 { 0.4 } else { 0.0 })
            .collect();
        let b: Vec<f64> = (0..n).map(|i| ((i * 53) % 97) as f64 / 97.0).collect();
        let clusters: Vec<u64> = (0..n).map(|i| (i / size) as u64).collect();
        (labels, a, b, clusters)
    }

    #[test]
    fn the_paired_cluster_bootstrap_shares_the_draws_of_the_single_one() {
        let (labels, a, b, clusters) = two_models(300, 9, 5);
        // A model against itself: every difference is zero.
        let same = paired_cluster_bootstrap(&labels, &a, &a, &clusters, 100, 3).unwrap();
        assert_eq!(
            same.roc_auc,
            PairedInterval {
                estimate: 0.0,
                low: 0.0,
                high: 0.0
            }
        );
        assert_eq!(same.resamples, 100);
        // One resample: the difference of the single bootstraps with the same seed (same draws).
        for seed in 0..10 {
            let d = paired_cluster_bootstrap(&labels, &a, &b, &clusters, 1, seed).unwrap();
            let (auc_a, ap_a) = cluster_bootstrap(&labels, &a, &clusters, 1, seed).unwrap();
            let (auc_b, ap_b) = cluster_bootstrap(&labels, &b, &clusters, 1, seed).unwrap();
            assert_eq!(d.roc_auc.low, auc_a.low - auc_b.low);
            assert_eq!(d.pr_auc.high, ap_a.high - ap_b.high);
            assert_eq!(d.roc_auc.estimate, auc_a.estimate - auc_b.estimate);
        }
        // Negative control: the informative model beats the uninformative one on every draw.
        let d = paired_cluster_bootstrap(&labels, &a, &b, &clusters, 200, 1).unwrap();
        assert!(d.roc_auc.low > 0.0 && d.roc_auc.low <= d.roc_auc.estimate);
        // Both on one walk: A's intervals are the single bootstrap's, the differences the
        // paired one's; without B, no paired part.
        let (auc_a, ap_a, paired) =
            cluster_bootstrap_against(&labels, &a, Some(&b), &clusters, 200, 1).unwrap();
        assert_eq!(
            (auc_a, ap_a),
            cluster_bootstrap(&labels, &a, &clusters, 200, 1).unwrap()
        );
        assert_eq!(paired, Some(d));
        let alone = cluster_bootstrap_against(&labels, &a, None, &clusters, 200, 1).unwrap();
        assert_eq!((alone.0, alone.1, alone.2), (auc_a, ap_a, None));
        let r = paired_cluster_bootstrap(&labels, &b, &a, &clusters, 200, 1).unwrap();
        assert_eq!(r.roc_auc.high, -d.roc_auc.low);
        assert!(paired_cluster_bootstrap(&labels, &a, &b[1..], &clusters, 10, 1).is_err());
    }

    #[test]
    fn several_models_on_one_set_of_draws_are_each_one_alone() {
        let n = 400;
        // Positives in the first two of ten clusters only.
        let labels: Vec<bool> = (0..n).map(|i| i % 11 == 0 && i < 80).collect();
        let model = |m: usize| -> Vec<f64> {
            (0..n)
                .map(|i| {
                    ((i * (31 + 6 * m)) % 89) as f64 / 89.0
                        + if i % 11 == 0 { 0.1 * m as f64 } else { 0.0 }
                })
                .collect()
        };
        let (a, b, c) = (model(0), model(1), model(2));
        let peer = model(3);
        // Few clusters: some resamples hold one class only and are skipped by every model.
        let clusters: Vec<u64> = (0..n).map(|i| (i / 40) as u64).collect();
        for peer in [Some(&peer[..]), None] {
            let joint =
                cluster_bootstrap_models(&labels, &[&a, &b, &c], peer, &clusters, 150, 7).unwrap();
            assert_eq!(joint.len(), 3);
            assert!(joint[0].0.resamples < 150, "{}", joint[0].0.resamples);
            for (got, scores) in joint.iter().zip([&a, &b, &c]) {
                let alone =
                    cluster_bootstrap_against(&labels, scores, peer, &clusters, 150, 7).unwrap();
                assert_eq!(got, &alone);
                assert_eq!(got.2.is_some(), peer.is_some());
            }
        }
        assert!(cluster_bootstrap_models(&labels, &[&a, &b[1..]], None, &clusters, 5, 1).is_err());
    }

    /// Every resample of a round through `walk_lanes`, in order.
    fn lanes(round: &Round, walk: &[Block]) -> Vec<Option<(f64, f64)>> {
        (0..round.size.div_ceil(LANES))
            .flat_map(|g| round.walk_lanes(walk, false, g * LANES))
            .collect()
    }

    #[test]
    fn the_rounds_and_the_threads_change_no_bit() {
        // 137 resamples: two full rounds and a partial one, whose last lanes are empty.
        let resamples = 2 * ROUND + 9;
        let (labels, a, b, clusters) = two_models(600, 13, 3);
        let resampler = ClusterResampler::new(&clusters);
        let walk = blocks(&descending_order(&a), &a, &labels, &resampler.cluster_of);
        // The reference: one resample after another from one generator, walked at once.
        let mut rng = seeded_rng(5);
        let count = resampler.count;
        let expected: Vec<_> = (0..resamples)
            .map(|_| {
                let mut draws = vec![0u32; count];
                for _ in 0..count {
                    draws[uniform_below(&mut rng, count as u64) as usize] += 1;
                }
                resampled_auc_ap(&walk, &draws)
            })
            .collect();
        let aucs: Vec<f64> = expected.iter().flatten().map(|v| v.0).collect();
        let mut whole = Vec::new();
        for threads in [1, 2, 5] {
            let pool = glassbox_core::threads::build_pool(threads).unwrap();
            let got = pool.install(|| resampler.run(resamples, 5, |round| lanes(round, &walk)));
            assert_eq!(got, expected, "{threads} thread(s)");
            let both = pool.install(|| {
                cluster_bootstrap_against(&labels, &a, Some(&b), &clusters, resamples, 5)
            });
            whole.push(both.unwrap());
        }
        let (low, high, used) = percentile_interval(aucs);
        assert_eq!(
            (whole[0].0.low, whole[0].0.high, whole[0].0.resamples),
            (low, high, used)
        );
        assert!(whole.iter().all(|w| w == &whole[0]));
        // The u64 counts (taken when a block's count could pass 2³²) give the same values.
        assert!(!needs_u64(&walk, count));
        let big: Vec<Block> = vec![vec![(0, 1 << 20, 3)]];
        assert!(needs_u64(&big, 1 << 12) && !needs_u64(&big, (1 << 12) - 1));
        let wide = resampler.run(resamples, 5, |round| {
            (0..round.size.div_ceil(LANES))
                .flat_map(|g| round.walk_lanes_in::<u64>(&walk, g * LANES))
                .collect()
        });
        assert_eq!(wide, expected);
        // Negative control: another seed draws other resamples.
        let other = resampler.run(resamples, 6, |round| lanes(round, &walk));
        assert_ne!(other, expected);
    }
}
