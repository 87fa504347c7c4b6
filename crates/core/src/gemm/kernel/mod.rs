//! Our own single-threaded GEMM, `C ← α·A·B + β·C`, in `f32` and `f64`, for the layouts a
//! Dense layer produces (notes/gemm.md §2). This file dispatches; the parts live beside it:
//!
//! - `simd.rs` — the private trait of vector operations the kernels are written over, its
//!   AVX2 implementation and its scalar twin;
//! - `dot.rs` and `outer.rs` — the two kernels;
//! - `scratch.rs` — the per-thread copy buffers and their reservation ([`Scratch`]).
//!
//! [`crate::gemm_serial`] calls [`gemm`] and falls back to matrixmultiply when it returns
//! `false`. Why a kernel of our own: matrixmultiply packs both operands into a freshly
//! allocated buffer on every call; at the layer shapes of a small MLP (batch 32, 784 → 64)
//! packing and allocation cost as much as the arithmetic, and a training step could never be
//! allocation-free. Here an operand is copied only when its layout would make the kernel
//! wait on memory, into buffers kept per thread and reused; a [`Scratch`] reserved up front
//! ([`reserve_scratch_in_pool`], called by the MLP's workspace) means no call allocates.
//!
//! **One code, several instruction sets.** The kernels are written once over `simd.rs`'s
//! trait, every width counted in vectors. [`Isa::Avx2`] runs it on `__m256`/`__m256d` (L = 8
//! `f32` or 4 `f64` lanes), [`Isa::Avx512`] on `__m512`/`__m512d` (16 or 8), and
//! [`Isa::Scalar`] on arrays of 8 or 4 lanes, each vector operation lane by lane (`mul_add`
//! for the fused multiply-add, the horizontal sum in the same tree): the same operations in
//! the same order, so the same bits on any CPU — the oracle the tests compare every vector
//! path with. [`active_isa`] says which one [`gemm`] runs: the one a test or `--isa` forced
//! ([`force_isa`]), or the one the environment variable [`ISA_ENV`] names, else
//! [`Isa::best_available`] (AVX-512, else AVX2+FMA) and none (matrixmultiply) elsewhere — the
//! scalar path is too slow to be a default.
//!
//! Two kernels, chosen from the strides and `k` only (never from `m`, `n`, the instruction set
//! or the thread count, so a block of C cut out by the parallel [`crate::gemm()`] runs the
//! same operations on each of its elements as the whole product would):
//!
//! - **dot** — when rows of A and columns of B are both contiguous along k (`csa = 1`,
//!   `rsb = 1`: the forward pass `X·Θᵀ`) and `k ≥ DOT_MIN_K`. Each element of C is 8 `f32`
//!   (4 `f64`) partial sums — one 256-bit vector on every instruction set: lane `l` sums the
//!   products with `p ≡ l (mod 8)` in increasing `p` (the last `k mod 8` through a masked
//!   load), then the lanes are added in the fixed order of `hsum`. AVX2 and the scalar twin
//!   hold one element per vector in 3×4 tiles; AVX-512 holds two per vector, one per 256-bit
//!   half, in 6×8 tiles (`dot::gemm_halves`). No copy of either operand; rows of A are taken
//!   in blocks of at most 72 of equal length (`tuning::dot_block_rows`), and the next block
//!   is prefetched into L2 while one computes.
//! - **outer** — otherwise: an MR×NV-vector tile of C (6×2 on AVX2 and scalar, 14×2 on
//!   AVX-512) holds MR·NV vector accumulators; for each `p` in increasing order it broadcasts
//!   `A[i, p]` (any strides) and multiplies a row of NV·L values of B:
//!   `acc[i, j] = fma(A[i,p], B[p,j], acc[i,j])`, one fused multiply-add per product in k
//!   order, so each element is one FMA chain whatever the tile. k is walked in chunks sized
//!   from the L1D (`tuning::outer_kc`: 256 steps on AVX2 with 32 KiB, 192 on AVX-512 with
//!   48 KiB) so a chunk of B stays in L1; between chunks a tile's accumulators are parked in memory
//!   and reloaded (exact: the chain continues, no partial sums are added). B is read in place
//!   when its rows are contiguous and less than 4 KiB apart (the backward products `d_zᵀ·X`
//!   and `d_z·Θ` of a small layer); otherwise all of B is copied once, in NV·L-column panels
//!   — once for all the row blocks of a parallel product, which share the panels
//!   ([`with_packed_b`], [`gemm_packed_b`]).
//!   A block of up to 96 rows of A is copied, MR-row panel by panel, when A's k-stride is
//!   4 KiB or more (`d_zᵀ` of a wide layer), so that a tile's MR values per step are adjacent.
//!
//! Copies and chunks change where values are read from, never which operations run on
//! them, so they may depend on anything (sizes included) without changing a bit. The
//! numbers (block sizes, chunk length, copy stride, `DOT_MIN_K`) are in
//! [`crate::gemm::tuning`].
//!
//! Both end with `c ← fma(β, c, α·acc)` per element (`c ← α·acc` when β = 0, and then C
//! is not read). The elements of a tile edge (fewer rows or columns than the tile) run the
//! same operations through masked loads and stores. Memory outside the views is
//! never read or written.
//!
//! The reference is [`crate::gemm_naive`]; the tests (`tests.rs` beside this file,
//! `crates/core/tests/gemm.rs` and `crates/core/tests/isa.rs`) compare against it on
//! integer data (exact in any summation order) over all sizes 0–12, awkward sizes and every
//! stride layout, in both types, and every instruction set with the scalar one bit for bit.

