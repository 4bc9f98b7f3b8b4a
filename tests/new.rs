//! `pctl new service`: the golden path. Flags mode (files, `pctl validate`, `pctl render`,
//! refusing to overwrite, `--force`, unknown owner, missing values), organisation discovery,
//! escaping, the workflow through the deploy-tree oracle (actionlint), and scripted interactive
//! sessions through a pseudo-terminal (python3's `pty` module driving the real binary).

use crate::support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use support::{ROOT, Run, pctl, run};

const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

fn org_file() -> PathBuf {
    Path::new(ROOT).join(support::ORG)
}

/// `pctl new service ARGS` run in `cwd` (stdin is not a terminal).
fn new_in(cwd: &Path, args: &[&str]) -> Run {
    let mut cmd = pctl();
    cmd.current_dir(cwd).args(["new", "service"]).args(args);
    run(cmd)
}

fn pctl_in(cwd: &Path, args: &[&str]) -> Run {
    let mut cmd = pctl();
    cmd.current_dir(cwd).args(args);
    run(cmd)
}

fn read(p: &Path) -> String {
    fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn flags_mode_writes_a_platform_yaml_that_validates_and_renders() {
    let tmp = tempfile::tempdir().unwrap();
    let org = org_file();
    let org = org.to_str().unwrap();
    let r = new_in(
        tmp.path(),
        &[
            "payment-api",
            "--kind",
            "Service",
            "--owner",
            "team-payments",
            "--database",
            "postgres",
            "--cache",
            "redis",
            "--queue",
            "--org",
            org,
        ],
    );
    r.expect_code(0);
    let dir = tmp.path().join("payment-api");
    let platform = read(&dir.join("platform.yaml"));
    for want in [
        "kind: Service\n",
        "  name: payment-api\n",
        "  owner: team-payments\n",
        "  image: ghcr.io/acme/payment-api",
        "  port: 8080\n",
        "  health: {liveness: /healthz, readiness: /readyz}\n",
        "    - {path: /, public: true}\n",
        "    db: {type: postgres, size: small}\n",
        "    cache: {type: redis, size: small}\n",
        "    queue: {type: queue, size: standard}\n",
        "    dev: {replicas: 1}\n",
        "    staging: {replicas: 1}\n",
        "    prod:\n      autoscale: {min: 2, max: 6, cpu_percent: 70}\n",
    ] {
        assert!(
            platform.contains(want),
            "platform.yaml lacks {want:?}:\n{platform}"
        );
    }
    let workflow = read(&dir.join(".github/workflows/platform.yml"));
    for want in [
        "\"on\":\n  pull_request:\n  push:\n",
        "permissions:\n  contents: read\n",
        "uses: acme/pctl@v1",
        "mode: validate",
        "mode: diff",
        "mode: publish",
        "deploy-repository: \"https://github.com/acme/deploy\"",
        "token: ${{ secrets.DEPLOY_REPO_TOKEN }}",
        "# target-branch unset",
        "the newest pctl 1.x release the action pins",
        "working-directory: \".\"",
    ] {
        assert!(
            workflow.contains(want),
            "workflow lacks {want:?}:\n{workflow}"
        );
    }
    let readme = read(&dir.join("README.md"));
    assert!(readme.starts_with("# payment-api\n"), "{readme}");
    assert!(
        readme.contains("## How payment-api is deployed"),
        "{readme}"
    );
    assert!(readme.contains("`apps/prod/payment-api/`"), "{readme}");

    // Next steps: deploy repository paths per environment, dev URL, dashboard, runbook, preview.
    for want in [
        "apps/dev/payment-api/",
        "apps/staging/payment-api/",
        "apps/prod/payment-api/",
        "https://payment-api.dev.acme.example/",
        "Dashboard:",
        "Runbook:",
        "pctl render payment-api --org ",
    ] {
        assert!(
            r.stdout.contains(want),
            "next steps lack {want:?}\n{}",
            r.describe()
        );
    }

    // It validates with `pctl validate` against the same organisation...
    pctl_in(tmp.path(), &["validate", "payment-api", "--org", org]).expect_code(0);
    // ...and renders.
    let out = tmp.path().join("out");
    pctl_in(
        tmp.path(),
        &[
            "render",
            "payment-api",
            "--org",
            org,
            "--source-sha",
            SHA,
            "--image-tag",
            "t",
            "--out",
            out.to_str().unwrap(),
        ],
    )
    .expect_code(0);
    for f in [
        "apps/dev/payment-api/deployment.yaml",
        "apps/dev/payment-api/ingress.yaml",
        "apps/prod/payment-api/hpa.yaml",
        "terraform/prod/payment-api/db.tf",
    ] {
        assert!(out.join(f).is_file(), "render did not produce {f}");
    }
}

#[test]
fn every_kind_validates_and_renders() {
    let tmp = tempfile::tempdir().unwrap();
    for (name, kind, extra) in [
        ("ledger-worker", "Worker", vec!["--queue", "--database"]),
        ("nightly", "CronJob", vec!["--schedule", "30 2 * * 1"]),
        ("plain", "Service", vec![]),
    ] {
        let mut args = vec![name, "--kind", kind, "--owner", "team-ledger"];
        args.extend(extra);
        new_in(tmp.path(), &args).expect_code(0);
        let platform = read(&tmp.path().join(name).join("platform.yaml"));
        assert!(platform.contains(&format!("kind: {kind}\n")), "{platform}");
        match kind {
            "Worker" => {
                assert!(!platform.contains("port:"), "{platform}");
                assert!(platform.contains("db: {type: postgres"), "{platform}");
            }
            "CronJob" => {
                assert!(platform.contains("schedule: \"30 2 * * 1\""), "{platform}");
                assert!(platform.contains("    prod: {}\n"), "{platform}");
            }
            _ => assert!(!platform.contains("resources:"), "{platform}"),
        }
        // The built-in organisation: no --org anywhere.
        pctl_in(tmp.path(), &["validate", name]).expect_code(0);
        let out = tmp.path().join(format!("out-{name}"));
        pctl_in(
            tmp.path(),
            &[
                "render",
                name,
                "--source-sha",
                SHA,
                "--image-tag",
                "t",
                "--out",
                out.to_str().unwrap(),
            ],
        )
        .expect_code(0);
    }
}

#[test]
fn refuses_to_overwrite_unless_forced() {
    let tmp = tempfile::tempdir().unwrap();
    let args = ["svc", "--kind", "Worker", "--owner", "team-ledger"];
    new_in(tmp.path(), &args).expect_code(0);
    let platform = tmp.path().join("svc/platform.yaml");
    fs::write(&platform, "# edited by hand\n").unwrap();

    let r = new_in(tmp.path(), &args);
    r.expect_code(2);
    assert!(
        r.stderr.contains("`svc/platform.yaml` already exists")
            && r.stderr
                .contains("`svc/.github/workflows/platform.yml` already exists")
            && r.stderr.contains("--force"),
        "{}",
        r.describe()
    );
    assert_eq!(
        read(&platform),
        "# edited by hand\n",
        "nothing may be written"
    );

    let mut forced = args.to_vec();
    forced.push("--force");
    new_in(tmp.path(), &forced).expect_code(0);
    assert!(read(&platform).contains("kind: Worker"));
    // The README section is written once, whatever the number of runs.
    let readme = read(&tmp.path().join("svc/README.md"));
    assert_eq!(
        readme.matches("## How svc is deployed").count(),
        1,
        "{readme}"
    );
}

#[test]
fn an_existing_folder_and_readme_are_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("app");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("README.md"), "# My app\n\nIt does things.").unwrap();
    fs::write(dir.join("main.go"), "package main\n").unwrap();
    let r = new_in(
        tmp.path(),
        &[
            "my-app",
            "--kind",
            "Service",
            "--owner",
            "team-platform",
            "--dir",
            "app",
        ],
    );
    r.expect_code(0);
    let readme = read(&dir.join("README.md"));
    assert!(
        readme.starts_with("# My app\n\nIt does things.\n\n## How my-app is deployed\n"),
        "{readme}"
    );
    assert_eq!(read(&dir.join("main.go")), "package main\n");
    assert!(
        r.stdout.contains("appended to app/README.md"),
        "{}",
        r.describe()
    );
}

