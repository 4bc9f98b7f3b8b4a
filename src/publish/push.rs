//! The push of a publish, and what its outcome means: it landed, the branch moved under it
//! (another publisher was first: re-plan and try again after a back-off), or the server refused
//! it for another reason (a protected branch, a hook, permissions, size): that is final, and
//! the server's own words are shown.
//!
//! A moved tip is recognised by fetching the branch again, never by the wording of a message:
//! a rejection is contention only when the branch no longer points where this attempt started
//! from (or the server said that its reference was locked by another writer).

use super::{Target, env_error};
use crate::git::{self, remote_tip};
use git2::{Oid, PushOptions, Repository};
use pctl_core::diag::{Diagnostic, escape_control};
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub enum Pushed {
    /// The branch points at the new commit: the server updated it (compare-and-swap against
    /// where this attempt started) and said so.
    Done,
    /// Another publisher moved the branch first: re-plan on the new tip. `fetched`: the new tip
    /// was fetched already.
    Moved { fetched: bool },
    /// The connection failed during the push: whether it landed, the next fetch tells.
    Unknown(Box<Diagnostic>),
}

/// Server-side hooks that can refuse a push.
const BLOCKING_HOOKS: &[&str] = &[
    "pre-receive",
    "update",
    "proc-receive",
    "reference-transaction",
];

/// An active hook of a repository on this machine that could refuse a push: pctl writes such a
/// repository through the file system (see [`push_local`]) and cannot run hooks.
fn blocking_hook(dir: &Path) -> Option<PathBuf> {
    let hooks = Repository::open_bare(dir)
        .ok()
        .and_then(|r| r.config().ok())
        .and_then(|c| c.get_path("core.hooksPath").ok())
        .map(|p| if p.is_absolute() { p } else { dir.join(p) })
        .unwrap_or_else(|| dir.join("hooks"));
    BLOCKING_HOOKS.iter().map(|h| hooks.join(h)).find(|p| {
        std::fs::metadata(p).is_ok_and(|m| {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                m.is_file() && m.permissions().mode() & 0o111 != 0
            }
            #[cfg(not(unix))]
            {
                m.is_file()
            }
        })
    })
}

/// Pushes to a repository on this machine without libgit2's local transport, which updates the
/// branch with a forced write and can silently lose a concurrent publisher's commit. Objects are
/// copied, then the branch moves only if it still points where this publish started from
/// (compare-and-swap under the reference lock).
pub fn push_local(
    repo: &Repository,
    dir: &Path,
    target: &Target,
    oid: Oid,
    expected: Option<Oid>,
    force: bool,
) -> Result<Pushed, Diagnostic> {
    let fail = |e: git2::Error| env_error(target, "cannot push to", &e);
    if let Some(hook) = blocking_hook(dir) {
        return Err(Diagnostic::error(
            "publish/hook",
            format!(
                "the deploy repository {} has a `{}` hook, which pctl cannot run: it writes a repository on this machine through the file system",
                target.remote().shown(),
                hook.file_name().unwrap_or_default().to_string_lossy()
            ),
        )
        .note(format!("hook: {}", hook.display()))
        .help("serve the repository through a git server so its hooks run (git daemon, ssh or https URL), or remove the hook; nothing was changed"));
    }
    let remote = Repository::open_bare(dir).map_err(fail)?;
    let (ours, theirs) = (repo.odb().map_err(fail)?, remote.odb().map_err(fail)?);
    let mut copy_err = None;
    ours.foreach(|id| {
        if !theirs.exists(*id) {
            match ours
                .read(*id)
                .and_then(|o| theirs.write(o.kind(), o.data()))
            {
                Ok(_) => {}
                Err(e) => {
                    copy_err = Some(e);
                    return false;
                }
            }
        }
        true
    })
    .map_err(fail)?;
    if let Some(e) = copy_err {
        return Err(fail(e));
    }
    let name = format!("refs/heads/{}", target.branch());
    let msg = "pctl publish";
    let result = match (force, expected) {
        // Review branches belong to their publisher: replace whatever is there.
        (true, _) => remote.reference(&name, oid, true, msg).map(|_| ()),
        (false, Some(old)) => remote
            .reference_matching(&name, oid, true, old, msg)
            .map(|_| ()),
        (false, None) => remote.reference(&name, oid, false, msg).map(|_| ()),
    };
    match result {
        Ok(()) => Ok(Pushed::Done),
        // Moved meanwhile, exists already, or locked by another publisher: re-plan.
        Err(e)
            if matches!(
                e.code(),
                git2::ErrorCode::Modified | git2::ErrorCode::Exists | git2::ErrorCode::Locked
            ) =>
        {
            Ok(Pushed::Moved { fetched: false })
        }
        Err(e) => Err(fail(e)),
    }
}

