//! The Gaussian noise of DP-SGD (notes/privacy.md §12, P22, P23, P27): a ziggurat sampler fed
//! by a counter-based ChaCha8 key stream, in blocks of coordinates that can be drawn in any
//! order or on any thread with the same bits.
//!
//! Each step draws a fresh 256-bit [`NoiseKey`] from the trainer's generator. Coordinate j's
//! first attempt uses word j of the key stream of `(key, stream 0)`; the few draws that fall
//! off their ziggurat rectangle (1.5 %) take their further words from stream `1 + b`, b the
//! coordinate's block of [`NOISE_BLOCK`], in coordinate order. Block b therefore depends on
//! the key and b alone.
//!
//! ```
//! use glassbox_core::seeded_rng;
//! use glassbox_train::privacy::noise::{NOISE_BLOCK, NoiseKey, normal_block};
//!
//! let key = NoiseKey::draw(&mut seeded_rng(3));
//! let (mut first, mut second) = (vec![0.0; NOISE_BLOCK], vec![0.0; NOISE_BLOCK]);
//! normal_block(&key, 1, &mut second); // block 1 before block 0: the same draws
//! normal_block(&key, 0, &mut first);
//! let mut again = vec![0.0; 2 * NOISE_BLOCK];
//! normal_block(&key, 0, &mut again[..NOISE_BLOCK]);
//! normal_block(&key, 1, &mut again[NOISE_BLOCK..]);
//! assert_eq!([first, second].concat(), again);
//! ```

use glassbox_core::gemm::kernel::on_widest_isa;
use glassbox_core::{Float, Rng, sum_of_squares};
use ndarray::ArrayView1;
use rand::RngCore;

use super::chacha::{ChaChaKey, GROUP_WORDS, keystream};
use super::elementary::{exp, ln};
use super::sampling::unit_from_word;

/// The ziggurat's layers (Marsaglia & Tsang 2000, in Doornik's 2005 form ZIGNOR): 256 layers
/// of equal area V under the unnormalised standard normal density `f(x) = e^{−x²/2}`, the
/// base layer's right edge at R. R solves "the 255th layer's top edge is f(0) = 1" (found by
/// bisection in 50-digit arithmetic; notes/privacy.md §12), `V = R·f(R) + ∫_R^∞ f`.
const LAYERS: usize = 256;
const R: f64 = 3.654_152_885_361_009;
const V: f64 = 4.928_673_233_974_655e-3;

/// (P22) The layer edges `x₀ = V/f(R)` (the base layer as a rectangle of the same area),
/// `x₁ = R`, `xᵢ = √(−2 ln(V/xᵢ₋₁ + f(xᵢ₋₁)))`, `x₂₅₆ = 0`, the ratios `xᵢ₊₁/xᵢ` and the
/// density at the edges `f(xᵢ)`, computed with the hand-written `exp` and `ln` (P25–P26) so
/// that the table does not depend on the C library.
struct Ziggurat {
    x: [f64; LAYERS + 1],
    ratio: [f64; LAYERS],
    density: [f64; LAYERS + 1],
    /// `(xᵢ, ratioᵢ)` side by side, for the AVX2 first attempts (the same numbers).
    pairs: [[f64; 2]; LAYERS],
    /// `(f(xᵢ) − f(xᵢ₊₁))/(xᵢ − xᵢ₊₁)`, the slope of layer i's chord for [`squeeze`]
    /// (divided once here instead of at every wedge test).
    chord_slope: [f64; LAYERS],
}

fn ziggurat() -> &'static Ziggurat {
    static TABLE: std::sync::OnceLock<Ziggurat> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let f = |x: f64| exp(-0.5 * x * x);
        let mut x = [0.0; LAYERS + 1];
        x[0] = V / f(R);
        x[1] = R;
        for i in 2..LAYERS {
            x[i] = (-2.0 * ln(V / x[i - 1] + f(x[i - 1]))).sqrt();
        }
        let ratio = std::array::from_fn(|i| x[i + 1] / x[i]);
        let density = x.map(f);
        let pairs = std::array::from_fn(|i| [x[i], ratio[i]]);
        let chord_slope =
            std::array::from_fn(|i| (density[i] - density[i + 1]) / (x[i] - x[i + 1]));
        Ziggurat {
            x,
            ratio,
            density,
            pairs,
            chord_slope,
        }
    })
}

/// (P22) One attempt from one word: the layer `i` from the low 8 bits, and
/// `u = −1 + (2m + 1)·2⁻⁵²` from the top 52 bits m — the midpoints of 2⁵² equal cells of
/// (−1, 1), symmetric about 0 and never 0 or ±1. Built exactly: the bits of `2 + m·2⁻⁵¹` (an
/// f64 in [2, 4)), minus 3 (exact by Sterbenz's lemma), plus 2⁻⁵² (exact: a multiple of 2⁻⁵²
/// below 1 in magnitude) — integer operations and two exact additions, so it vectorises.
#[inline(always)]
fn attempt(word: u64) -> (f64, usize) {
    let layer = (word & (LAYERS as u64 - 1)) as usize;
    let two_to_four = f64::from_bits(0x4000_0000_0000_0000 | (word >> 12));
    (two_to_four - 3.0 + HALF_CELL, layer)
}

