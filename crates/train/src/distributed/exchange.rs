//! (T14) The exchanges of the exact distributed step (notes/distributed.md §2, §8): each
//! one a single meeting of the ranks, whatever the number of layers.
//!
//! 1. [`Exchange::share_rows`]: one all-to-all in which rank q sends rank r, for its own
//!    rows, the δ columns of r's units of every layer and the output of every hidden layer
//!    whose next layer has units on r (T15) — all that r needs, besides the batch, for its
//!    units' gradients over the whole batch (T12).
//!    The δ of another rank's units never crosses: (N − 1)/N of it stays home. The hidden
//!    outputs are sent from the workspace where the forward pass wrote them. The units'
//!    gradients are folded during the exchange, each rank's shards once they are here (T16).
//!    With a loss whose rows are separable, q's rows of the network's output ride along
//!    (T17): the step's fourth meeting, the output's all-gather, is gone.
//! 2. [`Exchange::norm`]: one all-gather of every rank's units' partial sums of squares (T13),
//!    folded in parameter order on every rank — the same sum everywhere, no chain.
//! 3. [`Exchange::share_segments`]: one all-to-all of the updated pieces of the parameters
//!    (or of an optimizer buffer), sent from and received into their places in the buffer:
//!    no packing, no unpacking.
//!
//! Every buffer is kept from step to step: after the first step nothing is allocated.

use std::ops::Range;

use glassbox_core::{Deltas, Float, Mlp, ShardPlan, units_of_rank};
use ndarray::{ArrayView2, s};

use super::{
    Collective, OutputRows, RecvPiece, SendPiece, append_rows, bytes_floats, float_bytes,
    float_bytes_mut, rows_of_rank,
};

/// The layouts and buffers of the three exchanges of the exact step.
#[derive(Debug)]
pub(crate) struct Exchange<T: Float> {
    /// Every layer's width Hₗ (empty until [`Exchange::prepare`]).
    widths: Vec<usize>,
    /// Each rank's pieces of the parameter vector (T12), in parameter order.
    owned: Vec<Vec<Range<usize>>>,
    /// Every piece of the parameter vector with its rank, in parameter order (they tile it).
    segments: Vec<(usize, Range<usize>)>,
    /// The δ columns this rank sends, packed for each other rank in rank order, and the
    /// range of each rank's.
    send: Vec<T>,
    packed: Vec<Range<usize>>,
    /// The rows it receives: every other rank's block, in rank order.
    recv: Vec<T>,
    /// The pieces of the exchange under way, empty between exchanges: only their
    /// allocation is kept ([`recycle`]).
    send_pieces: Vec<SendPiece<'static>>,
    recv_pieces: Vec<RecvPiece<'static>>,
    /// This rank's units' partial sums of squares (T13), then every rank's in rank order.
    squares: Vec<f64>,
    all_squares: Vec<f64>,
    /// Each rank's bytes of partial sums.
    square_bytes: Vec<usize>,
}

impl<T: Float> Default for Exchange<T> {
    fn default() -> Self {
        Exchange {
            widths: Vec::new(),
            owned: Vec::new(),
            segments: Vec::new(),
            send: Vec::new(),
            packed: Vec::new(),
            recv: Vec::new(),
            send_pieces: Vec::new(),
            recv_pieces: Vec::new(),
            squares: Vec::new(),
            all_squares: Vec::new(),
            square_bytes: Vec::new(),
        }
    }
}

/// `v` emptied and retyped for pieces of another lifetime, its allocation kept: an
/// exchange's pieces borrow that step's buffers, so only their vector's memory can stay
/// from step to step. (`collect` from a vector's own iterator into elements of the same size
/// and alignment reuses its allocation; the bench counts 0 allocations a step.)
fn recycle<A, B>(mut v: Vec<A>) -> Vec<B> {
    v.clear();
    v.into_iter()
        .map(|_| unreachable!("the vector is empty"))
        .collect()
}

