//! The outer kernel's per-thread copy buffers, and how to reserve them up front so that no
//! product allocates (notes/gemm.md §2, "No allocation after a reservation").

use std::cell::{Cell, RefCell};

use super::{available_for, outer, uses_dot};
use crate::Float;

thread_local! {
    /// The outer kernel's copies: a block of A (`OUTER_MC` × k) and the 2L-column panels of
    /// B (k × 2L each), made when the operand is not laid out for the kernel. Shared by
    /// `f32` and `f64` (they hold bytes). They grow to the largest product seen or reserved
    /// on this thread and are reused.
    static PANELS: RefCell<Panels> = const { RefCell::new(Panels::new()) };

    /// All of B packed once by a parallel product whose row blocks share it
    /// ([`super::with_packed_b`]); lent out (`None` here) while they run, so a product nested
    /// inside one of them on this thread (work stealing) finds it taken and packs its own.
    static SHARED_B: Cell<Option<AlignedBuf>> = const { Cell::new(Some(AlignedBuf::new())) };
}

/// The calling thread's shared-B buffer, grown to at least `bytes`, lent until the guard
/// drops; `None` while it is lent already.
pub(super) fn lend_shared_b(bytes: usize) -> Option<SharedBuf> {
    let mut buf = SHARED_B.with(Cell::take)?;
    buf.reserve(bytes);
    Some(SharedBuf(Some(buf)))
}

/// The lent shared-B buffer; given back to its thread's slot when dropped (also on unwind).
pub(super) struct SharedBuf(Option<AlignedBuf>);

impl SharedBuf {
    /// The start of the buffer (64-byte aligned).
    pub(super) fn ptr<E>(&self) -> *mut E {
        self.0
            .as_ref()
            .map_or(std::ptr::null_mut(), |b| b.ptr.cast())
    }
}

impl Drop for SharedBuf {
    fn drop(&mut self) {
        let buf = self.0.take();
        SHARED_B.with(|slot| slot.set(buf));
    }
}

/// The two per-thread copy buffers of the outer kernel.
struct Panels {
    a: AlignedBuf,
    b: AlignedBuf,
}

impl Panels {
    const fn new() -> Self {
        Panels {
            a: AlignedBuf::new(),
            b: AlignedBuf::new(),
        }
    }
}

/// Pointers to at least `a` and `b` elements of `E` in the calling thread's copy buffers
/// (grown if smaller; null when 0 is asked and none is held). Contents unspecified.
///
/// The pointers stay valid until the buffers grow again: no later call on this thread may
/// grow them while the caller uses them (the kernel never nests a product in a product).
pub(super) fn panels<E>(a: usize, b: usize) -> (*mut E, *mut E) {
    let size = size_of::<E>();
    PANELS.with(|panels| {
        let mut panels = panels.borrow_mut();
        (
            panels.a.reserve(a * size).cast(),
            panels.b.reserve(b * size).cast(),
        )
    })
}

/// Per-thread scratch the kernels use for one product, or the most any of several use: the
/// bytes of the outer kernel's copies of A and of B.
///
/// [`Scratch::for_product`] says what one product needs; [`reserve_scratch`] (this thread)
/// and [`reserve_scratch_in_pool`] (this thread and every worker of its rayon pool) make the
/// buffers that large up front, so that no later product of at most that size allocates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Scratch {
    /// Bytes for a copied block of A.
    pub a_bytes: usize,
    /// Bytes for the copied panels of B.
    pub b_bytes: usize,
}

impl Scratch {
    /// What [`super::gemm`] needs for A (m, k) · B (k, n) with these strides (in elements),
    /// on this CPU: nothing for the dot kernel, for the matrixmultiply fallback, or when the
    /// outer kernel reads both operands in place. A block of the product (fewer rows or
    /// columns, same strides — what the parallel [`crate::gemm()`] runs) needs no more.
    /// Every instruction set copies alike.
    pub fn for_product<T: Float>(
        k: usize,
        n: usize,
        rsa: isize,
        csa: isize,
        rsb: isize,
        csb: isize,
    ) -> Scratch {
        if !available_for::<T>() {
            return Scratch::default();
        }
        kernel_scratch::<T>(k, n, rsa, csa, rsb, csb)
    }

