//! Releases: which version of a service each environment runs, and which part of a service a
//! run may write.
//!
//! A publish from the application's pipeline writes the environments whose promotion is
//! automatic (`model::Promotion`); every other environment keeps exactly what it runs: its
//! files, their record entries and its release, taken from the deploy repository's tip. The
//! publish applies [`hold`] again on every attempt, on the tip it fetched, so a retry never
//! undoes a promotion (or a preview) that landed meanwhile. `pctl promote` writes one
//! environment, rendered from the release another one runs; a preview writes its own.

use crate::diag::Diagnostic;
use crate::expand::{RenderedFile, Tree};
use crate::layout::{self, Area, Owner};
use crate::record::{Record, Release};
use std::collections::{BTreeMap, BTreeSet};

/// What a run writes of one service: everything it rendered, except what it keeps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Writes {
    /// Environments kept as the tip has them: files, record entries and release (a publish
    /// keeps the environments whose promotion is manual).
    pub keep: BTreeSet<String>,
    /// Only this environment is written, every other one is kept (a promotion).
    pub only: Option<String>,
    /// Whether it also writes the service's files of no environment (catalog entity, docs,
    /// pipeline) and the record's description of the service (source, team, contract): a
    /// publish of a new version does, a promotion does not.
    pub shared: bool,
}

impl Writes {
    /// Whether the run keeps environment `env` of the service as the tip has it.
    pub fn keeps_env(&self, env: &str) -> bool {
        self.keep.contains(env) || self.only.as_deref().is_some_and(|o| o != env)
    }

    /// Whether a run with these writes keeps `path` (a file of the service) as the tip has it.
    fn holds(&self, path: &str) -> bool {
        match layout::place(path) {
            Some(p) if p.area == Area::Record => false,
            Some(p) => match p.env {
                Some(env) => self.keeps_env(env),
                None => !self.shared,
            },
            None => true,
        }
    }
}

impl Writes {
    /// A run that writes everything it rendered: nothing to keep.
    pub fn is_all(&self) -> bool {
        self.keep.is_empty() && self.only.is_none() && self.shared
    }
}

/// Replaces what a run does not write of each service of `writes` (see [`Writes`]) by what
/// the tip holds: the rendered files of kept environments leave the tree, the tip's files (as
/// they are, even edited by hand: the record keeps pctl's hash, so the edit stays visible) come
/// in, and the service's record keeps the tip's entries and releases of those environments.
/// `tip`: the tip's verified record of a service; `read`: a file of the tip. One pass over the
/// tree, whatever the number of services.
pub fn hold(
    tree: &mut Tree,
    writes: &BTreeMap<String, Writes>,
    tip: &dyn Fn(&str) -> Option<Record>,
    read: &dyn Fn(&str) -> Option<Vec<u8>>,
) -> Result<(), Diagnostic> {
    let writes: BTreeMap<&String, &Writes> = writes.iter().filter(|(_, w)| !w.is_all()).collect();
    if writes.is_empty() {
        return Ok(());
    }
    tree.retain(|path, f| match &f.owner {
        Owner::Service(s) => writes.get(s).is_none_or(|w| !w.holds(path)),
        _ => true,
    });
    for (service, w) in writes {
        hold_one(tree, service, w, tip(service).as_ref(), read)?;
    }
    Ok(())
}

