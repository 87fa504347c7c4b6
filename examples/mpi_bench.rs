//! The measurements of notes/distributed.md §8, under `mpirun` (a build with `--features mpi`):
//!
//! - `speed`: samples/s of training 784-1024-1024-1 at global batch 512 with one thread per
//!   rank — one process without MPI when run with `--single`, else `--distributed` with the
//!   exact (or `--fast`) reduction. Prints wall and CPU seconds of rank 0's `fit`.
//! - `sweep`: OSU-style message-size sweep of the collectives the step uses (ping-pong,
//!   broadcast, all-gather, all-reduce), then a least-squares fit t(n) = α + β·n of each.
//!
//! `scripts/mpi_bench.sh` runs both at np = 1 and 2 (the commands quoted in the notes).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use glassbox_app::mpi::World;
use glassbox_core::{Activation, Init, LayerSpec, MlpSpec};
use glassbox_train::distributed::{Collective, Distributed, Reduce};
use glassbox_train::{DataView, TrainConfig, Trainer};
use ndarray::Array2;
use rand::{Rng, SeedableRng};

/// This process's CPU time (user + system, all threads), seconds: Linux `/proc/self/stat`
/// fields 14 and 15, in clock ticks of 1/100 s.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<f64> = after
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0.0))
        .collect();
    // After the name: field 3 is index 0, so utime (14) and stime (15) are 11 and 12.
    (fields.get(11).copied().unwrap_or(0.0) + fields.get(12).copied().unwrap_or(0.0)) / 100.0
}

/// A transport that counts what passes through it: the collectives (meetings of the ranks:
/// every call but a point-to-point one), the bytes received and the wall time spent inside
/// them (waiting included), for the `speed` line.
#[derive(Debug)]
struct Counted {
    inner: Arc<World>,
    meetings: AtomicUsize,
    bytes: AtomicUsize,
    nanos: AtomicU64,
}

impl Counted {
    fn time<R>(&self, bytes: usize, op: impl FnOnce() -> R) -> R {
        let t = Instant::now();
        let r = op();
        self.nanos
            .fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
        self.meetings.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        r
    }
}

impl Collective for Counted {
    fn rank(&self) -> usize {
        self.inner.rank()
    }
    fn size(&self) -> usize {
        self.inner.size()
    }
    fn all_gather(&self, send: &[u8], recv: &mut [u8], counts: &[usize]) {
        let bytes = recv.len() - send.len();
        self.time(bytes, || self.inner.all_gather(send, recv, counts));
    }
    fn send(&self, to: usize, data: &[u8]) {
        self.time(0, || self.inner.send(to, data));
    }
    fn recv(&self, from: usize, data: &mut [u8]) {
        self.time(data.len(), || self.inner.recv(from, data));
    }
    fn broadcast(&self, root: usize, data: &mut [u8]) {
        self.time(data.len(), || self.inner.broadcast(root, data));
    }
    fn all_reduce_sum(&self, data: &mut [u8], f32: bool) {
        self.time(data.len(), || self.inner.all_reduce_sum(data, f32));
    }
    fn all_to_all(
        &self,
        send: &[u8],
        sends: &[std::ops::Range<usize>],
        recv: &mut [u8],
        recvs: &[std::ops::Range<usize>],
    ) {
        let bytes = recvs.iter().map(|r| r.len()).sum();
        self.time(bytes, || self.inner.all_to_all(send, sends, recv, recvs));
    }
}

fn speed(world: Option<&Arc<World>>, steps: usize, reduce: Reduce) {
    const BATCH: usize = 512;
    let rows = BATCH * steps;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let x = Array2::from_shape_fn((rows, 784), |_| rng.random::<f32>());
    let y = Array2::from_shape_fn((rows, 1), |(i, _)| f32::from(u8::from(i % 3 == 0)));
    let spec = MlpSpec::new(
        784,
        vec![
            LayerSpec::new(1024, Activation::Relu),
            LayerSpec::new(1024, Activation::Relu),
            LayerSpec::new(1, Activation::Sigmoid),
        ],
    );
    let mut config = TrainConfig::keras_recipe(1, 11);
    config.batch_size = BATCH;
    config.threads = Some(1);
    let mut t = Trainer::<f32>::new(spec, Init::GlorotUniform, config).expect("valid recipe");
    let counted = world.map(|w| {
        Arc::new(Counted {
            inner: w.clone(),
            meetings: AtomicUsize::new(0),
            bytes: AtomicUsize::new(0),
            nanos: AtomicU64::new(0),
        })
    });
    if let Some(c) = &counted {
        let collective: Arc<dyn Collective> = c.clone();
        t.set_distributed(Distributed { collective, reduce })
            .expect("no dropout");
    }
    let (wall, cpu) = (Instant::now(), cpu_seconds());
    t.fit(&DataView::new(x.view(), y.view()), None, &mut |_| {})
        .expect("training runs");
    let (wall, cpu) = (wall.elapsed().as_secs_f64(), cpu_seconds() - cpu);
    if world.is_none_or(|w| w.rank() == 0) {
        let ranks = world.map_or(1, |w| w.size());
        println!(
            "speed ranks={ranks} reduce={reduce:?} steps={steps} wall_s={wall:.3} cpu_s={cpu:.3} \
             samples_per_s={:.1} step_ms={:.2}",
            rows as f64 / wall,
            1e3 * wall / steps as f64
        );
        if let Some(c) = &counted {
            // The fit's meetings include the one after it (the optimizer's state shared).
            let per = |v: f64| v / steps as f64;
            println!(
                "exchange ranks={ranks} reduce={reduce:?} meetings_per_step={:.2} \
                 received_mb_per_step={:.3} in_collectives_ms_per_step={:.2}",
                per(c.meetings.load(Ordering::Relaxed) as f64),
                per(c.bytes.load(Ordering::Relaxed) as f64) / 1e6,
                per(c.nanos.load(Ordering::Relaxed) as f64) / 1e6
            );
        }
    }
}

