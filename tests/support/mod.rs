//! Helpers for the `pctl diff` / `pctl publish` integration tests: running pctl with a time
//! bound, bare deploy repositories, a `git daemon` serving them over `git://`, and inspection
//! of a repository through the git CLI (the tests may shell out to git; pctl itself may not).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub const ROOT: &str = env!("CARGO_MANIFEST_DIR");
/// The source commit every test publishes from (the golden tests' one).
pub const SHA: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c";
pub const TAG: &str = "1.4.2";
pub const ORG: &str = "fixtures/acme/pctl-org.yaml";
/// Upper bound for one pctl run; a run that takes longer is a hang.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(120);

/// `pctl` run in the repository root, without colours, tokens or CI-specific defaults.
pub fn pctl() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pctl"));
    cmd.current_dir(ROOT)
        .env("NO_COLOR", "1")
        .env_remove("PCTL_GIT_TOKEN")
        .env_remove("GITHUB_ACTIONS")
        // never ask a terminal for credentials
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::null());
    cmd
}

/// The result of a finished pctl run.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
    pub what: String,
}

impl Run {
    /// stdout parsed as the `--format json` document.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "{}: stdout is not one JSON document ({e})\n{}",
                self.what,
                self.describe()
            )
        })
    }

    pub fn summary(&self) -> serde_json::Value {
        self.json()["summary"].clone()
    }

    /// The `summary.commit` of a JSON run: `Some(sha)` or `None` for null.
    pub fn commit(&self) -> Option<String> {
        let s = self.summary();
        match &s["commit"] {
            serde_json::Value::String(c) => Some(c.clone()),
            serde_json::Value::Null => None,
            other => panic!(
                "{}: summary.commit is neither a string nor null: {other}\n{}",
                self.what,
                self.describe()
            ),
        }
    }

    pub fn diagnostics(&self) -> Vec<serde_json::Value> {
        self.json()["diagnostics"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// The diagnostics with this code.
    pub fn diags_with_code(&self, code: &str) -> Vec<serde_json::Value> {
        self.diagnostics()
            .into_iter()
            .filter(|d| d["code"] == code)
            .collect()
    }

    pub fn both(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    pub fn describe(&self) -> String {
        format!(
            "{} -> exit {} after {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.what, self.code, self.elapsed, self.stdout, self.stderr
        )
    }

    /// Panics with the whole output unless the exit code is `code`.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(self.code, code, "unexpected exit code\n{}", self.describe());
        self
    }
}

/// A spawned pctl whose output goes to files (no pipe can fill up and block it).
pub struct Running {
    child: Child,
    out: PathBuf,
    err: PathBuf,
    _dir: tempfile::TempDir,
    started: Instant,
    what: String,
}

pub fn spawn(mut cmd: Command) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("stdout");
    let err = dir.path().join("stderr");
    let what = describe_command(&cmd);
    cmd.stdout(fs::File::create(&out).unwrap())
        .stderr(fs::File::create(&err).unwrap());
    let started = Instant::now();
    let child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    Running {
        child,
        out,
        err,
        _dir: dir,
        started,
        what,
    }
}

impl Running {
    /// Waits at most `timeout`; a process still running then is killed and the test fails.
    pub fn wait(mut self, timeout: Duration) -> Run {
        let status = wait_child(&mut self.child, self.started + timeout);
        let elapsed = self.started.elapsed();
        let stdout = fs::read_to_string(&self.out).unwrap_or_default();
        let stderr = fs::read_to_string(&self.err).unwrap_or_default();
        let Some(status) = status else {
            panic!(
                "{} did not finish within {timeout:?}: killed\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
                self.what
            );
        };
        Run {
            code: status.code().unwrap_or(-1),
            stdout,
            stderr,
            elapsed,
            what: self.what,
        }
    }
}

