//! The YouTube-DNN-style retrieval model (Covington, Adams & Sargin 2016; notes/recommend.md
//! §11, K36–K37): a user is the mean-pooled embedding of their purchase history and of their
//! last basket (K30), through Dense layers (glassbox-core's `Mlp`), scored against an item
//! table by a dot product (K32) with a softmax over the whole catalogue (K33) or a sampled
//! one with the log-Q correction (K34); trained on "what new items does the user buy next",
//! from the training period only.
//!
//! Shapes: E (I, d) the input item table, Q (I, d) the output item table and b (I,) its
//! biases; a batch of N examples gives X (N, 2d) = [pool(history) | pool(last basket)], the
//! user vectors U (N, d) and the scores S (N, I).

use glassbox_core::init::uniform01;
use glassbox_core::{
    Activation, GradWrite, Init, LayerSpec, Mlp, MlpSpec, Mode as MlpMode, Rng, Upstream,
    seeded_rng,
};
use glassbox_train::batching::shuffled_order;
use glassbox_train::optim::lazy::LazyAdam;
use glassbox_train::optim::{OptimError, Optimizer, OptimizerConfig, WeightDecay};
use ndarray::{Array2, ArrayView2, ArrayViewMut2};
use rand_distr::{Distribution, Normal};

use crate::embedding::embedding_backward;
use crate::embedding::embedding_forward;
use crate::pooling::{Bags, Pooling, pool_backward, pool_forward};
use crate::protocol::Split;
use crate::retrieval::Scorer;
use crate::sampled::{Proposal, sampled_softmax_backward, sampled_softmax_forward};
use crate::softmax::{
    TargetWeighting, item_scores_backward, item_scores_forward, softmax_ce_backward,
    softmax_ce_forward, user_scores,
};

/// Seconds in a day.
const DAY: i64 = 86_400;

/// Which loss trains the model.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase", tag = "kind")]
pub enum DnnLoss {
    /// (K33) The softmax over all I items, its (example, target) terms weighted as said.
    Full(TargetWeighting),
    /// (K34) `samples` items per batch drawn from Q(i) ∝ buyers(i)^α, log-Q corrected; the
    /// mean over (example, target) pairs.
    Sampled { samples: usize, alpha: f64 },
}

/// Settings of a fit.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DnnConfig {
    /// d, the width of E, Q and the user vector.
    pub dim: usize,
    /// Units of the hidden ReLU layer (0: the user vector is one linear layer of X).
    pub hidden: usize,
    pub epochs: usize,
    /// Examples per step.
    pub batch: usize,
    pub lr: f64,
    /// Coupled L2 λ (g ← g + λθ) on every parameter.
    pub weight_decay: f64,
    /// Standard deviation of the N(0, σ²) initialisation of E and Q; b = 0.
    pub init_sd: f64,
    /// An example's targets are the new items bought in `[t_k, t_k + horizon)`.
    pub horizon_days: f64,
    pub loss: DnnLoss,
    /// Lazy Adam (K35) on E instead of dense Adam.
    pub lazy_input: bool,
    /// Feed the example age (K37's last input; 0 when false).
    pub example_age: bool,
    /// Next-purchase examples (K36's first kind); false: held-out examples only.
    pub next_examples: bool,
    /// Each epoch adds one held-out example per user with ≥ 2 training items: each item is
    /// held out as a target with this probability, the rest is the history (0: none).
    pub holdout: f64,
    pub seed: u64,
}

impl Default for DnnConfig {
    /// The settings chosen on the Online Retail validation split (notes/recommend.md §12).
    fn default() -> Self {
        DnnConfig {
            dim: 64,
            hidden: 0,
            epochs: 30,
            batch: 256,
            lr: 0.01,
            weight_decay: 1e-4,
            init_sd: 0.1,
            horizon_days: 1.0,
            loss: DnnLoss::Full(TargetWeighting::PerTarget),
            lazy_input: false,
            holdout: 0.5,
            next_examples: true,
            example_age: false,
            seed: 0,
        }
    }
}

