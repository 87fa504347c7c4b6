//! Checkpoints: one safetensors file with the weights, the optimizer's state and a JSON
//! manifest of every convention of the run (notes/training.md §5).
//!
//! **Tensors** (little-endian, C order, dtype `F32` or `F64` as the run's float type):
//! - `layers.{l}.weight` (Hₗ, Hₗ₋₁) and `layers.{l}.bias` (Hₗ): the parameters, laid out as
//!   `torch.nn.Linear` keeps them (`z = a·Wᵀ + b`), so a `state_dict` of an
//!   `nn.Sequential(Linear₀, act₀, Linear₁, act₁, …)` takes them after renaming
//!   `layers.{l}.` to `{2l}.`;
//! - `optim.{buffer}.layers.{l}.weight|bias`: each optimizer state buffer (`m`, `v`,
//!   `velocity`; [`crate::OptimizerConfig::buffer_names`]) cut into the same tensors;
//! - `best.layers.{l}.weight|bias`: the best epoch's parameters, when early stopping keeps
//!   them.
//!
//! **Manifest**: the safetensors header's `__metadata__` maps [`MANIFEST_KEY`]
//! (`"glassbox.manifest"`) to the JSON of a [`Manifest`], [`MANIFEST_CHECKSUM_KEY`] to the
//! FNV-1a 64 checksum of that JSON text (so an edited or corrupted manifest is refused), and
//! `"format"` to `"pt"` (which some PyTorch tools expect). It records the format version,
//! the architecture, every numerical convention, the training configuration, the seed and
//! the RNG state, the epoch and optimizer step count, the history, an FNV-1a checksum of
//! every tensor, and application data (`extra`).
//!
//! The container, the float encoding and the checksums are [`crate::store`]'s, shared with
//! the app's model bundle: the header is written in a fixed order (metadata keys sorted,
//! tensors by name), so equal states are equal bytes. Files are written atomically (a
//! temporary file in the same folder, `fsync`, `rename`).
//!
//! Loading checks the header, the manifest's format and version, the dtype, the
//! architecture and parameter count, every tensor's name, shape, dtype and checksum, and
//! the RNG and optimizer state; every failure is a [`CheckpointError`] naming the file —
//! nothing in a file can make loading panic.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use glassbox_core::{
    Activation, Float, InputLayerSpec, LayerSpec, Mlp, MlpError, MlpSpec, Rng,
    TensorInfo as MlpTensor,
};
use rand::SeedableRng;
use safetensors::tensor::{Metadata, SafeTensorError, SafeTensors};
use serde::{Deserialize, Serialize};

pub use crate::model_file::{MAX_MODEL_FILE_BYTES, read_model_file};

use crate::history::History;
use crate::store::{StoredTensor, decode_into, dtype_of, encode, fnv1a64_hex, safetensors_bytes};
use crate::trainer::{EarlyStoppingState, TrainConfig, Trainer, loss_reads};
use crate::{OptimError, Optimizer};

/// The `__metadata__` key holding the manifest's JSON.
pub const MANIFEST_KEY: &str = "glassbox.manifest";
/// The `__metadata__` key holding the FNV-1a 64 checksum of the manifest's JSON text.
pub const MANIFEST_CHECKSUM_KEY: &str = "glassbox.manifest.fnv1a64";
/// [`Manifest::format`] of every glassbox checkpoint.
pub const FORMAT_NAME: &str = "glassbox-checkpoint";
/// The format version this code writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// One Dense layer in a manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerRecord {
    /// Hₗ.
    pub units: usize,
    /// The activation's name as glassbox prints and parses it (`"relu"`,
    /// `"leaky_relu(0.01)"`, …).
    pub activation: String,
    /// Drop probability on the layer's output in training (inverted dropout).
    pub dropout: f64,
}

/// The architecture in a manifest ([`MlpSpec`] in text form).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArchitectureRecord {
    /// D.
    pub inputs: usize,
    /// The input layers of tables before the Dense layers (notes/tabular.md N10), as
    /// [`InputLayerSpec`] text; left out when none, so older manifests read unchanged.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub input_layers: Vec<String>,
    /// The layers, input side first.
    pub layers: Vec<LayerRecord>,
    /// k, the members of a BatchEnsemble network (notes/tabular.md N19); left out when 1,
    /// so older manifests read unchanged.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub ensemble_k: usize,
    /// The wide linear term (notes/backprop.md B27); left out when off, so older manifests
    /// read unchanged.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub wide: bool,
}

