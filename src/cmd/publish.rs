//! `pctl diff` and `pctl publish`: the rendered change against the deploy repository, as a
//! unified diff and a review (markdown, plan.json, GitHub step summary), and for publish one
//! commit pushed to the deploy branch or a review branch.

use crate::discover::SourceOverrides;
use crate::exit::{self, Report};
use crate::inputs::{Inputs, display};
use crate::pipeline::{Built, build, fail};
use crate::redact;
use crate::report::Format;
use pctl_core::diag::Diagnostic;
use pctl_core::plan::Action;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// Where the deploy repository is and how the review is delivered.
#[derive(Debug, Clone)]
pub struct Deploy {
    pub deploy_repo: String,
    pub branch: Option<String>,
    pub report_dir: Option<PathBuf>,
    pub split: bool,
    pub protected_via_branch: Option<String>,
    /// The repository a service was published from before (`--move-from`).
    pub move_from: Option<String>,
    /// What kind of change this run publishes.
    pub kind: Kind,
}

/// What a run publishes of each service it renders.
#[derive(Debug, Clone, Default)]
pub enum Kind {
    /// A new version from the application's pipeline: the environments whose promotion is
    /// automatic, and the service's files of no environment.
    #[default]
    Version,
    /// `pctl promote`: one environment, rendered from the release another one runs.
    Promotion {
        service: String,
        from: String,
        to: String,
        release: pctl_core::record::Release,
    },
    /// `pctl preview`: a pull request's preview (`<service>-pr-<N>`), written whole.
    Preview {
        service: String,
        pr: u64,
        /// Where it answers, when it has a public endpoint (shown first in the review).
        url: Option<String>,
    },
}

