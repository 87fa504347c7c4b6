//! The case studies: each runs a whole study on bundled data — data → features → model →
//! metrics → report — and writes it to a folder. `glassbox case-study <case>` runs one;
//! `glassbox case-study` runs every registered case into `DIR/<case>/` and writes
//! `DIR/index.md` linking each report ([`run_all`]).
//!
//! To add a case: write `cases/<name>.rs` (or a folder `cases/<name>/` when it needs several
//! files) with a `pub const CASE: Case` and the function it names, then add `pub mod <name>;`
//! and `<name>::CASE` to [`CASES`]. The command line lists the registered cases and passes
//! each the same [`CaseOptions`].

pub mod next_hour;
pub mod purchase;
pub mod recommend;
pub mod risk;
pub mod value;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use crate::exit::{CliError, ResultExt};
use crate::out_dir::OutDir;
use crate::pipeline::{MemberJob, TrainingSet};
use crate::recipe::{Recipe, RecipeChanges};

/// What every case study is asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseOptions {
    /// The output folder (`--out`, else the case's [`Case::default_out`]).
    pub out: PathBuf,
    /// The folder holding the case's data files (`--data-dir`); each case has its default.
    pub data_dir: Option<PathBuf>,
    /// The seed of the case's recipes (split, initialisation, shuffling).
    pub seed: u64,
    /// A fast smoke run (few epochs, few members).
    pub quick: bool,
    /// Worker threads for the maths.
    pub threads: usize,
    /// Print nothing but results and errors.
    pub quiet: bool,
}

/// One registered case study.
#[derive(Debug, Clone, Copy)]
pub struct Case {
    /// Its name on the command line (`glassbox case-study <name>`).
    pub name: &'static str,
    /// One line for the help.
    pub about: &'static str,
    /// Where it writes without `--out`.
    pub default_out: &'static str,
    /// Runs it.
    pub run: fn(&Case, &CaseOptions) -> Result<(), CliError>,
}

impl Case {
    /// The command line that reproduces a run: `glassbox case-study`, the case's name, then
    /// `--seed` and `--quick` when they differ from their defaults.
    pub fn command(&self, options: &CaseOptions) -> String {
        format!(
            "glassbox case-study {}{}{}",
            self.name,
            if options.seed != 0 {
                format!(" --seed {}", options.seed)
            } else {
                String::new()
            },
            if options.quick { " --quick" } else { "" }
        )
    }
}

/// Every case study, in the order the help lists them.
pub const CASES: &[Case] = &[
    purchase::CASE,
    next_hour::CASE,
    risk::CASE,
    value::CASE,
    recommend::CASE,
];

/// Where `glassbox case-study` without a case writes (one folder per case, and index.md).
pub const ALL_OUT: &str = "runs/case-study";

/// The case called `name`, if one is registered.
pub fn find(name: &str) -> Option<&'static Case> {
    CASES.iter().find(|c| c.name == name)
}

/// The case's presets with the run's seed (and, for `--quick`, 2 epochs and at most 2
/// members).
///
/// # Errors
/// A usage error if a change does not apply (cannot happen for the presets).
pub(crate) fn with_run_settings<const N: usize>(
    mut recipes: [Recipe; N],
    options: &CaseOptions,
) -> Result<[Recipe; N], CliError> {
    for r in &mut recipes {
        let mut changes = RecipeChanges {
            seed: Some(options.seed),
            ..Default::default()
        };
        if options.quick {
            changes.epochs = Some(2);
            changes.ensemble = Some(r.ensemble.min(2));
        }
        r.apply(&changes)
            .map_err(|e| CliError::usage(anyhow::anyhow!(e)))?;
    }
    Ok(recipes)
}

/// The member jobs of several recipes, each on its training set and named by `names`, in
/// recipe then member order (what [`crate::pipeline::train_members`] trains side by side).
pub(crate) fn member_jobs<'a>(
    recipes: &'a [Recipe],
    sets: &'a [TrainingSet],
    names: &[&'a str],
) -> Vec<MemberJob<'a>> {
    recipes
        .iter()
        .zip(sets)
        .zip(names.iter().copied())
        .flat_map(|((recipe, set), model)| {
            (0..recipe.ensemble).map(move |member| MemberJob {
                set,
                recipe,
                model,
                member,
            })
        })
        .collect()
}

/// The folder of a case's data: `--data-dir`, else `./datasets` if it holds `file`, else the
/// source tree's.
pub(crate) fn data_dir(arg: &Option<PathBuf>, file: &str) -> PathBuf {
    match arg {
        Some(d) => d.clone(),
        None => {
            let local = PathBuf::from("datasets");
            if local.join(file).is_file() {
                local
            } else {
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets")
            }
        }
    }
}

/// Runs every registered case into `options.out/<case>/` (the same seed, `--quick` and
/// threads), then writes `options.out/index.md` linking each report with its wall time.
/// Stops at the first case that fails (its error is returned; index.md is not written).
///
/// # Errors
/// The first failing case's error, or the index's write error.
pub fn run_all(options: &CaseOptions) -> Result<(), CliError> {
    let started = Instant::now();
    let mut out = OutDir::open(&options.out)?;
    let root = options.out.clone();
    out.guard(|run| {
        let mut lines = Vec::new();
        for case in CASES {
            let case_started = Instant::now();
            let case_options = CaseOptions {
                out: root.join(case.name),
                ..options.clone()
            };
            (case.run)(case, &case_options)?;
            lines.push((case, case_started.elapsed().as_secs_f64()));
        }
        let mut index = String::from("# glassbox case studies\n\n");
        let _ = writeln!(
            index,
            "Every case study of the project, run by `glassbox case-study{}{}` in {:.2} s on {} \
thread(s):\n",
            if options.seed != 0 {
                format!(" --seed {}", options.seed)
            } else {
                String::new()
            },
            if options.quick { " --quick" } else { "" },
            started.elapsed().as_secs_f64(),
            options.threads
        );
        for (case, seconds) in lines {
            let _ = writeln!(
                index,
                "- [{}]({}/report.md) — {} ({seconds:.2} s; `{}`)",
                case.name,
                case.name,
                case.about,
                case.command(options)
            );
        }
        run.write_bytes("index.md", index.as_bytes()).usage_err()?;
        println!("\nindex: {}", run.path().join("index.md").display());
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_case_is_found_by_its_name_and_the_default_is_registered() {
        for case in CASES {
            assert_eq!(find(case.name).map(|c| c.name), Some(case.name));
        }
        assert!(find("no-such-case").is_none());
        let options = CaseOptions {
            out: PathBuf::from("runs/x"),
            data_dir: None,
            seed: 3,
            quick: true,
            threads: 1,
            quiet: true,
        };
        let purchase = find("purchase").unwrap();
        assert_eq!(
            purchase.command(&options),
            "glassbox case-study purchase --seed 3 --quick"
        );
    }
}
