//! Cache hints for the row loop. A row's first loads (the user's state, its recent events, its
//! items' counters) are cache misses that depend on each other, so the loop asks for the
//! memory of rows a few places ahead. A hint never faults and changes no value: results are
//! the same bits with or without it (and on targets without one it does nothing).

/// Asks for the cache line holding `value` to be brought close to the core.
#[inline(always)]
pub(crate) fn prefetch<T>(value: &T) {
    hint((value as *const T).cast::<u8>());
}

/// [`prefetch`] for every cache line of `values`, up to `max_bytes` of them.
#[inline(always)]
pub(crate) fn prefetch_slice<T>(values: &[T], max_bytes: usize) {
    const LINE: usize = 64;
    let bytes = std::mem::size_of_val(values).min(max_bytes);
    let base = values.as_ptr().cast::<u8>();
    for offset in (0..bytes).step_by(LINE) {
        hint(base.wrapping_add(offset));
    }
}

#[inline(always)]
fn hint(address: *const u8) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // SAFETY: SSE is part of the x86-64 baseline; a prefetch reads nothing and never
        // faults, whatever the address.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(address.cast::<i8>()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = address;
}