    /// The larger of each part: enough for either product.
    pub fn max(self, other: Scratch) -> Scratch {
        Scratch {
            a_bytes: self.a_bytes.max(other.a_bytes),
            b_bytes: self.b_bytes.max(other.b_bytes),
        }
    }
}

/// Grows the calling thread's kernel buffers to hold `s` (allocates only if they are
/// smaller; never shrinks them): the copies of A and B, and the buffer in which a parallel
/// product packs B once for all its row blocks (as large as the copy of B).
pub fn reserve_scratch(s: Scratch) {
    PANELS.with(|panels| {
        let mut panels = panels.borrow_mut();
        panels.a.reserve(s.a_bytes);
        panels.b.reserve(s.b_bytes);
    });
    drop(lend_shared_b(s.b_bytes));
}

/// What the calling thread's copy buffers hold now, in bytes (at least what was reserved
/// or used; the buffers grow in powers of two). The shared-B buffer, grown by
/// [`reserve_scratch`] with the copy of B, is not counted.
pub fn reserved_scratch() -> Scratch {
    PANELS.with(|panels| {
        let panels = panels.borrow();
        Scratch {
            a_bytes: panels.a.len,
            b_bytes: panels.b.len,
        }
    })
}

/// [`reserve_scratch`] on the calling thread and, when it is a worker of a rayon pool, on
/// every worker of that pool (one `rayon::broadcast`, skipped when `s` is empty).
///
/// Which worker runs which block of a parallel GEMM depends on scheduling, so a buffer made
/// lazily on a worker's first task would make "the first step that allocates nothing"
/// depend on scheduling too. Reserving on every worker up front makes it the first step
/// after this call. Call it inside the pool that will run the products (`pool.install`):
/// called from outside any pool it reserves on the calling thread only (rayon's global
/// pool is left alone, so this never starts it).
pub fn reserve_scratch_in_pool(s: Scratch) {
    reserve_scratch(s);
    if s != Scratch::default() && rayon::current_thread_index().is_some() {
        rayon::broadcast(|_| reserve_scratch(s));
    }
}

/// [`Scratch::for_product`] when the kernel runs, on whichever instruction set: the bytes of
/// the outer kernel's copies (none for the dot kernel).
pub(super) fn kernel_scratch<T: Float>(
    k: usize,
    n: usize,
    rsa: isize,
    csa: isize,
    rsb: isize,
    csb: isize,
) -> Scratch {
    if uses_dot(k, rsa, csa, rsb, csb) {
        return Scratch::default();
    }
    let (a, b) = outer::copy_len::<T>(k, n, outer::copies::<T>(csa, rsb, csb));
    Scratch {
        a_bytes: a * size_of::<T>(),
        b_bytes: b * size_of::<T>(),
    }
}

/// A growable byte buffer aligned to 64 bytes (a cache line; whole-vector loads never split
/// a line).
struct AlignedBuf {
    ptr: *mut u8,
    /// Bytes held.
    len: usize,
}

impl AlignedBuf {
    const fn new() -> Self {
        AlignedBuf {
            ptr: std::ptr::null_mut(),
            len: 0,
        }
    }

    fn layout(len: usize) -> std::alloc::Layout {
        std::alloc::Layout::from_size_align(len, 64).expect("panel size overflows")
    }

    /// A pointer to at least `len` bytes (contents unspecified); reallocates only to grow,
    /// to a power of two of at least 4 KiB.
    fn reserve(&mut self, len: usize) -> *mut u8 {
        if len > self.len {
            self.release();
            let len = len.next_power_of_two().max(4096);
            // SAFETY: the layout has non-zero size (len ≥ 4096).
            let ptr = unsafe { std::alloc::alloc(Self::layout(len)) };
            if ptr.is_null() {
                std::alloc::handle_alloc_error(Self::layout(len));
            }
            self.ptr = ptr;
            self.len = len;
        }
        self.ptr
    }

    fn release(&mut self) {
        if !self.ptr.is_null() {
            // SAFETY: allocated in `reserve` with this very layout.
            unsafe { std::alloc::dealloc(self.ptr, Self::layout(self.len)) };
            self.ptr = std::ptr::null_mut();
            self.len = 0;
        }
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        self.release();
    }
}
