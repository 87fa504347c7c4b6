//! The featurizer's output for the app: a row-major `f32` matrix with names, labels and
//! (user, cutoff) keys, and CSV writing that `glassbox train` / `evaluate` read.
//!
//! Shapes: `N` examples, `D` features; `x` is `N × D` row-major, `y` and `keys` have `N`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use crate::error::EventsError;
use crate::featurize::{ExampleKey, ExampleSink};

/// Examples as a matrix.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FeatureMatrix {
    /// Feature names (`D`).
    pub names: Vec<String>,
    /// Features, row-major `N × D`, rounded from the featurizer's `f64`.
    pub x: Vec<f32>,
    /// Labels (`N`): 1 or 0, NaN when unknown (scoring).
    pub y: Vec<f32>,
    /// `(user key, cutoff Unix ms)` of each row (`N`).
    pub keys: Vec<(u64, i64)>,
}

impl FeatureMatrix {
    /// An empty matrix with these columns.
    pub fn new(names: Vec<String>) -> FeatureMatrix {
        FeatureMatrix {
            names,
            ..FeatureMatrix::default()
        }
    }

    /// `N`.
    pub fn rows(&self) -> usize {
        self.y.len()
    }

    /// `D`.
    pub fn cols(&self) -> usize {
        self.names.len()
    }

    /// Row `i` (`D` values).
    ///
    /// **Panics** if `i ≥ N`.
    pub fn row(&self, i: usize) -> &[f32] {
        let d = self.cols();
        &self.x[i * d..(i + 1) * d]
    }

    /// Rows labelled 1.
    pub fn positives(&self) -> usize {
        self.y.iter().filter(|&&y| y == 1.0).count()
    }

    /// Appends one example (`features` has `D` values).
    pub fn push(&mut self, key: &ExampleKey, features: &[f64]) {
        debug_assert_eq!(features.len(), self.cols());
        self.x.extend(features.iter().map(|&v| v as f32));
        self.y.push(match key.label {
            Some(true) => 1.0,
            Some(false) => 0.0,
            None => f32::NAN,
        });
        self.keys.push((key.user, key.cutoff_ms));
    }

    /// The rows `i` for which `keep(i)` holds, in order.
    pub fn select(&self, mut keep: impl FnMut(usize) -> bool) -> FeatureMatrix {
        let mut out = FeatureMatrix::new(self.names.clone());
        for i in 0..self.rows() {
            if keep(i) {
                out.x.extend_from_slice(self.row(i));
                out.y.push(self.y[i]);
                out.keys.push(self.keys[i]);
            }
        }
        out
    }

    /// Writes the matrix as CSV to `out` (`file` names it in errors): the key columns if
    /// `layout.keys`, the features, then the label column (1/0, empty when unknown).
    pub fn write_csv(
        &self,
        out: impl Write,
        file: &str,
        layout: &CsvLayout,
    ) -> Result<(), EventsError> {
        let mut writer = CsvRows::new(out, file, layout, &self.names)?;
        for i in 0..self.rows() {
            let label = if self.y[i].is_nan() {
                None
            } else {
                Some(self.y[i] == 1.0)
            };
            writer.row(
                self.keys[i],
                label,
                self.row(i).iter().map(|&v| FloatText::Single(v)),
            )?;
        }
        writer.finish()
    }

    /// [`FeatureMatrix::write_csv`] to `path`, through a temporary file renamed into place, so a
    /// failure leaves no half-written file.
    pub fn write_csv_file(&self, path: &Path, layout: &CsvLayout) -> Result<(), EventsError> {
        let file = path.display().to_string();
        let io = |action: &'static str| {
            let file = file.clone();
            move |source| EventsError::Io {
                file,
                action,
                source,
            }
        };
        let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
        tmp_name.push(format!(".tmp{}", std::process::id()));
        let tmp = path.with_file_name(tmp_name);
        let result = File::create(&tmp)
            .map_err(io("cannot create the output file"))
            .and_then(|handle| self.write_csv(BufWriter::new(handle), &file, layout))
            .and_then(|()| {
                std::fs::rename(&tmp, path).map_err(io("cannot move the output into place"))
            });
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }
}

