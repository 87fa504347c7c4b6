//! Data-parallel training over a set of processes (notes/distributed.md): the transport
//! ([`Collective`], implemented over MPI by the app behind its `mpi` feature) and the step
//! every process runs ([`distributed_step`]).
//!
//! Every process holds the model and the whole batch's rows and computes the forward pass
//! and the δ of its own consecutive shards' rows (T11). With the exact reduction the ranks
//! then exchange δ and the layers' outputs, and each computes the gradient of its own units
//! of every layer over the whole batch by the one-process chain (T12), its clipping and its
//! update, before the weights are all-gathered; no partial sum crosses a process, so every
//! weight after every step has the bits [`crate::train_step`] gives it in one process,
//! whatever the number of processes.

use std::sync::Arc;

use glassbox_core::{Deltas, Float, Mlp, Mode, Rng, Segment, ShardPlan};
use ndarray::{Array2, ArrayView2, s};

use crate::Optimizer;
use crate::batching::Batch;
use crate::clip::{add_squares, clip_coefficient};
use crate::trainer::step::{
    LossReads, StepBuffers, apply_update, clip_or_norm, loss_failed, norm_is_finite, upstream,
};
use crate::trainer::{NonFiniteStep, StepOutcome, TrainConfig};

/// The collective operations data-parallel training needs, on raw bytes, between `size()`
/// processes. Every process calls the same operations in the same order. A failure of the
/// transport is fatal to every process (MPI's default error handler).
pub trait Collective: Send + Sync + std::fmt::Debug {
    /// This process's rank, `0..size()`.
    fn rank(&self) -> usize;
    /// The number of processes.
    fn size(&self) -> usize;
    /// Rank r's `send` (`counts[r]` bytes) lands at offset `Σ_{q<r} counts[q]` of `recv`, on
    /// every rank.
    fn all_gather(&self, send: &[u8], recv: &mut [u8], counts: &[usize]);
    /// Sends `data` to rank `to`.
    fn send(&self, to: usize, data: &[u8]);
    /// Receives `data.len()` bytes from rank `from`.
    fn recv(&self, from: usize, data: &mut [u8]);
    /// Rank `root`'s `data` onto every rank.
    fn broadcast(&self, root: usize, data: &mut [u8]);
    /// Elementwise sum over the ranks, in the transport's own order (not fixed): `f32`
    /// values when `f32` is true, else `f64`.
    fn all_reduce_sum(&self, data: &mut [u8], f32: bool);
}

/// How the shard partials become the gradient (notes/distributed.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reduce {
    /// Every rank computes its own units' gradients over the whole batch by the one-process
    /// chain (T12), updates them and all-gathers the weights: the bits of one process.
    Exact,
    /// Each rank's partials added in order, then one `MPI_Allreduce`: its order depends on
    /// the transport and the number of ranks, so the last bits may differ.
    Fast,
}

/// A trainer's link to the other processes.
#[derive(Debug, Clone)]
pub struct Distributed {
    /// The transport.
    pub collective: Arc<dyn Collective>,
    /// How partials are combined.
    pub reduce: Reduce,
}

/// The bytes of a slice of floats.
pub fn float_bytes<T: Float>(v: &[T]) -> &[u8] {
    // SAFETY: `Float` is implemented for f32 and f64 only: plain data, no padding, every
    // byte initialised; the length is the slice's size in bytes.
    unsafe { std::slice::from_raw_parts(v.as_ptr().cast::<u8>(), std::mem::size_of_val(v)) }
}

/// The bytes of a mutable slice of floats.
pub fn float_bytes_mut<T: Float>(v: &mut [T]) -> &mut [u8] {
    // SAFETY: as `float_bytes`; every bit pattern is a valid f32 / f64.
    unsafe { std::slice::from_raw_parts_mut(v.as_mut_ptr().cast::<u8>(), std::mem::size_of_val(v)) }
}

