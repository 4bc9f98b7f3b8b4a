//! The architecture's rules, checked by the build graph rather than by discipline: the compiler
//! core links no git, terminal, progress, CLI or file-walking crate; no source file grows past
//! what one person can hold in their head.

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
