//! The multilayer perceptron: a sequence of layers over one contiguous parameter buffer
//! (notes/backprop.md §5, equations B20–B20d).
//!
//! Layer `l` maps A₍ₗ₋₁₎ (N, Hₗ₋₁) to Yₗ = fₗ(A₍ₗ₋₁₎·Θₗᵀ + 1·bₗᵀ) (N, Hₗ), with A₋₁ = X (N, D)
//! and Aₗ = Yₗ ⊙ Mₗ when the layer has dropout in training (else Aₗ = Yₗ). The network's
//! output is Y of the last layer, (N, O).
//!
//! **Parameter layout.** Every parameter lives in one `Vec<T>`, layer by layer: Θ₀ row-major
//! (H₀, D), b₀ (H₀), Θ₁ (H₁, H₀), b₁, … The gradients live in a second `Vec<T>` with the
//! same layout, so an optimizer updates `params[i]` from `grads[i]` in one pass
//! ([`Mlp::params_and_grads_mut`]) and a checkpoint saves the named slices of
//! [`Mlp::tensors`] (`layers.0.weight`, `layers.0.bias`, … like a PyTorch `state_dict`).
//!
//! **No allocation per step.** A [`Workspace`] holds Z, Y, dropout masks and gradient
//! buffers for up to a maximum batch size (it grows once if a larger batch arrives), and
//! reserves the GEMM kernel's per-thread buffers for that size on every thread of the pool
//! it is made in ([`Workspace::reserve_gemm_scratch`]). [`Mlp::forward`] writes into it and
//! returns a [`Forward`] — the cache that [`Mlp::backward`] and [`Mlp::input_gradient`]
//! consume, so a backward pass cannot run without its forward pass. Forward + backward then
//! allocate nothing, in `f32` and `f64` (crates/core/tests/alloc_free.rs; the matrixmultiply
//! fallback, where the GEMM kernel does not run, still allocates per GEMM call).
//!
//! **Layers.** The network is a sequence of layer kinds ([`crate::layer`]), each with its
//! slice of the parameters and of the workspace and its forward and backward side by side;
//! this file calls them in order. A table network may start with input layers
//! (notes/tabular.md, N10: per-feature scaling, PLR embeddings) before its Dense layers;
//! the Dense-indexed accessors ([`Mlp::theta`], [`Forward::pre_activation`], …) count Dense
//! layers only. With the wide term (notes/backprop.md §12, B27–B30) the output layer's
//! pre-activation also gains `X·Wᵀ`, W (O, D) after every layer's parameters.
//!
//! ```
//! use glassbox_core::{Activation, GradWrite, Init, LayerSpec, Mlp, MlpSpec, Mode, Upstream, seeded_rng};
//! use ndarray::Array2;
//!
//! let spec = MlpSpec::new(3, vec![
//!     LayerSpec::new(4, Activation::Relu).with_dropout(0.5),
//!     LayerSpec::new(1, Activation::Sigmoid),
//! ]);
//! let mut rng = seeded_rng(42);
//! let mut mlp = Mlp::<f64>::new(spec, Init::GlorotUniform, &mut rng)?;
//! let mut ws = mlp.workspace(8);
//! let x = Array2::from_elem((8, 3), 0.5);
//! let y = Array2::<f64>::zeros((8, 1)); // targets
//!
//! // Training step: forward with dropout, fused sigmoid+BCE gradient ∂L/∂Z = (ŷ − y)/N.
//! let fwd = mlp.forward(x.view(), Mode::Train(&mut rng), &mut ws);
//! let d_z = (&fwd.output() - &y) / 8.0;
//! mlp.backward(fwd, Upstream::DZ(d_z.view()), GradWrite::Overwrite);
//! assert!(mlp.grads().iter().any(|&g| g != 0.0));
//! let names: Vec<String> = mlp.tensors().into_iter().map(|t| t.name).collect();
//! assert_eq!(names, ["layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias"]);
//! # Ok::<(), glassbox_core::MlpError>(())
//! ```

use std::ops::Range;

use ndarray::{Array2, ArrayView1, ArrayView2};

use crate::gemm::kernel::{self, Scratch};
use crate::layer::dense::DenseLayer;
use crate::layer::ensemble::EnsembleLayer;
use crate::layer::plr::PlrLayer;
use crate::layer::scale::ScaleLayer;
use crate::layer::{GradAt, GradWrite, Layer, LayerBuffers, mat, mat_mut};
use crate::{
    Float, Init, Rng, ShardPlan, WideTerm, wide_add_example_sq_norms, wide_backward_input_add,
    wide_backward_params,
};

mod spec;
mod units;
pub use spec::{InputLayerSpec, LayerSpec, MlpError, MlpSpec};
pub use units::{Deltas, Segment, square_sum};

/// A named slice of the parameter (or gradient) buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorInfo {
    /// `layers.{l}.weight` (shape `[H, D]`, row-major) or `layers.{l}.bias` (shape `[H]`),
    /// as in the `state_dict` of a PyTorch `nn.Sequential` of `nn.Linear` numbered by
    /// Dense index.
    pub name: String,
    /// Index of the first element in the buffer.
    pub offset: usize,
    /// The shape.
    pub shape: Vec<usize>,
}

