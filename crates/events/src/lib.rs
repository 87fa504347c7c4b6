//! glassbox-events: a raw event log (user, time, event, item) to examples "will this user do
//! the positive event within the horizon?", one per (user, cutoff), with features computed only
//! from events before the cutoff. Definitions and the protocol: `notes/events.md` (V1)–(V25).
//!
//! ```text
//! EventSpec (serde; EventSpec::retailrocket_next_hour())         spec.rs
//!   → SortedLog::open(path, &spec)   CSV → events, sorted, deduplicated  read.rs, log.rs
//!   → featurize(&mut log, &spec, Labels::Required, &mut sink)          featurize.rs
//!        sink: FeatureMatrix (all rows), ProtocolSink (train sample + test),
//!              CsvSink (stream to CSV), or your own ExampleSink
//!   → FeatureMatrix { names, x (N × D f32), y, keys }, write_csv     matrix.rs
//!   → Protocol: split, training sample, probability correction        protocol.rs
//! ```
//!
//! One pass over a time-ordered log; memory grows with users, items and (user, item) pairs
//! touched, and with the events of one horizon and of the longest window per active user —
//! not with the log's length. An unsorted log is sorted in memory (stable) up to a row limit,
//! or, declared sorted, refused at its first out-of-order row.
//!
//! ```
//! use glassbox_events::{EventSpec, FeatureMatrix, Labels, SortedLog, featurize, feature_names};
//! let log = "timestamp,visitorid,event,itemid,transactionid\n\
//!            1433138460000,7,view,100,\n\
//!            1433140000000,7,addtocart,100,\n\
//!            1433141000000,7,transaction,100,55\n\
//!            1433150000000,8,view,100,\n";
//! let spec = EventSpec::retailrocket_next_hour();
//! let mut sorted = SortedLog::from_text("log.csv", log.as_bytes(), &spec)?;
//! let mut matrix = FeatureMatrix::new(feature_names(&spec));
//! let report = featurize(&mut sorted, &spec, Labels::Required, &mut matrix)?;
//! // Cutoff 06:30: user 7 viewed at 06:01 and carted at 06:26:40; buys at 06:43:20.
//! assert_eq!(matrix.keys[0], (7, 1433140200000));
//! assert_eq!(matrix.y[0], 1.0);
//! assert_eq!(report.cutoffs[0].examples, 1);
//! # Ok::<(), glassbox_events::EventsError>(())
//! ```

mod error;
mod features;
mod featurize;
mod hash;
mod log;
mod matrix;
mod prefetch;
mod protocol;
mod read;
mod span;
mod spec;
mod state;
mod time;

use std::path::Path;

pub use error::{CellAt, EventsError};
pub use featurize::{
    CutoffSummary, ExampleKey, ExampleSink, FeaturizeReport, Labels, feature_names, featurize,
};
pub use log::{LogStats, SortedLog};
pub use matrix::{CsvLayout, CsvSink, FeatureMatrix};
pub use protocol::{Part, Protocol, ProtocolSink, correct_sampled_probability};
pub use read::{Event, EventReader, Ids};
pub use span::{DAY_MS, HOUR_MS, MINUTE_MS, SECOND_MS, Span, Window};
pub use spec::{
    Columns, Cutoffs, EventKind, EventKinds, EventSpec, LogOrder, RETAILROCKET_ANCHOR_MS, UserIds,
};
pub use time::TimeFormat;

/// Featurizes the log at `path` into `sink` ([`SortedLog::open`] then [`featurize`]).
pub fn featurize_file(
    path: &Path,
    spec: &EventSpec,
    labels: Labels,
    sink: &mut dyn ExampleSink,
) -> Result<FeaturizeReport, EventsError> {
    let mut log = SortedLog::open(path, spec)?;
    featurize(&mut log, spec, labels, sink)
}

/// Every example of the log at `path`, as one matrix.
pub fn featurize_to_matrix(
    path: &Path,
    spec: &EventSpec,
    labels: Labels,
) -> Result<(FeatureMatrix, FeaturizeReport), EventsError> {
    let mut matrix = FeatureMatrix::new(feature_names(spec));
    let report = featurize_file(path, spec, labels, &mut matrix)?;
    Ok((matrix, report))
}

/// The protocol's training examples (the standard sample when `sample_training`) and test
/// examples of the log at `path`, computing no other row; errors if training has no positive
/// or test no example.
pub fn featurize_protocol(
    path: &Path,
    spec: &EventSpec,
    protocol: &Protocol,
    sample_training: bool,
) -> Result<(ProtocolSink, FeaturizeReport), EventsError> {
    let mut sink = ProtocolSink::new(protocol.clone(), sample_training, feature_names(spec));
    let report = featurize_file(path, spec, Labels::Required, &mut sink)?;
    sink.check()?;
    Ok((sink, report))
}
