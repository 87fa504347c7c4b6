//! Mutation fuzzing of every loader of untrusted bytes, on stable Rust (cargo-fuzz needs a
//! nightly toolchain). notes/reliability.md, "Fuzzing", gives the command, the figures of
//! the recorded runs and the findings.
//!
//! ```text
//! cargo run --release --example fuzz_loaders -- --target all --inputs 2500000 --seed 1
//! ```
//!
//! Each input is a seed (committed fixtures, test CSVs, hand-made edge cases in
//! tests/fuzz/seeds/) or an input that loaded cleanly earlier, with 1–4 stacked mutations
//! (tests/fuzz/mod.rs). It runs under `catch_unwind`: a panic is a finding, written to
//! `--out` with the panic message; an input that takes more than a second is a hang, written
//! the same way; a watchdog writes an input still running after 10 s and stops the run.
//! Findings become regression files in tests/fuzz/regressions/, which `cargo test` replays.

#[path = "../tests/fuzz/mod.rs"]
mod fuzz;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fuzz::{SplitMix, Target};

struct Args {
    targets: Vec<Target>,
    inputs: u64,
    seed: u64,
    out: PathBuf,
    max_len: usize,
}

const USAGE: &str = "usage: fuzz_loaders [--target csv|schema|bundle|checkpoint|events|all] [--inputs N per target] [--seed S] [--out DIR] [--max-len BYTES]";

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        targets: Target::ALL.to_vec(),
        inputs: 100_000,
        seed: 1,
        out: PathBuf::from("/tmp/glassbox-fuzz"),
        max_len: 1 << 16,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value\n{USAGE}"));
        let number = |v: String| v.parse::<u64>().map_err(|e| format!("{flag} {v}: {e}"));
        match flag.as_str() {
            "--target" => {
                let v = value()?;
                args.targets = if v == "all" {
                    Target::ALL.to_vec()
                } else {
                    vec![Target::parse(&v).ok_or(format!("unknown target {v}\n{USAGE}"))?]
                };
            }
            "--inputs" => args.inputs = number(value()?)?,
            "--seed" => args.seed = number(value()?)?,
            "--max-len" => args.max_len = number(value()?)? as usize,
            "--out" => args.out = PathBuf::from(value()?),
            _ => return Err(USAGE.to_string()),
        }
    }
    Ok(args)
}

/// Figures of one target's run.
#[derive(Default)]
struct Tally {
    inputs: u64,
    /// Inputs the loader accepted (the rest were refused with an error).
    loaded: u64,
    panics: u64,
    hangs: u64,
    slowest: Duration,
    bytes: u64,
}

/// The input being run and when it started, for the watchdog.
struct Current {
    target: &'static str,
    input: Vec<u8>,
}

fn save(out: &std::path::Path, kind: &str, target: Target, n: u64, input: &[u8], note: &str) {
    let _ = std::fs::create_dir_all(out);
    let base = out.join(format!("{kind}-{}-{n}", target.name()));
    let _ = std::fs::write(base.with_extension("bin"), input);
    let _ = std::fs::write(base.with_extension("txt"), note);
    eprintln!(
        "{kind}: {} input {n} → {}.bin: {note}",
        target.name(),
        base.display()
    );
}

