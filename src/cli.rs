//! The command line: parses arguments and wires the stages together. Each subcommand is one
//! function; no stage prints on its own.

use crate::diag::{Diagnostic, has_errors, sort};
use crate::discover::{self, OrgSource, SourceOverrides, redact_url};
use crate::expand::BlueprintSet;
use crate::model::{Intent, Org};
use crate::plan::{self, Action};
use crate::report::{self, Format};
use crate::resolve::Source;
use crate::source::{SourceFile, SourceMap};
use crate::validate::{self, Checked, schema};
use clap::{Parser, Subcommand};
use rayon::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Exit codes (documented in the README).
pub const EXIT_OK: u8 = 0;
pub const EXIT_INVALID: u8 = 1;
pub const EXIT_USAGE: u8 = 2;

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
    /// A run may have no platform.yaml at all (`publish --remove` from an emptied repository).
    #[arg(skip)]
    allow_none: bool,
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

/// The shard (1-based) a service belongs to out of `n`: from a hash of its name, so the
/// partition never depends on discovery order or on which other services exist.
pub fn shard_of(service: &str, n: u32) -> u32 {
    let h = crate::plan::sha256(service);
    let v = u64::from_str_radix(&h[..16], 16).unwrap_or(0);
    (v % u64::from(n)) as u32 + 1
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
        by: CostBy,
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
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum CostBy {
    Service,
    Team,
    Env,
    Resource,
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
            return ExitCode::from(if e.use_stderr() { EXIT_USAGE } else { EXIT_OK });
        }
    };
    let format = cli.format.unwrap_or_else(|| {
        if std::env::var("GITHUB_ACTIONS").as_deref() == Ok("true") {
            Format::Github
        } else {
            Format::Human
        }
    });
    let code = match cli.command {
        Command::Validate { input } => cmd_validate(&input, format),
        Command::Render {
            input,
            out,
            image_tag,
            source_sha,
            no_cache,
        } => cmd_render(
            &input,
            out.as_deref(),
            SourceOverrides {
                sha: source_sha,
                image_tag,
            },
            !no_cache,
            format,
        ),
        Command::Diff {
            input,
            pins,
            deploy,
        } => cmd_publish(&input, pins, &deploy, None, format),
        Command::Publish {
            input,
            pins,
            deploy,
            force,
            remove,
            max_attempts,
        } => cmd_publish(
            &input,
            pins,
            &deploy,
            Some((force, remove, max_attempts)),
            format,
        ),
        Command::Cost { input, by } => cmd_cost(&input, by, format),
        Command::Graph { input } => cmd_graph(&input, cli.format.unwrap_or(Format::Mermaid)),
        Command::Schema { which } => {
            let kind = match which {
                SchemaArg::Platform => schema::SchemaKind::Platform,
                SchemaArg::Organisation => schema::SchemaKind::Organisation,
            };
            let _ = std::io::stdout().write_all(schema::text(kind).as_bytes());
            EXIT_OK
        }
        Command::New(args) => crate::new::run(args, format),
        Command::Metrics(args) => crate::metrics::cmd(&args, format),
        Command::Catalog { service, input } => cmd_catalog(&service, &input, format),
    };
    ExitCode::from(code)
}

/// Everything validation produced: shared by `validate` and `render`.
pub struct CheckedRun {
    pub sources: SourceMap,
    pub policies: Option<crate::policy::Policies>,
    pub blueprints: Option<BlueprintSet>,
    pub org: Option<Checked<Org>>,
    pub intents: Vec<(PathBuf, Checked<Intent>)>,
    pub files: usize,
    pub diags: Vec<Diagnostic>,
    pub usage_error: bool,
}

/// Discovers, loads and validates everything a run needs (blueprints, organisation config,
/// intents). Shared by `validate` and `render`, and by tests.
pub fn check_inputs(
    path: &Path,
    all: bool,
    org: Option<&Path>,
    blueprints: Option<&Path>,
) -> CheckedRun {
    check(&InputArgs {
        path: path.to_path_buf(),
        all,
        org: org.map(Path::to_path_buf),
        blueprints: blueprints.map(Path::to_path_buf),
        policies: None,
        shard: None,
        allow_none: false,
    })
}

