//! Matrix factorisation trained with BPR (notes/recommend.md §5, K14–K16): the user and item
//! tables, one training step made of the ops of `embedding` and `bpr`, and the scorer.
//!
//! Parameters live in one vector θ = [P (U, d) | Q (I, d) | b (I,)] so that the trainer's
//! dense Adam (`glassbox_train::optim`, O7–O13, coupled L2 as PyTorch's `weight_decay`) updates
//! them in one call, exactly as `torch.optim.Adam` does for the reference model.

use glassbox_core::{Float, Rng, seeded_rng};
use glassbox_train::batching::{shuffled_order, uniform_below};
use glassbox_train::optim::{OptimError, Optimizer, OptimizerConfig, WeightDecay};
use rand_distr::{Distribution, Normal};
use rayon::prelude::*;

use crate::bpr::{bpr_backward, bpr_forward};
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
        for epoch in 0..cfg.epochs {
            shuffled_order(&mut order, Some(&mut rng));
            for chunk in order.chunks(cfg.batch.max(1)) {
                triples.clear();
                for &k in chunk {
                    let (u, i) = pairs[k];
                    let j = uniform_below(&mut rng, items as u64) as u32;
                    triples.push((u, i, j));
                }
                model.step(&triples, &mut grads, &mut opt);
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
    let items_total = (theta.len() - users * d) / (d + 1);
    let (qo, bo) = (users * d, (users + items_total) * d);
    let n = triples.len();
    let user_ids: Vec<u32> = triples.iter().map(|t| t.0).collect();
    // Positives then negatives: one id list for Q and b, so one scatter each.
    let item_ids: Vec<u32> = triples
        .iter()
        .map(|t| t.1)
        .chain(triples.iter().map(|t| t.2))
        .collect();
    let mut p = vec![T::zero(); n * d];
    let mut q = vec![T::zero(); 2 * n * d];
    let mut b = vec![T::zero(); 2 * n];
    embedding_forward(&theta[..qo], d, &user_ids, &mut p);
    embedding_forward(&theta[qo..bo], d, &item_ids, &mut q);
    embedding_forward(&theta[bo..], 1, &item_ids, &mut b);
    let (q_pos, q_neg) = q.split_at(n * d);
    let (loss, cache) = bpr_forward(&p, q_pos, q_neg, &b[..n], &b[n..], d);
    let g = bpr_backward(&cache, &p, q_pos, q_neg, d);
    // Zeroed in parallel chunks: on every step this is a pass over all of θ.
    grads
        .par_chunks_mut(ZERO_CHUNK)
        .for_each(|c| c.fill(T::zero()));
    let (g_p, rest) = grads.split_at_mut(qo);
    let (g_q, g_b) = rest.split_at_mut(bo - qo);
    embedding_backward(&g.d_p, &user_ids, d, g_p);
    let d_q: Vec<T> = g.d_q_pos.iter().chain(&g.d_q_neg).copied().collect();
    embedding_backward(&d_q, &item_ids, d, g_q);
    let d_b: Vec<T> = g.d_b_pos.iter().chain(&g.d_b_neg).copied().collect();
    embedding_backward(&d_b, &item_ids, 1, g_b);
    loss
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
