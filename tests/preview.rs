//! Preview environments: `pctl preview --pr N` deploys a pull request's version as a service of
//! its own in the organisation's preview environment (scaled down, labelled, with its URL in
//! the review), publishes of the service leave it alone, a team's previews are limited, and
//! `--remove` leaves the deploy repository exactly as it was.

use crate::support;

use std::fs;
use std::path::{Path, PathBuf};
use support::*;

const S1: &str = "1111111111111111111111111111111111111111";
const S2: &str = "2222222222222222222222222222222222222222";
const NAME: &str = "payment-api-pr-42";

/// The acme organisation with a preview environment (previews copy staging's settings, one
/// preview per team), and payment-api.
fn app(tmp: &Path) -> PathBuf {
    let org = tmp.join("acme");
    let dir = org.join("payment-api");
    fs::create_dir_all(&dir).unwrap();
    let config = fs::read_to_string(Path::new(ROOT).join(ORG)).unwrap();
    let config = config
        .replacen(
            "  environments:\n",
            "  previews: {environment: previews, from: staging, max_per_team: 1, ttl_hours: 48}\n  environments:\n",
            1,
        )
        .replacen(
            "      promotion: auto\n",
            "      promotion: auto\n    - name: previews\n      cluster: preview-eu1\n      domain: preview.acme.example\n      region: eu-west-1\n",
            1,
        );
    assert!(config.contains("name: previews"));
    fs::write(org.join("pctl-org.yaml"), config).unwrap();
    fs::copy(
        Path::new(ROOT).join("fixtures/acme/payment-api/platform.yaml"),
        dir.join("platform.yaml"),
    )
    .unwrap();
    dir
}

fn digest(n: u8) -> String {
    format!("sha256:{}", format!("{n:02x}").repeat(32))
}

fn preview(dir: &Path, deploy: &str, pr: &str, extra: &[&str]) -> Run {
    let mut cmd = pctl();
    cmd.arg("preview")
        .arg(dir)
        .args(["--pr", pr, "--deploy-repo", deploy, "--format", "json"])
        .args(extra);
    run(cmd)
}

fn publish(dir: &Path, sha: &str, deploy: &str) -> Run {
    let mut cmd = pctl();
    cmd.arg("publish")
        .arg(dir)
        .args(["--source-sha", sha, "--image-digest", &digest(1)])
        .args(["--deploy-repo", deploy, "--format", "json"]);
    run(cmd)
}

