//! The output folder of `render --out`: a boundary pctl never crosses.
//!
//! - Only an empty folder, or one `render --out` wrote (it has `.pctl/` and is not a git work
//!   tree: a deploy checkout is published to, not rendered into), is accepted.
//! - Nothing is read, written or deleted through a symbolic link: a linked folder inside OUT
//!   is refused, a linked file is replaced, never written through.
//! - The records in `OUT/.pctl/` are verified like publish verifies a deploy repository's: a
//!   record that claims anything outside its owner's namespace is refused, nothing is deleted on
//!   its word.
//! - Exact "nothing was written": every part of a render is staged (temporary files beside
//!   their targets) and moved into place only when the whole run succeeded; on any error the
//!   staged files and the folders made for them are removed.

use pctl_core::diag::Diagnostic;
use pctl_core::expand::Tree;
use pctl_core::plan::{Action, Plan, STATE_DIR, Target};
use pctl_core::record::Claims;
use rayon::prelude::*;
use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// An output folder, with the folders inside it already known to be real (not links).
pub struct Folder {
    root: PathBuf,
    real_dirs: Mutex<HashSet<PathBuf>>,
}

impl Folder {
    pub fn new(root: &Path) -> Folder {
        Folder {
            root: root.to_path_buf(),
            real_dirs: Mutex::new(HashSet::new()),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Whether every folder between the root and `rel`'s file is a real folder (or does not
    /// exist yet): nothing on the way is a symbolic link.
    fn inside(&self, rel: &str) -> bool {
        let mut dir = PathBuf::new();
        let parts: Vec<&str> = rel.split('/').collect();
        for part in &parts[..parts.len().saturating_sub(1)] {
            dir.push(part);
            if self.real_dirs.lock().expect("lock").contains(&dir) {
                continue;
            }
            match std::fs::symlink_metadata(self.root.join(&dir)) {
                Ok(m) if m.is_dir() => {
                    self.real_dirs.lock().expect("lock").insert(dir.clone());
                }
                Ok(_) => return false,
                // Not there yet: nothing below it can be a link either.
                Err(_) => return true,
            }
        }
        true
    }

    fn no_link(&self, rel: &str) -> Result<(), Diagnostic> {
        if self.inside(rel) {
            Ok(())
        } else {
            Err(Diagnostic::error(
                "out/symlink",
                format!(
                    "`{}` is inside a symbolic link in the output folder; pctl never writes or deletes through links",
                    pctl_core::diag::escape_control(rel)
                ),
            )
            .help("replace the link with a real folder, or render into a new folder"))
        }
    }
}

impl Target for Folder {
    fn same(&self, path: &str, content: &[u8]) -> Option<bool> {
        self.read(path).map(|b| b == content)
    }
    fn read(&self, path: &str) -> Option<Vec<u8>> {
        if !self.inside(path) {
            return None;
        }
        let full = self.root.join(path);
        // A link in the file's place is not a file of the folder: it is replaced, not read.
        match std::fs::symlink_metadata(&full) {
            Ok(m) if m.is_file() => std::fs::read(&full).ok(),
            _ => None,
        }
    }
}

/// Refuses a folder that is not a folder, or is not empty and was not written by
/// `render --out`, or is a git work tree (a deploy checkout).
pub fn check_dir(dir: &Path) -> Result<(), Diagnostic> {
    if !dir.exists() {
        return Ok(());
    }
    if !dir.is_dir() {
        return Err(Diagnostic::error(
            "out/not-a-folder",
            format!("`{}` exists and is not a folder", dir.display()),
        ));
    }
    let empty = std::fs::read_dir(dir)
        .map(|mut r| r.next().is_none())
        .unwrap_or(false);
    if empty {
        return Ok(());
    }
    if std::fs::symlink_metadata(dir.join(".git")).is_ok() {
        return Err(Diagnostic::error(
            "out/git-work-tree",
            format!("`{}` is a git work tree; render --out writes only into its own folders", dir.display()),
        )
        .help("to change a deploy repository use `pctl publish` (it checks ownership and hand edits); render into a new folder to look at the output"));
    }
    let state = std::fs::symlink_metadata(dir.join(STATE_DIR));
    if !state.is_ok_and(|m| m.is_dir()) {
        return Err(Diagnostic::error(
            "out/not-pctl",
            format!(
                "`{}` is not empty and was not written by pctl (it has no {STATE_DIR}/ folder)",
                dir.display()
            ),
        )
        .help(
            "render into a new or empty folder; to update a deploy repository use `pctl publish`",
        ));
    }
    Ok(())
}

/// The records of an output folder (`.pctl/**/*.json`, no links followed), verified.
pub fn claims(dir: &Path) -> Claims {
    let state = dir.join(STATE_DIR);
    let files: Vec<PathBuf> = walkdir::WalkDir::new(&state)
        .follow_links(false)
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file() && e.path().extension().is_some_and(|x| x == "json"))
        .map(|e| e.into_path())
        .collect();
    let read: Vec<(String, Vec<u8>)> = files
        .par_iter()
        .filter_map(|path| {
            let rel = path.strip_prefix(dir).ok()?;
            let rel = rel.to_string_lossy().replace('\\', "/");
            Some((rel, std::fs::read(path).ok()?))
        })
        .collect();
    Claims::verify(read)
}

/// The refusal for records that cannot be trusted.
pub fn forged(claims: &Claims) -> Vec<Diagnostic> {
    claims
        .forged
        .iter()
        .map(|f| {
            Diagnostic::error(
                "out/forged-record",
                format!("the record `{}` cannot be trusted: {}", f.record, f.reason),
            )
            .help("nothing was deleted on its word; remove the record (pctl rewrites it) or render into a new folder")
        })
        .collect()
}

/// Files written into place but not yet moved there: temporary files beside their targets,
/// and the folders made for them.
#[derive(Default)]
pub struct Staged {
    files: Vec<(tempfile::TempPath, PathBuf)>,
    made: Vec<PathBuf>,
}

impl Staged {
    /// Writes the added and changed files of `plan` next to their targets, in parallel.
    pub fn stage(&mut self, folder: &Folder, tree: &Tree, plan: &Plan) -> Result<(), Diagnostic> {
        let writes: Vec<&String> = plan
            .changes
            .iter()
            .filter(|c| c.action != Action::Delete)
            .map(|c| &c.path)
            .collect();
        for path in &writes {
            folder.no_link(path)?;
        }
        let mut folders: Vec<&Path> = writes
            .iter()
            .filter_map(|p| Path::new(p.as_str()).parent())
            .collect();
        folders.dedup();
        for f in folders {
            let mut made = Vec::new();
            let mut d = Some(f);
            while let Some(x) = d.filter(|x| !x.as_os_str().is_empty()) {
                if folder.root.join(x).exists() {
                    break;
                }
                made.push(folder.root.join(x));
                d = x.parent();
            }
            let full = folder.root.join(f);
            std::fs::create_dir_all(&full).map_err(|e| write_error(&full, &e))?;
            made.reverse();
            self.made.extend(made);
        }
        let staged: Vec<(tempfile::TempPath, PathBuf)> = writes
            .par_iter()
            .map(|path| -> Result<_, Diagnostic> {
                let target = folder.root.join(path);
                let parent = target.parent().expect("relative paths have a parent");
                let mut tmp =
                    tempfile::NamedTempFile::new_in(parent).map_err(|e| write_error(parent, &e))?;
                tmp.write_all(tree[*path].content.as_bytes())
                    .map_err(|e| write_error(&target, &e))?;
                Ok((tmp.into_temp_path(), target))
            })
            .collect::<Result<_, _>>()?;
        self.files.extend(staged);
        Ok(())
    }

