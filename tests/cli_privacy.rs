//! `glassbox privacy` and `glassbox train --dp-…` (notes/privacy.md §12–§13): the accountant
//! on the command line against Opacus's figures, a private training run end to end with its
//! records, determinism at 1 and 2 threads, and every refusal — exit 2, a clear message, no
//! files left behind.

#[path = "cli/support.rs"]
mod support;

use support::{Scratch, files_under, run, simple_csv};

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).expect("valid JSON")
}

#[test]
fn privacy_prints_opacus_epsilon_and_the_inverse() {
    // The shared README's ε = 8 MLP run: σ = 0.72174072, q = 1/39, T = 390 → ε = 7.995159.
    let q = (1.0f64 / 39.0).to_string();
    let out = run(&[
        "privacy",
        "--noise",
        "0.72174072",
        "--rate",
        &q,
        "--steps",
        "390",
        "--delta",
        "1e-5",
    ])
    .ok();
    assert!(out.stdout.contains("ε = 7.995159"), "{}", out.stdout);
    // Its ε = 3 run: the σ Opacus calibrates for q = 1/20, T = 600 is 2.0263671875.
    let out = run(&[
        "privacy",
        "--epsilon",
        "3",
        "--rate",
        "0.05",
        "--steps",
        "600",
        "--delta",
        "1e-5",
        "--json",
    ])
    .ok();
    let v = json(&out.stdout);
    assert_eq!(v["noise_multiplier"], 2.0263671875);
    let spent = v["epsilon"].as_f64().expect("a number");
    assert!(spent <= 3.0 && spent > 2.99, "{spent}");
}

#[test]
fn privacy_refuses_bad_budgets_with_exit_2() {
    let base = ["privacy", "--rate", "0.05", "--steps", "600"];
    let with = |extra: &[&str]| {
        let mut a = base.to_vec();
        a.extend_from_slice(extra);
        run(&a)
    };
    with(&["--epsilon", "0", "--delta", "1e-5"])
        .fails_with(2)
        .stderr_has(&["ε must be a finite number > 0, got 0"]);
    with(&["--epsilon", "-1", "--delta", "1e-5"]).fails_with(2);
    with(&["--noise", "1", "--delta", "1.5"])
        .fails_with(2)
        .stderr_has(&["δ must be in (0, 1)"]);
    with(&["--noise", "1", "--delta", "1e-3", "--rows", "5000"])
        .fails_with(2)
        .stderr_has(&["not below 1/n", "5000 training rows"]);
    with(&["--delta", "1e-5"]).fails_with(2);
    with(&["--noise", "1", "--epsilon", "3", "--delta", "1e-5"]).fails_with(2);
}

/// The tensor data of a run's model.safetensors: everything after the 8-byte header length
/// and the JSON header.
fn tensor_bytes(dir: &str) -> Vec<u8> {
    let bytes = std::fs::read(format!("{dir}/model.safetensors")).expect("model");
    let mut len = [0u8; 8];
    len.copy_from_slice(&bytes[..8]);
    bytes[8 + u64::from_le_bytes(len) as usize..].to_vec()
}

/// The recipe of every `train` here: 3 epochs of batch 32, one small network.
const RECIPE: &str = "--target bought --epochs 3 --hidden 8 --ensemble 1 --batch-size 32 \
                      --early-stopping 0 --quiet";

/// The `privacy` record of `DIR/training.json`.
fn record(dir: &str) -> serde_json::Value {
    json(&std::fs::read_to_string(format!("{dir}/training.json")).expect("json"))["privacy"].clone()
}

/// `train DATA --out OUT` with [`RECIPE`] and `extra`.
fn train_private(data: &str, out: &str, extra: &[&str]) -> support::Run {
    let mut args = vec!["train", data, "--out", out];
    args.extend(RECIPE.split_whitespace());
    args.extend_from_slice(extra);
    run(&args)
}