/// Training examples in CSR form (K36): per example the history, the last basket and the
/// targets.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Examples {
    pub history_offsets: Vec<usize>,
    pub history: Vec<u32>,
    pub last_offsets: Vec<usize>,
    pub last: Vec<u32>,
    pub target_offsets: Vec<usize>,
    pub targets: Vec<u32>,
    /// Covington et al.'s "example age": years from the example's time t_k to the cutoff
    /// (0 for held-out examples and at prediction time).
    pub age: Vec<f32>,
}

impl Examples {
    pub fn len(&self) -> usize {
        self.target_offsets.len().saturating_sub(1)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn push(&mut self, history: &[u32], last: &[u32], targets: &[u32], age: f32) {
        self.age.push(age);
        for (offsets, ids, bag) in [
            (&mut self.history_offsets, &mut self.history, history),
            (&mut self.last_offsets, &mut self.last, last),
            (&mut self.target_offsets, &mut self.targets, targets),
        ] {
            if offsets.is_empty() {
                offsets.push(0);
            }
            ids.extend_from_slice(bag);
            offsets.push(ids.len());
        }
    }

    /// These examples followed by `more`'s.
    fn concat(&self, more: &Examples) -> Examples {
        let mut out = self.clone();
        let (h, l, t) = more.bags();
        for e in 0..more.len() {
            out.push(h.bag(e), l.bag(e), t.bag(e), more.age[e]);
        }
        out
    }

    /// The examples `picked` (in that order), as a new set.
    fn select(&self, picked: &[usize]) -> Examples {
        let mut out = Examples::default();
        for &e in picked {
            let bag = |o: &[usize], ids: &[u32]| ids[o[e]..o[e + 1]].to_vec();
            out.push(
                &bag(&self.history_offsets, &self.history),
                &bag(&self.last_offsets, &self.last),
                &bag(&self.target_offsets, &self.targets),
                self.age[e],
            );
        }
        out
    }

    fn bags(&self) -> (Bags<'_>, Bags<'_>, Bags<'_>) {
        (
            Bags {
                offsets: &self.history_offsets,
                ids: &self.history,
            },
            Bags {
                offsets: &self.last_offsets,
                ids: &self.last,
            },
            Bags {
                offsets: &self.target_offsets,
                ids: &self.targets,
            },
        )
    }
}

/// A user's training baskets: (time, items ascending), in time order.
fn baskets(split: &Split, user: usize) -> Vec<(i64, Vec<u32>)> {
    let mut by_time: std::collections::BTreeMap<i64, Vec<u32>> = Default::default();
    for o in &split.history[user] {
        for &t in &o.times {
            by_time.entry(t).or_default().push(o.item);
        }
    }
    by_time.into_iter().collect()
}

/// (K36) The training examples of a split, from its training events only: for each user and
/// each basket k ≥ 1 at time t_k, the history = the distinct items of baskets before t_k,
/// the last basket = basket k − 1, and the targets = the items bought in `[t_k, t_k + h)`
/// that are not in the history (examples without a target are dropped). Users in ascending
/// id, baskets in time order.
pub fn examples(split: &Split, horizon_days: f64, example_age: bool) -> Examples {
    let horizon = (horizon_days * DAY as f64) as i64;
    let mut out = Examples::default();
    for user in 0..split.users.len() {
        let b = baskets(split, user);
        let mut seen = vec![false; split.items.len()];
        let mut history: Vec<u32> = Vec::new();
        for k in 1..b.len() {
            for &i in &b[k - 1].1 {
                if !seen[i as usize] {
                    seen[i as usize] = true;
                    history.push(i);
                }
            }
            let t = b[k].0;
            let mut targets: Vec<u32> = b[k..]
                .iter()
                .take_while(|(tb, _)| *tb < t + horizon.max(1))
                .flat_map(|(_, items)| items.iter().copied())
                .filter(|&i| !seen[i as usize])
                .collect();
            targets.sort_unstable();
            targets.dedup();
            if !targets.is_empty() {
                let mut h = history.clone();
                h.sort_unstable();
                let age = if example_age {
                    ((split.cutoff - t) as f64 / (365.0 * DAY as f64)) as f32
                } else {
                    0.0
                };
                out.push(&h, &b[k - 1].1, &targets, age);
            }
        }
    }
    out
}

/// (K36) One held-out example per user with ≥ 2 training items: each item goes to the
/// targets with probability p (one `uniform01` per item, users and items in ascending id),
/// the others form the history; the last basket keeps only its history items. Users whose
/// draw leaves either side empty give no example.
pub fn held_out_examples(split: &Split, p: f64, rng: &mut Rng) -> Examples {
    let mut out = Examples::default();
    for user in 0..split.users.len() {
        let owned = &split.history[user];
        if owned.len() < 2 {
            continue;
        }
        let (mut history, mut targets) = (Vec::new(), Vec::new());
        for o in owned {
            if uniform01(rng) < p {
                targets.push(o.item);
            } else {
                history.push(o.item);
            }
        }
        if history.is_empty() || targets.is_empty() {
            continue;
        }
        let b = baskets(split, user);
        let last: Vec<u32> = b.last().map_or(Vec::new(), |(_, items)| {
            items
                .iter()
                .copied()
                .filter(|i| history.binary_search(i).is_ok())
                .collect()
        });
        out.push(&history, &last, &targets, 0.0);
    }
    out
}

/// A fitted model: E, Q, b, the network, and every training user's vector.
#[derive(Debug, Clone)]
pub struct Dnn {
    pub dim: usize,
    pub items: usize,
    /// E (I, d).
    pub input: Vec<f32>,
    /// Q (I, d).
    pub output: Vec<f32>,
    /// b (I,).
    pub bias: Vec<f32>,
    pub mlp: Mlp<f32>,
    /// U (users, d): each training user from all their training history (K37).
    pub users: Vec<f32>,
}

/// A (rows, cols) row-major view of a buffer of that length.
fn view(x: &[f32], rows: usize, cols: usize) -> ArrayView2<'_, f32> {
    ArrayView2::from_shape((rows, cols), x).expect("a (rows, cols) buffer")
}

