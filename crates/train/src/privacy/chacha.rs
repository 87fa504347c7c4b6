//! The ChaCha block function as a counter-based generator (notes/privacy.md §12, P27): word
//! `w` of the key stream of `(key, stream)` is a pure function of the key, the stream number
//! and `w`, so any range of it can be computed on its own — by any thread, in any order —
//! and the DP noise drawn from it is the same at every thread count.
//!
//! It is the cipher of the trainer's own generator (`rand_chacha`'s `ChaCha8Rng`, D. J.
//! Bernstein 2008, 8 rounds), written out so that LLVM can vectorise it across blocks: 16, 8
//! or 4 blocks at a time in the lanes of AVX-512, AVX2 or SSE2 registers, chosen at run time.
//! Only 32-bit additions, xors and rotations: every build gives the same bits. The words come
//! in **groups** of 16 blocks, interleaved so that each lane's words are stored side by side
//! (no transposition): word `16k + l` of group g is 64-bit word k of block `16g + l`. Tested
//! against `ChaCha8Rng` block for block and, at 20 rounds, against the test vector of
//! RFC 8439 §2.3.2.
//!
//! ```
//! use glassbox_train::privacy::chacha::{ChaChaKey, GROUP_WORDS, keystream};
//!
//! let key = ChaChaKey::from_bytes(&[7; 32]);
//! let mut all = vec![0u64; 4 * GROUP_WORDS];
//! keystream(&key, 0, 0, &mut all); // groups 0..4 of stream 0
//! let mut last = vec![0u64; GROUP_WORDS];
//! keystream(&key, 0, 3, &mut last); // group 3 alone
//! assert_eq!(all[3 * GROUP_WORDS..], last);
//! ```

/// 64-bit words per ChaCha block (64 bytes).
pub const BLOCK_WORDS: usize = 8;

/// Blocks per group: the widest lane count.
pub const GROUP_BLOCKS: usize = 16;

/// 64-bit words per group of 16 blocks.
pub const GROUP_WORDS: usize = GROUP_BLOCKS * BLOCK_WORDS;

/// "expand 32-byte k", the first row of the state.
const SIGMA: [u32; 4] = [0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574];

/// ChaCha8: four double rounds.
const CHACHA8_DOUBLE_ROUNDS: usize = 4;

/// A 256-bit ChaCha key, as eight little-endian 32-bit words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChaChaKey([u32; 8]);

impl ChaChaKey {
    /// The key whose bytes are `bytes` (read as `ChaCha8Rng::from_seed` reads its seed).
    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        Self(std::array::from_fn(|i| {
            u32::from_le_bytes([
                bytes[4 * i],
                bytes[4 * i + 1],
                bytes[4 * i + 2],
                bytes[4 * i + 3],
            ])
        }))
    }
}

/// (P27) The ChaCha8 key stream of `(key, stream)` from group `first_group` on, grouped:
/// `out[128g + 16k + l]` is 64-bit word k (bytes `8k … 8k + 7`, little-endian) of block
/// `16·(first_group + g) + l`, the block counter in state words 12–13 and `stream` in words
/// 14–15 (Bernstein's layout, `ChaCha8Rng`'s `set_stream`).
///
/// # Panics
/// If `out.len()` is not a multiple of [`GROUP_WORDS`].
pub fn keystream(key: &ChaChaKey, stream: u64, first_group: u64, out: &mut [u64]) {
    keystream_rounds::<CHACHA8_DOUBLE_ROUNDS>(key, stream, first_group, out);
}

