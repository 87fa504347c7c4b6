//! `glassbox serve` end to end: the server started on an ephemeral loopback port, its
//! answers checked against `glassbox predict` bit for bit (single rows, batches, CSV and
//! JSON), the read-only endpoints, reload (by request, by SIGHUP, under load, a bad file),
//! and graceful shutdown. Error statuses and auth: tests/cli_serve_errors.rs.

#[path = "cli/support.rs"]
mod support;

#[path = "cli/serve_client.rs"]
mod client;

use std::sync::Arc;

use client::{Served, csv_to_json_rows, read_reply, write_head};
use glassbox_app::bundle::Bundle;
use glassbox_data::{ReadOptions, Table};
use support::{Scratch, run, shared_model};

/// The probabilities of every row of `data` as `predict` computes them: the file read with
/// the prediction schema, encoded, `Bundle::probabilities`.
fn library_probabilities(model: &str, data: &str) -> Vec<f64> {
    let bundle = Bundle::load(model).unwrap();
    let schema = bundle.preprocessor.prediction_schema();
    let table = Table::read(data, &ReadOptions::default(), &schema).unwrap();
    let x = bundle.preprocessor.encode(&table, false).unwrap().x;
    bundle.probabilities(x.view())
}

/// (probability, label) of each prediction of an answer.
fn predictions(reply: &client::Reply) -> Vec<(f64, String)> {
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["probability"].as_f64().unwrap(),
                p["label"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// `predict`'s CSV lines rebuilt from the server's answers (6 decimals, as predict writes).
fn as_predict_csv(preds: &[(f64, String)], first_line: u64) -> String {
    let mut out = String::from("row,line,probability,label\n");
    for (i, (p, label)) in preds.iter().enumerate() {
        out.push_str(&format!(
            "{},{},{p:.6},{label}\n",
            i + 1,
            first_line + i as u64
        ));
    }
    out
}

#[test]
fn answers_equal_predict_bit_for_bit_in_every_format_and_batch() {
    let (_, model, data) = shared_model();
    let s = Scratch::new("serve-bits");
    let served = Served::start(&[&format!("m={model}")], s.dir().join("err.txt"));
    let csv = std::fs::read_to_string(data).unwrap();
    let predicted = run(&["predict", model, data, "--quiet"]).ok().stdout;

    // The whole file as CSV: the same text as predict, the same bits as the library.
    let whole = predictions(&served.post_csv("/v1/models/m/predict", &csv));
    assert_eq!(as_predict_csv(&whole, 2), predicted);
    let library = library_probabilities(model, data);
    let bits = |v: &[f64]| v.iter().map(|p| p.to_bits()).collect::<Vec<_>>();
    let served_p: Vec<f64> = whole.iter().map(|(p, _)| *p).collect();
    assert_eq!(bits(&served_p), bits(&library));

    // The same rows as JSON, in the batch form and as a bare array.
    let rows = csv_to_json_rows(&csv);
    let batch = format!("{{\"rows\": [{}]}}", rows.join(","));
    assert_eq!(
        predictions(&served.post_json("/v1/models/m/predict", &batch)),
        whole
    );
    let array = format!("[{}]", rows.join(","));
    assert_eq!(
        predictions(&served.post_json("/v1/models/m/predict", &array)),
        whole
    );

    // One row per request from 8 clients at once: batched with each other, same bits.
    let served = Arc::new(served);
    let rows = Arc::new(rows);
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let (served, rows) = (Arc::clone(&served), Arc::clone(&rows));
            std::thread::spawn(move || {
                (t..rows.len())
                    .step_by(8)
                    .map(|i| {
                        let reply = served.post_json("/v1/models/m/predict", &rows[i]);
                        (i, predictions(&reply).remove(0))
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut answered = 0;
    for h in handles {
        for (i, single) in h.join().unwrap() {
            assert_eq!(single.0.to_bits(), whole[i].0.to_bits(), "row {}", i + 1);
            assert_eq!(single.1, whole[i].1);
            answered += 1;
        }
    }
    assert_eq!(answered, rows.len());
    let metrics = served.get("/metrics").body;
    assert!(
        metrics.contains(&format!(
            "glassbox_rows_scored_total{{model=\"m\"}} {}",
            3 * rows.len() + rows.len()
        )),
        "{metrics}"
    );
}

#[test]
fn the_read_only_endpoints_describe_what_is_served() {
    let (_, model, _) = shared_model();
    let s = Scratch::new("serve-endpoints");
    let served = Served::start(&[&format!("m={model}")], s.dir().join("err.txt"));
    let health = served.get("/healthz");
    assert_eq!(
        (health.status, health.json()["status"].as_str()),
        (200, Some("ok"))
    );
    let list = served.get("/v1/models").json();
    assert_eq!(list["models"][0]["name"], "m");
    assert_eq!(list["models"][0]["version"], 1);
    let mut described = served.get("/v1/models/m").json();
    let serving = described
        .as_object_mut()
        .unwrap()
        .remove("serving")
        .unwrap();
    assert_eq!(serving["version"], 1);
    let inspected: serde_json::Value =
        serde_json::from_str(&run(&["inspect", model, "--json"]).ok().stdout).unwrap();
    assert_eq!(described, inspected, "GET /v1/models/m is inspect --json");
    let metrics = served.get("/metrics");
    assert!(metrics.headers.contains("text/plain; version=0.0.4"));
    for series in [
        "glassbox_requests_total{route=\"/healthz\",status=\"200\"} 1",
        "glassbox_request_duration_seconds_bucket{le=\"+Inf\"}",
        "glassbox_model_version{model=\"m\"} 1",
        "glassbox_rows_scored_total{model=\"m\"} 0",
    ] {
        assert!(
            metrics.body.contains(series),
            "{series} not in\n{}",
            metrics.body
        );
    }
}

/// Trains a second model on other data (another seed), so its answers differ.
fn second_model(s: &Scratch) -> String {
    let data = s.file("other.csv", support::simple_csv(200, 9));
    let out = s.path("other");
    run(&[
        "train",
        &data,
        "--target",
        "bought",
        "--out",
        &out,
        "--hidden",
        "4",
        "--epochs",
        "2",
        "--ensemble",
        "1",
        "--seed",
        "5",
        "--quiet",
    ])
    .ok();
    format!("{out}/model.safetensors")
}

#[test]
fn reload_swaps_atomically_refuses_a_bad_file_and_follows_sighup() {
    let (_, model_a, data) = shared_model();
    let s = Scratch::new("serve-reload");
    let model_b = second_model(&s);
    let live = s.path("live.safetensors");
    std::fs::copy(model_a, &live).unwrap();
    let served = Served::start(&[&format!("m={live}")], s.dir().join("err.txt"));
    let csv = std::fs::read_to_string(data).unwrap();
    let expect_a = run(&["predict", model_a, data, "--quiet"]).ok().stdout;
    let expect_b = run(&["predict", &model_b, data, "--quiet"]).ok().stdout;
    assert_ne!(expect_a, expect_b, "the two models must answer differently");
    let answer = |served: &Served| {
        let r = served.post_csv("/v1/models/m/predict", &csv);
        let version = r.json()["version"].as_u64().unwrap();
        (version, as_predict_csv(&predictions(&r), 2))
    };
    assert_eq!(answer(&served), (1, expect_a.clone()));

    // A new file by request.
    std::fs::copy(&model_b, &live).unwrap();
    let r = served.send("POST", "/v1/models/m/reload", &[], b"");
    assert_eq!(
        (r.status, r.json()["version"].as_u64()),
        (200, Some(2)),
        "{}",
        r.body
    );
    assert_eq!(answer(&served), (2, expect_b.clone()));

    // A bad file is refused; version 2 keeps answering.
    std::fs::write(&live, b"not a model").unwrap();
    let r = served.send("POST", "/v1/models/m/reload", &[], b"");
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.error().contains("version 2 keeps serving"), "{}", r.body);
    assert_eq!(answer(&served), (2, expect_b.clone()));

    // SIGHUP reloads every model.
    std::fs::copy(model_a, &live).unwrap();
    served.signal("HUP");
    let mut version = 2;
    for _ in 0..200 {
        version = served.get("/v1/models").json()["models"][0]["version"]
            .as_u64()
            .unwrap();
        if version == 3 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(version, 3, "SIGHUP did not reload: {}", served.stderr());
    assert_eq!(answer(&served), (3, expect_a));
    let metrics = served.get("/metrics").body;
    assert!(
        metrics.contains("glassbox_model_reloads_total{model=\"m\"} 2"),
        "{metrics}"
    );
    assert!(metrics.contains("glassbox_model_reloads_refused_total{model=\"m\"} 1"));
}

#[test]
fn under_load_every_answer_comes_whole_from_one_version() {
    let (_, model_a, data) = shared_model();
    let s = Scratch::new("serve-reload-load");
    let model_b = second_model(&s);
    let live = s.path("live.safetensors");
    std::fs::copy(model_a, &live).unwrap();
    let served = Arc::new(Served::start(
        &[&format!("m={live}")],
        s.dir().join("err.txt"),
    ));
    let csv = Arc::new(std::fs::read_to_string(data).unwrap());
    let expect = [
        run(&["predict", model_a, data, "--quiet"]).ok().stdout,
        run(&["predict", &model_b, data, "--quiet"]).ok().stdout,
    ];
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (served, csv, stop) = (Arc::clone(&served), Arc::clone(&csv), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut seen = Vec::new();
                // At least one answer each, however late the thread starts.
                loop {
                    let r = served.post_csv("/v1/models/m/predict", &csv);
                    let version = r.json()["version"].as_u64().unwrap();
                    seen.push((version, as_predict_csv(&predictions(&r), 2)));
                    if stop.load(std::sync::atomic::Ordering::Relaxed) {
                        break seen;
                    }
                }
            })
        })
        .collect();
    // Versions 2..=5 alternate between the files: odd versions are model A, even model B.
    for v in 2..=5u64 {
        let file = if v % 2 == 0 { &model_b } else { model_a };
        std::fs::copy(file, s.path("next.safetensors")).unwrap();
        std::fs::rename(s.path("next.safetensors"), &live).unwrap();
        let r = served.send("POST", "/v1/models/m/reload", &[], b"");
        assert_eq!(r.status, 200, "{}", r.body);
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut answers = 0;
    for c in clients {
        for (version, text) in c.join().unwrap() {
            assert_eq!(
                text,
                expect[usize::from(version % 2 == 0)],
                "version {version}"
            );
            answers += 1;
        }
    }
    assert!(answers >= 4);
}

#[test]
fn shutdown_answers_the_request_in_flight_then_exits() {
    let (_, model, data) = shared_model();
    let s = Scratch::new("serve-shutdown");
    let served = Served::start(&[&format!("m={model}")], s.dir().join("err.txt"));
    let csv = std::fs::read_to_string(data).unwrap();
    let expected = run(&["predict", model, data, "--quiet"]).ok().stdout;
    // Half the body, then SIGTERM, then the rest: the request is in flight at the signal.
    let mut stream = served.connect();
    let body = csv.as_bytes();
    write_head(
        &mut stream,
        "POST",
        "/v1/models/m/predict",
        &[("Content-Type", "text/csv")],
        body.len(),
    );
    use std::io::Write;
    stream.write_all(&body[..body.len() / 2]).unwrap();
    // Observed, not slept on: the half-sent request is being answered (the /metrics request
    // asking is the other one in flight), and the server has taken the signal.
    wait_for(|| {
        served
            .get("/metrics")
            .body
            .contains("glassbox_requests_in_flight 2")
    });
    served.signal("TERM");
    wait_for(|| served.stderr().contains("shutting down"));
    stream.write_all(&body[body.len() / 2..]).unwrap();
    let reply = read_reply(stream);
    assert_eq!(as_predict_csv(&predictions(&reply), 2), expected);
    let addr = served.addr.clone();
    let (code, stderr) = served.wait();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("shutting down"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "still accepting"
    );
}

/// Polls `ready` every 5 ms for up to 60 s (a bound for a hung server, not a timing).
fn wait_for(ready: impl Fn() -> bool) {
    for _ in 0..12_000 {
        if ready() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    panic!("the server never reached the awaited state");
}
