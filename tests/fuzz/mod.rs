//! The fuzz targets and the mutator, shared by the long run (`examples/fuzz_loaders.rs`)
//! and the short one in `cargo test` (`tests/fuzz_loaders.rs`). notes/reliability.md,
//! "Fuzzing", records the targets, the runs and the findings.
//!
//! Every loader of untrusted bytes is a target: the CSV reader with type inference, the
//! typed table and the preprocessor fitted on it; the schema TOML applied to a CSV; the
//! model bundle (safetensors header, metadata JSON, checksum, tensors); the checkpoint.
//! A target returns normally for any input — `Ok` or a clean error; a panic or an input
//! that runs for more than a second is a finding.

#![allow(dead_code)]

use std::io::Cursor;
use std::path::{Path, PathBuf};

use glassbox_app::bundle::Bundle;
use glassbox_data::{Preprocessor, RawTable, ReadOptions, Schema, SchemaOverrides, Table};
use glassbox_data::{TargetSpec, UNKNOWN_LEVEL};
use glassbox_train::checkpoint::Checkpoint;
use glassbox_train::store::fnv1a64_hex;
use glassbox_train::{MANIFEST_CHECKSUM_KEY, MANIFEST_KEY};
use ndarray::Array2;

/// What a target is fed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Csv,
    Schema,
    Bundle,
    Checkpoint,
    Events,
}

impl Target {
    pub const ALL: [Target; 5] = [
        Target::Csv,
        Target::Schema,
        Target::Bundle,
        Target::Checkpoint,
        Target::Events,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Target::Csv => "csv",
            Target::Schema => "schema",
            Target::Bundle => "bundle",
            Target::Checkpoint => "checkpoint",
            Target::Events => "events",
        }
    }

    pub fn parse(name: &str) -> Option<Target> {
        Target::ALL.into_iter().find(|t| t.name() == name)
    }

    /// Whether the input is a safetensors file (mutations favour its header).
    fn is_safetensors(self) -> bool {
        matches!(self, Target::Bundle | Target::Checkpoint)
    }
}

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The first `lines` lines of a committed file.
fn head(path: &Path, lines: usize) -> Vec<u8> {
    let text = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = Vec::new();
    for line in text.split_inclusive(|&b| b == b'\n').take(lines) {
        out.extend_from_slice(line);
    }
    out
}

/// The committed files of `tests/fuzz/seeds/` whose names end with `ext`.
fn seed_files(ext: &str) -> Vec<Vec<u8>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(root().join("tests/fuzz/seeds"))
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    paths.sort();
    paths
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(ext))
        .map(|p| std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .collect()
}

/// The seed inputs of a target: committed fixtures, test data and hand-made edge cases.
pub fn seeds(target: Target) -> Vec<Vec<u8>> {
    let datasets = root().join("datasets");
    match target {
        Target::Csv => {
            let mut s = seed_files(".csv");
            for f in ["online_shoppers_train.csv", "online_shoppers_test.csv"] {
                s.push(head(&datasets.join(f), 30));
            }
            s
        }
        Target::Schema => {
            let mut s = seed_files(".toml");
            s.push(std::fs::read(datasets.join("online_shoppers.schema.toml")).unwrap_or_default());
            s
        }
        Target::Bundle => seed_files(".bundle.safetensors"),
        Target::Checkpoint => {
            let mut s = seed_files(".checkpoint.safetensors");
            let fixture =
                root().join("crates/train/tests/reference/glassbox_small_checkpoint.safetensors");
            s.push(std::fs::read(fixture).unwrap_or_default());
            s
        }
        Target::Events => [40, 400]
            .iter()
            .map(|&n| head(&datasets.join("retailrocket_events.csv"), n))
            .collect(),
    }
}

