//! The model bundle: everything `predict`, `evaluate` and `inspect` need, in one
//! safetensors file (notes/recipe.md §5 describes the format and the choices behind it).
//!
//! ```text
//! model.safetensors
//! ├── tensors (f32, little-endian, row-major)
//! │     members.{k}.layers.{l}.weight   (H_l, H_{l-1})   k = 0..K ensemble member, l = layer
//! │     members.{k}.layers.{l}.bias     (H_l)
//! └── __metadata__ (string → string)
//!       format                  "glassbox-bundle"
//!       format_version          "1"
//!       glassbox.bundle         JSON of [`BundleInfo`]: recipe, target and positive label,
//!                               threshold and how it was chosen, members, validation
//!                               metrics, data summary, conventions
//!       glassbox.preprocessor   JSON of the fitted [`Preprocessor`] (schema included)
//!       glassbox.events         (event-log models only) JSON of the [`EventFeaturizer`]:
//!                               the featurizer spec and the negative sampling rate
//!       glassbox.checksum       FNV-1a 64 of everything above, hex
//! ```
//!
//! Tensor names follow a PyTorch `state_dict` of `nn.Sequential` layers behind a
//! `members.{k}.` prefix, so the file opens with `safetensors.torch.load_file`. Each network
//! ends in `Dense(1, sigmoid)`; a member's probability is `σ(z)` of its last pre-activation
//! `z` (the logit), computed in f64, and the ensemble's is the mean of its members'
//! probabilities.
//!
//! Saving is atomic (temporary file + rename, [`crate::output`]). Loading checks the format
//! and version, the checksum (safetensors itself has none, so a flipped byte in a weight
//! would otherwise go unnoticed), every tensor's presence, dtype and shape against the
//! recipe and the preprocessor's feature count, and that every weight is finite.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use glassbox_core::{Mlp, Workspace};
use glassbox_data::{ClassBalance, DuplicateStats, Preprocessor, Target};
use glassbox_train::checkpoint::{
    ArchitectureRecord, Conventions, MAX_MODEL_FILE_BYTES, read_model_file,
};
use glassbox_train::metrics::MetricsReport;
use glassbox_train::metrics::cost::{CostDecision, CostSpec, MissCost};
use glassbox_train::metrics::ensemble::ensemble_probabilities;
use glassbox_train::privacy::PrivacyRecord;
use glassbox_train::store::{
    StoredTensor, content_checksum, decode_into, encode, safetensors_bytes,
};
use glassbox_train::{History, TrainConfig};
use ndarray::ArrayView2;
use safetensors::tensor::{Dtype, TensorView};
use serde::{Deserialize, Serialize};

use crate::output::{OutputError, write_atomic};
pub use crate::pipeline::events::EventFeaturizer;
use crate::recipe::Recipe;

/// How the bundle's decision threshold was chosen (R2), and its value.
pub use glassbox_train::metrics::threshold::ThresholdInfo;

/// `format` in the metadata.
pub const BUNDLE_FORMAT: &str = "glassbox-bundle";
/// `format_version` in the metadata; bumped on any incompatible change.
pub const BUNDLE_VERSION: u32 = 1;

const KEY_FORMAT: &str = "format";
const KEY_VERSION: &str = "format_version";
const KEY_INFO: &str = "glassbox.bundle";
const KEY_PREPROCESSOR: &str = "glassbox.preprocessor";
const KEY_CHECKSUM: &str = "glassbox.checksum";
const KEY_EVENTS: &str = "glassbox.events";

/// Why a bundle could not be read (or written). Every message names the file.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("{file}: cannot read the model file: {source}")]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },
    /// Not a safetensors file, or a truncated one.
    #[error(
        "{file}: not a glassbox model bundle (the safetensors container is unreadable: {message}); the file may be truncated or not a model"
    )]
    Container { file: String, message: String },
    /// A safetensors file that is not a glassbox bundle, or of another version.
    #[error("{file}: {message}")]
    Format { file: String, message: String },
    /// The content does not match its checksum.
    #[error(
        "{file}: the model file is corrupted (checksum {found} does not match the recorded {expected})"
    )]
    Checksum {
        file: String,
        expected: String,
        found: String,
    },
    /// Tensors that do not fit the recorded architecture, or non-finite weights.
    #[error("{file}: the model file is inconsistent: {message}")]
    Invalid { file: String, message: String },
}

