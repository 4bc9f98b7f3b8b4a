//! `pctl preview --pr N [PATH]`: a pull request's version of a service, deployed as a service
//! of its own (`<service>-pr-<N>`: its own namespace, record and files) into the
//! organisation's preview environment, with the settings the service has in the environment
//! previews copy (`spec.previews.from`), scaled down to one replica and labelled with the pull
//! request and a time to live. `--remove` deletes every file of it (the publish's `--remove`).
//! A team may have at most `spec.previews.max_per_team` previews at once.

use crate::cmd::publish::{Deploy, Kind};
use crate::discover::{SourceOverrides, source_of};
use crate::exit::{self, Report};
use crate::git::{self, Remote};
use crate::inputs::Inputs;
use crate::pipeline::fail;
use crate::report::Format;
use pctl_core::diag::Diagnostic;
use pctl_core::layout;
use pctl_core::record::{Claims, Record};
use serde_json::json;
use std::path::PathBuf;

/// `pctl preview` arguments.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// The application folder (holding platform.yaml) or its platform.yaml
    #[arg(default_value = ".")]
    pub path: PathBuf,
    /// The pull request's number
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub pr: u64,
    /// Delete the preview (when the pull request is closed)
    #[arg(long)]
    pub remove: bool,
    /// The deploy repository: a local path to a bare repository, file://, git:// or https:// (token in PCTL_GIT_TOKEN)
    #[arg(long, value_name = "URL|PATH")]
    pub deploy_repo: String,
    /// Organisation config: a pctl-org.yaml, or a folder holding one [default: pctl-org.yaml
    /// in PATH or a folder above, else the built-in example]
    #[arg(long, value_name = "PATH", env = "PCTL_ORG")]
    pub org: Option<PathBuf>,
    /// Folder of blueprints that override or add to the built-in ones
    #[arg(long, value_name = "DIR")]
    pub blueprints: Option<PathBuf>,
    /// Image tag to deploy [default: the source commit]
    #[arg(long, value_name = "TAG")]
    pub image_tag: Option<String>,
    /// Commit of the pull request's head, 40 hex digits [default: HEAD]
    #[arg(long, value_name = "SHA", value_parser = crate::cli::parse_sha)]
    pub source_sha: Option<String>,
    /// Digest of the image the pull request's pipeline built (sha256:<64 hex>)
    #[arg(long, value_name = "DIGEST", value_parser = crate::cli::parse_digest)]
    pub image_digest: Option<String>,
    /// Also write the review here: summary.md (with the preview's address), part-N.md, plan.json
    #[arg(long, value_name = "DIR")]
    pub report_dir: Option<PathBuf>,
    /// How long to keep trying while other publishers push first: 90s, 10m, 1h
    #[arg(long, default_value = "10m", value_name = "DURATION", value_parser = crate::cli::parse_wait)]
    pub max_wait: std::time::Duration,
}

type Failure = (Diagnostic, u8);

pub fn run(args: &Args, format: Format) -> Report {
    match preview(args, format) {
        Ok(r) => r,
        Err((d, code)) => Report::new(vec![d], Default::default(), code),
    }
}

fn tmp_error(e: impl std::fmt::Display) -> Failure {
    (
        Diagnostic::error("preview/tmp", format!("cannot use a temporary folder: {e}")),
        exit::USAGE,
    )
}

