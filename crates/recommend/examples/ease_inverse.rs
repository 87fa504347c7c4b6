//! CPU time of EASE's inverse (K21 Gauss–Jordan against K22 blocked Cholesky) on the
//! Online Retail training matrix (cutoff 2011-10-01, λ = 300). One method per run, so GNU time
//! measures it alone:
//!
//!   scripts/recommend_ease_inverse.sh        (from the repo root; interleaves both, 3 rounds)

use std::time::Instant;

use glassbox_recommend::ease::{invert_spd, invert_spd_blocked};
use glassbox_recommend::knn::co_buyers;

mod common;

use common::online_retail;

fn main() {
    let method = std::env::args().nth(1).unwrap_or_else(|| "blocked".into());
    let split = online_retail().test;
    let n = split.items.len();
    let (_, co) = co_buyers(&split);
    let mut g: Vec<f64> = co.into_iter().map(f64::from).collect();
    for i in 0..n {
        g[i * n + i] += 300.0;
    }
    let t = Instant::now();
    match method.as_str() {
        "gauss-jordan" => invert_spd(&mut g, n),
        "blocked" => invert_spd_blocked(&mut g, n),
        other => panic!("unknown method {other} (gauss-jordan | blocked)"),
    }
    let trace: f64 = (0..n).map(|i| g[i * n + i]).sum();
    println!(
        "{method}: n {n}, inverse {:.2} s wall, trace of P {trace:.12e}",
        t.elapsed().as_secs_f64()
    );
}
