//! The command line: clap definitions and dispatch. Each subcommand is a module of `cmd/` that
//! returns a [`Report`]; [`finish`] renders it, the only place output and exit codes are made.

use crate::cmd;
use crate::discover::SourceOverrides;
use crate::exit::{self, Report};
use crate::inputs::Inputs;
use crate::report::Format;
use clap::{Parser, Subcommand};
use pctl_core::validate::schema;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(name = "pctl", version, about = "GitOps intent compiler: platform.yaml -> deploy repository", long_about = None)]
pub struct Cli {
    /// Output format for diagnostics [default: github when GITHUB_ACTIONS=true, else human]
    #[arg(long, global = true, value_enum)]
    format: Option<Format>,
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Debug, Clone)]
struct InputArgs {
    /// An application folder (holding platform.yaml), a platform.yaml, or with --all an organisation checkout
    #[arg(default_value = ".")]
    path: PathBuf,
    /// Find every platform.yaml below PATH (skips hidden folders, target/ and node_modules/)
    #[arg(long)]
    all: bool,
    /// Organisation config [default: PATH/pctl-org.yaml, else the built-in example organisation]
    #[arg(long, value_name = "FILE")]
    org: Option<PathBuf>,
    /// Folder of blueprints that override or add to the built-in ones
    #[arg(long, value_name = "DIR")]
    blueprints: Option<PathBuf>,
    /// Folder (or file) of Rego policies to evaluate for every service, besides the organisation's `spec.policies`
    #[arg(long, value_name = "DIR")]
    policies: Option<PathBuf>,
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
            policies: self.policies.clone(),
            shard: self.shard,
            allow_none: false,
            deploy_repo: Default::default(),
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

#[derive(Subcommand, Debug)]
enum Command {
    /// Check platform.yaml (and the organisation config): every problem, with file:line:column
    Validate {
        #[command(flatten)]
        input: InputArgs,
    },
    /// Compile platform.yaml into the files of the deploy repository
    Render {
        #[command(flatten)]
        input: InputArgs,
        /// Write the tree into this folder (new, empty, or written by pctl before); without it, print the files
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Image tag to deploy [default: the source commit]
        #[arg(long, value_name = "TAG")]
        image_tag: Option<String>,
        /// Commit of the application repository [default: its HEAD]
        #[arg(long, value_name = "SHA")]
        source_sha: Option<String>,
        /// Render every service, also those whose inputs are unchanged since the last render into --out (and compare every file)
        #[arg(long)]
        no_cache: bool,
    },
    /// Show what publishing would change in the deploy repository, as a unified diff
    Diff {
        #[command(flatten)]
        input: InputArgs,
        #[command(flatten)]
        pins: PinArgs,
        #[command(flatten)]
        deploy: DeployArgs,
    },
    /// Commit and push exactly the rendered change to the deploy repository
    Publish {
        #[command(flatten)]
        input: InputArgs,
        #[command(flatten)]
        pins: PinArgs,
        #[command(flatten)]
        deploy: DeployArgs,
        /// Overwrite files edited by hand in the deploy repository (and take over unmanaged files at pctl's paths)
        #[arg(long)]
        force: bool,
        /// Delete everything pctl generated for a service that no longer exists (repeatable)
        #[arg(long, value_name = "SERVICE")]
        remove: Vec<String>,
        /// Attempts when other publishers push first
        #[arg(long, default_value_t = 10, value_name = "N")]
        max_attempts: u32,
    },
    /// Monthly cost per service, team, environment or resource, from the organisation's size catalogue
    Cost {
        #[command(flatten)]
        input: InputArgs,
        /// Group by
        #[arg(long, value_enum, default_value = "service")]
        by: crate::cmd::cost::By,
    },
    /// Print the dependency graph of the services found (use --all): --format mermaid (default), dot or json
    Graph {
        #[command(flatten)]
        input: InputArgs,
    },
    /// Print a JSON Schema (for editors: yaml-language-server)
    Schema {
        /// Which schema
        #[arg(value_enum, default_value = "platform")]
        which: SchemaArg,
    },
    /// Start a new service: platform.yaml, a GitHub workflow using the pctl action, a README section
    New(crate::new::NewArgs),
    /// DORA and adoption metrics from the deploy repository's history (--format human|json|markdown)
    Metrics(crate::metrics::Args),
    /// Who owns a service, how to reach them, what it depends on and what depends on it (with
    /// --all over the organisation checkout), its endpoints, SLA and monthly cost
    Catalog {
        /// The service (metadata.name of its platform.yaml)
        service: String,
        #[command(flatten)]
        input: InputArgs,
    },
}

#[derive(clap::Args, Debug, Clone)]
struct PinArgs {
    /// Image tag to deploy [default: the source commit]
    #[arg(long, value_name = "TAG")]
    image_tag: Option<String>,
    /// Commit of the application repository [default: its HEAD]
    #[arg(long, value_name = "SHA")]
    source_sha: Option<String>,
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
    /// publish: when the change touches a protected environment, publish to this review branch
    /// instead of the deploy branch (non-protected changes still go straight in)
    #[arg(long, value_name = "BRANCH", conflicts_with = "branch")]
    protected_via_branch: Option<String>,
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
    let format = cli.format.unwrap_or_else(|| {
        if std::env::var("GITHUB_ACTIONS").as_deref() == Ok("true") {
            Format::Github
        } else {
            Format::Human
        }
    });
    let report = match cli.command {
        Command::Validate { input } => cmd::validate::run(&input.inputs()),
        Command::Render {
            input,
            out,
            image_tag,
            source_sha,
            no_cache,
        } => cmd::render::run(
            &input.inputs(),
            out.as_deref(),
            SourceOverrides {
                sha: source_sha,
                image_tag,
            },
            !no_cache,
        ),
        Command::Diff {
            input,
            pins,
            deploy,
        } => cmd::publish::run(
            &input.inputs(),
            pins.overrides(),
            &deploy.deploy(),
            None,
            format,
        ),
        Command::Publish {
            input,
            pins,
            deploy,
            force,
            remove,
            max_attempts,
        } => cmd::publish::run(
            &input.inputs(),
            pins.overrides(),
            &deploy.deploy(),
            Some((force, remove, max_attempts)),
            format,
        ),
        Command::Cost { input, by } => cmd::cost::run(&input.inputs(), by, format),
        Command::Graph { input } => {
            cmd::graph::run(&input.inputs(), cli.format.unwrap_or(Format::Mermaid))
        }
        Command::Schema { which } => {
            let kind = match which {
                SchemaArg::Platform => schema::SchemaKind::Platform,
                SchemaArg::Organisation => schema::SchemaKind::Organisation,
            };
            Report::new(Vec::new(), Default::default(), exit::OK).stdout(schema::text(kind))
        }
        Command::New(args) => Report::exit_only(crate::new::run(args, format)),
        Command::Metrics(args) => crate::metrics::run(&args, format),
        Command::Catalog { service, input } => cmd::catalog::run(&service, &input.inputs(), format),
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
        for line in &report.notes {
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
        }
    }
}

impl DeployArgs {
    fn deploy(&self) -> cmd::publish::Deploy {
        cmd::publish::Deploy {
            deploy_repo: self.deploy_repo.clone(),
            branch: self.branch.clone(),
            report_dir: self.report_dir.clone(),
            split: self.split,
            protected_via_branch: self.protected_via_branch.clone(),
            move_from: self.move_from.clone(),
        }
    }
}
