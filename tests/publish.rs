//! `pctl diff` and `pctl publish` against real git remotes: a local bare repository, `file://`
//! URLs and `git://` served by `git daemon`. Every test has its own temporary folder and remote;
//! the repository is inspected with the git CLI only. The reference for what must be on the
//! remote is `pctl render` of the same input (same bytes).

use crate::support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::*;

const DEPLOYMENT: &str = "apps/dev/payment-api/rollout.yaml";

/// What `pctl render` of `paths` produces (the expected content of the deploy repository).
/// What a publish of `paths` puts in the deploy repository: what `render` writes, except, for a
/// run that is not over the whole organisation, the organisation's shared files (they change
/// only in organisation-wide runs).
fn rendered(paths: &[&str], all: bool, tag: &str) -> BTreeMap<String, Vec<u8>> {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    render_into(paths, all, tag, &out);
    let mut tree = read_tree(&out);
    if !all {
        tree.retain(|p, _| {
            pctl_core::layout::place(p)
                .is_some_and(|pl| pl.owner == pctl_core::layout::OwnerKind::Service)
        });
    }
    tree
}

fn is_record(path: &str) -> bool {
    path.starts_with(".pctl/")
}

/// The remote tree at `rev` must be exactly `expected`: same paths, same bytes, except that the
/// `.pctl/` records are compared by their meaning (service, source, environments, files).
#[track_caller]
fn assert_tree_eq(
    actual: &BTreeMap<String, Vec<u8>>,
    expected: &BTreeMap<String, Vec<u8>>,
    what: &str,
) {
    let mut problems = Vec::new();
    for path in expected.keys() {
        if !actual.contains_key(path) {
            problems.push(format!("missing on the remote: {path}"));
        }
    }
    for path in actual.keys() {
        if !expected.contains_key(path) {
            problems.push(format!("unexpected on the remote: {path}"));
        }
    }
    for (path, want) in expected {
        let Some(got) = actual.get(path) else {
            continue;
        };
        if is_record(path) {
            let want: Value = serde_json::from_slice(want).unwrap();
            let got: Value = match serde_json::from_slice(got) {
                Ok(v) => v,
                Err(e) => {
                    problems.push(format!("{path} is not JSON: {e}"));
                    continue;
                }
            };
            for key in ["service", "owner", "source", "environments", "files"] {
                if want.get(key).is_some() && want.get(key) != got.get(key) {
                    problems.push(format!(
                        "{path}: `{key}` differs\n  render:  {}\n  remote:  {}",
                        want[key], got[key]
                    ));
                }
            }
        } else if got != want {
            let diff = similar::TextDiff::from_lines(
                &*String::from_utf8_lossy(want),
                &*String::from_utf8_lossy(got),
            )
            .unified_diff()
            .header(&format!("render/{path}"), &format!("remote/{path}"))
            .to_string();
            problems.push(format!("{path} differs from the render:\n{diff}"));
        }
    }
    assert!(
        problems.is_empty(),
        "{what}: the remote tree is not what pctl renders:\n{}",
        problems.join("\n")
    );
}

/// Every ownership record at `rev` describes the files really there (sha256 of the content), and
/// every file outside `.pctl/` (other than `extra`) is recorded by exactly one record.
#[track_caller]
fn assert_records_consistent(repo: &Path, rev: &str, extra: &[&str]) {
    let tree = tree_at(repo, rev);
    let mut owner_of: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut problems = Vec::new();
    for (path, content) in &tree {
        if !(path.starts_with(".pctl/services/")
            || path == ".pctl/organisation.json"
            || path == ".pctl/catalog.json")
        {
            continue;
        }
        let record: Value = serde_json::from_slice(content)
            .unwrap_or_else(|e| panic!("{path} at {rev} is not JSON: {e}"));
        let files = record["files"]
            .as_object()
            .unwrap_or_else(|| panic!("{path} has no `files` object: {record}"));
        if let Some(name) = path
            .strip_prefix(".pctl/services/")
            .and_then(|p| p.strip_suffix(".json"))
        {
            if record["service"] != name {
                problems.push(format!("{path}: `service` is {}", record["service"]));
            }
        }
        for (file, hash) in files {
            owner_of.entry(file.clone()).or_default().push(path.clone());
            match tree.get(file) {
                None => problems.push(format!("{path} records {file}, which is not in the tree")),
                Some(bytes) => {
                    if Some(sha256_hex(bytes).as_str()) != hash.as_str() {
                        problems.push(format!(
                            "{path} records {file} as {hash}, its content hashes to {}",
                            sha256_hex(bytes)
                        ));
                    }
                }
            }
        }
    }
    for path in tree.keys() {
        if is_record(path) || extra.contains(&path.as_str()) {
            continue;
        }
        match owner_of.get(path).map(Vec::len) {
            Some(1) => {}
            None => problems.push(format!("{path} is recorded by no .pctl record")),
            Some(_) => problems.push(format!("{path} is recorded by {:?}", owner_of[path])),
        }
    }
    assert!(
        problems.is_empty(),
        "ownership records at {rev} do not match the tree:\n{}",
        problems.join("\n")
    );
}

