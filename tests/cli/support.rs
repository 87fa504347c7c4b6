//! Helpers shared by tests/cli_end_to_end.rs and tests/cli_bad_input.rs (included with
//! `#[path]`; not a test target of its own): run the `glassbox` binary, make scratch folders,
//! generate small CSV files.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The binary under test.
pub fn glassbox() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_glassbox"));
    c.env_remove("RAYON_NUM_THREADS");
    c
}

/// What a run printed and returned.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Asserts the run succeeded, showing its output otherwise.
    pub fn ok(self) -> Run {
        assert_eq!(
            self.code, 0,
            "expected success\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self.no_panic()
    }

    /// Asserts exit code `code`, a message on stderr and no panic.
    pub fn fails_with(self, code: i32) -> Run {
        assert_eq!(
            self.code, code,
            "exit code\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        assert!(
            self.stderr.starts_with("error: "),
            "stderr should start with the error:\n{}",
            self.stderr
        );
        self.no_panic()
    }

    fn no_panic(self) -> Run {
        assert!(!self.stderr.contains("panicked"), "panic:\n{}", self.stderr);
        assert!(
            !self.stderr.contains("RUST_BACKTRACE"),
            "panic:\n{}",
            self.stderr
        );
        self
    }

    /// Asserts stderr contains every fragment.
    pub fn stderr_has(self, fragments: &[&str]) -> Run {
        for f in fragments {
            assert!(
                self.stderr.contains(f),
                "stderr lacks {f:?}:\n{}",
                self.stderr
            );
        }
        self
    }
}

/// Runs the binary with `args`.
pub fn run(args: &[&str]) -> Run {
    let out: Output = glassbox().args(args).output().expect("the binary runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A scratch folder unique to one test, removed when dropped.
pub struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    pub fn new(test: &str) -> Self {
        let dir = std::env::temp_dir()
            .join("glassbox-cli-tests")
            .join(format!("{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self { dir }
    }

    /// Writes `contents` to `name` and returns its path as a string.
    pub fn file(&self, name: &str, contents: impl AsRef<[u8]>) -> String {
        let path = self.dir.join(name);
        std::fs::write(&path, contents).unwrap();
        path.display().to_string()
    }

    /// `name` inside the folder, as a string.
    pub fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Every file under `dir`, recursively, relative, sorted (hidden temporary files included).
pub fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(base, &p, out);
                } else {
                    out.push(p.strip_prefix(base).unwrap().display().to_string());
                }
            }
        }
    }
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// A small deterministic generator (64-bit LCG, top bits), so the CSVs need no RNG crate.
pub struct Lcg(u64);

impl Lcg {
    pub fn new(seed: u64) -> Self {
        Lcg(seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407))
    }
    /// Uniform in [0, 1).
    pub fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A plain comma-separated training file: `age` (numeric), `plan` (text), `visits`
/// (numeric, skewed), `weekend` (boolean), `bought` (yes/no, depends on all of them).
pub fn simple_csv(rows: usize, seed: u64) -> String {
    let mut g = Lcg::new(seed);
    let mut s = String::from("age,plan,visits,weekend,bought\n");
    for _ in 0..rows {
        let age = 18.0 + (g.next() * 50.0).floor();
        let plan = ["basic", "pro", "team"][(g.next() * 3.0) as usize];
        let visits = (g.next() * g.next() * 40.0).floor();
        let weekend = g.next() < 0.3;
        let score = 0.08 * visits + if plan == "pro" { 1.0 } else { -0.5 } - 0.02 * (age - 40.0)
            + if weekend { 0.5 } else { 0.0 };
        let bought = g.next() < 1.0 / (1.0 + (-(score - 1.0)).exp());
        s.push_str(&format!(
            "{age},{plan},{visits},{},{}\n",
            if weekend { "TRUE" } else { "FALSE" },
            if bought { "yes" } else { "no" }
        ));
    }
    s
}

/// A model trained once per test process on [`simple_csv`] (1 epoch, tiny network), for
/// the tests that need a bundle. Returns (folder, model path, training CSV path).
pub fn shared_model() -> &'static (PathBuf, String, String) {
    static MODEL: OnceLock<(PathBuf, String, String)> = OnceLock::new();
    MODEL.get_or_init(|| {
        let dir = std::env::temp_dir()
            .join("glassbox-cli-tests")
            .join(format!("{}-shared-model", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let data = dir.join("train.csv");
        std::fs::write(&data, simple_csv(300, 1)).unwrap();
        let out = dir.join("run");
        let data_s = data.display().to_string();
        run(&[
            "train",
            &data_s,
            "--target",
            "bought",
            "--out",
            &out.display().to_string(),
            "--hidden",
            "8",
            "--epochs",
            "3",
            "--ensemble",
            "2",
            "--quiet",
        ])
        .ok();
        (
            dir,
            out.join("model.safetensors").display().to_string(),
            data_s,
        )
    })
}
