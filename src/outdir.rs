//! The output folder of `render --out`: compare a rendered tree with it, write only what
//! changed (temporary file + rename, in parallel) and delete only files pctl recorded there.

use pctl_core::diag::Diagnostic;
use pctl_core::expand::{RenderedFile, Tree};
use pctl_core::plan::{Action, Plan, STATE_DIR};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;

/// Paths recorded in a folder's `.pctl/` state: everything pctl generated there before.
/// Paths recorded in a folder's `.pctl/` state, with the owner that recorded them.
fn recorded_paths(dir: &Path) -> BTreeMap<String, String> {
    use rayon::prelude::*;
    /// What a record says about ownership (the content hashes are not needed here).
    #[derive(serde::Deserialize)]
    struct Owned {
        service: Option<serde_json::Value>,
        owner: Option<serde_json::Value>,
        #[serde(default)]
        files: BTreeMap<String, serde::de::IgnoredAny>,
    }
    let state = dir.join(STATE_DIR);
    let records: Vec<std::path::PathBuf> = walkdir::WalkDir::new(&state)
        .follow_links(false)
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file() && e.path().extension().is_some_and(|x| x == "json"))
        .map(|e| e.into_path())
        .collect();
    // One record per service: read and parsed in parallel.
    let read: Vec<(String, String, Vec<String>)> = records
        .par_iter()
        .filter_map(|path| {
            let text = std::fs::read_to_string(path).ok()?;
            let (owner, files) = match serde_json::from_str::<Owned>(&text) {
                Ok(o) => (
                    o.service.or(o.owner),
                    o.files.into_keys().collect::<Vec<_>>(),
                ),
                Err(_) => {
                    let v = serde_json::from_str::<serde_json::Value>(&text).ok()?;
                    let files = v
                        .get("files")
                        .and_then(|f| f.as_object())
                        .map(|f| f.keys().cloned().collect())
                        .unwrap_or_default();
                    (v.get("service").or_else(|| v.get("owner")).cloned(), files)
                }
            };
            let owner = owner
                .as_ref()
                .and_then(|s| s.as_str())
                .unwrap_or("organisation")
                .to_string();
            let rel = path.strip_prefix(dir).ok()?;
            Some((rel.to_string_lossy().replace('\\', "/"), owner, files))
        })
        .collect();
    let mut paths = BTreeMap::new();
    for (record, owner, files) in read {
        for f in files {
            paths.insert(f, owner.clone());
        }
        paths.insert(record, owner);
    }
    paths
}

/// Compares a rendered tree with a folder. Refuses a non-empty folder pctl did not write, so a
/// mistyped `--out` can never delete or overwrite someone's files.
///
/// `partial`: some services of the run failed. Their earlier output must survive, and a failed
/// service cannot always be named (its file may not even parse), so only the owners this run
/// rendered may lose files.
///
/// `kept`: services whose files in the folder are left as they are (render cache hits): their
/// recorded files count as unchanged and are never deleted.
pub fn plan_dir(
    dir: &Path,
    tree: &Tree,
    partial: bool,
    kept: &BTreeSet<String>,
) -> Result<Plan, Diagnostic> {
    check_dir(dir)?;
    let mut plan = plan_files(dir, tree);
    let rendered: BTreeSet<String> = tree.values().map(|f| f.owner.name()).collect();
    let deletions = plan_deletions(dir, &|p| tree.contains_key(p), &rendered, partial, kept);
    plan.kept = deletions.kept;
    plan.unchanged += deletions.kept;
    plan.changes.extend(deletions.changes);
    Ok(plan)
}

/// Refuses a folder that is not a folder, or is not empty and was not written by pctl.
pub fn check_dir(dir: &Path) -> Result<(), Diagnostic> {
    if dir.exists() {
        if !dir.is_dir() {
            return Err(Diagnostic::error(
                "out/not-a-folder",
                format!("`{}` exists and is not a folder", dir.display()),
            ));
        }
        let empty = std::fs::read_dir(dir)
            .map(|mut r| r.next().is_none())
            .unwrap_or(false);
        if !empty && !dir.join(STATE_DIR).is_dir() {
            return Err(Diagnostic::error(
                "out/not-pctl",
                format!("`{}` is not empty and was not written by pctl (it has no {STATE_DIR}/ folder)", dir.display()),
            )
            .help("render into a new or empty folder; to update a deploy repository use `pctl publish`"));
        }
    }
    Ok(())
}

