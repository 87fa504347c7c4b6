//! The safetensors container, written in a fixed order, and the float encoding of its
//! tensors.
//!
//! The layout is the format's: an 8-byte little-endian header length N, N bytes of JSON
//! padded with spaces to a multiple of 8, then the tensor data. The header is written in a
//! fixed order — `__metadata__` first with its keys sorted, then the tensors sorted by name,
//! their data in the same order — so equal contents are equal bytes (the `safetensors`
//! crate's writer keeps the metadata in a `HashMap`, whose order changes from process to
//! process; otherwise its output is the same, which a test checks). Reading goes through the
//! `safetensors` crate, which validates the header.

use std::collections::BTreeMap;

use glassbox_core::Float;
use safetensors::tensor::Dtype;

/// One tensor to store.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredTensor {
    /// Its element type ([`dtype_of`] for glassbox's floats).
    pub dtype: Dtype,
    /// Its shape (C order).
    pub shape: Vec<usize>,
    /// Its values, little-endian, C order ([`encode`]).
    pub bytes: Vec<u8>,
}

/// The safetensors file of `metadata` and `tensors` (see the module doc for the order).
///
/// # Panics
/// If a tensor's byte count is not its shape's element count times its dtype's size.
pub fn safetensors_bytes(
    metadata: &BTreeMap<&str, String>,
    tensors: &BTreeMap<String, StoredTensor>,
) -> Vec<u8> {
    let quote = |s: &str| serde_json::Value::String(s.to_string()).to_string();
    let mut header = String::from("{\"__metadata__\":{");
    for (i, (k, v)) in metadata.iter().enumerate() {
        if i > 0 {
            header.push(',');
        }
        header.push_str(&quote(k));
        header.push(':');
        header.push_str(&quote(v));
    }
    header.push('}');
    let mut offset = 0usize;
    for (name, t) in tensors {
        let elements: usize = t.shape.iter().product();
        assert_eq!(
            t.bytes.len(),
            elements * t.dtype.bitsize() / 8,
            "tensor {name:?}: {} bytes for a {:?} {:?} tensor",
            t.bytes.len(),
            t.dtype,
            t.shape
        );
        let shape: Vec<String> = t.shape.iter().map(|d| d.to_string()).collect();
        header.push_str(&format!(
            ",{}:{{\"dtype\":\"{}\",\"shape\":[{}],\"data_offsets\":[{},{}]}}",
            quote(name),
            t.dtype,
            shape.join(","),
            offset,
            offset + t.bytes.len()
        ));
        offset += t.bytes.len();
    }
    header.push('}');
    while header.len() % 8 != 0 {
        header.push(' ');
    }
    let mut out = Vec::with_capacity(8 + header.len() + offset);
    out.extend_from_slice(&(header.len() as u64).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for t in tensors.values() {
        out.extend_from_slice(&t.bytes);
    }
    out
}

/// The safetensors dtype of `T`: `F64` for f64, `F32` for f32.
pub fn dtype_of<T: Float>() -> Dtype {
    if T::NAME == "f64" {
        Dtype::F64
    } else {
        Dtype::F32
    }
}

/// Little-endian bytes of `xs` in `T`'s own width.
pub fn encode<T: Float>(xs: &[T]) -> Vec<u8> {
    let mut out = Vec::with_capacity(std::mem::size_of_val(xs));
    for &x in xs {
        let v = Float::to_f64(x);
        if T::NAME == "f64" {
            out.extend_from_slice(&v.to_le_bytes());
        } else {
            out.extend_from_slice(&(v as f32).to_le_bytes()); // exact: v came from an f32
        }
    }
    out
}

/// Writes the values of little-endian `bytes` in `T`'s width into `out`, in order.
///
/// # Panics
/// If `bytes` does not hold exactly `out.len()` values.
pub fn decode_into<T: Float>(bytes: &[u8], out: &mut [T]) {
    let width = std::mem::size_of::<T>();
    assert_eq!(
        bytes.len(),
        std::mem::size_of_val(out),
        "decode: {} bytes for {} values of {width} bytes",
        bytes.len(),
        out.len()
    );
    for (o, c) in out.iter_mut().zip(bytes.chunks_exact(width)) {
        *o = if T::NAME == "f64" {
            let mut a = [0u8; 8];
            a.copy_from_slice(c);
            T::from_f64(f64::from_le_bytes(a))
        } else {
            let mut a = [0u8; 4];
            a.copy_from_slice(c);
            T::from_f64(f64::from(f32::from_le_bytes(a)))
        };
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use safetensors::SafeTensors;
    use safetensors::tensor::TensorView;

    use super::*;

    fn tensors() -> BTreeMap<String, StoredTensor> {
        let weight: Vec<f32> = vec![0.5, -1.25, 3.0, f32::MIN_POSITIVE, -0.0, 7.0];
        let bias: Vec<f64> = vec![0.1, -2.0];
        BTreeMap::from([
            (
                "layers.0.weight".to_string(),
                StoredTensor {
                    dtype: Dtype::F32,
                    shape: vec![2, 3],
                    bytes: encode(&weight),
                },
            ),
            (
                "layers.0.bias".to_string(),
                StoredTensor {
                    dtype: Dtype::F64,
                    shape: vec![2],
                    bytes: encode(&bias),
                },
            ),
        ])
    }

    #[test]
    fn one_metadata_entry_gives_the_safetensors_crates_bytes() {
        // With one metadata key the crate's HashMap has one order, so the files must agree
        // byte for byte (tensors of one dtype: the crate sorts them by name, as we do).
        let f32_only: BTreeMap<String, StoredTensor> = tensors()
            .into_iter()
            .filter(|(_, t)| t.dtype == Dtype::F32)
            .chain([(
                "a \"quoted\" name".to_string(),
                StoredTensor {
                    dtype: Dtype::F32,
                    shape: vec![1],
                    bytes: encode(&[1.5f32]),
                },
            )])
            .collect();
        let ours = safetensors_bytes(&BTreeMap::from([("format", "pt".to_string())]), &f32_only);
        let views: Vec<(String, TensorView<'_>)> = f32_only
            .iter()
            .map(|(n, t)| {
                let view = TensorView::new(t.dtype, t.shape.clone(), &t.bytes).expect("view");
                (n.clone(), view)
            })
            .collect();
        let meta = HashMap::from([("format".to_string(), "pt".to_string())]);
        let theirs = safetensors::serialize(views, Some(meta)).expect("serialises");
        assert_eq!(ours, theirs);
    }

    #[test]
    fn the_container_reads_back_and_is_deterministic() {
        let meta = BTreeMap::from([
            ("zeta", "last".to_string()),
            ("alpha", "{\"json\": [1, 2]}".to_string()),
            ("format", "pt".to_string()),
        ]);
        let bytes = safetensors_bytes(&meta, &tensors());
        assert_eq!(bytes, safetensors_bytes(&meta, &tensors()));
        let header_len = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) as usize;
        assert_eq!(header_len % 8, 0);
        assert!(bytes[8..].starts_with(b"{\"__metadata__\":{\"alpha\":"));
        let (_, read) = SafeTensors::read_metadata(&bytes).expect("a valid header");
        let read_meta = read.metadata().as_ref().expect("metadata");
        for (k, v) in &meta {
            assert_eq!(read_meta.get(*k), Some(v));
        }
        let st = SafeTensors::deserialize(&bytes).expect("a valid file");
        for (name, t) in tensors() {
            let view = st.tensor(&name).expect("stored");
            assert_eq!((view.dtype(), view.shape()), (t.dtype, t.shape.as_slice()));
            assert_eq!(view.data(), t.bytes.as_slice());
        }
    }

    #[test]
    fn encode_and_decode_round_trip_exactly() {
        let xs32 = [0.1f32, -3.5e-39, f32::MAX, -0.0];
        let mut back32 = [0.0f32; 4];
        decode_into(&encode(&xs32), &mut back32);
        assert_eq!(xs32.map(f32::to_bits), back32.map(f32::to_bits));
        assert_eq!(encode(&xs32)[..4], 0.1f32.to_le_bytes());
        let xs64 = [0.1f64, -1e-310, f64::MIN];
        let mut back64 = [0.0f64; 3];
        decode_into(&encode(&xs64), &mut back64);
        assert_eq!(xs64.map(f64::to_bits), back64.map(f64::to_bits));
        assert_eq!(
            (dtype_of::<f32>(), dtype_of::<f64>()),
            (Dtype::F32, Dtype::F64)
        );
    }
}
