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

mod push;

use crate::deploy_tree;
use crate::git::{self, local_path, remote_tip};
use git2::{ObjectType, Oid, Repository, Signature};
use pctl_core::diag::Diagnostic;
use pctl_core::digest::sha256_bytes;
use pctl_core::expand::{Owner, Tree};
pub use pctl_core::plan::Change;
use pctl_core::plan::{Action, env_of};
pub use pctl_core::release::Writes;
use push::Pushed;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

/// How long a publish keeps trying while other publishers push first.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    pub max_wait: Duration,
    pub max_attempts: Option<u32>,
}

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
    /// How long to keep trying while other publishers push first (`--max-wait`).
    pub max_wait: Duration,
    /// At most this many attempts, if given (`--max-attempts`).
    pub max_attempts: Option<u32>,
    /// The review branch is shared by the shards of one run (`--shard I/N --branch B`): each
    /// adds its commit on top of it (created from the deploy branch by the first to arrive),
    /// with the same compare-and-swap and re-plan as the deploy branch, instead of rebuilding
    /// it on the deploy branch (which would drop the other shards' commits).
    pub shared_branch: bool,
    /// The repository a service of this run was published from before (`--move-from`): the
    /// name's recorded owner may change once, on purpose.
    pub move_from: Option<String>,
    /// Token for https remotes (never printed).
    pub token: Option<String>,
    /// What the run writes of each service (`pctl_core::release`): a service named here keeps
    /// the rest as the tip has it, re-read on every attempt; one not named is written whole.
    pub writes: BTreeMap<String, Writes>,
    /// Commit trailers of the run's kind (`Pctl-Promoted: ...`, `Pctl-Preview: ...`).
    pub trailers: Vec<String>,
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
    // What the run does not write of a service stays as this tip has it (see
    // pctl_core::release): applied to every attempt's tip, so a retry keeps what landed.
    let held;
    let tree = if target.writes.values().all(Writes::is_all) {
        tree
    } else {
        let mut t = tree.clone();
        let read = |p: &str| pctl_core::plan::Target::read(&current, p);
        pctl_core::release::hold(
            &mut t,
            &target.writes,
            &|s| claims.service(s).cloned(),
            &read,
        )
        .map_err(|d| vec![d])?;
        held = t;
        &held
    };
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

pub(crate) fn env_error(target: &Target, what: &str, e: &git2::Error) -> Diagnostic {
    target.remote().error(what, e)
}

/// Fetches the deploy branch and the review branch (only those: a deploy repository may have
/// hundreds of review branches).
fn fetch(repo: &Repository, target: &Target) -> Result<(), Trouble> {
    let mut specs = vec![format!(
        "+refs/heads/{0}:refs/remotes/origin/{0}",
        target.base
    )];
    if let Some(b) = &target.branch {
        specs.push(format!("+refs/heads/{b}:refs/remotes/origin/{b}"));
    }
    let specs: Vec<&str> = specs.iter().map(String::as_str).collect();
    git::try_fetch(repo, &target.remote(), &specs).map_err(|e| Trouble {
        transient: git::is_transient(&e),
        timeout: git::is_transient(&e) && e.message().contains("timed out"),
        diagnostic: env_error(target, "cannot fetch from", &e),
    })
}

/// A failure to talk to the deploy repository: for a moment (retried within the time budget
/// once the repository has answered in this run), or lasting.
pub struct Trouble {
    pub transient: bool,
    /// The server did not answer in time (an overloaded server, or a host that drops packets).
    pub timeout: bool,
    pub diagnostic: Diagnostic,
}

