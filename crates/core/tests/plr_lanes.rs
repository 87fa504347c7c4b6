//! (N28, N30) The PLR forward's eight-row blocks against plain per-row loops, bit for bit, at
//! the widths where the phases go side by side by 8 × 8 register transposes (2K a multiple of
//! 8: K = 4, 8, 12, 16) and at one where they go one value at a time (K = 5), with batches
//! that leave rows outside the blocks.

use glassbox_core::tabular::plr_forward;
use glassbox_core::{Float, Plr, PlrSpec, seeded_rng};
use ndarray::Array2;

/// p, z and y of `x` by the plain loops of N3 and N4: per row and feature, the phases, then
/// each unit's sum from b in increasing j, plain `×` then `+`.
fn plain<T: Float>(plr: &Plr<T>, x: &Array2<T>) -> (Vec<T>, Vec<T>, Vec<T>) {
    let PlrSpec {
        features: d_n,
        frequencies: k_n,
        units: h_n,
        ..
    } = plr.spec;
    let (mut p, mut z, mut y) = (Vec::new(), Vec::new(), Vec::new());
    for row in x.rows() {
        for d in 0..d_n {
            let phases: Vec<(T, T)> = (0..k_n)
                .map(|k| T::plr_phase(plr.freq[d * k_n + k], row[d]))
                .collect();
            let p_d: Vec<T> = phases
                .iter()
                .map(|v| v.0)
                .chain(phases.iter().map(|v| v.1))
                .collect();
            for h in 0..h_n {
                let w = &plr.weight[(d * h_n + h) * 2 * k_n..(d * h_n + h + 1) * 2 * k_n];
                let mut acc = plr.bias[d * h_n + h];
                for (&wj, &pj) in w.iter().zip(&p_d) {
                    acc += wj * pj;
                }
                z.push(acc);
                y.push(acc.max(T::zero()));
            }
            p.extend(p_d);
        }
    }
    (p, z, y)
}

fn same_bits<T: Float>(a: &[T], b: &[T]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(&u, &v)| Float::to_f64(u).to_bits() == Float::to_f64(v).to_bits())
}

fn check<T: Float>(d: usize, k: usize, h: usize, n: usize) {
    let spec = PlrSpec {
        features: d,
        frequencies: k,
        units: h,
        sigma: 1.0,
    };
    let plr = Plr::<T>::new(spec, &mut seeded_rng(11));
    let params = [&plr.freq[..], &plr.weight, &plr.bias].concat();
    let x = Array2::from_shape_fn((n, d), |(r, c)| {
        T::from_f64(((r * d + c) as f64 * 0.291).cos() * 3.0)
    });
    let mut p = vec![T::zero(); n * d * 2 * k];
    let (mut z, mut y) = (vec![T::zero(); n * d * h], vec![T::zero(); n * d * h]);
    plr_forward(&spec, &params, x.view(), &mut p, &mut z, &mut y);
    let (p0, z0, y0) = plain(&plr, &x);
    let shape = format!("{} D={d} K={k} H={h} N={n}", T::NAME);
    assert!(same_bits(&p, &p0), "p differs, {shape}");
    assert!(same_bits(&z, &z0), "z differs, {shape}");
    assert!(same_bits(&y, &y0), "y differs, {shape}");
}

#[test]
fn eight_row_blocks_match_plain_loops_f32() {
    for (d, k, h, n) in [
        (5, 4, 3, 17),
        (46, 8, 4, 70),
        (3, 12, 1, 24),
        (2, 16, 5, 9),
        (4, 5, 4, 19),
    ] {
        check::<f32>(d, k, h, n);
    }
}

#[test]
fn eight_row_blocks_match_plain_loops_f64() {
    for (d, k, h, n) in [(5, 4, 3, 17), (3, 8, 4, 33), (4, 5, 4, 19)] {
        check::<f64>(d, k, h, n);
    }
}
