//! Loading never panics on a bad file: empty, truncated, random, with flipped bits in the
//! header or the data, or mismatched with the architecture — each gives a clear
//! `CheckpointError` naming the file. Saving is atomic.

#[path = "../crates/data/tests/support/mod.rs"]
mod data_support;
#[path = "train/support.rs"]
mod support;

use std::path::Path;

use data_support::Scratch;
use glassbox_core::init::uniform01;
use glassbox_core::{Init, seeded_rng};
use glassbox_train::checkpoint::fnv1a64_hex;
use glassbox_train::{
    Checkpoint, CheckpointError, DataView, MANIFEST_CHECKSUM_KEY, MANIFEST_KEY, TrainConfig,
    Trainer, load_checkpoint,
};
use serde_json::{Value, json};
use support::{binary_data, binary_spec, bits};

const LABEL: &str = "runs/model.safetensors";

/// A trained 4-5-1 network's checkpoint (Keras's Adam: `m` and `v` are stored too).
fn trained() -> Trainer<f32> {
    let (x, y) = binary_data::<f32>(16, 4, 60);
    let mut c = TrainConfig::keras_recipe(1, 61);
    c.batch_size = 8;
    let mut t = Trainer::<f32>::new(binary_spec(4, &[5], 0.0), Init::GlorotUniform, c).unwrap();
    t.fit(&DataView::new(x.view(), y.view()), None, &mut |_| {})
        .unwrap();
    t
}

fn good_bytes() -> Vec<u8> {
    trained().checkpoint_bytes(Path::new(LABEL)).unwrap()
}

fn parse(bytes: &[u8]) -> Result<Checkpoint<f32>, CheckpointError> {
    Checkpoint::<f32>::from_bytes(bytes, Path::new(LABEL))
}

/// The error's message, checked to name the file.
#[track_caller]
fn message(r: Result<Checkpoint<f32>, CheckpointError>) -> String {
    let e = r.expect_err("the file must be refused");
    let m = e.to_string();
    assert!(m.starts_with(&format!("checkpoint {LABEL}: ")), "{m}");
    m
}

/// The header length, the header JSON and the data of a safetensors file.
fn split(bytes: &[u8]) -> (usize, Value, Vec<u8>) {
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    (n, header, bytes[8 + n..].to_vec())
}

/// A safetensors file from a header and data (padded to 8 bytes like the writer does).
fn join(header: &Value, data: &[u8]) -> Vec<u8> {
    let mut h = serde_json::to_vec(header).unwrap();
    while !h.len().is_multiple_of(8) {
        h.push(b' ');
    }
    let mut out = (h.len() as u64).to_le_bytes().to_vec();
    out.extend(h);
    out.extend_from_slice(data);
    out
}

/// The file with its header JSON edited by `f`.
fn edit_header(bytes: &[u8], f: impl FnOnce(&mut Value)) -> Vec<u8> {
    let (_, mut header, data) = split(bytes);
    f(&mut header);
    join(&header, &data)
}

/// The file with its manifest edited by `f` (and its checksum updated, so that the edit
/// itself is what the loader meets).
fn edit_manifest(bytes: &[u8], f: impl FnOnce(&mut Value)) -> Vec<u8> {
    edit_header(bytes, |h| {
        let meta = &mut h["__metadata__"];
        let mut m: Value = serde_json::from_str(meta[MANIFEST_KEY].as_str().unwrap()).unwrap();
        f(&mut m);
        let text = serde_json::to_string(&m).unwrap();
        meta[MANIFEST_CHECKSUM_KEY] = json!(fnv1a64_hex(text.as_bytes()));
        meta[MANIFEST_KEY] = json!(text);
    })
}

#[test]
fn the_good_file_loads_and_its_header_helpers_are_faithful() {
    let bytes = good_bytes();
    let t = trained();
    let ckpt = parse(&bytes).unwrap();
    assert_eq!(bits(ckpt.mlp.params()), bits(t.mlp().params()));
    // Re-joining an unedited header gives a file that loads to the same state.
    let again = parse(&edit_manifest(&bytes, |_| {})).unwrap();
    assert_eq!(bits(again.mlp.params()), bits(t.mlp().params()));
    assert_eq!(again.manifest, ckpt.manifest);
}

