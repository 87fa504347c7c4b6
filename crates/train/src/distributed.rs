//! Data-parallel training over a set of processes (notes/distributed.md): the transport
//! ([`Collective`], implemented over MPI by the app behind its `mpi` feature) and the step
//! every process runs ([`distributed_step`]).
//!
//! Every process holds the model and the whole batch's rows and computes the forward pass
//! and the δ of its own consecutive shards' rows (T11). With the exact reduction the ranks
//! then exchange δ columns and hidden outputs, and each computes the gradient of its own
//! units of every layer over the whole batch by the one-process chain (T12), the norm from
//! every unit's partial sum of squares (T13), its clipping and its update, before the
//! weights are shared: three collectives after the output's all-gather (T14), which rides in
//! the first of them when each row's ∂L/∂output is its own (T17). No partial of
//! a gradient element crosses a process and every rank folds the norm's partials in one
//! order, so every weight after every step has the bits [`crate::train_step`] gives it in
//! one process, whatever the number of processes.

use std::ops::Range;
use std::sync::Arc;

use glassbox_core::{Deltas, Float, Mlp, Mode, Rng, ShardPlan};
use ndarray::{Array2, ArrayView2, s};

use crate::Optimizer;
use crate::batching::Batch;
use crate::clip::clip_coefficient;
use crate::trainer::step::{
    LossReads, StepBuffers, apply_update, clip_or_norm, loss_failed, members_loss, norm_is_finite,
    upstream,
};
use crate::trainer::{NonFiniteStep, StepOutcome, TrainConfig};

