//! The recommender's pipeline, shared by `glassbox recommend` and the case study: an
//! interactions file → the default model of glassbox-recommend (notes/recommend.md §9) → one
//! safetensors file; a model and a test file → metrics of both modes; a model → lists. No
//! maths here: fitting, lists and metrics are glassbox-recommend's.

use std::collections::BTreeMap;
use std::path::Path;

use glassbox_recommend::mf::MfConfig;
use glassbox_recommend::model::{MODES, Recommender, TrainSpec};
use glassbox_recommend::phases::phase;
use glassbox_recommend::read::{Columns, read_interactions};
use glassbox_recommend::repeat::popularity_share;
use glassbox_recommend::select::Settings;
use glassbox_recommend::{Interaction, Mode, Split, Summary, summarize};
use glassbox_train::store::{StoredTensor, safetensors_bytes};
use safetensors::SafeTensors;
use safetensors::tensor::Dtype;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::exit::{CliError, ResultExt};
use crate::output::write_atomic;

/// The metadata key of a recommender model file.
pub const INFO_KEY: &str = "glassbox.recommend";
/// The layout version written by [`save`] (2: EASE stored as P's upper triangle in f32).
const FORMAT: u32 = 2;

/// What a model file records besides its tensors.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecommendInfo {
    pub format: u32,
    /// The file it was trained on, and the columns it read.
    pub source: String,
    pub columns: Columns,
    /// Training = events before it (Unix seconds).
    pub cutoff: i64,
    pub validation_days: i64,
    /// Per mode (new, all): the settings and their validation NDCG@20 (`null`: no
    /// validation users, defaults kept).
    pub modes: Vec<ModeInfo>,
    /// Counts of the training split and of the validation split.
    pub training: Value,
    pub validation: Option<Value>,
    /// Training users and candidate items, index = id (byte order of the names).
    pub users: Vec<String>,
    pub items: Vec<String>,
}

/// One mode's settings in the model file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModeInfo {
    pub mode: Mode,
    pub settings: Settings,
    pub validation_ndcg_at_20: Option<f64>,
}

/// A trained model and its record.
pub struct RecommendModel {
    pub model: Recommender,
    pub info: RecommendInfo,
}

/// Reads an interactions file (exit 2 with file, line and column on a bad cell).
pub fn read_log(path: &Path, columns: &Columns) -> Result<Vec<Interaction>, CliError> {
    phase("read the log", || read_interactions(path, columns)).data_err()
}

/// Refuses a training split no recommender can learn from, naming the file and column.
fn check_training(split: &Split, file: &Path, columns: &Columns) -> Result<(), CliError> {
    let file = file.display();
    let fail = |msg: String| Err(CliError::data(anyhow::anyhow!("{file}: {msg}")));
    if split.counts.training_events == 0 {
        return fail(format!(
            "no interaction before the cutoff ({} after it): nothing to train on",
            split.counts.ignored_events
        ));
    }
    if split.users.len() < 2 {
        return fail(format!(
            "column \"{}\": every training interaction has the same user (\"{}\"); a recommender needs at least two users",
            columns.user, split.users[0]
        ));
    }
    if split.items.len() < 2 {
        return fail(format!(
            "column \"{}\": every training interaction has the same item (\"{}\"); a recommender needs at least two items",
            columns.item, split.items[0]
        ));
    }
    Ok(())
}

