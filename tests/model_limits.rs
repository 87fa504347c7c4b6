//! Model files whose header claims more than the file holds (notes/reliability.md,
//! "Inputs"): each is refused with a message naming the file, before any allocation of the
//! claimed size. Crafted from the fuzz seeds: the bundle of tests/fuzz/seeds/ and the
//! checkpoint fixture, with their checksums recomputed so the claim reaches the checks
//! behind them.

use std::collections::HashMap;
use std::path::Path;

use glassbox_app::bundle::Bundle;
use glassbox_train::checkpoint::Checkpoint;
use glassbox_train::store::fnv1a64_hex;
use glassbox_train::{MANIFEST_CHECKSUM_KEY, MANIFEST_KEY};
use safetensors::SafeTensors;

fn bundle_seed() -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz/seeds/small.bundle.safetensors"),
    )
    .unwrap()
}

fn checkpoint_seed() -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("crates/train/tests/reference/glassbox_small_checkpoint.safetensors"),
    )
    .unwrap()
}

/// `bytes` with `edit` applied to the metadata entry `key` (the tensors unchanged).
fn edit_metadata(bytes: &[u8], key: &str, edit: impl Fn(&str) -> String) -> Vec<u8> {
    let st = SafeTensors::deserialize(bytes).unwrap();
    let (_, header) = SafeTensors::read_metadata(bytes).unwrap();
    let mut meta: HashMap<String, String> = header.metadata().clone().unwrap();
    let old = meta[key].clone();
    let new = edit(&old);
    assert_ne!(old, new, "the edit must change {key}");
    meta.insert(key.to_string(), new);
    safetensors::serialize(st.tensors(), Some(meta)).unwrap()
}

/// The header length (the first 8 bytes) set to `n`.
fn with_header_length(bytes: &[u8], n: u64) -> Vec<u8> {
    let mut out = bytes.to_vec();
    out[..8].copy_from_slice(&n.to_le_bytes());
    out
}

#[test]
fn the_seeds_load() {
    let bundle = Bundle::from_bytes(&bundle_seed(), "m.safetensors").unwrap();
    // Written by glassbox before the limits: the same bytes come back.
    assert_eq!(bundle.to_bytes().unwrap(), bundle_seed());
    assert!(Checkpoint::<f32>::from_bytes(&checkpoint_seed(), Path::new("c.safetensors")).is_ok());
}

#[test]
fn a_header_length_beyond_the_file_is_refused() {
    for bytes in [bundle_seed(), checkpoint_seed()] {
        let size = bytes.len() as u64;
        for n in [size, size - 7, u64::MAX, 1 << 40, 100_000_001] {
            let crafted = with_header_length(&bytes, n);
            let e = Bundle::from_bytes(&crafted, "m.safetensors").unwrap_err();
            assert!(e.to_string().contains("m.safetensors"), "{e}");
            let e =
                Checkpoint::<f32>::from_bytes(&crafted, Path::new("c.safetensors")).unwrap_err();
            assert!(e.to_string().contains("c.safetensors"), "{e}");
        }
    }
}

#[test]
fn a_tensor_claiming_data_beyond_the_file_is_refused() {
    // The last tensor's shape grown tenfold: its data_offsets then pass the end of the file
    // (safetensors checks that offsets tile the data and agree with the shapes).
    let bytes = bundle_seed();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header = std::str::from_utf8(&bytes[8..8 + n]).unwrap();
    let grown = header.replacen("\"shape\":[3,8]", "\"shape\":[3000,8]", 1);
    assert_ne!(grown, header);
    let mut crafted = (grown.len() as u64).to_le_bytes().to_vec();
    crafted.extend_from_slice(grown.as_bytes());
    crafted.extend_from_slice(&bytes[8 + n..]);
    let e = Bundle::from_bytes(&crafted, "m.safetensors").unwrap_err();
    assert!(e.to_string().contains("not a glassbox model bundle"), "{e}");
}

#[test]
fn a_bundle_recipe_claiming_huge_layers_is_refused_before_allocating() {
    let bytes = bundle_seed();
    for hidden in [
        "[4294967296]",
        "[100000000,100000000]",
        "[18446744073709551615,2]",
    ] {
        let crafted = edit_metadata(&bytes, "glassbox.bundle", |info| {
            info.replacen("\"hidden\":[3]", &format!("\"hidden\":{hidden}"), 1)
        });
        let crafted = Bundle::reseal(&crafted).unwrap();
        let e = Bundle::from_bytes(&crafted, "m.safetensors").unwrap_err();
        let text = e.to_string();
        assert!(text.contains("m.safetensors"), "{text}");
        assert!(
            text.contains("parameter values") || text.contains("tensors, expected"),
            "{hidden}: {text}"
        );
    }
}

#[test]
fn a_checkpoint_architecture_claiming_huge_layers_is_refused_before_allocating() {
    let bytes = checkpoint_seed();
    for (units, params) in [("4000000000", "4000000000"), ("18446744073709551615", "43")] {
        let crafted = edit_metadata(&bytes, MANIFEST_KEY, |m| {
            m.replacen("{\"units\":4,", &format!("{{\"units\":{units},"), 1)
                .replacen("\"num_params\":43", &format!("\"num_params\":{params}"), 1)
        });
        let crafted = edit_metadata(&crafted, MANIFEST_CHECKSUM_KEY, |_| {
            let (_, h) = SafeTensors::read_metadata(&crafted).unwrap();
            fnv1a64_hex(h.metadata().as_ref().unwrap()[MANIFEST_KEY].as_bytes())
        });
        let e = Checkpoint::<f32>::from_bytes(&crafted, Path::new("c.safetensors")).unwrap_err();
        assert!(e.to_string().contains("c.safetensors"), "{e}");
    }
}

#[test]
fn an_endless_model_stream_is_refused_at_the_size_limit() {
    use glassbox_train::checkpoint::{MAX_MODEL_FILE_BYTES, read_model_file};
    assert_eq!(MAX_MODEL_FILE_BYTES, 2 << 30);
    // /dev/zero never ends; with a small limit the read stops after limit + 1 bytes.
    let e = read_model_file(Path::new("/dev/zero"), 1 << 20).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::FileTooLarge);
    assert!(e.to_string().contains("larger than 1048576 bytes"), "{e}");
    // A file at the limit reads.
    let seed =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz/seeds/small.bundle.safetensors");
    let size = std::fs::metadata(&seed).unwrap().len();
    assert_eq!(read_model_file(&seed, size).unwrap().len() as u64, size);
    assert!(read_model_file(&seed, size - 1).is_err());
}