#[test]
fn a_preview_is_created_kept_apart_limited_and_removed_without_a_trace() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = bare_repo(tmp.path(), "deploy.git");
    let url = file_url(&repo);
    let dir = app(tmp.path());
    publish(&dir, S1, &url).expect_code(0);
    let before = tree_at(&repo, "main");

    let r = preview(
        &dir,
        &url,
        "42",
        &["--source-sha", S2, "--image-digest", &digest(2)],
    );
    r.expect_code(0);
    let summary = r.summary();
    assert_eq!(
        summary["preview_url"],
        "https://payment-api-pr-42.preview.acme.example",
        "{}",
        r.describe()
    );
    let last = &commits(&repo, "main")[0];
    assert_eq!(
        last.trailer("Pctl-Preview"),
        Some("payment-api pr-42"),
        "{}",
        last.message
    );
    let after = tree_at(&repo, "main");
    // Everything the preview added is its own; nothing of payment-api changed.
    let added: Vec<&String> = after.keys().filter(|p| !before.contains_key(*p)).collect();
    assert!(!added.is_empty());
    for p in &added {
        assert!(p.contains(NAME), "{p} is not the preview's");
    }
    for (p, b) in &before {
        assert_eq!(after.get(p), Some(b), "{p} changed");
    }
    // Its own namespace in the preview environment, one replica, labelled, the PR's image.
    let files: Vec<&String> = added
        .iter()
        .copied()
        .filter(|p| p.starts_with(&format!("apps/previews/{NAME}/")))
        .collect();
    assert!(!files.is_empty(), "{added:?}");
    let all: String = files
        .iter()
        .map(|p| String::from_utf8_lossy(&after[*p]).into_owned())
        .collect();
    assert!(all.contains(&format!("namespace: \"{NAME}\"")), "{all}");
    assert!(all.contains("pctl.dev/pull-request: \"pr-42\""), "{all}");
    assert!(all.contains("pctl.dev/preview-ttl: \"48h\""), "{all}");
    assert!(all.contains(&digest(2)), "the pull request's image");
    assert!(
        !all.contains("HorizontalPodAutoscaler"),
        "scaled down: no autoscaler"
    );
    assert!(all.contains("replicas: 1"), "{all}");
    assert!(
        !all.contains("replicas: 2"),
        "staging's 2 replicas became 1"
    );
    assert!(
        all.contains("payment-api-pr-42.preview.acme.example"),
        "its own host"
    );

    // What the deploy repository holds with the preview passes the validators written by
    // others (Kubernetes schemas, CRDs, kustomize, Terraform, Backstage).
    let checkout = tmp.path().join("checkout");
    checkout_to(&repo, "main", &checkout);
    let out = std::process::Command::new("bash")
        .arg(Path::new(ROOT).join("../shared/oracles/validate-deploy-tree"))
        .arg("--require-all")
        .arg(&checkout)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains(", 0 failed"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The team's limit is one preview.
    let r = preview(&dir, &url, "43", &["--source-sha", S2]);
    r.expect_code(1);
    assert!(r.both().contains("preview/limit"), "{}", r.describe());
    assert!(r.both().contains(NAME), "{}", r.describe());

    // A publish of the service leaves the preview alone.
    publish(&dir, S2, &url).expect_code(0);
    let now = tree_at(&repo, "main");
    for p in added.iter() {
        assert_eq!(now.get(*p), after.get(*p), "{p}");
    }

    // Removed: nothing of it is left.
    let r = preview(&dir, &url, "42", &["--remove"]);
    r.expect_code(0);
    let gone = tree_at(&repo, "main");
    assert!(gone.keys().all(|p| !p.contains(NAME)), "{:?}", gone.keys());
    let mut expected = now.clone();
    expected.retain(|p, _| !p.contains(NAME));
    assert_eq!(gone, expected);
    // Removing it again says there is nothing to remove.
    preview(&dir, &url, "42", &["--remove"]).expect_code(1);
}

#[test]
fn an_organisation_without_previews_says_how_to_add_them() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = bare_repo(tmp.path(), "deploy.git");
    let mut cmd = pctl();
    cmd.args([
        "preview",
        "fixtures/acme/payment-api",
        "--pr",
        "7",
        "--org",
        ORG,
    ])
    .args(["--source-sha", S1, "--deploy-repo"])
    .arg(file_url(&repo));
    let r = run(cmd);
    r.expect_code(2);
    assert!(
        r.stderr.contains("preview/not-configured"),
        "{}",
        r.describe()
    );
    assert!(r.stderr.contains("previews:"), "{}", r.describe());
}

/// A preview's name comes from a `metadata.name` anyone can write: another repository that
/// calls its service the same can neither take over nor remove the preview.
#[test]
fn another_repository_cannot_take_or_remove_a_preview() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = bare_repo(tmp.path(), "deploy.git");
    let url = file_url(&repo);
    let dir = app(tmp.path());
    preview(&dir, &url, "42", &["--source-sha", S2]).expect_code(0);
    let before = tree_at(&repo, "main");
    // The attacker's repository, same service name, same team.
    let evil = tmp.path().join("acme/evil");
    fs::create_dir_all(&evil).unwrap();
    let text = fs::read_to_string(dir.join("platform.yaml"))
        .unwrap()
        .replace(
            "https://github.com/acme/payment-api",
            "https://github.com/evil/payment-api",
        );
    fs::write(evil.join("platform.yaml"), text).unwrap();
    let r = preview(&evil, &url, "42", &["--remove"]);
    r.expect_code(1);
    assert!(
        r.both().contains("preview/owned-elsewhere"),
        "{}",
        r.describe()
    );
    let r = preview(&evil, &url, "42", &["--source-sha", S1]);
    r.expect_code(1);
    assert!(r.both().contains("owned-elsewhere"), "{}", r.describe());
    assert_eq!(tree_at(&repo, "main"), before, "nothing changed");
}