fn check(input: &InputArgs) -> CheckedRun {
    let sources = SourceMap::default();
    let mut run = CheckedRun {
        sources: sources.clone(),
        policies: None,
        blueprints: None,
        org: None,
        intents: Vec::new(),
        files: 0,
        diags: Vec::new(),
        usage_error: false,
    };
    let blueprints = match BlueprintSet::load(input.blueprints.as_deref(), &sources) {
        Ok(b) => b,
        Err(d) => {
            run.diags = d;
            return run;
        }
    };
    let org_file = match discover::find_org(&input.path, input.org.as_deref()) {
        OrgSource::Builtin => {
            SourceFile::new("(built-in) examples/pctl-org.yaml", schema::default_org())
        }
        OrgSource::File(p) => match crate::load::read_source(&p, &display(&p)) {
            Ok(f) => f,
            Err(d) => {
                run.usage_error = input.org.is_some() && !p.exists();
                run.diags.push(d);
                return run;
            }
        },
    };
    sources.add(org_file.clone());
    run.files += 1;
    let (org, mut d) = validate::check_org(&org_file);
    run.diags.append(&mut d);
    let Some(org) = org else { return run };
    // Rego policies: the organisation's (relative to its config file) and --policies.
    let mut policy_paths: Vec<PathBuf> = Vec::new();
    if let OrgSource::File(p) = discover::find_org(&input.path, input.org.as_deref()) {
        let base = p.parent().map(Path::to_path_buf).unwrap_or_default();
        policy_paths.extend(org.model.spec.policies.iter().map(|r| base.join(r)));
    }
    policy_paths.extend(input.policies.iter().cloned());
    let mut rego: Vec<(String, String)> = Vec::new();
    for root in &policy_paths {
        if !root.exists() {
            run.diags.push(
                Diagnostic::error(
                    "policy/missing",
                    format!("policy path `{}` does not exist", display(root)),
                )
                .help("fix `spec.policies` in the organisation config or the --policies argument"),
            );
            continue;
        }
        for e in walkdir::WalkDir::new(root)
            .sort_by_file_name()
            .into_iter()
            .flatten()
        {
            if e.file_type().is_file() && e.path().extension().is_some_and(|x| x == "rego") {
                match crate::load::read_source(e.path(), &display(e.path())) {
                    Ok(f) => {
                        sources.add(f.clone());
                        rego.push((f.name.clone(), f.text.to_string()));
                    }
                    Err(d) => run.diags.push(d),
                }
            }
        }
    }
    if !rego.is_empty() {
        match crate::policy::Policies::load(&rego) {
            Ok(p) => run.policies = Some(p),
            Err(mut d) => run.diags.append(&mut d),
        }
    }
    let paths = match discover::find_intents(&input.path, input.all) {
        Ok(p) => p,
        Err(d) if input.allow_none && d.code == "usage/no-intent" => Vec::new(),
        Err(d) => {
            run.diags.push(d);
            run.usage_error = true;
            return run;
        }
    };
    let caps = blueprints.capabilities();
    let results: Vec<(PathBuf, Option<Checked<Intent>>, Vec<Diagnostic>)> = paths
        .par_iter()
        .map(|p| match crate::load::read_source(p, &display(p)) {
            Err(d) => (p.clone(), None, vec![d]),
            Ok(file) => {
                sources.add(file.clone());
                let (c, d) = validate::check_intent(&file, &org.model, &caps);
                (p.clone(), c, d)
            }
        })
        .collect();
    run.files += results.len();
    for (p, c, mut d) in results {
        run.diags.append(&mut d);
        if let Some(c) = c {
            run.intents.push((p, c));
        }
    }
    let all: Vec<Checked<Intent>> = run.intents.iter().map(|(_, c)| c.clone()).collect();
    run.diags.extend(validate::check_across(&all));
    // Dependencies must exist when the run sees the whole organisation (--all).
    let refs: Vec<&Checked<Intent>> = all.iter().collect();
    run.diags.extend(crate::graph::check(&refs, input.all));
    run.org = Some(org);
    run.blueprints = Some(blueprints);
    sort(&mut run.diags);
    run
}

fn display(p: &Path) -> String {
    let s = p.display().to_string();
    s.strip_prefix("./").map(str::to_string).unwrap_or(s)
}

fn counts(diags: &[Diagnostic]) -> (usize, usize) {
    let errors = diags.iter().filter(|d| d.is_error()).count();
    (errors, diags.len() - errors)
}

fn say(format: Format, line: &str) {
    if format != Format::Json {
        let _ = writeln!(anstream::stderr(), "{line}");
    }
}

fn problems(errors: usize, warnings: usize) -> String {
    let mut parts = Vec::new();
    if errors > 0 {
        parts.push(format!(
            "{errors} error{}",
            if errors == 1 { "" } else { "s" }
        ));
    }
    if warnings > 0 {
        parts.push(format!(
            "{warnings} warning{}",
            if warnings == 1 { "" } else { "s" }
        ));
    }
    parts.join(", ")
}

fn cmd_validate(input: &InputArgs, format: Format) -> u8 {
    let mut run = check(input);
    // A valid input is also compiled (in memory, nothing written): blueprint errors, guardrails
    // and organisation policies are part of "is this platform.yaml OK?".
    if !has_errors(&run.diags) {
        if let (Some(org), Some(blueprints)) = (&run.org, &run.blueprints) {
            let source = Source {
                repository: "validate".into(),
                sha: "0".repeat(40),
                image_tag: "validate".into(),
            };
            let intents: Vec<(Checked<Intent>, Source)> = run
                .intents
                .iter()
                .map(|(_, c)| (c.clone(), source.clone()))
                .collect();
            let compiled = crate::compile::compile_with(
                &org.model,
                &intents,
                blueprints,
                crate::compile::Options {
                    policies: run.policies.as_ref(),
                    ..crate::compile::Options::NONE
                },
            );
            run.diags.extend(compiled.diagnostics);
            sort(&mut run.diags);
        }
    }
    let (errors, warnings) = counts(&run.diags);
    let summary = serde_json::json!({"files": run.files, "services": run.intents.len(), "errors": errors, "warnings": warnings});
    report::emit(&run.diags, &run.sources, format, summary);
    if errors > 0 {
        say(
            format,
            &format!(
                "error: {} (checked {} platform.yaml file{} and the organisation config)",
                problems(errors, warnings),
                run.files.saturating_sub(1),
                if run.files == 2 { "" } else { "s" }
            ),
        );
        return if run.usage_error {
            EXIT_USAGE
        } else {
            EXIT_INVALID
        };
    }
    let w = if warnings > 0 {
        format!(" ({})", problems(0, warnings))
    } else {
        String::new()
    };
    say(
        format,
        &format!(
            "ok: {} service{} valid{w}",
            run.intents.len(),
            if run.intents.len() == 1 { "" } else { "s" }
        ),
    );
    EXIT_OK
}

