//! The network a recipe spells: its hidden layers, the input layers of tables
//! (notes/tabular.md N10, `--feature-scale`, `--embedding plr`) and the BatchEnsemble width
//! (`--ensemble-k`, N19).

use glassbox_core::{Activation, InputLayerSpec, LayerSpec, MlpSpec};
use glassbox_data::Preprocessor;

use super::{Recipe, RecipeChanges, self_note};

/// The recipe's spelling of a PLR layer on the numeric columns only (N23): the last field of
/// `plr(…)`. The network's spec names the columns themselves, resolved against the fitted
/// preprocessor ([`Recipe::mlp_spec_for`]), so the recipe reads the same on any table.
const NUMERIC: &str = ",columns=numeric";

/// A recipe's input-layer text without [`NUMERIC`], and whether it had it.
fn split_numeric(text: &str) -> (String, bool) {
    match text
        .trim()
        .strip_suffix(')')
        .and_then(|t| t.strip_suffix(NUMERIC))
    {
        Some(core) => (format!("{core})"), true),
        None => (text.to_string(), false),
    }
}

impl Recipe {
    /// The network for `inputs` features: the hidden layers, then `Dense(1, sigmoid)` as in
    /// Keras. Its pre-activation is the logit `z`, which the logits loss reads (the trainer
    /// applies the sigmoid inside the loss, as Keras on TensorFlow does); the probability is
    /// `σ(z)`.
    ///
    /// A PLR layer on the numeric columns needs the preprocessor: use
    /// [`Recipe::mlp_spec_for`]; here it is refused.
    pub fn mlp_spec(&self, inputs: usize) -> Result<MlpSpec, String> {
        self.mlp_spec_with(inputs, None)
    }

    /// [`Recipe::mlp_spec`] for the features of `pre`, with S of a PLR layer on numeric
    /// columns (N23) = [`Preprocessor::numeric_value_features`].
    pub fn mlp_spec_for(&self, pre: &Preprocessor) -> Result<MlpSpec, String> {
        let numeric = pre.numeric_value_features();
        self.mlp_spec_with(pre.n_features(), Some(&numeric))
    }

    fn mlp_spec_with(&self, inputs: usize, numeric: Option<&[usize]>) -> Result<MlpSpec, String> {
        let mut input_layers = self.input_layer_specs()?;
        for (l, text) in input_layers.iter_mut().zip(&self.input_layers) {
            if let (InputLayerSpec::Plr { columns, .. }, (_, true)) = (l, split_numeric(text)) {
                let s = numeric.ok_or("plr on numeric columns needs the table's preprocessor")?;
                if s.is_empty() {
                    return Err("plr on numeric columns: the table has no numeric column".into());
                }
                *columns = Some(s.to_vec());
            }
        }
        let act = self.activation()?;
        let mut layers: Vec<LayerSpec> = self
            .hidden
            .iter()
            .map(|&h| LayerSpec::new(h, act).with_dropout(self.dropout))
            .collect();
        layers.push(LayerSpec::new(1, Activation::Sigmoid));
        let spec = MlpSpec::new(inputs, layers)
            .with_input_layers(input_layers)
            .with_ensemble(self.ensemble_k)
            .with_wide(self.wide);
        spec.validate().map_err(|e| e.to_string())?;
        Ok(spec)
    }

    /// The input layers of tables ([`Recipe::input_layers`]), parsed; a PLR layer on the
    /// numeric columns reads as one on every column until [`Recipe::mlp_spec_for`] names
    /// them.
    pub fn input_layer_specs(&self) -> Result<Vec<InputLayerSpec>, String> {
        self.input_layers
            .iter()
            .map(|t| {
                split_numeric(t)
                    .0
                    .parse::<InputLayerSpec>()
                    .map_err(|e| format!("input layer: {e}"))
            })
            .collect()
    }

    /// Whether the recipe's PLR layer embeds the numeric columns only (N23).
    fn plr_numeric(&self) -> bool {
        self.input_layers.iter().any(|t| split_numeric(t).1)
    }

    /// The PLR shape the flags leave: K, H and σ from the flags, else from the recipe's PLR
    /// layer, else the starting point K = 16, H = 16, σ = 0.1 (not tuned; notes/tabular.md).
    pub(super) fn plr_from(&self, c: &RecipeChanges) -> Result<InputLayerSpec, String> {
        let (mut k, mut h, mut sigma) = (16, 16, 0.1);
        for l in self.input_layer_specs()? {
            if let InputLayerSpec::Plr {
                frequencies,
                units,
                sigma: s,
                ..
            } = l
            {
                (k, h, sigma) = (frequencies, units, s);
            }
        }
        Ok(InputLayerSpec::Plr {
            frequencies: c.plr_frequencies.unwrap_or(k),
            units: c.plr_units.unwrap_or(h),
            sigma: c.plr_sigma.unwrap_or(sigma),
            columns: None,
        })
    }

