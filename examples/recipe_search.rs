//! The search behind the default recipe (notes/recipe.md): trains candidate recipes on the
//! bundled **training** file only and scores them on held-out parts of it. The test file is
//! never read.
//!
//! ```sh
//! cargo run --release --example recipe_search -- --stage single   # one network per recipe
//! cargo run --release --example recipe_search -- --stage ensemble # ensembles of the winner
//! cargo run --release --example recipe_search -- --stage variance # seed spread, 1 vs 5 members
//! cargo run --release --example recipe_search -- --stage final    # paper against the default
//! cargo run --release --example recipe_search -- --stage tabular  # issue 19: five tables
//! cargo run --release --example recipe_search -- --stage layers   # issue 19: input layers
//! ```
//!
//! `--stage tabular` runs the same protocol on the training file of each of the five tables
//! of the development suite (shoppers and `datasets/tabular/`, notes/recipe.md §6), comparing
//! the default recipe (one member) with the preprocessing candidates of notes/data.md §11;
//! `--tables adult,coupon` limits it to some tables. `--stage layers` runs the same protocol
//! with the input layers of tables (notes/tabular.md §3–§4: per-feature scaling, PLR) and
//! BatchEnsemble networks (§6) as the candidates; `--candidates "BatchEnsemble k8"` keeps the
//! base and the candidates whose names start with one of the comma-separated prefixes, and
//! `--base "default 5 seeds"` makes that candidate the base.
//!
//! Protocol. For fold f = 0..F (default 3), a stratified 20 % "selection" part of
//! `datasets/online_shoppers_train.csv` is drawn with seed 1000 + f (glassbox's stratified
//! split, T4); the other 80 % plays the role of the training file, from which each recipe
//! carves its own validation part (early stopping, threshold) exactly as `glassbox train`
//! does. A recipe's score is its mean ROC-AUC and mean average precision (PR-AUC) on the F
//! selection parts, each trained with seed f. The files of each fold are written to a
//! temporary folder and removed at the end. Options: `--folds F`, `--threads N`,
//! `--out results.csv` (one row per recipe and fold).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use glassbox_app::pipeline::{
    DataOptions, MemberJob, assemble, evaluate_csv, prepare_training, train_members,
};
use glassbox_app::progress::Progress;
use glassbox_app::recipe::{ClassWeightRule, OptimizerName, Recipe, RecipeChanges};
use glassbox_core::seeded_rng;
use glassbox_data::{NumericScaling, ReadOptions, SchemaOverrides, Table, Target, TargetSpec};
use glassbox_train::stratified_split;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

struct Fold {
    fit: PathBuf,
    select: PathBuf,
}

/// One table of the development suite: its training file (the test file is never named
/// here), schema file and target.
struct Dataset {
    name: &'static str,
    train: &'static str,
    schema: &'static str,
    target: &'static str,
    positive: Option<&'static str>,
}

impl Dataset {
    fn target_spec(&self) -> TargetSpec {
        let t = TargetSpec::new(self.target);
        match self.positive {
            Some(p) => t.with_positive(p),
            None => t,
        }
    }
}

const SHOPPERS: Dataset = Dataset {
    name: "shoppers",
    train: "datasets/online_shoppers_train.csv",
    schema: "datasets/online_shoppers.schema.toml",
    target: "Revenue",
    positive: None,
};

/// The development suite of issue 19 (datasets/README.md).
const SUITE: [Dataset; 5] = [
    SHOPPERS,
    Dataset {
        name: "adult",
        train: "datasets/tabular/adult_train.csv",
        schema: "datasets/tabular/adult.schema.toml",
        target: "income",
        positive: Some(">50K"),
    },
    Dataset {
        name: "credit_default",
        train: "datasets/tabular/credit_default_train.csv",
        schema: "datasets/tabular/credit_default.schema.toml",
        target: "default payment next month",
        positive: None,
    },
    Dataset {
        name: "coupon",
        train: "datasets/tabular/coupon_train.csv",
        schema: "datasets/tabular/coupon.schema.toml",
        target: "Y",
        positive: None,
    },
    Dataset {
        name: "hotel_resort",
        train: "datasets/tabular/hotel_resort_train.csv",
        schema: "datasets/tabular/hotel_resort.schema.toml",
        target: "is_canceled",
        positive: None,
    },
];

