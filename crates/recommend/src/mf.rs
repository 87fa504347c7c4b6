//! Matrix factorisation trained with BPR (notes/recommend.md §5, K14–K16): the user and item
//! tables, one training step made of the ops of `embedding` and `bpr`, and the scorer.
//!
//! Parameters live in one vector θ = [P (U, d) | Q (I, d) | b (I,)] so that the trainer's
//! dense Adam (`glassbox_train::optim`, O7–O13, coupled L2 as PyTorch's `weight_decay`) updates
//! them in one call, exactly as `torch.optim.Adam` does for the reference model.

use glassbox_core::gemm::kernel::on_widest_isa;
use glassbox_core::{Float, Rng, seeded_rng};
use glassbox_train::batching::{shuffled_order, uniform_below};
use glassbox_train::optim::{OptimError, Optimizer, OptimizerConfig, WeightDecay};
use rand_distr::{Distribution, Normal};
use rayon::prelude::*;

use crate::bpr::{bpr_backward_into, bpr_forward};
use crate::embedding::{embedding_backward, embedding_forward};
use crate::retrieval::Scorer;
use crate::softmax::user_scores;

/// Settings of a BPR fit.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MfConfig {
    /// d, the embedding width.
    pub dim: usize,
    pub epochs: usize,
    /// (user, item) pairs per step.
    pub batch: usize,
    pub lr: f64,
    /// Coupled L2 λ (g ← g + λθ) on every parameter, as the reference's `weight_decay`.
    pub weight_decay: f64,
    /// Standard deviation of the N(0, σ²) initialisation of P and Q; b starts at 0.
    pub init_sd: f64,
    pub seed: u64,
}

impl Default for MfConfig {
    fn default() -> Self {
        Self {
            dim: 64,
            epochs: 20,
            batch: 1024,
            lr: 0.003,
            weight_decay: 1e-5,
            init_sd: 0.1,
            seed: 0,
        }
    }
}

/// A fitted factorisation: θ = [P | Q | b].
#[derive(Debug, Clone, PartialEq)]
pub struct Mf {
    pub users: usize,
    pub items: usize,
    pub dim: usize,
    pub params: Vec<f32>,
}

impl Mf {
    /// P (U, d), Q (I, d) drawn from N(0, σ²) in that order, b = 0.
    pub fn init(users: usize, items: usize, cfg: &MfConfig, rng: &mut Rng) -> Mf {
        let normal = Normal::new(0.0, cfg.init_sd)
            .unwrap_or_else(|_| Normal::new(0.0, 0.1).expect("0.1 is a valid standard deviation"));
        let d = cfg.dim;
        let mut params: Vec<f32> = (0..(users + items) * d)
            .map(|_| normal.sample(rng) as f32)
            .collect();
        params.resize((users + items) * d + items, 0.0);
        Mf {
            users,
            items,
            dim: d,
            params,
        }
    }

    fn q_offset(&self) -> usize {
        self.users * self.dim
    }
    fn b_offset(&self) -> usize {
        (self.users + self.items) * self.dim
    }

    /// One BPR step on the triples (u, i⁺, i⁻): [`bpr_loss_and_grad`] into `grads`, then the
    /// optimizer. Returns L.
    pub fn step(
        &mut self,
        triples: &[(u32, u32, u32)],
        grads: &mut [f32],
        opt: &mut Optimizer<f32>,
    ) -> f32 {
        let loss = bpr_loss_and_grad(&self.params, self.users, self.dim, triples, grads);
        opt.step(&mut self.params, grads);
        loss
    }

    /// (K16) Fits on the training pairs `pairs` (distinct (user, item)): each epoch visits
    /// every pair once in a fresh random order, in batches; each pair gets one negative drawn
    /// uniformly from all items (not checked against the history, as the reference). All
    /// randomness comes from one ChaCha8 stream seeded with `cfg.seed`. `after_epoch` sees the
    /// model after each epoch (for validation curves).
    ///
    /// # Errors
    /// An invalid optimizer setting (negative lr or λ).
    pub fn fit(
        users: usize,
        items: usize,
        pairs: &[(u32, u32)],
        cfg: &MfConfig,
        mut after_epoch: impl FnMut(usize, &Mf),
    ) -> Result<Mf, OptimError> {
        let mut rng = seeded_rng(cfg.seed);
        let mut model = Mf::init(users, items, cfg, &mut rng);
        let config = OptimizerConfig::adam_torch(cfg.lr)
            .with_weight_decay(WeightDecay::L2(cfg.weight_decay));
        let mut opt = Optimizer::new(config, model.params.len())?;
        let mut grads = vec![0.0; model.params.len()];
        let mut order = vec![0usize; pairs.len()];
        let mut triples = Vec::with_capacity(cfg.batch);
        let mut scratch = StepScratch::new();
        for epoch in 0..cfg.epochs {
            shuffled_order(&mut order, Some(&mut rng));
            for chunk in order.chunks(cfg.batch.max(1)) {
                triples.clear();
                for &k in chunk {
                    let (u, i) = pairs[k];
                    let j = uniform_below(&mut rng, items as u64) as u32;
                    triples.push((u, i, j));
                }
                // `grads` is zero outside the rows of the last step's triples (the invariant
                // of `bpr_grad_add`), so only those rows are zeroed: the same gradient as
                // [`Mf::step`]'s, without a pass over all of θ.
                bpr_grad_add(
                    &model.params,
                    users,
                    cfg.dim,
                    &triples,
                    &mut grads,
                    &mut scratch,
                );
                opt.step(&mut model.params, &grads);
                zero_rows(&mut grads, users, cfg.dim, &triples);
            }
            after_epoch(epoch + 1, &model);
        }
        Ok(model)
    }
}

