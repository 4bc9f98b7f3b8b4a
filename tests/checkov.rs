//! checkov on every golden tree: Terraform, Kubernetes manifests and workflows must pass,
//! except the checks of `.ci/checkov/skip-list.txt`, each with its reason and, where the
//! decision depends on the environment, only in those environments' files. In-file skips
//! (`#checkov:skip` written by blueprints) count only when the list covers them, so a
//! blueprint cannot quietly exempt itself; a rule that matches nothing fails too, so the list
//! stays as short as the output allows.
//!
//! `.ci/checkov/run-checkov.sh` installs checkov (pinned) into a cached virtualenv on first
//! use (`.ci/run` does it up front) and runs it offline, once for all trees.

use std::path::{Path, PathBuf};
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// A tree with one known failure: proves checkov ran, read Terraform and reported it.
fn canary(dir: &Path) -> PathBuf {
    let tree = dir.join("canary");
    let module = tree.join("terraform/canary/queue");
    std::fs::create_dir_all(&module).unwrap();
    std::fs::write(
        module.join("main.tf"),
        "resource \"aws_sqs_queue\" \"plain\" {\n  name = \"unencrypted\"\n  sqs_managed_sse_enabled = false\n}\n",
    )
    .unwrap();
    tree
}

#[test]
fn golden_trees_pass_checkov_but_for_the_reasoned_skip_list() {
    let root = Path::new(ROOT);
    let mut trees: Vec<PathBuf> = std::fs::read_dir(root.join("golden-tests"))
        .unwrap()
        .map(|e| e.unwrap().path().join("expected"))
        .filter(|p| p.is_dir())
        .collect();
    trees.sort();
    assert!(trees.len() >= 5, "golden trees: {trees:?}");
    let tmp = tempfile::tempdir().unwrap();
    let canary = canary(tmp.path());
    let json = tmp.path().join("checkov.json");
    let out = Command::new("bash")
        .arg(root.join(".ci/checkov/run-checkov.sh"))
        .arg("--no-inline-skips")
        .arg("--json-out")
        .arg(&json)
        .arg("--skip-file")
        .arg(root.join(".ci/checkov/skip-list.txt"))
        .args(&trees)
        .arg(&canary)
        .output()
        .expect("run .ci/checkov/run-checkov.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Exit 1 is expected (the canary); 2 is a setup or usage error.
    assert_eq!(
        out.status.code(),
        Some(1),
        "run-checkov.sh failed to run:\n{stdout}\n{stderr}"
    );
    let canary_prefix = format!("FAIL {}", canary.display());
    let (canary_fails, fails): (Vec<&str>, Vec<&str>) = stdout
        .lines()
        .filter(|l| l.starts_with("FAIL "))
        .partition(|l| l.starts_with(&canary_prefix));
    assert!(
        canary_fails.iter().any(|l| l.contains(": CKV_AWS_27 ")),
        "checkov did not report the canary's unencrypted queue:\n{stdout}\n{stderr}"
    );
    assert!(
        fails.is_empty(),
        "checkov failures in golden trees (fix the blueprint, or add a reasoned rule to \
         .ci/checkov/skip-list.txt):\n{}\n{stderr}",
        fails.join("\n")
    );
    let stale: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("matched nothing"))
        .collect();
    assert!(
        stale.is_empty(),
        "skip rules that no longer match anything: remove them\n{}",
        stale.join("\n")
    );
    let unchecked: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("was checked"))
        .collect();
    assert!(unchecked.is_empty(), "{}", unchecked.join("\n"));
    // Every framework looked at something: Terraform, Kubernetes and the workflows.
    let raw = std::fs::read_to_string(&json).unwrap();
    let mut passed = std::collections::BTreeMap::new();
    for report in serde_json::Deserializer::from_str(&raw).into_iter::<serde_json::Value>() {
        let report = report.unwrap();
        let reports = match report {
            serde_json::Value::Array(a) => a,
            one => vec![one],
        };
        for r in reports {
            if let Some(kind) = r["check_type"].as_str() {
                *passed.entry(kind.to_string()).or_insert(0) +=
                    r["summary"]["passed"].as_u64().unwrap_or(0);
            }
        }
    }
    for (kind, least) in [
        ("terraform", 1000),
        ("kubernetes", 1000),
        ("github_actions", 100),
    ] {
        let n = passed.get(kind).copied().unwrap_or(0);
        assert!(
            n >= least,
            "checkov passed only {n} {kind} checks ({passed:?})\n{stderr}"
        );
    }
}

/// The workflows pctl recommends to application repositories (`pctl new` writes app-repo.yml:
/// build, test, SBOM, scan, push, attest, publish by digest) pass checkov's GitHub Actions
/// rules, with no skip at all.
#[test]
fn the_example_workflows_pass_checkov_github_actions_rules() {
    let root = Path::new(ROOT);
    let tmp = tempfile::tempdir().unwrap();
    let workflows = tmp.path().join(".github/workflows");
    std::fs::create_dir_all(&workflows).unwrap();
    let mut n = 0;
    for e in std::fs::read_dir(root.join("examples/workflows")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "yml") {
            std::fs::copy(&p, workflows.join(p.file_name().unwrap())).unwrap();
            n += 1;
        }
    }
    assert!(n >= 2, "examples/workflows holds {n} workflows");
    let json = tmp.path().join("checkov.json");
    let out = Command::new("bash")
        .arg(root.join(".ci/checkov/run-checkov.sh"))
        .args([
            "--no-inline-skips",
            "--framework",
            "github_actions",
            "--json-out",
        ])
        .arg(&json)
        .arg(tmp.path())
        .output()
        .expect("run .ci/checkov/run-checkov.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "checkov failures in examples/workflows:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let raw = std::fs::read_to_string(&json).unwrap();
    assert!(
        raw.contains("\"check_type\": \"github_actions\"")
            || raw.contains("\"check_type\":\"github_actions\""),
        "checkov looked at no workflow:\n{raw}"
    );
}
