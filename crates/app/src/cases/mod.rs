//! The case studies: each runs a whole study on bundled data — data → features → model →
//! metrics → report — and writes it to a folder. `glassbox case-study <case>` runs one;
//! `glassbox case-study` runs the default, [`purchase`].
//!
//! To add a case: write `cases/<name>.rs` (or a folder `cases/<name>/` when it needs several
//! files) with a `pub const CASE: Case` and the function it names, then add `pub mod <name>;`
//! and `<name>::CASE` to [`CASES`]. The command line lists the registered cases and passes
//! each the same [`CaseOptions`].

pub mod purchase;

use std::path::PathBuf;

use crate::exit::CliError;

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
    /// The command line that reproduces a run: `glassbox case-study`, the case's name unless
    /// it is the default, then `--seed` and `--quick` when they differ from their defaults.
    pub fn command(&self, options: &CaseOptions) -> String {
        format!(
            "glassbox case-study{}{}{}",
            if self.name == DEFAULT {
                String::new()
            } else {
                format!(" {}", self.name)
            },
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
pub const CASES: &[Case] = &[purchase::CASE];

/// The case `glassbox case-study` runs without a name.
pub const DEFAULT: &str = purchase::CASE.name;

/// The case called `name`, if one is registered.
pub fn find(name: &str) -> Option<&'static Case> {
    CASES.iter().find(|c| c.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_case_is_found_by_its_name_and_the_default_is_registered() {
        for case in CASES {
            assert_eq!(find(case.name).map(|c| c.name), Some(case.name));
        }
        assert!(find(DEFAULT).is_some());
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
            "glassbox case-study --seed 3 --quick"
        );
    }
}