/// 2⁻⁵², half the width of u's cells.
const HALF_CELL: f64 = 1.0 / (1u64 << 52) as f64;

/// Coordinates per noise block: block b's first words are groups `8b … 8b + 7` of stream 0
/// (coordinate j of the block takes word j), its extra words stream `1 + b`.
pub const NOISE_BLOCK: usize = 1024;

/// The 256-bit key of one step's noise, drawn from the trainer's generator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoiseKey(ChaChaKey);

impl NoiseKey {
    /// (P27) The next 32 bytes of `rng` (four words) as the key.
    pub fn draw(rng: &mut Rng) -> Self {
        let mut bytes = [0u8; 32];
        rng.fill_bytes(&mut bytes);
        Self(ChaChaKey::from_bytes(&bytes))
    }
}

/// The extra words of one noise block, in order: the key stream of `(key, 1 + b)`, one group
/// (128 words) at a time.
struct Spill<'k> {
    key: &'k ChaChaKey,
    stream: u64,
    next_group: u64,
    words: [u64; GROUP_WORDS],
    used: usize,
}

impl<'k> Spill<'k> {
    fn new(key: &'k ChaChaKey, noise_block: u64) -> Self {
        Self {
            key,
            stream: 1 + noise_block,
            next_group: 0,
            words: [0; GROUP_WORDS],
            used: GROUP_WORDS,
        }
    }

    fn next_word(&mut self) -> u64 {
        if self.used == GROUP_WORDS {
            keystream(self.key, self.stream, self.next_group, &mut self.words);
            self.next_group += 1;
            self.used = 0;
        }
        self.used += 1;
        self.words[self.used - 1]
    }

    fn unit(&mut self) -> f64 {
        unit_from_word(self.next_word())
    }
}

/// (P22, P27) Standard normal draws for the coordinates `NOISE_BLOCK·b …` of one step's noise
/// (`z.len() ≤ NOISE_BLOCK`; a shorter `z` is the block's first coordinates).
///
/// # Panics
/// If `z` is longer than [`NOISE_BLOCK`].
pub fn normal_block(key: &NoiseKey, block: u64, z: &mut [f64]) {
    let mut scratch = BlockScratch::new();
    on_widest_isa(
        #[inline(always)]
        || normal_block_any(key, block, z, &mut scratch),
    );
}

/// The working memory of [`normal_block_any`] for one block: its first words and its
/// off-rectangle flags (9 kB). Made once per step (or per worker) and reused for every block,
/// so a step zeroes it once instead of once per block; every byte a block reads it writes
/// first (the words of its groups, its flags and the flags' padding to a multiple of eight),
/// so what an earlier block left there never matters.
struct BlockScratch {
    words: [u64; NOISE_BLOCK],
    off: [u8; NOISE_BLOCK],
}

impl BlockScratch {
    fn new() -> Self {
        Self {
            words: [0; NOISE_BLOCK],
            off: [0; NOISE_BLOCK],
        }
    }
}

/// The working memory of one step's noise per thread: a block's scratch and its draws z
/// (8 kB), made once per thread and kept across steps ([`KeptScratch`]) instead of the draws
/// being zeroed for every block; [`first_attempts`] writes every draw of a block before
/// anything reads it.
struct StepScratch {
    block: BlockScratch,
    draws: [f64; NOISE_BLOCK],
}

impl StepScratch {
    fn new() -> Self {
        Self {
            block: BlockScratch::new(),
            draws: [0.0; NOISE_BLOCK],
        }
    }
}

thread_local! {
    /// This thread's [`StepScratch`] between steps, so that a step neither allocates nor
    /// zeroes 17 kB: its contents are never read before they are written.
    static KEPT_SCRATCH: std::cell::Cell<Option<Box<StepScratch>>> =
        const { std::cell::Cell::new(None) };
}

/// A [`StepScratch`] taken from this thread's [`KEPT_SCRATCH`] (made, zeroed, the first time)
/// and given back when dropped.
struct KeptScratch(Option<Box<StepScratch>>);

impl KeptScratch {
    fn take() -> Self {
        Self(KEPT_SCRATCH.take())
    }

    fn get(&mut self) -> &mut StepScratch {
        self.0.get_or_insert_with(|| Box::new(StepScratch::new()))
    }
}

impl Drop for KeptScratch {
    fn drop(&mut self) {
        if let Some(scratch) = self.0.take() {
            KEPT_SCRATCH.set(Some(scratch));
        }
    }
}