fn summary_files(run: &Run) -> Vec<(String, String, String)> {
    run.summary()["files"]
        .as_array()
        .unwrap_or_else(|| panic!("summary.files is not an array\n{}", run.describe()))
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap_or_default().to_string(),
                f["action"].as_str().unwrap_or_default().to_string(),
                f["owner"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[track_caller]
fn assert_counts(run: &Run, added: u64, changed: u64, deleted: u64) {
    let s = run.summary();
    let got = (
        s["added"].as_u64(),
        s["changed"].as_u64(),
        s["deleted"].as_u64(),
    );
    assert_eq!(
        got,
        (Some(added), Some(changed), Some(deleted)),
        "summary (added, changed, deleted)\n{}",
        run.describe()
    );
}

#[track_caller]
fn assert_is_sha(s: &str) {
    assert!(
        s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit()),
        "not a commit id: {s:?}"
    );
}

/// Publishes payment-api to `url` (whose bare repository is `bare`), checks the commit, then
/// publishes the same input again: nothing to do.
fn publish_then_nothing_to_do(bare: &Path, url: &str) {
    let first = publish_json("fixtures/acme/payment-api", TAG, url, &[]);
    first.expect_code(0);
    let commit = first
        .commit()
        .unwrap_or_else(|| panic!("the first publish made no commit\n{}", first.describe()));
    assert_is_sha(&commit);
    assert_eq!(
        tip(bare, "main").as_deref(),
        Some(commit.as_str()),
        "main is the commit pctl reports"
    );
    let summary = first.summary();
    assert_eq!(summary["branch"], "main", "{}", first.describe());
    assert!(
        summary["attempts"].as_u64().is_some_and(|n| n >= 1),
        "attempts: {}",
        summary["attempts"]
    );

    let history = commits(bare, "main");
    assert_eq!(history.len(), 1, "one commit: {history:#?}");
    let c = &history[0];
    assert!(
        c.parents.is_empty(),
        "the first commit of an empty remote has no parent"
    );
    assert!(c.subject.starts_with("pctl: "), "subject: {:?}", c.subject);
    assert!(
        c.subject.contains("payment-api"),
        "subject names the service: {:?}",
        c.subject
    );
    assert_eq!(
        c.trailer("Pctl-Source-Repository"),
        Some("https://github.com/acme/payment-api"),
        "trailers of {:?}",
        c.message
    );
    assert_eq!(
        c.trailer("Pctl-Source-Commit"),
        Some(SHA),
        "trailers of {:?}",
        c.message
    );
    assert_eq!(
        c.trailer("Pctl-Services"),
        Some("payment-api"),
        "trailers of {:?}",
        c.message
    );

    let files = ls_tree(bare, "main");
    for f in [
        DEPLOYMENT,
        "apps/prod/payment-api/rollout.yaml",
        "terraform/prod/payment-api/db.tf",
        ".github/workflows/terraform-payment-api.yml",
        ".pctl/services/payment-api.json",
    ] {
        assert!(
            files.iter().any(|p| p == f),
            "{f} is not on main: {files:#?}"
        );
    }
    let expected = rendered(&["fixtures/acme/payment-api"], false, TAG);
    assert_tree_eq(&tree_at(bare, "main"), &expected, "after the first publish");
    assert_records_consistent(bare, "main", &[]);

    // the summary lists every file as added, with its owner
    let listed = summary_files(&first);
    let mut problems = Vec::new();
    for (path, action, owner) in &listed {
        let want_owner = if path.starts_with("clusters/") || path == ".pctl/organisation.json" {
            "organisation"
        } else {
            "payment-api"
        };
        if action != "add" || owner != want_owner {
            problems.push(format!(
                "{path}: action {action}, owner {owner} (expected add, {want_owner})"
            ));
        }
    }
    let listed_paths: BTreeSet<&str> = listed
        .iter()
        .map(|(p, _, _)| p.as_str())
        .filter(|p| !is_record(p))
        .collect();
    let tree_paths: BTreeSet<&str> = expected
        .keys()
        .map(String::as_str)
        .filter(|p| !is_record(p))
        .collect();
    assert!(
        problems.is_empty(),
        "summary.files:\n{}",
        problems.join("\n")
    );
    assert_eq!(
        listed_paths, tree_paths,
        "summary.files must list every file of the commit"
    );
    assert_eq!(
        summary["added"].as_u64(),
        Some(listed.len() as u64),
        "summary.added counts the files listed\n{}",
        first.describe()
    );

    // the same input again: nothing to do, no commit
    let again = publish_json("fixtures/acme/payment-api", TAG, url, &[]);
    again.expect_code(0);
    assert_eq!(
        again.commit(),
        None,
        "nothing changed, so no commit\n{}",
        again.describe()
    );
    assert_counts(&again, 0, 0, 0);
    assert_eq!(summary_files(&again), vec![], "no files listed");
    assert_eq!(commits(bare, "main").len(), 1, "still one commit");
    assert_eq!(tip(bare, "main"), Some(commit));
}

#[test]
fn publish_to_local_bare_repo_then_nothing_to_do() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = bare_repo(tmp.path(), "deploy.git");
    publish_then_nothing_to_do(&bare, bare.to_str().unwrap());
}

#[test]
fn publish_to_file_url_then_nothing_to_do() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = bare_repo(tmp.path(), "deploy.git");
    publish_then_nothing_to_do(&bare, &file_url(&bare));
}

#[test]
fn publish_over_git_daemon() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = bare_repo(tmp.path(), "deploy.git");
    let daemon = GitDaemon::start(tmp.path());
    publish_then_nothing_to_do(&bare, &daemon.url("deploy.git"));
}

#[test]
fn publish_all_makes_one_commit_equal_to_the_golden_tree() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = bare_repo(tmp.path(), "deploy.git");
    let mut cmd = pctl();
    cmd.args([
        "publish",
        "--all",
        "fixtures/acme",
        "--source-sha",
        SHA,
        "--image-tag",
        TAG,
    ])
    .args(["--deploy-repo", bare.to_str().unwrap(), "--format", "json"]);
    let run = run(cmd);
    run.expect_code(0);
    let history = commits(&bare, "main");
    assert_eq!(
        history.len(),
        1,
        "exactly one commit for the whole run: {history:#?}"
    );
    assert_eq!(run.commit().as_deref(), Some(history[0].sha.as_str()));
    let services: BTreeSet<&str> = history[0]
        .trailer("Pctl-Services")
        .unwrap_or_else(|| panic!("no Pctl-Services trailer in {:?}", history[0].message))
        .split(',')
        .map(str::trim)
        .collect();
    assert_eq!(
        services,
        BTreeSet::from([
            "auth-service",
            "ledger-worker",
            "nightly-report",
            "payment-api"
        ]),
        "Pctl-Services names every service"
    );
    assert!(
        history[0].subject.starts_with("pctl: "),
        "{:?}",
        history[0].subject
    );
    // Several services have several source repositories: each one's source is a trailer
    // (`Pctl-Source-Repository`/`Pctl-Source-Commit` are for a single source).
    for svc in &services {
        assert!(
            history[0]
                .trailers
                .iter()
                .any(|(_, v)| v.contains(svc) && v.contains(SHA)),
            "no trailer gives the source commit of {svc}: {:?}",
            history[0].trailers
        );
    }
    let golden = read_tree(&Path::new(ROOT).join("golden-tests/acme-argocd/expected"));
    assert_tree_eq(
        &tree_at(&bare, "main"),
        &golden,
        "publish --all fixtures/acme",
    );
    assert_records_consistent(&bare, "main", &[]);
}

// ---------------------------------------------------------------------------------------------
// diff