mod dot;
mod outer;
mod peak;
mod scratch;
mod simd;

#[cfg(test)]
mod tests;

use std::any::TypeId;
use std::fmt;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU8, Ordering};

pub use peak::fma_peak_work;
use scratch::lend_shared_b;
pub use scratch::{Scratch, reserve_scratch, reserve_scratch_in_pool, reserved_scratch};

use crate::Float;
use crate::gemm::tuning::{DOT_MIN_K, FAR_BYTES};
use simd::{Element, Simd};

/// Bytes of the dot kernel's partial sums of one element on every instruction set (256 bits:
/// its lanes fix the summation order), and of one vector of AVX2 and the scalar twin.
const VECTOR_BYTES: usize = 32;

/// Lanes of `E` in one vector: 8 `f32` or 4 `f64`.
const fn lanes<E>() -> usize {
    VECTOR_BYTES / size_of::<E>()
}

/// [`FAR_BYTES`] in elements of `E` (1024 `f32`, 512 `f64`).
const fn far<E>() -> usize {
    FAR_BYTES / size_of::<E>()
}

/// The environment variable that picks the instruction set: `scalar`, `avx2` or `avx512`
/// (read once, at the first call of [`active_isa`]; unset or empty: its default). It rules
/// the GEMM kernel and every hand-written vector path beside it ([`avx2_paths`],
/// [`avx512_paths`], [`on_widest_isa`]: norms, noise, optimizer loops), so `scalar` runs a
/// whole training on the portable oracle. A name this CPU cannot run is a configuration
/// error: the first call panics with its reason ([`isa_from_environment`] lets a program
/// check it first).
pub const ISA_ENV: &str = "GLASSBOX_ISA";

/// An instruction set the kernel runs on. Every one computes the same operations in the
/// same order, so they give the same bits (notes/gemm.md §2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Isa {
    /// Plain scalar code: each vector operation lane by lane on arrays of 8 `f32` or 4
    /// `f64`, with `mul_add` for the fused multiply-add. Runs on every CPU; slow — the
    /// tests' bit-exact oracle, and what `GLASSBOX_ISA=scalar` selects.
    Scalar,
    /// 256-bit AVX2 vectors with FMA (`__m256`, `__m256d`), x86_64 only.
    Avx2,
    /// 512-bit AVX-512F vectors (`__m512`, `__m512d`) and 32 vector registers, x86_64 only:
    /// a taller outer tile; the dot kernel keeps 256-bit vectors, whose lanes fix its
    /// summation order (notes/gemm.md §2).
    Avx512,
}