impl<T: Float> Exchange<T> {
    /// The layouts of `mlp` cut among `ranks` ranks, worked out once.
    pub(crate) fn prepare(&mut self, mlp: &Mlp<T>, ranks: usize) {
        if !self.widths.is_empty() {
            return;
        }
        let layers = mlp.num_layers();
        self.widths = (0..layers).map(|l| mlp.theta(l).nrows()).collect();
        let segments = mlp.unit_segments(ranks);
        self.owned = (0..ranks)
            .map(|r| {
                let pieces = segments.iter().filter(|seg| seg.rank == r);
                pieces.map(|seg| seg.params.clone()).collect()
            })
            .collect();
        self.segments = segments
            .into_iter()
            .map(|seg| (seg.rank, seg.params))
            .collect();
        self.square_bytes = (0..ranks)
            .map(|r| {
                let units: usize = self
                    .widths
                    .iter()
                    .map(|&h| units_of_rank(h, r, ranks).len())
                    .sum();
                2 * units * size_of::<f64>()
            })
            .collect();
    }

    /// The pieces of the parameter vector rank `rank` updates, in parameter order.
    pub(crate) fn mine(&self, rank: usize) -> &[Range<usize>] {
        &self.owned[rank]
    }

    /// The units of layer `l` of rank `r` of `ranks`.
    fn units(&self, l: usize, r: usize, ranks: usize) -> Range<usize> {
        units_of_rank(self.widths[l], r, ranks)
    }

    /// Σₗ |Jₗ| of rank `r`'s units.
    fn all_units(&self, r: usize, ranks: usize) -> usize {
        (0..self.widths.len())
            .map(|l| self.units(l, r, ranks).len())
            .sum()
    }

    /// (T15) The output columns rank `r` receives of each other rank's row: the widths of
    /// the hidden layers before layer `upto` whose output it uses, summed.
    fn hidden_used(&self, r: usize, ranks: usize, upto: usize) -> usize {
        used_outputs(&self.widths, r, ranks)
            .take_while(|&l| l < upto)
            .map(|l| self.widths[l])
            .sum()
    }