#[test]
fn diff_against_an_empty_remote_lists_everything_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = bare_repo(tmp.path(), "deploy.git");
    let url = bare.to_str().unwrap();
    let expected = rendered(&["fixtures/acme/payment-api"], false, TAG);

    let human = run(pctl_cmd(
        "diff",
        "fixtures/acme/payment-api",
        TAG,
        url,
        "human",
    ));
    human.expect_code(0);
    let plus: BTreeSet<&str> = human
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("+++ b/"))
        .map(str::trim_end)
        .collect();
    let missing: Vec<&str> = expected
        .keys()
        .map(String::as_str)
        .filter(|p| !is_record(p) && !plus.contains(p))
        .collect();
    assert!(
        missing.is_empty(),
        "no `+++ b/<path>` for {missing:?}\n{}",
        human.describe()
    );
    assert!(
        human.stdout.contains("+kind: Rollout"),
        "the diff shows the added lines\n{}",
        human.describe()
    );

    let json = run(pctl_cmd(
        "diff",
        "fixtures/acme/payment-api",
        TAG,
        url,
        "json",
    ));
    json.expect_code(0);
    let s = json.summary();
    assert!(
        s.get("commit").is_none_or(Value::is_null),
        "diff has no commit: {}",
        s["commit"]
    );
    let files = summary_files(&json);
    assert!(
        files.iter().all(|(_, a, _)| a == "add"),
        "all adds: {files:?}"
    );
    assert_eq!(s["changed"].as_u64(), Some(0));
    assert_eq!(s["deleted"].as_u64(), Some(0));
    assert_eq!(s["added"].as_u64(), Some(files.len() as u64));
    assert!(files.len() >= expected.keys().filter(|p| !is_record(p)).count());

    assert_eq!(
        branches(&bare),
        Vec::<String>::new(),
        "diff never writes to the remote"
    );
}

#[test]
fn diff_after_publish_shows_only_the_change() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = bare_repo(tmp.path(), "deploy.git");
    let url = bare.to_str().unwrap();
    publish_json("fixtures/acme/payment-api", TAG, url, &[]).expect_code(0);
    let before = tip(&bare, "main").unwrap();

    let same = run(pctl_cmd(
        "diff",
        "fixtures/acme/payment-api",
        TAG,
        url,
        "json",
    ));
    same.expect_code(0);
    assert_counts(&same, 0, 0, 0);

    let human = run(pctl_cmd(
        "diff",
        "fixtures/acme/payment-api",
        "1.5.0",
        url,
        "human",
    ));
    human.expect_code(0);
    let out = &human.stdout;
    assert!(
        out.contains(&format!("--- a/{DEPLOYMENT}")),
        "{}",
        human.describe()
    );
    assert!(
        out.contains(&format!("+++ b/{DEPLOYMENT}")),
        "{}",
        human.describe()
    );
    assert!(
        out.lines().any(|l| l.starts_with('-')
            && !l.starts_with("---")
            && l.contains("payment-api:1.4.2")),
        "the old image line is shown removed\n{}",
        human.describe()
    );
    assert!(
        out.lines().any(|l| l.starts_with('+')
            && !l.starts_with("+++")
            && l.contains("payment-api:1.5.0")),
        "the new image line is shown added\n{}",
        human.describe()
    );
    assert!(
        !out.contains("+++ b/clusters/"),
        "unchanged organisation files are not shown\n{}",
        human.describe()
    );

    let json = run(pctl_cmd(
        "diff",
        "fixtures/acme/payment-api",
        "1.5.0",
        url,
        "json",
    ));
    json.expect_code(0);
    let files = summary_files(&json);
    assert!(
        files
            .iter()
            .any(|(p, a, o)| p == DEPLOYMENT && a == "change" && o == "payment-api"),
        "{DEPLOYMENT} listed as a change of payment-api: {files:?}"
    );
    assert!(
        files.iter().all(|(_, a, _)| a == "change"),
        "only changes: {files:?}"
    );
    assert_eq!(json.summary()["added"].as_u64(), Some(0));
    assert_eq!(json.summary()["deleted"].as_u64(), Some(0));

    assert_eq!(
        tip(&bare, "main"),
        Some(before),
        "diff never writes to the remote"
    );
    assert_eq!(branches(&bare), vec!["main".to_string()]);
}

// ---------------------------------------------------------------------------------------------
// concurrency

const PUBLISHERS: usize = 8;

/// svc-1..svc-8: copies of auth-service (team-platform) under `dir/services/svc-N/`.
fn write_services(dir: &Path) -> Vec<String> {
    let src =
        std::fs::read_to_string(Path::new(ROOT).join("fixtures/acme/auth-service/platform.yaml"))
            .unwrap();
    assert!(src.contains("  name: auth-service\n") && src.contains("  owner: team-platform\n"));
    (1..=PUBLISHERS)
        .map(|n| {
            let name = format!("svc-{n}");
            let text = src
                .replace("  name: auth-service\n", &format!("  name: {name}\n"))
                .replace(
                    "repository: https://github.com/acme/auth-service",
                    &format!("repository: https://github.com/acme/{name}"),
                )
                .replace(
                    "image: ghcr.io/acme/auth-service",
                    &format!("image: ghcr.io/acme/{name}"),
                )
                .replace(
                    "# yaml-language-server: $schema=../../../schemas/platform.schema.json\n",
                    "",
                );
            let folder = dir.join("services").join(&name);
            std::fs::create_dir_all(&folder).unwrap();
            std::fs::write(folder.join("platform.yaml"), text).unwrap();
            folder.to_str().unwrap().to_string()
        })
        .collect()
}

/// May `path` be changed by a commit publishing `svc`?
fn path_belongs_to(path: &str, svc: &str) -> bool {
    let segs: Vec<&str> = path.split('/').collect();
    let own_folder = matches!(segs.as_slice(), ["apps" | "terraform", _, s, _, ..] if *s == svc);
    let own_workflow = path.starts_with(".github/workflows/")
        && segs.last().is_some_and(|f| {
            f.strip_suffix(".yml")
                .or_else(|| f.strip_suffix(".yaml"))
                .is_some_and(|stem| stem.ends_with(&format!("-{svc}")) || stem == svc)
        });
    own_folder
        || own_workflow
        || path.starts_with(&format!("catalog/{svc}/"))
        || path == format!(".pctl/services/{svc}.json")
        || path == format!("docs/{svc}.md")
        || path.starts_with("clusters/")
        || path == ".pctl/organisation.json"
}