/// Elements per parallel task when the gradient is zeroed.
const ZERO_CHUNK: usize = 1 << 14;

/// The BPR loss of θ = [P (U, d) | Q (I, d) | b (I,)] on the triples (u, i⁺, i⁻), and its
/// gradient written into `grads` (zeroed here first): gather (K12), score and BPR with their
/// backward (K14–K15), scatter-add back into the tables (K13).
///
/// # Panics
/// If `grads` is not as long as θ, there are no triples, or an id is out of range.
pub fn bpr_loss_and_grad<T: Float>(
    theta: &[T],
    users: usize,
    d: usize,
    triples: &[(u32, u32, u32)],
    grads: &mut [T],
) -> T {
    assert_eq!(
        theta.len(),
        grads.len(),
        "bpr_loss_and_grad: θ and its gradient differ"
    );
    // Zeroed in parallel chunks: on every step this is a pass over all of θ.
    grads
        .par_chunks_mut(ZERO_CHUNK)
        .for_each(|c| c.fill(T::zero()));
    bpr_grad_add(theta, users, d, triples, grads, &mut StepScratch::new())
}

/// The per-step buffers of [`bpr_grad_add`], reused from step to step (allocating them each
/// step cost a page-faulting allocation and a memset of ~1.5 MB per step at N = 1,024).
struct StepScratch<T> {
    user_ids: Vec<u32>,
    /// Positives then negatives: one id list for Q and b, so one scatter each.
    item_ids: Vec<u32>,
    /// Gathered rows: p (N, d), q (2N, d), b (2N,).
    p: Vec<T>,
    q: Vec<T>,
    b: Vec<T>,
    /// Their gradients, the same shapes.
    d_p: Vec<T>,
    d_q: Vec<T>,
    d_b: Vec<T>,
}

impl<T: Float> StepScratch<T> {
    fn new() -> Self {
        StepScratch {
            user_ids: Vec::new(),
            item_ids: Vec::new(),
            p: Vec::new(),
            q: Vec::new(),
            b: Vec::new(),
            d_p: Vec::new(),
            d_q: Vec::new(),
            d_b: Vec::new(),
        }
    }
}

/// [`bpr_loss_and_grad`] without the zeroing: the gradient is added into `grads`. Into a zero
/// `grads` it gives the same bits (0 + x = x, and each row's sum in the same order).
fn bpr_grad_add<T: Float>(
    theta: &[T],
    users: usize,
    d: usize,
    triples: &[(u32, u32, u32)],
    grads: &mut [T],
    s: &mut StepScratch<T>,
) -> T {
    let (qo, bo) = table_offsets(theta.len(), users, d);
    let n = triples.len();
    s.user_ids.clear();
    s.user_ids.extend(triples.iter().map(|t| t.0));
    s.item_ids.clear();
    s.item_ids.extend(
        triples
            .iter()
            .map(|t| t.1)
            .chain(triples.iter().map(|t| t.2)),
    );
    // Every element of these is written below before it is read.
    for (buf, len) in [
        (&mut s.p, n * d),
        (&mut s.q, 2 * n * d),
        (&mut s.b, 2 * n),
        (&mut s.d_p, n * d),
        (&mut s.d_q, 2 * n * d),
        (&mut s.d_b, 2 * n),
    ] {
        buf.resize(len, T::zero());
    }
    embedding_forward(&theta[..qo], d, &s.user_ids, &mut s.p);
    embedding_forward(&theta[qo..bo], d, &s.item_ids, &mut s.q);
    embedding_forward(&theta[bo..], 1, &s.item_ids, &mut s.b);
    let (q_pos, q_neg) = s.q.split_at(n * d);
    let (loss, cache) = bpr_forward(&s.p, q_pos, q_neg, &s.b[..n], &s.b[n..], d);
    bpr_backward_into(
        &cache, &s.p, q_pos, q_neg, d, &mut s.d_p, &mut s.d_q, &mut s.d_b,
    );
    let (g_p, rest) = grads.split_at_mut(qo);
    let (g_q, g_b) = rest.split_at_mut(bo - qo);
    embedding_backward(&s.d_p, &s.user_ids, d, g_p);
    embedding_backward(&s.d_q, &s.item_ids, d, g_q);
    embedding_backward(&s.d_b, &s.item_ids, 1, g_b);
    loss
}

