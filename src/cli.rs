//! The command line: clap definitions and dispatch. Each subcommand is a module of `cmd/` that
//! returns a [`Report`]; [`finish`] renders it, the only place output and exit codes are made.

use crate::cmd;
use crate::discover::SourceOverrides;
use crate::exit::{self, Report};
use crate::formats::{self, CheckFormat, CostFormat, GraphFormat, ReviewFormat, TextFormat};
use crate::inputs::Inputs;
use crate::report::{Format, Verbosity};
use clap::{Parser, Subcommand};
use pctl_core::validate::schema;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "pctl",
    version,
    about = "GitOps intent compiler: platform.yaml -> deploy repository",
    long_about = "GitOps intent compiler: reads each application's platform.yaml (what it is, who \
owns it, what it needs), validates it against the organisation's rules and compiles it through \
blueprints into the Kubernetes manifests, Terraform and pipelines of a GitOps deploy repository.",
    after_help = "Exit status: 0 success (warnings allowed), 1 invalid input or a refused change, \
2 usage or environment error.\nDocumentation: docs/ in pctl's repository (`pctl man` prints the manual page).",
    propagate_version = true
)]
pub struct Cli {
    /// When to colour output: auto (a terminal, unless NO_COLOR is set), always or never
    #[arg(long, global = true, value_enum, default_value_t = ColorWhen::Auto, value_name = "WHEN")]
    color: ColorWhen,
    /// Print only errors and the result: no warnings, notes or progress bar
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
    /// Print every warning in full, with its source (warnings are grouped per kind by default)
    #[arg(short, long, global = true)]
    verbose: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ColorWhen {
    Auto,
    Always,
    Never,
}

/// What every command that reads platform.yaml shares.
#[derive(clap::Args, Debug, Clone)]
struct InputArgs {
    /// An application folder (holding platform.yaml), a platform.yaml, or with --all an organisation checkout
    #[arg(default_value = ".")]
    path: PathBuf,
    /// Find every platform.yaml below PATH (skips hidden folders, target/ and node_modules/)
    #[arg(long)]
    all: bool,
    /// Organisation config: a pctl-org.yaml, or a folder holding one (a checkout of the platform
    /// repository) [default: pctl-org.yaml in PATH or a folder above, else the built-in example]
    #[arg(long, value_name = "PATH", env = "PCTL_ORG")]
    org: Option<PathBuf>,
    /// Folder of blueprints that override or add to the built-in ones
    #[arg(long, value_name = "DIR")]
    blueprints: Option<PathBuf>,
}

/// Commands that evaluate the organisation's policies.
#[derive(clap::Args, Debug, Clone)]
struct PolicyArgs {
    /// Folder (or file) of Rego policies to evaluate for every service, besides the organisation's `spec.policies`
    #[arg(long, value_name = "DIR")]
    policies: Option<PathBuf>,
}

/// Commands that render, and so can split the organisation.
#[derive(clap::Args, Debug, Clone)]
struct ShardArgs {
    /// Render only shard I of N (e.g. 2/8): a stable partition of services by name, so a CI
    /// matrix can split a large organisation over several machines
    #[arg(long, value_name = "I/N", value_parser = parse_shard)]
    shard: Option<(u32, u32)>,
}

impl InputArgs {
    fn inputs(&self) -> Inputs {
        Inputs {
            path: self.path.clone(),
            all: self.all,
            org: self.org.clone(),
            blueprints: self.blueprints.clone(),
            policies: None,
            shard: None,
            allow_none: false,
            contracts_from: None,
            require_repository: false,
            deploy_repo: Default::default(),
        }
    }