impl TensorInfo {
    /// Number of elements (product of the shape).
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `offset .. offset + len`: the tensor's range in the buffer.
    pub fn range(&self) -> Range<usize> {
        self.offset..self.offset + self.len()
    }
}

/// (B20a, N10, N19) The layers of `spec` with the offsets of their parameters in the buffer,
/// layer by layer: the input layers first, each taking its parameter count, then the Dense
/// layers, `off(bₗ) = off(Θₗ) + Hₗ·Hₗ₋₁`, `off(Θₗ₊₁) = off(bₗ) + Hₗ`.
fn layout(spec: &MlpSpec) -> Vec<Layer> {
    let mut offset = 0;
    let mut fan_in = spec.inputs;
    let mut layers = Vec::with_capacity(spec.input_layers.len() + spec.layers.len());
    for l in &spec.input_layers {
        let layer = match l.plr(fan_in) {
            None => Layer::Scale(ScaleLayer {
                features: fan_in,
                offset,
            }),
            Some(plr) => Layer::Plr(PlrLayer::new(plr, offset, fan_in, l.columns())),
        };
        offset = layer.params().end;
        fan_in = layer.outputs();
        layers.push(layer);
    }
    layers.extend(spec.layers.iter().enumerate().map(|(i, l)| {
        let layer = match spec.ensemble_layer(i, fan_in, l.units) {
            // N19: a BatchEnsemble layer in place of the Dense one.
            Some(be) => Layer::Ensemble(EnsembleLayer {
                spec: be,
                offset,
                activation: l.activation,
            }),
            None => Layer::Dense(DenseLayer {
                inputs: fan_in,
                units: l.units,
                offset,
                activation: l.activation,
                dropout: l.dropout,
            }),
        };
        offset = layer.params().end;
        fan_in = l.units;
        layer
    }));
    layers
}

/// How [`Mlp::forward`] runs.
#[derive(Debug)]
pub enum Mode<'r> {
    /// No dropout: every layer's output is its activation's value.
    Inference,
    /// Training: layers with dropout draw a fresh mask from this RNG (layer by layer,
    /// row-major; nothing is drawn when no layer has dropout).
    Train(&'r mut Rng),
}