/// The buffers of [`distributed_step`] beyond [`StepBuffers`].
#[derive(Debug)]
pub(crate) struct ShardBuffers<T: Float> {
    /// The network's output the loss reads, for the whole batch (B, O).
    gathered: Vec<T>,
    /// ∂L/∂output for the whole batch (B, O).
    d_out: Array2<T>,
    /// This rank's shard partials, one block of `num_params` each (`--reduce fast`).
    partials: Vec<T>,
    /// Every layer's δ (B, Hₗ) for the whole batch (exact).
    deltas: Vec<Vec<T>>,
    /// Every layer's output but the last (B, Hₗ) for the whole batch (exact).
    outputs: Vec<Vec<T>>,
    /// The pieces of the parameters each rank owns (T12), once known.
    segments: Vec<Segment>,
    /// This rank's piece of a tensor, sent in an all-gather.
    send: Vec<T>,
}

impl<T: Float> ShardBuffers<T> {
    pub(crate) fn new(batch_size: usize, outputs: usize) -> Self {
        ShardBuffers {
            gathered: Vec::new(),
            d_out: Array2::zeros((batch_size, outputs)),
            partials: Vec::new(),
            deltas: Vec::new(),
            outputs: Vec::new(),
            segments: Vec::new(),
            send: Vec::new(),
        }
    }
}

/// One training step of [`crate::train_step`] (without privacy or dropout, which the trainer
/// refuses for distributed runs), shared by the ranks of `dist`: forward over this rank's
/// shards' rows; the output the loss reads gathered from every rank, so every rank computes
/// the whole batch's loss and ∂L/∂output as one process does; then, exact, the unit split
/// ([`unit_split_update`], T12), or, fast, the partials of this rank's shards (T11) summed by
/// an all-reduce, and clipping and the update on every rank.
///
/// # Errors
/// As [`crate::train_step`]: every rank sees the same loss and norm, so all stop together.
#[allow(clippy::too_many_arguments)]
pub(crate) fn distributed_step<T: Float>(
    config: &TrainConfig,
    mlp: &mut Mlp<T>,
    optimizer: &mut Optimizer<T>,
    rng: &mut Rng,
    batch: Batch<'_, T>,
    buffers: &mut StepBuffers<T>,
    shard_bufs: &mut ShardBuffers<T>,
    dist: &Distributed,
) -> Result<StepOutcome, NonFiniteStep> {
    let n = batch.x.nrows();
    let lr = config
        .schedule
        .lr_at(config.optimizer.lr(), optimizer.step_count() as usize);
    let coll = dist.collective.as_ref();
    let (rank, ranks) = (coll.rank(), coll.size());
    let plan = ShardPlan::for_batch(n);
    let mine = plan.shards_of_rank(rank, ranks);
    let rows = plan.rows_of(mine.clone());
    let reads = buffers.reads();
    let o = shard_bufs.d_out.ncols();
    let ws = buffers.workspace();
    let fwd = mlp.forward(batch.x.slice(s![rows.clone(), ..]), Mode::Train(rng), ws);
    let read = match reads {
        LossReads::Logits => fwd.logits(),
        LossReads::Output => fwd.output(),
    };
    let counts = row_bytes::<T>(plan, ranks, o);
    gather_rows(coll, read, &mut shard_bufs.gathered, n * o, &counts);
    let out = batch_view(&shard_bufs.gathered, n, o);
    let mut d_a = shard_bufs.d_out.slice_mut(s![..n, ..]);
    d_a.fill(T::zero());
    let loss = config
        .loss
        .compute(out, batch.y, batch.weights, Some(d_a.view_mut()));
    if !loss.is_finite() {
        return Err(loss_failed(loss));
    }
    let d_mine = shard_bufs.d_out.slice(s![rows, ..]);
    if dist.reduce == Reduce::Fast {
        let partials = &mut shard_bufs.partials;
        partials.resize(mine.len() * mlp.num_params(), T::zero());
        mlp.shard_gradients(fwd, upstream(reads, d_mine), plan, mine, partials);
        let grads = mlp.grads_mut();
        fold_into(partials, grads);
        coll.all_reduce_sum(float_bytes_mut(grads), size_of::<T>() == 4);
        let grad_norm = clip_or_norm(config.clip_norm, mlp.grads_mut());
        return apply_update(mlp, optimizer, lr, loss, grad_norm);
    }
    let deltas = mlp.deltas(fwd, upstream(reads, d_mine));
    let grad_norm = unit_split_update(
        UnitSplit {
            config,
            coll,
            plan,
            lr,
        },
        mlp,
        optimizer,
        batch.x,
        deltas,
        shard_bufs,
    )?;
    Ok(StepOutcome {
        loss,
        grad_norm,
        lr,
    })
}

