//! FNV-1a, 64 bits (T10): a small, dependency-free checksum that detects accidental
//! corruption (a truncated file, a flipped bit), not tampering — it is not a cryptographic
//! hash. Checkpoints checksum their manifest and every tensor with [`fnv1a64_hex`]; model
//! bundles checksum their whole content with [`content_checksum`].

use std::collections::BTreeMap;

use safetensors::tensor::Dtype;

/// (T10) The FNV-1a 64 offset basis, the state before the first byte.
pub const FNV1A64_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// (T10) FNV-1a 64 continued from `state` over `bytes`: `h ← (h ⊕ byte)·0x100000001b3`
/// modulo 2⁶⁴, byte by byte.
pub fn fnv1a64(state: u64, bytes: &[u8]) -> u64 {
    let mut h = state;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// (T10) FNV-1a 64 of `bytes` from the offset basis, as 16 lowercase hex digits.
pub fn fnv1a64_hex(bytes: &[u8]) -> String {
    format!("{:016x}", fnv1a64(FNV1A64_OFFSET, bytes))
}

/// (T10) FNV-1a 64 of a container's whole content, as 16 lowercase hex digits: the
/// metadata entries in key order (key, a 0 byte, value, a 0 byte), then the tensors in name
/// order (name, `{dtype:?}{shape:?}` as text, data bytes). The order of `tensors` does not
/// matter.
pub fn content_checksum<'a>(
    metadata: &BTreeMap<&str, &str>,
    tensors: impl IntoIterator<Item = (&'a str, Dtype, &'a [usize], &'a [u8])>,
) -> String {
    let mut h = FNV1A64_OFFSET;
    for (k, v) in metadata {
        h = fnv1a64(h, k.as_bytes());
        h = fnv1a64(h, &[0]);
        h = fnv1a64(h, v.as_bytes());
        h = fnv1a64(h, &[0]);
    }
    let mut tensors: Vec<_> = tensors.into_iter().collect();
    tensors.sort_by(|a, b| a.0.cmp(b.0));
    for (name, dtype, shape, bytes) in tensors {
        h = fnv1a64(h, name.as_bytes());
        h = fnv1a64(h, format!("{dtype:?}{shape:?}").as_bytes());
        h = fnv1a64(h, bytes);
    }
    format!("{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a64_matches_the_published_test_vectors() {
        // From the FNV reference (Fowler, Noll, Vo): "" and "a".
        assert_eq!(fnv1a64_hex(b""), "cbf29ce484222325");
        assert_eq!(fnv1a64_hex(b"a"), "af63dc4c8601ec8c");
        assert_eq!(fnv1a64_hex(b"foobar"), "85944171f73967e8");
    }

    #[test]
    fn continuing_equals_hashing_the_concatenation() {
        let whole = fnv1a64(FNV1A64_OFFSET, b"glassbox");
        assert_eq!(fnv1a64(fnv1a64(FNV1A64_OFFSET, b"glass"), b"box"), whole);
    }

    #[test]
    fn content_checksum_ignores_tensor_order_but_not_content() {
        let meta = BTreeMap::from([("format", "x")]);
        let (a, b) = ([1u8, 2, 3, 4], [5u8, 6, 7, 8]);
        let one = content_checksum(
            &meta,
            [
                ("a", Dtype::F32, &[1][..], &a[..]),
                ("b", Dtype::F32, &[1][..], &b[..]),
            ],
        );
        let other_order = content_checksum(
            &meta,
            [
                ("b", Dtype::F32, &[1][..], &b[..]),
                ("a", Dtype::F32, &[1][..], &a[..]),
            ],
        );
        assert_eq!(one, other_order);
        let flipped = [1u8, 2, 3, 5];
        let changed = content_checksum(
            &meta,
            [
                ("a", Dtype::F32, &[1][..], &flipped[..]),
                ("b", Dtype::F32, &[1][..], &b[..]),
            ],
        );
        assert_ne!(one, changed);
    }
}
