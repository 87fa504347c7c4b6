//! The measurements of notes/distributed.md §8, under `mpirun` (a build with `--features mpi`):
//!
//! - `speed`: samples/s of training 784-1024-1024-1 at global batch 512 with one thread per
//!   rank — one process without MPI when run with `--single`, else `--distributed` with the
//!   exact (or `--fast`) reduction. Prints wall and CPU seconds of rank 0's `fit`.
//! - `sweep`: OSU-style message-size sweep of the collectives the step uses (ping-pong,
//!   broadcast, all-gather, all-reduce), then a least-squares fit t(n) = α + β·n of each.
//! - `parts` (no MPI): the CPU time, in one thread, of the plain step's parts at B = 512
//!   against the parts rank 0 computes at np = 2 (its 256 rows' forward and δ, the packing
//!   of the δ columns it sends, its units' gradients over the 512 rows, the norm's partials,
//!   Adam on its pieces), each the minimum over the repetitions: the compute np = 2 adds
//!   to half the plain step, free of MPI and of the other rank (notes/distributed.md §8).
//!
//! `scripts/mpi_bench.sh` runs both at np = 1 and 2 (the commands quoted in the notes).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use glassbox_app::mpi::World;
use glassbox_core::{
    Activation, Init, LayerSpec, Mlp, MlpSpec, Mode, ShardPlan, Upstream, build_pool, seeded_rng,
    units_of_rank,
};
use glassbox_train::distributed::{
    Collective, Distributed, RecvPiece, Reduce, SendPiece, append_rows,
};
use glassbox_train::{DataView, Optimizer, OptimizerConfig, TrainConfig, Trainer};
use ndarray::{Array2, s};
use rand::{Rng, SeedableRng};