fn view_mut(x: &mut [f32], rows: usize, cols: usize) -> ArrayViewMut2<'_, f32> {
    ArrayViewMut2::from_shape((rows, cols), x).expect("a (rows, cols) buffer")
}

impl Dnn {
    fn init(items: usize, cfg: &DnnConfig, rng: &mut Rng) -> Result<Dnn, OptimError> {
        let normal = Normal::new(0.0, cfg.init_sd)
            .unwrap_or_else(|_| Normal::new(0.0, 0.1).expect("0.1 is a valid standard deviation"));
        let d = cfg.dim;
        let mut draw =
            |n: usize| -> Vec<f32> { (0..n).map(|_| normal.sample(rng) as f32).collect() };
        let input = draw(items * d);
        let output = draw(items * d);
        let mut layers = Vec::new();
        if cfg.hidden > 0 {
            layers.push(LayerSpec::new(cfg.hidden, Activation::Relu));
        }
        layers.push(LayerSpec::new(d, Activation::Identity));
        let mlp = Mlp::new(MlpSpec::new(2 * d + 1, layers), Init::HeUniform, rng).map_err(|e| {
            OptimError::OutOfRange {
                name: "dnn layers",
                value: 0.0,
                range: Box::leak(e.to_string().into_boxed_str()),
            }
        })?;
        Ok(Dnn {
            dim: d,
            items,
            input,
            output,
            bias: vec![0.0; items],
            mlp,
            users: Vec::new(),
        })
    }

    /// X (N, 2d + 1) = [mean-pool(E, history) | mean-pool(E, last basket) | age] (K30).
    fn inputs(&self, history: Bags<'_>, last: Bags<'_>, age: &[f32]) -> Array2<f32> {
        let (n, d) = (history.len(), self.dim);
        let mut h = vec![0.0; n * d];
        let mut l = vec![0.0; n * d];
        pool_forward(&self.input, d, history, Pooling::Mean, &mut h);
        pool_forward(&self.input, d, last, Pooling::Mean, &mut l);
        let mut x = Array2::zeros((n, 2 * d + 1));
        for r in 0..n {
            let row = x.row_mut(r).into_slice().expect("row-major");
            row[..d].copy_from_slice(&h[r * d..(r + 1) * d]);
            row[d..2 * d].copy_from_slice(&l[r * d..(r + 1) * d]);
            row[2 * d] = age[r];
        }
        x
    }

