//! Promotion environment by environment: a publish from the application's pipeline updates the
//! environments whose promotion is automatic; `pctl promote` moves exactly the version (image
//! digest and the configuration of that version) another environment runs; a publish retried
//! after a concurrent promotion keeps it.

use crate::support;

use std::fs;
use std::path::{Path, PathBuf};
use support::*;

const S1: &str = "1111111111111111111111111111111111111111";
const S2: &str = "2222222222222222222222222222222222222222";
const S3: &str = "3333333333333333333333333333333333333333";

fn digest(n: u8) -> String {
    format!("sha256:{}", format!("{n:02x}").repeat(32))
}

/// The acme organisation and payment-api in a folder of their own; staging's promotion is
/// manual by the service's choice (prod is manual because it is protected).
fn app(tmp: &Path) -> PathBuf {
    let org = tmp.join("acme");
    let dir = org.join("payment-api");
    fs::create_dir_all(&dir).unwrap();
    // prod's promotion is the default for a protected environment: manual.
    let config = fs::read_to_string(Path::new(ROOT).join(ORG))
        .unwrap()
        .replace("      promotion: auto\n", "");
    assert!(!config.contains("promotion:"));
    fs::write(org.join("pctl-org.yaml"), config).unwrap();
    let intent =
        fs::read_to_string(Path::new(ROOT).join("fixtures/acme/payment-api/platform.yaml"))
            .unwrap()
            .replace(
                "    staging: {replicas: 2}",
                "    staging: {replicas: 2, promotion: manual}",
            );
    assert!(intent.contains("promotion: manual"));
    fs::write(dir.join("platform.yaml"), intent).unwrap();
    dir
}

/// A new version of the application: its LOG_LEVEL says which one.
fn set_version(dir: &Path, level: &str) {
    let path = dir.join("platform.yaml");
    let text = fs::read_to_string(&path).unwrap();
    let start = text.find("LOG_LEVEL: ").unwrap() + "LOG_LEVEL: ".len();
    let end = start + text[start..].find('}').unwrap();
    fs::write(&path, format!("{}{level}{}", &text[..start], &text[end..])).unwrap();
}

fn publish(dir: &Path, sha: &str, digest: &str, deploy: &str) -> Run {
    let mut cmd = pctl();
    cmd.arg("publish")
        .arg(dir)
        .args(["--source-sha", sha, "--image-tag", &sha[..7]])
        .args(["--image-digest", digest, "--deploy-repo", deploy])
        .args(["--format", "json"]);
    run(cmd)
}

fn promote(dir: &Path, deploy: &str, args: &[&str]) -> Run {
    let mut cmd = pctl();
    cmd.arg("promote")
        .arg("payment-api")
        .args(args)
        .args(["--deploy-repo", deploy, "--format", "json"])
        .arg("--org")
        .arg(dir.parent().unwrap().join("pctl-org.yaml"));
    run(cmd)
}

/// Every image and LOG_LEVEL of payment-api's manifests in `env` at `rev`, or None when the
/// service does not run there.
fn running(repo: &Path, rev: &str, env: &str) -> Option<(Vec<String>, Vec<String>)> {
    let prefix = format!("apps/{env}/payment-api/");
    let files: Vec<String> = ls_tree(repo, rev)
        .into_iter()
        .filter(|p| p.starts_with(&prefix))
        .collect();
    if files.is_empty() {
        return None;
    }
    let mut images = Vec::new();
    let mut levels = Vec::new();
    for f in files {
        let text = show_text(repo, rev, &f);
        for l in text.lines() {
            let t = l.trim_start_matches([' ', '-']);
            if let Some(img) = t.strip_prefix("image: ") {
                if img.contains("payment-api") {
                    images.push(img.trim_matches('"').to_string());
                }
            }
            if let Some(v) = t.strip_prefix("\"LOG_LEVEL\": ") {
                levels.push(v.trim_matches('"').to_string());
            }
        }
    }
    images.sort();
    images.dedup();
    levels.sort();
    levels.dedup();
    Some((images, levels))
}

fn version(sha: &str, d: &str, level: &str) -> (Vec<String>, Vec<String>) {
    (
        vec![format!("ghcr.io/acme/payment-api:{}@{d}", &sha[..7])],
        vec![level.to_string()],
    )
}

fn record(repo: &Path, rev: &str) -> serde_json::Value {
    serde_json::from_str(&show_text(repo, rev, ".pctl/services/payment-api.json")).unwrap()
}

