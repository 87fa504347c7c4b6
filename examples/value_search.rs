//! Candidate recipes for the value case, judged on validation customers only (the data
//! README's protocol, notes/value.md §4): the headline split's val customers (531) and the
//! pooled val folds of the 5-fold cross-fitting (fold f is test once, fold f + 1 its val;
//! each customer is in exactly one val fold). Test customers and test folds are never scored.
//!
//! ```sh
//! cargo run --release --example value_search -- [SEEDS] [CANDIDATE...]
//! ```
//!
//! Prints one line per candidate: the network's val Gini, headline and pooled over folds,
//! mean ± sd over seeds, the pooled val-fold decile MAPE, and the decile MAPE after a
//! calibration fitted on alternate val customers and scored on the others (`VALUE_CAL` = `level`
//! (C36), `power` (C39 then C36), `power-only` (C39 alone), `power-blend`, or isotonic by
//! default); `VALUE_FOLDS`, `VALUE_CHART` print per-split Gini and decile charts,
//! `VALUE_DUMP=PATH` writes the customer table for `scripts/value_reference_check.py`, and
//! `VALUE_PRED_DUMP=DIR` each model's predictions on its fit and val rows (never test) for
//! `scripts/value_calibration_search.py`, one file per candidate, seed, split and member (the
//! member index is the last column; `raw5 …` candidates train 5 members, seeds s + 1000·m).
//! The `raw…` candidates derive from the default (L2 1e-2 since the eleventh session; `raw5
//! l2 1e-3` is the tenth session's default; `raw ref` the data README's ZILN recipe, `raw1`
//! the default's single network; `shipped` is not blended since the twelfth session).

use std::path::PathBuf;
use std::time::Instant;

use glassbox_app::pipeline::value::{ValueRecipe, fit_value_model};
use glassbox_train::metrics::value::{decile_chart, decile_mape, normalized_gini};
use glassbox_value::{
    ALL_FEATURES, Clock, Columns, FEATURES, Part, cross_fit_folds, feature_index, featurize,
    headline_split, last_period_rule_of, parse_date, parse_horizon,
};
use rayon::prelude::*;

fn mean_sd(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (n - 1.0).max(1.0);
    (m, var.sqrt())
}

/// A candidate: name, recipe per seed, features kept (None: all), networks averaged, and a
/// change applied to the recipe.
type Candidate = (
    &'static str,
    fn(u64) -> ValueRecipe,
    Option<&'static [&'static str]>,
    u64,
    fn(&mut ValueRecipe),
);

/// History columns zeroed for a candidate (a constant column standardises to 0).
const HISTORY_MASKS: &[(&str, &[&str])] = &[(
    "raw hist windows",
    &[
        "gap_sd_days",
        "last_gap_days",
        "recency_over_mean_gap",
        "monthly_trend",
        "active_month_share",
    ],
)];

const MINIMAL: &[&str] = &["recency_days", "tenure_days", "purchase_days", "net_value"];

