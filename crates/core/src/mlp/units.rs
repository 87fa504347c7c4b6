//! The weight gradient split by units across ranks (T12, notes/distributed.md §2): every
//! rank computes the δ of its own rows, the ranks exchange δ and the layers' outputs, and
//! rank r then computes the gradient of its block of units of every layer over the **whole
//! batch**, each element by the one-process chain — the shards' partials (T11) folded in
//! shard order by the same GEMM calls, on fewer rows of C (a GEMM's element does not depend
//! on the block of C it is computed in, notes/gemm.md §3). No partial crosses a process.

use std::ops::Range;

use ndarray::{ArrayView1, ArrayView2, ArrayViewMut1};

use super::{Forward, Mlp, Upstream, Workspace, backward_deltas};
use crate::layer::{GradWrite, Layer, mat_mut};
use crate::{Float, ShardPlan, dense_backward_params, units_of_rank, wide_backward_params};

/// Every layer's δ = ∂L/∂Z and output for the rows of one forward pass ([`Mlp::deltas`]):
/// what a rank contributes to the others' unit gradients.
#[derive(Debug)]
pub struct Deltas<'a, T: Float> {
    ws: &'a Workspace<T>,
}

impl<'a, T: Float> Deltas<'a, T> {
    /// The pass's rows N.
    pub fn rows(&self) -> usize {
        self.ws.rows
    }

    /// δ of layer `l`, (N, Hₗ).
    pub fn delta(&self, l: usize) -> ArrayView2<'a, T> {
        let ws: &'a Workspace<T> = self.ws;
        ws.layers[l].grad(ws.rows)
    }

    /// The output of layer `l`, the input of layer `l + 1`, (N, Hₗ).
    pub fn output(&self, l: usize) -> ArrayView2<'a, T> {
        let ws: &'a Workspace<T> = self.ws;
        ws.layers[l].output(ws.rows)
    }
}

/// A consecutive piece of the parameter vector whose gradient and update one rank owns
/// (T12): the rows of Θₗ or the entries of bₗ of that rank's units of layer `tensor / 2`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// The piece, in [`Mlp::params`] indices.
    pub params: Range<usize>,
    /// The rank owning it.
    pub rank: usize,
    /// The tensor it is a piece of, in [`Mlp::tensors`] order (Θ₀, b₀, Θ₁, …).
    pub tensor: usize,
}

impl<T: Float> Mlp<T> {
    /// The unit split (T12) knows Dense layers only.
    fn assert_dense_only(&self) {
        assert!(
            self.layers.iter().all(|l| matches!(l, Layer::Dense(_))) && self.wide.is_none(),
            "mlp: the split by units (T12) covers Dense layers only, not the layers of tables \
             or the wide term"
        );
    }

    /// Every layer's δ for the rows of `fwd` (B20b–B20d without the parameter products); the
    /// parameter gradients are left alone.
    ///
    /// # Panics
    /// If the upstream gradient is not (N, O).
    pub fn deltas<'a>(&self, fwd: Forward<'a, T>, upstream: Upstream<'_, T>) -> Deltas<'a, T> {
        let (_, ws) = backward_deltas(&self.layers, &self.params, fwd, upstream);
        Deltas { ws }
    }

    /// (T12) The parameter vector cut among `ranks` ranks: for every layer, Θ's rows of each
    /// rank's units in rank order, then b's entries of them; in [`Mlp::params`] order, empty
    /// pieces left out.
    ///
    /// # Panics
    /// If the network has input layers of tables (N10): their parameters are not cut by units.
    pub fn unit_segments(&self, ranks: usize) -> Vec<Segment> {
        self.assert_dense_only();
        let mut out = Vec::new();
        for (l, layer) in self.layers.iter().enumerate() {
            let (start, d, h) = (layer.params().start, layer.inputs(), layer.outputs());
            for (tensor, base, width) in [(2 * l, start, d), (2 * l + 1, start + h * d, 1)] {
                for rank in 0..ranks {
                    let units = units_of_rank(h, rank, ranks);
                    if !units.is_empty() {
                        let params = base + units.start * width..base + units.end * width;
                        out.push(Segment {
                            params,
                            rank,
                            tensor,
                        });
                    }
                }
            }
        }
        out
    }

