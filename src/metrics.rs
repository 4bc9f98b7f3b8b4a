//! `pctl metrics`: DORA and adoption metrics from the deploy repository's history alone.
//!
//! pctl writes every deploy commit itself, with trailers (`Pctl-Version`, `Pctl-Source`, ...), so
//! the deploy repository's first-parent history is the data. The history is read once:
//!
//! 1. one revwalk along the first-parent chain of the branch (oldest first);
//! 2. per commit, the tree is compared with the previous commit's tree *by object id*, level by
//!    level (`apps` -> `apps/<env>` -> `apps/<env>/<service>` -> the workload files), so a commit
//!    costs in proportion to what it changed, never to the size of the tree; only changed
//!    workload files are read (their `image:` and `pctl.dev/team` lines);
//! 3. the events (deploys, reverts) are classified in the same pass, and aggregated at the end.
//!
//! The definitions (what is a deploy, a failure, a restore...) are in the README section
//! "Measuring the platform: `pctl metrics`"; they are implemented here and nowhere else.

use crate::redact::url as redact_url;
use crate::report::Format;
use git2::{ObjectType, Oid, Repository};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Files that are a service's workload in `apps/<env>/<service>/`.
pub const WORKLOAD_FILES: [&str; 3] = ["rollout.yaml", "deployment.yaml", "cronjob.yaml"];
/// The JSON document's schema identifier; bumped on any incompatible change.
pub const SCHEMA: &str = "pctl.dev/metrics/v1";

/// `pctl metrics` arguments.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// The deploy repository: a local path (bare or not), file://, git:// or https:// (token in PCTL_GIT_TOKEN)
    #[arg(long, value_name = "URL|PATH")]
    pub deploy_repo: String,
    /// Start of the window: a duration before --until (90d, 12w, 36h, 30m) or a date (2025-01-31, RFC 3339)
    #[arg(long, default_value = "90d", value_name = "DURATION|DATE")]
    pub since: String,
    /// End of the window, exclusive: a date (2025-03-31) or RFC 3339 time [default: now]
    #[arg(long, value_name = "DATE")]
    pub until: Option<String>,
    /// Group the DORA metrics by environment, service or team
    #[arg(long, value_enum, default_value_t = By::Env)]
    pub by: By,
    /// The deploy branch [default: the organisation's deploy branch with --org, else main]
    #[arg(long, value_name = "BRANCH")]
    pub branch: Option<String>,
    /// Only count deploys to these environments (repeatable) [default: all]
    #[arg(long = "env", value_name = "ENV")]
    pub envs: Vec<String>,
    /// Production environments, for time to first prod deploy (repeatable) [default: the protected environments of --org, else `prod` and `production`]
    #[arg(long = "prod-env", value_name = "ENV")]
    pub prod_envs: Vec<String>,
    /// Organisation config: its deploy branch and protected environments
    #[arg(long, value_name = "FILE")]
    pub org: Option<PathBuf>,
    /// A deploy replaced by a new image within this time counts as failed (hot-fix); 0 disables
    #[arg(long, default_value = "1h", value_name = "DURATION")]
    pub hotfix_window: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum By {
    Env,
    Service,
    Team,
}

impl By {
    fn name(self) -> &'static str {
        match self {
            By::Env => "env",
            By::Service => "service",
            By::Team => "team",
        }
    }
}

/// What to compute (times are Unix seconds, UTC).
#[derive(Debug, Clone)]
pub struct Options {
    pub since: i64,
    pub until: i64,
    pub by: By,
    /// Only these environments (empty: all).
    pub envs: BTreeSet<String>,
    pub prod_envs: BTreeSet<String>,
    pub hotfix_window: i64,
}