/// The gradient a backward pass starts from, (N, O).
#[derive(Clone, Copy, Debug)]
pub enum Upstream<'u, T> {
    /// ∂L/∂Z of the last layer — from a loss fused with the output activation: sigmoid +
    /// BCE and softmax + categorical cross-entropy give (ŷ − y)/N, identity + half-MSE too
    /// (notes/backprop.md §4 lists when this holds).
    DZ(ArrayView2<'u, T>),
    /// ∂L/∂Y of the last layer — converted through the output activation (B3).
    DY(ArrayView2<'u, T>),
}

/// A multilayer perceptron with its parameters and gradients in two flat buffers.
#[derive(Clone, Debug, PartialEq)]
pub struct Mlp<T: Float> {
    spec: MlpSpec,
    /// The layers in order, each with its slice of the buffers ([`crate::layer`]).
    layers: Vec<Layer>,
    /// Where W of the wide term sits (B27), when the spec asks for it.
    wide: Option<WideTerm>,
    /// Θ₀, b₀, Θ₁, b₁, … then W of the wide term (see the module doc).
    params: Vec<T>,
    /// Same layout as `params`; accumulated or written by backward, zeroed by
    /// [`Mlp::zero_grads`].
    grads: Vec<T>,
}

impl<T: Float> Mlp<T> {
    /// A network with every layer drawn by `init` from `rng`, layer by layer (B21–B23).
    pub fn new(spec: MlpSpec, init: Init, rng: &mut Rng) -> Result<Self, MlpError> {
        spec.validate()?;
        let mut mlp = Self::zeroed(spec);
        for layer in &mlp.layers {
            layer.init(&mut mlp.params[layer.params()], init, rng);
        }
        Ok(mlp)
    }

    /// A network holding `params` (laid out as in the module doc).
    pub fn from_params(spec: MlpSpec, params: Vec<T>) -> Result<Self, MlpError> {
        spec.validate()?;
        let expected = spec.num_params();
        if params.len() != expected {
            return Err(MlpError::ParamCount {
                expected,
                got: params.len(),
            });
        }
        let mut mlp = Self::zeroed(spec);
        mlp.params = params;
        Ok(mlp)
    }

    fn zeroed(spec: MlpSpec) -> Self {
        let n = spec.num_params();
        let layers = layout(&spec);
        // B27: W after every layer's parameters; zero until trained (the wide part starts
        // at 0, and the layers' draws are those of the network without it).
        let wide = spec.wide.then(|| WideTerm {
            inputs: spec.inputs,
            outputs: spec.outputs(),
            offset: layers.last().map_or(0, |l| l.params().end),
        });
        Mlp {
            layers,
            wide,
            spec,
            params: vec![T::zero(); n],
            grads: vec![T::zero(); n],
        }
    }

    /// The same network in another float type (each parameter rounded to nearest through
    /// `f64`; gradients are reset to zero).
    pub fn cast<U: Float>(&self) -> Mlp<U> {
        Mlp {
            spec: self.spec.clone(),
            layers: self.layers.clone(),
            wide: self.wide,
            params: self
                .params
                .iter()
                .map(|&p| U::from_f64(Float::to_f64(p)))
                .collect(),
            grads: vec![U::zero(); self.grads.len()],
        }
    }

    /// The architecture.
    pub fn spec(&self) -> &MlpSpec {
        &self.spec
    }

    /// Number of Dense layers (the input layers of tables not counted).
    pub fn num_layers(&self) -> usize {
        self.spec.layers.len()
    }

    /// Number of input layers of tables before the Dense layers (N10).
    pub fn num_input_layers(&self) -> usize {
        self.spec.input_layers.len()
    }

    /// Number of parameters (length of [`Mlp::params`]).
    pub fn num_params(&self) -> usize {
        self.params.len()
    }

    /// All parameters, laid out Θ₀, b₀, Θ₁, b₁, …
    pub fn params(&self) -> &[T] {
        &self.params
    }

    /// All parameters, mutable.
    pub fn params_mut(&mut self) -> &mut [T] {
        &mut self.params
    }

    /// All gradients, same layout as [`Mlp::params`].
    pub fn grads(&self) -> &[T] {
        &self.grads
    }

    /// All gradients, mutable.
    pub fn grads_mut(&mut self) -> &mut [T] {
        &mut self.grads
    }

    /// Parameters (mutable) and gradients together, for an optimizer's one-pass update.
    pub fn params_and_grads_mut(&mut self) -> (&mut [T], &[T]) {
        (&mut self.params, &self.grads)
    }

    /// Sets every gradient to zero: the separate step between accumulations.
    pub fn zero_grads(&mut self) {
        self.grads.fill(T::zero());
    }

    /// The named tensors of the buffer (B20a): `layers.{l}.weight` of shape `[Hₗ, Hₗ₋₁]`, then
    /// `layers.{l}.bias` of shape `[Hₗ]`, for each layer in buffer order.
    pub fn tensors(&self) -> Vec<TensorInfo> {
        let mut out = Vec::with_capacity(2 * self.layers.len());
        for (l, layer) in self.layers.iter().enumerate() {
            layer.tensors(l, &mut out);
        }
        out.extend(self.wide.map(|w| w.tensor()));
        out
    }

    /// Dense layer `l` (after the input layers).
    fn dense(&self, l: usize) -> &DenseLayer {
        match &self.layers[self.spec.input_layers.len() + l] {
            Layer::Dense(dense) => dense,
            _ => panic!("mlp: layer {l} is not Dense (a BatchEnsemble network has no Θₗ, N19)"),
        }
    }

    /// Θₗ (Hₗ, Hₗ₋₁).
    ///
    /// # Panics
    /// If `l` ≥ the number of layers, or the network is a BatchEnsemble one (N19).
    pub fn theta(&self, l: usize) -> ArrayView2<'_, T> {
        let layer = self.dense(l);
        layer.theta_and_bias(&self.params[layer.params()]).0
    }

    /// bₗ (Hₗ).
    ///
    /// # Panics
    /// If `l` ≥ the number of layers.
    pub fn bias(&self, l: usize) -> ArrayView1<'_, T> {
        let layer = self.dense(l);
        layer.theta_and_bias(&self.params[layer.params()]).1.into()
    }

    /// ∂L/∂Θₗ (Hₗ, Hₗ₋₁), as the last backward left it.
    ///
    /// # Panics
    /// If `l` ≥ the number of layers.
    pub fn d_theta(&self, l: usize) -> ArrayView2<'_, T> {
        let layer = self.dense(l);
        layer.theta_and_bias(&self.grads[layer.params()]).0
    }

    /// ∂L/∂bₗ (Hₗ), as the last backward left it.
    ///
    /// # Panics
    /// If `l` ≥ the number of layers.
    pub fn d_bias(&self, l: usize) -> ArrayView1<'_, T> {
        let layer = self.dense(l);
        layer.theta_and_bias(&self.grads[layer.params()]).1.into()
    }

    /// A workspace for batches of up to `max_rows` rows (it grows if a larger one arrives).
    pub fn workspace(&self, max_rows: usize) -> Workspace<T> {
        Workspace::new(self, max_rows)
    }

    /// Forward pass (B20: each layer's forward in order — B1, B2, B15 for Dense) of X (N, D)
    /// into `ws`.
    ///
    /// Returns the [`Forward`] cache: read the output (N, O) or the logits from it, then
    /// hand it to [`Mlp::backward`] or [`Mlp::input_gradient`]. In [`Mode::Train`] layers
    /// with dropout draw their masks from the RNG; in [`Mode::Inference`] dropout is the
    /// identity. Allocates only if N exceeds the workspace's capacity.
    ///
    /// # Panics
    /// If X does not have D columns, or `ws` was made for another architecture.
    pub fn forward<'a>(
        &self,
        x: ArrayView2<'a, T>,
        mode: Mode<'_>,
        ws: &'a mut Workspace<T>,
    ) -> Forward<'a, T> {
        assert_eq!(
            x.ncols(),
            self.spec.inputs,
            "mlp: X is {:?} but the network has {} inputs",
            x.dim(),
            self.spec.inputs
        );
        ws.check_fits(self);
        let n = x.nrows();
        ws.reserve_rows(n);
        ws.rows = n;
        let mut rng = match mode {
            Mode::Train(rng) => Some(rng),
            Mode::Inference => None,
        };
        for (l, layer) in self.layers.iter().enumerate() {
            let (below, rest) = ws.layers.split_at_mut(l);
            let input = below.last().map_or(x.view(), |prev| prev.output(n));
            let params = &self.params[layer.params()];
            layer.forward(params, input, &mut rest[0], rng.as_deref_mut());
        }
        if let (Some(wide), Some(top), Some(bufs)) =
            (&self.wide, self.layers.last(), ws.layers.last_mut())
        {
            top.add_wide(x, wide.weight(&self.params), bufs); // B27
        }
        Forward { x, ws }
    }

    /// Backward pass from the gradient at the output (B20b–B20d: each layer's backward, last
    /// layer first — B16, B3, B4, B5, B6 for Dense), landing every parameter's gradient in
    /// [`Mlp::grads`] as `write` says: [`GradWrite::Accumulate`] adds (the reference form),
    /// [`GradWrite::Overwrite`] writes without reading (what a training step uses).
    ///
    /// Returns the [`Backward`] state, from which [`Backward::input_gradient`] takes the one
    /// step further down to ∂L/∂X (B6 on the first layer); drop it when ∂L/∂X is not
    /// wanted, and that product is never computed.
    ///
    /// # Panics
    /// If the upstream gradient is not (N, O) for the forward pass's N.
    pub fn backward<'a, 'm>(
        &'m mut self,
        fwd: Forward<'a, T>,
        upstream: Upstream<'_, T>,
        write: GradWrite,
    ) -> Backward<'a, 'm, T> {
        let grads = Some((self.grads.as_mut_slice(), write));
        let ws = backward_layers(&self.layers, self.wide, &self.params, grads, fwd, upstream);
        Backward { mlp: self, ws }
    }

    /// [`Mlp::backward`] with the parameter gradients summed by shards (T11): every layer's
    /// δ for the whole batch (row by row, as [`Mlp::backward`] computes them), then each
    /// layer's gradient **written** as `((P₀ + P₁) + …) + P_{S−1}`, `P_s` the gradient of
    /// shard s's rows from zero ([`ShardPlan`]). With one shard this is [`Mlp::backward`]
    /// with [`GradWrite::Overwrite`], bit for bit; with more, the same sum N processes form
    /// from their shards' partials ([`Mlp::backward_shards`]).
    ///
    /// # Panics
    /// If the upstream gradient is not (N, O), or `plan` is not for N rows.
    pub fn backward_sharded(
        &mut self,
        fwd: Forward<'_, T>,
        upstream: Upstream<'_, T>,
        plan: ShardPlan,
    ) {
        let rows = fwd.rows();
        assert_eq!(
            plan.rows(),
            rows,
            "mlp: shard plan for {} rows, batch of {rows}",
            plan.rows()
        );
        // Every shard is "this rank's" in one process.
        self.backward_shards(fwd, upstream, plan, 0..plan.count());
    }

    /// Backward pass with per-example clipping (notes/privacy.md §11, P18–P21), for DP-SGD:
    /// the parameter gradients are **written** ([`GradWrite::Overwrite`]) as
    /// `Σᵢ min(1, C/‖gᵢ‖)·gᵢ`, the sum of the per-example gradients `gᵢ` (every parameter,
    /// one flat norm) each clipped to L2 norm at most `max_norm` = C, without forming any
    /// `gᵢ`:
    /// 1. every layer's δ = ∂ℓ/∂Z, last layer first, each from the *unclipped* δ above
    ///    (B20b–B20d, as [`Mlp::backward`]);
    /// 2. `‖gᵢ‖² = Σₗ ‖δₗᵢ‖²·(‖aₗ₋₁,ᵢ‖² + 1)` (P19), summed over layers in f64;
    /// 3. `cᵢ = min(1, C/‖gᵢ‖)` (P20);
    /// 4. every layer's δ rows scaled by `cᵢ`, then the ordinary parameter GEMMs (P21).
    ///
    /// The upstream gradient must be per example: row i is `∂ℓᵢ/∂Z` (or `∂ℓᵢ/∂Y`) of the
    /// last layer for example i's own loss `ℓᵢ`, not a batch mean. Returns `‖gᵢ‖` (N,)
    /// before clipping, a view into the workspace. Since the δ's are left scaled, no input
    /// gradient follows. Allocates nothing once the workspace holds N rows.
    ///
    /// # Panics
    /// If the upstream gradient is not (N, O), or `max_norm` is not positive.
    pub fn backward_clipped<'a>(
        &mut self,
        fwd: Forward<'a, T>,
        upstream: Upstream<'_, T>,
        max_norm: f64,
    ) -> &'a [f64] {
        self.backward_clipped_by(fwd, upstream, max_norm, ClipRule::Flat)
    }

    /// [`Mlp::backward_clipped`] with the factor of step 3 chosen by `rule`: `min(1, C/‖gᵢ‖)`
    /// (P20), `C/(‖gᵢ‖ + γ)` (P30), or per layer `min(1, C_l/‖gₗᵢ‖)` with `Σₗ C_l² = C²`
    /// (P32–P33; each layer's norm, factor, scaling and GEMM in turn, since a layer's factor
    /// needs only its own norm). Every example's scaled gradient has norm at most C; the
    /// returned norms are the whole ‖gᵢ‖ for every rule.
    ///
    /// # Panics
    /// As [`Mlp::backward_clipped`], if γ is not positive and finite, and for per-layer
    /// clipping of a network with the wide term (its W has no budget in P33).
    pub fn backward_clipped_by<'a>(
        &mut self,
        fwd: Forward<'a, T>,
        upstream: Upstream<'_, T>,
        max_norm: f64,
        rule: ClipRule,
    ) -> &'a [f64] {
        if let ClipRule::Automatic { gamma } = rule {
            assert!(
                gamma > 0.0 && gamma.is_finite(),
                "mlp: automatic clipping needs γ > 0, got {gamma}"
            );
        }
        assert!(
            max_norm > 0.0,
            "mlp: clipping norm must be positive, got {max_norm}"
        );
        let (x, ws) = backward_deltas(&self.layers, &self.params, fwd, upstream);
        let n = ws.rows;
        let Workspace {
            layers: bufs,
            example_norms,
            clip_factors,
            ..
        } = ws;
        let norms = &mut example_norms[..n];
        norms.fill(0.0);
        if let ClipRule::PerLayer(budget) = rule {
            // P33 budgets the Dense layers; W of the wide term would escape the bound.
            assert!(
                self.wide.is_none(),
                "mlp: per-layer clipping does not cover the wide term"
            );
            let factors = &mut clip_factors[..n];
            let total = budget_total(&self.layers, budget);
            for (l, layer) in self.layers.iter().enumerate() {
                let (below, rest) = bufs.split_at_mut(l);
                let input = below.last().map_or(x.view(), |prev| prev.output(n));
                let c_l = layer_clip_norm(max_norm, budget_weight(layer, budget), total); // P33
                factors.fill(0.0);
                layer.add_example_sq_norms(input, &rest[0], factors); // P19, layer l's term
                for (c, norm) in factors.iter_mut().zip(norms.iter_mut()) {
                    *norm += *c;
                    *c = clip_factor(c.sqrt(), c_l); // P32
                }
                let grads = &mut self.grads[layer.params()];
                layer.clipped_param_gradients(grads, input, &mut rest[0], factors); // P21, layer by layer
            }
            norms.iter_mut().for_each(|v| *v = v.sqrt());
            let ws: &'a Workspace<T> = ws;
            return &ws.example_norms[..n];
        }
        for (l, layer) in self.layers.iter().enumerate() {
            let input = if l == 0 {
                x.view()
            } else {
                bufs[l - 1].output(n)
            };
            layer.add_example_sq_norms(input, &bufs[l], norms); // P19
        }
        if let (Some(_), Some(top)) = (self.wide, bufs.last()) {
            wide_add_example_sq_norms(x, top.grad(n), norms); // B30
        }
        let factors = &mut clip_factors[..n];
        for (c, norm) in factors.iter_mut().zip(norms.iter_mut()) {
            *norm = norm.sqrt();
            *c = match rule {
                ClipRule::Flat => clip_factor(*norm, max_norm), // P20
                ClipRule::Automatic { gamma } => automatic_clip_factor(*norm, max_norm, gamma), // P30
                ClipRule::PerLayer(_) => unreachable!("per-layer clipping returned above"),
            };
        }
        for (l, layer) in self.layers.iter().enumerate() {
            let (below, rest) = bufs.split_at_mut(l);
            let input = below.last().map_or(x.view(), |prev| prev.output(n));
            let grads = &mut self.grads[layer.params()];
            layer.clipped_param_gradients(grads, input, &mut rest[0], factors); // P21
        }
        if let (Some(wide), Some(top)) = (self.wide, bufs.last()) {
            let d_w = wide.weight_mut(&mut self.grads);
            wide_backward_params(x, top.grad(n), d_w, GradWrite::Overwrite, 0..n); // B28
        }
        let ws: &'a Workspace<T> = ws;
        &ws.example_norms[..n]
    }

    /// (P33) Every layer's clipping norm `C_l` under `budget`, in layer order.
    pub fn layer_clip_norms(&self, max_norm: f64, budget: LayerBudget) -> Vec<f64> {
        let total = budget_total(&self.layers, budget);
        self.layers
            .iter()
            .map(|l| layer_clip_norm(max_norm, budget_weight(l, budget), total))
            .collect()
    }

    /// ∂L/∂X (N, D) only: the same backward recursion, leaving the parameter gradients
    /// alone (for explanations of a trained model; takes `&self`). A view into the
    /// workspace.
    ///
    /// # Panics
    /// If the upstream gradient is not (N, O).
    pub fn input_gradient<'a>(
        &self,
        fwd: Forward<'a, T>,
        upstream: Upstream<'_, T>,
    ) -> ArrayView2<'a, T> {
        let ws = backward_layers(&self.layers, self.wide, &self.params, None, fwd, upstream);
        Backward { mlp: self, ws }.input_gradient()
    }

    /// The output (N, O) of X in inference mode, in a fresh array (allocates a workspace;
    /// use [`Mlp::forward`] with a kept [`Workspace`] in loops).
    ///
    /// # Panics
    /// If X does not have D columns.
    pub fn predict(&self, x: ArrayView2<T>) -> Array2<T> {
        let mut ws = self.workspace(x.nrows());
        self.forward(x, Mode::Inference, &mut ws)
            .output()
            .to_owned()
    }
}

