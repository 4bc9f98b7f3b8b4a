//! The architecture's rules, checked by the build graph rather than by discipline: the compiler
//! core links no git, terminal, progress, CLI or file-walking crate; no two modules import each
//! other, directly or round a loop; no source file grows past what one person can hold in their
//! head.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

#[test]
fn the_core_depends_on_no_edge_crate() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "tree",
            "--offline",
            "-p",
            "pctl-core",
            "-e",
            "normal,build",
            "--prefix",
            "none",
            "--format",
            "{p}",
        ])
        .current_dir(ROOT)
        .output()
        .expect("cargo tree runs");
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8_lossy(&out.stdout);
    assert!(tree.contains("pctl-core"), "{tree}");
    for forbidden in [
        "git2",
        "libgit2-sys",
        "indicatif",
        "anstream",
        "clap",
        "walkdir",
        "tempfile",
    ] {
        let found: Vec<&str> = tree
            .lines()
            .filter(|l| l.split_whitespace().next() == Some(forbidden))
            .collect();
        assert!(
            found.is_empty(),
            "pctl-core must not depend on {forbidden}: {found:?}"
        );
    }
}

#[test]
fn no_source_file_is_too_long_to_read() {
    const MAX_LINES: usize = 800;
    let mut long = Vec::new();
    for dir in ["src", "crates"] {
        for entry in walk(&Path::new(ROOT).join(dir)) {
            if entry.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&entry).unwrap();
                // Unit tests at the end of a file do not count against its size.
                let code = text.split("\n#[cfg(test)]").next().unwrap_or(&text);
                let n = code.lines().count();
                if n > MAX_LINES {
                    long.push(format!("{} ({n} lines)", entry.display()));
                }
            }
        }
    }
    assert!(long.is_empty(), "split these files: {long:#?}");
}

/// Module -> modules it names (`crate::a::b`, `super::x`, `use crate::{a, b}`), in one crate,
/// from the code before its unit tests. A module naming one of its own ancestors is the parent
/// owning its children (Rust's `mod`), not a loop.
fn module_graph(src: &Path) -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let module_of = |file: &Path| -> Vec<String> {
        let rel = file.strip_prefix(src).unwrap().with_extension("");
        let mut m: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        if matches!(m.last().map(String::as_str), Some("mod" | "lib" | "main")) {
            m.pop();
        }
        m
    };
    let files: Vec<_> = walk(src)
        .into_iter()
        .filter(|f| f.extension().is_some_and(|e| e == "rs"))
        .collect();
    let modules: BTreeSet<Vec<String>> = files.iter().map(|f| module_of(f)).collect();
    let mut graph = BTreeMap::new();
    for file in &files {
        let me = module_of(file);
        let text = std::fs::read_to_string(file).unwrap();
        let code: String = text
            .split("\n#[cfg(test)]")
            .next()
            .unwrap_or(&text)
            .lines()
            .map(|l| l.split("//").next().unwrap_or(""))
            .collect::<Vec<_>>()
            .join("\n");
        let mut targets = BTreeSet::new();
        for (start, anchor) in ["crate::", "super::"]
            .iter()
            .flat_map(|a| code.match_indices(a).map(move |(i, _)| (i + a.len(), *a)))
        {
            let mut base: Vec<String> = if anchor == "crate::" {
                Vec::new()
            } else {
                // `me` already names a mod.rs file's folder: `super` is one level up either way.
                let mut b = me.clone();
                b.pop();
                b
            };
            let rest = &code[start..];
            // `super::super::x`
            let mut rest = rest;
            while anchor == "super::" && rest.starts_with("super::") {
                base.pop();
                rest = &rest["super::".len()..];
            }
            let paths: Vec<&str> = if let Some(group) = rest.strip_prefix('{') {
                group
                    .split('}')
                    .next()
                    .unwrap_or("")
                    .split(',')
                    .map(str::trim)
                    .collect()
            } else {
                vec![rest]
            };
            for p in paths {
                let mut target = base.clone();
                let mut best = None;
                for seg in p.split("::") {
                    let seg: String = seg
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    if seg.is_empty() {
                        break;
                    }
                    target.push(seg);
                    if modules.contains(&target) {
                        best = Some(target.clone());
                    }
                }
                if let Some(t) = best.or_else(|| modules.contains(&base).then(|| base.clone())) {
                    let ancestor_or_self = me.starts_with(&t);
                    if !ancestor_or_self {
                        targets.insert(t);
                    }
                }
            }
        }
        graph
            .entry(me)
            .or_insert_with(BTreeSet::new)
            .extend(targets);
    }
    graph
}

#[test]
fn no_two_modules_import_each_other() {
    for src in ["src", "crates/pctl-core/src"] {
        let graph = module_graph(&Path::new(ROOT).join(src));
        assert!(graph.len() > 10, "{src}: too few modules found: {graph:?}");
        // Depth-first search for a back edge; report the loop it closes.
        fn visit(
            m: &Vec<String>,
            graph: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
            stack: &mut Vec<Vec<String>>,
            done: &mut BTreeSet<Vec<String>>,
        ) -> Option<Vec<String>> {
            if let Some(i) = stack.iter().position(|s| s == m) {
                return Some(stack[i..].iter().chain([m]).map(|p| p.join("::")).collect());
            }
            if !done.insert(m.clone()) {
                return None;
            }
            stack.push(m.clone());
            for t in graph.get(m).into_iter().flatten() {
                if let Some(cycle) = visit(t, graph, stack, done) {
                    return Some(cycle);
                }
            }
            stack.pop();
            None
        }
        let mut done = BTreeSet::new();
        for m in graph.keys() {
            if let Some(cycle) = visit(m, &graph, &mut Vec::new(), &mut done) {
                panic!(
                    "{src}: modules import each other round a loop: {}",
                    cycle.join(" -> ")
                );
            }
        }
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            if p.file_name().is_some_and(|n| n != "target") {
                out.extend(walk(&p));
            }
        } else {
            out.push(p);
        }
    }
    out
}