/// Isotonic (PAV) calibration fitted on one half of the rows (alternate positions) and
/// applied to the other, both ways: an honest look at what the calibration does to MAPE.
fn cross_calibrated(y: &[f64], p: &[f64], rule: &[f64]) -> Vec<f64> {
    let method = std::env::var("VALUE_CAL").unwrap_or_default();
    let mut out = vec![0.0; p.len()];
    for half in 0..2 {
        let fit: Vec<usize> = (0..p.len()).filter(|i| i % 2 == half).collect();
        if method == "power-blend" {
            let (fy, fp): (Vec<f64>, Vec<f64>) = fit.iter().map(|&i| (y[i], p[i])).unzip();
            let fr: Vec<f64> = fit.iter().map(|&i| rule[i]).collect();
            let (a, b) = glassbox_train::decile_power_map(&fy, &fp);
            let (c, d) = glassbox_train::decile_power_map(&fy, &fr);
            let net = |x: f64| glassbox_train::apply_power_map((a, b), x);
            let rl = |x: f64| glassbox_train::apply_power_map((c, d), x);
            let cn: Vec<f64> = fp.iter().map(|&x| net(x)).collect();
            let cr: Vec<f64> = fr.iter().map(|&x| rl(x)).collect();
            let alpha = glassbox_train::blend_weight(&fy, &cn, &cr);
            let mixed: Vec<f64> = cn
                .iter()
                .zip(&cr)
                .map(|(n, r)| alpha * n + (1.0 - alpha) * r)
                .collect();
            let s = fy.iter().sum::<f64>() / mixed.iter().sum::<f64>();
            for i in (0..p.len()).filter(|i| i % 2 != half) {
                out[i] = s * (alpha * net(p[i]) + (1.0 - alpha) * rl(rule[i]));
            }
            continue;
        }
        if method == "level" {
            let (fy, fp): (Vec<f64>, Vec<f64>) = fit.iter().map(|&i| (y[i], p[i])).unzip();
            let s = glassbox_train::level_scale(&fy, &fp);
            for i in (0..p.len()).filter(|i| i % 2 != half) {
                out[i] = s * p[i];
            }
            continue;
        }
        if method == "power" || method == "power-only" {
            let (fy, fp): (Vec<f64>, Vec<f64>) = fit.iter().map(|&i| (y[i], p[i])).unzip();
            let (a, b) = glassbox_train::decile_power_map(&fy, &fp);
            let scaled: Vec<f64> = fp
                .iter()
                .map(|&x| glassbox_train::apply_power_map((a, b), x))
                .collect();
            // `power-only`: the map's own level, no level factor after it (C36 dropped).
            let s = if method == "power" {
                fy.iter().sum::<f64>() / scaled.iter().sum::<f64>()
            } else {
                1.0
            };
            for i in (0..p.len()).filter(|i| i % 2 != half) {
                out[i] = s * glassbox_train::apply_power_map((a, b), p[i]);
            }
            continue;
        }
        let map = pav(
            &fit.iter().map(|&i| p[i]).collect::<Vec<_>>(),
            &fit.iter().map(|&i| y[i]).collect::<Vec<_>>(),
        );
        for i in (0..p.len()).filter(|i| i % 2 != half) {
            out[i] = apply(&map, p[i]);
        }
    }
    out
}

/// Block points (mean prediction, mean actual), increasing in both.
fn pav(p: &[f64], y: &[f64]) -> Vec<(f64, f64)> {
    let mut order: Vec<usize> = (0..p.len()).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let mut blocks: Vec<(f64, f64, f64)> = Vec::new(); // (sum p, sum y, n)
    for i in order {
        blocks.push((p[i], y[i], 1.0));
        while blocks.len() > 1 {
            let (b, a) = (blocks[blocks.len() - 1], blocks[blocks.len() - 2]);
            if a.1 / a.2 >= b.1 / b.2 {
                blocks.pop();
                let last = blocks.len() - 1;
                blocks[last] = (a.0 + b.0, a.1 + b.1, a.2 + b.2);
            } else {
                break;
            }
        }
    }
    blocks.iter().map(|b| (b.0 / b.2, b.1 / b.2)).collect()
}

fn apply(map: &[(f64, f64)], x: f64) -> f64 {
    let (first, last) = (map[0], map[map.len() - 1]);
    if x <= first.0 {
        return if first.0 > 0.0 {
            x * first.1 / first.0
        } else {
            first.1
        };
    }
    if x >= last.0 {
        return x * last.1 / last.0;
    }
    let k = map.partition_point(|m| m.0 <= x);
    let (a, b) = (map[k - 1], map[k]);
    a.1 + (b.1 - a.1) * (x - a.0) / (b.0 - a.0)
}