impl Isa {
    /// Every instruction set, the oracle first.
    pub const ALL: [Isa; 3] = [Isa::Scalar, Isa::Avx2, Isa::Avx512];

    /// The name [`ISA_ENV`] takes: `"scalar"`, `"avx2"` or `"avx512"`.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
        }
    }

    /// The instruction set called `name` (as [`Isa::name`] spells it), if any.
    pub fn from_name(name: &str) -> Option<Isa> {
        Isa::ALL.into_iter().find(|isa| isa.name() == name)
    }

    /// Whether this CPU runs it: always for [`Isa::Scalar`]; for [`Isa::Avx2`], when the
    /// CPU has AVX2 and FMA; for [`Isa::Avx512`], when it also has AVX-512F and AVX-512VL
    /// (detected once by std).
    pub fn is_available(self) -> bool {
        match self {
            Isa::Scalar => true,
            Isa::Avx2 => simd_available(),
            Isa::Avx512 => avx512_available(),
        }
    }

    /// The fastest instruction set this CPU runs, the default of [`active_isa`]:
    /// [`Isa::Avx512`], else [`Isa::Avx2`], else none (the scalar path is never a default).
    pub fn best_available() -> Option<Isa> {
        [Isa::Avx512, Isa::Avx2]
            .into_iter()
            .find(|isa| isa.is_available())
    }
}

impl fmt::Display for Isa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// [`force_isa`] asked for an instruction set this CPU lacks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IsaUnavailable(pub Isa);

impl fmt::Display for IsaUnavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "this CPU cannot run the {} kernel", self.0)
    }
}

impl std::error::Error for IsaUnavailable {}

/// The instruction set forced by [`force_isa`]: 0 for none, else 1 + its index in
/// [`Isa::ALL`].
static FORCED: AtomicU8 = AtomicU8::new(0);

/// What [`ISA_ENV`] and the CPU choose, decided at the first GEMM.
static CHOSEN: OnceLock<Option<Isa>> = OnceLock::new();

/// The instruction set [`gemm`] runs on, or `None` when it runs on none (then
/// [`crate::gemm_serial`] calls matrixmultiply). In order: the one [`force_isa`] set; the one
/// [`ISA_ENV`] names; [`Isa::best_available`].
///
/// # Panics
/// At the first call, if [`ISA_ENV`] names an unknown instruction set or one this CPU
/// lacks: a run must not silently compute other than asked.
pub fn active_isa() -> Option<Isa> {
    match FORCED.load(Ordering::Relaxed) {
        0 => *CHOSEN.get_or_init(|| isa_from_environment().unwrap_or_else(|e| panic!("{e}"))),
        forced => Some(Isa::ALL[usize::from(forced - 1)]),
    }
}

/// The instruction set [`ISA_ENV`] and the CPU choose now (the default of [`active_isa`]),
/// or why [`ISA_ENV`] names none this CPU runs — for a program to check at start-up and exit
/// with a message, before [`active_isa`] would panic with it at the first GEMM.
///
/// # Errors
/// The reason, naming the variable and its value.
pub fn isa_from_environment() -> Result<Option<Isa>, String> {
    isa_choice(std::env::var(ISA_ENV), Isa::is_available)
}

/// The instruction set that [`ISA_ENV`]'s value (`var`) and the CPU (`has`: whether it
/// runs an instruction set) choose; the reason when the value names none this CPU runs.
fn isa_choice(
    var: Result<String, std::env::VarError>,
    has: impl Fn(Isa) -> bool,
) -> Result<Option<Isa>, String> {
    let name = match var {
        Ok(name) if !name.is_empty() => name,
        Ok(_) | Err(std::env::VarError::NotPresent) => {
            return Ok([Isa::Avx512, Isa::Avx2].into_iter().find(|&isa| has(isa)));
        }
        Err(e) => return Err(format!("{ISA_ENV}: {e}")),
    };
    let Some(isa) = Isa::from_name(&name) else {
        let names: Vec<&str> = Isa::ALL.iter().map(|isa| isa.name()).collect();
        return Err(format!(
            "{ISA_ENV}={name:?}: expected one of {}",
            names.join(", ")
        ));
    };
    if has(isa) {
        Ok(Some(isa))
    } else {
        Err(format!("{ISA_ENV}={name}: {}", IsaUnavailable(isa)))
    }
}