/// What [`unit_split_update`] reads besides the network, its optimizer and buffers.
struct UnitSplit<'c> {
    config: &'c TrainConfig,
    coll: &'c dyn Collective,
    plan: ShardPlan,
    lr: f64,
}

/// (T12) The exact step after the δ of this rank's rows: every layer's δ and hidden output
/// all-gathered; this rank's units' gradients over the whole batch; ‖g‖ summed along the
/// ranks in parameter order; this rank's pieces clipped (O14) and updated; the weights
/// all-gathered. Returns ‖g‖ before clipping.
///
/// # Errors
/// A non-finite ‖g‖, which every rank sees alike: nothing is updated.
fn unit_split_update<T: Float>(
    step: UnitSplit<'_>,
    mlp: &mut Mlp<T>,
    optimizer: &mut Optimizer<T>,
    x: ArrayView2<'_, T>,
    deltas: Deltas<'_, T>,
    shard_bufs: &mut ShardBuffers<T>,
) -> Result<f64, NonFiniteStep> {
    let UnitSplit {
        config,
        coll,
        plan,
        lr,
    } = step;
    let (n, rank, ranks) = (plan.rows(), coll.rank(), coll.size());
    let layers = mlp.num_layers();
    let widths: Vec<usize> = (0..layers).map(|l| deltas.delta(l).ncols()).collect();
    let ShardBuffers {
        deltas: all_deltas,
        outputs: all_outputs,
        segments,
        send,
        ..
    } = shard_bufs;
    all_deltas.resize_with(layers, Vec::new);
    all_outputs.resize_with(layers - 1, Vec::new);
    for (l, &h) in widths.iter().enumerate() {
        let counts = row_bytes::<T>(plan, ranks, h);
        gather_rows(coll, deltas.delta(l), &mut all_deltas[l], n * h, &counts);
        if l + 1 < layers {
            gather_rows(coll, deltas.output(l), &mut all_outputs[l], n * h, &counts);
        }
    }
    let outs: Vec<_> = (0..layers - 1)
        .map(|l| batch_view(&all_outputs[l], n, widths[l]))
        .collect();
    let dels: Vec<_> = (0..layers)
        .map(|l| batch_view(&all_deltas[l], n, widths[l]))
        .collect();
    mlp.unit_gradients(x, &outs, &dels, plan, rank, ranks);
    if segments.is_empty() {
        *segments = mlp.unit_segments(ranks);
    }
    let mine: Vec<_> = segments
        .iter()
        .filter(|seg| seg.rank == rank)
        .map(|seg| seg.params.clone())
        .collect();
    let grad_norm = chained_norm(coll, segments, mlp.grads());
    norm_is_finite(grad_norm)?;
    if let Some(c) = config
        .clip_norm
        .and_then(|max| clip_coefficient::<T>(grad_norm, max))
    {
        let grads = mlp.grads_mut();
        for range in &mine {
            grads[range.clone()].iter_mut().for_each(|g| *g *= c); // O14
        }
    }
    let (params, grads) = mlp.params_and_grads_mut();
    optimizer.step_lr_ranges(params, grads, lr, &mine);
    gather_segments(coll, segments, params, send);
    Ok(grad_norm)
}

/// Each rank's bytes of a (B, `width`) array of the batch's rows: the rows of its shards.
fn row_bytes<T>(plan: ShardPlan, ranks: usize, width: usize) -> Vec<usize> {
    (0..ranks)
        .map(|r| plan.rows_of(plan.shards_of_rank(r, ranks)).len() * width * size_of::<T>())
        .collect()
}

/// The first n·h values of `buf` as an (n, h) array.
fn batch_view<T>(buf: &[T], n: usize, h: usize) -> ArrayView2<'_, T> {
    ArrayView2::from_shape((n, h), &buf[..n * h]).expect("n·h values were gathered")
}

