//! The output folder of a command: opened (and checked writable) before any slow work, and
//! removed again if the command fails before writing anything into it.

use std::path::Path;

use crate::exit::{CliError, ResultExt};
use crate::output::RunDir;

/// A run folder opened by a command, removed again if the command fails before writing
/// anything into it (so a failed run leaves no empty folder it created).
#[derive(Debug)]
pub struct OutDir {
    pub run: RunDir,
    created: bool,
}

impl OutDir {
    /// Creates (or reuses) `path` and checks that it is writable — before any slow work, so
    /// a bad `--out` fails at once (exit 2).
    pub fn open(path: &Path) -> Result<OutDir, CliError> {
        let created = !path.exists();
        let run = RunDir::create(path).usage_err()?;
        Ok(OutDir { run, created })
    }

    /// Runs `body`; if it fails and the folder was created by [`OutDir::open`] and is still
    /// empty, removes the folder.
    pub fn guard<T>(
        &mut self,
        body: impl FnOnce(&mut RunDir) -> Result<T, CliError>,
    ) -> Result<T, CliError> {
        let result = body(&mut self.run);
        if result.is_err() && self.created {
            // remove_dir only removes an empty folder; anything written stays.
            let _ = std::fs::remove_dir(self.run.path());
        }
        result
    }
}
