//! The multilayer perceptron: a stack of Dense layers over one contiguous parameter buffer
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
//! returns a [`Forward`] — the cache that every backward method consumes, so a backward pass
//! cannot run without its forward pass. Forward + backward then allocate nothing, in `f32`
//! and `f64` (tests/alloc_free.rs; the matrixmultiply fallback on CPUs without AVX2+FMA
//! still allocates per GEMM call).
//!
//! ```
//! use glassbox_core::{Activation, Init, LayerSpec, Mlp, MlpSpec, Mode, seeded_rng};
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
//! mlp.zero_grads();
//! mlp.backward_from_d_z(fwd, d_z.view());
//! assert!(mlp.grads().iter().any(|&g| g != 0.0));
//! let names: Vec<String> = mlp.tensors().into_iter().map(|t| t.name).collect();
//! assert_eq!(names, ["layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias"]);
//! # Ok::<(), glassbox_core::MlpError>(())
//! ```

use std::fmt;
use std::ops::Range;

use ndarray::{Array2, ArrayView1, ArrayView2, ArrayViewMut1, ArrayViewMut2};

use crate::dense::dense_gemm_scratch;
use crate::dropout::dropout_p_is_valid;
use crate::gemm::kernel::{self, Scratch};
use crate::{
    Activation, ActivationError, Float, Init, Rng, dense_backward_input, dense_backward_params,
    dense_backward_params_overwrite, dense_forward, dropout_backward, dropout_forward,
    dropout_sample_mask,
};

/// One Dense layer of an [`MlpSpec`].
#[derive(Clone, Debug, PartialEq)]
pub struct LayerSpec {
    /// Hₗ, the number of units (outputs) of the layer.
    pub units: usize,
    /// The activation fₗ.
    pub activation: Activation,
    /// Drop probability applied to this layer's output during training (inverted dropout,
    /// B14–B16); 0 = none. Must be in `[0, 1)`, and 0 on the last layer.
    pub dropout: f64,
}

impl LayerSpec {
    /// A layer without dropout.
    pub fn new(units: usize, activation: Activation) -> Self {
        LayerSpec {
            units,
            activation,
            dropout: 0.0,
        }
    }

    /// The same layer with drop probability `p` on its output during training.
    pub fn with_dropout(mut self, p: f64) -> Self {
        self.dropout = p;
        self
    }
}

/// The architecture of an [`Mlp`]: D inputs, then the layers in order.
#[derive(Clone, Debug, PartialEq)]
pub struct MlpSpec {
    /// D, the number of input features.
    pub inputs: usize,
    /// The Dense layers, input side first; the last one's `units` is O.
    pub layers: Vec<LayerSpec>,
}

/// Why an [`MlpSpec`] or a parameter buffer was rejected.
#[derive(Clone, Debug, PartialEq)]
pub enum MlpError {
    /// The spec has no layers.
    NoLayers,
    /// `inputs` is 0.
    NoInputs,
    /// A layer has 0 units.
    NoUnits {
        /// Index of the layer.
        layer: usize,
    },
    /// A layer's activation parameter is invalid.
    Activation {
        /// Index of the layer.
        layer: usize,
        /// The activation's own error.
        source: ActivationError,
    },
    /// A drop probability outside `[0, 1)`.
    Dropout {
        /// Index of the layer.
        layer: usize,
        /// The rejected probability.
        p: f64,
    },
    /// Dropout on the output layer (the output must be the activation's value, which the
    /// fused loss gradients assume).
    DropoutOnOutput {
        /// Index of the layer.
        layer: usize,
        /// The rejected probability.
        p: f64,
    },
    /// A parameter buffer of the wrong length for the spec.
    ParamCount {
        /// Parameters the spec needs.
        expected: usize,
        /// Parameters given.
        got: usize,
    },
}

impl fmt::Display for MlpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MlpError::NoLayers => write!(f, "MLP spec has no layers"),
            MlpError::NoInputs => write!(f, "MLP spec has 0 inputs"),
            MlpError::NoUnits { layer } => write!(f, "layer {layer} has 0 units"),
            MlpError::Activation { layer, source } => write!(f, "layer {layer}: {source}"),
            MlpError::Dropout { layer, p } => {
                write!(f, "layer {layer}: dropout must be in [0, 1), got {p}")
            }
            MlpError::DropoutOnOutput { layer, p } => write!(
                f,
                "layer {layer} is the output layer; dropout {p} is not allowed there"
            ),
            MlpError::ParamCount { expected, got } => write!(
                f,
                "parameter buffer holds {got} values but the spec needs {expected}"
            ),
        }
    }
}

impl std::error::Error for MlpError {}

impl MlpSpec {
    /// A spec from its parts (not validated until used).
    pub fn new(inputs: usize, layers: Vec<LayerSpec>) -> Self {
        MlpSpec { inputs, layers }
    }

    /// Checks every field: D > 0, at least one layer, Hₗ > 0, valid activation parameters,
    /// dropout in `[0, 1)` and none on the output layer.
    pub fn validate(&self) -> Result<(), MlpError> {
        if self.inputs == 0 {
            return Err(MlpError::NoInputs);
        }
        if self.layers.is_empty() {
            return Err(MlpError::NoLayers);
        }
        let last = self.layers.len() - 1;
        for (layer, spec) in self.layers.iter().enumerate() {
            if spec.units == 0 {
                return Err(MlpError::NoUnits { layer });
            }
            spec.activation
                .validate()
                .map_err(|source| MlpError::Activation { layer, source })?;
            if !dropout_p_is_valid(spec.dropout) {
                return Err(MlpError::Dropout {
                    layer,
                    p: spec.dropout,
                });
            }
            if layer == last && spec.dropout != 0.0 {
                return Err(MlpError::DropoutOnOutput {
                    layer,
                    p: spec.dropout,
                });
            }
        }
        Ok(())
    }

