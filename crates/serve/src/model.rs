//! The models a server holds: what a model must offer ([`Scorer`], implemented by the
//! command line for its bundles), and the slot each name points at, swapped atomically on
//! reload (notes/serving.md §4).

use std::any::Any;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use glassbox_data::{Preprocessor, Schema};
use ndarray::ArrayView2;

/// A trained model as the server uses it. The server has no maths: it reads requests with
/// [`Scorer::preprocessor`]'s schema and encoding, and every number comes from
/// [`Scorer::probabilities`] and [`Scorer::decide`] — for a glassbox bundle the very
/// functions `glassbox predict` calls.
pub trait Scorer: Send + Sync + 'static {
    /// The fitted preprocessor: the schema requests are read with and the encoding.
    fn preprocessor(&self) -> &Preprocessor;
    /// The probability of the positive class for each row of the features `x` (N, D).
    /// Must not depend on the other rows of `x` (requests are scored in batches).
    ///
    /// `scratch` is the model name's working memory, kept by its batcher from pass to pass
    /// and across versions (notes/serving.md §4): the scorer may keep its buffers there
    /// (replacing what it cannot use), so that a reload does not allocate them again. It
    /// must not change a number.
    fn probabilities(&self, x: ArrayView2<'_, f32>, scratch: &mut Scratch) -> Vec<f64>;
    /// The decision for a probability and the label written for it.
    fn decide(&self, p: f64) -> (bool, &str);
    /// The decision threshold (reported with every answer).
    fn threshold(&self) -> f64;
    /// What `GET /v1/models/{name}` shows (`glassbox inspect --json` for a bundle).
    fn describe(&self) -> serde_json::Value;
}

/// A scorer's working memory between passes (see [`Scorer::probabilities`]): owned by the
/// batcher of a model name, not by a version, so it outlives reloads.
pub type Scratch = Option<Box<dyn Any + Send>>;

/// Loads a model file; the error is a message naming the file.
pub type Loader = Arc<dyn Fn(&Path) -> Result<Arc<dyn Scorer>, String> + Send + Sync>;

/// One loaded version of a model. Requests hold an `Arc` of it from arrival to answer, so
/// a reload never changes the model under a request.
pub struct Loaded {
    pub scorer: Arc<dyn Scorer>,
    /// The prediction schema (the training schema with the target dropped), computed once.
    pub schema: Schema,
    /// 1 for the file loaded at start, +1 for each successful reload.
    pub version: u64,
    /// When it was loaded, seconds since the Unix epoch.
    pub loaded_at: f64,
}

impl Loaded {
    pub fn new(scorer: Arc<dyn Scorer>, version: u64) -> Self {
        let schema = scorer.preprocessor().prediction_schema();
        let loaded_at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        Self {
            scorer,
            schema,
            version,
            loaded_at,
        }
    }
}

/// A served name: its file and the version currently answering.
pub struct Slot {
    pub name: String,
    pub path: PathBuf,
    current: RwLock<Arc<Loaded>>,
    /// Held while a reload loads and swaps, so that reloads of one name run one at a time.
    reloading: tokio::sync::Mutex<()>,
}

/// What a reload did.
#[derive(Debug, Clone, PartialEq)]
pub enum ReloadOutcome {
    /// The new file answers from now on.
    Swapped { version: u64 },
    /// The file was refused; `version` keeps answering.
    Refused { version: u64, message: String },
}

impl Slot {
    pub fn new(name: String, path: PathBuf, scorer: Arc<dyn Scorer>) -> Self {
        Self {
            name,
            path,
            current: RwLock::new(Arc::new(Loaded::new(scorer, 1))),
            reloading: tokio::sync::Mutex::new(()),
        }
    }