fn wait_child(child: &mut Child, deadline: Instant) -> Option<ExitStatus> {
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn describe_command(cmd: &Command) -> String {
    let mut s = Path::new(cmd.get_program())
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Runs to completion within [`RUN_TIMEOUT`].
pub fn run(cmd: Command) -> Run {
    spawn(cmd).wait(RUN_TIMEOUT)
}

/// `pctl <sub> <args> --source-sha SHA --image-tag <tag> --deploy-repo <url> --format <format>`
/// for one service folder (relative to the repository root) with the acme organisation.
pub fn pctl_cmd(sub: &str, path: &str, tag: &str, deploy: &str, format: &str) -> Command {
    let mut cmd = pctl();
    cmd.arg(sub)
        .arg(path)
        .args(["--org", ORG, "--source-sha", SHA, "--image-tag", tag])
        .args(["--deploy-repo", deploy, "--format", format]);
    cmd
}

/// `pctl publish PATH ... --format json` run to completion.
pub fn publish_json(path: &str, tag: &str, deploy: &str, extra: &[&str]) -> Run {
    let mut cmd = pctl_cmd("publish", path, tag, deploy, "json");
    cmd.args(extra);
    run(cmd)
}

/// `pctl render` of the same input into `out`, the reference for what publish must push.
pub fn render_into(paths: &[&str], all: bool, tag: &str, out: &Path) {
    let mut cmd = pctl();
    cmd.arg("render");
    if all {
        cmd.arg("--all");
    }
    cmd.args(paths)
        .args(["--org", ORG, "--source-sha", SHA, "--image-tag", tag])
        .arg("--out")
        .arg(out);
    run(cmd).expect_code(0);
}

/// Every file below `dir`, relative path -> bytes.
pub fn read_tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    for entry in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let entry = entry.unwrap();
        if entry.file_type().is_file() {
            let rel = entry
                .path()
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            // A render folder's cache is not part of the deploy tree.
            if rel != pctl::cache::FILE {
                files.insert(rel, fs::read(entry.path()).unwrap());
            }
        }
    }
    files
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("{:x}", sha2::Sha256::digest(bytes))
}

// ---------------------------------------------------------------------------------------------
// git

/// `git <args>` with a fixed identity and no user/system configuration surprises; panics with
/// the output unless it succeeds. Returns stdout.
#[track_caller]
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = git_raw(dir, args);
    assert!(
        out.status.success(),
        "git {} (in {}) failed: {}\n{}",
        args.join(" "),
        dir.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("git output is UTF-8")
}

pub fn git_raw(dir: &Path, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "Hand Editor")
        .env("GIT_AUTHOR_EMAIL", "hand@example.com")
        .env("GIT_COMMITTER_NAME", "Hand Editor")
        .env("GIT_COMMITTER_EMAIL", "hand@example.com")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .stdin(Stdio::null());
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("git on PATH");
    // git commands here are local or against a local daemon; bound them anyway.
    let (tx, rx) = std::sync::mpsc::channel();
    let pid = child.id();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            panic!(
                "git {} (in {}) hung for 60 s",
                args.join(" "),
                dir.display()
            );
        }
    }
}

/// A new bare repository `dir/<name>` whose default branch is `main`, without any branch.
pub fn bare_repo(dir: &Path, name: &str) -> PathBuf {
    let repo = dir.join(name);
    fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "--quiet", "--bare", "-b", "main"]);
    repo
}

/// `file://` URL of a local path.
pub fn file_url(path: &Path) -> String {
    format!("file://{}", path.display())
}

/// The tip of `branch` in a (bare) repository, None when the branch does not exist.
pub fn tip(repo: &Path, branch: &str) -> Option<String> {
    let out = git_raw(
        repo,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("refs/heads/{branch}^{{commit}}"),
        ],
    );
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Local branch names of a repository, sorted.
pub fn branches(repo: &Path) -> Vec<String> {
    let mut b: Vec<String> = git(
        repo,
        &["for-each-ref", "--format=%(refname:short)", "refs/heads/"],
    )
    .lines()
    .map(str::to_string)
    .collect();
    b.sort();
    b
}