/// Makes every later [`gemm`] of this process run on `isa` (`None`: back to the choice of
/// [`active_isa`]). For tests that run a whole network on each instruction set; a process
/// that changes it while other threads compute mixes instruction sets between calls — which
/// gives the same bits, but proves nothing about either.
///
/// # Errors
/// [`IsaUnavailable`] (nothing changed) if this CPU lacks `isa`.
pub fn force_isa(isa: Option<Isa>) -> Result<(), IsaUnavailable> {
    let code = match isa {
        None => 0,
        Some(isa) if !isa.is_available() => return Err(IsaUnavailable(isa)),
        Some(isa) => {
            let index = Isa::ALL.iter().position(|&i| i == isa).unwrap_or(0);
            1 + index as u8
        }
    };
    FORCED.store(code, Ordering::Relaxed);
    Ok(())
}

/// Whether the CPU has AVX2 and FMA (cached by std after the first query): [`Isa::Avx2`]
/// runs only then, and so do the 8-lane builds of element-wise loops elsewhere (optimizer
/// updates).
#[inline]
pub fn simd_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether the CPU has AVX-512F and AVX-512VL besides AVX2 and FMA: [`Isa::Avx512`] runs
/// only then.
#[inline]
pub fn avx512_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        simd_available()
            && is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512vl")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether the hand-written AVX2 paths outside the GEMM kernel may run: the CPU has AVX2
/// and FMA, and the chosen instruction set ([`active_isa`]: `--isa`, [`ISA_ENV`], else the
/// widest) is AVX2 or AVX-512. Every such path gives the bits of its portable loop; this
/// only decides which one runs, so that `scalar` means scalar everywhere.
#[inline]
pub fn avx2_paths() -> bool {
    simd_available() && matches!(active_isa(), Some(Isa::Avx2 | Isa::Avx512))
}

/// Whether the hand-written AVX-512 paths outside the GEMM kernel may run: the CPU has
/// AVX-512F/VL and the chosen instruction set is AVX-512 (see [`avx2_paths`]). With
/// `avx2` forced on an AVX-512 CPU, the AVX2 paths run, as on a CPU without AVX-512.
#[inline]
pub fn avx512_paths() -> bool {
    avx512_available() && active_isa() == Some(Isa::Avx512)
}

/// Runs `f` compiled for the widest instruction set allowed ([`avx512_paths`],
/// [`avx2_paths`], else the baseline): `f` is inlined into a function built with those
/// target features, so its loops vectorise as wide as they can. For loops of IEEE
/// additions, multiplications and integer operations in a fixed order (Rust never contracts
/// them into FMAs), every build gives the same bits; the caller keeps its reductions in
/// fixed lanes (e.g. [`crate::sum_of_squares`]).
#[inline(always)]
pub fn on_widest_isa<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        if avx512_paths() {
            // SAFETY: the CPU has AVX-512F/VL, AVX2 and FMA (avx512_paths checks it).
            return unsafe { with_avx512(f) };
        }
        if avx2_paths() {
            // SAFETY: the CPU has AVX2 and FMA (avx2_paths checks it).
            return unsafe { with_avx2(f) };
        }
    }
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
fn with_avx512<R>(f: impl FnOnce() -> R) -> R {
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn with_avx2<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// Whether [`gemm`] runs for element type `T`: `T` is `f32` or `f64`, and [`active_isa`]
/// names an instruction set.
pub fn available_for<T: Float>() -> bool {
    is_kernel_type::<T>() && active_isa().is_some()
}

/// Whether `T` is one of the kernel's element types, `f32` or `f64`.
fn is_kernel_type<T: 'static>() -> bool {
    let id = TypeId::of::<T>();
    id == TypeId::of::<f32>() || id == TypeId::of::<f64>()
}

