//! The history walk: the first-parent chain of the deploy branch, read once, into deploys,
//! reverts and failures (see the module documentation of `metrics` for the order of work).

use super::{Options, WORKLOAD_FILES};
use crate::time::parse_time;
use git2::{ObjectType, Oid, Repository};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};

/// Orders versions like semver (`0.10.0` > `0.9.1`; a pre-release is below its release).
pub(super) fn version_key(v: &str) -> (Vec<u64>, bool, String) {
    let (core, pre) = v.split_once('-').map_or((v, None), |(c, p)| (c, Some(p)));
    let nums = core
        .trim_start_matches('v')
        .split('.')
        .map(|p| p.parse().unwrap_or(0))
        .collect();
    (nums, pre.is_none(), pre.unwrap_or_default().to_string())
}

// Commit messages.

/// What a commit message says about pctl.
#[derive(Debug, Default, Clone)]
pub struct Trailers {
    /// `Pctl-Version`: present on every commit pctl made.
    pub version: Option<String>,
    /// `Pctl-Source: <service> <repo>@<sha>`: (service, sha). A few entries: a Vec is smaller.
    pub sources: Vec<(String, String)>,
    /// `Pctl-Source-Commit` (single-service publishes).
    pub source_commit: Option<String>,
    /// `Pctl-Source-Time: <service> <RFC 3339>`: (service, time).
    pub source_times: Vec<(String, i64)>,
    /// `Pctl-Source-Time: <RFC 3339>` without a service: applies to every service of the commit.
    pub source_time: Option<i64>,
}

impl Trailers {
    pub fn parse(message: &str) -> Trailers {
        let mut t = Trailers::default();
        for line in message.lines() {
            let Some((key, value)) = line.trim_end().split_once(": ") else {
                continue;
            };
            let value = value.trim();
            match key {
                "Pctl-Version" => t.version = Some(value.to_string()),
                "Pctl-Source-Commit" => t.source_commit = Some(value.to_string()),
                "Pctl-Source" => {
                    if let Some((svc, rest)) = value.split_once(' ') {
                        if let Some((_, sha)) = rest.rsplit_once('@') {
                            t.sources.push((svc.to_string(), sha.to_string()));
                        }
                    }
                }
                "Pctl-Source-Time" => match value.split_once(' ') {
                    Some((svc, time)) => {
                        if let Some(time) = parse_time(time) {
                            t.source_times.push((svc.to_string(), time));
                        }
                    }
                    None => t.source_time = parse_time(value),
                },
                _ => {}
            }
        }
        t
    }

    pub fn is_pctl(&self) -> bool {
        self.version.is_some()
    }

    fn sha_of(&self, svc: &str) -> Option<&str> {
        let found = self.sources.iter().rev().find(|(s, _)| s == svc);
        found.map(|(_, sha)| sha.as_str()).or_else(|| {
            (self.sources.len() <= 1)
                .then_some(self.source_commit.as_deref())
                .flatten()
        })
    }

    fn time_of(&self, svc: &str) -> Option<i64> {
        let found = self.source_times.iter().rev().find(|(s, _)| s == svc);
        found.map(|(_, t)| *t).or(self.source_time)
    }

    fn merge(&mut self, other: Trailers) {
        if other.version.as_deref().map(version_key) > self.version.as_deref().map(version_key) {
            self.version = other.version;
        }
        self.sources.extend(other.sources);
        self.source_times.extend(other.source_times);
        self.source_commit = self.source_commit.take().or(other.source_commit);
        self.source_time = self.source_time.or(other.source_time);
    }
}

/// `This reverts commit <sha>` (what `git revert` writes).
pub fn reverted_commit(message: &str) -> Option<Oid> {
    let i = message.find("This reverts commit ")?;
    let hex = message[i + 20..].get(..40)?;
    Oid::from_str(hex).ok()
}

// The tree walk.

type Key = (String, String); // (env, service)

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Workload {
    image: Option<String>,
    team: Option<String>,
}

fn workload_info(repo: &Repository, files: &[(String, Oid)]) -> Workload {
    let mut w = Workload::default();
    // Files in WORKLOAD_FILES order: a Rollout that refers to a Deployment has no image itself.
    let mut ordered: Vec<&(String, Oid)> = files.iter().collect();
    ordered.sort_by_key(|(n, _)| WORKLOAD_FILES.iter().position(|f| f == n));
    for (_, oid) in ordered {
        let Ok(blob) = repo.find_blob(*oid) else {
            continue;
        };
        for line in blob.content().split(|b| *b == b'\n') {
            let line = String::from_utf8_lossy(line);
            let l = line.trim_start().trim_start_matches("- ");
            let unquote = |v: &str| v.trim().trim_matches('"').trim_matches('\'').to_string();
            if w.image.is_none() {
                if let Some(v) = l.strip_prefix("image:") {
                    w.image = Some(unquote(v)).filter(|v| !v.is_empty());
                }
            }
            if w.team.is_none() {
                if let Some(v) = l.strip_prefix("pctl.dev/team:") {
                    w.team = Some(unquote(v)).filter(|v| !v.is_empty());
                }
            }
            if w.image.is_some() && w.team.is_some() {
                return w;
            }
        }
    }
    w
}