// ---------------------------------------------------------------------------------------------
// Time: parsing and printing without a calendar crate.

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// `2025-01-31T10:00:00Z`.
pub fn rfc3339(t: i64) -> String {
    let (days, secs) = (t.div_euclid(86_400), t.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

fn date(t: i64) -> String {
    rfc3339(t)[..10].to_string()
}

/// `2025-01-31` (midnight UTC), `2025-01-31T10:00:00Z`, `2025-01-31T10:00:00.5+02:00`,
/// `2025-01-31 10:00:00` (UTC).
pub fn parse_time(s: &str) -> Option<i64> {
    let s = s.trim();
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    let mut t = days_from_civil(y, mo, d) * 86_400;
    if b.len() == 10 {
        return Some(t);
    }
    if !matches!(b[10], b'T' | b't' | b' ') || b.len() < 19 || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if h > 23 || mi > 59 || se > 60 {
        return None;
    }
    t += h * 3600 + mi * 60 + se;
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        rest = &frac[n..];
    }
    match rest {
        "" | "Z" | "z" => Some(t),
        _ => {
            let sign = match rest.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let off = &rest[1..];
            let (oh, om) = off.split_once(':')?;
            if oh.len() != 2 || om.len() != 2 {
                return None;
            }
            let (oh, om): (i64, i64) = (oh.parse().ok()?, om.parse().ok()?);
            Some(t - sign * (oh * 3600 + om * 60))
        }
    }
}

/// `90d`, `2w`, `36h`, `30m`, `45s`, `0`.
pub fn parse_duration(s: &str) -> Option<i64> {
    let s = s.trim();
    if s == "0" {
        return Some(0);
    }
    let unit = s.chars().last()?;
    let n: i64 = s[..s.len() - unit.len_utf8()].parse().ok()?;
    let mult = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        'w' => 7 * 86_400,
        _ => return None,
    };
    (n >= 0).then_some(n * mult)
}

/// `3d 4h`, `2h 10m`, `5m 3s`, `12s`.
pub fn human_duration(s: i64) -> String {
    let (d, h, m, sec) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    if d > 0 {
        format!("{d}d {h}h")
    } else if h > 0 {
        format!("{h}h {m}m")
    } else if m > 0 {
        format!("{m}m {sec}s")
    } else {
        format!("{sec}s")
    }
}

/// Nearest-rank percentile of sorted values: the smallest value with at least `p`% of the
/// values at or below it (the median of 4 values is the 2nd).
pub fn percentile(sorted: &[i64], p: usize) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    Some(sorted[rank - 1])
}

/// Orders versions like semver (`0.10.0` > `0.9.1`; a pre-release is below its release).
fn version_key(v: &str) -> (Vec<u64>, bool, String) {
    let (core, pre) = v.split_once('-').map_or((v, None), |(c, p)| (c, Some(p)));
    let nums = core
        .trim_start_matches('v')
        .split('.')
        .map(|p| p.parse().unwrap_or(0))
        .collect();
    (nums, pre.is_none(), pre.unwrap_or_default().to_string())
}

// ---------------------------------------------------------------------------------------------
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

// ---------------------------------------------------------------------------------------------
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

// ---------------------------------------------------------------------------------------------
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
struct Failure {
    cause: Cause,
    /// The commit that showed the failure (the revert, the rollback or the hot-fix).
    by_commit: Oid,
    by_time: i64,
    /// The deploy that restored (rollback, hot-fix); None for a revert.
    by_deploy: Option<usize>,
}

/// One deploy: a pctl commit that added or changed the workload of a service in an environment.
#[derive(Debug, Clone)]
struct Deploy {
    commit: Oid,
    time: i64,
    env: String,
    service: String,
    team: Option<String>,
    image: Option<String>,
    /// None: redeploy of the same source commit (not a change) or no source time.
    lead: Option<i64>,
    /// A new source commit arrived but the commit has no `Pctl-Source-Time`.
    lead_unknown: bool,
    failure: Option<Failure>,
}

#[derive(Default)]
struct Track {
    last_deploy: Option<usize>,
    images: HashSet<String>,
    last_source: Option<String>,
}

