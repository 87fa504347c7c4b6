//! One PLR forward + backward, timed alone at the shapes the cases use (notes/tabular.md
//! §10): the loops of `glassbox_core::tabular` that a training step of a PLR network runs —
//! [`plr_forward`] (N3, N4, N26), [`plr_delta`] (N5, N8), [`plr_param_gradients`] (N7, N9)
//! and [`plr_input_gradient`] (N9) — on buffers allocated once, f32, batch 64:
//!
//! - `next-hour`: the next-hour case's 46 features, plr(k=8,h=4) on every column;
//! - `shoppers`: the shoppers table's 79 encoded columns, `--embedding plr`, K = 8, H = 4
//!   (the shape of the session-14 profile, notes/tabular.md §9).
//!
//! ```text
//! cargo run --release -p glassbox-core --example plr_step [REPS=2000] [ROUNDS=5]
//! ```
//!
//! Prints, per shape, the medians over ROUNDS of the wall and CPU time per step (ns) and an FNV-1a hash of
//! the bits of everything the step wrote (y, g, ∂L/∂x, ∂L/∂(c, W, b)): two builds that print
//! the same hash computed the same bits. Run it with `RAYON_NUM_THREADS=1` for one core.

use std::hint::black_box;
use std::time::Instant;

use glassbox_core::tabular::{plr_delta, plr_forward, plr_input_gradient, plr_param_gradients};
use glassbox_core::{Plr, PlrSpec, seeded_rng};
use ndarray::Array2;

/// The buffers of one PLR step at batch `n`, filled by [`Case::step`].
struct Case {
    spec: PlrSpec,
    params: Vec<f32>,
    x: Array2<f32>,
    d_y: Vec<f32>,
    periodic: Vec<f32>,
    z: Vec<f32>,
    y: Vec<f32>,
    delta: Vec<f32>,
    g: Vec<f32>,
    grads: Vec<f32>,
    d_x: Array2<f32>,
}

impl Case {
    fn new(features: usize, frequencies: usize, units: usize, n: usize) -> Case {
        let spec = PlrSpec {
            features,
            frequencies,
            units,
            sigma: 1.0,
        };
        let plr = Plr::<f32>::new(spec, &mut seeded_rng(7));
        let params = [&plr.freq[..], &plr.weight, &plr.bias].concat();
        let x = Array2::from_shape_fn((n, features), |(r, d)| {
            ((r * features + d) as f32 * 0.377).sin() * 2.0
        });
        let dh = features * units;
        let d_y = (0..n * dh)
            .map(|i| (i as f32 * 0.13).cos() / n as f32)
            .collect();
        Case {
            spec,
            params,
            x,
            d_y,
            periodic: vec![0.0; n * features * 2 * frequencies],
            z: vec![0.0; n * dh],
            y: vec![0.0; n * dh],
            delta: vec![0.0; n * dh],
            g: vec![0.0; n * features * frequencies],
            grads: vec![0.0; spec.num_params()],
            d_x: Array2::zeros((n, features)),
        }
    }

    /// One forward and backward: what a training step of the layer computes.
    fn step(&mut self) {
        let n = self.x.nrows();
        let s = &self.spec;
        plr_forward(
            s,
            &self.params,
            self.x.view(),
            &mut self.periodic,
            &mut self.z,
            &mut self.y,
        );
        self.delta.copy_from_slice(&self.d_y);
        plr_delta(
            s,
            &self.params,
            n,
            &self.periodic,
            &self.z,
            &mut self.delta,
            &mut self.g,
        );
        self.grads.fill(0.0);
        plr_param_gradients(
            s,
            self.x.view(),
            &self.periodic,
            &self.delta,
            &self.g,
            0..n,
            &mut self.grads,
        );
        plr_input_gradient(s, &self.params, &self.g, self.d_x.view_mut());
    }

    /// FNV-1a over the bits of y, g, ∂L/∂x and the parameter gradients.
    fn hash(&self) -> u64 {
        let values = self
            .y
            .iter()
            .chain(&self.g)
            .chain(self.d_x.iter())
            .chain(&self.grads);
        values.fold(0xcbf2_9ce4_8422_2325, |h, v| {
            v.to_bits()
                .to_le_bytes()
                .iter()
                .fold(h, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
        })
    }
}

/// The process's user + system CPU in seconds (Linux `/proc/self/stat`, clock ticks of
/// 1/100 s), or `None` elsewhere.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i)?.parse::<f64>().ok();
    // Fields 14 and 15 of the file (utime, stime) are 11 and 12 after the command name.
    Some((ticks(11)? + ticks(12)?) / 100.0)
}

fn arg(i: usize, default: usize) -> usize {
    std::env::args()
        .nth(i)
        .map_or(default, |a| a.parse().unwrap_or(default))
}

fn main() {
    let (reps, rounds) = (arg(1, 2000), arg(2, 5).max(1));
    for (name, d) in [("next-hour", 46), ("shoppers", 79)] {
        let mut case = Case::new(d, 8, 4, 64);
        case.step();
        let hash = case.hash();
        let (mut walls, mut cpus) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            let (start, cpu) = (Instant::now(), cpu_seconds());
            for _ in 0..reps {
                case.step();
                black_box(&case.grads);
            }
            walls.push(start.elapsed().as_secs_f64() * 1e9 / reps as f64);
            if let (Some(a), Some(b)) = (cpu, cpu_seconds()) {
                cpus.push((b - a) * 1e9 / reps as f64);
            }
        }
        let median = |mut v: Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
        };
        println!(
            "{name}: D={d} K=8 H=4 N=64: {:.0} ns wall, {:.0} ns CPU per forward+backward \
             (medians of {rounds} x {reps}); bits {hash:016x}",
            median(walls),
            median(cpus)
        );
    }
}
