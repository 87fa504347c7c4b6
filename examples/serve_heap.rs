//! `glassbox` with a counting allocator and a memory log: a diagnostic for the serving soak
//! (notes/serving.md §4), never shipped in the server.
//!
//!     HEAP_LOG=/tmp/heap.tsv HEAP_EVERY_MS=500 \
//!       target/release/examples/serve_heap serve shoppers=MODEL --addr 127.0.0.1:18093
//!
//! It runs the ordinary command line (so `GLASSBOX=…/serve_heap benches/serving/soak.sh …`
//! drives it), and a thread appends one line every HEAP_EVERY_MS to HEAP_LOG: the live heap
//! bytes and allocations the program holds (counted at every alloc/free), glibc's own view
//! (`mallinfo2`: bytes in use, free bytes kept, mapped blocks), and where the resident pages
//! are (`/proc/self/smaps`: the main heap, anonymous maps, thread stacks, files). It tells a
//! leak (live bytes grow) from allocator retention (live bytes flat, the heap's free bytes or
//! RSS grow) from stacks or per-version buffers.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write as _;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

/// The system allocator, counting what the program holds.
struct Counting;

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);
static LIVE_ALLOCS: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call goes to `System` unchanged; the counters only observe.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
            LIVE_ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
            LIVE_ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE_BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        LIVE_ALLOCS.fetch_sub(1, Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE_BYTES.fetch_add(
                new_size as isize - layout.size() as isize,
                Ordering::Relaxed,
            );
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// glibc's `struct mallinfo2` (all `size_t`).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[repr(C)]
#[derive(Default)]
struct MallInfo2 {
    arena: usize,
    ordblks: usize,
    smblks: usize,
    hblks: usize,
    hblkhd: usize,
    usmblks: usize,
    fsmblks: usize,
    uordblks: usize,
    fordblks: usize,
    keepcost: usize,
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
unsafe extern "C" {
    fn mallinfo2() -> MallInfo2;
}

/// (arena bytes from the system, in use, free kept, mapped blocks) in KiB.
fn malloc_view() -> [usize; 4] {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallinfo2 only reads the allocator's statistics.
        let m = unsafe { mallinfo2() };
        [m.arena, m.uordblks, m.fordblks, m.hblkhd].map(|b| b / 1024)
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    [0; 4]
}

/// Resident KiB by kind of mapping: (total, private dirty, [heap], anonymous, stacks, files).
/// A thread's stack is an anonymous map with a guard page before it; the kernel names only
/// the main thread's `[stack]`, so anonymous maps of exactly a stack's size (tokio's 2 MiB,
/// rayon's and std's 2 MiB, 8 MiB) are counted as stacks.
fn smaps_view() -> [usize; 6] {
    let Ok(text) = std::fs::read_to_string("/proc/self/smaps") else {
        return [0; 6];
    };
    let mut out = [0usize; 6];
    let mut kind = 0usize;
    for line in text.lines() {
        let first = line.split_whitespace().next().unwrap_or("");
        if first.contains('-') && !first.ends_with(':') {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let name = fields.get(5).copied().unwrap_or("");
            let size = first
                .split_once('-')
                .and_then(|(a, b)| {
                    Some(usize::from_str_radix(b, 16).ok()? - usize::from_str_radix(a, 16).ok()?)
                })
                .unwrap_or(0);
            kind = if name == "[heap]" {
                2
            } else if name == "[stack]" || (name.is_empty() && (size == 2 << 20 || size == 8 << 20))
            {
                4
            } else if name.is_empty() {
                3
            } else {
                5
            };
            continue;
        }
        let kib = |l: &str| {
            l.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0)
        };
        if first == "Rss:" {
            out[0] += kib(line);
            out[kind] += kib(line);
        } else if first == "Private_Dirty:" {
            out[1] += kib(line);
        }
    }
    out
}

fn threads() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Threads:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn log_memory(path: String, every: Duration) {
    // Allocate nothing until the server has started: a thread's first allocation picks its
    // malloc arena, and the server limits them to one (`use_one_heap`) when it starts.
    std::thread::sleep(Duration::from_secs(1));
    let Ok(mut file) = std::fs::File::create(&path) else {
        eprintln!("serve_heap: cannot write {path}");
        return;
    };
    let _ = writeln!(
        file,
        "t_s\tlive_kib\tlive_allocs\tmalloc_arena_kib\tmalloc_used_kib\tmalloc_free_kib\tmalloc_mmap_kib\trss_kib\tprivate_dirty_kib\theap_kib\tanon_kib\tstacks_kib\tfiles_kib\tthreads"
    );
    let start = Instant::now();
    loop {
        let live = LIVE_BYTES.load(Ordering::Relaxed) / 1024;
        let allocs = LIVE_ALLOCS.load(Ordering::Relaxed);
        let [arena, used, free, mapped] = malloc_view();
        let [rss, dirty, heap, anon, stacks, files] = smaps_view();
        let _ = writeln!(
            file,
            "{:.1}\t{live}\t{allocs}\t{arena}\t{used}\t{free}\t{mapped}\t{rss}\t{dirty}\t{heap}\t{anon}\t{stacks}\t{files}\t{}",
            start.elapsed().as_secs_f64(),
            threads()
        );
        let _ = file.flush();
        std::thread::sleep(every);
    }
}

fn main() -> std::process::ExitCode {
    if let Ok(path) = std::env::var("HEAP_LOG") {
        let every = std::env::var("HEAP_EVERY_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1000);
        std::thread::spawn(move || log_memory(path, Duration::from_millis(every)));
    }
    glassbox_app::cli::main()
}
