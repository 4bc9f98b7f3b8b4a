//! `pctl metrics`: DORA and adoption metrics from the deploy repository's history alone.
//!
//! pctl writes every deploy commit itself, with trailers (`Pctl-Version`, `Pctl-Source`, ...), so
//! the deploy repository's first-parent history is the data. The history is read once
//! ([`history`]):
//!
//! 1. one revwalk along the first-parent chain of the branch (oldest first);
//! 2. per commit, the tree is compared with the previous commit's tree *by object id*, level by
//!    level (`apps` -> `apps/<env>` -> `apps/<env>/<service>` -> the workload files), so a commit
//!    costs in proportion to what it changed, never to the size of the tree; only changed
//!    workload files are read (their `image:` and `pctl.dev/team` lines);
//! 3. the events (deploys, reverts) are classified in the same pass, and aggregated at the end
//!    ([`analyse`]), then rendered ([`render`]: a table, markdown or the JSON document).
//!
//! The definitions (what is a deploy, a failure, a restore...) are in docs/metrics.md; they are implemented here and nowhere else.

pub mod analyse;
pub mod history;
pub mod render;

pub use crate::time::{parse_time, rfc3339};
pub use analyse::{Metrics, analyse};
pub use render::{human_duration, markdown, table};

use crate::exit::{self, Report};
use crate::git::{self, Remote};
use crate::report::Format;
use git2::{Oid, Repository};
use pctl_core::diag::{Diagnostic, has_errors};
use pctl_core::model::Org;
use pctl_core::quantity::parse_span_ms;
use pctl_core::source::SourceMap;
use serde::Serialize;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

// layout: the workload file names pctl's blueprints write in `apps/<env>/<service>/`; to come
// from the core's layout contract (crates/pctl-core/src/layout.rs) once it exists.
/// Files that are a service's workload in `apps/<env>/<service>/`.
pub const WORKLOAD_FILES: [&str; 3] = ["rollout.yaml", "deployment.yaml", "cronjob.yaml"];
/// The JSON document's schema identifier; bumped on any incompatible change.
pub const SCHEMA: &str = "pctl.dev/metrics/v1";

/// `pctl metrics` arguments.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// The deploy repository: a local path (bare or not), file://, git:// or https:// (token in PCTL_GIT_TOKEN)
    #[arg(long, value_name = "URL|PATH")]
    pub deploy_repo: String,
    /// Start of the window: a duration before --until (90d, 12w, 36h, 30m) or a date (2025-01-31, RFC 3339)
    #[arg(long, default_value = "90d", value_name = "DURATION|DATE")]
    pub since: String,
    /// End of the window, exclusive: a date (2025-03-31) or RFC 3339 time [default: now]
    #[arg(long, value_name = "DATE")]
    pub until: Option<String>,
    /// Group the DORA metrics by environment, service or team
    #[arg(long, value_enum, default_value_t = By::Env)]
    pub by: By,
    /// The deploy branch [default: the organisation's deploy branch with --org, else main]
    #[arg(long, value_name = "BRANCH")]
    pub branch: Option<String>,
    /// Only count deploys to these environments (repeatable) [default: all]
    #[arg(long = "env", value_name = "ENV")]
    pub envs: Vec<String>,
    /// Production environments, for time to first prod deploy (repeatable) [default: the protected environments of --org, else `prod` and `production`]
    #[arg(long = "prod-env", value_name = "ENV")]
    pub prod_envs: Vec<String>,
    /// Organisation config (a pctl-org.yaml, or a folder holding one): its deploy branch and protected environments
    #[arg(long, value_name = "PATH", env = "PCTL_ORG")]
    pub org: Option<PathBuf>,
    /// A deploy replaced by a new image within this time counts as failed (hot-fix); 0 disables
    #[arg(long, default_value = "1h", value_name = "DURATION")]
    pub hotfix_window: String,
    /// Output format [default: human]
    #[arg(long, value_enum)]
    pub format: Option<crate::formats::MetricsFormat>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum By {
    Env,
    Service,
    Team,
}

impl By {
    fn name(self) -> &'static str {
        match self {
            By::Env => "env",
            By::Service => "service",
            By::Team => "team",
        }
    }
}

/// What to compute (times are Unix seconds, UTC).
#[derive(Debug, Clone)]
pub struct Options {
    pub since: i64,
    pub until: i64,
    pub by: By,
    /// Only these environments (empty: all).
    pub envs: BTreeSet<String>,
    pub prod_envs: BTreeSet<String>,
    pub hotfix_window: i64,
}

// ---------------------------------------------------------------------------------------------
// The command.