    /// (T12) Writes the gradient of rank `rank`'s units of every layer (B4, B5, summed by
    /// shards as T11) from the whole batch: `rows(l, s)` gives layer l's input (rows of shard
    /// s, Dₗ) and δ restricted to this rank's units (rows of shard s, |Jᵣ|), wherever the
    /// transport left them (notes/distributed.md §2). The other units' gradients are left
    /// alone. Each element gets the bits [`Mlp::backward_sharded`] gives it.
    ///
    /// # Panics
    /// If the views do not fit the network, the shard or the rank's units, or the network has
    /// input layers.
    pub fn unit_gradients<'v>(
        &mut self,
        plan: ShardPlan,
        rank: usize,
        ranks: usize,
        rows: impl Fn(usize, usize) -> (ArrayView2<'v, T>, ArrayView2<'v, T>),
    ) where
        T: 'v,
    {
        self.unit_gradients_of(plan, (rank, ranks), 0..plan.count(), rows);
    }

    /// (T16) [`Mlp::unit_gradients`] for shards `shards` only, continuing the fold: shard 0
    /// writes, every later shard adds its partial (the GEMM's β = 1). Calls over consecutive
    /// ranges `0..a`, `a..b`, …, `..S` give [`Mlp::unit_gradients`]' bits, since each layer's
    /// fold still meets the shards in order — so a rank may fold a block of shards as soon as
    /// their rows arrive (notes/distributed.md §2).
    ///
    /// # Panics
    /// As [`Mlp::unit_gradients`].
    pub fn unit_gradients_of<'v>(
        &mut self,
        plan: ShardPlan,
        (rank, ranks): (usize, usize),
        shards: Range<usize>,
        rows: impl Fn(usize, usize) -> (ArrayView2<'v, T>, ArrayView2<'v, T>),
    ) where
        T: 'v,
    {
        self.assert_dense_only();
        for (l, layer) in self.layers.iter().enumerate() {
            let (d, h) = (layer.inputs(), layer.outputs());
            let units = units_of_rank(h, rank, ranks);
            if units.is_empty() {
                continue;
            }
            let (theta, bias) = self.grads[layer.params()].split_at_mut(h * d);
            let theta = &mut theta[units.start * d..units.end * d];
            let bias = &mut bias[units.clone()];
            for s in shards.clone() {
                let (input, delta) = rows(l, s);
                let n = plan.shard(s).len();
                assert_eq!(input.dim(), (n, d), "mlp: layer {l}'s input, shard {s}");
                assert_eq!(
                    delta.dim(),
                    (n, units.len()),
                    "mlp: layer {l}'s δ, shard {s}"
                );
                let write = if s == 0 {
                    GradWrite::Overwrite
                } else {
                    GradWrite::Accumulate
                };
                dense_backward_params(
                    input,
                    delta,
                    mat_mut(theta, units.len(), d),
                    ArrayViewMut1::from(&mut *bias),
                    write,
                ); // B4, B5 on the units' rows of Θ and b
            }
        }
    }

    /// [`Mlp::backward_sharded`] for a pass over the rows of shards `shards` only (one
    /// rank's, `--reduce fast`): the gradients **written** as the fold of those shards'
    /// partials in shard order, by the GEMM's β = 1 (no partial buffers); zeros when
    /// `shards` is empty.
    ///
    /// # Panics
    /// If the upstream gradient is not (N, O) or the shards' rows are not the pass's rows.
    pub fn backward_shards(
        &mut self,
        fwd: Forward<'_, T>,
        upstream: Upstream<'_, T>,
        plan: ShardPlan,
        shards: Range<usize>,
    ) {
        let rows = fwd.rows();
        let mine = plan.rows_of(shards.clone());
        assert_eq!(
            mine.len(),
            rows,
            "mlp: shards {shards:?} hold rows {mine:?}"
        );
        if shards.is_empty() {
            self.grads.fill(T::zero());
            return;
        }
        let (x, ws) = backward_deltas(&self.layers, &self.params, fwd, upstream);
        for (l, layer) in self.layers.iter().enumerate() {
            let input = if l == 0 {
                x.view()
            } else {
                ws.layers[l - 1].output(rows)
            };
            for (local, write) in shard_passes(plan, shards.clone(), mine.start) {
                let grads = &mut self.grads[layer.params()];
                layer.param_gradients_rows(grads, write, input, &ws.layers[l], local);
            }
        }
        if let (Some(wide), Some(top)) = (self.wide, ws.layers.last()) {
            for (local, write) in shard_passes(plan, shards.clone(), mine.start) {
                let d_w = wide.weight_mut(&mut self.grads);
                wide_backward_params(x, top.grad(rows), d_w, write, local); // B28 per shard
            }
        }
    }

    /// (T13) The partial sums of squares of rank `rank`'s units' gradients, in its segment
    /// order ([`Mlp::unit_segments`]): for every layer, one [`square_sum`] per row of Θ of
    /// its units, then one per entry of b. `out` is cleared first.
    pub fn unit_square_sums(&self, rank: usize, ranks: usize, out: &mut Vec<f64>) {
        self.assert_dense_only();
        out.clear();
        for layer in &self.layers {
            let (d, h) = (layer.inputs(), layer.outputs());
            let units = units_of_rank(h, rank, ranks);
            let (theta, bias) = self.grads[layer.params()].split_at(h * d);
            let theta = &theta[units.start * d..units.end * d];
            out.extend(theta.chunks_exact(d.max(1)).map(square_sum));
            out.extend(bias[units].iter().map(|&g| square_sum(&[g])));
        }
    }

    /// (T13) `‖g‖²` from every rank's [`Mlp::unit_square_sums`], concatenated in rank order
    /// (`all`): the partials added in parameter order, as [`Mlp::grad_norm`] adds them.
    ///
    /// # Panics
    /// If `all` does not hold every rank's partials.
    pub fn fold_unit_squares(&self, ranks: usize, all: &[f64]) -> f64 {
        let units = |l: usize, r: usize| units_of_rank(self.layers[l].outputs(), r, ranks).len();
        let layers = self.layers.len();
        let held = |r: usize| (0..layers).map(|l| 2 * units(l, r)).sum::<usize>();
        assert_eq!(
            all.len(),
            (0..ranks).map(held).sum::<usize>(),
            "mlp: unit partials"
        );
        let mut sum = 0.0f64;
        for l in 0..layers {
            for piece in 0..2 {
                // Θₗ's rows of every rank in rank order, then bₗ's entries.
                let mut block = 0;
                for r in 0..ranks {
                    let before: usize = (0..l).map(|k| 2 * units(k, r)).sum();
                    let at = block + before + piece * units(l, r);
                    for &q in &all[at..at + units(l, r)] {
                        sum += q;
                    }
                    block += held(r);
                }
            }
        }
        sum
    }

    /// (T13, O14) `‖g‖` of the parameter gradients: the partial sum of squares of each unit's
    /// row of Θ and of each entry of b ([`square_sum`]), added in parameter order in `f64` —
    /// the sum N ranks form from their units' partials ([`Mlp::fold_unit_squares`]) without
    /// a chain along the ranks. An input layer of tables (N10) adds one partial over its whole
    /// slice.
    pub fn grad_norm(&self) -> f64 {
        let mut sum = 0.0f64;
        for layer in &self.layers {
            if !matches!(layer, Layer::Dense(_)) {
                // The input layers of tables (N10) are not cut by units: one partial over
                // the layer's whole slice.
                sum += square_sum(&self.grads[layer.params()]);
                continue;
            }
            let (d, h) = (layer.inputs(), layer.outputs());
            let (theta, bias) = self.grads[layer.params()].split_at(h * d);
            for row in theta.chunks_exact(d.max(1)) {
                sum += square_sum(row);
            }
            for &g in bias {
                sum += square_sum(&[g]);
            }
        }
        if let Some(wide) = self.wide {
            // B27's W, one partial over its whole slice, after the layers.
            sum += square_sum(&self.grads[wide.params()]);
        }
        sum.sqrt()
    }
}