    /// O, the units of the last layer (0 if there are no layers).
    pub fn outputs(&self) -> usize {
        self.layers.last().map_or(0, |l| l.units)
    }

    /// Number of parameters: Σₗ Hₗ·(Hₗ₋₁ + 1) with H₋₁ = D.
    pub fn num_params(&self) -> usize {
        let mut fan_in = self.inputs;
        let mut total = 0;
        for l in &self.layers {
            total += l.units * (fan_in + 1);
            fan_in = l.units;
        }
        total
    }
}

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

/// Where a layer's parameters sit in the buffer.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Layer {
    /// Hₗ₋₁ (D for the first layer).
    inputs: usize,
    /// Hₗ.
    units: usize,
    /// Offset of Θₗ (Hₗ, Hₗ₋₁), row-major.
    theta: usize,
    /// Offset of bₗ (Hₗ); equals `theta + units·inputs`.
    bias: usize,
    activation: Activation,
    dropout: f64,
}

impl Layer {
    fn theta_range(&self) -> Range<usize> {
        self.theta..self.theta + self.units * self.inputs
    }

    fn bias_range(&self) -> Range<usize> {
        self.bias..self.bias + self.units
    }
}

/// (B20a) Offsets of every Θₗ and bₗ in the parameter buffer, layer by layer.
fn layout(spec: &MlpSpec) -> Vec<Layer> {
    let mut offset = 0;
    let mut fan_in = spec.inputs;
    spec.layers
        .iter()
        .map(|l| {
            let layer = Layer {
                inputs: fan_in,
                units: l.units,
                theta: offset,
                bias: offset + l.units * fan_in,
                activation: l.activation,
                dropout: l.dropout,
            };
            offset = layer.bias + l.units;
            fan_in = l.units;
            layer
        })
        .collect()
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
    layers: Vec<Layer>,
    /// Θ₀, b₀, Θ₁, b₁, … (see the module doc).
    params: Vec<T>,
    /// Same layout as `params`; accumulated by backward, zeroed by [`Mlp::zero_grads`].
    grads: Vec<T>,
}

impl<T: Float> Mlp<T> {
    /// A network with every layer drawn by `init` from `rng`, layer by layer (B21–B23).
    pub fn new(spec: MlpSpec, init: Init, rng: &mut Rng) -> Result<Self, MlpError> {
        spec.validate()?;
        let mut mlp = Self::zeroed(spec);
        for l in 0..mlp.layers.len() {
            let layer = mlp.layers[l];
            let (theta, rest) = mlp.params[layer.theta..layer.bias + layer.units]
                .split_at_mut(layer.units * layer.inputs);
            init.fill(
                mat_mut(theta, layer.units, layer.inputs),
                ArrayViewMut1::from(rest),
                rng,
            );
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
        Mlp {
            layers: layout(&spec),
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

    /// Number of Dense layers.
    pub fn num_layers(&self) -> usize {
        self.layers.len()
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

    /// All accumulated gradients, same layout as [`Mlp::params`].
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
            out.push(TensorInfo {
                name: format!("layers.{l}.weight"),
                offset: layer.theta,
                shape: vec![layer.units, layer.inputs],
            });
            out.push(TensorInfo {
                name: format!("layers.{l}.bias"),
                offset: layer.bias,
                shape: vec![layer.units],
            });
        }
        out
    }

    /// Θₗ (Hₗ, Hₗ₋₁).
    ///
    /// # Panics
    /// If `l` ≥ the number of layers.
    pub fn theta(&self, l: usize) -> ArrayView2<'_, T> {
        let layer = &self.layers[l];
        mat(&self.params[layer.theta_range()], layer.units, layer.inputs)
    }

    /// bₗ (Hₗ).
    ///
    /// # Panics
    /// If `l` ≥ the number of layers.
    pub fn bias(&self, l: usize) -> ArrayView1<'_, T> {
        ArrayView1::from(&self.params[self.layers[l].bias_range()])
    }