#[derive(Debug, Clone)]
pub struct CommitInfo {
    pub sha: String,
    pub parents: Vec<String>,
    pub subject: String,
    pub message: String,
    /// `git interpret-trailers --parse` of the message: (key, value) in order.
    pub trailers: Vec<(String, String)>,
}

impl CommitInfo {
    pub fn trailer(&self, key: &str) -> Option<&str> {
        self.trailers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }
}

/// The commits reachable from `rev`, newest first.
pub fn commits(repo: &Path, rev: &str) -> Vec<CommitInfo> {
    let log = git(
        repo,
        &[
            "log",
            "--format=%H%x00%P%x00%B%x00%(trailers:only,unfold)%x1e",
            rev,
        ],
    );
    log.split('\x1e')
        .map(|r| r.trim_start_matches('\n'))
        .filter(|r| !r.trim().is_empty())
        .map(|r| {
            let mut f = r.split('\0');
            let sha = f.next().unwrap().trim().to_string();
            let parents = f
                .next()
                .unwrap()
                .split_whitespace()
                .map(str::to_string)
                .collect();
            let message = f.next().unwrap().to_string();
            let trailers = f
                .next()
                .unwrap_or("")
                .lines()
                .filter_map(|l| l.split_once(':'))
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .collect();
            CommitInfo {
                sha,
                parents,
                subject: message.lines().next().unwrap_or("").to_string(),
                message,
                trailers,
            }
        })
        .collect()
}

/// The content of `path` at `rev`, None when it does not exist there.
pub fn show_file(repo: &Path, rev: &str, path: &str) -> Option<Vec<u8>> {
    let out = git_raw(repo, &["show", &format!("{rev}:{path}")]);
    out.status.success().then_some(out.stdout)
}

#[track_caller]
pub fn show_text(repo: &Path, rev: &str, path: &str) -> String {
    String::from_utf8(
        show_file(repo, rev, path).unwrap_or_else(|| panic!("{path} does not exist at {rev}")),
    )
    .unwrap()
}

/// Every file path in the tree of `rev`.
pub fn ls_tree(repo: &Path, rev: &str) -> Vec<String> {
    git(repo, &["ls-tree", "-r", "--name-only", "--full-tree", rev])
        .lines()
        .map(str::to_string)
        .collect()
}

/// The whole tree of `rev`: path -> bytes.
pub fn tree_at(repo: &Path, rev: &str) -> BTreeMap<String, Vec<u8>> {
    ls_tree(repo, rev)
        .into_iter()
        .map(|p| {
            let content = show_file(repo, rev, &p).unwrap();
            (p, content)
        })
        .collect()
}

/// (status letter, path) of every file a commit changed against its first parent (or the
/// empty tree for a root commit).
pub fn changed_files(repo: &Path, sha: &str) -> Vec<(char, String)> {
    git(
        repo,
        &[
            "diff-tree",
            "--no-commit-id",
            "--name-status",
            "-r",
            "--root",
            "--no-renames",
            sha,
        ],
    )
    .lines()
    .filter_map(|l| {
        let (status, path) = l.split_once('\t')?;
        Some((status.chars().next()?, path.to_string()))
    })
    .collect()
}