/// Git's order of tree entries that are trees: by name as if followed by `/`.
fn tree_order(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    a.iter().chain(b"/").cmp(b.iter().chain(b"/"))
}

fn subtree<'t>(t: Option<&'t git2::Tree<'_>>, k: usize) -> Option<git2::TreeEntry<'t>> {
    t.and_then(|t| t.get(k))
        .filter(|e| e.kind() == Some(ObjectType::Tree))
}

/// Calls `f(name, new)` for every subtree of `old`/`new` whose object id differs (added,
/// changed or removed), by a merge of the two sorted entry lists: nothing is allocated for
/// the entries that did not change.
fn changed_subtrees(
    old: Option<&git2::Tree>,
    new: Option<&git2::Tree>,
    mut f: impl FnMut(&[u8], Option<Oid>),
) {
    let len = |t: Option<&git2::Tree>| t.map_or(0, |t| t.len());
    let (lo, ln) = (len(old), len(new));
    let (mut i, mut j) = (0, 0);
    while i < lo || j < ln {
        let a = if i < lo { subtree(old, i) } else { None };
        let b = if j < ln { subtree(new, j) } else { None };
        if i < lo && a.is_none() {
            i += 1;
            continue;
        }
        if j < ln && b.is_none() {
            j += 1;
            continue;
        }
        match (a, b) {
            (Some(a), None) => {
                f(a.name_bytes(), None);
                i += 1;
            }
            (None, Some(b)) => {
                f(b.name_bytes(), Some(b.id()));
                j += 1;
            }
            (Some(a), Some(b)) => match tree_order(a.name_bytes(), b.name_bytes()) {
                std::cmp::Ordering::Less => {
                    f(a.name_bytes(), None);
                    i += 1;
                }
                std::cmp::Ordering::Greater => {
                    f(b.name_bytes(), Some(b.id()));
                    j += 1;
                }
                std::cmp::Ordering::Equal => {
                    if a.id() != b.id() {
                        f(b.name_bytes(), Some(b.id()));
                    }
                    i += 1;
                    j += 1;
                }
            },
            (None, None) => break,
        }
    }
}

/// The previous commit's `apps/` tree and its environment trees, to compare the next commit
/// with: only subtrees whose object id changed are opened.
#[derive(Default)]
struct TreeState<'r> {
    apps: Option<git2::Tree<'r>>,
    envs: HashMap<String, git2::Tree<'r>>,
    workloads: HashMap<Key, Vec<(String, Oid)>>,
}

impl<'r> TreeState<'r> {
    /// Moves to `root`; returns the (env, service) whose workload files changed, sorted.
    fn advance(&mut self, repo: &'r Repository, root: &git2::Tree) -> Vec<Key> {
        let id = root
            .get_name("apps")
            .filter(|e| e.kind() == Some(ObjectType::Tree))
            .map(|e| e.id());
        if id == self.apps.as_ref().map(|t| t.id()) {
            return Vec::new();
        }
        let apps = id.and_then(|id| repo.find_tree(id).ok());
        let mut envs = Vec::new();
        changed_subtrees(self.apps.as_ref(), apps.as_ref(), |name, new| {
            envs.push((String::from_utf8_lossy(name).into_owned(), new));
        });
        self.apps = apps;
        let mut changed = Vec::new();
        for (env, new) in envs {
            let new = new.and_then(|id| repo.find_tree(id).ok());
            let old = self.envs.remove(&env);
            let mut svcs = Vec::new();
            changed_subtrees(old.as_ref(), new.as_ref(), |name, id| {
                svcs.push((String::from_utf8_lossy(name).into_owned(), id));
            });
            for (svc, id) in svcs {
                let mut files = Vec::new();
                if let Some(t) = id.and_then(|o| repo.find_tree(o).ok()) {
                    for f in WORKLOAD_FILES {
                        if let Some(e) =
                            t.get_name(f).filter(|e| e.kind() == Some(ObjectType::Blob))
                        {
                            files.push((f.to_string(), e.id()));
                        }
                    }
                }
                let key = (env.clone(), svc);
                let before = self.workloads.get(&key).map(Vec::as_slice).unwrap_or(&[]);
                if before != files.as_slice() {
                    if files.is_empty() {
                        self.workloads.remove(&key);
                    } else {
                        self.workloads.insert(key.clone(), files);
                    }
                    changed.push(key);
                }
            }
            if let Some(t) = new {
                self.envs.insert(env, t);
            }
        }
        changed.sort();
        changed
    }
}

