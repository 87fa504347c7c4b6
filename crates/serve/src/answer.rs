//! The body of a prediction answer (notes/serving.md §2): `{"model", "version", "threshold",
//! "predictions": [{"probability", "label", "positive"}]}`, probabilities as f64 printed
//! shortest-exact.

use serde::ser::{Serialize, SerializeSeq, Serializer};

#[derive(serde::Serialize)]
struct Prediction<'a> {
    probability: f64,
    label: &'a str,
    positive: bool,
}

/// The predictions, decided as they are written (no intermediate vector).
struct Predictions<'p, D> {
    probs: &'p [f64],
    decide: D,
}

impl<'a, D: Fn(f64) -> (bool, &'a str)> Serialize for Predictions<'_, D> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.probs.len()))?;
        for &probability in self.probs {
            let (positive, label) = (self.decide)(probability);
            seq.serialize_element(&Prediction {
                probability,
                label,
                positive,
            })?;
        }
        seq.end()
    }
}

#[derive(serde::Serialize)]
struct Answer<'m, P> {
    model: &'m str,
    version: u64,
    threshold: f64,
    predictions: P,
}

/// A prediction's share of the answer, bytes: generous, so the buffer grows at most once.
const BYTES_PER_PREDICTION: usize = 72;

/// The JSON answer for the probabilities `probs` of model `model` (version `version`),
/// each decided by `decide` (the model's own rule: positive?, label).
pub fn answer_json<'a>(
    model: &str,
    version: u64,
    threshold: f64,
    probs: &[f64],
    decide: impl Fn(f64) -> (bool, &'a str),
) -> Vec<u8> {
    let answer = Answer {
        model,
        version,
        threshold,
        predictions: Predictions { probs, decide },
    };
    let mut out = Vec::with_capacity(128 + model.len() + BYTES_PER_PREDICTION * probs.len());
    // Writing plain structs of numbers and strings into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut out, &answer);
    out
}
