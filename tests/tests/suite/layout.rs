//! The suite's layout holds: the black-box files drive the node over HTTP only. Their code (not
//! their strings or comments) names no engine, store or database access; a test that needs one
//! belongs in `whitebox`.

use std::path::{Path, PathBuf};

/// What a black-box file's code may not contain.
const REACHES_INSIDE: [&str; 6] = [
    "engine()",
    "sql_rows",
    "trellis_engine",
    "trellis_store",
    "sqlx",
    "sea_orm",
];

/// Rust source with its comments and the contents of its string and character literals blanked
/// out, line breaks kept (so line numbers still hold).
fn code_only(src: &str) -> String {
    let c: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    // Keeps line breaks of skipped text.
    let blank = |out: &mut String, skipped: &[char]| {
        for ch in skipped {
            out.push(if *ch == '\n' { '\n' } else { ' ' });
        }
    };
    let mut i = 0;
    while i < c.len() {
        let at = |k: usize| c.get(k).copied().unwrap_or('\0');
        if c[i] == '/' && at(i + 1) == '/' {
            let end = (i..c.len()).find(|&k| c[k] == '\n').unwrap_or(c.len());
            blank(&mut out, &c[i..end]);
            i = end;
        } else if c[i] == '/' && at(i + 1) == '*' {
            let (mut depth, mut k) = (1, i + 2);
            while k < c.len() && depth > 0 {
                if c[k] == '/' && at(k + 1) == '*' {
                    depth += 1;
                    k += 2;
                } else if c[k] == '*' && at(k + 1) == '/' {
                    depth -= 1;
                    k += 2;
                } else {
                    k += 1;
                }
            }
            blank(&mut out, &c[i..k.min(c.len())]);
            i = k;
        } else if c[i] == '"' {
            let mut k = i + 1;
            while k < c.len() && c[k] != '"' {
                k += if c[k] == '\\' { 2 } else { 1 };
            }
            out.push('"');
            blank(&mut out, &c[i + 1..k.min(c.len())]);
            out.push('"');
            i = k + 1;
        } else if c[i] == '\'' {
            // A character literal ('x', '\n', '\''), or a lifetime, which is code.
            let end = if at(i + 1) == '\\' {
                (i + 3..c.len()).find(|&k| c[k] == '\'')
            } else if at(i + 2) == '\'' {
                Some(i + 2)
            } else {
                None
            };
            match end {
                Some(e) => {
                    out.push('\'');
                    blank(&mut out, &c[i + 1..e]);
                    out.push('\'');
                    i = e + 1;
                }
                None => {
                    out.push('\'');
                    i += 1;
                }
            }
        } else if c[i].is_alphanumeric() || c[i] == '_' {
            let start = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            let word: String = c[start..i].iter().collect();
            let hashes = (i..c.len()).take_while(|&k| c[k] == '#').count();
            if matches!(word.as_str(), "r" | "br" | "cr") && at(i + hashes) == '"' {
                // A raw string: up to a quote followed by as many hashes.
                let body = i + hashes + 1;
                let close = (body..c.len())
                    .find(|&k| c[k] == '"' && (1..=hashes).all(|h| at(k + h) == '#'))
                    .unwrap_or(c.len());
                out.push_str(&word);
                out.extend(std::iter::repeat_n('#', hashes));
                out.push('"');
                blank(&mut out, &c[body..close]);
                out.push('"');
                out.extend(std::iter::repeat_n('#', hashes));
                i = (close + 1 + hashes).min(c.len());
            } else {
                out.push_str(&word);
            }
        } else {
            out.push(c[i]);
            i += 1;
        }
    }
    out
}

/// `line: what` for each forbidden name in the code of `src`.
fn reaches_inside(src: &str) -> Vec<(usize, &'static str)> {
    code_only(src)
        .lines()
        .enumerate()
        .flat_map(|(n, line)| {
            REACHES_INSIDE
                .into_iter()
                .filter(move |what| line.contains(what))
                .map(move |what| (n + 1, what))
        })
        .collect()
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let p = e.expect("a directory entry").path();
        if p.is_dir() {
            out.extend(rust_files(&p));
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
    out.sort();
    out
}

#[test]
fn black_box_tests_reach_nothing_but_http() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/suite/blackbox");
    let files = rust_files(&dir);
    assert!(files.len() > 10, "the black-box files: {files:?}");
    let mut found = Vec::new();
    for f in &files {
        let src = std::fs::read_to_string(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let name = f.strip_prefix(&dir).unwrap_or(f).display().to_string();
        for (line, what) in reaches_inside(&src) {
            found.push(format!("blackbox/{name}:{line}: {what}"));
        }
    }
    assert!(
        found.is_empty(),
        "black-box tests reach past HTTP (move them to whitebox, or observe it over HTTP):\n{}",
        found.join("\n")
    );
}

#[test]
fn the_scan_reads_code_and_skips_strings_and_comments() {
    let src = "// app.engine() in a comment\n\
               let leaks = [\"sqlx\", \"sea_orm\", r#\"a \"trellis_store\" b\"#];\n\
               let c = '\"'; /* sql_rows */ let l: &'static str = \"x\";\n\
               let e = app.engine();\n\
               use trellis_engine::Engine;\n";
    assert_eq!(reaches_inside(src), [(4, "engine()"), (5, "trellis_engine")]);
}