/// (P20) The clipping factor of an example whose gradient has norm `norm`:
/// `min(1, C/‖g‖)`, 1 for a zero gradient. A NaN norm gives 1, so the NaN reaches the
/// gradient and the step's finiteness check.
pub fn clip_factor(norm: f64, max_norm: f64) -> f64 {
    if norm > max_norm {
        max_norm / norm
    } else {
        1.0
    }
}

/// How each example's gradient is bounded by C before the sum (notes/privacy.md §11).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ClipRule {
    /// (P20) `min(1, C/‖gᵢ‖)`: gradients shorter than C kept as they are.
    Flat,
    /// (P30) `C/(‖gᵢ‖ + γ)`, automatic clipping (Bu, Wang, Zha & Karypis 2023): every
    /// gradient normalised to length `C·‖gᵢ‖/(‖gᵢ‖ + γ) < C`; γ > 0 keeps a zero gradient at 0.
    Automatic {
        /// γ, the stability constant (Bu et al.: 0.01).
        gamma: f64,
    },
    /// (P32) Per layer: layer l's part `gₗᵢ` of example i's gradient scaled by
    /// `min(1, C_l/‖gₗᵢ‖)`, the `C_l` split from C by the [`LayerBudget`] (P33), so that
    /// `‖ḡᵢ‖² = Σₗ ‖ḡₗᵢ‖² ≤ Σₗ C_l² = C²` (McMahan, Ramage, Talwar & Zhang 2018).
    PerLayer(LayerBudget),
}