/// Checks out `rev` of a bare repository into the (new) folder `dest`.
pub fn checkout_to(repo: &Path, rev: &str, dest: &Path) {
    fs::create_dir_all(dest).unwrap();
    let dest = dest.to_str().unwrap();
    // a private index so the bare repository is not touched
    let index = tempfile::tempdir().unwrap();
    let out = Command::new("git")
        .current_dir(repo)
        .env("GIT_INDEX_FILE", index.path().join("index"))
        .args(["--work-tree", dest, "checkout", rev, "--", "."])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "checkout of {rev} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Clones `url` into `dest` (a working copy for hand edits).
pub fn clone(url: &str, dest: &Path) {
    let parent = dest.parent().unwrap();
    git(parent, &["clone", "--quiet", url, dest.to_str().unwrap()]);
}

// ---------------------------------------------------------------------------------------------
// git daemon

/// A free TCP port on 127.0.0.1 (nothing listens on it when this returns).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `<git --exec-path>/git-daemon`: the daemon itself, so that killing the child kills it.
fn git_daemon_program() -> PathBuf {
    let out = Command::new("git")
        .arg("--exec-path")
        .output()
        .expect("git on PATH");
    assert!(out.status.success());
    let dir = PathBuf::from(String::from_utf8(out.stdout).unwrap().trim());
    let program = dir.join("git-daemon");
    assert!(program.exists(), "{} is missing", program.display());
    program
}

/// `git daemon` serving every repository below `base` with push enabled, killed on drop.
pub struct GitDaemon {
    child: Option<Child>,
    pub port: u16,
    pub base: PathBuf,
}

impl GitDaemon {
    pub fn start(base: &Path) -> GitDaemon {
        let base = fs::canonicalize(base).unwrap();
        let mut last_err = String::new();
        for _ in 0..5 {
            let port = free_port();
            let log = tempfile::tempfile().unwrap();
            // `git daemon` would run git-daemon as a child and a kill would miss it
            let mut child = Command::new(git_daemon_program())
                .arg("--listen=127.0.0.1")
                .arg(format!("--port={port}"))
                .arg(format!("--base-path={}", base.display()))
                .args(["--export-all", "--enable=receive-pack", "--reuseaddr"])
                // Past its default of 32 connections, git daemon kills a running one from the
                // same address (every test client is 127.0.0.1): a server for 64 concurrent
                // publishers is configured for them.
                .arg("--max-connections=256")
                .arg("--informative-errors")
                .arg(&base)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log.try_clone().unwrap())
                .spawn()
                .expect("git daemon");
            let deadline = Instant::now() + Duration::from_secs(5);
            let addr: SocketAddr = ([127, 0, 0, 1], port).into();
            loop {
                if let Some(status) = child.try_wait().unwrap() {
                    // most likely someone took the port between free_port() and the bind
                    last_err = format!("git daemon exited with {status}");
                    break;
                }
                if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                    return GitDaemon {
                        child: Some(child),
                        port,
                        base,
                    };
                }
                if Instant::now() >= deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    last_err =
                        format!("git daemon did not accept connections on {port} within 5 s");
                    break;
                }
                std::thread::sleep(Duration::from_millis(25));
            }
        }
        panic!("cannot start git daemon: {last_err}");
    }

    /// `git://127.0.0.1:<port>/<name>`
    pub fn url(&self, name: &str) -> String {
        format!("git://127.0.0.1:{}/{name}", self.port)
    }

    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
            // the port must refuse connections before the test goes on
            let addr: SocketAddr = ([127, 0, 0, 1], self.port).into();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline
                && TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok()
            {
                std::thread::sleep(Duration::from_millis(25));
            }
        }
    }
}

impl Drop for GitDaemon {
    fn drop(&mut self) {
        self.kill();
    }
}

/// svc-01..svc-N: copies of auth-service (team-platform) under `dir/services/svc-NN/`.
pub fn write_services(dir: &std::path::Path, n: usize) -> Vec<String> {
    let src = std::fs::read_to_string(
        std::path::Path::new(ROOT).join("fixtures/acme/auth-service/platform.yaml"),
    )
    .unwrap();
    assert!(src.contains("  name: auth-service\n"));
    (1..=n)
        .map(|i| {
            let name = format!("svc-{i:02}");
            let text = src
                .replace("  name: auth-service\n", &format!("  name: {name}\n"))
                .replace(
                    "repository: https://github.com/acme/auth-service",
                    &format!("repository: https://github.com/acme/{name}"),
                )
                .replace(
                    "image: ghcr.io/acme/auth-service",
                    &format!("image: ghcr.io/acme/{name}"),
                );
            let folder = dir.join("services").join(&name);
            std::fs::create_dir_all(&folder).unwrap();
            std::fs::write(folder.join("platform.yaml"), text).unwrap();
            folder.to_str().unwrap().to_string()
        })
        .collect()
}
