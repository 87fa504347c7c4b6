//! The tabular data layer: CSV → schema → typed table → feature matrix.
//!
//! ```text
//! RawTable::read(path, &ReadOptions)            text cells + line numbers      (read.rs)
//!   → Schema::infer(&raw, &SchemaOverrides)      kind of each column            (infer.rs, schema.rs)
//!   → Table::from_raw(&raw, &schema)             typed, validated columns       (table.rs)
//!   → Preprocessor::fit(&train, &schema, &spec)  training statistics            (features.rs)
//!   → preprocessor.transform(&table)             x (N, D) f32, y (N,) f32
//! ```
//!
//! `Table::read_infer` does the first three steps for a training file; `Table::read` and
//! [`ChunkReader`] read later files with a known schema (no re-inference). The
//! [`Preprocessor`] is serde-serialisable and carries its schema, so prediction reads and
//! encodes input exactly as training did. Rules and formulas: `notes/data.md`, whose
//! equation numbers (D1)–(D10) the code cites.
//!
//! ```
//! use glassbox_data::*;
//! let csv = "age,plan,churned\n31,basic,no\n45,pro,yes\n,basic,no\n52,pro,yes\n";
//! let raw = RawTable::from_reader(std::io::Cursor::new(csv), "mem.csv", &ReadOptions::default())?;
//! let schema = Schema::infer(&raw, &SchemaOverrides::default())?;
//! let table = Table::from_raw(&raw, &schema)?;
//! let pre = Preprocessor::fit(&table, &schema, &TargetSpec::new("churned"))?;
//! assert_eq!(pre.feature_names(), ["age", "plan=basic", "plan=pro", "plan=<unknown>"]);
//! let (x, y) = pre.transform(&table)?;
//! assert_eq!(x.dim(), (4, 4));
//! assert_eq!(y.to_vec(), [0.0, 1.0, 0.0, 1.0]);
//! // The missing age is imputed with the training median 45 (D2): ages (31, 45, 45, 52),
//! // μ = 43.25 (D4), σ = √58.1875 (D5), so its standard score (D7) is (45 − 43.25)/σ.
//! assert!((x[[2, 0]] - (45.0 - 43.25) / 58.1875f32.sqrt()).abs() < 1e-6);
//! // The one-hot block of row 0 (plan = basic) is (1, 0, 0) (D10).
//! assert_eq!(x.row(0).iter().skip(1).copied().collect::<Vec<_>>(), [1.0, 0.0, 0.0]);
//! # Ok::<(), DataError>(())
//! ```

mod datetime;
mod derived;
mod error;
mod features;
mod infer;
mod input;
pub mod part;
mod read;
mod scaling;
mod schema;
mod summary;
mod table;
mod target;

pub use datetime::{DatetimeFormat, day_of_week, days_from_civil, hour_of_day};
pub use derived::{
    AgeUnit, CountScope, CycleEncoding, Derived, DerivedOp, DerivedSpec, Role, entity_counts,
};
pub use error::{DataError, Names, Result, ValueProblem};
pub use features::{
    BooleanStats, CategoricalStats, Encoded, FeatureGroup, FittedColumn, MISSING_LEVEL,
    NumericStats, PREPROCESSOR_FORMAT, Preprocessor, UNKNOWN_LEVEL, median,
};
pub use infer::{is_missing_token, parse_bool};
pub use input::{is_gzip, open_input};
pub use read::{
    CANDIDATE_DELIMITERS, DEFAULT_MAX_CATEGORIES, DEFAULT_MAX_COLUMNS, DEFAULT_MAX_FIELD_BYTES,
    RawTable, ReadOptions, detect_delimiter,
};
pub use scaling::{
    FeatureOptions, FittedScaling, MAX_QUANTILE_KNOTS, NumericScaling, quantile_linear, smooth_clip,
};
pub use schema::{
    ColumnKind, ColumnOverride, ColumnSchema, KindSource, Schema, SchemaOverrides, Sentinel,
};
pub use summary::{ColumnSummary, DataSummary};
pub use table::{
    ChunkReader, Column, ColumnBuilder, ColumnData, DuplicateStats, MissingCount, Table, Value,
};
pub use target::{ClassBalance, Target, TargetSpec};
