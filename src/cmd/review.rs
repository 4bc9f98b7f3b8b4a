//! `pctl review --branch B`: the review of a branch of the deploy repository against the deploy
//! branch, read from the two trees alone: the one summary of a change that several runs made
//! together (the shards of an organisation-wide re-render each add a commit to one review
//! branch), within GitHub's limits like every summary pctl writes. Owners come from the layout
//! contract, file classes from the verified records, approvals from the branch's CODEOWNERS.

use crate::exit::{self, Report};
use crate::git::{self, Remote};
use crate::inputs::display;
use crate::report::Format;
use git2::{Delta, Repository};
use pctl_core::diag::Diagnostic;
use pctl_core::expand::{Owner, RenderedFile, Tree};
use pctl_core::layout::{self, OwnerKind};
use pctl_core::plan::{Action, Change, Plan};
use pctl_core::record::Claims;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// `pctl review` arguments.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// The deploy repository: a local path (bare or not), file://, git:// or https:// (token in PCTL_GIT_TOKEN)
    #[arg(long, value_name = "URL|PATH")]
    pub deploy_repo: String,
    /// The review branch
    #[arg(long, value_name = "BRANCH")]
    pub branch: String,
    /// The deploy branch it is compared with
    #[arg(long, value_name = "BRANCH", default_value = "main")]
    pub base: String,
    /// Environments whose changes need the protected-environment review (default: none;
    /// repeatable, e.g. --protected prod)
    #[arg(long, value_name = "ENV")]
    pub protected: Vec<String>,
    /// Also write the review here: summary.md (one comment), part-N.md (every diff, split), plan.json
    #[arg(long, value_name = "DIR")]
    pub report_dir: Option<PathBuf>,
}

pub fn run(args: &Args, format: Format) -> Report {
    match review(args, format) {
        Ok(r) => r,
        Err(d) => Report::new(vec![d], Default::default(), exit::USAGE),
    }
}

