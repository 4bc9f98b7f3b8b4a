//! Where the files go, writing them (never over a file without `--force`, never half-written),
//! and the next steps.

use super::files::{
    ORG_CHECKOUT, WorkflowOrg, deploy_branch, dev_env, gitops_name, platform_yaml, readme_heading,
    readme_section, workflow_yaml,
};
use super::{Answers, EXIT_INVALID, EXIT_USAGE, Kind, OrgInfo, Output, WORKFLOW, display};
use crate::exit::OK as EXIT_OK;
use crate::report;
use crate::report::Format;
use pctl_core::diag::Diagnostic;
use pctl_core::source::SourceFile;
use pctl_core::validate::{self, Capabilities};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// Where a new service goes without `--dir`: the current folder when it is the root of a git
/// repository without a platform.yaml (a new application repository), else `./NAME`.
pub fn default_dir(name: &str) -> PathBuf {
    let here = Path::new(".");
    if here.join(".git").exists() && !here.join(crate::discover::INTENT_FILE).exists() {
        here.to_path_buf()
    } else {
        PathBuf::from(name)
    }
}

/// The git repository (its work tree) a folder is in, looking from its nearest existing
/// ancestor.
fn repository_of(dir: &Path) -> Option<git2::Repository> {
    let abs = std::path::absolute(dir).ok()?;
    let existing = abs.ancestors().find(|p| p.exists())?;
    git2::Repository::discover(existing).ok()
}

/// A repository's `origin` as an https URL for `metadata.repository` and the workflow
/// (credentials removed; `git@host:owner/name.git` and `ssh://` remotes become https).
fn origin_url(repo: &git2::Repository) -> Option<String> {
    let remote = repo.find_remote("origin").ok()?;
    let url = remote.url().ok()?.trim_end_matches('/');
    let url = url.strip_suffix(".git").unwrap_or(url);
    let https = if let Some(rest) = url.strip_prefix("git@") {
        let (host, path) = rest.split_once(':')?;
        format!("https://{host}/{path}")
    } else if let Some(rest) = url.strip_prefix("ssh://") {
        let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
        format!("https://{rest}")
    } else if url.starts_with("https://") || url.starts_with("http://") {
        crate::redact::url(url)
    } else {
        return None;
    };
    let ok = https
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-._~:/".contains(c));
    ok.then_some(https)
}

/// `owner/name` of a github.com URL.
fn github_repository(url: &str) -> Option<String> {
    let path = url.strip_prefix("https://github.com/")?;
    let (owner, name) = path.split_once('/')?;
    (!name.contains('/')).then(|| format!("{owner}/{name}"))
}

/// How the workflow finds the organisation config: a path in the application repository, or
/// a checkout of the platform repository it lives in (github.com).
fn workflow_org(org_file: Option<&Path>, dir: &Path) -> (WorkflowOrg, Option<Diagnostic>) {
    let Some(file) = org_file else {
        return (WorkflowOrg::default(), None);
    };
    let (Ok(f), Ok(d)) = (std::path::absolute(file), std::path::absolute(dir)) else {
        return (WorkflowOrg::default(), None);
    };
    let app_root = repository_of(dir).and_then(|r| r.workdir().map(Path::to_path_buf));
    let within = app_root.as_deref().unwrap_or(&d);
    if let Ok(rel) = f.strip_prefix(within) {
        // In the application repository: a path relative to the service's folder.
        if let Ok(rel) = f.strip_prefix(&d) {
            let rel = rel.to_string_lossy().replace('\\', "/");
            return (
                WorkflowOrg {
                    config: Some(rel),
                    checkout: None,
                },
                None,
            );
        }
        let _ = rel;
    }
    let org_repo = f.parent().and_then(|p| git2::Repository::discover(p).ok());
    let checkout = org_repo.as_ref().and_then(|r| {
        let root = r.workdir()?;
        let rel = f
            .strip_prefix(root)
            .ok()?
            .to_string_lossy()
            .replace('\\', "/");
        let repo = github_repository(&origin_url(r)?)?;
        Some((repo, rel))
    });
    match checkout {
        Some((repo, rel)) => (
            WorkflowOrg {
                config: Some(format!("{ORG_CHECKOUT}/{rel}")),
                checkout: Some(repo),
            },
            None,
        ),
        None => (
            WorkflowOrg::default(),
            Some(
                Diagnostic::warning(
                    "new/org-not-in-ci",
                    format!(
                        "the workflow cannot find the organisation config {} in CI: it is outside the application repository and not in a GitHub repository pctl can name",
                        display(file)
                    ),
                )
                .help(format!(
                    "set the action's `org-config` input in {WORKFLOW}, or check out your platform repository in the workflow"
                )),
            ),
        ),
    }
}

