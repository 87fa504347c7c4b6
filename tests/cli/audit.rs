//! Helpers shared by tests/cli_audit.rs and tests/cli_audit_bad_input.rs (included with
//! `#[path]` beside cli/support.rs; not a test target of its own): the bundled files and one
//! small model trained once per test process.

#![allow(dead_code)]

use std::path::Path;
use std::sync::OnceLock;

use crate::support::{Scratch, files_under, run};

/// A bundled data file, as a string.
pub fn dataset(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("datasets")
        .join(name)
        .display()
        .to_string()
}

pub fn test_csv() -> String {
    dataset("online_shoppers_test.csv")
}

/// The data rows of a CSV file without quoted line breaks (the bundled files have none).
pub fn data_rows(path: &str) -> usize {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines().filter(|l| !l.is_empty()).count() - 1
}

/// The path of a model trained once per test process on the bundled training file with the
/// shipped schema: 8 ReLU units, 2 epochs, one network, the default recipe otherwise (BCE
/// from the logits, 20 % validation part, threshold at max F1). Its scratch folder sits in a
/// static, which is never dropped: it stays, as `support::shared_model`'s does.
pub fn model() -> &'static str {
    static MODEL: OnceLock<(Scratch, String)> = OnceLock::new();
    &MODEL
        .get_or_init(|| {
            let s = Scratch::new("audit-model");
            let out = s.path("run");
            run(&[
                "train",
                &dataset("online_shoppers_train.csv"),
                "--schema",
                &dataset("online_shoppers.schema.toml"),
                "--target",
                "Revenue",
                "--out",
                &out,
                "--hidden",
                "8",
                "--epochs",
                "2",
                "--ensemble",
                "1",
                "--seed",
                "3",
                "--quiet",
            ])
            .ok();
            let model = s.path("run/model.safetensors");
            (s, model)
        })
        .1
}

/// Trains a model for one epoch (8 hidden units, one network) on the bundled training file
/// with the shipped schema and `extra` flags into the folder `out`; returns its bundle.
pub fn train_one_epoch(out: &str, extra: &[&str]) -> String {
    let (train, schema) = (
        dataset("online_shoppers_train.csv"),
        dataset("online_shoppers.schema.toml"),
    );
    let mut args = vec![
        "train", &train, "--schema", &schema, "--target", "Revenue", "--out", out,
    ];
    args.extend([
        "--hidden",
        "8",
        "--epochs",
        "1",
        "--ensemble",
        "1",
        "--quiet",
    ]);
    args.extend(extra);
    run(&args).ok();
    format!("{out}/model.safetensors")
}

/// Asserts `out` (a file or folder) does not exist.
pub fn absent(out: &str) {
    assert!(
        !Path::new(out).exists(),
        "left behind: {out} holds {:?}",
        files_under(Path::new(out))
    );
}