#[test]
fn empty_missing_and_truncated_files() {
    let scratch = Scratch::new("ckpt_truncated");
    let empty = scratch.file("empty.safetensors", b"");
    let e = load_checkpoint::<f32>(&empty).unwrap_err();
    assert!(matches!(e, CheckpointError::Empty { .. }));
    assert_eq!(
        e.to_string(),
        format!("checkpoint {}: the file is empty", empty.display())
    );
    let missing = scratch.path("nope.safetensors");
    let e = load_checkpoint::<f32>(&missing).unwrap_err();
    assert!(matches!(e, CheckpointError::Io { .. }), "{e}");
    assert!(e.to_string().contains("nope.safetensors"), "{e}");

    let bytes = good_bytes();
    let (n, _, _) = split(&bytes);
    let mut cuts: Vec<usize> = (1..=16).collect();
    cuts.extend((16..8 + n).step_by(97));
    cuts.extend([
        8 + n - 1,
        8 + n,
        8 + n + 1,
        bytes.len() - 4,
        bytes.len() - 1,
    ]);
    for cut in cuts {
        let m = message(parse(&bytes[..cut]));
        assert!(
            m.contains("not a valid safetensors file"),
            "cut at {cut}: {m}"
        );
    }
    // A file with trailing garbage is refused too.
    let mut longer = bytes.clone();
    longer.extend_from_slice(&[0u8; 8]);
    assert!(message(parse(&longer)).contains("not a valid safetensors file"));
}

#[test]
fn random_bytes_are_refused() {
    let mut rng = seeded_rng(62);
    let good = good_bytes();
    let (n, _, _) = split(&good);
    for len in [1usize, 7, 8, 9, 64, 1000, 5000] {
        for trial in 0..20 {
            let mut junk: Vec<u8> = (0..len)
                .map(|_| (uniform01(&mut rng) * 256.0) as u8)
                .collect();
            if trial % 2 == 1 && len > 8 {
                // A plausible header length, so the parser reaches the JSON.
                let h = (len - 8) as u64;
                junk[..8].copy_from_slice(&h.min(n as u64).to_le_bytes());
            }
            message(parse(&junk));
        }
    }
}

/// Every single-bit flip (bits 0 and 5, plus all 8 bits of the length prefix) in the
/// header: the load fails, or — only when the flip hit the `"format":"pt"` entry (key or
/// value), which glassbox ignores — it yields exactly the original state. The manifest's checksum is what
/// catches edits of its text that keep the JSON valid.
#[test]
fn flipped_header_bits_are_caught() {
    let bytes = good_bytes();
    let (n, _, _) = split(&bytes);
    let original = parse(&bytes).unwrap();
    let entry = b"\"format\":\"pt\"";
    let pt = bytes[8..8 + n]
        .windows(entry.len())
        .position(|w| w == entry)
        .expect("the format entry")
        + 8;
    let (mut refused, mut accepted) = (0, 0);
    let mut positions: Vec<(usize, u8)> =
        (0..8).flat_map(|i| (0..8).map(move |b| (i, b))).collect();
    positions.extend((8..8 + n).flat_map(|i| [(i, 0u8), (i, 5u8)]));
    for (i, bit) in positions {
        let mut b = bytes.clone();
        b[i] ^= 1 << bit;
        match parse(&b) {
            Err(e) => {
                refused += 1;
                assert!(e.to_string().starts_with("checkpoint "), "{e}");
            }
            Ok(c) => {
                accepted += 1;
                assert!(
                    (pt..pt + entry.len()).contains(&i),
                    "flip at byte {i} bit {bit} was accepted"
                );
                assert_eq!(c.manifest, original.manifest);
                assert_eq!(bits(c.mlp.params()), bits(original.mlp.params()));
            }
        }
    }
    assert!(
        refused > 2 * n - 8,
        "{refused} refused, {accepted} accepted"
    );
}

