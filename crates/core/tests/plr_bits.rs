//! (N27) The bits of a PLR forward and backward on fixed inputs, pinned: FNV-1a hashes of
//! everything the loops of `glassbox_core::tabular` write, committed from the code before
//! session 15's register accumulation (base 7d33035). The rewrite must keep every bit, f32
//! and f64, on every ISA; `tests/tabular_layers.rs::plr_matches_plain_per_row_loops_bit_for_bit`
//! checks the same against plain loops at other shapes.

use glassbox_core::tabular::{plr_delta, plr_forward, plr_input_gradient, plr_param_gradients};
use glassbox_core::{Float, Plr, PlrSpec, seeded_rng};
use ndarray::Array2;

/// FNV-1a over the little-endian bytes of each value's bits (as f64 bits for both types, so
/// one function serves f32 and f64: the conversion f32 → f64 is exact).
fn fnv<T: Float>(values: impl Iterator<Item = T>) -> u64 {
    values.fold(0xcbf2_9ce4_8422_2325, |h, v| {
        v.to_f64()
            .to_bits()
            .to_le_bytes()
            .iter()
            .fold(h, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
    })
}

/// The hash of y, g, ∂L/∂x, the parameter gradients of all `n` rows from zero, and those of
/// rows 5..n−3 added onto a non-zero buffer (a shard's sum), for D features, K, H, batch n.
fn step_hash<T: Float>(d: usize, k: usize, h: usize, n: usize) -> u64 {
    let spec = PlrSpec {
        features: d,
        frequencies: k,
        units: h,
        sigma: 1.0,
    };
    let plr = Plr::<T>::new(spec, &mut seeded_rng(7));
    let params = [&plr.freq[..], &plr.weight, &plr.bias].concat();
    let x = Array2::from_shape_fn((n, d), |(r, c)| {
        T::from_f64(((r * d + c) as f64 * 0.377).sin() * 2.0)
    });
    let dh = d * h;
    let mut periodic = vec![T::zero(); n * d * 2 * k];
    let (mut z, mut y) = (vec![T::zero(); n * dh], vec![T::zero(); n * dh]);
    plr_forward(&spec, &params, x.view(), &mut periodic, &mut z, &mut y);
    let mut delta: Vec<T> = (0..n * dh)
        .map(|i| T::from_f64((i as f64 * 0.13).cos() / n as f64))
        .collect();
    let mut g = vec![T::zero(); n * d * k];
    plr_delta(&spec, &params, n, &periodic, &z, &mut delta, &mut g);
    let mut grads = vec![T::zero(); spec.num_params()];
    plr_param_gradients(&spec, x.view(), &periodic, &delta, &g, 0..n, &mut grads);
    let mut shard: Vec<T> = (0..spec.num_params())
        .map(|i| T::from_f64((i as f64 * 0.61).sin()))
        .collect();
    plr_param_gradients(&spec, x.view(), &periodic, &delta, &g, 5..n - 3, &mut shard);
    let mut d_x = Array2::zeros((n, d));
    plr_input_gradient(&spec, &params, &g, d_x.view_mut());
    let all = y
        .into_iter()
        .chain(z)
        .chain(delta)
        .chain(g)
        .chain(d_x)
        .chain(grads)
        .chain(shard);
    fnv(all)
}

/// The shapes: the next-hour case (D = 46) and the shoppers table (D = 79) at K = 8, H = 4,
/// batch 64, then shapes whose K and H leave remainders in every block size (8, 4, 1) and a
/// batch over the 64-row task block.
const SHAPES: [(usize, usize, usize, usize); 5] = [
    (46, 8, 4, 64),
    (79, 8, 4, 64),
    (13, 5, 9, 131),
    (7, 13, 15, 70),
    (3, 1, 1, 9),
];

#[test]
fn plr_step_bits_are_pinned_f32() {
    let pinned: [u64; 5] = [
        0x4887_1d17_1781_d6db,
        0x8467_fcb9_1694_833a,
        0x91ff_2dec_62a5_7ede,
        0x0c9f_d903_b116_7196,
        0x2a39_c413_760d_bc06,
    ];
    let got: Vec<u64> = SHAPES
        .iter()
        .map(|&(d, k, h, n)| step_hash::<f32>(d, k, h, n))
        .collect();
    assert_eq!(got, pinned, "f32 hashes {got:#018x?}");
}

#[test]
fn plr_step_bits_are_pinned_f64() {
    let pinned: [u64; 5] = [
        0x717f_af4a_e4e4_5e2d,
        0x852a_2e24_31d9_ece5,
        0xaad8_de35_aecf_5294,
        0xb4c0_5804_be0c_0835,
        0xcb22_5ee7_fa5d_585f,
    ];
    let got: Vec<u64> = SHAPES
        .iter()
        .map(|&(d, k, h, n)| step_hash::<f64>(d, k, h, n))
        .collect();
    assert_eq!(got, pinned, "f64 hashes {got:#018x?}");
}