/// The compiled tree of a run, or the exit code after reporting why there is none.
struct Built {
    run: CheckedRun,
    org: Checked<Org>,
    compiled: crate::compile::Compiled,
    sources: Vec<(String, String, String)>,
    /// Service -> source commit time, for the Pctl-Source-Time trailer.
    times: std::collections::BTreeMap<String, i64>,
    /// Path prefix -> approvers, for the review summary (the CODEOWNERS rules of this run).
    approvals: std::collections::BTreeMap<String, Vec<String>>,
    /// Some services failed (with --all): the others were compiled; exit 1 at the end.
    partial: bool,
    /// With a render cache: every compiled service's key, and the hits (not rendered).
    cache: Option<(BTreeMap<String, String>, BTreeSet<String>)>,
}

fn fail(run: &CheckedRun, diags: &[Diagnostic], code: u8, format: Format) -> u8 {
    let (errors, warnings) = counts(diags);
    report::emit(
        diags,
        &run.sources,
        format,
        serde_json::json!({"errors": errors, "warnings": warnings, "written": false}),
    );
    say(
        format,
        &format!("error: {}; nothing was written", problems(errors, warnings)),
    );
    code
}

/// A consumer of compiled parts of the tree (see [`build`]).
type Sink<'a> = &'a mut dyn FnMut(crate::expand::Tree) -> Result<(), Diagnostic>;

