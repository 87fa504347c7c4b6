//! An interactions CSV (comma, tab or semicolon, a header, `.csv.gz` read streamed) → the
//! [`Interaction`]s of the protocol, columns chosen by name. The only file I/O of the crate.

use std::path::Path;

use glassbox_data::{DataError, DatetimeFormat, RawTable, ReadOptions};

use crate::protocol::Interaction;

/// Why an interactions file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Data(#[from] DataError),
    #[error("{file}: no column named \"{column}\" (the header has: {available})")]
    UnknownColumn {
        file: String,
        column: String,
        available: String,
    },
    #[error(
        "{file}, line {line}, column \"{column}\": \"{value}\" is not a time (ISO-8601 like 2011-10-01 08:26:00, or Unix seconds)"
    )]
    BadTime {
        file: String,
        line: u64,
        column: String,
        value: String,
    },
    #[error("{file}, line {line}, column \"{column}\": empty {role} id")]
    EmptyId {
        file: String,
        line: u64,
        column: String,
        role: &'static str,
    },
}

/// Which columns hold what. Without a time column every interaction gets time 0; without a
/// basket column the time stands for the basket.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Columns {
    pub user: String,
    pub item: String,
    pub time: Option<String>,
    pub basket: Option<String>,
}

impl Columns {
    /// The columns of `datasets/online_retail_interactions.csv.gz`.
    pub fn online_retail() -> Columns {
        Columns {
            user: "customer_id".into(),
            item: "stock_code".into(),
            time: Some("invoice_date".into()),
            basket: Some("invoice_no".into()),
        }
    }
}

/// Parses a time cell: ISO-8601 (D11) or a plain integer of Unix seconds.
pub fn parse_time(text: &str) -> Option<i64> {
    if let Ok(t) = text.parse::<i64>() {
        return Some(t);
    }
    DatetimeFormat::Iso.parse(text).map(|t| t.floor() as i64)
}

/// Reads `path` into interactions, in file order.
///
/// # Errors
/// [`ReadError`] naming the file, and the line and column of a bad cell.
pub fn read_interactions(path: &Path, columns: &Columns) -> Result<Vec<Interaction>, ReadError> {
    let table = RawTable::read(path, &ReadOptions::default())?;
    let file = path.display().to_string();
    let find = |name: &str| {
        table
            .header()
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| ReadError::UnknownColumn {
                file: file.clone(),
                column: name.to_string(),
                available: table.header().join(", "),
            })
    };
    let user = find(&columns.user)?;
    let item = find(&columns.item)?;
    let time = columns.time.as_deref().map(find).transpose()?;
    let basket = columns.basket.as_deref().map(find).transpose()?;
    let mut out = Vec::with_capacity(table.n_rows());
    for (r, &line) in table.lines().iter().enumerate() {
        let id = |j: usize, role| {
            let v = &table.column(j)[r];
            if v.is_empty() {
                Err(ReadError::EmptyId {
                    file: file.clone(),
                    line,
                    column: table.header()[j].clone(),
                    role,
                })
            } else {
                Ok(v.clone())
            }
        };
        let t = match time {
            None => 0,
            Some(j) => {
                let cell = &table.column(j)[r];
                parse_time(cell).ok_or_else(|| ReadError::BadTime {
                    file: file.clone(),
                    line,
                    column: table.header()[j].clone(),
                    value: cell.clone(),
                })?
            }
        };
        out.push(Interaction {
            user: id(user, "user")?,
            item: id(item, "item")?,
            time: t,
            basket: match basket {
                Some(j) => table.column(j)[r].clone(),
                None => t.to_string(),
            },
        });
    }
    Ok(out)
}
