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

use crate::git::{self, local_path, remote_tip};
use git2::{ObjectType, Oid, PushOptions, RemoteCallbacks, Repository, Signature};
use pctl_core::diag::Diagnostic;
use pctl_core::digest::{sha256, sha256_bytes};
use pctl_core::expand::{Owner, Tree};
pub use pctl_core::plan::Change;
use pctl_core::plan::{Action, STATE_DIR, env_of};
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
    pub branch: String,
}

fn owner_name(o: &Owner) -> String {
    o.name()
}

/// What `.pctl/` at the tip records: path -> (owner, hash).
struct Records {
    files: BTreeMap<String, (String, String)>,
    /// Environments each service had files in.
    envs: BTreeMap<String, BTreeSet<String>>,
}

fn read_blob(repo: &Repository, tree: Option<&git2::Tree>, path: &str) -> Option<Vec<u8>> {
    let entry = tree?.get_path(Path::new(path)).ok()?;
    if entry.kind() != Some(ObjectType::Blob) {
        return None;
    }
    Some(repo.find_blob(entry.id()).ok()?.content().to_vec())
}

fn read_records(repo: &Repository, tree: Option<&git2::Tree>) -> Records {
    let mut records = Records {
        files: BTreeMap::new(),
        envs: BTreeMap::new(),
    };
    let mut state_files = vec![
        format!("{STATE_DIR}/organisation.json"),
        format!("{STATE_DIR}/catalog.json"),
    ];
    if let Some(t) = tree {
        if let Ok(entry) = t.get_path(Path::new(&format!("{STATE_DIR}/services"))) {
            if let Ok(sub) = repo.find_tree(entry.id()) {
                for e in sub.iter() {
                    if let Some(name) = e.name().ok().filter(|n| n.ends_with(".json")) {
                        state_files.push(format!("{STATE_DIR}/services/{name}"));
                    }
                }
            }
        }
    }
    for sf in state_files {
        let Some(bytes) = read_blob(repo, tree, &sf) else {
            continue;
        };
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
            continue;
        };
        let owner = v["service"]
            .as_str()
            .or_else(|| v["owner"].as_str())
            .unwrap_or("organisation")
            .to_string();
        if let Some(files) = v["files"].as_object() {
            for (p, h) in files {
                records.files.insert(
                    p.clone(),
                    (owner.clone(), h.as_str().unwrap_or_default().to_string()),
                );
                if let Some(env) = env_of(p) {
                    records
                        .envs
                        .entry(owner.clone())
                        .or_default()
                        .insert(env.to_string());
                }
            }
        }
        // The record itself belongs to its owner too.
        records.files.insert(sf.clone(), (owner, String::new()));
    }
    records
}

