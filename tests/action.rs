//! The GitHub Action, run for real: action.yml's shell steps are executed in order with a
//! simulated runner (GITHUB_OUTPUT, GITHUB_STEP_SUMMARY, GITHUB_* values, a temp RUNNER_TEMP),
//! a local deploy repository, the pctl binary built by cargo, and a `gh` stub that records the
//! one network call the action makes. `uses:` steps (the cache) are skipped.
//! Also: action.yml and the example workflows pass the oracle (action schema, actionlint).

use serde_yaml::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const SHA: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c";

struct Runner {
    tmp: tempfile::TempDir,
    inputs: BTreeMap<String, String>,
    github: BTreeMap<String, String>,
    outputs: BTreeMap<String, BTreeMap<String, String>>,
    /// Everything the steps printed.
    log: String,
    /// action.yml as the runner reads it (a test may change it, e.g. to pin a release).
    action: Value,
    /// Hand the steps the pctl cargo built (`PCTL_BIN`); off to test the installation.
    provide_bin: bool,
}

fn action() -> Value {
    serde_yaml::from_str(&std::fs::read_to_string(Path::new(ROOT).join("action.yml")).unwrap())
        .unwrap()
}

impl Runner {
    fn new(inputs: &[(&str, &str)], event: &str) -> Runner {
        let tmp = tempfile::tempdir().unwrap();
        let mut all = BTreeMap::new();
        for (k, v) in action()["inputs"].as_mapping().unwrap() {
            all.insert(
                k.as_str().unwrap().to_string(),
                v["default"].as_str().unwrap_or("").to_string(),
            );
        }
        for (k, v) in inputs {
            assert!(all.contains_key(*k), "action.yml has no input {k}");
            all.insert(k.to_string(), v.to_string());
        }
        let github = [
            ("action_ref", "v0.1.0"),
            ("action_repository", "acme/pctl"),
            ("event_name", event),
            (
                "head_ref",
                if event == "pull_request" {
                    "feature-x"
                } else {
                    ""
                },
            ),
            ("repository", "acme/payment-api"),
            (
                "ref_name",
                if event == "pull_request" {
                    "7/merge"
                } else {
                    "main"
                },
            ),
            ("sha", SHA),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        // The application repository: payment-api with the organisation config beside it.
        let app = tmp.path().join("workspace");
        std::fs::create_dir_all(&app).unwrap();
        std::fs::copy(
            Path::new(ROOT).join("fixtures/acme/payment-api/platform.yaml"),
            app.join("platform.yaml"),
        )
        .unwrap();
        std::fs::copy(
            Path::new(ROOT).join("fixtures/acme/pctl-org.yaml"),
            app.join("pctl-org.yaml"),
        )
        .unwrap();
        // The `gh` stub: logs its arguments; answers from small state files.
        let bin = tmp.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let stub = r#"#!/usr/bin/env bash
state="$GH_STUB_DIR"
echo "gh $*" >> "$state/calls"
case "$*" in
  "pr list"*) cat "$state/pr" 2>/dev/null || true ;;
  "pr create"*) echo 7 > "$state/pr" ;;
  "api repos/"*"/comments --paginate"*) cat "$state/comment" 2>/dev/null || true ;;
  "api --method POST"*) echo 99 > "$state/comment"; cp "${@: -1}" "$state/body-arg" 2>/dev/null; echo "${@: -1}" > "$state/body-ref" ;;
  "api --method PATCH"*) echo "${@: -1}" > "$state/body-ref" ;;
  *) echo "unexpected gh call: $*" >&2; exit 1 ;;
