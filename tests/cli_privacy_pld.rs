//! `--dp-accountant pld` and `glassbox privacy --accountant pld` (notes/privacy_pld.md §6):
//! the PLD accountant on the command line is `pld_epsilon` itself, its σ for a target ε is
//! below the RDP σ and spends at most ε under PLD, a private run trained with it records the
//! accountant (bundle, `inspect`, training.json) and is deterministic, and bad values are
//! refused with exit 2.

#[path = "cli/support.rs"]
mod support;

use glassbox_train::privacy::pld::{DEFAULT_GRID_STEP, pld_epsilon};
use glassbox_train::privacy::{Accountant, PrivacyRecord, epsilon};
use support::{Scratch, run, simple_csv};

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).expect("valid JSON")
}

/// `privacy --json` with `extra`, parsed.
fn privacy(extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["privacy", "--json"];
    args.extend_from_slice(extra);
    json(&run(&args).ok().stdout)
}

#[test]
fn privacy_pld_is_pld_epsilon_and_its_sigma_is_below_rdp() {
    let (q, steps, delta) = (0.05, 60, 1e-5);
    let common = ["--rate", "0.05", "--steps", "60", "--delta", "1e-5"];
    let v = privacy(&[&["--accountant", "pld", "--noise", "1"][..], &common].concat());
    let direct = pld_epsilon(1.0, q, steps, delta).expect("valid");
    assert_eq!(v["epsilon"].as_f64(), Some(direct.epsilon), "{v}");
    assert_eq!(v["epsilon_remove"].as_f64(), Some(direct.remove));
    assert_eq!(v["epsilon_add"].as_f64(), Some(direct.add));
    assert!(v["optimal_order"].is_null(), "{v}");
    assert_eq!(v["accounting"]["kind"], "pld");
    assert_eq!(v["accounting"]["grid_step"], DEFAULT_GRID_STEP);
    let rdp_at_one = epsilon(1.0, q, steps, delta).expect("valid").epsilon;
    assert!(
        direct.epsilon < rdp_at_one,
        "{direct:?} vs RDP {rdp_at_one}"
    );

    // The inverse: PLD's σ for ε = 3 is below RDP's, and spends at most 3 (within 0.01)
    // under PLD — where RDP would charge it more than 3.
    let target = ["--epsilon", "3"];
    let pld = privacy(&[&["--accountant", "pld"][..], &target, &common].concat());
    let rdp = privacy(&[&["--accountant", "rdp"][..], &target, &common].concat());
    let sigma_pld = pld["noise_multiplier"].as_f64().expect("σ");
    let sigma_rdp = rdp["noise_multiplier"].as_f64().expect("σ");
    assert!(
        sigma_pld < sigma_rdp,
        "PLD σ {sigma_pld}, RDP σ {sigma_rdp}"
    );
    let spent = pld_epsilon(sigma_pld, q, steps, delta)
        .expect("valid")
        .epsilon;
    assert_eq!(pld["epsilon"].as_f64(), Some(spent));
    assert!(spent <= 3.0 && spent > 2.99, "{spent}");
    assert!(epsilon(sigma_pld, q, steps, delta).expect("valid").epsilon > 3.0);
    // The default is RDP, as before (Opacus's σ for this budget).
    let default = privacy(&[&target[..], &common].concat());
    assert_eq!(default["noise_multiplier"], rdp["noise_multiplier"]);
    assert_eq!(default["accounting"]["kind"], "rdp");

    let text = run(&[
        &["privacy", "--accountant", "pld", "--noise", "1"][..],
        &common,
    ]
    .concat())
    .ok();
    assert!(
        text.stdout.contains("ε of each direction") && text.stdout.contains("PLD"),
        "{}",
        text.stdout
    );
    assert!(!text.stdout.contains("Rényi order"), "{}", text.stdout);
}

#[test]
fn privacy_help_teaches_both_accountants() {
    let help = run(&["privacy", "--help"]).ok();
    for word in [
        "--accountant",
        "rdp",
        "pld",
        "Opacus",
        "dp_accounting",
        "smaller σ",
    ] {
        assert!(help.stdout.contains(word), "{word}: {}", help.stdout);
    }
}

/// `train DATA --out OUT` with a small private recipe and `extra`.
fn train_private(data: &str, out: &str, extra: &[&str]) -> support::Run {
    let mut args = vec!["train", data, "--out", out];
    args.extend(
        "--target bought --epochs 3 --hidden 8 --ensemble 1 --batch-size 32 --early-stopping 0 \
         --quiet --dp-epsilon 3 --dp-delta 1e-4"
            .split_whitespace(),
    );
    args.extend_from_slice(extra);
    run(&args)
}

fn read(path: &str) -> Vec<u8> {
    std::fs::read(path).expect("a file of the run")
}

