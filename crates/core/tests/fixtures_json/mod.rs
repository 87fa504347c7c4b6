//! Reading the PyTorch fixtures of the tables' layers (`reference/*.json`), shared by
//! `tabular_layers.rs`, `table_network.rs` and `batch_ensemble.rs`.

use serde_json::Value;

/// A JSON array of numbers as `f64`s.
pub fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

/// Every element of `got` within `tol · (1 + |want|)` of `want`.
pub fn close(name: &str, got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{name}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol * (1.0 + w.abs()),
            "{name}[{i}]: {g} vs {w}"
        );
    }
}
