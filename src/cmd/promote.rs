//! `pctl promote SERVICE --to ENV [--from ENV]`: deploys to ENV exactly the version FROM runs.
//!
//! The version is the release FROM's record names (application commit, image tag, digest) and
//! the intent of that commit kept with it (`pctl_core::release`): ENV is rendered from that
//! intent with the current organisation config and blueprints, and only ENV's files change.
//! The release is read once; what the publish keeps of the other environments is read again
//! from the tip on every attempt, so a publish or promotion that lands meanwhile is kept. A
//! protected ENV goes through a review branch (`pctl/promote/<service>-<env>`).

use crate::cmd::publish::{Deploy, Kind};
use crate::discover::{OrgSource, SourceOverrides, find_org};
use crate::exit::{self, Report};
use crate::git::{self, Remote};
use crate::inputs::{Inputs, display};
use crate::report::Format;
use git2::Repository;
use pctl_core::diag::{Diagnostic, escape_control};
use pctl_core::digest::sha256_bytes;
use pctl_core::layout::{self, Owner};
use pctl_core::record::{self, Record, Release};
use pctl_core::source::SourceMap;
use std::path::{Path, PathBuf};

/// `pctl promote` arguments.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// The service (metadata.name of its platform.yaml)
    pub service: String,
    /// The environment to deploy the version to
    #[arg(long, value_name = "ENV")]
    pub to: String,
    /// The environment whose version is deployed [default: the one before --to in the
    /// organisation's order]
    #[arg(long, value_name = "ENV")]
    pub from: Option<String>,
    /// The deploy repository: a local path to a bare repository, file://, git:// or https:// (token in PCTL_GIT_TOKEN)
    #[arg(long, value_name = "URL|PATH")]
    pub deploy_repo: String,
    /// Organisation config: a pctl-org.yaml, or a folder holding one [default: pctl-org.yaml
    /// here or in a folder above, else the built-in example]
    #[arg(long, value_name = "PATH", env = "PCTL_ORG")]
    pub org: Option<PathBuf>,
    /// Folder of blueprints that override or add to the built-in ones
    #[arg(long, value_name = "DIR")]
    pub blueprints: Option<PathBuf>,
    /// Publish to this branch for review [default: the deploy branch, or
    /// pctl/promote/<service>-<env> when ENV is protected]
    #[arg(long, value_name = "BRANCH")]
    pub branch: Option<String>,
    /// Also write the review here: summary.md, part-N.md, plan.json
    #[arg(long, value_name = "DIR")]
    pub report_dir: Option<PathBuf>,
    /// Show the change without publishing it
    #[arg(long)]
    pub dry_run: bool,
    /// How long to keep trying while other publishers push first: 90s, 10m, 1h
    #[arg(long, default_value = "10m", value_name = "DURATION", value_parser = crate::cli::parse_wait)]
    pub max_wait: std::time::Duration,
}

fn usage(code: &'static str, message: String, help: &str) -> Diagnostic {
    Diagnostic::error(code, message).help(help.to_string())
}

pub fn run(args: &Args, format: Format) -> Report {
    let sources = SourceMap::default();
    match promote(args, format) {
        Ok(r) => r,
        Err((d, code)) => Report::new(vec![d], sources, code),
    }
}

type Failure = (Diagnostic, u8);