pub fn write_service(
    ans: &Answers,
    dir: &Path,
    org: &OrgInfo,
    caps: &Capabilities,
    force: bool,
    out: &Output,
) -> u8 {
    let platform_path = dir.join("platform.yaml");
    let workflow_path = dir.join(WORKFLOW);
    let readme_path = dir.join("README.md");

    let app_repo = repository_of(dir);
    let (org_ref, org_warning) = workflow_org(org.file.as_deref(), dir);
    let repository = app_repo.as_ref().and_then(origin_url);
    let platform = platform_yaml(ans, &org.org, repository.as_deref());
    let workflow = workflow_yaml(ans, &org.org, &org_ref);

    // The generated platform.yaml must pass exactly what `pctl validate` checks.
    let file = SourceFile::new(display(&platform_path), platform.clone());
    out.sources.add(file.clone());
    let (_, diags) = validate::check_intent(&file, &org.org, caps);
    if diags.iter().any(Diagnostic::is_error) {
        let mut diags = diags;
        diags.push(
            Diagnostic::error(
                "new/invalid",
                "the generated platform.yaml does not validate: this is a bug in `pctl new`",
            )
            .help("report it with the command line you used"),
        );
        return out.fail(&diags, EXIT_INVALID);
    }
    let mut warnings = diags;
    warnings.extend(org_warning);
    // GitHub runs only workflows in `.github/workflows/` at the root of a repository.
    let root = app_repo
        .as_ref()
        .and_then(|r| r.workdir().and_then(|w| std::path::absolute(w).ok()));
    if let (Some(root), Ok(d)) = (root, std::path::absolute(dir)) {
        let d: PathBuf = d.components().collect();
        let root: PathBuf = root.components().collect();
        if d != root && d.starts_with(&root) {
            warnings.push(
                Diagnostic::warning(
                    "new/nested-workflow",
                    format!(
                        "GitHub will never run `{}`: `{}` is inside the git repository at {}, and GitHub runs only workflows in `.github/workflows/` at a repository's root",
                        display(&dir.join(WORKFLOW)),
                        display(dir),
                        root.display()
                    ),
                )
                .help(format!(
                    "move the workflow to {}/.github/workflows/ and set its `working-directory` to the service's folder, or run `pctl new` at the root of the service's own repository",
                    root.display()
                )),
            );
        }
    }

    if dir.exists() && !dir.is_dir() {
        let d = Diagnostic::error(
            "new/not-a-folder",
            format!("`{}` exists and is not a folder", display(dir)),
        )
        .help("pass --dir with a new or existing folder");
        return out.fail(&[d], EXIT_USAGE);
    }
    if !force {
        let existing: Vec<Diagnostic> = [&platform_path, &workflow_path]
            .into_iter()
            .filter(|p| p.exists())
            .map(|p| {
                Diagnostic::error(
                    "new/exists",
                    format!("`{}` already exists; refusing to overwrite it", display(p)),
                )
                .help("pass --force to overwrite it, or --dir to write somewhere else")
            })
            .collect();
        if !existing.is_empty() {
            return out.fail(&existing, EXIT_USAGE);
        }
    }

    let existing_readme = std::fs::read_to_string(&readme_path).ok();
    let readme_done = existing_readme
        .as_deref()
        .is_some_and(|r| r.lines().any(|l| l.trim_end() == readme_heading(&ans.name)));
    let section = readme_section(ans, &org.org, None);
    let readme = match &existing_readme {
        _ if readme_done => None,
        None => Some(readme_section(ans, &org.org, Some(&ans.name))),
        Some(r) if r.is_empty() => Some(section.clone()),
        Some(r) => Some(format!(
            "{r}{}\n{section}",
            if r.ends_with('\n') { "" } else { "\n" }
        )),
    };

    let mut written = Vec::new();
    let write = |path: &Path, text: &str| -> Result<(), Diagnostic> {
        let fail = |e: std::io::Error| {
            Diagnostic::error(
                "new/write",
                format!("cannot write `{}`: {e}", display(path)),
            )
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(fail)?;
        }
        // Temporary file + rename: an interrupted run leaves no half-written file.
        let tmp = path.with_extension("pctl-new.tmp");
        std::fs::write(&tmp, text).map_err(fail)?;
        std::fs::rename(&tmp, path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            fail(e)
        })
    };
    let mut files: Vec<(&Path, &str, &str)> = vec![
        (&platform_path, platform.as_str(), "wrote"),
        (&workflow_path, workflow.as_str(), "wrote"),
    ];
    if let Some(r) = &readme {
        files.push((
            &readme_path,
            r.as_str(),
            if existing_readme.is_some() {
                "appended to"
            } else {
                "wrote"
            },
        ));
    }
    for (path, text, verb) in files {
        if let Err(d) = write(path, text) {
            return out.fail(&[d], EXIT_USAGE);
        }
        written.push((display(path), verb));
    }

    report::emit(
        &warnings,
        &out.sources,
        out.format,
        summary(ans, dir, org, &written),
    );
    if out.format != Format::Json {
        let _ = anstream::stdout()
            .write_all(next_steps(ans, dir, org, &written, readme_done).as_bytes());
    }
    EXIT_OK
}