/// (P22) The ziggurat on a block: the first attempts of all coordinates at once (a loop
/// without branches, which LLVM vectorises: `z = u·xᵢ`, and whether `|u| < xᵢ₊₁/xᵢ`), then,
/// in coordinate order, the ~1.5 % that fell off their rectangle through
/// [`normal_off_rectangle`] with the block's extra words.
#[inline(always)]
fn normal_block_any(key: &NoiseKey, block: u64, z: &mut [f64], scratch: &mut BlockScratch) {
    assert!(z.len() <= NOISE_BLOCK, "{} > {NOISE_BLOCK}", z.len());
    let table = ziggurat();
    let BlockScratch { words, off } = scratch;
    let words = &mut words[..z.len().next_multiple_of(GROUP_WORDS)];
    let groups_per_noise_block = (NOISE_BLOCK / GROUP_WORDS) as u64;
    keystream(&key.0, 0, block * groups_per_noise_block, words);
    first_attempts(table, words, z, off);
    off[z.len()..z.len().next_multiple_of(8)].fill(0); // a short block's last flags
    let words = &*words;
    let mut spill = Spill::new(&key.0, block);
    // The flags eight at a time (one u64; flags past z.len() were cleared above): about seven
    // times in eight all are clear.
    for (c, flags) in off.chunks_exact(8).take(z.len().div_ceil(8)).enumerate() {
        let mut set = u64::from_le_bytes(flags.try_into().unwrap_or_default());
        while set != 0 {
            let j = 8 * c + set.trailing_zeros() as usize / 8;
            set &= set - 1;
            let (u, i) = attempt(words[j]);
            z[j] = normal_off_rectangle(table, u, i, &mut spill);
        }
    }
}

/// (P22) The first attempt of every coordinate: `z = u·xᵢ` and whether it fell off its
/// rectangle (`|u| ≥ xᵢ₊₁/xᵢ`). A function of its own so that its borrowed arguments keep
/// their no-alias promise after inlining: written inline over the scratch's fields, the
/// loop was compiled scalar (session 8's profile).
///
/// On an AVX2 CPU without AVX-512 the loop runs as [`first_attempts_avx2`] (same bits); the
/// portable loop, [`first_attempts_lanes`], is the oracle and the path of every other CPU.
#[inline(always)]
fn first_attempts(table: &Ziggurat, words: &[u64], z: &mut [f64], off: &mut [u8]) {
    #[cfg(target_arch = "x86_64")]
    if glassbox_core::gemm::kernel::avx2_paths() && !glassbox_core::gemm::kernel::avx512_paths() {
        // SAFETY: the CPU has AVX2 and FMA (checked just above).
        unsafe { first_attempts_avx2(table, words, z, off) };
        return;
    }
    first_attempts_lanes(table, words, z, off);
}

/// [`first_attempts`] as portable code (LLVM vectorises it; with AVX-512 into one masked
/// compare per eight coordinates).
#[inline(always)]
fn first_attempts_lanes(table: &Ziggurat, words: &[u64], z: &mut [f64], off: &mut [u8]) {
    for ((z, off), &word) in z.iter_mut().zip(off.iter_mut()).zip(words) {
        let (u, i) = attempt(word);
        *z = u * table.x[i];
        *off = u8::from(u.abs() >= table.ratio[i]); // u and the ratios are never NaN
    }
}

/// (P22) [`first_attempts`] four coordinates at a time in AVX2 registers: u built from the
/// word's bits as [`attempt`] builds it (a shift, an or, then `− 3` and `+ 2⁻⁵²`, both exact),
/// the pair `(xᵢ, xᵢ₊₁/xᵢ)` of each coordinate's layer (the word's low 8 bits) in one 16-byte
/// load and four such loads unpacked into the vectors of x and of the ratios (`vgatherqpd` was
/// slower on Zen 3),
/// `z = u·xᵢ` one IEEE product, and the four flags `|u| ≥ xᵢ₊₁/xᵢ` taken as a 4-bit mask and
/// spread to four bytes by a 16-entry table — the same z and flags bit for bit. The portable
/// loop was compiled to scalar index extractions and loads, and five instructions to pack the
/// flags (Zen 3 profile, notes/privacy_cost.md, sixteenth session).
///
/// # Safety
/// The CPU must have AVX2.
///
/// # Panics
/// If `words` or `off` is shorter than `z`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn first_attempts_avx2(table: &Ziggurat, words: &[u64], z: &mut [f64], off: &mut [u8]) {
    use std::arch::x86_64::{
        __m256i, _CMP_GE_OQ, _mm_loadu_pd, _mm256_add_pd, _mm256_and_pd, _mm256_castpd128_pd256,
        _mm256_castsi256_pd, _mm256_cmp_pd, _mm256_insertf128_pd, _mm256_loadu_si256,
        _mm256_movemask_pd, _mm256_mul_pd, _mm256_or_si256, _mm256_set1_epi64x, _mm256_set1_pd,
        _mm256_srli_epi64, _mm256_storeu_pd, _mm256_sub_pd, _mm256_unpackhi_pd, _mm256_unpacklo_pd,
    };
    /// Bit k of the index set ⇔ byte k equal to 1.
    const SPREAD: [u32; 16] = {
        let mut t = [0u32; 16];
        let mut m = 0;
        while m < 16 {
            let mut k = 0;
            while k < 4 {
                if m & (1 << k) != 0 {
                    t[m] |= 1 << (8 * k);
                }
                k += 1;
            }
            m += 1;
        }
        t
    };
    let n = z.len();
    let (words, off) = (&words[..n], &mut off[..n]);
    let exponent = _mm256_set1_epi64x(0x4000_0000_0000_0000);
    let (three, half_cell) = (_mm256_set1_pd(3.0), _mm256_set1_pd(HALF_CELL));
    let magnitude = _mm256_castsi256_pd(_mm256_set1_epi64x(i64::MAX));
    let pairs = table.pairs.as_ptr();
    let quads = n / 4;
    for q in 0..quads {
        let j = 4 * q;
        // SAFETY: j + 4 ≤ n, and `words`, `z`, `off` have n entries; a layer index is below
        // 256, the length of `pairs`; loads and stores are unaligned.
        unsafe {
            let w = _mm256_loadu_si256(words.as_ptr().add(j).cast::<__m256i>());
            let two_to_four =
                _mm256_castsi256_pd(_mm256_or_si256(_mm256_srli_epi64::<12>(w), exponent));
            let u = _mm256_add_pd(_mm256_sub_pd(two_to_four, three), half_cell);
            // (xᵢ, xᵢ₊₁/xᵢ) of coordinate j + k, one 16-byte load each.
            let pair = |k: usize| {
                let layer = (*words.get_unchecked(j + k) & (LAYERS as u64 - 1)) as usize;
                _mm_loadu_pd(pairs.add(layer).cast::<f64>())
            };
            let a = _mm256_insertf128_pd::<1>(_mm256_castpd128_pd256(pair(0)), pair(2));
            let b = _mm256_insertf128_pd::<1>(_mm256_castpd128_pd256(pair(1)), pair(3));
            let (x, ratio) = (_mm256_unpacklo_pd(a, b), _mm256_unpackhi_pd(a, b));
            _mm256_storeu_pd(z.as_mut_ptr().add(j), _mm256_mul_pd(u, x));
            let fell = _mm256_cmp_pd::<_CMP_GE_OQ>(_mm256_and_pd(u, magnitude), ratio);
            let flags = SPREAD[_mm256_movemask_pd(fell) as usize & 15];
            off.as_mut_ptr()
                .add(j)
                .cast::<u32>()
                .write_unaligned(flags.to_le());
        }
    }
    let j = 4 * quads;
    first_attempts_lanes(table, &words[j..], &mut z[j..], &mut off[j..]);
}

