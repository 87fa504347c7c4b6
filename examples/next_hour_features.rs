//! Writes the next-hour case's examples as CSV for peers outside the engine
//! (benches/peers/next_hour/lightgbm_next_hour.py): the training sample (V24) and every test-day
//! example (V23) of the bundled RetailRocket log, in the order the case scores them, with the
//! 46 features of the data README (crates/events' reference test pins them to the reference).
//!
//! ```sh
//! cargo run --release --example next_hour_features -- OUT_DIR
//! ```
//!
//! Writes `OUT_DIR/train_sample.csv` (153,803 rows) and `OUT_DIR/test.csv` (617,300 rows):
//! `user, cutoff_ms, <46 features>, label`.

use std::path::PathBuf;

use glassbox_events::{CsvLayout, EventSpec, Protocol, featurize_protocol};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .ok_or("usage: next_hour_features OUT_DIR")?;
    std::fs::create_dir_all(&out)?;
    let log = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("datasets/retailrocket_events.csv");
    let spec = EventSpec::retailrocket_next_hour();
    let (split, _) = featurize_protocol(&log, &spec, &Protocol::retailrocket(), true)?;
    let layout = CsvLayout::default();
    split
        .train
        .write_csv_file(&out.join("train_sample.csv"), &layout)?;
    split.test.write_csv_file(&out.join("test.csv"), &layout)?;
    println!(
        "{}: {} training-sample rows, {} test rows",
        out.display(),
        split.train.rows(),
        split.test.rows()
    );
    Ok(())
}