esac
"#;
        std::fs::write(bin.join("gh"), stub).unwrap();
        Command::new("chmod")
            .arg("+x")
            .arg(bin.join("gh"))
            .status()
            .unwrap();
        std::fs::create_dir_all(tmp.path().join("gh-state")).unwrap();
        std::fs::create_dir_all(tmp.path().join("runner-temp")).unwrap();
        Runner {
            tmp,
            inputs: all,
            github,
            outputs: BTreeMap::new(),
            log: String::new(),
            action: action(),
            provide_bin: true,
        }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.tmp.path().join(p)
    }

    /// Evaluates the `${{ }}` expressions the action uses.
    fn expr(&self, e: &str) -> String {
        let e = e.trim();
        if let Some(s) = e.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')) {
            return s.to_string();
        }
        let parts: Vec<&str> = e.split('.').collect();
        match parts.as_slice() {
            ["inputs", name] => self.inputs[*name].clone(),
            ["github", name] => self.github.get(*name).cloned().unwrap_or_default(),
            ["github", "event", "pull_request", "number"] => self
                .github
                .get("pull_request_number")
                .cloned()
                .unwrap_or_default(),
            ["runner", "tool_cache"] => self.path("tool-cache").display().to_string(),
            ["runner", "os"] => "Linux".into(),
            ["runner", "arch"] => "X64".into(),
            ["steps", id, "outputs", name] => self
                .outputs
                .get(*id)
                .and_then(|o| o.get(*name))
                .cloned()
                .unwrap_or_default(),
            ["env", name] => std::env::var(name)
                .ok()
                .filter(|_| *name != "PCTL_BIN")
                .unwrap_or_else(|| self.env_value(name)),
            ["runner", "temp"] => self.path("runner-temp").display().to_string(),
            _ => panic!("expression the simulated runner does not know: {e}"),
        }
    }

    fn env_value(&self, name: &str) -> String {
        if name == "PCTL_BIN" && self.provide_bin {
            env!("CARGO_BIN_EXE_pctl").to_string()
        } else {
            String::new()
        }
    }

    fn interpolate(&self, s: &str) -> String {
        let mut out = String::new();
        let mut rest = s;
        while let Some(i) = rest.find("${{") {
            out.push_str(&rest[..i]);
            let end = rest[i..].find("}}").expect("closed expression") + i;
            out.push_str(&self.expr(&rest[i + 3..end]));
            rest = &rest[end + 2..];
        }
        out.push_str(rest);
        out
    }

    /// `a != 'x' && b == 'y'` — the only condition shapes the action uses.
    fn condition(&self, cond: &str) -> bool {
        cond.split("&&").all(|c| {
            let (l, op, r) = if let Some((l, r)) = c.split_once("!=") {
                (l, "!=", r)
            } else {
                let (l, r) = c.split_once("==").expect("comparison");
                (l, "==", r)
            };
            let (l, r) = (self.expr(l), self.expr(r));
            if op == "==" { l == r } else { l != r }
        })
    }

    /// Runs every step; returns the exit code of the first failing step (0 when all pass).
    fn run(&mut self) -> i32 {
        let steps = self.action["runs"]["steps"].as_sequence().unwrap().clone();
        for step in &steps {
            if step.get("uses").is_some() {
                continue;
            }
            if let Some(cond) = step.get("if").and_then(Value::as_str) {
                if !self.condition(cond) {
                    continue;
                }
            }
            let id = step
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let script = step["run"].as_str().unwrap();
            assert!(
                !script.contains("${{"),
                "step {id}: inputs must reach scripts through env:, never inline"
            );
            let output_file = self.path(&format!("output-{id}"));
            std::fs::write(&output_file, "").unwrap();
            let workdir = step
                .get("working-directory")
                .and_then(Value::as_str)
                .map(|w| self.path("workspace").join(self.interpolate(w)))
                .unwrap_or_else(|| self.path("workspace"));
            let mut cmd = Command::new("bash");
            cmd.arg("-c").arg(script).current_dir(&workdir);
            cmd.env(
                "PATH",
                format!(
                    "{}:{}",
                    self.path("bin").display(),
                    std::env::var("PATH").unwrap()
                ),
            );
            cmd.env("GITHUB_OUTPUT", &output_file)
                .env("GITHUB_STEP_SUMMARY", self.path("step-summary.md"))
                .env("GITHUB_ACTIONS", "true")
                .env("RUNNER_TEMP", self.path("runner-temp"))
                .env("RUNNER_OS", "Linux")
                .env("RUNNER_ARCH", "X64")
                .env("GH_STUB_DIR", self.path("gh-state"))
                .env("NO_COLOR", "1");
            if self.provide_bin {
                cmd.env("PCTL_BIN", env!("CARGO_BIN_EXE_pctl"));
            } else {
                cmd.env_remove("PCTL_BIN");
            }
            if let Some(env) = step.get("env").and_then(Value::as_mapping) {
                for (k, v) in env {
                    cmd.env(
                        k.as_str().unwrap(),
                        self.interpolate(v.as_str().unwrap_or("")),
                    );
                }
            }
            let out = cmd.output().unwrap();
            self.log.push_str(&String::from_utf8_lossy(&out.stdout));
            self.log.push_str(&String::from_utf8_lossy(&out.stderr));
            let mut outputs = BTreeMap::new();
            for line in std::fs::read_to_string(&output_file).unwrap().lines() {
                if let Some((k, v)) = line.split_once('=') {
                    outputs.insert(k.to_string(), v.to_string());
                }
            }
            self.outputs.insert(id.clone(), outputs);
            if !out.status.success() {
                return out.status.code().unwrap_or(-1);
            }
        }
        0
    }

    fn output(&self, name: &str) -> String {
        let action = &self.action;
        let value = action["outputs"][name]["value"].as_str().unwrap();
        self.interpolate(value)
    }

    fn gh_calls(&self) -> String {
        std::fs::read_to_string(self.path("gh-state/calls")).unwrap_or_default()
    }
}