#[test]
fn unknown_owner_is_refused_with_a_suggestion() {
    let tmp = tempfile::tempdir().unwrap();
    let r = new_in(
        tmp.path(),
        &[
            "svc",
            "--kind",
            "Service",
            "--owner",
            "team-payment",
            "--format",
            "json",
        ],
    );
    r.expect_code(2);
    let d = r.diags_with_code("new/unknown-owner");
    assert_eq!(d.len(), 1, "{}", r.describe());
    assert_eq!(d[0]["help"], "did you mean `team-payments`?");
    assert!(d[0]["expected"].as_str().unwrap().contains("`team-ledger`"));
    assert!(!tmp.path().join("svc").exists(), "nothing may be written");

    // Human text, like every other command.
    let r = new_in(
        tmp.path(),
        &["svc", "--kind", "Service", "--owner", "payments"],
    );
    r.expect_code(2);
    assert!(
        r.stderr
            .contains("error[new/unknown-owner]: owner `payments` is not a team"),
        "{}",
        r.describe()
    );
}

#[test]
fn bad_values_are_refused_before_anything_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let r = new_in(
        tmp.path(),
        &[
            "Payment_API",
            "--kind",
            "CronJob",
            "--owner",
            "team-ledger",
            "--schedule",
            "0 3 * *",
            "--cache",
            "redi",
            "--format",
            "json",
        ],
    );
    r.expect_code(2);
    let codes: Vec<String> = r
        .diagnostics()
        .iter()
        .map(|d| d["code"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        codes,
        ["new/name", "new/schedule", "new/unknown-resource-type"],
        "{}",
        r.describe()
    );
    assert_eq!(
        r.diags_with_code("new/name")[0]["help"],
        "did you mean `payment-api`?"
    );
    assert_eq!(
        r.diags_with_code("new/unknown-resource-type")[0]["help"],
        "did you mean `redis`?"
    );
    assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 0);
}