/// How per-layer clipping (P32) splits the budget C² over the layers (P33).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerBudget {
    /// `C_l = C·√(1/L)`: every layer the same share (McMahan et al. 2018).
    Equal,
    /// `C_l = C·√(P_l/P)`: a layer's share of C² proportional to its parameters `P_l`.
    Params,
}

/// Layer l's weight `w_l` in the split of C² (P33): 1, or its number of parameters.
fn budget_weight(layer: &Layer, budget: LayerBudget) -> f64 {
    match budget {
        LayerBudget::Equal => 1.0,
        LayerBudget::Params => layer.params().len() as f64,
    }
}

/// `W = Σₗ w_l` over the layers, in layer order (P33).
fn budget_total(layers: &[Layer], budget: LayerBudget) -> f64 {
    layers.iter().map(|l| budget_weight(l, budget)).sum()
}

/// (P33) Layer l's clipping norm `C_l = C·√(w_l/W)`, so that `Σₗ C_l² = C²·Σₗ w_l/W = C²`
/// (to rounding, as P20's `min(1, C/‖g‖)·‖g‖ ≤ C`).
pub fn layer_clip_norm(max_norm: f64, weight: f64, total: f64) -> f64 {
    max_norm * (weight / total).sqrt()
}

/// (P30) The automatic clipping factor `C/(‖g‖ + γ)` of an example whose gradient has norm
/// `norm`: the scaled gradient's norm `C·‖g‖/(‖g‖ + γ)` is below C for every ‖g‖ ≥ 0. A NaN
/// norm gives NaN, which reaches the gradient and the step's finiteness check.
pub fn automatic_clip_factor(norm: f64, max_norm: f64, gamma: f64) -> f64 {
    max_norm / (norm + gamma)
}

