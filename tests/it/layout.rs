//! The code's layout, checked: no file under `src/` above 600 lines, and imports that point one way.
//! Reads every `src/**/*.rs` (outside `#[cfg(test)]` modules), collects the modules each file refers
//! to (`crate::`, `super::`, `self::` and child-module paths, `use` groups expanded) and fails on any
//! import circle between files or between folders, printing it. `config` and the small utilities
//! import nothing of the domain, and only the HTTP edge and the composition root import `http`.
//! No service is needed: `cargo test --test it layout`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Module = Vec<String>;

struct Source {
    module: Module,
    /// The module paths its own `super::` and `self::` start from.
    dir: Module,
    text: String,
}

/// The service's `src/` and the core crate's (`crates/firesight-core/src`), whose modules the service
/// re-exports under the same names, so both form one module tree here.
fn sources() -> Vec<Source> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut sources = Vec::new();
    for (root, is_core) in [(manifest.join("src"), false), (manifest.join("crates/firesight-core/src"), true)] {
        let mut files = Vec::new();
        walk(&root, &mut files);
        for path in files {
            let rel = path.strip_prefix(&root).unwrap().with_extension("");
            let mut module: Module = rel.iter().map(|c| c.to_string_lossy().into_owned()).collect();
            // `mod.rs` and `lib.rs` are their folder's module; `main.rs` is the binary beside the library.
            let is_dir_module = matches!(module.last().map(String::as_str), Some("mod" | "lib"));
            if is_dir_module {
                module.pop();
            }
            if is_core && module.is_empty() {
                continue; // the core's lib.rs only declares the modules
            }
            let dir = if module == ["main"] { Vec::new() } else { module.clone() };
            sources.push(Source { module, dir, text: std::fs::read_to_string(&path).unwrap() });
        }
    }
    sources
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            walk(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_source_file_is_longer_than_600_lines() {
    let long: Vec<String> = sources()
        .iter()
        .map(|s| (s.module.join("/"), s.text.lines().count()))
        .filter(|(_, n)| *n > 600)
        .map(|(m, n)| format!("{m}: {n} lines"))
        .collect();
    assert!(long.is_empty(), "split these along their seams:\n{}", long.join("\n"));
}

/// The code a file compiles outside tests: comments and `#[cfg(test)]` items removed.
fn code(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let trimmed = line.trim_start();
        // Comments, and a folder's re-exports of its own items (`pub use child::Item`): those are its
        // face, not a dependency of its code.
        if trimmed.starts_with("//") || trimmed.starts_with("pub use ") || trimmed.starts_with("pub(crate) use ") {
            continue;
        }
        // A `//` after code starts a comment unless it sits in a string (URLs): good enough here.
        let line = match line.find(" //") {
            Some(i) if !line[..i].contains('"') => &line[..i],
            _ => line,
        };
        out.push_str(line);
        out.push('\n');
    }
    let mut cleaned = String::with_capacity(out.len());
    let mut rest = out.as_str();
    while let Some(at) = rest.find("#[cfg(test)]") {
        cleaned.push_str(&rest[..at]);
        let after = &rest[at..];
        // Skip the item: up to its `;` or its balanced `{...}`, whichever comes first.
        let (semi, brace) = (after.find(';'), after.find('{'));
        let end = match (semi, brace) {
            (Some(s), Some(b)) if s < b => s + 1,
            (_, Some(b)) => {
                let mut depth = 0;
                let mut end = after.len();
                for (i, c) in after[b..].char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                end = b + i + 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                end
            }
            (Some(s), None) => s + 1,
            (None, None) => after.len(),
        };
        rest = &after[end..];
    }
    cleaned.push_str(rest);
    cleaned
}

/// Every path a file's code names, with `use` groups expanded (`a::{b, c::d}` is `a::b` and `a::c::d`).
fn paths(code: &str) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let bytes = code.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let starts_word =
            i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_' || bytes[i - 1] == b':');
        if starts_word && (bytes[i].is_ascii_alphabetic() || bytes[i] == b'_') {
            let (end, mut expanded) = path_at(code, i);
            if expanded.iter().any(|p| p.len() > 1) {
                found.append(&mut expanded);
            }
            i = end.max(i + 1);
        } else {
            i += 1;
        }
    }
    found
}