/// (P22) An attempt `(u, i)` outside layer i's rectangle: the tail beyond R for the base
/// layer, else the wedge test — `x = u·xᵢ` is kept when a uniform point between the densities
/// at the layer's edges, `f(xᵢ₊₁) + u′·(f(xᵢ) − f(xᵢ₊₁))`, falls below `f(x)` — then new
/// attempts until one is accepted.
#[cold]
fn normal_off_rectangle(table: &Ziggurat, mut u: f64, mut i: usize, spill: &mut Spill) -> f64 {
    loop {
        if i == 0 {
            return normal_tail(spill, u < 0.0);
        }
        let x = u * table.x[i];
        let (f0, f1) = (table.density[i], table.density[i + 1]);
        let y = f1 + spill.unit() * (f0 - f1);
        if wedge_accepts(table, i, x.abs(), y) {
            return x;
        }
        (u, i) = attempt(spill.next_word());
        if u.abs() < table.ratio[i] {
            return u * table.x[i];
        }
    }
}

/// (P22) The wedge test of layer i ≥ 1 at `a = |x|` ∈ [xᵢ₊₁, xᵢ]: whether `y < f(a)`. Most
/// points are decided without `exp` by bounds of f on the wedge: where f is convex (a ≥ 1,
/// `f″ = (x² − 1)·f`) it lies below its chord and above its tangents at the two edges
/// (`f′ = −x·f`), where it is concave (a ≤ 1) the other way round. A bound decides only when
/// y is farther than [`SQUEEZE_MARGIN`] from it, far beyond the rounding of the bounds and of
/// `exp` (≈ 10⁻¹⁶ relative), so the answer is always that of `y < exp(−a²/2)`: the same
/// draws, bit for bit, with fewer `exp` calls.
#[inline]
fn wedge_accepts(table: &Ziggurat, i: usize, a: f64, y: f64) -> bool {
    squeeze(table, i, a, y).unwrap_or_else(|| y < exp(-0.5 * a * a))
}

/// The bounds of [`wedge_accepts`]: `Some(y < f(a))` when they decide, `None` when y is too
/// close to f for them.
#[inline]
fn squeeze(table: &Ziggurat, i: usize, a: f64, y: f64) -> Option<bool> {
    let (x_out, x_in) = (table.x[i], table.x[i + 1]);
    let (f_out, f_in) = (table.density[i], table.density[i + 1]);
    // The slope divided once per layer rounds differently from `(a − xᵢ₊₁)·(f(xᵢ) −
    // f(xᵢ₊₁))/(xᵢ − xᵢ₊₁)` by ≈ 10⁻¹⁶, far inside the margin: the same decisions.
    let chord = f_in + (a - x_in) * table.chord_slope[i];
    let tangent_in = f_in * (1.0 - x_in * (a - x_in));
    let tangent_out = f_out * (1.0 + x_out * (x_out - a));
    let (below, above) = if x_in >= 1.0 {
        (tangent_in.max(tangent_out), chord) // convex on the wedge
    } else if x_out <= 1.0 {
        (chord, tangent_in.min(tangent_out)) // concave on the wedge
    } else {
        (f64::NEG_INFINITY, f64::INFINITY) // the layer across the inflection point
    };
    if y < below - SQUEEZE_MARGIN {
        Some(true)
    } else if y > above + SQUEEZE_MARGIN {
        Some(false)
    } else {
        None
    }
}