/// One trained network of the ensemble.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberInfo {
    /// Seed of its initialisation, shuffling and dropout.
    pub seed: u64,
    /// Epochs run (fewer than planned when early stopping fired).
    pub epochs_run: usize,
    /// The epoch whose weights were kept (1-based); the last one without early stopping.
    pub best_epoch: usize,
    /// Mean training loss of the kept epoch.
    pub train_loss: f64,
    /// Validation loss of the kept epoch, if there was a validation part.
    pub val_loss: Option<f64>,
    /// The trainer's configuration exactly as run: loss and weights, optimizer, the schedule
    /// resolved to steps, early stopping, the seed.
    pub config: TrainConfig,
    /// The trainer's numerical conventions in words (as its checkpoint manifests record them).
    pub trainer_conventions: Conventions,
    /// Every epoch's record (losses, validation ROC-AUC and accuracy, lr, steps, gradient
    /// norms); the wall times are left out (they are in `history.csv`), so that equal models
    /// are equal files.
    pub history: History,
}

/// What the training data looked like (for `inspect` and the report).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingData {
    /// The training file as given.
    pub file: String,
    /// Rows in the file.
    pub rows: usize,
    /// Rows used to fit the network (and the preprocessor).
    pub train_rows: usize,
    /// Rows held out for validation.
    pub val_rows: usize,
    /// Features after encoding, D.
    pub features: usize,
    pub class_balance: ClassBalance,
    pub duplicates: DuplicateStats,
}

/// Everything in `glassbox.bundle`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BundleInfo {
    /// `glassbox <version>` that wrote it.
    pub created_by: String,
    pub recipe: Recipe,
    /// Target column, positive and negative label (also inside the preprocessor).
    pub target: Target,
    pub threshold: ThresholdInfo,
    pub members: Vec<MemberInfo>,
    /// Metrics of the ensemble on the validation rows at `threshold`.
    pub validation: Option<MetricsReport>,
    pub data: TrainingData,
    /// Numerical conventions of the run, `name → choice` (written for auditors).
    pub conventions: BTreeMap<String, String>,
    /// What a differentially private run spent and how (ε, δ, σ, C, q, steps, accountant);
    /// absent for a non-private run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privacy: Option<PrivacyRecord>,
}

/// A trained model: the preprocessor, the networks and what is known about them.
#[derive(Debug, Clone, PartialEq)]
pub struct Bundle {
    pub info: BundleInfo,
    pub preprocessor: Preprocessor,
    /// The K networks; each maps D features to one logit.
    pub members: Vec<Mlp<f32>>,
    /// For a model of an event log (`glassbox events train`): how its rows are made from
    /// the log. `None` for a model of a table.
    pub events: Option<EventFeaturizer>,
}

/// The bundle's bytes: `meta` plus its content checksum (T10) under `checksum`, in the
/// store's fixed-order container. Shared by [`Bundle::to_bytes`] and [`Bundle::reseal`].
fn sealed(mut meta: BTreeMap<&str, String>, tensors: &BTreeMap<String, StoredTensor>) -> Vec<u8> {
    let sum = content_checksum(
        &meta.iter().map(|(k, v)| (*k, v.as_str())).collect(),
        tensors
            .iter()
            .map(|(n, t)| (n.as_str(), t.dtype, t.shape.as_slice(), t.bytes.as_slice())),
    );
    meta.insert(KEY_CHECKSUM, sum);
    safetensors_bytes(&meta, tensors)
}