/// One round: 8 publishers at once against `url`, then check the remote.
fn concurrent_round(
    round: usize,
    bare: &Path,
    url: &str,
    services: &[String],
    expected: &BTreeMap<String, Vec<u8>>,
) {
    let running: Vec<Running> = services
        .iter()
        .map(|folder| {
            let mut cmd = pctl();
            cmd.args([
                "publish",
                folder,
                "--org",
                ORG,
                "--source-sha",
                SHA,
                "--image-tag",
                TAG,
            ])
            .args(["--deploy-repo", url, "--format", "json"]);
            spawn(cmd)
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(240);
    let runs: Vec<Run> = running
        .into_iter()
        .map(|r| {
            r.wait(
                deadline
                    .saturating_duration_since(Instant::now())
                    .max(Duration::from_secs(1)),
            )
        })
        .collect();
    let failed: Vec<String> = runs
        .iter()
        .filter(|r| r.code != 0)
        .map(Run::describe)
        .collect();
    assert!(
        failed.is_empty(),
        "round {round}: publishers failed:\n{}",
        failed.join("\n\n")
    );

    let reported: Vec<String> = runs
        .iter()
        .map(|r| {
            r.commit().unwrap_or_else(|| {
                panic!(
                    "round {round}: a new service published no commit\n{}",
                    r.describe()
                )
            })
        })
        .collect();
    let merges = git(bare, &["rev-list", "--merges", "main"]);
    assert!(
        merges.trim().is_empty(),
        "round {round}: merge commits on main: {merges}"
    );
    let history = commits(bare, "main");
    let on_main: BTreeSet<&str> = history.iter().map(|c| c.sha.as_str()).collect();
    let lost: Vec<String> = runs
        .iter()
        .zip(&reported)
        .filter(|(_, c)| !on_main.contains(c.as_str()))
        .map(|(r, c)| format!("reported {c}, which is not on main:\n{}", r.describe()))
        .collect();
    assert!(
        lost.is_empty(),
        "round {round}: {} of {PUBLISHERS} publishers exited 0 but their commit was lost \
         (main has {} commits: {:?}):\n{}",
        lost.len(),
        history.len(),
        history
            .iter()
            .map(|c| (&c.sha[..10], c.trailer("Pctl-Services").unwrap_or("")))
            .collect::<Vec<_>>(),
        lost.join("\n\n")
    );
    let count: usize = git(bare, &["rev-list", "--count", "main"])
        .trim()
        .parse()
        .unwrap();
    assert_eq!(
        count, PUBLISHERS,
        "round {round}: one commit per publisher on main"
    );
    let mut seen = BTreeSet::new();
    let mut problems = Vec::new();
    for c in &history {
        let svc = c.trailer("Pctl-Services").unwrap_or_default().to_string();
        if !services.iter().any(|f| f.ends_with(&format!("/{svc}"))) || !seen.insert(svc.clone()) {
            problems.push(format!(
                "{}: Pctl-Services {svc:?} (each svc-N exactly once)",
                c.sha
            ));
        }
        for (status, path) in changed_files(bare, &c.sha) {
            if !path_belongs_to(&path, &svc) {
                problems.push(format!(
                    "{} ({svc}) changed another service's file: {status} {path}",
                    c.sha
                ));
            }
            if status == 'D' {
                problems.push(format!("{} ({svc}) deleted {path}", c.sha));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "round {round}:\n{}",
        problems.join("\n")
    );
    assert_tree_eq(
        &tree_at(bare, "main"),
        expected,
        &format!("round {round}: after 8 concurrent publishers"),
    );
    assert_records_consistent(bare, "main", &[]);
    let fsck = git_raw(bare, &["fsck", "--strict"]);
    assert!(
        fsck.status.success(),
        "round {round}: git fsck: {}",
        String::from_utf8_lossy(&fsck.stderr)
    );
}

fn concurrent_publishers(daemon: bool) {
    for round in 1..=3 {
        let tmp = tempfile::tempdir().unwrap();
        let services = write_services(tmp.path());
        let expected = {
            let out = tmp.path().join("expected");
            render_into(
                &[tmp.path().join("services").to_str().unwrap()],
                true,
                TAG,
                &out,
            );
            let mut tree = read_tree(&out);
            // The organisation-wide files (cluster entry points, catalog index, systems,
            // CODEOWNERS) come only from runs over the whole organisation; these publishers
            // each publish one service.
            tree.retain(|p, _| {
                pctl_core::layout::place(p)
                    .is_some_and(|pl| pl.owner == pctl_core::layout::OwnerKind::Service)
            });
            tree
        };
        let base = tmp.path().join("remote");
        std::fs::create_dir(&base).unwrap();
        let bare = bare_repo(&base, "deploy.git");
        if daemon {
            let d = GitDaemon::start(&base);
            concurrent_round(round, &bare, &d.url("deploy.git"), &services, &expected);
        } else {
            concurrent_round(round, &bare, &file_url(&bare), &services, &expected);
        }
    }
}

#[test]
fn concurrent_publishers_lose_nothing_over_git_daemon() {
    concurrent_publishers(true);
}

#[test]
fn concurrent_publishers_lose_nothing_over_file_url() {
    concurrent_publishers(false);
}

// ---------------------------------------------------------------------------------------------
// pruning

/// The line of the human output that says `<service>: removed from <env>`.
fn removal_line<'a>(run: &'a Run, needle: &str) -> &'a str {
    run.stderr
        .lines()
        .chain(run.stdout.lines())
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("the output does not say {needle:?}\n{}", run.describe()))
}

#[test]
fn pruning_a_removed_environment() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = bare_repo(tmp.path(), "deploy.git");
    let url = bare.to_str().unwrap();
    publish_json("fixtures/acme/payment-api", TAG, url, &[]).expect_code(0);
    let first = tip(&bare, "main").unwrap();
    let staging: Vec<String> = ls_tree(&bare, "main")
        .into_iter()
        .filter(|p| {
            p.starts_with("apps/staging/payment-api/")
                || p.starts_with("terraform/staging/payment-api/")
        })
        .collect();
    assert!(
        staging.len() > 5,
        "payment-api has staging files: {staging:?}"
    );

    let run = run(pctl_cmd(
        "publish",
        "fixtures/publish/payment-api-no-staging",
        TAG,
        url,
        "human",
    ));
    run.expect_code(0);
    let history = commits(&bare, "main");
    assert_eq!(history.len(), 2, "one commit for the pruning: {history:#?}");
    assert_eq!(history[0].parents, vec![first.clone()]);
    let changed = changed_files(&bare, &history[0].sha);
    let deleted: BTreeSet<&str> = changed
        .iter()
        .filter(|(s, _)| *s == 'D')
        .map(|(_, p)| p.as_str())
        .collect();
    let want: BTreeSet<&str> = staging.iter().map(String::as_str).collect();
    assert_eq!(
        deleted, want,
        "exactly the staging files are deleted, in one commit"
    );
    let left: Vec<String> = ls_tree(&bare, "main")
        .into_iter()
        .filter(|p| p.contains("/staging/payment-api"))
        .collect();
    assert!(left.is_empty(), "staging files left: {left:?}");

    let line = removal_line(&run, "payment-api: removed from staging");
    assert!(
        line.split(|c: char| !c.is_ascii_digit())
            .any(|w| w == staging.len().to_string()),
        "the removal line gives the count of deleted files ({}): {line:?}",
        staging.len()
    );
    let record: Value =
        serde_json::from_str(&show_text(&bare, "main", ".pctl/services/payment-api.json")).unwrap();
    assert_eq!(record["environments"], serde_json::json!(["dev", "prod"]));
    let expected = rendered(&["fixtures/publish/payment-api-no-staging"], false, TAG);
    assert_tree_eq(&tree_at(&bare, "main"), &expected, "after removing staging");
    assert_records_consistent(&bare, "main", &[]);
}

