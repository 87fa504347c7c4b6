//! The one output writer (`glassbox_train::store::output`, notes/reliability.md "Outputs"): what each
//! kind of path gets — regular files replaced atomically, links followed, FIFOs and character
//! devices streamed into, other special files refused — and what a killed writer or a full
//! disk leaves behind.

#![cfg(unix)]

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, symlink};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use glassbox_train::store::output::{
    Destination, destination, write_bytes, write_via_path, write_with,
};

/// A fresh scratch folder per test.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("glassbox-output-{test}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// Every entry of `dir`, sorted, so a test can assert that no temporary file is left.
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_new_path_and_a_regular_file_are_replaced_whole_with_no_temporary_left() {
    let dir = scratch("regular");
    let p = dir.join("out.csv");
    write_bytes(&p, b"first").unwrap();
    assert_eq!(fs::read(&p).unwrap(), b"first");
    write_bytes(&p, b"second, longer").unwrap();
    assert_eq!(fs::read(&p).unwrap(), b"second, longer");
    assert_eq!(entries(&dir), ["out.csv"]);
}

#[test]
fn a_failing_producer_leaves_the_old_file_and_no_temporary() {
    let dir = scratch("failing");
    let p = dir.join("report.json");
    fs::write(&p, b"old").unwrap();
    let err = write_with(&p, |w| {
        w.write_all(b"half a rep")?;
        Err("the producer failed".into())
    })
    .unwrap_err();
    assert!(err.to_string().contains("report.json"), "{err}");
    assert_eq!(fs::read(&p).unwrap(), b"old");
    assert_eq!(entries(&dir), ["report.json"]);
}