fn fuzz_target(target: Target, args: &Args, last_panic: &Arc<Mutex<String>>) -> Tally {
    let data = fuzz::schema_data();
    let seeds = fuzz::seeds(target);
    assert!(!seeds.is_empty(), "no seeds for {}", target.name());
    let mut pool: Vec<Vec<u8>> = seeds.clone();
    let mut rng = SplitMix(args.seed ^ (target as u64).wrapping_mul(0x1234_5678_9ABC_DEF1));
    let mut tally = Tally::default();
    let started = Arc::new(AtomicU64::new(0));
    let current = Arc::new(Mutex::new(Current {
        target: target.name(),
        input: Vec::new(),
    }));
    let clock = Instant::now();
    // The watchdog: an input still running after 10 s is saved and the run stops.
    {
        let (started, current, out) = (started.clone(), current.clone(), args.out.clone());
        std::thread::spawn(move || {
            loop {
                std::thread::sleep(Duration::from_millis(500));
                let s = started.load(Ordering::Relaxed);
                let now = clock.elapsed().as_millis() as u64;
                if s != 0 && now.saturating_sub(s) > 10_000 {
                    let c = current.lock().unwrap_or_else(|e| e.into_inner());
                    let _ = std::fs::create_dir_all(&out);
                    let path = out.join(format!("stuck-{}.bin", c.target));
                    let _ = std::fs::write(&path, &c.input);
                    eprintln!("stuck: an input ran over 10 s → {}", path.display());
                    std::process::exit(3);
                }
            }
        });
    }
    let report_every = (args.inputs / 10).max(1);
    for n in 0..args.inputs {
        let base = if rng.chance(4) {
            &seeds[rng.below(seeds.len())]
        } else {
            &pool[rng.below(pool.len())]
        };
        let other = &pool[rng.below(pool.len())];
        let mut input = fuzz::mutate(base, other, target, &mut rng, args.max_len);
        // Half the model inputs get their checksums recomputed, so that mutations reach the
        // checks behind them.
        if rng.chance(2) {
            let resealed = match target {
                Target::Bundle => glassbox_app::bundle::Bundle::reseal(&input),
                Target::Checkpoint => fuzz::reseal_checkpoint(&input),
                _ => None,
            };
            if let Some(r) = resealed {
                input = r;
            }
        }
        let variant = rng.next();
        current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .input
            .clone_from(&input);
        let t0 = Instant::now();
        started.store(clock.elapsed().as_millis().max(1) as u64, Ordering::Relaxed);
        let result = catch_unwind(AssertUnwindSafe(|| {
            fuzz::run(target, &input, variant, &data)
        }));
        started.store(0, Ordering::Relaxed);
        let took = t0.elapsed();
        tally.inputs += 1;
        tally.bytes += input.len() as u64;
        tally.slowest = tally.slowest.max(took);
        match result {
            Ok(accepted) => {
                tally.loaded += u64::from(accepted);
                // Inputs that got through become bases for later ones (a bounded pool).
                if accepted && rng.chance(4) || rng.chance(64) {
                    if pool.len() < 512 {
                        pool.push(input.clone());
                    } else {
                        let i = rng.below(pool.len());
                        pool[i] = input.clone();
                    }
                }
            }
            Err(_) => {
                tally.panics += 1;
                let message = last_panic.lock().map(|m| m.clone()).unwrap_or_default();
                save(
                    &args.out,
                    "panic",
                    target,
                    n,
                    &input,
                    &format!("variant {variant}: {message}"),
                );
            }
        }
        if took > Duration::from_secs(1) {
            tally.hangs += 1;
            save(
                &args.out,
                "hang",
                target,
                n,
                &input,
                &format!("variant {variant}: {took:?}"),
            );
        }
        if (n + 1) % report_every == 0 {
            eprintln!(
                "{}: {} inputs, {:.1} s, {} panics, {} hangs",
                target.name(),
                n + 1,
                clock.elapsed().as_secs_f64(),
                tally.panics,
                tally.hangs
            );
        }
    }
    tally
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    // Panics are findings: record the message instead of printing a backtrace per input.
    let last_panic = Arc::new(Mutex::new(String::new()));
    {
        let last_panic = last_panic.clone();
        std::panic::set_hook(Box::new(move |info| {
            if let Ok(mut m) = last_panic.lock() {
                *m = info.to_string();
            }
        }));
    }
    println!(
        "target      inputs   loaded  panics  hangs  slowest_ms  seconds  inputs_per_s  mean_bytes"
    );
    let mut total = 0;
    let mut findings = 0;
    let all = Instant::now();
    for &target in &args.targets {
        let t0 = Instant::now();
        let t = fuzz_target(target, &args, &last_panic);
        let secs = t0.elapsed().as_secs_f64();
        println!(
            "{:<10} {:>8} {:>8} {:>7} {:>6} {:>11.1} {:>8.1} {:>13.0} {:>11.0}",
            target.name(),
            t.inputs,
            t.loaded,
            t.panics,
            t.hangs,
            t.slowest.as_secs_f64() * 1e3,
            secs,
            t.inputs as f64 / secs,
            t.bytes as f64 / t.inputs.max(1) as f64
        );
        total += t.inputs;
        findings += t.panics + t.hangs;
    }
    println!(
        "total      {total:>8} inputs in {:.1} s, {findings} findings (seed {})",
        all.elapsed().as_secs_f64(),
        args.seed
    );
    if findings > 0 {
        std::process::exit(1);
    }
}
