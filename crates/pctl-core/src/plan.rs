//! Stage 6, plan: what pctl owns in a deploy tree (the `.pctl/` records) and the vocabulary of
//! a plan (what must change in a target to make it equal to a rendered tree). The targets
//! themselves (an output folder, a deploy repository) are the binary's edges.

use crate::digest::sha256;
use crate::expand::{Owner, RenderedFile, Tree};
use crate::resolve::Service;
use std::collections::BTreeMap;

pub const STATE_DIR: &str = ".pctl";

/// The environment a deploy-tree path belongs to: `apps/<env>/…`, `terraform/<env>/…`,
/// `clusters/<env>/…`.
pub fn env_of(path: &str) -> Option<&str> {
    let mut parts = path.split('/');
    match parts.next()? {
        "apps" | "terraform" | "clusters" => parts.next(),
        _ => None,
    }
}

/// Adds one record per service (`.pctl/services/<name>.json`) and one for the organisation's
/// files: path -> content hash, plus where the content came from. A publish uses them to know
/// which files are pctl's, and whether someone edited one by hand.
pub fn add_state(tree: &mut Tree, services: &[Service], costs: &[crate::cost::Line]) {
    let mut by_owner: BTreeMap<Owner, BTreeMap<String, String>> = BTreeMap::new();
    for (path, f) in tree.iter() {
        by_owner
            .entry(f.owner.clone())
            .or_default()
            .insert(path.clone(), sha256(&f.content));
    }
    let version = env!("CARGO_PKG_VERSION");
    for (owner, files) in by_owner {
        let (path, record) = match &owner {
            Owner::Org => (
                format!("{STATE_DIR}/organisation.json"),
                serde_json::json!({"owner": "organisation", "pctl_version": version, "files": files}),
            ),
            // Rendered only by runs over the whole organisation; its own record, so that a
            // single service's run neither claims nor deletes these files.
            Owner::Catalog => (
                format!("{STATE_DIR}/catalog.json"),
                serde_json::json!({"owner": owner.name(), "pctl_version": version, "files": files}),
            ),
            Owner::Service(name) => {
                let svc = services.iter().find(|s| &s.name == name);
                let envs: Vec<&str> = svc
                    .map(|s| s.deployments.iter().map(|d| d.env.as_str()).collect())
                    .unwrap_or_default();
                (
                    format!("{STATE_DIR}/services/{name}.json"),
                    serde_json::json!({
                        "service": name,
                        "source": svc.map(|s| serde_json::json!({"repository": s.source.repository, "sha": s.source.sha})),
                        "environments": envs,
                        "team": svc.and_then(|s| s.context["service"]["owner"].as_str()),
                        "usd_month": crate::cost::total(&costs.iter().filter(|l| &l.service == name).cloned().collect::<Vec<_>>()),
                        "pctl_version": version,
                        "files": files,
                    }),
                )
            }
        };
        let mut content = serde_json::to_string_pretty(&record).expect("json");
        content.push('\n');
        tree.insert(path, RenderedFile { content, owner });
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Action {
    Add = 0,
    Change = 1,
    Delete = 2,
}

#[derive(Debug, Default)]
pub struct Plan {
    pub changes: BTreeMap<String, Action>,
    /// Files the tree and the folder agree on, including the kept ones.
    pub unchanged: usize,
    /// Files of render cache hits, kept as they are without being rendered or read.
    pub kept: usize,
}

impl Plan {
    pub fn count(&self, a: Action) -> usize {
        self.changes.values().filter(|x| **x == a).count()
    }
}

/// One file a plan changes, with both sides (for diffs and reviews).
#[derive(Debug, Clone)]
pub struct Change {
    pub path: String,
    pub action: Action,
    /// `organisation` or the service name.
    pub owner: String,
    pub old: Option<Vec<u8>>,
    pub new: Option<String>,
}
