//! glassbox's side of the head-to-head against PyTorch/Keras/JAX/NumPy (benches/peers/).
//!
//! ```sh
//! cargo build --release --example peer_runner
//! target/release/examples/peer_runner --data /tmp/glassbox-peers --workload train_b32 \
//!     [--threads T] [--repeats R] [--warmup W] [--quick]
//! ```
//!
//! It does what `benches/peers/*_runner.py` do, on the same files (`make_data.py` writes them)
//! and with the same workload table (read from `meta.json`, which copies `common.WORKLOADS`),
//! and prints the same JSON lines: one per timed repeat with `runner`, `workload`, `threads`,
//! `samples_per_s`, `seconds`, `samples`, `cpu_seconds`, `cpu_util`, `busy_threads`, `loss` or
//! `mean_logit`, `quick`, `versions` (with `fma_peak_gflops`, the FMA peak of one core at
//! launch: G5, notes/gemm.md §6); for `startup`, one line with `prediction` (the logit of
//! row 0 under the initial weights of the small MLP), as soon as it is known.
//!
//! A training step is the trainer's own, [`train_step`]: forward in training mode, binary
//! cross-entropy on the logits, backward writing the gradients, the global gradient norm (no
//! clipping), Adam (PyTorch form, lr 1e-3, β = (0.9, 0.999), ε = 1e-8 — `meta.json`'s `adam`).
//! Batches in file order, no shuffling.
//! Everything runs inside a pool of `--threads` workers from [`build_pool`] (flush-to-zero on
//! every worker). Data loading and model construction are outside the timing, as for the peers.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use glassbox_core::gemm::kernel::{Isa, active_isa, fma_peak_work};
use glassbox_core::{Activation, LayerSpec, Mlp, MlpSpec, Mode, build_pool};
use glassbox_train::{
    AdamEpsilon, Batch, Optimizer, OptimizerConfig, StepBuffers, TrainConfig, WeightDecay,
    train_step,
};
use ndarray::{Array2, ArrayView2, s};
use serde_json::{Value, json};

/// Errors are messages with their context (file, field); `main` prints them.
type Result<T> = std::result::Result<T, String>;

/// `Err(format!(...))`, returned.
macro_rules! bail {
    ($($t:tt)*) => { return Err(format!($($t)*)) };
}

/// Adds context to any displayable error.
trait Context<T> {
    fn context(self, what: impl std::fmt::Display) -> Result<T>;
}

impl<T, E: std::fmt::Display> Context<T> for std::result::Result<T, E> {
    fn context(self, what: impl std::fmt::Display) -> Result<T> {
        self.map_err(|e| format!("{what}: {e}"))
    }
}

const RUNNER: &str = "glassbox";

/// The command line, as `common.parse_args` defines it.
struct Args {
    data: PathBuf,
    workload: String,
    threads: Option<usize>,
    repeats: usize,
    warmup: usize,
    quick: bool,
}

fn parse_args() -> Result<Args> {
    let mut args = Args {
        data: PathBuf::from("/tmp/glassbox-peers"),
        workload: String::new(),
        threads: None,
        repeats: 1,
        warmup: 1,
        quick: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--data" => args.data = PathBuf::from(value()?),
            "--workload" => args.workload = value()?,
            "--threads" => args.threads = Some(value()?.parse().context("--threads")?),
            "--repeats" => args.repeats = value()?.parse().context("--repeats")?,
            "--warmup" => args.warmup = value()?.parse().context("--warmup")?,
            "--quick" => args.quick = true,
            "-h" | "--help" => {
                println!(
                    "peer_runner --data DIR --workload NAME [--threads T] [--repeats R] [--warmup W] [--quick]"
                );
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?}"),
        }
    }
    if args.workload.is_empty() {
        bail!("--workload is required");
    }
    Ok(args)
}

/// One workload of `meta.json` with the `--quick` overrides applied (`common.workload_spec`).
struct Workload {
    name: String,
    kind: String,
    model: String,
    batch: usize,
    steps: usize,
    rows: usize,
    threads: usize,
}