/// The fixed data the schema target applies its TOML to: 30 lines of the shoppers data.
pub fn schema_data() -> RawTable {
    let text = head(&root().join("datasets/online_shoppers_train.csv"), 30);
    RawTable::from_reader(Cursor::new(text), "shoppers.csv", &ReadOptions::default())
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Options the CSV target alternates with the defaults: small limits, so inputs reach them.
fn small_limits(delimiter: Option<u8>) -> ReadOptions {
    ReadOptions {
        delimiter,
        max_field_bytes: 256,
        max_columns: 64,
        max_categories: 16,
    }
}

/// Fits and applies a preprocessor with `target` as the label; errors are fine. Whether
/// the typed table was built.
fn fit_and_transform(raw: &RawTable, overrides: &SchemaOverrides, target: &str) -> bool {
    let Ok(schema) = Schema::infer(raw, overrides) else {
        return false;
    };
    let Ok(table) = Table::from_raw(raw, &schema) else {
        return false;
    };
    let _ = table.duplicates();
    if let Ok(pre) = Preprocessor::fit(&table, &schema, &TargetSpec::new(target)) {
        let _ = pre.transform(&table);
        let _ = pre
            .feature_names()
            .iter()
            .any(|n| n.ends_with(UNKNOWN_LEVEL));
        // The preprocessor's JSON (what a bundle stores) reads back.
        let _ = Preprocessor::from_json(&pre.to_json(), "fuzz");
    }
    true
}

/// The CSV target: read (with the default or small limits, detected or given delimiter),
/// infer, parse, fit on the last column and transform. Whether a typed table was built.
pub fn load_csv(bytes: &[u8], variant: u64) -> bool {
    let options = match variant % 4 {
        0 => ReadOptions::default(),
        1 => small_limits(None),
        2 => ReadOptions::with_delimiter(b';'),
        _ => small_limits(Some(b'\t')),
    };
    let Ok(raw) = RawTable::from_reader(Cursor::new(bytes.to_vec()), "fuzz.csv", &options) else {
        return false;
    };
    let last = raw.header().last().cloned().unwrap_or_default();
    fit_and_transform(&raw, &SchemaOverrides::default(), &last)
}

/// The schema target: parse the TOML, apply it to [`schema_data`], fit and transform.
/// Whether the schema applied.
pub fn load_schema(bytes: &[u8], data: &RawTable) -> bool {
    let text = String::from_utf8_lossy(bytes);
    SchemaOverrides::from_toml_str(&text, "fuzz.toml")
        .is_ok_and(|overrides| fit_and_transform(data, &overrides, "Revenue"))
}

/// The bundle target: load, and on success predict one row of zeros. Whether it loaded.
pub fn load_bundle(bytes: &[u8]) -> bool {
    let Ok(bundle) = Bundle::from_bytes(bytes, "fuzz.safetensors") else {
        return false;
    };
    let x = Array2::<f32>::zeros((1, bundle.preprocessor.n_features()));
    let p = bundle.probabilities(x.view());
    assert_eq!(p.len(), 1);
    true
}

/// The checkpoint target: load as f32 and as f64. Whether either loaded.
pub fn load_checkpoint(bytes: &[u8]) -> bool {
    let path = Path::new("fuzz.safetensors");
    let f32 = Checkpoint::<f32>::from_bytes(bytes, path).is_ok();
    Checkpoint::<f64>::from_bytes(bytes, path).is_ok() || f32
}

/// The event-log target: read and sort the log with the RetailRocket spec, then featurize
/// every cutoff (labels unknown, as when scoring). Whether it featurized.
pub fn load_events(bytes: &[u8]) -> bool {
    use glassbox_events::{EventSpec, FeatureMatrix, Labels, SortedLog, feature_names, featurize};
    let spec = EventSpec::retailrocket_next_hour();
    let Ok(mut log) = SortedLog::from_text("fuzz.csv", Cursor::new(bytes.to_vec()), &spec) else {
        return false;
    };
    let mut matrix = FeatureMatrix::new(feature_names(&spec));
    featurize(&mut log, &spec, Labels::Unknown, &mut matrix).is_ok()
}

/// Runs `target` on `bytes` (`variant` picks the CSV options); whether the loader accepted
/// the input (a clean error is `false`, a panic unwinds).
pub fn run(target: Target, bytes: &[u8], variant: u64, data: &RawTable) -> bool {
    match target {
        Target::Csv => load_csv(bytes, variant),
        Target::Schema => load_schema(bytes, data),
        Target::Bundle => load_bundle(bytes),
        Target::Checkpoint => load_checkpoint(bytes),
        Target::Events => load_events(bytes),
    }
}

/// A checkpoint with the manifest's checksum recomputed, so that mutations of the manifest
/// reach the checks behind it; `None` if the bytes are not readable safetensors.
pub fn reseal_checkpoint(bytes: &[u8]) -> Option<Vec<u8>> {
    use safetensors::SafeTensors;
    let st = SafeTensors::deserialize(bytes).ok()?;
    let (_, header) = SafeTensors::read_metadata(bytes).ok()?;
    let mut meta = header.metadata().clone().unwrap_or_default();
    let manifest = meta.get(MANIFEST_KEY)?.clone();
    meta.insert(
        MANIFEST_CHECKSUM_KEY.to_string(),
        fnv1a64_hex(manifest.as_bytes()),
    );
    safetensors::serialize(st.tensors(), Some(meta)).ok()
}

/// SplitMix64: a small deterministic generator, so a run is reproduced by its seed.
pub struct SplitMix(pub u64);

impl SplitMix {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub fn chance(&mut self, one_in: u64) -> bool {
        self.next().is_multiple_of(one_in)
    }
}

/// Bytes that steer parsers: CSV syntax, line endings, NUL, UTF-8 lead and continuation
/// bytes, JSON and TOML syntax.
const INTERESTING_BYTES: &[u8] = b"\",;\t\r\n\0 \xff\xc3\xa9\x80{}[]:=#'\\-+.e0159";

/// Tokens that steer value parsing: huge, tiny, infinite and not-a-number values, boolean
/// and missing spellings, JSON and TOML fragments.
const INTERESTING_TOKENS: &[&str] = &[
    "1e308",
    "-1e309",
    "1e-400",
    "inf",
    "-infinity",
    "NaN",
    "NA",
    "18446744073709551616",
    "-9223372036854775809",
    "4294967296",
    "99999999999999999999999999",
    "0.0000000000001",
    "true",
    "no",
    "\"\"",
    "\"\"\"",
    "\r\n",
    "\u{feff}",
    "é",
    "null",
    "[]",
    "{}",
    "[[",
    "]]",
    "kind = \"numeric\"",
    "kind = \"categorical\"",
    "kind = \"boolean\"",
    "log1p = true",
    "drop = true",
    "missing = [\"-1\", 0]",
    "[columns.Revenue]",
    "[columns.Month]",
    "\"units\":",
    "\"shape\":[",
    "\"data_offsets\":[0,",
    "\"dtype\":\"F64\"",
    "\"hidden\":[",
    "\"members\":[]",
    "\"levels\":[",
    "\"format_version\":",
];

/// A copy of `input` with 1 to 4 stacked mutations: bit flips, interesting bytes and
/// tokens set or inserted, deletions, truncations, repeated chunks and splices with
/// `other`. For safetensors inputs most positions fall in the header (the 8-byte length
/// and the JSON), where the parsing is; the rest is tensor data behind a checksum.
pub fn mutate(
    input: &[u8],
    other: &[u8],
    target: Target,
    rng: &mut SplitMix,
    max_len: usize,
) -> Vec<u8> {
    let mut out = input.to_vec();
    let header_end = if target.is_safetensors() && out.len() >= 8 {
        let n = u64::from_le_bytes(out[..8].try_into().unwrap_or([0; 8]));
        (n.saturating_add(8)).min(out.len() as u64) as usize
    } else {
        out.len()
    };
    for _ in 0..1 + rng.below(4) {
        let len = out.len();
        let limit = if target.is_safetensors() && rng.below(4) != 0 {
            header_end.min(len)
        } else {
            len
        };
        let pos = |rng: &mut SplitMix| if limit == 0 { 0 } else { rng.below(limit) };
        match rng.below(11) {
            0 if len > 0 => {
                let i = pos(rng);
                out[i.min(len - 1)] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = pos(rng);
                out[i.min(len - 1)] = INTERESTING_BYTES[rng.below(INTERESTING_BYTES.len())];
            }
            2 => {
                let i = pos(rng);
                out.insert(
                    i.min(len),
                    INTERESTING_BYTES[rng.below(INTERESTING_BYTES.len())],
                );
            }
            3 => {
                let i = pos(rng).min(len);
                let token = INTERESTING_TOKENS[rng.below(INTERESTING_TOKENS.len())];
                out.splice(i..i, token.bytes());
            }
            4 if len > 0 => {
                // Overwrite a number-like run with a token.
                let i = pos(rng).min(len - 1);
                let end = (i + 1 + rng.below(8)).min(len);
                let token = INTERESTING_TOKENS[rng.below(12)];
                out.splice(i..end, token.bytes());
            }
            5 if len > 0 => {
                let i = pos(rng).min(len - 1);
                let end = (i + 1 + rng.below(32)).min(len);
                out.drain(i..end);
            }
            6 => out.truncate(rng.below(len + 1)),
            7 if len > 0 => {
                // Repeat a chunk a few or many times.
                let i = pos(rng).min(len - 1);
                let end = (i + 1 + rng.below(64)).min(len);
                let chunk = out[i..end].to_vec();
                let times = if rng.chance(8) {
                    1 + rng.below(2000)
                } else {
                    1 + rng.below(8)
                };
                let mut rep = Vec::with_capacity(chunk.len() * times);
                for _ in 0..times {
                    rep.extend_from_slice(&chunk);
                }
                out.splice(end..end, rep);
            }
            8 if !other.is_empty() => {
                // Splice: a prefix of this input, a suffix of the other.
                let i = rng.below(len + 1);
                let j = rng.below(other.len());
                out.truncate(i);
                out.extend_from_slice(&other[j..]);
            }
            9 if target.is_safetensors() && len >= 8 => {
                // The header length: 0, small, the real one ± 1, the file size, huge.
                let real = u64::from_le_bytes(out[..8].try_into().unwrap_or([0; 8]));
                let n = match rng.below(6) {
                    0 => 0,
                    1 => real.wrapping_add(1),
                    2 => real.wrapping_sub(1),
                    3 => len as u64,
                    4 => u64::MAX - rng.below(16) as u64,
                    _ => 1 << rng.below(64),
                };
                out[..8].copy_from_slice(&n.to_le_bytes());
            }
            _ => {
                // Swap two bytes.
                if len > 1 {
                    let (a, b) = (pos(rng).min(len - 1), rng.below(len));
                    out.swap(a, b);
                }
            }
        }
        out.truncate(max_len);
    }
    out
}