    /// U (N, d) of the examples, in inference mode (K37).
    fn user_vectors(&self, history: Bags<'_>, last: Bags<'_>, age: &[f32]) -> Vec<f32> {
        let x = self.inputs(history, last, age);
        let mut ws = self.mlp.workspace(x.nrows());
        let fwd = self.mlp.forward(x.view(), MlpMode::Inference, &mut ws);
        fwd.output().iter().copied().collect()
    }

    /// (K36–K37) Fits on `split`'s training events: each epoch visits every example once in a
    /// fresh random order, in batches; dense Adam (PyTorch form, coupled L2) on Q, b and the
    /// network, and dense or lazy Adam (K35) on E. All randomness comes from one ChaCha8
    /// stream seeded with `cfg.seed`. `after_epoch` sees the model (with its user vectors)
    /// after each epoch when it asks for it by returning true from `wants(epoch)`.
    ///
    /// # Errors
    /// An invalid optimizer or layer setting.
    pub fn fit(
        split: &Split,
        cfg: &DnnConfig,
        wants: impl Fn(usize) -> bool,
        mut after_epoch: impl FnMut(usize, &Dnn),
    ) -> Result<Dnn, OptimError> {
        let items = split.items.len();
        let d = cfg.dim;
        let mut rng = seeded_rng(cfg.seed);
        let mut model = Dnn::init(items, cfg, &mut rng)?;
        let data = if cfg.next_examples {
            examples(split, cfg.horizon_days, cfg.example_age)
        } else {
            Examples::default()
        };
        let adam = OptimizerConfig::adam_torch(cfg.lr)
            .with_weight_decay(WeightDecay::L2(cfg.weight_decay));
        let mut opt_out = Optimizer::new(adam, items * d + items)?;
        let mut opt_mlp = Optimizer::new(adam, model.mlp.num_params())?;
        let mut opt_in_dense = Optimizer::new(adam, items * d)?;
        let mut opt_in_lazy = LazyAdam::new(adam, items, d)?;
        let proposal = Proposal::new(&buyers(split), 1.0);
        let mut ws = model.mlp.workspace(cfg.batch);
        let mut out_params = vec![0.0f32; items * d + items];
        let mut out_grads = vec![0.0f32; items * d + items];
        let mut d_input = vec![0.0f32; items * d];
        for epoch in 1..=cfg.epochs {
            let held;
            let data = if cfg.holdout > 0.0 {
                held = data.concat(&held_out_examples(split, cfg.holdout, &mut rng));
                &held
            } else {
                &data
            };
            let mut order = vec![0usize; data.len()];
            shuffled_order(&mut order, Some(&mut rng));
            for chunk in order.chunks(cfg.batch.max(1)) {
                let batch = data.select(chunk);
                let (hist, last, targets) = batch.bags();
                let n = batch.len();
                let x = model.inputs(hist, last, &batch.age);
                let fwd = model
                    .mlp
                    .forward(x.view(), MlpMode::Train(&mut rng), &mut ws);
                let u: Vec<f32> = fwd.output().iter().copied().collect();
                let mut d_u = vec![0.0f32; n * d];
                out_grads.fill(0.0);
                let (d_q, d_b) = out_grads.split_at_mut(items * d);
                match cfg.loss {
                    DnnLoss::Full(weighting) => {
                        let mut s = vec![0.0f32; n * items];
                        let qv = view(&model.output, items, d);
                        item_scores_forward(
                            view(&u, n, d),
                            qv,
                            &model.bias,
                            view_mut(&mut s, n, items),
                        );
                        let (_, cache) = softmax_ce_forward(view(&s, n, items), targets, weighting);
                        softmax_ce_backward(&cache, targets, view_mut(&mut s, n, items));
                        item_scores_backward(
                            view(&s, n, items),
                            view(&u, n, d),
                            qv,
                            view_mut(&mut d_u, n, d),
                            view_mut(d_q, items, d),
                            d_b,
                        );
                    }
                    DnnLoss::Sampled { samples, alpha } => {
                        let proposal = if alpha == 1.0 {
                            proposal.clone()
                        } else {
                            Proposal::new(&buyers(split), alpha)
                        };
                        let sampled = proposal.sample(samples, &mut rng);
                        // One row per (example, target) pair.
                        let rows: Vec<u32> = (0..n)
                            .flat_map(|r| std::iter::repeat_n(r as u32, targets.bag(r).len()))
                            .collect();
                        let mut u_pairs = vec![0.0f32; rows.len() * d];
                        embedding_forward(&u, d, &rows, &mut u_pairs);
                        let up = view(&u_pairs, rows.len(), d);
                        let (_, cache) = sampled_softmax_forward(
                            up,
                            &model.output,
                            &model.bias,
                            d,
                            targets.ids,
                            &sampled,
                            &proposal,
                        );
                        let mut d_pairs = vec![0.0f32; rows.len() * d];
                        sampled_softmax_backward(
                            &cache,
                            up,
                            d,
                            targets.ids,
                            &sampled,
                            view_mut(&mut d_pairs, rows.len(), d),
                            d_q,
                            d_b,
                        );
                        embedding_backward(&d_pairs, &rows, d, &mut d_u);
                    }
                }
                let back =
                    model
                        .mlp
                        .backward(fwd, Upstream::DY(view(&d_u, n, d)), GradWrite::Overwrite);
                let d_x = back.input_gradient();
                let d_hist: Vec<f32> = d_x
                    .rows()
                    .into_iter()
                    .flat_map(|r| r.to_vec()[..d].to_vec())
                    .collect();
                let d_last: Vec<f32> = d_x
                    .rows()
                    .into_iter()
                    .flat_map(|r| r.to_vec()[d..2 * d].to_vec())
                    .collect();
                d_input.fill(0.0);
                pool_backward(&d_hist, hist, Pooling::Mean, d, &mut d_input);
                pool_backward(&d_last, last, Pooling::Mean, d, &mut d_input);
                let (p, g) = model.mlp.params_and_grads_mut();
                opt_mlp.step(p, g);
                out_params[..items * d].copy_from_slice(&model.output);
                out_params[items * d..].copy_from_slice(&model.bias);
                opt_out.step(&mut out_params, &out_grads);
                model.output.copy_from_slice(&out_params[..items * d]);
                model.bias.copy_from_slice(&out_params[items * d..]);
                if cfg.lazy_input {
                    let mut touched: Vec<u32> = hist.ids.iter().chain(last.ids).copied().collect();
                    touched.sort_unstable();
                    touched.dedup();
                    opt_in_lazy.step(&mut model.input, &d_input, &touched);
                } else {
                    opt_in_dense.step(&mut model.input, &d_input);
                }
            }
            if wants(epoch) || epoch == cfg.epochs {
                model.users = model.all_user_vectors(split);
                after_epoch(epoch, &model);
            }
        }
        Ok(model)
    }

