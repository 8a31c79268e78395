//! The crate's layering, read from its sources: no top-level module imports
//! its way back to itself (the session core imports no front end or engine,
//! `ui` does not import `replay`, `cli` and `demo` do not import each
//! other), and nothing changes the process environment.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a source file belongs to, and the code in it
/// without comments.
fn read(src: &Path, path: &Path) -> (String, String) {
    let rel = path.strip_prefix(src).expect("under src");
    let top = rel
        .components()
        .next()
        .and_then(|c| c.as_os_str().to_str())
        .unwrap_or_default()
        .trim_end_matches(".rs")
        .to_string();
    let code = std::fs::read_to_string(path)
        .expect("read source")
        .lines()
        .map(|line| line.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    (top, code)
}

/// `crate::NAME` paths in `code`.
fn crate_paths(code: &str) -> BTreeSet<String> {
    code.match_indices("crate::")
        .map(|(i, m)| {
            code[i + m.len()..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect()
        })
        .collect()
}

fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for path in &files {
        let (top, code) = read(&src, path);
        let edges = graph.entry(top.clone()).or_default();
        edges.extend(crate_paths(&code).into_iter().filter(|m| *m != top));
    }
    graph
}

/// A cycle through `node`, if there is one.
fn cycle(graph: &BTreeMap<String, BTreeSet<String>>, path: &mut Vec<String>) -> Option<Vec<String>> {
    let node = path.last().cloned()?;
    for next in graph.get(&node).into_iter().flatten() {
        if let Some(at) = path.iter().position(|p| p == next) {
            let mut found = path[at..].to_vec();
            found.push(next.clone());
            return Some(found);
        }
        path.push(next.clone());
        if let Some(found) = cycle(graph, path) {
            return Some(found);
        }
        path.pop();
    }
    None
}

#[test]
fn no_module_imports_its_way_in_a_circle() {
    let graph = imports();
    assert!(graph.len() > 10, "{graph:?}");
    for module in graph.keys() {
        let found = cycle(&graph, &mut vec![module.clone()]);
        assert!(
            found.is_none(),
            "an import cycle: {}",
            found.unwrap_or_default().join(" -> ")
        );
    }
    let core = &graph["session"];
    for front in ["engine", "ui", "headless", "replay", "report", "cli", "launch"] {
        assert!(!core.contains(front), "session imports {front}");
    }
    assert!(!graph["ui"].contains("replay"));
    assert!(!graph["demo"].contains("cli"));
}

#[test]
fn nothing_changes_the_process_environment() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    for path in files {
        let (_, code) = read(&src, &path);
        assert!(
            !code.contains("set_var"),
            "{} sets an environment variable",
            path.display()
        );
    }
}
