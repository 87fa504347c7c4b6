//! The evaluation protocol (notes/events.md §Protocol): the time split (V23), the standard
//! training sample (V24) and the correction of a sampled model's probabilities (V25).

use serde::{Deserialize, Serialize};

use crate::error::EventsError;
use crate::featurize::{ExampleKey, ExampleSink};
use crate::matrix::FeatureMatrix;
use crate::span::DAY_MS;
use crate::spec::{Cutoffs, RETAILROCKET_ANCHOR_MS};

/// Which part of the split a cutoff belongs to (V23).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Part {
    /// Training, and inside it the tuning fit part (label window ends by the validation start).
    Fit,
    /// Training, and inside it the validation part (cutoff at or after the validation start).
    Validation,
    /// Training, but in neither tuning part (label window straddles the validation start).
    TrainOnly,
    /// Test (cutoff at or after the test start).
    Test,
    /// Neither: the label window straddles the test start.
    Excluded,
}

impl Part {
    /// Whether the cutoff is a training cutoff (fit, validation or train-only).
    pub fn is_train(self) -> bool {
        matches!(self, Part::Fit | Part::Validation | Part::TrainOnly)
    }
}

/// A time split with a tuning split inside its training part, and the negative sampling rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Protocol {
    /// Test cutoffs are at or after this instant (Unix ms); training label windows end by it.
    pub test_start_ms: i64,
    /// Validation cutoffs are at or after this instant; fit label windows end by it.
    pub validation_start_ms: i64,
    /// The label horizon (ms), which decides the straddling cutoffs.
    pub horizon_ms: i64,
    /// `M`: every user keeps the negatives with `(user + k) mod M = 0` (V24).
    pub negative_keep_one_in: u64,
}

impl Protocol {
    /// The data README's split of the RetailRocket log: test from 2015-06-04 06:00 UTC
    /// (`k` = 144 … 190), validation from 2015-06-03 06:00 (`k` = 96 … 142), fit `k` = 1 … 94,
    /// horizon 1 h, one negative in 10.
    pub fn retailrocket() -> Protocol {
        Protocol {
            test_start_ms: RETAILROCKET_ANCHOR_MS + 3 * DAY_MS,
            validation_start_ms: RETAILROCKET_ANCHOR_MS + 2 * DAY_MS,
            horizon_ms: crate::span::HOUR_MS,
            negative_keep_one_in: 10,
        }
    }

    /// (V23) The part of cutoff `t`.
    pub fn part(&self, t: i64) -> Part {
        let label_end = t.saturating_add(self.horizon_ms);
        if t >= self.test_start_ms {
            Part::Test
        } else if label_end > self.test_start_ms {
            Part::Excluded
        } else if t >= self.validation_start_ms {
            Part::Validation
        } else if label_end <= self.validation_start_ms {
            Part::Fit
        } else {
            Part::TrainOnly
        }
    }

    /// (V24) Whether an example is in the standard training sample: every positive, and the
    /// negatives with `(user + k) mod M = 0`. Unlabelled examples are not.
    pub fn in_sample(&self, user: u64, k: i64, label: Option<bool>) -> bool {
        match label {
            Some(true) => true,
            Some(false) => {
                let m = self.negative_keep_one_in.max(1);
                (user % m + k.rem_euclid(m as i64) as u64).is_multiple_of(m)
            }
            None => false,
        }
    }

    /// The training sample of the training rows of `matrix` (`cutoffs` gives each row's `k`).
    pub fn training_sample(&self, matrix: &FeatureMatrix, cutoffs: &Cutoffs) -> FeatureMatrix {
        matrix.select(|i| {
            let (user, t) = matrix.keys[i];
            let label = (!matrix.y[i].is_nan()).then_some(matrix.y[i] == 1.0);
            let k = cutoffs.index_of(t).unwrap_or(0);
            self.part(t).is_train() && self.in_sample(user, k, label)
        })
    }

    /// The rows of `matrix` whose cutoff is in a part accepted by `keep`.
    pub fn rows_in(&self, matrix: &FeatureMatrix, keep: impl Fn(Part) -> bool) -> FeatureMatrix {
        matrix.select(|i| keep(self.part(matrix.keys[i].1)))
    }
}

/// (V25) The probability of a model fitted on a sample that kept one negative in `m`,
/// corrected to the full population: `p / (p + m · (1 − p))`.
pub fn correct_sampled_probability(p: f64, m: f64) -> f64 {
    p / (p + m * (1.0 - p))
}

/// A sink that keeps what training and testing need, and computes nothing else: the training
/// cutoffs' examples (all, or the standard sample) and every test example.
pub struct ProtocolSink {
    /// The split.
    pub protocol: Protocol,
    /// Whether training keeps only the standard sample (V24).
    pub sample_training: bool,
    /// Training examples (fit, validation and train-only cutoffs).
    pub train: FeatureMatrix,
    /// Test examples.
    pub test: FeatureMatrix,
}

impl ProtocolSink {
    /// An empty sink for features named `names`.
    pub fn new(protocol: Protocol, sample_training: bool, names: Vec<String>) -> ProtocolSink {
        ProtocolSink {
            protocol,
            sample_training,
            train: FeatureMatrix::new(names.clone()),
            test: FeatureMatrix::new(names),
        }
    }

    /// Checks that training holds a positive and test an example (errors name the part).
    pub fn check(&self) -> Result<(), EventsError> {
        if self.train.positives() == 0 {
            return Err(EventsError::NoPositives {
                part: "training period".into(),
                examples: self.train.rows(),
            });
        }
        if self.test.rows() == 0 {
            return Err(EventsError::EmptyPart {
                part: "test period".into(),
            });
        }
        Ok(())
    }
}

impl ExampleSink for ProtocolSink {
    fn wants(&mut self, key: &ExampleKey) -> bool {
        match self.protocol.part(key.cutoff_ms) {
            Part::Test => true,
            Part::Excluded => false,
            _ => {
                !self.sample_training
                    || self
                        .protocol
                        .in_sample(key.user, key.cutoff_index, key.label)
            }
        }
    }

    fn accept(&mut self, key: &ExampleKey, features: &[f64]) -> Result<(), EventsError> {
        if self.protocol.part(key.cutoff_ms) == Part::Test {
            self.test.push(key, features);
        } else {
            self.train.push(key, features);
        }
        Ok(())
    }
}
