//! Data-parallel training over a set of processes (notes/distributed.md): the transport
//! ([`Collective`], implemented over MPI by the app behind its `mpi` feature) and the step
//! every process runs ([`distributed_step`]).
//!
//! Every process holds the model and the whole batch's rows, computes the forward pass and
//! the shard partials (T11) of its own consecutive shards only, and the partials are added
//! in shard order — exactly the sum [`crate::train_step`] forms in one process — so every
//! weight after every step has the same bits whatever the number of processes.

use std::sync::Arc;

use glassbox_core::{Float, Mlp, Mode, Rng, ShardPlan};
use ndarray::{Array2, ArrayView2, s};

use crate::Optimizer;
use crate::batching::Batch;
use crate::trainer::step::{
    LossReads, StepBuffers, apply_update, clip_or_norm, loss_failed, upstream,
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
    /// Added in shard order along the ranks (a chain), then broadcast: the bits of one
    /// process.
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
    gathered: Array2<T>,
    /// ∂L/∂output for the whole batch (B, O).
    d_out: Array2<T>,
    /// This rank's shard partials, one block of `num_params` each.
    partials: Vec<T>,
}

impl<T: Float> ShardBuffers<T> {
    pub(crate) fn new(batch_size: usize, outputs: usize) -> Self {
        ShardBuffers {
            gathered: Array2::zeros((batch_size, outputs)),
            d_out: Array2::zeros((batch_size, outputs)),
            partials: Vec::new(),
        }
    }
}

/// One training step of [`crate::train_step`] (without privacy or dropout, which the trainer
/// refuses for distributed runs), shared by the ranks of `dist`: forward over this rank's
/// shards' rows; the output the loss reads gathered from every rank, so every rank computes
/// the whole batch's loss and ∂L/∂output as one process does; the partials of this rank's
/// shards (T11); their sum (`dist.reduce`); clipping and the update, the same on every rank.
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
    let params = mlp.num_params();
    shard_bufs.partials.resize(mine.len() * params, T::zero());
    let reads = buffers.reads();
    let o = shard_bufs.gathered.ncols();
    let ws = buffers.workspace();
    let fwd = mlp.forward(batch.x.slice(s![rows.clone(), ..]), Mode::Train(rng), ws);
    {
        let read = match reads {
            LossReads::Logits => fwd.logits(),
            LossReads::Output => fwd.output(),
        };
        let local = read.as_standard_layout();
        let counts: Vec<usize> = (0..ranks)
            .map(|r| plan.rows_of(plan.shards_of_rank(r, ranks)).len() * o * size_of::<T>())
            .collect();
        let all = shard_bufs
            .gathered
            .as_slice_mut()
            .expect("a fresh array is contiguous");
        let local = local.as_slice().expect("standard layout");
        coll.all_gather(
            float_bytes(local),
            float_bytes_mut(&mut all[..n * o]),
            &counts,
        );
    }
    let out: ArrayView2<'_, T> = shard_bufs.gathered.slice(s![..n, ..]);
    let mut d_a = shard_bufs.d_out.slice_mut(s![..n, ..]);
    d_a.fill(T::zero());
    let loss = config
        .loss
        .compute(out, batch.y, batch.weights, Some(d_a.view_mut()));
    if !loss.is_finite() {
        return Err(loss_failed(loss));
    }
    let d_mine = shard_bufs.d_out.slice(s![rows, ..]);
    mlp.shard_gradients(
        fwd,
        upstream(reads, d_mine),
        plan,
        mine.clone(),
        &mut shard_bufs.partials,
    );
    let grads = mlp.grads_mut();
    match dist.reduce {
        Reduce::Exact => exact_sum(coll, plan, &shard_bufs.partials, grads),
        Reduce::Fast => {
            fold_into(&shard_bufs.partials, grads, true);
            coll.all_reduce_sum(float_bytes_mut(grads), size_of::<T>() == 4);
        }
    }
    let grad_norm = clip_or_norm(config.clip_norm, mlp.grads_mut());
    apply_update(mlp, optimizer, lr, loss, grad_norm)
}

/// `grads ← grads + P` for every block P of `partials`, in order; the first block is copied
/// when `start` (zeros when there is none).
fn fold_into<T: Float>(partials: &[T], grads: &mut [T], start: bool) {
    let mut blocks = partials.chunks_exact(grads.len());
    if start {
        match blocks.next() {
            Some(first) => grads.copy_from_slice(first),
            None => grads.fill(T::zero()),
        }
    }
    for block in blocks {
        for (g, &p) in grads.iter_mut().zip(block) {
            *g += p; // the GEMM's β = 1 update `fma(1, c, acc)` is this one rounding
        }
    }
}

/// (T11) `((P₀ + P₁) + …) + P_{S−1}` across the ranks: the first rank holding shards starts
/// from its first partial, each rank adds its own partials in order and passes the running
/// sum to the next rank holding shards; the last broadcasts the gradient to every rank.
fn exact_sum<T: Float>(coll: &dyn Collective, plan: ShardPlan, partials: &[T], grads: &mut [T]) {
    let (rank, ranks) = (coll.rank(), coll.size());
    let owners: Vec<usize> = (0..ranks)
        .filter(|&r| !plan.shards_of_rank(r, ranks).is_empty())
        .collect();
    let at = owners.iter().position(|&r| r == rank);
    if let Some(i) = at {
        if i > 0 {
            coll.recv(owners[i - 1], float_bytes_mut(grads));
        }
        fold_into(partials, grads, i == 0);
        if i + 1 < owners.len() {
            coll.send(owners[i + 1], float_bytes(grads));
        }
    }
    let last = *owners.last().expect("a batch has at least one shard");
    coll.broadcast(last, float_bytes_mut(grads));
}