/// What the server said while a push ran (its `remote:` lines), bounded.
#[derive(Default)]
struct Said {
    text: String,
}

impl Said {
    const MAX: usize = 8 * 1024;
    fn add(&mut self, bytes: &[u8]) {
        if self.text.len() < Self::MAX {
            let s = String::from_utf8_lossy(bytes);
            let room = Self::MAX - self.text.len();
            self.text.extend(s.chars().take(room));
        }
    }
    /// Its lines, without progress reports ("Resolving deltas: 100% (61/61), done."),
    /// redacted and escaped.
    fn lines(&self, target: &Target) -> Vec<String> {
        self.text
            .split('\n')
            .filter_map(|l| l.rsplit('\r').find(|p| !p.trim().is_empty()))
            .filter(|l| !is_progress(l))
            .map(|l| escape_control(&target.redact(l.trim_end())))
            .filter(|l| !l.is_empty())
            .collect()
    }
}

/// A progress line of git itself: `<Label>: 42% (5/12)`, possibly `, done.`.
fn is_progress(line: &str) -> bool {
    let Some((label, rest)) = line.split_once(": ") else {
        return false;
    };
    let rest = rest.trim_end().trim_end_matches(", done.");
    label.chars().all(|c| c.is_ascii_alphabetic() || c == ' ')
        && rest
            .split_once("% (")
            .is_some_and(|(pct, n)| pct.trim().parse::<u32>().is_ok() && n.ends_with(')'))
}

/// Pushes `oid` to the branch through libgit2 (git://, ssh, https). `expected`: where the
/// branch was when this attempt started (None: it did not exist).
pub fn push(
    repo: &Repository,
    target: &Target,
    oid: Oid,
    force: bool,
    expected: Option<Oid>,
) -> Result<Pushed, Diagnostic> {
    let mut remote = repo
        .find_remote("origin")
        .map_err(|e| env_error(target, "cannot use", &e))?;
    let rejected = RefCell::new(None);
    let said = RefCell::new(Said::default());
    let mut opts = PushOptions::new();
    let mut cb = git::callbacks(target.token.clone(), Some(&rejected));
    cb.sideband_progress(|bytes| {
        said.borrow_mut().add(bytes);
        true
    });
    opts.remote_callbacks(cb);
    let refspec = format!(
        "{}{oid}:refs/heads/{}",
        if force { "+" } else { "" },
        target.branch()
    );
    let result = remote.push(&[refspec.as_str()], Some(&mut opts));
    drop(opts);
    let reason = match result {
        // libgit2 saw that the branch is not an ancestor of the new commit: it moved.
        Err(e) if e.code() == git2::ErrorCode::NotFastForward => {
            return Ok(Pushed::Moved { fetched: false });
        }
        Err(e) if git::is_transient(&e) && rejected.borrow().is_none() => {
            return Ok(Pushed::Unknown(Box::new(env_error(
                target,
                "cannot push to",
                &e,
            ))));
        }
        Err(e)
            if matches!(
                e.class(),
                git2::ErrorClass::Net
                    | git2::ErrorClass::Os
                    | git2::ErrorClass::Ssl
                    | git2::ErrorClass::Http
                    | git2::ErrorClass::Ssh
            ) && rejected.borrow().is_none() =>
        {
            return Err(env_error(target, "cannot push to", &e));
        }
        Err(e) => e.message().to_string(),
        // The second way a rejection arrives: Ok, with a status on the reference.
        Ok(()) => match rejected.into_inner() {
            None => return Ok(Pushed::Done),
            Some(msg) => msg,
        },
    };
    // Refused. Contention only if the branch moved since this attempt started, or the server
    // says another writer held its lock; anything else is final.
    match super::fetch(repo, target) {
        Ok(()) => {}
        Err(t) if t.transient => return Ok(Pushed::Unknown(Box::new(t.diagnostic))),
        Err(t) => return Err(t.diagnostic),
    }
    let now = remote_tip(repo, target.branch()).map(|c| c.id());
    let lock = reason.contains("lock");
    if now != expected || lock {
        return Ok(Pushed::Moved { fetched: true });
    }
    Err(refused(target, &reason, &said.borrow().lines(target)))
}

