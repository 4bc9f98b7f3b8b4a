//! Stage 7, publish: bring a rendered tree into the deploy repository with git2, safely.
//!
//! - Works in a private bare clone (a temporary folder): the user's checkouts are never touched.
//! - Ownership: `.pctl/services/<name>.json` records every file a service generated and its
//!   hash. A run touches only the paths of the services it rendered (plus the organisation's
//!   shared entry points), deletes only paths recorded for them, and refuses to overwrite or
//!   delete a file someone edited by hand (unless `--force`).
//! - Concurrency: commit on the fetched tip and push; on rejection fetch again, *re-plan* (never a
//!   textual merge), back off with jitter, retry. After a push, verify the remote branch really
//!   contains the commit (libgit2's local transport can lose a concurrent update silently).
//! - Atomic: the remote only ever sees one complete commit or nothing.

use crate::deploy_tree;
use crate::git::{self, local_path, remote_tip};
use git2::{ObjectType, Oid, PushOptions, RemoteCallbacks, Repository, Signature};
use pctl_core::diag::Diagnostic;
use pctl_core::digest::{sha256, sha256_bytes};
use pctl_core::expand::{Owner, Tree};
pub use pctl_core::plan::Change;
use pctl_core::plan::{Action, env_of};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

/// Where and how to publish.
#[derive(Debug, Clone)]
pub struct Target {
    /// As given: URL or local path.
    pub url: String,
    /// The branch changes are based on (the organisation's deploy branch).
    pub base: String,
    /// A review branch to publish to instead of `base`.
    pub branch: Option<String>,
    pub force: bool,
    /// Services that are gone: delete everything recorded for them.
    pub remove: Vec<String>,
    pub max_attempts: u32,
    /// The repository a service of this run was published from before (`--move-from`): the
    /// name's recorded owner may change once, on purpose.
    pub move_from: Option<String>,
    /// Token for https remotes (never printed).
    pub token: Option<String>,
}

impl Target {
    pub fn branch(&self) -> &str {
        self.branch.as_deref().unwrap_or(&self.base)
    }
    /// The deploy repository as the git edge reaches it.
    pub fn remote(&self) -> git::Remote {
        git::Remote::new(&self.url, self.token.clone(), "publish/remote")
    }
    /// Removes anything secret from a message before it is shown.
    pub fn redact(&self, msg: &str) -> String {
        self.remote().scrub(msg)
    }
}

#[derive(Debug, Default)]
pub struct Outcome {
    pub changes: Vec<Change>,
    /// Human lines that must stand out: "payment-api: removed from staging (14 files)".
    pub removals: Vec<String>,
    pub commit: Option<String>,
    pub attempts: u32,
    /// Services whose recorded owner changed on purpose (`--move-from`): a review risk.
    pub moves: Vec<String>,
    /// Problems that did not stop the publish (records of other owners that were ignored).
    pub warnings: Vec<Diagnostic>,
    pub branch: String,
}

fn read_blob(repo: &Repository, tree: Option<&git2::Tree>, path: &str) -> Option<Vec<u8>> {
    let entry = tree?.get_path(Path::new(path)).ok()?;
    if entry.kind() != Some(ObjectType::Blob) {
        return None;
    }
    Some(repo.find_blob(entry.id()).ok()?.content().to_vec())
}