fn promote(args: &Args, format: Format) -> Result<Report, Failure> {
    // The name becomes a record path and a commit trailer: a DNS label, nothing else.
    if !layout::is_name(&args.service) {
        return Err((
            usage(
                "promote/service-name",
                format!("`{}` is not a service name", escape_control(&args.service)),
                "name the service as its platform.yaml's metadata.name (lowercase letters, digits, '-')",
            ),
            exit::USAGE,
        ));
    }
    let tmp = tempfile::tempdir().map_err(|e| {
        (
            Diagnostic::error(
                "promote/tmp",
                format!("cannot create a temporary folder: {e}"),
            ),
            exit::USAGE,
        )
    })?;
    let org_path = args
        .org
        .clone()
        .or_else(|| match find_org(Path::new("."), None) {
            OrgSource::File(p) => Some(p),
            OrgSource::Builtin => None,
        });
    // The organisation decides the order of environments, which are protected and the deploy
    // branch: read it (and only it) first.
    let empty = tmp.path().join("none");
    std::fs::create_dir_all(&empty).map_err(|e| {
        (
            Diagnostic::error(
                "promote/tmp",
                format!("cannot write {}: {e}", display(&empty)),
            ),
            exit::USAGE,
        )
    })?;
    let input = Inputs {
        path: empty,
        all: false,
        org: org_path.clone(),
        blueprints: args.blueprints.clone(),
        policies: None,
        shard: None,
        allow_none: true,
        contracts_from: None,
        require_repository: true,
        deploy_repo: crate::inputs::DeployRepo::Or(args.deploy_repo.clone()),
    };
    let checked = crate::inputs::check(&input);
    let Some(org) = checked.org.as_ref().filter(|o| o.ok) else {
        let r = crate::pipeline::fail(&checked, &[], crate::pipeline::input_exit(&checked));
        return Ok(r);
    };
    let order: Vec<String> = org
        .model
        .spec
        .environments
        .iter()
        .map(|e| e.name.clone())
        .collect();
    let known = |env: &str, what: &str| -> Result<(), Failure> {
        if order.iter().any(|e| e == env) {
            return Ok(());
        }
        Err((
            Diagnostic::error(
                "promote/unknown-environment",
                format!(
                    "{what} `{}` is not an environment of the organisation",
                    escape_control(env)
                ),
            )
            .expected(pctl_core::diag::one_of(&order.iter().collect::<Vec<_>>()))
            .suggest(
                env,
                order.iter().map(String::as_str),
                "name one of the organisation's environments",
            ),
            exit::USAGE,
        ))
    };
    known(&args.to, "--to")?;
    if let Some(p) = org
        .model
        .spec
        .previews
        .as_ref()
        .filter(|p| p.environment == args.to)
    {
        return Err((
            usage(
                "promote/preview-environment",
                format!(
                    "`{}` is the organisation's preview environment",
                    p.environment
                ),
                "previews are deployed per pull request: `pctl preview --pr N`",
            ),
            exit::USAGE,
        ));
    }
    let from = match &args.from {
        Some(f) => f.clone(),
        None => pctl_core::release::previous(&order, &args.to)
            .ok_or_else(|| {
                (
                    usage(
                        "promote/no-source",
                        format!("`{}` is the organisation's first environment: there is nothing to promote from", args.to),
                        "pass --from ENV, or publish to it from the application's pipeline",
                    ),
                    exit::USAGE,
                )
            })?
            .to_string(),
    };
    known(&from, "--from")?;
    if from == args.to {
        return Err((
            usage(
                "promote/same-environment",
                format!("--from and --to are both `{from}`"),
                "promote from another environment",
            ),
            exit::USAGE,
        ));
    }
    let base = org
        .model
        .spec
        .deploy_repository
        .branch
        .clone()
        .unwrap_or_else(|| "main".into());
    let (release, intent) = read_release(args, &from, &base, &tmp.path().join("deploy"))?;
    // The intent of that version, as its platform.yaml, bound to the repository the record names.
    let dir = tmp
        .path()
        .join(format!("{}@{}", args.service, &release.sha[..12]));
    let file = dir.join("platform.yaml");
    let text = serde_json::to_string_pretty(&intent).unwrap_or_default() + "\n";
    std::fs::create_dir_all(&dir)
        .and_then(|_| std::fs::write(&file, text))
        .map_err(|e| {
            (
                Diagnostic::error(
                    "promote/tmp",
                    format!("cannot write {}: {e}", display(&file)),
                ),
                exit::USAGE,
            )
        })?;
    let protected = org.model.environment(&args.to).is_some_and(|e| e.protected);
    let branch = args.branch.clone().or_else(|| {
        (protected && !args.dry_run).then(|| format!("pctl/promote/{}-{}", args.service, args.to))
    });
    let deploy = Deploy {
        deploy_repo: args.deploy_repo.clone(),
        branch,
        report_dir: args.report_dir.clone(),
        split: false,
        protected_via_branch: None,
        move_from: None,
        kind: Kind::Promotion {
            service: args.service.clone(),
            from: from.clone(),
            to: args.to.clone(),
            release: release.clone(),
        },
    };
    let pins = SourceOverrides {
        sha: Some(release.sha.clone()),
        image_tag: Some(release.tag.clone()),
        image_digest: release.digest.clone(),
        review_only: args.dry_run,
    };
    let input = Inputs {
        path: file,
        org: org_path,
        allow_none: false,
        ..input
    };
    let publish = (!args.dry_run).then(|| {
        (
            false,
            Vec::new(),
            crate::publish::Retry {
                max_wait: args.max_wait,
                max_attempts: None,
            },
        )
    });
    let mut report = crate::cmd::publish::run(&input, pins, &deploy, publish, format);
    report.notes.insert(
        0,
        format!(
            "promoting {} from {from} to {}: {}",
            args.service,
            args.to,
            pctl_core::release::describe(&release)
        ),
    );
    Ok(report)
}