/// Everything read from the history, before aggregation.
#[derive(Default)]
struct History {
    deploys: Vec<Deploy>,
    /// Per service: first deploy (any environment) and first prod deploy.
    first_deploy: BTreeMap<String, i64>,
    first_prod: BTreeMap<String, i64>,
    /// Pctl-Version -> first time seen.
    versions: BTreeMap<String, i64>,
    walked: usize,
    pctl: usize,
    reverts: usize,
    ignored: usize,
    after_until: usize,
    /// The last commit before --until.
    head: Option<Oid>,
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

fn read_history(repo: &Repository, tip: Oid, opts: &Options) -> Result<History, git2::Error> {
    let steps = chain(repo, tip)?;
    let changes = read_all(repo, &steps)?;

    let mut h = History::default();
    let mut info: HashMap<Key, Workload> = HashMap::new();
    let mut tracks: HashMap<Key, Track> = HashMap::new();
    let mut by_commit: HashMap<Oid, Vec<usize>> = HashMap::new();
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
            let (lead, lead_unknown) = match (is_new_source, trailers.time_of(&service)) {
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
fn restored(deploys: &[Deploy], i: usize) -> Option<(Oid, i64)> {
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

// ---------------------------------------------------------------------------------------------
// The report.

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Window {
    pub since: String,
    pub until: String,
    pub days: f64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Settings {
    pub hotfix_window_seconds: i64,
    pub prod_environments: Vec<String>,
    /// The environments counted (empty: all).
    pub environments: Vec<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Commits {
    /// First-parent commits of the branch.
    pub walked: usize,
    /// Made by pctl (before --until).
    pub pctl: usize,
    /// `git revert`s (before --until).
    pub reverts: usize,
    /// Neither (before --until): not counted.
    pub ignored: usize,
    /// At or after --until: not counted.
    pub after_until: usize,
}

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct Stat {
    pub samples: usize,
    pub median_seconds: Option<i64>,
    pub p90_seconds: Option<i64>,
}

impl Stat {
    fn of(mut v: Vec<i64>) -> Stat {
        v.sort_unstable();
        Stat {
            samples: v.len(),
            median_seconds: percentile(&v, 50),
            p90_seconds: percentile(&v, 90),
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct Week {
    /// The Monday (UTC) the week starts on.
    pub week: String,
    pub deployments: usize,
}

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct Causes {
    pub revert: usize,
    pub rollback: usize,
    pub hotfix: usize,
}

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct Group {
    /// The environment, service or team (`total` for the whole).
    pub key: String,
    pub deployments: usize,
    pub per_day: f64,
    pub per_week: f64,
    pub weekly: Vec<Week>,
    pub lead_time: Stat,
    /// Deploys of a new source commit without `Pctl-Source-Time` (no lead time).
    pub lead_time_unknown: usize,
    pub failed: usize,
    /// failed / deployments; null without deployments.
    pub change_failure_rate: Option<f64>,
    pub failures_by_cause: Causes,
    pub time_to_restore: Stat,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FailureRow {
    pub service: String,
    pub env: String,
    pub team: Option<String>,
    pub commit: String,
    pub time: String,
    pub image: Option<String>,
    pub cause: Cause,
    /// The revert, rollback or hot-fix commit.
    pub detected_by: String,
    /// The commit that restored service (see the README), null if none yet.
    pub restored_by: Option<String>,
    pub restore_seconds: Option<i64>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct VersionCount {
    pub version: String,
    pub services: Vec<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Lagging {
    pub service: String,
    pub version: String,
    /// Distinct pctl versions seen in the repository that are newer.
    pub versions_behind: usize,
    /// Since the golden version first appeared in the repository.
    pub lagging_seconds: Option<i64>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct Adoption {
    /// The newest pctl version in the repository (records and trailers).
    pub golden_version: Option<String>,
    pub golden_since: Option<String>,
    pub services: usize,
    pub current: usize,
    pub lagging: usize,
    /// Newest first.
    pub versions: Vec<VersionCount>,
    pub lagging_services: Vec<Lagging>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Onboarded {
    pub service: String,
    pub first_deploy: String,
    pub first_prod_deploy: Option<String>,
    pub seconds: Option<i64>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct Onboarding {
    /// Services whose first deploy is in the window.
    pub services: Vec<Onboarded>,
    pub time_to_prod: Stat,
    pub not_in_prod: usize,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Report {
    pub schema: String,
    pub repository: String,
    pub branch: String,
    /// The last commit before --until (null: none).
    pub head: Option<String>,
    pub window: Window,
    pub by: By,
    pub settings: Settings,
    pub commits: Commits,
    pub groups: Vec<Group>,
    pub total: Group,
    pub failures: Vec<FailureRow>,
    pub adoption: Adoption,
    pub onboarding: Onboarding,
}

fn round(x: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (x * f).round() / f
}

fn monday(t: i64) -> i64 {
    let d = t.div_euclid(86_400);
    d - (d + 3).rem_euclid(7)
}

fn group(
    key: String,
    deploys: &[&Deploy],
    all: &[Deploy],
    index: &[usize],
    opts: &Options,
) -> Group {
    let days = (opts.until - opts.since) as f64 / 86_400.0;
    let mut weeks: BTreeMap<i64, usize> = BTreeMap::new();
    if opts.until > opts.since {
        let mut w = monday(opts.since);
        while w * 86_400 < opts.until {
            weeks.insert(w, 0);
            w += 7;
        }
    }
    let mut leads = Vec::new();
    let mut restores = Vec::new();
    let mut g = Group {
        key,
        deployments: deploys.len(),
        ..Group::default()
    };
    for (d, &i) in deploys.iter().zip(index) {
        *weeks.entry(monday(d.time)).or_default() += 1;
        if let Some(l) = d.lead {
            leads.push(l);
        }
        g.lead_time_unknown += usize::from(d.lead_unknown);
        if let Some(f) = &d.failure {
            g.failed += 1;
            match f.cause {
                Cause::Revert => g.failures_by_cause.revert += 1,
                Cause::Rollback => g.failures_by_cause.rollback += 1,
                Cause::Hotfix => g.failures_by_cause.hotfix += 1,
            }
            if let Some((_, t)) = restored(all, i) {
                restores.push(t - d.time);
            }
        }
    }
    if days > 0.0 {
        g.per_day = round(g.deployments as f64 / days, 3);
        g.per_week = round(g.deployments as f64 * 7.0 / days, 3);
    }
    g.change_failure_rate =
        (g.deployments > 0).then(|| round(g.failed as f64 / g.deployments as f64, 4));
    g.weekly = weeks
        .into_iter()
        .map(|(w, n)| Week {
            week: date(w * 86_400),
            deployments: n,
        })
        .collect();
    g.lead_time = Stat::of(leads);
    g.time_to_restore = Stat::of(restores);
    g
}

fn read_adoption(repo: &Repository, h: &History, opts: &Options) -> Adoption {
    let mut services: BTreeMap<String, String> = BTreeMap::new();
    let tree = h
        .head
        .and_then(|o| repo.find_commit(o).ok())
        .and_then(|c| c.tree().ok());
    if let Some(dir) = tree
        .as_ref()
        .and_then(|t| t.get_path(Path::new(".pctl/services")).ok())
        .and_then(|e| repo.find_tree(e.id()).ok())
    {
        for e in dir.iter() {
            let Some(blob) = e
                .name()
                .ok()
                .filter(|n| n.ends_with(".json"))
                .and_then(|_| repo.find_blob(e.id()).ok())
            else {
                continue;
            };
            let Ok(v) = serde_json::from_slice::<serde_json::Value>(blob.content()) else {
                continue;
            };
            if let Some(s) = v["service"].as_str() {
                let version = v["pctl_version"].as_str().unwrap_or("unknown");
                services.insert(s.to_string(), version.to_string());
            }
        }
    }
    let mut all: BTreeSet<&str> = services.values().map(String::as_str).collect();
    all.extend(h.versions.keys().map(String::as_str));
    let mut all: Vec<&str> = all.into_iter().collect();
    all.sort_by_key(|v| std::cmp::Reverse(version_key(v)));
    let golden = all.first().map(|v| v.to_string());
    let golden_since = golden.as_ref().and_then(|g| h.versions.get(g)).copied();
    let mut a = Adoption {
        golden_version: golden.clone(),
        golden_since: golden_since.map(rfc3339),
        services: services.len(),
        ..Adoption::default()
    };
    for v in &all {
        let names: Vec<String> = services
            .iter()
            .filter(|(_, sv)| sv == v)
            .map(|(s, _)| s.clone())
            .collect();
        if !names.is_empty() {
            a.versions.push(VersionCount {
                version: v.to_string(),
                services: names,
            });
        }
    }
    for (s, v) in &services {
        if Some(v) == golden.as_ref() {
            a.current += 1;
        } else {
            a.lagging += 1;
            a.lagging_services.push(Lagging {
                service: s.clone(),
                version: v.clone(),
                versions_behind: all.iter().position(|x| x == v).unwrap_or(0),
                lagging_seconds: golden_since.map(|t| (opts.until - t).max(0)),
            });
        }
    }
    a
}

/// Computes the report from the history of `tip` (the branch).
pub fn analyse(repo: &Repository, tip: Oid, opts: &Options) -> Result<Report, git2::Error> {
    let h = read_history(repo, tip, opts)?;
    let in_window: Vec<usize> = (0..h.deploys.len())
        .filter(|&i| {
            let d = &h.deploys[i];
            d.time >= opts.since && (opts.envs.is_empty() || opts.envs.contains(&d.env))
        })
        .collect();
    let key_of = |d: &Deploy| match opts.by {
        By::Env => d.env.clone(),
        By::Service => d.service.clone(),
        By::Team => d.team.clone().unwrap_or_else(|| "(unknown)".into()),
    };
    let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for &i in &in_window {
        groups.entry(key_of(&h.deploys[i])).or_default().push(i);
    }
    let pick = |idx: &[usize]| idx.iter().map(|&i| &h.deploys[i]).collect::<Vec<_>>();
    let groups_out = groups
        .into_iter()
        .map(|(k, idx)| group(k, &pick(&idx), &h.deploys, &idx, opts))
        .collect();
    let total = group(
        "total".into(),
        &pick(&in_window),
        &h.deploys,
        &in_window,
        opts,
    );
    let failures = in_window
        .iter()
        .filter_map(|&i| {
            let d = &h.deploys[i];
            let f = d.failure.as_ref()?;
            let r = restored(&h.deploys, i);
            Some(FailureRow {
                service: d.service.clone(),
                env: d.env.clone(),
                team: d.team.clone(),
                commit: d.commit.to_string(),
                time: rfc3339(d.time),
                image: d.image.clone(),
                cause: f.cause,
                detected_by: f.by_commit.to_string(),
                restored_by: r.map(|(c, _)| c.to_string()),
                restore_seconds: r.map(|(_, t)| t - d.time),
            })
        })
        .collect();
    let mut onboarding = Onboarding::default();
    let mut tt = Vec::new();
    for (s, &first) in &h.first_deploy {
        if first < opts.since {
            continue;
        }
        let prod = h.first_prod.get(s).copied();
        match prod {
            Some(p) => tt.push(p - first),
            None => onboarding.not_in_prod += 1,
        }
        onboarding.services.push(Onboarded {
            service: s.clone(),
            first_deploy: rfc3339(first),
            first_prod_deploy: prod.map(rfc3339),
            seconds: prod.map(|p| p - first),
        });
    }
    onboarding.time_to_prod = Stat::of(tt);
    Ok(Report {
        schema: SCHEMA.into(),
        repository: String::new(),
        branch: String::new(),
        head: h.head.map(|o| o.to_string()),
        window: Window {
            since: rfc3339(opts.since),
            until: rfc3339(opts.until),
            days: round((opts.until - opts.since) as f64 / 86_400.0, 3),
        },
        by: opts.by,
        settings: Settings {
            hotfix_window_seconds: opts.hotfix_window,
            prod_environments: opts.prod_envs.iter().cloned().collect(),
            environments: opts.envs.iter().cloned().collect(),
        },
        commits: Commits {
            walked: h.walked,
            pctl: h.pctl,
            reverts: h.reverts,
            ignored: h.ignored,
            after_until: h.after_until,
        },
        adoption: read_adoption(repo, &h, opts),
        groups: groups_out,
        total,
        failures,
        onboarding,
    })
}

// ---------------------------------------------------------------------------------------------
// Text.

fn opt_dur(s: Option<i64>) -> String {
    s.map(human_duration).unwrap_or_else(|| "-".into())
}

fn rows(r: &Report) -> (Vec<&'static str>, Vec<Vec<String>>) {
    let head = vec![
        r.by.name(),
        "deploys",
        "/day",
        "/week",
        "lead p50",
        "lead p90",
        "failed",
        "CFR",
        "restore p50",
        "restore p90",
    ];
    let row = |g: &Group| {
        vec![
            g.key.clone(),
            g.deployments.to_string(),
            format!("{:.2}", g.per_day),
            format!("{:.1}", g.per_week),
            opt_dur(g.lead_time.median_seconds),
            opt_dur(g.lead_time.p90_seconds),
            g.failed.to_string(),
            g.change_failure_rate
                .map(|x| format!("{:.1}%", x * 100.0))
                .unwrap_or_else(|| "-".into()),
            opt_dur(g.time_to_restore.median_seconds),
            opt_dur(g.time_to_restore.p90_seconds),
        ]
    };
    let mut out: Vec<Vec<String>> = r.groups.iter().map(row).collect();
    out.push(row(&r.total));
    (head, out)
}

fn adoption_lines(r: &Report) -> Vec<String> {
    let a = &r.adoption;
    let mut out = Vec::new();
    match &a.golden_version {
        None => out.push("no pctl version recorded".into()),
        Some(g) => out.push(format!(
            "golden path: pctl {g}: {} of {} service{} current, {} lagging",
            a.current,
            a.services,
            if a.services == 1 { "" } else { "s" },
            a.lagging
        )),
    }
    for v in &a.versions {
        out.push(format!(
            "{} ({}): {}",
            v.version,
            v.services.len(),
            v.services.join(", ")
        ));
    }
    out
}

fn onboarding_line(r: &Report) -> String {
    let o = &r.onboarding;
    format!(
        "{} service{} first deployed in the window; time to first prod deploy ({}): median {}, p90 {}; {} not in prod yet",
        o.services.len(),
        if o.services.len() == 1 { "" } else { "s" },
        r.settings.prod_environments.join(", "),
        opt_dur(o.time_to_prod.median_seconds),
        opt_dur(o.time_to_prod.p90_seconds),
        o.not_in_prod
    )
}

fn header(r: &Report) -> String {
    format!(
        "{} `{}`, {} .. {} ({} days), by {}",
        r.repository,
        r.branch,
        &r.window.since[..10],
        &r.window.until[..10],
        r.window.days,
        r.by.name()
    )
}

/// The terminal table.
pub fn table(r: &Report) -> String {
    let (head, rows) = rows(r);
    let mut widths: Vec<usize> = head.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (i, c) in row.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i == 0 {
                    format!("{c:<w$}", w = widths[i])
                } else {
                    format!("{c:>w$}", w = widths[i])
                }
            })
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let mut out = vec![format!("pctl metrics: {}", header(r)), String::new()];
    out.push(line(head.iter().map(|h| h.to_string()).collect()));
    let n = rows.len();
    for (i, row) in rows.into_iter().enumerate() {
        if i + 1 == n {
            out.push(
                widths
                    .iter()
                    .map(|w| "-".repeat(*w))
                    .collect::<Vec<_>>()
                    .join("  "),
            );
        }
        out.push(line(row));
    }
    out.push(String::new());
    const SHOWN: usize = 10;
    if r.failures.len() > SHOWN {
        out.push(format!(
            "failed deploys: the last {SHOWN} of {} (all with --format json)",
            r.failures.len()
        ));
    }
    for f in &r.failures[r.failures.len().saturating_sub(SHOWN)..] {
        out.push(format!(
            "failed: {} {} {} ({}) {}, restored {}",
            f.time,
            f.service,
            f.env,
            f.cause.name(),
            &f.commit[..12],
            f.restore_seconds
                .map(|s| format!("after {}", human_duration(s)))
                .unwrap_or_else(|| "not yet".into())
        ));
    }
    if !r.failures.is_empty() {
        out.push(String::new());
    }
    out.extend(adoption_lines(r));
    out.push(onboarding_line(r));
    let c = &r.commits;
    out.push(format!(
        "commits: {} walked: {} by pctl, {} revert{}, {} not by pctl (ignored), {} after --until",
        c.walked,
        c.pctl,
        c.reverts,
        if c.reverts == 1 { "" } else { "s" },
        c.ignored,
        c.after_until
    ));
    out.join("\n") + "\n"
}

/// Markdown for a weekly report.
pub fn markdown(r: &Report) -> String {
    let (head, rows) = rows(r);
    let mut out = vec![
        "## Platform metrics".to_string(),
        String::new(),
        header(r).replace('`', "**"),
        String::new(),
    ];
    out.push(format!("| {} |", head.join(" | ")));
    out.push(format!(
        "|{}|",
        head.iter()
            .enumerate()
            .map(|(i, _)| if i == 0 { " --- " } else { " ---: " })
            .collect::<String>()
            .trim_end_matches('|')
            .replace("  ", " | ")
    ));
    let n = rows.len();
    for (i, row) in rows.into_iter().enumerate() {
        let cells: Vec<String> = if i + 1 == n {
            row.into_iter().map(|c| format!("**{c}**")).collect()
        } else {
            row
        };
        out.push(format!("| {} |", cells.join(" | ")));
    }
    out.push(String::new());
    if !r.failures.is_empty() {
        out.push("### Failed deploys".into());
        out.push(String::new());
        out.push("| time | service | env | cause | commit | restored after |".into());
        out.push("| --- | --- | --- | --- | --- | ---: |".into());
        for f in &r.failures {
            out.push(format!(
                "| {} | {} | {} | {} | `{}` | {} |",
                f.time,
                f.service,
                f.env,
                f.cause.name(),
                &f.commit[..12],
                opt_dur(f.restore_seconds)
            ));
        }
        out.push(String::new());
    }
    out.push("### Adoption".into());
    out.push(String::new());
    for l in adoption_lines(r) {
        out.push(format!("- {l}"));
    }
    out.push(format!("- {}", onboarding_line(r)));
    out.join("\n") + "\n"
}

// ---------------------------------------------------------------------------------------------
// The command.

fn fail(msg: String) -> u8 {
    let _ = writeln!(anstream::stderr(), "error[metrics]: {msg}");
    crate::exit::USAGE
}

/// Protected environments and the deploy branch of an organisation config.
fn read_org(path: &Path) -> Result<(BTreeSet<String>, Option<String>), String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let v: serde_json::Value =
        serde_yaml::from_str(&text).map_err(|e| format!("cannot parse {}: {e}", path.display()))?;
    let prod = v["spec"]["environments"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["protected"].as_bool() == Some(true))
        .filter_map(|e| e["name"].as_str().map(str::to_string))
        .collect();
    let branch = v["spec"]["deploy_repository"]["branch"]
        .as_str()
        .map(str::to_string);
    Ok((prod, branch))
}

/// Opens the deploy repository: a local one in place, a remote one fetched (the branch only)
/// into a private temporary bare clone.
fn open(url: &str, branch: &str, dir: &Path) -> Result<(Repository, Oid), String> {
    let local = url.strip_prefix("file://").unwrap_or(url);
    if Path::new(local).exists() {
        let repo =
            Repository::open(local).map_err(|e| format!("cannot open {url}: {}", e.message()))?;
        let tip = [
            format!("refs/heads/{branch}"),
            format!("refs/remotes/origin/{branch}"),
        ]
        .iter()
        .find_map(|r| repo.refname_to_id(r).ok())
        .ok_or_else(|| format!("{url} has no branch `{branch}`"))?;
        return Ok((repo, tip));
    }
    // SAFETY: sets libgit2 global options before any connection of this process is made.
    unsafe {
        let _ = git2::opts::set_server_connect_timeout_in_milliseconds(10_000);
        let _ = git2::opts::set_server_timeout_in_milliseconds(30_000);
    }
    let shown = redact_url(url);
    let token = std::env::var("PCTL_GIT_TOKEN")
        .ok()
        .filter(|t| !t.is_empty());
    let redact = |m: &str| {
        let m = m.replace(url, &shown);
        match &token {
            Some(t) => m.replace(t.as_str(), "***"),
            None => m,
        }
    };
    let repo = Repository::init_bare(dir)
        .map_err(|e| format!("cannot prepare a clone: {}", e.message()))?;
    let mut remote = repo
        .remote_anonymous(url)
        .map_err(|e| redact(&format!("cannot use {url}: {}", e.message())))?;
    let mut cb = git2::RemoteCallbacks::new();
    let mut tries = 0;
    let tok = token.clone();
    cb.credentials(move |_url, user, allowed| {
        tries += 1;
        match &tok {
            Some(t)
                if tries == 1 && allowed.contains(git2::CredentialType::USER_PASS_PLAINTEXT) =>
            {
                git2::Cred::userpass_plaintext(user.unwrap_or("x-access-token"), t)
            }
            _ => Err(git2::Error::from_str(
                "authentication failed: set PCTL_GIT_TOKEN",
            )),
        }
    });
    let mut fo = git2::FetchOptions::new();
    fo.remote_callbacks(cb);
    let spec = format!("+refs/heads/{branch}:refs/remotes/origin/{branch}");
    remote
        .fetch(&[spec.as_str()], Some(&mut fo), None)
        .map_err(|e| redact(&format!("cannot fetch from {url}: {}", e.message())))?;
    drop(remote);
    let tip = repo
        .refname_to_id(&format!("refs/remotes/origin/{branch}"))
        .map_err(|_| format!("{shown} has no branch `{branch}`"))?;
    Ok((repo, tip))
}

/// Builds the options from the arguments (`now`: the default --until).
pub fn options(args: &Args, now: i64) -> Result<(Options, String), String> {
    let until = match &args.until {
        Some(u) => parse_time(u).ok_or_else(|| {
            format!("--until `{u}`: expected a date (2025-03-31) or an RFC 3339 time")
        })?,
        None => now,
    };
    let since = parse_duration(&args.since)
        .map(|d| until - d)
        .or_else(|| parse_time(&args.since))
        .ok_or_else(|| {
            format!(
                "--since `{}`: expected a duration (90d, 12w, 36h) or a date (2025-01-31)",
                args.since
            )
        })?;
    if since >= until {
        return Err(format!(
            "the window is empty: --since {} is not before --until {}",
            rfc3339(since),
            rfc3339(until)
        ));
    }
    let hotfix_window = parse_duration(&args.hotfix_window).ok_or_else(|| {
        format!(
            "--hotfix-window `{}`: expected a duration (1h, 30m, 0)",
            args.hotfix_window
        )
    })?;
    let (org_prod, org_branch) = match &args.org {
        Some(p) => read_org(p)?,
        None => (BTreeSet::new(), None),
    };
    let prod_envs = if !args.prod_envs.is_empty() {
        args.prod_envs.iter().cloned().collect()
    } else if !org_prod.is_empty() {
        org_prod
    } else {
        ["prod", "production"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    };
    let branch = args
        .branch
        .clone()
        .or(org_branch)
        .unwrap_or_else(|| "main".into());
    Ok((
        Options {
            since,
            until,
            by: args.by,
            envs: args.envs.iter().cloned().collect(),
            prod_envs,
            hotfix_window,
        },
        branch,
    ))
}

/// `pctl metrics`: exit 0, or 2 for bad arguments and an unreadable repository.
pub fn cmd(args: &Args, format: Format) -> u8 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (opts, branch) = match options(args, now) {
        Ok(o) => o,
        Err(e) => return fail(e),
    };
    // Every object is read once, so libgit2's object cache only costs memory; and this command
    // only reads, so hashing each object again to verify it is not worth its time.
    git2::opts::enable_caching(false);
    git2::opts::strict_hash_verification(false);
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => return fail(format!("cannot create a temporary folder: {e}")),
    };
    let (repo, tip) = match open(&args.deploy_repo, &branch, dir.path()) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let mut report = match analyse(&repo, tip, &opts) {
        Ok(r) => r,
        Err(e) => {
            return fail(format!(
                "cannot read the history of {}: {}",
                redact_url(&args.deploy_repo),
                e.message()
            ));
        }
    };
    report.repository = redact_url(&args.deploy_repo);
    report.branch = branch;
    let text = match format {
        Format::Json => serde_json::to_string_pretty(&report).expect("json") + "\n",
        Format::Human => table(&report),
        _ => markdown(&report),
    };
    let _ = std::io::stdout().write_all(text.as_bytes());
    crate::exit::OK
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip() {
        for t in [
            0,
            86_399,
            951_782_400,
            1_735_689_600,
            4_102_444_800,
            -86_400,
        ] {
            assert_eq!(parse_time(&rfc3339(t)), Some(t), "{}", rfc3339(t));
        }
        assert_eq!(rfc3339(1_735_689_600), "2025-01-01T00:00:00Z");
        assert_eq!(parse_time("2025-01-01"), Some(1_735_689_600));
        assert_eq!(parse_time("2025-01-01T02:00:00+02:00"), Some(1_735_689_600));
        assert_eq!(
            parse_time("2024-12-31T23:30:00.123-00:30"),
            Some(1_735_689_600)
        );
        assert_eq!(parse_time("2025-01-01 00:00:00"), Some(1_735_689_600));
        assert_eq!(parse_time("2024-02-29"), Some(1_709_164_800));
        for bad in [
            "",
            "2025",
            "2025-13-01",
            "2025-01-01T25:00:00Z",
            "2025-01-01Tx",
            "2025-01-01T00:00:00+0200",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90d"), Some(90 * 86_400));
        assert_eq!(parse_duration("2w"), Some(14 * 86_400));
        assert_eq!(parse_duration("0"), Some(0));
        assert_eq!(parse_duration("30m"), Some(1800));
        assert_eq!(parse_duration("2025-01-01"), None);
        assert_eq!(parse_duration("-1h"), None);
        assert_eq!(human_duration(90_061), "1d 1h");
        assert_eq!(human_duration(3_700), "1h 1m");
        assert_eq!(human_duration(61), "1m 1s");
    }

    #[test]
    fn nearest_rank() {
        assert_eq!(percentile(&[], 50), None);
        assert_eq!(percentile(&[5], 90), Some(5));
        assert_eq!(percentile(&[1, 2, 3, 4], 50), Some(2));
        assert_eq!(percentile(&[1, 2, 3, 4, 5], 50), Some(3));
        let ten: Vec<i64> = (1..=10).collect();
        assert_eq!(percentile(&ten, 90), Some(9));
        assert_eq!(percentile(&ten, 100), Some(10));
    }

    #[test]
    fn mondays() {
        // 2025-01-01 is a Wednesday; its week starts on 2024-12-30.
        assert_eq!(date(monday(1_735_689_600) * 86_400), "2024-12-30");
        assert_eq!(
            date(monday(parse_time("2025-01-06T23:59:59Z").unwrap()) * 86_400),
            "2025-01-06"
        );
    }

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