/// The diagnostic of a push the server refused for a reason other than contention.
fn refused(target: &Target, reason: &str, said: &[String]) -> Diagnostic {
    let reason = escape_control(&target.redact(reason));
    let all = format!("{reason}\n{}", said.join("\n")).to_lowercase();
    let help = if all.contains("protected") {
        "the branch is protected: publish through a review branch (`--branch`, or `--protected-via-branch` for changes that reach protected environments) and merge its pull request; nothing was changed"
    } else if all.contains("permission")
        || all.contains("denied")
        || all.contains("403")
        || all.contains("not allowed")
    {
        "the token may not push to this branch: check PCTL_GIT_TOKEN's permissions (contents: write) on the deploy repository; nothing was changed"
    } else if all.contains("large") || all.contains("size") || all.contains("quota") {
        "the push is larger than the server accepts: publish fewer services at once (`--shard I/N`), or raise the server's limit; nothing was changed"
    } else {
        "a server-side rule (hook, protected branch, permissions or size limit) refused the commit; read the server's message above, fix the cause, and publish again; nothing was changed"
    };
    let mut d = Diagnostic::error(
        "publish/rejected",
        format!(
            "the deploy repository {} refused the push to `{}`: {reason}",
            target.remote().shown(),
            target.branch()
        ),
    )
    .help(help);
    if !said.is_empty() {
        d = d.note(format!("the server said:\n{}", said.join("\n")));
    }
    d
}

/// How long to wait before attempt `attempt + 1`: exponential back-off with full jitter, a
/// uniformly random wait between 0 and min(4 s, 50 ms x 2^attempt), different in every process.
pub fn backoff(attempt: u32) -> Duration {
    let ceiling = (50u64 << attempt.min(10)).min(4_000);
    Duration::from_millis(random() % (ceiling + 1))
}

/// A random number, from the standard library's per-process random hash keys.
fn random() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_lines_are_not_the_servers_message() {
        assert!(is_progress("Resolving deltas: 100% (61/61), done."));
        assert!(is_progress("Counting objects:  42% (5/12)"));
        assert!(!is_progress(
            "GH006: Protected branch update failed for refs/heads/main."
        ));
        assert!(!is_progress("error: 100% sure (x)"));
    }

    #[test]
    fn backoff_is_jittered_over_a_growing_window() {
        for attempt in 1..20 {
            let ceiling = Duration::from_millis((50u64 << attempt.min(10)).min(4_000));
            let waits: Vec<Duration> = (0..200).map(|_| backoff(attempt)).collect();
            assert!(waits.iter().all(|w| *w <= ceiling), "attempt {attempt}");
            // Full jitter: spread over the whole window, not bunched at its top.
            let low = waits.iter().filter(|w| **w < ceiling / 2).count();
            assert!(
                (40..=160).contains(&low),
                "attempt {attempt}: {low} of 200 below half"
            );
        }
    }
}