/// Compares the rendered tree with the tip: the changes (and the lines saying what is removed),
/// or the conflicts that forbid them. Ownership comes from the layout contract and the tip's
/// verified records (see `deploy_tree`); a record that cannot be trusted is never acted on.
pub fn plan(
    repo: &Repository,
    tip: Option<&git2::Tree>,
    tree: &Tree,
    target: &Target,
) -> Result<Planned, Vec<Diagnostic>> {
    let fail = |e: git2::Error| vec![env_error(target, "cannot read", &e)];
    let current = deploy_tree::Tip::new(repo, tip).map_err(fail)?;
    let claims = current.claims();
    // Whose records this run acts on: the owners it renders or removes.
    let mut in_run: BTreeSet<Owner> = tree.values().map(|f| f.owner.clone()).collect();
    in_run.extend(target.remove.iter().map(|s| Owner::Service(s.clone())));
    let mut conflicts = Vec::new();
    let mut warnings = Vec::new();
    for f in &claims.forged {
        let owner = pctl_core::record::owner_of_record_path(&f.record);
        let d = deploy_tree::forged(repo, f, owner.as_ref().is_none_or(|o| in_run.contains(o)));
        if d.is_error() {
            conflicts.push(d);
        } else {
            warnings.push(d);
        }
    }
    let (refused, moves) = deploy_tree::identity(tree, &claims, target.move_from.as_deref());
    conflicts.extend(refused);
    let known: BTreeSet<String> = claims
        .owners()
        .filter_map(|o| match o {
            Owner::Service(s) => Some(s.clone()),
            _ => None,
        })
        .collect();
    for s in &target.remove {
        if !known.contains(s) {
            let d = Diagnostic::error(
                "publish/unknown-service",
                format!("`--remove {s}`: the deploy repository has no files of a service `{s}`"),
            )
            .expected(pctl_core::diag::one_of(&known.iter().collect::<Vec<_>>()))
            .suggest(
                s,
                known.iter().map(String::as_str),
                "check the service name (metadata.name of its platform.yaml)",
            );
            conflicts.push(d);
        }
    }
    if !conflicts.is_empty() {
        return Err(conflicts);
    }
    let rendered: BTreeSet<Owner> = tree.values().map(|f| f.owner.clone()).collect();
    let none = BTreeSet::new();
    let explain = |path: &str, hash: &str| tip.and_then(|_| find_edit(repo, path, hash));
    let scope = pctl_core::plan::Scope {
        rendered: &rendered,
        removed: &target.remove,
        kept: &none,
        mirror: false,
        partial: false,
        protect_edits: true,
        force: target.force,
        explain: Some(&explain),
    };
    let planned = pctl_core::plan::plan(tree, &claims, &current, &scope)?;
    let removals = pctl_core::plan::removals(&planned, tree, &target.remove);
    Ok(Planned {
        changes: planned.changes,
        removals,
        moves,
        warnings,
    })
}

/// What [`plan`] found.
pub struct Planned {
    pub changes: Vec<Change>,
    pub removals: Vec<String>,
    /// Services whose recorded owner changes on purpose (`--move-from`).
    pub moves: Vec<String>,
    /// Records of other owners that cannot be trusted (ignored).
    pub warnings: Vec<Diagnostic>,
}

/// The commit that changed `path` away from the content pctl recorded (`hash`), and the diff of
/// that edit: walks back from the fetched tip (bounded) to the last version pctl wrote.
fn find_edit(repo: &Repository, path: &str, hash: &str) -> Option<(String, String)> {
    let mut walk = repo.revwalk().ok()?;
    walk.push_glob("refs/remotes/origin/*").ok()?;
    walk.set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::TIME)
        .ok()?;
    let mut newer: Option<(git2::Commit, Vec<u8>)> = None;
    for oid in walk.take(500).flatten() {
        let commit = repo.find_commit(oid).ok()?;
        let blob = read_blob(repo, commit.tree().ok().as_ref(), path);
        match blob {
            Some(b) if sha256_bytes(&b) == hash => {
                let (edit, edited) = newer?;
                let old = String::from_utf8_lossy(&b).into_owned();
                let new = String::from_utf8_lossy(&edited).into_owned();
                let diff = similar::TextDiff::from_lines(&old, &new)
                    .unified_diff()
                    .context_radius(1)
                    .header(
                        &format!("a/{path} (as pctl wrote it)"),
                        &format!("b/{path} (now)"),
                    )
                    .to_string();
                let who = edit.author();
                let what = format!(
                    "{} by {} <{}>: {}",
                    &edit.id().to_string()[..12],
                    who.name().unwrap_or("?"),
                    who.email().unwrap_or("?"),
                    edit.summary().ok().flatten().unwrap_or_default()
                );
                return Some((what, diff));
            }
            Some(b) => {
                let changed = newer.as_ref().is_none_or(|(_, nb)| nb != &b);
                if changed || newer.is_none() {
                    newer = Some((commit, b));
                } else if let Some((c, _)) = newer.as_mut() {
                    *c = commit; // same content further back: the edit happened earlier
                }
            }
            None => {}
        }
    }
    None
}