/// Parses `a::b::{c, d::e}` starting at `start`; returns where it ended and the expanded paths.
fn path_at(code: &str, start: usize) -> (usize, Vec<Vec<String>>) {
    let bytes = code.as_bytes();
    let mut prefix = Vec::new();
    let mut i = start;
    loop {
        let word_start = i;
        while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
            i += 1;
        }
        if i == word_start {
            return (i, vec![prefix]);
        }
        prefix.push(code[word_start..i].to_owned());
        if !code[i..].starts_with("::") {
            return (i, vec![prefix]);
        }
        i += 2;
        if code[i..].starts_with('{') {
            let mut all = Vec::new();
            i += 1;
            loop {
                while i < bytes.len() && (bytes[i].is_ascii_whitespace() || bytes[i] == b',') {
                    i += 1;
                }
                if i >= bytes.len() || bytes[i] == b'}' {
                    return (i + 1, all);
                }
                let (end, inner) = path_at(code, i);
                all.extend(inner.into_iter().map(|p| prefix.iter().cloned().chain(p).collect()));
                i = end.max(i + 1);
                // Skip ` as name` and anything else up to the next separator.
                while i < bytes.len() && bytes[i] != b',' && bytes[i] != b'}' {
                    i += 1;
                }
            }
        }
    }
}

/// The file-level module graph: which module each module's code refers to.
fn graph() -> BTreeMap<Module, BTreeSet<Module>> {
    let sources = sources();
    let modules: BTreeSet<Module> = sources.iter().map(|s| s.module.clone()).collect();
    let resolve = |path: &[String]| -> Option<Module> {
        (1..=path.len()).rev().map(|n| path[..n].to_vec()).find(|m| modules.contains(m))
    };
    let mut graph = BTreeMap::new();
    for s in &sources {
        if s.module.iter().any(|c| c == "tests") {
            continue;
        }
        let mut targets = BTreeSet::new();
        for path in paths(&code(&s.text)) {
            let absolute: Option<Module> = match path[0].as_str() {
                "crate" => Some(path[1..].to_vec()),
                "super" => {
                    let mut base = s.dir.clone();
                    let mut rest = &path[..];
                    while rest.first().is_some_and(|p| p == "super") {
                        base.pop();
                        rest = &rest[1..];
                    }
                    Some(base.into_iter().chain(rest.iter().cloned()).collect())
                }
                "self" => Some(s.dir.iter().cloned().chain(path[1..].iter().cloned()).collect()),
                child if modules.contains(&[s.dir.clone(), vec![child.to_owned()]].concat()) => {
                    Some(s.dir.iter().cloned().chain(path.iter().cloned()).collect())
                }
                _ => None,
            };
            if let Some(target) = absolute.and_then(|p| resolve(&p))
                && target != s.module
            {
                targets.insert(target);
            }
        }
        graph.insert(s.module.clone(), targets);
    }
    graph
}

/// The circles of a graph (strongly connected components of more than one node), each with its edges.
fn circles(graph: &BTreeMap<Module, BTreeSet<Module>>) -> Vec<String> {
    let nodes: Vec<&Module> =
        graph.keys().chain(graph.values().flatten()).collect::<BTreeSet<_>>().into_iter().collect();
    let reach = |from: &Module| -> BTreeSet<Module> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.clone()];
        while let Some(m) = todo.pop() {
            for next in graph.get(&m).into_iter().flatten() {
                if seen.insert(next.clone()) {
                    todo.push(next.clone());
                }
            }
        }
        seen
    };
    let reachable: BTreeMap<&Module, BTreeSet<Module>> = nodes.iter().map(|n| (*n, reach(n))).collect();
    let mut reported = BTreeSet::new();
    let mut out = Vec::new();
    for n in &nodes {
        if reported.contains(*n) || !reachable[n].contains(*n) {
            continue;
        }
        let members: BTreeSet<&Module> =
            nodes.iter().copied().filter(|m| reachable[n].contains(*m) && reachable[m].contains(*n)).collect();
        let mut lines = Vec::new();
        for a in &members {
            reported.insert((*a).clone());
            for b in graph.get(*a).into_iter().flatten().filter(|b| members.contains(b)) {
                lines.push(format!("  {} -> {}", name(a), name(b)));
            }
        }
        out.push(lines.join("\n"));
    }
    out
}