#[test]
fn pruning_a_removed_resource() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = bare_repo(tmp.path(), "deploy.git");
    let url = bare.to_str().unwrap();
    publish_json("fixtures/acme/payment-api", TAG, url, &[]).expect_code(0);
    let cache: BTreeSet<String> = ls_tree(&bare, "main")
        .into_iter()
        .filter(|p| {
            p.contains("/payment-api/")
                && (p.ends_with("/cache.tf") || p.ends_with("/externalsecret-cache.yaml"))
        })
        .collect();
    assert_eq!(
        cache.len(),
        6,
        "cache.tf and externalsecret-cache.yaml in 3 environments: {cache:?}"
    );

    let run = publish_json("fixtures/publish/payment-api-no-cache", TAG, url, &[]);
    run.expect_code(0);
    let history = commits(&bare, "main");
    assert_eq!(history.len(), 2, "one commit for the pruning");
    let deleted: BTreeSet<String> = changed_files(&bare, &history[0].sha)
        .into_iter()
        .filter(|(s, _)| *s == 'D')
        .map(|(_, p)| p)
        .collect();
    assert_eq!(
        deleted, cache,
        "exactly the cache files are deleted in the commit"
    );
    let listed_deletes: BTreeSet<String> = summary_files(&run)
        .into_iter()
        .filter(|(_, a, _)| a == "delete")
        .map(|(p, _, o)| {
            assert_eq!(o, "payment-api", "owner of deleted {p}");
            p
        })
        .collect();
    assert_eq!(
        listed_deletes,
        cache,
        "summary.files lists the deletes\n{}",
        run.describe()
    );
    assert_eq!(run.summary()["deleted"].as_u64(), Some(6));
    let expected = rendered(&["fixtures/publish/payment-api-no-cache"], false, TAG);
    assert_tree_eq(
        &tree_at(&bare, "main"),
        &expected,
        "after removing the cache",
    );
    assert_records_consistent(&bare, "main", &[]);
}

#[test]
fn remove_deletes_every_file_of_a_service() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = bare_repo(tmp.path(), "deploy.git");
    let url = bare.to_str().unwrap();
    publish_json("fixtures/acme/auth-service", TAG, url, &[]).expect_code(0);
    publish_json("fixtures/acme/payment-api", TAG, url, &[]).expect_code(0);
    let before = tip(&bare, "main").unwrap();
    let auth: BTreeSet<String> = ls_tree(&bare, "main")
        .into_iter()
        .filter(|p| {
            p.contains("/auth-service/")
                || p.contains("auth-service.json")
                || p.contains("terraform-auth-service")
                || p == "docs/auth-service.md"
        })
        .collect();
    assert!(auth.len() > 10, "{auth:?}");

    let mut cmd = pctl_cmd("publish", "fixtures/acme/payment-api", TAG, url, "human");
    cmd.args(["--remove", "auth-service"]);
    let run = run(cmd);
    run.expect_code(0);
    let history = commits(&bare, "main");
    assert_eq!(history.len(), 3, "one commit for the removal");
    assert_eq!(history[0].parents, vec![before]);
    let changed = changed_files(&bare, &history[0].sha);
    let deleted: BTreeSet<String> = changed
        .iter()
        .filter(|(s, _)| *s == 'D')
        .map(|(_, p)| p.clone())
        .collect();
    assert_eq!(
        deleted, auth,
        "every auth-service file is deleted in the commit"
    );
    assert!(
        changed.iter().all(|(s, _)| *s == 'D'),
        "the removal changes nothing else: {changed:?}"
    );
    assert!(
        run.both().contains("auth-service"),
        "the output names the removed service\n{}",
        run.describe()
    );
    let expected = rendered(&["fixtures/acme/payment-api"], false, TAG);
    assert_tree_eq(
        &tree_at(&bare, "main"),
        &expected,
        "after --remove auth-service",
    );
    assert_records_consistent(&bare, "main", &[]);
}

// ---------------------------------------------------------------------------------------------
// hand edits

/// A working copy of the remote, edited by `edit`, committed and pushed to main.
fn hand_commit(url: &str, tmp: &Path, edit: impl FnOnce(&Path)) {
    let work = tmp.join("hand");
    clone(url, &work);
    edit(&work);
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "--quiet", "-m", "hand edit"]);
    git(
        &work,
        &["push", "--quiet", "origin", "HEAD:refs/heads/main"],
    );
    std::fs::remove_dir_all(&work).unwrap();
}