#[test]
fn without_a_terminal_missing_values_are_an_error_that_lists_the_flags() {
    let tmp = tempfile::tempdir().unwrap();
    let r = new_in(tmp.path(), &[]);
    r.expect_code(2);
    assert!(
        r.stderr
            .contains("error[new/missing]: missing required values: NAME, --kind, --owner"),
        "{}",
        r.describe()
    );
    assert!(r.stderr.contains("not a terminal"), "{}", r.describe());
    // --yes takes the defaults (kind Service) but there is no default owner or name.
    let r = new_in(tmp.path(), &["svc", "--yes"]);
    r.expect_code(2);
    assert!(
        r.stderr.contains("missing required value: --owner"),
        "{}",
        r.describe()
    );
    let r = new_in(tmp.path(), &["svc", "--yes", "--owner", "team-ledger"]);
    r.expect_code(0);
    assert!(read(&tmp.path().join("svc/platform.yaml")).contains("kind: Service\n"));
}

/// An organisation whose names look like other YAML types: everything must stay a string.
const TRICKY_ORG: &str = r#"apiVersion: pctl.dev/v1
kind: Organisation
metadata:
  name: tricky
spec:
  deploy_repository:
    url: "https://git.example.com/platform/deploy-repo"
    branch: "release"
  registries: ["registry.example.com:5000/tricky"]
  build: {scanner: grype, fail_on: high, provenance: github}
  environments:
    - {name: "no", cluster: c1, domain: no.tricky.example, region: r1}
    - {name: "null", cluster: c2, domain: tricky.example, region: r1, protected: true}
  teams:
    - name: "yes"
    - name: "007"
  sizes:
    postgres:
      tiny: {class: db.t4g.micro}
"#;

