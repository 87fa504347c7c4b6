//! `inspect`'s description of a recommender model file, from the JSON of
//! [`crate::pipeline::recommend::inspect_json`].

use serde_json::Value;

/// One setting for the text: a number as JSON writes it, `null` (an infinite half-life) as ∞.
fn setting(v: &Value) -> String {
    if v.is_null() {
        "∞".into()
    } else {
        v.to_string()
    }
}

/// The text form: what the file is, its data, each mode's blend, its sizes.
pub(crate) fn describe_recommender(v: &Value) -> String {
    let mut out = String::new();
    let mut line = |s: String| {
        out.push_str(&s);
        out.push('\n');
    };
    line(format!(
        "{}: glassbox recommender (layout {}), the default blend of notes/recommend.md §6 (K19)",
        v["file"].as_str().unwrap_or(""),
        v["format"]
    ));
    let c = &v["columns"];
    line(format!(
        "Trained on {} (user {}, item {}, time {}, basket {}), events before {} (Unix seconds); settings chosen on the last {} days before it",
        v["source"].as_str().unwrap_or(""),
        c["user"],
        c["item"],
        setting(&c["time"]),
        setting(&c["basket"]),
        v["cutoff_unix_seconds"],
        v["validation_days"]
    ));
    let t = &v["training"];
    line(format!(
        "Training: {} users × {} items, {} distinct (user, item) pairs from {} events ({} after the cutoff not used)",
        t["training_users"],
        t["candidate_items"],
        t["training_pairs"],
        t["training_events"],
        t["ignored_events"]
    ));
    match v["validation"].as_object() {
        Some(val) => line(format!(
            "Validation split: {} users × {} items before it; {} users with a purchase in the window ({} test pairs)",
            val["training_users"],
            val["candidate_items"],
            val["warm_test_users"],
            val["test_pairs"]
        )),
        None => line(
            "Validation split: none (no time column or too short a history): default settings"
                .into(),
        ),
    }
    for m in v["modes"].as_array().into_iter().flatten() {
        let s = &m["settings"];
        let ndcg = m["validation_ndcg_at_20"]
            .as_f64()
            .map_or("– (defaults kept)".into(), |x| format!("{x:.4}"));
        line(format!(
            "Mode {}: MF (d {}, {} epochs) × {} + item-kNN (k {}) × {} + EASE (λ {}, recency half-lives {} d in G / {} d in the profile) × {} + popularity ({} d) × β {} + own purchases (half-life {} d) × γ {}; validation NDCG@20 {ndcg}",
            m["mode"].as_str().unwrap_or(""),
            s["mf"]["dim"],
            s["mf"]["epochs"],
            s["mf_weight"],
            s["knn_k"],
            s["knn_weight"],
            s["ease_lambda"],
            setting(&s["ease_half_life_days"]),
            setting(&s["profile_half_life_days"]),
            s["ease_weight"],
            s["window_days"],
            s["beta"],
            setting(&s["half_life_days"]),
            s["gamma"]
        ));
    }
    line(format!("Size: {} bytes", v["file_bytes"]));
    for t in v["tensors"].as_array().into_iter().flatten() {
        line(format!(
            "  {} {} {} ({} bytes)",
            t["name"].as_str().unwrap_or(""),
            t["dtype"].as_str().unwrap_or(""),
            t["shape"],
            t["bytes"]
        ));
    }
    out
}
