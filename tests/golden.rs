//! Golden tests: each `golden-tests/<case>/` has `args` (the `pctl render` arguments, one per
//! line, paths relative to the repository) and `expected/`, the exact deploy tree. The whole tree
//! is compared (missing, extra and changed files) and differences are shown as unified diffs.
//! `PCTL_BLESS=1 cargo test --test suite golden::` rewrites `expected/`.
//!
//! Every case also proves determinism: a second render into the same folder changes nothing,
//! and renders on one thread and on many give identical bytes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
/// Pinned so expected trees do not depend on this repository's own commits.
const SHA: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c";
const TAG: &str = "1.4.2";

fn read_tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    if !dir.exists() {
        return files;
    }
    for entry in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let entry = entry.unwrap();
        if entry.file_type().is_file() {
            let rel = entry
                .path()
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            // The render cache is the folder's, not part of the deploy tree (checked apart).
            if rel != ".keep" && rel != pctl::cache::FILE {
                files.insert(rel, std::fs::read(entry.path()).unwrap());
            }
        }
    }
    files
}

fn render(case: &Path, out: &Path, threads: Option<usize>) -> serde_json::Value {
    render_with(case, out, threads, &[])
}

fn render_with(
    case: &Path,
    out: &Path,
    threads: Option<usize>,
    extra: &[&str],
) -> serde_json::Value {
    render_env(case, out, threads, extra, &[])
}

