//! CPU time of EASE's inverse (K21 Gauss–Jordan against K22 blocked Cholesky) on the
//! Online Retail training matrix (cutoff 2011-10-01, λ = 300). One method per run, so GNU time
//! measures it alone:
//!
//!   scripts/recommend_ease_inverse.sh        (from the repo root; interleaves both, 3 rounds)

use std::path::PathBuf;
use std::time::Instant;

use glassbox_recommend::Split;
use glassbox_recommend::ease::{invert_spd, invert_spd_blocked};
use glassbox_recommend::knn::co_buyers;
use glassbox_recommend::read::{Columns, parse_time, read_interactions};

fn main() {
    let method = std::env::args().nth(1).unwrap_or_else(|| "blocked".into());
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../datasets/online_retail_interactions.csv.gz");
    let log = read_interactions(&path, &Columns::online_retail()).expect("reads");
    let split = Split::new(&log, parse_time("2011-10-01").expect("date"), None);
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
