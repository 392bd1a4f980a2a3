//! The house has four floors and every import points down:
//! `http -> graphql -> domain -> db`. This test reads the sources and fails
//! on an import that points up (or sideways into a framework a floor must
//! not know), so the direction is checked, not just hoped for.

use std::path::{Path, PathBuf};

/// What each floor may not mention.
const RULES: [(&str, &[&str]); 3] = [
    (
        "src/db",
        &[
            "crate::domain",
            "crate::graphql",
            "crate::http",
            "async_graphql",
            "axum",
        ],
    ),
    (
        "src/domain",
        &["crate::graphql", "crate::http", "async_graphql", "axum"],
    ),
    ("src/graphql", &["crate::http", "axum"]),
];

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read source dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

#[test]
fn imports_point_down_only() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut violations = Vec::new();
    for (floor, forbidden) in RULES {
        for file in rust_files(&root.join(floor)) {
            let source = std::fs::read_to_string(&file).expect("read source");
            for (number, line) in source.lines().enumerate() {
                let code = line.split("//").next().unwrap_or_default();
                for word in forbidden {
                    if code.contains(word) {
                        violations.push(format!(
                            "{}:{}: {floor} must not use {word}: {}",
                            file.strip_prefix(root).unwrap_or(&file).display(),
                            number + 1,
                            line.trim()
                        ));
                    }
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "imports that point up:\n{}",
        violations.join("\n")
    );
}

#[test]
fn no_source_file_is_over_600_lines() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let long: Vec<String> = rust_files(&root.join("src"))
        .into_iter()
        .filter(|file| !file.ends_with("db/schema.rs"))
        .filter_map(|file| {
            let lines = std::fs::read_to_string(&file).ok()?.lines().count();
            (lines > 600).then(|| format!("{} has {lines} lines", file.display()))
        })
        .collect();
    assert!(long.is_empty(), "split these:\n{}", long.join("\n"));
}