/// `cache`: the output folder whose render cache may spare rendering unchanged services.
/// `sink`: takes the tree part by part as it is compiled; without it, `compiled.tree` is whole.
fn build(
    input: &InputArgs,
    pins: &SourceOverrides,
    format: Format,
    cache: Option<&Path>,
    sink: Option<Sink<'_>>,
) -> Result<Built, u8> {
    let mut run = check(input);
    // With --all, one bad repository does not block the others: its diagnostics are reported,
    // its earlier output is left alone, the rest renders, and the exit code says it failed.
    let intent_files: std::collections::BTreeSet<String> = run
        .intents
        .iter()
        .map(|(_, c)| c.file.name.clone())
        .collect();
    let failed_files: std::collections::BTreeSet<String> = run
        .diags
        .iter()
        .filter(|d| d.is_error())
        .filter_map(|d| d.file.clone())
        .collect();
    let only_intents_failed = run.org.as_ref().is_some_and(|o| o.ok)
        && run.blueprints.is_some()
        && !run.usage_error
        && run.diags.iter().filter(|d| d.is_error()).all(|d| {
            d.file
                .as_ref()
                .is_some_and(|f| intent_files.contains(f) || f.ends_with("platform.yaml"))
        });
    let mut partial = false;
    if input.all && only_intents_failed && has_errors(&run.diags) {
        partial = true;
        for (_, c) in run.intents.iter_mut() {
            if failed_files.contains(&c.file.name) {
                c.ok = false;
            }
        }
    } else if has_errors(&run.diags) {
        let code = if run.usage_error {
            EXIT_USAGE
        } else {
            EXIT_INVALID
        };
        return Err(fail(&run, &run.diags, code, format));
    }
    let (Some(org), Some(blueprints)) = (run.org.take(), run.blueprints.take()) else {
        return Err(fail(&run, &run.diags, EXIT_INVALID, format));
    };
    // The organisation-wide catalog (catalog/index.json, catalog/systems.yaml) needs every
    // service: only a run over the whole organisation in which nothing failed renders it.
    let catalog = if input.all && !partial {
        let all: Vec<&Checked<Intent>> = run.intents.iter().map(|(_, c)| c).collect();
        match crate::catalog::org_files(&org.model, &all, &run.sources) {
            Ok(t) => Some(t),
            Err(d) => {
                run.diags.extend(d);
                return Err(fail(&run, &run.diags, EXIT_INVALID, format));
            }
        }
    } else {
        None
    };
    let mut intents: Vec<(Checked<Intent>, Source)> = Vec::new();
    let mut times = std::collections::BTreeMap::new();
    for (path, c) in std::mem::take(&mut run.intents) {
        if !c.ok {
            continue;
        }
        if let Some((i, n)) = input.shard {
            if shard_of(&c.model.metadata.name, n) != i {
                continue;
            }
        }
        match discover::source_of(&path, c.model.metadata.repository.as_deref(), pins) {
            Ok(src) => {
                if let Some(t) = crate::metrics::source_commit_time(&path, &src.sha) {
                    times.insert(c.model.metadata.name.clone(), t);
                }
                intents.push((c, src))
            }
            Err(d) => {
                run.diags.push(d);
                return Err(fail(&run, &run.diags, EXIT_USAGE, format));
            }
        }
    }
    let cache = cache.map(|dir| {
        let run_fp = crate::cache::run_fingerprint(
            &org.file.text,
            &blueprints.fingerprint(),
            run.policies.as_ref().map_or("", |p| p.fingerprint.as_str()),
        );
        let keys: BTreeMap<String, String> = intents
            .iter()
            .map(|(c, src)| {
                let k = crate::cache::key(&run_fp, &c.file.name, &c.file.text, src);
                (c.model.metadata.name.clone(), k)
            })
            .collect();
        let hits = crate::cache::hits(dir, &keys);
        (keys, hits)
    });
    let no_hits = BTreeSet::new();
    let cached = cache.as_ref().map_or(&no_hits, |(_, h)| h);
    // Services compile in parts of 500 (in name order), each part handed to `sink` (or kept)
    // as soon as it is compiled: a render of 10,000 services never holds every file at once.
    // Every part renders the organisation's own files the same way: they are kept from the
    // first part and handed over last, with the catalog, once it is known that something
    // rendered. The budget guardrail sees the costs of the whole run.
    // PCTL_RENDER_PART: the part size, for tests that compare renders in parts of 1 and whole.
    let chunk = std::env::var("PCTL_RENDER_PART")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(500);
    intents.sort_by(|a, b| a.0.model.metadata.name.cmp(&b.0.model.metadata.name));
    let survey = crate::compile::survey(&org.model, &intents);
    let team_costs = crate::compile::team_costs(&survey);
    // A progress bar on stderr for long runs, when it is a terminal (see progress.rs).
    let progress =
        crate::progress::Progress::new((intents.len() - cached.len()) as u64, "rendering");
    let mut whole = crate::expand::Tree::new();
    let mut tail = crate::expand::Tree::new();
    let mut service_paths: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut services = Vec::new();
    let mut environments = BTreeSet::new();
    let mut costs = Vec::new();
    let mut clean = BTreeSet::new();
    let mut diagnostics = Vec::new();
    let mut sink = sink;
    for (i, part) in intents.chunks(chunk).enumerate() {
        let compiled = crate::compile::compile_with(
            &org.model,
            part,
            &blueprints,
            crate::compile::Options {
                policies: run.policies.as_ref(),
                cached,
                on_service: &|| progress.inc(1),
                team_costs: Some(&team_costs),
                survey: Some(&survey),
            },
        );
        let mut tree = crate::expand::Tree::new();
        for (path, f) in compiled.tree {
            match &f.owner {
                crate::expand::Owner::Service(_)
                    if catalog.as_ref().is_some_and(|c| c.contains_key(&path)) =>
                {
                    // Found before anything of this part is written (the check after the
                    // loop is for runs without a catalog part).
                    let d = Diagnostic::error(
                        "render/path-conflict",
                        format!("`{path}` would be generated twice (by a blueprint and by the organisation's service catalog)"),
                    )
                    .help("blueprint outputs must not use the catalog's paths (catalog/index.json, catalog/systems.yaml)");
                    run.diags.push(d);
                    progress.finish();
                    return Err(fail(&run, &run.diags, EXIT_INVALID, format));
                }
                crate::expand::Owner::Service(_) => {
                    // Two parts cannot see each other's paths: the first service keeps one.
                    if !service_paths.insert(path.clone()) {
                        diagnostics.push(
                            Diagnostic::error(
                                "render/path-conflict",
                                format!(
                                    "`{path}` would be generated twice (by {} and another service)",
                                    f.owner.name()
                                ),
                            )
                            .help("service names and blueprint output paths must not collide"),
                        );
                        continue;
                    }
                    tree.insert(path, f);
                }
                _ if i == 0 => {
                    tail.insert(path, f);
                }
                _ => {}
            }
        }
        services.extend(compiled.services);
        environments.extend(compiled.environments);
        costs.extend(compiled.costs);
        clean.extend(compiled.clean);
        diagnostics.extend(compiled.diagnostics);
        match sink.as_mut() {
            Some(sink) => {
                if let Err(d) = sink(tree) {
                    progress.finish();
                    return Err(fail(&run, &[d], EXIT_USAGE, format));
                }
            }
            None => whole.extend(tree),
        }
    }
    progress.finish();
    let mut diagnostics = crate::diag::dedupe(diagnostics);
    sort(&mut diagnostics);
    run.diags.extend(diagnostics.iter().cloned());
    let mut compiled = crate::compile::Compiled {
        tree: whole,
        services,
        environments: environments.into_iter().collect(),
        diagnostics,
        costs,
        clean,
    };
    if has_errors(&run.diags) {
        // Services whose blueprints failed were left out of the tree whole.
        if !input.all || compiled.services.is_empty() {
            return Err(fail(&run, &run.diags, EXIT_INVALID, format));
        }
        partial = true;
    }
    if let (Some(catalog), false) = (catalog, partial) {
        for (path, f) in catalog {
            if tail.contains_key(&path) || service_paths.contains(&path) {
                let d = Diagnostic::error(
                    "render/path-conflict",
                    format!("`{path}` would be generated twice (by a blueprint and by the organisation's service catalog)"),
                )
                .help("blueprint outputs must not use the catalog's paths (catalog/index.json, catalog/systems.yaml)");
                run.diags.push(d);
                return Err(fail(&run, &run.diags, EXIT_INVALID, format));
            }
            tail.insert(path, f);
        }
    }
    match sink.as_mut() {
        Some(sink) => {
            if let Err(d) = sink(tail) {
                return Err(fail(&run, &[d], EXIT_USAGE, format));
            }
        }
        None => compiled.tree.extend(tail),
    }
    let approvals = {
        let refs: Vec<&Checked<Intent>> = intents.iter().map(|(c, _)| c).collect();
        crate::catalog::approval_rules(&org.model, &refs)
    };
    let mut sources: Vec<(String, String, String)> = intents
        .iter()
        .map(|(c, s)| {
            (
                c.model.metadata.name.clone(),
                s.repository.clone(),
                s.sha.clone(),
            )
        })
        .collect();
    sources.sort();
    Ok(Built {
        run,
        org,
        compiled,
        sources,
        times,
        approvals,
        partial,
        cache,
    })
}