    /// ∂L/∂Θₗ (Hₗ, Hₗ₋₁), as accumulated.
    ///
    /// # Panics
    /// If `l` ≥ the number of layers.
    pub fn d_theta(&self, l: usize) -> ArrayView2<'_, T> {
        let layer = &self.layers[l];
        mat(&self.grads[layer.theta_range()], layer.units, layer.inputs)
    }

    /// ∂L/∂bₗ (Hₗ), as accumulated.
    ///
    /// # Panics
    /// If `l` ≥ the number of layers.
    pub fn d_bias(&self, l: usize) -> ArrayView1<'_, T> {
        ArrayView1::from(&self.grads[self.layers[l].bias_range()])
    }

    /// A workspace for batches of up to `max_rows` rows (it grows if a larger one arrives).
    pub fn workspace(&self, max_rows: usize) -> Workspace<T> {
        Workspace::new(self, max_rows)
    }

    /// Forward pass (B1, B2, B15 per layer; B20) of X (N, D) into `ws`.
    ///
    /// Returns the [`Forward`] cache: read the output (N, O) or the logits from it, then
    /// hand it to a backward method. In [`Mode::Train`] layers with dropout draw their
    /// masks from the RNG; in [`Mode::Inference`] dropout is the identity. Allocates only
    /// if N exceeds the workspace's capacity.
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
        let mut rng = match mode {
            Mode::Train(rng) => Some(rng),
            Mode::Inference => None,
        };
        let dropped = rng.is_some() && self.layers.iter().any(|l| l.dropout > 0.0);
        ws.rows = n;
        ws.dropped = dropped;
        for (l, layer) in self.layers.iter().enumerate() {
            let (below, rest) = ws.layers.split_at_mut(l);
            let input = match below.last() {
                None => x.view(),
                Some(prev) => prev.output(n, dropped),
            };
            let buf = &mut rest[0];
            let h = layer.units;
            dense_forward(
                input,
                mat(&self.params[layer.theta_range()], h, layer.inputs),
                ArrayView1::from(&self.params[layer.bias_range()]),
                layer.activation,
                mat_mut(&mut buf.z, n, h),
                mat_mut(&mut buf.y, n, h),
            );
            if dropped
                && layer.dropout > 0.0
                && let Some(rng) = rng.as_deref_mut()
            {
                dropout_sample_mask(layer.dropout, rng, mat_mut(&mut buf.mask, n, h));
                dropout_forward(
                    mat(&buf.y, n, h),
                    mat(&buf.mask, n, h),
                    mat_mut(&mut buf.a, n, h),
                );
            }
        }
        Forward { x, ws }
    }

    /// Backward pass from the gradient at the output, accumulating every parameter's
    /// gradient into [`Mlp::grads`] (B3–B6, B16 per layer, last layer first).
    ///
    /// # Panics
    /// If the upstream gradient is not (N, O) for the forward pass's N.
    pub fn backward(&mut self, fwd: Forward<'_, T>, upstream: Upstream<'_, T>) {
        backward_impl(
            &self.layers,
            &self.params,
            Some((&mut self.grads, GradMode::Accumulate)),
            fwd,
            upstream,
            false,
        );
    }

    /// [`Mlp::backward`] that writes [`Mlp::grads`] instead of adding to it: the same as
    /// [`Mlp::zero_grads`] then [`Mlp::backward`] (B4, B5 from zero), one pass over the
    /// gradient buffer fewer — each layer's ∂L/∂Θ GEMM runs with β = 0 and never reads the
    /// old values. What a training step uses. (Zeroing then adding turns an exact −0.0
    /// into +0.0; writing keeps it — the only difference.)
    ///
    /// # Panics
    /// If the upstream gradient is not (N, O) for the forward pass's N.
    pub fn backward_overwrite(&mut self, fwd: Forward<'_, T>, upstream: Upstream<'_, T>) {
        backward_impl(
            &self.layers,
            &self.params,
            Some((&mut self.grads, GradMode::Overwrite)),
            fwd,
            upstream,
            false,
        );
    }

    /// [`Mlp::backward`] from ∂L/∂Z of the last layer (N, O) — for a loss fused with the
    /// output activation, e.g. sigmoid + BCE: `d_z = (ŷ − y)/N`.
    ///
    /// # Panics
    /// If `d_z` is not (N, O).
    pub fn backward_from_d_z(&mut self, fwd: Forward<'_, T>, d_z: ArrayView2<'_, T>) {
        self.backward(fwd, Upstream::DZ(d_z));
    }

    /// [`Mlp::backward`] from ∂L/∂Y of the last layer (N, O) — e.g. a loss on
    /// probabilities (Keras-style BCE) or MSE.
    ///
    /// # Panics
    /// If `d_y` is not (N, O).
    pub fn backward_from_d_y(&mut self, fwd: Forward<'_, T>, d_y: ArrayView2<'_, T>) {
        self.backward(fwd, Upstream::DY(d_y));
    }

    /// [`Mlp::backward`], taken one layer further: also returns ∂L/∂X (N, D) (B6 on the
    /// first layer), a view into the workspace.
    ///
    /// # Panics
    /// If the upstream gradient is not (N, O).
    pub fn backward_with_input_grad<'a>(
        &mut self,
        fwd: Forward<'a, T>,
        upstream: Upstream<'_, T>,
    ) -> ArrayView2<'a, T> {
        backward_impl(
            &self.layers,
            &self.params,
            Some((&mut self.grads, GradMode::Accumulate)),
            fwd,
            upstream,
            true,
        )
        .expect("backward_impl returns d_x when asked")
    }

    /// ∂L/∂X (N, D) only: the same backward recursion without touching the parameter
    /// gradients (for explanations of a trained model; takes `&self`).
    ///
    /// # Panics
    /// If the upstream gradient is not (N, O).
    pub fn input_gradient<'a>(
        &self,
        fwd: Forward<'a, T>,
        upstream: Upstream<'_, T>,
    ) -> ArrayView2<'a, T> {
        backward_impl(&self.layers, &self.params, None, fwd, upstream, true)
            .expect("backward_impl returns d_x when asked")
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

/// Whether a backward pass adds the parameter gradients to the buffer or writes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum GradMode {
    Accumulate,
    Overwrite,
}