pub fn summary(
    ans: &Answers,
    dir: &Path,
    org: &OrgInfo,
    written: &[(String, &str)],
) -> serde_json::Value {
    let envs: Vec<serde_json::Value> = org
        .org
        .spec
        .environments
        .iter()
        .map(|e| {
            serde_json::json!({
                "name": e.name,
                "path": format!("apps/{}/{}/", e.name, ans.name),
                "url": (ans.kind == Kind::Service).then(|| format!("https://{}.{}/", ans.name, e.domain)),
            })
        })
        .collect();
    serde_json::json!({
        "service": ans.name,
        "kind": ans.kind.as_str(),
        "owner": ans.owner,
        "dir": display(dir),
        "files": written.iter().map(|(p, _)| p).collect::<Vec<_>>(),
        "environments": envs,
        "written": true,
    })
}

pub fn next_steps(
    ans: &Answers,
    dir: &Path,
    org: &OrgInfo,
    written: &[(String, &str)],
    readme_done: bool,
) -> String {
    let name = &ans.name;
    let o = &org.org;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "created {name} ({}, owned by {}) in {}/",
        ans.kind.as_str(),
        ans.owner,
        display(dir)
    );
    for (p, verb) in written {
        let _ = writeln!(s, "  {verb} {p}");
    }
    if readme_done {
        let _ = writeln!(
            s,
            "  kept {} (it already explains the deployment)",
            display(&dir.join("README.md"))
        );
    }
    let _ = writeln!(
        s,
        "\nIn the deploy repository ({}, branch `{}`), synced by {}:",
        crate::redact::url(&o.spec.deploy_repository.url),
        deploy_branch(o),
        gitops_name(o)
    );
    let previews = o.spec.previews.as_ref().map(|p| p.environment.as_str());
    for e in o
        .spec
        .environments
        .iter()
        .filter(|e| Some(e.name.as_str()) != previews)
    {
        let _ = writeln!(
            s,
            "  apps/{}/{name}/{}",
            e.name,
            if ans.resources.is_empty() {
                String::new()
            } else {
                format!("  and terraform/{}/{name}/", e.name)
            }
        );
    }
    match (ans.kind, dev_env(o)) {
        (Kind::Service, Some(e)) => {
            let _ = writeln!(s, "\nURL ({}):   https://{name}.{}/", e.name, e.domain);
        }
        (k, _) => {
            let _ = writeln!(
                s,
                "\nURL:         none (a {} receives no traffic)",
                k.as_str()
            );
        }
    }
    let _ = writeln!(
        s,
        "Dashboard:   Grafana dashboard `{name}` (its link appears in the deploy repository's catalog after the first publish)"
    );
    let _ = writeln!(
        s,
        "Runbook:     none yet: set `metadata.runbook` in platform.yaml"
    );
    let org_flag = match &org.file {
        Some(f) => format!(" --org {}", display(f)),
        None => String::new(),
    };
    let d = display(dir);
    let _ = writeln!(s, "\nNext steps:");
    let _ = writeln!(s, "  1. check it:    pctl validate {d}{org_flag}");
    let _ = writeln!(
        s,
        "  2. preview it:  pctl render {d}{org_flag}   (from a commit; before the first one add --source-sha <commit> --image-tag <tag>)"
    );
    let _ = writeln!(
        s,
        "  3. add the repository secret DEPLOY_REPO_TOKEN (push access to the deploy repository), then push:"
    );
    let _ = writeln!(
        s,
        "     pull requests show the diff, merges to the default branch publish"
    );
    s
}