#[test]
fn automatic_environments_follow_the_pipeline_and_promote_moves_exactly_one_version() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = bare_repo(tmp.path(), "deploy.git");
    let url = file_url(&repo);
    let dir = app(tmp.path());

    // v1: dev (automatic) gets it; staging and prod (manual) get nothing yet.
    set_version(&dir, "v1");
    publish(&dir, S1, &digest(1), &url).expect_code(0);
    assert_eq!(
        running(&repo, "main", "dev"),
        Some(version(S1, &digest(1), "v1"))
    );
    assert_eq!(running(&repo, "main", "staging"), None);
    assert_eq!(running(&repo, "main", "prod"), None);
    let rec = record(&repo, "main");
    assert_eq!(rec["releases"]["dev"]["sha"], S1);
    assert!(rec["releases"].get("prod").is_none(), "{rec}");

    // Promote dev's version to staging (not protected: straight to the deploy branch).
    let r = promote(&dir, &url, &["--to", "staging"]);
    r.expect_code(0);
    assert_eq!(r.summary()["branch"], "main", "{}", r.describe());
    assert_eq!(
        running(&repo, "main", "staging"),
        Some(version(S1, &digest(1), "v1"))
    );
    let last = &commits(&repo, "main")[0];
    assert_eq!(
        last.trailer("Pctl-Promoted"),
        Some(format!("payment-api dev -> staging {S1}").as_str()),
        "{}",
        last.message
    );

    // v2 reaches dev only; staging keeps v1.
    set_version(&dir, "v2");
    publish(&dir, S2, &digest(2), &url).expect_code(0);
    assert_eq!(
        running(&repo, "main", "dev"),
        Some(version(S2, &digest(2), "v2"))
    );
    assert_eq!(
        running(&repo, "main", "staging"),
        Some(version(S1, &digest(1), "v1"))
    );
    let rec = record(&repo, "main");
    assert_eq!(rec["releases"]["staging"]["sha"], S1);
    assert_eq!(
        rec["intents"].as_object().unwrap().len(),
        2,
        "both running versions keep their intent"
    );

    // Promote staging (v1, with v1's configuration, not the v2 that dev runs) to prod: a
    // protected environment, so through a review branch; the deploy branch is unchanged.
    let before = tip(&repo, "main").unwrap();
    let r = promote(&dir, &url, &["--to", "prod"]);
    r.expect_code(0);
    let branch = "pctl/promote/payment-api-prod";
    assert_eq!(r.summary()["branch"], branch, "{}", r.describe());
    assert_eq!(tip(&repo, "main").unwrap(), before);
    assert_eq!(
        running(&repo, branch, "prod"),
        Some(version(S1, &digest(1), "v1"))
    );
    assert_eq!(
        running(&repo, branch, "dev"),
        Some(version(S2, &digest(2), "v2"))
    );
    // Only prod's files (and the record) change.
    let changed = changed_files(&repo, &tip(&repo, branch).unwrap());
    assert!(
        changed
            .iter()
            .all(|(_, p)| p.contains("/prod/") || p.starts_with(".pctl/")),
        "{changed:?}"
    );
    // The review merged: prod runs v1.
    git(
        &repo,
        &[
            "update-ref",
            "refs/heads/main",
            &tip(&repo, branch).unwrap(),
        ],
    );

    // v3: dev moves, prod and staging stay.
    set_version(&dir, "v3");
    publish(&dir, S3, &digest(3), &url).expect_code(0);
    assert_eq!(
        running(&repo, "main", "dev"),
        Some(version(S3, &digest(3), "v3"))
    );
    assert_eq!(
        running(&repo, "main", "staging"),
        Some(version(S1, &digest(1), "v1"))
    );
    assert_eq!(
        running(&repo, "main", "prod"),
        Some(version(S1, &digest(1), "v1"))
    );

    // --dry-run shows the change and publishes nothing.
    let before = tip(&repo, "main").unwrap();
    let r = promote(&dir, &url, &["--to", "prod", "--from", "dev", "--dry-run"]);
    r.expect_code(0);
    assert!(
        r.summary()["changed"].as_u64().unwrap() > 0,
        "{}",
        r.describe()
    );
    assert_eq!(tip(&repo, "main").unwrap(), before);
    assert_eq!(branches(&repo), ["main", branch]);
    // The first environment has nothing before it; an unknown one is named with the choices.
    promote(&dir, &url, &["--to", "dev"]).expect_code(2);
    let r = promote(&dir, &url, &["--to", "prd"]);
    r.expect_code(2);
    assert!(r.both().contains("prod"), "{}", r.describe());
    // Another service name is refused with the reason.
    let mut cmd = pctl();
    cmd.args(["promote", "nope", "--to", "prod", "--deploy-repo", &url])
        .arg("--org")
        .arg(dir.parent().unwrap().join("pctl-org.yaml"));
    let r = run(cmd);
    r.expect_code(1);
    assert!(
        r.both().contains("no record of a service `nope`"),
        "{}",
        r.describe()
    );
}