fn review(args: &Args, format: Format) -> Result<Report, Diagnostic> {
    let tmp = tempfile::tempdir().map_err(|e| {
        Diagnostic::error(
            "review/tmp",
            format!("cannot create a temporary folder: {e}"),
        )
    })?;
    let remote = Remote::new(&args.deploy_repo, git::token_from_env(), "review/remote");
    let repo = git::open_clone(&remote, tmp.path())?;
    let specs: Vec<String> = [&args.base, &args.branch]
        .iter()
        .map(|b| format!("+refs/heads/{b}:refs/remotes/origin/{b}"))
        .collect();
    let specs: Vec<&str> = specs.iter().map(String::as_str).collect();
    git::fetch(&repo, &remote, &specs)?;
    let tree_of = |branch: &str| {
        git::remote_tip(&repo, branch)
            .and_then(|c| c.tree().ok())
            .ok_or_else(|| {
                Diagnostic::error(
                    "review/no-branch",
                    format!("{} has no branch `{branch}`", remote.shown()),
                )
                .help("name the review branch the runs published to (--branch) and the deploy branch (--base)")
            })
    };
    let (base, head) = (tree_of(&args.base)?, tree_of(&args.branch)?);
    let read = |e: Option<git2::Oid>| -> Option<Vec<u8>> {
        let id = e.filter(|id| !id.is_zero())?;
        Some(repo.find_blob(id).ok()?.content().to_vec())
    };
    let fail = |e: git2::Error| remote.error("cannot read", &e);
    let diff = repo
        .diff_tree_to_tree(Some(&base), Some(&head), None)
        .map_err(fail)?;
    let (old_claims, new_claims) = (claims(&repo, &base), claims(&repo, &head));
    let mut changes = Vec::new();
    for d in diff.deltas() {
        let action = match d.status() {
            Delta::Added => Action::Add,
            Delta::Deleted => Action::Delete,
            Delta::Modified => Action::Change,
            _ => continue,
        };
        let file = if action == Action::Delete {
            d.old_file()
        } else {
            d.new_file()
        };
        let Some(path) = file.path().and_then(Path::to_str).map(str::to_string) else {
            continue;
        };
        let side = if action == Action::Delete {
            &old_claims
        } else {
            &new_claims
        };
        let class = side.files.get(&path).and_then(|(_, _, c)| *c);
        let new = read(Some(d.new_file().id())).map(|b| String::from_utf8_lossy(&b).into_owned());
        changes.push(Change {
            owner: owner_of(&path).name(),
            old: read(Some(d.old_file().id())),
            new: if action == Action::Delete { None } else { new },
            path,
            action,
            class,
        });
    }
    changes.sort_by(|a, b| a.path.cmp(&b.path));
    // What the branch still holds, by owner and environment: for the "removed from" lines.
    let mut held: Tree = Tree::new();
    head.walk(git2::TreeWalkMode::PreOrder, |dir, e| {
        if e.kind() == Some(git2::ObjectType::Blob) {
            let path = format!("{dir}{}", e.name().unwrap_or_default());
            held.insert(
                path.clone(),
                RenderedFile {
                    content: String::new(),
                    owner: owner_of(&path),
                    class: None,
                },
            );
        }
        git2::TreeWalkResult::Ok
    })
    .map_err(fail)?;
    let plan = Plan {
        changes,
        ..Plan::default()
    };
    let removals = pctl_core::plan::removals(&plan, &held, &[]);
    let owners: BTreeSet<String> = plan
        .changes
        .iter()
        .filter_map(|c| match layout::place(&c.path) {
            Some(p) if p.owner == OwnerKind::Service => p.service.map(str::to_string),
            _ => None,
        })
        .collect();
    let names: Vec<String> = owners.into_iter().collect();
    let ctx = pctl_core::review::Context {
        title: pctl_core::review::title(&names),
        protected_envs: args.protected.iter().cloned().collect(),
        destination: format!("{} `{}`", remote.shown(), args.branch),
        approvals: codeowners(read(
            head.get_path(Path::new(".github/CODEOWNERS"))
                .ok()
                .map(|e| e.id()),
        )),
    };
    let review = pctl_core::review::Review::new(&plan.changes, &removals, &ctx);
    let markdown = review.markdown();
    let summary = review.plan_json();
    if let Some(dir) = &args.report_dir {
        crate::report::github::write_reports(dir, &markdown, &review.split_parts(), &summary)
            .map_err(|e| {
                Diagnostic::error(
                    "report/write",
                    format!("cannot write the review into {}: {e}", display(dir)),
                )
                .help("choose a writable --report-dir")
            })?;
    }
    let mut report = Report::new(Vec::new(), Default::default(), exit::OK).summary(summary);
    match format {
        Format::Json => {}
        Format::Github => crate::report::github::append_step_summary(&review.step_summary()),
        Format::Markdown => report.stdout = markdown,
        _ => {
            report.stdout = crate::report::diff::unified(&plan.changes);
            report.styled = true;
            let count = |a: Action| plan.changes.iter().filter(|c| c.action == a).count();
            report.closing = Some(format!(
                "`{}` against `{}`: {} added, {} changed, {} deleted",
                args.branch,
                args.base,
                count(Action::Add),
                count(Action::Change),
                count(Action::Delete)
            ));
        }
    }
    Ok(report)
}

/// Who owns a path by the layout (a path outside it counts as the organisation's).
fn owner_of(path: &str) -> Owner {
    match layout::place(path) {
        Some(p) => match (p.owner, p.service) {
            (OwnerKind::Service, Some(s)) => Owner::Service(s.to_string()),
            (OwnerKind::Catalog, _) => Owner::Catalog,
            _ => Owner::Org,
        },
        None => Owner::Org,
    }
}

/// The verified records of a tree (a record that fails verification says nothing).
fn claims(repo: &Repository, tree: &git2::Tree) -> Claims {
    crate::deploy_tree::Tip::new(repo, Some(tree))
        .map(|t| t.claims())
        .unwrap_or_default()
}

/// CODEOWNERS rules (`/path/ @owner ...`) as path prefix -> approvers.
fn codeowners(text: Option<Vec<u8>>) -> BTreeMap<String, Vec<String>> {
    let text = String::from_utf8_lossy(&text.unwrap_or_default()).into_owned();
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            let path = words.next()?.to_string();
            let who: Vec<String> = words.map(str::to_string).collect();
            (!who.is_empty()).then_some((path, who))
        })
        .collect()
}
