//! The MPI transport of a distributed run (`--distributed`, notes/distributed.md), behind
//! the `mpi` cargo feature: [`World`] implements the trainer's
//! [`Collective`](glassbox_train::distributed::Collective) over rsmpi, and
//! [`read_file_parts`] gives every rank the bytes of a file of which each read one part.

pub mod predict;

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use glassbox_train::distributed::{
    Collective, RecvPiece, SendPiece, float_bytes_mut, pairwise_pieces, pieces_from,
};
use mpi::Threading;
use mpi::datatype::PartitionMut;
use mpi::environment::Universe;
use mpi::raw::AsRaw;
use mpi::topology::SimpleCommunicator;
use mpi::traits::{Communicator, CommunicatorCollectives, Destination, Root, Source};

/// The environment variable naming a rank whose read of its part fails (tests only).
pub const FAULT_READ_RANK: &str = "GLASSBOX_FAULT_READ_RANK";

/// The environment variable `R:K` making rank R die (exit 3, no MPI_Finalize: a crash) at
/// its K-th collective (all-gather, all-to-all, all-reduce) — in training, four a step with
/// the exact reduction, after the two all-gathers of the file's read (tests only,
/// notes/distributed.md §6).
pub const FAULT_DIE: &str = "GLASSBOX_FAULT_DIE";

/// The environment variable giving a smaller round of the all-gather than MPI's `i32` limit
/// needs ([`round_bytes`]), so that tests run the many-round path on small files.
pub const GATHER_ROUND_BYTES: &str = "GLASSBOX_GATHER_ROUND_BYTES";

/// Whether this process learnt of a failure together with every other rank (an exchange of
/// statuses, [`gather_results`]): it can then finalise MPI like the others instead of
/// aborting the job.
static SHARED_FAILURE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// This process's rank, once MPI is initialised (for [`finish`]).
static THIS_RANK: std::sync::OnceLock<usize> = std::sync::OnceLock::new();

/// MPI, initialised, and its world communicator. Dropping it finalises MPI.
pub struct World {
    comm: SimpleCommunicator,
    _universe: Universe,
    /// The all-gather at which this rank dies ([`FAULT_DIE`]), and the count so far.
    die_at: Option<usize>,
    gathers: std::sync::atomic::AtomicUsize,
    /// [`GATHER_ROUND_BYTES`], when set to a positive number below [`round_bytes`].
    round_override: Option<usize>,
    /// The send copy of [`Collective::all_reduce_sum`], kept from call to call.
    scratch: std::sync::Mutex<Vec<f64>>,
    /// MPI's counts and displacements of a collective, kept from call to call: a step
    /// allocates nothing.
    ints: std::sync::Mutex<Vec<i32>>,
    /// The requests of [`Collective::all_to_all_pieces`], kept from call to call.
    requests: std::sync::Mutex<Vec<mpi::ffi::MPI_Request>>,
}

impl std::fmt::Debug for World {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "World(rank {} of {})", self.rank(), self.size())
    }
}

// SAFETY: MPI runs at `Threading::Serialized` (checked in `World::init`): any thread may
// call it, one at a time. The trainer makes its calls from one thread at a time (the ranks'
// members train one after another, steps in order), so no two calls overlap.
unsafe impl Send for World {}
// SAFETY: as above.
unsafe impl Sync for World {}

impl World {
    /// Initialises MPI for calls from any one thread at a time.
    ///
    /// # Errors
    /// When MPI was initialised already or cannot give that thread level.
    pub fn init() -> Result<World, String> {
        let (universe, level) = mpi::initialize_with_threading(Threading::Serialized)
            .ok_or("MPI was initialised already")?;
        if level < Threading::Serialized {
            return Err(format!("MPI gives thread level {level:?}, not Serialized"));
        }
        let comm = universe.world();
        let _ = THIS_RANK.set(comm.rank().unsigned_abs() as usize);
        let rank = comm.rank().to_string();
        let die_at = std::env::var(FAULT_DIE).ok().and_then(|v| {
            let (r, k) = v.split_once(':')?;
            (r == rank).then(|| k.parse().ok()).flatten()
        });
        Ok(World {
            comm,
            _universe: universe,
            die_at,
            gathers: std::sync::atomic::AtomicUsize::new(0),
            round_override: std::env::var(GATHER_ROUND_BYTES)
                .ok()
                .and_then(|v| v.parse().ok())
                .filter(|&b: &usize| b > 0),
            scratch: std::sync::Mutex::new(Vec::new()),
            ints: std::sync::Mutex::new(Vec::new()),
            requests: std::sync::Mutex::new(Vec::new()),
        })
    }
}