impl ExampleSink for FeatureMatrix {
    fn accept(&mut self, key: &ExampleKey, features: &[f64]) -> Result<(), EventsError> {
        self.push(key, features);
        Ok(())
    }
}

/// The column layout of written CSV.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvLayout {
    /// Name of the user key column; `None` leaves both key columns out.
    pub user_column: Option<String>,
    /// Name of the cutoff column (Unix ms), written with the user column.
    pub cutoff_column: String,
    /// Name of the label column.
    pub label_column: String,
}

impl Default for CsvLayout {
    /// `user, cutoff_ms, <features>, label`: train with `--target label --drop user --drop cutoff_ms`.
    fn default() -> CsvLayout {
        CsvLayout {
            user_column: Some("user".into()),
            cutoff_column: "cutoff_ms".into(),
            label_column: "label".into(),
        }
    }
}

/// A value to write in its shortest exact decimal form.
enum FloatText {
    Single(f32),
    Double(f64),
}

/// Row-by-row CSV writing shared by [`FeatureMatrix::write_csv`] and [`CsvSink`].
struct CsvRows<W: Write> {
    writer: csv::Writer<W>,
    file: String,
    keys: bool,
    fields: Vec<String>,
}

impl<W: Write> CsvRows<W> {
    fn new(
        out: W,
        file: &str,
        layout: &CsvLayout,
        names: &[String],
    ) -> Result<CsvRows<W>, EventsError> {
        let mut rows = CsvRows {
            writer: csv::Writer::from_writer(out),
            file: file.to_string(),
            keys: layout.user_column.is_some(),
            fields: Vec::new(),
        };
        let mut header: Vec<&str> = Vec::new();
        if let Some(user) = &layout.user_column {
            header.extend([user.as_str(), layout.cutoff_column.as_str()]);
        }
        header.extend(names.iter().map(String::as_str));
        header.push(&layout.label_column);
        rows.writer
            .write_record(&header)
            .map_err(|source| rows.error(source))?;
        Ok(rows)
    }

    fn error(&self, source: csv::Error) -> EventsError {
        EventsError::Csv {
            file: self.file.clone(),
            source,
        }
    }

    fn row(
        &mut self,
        key: (u64, i64),
        label: Option<bool>,
        values: impl Iterator<Item = FloatText>,
    ) -> Result<(), EventsError> {
        self.fields.clear();
        if self.keys {
            self.fields.push(key.0.to_string());
            self.fields.push(key.1.to_string());
        }
        self.fields.extend(values.map(|v| match v {
            FloatText::Single(v) => v.to_string(),
            FloatText::Double(v) => v.to_string(),
        }));
        self.fields.push(match label {
            Some(true) => "1".into(),
            Some(false) => "0".into(),
            None => String::new(),
        });
        self.writer
            .write_record(&self.fields)
            .map_err(|source| self.error(source))
    }

    fn finish(mut self) -> Result<(), EventsError> {
        self.writer.flush().map_err(|source| EventsError::Io {
            file: self.file.clone(),
            action: "cannot write the output",
            source,
        })
    }
}

/// Streams examples straight to CSV in full `f64` precision, without holding a matrix.
pub struct CsvSink<W: Write> {
    rows: CsvRows<W>,
}

impl<W: Write> CsvSink<W> {
    /// Writes the header to `out` (`file` names it in errors).
    pub fn new(
        out: W,
        file: &str,
        layout: &CsvLayout,
        names: &[String],
    ) -> Result<CsvSink<W>, EventsError> {
        Ok(CsvSink {
            rows: CsvRows::new(out, file, layout, names)?,
        })
    }

    /// Flushes the output.
    pub fn finish(self) -> Result<(), EventsError> {
        self.rows.finish()
    }
}

impl<W: Write> ExampleSink for CsvSink<W> {
    fn accept(&mut self, key: &ExampleKey, features: &[f64]) -> Result<(), EventsError> {
        self.rows.row(
            (key.user, key.cutoff_ms),
            key.label,
            features.iter().map(|&v| FloatText::Double(v)),
        )
    }
}