/// Compares the rendered tree with the tip: the changes, or the conflicts that forbid them.
pub fn plan(
    repo: &Repository,
    tip: Option<&git2::Tree>,
    tree: &Tree,
    target: &Target,
) -> Result<(Vec<Change>, Vec<String>), Vec<Diagnostic>> {
    let records = read_records(repo, tip);
    let mut owners: BTreeSet<String> = tree.values().map(|f| owner_name(&f.owner)).collect();
    owners.extend(target.remove.iter().cloned());
    let mut changes = Vec::new();
    let mut conflicts = Vec::new();
    let hand_edit = |path: &str, what: &str| {
        let hash = records
            .files
            .get(path)
            .map(|(_, h)| h.as_str())
            .unwrap_or_default();
        let mut d = Diagnostic::error("publish/hand-edit", format!("`{path}` was {what} in the deploy repository since pctl generated it"))
            .found(format!("`{path}` no longer matches what pctl recorded in {STATE_DIR}/"))
            .help("move the change into platform.yaml or a blueprint override and publish again, or pass --force to overwrite the hand edit");
        if let Some((edit, diff)) = tip.and_then(|_| find_edit(repo, path, hash)) {
            d = d
                .note(format!("edited in {edit}"))
                .note(format!("the edit:\n{diff}"));
        }
        d
    };

    for (path, f) in tree {
        let owner = owner_name(&f.owner);
        let current = read_blob(repo, tip, path);
        if current.as_deref() == Some(f.content.as_bytes()) {
            continue;
        }
        let is_state = path.starts_with(&format!("{STATE_DIR}/"));
        match (&current, records.files.get(path)) {
            (Some(cur), Some((rec_owner, hash))) if !is_state => {
                if rec_owner != &owner {
                    conflicts.push(
                        Diagnostic::error(
                            "publish/owned-elsewhere",
                            format!("`{path}` belongs to `{rec_owner}`, not `{owner}`"),
                        )
                        .help("two services render the same path: rename one of them"),
                    );
                    continue;
                }
                if &sha256_bytes(cur) != hash && !target.force {
                    conflicts.push(hand_edit(path, "edited"));
                    continue;
                }
            }
            (Some(_), None) if !is_state && !target.force => {
                conflicts.push(
                    Diagnostic::error(
                        "publish/unmanaged-file",
                        format!(
                            "`{path}` exists in the deploy repository but pctl did not generate it"
                        ),
                    )
                    .help("remove or rename that file, or pass --force to let pctl take it over"),
                );
                continue;
            }
            _ => {}
        }
        changes.push(Change {
            path: path.clone(),
            action: if current.is_some() {
                Action::Change
            } else {
                Action::Add
            },
            owner,
            old: current,
            new: Some(f.content.clone()),
        });
    }

    // Deletions: only what is recorded for an owner of this run and no longer rendered.
    let mut deleted_per_env: BTreeMap<(String, String), usize> = BTreeMap::new();
    for (path, (owner, hash)) in &records.files {
        if !owners.contains(owner) || tree.contains_key(path) {
            continue;
        }
        let Some(cur) = read_blob(repo, tip, path) else {
            continue;
        };
        if !hash.is_empty() && &sha256_bytes(&cur) != hash && !target.force {
            conflicts.push(
                hand_edit(path, "edited")
                    .note("pctl would delete it: its service, environment or resource is gone"),
            );
            continue;
        }
        if let Some(env) = env_of(path) {
            *deleted_per_env
                .entry((owner.clone(), env.to_string()))
                .or_default() += 1;
        }
        changes.push(Change {
            path: path.clone(),
            action: Action::Delete,
            owner: owner.clone(),
            old: Some(cur),
            new: None,
        });
    }
    let known: BTreeSet<&str> = records
        .files
        .values()
        .map(|(o, _)| o.as_str())
        .filter(|o| *o != "organisation" && *o != pctl_core::expand::CATALOG_OWNER)
        .collect();
    for s in &target.remove {
        if !known.contains(s.as_str()) {
            let mut d = Diagnostic::error(
                "publish/unknown-service",
                format!("`--remove {s}`: the deploy repository has no files of a service `{s}`"),
            )
            .expected(pctl_core::diag::one_of(&known.iter().collect::<Vec<_>>()));
            d = d.suggest(
                s,
                known.iter().copied(),
                "check the service name (metadata.name of its platform.yaml)",
            );
            conflicts.push(d);
        }
    }
    if !conflicts.is_empty() {
        return Err(conflicts);
    }

    // "removed from <env>": the owner had files there and renders none there any more.
    let mut removals = Vec::new();
    for ((owner, env), n) in deleted_per_env {
        let still = tree
            .iter()
            .any(|(p, f)| owner_name(&f.owner) == owner && env_of(p) == Some(env.as_str()));
        if !still {
            removals.push(format!(
                "{owner}: removed from {env} ({n} file{})",
                if n == 1 { "" } else { "s" }
            ));
        }
    }
    for s in &target.remove {
        if records.envs.contains_key(s) || records.files.values().any(|(o, _)| o == s) {
            removals.push(format!("{s}: removed from the deploy repository"));
        }
    }
    changes.sort_by(|a, b| a.path.cmp(&b.path));
    Ok((changes, removals))
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
        let (changes, removals) =
            plan(&repo, parent_tree.as_ref(), tree, target).map_err(|d| (d, false))?;
        outcome.changes = changes;
        outcome.removals = removals;
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