/// Every bit 0 flip in the tensor data fails that tensor's checksum.
#[test]
fn flipped_data_bits_fail_the_checksum() {
    let bytes = good_bytes();
    let (n, _, data) = split(&bytes);
    for i in 0..data.len() {
        let mut b = bytes.clone();
        b[8 + n + i] ^= 1;
        let m = message(parse(&b));
        assert!(m.contains("fails its checksum"), "byte {i}: {m}");
    }
}

/// An edit of the manifest JSON.
type Edit = dyn Fn(&mut Value);

#[test]
fn manifest_problems_are_named() {
    let bytes = good_bytes();
    let no_manifest = edit_header(&bytes, |h| {
        h["__metadata__"]
            .as_object_mut()
            .unwrap()
            .remove(MANIFEST_KEY);
    });
    assert!(message(parse(&no_manifest)).contains("not a glassbox checkpoint"));
    let tampered = edit_header(&bytes, |h| {
        let text = h["__metadata__"][MANIFEST_KEY].as_str().unwrap();
        let edited = text.replacen("\"epochs_done\":1", "\"epochs_done\":2", 1);
        assert_ne!(edited, text);
        h["__metadata__"][MANIFEST_KEY] = json!(edited);
    });
    assert!(message(parse(&tampered)).contains("\"glassbox.manifest\" fails its checksum"));
    let cases: Vec<(Box<Edit>, &str)> = vec![
        (
            Box::new(|m| m["format"] = json!("other-format")),
            "format \"other-format\", expected \"glassbox-checkpoint\"",
        ),
        (
            Box::new(|m| m["format_version"] = json!(2)),
            "format version 2, this glassbox reads version 1",
        ),
        (
            Box::new(|m| {
                m.as_object_mut().unwrap().remove("history");
            }),
            "bad manifest: missing field `history`",
        ),
        (
            Box::new(|m| m["num_params"] = json!(37)),
            "the manifest says 37 parameters but the architecture has 31",
        ),
        (
            Box::new(|m| m["architecture"]["layers"][0]["activation"] = json!("relu6")),
            "bad architecture: layer 0:",
        ),
        (
            Box::new(|m| m["architecture"]["layers"][0]["activation"] = json!("leaky_relu(")),
            "bad architecture: layer 0:",
        ),
        (
            Box::new(|m| m["architecture"]["layers"][0]["activation"] = json!("leaky_relu(-1)")),
            "bad architecture: layer 0:",
        ),
        (
            Box::new(|m| m["architecture"]["layers"][0]["units"] = json!(0)),
            "bad architecture: layer 0 has 0 units",
        ),
        (
            Box::new(|m| {
                m["architecture"]["inputs"] = json!(u64::MAX / 2);
                m["architecture"]["layers"][0]["units"] = json!(u64::MAX / 2);
            }),
            "bad architecture: the parameter count overflows",
        ),
        (
            Box::new(|m| {
                // Consistent, but far more parameters than the file holds: refused before
                // anything of that size is allocated.
                m["architecture"]["inputs"] = json!(1u64 << 40);
                m["num_params"] = json!(5 * ((1u64 << 40) + 1) + 6);
            }),
            "the file holds 31 parameter values in layers.* tensors, the architecture needs",
        ),
        (
            Box::new(|m| m["architecture"]["layers"][1]["dropout"] = json!(0.5)),
            "bad architecture: layer 1 is the output layer",
        ),
        (
            Box::new(|m| m["rng"]["seed_hex"] = json!("abc")),
            "bad RNG state: seed_hex has 3 characters, expected 64",
        ),
        (
            Box::new(|m| m["rng"]["word_pos"] = json!("12x")),
            "bad RNG state: word_pos \"12x\" is not a decimal number",
        ),
        (
            Box::new(|m| m["epochs_done"] = json!(3)),
            "the history has 1 epochs but epochs_done is 3",
        ),
        (
            Box::new(|m| m["config"]["batch_size"] = json!(0)),
            "bad training configuration: training configuration: batch_size must be at least 1",
        ),
        (
            Box::new(|m| m["has_best_params"] = json!(true)),
            "tensor \"best.layers.0.weight\" is missing",
        ),
        (
            Box::new(|m| {
                m["config"]["optimizer"] = json!({"algorithm": "sgd", "lr": 0.1,
                    "momentum": "None", "weight_decay": "None"})
            }),
            "optimizer buffers [\"m\", \"v\"], but",
        ),
        (
            Box::new(|m| {
                let t = &mut m["tensors"]["layers.1.bias"]["fnv1a64"];
                *t = json!("0000000000000000");
            }),
            "\"layers.1.bias\" fails its checksum (stored 0000000000000000",
        ),
    ];
    for (edit, expect) in cases {
        let m = message(parse(&edit_manifest(&bytes, edit)));
        assert!(m.contains(expect), "expected {expect:?} in {m:?}");
    }
}