/// Writes the parts of a render into a folder as they are compiled (see [`build`]).
struct PartWriter<'a> {
    out: &'a Path,
    checked: bool,
    added: usize,
    changed: usize,
    unchanged: usize,
    /// Every path rendered, and the owners that rendered any: what deletion must spare.
    paths: std::collections::HashSet<String>,
    owners: BTreeSet<String>,
    /// Hashes of the service records written, for the render cache.
    records: BTreeMap<String, String>,
}

impl PartWriter<'_> {
    fn write(&mut self, tree: crate::expand::Tree) -> Result<(), Diagnostic> {
        if !self.checked {
            // Before the first write: never into a folder pctl did not write.
            plan::check_dir(self.out)?;
            self.checked = true;
        }
        let plan = plan::plan_files(self.out, &tree);
        plan::apply(self.out, &tree, &plan, &|| {})
            .map_err(|e| Diagnostic::error("out/write", format!("{e:#}")))?;
        self.added += plan.count(Action::Add);
        self.changed += plan.count(Action::Change);
        self.unchanged += plan.unchanged;
        self.records.extend(crate::cache::records(&tree));
        for (path, f) in tree {
            self.owners.insert(f.owner.name());
            self.paths.insert(path);
        }
        Ok(())
    }
}

fn cmd_render(
    input: &InputArgs,
    out: Option<&Path>,
    pins: SourceOverrides,
    use_cache: bool,
    format: Format,
) -> u8 {
    let started = std::time::Instant::now();
    let cache_dir = out.filter(|_| use_cache);
    let mut writer = out.map(|out| PartWriter {
        out,
        checked: false,
        added: 0,
        changed: 0,
        unchanged: 0,
        paths: Default::default(),
        owners: BTreeSet::new(),
        records: BTreeMap::new(),
    });
    let mut write_part = |tree: crate::expand::Tree| match writer.as_mut() {
        Some(w) => w.write(tree),
        None => Ok(()),
    };
    let sink: Option<Sink<'_>> = if out.is_some() {
        Some(&mut write_part)
    } else {
        None
    };
    let built = build(input, &pins, format, cache_dir, sink);
    let Built {
        run,
        compiled,
        partial,
        cache,
        ..
    } = match built {
        Ok(b) => b,
        Err(code) => return code,
    };
    let (errors, warnings) = counts(&run.diags);
    let finish = if partial { EXIT_INVALID } else { EXIT_OK };
    let (Some(out), Some(mut w)) = (out, writer) else {
        report::emit(
            &run.diags,
            &run.sources,
            format,
            serde_json::json!({"files": compiled.tree.len()}),
        );
        let mut stdout = std::io::stdout().lock();
        for (path, f) in &compiled.tree {
            let _ = writeln!(stdout, "--- {path}");
            let _ = stdout.write_all(f.content.as_bytes());
        }
        return finish;
    };
    if !w.checked {
        if let Err(d) = plan::check_dir(out) {
            return fail(&run, &[d], EXIT_USAGE, format);
        }
    }
    // What pctl generated before and this run did not render: deleted (see plan_deletions).
    let hits = cache.as_ref().map(|(_, h)| h.clone()).unwrap_or_default();
    let deletions = plan::plan_deletions(out, &|p| w.paths.contains(p), &w.owners, partial, &hits);
    if let Err(e) = plan::apply(out, &crate::expand::Tree::new(), &deletions, &|| {}) {
        let d = Diagnostic::error("out/write", format!("{e:#}"));
        return fail(&run, &[d], EXIT_USAGE, format);
    }
    if let Some((keys, _)) = &cache {
        // What this render wrote, for the next one. The folder is complete without it.
        let _ = crate::cache::write(out, keys, &hits, &compiled.clean, &w.records);
    }
    let deleted = deletions.count(Action::Delete);
    w.unchanged += deletions.kept;
    let files = w.paths.len() + deletions.kept;
    let rendered = compiled
        .services
        .iter()
        .filter(|s| !hits.contains(*s))
        .count();
    let cached = compiled.services.len() - rendered;
    let summary = serde_json::json!({
        "services": compiled.services,
        "environments": compiled.environments,
        "files": files,
        "rendered": rendered,
        "added": w.added,
        "changed": w.changed,
        "deleted": deleted,
        "unchanged": w.unchanged,
        "errors": errors,
        "warnings": warnings,
    });
    report::emit(&run.diags, &run.sources, format, summary);
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    let failed = if partial {
        let files: std::collections::BTreeSet<&String> = run
            .diags
            .iter()
            .filter(|d| d.is_error())
            .filter_map(|d| d.file.as_ref())
            .collect();
        format!(
            "; {} file{} with errors skipped, earlier output of those services left as it was",
            files.len(),
            plural(files.len())
        )
    } else {
        String::new()
    };
    say(
        format,
        &format!(
            "rendered {} service{} x {} environment{} into {}{}: {} files ({} added, {} changed, {} deleted, {} unchanged) in {:.2} s{failed}",
            compiled.services.len(),
            plural(compiled.services.len()),
            compiled.environments.len(),
            plural(compiled.environments.len()),
            display(out),
            if cached > 0 {
                format!(" ({cached} unchanged since the last render, from its cache)")
            } else {
                String::new()
            },
            files,
            w.added,
            w.changed,
            deleted,
            w.unchanged,
            started.elapsed().as_secs_f64(),
        ),
    );
    finish
}