/// Writes the upstream gradient (N, O) into the last layer's gradient buffer; returns what
/// that buffer now holds.
fn start_backward<T: Float>(
    layers: &[Layer],
    ws: &mut Workspace<T>,
    upstream: Upstream<'_, T>,
) -> GradAt {
    let n = ws.rows;
    let (d, top_at) = match upstream {
        Upstream::DZ(d) => (d, GradAt::PreActivation),
        Upstream::DY(d) => (d, GradAt::Output),
    };
    let outputs = layers.last().map_or(0, Layer::outputs);
    assert_eq!(
        d.dim(),
        (n, outputs),
        "mlp: the upstream gradient is {:?} but the output is ({n}, {outputs})",
        d.dim(),
    );
    let top = ws.layers.last_mut().expect("a network has layers");
    top.grad_mut(n).assign(&d);
    top_at
}

/// What the gradient buffer of layer `l` of `count` holds when its backward starts.
fn grad_at(l: usize, count: usize, top_at: GradAt) -> GradAt {
    if l + 1 == count {
        top_at
    } else {
        GradAt::Output
    }
}

/// The backward recursion (B20b–B20d) of [`Mlp::backward`] and [`Mlp::input_gradient`]:
/// the upstream gradient into the last layer's gradient buffer, then each layer's backward,
/// last first, each writing ∂L/∂input into the gradient buffer of the layer below, then the
/// wide term's d_W from the output layer's δ (B28). With `grads = None` only the input
/// gradients are propagated. Stops above the first layer's ∂L/∂X; returns the workspace,
/// now holding every layer's ∂L/∂Z.
fn backward_layers<'a, T: Float>(
    layers: &[Layer],
    wide: Option<WideTerm>,
    params: &[T],
    mut grads: Option<(&mut [T], GradWrite)>,
    fwd: Forward<'a, T>,
    upstream: Upstream<'_, T>,
) -> &'a mut Workspace<T> {
    let Forward { x, ws } = fwd;
    let n = ws.rows;
    let top_at = start_backward(layers, ws, upstream);
    for (l, layer) in layers.iter().enumerate().rev() {
        let at = grad_at(l, layers.len(), top_at);
        let range = layer.params();
        let (below, rest) = ws.layers.split_at_mut(l);
        let bufs = &mut rest[0];
        let input = below.last().map_or(x.view(), |prev| prev.output(n));
        let layer_grads = grads
            .as_mut()
            .map(|(g, write)| (&mut g[range.clone()], *write));
        layer.backward(&params[range.clone()], layer_grads, input, bufs, at);
        if let Some(prev) = below.last_mut() {
            layer.input_gradient(&params[range], bufs, prev.grad_mut(n));
        }
    }
    if let (Some(wide), Some((g, write)), Some(top)) = (wide, grads, ws.layers.last()) {
        // B28: the output layer's δ, which its own Θ and b read too, times X.
        wide_backward_params(x, top.grad(n), wide.weight_mut(g), write, 0..n);
    }
    ws
}