// Events.

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Cause {
    Revert,
    Rollback,
    Hotfix,
}

impl Cause {
    pub fn name(self) -> &'static str {
        match self {
            Cause::Revert => "revert",
            Cause::Rollback => "rollback",
            Cause::Hotfix => "hotfix",
        }
    }
}

#[derive(Debug, Clone)]
pub(super) struct Failure {
    pub(super) cause: Cause,
    /// The commit that showed the failure (the revert, the rollback or the hot-fix).
    pub(super) by_commit: Oid,
    pub(super) by_time: i64,
    /// The deploy that restored (rollback, hot-fix); None for a revert.
    pub(super) by_deploy: Option<usize>,
}

/// One deploy: a pctl commit that added or changed the workload of a service in an environment.
#[derive(Debug, Clone)]
pub(super) struct Deploy {
    pub(super) commit: Oid,
    pub(super) time: i64,
    pub(super) env: String,
    pub(super) service: String,
    pub(super) team: Option<String>,
    pub(super) image: Option<String>,
    /// None: redeploy of the same source commit (not a change) or no source time.
    pub(super) lead: Option<i64>,
    /// A new source commit arrived but the commit has no `Pctl-Source-Time`.
    pub(super) lead_unknown: bool,
    pub(super) failure: Option<Failure>,
}

#[derive(Default)]
struct Track {
    last_deploy: Option<usize>,
    images: HashSet<String>,
    last_source: Option<String>,
}

/// Everything read from the history, before aggregation.
#[derive(Default)]
pub(super) struct History {
    pub(super) deploys: Vec<Deploy>,
    /// Per service: first deploy (any environment) and first prod deploy.
    pub(super) first_deploy: BTreeMap<String, i64>,
    pub(super) first_prod: BTreeMap<String, i64>,
    /// Pctl-Version -> first time seen.
    pub(super) versions: BTreeMap<String, i64>,
    pub(super) walked: usize,
    pub(super) pctl: usize,
    pub(super) reverts: usize,
    pub(super) ignored: usize,
    pub(super) after_until: usize,
    /// The last commit before --until.
    pub(super) head: Option<Oid>,
}

fn merged_trailers(repo: &Repository, commit: &git2::Commit) -> Option<Trailers> {
    // A merge (a review branch merged on the forge): the pctl commits it brings in.
    let mut walk = repo.revwalk().ok()?;
    for p in commit.parent_ids().skip(1) {
        walk.push(p).ok()?;
    }
    walk.hide(commit.parent_id(0).ok()?).ok()?;
    let mut merged: Option<Trailers> = None;
    for oid in walk.take(10_000).flatten() {
        let c = repo.find_commit(oid).ok()?;
        let t = Trailers::parse(&String::from_utf8_lossy(c.message_bytes()));
        if t.is_pctl() {
            match merged.as_mut() {
                Some(m) => m.merge(t),
                None => merged = Some(t),
            }
        }
    }
    merged
}

/// What one commit is.
enum Kind {
    Pctl(Trailers),
    Revert(Oid),
    Other,
}

/// A first-parent commit, read once.
struct Step {
    oid: Oid,
    tree: Oid,
    time: i64,
    kind: Kind,
}

/// The first-parent chain from `tip`, oldest first: each commit is read once, here.
fn chain(repo: &Repository, tip: Oid) -> Result<Vec<Step>, git2::Error> {
    let mut steps = Vec::new();
    let mut next = Some(tip);
    while let Some(oid) = next {
        let commit = match repo.find_commit(oid) {
            Ok(c) => c,
            // A shallow clone ends where its history ends.
            Err(_) if !steps.is_empty() => break,
            Err(e) => return Err(e),
        };
        let message = String::from_utf8_lossy(commit.message_bytes());
        let kind = match reverted_commit(&message) {
            Some(r) => Kind::Revert(r),
            None => {
                let mut t = Trailers::parse(&message);
                if !t.is_pctl() && commit.parent_count() > 1 {
                    if let Some(m) = merged_trailers(repo, &commit) {
                        t = m;
                    }
                }
                if t.is_pctl() {
                    Kind::Pctl(t)
                } else {
                    Kind::Other
                }
            }
        };
        steps.push(Step {
            oid,
            tree: commit.tree_id(),
            time: commit.committer().when().seconds(),
            kind,
        });
        next = commit.parent_id(0).ok();
    }
    steps.reverse();
    Ok(steps)
}