/// `diff` (publish options None) and `publish`.
fn cmd_publish(
    input: &InputArgs,
    pins: PinArgs,
    deploy: &DeployArgs,
    publish: Option<(bool, Vec<String>, u32)>,
    format: Format,
) -> u8 {
    let pins = SourceOverrides {
        sha: pins.source_sha,
        image_tag: pins.image_tag,
    };
    let input = &InputArgs {
        allow_none: publish
            .as_ref()
            .is_some_and(|(_, remove, _)| !remove.is_empty()),
        ..input.clone()
    };
    let Built {
        run,
        org,
        compiled,
        sources,
        times,
        approvals,
        partial,
        ..
    } = match build(input, &pins, format, None, None) {
        Ok(b) => b,
        Err(code) => return code,
    };
    let (force, remove, max_attempts) = publish.clone().unwrap_or((false, Vec::new(), 1));
    if let Some(s) = remove.iter().find(|s| compiled.services.contains(s)) {
        let d = Diagnostic::error(
            "usage/remove-rendered",
            format!("`--remove {s}` names a service this run renders"),
        )
        .help("remove its platform.yaml from the run, or drop --remove");
        return fail(&run, &[d], EXIT_USAGE, format);
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
        max_attempts,
        token: std::env::var("PCTL_GIT_TOKEN")
            .ok()
            .filter(|t| !t.is_empty()),
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
                        && crate::report::review::env_of(&c.path)
                            .is_some_and(|e| protected.contains(&e))
                });
                if touches {
                    target.branch = Some(review.clone());
                }
            }
            Err((diags, environment)) => {
                return fail(&run, &diags, publish_exit(environment), format);
            }
        }
    }
    let outcome = match crate::publish::run(&compiled.tree, &target, &prov, publish.is_some()) {
        Ok(o) => o,
        Err((diags, environment)) => return fail(&run, &diags, publish_exit(environment), format),
    };
    let count = |a: Action| outcome.changes.iter().filter(|c| c.action == a).count();
    let mut names: Vec<String> = compiled.services.clone();
    names.extend(target.remove.iter().map(|s| format!("remove {s}")));
    let ctx = crate::report::review::Context {
        title: format!(
            "pctl: {}",
            if names.is_empty() {
                "organisation".to_string()
            } else {
                names.join(", ")
            }
        ),
        protected_envs: org
            .model
            .spec
            .environments
            .iter()
            .filter(|e| e.protected)
            .map(|e| e.name.clone())
            .collect(),
        destination: format!("{} `{}`", redact_url(&target.url), outcome.branch),
        approvals,
    };
    let plan_json = crate::report::review::plan_json(&outcome.changes, &outcome.removals, &ctx);
    let summary = serde_json::json!({
        "commit": outcome.commit,
        "branch": outcome.branch,
        "attempts": outcome.attempts,
        "added": count(Action::Add),
        "changed": count(Action::Change),
        "deleted": count(Action::Delete),
        "removals": outcome.removals,
        "files": plan_json["files"],
    });
    let markdown = crate::report::review::markdown(&outcome.changes, &outcome.removals, &ctx);
    if let Some(dir) = &deploy.report_dir {
        if let Err(e) = write_reports(
            dir,
            &markdown,
            &crate::report::review::split_parts(&outcome.changes, &ctx),
            &summary,
        ) {
            let d = Diagnostic::error(
                "report/write",
                format!("cannot write the review into {}: {e}", display(dir)),
            )
            .help("choose a writable --report-dir");
            return fail(&run, &[d], EXIT_USAGE, format);
        }
    }
    if format == Format::Github {
        // Step outputs for the GitHub Action (action.yml reads them).
        if let Ok(path) = std::env::var("GITHUB_OUTPUT") {
            let changed = outcome
                .changes
                .iter()
                .any(|c| !c.path.starts_with(".pctl/"));
            let lines = format!(
                "changed={changed}\ncommit-sha={}\nbranch={}\nbase-branch={}\n",
                outcome.commit.as_deref().unwrap_or(""),
                outcome.branch,
                target.base
            );
            if let Ok(mut f) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
            {
                let _ = f.write_all(lines.as_bytes());
            }
        }
        if let Ok(path) = std::env::var("GITHUB_STEP_SUMMARY") {
            append_step_summary(
                Path::new(&path),
                &crate::report::review::step_summary(&outcome.changes, &outcome.removals, &ctx),
            );
        }
    }
    if format == Format::Markdown {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(markdown.as_bytes());
        if deploy.split {
            for part in crate::report::review::split_parts(&outcome.changes, &ctx) {
                let _ = write!(out, "\n{part}");
            }
        }
    }
    report::emit(&run.diags, &run.sources, format, summary);
    if format != Format::Json && format != Format::Markdown {
        let mut err = anstream::stderr();
        let warn = anstyle::Style::new()
            .bold()
            .fg_color(Some(anstyle::AnsiColor::Yellow.into()));
        for r in &outcome.removals {
            let _ = writeln!(err, "{warn}removal{warn:#}: {r}");
        }
        if publish.is_none() {
            print_diff(&outcome.changes);
        }
        // Per service and environment: what a reviewer scans first.
        let mut per: std::collections::BTreeMap<(&str, &str), [usize; 3]> = Default::default();
        for c in outcome
            .changes
            .iter()
            .filter(|c| !c.path.starts_with(".pctl/"))
        {
            let env = crate::report::review::env_of(&c.path).unwrap_or("-");
            per.entry((c.owner.as_str(), env)).or_default()[c.action as usize] += 1;
        }
        for ((owner, env), [a, ch, d]) in &per {
            let _ = writeln!(
                err,
                "  {owner:<24} {env:<12} {a:>4} added {ch:>4} changed {d:>4} deleted"
            );
        }
        let what = format!(
            "{} added, {} changed, {} deleted",
            count(Action::Add),
            count(Action::Change),
            count(Action::Delete)
        );
        let line = match (&outcome.commit, publish.is_some()) {
            (_, false) if outcome.changes.is_empty() => {
                format!("no changes for {}", redact_url(&target.url))
            }
            (_, false) => format!("{what} (not published: this is a diff)"),
            (Some(c), true) => format!(
                "published {} to {} `{}`: {what} (attempt {})",
                &c[..12.min(c.len())],
                redact_url(&target.url),
                outcome.branch,
                outcome.attempts
            ),
            (None, true) => format!(
                "nothing to publish: `{}` of {} is up to date",
                outcome.branch,
                redact_url(&target.url)
            ),
        };
        say(format, &line);
    }
    if partial { EXIT_INVALID } else { EXIT_OK }
}