/// Trains the default on the events of `log` (read from `file` with `columns`) before
/// `cutoff` (`None`: every event).
///
/// # Errors
/// Exit 2 for a log no recommender can learn from; an invalid MF setting.
pub fn train(
    file: &Path,
    columns: &Columns,
    log: &[Interaction],
    cutoff: Option<i64>,
    validation_days: i64,
    mf: MfConfig,
    progress: &mut dyn FnMut(String),
) -> Result<RecommendModel, CliError> {
    if log.is_empty() {
        return Err(CliError::data(anyhow::anyhow!(
            "{}: no interactions (only a header)",
            file.display()
        )));
    }
    let cutoff = cutoff.unwrap_or_else(|| log.iter().map(|e| e.time).max().unwrap_or(0) + 1);
    let spec = TrainSpec {
        cutoff,
        validation_days,
        mf,
    };
    check_training(&Split::new(log, cutoff, Some(cutoff)), file, columns)?;
    let model = Recommender::train(log, &spec, progress).usage_err()?;
    let info = RecommendInfo {
        format: FORMAT,
        source: file.display().to_string(),
        columns: columns.clone(),
        cutoff,
        validation_days,
        modes: model
            .modes
            .iter()
            .map(|m| ModeInfo {
                mode: m.mode,
                settings: m.fitted.settings,
                validation_ndcg_at_20: m.validation_ndcg,
            })
            .collect(),
        training: json!(model.split.counts),
        validation: model.validation.as_ref().map(|c| json!(c)),
        users: model.split.users.clone(),
        items: model.split.items.clone(),
    };
    Ok(RecommendModel { model, info })
}

fn tensor(dtype: Dtype, shape: Vec<usize>, bytes: Vec<u8>) -> StoredTensor {
    StoredTensor {
        dtype,
        shape,
        bytes,
    }
}

/// Writes the model as one safetensors file (atomically): the record as metadata, the
/// training events (user, item, time per distinct basket), each mode's MF parameters when
/// it uses MF, EASE's P (upper triangle, f32; K39) when a mode uses it.
///
/// # Errors
/// The output writer's error, naming the file.
pub fn save(m: &RecommendModel, path: &Path) -> Result<(), CliError> {
    phase("write the model", || save_now(m, path))
}

fn save_now(m: &RecommendModel, path: &Path) -> Result<(), CliError> {
    let mut tensors = BTreeMap::new();
    let log = m.model.training_log();
    let user_id: BTreeMap<&str, u32> = m
        .info
        .users
        .iter()
        .enumerate()
        .map(|(i, u)| (u.as_str(), i as u32))
        .collect();
    let item_id: BTreeMap<&str, u32> = m
        .info
        .items
        .iter()
        .enumerate()
        .map(|(i, u)| (u.as_str(), i as u32))
        .collect();
    let n = log.len();
    let u32s = |f: &dyn Fn(&Interaction) -> u32| -> Vec<u8> {
        log.iter().flat_map(|e| f(e).to_le_bytes()).collect()
    };
    tensors.insert(
        "training.user".to_string(),
        tensor(Dtype::U32, vec![n], u32s(&|e| user_id[e.user.as_str()])),
    );
    tensors.insert(
        "training.item".to_string(),
        tensor(Dtype::U32, vec![n], u32s(&|e| item_id[e.item.as_str()])),
    );
    tensors.insert(
        "training.time".to_string(),
        tensor(
            Dtype::I64,
            vec![n],
            log.iter().flat_map(|e| e.time.to_le_bytes()).collect(),
        ),
    );
    for mm in &m.model.modes {
        if mm.fitted.settings.mf_weight != 0.0 {
            let p = &mm.fitted.mf.params;
            tensors.insert(
                format!("{}.mf", mm.mode.name()),
                tensor(
                    Dtype::F32,
                    vec![p.len()],
                    p.iter().flat_map(|x| x.to_le_bytes()).collect(),
                ),
            );
        }
    }
    if let Some(e) = m.model.modes.iter().find_map(|mm| mm.fitted.ease.as_ref()) {
        let p = e.inverse_upper();
        tensors.insert(
            "ease.p_upper".to_string(),
            tensor(
                Dtype::F32,
                vec![p.len()],
                p.iter().flat_map(|x| x.to_le_bytes()).collect(),
            ),
        );
    }
    let info = serde_json::to_string(&m.info).internal_err()?;
    let metadata = BTreeMap::from([(INFO_KEY, info)]);
    write_atomic(path, &safetensors_bytes(&metadata, &tensors)).usage_err()
}

