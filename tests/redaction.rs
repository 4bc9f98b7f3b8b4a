//! Credentials never leave pctl: an application repository whose `origin` remote carries a
//! password (with a `/` in it, which a naive cut at the first `/` leaks) renders headers, records
//! and catalog links without it; publish, diff and metrics against a deploy repository URL with
//! credentials never print them, nor the token of PCTL_GIT_TOKEN.

use crate::support;

use std::fs;
use std::path::Path;
use support::*;

const ORIGIN: &str = "https://user:s3/cr3t@example.com/acme/app.git";
const SHOWN: &str = "https://example.com/acme/app.git";

#[track_caller]
fn assert_no_secret(what: &str, text: &str) {
    for secret in ["s3/cr3t", "cr3t", "user:s3"] {
        assert!(!text.contains(secret), "{what} shows `{secret}`:\n{text}");
    }
}

/// An organisation checkout that is one git repository (made with the git CLI) whose `origin`
/// is [`ORIGIN`], holding payment-api and auth-service without `metadata.repository` (so the
/// remote is what names their repository).
fn checkout(dir: &Path) -> std::path::PathBuf {
    let root = dir.join("org");
    for svc in ["payment-api", "auth-service"] {
        let text = fs::read_to_string(
            Path::new(ROOT)
                .join("fixtures/acme")
                .join(svc)
                .join("platform.yaml"),
        )
        .unwrap();
        let text: String = text
            .lines()
            .filter(|l| !l.trim_start().starts_with("repository:"))
            .map(|l| format!("{l}\n"))
            .collect();
        fs::create_dir_all(root.join(svc)).unwrap();
        fs::write(root.join(svc).join("platform.yaml"), text).unwrap();
    }
    git(&root, &["init", "--quiet", "-b", "main"]);
    git(&root, &["add", "."]);
    git(&root, &["commit", "--quiet", "-m", "services"]);
    git(&root, &["remote", "add", "origin", ORIGIN]);
    assert_eq!(git(&root, &["remote", "get-url", "origin"]).trim(), ORIGIN);
    root
}

#[test]
fn rendered_files_name_the_origin_without_its_password() {
    let tmp = tempfile::tempdir().unwrap();
    let root = checkout(tmp.path());
    let out = tmp.path().join("out");
    let org = Path::new(ROOT).join(ORG);
    let mut cmd = pctl();
    cmd.arg("render")
        .arg("--all")
        .arg(&root)
        .arg("--org")
        .arg(&org)
        .arg("--out")
        .arg(&out);
    let r = run(cmd);
    r.expect_code(0);
    assert_no_secret("render's output", &r.both());
    let files = read_tree(&out);
    assert!(files.len() > 20, "{} files", files.len());
    let mut naming = Vec::new();
    for (path, bytes) in &files {
        let text = String::from_utf8_lossy(bytes);
        assert_no_secret(path, &text);
        if text.contains(SHOWN) {
            naming.push(path.as_str());
        }
    }
    // The origin really is what names the repository: headers, records and the catalog.
    for expected in [
        ".pctl/services/payment-api.json",
        "catalog/payment-api/catalog-info.yaml",
        "docs/payment-api.md",
        "apps/prod/payment-api/rollout.yaml",
    ] {
        assert!(
            naming.contains(&expected),
            "{expected} does not name {SHOWN}: {naming:?}"
        );
    }

    // Printed instead of written: the same.
    let mut cmd = pctl();
    cmd.arg("render")
        .arg(root.join("payment-api"))
        .arg("--org")
        .arg(&org);
    let r = run(cmd);
    r.expect_code(0);
    assert!(r.stdout.contains(SHOWN), "{}", r.describe());
    assert_no_secret("render's printed files", &r.both());
}

/// A port nothing listens on, and one whose listener hangs up at once (TLS fails).
fn dead_ports() -> Vec<u16> {
    let hangup = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = hangup.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in hangup.incoming() {
            drop(conn);
        }
    });
    vec![free_port(), port]
}

#[test]
fn remote_errors_never_print_credentials() {
    for port in dead_ports() {
        let urls = [
            format!("https://user:s3/cr3t@127.0.0.1:{port}/deploy.git"),
            format!("https://user:s3%2Fcr3t@127.0.0.1:{port}/deploy.git"),
            format!("https://s3/cr3t@127.0.0.1:{port}/deploy.git"),
            format!("https://user:s3/cr3t@[::1]:{port}/deploy.git"),
            format!("git://user:s3/cr3t@127.0.0.1:{port}/deploy.git"),
        ];
        for url in &urls {
            for format in ["human", "json"] {
                for sub in ["publish", "diff"] {
                    let mut cmd = pctl_cmd(sub, "fixtures/acme/payment-api", TAG, url, format);
                    cmd.env("PCTL_GIT_TOKEN", "T0KEN-cr3t-value");
                    let r = run(cmd);
                    r.expect_code(2);
                    assert_no_secret(&r.describe(), &r.both());
                    assert!(!r.both().contains("T0KEN"), "{}", r.describe());
                    if format == "json" {
                        let errors = r.diags_with_code("publish/remote");
                        assert_eq!(errors.len(), 1, "{}", r.describe());
                    }
                }
                let mut cmd = pctl();
                cmd.env("PCTL_GIT_TOKEN", "T0KEN-cr3t-value").args([
                    "metrics",
                    "--deploy-repo",
                    url,
                    "--format",
                    format,
                ]);
                let r = run(cmd);
                r.expect_code(2);
                assert_no_secret(&r.describe(), &r.both());
                assert!(!r.both().contains("T0KEN"), "{}", r.describe());
            }
        }
    }
}

/// A publish that succeeds through a URL with credentials names the repository without them.
#[test]
fn a_successful_publish_shows_no_credentials() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = bare_repo(tmp.path(), "deploy.git");
    let daemon = GitDaemon::start(tmp.path());
    let url = daemon
        .url("deploy.git")
        .replacen("git://", "git://user:s3cr3t@", 1);
    for format in ["human", "markdown", "json"] {
        let r = run(pctl_cmd(
            "publish",
            "fixtures/acme/payment-api",
            TAG,
            &url,
            format,
        ));
        r.expect_code(0);
        assert!(!r.both().contains("s3cr3t"), "{}", r.describe());
    }
    assert!(tip(&bare, "main").is_some(), "the publish landed");
}
