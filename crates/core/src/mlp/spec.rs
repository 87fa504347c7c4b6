//! The architecture of an [`Mlp`](crate::Mlp): D inputs, optional input layers of tables
//! (notes/tabular.md, N10), then the Dense layers.

use std::fmt;
use std::str::FromStr;

use crate::dropout::dropout_p_is_valid;
use crate::{Activation, ActivationError, BatchEnsembleSpec, PlrSpec};

/// One input layer of a table network (notes/tabular.md, N10), before the Dense layers.
/// Its width follows from the layer below: D for the first.
#[derive(Clone, Debug, PartialEq)]
pub enum InputLayerSpec {
    /// Per-feature scaling `y = x ⊙ s` (N1, N2), s initialised to 1 (N11): width unchanged.
    Scale,
    /// PLR embedding (N3–N9): K frequencies with initial spread σ (N6), H units per embedded
    /// column. `columns` is the set S it embeds (N23), strictly increasing; `None` embeds
    /// every column (the layer of bundles written before N23). Width w → |S|·H + (w − |S|).
    Plr {
        frequencies: usize,
        units: usize,
        sigma: f64,
        columns: Option<Vec<usize>>,
    },
}

impl InputLayerSpec {
    /// The PLR shape of this layer on an input of `width` columns, if it is one: D = |S|.
    pub fn plr(&self, width: usize) -> Option<PlrSpec> {
        match self {
            InputLayerSpec::Scale => None,
            InputLayerSpec::Plr {
                frequencies,
                units,
                sigma,
                columns,
            } => Some(PlrSpec {
                features: columns.as_ref().map_or(width, Vec::len),
                frequencies: *frequencies,
                units: *units,
                sigma: *sigma,
            }),
        }
    }

    /// The columns a PLR layer embeds (N23), if it names them.
    pub fn columns(&self) -> Option<&[usize]> {
        match self {
            InputLayerSpec::Plr {
                columns: Some(c), ..
            } => Some(c),
            _ => None,
        }
    }

    /// (Parameters, output width) of this layer on an input of `width` columns; `None` if
    /// a count overflows (a corrupted or hostile manifest).
    pub fn checked_shape(&self, width: usize) -> Option<(usize, usize)> {
        match self.plr(width) {
            None => Some((width, width)),
            Some(p) => {
                let (d, k, h) = (p.features, p.frequencies, p.units);
                // c (D·K), W (D·H·2K), b (D·H): D·(K + H·(2K + 1)).
                let per = k.checked_add(h.checked_mul(k.checked_mul(2)?.checked_add(1)?)?)?;
                let passed = width.checked_sub(d)?;
                Some((d.checked_mul(per)?, d.checked_mul(h)?.checked_add(passed)?))
            }
        }
    }

    /// (Parameters, output width) of this layer on an input of `width` columns.
    ///
    /// **Panics** if a count overflows or the layer names more columns than `width`
    /// ([`MlpSpec::validate`] refuses both).
    pub fn shape(&self, width: usize) -> (usize, usize) {
        self.checked_shape(width)
            .unwrap_or_else(|| panic!("input layer {self} does not fit {width} columns"))
    }

    /// Checks the shape: K ≥ 1, H ≥ 1, a finite σ > 0 and a non-empty, strictly increasing
    /// column set for PLR.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            InputLayerSpec::Scale => Ok(()),
            InputLayerSpec::Plr {
                frequencies,
                units,
                sigma,
                columns,
            } => {
                if *frequencies == 0 || *units == 0 {
                    Err(format!(
                        "plr needs k ≥ 1 and h ≥ 1, got k = {frequencies}, h = {units}"
                    ))
                } else if !(sigma.is_finite() && *sigma > 0.0) {
                    Err(format!("plr needs a finite σ > 0, got {sigma}"))
                } else if columns.as_ref().is_some_and(|c| c.is_empty()) {
                    Err("plr needs at least one column to embed".into())
                } else if columns
                    .as_ref()
                    .is_some_and(|c| c.windows(2).any(|w| w[0] >= w[1]))
                {
                    Err("plr's columns must be strictly increasing".into())
                } else {
                    Ok(())
                }
            }
        }
    }

    /// [`InputLayerSpec::validate`], and every named column below `width`.
    pub fn validate_for(&self, width: usize) -> Result<(), String> {
        self.validate()?;
        match self.columns().and_then(|c| c.last()) {
            Some(&last) if last >= width => Err(format!(
                "plr embeds column {last} of an input of {width} columns"
            )),
            _ => Ok(()),
        }
    }
}