/// Writes the F (fit, selection) file pairs of the protocol.
fn make_folds(dir: &Path, folds: usize, data: &Dataset) -> Vec<Fold> {
    let train = Path::new(ROOT).join(data.train);
    let schema = Path::new(ROOT).join(data.schema);
    let text = std::fs::read_to_string(&train).expect("training file");
    let lines: Vec<&str> = text.lines().collect();
    let overrides = SchemaOverrides::from_toml_file(&schema).expect("schema");
    let (table, _) = Table::read_infer(&train, &ReadOptions::default(), &overrides).expect("read");
    let target = Target::resolve(&table, &data.target_spec()).expect("target");
    let y = target.labels(&table).expect("labels");
    let classes: Vec<usize> = y.iter().map(|&v| usize::from(v == 1.0)).collect();
    (0..folds)
        .map(|f| {
            let split =
                stratified_split(&classes, 0.2, &mut seeded_rng(1000 + f as u64)).expect("split");
            let write = |name: String, rows: &[usize]| {
                let mut s = String::from(lines[0]);
                s.push('\n');
                for &r in rows {
                    // Every record of this file is one line: data row r is on line r + 2.
                    let line = table.lines()[r] as usize;
                    s.push_str(lines[line - 1]);
                    s.push('\n');
                }
                let p = dir.join(format!("{}-{name}", data.name));
                std::fs::write(&p, s).expect("write fold");
                p
            };
            Fold {
                fit: write(format!("fit-{f}.csv"), &split.train),
                select: write(format!("select-{f}.csv"), &split.val),
            }
        })
        .collect()
}