fn one() -> usize {
    1
}

fn is_one(k: &usize) -> bool {
    *k == 1
}

impl ArchitectureRecord {
    /// The record of `spec`.
    pub fn from_spec(spec: &MlpSpec) -> Self {
        ArchitectureRecord {
            inputs: spec.inputs,
            input_layers: spec.input_layers.iter().map(ToString::to_string).collect(),
            layers: spec
                .layers
                .iter()
                .map(|l| LayerRecord {
                    units: l.units,
                    activation: l.activation.to_string(),
                    dropout: l.dropout,
                })
                .collect(),
            ensemble_k: spec.ensemble_k,
            wide: spec.wide,
        }
    }

    /// P = the input layers' parameters, then Σₗ Hₗ·(Hₗ₋₁ + 1) (N19's count per layer for
    /// k > 1), or `None` if it overflows
    /// or an input layer does not parse (a corrupted or hostile manifest).
    pub fn num_params(&self) -> Option<usize> {
        let mut fan_in = self.inputs;
        let mut total = 0usize;
        for text in &self.input_layers {
            let (params, width) = InputLayerSpec::from_str(text).ok()?.checked_shape(fan_in)?;
            total = total.checked_add(params)?;
            fan_in = width;
        }
        let k = self.ensemble_k;
        for l in &self.layers {
            let params = if k > 1 {
                // N19: W (H·D), r (k·D), s and b (k·H each).
                let hd = l.units.checked_mul(fan_in)?;
                let kd = k.checked_mul(fan_in)?;
                let kh2 = k.checked_mul(l.units)?.checked_mul(2)?;
                hd.checked_add(kd)?.checked_add(kh2)?
            } else {
                l.units.checked_mul(fan_in.checked_add(1)?)?
            };
            total = total.checked_add(params)?;
            fan_in = l.units;
        }
        if self.wide {
            // B27: W (O, D).
            let o = self.layers.last().map_or(0, |l| l.units);
            total = total.checked_add(o.checked_mul(self.inputs)?)?;
        }
        Some(total)
    }

    /// The spec it describes, validated.
    ///
    /// # Errors
    /// An activation name that does not parse, or an invalid spec.
    pub fn to_spec(&self) -> Result<MlpSpec, String> {
        let mut layers = Vec::with_capacity(self.layers.len());
        for (l, rec) in self.layers.iter().enumerate() {
            let activation =
                Activation::from_str(&rec.activation).map_err(|e| format!("layer {l}: {e}"))?;
            layers.push(LayerSpec::new(rec.units, activation).with_dropout(rec.dropout));
        }
        let input_layers = self
            .input_layers
            .iter()
            .map(|t| t.parse::<InputLayerSpec>())
            .collect::<Result<Vec<_>, _>>()?;
        let spec = MlpSpec::new(self.inputs, layers)
            .with_input_layers(input_layers)
            .with_ensemble(self.ensemble_k)
            .with_wide(self.wide);
        spec.validate().map_err(|e: MlpError| e.to_string())?;
        Ok(spec)
    }
}

/// Every numerical convention of the run, spelled out for a reader of the manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conventions {
    /// `"f32"` or `"f64"`: parameters, optimizer state and all per-element maths.
    pub dtype: String,
    /// The initialiser (`"glorot_uniform"`, `"he_uniform"`, `"torch_default"`) or
    /// `"supplied"` for weights given by the caller.
    pub init: String,
    /// How the weight tensors map to `z = a·Wᵀ + b` and to PyTorch.
    pub weight_layout: String,
    /// ReLU′(0) (and leaky ReLU's `f′(0) = α`).
    pub relu_derivative_at_zero: f64,
    /// The dropout convention.
    pub dropout: String,
    /// The loss, what it reads and how it averages.
    pub loss: String,
    /// The optimizer's update rule with its ε form.
    pub optimizer: String,
    /// The weight-decay form.
    pub weight_decay: String,
    /// Gradient clipping.
    pub clipping: String,
    /// Shuffling and batching.
    pub batching: String,
    /// The RNG and its streams.
    pub rng: String,
    /// Subnormal handling of the training threads.
    pub flush_to_zero: String,
}

