//! The deploy repository under load and under rules: 64 publishers over `git://` at once all
//! land with default settings (linear history, nothing lost, each service exactly once), and a
//! push the server refuses for another reason than a moved branch (a pre-receive hook, as a
//! protected branch is) stops at once with the server's words, exit 2.

use crate::support;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};
use support::*;

const PUBLISHERS: usize = 64;

#[test]
fn sixty_four_publishers_over_git_daemon_all_land() {
    let tmp = tempfile::tempdir().unwrap();
    let services = write_services(tmp.path(), PUBLISHERS);
    let base = tmp.path().join("remote");
    std::fs::create_dir(&base).unwrap();
    let bare = bare_repo(&base, "deploy.git");
    let daemon = GitDaemon::start(&base);
    let url = daemon.url("deploy.git");
    // All at once, with default settings (no --max-wait, no --max-attempts).
    let started = Instant::now();
    let running: Vec<Running> = services
        .iter()
        .map(|folder| spawn(pctl_cmd("publish", folder, TAG, &url, "json")))
        .collect();
    let runs: Vec<Run> = running
        .into_iter()
        .map(|r| r.wait(Duration::from_secs(900)))
        .collect();
    let wall = started.elapsed();
    let failed: Vec<String> = runs
        .iter()
        .filter(|r| r.code != 0)
        .map(Run::describe)
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {PUBLISHERS} publishers failed:\n{}",
        failed.len(),
        failed.join("\n\n")
    );
    let reported: Vec<String> = runs
        .iter()
        .map(|r| r.commit().expect("every publisher made a commit"))
        .collect();
    // Linear history: no merges, one commit per publisher, every reported commit on main.
    let history = commits(&bare, "main");
    assert_eq!(history.len(), PUBLISHERS, "one commit per publisher");
    assert!(
        history.iter().all(|c| c.parents.len() <= 1),
        "merge commits on main"
    );
    let on_main: BTreeSet<&str> = history.iter().map(|c| c.sha.as_str()).collect();
    for (r, c) in runs.iter().zip(&reported) {
        assert!(
            on_main.contains(c.as_str()),
            "reported {c}, which is not on main:\n{}",
            r.describe()
        );
    }
    // Each service exactly once, and its files all there.
    let published: BTreeSet<String> = history
        .iter()
        .map(|c| c.trailer("Pctl-Services").unwrap_or_default().to_string())
        .collect();
    let expected: BTreeSet<String> = (1..=PUBLISHERS).map(|i| format!("svc-{i:02}")).collect();
    assert_eq!(published, expected);
    let files = ls_tree(&bare, "main");
    for svc in &expected {
        for env in ["dev", "staging", "prod"] {
            let deployment = format!("apps/{env}/{svc}/deployment.yaml");
            assert!(files.contains(&deployment), "{deployment} missing");
        }
        assert!(files.contains(&format!(".pctl/services/{svc}.json")));
    }
    let fsck = git_raw(&bare, &["fsck", "--strict"]);
    assert!(
        fsck.status.success(),
        "{}",
        String::from_utf8_lossy(&fsck.stderr)
    );
    let attempts: Vec<u64> = runs
        .iter()
        .map(|r| r.summary()["attempts"].as_u64().unwrap())
        .collect();
    let slowest = runs.iter().map(|r| r.elapsed).max().unwrap();
    eprintln!(
        "{PUBLISHERS} publishers: {:.1} s in all, slowest {:.1} s, attempts max {} mean {:.1}",
        wall.as_secs_f64(),
        slowest.as_secs_f64(),
        attempts.iter().max().unwrap(),
        attempts.iter().sum::<u64>() as f64 / attempts.len() as f64
    );
}

/// A bare repository whose pre-receive hook refuses every update of `main`, as a protected
/// branch does; review branches are accepted.
fn protected_repo(base: &Path) -> std::path::PathBuf {
    let bare = bare_repo(base, "deploy.git");
    let hook = bare.join("hooks/pre-receive");
    std::fs::write(
        &hook,
        "#!/bin/sh\nwhile read old new ref; do\n  if [ \"$ref\" = refs/heads/main ]; then\n    echo \"GH006: Protected branch update failed for $ref.\" >&2\n    echo \"Changes must be made through a pull request.\" >&2\n    exit 1\n  fi\ndone\nexit 0\n",
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    bare
}

#[test]
fn a_protected_branch_refusal_stops_at_once_with_the_servers_words() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("remote");
    std::fs::create_dir(&base).unwrap();
    let bare = protected_repo(&base);
    let daemon = GitDaemon::start(&base);
    let url = daemon.url("deploy.git");
    let service = "fixtures/acme/payment-api";

    let run = publish_json(service, TAG, &url, &[]);
    run.expect_code(2);
    let refused = run.diags_with_code("publish/rejected");
    assert_eq!(refused.len(), 1, "{}", run.describe());
    let d = &refused[0];
    let text = d.to_string();
    assert!(
        d["message"]
            .as_str()
            .unwrap()
            .contains("refused the push to `main`"),
        "{text}"
    );
    assert!(
        text.contains("GH006: Protected branch update failed for refs/heads/main."),
        "the server's message is shown: {text}"
    );
    assert!(text.contains("through a pull request"), "{text}");
    assert!(d["help"].as_str().unwrap().contains("--branch"), "{text}");
    assert!(
        run.diags_with_code("publish/contention").is_empty(),
        "not contention: {}",
        run.describe()
    );
    // At once: no back-off, no retries.
    assert!(
        run.elapsed < Duration::from_secs(60),
        "took {:?}",
        run.elapsed
    );
    assert_eq!(tip(&bare, "main"), None, "nothing was pushed");

    // The hint works: a review branch is accepted.
    let run = publish_json(service, TAG, &url, &["--branch", "pctl/review"]);
    run.expect_code(0);
    assert!(tip(&bare, "pctl/review").is_some());
    assert_eq!(run.summary()["attempts"], 1);
}

#[test]
fn a_hook_refusal_is_shown_in_the_human_output() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("remote");
    std::fs::create_dir(&base).unwrap();
    protected_repo(&base);
    let daemon = GitDaemon::start(&base);
    let run = support::run(pctl_cmd(
        "publish",
        "fixtures/acme/payment-api",
        TAG,
        &daemon.url("deploy.git"),
        "human",
    ));
    run.expect_code(2);
    assert!(
        run.stderr.contains("error[publish/rejected]")
            && run.stderr.contains("GH006: Protected branch update failed"),
        "{}",
        run.describe()
    );
}

#[test]
fn a_local_repository_with_a_hook_is_not_written_behind_its_back() {
    // A repository on this machine is written through the file system, where no hook runs:
    // pctl refuses rather than bypass the hook.
    let tmp = tempfile::tempdir().unwrap();
    let bare = protected_repo(tmp.path());
    let run = publish_json(
        "fixtures/acme/payment-api",
        TAG,
        bare.to_str().unwrap(),
        &[],
    );
    run.expect_code(2);
    assert_eq!(
        run.diags_with_code("publish/hook").len(),
        1,
        "{}",
        run.describe()
    );
    assert_eq!(tip(&bare, "main"), None);
}
