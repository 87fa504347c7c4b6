//! Helpers shared by the GEMM test binaries (`gemm.rs`, `isa.rs`): operands in every
//! stride layout, value generators and the sizes they sweep.

#![allow(dead_code)] // each binary uses its own subset

use glassbox_core::Float;
use ndarray::{Array2, ArrayView2, ArrayViewMut2, ShapeBuilder, s};
use rand::Rng as _;
use rand_distr::StandardNormal;

// ---------------------------------------------------------------------------------------------
// Operands in every stride layout. A matrix is a strided window into a larger base buffer
// whose other elements hold a sentinel; its logical element (i, j) has the same value in
// every layout, so results can be compared across layouts.

/// How a logical (rows, cols) matrix sits in memory.
#[derive(Clone, Copy, Debug)]
pub struct Lay {
    pub name: &'static str,
    /// Base buffer in column-major (Fortran) order.
    fortran: bool,
    /// The view is `.t()` of a (cols, rows) window.
    transposed: bool,
    /// Steps of the window along the base's axes 0 and 1 (negative: reversed).
    steps: (isize, isize),
}

pub const LAYOUTS: [Lay; 8] = [
    Lay {
        name: "row-major",
        fortran: false,
        transposed: false,
        steps: (1, 1),
    },
    Lay {
        name: "col-major",
        fortran: true,
        transposed: false,
        steps: (1, 1),
    },
    Lay {
        name: "transposed",
        fortran: false,
        transposed: true,
        steps: (1, 1),
    },
    Lay {
        name: "rows-step-2",
        fortran: false,
        transposed: false,
        steps: (2, 1),
    },
    Lay {
        name: "f-step-2x3",
        fortran: true,
        transposed: false,
        steps: (2, 3),
    },
    Lay {
        name: "neg-rows",
        fortran: false,
        transposed: false,
        steps: (-1, 1),
    },
    Lay {
        name: "f-neg-both",
        fortran: true,
        transposed: false,
        steps: (-1, -2),
    },
    Lay {
        name: "transposed-neg",
        fortran: false,
        transposed: true,
        steps: (-2, 1),
    },
];

/// Border of sentinel elements around every window.
const PAD: usize = 2;

/// A base buffer holding one matrix window.
pub struct Strided<T> {
    pub base: Array2<T>,
    pub lay: Lay,
    pub shape: (usize, usize),
}

impl<T: Float> Strided<T> {
    /// A (rows, cols) matrix with element (i, j) = `f(i, j)`, every other element of the
    /// base buffer `sentinel`.
    pub fn new(
        lay: Lay,
        shape: (usize, usize),
        sentinel: T,
        f: impl Fn(usize, usize) -> T,
    ) -> Self {
        let (wr, wc) = if lay.transposed {
            (shape.1, shape.0)
        } else {
            shape
        };
        let base_shape = (
            2 * PAD + wr * lay.steps.0.unsigned_abs(),
            2 * PAD + wc * lay.steps.1.unsigned_abs(),
        );
        let base = Array2::from_elem(base_shape.set_f(lay.fortran), sentinel);
        let mut m = Strided { base, lay, shape };
        m.view_mut()
            .indexed_iter_mut()
            .for_each(|((i, j), x)| *x = f(i, j));
        m
    }

    fn window_ranges(&self) -> (usize, usize, usize, usize) {
        let (wr, wc) = if self.lay.transposed {
            (self.shape.1, self.shape.0)
        } else {
            self.shape
        };
        let r_end = PAD + wr * self.lay.steps.0.unsigned_abs();
        let c_end = PAD + wc * self.lay.steps.1.unsigned_abs();
        (PAD, r_end, PAD, c_end)
    }

    pub fn view(&self) -> ArrayView2<'_, T> {
        let (r0, r1, c0, c1) = self.window_ranges();
        let (sr, sc) = self.lay.steps;
        let w = self.base.slice(s![r0..r1;sr, c0..c1;sc]);
        if self.lay.transposed {
            w.reversed_axes()
        } else {
            w
        }
    }

    pub fn view_mut(&mut self) -> ArrayViewMut2<'_, T> {
        let (r0, r1, c0, c1) = self.window_ranges();
        let (sr, sc) = self.lay.steps;
        let w = self.base.slice_mut(s![r0..r1;sr, c0..c1;sc]);
        if self.lay.transposed {
            w.reversed_axes()
        } else {
            w
        }
    }

    /// Asserts every base element outside the window still holds `sentinel` (bit for bit).
    pub fn assert_outside_untouched(&mut self, sentinel: T, what: impl Fn() -> String) {
        let mut copy = Strided {
            base: self.base.clone(),
            lay: self.lay,
            shape: self.shape,
        };
        copy.view_mut().fill(sentinel);
        for ((i, j), x) in copy.base.indexed_iter() {
            assert!(
                f64_of(*x).to_bits() == f64_of(sentinel).to_bits(),
                "{}: base element ({i}, {j}) outside C changed to {x}",
                what()
            );
        }
    }
}

/// Small integers in [-4, 4], a hash of (seed, i, j): every product and every k-sum in these
/// tests is exact in f32 and f64, so any correct GEMM matches the naive loop exactly.
pub fn int_val<T: Float>(seed: usize, i: usize, j: usize) -> T {
    let h = (seed.wrapping_mul(0x9E37_79B9)
        ^ i.wrapping_mul(0x85EB_CA6B)
        ^ j.wrapping_mul(0xC2B2_AE35))
    .wrapping_mul(0x27D4_EB2F);
    T::from_f64(((h >> 7) % 9) as f64 - 4.0)
}

/// Standard-normal floats from a seeded RNG: sums of these round differently in every order,
/// so bit-identity between two runs means the same operations in the same order.
pub fn normal_matrix<T: Float>(seed: u64, shape: (usize, usize)) -> Array2<T> {
    let mut rng = glassbox_core::seeded_rng(seed);
    Array2::from_shape_simple_fn(shape, || T::from_f64(rng.sample::<f64, _>(StandardNormal)))
}

/// `x` as f64, exactly (glassbox's `Float::to_f64`, not num-traits' fallible one).
pub fn f64_of<T: Float>(x: T) -> f64 {
    <T as Float>::to_f64(x)
}

pub fn bits<T: Float>(x: ArrayView2<T>) -> Vec<u64> {
    x.iter().map(|v| f64_of(*v).to_bits()).collect()
}

/// α, β pairs: identity, accumulate, scaled, α = 0, and fractional (exact on integers).
pub const ALPHA_BETA: [(f64, f64); 6] = [
    (1.0, 0.0),
    (1.0, 1.0),
    (-2.0, 1.0),
    (0.5, -0.5),
    (0.0, 3.0),
    (3.0, -1.0),
];

/// Sizes off every kernel tile and block boundary; the last ones take the parallel path.
pub const AWKWARD: [(usize, usize, usize); 10] = [
    (17, 257, 3),
    (1, 1000, 1),
    (1, 1, 1000),
    (1000, 1, 1),
    (33, 0, 9),
    (63, 65, 129),
    (266, 265, 64),
    (129, 64, 130),
    (70, 600, 300),
    (600, 70, 129),
];