/// (env, service) -> the workload after the commit (None: removed), per commit.
type Changes = Vec<(Key, Option<Workload>)>;

/// The workload changes of a consecutive run of commits; `before`: the tree of the commit
/// before the run.
fn read_chunk(
    repo: &Repository,
    before: Option<Oid>,
    steps: &[Step],
) -> Result<Vec<Changes>, git2::Error> {
    let mut state = TreeState::default();
    if let Some(t) = before {
        state.advance(repo, &repo.find_tree(t)?);
    }
    let mut out = Vec::with_capacity(steps.len());
    for step in steps {
        let changes = state
            .advance(repo, &repo.find_tree(step.tree)?)
            .into_iter()
            .map(|key| {
                let w = state.workloads.get(&key).map(|f| workload_info(repo, f));
                (key, w)
            })
            .collect();
        out.push(changes);
    }
    Ok(out)
}

/// The workload changes of every commit; in parallel (a repository handle per run of commits)
/// when the history is long.
fn read_all(repo: &Repository, steps: &[Step]) -> Result<Vec<Changes>, git2::Error> {
    use rayon::prelude::*;
    let threads = rayon::current_num_threads();
    if threads < 2 || steps.len() < 4_000 {
        return read_chunk(repo, None, steps);
    }
    let size = steps.len().div_ceil(threads * 4).max(1_000);
    let path = repo.path().to_path_buf();
    let parts: Vec<Result<Vec<Changes>, git2::Error>> = steps
        .par_chunks(size)
        .enumerate()
        .map(|(n, chunk)| {
            let before = (n > 0).then(|| steps[n * size - 1].tree);
            read_chunk(&Repository::open(&path)?, before, chunk)
        })
        .collect();
    let mut all = Vec::with_capacity(steps.len());
    for p in parts {
        all.extend(p?);
    }
    Ok(all)
}

pub(super) fn read_history(
    repo: &Repository,
    tip: Oid,
    opts: &Options,
) -> Result<History, git2::Error> {
    let steps = chain(repo, tip)?;
    let changes = read_all(repo, &steps)?;

    let mut h = History::default();
    let mut info: HashMap<Key, Workload> = HashMap::new();
    let mut tracks: HashMap<Key, Track> = HashMap::new();
    let mut by_commit: HashMap<Oid, Vec<usize>> = HashMap::new();
    // (service, source commit) -> that commit's time, from the first deploy that said it.
    let mut source_times: HashMap<(String, String), i64> = HashMap::new();
    for (step, changes) in steps.into_iter().zip(changes) {
        let Step {
            oid, time, kind, ..
        } = step;
        h.walked += 1;
        // Workload state after this commit (kept for every commit, counted or not).
        let mut before: Vec<(Key, Option<Workload>, Option<Workload>)> = Vec::new();
        for (key, new) in changes {
            let old = match &new {
                Some(w) => info.insert(key.clone(), w.clone()),
                None => info.remove(&key),
            };
            before.push((key, old, new));
        }
        if time >= opts.until {
            h.after_until += 1;
            continue;
        }
        h.head = Some(oid);
        let trailers = match kind {
            Kind::Pctl(t) => t,
            Kind::Revert(reverted) => {
                h.reverts += 1;
                for &i in by_commit.get(&reverted).map(Vec::as_slice).unwrap_or(&[]) {
                    let d = &mut h.deploys[i];
                    if d.failure.is_none() {
                        d.failure = Some(Failure {
                            cause: Cause::Revert,
                            by_commit: oid,
                            by_time: time,
                            by_deploy: None,
                        });
                    }
                }
                remember_images(&mut tracks, &before);
                continue;
            }
            Kind::Other => {
                h.ignored += 1;
                remember_images(&mut tracks, &before);
                continue;
            }
        };
        h.pctl += 1;
        if let Some(v) = &trailers.version {
            h.versions.entry(v.clone()).or_insert(time);
        }
        for (key, old, new) in before {
            let Some(new) = new else {
                continue; // removed: not a deploy
            };
            let (env, service) = key.clone();
            let track = tracks.entry(key).or_default();
            let idx = h.deploys.len();
            // Lead time: only when the deploy brings a new source commit of the service.
            let sha = trailers.sha_of(&service).map(str::to_string);
            let is_new_source = sha.is_none() || sha != track.last_source;
            // A promotion names the version it moves (Pctl-Source) but not its commit's time:
            // that time was learnt from the publish that brought the version in first, so
            // each environment's lead time runs from the same commit.
            let time_of = trailers.time_of(&service).or_else(|| {
                sha.as_ref()
                    .and_then(|s| source_times.get(&(service.clone(), s.clone())).copied())
            });
            if let (Some(s), Some(t)) = (&sha, time_of) {
                source_times
                    .entry((service.clone(), s.clone()))
                    .or_insert(t);
            }
            let (lead, lead_unknown) = match (is_new_source, time_of) {
                (false, _) => (None, false),
                (true, Some(t)) => (Some((time - t).max(0)), false),
                (true, None) => (None, true),
            };
            if sha.is_some() {
                track.last_source = sha;
            }
            // Failure of the deploy this one replaces.
            let old_image = old.as_ref().and_then(|w| w.image.clone());
            if let (Some(l), Some(img)) = (track.last_deploy, new.image.as_ref()) {
                let prev = &mut h.deploys[l];
                let live = prev.failure.is_none() && prev.image == old_image;
                if live && Some(img) != old_image.as_ref() {
                    let cause = if track.images.contains(img) {
                        Some(Cause::Rollback)
                    } else if opts.hotfix_window > 0 && time - prev.time <= opts.hotfix_window {
                        Some(Cause::Hotfix)
                    } else {
                        None
                    };
                    if let Some(cause) = cause {
                        prev.failure = Some(Failure {
                            cause,
                            by_commit: oid,
                            by_time: time,
                            by_deploy: Some(idx),
                        });
                    }
                }
            }
            if let Some(img) = &new.image {
                track.images.insert(img.clone());
            }
            track.last_deploy = Some(idx);
            by_commit.entry(oid).or_default().push(idx);
            h.first_deploy.entry(service.clone()).or_insert(time);
            if opts.prod_envs.contains(&env) {
                h.first_prod.entry(service.clone()).or_insert(time);
            }
            h.deploys.push(Deploy {
                commit: oid,
                time,
                env,
                service,
                team: new.team,
                image: new.image,
                lead,
                lead_unknown,
                failure: None,
            });
        }
    }
    Ok(h)
}

