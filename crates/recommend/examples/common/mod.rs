//! What the Online Retail examples share: the bundled interactions read once and cut by the
//! data README's protocol (notes/recommend.md §1).

use std::path::PathBuf;

use glassbox_recommend::Split;
use glassbox_recommend::read::{Columns, parse_time, read_interactions};

/// The protocol's two splits of Online Retail.
#[allow(dead_code)] // An example may read one split only.
pub struct OnlineRetail {
    /// Train < 2011-09-01, truth = September 2011: where settings are chosen.
    pub val: Split,
    /// Train < 2011-10-01, truth = the rest: scored once, for the report.
    pub test: Split,
}

/// Reads `datasets/online_retail_interactions.csv.gz` and cuts both splits.
///
/// # Panics
/// If the bundled file is missing or unreadable (these are examples, not the command line).
pub fn online_retail() -> OnlineRetail {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../datasets/online_retail_interactions.csv.gz");
    let log = read_interactions(&path, &Columns::online_retail()).expect("reads");
    let date = |d: &str| parse_time(d).expect("a date");
    OnlineRetail {
        val: Split::new(&log, date("2011-09-01"), Some(date("2011-10-01"))),
        test: Split::new(&log, date("2011-10-01"), None),
    }
}
