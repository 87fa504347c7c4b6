//! The weight gradient split by units across ranks (T12, notes/distributed.md §2): every
//! rank computes the δ of its own rows, the ranks exchange δ and the layers' outputs, and
//! rank r then computes the gradient of its block of units of every layer over the **whole
//! batch**, each element by the one-process chain — the shards' partials (T11) folded in
//! shard order by the same GEMM calls, on fewer rows of C (a GEMM's element does not depend
//! on the block of C it is computed in, notes/gemm.md §3). No partial crosses a process.

use std::ops::Range;

use ndarray::{ArrayView2, ArrayViewMut1, s};

use super::{Forward, Mlp, Upstream, Workspace, backward_deltas};
use crate::layer::{GradWrite, mat_mut};
use crate::{Float, ShardPlan, dense_backward_params, units_of_rank};

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
        assert_eq!(
            self.num_input_layers(),
            0,
            "mlp: the split by units (T12) does not cover input layers of tables"
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
    /// shards as T11) from the whole batch: `x` its input (B, D), `outputs[l]` layer l's
    /// output (B, Hₗ) for every layer but the last, `deltas[l]` layer l's δ (B, Hₗ). The
    /// other units' gradients are left alone. Each element gets the bits
    /// [`Mlp::backward_sharded`] gives it.
    ///
    /// # Panics
    /// If the shapes do not match the network and `plan`, or the network has input layers.
    pub fn unit_gradients(
        &mut self,
        x: ArrayView2<'_, T>,
        outputs: &[ArrayView2<'_, T>],
        deltas: &[ArrayView2<'_, T>],
        plan: ShardPlan,
        rank: usize,
        ranks: usize,
    ) {
        self.assert_dense_only();
        let count = self.layers.len();
        assert!(
            outputs.len() + 1 == count && deltas.len() == count,
            "mlp: {} outputs and {} deltas for {count} layers",
            outputs.len(),
            deltas.len()
        );
        for (l, layer) in self.layers.iter().enumerate() {
            let (d, h) = (layer.inputs(), layer.outputs());
            let units = units_of_rank(h, rank, ranks);
            if units.is_empty() {
                continue;
            }
            let input = if l == 0 { x } else { outputs[l - 1] };
            let delta = deltas[l];
            assert_eq!(input.dim(), (plan.rows(), d), "mlp: layer {l}'s input");
            assert_eq!(delta.dim(), (plan.rows(), h), "mlp: layer {l}'s δ");
            let (theta, bias) = self.grads[layer.params()].split_at_mut(h * d);
            let theta = &mut theta[units.start * d..units.end * d];
            let bias = &mut bias[units.clone()];
            for s in 0..plan.count() {
                let rows = plan.shard(s);
                let write = if s == 0 {
                    GradWrite::Overwrite
                } else {
                    GradWrite::Accumulate
                };
                dense_backward_params(
                    input.slice(s![rows.clone(), ..]),
                    delta.slice(s![rows, units.clone()]),
                    mat_mut(theta, units.len(), d),
                    ArrayViewMut1::from(&mut *bias),
                    write,
                ); // B4, B5 on the units' rows of Θ and b
            }
        }
    }
}