/// Trains with `extra` into `outs[0]` at 1 thread and `outs[1]` at 2; the weights must be the
/// same bytes.
fn train_at_1_and_2_threads(data: &str, outs: [&str; 2], extra: &[&str]) {
    for (out, threads) in outs.iter().zip(["1", "2"]) {
        train_private(data, out, &[extra, &["--threads", threads]].concat()).ok();
    }
    assert!(
        tensor_bytes(outs[0]) == tensor_bytes(outs[1]),
        "1 and 2 threads differ"
    );
}

/// `--dp-average β` keeps the average of the iterates (notes/privacy.md P28): recorded in
/// `training.json` and shown by `inspect`; the same seed without it trains other weights
/// (the last iterate), and the averaged weights are the same at 1 and 2 threads.
#[test]
fn averaged_iterates_are_recorded_and_change_the_model() {
    let s = Scratch::new("private_training_average");
    let data = s.file("train.csv", simple_csv(300, 4));
    let dp = ["--dp-epsilon", "8", "--dp-delta", "1e-4"];
    let (last, avg1, avg2) = (s.path("last"), s.path("avg1"), s.path("avg2"));
    train_private(&data, &last, &dp).ok();
    let averaged = [&dp[..], &["--dp-average", "0.9"]].concat();
    train_at_1_and_2_threads(&data, [&avg1, &avg2], &averaged);
    assert!(
        tensor_bytes(&avg1) != tensor_bytes(&last),
        "the average is the last iterate"
    );
    let training = json(&std::fs::read_to_string(format!("{avg1}/training.json")).expect("json"));
    assert_eq!(training["privacy"]["average_decay"], 0.9);
    let plain = json(&std::fs::read_to_string(format!("{last}/training.json")).expect("json"));
    assert!(plain["privacy"].get("average_decay").is_none());
    let inspect = run(&["inspect", &format!("{avg1}/model.safetensors")]).ok();
    assert!(
        inspect
            .stdout
            .contains("the average of the iterates, decay β = 0.9"),
        "{}",
        inspect.stdout
    );
}

/// `--dp-average-warmup` (P29) and `--dp-clip-automatic γ` (P30) are recorded in
/// `training.json` and shown by `inspect`, each trains other weights than the run without it,
/// and the warm-up without `--dp-average` and a γ ≤ 0 are refused with exit 2.
#[test]
fn warmup_and_automatic_clipping_are_recorded_and_change_the_model() {
    let s = Scratch::new("private_training_warmup_auto");
    let data = s.file("train.csv", simple_csv(300, 4));
    let dp = [
        "--dp-epsilon",
        "8",
        "--dp-delta",
        "1e-4",
        "--dp-average",
        "0.9",
    ];
    let (fixed, warm, auto) = (s.path("fixed"), s.path("warm"), s.path("auto"));
    train_private(&data, &fixed, &dp).ok();
    train_private(&data, &warm, &[&dp[..], &["--dp-average-warmup"]].concat()).ok();
    let automatic = [&dp[..], &["--dp-clip-automatic", "0.01"]].concat();
    train_private(&data, &auto, &automatic).ok();
    assert!(
        tensor_bytes(&warm) != tensor_bytes(&fixed),
        "the warm-up changed nothing"
    );
    assert!(
        tensor_bytes(&auto) != tensor_bytes(&fixed),
        "automatic clipping changed nothing"
    );
    assert_eq!(record(&warm)["average_warmup"], true);
    assert_eq!(record(&auto)["automatic_clip"], 0.01);
    assert!(record(&fixed).get("average_warmup").is_none());
    assert!(record(&fixed).get("automatic_clip").is_none());
    let inspect = run(&["inspect", &format!("{auto}/model.safetensors")]).ok();
    assert!(
        inspect
            .stdout
            .contains("automatic, each example scaled by C/(‖g‖ + γ), γ = 0.01")
    );
    let inspect = run(&["inspect", &format!("{warm}/model.safetensors")]).ok();
    assert!(
        inspect
            .stdout
            .contains("warmed up as min(β, (1 + t)/(10 + t))")
    );
    let bad = s.path("bad");
    train_private(&data, &bad, &["--dp-epsilon", "8", "--dp-average-warmup"]).fails_with(2);
    train_private(
        &data,
        &bad,
        &[&dp[..], &["--dp-clip-automatic", "0"]].concat(),
    )
    .fails_with(2);
}