impl Workload {
    fn from_meta(meta: &Value, name: &str, quick: bool) -> Result<Self> {
        let w = meta["workloads"]
            .get(name)
            .ok_or_else(|| format!("workload {name:?} is not in meta.json"))?;
        let get = |key: &str| -> usize {
            let q = if quick { w["quick"].get(key) } else { None };
            q.or_else(|| w.get(key))
                .and_then(Value::as_u64)
                .map_or(0, |v| v as usize)
        };
        let text = |key: &str| w[key].as_str().unwrap_or_default().to_string();
        Ok(Workload {
            name: name.to_string(),
            kind: text("kind"),
            model: text("model"),
            batch: get("batch"),
            steps: get("steps"),
            rows: get("rows"),
            threads: get("threads").max(1),
        })
    }

    fn samples(&self) -> usize {
        if self.kind == "train" {
            self.batch * self.steps
        } else {
            self.rows
        }
    }
}

fn read_meta(dir: &Path) -> Result<Value> {
    let path = dir.join("meta.json");
    let text = std::fs::read_to_string(&path).context(format!(
        "{} (run `python benches/peers/make_data.py --out {}` first)",
        path.display(),
        dir.display()
    ))?;
    serde_json::from_str(&text).context(format!("{}: not JSON", path.display()))
}

/// `count` little-endian f32 values from the start of `path`.
fn read_f32s(path: &Path, count: usize) -> Result<Vec<f32>> {
    let mut bytes = vec![0u8; count * 4];
    File::open(path)
        .and_then(|mut f| {
            f.seek(SeekFrom::Start(0))?;
            f.read_exact(&mut bytes)
        })
        .context(format!(
            "{}: reading {count} float32 values",
            path.display()
        ))?;
    Ok(bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}

/// The MLP of `meta.json`'s `init.<model>`: ReLU hidden layers, identity (logit) output, with
/// the initial weights of its file. The file holds W as [in, out] per layer; our Θ is
/// [out, in] (PyTorch's layout), so each W is transposed on load.
fn load_model(dir: &Path, meta: &Value, model: &str) -> Result<Mlp<f32>> {
    let m = &meta["init"][model];
    let widths: Vec<usize> = m["widths"]
        .as_array()
        .ok_or_else(|| format!("meta.json: init.{model}.widths missing"))?
        .iter()
        .filter_map(|v| v.as_u64().map(|v| v as usize))
        .collect();
    let count = m["count"].as_u64().unwrap_or(0) as usize;
    let file = m["file"].as_str().unwrap_or_default();
    let flat = read_f32s(&dir.join(file), count)?;
    let layers: Vec<LayerSpec> = (1..widths.len())
        .map(|l| {
            let act = if l + 1 == widths.len() {
                Activation::Identity
            } else {
                Activation::Relu
            };
            LayerSpec::new(widths[l], act)
        })
        .collect();
    let spec = MlpSpec::new(widths[0], layers);
    let mut params = Vec::with_capacity(spec.num_params());
    for (l, layer) in m["layers"].as_array().into_iter().flatten().enumerate() {
        let (fan_in, fan_out) = (widths[l], widths[l + 1]);
        let w0 = layer["w_offset"].as_u64().unwrap_or(0) as usize;
        let b0 = layer["b_offset"].as_u64().unwrap_or(0) as usize;
        let w = flat
            .get(w0..w0 + fan_in * fan_out)
            .and_then(|w| ArrayView2::from_shape((fan_in, fan_out), w).ok())
            .ok_or_else(|| {
                format!("{file}: layer {l} W [{fan_in}, {fan_out}] at {w0} is out of range")
            })?;
        let b = flat
            .get(b0..b0 + fan_out)
            .ok_or_else(|| format!("{file}: layer {l} b [{fan_out}] at {b0} is out of range"))?;
        params.extend(w.t().iter().copied()); // Θ = Wᵀ, row-major (out, in)
        params.extend_from_slice(b);
    }
    Mlp::from_params(spec, params).context(format!("init.{model}"))
}

/// CPU nanoseconds per live thread of this process (`/proc/self/task/*/schedstat`).
fn thread_cpu_ns() -> Vec<(String, u64)> {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    dir.filter_map(|e| {
        let e = e.ok()?;
        let text = std::fs::read_to_string(e.path().join("schedstat")).ok()?;
        let ns = text.split_whitespace().next()?.parse().ok()?;
        Some((e.file_name().to_string_lossy().into_owned(), ns))
    })
    .collect()
}

/// Wall clock and per-thread CPU time around the timed region (`common.Timer`).
struct Timed {
    seconds: f64,
    cpu_seconds: f64,
    busy_threads: usize,
}

fn timed<R>(f: impl FnOnce() -> R) -> (R, Timed) {
    let before = thread_cpu_ns();
    let t0 = Instant::now();
    let r = f();
    let seconds = t0.elapsed().as_secs_f64();
    let after = thread_cpu_ns();
    let used: Vec<f64> = after
        .iter()
        .map(|(tid, ns)| {
            let old = before.iter().find(|(t, _)| t == tid).map_or(0, |(_, n)| *n);
            ns.saturating_sub(old) as f64 * 1e-9
        })
        .collect();
    let cpu_seconds = used.iter().sum();
    let busy_threads = used.iter().filter(|&&u| u >= 0.1 * seconds).count();
    (
        r,
        Timed {
            seconds,
            cpu_seconds,
            busy_threads,
        },
    )
}

/// The CPU's model name with its x86 family and model: two AMD EPYC kinds both report
/// "AMD EPYC" (Zen 1 is family 23 model 1, Zen 3 family 25 model 1).
fn cpu_model() -> String {
    let text = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    // The first processor's block: `key : value` lines up to the first blank one.
    let field = |name: &str| {
        text.lines()
            .map_while(|l| l.split_once(':'))
            .find(|(k, _)| k.trim() == name)
            .map(|(_, v)| v.trim().to_string())
    };
    match (field("model name"), field("cpu family"), field("model")) {
        (Some(name), Some(family), Some(model)) => {
            format!("{name} (family {family}, model {model})")
        }
        (name, _, _) => name.unwrap_or_default(),
    }
}

fn versions(threads: usize) -> Value {
    json!({
        "glassbox": env!("CARGO_PKG_VERSION"),
        "cpu": cpu_model(),
        "rayon_threads": threads,
        "flush_to_zero": true,
        "profile": if cfg!(debug_assertions) { "debug" } else { "release" },
        "isa": gemm_isa(),
        "fma_peak_gflops": fma_peak_gflops(),
    })
}

/// The FMA peak of one core on the kernel's vector instruction set (G5, notes/gemm.md §6):
/// the best of five timed calls of the register loop (≈ 0.5 ms each), taken at launch, so
/// every record carries the host's speed beside its rate. `None` on the scalar path.
fn fma_peak_gflops() -> Option<f64> {
    let isa = active_isa().filter(|&isa| isa != Isa::Scalar)?;
    (0..5)
        .filter_map(|_| {
            let start = Instant::now();
            let (flops, value) = fma_peak_work(isa, 100_000)?;
            std::hint::black_box(value);
            Some(flops as f64 / start.elapsed().as_secs_f64() / 1e9)
        })
        .reduce(f64::max)
}

/// The GEMM kernel's instruction set (`GLASSBOX_ISA` or the CPU's best), as every line
/// reports it so a result can be rerun on the same path.
fn gemm_isa() -> &'static str {
    active_isa().map_or("matrixmultiply", |isa| isa.name())
}