/// The passes of [`Mlp::backward_shards`] over shards `shards`, in shard order: each shard's
/// rows relative to the first row `start` of the pass, and how its partial lands — written
/// by the first shard, added by the others (T11).
fn shard_passes(
    plan: ShardPlan,
    shards: Range<usize>,
    start: usize,
) -> impl Iterator<Item = (Range<usize>, GradWrite)> {
    let first = shards.start;
    shards.map(move |s| {
        let shard = plan.shard(s);
        let write = if s == first {
            GradWrite::Overwrite
        } else {
            GradWrite::Accumulate
        };
        (shard.start - start..shard.end - start, write)
    })
}

/// (T13) `Σᵢ gᵢ²` of one unit's piece of the gradient in `f64`: the eight-lane sum of (P19),
/// [`crate::dense::sum_of_squares`] (entry i to lane i mod 8 in index order, then
/// `((s₀ + s₁) + (s₂ + s₃)) + ((s₄ + s₅) + (s₆ + s₇))`) — a fixed order, the same bits on every
/// ISA and thread count, whose eight independent chains run about four times faster than one.
/// Of one entry it is g² exactly.
pub fn square_sum<T: Float>(g: &[T]) -> f64 {
    crate::dense::sum_of_squares(ArrayView1::from(g))
}