/// Reads a model written by [`save`] (exit 2 naming the file if it is not one).
pub fn load(path: &Path) -> Result<RecommendModel, CliError> {
    let file = path.display().to_string();
    let bad = |msg: String| CliError::data(anyhow::anyhow!("{file}: {msg}"));
    let bytes = std::fs::read(path)
        .map_err(|e| CliError::usage(anyhow::anyhow!("{file}: cannot read: {e}")))?;
    let (_, meta) = SafeTensors::read_metadata(&bytes)
        .map_err(|e| bad(format!("not a safetensors file ({e})")))?;
    let text = meta
        .metadata()
        .as_ref()
        .and_then(|m| m.get(INFO_KEY))
        .ok_or_else(|| {
            bad("not a recommender model (train one with `glassbox recommend train`)".into())
        })?;
    let info: RecommendInfo =
        serde_json::from_str(text).map_err(|e| bad(format!("bad recommender record: {e}")))?;
    if info.format != FORMAT {
        return Err(bad(format!(
            "recommender layout {} (this build reads {FORMAT})",
            info.format
        )));
    }
    let st = SafeTensors::deserialize(&bytes).map_err(|e| bad(format!("{e}")))?;
    let raw = |name: &str, dtype: Dtype| -> Result<Option<Vec<u8>>, CliError> {
        match st.tensor(name) {
            Ok(t) if t.dtype() == dtype => Ok(Some(t.data().to_vec())),
            Ok(t) => Err(bad(format!(
                "tensor {name} is {:?}, not {dtype:?}",
                t.dtype()
            ))),
            Err(_) => Ok(None),
        }
    };
    let need = |name: &str, dtype| raw(name, dtype)?.ok_or_else(|| bad(format!("no {name}")));
    let users = need("training.user", Dtype::U32)?;
    let items = need("training.item", Dtype::U32)?;
    let times = need("training.time", Dtype::I64)?;
    let u32s = |b: &[u8]| -> Vec<u32> {
        b.chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    };
    let (users, items) = (u32s(&users), u32s(&items));
    let times: Vec<i64> = times
        .chunks_exact(8)
        .map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
        .collect();
    if users.len() != items.len() || users.len() != times.len() {
        return Err(bad("training tensors differ in length".into()));
    }
    let mut log = Vec::with_capacity(users.len());
    for ((&u, &i), &t) in users.iter().zip(&items).zip(&times) {
        let (Some(user), Some(item)) = (info.users.get(u as usize), info.items.get(i as usize))
        else {
            return Err(bad(format!(
                "training event with user {u} / item {i} out of range"
            )));
        };
        log.push(Interaction {
            user: user.clone(),
            item: item.clone(),
            time: t,
            basket: t.to_string(),
        });
    }
    let f32s = |b: &[u8]| -> Vec<f32> {
        b.chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    };
    let mut modes = Vec::new();
    for (mi, &mode) in info.modes.iter().zip(&MODES) {
        if mi.mode != mode {
            return Err(bad(format!(
                "mode {:?} stored where {mode:?} belongs",
                mi.mode
            )));
        }
        let params = raw(&format!("{}.mf", mode.name()), Dtype::F32)?.map(|b| f32s(&b));
        modes.push((mi.settings, mi.validation_ndcg_at_20, params));
    }
    let ease = raw("ease.p_upper", Dtype::F32)?.map(|b| f32s(&b));
    let model = Recommender::from_parts(&log, info.cutoff, modes, ease, None).map_err(bad)?;
    if model.split.users != info.users || model.split.items != info.items {
        return Err(bad(
            "the stored events do not rebuild the stored id maps".into()
        ));
    }
    Ok(RecommendModel { model, info })
}

/// The metrics of one mode, as metrics.json writes them.
#[derive(Debug, Clone, Serialize)]
pub struct ModeMetrics {
    pub users: usize,
    pub recall_at_20: f64,
    pub ndcg_at_20: f64,
    pub hit_rate_at_10: f64,
    pub map_at_20: f64,
    pub coverage_at_20: f64,
    pub popularity_at_20: f64,
}

impl ModeMetrics {
    /// From the summaries at 20 and at 10.
    pub fn new(at20: &Summary, at10: &Summary) -> ModeMetrics {
        ModeMetrics {
            users: at20.users,
            recall_at_20: at20.recall,
            ndcg_at_20: at20.ndcg,
            hit_rate_at_10: at10.hit_rate,
            map_at_20: at20.map,
            coverage_at_20: at20.coverage,
            popularity_at_20: at20.popularity,
        }
    }
}

