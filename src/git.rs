//! The edge to git repositories (git2), shared by `publish`/`diff` and `metrics`: a private bare
//! clone of a deploy repository (a path, `file://`, `git://`, `https://`), fetching into it with
//! the token of PCTL_GIT_TOKEN, libgit2's timeouts, and errors as diagnostics that never show a
//! credential. Also the one question pctl asks an application repository besides discovery:
//! when its source commit was made.

use crate::redact::{self, Secrets};
use git2::{FetchOptions, RemoteCallbacks, Repository};
use pctl_core::diag::Diagnostic;
use std::cell::RefCell;
use std::path::{Path, PathBuf};

/// The environment variable holding the token for https remotes.
pub const TOKEN_VAR: &str = "PCTL_GIT_TOKEN";

/// PCTL_GIT_TOKEN, when set and not empty.
pub fn token_from_env() -> Option<String> {
    std::env::var(TOKEN_VAR).ok().filter(|t| !t.is_empty())
}

/// A repository to reach: its URL as given, the token, and what to keep out of messages.
#[derive(Debug, Clone)]
pub struct Remote {
    /// As given: a URL or a local path (never shown as is; see [`Remote::shown`]).
    pub url: String,
    pub token: Option<String>,
    /// The code of this command's remote diagnostics (`publish/remote`, `metrics/remote`).
    pub code: &'static str,
    secrets: Secrets,
}

impl Remote {
    pub fn new(url: &str, token: Option<String>, code: &'static str) -> Remote {
        Remote {
            url: url.to_string(),
            secrets: Secrets::new(url, token.as_deref()),
            token,
            code,
        }
    }

    /// The URL as it may be shown: without credentials.
    pub fn shown(&self) -> String {
        redact::url(&self.url)
    }

    /// `msg` without the URL's credentials or the token.
    pub fn scrub(&self, msg: &str) -> String {
        self.secrets.scrub(msg)
    }

    /// "`what` <url>: <libgit2's message>", redacted, as an environment error.
    pub fn error(&self, what: &str, e: &git2::Error) -> Diagnostic {
        Diagnostic::error(
            self.code,
            format!("{what} {}: {}", self.shown(), self.scrub(e.message())),
        )
        .help(format!(
            "check the URL, the network and {TOKEN_VAR}; nothing was changed in the deploy repository"
        ))
    }
}

/// Bounds the wait for an unreachable or silent server (libgit2's default is the OS's: minutes).
/// Idempotent; takes effect for connections made after it.
pub fn set_timeouts() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: sets libgit2 global options; `Once` keeps two threads from racing on them, and
        // pctl calls this before it opens any connection.
        unsafe {
            let _ = git2::opts::set_server_connect_timeout_in_milliseconds(10_000);
            // With a connect timeout the socket is non-blocking; reads then need a timeout too
            // (libgit2 1.9 otherwise fails with EAGAIN). 30 s without a byte is a dead server.
            let _ = git2::opts::set_server_timeout_in_milliseconds(30_000);
        }
    });
}

/// The folder of a repository on this machine (a path or a `file://` URL), if it is one.
pub fn local_path(url: &str) -> Option<PathBuf> {
    let p = url.strip_prefix("file://").unwrap_or(url);
    let path = Path::new(p);
    (url.starts_with("file://") || path.exists()).then(|| path.to_path_buf())
}

/// A private, empty bare clone of `remote` in `dir` (its remote `origin`); [`fetch`] fills it.
pub fn open_clone(remote: &Remote, dir: &Path) -> Result<Repository, Diagnostic> {
    set_timeouts();
    let repo =
        Repository::init_bare(dir).map_err(|e| remote.error("cannot prepare a clone of", &e))?;
    let url = match Path::new(&remote.url) {
        p if p.exists() => std::fs::canonicalize(p)
            .map(|p| p.display().to_string())
            .unwrap_or(remote.url.clone()),
        _ => remote.url.clone(),
    };
    repo.remote("origin", &url)
        .map_err(|e| remote.error("cannot use", &e))?;
    Ok(repo)
}

