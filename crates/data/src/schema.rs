//! What each column is: its kind, its missing-value sentinels, whether it is log-transformed
//! or dropped — inferred from the data ([`Schema::infer`], in `infer.rs`) and overridden by
//! a TOML schema file or by [`SchemaOverrides`] filled in code (the command line's flags).
//!
//! The schema file format (notes/data.md §3):
//!
//! ```toml
//! [columns.OperatingSystems]
//! kind = "categorical"          # "numeric" | "boolean" | "categorical"
//!
//! [columns.Administrative_Duration]
//! missing = [-1]                # sentinels read as missing: numbers or strings
//! log1p = true                  # u = ln(1 + x) before standardisation (numeric only)
//!
//! [columns.SessionId]
//! drop = true                   # not read, not required, not a feature
//!
//! [columns.signup_time]
//! datetime = "%m/%d/%y %H:%M"   # or "iso"; read as Unix seconds (D11), see datetime.rs
//!
//! [[derived]]                   # derived columns, in order (derived.rs, D12–D16)
//! name = "seconds_to_purchase"
//! op = "seconds_between"
//! from = "signup_time"
//! to = "purchase_time"
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::datetime::DatetimeFormat;
use super::derived::{Derived, DerivedSpec};
use super::error::{DataError, Result};

/// The kind of a column, which decides how it is parsed and encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnKind {
    /// Finite real numbers; standardised (after an optional `log1p`).
    Numeric,
    /// true/false, yes/no, 1/0 in any case; encoded as 1/0.
    Boolean,
    /// Text labels; one-hot encoded with an `<unknown>` bucket.
    Categorical,
}

impl ColumnKind {
    /// The lowercase name used in schema files and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            ColumnKind::Numeric => "numeric",
            ColumnKind::Boolean => "boolean",
            ColumnKind::Categorical => "categorical",
        }
    }
}

impl fmt::Display for ColumnKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ColumnKind {
    type Err = String;

    /// Parses `numeric`, `boolean` or `categorical` (any case).
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "numeric" => Ok(ColumnKind::Numeric),
            "boolean" => Ok(ColumnKind::Boolean),
            "categorical" => Ok(ColumnKind::Categorical),
            other => Err(format!(
                "unknown column kind \"{other}\" (expected numeric, boolean or categorical)"
            )),
        }
    }
}

/// Whether a column's kind was inferred from the data or declared by an override.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KindSource {
    Inferred,
    Declared,
}

/// A value declared to mean "missing" in one column, besides the universal missing tokens
/// (empty, `NA`, `NaN`; see [`is_missing_token`](super::is_missing_token)).
///
/// A number matches a cell whose text parses to exactly that number (`-1`, `-1.0` and
/// `-1e0` all match `-1`); a string matches a cell whose trimmed text is exactly it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Sentinel {
    Number(f64),
    Text(String),
}

impl Sentinel {
    /// Whether the (trimmed) cell text `text` is this sentinel.
    pub fn matches(&self, text: &str) -> bool {
        match self {
            Sentinel::Number(v) => text.parse::<f64>().is_ok_and(|x| x == *v),
            Sentinel::Text(t) => t == text,
        }
    }

    /// Whether the parsed number `x` is this sentinel (numeric columns).
    pub fn matches_number(&self, x: f64) -> bool {
        matches!(self, Sentinel::Number(v) if *v == x)
    }
}

impl fmt::Display for Sentinel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Sentinel::Number(v) => write!(f, "{v}"),
            Sentinel::Text(t) => write!(f, "\"{t}\""),
        }
    }
}

/// One column of a [`Schema`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnSchema {
    /// The header name.
    pub name: String,
    pub kind: ColumnKind,
    /// Inferred or declared.
    pub source: KindSource,
    /// Declared missing-value sentinels.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<Sentinel>,
    /// Apply `u = ln(1 + x)` before standardisation (numeric columns only; (D3)).
    #[serde(default)]
    pub log1p: bool,
    /// Ignore the column: not parsed, not required in later files, not a feature.
    #[serde(default)]
    pub drop: bool,
    /// A datetime column (kind numeric): its cells are read as Unix seconds (D11).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datetime: Option<DatetimeFormat>,
}