/// The most bytes one rank adds to one round of [`World::all_gather`]: MPI takes counts and
/// displacements as `i32`, so `ranks` pieces of this size together stay within `i32::MAX`.
fn round_bytes(ranks: usize) -> usize {
    i32::MAX as usize / ranks.max(1)
}

/// Round `k`'s piece of each rank's message when every rank adds at most `round` bytes a
/// round: rank r sends its bytes `k·round … k·round + pieces[r]`.
fn round_pieces(counts: &[usize], round: usize, k: usize) -> Vec<usize> {
    counts
        .iter()
        .map(|&c| c.saturating_sub(k * round).min(round))
        .collect()
}

/// Appends to `ints` MPI's counts, then displacements, of pieces laid end to end whose sum
/// is at most `i32::MAX` (the rounds of [`round_pieces`] with [`round_bytes`] make it so).
fn push_counts_and_displacements(ints: &mut Vec<i32>, pieces: &[usize]) {
    ints.extend(pieces.iter().map(|&c| c as i32));
    let mut at = 0usize;
    for &c in pieces {
        ints.push(at as i32);
        at += c;
    }
    debug_assert!(at <= i32::MAX as usize, "a round over i32::MAX bytes");
}

/// The tag of the messages of [`Collective::all_to_all_pieces`] (the other point-to-point
/// messages use MPI's default tag).
const PIECES_TAG: i32 = 17;

impl World {
    /// Counts a collective of this rank ([`FAULT_DIE`] dies at the K-th).
    fn count_collective(&self) {
        let k = 1 + self
            .gathers
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if self.die_at == Some(k) {
            eprintln!("rank {}: {FAULT_DIE}: dying at collective {k}", self.rank());
            std::process::exit(3);
        }
    }

    /// [`Collective::all_gather`] in rounds of at most `round` bytes per rank: one round
    /// straight into `recv` when every message fits, else each round's pieces gathered
    /// and copied to their places.
    fn all_gather_in_rounds(&self, send: &[u8], recv: &mut [u8], counts: &[usize], round: usize) {
        let rounds = counts
            .iter()
            .max()
            .map_or(1, |&most| most.div_ceil(round).max(1));
        let mut ints = self
            .ints
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if rounds == 1 {
            ints.clear();
            push_counts_and_displacements(&mut ints, counts);
            let (c, d) = ints.split_at(counts.len());
            self.comm
                .all_gather_varcount_into(send, &mut PartitionMut::new(recv, c, d));
            return;
        }
        let offsets: Vec<usize> = counts
            .iter()
            .scan(0, |at, &c| {
                let o = *at;
                *at += c;
                Some(o)
            })
            .collect();
        let mut buf = Vec::new();
        for k in 0..rounds {
            let pieces = round_pieces(counts, round, k);
            buf.clear();
            buf.resize(pieces.iter().sum(), 0);
            let start = (k * round).min(send.len());
            let mine = &send[start..start + pieces[self.rank()]];
            ints.clear();
            push_counts_and_displacements(&mut ints, &pieces);
            let (c, d) = ints.split_at(pieces.len());
            self.comm
                .all_gather_varcount_into(mine, &mut PartitionMut::new(&mut buf[..], c, d));
            let mut at = 0;
            for (r, &len) in pieces.iter().enumerate() {
                let to = offsets[r] + k * round;
                recv[to..to + len].copy_from_slice(&buf[at..at + len]);
                at += len;
            }
        }
    }