/// The state of a ChaCha8 RNG: enough to continue its stream exactly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RngState {
    /// Always `"ChaCha8"` (`rand_chacha::ChaCha8Rng`).
    pub algorithm: String,
    /// The 32-byte key, as 64 lowercase hex digits.
    pub seed_hex: String,
    /// The stream (nonce).
    pub stream: u64,
    /// Position in the stream in 32-bit words (a 68-bit number, hence a decimal string).
    pub word_pos: String,
}

impl RngState {
    /// The state of `rng`.
    pub fn of(rng: &Rng) -> Self {
        RngState {
            algorithm: "ChaCha8".into(),
            seed_hex: rng.get_seed().iter().map(|b| format!("{b:02x}")).collect(),
            stream: rng.get_stream(),
            word_pos: rng.get_word_pos().to_string(),
        }
    }

    /// The RNG in this state.
    ///
    /// # Errors
    /// Another algorithm, a key that is not 64 hex digits, or a word position that is not a
    /// decimal number.
    pub fn to_rng(&self) -> Result<Rng, String> {
        if self.algorithm != "ChaCha8" {
            return Err(format!(
                "algorithm {:?}, expected \"ChaCha8\"",
                self.algorithm
            ));
        }
        let hex = self.seed_hex.as_bytes();
        if hex.len() != 64 {
            return Err(format!(
                "seed_hex has {} characters, expected 64",
                hex.len()
            ));
        }
        let mut seed = [0u8; 32];
        for (i, pair) in hex.chunks_exact(2).enumerate() {
            let text = std::str::from_utf8(pair).map_err(|_| "seed_hex is not ASCII")?;
            seed[i] = u8::from_str_radix(text, 16)
                .map_err(|_| format!("seed_hex has a non-hex digit pair {text:?}"))?;
        }
        let word_pos: u128 = self
            .word_pos
            .parse()
            .map_err(|_| format!("word_pos {:?} is not a decimal number", self.word_pos))?;
        let mut rng = Rng::from_seed(seed);
        rng.set_stream(self.stream);
        rng.set_word_pos(word_pos);
        Ok(rng)
    }
}

/// Shape and checksum of one stored tensor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TensorRecord {
    /// The shape.
    pub shape: Vec<usize>,
    /// FNV-1a (64-bit) of the tensor's bytes as stored, 16 lowercase hex digits.
    pub fnv1a64: String,
}

/// The manifest of a checkpoint (JSON in the safetensors `__metadata__`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`FORMAT_NAME`].
    pub format: String,
    /// [`FORMAT_VERSION`] when written by this code.
    pub format_version: u32,
    /// `"f32"` or `"f64"`.
    pub dtype: String,
    /// The network.
    pub architecture: ArchitectureRecord,
    /// P, the number of parameters (checked against the architecture).
    pub num_params: usize,
    /// Every numerical convention, in words.
    pub conventions: Conventions,
    /// The training configuration.
    pub config: TrainConfig,
    /// The run's seed (also in `config`).
    pub seed: u64,
    /// The trainer's RNG after the last completed epoch.
    pub rng: RngState,
    /// Epochs completed.
    pub epochs_done: usize,
    /// Optimizer steps taken (`t`).
    pub optimizer_step_count: u64,
    /// The optimizer's state buffers stored as `optim.{buffer}.*`.
    pub optimizer_buffers: Vec<String>,
    /// Early stopping's state.
    pub early_stopping: EarlyStoppingState,
    /// Whether `best.*` tensors are stored.
    pub has_best_params: bool,
    /// Whether `average.*` tensors (the averaged iterates of a private run, P28) are stored.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub has_average: bool,
    /// The history so far (one record per completed epoch).
    pub history: History,
    /// Every stored tensor: shape and checksum.
    pub tensors: BTreeMap<String, TensorRecord>,
    /// Application data (e.g. the fitted preprocessor's JSON), stored as given.
    pub extra: BTreeMap<String, String>,
}

impl Manifest {
    /// The manifest as pretty-printed JSON, for humans.
    pub fn to_json_pretty(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }
}

