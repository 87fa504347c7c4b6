//! The cost of a private epoch against a non-private one (issue 16's "≤ 1.5× per epoch"),
//! measured in one process so that start-up, reading and preprocessing do not enter:
//! the 73-64-64-1 ReLU network (Glorot-uniform, f32) on all 9,864 rows of
//! `datasets/online_shoppers_train.csv` (the default recipe's preprocessing), SGD lr 0.25,
//! ⌈N/B⌉ steps per epoch, one thread — shuffled fixed batches of B (non-private) against
//! Poisson batches of expected size ⌊N·q⌋ with per-example clipping and noise (DP: ε = 3,
//! δ = 1e-5, C = 1, σ calibrated as `train --dp-epsilon 3` does).
//!
//! For every batch size, ROUNDS interleaved rounds (NP then DP, each a fresh trainer of
//! EPOCHS epochs, the first untimed); a run's cost is the CPU time of its training thread,
//! read from the kernel's run-time counter (`/proc/thread-self/schedstat`, ns) inside the
//! training loop, so time other jobs take from the cores does not count (cache and
//! frequency effects of a shared machine still do). Prints the median CPU ms per epoch and
//! the median of the per-round DP/NP ratios.
//!
//! `cargo run --release --example dp_overhead -- [ROUNDS] [EPOCHS] [B,B,…]` (default 7 rounds
//! of 40 epochs at B = 64, 256, 512: about 30 s of CPU). Linux only (reads /proc).

use std::time::Duration;

use glassbox_core::{Activation, Init, LayerSpec, MlpSpec};
use glassbox_data::{Preprocessor, ReadOptions, SchemaOverrides, Table, TargetSpec};
use glassbox_train::privacy::dp_sgd::{DpMethod, DpRequest, NoiseChoice, plan_dp_sgd};
use glassbox_train::{DataView, Event, OptimizerConfig, TrainConfig, Trainer};
use ndarray::Array2;

const BATCHES: [usize; 3] = [64, 256, 512];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let rounds: usize = args.next().map_or(Ok(7), |a| a.parse())?;
    let epochs: usize = args.next().map_or(Ok(40), |a| a.parse())?;
    let batches: Vec<usize> = match args.next() {
        Some(list) => list.split(',').map(str::parse).collect::<Result<_, _>>()?,
        None => BATCHES.to_vec(),
    };
    let (x, y) = online_shoppers()?;
    let data = DataView {
        x: x.view(),
        y: y.view(),
        weights: None,
    };
    println!("batch\tNP ms/epoch\tDP ms/epoch\tDP/NP (median of {rounds} rounds)\tratios");
    for b in batches {
        let (mut np, mut dp, mut ratios) = (vec![], vec![], vec![]);
        for round in 0..rounds {
            let seed = round as u64;
            let t_np = cpu_per_epoch(&config(b, epochs + 1, seed, false)?, &data)?;
            let t_dp = cpu_per_epoch(&config(b, epochs + 1, seed, true)?, &data)?;
            ratios.push(t_dp / t_np);
            np.push(t_np);
            dp.push(t_dp);
        }
        let list: Vec<String> = ratios.iter().map(|r| format!("{r:.3}")).collect();
        println!(
            "{b}\t{:.3}\t{:.3}\t{:.3}\t{}",
            median(&mut np) * 1e3,
            median(&mut dp) * 1e3,
            median(&mut ratios),
            list.join(" ")
        );
    }
    Ok(())
}

/// The training configuration at batch `b`, private or not (the flags of
/// `scripts/dp_overhead.sh`).
fn config(
    b: usize,
    epochs: usize,
    seed: u64,
    private: bool,
) -> Result<TrainConfig, Box<dyn std::error::Error>> {
    let mut c = TrainConfig::keras_recipe(epochs, seed);
    c.batch_size = b;
    c.optimizer = OptimizerConfig::sgd(0.25);
    c.threads = Some(1);
    if private {
        let request = DpRequest {
            noise: NoiseChoice::TargetEpsilon(3.0),
            delta: 1e-5,
            clip_norm: 1.0,
            method: DpMethod::default(),
        };
        c.privacy = Some(plan_dp_sgd(&request, ROWS, b, epochs, 1)?.0);
    }
    Ok(c)
}

const ROWS: usize = 9_864;

/// CPU seconds per epoch of a fresh trainer over `config.epochs` epochs, the first one
/// untimed (warm caches): the training thread's own CPU time, read from inside the training
/// loop (the callback runs on the pool's thread) at the end of the first and the last epoch.
fn cpu_per_epoch(
    config: &TrainConfig,
    data: &DataView<'_, f32>,
) -> Result<f64, Box<dyn std::error::Error>> {
    let spec = MlpSpec::new(
        data.x.ncols(),
        vec![
            LayerSpec::new(64, Activation::Relu),
            LayerSpec::new(64, Activation::Relu),
            LayerSpec::new(1, Activation::Identity),
        ],
    );
    let last = config.epochs - 1;
    let mut marks = [None, None];
    let mut trainer = Trainer::<f32>::new(spec, Init::GlorotUniform, config.clone())?;
    trainer.fit(data, None, &mut |event| {
        if let Event::EpochEnd(record) = event {
            if record.epoch == 0 {
                marks[0] = thread_cpu();
            }
            if record.epoch == last {
                marks[1] = thread_cpu();
            }
        }
    })?;
    match marks {
        [Some(start), Some(end)] => Ok((end - start).as_secs_f64() / last as f64),
        _ => Err("no CPU time from /proc/thread-self/schedstat".into()),
    }
}

/// The calling thread's CPU time so far: the first field of `/proc/thread-self/schedstat`
/// (ns on the CPU; Linux).
fn thread_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns = stat.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        0.5 * (v[m - 1] + v[m])
    }
}

/// The training file as (X, y) through the data layer (the default recipe's preprocessing).
fn online_shoppers() -> Result<(Array2<f32>, Array2<f32>), Box<dyn std::error::Error>> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/datasets");
    let overrides = SchemaOverrides::from_toml_file(format!("{dir}/online_shoppers.schema.toml"))?;
    let (table, schema) = Table::read_infer(
        format!("{dir}/online_shoppers_train.csv"),
        &ReadOptions::default(),
        &overrides,
    )?;
    let pre = Preprocessor::fit(&table, &schema, &TargetSpec::new("Revenue"))?;
    let (x, y) = pre.transform(&table)?;
    let n = y.len();
    Ok((x, y.into_shape_with_order((n, 1))?))
}