/// Credentials from `token` (asked once: libgit2 asks again for as long as the server refuses)
/// and, when given, where a push's rejection of a reference is recorded.
pub fn callbacks<'a>(
    token: Option<String>,
    rejected: Option<&'a RefCell<Option<String>>>,
) -> RemoteCallbacks<'a> {
    let mut cb = RemoteCallbacks::new();
    let mut tries = 0;
    cb.credentials(move |_url, user, allowed| {
        tries += 1;
        if tries > 1 {
            return Err(git2::Error::from_str(
                "authentication failed (token rejected or missing)",
            ));
        }
        if allowed.contains(git2::CredentialType::USER_PASS_PLAINTEXT) {
            if let Some(t) = &token {
                return git2::Cred::userpass_plaintext(user.unwrap_or("x-access-token"), t);
            }
        }
        Err(git2::Error::from_str(&format!(
            "the remote asks for credentials: set {TOKEN_VAR}"
        )))
    });
    if let Some(cell) = rejected {
        cb.push_update_reference(move |_refname, status| {
            if let Some(msg) = status {
                *cell.borrow_mut() = Some(msg.to_string());
            }
            Ok(())
        });
    }
    cb
}

/// Fetches `refspecs` from `origin`.
pub fn fetch(repo: &Repository, remote: &Remote, refspecs: &[&str]) -> Result<(), Diagnostic> {
    try_fetch(repo, remote, refspecs).map_err(|e| remote.error("cannot fetch from", &e))
}

/// [`fetch`], with libgit2's error (to tell a transient failure from a lasting one).
pub fn try_fetch(repo: &Repository, remote: &Remote, refspecs: &[&str]) -> Result<(), git2::Error> {
    set_timeouts();
    let mut origin = repo.find_remote("origin")?;
    let mut opts = FetchOptions::new();
    opts.remote_callbacks(callbacks(remote.token.clone(), None));
    origin.fetch(refspecs, Some(&mut opts), None)
}

/// Whether an error is the network failing for a moment (a timeout, a reset or dropped
/// connection) rather than a lasting problem (a wrong address or token, a refusal).
pub fn is_transient(e: &git2::Error) -> bool {
    matches!(e.class(), git2::ErrorClass::Net | git2::ErrorClass::Os)
        && !matches!(
            e.code(),
            git2::ErrorCode::Auth | git2::ErrorCode::Certificate | git2::ErrorCode::NotFound
        )
}

/// The commit `origin`'s `branch` was at when last fetched.
pub fn remote_tip<'r>(repo: &'r Repository, branch: &str) -> Option<git2::Commit<'r>> {
    repo.find_reference(&format!("refs/remotes/origin/{branch}"))
        .ok()?
        .peel_to_commit()
        .ok()
}

/// The committer time of `sha` in `repo`, if it has that commit.
pub fn commit_time(repo: &Repository, sha: &str) -> Option<i64> {
    let commit = repo.revparse_single(sha).ok()?.peel_to_commit().ok()?;
    Some(commit.committer().when().seconds())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_commit_times() {
        // An application repository with one commit at a known time, and the intent in it.
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path()).unwrap();
        std::fs::create_dir_all(dir.path().join("svc")).unwrap();
        std::fs::write(dir.path().join("svc/platform.yaml"), "x: 1\n").unwrap();
        let mut index = repo.index().unwrap();
        index.add_path(Path::new("svc/platform.yaml")).unwrap();
        let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
        let who =
            git2::Signature::new("a", "a@example.com", &git2::Time::new(1_700_000_000, 0)).unwrap();
        let id = repo
            .commit(Some("HEAD"), &who, &who, "one", &tree, &[])
            .unwrap()
            .to_string();
        let intent = dir.path().join("svc/platform.yaml");
        let mut pins = crate::discover::SourceOverrides::default();
        let (src, time) = crate::discover::source_and_time(&intent, None, &pins).unwrap();
        assert_eq!((src.sha.as_str(), time), (id.as_str(), Some(1_700_000_000)));
        assert_eq!(commit_time(&repo, &id), Some(1_700_000_000));
        // A pinned commit the repository does not have: no time, and no error.
        pins.sha = Some("0".repeat(40));
        let (src, time) = crate::discover::source_and_time(&intent, None, &pins).unwrap();
        assert_eq!((src.sha, time), ("0".repeat(40), None));
    }

    #[test]
    fn errors_show_no_credentials() {
        let r = Remote::new(
            "https://user:s3/cr3t@example.com/x.git",
            Some("TOKEN-XYZ".into()),
            "publish/remote",
        );
        let e = git2::Error::from_str(
            "failed to connect to https://user:s3/cr3t@example.com/x.git with TOKEN-XYZ",
        );
        let d = r.error("cannot fetch from", &e);
        let text = format!("{d:?}");
        assert!(
            !text.contains("cr3t") && !text.contains("TOKEN-XYZ"),
            "{text}"
        );
        assert!(
            d.message.contains("https://example.com/x.git"),
            "{}",
            d.message
        );
        assert_eq!(d.code, "publish/remote");
    }
}