    /// Applies `--feature-scale`, `--embedding` and the PLR shape: scaling first (on the raw
    /// columns, as RealMLP), then PLR.
    pub(super) fn apply_input_layers(&mut self, c: &RecipeChanges) -> Result<(), String> {
        let plr_shape =
            c.plr_frequencies.is_some() || c.plr_units.is_some() || c.plr_sigma.is_some();
        if c.feature_scale.is_none() && c.plr.is_none() && c.plr_numeric.is_none() && !plr_shape {
            return Ok(());
        }
        let now = self.input_layer_specs()?;
        let scale = c
            .feature_scale
            .unwrap_or(now.contains(&InputLayerSpec::Scale));
        let plr = c
            .plr
            .unwrap_or(now.iter().any(|l| matches!(l, InputLayerSpec::Plr { .. })));
        if plr_shape && !plr {
            return Err(
                "--plr-frequencies, --plr-units and --plr-sigma shape the PLR embedding: add --embedding plr"
                    .into(),
            );
        }
        let numeric = c.plr_numeric.unwrap_or(self.plr_numeric());
        let mut layers = Vec::new();
        if scale {
            layers.push(InputLayerSpec::Scale.to_string());
        }
        if plr {
            let spec = self.plr_from(c)?;
            spec.validate()
                .map_err(|e| format!("--embedding plr: {e}"))?;
            let text = spec.to_string();
            layers.push(match text.strip_suffix(')') {
                Some(open) if numeric => format!("{open}{NUMERIC})"),
                _ => text,
            });
        }
        self.input_layers = layers;
        let text = if self.input_layers.is_empty() {
            "none".to_string()
        } else {
            self.input_layers.join("+")
        };
        self_note(&mut self.overrides, "input_layers", text);
        Ok(())
    }

    /// `--ensemble-k`: k ≥ 1, and with k > 1 no dropout (not written for BatchEnsemble
    /// layers, N19) and no wide term. DP-SGD is written for them (P45).
    pub(super) fn validate_ensemble_k(&self) -> Result<(), String> {
        if self.ensemble_k == 0 {
            return Err("--ensemble-k must be at least 1".into());
        }
        if self.ensemble_k > 1 && self.dropout > 0.0 {
            return Err(format!(
                "--ensemble-k {} does not support --dropout (not written for BatchEnsemble layers)",
                self.ensemble_k
            ));
        }
        if self.ensemble_k > 1 && self.wide {
            return Err(format!(
                "--wide is not written for --ensemble-k {} (the wide term needs one output layer)",
                self.ensemble_k
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `--feature-scale` and `--embedding plr` put the input layers of tables into the
    /// recipe, its overrides and its network; the presets have none, and a record without
    /// the field reads as none.
    #[test]
    fn input_layers_come_from_the_flags_only() {
        for preset in [Recipe::paper(), Recipe::default_recipe()] {
            assert!(preset.input_layers.is_empty());
            let json = serde_json::to_string(&preset).unwrap();
            assert!(!json.contains("input_layers"), "{json}");
            assert_eq!(serde_json::from_str::<Recipe>(&json).unwrap(), preset);
        }
        let mut r = Recipe::default_recipe();
        r.apply(&RecipeChanges {
            feature_scale: Some(true),
            plr: Some(true),
            plr_units: Some(8),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(r.input_layers, ["scale", "plr(k=16,h=8,sigma=0.1)"]);
        assert!(
            r.overrides
                .contains(&"input_layers = scale+plr(k=16,h=8,sigma=0.1)".to_string())
        );
        let spec = r.mlp_spec(5).unwrap();
        assert_eq!(spec.input_layers.len(), 2);
        assert_eq!(spec.dense_inputs(), 40);
        let back: Recipe = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(back, r);
        // Turning PLR off keeps the scale; a PLR shape without PLR is refused.
        r.apply(&RecipeChanges {
            plr: Some(false),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(r.input_layers, ["scale"]);
        let e = r
            .apply(&RecipeChanges {
                plr_sigma: Some(1.0),
                ..Default::default()
            })
            .unwrap_err();
        assert!(e.contains("--embedding plr"), "{e}");
        let e = Recipe::paper()
            .apply(&RecipeChanges {
                plr: Some(true),
                plr_frequencies: Some(0),
                ..Default::default()
            })
            .unwrap_err();
        assert!(e.contains("k ≥ 1"), "{e}");
        let mut hostile = Recipe::paper();
        hostile.input_layers = vec!["plr(k=2)".into()];
        assert!(hostile.validate().is_err());
    }

    /// `--embedding plr-numeric` (N23): the recipe says `columns=numeric`, kept when the PLR
    /// shape changes and dropped by `--embedding plr`; the network without the preprocessor
    /// is refused.
    #[test]
    fn plr_on_numeric_columns_is_spelled_in_the_recipe() {
        let mut r = Recipe::default_recipe();
        r.apply(&RecipeChanges {
            plr: Some(true),
            plr_numeric: Some(true),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(r.input_layers, ["plr(k=16,h=16,sigma=0.1,columns=numeric)"]);
        r.apply(&RecipeChanges {
            plr_units: Some(24),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(r.input_layers, ["plr(k=16,h=24,sigma=0.1,columns=numeric)"]);
        assert!(r.validate().is_ok());
        let back: Recipe = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(back, r);
        let e = r.mlp_spec(5).unwrap_err();
        assert!(e.contains("preprocessor"), "{e}");
        r.apply(&RecipeChanges {
            plr: Some(true),
            plr_numeric: Some(false),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(r.input_layers, ["plr(k=16,h=24,sigma=0.1)"]);
        assert_eq!(r.mlp_spec(5).unwrap().dense_inputs(), 5 * 24);
    }
}