/// The backward recursion (B20b–B20d), shared by every public backward method.
///
/// With `grads = None` only the input gradient is propagated. Returns ∂L/∂X when
/// `want_d_x`.
fn backward_impl<'a, T: Float>(
    layers: &[Layer],
    params: &[T],
    mut grads: Option<(&mut [T], GradMode)>,
    fwd: Forward<'a, T>,
    upstream: Upstream<'_, T>,
    want_d_x: bool,
) -> Option<ArrayView2<'a, T>> {
    let Forward { x, ws } = fwd;
    let (n, dropped) = (ws.rows, ws.dropped);
    let last = layers.len() - 1;
    let out = &layers[last];
    {
        // The upstream gradient into the last layer's buffer, as ∂L/∂Z.
        let buf = &mut ws.layers[last];
        let (d, is_d_y) = match upstream {
            Upstream::DZ(d) => (d, false),
            Upstream::DY(d) => (d, true),
        };
        assert_eq!(
            d.dim(),
            (n, out.units),
            "mlp: the upstream gradient is {:?} but the output is ({n}, {})",
            d.dim(),
            out.units
        );
        let mut g = mat_mut(&mut buf.g, n, out.units);
        g.assign(&d);
        if is_d_y {
            out.activation.backward_in_place(
                mat(&buf.z, n, out.units),
                mat(&buf.y, n, out.units),
                g,
            );
        }
    }
    for l in (0..layers.len()).rev() {
        let layer = &layers[l];
        let theta = mat(&params[layer.theta_range()], layer.units, layer.inputs);
        let (below, rest) = ws.layers.split_at_mut(l);
        let d_z = mat(&rest[0].g, n, layer.units);
        // (B4, B5) d_theta += d_zᵀ·A₍ₗ₋₁₎, d_b += 1ᵀ·d_z.
        if let Some((grads, grad_mode)) = grads.as_mut() {
            let input = match below.last() {
                None => x.view(),
                Some(prev) => prev.output(n, dropped),
            };
            let (d_theta, d_b) = grads[layer.theta..layer.bias + layer.units]
                .split_at_mut(layer.units * layer.inputs);
            let params_backward = match grad_mode {
                GradMode::Accumulate => dense_backward_params,
                GradMode::Overwrite => dense_backward_params_overwrite,
            };
            params_backward(
                input,
                d_z,
                mat_mut(d_theta, layer.units, layer.inputs),
                ArrayViewMut1::from(d_b),
            );
        }
        match below.last_mut() {
            // (B6) then (B16) and (B3) of the layer below: ∂L/∂Z₍ₗ₋₁₎ in its own buffer.
            Some(prev) => {
                let h = layer.inputs;
                let LayerBuffers { z, y, mask, g, .. } = prev;
                dense_backward_input(theta, d_z, mat_mut(g, n, h));
                if dropped && !mask.is_empty() {
                    dropout_backward(mat(mask, n, h), mat_mut(g, n, h));
                }
                layers[l - 1].activation.backward_in_place(
                    mat(z, n, h),
                    mat(y, n, h),
                    mat_mut(g, n, h),
                );
            }
            // (B6) on the first layer: ∂L/∂X.
            None if want_d_x => {
                dense_backward_input(theta, d_z, mat_mut(&mut ws.d_x, n, layer.inputs));
            }
            None => {}
        }
    }
    let ws: &'a Workspace<T> = ws;
    want_d_x.then(|| mat(&ws.d_x, n, layers[0].inputs))
}

/// The cache of one forward pass: the input X and the workspace holding every layer's Z,
/// Y, masks. Every backward method consumes it.
#[derive(Debug)]
pub struct Forward<'a, T: Float> {
    /// X (N, D): the first layer's weight gradient is `d_z₀ᵀ·X` (B4).
    x: ArrayView2<'a, T>,
    /// Z, Y (and masks, dropout outputs) of every layer for this batch: Z is read by the
    /// derivative of ReLU-like activations, Y by sigmoid/tanh/softmax and as the next
    /// layer's input, the masks by dropout's backward (B16).
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
        self.activation_output(self.ws.layers.len() - 1)
    }

    /// The last layer's pre-activation Z (N, O): the logits a fused loss starts from.
    pub fn logits(&self) -> ArrayView2<'_, T> {
        self.pre_activation(self.ws.layers.len() - 1)
    }

    /// Layer `l`'s pre-activation Zₗ (N, Hₗ).
    ///
    /// # Panics
    /// If `l` ≥ the number of layers.
    pub fn pre_activation(&self, l: usize) -> ArrayView2<'_, T> {
        let buf = &self.ws.layers[l];
        mat(&buf.z, self.ws.rows, buf.units)
    }

    /// Layer `l`'s activation value Yₗ (N, Hₗ), before dropout.
    ///
    /// # Panics
    /// If `l` ≥ the number of layers.
    pub fn activation_output(&self, l: usize) -> ArrayView2<'_, T> {
        let buf = &self.ws.layers[l];
        mat(&buf.y, self.ws.rows, buf.units)
    }

    /// The output (N, O), keeping the workspace borrowed for `'a` (ends the pass).
    pub fn into_output(self) -> ArrayView2<'a, T> {
        let ws: &'a Workspace<T> = self.ws;
        let buf = &ws.layers[ws.layers.len() - 1];
        mat(&buf.y, ws.rows, buf.units)
    }
}

/// Preallocated buffers for one network's forward and backward passes.
///
/// Per layer, for up to `capacity` rows: Z and Y (N, Hₗ); when the layer has dropout, the
/// mask M and the dropped output A (N, Hₗ); the gradient buffer G (N, Hₗ), which holds
/// ∂L/∂A, then ∂L/∂Y, then ∂L/∂Z of that layer in place during backward. Plus ∂L/∂X (N, D).
#[derive(Clone, Debug)]
pub struct Workspace<T: Float> {
    inputs: usize,
    capacity: usize,
    /// N of the last forward pass.
    rows: usize,
    /// Whether the last forward pass applied dropout masks.
    dropped: bool,
    layers: Vec<LayerBuffers<T>>,
    /// ∂L/∂X (N, D).
    d_x: Vec<T>,
}