#[test]
fn a_hand_edit_in_the_source_environment_stops_a_promotion() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = bare_repo(tmp.path(), "deploy.git");
    let url = file_url(&repo);
    let dir = app(tmp.path());
    publish(&dir, S1, &digest(1), &url).expect_code(0);
    // Someone changes dev's image by hand.
    let work = tmp.path().join("work");
    clone(&url, &work);
    let file = ls_tree(&repo, "main")
        .into_iter()
        .find(|p| {
            p.starts_with("apps/dev/payment-api/")
                && show_text(&repo, "main", p).contains(&digest(1))
        })
        .unwrap();
    let text = fs::read_to_string(work.join(&file)).unwrap();
    fs::write(work.join(&file), text.replace(&digest(1), &digest(9))).unwrap();
    git(&work, &["commit", "-qam", "hotfix by hand"]);
    git(&work, &["push", "-q", "origin", "main"]);
    let r = promote(&dir, &url, &["--to", "staging"]);
    r.expect_code(1);
    assert!(
        r.both().contains("promote/edited-source"),
        "{}",
        r.describe()
    );
    assert_eq!(running(&repo, "main", "staging"), None);
}

/// The publish of v2 is pushed while a promotion of v1 to staging lands (a pre-receive hook
/// runs `pctl promote` during the publish's push): the push is refused as stale, the publish
/// re-plans on the new tip and keeps staging at the promoted version.
#[test]
fn a_publish_retried_after_a_concurrent_promotion_keeps_it() {
    let tmp = tempfile::tempdir().unwrap();
    let served = tmp.path().join("served");
    fs::create_dir_all(&served).unwrap();
    let repo = bare_repo(&served, "deploy.git");
    let daemon = GitDaemon::start(&served);
    let url = daemon.url("deploy.git");
    let dir = app(tmp.path());
    set_version(&dir, "v1");
    publish(&dir, S1, &digest(1), &url).expect_code(0);
    assert_eq!(running(&repo, "main", "staging"), None);

    // The hook promotes once (a marker file stops the nested push's hook from doing it again).
    let marker = tmp.path().join("promoted");
    let log = tmp.path().join("hook.log");
    let hook = repo.join("hooks/pre-receive");
    fs::write(
        &hook,
        format!(
            "#!/bin/sh\ncat > /dev/null\n[ -e '{m}' ] && exit 0\ntouch '{m}'\n\
             for v in $(env | sed -n 's/^\\(GIT_[A-Z_]*\\)=.*/\\1/p'); do unset $v; done\n\
             cd '{root}' && NO_COLOR=1 '{pctl}' promote payment-api --to staging --deploy-repo '{url}' \
             --org '{org}' > '{log}' 2>&1\nexit 0\n",
            m = marker.display(),
            root = ROOT,
            pctl = env!("CARGO_BIN_EXE_pctl"),
            org = dir.parent().unwrap().join("pctl-org.yaml").display(),
            log = log.display(),
        ),
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&hook, fs::Permissions::from_mode(0o755)).unwrap();
    }
    set_version(&dir, "v2");
    let r = publish(&dir, S2, &digest(2), &url);
    r.expect_code(0);
    let hook_log = fs::read_to_string(&log).unwrap_or_default();
    assert!(marker.exists(), "the hook ran");
    assert!(
        r.summary()["attempts"].as_u64().unwrap() >= 2,
        "the first push was stale: {}\nhook: {hook_log}",
        r.describe()
    );
    let history = commits(&repo, "main");
    assert!(
        history[1].trailer("Pctl-Promoted").is_some(),
        "the promotion landed first: {history:?}\nhook: {hook_log}"
    );
    assert_eq!(
        running(&repo, "main", "dev"),
        Some(version(S2, &digest(2), "v2"))
    );
    assert_eq!(
        running(&repo, "main", "staging"),
        Some(version(S1, &digest(1), "v1")),
        "the retried publish kept the promotion; hook: {hook_log}"
    );
    assert_eq!(record(&repo, "main")["releases"]["staging"]["sha"], S1);
}

#[test]
fn a_service_name_that_is_not_a_name_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = bare_repo(tmp.path(), "deploy.git");
    let mut cmd = pctl();
    cmd.args([
        "promote",
        "../x\nPctl-Promoted: evil",
        "--to",
        "prod",
        "--org",
        ORG,
    ])
    .arg("--deploy-repo")
    .arg(file_url(&repo));
    let r = run(cmd);
    r.expect_code(2);
    assert!(
        r.both().contains("promote/service-name"),
        "{}",
        r.describe()
    );
}
