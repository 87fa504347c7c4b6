//! The float trait: every op in glassbox runs in `f32` (training default) and `f64`
//! (gradient checks, audits). Both run glassbox's own GEMM kernel ([`crate::gemm::kernel`])
//! where it runs; [`Float::gemm_raw`] is the fallback elsewhere, each type calling its own
//! matrixmultiply kernel.

use std::fmt::{Debug, Display};
use std::iter::Sum;
use std::ops::{AddAssign, DivAssign, MulAssign, SubAssign};

use ndarray::{LinalgScalar, ScalarOperand};

/// A floating-point element type the engine computes in.
pub trait Float:
    num_traits::Float
    + LinalgScalar
    + ScalarOperand
    + AddAssign
    + SubAssign
    + MulAssign
    + DivAssign
    + Sum
    + Default
    + Debug
    + Display
    + Send
    + Sync
    + 'static
{
    /// `"f32"` or `"f64"`: written into manifests and safetensors dtypes.
    const NAME: &'static str;

    /// Converts from `f64`, rounding to nearest.
    fn from_f64(x: f64) -> Self;

    /// Converts to `f64` exactly.
    fn to_f64(self) -> f64;

    /// (N3, N26) `(sin v, cos v)` of the PLR phase v = 2π·c·x. f32: t = c·x in turns through
    /// [`crate::turns::sin_cos_turns`] (branch-free, the same bits vectorised); f64, the
    /// gradient-check and audit type: `v = (2π·c)·x` and std `sin`, `cos`.
    fn plr_phase(c: Self, x: Self) -> (Self, Self);

    /// Raw single-threaded GEMM `C ← α·A·B + β·C` on strided memory (matrixmultiply's
    /// contract): matrixmultiply's `sgemm`/`dgemm`, which [`crate::gemm_serial`] falls back to
    /// (through [`crate::gemm::gemm_fallback`]) when [`crate::gemm::kernel::gemm`] does not
    /// run. Allocates a packing buffer on every call.
    ///
    /// A is (m, k), B is (k, n), C is (m, n); strides are in elements and may be negative.
    /// If `beta` is zero, C need not be initialised (NaN in C is overwritten).
    ///
    /// # Safety
    /// The pointers and strides must describe valid, non-overlapping matrices of the given
    /// shapes; C must be writable for every index it describes.
    #[allow(clippy::too_many_arguments)]
    unsafe fn gemm_raw(
        m: usize,
        k: usize,
        n: usize,
        alpha: Self,
        a: *const Self,
        rsa: isize,
        csa: isize,
        b: *const Self,
        rsb: isize,
        csb: isize,
        beta: Self,
        c: *mut Self,
        rsc: isize,
        csc: isize,
    );
}

impl Float for f32 {
    const NAME: &'static str = "f32";

    fn from_f64(x: f64) -> Self {
        x as f32
    }

    fn to_f64(self) -> f64 {
        self as f64
    }

    #[inline(always)]
    fn plr_phase(c: f32, x: f32) -> (f32, f32) {
        crate::turns::sin_cos_turns(c * x)
    }

    unsafe fn gemm_raw(
        m: usize,
        k: usize,
        n: usize,
        alpha: Self,
        a: *const Self,
        rsa: isize,
        csa: isize,
        b: *const Self,
        rsb: isize,
        csb: isize,
        beta: Self,
        c: *mut Self,
        rsc: isize,
        csc: isize,
    ) {
        // SAFETY: forwarded contract, see the trait method.
        unsafe {
            matrixmultiply::sgemm(m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc)
        }
    }
}

impl Float for f64 {
    const NAME: &'static str = "f64";

    fn from_f64(x: f64) -> Self {
        x
    }

    fn to_f64(self) -> f64 {
        self
    }

    #[inline(always)]
    fn plr_phase(c: f64, x: f64) -> (f64, f64) {
        let v = std::f64::consts::TAU * c * x;
        (v.sin(), v.cos())
    }

    unsafe fn gemm_raw(
        m: usize,
        k: usize,
        n: usize,
        alpha: Self,
        a: *const Self,
        rsa: isize,
        csa: isize,
        b: *const Self,
        rsb: isize,
        csb: isize,
        beta: Self,
        c: *mut Self,
        rsc: isize,
        csc: isize,
    ) {
        // SAFETY: forwarded contract, see the trait method.
        unsafe {
            matrixmultiply::dgemm(m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc)
        }
    }
}