/// Connections that time out before the repository ever answered are tried this often: a
/// server busy with many publishers at once may be slow to accept, a wrong address is not.
const FIRST_CONTACT_TRIES: u32 = 3;

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
    extra: &[String],
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
    // Short at any size: the trailers name every service.
    let mut subject = pctl_core::review::title(&what);
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
    trailers.extend(extra.iter().cloned());
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
    let started = Instant::now();
    let mut attempt = 0;
    // Commits pushed by earlier attempts whose outcome the network hid (landed or not).
    let mut unsure: Vec<Oid> = Vec::new();
    let mut reached = false;
    // Whether the branch was fetched after the last attempt's push (its rejection was checked).
    let mut fetched = false;
    loop {
        attempt += 1;
        outcome.attempts = attempt;
        // The critical section: from this fetch to the push, another publisher's push makes
        // this attempt's commit stale. Everything else (rendering, opening the clone) is done.
        let fetch_now = if std::mem::take(&mut fetched) {
            Ok(())
        } else {
            fetch(&repo, target)
        };
        let trouble = match fetch_now {
            Ok(()) => None,
            // An address that refuses fails at once; a repository that answered before and
            // drops a connection under load is tried again, and so is a first connection that
            // timed out (a few times).
            Err(t) if t.transient && (reached || (t.timeout && attempt < FIRST_CONTACT_TRIES)) => {
                Some(t.diagnostic)
            }
            Err(t) => return Err(env_fail(t.diagnostic)),
        };
        if trouble.is_none() {
            reached = true;
            if let Some(oid) = landed(&repo, target, &unsure) {
                outcome.commit = Some(oid.to_string());
                return Ok(outcome);
            }
        }
        if let Some(d) = trouble {
            wait_or_give_up(&repo, target, attempt, started, Some(d)).map_err(env_fail)?;
            continue;
        }
        let base_tip = remote_tip(&repo, &target.base);
        let branch_tip = target.branch.as_ref().and_then(|b| remote_tip(&repo, b));
        // Review branches are rebuilt on the base each time: the pull request shows exactly
        // this change. A shared one grows by one commit per shard.
        let shared = target.shared_branch && target.branch.is_some();
        let parent = if shared {
            branch_tip.clone().or(base_tip.clone())
        } else {
            base_tip.clone()
        };
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
        if let (Some(bt), false) = (&branch_tip, shared) {
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
        let msg = message(
            &outcome.changes,
            &outcome.removals,
            prov,
            &target.remove,
            &target.trailers,
        );
        let oid = repo
            .commit(None, &sig, &sig, &msg, &tree_obj, &parents)
            .map_err(|e| env_fail(env_error(target, "cannot commit for", &e)))?;
        // Where the pushed branch is now, as far as this attempt knows.
        let expected = if target.branch.is_some() {
            branch_tip.as_ref().map(|c| c.id())
        } else {
            parent.as_ref().map(|c| c.id())
        };
        let force = target.branch.is_some() && !shared;
        let pushed = match local_path(&target.url) {
            Some(dir) => push::push_local(&repo, &dir, target, oid, expected, force),
            None => push::push(&repo, target, oid, force, expected),
        };
        let mut trouble = None;
        match pushed.map_err(env_fail)? {
            Pushed::Done => {
                outcome.commit = Some(oid.to_string());
                return Ok(outcome);
            }
            Pushed::Moved { fetched: f } => fetched = f,
            Pushed::Unknown(d) => {
                trouble = Some(*d);
                unsure.push(oid);
                // The connection failed: the branch says whether the commit landed.
                match fetch(&repo, target) {
                    Ok(()) => {
                        if let Some(oid) = landed(&repo, target, &unsure) {
                            outcome.commit = Some(oid.to_string());
                            return Ok(outcome);
                        }
                        fetched = true;
                    }
                    Err(t) if t.transient => trouble = Some(t.diagnostic),
                    Err(t) => return Err(env_fail(t.diagnostic)),
                }
            }
        }
        // Another publisher was first (or the network failed): wait a random while (the
        // window grows with every attempt), then re-plan on the new tip, until the time budget
        // is spent.
        wait_or_give_up(&repo, target, attempt, started, trouble).map_err(env_fail)?;
    }
}

/// The first of `pushed` that the fetched branch contains.
fn landed(repo: &Repository, target: &Target, pushed: &[Oid]) -> Option<Oid> {
    let tip = remote_tip(repo, target.branch())?.id();
    pushed
        .iter()
        .copied()
        .find(|oid| tip == *oid || repo.graph_descendant_of(tip, *oid).unwrap_or(false))
}

/// Sleeps the back-off before the next attempt, or gives up when the time budget (or the
/// number of attempts) is spent: with the network's failure if that was the last trouble,
/// else as contention.
fn wait_or_give_up(
    repo: &Repository,
    target: &Target,
    attempt: u32,
    started: Instant,
    trouble: Option<Diagnostic>,
) -> Result<(), Diagnostic> {
    let wait = push::backoff(attempt);
    let out_of_attempts = target.max_attempts.is_some_and(|m| attempt >= m);
    if out_of_attempts || started.elapsed() + wait > target.max_wait {
        return Err(match trouble {
            Some(d) => d.note(format!(
                "the deploy repository answered earlier; the network kept failing for {:.1} s ({attempt} attempts)",
                started.elapsed().as_secs_f64()
            )),
            None => contention(repo, target, attempt, started.elapsed()),
        });
    }
    std::thread::sleep(wait);
    Ok(())
}

/// Why a publish gave up: other publishers kept moving the branch for the whole time budget.
fn contention(repo: &Repository, target: &Target, attempts: u32, spent: Duration) -> Diagnostic {
    let competitor = remote_tip(repo, target.branch())
        .map(|c| {
            format!(
                "{} ({})",
                c.id(),
                pctl_core::diag::escape_control(c.summary().ok().flatten().unwrap_or_default())
            )
        })
        .unwrap_or_else(|| "unknown".into());
    Diagnostic::error(
        "publish/contention",
        format!(
            "the deploy repository kept moving: other publishers pushed first on each of {attempts} attempts in {:.1} s; its branch `{}` is now at {competitor}",
            spent.as_secs_f64(),
            target.branch()
        ),
    )
    .help("run publish again (nothing was changed by this run), or give it more time with --max-wait")
}