fn hold_one(
    tree: &mut Tree,
    service: &str,
    writes: &Writes,
    tip: Option<&Record>,
    read: &dyn Fn(&str) -> Option<Vec<u8>>,
) -> Result<(), Diagnostic> {
    let owner = Owner::Service(service.to_string());
    let record_path = layout::record_path(&owner);
    let mut record = match tree.get(&record_path) {
        Some(f) => serde_json::from_str::<Record>(&f.content).map_err(|e| {
            Diagnostic::error(
                "internal/record",
                format!("the rendered record of `{service}` does not read back: {e}"),
            )
        })?,
        // Nothing of the service was rendered: it keeps everything it has.
        None => return Ok(()),
    };
    record.files.retain(|p, _| !writes.holds(p));
    record.classes.retain(|p, _| !writes.holds(p));
    record.releases.retain(|env, _| !writes.keeps_env(env));
    let mut intents = std::mem::take(&mut record.intents);
    if let Some(tip) = tip {
        for (path, hash) in tip.files.iter().filter(|(p, _)| writes.holds(p)) {
            record.files.insert(path.clone(), hash.clone());
            let class = tip.classes.get(path).copied();
            if let Some(c) = class {
                record.classes.insert(path.clone(), c);
            }
            // A file deleted by hand stays deleted (the planner finds nothing to delete).
            let Some(bytes) = read(path) else { continue };
            let content = String::from_utf8(bytes).map_err(|_| {
                Diagnostic::error(
                    "publish/held-file",
                    format!(
                        "`{}` of `{service}` is not text any more: this run keeps it as the deploy repository has it, and cannot",
                        crate::diag::escape_control(path)
                    ),
                )
                .help("restore the file pctl wrote (see the deploy repository's history), then publish again")
            })?;
            tree.insert(
                path.clone(),
                RenderedFile {
                    content,
                    owner: owner.clone(),
                    class,
                },
            );
        }
        for (env, release) in &tip.releases {
            if writes.keeps_env(env) {
                record.releases.insert(env.clone(), release.clone());
            }
        }
        for (sha, intent) in &tip.intents {
            intents.entry(sha.clone()).or_insert_with(|| intent.clone());
        }
        if !writes.shared {
            record.source = tip.source.clone();
            record.environments = tip.environments.clone();
            record.team = tip.team.clone();
            record.usd_month = tip.usd_month;
            record.provides = tip.provides.clone();
            record.exemptions = tip.exemptions.clone();
        }
    }
    let running: BTreeSet<&String> = record.releases.values().map(|r| &r.sha).collect();
    intents.retain(|sha, _| running.contains(sha));
    record.intents = intents;
    if let Some(f) = tree.get_mut(&record_path) {
        f.content = record.to_text();
    }
    Ok(())
}

/// The environment before `env` in the organisation's order: where a promotion to `env` takes
/// its version from by default.
pub fn previous<'a>(order: &'a [String], env: &str) -> Option<&'a str> {
    let i = order.iter().position(|e| e == env)?;
    i.checked_sub(1).map(|j| order[j].as_str())
}

/// What one environment runs, for people: `abc123def456 (tag v1.2, sha256:0123…)`.
pub fn describe(r: &Release) -> String {
    let mut s = r.sha[..12.min(r.sha.len())].to_string();
    let mut parts = Vec::new();
    if r.tag != r.sha {
        parts.push(format!("tag {}", r.tag));
    }
    if let Some(d) = &r.digest {
        parts.push(d[..19.min(d.len())].to_string() + "…");
    }
    if !parts.is_empty() {
        s.push_str(&format!(" ({})", parts.join(", ")));
    }
    s
}