fn bare(dir: &Path) -> String {
    let repo = dir.join("deploy.git");
    let ok = Command::new("git")
        .args(["init", "-q", "--bare", "-b", "main"])
        .arg(&repo)
        .status()
        .unwrap();
    assert!(ok.success());
    repo.display().to_string()
}

fn git(repo: &str, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn diff_mode_writes_outputs_and_the_step_summary() {
    let deploy_dir = tempfile::tempdir().unwrap();
    let deploy = bare(deploy_dir.path());
    let mut r = Runner::new(
        &[
            ("mode", "diff"),
            ("deploy-repository", &deploy),
            ("org-config", "pctl-org.yaml"),
        ],
        "push",
    );
    assert_eq!(r.run(), 0, "{}", r.log);
    assert_eq!(r.output("changed"), "true");
    let summary = std::fs::read_to_string(r.output("summary-path")).unwrap();
    assert!(summary.starts_with("<!-- pctl:summary -->"), "{summary}");
    assert!(summary.contains("payment-api"));
    let step = std::fs::read_to_string(r.path("step-summary.md")).unwrap();
    assert!(
        step.contains("### Diffs") && step.contains("apps/prod/payment-api/"),
        "{step}"
    );
    assert_eq!(
        git(&deploy, &["rev-parse", "--verify", "-q", "main"]),
        "",
        "diff must not write"
    );
    assert_eq!(r.output("commit-sha"), "");
}

#[test]
fn publish_on_a_pull_request_opens_one_pr_and_keeps_one_sticky_comment() {
    let deploy_dir = tempfile::tempdir().unwrap();
    let deploy = bare(deploy_dir.path());
    let inputs = [
        ("mode", "publish"),
        ("deploy-repository", deploy.as_str()),
        ("token", "s3cr3t-token"),
        ("org-config", "pctl-org.yaml"),
    ];
    let mut r = Runner::new(&inputs, "pull_request");
    assert_eq!(r.run(), 0, "{}", r.log);
    assert_eq!(r.output("pr-branch"), "pctl/payment-api/feature-x");
    let sha = r.output("commit-sha");
    assert_eq!(sha.len(), 40, "{:?}", r.outputs);
    assert_eq!(
        git(&deploy, &["rev-parse", "pctl/payment-api/feature-x"]),
        sha
    );
    assert_eq!(
        git(&deploy, &["rev-parse", "--verify", "-q", "main"]),
        "",
        "main untouched by a review publish"
    );
    let calls = r.gh_calls();
    assert!(calls.contains("gh pr create"), "{calls}");
    assert!(calls.contains("gh api --method POST"), "{calls}");
    assert!(
        !r.log.contains("s3cr3t-token"),
        "the token leaked:\n{}",
        r.log
    );

    // The same app branch again, with another commit: same branch, same PR, comment edited.
    let state = r.path("gh-state");
    std::fs::write(state.join("calls"), "").unwrap();
    r.github.insert(
        "sha".into(),
        "1111111111111111111111111111111111111111".into(),
    );
    r.outputs.clear();
    assert_eq!(r.run(), 0, "{}", r.log);
    let calls = r.gh_calls();
    assert!(!calls.contains("gh pr create"), "no second PR: {calls}");
    assert!(
        calls.contains("gh api --method PATCH repos/") && calls.contains("/issues/comments/99"),
        "sticky comment edited: {calls}"
    );
    assert!(!calls.contains("--method POST"), "{calls}");
    let branches = git(&deploy, &["branch", "--list"]);
    assert_eq!(branches.lines().count(), 1, "{branches}");
}

#[test]
fn publish_on_push_goes_straight_in_unless_a_protected_environment_changes() {
    let deploy_dir = tempfile::tempdir().unwrap();
    let deploy = bare(deploy_dir.path());
    let inputs = [
        ("mode", "publish"),
        ("deploy-repository", deploy.as_str()),
        ("org-config", "pctl-org.yaml"),
    ];
    // auth-service in dev only: not protected, straight to the deploy branch.
    let mut r = Runner::new(&inputs, "push");
    let dev_only: String =
        std::fs::read_to_string(Path::new(ROOT).join("fixtures/acme/auth-service/platform.yaml"))
            .unwrap()
            .lines()
            .take_while(|l| !l.starts_with("    staging:"))
            .map(|l| format!("{l}\n"))
            .collect();
    std::fs::write(r.path("workspace/platform.yaml"), dev_only).unwrap();
    assert_eq!(r.run(), 0, "{}", r.log);
    assert_eq!(r.output("pr-branch"), "");
    assert_eq!(git(&deploy, &["rev-parse", "main"]), r.output("commit-sha"));
    assert_eq!(r.gh_calls(), "", "no pull request for a direct publish");

    // payment-api reaches prod (protected): a review branch and a pull request instead.
    let mut r = Runner::new(&inputs, "push");
    let main_before = git(&deploy, &["rev-parse", "main"]);
    assert_eq!(r.run(), 0, "{}", r.log);
    assert_eq!(r.output("pr-branch"), "pctl/payment-api/main");
    assert_eq!(
        git(&deploy, &["rev-parse", "main"]),
        main_before,
        "main untouched"
    );
    assert_eq!(
        git(&deploy, &["rev-parse", "pctl/payment-api/main"]),
        r.output("commit-sha")
    );
    assert!(r.gh_calls().contains("gh pr create"), "{}", r.gh_calls());
}

#[test]
fn validate_mode_annotates_the_exact_line() {
    let mut r = Runner::new(&[("mode", "validate")], "pull_request");
    let app = r.path("workspace/platform.yaml");
    let text = std::fs::read_to_string(&app)
        .unwrap()
        .replace("    staging: {replicas: 2}", "    staging: {replica: 2}");
    std::fs::write(&app, text).unwrap();
    let code = r.run();
    assert_eq!(code, 1, "{}", r.log);
    let line = r
        .log
        .lines()
        .find(|l| l.starts_with("::error "))
        .unwrap_or_else(|| panic!("{}", r.log));
    assert!(
        line.contains("file=platform.yaml,line=")
            && line.contains("title=pctl schema/unknown-field"),
        "{line}"
    );
}

#[test]
fn crafted_inputs_cannot_inject_shell() {
    let deploy_dir = tempfile::tempdir().unwrap();
    let _deploy = bare(deploy_dir.path());
    let marker = deploy_dir.path().join("pwned");
    let evil = format!(
        "x\"; touch {}; echo \"$(touch {})",
        marker.display(),
        marker.display()
    );
    let mut r = Runner::new(
        &[
            ("mode", "publish"),
            ("deploy-repository", &evil),
            ("target-branch", &evil),
            ("org-config", "pctl-org.yaml"),
        ],
        "push",
    );
    let _ = r.run();
    assert!(
        !marker.exists(),
        "an input was executed as shell:\n{}",
        r.log
    );
}

#[test]
fn action_and_example_workflows_pass_the_oracle() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        Path::new(ROOT).join("action.yml"),
        dir.path().join("action.yml"),
    )
    .unwrap();
    let wf = dir.path().join(".github/workflows");
    std::fs::create_dir_all(&wf).unwrap();
    for f in [
        "app-repo.yml",
        "deploy-repo.yml",
        "org-rerender.yml",
        "preview.yml",
        "promote.yml",
    ] {
        std::fs::copy(
            Path::new(ROOT).join("examples/workflows").join(f),
            wf.join(f),
        )
        .unwrap();
    }
    let out = Command::new("bash")
        .arg(Path::new(ROOT).join("../shared/oracles/validate-deploy-tree"))
        .arg("--require-all")
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("6 passed, 0 failed"), "{stdout}");
}