#[test]
fn the_organisation_is_discovered_and_its_values_are_escaped() {
    let tmp = tempfile::tempdir().unwrap();
    // pctl-org.yaml in the current folder is the organisation; the service goes into the
    // same folder, so the workflow points at it with `org-config`.
    fs::write(tmp.path().join("pctl-org.yaml"), TRICKY_ORG).unwrap();
    for owner in ["yes", "007"] {
        let dir = format!("svc-{owner}");
        let r = new_in(
            tmp.path(),
            &[
                "svc",
                "--kind",
                "Service",
                "--owner",
                owner,
                "--database",
                "--dir",
                ".",
            ],
        );
        // Same folder twice: the second run must be forced.
        if owner == "007" {
            r.expect_code(2);
            let mut forced = vec!["svc", "--kind", "Service", "--owner", owner];
            forced.extend(["--database", "--dir", ".", "--force"]);
            new_in(tmp.path(), &forced).expect_code(0);
        } else {
            r.expect_code(0);
        }
        let platform = read(&tmp.path().join("platform.yaml"));
        assert!(
            platform.contains(&format!("  owner: \"{owner}\"\n")),
            "{dir}: {platform}"
        );
        assert!(
            platform.contains("    \"no\": {replicas: 1}\n"),
            "{platform}"
        );
        assert!(
            platform.contains("    \"null\":\n      autoscale:"),
            "{platform}"
        );
        assert!(
            platform.contains("db: {type: postgres, size: tiny}"),
            "{platform}"
        );
        assert!(
            platform.contains("image: \"registry.example.com:5000/tricky/svc\""),
            "{platform}"
        );
        pctl_in(tmp.path(), &["validate", "."]).expect_code(0);
    }
    let workflow = read(&tmp.path().join(".github/workflows/platform.yml"));
    assert!(workflow.contains("uses: platform/pctl@v1"), "{workflow}");
    assert!(
        workflow.contains("org-config: pctl-org.yaml\n"),
        "{workflow}"
    );
    assert!(
        workflow.contains("deploy-repository: \"https://git.example.com/platform/deploy-repo\""),
        "{workflow}"
    );
    let readme = read(&tmp.path().join("README.md"));
    assert!(readme.contains("branch `release`"), "{readme}");
    assert_eq!(readme.matches("## How svc is deployed").count(), 1);
    let run = pctl_in(
        tmp.path(),
        &["render", ".", "--source-sha", SHA, "--image-tag", "t"],
    );
    run.expect_code(0);
    assert!(
        run.stdout.contains("--- apps/null/svc/hpa.yaml"),
        "{}",
        run.describe()
    );
}