#[track_caller]
fn assert_refused(run: &Run, code: &str, path: &str) {
    run.expect_code(1);
    let diags = run.diags_with_code(code);
    assert!(
        !diags.is_empty(),
        "no {code} diagnostic\n{}",
        run.describe()
    );
    assert!(
        diags.iter().any(|d| d.to_string().contains(path)),
        "the {code} diagnostic does not name {path}: {diags:#?}"
    );
    assert!(
        diags.iter().all(|d| d["severity"] == "error"),
        "{code} is an error: {diags:#?}"
    );
    assert!(
        run.summary().get("commit").is_none_or(Value::is_null),
        "a refused publish reports no commit\n{}",
        run.describe()
    );
}

#[test]
fn hand_edit_is_refused_then_forced() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = bare_repo(tmp.path(), "deploy.git");
    let url = bare.to_str().unwrap();
    publish_json("fixtures/acme/payment-api", TAG, url, &[]).expect_code(0);
    hand_commit(url, tmp.path(), |work| {
        let f = work.join(DEPLOYMENT);
        let text = std::fs::read_to_string(&f).unwrap();
        std::fs::write(&f, text.replace("replicas: 1", "replicas: 7")).unwrap();
    });
    let edited = tip(&bare, "main").unwrap();
    assert!(show_text(&bare, "main", DEPLOYMENT).contains("replicas: 7"));

    let refused = publish_json("fixtures/acme/payment-api", "1.5.0", url, &[]);
    assert_refused(&refused, "publish/hand-edit", DEPLOYMENT);
    assert_eq!(
        tip(&bare, "main").as_deref(),
        Some(edited.as_str()),
        "a refused publish changes nothing"
    );
    assert_eq!(branches(&bare), vec!["main".to_string()]);

    // same refusal in the human format, exit 1
    let human = run(pctl_cmd(
        "publish",
        "fixtures/acme/payment-api",
        "1.5.0",
        url,
        "human",
    ));
    human.expect_code(1);
    assert!(
        human.both().contains("publish/hand-edit") && human.both().contains(DEPLOYMENT),
        "{}",
        human.describe()
    );
    assert_eq!(tip(&bare, "main").as_deref(), Some(edited.as_str()));

    let forced = publish_json("fixtures/acme/payment-api", "1.5.0", url, &["--force"]);
    forced.expect_code(0);
    let history = commits(&bare, "main");
    assert_eq!(history.len(), 3);
    assert_eq!(history[0].parents, vec![edited]);
    let expected = rendered(&["fixtures/acme/payment-api"], false, "1.5.0");
    assert_eq!(
        show_file(&bare, "main", DEPLOYMENT).as_deref(),
        expected.get(DEPLOYMENT).map(Vec::as_slice),
        "--force puts pctl's content back"
    );
    assert_tree_eq(&tree_at(&bare, "main"), &expected, "after --force");
    assert_records_consistent(&bare, "main", &[]);
}

#[test]
fn unmanaged_file_is_refused_then_forced() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = bare_repo(tmp.path(), "deploy.git");
    let url = bare.to_str().unwrap();
    hand_commit(url, tmp.path(), |work| {
        let f = work.join(DEPLOYMENT);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(&f, "# written by hand\nkind: Deployment\n").unwrap();
        std::fs::write(
            work.join("README.md"),
            "# deploy\nhand-written, not pctl's\n",
        )
        .unwrap();
    });
    let hand = tip(&bare, "main").unwrap();

    let refused = publish_json("fixtures/acme/payment-api", TAG, url, &[]);
    assert_refused(&refused, "publish/unmanaged-file", DEPLOYMENT);
    assert_eq!(
        tip(&bare, "main").as_deref(),
        Some(hand.as_str()),
        "a refused publish changes nothing"
    );

    let forced = publish_json("fixtures/acme/payment-api", TAG, url, &["--force"]);
    forced.expect_code(0);
    let history = commits(&bare, "main");
    assert_eq!(history.len(), 2);
    assert_eq!(history[0].parents, vec![hand]);
    let mut expected = rendered(&["fixtures/acme/payment-api"], false, TAG);
    expected.insert(
        "README.md".into(),
        b"# deploy\nhand-written, not pctl's\n".to_vec(),
    );
    assert_tree_eq(
        &tree_at(&bare, "main"),
        &expected,
        "after --force (README.md is left alone)",
    );
    assert_records_consistent(&bare, "main", &["README.md"]);
}

// ---------------------------------------------------------------------------------------------
// failures of the remote

#[test]
fn credentials_are_redacted() {
    // a port nothing listens on, and one whose listener hangs up at once (TLS fails)
    let closed = free_port();
    let hangup = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hangup_port = hangup.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in hangup.incoming() {
            drop(conn);
        }
    });
    for port in [closed, hangup_port] {
        for format in ["human", "json"] {
            let url = format!("https://user:S3CRETTOKEN@127.0.0.1:{port}/deploy.git");
            let r = run(pctl_cmd(
                "publish",
                "fixtures/acme/payment-api",
                TAG,
                &url,
                format,
            ));
            r.expect_code(2);
            assert!(
                !r.both().contains("S3CRETTOKEN"),
                "the password leaked\n{}",
                r.describe()
            );
            assert!(
                !r.both().contains("user:"),
                "the userinfo leaked\n{}",
                r.describe()
            );

            let url = format!("https://127.0.0.1:{port}/deploy.git");
            let mut cmd = pctl_cmd("publish", "fixtures/acme/payment-api", TAG, &url, format);
            cmd.env("PCTL_GIT_TOKEN", "S3CRETTOKEN2");
            let r = run(cmd);
            r.expect_code(2);
            assert!(
                !r.both().contains("S3CRETTOKEN2"),
                "PCTL_GIT_TOKEN leaked\n{}",
                r.describe()
            );

            let mut cmd = pctl_cmd("diff", "fixtures/acme/payment-api", TAG, &url, format);
            cmd.env("PCTL_GIT_TOKEN", "S3CRETTOKEN2");
            let r = run(cmd);
            r.expect_code(2);
            assert!(
                !r.both().contains("S3CRETTOKEN2"),
                "PCTL_GIT_TOKEN leaked (diff)\n{}",
                r.describe()
            );
        }
    }
}

