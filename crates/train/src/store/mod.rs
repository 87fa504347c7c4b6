//! What checkpoints and model bundles share on disk: the safetensors container, written in
//! a fixed order so that equal contents are equal bytes ([`container`]), the FNV-1a
//! checksums (T10, [`checksum`]) and the little-endian float encoding — and the one output
//! writer every file goes through ([`output`]: atomic replacement, links followed, streams
//! for FIFOs and devices, other special files refused).

pub mod checksum;
pub mod container;
pub mod output;

pub use checksum::{FNV1A64_OFFSET, content_checksum, fnv1a64, fnv1a64_hex};
pub use container::{StoredTensor, decode_into, dtype_of, encode, safetensors_bytes};