#[derive(Clone, Debug)]
struct LayerBuffers<T> {
    units: usize,
    /// Whether the layer has dropout (then `mask` and `a` are allocated).
    has_dropout: bool,
    z: Vec<T>,
    y: Vec<T>,
    mask: Vec<T>,
    a: Vec<T>,
    g: Vec<T>,
}

impl<T: Float> LayerBuffers<T> {
    /// What the next layer reads: A = Y ⊙ M if dropout ran, else Y.
    fn output(&self, n: usize, dropped: bool) -> ArrayView2<'_, T> {
        if dropped && self.has_dropout {
            mat(&self.a, n, self.units)
        } else {
            mat(&self.y, n, self.units)
        }
    }
}

impl<T: Float> Workspace<T> {
    /// Buffers for `mlp` and batches of up to `max_rows` rows; reserves the GEMM kernel's
    /// buffers for them on this thread and its pool ([`Workspace::reserve_gemm_scratch`]).
    pub fn new(mlp: &Mlp<T>, max_rows: usize) -> Self {
        let mut ws = Workspace {
            inputs: mlp.spec.inputs,
            capacity: 0,
            rows: 0,
            dropped: false,
            layers: mlp
                .layers
                .iter()
                .map(|l| LayerBuffers {
                    units: l.units,
                    has_dropout: l.dropout > 0.0,
                    z: Vec::new(),
                    y: Vec::new(),
                    mask: Vec::new(),
                    a: Vec::new(),
                    g: Vec::new(),
                })
                .collect(),
            d_x: Vec::new(),
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
            let len = n * buf.units;
            buf.z.resize(len, T::zero());
            buf.y.resize(len, T::zero());
            buf.g.resize(len, T::zero());
            if buf.has_dropout {
                buf.mask.resize(len, T::zero());
                buf.a.resize(len, T::zero());
            }
        }
        self.d_x.resize(n * self.inputs, T::zero());
        self.reserve_gemm_scratch();
    }

    /// The most GEMM scratch any layer's products need in a forward and backward pass of up
    /// to `capacity` rows with a row-major X ([`dense_gemm_scratch`]).
    pub fn gemm_scratch(&self) -> Scratch {
        let mut inputs = self.inputs;
        let mut most = Scratch::default();
        for buf in &self.layers {
            most = most.max(dense_gemm_scratch::<T>(self.capacity, inputs, buf.units));
            inputs = buf.units;
        }
        most
    }

    /// Reserves [`Workspace::gemm_scratch`] in the GEMM kernel's per-thread buffers, on the
    /// calling thread and, when it is a rayon worker, on every worker of its pool
    /// ([`crate::gemm::kernel::reserve_scratch_in_pool`]). After that, a pass on this workspace
    /// allocates nothing in the kernel, whichever thread runs which block.
    ///
    /// [`Workspace::new`] and every growth call it, so a workspace made inside
    /// `pool.install` (as the trainer makes its own) has its pool ready. To use the
    /// workspace on another pool, call this inside that pool too.
    pub fn reserve_gemm_scratch(&self) {
        kernel::reserve_scratch_in_pool(self.gemm_scratch());
    }

    fn check_fits(&self, mlp: &Mlp<T>) {
        let fits = self.inputs == mlp.spec.inputs
            && self.layers.len() == mlp.layers.len()
            && self
                .layers
                .iter()
                .zip(&mlp.layers)
                .all(|(b, l)| b.units == l.units && b.has_dropout == (l.dropout > 0.0));
        assert!(
            fits,
            "mlp: the workspace was made for another architecture (inputs {}, units {:?})",
            self.inputs,
            self.layers.iter().map(|b| b.units).collect::<Vec<_>>()
        );
    }
}

/// The first `n·h` elements of `buf` as an (n, h) row-major view.
fn mat<T>(buf: &[T], n: usize, h: usize) -> ArrayView2<'_, T> {
    ArrayView2::from_shape((n, h), &buf[..n * h]).expect("slice holds n·h elements")
}