#[test]
fn a_symbolic_link_stays_a_link_and_its_target_is_replaced() {
    let dir = scratch("link");
    let real = dir.join("real.csv");
    fs::write(&real, b"stale").unwrap();
    // A relative link, then a link to that link: the chain is followed to its end.
    symlink("real.csv", dir.join("link.csv")).unwrap();
    symlink(dir.join("link.csv"), dir.join("link2.csv")).unwrap();
    write_bytes(dir.join("link2.csv"), b"fresh").unwrap();
    assert!(
        fs::symlink_metadata(dir.join("link.csv"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(
        fs::symlink_metadata(dir.join("link2.csv"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(fs::read(&real).unwrap(), b"fresh");
    assert_eq!(entries(&dir), ["link.csv", "link2.csv", "real.csv"]);
}

#[test]
fn a_dangling_link_creates_its_target() {
    let dir = scratch("dangling");
    symlink(dir.join("made.csv"), dir.join("link.csv")).unwrap();
    write_bytes(dir.join("link.csv"), b"made").unwrap();
    assert_eq!(fs::read(dir.join("made.csv")).unwrap(), b"made");
    assert!(
        fs::symlink_metadata(dir.join("link.csv"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
}

#[test]
fn a_link_loop_is_refused() {
    let dir = scratch("loop");
    symlink(dir.join("b"), dir.join("a")).unwrap();
    symlink(dir.join("a"), dir.join("b")).unwrap();
    let err = write_bytes(dir.join("a"), b"x").unwrap_err();
    let cause = std::error::Error::source(&err).unwrap().to_string();
    assert!(cause.contains("symbolic links"), "{cause}");
}

#[test]
fn a_fifo_is_written_as_a_stream_and_stays_a_fifo() {
    let dir = scratch("fifo");
    let fifo = dir.join("pipe.csv");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    assert_eq!(
        destination(&fifo).unwrap(),
        Destination::Stream(fifo.clone())
    );
    let reader_path = fifo.clone();
    let reader = std::thread::spawn(move || {
        let mut got = Vec::new();
        fs::File::open(reader_path)
            .unwrap()
            .read_to_end(&mut got)
            .unwrap();
        got
    });
    write_bytes(&fifo, b"row,probability\n0,0.25\n").unwrap();
    assert_eq!(reader.join().unwrap(), b"row,probability\n0,0.25\n");
    assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
    assert_eq!(entries(&dir), ["pipe.csv"]);
}

#[test]
fn dev_full_reports_the_full_disk_and_stays_a_device() {
    let full = Path::new("/dev/full");
    if !full.exists() {
        println!("skipped: this system has no /dev/full");
        return;
    }
    let err = write_bytes(full, &vec![b'x'; 100_000]).unwrap_err();
    let cause = std::error::Error::source(&err).unwrap().to_string();
    assert!(err.to_string().contains("/dev/full"), "{err}");
    assert!(cause.contains("No space left"), "{cause}");
    assert!(
        fs::symlink_metadata(full)
            .unwrap()
            .file_type()
            .is_char_device()
    );
}

#[test]
fn dev_null_and_stdout_names_are_streams() {
    write_bytes("/dev/null", b"discarded").unwrap();
    assert!(
        fs::symlink_metadata("/dev/null")
            .unwrap()
            .file_type()
            .is_char_device()
    );
    assert_eq!(destination(Path::new("-")).unwrap(), Destination::Stdout);
    assert_eq!(
        destination(Path::new("/dev/stdout")).unwrap(),
        Destination::Stdout
    );
}

#[test]
fn a_folder_a_socket_and_a_block_device_are_refused() {
    let dir = scratch("refused");
    let err = write_bytes(&dir, b"x").unwrap_err();
    assert!(
        std::error::Error::source(&err)
            .unwrap()
            .to_string()
            .contains("is a folder")
    );
    let sock = dir.join("sock");
    let _listener = UnixListener::bind(&sock).unwrap();
    let err = write_bytes(&sock, b"x").unwrap_err();
    assert!(
        std::error::Error::source(&err)
            .unwrap()
            .to_string()
            .contains("socket")
    );
    assert!(fs::symlink_metadata(&sock).unwrap().file_type().is_socket());
    match fs::read_dir("/dev").ok().and_then(|mut d| {
        d.find_map(|e| {
            let e = e.ok()?;
            e.file_type().ok()?.is_block_device().then(|| e.path())
        })
    }) {
        Some(block) => {
            let err = write_bytes(&block, b"x").unwrap_err();
            let cause = std::error::Error::source(&err).unwrap().to_string();
            assert!(cause.contains("block device"), "{cause}");
            assert!(
                fs::symlink_metadata(&block)
                    .unwrap()
                    .file_type()
                    .is_block_device()
            );
        }
        None => println!("skipped: no block device under /dev to try"),
    }
}

#[test]
fn a_png_producer_writes_through_a_path_into_a_stream_too() {
    let dir = scratch("via-path");
    let fifo = dir.join("plot.png");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let reader_path = fifo.clone();
    let reader = std::thread::spawn(move || fs::read(reader_path).unwrap());
    write_via_path(&fifo, |tmp| {
        assert_eq!(tmp.extension().unwrap(), "png");
        fs::write(tmp, b"\x89PNG bytes")?;
        Ok(())
    })
    .unwrap();
    assert_eq!(reader.join().unwrap(), b"\x89PNG bytes");
    assert_eq!(entries(&dir), ["plot.png"]);
}

#[test]
fn temporaries_of_dead_processes_are_removed_and_live_ones_kept() {
    let dir = scratch("stale");
    // A process that has ended: its pid is free (the kernel does not reuse it at once).
    let mut done = Command::new("true").spawn().unwrap();
    let dead = done.id();
    done.wait().unwrap();
    let mut alive = Command::new("sleep").arg("30").spawn().unwrap();
    let stale = dir.join(format!(".out.csv.tmp-{dead}-0.csv"));
    let live = dir.join(format!(".out.csv.tmp-{}-0.csv", alive.id()));
    let other = dir.join(format!(".other.csv.tmp-{dead}-0.csv"));
    for p in [&stale, &live, &other] {
        fs::write(p, b"partial").unwrap();
    }
    write_bytes(dir.join("out.csv"), b"whole").unwrap();
    let _ = alive.kill();
    let _ = alive.wait();
    assert!(!stale.exists(), "a dead writer's temporary must go");
    assert!(live.exists(), "a live writer's temporary must stay");
    assert!(
        other.exists(),
        "another target's temporary is not ours to remove"
    );
}

#[test]
fn a_killed_writer_leaves_the_old_file_and_the_next_run_cleans_up() {
    // This test runs itself again as the child that gets killed: with GLASSBOX_KILL_TARGET
    // set it writes half of its output there, says so, and waits to be killed.
    if let Some(target) = std::env::var_os("GLASSBOX_KILL_TARGET") {
        let _ = write_with(target, |w| {
            w.write_all(&vec![b'n'; 1 << 20])?;
            w.flush()?;
            println!("written");
            std::io::stdout().flush()?;
            std::thread::sleep(std::time::Duration::from_secs(60));
            Ok(())
        });
        return;
    }
    let dir = scratch("killed");
    let target = dir.join("model.safetensors");
    fs::write(&target, b"the old model").unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_killed_writer_leaves_the_old_file_and_the_next_run_cleans_up",
            "--nocapture",
        ])
        .env("GLASSBOX_KILL_TARGET", &target)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the child says it has written (and flushed) half its output.
    let mut out = child.stdout.take().unwrap();
    let mut seen = String::new();
    let mut buf = [0u8; 256];
    while !seen.contains("written") {
        let n = out.read(&mut buf).unwrap();
        assert!(n > 0, "the child ended before writing: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    child.kill().unwrap(); // SIGKILL: no destructor, no cleanup runs in the child
    child.wait().unwrap();
    assert_eq!(fs::read(&target).unwrap(), b"the old model");
    let left = entries(&dir);
    assert_eq!(left.len(), 2, "the target and one temporary: {left:?}");
    assert!(
        left.iter()
            .any(|n| n.starts_with(".model.safetensors.tmp-"))
    );
    write_bytes(&target, b"the new model").unwrap();
    assert_eq!(fs::read(&target).unwrap(), b"the new model");
    assert_eq!(entries(&dir), ["model.safetensors"]);
}

#[test]
fn a_full_file_system_keeps_the_old_file_and_leaves_no_temporary() {
    let dir = scratch("disk-full");
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
        .arg(&dir)
        .output();
    if !matches!(&mounted, Ok(o) if o.status.success()) {
        println!("skipped: cannot mount a small tmpfs here (needs root and mount rights)");
        return;
    }
    let target = dir.join("predictions.csv");
    fs::write(&target, b"old predictions").unwrap();
    let result = write_bytes(&target, &vec![b'p'; 1 << 20]);
    let left = entries(&dir);
    let old = fs::read(&target).unwrap();
    let _ = Command::new("umount").arg(&dir).status();
    let err = result.unwrap_err();
    let cause = std::error::Error::source(&err).unwrap().to_string();
    assert!(cause.contains("No space left"), "{cause}");
    assert_eq!(old, b"old predictions");
    assert_eq!(left, ["predictions.csv"]);
}