/// [`keystream`] with `DOUBLE_ROUNDS` double rounds (10 for ChaCha20), on the widest
/// build the CPU runs.
pub(crate) fn keystream_rounds<const DOUBLE_ROUNDS: usize>(
    key: &ChaChaKey,
    stream: u64,
    first_group: u64,
    out: &mut [u64],
) {
    assert!(
        out.len().is_multiple_of(GROUP_WORDS),
        "whole groups only: {} words",
        out.len()
    );
    #[cfg(target_arch = "x86_64")]
    {
        if glassbox_core::gemm::kernel::avx512_paths() {
            // SAFETY: the CPU has AVX-512F/VL, AVX2 and FMA (avx512_paths checks it).
            unsafe { keystream_avx512::<DOUBLE_ROUNDS>(key, stream, first_group, out) };
            return;
        }
        if glassbox_core::gemm::kernel::avx2_paths() {
            // SAFETY: the CPU has AVX2 and FMA (avx2_paths checks it).
            unsafe { keystream_avx2::<DOUBLE_ROUNDS>(key, stream, first_group, out) };
            return;
        }
    }
    keystream_lanes::<4, DOUBLE_ROUNDS>(key, stream, first_group, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
fn keystream_avx512<const DR: usize>(key: &ChaChaKey, stream: u64, first: u64, out: &mut [u64]) {
    keystream_lanes::<16, DR>(key, stream, first, out);
}

/// Eight blocks at a time in AVX2 registers, written with intrinsics ([`blocks_avx2`]): the
/// portable eight-lane loop of [`keystream_lanes`] was compiled to scalar code with every
/// state word spilled (Zen 3 profile, notes/privacy_cost.md, fifteenth session).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn keystream_avx2<const DR: usize>(key: &ChaChaKey, stream: u64, first: u64, out: &mut [u64]) {
    const L: usize = 8;
    for (g, group) in out.chunks_exact_mut(GROUP_WORDS).enumerate() {
        let first_block = (first + g as u64).wrapping_mul(GROUP_BLOCKS as u64);
        for lane0 in (0..GROUP_BLOCKS).step_by(L) {
            let counter = first_block.wrapping_add(lane0 as u64);
            // SAFETY: the caller's CPU has AVX2 (this function's own requirement).
            unsafe { blocks_avx2::<DR>(key, stream, counter, group, lane0) };
        }
    }
}

/// [`blocks`] with `L = 8` in AVX2 registers: the same 32-bit additions, xors and rotations
/// lane by lane (rotations by 16 and 8 as byte shuffles, by 12 and 7 as two shifts and an
/// or — the same bits), word k of lane l to `group[16k + lane0 + l]`.
///
/// # Safety
/// The CPU must have AVX2.
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn blocks_avx2<const DR: usize>(
    key: &ChaChaKey,
    stream: u64,
    counter: u64,
    group: &mut [u64],
    lane0: usize,
) {
    use std::arch::x86_64::{
        __m256i, _mm256_add_epi32, _mm256_loadu_si256, _mm256_or_si256, _mm256_permute2x128_si256,
        _mm256_setr_epi8, _mm256_setzero_si256, _mm256_shuffle_epi8, _mm256_slli_epi32,
        _mm256_srli_epi32, _mm256_storeu_si256, _mm256_unpackhi_epi32, _mm256_unpacklo_epi32,
        _mm256_xor_si256,
    };
    let rows = input_rows::<8>(key, stream, counter);
    let mut input = [_mm256_setzero_si256(); 16];
    for (v, row) in input.iter_mut().zip(&rows) {
        // SAFETY: `row` is eight u32s (32 bytes); the load is unaligned.
        *v = unsafe { _mm256_loadu_si256(row.as_ptr().cast::<__m256i>()) };
    }
    let rot16 = _mm256_setr_epi8(
        2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13, 2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9,
        14, 15, 12, 13,
    );
    let rot8 = _mm256_setr_epi8(
        3, 0, 1, 2, 7, 4, 5, 6, 11, 8, 9, 10, 15, 12, 13, 14, 3, 0, 1, 2, 7, 4, 5, 6, 11, 8, 9, 10,
        15, 12, 13, 14,
    );
    let quarter = |x: &mut [__m256i; 16], a: usize, b: usize, c: usize, d: usize| {
        x[a] = _mm256_add_epi32(x[a], x[b]);
        x[d] = _mm256_shuffle_epi8(_mm256_xor_si256(x[d], x[a]), rot16);
        x[c] = _mm256_add_epi32(x[c], x[d]);
        let t = _mm256_xor_si256(x[b], x[c]);
        x[b] = _mm256_or_si256(_mm256_slli_epi32::<12>(t), _mm256_srli_epi32::<20>(t));
        x[a] = _mm256_add_epi32(x[a], x[b]);
        x[d] = _mm256_shuffle_epi8(_mm256_xor_si256(x[d], x[a]), rot8);
        x[c] = _mm256_add_epi32(x[c], x[d]);
        let t = _mm256_xor_si256(x[b], x[c]);
        x[b] = _mm256_or_si256(_mm256_slli_epi32::<7>(t), _mm256_srli_epi32::<25>(t));
    };
    let mut x = input;
    for _ in 0..DR {
        quarter(&mut x, 0, 4, 8, 12);
        quarter(&mut x, 1, 5, 9, 13);
        quarter(&mut x, 2, 6, 10, 14);
        quarter(&mut x, 3, 7, 11, 15);
        quarter(&mut x, 0, 5, 10, 15);
        quarter(&mut x, 1, 6, 11, 12);
        quarter(&mut x, 2, 7, 8, 13);
        quarter(&mut x, 3, 4, 9, 14);
    }
    let out = &mut group[lane0..];
    for k in 0..BLOCK_WORDS {
        let lo = _mm256_add_epi32(x[2 * k], input[2 * k]);
        let hi = _mm256_add_epi32(x[2 * k + 1], input[2 * k + 1]);
        // 64-bit lanes (lo | hi << 32) of blocks 0, 1, 4, 5 and of blocks 2, 3, 6, 7.
        let (a, b) = (_mm256_unpacklo_epi32(lo, hi), _mm256_unpackhi_epi32(lo, hi));
        let first = _mm256_permute2x128_si256::<0x20>(a, b); // blocks 0–3
        let last = _mm256_permute2x128_si256::<0x31>(a, b); // blocks 4–7
        let words = &mut out[GROUP_BLOCKS * k..GROUP_BLOCKS * k + 8];
        // SAFETY: `words` is eight u64s (64 bytes); the stores are unaligned.
        unsafe {
            _mm256_storeu_si256(words.as_mut_ptr().cast::<__m256i>(), first);
            _mm256_storeu_si256(words[4..].as_mut_ptr().cast::<__m256i>(), last);
        }
    }
}

/// Each group as `16/L` runs of `L` blocks. Every block is a function of its counter alone,
/// and its words land in the same places whatever `L`: `L` changes the speed, never the words.
#[inline(always)]
pub(crate) fn keystream_lanes<const L: usize, const DR: usize>(
    key: &ChaChaKey,
    stream: u64,
    first_group: u64,
    out: &mut [u64],
) {
    for (g, group) in out.chunks_exact_mut(GROUP_WORDS).enumerate() {
        let first_block = (first_group + g as u64).wrapping_mul(GROUP_BLOCKS as u64);
        for lane0 in (0..GROUP_BLOCKS).step_by(L) {
            blocks::<L, DR>(
                key,
                stream,
                first_block.wrapping_add(lane0 as u64),
                group,
                lane0,
            );
        }
    }
}

/// The input state of `L` consecutive blocks from `counter`, row by row: word k of lane l is
/// word k of block `counter + l` — the constants, the key, the 64-bit block counter (low
/// word, high word) and the 64-bit stream. The one place both block functions take it from.
#[inline(always)]
fn input_rows<const L: usize>(key: &ChaChaKey, stream: u64, counter: u64) -> [[u32; L]; 16] {
    let counters: [u64; L] = std::array::from_fn(|l| counter.wrapping_add(l as u64));
    let splat = |word: u32| [word; L];
    [
        splat(SIGMA[0]),
        splat(SIGMA[1]),
        splat(SIGMA[2]),
        splat(SIGMA[3]),
        splat(key.0[0]),
        splat(key.0[1]),
        splat(key.0[2]),
        splat(key.0[3]),
        splat(key.0[4]),
        splat(key.0[5]),
        splat(key.0[6]),
        splat(key.0[7]),
        counters.map(|c| c as u32),
        counters.map(|c| (c >> 32) as u32),
        splat(stream as u32),
        splat((stream >> 32) as u32),
    ]
}

/// `L` consecutive blocks from `counter`, lane `l` holding block `counter + l`: the 16-word
/// state, `DR` double rounds (four column then four diagonal quarter rounds), the input added
/// back; word k of lane l goes to `group[16k + lane0 + l]`. Each state row is an array of
/// `L` lanes in its own variable, so that the rounds stay in vector registers.
#[inline(always)]
fn blocks<const L: usize, const DR: usize>(
    key: &ChaChaKey,
    stream: u64,
    counter: u64,
    group: &mut [u64],
    lane0: usize,
) {
    let input = input_rows::<L>(key, stream, counter);
    let [
        mut x0,
        mut x1,
        mut x2,
        mut x3,
        mut x4,
        mut x5,
        mut x6,
        mut x7,
        mut x8,
        mut x9,
        mut x10,
        mut x11,
        mut x12,
        mut x13,
        mut x14,
        mut x15,
    ] = input;
    for _ in 0..DR {
        quarter_round(&mut x0, &mut x4, &mut x8, &mut x12);
        quarter_round(&mut x1, &mut x5, &mut x9, &mut x13);
        quarter_round(&mut x2, &mut x6, &mut x10, &mut x14);
        quarter_round(&mut x3, &mut x7, &mut x11, &mut x15);
        quarter_round(&mut x0, &mut x5, &mut x10, &mut x15);
        quarter_round(&mut x1, &mut x6, &mut x11, &mut x12);
        quarter_round(&mut x2, &mut x7, &mut x8, &mut x13);
        quarter_round(&mut x3, &mut x4, &mut x9, &mut x14);
    }
    let rows = [
        (&x0, &x1),
        (&x2, &x3),
        (&x4, &x5),
        (&x6, &x7),
        (&x8, &x9),
        (&x10, &x11),
        (&x12, &x13),
        (&x14, &x15),
    ];
    // One call per output word k, spelt out: a loop over k would let LLVM vectorise across k
    // (gathers and scatters) instead of across the lanes.
    let [r0, r1, r2, r3, r4, r5, r6, r7] = rows;
    let out = &mut group[lane0..];
    store_word(r0, (&input[0], &input[1]), &mut out[0..]);
    store_word(r1, (&input[2], &input[3]), &mut out[GROUP_BLOCKS..]);
    store_word(r2, (&input[4], &input[5]), &mut out[2 * GROUP_BLOCKS..]);
    store_word(r3, (&input[6], &input[7]), &mut out[3 * GROUP_BLOCKS..]);
    store_word(r4, (&input[8], &input[9]), &mut out[4 * GROUP_BLOCKS..]);
    store_word(r5, (&input[10], &input[11]), &mut out[5 * GROUP_BLOCKS..]);
    store_word(r6, (&input[12], &input[13]), &mut out[6 * GROUP_BLOCKS..]);
    store_word(r7, (&input[14], &input[15]), &mut out[7 * GROUP_BLOCKS..]);
}

/// One 64-bit output word of `L` blocks: the state rows `(low, high)` plus the input rows,
/// lane l to `out[l]`.
#[inline(always)]
fn store_word<const L: usize>(
    (low, high): (&[u32; L], &[u32; L]),
    (low_in, high_in): (&[u32; L], &[u32; L]),
    out: &mut [u64],
) {
    for (l, word) in out[..L].iter_mut().enumerate() {
        let lo = low[l].wrapping_add(low_in[l]);
        let hi = high[l].wrapping_add(high_in[l]);
        *word = u64::from(lo) | (u64::from(hi) << 32);
    }
}

/// The ChaCha quarter round on four state rows, lane by lane.
#[inline(always)]
fn quarter_round<const L: usize>(
    a: &mut [u32; L],
    b: &mut [u32; L],
    c: &mut [u32; L],
    d: &mut [u32; L],
) {
    for l in 0..L {
        a[l] = a[l].wrapping_add(b[l]);
        d[l] = (d[l] ^ a[l]).rotate_left(16);
        c[l] = c[l].wrapping_add(d[l]);
        b[l] = (b[l] ^ c[l]).rotate_left(12);
        a[l] = a[l].wrapping_add(b[l]);
        d[l] = (d[l] ^ a[l]).rotate_left(8);
        c[l] = c[l].wrapping_add(d[l]);
        b[l] = (b[l] ^ c[l]).rotate_left(7);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngCore, SeedableRng};

    fn key(seed: u8) -> [u8; 32] {
        std::array::from_fn(|i| seed.wrapping_mul(31).wrapping_add(i as u8 * 7))
    }

    /// Block for block the stream of `rand_chacha`'s `ChaCha8Rng` (the trainer's generator)
    /// with the same seed and stream: word k of block `16g + l` at `out[128g + 16k + l]`, from
    /// group 0 and from later groups.
    #[test]
    fn equals_chacha8rng() {
        for (seed, stream, first) in [(1u8, 0u64, 0u64), (2, 5, 3), (3, u64::MAX, 1 << 40)] {
            let groups = 3;
            let mut got = vec![0u64; groups * GROUP_WORDS];
            keystream(&ChaChaKey::from_bytes(&key(seed)), stream, first, &mut got);
            let mut reference = rand_chacha::ChaCha8Rng::from_seed(key(seed));
            reference.set_stream(stream);
            reference.set_word_pos(u128::from(first) * (GROUP_BLOCKS as u128) * 16);
            for block in 0..groups * GROUP_BLOCKS {
                let (g, l) = (block / GROUP_BLOCKS, block % GROUP_BLOCKS);
                for k in 0..BLOCK_WORDS {
                    let at = g * GROUP_WORDS + GROUP_BLOCKS * k + l;
                    assert_eq!(got[at], reference.next_u64(), "block {block}, word {k}");
                }
            }
        }
    }

    /// At 20 rounds the block function is ChaCha20: RFC 8439 §2.3.2's test vector (key
    /// 00 01 … 1f, counter 1, nonce 00:00:00:09:00:00:00:4a:00:00:00:00 — in Bernstein's
    /// layout block counter `1 + 0x09000000·2³²` and stream `0x4a000000`), lane 0 of a run
    /// of one block.
    #[test]
    fn chacha20_matches_the_rfc_8439_test_vector() {
        let bytes: [u8; 32] = std::array::from_fn(|i| i as u8);
        let mut group = [0u64; GROUP_WORDS];
        blocks::<1, 10>(
            &ChaChaKey::from_bytes(&bytes),
            0x4a00_0000,
            1 + (0x0900_0000u64 << 32),
            &mut group,
            0,
        );
        let got: Vec<u8> = (0..BLOCK_WORDS)
            .flat_map(|k| group[GROUP_BLOCKS * k].to_le_bytes())
            .collect();
        let expected = "10f1e7e4d13b5915500fdd1fa32071c4c7d1f4c733c068030422aa9ac3d46c4e\
                        d2826446079faa0914c2d705d98b02a2b5129cd1de164eb9cbd083e8a2503c4e";
        let hex: String = got.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, expected);
    }

    /// 1, 4, 8 and 16 lanes and the dispatched build: the same words.
    #[test]
    fn every_lane_width_gives_the_same_words() {
        let k = ChaChaKey::from_bytes(&key(9));
        for groups in [1, 3] {
            let mut reference = vec![0u64; groups * GROUP_WORDS];
            keystream_lanes::<1, 4>(&k, 7, 100, &mut reference);
            let mut out = vec![0u64; groups * GROUP_WORDS];
            keystream_lanes::<4, 4>(&k, 7, 100, &mut out);
            assert_eq!(out, reference);
            keystream_lanes::<8, 4>(&k, 7, 100, &mut out);
            assert_eq!(out, reference);
            keystream_lanes::<16, 4>(&k, 7, 100, &mut out);
            assert_eq!(out, reference);
            keystream(&k, 7, 100, &mut out);
            assert_eq!(out, reference);
        }
    }

    /// The AVX2 intrinsics (when the CPU has them) give the words of the one-lane reference,
    /// at 8 and 20 rounds, for several keys and streams, the counters of one run crossing 2³²
    /// (the carry into state word 13) — the stores of every word checked over a buffer
    /// filled with another value first.
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn the_avx2_blocks_equal_the_reference() {
        if !glassbox_core::gemm::kernel::simd_available() {
            return;
        }
        for (seed, stream, first) in [(9u8, 7u64, 100u64), (4, u64::MAX, (1 << 28) - 1), (5, 0, 0)]
        {
            let k = ChaChaKey::from_bytes(&key(seed));
            let mut reference = vec![0u64; 3 * GROUP_WORDS];
            let mut out = vec![u64::MAX; 3 * GROUP_WORDS];
            keystream_lanes::<1, 4>(&k, stream, first, &mut reference);
            // SAFETY: the CPU has AVX2 and FMA (checked above).
            unsafe { keystream_avx2::<4>(&k, stream, first, &mut out) };
            assert_eq!(out, reference, "ChaCha8, seed {seed}");
            keystream_lanes::<1, 10>(&k, stream, first, &mut reference);
            // SAFETY: as above.
            unsafe { keystream_avx2::<10>(&k, stream, first, &mut out) };
            assert_eq!(out, reference, "ChaCha20, seed {seed}");
        }
    }
}