/// The global allocator, counting the allocations (and reallocations) of the process, so
/// that the `speed` line shows what a step allocates.
struct CountingAlloc;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);
static ALLOCATED_BYTES: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to the system allocator unchanged; the counters are atomics.
unsafe impl std::alloc::GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        ALLOCATED_BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's layout, as GlobalAlloc::alloc requires.
        unsafe { std::alloc::System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        // SAFETY: `ptr` came from `alloc`/`realloc` above with this layout.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        ALLOCATED_BYTES.fetch_add(size, Ordering::Relaxed);
        // SAFETY: as `dealloc`, and `size` is the caller's new size.
        unsafe { std::alloc::System.realloc(ptr, layout, size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

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

/// `struct timespec` of Linux on 64-bit targets.
#[repr(C)]
struct Timespec {
    tv_sec: i64,
    tv_nsec: i64,
}

// The C library std links already (Linux, 64-bit).
unsafe extern "C" {
    fn clock_gettime(clock: i32, tp: *mut Timespec) -> i32;
}

/// Linux's `CLOCK_THREAD_CPUTIME_ID`.
const CLOCK_THREAD_CPUTIME_ID: i32 = 3;

/// This thread's CPU time, nanoseconds, exact at the moment of the call (the scheduler's
/// `/proc` accounting of a running thread lags by up to a tick, too coarse for a phase).
fn thread_cpu_ns() -> u64 {
    let mut t = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid, writable timespec; the clock id is Linux's.
    if unsafe { clock_gettime(CLOCK_THREAD_CPUTIME_ID, &mut t) } != 0 {
        return 0;
    }
    t.tv_sec.unsigned_abs() * 1_000_000_000 + t.tv_nsec.unsigned_abs()
}

/// This thread's time waiting in the run queue, nanoseconds: Linux
/// `/proc/thread-self/schedstat` field 2 (updated when the thread gets a CPU).
fn thread_queued_ns() -> u64 {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    stat.split_whitespace()
        .nth(1)
        .and_then(|f| f.parse().ok())
        .unwrap_or(0)
}

/// The CPU this thread last ran on: Linux `/proc/thread-self/stat` field 39 (the fields
/// counted after the command name's closing parenthesis, which may hold spaces).
fn thread_cpu_index() -> Option<usize> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    let (_, after) = stat.rsplit_once(')')?;
    after.split_whitespace().nth(36)?.parse().ok()
}

/// One reading of the clocks a phase is measured by.
#[derive(Clone, Copy, Debug)]
struct Clocks {
    wall: Instant,
    cpu: u64,
    queued: u64,
}

impl Clocks {
    fn now() -> Clocks {
        Clocks {
            wall: Instant::now(),
            cpu: thread_cpu_ns(),
            queued: thread_queued_ns(),
        }
    }

    /// Wall, CPU and run-queue nanoseconds from `self` to `later`.
    fn until(&self, later: &Clocks) -> [u64; 3] {
        [
            later.wall.duration_since(self.wall).as_nanos() as u64,
            later.cpu.saturating_sub(self.cpu),
            later.queued.saturating_sub(self.queued),
        ]
    }
}

/// The phase profile of a step: for the k-th meeting of each step, the time before it (the
/// compute since the previous meeting) and inside it (the transfer and the wait for the other
/// ranks, busy-polling included), each as wall, CPU and run-queue nanoseconds summed over the
/// steps.
#[derive(Debug, Default)]
struct Phases {
    /// Meetings a step (3 exact, 4 exact with a loss that couples rows, 2 fast: T17): the
    /// profile's slots.
    per_step: usize,
    /// Steps to profile (the meetings after them, the fit's last exchanges, are left out).
    steps: usize,
    calls: usize,
    last: Option<Clocks>,
    before: Vec<[u64; 3]>,
    inside: Vec<[u64; 3]>,
    /// The CPUs the rank was seen on at its profiled meetings (bit c for CPU c): which core
    /// a rank's phases ran on, to tell a slower core from a slower rank (§8, session 11).
    cpus: u64,
}

impl Phases {
    fn enter(&mut self) -> Option<(usize, Clocks)> {
        let now = Clocks::now();
        let k = self.calls;
        self.calls += 1;
        if k >= self.per_step * self.steps {
            return None;
        }
        let slot = k % self.per_step;
        if let Some(c) = thread_cpu_index().filter(|&c| c < 64) {
            self.cpus |= 1 << c;
        }
        // The first step's compute includes the fit's set-up: measured from step 2 on.
        if let Some(last) = self.last.filter(|_| k >= self.per_step) {
            add(&mut self.before[slot], last.until(&now));
        }
        Some((slot, now))
    }

    /// `lent`: the clocks of the caller's work run inside the meeting (T16's folds), which
    /// count as the compute of the next phase, not as the meeting.
    fn leave(&mut self, entered: Option<(usize, Clocks)>, lent: [u64; 3]) {
        let Some((slot, at)) = entered else { return };
        let now = Clocks::now();
        // The first step is left out, as in `enter`.
        if self.calls > self.per_step {
            let inside = at.until(&now);
            add(
                &mut self.inside[slot],
                std::array::from_fn(|i| inside[i].saturating_sub(lent[i])),
            );
        }
        // The next phase's compute is measured from here, so it gets the lent work.
        self.last = Some(Clocks {
            wall: now.wall - std::time::Duration::from_nanos(lent[0]),
            cpu: now.cpu.saturating_sub(lent[1]),
            queued: now.queued.saturating_sub(lent[2]),
        });
    }
}

fn add(total: &mut [u64; 3], more: [u64; 3]) {
    total.iter_mut().zip(more).for_each(|(t, m)| *t += m);
}

/// A transport that counts what passes through it: the collectives (meetings of the ranks:
/// every call but a point-to-point one), the bytes received and the wall time spent inside
/// them (waiting included), for the `speed` line, and the step's phase profile.
#[derive(Debug)]
struct Counted {
    inner: Arc<World>,
    meetings: AtomicUsize,
    bytes: AtomicUsize,
    nanos: AtomicU64,
    phases: std::sync::Mutex<Phases>,
}

impl Counted {
    fn time<R>(&self, bytes: usize, op: impl FnOnce() -> R) -> R {
        self.time_lending(bytes, |_| op())
    }

    /// Whether the phase profile is asked for: reading its clocks allocates (a file's
    /// text), so only then.
    fn profiling(&self) -> bool {
        self.phases.lock().is_ok_and(|p| p.steps > 0)
    }

    /// `op` timed as a meeting, but for the caller's work it runs inside (T16's folds), whose
    /// clocks it adds to its argument: that work is the next phase's compute.
    fn time_lending<R>(&self, bytes: usize, op: impl FnOnce(&mut [u64; 3]) -> R) -> R {
        let entered = self
            .phases
            .lock()
            .ok()
            .filter(|p| p.steps > 0)
            .and_then(|mut p| p.enter());
        let t = Instant::now();
        let mut lent = [0; 3];
        let r = op(&mut lent);
        let wall = (t.elapsed().as_nanos() as u64).saturating_sub(lent[0]);
        self.nanos.fetch_add(wall, Ordering::Relaxed);
        if let Ok(mut p) = self.phases.lock() {
            p.leave(entered, lent);
        }
        self.meetings.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        r
    }

    /// One `phase` line per meeting of the step, of this rank: ms a step of wall, CPU and
    /// run-queue time before the meeting (`compute_*`) and inside it (`meet_*`).
    fn print_phases(&self, reduce: Reduce) {
        let Ok(p) = self.phases.lock() else { return };
        let names: &[&str] = match (reduce, p.per_step) {
            (Reduce::Exact, 3) => &["rows_all_to_all", "norm_gather", "weights_all_to_all"],
            (Reduce::Exact, _) => &[
                "output_gather",
                "rows_all_to_all",
                "norm_gather",
                "weights_all_to_all",
            ],
            (Reduce::Fast, _) => &["output_gather", "all_reduce"],
        };
        // The first step is left out (Phases::enter).
        let per = |ns: u64| ns as f64 / 1e6 / p.steps.saturating_sub(1).max(1) as f64;
        let cpus: Vec<String> = (0..64)
            .filter(|c| p.cpus >> c & 1 == 1)
            .map(|c| c.to_string())
            .collect();
        for (k, name) in names.iter().enumerate().take(p.per_step) {
            let (b, i) = (p.before[k], p.inside[k]);
            println!(
                "phase rank={} cpus={} reduce={reduce:?} meeting={k}:{name} compute_wall_ms={:.2} \
                 compute_cpu_ms={:.2} compute_queued_ms={:.2} meet_wall_ms={:.2} \
                 meet_cpu_ms={:.2} meet_queued_ms={:.2}",
                self.inner.rank(),
                cpus.join(","),
                per(b[0]),
                per(b[1]),
                per(b[2]),
                per(i[0]),
                per(i[1]),
                per(i[2])
            );
        }
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
    fn all_to_all_pieces(&self, sends: &[SendPiece<'_>], recvs: &mut [RecvPiece<'_>]) {
        let bytes = recvs.iter().map(|p| p.bytes.len()).sum();
        self.time(bytes, || self.inner.all_to_all_pieces(sends, recvs));
    }
    fn all_to_all_pieces_then(
        &self,
        sends: &[SendPiece<'_>],
        recvs: &mut [RecvPiece<'_>],
        then: &mut dyn FnMut(usize, &[RecvPiece<'_>]),
    ) {
        let bytes = recvs.iter().map(|p| p.bytes.len()).sum();
        let profiling = self.profiling();
        self.time_lending(bytes, |lent| {
            let mut timed = |p: usize, pieces: &[RecvPiece<'_>]| {
                let (start, t) = (profiling.then(Clocks::now), Instant::now());
                then(p, pieces);
                match start {
                    Some(start) => add(lent, start.until(&Clocks::now())),
                    // The wall clock alone (no allocation): `in_collectives` leaves it out.
                    None => lent[0] += t.elapsed().as_nanos() as u64,
                }
            };
            self.inner.all_to_all_pieces_then(sends, recvs, &mut timed);
        });
    }
}

/// 784-1024-1024-1, ReLU, sigmoid output: the network of the speed target.
fn network() -> MlpSpec {
    MlpSpec::new(
        784,
        vec![
            LayerSpec::new(1024, Activation::Relu),
            LayerSpec::new(1024, Activation::Relu),
            LayerSpec::new(1, Activation::Sigmoid),
        ],
    )
}

fn speed(world: Option<&Arc<World>>, steps: usize, reduce: Reduce, phases: bool) {
    const BATCH: usize = 512;
    let rows = BATCH * steps;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let x = Array2::from_shape_fn((rows, 784), |_| rng.random::<f32>());
    let y = Array2::from_shape_fn((rows, 1), |(i, _)| f32::from(u8::from(i % 3 == 0)));
    let spec = network();
    let mut config = TrainConfig::keras_recipe(1, 11);
    config.batch_size = BATCH;
    config.threads = Some(1);
    let loss = config.loss;
    let mut t = Trainer::<f32>::new(spec, Init::GlorotUniform, config).expect("valid recipe");
    let counted = world.map(|w| {
        Arc::new(Counted {
            inner: w.clone(),
            meetings: AtomicUsize::new(0),
            bytes: AtomicUsize::new(0),
            nanos: AtomicU64::new(0),
            phases: std::sync::Mutex::new(Phases {
                per_step: match reduce {
                    // T17: the output's rows ride in the rows' all-to-all (np ≥ 2).
                    Reduce::Exact if loss.rows_separable() && w.size() > 1 => 3,
                    Reduce::Exact => 4,
                    Reduce::Fast => 2,
                },
                steps: if phases { steps } else { 0 },
                before: vec![[0; 3]; 4],
                inside: vec![[0; 3]; 4],
                ..Phases::default()
            }),
        })
    });
    if let Some(c) = &counted {
        let collective: Arc<dyn Collective> = c.clone();
        t.set_distributed(Distributed { collective, reduce })
            .expect("no dropout");
    }
    let allocs = (
        ALLOCATIONS.load(Ordering::Relaxed),
        ALLOCATED_BYTES.load(Ordering::Relaxed),
    );
    let (wall, cpu) = (Instant::now(), cpu_seconds());
    t.fit(&DataView::new(x.view(), y.view()), None, &mut |_| {})
        .expect("training runs");
    let (wall, cpu) = (wall.elapsed().as_secs_f64(), cpu_seconds() - cpu);
    let allocs = (
        ALLOCATIONS.load(Ordering::Relaxed) - allocs.0,
        ALLOCATED_BYTES.load(Ordering::Relaxed) - allocs.1,
    );
    if world.is_none_or(|w| w.rank() == 0) {
        let ranks = world.map_or(1, |w| w.size());
        println!(
            "speed ranks={ranks} reduce={reduce:?} steps={steps} wall_s={wall:.3} cpu_s={cpu:.3} \
             samples_per_s={:.1} step_ms={:.2} allocations_per_step={:.1} allocated_mb_per_step={:.3}",
            rows as f64 / wall,
            1e3 * wall / steps as f64,
            allocs.0 as f64 / steps as f64,
            allocs.1 as f64 / 1e6 / steps as f64
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
    if let Some(c) = counted.as_ref().filter(|_| phases) {
        // Rank 0 first: the lines of the ranks do not interleave.
        let w = &c.inner;
        for r in 0..w.size() {
            let mut all = vec![0u8; w.size()];
            w.all_gather(&[0], &mut all, &vec![1; w.size()]);
            if r == w.rank() {
                c.print_phases(reduce);
                use std::io::Write;
                let _ = std::io::stdout().flush();
            }
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

/// The minimum CPU time of each named part over the repetitions, in first-seen order.
#[derive(Default)]
struct PartTimes {
    parts: Vec<(&'static str, f64)>,
}

impl PartTimes {
    /// Runs `f`, keeping the least CPU time (ms) seen for `name`.
    fn time<R>(&mut self, name: &'static str, f: impl FnOnce() -> R) -> R {
        let start = thread_cpu_ns();
        let r = f();
        let ms = (thread_cpu_ns() - start) as f64 / 1e6;
        match self.parts.iter_mut().find(|(n, _)| *n == name) {
            Some((_, best)) => *best = best.min(ms),
            None => self.parts.push((name, ms)),
        }
        r
    }

    fn sum(&self, prefix: &str) -> f64 {
        let parts = self.parts.iter().filter(|(n, _)| n.starts_with(prefix));
        parts.map(|(_, ms)| ms).sum()
    }
}

/// `parts`: the plain step's parts at B = 512 against rank 0's at np = 2, in one thread, each
/// the least CPU time over `reps` (see the module doc). The other rank's rows, which rank 0
/// would receive, come from a second pass, untimed, laid out as the exchange delivers them.
fn parts(reps: usize) {
    const B: usize = 512;
    const HALF: usize = B / 2;
    let mut rng = seeded_rng(1);
    let mut mlp = Mlp::<f32>::new(network(), Init::GlorotUniform, &mut rng).expect("valid net");
    let mut data = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    let x = Array2::from_shape_fn((B, 784), |_| data.random::<f32>());
    let d_z = Array2::from_shape_fn((B, 1), |_| (data.random::<f32>() - 0.5) / B as f32);
    let (mut ws, mut other_ws) = (mlp.workspace(B), mlp.workspace(B));
    let plan = ShardPlan::for_batch(B);
    let adam = OptimizerConfig::adam_keras(1e-3);
    let mut optimizer = Optimizer::<f32>::new(adam, mlp.num_params()).expect("valid optimizer");
    let widths: Vec<usize> = (0..mlp.num_layers())
        .map(|l| mlp.theta(l).nrows())
        .collect();
    let mine: Vec<_> = mlp
        .unit_segments(2)
        .into_iter()
        .filter(|g| g.rank == 0)
        .collect();
    let mine: Vec<_> = mine.into_iter().map(|g| g.params).collect();
    let (mut packed, mut squares) = (Vec::new(), Vec::new());
    let mut t = PartTimes::default();
    for _ in 0..reps {
        let fwd = t.time("plain_forward", || {
            mlp.forward(x.view(), Mode::Inference, &mut ws)
        });
        let up = Upstream::DZ(d_z.view());
        t.time("plain_backward", || mlp.backward_sharded(fwd, up, plan));
        t.time("plain_norm", || mlp.grad_norm());
        let (params, grads) = mlp.params_and_grads_mut();
        t.time("plain_adam", || optimizer.step_lr(params, grads, 1e-3));
        // Rank 0 of 2: shards 0..4 are its rows, 4..8 rank 1's.
        let rows = x.slice(s![..HALF, ..]);
        let fwd = t.time("rank_forward", || {
            mlp.forward(rows, Mode::Inference, &mut ws)
        });
        let up = Upstream::DZ(d_z.slice(s![..HALF, ..]));
        let deltas = t.time("rank_deltas", || mlp.deltas(fwd, up));
        // With the packing `Exchange::share_rows` does.
        t.time("rank_pack", || {
            packed.clear();
            for (l, &h) in widths.iter().enumerate() {
                let theirs = deltas.delta(l).slice_move(s![.., units_of_rank(h, 1, 2)]);
                append_rows(&mut packed, theirs);
            }
        });
        let fwd = mlp.forward(x.slice(s![HALF.., ..]), Mode::Inference, &mut other_ws);
        let other = mlp.deltas(fwd, Upstream::DZ(d_z.slice(s![HALF.., ..])));
        let received: Vec<Array2<f32>> = (0..widths.len())
            .map(|l| {
                let units = units_of_rank(widths[l], 0, 2);
                other
                    .delta(l)
                    .slice(s![.., units])
                    .as_standard_layout()
                    .to_owned()
            })
            .collect();
        t.time("rank_unit_gradients", || {
            mlp.unit_gradients(plan, 0, 2, |l, shard| {
                let rows = plan.shard(shard);
                let units = units_of_rank(widths[l], 0, 2);
                let (source, local) = match shard < plan.count() / 2 {
                    true => (&deltas, rows.clone()),
                    false => (&other, rows.start - HALF..rows.end - HALF),
                };
                let input = match l {
                    0 => x.slice(s![rows, ..]),
                    _ => source.output(l - 1).slice_move(s![local.clone(), ..]),
                };
                let delta = match shard < plan.count() / 2 {
                    true => deltas.delta(l).slice_move(s![local, units]),
                    false => received[l].slice(s![local, ..]),
                };
                (input, delta)
            })
        });
        t.time("rank_norm", || mlp.unit_square_sums(0, 2, &mut squares));
        let (params, grads) = mlp.params_and_grads_mut();
        t.time("rank_adam", || {
            optimizer.step_lr_ranges(params, grads, 1e-3, &mine)
        });
    }
    let line: Vec<String> = t
        .parts
        .iter()
        .map(|(n, ms)| format!("{n}_ms={ms:.2}"))
        .collect();
    println!("parts reps={reps} {}", line.join(" "));
    let (plain, rank) = (t.sum("plain_"), t.sum("rank_"));
    println!(
        "parts plain_ms={plain:.2} half_plain_ms={:.2} rank_ms={rank:.2} rank_over_half={:.3}",
        plain / 2.0,
        rank / (plain / 2.0)
    );
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
        Some("speed") if has("--single") => speed(None, steps, reduce, false),
        Some("speed") => {
            let world = Arc::new(World::init().expect("MPI starts"));
            speed(Some(&world), steps, reduce, has("--phases"));
            // Dropping the world finalises MPI.
        }
        Some("parts") => match build_pool(1) {
            // One worker, as the trainer's pool at `threads = 1`.
            Ok(pool) => pool.install(|| parts(steps)),
            Err(e) => eprintln!("mpi_bench: no thread pool: {e}"),
        },
        Some("sweep") => {
            let world = World::init().expect("MPI starts");
            sweep(&world);
        }
        _ => eprintln!(
            "usage: mpi_bench speed [--single] [--fast] [--steps K] [--phases] | sweep | parts [--steps REPS]"
        ),
    }
}
