//! Helpers shared by the data tests (`mod support;`) and, through `#[path]`, by the audit
//! tests of crates/audit; a folder module, so not a test target of its own.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use glassbox_data::DataError;

/// A scratch folder under the system temp dir, unique to one test (and process), removed
/// when dropped.
pub struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    pub fn new(test: &str) -> Self {
        let dir = std::env::temp_dir()
            .join("glassbox-data-tests")
            .join(format!("{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self { dir }
    }

    /// Writes `contents` to `name` in the scratch folder and returns its path.
    pub fn file(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.dir.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A bundled data file, from the repository root's datasets/ (found upwards from the crate
/// that includes this file, so the data, audit and root tests share it).
pub fn dataset(name: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .find(|dir| dir.join("datasets").is_dir())
        .unwrap_or_else(|| panic!("no datasets/ folder above {}", env!("CARGO_MANIFEST_DIR")));
    root.join("datasets").join(name)
}

/// Asserts that the error's message contains every one of `parts`.
#[track_caller]
pub fn assert_message(err: &DataError, parts: &[&str]) {
    let msg = err.to_string();
    for part in parts {
        assert!(msg.contains(part), "message {msg:?} lacks {part:?}");
    }
}
