//! Progress on stderr: one bar per network being trained, advanced per batch, with the epoch,
//! the running training loss and the last validation metrics.
//!
//! Silent (no bar, no notes) with `--quiet`, and bars are not drawn when stderr is not a
//! terminal (a pipe, a file, a test harness), so logs and captured output stay clean. Notes
//! (warnings the user should see: unseen categories, schema hints) are printed above the bars
//! unless `--quiet`.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Where progress and notes go.
#[derive(Debug, Clone)]
pub struct Progress {
    /// `None` draws no bars.
    multi: Option<MultiProgress>,
    quiet: bool,
    /// Bars drawn and not yet finished: notes go above them while any is live, straight to
    /// stderr otherwise (indicatif's `println` after every bar has finished rewinds the
    /// cursor over lines it no longer owns).
    live: Arc<AtomicUsize>,
}

impl Progress {
    /// Bars only if not `quiet` and stderr is a terminal; notes unless `quiet`.
    pub fn new(quiet: bool) -> Self {
        let draw = !quiet && std::io::stderr().is_terminal();
        Self {
            multi: draw.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr())),
            quiet,
            live: Arc::default(),
        }
    }

    /// No output at all.
    pub fn silent() -> Self {
        Self {
            multi: None,
            quiet: true,
            live: Arc::default(),
        }
    }

    /// Whether notes are suppressed.
    pub fn is_quiet(&self) -> bool {
        self.quiet
    }

    /// Prints `note: <msg>` on stderr (above any bars) unless quiet.
    pub fn note(&self, msg: &str) {
        if self.quiet {
            return;
        }
        match &self.multi {
            Some(m) if self.live.load(Ordering::SeqCst) > 0 => {
                let _ = m.println(format!("note: {msg}"));
            }
            _ => eprintln!("note: {msg}"),
        }
    }

    /// A bar for one network: `label` names it (`default 2/5`), `epochs × batches` steps.
    pub fn training_bar(&self, label: &str, epochs: usize, batches_per_epoch: usize) -> TrainBar {
        let bar = self.multi.as_ref().map(|m| {
            let style = ProgressStyle::with_template(
                "{prefix:>12} [{bar:24}] {percent:>3}% {elapsed:>4} {wide_msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            let bar = m.add(ProgressBar::new((epochs * batches_per_epoch) as u64));
            bar.set_style(style);
            bar.set_prefix(label.to_string());
            bar.enable_steady_tick(Duration::from_millis(200));
            self.live.fetch_add(1, Ordering::SeqCst);
            bar
        });
        TrainBar {
            bar,
            epochs,
            val: String::new(),
            live: Arc::clone(&self.live),
        }
    }
}

/// The bar of one network (a no-op when progress is not drawn).
#[derive(Debug)]
pub struct TrainBar {
    bar: Option<ProgressBar>,
    epochs: usize,
    /// The last validation summary, kept on the line while the next epoch runs.
    val: String,
    /// The owner's count of live bars.
    live: Arc<AtomicUsize>,
}

impl TrainBar {
    /// After a batch: `step` steps done in all, running mean loss of the epoch so far.
    pub fn batch(&mut self, step: u64, epoch: usize, running_loss: f64) {
        if let Some(bar) = &self.bar {
            bar.set_position(step);
            bar.set_message(format!(
                "epoch {}/{} loss {running_loss:.4}{}",
                epoch + 1,
                self.epochs,
                self.val
            ));
        }
    }

    /// After an epoch's validation: `summary` such as `val loss 0.281 auc 0.927`.
    pub fn epoch(&mut self, summary: &str) {
        if !summary.is_empty() {
            self.val = format!(" | {summary}");
        }
    }

    /// Ends the bar, leaving `msg` on its line.
    pub fn finish(&self, msg: &str) {
        if let Some(bar) = &self.bar
            && !bar.is_finished()
        {
            bar.finish_with_message(msg.to_string());
            self.live.fetch_sub(1, Ordering::SeqCst);
        }
    }
}