/// This rank's rows `local` all-gathered into the first `len` values of `all`, every rank's
/// rows at their place in the batch.
fn gather_rows<T: Float>(
    coll: &dyn Collective,
    local: ArrayView2<'_, T>,
    all: &mut Vec<T>,
    len: usize,
    counts: &[usize],
) {
    all.resize(len.max(all.len()), T::zero());
    let local = local.as_standard_layout();
    let local = local.as_slice().expect("standard layout");
    coll.all_gather(float_bytes(local), float_bytes_mut(&mut all[..len]), counts);
}

/// (O14, T12) `‖g‖` with the squares added in parameter order, as [`crate::global_norm`]
/// adds them in one process: each rank continues the running sum over its own pieces and
/// passes it to the owner of the next piece; the owner of the last broadcasts it.
fn chained_norm<T: Float>(coll: &dyn Collective, segments: &[Segment], grads: &[T]) -> f64 {
    let rank = coll.rank();
    let mut sum = 0.0f64;
    for (i, seg) in segments.iter().enumerate() {
        if seg.rank != rank {
            continue;
        }
        if let Some(prev) = i.checked_sub(1).map(|p| segments[p].rank)
            && prev != rank
        {
            coll.recv(prev, float_bytes_mut(std::slice::from_mut(&mut sum)));
        }
        sum = add_squares(sum, &grads[seg.params.clone()]);
        if let Some(next) = segments.get(i + 1).map(|s| s.rank)
            && next != rank
        {
            coll.send(next, float_bytes(std::slice::from_ref(&sum)));
        }
    }
    let last = segments.last().map_or(0, |seg| seg.rank);
    coll.broadcast(last, float_bytes_mut(std::slice::from_mut(&mut sum)));
    sum.sqrt()
}

/// Every rank's pieces of `values` (P,) to every rank, one all-gather a tensor (a tensor's
/// pieces are consecutive, in rank order, T12).
fn gather_segments<T: Float>(
    coll: &dyn Collective,
    segments: &[Segment],
    values: &mut [T],
    send: &mut Vec<T>,
) {
    let (rank, ranks) = (coll.rank(), coll.size());
    let mut first = 0;
    while first < segments.len() {
        let tensor = segments[first].tensor;
        let end = first
            + segments[first..]
                .iter()
                .take_while(|seg| seg.tensor == tensor)
                .count();
        let pieces = &segments[first..end];
        let mut counts = vec![0; ranks];
        send.clear();
        for seg in pieces {
            counts[seg.rank] = seg.params.len() * size_of::<T>();
            if seg.rank == rank {
                send.extend_from_slice(&values[seg.params.clone()]);
            }
        }
        let whole = pieces[0].params.start..pieces[pieces.len() - 1].params.end;
        coll.all_gather(
            float_bytes(send),
            float_bytes_mut(&mut values[whole]),
            &counts,
        );
        first = end;
    }
}

/// After a fit with the exact reduction: the optimizer's state, whose pieces each rank
/// updated for its own units (T12), made whole on every rank, so that a checkpoint holds the
/// one-process state.
pub(crate) fn share_optimizer_state<T: Float>(
    dist: &Distributed,
    mlp: &Mlp<T>,
    optimizer: &mut Optimizer<T>,
) {
    if dist.reduce != Reduce::Exact {
        return;
    }
    let coll = dist.collective.as_ref();
    let segments = mlp.unit_segments(coll.size());
    let mut send = Vec::new();
    for buffer in optimizer.buffers_mut() {
        gather_segments(coll, &segments, buffer, &mut send);
    }
}

/// `grads ← P₀ + P₁ + …` for the blocks P of `partials`, in order (zeros when there is none).
fn fold_into<T: Float>(partials: &[T], grads: &mut [T]) {
    let mut blocks = partials.chunks_exact(grads.len());
    match blocks.next() {
        Some(first) => grads.copy_from_slice(first),
        None => grads.fill(T::zero()),
    }
    for block in blocks {
        for (g, &p) in grads.iter_mut().zip(block) {
            *g += p; // the GEMM's β = 1 update `fma(1, c, acc)` is this one rounding
        }
    }
}
