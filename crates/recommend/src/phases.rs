//! Where `recommend train` spends its time (notes/recommend.md §8): with the environment
//! variable `GLASSBOX_RECOMMEND_PHASES` set, each timed phase prints one line to stderr, its wall
//! time and the CPU time of the whole process (every thread) over it, so a phase that keeps
//! both cores busy shows CPU ≈ 2 × wall. Unset, [`phase`] only runs its closure.

use std::sync::OnceLock;
use std::time::Instant;

/// The variable that turns the phase lines on.
pub const PHASES_VAR: &str = "GLASSBOX_RECOMMEND_PHASES";

fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var_os(PHASES_VAR).is_some())
}

/// User + system CPU seconds of this process so far (every thread), from /proc/self/stat in
/// clock ticks of 1/100 s; `None` where that file cannot be read.
fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split(' ');
    let utime: f64 = fields.nth(11)?.parse().ok()?;
    let stime: f64 = fields.next()?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// CPU seconds of the calling thread so far, from /proc/thread-self/schedstat (ns).
fn thread_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: f64 = stat.split(' ').next()?.parse().ok()?;
    Some(ns * 1e-9)
}

/// Runs `f`; with [`PHASES_VAR`] set, prints `phase NAME: wall W s, CPU C s (this thread T s)`
/// to stderr. Rayon's pool runs the parallel parts on its own threads while the caller waits,
/// so T close to C marks a phase that runs on one core.
pub fn phase<T>(name: &str, f: impl FnOnce() -> T) -> T {
    if !enabled() {
        return f();
    }
    let (start, cpu, own) = (Instant::now(), process_cpu_seconds(), thread_cpu_seconds());
    let out = f();
    let wall = start.elapsed().as_secs_f64();
    let cpu = process_cpu_seconds().zip(cpu).map(|(b, a)| b - a);
    let own = thread_cpu_seconds().zip(own).map(|(b, a)| b - a);
    match (cpu, own) {
        (Some(c), Some(t)) => {
            eprintln!("phase {name}: wall {wall:.2} s, CPU {c:.2} s (this thread {t:.2} s)")
        }
        _ => eprintln!("phase {name}: wall {wall:.2} s"),
    }
    out
}
