//! An organisation-wide change on N CI machines (examples/workflows/org-rerender.yml): each
//! machine runs `pctl publish --all --shard I/N --branch B`; the shards add their commits to one
//! shared review branch over `git://`, at the same time. The branch must end up holding exactly
//! the tree one unsharded run publishes, the deploy branch untouched, every service once.

use crate::support;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;
use support::*;

const SHARDS: u32 = 4;
const SERVICES: usize = 12;
const REVIEW: &str = "pctl/org-rerender/42";
const NEW_TAG: &str = "2.0.0";

/// `pctl publish --all DIR` with `extra` arguments, as a command (not yet run).
fn publish_all(dir: &Path, tag: &str, url: &str, extra: &[&str]) -> std::process::Command {
    let mut cmd = pctl_cmd("publish", dir.to_str().unwrap(), tag, url, "json");
    cmd.arg("--all").args(extra);
    cmd
}

/// The tree id of `rev` in `repo`.
fn tree_of(repo: &Path, rev: &str) -> String {
    let out = git_raw(repo, &["rev-parse", &format!("{rev}^{{tree}}")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn four_shards_publish_one_review_branch_together() {
    let tmp = tempfile::tempdir().unwrap();
    let org = tmp.path().join("org");
    write_services(&org, SERVICES);
    let base = tmp.path().join("remote");
    std::fs::create_dir(&base).unwrap();
    let sharded = bare_repo(&base, "sharded.git");
    let whole = bare_repo(&base, "whole.git");
    let daemon = GitDaemon::start(&base);
    let (sharded_url, whole_url) = (daemon.url("sharded.git"), daemon.url("whole.git"));

    // Both deploy repositories start from the same organisation, published at TAG.
    for url in [&sharded_url, &whole_url] {
        run(publish_all(&org, TAG, url, &[])).expect_code(0);
    }
    let main_before = tip(&sharded, "main").unwrap();

    // The reference: one machine publishes the organisation-wide change to a review branch.
    run(publish_all(
        &org,
        NEW_TAG,
        &whole_url,
        &["--branch", REVIEW],
    ))
    .expect_code(0);

    // Four machines, at once, each its shard, to one shared review branch.
    let running: Vec<Running> = (1..=SHARDS)
        .map(|i| {
            let shard = format!("{i}/{SHARDS}");
            spawn(publish_all(
                &org,
                NEW_TAG,
                &sharded_url,
                &["--shard", &shard, "--branch", REVIEW],
            ))
        })
        .collect();
    let runs: Vec<Run> = running
        .into_iter()
        .map(|r| r.wait(Duration::from_secs(300)))
        .collect();
    for r in &runs {
        r.expect_code(0);
    }

    // Exactly the change one machine makes, file for file.
    assert_eq!(
        tree_of(&sharded, REVIEW),
        tree_of(&whole, REVIEW),
        "the shards' review branch differs from the unsharded run's"
    );
    // The deploy branch is untouched: the change waits for review.
    assert_eq!(tip(&sharded, "main").unwrap(), main_before);
    // Linear, on top of the deploy branch: one commit per shard that rendered something,
    // every service in exactly one of them.
    let added = commits(&sharded, &format!("{main_before}..{REVIEW}"));
    assert!(added.iter().all(|c| c.parents.len() == 1), "merge commits");
    let mut seen: Vec<String> = added
        .iter()
        .flat_map(|c| {
            c.trailer("Pctl-Services")
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    seen.sort();
    let expected: Vec<String> = (1..=SERVICES).map(|i| format!("svc-{i:02}")).collect();
    assert_eq!(seen, expected, "every service exactly once");
    let nonempty: BTreeSet<u64> = runs
        .iter()
        .zip(1u64..)
        .filter(|(r, _)| r.commit().is_some())
        .map(|(_, i)| i)
        .collect();
    assert_eq!(added.len(), nonempty.len(), "one commit per shard");
    assert!(
        added.len() >= 2,
        "the test's services fall into several shards"
    );

    // One summary for the whole change, read from the branch: the same as the unsharded
    // run's branch gives, naming every service, within one GitHub comment.
    let review = |url: &str| {
        let mut cmd = pctl();
        cmd.args([
            "review",
            "--deploy-repo",
            url,
            "--branch",
            REVIEW,
            "--format",
            "markdown",
        ]);
        let r = run(cmd);
        r.expect_code(0);
        r.stdout.replace(url, "DEPLOY")
    };
    let (sharded_md, whole_md) = (review(&sharded_url), review(&whole_url));
    assert_eq!(sharded_md, whole_md);
    assert!(
        sharded_md.contains(&format!("{SERVICES} services")),
        "{sharded_md}"
    );
    assert!(sharded_md.len() < 65_536);
    let mut cmd = pctl();
    cmd.args([
        "review",
        "--deploy-repo",
        &sharded_url,
        "--branch",
        REVIEW,
        "--format",
        "json",
    ]);
    let files = run(cmd).summary()["files"].as_array().unwrap().len();
    let changed = git(&sharded, &["diff", "--name-only", &main_before, REVIEW]);
    assert_eq!(files, changed.lines().count(), "every changed file, once");
    assert!(files > SERVICES, "{files} files");

    // A shard job that is re-run (a retried CI job) finds its part published: no new commit.
    let again = run(publish_all(
        &org,
        NEW_TAG,
        &sharded_url,
        &["--shard", "1/4", "--branch", REVIEW],
    ));
    again.expect_code(0);
    assert_eq!(again.commit(), None, "{}", again.describe());
    assert_eq!(
        commits(&sharded, &format!("{main_before}..{REVIEW}")).len(),
        added.len()
    );
}

#[test]
fn the_example_workflow_runs_the_shards_this_test_runs() {
    // examples/workflows/org-rerender.yml is what a platform team copies: it must be a matrix
    // of `--shard I/N` over one review branch per run, and a final job that opens the review.
    let text = std::fs::read_to_string(Path::new(ROOT).join("examples/workflows/org-rerender.yml"))
        .unwrap();
    for needle in [
        "shard: [1, 2, 3, 4]",
        "--shard \"${{ matrix.shard }}/4\"",
        "--branch \"$REVIEW_BRANCH\"",
        "REVIEW_BRANCH: pctl/org-rerender/${{ github.run_id }}",
        "needs: shard",
        "--all",
        "gh pr create",
    ] {
        assert!(text.contains(needle), "org-rerender.yml lacks {needle:?}");
    }
}

/// `pctl review` reads paths and contents someone pushed to the deploy repository: nothing in
/// them reaches the terminal or the comment as markup or control characters.
#[test]
fn a_review_branch_cannot_inject_into_the_comment_or_the_terminal() {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    std::fs::create_dir_all(work.join("apps/dev/x")).unwrap();
    git(&work, &["init", "-q", "-b", "main"]);
    git(
        &work,
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@e",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "init",
        ],
    );
    git(&work, &["checkout", "-q", "-b", "evil"]);
    std::fs::write(
        work.join("apps/dev/x/<img src=x onerror=alert(1)>.yaml"),
        "a: 1\n",
    )
    .unwrap();
    std::fs::write(
        work.join("ev\u{1b}[31mil\n<!-- pctl:summary -->"),
        "\u{1b}]0;pwned\u{7}\n",
    )
    .unwrap();
    git(&work, &["add", "-A"]);
    git(
        &work,
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@e",
            "commit",
            "-q",
            "-m",
            "evil",
        ],
    );
    for format in ["markdown", "human"] {
        let mut cmd = pctl();
        cmd.args(["review", "--deploy-repo"])
            .arg(&work)
            .args(["--branch", "evil", "--format", format]);
        let r = run(cmd);
        r.expect_code(0);
        assert!(
            !r.stdout.contains('\u{1b}') && !r.stdout.contains('\u{7}'),
            "{format}: {}",
            r.stdout
        );
        if format == "markdown" {
            // No markup from a path, and one summary marker: the comment's own.
            assert!(!r.stdout.contains("<img"), "{}", r.stdout);
            assert_eq!(
                r.stdout.matches("<!-- pctl:summary -->").count(),
                1,
                "{}",
                r.stdout
            );
            assert!(
                r.stdout.contains("ev\\u{1b}[31mil\\n&lt;!--"),
                "{}",
                r.stdout
            );
        }
    }
}