/// Trains `base` and `base` + `extra` on `data`; asserts that `extra` changes the weights and
/// is recorded as `key` = `value` in `training.json` (absent without it). Returns the second
/// run's folder.
fn changes_the_model_and_is_recorded(
    s: &Scratch,
    data: &str,
    (base, extra): (&[&str], &[&str]),
    (key, value): (&str, serde_json::Value),
) -> String {
    let (without, with) = (
        s.path(&format!("{key}-without")),
        s.path(&format!("{key}-with")),
    );
    train_private(data, &without, base).ok();
    train_private(data, &with, &[base, extra].concat()).ok();
    assert!(
        tensor_bytes(&with) != tensor_bytes(&without),
        "{extra:?} changed nothing"
    );
    assert_eq!(record(&with)[key], value);
    assert!(record(&without).get(key).is_none());
    with
}

/// `--dp-clip-per-layer equal|params` (P32–P33) is recorded in `training.json` and shown by
/// `inspect`, trains other weights than the flat clip, and is refused (exit 2) beside
/// automatic clipping, with an unknown split, or with the wide term.
#[test]
fn per_layer_clipping_is_recorded_and_changes_the_model() {
    let s = Scratch::new("private_training_per_layer");
    let data = s.file("train.csv", simple_csv(300, 4));
    // A small C, so that some layers' parts exceed their share C_l.
    let dp = ["--dp-epsilon", "8", "--dp-delta", "1e-4", "--dp-clip=0.5"];
    let split = ["--dp-clip-per-layer", "params"];
    let params = changes_the_model_and_is_recorded(
        &s,
        &data,
        (&dp, &split),
        ("clip_per_layer", "params".into()),
    );
    let shown = run(&["inspect", &format!("{params}/model.safetensors")])
        .ok()
        .stdout;
    assert!(shown.contains("part to C_l with Σ C_l² = C²"), "{shown}");
    let bad = s.path("bad");
    let both = [&dp[..], &split, &["--dp-clip-automatic", "0.01"]].concat();
    train_private(&data, &bad, &both).fails_with(2);
    let unknown = [&dp[..], &["--dp-clip-per-layer", "half"]].concat();
    train_private(&data, &bad, &unknown).fails_with(2);
    // P33 budgets the Dense layers only: the wide term's W would escape the bound.
    let wide = [&dp[..], &split, &["--wide"]].concat();
    let refused = train_private(&data, &bad, &wide).fails_with(2);
    assert!(refused.stderr.contains("--wide"), "{}", refused.stderr);
    assert!(
        !std::path::Path::new(&bad)
            .join("model.safetensors")
            .exists()
    );
}

/// `--dp-adam-bias-correction γ` (DP-AdamBC, P31) is recorded in `training.json` and shown by
/// `inspect`, trains other weights than plain DP-Adam, and is refused (exit 2) with SGD and
/// for γ ≤ 0.
#[test]
fn adam_bias_correction_is_recorded_and_changes_the_model() {
    let s = Scratch::new("private_training_adam_bc");
    let data = s.file("train.csv", simple_csv(300, 4));
    let dp = ["--dp-epsilon", "8", "--dp-delta", "1e-4"];
    let adam = [&dp[..], &["--optimizer", "adam", "--lr", "0.001"]].concat();
    let bc = changes_the_model_and_is_recorded(
        &s,
        &data,
        (&adam, &["--dp-adam-bias-correction", "1e-6"]),
        ("adam_bias_correction", 1e-6.into()),
    );
    let inspect = run(&["inspect", &format!("{bc}/model.safetensors")]).ok();
    assert!(inspect.stdout.contains("DP-AdamBC"), "{}", inspect.stdout);
    let bad = s.path("bad");
    let sgd = [
        &dp[..],
        &["--optimizer", "sgd", "--dp-adam-bias-correction", "1e-6"],
    ]
    .concat();
    train_private(&data, &bad, &sgd).fails_with(2);
    let zero = [&adam[..], &["--dp-adam-bias-correction", "0"]].concat();
    train_private(&data, &bad, &zero).fails_with(2);
}