/// Seconds per call of `op`, the minimum over 5 timed rounds of `reps` calls (after a
/// warm-up round), every rank in step (each round starts with a tiny all-gather).
fn time_op(w: &World, reps: usize, mut op: impl FnMut()) -> f64 {
    let mut best = f64::INFINITY;
    for round in 0..6 {
        let mut sync = vec![0u8; w.size()];
        w.all_gather(&[0], &mut sync, &vec![1; w.size()]);
        let t = Instant::now();
        for _ in 0..reps {
            op();
        }
        if round > 0 {
            best = best.min(t.elapsed().as_secs_f64() / reps as f64);
        }
    }
    best
}

/// Least squares t = α + β·n over the points, each weighted by 1/t² (relative errors), so
/// the small messages fix α and the large ones β, as in an OSU plot.
fn fit_line(points: &[(f64, f64)]) -> (f64, f64) {
    let w = |t: f64| 1.0 / (t * t).max(1e-30);
    let sw: f64 = points.iter().map(|&(_, t)| w(t)).sum();
    let mx = points.iter().map(|&(n, t)| w(t) * n).sum::<f64>() / sw;
    let my = points.iter().map(|&(_, t)| w(t) * t).sum::<f64>() / sw;
    let sxx: f64 = points.iter().map(|&(n, t)| w(t) * (n - mx).powi(2)).sum();
    let sxy: f64 = points
        .iter()
        .map(|&(n, t)| w(t) * (n - mx) * (t - my))
        .sum();
    let beta = sxy / sxx;
    (my - beta * mx, beta)
}

fn sweep(w: &World) {
    let (rank, ranks) = (w.rank(), w.size());
    let mut table: Vec<(&str, Vec<(f64, f64)>)> =
        ["pingpong_half", "broadcast", "allgather", "allreduce"]
            .into_iter()
            .map(|name| (name, Vec::new()))
            .collect();
    let mut bytes = 8usize;
    while bytes <= 32 << 20 {
        let reps = (64 << 20) / bytes.max(1 << 12) + 2;
        let reps = reps.min(2000);
        let mut buf = vec![0u8; bytes];
        let mut all = vec![0u8; bytes * ranks];
        let peer = (rank + 1) % ranks;
        // One-way time: half a round trip between ranks 0 and 1 (0 with itself at np = 1).
        let pingpong = time_op(w, reps, || {
            if ranks == 1 {
                return;
            }
            if rank == 0 {
                w.send(peer, &buf);
                w.recv(peer, &mut buf);
            } else if rank == 1 {
                w.recv(0, &mut buf);
                w.send(0, &buf);
            }
        }) / 2.0;
        let bcast = time_op(w, reps, || w.broadcast(0, &mut buf));
        let gather = time_op(w, reps, || {
            let send = buf.clone();
            w.all_gather(&send, &mut all, &vec![bytes; ranks]);
        });
        let mut floats = vec![0u8; bytes.max(4) / 4 * 4];
        let reduce = time_op(w, reps, || w.all_reduce_sum(&mut floats, true));
        for (entry, t) in table.iter_mut().zip([pingpong, bcast, gather, reduce]) {
            entry.1.push((bytes as f64, t));
        }
        if rank == 0 {
            println!(
                "sweep ranks={ranks} bytes={bytes} pingpong_half_us={:.2} broadcast_us={:.2} \
                 allgather_us={:.2} allreduce_us={:.2}",
                pingpong * 1e6,
                bcast * 1e6,
                gather * 1e6,
                reduce * 1e6
            );
        }
        bytes *= 4;
    }
    if rank == 0 {
        for (name, points) in &table {
            let (alpha, beta) = fit_line(points);
            println!(
                "fit ranks={ranks} {name}: alpha_us={:.2} beta_ns_per_byte={:.4} ({:.2} GB/s)",
                alpha * 1e6,
                beta * 1e9,
                1e-9 / beta.max(1e-18)
            );
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let has = |flag: &str| args.iter().any(|a| a == flag);
    let steps = args
        .iter()
        .position(|a| a == "--steps")
        .and_then(|i| args.get(i + 1)?.parse().ok())
        .unwrap_or(20);
    let reduce = if has("--fast") {
        Reduce::Fast
    } else {
        Reduce::Exact
    };
    match args.first().map(String::as_str) {
        Some("speed") if has("--single") => speed(None, steps, reduce),
        Some("speed") => {
            let world = Arc::new(World::init().expect("MPI starts"));
            speed(Some(&world), steps, reduce);
            // Dropping the world finalises MPI.
        }
        Some("sweep") => {
            let world = World::init().expect("MPI starts");
            sweep(&world);
        }
        _ => eprintln!("usage: mpi_bench speed [--single] [--fast] [--steps K] | sweep"),
    }
}
