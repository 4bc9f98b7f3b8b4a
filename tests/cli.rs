//! The command line as a user meets it: `--help` for every command, formats per command (a
//! format a command does not have is a usage error, exit 2), flags only where they act,
//! `--color`, `-q`/`-v`, shell completions (loaded into a real bash), the man page (read by a
//! real `man`), `--source-sha` checked, the organisation config found by walking up or named by
//! a folder, and the one line that says the built-in example organisation is used.

use crate::support;

use std::path::Path;
use std::process::Command;
use support::{ORG, ROOT, Run, pctl, run};

const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

fn pctl_run(args: &[&str]) -> Run {
    let mut cmd = pctl();
    cmd.args(args);
    run(cmd)
}

const COMMANDS: [&str; 12] = [
    "validate",
    "render",
    "diff",
    "publish",
    "cost",
    "graph",
    "schema",
    "new",
    "metrics",
    "catalog",
    "completions",
    "man",
];

#[test]
fn help_for_every_command() {
    let r = pctl_run(&["--help"]);
    r.expect_code(0);
    for c in COMMANDS {
        assert!(r.stdout.contains(&format!("  {c}")), "{c}\n{}", r.stdout);
        let h = pctl_run(&[c, "--help"]);
        h.expect_code(0);
        assert!(h.stdout.contains("Usage: pctl"), "{c}: {}", h.describe());
        assert!(h.stdout.contains("--color <WHEN>"), "{c}: {}", h.stdout);
    }
    let h = pctl_run(&["new", "service", "--help"]);
    h.expect_code(0);
    assert!(h.stdout.contains("--owner <TEAM>"), "{}", h.stdout);
    assert!(pctl_run(&["--version"]).stdout.starts_with("pctl "));
}

#[test]
fn a_format_a_command_does_not_have_is_a_usage_error() {
    for (args, bad) in [
        (vec!["validate", "fixtures/acme/payment-api"], "mermaid"),
        (vec!["render", "fixtures/acme/payment-api"], "markdown"),
        (vec!["cost", "fixtures/acme/payment-api"], "dot"),
        (vec!["graph", "--all", "fixtures/acme"], "human"),
        (vec!["catalog", "payment-api", "fixtures/acme"], "github"),
        (vec!["metrics", "--deploy-repo", "x"], "github"),
        (
            vec!["diff", "fixtures/acme/payment-api", "--deploy-repo", "x"],
            "mermaid",
        ),
    ] {
        let mut a = args.clone();
        a.extend(["--format", bad]);
        let r = pctl_run(&a);
        r.expect_code(2);
        assert!(
            r.stderr
                .contains(&format!("invalid value '{bad}' for '--format <FORMAT>'")),
            "{}",
            r.describe()
        );
    }
    // The format is the command's: before the command it is not an option at all.
    pctl_run(&["--format", "json", "validate"]).expect_code(2);
    // ...and a good one works, wherever the command's options go.
    let r = pctl_run(&["graph", "--format", "dot", "--all", "fixtures/acme"]);
    r.expect_code(0);
    assert!(r.stdout.starts_with("digraph"), "{}", r.describe());
}

#[test]
fn flags_appear_only_where_they_act() {
    for (cmd, flag) in [
        ("validate", "--shard"),
        ("graph", "--policies"),
        ("graph", "--shard"),
        ("catalog", "--policies"),
        ("cost", "--shard"),
        ("diff", "--protected-via-branch"),
    ] {
        let h = pctl_run(&[cmd, "--help"]);
        assert!(!h.stdout.contains(flag), "{cmd} --help shows {flag}");
    }
    for (cmd, flag) in [
        ("render", "--shard"),
        ("publish", "--protected-via-branch"),
        ("validate", "--policies"),
        ("render", "--blueprints"),
    ] {
        assert!(
            pctl_run(&[cmd, "--help"]).stdout.contains(flag),
            "{cmd} {flag}"
        );
    }
    pctl_run(&["graph", "--shard", "1/2", "--all", "fixtures/acme"]).expect_code(2);
    // --no-cache means something only with --out.
    pctl_run(&["render", "fixtures/acme/payment-api", "--no-cache"]).expect_code(2);
}

#[test]
fn source_sha_is_a_full_commit_id() {
    let r = pctl_run(&["render", "fixtures/acme/payment-api", "--source-sha", "abc"]);
    r.expect_code(2);
    assert!(
        r.stderr.contains("40 hexadecimal characters"),
        "{}",
        r.describe()
    );
    let upper = SHA.to_ascii_uppercase();
    let r = pctl_run(&[
        "render",
        "fixtures/acme/payment-api",
        "--source-sha",
        &upper,
        "--format",
        "json",
    ]);
    r.expect_code(0);
}