    /// The version answering now.
    pub fn current(&self) -> Arc<Loaded> {
        // A poisoned lock only means a panic elsewhere while swapping an `Arc`, which
        // cannot leave it half-written.
        Arc::clone(&self.current.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Loads the file again (off the async runtime) and swaps it in if it loads; a file that
    /// does not load is refused and the old version keeps answering.
    pub async fn reload(&self, loader: &Loader) -> ReloadOutcome {
        let _one_at_a_time = self.reloading.lock().await;
        let path = self.path.clone();
        let loader = Arc::clone(loader);
        let loaded = tokio::task::spawn_blocking(move || loader(&path))
            .await
            .unwrap_or_else(|e| Err(format!("the loader failed: {e}")));
        let old = self.current().version;
        match loaded {
            Ok(scorer) => {
                let version = old + 1;
                let next = Arc::new(Loaded::new(scorer, version));
                let previous = std::mem::replace(
                    &mut *self.current.write().unwrap_or_else(|p| p.into_inner()),
                    next,
                );
                tokio::spawn(release_when_done(previous));
                ReloadOutcome::Swapped { version }
            }
            Err(message) => ReloadOutcome::Refused {
                version: old,
                message,
            },
        }
    }
}

/// How long a replaced version may stay in use before its memory is given back anyway
/// (the request time limit ends every request sooner, by default).
const RELEASE_WAIT: Duration = Duration::from_secs(60);

/// Waits for the requests still holding `previous` (a version a reload replaced) to finish,
/// frees it, then hands the allocator's free pages back to the system.
///
/// Why: glibc's malloc keeps freed heap memory for reuse. A reload loads the new version
/// while the old one (its networks and description) is still in use, and frees the old one
/// later; without a trim those freed pages stayed resident, and the soak's RSS crept up at
/// each reload (notes/serving.md §4, benchmarks_serving.md "Soak"). See also [`use_one_heap`].
async fn release_when_done(previous: Arc<Loaded>) {
    let deadline = tokio::time::Instant::now() + RELEASE_WAIT;
    while Arc::strong_count(&previous) > 1 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Freed and trimmed off the runtime's threads: a trim walks every arena.
    let _ = tokio::task::spawn_blocking(move || {
        drop(previous);
        release_free_memory();
    })
    .await;
}

/// Makes every thread allocate from glibc's one main heap (`mallopt(M_ARENA_MAX, 1)`);
/// nothing elsewhere. Call it first, before any thread allocates (`glassbox serve` does, before
/// starting the engine's pool): a thread that allocated before keeps an arena of its own, which
/// later threads then share.
///
/// Why: by default each thread that allocates gets an arena of its own. A reload loads the
/// new version on a blocking thread, so each version lived in whichever thread arena that
/// thread had, beside the one the version before it left; `malloc_trim` cannot shrink a
/// thread arena's top, so every reload left that arena's high-water mark resident and the
/// soak's RSS stepped up at the first reloads while the live heap stayed flat
/// (notes/serving.md §4). In the main heap the trim after a release gives the pages back.
/// glibc's per-thread cache still serves most small allocations without the heap's lock;
/// the server's CPU per request measured the same (benchmarks_serving.md).
pub fn use_one_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; threads already attached to an
    // arena keep it, new ones share the main heap.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

/// Returns the allocator's free memory to the operating system: `malloc_trim(0)` on glibc
/// (every arena, and free pages inside the heaps too); nothing elsewhere.
pub(crate) fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only reorganises the allocator's own free lists; it takes its
    // arenas' locks and touches no memory the program holds.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::mpsc as std_mpsc;

    use super::*;
    use crate::batch::tests::{GateScorer, preprocessor};

    fn scorer() -> Arc<dyn Scorer> {
        let (entered, _) = std_mpsc::channel();
        let (_, release) = std_mpsc::channel();
        Arc::new(GateScorer {
            preprocessor: preprocessor(),
            entered: Mutex::new(entered),
            release: Mutex::new(release),
        })
    }

    /// A reload swaps; the version it replaced stays whole while a request holds it, and is
    /// freed (then the allocator trimmed) once that request lets it go.
    #[test]
    fn a_replaced_version_is_freed_after_its_last_request() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let slot = Slot::new("m".into(), PathBuf::from("m.safetensors"), scorer());
            let loader: Loader = Arc::new(|_| Ok(scorer()));
            let in_flight = slot.current();
            let old = Arc::downgrade(&in_flight);
            assert_eq!(
                slot.reload(&loader).await,
                ReloadOutcome::Swapped { version: 2 }
            );
            assert_eq!(slot.current().version, 2);
            tokio::time::sleep(Duration::from_millis(50)).await;
            // Held by the request and by the release, which waits for it.
            assert_eq!(old.strong_count(), 2, "released under a request");
            drop(in_flight);
            // Bounded: the release polls every 10 ms.
            for _ in 0..1000 {
                if old.strong_count() == 0 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            assert_eq!(old.strong_count(), 0, "the old version was never freed");
        });
    }
}