fn candidates() -> Vec<Candidate> {
    let c = |name, make: fn(u64) -> ValueRecipe| (name, make, None, 1);
    let mut v = vec![
        c("shipped", ValueRecipe::ziln),
        c("net alone", |s| ValueRecipe {
            blend_rule: false,
            ..ValueRecipe::ziln(s)
        }),
        c("reference", |s| ValueRecipe {
            lr: 3e-4,
            batch_size: 64,
            patience: 40,
            max_epochs: 500,
            blend_rule: false,
            ..ValueRecipe::ziln(s)
        }),
        c("lr1e-3 b64 p20", |s| ValueRecipe {
            lr: 1e-3,
            batch_size: 64,
            patience: 20,
            max_epochs: 300,
            blend_rule: false,
            ..ValueRecipe::ziln(s)
        }),
    ];
    let net_alone: fn(u64) -> ValueRecipe = |s| ValueRecipe {
        blend_rule: false,
        ..ValueRecipe::ziln(s)
    };
    v.push(("minimal", net_alone, Some(MINIMAL), 1));
    const NO_SERVICE: &[&str] = &[
        "recency_days",
        "tenure_days",
        "invoices",
        "purchase_days",
        "cancelled_invoices",
        "gross_value",
        "returned_value",
        "net_value",
        "return_rate",
        "mean_invoice_value",
        "max_invoice_value",
        "first_invoice_value",
        "mean_lines_per_invoice",
        "mean_quantity_per_invoice",
        "mean_days_between_purchase_days",
        "one_day_customer",
        "net_value_last_30d",
        "invoices_last_90d",
        "net_value_period_1",
        "net_value_period_2",
        "net_value_period_3",
        "net_value_period_4",
    ];
    v.push((
        "blend uncalibrated",
        |s| ValueRecipe {
            calibrate_level: false,
            calibrate_deciles: false,
            ..ValueRecipe::ziln(s)
        },
        None,
        1,
    ));
    v.push(("no service", net_alone, Some(NO_SERVICE), 1));
    v.push((
        "no service blended",
        |s| ValueRecipe::ziln(s),
        Some(NO_SERVICE),
        1,
    ));
    v.push((
        "minimal blended",
        |s| ValueRecipe::ziln(s),
        Some(MINIMAL),
        1,
    ));
    v.push((
        "raw",
        |s| ValueRecipe {
            calibrate_level: false,
            calibrate_deciles: false,
            blend_rule: false,
            ..ValueRecipe::ziln(s)
        },
        None,
        1,
    ));
    v.push(("mse", ValueRecipe::mse_log1p, None, 1));
    v.push(("ensemble3", net_alone, None, 3));
    v.push(("ensemble3 blended", |s| ValueRecipe::ziln(s), None, 3));
    // Raw networks, 5 members each (seed + 1000·m): the dump keeps every member, so
    // scripts/value_calibration_search.py can average the first k (the eleventh session).
    fn raw(s: u64) -> ValueRecipe {
        ValueRecipe {
            calibrate_level: false,
            calibrate_deciles: false,
            blend_rule: false,
            ..ValueRecipe::ziln(s)
        }
    }
    fn reference_recipe(r: &mut ValueRecipe) {
        (r.lr, r.l2, r.batch_size, r.patience, r.max_epochs) = (3e-4, 1e-3, 64, 40, 500);
    }
    // (name, change to the raw default, members): one field changed per candidate.
    type Variant = (&'static str, fn(&mut ValueRecipe), u64);
    let variants: [Variant; 31] = [
        ("raw5", |_| {}, 5),
        ("raw5 w32", |r| r.hidden = vec![32, 32], 5),
        ("raw5 w128", |r| r.hidden = vec![128, 128], 5),
        ("raw5 l2 1e-3", |r| r.l2 = 1e-3, 5),
        ("raw3 l2 3e-3", |r| r.l2 = 3e-3, 3),
        ("raw3 l2 3e-2", |r| r.l2 = 3e-2, 3),
        ("raw3 l2 1e-1", |r| r.l2 = 1e-1, 3),
        ("raw5 l2 1e-4", |r| r.l2 = 1e-4, 5),
        ("raw5 p20", |r| r.patience = 20, 5),
        ("raw5 drop0.1", |r| r.dropout = 0.1, 5),
        ("raw5 drop0.5", |r| r.dropout = 0.5, 5),
        // The twelfth session: the data README's ZILN recipe exactly (lr 3e-4, L2 1e-3,
        // batch 64, patience 40, ≤ 500 epochs), with today's L2, and cheaper members.
        ("raw ref", reference_recipe, 1),
        (
            "raw ref l2 1e-2",
            |r| {
                reference_recipe(r);
                r.l2 = 1e-2;
            },
            1,
        ),
        (
            "raw b64 lr1e-3 p20",
            |r| {
                r.batch_size = 64;
                r.lr = 1e-3;
                r.patience = 20;
                r.max_epochs = 300;
            },
            1,
        ),
        ("raw1", |_| {}, 1),
        ("raw5 p4", |r| r.patience = 4, 5),
        ("raw5 e30", |r| r.max_epochs = 30, 5),
        // The thirteenth session: the tabular input layers (notes/tabular.md N10) and depth.
        ("raw scale", |r| r.input_layers = vec!["scale".into()], 1),
        (
            "raw plr",
            |r| r.input_layers = vec!["plr(k=8,h=8,sigma=0.1)".into()],
            1,
        ),
        (
            "raw scale plr",
            |r| r.input_layers = vec!["scale".into(), "plr(k=8,h=8,sigma=0.1)".into()],
            1,
        ),
        (
            "raw plr16",
            |r| r.input_layers = vec!["plr(k=16,h=16,sigma=0.1)".into()],
            1,
        ),
        ("raw 64x3", |r| r.hidden = vec![64, 64, 64], 1),
        ("raw 128x3", |r| r.hidden = vec![128, 128, 128], 1),
        // The fourteenth session: the pairwise ranking term (C41–C43), λ fixed before running.
        ("raw rank 0.3", |r| r.ranking = Some(0.3), 1),
        ("raw rank 1", |r| r.ranking = Some(1.0), 1),
        ("raw rank 3", |r| r.ranking = Some(3.0), 1),
        // The fifteenth session: the transaction-history features (C44–C46), all of them,
        // and without the inter-purchase statistics and trend (the windows C44 alone; the
        // other history columns zeroed, see `HISTORY_MASKS`).
        ("raw hist", |r| r.history_features = true, 1),
        ("raw hist windows", |r| r.history_features = true, 1),
        // … and the listwise term (V26, V27), λ fixed before running.
        ("raw list 0.3", |r| r.listwise = Some(0.3), 1),
        ("raw list 1", |r| r.listwise = Some(1.0), 1),
        ("raw list 3", |r| r.listwise = Some(3.0), 1),
    ];
    let unchanged: fn(&mut ValueRecipe) = |_| {};
    let mut v: Vec<Candidate> = v
        .into_iter()
        .map(|(n, f, k, m)| (n, f, k, m, unchanged))
        .collect();
    v.extend(variants.map(|(name, change, members)| {
        (name, raw as fn(u64) -> ValueRecipe, None, members, change)
    }));
    v
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let seeds: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(2);
    let wanted: Vec<String> = args.collect();
    let log = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("datasets/online_retail.csv.gz");
    let columns = Columns::online_retail();
    let clock = Clock {
        cutoff_ms: parse_date("2011-09-01", "cutoff")?,
        horizon_ms: parse_horizon("91d", "horizon")?,
        start_ms: Some(parse_date("2010-12-01", "start")?),
    };
    let table = featurize(&log, &columns, &clock, true)?;
    let parts = headline_split(&table.ids, &table.numeric_ids, &table.target);
    let folds = cross_fit_folds(&table.ids, &table.numeric_ids, &table.target, 5);
    let rows = |p: Part| -> Vec<usize> { (0..parts.len()).filter(|&i| parts[i] == p).collect() };
    let (fit, val) = (rows(Part::Fit), rows(Part::Val));
    // Jobs: (fold or None for headline, fit, val).
    let mut splits: Vec<(Option<usize>, Vec<usize>, Vec<usize>)> = vec![(None, fit, val)];
    for f in 0..5 {
        let v = (f + 1) % 5;
        let fit = (0..folds.len())
            .filter(|&i| folds[i] != f && folds[i] != v)
            .collect();
        let val = (0..folds.len()).filter(|&i| folds[i] == v).collect();
        splits.push((Some(f), fit, val));
    }
    if let Ok(path) = std::env::var("VALUE_DUMP") {
        // The table for a PyTorch cross-check: raw features, country, target, part, fold.
        let mut text = String::from("id");
        for (f, k) in ALL_FEATURES.iter() {
            text += &format!(",{f}:{k:?}");
        }
        text += ",country,target,part,fold\n";
        for i in 0..table.ids.len() {
            text += &table.ids[i];
            for x in &table.features[i] {
                text += &format!(",{x}");
            }
            text += &format!(
                ",\"{}\",{},{:?},{}\n",
                table.categories[i][0], table.target[i], parts[i], folds[i]
            );
        }
        std::fs::write(path, text)?;
    }
    let rule_all = last_period_rule_of(
        &table,
        clock.horizon_ms,
        &(0..table.ids.len()).collect::<Vec<_>>(),
    );
    {
        let mut pooled = vec![0.0; table.ids.len()];
        for (_, _, val) in &splits[1..] {
            for &i in val {
                pooled[i] = rule_all[i];
            }
        }
        let y: Vec<f64> = splits[0].2.iter().map(|&i| table.target[i]).collect();
        let r: Vec<f64> = splits[0].2.iter().map(|&i| rule_all[i]).collect();
        println!(
            "rule: headline val Gini {:.4} | pooled val-fold Gini {:.4} MAPE {:.3}",
            normalized_gini(&y, &r)?,
            normalized_gini(&table.target, &pooled)?,
            decile_mape(&decile_chart(&table.target, &pooled)?)
        );
    }
    for (name, make, keep, members, change) in candidates() {
        if !wanted.is_empty() && !wanted.iter().any(|w| w == name) {
            continue;
        }
        let mut masked = table.clone();
        for (candidate, zeroed) in HISTORY_MASKS {
            if *candidate == name {
                for row in &mut masked.features {
                    for f in *zeroed {
                        row[feature_index(f)] = 0.0;
                    }
                }
            }
        }
        if let Some(keep) = keep {
            for (j, (f, _)) in FEATURES.iter().enumerate() {
                if !keep.contains(f) {
                    for row in &mut masked.features {
                        row[j] = 0.0;
                    }
                }
            }
        }
        let started = Instant::now();
        let jobs: Vec<(u64, usize, u64)> = (0..seeds)
            .flat_map(|s| (0..splits.len()).flat_map(move |j| (0..members).map(move |m| (s, j, m))))
            .collect();
        let results: Vec<(u64, usize, Vec<f64>, usize)> = jobs
            .par_iter()
            .map(|&(s, j, m)| {
                let (_, fit, val) = &splits[j];
                let model = fit_value_model(
                    &masked,
                    &columns,
                    clock.horizon_ms,
                    fit,
                    val,
                    &{
                        let mut recipe = make(s + 1000 * m);
                        change(&mut recipe);
                        recipe
                    },
                    Some(1),
                )
                .expect("training");
                let p: Vec<f64> = model
                    .predict(&masked, val)
                    .iter()
                    .map(|p| p.expected)
                    .collect();
                if let Ok(dir) = std::env::var("VALUE_PRED_DUMP") {
                    // Fit (in-sample) and val rows only: test rows are never scored here.
                    let q = model.predict(&masked, fit);
                    let mut text = String::new();
                    for (part, rows, preds) in [
                        ("fit", fit, q.iter().map(|p| p.expected).collect::<Vec<_>>()),
                        ("val", val, p.clone()),
                    ] {
                        for (&i, x) in rows.iter().zip(&preds) {
                            text += &format!(
                                "{s},{j},{part},{i},{},{x},{},{m}\n",
                                masked.target[i], rule_all[i]
                            );
                        }
                    }
                    std::fs::write(format!("{dir}/{name}-{s}-{j}-{m}.csv"), text).expect("dump");
                }
                (s, j, p, model.trainer.epochs_done())
            })
            .collect();
        let (mut head_g, mut pool_g, mut pool_m, mut epochs) = (vec![], vec![], vec![], vec![]);
        let (mut head_m, mut pool_cal) = (vec![], vec![]);
        for s in 0..seeds {
            let mut pooled = vec![0.0; table.ids.len()];
            let mut pooled_cal = vec![0.0; table.ids.len()];
            for (j, (_, _, val)) in splits.iter().enumerate() {
                let mut p = vec![0.0; val.len()];
                for (rs, rj, q, e) in &results {
                    if *rs == s && *rj == j {
                        epochs.push(*e as f64);
                        for (a, b) in p.iter_mut().zip(q) {
                            *a += b / members as f64;
                        }
                    }
                }
                let y: Vec<f64> = val.iter().map(|&i| table.target[i]).collect();
                let r: Vec<f64> = val.iter().map(|&i| rule_all[i]).collect();
                let cal = cross_calibrated(&y, &p, &r);
                if s == 0 && std::env::var("VALUE_FOLDS").is_ok() {
                    println!(
                        "  {name} seed 0 split {j}: val Gini {:.4}",
                        normalized_gini(&y, &p)?
                    );
                }
                if j == 0 {
                    head_g.push(normalized_gini(&y, &p)?);
                    head_m.push(decile_mape(&decile_chart(&y, &cal)?));
                } else {
                    for (k, &i) in val.iter().enumerate() {
                        pooled[i] = p[k];
                        pooled_cal[i] = cal[k];
                    }
                }
            }
            pool_g.push(normalized_gini(&table.target, &pooled)?);
            pool_m.push(decile_mape(&decile_chart(&table.target, &pooled)?));
            pool_cal.push(decile_mape(&decile_chart(&table.target, &pooled_cal)?));
            if s == 0 && std::env::var("VALUE_CHART").is_ok() {
                for (what, v) in [("raw", &pooled), ("calibrated", &pooled_cal)] {
                    let chart = decile_chart(&table.target, v)?;
                    println!(
                        "  {name} {what}: {}",
                        chart
                            .iter()
                            .map(|d| format!("{:.0}/{:.0}", d.predicted, d.actual))
                            .collect::<Vec<_>>()
                            .join(" ")
                    );
                }
            }
        }
        let ((hg, hs), (pg, ps), (pm, _), (e, _)) = (
            mean_sd(&head_g),
            mean_sd(&pool_g),
            mean_sd(&pool_m),
            mean_sd(&epochs),
        );
        println!(
            "{name:<20} headline val Gini {hg:.4} ± {hs:.4} | pooled val-fold Gini {pg:.4} ± {ps:.4} \
             MAPE {pm:.3} | half-calibrated MAPE headline {:.3} pooled {:.3} | epochs {e:.0} | {:.1} s | per seed {:?} {:?}",
            mean_sd(&head_m).0,
            mean_sd(&pool_cal).0,
            started.elapsed().as_secs_f64(),
            head_g.iter().map(|g| format!("{g:.3}")).collect::<Vec<_>>(),
            pool_g.iter().map(|g| format!("{g:.3}")).collect::<Vec<_>>(),
        );
    }
    Ok(())
}
