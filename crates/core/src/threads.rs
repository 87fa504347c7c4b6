//! Thread pools whose every thread computes with flush-to-zero on (notes/gemm.md §4).
//!
//! Subnormal ("denormal") floats are handled by a slow microcode path on x86: once Adam's
//! second moments `v` decay below 1.2e-38, its f32 update ran 1.9–3.0× slower here. Flushing
//! them to zero changes results only below `f32::MIN_POSITIVE` (1.2e-38), far under anything
//! the model can resolve — but it *does* change them, so every thread that computes must have
//! the same mode. MXCSR is per thread: if the caller had FTZ on and a rayon worker had it off,
//! a result would depend on which thread happened to run a block. [`build_pool`] and
//! [`init_global_pool`] therefore switch it on in each worker's start handler, and
//! [`init_global_pool`] also on the calling thread.

/// MXCSR bit 15, "flush to zero": subnormal *results* are replaced by ±0.
#[cfg(target_arch = "x86_64")]
const MXCSR_FTZ: u32 = 1 << 15;
/// MXCSR bit 6, "denormals are zero": subnormal *inputs* are read as ±0.
#[cfg(target_arch = "x86_64")]
const MXCSR_DAZ: u32 = 1 << 6;

/// Switches flush-to-zero (FTZ) and denormals-are-zero (DAZ) on for the calling thread.
///
/// On x86_64 this sets bits 15 and 6 of MXCSR, the control register of SSE/AVX arithmetic
/// (which is all the arithmetic Rust emits for `f32`/`f64` on x86_64). Elsewhere it does
/// nothing. The setting belongs to the thread: call it on every thread that computes, or use
/// [`build_pool`] / [`init_global_pool`], which do.
pub fn enable_flush_to_zero() {
    #[cfg(target_arch = "x86_64")]
    {
        let mut csr: u32 = 0;
        // SAFETY: `stmxcsr` stores the 32-bit MXCSR into the 4 bytes at the given address, which
        // is a live, aligned, writable `u32` on our stack; `ldmxcsr` loads it back. Setting FTZ
        // and DAZ changes only how later SSE/AVX arithmetic on this thread rounds subnormals: no
        // memory, no exception unmasking (we leave the mask bits 7..=12 as they were), and every
        // x86_64 CPU implements both bits, so `ldmxcsr` cannot raise #GP. Not memory-related but
        // worth knowing: the compiler still assumes the default mode, so a float expression it
        // folds at compile time keeps a subnormal that run-time code would flush
        // (notes/gemm.md §4).
        unsafe {
            core::arch::asm!("stmxcsr dword ptr [{}]", in(reg) &raw mut csr, options(nostack, preserves_flags));
            csr |= MXCSR_FTZ | MXCSR_DAZ;
            core::arch::asm!("ldmxcsr dword ptr [{}]", in(reg) &raw const csr, options(nostack, preserves_flags));
        }
    }
}

/// Whether flush-to-zero and denormals-are-zero are both on for the calling thread.
///
/// Always `false` off x86_64, where [`enable_flush_to_zero`] does nothing.
pub fn flush_to_zero_enabled() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        let mut csr: u32 = 0;
        // SAFETY: `stmxcsr` only writes the 4 bytes of the live, aligned `u32` we pass.
        unsafe {
            core::arch::asm!("stmxcsr dword ptr [{}]", in(reg) &raw mut csr, options(nostack, preserves_flags));
        }
        csr & (MXCSR_FTZ | MXCSR_DAZ) == MXCSR_FTZ | MXCSR_DAZ
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Builds a rayon pool of `threads` workers, each running [`enable_flush_to_zero`] first.
///
/// `threads == 0` lets rayon choose (the `RAYON_NUM_THREADS` variable, else one per CPU).
/// Run work in it with `pool.install(|| ...)`; the thread that calls `install` only waits, so
/// its own float mode does not matter for work done inside.
///
/// # Errors
/// If the operating system refuses to start the threads.
pub fn build_pool(threads: usize) -> Result<rayon::ThreadPool, rayon::ThreadPoolBuildError> {
    pool_builder(threads).build()
}

/// `threads` workers named `glassbox-<i>`, each switching flush-to-zero on as it starts.
fn pool_builder(threads: usize) -> rayon::ThreadPoolBuilder {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("glassbox-{i}"))
        .start_handler(|_| enable_flush_to_zero())
}

/// Sets up rayon's global pool with flush-to-zero on every worker, and on the calling thread.
///
/// `None` (or `Some(0)`) lets rayon choose the thread count. Call it once, early in `main`,
/// before anything uses rayon: the calling thread computes too (every GEMM below the parallel
/// threshold runs on it), so it gets flush-to-zero as well.
///
/// # Errors
/// If the global pool was already initialised (by an earlier call, or implicitly by a rayon
/// call made before this one), or the threads cannot be started.
pub fn init_global_pool(threads: Option<usize>) -> Result<(), rayon::ThreadPoolBuildError> {
    enable_flush_to_zero();
    pool_builder(threads.unwrap_or(0)).build_global()
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use std::hint::black_box;

    use super::*;

    /// 1e-20² = 1e-40 (f32) and 1e-160² = 1e-320 (f64): both subnormal, non-zero results.
    fn subnormal_products() -> (f32, f64) {
        (
            black_box(1e-20f32) * black_box(1e-20f32),
            black_box(1e-160f64) * black_box(1e-160f64),
        )
    }

    /// A subnormal *input* times a large number: 1e-40 · 1e30 = 1e-10 unless DAZ reads it as 0.
    fn subnormal_input_product() -> f32 {
        black_box(1e-40f32) * black_box(1e30f32)
    }

    #[test]
    fn flush_to_zero_flushes_on_the_caller() {
        // A fresh thread, so the test harness's threads keep their mode.
        std::thread::spawn(|| {
            // Negative control: by default subnormals are kept.
            assert!(!flush_to_zero_enabled());
            let (p32, p64) = subnormal_products();
            assert!(p32.is_subnormal() && p64.is_subnormal(), "{p32:e} {p64:e}");
            assert!((subnormal_input_product() - 1e-10).abs() < 1e-15);

            enable_flush_to_zero();
            assert!(flush_to_zero_enabled());
            assert_eq!(
                subnormal_products(),
                (0.0, 0.0),
                "FTZ: subnormal results become 0"
            );
            assert_eq!(
                subnormal_input_product(),
                0.0,
                "DAZ: subnormal inputs read as 0"
            );
            // Normal numbers are untouched.
            assert_eq!(black_box(1.5f32) * black_box(2.0f32), 3.0);
            assert_eq!(
                black_box(f32::MIN_POSITIVE) * black_box(1.0f32),
                f32::MIN_POSITIVE
            );
        })
        .join()
        .expect("test thread");
    }

    #[test]
    fn every_pool_thread_flushes() {
        let pool = build_pool(3).expect("pool");
        let per_thread = pool.broadcast(|_| (flush_to_zero_enabled(), subnormal_products()));
        assert_eq!(per_thread, vec![(true, (0.0, 0.0)); 3]);
        assert_eq!(pool.install(subnormal_products), (0.0, 0.0));
        // Negative control: a plain rayon pool keeps subnormals.
        let plain = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .expect("pool");
        let (p32, _) = plain.install(subnormal_products);
        assert!(p32.is_subnormal(), "{p32:e}");
    }
}