/// `scale` or `plr(k=K,h=H,sigma=σ)`, with `,columns=i/j/…` when it names its columns, as
/// [`FromStr`] reads it.
impl fmt::Display for InputLayerSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InputLayerSpec::Scale => write!(f, "scale"),
            InputLayerSpec::Plr {
                frequencies,
                units,
                sigma,
                columns,
            } => {
                write!(f, "plr(k={frequencies},h={units},sigma={sigma}")?;
                if let Some(c) = columns {
                    let list: Vec<String> = c.iter().map(ToString::to_string).collect();
                    write!(f, ",columns={}", list.join("/"))?;
                }
                write!(f, ")")
            }
        }
    }
}

impl FromStr for InputLayerSpec {
    type Err = String;

    /// Reads `scale` or `plr(k=K,h=H,sigma=σ[,columns=i/j/…])` (any order of the fields).
    fn from_str(text: &str) -> Result<Self, String> {
        let t = text.trim();
        if t == "scale" {
            return Ok(InputLayerSpec::Scale);
        }
        let bad =
            || format!("\"{text}\" is not an input layer (scale or plr(k=16,h=16,sigma=0.1))");
        let inner = t
            .strip_prefix("plr(")
            .and_then(|r| r.strip_suffix(')'))
            .ok_or_else(bad)?;
        let (mut k, mut h, mut sigma, mut columns) = (None, None, None, None);
        for field in inner.split(',') {
            let (key, value) = field.split_once('=').ok_or_else(bad)?;
            let value = value.trim();
            match key.trim() {
                "k" => k = value.parse::<usize>().ok(),
                "h" => h = value.parse::<usize>().ok(),
                "sigma" => sigma = value.parse::<f64>().ok(),
                "columns" => {
                    let list: Result<Vec<usize>, _> = value
                        .split('/')
                        .map(|c| c.trim().parse::<usize>())
                        .collect();
                    columns = Some(list.map_err(|_| bad())?);
                }
                _ => return Err(bad()),
            }
        }
        match (k, h, sigma) {
            (Some(frequencies), Some(units), Some(sigma)) => {
                let spec = InputLayerSpec::Plr {
                    frequencies,
                    units,
                    sigma,
                    columns,
                };
                spec.validate()?;
                Ok(spec)
            }
            _ => Err(bad()),
        }
    }
}

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

/// The architecture of an [`Mlp`](crate::Mlp): D inputs, the input layers of tables, then
/// the Dense layers in order.
#[derive(Clone, Debug, PartialEq)]
pub struct MlpSpec {
    /// D, the number of input features.
    pub inputs: usize,
    /// The input layers (N10), input side first; empty for a plain MLP.
    pub input_layers: Vec<InputLayerSpec>,
    /// The Dense layers, input side first; the last one's `units` is O.
    pub layers: Vec<LayerSpec>,
    /// k, the members of a BatchEnsemble network (notes/tabular.md N19): 1 for a plain
    /// network; k > 1 makes every Dense layer a BatchEnsemble layer of k members (the first
    /// reading the input shared, the others their own member's block), so the output is
    /// (N, k·O), member i at columns i·O … i·O + O − 1.
    pub ensemble_k: usize,
    /// The wide & deep linear term (notes/backprop.md B27–B30): the output layer's
    /// pre-activation gains `X·Wᵀ`, W (O, D) stored after every layer's parameters as
    /// `wide.weight`; false = none. Not written for k > 1.
    pub wide: bool,
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
    /// A BatchEnsemble network (k > 1) with a layer it cannot have: dropout, or a softmax,
    /// which would mix the members' units; or k = 0.
    Ensemble {
        /// What is wrong.
        message: String,
    },
    /// An input layer with an invalid shape.
    InputLayer {
        /// Index among the input layers.
        layer: usize,
        /// What is wrong.
        message: String,
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
            MlpError::InputLayer { layer, message } => write!(f, "input layer {layer}: {message}"),
            MlpError::Ensemble { message } => write!(f, "batch ensemble: {message}"),
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
        MlpSpec {
            inputs,
            input_layers: Vec::new(),
            layers,
            ensemble_k: 1,
            wide: false,
        }
    }

    /// The same spec with (`true`) or without the wide linear term (B27).
    pub fn with_wide(mut self, wide: bool) -> Self {
        self.wide = wide;
        self
    }

    /// Parameters of the wide term: O·D when it is on (B27), else 0.
    pub fn wide_params(&self) -> usize {
        if self.wide {
            self.outputs() * self.inputs
        } else {
            0
        }
    }