fn callbacks<'a>(
    target: &'a Target,
    rejected: Option<&'a std::cell::RefCell<Option<String>>>,
) -> RemoteCallbacks<'a> {
    git::callbacks(target.token.clone(), rejected)
}

fn env_error(target: &Target, what: &str, e: &git2::Error) -> Diagnostic {
    target.remote().error(what, e)
}

fn fetch(repo: &Repository, target: &Target) -> Result<(), Diagnostic> {
    git::fetch(
        repo,
        &target.remote(),
        &["+refs/heads/*:refs/remotes/origin/*"],
    )
}

/// Opens a private bare clone (empty; `fetch` fills it) of the deploy repository.
pub fn open(target: &Target, dir: &Path) -> Result<Repository, Diagnostic> {
    git::open_clone(&target.remote(), dir)
}

/// Builds the new tree on top of `base` (None: an empty repository).
fn build_tree(
    repo: &Repository,
    base: Option<&git2::Tree>,
    changes: &[Change],
) -> Result<Oid, git2::Error> {
    let empty;
    let base = match base {
        Some(t) => t,
        None => {
            empty = repo.find_tree(repo.treebuilder(None)?.write()?)?;
            &empty
        }
    };
    let mut b = git2::build::TreeUpdateBuilder::new();
    for c in changes {
        match &c.new {
            Some(content) => {
                let blob = repo.blob(content.as_bytes())?;
                b.upsert(&c.path, blob, git2::FileMode::Blob);
            }
            None => {
                b.remove(&c.path);
            }
        }
    }
    b.create_updated(repo, base)
}

pub struct Provenance {
    /// (service, repository, sha)
    pub sources: Vec<(String, String, String)>,
    /// Service -> commit time of its source commit (unix seconds), when known: lead time.
    pub times: BTreeMap<String, i64>,
}