/// Why a checkpoint could not be written or read. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The file could not be read or written.
    #[error("checkpoint {}: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// The file is empty.
    #[error("checkpoint {}: the file is empty", .path.display())]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// The file is not a readable safetensors file (truncated, corrupted, not one at all).
    #[error("checkpoint {}: not a valid safetensors file ({source})", .path.display())]
    Safetensors {
        /// The file.
        path: PathBuf,
        /// The parser's error.
        source: SafeTensorError,
    },
    /// A safetensors file without a glassbox manifest.
    #[error("checkpoint {}: no \"{MANIFEST_KEY}\" entry in the safetensors metadata; not a glassbox checkpoint", .path.display())]
    MissingManifest {
        /// The file.
        path: PathBuf,
    },
    /// The manifest is not valid JSON or misses fields.
    #[error("checkpoint {}: bad manifest: {source}", .path.display())]
    ManifestJson {
        /// The file.
        path: PathBuf,
        /// The JSON error (with line and column).
        source: serde_json::Error,
    },
    /// The manifest names another format.
    #[error("checkpoint {}: format {found:?}, expected {FORMAT_NAME:?}", .path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// The format found.
        found: String,
    },
    /// A format version this code does not read.
    #[error("checkpoint {}: format version {found}, this glassbox reads version {FORMAT_VERSION}", .path.display())]
    Version {
        /// The file.
        path: PathBuf,
        /// The version found.
        found: u64,
    },
    /// A dtype other than the one asked for (the manifest's, or a tensor's).
    #[error("checkpoint {}: {what} has dtype {found}, expected {expected}", .path.display())]
    Dtype {
        /// The file.
        path: PathBuf,
        /// `"the manifest"` or a tensor name.
        what: String,
        /// The dtype found.
        found: String,
        /// The dtype expected.
        expected: String,
    },
    /// The architecture does not describe a valid network.
    #[error("checkpoint {}: bad architecture: {reason}", .path.display())]
    Architecture {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The parameter count does not match the architecture.
    #[error("checkpoint {}: the manifest says {manifest} parameters but the architecture has {architecture}", .path.display())]
    ParamCount {
        /// The file.
        path: PathBuf,
        /// `num_params` of the manifest.
        manifest: usize,
        /// Parameters the architecture needs.
        architecture: usize,
    },
    /// An expected tensor is absent.
    #[error("checkpoint {}: tensor {name:?} is missing", .path.display())]
    MissingTensor {
        /// The file.
        path: PathBuf,
        /// The tensor.
        name: String,
    },
    /// A tensor this checkpoint should not have.
    #[error("checkpoint {}: unexpected tensor {name:?}", .path.display())]
    UnexpectedTensor {
        /// The file.
        path: PathBuf,
        /// The tensor.
        name: String,
    },
    /// A tensor of the wrong shape.
    #[error("checkpoint {}: tensor {name:?} has shape {found:?}, expected {expected:?}", .path.display())]
    Shape {
        /// The file.
        path: PathBuf,
        /// The tensor.
        name: String,
        /// Its shape.
        found: Vec<usize>,
        /// The shape the architecture needs.
        expected: Vec<usize>,
    },
    /// A tensor's bytes, or the manifest's text, do not match their stored checksum: the
    /// file was corrupted or edited.
    #[error("checkpoint {}: {name:?} fails its checksum (stored {expected}, computed {found}): the file is corrupted", .path.display())]
    Checksum {
        /// The file.
        path: PathBuf,
        /// The tensor.
        name: String,
        /// The checksum in the manifest.
        expected: String,
        /// The checksum of the bytes.
        found: String,
    },
    /// Any other inconsistency in the manifest (RNG state, history length, configuration).
    #[error("checkpoint {}: {reason}", .path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The optimizer state does not fit the optimizer.
    #[error("checkpoint {}: {source}", .path.display())]
    Optimizer {
        /// The file.
        path: PathBuf,
        /// The optimizer's error.
        source: OptimError,
    },
}