/// The training workload: `steps` Adam steps of `batch` rows in file order. Returns the mean
/// training loss of the pass.
struct Trainer {
    config: TrainConfig,
    mlp: Mlp<f32>,
    opt: Optimizer<f32>,
    rng: glassbox_core::Rng,
    buffers: StepBuffers<f32>,
}

impl Trainer {
    /// Make it inside the pool that runs the steps (see `StepBuffers::new`).
    fn new(mlp: Mlp<f32>, meta: &Value, batch: usize) -> Result<Self> {
        let adam = &meta["adam"];
        let f = |k: &str| {
            adam[k]
                .as_f64()
                .ok_or_else(|| format!("meta.json: adam.{k} missing"))
        };
        let config = TrainConfig {
            batch_size: batch,
            optimizer: OptimizerConfig::Adam {
                lr: f("lr")?,
                beta1: f("beta1")?,
                beta2: f("beta2")?,
                eps: AdamEpsilon::Torch(f("eps")?),
                weight_decay: WeightDecay::None,
            },
            shuffle: false,
            ..TrainConfig::keras_recipe(1, 0)
        };
        config.validate().context("training configuration")?;
        let opt = Optimizer::new(config.optimizer, mlp.num_params()).context("adam")?;
        let buffers = StepBuffers::new(&mlp, config.loss.kind, batch).context("model")?;
        Ok(Trainer {
            config,
            mlp,
            opt,
            rng: glassbox_core::seeded_rng(0),
            buffers,
        })
    }