    fn with(&self, policies: &PolicyArgs, shard: Option<&ShardArgs>) -> Inputs {
        Inputs {
            policies: policies.policies.clone(),
            shard: shard.and_then(|s| s.shard),
            ..self.inputs()
        }
    }
}

fn parse_shard(s: &str) -> Result<(u32, u32), String> {
    let (i, n) = s.split_once('/').ok_or("expected I/N, e.g. 1/4")?;
    let (i, n): (u32, u32) = (
        i.parse().map_err(|_| "I must be a number")?,
        n.parse().map_err(|_| "N must be a number")?,
    );
    if n == 0 || i == 0 || i > n {
        return Err(format!("shard {i}/{n}: I must be between 1 and N"));
    }
    Ok((i, n))
}

pub(crate) fn parse_wait(s: &str) -> Result<std::time::Duration, String> {
    match pctl_core::quantity::parse_span_ms(s) {
        Some(ms) => Ok(std::time::Duration::from_millis(ms)),
        None => Err("expected a duration such as 90s, 10m or 1h".into()),
    }
}

/// A full commit id: 40 hexadecimal characters (64 in a SHA-256 repository), lower-cased.
pub(crate) fn parse_sha(s: &str) -> Result<String, String> {
    let sha = s.to_ascii_lowercase();
    if pctl_core::record::is_sha(&sha) {
        Ok(sha)
    } else {
        Err(format!(
            "expected a full commit id, 40 hexadecimal characters (`git rev-parse HEAD`); got {} character{}",
            s.chars().count(),
            if s.chars().count() == 1 { "" } else { "s" }
        ))
    }
}

/// An image digest: `sha256:` and 64 hexadecimal digits, lower-cased.
pub(crate) fn parse_digest(s: &str) -> Result<String, String> {
    let digest = match s.strip_prefix("sha256:") {
        Some(h) => format!("sha256:{}", h.to_ascii_lowercase()),
        None => String::new(),
    };
    match pctl_core::record::is_digest(&digest) {
        true => Ok(digest),
        false => Err(
            "expected an image digest, `sha256:` and 64 hexadecimal digits (docker/build-push-action's `digest` output)"
                .into(),
        ),
    }
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Check platform.yaml (and the organisation config): every problem, with file:line:column
    Validate {
        #[command(flatten)]
        input: InputArgs,
        #[command(flatten)]
        policies: PolicyArgs,
        /// Output format [default: github when GITHUB_ACTIONS=true, else human]
        #[arg(long, value_enum)]
        format: Option<CheckFormat>,
    },
    /// Compile platform.yaml into the files of the deploy repository
    Render {
        #[command(flatten)]
        input: InputArgs,
        #[command(flatten)]
        policies: PolicyArgs,
        #[command(flatten)]
        shard: ShardArgs,
        #[command(flatten)]
        pins: PinArgs,
        /// Write the tree into this folder (new, empty, or written by pctl before); without it, print the files
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Render every service, also those whose inputs are unchanged since the last render into --out (and compare every file)
        #[arg(long, requires = "out")]
        no_cache: bool,
        /// Output format [default: github when GITHUB_ACTIONS=true, else human]
        #[arg(long, value_enum)]
        format: Option<CheckFormat>,
    },
    /// Show what publishing would change in the deploy repository, as a unified diff
    Diff {
        #[command(flatten)]
        input: InputArgs,
        #[command(flatten)]
        policies: PolicyArgs,
        #[command(flatten)]
        shard: ShardArgs,
        #[command(flatten)]
        pins: PinArgs,
        #[command(flatten)]
        deploy: DeployArgs,
        /// Output format [default: github when GITHUB_ACTIONS=true, else human]
        #[arg(long, value_enum)]
        format: Option<ReviewFormat>,
    },
    /// Commit and push exactly the rendered change to the deploy repository
    Publish {
        #[command(flatten)]
        input: InputArgs,
        #[command(flatten)]
        policies: PolicyArgs,
        #[command(flatten)]
        shard: ShardArgs,
        #[command(flatten)]
        pins: PinArgs,
        #[command(flatten)]
        deploy: DeployArgs,
        /// When the change touches a protected environment, publish to this review branch
        /// instead of the deploy branch (non-protected changes still go straight in)
        #[arg(long, value_name = "BRANCH", conflicts_with = "branch")]
        protected_via_branch: Option<String>,
        /// Overwrite files edited by hand in the deploy repository (and take over unmanaged files at pctl's paths)
        #[arg(long)]
        force: bool,
        /// Delete everything pctl generated for a service that no longer exists (repeatable)
        #[arg(long, value_name = "SERVICE")]
        remove: Vec<String>,
        /// How long to keep trying while other publishers push first (re-planned on their
        /// commits, with exponential back-off and full jitter): 90s, 10m, 1h
        #[arg(long, default_value = "10m", value_name = "DURATION", value_parser = parse_wait)]
        max_wait: std::time::Duration,
        /// Also stop after this many attempts [default: no limit, --max-wait decides]
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        max_attempts: Option<u32>,
        /// Output format [default: github when GITHUB_ACTIONS=true, else human]
        #[arg(long, value_enum)]
        format: Option<ReviewFormat>,
    },
    /// Monthly cost per service, team, environment or resource, from the organisation's size catalogue
    Cost {
        #[command(flatten)]
        input: InputArgs,
        #[command(flatten)]
        policies: PolicyArgs,
        /// Group by
        #[arg(long, value_enum, default_value = "service")]
        by: crate::cmd::cost::By,
        /// Output format [default: github when GITHUB_ACTIONS=true, else human]
        #[arg(long, value_enum)]
        format: Option<CostFormat>,
    },
    /// Print the dependency graph of the services found (use --all)
    Graph {
        #[command(flatten)]
        input: InputArgs,
        /// Notation of the graph
        #[arg(long, value_enum, default_value = "mermaid")]
        format: GraphFormat,
    },
    /// Print a JSON Schema (for editors: yaml-language-server); platform.yaml's includes the
    /// parameters of every resource blueprint
    Schema {
        /// Which schema
        #[arg(value_enum, default_value = "platform")]
        which: SchemaArg,
        /// Folder of blueprints that override or add to the built-in ones (their resource types' parameters)
        #[arg(long, value_name = "DIR")]
        blueprints: Option<PathBuf>,
    },
    /// Start a new service: platform.yaml, a GitHub workflow using the pctl action, a README section
    New(crate::new::NewArgs),
    /// DORA and adoption metrics from the deploy repository's history
    Metrics(crate::metrics::Args),
    /// Deploy to an environment exactly the version another one runs (its image digest and the
    /// configuration of that version), through review when the environment is protected
    Promote {
        #[command(flatten)]
        args: cmd::promote::Args,
        /// Output format [default: github when GITHUB_ACTIONS=true, else human]
        #[arg(long, value_enum)]
        format: Option<ReviewFormat>,
    },
    /// Deploy a pull request's version as a preview of its own (`<service>-pr-<N>`) in the
    /// organisation's preview environment, or remove it (--remove)
    Preview {
        #[command(flatten)]
        args: cmd::preview::Args,
        /// Output format [default: github when GITHUB_ACTIONS=true, else human]
        #[arg(long, value_enum)]
        format: Option<ReviewFormat>,
    },
    /// The review of a deploy-repository branch against the deploy branch, from the two trees:
    /// one summary for a change several runs made (the shards of an organisation-wide run)
    Review {
        #[command(flatten)]
        args: cmd::review::Args,
        /// Output format [default: github when GITHUB_ACTIONS=true, else human]
        #[arg(long, value_enum)]
        format: Option<ReviewFormat>,
    },
    /// Which version of a service runs in each environment (image tag, digest, source commit,
    /// when it was deployed), read from the deploy repository
    Status(cmd::status::Args),
    /// Who owns a service, how to reach them, what it depends on and what depends on it (with
    /// --all over the organisation checkout), its endpoints, SLA and monthly cost
    Catalog {
        /// The service (metadata.name of its platform.yaml)
        service: String,
        #[command(flatten)]
        input: InputArgs,
        /// Output format
        #[arg(long, value_enum, default_value = "human")]
        format: TextFormat,
    },
    /// Print a shell completion script (e.g. `pctl completions bash > ~/.local/share/bash-completion/completions/pctl`)
    Completions {
        /// The shell
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), or write one page per command into a folder
    Man {
        /// Write pctl.1 and pctl-<command>.1 into this folder instead (e.g. /usr/local/share/man/man1)
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
}

#[derive(clap::Args, Debug, Clone)]
struct PinArgs {
    /// Image tag to deploy [default: the source commit]
    #[arg(long, value_name = "TAG")]
    image_tag: Option<String>,
    /// Commit of the application repository, 40 hex digits [default: its HEAD]
    #[arg(long, value_name = "SHA", value_parser = parse_sha)]
    source_sha: Option<String>,
    /// Digest of the image the pipeline built (sha256:<64 hex>): every manifest then references
    /// IMAGE:TAG@DIGEST, so what runs is exactly what was built and scanned
    #[arg(long, value_name = "DIGEST", value_parser = parse_digest)]
    image_digest: Option<String>,
}

#[derive(clap::Args, Debug, Clone)]
struct DeployArgs {
    /// The deploy repository: a local path to a bare repository, file://, git:// or https:// (token in PCTL_GIT_TOKEN)
    #[arg(long, value_name = "URL|PATH")]
    deploy_repo: String,
    /// Publish to this branch (for review in a pull request) instead of the organisation's deploy branch
    #[arg(long, value_name = "BRANCH")]
    branch: Option<String>,
    /// Also write the review here: summary.md (one comment), part-N.md (every diff, split), plan.json
    #[arg(long, value_name = "DIR")]
    report_dir: Option<PathBuf>,
    /// With --format markdown: print every diff, split into comment-sized parts after the summary
    #[arg(long)]
    split: bool,
    /// A service of this run really moved: the repository its record in the deploy repository
    /// names (its previous home). Without it, a service name bound to another repository or team
    /// is refused
    #[arg(long, value_name = "REPOSITORY")]
    move_from: Option<String>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum SchemaArg {
    Platform,
    Organisation,
}
impl Command {
    /// The format this run renders in: the one given, else its default here (`github` inside
    /// GitHub Actions for the commands that have it).
    fn format(&self) -> Format {
        match self {
            Command::Validate { format, .. } | Command::Render { format, .. } => {
                formats::choose(*format, true, Format::Human)
            }
            Command::Diff { format, .. }
            | Command::Publish { format, .. }
            | Command::Promote { format, .. }
            | Command::Preview { format, .. }
            | Command::Review { format, .. } => formats::choose(*format, true, Format::Human),
            Command::Cost { format, .. } => formats::choose(*format, true, Format::Human),
            Command::Graph { format, .. } => (*format).into(),
            Command::Catalog { format, .. } => (*format).into(),
            Command::New(args) => args.format(),
            Command::Metrics(args) => formats::choose(args.format, false, Format::Human),
            Command::Status(args) => args.format.into(),
            Command::Schema { .. } | Command::Completions { .. } | Command::Man { .. } => {
                Format::Human
            }
        }
    }
}

pub fn run() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            });
        }
    };
    anstream::ColorChoice::write_global(match cli.color {
        ColorWhen::Auto => anstream::ColorChoice::Auto,
        ColorWhen::Always => anstream::ColorChoice::Always,
        ColorWhen::Never => anstream::ColorChoice::Never,
    });
    let verbosity = if cli.quiet {
        crate::progress::QUIET.store(true, std::sync::atomic::Ordering::Relaxed);
        Verbosity::Quiet
    } else if cli.verbose {
        Verbosity::Verbose
    } else {
        Verbosity::Normal
    };
    let format = cli.command.format();
    crate::report::configure(format, verbosity);
    let report = match cli.command {
        Command::Validate {
            input, policies, ..
        } => cmd::validate::run(&input.with(&policies, None)),
        Command::Render {
            input,
            policies,
            shard,
            pins,
            out,
            no_cache,
            ..
        } => cmd::render::run(
            &input.with(&policies, Some(&shard)),
            out.as_deref(),
            pins.overrides(),
            !no_cache,
        ),
        Command::Diff {
            input,
            policies,
            shard,
            pins,
            deploy,
            ..
        } => cmd::publish::run(
            &input.with(&policies, Some(&shard)),
            pins.overrides(),
            &deploy.deploy(None),
            None,
            format,
        ),
        Command::Publish {
            input,
            policies,
            shard,
            pins,
            deploy,
            protected_via_branch,
            force,
            remove,
            max_wait,
            max_attempts,
            ..
        } => cmd::publish::run(
            &input.with(&policies, Some(&shard)),
            pins.overrides(),
            &deploy.deploy(protected_via_branch),
            Some((
                force,
                remove,
                crate::publish::Retry {
                    max_wait,
                    max_attempts,
                },
            )),
            format,
        ),
        Command::Cost {
            input,
            policies,
            by,
            ..
        } => cmd::cost::run(&input.with(&policies, None), by, format),
        Command::Graph { input, .. } => cmd::graph::run(&input.inputs(), format),
        Command::Schema { which, blueprints } => {
            let kind = match which {
                SchemaArg::Platform => schema::SchemaKind::Platform,
                SchemaArg::Organisation => schema::SchemaKind::Organisation,
            };
            cmd::schema::run(kind, blueprints.as_deref())
        }
        Command::New(args) => Report::exit_only(crate::new::run(args, format)),
        Command::Metrics(args) => crate::metrics::run(&args, format),
        Command::Status(args) => cmd::status::run(&args, format),
        Command::Promote { args, .. } => cmd::promote::run(&args, format),
        Command::Preview { args, .. } => cmd::preview::run(&args, format),
        Command::Review { args, .. } => cmd::review::run(&args, format),
        Command::Catalog { service, input, .. } => {
            cmd::catalog::run(&service, &input.inputs(), format)
        }
        Command::Completions { shell } => {
            crate::manual::completions(<Cli as clap::CommandFactory>::command(), shell)
        }
        Command::Man { out } => {
            crate::manual::man(<Cli as clap::CommandFactory>::command(), out.as_deref())
        }
    };
    ExitCode::from(finish(report, format))
}