/// The training split of `model` with the test window of `test` added: test events at or
/// after the model's cutoff (a model trained without a time column puts every test event
/// there); earlier events are returned as a count and not used.
pub fn test_split(model: &RecommendModel, test: &[Interaction]) -> (Split, usize) {
    let cutoff = model.info.cutoff;
    let timed = model.info.columns.time.is_some();
    let mut log = model.model.training_log();
    let mut before = 0;
    for e in test {
        let time = if timed { e.time } else { cutoff };
        if time < cutoff {
            before += 1;
        } else {
            log.push(Interaction { time, ..e.clone() });
        }
    }
    (Split::new(&log, cutoff, None), before)
}

/// (K5–K11) The default's metrics of `mode` on a split built by [`test_split`].
pub fn evaluate_mode(model: &RecommendModel, split: &Split, mode: Mode) -> ModeMetrics {
    let users = split.evaluated(mode);
    let ids: Vec<u32> = users.iter().map(|u| u.user).collect();
    let lists = model.model.lists(split, mode, &ids, 20);
    let pop = popularity_share(split);
    let n = split.items.len();
    ModeMetrics::new(
        &summarize(&users, &lists, 20, n, &pop),
        &summarize(&users, &lists, 10, n, &pop),
    )
}

/// metrics.json's `test` object: the primary (new) mode's metrics at the top, both modes
/// under `modes`.
pub fn test_json(new: &ModeMetrics, all: &ModeMetrics) -> Value {
    let mut v = json!(new);
    v["primary_mode"] = json!("new");
    v["modes"] = json!({"new": new, "all": all});
    v
}

/// Whether `path` is a recommender model file: its safetensors header (read alone, not the
/// tensors) carries the [`INFO_KEY`] record. Any read or format problem answers `false`.
pub fn is_recommender(path: &Path) -> bool {
    use std::io::Read;
    let Ok(mut f) = std::fs::File::open(path) else {
        return false;
    };
    let mut len = [0u8; 8];
    if f.read_exact(&mut len).is_err() {
        return false;
    }
    let n = u64::from_le_bytes(len);
    if n > 100_000_000 {
        return false;
    }
    let mut header = vec![0u8; n as usize];
    if f.read_exact(&mut header).is_err() {
        return false;
    }
    serde_json::from_slice::<Value>(&header)
        .ok()
        .is_some_and(|h| h["__metadata__"][INFO_KEY].is_string())
}

/// What `glassbox inspect` reports of a recommender file: the record (source, columns,
/// cutoff, each mode's blend and validation NDCG@20, the training and validation counts),
/// the sizes (users, items, each tensor's dtype, shape and bytes, the file's bytes).
///
/// # Errors
/// As [`load`]: exit 2 naming the file if it is not a readable recommender model.
pub fn inspect_json(path: &Path) -> Result<Value, CliError> {
    let m = load(path)?;
    let bytes = std::fs::read(path)
        .map_err(|e| CliError::usage(anyhow::anyhow!("{}: cannot read: {e}", path.display())))?;
    let st = SafeTensors::deserialize(&bytes)
        .map_err(|e| CliError::data(anyhow::anyhow!("{}: {e}", path.display())))?;
    let mut tensors: Vec<Value> = st
        .tensors()
        .into_iter()
        .map(|(name, t)| {
            json!({
                "name": name,
                "dtype": format!("{:?}", t.dtype()),
                "shape": t.shape(),
                "bytes": t.data().len(),
            })
        })
        .collect();
    tensors.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    let i = &m.info;
    Ok(json!({
        "file": path.display().to_string(),
        "kind": "recommender",
        "file_bytes": bytes.len(),
        "format": i.format,
        "source": i.source,
        "columns": i.columns,
        "cutoff_unix_seconds": i.cutoff,
        "validation_days": i.validation_days,
        "users": i.users.len(),
        "items": i.items.len(),
        "modes": i.modes,
        "training": i.training,
        "validation": i.validation,
        "tensors": tensors,
    }))
}