/// Where Q and b start in θ = [P (U, d) | Q (I, d) | b (I,)] of `len` values.
fn table_offsets(len: usize, users: usize, d: usize) -> (usize, usize) {
    let items = (len - users * d) / (d + 1);
    (users * d, (users + items) * d)
}

/// Zeroes the gradient rows that [`bpr_grad_add`] wrote for `triples`: the users' rows of P,
/// the items' rows of Q and their entries of b. Every other entry was not written.
fn zero_rows<T: Float>(grads: &mut [T], users: usize, d: usize, triples: &[(u32, u32, u32)]) {
    let (qo, bo) = table_offsets(grads.len(), users, d);
    for &(u, i, j) in triples {
        let u = u as usize;
        grads[u * d..(u + 1) * d].fill(T::zero());
        for item in [i as usize, j as usize] {
            grads[qo + item * d..qo + (item + 1) * d].fill(T::zero());
            grads[bo + item] = T::zero();
        }
    }
}

impl Scorer for Mf {
    fn n_items(&self) -> usize {
        self.items
    }

    /// (K14) s_ui = p_u · q_i + b_i for every item, in f64 from the f32 parameters.
    fn score(&self, user: u32, out: &mut [f64]) {
        let d = self.dim;
        let p = &self.params[user as usize * d..(user as usize + 1) * d];
        let (qo, bo) = (self.q_offset(), self.b_offset());
        user_scores(p, &self.params[qo..bo], &self.params[bo..], out);
    }
}

/// (K14) [`Mf`]'s scorer for scoring many users: Q kept transposed, Qᵀ (d, I), so that one
/// user's dots run across items, [`ITEMS_AT_ONCE`] lanes at a time, each lane summing its
/// own dot over k = 0 … d − 1 in the order of [`user_scores`] (f32, separate multiply and
/// add). The bits are [`Mf::score`]'s; the work is vectorised instead of one dependent chain
/// of d additions per item. Building it copies Q once (I·d floats).
pub struct MfItemMajor<'a> {
    mf: &'a Mf,
    /// Qᵀ (d, I): row k holds q_ik for every item i.
    q_t: Vec<f32>,
}

/// Items whose dots [`MfItemMajor`] sums side by side: independent chains hide the latency
/// of the additions.
const ITEMS_AT_ONCE: usize = 64;

impl Mf {
    /// This model's [`MfItemMajor`] scorer.
    pub fn item_major(&self) -> MfItemMajor<'_> {
        let (d, n, qo) = (self.dim, self.items, self.q_offset());
        let mut q_t = vec![0.0f32; d * n];
        for (i, row) in self.params[qo..self.b_offset()].chunks_exact(d).enumerate() {
            for (k, &x) in row.iter().enumerate() {
                q_t[k * n + i] = x;
            }
        }
        MfItemMajor { mf: self, q_t }
    }
}

impl Scorer for MfItemMajor<'_> {
    fn n_items(&self) -> usize {
        self.mf.items
    }

    /// (K14) s_ui = p_u · q_i + b_i for every item, bit for bit [`Mf::score`].
    fn score(&self, user: u32, out: &mut [f64]) {
        on_widest_isa(|| self.score_row(user, out))
    }
}

impl MfItemMajor<'_> {
    #[inline(always)]
    fn score_row(&self, user: u32, out: &mut [f64]) {
        let (d, n) = (self.mf.dim, self.mf.items);
        let p = &self.mf.params[user as usize * d..(user as usize + 1) * d];
        let b = &self.mf.params[self.mf.b_offset()..];
        // The start of `user_scores`' f32 sum (std's neutral element of `Sum`).
        let start: f32 = std::iter::empty::<f32>().sum();
        let whole = n - n % ITEMS_AT_ONCE;
        for i0 in (0..whole).step_by(ITEMS_AT_ONCE) {
            let mut acc = [start; ITEMS_AT_ONCE];
            for (k, &pk) in p.iter().enumerate() {
                let at = k * n + i0;
                for (a, &q) in acc.iter_mut().zip(&self.q_t[at..at + ITEMS_AT_ONCE]) {
                    *a += pk * q;
                }
            }
            for ((s, a), &bi) in out[i0..].iter_mut().zip(acc).zip(&b[i0..]) {
                *s = f64::from(a + bi);
            }
        }
        let qo = self.mf.q_offset();
        let q_rest = &self.mf.params[qo + whole * d..self.mf.b_offset()];
        user_scores(p, q_rest, &b[whole..], &mut out[whole..]);
    }
}