#[test]
fn an_organisation_can_require_review_for_every_change() {
    let deploy_dir = tempfile::tempdir().unwrap();
    let deploy = bare(deploy_dir.path());
    let inputs = [
        ("mode", "publish"),
        ("deploy-repository", deploy.as_str()),
        ("org-config", "pctl-org.yaml"),
    ];
    let mut r = Runner::new(&inputs, "push");
    let org = r.path("workspace/pctl-org.yaml");
    let text = std::fs::read_to_string(&org)
        .unwrap()
        .replace("spec:\n", "spec:\n  direct_publish: false\n");
    std::fs::write(&org, text).unwrap();
    let dev_only: String =
        std::fs::read_to_string(Path::new(ROOT).join("fixtures/acme/auth-service/platform.yaml"))
            .unwrap()
            .lines()
            .take_while(|l| !l.starts_with("    staging:"))
            .map(|l| format!("{l}\n"))
            .collect();
    std::fs::write(r.path("workspace/platform.yaml"), dev_only).unwrap();
    assert_eq!(r.run(), 0, "{}", r.log);
    assert_eq!(
        r.output("pr-branch"),
        "pctl/payment-api/main",
        "a dev-only change still goes through review"
    );
    assert_eq!(git(&deploy, &["rev-parse", "--verify", "-q", "main"]), "");
}