#[test]
fn the_workflow_passes_actionlint() {
    let root = Path::new(ROOT);
    let oracle = root.join("../shared/oracles/validate-deploy-tree");
    assert!(oracle.exists(), "{} is missing", oracle.display());
    let tmp = tempfile::tempdir().unwrap();
    let org = org_file();
    let tricky = tmp.path().join("tricky-org.yaml");
    fs::write(&tricky, TRICKY_ORG).unwrap();
    let variants: [(&str, Vec<&str>); 3] = [
        (
            "service",
            vec![
                "api",
                "--kind",
                "Service",
                "--owner",
                "team-payments",
                "--database",
                "--org",
                org.to_str().unwrap(),
            ],
        ),
        (
            "cron",
            vec!["report", "--kind", "CronJob", "--owner", "team-ledger"],
        ),
        (
            "tricky",
            vec![
                "odd",
                "--kind",
                "Worker",
                "--owner",
                "007",
                "--org",
                tricky.to_str().unwrap(),
            ],
        ),
    ];
    // Only the workflows: the oracle runs actionlint on .github/workflows/*.yml.
    let tree = tmp.path().join("tree");
    fs::create_dir_all(tree.join(".github/workflows")).unwrap();
    for (label, args) in &variants {
        let mut args = args.clone();
        let dir = format!("gen-{label}");
        args.extend(["--dir", &dir]);
        new_in(tmp.path(), &args).expect_code(0);
        fs::copy(
            tmp.path().join(&dir).join(".github/workflows/platform.yml"),
            tree.join(format!(".github/workflows/platform-{label}.yml")),
        )
        .unwrap();
    }
    let out = Command::new("bash")
        .arg(&oracle)
        .arg(&tree)
        .output()
        .expect("run the oracle");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("3 passed, 0 failed"),
        "the oracle rejected a generated workflow:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

// ---------------------------------------------------------------------------------------------
// Interactive sessions in a pseudo-terminal

/// Drives a command in a pseudo-terminal: waits for each `expect` text in the output, then types
/// the answer and Enter (no answer: only wait). Prints the transcript and `PTY-EXIT: <code>`.
const PTY_DRIVER: &str = r#"
import json, os, pty, select, subprocess, sys, time
steps = json.loads(sys.argv[1])
master, slave = pty.openpty()
proc = subprocess.Popen(sys.argv[2:], stdin=slave, stdout=slave, stderr=slave, close_fds=True)
os.close(slave)
buf = b""
pos = 0
def more(deadline):
    global buf
    ready, _, _ = select.select([master], [], [], max(0.0, deadline - time.time()))
    if not ready:
        return "timeout"
    try:
        data = os.read(master, 4096)
    except OSError:
        data = b""
    if not data:
        return "eof"
    buf += data
    return "data"
def fail(msg):
    proc.kill()
    sys.stdout.write(buf.decode("utf-8", "replace") + "\nPTY-FAIL: " + msg + "\n")
    sys.exit(3)
for expect, answer in steps:
    deadline = time.time() + 60
    while buf.find(expect.encode(), pos) < 0:
        got = more(deadline)
        if got != "data":
            fail("%s while waiting for %r" % (got, expect))
    pos = buf.find(expect.encode(), pos) + len(expect)
    if answer is not None:
        os.write(master, (answer + "\r").encode())
deadline = time.time() + 60
while True:
    got = more(deadline)
    if got == "eof":
        break
    if got == "timeout":
        fail("timeout while waiting for the end")
code = proc.wait(timeout=60)
sys.stdout.write(buf.decode("utf-8", "replace") + "\nPTY-EXIT: %d\n" % code)
"#;

/// Runs `pctl ARGS` in a pseudo-terminal in `cwd`, answering `steps`; returns (exit code, transcript).
fn pty_session(cwd: &Path, args: &[&str], steps: &[(&str, Option<&str>)]) -> (i32, String) {
    let steps = serde_json::to_string(steps).unwrap();
    let out = Command::new("python3")
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .env_remove("GITHUB_ACTIONS")
        .args(["-c", PTY_DRIVER, &steps, env!("CARGO_BIN_EXE_pctl")])
        .args(args)
        .output()
        .expect("python3 runs");
    let transcript = String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n");
    assert!(
        out.status.success(),
        "pty driver failed ({}):\n{transcript}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let code = transcript
        .rsplit_once("PTY-EXIT: ")
        .and_then(|(_, c)| c.trim().parse().ok())
        .expect("exit code");
    (code, transcript)
}

#[test]
fn interactive_session_in_a_terminal() {
    let tmp = tempfile::tempdir().unwrap();
    let (code, t) = pty_session(
        tmp.path(),
        &["new", "service", "--dir", "svc"],
        &[
            // The folder's name is the default; a bad name is asked again with a suggestion.
            ("Service name [svc]: ", Some("Bad_Name")),
            ("did you mean `bad-name`?", None),
            ("Service name [svc]: ", Some("ledger-sync")),
            ("3) CronJob", None),
            ("Choose 1-3 [1]: ", Some("2")),
            // Teams from the organisation, as a numbered list; a near miss gets a suggestion.
            ("Owning team:", None),
            ("2) team-ledger (#ledger)", None),
            ("Choose 1-3: ", Some("team-ledgr")),
            ("did you mean `team-ledger`?", None),
            ("Choose 1-3: ", Some("2")),
            ("Add a database (postgres)? [y/N] ", Some("y")),
            ("Add a cache (redis)? [y/N] ", Some("")),
            ("Add a queue? [y/N] ", Some("yes")),
        ],
    );
    assert_eq!(code, 0, "{t}");
    assert!(
        t.contains("created ledger-sync (Worker, owned by team-ledger) in svc/"),
        "{t}"
    );
    assert!(
        t.contains("URL:         none (a Worker receives no traffic)"),
        "{t}"
    );
    let platform = read(&tmp.path().join("svc/platform.yaml"));
    for want in [
        "kind: Worker\n",
        "  name: ledger-sync\n",
        "  owner: team-ledger\n",
        "    db: {type: postgres, size: small}\n",
        "    queue: {type: queue, size: standard}\n",
    ] {
        assert!(
            platform.contains(want),
            "platform.yaml lacks {want:?}:\n{platform}"
        );
    }
    assert!(!platform.contains("redis"), "{platform}");
    assert!(
        tmp.path()
            .join("svc/.github/workflows/platform.yml")
            .is_file()
    );
    assert!(read(&tmp.path().join("svc/README.md")).contains("## How ledger-sync is deployed"));
    pctl_in(tmp.path(), &["validate", "svc"]).expect_code(0);
}

#[test]
fn interactive_cron_job_asks_for_a_schedule() {
    let tmp = tempfile::tempdir().unwrap();
    let (code, t) = pty_session(
        tmp.path(),
        &["new", "service", "nightly", "--kind", "CronJob"],
        &[
            ("Choose 1-3: ", Some("3")),
            (
                "Schedule (cron: minute hour day-of-month month day-of-week) [0 3 * * *]: ",
                Some("0 3 * *"),
            ),
            ("4 fields instead of 5", None),
            ("[0 3 * * *]: ", Some("")),
            ("Add a database (postgres)? [y/N] ", Some("n")),
            ("Add a cache (redis)? [y/N] ", Some("")),
            ("Add a queue? [y/N] ", Some("")),
        ],
    );
    assert_eq!(code, 0, "{t}");
    let platform = read(&tmp.path().join("nightly/platform.yaml"));
    assert!(platform.contains("  owner: team-platform\n"), "{platform}");
    assert!(platform.contains("  schedule: \"0 3 * * *\""), "{platform}");
    assert!(!platform.contains("resources:"), "{platform}");
    pctl_in(tmp.path(), &["validate", "nightly"]).expect_code(0);
}

#[test]
fn a_terminal_with_every_flag_asks_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let (code, t) = pty_session(
        tmp.path(),
        &[
            "new",
            "service",
            "api",
            "--kind",
            "Service",
            "--owner",
            "team-payments",
        ],
        &[],
    );
    assert_eq!(code, 0, "{t}");
    assert!(!t.contains("[y/N]") && !t.contains("Choose"), "{t}");
    assert!(t.contains("https://api.dev.acme.example/"), "{t}");
    assert!(!read(&tmp.path().join("api/platform.yaml")).contains("resources:"));
}

fn git(dir: &Path, args: &[&str]) {
    let ok = Command::new("git")
        .current_dir(dir)
        .args(args)
        .status()
        .unwrap()
        .success();
    assert!(ok, "git {args:?}");
}

#[test]
fn at_a_repository_root_the_service_goes_into_the_root() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("orders");
    fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    git(
        &repo,
        &["remote", "add", "origin", "git@github.com:acme/orders.git"],
    );
    let r = new_in(
        &repo,
        &["orders", "--kind", "Worker", "--owner", "team-ledger"],
    );
    r.expect_code(0);
    // Where GitHub runs it, and the repository from `origin`, as https.
    assert!(repo.join(".github/workflows/platform.yml").is_file());
    let platform = read(&repo.join("platform.yaml"));
    assert!(
        platform.contains("  repository: \"https://github.com/acme/orders\"\n"),
        "{platform}"
    );
    assert!(!repo.join("orders").exists());
    assert!(!r.stderr.contains("nested-workflow"), "{}", r.describe());
    // A second service in the same repository goes into a folder, and the workflow GitHub
    // would never run below the root is a loud warning.
    let r = new_in(
        &repo,
        &["billing", "--kind", "Worker", "--owner", "team-ledger"],
    );
    r.expect_code(0);
    assert!(
        r.stderr
            .contains("warning[new/nested-workflow]: GitHub will never run `billing/.github/workflows/platform.yml`"),
        "{}",
        r.describe()
    );
}

#[test]
fn the_example_workflow_is_the_one_new_writes() {
    // examples/workflows/app-repo.yml is `pctl new`'s workflow for the example organisation:
    // one recommended workflow. PCTL_BLESS=1 rewrites the example.
    let tmp = tempfile::tempdir().unwrap();
    new_in(
        tmp.path(),
        &[
            "payment-api",
            "--kind",
            "Service",
            "--owner",
            "team-payments",
            "--database",
        ],
    )
    .expect_code(0);
    let generated = read(
        &tmp.path()
            .join("payment-api/.github/workflows/platform.yml"),
    );
    let example_path = Path::new(ROOT).join("examples/workflows/app-repo.yml");
    if std::env::var_os("PCTL_BLESS").is_some() {
        fs::write(&example_path, &generated).unwrap();
        return;
    }
    assert_eq!(
        read(&example_path),
        generated,
        "examples/workflows/app-repo.yml is stale: PCTL_BLESS=1 cargo test --test suite new::the_example_workflow"
    );
}