/// The files of `tree` to add or change in `dir` (compared byte for byte, in parallel).
pub fn plan_files(dir: &Path, tree: &Tree) -> Plan {
    use rayon::prelude::*;
    let mut plan = Plan::default();
    let files: Vec<(&String, &RenderedFile)> = tree.iter().collect();
    let compared: Vec<(&String, Option<Action>)> = files
        .par_iter()
        .map(|(path, f)| {
            let action = match std::fs::read(dir.join(path)) {
                Ok(bytes) if bytes == f.content.as_bytes() => None,
                Ok(_) => Some(Action::Change),
                Err(_) => Some(Action::Add),
            };
            (*path, action)
        })
        .collect();
    for (path, action) in compared {
        match action {
            None => plan.unchanged += 1,
            Some(a) => {
                plan.changes.insert(path.clone(), a);
            }
        }
    }
    plan
}

/// The files pctl recorded in `dir` that a run no longer renders: deletions only (`kept` is
/// the number of recorded files of `kept` owners). `rendered_path`: whether the run rendered a
/// path; `rendered`: the owners it rendered (see [`plan_dir`] for `partial` and `kept`).
pub fn plan_deletions(
    dir: &Path,
    rendered_path: &dyn Fn(&str) -> bool,
    rendered: &BTreeSet<String>,
    partial: bool,
    kept: &BTreeSet<String>,
) -> Plan {
    let mut plan = Plan::default();
    for (path, owner) in recorded_paths(dir) {
        if rendered_path(&path) {
            continue;
        }
        if kept.contains(&owner) {
            plan.kept += 1;
            continue;
        }
        if partial && !rendered.contains(&owner) {
            continue;
        }
        if dir.join(&path).is_file() {
            plan.changes.insert(path, Action::Delete);
        }
    }
    plan
}

/// Applies a plan: writes added and changed files (temporary file + rename, so no file is ever
/// half-written; in parallel, since creating files is most of a large render's system time)
/// and deletes files pctl generated that are no longer rendered.
/// `on_file` is called (from any thread) after each file written, for progress reports.
pub fn apply(
    dir: &Path,
    tree: &Tree,
    plan: &Plan,
    on_file: &(dyn Fn() + Sync),
) -> anyhow::Result<()> {
    use anyhow::Context;
    use rayon::prelude::*;
    let writes: Vec<&String> = plan
        .changes
        .iter()
        .filter(|(_, a)| **a != Action::Delete)
        .map(|(p, _)| p)
        .collect();
    // Folders first, once each (sorted paths: a folder's files are adjacent).
    let mut folders: Vec<&Path> = writes
        .iter()
        .filter_map(|p| Path::new(p.as_str()).parent())
        .collect();
    folders.dedup();
    for f in folders {
        let parent = dir.join(f);
        std::fs::create_dir_all(&parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    writes
        .par_iter()
        .try_for_each(|path| -> anyhow::Result<()> {
            let target = dir.join(path);
            let parent = target.parent().expect("relative paths have a parent");
            let mut tmp = tempfile::NamedTempFile::new_in(parent)
                .with_context(|| format!("writing in {}", parent.display()))?;
            tmp.write_all(tree[*path].content.as_bytes())?;
            tmp.persist(&target)
                .with_context(|| format!("writing {}", target.display()))?;
            on_file();
            Ok(())
        })?;
    for (path, _) in plan.changes.iter().filter(|(_, a)| **a == Action::Delete) {
        let target = dir.join(path);
        std::fs::remove_file(&target).with_context(|| format!("deleting {}", target.display()))?;
        // Remove folders left empty, up to the output root.
        let mut p = target.parent();
        while let Some(d) = p {
            if d == dir || std::fs::remove_dir(d).is_err() {
                break;
            }
            p = d.parent();
        }
    }
    Ok(())
}