/// How far (in density, f ≤ 1) y must be from a bound of [`wedge_accepts`] for the bound to
/// decide: ten million times the rounding of the bounds and of `exp`.
const SQUEEZE_MARGIN: f64 = 1e-9;

/// The normal tail beyond R (Marsaglia 1964): `x = ln(u₁)/R`, `y = ln(u₂)` with
/// `u₁, u₂ ∈ (0, 1]`, until `−2y ≥ x²`; the draw is `R − x` (negated for the left tail).
fn normal_tail(spill: &mut Spill, negative: bool) -> f64 {
    loop {
        let x = ln(1.0 - spill.unit()) / R;
        let y = ln(1.0 - spill.unit());
        if -2.0 * y >= x * x {
            return if negative { x - R } else { R - x };
        }
    }
}

/// (P23) The privatised gradient, in place: `g ← (g + σC·z)/⌊N·q⌋` for every coordinate,
/// with `z ~ N(0, 1)` drawn by (P22) from one step's [`NoiseKey`] (P27), the key taken from
/// `rng`. `g` holds the sum of the clipped per-example gradients (P21); the sum is taken in
/// f64 and rounded once to `T`. Every block of [`NOISE_BLOCK`] coordinates depends on the key
/// and its index alone, so the blocks may run on any thread: they do on the caller's pool
/// when the gradient has at least [`PAR_MIN_NOISE`] coordinates, with the same bits.
///
/// Returns ‖g̃‖, the L2 norm of the privatised gradient as stored, which the step reports:
/// each block's squares summed while the block is still in cache ([`sum_of_squares`], eight
/// fixed lanes), the blocks' sums added in block order — the same bits at any thread count,
/// and one pass over the gradient fewer than a separate norm.
pub fn add_noise_and_average<T: Float>(
    grads: &mut [T],
    noise_std: f64,
    expected_batch: usize,
    rng: &mut Rng,
) -> f64 {
    let key = NoiseKey::draw(rng);
    let inv = 1.0 / expected_batch as f64;
    let add_block = |scratch: &mut StepScratch, (b, g): (usize, &mut [T])| {
        noisy_block(&key, b as u64, g, noise_std, inv, scratch)
    };
    let sum = if grads.len() < PAR_MIN_NOISE || rayon::current_num_threads() == 1 {
        let mut scratch = KeptScratch::take();
        grads
            .chunks_mut(NOISE_BLOCK)
            .enumerate()
            .map(|block| add_block(scratch.get(), block))
            .fold(0.0, |sum, block| sum + block)
    } else {
        use rayon::prelude::*;
        let blocks: Vec<f64> = grads
            .par_chunks_mut(NOISE_BLOCK)
            .enumerate()
            .map_init(KeptScratch::take, |s, block| add_block(s.get(), block))
            .collect();
        blocks.iter().fold(0.0, |sum, block| sum + block)
    };
    sum.sqrt()
}

/// (P23) Block b of [`add_noise_and_average`]: `g ← (g + σC·z)/⌊N·q⌋` with the block's
/// draws z (P22, P27) in `scratch`, and the block's sum of squares (eight fixed lanes).
fn noisy_block<T: Float>(
    key: &NoiseKey,
    b: u64,
    g: &mut [T],
    noise_std: f64,
    inv: f64,
    scratch: &mut StepScratch,
) -> f64 {
    on_widest_isa(
        #[inline(always)]
        || {
            let StepScratch { block, draws } = scratch;
            let z = &mut draws[..g.len()];
            normal_block_any(key, b, z, block);
            #[cfg(target_arch = "x86_64")]
            if std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>()
                && glassbox_core::gemm::kernel::avx2_paths()
                && !glassbox_core::gemm::kernel::avx512_paths()
            {
                // SAFETY: T is f32 (checked), so `g` holds g.len() f32s; the CPU has AVX2.
                return unsafe {
                    let g = std::slice::from_raw_parts_mut(g.as_mut_ptr().cast::<f32>(), g.len());
                    noisy_average_f32_avx2(g, z, noise_std, inv)
                };
            }
            noisy_average_lanes(g, z, noise_std, inv)
        },
    )
}

/// (P23, P19) `g ← (g + σC·z)/⌊N·q⌋` coordinate by coordinate (in f64, rounded once to `T`),
/// then the block's sum of squares as [`sum_of_squares`] takes it: the portable oracle of
/// [`noisy_average_f32_avx2`].
#[inline(always)]
fn noisy_average_lanes<T: Float>(g: &mut [T], z: &[f64], noise_std: f64, inv: f64) -> f64 {
    for (g, z) in g.iter_mut().zip(z.iter()) {
        *g = T::from_f64((g.to_f64() + noise_std * z) * inv);
    }
    sum_of_squares(ArrayView1::from(&*g))
}