/// `C ← α·A·B + β·C` on strided memory, single-threaded, on the instruction set
/// [`active_isa`] names; `false` (nothing done) when it names none or `T` is neither `f32`
/// nor `f64` (then the caller falls back to matrixmultiply).
///
/// A is (m, k), B is (k, n), C is (m, n); strides in elements, any sign. If β is zero, C
/// need not be initialised. Allocates only to grow the calling thread's copy buffers beyond
/// what it held (see [`Scratch`]).
///
/// # Safety
/// The pointers and strides must describe valid matrices of the given shapes; C must be
/// writable at every index it describes and must not overlap A or B.
#[allow(clippy::too_many_arguments)]
pub unsafe fn gemm<T: Float>(
    m: usize,
    k: usize,
    n: usize,
    alpha: T,
    a: *const T,
    rsa: isize,
    csa: isize,
    b: *const T,
    rsb: isize,
    csb: isize,
    beta: T,
    c: *mut T,
    rsc: isize,
    csc: isize,
) -> bool {
    let Some(isa) = active_isa() else {
        return false;
    };
    // SAFETY: forwarded to the caller.
    unsafe {
        gemm_on(
            isa, m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc,
        )
    }
}

/// [`gemm`] on the instruction set `isa`, whatever [`active_isa`] says; `false` (nothing
/// done) when this CPU lacks `isa` or `T` is neither `f32` nor `f64`.
///
/// # Safety
/// The contract of [`gemm`].
#[allow(clippy::too_many_arguments)]
pub unsafe fn gemm_on<T: Float>(
    isa: Isa,
    m: usize,
    k: usize,
    n: usize,
    alpha: T,
    a: *const T,
    rsa: isize,
    csa: isize,
    b: *const T,
    rsb: isize,
    csb: isize,
    beta: T,
    c: *mut T,
    rsc: isize,
    csc: isize,
) -> bool {
    if !isa.is_available() || !is_kernel_type::<T>() {
        return false;
    }
    let p = Product {
        m,
        k,
        n,
        alpha,
        a: Mat::new(a, rsa, csa),
        b: Mat::new(b, rsb, csb),
        beta,
        c: MatMut::new(c, rsc, csc),
        b_packed: std::ptr::null(),
    };
    // SAFETY: `isa` is available; the caller vouches for the memory.
    unsafe { run_typed(isa, p, Task::Gemm) };
    true
}

/// [`run_on`] in the kernel's own type `E` (`f32` or `f64`, which `T` is).
///
/// # Safety
/// `isa` is available; `T` is `f32` or `f64`; the contract of [`gemm`] for `p`, and of
/// `task`.
unsafe fn run_typed<T: Float>(isa: Isa, p: Product<T>, task: Task<T>) {
    // SAFETY: T is the type the pointers are cast to, so they describe the same matrices.
    unsafe {
        if TypeId::of::<T>() == TypeId::of::<f32>() {
            run_on::<f32>(isa, p.cast(), task.cast());
        } else {
            run_on::<f64>(isa, p.cast(), task.cast());
        }
    }
}

/// What [`run`] does with a product: compute it, or only pack its B into the outer kernel's
/// column panels at the pointer (A and C unused).
#[derive(Clone, Copy)]
enum Task<E> {
    Gemm,
    PackB(*mut E),
}

impl<T> Task<T> {
    /// The same task in `E` (the caller knows `E` is `T`).
    fn cast<E>(self) -> Task<E> {
        match self {
            Task::Gemm => Task::Gemm,
            Task::PackB(dst) => Task::PackB(dst.cast()),
        }
    }
}

