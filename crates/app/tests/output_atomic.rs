//! Atomic writes and the run folder: content, cleanup of temporary files, and that a failing
//! writer leaves the old content in place.

use std::fs;
use std::path::{Path, PathBuf};

use glassbox_app::output::{
    RunDir, write_atomic, write_atomic_via_path, write_atomic_with, write_csv, write_csv_records,
    write_json,
};

/// A fresh, empty folder under the system temp dir, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("glassbox-output-test-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
    fn join(&self, p: &str) -> PathBuf {
        self.0.join(p)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Every entry of `dir` (names), sorted.
fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn write_atomic_writes_exact_bytes_and_leaves_no_temp_file() {
    let s = Scratch::new("bytes");
    let p = s.join("a.bin");
    let bytes: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    write_atomic(&p, &bytes).unwrap();
    assert_eq!(fs::read(&p).unwrap(), bytes);
    assert_eq!(entries(&s.0), vec!["a.bin"]);

    // Overwriting replaces the content entirely (a shorter file, no stale tail).
    write_atomic(&p, b"short").unwrap();
    assert_eq!(fs::read(&p).unwrap(), b"short");
    assert_eq!(entries(&s.0), vec!["a.bin"]);
}

#[test]
fn failing_writer_keeps_old_content_and_removes_temp_file() {
    let s = Scratch::new("fail");
    let p = s.join("report.json");
    fs::write(&p, b"old content").unwrap();

    let dir = s.0.clone();
    let err = write_atomic_with(&p, |w| {
        // Enough bytes to get past the BufWriter's buffer onto disk before failing.
        w.write_all(&vec![b'x'; 100_000])?;
        // The temporary file really exists at this point, beside the target.
        let names = entries(&dir);
        assert_eq!(names.len(), 2, "{names:?}");
        assert!(names[0].starts_with(".report.json.tmp-"), "{names:?}");
        anyhow::bail!("disk on fire after 100000 bytes")
    })
    .unwrap_err();

    assert_eq!(fs::read(&p).unwrap(), b"old content");
    assert_eq!(entries(&s.0), vec!["report.json"]);
    assert_eq!(err.path(), p.as_path());
    let msg = err.to_string();
    assert!(msg.contains("report.json"), "{msg}");
    let cause = std::error::Error::source(&err).unwrap().to_string();
    assert!(cause.contains("disk on fire"), "{cause}");
}

#[test]
fn failing_writer_on_a_new_target_creates_nothing() {
    let s = Scratch::new("fail-new");
    let p = s.join("new.csv");
    let r = write_atomic_with(&p, |w| {
        w.write_all(b"a,b\n")?;
        anyhow::bail!("stop")
    });
    assert!(r.is_err());
    assert!(entries(&s.0).is_empty(), "{:?}", entries(&s.0));
}

#[test]
fn panicking_writer_removes_temp_file_and_keeps_old_content() {
    let s = Scratch::new("panic");
    let p = s.join("m.json");
    fs::write(&p, b"{}").unwrap();
    let p2 = p.clone();
    let joined = std::thread::spawn(move || {
        let _ = write_atomic_with(&p2, |w| {
            w.write_all(b"partial")?;
            panic!("writer panicked");
        });
    })
    .join();
    assert!(joined.is_err(), "the writer's panic should propagate");
    assert_eq!(fs::read(&p).unwrap(), b"{}");
    assert_eq!(entries(&s.0), vec!["m.json"]);
}

#[test]
fn missing_folder_is_an_error_naming_the_target() {
    let s = Scratch::new("nofolder");
    let p = s.join("no/such/dir/out.txt");
    let err = write_atomic(&p, b"x").unwrap_err();
    assert_eq!(err.path(), p.as_path());
    assert!(err.to_string().contains("out.txt"));
}

#[test]
fn via_path_keeps_the_extension_and_renames() {
    let s = Scratch::new("viapath");
    let p = s.join("plot.png");
    let mut seen = PathBuf::new();
    write_atomic_via_path(&p, |tmp| {
        seen = tmp.to_path_buf();
        fs::write(tmp, b"png bytes")?;
        Ok(())
    })
    .unwrap();
    assert_eq!(seen.extension().unwrap(), "png");
    assert_eq!(seen.parent().unwrap(), s.0.as_path());
    assert_ne!(seen, p);
    assert_eq!(fs::read(&p).unwrap(), b"png bytes");
    assert_eq!(entries(&s.0), vec!["plot.png"]);

    // A producer that fails after writing half a file leaves nothing behind.
    let r = write_atomic_via_path(&p, |tmp| {
        fs::write(tmp, b"half")?;
        anyhow::bail!("encoder failed")
    });
    assert!(r.is_err());
    assert_eq!(fs::read(&p).unwrap(), b"png bytes");
    assert_eq!(entries(&s.0), vec!["plot.png"]);
}

#[test]
fn json_is_pretty_and_round_trips() {
    let s = Scratch::new("json");
    let p = s.join("m.json");
    let v = serde_json::json!({"auc": 0.875, "epochs": [1, 2], "name": "run \"a\""});
    write_json(&p, &v).unwrap();
    let text = fs::read_to_string(&p).unwrap();
    assert!(text.starts_with("{\n  \""), "{text}");
    assert!(text.ends_with("}\n"));
    let back: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(back, v);
}

#[test]
fn csv_quotes_fields_and_rejects_ragged_rows() {
    let s = Scratch::new("csv");
    let p = s.join("t.csv");
    write_csv(
        &p,
        &["feature", "value"],
        vec![vec!["PageValues", "1.5"], vec!["Month, Nov", "-2"]],
    )
    .unwrap();
    assert_eq!(
        fs::read_to_string(&p).unwrap(),
        "feature,value\nPageValues,1.5\n\"Month, Nov\",-2\n"
    );

    let err = write_csv(&p, &["a", "b"], vec![vec!["1", "2"], vec!["3"]]).unwrap_err();
    assert_eq!(err.path(), p.as_path());
    // Old content is preserved and no temp file remains.
    assert!(fs::read_to_string(&p).unwrap().starts_with("feature,value"));
    assert_eq!(entries(&s.0), vec!["t.csv"]);

    #[derive(serde::Serialize)]
    struct Row {
        epoch: u32,
        loss: f64,
    }
    let q = s.join("r.csv");
    write_csv_records(
        &q,
        &[
            Row {
                epoch: 1,
                loss: 0.5,
            },
            Row {
                epoch: 2,
                loss: 0.25,
            },
        ],
    )
    .unwrap();
    assert_eq!(
        fs::read_to_string(&q).unwrap(),
        "epoch,loss\n1,0.5\n2,0.25\n"
    );
}

#[test]
fn run_dir_creates_nested_folders_and_lists_files() {
    let s = Scratch::new("rundir");
    let root = s.join("runs/2024-01-01");
    let mut run = RunDir::create(&root).unwrap();
    assert!(root.is_dir());
    // The writability probe is gone.
    assert!(entries(&root).is_empty());

    let a = run
        .write_json("metrics.json", &serde_json::json!({"f1": 0.6}))
        .unwrap();
    let b = run.write_bytes("plots/roc.svg", b"<svg/>").unwrap();
    let c = run
        .write_csv("tables/attr.csv", &["f", "v"], vec![vec!["x", "1"]])
        .unwrap();
    run.write_bytes("plots/roc.svg", b"<svg></svg>").unwrap(); // rewritten: listed once
    fs::write(root.join("extra.txt"), b"12345").unwrap();
    run.record(root.join("extra.txt"));

    assert_eq!(run.files(), &[a, b, c, root.join("extra.txt")]);
    let listing = run.listing();
    assert!(listing.starts_with(&format!("wrote 4 files to {}\n", root.display())));
    assert!(listing.contains("  plots/roc.svg  11 bytes\n"), "{listing}");
    assert!(listing.contains("  extra.txt  5 bytes\n"), "{listing}");
    assert!(listing.contains("  tables/attr.csv  "), "{listing}");

    fs::remove_file(root.join("extra.txt")).unwrap();
    assert!(run.listing().contains("  extra.txt  (missing)\n"));
}

#[test]
fn run_dir_under_a_regular_file_is_an_error_naming_the_folder() {
    let s = Scratch::new("underfile");
    let file = s.join("not-a-folder");
    fs::write(&file, b"x").unwrap();
    let root = file.join("run");
    let err = RunDir::create(&root).unwrap_err();
    assert_eq!(err.path(), root.as_path());
    let msg = err.to_string();
    assert!(msg.contains("cannot create run folder"), "{msg}");
    assert!(msg.contains("not-a-folder/run"), "{msg}");
}

#[cfg(unix)]
#[test]
fn run_dir_in_a_read_only_folder_agrees_with_the_os() {
    use std::os::unix::fs::PermissionsExt;
    let s = Scratch::new("readonly");
    let ro = s.join("ro");
    fs::create_dir(&ro).unwrap();
    fs::set_permissions(&ro, fs::Permissions::from_mode(0o555)).unwrap();

    // Root ignores permission bits; ask the OS what it actually allows before asserting.
    let os_allows = fs::write(ro.join("probe"), b"").is_ok();
    let _ = fs::remove_file(ro.join("probe"));

    let existing = RunDir::create(&ro);
    let nested = RunDir::create(ro.join("run"));
    if os_allows {
        assert!(existing.is_ok() && nested.is_ok());
    } else {
        let e = existing.unwrap_err();
        assert!(e.to_string().contains("run folder is not writable"), "{e}");
        assert_eq!(e.path(), ro.as_path());
        let e = nested.unwrap_err();
        assert!(e.to_string().contains("cannot create run folder"), "{e}");
        assert_eq!(e.path(), ro.join("run").as_path());
    }
    fs::set_permissions(&ro, fs::Permissions::from_mode(0o755)).unwrap();
}

/// `/proc/self` exists but accepts no new files, even for root: the probe must catch it.
#[cfg(target_os = "linux")]
#[test]
fn run_dir_that_refuses_files_is_reported_as_not_writable() {
    let proc_self = Path::new("/proc/self");
    if !proc_self.is_dir() {
        return; // no procfs mounted: nothing to test against
    }
    let e = RunDir::create(proc_self).unwrap_err();
    assert!(e.to_string().contains("run folder is not writable"), "{e}");
    assert_eq!(e.path(), proc_self);
    assert!(std::error::Error::source(&e).is_some());

    let e = RunDir::create(proc_self.join("glassbox-run")).unwrap_err();
    assert!(e.to_string().contains("cannot create run folder"), "{e}");
}
