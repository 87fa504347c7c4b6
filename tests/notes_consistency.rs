//! notes/ and the code cite each other both ways (notes/README.md, "How the citations are
//! checked"):
//! - every equation tag a code comment cites (`(B4)`, `B24–B25`, `(O1–O13)`) is defined in
//!   notes/ — a line of a note that starts with `(TAG)` or `**(TAG)**`;
//! - every equation defined in notes/ is cited by some code comment;
//! - every row of the table in notes/README.md names equations that exist, and functions and
//!   tests (`path::name`) that exist in the files it names.
//!
//! Plain string scanning, no regex crate: a tag is a prefix letter from the legend followed by
//! one or two digits and an optional suffix (`a`, `b`, `′`).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The equation prefixes of notes/README.md's legend.
const PREFIXES: &str = "BCDEFGKLMNOPRTV";

/// Words in code comments that look like tags but name something else.
const NOT_TAGS: &[&str] = &["F32", "F64"];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn files_with_ext(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            if p.file_name().is_some_and(|n| n != "target") {
                files_with_ext(&p, ext, out);
            }
        } else if p.extension().is_some_and(|x| x == ext) {
            out.push(p);
        }
    }
}

/// A tag starting at the beginning of `s`: (prefix, number, suffix, bytes consumed).
fn tag_at(s: &str) -> Option<(char, u32, String, usize)> {
    let mut chars = s.char_indices();
    let (_, p) = chars.next()?;
    if !PREFIXES.contains(p) {
        return None;
    }
    let digits: String = s[1..].chars().take_while(|c| c.is_ascii_digit()).collect();
    if digits.is_empty() || digits.len() > 2 {
        return None;
    }
    let mut used = 1 + digits.len();
    let mut suffix = String::new();
    if let Some(c) = s[used..].chars().next()
        && (c == 'a' || c == 'b' || c == 'c' || c == 'd' || c == '′')
    {
        // A suffix letter only when the word ends there ("B20a", not "B2abc").
        let after = &s[used + c.len_utf8()..];
        if !after.chars().next().is_some_and(|n| n.is_alphanumeric()) {
            suffix.push(c);
            used += c.len_utf8();
        }
    }
    // The tag must end the word.
    if s[used..]
        .chars()
        .next()
        .is_some_and(|n| n.is_alphanumeric())
    {
        return None;
    }
    Some((p, digits.parse().ok()?, suffix, used))
}

/// Tags defined in notes/: `(TAG)` first on a line, optionally after `**`, `- ` or `| `.
fn defined_tags() -> BTreeMap<String, String> {
    let mut notes = Vec::new();
    files_with_ext(&root().join("notes"), "md", &mut notes);
    let mut defs = BTreeMap::new();
    for f in notes {
        let text = fs::read_to_string(&f).unwrap();
        for (i, line) in text.lines().enumerate() {
            let l = line.trim_start();
            let l = l
                .strip_prefix("**")
                .or_else(|| l.strip_prefix("- "))
                .or_else(|| l.strip_prefix("| "))
                .unwrap_or(l);
            let Some(rest) = l.strip_prefix('(') else {
                continue;
            };
            if let Some((p, n, s, used)) = tag_at(rest)
                && rest[used..].starts_with(')')
            {
                let name = f.strip_prefix(root()).unwrap().display().to_string();
                defs.entry(format!("{p}{n}{s}"))
                    .or_insert(format!("{name}:{}", i + 1));
            }
        }
    }
    defs
}

/// Every tag cited in a comment of `text`, ranges (`O1–O13`) expanded over `defined`.
fn cited_in(text: &str, defined: &BTreeMap<String, String>, out: &mut BTreeSet<String>) {
    for line in text.lines() {
        let Some(at) = line.find("//") else {
            continue;
        };
        let c = &line[at..];
        let mut i = 0;
        while i < c.len() {
            let word_start = i == 0
                || !c[..i]
                    .chars()
                    .next_back()
                    .is_some_and(char::is_alphanumeric);
            let found = if word_start { tag_at(&c[i..]) } else { None };
            let Some((p, n, s, used)) = found else {
                i += c[i..].chars().next().map_or(1, char::len_utf8);
                continue;
            };
            out.insert(format!("{p}{n}{s}"));
            let mut j = i + used;
            // A range: `B24–B25`, `O1–O13`, `(B20b–B20d)`.
            let rest = c[j..].trim_start();
            if let Some(after) = rest.strip_prefix('–').or_else(|| rest.strip_prefix("--")) {
                let after = after.trim_start();
                let after_p = after.strip_prefix(p).unwrap_or(after);
                let digits: String = after_p.chars().take_while(|c| c.is_ascii_digit()).collect();
                if let Ok(end) = digits.parse::<u32>() {
                    for t in defined.keys() {
                        if let Some((tp, tn, _, _)) = tag_at(t)
                            && tp == p
                            && (n..=end).contains(&tn)
                        {
                            out.insert(t.clone());
                        }
                    }
                    j = c.len() - after_p.len() + digits.len();
                }
            }
            i = j;
        }
    }
}

fn source_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    files_with_ext(&root().join("crates"), "rs", &mut files);
    for dir in ["src", "tests", "benches", "examples"] {
        files_with_ext(&root().join(dir), "rs", &mut files);
    }
    files
}