#[test]
fn completions_load_into_bash() {
    let r = pctl_run(&["completions", "bash"]);
    r.expect_code(0);
    assert!(r.stdout.contains("_pctl()"), "{}", r.stdout);
    // A real bash loads it and completes `pctl val` to `validate`.
    let tmp = tempfile::tempdir().unwrap();
    let script = tmp.path().join("pctl.bash");
    std::fs::write(&script, &r.stdout).unwrap();
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source {}; COMP_WORDS=(pctl val); COMP_CWORD=1; COMP_LINE='pctl val'; COMP_POINT=8; _pctl pctl val pctl; echo \"${{COMPREPLY[@]}}\"",
            script.display()
        ))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.split_whitespace().any(|w| w == "validate"),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for shell in ["zsh", "fish", "powershell", "elvish"] {
        pctl_run(&["completions", shell]).expect_code(0);
    }
    pctl_run(&["completions", "tcsh"]).expect_code(2);
}

#[test]
fn the_man_page_reads_in_man() {
    let r = pctl_run(&["man"]);
    r.expect_code(0);
    assert!(
        r.stdout.starts_with(".ie \\n(.g .ds Aq") || r.stdout.contains(".TH pctl 1"),
        "{}",
        &r.stdout[..200.min(r.stdout.len())]
    );
    for c in COMMANDS {
        assert!(r.stdout.contains(c), "man page lacks {c}");
    }
    let tmp = tempfile::tempdir().unwrap();
    let page = tmp.path().join("pctl.1");
    std::fs::write(&page, &r.stdout).unwrap();
    // `man -l` renders it as a reader sees it (groff underneath).
    if let Ok(out) = Command::new("man")
        .arg("-l")
        .arg(&page)
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "100")
        .output()
    {
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains("GitOps intent compiler"), "{text}");
    }
    let dir = tmp.path().join("man1");
    let r = pctl_run(&["man", "--out", dir.to_str().unwrap()]);
    r.expect_code(0);
    for c in [
        "pctl.1",
        "pctl-validate.1",
        "pctl-publish.1",
        "pctl-new-service.1",
    ] {
        assert!(dir.join(c).is_file(), "{c} missing");
    }
}

#[test]
fn color_quiet_and_verbose() {
    let args = ["validate", "--all", "fixtures/acme"];
    // Three warnings of one kind: one line each by default, grouped and counted.
    let r = pctl_run(&args);
    r.expect_code(0);
    assert!(
        r.stderr
            .contains("warning[guardrail/production-contacts]: 3 warnings"),
        "{}",
        r.describe()
    );
    assert!(
        !r.stderr.contains("-->"),
        "no snippets by default: {}",
        r.stderr
    );
    // -v: each in full; -q: none, only the result.
    let mut v = args.to_vec();
    v.push("-v");
    assert_eq!(pctl_run(&v).stderr.matches(" --> ").count(), 3);
    let r = pctl_run(&["-q", "validate", "--all", "fixtures/acme"]);
    assert_eq!(
        r.stderr.trim(),
        "ok: 4 services valid (3 warnings)",
        "{}",
        r.describe()
    );
    // --color always colours even into a pipe; never wins over a terminal.
    let mut c = args.to_vec();
    c.extend(["--color", "always"]);
    let mut cmd = pctl();
    cmd.args(&c).env_remove("NO_COLOR");
    assert!(run(cmd).stderr.contains('\u{1b}'));
    let mut c = args.to_vec();
    c.extend(["--color", "never"]);
    assert!(!pctl_run(&c).stderr.contains('\u{1b}'));
    // Errors come first, before any warning.
    let r = pctl_run(&["validate", "fixtures/invalid/several-semantic-problems"]);
    let first_warning = r.stderr.find("warning[").unwrap_or(usize::MAX);
    let last_error = r.stderr.rfind("error[").unwrap();
    assert!(last_error < first_warning, "{}", r.stderr);
}