/// Step 1 of [`Mlp::backward_clipped`]: every layer's δ, last first, each layer's
/// ∂L/∂input computed from its unscaled δ (B20b–B20d without the parameter products).
/// Returns X and the workspace, holding every layer's δ.
fn backward_deltas<'a, T: Float>(
    layers: &[Layer],
    params: &[T],
    fwd: Forward<'a, T>,
    upstream: Upstream<'_, T>,
) -> (ArrayView2<'a, T>, &'a mut Workspace<T>) {
    let Forward { x, ws } = fwd;
    let n = ws.rows;
    let top_at = start_backward(layers, ws, upstream);
    for (l, layer) in layers.iter().enumerate().rev() {
        let (below, rest) = ws.layers.split_at_mut(l);
        let params = &params[layer.params()];
        layer.delta(params, n, &mut rest[0], grad_at(l, layers.len(), top_at));
        if let Some(prev) = below.last_mut() {
            layer.input_gradient(params, &rest[0], prev.grad_mut(n));
        }
    }
    (x, ws)
}

/// What [`Mlp::backward`] leaves: every layer's ∂L/∂Z in the workspace, one product away
/// from ∂L/∂X.
#[derive(Debug)]
pub struct Backward<'a, 'm, T: Float> {
    /// The network, for Θ₀ (borrowed from the backward call until this is used or dropped).
    mlp: &'m Mlp<T>,
    ws: &'a mut Workspace<T>,
}

impl<'a, T: Float> Backward<'a, '_, T> {
    /// ∂L/∂X (N, D) = ∂L/∂Z₀·Θ₀ (B6 on the first layer), plus `∂L/∂Z_out·W` with the wide
    /// term (B29), written into the workspace; a view of it.
    pub fn input_gradient(self) -> ArrayView2<'a, T> {
        let Backward { mlp, ws } = self;
        let (n, first) = (ws.rows, &mlp.layers[0]);
        let d_x = mat_mut(&mut ws.d_x, n, first.inputs());
        first.input_gradient(&mlp.params[first.params()], &ws.layers[0], d_x);
        if let (Some(wide), Some(top)) = (mlp.wide, ws.layers.last()) {
            let d_x = mat_mut(&mut ws.d_x, n, first.inputs());
            wide_backward_input_add(wide.weight(&mlp.params), top.grad(n), d_x); // B29
        }
        let ws: &'a Workspace<T> = ws;
        mat(&ws.d_x, n, first.inputs())
    }
}

/// The cache of one forward pass: the input X and the workspace holding every layer's
/// buffers (Z, Y, masks). [`Mlp::backward`] and [`Mlp::input_gradient`] consume it.
#[derive(Debug)]
pub struct Forward<'a, T: Float> {
    /// X (N, D): the first layer's weight gradient is `d_z₀ᵀ·X` (B4).
    x: ArrayView2<'a, T>,
    /// Every layer's buffers for this batch: Z is read by the derivative of ReLU-like
    /// activations, Y by sigmoid/tanh/softmax and as the next layer's input, the masks by
    /// dropout's backward (B16).
    ws: &'a mut Workspace<T>,
}

impl<'a, T: Float> Forward<'a, T> {
    /// N, the rows of this batch.
    pub fn rows(&self) -> usize {
        self.ws.rows
    }

    /// The input X (N, D).
    pub fn input(&self) -> ArrayView2<'_, T> {
        self.x.view()
    }

    /// The network's output Y (N, O).
    pub fn output(&self) -> ArrayView2<'_, T> {
        let ws = &self.ws;
        ws.layers[ws.layers.len() - 1].activation_output(ws.rows)
    }

    /// The last layer's pre-activation Z (N, O): the logits a fused loss starts from.
    pub fn logits(&self) -> ArrayView2<'_, T> {
        let ws = &self.ws;
        ws.layers[ws.layers.len() - 1].pre_activation(ws.rows)
    }

    /// Dense layer `l`'s pre-activation Zₗ (N, Hₗ) (counted after the input layers).
    ///
    /// # Panics
    /// If `l` ≥ the number of layers.
    pub fn pre_activation(&self, l: usize) -> ArrayView2<'_, T> {
        self.ws.layers[self.ws.input_layers + l].pre_activation(self.ws.rows)
    }

    /// Input layer `j`'s pre-activation (N, out), `j` < the number of input layers of
    /// tables: a PLR layer's z before its ReLU (N4), per-feature scaling's output (N1).
    ///
    /// # Panics
    /// If `j` ≥ the number of input layers.
    pub fn input_layer_pre_activation(&self, j: usize) -> ArrayView2<'_, T> {
        assert!(j < self.ws.input_layers, "input layer {j} does not exist");
        self.ws.layers[j].pre_activation(self.ws.rows)
    }

    /// Dense layer `l`'s activation value Yₗ (N, Hₗ), before dropout (counted after the
    /// input layers).
    ///
    /// # Panics
    /// If `l` ≥ the number of layers.
    pub fn activation_output(&self, l: usize) -> ArrayView2<'_, T> {
        self.ws.layers[self.ws.input_layers + l].activation_output(self.ws.rows)
    }

    /// The output (N, O), keeping the workspace borrowed for `'a` (ends the pass).
    pub fn into_output(self) -> ArrayView2<'a, T> {
        let ws: &'a Workspace<T> = self.ws;
        let last = ws.layers.len() - 1;
        ws.layers[last].activation_output(ws.rows)
    }
}