    /// Moves every staged file into place, then deletes what `deletions` lists.
    pub fn commit(self, folder: &Folder, deletions: &Plan) -> Result<(), Diagnostic> {
        let Staged { files, .. } = self;
        files
            .into_par_iter()
            .try_for_each(|(tmp, target)| -> Result<(), Diagnostic> {
                tmp.persist(&target)
                    .map(|_| ())
                    .map_err(|e| write_error(&target, &e.error))
            })?;
        for c in deletions
            .changes
            .iter()
            .filter(|c| c.action == Action::Delete)
        {
            folder.no_link(&c.path)?;
            let target = folder.root.join(&c.path);
            std::fs::remove_file(&target).map_err(|e| write_error(&target, &e))?;
            // Remove folders left empty, up to the output root.
            let mut p = target.parent();
            while let Some(d) = p {
                if d == folder.root || std::fs::remove_dir(d).is_err() {
                    break;
                }
                p = d.parent();
            }
        }
        Ok(())
    }

    /// Removes everything staged: the folder is as it was.
    pub fn abort(self) {
        let Staged { files, made } = self;
        drop(files); // a TempPath deletes its file when dropped
        for d in made.iter().rev() {
            let _ = std::fs::remove_dir(d);
        }
    }
}

fn write_error(path: &Path, e: &std::io::Error) -> Diagnostic {
    Diagnostic::error("out/write", format!("cannot write {}: {e}", path.display()))
        .help("check the output folder's permissions and free space; nothing was changed in it")
}
