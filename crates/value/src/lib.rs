//! The transaction-log featurizer for customer value (notes/value.md §2).
//!
//! Any log with one line per purchased item (or per payment): columns given **by name** —
//! the customer, the time, the value (one amount column, or quantity × unit price), an
//! optional invoice id, optional categorical columns. A calibration cutoff and a horizon set
//! the task: features from the lines before the cutoff, the target from the horizon after
//! it. Cancellations and returns (negative values, `C…` invoices) net against purchases.
//!
//! - [`featurize`]: one streamed pass (plain or gzip) → [`CustomerTable`] (C10–C22);
//! - [`Scaler`]: the model's inputs — signed log of money and counts, standardised on the
//!   fit customers, clipped to ±5 sd, categorical one-hots (C20, C23);
//! - [`headline_split`], [`cross_fit_folds`]: the portable customer split (C24);
//! - [`last_period_rule`]: the reference rule "last period repeats" (C25).

mod error;
mod features;
mod featurize;
mod spec;

pub use error::ValueError;
pub use features::{
    ALL_FEATURES, CLIP_SD, FEATURES, FeatureKind, HISTORY_FEATURES, MIN_CATEGORY_CUSTOMERS,
    PERIODS, Part, Scaler, TREND_MONTHS, cross_fit_folds, feature_index, headline_split,
    last_period_rule, last_period_rule_of, split_key,
};
pub use featurize::{CustomerTable, LogStats, featurize};
pub use spec::{Amount, Clock, Columns, format_ms, parse_date, parse_horizon};