#[test]
fn private_training_records_its_guarantee_and_is_thread_count_independent() {
    let s = Scratch::new("private_training_records");
    let data = s.file("train.csv", simple_csv(300, 4));
    let (a, b) = (s.path("a"), s.path("b"));
    let dp = [
        "--dp-epsilon",
        "8",
        "--dp-delta",
        "1e-4",
        "--dp-clip",
        "0.5",
    ];
    let out = train_private(&data, &a, &[&dp[..], &["--threads", "1"]].concat()).ok();
    assert!(
        out.stdout.contains("differential privacy (DP-SGD)"),
        "{}",
        out.stdout
    );
    train_private(&data, &b, &[&dp[..], &["--threads", "2"]].concat()).ok();
    // The manifests differ only in the recorded thread count; the weights must not at all.
    let (weights_a, weights_b) = (tensor_bytes(&a), tensor_bytes(&b));
    assert!(
        weights_a == weights_b,
        "1 and 2 threads trained different weights"
    );
    // Nor at 7 threads with the scalar reference kernel (the default above is the fastest
    // instruction set this CPU runs).
    let c7 = s.path("c7");
    train_private(
        &data,
        &c7,
        &[&dp[..], &["--threads", "7", "--isa", "scalar"]].concat(),
    )
    .ok();
    assert!(
        tensor_bytes(&c7) == weights_a,
        "7 threads on the scalar kernel trained different weights"
    );
    let e = s.path("e");
    train_private(
        &data,
        &e,
        &[&dp[..], &["--threads", "1", "--seed", "9"]].concat(),
    )
    .ok();
    assert!(tensor_bytes(&e) != weights_a, "the seed must matter");

    let training = json(&std::fs::read_to_string(format!("{a}/training.json")).expect("json"));
    let p = &training["privacy"];
    assert_eq!(p["target_epsilon"], 8.0);
    assert_eq!(p["delta"], 1e-4);
    assert_eq!(p["clip_norm"], 0.5);
    assert_eq!(p["rows"], 240); // 300 rows minus the 20 % validation part
    assert_eq!(p["steps"], 3 * 8); // ⌈240/32⌉ = 8 steps per epoch
    assert_eq!(p["sample_rate"], 0.125);
    let eps = p["epsilon"].as_f64().expect("ε");
    assert!(eps <= 8.0 && eps > 7.98, "{eps}");
    assert!(p["accountant"].as_str().is_some_and(|a| a.contains("RDP")));

    let inspect = run(&["inspect", &format!("{a}/model.safetensors")]).ok();
    assert!(
        inspect.stdout.contains("differential privacy (DP-SGD)"),
        "{}",
        inspect.stdout
    );
    assert!(
        inspect.stdout.contains("clipping norm C         0.5"),
        "{}",
        inspect.stdout
    );
    let inspect = run(&["inspect", &format!("{a}/model.safetensors"), "--json"]).ok();
    let v = json(&inspect.stdout);
    assert_eq!(
        v["info"]["privacy"]["noise_multiplier"],
        p["noise_multiplier"]
    );
    assert_eq!(
        v["info"]["members"][0]["config"]["privacy"]["clip_norm"],
        0.5
    );

    // The noise multiplier instead of ε: the record gives the ε it spends.
    let c = s.path("c");
    train_private(&data, &c, &["--dp-noise", "1.5", "--dp-delta", "1e-4"]).ok();
    let training = json(&std::fs::read_to_string(format!("{c}/training.json")).expect("json"));
    assert_eq!(training["privacy"]["noise_multiplier"], 1.5);
    assert!(training["privacy"]["target_epsilon"].is_null());

    // A non-private run records no privacy at all.
    let d = s.path("d");
    train_private(&data, &d, &[]).ok();
    let training = json(&std::fs::read_to_string(format!("{d}/training.json")).expect("json"));
    assert!(training["privacy"].is_null());
}