pub fn run(
    input: &Inputs,
    pins: SourceOverrides,
    deploy: &Deploy,
    publish: Option<(bool, Vec<String>, crate::publish::Retry)>,
    format: Format,
) -> Report {
    let input = &Inputs {
        allow_none: publish
            .as_ref()
            .is_some_and(|(_, remove, _)| !remove.is_empty()),
        // One application's run reads its dependencies' contracts from the deploy repository.
        contracts_from: Some(crate::contracts::Source::Repository {
            url: deploy.deploy_repo.clone(),
            token: std::env::var("PCTL_GIT_TOKEN")
                .ok()
                .filter(|t| !t.is_empty()),
        }),
        require_repository: true,
        deploy_repo: crate::inputs::DeployRepo::Or(deploy.deploy_repo.clone()),
        ..input.clone()
    };
    let Built {
        run,
        org,
        mut compiled,
        sources,
        times,
        approvals,
        partial,
        manual,
        ..
    } = match build(
        input,
        &SourceOverrides {
            review_only: publish.is_none(),
            ..pins
        },
        None,
        None,
    ) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let (force, remove, retry) = publish.clone().unwrap_or((
        false,
        Vec::new(),
        crate::publish::Retry {
            max_wait: std::time::Duration::ZERO,
            max_attempts: Some(1),
        },
    ));
    // The organisation's shared files (cluster entry points, catalog, CODEOWNERS) change only
    // in runs over the whole organisation, never in one service's publish.
    if !input.all {
        compiled
            .tree
            .retain(|_, f| matches!(f.owner, pctl_core::expand::Owner::Service(_)));
    }
    let writes = match writes(&deploy.kind, &compiled.tree, &manual) {
        Ok(w) => w,
        Err(d) => return fail(&run, &[d], exit::INVALID),
    };
    if let Some(s) = remove.iter().find(|s| compiled.services.contains(s)) {
        let d = Diagnostic::error(
            "usage/remove-rendered",
            format!("`--remove {s}` names a service this run renders"),
        )
        .help("remove its platform.yaml from the run, or drop --remove");
        return fail(&run, &[d], exit::USAGE);
    }
    let target = crate::publish::Target {
        url: deploy.deploy_repo.clone(),
        base: org
            .model
            .spec
            .deploy_repository
            .branch
            .clone()
            .unwrap_or_else(|| "main".into()),
        branch: deploy.branch.clone(),
        force,
        remove,
        max_wait: retry.max_wait,
        max_attempts: retry.max_attempts,
        // The shards of one organisation-wide run publish to one review branch together.
        shared_branch: input.shard.is_some(),
        move_from: deploy.move_from.clone(),
        token: std::env::var("PCTL_GIT_TOKEN")
            .ok()
            .filter(|t| !t.is_empty()),
        writes,
        trailers: match &deploy.kind {
            Kind::Version => Vec::new(),
            Kind::Promotion {
                service,
                from,
                to,
                release,
            } => vec![format!(
                "Pctl-Promoted: {service} {from} -> {to} {}",
                release.sha
            )],
            Kind::Preview { service, pr, .. } => vec![format!("Pctl-Preview: {service} pr-{pr}")],
        },
    };
    let prov = crate::publish::Provenance { sources, times };
    let mut target = target;
    if let (Some(review), true, false) = (
        &deploy.protected_via_branch,
        publish.is_some(),
        org.model.spec.direct_publish,
    ) {
        // The organisation does not allow direct publishes at all: always review.
        target.branch = Some(review.clone());
    } else if let (Some(review), true) = (&deploy.protected_via_branch, publish.is_some()) {
        // Plan first; a change that reaches a protected environment goes through review.
        let protected = org.model.protected_envs();
        match crate::publish::run(&compiled.tree, &target, &prov, false) {
            Ok(plan) => {
                // The organisation's shared entry points are the platform team's, not this
                // service's change: only the service's own files decide.
                let touches = plan.changes.iter().any(|c| {
                    c.owner != "organisation"
                        && pctl_core::review::env_of(&c.path)
                            .is_some_and(|e| protected.contains(&e))
                });
                if touches {
                    target.branch = Some(review.clone());
                }
            }
            Err((diags, environment)) => {
                return fail(&run, &diags, publish_exit(environment));
            }
        }
    }
    let outcome = match crate::publish::run(&compiled.tree, &target, &prov, publish.is_some()) {
        Ok(o) => o,
        Err((diags, environment)) => return fail(&run, &diags, publish_exit(environment)),
    };
    let count = |a: Action| outcome.changes.iter().filter(|c| c.action == a).count();
    let mut names: Vec<String> = compiled.services.clone();
    names.extend(target.remove.iter().map(|s| format!("remove {s}")));
    let ctx = pctl_core::review::Context {
        title: pctl_core::review::title(&names),
        protected_envs: org
            .model
            .spec
            .environments
            .iter()
            .filter(|e| e.protected)
            .map(|e| e.name.clone())
            .collect(),
        destination: format!("{} `{}`", redact::url(&target.url), outcome.branch),
        approvals,
    };
    let warnings: Vec<String> = outcome.warnings.iter().map(|d| d.message.clone()).collect();
    let review = pctl_core::review::Review::new(&outcome.changes, &outcome.removals, &ctx)
        .with_moves(&outcome.moves)
        .with_warnings(&warnings);
    // The whole plan (every file, removal, move, cost change and approval rule) with the
    // publish's outcome: `--format json`'s summary and plan.json.
    let mut summary = serde_json::json!({
        "commit": outcome.commit,
        "branch": outcome.branch,
        "attempts": outcome.attempts,
        "added": count(Action::Add),
        "changed": count(Action::Change),
        "deleted": count(Action::Delete),
    });
    if let (Some(s), serde_json::Value::Object(plan)) =
        (summary.as_object_mut(), review.plan_json())
    {
        s.extend(plan);
    }
    let mut markdown = review.markdown();
    if let Kind::Preview {
        service,
        pr,
        url: Some(url),
    } = &deploy.kind
    {
        // Where the preview answers, first: what the pull request's reviewers open.
        markdown = format!("**Preview of `{service}` for #{pr}:** {url}\n\n{markdown}");
        if let Some(s) = summary.as_object_mut() {
            s.insert("preview_url".into(), url.clone().into());
        }
    }
    if let Some(dir) = &deploy.report_dir {
        if let Err(e) =
            crate::report::github::write_reports(dir, &markdown, &review.split_parts(), &summary)
        {
            let d = Diagnostic::error(
                "report/write",
                format!("cannot write the review into {}: {e}", display(dir)),
            )
            .help("choose a writable --report-dir");
            return fail(&run, &[d], exit::USAGE);
        }
    }
    if format == Format::Github {
        // Step outputs for the GitHub Action (action.yml reads them).
        let changed = outcome
            .changes
            .iter()
            .any(|c| !c.path.starts_with(".pctl/"));
        crate::report::github::set_outputs(&[
            ("changed", changed.to_string()),
            ("commit-sha", outcome.commit.clone().unwrap_or_default()),
            ("branch", outcome.branch.clone()),
            ("base-branch", target.base.clone()),
        ]);
        crate::report::github::append_step_summary(&review.step_summary());
    }
    let mut diags = run.diags.clone();
    diags.extend(outcome.warnings.iter().cloned());
    let mut report = Report::new(diags, run.sources.clone(), exit::OK).summary(summary);
    if format == Format::Markdown {
        let mut out = markdown.clone();
        if deploy.split {
            for part in review.split_parts() {
                out.push_str(&format!("\n{part}"));
            }
        }
        report.stdout = out;
    }
    if format != Format::Json && format != Format::Markdown {
        let warn = anstyle::Style::new()
            .bold()
            .fg_color(Some(anstyle::AnsiColor::Yellow.into()));
        for r in &outcome.removals {
            report.notes.push(format!("{warn}removal{warn:#}: {r}"));
        }
        if publish.is_none() {
            report.stdout = crate::report::diff::unified(&outcome.changes);
            report.styled = true;
        }
        // Per service and environment: what a reviewer scans first.
        let mut per: std::collections::BTreeMap<(&str, &str), [usize; 3]> = Default::default();
        for c in outcome
            .changes
            .iter()
            .filter(|c| !c.path.starts_with(".pctl/"))
        {
            let env = pctl_core::review::env_of(&c.path).unwrap_or("-");
            per.entry((c.owner.as_str(), env)).or_default()[c.action as usize] += 1;
        }
        for ((owner, env), [a, ch, d]) in &per {
            report.notes.push(format!(
                "  {owner:<24} {env:<12} {a:>4} added {ch:>4} changed {d:>4} deleted"
            ));
        }
        let what = format!(
            "{} added, {} changed, {} deleted",
            count(Action::Add),
            count(Action::Change),
            count(Action::Delete)
        );
        let line = match (&outcome.commit, publish.is_some()) {
            (_, false) if outcome.changes.is_empty() => {
                format!("no changes for {}", redact::url(&target.url))
            }
            (_, false) => format!("{what} (not published: this is a diff)"),
            (Some(c), true) => format!(
                "published {} to {} `{}`: {what} (attempt {})",
                &c[..12.min(c.len())],
                redact::url(&target.url),
                outcome.branch,
                outcome.attempts
            ),
            (None, true) => format!(
                "nothing to publish: `{}` of {} is up to date",
                outcome.branch,
                redact::url(&target.url)
            ),
        };
        report.closing = Some(line);
    }
    report.exit = if partial { exit::INVALID } else { exit::OK };
    report
}

