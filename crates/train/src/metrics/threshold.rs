//! (R2) The decision threshold of a model (notes/recipe.md §2): a fixed value, or the
//! validation threshold that maximises F1 or Youden's J ([`best_threshold`], M17–M18).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::cost::{CostDecision, MissCost};
use super::{Criterion, MetricsError, best_threshold};

/// How the decision threshold of a model is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ThresholdRule {
    /// A fixed threshold (the paper's 0.5).
    Fixed(f64),
    /// The validation threshold maximising F1 of the positive class (M17).
    MaxF1,
    /// The validation threshold maximising Youden's J = TPR − FPR (M17).
    YoudenJ,
    /// The validation threshold of least expected cost (M24) under a cost matrix
    /// ([`ThresholdInfo::cost`]); chosen by [`CostDecision::choose`], not by a recipe.
    MinCost,
}

impl fmt::Display for ThresholdRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ThresholdRule::Fixed(t) => write!(f, "{t}"),
            ThresholdRule::MaxF1 => f.write_str("max-f1"),
            ThresholdRule::YoudenJ => f.write_str("youden"),
            ThresholdRule::MinCost => f.write_str("min-cost"),
        }
    }
}

impl FromStr for ThresholdRule {
    type Err = String;

    /// `max-f1`, `youden`, or a number in (0, 1).
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "max-f1" | "f1" => Ok(ThresholdRule::MaxF1),
            "youden" | "youden-j" => Ok(ThresholdRule::YoudenJ),
            other => match other.parse::<f64>() {
                Ok(t) if t > 0.0 && t < 1.0 => Ok(ThresholdRule::Fixed(t)),
                _ => Err(format!(
                    "\"{s}\" is not a threshold rule: expected max-f1, youden, or a number strictly between 0 and 1"
                )),
            },
        }
    }
}

/// How the decision threshold was chosen, and its value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdInfo {
    /// Predict the positive class when `p ≥ value` (M1).
    pub value: f64,
    /// The rule that chose it.
    pub rule: ThresholdRule,
    /// The criterion's value on the validation rows at `value` (F1 or Youden's J), if chosen
    /// on validation.
    pub criterion_on_validation: Option<f64>,
    /// With a cost matrix (rule [`ThresholdRule::MinCost`]): the decision `p · m ≥ τ` itself
    /// (M22, M24) and the costs; `value` is then its probability threshold for a row of the
    /// validation rows' median miss cost (exact with a constant miss cost). Absent in
    /// bundles written before cost decisions existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<CostDecision>,
}

impl ThresholdInfo {
    /// The threshold of a cost decision chosen on validation probabilities `probs` with
    /// per-row miss costs `miss`: `value` is the least alerted validation probability under
    /// a constant miss cost (so `p ≥ value` alerts exactly the rows `p · m ≥ τ` does on
    /// them), and `τ / median(m)` under a column's costs (the decision for a row of median
    /// cost, for callers without the column); `f64::MAX` when nothing is alerted.
    pub fn from_cost(decision: CostDecision, probs: &[f64], miss: &[f64]) -> ThresholdInfo {
        let value = match decision.costs.miss {
            MissCost::Constant(_) => decision
                .alerts(probs, miss)
                .iter()
                .zip(probs)
                .filter(|(a, _)| **a)
                .map(|(_, &p)| p)
                .fold(f64::MAX, f64::min),
            MissCost::Column(_) => {
                let mut sorted = miss.to_vec();
                sorted.sort_by(f64::total_cmp);
                match sorted.get(sorted.len() / 2) {
                    Some(&m) if m > 0.0 => (decision.risk_threshold / m).min(f64::MAX),
                    _ => f64::MAX,
                }
            }
        };
        ThresholdInfo {
            value,
            rule: ThresholdRule::MinCost,
            criterion_on_validation: Some(decision.validation.cost),
            cost: Some(decision),
        }
    }
}

/// Why a threshold could not be chosen.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ThresholdError {
    /// The rule chooses on validation rows, and there are none.
    #[error("threshold rule {0} needs validation rows")]
    NeedsValidation(ThresholdRule),
    /// The rule needs a cost matrix, which only `--cost-fp` with `--cost-fn` or
    /// `--cost-fn-column` gives.
    #[error(
        "threshold rule min-cost needs a cost matrix (--cost-fp with --cost-fn or --cost-fn-column)"
    )]
    NeedsCosts,
    /// The validation rows do not define the criterion (one class, no positives, …).
    #[error("cannot choose the threshold on the validation rows")]
    Validation(#[source] MetricsError),
}

/// (R2) Chooses the decision threshold by `rule` from validation labels and probabilities:
/// the best validation F1 or Youden's J (M17; ties → the highest threshold), or the fixed
/// value, which needs no validation rows.
///
/// # Errors
/// [`ThresholdError::NeedsValidation`] for a rule that chooses on validation rows without
/// them; [`ThresholdError::Validation`] for validation rows that do not define the criterion.
pub fn choose_threshold(
    rule: ThresholdRule,
    validation: Option<(&[bool], &[f64])>,
) -> Result<ThresholdInfo, ThresholdError> {
    let criterion = match rule {
        ThresholdRule::Fixed(value) => {
            return Ok(ThresholdInfo {
                value,
                rule,
                criterion_on_validation: None,
                cost: None,
            });
        }
        ThresholdRule::MinCost => return Err(ThresholdError::NeedsCosts),
        ThresholdRule::MaxF1 => Criterion::MaxF1,
        ThresholdRule::YoudenJ => Criterion::YoudenJ,
    };
    let (labels, probs) = validation.ok_or(ThresholdError::NeedsValidation(rule))?;
    let (value, reached) =
        best_threshold(labels, probs, criterion).map_err(ThresholdError::Validation)?;
    Ok(ThresholdInfo {
        value,
        rule,
        criterion_on_validation: Some(reached),
        cost: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_rules_parse() {
        assert_eq!("max-f1".parse(), Ok(ThresholdRule::MaxF1));
        assert_eq!("Youden".parse(), Ok(ThresholdRule::YoudenJ));
        assert_eq!("0.3".parse(), Ok(ThresholdRule::Fixed(0.3)));
        assert!("1".parse::<ThresholdRule>().is_err());
        assert!("nan".parse::<ThresholdRule>().is_err());
    }

    #[test]
    fn fixed_needs_no_validation_and_the_others_choose_on_it() {
        let fixed = choose_threshold(ThresholdRule::Fixed(0.5), None).unwrap();
        assert_eq!((fixed.value, fixed.criterion_on_validation), (0.5, None));
        let e = choose_threshold(ThresholdRule::MaxF1, None).unwrap_err();
        assert_eq!(e.to_string(), "threshold rule max-f1 needs validation rows");
        let labels = [true, false, true, true, false, false];
        let probs = [0.9, 0.8, 0.7, 0.4, 0.4, 0.1];
        let f1 = choose_threshold(ThresholdRule::MaxF1, Some((&labels, &probs))).unwrap();
        assert_eq!((f1.value, f1.criterion_on_validation), (0.4, Some(0.75)));
        let one_class = choose_threshold(ThresholdRule::YoudenJ, Some((&[true], &[0.3])));
        assert!(matches!(one_class, Err(ThresholdError::Validation(_))));
    }
}