#[test]
fn private_training_refuses_what_would_break_the_guarantee() {
    let s = Scratch::new("private_training_refuses");
    let data = s.file("train.csv", simple_csv(300, 5));
    let refuse = |name: &str, extra: &[&str], says: &[&str]| {
        let out = s.path(name);
        train_private(&data, &out, extra)
            .fails_with(2)
            .stderr_has(says);
        let files = files_under(std::path::Path::new(&out));
        assert!(files.is_empty(), "{name}: files left behind: {files:?}");
    };
    refuse(
        "eps0",
        &["--dp-epsilon", "0"],
        &["ε must be a finite number > 0"],
    );
    refuse(
        "eps-neg",
        &["--dp-epsilon=-2"],
        &["ε must be a finite number > 0"],
    );
    refuse(
        "delta",
        &["--dp-epsilon", "3", "--dp-delta", "0.01"],
        &["not below 1/n", "240 training rows"],
    );
    refuse(
        "clip",
        &["--dp-epsilon", "3", "--dp-clip", "0"],
        &["clipping norm C"],
    );
    refuse(
        "average",
        &["--dp-epsilon", "3", "--dp-average", "1"],
        &["averaging decay β must be in [0, 1)"],
    );
    refuse(
        "dropout",
        &["--dp-epsilon", "3", "--dropout", "0.2"],
        &["refuses dropout"],
    );
    refuse(
        "weights",
        &["--dp-epsilon", "3", "--class-weight", "balanced"],
        &["balanced class weights"],
    );
    refuse("sigma0", &["--dp-noise", "0"], &["certifies no privacy"]);
    refuse(
        "shuffle",
        &["--dp-epsilon", "3", "--dp-sampling", "shuffle"],
        &[
            "the accountant assumes Poisson sampling",
            "fixed-size batches from a shuffle (--dp-sampling shuffle",
        ],
    );
    refuse(
        "both",
        &["--dp-epsilon", "3", "--dp-noise", "1"],
        &["cannot be used with"],
    );
}

/// `--ensemble-k 3` with `--dp-epsilon` trains a private BatchEnsemble network (P45): the
/// guarantee is recorded, the weights are the same at 1 and 2 threads, `predict` scores with
/// the bundle, and the one-member run trains other weights.
#[test]
fn a_batch_ensemble_network_trains_privately() {
    let s = Scratch::new("private_training_ensemble");
    let data = s.file("train.csv", simple_csv(300, 4));
    let (one, two, plain) = (s.path("one"), s.path("two"), s.path("plain"));
    let dp = [
        "--dp-epsilon",
        "8",
        "--dp-delta",
        "1e-4",
        "--dp-clip",
        "0.5",
    ];
    let be = [&dp[..], &["--ensemble-k", "3", "--dropout", "0"]].concat();
    train_at_1_and_2_threads(&data, [&one, &two], &be);
    train_private(&data, &plain, &[&dp[..], &["--dropout", "0"]].concat()).ok();
    assert!(
        tensor_bytes(&one) != tensor_bytes(&plain),
        "k = 3 trained the k = 1 weights"
    );
    let privacy = record(&one);
    assert_eq!(privacy["clip_norm"], 0.5);
    assert!(privacy["epsilon"].as_f64().expect("ε") <= 8.0);
    let scored = s.path("scored.csv");
    run(&[
        "predict",
        &format!("{one}/model.safetensors"),
        &data,
        "--out",
        &scored,
    ])
    .ok();
    let text = std::fs::read_to_string(&scored).expect("scores");
    assert_eq!(text.lines().count(), 301, "a header and one row a record");
}