    /// (K37) Every training user's vector from their whole training history and their last
    /// basket.
    pub fn all_user_vectors(&self, split: &Split) -> Vec<f32> {
        let mut all = Examples::default();
        for user in 0..split.users.len() {
            let b = baskets(split, user);
            let history: Vec<u32> = split.history[user].iter().map(|o| o.item).collect();
            let last = b.last().map_or(&[][..], |(_, items)| items.as_slice());
            all.push(&history, last, &[], 0.0);
        }
        let (hist, last, _) = all.bags();
        self.user_vectors(hist, last, &all.age)
    }
}

/// Distinct training buyers of each item: the weights of the sampled softmax's proposal.
fn buyers(split: &Split) -> Vec<f64> {
    let mut n = vec![0.0; split.items.len()];
    for owned in &split.history {
        for o in owned {
            n[o.item as usize] += 1.0;
        }
    }
    n
}

impl Scorer for Dnn {
    fn n_items(&self) -> usize {
        self.items
    }

    /// (K32) s_ui = U[u] · Q[i] + b_i, in f64 from the f32 parameters.
    fn score(&self, user: u32, out: &mut [f64]) {
        let d = self.dim;
        let u = &self.users[user as usize * d..(user as usize + 1) * d];
        user_scores(u, &self.output, &self.bias, out);
    }
}