#[test]
fn every_tag_cited_in_code_is_defined_in_notes() {
    let defined = defined_tags();
    assert!(
        defined.len() > 100,
        "too few equations found: {}",
        defined.len()
    );
    let mut missing = Vec::new();
    for f in source_files() {
        if f.ends_with("tests/notes_consistency.rs") {
            continue; // its negative controls cite tags that must not exist
        }
        let mut cited = BTreeSet::new();
        cited_in(&fs::read_to_string(&f).unwrap(), &defined, &mut cited);
        for t in cited {
            if !defined.contains_key(&t) && !NOT_TAGS.contains(&t.as_str()) {
                missing.push(format!("{t} in {}", f.display()));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "cited but not defined in notes/: {missing:#?}"
    );
}

#[test]
fn every_equation_in_notes_is_cited_by_code() {
    let defined = defined_tags();
    let mut cited = BTreeSet::new();
    for f in source_files() {
        cited_in(&fs::read_to_string(&f).unwrap(), &defined, &mut cited);
    }
    let uncited: Vec<_> = defined
        .iter()
        .filter(|(t, _)| !cited.contains(*t))
        .map(|(t, at)| format!("{t} ({at})"))
        .collect();
    assert!(
        uncited.is_empty(),
        "defined in notes/ but cited by no code: {uncited:#?}"
    );
}

/// `path::name` items in backticks in one table cell.
fn items(cell: &str) -> Vec<(String, String)> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .filter_map(|item| {
            let (path, name) = item.rsplit_once("::")?;
            Some((path.to_string(), name.to_string()))
        })
        .collect()
}

#[test]
fn the_notes_index_names_equations_functions_and_tests_that_exist() {
    let defined = defined_tags();
    let index = fs::read_to_string(root().join("notes/README.md")).unwrap();
    let mut rows = 0;
    let mut problems = Vec::new();
    for line in index.lines().filter(|l| l.starts_with("| ")) {
        let cells: Vec<&str> = line.split(" | ").collect();
        if cells.len() < 4 || !cells[2].contains("::") {
            continue; // the header, its rule, or another table
        }
        rows += 1;
        let mut tags = BTreeSet::new();
        cited_in(&format!("// {}", cells[0]), &defined, &mut tags);
        if tags.is_empty() {
            problems.push(format!("no equation in row: {line}"));
        }
        for t in &tags {
            if !defined.contains_key(t) {
                problems.push(format!("{t} is not defined in notes/"));
            }
        }
        for (path, name) in items(cells[2]).into_iter().chain(items(cells[3])) {
            match fs::read_to_string(root().join(&path)) {
                Ok(text)
                    if ["fn", "struct", "enum"]
                        .iter()
                        .any(|kw| text.contains(&format!("{kw} {name}"))) => {}
                Ok(_) => problems.push(format!("no `fn|struct|enum {name}` in {path}")),
                Err(_) => problems.push(format!("no file {path} (for {name})")),
            }
        }
    }
    assert!(rows >= 20, "the index table has only {rows} rows");
    assert!(problems.is_empty(), "notes/README.md: {problems:#?}");
}

/// Repository paths a document mentions (`crates/…`, `tests/…`, `benches/…`, `examples/…`,
/// `scripts/…`, `notes/…`, `datasets/…`), up to the first character that cannot be in one.
fn mentioned_paths(text: &str) -> Vec<String> {
    const ROOTS: &[&str] = &[
        "crates/",
        "tests/",
        "benches/",
        "examples/",
        "scripts/",
        "notes/",
        "datasets/",
    ];
    let mut out = Vec::new();
    for (i, _) in text.char_indices() {
        let before = text[..i].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || "/._-".contains(c)) {
            continue;
        }
        let rest = &text[i..];
        if !ROOTS.iter().any(|r| rest.starts_with(r)) {
            continue;
        }
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || "/._-".contains(c)))
            .unwrap_or(rest.len());
        let path = rest[..end].trim_end_matches(['.', '/']);
        // Only file names with an extension: folders and globs are prose.
        if path.rsplit('/').next().is_some_and(|f| f.contains('.')) {
            out.push(path.to_string());
        }
    }
    out
}

#[test]
fn every_file_the_notes_and_readme_mention_exists() {
    let mut docs = Vec::new();
    files_with_ext(&root().join("notes"), "md", &mut docs);
    docs.push(root().join("README.md"));
    let mut missing = BTreeSet::new();
    for doc in docs {
        let text = fs::read_to_string(&doc).unwrap();
        for p in mentioned_paths(&text) {
            if !root().join(&p).exists() {
                let name = doc.strip_prefix(root()).unwrap().display().to_string();
                missing.insert(format!("{p} (in {name})"));
            }
        }
    }
    assert!(missing.is_empty(), "mentioned but missing: {missing:#?}");
}

/// The checks themselves must be able to fail (a negative control each).
#[test]
fn the_checks_catch_an_undefined_tag_a_range_and_a_missing_function() {
    let defined: BTreeMap<String, String> = ["B1", "B2", "B3", "O11′"]
        .iter()
        .map(|t| (t.to_string(), String::new()))
        .collect();
    let mut cited = BTreeSet::new();
    cited_in(
        "x = 1; // (B1–B3) and O11′, Q7, B99, AB1, B2x",
        &defined,
        &mut cited,
    );
    assert_eq!(
        cited.into_iter().collect::<Vec<_>>(),
        ["B1", "B2", "B3", "B99", "O11′"]
    );
    assert_eq!(
        items("`crates/core/src/dense.rs::dense_forward`, `a::b`"),
        [
            (
                "crates/core/src/dense.rs".to_string(),
                "dense_forward".to_string()
            ),
            ("a".to_string(), "b".to_string())
        ]
    );
    assert_eq!(
        mentioned_paths(
            "see `crates/core/src/dense.rs`, notes/gemm.md. and crates/x/ or mycrates/a.rs"
        ),
        ["crates/core/src/dense.rs", "notes/gemm.md"]
    );
    assert!(tag_at("B20a)").is_some_and(|(_, n, s, _)| n == 20 && s == "a"));
    assert!(tag_at("Bx").is_none());
    assert!(tag_at("B123").is_none());
}
