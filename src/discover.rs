//! Stage 1, discover: which platform.yaml files to read, which organisation config applies, and
//! where each intent came from (repository and commit, from git). The only stage besides plan's
//! writer and publish that looks at the file system or git.

use pctl_core::diag::Diagnostic;
use pctl_core::resolve::Source;
use std::path::{Path, PathBuf};

pub const INTENT_FILE: &str = "platform.yaml";
pub const ORG_FILE: &str = "pctl-org.yaml";

/// Folders never searched: VCS data, build output, dependencies, and hidden folders.
fn skipped(name: &str) -> bool {
    name.starts_with('.') || name == "target" || name == "node_modules"
}

/// The platform.yaml files under `root`. Without `all`, only `root/platform.yaml` (or `root`
/// itself when it is a file); with `all`, every one below `root` (symlinks are not followed, so
/// loops are impossible). Sorted, so discovery order never shows in the output.
pub fn find_intents(root: &Path, all: bool) -> Result<Vec<PathBuf>, Diagnostic> {
    if !root.exists() {
        return Err(Diagnostic::error(
            "usage/no-such-path",
            format!("`{}` does not exist", root.display()),
        ));
    }
    if root.is_file() {
        return Ok(vec![root.to_path_buf()]);
    }
    if !all {
        let p = root.join(INTENT_FILE);
        if p.exists() {
            return Ok(vec![p]);
        }
        return Err(Diagnostic::error(
            "usage/no-intent",
            format!("no {INTENT_FILE} in `{}`", root.display()),
        )
        .help("run pctl in an application repository, pass the path of a platform.yaml, or use --all to search every folder below"));
    }
    let mut found = Vec::new();
    let walker = walkdir::WalkDir::new(root)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| {
            e.depth() == 0 || !(e.file_type().is_dir() && skipped(&e.file_name().to_string_lossy()))
        });
    for entry in walker.flatten() {
        if entry.file_name() == INTENT_FILE {
            found.push(entry.path().to_path_buf());
        }
    }
    if found.is_empty() {
        return Err(Diagnostic::error(
            "usage/no-intent",
            format!("no {INTENT_FILE} found below `{}`", root.display()),
        ));
    }
    Ok(found)
}

/// The shard (1-based) a service belongs to out of `n`: from a hash of its name, so the
/// partition never depends on discovery order or on which other services exist.
pub fn shard_of(service: &str, n: u32) -> u32 {
    let h = pctl_core::digest::sha256(service);
    let v = u64::from_str_radix(&h[..16], 16).unwrap_or(0);
    (v % u64::from(n)) as u32 + 1
}

/// Where the organisation config comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrgSource {
    File(PathBuf),
    /// The example organisation built into the binary.
    Builtin,
}

/// The organisation config of a run: `explicit` (`--org`: the file, or a folder holding
/// `pctl-org.yaml`, such as a checkout of the platform repository), else the first
/// `pctl-org.yaml` in the folder of `root` or any folder above it (like cargo's config: a
/// monorepo or an organisation checkout keeps it at its top), else the built-in example.
pub fn find_org(root: &Path, explicit: Option<&Path>) -> OrgSource {
    if let Some(p) = explicit {
        if p.is_dir() {
            return OrgSource::File(p.join(ORG_FILE));
        }
        return OrgSource::File(p.to_path_buf());
    }
    let start = if root.is_file() {
        root.parent().unwrap_or(Path::new("."))
    } else {
        root
    };
    let start = if start.as_os_str().is_empty() {
        Path::new(".")
    } else {
        start
    };
    // Relative paths stay relative in messages: only the walk above the start is absolute.
    let candidate = start.join(ORG_FILE);
    if candidate.is_file() {
        return OrgSource::File(candidate);
    }
    let Ok(abs) = std::path::absolute(start) else {
        return OrgSource::Builtin;
    };
    let mut up = Vec::new();
    for dir in abs.ancestors().skip(1) {
        up.push("..");
        let candidate = dir.join(ORG_FILE);
        if candidate.is_file() {
            // `../../pctl-org.yaml` reads better than an absolute path for a relative start.
            let shown = if root.is_relative() {
                start.join(up.join("/")).join(ORG_FILE)
            } else {
                candidate
            };
            return OrgSource::File(shown);
        }
    }
    OrgSource::Builtin
}