/// The first `n·h` elements of `buf` as an (n, h) row-major mutable view.
fn mat_mut<T>(buf: &mut [T], n: usize, h: usize) -> ArrayViewMut2<'_, T> {
    ArrayViewMut2::from_shape((n, h), &mut buf[..n * h]).expect("slice holds n·h elements")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Dense, DenseGrads, seeded_rng};
    use ndarray::Array;

    fn spec_3_layers(dropout: f64) -> MlpSpec {
        MlpSpec::new(
            5,
            vec![
                LayerSpec::new(4, Activation::Tanh).with_dropout(dropout),
                LayerSpec::new(3, Activation::LeakyRelu { alpha: 0.1 }),
                LayerSpec::new(2, Activation::Sigmoid),
            ],
        )
    }

    /// The 5-4-3-2 test network (tanh with `dropout`, leaky ReLU, sigmoid).
    fn net(dropout: f64, init: Init, seed: u64) -> Mlp<f64> {
        Mlp::new(spec_3_layers(dropout), init, &mut seeded_rng(seed)).expect("valid spec")
    }

    fn batch(n: usize, d: usize) -> Array2<f64> {
        Array::from_shape_fn((n, d), |(i, j)| ((i * 5 + j * 3) % 7) as f64 / 3.0 - 1.0)
    }

    /// The network as a chain of owning `Dense` layers with the same parameters.
    fn as_dense_layers(mlp: &Mlp<f64>) -> Vec<Dense<f64>> {
        (0..mlp.num_layers())
            .map(|l| {
                Dense::from_parts(
                    mlp.theta(l).to_owned(),
                    mlp.bias(l).to_owned(),
                    mlp.spec().layers[l].activation,
                )
            })
            .collect()
    }

    #[test]
    fn layout_offsets_and_names() {
        let mlp = Mlp::<f32>::new(spec_3_layers(0.0), Init::TorchDefault, &mut seeded_rng(1))
            .expect("valid spec");
        assert_eq!(mlp.num_params(), 4 * 6 + 3 * 5 + 2 * 4);
        let t = mlp.tensors();
        let summary: Vec<(&str, usize, &[usize])> = t
            .iter()
            .map(|t| (t.name.as_str(), t.offset, t.shape.as_slice()))
            .collect();
        assert_eq!(
            summary,
            [
                ("layers.0.weight", 0, &[4, 5][..]),
                ("layers.0.bias", 20, &[4][..]),
                ("layers.1.weight", 24, &[3, 4][..]),
                ("layers.1.bias", 36, &[3][..]),
                ("layers.2.weight", 39, &[2, 3][..]),
                ("layers.2.bias", 45, &[2][..]),
            ]
        );
        assert_eq!(t.last().map(|t| t.range().end), Some(mlp.num_params()));
        // theta(l) / bias(l) are views of those slices.
        for (l, pair) in t.chunks(2).enumerate() {
            let theta: Vec<f32> = mlp.theta(l).iter().copied().collect();
            assert_eq!(theta, &mlp.params()[pair[0].range()]);
            assert_eq!(mlp.bias(l).to_vec(), &mlp.params()[pair[1].range()]);
        }
    }

    #[test]
    fn new_matches_dense_new_with_the_same_rng_stream() {
        let mut rng = seeded_rng(8);
        let mlp = Mlp::<f64>::new(spec_3_layers(0.0), Init::HeUniform, &mut rng).expect("valid");
        let mut rng = seeded_rng(8);
        for (l, spec) in mlp.spec().layers.iter().enumerate() {
            let inputs = if l == 0 {
                5
            } else {
                mlp.spec().layers[l - 1].units
            };
            let dense = Dense::<f64>::new(
                inputs,
                spec.units,
                spec.activation,
                Init::HeUniform,
                &mut rng,
            );
            assert_eq!(dense.theta(), mlp.theta(l));
            assert_eq!(dense.b(), mlp.bias(l));
        }
    }

    #[test]
    fn spec_validation_errors() {
        let ok = spec_3_layers(0.2);
        assert_eq!(ok.validate(), Ok(()));
        let mut s = ok.clone();
        s.inputs = 0;
        assert_eq!(s.validate(), Err(MlpError::NoInputs));
        assert_eq!(MlpSpec::new(3, vec![]).validate(), Err(MlpError::NoLayers));
        let mut s = ok.clone();
        s.layers[1].units = 0;
        assert_eq!(s.validate(), Err(MlpError::NoUnits { layer: 1 }));
        let mut s = ok.clone();
        s.layers[0].dropout = 1.0;
        assert_eq!(s.validate(), Err(MlpError::Dropout { layer: 0, p: 1.0 }));
        let mut s = ok.clone();
        s.layers[2].dropout = 0.1;
        assert_eq!(
            s.validate(),
            Err(MlpError::DropoutOnOutput { layer: 2, p: 0.1 })
        );
        let mut s = ok.clone();
        s.layers[1].activation = Activation::LeakyRelu { alpha: f64::NAN };
        assert!(matches!(
            s.validate(),
            Err(MlpError::Activation { layer: 1, .. })
        ));
        let e = Mlp::<f64>::from_params(ok, vec![0.0; 3]).unwrap_err();
        assert_eq!(
            e,
            MlpError::ParamCount {
                expected: 47,
                got: 3
            }
        );
        assert_eq!(
            e.to_string(),
            "parameter buffer holds 3 values but the spec needs 47"
        );
    }

    #[test]
    fn forward_and_backward_equal_the_chain_of_dense_layers() {
        let mut mlp = net(0.0, Init::GlorotUniform, 2);
        let dense = as_dense_layers(&mlp);
        let x = batch(6, 5);
        let d_y = batch(6, 2);
        // Chain of Dense layers.
        let mut caches = Vec::new();
        let mut a = x.clone();
        for layer in &dense {
            let (y, cache) = layer.forward(a.view());
            caches.push(cache);
            a = y;
        }
        let mut grads: Vec<DenseGrads<f64>> = dense.iter().map(DenseGrads::zeros_like).collect();
        let mut d = d_y.clone();
        for l in (0..dense.len()).rev() {
            d = dense[l].backward(&caches[l], d.view(), &mut grads[l]);
        }
        // The MLP.
        let mut ws = mlp.workspace(6);
        let fwd = mlp.forward(x.view(), Mode::Inference, &mut ws);
        assert_eq!(fwd.output(), a);
        assert_eq!(fwd.logits(), caches[2].z());
        let d_x = mlp
            .backward_with_input_grad(fwd, Upstream::DY(d_y.view()))
            .to_owned();
        assert_eq!(d_x, d);
        for (l, g) in grads.iter().enumerate() {
            assert_eq!(mlp.d_theta(l), g.d_theta);
            assert_eq!(mlp.d_bias(l), g.d_b);
        }
    }

    /// Inference forward on `x`, then backward from `upstream`; returns the accumulated
    /// gradient buffer.
    fn accumulate(mlp: &mut Mlp<f64>, x: &Array2<f64>, upstream: Upstream<'_, f64>) -> Vec<f64> {
        let mut ws = mlp.workspace(x.nrows());
        let fwd = mlp.forward(x.view(), Mode::Inference, &mut ws);
        mlp.backward(fwd, upstream);
        mlp.grads().to_vec()
    }

    #[test]
    fn backward_accumulates_and_zero_grads_resets() {
        let mut mlp = net(0.0, Init::TorchDefault, 3);
        let (x, d_z) = (batch(4, 5), batch(4, 2));
        let once = accumulate(&mut mlp, &x, Upstream::DZ(d_z.view()));
        assert!(once.iter().all(|g| g.is_finite()) && once.iter().any(|&g| g != 0.0));
        let twice = accumulate(&mut mlp, &x, Upstream::DZ(d_z.view()));
        assert_eq!(twice, once.iter().map(|g| g + g).collect::<Vec<f64>>());
        mlp.zero_grads();
        assert!(mlp.grads().iter().all(|&g| g == 0.0));
    }

    #[test]
    fn backward_overwrite_equals_zeroing_then_accumulating() {
        let mut mlp = net(0.0, Init::GlorotUniform, 5);
        let (x, d_z) = (batch(6, 5), batch(6, 2));
        mlp.zero_grads();
        let want = accumulate(&mut mlp, &x, Upstream::DZ(d_z.view()));
        assert!(want.iter().any(|&g| g != 0.0));
        // Stale gradients everywhere: overwriting must not read them.
        mlp.grads_mut().fill(123.0);
        let mut ws = mlp.workspace(6);
        let fwd = mlp.forward(x.view(), Mode::Inference, &mut ws);
        mlp.backward_overwrite(fwd, Upstream::DZ(d_z.view()));
        assert_eq!(mlp.grads(), want.as_slice());
        // A second overwrite gives the same, not twice as much.
        let fwd = mlp.forward(x.view(), Mode::Inference, &mut ws);
        mlp.backward_overwrite(fwd, Upstream::DZ(d_z.view()));
        assert_eq!(mlp.grads(), want.as_slice());
    }

    #[test]
    fn d_y_and_d_z_upstreams_agree() {
        let mut mlp = net(0.0, Init::GlorotUniform, 4);
        let (x, d_y) = (batch(5, 5), batch(5, 2));
        // Sigmoid output: ∂L/∂Z = ∂L/∂Y ⊙ y(1 − y).
        let y = mlp.predict(x.view());
        let d_z = &d_y * &y * (1.0 - &y);
        let from_d_y = accumulate(&mut mlp, &x, Upstream::DY(d_y.view()));
        mlp.zero_grads();
        assert_eq!(accumulate(&mut mlp, &x, Upstream::DZ(d_z.view())), from_d_y);
    }

    #[test]
    fn input_gradient_leaves_parameter_gradients_alone() {
        let mut mlp = net(0.0, Init::GlorotUniform, 5);
        let x = batch(3, 5);
        let d_z = batch(3, 2);
        let mut ws = mlp.workspace(3);
        let fwd = mlp.forward(x.view(), Mode::Inference, &mut ws);
        let only = mlp.input_gradient(fwd, Upstream::DZ(d_z.view())).to_owned();
        assert!(mlp.grads().iter().all(|&g| g == 0.0));
        let fwd = mlp.forward(x.view(), Mode::Inference, &mut ws);
        let with = mlp.backward_with_input_grad(fwd, Upstream::DZ(d_z.view()));
        assert_eq!(only, with);
        assert!(only.iter().any(|&g| g != 0.0));
    }

    #[test]
    fn workspace_grows_once_and_predict_matches() {
        let mlp = net(0.0, Init::GlorotUniform, 6);
        let mut ws = mlp.workspace(2);
        let small = batch(2, 5);
        let big = batch(9, 5);
        let out_small = mlp
            .forward(small.view(), Mode::Inference, &mut ws)
            .output()
            .to_owned();
        let out_big = mlp
            .forward(big.view(), Mode::Inference, &mut ws)
            .output()
            .to_owned();
        assert_eq!(ws.capacity(), 9);
        assert_eq!(out_big, mlp.predict(big.view()));
        assert_eq!(out_small, mlp.predict(small.view()));
        // Row i of a batch does not depend on the other rows.
        assert_eq!(out_big.row(0), out_small.row(0));
    }

    #[test]
    fn dropout_in_training_only_and_reproducible() {
        let mlp = net(0.5, Init::GlorotUniform, 7);
        let x = batch(16, 5);
        let mut ws = mlp.workspace(16);
        let infer = mlp
            .forward(x.view(), Mode::Inference, &mut ws)
            .output()
            .to_owned();
        assert_eq!(infer, mlp.predict(x.view()));
        let mut rng = seeded_rng(99);
        let train1 = mlp
            .forward(x.view(), Mode::Train(&mut rng), &mut ws)
            .output()
            .to_owned();
        let train2 = mlp
            .forward(x.view(), Mode::Train(&mut rng), &mut ws)
            .output()
            .to_owned();
        let again = mlp
            .forward(x.view(), Mode::Train(&mut seeded_rng(99)), &mut ws)
            .output()
            .to_owned();
        assert_ne!(train1, infer);
        assert_ne!(train1, train2, "a fresh mask each step");
        assert_eq!(train1, again, "same seed, same mask");
        // A network without dropout ignores the RNG in training mode.
        let plain = net(0.0, Init::GlorotUniform, 7);
        let mut rng = seeded_rng(1);
        let before = rng.clone();
        let mut ws = plain.workspace(16);
        let out = plain
            .forward(x.view(), Mode::Train(&mut rng), &mut ws)
            .output()
            .to_owned();
        assert_eq!(rng, before);
        assert_eq!(out, plain.predict(x.view()));
    }

    #[test]
    fn dropout_backward_uses_the_forward_mask() {
        // One hidden unit layer with dropout, identity everywhere: the gradient of the
        // output layer's Θ is Σ_n d_z·A = Σ_n d_z·(Y ⊙ M).
        let spec = MlpSpec::new(
            2,
            vec![
                LayerSpec::new(3, Activation::Identity).with_dropout(0.5),
                LayerSpec::new(1, Activation::Identity),
            ],
        );
        let mut mlp =
            Mlp::<f64>::new(spec, Init::TorchDefault, &mut seeded_rng(10)).expect("valid");
        let x = batch(8, 2);
        let mut ws = mlp.workspace(8);
        let fwd = mlp.forward(x.view(), Mode::Train(&mut seeded_rng(3)), &mut ws);
        let y0 = fwd.activation_output(0).to_owned();
        let out = fwd.output().to_owned();
        let d_z = Array2::ones((8, 1));
        mlp.backward_from_d_z(fwd, d_z.view());
        let mut mask = Array2::<f64>::zeros((8, 3));
        dropout_sample_mask(0.5, &mut seeded_rng(3), mask.view_mut());
        let a = &y0 * &mask;
        let expect = a.sum_axis(ndarray::Axis(0));
        assert_eq!(mlp.d_theta(1).row(0), expect);
        let theta1 = mlp.theta(1).to_owned();
        assert_eq!(out, a.dot(&theta1.t()) + mlp.bias(1)[0]);
        assert!(mask.iter().any(|&m| m == 0.0));
    }

    #[test]
    fn cast_round_trips_through_f32() {
        let mlp = net(0.0, Init::TorchDefault, 12);
        let m32: Mlp<f32> = mlp.cast();
        assert!(
            m32.params()
                .iter()
                .zip(mlp.params())
                .all(|(a, b)| *a == *b as f32)
        );
        let back: Mlp<f64> = m32.cast();
        let again: Mlp<f32> = back.cast();
        assert_eq!(again, m32);
        let rebuilt =
            Mlp::<f64>::from_params(mlp.spec().clone(), mlp.params().to_vec()).expect("valid");
        assert_eq!(rebuilt, mlp);
    }

    /// A training pass on a fresh thread leaves the GEMM kernel's per-thread buffers as the
    /// workspace reserved them: the reservation covers every product, the copying ones
    /// included (1030 inputs make the kernel copy B of `d_zᵀ·X` and `d_z·Θ`; 520 units make
    /// it copy A of `d_zᵀ·X` in f64, whose far stride is 512 elements).
    fn workspace_reserves_all_gemm_scratch<T: Float>() {
        if !kernel::available_for::<T>() {
            // matrixmultiply runs here and allocates per call: nothing to reserve.
            eprintln!(
                "workspace_reserves_all_gemm_scratch_{}: SKIPPED: no kernel ISA active",
                T::NAME
            );
            return;
        }
        let spec = MlpSpec::new(
            1030,
            vec![
                LayerSpec::new(520, Activation::Relu).with_dropout(0.5),
                LayerSpec::new(1, Activation::Sigmoid),
            ],
        );
        let mut mlp = Mlp::<T>::new(spec, Init::GlorotUniform, &mut seeded_rng(3)).expect("valid");
        let x = Array2::from_shape_fn((20, 1030), |(i, j)| {
            T::from_f64(((i * 3 + j) % 7) as f64 / 7.0 - 0.5)
        });
        let d_z = Array2::from_elem((20, 1), T::from_f64(0.1));
        std::thread::spawn(move || {
            // Negative control: a fresh thread holds nothing until the workspace reserves.
            assert_eq!(kernel::reserved_scratch(), Scratch::default());
            let mut ws = mlp.workspace(20);
            let reserved = kernel::reserved_scratch();
            assert!(reserved.b_bytes > 0, "{reserved:?}");
            assert_eq!(reserved.a_bytes > 0, T::NAME == "f64", "{reserved:?}");
            let mut rng = seeded_rng(4);
            let fwd = mlp.forward(x.view(), Mode::Train(&mut rng), &mut ws);
            let d_x = mlp.backward_with_input_grad(fwd, Upstream::DZ(d_z.view()));
            assert!(d_x.iter().any(|&g| g != T::zero()));
            assert!(mlp.grads().iter().any(|&g| g != T::zero()));
            assert_eq!(kernel::reserved_scratch(), reserved);
        })
        .join()
        .expect("test thread");
    }

    #[test]
    fn workspace_reserves_all_gemm_scratch_f32() {
        workspace_reserves_all_gemm_scratch::<f32>();
    }

    #[test]
    fn workspace_reserves_all_gemm_scratch_f64() {
        workspace_reserves_all_gemm_scratch::<f64>();
    }

    #[test]
    #[should_panic(expected = "another architecture")]
    fn workspace_of_another_network_panics() {
        let a = net(0.0, Init::TorchDefault, 1);
        let mut b_spec = spec_3_layers(0.0);
        b_spec.layers[1].units = 7;
        let b = Mlp::<f64>::new(b_spec, Init::TorchDefault, &mut seeded_rng(1)).expect("valid");
        let mut ws = b.workspace(2);
        let x = batch(2, 5);
        let _ = a.forward(x.view(), Mode::Inference, &mut ws);
    }
}