/// B (k, n) packed once, in the column panels of an instruction set's outer tile, for the
/// row blocks of one parallel product to share (notes/gemm.md §3, G4): made by
/// [`with_packed_b`], used by [`gemm_packed_b`]. Valid only inside the closure it was
/// given to.
#[derive(Clone, Copy, Debug)]
pub struct PackedB<T> {
    ptr: *const T,
    isa: Isa,
    /// Rows of B (the product's k).
    pub k: usize,
    /// Columns of B (the product's n).
    pub n: usize,
}

// SAFETY: a PackedB is a read-only view of a buffer that outlives every use (it is lent for
// the duration of `with_packed_b`'s closure, which joins every thread it starts).
unsafe impl<T: Sync> Send for PackedB<T> {}
// SAFETY: as above; nothing writes the buffer while the closure runs.
unsafe impl<T: Sync> Sync for PackedB<T> {}

/// Packs B (k, n) once into the calling thread's shared-B buffer, in the panels of `isa`'s
/// outer tile, and runs `f` with it; `f` gets `None` (and B is not packed) unless the
/// product with an A of k-stride `csa` runs on the outer kernel and copies B, `isa` is
/// available and `T` a kernel type — and when the buffer is lent already (a product nested
/// in one of this thread's own).
/// Allocates only to grow the buffer beyond what [`reserve_scratch`] made it.
///
/// # Safety
/// `b` with strides `rsb`, `csb` must describe a valid (k, n) matrix that nothing writes
/// while `f` runs.
pub unsafe fn with_packed_b<T: Float, R>(
    isa: Isa,
    k: usize,
    n: usize,
    csa: isize,
    (b, rsb, csb): (*const T, isize, isize),
    f: impl FnOnce(Option<PackedB<T>>) -> R,
) -> R {
    let wanted = isa.is_available()
        && is_kernel_type::<T>()
        && !uses_dot(k, 0, csa, rsb, csb)
        && outer::copies::<T>(csa, rsb, csb).1;
    let (_, len) = outer::copy_len::<T>(k, n, (false, true));
    let Some(buf) = wanted
        .then(|| lend_shared_b(len * size_of::<T>()))
        .flatten()
    else {
        return f(None);
    };
    let dst = buf.ptr::<T>();
    let p = Product {
        m: 0,
        k,
        n,
        alpha: T::one(),
        a: Mat::new(std::ptr::null(), 0, 0),
        b: Mat::new(b, rsb, csb),
        beta: T::zero(),
        c: MatMut::new(std::ptr::null_mut(), 0, 0),
        b_packed: std::ptr::null(),
    };
    // SAFETY: `isa` is available and T a kernel type (checked); the buffer holds the panels
    // of the widest tile (copy_len), so of `isa`'s; the caller vouches for B.
    unsafe { run_typed(isa, p, Task::PackB(dst)) };
    f(Some(PackedB {
        ptr: dst,
        isa,
        k,
        n,
    }))
}

/// `C ← α·A·B + β·C` on the outer kernel with B already packed ([`with_packed_b`]): one row
/// block of a product whose blocks share B. The same operations, in the same order, as
/// [`gemm_on`] with B itself on `b.isa` (packing moves values, computes nothing), so the
/// same bits.
///
/// # Safety
/// A (m, k) and C (m, n) as in [`gemm`], with k and n those of `b`; `b` is valid (inside its
/// [`with_packed_b`] closure).
#[allow(clippy::too_many_arguments)]
pub unsafe fn gemm_packed_b<T: Float>(
    m: usize,
    alpha: T,
    a: *const T,
    rsa: isize,
    csa: isize,
    b: PackedB<T>,
    beta: T,
    c: *mut T,
    rsc: isize,
    csc: isize,
) {
    let p = Product {
        m,
        k: b.k,
        n: b.n,
        alpha,
        a: Mat::new(a, rsa, csa),
        b: Mat::new(b.ptr, 0, 1),
        beta,
        c: MatMut::new(c, rsc, csc),
        b_packed: b.ptr,
    };
    // SAFETY: `b.isa` is available (with_packed_b checked it) and T a kernel type; the
    // caller vouches for the rest.
    unsafe { run_typed(b.isa, p, Task::Gemm) };
}