#[test]
fn the_organisation_config_is_found_or_the_example_is_said_once() {
    let tmp = tempfile::tempdir().unwrap();
    let app = tmp.path().join("apps/payment-api");
    std::fs::create_dir_all(&app).unwrap();
    std::fs::copy(
        Path::new(ROOT).join("fixtures/acme/payment-api/platform.yaml"),
        app.join("platform.yaml"),
    )
    .unwrap();
    // No pctl-org.yaml anywhere: the built-in example, said once on stderr.
    let mut cmd = pctl();
    cmd.current_dir(&app).arg("validate");
    let r = run(cmd);
    assert_eq!(
        r.stderr
            .matches("using pctl's built-in example organisation")
            .count(),
        1,
        "{}",
        r.describe()
    );
    // -q and --format json say nothing.
    let mut cmd = pctl();
    cmd.current_dir(&app).args(["validate", "-q"]);
    assert!(!run(cmd).stderr.contains("built-in example"));
    let mut cmd = pctl();
    cmd.current_dir(&app).args(["validate", "--format", "json"]);
    assert!(!run(cmd).stderr.contains("built-in example"));
    // pctl-org.yaml two folders up is found (and named in messages).
    std::fs::copy(Path::new(ROOT).join(ORG), tmp.path().join("pctl-org.yaml")).unwrap();
    let mut cmd = pctl();
    cmd.current_dir(&app).args(["validate"]);
    let r = run(cmd);
    r.expect_code(0);
    assert!(!r.stderr.contains("built-in example"), "{}", r.describe());
    // --org accepts a folder holding pctl-org.yaml (a checkout of the platform repository),
    // and so does PCTL_ORG.
    let platform = tmp.path().join("platform-repo");
    std::fs::create_dir_all(&platform).unwrap();
    std::fs::write(
        platform.join("pctl-org.yaml"),
        std::fs::read_to_string(Path::new(ROOT).join(ORG))
            .unwrap()
            .replace("name: team-payments", "name: team-cards"),
    )
    .unwrap();
    let mut cmd = pctl();
    cmd.current_dir(&app)
        .args(["validate", "--format", "json", "--org"])
        .arg(&platform);
    let r = run(cmd);
    r.expect_code(1);
    assert_eq!(
        r.diags_with_code("semantic/unknown-team").len(),
        1,
        "{}",
        r.describe()
    );
    let mut cmd = pctl();
    cmd.current_dir(&app)
        .args(["validate", "--format", "json"])
        .env("PCTL_ORG", &platform);
    assert_eq!(run(cmd).diags_with_code("semantic/unknown-team").len(), 1);
}

#[test]
fn provenance_never_says_unknown() {
    // A folder outside any git repository, without metadata.repository.
    let tmp = tempfile::tempdir().unwrap();
    let text =
        std::fs::read_to_string(Path::new(ROOT).join("fixtures/acme/payment-api/platform.yaml"))
            .unwrap();
    let text: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("repository:"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(tmp.path().join("platform.yaml"), text).unwrap();
    std::fs::copy(Path::new(ROOT).join(ORG), tmp.path().join("pctl-org.yaml")).unwrap();
    let mut cmd = pctl();
    cmd.current_dir(tmp.path())
        .args(["render", "--source-sha", SHA, "--image-tag", "t"]);
    let r = run(cmd);
    r.expect_code(0);
    assert!(!r.stdout.contains("unknown@"), "{}", r.stdout);
    assert!(
        r.stdout
            .contains(&format!("generated by pctl from local-checkout@{SHA}"))
    );
    assert!(
        r.stderr.contains("warning[source/no-repository]"),
        "{}",
        r.describe()
    );
    // Publishing it is refused: the deploy repository binds services to repositories.
    let deploy = tmp.path().join("deploy.git");
    assert!(
        Command::new("git")
            .args(["init", "-q", "--bare", "-b", "main"])
            .arg(&deploy)
            .status()
            .unwrap()
            .success()
    );
    let mut cmd = pctl();
    cmd.current_dir(tmp.path())
        .args(["publish", "--source-sha", SHA, "--deploy-repo"])
        .arg(&deploy);
    let r = run(cmd);
    r.expect_code(2);
    assert!(
        r.stderr
            .contains("error[source/no-repository]: cannot publish `payment-api`"),
        "{}",
        r.describe()
    );
}

#[test]
fn env_values_stay_as_written_and_redis_names_are_accepted() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("platform.yaml"),
        "apiVersion: pctl.dev/v1\nkind: Worker\nmetadata:\n  name: cache-user\n  owner: team-ledger\n  repository: https://github.com/acme/cache-user\nspec:\n  image: ghcr.io/acme/cache-user\n  env: {RATIO: 1.10, MODE: 0755, BIG: 1e3, ON: true}\n  resources:\n    cache: {type: redis, size: small, eviction: volatile-lru}\n  environments:\n    dev: {env: {LEVEL: 010}}\n",
    )
    .unwrap();
    let mut cmd = pctl();
    cmd.current_dir(tmp.path())
        .args(["render", "--source-sha", SHA, "--image-tag", "t"]);
    let r = run(cmd);
    r.expect_code(0);
    for want in [
        "\"RATIO\": \"1.10\"",
        "\"MODE\": \"0755\"",
        "\"BIG\": \"1e3\"",
        "\"ON\": \"true\"",
        "\"LEVEL\": \"010\"",
        "value = \"volatile-lru\"",
    ] {
        assert!(r.stdout.contains(want), "{want}\n{}", r.describe());
    }
}