fn preview(args: &Args, format: Format) -> Result<Report, Failure> {
    let input = Inputs {
        path: args.path.clone(),
        all: false,
        org: args.org.clone(),
        blueprints: args.blueprints.clone(),
        policies: None,
        shard: None,
        allow_none: false,
        contracts_from: None,
        require_repository: false,
        deploy_repo: crate::inputs::DeployRepo::Or(args.deploy_repo.clone()),
    };
    let checked = crate::inputs::check(&input);
    let (Some(org), [(path, intent)]) = (checked.org.as_ref(), checked.intents.as_slice()) else {
        return Ok(fail(&checked, &[], crate::pipeline::input_exit(&checked)));
    };
    if !org.ok || !intent.ok || checked.usage_error {
        return Ok(fail(&checked, &[], crate::pipeline::input_exit(&checked)));
    }
    let Some(previews) = org.model.spec.previews.clone() else {
        let d = Diagnostic::error(
            "preview/not-configured",
            "the organisation has no preview environment",
        )
        .help("add `previews: {environment: <env>}` to the spec of pctl-org.yaml, naming the environment (cluster and domain) previews run in");
        return Ok(fail(&checked, &[d], exit::USAGE));
    };
    let env_of = |name: &str| org.model.environment(name);
    let problem = match env_of(&previews.environment) {
        None => Some(format!(
            "`spec.previews.environment` is `{}`, which is not an environment of the organisation",
            previews.environment
        )),
        Some(e) if e.protected => Some(format!(
            "`spec.previews.environment` is `{}`, a protected environment",
            e.name
        )),
        Some(_) => None,
    };
    if let Some(p) = problem {
        let d = Diagnostic::error("preview/environment", p).help(
            "name an unprotected environment of `spec.environments` that is reserved for previews",
        );
        return Ok(fail(&checked, &[d], exit::INVALID));
    }
    let service = intent.model.metadata.name.clone();
    let name = format!("{service}-pr-{}", args.pr);
    if !layout::is_name(&name) {
        let d = Diagnostic::error(
            "preview/name",
            format!("the preview's name `{name}` is longer than a DNS label (63 characters)"),
        )
        .help("shorten metadata.name, or use a smaller pull request number");
        return Ok(fail(&checked, &[d], exit::USAGE));
    }
    let tmp = tempfile::tempdir().map_err(tmp_error)?;
    let publish = Some((
        false,
        if args.remove {
            vec![name.clone()]
        } else {
            Vec::new()
        },
        crate::publish::Retry {
            max_wait: args.max_wait,
            max_attempts: None,
        },
    ));
    let pins = SourceOverrides {
        sha: args.source_sha.clone(),
        image_tag: args.image_tag.clone(),
        image_digest: args.image_digest.clone(),
        review_only: false,
    };
    let host = format!(
        "{name}.{}",
        env_of(&previews.environment)
            .map(|e| e.domain.as_str())
            .unwrap_or_default()
    );
    let url = intent
        .model
        .spec
        .endpoints
        .iter()
        .any(|e| e.public)
        .then(|| format!("https://{host}"));
    let deploy = Deploy {
        deploy_repo: args.deploy_repo.clone(),
        branch: None,
        report_dir: args.report_dir.clone(),
        split: false,
        protected_via_branch: None,
        move_from: None,
        kind: Kind::Preview {
            service: service.clone(),
            pr: args.pr,
            url: url.clone().filter(|_| !args.remove),
        },
    };
    let team = intent.model.metadata.owner.clone();
    let claims = tip_claims(args, &org.model)?;
    let declared = intent.model.metadata.repository.as_deref();
    if args.remove {
        let dir = path.parent().filter(|p| !p.as_os_str().is_empty());
        let checkout = git2::Repository::discover(dir.unwrap_or(std::path::Path::new("."))).ok();
        let repository = crate::discover::repository_of(checkout.as_ref(), declared);
        if let Some(d) = owned_elsewhere(&claims, &name, &repository, &team) {
            return Ok(fail(&checked, &[d], exit::INVALID));
        }
        let empty = tmp.path().join("none");
        std::fs::create_dir_all(&empty).map_err(tmp_error)?;
        let input = Inputs {
            path: empty,
            allow_none: true,
            org: org_file(args),
            ..input
        };
        return Ok(crate::cmd::publish::run(
            &input, pins, &deploy, publish, format,
        ));
    }
    let max = previews.max_per_team.unwrap_or(5);
    let others = team_previews(&claims, &team, &previews.environment, &name);
    if others.len() >= max as usize {
        let d = Diagnostic::error(
            "preview/limit",
            format!(
                "team `{team}` has {} preview(s) already, the most the organisation allows ({max})",
                others.len()
            ),
        )
        .note(format!("running: {}", others.join(", ")))
        .help("remove one (`pctl preview --pr N --remove`, run when its pull request closes), or ask the platform team to raise spec.previews.max_per_team");
        return Ok(fail(&checked, &[d], exit::INVALID));
    }
    // The preview's intent: the service's, renamed, in the preview environment only.
    let source = source_of(path, declared, &pins).map_err(|d| (d, exit::USAGE))?;
    let from = previews
        .from
        .clone()
        .or_else(|| org.model.spec.environments.first().map(|e| e.name.clone()));
    let mut value = intent.doc.value.clone();
    let settings = from
        .as_deref()
        .and_then(|f| value["spec"]["environments"].get(f).cloned())
        .filter(|v| v.is_object())
        .unwrap_or_else(|| json!({}));
    let mut settings = settings;
    if let Some(o) = settings.as_object_mut() {
        // Scaled down, deployed on every push of the pull request, approved by its review.
        for k in ["autoscale", "approvals", "promotion"] {
            o.remove(k);
        }
        o.insert("replicas".into(), json!(1));
    }
    value["metadata"]["name"] = json!(name);
    value["metadata"]["repository"] = json!(source.repository);
    value["metadata"]["preview"] = json!({
        "of": service,
        "pr": args.pr,
        "ttl_hours": previews.ttl_hours.unwrap_or(72),
    });
    value["spec"]["environments"] = json!({ previews.environment.clone(): settings });
    let dir = tmp.path().join(&name);
    let file = dir.join("platform.yaml");
    let text = serde_json::to_string_pretty(&value).unwrap_or_default() + "\n";
    std::fs::create_dir_all(&dir)
        .and_then(|_| std::fs::write(&file, text))
        .map_err(tmp_error)?;
    let pins = SourceOverrides {
        sha: Some(source.sha.clone()),
        image_tag: Some(source.image_tag.clone()),
        ..pins
    };
    let input = Inputs {
        path: file,
        org: org_file(args),
        require_repository: true,
        ..input
    };
    let mut report = crate::cmd::publish::run(&input, pins, &deploy, publish, format);
    if let Some(u) = &url {
        report
            .notes
            .insert(0, format!("preview of {service} for #{}: {u}", args.pr));
    }
    Ok(report)
}

