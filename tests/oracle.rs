//! Every golden tree must pass the independent deploy-tree oracle
//! (`../shared/oracles/validate-deploy-tree`: Kubernetes 1.31 strict schemas, CRD schemas,
//! kustomize, HCL and Terraform's config loader, actionlint, Backstage's catalog model; with
//! `--catalog-refs` for organisation-wide trees). A failure is a bug in pctl.

use std::path::Path;
use std::process::Command;

#[test]
fn golden_trees_pass_the_deploy_tree_oracle() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let oracle = root.join("../shared/oracles/validate-deploy-tree");
    assert!(
        oracle.exists(),
        "{} is missing: the oracle ships in shared/, beside this repository",
        oracle.display()
    );
    let mut trees: Vec<_> = std::fs::read_dir(root.join("golden-tests"))
        .unwrap()
        .map(|e| e.unwrap().path().join("expected"))
        .filter(|p| p.is_dir())
        .collect();
    trees.sort();
    assert!(!trees.is_empty(), "no golden trees to check");
    let mut failures = Vec::new();
    let mut with_refs = 0;
    for tree in &trees {
        // Backstage entities are validated by Backstage's own catalog model. A tree of the
        // whole organisation (`--all`) must also resolve every reference (owners, systems,
        // dependencies, APIs) inside itself; one service's tree may name other services.
        let args = std::fs::read_to_string(tree.parent().unwrap().join("args")).unwrap();
        let all = args.lines().any(|l| l.trim() == "--all");
        let mut cmd = Command::new("bash");
        cmd.arg(&oracle).arg("--require-all");
        if all {
            cmd.arg("--catalog-refs");
            with_refs += 1;
        }
        let out = cmd.arg(tree).output().expect("run the oracle");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let tally = stdout
            .lines()
            .rev()
            .find(|l| l.contains(" passed, "))
            .unwrap_or("")
            .to_string();
        if !out.status.success() || !tally.contains(", 0 failed") {
            failures.push(format!(
                "{}: {tally}\n{stdout}\n{}",
                tree.display(),
                String::from_utf8_lossy(&out.stderr)
            ));
        } else {
            // A tree the oracle checked nothing of would prove nothing.
            let passed: usize = tally
                .split_whitespace()
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            assert!(
                passed > 10,
                "{}: the oracle checked only {passed} files",
                tree.display()
            );
        }
    }
    assert!(with_refs >= 3, "only {with_refs} organisation-wide trees");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