    /// One nonblocking `MPI_Irecv`/`MPI_Isend` per piece (T14); with `then` (T16), for every
    /// rank p in rank order, an `MPI_Wait` on each of p's receives (consecutive in `recvs`,
    /// [`pieces_from`]) and `then(p, …)`; last, one `MPI_Waitall` for what is left.
    fn exchange_pieces(
        &self,
        sends: &[SendPiece<'_>],
        recvs: &mut [RecvPiece<'_>],
        mut then: Option<OnArrival<'_>>,
    ) {
        self.count_collective();
        let fits = |len: usize| i32::try_from(len).is_ok();
        if !(sends.iter().all(|p| fits(p.bytes.len()))
            && recvs.iter().all(|p| fits(p.bytes.len()))
            && fits(sends.len() + recvs.len()))
        {
            // MPI counts are i32 (of bytes, and of requests for `MPI_Waitall`): blocking
            // messages of 1 GiB at most, then every rank's turn.
            pairwise_pieces(self, sends, recvs);
            if let Some(then) = then {
                for p in 0..self.size() {
                    then(p, &recvs[pieces_from(recvs, p)]);
                }
            }
            return;
        }
        let mut requests = self
            .requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        requests.clear();
        let comm = self.comm.as_raw();
        // The receives first, so that each message finds its place posted (a large one then
        // goes by one copy, from the sender's buffer into the receiver's). Between two ranks
        // MPI delivers messages of one tag in the order they were sent: the pieces match in
        // order, as the contract says. Request i is piece i's (receives, then sends), a null
        // request for an empty piece.
        let receives = recvs
            .iter_mut()
            .map(|p| (p.bytes.as_mut_ptr(), p.bytes.len(), p.rank));
        // A send buffer's pointer is made mutable only to share the loop: MPI only reads it.
        let sent = |p: &SendPiece<'_>| (p.bytes.as_ptr().cast_mut(), p.bytes.len(), p.rank);
        let receives = receives.map(|m| (m, false));
        let messages = receives.chain(sends.iter().map(|p| (sent(p), true)));
        for ((buf, len, rank), send) in messages {
            // SAFETY: a constant the MPI library sets once at start-up.
            let null = unsafe { mpi::ffi::RSMPI_REQUEST_NULL };
            if len == 0 {
                requests.push(null);
                continue;
            }
            let mut request = std::mem::MaybeUninit::uninit();
            let (count, rank, at) = (len as i32, rank as i32, request.as_mut_ptr());
            // SAFETY: a constant the MPI library sets once at start-up.
            let byte = unsafe { mpi::ffi::RSMPI_UINT8_T };
            // SAFETY: the buffer is a live byte slice of `len` bytes (checked to fit an i32),
            // exclusive for a receive, and stays borrowed until its request is completed
            // below; the datatype, rank and communicator are valid. MPI writes the request
            // (an error aborts every rank: MPI's default handler).
            unsafe {
                if send {
                    mpi::ffi::MPI_Isend(
                        buf.cast_const().cast(),
                        count,
                        byte,
                        rank,
                        PIECES_TAG,
                        comm,
                        at,
                    );
                } else {
                    mpi::ffi::MPI_Irecv(buf.cast(), count, byte, rank, PIECES_TAG, comm, at);
                }
                requests.push(request.assume_init());
            }
        }
        // Without `then` nothing runs between ranks: the `MPI_Waitall` below completes all.
        let ranks = if then.is_some() { self.size() } else { 0 };
        for p in 0..ranks {
            let mine = pieces_from(recvs, p);
            for request in &mut requests[mine.clone()] {
                // SAFETY: a request started above (or null, which completes at once); MPI
                // sets it to null once complete. The status is not asked for.
                unsafe {
                    mpi::ffi::MPI_Wait(request, mpi::ffi::RSMPI_STATUS_IGNORE);
                }
            }
            // Rank p's receives are complete: their bytes are the caller's to read.
            if let Some(then) = then.as_mut() {
                then(p, &recvs[mine]);
            }
        }
        // At most one request a piece, and the pieces were counted to fit an i32 above.
        let count = requests.len() as i32;
        // SAFETY: every request was started above (the completed ones are null now) and is
        // completed here, while every buffer is still borrowed; no status asked for.
        unsafe {
            mpi::ffi::MPI_Waitall(
                count,
                requests.as_mut_ptr(),
                mpi::ffi::RSMPI_STATUSES_IGNORE,
            );
        }
        requests.clear();
    }
}

/// What runs on a rank's pieces once they have arrived (T16).
type OnArrival<'f> = &'f mut dyn FnMut(usize, &[RecvPiece<'_>]);

impl Collective for World {
    fn rank(&self) -> usize {
        // MPI numbers ranks 0..size: never negative.
        self.comm.rank().unsigned_abs() as usize
    }

    fn size(&self) -> usize {
        self.comm.size().unsigned_abs() as usize
    }

    fn all_gather(&self, send: &[u8], recv: &mut [u8], counts: &[usize]) {
        self.count_collective();
        let limit = round_bytes(counts.len());
        let round = self.round_override.map_or(limit, |b| b.min(limit));
        self.all_gather_in_rounds(send, recv, counts, round);
    }

    /// (T14) The nonblocking exchange of [`Self::all_to_all_pieces_then`] with nothing to
    /// run between ranks: one `MPI_Waitall`, so a rank's receive pieces need not be
    /// consecutive (the weights' exchange at np ≥ 3 lists them by layer, not by rank).
    fn all_to_all_pieces(&self, sends: &[SendPiece<'_>], recvs: &mut [RecvPiece<'_>]) {
        self.exchange_pieces(sends, recvs, None);
    }

    /// (T16) One nonblocking `MPI_Irecv`/`MPI_Isend` per piece; then, for every rank p in
    /// rank order, an `MPI_Wait` on each of p's receives and `then(p, …)`; last, one
    /// `MPI_Waitall` for the sends. With vader's single copy a receiver pulls a large piece
    /// from the sender's buffer as soon as the sender has posted it, so rank p's `then` runs
    /// while later ranks' pieces are still to come, and a rank that waits only on what it
    /// receives is not held by its own sends.
    fn all_to_all_pieces_then(
        &self,
        sends: &[SendPiece<'_>],
        recvs: &mut [RecvPiece<'_>],
        then: &mut dyn FnMut(usize, &[RecvPiece<'_>]),
    ) {
        self.exchange_pieces(sends, recvs, Some(then));
    }
    fn send(&self, to: usize, data: &[u8]) {
        self.comm.process_at_rank(to as i32).send(data);
    }

    fn recv(&self, from: usize, data: &mut [u8]) {
        self.comm.process_at_rank(from as i32).receive_into(data);
    }

    fn broadcast(&self, root: usize, data: &mut [u8]) {
        self.comm.process_at_rank(root as i32).broadcast_into(data);
    }

    fn all_reduce_sum(&self, data: &mut [u8], f32: bool) {
        use mpi::collective::SystemOperation;
        self.count_collective();
        // MPI wants the values in a buffer of their own: a copy into the kept scratch (an
        // allocation of P floats a step would page-fault its way in every time).
        let mut scratch = self
            .scratch
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let words = data.len().div_ceil(8);
        if scratch.len() < words {
            scratch.resize(words, 0.0);
        }
        let copy = &mut float_bytes_mut(&mut scratch[..words])[..data.len()];
        copy.copy_from_slice(data);
        // SAFETY (every `align_to`): `data` is the byte view of a slice of that float type
        // (`float_bytes_mut`) and `copy` a prefix of an f64 buffer of the same length, so
        // both are aligned and a whole number of elements; the prefixes and suffixes are
        // then empty, which the assertions check.
        if f32 {
            let (pre, values, post) = unsafe { data.align_to_mut::<f32>() };
            let (spre, send, spost) = unsafe { copy.align_to::<f32>() };
            assert!(pre.is_empty() && post.is_empty() && spre.is_empty() && spost.is_empty());
            self.comm
                .all_reduce_into(send, values, SystemOperation::sum());
        } else {
            let (pre, values, post) = unsafe { data.align_to_mut::<f64>() };
            let (spre, send, spost) = unsafe { copy.align_to::<f64>() };
            assert!(pre.is_empty() && post.is_empty() && spre.is_empty() && spost.is_empty());
            self.comm
                .all_reduce_into(send, values, SystemOperation::sum());
        }
    }
}

/// The first byte of rank `rank`'s part of a file of `len` bytes cut among `ranks`: the
/// start of the first line that begins at or after `⌊rank·len/ranks⌋` (0 for rank 0,
/// `len` past the last rank).
fn part_start(file: &mut File, len: u64, rank: usize, ranks: usize) -> std::io::Result<u64> {
    let nominal = len * rank as u64 / ranks as u64;
    if rank == 0 || nominal >= len {
        return Ok(if rank == 0 { 0 } else { len });
    }
    // A line begins at `nominal` when the byte before it ends a line.
    file.seek(SeekFrom::Start(nominal - 1))?;
    let mut at = nominal - 1;
    let mut buf = [0u8; 4096];
    loop {
        let got = file.read(&mut buf)?;
        if got == 0 {
            return Ok(len);
        }
        if let Some(i) = buf[..got].iter().position(|&b| b == b'\n') {
            return Ok(at + i as u64 + 1);
        }
        at += got as u64;
    }
}

/// Rank `rank`'s part of `path`: whole lines, the parts of all ranks in rank order being the
/// whole file.
///
/// # Errors
/// The I/O error, as text.
pub fn read_part(path: &Path, rank: usize, ranks: usize) -> Result<Vec<u8>, String> {
    let mut file = File::open(path).map_err(|e| e.to_string())?;
    let len = file.metadata().map_err(|e| e.to_string())?.len();
    let start = part_start(&mut file, len, rank, ranks).map_err(|e| e.to_string())?;
    let end = part_start(&mut file, len, rank + 1, ranks).map_err(|e| e.to_string())?;
    let mut part = vec![0u8; usize::try_from(end - start).map_err(|e| e.to_string())?];
    file.seek(SeekFrom::Start(start))
        .and_then(|_| file.read_exact(&mut part))
        .map_err(|e| e.to_string())?;
    Ok(part)
}

/// Every rank's `result`, on every rank: the bytes of all ranks concatenated in rank order
/// with each rank's length — or, when any rank failed, every failure as "rank R …: cause" —
/// so that all ranks go on, or stop, together.
///
/// # Errors
/// When any rank failed: the failures of all ranks, `what` saying what failed
/// ("could not read its part").
pub fn gather_results(
    world: &World,
    result: Result<Vec<u8>, String>,
    what: &str,
) -> Result<(Vec<u8>, Vec<usize>), String> {
    let ranks = world.size();
    let (ok, body) = match &result {
        Ok(bytes) => (1u8, bytes.as_slice()),
        Err(why) => (0u8, why.as_bytes()),
    };
    let mut head = [0u8; 9];
    head[0] = ok;
    head[1..].copy_from_slice(&(body.len() as u64).to_le_bytes());
    let mut heads = vec![0u8; 9 * ranks];
    world.all_gather(&head, &mut heads, &vec![9; ranks]);
    let counts: Vec<usize> = heads
        .chunks_exact(9)
        .map(|h| u64::from_le_bytes(std::array::from_fn(|i| h[1 + i])) as usize)
        .collect();
    let mut all = vec![0u8; counts.iter().sum()];
    world.all_gather(body, &mut all, &counts);
    // Each cause once, with the ranks that met it (a bad header fails every rank alike).
    let mut failures: Vec<(Vec<usize>, String)> = Vec::new();
    let mut at = 0;
    for (r, (h, &c)) in heads.chunks_exact(9).zip(&counts).enumerate() {
        if h[0] == 0 {
            let why = String::from_utf8_lossy(&all[at..at + c]).into_owned();
            match failures.iter_mut().find(|(_, w)| *w == why) {
                Some((ranks, _)) => ranks.push(r),
                None => failures.push((vec![r], why)),
            }
        }
        at += c;
    }
    if failures.is_empty() {
        return Ok((all, counts));
    }
    SHARED_FAILURE.store(true, std::sync::atomic::Ordering::Relaxed);
    let named = |ranks: &[usize]| match ranks {
        [r] => format!("rank {r}"),
        _ => format!(
            "ranks {}",
            ranks
                .iter()
                .map(|r| r.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    Err(failures
        .iter()
        .map(|(ranks, why)| format!("{} {what}: {why}", named(ranks)))
        .collect::<Vec<_>>()
        .join("; "))
}

/// Every rank's `part` (or the reason it has none), on every rank: the parts concatenated
/// in rank order, or every failure as "rank R: cause" — on every rank, so all stop
/// together.
///
/// # Errors
/// When any rank failed, the failures of all ranks.
pub fn gather_parts(world: &World, part: Result<Vec<u8>, String>) -> Result<Vec<u8>, String> {
    Ok(gather_results(world, part, "could not read its part")?.0)
}

/// [`read_part`] on this rank, then [`gather_parts`].
///
/// # Errors
/// As [`gather_parts`].
pub fn read_file_parts(world: &World, path: &Path) -> Result<Vec<u8>, String> {
    let rank = world.rank();
    // Fault injection for the tests (notes/distributed.md §5): this rank's read fails.
    let injected = std::env::var(FAULT_READ_RANK).ok() == Some(rank.to_string());
    let part = match injected {
        true => Err(format!("{FAULT_READ_RANK}={rank} (injected fault)")),
        false => read_part(path, rank, world.size()),
    };
    gather_parts(world, part)
}

/// Ends a distributed command's `result` on this rank. On success MPI is finalised and
/// `result` returned. On a failure every rank learnt together, rank 0 reports it, then
/// every rank meets at a barrier, finalises and exits with its code (the others quietly).
/// A failure of this rank alone (an output it cannot open, a model it cannot load) is
/// reported here and the whole job aborted (`MPI_Abort`, exit code 2 or 1): the other ranks
/// may be waiting for this one in a collective, and would otherwise wait for ever.
pub fn finish(result: Result<(), crate::exit::CliError>) -> Result<(), crate::exit::CliError> {
    if let Err(e) = &result
        && !SHARED_FAILURE.load(std::sync::atomic::Ordering::Relaxed)
    {
        let code = crate::exit::report_to(e, &mut std::io::stderr().lock());
        // SAFETY: MPI_Abort may be called at any time after MPI_Init; it does not return.
        unsafe {
            mpi::ffi::MPI_Abort(mpi::ffi::RSMPI_COMM_WORLD, i32::from(code));
        }
        std::process::exit(i32::from(code));
    }
    if let Err(e) = &result {
        // Rank 0 reports before any rank exits: the first rank to exit non-zero makes
        // `mpirun` kill the rest, and a report printed after that would be lost.
        let code = match THIS_RANK.get() {
            Some(0) | None => crate::exit::report_to(e, &mut std::io::stderr().lock()),
            Some(_) => e.exit_code(),
        };
        // SAFETY: every rank learnt the failure in the same collective and comes here, so
        // the barrier is met; MPI is initialised (a shared failure needs a collective) and,
        // checked first, not yet finalised.
        unsafe {
            let mut done = 0;
            mpi::ffi::MPI_Finalized(&mut done);
            if done == 0 {
                mpi::ffi::MPI_Barrier(mpi::ffi::RSMPI_COMM_WORLD);
            }
        }
        finalize();
        std::process::exit(i32::from(code));
    }
    finalize();
    result
}

/// Finalises MPI (once; later calls do nothing). The [`World`] a trainer holds lives in a
/// process-wide slot and is never dropped, so the command calls this when it is done —
/// on success or failure, on every rank — else `mpirun` reports a rank that exited without
/// finalising.
pub fn finalize() {
    let mut done = 0;
    // SAFETY: MPI_Finalized may be called at any time; MPI_Finalize once after MPI_Init,
    // from the thread that initialised MPI (the command's main thread calls this).
    unsafe {
        mpi::ffi::MPI_Finalized(&mut done);
        if done == 0 {
            let mut init = 0;
            mpi::ffi::MPI_Initialized(&mut init);
            if init != 0 {
                mpi::ffi::MPI_Finalize();
            }
        }
    }
}