/// The release `from` runs and its intent, read from the deploy branch's tip and checked: the
/// record verifies, it names a release of `from` with its intent, and `from`'s files are the
/// ones pctl recorded (a hand edit there means the release is not what runs).
fn read_release(
    args: &Args,
    from: &str,
    branch: &str,
    dir: &Path,
) -> Result<(Release, serde_json::Value), Failure> {
    let remote = Remote::new(&args.deploy_repo, git::token_from_env(), "promote/remote");
    let env_fail = |d: Diagnostic| (d, exit::USAGE);
    let (repo, tip) = crate::metrics::open(&remote, branch, dir).map_err(env_fail)?;
    let tree = repo
        .find_commit(tip)
        .and_then(|c| c.tree())
        .map_err(|e| env_fail(remote.error("cannot read", &e)))?;
    let path = layout::record_path(&Owner::Service(args.service.clone()));
    let Some(bytes) = blob(&repo, &tree, &path) else {
        return Err((
            usage(
                "promote/unknown-service",
                format!(
                    "{} has no record of a service `{}` (branch `{branch}`)",
                    remote.shown(),
                    escape_control(&args.service)
                ),
                "check the name (metadata.name of its platform.yaml); `pctl publish` deploys it first",
            ),
            exit::INVALID,
        ));
    };
    let (_, rec): (_, Record) = record::verify(&path, &bytes).map_err(|f| {
        (
            Diagnostic::error(
                "promote/forged-record",
                format!("the record `{path}` cannot be trusted: {}", f.reason),
            )
            .help("restore it from the deploy repository's history (the last commit pctl made)"),
            exit::INVALID,
        )
    })?;
    let Some(release) = rec.releases.get(from).cloned() else {
        let runs: Vec<&String> = rec.releases.keys().collect();
        return Err((
            Diagnostic::error(
                "promote/not-running",
                format!("`{}` runs no version in `{from}`", args.service),
            )
            .expected(format!(
                "an environment it runs in: {}",
                if runs.is_empty() {
                    "none recorded (published by an older pctl: publish it again)".to_string()
                } else {
                    runs.iter()
                        .map(|e| format!("`{e}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            ))
            .help("promote from an environment the service runs in (--from), or publish it first"),
            exit::INVALID,
        ));
    };
    for (file, hash) in rec
        .files
        .iter()
        .filter(|(p, _)| layout::env_of(p) == Some(from))
    {
        let now = blob(&repo, &tree, file).map(|b| sha256_bytes(&b));
        if now.as_deref().is_some_and(|h| h != hash) {
            return Err((
                Diagnostic::error(
                    "promote/edited-source",
                    format!("`{file}` was edited by hand in the deploy repository: what runs in `{from}` is not the release pctl recorded"),
                )
                .help("publish again (or undo the edit) so that the source environment runs a recorded version, then promote"),
                exit::INVALID,
            ));
        }
    }
    let intent = rec.intents.get(&release.sha).cloned().unwrap_or_default();
    let mut intent = intent;
    // The record binds the service to its repository: the intent says so too.
    if let (Some(src), Some(meta)) = (
        &rec.source,
        intent.get_mut("metadata").and_then(|m| m.as_object_mut()),
    ) {
        meta.insert(
            "repository".into(),
            serde_json::Value::String(src.repository.clone()),
        );
    }
    Ok((release, intent))
}

fn blob(repo: &Repository, tree: &git2::Tree, path: &str) -> Option<Vec<u8>> {
    let entry = tree.get_path(Path::new(path)).ok()?;
    Some(repo.find_blob(entry.id()).ok()?.content().to_vec())
}