fn render_env(
    case: &Path,
    out: &Path,
    threads: Option<usize>,
    extra: &[&str],
    env: &[(&str, &str)],
) -> serde_json::Value {
    let args: Vec<String> = std::fs::read_to_string(case.join("args"))
        .expect("case has an args file")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pctl"));
    cmd.current_dir(ROOT)
        .args(["render", "--format", "json"])
        .args(&args)
        .args(extra)
        .arg("--out")
        .arg(out);
    if !args.iter().any(|a| a == "--source-sha") {
        cmd.args(["--source-sha", SHA]);
    }
    if !args.iter().any(|a| a == "--image-tag") {
        cmd.args(["--image-tag", TAG]);
    }
    if let Some(n) = threads {
        cmd.env("RAYON_NUM_THREADS", n.to_string());
    }
    cmd.envs(env.iter().copied());
    let output = cmd.output().expect("run pctl");
    assert!(
        output.status.success(),
        "{}: pctl render failed ({:?}):\n{}\n{}",
        case.display(),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("summary JSON")
}

fn compare(
    expected: &BTreeMap<String, Vec<u8>>,
    actual: &BTreeMap<String, Vec<u8>>,
) -> Vec<String> {
    let mut problems = Vec::new();
    for (path, want) in expected {
        match actual.get(path) {
            None => problems.push(format!("--- expected/{path} was not produced")),
            Some(got) if got != want => {
                let (w, g) = (String::from_utf8_lossy(want), String::from_utf8_lossy(got));
                let diff = similar::TextDiff::from_lines(w.as_ref(), g.as_ref());
                problems.push(
                    diff.unified_diff()
                        .context_radius(2)
                        .header(&format!("expected/{path}"), &format!("actual/{path}"))
                        .to_string(),
                );
            }
            _ => {}
        }
    }
    for path in actual.keys().filter(|p| !expected.contains_key(*p)) {
        problems.push(format!("+++ actual/{path} is new"));
    }
    problems
}

fn cases() -> Vec<PathBuf> {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(Path::new(ROOT).join("golden-tests"))
        .expect("golden-tests/ exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("args").is_file())
        .collect();
    cases.sort();
    cases
}

#[test]
fn golden_trees_match_and_render_deterministically() {
    let bless = std::env::var_os("PCTL_BLESS").is_some();
    let cases = cases();
    assert!(!cases.is_empty(), "no golden cases");
    let mut failures = Vec::new();
    for case in &cases {
        let name = case.file_name().unwrap().to_string_lossy().to_string();
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        render(case, &out, None);
        let actual = read_tree(&out);
        let expected_dir = case.join("expected");
        if bless {
            let _ = std::fs::remove_dir_all(&expected_dir);
            for (path, bytes) in &actual {
                let p = expected_dir.join(path);
                std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                std::fs::write(p, bytes).unwrap();
            }
        } else {
            let problems = compare(&read_tree(&expected_dir), &actual);
            if !problems.is_empty() {
                failures.push(format!(
                    "golden-tests/{name}: {} difference(s)\n{}",
                    problems.len(),
                    problems.join("\n")
                ));
            }
        }

        // Second run into the same folder: nothing to do, and every service comes from the
        // render cache; without the cache (every file rendered and compared), nothing either.
        let again = render(case, &out, None);
        let full = render_with(case, &out, None, &["--no-cache"]);
        for (label, run) in [("re-render", &again), ("re-render --no-cache", &full)] {
            for k in ["added", "changed", "deleted"] {
                if run["summary"][k] != 0 {
                    failures.push(format!(
                        "golden-tests/{name}: {label} reported {k}={}",
                        run["summary"][k]
                    ));
                }
            }
            if run["summary"]["files"] != actual.len() {
                failures.push(format!(
                    "golden-tests/{name}: {label} reported {} files, not {}",
                    run["summary"]["files"],
                    actual.len()
                ));
            }
        }
        if again["summary"]["rendered"] != 0 {
            failures.push(format!(
                "golden-tests/{name}: re-render rendered {} services instead of taking them from the cache",
                again["summary"]["rendered"]
            ));
        }
        if full["summary"]["rendered"]
            != full["summary"]["services"]
                .as_array()
                .map(Vec::len)
                .unwrap_or(0)
        {
            failures.push(format!(
                "golden-tests/{name}: --no-cache did not render every service"
            ));
        }
        // One thread vs several: same bytes.
        let single = tmp.path().join("single");
        render(case, &single, Some(1));
        let many = tmp.path().join("many");
        render(case, &many, Some(8));
        // Compiled and written in parts of one service each (a large organisation's path):
        // same bytes as in one part.
        let parts = tmp.path().join("parts");
        render_env(case, &parts, None, &[], &[("PCTL_RENDER_PART", "1")]);
        let cache = |dir: &Path| std::fs::read(dir.join(pctl::cache::FILE)).ok();
        if cache(&single) != cache(&many) || cache(&single).is_none() {
            failures.push(format!(
                "golden-tests/{name}: render cache missing or differs between 1 and 8 threads"
            ));
        }
        for (label, other) in [
            ("1 thread", read_tree(&single)),
            ("8 threads", read_tree(&many)),
            ("parts of 1 service", read_tree(&parts)),
        ] {
            if other != actual {
                failures.push(format!(
                    "golden-tests/{name}: output differs with {label}:\n{}",
                    compare(&actual, &other).join("\n")
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn stale_generated_files_are_deleted_and_foreign_folders_refused() {
    let case = cases().into_iter().next().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    render(&case, &out, None);
    // A file pctl generated earlier but no longer renders is removed...
    let state = out.join(".pctl/services/zz-retired.json");
    // (A record as pctl writes it: its own service's files, each with its content hash.)
    std::fs::write(
        &state,
        format!(
            r#"{{"service": "zz-retired", "pctl_version": "0", "files": {{"apps/dev/zz-retired/deployment.yaml": "{}"}}}}"#,
            pctl_core::digest::sha256("old")
        ),
    )
    .unwrap();
    std::fs::create_dir_all(out.join("apps/dev/zz-retired")).unwrap();
    std::fs::write(out.join("apps/dev/zz-retired/deployment.yaml"), "old").unwrap();
    // ...while a file pctl never generated is left alone.
    std::fs::write(out.join("NOTES.md"), "mine").unwrap();
    let summary = render(&case, &out, None);
    assert_eq!(summary["summary"]["deleted"], 2, "{summary}");
    assert!(!out.join("apps/dev/zz-retired").exists());
    assert_eq!(
        std::fs::read_to_string(out.join("NOTES.md")).unwrap(),
        "mine"
    );

    // A non-empty folder pctl did not write is refused, and left untouched.
    let foreign = tmp.path().join("foreign");
    std::fs::create_dir_all(&foreign).unwrap();
    std::fs::write(foreign.join("keep.txt"), "x").unwrap();
    let args = [
        "render",
        "--all",
        "fixtures/acme",
        "--source-sha",
        SHA,
        "--out",
    ];
    let status = Command::new(env!("CARGO_BIN_EXE_pctl"))
        .current_dir(ROOT)
        .args(args)
        .arg(&foreign)
        .output()
        .unwrap();
    assert_eq!(
        status.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    assert_eq!(read_tree(&foreign).len(), 1);
}
