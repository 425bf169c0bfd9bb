//! The engine's folders depend on each other in one direction only, and no file grows past what
//! one reader takes in. This test reads the engine's sources: a use of a later folder from an
//! earlier one (`crate::pipelines` in `records/`, or a method of the engine defined only in a
//! later folder) fails it, naming the file and the line, as does a file over [`MAX_LINES`].

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use crate::sql_free::sources;

/// Each top-level module of the engine, lowest first: a module may use only those before it.
const ORDER: [&str; 18] = [
    "context",
    "zone",
    "compiled",
    "files",
    "notifications",
    "events",
    "wake",
    "audit",
    "access",
    "records",
    "directory",
    "pipelines",
    "reports",
    "imports",
    "automation",
    "comments",
    "settings",
    "apps",
];

/// Longest source file.
const MAX_LINES: usize = 800;

/// The top-level module a source file belongs to (`records/write.rs` → `records`); `None` for
/// the crate root and the tests about the crate.
fn module_of(root: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(root).ok()?;
    let first = rel
        .components()
        .next()?
        .as_os_str()
        .to_str()?
        .trim_end_matches(".rs")
        .to_string();
    ORDER.contains(&first.as_str()).then_some(first)
}

/// The code of a line without its comment (`//`, `///`, `//!`); good enough for this source.
fn code(line: &str) -> &str {
    match line.find("//") {
        Some(i) if !line[..i].contains('"') => &line[..i],
        _ => line,
    }
}

/// The identifiers following `prefix` in `text` (`crate::` → `records`).
fn after<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
    text.match_indices(prefix)
        .map(|(i, _)| {
            let rest = &text[i + prefix.len()..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            &rest[..end]
        })
        .collect()
}

/// The names of methods (and associated functions) defined at the first indentation of an
/// `impl` block, per module.
fn methods(files: &[(String, String)]) -> HashMap<String, HashSet<String>> {
    let mut out: HashMap<String, HashSet<String>> = HashMap::new();
    for (module, text) in files {
        for line in text.lines() {
            let Some(rest) = line.strip_prefix("    ") else {
                continue;
            };
            if rest.starts_with(' ') {
                continue;
            }
            for (i, _) in rest.match_indices("fn ") {
                if i == 0 || rest[..i].ends_with(' ') {
                    if let Some(name) = after(&rest[i..], "fn ").first() {
                        out.entry((*name).to_string()).or_default().insert(module.clone());
                    }
                    break;
                }
            }
        }
    }
    out
}

#[test]
fn folders_use_only_the_folders_below_them() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut paths = Vec::new();
    sources(&root, &mut paths);
    let files: Vec<(String, String, PathBuf)> = paths
        .into_iter()
        .filter_map(|p| {
            Some((
                module_of(&root, &p)?,
                std::fs::read_to_string(&p).expect("a source file"),
                p,
            ))
        })
        .collect();
    assert!(files.len() > 40, "{} files", files.len());
    let rank = |m: &str| ORDER.iter().position(|o| *o == m).expect("a module in ORDER");
    let defined = methods(&files.iter().map(|(m, t, _)| (m.clone(), t.clone())).collect::<Vec<_>>());
    let mut found = Vec::new();
    for (module, text, path) in &files {
        let me = rank(module);
        for (i, line) in text.lines().enumerate() {
            let line = code(line);
            let at = || format!("{}:{}: {}", path.display(), i + 1, line.trim());
            for used in after(line, "crate::") {
                if ORDER.contains(&used) && rank(used) > me {
                    found.push(format!("{} (uses {used})", at()));
                }
            }
            // A method of the engine defined only in later folders.
            for receiver in ["self.", "engine."] {
                for name in after(line, receiver) {
                    let called = line.contains(&format!("{receiver}{name}("));
                    if let Some(owners) = defined.get(name)
                        && called
                        && !owners.contains(module)
                        && owners.iter().all(|o| rank(o) > me)
                    {
                        found.push(format!("{} (calls {name} of {owners:?})", at()));
                    }
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "a folder uses one above it (order: {ORDER:?}):\n{}",
        found.join("\n")
    );
}

#[test]
fn no_source_file_is_longer_than_one_reader_takes_in() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut paths = Vec::new();
    sources(&root, &mut paths);
    let long: Vec<String> = paths
        .iter()
        .filter_map(|p| {
            let n = std::fs::read_to_string(p).expect("a source file").lines().count();
            (n > MAX_LINES).then(|| format!("{}: {n} lines", p.display()))
        })
        .collect();
    assert!(long.is_empty(), "split these by concept:\n{}", long.join("\n"));
}