/// Images a workload had (set by any commit): a pctl deploy that returns to one is a rollback.
fn remember_images(
    tracks: &mut HashMap<Key, Track>,
    changed: &[(Key, Option<Workload>, Option<Workload>)],
) {
    for (key, _, new) in changed {
        if let Some(img) = new.as_ref().and_then(|w| w.image.clone()) {
            tracks.entry(key.clone()).or_default().images.insert(img);
        }
    }
}

/// When and by which commit a failed deploy was restored: the restoring deploy, or the next one
/// after it if that failed too (the chain ends at a revert or at a deploy that did not fail).
pub(super) fn restored(deploys: &[Deploy], i: usize) -> Option<(Oid, i64)> {
    let mut f = deploys[i].failure.as_ref()?;
    loop {
        match f.by_deploy {
            None => return Some((f.by_commit, f.by_time)),
            Some(j) => match &deploys[j].failure {
                None => return Some((deploys[j].commit, deploys[j].time)),
                Some(next) => f = next,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailers() {
        let t = Trailers::parse(
            "pctl: a, b (dev)\n\nbody\n\nPctl-Source: a https://x/a@111\nPctl-Source: b https://x/b@222\n\
             Pctl-Source-Time: a 2025-01-01T00:00:00Z\nPctl-Services: a,b\nPctl-Version: 0.2.0\n",
        );
        assert!(t.is_pctl());
        assert_eq!(t.sha_of("b"), Some("222"));
        assert_eq!(t.time_of("a"), Some(1_735_689_600));
        assert_eq!(t.time_of("b"), None);
        let single = Trailers::parse(
            "x\n\nPctl-Source-Commit: abc\nPctl-Source-Time: 2025-01-01\nPctl-Version: 0.1.0",
        );
        assert_eq!(single.sha_of("svc"), Some("abc"));
        assert_eq!(single.time_of("svc"), Some(1_735_689_600));
        assert!(!Trailers::parse("Revert \"pctl: a\"\n\nThis reverts commit x.").is_pctl());
        let sha = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(
            reverted_commit(&format!("Revert \"x\"\n\nThis reverts commit {sha}.\n")),
            Oid::from_str(sha).ok()
        );
        assert!(version_key("0.10.0") > version_key("0.9.1"));
        assert!(version_key("1.0.0") > version_key("1.0.0-rc.1"));
    }
}