/// One product `C ← α·A·B + β·C` in the kernel's own type: A (m, k), B (k, n), C (m, n).
#[derive(Clone, Copy)]
struct Product<E> {
    m: usize,
    k: usize,
    n: usize,
    alpha: E,
    a: Mat<E>,
    b: Mat<E>,
    beta: E,
    c: MatMut<E>,
    /// All of B already packed in the outer kernel's column panels ([`PackedB`]), or null:
    /// then B is read through `b` (in place or copied by the kernel).
    b_packed: *const E,
}

impl<T: Float> Product<T> {
    /// The same product in `E` (the caller knows `E` is `T`: the values are exact and the
    /// pointers describe the same matrices).
    fn cast<E: Float>(self) -> Product<E> {
        let to = |x: T| E::from_f64(Float::to_f64(x));
        Product {
            m: self.m,
            k: self.k,
            n: self.n,
            alpha: to(self.alpha),
            a: self.a.cast(),
            b: self.b.cast(),
            beta: to(self.beta),
            c: self.c.cast(),
            b_packed: self.b_packed.cast(),
        }
    }
}

/// [`run`] with the implementations of [`Simd`] that `isa` names.
///
/// # Safety
/// `isa` must be available; the contract of [`gemm`].
unsafe fn run_on<E: Element>(isa: Isa, p: Product<E>, task: Task<E>) {
    // SAFETY: forwarded to the caller.
    unsafe {
        match isa {
            Isa::Scalar => run::<E, E::Scalar, E::Scalar, 6, 2>(p, task),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => run_avx2::<E>(p, task),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => run_avx512::<E>(p, task),
            #[cfg(not(target_arch = "x86_64"))]
            Isa::Avx2 | Isa::Avx512 => unreachable!("{isa} is never available off x86_64"),
        }
    }
}

/// [`run`] on AVX2: the one function compiled with AVX2 and FMA enabled, into which the
/// whole kernel (every function below it is `#[inline(always)]`) is inlined, so the vector
/// intrinsics inline too.
///
/// # Safety
/// The CPU must have AVX2 and FMA; the contract of [`gemm`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn run_avx2<E: Element>(p: Product<E>, task: Task<E>) {
    // SAFETY: forwarded to the caller.
    unsafe { run::<E, E::Avx2, E::Avx2, 6, 2>(p, task) }
}

/// [`run`] on AVX-512: the outer kernel on 512-bit vectors in tiles of
/// [`AVX512_MR`]×[`AVX512_NV`] vectors, the dot kernel on 512-bit vectors of two 256-bit
/// halves (`dot::gemm_halves`: each half sums as the 256-bit dot kernel's vector does).
///
/// # Safety
/// The CPU must have AVX-512F, AVX-512VL, AVX2 and FMA; the contract of [`gemm`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
unsafe fn run_avx512<E: Element>(p: Product<E>, task: Task<E>) {
    // SAFETY: forwarded to the caller.
    unsafe {
        if let Task::PackB(dst) = task {
            outer::pack_all_b::<E, E::Avx512, AVX512_NV>(p.k, p.n, p.b, dst);
            return;
        }
        if p.m == 0 || p.n == 0 {
            return;
        }
        if p.b_packed.is_null() && uses_dot(p.k, p.a.rs, p.a.cs, p.b.rs, p.b.cs) {
            dot::gemm_halves::<E, E::Avx512>(p);
        } else {
            outer::gemm::<E, E::Avx512, AVX512_MR, AVX512_NV>(p);
        }
    }
}

/// Rows of the AVX-512 outer tile (measured: notes/gemm.md §2).
const AVX512_MR: usize = 14;
/// Vectors per row of the AVX-512 outer tile.
const AVX512_NV: usize = 2;