impl Bundle {
    /// The bundle as safetensors bytes (equal bundles give equal bytes).
    pub fn to_bytes(&self) -> anyhow::Result<Vec<u8>> {
        let mut tensors: BTreeMap<String, StoredTensor> = BTreeMap::new();
        for (k, m) in self.members.iter().enumerate() {
            for t in m.tensors() {
                tensors.insert(
                    format!("members.{k}.{}", t.name),
                    StoredTensor {
                        dtype: Dtype::F32,
                        shape: t.shape.clone(),
                        bytes: encode(&m.params()[t.range()]),
                    },
                );
            }
        }
        let mut meta: BTreeMap<&str, String> = BTreeMap::new();
        meta.insert(KEY_FORMAT, BUNDLE_FORMAT.to_string());
        meta.insert(KEY_VERSION, BUNDLE_VERSION.to_string());
        meta.insert(KEY_INFO, serde_json::to_string(&self.info)?);
        meta.insert(KEY_PREPROCESSOR, self.preprocessor.to_json());
        if let Some(events) = &self.events {
            meta.insert(KEY_EVENTS, serde_json::to_string(events)?);
        }
        Ok(sealed(meta, &tensors))
    }

    /// Writes the bundle to `path` atomically.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), OutputError> {
        let path = path.as_ref();
        let bytes = self
            .to_bytes()
            .map_err(|e| OutputError::new("cannot encode the model for", path, e))?;
        write_atomic(path, &bytes)
    }

    /// Reads and validates a bundle.
    pub fn load(path: impl AsRef<Path>) -> Result<Bundle, BundleError> {
        let path = path.as_ref();
        let file = path.display().to_string();
        let bytes =
            read_model_file(path, MAX_MODEL_FILE_BYTES).map_err(|source| BundleError::Io {
                file: file.clone(),
                source,
            })?;
        Self::from_bytes(&bytes, &file)
    }

    /// Parses and validates bundle bytes; `file` names them in errors.
    pub fn from_bytes(bytes: &[u8], file: &str) -> Result<Bundle, BundleError> {
        let container = |e: safetensors::SafeTensorError| BundleError::Container {
            file: file.to_string(),
            message: e.to_string(),
        };
        let format = |message: String| BundleError::Format {
            file: file.to_string(),
            message,
        };
        let invalid = |message: String| BundleError::Invalid {
            file: file.to_string(),
            message,
        };
        let st = safetensors::SafeTensors::deserialize(bytes).map_err(container)?;
        let (_, header) = safetensors::SafeTensors::read_metadata(bytes).map_err(container)?;
        let empty = HashMap::new();
        let meta = header.metadata().as_ref().unwrap_or(&empty);
        let get = |key: &str| meta.get(key).map(String::as_str);
        if get(KEY_FORMAT) != Some(BUNDLE_FORMAT) {
            return Err(format(
                "a safetensors file, but not a glassbox model bundle (no \"format\": \"glassbox-bundle\" in its metadata)".into(),
            ));
        }
        let version = get(KEY_VERSION).unwrap_or("?");
        if version != BUNDLE_VERSION.to_string() {
            return Err(format(format!(
                "bundle format version {version} is not supported by this glassbox (it reads version {BUNDLE_VERSION})"
            )));
        }
        let (Some(info_json), Some(pre_json)) = (get(KEY_INFO), get(KEY_PREPROCESSOR)) else {
            return Err(format(format!(
                "the metadata lacks \"{KEY_INFO}\" or \"{KEY_PREPROCESSOR}\""
            )));
        };
        let views = st.tensors();
        let mut checked: BTreeMap<&str, &str> = BTreeMap::new();
        for key in [KEY_FORMAT, KEY_VERSION, KEY_INFO, KEY_PREPROCESSOR] {
            checked.insert(key, get(key).unwrap_or_default());
        }
        if let Some(events) = get(KEY_EVENTS) {
            checked.insert(KEY_EVENTS, events);
        }
        let found = content_checksum(
            &checked,
            views
                .iter()
                .map(|(n, v)| (n.as_str(), v.dtype(), v.shape(), v.data())),
        );
        let expected = get(KEY_CHECKSUM).unwrap_or("(none)");
        if found != expected {
            return Err(BundleError::Checksum {
                file: file.to_string(),
                expected: expected.to_string(),
                found,
            });
        }
        let info: BundleInfo = serde_json::from_str(info_json)
            .map_err(|e| format(format!("cannot read \"{KEY_INFO}\": {e}")))?;
        let preprocessor = Preprocessor::from_json(pre_json, file)
            .map_err(|e| format(format!("cannot read \"{KEY_PREPROCESSOR}\": {e}")))?;
        let events: Option<EventFeaturizer> = get(KEY_EVENTS)
            .map(serde_json::from_str)
            .transpose()
            .map_err(|e| format(format!("cannot read \"{KEY_EVENTS}\": {e}")))?;
        let spec = info
            .recipe
            .mlp_spec_for(&preprocessor)
            .map_err(|e| invalid(format!("the recorded recipe is not usable: {e}")))?;
        let by_name: HashMap<&str, &TensorView<'_>> =
            views.iter().map(|(n, v)| (n.as_str(), v)).collect();
        let k = info.members.len();
        if k == 0 {
            return Err(invalid("the bundle lists no ensemble member".into()));
        }
        let per_member = spec.num_tensors();
        let expected_tensors = per_member * k;
        if views.len() != expected_tensors {
            return Err(invalid(format!(
                "{} tensors, expected {expected_tensors} ({k} member(s) × {per_member} tensors: {} input layer(s), {} Dense layers × weight and bias)",
                views.len(),
                spec.input_layers.len(),
                spec.layers.len()
            )));
        }
        // Before allocating K × P values: the file must hold them (so P is bounded by the
        // file's size, whatever the recipe claims).
        let stored: usize = views
            .iter()
            .map(|(_, v)| v.shape().iter().product::<usize>())
            .sum();
        let needed = ArchitectureRecord::from_spec(&spec)
            .num_params()
            .and_then(|p| p.checked_mul(k));
        if needed != Some(stored) {
            let needed = needed.map_or("more than can be counted".into(), |n| n.to_string());
            return Err(invalid(format!(
                "the file holds {stored} parameter values, the recipe needs {needed} ({k} member(s), D = {} features)",
                preprocessor.n_features()
            )));
        }
        let mut members = Vec::with_capacity(k);
        for m in 0..k {
            let mut params = vec![0.0f32; spec.num_params()];
            let template = Mlp::<f32>::from_params(spec.clone(), params.clone())
                .map_err(|e| invalid(e.to_string()))?;
            for t in template.tensors() {
                let name = format!("members.{m}.{}", t.name);
                let view = by_name
                    .get(name.as_str())
                    .ok_or_else(|| invalid(format!("tensor \"{name}\" is missing")))?;
                if view.dtype() != Dtype::F32 || view.shape() != t.shape.as_slice() {
                    return Err(invalid(format!(
                        "tensor \"{name}\" is {:?} {:?}, expected F32 {:?} (D = {} features)",
                        view.dtype(),
                        view.shape(),
                        t.shape,
                        preprocessor.n_features()
                    )));
                }
                let dst = &mut params[t.range()];
                decode_into(view.data(), dst);
                if let Some(i) = dst.iter().position(|v| !v.is_finite()) {
                    return Err(invalid(format!(
                        "tensor \"{name}\" holds a non-finite value ({}) at index {i}",
                        dst[i]
                    )));
                }
            }
            members
                .push(Mlp::from_params(spec.clone(), params).map_err(|e| invalid(e.to_string()))?);
        }
        Ok(Bundle {
            info,
            preprocessor,
            members,
            events,
        })
    }

    /// `bytes` with the checksum recomputed over their content, or `None` if they are not a
    /// readable safetensors file of F32 tensors. For the fuzz harness
    /// (`examples/fuzz_loaders.rs`), so that its mutations reach the checks behind the
    /// checksum; a loader never calls it.
    #[doc(hidden)]
    pub fn reseal(bytes: &[u8]) -> Option<Vec<u8>> {
        let st = safetensors::SafeTensors::deserialize(bytes).ok()?;
        let (_, header) = safetensors::SafeTensors::read_metadata(bytes).ok()?;
        let mut meta: BTreeMap<&str, String> = BTreeMap::new();
        for (k, v) in header.metadata().iter().flatten() {
            meta.insert(k.as_str(), v.clone());
        }
        let mut tensors: BTreeMap<String, StoredTensor> = BTreeMap::new();
        for (name, view) in st.tensors() {
            if view.dtype() != Dtype::F32 {
                return None;
            }
            let owned = StoredTensor {
                dtype: Dtype::F32,
                shape: view.shape().to_vec(),
                bytes: view.data().to_vec(),
            };
            tensors.insert(name, owned);
        }
        meta.remove(KEY_CHECKSUM);
        Some(sealed(meta, &tensors))
    }

    /// Probabilities of the positive class for features `x` (N, D): each member's
    /// `σ(z)` computed in f64 from its f32 logit, averaged over members in order (R1).
    ///
    /// # Panics
    /// If `x` does not have D columns.
    pub fn probabilities(&self, x: ArrayView2<'_, f32>) -> Vec<f64> {
        member_probabilities(&self.members, x)
    }

    /// [`Bundle::probabilities`] in a workspace the caller keeps (`serve` keeps one per
    /// model, so a pass allocates nothing once it has seen its largest batch). The same
    /// numbers: the buffers' capacity changes no operation.
    ///
    /// # Panics
    /// If `x` does not have D columns, or `ws` was made for another architecture.
    pub fn probabilities_in(&self, x: ArrayView2<'_, f32>, ws: &mut Workspace<f32>) -> Vec<f64> {
        ensemble_probabilities(&self.members, x, std::slice::from_mut(ws))
    }

    /// The decision for probability `p`: positive when `p ≥` the bundle's threshold (on the
    /// unrounded probability), with the label written for it. `predict` and `serve` both
    /// decide here.
    pub fn decide(&self, p: f64) -> (bool, &str) {
        self.label(p >= self.info.threshold.value)
    }

    /// The column whose value is each row's miss cost, when the bundle decides by a cost
    /// matrix with a per-row miss cost (`train --cost-fn-column`).
    pub fn cost_column(&self) -> Option<&str> {
        match &self.info.threshold.cost {
            Some(CostDecision {
                costs:
                    CostSpec {
                        miss: MissCost::Column(c),
                        ..
                    },
                ..
            }) => Some(c),
            _ => None,
        }
    }

    /// The decision for a row of probability `p` and miss cost `m` (the value of
    /// [`Bundle::cost_column`]): positive when `p · m ≥ τ` (M22), the rule the threshold was
    /// chosen under (M24), rather than `p ≥` its median-cost probability threshold. Without a
    /// cost decision, [`Bundle::decide`].
    pub fn decide_at_cost(&self, p: f64, m: f64) -> (bool, &str) {
        match &self.info.threshold.cost {
            Some(decision) => self.label(p * m >= decision.risk_threshold),
            None => self.decide(p),
        }
    }

    fn label(&self, positive: bool) -> (bool, &str) {
        let target = self.preprocessor.target();
        if positive {
            (true, target.positive_written())
        } else {
            (false, target.negative_written())
        }
    }
}