/// The releases of every service a tree's records name (service -> environment -> release).
pub fn of_tree(tree: &Tree) -> BTreeMap<String, BTreeMap<String, Release>> {
    tree.iter()
        .filter_map(|(path, f)| match (&f.owner, layout::place(path)) {
            (Owner::Service(s), Some(p)) if p.area == Area::Record => {
                let r: Record = serde_json::from_str(&f.content).ok()?;
                Some((s.clone(), r.releases))
            }
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::sha256;

    const V1: &str = "1111111111111111111111111111111111111111";
    const V2: &str = "2222222222222222222222222222222222222222";

    fn release(sha: &str) -> Release {
        Release {
            sha: sha.into(),
            tag: sha.into(),
            digest: None,
        }
    }

    fn record(sha: &str, files: &[(&str, &str)], envs: &[&str]) -> Record {
        Record {
            service: Some("api".into()),
            owner: None,
            source: Some(crate::record::SourceRef {
                repository: "https://git.example/api".into(),
                sha: sha.into(),
            }),
            environments: Some(envs.iter().map(|e| e.to_string()).collect()),
            team: Some("t".into()),
            usd_month: None,
            pctl_version: "0".into(),
            files: files
                .iter()
                .map(|(p, c)| (p.to_string(), sha256(c)))
                .collect(),
            classes: BTreeMap::new(),
            provides: None,
            exemptions: Vec::new(),
            releases: envs.iter().map(|e| (e.to_string(), release(sha))).collect(),
            intents: [(sha.to_string(), serde_json::json!({"v": sha}))].into(),
        }
    }

    fn tree_of(rec: &Record, files: &[(&str, &str)]) -> Tree {
        let owner = Owner::Service("api".into());
        let mut t: Tree = files
            .iter()
            .map(|(p, c)| {
                (
                    p.to_string(),
                    RenderedFile {
                        content: c.to_string(),
                        owner: owner.clone(),
                        class: None,
                    },
                )
            })
            .collect();
        t.insert(
            layout::record_path(&owner),
            RenderedFile {
                content: rec.to_text(),
                owner,
                class: None,
            },
        );
        t
    }

    #[test]
    fn a_held_environment_keeps_its_files_and_release() {
        let old = [
            ("apps/dev/api/deployment.yaml", "image: api:v1\n"),
            ("apps/prod/api/deployment.yaml", "image: api:v1\n"),
            ("docs/api.md", "v1\n"),
        ];
        let new = [
            ("apps/dev/api/deployment.yaml", "image: api:v2\n"),
            ("apps/prod/api/deployment.yaml", "image: api:v2\n"),
            ("docs/api.md", "v2\n"),
        ];
        let tip = record(V1, &old, &["dev", "prod"]);
        let mut tree = tree_of(&record(V2, &new, &["dev", "prod"]), &new);
        let read = |p: &str| {
            old.iter()
                .find(|(q, _)| *q == p)
                .map(|(_, c)| c.as_bytes().to_vec())
        };
        let writes = Writes {
            keep: ["prod".to_string()].into(),
            only: None,
            shared: true,
        };
        hold(
            &mut tree,
            &[("api".to_string(), writes)].into(),
            &|_| Some(tip.clone()),
            &read,
        )
        .unwrap();
        assert_eq!(
            tree["apps/dev/api/deployment.yaml"].content,
            "image: api:v2\n"
        );
        assert_eq!(
            tree["apps/prod/api/deployment.yaml"].content,
            "image: api:v1\n"
        );
        assert_eq!(tree["docs/api.md"].content, "v2\n");
        let rec: Record = serde_json::from_str(&tree[".pctl/services/api.json"].content).unwrap();
        assert_eq!(rec.releases["dev"].sha, V2);
        assert_eq!(rec.releases["prod"].sha, V1);
        assert_eq!(
            rec.intents.len(),
            2,
            "both running versions keep their intent"
        );
        assert_eq!(
            rec.files["apps/prod/api/deployment.yaml"],
            sha256("image: api:v1\n")
        );
        // The record verifies: every release has its intent, no intent is orphaned.
        crate::record::verify(".pctl/services/api.json", rec.to_text().as_bytes()).unwrap();
    }

    #[test]
    fn a_manual_environment_never_deployed_gets_nothing() {
        let new = [
            ("apps/dev/api/deployment.yaml", "v2\n"),
            ("apps/prod/api/deployment.yaml", "v2\n"),
        ];
        let mut tree = tree_of(&record(V2, &new, &["dev", "prod"]), &new);
        let writes = Writes {
            keep: ["prod".to_string()].into(),
            only: None,
            shared: true,
        };
        hold(
            &mut tree,
            &[("api".to_string(), writes)].into(),
            &|_| None,
            &|_| None,
        )
        .unwrap();
        assert!(!tree.contains_key("apps/prod/api/deployment.yaml"));
        let rec: Record = serde_json::from_str(&tree[".pctl/services/api.json"].content).unwrap();
        assert_eq!(rec.releases.keys().collect::<Vec<_>>(), ["dev"]);
        assert!(!rec.files.contains_key("apps/prod/api/deployment.yaml"));
    }

    #[test]
    fn a_promotion_writes_one_environment_and_keeps_the_description() {
        let tip_files = [
            ("apps/dev/api/deployment.yaml", "v2\n"),
            ("apps/prod/api/deployment.yaml", "v1\n"),
            ("docs/api.md", "v2\n"),
        ];
        let mut tip = record(V2, &tip_files, &["dev"]);
        tip.releases.insert("prod".into(), release(V1));
        tip.intents.insert(V1.into(), serde_json::json!({"v": V1}));
        // prod rendered from dev's version (v2), docs rendered too but not written.
        let promoted = [
            ("apps/dev/api/deployment.yaml", "v2-rendered-again\n"),
            ("apps/prod/api/deployment.yaml", "v2\n"),
            ("docs/api.md", "docs of v2 rendered again\n"),
        ];
        let mut tree = tree_of(&record(V2, &promoted, &["dev", "prod"]), &promoted);
        let read = |p: &str| {
            tip_files
                .iter()
                .find(|(q, _)| *q == p)
                .map(|(_, c)| c.as_bytes().to_vec())
        };
        let writes = Writes {
            keep: BTreeSet::new(),
            only: Some("prod".into()),
            shared: false,
        };
        hold(
            &mut tree,
            &[("api".to_string(), writes)].into(),
            &|_| Some(tip.clone()),
            &read,
        )
        .unwrap();
        assert_eq!(tree["apps/prod/api/deployment.yaml"].content, "v2\n");
        assert_eq!(tree["apps/dev/api/deployment.yaml"].content, "v2\n");
        assert_eq!(tree["docs/api.md"].content, "v2\n");
        let rec: Record = serde_json::from_str(&tree[".pctl/services/api.json"].content).unwrap();
        assert_eq!(rec.releases["prod"].sha, V2);
        assert_eq!(rec.releases["dev"].sha, V2);
        assert_eq!(
            rec.intents.keys().collect::<Vec<_>>(),
            [V2],
            "v1 runs nowhere now"
        );
        assert_eq!(rec.environments, tip.environments);
    }

    #[test]
    fn an_environment_the_intent_dropped_is_not_kept() {
        // staging is gone from the intent (not rendered) and not kept: its files go.
        let old = [("apps/staging/api/deployment.yaml", "v1\n")];
        let new = [("apps/dev/api/deployment.yaml", "v2\n")];
        let tip = record(V1, &old, &["staging"]);
        let mut tree = tree_of(&record(V2, &new, &["dev"]), &new);
        let writes = Writes {
            keep: BTreeSet::new(),
            only: None,
            shared: true,
        };
        let read = |_: &str| Some(b"v1\n".to_vec());
        hold(
            &mut tree,
            &[("api".to_string(), writes)].into(),
            &|_| Some(tip.clone()),
            &read,
        )
        .unwrap();
        assert!(!tree.contains_key("apps/staging/api/deployment.yaml"));
        let rec: Record = serde_json::from_str(&tree[".pctl/services/api.json"].content).unwrap();
        assert_eq!(rec.releases.keys().collect::<Vec<_>>(), ["dev"]);
    }

    #[test]
    fn previous_environment_in_order() {
        let order: Vec<String> = ["dev", "staging", "prod"].map(String::from).into();
        assert_eq!(previous(&order, "prod"), Some("staging"));
        assert_eq!(previous(&order, "dev"), None);
        assert_eq!(previous(&order, "qa"), None);
    }
}
