//! What `glassbox` does to the paths it is told to write (issue 20, notes/reliability.md
//! "Outputs"), through the binary: a device stays a device and its write error is reported, a
//! symbolic link stays a link and its target gets the output, a FIFO's reader gets the output,
//! `-` is standard output.

#![cfg(unix)]

#[path = "cli/support.rs"]
mod support;

use std::fs;
use std::os::unix::fs::{FileTypeExt, symlink};
use std::process::Command;

use support::{Scratch, files_under, glassbox, run, shared_model, simple_csv};

#[test]
fn predict_to_dev_full_reports_the_full_disk_and_leaves_the_device() {
    let (_, model, _) = shared_model();
    let s = Scratch::new("out_dev_full");
    let data = s.file("score.csv", simple_csv(2000, 4));
    run(&["predict", model, &data, "--out", "/dev/full"])
        .fails_with(2)
        .stderr_has(&["cannot write \"/dev/full\"", "No space left"]);
    assert!(
        fs::symlink_metadata("/dev/full")
            .unwrap()
            .file_type()
            .is_char_device(),
        "/dev/full must still be a character device"
    );
}

#[test]
fn predict_through_a_link_replaces_the_target_and_keeps_the_link() {
    let (_, model, _) = shared_model();
    let s = Scratch::new("out_link");
    let data = s.file("score.csv", simple_csv(20, 5));
    let real = s.file("real.csv", "stale predictions\n");
    let link = s.path("link.csv");
    symlink(&real, &link).unwrap();
    run(&["predict", model, &data, "--out", &link]).ok();
    assert!(
        fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    let written = fs::read_to_string(&real).unwrap();
    assert!(written.starts_with("row,"), "{written}");
    assert_eq!(written.lines().count(), 21, "a header and 20 rows");
    assert_eq!(files_under(s.dir()), ["link.csv", "real.csv", "score.csv"]);
}

#[test]
fn predict_into_a_fifo_feeds_its_reader() {
    let (_, model, _) = shared_model();
    let s = Scratch::new("out_fifo");
    let data = s.file("score.csv", simple_csv(20, 6));
    let fifo = s.path("pipe.csv");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let reader_path = fifo.clone();
    let reader = std::thread::spawn(move || fs::read_to_string(reader_path).unwrap());
    run(&["predict", model, &data, "--out", &fifo]).ok();
    let got = reader.join().unwrap();
    assert_eq!(got.lines().count(), 21, "{got}");
    assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
}

#[test]
fn predict_to_dash_writes_standard_output_like_no_out() {
    let (_, model, _) = shared_model();
    let s = Scratch::new("out_dash");
    let data = s.file("score.csv", simple_csv(20, 7));
    let dashed = run(&["predict", model, &data, "--out", "-", "--quiet"]).ok();
    let plain = run(&["predict", model, &data, "--quiet"]).ok();
    assert_eq!(dashed.stdout, plain.stdout);
    assert_eq!(dashed.stdout.lines().count(), 21);
    assert_eq!(files_under(s.dir()), ["score.csv"], "no file named '-'");
}

#[test]
fn predict_to_a_socket_is_refused() {
    let (_, model, _) = shared_model();
    let s = Scratch::new("out_socket");
    let data = s.file("score.csv", simple_csv(5, 8));
    let sock = s.path("sock");
    let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let r = glassbox()
        .args(["predict", model, &data, "--out", &sock])
        .output()
        .unwrap();
    assert_eq!(r.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert!(stderr.contains("socket"), "{stderr}");
    assert!(fs::symlink_metadata(&sock).unwrap().file_type().is_socket());
}
