//! The deploy repository's tip as the planner sees it: a [`Target`] over a git tree (files
//! compared by blob id, in parallel, without reading them), its `.pctl/` records verified
//! against the layout contract, and the checks that make a service's name an identity.

use git2::{ObjectType, Oid, Repository};
use pctl_core::diag::{Diagnostic, Severity, escape_control};
use pctl_core::expand::{Owner, Tree};
use pctl_core::layout::{self, STATE_DIR};
use pctl_core::plan::Target;
use pctl_core::record::{Claims, Forgery, Record};
use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::Mutex;

/// A commit's tree, indexed by path.
pub struct Tip {
    repo: Mutex<Repository>,
    blobs: HashMap<String, Oid>,
}

impl Tip {
    /// Indexes `tree` of the repository at `repo` (a second handle is opened: git2 handles are
    /// not shared between threads).
    pub fn new(repo: &Repository, tree: Option<&git2::Tree>) -> Result<Tip, git2::Error> {
        let mut blobs = HashMap::new();
        if let Some(t) = tree {
            t.walk(git2::TreeWalkMode::PreOrder, |root, entry| {
                if entry.kind() == Some(ObjectType::Blob) {
                    if let Ok(name) = entry.name() {
                        blobs.insert(format!("{root}{name}"), entry.id());
                    }
                }
                git2::TreeWalkResult::Ok
            })?;
        }
        Ok(Tip {
            repo: Mutex::new(Repository::open_bare(repo.path())?),
            blobs,
        })
    }

    /// The records at the tip, verified.
    pub fn claims(&self) -> Claims {
        let prefix = format!("{STATE_DIR}/");
        let records: Vec<(String, Vec<u8>)> = self
            .blobs
            .keys()
            .filter(|p| p.starts_with(&prefix) && p.ends_with(".json"))
            .filter_map(|p| Some((p.clone(), self.read(p)?)))
            .collect();
        Claims::verify(records)
    }
}

impl Target for Tip {
    fn same(&self, path: &str, content: &[u8]) -> Option<bool> {
        let have = self.blobs.get(path)?;
        Some(Oid::hash_object(ObjectType::Blob, content).is_ok_and(|id| &id == have))
    }
    fn read(&self, path: &str) -> Option<Vec<u8>> {
        let id = self.blobs.get(path)?;
        let repo = self.repo.lock().ok()?;
        let blob = repo.find_blob(*id).ok()?;
        Some(blob.content().to_vec())
    }
}

/// The commit that last changed `path` at the tip (within the last `limit` commits of the
/// fetched branches): "1a2b3c4d5e6f by Jane <jane@example.com>: subject".
pub fn last_change(repo: &Repository, path: &str, limit: usize) -> Option<String> {
    let mut walk = repo.revwalk().ok()?;
    walk.push_glob("refs/remotes/origin/*").ok()?;
    walk.set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::TIME)
        .ok()?;
    let blob_at = |c: &git2::Commit| -> Option<Oid> {
        c.tree()
            .ok()?
            .get_path(Path::new(path))
            .ok()
            .map(|e| e.id())
    };
    for oid in walk.take(limit).flatten() {
        let commit = repo.find_commit(oid).ok()?;
        let here = blob_at(&commit);
        let before = commit.parent(0).ok().and_then(|p| blob_at(&p));
        if here.is_some() && here != before {
            let who = commit.author();
            return Some(format!(
                "{} by {} <{}>: {}",
                &commit.id().to_string()[..12],
                escape_control(who.name().unwrap_or("?")),
                escape_control(who.email().unwrap_or("?")),
                escape_control(commit.summary().ok().flatten().unwrap_or_default())
            ));
        }
    }
    None
}

/// The diagnostic of a record that cannot be trusted: an error when it speaks for an owner
/// this run publishes (nothing is deleted or overwritten on its word), else a warning (its
/// claims are ignored).
pub fn forged(repo: &Repository, f: &Forgery, in_run: bool) -> Diagnostic {
    let severity = if in_run {
        Severity::Error
    } else {
        Severity::Warning
    };
    let mut d = Diagnostic::new(
        severity,
        "publish/forged-record",
        format!("the record `{}` cannot be trusted: {}", f.record, f.reason),
    )
    .help("pctl writes its records itself: restore the record from history (git log -p -- <record>) or remove it, and review who changed it; nothing was deleted or overwritten on its word");
    if let Some(who) = last_change(repo, &f.record, 2000) {
        d = d.note(format!("the record was last changed in {who}"));
    }
    d
}