impl ColumnSchema {
    /// A column of the given kind, declared, with no sentinels, no log1p, not dropped.
    pub fn new(name: &str, kind: ColumnKind) -> Self {
        Self {
            name: name.to_string(),
            kind,
            source: KindSource::Declared,
            missing: Vec::new(),
            log1p: false,
            drop: false,
            datetime: None,
        }
    }

    /// Whether the trimmed cell text matches one of the declared sentinels.
    pub fn is_sentinel(&self, text: &str) -> bool {
        self.missing.iter().any(|s| s.matches(text))
    }
}

/// The columns of a data file, in file order (dropped ones included, marked `drop`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schema {
    pub columns: Vec<ColumnSchema>,
    /// Notes from inference worth showing a user (a mostly-numeric column read as
    /// categorical, an identifier-like column…). Not errors.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Derived columns, in order (their outputs are also in `columns`), with the fitted
    /// entity counts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub derived: Vec<Derived>,
}

impl Schema {
    /// A schema from explicit columns; validated like an inferred one.
    pub fn new(columns: Vec<ColumnSchema>) -> Result<Self> {
        let schema = Self {
            columns,
            warnings: Vec::new(),
            derived: Vec::new(),
        };
        schema.validate()?;
        Ok(schema)
    }

    /// The column called `name`.
    pub fn column(&self, name: &str) -> Option<&ColumnSchema> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The columns that are read (not dropped), in order.
    pub fn kept(&self) -> impl Iterator<Item = &ColumnSchema> {
        self.columns.iter().filter(|c| !c.drop)
    }

    /// A copy with column `name` marked dropped (no-op if absent). Prediction input is read
    /// with the training schema and the target dropped, so the target may be absent.
    pub fn with_dropped(&self, name: &str) -> Schema {
        let mut out = self.clone();
        for c in &mut out.columns {
            if c.name == name {
                c.drop = true;
            }
        }
        out
    }

    /// Whether a derived column counts over the whole scored file, so a file must be
    /// scored in one piece.
    pub fn needs_whole_file(&self) -> bool {
        self.derived.iter().any(Derived::needs_whole_file)
    }

    /// Checks settings that only make sense for some kinds.
    pub fn validate(&self) -> Result<()> {
        for c in &self.columns {
            if c.datetime.is_some() && c.kind != ColumnKind::Numeric {
                return Err(DataError::InvalidSchema {
                    column: c.name.clone(),
                    message: format!(
                        "a datetime column is read as numbers, but this one is declared {}",
                        c.kind
                    ),
                });
            }
            if c.log1p && c.kind != ColumnKind::Numeric {
                return Err(DataError::InvalidSchema {
                    column: c.name.clone(),
                    message: format!("log1p applies to numeric columns, this one is {}", c.kind),
                });
            }
            if let Some(s) = c
                .missing
                .iter()
                .find(|s| matches!(s, Sentinel::Number(v) if !v.is_finite()))
            {
                return Err(DataError::InvalidSchema {
                    column: c.name.clone(),
                    message: format!("missing-value sentinel {s} is not a finite number"),
                });
            }
        }
        Ok(())
    }
}

/// Settings for one column in a schema file or [`SchemaOverrides`]; unset fields leave
/// the inferred value.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnOverride {
    #[serde(default)]
    pub kind: Option<ColumnKind>,
    /// Sentinels to read as missing.
    #[serde(default)]
    pub missing: Vec<Sentinel>,
    #[serde(default)]
    pub log1p: Option<bool>,
    #[serde(default)]
    pub drop: Option<bool>,
    /// `"iso"` or a `%`-pattern: a datetime column (datetime.rs).
    #[serde(default)]
    pub datetime: Option<String>,
    /// Where this override came from (schema file path or "command line"), for messages.
    #[serde(skip)]
    pub origin: String,
}

/// The TOML schema file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SchemaFile {
    #[serde(default)]
    columns: BTreeMap<String, ColumnOverride>,
    #[serde(default)]
    derived: Vec<DerivedSpec>,
}

