//! The README and the book show real output, and the README's quickstart works:
//! - the quickstart block runs as written, in a temporary folder, with the pctl cargo built;
//! - the validate example is `pctl validate` on a corpus case;
//! - the pull-request summary in docs/review-and-publish.md is rendered from a fixture run.
//!
//! `PCTL_BLESS=1 cargo test --test suite readme::` rewrites the generated blocks.

use std::path::Path;
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn pctl(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_pctl"))
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("GITHUB_ACTIONS")
        .env_remove("PCTL_ORG")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The text between `<!-- NAME:start -->\n` and `<!-- NAME:end -->` of a file.
fn block(file: &str, name: &str) -> (String, String, String) {
    let text = std::fs::read_to_string(Path::new(ROOT).join(file)).unwrap();
    let start = format!("<!-- {name}:start -->\n");
    let end = format!("<!-- {name}:end -->");
    let (a, rest) = text
        .split_once(&start)
        .unwrap_or_else(|| panic!("{file} has no {name} block"));
    let (current, b) = rest.split_once(&end).expect("block is closed");
    (a.to_string(), current.to_string(), b.to_string())
}

/// Compares a generated block with the file's, or rewrites it with PCTL_BLESS.
fn check_block(file: &str, name: &str, generated: &str) {
    let (a, current, b) = block(file, name);
    if std::env::var_os("PCTL_BLESS").is_some() {
        std::fs::write(
            Path::new(ROOT).join(file),
            format!("{a}<!-- {name}:start -->\n{generated}<!-- {name}:end -->{b}"),
        )
        .unwrap();
        return;
    }
    assert_eq!(
        current, generated,
        "{file}'s {name} block is stale: run PCTL_BLESS=1 cargo test --test suite readme::"
    );
}

#[test]
fn the_readme_quickstart_works_as_written() {
    let (_, text, _) = block("README.md", "quickstart");
    let script = text
        .trim()
        .strip_prefix("```sh\n")
        .and_then(|s| s.strip_suffix("```"))
        .expect("the quickstart is one ```sh block");
    let tmp = tempfile::tempdir().unwrap();
    let bin = Path::new(env!("CARGO_BIN_EXE_pctl")).parent().unwrap();
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("set -euo pipefail\n{script}"))
        .current_dir(tmp.path())
        .env(
            "PATH",
            format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
        )
        .env("NO_COLOR", "1")
        .env_remove("GITHUB_ACTIONS")
        .env_remove("PCTL_ORG")
        .env_remove("PCTL_GIT_TOKEN")
        .env("GIT_AUTHOR_NAME", "Dev")
        .env("GIT_AUTHOR_EMAIL", "dev@example.com")
        .env("GIT_COMMITTER_NAME", "Dev")
        .env("GIT_COMMITTER_EMAIL", "dev@example.com")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the quickstart failed:\n{stdout}\n{stderr}"
    );
    let app = tmp.path().join("payment-api");
    // `pctl new` at the repository's root wrote into the root, where GitHub runs workflows.
    assert!(app.join("platform.yaml").is_file());
    assert!(app.join(".github/workflows/platform.yml").is_file());
    assert!(app.join("README.md").is_file());
    // The built-in organisation was named, once per command that used it.
    assert!(
        stderr.contains("using pctl's built-in example organisation"),
        "{stderr}"
    );
    assert!(
        tmp.path()
            .join("preview/apps/dev/payment-api/deployment.yaml")
            .is_file()
    );
    assert!(
        tmp.path()
            .join("preview/terraform/prod/payment-api/db.tf")
            .is_file()
    );
    // Two publishes: every file, then the new image; the diff showed the change.
    assert!(
        stdout.contains("+++ b/apps/dev/payment-api/deployment.yaml"),
        "{stdout}"
    );
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .arg("-C")
            .arg(tmp.path().join("deploy.git"))
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let log = git(&["log", "--format=%B%x00", "main"]);
    let commits: Vec<&str> = log.split('\0').filter(|c| !c.trim().is_empty()).collect();
    // Newest first: the preview removed, the preview, the two publishes.
    assert_eq!(commits.len(), 4, "{log}");
    assert!(
        commits[0].contains("Pctl-Removed: payment-api-pr-7"),
        "{log}"
    );
    assert!(
        commits[1].contains("Pctl-Preview: payment-api pr-7"),
        "{log}"
    );
    for c in &commits[2..] {
        assert!(c.contains("Pctl-Version: "), "{c}");
        assert!(
            c.contains("Pctl-Source: payment-api https://github.com/acme/payment-api@"),
            "{c}"
        );
    }
    let files = git(&["ls-tree", "-r", "--name-only", "main"]);
    assert!(!files.contains("pr-7"), "the preview left nothing: {files}");
    assert!(
        !files.contains("apps/prod/"),
        "prod is promoted, not published: {files}"
    );
    // The promotion: staging's version, by digest, on its review branch.
    let branch = "pctl/promote/payment-api-prod";
    let promoted = git(&["log", "-1", "--format=%B", branch]);
    assert!(
        promoted.contains("Pctl-Promoted: payment-api staging -> prod"),
        "{promoted}"
    );
    let digest = format!("@sha256:{}", "0".repeat(64));
    for env in ["staging", "prod"] {
        let rollout = git(&[
            "show",
            &format!("{branch}:apps/{env}/payment-api/deployment.yaml"),
        ]);
        assert!(rollout.contains(&digest), "{env}: {rollout}");
    }
}

#[test]
fn the_readme_validate_example_is_real_output() {
    let out = Command::new(env!("CARGO_BIN_EXE_pctl"))
        .current_dir(ROOT)
        .env("NO_COLOR", "1")
        .env_remove("GITHUB_ACTIONS")
        .env_remove("PCTL_ORG")
        .args(["validate", "-q", "fixtures/invalid/image-with-tag"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = format!(
        "```text\n$ pctl validate fixtures/invalid/image-with-tag\n{}```\n",
        String::from_utf8_lossy(&out.stderr)
    );
    check_block("README.md", "validate-example", &text);
}

#[test]
fn the_pr_summary_example_is_rendered_from_a_fixture_run() {
    let tmp = tempfile::tempdir().unwrap();
    let ok = Command::new("git")
        .args(["init", "-q", "--bare", "-b", "main", "deploy.git"])
        .current_dir(tmp.path())
        .status()
        .unwrap();
    assert!(ok.success());
    let fixture = |p: &str| format!("{ROOT}/{p}");
    let sha = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c";
    pctl(
        tmp.path(),
        &[
            "publish",
            "--all",
            &fixture("fixtures/acme"),
            "--source-sha",
            sha,
            "--image-tag",
            "1.4.2",
            "--deploy-repo",
            "deploy.git",
        ],
    );
    // The next change: staging dropped, a new image.
    let md = pctl(
        tmp.path(),
        &[
            "diff",
            &fixture("fixtures/publish/payment-api-no-staging"),
            "--org",
            &fixture("fixtures/acme/pctl-org.yaml"),
            "--source-sha",
            sha,
            "--image-tag",
            "1.5.0",
            "--deploy-repo",
            "deploy.git",
            "--format",
            "markdown",
        ],
    );
    // Keep the example short: the summary and the first diff.
    let first_diff_end = md
        .find("</details>")
        .map(|i| i + "</details>".len())
        .unwrap_or(md.len());
    let example = format!("````markdown\n{}\n````\n", &md[..first_diff_end]);
    check_block("docs/review-and-publish.md", "pr-summary", &example);
}