    /// One training step on X (N, D), y (N, 1); returns the batch's loss.
    fn step(&mut self, x: ArrayView2<f32>, y: ArrayView2<f32>) -> Result<f64> {
        let Trainer {
            config,
            mlp,
            opt,
            rng,
            buffers,
            ..
        } = self;
        let step = train_step(config, mlp, opt, rng, Batch::new(x, y), buffers);
        match step {
            Ok(step) => Ok(step.loss),
            Err(e) => bail!("non-finite {:?} ({})", e.what, e.value),
        }
    }
}

fn run() -> Result<()> {
    let args = parse_args()?;
    // A GLASSBOX_ISA this CPU cannot run stops here with its reason, not at the first GEMM.
    glassbox_core::gemm::kernel::isa_from_environment()?;
    let meta = read_meta(&args.data)?;
    let w = Workload::from_meta(&meta, &args.workload, args.quick)?;
    let threads = args.threads.unwrap_or(w.threads);
    let cols = meta["cols"].as_u64().unwrap_or(0) as usize;
    let x_path = args.data.join(meta["x_file"].as_str().unwrap_or("x.f32"));
    let y_path = args.data.join(meta["y_file"].as_str().unwrap_or("y.f32"));
    let mlp = load_model(&args.data, &meta, &w.model)?;
    if mlp.spec().inputs != cols {
        bail!(
            "meta.json: {cols} columns but the model has {} inputs",
            mlp.spec().inputs
        );
    }

    if w.kind == "startup" {
        // Row 0 only: one forward on the calling thread, no pool.
        let x = Array2::from_shape_vec((1, cols), read_f32s(&x_path, cols)?).context("x")?;
        let logit = mlp.predict(x.view())[[0, 0]];
        let line = json!({
            "runner": RUNNER, "workload": "startup", "prediction": logit, "isa": gemm_isa(),
            "versions": {"glassbox": env!("CARGO_PKG_VERSION")},
        });
        println!("{line}");
        return Ok(());
    }

    let samples = w.samples();
    let x = Array2::from_shape_vec((samples, cols), read_f32s(&x_path, samples * cols)?)
        .context("x")?;
    let y = Array2::from_shape_vec((samples, 1), read_f32s(&y_path, samples)?).context("y")?;
    let pool = build_pool(threads).context("thread pool")?;
    let vers = versions(threads);
    let emit = |t: &Timed, key: &str, value: f64| {
        let line = json!({
            "runner": RUNNER, "workload": w.name, "threads": threads, "isa": gemm_isa(),
            "samples_per_s": samples as f64 / t.seconds, "seconds": t.seconds,
            "samples": samples, "cpu_seconds": t.cpu_seconds,
            "cpu_util": t.cpu_seconds / t.seconds, "busy_threads": t.busy_threads,
            key: value, "quick": args.quick, "versions": vers,
        });
        println!("{line}");
    };

    match w.kind.as_str() {
        "train" => {
            let b = w.batch;
            let mut trainer = pool.install(|| Trainer::new(mlp, &meta, b))?;
            let mut one_pass = || -> Result<f64> {
                let mut total = 0.0;
                for s in 0..w.steps {
                    let rows = s![s * b..(s + 1) * b, ..];
                    total += trainer.step(x.slice(rows), y.slice(rows))?;
                }
                Ok(total / w.steps as f64)
            };
            pool.install(|| -> Result<()> {
                for _ in 0..args.warmup {
                    one_pass()?;
                }
                for _ in 0..args.repeats {
                    let (loss, t) = timed(&mut one_pass);
                    emit(&t, "loss", loss?);
                }
                Ok(())
            })?;
        }
        "infer" => {
            let b = w.batch;
            let mut ws = mlp.workspace(b);
            let mut one_pass = || {
                let mut acc = 0.0f64;
                for start in (0..w.rows).step_by(b) {
                    let end = (start + b).min(w.rows);
                    let fwd = mlp.forward(x.slice(s![start..end, ..]), Mode::Inference, &mut ws);
                    // The peers sum each chunk's logits in f32, then add chunks in f64/f32.
                    acc += f64::from(fwd.output().sum());
                }
                acc / w.rows as f64
            };
            pool.install(|| {
                for _ in 0..args.warmup {
                    one_pass();
                }
                for _ in 0..args.repeats {
                    let (mean_logit, t) = timed(&mut one_pass);
                    emit(&t, "mean_logit", mean_logit);
                }
            });
        }
        other => bail!("workload {:?} has unknown kind {other:?}", w.name),
    }
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("peer_runner: {e}");
            ExitCode::FAILURE
        }
    }
}