#[test]
fn training_with_pld_records_the_accountant_and_is_deterministic() {
    let s = Scratch::new("private_training_pld");
    let data = s.file("train.csv", simple_csv(300, 4));
    let (a, b, r) = (s.path("a"), s.path("b"), s.path("r"));
    let out = train_private(&data, &a, &["--dp-accountant", "pld", "--threads", "1"]).ok();
    assert!(out.stdout.contains("PLD"), "{}", out.stdout);
    train_private(&data, &b, &["--dp-accountant", "pld", "--threads", "2"]).ok();
    train_private(&data, &r, &["--threads", "1"]).ok();
    let model = |dir: &str| read(&format!("{dir}/model.safetensors"));
    // Same seed, same bytes (the manifest records no thread count for a private run's
    // weights; compare the whole file's tensors through the record below as well).
    let training =
        |dir: &str| json(&String::from_utf8(read(&format!("{dir}/training.json"))).expect("utf-8"));
    let (ta, tb, tr) = (training(&a), training(&b), training(&r));
    assert_eq!(ta["privacy"], tb["privacy"]);
    let tensors = |bytes: Vec<u8>| {
        let mut len = [0u8; 8];
        len.copy_from_slice(&bytes[..8]);
        bytes[8 + u64::from_le_bytes(len) as usize..].to_vec()
    };
    let weights_a = tensors(model(&a));
    assert!(weights_a == tensors(model(&b)), "1 and 2 threads differ");
    assert!(weights_a != tensors(model(&r)), "PLD trained with RDP's σ");

    let p = &ta["privacy"];
    assert_eq!(p["accounting"]["kind"], "pld", "{p}");
    assert_eq!(p["accounting"]["grid_step"], DEFAULT_GRID_STEP);
    assert!(
        p["accountant"].as_str().is_some_and(|s| s.contains("PLD")),
        "{p}"
    );
    assert!(p.get("optimal_order").is_none(), "{p}");
    assert_eq!(tr["privacy"]["accounting"]["kind"], "rdp");
    assert!(tr["privacy"]["optimal_order"].is_number());
    assert_eq!(
        ta["recipe"]["privacy"]["accounting"]["kind"], "pld",
        "{}",
        ta["recipe"]
    );
    assert!(tr["recipe"]["privacy"].get("accounting").is_none());
    let (sigma_pld, sigma_rdp) = (
        p["noise_multiplier"].as_f64().expect("σ"),
        tr["privacy"]["noise_multiplier"].as_f64().expect("σ"),
    );
    assert!(
        sigma_pld < sigma_rdp,
        "PLD σ {sigma_pld}, RDP σ {sigma_rdp}"
    );
    // 240 training rows, batch 32: q = 1/8, T = 3·8 = 24; ε ≤ 3 under PLD itself.
    let spent = pld_epsilon(sigma_pld, 0.125, 24, 1e-4)
        .expect("valid")
        .epsilon;
    assert_eq!(p["epsilon"].as_f64(), Some(spent));
    assert!(spent <= 3.0 && spent > 2.99, "{spent}");

    let inspect = run(&["inspect", &format!("{a}/model.safetensors")]).ok();
    assert!(
        inspect.stdout.contains("accountant              PLD"),
        "{}",
        inspect.stdout
    );
    assert!(
        !inspect.stdout.contains("Rényi order"),
        "{}",
        inspect.stdout
    );
    let inspect = run(&["inspect", &format!("{a}/model.safetensors"), "--json"]).ok();
    assert_eq!(json(&inspect.stdout)["info"]["privacy"], *p);

    // A record written before the choice existed (no `accounting`) reads as RDP.
    let mut old = tr["privacy"].clone();
    old.as_object_mut().expect("an object").remove("accounting");
    let old: PrivacyRecord = serde_json::from_value(old).expect("an older record reads");
    assert_eq!(old.accounting, Accountant::Rdp);
}

#[test]
fn bad_accountant_values_are_refused_with_exit_2() {
    let s = Scratch::new("private_training_pld_refusals");
    let data = s.file("train.csv", simple_csv(100, 4));
    let out = s.path("out");
    run(&[
        "train",
        &data,
        "--out",
        &out,
        "--target",
        "bought",
        "--dp-accountant",
        "pld",
    ])
    .fails_with(2)
    .stderr_has(&["--dp-accountant pld needs private training"]);
    run(&[
        "train",
        &data,
        "--out",
        &out,
        "--target",
        "bought",
        "--dp-epsilon",
        "3",
        "--dp-accountant",
        "prv",
    ])
    .fails_with(2)
    .stderr_has(&["prv", "rdp", "pld"]);
    assert!(
        !std::path::Path::new(&out).exists(),
        "a refused run left {out}"
    );
    let common = [
        "privacy", "--rate", "0.05", "--steps", "60", "--delta", "1e-5",
    ];
    run(&[&common[..], &["--accountant", "bogus", "--noise", "1"]].concat()).fails_with(2);
    run(&[&common[..], &["--accountant", "pld", "--epsilon", "0"]].concat())
        .fails_with(2)
        .stderr_has(&["ε must be a finite number > 0, got 0"]);
    run(&[&common[..], &["--accountant", "pld", "--noise=-1"]].concat())
        .fails_with(2)
        .stderr_has(&["σ must be a number ≥ 0"]);
}
