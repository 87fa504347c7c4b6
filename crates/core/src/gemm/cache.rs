//! The data caches of the CPU this process runs on, as the CPU reports them (CPUID), for the
//! outer kernel's cache blocking (notes/gemm.md §2a, "Blocking from the cache sizes").
//!
//! Read once, from CPUID leaf 4 (Intel) or 0x8000_001D (AMD): each sub-leaf describes one
//! cache — its type, level, ways, partitions, line size and sets, whose product is its size.
//! No file is read (the core crate does no I/O). Where CPUID says nothing (another
//! architecture, a hypervisor that hides the leaf), [`CacheSizes::DEFAULT`]. The sizes
//! decide only what stays in cache, never a bit of a result.

use std::sync::OnceLock;

/// The sizes, in bytes, of one core's level-1 data cache and level-2 cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheSizes {
    /// Level-1 data cache.
    pub l1d: usize,
    /// Level-2 cache (unified).
    pub l2: usize,
}

impl CacheSizes {
    /// What the kernel assumes when the CPU does not say: 32 KiB and 512 KiB, the smallest
    /// of the project's machines (AMD EPYC Zen 3; the Sapphire-Rapids Xeon has 48 KiB and
    /// 2 MiB), so a block sized from them fits on either.
    pub const DEFAULT: CacheSizes = CacheSizes {
        l1d: 32 << 10,
        l2: 512 << 10,
    };
}

/// This CPU's cache sizes (CPUID, read at the first call), or [`CacheSizes::DEFAULT`] for
/// any level it does not report.
pub fn cache_sizes() -> CacheSizes {
    static SIZES: OnceLock<CacheSizes> = OnceLock::new();
    *SIZES.get_or_init(|| {
        let found = reported();
        CacheSizes {
            l1d: found.0.unwrap_or(CacheSizes::DEFAULT.l1d),
            l2: found.1.unwrap_or(CacheSizes::DEFAULT.l2),
        }
    })
}

/// The L1D and L2 sizes CPUID reports, if it does.
#[cfg(target_arch = "x86_64")]
fn reported() -> (Option<usize>, Option<usize>) {
    use std::arch::x86_64::__cpuid_count;
    // Leaf 0: the vendor and the highest leaf.
    let vendor = __cpuid_count(0, 0);
    let amd = vendor.ebx == u32::from_le_bytes(*b"Auth");
    let (leaf, max_leaf) = if amd {
        // 0x8000_0000: the highest extended leaf.
        (0x8000_001D, __cpuid_count(0x8000_0000, 0).eax)
    } else {
        (4, vendor.eax)
    };
    let (mut l1d, mut l2) = (None, None);
    if max_leaf < leaf {
        return (l1d, l2);
    }
    for sub in 0..16 {
        let r = __cpuid_count(leaf, sub);
        let kind = r.eax & 0x1f; // 0: no more caches, 1: data, 2: instruction, 3: unified
        if kind == 0 {
            break;
        }
        let level = (r.eax >> 5) & 0x7;
        let ways = ((r.ebx >> 22) & 0x3ff) as usize + 1;
        let partitions = ((r.ebx >> 12) & 0x3ff) as usize + 1;
        let line = (r.ebx & 0xfff) as usize + 1;
        let sets = r.ecx as usize + 1;
        let size = ways * partitions * line * sets;
        match (level, kind) {
            (1, 1) => l1d = Some(size),
            (2, 1 | 3) => l2 = Some(size),
            _ => {}
        }
    }
    (l1d, l2)
}

/// Off x86_64 the CPU is not asked.
#[cfg(not(target_arch = "x86_64"))]
fn reported() -> (Option<usize>, Option<usize>) {
    (None, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whatever the CPU says, the sizes are plausible caches: a level-1 data cache of 8 KiB to
    /// 1 MiB, a level 2 at least as large, and the same answer every time.
    #[test]
    fn cache_sizes_are_plausible_and_stable() {
        let s = cache_sizes();
        assert!((8 << 10..=1 << 20).contains(&s.l1d), "{s:?}");
        assert!(s.l2 >= s.l1d && s.l2 <= 1 << 30, "{s:?}");
        assert_eq!(cache_sizes(), s);
        eprintln!("cache sizes: {s:?}");
    }
}
