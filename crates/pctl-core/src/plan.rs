//! Stage 6, plan: the records a rendered tree carries (`.pctl/`), and what must change in a
//! target (an output folder, a deploy repository's tip) to make it hold that tree.
//!
//! One planner for both targets: the binary's edges implement [`Target`] (read a file, say
//! whether a file holds given bytes) and apply the plan. What may change is decided here, from
//! the layout contract and verified records ([`crate::record::Claims`]), never from a record's
//! word alone: only the owners a run renders (or removes) lose files, only files their verified
//! records list are deleted, and a file someone edited since pctl wrote it is not overwritten
//! or deleted unless forced.

use crate::diag::Diagnostic;
use crate::digest::{sha256, sha256_bytes};
use crate::expand::{Owner, RenderedFile, Tree};
use crate::layout::{self, Area};
use crate::record::{Claims, Class, Record, SourceRef};
use crate::resolve::Service;
use rayon::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

pub use crate::layout::{STATE_DIR, env_of};

/// Adds one record per owner (`.pctl/services/<name>.json`, `.pctl/organisation.json`,
/// `.pctl/catalog.json`): path -> content hash, the class of files whose class matters, and
/// for a service where it came from and who owns it. A publish uses them to know which files
/// are pctl's, whether someone edited one by hand, and whose a service name is.
///
/// `intents`: each service's intent as written (by name): kept with its release, so that `pctl
/// promote` can render another environment from exactly this version.
pub fn add_state(
    tree: &mut Tree,
    services: &[Service],
    costs: &[crate::cost::Line],
    intents: &BTreeMap<&str, &serde_json::Value>,
) {
    let mut by_owner: BTreeMap<Owner, Record> = BTreeMap::new();
    let version = env!("CARGO_PKG_VERSION");
    for (path, f) in tree.iter() {
        let record = by_owner
            .entry(f.owner.clone())
            .or_insert_with(|| new_record(&f.owner, services, costs, intents, version));
        record.files.insert(path.clone(), sha256(&f.content));
        if let Some(class) = f.class {
            record.classes.insert(path.clone(), class);
        }
    }
    for (owner, record) in by_owner {
        tree.insert(
            layout::record_path(&owner),
            RenderedFile {
                content: record.to_text(),
                owner,
                class: None,
            },
        );
    }
}

fn new_record(
    owner: &Owner,
    services: &[Service],
    costs: &[crate::cost::Line],
    intents: &BTreeMap<&str, &serde_json::Value>,
    version: &str,
) -> Record {
    let mut record = Record {
        service: None,
        owner: None,
        source: None,
        environments: None,
        team: None,
        usd_month: None,
        pctl_version: version.to_string(),
        files: BTreeMap::new(),
        classes: BTreeMap::new(),
        provides: None,
        exemptions: Vec::new(),
        releases: BTreeMap::new(),
        intents: BTreeMap::new(),
    };
    match owner {
        // The catalog is rendered only by runs over the whole organisation; its own record, so
        // that a single service's run neither claims nor deletes these files.
        Owner::Org | Owner::Catalog => record.owner = Some(owner.name()),
        Owner::Service(name) => {
            let svc = services.iter().find(|s| &s.name == name);
            record.service = Some(name.clone());
            record.source = svc.map(|s| SourceRef {
                repository: s.source.repository.clone(),
                sha: s.source.sha.clone(),
            });
            record.environments = Some(
                svc.map(|s| s.deployments.iter().map(|d| d.env.clone()).collect())
                    .unwrap_or_default(),
            );
            record.team = svc
                .and_then(|s| s.context["service"]["owner"].as_str())
                .map(str::to_string);
            let own: Vec<crate::cost::Line> = costs
                .iter()
                .filter(|l| &l.service == name)
                .cloned()
                .collect();
            record.usd_month = Some(crate::cost::total(&own));
            record.provides = svc.and_then(|s| s.provides.clone());
            record.exemptions = svc.map(|s| s.exemptions.clone()).unwrap_or_default();
            if let (Some(svc), Some(intent)) = (svc, intents.get(name.as_str())) {
                let release = crate::record::Release {
                    sha: svc.source.sha.clone(),
                    tag: svc.source.image_tag.clone(),
                    digest: svc.source.image_digest.clone(),
                };
                // Only a version that can be named again (a commit, a tag, a digest) is one
                // `pctl promote` can move; a local render without a commit records none.
                let named = crate::record::is_sha(&release.sha)
                    && crate::record::is_tag(&release.tag)
                    && release
                        .digest
                        .as_deref()
                        .is_none_or(crate::record::is_digest);
                if named {
                    for d in &svc.deployments {
                        record.releases.insert(d.env.clone(), release.clone());
                    }
                    if !record.releases.is_empty() {
                        record
                            .intents
                            .insert(release.sha.clone(), (*intent).clone());
                    }
                }
            }
        }
    }
    record
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Action {
    Add = 0,
    Change = 1,
    Delete = 2,
}

/// One file a plan changes, with both sides (for diffs and reviews).
#[derive(Debug, Clone)]
pub struct Change {
    pub path: String,
    pub action: Action,
    /// `organisation`, `organisation/catalog` or the service name.
    pub owner: String,
    pub old: Option<Vec<u8>>,
    pub new: Option<String>,
    /// What the file is (from the blueprint, or for a deletion from the record).
    pub class: Option<Class>,
}

/// What a target holds, as the planner needs it. Implemented by the binary's edges.
pub trait Target: Sync {
    /// Whether the file at `path` holds exactly `content`; `None` when there is no file.
    fn same(&self, path: &str, content: &[u8]) -> Option<bool>;
    /// The bytes of the file at `path`, if there is one.
    fn read(&self, path: &str) -> Option<Vec<u8>>;
}

/// Where a hand edit came from (commit, author, diff), when the target keeps history.
pub type Explain<'a> = &'a dyn Fn(&str, &str) -> Option<(String, String)>;

/// What a run may change in its target.
pub struct Scope<'a> {
    /// Owners that rendered files in this run: their stale recorded files are deleted.
    pub rendered: &'a BTreeSet<Owner>,
    /// Services removed on purpose (`publish --remove`): every recorded file of theirs goes.
    pub removed: &'a [String],
    /// Services left exactly as they are (render cache hits): never touched.
    pub kept: &'a BTreeSet<String>,
    /// The target mirrors the run (an output folder): files recorded for owners the run did
    /// not render are deleted too, unless `partial`.
    pub mirror: bool,
    /// Some services of the run failed: only owners it rendered may lose files.
    pub partial: bool,
    /// Refuse to overwrite or delete files that changed since pctl wrote them, and to take over
    /// files pctl did not write (a shared deploy repository). Off for an output folder.
    pub protect_edits: bool,
    /// Overwrite hand edits and take over unmanaged files anyway (`--force`).
    pub force: bool,
    pub explain: Option<Explain<'a>>,
}