mod exchange;
use exchange::Exchange;

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
    /// (T14) One exchange between every pair of ranks, of pieces that stay where they
    /// lie: each piece of `sends` goes to its rank, each piece of `recvs` is filled from its
    /// rank. Between two ranks the pieces match one to one, in order, with equal lengths
    /// (empty ones carry nothing); none goes to or comes from this rank. A piece may be sent
    /// to several ranks; receive pieces must not overlap each other or a send piece.
    ///
    /// Pieces let a rank send values from where it computed them and receive them where
    /// they belong, with no packing before and no unpacking after (notes/distributed.md
    /// §8). The default is [`pairwise_pieces`]; a transport with nonblocking messages
    /// overrides it.
    fn all_to_all_pieces(&self, sends: &[SendPiece<'_>], recvs: &mut [RecvPiece<'_>]) {
        pairwise_pieces(self, sends, recvs);
    }

    /// (T16) [`Collective::all_to_all_pieces`], handing over what arrives as it arrives:
    /// `then(p, pieces)` runs for every rank p = 0, 1, …, `size()` − 1 in that order, as soon
    /// as every piece of `recvs` from p is complete (this rank's own turn at once: none comes
    /// from it), with those pieces; the call returns once every send and receive is
    /// complete. A rank's pieces must be consecutive in `recvs` ([`pieces_from`]).
    ///
    /// The default completes the whole exchange first. A transport with nonblocking
    /// messages lets rank p's `then` run while later ranks' pieces are on their way: the
    /// work on what has arrived fills the wait for what has not, and the order of that work
    /// — rank 0's pieces first — is the same whatever the messages' timing.
    fn all_to_all_pieces_then(
        &self,
        sends: &[SendPiece<'_>],
        recvs: &mut [RecvPiece<'_>],
        then: &mut dyn FnMut(usize, &[RecvPiece<'_>]),
    ) {
        self.all_to_all_pieces(sends, recvs);
        for p in 0..self.size() {
            then(p, &recvs[pieces_from(recvs, p)]);
        }
    }
}

/// The indices in `recvs` of the pieces from rank `rank`: consecutive, as
/// [`Collective::all_to_all_pieces_then`] requires (an empty range where there are none).
pub fn pieces_from(recvs: &[RecvPiece<'_>], rank: usize) -> Range<usize> {
    let start = recvs
        .iter()
        .position(|p| p.rank == rank)
        .unwrap_or(recvs.len());
    let len = recvs[start..].iter().take_while(|p| p.rank == rank).count();
    debug_assert!(
        recvs[start + len..].iter().all(|p| p.rank != rank),
        "a rank's receive pieces are consecutive"
    );
    start..start + len
}

/// A piece of [`Collective::all_to_all_pieces`] sent from where it lies: `bytes` to rank
/// `rank`.
#[derive(Clone, Copy, Debug)]
pub struct SendPiece<'b> {
    /// The rank it goes to.
    pub rank: usize,
    /// Its bytes.
    pub bytes: &'b [u8],
}

/// A piece of [`Collective::all_to_all_pieces`] received where it belongs: `bytes` filled
/// from rank `rank`.
#[derive(Debug)]
pub struct RecvPiece<'b> {
    /// The rank it comes from.
    pub rank: usize,
    /// Where its bytes land.
    pub bytes: &'b mut [u8],
}

/// [`Collective::all_to_all_pieces`] made of [`Collective::send`] and [`Collective::recv`]:
/// every pair of ranks in one fixed order (the lower rank sends first), so blocking sends
/// cannot deadlock, each piece in messages of at most 1 GiB (MPI counts are 32-bit).
pub fn pairwise_pieces<C: Collective + ?Sized>(
    coll: &C,
    sends: &[SendPiece<'_>],
    recvs: &mut [RecvPiece<'_>],
) {
    const MESSAGE: usize = 1 << 30;
    let (me, ranks) = (coll.rank(), coll.size());
    let out = |to: usize| {
        for piece in sends.iter().filter(|p| p.rank == to) {
            for message in piece.bytes.chunks(MESSAGE) {
                coll.send(to, message);
            }
        }
    };
    let mut into = |from: usize| {
        for piece in recvs.iter_mut().filter(|p| p.rank == from) {
            for message in piece.bytes.chunks_mut(MESSAGE) {
                coll.recv(from, message);
            }
        }
    };
    for a in 0..ranks {
        for b in a + 1..ranks {
            if me == a {
                out(b);
                into(b);
            } else if me == b {
                into(a);
                out(a);
            }
        }
    }
}

/// How the shard partials become the gradient (notes/distributed.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reduce {
    /// Every rank computes its own units' gradients over the whole batch by the one-process
    /// chain (T12), updates them and shares the weights (T14): the bits of one process.
    Exact,
    /// Each rank's shards' partials added in order, then one `MPI_Allreduce`: its order
    /// depends on the transport and the number of ranks, so the last bits may differ.
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

/// The floats whose bytes `bytes` are ([`float_bytes`] reversed): a received piece read in
/// place.
///
/// # Panics
/// If `bytes` are not whole floats at their alignment (a piece cut from a float buffer is).
pub fn bytes_floats<T: Float>(bytes: &[u8]) -> &[T] {
    // SAFETY: `Float` is implemented for f32 and f64 only, for which every bit pattern is a
    // value; `align_to` yields only whole, aligned elements, and the rest is checked empty.
    let (pre, values, post) = unsafe { bytes.align_to::<T>() };
    assert!(
        pre.is_empty() && post.is_empty(),
        "the bytes of whole, aligned floats"
    );
    values
}

/// Appends `block`'s values to `dst` in row-major order, a row at a time: a block of columns
/// of a row-major matrix has each row contiguous, copied as one slice (an element-wise
/// iterator over the strided block took four times as long, notes/distributed.md §8).
pub fn append_rows<T: Float>(dst: &mut Vec<T>, block: ArrayView2<'_, T>) {
    for row in block.rows() {
        match row.to_slice() {
            Some(values) => dst.extend_from_slice(values),
            None => dst.extend(row.iter().copied()),
        }
    }
}

/// The buffers of [`distributed_step`] beyond [`StepBuffers`], kept from step to step so a
/// step allocates nothing once the first has sized them.
#[derive(Debug)]
pub(crate) struct ShardBuffers<T: Float> {
    /// The network's output the loss reads, for the whole batch (B, O).
    gathered: Vec<T>,
    /// ∂L/∂output for the whole batch (B, O).
    d_out: Array2<T>,
    /// Each rank's bytes of the output all-gather.
    counts: Vec<usize>,
    /// This rank's rows of the output, sent in the rows' all-to-all (T17).
    own_out: Vec<T>,
    /// The exchanges of the exact step (T14): layouts and send/receive buffers.
    exchange: Exchange<T>,
}

impl<T: Float> ShardBuffers<T> {
    pub(crate) fn new(batch_size: usize, outputs: usize) -> Self {
        ShardBuffers {
            gathered: Vec::new(),
            d_out: Array2::zeros((batch_size, outputs)),
            counts: Vec::new(),
            own_out: Vec::new(),
            exchange: Exchange::default(),
        }
    }
}

/// One training step of [`crate::train_step`] (without privacy or dropout, which the trainer
/// refuses for distributed runs), shared by the ranks of `dist`: forward over this rank's
/// shards' rows; the output the loss reads gathered from every rank, so every rank computes
/// the whole batch's loss and ∂L/∂output as one process does — or, exact with a loss whose
/// rows are separable ([`crate::loss::LossConfig::rows_separable`], T17), each rank its own rows' ∂L/∂output, the
/// others' outputs arriving in the rows' all-to-all; then, exact, the unit split
/// ([`share_and_fold`], [`norm_and_update`], T12–T17), or, fast, the gradient of this rank's shards (T11)
/// summed by an all-reduce, and clipping and the update on every rank.
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
    // T17: with a loss whose rows' gradients are each row's own, the other ranks' outputs
    // ride in the rows' all-to-all (three meetings); otherwise they are gathered first.
    let ride = dist.reduce == Reduce::Exact && ranks > 1 && config.loss.rows_separable();
    if ride {
        own_rows_only(
            read,
            &mut shard_bufs.own_out,
            &mut shard_bufs.gathered,
            &rows,
            n * o,
        );
    } else {
        let counts = &mut shard_bufs.counts;
        counts.clear();
        counts.extend((0..ranks).map(|r| rows_of_rank(plan, r, ranks).len() * o * size_of::<T>()));
        gather_rows(coll, read, &mut shard_bufs.gathered, n * o, counts);
    }
    let out = batch_view(&shard_bufs.gathered, n, o);
    let mut d_a = shard_bufs.d_out.slice_mut(s![..n, ..]);
    d_a.fill(T::zero());
    let k = mlp.spec().ensemble_k;
    // With `ride`, the other ranks' rows of `out` are zeros: only this rank's rows of d_a,
    // which read their own rows alone (T17), are used, and the loss is formed again below.
    let loss = members_loss(
        &config.loss,
        k,
        out,
        batch.y,
        batch.weights,
        Some(d_a.view_mut()),
    );
    if !ride && !loss.is_finite() {
        return Err(loss_failed(loss));
    }
    let d_mine = shard_bufs.d_out.slice(s![rows, ..]);
    if dist.reduce == Reduce::Fast {
        mlp.backward_shards(fwd, upstream(reads, d_mine), plan, mine);
        coll.all_reduce_sum(float_bytes_mut(mlp.grads_mut()), size_of::<T>() == 4);
        let grad_norm = clip_or_norm(config.clip_norm, mlp);
        return apply_update(mlp, optimizer, lr, loss, grad_norm);
    }
    let deltas = mlp.deltas(fwd, upstream(reads, d_mine));
    let step = UnitSplit {
        config,
        coll,
        plan,
        lr,
    };
    let outputs = ride.then(|| OutputRows {
        own: &shard_bufs.own_out,
        all: &mut shard_bufs.gathered[..n * o],
        width: o,
    });
    share_and_fold(
        &step,
        mlp,
        batch.x,
        deltas,
        &mut shard_bufs.exchange,
        outputs,
    );
    let loss = if ride {
        // T17: every rank's outputs are here now; the loss of one process, on every rank.
        let out = batch_view(&shard_bufs.gathered, n, o);
        let loss = members_loss(&config.loss, k, out, batch.y, batch.weights, None);
        if !loss.is_finite() {
            return Err(loss_failed(loss));
        }
        loss
    } else {
        loss
    };
    let grad_norm = norm_and_update(&step, mlp, optimizer, &mut shard_bufs.exchange)?;
    Ok(StepOutcome {
        loss,
        grad_norm,
        lr,
    })
}

/// (T17) This rank's rows `rows` of the output the loss reads (`read`) copied to `own` (to
/// be sent) and to their place in the first `len` values of `all`, whose other rows are set
/// to zero: they stand for the other ranks' rows until the rows' all-to-all brings them.
fn own_rows_only<T: Float>(
    read: ArrayView2<'_, T>,
    own: &mut Vec<T>,
    all: &mut Vec<T>,
    rows: &Range<usize>,
    len: usize,
) {
    let o = read.ncols();
    own.clear();
    append_rows(own, read);
    all.resize(len.max(all.len()), T::zero());
    all[..len].fill(T::zero());
    all[rows.start * o..rows.end * o].copy_from_slice(own);
}

/// (T17) The output rows of the three-meeting step: this rank's rows (`own`), sent to every
/// other rank in the rows' all-to-all, and the whole batch's (`all`, (B, `width`)), into
/// which every other rank's arrive at their rows.
pub(crate) struct OutputRows<'b, T> {
    own: &'b [T],
    all: &'b mut [T],
    width: usize,
}

/// What [`share_and_fold`] and [`norm_and_update`] read besides the network, its optimizer and buffers.
struct UnitSplit<'c> {
    config: &'c TrainConfig,
    coll: &'c dyn Collective,
    plan: ShardPlan,
    lr: f64,
}

/// (T12, T14–T17) The exact step after the δ of this rank's rows, up to the norm: one
/// all-to-all brings every rank the δ columns of its units and the hidden outputs it reads of
/// the other ranks' rows ([`Exchange::share_rows`], T15) — and, with `outputs`, their rows of
/// the network's output (T17) — during which this rank's units' gradients over the whole
/// batch are folded, each rank's shards as they arrive (T16).
fn share_and_fold<T: Float>(
    step: &UnitSplit<'_>,
    mlp: &mut Mlp<T>,
    x: ArrayView2<'_, T>,
    deltas: Deltas<'_, T>,
    ex: &mut Exchange<T>,
    outputs: Option<OutputRows<'_, T>>,
) {
    let (coll, plan) = (step.coll, step.plan);
    let (rank, ranks) = (coll.rank(), coll.size());
    ex.prepare(mlp, ranks);
    // T16: each rank's shards folded as soon as their rows are here, in shard order.
    ex.share_rows(coll, plan, (x, &deltas), outputs, |shards, rows| {
        mlp.unit_gradients_of(plan, (rank, ranks), shards, |l, s| rows.of(l, s));
    });
}

/// (T13, T14) The exact step after [`share_and_fold`]: one all-gather of the units' partial
/// sums of squares gives every rank ‖g‖ (T13); this rank's pieces clipped (O14) and
/// updated; one all-to-all of the updated pieces ([`Exchange::share_segments`]). Returns ‖g‖
/// before clipping.
///
/// # Errors
/// A non-finite ‖g‖, which every rank sees alike: nothing is updated.
fn norm_and_update<T: Float>(
    step: &UnitSplit<'_>,
    mlp: &mut Mlp<T>,
    optimizer: &mut Optimizer<T>,
    ex: &mut Exchange<T>,
) -> Result<f64, NonFiniteStep> {
    let (config, coll, lr) = (step.config, step.coll, step.lr);
    let grad_norm = ex.norm(coll, mlp);
    norm_is_finite(grad_norm)?;
    let mine = ex.mine(coll.rank());
    if let Some(c) = config
        .clip_norm
        .and_then(|max| clip_coefficient::<T>(grad_norm, max))
    {
        let grads = mlp.grads_mut();
        for range in mine {
            grads[range.clone()].iter_mut().for_each(|g| *g *= c); // O14
        }
    }
    let (params, grads) = mlp.params_and_grads_mut();
    optimizer.step_lr_ranges(params, grads, lr, mine);
    ex.share_segments(coll, params);
    Ok(grad_norm)
}

/// The rows of shards `shards_of_rank(r)`.
fn rows_of_rank(plan: ShardPlan, rank: usize, ranks: usize) -> Range<usize> {
    plan.rows_of(plan.shards_of_rank(rank, ranks))
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
    let mut ex = Exchange::default();
    ex.prepare(mlp, coll.size());
    for buffer in optimizer.buffers_mut() {
        ex.share_segments(coll, buffer);
    }
}

#[cfg(test)]
mod tests {
    use ndarray::{Array2, s};

    use super::{append_rows, members_loss};
    use crate::loss::{ClassWeights, LossConfig, LossKind};

    /// The bits of rows `rows` of ∂L/∂output when `out`'s other rows are zeros, and when
    /// they are the real ones (T17).
    fn own_rows_gradient(
        loss: &LossConfig,
        k: usize,
        (out, y, w): (&Array2<f64>, &Array2<f64>, &[f64]),
        rows: std::ops::Range<usize>,
    ) -> (Vec<u64>, Vec<u64>) {
        let grad = |out: &Array2<f64>| {
            let mut d = Array2::zeros(out.dim());
            members_loss(loss, k, out.view(), y.view(), Some(w), Some(d.view_mut()));
            let mine = d.slice(s![rows.clone(), ..]);
            mine.iter().map(|v| v.to_bits()).collect::<Vec<u64>>()
        };
        let mut alone = Array2::zeros(out.dim());
        let mine = s![rows.clone(), ..];
        alone.slice_mut(mine).assign(&out.slice(mine));
        (grad(&alone), grad(out))
    }

    /// (T17) Every loss `LossConfig::rows_separable` admits gives a rank's rows the one-process
    /// ∂L/∂output from those rows' outputs alone, with sample and class weights and for an
    /// ensemble's members; the ranking terms, which it refuses, would not.
    #[test]
    fn separable_losses_give_own_rows_their_gradient_without_the_others_outputs() {
        let n = 12;
        let value = |i: usize, j: usize| ((i * 7 + j * 3) % 11) as f64 / 5.0 - 1.0;
        let weights: Vec<f64> = (0..n).map(|i| 0.5 + (i % 4) as f64 / 3.0).collect();
        let cases: [(LossKind, usize, usize); 8] = [
            (LossKind::Mse, 2, 2),
            (LossKind::BceWithLogits, 1, 1),
            (LossKind::BceKeras, 1, 1),
            (LossKind::SoftmaxCrossEntropy, 3, 3),
            (LossKind::MseLog1p, 1, 1),
            (LossKind::HuberLog1p, 1, 1),
            (LossKind::Ziln, 3, 1),
            (LossKind::Focal, 1, 1),
        ];
        for (kind, outputs, targets) in cases {
            for (k, class) in [(1, false), (1, true), (2, false)] {
                if class && targets > 2 {
                    continue; // class weights are binary
                }
                let out = Array2::from_shape_fn((n, outputs * k), |(i, j)| match kind {
                    LossKind::BceKeras => 0.1 + 0.8 * (value(i, j) + 1.0) / 2.2,
                    _ => value(i, j),
                });
                let y = Array2::from_shape_fn((n, targets), |(i, j)| match kind {
                    LossKind::SoftmaxCrossEntropy => f64::from(u8::from(i % 3 == j)),
                    LossKind::Mse => value(j, i),
                    _ => f64::from(u8::from(i % 3 == 0)) * (1.0 + i as f64),
                });
                let y = match kind {
                    LossKind::BceWithLogits | LossKind::BceKeras | LossKind::Focal => {
                        y.mapv(|v| f64::from(u8::from(v > 0.0)))
                    }
                    _ => y,
                };
                let mut loss = LossConfig::new(kind);
                if class {
                    loss.class_weights = Some(ClassWeights {
                        negative: 0.7,
                        positive: 2.5,
                    });
                }
                assert!(loss.rows_separable());
                for rows in [0..4, 4..12, 5..6] {
                    let (alone, all) = own_rows_gradient(&loss, k, (&out, &y, &weights), rows);
                    assert_eq!(alone, all, "{kind:?}, k = {k}, class weights {class}");
                }
            }
        }
        // The negative control: a ranking term couples the rows' outputs.
        for (ranking, listwise) in [(Some(0.5), None), (None, Some(0.5))] {
            let mut loss = LossConfig::new(LossKind::MseLog1p);
            (loss.ranking, loss.listwise) = (ranking, listwise);
            assert!(!loss.rows_separable());
            let out = Array2::from_shape_fn((n, 1), |(i, _)| value(i, 1));
            let y = Array2::from_shape_fn((n, 1), |(i, _)| (i % 5) as f64);
            let (alone, all) = own_rows_gradient(&loss, 1, (&out, &y, &weights), 0..6);
            assert_ne!(alone, all, "ranking {ranking:?}, listwise {listwise:?}");
        }
    }

    /// Row-major order whatever the layout: a column block (contiguous rows) and a
    /// transposed view (strided rows) both append what an element-wise walk gives.
    #[test]
    fn append_rows_is_row_major_for_any_layout() {
        let m = Array2::from_shape_fn((3, 5), |(i, j)| (10 * i + j) as f32);
        let mut out = vec![-1.0f32];
        append_rows(&mut out, m.slice(s![.., 1..3]));
        assert_eq!(out, [-1.0, 1.0, 2.0, 11.0, 12.0, 21.0, 22.0]);
        let mut t = Vec::new();
        append_rows(&mut t, m.t());
        let want: Vec<f32> = m.t().iter().copied().collect();
        assert_eq!(t, want);
        assert_eq!(t[..3], [0.0, 10.0, 20.0]);
    }
}