/// Unified diffs, coloured on a terminal (anstream strips colour when piped or with NO_COLOR).
fn print_diff(changes: &[crate::publish::Change]) {
    use anstyle::{AnsiColor, Style};
    let mut out = anstream::stdout();
    let red = Style::new().fg_color(Some(AnsiColor::Red.into()));
    let green = Style::new().fg_color(Some(AnsiColor::Green.into()));
    let cyan = Style::new().fg_color(Some(AnsiColor::Cyan.into()));
    let bold = Style::new().bold();
    // pctl's own records change with every file; their diff says nothing a reviewer needs.
    let (records, changes): (Vec<_>, Vec<_>) = changes
        .iter()
        .partition(|c| c.path.starts_with(&format!("{}/", plan::STATE_DIR)));
    for c in changes {
        let old = c
            .old
            .as_deref()
            .map(String::from_utf8_lossy)
            .unwrap_or_default();
        let new = c.new.as_deref().unwrap_or("");
        let (a, b) = match c.action {
            Action::Add => ("/dev/null".to_string(), format!("b/{}", c.path)),
            Action::Delete => (format!("a/{}", c.path), "/dev/null".to_string()),
            Action::Change => (format!("a/{}", c.path), format!("b/{}", c.path)),
        };
        let _ = writeln!(out, "{bold}--- {a}{bold:#}\n{bold}+++ {b}{bold:#}");
        let diff = similar::TextDiff::from_lines(old.as_ref(), new);
        for hunk in diff.unified_diff().context_radius(3).iter_hunks() {
            let _ = writeln!(out, "{cyan}{}{cyan:#}", hunk.header());
            for change in hunk.iter_changes() {
                let (sign, style) = match change.tag() {
                    similar::ChangeTag::Delete => ("-", red),
                    similar::ChangeTag::Insert => ("+", green),
                    similar::ChangeTag::Equal => (" ", Style::new()),
                };
                let text = change.value();
                let nl = if text.ends_with('\n') {
                    ""
                } else {
                    "\n\\ No newline at end of file\n"
                };
                let _ = write!(out, "{style}{sign}{text}{style:#}{nl}");
            }
        }
    }
    for r in records {
        let _ = writeln!(
            out,
            "{bold}~~~ {} (pctl's ownership record, updated){bold:#}",
            r.path
        );
    }
}

/// summary.md, part-1.md…part-N.md and plan.json, written whole (temporary file + rename).
fn write_reports(
    dir: &Path,
    summary_md: &str,
    parts: &[String],
    plan: &serde_json::Value,
) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let write = |name: &str, text: &str| -> std::io::Result<()> {
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
        tmp.write_all(text.as_bytes())?;
        tmp.persist(dir.join(name)).map(|_| ()).map_err(|e| e.error)
    };
    write("summary.md", summary_md)?;
    for (i, p) in parts.iter().enumerate() {
        write(&format!("part-{}.md", i + 1), p)?;
    }
    let mut json = serde_json::to_string_pretty(plan).expect("json");
    json.push('\n');
    write("plan.json", &json)
}

/// Appends to `$GITHUB_STEP_SUMMARY` without passing GitHub's 1 MiB per step.
fn append_step_summary(path: &Path, text: &str) {
    use crate::report::review::STEP_SUMMARY_MAX_BYTES;
    let used = std::fs::metadata(path)
        .map(|m| m.len() as usize)
        .unwrap_or(0);
    let room = STEP_SUMMARY_MAX_BYTES.saturating_sub(used);
    let text = if text.len() <= room {
        text.to_string()
    } else {
        let mut cut = room.saturating_sub(200);
        while cut > 0 && !text.is_char_boundary(cut) {
            cut -= 1;
        }
        format!(
            "{}\n\n_The summary was cut at GitHub's 1 MiB step-summary limit._\n",
            &text[..cut]
        )
    };
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = f.write_all(text.as_bytes());
    }
}

fn cmd_graph(input: &InputArgs, format: Format) -> u8 {
    let run = check(input);
    if has_errors(&run.diags) {
        let code = if run.usage_error {
            EXIT_USAGE
        } else {
            EXIT_INVALID
        };
        return fail(&run, &run.diags, code, Format::Human);
    }
    let intents: Vec<&Checked<Intent>> = run.intents.iter().map(|(_, c)| c).collect();
    let graph = crate::graph::Graph::new(&intents);
    let text = match format {
        Format::Json => serde_json::to_string_pretty(&graph).expect("json") + "\n",
        Format::Dot => graph.dot(),
        _ => graph.mermaid(),
    };
    report::emit(
        &run.diags,
        &run.sources,
        Format::Human,
        serde_json::Value::Null,
    );
    let _ = std::io::stdout().write_all(text.as_bytes());
    EXIT_OK
}

