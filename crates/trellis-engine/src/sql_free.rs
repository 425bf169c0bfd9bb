//! The engine holds no SQL: statements, connections and transactions are the store's. This
//! test reads the engine's sources and fails on any use of sea-orm or sea-query, so a statement
//! written here instead of as a named store function does not go unnoticed.

use std::path::Path;

/// Every `.rs` file below `dir` (the engine's sources, for the tests that read them).
pub(crate) fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("the engine's sources") {
        let path = entry.expect("an entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn the_engine_builds_no_statement_and_reaches_no_connection() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&root, &mut files);
    assert!(files.len() > 10, "{files:?}");
    // Spelled in two halves so this file does not find itself.
    let banned = [
        ["sea", "_orm"],
        ["sea", "_query"],
        ["Connection", "Trait"],
        ["Transaction", "Trait"],
        ["execute", "_unprepared"],
    ]
    .map(|[a, b]| format!("{a}{b}"));
    let mut found = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).expect("a source file");
        for (i, line) in text.lines().enumerate() {
            for b in &banned {
                if line.contains(b.as_str()) {
                    found.push(format!("{}:{}: {}", f.display(), i + 1, line.trim()));
                }
            }
        }
    }
    assert!(found.is_empty(), "SQL belongs in trellis-store:\n{}", found.join("\n"));
}