/// Preallocated buffers for one network's forward and backward passes: each layer's slice
/// ([`crate::layer`]; for a Dense layer Z, Y, the gradient buffer G and, with dropout, the
/// mask M and the dropped output A, all (N, Hₗ)), plus ∂L/∂X (N, D), for up to `capacity`
/// rows.
#[derive(Clone, Debug)]
pub struct Workspace<T: Float> {
    inputs: usize,
    /// How many of `layers` are input layers of tables (N10), before the Dense ones.
    input_layers: usize,
    capacity: usize,
    /// N of the last forward pass.
    rows: usize,
    layers: Vec<LayerBuffers<T>>,
    /// ∂L/∂X (N, D).
    d_x: Vec<T>,
    /// ‖gᵢ‖ (N) of [`Mlp::backward_clipped`]: first the squared norms, summed over layers.
    example_norms: Vec<f64>,
    /// `min(1, C/‖gᵢ‖)` (N) of [`Mlp::backward_clipped`].
    clip_factors: Vec<f64>,
}

impl<T: Float> Workspace<T> {
    /// Buffers for `mlp` and batches of up to `max_rows` rows; reserves the GEMM kernel's
    /// buffers for them on this thread and its pool ([`Workspace::reserve_gemm_scratch`]).
    pub fn new(mlp: &Mlp<T>, max_rows: usize) -> Self {
        let mut ws = Workspace {
            inputs: mlp.spec.inputs,
            input_layers: mlp.spec.input_layers.len(),
            capacity: 0,
            rows: 0,
            layers: mlp.layers.iter().map(Layer::buffers).collect(),
            d_x: Vec::new(),
            example_norms: Vec::new(),
            clip_factors: Vec::new(),
        };
        ws.reserve_rows(max_rows);
        ws
    }

    /// The number of rows the buffers hold without growing.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Grows every buffer to hold `n` rows if it holds fewer (the only allocation), and then
    /// reserves the GEMM kernel's per-thread buffers for them ([`Workspace::reserve_gemm_scratch`]).
    pub fn reserve_rows(&mut self, n: usize) {
        if n <= self.capacity {
            return;
        }
        self.capacity = n;
        for buf in &mut self.layers {
            buf.reserve_rows(n);
        }
        self.d_x.resize(n * self.inputs, T::zero());
        self.example_norms.resize(n, 0.0);
        self.clip_factors.resize(n, 0.0);
        self.reserve_gemm_scratch();
    }

    /// The most GEMM scratch any layer's products need in a forward and backward pass of up
    /// to `capacity` rows with a row-major X ([`crate::dense_gemm_scratch`] for Dense).
    pub fn gemm_scratch(&self) -> Scratch {
        self.layers.iter().fold(Scratch::default(), |most, buf| {
            most.max(buf.gemm_scratch(self.capacity))
        })
    }

    /// Reserves [`Workspace::gemm_scratch`] in the GEMM kernel's per-thread buffers, on the
    /// calling thread and, when it is a rayon worker, on every worker of its pool
    /// ([`crate::gemm::kernel::reserve_scratch_in_pool`]). After that, a pass on this
    /// workspace allocates nothing in the kernel, whichever thread runs which block.
    ///
    /// [`Workspace::new`] and every growth call it, so a workspace made inside
    /// `pool.install` (as the trainer makes its own) has its pool ready. To use the
    /// workspace on another pool, call this inside that pool too.
    pub fn reserve_gemm_scratch(&self) {
        kernel::reserve_scratch_in_pool(self.gemm_scratch());
    }

    /// Whether the buffers were made for `mlp`'s architecture (a pass with it may use them).
    pub fn fits(&self, mlp: &Mlp<T>) -> bool {
        self.inputs == mlp.spec.inputs
            && self.layers.len() == mlp.layers.len()
            && mlp.layers.iter().zip(&self.layers).all(|(l, b)| l.fits(b))
    }

    fn check_fits(&self, mlp: &Mlp<T>) {
        assert!(
            self.fits(mlp),
            "mlp: the workspace was made for another architecture (inputs {}, units {:?})",
            self.inputs,
            self.layers.iter().map(|b| b.outputs()).collect::<Vec<_>>()
        );
    }
}

#[cfg(test)]
mod tests;