#[test]
fn remote_going_away_leaves_nothing_half_done() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = bare_repo(tmp.path(), "deploy.git");
    let mut daemon = GitDaemon::start(tmp.path());
    let url = daemon.url("deploy.git");
    publish_json("fixtures/acme/payment-api", TAG, &url, &[]).expect_code(0);
    let before = tip(&bare, "main").unwrap();
    let port = daemon.port;
    daemon.kill();

    let r = publish_json("fixtures/acme/payment-api", "1.5.0", &url, &[]);
    r.expect_code(2);
    let errors: Vec<Value> = r
        .diagnostics()
        .into_iter()
        .filter(|d| d["severity"] == "error")
        .collect();
    assert!(
        !errors.is_empty(),
        "an error diagnostic explains the failure\n{}",
        r.describe()
    );
    assert!(
        r.both().contains(&format!("127.0.0.1:{port}")),
        "the error names the remote\n{}",
        r.describe()
    );
    let human = run(pctl_cmd(
        "publish",
        "fixtures/acme/payment-api",
        "1.5.0",
        &url,
        "human",
    ));
    human.expect_code(2);
    assert!(
        human.stderr.contains("error"),
        "a human error on stderr\n{}",
        human.describe()
    );

    let daemon = GitDaemon::start(tmp.path());
    assert_eq!(
        tip(&bare, "main"),
        Some(before.clone()),
        "the branch tip is unchanged"
    );
    let fsck = git_raw(&bare, &["fsck", "--strict"]);
    assert!(
        fsck.status.success(),
        "git fsck: {}",
        String::from_utf8_lossy(&fsck.stderr)
    );
    let ls = git(
        tmp.path(),
        &["ls-remote", &daemon.url("deploy.git"), "refs/heads/main"],
    );
    assert!(
        ls.starts_with(&before),
        "the restarted daemon serves the same tip: {ls}"
    );

    // and the same publish now goes through, on top of the old tip
    publish_json(
        "fixtures/acme/payment-api",
        "1.5.0",
        &daemon.url("deploy.git"),
        &[],
    )
    .expect_code(0);
    let history = commits(&bare, "main");
    assert_eq!(history.len(), 2);
    assert_eq!(history[0].parents, vec![before]);
}

#[test]
fn unreachable_url_fails_fast() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("served");
    std::fs::create_dir(&base).unwrap();
    let daemon = GitDaemon::start(&base);
    let urls = [
        format!("git://127.0.0.1:{}/x.git", free_port()),
        daemon.url("no-such-repository.git"),
        tmp.path()
            .join("no-such-folder/deploy.git")
            .to_str()
            .unwrap()
            .to_string(),
    ];
    for url in &urls {
        for sub in ["publish", "diff"] {
            let started = Instant::now();
            let r = spawn(pctl_cmd(sub, "fixtures/acme/payment-api", TAG, url, "json"))
                .wait(Duration::from_secs(20));
            r.expect_code(2);
            assert!(started.elapsed() < Duration::from_secs(20));
            assert!(
                r.diagnostics().iter().any(|d| d["severity"] == "error"),
                "{sub} {url}: an error diagnostic\n{}",
                r.describe()
            );
        }
    }
    assert!(
        !tmp.path().join("no-such-folder").exists(),
        "pctl does not create a missing remote"
    );
}

// ---------------------------------------------------------------------------------------------
// branches

#[test]
fn branch_publish() {
    const BRANCH: &str = "pctl/payment-api/feature";
    let tmp = tempfile::tempdir().unwrap();
    let bare = bare_repo(tmp.path(), "deploy.git");
    let url = bare.to_str().unwrap();
    publish_json("fixtures/acme/payment-api", TAG, url, &[]).expect_code(0);
    let main = tip(&bare, "main").unwrap();

    let first = publish_json(
        "fixtures/acme/payment-api",
        "1.5.0",
        url,
        &["--branch", BRANCH],
    );
    first.expect_code(0);
    assert_eq!(first.summary()["branch"], BRANCH, "{}", first.describe());
    assert_eq!(
        tip(&bare, "main").as_deref(),
        Some(main.as_str()),
        "main is unchanged"
    );
    let b1 = tip(&bare, BRANCH)
        .unwrap_or_else(|| panic!("{BRANCH} was not created: {:?}", branches(&bare)));
    assert_eq!(first.commit().as_deref(), Some(b1.as_str()));
    assert_eq!(
        commits(&bare, BRANCH)[0].parents,
        vec![main.clone()],
        "the branch starts at main's tip"
    );
    assert!(show_text(&bare, BRANCH, DEPLOYMENT).contains("payment-api:1.5.0"));

    let second = publish_json(
        "fixtures/acme/payment-api",
        "1.6.0",
        url,
        &["--branch", BRANCH],
    );
    second.expect_code(0);
    assert_eq!(
        branches(&bare),
        vec!["main".to_string(), BRANCH.to_string()],
        "still one branch besides main"
    );
    assert_eq!(
        tip(&bare, "main").as_deref(),
        Some(main.as_str()),
        "main is unchanged"
    );
    let b2 = tip(&bare, BRANCH).unwrap();
    assert_ne!(b2, b1, "the branch was updated");
    assert_eq!(
        commits(&bare, BRANCH)[0].parents,
        vec![main.clone()],
        "the branch tip's parent is main's tip"
    );
    assert_eq!(git(&bare, &["rev-list", "--merges", BRANCH]).trim(), "");
    let expected = rendered(&["fixtures/acme/payment-api"], false, "1.6.0");
    assert_tree_eq(
        &tree_at(&bare, BRANCH),
        &expected,
        "the branch after the second publish",
    );
    assert_records_consistent(&bare, BRANCH, &[]);
}

// ---------------------------------------------------------------------------------------------
// the oracle

#[track_caller]
fn assert_oracle_passes(bare: &Path, what: &str) {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    checkout_to(bare, "main", &tree);
    let oracle = Path::new(ROOT).join("../shared/oracles/validate-deploy-tree");
    assert!(oracle.exists(), "{} is missing", oracle.display());
    let mut cmd = std::process::Command::new("bash");
    cmd.arg(&oracle)
        .arg("--require-all")
        // Backstage entities, not Kubernetes objects; tests/catalog.rs validates them.
        .args(["--ignore", "catalog/*"])
        .arg(&tree)
        .current_dir(ROOT);
    let r = spawn(cmd).wait(Duration::from_secs(600));
    let tally = r
        .stdout
        .lines()
        .rev()
        .find(|l| l.contains(" passed, "))
        .unwrap_or("")
        .to_string();
    assert!(
        r.code == 0 && tally.contains(", 0 failed"),
        "{what}: the deploy tree fails the oracle: {tally}\n{}",
        r.describe()
    );
}

