//! `glassbox serve` refusing what it must: every error status with a message naming what is
//! wrong (the row and field for bad values), bearer-token auth, and start-up errors
//! (exit 2). No answer is ever a panic.

#[path = "cli/support.rs"]
mod support;

#[path = "cli/serve_client.rs"]
mod client;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use client::{Served, write_head};
use support::{Scratch, run, shared_model, simple_csv};

const ROW: &str = r#"{"age": 30, "plan": "pro", "visits": 3, "weekend": false}"#;

#[test]
fn every_error_status_names_what_is_wrong() {
    let (_, model, _) = shared_model();
    let s = Scratch::new("serve-statuses");
    let served = Served::start(
        &[
            &format!("m={model}"),
            "--max-body-bytes",
            "2000",
            "--max-rows",
            "5",
            "--timeout-ms",
            "300",
        ],
        s.dir().join("err.txt"),
    );
    let predict = "/v1/models/m/predict";
    // The negative control: a good row is answered.
    assert_eq!(served.post_json(predict, ROW).status, 200);
    let cases: [(&str, &str, u16, &[&str]); 9] = [
        (
            "application/json",
            "{\"age\": 30,",
            400,
            &["malformed JSON"],
        ),
        (
            "application/json",
            r#"{"age": 30, "plan": "pro", "visits": 3}"#,
            400,
            &["row 1", "\"weekend\" is missing"],
        ),
        (
            "application/json",
            r#"[{"age": 30, "plan": "pro", "visits": 3, "weekend": false}, {"age": 30, "plan": "pro", "visits": 3, "weekend": false, "zip": 1}]"#,
            400,
            &["row 2", "unknown field \"zip\""],
        ),
        (
            "application/json",
            r#"{"age": "thirty", "plan": "pro", "visits": 3, "weekend": false}"#,
            400,
            &["row 1", "field \"age\"", "expected a number"],
        ),
        (
            "application/json",
            r#"{"age": 1e400, "plan": "pro", "visits": 3, "weekend": false}"#,
            400,
            &["row 1", "field \"age\"", "infinite"],
        ),
        (
            "application/json",
            r#"{"age": "NaN", "plan": "pro", "visits": 3, "weekend": false}"#,
            400,
            &["row 1", "field \"age\"", "NaN"],
        ),
        (
            "text/csv",
            "age,plan,visits,weekend\n30,pro,x,false\n",
            400,
            &["line 2", "\"visits\""],
        ),
        ("text/plain", ROW, 415, &["text/plain"]),
        (
            "application/json",
            &format!("[{}]", [ROW; 6].join(",")),
            413,
            &["more than 5 rows"],
        ),
    ];
    for (content_type, body, status, fragments) in cases {
        let r = served.send(
            "POST",
            predict,
            &[("Content-Type", content_type)],
            body.as_bytes(),
        );
        assert_eq!(r.status, status, "{body}: {}", r.body);
        let message = r.error();
        for f in fragments {
            assert!(message.contains(f), "{body}: {message:?} lacks {f:?}");
        }
    }
    let big = format!("[{}]", [ROW; 40].join(","));
    let r = served.post_json(predict, &big);
    assert_eq!(r.status, 413, "{}", r.body);
    assert!(r.error().contains("larger than 2000 bytes"), "{}", r.body);
    let r = served.post_json("/v1/models/nope/predict", ROW);
    assert_eq!(r.status, 404);
    assert!(r.error().contains("no model \"nope\"; served: m"));
    assert_eq!(served.get("/nowhere").status, 404);
    assert_eq!(served.get(predict).status, 405);
    // A body that stops arriving: 408 after the time limit.
    let mut stream = served.connect();
    write_head(
        &mut stream,
        "POST",
        predict,
        &[("Content-Type", "application/json")],
        100,
    );
    use std::io::Write;
    stream.write_all(b"{\"age\":").unwrap();
    let r = client::read_reply(stream);
    assert_eq!(r.status, 408, "{}", r.body);
    assert!(r.error().contains("300 ms"));
    let metrics = served.get("/metrics").body;
    assert!(
        metrics.contains("route=\"/v1/models/{name}/predict\",status=\"408\"} 1"),
        "{metrics}"
    );
    assert!(!served.stderr().contains("panicked"));
}