/// (P23, P19) [`noisy_average_lanes`] for `f32` on an AVX2 CPU in one pass instead of two:
/// eight coordinates at a time, `(g + σC·z)·(1/⌊N·q⌋)` in f64 (a product, a sum, a product:
/// no FMA), rounded to f32 (`vcvtpd2ps`, to nearest) and stored, and each stored value
/// widened again, squared and added to its lane (`j mod 8`: lanes 0–3 in one register, 4–7
/// in another, as `sum_of_squares_f32_avx2`); the remainder one by one into lanes 0, 1, …,
/// then the fixed tree `((s₀ + s₁) + (s₂ + s₃)) + ((s₄ + s₅) + (s₆ + s₇))` — the same bits as
/// the two passes.
///
/// # Safety
/// The CPU must have AVX2.
///
/// # Panics
/// If `z` is shorter than `g`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn noisy_average_f32_avx2(g: &mut [f32], z: &[f64], noise_std: f64, inv: f64) -> f64 {
    use std::arch::x86_64::{
        _mm256_add_pd, _mm256_castps256_ps128, _mm256_cvtpd_ps, _mm256_cvtps_pd,
        _mm256_extractf128_ps, _mm256_loadu_pd, _mm256_loadu_ps, _mm256_mul_pd, _mm256_set_m128,
        _mm256_set1_pd, _mm256_setzero_pd, _mm256_storeu_pd, _mm256_storeu_ps,
    };
    let n = g.len();
    let z = &z[..n];
    let (sigma, scale) = (_mm256_set1_pd(noise_std), _mm256_set1_pd(inv));
    let (mut low, mut high) = (_mm256_setzero_pd(), _mm256_setzero_pd());
    let eights = n / 8;
    for c in 0..eights {
        let j = 8 * c;
        // SAFETY: j + 8 ≤ n and `g`, `z` have n entries; loads and stores are unaligned.
        unsafe {
            let gp = g.as_mut_ptr().add(j);
            let v = _mm256_loadu_ps(gp);
            let (a, b) = (
                _mm256_cvtps_pd(_mm256_castps256_ps128(v)),
                _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(v)),
            );
            let (za, zb) = (
                _mm256_loadu_pd(z.as_ptr().add(j)),
                _mm256_loadu_pd(z.as_ptr().add(j + 4)),
            );
            let ra = _mm256_cvtpd_ps(_mm256_mul_pd(
                _mm256_add_pd(a, _mm256_mul_pd(sigma, za)),
                scale,
            ));
            let rb = _mm256_cvtpd_ps(_mm256_mul_pd(
                _mm256_add_pd(b, _mm256_mul_pd(sigma, zb)),
                scale,
            ));
            _mm256_storeu_ps(gp, _mm256_set_m128(rb, ra));
            let (wa, wb) = (_mm256_cvtps_pd(ra), _mm256_cvtps_pd(rb));
            low = _mm256_add_pd(low, _mm256_mul_pd(wa, wa));
            high = _mm256_add_pd(high, _mm256_mul_pd(wb, wb));
        }
    }
    let mut lanes = [0.0f64; 8];
    // SAFETY: `lanes` is eight f64s; each store of four is unaligned.
    unsafe {
        _mm256_storeu_pd(lanes.as_mut_ptr(), low);
        _mm256_storeu_pd(lanes[4..].as_mut_ptr(), high);
    }
    let rest = 8 * eights;
    for (lane, (g, z)) in g[rest..].iter_mut().zip(&z[rest..]).enumerate() {
        *g = ((f64::from(*g) + noise_std * z) * inv) as f32;
        let v = f64::from(*g);
        lanes[lane] += v * v;
    }
    let [s0, s1, s2, s3, s4, s5, s6, s7] = lanes;
    ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
}

/// Below this many coordinates the noise is drawn on the calling thread (a few µs of work:
/// less than waking the pool).
pub const PAR_MIN_NOISE: usize = 1 << 15;

#[cfg(test)]
mod tests {
    use super::*;

    /// The table as computed (with the hand-written `exp`/`ln`): every layer has area V —
    /// the base layer `x₀·f(R)`, layer i ≥ 1 the rectangle `xᵢ·(f(xᵢ₊₁) − f(xᵢ))`, the top
    /// one `x₂₅₅·(1 − f(x₂₅₅))` — to 1e-12 relative, so the layers are equally likely as the
    /// method requires; and R is the edge of the tail: `V = R·f(R) + ∫_R^∞ f` (the tail's
    /// area `√(π/2)·erfc(R/√2)` by the hand-written erfc of P15).
    #[test]
    fn every_layer_has_area_v() {
        let t = ziggurat();
        let f = |x: f64| (-0.5 * x * x).exp();
        let area = |i: usize| t.x[i] * (t.density[i + 1] - t.density[i]);
        let mut worst = (t.x[0] * f(R) - V).abs() / V;
        for i in 1..LAYERS {
            worst = worst.max((area(i) - V).abs() / V);
        }
        assert!(worst < 1e-12, "worst relative layer-area error {worst:e}");
        let tail = (std::f64::consts::PI / 2.0).sqrt()
            * crate::privacy::special::erfc(R / std::f64::consts::SQRT_2);
        assert!((R * f(R) + tail - V).abs() / V < 1e-14);
        assert_eq!((t.x[LAYERS], t.density[LAYERS]), (0.0, 1.0));
    }