    /// The same spec as a BatchEnsemble network of `k` members (N19; 1 = plain).
    pub fn with_ensemble(mut self, k: usize) -> Self {
        self.ensemble_k = k;
        self
    }

    /// (N19) The BatchEnsemble shape of Dense layer `l` (of `units` units on an input of
    /// `fan_in` columns, the whole row for the first, one member's block after), when the
    /// network has k > 1 members.
    pub fn ensemble_layer(
        &self,
        l: usize,
        fan_in: usize,
        units: usize,
    ) -> Option<BatchEnsembleSpec> {
        (self.ensemble_k > 1).then_some(BatchEnsembleSpec {
            members: self.ensemble_k,
            inputs: fan_in,
            units,
            shared_input: l == 0,
        })
    }

    /// Width of the network's output rows: k·O (O without an ensemble).
    pub fn output_width(&self) -> usize {
        self.ensemble_k * self.outputs()
    }

    /// The same spec with `input_layers` before its Dense layers (N10).
    pub fn with_input_layers(mut self, input_layers: Vec<InputLayerSpec>) -> Self {
        self.input_layers = input_layers;
        self
    }

    /// Width of the first Dense layer's input: D through the input layers.
    pub fn dense_inputs(&self) -> usize {
        self.input_layers
            .iter()
            .fold(self.inputs, |width, l| l.shape(width).1)
    }

    /// Checks every field: D > 0, at least one Dense layer, valid input layers, Hₗ > 0, valid activation parameters,
    /// dropout in `[0, 1)` and none on the output layer.
    pub fn validate(&self) -> Result<(), MlpError> {
        if self.inputs == 0 {
            return Err(MlpError::NoInputs);
        }
        if self.layers.is_empty() {
            return Err(MlpError::NoLayers);
        }
        let mut width = self.inputs;
        for (layer, spec) in self.input_layers.iter().enumerate() {
            spec.validate_for(width)
                .map_err(|message| MlpError::InputLayer { layer, message })?;
            width = spec.shape(width).1;
        }
        let last = self.layers.len() - 1;
        self.validate_ensemble()?;
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

    /// k ≥ 1; with k > 1 no dropout and no softmax (N19).
    fn validate_ensemble(&self) -> Result<(), MlpError> {
        let refuse = |message: String| Err(MlpError::Ensemble { message });
        if self.ensemble_k == 0 {
            return refuse("k must be at least 1".into());
        }
        if self.ensemble_k > 1 && self.wide {
            return refuse("the wide linear term (B27) is not written for k > 1".into());
        }
        if self.ensemble_k == 1 {
            return Ok(());
        }
        for (layer, spec) in self.layers.iter().enumerate() {
            if spec.dropout != 0.0 {
                return refuse(format!(
                    "layer {layer} has dropout, which is not written for k > 1"
                ));
            }
            if spec.activation == Activation::Softmax {
                return refuse(format!(
                    "layer {layer} is a softmax, which would mix the members' units"
                ));
            }
        }
        Ok(())
    }

    /// Number of named tensors of a network of this spec ([`crate::Mlp::tensors`]): one per
    /// scaling layer (s), three per PLR layer (c, W, b), two per Dense layer (Θ, b), four
    /// per BatchEnsemble layer (W, r, s, b).
    pub fn num_tensors(&self) -> usize {
        let input: usize = self
            .input_layers
            .iter()
            .map(|l| match l {
                InputLayerSpec::Scale => 1,
                InputLayerSpec::Plr { .. } => 3,
            })
            .sum();
        let per_layer = if self.ensemble_k > 1 { 4 } else { 2 };
        input + per_layer * self.layers.len() + usize::from(self.wide)
    }

    /// O, the units of the last layer (0 if there are no layers).
    pub fn outputs(&self) -> usize {
        self.layers.last().map_or(0, |l| l.units)
    }

    /// Number of parameters: the input layers' (N10), then Σₗ Hₗ·(Hₗ₋₁ + 1) with H₋₁ the
    /// width after them (D without input layers), then the wide term's O·D (B27).
    pub fn num_params(&self) -> usize {
        let mut fan_in = self.inputs;
        let mut total = 0;
        for l in &self.input_layers {
            let (params, width) = l.shape(fan_in);
            total += params;
            fan_in = width;
        }
        for (i, l) in self.layers.iter().enumerate() {
            total += match self.ensemble_layer(i, fan_in, l.units) {
                Some(be) => be.num_params(), // N19
                None => l.units * (fan_in + 1),
            };
            fan_in = l.units;
        }
        total + self.wide_params()
    }
}