/// What the run writes of each service it rendered (see `pctl_core::release`).
fn writes(
    kind: &Kind,
    tree: &pctl_core::expand::Tree,
    manual: &BTreeMap<String, BTreeSet<String>>,
) -> Result<BTreeMap<String, crate::publish::Writes>, Diagnostic> {
    use pctl_core::expand::Owner;
    let mut envs: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (path, f) in tree {
        if let (Owner::Service(s), Some(env)) = (&f.owner, pctl_core::layout::env_of(path)) {
            envs.entry(s.as_str()).or_default().insert(env);
        }
    }
    let mut out = BTreeMap::new();
    match kind {
        Kind::Version => {
            for (service, rendered) in envs {
                // Manual environments the intent still deploys to keep what they run; one it
                // dropped is deleted like any other.
                let keep = rendered
                    .into_iter()
                    .filter(|e| manual.get(service).is_some_and(|m| m.contains(*e)))
                    .map(str::to_string)
                    .collect();
                out.insert(
                    service.to_string(),
                    crate::publish::Writes {
                        keep,
                        only: None,
                        shared: true,
                    },
                );
            }
        }
        // A preview is a service of its own, in one environment: written whole.
        Kind::Preview { .. } => {}
        Kind::Promotion { service, to, .. } => {
            if !envs
                .get(service.as_str())
                .is_some_and(|e| e.contains(to.as_str()))
            {
                return Err(Diagnostic::error(
                    "promote/environment",
                    format!("the version of `{service}` being promoted does not deploy to `{to}`"),
                )
                .help("add the environment to spec.environments of its platform.yaml, publish, and promote that version"));
            }
            out.insert(
                service.clone(),
                crate::publish::Writes {
                    keep: BTreeSet::new(),
                    only: Some(to.clone()),
                    shared: false,
                },
            );
        }
    }
    Ok(out)
}

/// Exit code of a failed publish: environment problems (network, contention) are 2, refused
/// changes (hand edits, unknown services) are 1.
fn publish_exit(environment: bool) -> u8 {
    if environment {
        exit::USAGE
    } else {
        exit::INVALID
    }
}