    /// The squeeze of `wedge_accepts` never changes a decision: over every layer, for points
    /// spread across each wedge and points within 10⁻¹² and 2·10⁻⁹ of the curve, whenever
    /// the bounds decide they answer as `y < exp(−a²/2)` does; and they decide at least 90 %
    /// of the uniform points (a squeeze that never decides passes the first check, not this).
    #[test]
    fn the_wedge_squeeze_answers_as_exp() {
        let t = ziggurat();
        let mut rng = glassbox_core::seeded_rng(5);
        let (mut decided, mut total) = (0usize, 0usize);
        for i in 1..LAYERS {
            let (x_out, x_in) = (t.x[i], t.x[i + 1]);
            for _ in 0..2_000 {
                let a = x_in + (x_out - x_in) * unit_from_word(rng.next_u64());
                let f = exp(-0.5 * a * a);
                let y = t.density[i + 1]
                    + unit_from_word(rng.next_u64()) * (t.density[i] - t.density[i + 1]);
                for y in [
                    y,
                    f,
                    f * (1.0 + 1e-12),
                    f * (1.0 - 1e-12),
                    f + 2e-9,
                    f - 2e-9,
                ] {
                    if let Some(accept) = squeeze(t, i, a, y) {
                        assert_eq!(accept, y < f, "layer {i}, a {a}, y {y}");
                    }
                    assert_eq!(wedge_accepts(t, i, a, y), y < f, "layer {i}, a {a}, y {y}");
                }
                total += 1;
                decided += usize::from(squeeze(t, i, a, y).is_some());
            }
        }
        assert!(
            decided * 10 >= total * 9,
            "{decided} of {total} decided by the bounds"
        );
    }