/// Per-column overrides of the inferred schema, from a TOML file and/or code.
///
/// ```
/// use glassbox_data::{ColumnKind, Sentinel, SchemaOverrides};
/// let mut o = SchemaOverrides::new("command line");
/// o.set_kind("Region", ColumnKind::Categorical)
///     .add_missing("Administrative_Duration", Sentinel::Number(-1.0))
///     .set_log1p("Administrative_Duration", true)
///     .set_drop("SessionId", true);
/// assert_eq!(o.columns["Region"].kind, Some(ColumnKind::Categorical));
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SchemaOverrides {
    /// Column name → its override.
    pub columns: BTreeMap<String, ColumnOverride>,
    /// Origin recorded on overrides added by the `set_*`/`add_*` methods.
    pub origin: String,
    /// Derived columns to add, in order.
    pub derived: Vec<DerivedSpec>,
}

impl SchemaOverrides {
    /// No overrides; `origin` names their source in messages (e.g. "command line").
    pub fn new(origin: &str) -> Self {
        Self {
            columns: BTreeMap::new(),
            origin: origin.to_string(),
            derived: Vec::new(),
        }
    }

    /// Reads a TOML schema file.
    ///
    /// Errors: [`DataError::Io`], [`DataError::SchemaFile`] (TOML syntax, an unknown key,
    /// an unknown kind — the message carries the TOML line and column).
    pub fn from_toml_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| DataError::Io {
            file: file.clone(),
            source,
        })?;
        Self::from_toml_str(&text, &file)
    }

    /// Parses schema TOML text; `origin` names it in messages.
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Self> {
        let parsed: SchemaFile = toml::from_str(text).map_err(|e| DataError::SchemaFile {
            file: origin.to_string(),
            message: e.to_string().trim_end().to_string(),
        })?;
        let mut columns = parsed.columns;
        for o in columns.values_mut() {
            o.origin = origin.to_string();
        }
        Ok(Self {
            columns,
            origin: origin.to_string(),
            derived: parsed.derived,
        })
    }

    fn entry(&mut self, column: &str) -> &mut ColumnOverride {
        let origin = self.origin.clone();
        let o = self.columns.entry(column.to_string()).or_default();
        o.origin = origin;
        o
    }

    /// Declares the kind of `column`.
    pub fn set_kind(&mut self, column: &str, kind: ColumnKind) -> &mut Self {
        self.entry(column).kind = Some(kind);
        self
    }

    /// Adds a missing-value sentinel to `column`.
    pub fn add_missing(&mut self, column: &str, sentinel: Sentinel) -> &mut Self {
        self.entry(column).missing.push(sentinel);
        self
    }

    /// Turns `log1p` on or off for `column`.
    pub fn set_log1p(&mut self, column: &str, on: bool) -> &mut Self {
        self.entry(column).log1p = Some(on);
        self
    }

    /// Declares `column` a datetime column: `"iso"` or a `%`-pattern.
    pub fn set_datetime(&mut self, column: &str, format: &str) -> &mut Self {
        self.entry(column).datetime = Some(format.to_string());
        self
    }

    /// Adds a derived column (after those already declared).
    pub fn add_derived(&mut self, spec: DerivedSpec) -> &mut Self {
        self.derived.push(spec);
        self
    }

    /// Drops (or keeps) `column`.
    pub fn set_drop(&mut self, column: &str, on: bool) -> &mut Self {
        self.entry(column).drop = Some(on);
        self
    }

    /// Applies `later` on top of `self`: its set fields win, its sentinels are added.
    /// Use it to let command-line flags override a schema file.
    pub fn merge(&mut self, later: SchemaOverrides) {
        for (name, o) in later.columns {
            let e = self.columns.entry(name).or_default();
            e.kind = o.kind.or(e.kind);
            e.log1p = o.log1p.or(e.log1p);
            e.drop = o.drop.or(e.drop);
            e.datetime = o.datetime.or(e.datetime.take());
            for s in o.missing {
                if !e.missing.contains(&s) {
                    e.missing.push(s);
                }
            }
            e.origin = o.origin;
        }
        self.derived.extend(later.derived);
    }

    /// Whether there is no override at all.
    pub fn is_empty(&self) -> bool {
        self.columns.is_empty() && self.derived.is_empty()
    }
}