/// The one place a command's report becomes output: diagnostics (human, JSON or annotations),
/// then its stdout text, its notes and closing line for people, then the exit code.
fn finish(report: Report, format: Format) -> u8 {
    if !report.reported {
        crate::report::emit(
            &report.diags,
            &report.sources,
            report.diag_format.unwrap_or(format),
            report.summary,
        );
    }
    // Inside a CI runner, text for people never starts a workflow command (see
    // report::neutralise); data (files, JSON, markdown) is printed as it is.
    let runner = crate::report::runner_reads_output(format);
    let human = |s: &str| {
        if runner {
            crate::report::neutralise(s)
        } else {
            s.to_string()
        }
    };
    if !report.stdout.is_empty() {
        if report.styled {
            let _ = anstream::stdout().write_all(human(&report.stdout).as_bytes());
        } else {
            let _ = std::io::stdout().lock().write_all(report.stdout.as_bytes());
        }
    }
    if format != Format::Json {
        let mut err = anstream::stderr();
        let notes: &[String] = if crate::report::verbosity() == Verbosity::Quiet {
            &[]
        } else {
            &report.notes
        };
        for line in notes {
            let _ = writeln!(err, "{}", human(line));
        }
        if let Some(line) = &report.closing {
            let _ = writeln!(err, "{}", human(line));
        }
    }
    report.exit
}

impl PinArgs {
    fn overrides(&self) -> SourceOverrides {
        SourceOverrides {
            sha: self.source_sha.clone(),
            image_tag: self.image_tag.clone(),
            image_digest: self.image_digest.clone(),
            review_only: false,
        }
    }
}

impl DeployArgs {
    fn deploy(&self, protected_via_branch: Option<String>) -> cmd::publish::Deploy {
        cmd::publish::Deploy {
            deploy_repo: self.deploy_repo.clone(),
            branch: self.branch.clone(),
            report_dir: self.report_dir.clone(),
            split: self.split,
            protected_via_branch,
            move_from: self.move_from.clone(),
            kind: cmd::publish::Kind::Version,
        }
    }
}