/// Everything a checkpoint holds, checked.
#[derive(Debug)]
pub struct Checkpoint<T: Float> {
    /// The manifest.
    pub manifest: Manifest,
    /// The network with its parameters.
    pub mlp: Mlp<T>,
    /// The optimizer with its state and step count.
    pub optimizer: Optimizer<T>,
    /// The trainer's RNG.
    pub rng: Rng,
    /// The best epoch's parameters, if stored.
    pub best_params: Option<Vec<T>>,
    /// The averaged iterates (P28), if stored.
    pub averaged: Option<Vec<T>>,
}

/// Where a stored tensor's values go.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Slot {
    Params,
    /// Index into the optimizer's buffer names.
    Optim(usize),
    Best,
    Average,
}

/// Every tensor a checkpoint of this layout holds: (name, slot, slice of the buffer).
fn layout(
    tensors: &[MlpTensor],
    buffers: &[&str],
    with_best: bool,
    with_average: bool,
) -> Vec<(String, Slot, MlpTensor)> {
    let mut out = Vec::new();
    for t in tensors {
        out.push((t.name.clone(), Slot::Params, t.clone()));
    }
    for (i, b) in buffers.iter().enumerate() {
        for t in tensors {
            out.push((format!("optim.{b}.{}", t.name), Slot::Optim(i), t.clone()));
        }
    }
    if with_best {
        for t in tensors {
            out.push((format!("best.{}", t.name), Slot::Best, t.clone()));
        }
    }
    if with_average {
        for t in tensors {
            out.push((format!("average.{}", t.name), Slot::Average, t.clone()));
        }
    }
    out
}

impl<T: Float> Trainer<T> {
    /// The manifest and the stored tensors (by name) of this trainer's state.
    fn snapshot(&self) -> (Manifest, BTreeMap<String, StoredTensor>) {
        let tensors_info = self.mlp.tensors();
        let names = self.optimizer.config().buffer_names();
        let buffers = self.optimizer.buffers();
        let params = self.mlp.params();
        let mut stored = BTreeMap::new();
        let mut records = BTreeMap::new();
        let with_average = self.averaged.is_some();
        for (name, slot, t) in layout(
            &tensors_info,
            names,
            self.best_params.is_some(),
            with_average,
        ) {
            let src: &[T] = match slot {
                Slot::Params => params,
                Slot::Optim(i) => buffers[i].1,
                Slot::Best => self.best_params.as_deref().unwrap_or(params),
                Slot::Average => self.averaged.as_deref().unwrap_or(params),
            };
            let bytes = encode(&src[t.range()]);
            records.insert(
                name.clone(),
                TensorRecord {
                    shape: t.shape.clone(),
                    fnv1a64: fnv1a64_hex(&bytes),
                },
            );
            stored.insert(
                name,
                StoredTensor {
                    dtype: dtype_of::<T>(),
                    shape: t.shape,
                    bytes,
                },
            );
        }
        let spec = self.mlp.spec();
        let manifest = Manifest {
            format: FORMAT_NAME.into(),
            format_version: FORMAT_VERSION,
            dtype: T::NAME.into(),
            architecture: ArchitectureRecord::from_spec(spec),
            num_params: spec.num_params(),
            conventions: Conventions::of(self),
            config: self.config.clone(),
            seed: self.config.seed,
            rng: RngState::of(&self.rng),
            epochs_done: self.history.len(),
            optimizer_step_count: self.optimizer.step_count(),
            optimizer_buffers: names.iter().map(|s| s.to_string()).collect(),
            early_stopping: self.stopping.clone(),
            has_best_params: self.best_params.is_some(),
            has_average: with_average,
            history: self.history.clone(),
            tensors: records,
            extra: self.extra.clone(),
        };
        (manifest, stored)
    }

    /// The manifest a checkpoint of the current state would carry.
    pub fn manifest(&self) -> Manifest {
        self.snapshot().0
    }

    /// [`Trainer::manifest`] as pretty JSON, for humans.
    pub fn manifest_json(&self) -> String {
        self.manifest().to_json_pretty()
    }