    /// (T14, T15) The all-to-all of δ columns and hidden outputs. To each rank q this rank
    /// sends, for its own rows (Nᵣ of them): every layer's δ columns of q's units (Nᵣ,
    /// |J_q,ₗ|), packed, then the output (Nᵣ, Hₗ) of every hidden layer whose next layer has
    /// units on q, from the workspace; from each other rank it receives the same for that
    /// rank's rows and its own units, into one block of `recv`.
    ///
    /// (T16) During the exchange, `fold(shards, rows)` runs for every rank p in rank order,
    /// once p's rows are here (this rank's own at once), with p's shards and where their rows
    /// lie ([`ShardRows::of`]; the first layer's input is the batch `x`): rank 0 folds its
    /// own shards while the others' rows travel; the fold's order is fixed, not its timing.
    ///
    /// (T17) With `outputs`, each rank's rows of the network's output ride along, last of
    /// its pieces: this rank's `own` to every other rank, every other rank's into its rows
    /// of `all` — the output's all-gather folded into this exchange.
    pub(crate) fn share_rows(
        &mut self,
        coll: &dyn Collective,
        plan: ShardPlan,
        (x, deltas): (ArrayView2<'_, T>, &Deltas<'_, T>),
        outputs: Option<OutputRows<'_, T>>,
        mut fold: impl FnMut(Range<usize>, &ShardRows<'_, T>),
    ) {
        let (me, ranks) = (coll.rank(), coll.size());
        let layers = self.widths.len();
        let mine = rows_of_rank(plan, me, ranks).len();
        self.send.clear();
        self.packed.clear();
        for q in 0..ranks {
            let start = self.send.len();
            if q != me && mine > 0 {
                for l in 0..layers {
                    let units = self.units(l, q, ranks);
                    append_rows(&mut self.send, deltas.delta(l).slice_move(s![.., units]));
                }
            }
            self.packed.push(start..self.send.len());
        }
        let own_units = self.all_units(me, ranks);
        let width = own_units + self.hidden_used(me, ranks, layers);
        self.receive_blocks(me, ranks, |p| rows_of_rank(plan, p, ranks).len() * width);
        let mut sends = recycle(std::mem::take(&mut self.send_pieces));
        for (q, range) in self.packed.iter().enumerate().filter(|&(q, _)| q != me) {
            sends.push(SendPiece {
                rank: q,
                bytes: float_bytes(&self.send[range.clone()]),
            });
            for l in used_outputs(&self.widths, q, ranks) {
                let out = deltas.output(l).to_slice();
                let out = out.expect("a layer's output is row-major (N, Hₗ)");
                sends.push(SendPiece {
                    rank: q,
                    bytes: float_bytes(out),
                });
            }
            if let Some(outputs) = &outputs {
                sends.push(SendPiece {
                    rank: q,
                    bytes: float_bytes(outputs.own),
                });
            }
        }
        let mut recvs = recycle(std::mem::take(&mut self.recv_pieces));
        // Taken out while its pieces are lent to the transport, so that `fold` can read the
        // layouts in `self`; put back after.
        let mut recv = std::mem::take(&mut self.recv);
        let mut rest = float_bytes_mut(&mut recv[..]);
        let out_width = outputs.as_ref().map_or(0, |o| o.width);
        let mut rest_out = outputs.map_or(&mut [][..], |o| float_bytes_mut(o.all));
        for p in 0..ranks {
            let n = rows_of_rank(plan, p, ranks).len();
            let taken = std::mem::take(&mut rest_out);
            let (block, tail) = taken.split_at_mut(n * out_width * size_of::<T>());
            rest_out = tail;
            if p == me {
                continue;
            }
            let used = used_outputs(&self.widths, me, ranks).map(|l| self.widths[l]);
            let widths = std::iter::once(own_units).chain(used);
            for w in widths {
                let (piece, tail) = std::mem::take(&mut rest).split_at_mut(n * w * size_of::<T>());
                recvs.push(RecvPiece {
                    rank: p,
                    bytes: piece,
                });
                rest = tail;
            }
            if out_width > 0 {
                recvs.push(RecvPiece {
                    rank: p,
                    bytes: block,
                });
            }
        }
        let ex: &Self = self;
        coll.all_to_all_pieces_then(&sends, &mut recvs, &mut |p, theirs| {
            let rows = ShardRows {
                ex,
                plan,
                me,
                ranks,
                owner: p,
                x,
                deltas,
                theirs,
            };
            fold(plan.shards_of_rank(p, ranks), &rows);
        });
        self.send_pieces = recycle(sends);
        self.recv_pieces = recycle(recvs);
        self.recv = recv;
    }

    /// `recv` large enough for blocks of `len(p)` values from every rank p but `me`.
    fn receive_blocks(&mut self, me: usize, ranks: usize, len: impl Fn(usize) -> usize) {
        let total: usize = (0..ranks).filter(|&p| p != me).map(len).sum();
        if self.recv.len() < total {
            self.recv.resize(total, T::zero());
        }
    }

    /// (T13) `‖g‖` of the step: this rank's units' partial sums of squares all-gathered, then
    /// folded in parameter order ([`Mlp::fold_unit_squares`]) — [`Mlp::grad_norm`]'s bits.
    pub(crate) fn norm(&mut self, coll: &dyn Collective, mlp: &Mlp<T>) -> f64 {
        let ranks = coll.size();
        mlp.unit_square_sums(coll.rank(), ranks, &mut self.squares);
        let total = self.square_bytes.iter().sum::<usize>() / size_of::<f64>();
        self.all_squares.resize(total, 0.0);
        coll.all_gather(
            float_bytes(&self.squares),
            float_bytes_mut(&mut self.all_squares),
            &self.square_bytes,
        );
        mlp.fold_unit_squares(ranks, &self.all_squares).sqrt()
    }

    /// (T14) Every rank's pieces of `values` (P,) to every rank, in one all-to-all: this rank
    /// sends its pieces from their places in `values` to every other rank, and receives the
    /// others' into theirs — no copy on either side beyond the transfer.
    pub(crate) fn share_segments(&mut self, coll: &dyn Collective, values: &mut [T]) {
        let (me, ranks) = (coll.rank(), coll.size());
        let mut sends = recycle(std::mem::take(&mut self.send_pieces));
        let mut recvs = recycle(std::mem::take(&mut self.recv_pieces));
        // The pieces tile `values` in order: cut it into them, each piece once.
        let mut rest = float_bytes_mut(values);
        for (owner, piece) in &self.segments {
            let (head, tail) = std::mem::take(&mut rest).split_at_mut(piece.len() * size_of::<T>());
            rest = tail;
            if *owner == me {
                let head: &[u8] = head;
                let others = (0..ranks).filter(|&q| q != me);
                sends.extend(others.map(|rank| SendPiece { rank, bytes: head }));
            } else {
                recvs.push(RecvPiece {
                    rank: *owner,
                    bytes: head,
                });
            }
        }
        coll.all_to_all_pieces(&sends, &mut recvs);
        self.send_pieces = recycle(sends);
        self.recv_pieces = recycle(recvs);
    }
}

/// (T15) The hidden layers whose output rank `r` of `ranks` uses from the other ranks' rows,
/// in order, for a network of layer widths `widths`: layer l's, only if r owns units of layer
/// l + 1, whose input it is (the last hidden layer's feeds an output layer of few units, on
/// few ranks).
fn used_outputs(widths: &[usize], r: usize, ranks: usize) -> impl Iterator<Item = usize> + '_ {
    let layers = widths.len();
    (0..layers - 1).filter(move |&l| !units_of_rank(widths[l + 1], r, ranks).is_empty())
}

