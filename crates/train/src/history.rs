//! The record of a run: one [`EpochRecord`] per epoch, plus wall-clock times kept apart.
//!
//! Everything in [`History::epochs`] is a deterministic function of the seed, the data and
//! the configuration, so two runs can be compared bit for bit (tests compare the JSON,
//! whose `f64` numbers are printed in the shortest form that reads back to the same bits).
//! Wall-clock seconds are not reproducible and live in [`History::seconds`] only.

use serde::{Deserialize, Serialize};

/// What one epoch produced. Epochs are numbered from 0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// The epoch's index, from 0.
    pub epoch: usize,
    /// Mean training loss over the epoch, as the batches computed it (training mode,
    /// dropout on), each batch weighted by its rows: `Σ_b L_b·n_b / Σ_b n_b` (T7).
    pub train_loss: f64,
    /// Validation loss after the epoch (inference mode), the same row-weighted mean over
    /// validation batches; `None` without validation data.
    pub val_loss: Option<f64>,
    /// ROC-AUC of the validation scores (M10); `None` without validation data, with a
    /// single class in it, or with more than two outputs.
    pub val_roc_auc: Option<f64>,
    /// Accuracy on validation (score ≥ 0.5 for one output, arg-max otherwise); `None`
    /// without validation data.
    pub val_accuracy: Option<f64>,
    /// The learning rate of the epoch's last update.
    pub lr: f64,
    /// Optimizer steps taken since the start of the run, after this epoch.
    pub steps: u64,
    /// Largest global gradient norm (before clipping) seen in the epoch.
    pub max_grad_norm: f64,
}

/// Why a run ended before its last epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EarlyStop {
    /// The epoch after which training stopped.
    pub epoch: usize,
    /// The epoch with the best monitored value.
    pub best_epoch: usize,
    /// The best monitored value.
    pub best_value: f64,
    /// Whether the best epoch's weights were put back.
    pub restored_best: bool,
}

/// The per-epoch record of a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// One record per completed epoch, in order: deterministic.
    pub epochs: Vec<EpochRecord>,
    /// Wall-clock seconds of each epoch (training + validation): **not** reproducible,
    /// never compared.
    pub seconds: Vec<f64>,
    /// Set when early stopping ended the run.
    pub early_stop: Option<EarlyStop>,
}

/// The CSV header of [`History::to_csv`].
pub const CSV_HEADER: &str =
    "epoch,train_loss,val_loss,val_roc_auc,val_accuracy,lr,steps,max_grad_norm,seconds";

impl History {
    /// Number of completed epochs.
    pub fn len(&self) -> usize {
        self.epochs.len()
    }

    /// Whether no epoch has completed.
    pub fn is_empty(&self) -> bool {
        self.epochs.is_empty()
    }

    /// The history as pretty-printed JSON (with a trailing newline).
    pub fn to_json(&self) -> String {
        // A struct of numbers, options and vectors always serialises.
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }

    /// Only the deterministic part ([`History::epochs`] and [`History::early_stop`]) as
    /// compact JSON: what bit-for-bit comparisons use.
    pub fn deterministic_json(&self) -> String {
        serde_json::to_string(&(&self.epochs, &self.early_stop)).unwrap_or_default()
    }

    /// The history as CSV: [`CSV_HEADER`], then one line per epoch. Numbers are printed in
    /// Rust's shortest round-trip form; a missing value is an empty field.
    pub fn to_csv(&self) -> String {
        let mut out = String::from(CSV_HEADER);
        out.push('\n');
        for (i, r) in self.epochs.iter().enumerate() {
            let opt = |v: Option<f64>| v.map_or(String::new(), |v| v.to_string());
            let secs = self.seconds.get(i).map_or(String::new(), |s| s.to_string());
            out.push_str(&format!(
                "{},{},{},{},{},{},{},{},{}\n",
                r.epoch,
                r.train_loss,
                opt(r.val_loss),
                opt(r.val_roc_auc),
                opt(r.val_accuracy),
                r.lr,
                r.steps,
                r.max_grad_norm,
                secs
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> History {
        History {
            epochs: vec![
                EpochRecord {
                    epoch: 0,
                    train_loss: 0.6875123456789012,
                    val_loss: Some(0.5),
                    val_roc_auc: Some(0.75),
                    val_accuracy: Some(0.625),
                    lr: 1e-3,
                    steps: 4,
                    max_grad_norm: 1.25,
                },
                EpochRecord {
                    epoch: 1,
                    train_loss: 0.1 + 0.2,
                    val_loss: None,
                    val_roc_auc: None,
                    val_accuracy: None,
                    lr: 5e-4,
                    steps: 8,
                    max_grad_norm: 0.5,
                },
            ],
            seconds: vec![0.25, 0.5],
            early_stop: None,
        }
    }

    #[test]
    fn csv_has_one_line_per_epoch_and_empty_missing_fields() {
        let csv = sample().to_csv();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[0], CSV_HEADER);
        assert_eq!(
            lines[1],
            "0,0.6875123456789012,0.5,0.75,0.625,0.001,4,1.25,0.25"
        );
        assert_eq!(lines[2], "1,0.30000000000000004,,,,0.0005,8,0.5,0.5");
        assert_eq!(lines.len(), 3);
        // Every line has as many fields as the header.
        assert!(lines.iter().all(|l| l.split(',').count() == 9));
    }

    #[test]
    fn json_round_trips_bit_for_bit() {
        let h = sample();
        let back: History = serde_json::from_str(&h.to_json()).expect("valid JSON");
        assert_eq!(back, h);
        assert_eq!(
            back.epochs[1].train_loss.to_bits(),
            (0.1f64 + 0.2).to_bits()
        );
        // The deterministic form leaves the timing out.
        let mut later = h.clone();
        later.seconds = vec![9.0, 9.0];
        assert_eq!(later.deterministic_json(), h.deterministic_json());
        assert!(!h.deterministic_json().contains("seconds"));
    }

    #[test]
    fn arbitrary_losses_read_back_exactly() {
        // serde_json's default float parser can be one ulp off; the crate enables
        // `float_roundtrip`, and this guards it: 2000 values of every magnitude.
        let mut rng = glassbox_core::seeded_rng(3);
        let mut h = History::default();
        for epoch in 0..1000 {
            let draw = |rng: &mut glassbox_core::Rng| {
                let u = glassbox_core::init::uniform01(rng);
                u * 10f64.powi((glassbox_core::init::uniform01(rng) * 40.0) as i32 - 20)
            };
            h.epochs.push(EpochRecord {
                epoch,
                train_loss: draw(&mut rng),
                val_loss: Some(draw(&mut rng)),
                val_roc_auc: None,
                val_accuracy: None,
                lr: 1e-3,
                steps: 0,
                max_grad_norm: 0.0,
            });
        }
        let back: History = serde_json::from_str(&h.to_json()).expect("valid JSON");
        for (a, b) in h.epochs.iter().zip(&back.epochs) {
            assert_eq!(a.train_loss.to_bits(), b.train_loss.to_bits());
            assert_eq!(a.val_loss.map(f64::to_bits), b.val_loss.map(f64::to_bits));
        }
    }
}