    /// The checkpoint file's bytes (safetensors with the manifest in `__metadata__`, in the
    /// fixed order of [`safetensors_bytes`]).
    ///
    /// # Errors
    /// [`CheckpointError::ManifestJson`] if the manifest cannot be serialised (it can for
    /// every state a trainer reaches); `path` only labels the error.
    pub fn checkpoint_bytes(&self, path: &Path) -> Result<Vec<u8>, CheckpointError> {
        let (manifest, stored) = self.snapshot();
        let json =
            serde_json::to_string(&manifest).map_err(|source| CheckpointError::ManifestJson {
                path: path.to_path_buf(),
                source,
            })?;
        let metadata = BTreeMap::from([
            (MANIFEST_CHECKSUM_KEY, fnv1a64_hex(json.as_bytes())),
            (MANIFEST_KEY, json),
            ("format", "pt".to_string()),
        ]);
        Ok(safetensors_bytes(&metadata, &stored))
    }

    /// Writes a checkpoint of the current state to `path`, atomically: a temporary file in
    /// the same folder, written, `fsync`ed and renamed over `path` (then the folder is
    /// `fsync`ed, best effort); see [`crate::store::output`] for links and special files. A failure
    /// leaves any previous file at `path` intact.
    ///
    /// # Errors
    /// [`CheckpointError::Io`] naming the path.
    pub fn save(&self, path: &Path) -> Result<(), CheckpointError> {
        let bytes = self.checkpoint_bytes(path)?;
        write_atomic(path, &bytes).map_err(|source| CheckpointError::Io {
            path: path.to_path_buf(),
            source,
        })
    }

    /// A trainer continuing the run saved in `path`: the same network, optimizer state, RNG
    /// state, history, early-stopping state and `extra`, so that training on from here is
    /// bit-identical to never having stopped (given the same data).
    ///
    /// # Errors
    /// Any [`CheckpointError`] of [`load_checkpoint`].
    pub fn resume(path: &Path) -> Result<Self, CheckpointError> {
        Self::from_checkpoint(load_checkpoint(path)?)
    }

    /// A trainer from a loaded checkpoint (see [`Trainer::resume`]).
    ///
    /// # Errors
    /// None in practice: [`load_checkpoint`] has checked everything this needs.
    pub fn from_checkpoint(ckpt: Checkpoint<T>) -> Result<Self, CheckpointError> {
        let Checkpoint {
            manifest,
            mlp,
            optimizer,
            rng,
            best_params,
            averaged,
        } = ckpt;
        Ok(Trainer {
            config: manifest.config,
            mlp,
            optimizer,
            rng,
            history: manifest.history,
            init: manifest.conventions.init,
            stopping: manifest.early_stopping,
            best_params,
            averaged,
            extra: manifest.extra,
            distributed: None,
        })
    }
}

/// Writes `bytes` to `path` through the one output writer ([`crate::store::output`]): a regular
/// file (or a link's target) is replaced atomically, a FIFO or character device is streamed
/// into, anything else is refused.
fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    crate::store::output::write_bytes(path, bytes).map_err(io::Error::other)
}