/// [`gemm`] in the kernel's own type: picks the dot kernel (on `D`, whose vectors must have
/// the 256-bit lanes every instruction set's dot kernel sums in) or the outer kernel (on
/// `O`, in tiles of `MR` rows × `NV` vectors).
///
/// # Safety
/// `D` and `O` must run on this CPU; the contract of [`gemm`].
#[inline(always)]
unsafe fn run<E: Float, D: Simd<E>, O: Simd<E>, const MR: usize, const NV: usize>(
    p: Product<E>,
    task: Task<E>,
) {
    const { assert!(D::LANES == lanes::<E>()) };
    // SAFETY: forwarded to the caller.
    unsafe {
        if let Task::PackB(dst) = task {
            outer::pack_all_b::<E, O, NV>(p.k, p.n, p.b, dst);
            return;
        }
        if p.m == 0 || p.n == 0 {
            return;
        }
        if p.b_packed.is_null() && uses_dot(p.k, p.a.rs, p.a.cs, p.b.rs, p.b.cs) {
            dot::gemm::<E, D>(p);
        } else {
            outer::gemm::<E, O, MR, NV>(p);
        }
    }
}

/// Which kernel [`gemm`] uses: dot when A's rows and B's columns are contiguous and
/// `k ≥ DOT_MIN_K`. A function of the strides and k only (see the module doc).
pub fn uses_dot(k: usize, _rsa: isize, csa: isize, rsb: isize, _csb: isize) -> bool {
    k >= DOT_MIN_K && csa == 1 && rsb == 1
}

/// `c ← α·acc` (β = 0, C not read) or `c ← fma(β, c, α·acc)`: the last step of every
/// element of C, in both kernels and every instruction set.
#[inline(always)]
fn finish<E: Float>(acc: E, alpha: E, beta: E, c: &mut E) {
    let t = alpha * acc;
    *c = if beta == E::zero() {
        t
    } else {
        num_traits::Float::mul_add(beta, *c, t)
    };
}

/// A read-only strided matrix: element (i, j) at `ptr + i·rs + j·cs`.
struct Mat<E> {
    ptr: *const E,
    rs: isize,
    cs: isize,
}

/// A writable strided matrix.
struct MatMut<E> {
    ptr: *mut E,
    rs: isize,
    cs: isize,
}

// Copy for every E (a derive would ask E: Copy).
impl<E> Clone for Mat<E> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<E> Copy for Mat<E> {}
impl<E> Clone for MatMut<E> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<E> Copy for MatMut<E> {}

impl<E> Mat<E> {
    /// Element (i, j) at `ptr + i·rs + j·cs`.
    fn new(ptr: *const E, rs: isize, cs: isize) -> Mat<E> {
        Mat { ptr, rs, cs }
    }

    /// The sub-matrix starting at element (i, j), same strides.
    ///
    /// # Safety
    /// (i, j) must lie inside the matrix (or be its end).
    #[inline(always)]
    unsafe fn at(self, i: usize, j: usize) -> Mat<E> {
        // SAFETY: forwarded to the caller.
        let ptr = unsafe { self.ptr.offset(i as isize * self.rs + j as isize * self.cs) };
        Mat { ptr, ..self }
    }

    /// The same matrix read as elements of `F` (the caller knows `F` is `E`).
    fn cast<F>(self) -> Mat<F> {
        Mat::new(self.ptr.cast(), self.rs, self.cs)
    }
}

impl<E> MatMut<E> {
    /// Element (i, j) at `ptr + i·rs + j·cs`.
    fn new(ptr: *mut E, rs: isize, cs: isize) -> MatMut<E> {
        MatMut { ptr, rs, cs }
    }

    /// The sub-matrix starting at element (i, j), same strides.
    ///
    /// # Safety
    /// (i, j) must lie inside the matrix.
    #[inline(always)]
    unsafe fn at(self, i: usize, j: usize) -> MatMut<E> {
        // SAFETY: forwarded to the caller.
        let ptr = unsafe { self.ptr.offset(i as isize * self.rs + j as isize * self.cs) };
        MatMut { ptr, ..self }
    }

    /// The same matrix written as elements of `F` (the caller knows `F` is `E`).
    fn cast<F>(self) -> MatMut<F> {
        MatMut::new(self.ptr.cast(), self.rs, self.cs)
    }
}