/// Mean ROC-AUC, mean AP, their per-fold values, and training seconds of one recipe.
struct Score {
    auc: Vec<f64>,
    ap: Vec<f64>,
    epochs: Vec<usize>,
    seconds: f64,
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

fn sd(v: &[f64]) -> f64 {
    let m = mean(v);
    (v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (v.len() as f64 - 1.0).max(1.0)).sqrt()
}

fn score(
    recipe_for: &dyn Fn(u64) -> Recipe,
    folds: &[Fold],
    threads: usize,
    data: &Dataset,
) -> Score {
    let schema = Path::new(ROOT).join(data.schema);
    let recipes: Vec<Recipe> = (0..folds.len()).map(|f| recipe_for(f as u64)).collect();
    let sets: Vec<_> = folds
        .iter()
        .zip(&recipes)
        .map(|(fold, r)| {
            let options = DataOptions {
                schema: Some(schema.clone()),
                apply_log1p: r.log1p,
                features: r.features,
                ..Default::default()
            };
            prepare_training(
                &fold.fit,
                &options,
                &data.target_spec(),
                r.val_fraction,
                r.seed,
            )
            .unwrap_or_else(|e| panic!("prepare: {e}"))
        })
        .collect();
    let jobs: Vec<MemberJob<'_>> = recipes
        .iter()
        .zip(&sets)
        .flat_map(|(recipe, set)| {
            (0..recipe.ensemble).map(move |member| MemberJob {
                set,
                recipe,
                model: "search",
                member,
            })
        })
        .collect();
    let t = Instant::now();
    let mut results = train_members(&jobs, threads, &Progress::silent()).into_iter();
    let seconds = t.elapsed().as_secs_f64();
    let mut s = Score {
        auc: Vec::new(),
        ap: Vec::new(),
        epochs: Vec::new(),
        seconds,
    };
    for ((recipe, set), fold) in recipes.iter().zip(&sets).zip(folds) {
        let members: Vec<_> = results
            .by_ref()
            .take(recipe.ensemble)
            .map(|r| r.unwrap_or_else(|e| panic!("train: {e}")))
            .collect();
        s.epochs.extend(members.iter().map(|m| m.info.best_epoch));
        let model = assemble(set, recipe, "search", members).unwrap_or_else(|e| panic!("{e}"));
        let (eval, _) = evaluate_csv(&model.bundle, &fold.select, "select")
            .unwrap_or_else(|e| panic!("evaluate: {e}"));
        s.auc.push(eval.at_threshold.roc_auc.unwrap_or(f64::NAN));
        s.ap.push(eval.at_threshold.average_precision.unwrap_or(f64::NAN));
    }
    s
}

/// A candidate: a name and changes applied to a base recipe.
struct Candidate {
    name: String,
    changes: RecipeChanges,
}

fn cand(name: &str, changes: RecipeChanges) -> Candidate {
    Candidate {
        name: name.into(),
        changes,
    }
}

/// `RecipeChanges` with the fields `set` fills.
fn changes(set: impl Fn(&mut RecipeChanges)) -> RecipeChanges {
    let mut c = RecipeChanges::default();
    set(&mut c);
    c
}

/// Single-network candidates, each one change from the search's base recipe (the default
/// recipe with one member).
fn single_candidates() -> Vec<Candidate> {
    let mut v = vec![
        cand("base", changes(|_| {})),
        cand("no log1p", changes(|c| c.log1p = Some(false))),
        cand(
            "Adam, PyTorch ε",
            changes(|c| c.optimizer = Some(OptimizerName::Adam)),
        ),
        cand(
            "Adam + coupled L2 1e-4",
            changes(|c| c.weight_decay = Some(1e-4)),
        ),
        cand(
            "AdamW λ 0.01",
            changes(|c| {
                c.optimizer = Some(OptimizerName::Adamw);
                c.weight_decay = Some(0.01);
            }),
        ),
        cand(
            "AdamW λ 0.1",
            changes(|c| {
                c.optimizer = Some(OptimizerName::Adamw);
                c.weight_decay = Some(0.1);
            }),
        ),
        cand(
            "class weights balanced",
            changes(|c| c.class_weight = Some(ClassWeightRule::Balanced)),
        ),
        cand("cosine schedule", changes(|c| c.cosine = Some(true))),
        cand(
            "no early stopping, 10 epochs",
            changes(|c| {
                c.early_stopping = Some(0);
                c.epochs = Some(10);
            }),
        ),
        cand("patience 10", changes(|c| c.early_stopping = Some(10))),
        cand("tanh", changes(|c| c.activation = Some("tanh".into()))),
        cand(
            "he_uniform init",
            changes(|c| c.init = Some("he_uniform".into())),
        ),
        cand(
            "validation fraction 0.1",
            changes(|c| c.val_fraction = Some(0.1)),
        ),
        cand(
            "validation fraction 0.3",
            changes(|c| c.val_fraction = Some(0.3)),
        ),
    ];
    for lr in [3e-4, 3e-3, 1e-2] {
        v.push(cand(&format!("lr {lr}"), changes(|c| c.lr = Some(lr))));
    }
    for b in [32, 128, 256] {
        v.push(cand(
            &format!("batch {b}"),
            changes(|c| c.batch_size = Some(b)),
        ));
    }
    for h in [
        vec![32],
        vec![64],
        vec![32, 32],
        vec![128, 64],
        vec![128, 128],
        vec![256, 256],
        vec![64, 64, 64],
    ] {
        let name = format!("hidden {h:?}");
        v.push(cand(&name, changes(|c| c.hidden = Some(h.clone()))));
    }
    for d in [0.1, 0.2, 0.3, 0.5] {
        v.push(cand(
            &format!("dropout {d}"),
            changes(|c| c.dropout = Some(d)),
        ));
    }
    v
}

/// The preprocessing candidates of issue 19 (notes/data.md §11), each against the base (the
/// default recipe with one member); the last combines them.
fn tabular_candidates() -> Vec<Candidate> {
    vec![
        cand("base (default, 1 member)", changes(|_| {})),
        cand(
            "robust scaling + smooth clip",
            changes(|c| c.numeric_scaling = Some(NumericScaling::RobustClip)),
        ),
        cand(
            "quantile-normal",
            changes(|c| c.numeric_scaling = Some(NumericScaling::QuantileNormal)),
        ),
        cand(
            "missing indicators",
            changes(|c| c.missing_indicators = Some(true)),
        ),
        cand(
            "rare levels < 10 pooled",
            changes(|c| c.rare_min_count = Some(10)),
        ),
        cand(
            "robust-clip + indicators + rare < 10",
            changes(|c| {
                c.numeric_scaling = Some(NumericScaling::RobustClip);
                c.missing_indicators = Some(true);
                c.rare_min_count = Some(10);
            }),
        ),
    ]
}

/// The input layers of tables (notes/tabular.md §3–§4), each against the base (the default
/// recipe with one member). PLR at its starting point K = 16, H = 16, σ = 0.1; BatchEnsemble
/// (notes/tabular.md §6) with k = 4 and 8 members in one network; the shipped default
/// (5 seeds) for scale.
fn layer_candidates() -> Vec<Candidate> {
    vec![
        cand("base (default, 1 member)", changes(|_| {})),
        cand("feature scale", changes(|c| c.feature_scale = Some(true))),
        cand("PLR k16 h16 σ0.1", changes(|c| c.plr = Some(true))),
        cand(
            "feature scale + PLR",
            changes(|c| {
                c.feature_scale = Some(true);
                c.plr = Some(true);
            }),
        ),
        cand("BatchEnsemble k4", changes(|c| c.ensemble_k = Some(4))),
        cand("BatchEnsemble k8", changes(|c| c.ensemble_k = Some(8))),
        // The default recipe as shipped, 5 seeds averaged: what a one-network k8 must beat.
        cand("default 5 seeds", changes(|c| c.ensemble = Some(5))),
        // Session 13 (TabM-style), fixed before the run: PLR on the numeric columns only
        // (N23) at the defaults of the PLR paper's package (K = 48, H = 24, σ = 0.01), alone,
        // after the feature scale, and under BatchEnsemble k4; one network each. Run with
        // `--base "default 5 seeds" --candidates "PLR-numeric,BE k4 + PLR-numeric"`.
        cand("PLR-numeric k48 h24 σ0.01", plr_numeric(|_| {})),
        cand(
            "PLR-numeric + feature scale",
            plr_numeric(|c| c.feature_scale = Some(true)),
        ),
        cand(
            "BE k4 + PLR-numeric",
            plr_numeric(|c| c.ensemble_k = Some(4)),
        ),
    ]
}

/// PLR of the numeric columns (N23) at K = 48, H = 24, σ = 0.01, with `set`'s changes.
fn plr_numeric(set: impl Fn(&mut RecipeChanges)) -> RecipeChanges {
    changes(|c| {
        c.plr = Some(true);
        c.plr_numeric = Some(true);
        c.plr_frequencies = Some(48);
        c.plr_units = Some(24);
        c.plr_sigma = Some(0.01);
        set(c);
    })
}

/// `--stage tabular` (and `layers`): every candidate on every table, compared with the base fold by fold.
/// Prints one block per table and a summary of Δ ROC-AUC; returns the per-fold CSV.
fn run_tabular(
    dir: &Path,
    folds_n: usize,
    threads: usize,
    tables: &[&Dataset],
    candidates: Vec<Candidate>,
) -> String {
    let mut csv = String::from("table,candidate,fold,roc_auc,average_precision,seconds\n");
    // summary[c][t] = (mean Δ ROC-AUC, mean Δ AP, min Δ ROC-AUC over folds)
    let mut summary = vec![Vec::new(); candidates.len()];
    for data in tables {
        let folds = make_folds(dir, folds_n, data);
        println!("\n{} ({folds_n} folds)", data.name);
        let mut base: Option<Score> = None;
        for (ci, c) in candidates.iter().enumerate() {
            let s = score(&|seed| base_recipe(seed, &c.changes), &folds, threads, data);
            let (d_auc, d_ap, min_auc, max_auc) = match &base {
                None => (0.0, 0.0, 0.0, 0.0),
                Some(b) => {
                    let d: Vec<f64> = s.auc.iter().zip(&b.auc).map(|(x, y)| x - y).collect();
                    let dp: Vec<f64> = s.ap.iter().zip(&b.ap).map(|(x, y)| x - y).collect();
                    let lo = d.iter().copied().fold(f64::INFINITY, f64::min);
                    let hi = d.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    (mean(&d), mean(&dp), lo, hi)
                }
            };
            println!(
                "| {} | {:.4} | {:+.4} ({:+.4} … {:+.4}) | {:.4} | {:+.4} | {:?} | {:.1} s |",
                c.name,
                mean(&s.auc),
                d_auc,
                min_auc,
                max_auc,
                mean(&s.ap),
                d_ap,
                s.epochs,
                s.seconds
            );
            for (f, (a, p)) in s.auc.iter().zip(&s.ap).enumerate() {
                let _ = writeln!(
                    csv,
                    "{},\"{}\",{f},{a},{p},{}",
                    data.name, c.name, s.seconds
                );
            }
            summary[ci].push((mean(&s.auc), d_auc, d_ap, min_auc));
            if base.is_none() {
                base = Some(s);
            }
        }
        for f in &folds {
            let _ = std::fs::remove_file(&f.fit);
            let _ = std::fs::remove_file(&f.select);
        }
    }
    let names: Vec<&str> = tables.iter().map(|d| d.name).collect();
    println!("\nΔ ROC-AUC against the base, mean over folds (Δ AP in brackets):");
    println!(
        "| candidate | {} | better on every table |",
        names.join(" | ")
    );
    for (c, row) in candidates.iter().zip(&summary) {
        let cells: Vec<String> = row
            .iter()
            .map(|(auc, d, dp, _)| format!("{auc:.4} ({d:+.4}; AP {dp:+.4})"))
            .collect();
        let every = row.iter().all(|(_, d, dp, _)| *d > 0.0 && *dp > 0.0);
        println!(
            "| {} | {} | {} |",
            c.name,
            cells.join(" | "),
            if every { "yes" } else { "no" }
        );
    }
    csv
}

/// `recipe` with `extra` applied and the fold's seed.
fn seeded(mut recipe: Recipe, extra: &RecipeChanges, seed: u64) -> Recipe {
    recipe.apply(extra).expect("candidate");
    recipe
        .apply(&changes(|c| c.seed = Some(seed)))
        .expect("seed");
    recipe
}

/// The base of the single-network stage: the default recipe with one member.
fn base_recipe(seed: u64, extra: &RecipeChanges) -> Recipe {
    let one = seeded(
        Recipe::default_recipe(),
        &changes(|c| c.ensemble = Some(1)),
        seed,
    );
    seeded(one, extra, seed)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let folds_n: usize = arg("--folds").map_or(3, |v| v.parse().expect("--folds N"));
    let threads: usize = arg("--threads").map_or(2, |v| v.parse().expect("--threads N"));
    let stage = arg("--stage").unwrap_or_else(|| "single".into());
    glassbox_core::init_global_pool(Some(threads)).expect("pool");
    let dir = std::env::temp_dir().join(format!("glassbox-recipe-search-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    if stage == "tabular" || stage == "layers" {
        let only = arg("--tables");
        let tables: Vec<&Dataset> = SUITE
            .iter()
            .filter(|d| {
                only.as_ref()
                    .is_none_or(|o| o.split(',').any(|t| t == d.name))
            })
            .collect();
        let mut candidates = if stage == "layers" {
            layer_candidates()
        } else {
            tabular_candidates()
        };
        // `--base NAME`: the candidate the others are compared with (first in the list).
        if let Some(base) = arg("--base") {
            let i = candidates
                .iter()
                .position(|c| c.name == base)
                .expect("--base names a candidate");
            let b = candidates.remove(i);
            candidates.insert(0, b);
        }
        // `--candidates "BatchEnsemble k8,PLR"`: the base and the candidates whose names
        // start with one of these.
        if let Some(only) = arg("--candidates") {
            let keep: Vec<&str> = only.split(',').collect();
            let mut i = 0;
            candidates.retain(|c| {
                i += 1;
                i == 1 || keep.iter().any(|k| c.name.starts_with(k))
            });
        }
        let csv = run_tabular(&dir, folds_n, threads, &tables, candidates);
        if let Some(out) = arg("--out") {
            std::fs::write(&out, &csv).expect("write --out");
        }
        let _ = std::fs::remove_dir_all(&dir);
        return;
    }
    let folds = make_folds(&dir, folds_n, &SHOPPERS);
    let mut csv = String::from("stage,candidate,fold,roc_auc,average_precision\n");
    let mut rows: Vec<(String, Score)> = Vec::new();
    let mut run = |name: String, recipe_for: &dyn Fn(u64) -> Recipe| {
        let s = score(recipe_for, &folds, threads, &SHOPPERS);
        println!(
            "{name:40} ROC-AUC {:.4} ± {:.4}  AP {:.4} ± {:.4}  kept epochs {:?}  {:.1} s",
            mean(&s.auc),
            sd(&s.auc),
            mean(&s.ap),
            sd(&s.ap),
            s.epochs,
            s.seconds
        );
        for (f, (a, p)) in s.auc.iter().zip(&s.ap).enumerate() {
            let _ = writeln!(csv, "{stage},\"{name}\",{f},{a},{p}");
        }
        rows.push((name, s));
    };
    match stage.as_str() {
        "single" => {
            for c in single_candidates() {
                let ch = c.changes;
                run(c.name, &|seed| base_recipe(seed, &ch));
            }
        }
        "ensemble" => {
            for k in [1, 3, 5, 8] {
                let ch = changes(|c| c.ensemble = Some(k));
                run(format!("default, ensemble {k}"), &|seed| {
                    seeded(Recipe::default_recipe(), &ch, seed)
                });
            }
        }
        "variance" => {
            // Seed-to-seed spread on one selection part: a single network against an
            // ensemble of 5, five seeds each.
            for k in [1, 5] {
                let ch = changes(|c| c.ensemble = Some(k));
                let aucs: Vec<f64> = (0..5)
                    .map(|s| {
                        let sc = score(
                            &|_| seeded(Recipe::default_recipe(), &ch, 100 + s),
                            &folds[..1],
                            threads,
                            &SHOPPERS,
                        );
                        sc.auc[0]
                    })
                    .collect();
                println!(
                    "ensemble {k}: fold 0, seeds 100..105: ROC-AUC {:.4} ± {:.4} (sd over seeds), {aucs:.4?}",
                    mean(&aucs),
                    sd(&aucs)
                );
            }
        }
        "final" => {
            let none = RecipeChanges::default();
            run("paper".into(), &|seed| seeded(Recipe::paper(), &none, seed));
            run("default".into(), &|seed| {
                seeded(Recipe::default_recipe(), &none, seed)
            });
        }
        other => {
            panic!("unknown --stage {other} (single, ensemble, variance, final, tabular, layers)")
        }
    }
    if let Some(out) = arg("--out") {
        std::fs::write(&out, &csv).expect("write --out");
    }
    let _ = std::fs::remove_dir_all(&dir);
    let best = rows
        .iter()
        .max_by(|a, b| mean(&a.1.auc).total_cmp(&mean(&b.1.auc)));
    if let Some((name, s)) = best {
        println!("best by mean ROC-AUC: {name} ({:.4})", mean(&s.auc));
    }
}