/// Reads and checks the checkpoint at `path` (see the module doc for every check).
///
/// # Errors
/// A [`CheckpointError`] naming `path` and the first problem found.
pub fn load_checkpoint<T: Float>(path: &Path) -> Result<Checkpoint<T>, CheckpointError> {
    let bytes =
        read_model_file(path, MAX_MODEL_FILE_BYTES).map_err(|source| CheckpointError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    Checkpoint::from_bytes(&bytes, path)
}

/// Reads only the manifest of the checkpoint at `path` (the header is checked; the
/// tensors are not).
///
/// # Errors
/// As [`load_checkpoint`] for the header and the manifest.
pub fn read_manifest(path: &Path) -> Result<Manifest, CheckpointError> {
    let bytes =
        read_model_file(path, MAX_MODEL_FILE_BYTES).map_err(|source| CheckpointError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    let (_, metadata) = parse_safetensors(&bytes, path)?;
    manifest_of(&metadata, path)
}

/// The parsed file and its header (the parser checks the header length, the JSON, that the
/// tensors' offsets tile the data exactly and agree with their shapes and dtypes).
fn parse_safetensors<'b>(
    bytes: &'b [u8],
    path: &Path,
) -> Result<(SafeTensors<'b>, Metadata), CheckpointError> {
    if bytes.is_empty() {
        return Err(CheckpointError::Empty {
            path: path.to_path_buf(),
        });
    }
    let err = |source| CheckpointError::Safetensors {
        path: path.to_path_buf(),
        source,
    };
    let (_, metadata) = SafeTensors::read_metadata(bytes).map_err(err)?;
    let st = SafeTensors::deserialize(bytes).map_err(err)?;
    Ok((st, metadata))
}

/// The manifest from the header, after its checksum; its format and version are checked
/// before the fields, so a file of another version reports that rather than a missing field.
fn manifest_of(metadata: &Metadata, path: &Path) -> Result<Manifest, CheckpointError> {
    let p = || path.to_path_buf();
    let entries = metadata.metadata().as_ref();
    let json = entries
        .and_then(|m| m.get(MANIFEST_KEY))
        .ok_or_else(|| CheckpointError::MissingManifest { path: p() })?;
    let stored = entries
        .and_then(|m| m.get(MANIFEST_CHECKSUM_KEY))
        .map_or("(none)", String::as_str);
    let found = fnv1a64_hex(json.as_bytes());
    if stored != found {
        return Err(CheckpointError::Checksum {
            path: p(),
            name: MANIFEST_KEY.into(),
            expected: stored.into(),
            found,
        });
    }
    let value: serde_json::Value = serde_json::from_str(json)
        .map_err(|source| CheckpointError::ManifestJson { path: p(), source })?;
    let format = value.get("format").and_then(|f| f.as_str()).unwrap_or("");
    if format != FORMAT_NAME {
        return Err(CheckpointError::Format {
            path: p(),
            found: format.to_string(),
        });
    }
    let version = value.get("format_version").and_then(|v| v.as_u64());
    if version != Some(u64::from(FORMAT_VERSION)) {
        return Err(CheckpointError::Version {
            path: p(),
            found: version.unwrap_or(0),
        });
    }
    serde_json::from_value(value)
        .map_err(|source| CheckpointError::ManifestJson { path: p(), source })
}

impl<T: Float> Checkpoint<T> {
    /// Parses and checks checkpoint bytes; `path` labels the errors.
    ///
    /// # Errors
    /// A [`CheckpointError`] naming `path` and the first problem found.
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Self, CheckpointError> {
        let p = || path.to_path_buf();
        let invalid = |reason: String| CheckpointError::Invalid { path: p(), reason };
        let (st, metadata) = parse_safetensors(bytes, path)?;
        let manifest = manifest_of(&metadata, path)?;
        if manifest.dtype != T::NAME {
            return Err(CheckpointError::Dtype {
                path: p(),
                what: "the manifest".into(),
                found: manifest.dtype.clone(),
                expected: T::NAME.into(),
            });
        }
        let spec = manifest
            .architecture
            .to_spec()
            .map_err(|reason| CheckpointError::Architecture { path: p(), reason })?;
        let n =
            manifest
                .architecture
                .num_params()
                .ok_or_else(|| CheckpointError::Architecture {
                    path: p(),
                    reason: "the parameter count overflows".into(),
                })?;
        if manifest.num_params != n {
            return Err(CheckpointError::ParamCount {
                path: p(),
                manifest: manifest.num_params,
                architecture: n,
            });
        }
        // Before allocating P values: the file must hold P parameter values (so P is
        // bounded by the file's size, whatever the manifest claims).
        let stored: usize = st
            .iter()
            .filter(|(name, _)| name.starts_with("layers."))
            .map(|(_, v)| v.shape().iter().product::<usize>())
            .sum();
        if stored != n {
            return Err(invalid(format!(
                "the file holds {stored} parameter values in layers.* tensors, the architecture needs {n}"
            )));
        }
        manifest
            .config
            .validate()
            .map_err(|e| invalid(format!("bad training configuration: {e}")))?;
        let last = spec.layers[spec.layers.len() - 1].activation;
        loss_reads(manifest.config.loss.kind, last, spec.outputs())
            .map_err(|e| invalid(e.to_string()))?;
        if manifest.history.len() != manifest.epochs_done {
            return Err(invalid(format!(
                "the history has {} epochs but epochs_done is {}",
                manifest.history.len(),
                manifest.epochs_done
            )));
        }
        let rng = manifest
            .rng
            .to_rng()
            .map_err(|e| invalid(format!("bad RNG state: {e}")))?;

        // The tensors the manifest implies, against the file's and the manifest's lists.
        let zero = Mlp::<T>::from_params(spec, vec![T::zero(); n]).map_err(|e| {
            CheckpointError::Architecture {
                path: p(),
                reason: e.to_string(),
            }
        })?;
        let buffer_names = manifest.config.optimizer.buffer_names();
        if manifest.optimizer_buffers != buffer_names {
            return Err(invalid(format!(
                "optimizer buffers {:?}, but {:?} keeps {:?}",
                manifest.optimizer_buffers, manifest.config.optimizer, buffer_names
            )));
        }
        let averages = manifest
            .config
            .privacy
            .is_some_and(|dp| dp.method.average_decay.is_some());
        if manifest.has_average != averages {
            return Err(invalid(format!(
                "has_average is {} but the configuration {} the iterates (P28)",
                manifest.has_average,
                if averages {
                    "averages"
                } else {
                    "does not average"
                }
            )));
        }
        let expected = layout(
            &zero.tensors(),
            buffer_names,
            manifest.has_best_params,
            manifest.has_average,
        );
        let mut names_in_file = st.names();
        names_in_file.sort_unstable();
        for name in &names_in_file {
            if !expected.iter().any(|(e, _, _)| e == name) {
                return Err(CheckpointError::UnexpectedTensor {
                    path: p(),
                    name: name.to_string(),
                });
            }
        }
        if let Some(extra) = manifest
            .tensors
            .keys()
            .find(|k| !expected.iter().any(|(e, _, _)| e == *k))
        {
            return Err(invalid(format!(
                "the manifest lists an unknown tensor {extra:?}"
            )));
        }
        let mut params = vec![T::zero(); n];
        let mut optim: Vec<Vec<T>> = vec![vec![T::zero(); n]; buffer_names.len()];
        let mut best = manifest.has_best_params.then(|| vec![T::zero(); n]);
        let mut averaged = manifest.has_average.then(|| vec![T::zero(); n]);
        for (name, slot, info) in &expected {
            let view = st
                .tensor(name)
                .map_err(|_| CheckpointError::MissingTensor {
                    path: p(),
                    name: name.clone(),
                })?;
            if view.dtype() != dtype_of::<T>() {
                return Err(CheckpointError::Dtype {
                    path: p(),
                    what: format!("tensor {name:?}"),
                    found: view.dtype().to_string(),
                    expected: dtype_of::<T>().to_string(),
                });
            }
            if view.shape() != info.shape.as_slice() {
                return Err(CheckpointError::Shape {
                    path: p(),
                    name: name.clone(),
                    found: view.shape().to_vec(),
                    expected: info.shape.clone(),
                });
            }
            let record = manifest
                .tensors
                .get(name)
                .ok_or_else(|| invalid(format!("the manifest has no record of tensor {name:?}")))?;
            let found = fnv1a64_hex(view.data());
            if record.fnv1a64 != found || record.shape != info.shape {
                return Err(CheckpointError::Checksum {
                    path: p(),
                    name: name.clone(),
                    expected: record.fnv1a64.clone(),
                    found,
                });
            }
            let dst: &mut [T] = match slot {
                Slot::Params => &mut params,
                Slot::Optim(i) => &mut optim[*i],
                Slot::Best => match best.as_mut() {
                    Some(b) => b,
                    None => continue,
                },
                Slot::Average => match averaged.as_mut() {
                    Some(a) => a,
                    None => continue,
                },
            };
            decode_into(view.data(), &mut dst[info.range()]);
        }
        let mlp = Mlp::from_params(zero.spec().clone(), params).map_err(|e| {
            CheckpointError::Architecture {
                path: p(),
                reason: e.to_string(),
            }
        })?;
        let mut optimizer = Optimizer::new(manifest.config.optimizer, n)
            .map_err(|source| CheckpointError::Optimizer { path: p(), source })?;
        let buffers: Vec<(&str, &[T])> = buffer_names
            .iter()
            .zip(&optim)
            .map(|(name, data)| (*name, data.as_slice()))
            .collect();
        optimizer
            .restore(manifest.optimizer_step_count, &buffers)
            .map_err(|source| CheckpointError::Optimizer { path: p(), source })?;
        Ok(Checkpoint {
            manifest,
            mlp,
            optimizer,
            rng,
            best_params: best,
            averaged,
        })
    }
}