/// The bundle's rule (R1, [`ensemble_probabilities`]) for its f32 networks on features `x`
/// (N, D), the members sharing one workspace (they have one architecture).
///
/// # Panics
/// If `x` does not have D columns, or `members` is empty.
pub(crate) fn member_probabilities(members: &[Mlp<f32>], x: ArrayView2<'_, f32>) -> Vec<f64> {
    assert!(!members.is_empty(), "an ensemble needs at least one member");
    let mut ws = [members[0].workspace(x.nrows())];
    ensemble_probabilities(members, x, &mut ws)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recipe::ThresholdRule;
    use glassbox_core::{Init, Mode, seeded_rng};
    use glassbox_data::{RawTable, ReadOptions, Schema, SchemaOverrides, Table, TargetSpec};

    /// A two-member bundle over a 4-row table (features: age, plan one-hot ×3).
    fn tiny() -> Bundle {
        tiny_with(Vec::new(), 1)
    }

    /// [`tiny`] with the input layers of tables `input_layers` (recipe text) and
    /// `ensemble_k` BatchEnsemble members (N19).
    fn tiny_with(input_layers: Vec<String>, ensemble_k: usize) -> Bundle {
        let csv = "age,plan,y\n31,basic,no\n45,pro,yes\n,basic,no\n52,pro,yes\n";
        let raw = RawTable::from_reader(
            std::io::Cursor::new(csv),
            "mem.csv",
            &ReadOptions::default(),
        )
        .unwrap();
        let schema = Schema::infer(&raw, &SchemaOverrides::default()).unwrap();
        let table = Table::from_raw(&raw, &schema).unwrap();
        let pre = Preprocessor::fit(&table, &schema, &TargetSpec::new("y")).unwrap();
        let mut recipe = Recipe::paper();
        recipe.hidden = vec![3];
        recipe.input_layers = input_layers;
        recipe.ensemble_k = ensemble_k;
        let spec = recipe.mlp_spec_for(&pre).unwrap();
        let members = (0..2)
            .map(|k| Mlp::new(spec.clone(), Init::GlorotUniform, &mut seeded_rng(k)).unwrap())
            .collect();
        let balance = pre.target().class_balance(&table).unwrap();
        let config = glassbox_train::TrainConfig::keras_recipe(1, 0);
        let conventions =
            glassbox_train::Trainer::<f32>::new(spec.clone(), Init::GlorotUniform, config.clone())
                .unwrap()
                .manifest()
                .conventions;
        Bundle {
            info: BundleInfo {
                privacy: None,
                created_by: "test".into(),
                recipe,
                target: pre.target().clone(),
                threshold: ThresholdInfo {
                    value: 0.5,
                    rule: ThresholdRule::Fixed(0.5),
                    criterion_on_validation: None,
                    cost: None,
                },
                members: vec![
                    MemberInfo {
                        seed: 0,
                        epochs_run: 1,
                        best_epoch: 1,
                        train_loss: 0.7,
                        val_loss: None,
                        config: config.clone(),
                        trainer_conventions: conventions,
                        history: History::default(),
                    };
                    2
                ],
                validation: None,
                data: TrainingData {
                    file: "mem.csv".into(),
                    rows: 4,
                    train_rows: 4,
                    val_rows: 0,
                    features: pre.n_features(),
                    class_balance: balance,
                    duplicates: table.duplicates(),
                },
                conventions: BTreeMap::new(),
            },
            preprocessor: pre,
            members,
            events: None,
        }
    }

    #[test]
    fn bytes_round_trip_exactly_and_are_deterministic() {
        let b = tiny();
        let bytes = b.to_bytes().unwrap();
        assert_eq!(bytes, b.to_bytes().unwrap(), "equal bundles, equal bytes");
        let back = Bundle::from_bytes(&bytes, "mem").unwrap();
        assert_eq!(back, b);
        // The header is safetensors: u64 length, JSON starting with the sorted metadata.
        let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        assert_eq!(n % 8, 0);
        let header = std::str::from_utf8(&bytes[8..8 + n]).unwrap();
        assert!(header.starts_with("{\"__metadata__\":{\"format\":\"glassbox-bundle\""));
        assert!(
            header.contains("\"members.1.layers.0.weight\":{\"dtype\":\"F32\",\"shape\":[3,4]")
        );
    }

    #[test]
    fn probabilities_are_the_mean_of_the_members_sigmoids() {
        let b = tiny();
        let x = ndarray::array![[0.3f32, 1.0, 0.0, 0.0], [-1.2, 0.0, 1.0, 0.0]];
        let p = b.probabilities(x.view());
        for (i, &pi) in p.iter().enumerate() {
            let manual: f64 = b
                .members
                .iter()
                .map(|m| {
                    let mut ws = m.workspace(2);
                    let fwd = m.forward(x.view(), Mode::Inference, &mut ws);
                    glassbox_core::sigmoid(f64::from(fwd.logits()[[i, 0]]))
                })
                .sum::<f64>()
                / 2.0;
            assert_eq!(pi, manual);
        }
    }

    #[test]
    fn damaged_bytes_are_refused_with_the_reason() {
        let bytes = tiny().to_bytes().unwrap();
        let cut = Bundle::from_bytes(&bytes[..bytes.len() - 5], "m.safetensors").unwrap_err();
        assert!(matches!(cut, BundleError::Container { .. }), "{cut}");
        assert!(cut.to_string().contains("m.safetensors"));
        let mut flipped = bytes.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        let e = Bundle::from_bytes(&flipped, "m").unwrap_err();
        assert!(matches!(e, BundleError::Checksum { .. }), "{e}");
        // Negative control: the undamaged bytes load.
        assert!(Bundle::from_bytes(&bytes, "m").is_ok());
        let e = Bundle::from_bytes(b"not a model", "m").unwrap_err();
        assert!(matches!(e, BundleError::Container { .. }), "{e}");
    }

    /// The input layers of tables (notes/tabular.md N10) are stored through the recipe and
    /// their tensors; the bundle loads back equal, `inspect` names them, and a recipe that
    /// lost them no longer matches the tensors.
    /// (N23) PLR of the numeric column only: `age` is embedded, the plan's one-hot columns
    /// pass through; the recipe keeps the word `numeric`, the network the columns.
    #[test]
    fn plr_on_numeric_columns_round_trips_and_passes_the_one_hot_columns() {
        let b = tiny_with(vec!["plr(k=2,h=3,sigma=0.5,columns=numeric)".into()], 1);
        let spec = b.members[0].spec();
        assert_eq!(spec.input_layers[0].columns(), Some(&[0usize][..]));
        assert_eq!(spec.dense_inputs(), 3 + 3);
        let back = Bundle::from_bytes(&b.to_bytes().unwrap(), "mem").unwrap();
        assert_eq!(back, b);
        let x = ndarray::array![[0.3f32, 1.0, 0.0, 0.0], [0.3, 0.0, 1.0, 0.0]];
        let p = back.probabilities(x.view());
        assert_eq!(p, b.probabilities(x.view()));
        assert_ne!(p[0], p[1], "the plan's one-hot columns reach the network");
        let text = crate::render::bundle::describe_bundle("mem", &b);
        assert!(
            text.contains("1 columns embedded, 3 passed through"),
            "{text}"
        );
        // The spec needs the preprocessor to name the columns.
        let e = b.info.recipe.mlp_spec(4).unwrap_err();
        assert!(e.contains("preprocessor"), "{e}");
    }

    #[test]
    fn input_layers_round_trip_and_are_shown() {
        let b = tiny_with(vec!["scale".into(), "plr(k=2,h=3,sigma=0.5)".into()], 1);
        assert_eq!(b.members[0].num_input_layers(), 2);
        let bytes = b.to_bytes().unwrap();
        let back = Bundle::from_bytes(&bytes, "mem").unwrap();
        assert_eq!(back, b);
        let x = ndarray::array![[0.3f32, 1.0, 0.0, 0.0], [-1.2, 0.0, 1.0, 0.0]];
        assert_eq!(back.probabilities(x.view()), b.probabilities(x.view()));
        let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        let header = std::str::from_utf8(&bytes[8..8 + n]).unwrap();
        for t in [
            "\"members.0.layers.0.scale\":{\"dtype\":\"F32\",\"shape\":[4]",
            "\"members.1.layers.1.weight\":{\"dtype\":\"F32\",\"shape\":[4,3,4]",
            "\"members.1.layers.2.weight\":{\"dtype\":\"F32\",\"shape\":[3,12]",
        ] {
            assert!(header.contains(t), "{t}");
        }
        let text = crate::render::bundle::describe_bundle("mem", &b);
        assert!(text.contains("input layer 0: scale per feature"), "{text}");
        assert!(
            text.contains("input layer 1: PLR embedding 4 → 12"),
            "{text}"
        );
        assert!(text.contains("layer 0: Dense 12 → 3"), "{text}");
        // Negative control: the same tensors under a recipe without the input layers.
        let mut wrong = b.clone();
        wrong.info.recipe.input_layers.clear();
        let e = Bundle::from_bytes(&wrong.to_bytes().unwrap(), "m").unwrap_err();
        assert!(e.to_string().contains("tensors, expected"), "{e}");
    }

    /// A BatchEnsemble network (notes/tabular.md N19–N21) is stored through the recipe's
    /// `ensemble_k` and its tensors; the bundle loads back equal with the same
    /// probabilities — the mean of every member's k σ(z_i) (N21) — `inspect` shows its
    /// layers, and a recipe that lost k no longer matches the tensors.
    #[test]
    fn ensemble_k_round_trips_is_averaged_and_shown() {
        let b = tiny_with(vec!["scale".into()], 3);
        let bytes = b.to_bytes().unwrap();
        let back = Bundle::from_bytes(&bytes, "mem").unwrap();
        assert_eq!(back, b);
        assert_eq!(back.info.recipe.ensemble_k, 3);
        let x = ndarray::array![[0.3f32, 1.0, 0.0, 0.0], [-1.2, 0.0, 1.0, 0.0]];
        let p = back.probabilities(x.view());
        assert_eq!(p, b.probabilities(x.view()));
        for (i, &pi) in p.iter().enumerate() {
            let mut sum = 0.0;
            for m in &b.members {
                let mut ws = m.workspace(2);
                let fwd = m.forward(x.view(), Mode::Inference, &mut ws);
                assert_eq!(fwd.logits().ncols(), 3, "one logit per member");
                sum += fwd
                    .logits()
                    .row(i)
                    .iter()
                    .map(|&z| glassbox_core::sigmoid(f64::from(z)))
                    .sum::<f64>();
            }
            assert!((pi - sum / 6.0).abs() < 1e-15, "{pi} vs {}", sum / 6.0);
        }
        let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        let header = std::str::from_utf8(&bytes[8..8 + n]).unwrap();
        for t in [
            "\"members.0.layers.1.r\":{\"dtype\":\"F32\",\"shape\":[3,4]",
            "\"members.1.layers.2.s\":{\"dtype\":\"F32\",\"shape\":[3,1]",
        ] {
            assert!(header.contains(t), "{t}");
        }
        let text = crate::render::bundle::describe_bundle("mem", &b);
        assert!(
            text.contains("layer 0: BatchEnsemble 4 → 3 × 3 (input shared by the members)"),
            "{text}"
        );
        assert!(
            text.contains("mean of the 3 BatchEnsemble members"),
            "{text}"
        );
        // Negative control: the same tensors under a recipe without the ensemble.
        let mut wrong = b.clone();
        wrong.info.recipe.ensemble_k = 1;
        let e = Bundle::from_bytes(&wrong.to_bytes().unwrap(), "m").unwrap_err();
        assert!(e.to_string().contains("tensors, expected"), "{e}");
    }

    /// The wide linear term (notes/backprop.md B27) is stored through the recipe's `wide`
    /// and each member's `wide.weight`; it loads back equal and scores with W. A bundle
    /// without it has no `wide` anywhere in its bytes, so an older bundle is the same file
    /// and loads and scores as before.
    #[test]
    fn wide_term_round_trips_and_scores_and_is_absent_when_off() {
        let plain = tiny();
        let bytes = plain.to_bytes().unwrap();
        assert!(!String::from_utf8_lossy(&bytes).contains("wide"));
        let mut b = plain.clone();
        b.info.recipe.wide = true;
        let spec = b.info.recipe.mlp_spec(b.preprocessor.n_features()).unwrap();
        b.members = plain
            .members
            .iter()
            .map(|m| {
                let mut params = m.params().to_vec();
                params.extend([0.5f32, -0.25, 0.125, 1.0]);
                Mlp::from_params(spec.clone(), params).unwrap()
            })
            .collect();
        let bytes = b.to_bytes().unwrap();
        let back = Bundle::from_bytes(&bytes, "mem").unwrap();
        assert_eq!(back, b);
        let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        let header = std::str::from_utf8(&bytes[8..8 + n]).unwrap();
        assert!(
            header.contains("\"members.1.wide.weight\":{\"dtype\":\"F32\",\"shape\":[1,4]"),
            "{header}"
        );
        let x = ndarray::array![[0.3f32, 1.0, 0.0, 0.0], [-1.2, 0.0, 1.0, 0.0]];
        let (p_wide, p_plain) = (back.probabilities(x.view()), plain.probabilities(x.view()));
        assert!(
            p_wide.iter().zip(&p_plain).all(|(a, b)| a != b),
            "W is used"
        );
        let text = crate::render::bundle::describe_bundle("mem", &b);
        assert!(
            text.contains("wide term: 4 → 1 added to the last layer's pre-activation"),
            "{text}"
        );
        // Negative control: the same tensors under a recipe without the term.
        let mut wrong = b.clone();
        wrong.info.recipe.wide = false;
        let e = Bundle::from_bytes(&wrong.to_bytes().unwrap(), "m").unwrap_err();
        assert!(e.to_string().contains("tensors, expected"), "{e}");
    }
}