/// Whether two repository addresses name the same repository (`.git`, a trailing `/` and the
/// case of the host do not matter).
pub fn same_repository(a: &str, b: &str) -> bool {
    fn norm(s: &str) -> String {
        let s = s.trim().trim_end_matches('/');
        let s = s.strip_suffix(".git").unwrap_or(s);
        match s.split_once("://") {
            Some((scheme, rest)) => {
                let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
                format!("{}://{}/{path}", scheme.to_lowercase(), host.to_lowercase())
            }
            None => s.to_string(),
        }
    }
    norm(a) == norm(b)
}

/// The checks that make a name an identity: a service's record at the tip binds its name to the
/// repository and team that first published it. A publish of that name from another repository
/// or for another team is refused, unless it is an explicit move from the recorded repository
/// (`moved_from`). Returns the refusals and, for accepted moves, the review's risk lines.
pub fn identity(
    tree: &Tree,
    claims: &Claims,
    moved_from: Option<&str>,
) -> (Vec<Diagnostic>, Vec<String>) {
    let mut refused = Vec::new();
    let mut moves = Vec::new();
    let services: BTreeSet<&str> = tree
        .values()
        .filter_map(|f| match &f.owner {
            Owner::Service(s) => Some(s.as_str()),
            _ => None,
        })
        .collect();
    for name in services {
        let Some(old) = claims.service(name) else {
            continue;
        };
        let Some(new) = tree
            .get(&layout::record_path(&Owner::Service(name.to_string())))
            .and_then(|f| serde_json::from_str::<Record>(&f.content).ok())
        else {
            continue;
        };
        let repo = |r: &Record| r.source.as_ref().map(|s| s.repository.clone());
        let (old_repo, new_repo) = (repo(old), repo(&new));
        let same_repo = match (&old_repo, &new_repo) {
            (Some(a), Some(b)) => same_repository(a, b),
            (None, _) => true,
            _ => false,
        };
        let same_team = old.team.is_none() || old.team == new.team;
        if same_repo && same_team {
            continue;
        }
        let was = format!(
            "{} (team `{}`)",
            old_repo.as_deref().unwrap_or("?"),
            old.team.as_deref().unwrap_or("?")
        );
        let now = format!(
            "{} (team `{}`)",
            new_repo.as_deref().unwrap_or("?"),
            new.team.as_deref().unwrap_or("?")
        );
        let declared = moved_from
            .zip(old_repo.as_deref())
            .is_some_and(|(m, o)| same_repository(m, o));
        if declared {
            moves.push(format!("{name}: moved from {was} to {now}"));
            continue;
        }
        refused.push(
            Diagnostic::error(
                "publish/owned-elsewhere",
                format!(
                    "service `{name}` belongs to {}, not to {}",
                    escape_control(&was),
                    escape_control(&now)
                ),
            )
            .found(format!("{STATE_DIR}/services/{name}.json in the deploy repository binds the name to {}", escape_control(&was)))
            .help(format!(
                "rename this service (metadata.name) if it is another service; if `{name}` really moved here, publish once with --move-from {} (the change is shown as a risk in the review)",
                escape_control(old_repo.as_deref().unwrap_or("<previous repository>"))
            )),
        );
    }
    (refused, moves)
}

#[cfg(test)]
mod tests {
    #[test]
    fn repository_addresses_compare_loosely() {
        use super::same_repository as s;
        assert!(s(
            "https://github.com/acme/api",
            "https://GitHub.com/acme/api.git"
        ));
        assert!(s(
            "https://github.com/acme/api/",
            "https://github.com/acme/api"
        ));
        assert!(!s(
            "https://github.com/acme/api",
            "https://github.com/evil/api"
        ));
        assert!(!s(
            "https://github.com/acme/api",
            "https://github.com/acme/Api"
        ));
    }
}