fn name(m: &Module) -> String {
    if m.is_empty() { "lib".to_owned() } else { m.join("/") }
}

/// `graph` with every module cut to its first `depth` parts (its folder at that depth).
fn folders(graph: &BTreeMap<Module, BTreeSet<Module>>, depth: usize) -> BTreeMap<Module, BTreeSet<Module>> {
    let cut = |m: &Module| m[..m.len().min(depth)].to_vec();
    let mut folded: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for (from, tos) in graph {
        for to in tos {
            let (a, b) = (cut(from), cut(to));
            // A module and the folder it heads are one at this depth; skip the crate root.
            if a != b && !from.is_empty() {
                folded.entry(a).or_default().insert(b);
            }
        }
    }
    folded
}

#[test]
fn no_import_circle_between_files_or_folders() {
    let graph = graph();
    let files: BTreeMap<Module, BTreeSet<Module>> =
        graph.iter().filter(|(m, _)| !m.is_empty() && m[0] != "main").map(|(m, t)| (m.clone(), t.clone())).collect();
    let mut found = Vec::new();
    for c in circles(&files) {
        found.push(format!("files:\n{c}"));
    }
    for depth in 1..=3 {
        for c in circles(&folders(&files, depth)) {
            found.push(format!("folders at depth {depth}:\n{c}"));
        }
    }
    assert!(found.is_empty(), "import circles (each module imports one that imports it back):\n{}", found.join("\n"));
}

/// The modules below the domain and the only ones each may import.
const FOUNDATION: [(&str, &[&str]); 7] = [
    ("config", &["duration"]),
    ("duration", &[]),
    ("forms", &["duration"]),
    ("net", &[]),
    ("keys", &["config"]),
    ("metrics", &[]),
    ("telemetry", &["config"]),
];

#[test]
fn the_edge_and_the_utilities_import_one_way() {
    let graph = graph();
    for (module, targets) in &graph {
        let top = module.first().map(String::as_str).unwrap_or("");
        for target in targets {
            let t = target[0].as_str();
            if t == "http" {
                assert!(
                    matches!(top, "http" | "" | "main"),
                    "{} imports the HTTP edge ({}); the edge depends on the domain, never the reverse",
                    name(module),
                    name(target)
                );
            }
            if let Some((_, allowed)) = FOUNDATION.iter().find(|(m, _)| *m == top) {
                assert!(
                    t == top || allowed.contains(&t),
                    "{} imports {}: the foundation below the domain imports only {allowed:?}",
                    name(module),
                    name(target)
                );
            }
        }
    }
    // The checker itself sees what it should: a known edge of each kind.
    let lib = &graph[&Vec::new()];
    assert!(lib.contains(&vec!["http".to_owned()]), "lib.rs -> http not found");
    let stats = &graph[&vec!["http".to_owned(), "stats".to_owned()]];
    assert!(stats.contains(&vec!["http".to_owned(), "params".to_owned(), "filters".to_owned()]), "{stats:?}");
    assert!(stats.contains(&vec!["read".to_owned(), "service".to_owned()]), "{stats:?}");
}

#[test]
fn the_path_reader_expands_use_groups() {
    let p = paths("use crate::a::{b, c::{d, e as f}};\nlet x = super::g::h(1); // crate::ignored::x\n");
    let p: BTreeSet<String> = p.into_iter().map(|p| p.join("::")).collect();
    for wanted in ["crate::a::b", "crate::a::c::d", "crate::a::c::e", "super::g::h"] {
        assert!(p.contains(wanted), "{wanted} missing from {p:?}");
    }
    assert!(code("fn a() {}\n#[cfg(test)]\nmod tests {\n use crate::x::y;\n}\nfn b() {}\n").contains("fn b"));
    assert!(!code("#[cfg(test)]\nmod tests {\n use crate::x::y;\n}\n").contains("crate::x"));
}
