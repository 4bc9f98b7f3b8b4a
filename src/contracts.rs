//! Where a single application's run finds its dependencies' contracts (what each callee
//! provides: Service, namespace, ports; see pctl_core::contract): the verified `.pctl/` records
//! of the deploy repository (`diff`, `publish`) or of the output folder (`render --out`).
//! A run over the whole organisation needs none: every intent is there.

use crate::git;
use pctl_core::contract::Directory;
use pctl_core::diag::Diagnostic;
use std::path::Path;

/// Where the records are.
#[derive(Debug, Clone)]
pub enum Source {
    /// An output folder of `render --out`.
    Folder(std::path::PathBuf),
    /// The deploy repository (its organisation's deploy branch), and a token for https.
    Repository { url: String, token: Option<String> },
}

/// The contracts recorded where `from` says.
pub fn read(from: &Source, org: &pctl_core::model::Org) -> Result<Directory, Diagnostic> {
    match from {
        Source::Folder(dir) => Ok(from_folder(dir)),
        Source::Repository { url, token } => {
            let branch = org
                .spec
                .deploy_repository
                .branch
                .as_deref()
                .unwrap_or("main");
            from_deploy_repo(url, branch, token.clone())
        }
    }
}

/// The contracts recorded in an output folder pctl rendered into (none when it has no records).
pub fn from_folder(dir: &Path) -> Directory {
    if !dir.join(pctl_core::layout::STATE_DIR).is_dir() {
        return Directory::new();
    }
    crate::outdir::claims(dir).contracts()
}

/// The contracts recorded at the tip of `branch` of the deploy repository, through a private
/// bare clone (an empty repository or branch has none).
pub fn from_deploy_repo(
    url: &str,
    branch: &str,
    token: Option<String>,
) -> Result<Directory, Diagnostic> {
    let remote = git::Remote::new(url, token, "publish/remote");
    let tmp = tempfile::tempdir().map_err(|e| {
        Diagnostic::error(
            "publish/tempdir",
            format!("cannot create a temporary folder: {e}"),
        )
    })?;
    let repo = git::open_clone(&remote, tmp.path())?;
    git::fetch(&repo, &remote, &["+refs/heads/*:refs/remotes/origin/*"])?;
    let Some(commit) = git::remote_tip(&repo, branch) else {
        return Ok(Directory::new());
    };
    let tree = commit.tree().map_err(|e| remote.error("cannot read", &e))?;
    let tip = crate::deploy_tree::Tip::new(&repo, Some(&tree))
        .map_err(|e| remote.error("cannot read", &e))?;
    Ok(tip.claims().contracts())
}