#[test]
fn a_full_queue_is_answered_503_and_the_server_recovers() {
    let s = Scratch::new("serve-busy");
    // A wide network: one pass over 10,000 rows is ~10 G multiply-adds, long enough for
    // single rows sent meanwhile to fill a one-request queue.
    let data = s.file("train.csv", simple_csv(200, 3));
    let out = s.path("wide");
    run(&[
        "train",
        &data,
        "--target",
        "bought",
        "--out",
        &out,
        "--hidden",
        "1024,1024",
        "--epochs",
        "1",
        "--ensemble",
        "1",
        "--quiet",
    ])
    .ok();
    let model = format!("m={out}/model.safetensors");
    let served = Arc::new(Served::start(
        &[
            &model,
            "--queue",
            "1",
            "--max-batch-rows",
            "1",
            "--max-rows",
            "10000",
        ],
        s.dir().join("err.txt"),
    ));
    let predict = "/v1/models/m/predict";
    let long = {
        let (served, body) = (Arc::clone(&served), simple_csv(10_000, 4));
        std::thread::spawn(move || served.post_csv(predict, &body))
    };
    // The singles start once the long request is in its pass, so none of them can take the
    // queue's one place before it (which would refuse the long request instead).
    let scoring = "glassbox_rows_scoring{model=\"m\"} 10000";
    while !served.get("/metrics").body.contains(scoring) {
        assert!(
            !long.is_finished(),
            "the long request ended before its pass was seen"
        );
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    // Single rows, each from its own connection, until one is refused or the long pass ends.
    let refused = Arc::new(AtomicBool::new(false));
    let mut singles = Vec::new();
    while !refused.load(Ordering::Relaxed) && !long.is_finished() && singles.len() < 2000 {
        let (served, refused) = (Arc::clone(&served), Arc::clone(&refused));
        singles.push(std::thread::spawn(move || {
            let r = served.post_json(predict, ROW);
            if r.status == 503 {
                refused.store(true, Ordering::Relaxed);
            }
            r
        }));
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let long = long.join().unwrap();
    assert_eq!(long.status, 200, "{}", long.body);
    assert_eq!(long.json()["predictions"].as_array().unwrap().len(), 10_000);
    let mut busy = 0;
    for single in singles {
        let r = single.join().unwrap();
        match r.status {
            200 => assert_eq!(r.json()["predictions"].as_array().unwrap().len(), 1),
            503 => {
                assert!(r.error().contains("--queue"), "{}", r.body);
                busy += 1;
            }
            other => panic!("status {other}: {}", r.body),
        }
    }
    assert!(busy > 0, "no request was refused while the queue was full");
    // The queue drained: a new request is scored, and /metrics counted every refusal.
    assert_eq!(served.post_json(predict, ROW).status, 200);
    let metrics = served.get("/metrics").body;
    assert!(
        metrics.contains(&format!(
            "route=\"/v1/models/{{name}}/predict\",status=\"503\"}} {busy}"
        )),
        "{metrics}"
    );
    assert!(!served.stderr().contains("panicked"));
}

#[test]
fn a_token_is_required_everywhere_but_healthz() {
    let (_, model, _) = shared_model();
    let s = Scratch::new("serve-auth");
    let token = s.file("token.txt", "s3cret-token\n");
    let served = Served::start(
        &[&format!("m={model}"), "--token-file", &token],
        s.dir().join("err.txt"),
    );
    assert_eq!(served.get("/healthz").status, 200);
    for (method, path) in [
        ("GET", "/v1/models"),
        ("GET", "/v1/models/m"),
        ("POST", "/v1/models/m/predict"),
        ("POST", "/v1/models/m/reload"),
        ("GET", "/metrics"),
    ] {
        for auth in [
            None,
            Some("Bearer wrong"),
            Some("Bearer s3cret-token2"),
            Some("s3cret-token"),
        ] {
            let headers: Vec<(&str, &str)> =
                auth.map(|a| ("Authorization", a)).into_iter().collect();
            let r = served.send(method, path, &headers, ROW.as_bytes());
            assert_eq!(r.status, 401, "{method} {path} with {auth:?}");
            assert!(
                r.headers.contains("www-authenticate: Bearer"),
                "{}",
                r.headers
            );
        }
    }
    let good = [
        ("Authorization", "Bearer s3cret-token"),
        ("Content-Type", "application/json"),
    ];
    assert_eq!(
        served
            .send("POST", "/v1/models/m/predict", &good, ROW.as_bytes())
            .status,
        200
    );
    assert_eq!(served.send("GET", "/v1/models", &good, b"").status, 200);
    assert_eq!(
        served
            .send("POST", "/v1/models/m/reload", &good, b"")
            .status,
        200
    );
}

#[test]
fn start_up_errors_exit_2_with_a_message() {
    let (_, model, _) = shared_model();
    let s = Scratch::new("serve-startup");
    let bad = s.file("bad.safetensors", "not a model");
    run(&["serve", &bad, "--addr", "127.0.0.1:0"])
        .fails_with(2)
        .stderr_has(&["bad.safetensors"]);
    run(&[
        "serve",
        &format!("a={model}"),
        &format!("a={model}"),
        "--addr",
        "127.0.0.1:0",
    ])
    .fails_with(2)
    .stderr_has(&["two models are named \"a\""]);
    run(&["serve", &format!("a b={model}"), "--addr", "127.0.0.1:0"])
        .fails_with(2)
        .stderr_has(&["model name"]);
    let empty = s.file("empty-token", "\n");
    run(&[
        "serve",
        model,
        "--token-file",
        &empty,
        "--addr",
        "127.0.0.1:0",
    ])
    .fails_with(2)
    .stderr_has(&["token file"]);
    // An address already in use.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    run(&["serve", model, "--addr", &addr])
        .fails_with(2)
        .stderr_has(&["cannot serve on", &addr]);
}
