//! A newcomer finds where each module of the core and the shells is described: every Rust
//! source file under `src/` and `crates/*/src/` is covered by a row of README.md's
//! `### Layout` table.
//!
//! The rule:
//! - The table's first column holds one or more backticked paths, separated by commas. A
//!   path without a `/` is a file in the folder of the path before it in the same cell
//!   (`` `crates/hub-core/src/routes.rs`, `room_id.rs` ``). A path ending in `/`, or naming
//!   an existing folder (`crates/bench`), is a folder row.
//! - A file is covered by a row that names it, or that names `x.rs` when the file is
//!   `x/mod.rs` (the same module).
//! - A folder row covers every file below it (`crates/hub-core/src/room/` covers the room
//!   core's modules and their tests), except a crate-level row (the crate's folder
//!   `crates/X/` or its `crates/X/src/`; for the root crate, `src/`) of a crate that the
//!   table describes module by module, i.e. one where any row names a path inside its
//!   `src/`. Such a crate (`hub-core`, the root crate) must have a row for every file, and
//!   its crate row says what the crate is as a whole. A crate described only as a whole
//!   (`crates/bench`, `crates/dev-backend`, `crates/e2e`) is covered by its crate row.
//!
//! The test fails listing every file no row covers.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Every `.rs` file below `dir` (relative to the repository), as `/`-separated paths.
fn rust_files(dir: &Path, out: &mut Vec<String>) {
    let entries = std::fs::read_dir(Path::new(ROOT).join(dir))
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let entry = entry.unwrap();
        let path = dir.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path.to_str().unwrap().replace('\\', "/"));
        }
    }
}

/// The source files of the root crate (`src/`) and of every crate under `crates/`.
fn source_files() -> Vec<String> {
    let mut out = Vec::new();
    rust_files(Path::new("src"), &mut out);
    let crates = std::fs::read_dir(Path::new(ROOT).join("crates")).expect("crates/");
    for krate in crates {
        let src = PathBuf::from("crates")
            .join(krate.unwrap().file_name())
            .join("src");
        if Path::new(ROOT).join(&src).is_dir() {
            rust_files(&src, &mut out);
        }
    }
    out.sort();
    out
}

/// The paths of one row's first column, resolved (see the rule above); folders end in `/`.
fn row_paths(cell: &str) -> Vec<String> {
    let mut paths = Vec::new();
    let mut folder = String::new();
    for name in cell.split('`').skip(1).step_by(2) {
        let mut path = if name.contains('/') {
            name.to_owned()
        } else {
            format!("{folder}{name}")
        };
        if !path.ends_with('/') && Path::new(ROOT).join(&path).is_dir() {
            path.push('/');
        }
        folder = path[..path.rfind('/').map_or(0, |i| i + 1)].to_owned();
        paths.push(path);
    }
    paths
}

/// The paths named by the rows of the first table under README.md's `### Layout`.
fn layout_paths() -> (usize, BTreeSet<String>) {
    let readme = std::fs::read_to_string(Path::new(ROOT).join("README.md")).expect("README.md");
    let start = readme
        .find("\n### Layout\n")
        .expect("### Layout in README.md");
    let rows: Vec<&str> = readme[start..]
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .collect();
    let paths = rows
        .iter()
        .filter_map(|row| row.split('|').nth(1))
        .flat_map(row_paths)
        .collect();
    (rows.len(), paths)
}

/// The `src/` folder of the crate `file` belongs to: `crates/X/src/`, or `src/`.
fn crate_src(file: &str) -> String {
    match file.strip_prefix("crates/") {
        Some(rest) => format!("crates/{}/src/", rest.split('/').next().unwrap()),
        None => "src/".to_owned(),
    }
}

/// Whether `folder` is a crate-level row of the crate whose sources are in `src`.
fn is_crate_level(folder: &str, src: &str) -> bool {
    folder == src || Some(folder) == src.strip_suffix("src/")
}

fn covered(file: &str, paths: &BTreeSet<String>) -> bool {
    if paths.contains(file) {
        return true;
    }
    if let Some(module) = file.strip_suffix("/mod.rs") {
        if paths.contains(&format!("{module}.rs")) {
            return true;
        }
    }
    let src = crate_src(file);
    let by_module = paths
        .iter()
        .any(|p| p.starts_with(&src) && p.len() > src.len());
    paths.iter().any(|p| {
        p.ends_with('/') && file.starts_with(p.as_str()) && !(by_module && is_crate_level(p, &src))
    })
}

#[test]
fn every_source_file_has_a_row_in_the_readme_layout() {
    let files = source_files();
    let (rows, paths) = layout_paths();
    // Not vacuous: the walk and the table both found what this repository has.
    assert!(files.len() >= 40, "only {} source files found", files.len());
    for dir in ["src/", "crates/hub-core/src/", "crates/e2e/src/"] {
        assert!(
            files.iter().any(|f| f.starts_with(dir)),
            "no source file under {dir}"
        );
    }
    assert!(rows >= 25, "only {rows} rows in README.md's Layout table");
    assert!(
        paths.contains("src/lib.rs") && paths.contains("crates/hub-core/"),
        "the Layout table was not read as expected: {paths:?}"
    );
    // hub-core is described module by module: its crate row alone covers nothing.
    assert!(
        !covered("crates/hub-core/src/not_in_the_table.rs", &paths),
        "the crate row crates/hub-core/ must not cover hub-core's modules"
    );

    let uncovered: Vec<&String> = files.iter().filter(|f| !covered(f, &paths)).collect();
    assert!(
        uncovered.is_empty(),
        "no row of README.md's Layout table covers these source files:\n  {}\n\
         Add a row for each (or for its folder) to the `### Layout` table of README.md, \
         and the same row to README.ko.md's `### 파일 구성` table. The rule is in \
         tests/layout.rs.",
        uncovered
            .iter()
            .map(|f| f.as_str())
            .collect::<Vec<_>>()
            .join("\n  ")
    );
}