/// A duration argument in seconds: `90d`, `12w`, `36h`, `1h30m`, `0` (the core's parser).
fn span_seconds(s: &str) -> Option<i64> {
    parse_span_ms(s.trim()).and_then(|ms| i64::try_from(ms / 1000).ok())
}

fn usage(code: &'static str, message: String) -> Diagnostic {
    Diagnostic::error(code, message)
}

/// Builds the options from the arguments (`now`: the default --until) and the organisation
/// config (--org): its protected environments and deploy branch. Returns the branch too.
pub fn options(args: &Args, now: i64, org: Option<&Org>) -> Result<(Options, String), Diagnostic> {
    let until = match &args.until {
        Some(u) => parse_time(u).ok_or_else(|| {
            usage("usage/time", format!("--until `{u}` is not a time"))
                .expected("a date (2025-03-31) or an RFC 3339 time (2025-03-31T12:00:00Z)")
        })?,
        None => now,
    };
    let since = span_seconds(&args.since)
        .map(|d| until.saturating_sub(d))
        .or_else(|| parse_time(&args.since))
        .ok_or_else(|| {
            usage(
                "usage/time",
                format!("--since `{}` is neither a duration nor a time", args.since),
            )
            .expected("a duration (90d, 12w, 36h) or a date (2025-01-31)")
        })?;
    if since >= until {
        return Err(usage(
            "usage/empty-window",
            format!(
                "the window is empty: --since {} is not before --until {}",
                rfc3339(since),
                rfc3339(until)
            ),
        )
        .help("give --since an earlier time than --until"));
    }
    let hotfix_window = span_seconds(&args.hotfix_window).ok_or_else(|| {
        usage(
            "usage/duration",
            format!("--hotfix-window `{}` is not a duration", args.hotfix_window),
        )
        .expected("a duration (1h, 30m) or 0 to disable")
    })?;
    let org_prod: BTreeSet<String> = org
        .map(|o| o.protected_envs().into_iter().map(str::to_string).collect())
        .unwrap_or_default();
    let prod_envs = if !args.prod_envs.is_empty() {
        args.prod_envs.iter().cloned().collect()
    } else if !org_prod.is_empty() {
        org_prod
    } else {
        ["prod", "production"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    };
    let branch = args
        .branch
        .clone()
        .or_else(|| org.and_then(|o| o.spec.deploy_repository.branch.clone()))
        .unwrap_or_else(|| "main".into());
    if !git2::Reference::is_valid_name(&format!("refs/heads/{branch}")) {
        return Err(usage(
            "usage/branch",
            format!("`{branch}` is not a valid branch name"),
        ));
    }
    Ok((
        Options {
            since,
            until,
            by: args.by,
            envs: args.envs.iter().cloned().collect(),
            prod_envs,
            hotfix_window,
        },
        branch,
    ))
}

/// A run that stopped: its diagnostics, counted in the JSON document's summary.
fn failed(diags: Vec<Diagnostic>, sources: SourceMap, code: u8) -> Report {
    let (errors, warnings) = exit::counts(&diags);
    Report::new(diags, sources, code)
        .summary(serde_json::json!({"errors": errors, "warnings": warnings}))
}

/// The organisation config of --org, read and validated as every command reads it. Its
/// warnings are returned with it.
fn read_org(path: &Path, sources: &SourceMap) -> Result<(Org, Vec<Diagnostic>), Report> {
    let path = &match crate::discover::find_org(path, Some(path)) {
        crate::discover::OrgSource::File(p) => p,
        crate::discover::OrgSource::Builtin => path.to_path_buf(),
    };
    let file = crate::inputs::read_source(path, &crate::inputs::display(path))
        .map_err(|d| failed(vec![d], sources.clone(), exit::USAGE))?;
    sources.add(file.clone());
    let (org, diags) = pctl_core::validate::check_org(&file);
    match org {
        Some(org) if !has_errors(&diags) => Ok((org.model, diags)),
        _ => Err(failed(diags, sources.clone(), exit::INVALID)),
    }
}

/// Opens the deploy repository: a local one in place, a remote one fetched (the branch only)
/// into a private bare clone in `dir`.
pub(crate) fn open(
    remote: &Remote,
    branch: &str,
    dir: &Path,
) -> Result<(Repository, Oid), Diagnostic> {
    let no_branch = || {
        Diagnostic::error(
            "metrics/no-branch",
            format!("{} has no branch `{branch}`", remote.shown()),
        )
        .help("pass --branch, or --org for the organisation's deploy branch")
    };
    if let Some(local) = git::local_path(&remote.url).filter(|p| p.exists()) {
        let repo = Repository::open(&local).map_err(|e| remote.error("cannot open", &e))?;
        let tip = [
            format!("refs/heads/{branch}"),
            format!("refs/remotes/origin/{branch}"),
        ]
        .iter()
        .find_map(|r| repo.refname_to_id(r).ok())
        .ok_or_else(no_branch)?;
        return Ok((repo, tip));
    }
    let repo = git::open_clone(remote, dir)?;
    let spec = format!("+refs/heads/{branch}:refs/remotes/origin/{branch}");
    git::fetch(&repo, remote, &[spec.as_str()])?;
    let tip = repo
        .refname_to_id(&format!("refs/remotes/origin/{branch}"))
        .map_err(|_| no_branch())?;
    Ok((repo, tip))
}

/// `pctl metrics`: the report on stdout (exit 0), or diagnostics: 2 for bad arguments and an
/// unreadable repository, 1 for an invalid organisation config. With `--format json` the
/// document is the metrics (`pctl.dev/metrics/v1`); a failed run prints the usual document
/// with `diagnostics`.
pub fn run(args: &Args, format: Format) -> Report {
    match metrics(args, format) {
        Ok(r) | Err(r) => r,
    }
}

fn metrics(args: &Args, format: Format) -> Result<Report, Report> {
    let sources = SourceMap::default();
    let (org, warnings) = match &args.org {
        Some(p) => {
            let (org, warnings) = read_org(p, &sources)?;
            (Some(org), warnings)
        }
        None => (None, Vec::new()),
    };
    let fail = |d: Diagnostic| {
        let mut diags = warnings.clone();
        diags.push(d);
        failed(diags, sources.clone(), exit::USAGE)
    };
    let now = jiff::Timestamp::now().as_second();
    let (opts, branch) = options(args, now, org.as_ref()).map_err(fail)?;
    // Every object is read once, so libgit2's object cache only costs memory; and this command
    // only reads, so hashing each object again to verify it is not worth its time.
    git2::opts::enable_caching(false);
    git2::opts::strict_hash_verification(false);
    let dir = tempfile::tempdir().map_err(|e| {
        fail(Diagnostic::error(
            "metrics/tmp",
            format!("cannot create a temporary folder: {e}"),
        ))
    })?;
    let remote = Remote::new(&args.deploy_repo, git::token_from_env(), "metrics/remote");
    let (repo, tip) = open(&remote, &branch, dir.path()).map_err(fail)?;
    let mut m = analyse(&repo, tip, &opts).map_err(|e| {
        fail(Diagnostic::error(
            "metrics/history",
            format!(
                "cannot read the history of {}: {}",
                remote.shown(),
                remote.scrub(e.message())
            ),
        ))
    })?;
    m.repository = remote.shown();
    m.branch = branch;
    let text = match format {
        Format::Json => render::json(&m),
        Format::Human => table(&m),
        _ => markdown(&m),
    };
    let mut report = Report::new(warnings, sources, exit::OK).stdout(text);
    if format == Format::Json {
        // The document is the metrics; diagnostics (warnings only, here) are for people.
        report.diag_format = Some(Format::Human);
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    fn opts(argv: &[&str]) -> Result<(Options, String), Diagnostic> {
        let cli = Cli::try_parse_from([&["metrics", "--deploy-repo", "x"], argv].concat()).unwrap();
        options(&cli.args, 1_737_331_200, None) // 2025-01-20
    }

    #[test]
    fn windows_and_durations() {
        let (o, branch) = opts(&[]).unwrap();
        assert_eq!((o.until - o.since, o.hotfix_window), (90 * 86_400, 3600));
        assert_eq!(branch, "main");
        let (o, _) = opts(&["--since", "1w2d", "--hotfix-window", "0"]).unwrap();
        assert_eq!((o.until - o.since, o.hotfix_window), (9 * 86_400, 0));
        let (o, _) = opts(&["--since", "2025-01-06", "--until", "2025-01-20T00:00:00Z"]).unwrap();
        assert_eq!((o.since, o.until), (1_736_121_600, 1_737_331_200));
        assert_eq!(
            opts(&["--since", "yesterday"]).unwrap_err().code,
            "usage/time"
        );
        assert_eq!(opts(&["--until", "soon"]).unwrap_err().code, "usage/time");
        assert_eq!(
            opts(&["--since", "0"]).unwrap_err().code,
            "usage/empty-window"
        );
        assert_eq!(
            opts(&["--hotfix-window", "1y"]).unwrap_err().code,
            "usage/duration"
        );
        assert_eq!(
            opts(&["--branch", "a..b"]).unwrap_err().code,
            "usage/branch"
        );
    }
}
