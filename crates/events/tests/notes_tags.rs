//! notes/events.md and the code cite each other: every tag (V1, V2, …) defined in the notes — a
//! line starting with `(Vn)` or `**(Vn)**` — names a function that exists in `src/` and is cited
//! by a comment in `src/`, and every tag cited in `src/` is defined in the notes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Tags `V` + 1–2 digits in `text`, not part of a longer word or number.
fn tags_in(text: &str) -> BTreeSet<String> {
    let bytes = text.as_bytes();
    let mut tags = BTreeSet::new();
    for (i, &b) in bytes.iter().enumerate() {
        let starts_word = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        if b != b'V' || !starts_word {
            continue;
        }
        let digits = bytes[i + 1..]
            .iter()
            .take_while(|d| d.is_ascii_digit())
            .count();
        let next = bytes.get(i + 1 + digits);
        let ends_word = next.is_none_or(|n| !(n.is_ascii_alphanumeric() || *n == b'_'));
        if (1..=2).contains(&digits) && ends_word {
            tags.insert(text[i..i + 1 + digits].to_string());
        }
    }
    tags
}

fn source_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            source_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_tag_is_defined_in_the_notes_and_cited_in_the_code() {
    let notes = std::fs::read_to_string(crate_dir().join("../../notes/events.md"))
        .expect("notes/events.md");
    let mut files = Vec::new();
    source_files(&crate_dir().join("src"), &mut files);
    let code: String = files
        .iter()
        .map(|f| std::fs::read_to_string(f).expect("source"))
        .collect();

    // Definitions: tag → its line.
    let mut defined = BTreeMap::new();
    for line in notes.lines() {
        let rest = line.strip_prefix("**(").or_else(|| line.strip_prefix('('));
        let Some(tag) = rest.and_then(|r| r.split(')').next()) else {
            continue;
        };
        if tags_in(tag).len() == 1 && tags_in(tag).contains(tag) {
            assert!(
                defined.insert(tag.to_string(), line).is_none(),
                "{tag} is defined twice"
            );
        }
    }
    assert!(defined.len() >= 25, "found {} definitions", defined.len());

    for (tag, line) in &defined {
        // The functions named in backticks on the definition line; at least one must exist.
        let functions: Vec<&str> = line
            .split('`')
            .skip(1)
            .step_by(2)
            .filter_map(|name| name.rsplit("::").next())
            .filter(|name| {
                !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            })
            .filter(|name| {
                code.contains(&format!("fn {name}(")) || code.contains(&format!("fn {name}<"))
            })
            .collect();
        assert!(
            !functions.is_empty(),
            "{tag}'s definition names no function of src/: {line}"
        );
    }

    let cited = tags_in(&code);
    let defined_tags: BTreeSet<String> = defined.keys().cloned().collect();
    let uncited: Vec<&String> = defined_tags.difference(&cited).collect();
    let undefined: Vec<&String> = cited.difference(&defined_tags).collect();
    assert!(
        uncited.is_empty(),
        "defined in notes/events.md, cited nowhere in src/: {uncited:?}"
    );
    assert!(
        undefined.is_empty(),
        "cited in src/, not defined in notes/events.md: {undefined:?}"
    );
}

#[test]
fn the_tag_scanner_reads_tags_and_only_tags() {
    let found = tags_in("(V1) and (V12)–(V21); V5, not V123, VV2, XV3, V1a or V_2");
    let expected: BTreeSet<String> = ["V1", "V12", "V21", "V5"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(found, expected);
}