/// The organisation config this run read (the preview's intent, written elsewhere, must read
/// the same one): the file, or none for the built-in example.
fn org_file(args: &Args) -> Option<PathBuf> {
    if let Some(o) = &args.org {
        return Some(o.clone());
    }
    match crate::discover::find_org(&args.path, None) {
        crate::discover::OrgSource::File(p) => Some(std::path::absolute(&p).unwrap_or(p)),
        crate::discover::OrgSource::Builtin => None,
    }
}

/// The verified records at the tip of the deploy branch (none in an empty repository).
fn tip_claims(args: &Args, org: &pctl_core::model::Org) -> Result<Claims, Failure> {
    let tmp = tempfile::tempdir().map_err(tmp_error)?;
    let remote = Remote::new(&args.deploy_repo, git::token_from_env(), "preview/remote");
    let branch = org
        .spec
        .deploy_repository
        .branch
        .clone()
        .unwrap_or_else(|| "main".into());
    let (repo, tip) = match crate::metrics::open(&remote, &branch, tmp.path()) {
        Ok(x) => x,
        // An empty deploy repository has no previews yet.
        Err(d) if d.code == "metrics/no-branch" => return Ok(Claims::default()),
        Err(d) => return Err((d, exit::USAGE)),
    };
    let read = |e: git2::Error| (remote.error("cannot read", &e), exit::USAGE);
    let tree = repo.find_commit(tip).and_then(|c| c.tree()).map_err(read)?;
    Ok(crate::deploy_tree::Tip::new(&repo, Some(&tree))
        .map_err(read)?
        .claims())
}

/// The previews of `team` other than `name`, by their verified records.
fn team_previews(claims: &Claims, team: &str, env: &str, name: &str) -> Vec<String> {
    claims
        .records
        .values()
        .map(|(_, r)| r)
        .filter(|r| is_preview(r, team, env) && r.service.as_deref() != Some(name))
        .filter_map(|r| r.service.clone())
        .collect()
}

/// A preview may be removed only from the repository (and team) it was published from: the
/// name `<service>-pr-<N>` is derived from a `metadata.name` anyone can write.
fn owned_elsewhere(
    claims: &Claims,
    name: &str,
    repository: &str,
    team: &str,
) -> Option<Diagnostic> {
    let r = claims.service(name)?;
    let repo = r
        .source
        .as_ref()
        .map(|s| s.repository.as_str())
        .unwrap_or("");
    let mine = crate::deploy_tree::same_repository(repo, repository)
        && r.team.as_deref().is_none_or(|t| t == team);
    (!mine).then(|| {
        Diagnostic::error(
            "preview/owned-elsewhere",
            format!(
                "the preview `{name}` was published from {} (team `{}`), not from {} (team `{team}`)",
                pctl_core::diag::escape_control(repo),
                pctl_core::diag::escape_control(r.team.as_deref().unwrap_or("?")),
                pctl_core::diag::escape_control(repository)
            ),
        )
        .help("remove a preview from the repository that published it; nothing was changed")
    })
}

/// A team's preview: named `<service>-pr-<N>`, recorded in the preview environment only.
fn is_preview(r: &Record, team: &str, env: &str) -> bool {
    let named = r.service.as_deref().is_some_and(|s| {
        s.rsplit_once("-pr-")
            .is_some_and(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    });
    named
        && r.team.as_deref() == Some(team)
        && r.environments.as_deref() == Some(&[env.to_string()][..])
}