#[test]
fn tensor_problems_are_named() {
    let bytes = good_bytes();
    // Shape (5, 4) stored as (4, 5): same size, so only glassbox's check can see it.
    let swapped = edit_header(&bytes, |h| h["layers.0.weight"]["shape"] = json!([4, 5]));
    assert!(
        message(parse(&swapped))
            .contains("tensor \"layers.0.weight\" has shape [4, 5], expected [5, 4]")
    );
    // The manifest describes 3 → 6 → 1: also 31 parameters, so only the shapes differ.
    let reshaped = edit_manifest(&bytes, |m| {
        m["architecture"]["inputs"] = json!(3);
        m["architecture"]["layers"][0]["units"] = json!(6);
    });
    assert!(
        message(parse(&reshaped))
            .contains("tensor \"layers.0.weight\" has shape [5, 4], expected [6, 3]")
    );
    let renamed = edit_header(&bytes, |h| {
        let o = h.as_object_mut().unwrap();
        let t = o.remove("layers.0.bias").unwrap();
        o.insert("layers.0.biaz".into(), t);
    });
    assert!(message(parse(&renamed)).contains("unexpected tensor \"layers.0.biaz\""));
    // An f32 file read as f64, and a manifest that claims f64 over F32 tensors.
    let e = Checkpoint::<f64>::from_bytes(&bytes, Path::new(LABEL)).unwrap_err();
    assert!(
        e.to_string()
            .contains("the manifest has dtype f32, expected f64"),
        "{e}"
    );
    let claims_f64 = edit_manifest(&bytes, |m| m["dtype"] = json!("f64"));
    let e = Checkpoint::<f64>::from_bytes(&claims_f64, Path::new(LABEL)).unwrap_err();
    assert!(e.to_string().contains("has dtype F32, expected F64"), "{e}");
    // A dtype the parser knows but with the wrong width for the stored bytes.
    let f16 = edit_header(&bytes, |h| h["layers.0.bias"]["dtype"] = json!("F16"));
    assert!(message(parse(&f16)).contains("not a valid safetensors file"));
}

#[test]
fn saving_is_atomic() {
    let scratch = Scratch::new("ckpt_atomic");
    let t = trained();
    // No folder: an I/O error naming the path, nothing created.
    let nowhere = scratch.path("missing/model.safetensors");
    let e = t.save(&nowhere).unwrap_err();
    assert!(matches!(e, CheckpointError::Io { .. }));
    assert!(e.to_string().contains("missing/model.safetensors"), "{e}");
    // Overwriting a file replaces it whole and leaves no temporary file.
    let target = scratch.file("model.safetensors", b"old contents");
    t.save(&target).unwrap();
    assert!(load_checkpoint::<f32>(&target).is_ok());
    // A target that cannot be replaced (a folder) keeps what it was; no temporary remains.
    let folder = scratch.path("taken");
    std::fs::create_dir(&folder).unwrap();
    assert!(matches!(t.save(&folder), Err(CheckpointError::Io { .. })));
    assert!(folder.is_dir());
    let mut names: Vec<String> = std::fs::read_dir(scratch.path(""))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["model.safetensors", "taken"]);
}