/// A planned change of a target.
#[derive(Debug, Default)]
pub struct Plan {
    /// Sorted by path.
    pub changes: Vec<Change>,
    /// Files the tree and the target agree on, including the kept ones.
    pub unchanged: usize,
    /// Recorded files of kept services, left as they are without being read.
    pub kept: usize,
}

impl Plan {
    pub fn count(&self, a: Action) -> usize {
        self.changes.iter().filter(|c| c.action == a).count()
    }
}

fn hand_edit(path: &str, hash: &str, what: &str, scope: &Scope<'_>) -> Diagnostic {
    let mut d = Diagnostic::error(
        "publish/hand-edit",
        format!("`{path}` was {what} in the deploy repository since pctl generated it"),
    )
    .found(format!("`{path}` no longer matches what pctl recorded in {STATE_DIR}/"))
    .help("move the change into platform.yaml or a blueprint override and publish again, or pass --force to overwrite the hand edit");
    if let Some((edit, diff)) = scope.explain.and_then(|f| f(path, hash)) {
        d = d
            .note(format!("edited in {edit}"))
            .note(format!("the edit:\n{diff}"));
    }
    d
}

/// The files of `tree` to add or change in the target (compared in parallel), or the conflicts
/// that forbid them.
pub fn compare(
    tree: &Tree,
    claims: &Claims,
    target: &dyn Target,
    scope: &Scope<'_>,
) -> Result<Plan, Vec<Diagnostic>> {
    let files: Vec<(&String, &RenderedFile)> = tree.iter().collect();
    let compared: Vec<Option<(Action, Option<Vec<u8>>)>> = files
        .par_iter()
        .map(|(path, f)| match target.same(path, f.content.as_bytes()) {
            Some(true) => None,
            Some(false) => Some((Action::Change, target.read(path))),
            None => Some((Action::Add, None)),
        })
        .collect();
    let mut plan = Plan::default();
    let mut conflicts = Vec::new();
    for ((path, f), c) in files.into_iter().zip(compared) {
        let Some((action, old)) = c else {
            plan.unchanged += 1;
            continue;
        };
        let is_record = layout::place(path).is_some_and(|p| p.area == Area::Record);
        if action == Action::Change && scope.protect_edits && !scope.force && !is_record {
            match claims.files.get(path.as_str()) {
                Some((_, hash, _)) => {
                    let now = old.as_deref().map(sha256_bytes).unwrap_or_default();
                    if &now != hash {
                        conflicts.push(hand_edit(path, hash, "edited", scope));
                        continue;
                    }
                }
                None => {
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
            }
        }
        plan.changes.push(Change {
            path: path.clone(),
            action,
            owner: f.owner.name(),
            old,
            new: Some(f.content.clone()),
            class: f.class,
        });
    }
    if conflicts.is_empty() {
        Ok(plan)
    } else {
        Err(conflicts)
    }
}

/// The recorded files a run no longer renders and may delete (see [`Scope`]), or the conflicts
/// that forbid it. `rendered_path`: whether the run rendered a path (in any of its parts).
pub fn deletions(
    claims: &Claims,
    rendered_path: &(dyn Fn(&str) -> bool + Sync),
    target: &dyn Target,
    scope: &Scope<'_>,
) -> Result<Plan, Vec<Diagnostic>> {
    let rendered_names: BTreeSet<String> = scope.rendered.iter().map(Owner::name).collect();
    let removed: BTreeSet<&str> = scope.removed.iter().map(String::as_str).collect();
    let mut plan = Plan::default();
    let mut candidates: Vec<(&String, &Owner, &String, Option<Class>)> = Vec::new();
    // Every verified record lists its own path too: a record of an owner that is gone goes.
    let record_entries: Vec<(&String, &Owner)> =
        claims.records.iter().map(|(p, (o, _))| (p, o)).collect();
    let listed = claims
        .files
        .iter()
        .map(|(p, (o, h, c))| (p, o, Some(h), *c))
        .chain(record_entries.iter().map(|(p, o)| (*p, *o, None, None)));
    for (path, owner, hash, class) in listed {
        if rendered_path(path) {
            continue;
        }
        if let Owner::Service(s) = owner {
            if scope.kept.contains(s) {
                plan.kept += 1;
                continue;
            }
        }
        let name = owner.name();
        let ours = rendered_names.contains(&name) || removed.contains(name.as_str());
        let allowed = if scope.mirror {
            ours || !scope.partial
        } else {
            ours
        };
        if !allowed {
            continue;
        }
        static NO_HASH: String = String::new();
        candidates.push((path, owner, hash.unwrap_or(&NO_HASH), class));
    }
    let current: Vec<Option<Vec<u8>>> = candidates
        .par_iter()
        .map(|(path, ..)| target.read(path))
        .collect();
    let mut conflicts = Vec::new();
    for ((path, owner, hash, class), cur) in candidates.into_iter().zip(current) {
        let Some(cur) = cur else { continue };
        let is_record = hash.is_empty();
        if scope.protect_edits && !scope.force && !is_record && &sha256_bytes(&cur) != hash {
            conflicts.push(
                hand_edit(path, hash, "edited", scope)
                    .note("pctl would delete it: its service, environment or resource is gone"),
            );
            continue;
        }
        plan.changes.push(Change {
            path: path.clone(),
            action: Action::Delete,
            owner: owner.name(),
            old: Some(cur),
            new: None,
            class,
        });
    }
    if conflicts.is_empty() {
        Ok(plan)
    } else {
        Err(conflicts)
    }
}

/// [`compare`] and [`deletions`] for a whole tree: the complete plan, sorted by path.
pub fn plan(
    tree: &Tree,
    claims: &Claims,
    target: &dyn Target,
    scope: &Scope<'_>,
) -> Result<Plan, Vec<Diagnostic>> {
    let compared = compare(tree, claims, target, scope);
    let deleted = deletions(claims, &|p| tree.contains_key(p), target, scope);
    let (mut plan, deleted) = match (compared, deleted) {
        (Ok(p), Ok(d)) => (p, d),
        (a, b) => {
            let mut all = a.err().unwrap_or_default();
            all.extend(b.err().unwrap_or_default());
            return Err(all);
        }
    };
    plan.changes.extend(deleted.changes);
    plan.kept = deleted.kept;
    plan.unchanged += deleted.kept;
    plan.changes.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(plan)
}

/// Human lines for what disappears: "payment-api: removed from staging (14 files)" when an
/// owner had files in an environment and renders none there any more, and "x: removed from the
/// deploy repository" for `--remove`.
pub fn removals(plan: &Plan, tree: &Tree, removed: &[String]) -> Vec<String> {
    let mut per_env: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for c in plan.changes.iter().filter(|c| c.action == Action::Delete) {
        if let Some(env) = env_of(&c.path) {
            *per_env.entry((c.owner.as_str(), env)).or_default() += 1;
        }
    }
    let mut still: BTreeSet<(String, &str)> = BTreeSet::new();
    for (p, f) in tree {
        if let Some(env) = env_of(p) {
            still.insert((f.owner.name(), env));
        }
    }
    let mut lines = Vec::new();
    for ((owner, env), n) in per_env {
        if still.contains(&(owner.to_string(), env)) {
            continue;
        }
        lines.push(format!(
            "{owner}: removed from {env} ({n} file{})",
            if n == 1 { "" } else { "s" }
        ));
    }
    for s in removed {
        if plan.changes.iter().any(|c| &c.owner == s) {
            lines.push(format!("{s}: removed from the deploy repository"));
        }
    }
    lines
}