/// `@v1`: the action pins a release and its checksums; the archive is installed only when its
/// SHA-256 is the pinned one (a mirror of the release assets serves it here, over file://).
#[test]
fn a_pinned_release_is_installed_only_with_its_checksum() {
    let tmp = tempfile::tempdir().unwrap();
    let mirror = tmp.path().join("mirror");
    std::fs::create_dir_all(&mirror).unwrap();
    std::fs::copy(env!("CARGO_BIN_EXE_pctl"), mirror.join("pctl")).unwrap();
    let asset = "pctl-x86_64-unknown-linux-musl.tar.gz";
    let ok = Command::new("tar")
        .current_dir(&mirror)
        .args(["-czf", asset, "pctl"])
        .status()
        .unwrap();
    assert!(ok.success());
    let out = Command::new("sha256sum")
        .current_dir(&mirror)
        .arg(asset)
        .output()
        .unwrap();
    let sum = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    for (pinned, expect_ok) in [(sum.clone(), true), ("0".repeat(64), false)] {
        let mut r = Runner::new(
            &[("mode", "validate"), ("org-config", "pctl-org.yaml")],
            "push",
        );
        r.provide_bin = false;
        r.github.insert("action_ref".into(), "v1".into());
        let steps = r.action["runs"]["steps"].as_sequence_mut().unwrap();
        let env = steps[0]["env"].as_mapping_mut().unwrap();
        env.insert("PINNED_VERSION".into(), "1.2.3".into());
        env.insert(
            "PINNED_SHA256".into(),
            format!("aarch64-apple-darwin=abc x86_64-unknown-linux-musl={pinned}").into(),
        );
        let install = steps.iter_mut().find(|s| s["id"] == "install").unwrap();
        install["env"].as_mapping_mut().unwrap().insert(
            "PCTL_DOWNLOAD_BASE".into(),
            format!("file://{}", mirror.display()).into(),
        );
        let code = r.run();
        assert_eq!(r.outputs["version"]["version"], "1.2.3", "{}", r.log);
        if expect_ok {
            assert_eq!(code, 0, "{}", r.log);
            let bin = r.path("tool-cache/pctl/1.2.3/bin/pctl");
            assert!(bin.is_file(), "{}", r.log);
            assert_eq!(r.outputs["install"]["bin"], bin.display().to_string());
        } else {
            assert_ne!(code, 0, "a wrong checksum must fail:\n{}", r.log);
            assert!(!r.path("tool-cache/pctl/1.2.3/bin/pctl").exists());
        }
    }
}

/// The release workflow builds what the action downloads, and passes actionlint.
#[test]
fn the_release_workflow_builds_what_the_action_installs() {
    let release =
        std::fs::read_to_string(Path::new(ROOT).join(".github/workflows/release.yml")).unwrap();
    let action = std::fs::read_to_string(Path::new(ROOT).join("action.yml")).unwrap();
    for target in [
        "x86_64-unknown-linux-musl",
        "aarch64-unknown-linux-musl",
        "x86_64-apple-darwin",
        "aarch64-apple-darwin",
    ] {
        assert!(release.contains(&format!("target: {target}")), "{target}");
        assert!(action.contains(&format!("target={target}")), "{target}");
    }
    assert!(release.contains(r#"asset="pctl-$TARGET.tar.gz""#));
    assert!(action.contains(r#"asset="pctl-$TARGET.tar.gz""#));
    assert!(
        action.contains("        PINNED_VERSION: \"\"\n"),
        "the release workflow's sed needs this line"
    );
    let dir = tempfile::tempdir().unwrap();
    let wf = dir.path().join(".github/workflows");
    std::fs::create_dir_all(&wf).unwrap();
    std::fs::write(wf.join("release.yml"), release).unwrap();
    let out = Command::new("bash")
        .arg(Path::new(ROOT).join("../shared/oracles/validate-deploy-tree"))
        .arg("--require-all")
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("1 passed, 0 failed"), "{stdout}");
}
