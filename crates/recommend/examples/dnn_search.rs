//! Validation curves of the YouTube-DNN-style model (K36–K37) on the Online Retail
//! validation split (train < 2011-09-01, truth = September 2011): NDCG@20 and Recall@20 in
//! both modes every few epochs, for the settings given as `key=value` arguments
//! (dim, hidden, epochs, lr, wd, horizon, batch, samples, alpha, lazy, seed).
//!
//! cargo run --release -p glassbox-recommend --example dnn_search -- dim=64 horizon=30

use std::time::Instant;

use glassbox_recommend::Mode;
use glassbox_recommend::dnn::{Dnn, DnnConfig, DnnLoss, examples};
use glassbox_recommend::select::evaluate;
use glassbox_recommend::softmax::TargetWeighting;

mod common;

use common::online_retail;

fn main() {
    let mut cfg = DnnConfig::default();
    let mut every = 5;
    for arg in std::env::args().skip(1) {
        let (k, v) = arg.split_once('=').expect("key=value");
        let f: f64 = v.parse().expect("a number");
        match k {
            "dim" => cfg.dim = f as usize,
            "hidden" => cfg.hidden = f as usize,
            "epochs" => cfg.epochs = f as usize,
            "lr" => cfg.lr = f,
            "wd" => cfg.weight_decay = f,
            "horizon" => cfg.horizon_days = f,
            "batch" => cfg.batch = f as usize,
            "init" => cfg.init_sd = f,
            "samples" => {
                cfg.loss = DnnLoss::Sampled {
                    samples: f as usize,
                    alpha: 0.75,
                }
            }
            "lazy" => cfg.lazy_input = f != 0.0,
            "holdout" => cfg.holdout = f,
            "next" => cfg.next_examples = f != 0.0,
            "pertarget" => cfg.loss = DnnLoss::Full(TargetWeighting::PerTarget),
            "age" => cfg.example_age = f != 0.0,
            "seed" => cfg.seed = f as u64,
            "every" => every = f as usize,
            _ => panic!("unknown key {k}"),
        }
    }
    let val = online_retail().val;
    let ex = examples(&val, cfg.horizon_days, cfg.example_age);
    println!(
        "{cfg:?}\nexamples {} targets {} history ids {}",
        ex.len(),
        ex.targets.len(),
        ex.history.len()
    );
    let t = Instant::now();
    Dnn::fit(
        &val,
        &cfg,
        |e| e % every == 0,
        |e, m| {
            let n = evaluate(&val, m, Mode::New, 20);
            let a = evaluate(&val, m, Mode::All, 20);
            println!(
                "epoch {e}: new {:.4} / {:.4}  all {:.4} / {:.4}  ({:.1} s)",
                n.recall,
                n.ndcg,
                a.recall,
                a.ndcg,
                t.elapsed().as_secs_f64()
            );
        },
    )
    .expect("fit");
}