#[test]
fn the_deploy_tree_still_passes_the_oracle() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = bare_repo(tmp.path(), "deploy.git");
    let url = bare.to_str().unwrap();
    publish_json("fixtures/acme/payment-api", TAG, url, &[]).expect_code(0);
    publish_json("fixtures/acme/auth-service", TAG, url, &[]).expect_code(0);
    assert_oracle_passes(&bare, "payment-api and auth-service");
    publish_json("fixtures/publish/payment-api-no-staging", TAG, url, &[]).expect_code(0);
    assert_oracle_passes(&bare, "payment-api without staging");
    publish_json("fixtures/publish/payment-api-no-cache", TAG, url, &[]).expect_code(0);
    let mut cmd = pctl_cmd("publish", "fixtures/acme/payment-api", TAG, url, "json");
    cmd.args(["--remove", "auth-service"]);
    run(cmd).expect_code(0);
    assert_oracle_passes(&bare, "payment-api after pruning and --remove auth-service");
}

// ---------------------------------------------------------------------------------------------
// the harness itself (so that a failure above is pctl's, not the test's)

#[test]
fn harness_git_daemon_accepts_pushes_and_inspection_works() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = bare_repo(tmp.path(), "deploy.git");
    let mut daemon = GitDaemon::start(tmp.path());
    let url = daemon.url("deploy.git");
    assert_eq!(tip(&bare, "main"), None);
    hand_commit(&url, tmp.path(), |work| {
        std::fs::create_dir_all(work.join("a/b")).unwrap();
        std::fs::write(work.join("a/b/c.txt"), "one\n").unwrap();
    });
    let work = tmp.path().join("w2");
    clone(&url, &work);
    std::fs::remove_file(work.join("a/b/c.txt")).unwrap();
    std::fs::write(work.join("d.txt"), "two\n").unwrap();
    git(&work, &["add", "-A"]);
    git(
        &work,
        &[
            "commit",
            "--quiet",
            "-m",
            "second\n\nbody\n\nPctl-Services: x, y\nPctl-Source-Commit: abc",
        ],
    );
    git(&work, &["push", "--quiet", "origin", "HEAD:main"]);
    let history = commits(&bare, "main");
    assert_eq!(history.len(), 2);
    assert_eq!(tip(&bare, "main").as_deref(), Some(history[0].sha.as_str()));
    assert_eq!(history[0].parents, vec![history[1].sha.clone()]);
    assert_eq!(history[0].subject, "second");
    assert_eq!(history[0].trailer("Pctl-Services"), Some("x, y"));
    assert_eq!(history[0].trailer("pctl-source-commit"), Some("abc"));
    assert_eq!(
        changed_files(&bare, &history[0].sha),
        vec![('D', "a/b/c.txt".to_string()), ('A', "d.txt".to_string())]
    );
    assert_eq!(
        changed_files(&bare, &history[1].sha),
        vec![('A', "a/b/c.txt".to_string())]
    );
    assert_eq!(show_text(&bare, "main", "d.txt"), "two\n");
    assert_eq!(show_file(&bare, "main", "a/b/c.txt"), None);
    let out = tmp.path().join("co");
    checkout_to(&bare, "main", &out);
    assert_eq!(read_tree(&out).keys().collect::<Vec<_>>(), vec!["d.txt"]);
    assert_eq!(
        sha256_hex(b"two\n"),
        "27dd8ed44a83ff94d557f9fd0412ed5a8cbca69ea04922d88c01184a07300a5a"
    );
    daemon.kill();
    let gone = git_raw(tmp.path(), &["ls-remote", &url]);
    assert!(!gone.status.success(), "the killed daemon still answers");
}

#[test]
fn remove_works_from_an_emptied_repository_and_names_unknown_services() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = bare_repo(tmp.path(), "deploy.git");
    let url = bare.to_str().unwrap();
    publish_json("fixtures/acme/auth-service", TAG, url, &[]).expect_code(0);
    let before = tip(&bare, "main").unwrap();
    // The application repository no longer has a platform.yaml.
    let empty = tmp.path().join("emptied-app");
    std::fs::create_dir_all(&empty).unwrap();
    let empty = empty.to_str().unwrap();

    // A typo is an error with a suggestion, and changes nothing.
    let mut cmd = pctl_cmd("publish", empty, TAG, url, "json");
    cmd.args(["--remove", "auth-servce"]);
    let typo = run(cmd);
    typo.expect_code(1);
    let d = &typo.diags_with_code("publish/unknown-service")[0];
    assert!(d["help"].as_str().unwrap().contains("auth-service"), "{d}");
    assert_eq!(tip(&bare, "main").unwrap(), before);

    let mut cmd = pctl_cmd("publish", empty, TAG, url, "json");
    cmd.args(["--remove", "auth-service"]);
    run(cmd).expect_code(0);
    let history = commits(&bare, "main");
    assert_eq!(history.len(), 2);
    assert!(
        history[0].subject.contains("remove auth-service"),
        "{}",
        history[0].subject
    );
    assert!(
        ls_tree(&bare, "main")
            .iter()
            .all(|p| !p.contains("auth-service")),
        "{:?}",
        ls_tree(&bare, "main")
    );
}

#[test]
fn the_app_commit_time_travels_in_a_trailer() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = bare_repo(tmp.path(), "deploy.git");
    // A real application repository with one commit at a known time.
    let app = tmp.path().join("app");
    std::fs::create_dir_all(&app).unwrap();
    std::fs::copy(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/acme/auth-service/platform.yaml"),
        app.join("platform.yaml"),
    )
    .unwrap();
    git(&app, &["init", "-q", "-b", "main"]);
    git(&app, &["add", "platform.yaml"]);
    let out = std::process::Command::new("git")
        .current_dir(&app)
        .args([
            "-c",
            "user.name=dev",
            "-c",
            "user.email=dev@acme.example",
            "commit",
            "-q",
            "-m",
            "first",
        ])
        .env("GIT_COMMITTER_DATE", "2026-11-01T10:00:00Z")
        .env("GIT_AUTHOR_DATE", "2026-11-01T10:00:00Z")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = pctl()
        .arg("publish")
        .arg(&app)
        .args(["--org", ORG, "--deploy-repo", bare.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let head = commits(&bare, "main");
    assert_eq!(
        head[0].trailer("Pctl-Source-Time"),
        Some("auth-service 2026-11-01T10:00:00Z"),
        "{}",
        head[0].message
    );
}
