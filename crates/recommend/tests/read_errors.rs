//! Bad interactions files give errors that name the file, and the line and column of a bad
//! cell; tab and semicolon files and a file without a time column read like a comma one.

use std::path::PathBuf;

use glassbox_recommend::read::{Columns, read_interactions};

fn write(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("glassbox-recommend-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn columns(time: Option<&str>) -> Columns {
    Columns {
        user: "user".into(),
        item: "item".into(),
        time: time.map(String::from),
        basket: None,
    }
}

#[test]
fn an_unknown_column_is_named_with_the_header() {
    let p = write("unknown.csv", "user,product,when\nu1,A,2011-01-01\n");
    let e = read_interactions(&p, &columns(Some("when")))
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown.csv") && e.contains("\"item\""), "{e}");
    assert!(e.contains("user, product, when"), "{e}");
}

#[test]
fn a_bad_time_names_its_line_and_column() {
    let p = write(
        "bad_time.csv",
        "user,item,when\nu1,A,2011-01-01\nu2,B,yesterday\n",
    );
    let e = read_interactions(&p, &columns(Some("when")))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("bad_time.csv, line 3, column \"when\"") && e.contains("yesterday"),
        "{e}"
    );
}

#[test]
fn an_empty_id_and_an_empty_file_are_errors() {
    let p = write("empty_id.csv", "user,item\nu1,\n");
    let e = read_interactions(&p, &columns(None))
        .unwrap_err()
        .to_string();
    assert!(e.contains("line 2") && e.contains("empty item id"), "{e}");
    let p = write("empty.csv", "");
    assert!(read_interactions(&p, &columns(None)).is_err());
}

#[test]
fn tab_and_semicolon_files_and_unix_seconds_read_alike() {
    let comma = write(
        "c.csv",
        "user,item,when\nu1,A,2011-01-01 00:00:00\nu2,B,1293840060\n",
    );
    let tab = write(
        "t.tsv",
        "user\titem\twhen\nu1\tA\t1293840000\nu2\tB\t2011-01-01 00:01:00\n",
    );
    let semi = write(
        "s.csv",
        "user;item;when\nu1;A;1293840000\nu2;B;1293840060\n",
    );
    let a = read_interactions(&comma, &columns(Some("when"))).unwrap();
    assert_eq!(a.len(), 2);
    assert_eq!(a[0].time, 1_293_840_000);
    assert_eq!(a, read_interactions(&tab, &columns(Some("when"))).unwrap());
    assert_eq!(a, read_interactions(&semi, &columns(Some("when"))).unwrap());
}
