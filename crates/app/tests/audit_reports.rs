//! The audit reports as people and programs read them: text, Markdown and JSON
//! (`glassbox_app::render`) and their figures (`glassbox_app::plot::reports`), on reports
//! computed by `glassbox_audit` and `glassbox_train::metrics::fairness`. (Their numbers are
//! tested where they are computed: crates/audit/tests/, crates/train/tests/.)

#[path = "../../data/tests/support/mod.rs"]
mod data_support;
#[path = "../../train/tests/fairness_fixture/mod.rs"]
mod fairness_fixture;
#[path = "../../audit/tests/support/mod.rs"]
mod support;

use data_support::Scratch;
use fairness_fixture::{fixture, from_fixture};
use glassbox_app::plot;
use glassbox_app::render::{Format, render};
use glassbox_audit::explain::{
    IgConfig, PermutationConfig, explain_rows, permutation_importance_csv,
};
use glassbox_audit::gradcheck::{GradcheckOptions, gradcheck_batch};
use glassbox_audit::trace::{default_optimizer, trace_example};
use glassbox_train::{LossConfig, LossKind};
use serde_json::Value;

#[test]
fn renders_text_markdown_and_json() {
    let t = trace_example(default_optimizer()).unwrap();
    let text = render(&t, Format::Text).unwrap();
    assert!(
        text.contains("Z₁ = X·Θ₁ᵀ + 1·b₁ᵀ   (B1, B20; (2, 2))"),
        "{text}"
    );
    assert!(text.contains("    [0.3775, 0.3925]"));
    assert!(text.contains("Θ₂[1,1]"));
    let md = render(&t, Format::Markdown).unwrap();
    assert!(md.contains("| quantity | formula | equation | shape | value |"));
    assert!(md.contains("| L | (1/(N·O)) Σ w_n (ŷ − y)² | L1 | scalar | 0.3035152678491 |"));
    assert!(md.contains("| parameter | θ | g | m | v | m̂ | v̂ | step | θ′ | θ′ − θ |"));
    let json: serde_json::Value = serde_json::from_str(&render(&t, Format::Json).unwrap()).unwrap();
    assert_eq!(json["step"], 1);
    assert_eq!(json["optimizer"]["algorithm"], "adam");
    let forward = &json["sections"][1]["quantities"];
    assert_eq!(forward[0]["id"], "z1");
    assert_eq!(forward[0]["values"][0], 0.3775);
    assert_eq!(
        json["sections"][4]["tensor_labels"][8], "layers.1.bias[0]",
        "the update section labels each parameter"
    );
}

#[test]
fn gradcheck_reports_render_text_markdown_and_json() {
    let mlp = support::classifier::<f64>(6, 5, 3);
    let x =
        ndarray::Array2::from_shape_fn((4, 6), |(i, j)| (i as f64 - 1.5) * 0.4 + j as f64 * 0.1);
    let y = ndarray::Array2::from_shape_fn((4, 1), |(i, _)| (i % 2) as f64);
    let loss = LossConfig::new(LossKind::BceWithLogits);
    let report = gradcheck_batch(
        &mlp,
        x.view(),
        y.view(),
        &loss,
        &GradcheckOptions::default(),
    )
    .unwrap();
    assert!(report.passed, "{report:?}");
    let text = render(&report, Format::Text).unwrap();
    assert!(
        text.starts_with("gradient check of 41 parameters on 4 rows"),
        "{text}"
    );
    assert!(text.contains("rejected, as it must be"), "{text}");
    let json: Value = serde_json::from_str(&render(&report, Format::Json).unwrap()).unwrap();
    assert_eq!(json["passed"], true);
    assert_eq!(json["negative_control"]["detected"], true);
    let md = render(&report, Format::Markdown).unwrap();
    assert!(md.starts_with("# Gradient check: PASS"), "{md}");
    assert!(md.contains("| tensor | shape | checked |"), "{md}");
}

#[test]
fn explanations_render_and_plot() {
    let scratch = Scratch::new("app-explain");
    let (mlp, pre, table) = support::synthetic_model(&support::synthetic_csv(&scratch, 600, 8));
    let report = explain_rows(&mlp, &pre, &table, &[3, 0, 41], &IgConfig::default()).unwrap();
    eprintln!("{}", render(&report, Format::Text).unwrap());
    let md = render(&report, Format::Markdown).unwrap();
    assert!(md.contains("| column | value | integrated gradients | gradient × input |"));
    let files = plot::reports::explain_rows(&report, &scratch.path("")).unwrap();
    assert_eq!(files.len(), 3);
    assert!(files[0].svg.ends_with("explain_row3.svg") && files[0].svg.exists());
    let config = PermutationConfig {
        repeats: 5,
        seed: 17,
    };
    let imp = permutation_importance_csv(&mlp, &pre, &table, &config).unwrap();
    eprintln!("{}", render(&imp, Format::Text).unwrap());
    let md = render(&imp, Format::Markdown).unwrap();
    assert!(md.contains("| 1 | signal | 1 |"), "{md}");
    let json: Value = serde_json::from_str(&render(&imp, Format::Json).unwrap()).unwrap();
    assert_eq!(json["columns"][0]["column"], "signal");
    let files = plot::reports::importance(&imp, &scratch.path("importance")).unwrap();
    assert!(files.svg.exists() && files.png.exists());
}

#[test]
fn reports_render_and_plot() {
    let report = from_fixture(&fixture());
    let text = render(&report, Format::Text).unwrap();
    assert!(text.contains("too small: 25 rows < 30"), "{text}");
    assert!(text.contains("0 positives < 5"), "{text}");
    assert!(
        text.contains("groups large enough to judge (3 groups)"),
        "{text}"
    );
    let md = render(&report, Format::Markdown).unwrap();
    assert!(md.starts_with("# Fairness by group"));
    assert!(md.contains("| group | n | positives |"));
    let json: Value = serde_json::from_str(&render(&report, Format::Json).unwrap()).unwrap();
    assert_eq!(json["groups"][4]["tpr"], Value::Null);
    assert_eq!(json["groups"][0]["flagged"], false);
    let scratch = Scratch::new("app-fairness-plot");
    let files = plot::reports::fairness(&report, &scratch.path("by_group")).unwrap();
    assert!(files.svg.exists() && files.png.exists());
    assert_eq!(files.notes, ["2 non-finite value(s) not drawn"]);
}