/// Where the rows of rank `owner`'s shards lie for [`Mlp::unit_gradients_of`] (T12, T14,
/// T16): this rank's own in its workspace (`deltas`), another's in the pieces received from
/// it (`theirs`: the δ of this rank's units of every layer, then the hidden outputs it uses);
/// the first layer's input in the batch `x`.
pub(crate) struct ShardRows<'v, T: Float> {
    ex: &'v Exchange<T>,
    plan: ShardPlan,
    me: usize,
    ranks: usize,
    owner: usize,
    x: ArrayView2<'v, T>,
    deltas: &'v Deltas<'v, T>,
    theirs: &'v [RecvPiece<'v>],
}

impl<'v, T: Float> ShardRows<'v, T> {
    /// Layer `l`'s input (rows of shard s, Dₗ) and its δ in this rank's units' columns (rows
    /// of shard s, |Jₗ|).
    ///
    /// # Panics
    /// If shard `s` is not the owner's.
    pub(crate) fn of(&self, l: usize, s: usize) -> (ArrayView2<'v, T>, ArrayView2<'v, T>) {
        let (plan, me, ranks, ex, owner) = (self.plan, self.me, self.ranks, self.ex, self.owner);
        let rows = plan.shard(s);
        assert!(
            plan.shards_of_rank(owner, ranks).contains(&s),
            "shard {s} is rank {owner}'s"
        );
        let first = rows_of_rank(plan, owner, ranks);
        let local = rows.start - first.start..rows.end - first.start;
        let units = ex.units(l, me, ranks);
        let batch_input = || self.x.slice_move(s![rows.clone(), ..]);
        if owner == me {
            let input = match l {
                0 => batch_input(),
                _ => self.deltas.output(l - 1).slice_move(s![local.clone(), ..]),
            };
            let delta = self.deltas.delta(l).slice_move(s![local, units]);
            return (input, delta);
        }
        // The owner's pieces: δ of my units of every layer, layer after layer (n, |Jₗ|),
        // then the hidden outputs I use (T15: layer l's input is there, since I own units
        // of layer l), each (n, Hₗ).
        let n = first.len();
        let view = |piece: usize, start: usize, width: usize| {
            let values = bytes_floats::<T>(&*self.theirs[piece].bytes);
            let values = &values[n * start..n * (start + width)];
            ArrayView2::from_shape((n, width), values)
                .expect("a piece holds n rows of each block")
                .slice_move(s![local.clone(), ..])
        };
        let before: usize = (0..l).map(|k| ex.units(k, me, ranks).len()).sum();
        let delta = view(0, before, units.len());
        let input = match l {
            0 => batch_input(),
            _ => {
                let mut used = used_outputs(&ex.widths, me, ranks);
                let at = used.position(|k| k == l - 1);
                let at = at.expect("T15: the input of a layer with my units is sent to me");
                view(1 + at, 0, ex.widths[l - 1])
            }
        };
        (input, delta)
    }
}