    /// A scratch left dirty by earlier blocks — every word garbage, every flag set — gives
    /// the same draws as a fresh one, for full blocks and for short blocks whose flags'
    /// padding the block must clear itself (without that clearing, a stale flag past the
    /// block's end sends a coordinate that does not exist to the slow path: the draws differ
    /// or the index panics).
    #[test]
    fn a_reused_scratch_draws_the_same_bits() {
        let mut rng = glassbox_core::seeded_rng(12);
        let mut dirty = BlockScratch::new();
        for (b, len) in [NOISE_BLOCK, 7, 1, NOISE_BLOCK, 513, 9, 8]
            .into_iter()
            .enumerate()
        {
            let key = NoiseKey::draw(&mut rng);
            dirty.words.fill(u64::MAX / 3);
            dirty.off.fill(1);
            let (mut reused, mut fresh) = (vec![0.0; len], vec![0.0; len]);
            normal_block_any(&key, b as u64, &mut reused, &mut dirty);
            normal_block_any(&key, b as u64, &mut fresh, &mut BlockScratch::new());
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&reused), bits(&fresh), "block {b}, length {len}");
        }
    }

    /// A step scratch left dirty — draws NaN, words garbage, flags set — privatises a block
    /// to the same bits as a fresh one, full and short blocks alike: the draws are written
    /// before they are read, so none has to be zeroed per block.
    #[test]
    fn a_dirty_step_scratch_gives_the_same_noisy_gradient() {
        let mut rng = glassbox_core::seeded_rng(13);
        let mut dirty = StepScratch::new();
        for (b, len) in [NOISE_BLOCK, 5, NOISE_BLOCK, 700].into_iter().enumerate() {
            let key = NoiseKey::draw(&mut rng);
            dirty.draws.fill(f64::NAN);
            dirty.block.words.fill(u64::MAX / 5);
            dirty.block.off.fill(1);
            let g: Vec<f32> = (0..len).map(|j| (j as f32 - 3.5) * 0.01).collect();
            let (mut reused, mut fresh) = (g.clone(), g);
            let s1 = noisy_block(&key, b as u64, &mut reused, 2.0, 0.5, &mut dirty);
            let s2 = noisy_block(
                &key,
                b as u64,
                &mut fresh,
                2.0,
                0.5,
                &mut StepScratch::new(),
            );
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&reused), bits(&fresh), "block {b}, length {len}");
            assert_eq!(s1.to_bits(), s2.to_bits());
            assert!(reused.iter().all(|x| x.is_finite()));
        }
    }

    /// The AVX2 first attempts equal the portable loop bit for bit — every draw and every
    /// flag — on random words, on words of every layer at the extremes of u (top 52 bits all
    /// zero, all one, and beside the ratio), at every length 0–40 and 1,024 (the remainder of
    /// four included). Negative control: a draw or a flag changed in the AVX2 output is seen.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_avx2_first_attempts_equal_the_portable_loop() {
        if !glassbox_core::gemm::kernel::simd_available() {
            eprintln!("no AVX2 on this CPU: nothing to compare");
            return;
        }
        let t = ziggurat();
        let mut rng = glassbox_core::seeded_rng(17);
        let mut words: Vec<u64> = (0..NOISE_BLOCK).map(|_| rng.next_u64()).collect();
        for (k, w) in words.iter_mut().take(4 * LAYERS).enumerate() {
            let layer = (k % LAYERS) as u64;
            // u = −1 + (2m + 1)·2⁻⁵² ≈ the layer's ratio: m = ⌊(1 + ratio)·2⁵¹⌋ and m + 1.
            let m = ((1.0 + t.ratio[k % LAYERS]) * (1u64 << 51) as f64) as u64;
            *w = match k / LAYERS {
                0 => layer,                   // u = −1 + 2⁻⁵²
                1 => (u64::MAX << 8) | layer, // u just below 1
                2 => (m.min((1 << 52) - 1) << 12) | layer,
                _ => ((m + 1).min((1 << 52) - 1) << 12) | layer,
            };
        }
        let mut flagged = 0;
        for len in (0..=40).chain([NOISE_BLOCK - 1, NOISE_BLOCK]) {
            for start in [0, 2 * LAYERS - 20] {
                let w = &words[start..];
                let len = len.min(w.len());
                let (mut z1, mut z2) = (vec![0.5; len], vec![-0.5; len]);
                let (mut f1, mut f2) = (vec![7u8; len], vec![9u8; len]);
                first_attempts_lanes(t, w, &mut z1, &mut f1);
                // SAFETY: AVX2 checked above.
                unsafe { first_attempts_avx2(t, w, &mut z2, &mut f2) };
                let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&z1), bits(&z2), "draws, length {len} from {start}");
                assert_eq!(f1, f2, "flags, length {len} from {start}");
                flagged += f1.iter().filter(|&&f| f == 1).count();
                if len > 5 {
                    z2[5] = f64::from_bits(z2[5].to_bits() ^ 1);
                    assert_ne!(bits(&z1), bits(&z2));
                    f2[len - 1] ^= 1;
                    assert_ne!(f1, f2);
                }
            }
        }
        assert!(
            flagged > 100,
            "only {flagged} flags set: the test misses the slow path"
        );
    }

    /// The one-pass AVX2 noisy average equals the portable two passes bit for bit — every
    /// coordinate and the block's sum of squares — at every length 0–40, 769 and 1,024 (the
    /// remainder of eight included), with values of both signs and magnitudes from 10⁻³⁰ to
    /// 10³⁰. Negative control: the sum with one lane added out of order differs.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_avx2_noisy_average_equals_the_portable_passes() {
        if !glassbox_core::gemm::kernel::simd_available() {
            eprintln!("no AVX2 on this CPU: nothing to compare");
            return;
        }
        let mut rng = glassbox_core::seeded_rng(19);
        let mut unit = || unit_from_word(rng.next_u64()) - 0.5;
        for len in (0..=40).chain([769, NOISE_BLOCK]) {
            let g: Vec<f32> = (0..len)
                .map(|j| (unit() * 10f64.powi((j % 61) as i32 - 30)) as f32)
                .collect();
            let z: Vec<f64> = (0..len).map(|_| 6.0 * unit()).collect();
            let (mut g1, mut g2) = (g.clone(), g);
            let s1 = noisy_average_lanes(&mut g1, &z, 3.7, 1.0 / 64.0);
            // SAFETY: AVX2 checked above.
            let s2 = unsafe { noisy_average_f32_avx2(&mut g2, &z, 3.7, 1.0 / 64.0) };
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&g1), bits(&g2), "length {len}");
            assert_eq!(s1.to_bits(), s2.to_bits(), "length {len}");
        }
        let mut g: Vec<f32> = (0..NOISE_BLOCK).map(|_| (0.1 * unit()) as f32).collect();
        let z: Vec<f64> = (0..NOISE_BLOCK).map(|_| 6.0 * unit()).collect();
        // SAFETY: AVX2 checked above.
        let lanes = unsafe { noisy_average_f32_avx2(&mut g, &z, 3.7, 1.0 / 64.0) };
        let chain = g.iter().fold(0.0, |s, &v| s + f64::from(v) * f64::from(v));
        assert_ne!(
            chain.to_bits(),
            lanes.to_bits(),
            "one chain gave the lanes' bits"
        );
    }

    /// The widest build (AVX-512 here, AVX2 on the AMD machines) and the baseline one give
    /// the same bits, block by block, tail and wedges included.
    #[test]
    fn every_instruction_set_draws_the_same_bits() {
        let mut rng = glassbox_core::seeded_rng(11);
        for b in 0..40 {
            let key = NoiseKey::draw(&mut rng);
            let len = [NOISE_BLOCK, 1, 7, 8, 513][b % 5];
            let (mut wide, mut base) = (vec![0.0; len], vec![0.0; len]);
            normal_block(&key, b as u64, &mut wide);
            normal_block_any(&key, b as u64, &mut base, &mut BlockScratch::new());
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&wide), bits(&base), "block {b}");
        }
    }
}