fn cmd_cost(input: &InputArgs, by: CostBy, format: Format) -> u8 {
    // Cost does not depend on the source commit: pin it so no git repository is needed.
    let pins = SourceOverrides {
        sha: Some("0".repeat(40)),
        image_tag: Some("cost".into()),
    };
    let Built {
        run,
        org,
        compiled,
        partial,
        ..
    } = match build(input, &pins, format, None, None) {
        Ok(b) => b,
        Err(code) => return code,
    };
    let key = match by {
        CostBy::Service => "service",
        CostBy::Team => "team",
        CostBy::Env => "env",
        CostBy::Resource => "resource",
    };
    let groups = crate::cost::by(&compiled.costs, key);
    let total = crate::cost::total(&compiled.costs);
    let budget = |team: &str| org.model.team(team).and_then(|t| t.budget_usd_month);
    let mut diags = run.diags.clone();
    if matches!(by, CostBy::Team) {
        for (team, usd) in &groups {
            if let Some(b) = budget(team).filter(|b| usd > b) {
                diags.push(
                    Diagnostic::warning("cost/over-budget", format!("team `{team}` would spend {} a month, over its budget of {}", crate::cost::usd(*usd), crate::cost::usd(b)))
                        .help("reduce sizes or replicas, or ask the platform team to raise the budget in pctl-org.yaml"),
                );
            }
        }
    }
    let rows: Vec<serde_json::Value> = groups
        .iter()
        .map(|(k, v)| {
            let mut row = serde_json::json!({key: k, "usd_month": v});
            if let (CostBy::Team, Some(b)) = (by, budget(k)) {
                row["budget_usd_month"] = serde_json::json!(b);
            }
            row
        })
        .collect();
    let summary = serde_json::json!({"by": key, "total_usd_month": total, "rows": rows, "lines": compiled.costs});
    report::emit(&diags, &run.sources, format, summary);
    let mut out = std::io::stdout().lock();
    match format {
        Format::Json => {}
        Format::Markdown => {
            let _ = writeln!(out, "| {key} | monthly cost |\n|---|--:|");
            for (k, v) in &groups {
                let _ = writeln!(out, "| {k} | {} |", crate::cost::usd(*v));
            }
            let _ = writeln!(out, "| **total** | **{}** |", crate::cost::usd(total));
        }
        _ => {
            let width = groups.keys().map(String::len).max().unwrap_or(5).max(5);
            for (k, v) in &groups {
                let extra = match (by, budget(k)) {
                    (CostBy::Team, Some(b)) => {
                        format!("  of {} ({:.0}%)", crate::cost::usd(b), v / b * 100.0)
                    }
                    _ => String::new(),
                };
                let _ = writeln!(out, "{k:<width$}  {:>14}{extra}", crate::cost::usd(*v));
            }
            let _ = writeln!(out, "{:<width$}  {:>14}", "total", crate::cost::usd(total));
        }
    }
    if partial || has_errors(&diags) {
        EXIT_INVALID
    } else {
        EXIT_OK
    }
}

/// `pctl catalog <service>`: the service's catalog record, in the terminal or as JSON. Reads
/// the intents and the organisation config only (no git, no rendering).
fn cmd_catalog(service: &str, input: &InputArgs, format: Format) -> u8 {
    let run = check(input);
    if has_errors(&run.diags) {
        let code = if run.usage_error {
            EXIT_USAGE
        } else {
            EXIT_INVALID
        };
        return fail(&run, &run.diags, code, format);
    }
    let (Some(org), intents) = (run.org.as_ref(), &run.intents) else {
        return fail(&run, &run.diags, EXIT_INVALID, format);
    };
    let all: Vec<&Checked<Intent>> = intents.iter().map(|(_, c)| c).collect();
    let Some(found) = all.iter().find(|c| c.model.metadata.name == service) else {
        let names: Vec<&str> = all.iter().map(|c| c.model.metadata.name.as_str()).collect();
        let d = Diagnostic::error(
            "usage/unknown-service",
            format!(
                "no platform.yaml below `{}` declares a service `{service}`",
                display(&input.path)
            ),
        )
        .expected(crate::diag::one_of(&names))
        .suggest(
            service,
            names.iter().copied(),
            "check the name (metadata.name), or run with --all over the organisation checkout",
        );
        return fail(&run, &[d], EXIT_USAGE, format);
    };
    let svc = crate::catalog::resolve_for_catalog(&found.model, &org.model);
    // What depends on it is only known when the run sees the whole organisation.
    let dependents = input.all.then(|| {
        crate::catalog::dependents(&all)
            .remove(service)
            .unwrap_or_default()
    });
    let entry = crate::catalog::entry(&svc, &org.model, dependents);
    report::emit(&run.diags, &run.sources, format, entry.clone());
    if format != Format::Json {
        let _ = std::io::stdout().write_all(crate::catalog::human(&entry).as_bytes());
    }
    EXIT_OK
}

/// Exit code of a failed publish: environment problems (network, contention) are 2, refused
/// changes (hand edits, unknown services) are 1.
fn publish_exit(environment: bool) -> u8 {
    if environment {
        EXIT_USAGE
    } else {
        EXIT_INVALID
    }
}