/// The one line that says a run uses the built-in example organisation (stderr, once per
/// process; `-q` or `--format json` hide it).
pub fn builtin_org_notice() -> String {
    format!(
        "note: no {ORG_FILE} here or in a folder above: using pctl's built-in example organisation `acme` \
         (example teams, environments and deploy repository); pass --org PATH or set PCTL_ORG to use yours"
    )
}

/// What the user pinned on the command line; anything unpinned comes from git.
#[derive(Debug, Clone, Default)]
pub struct SourceOverrides {
    pub sha: Option<String>,
    pub image_tag: Option<String>,
    /// `--image-digest`: the digest of the image the pipeline built (every service of the run).
    pub image_digest: Option<String>,
    /// A review of the change that deploys nothing (`pctl diff`): without a digest, the
    /// `image_digest` guardrail only warns, so a pull request (built, not pushed) still shows
    /// its protected environments' diff.
    pub review_only: bool,
}

/// The repository of an intent: platform.yaml's `metadata.repository`, else the git remote
/// `origin` of `repo` (the checkout holding it), else GitHub Actions' repository; empty when
/// none says. Shown in every rendered file, record and catalog link: never with credentials,
/// whether declared or taken from an `origin` remote like `https://user:token@host/x`.
pub fn repository_of(repo: Option<&git2::Repository>, declared_repo: Option<&str>) -> String {
    declared_repo
        .map(crate::redact::url)
        .or_else(|| {
            repo.and_then(|r| r.find_remote("origin").ok())
                .and_then(|o| o.url().ok().map(crate::redact::url))
        })
        .or_else(|| {
            let server = std::env::var("GITHUB_SERVER_URL").ok()?;
            let name = std::env::var("GITHUB_REPOSITORY").ok()?;
            Some(crate::redact::url(&format!("{server}/{name}")))
        })
        .unwrap_or_default()
}

/// Provenance of a service whose repository nobody can tell (a local render before the first
/// `git remote add`): never written to a deploy repository (diff and publish refuse it).
pub const LOCAL_REPOSITORY: &str = "local-checkout";

/// The source of one intent: repository (platform.yaml's `metadata.repository`, else the git
/// remote `origin`, else GitHub Actions' repository; empty when none says), commit (`--source-sha`, else the repository's HEAD) and image tag
/// (`--image-tag`, else the commit) and digest (`--image-digest`, else none).
pub fn source_of(
    intent_path: &Path,
    declared_repo: Option<&str>,
    pins: &SourceOverrides,
) -> Result<Source, Diagnostic> {
    source_and_time(intent_path, declared_repo, pins).map(|(s, _)| s)
}

/// [`source_of`] and the committer time of that commit when the repository has it (what
/// `publish` records as `Pctl-Source-Time`), from one look for the repository: an
/// organisation-wide run asks this of thousands of intents (in parallel).
pub fn source_and_time(
    intent_path: &Path,
    declared_repo: Option<&str>,
    pins: &SourceOverrides,
) -> Result<(Source, Option<i64>), Diagnostic> {
    let dir = intent_path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let repo = git2::Repository::discover(dir).ok();
    let sha = match &pins.sha {
        Some(s) => s.clone(),
        None => repo
            .as_ref()
            .and_then(|r| r.head().ok())
            .and_then(|h| h.peel_to_commit().ok())
            .map(|c| c.id().to_string())
            .ok_or_else(|| {
                Diagnostic::error(
                    "usage/no-commit",
                    format!("cannot tell which commit `{}` is from: it is not in a git repository with commits", intent_path.display()),
                )
                .help("pass --source-sha (and --image-tag), or run inside the application's git checkout")
            })?,
    };
    let repository = repository_of(repo.as_ref(), declared_repo);
    let time = repo.as_ref().and_then(|r| crate::git::commit_time(r, &sha));
    let image_tag = pins.image_tag.clone().unwrap_or_else(|| sha.clone());
    Ok((
        Source {
            repository,
            sha,
            image_tag,
            image_digest: pins.image_digest.clone(),
        },
        time,
    ))
}