fn message(
    outcome_changes: &[Change],
    removals: &[String],
    prov: &Provenance,
    removed: &[String],
) -> String {
    let mut by_owner: BTreeMap<&str, (usize, usize, usize, BTreeSet<&str>)> = BTreeMap::new();
    for c in outcome_changes {
        let e = by_owner.entry(c.owner.as_str()).or_default();
        match c.action {
            Action::Add => e.0 += 1,
            Action::Change => e.1 += 1,
            Action::Delete => e.2 += 1,
        }
        if let Some(env) = env_of(&c.path) {
            e.3.insert(env);
        }
    }
    let services: Vec<&str> = prov.sources.iter().map(|(s, _, _)| s.as_str()).collect();
    let envs: BTreeSet<&str> = by_owner
        .values()
        .flat_map(|v| v.3.iter().copied())
        .collect();
    let mut what: Vec<String> = services.iter().map(|s| s.to_string()).collect();
    what.extend(removed.iter().map(|s| format!("remove {s}")));
    let mut subject = format!(
        "pctl: {}",
        if what.is_empty() {
            "organisation".to_string()
        } else {
            what.join(", ")
        }
    );
    if !envs.is_empty() {
        subject.push_str(&format!(
            " ({})",
            envs.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    let mut body = Vec::new();
    for r in removals {
        body.push(r.clone());
    }
    for (owner, (a, c, d, _)) in &by_owner {
        body.push(format!("{owner}: {a} added, {c} changed, {d} deleted"));
    }
    let mut trailers = Vec::new();
    if let [(_, repo, sha)] = prov.sources.as_slice() {
        trailers.push(format!("Pctl-Source-Repository: {repo}"));
        trailers.push(format!("Pctl-Source-Commit: {sha}"));
    }
    for (s, repo, sha) in &prov.sources {
        trailers.push(format!("Pctl-Source: {s} {repo}@{sha}"));
    }
    for (s, _, _) in &prov.sources {
        if let Some(t) = prov.times.get(s) {
            trailers.push(format!(
                "Pctl-Source-Time: {s} {}",
                crate::metrics::rfc3339(*t)
            ));
        }
    }
    if !services.is_empty() {
        trailers.push(format!("Pctl-Services: {}", services.join(",")));
    }
    if !removed.is_empty() {
        trailers.push(format!("Pctl-Removed: {}", removed.join(",")));
    }
    trailers.push(format!("Pctl-Version: {}", env!("CARGO_PKG_VERSION")));
    format!(
        "{subject}\n\n{}\n\n{}\n",
        body.join("\n"),
        trailers.join("\n")
    )
}

fn signature() -> Result<Signature<'static>, git2::Error> {
    let name = std::env::var("GIT_AUTHOR_NAME").unwrap_or_else(|_| "pctl".into());
    let email =
        std::env::var("GIT_AUTHOR_EMAIL").unwrap_or_else(|_| "pctl@users.noreply.pctl.dev".into());
    Signature::now(&name, &email)
}

enum Pushed {
    Done,
    Rejected,
}

/// Pushes to a repository on this machine without libgit2's local transport, which updates the
/// branch with a forced write and can silently lose a concurrent publisher's commit. Objects are
/// copied, then the branch moves only if it still points where this publish started from
/// (compare-and-swap under the reference lock).
fn push_local(
    repo: &Repository,
    dir: &Path,
    target: &Target,
    oid: Oid,
    expected: Option<Oid>,
    force: bool,
) -> Result<Pushed, Diagnostic> {
    let fail = |e: git2::Error| env_error(target, "cannot push to", &e);
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
    let current = remote.refname_to_id(&name).ok();
    let result = match (force, expected, current) {
        // Review branches belong to their publisher: replace whatever is there.
        (true, _, _) => remote.reference(&name, oid, true, msg).map(|_| ()),
        (false, Some(old), _) => remote
            .reference_matching(&name, oid, true, old, msg)
            .map(|_| ()),
        (false, None, _) => remote.reference(&name, oid, false, msg).map(|_| ()),
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
            Ok(Pushed::Rejected)
        }
        Err(e) => Err(fail(e)),
    }
}

fn push(repo: &Repository, target: &Target, oid: Oid, force: bool) -> Result<Pushed, Diagnostic> {
    let mut remote = repo
        .find_remote("origin")
        .map_err(|e| env_error(target, "cannot use", &e))?;
    let rejected = std::cell::RefCell::new(None);
    let mut opts = PushOptions::new();
    opts.remote_callbacks(callbacks(target, Some(&rejected)));
    let refspec = format!(
        "{}{oid}:refs/heads/{}",
        if force { "+" } else { "" },
        target.branch()
    );
    match remote.push(&[refspec.as_str()], Some(&mut opts)) {
        Err(e) if e.code() == git2::ErrorCode::NotFastForward => return Ok(Pushed::Rejected),
        Err(e) if e.message().contains("failed to update ref") || e.message().contains("lock") => {
            return Ok(Pushed::Rejected);
        }
        Err(e) => return Err(env_error(target, "cannot push to", &e)),
        Ok(()) => {}
    }
    drop(opts);
    // The second way a rejection arrives: Ok, with a status on the reference.
    if let Some(msg) = rejected.into_inner() {
        let _ = msg;
        return Ok(Pushed::Rejected);
    }
    Ok(Pushed::Done)
}

/// Jittered exponential back-off: 50 ms, 100 ms, ... up to 2 s, plus up to 100% jitter that
/// differs between concurrent publishers (seeded by process id and attempt).
fn backoff(attempt: u32) -> Duration {
    let base = 50u64 << attempt.min(5);
    let seed = sha256(&format!(
        "{}-{attempt}-{:?}",
        std::process::id(),
        std::time::SystemTime::now()
    ));
    let jitter = u64::from_str_radix(&seed[..8], 16).unwrap_or(0) % base.max(1);
    Duration::from_millis((base + jitter).min(2000))
}

/// Plans (and with `commit`, publishes) the tree. Conflicts are errors with exit code 1; remote
/// failures are environment errors.
pub fn run(
    tree: &Tree,
    target: &Target,
    prov: &Provenance,
    commit: bool,
) -> Result<Outcome, (Vec<Diagnostic>, bool)> {
    // Bound the wait for an unreachable server (libgit2's default is the OS's, minutes).
    git::set_timeouts();
    let dir = tempfile::tempdir().map_err(|e| {
        (
            vec![Diagnostic::error(
                "publish/tmp",
                format!("cannot create a temporary folder: {e}"),
            )],
            true,
        )
    })?;
    let repo = open(target, dir.path()).map_err(|d| (vec![d], true))?;
    let mut outcome = Outcome {
        branch: target.branch().to_string(),
        ..Outcome::default()
    };
    let env_fail = |d: Diagnostic| (vec![d], true);
    for attempt in 1..=target.max_attempts.max(1) {
        outcome.attempts = attempt;
        fetch(&repo, target).map_err(env_fail)?;
        let base_tip = remote_tip(&repo, &target.base);
        let branch_tip = target.branch.as_ref().and_then(|b| remote_tip(&repo, b));
        // Review branches are rebuilt on the base each time: the pull request shows exactly this change.
        let parent = base_tip.clone();
        let parent_tree = parent
            .as_ref()
            .map(|c| c.tree())
            .transpose()
            .map_err(|e| env_fail(env_error(target, "cannot read", &e)))?;
        let planned = plan(&repo, parent_tree.as_ref(), tree, target).map_err(|d| (d, false))?;
        outcome.changes = planned.changes;
        outcome.removals = planned.removals;
        outcome.moves = planned.moves;
        outcome.warnings = planned.warnings;
        if !commit {
            return Ok(outcome);
        }
        if outcome.changes.is_empty() && target.branch.is_none() {
            return Ok(outcome);
        }
        let new_tree = build_tree(&repo, parent_tree.as_ref(), &outcome.changes)
            .map_err(|e| env_fail(env_error(target, "cannot write a commit for", &e)))?;
        if let Some(bt) = &branch_tip {
            if bt.tree_id() == new_tree && bt.parent_ids().next() == parent.as_ref().map(|p| p.id())
            {
                return Ok(outcome); // the review branch already holds exactly this change
            }
        }
        if outcome.changes.is_empty() {
            return Ok(outcome);
        }
        let sig =
            signature().map_err(|e| env_fail(env_error(target, "cannot sign a commit for", &e)))?;
        let tree_obj = repo
            .find_tree(new_tree)
            .map_err(|e| env_fail(env_error(target, "cannot read", &e)))?;
        let parents: Vec<&git2::Commit> = parent.iter().collect();
        let msg = message(&outcome.changes, &outcome.removals, prov, &target.remove);
        let oid = repo
            .commit(None, &sig, &sig, &msg, &tree_obj, &parents)
            .map_err(|e| env_fail(env_error(target, "cannot commit for", &e)))?;
        let pushed = match local_path(&target.url) {
            Some(dir) => {
                let expected = if target.branch.is_some() {
                    branch_tip.as_ref().map(|c| c.id())
                } else {
                    parent.as_ref().map(|c| c.id())
                };
                push_local(&repo, &dir, target, oid, expected, target.branch.is_some())
            }
            None => push(&repo, target, oid, target.branch.is_some()),
        };
        match pushed.map_err(env_fail)? {
            Pushed::Rejected => {
                std::thread::sleep(backoff(attempt));
                continue;
            }
            Pushed::Done => {
                // Verify: the remote branch must now contain our commit.
                fetch(&repo, target).map_err(env_fail)?;
                let landed = remote_tip(&repo, target.branch()).is_some_and(|t| {
                    t.id() == oid || repo.graph_descendant_of(t.id(), oid).unwrap_or(false)
                });
                if landed {
                    outcome.commit = Some(oid.to_string());
                    return Ok(outcome);
                }
                std::thread::sleep(backoff(attempt));
            }
        }
    }
    let competitor = remote_tip(&repo, target.branch())
        .map(|c| {
            format!(
                "{} ({})",
                c.id(),
                c.summary().ok().flatten().unwrap_or_default()
            )
        })
        .unwrap_or_else(|| "unknown".into());
    Err((
        vec![Diagnostic::error(
            "publish/contention",
            format!("the deploy repository kept moving: {} attempts were rejected; its branch `{}` is now at {competitor}", target.max_attempts, target.branch()),
        )
        .help("run publish again (nothing was changed by this run), or raise --max-attempts")],
        true,
    ))
}
