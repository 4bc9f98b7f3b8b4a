//! `pctl new service`: the golden path. Takes what a new service is from flags (or asks for it
//! in a terminal), writes a `platform.yaml` that validates against the organisation, a GitHub
//! workflow that validates, diffs and publishes through the pctl action, and a README section on
//! how the service is deployed; then prints the next steps the way the platform sees them.
//!
//! Nothing is written unless every answer is valid and the generated platform.yaml passes the
//! same checks as `pctl validate`; existing files are never overwritten without `--force`.

use crate::discover::{self, OrgSource};
use crate::report::{self, Format};
use pctl_core::diag::{Diagnostic, did_you_mean, one_of};
use pctl_core::expand::BlueprintSet;
use pctl_core::model::Org;
use pctl_core::source::{SourceFile, SourceMap};
use pctl_core::validate::{self, Capabilities, schema, semantic};
use std::fmt::Write as _;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use crate::exit::{INVALID as EXIT_INVALID, OK as EXIT_OK, USAGE as EXIT_USAGE};

/// The longest service name: "<env>-<name>" must still fit a DNS label (docs/contract.md).
pub const MAX_NAME: usize = 40;
/// The schedule a new CronJob gets unless told otherwise: every day at 03:00.
pub const DEFAULT_SCHEDULE: &str = "0 3 * * *";
/// The port a new Service listens on.
pub const DEFAULT_PORT: u16 = 8080;
const WORKFLOW: &str = ".github/workflows/platform.yml";

#[derive(clap::Args, Debug)]
pub struct NewArgs {
    #[command(subcommand)]
    what: What,
}

#[derive(clap::Subcommand, Debug)]
enum What {
    /// A new service: platform.yaml, .github/workflows/platform.yml and a README section
    Service(ServiceArgs),
}

#[derive(clap::Args, Debug, Clone, Default)]
pub struct ServiceArgs {
    /// Name of the service: a DNS label (lowercase letters, digits, `-`), at most 40 characters
    pub name: Option<String>,
    /// What runs [asked in a terminal; with --yes: Service]
    #[arg(long, value_enum, ignore_case = true)]
    pub kind: Option<Kind>,
    /// The owning team: a team of the organisation config [asked in a terminal]
    #[arg(long, value_name = "TEAM")]
    pub owner: Option<String>,
    /// Add a database of this resource type (`--database` alone: postgres)
    #[arg(long, value_name = "TYPE", num_args = 0..=1, default_missing_value = "postgres")]
    pub database: Option<String>,
    /// Add a cache of this resource type (`--cache` alone: redis)
    #[arg(long, value_name = "TYPE", num_args = 0..=1, default_missing_value = "redis")]
    pub cache: Option<String>,
    /// Add a queue
    #[arg(long)]
    pub queue: bool,
    /// Cron schedule of a CronJob [default: "0 3 * * *"]
    #[arg(long, value_name = "CRON")]
    pub schedule: Option<String>,
    /// Folder to write into (created if missing; an existing folder is fine) [default: ./NAME]
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Organisation config [default: ./pctl-org.yaml, else the built-in example organisation]
    #[arg(long, value_name = "FILE")]
    pub org: Option<PathBuf>,
    /// Overwrite an existing platform.yaml or .github/workflows/platform.yml
    #[arg(long)]
    pub force: bool,
    /// Ask nothing: take the defaults for everything not given as a flag
    #[arg(long, short = 'y')]
    pub yes: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// A long-running process that receives traffic on a port
    #[value(name = "Service")]
    Service,
    /// A long-running process without inbound traffic (consumes a queue, ...)
    #[value(name = "Worker")]
    Worker,
    /// A job that runs on a schedule
    #[value(name = "CronJob")]
    CronJob,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Service, Kind::Worker, Kind::CronJob];
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Service => "Service",
            Kind::Worker => "Worker",
            Kind::CronJob => "CronJob",
        }
    }
    fn describe(self) -> &'static str {
        match self {
            Kind::Service => "receives traffic on a port (an API, a website)",
            Kind::Worker => "runs all the time without inbound traffic (a queue consumer)",
            Kind::CronJob => "runs on a schedule (a nightly report)",
        }
    }
}

/// Everything `pctl new service` needs to write the files.
#[derive(Debug, Clone, PartialEq)]
pub struct Answers {
    pub name: String,
    pub kind: Kind,
    pub owner: String,
    /// CronJob only.
    pub schedule: Option<String>,
    /// (resource name in platform.yaml, resource type), in platform.yaml order.
    pub resources: Vec<(String, String)>,
}

/// The organisation as `new` needs it.
struct OrgInfo {
    org: Org,
    /// The file the org came from (None: built in).
    file: Option<PathBuf>,
}

pub fn run(args: NewArgs, format: Format) -> u8 {
    let What::Service(a) = args.what;
    let sources = SourceMap::default();
    let out = Output {
        format,
        sources: sources.clone(),
    };
    let org = match load_org(a.org.as_deref(), &sources) {
        Ok(o) => o,
        Err((diags, code)) => return out.fail(&diags, code),
    };
    let caps = match BlueprintSet::load(&[], &sources) {
        Ok(b) => b.capabilities(),
        Err(diags) => return out.fail(&diags, EXIT_INVALID),
    };
    let interactive = !a.yes
        && (a.name.is_none() || a.kind.is_none() || a.owner.is_none())
        && std::io::stdin().is_terminal();
    let answers = if interactive {
        let stdin = std::io::stdin();
        let mut p = Prompter {
            input: stdin.lock(),
            out: std::io::stderr(),
        };
        gather(&a, &org.org, &caps, Some(&mut p))
    } else {
        gather::<std::io::StdinLock, std::io::Stderr>(&a, &org.org, &caps, None)
    };
    let answers = match answers {
        Ok(x) => x,
        Err(diags) => return out.fail(&diags, EXIT_USAGE),
    };
    let dir = a
        .dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(&answers.name));
    write_service(&answers, &dir, &org, &caps, a.force, &out)
}

/// Where diagnostics and the final report go.
struct Output {
    format: Format,
    sources: SourceMap,
}

impl Output {
    fn fail(&self, diags: &[Diagnostic], code: u8) -> u8 {
        let errors = diags.iter().filter(|d| d.is_error()).count();
        report::emit(
            diags,
            &self.sources,
            self.format,
            serde_json::json!({"errors": errors, "warnings": diags.len() - errors, "written": false}),
        );
        self.say(&format!(
            "error: {errors} error{}; nothing was written",
            if errors == 1 { "" } else { "s" }
        ));
        code
    }
    fn say(&self, line: &str) {
        if self.format != Format::Json {
            let _ = writeln!(anstream::stderr(), "{line}");
        }
    }
}

fn display(p: &Path) -> String {
    let s = p.display().to_string();
    s.strip_prefix("./").map(str::to_string).unwrap_or(s)
}

/// The organisation config, discovered like every other command does (`--org`, else
/// `pctl-org.yaml` in the current folder, else the built-in example).
fn load_org(
    explicit: Option<&Path>,
    sources: &SourceMap,
) -> Result<OrgInfo, (Vec<Diagnostic>, u8)> {
    let (file, path) = match discover::find_org(Path::new("."), explicit) {
        OrgSource::Builtin => (
            SourceFile::new("(built-in) examples/pctl-org.yaml", schema::default_org()),
            None,
        ),
        OrgSource::File(p) => match crate::inputs::read_source(&p, &display(&p)) {
            Ok(f) => (f, Some(p)),
            Err(d) => {
                let code = if explicit.is_some() && !p.exists() {
                    EXIT_USAGE
                } else {
                    EXIT_INVALID
                };
                return Err((vec![d], code));
            }
        },
    };
    sources.add(file.clone());
    let (org, diags) = validate::check_org(&file);
    match org {
        Some(o) if o.ok => Ok(OrgInfo {
            org: o.model,
            file: path,
        }),
        _ => Err((diags, EXIT_INVALID)),
    }
}

// ---------------------------------------------------------------------------------------------
// Answers: from flags, or asked

/// A DNS label of at most [`MAX_NAME`] characters, starting with a letter.
pub fn valid_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_NAME
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && !s.ends_with('-')
}

/// The nearest valid name (`Payment_API` -> `payment-api`), if there is one.
fn name_suggestion(s: &str) -> Option<String> {
    let mut out = String::new();
    for c in s.trim().chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    let out: String = out
        .trim_start_matches(|c: char| c.is_ascii_digit() || c == '-')
        .chars()
        .take(MAX_NAME)
        .collect();
    let out = out.trim_end_matches('-').to_string();
    (valid_name(&out) && out != s).then_some(out)
}

fn name_problem(s: &str) -> Option<Diagnostic> {
    if valid_name(s) {
        return None;
    }
    let d = Diagnostic::error("new/name", format!("`{s}` cannot be a service name"))
        .found(format!("`{s}`"))
        .expected(format!(
            "a DNS label: lowercase letters, digits and `-`, starting with a letter, not ending with `-`, at most {MAX_NAME} characters"
        ));
    Some(match name_suggestion(s) {
        Some(x) => d.help(format!("did you mean `{x}`?")),
        None => d.help("for example `payment-api`"),
    })
}

fn team_names(org: &Org) -> Vec<&str> {
    org.spec.teams.iter().map(|t| t.name.as_str()).collect()
}

fn owner_problem(owner: &str, org: &Org) -> Option<Diagnostic> {
    let teams = team_names(org);
    if teams.contains(&owner) {
        return None;
    }
    let d = Diagnostic::error(
        "new/unknown-owner",
        format!("owner `{owner}` is not a team of the organisation"),
    )
    .found(format!("`{owner}`"));
    Some(if teams.is_empty() {
        d.expected("a team declared in the organisation config, which declares none")
            .help("ask the platform team to add your team to `spec.teams` of pctl-org.yaml")
    } else {
        d.expected(format!(
            "a team declared in the organisation config: {}",
            one_of(&teams)
        ))
        .suggest(
            owner,
            teams.iter().copied(),
            "ask the platform team to add your team to `spec.teams` of pctl-org.yaml",
        )
    })
}

fn schedule_problem(s: &str) -> Option<Diagnostic> {
    semantic::check_cron(s).err().map(|(msg, hint)| {
        Diagnostic::error("new/schedule", format!("invalid cron schedule: {msg}"))
            .found(format!("`{s}`"))
            .expected("5 fields: minute hour day-of-month month day-of-week, or @hourly/@daily/...")
            .help(hint)
    })
}

/// The resource type must have a blueprint and sizes in the organisation config.
fn resource_problem(flag: &str, rtype: &str, org: &Org, caps: &Capabilities) -> Option<Diagnostic> {
    let known: Vec<&str> = caps.resource_types.iter().map(String::as_str).collect();
    if !known.contains(&rtype) {
        return Some(
            Diagnostic::error(
                "new/unknown-resource-type",
                format!("{flag} {rtype}: unknown resource type `{rtype}`"),
            )
            .found(format!("`{rtype}`"))
            .expected(one_of(&known))
            .suggest(
                rtype,
                known.iter().copied(),
                "ask the platform team for a blueprint for this resource type",
            ),
        );
    }
    if first_size(org, rtype).is_none() {
        return Some(
            Diagnostic::error(
                "new/no-sizes",
                format!("{flag} {rtype}: the organisation config declares no sizes for `{rtype}`"),
            )
            .help(format!(
                "ask the platform team to add `sizes.{rtype}` to pctl-org.yaml"
            )),
        );
    }
    None
}

fn first_size<'a>(org: &'a Org, rtype: &str) -> Option<&'a str> {
    org.spec
        .sizes
        .get(rtype)
        .and_then(|m| m.keys().next())
        .map(String::as_str)
}

/// Resolves the answers from the flags, asking for what is missing when `prompter` is given.
/// Without a prompter, a missing required value is an error that names its flag.
fn gather<R: BufRead, W: Write>(
    a: &ServiceArgs,
    org: &Org,
    caps: &Capabilities,
    prompter: Option<&mut Prompter<R, W>>,
) -> Result<Answers, Vec<Diagnostic>> {
    // Flags first: a bad flag is an error even in a terminal (nobody re-types a flag).
    let mut diags = Vec::new();
    if let Some(n) = &a.name {
        diags.extend(name_problem(n));
    }
    if let Some(o) = &a.owner {
        diags.extend(owner_problem(o, org));
    }
    if let Some(s) = &a.schedule {
        if a.kind.is_some_and(|k| k != Kind::CronJob) {
            diags.push(
                Diagnostic::error(
                    "new/schedule-not-cron",
                    format!(
                        "--schedule is only for --kind CronJob, not {}",
                        a.kind.map(Kind::as_str).unwrap_or_default()
                    ),
                )
                .help("drop --schedule, or pass --kind CronJob"),
            );
        } else {
            diags.extend(schedule_problem(s));
        }
    }
    for (flag, t) in [("--database", &a.database), ("--cache", &a.cache)] {
        if let Some(t) = t {
            diags.extend(resource_problem(flag, t, org, caps));
        }
    }
    if a.queue {
        diags.extend(resource_problem("--queue", "queue", org, caps));
    }
    if !diags.is_empty() {
        return Err(diags);
    }

    let teams = team_names(org);
    // The only team is the default owner with --yes.
    let default_owner = (teams.len() == 1).then(|| teams[0].to_string());
    let default_name = a
        .dir
        .as_deref()
        .and_then(|d| d.file_name())
        .and_then(|n| n.to_str())
        .filter(|n| valid_name(n))
        .map(str::to_string);

    let Some(p) = prompter else {
        let name = a.name.clone().or(if a.yes { default_name } else { None });
        let kind = a.kind.or(a.yes.then_some(Kind::Service));
        let owner = a.owner.clone().or(if a.yes { default_owner } else { None });
        let mut missing = Vec::new();
        if name.is_none() {
            missing.push("NAME");
        }
        if kind.is_none() {
            missing.push("--kind");
        }
        if owner.is_none() {
            missing.push("--owner");
        }
        let (Some(name), Some(kind), Some(owner)) = (name, kind, owner) else {
            let mut d = Diagnostic::error(
                "new/missing",
                format!("missing required value{}: {}", if missing.len() == 1 { "" } else { "s" }, missing.join(", ")),
            )
            .help("pass them as flags, e.g. `pctl new service payment-api --kind Service --owner TEAM`, or run in a terminal to be asked")
            .note(if a.yes {
                "--yes asks nothing and there is no default for these"
            } else {
                "standard input is not a terminal, so nothing can be asked"
            })
            .note(format!("kinds: {}", one_of(&Kind::ALL.map(Kind::as_str))));
            if !teams.is_empty() {
                d = d.note(format!("teams of the organisation: {}", one_of(&teams)));
            }
            return Err(vec![d]);
        };
        let schedule = (kind == Kind::CronJob).then(|| {
            a.schedule
                .clone()
                .unwrap_or_else(|| DEFAULT_SCHEDULE.into())
        });
        return Ok(Answers {
            name,
            kind,
            owner,
            schedule,
            resources: flag_resources(a),
        });
    };

    // In a terminal: ask for what the flags did not say.
    let io = |e: std::io::Error| {
        vec![
            Diagnostic::error("new/input", format!("no answer: {e}"))
                .help("pass the values as flags to run without questions"),
        ]
    };
    let name = match &a.name {
        Some(n) => n.clone(),
        None => p
            .ask_valid("Service name", default_name.as_deref(), |s| {
                name_problem(s).map(|d| {
                    d.help
                        .map_or(d.message.clone(), |h| format!("{}; {h}", d.message))
                })
            })
            .map_err(io)?,
    };
    let kind = match a.kind {
        Some(k) => k,
        None => {
            let items: Vec<String> = Kind::ALL
                .iter()
                .map(|k| format!("{:<8} {}", k.as_str(), k.describe()))
                .collect();
            Kind::ALL[p.choose("Kind", &items, Some(0)).map_err(io)?]
        }
    };
    let owner = match &a.owner {
        Some(o) => o.clone(),
        None if teams.is_empty() => {
            return Err(vec![owner_problem("", org).expect("no teams")]);
        }
        None => {
            let items: Vec<String> = org
                .spec
                .teams
                .iter()
                .map(|t| match &t.contact {
                    Some(c) => format!("{} ({c})", t.name),
                    None => t.name.clone(),
                })
                .collect();
            teams[p.choose("Owning team", &items, None).map_err(io)?].to_string()
        }
    };
    let schedule = if kind == Kind::CronJob {
        Some(match &a.schedule {
            Some(s) => s.clone(),
            None => p
                .ask_valid(
                    "Schedule (cron: minute hour day-of-month month day-of-week)",
                    Some(DEFAULT_SCHEDULE),
                    |s| {
                        schedule_problem(s)
                            .map(|d| format!("{}; {}", d.message, d.help.unwrap_or_default()))
                    },
                )
                .map_err(io)?,
        })
    } else {
        None
    };
    let resources = if a.database.is_some() || a.cache.is_some() || a.queue {
        flag_resources(a)
    } else {
        let mut r = Vec::new();
        let offer = |t: &str| resource_problem("", t, org, caps).is_none();
        for (name, rtype, question) in [
            ("db", "postgres", "Add a database (postgres)?"),
            ("cache", "redis", "Add a cache (redis)?"),
            ("queue", "queue", "Add a queue?"),
        ] {
            if offer(rtype) && p.confirm(question, false).map_err(io)? {
                r.push((name.to_string(), rtype.to_string()));
            }
        }
        r
    };
    let answers = Answers {
        name,
        kind,
        owner,
        schedule,
        resources,
    };
    Ok(answers)
}

fn flag_resources(a: &ServiceArgs) -> Vec<(String, String)> {
    let mut r = Vec::new();
    if let Some(t) = &a.database {
        r.push(("db".to_string(), t.clone()));
    }
    if let Some(t) = &a.cache {
        r.push(("cache".to_string(), t.clone()));
    }
    if a.queue {
        r.push(("queue".to_string(), "queue".to_string()));
    }
    r
}

/// Questions on a terminal: prompts go to `out` (stderr), answers come from `input`.
pub struct Prompter<R, W> {
    pub input: R,
    pub out: W,
}

impl<R: BufRead, W: Write> Prompter<R, W> {
    fn line(&mut self, prompt: &str) -> std::io::Result<String> {
        write!(self.out, "{prompt}")?;
        self.out.flush()?;
        let mut s = String::new();
        if self.input.read_line(&mut s)? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the input ended",
            ));
        }
        Ok(s.trim().to_string())
    }

    /// Asks until `problem` finds nothing wrong; an empty answer takes the default.
    fn ask_valid(
        &mut self,
        question: &str,
        default: Option<&str>,
        problem: impl Fn(&str) -> Option<String>,
    ) -> std::io::Result<String> {
        let prompt = match default {
            Some(d) => format!("{question} [{d}]: "),
            None => format!("{question}: "),
        };
        loop {
            let s = self.line(&prompt)?;
            let s = if s.is_empty() {
                match default {
                    Some(d) => d.to_string(),
                    None => continue,
                }
            } else {
                s
            };
            match problem(&s) {
                None => return Ok(s),
                Some(why) => writeln!(self.out, "  {why}")?,
            }
        }
    }

    /// A numbered list; the answer is a number or an item's first word. Returns the index.
    fn choose(
        &mut self,
        title: &str,
        items: &[String],
        default: Option<usize>,
    ) -> std::io::Result<usize> {
        writeln!(self.out, "{title}:")?;
        for (i, item) in items.iter().enumerate() {
            writeln!(self.out, "  {}) {item}", i + 1)?;
        }
        let prompt = match default {
            Some(d) => format!("Choose 1-{} [{}]: ", items.len(), d + 1),
            None => format!("Choose 1-{}: ", items.len()),
        };
        loop {
            let s = self.line(&prompt)?;
            if s.is_empty() {
                if let Some(d) = default {
                    return Ok(d);
                }
                continue;
            }
            if let Ok(n) = s.parse::<usize>()
                && (1..=items.len()).contains(&n)
            {
                return Ok(n - 1);
            }
            let words: Vec<&str> = items
                .iter()
                .map(|i| i.split_whitespace().next().unwrap_or(""))
                .collect();
            if let Some(i) = words.iter().position(|w| w.eq_ignore_ascii_case(&s)) {
                return Ok(i);
            }
            match did_you_mean(&s, words.iter().copied()) {
                Some(x) => writeln!(self.out, "  `{s}` is not on the list; did you mean `{x}`?")?,
                None => writeln!(self.out, "  answer with a number from 1 to {}", items.len())?,
            }
        }
    }

    fn confirm(&mut self, question: &str, default: bool) -> std::io::Result<bool> {
        let prompt = format!("{question} {} ", if default { "[Y/n]" } else { "[y/N]" });
        loop {
            let s = self.line(&prompt)?.to_ascii_lowercase();
            match s.as_str() {
                "" => return Ok(default),
                "y" | "yes" => return Ok(true),
                "n" | "no" => return Ok(false),
                _ => writeln!(self.out, "  answer y or n")?,
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The files

/// A YAML scalar for a value that may contain anything: plain when that reads back as the same
/// string under YAML 1.1 and 1.2, else double-quoted (JSON escaping is valid YAML).
pub fn yaml_str(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "y" | "n" | "yes" | "no" | "on" | "off" | "true" | "false" | "null" | "nan" | "inf"
        );
    if plain {
        s.to_string()
    } else {
        serde_json::to_string(s).expect("a string serialises")
    }
}

/// The GitHub owner the pctl action lives under: the deploy repository's owner on a
/// `host/owner/repo` URL, else the organisation's name.
fn action_owner(org: &Org) -> String {
    let url = &org.spec.deploy_repository.url;
    let path = url.split_once("://").map_or(url.as_str(), |(_, rest)| rest);
    let owner = path.split('/').nth(1).unwrap_or("");
    let ok = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
    };
    if ok(owner) && path.split('/').count() >= 3 {
        owner.to_string()
    } else if ok(&org.metadata.name) {
        org.metadata.name.clone()
    } else {
        "your-org".to_string()
    }
}

/// The deploy branch (default `main`).
fn deploy_branch(org: &Org) -> String {
    org.spec
        .deploy_repository
        .branch
        .clone()
        .unwrap_or_else(|| "main".into())
}

/// The environment whose URL `new` shows: `dev` if there is one, else the first unprotected one.
fn dev_env(org: &Org) -> Option<&pctl_core::model::Environment> {
    let envs = &org.spec.environments;
    envs.iter()
        .find(|e| e.name == "dev")
        .or_else(|| envs.iter().find(|e| !e.protected))
        .or_else(|| envs.first())
}

/// platform.yaml for the answers: every environment of the organisation, sensible defaults.
pub fn platform_yaml(ans: &Answers, org: &Org) -> String {
    let owner = action_owner(org);
    let mut y = String::new();
    let _ = writeln!(
        y,
        "# yaml-language-server: $schema=https://raw.githubusercontent.com/{owner}/pctl/main/schemas/platform.schema.json"
    );
    let _ = writeln!(
        y,
        "# What {} is and needs; pctl compiles it into the deploy repository. Reference: `pctl schema`.",
        ans.name
    );
    y.push_str("apiVersion: pctl.dev/v1\n");
    let _ = writeln!(y, "kind: {}", ans.kind.as_str());
    y.push_str("metadata:\n");
    let _ = writeln!(y, "  name: {}", yaml_str(&ans.name));
    let _ = writeln!(y, "  owner: {}", yaml_str(&ans.owner));
    y.push_str("  # description: What it does, in one line\n");
    y.push_str("  # runbook: https://wiki.example.com/");
    y.push_str(&ans.name);
    y.push('\n');
    y.push_str("  # oncall: https://example.pagerduty.com/service-directory/XXXX\n");
    y.push_str("spec:\n");
    let image = match org.spec.registries.first() {
        Some(r) => format!("{}/{}", r.trim_end_matches('/'), ans.name),
        None => format!(
            "ghcr.io/{}/{}",
            action_owner(org).to_ascii_lowercase(),
            ans.name
        ),
    };
    let _ = writeln!(
        y,
        "  image: {}  # no tag: the commit is deployed",
        yaml_str(&image)
    );
    match ans.kind {
        Kind::Service => {
            let _ = writeln!(y, "  port: {DEFAULT_PORT}");
            y.push_str("  health: {liveness: /healthz, readiness: /readyz}\n");
            y.push_str("  endpoints:\n");
            y.push_str("    - {path: /, public: true}\n");
        }
        Kind::CronJob => {
            let s = ans.schedule.as_deref().unwrap_or(DEFAULT_SCHEDULE);
            let _ = writeln!(
                y,
                "  schedule: {}  # minute hour day-of-month month day-of-week",
                serde_json::to_string(s).expect("a string serialises")
            );
        }
        Kind::Worker => {}
    }
    if !ans.resources.is_empty() {
        y.push_str("  resources:\n");
        for (name, rtype) in &ans.resources {
            let _ = write!(y, "    {}: {{type: {}", yaml_str(name), yaml_str(rtype));
            if let Some(size) = first_size(org, rtype) {
                let _ = write!(y, ", size: {}", yaml_str(size));
            }
            y.push_str("}\n");
        }
    }
    y.push_str("  compute: {cpu: 250m, memory: 256Mi}\n");
    y.push_str("  environments:\n");
    for env in &org.spec.environments {
        let name = yaml_str(&env.name);
        match (ans.kind, env.protected) {
            (Kind::CronJob, _) => {
                let _ = writeln!(y, "    {name}: {{}}");
            }
            (_, false) => {
                let _ = writeln!(y, "    {name}: {{replicas: 1}}");
            }
            (_, true) => {
                let _ = writeln!(
                    y,
                    "    {name}:\n      autoscale: {{min: 2, max: 6, cpu_percent: 70}}"
                );
            }
        }
    }
    y
}

/// A value for a workflow `with:` input: YAML-quoted, and never a GitHub expression.
fn with_value(s: &str) -> Option<String> {
    (!s.contains("${{")).then(|| serde_json::to_string(s).expect("a string serialises"))
}

/// `.github/workflows/platform.yml`: validate and diff on pull requests, publish on a push to
/// the default branch, all through the pctl action.
pub fn workflow_yaml(ans: &Answers, org: &Org, org_config: Option<&str>) -> String {
    let action = format!("{}/pctl@v1", action_owner(org));
    // The workflow is committed to the application repository: the URL goes without
    // credentials (the action takes the token from a secret).
    let deploy_url = &crate::redact::url(&org.spec.deploy_repository.url);
    let version = serde_json::to_string(env!("CARGO_PKG_VERSION")).expect("string");
    let org_line = match org_config.and_then(with_value) {
        Some(p) => format!("          org-config: {p}\n"),
        None => String::new(),
    };
    let common = format!(
        "          pctl-version: {version}\n{org_line}          working-directory: \".\"\n"
    );
    let deploy = match with_value(deploy_url) {
        Some(u) => format!(
            "          deploy-repository: {u}\n          token: ${{{{ secrets.DEPLOY_REPO_TOKEN }}}}\n"
        ),
        None => "          token: ${{ secrets.DEPLOY_REPO_TOKEN }}\n".to_string(),
    };
    let mut w = String::new();
    let _ = write!(
        w,
        r#"# How {name} gets deployed (written by `pctl new`; edit freely).
# Pull requests: validate platform.yaml and show what would change in the deploy repository.
# Pushes to the default branch: publish that change (one commit in the deploy repository).
# Needs the repository secret DEPLOY_REPO_TOKEN: a token that can push to the deploy repository.
name: platform

"on":
  pull_request:
  push:
    branches:
      - main

permissions:
  contents: read

jobs:
  check:
    name: validate and diff
    if: github.event_name == 'pull_request'
    runs-on: ubuntu-latest
    timeout-minutes: 15
    steps:
      - uses: actions/checkout@v4
      - name: validate platform.yaml
        uses: {action}
        with:
          mode: validate
{common}      - name: show the change to the deploy repository
        uses: {action}
        with:
          mode: diff
{deploy}{common}
  publish:
    name: publish to the deploy repository
    if: github.event_name == 'push' && github.ref_name == github.event.repository.default_branch
    runs-on: ubuntu-latest
    timeout-minutes: 15
    concurrency:
      group: pctl-publish-{name}
      cancel-in-progress: false
    steps:
      - uses: actions/checkout@v4
      - name: publish to the deploy repository
        uses: {action}
        with:
          mode: publish
          # target-branch unset: the deploy branch, or a review pull request when a protected environment changes
{deploy}{common}"#,
        name = ans.name,
    );
    w
}

/// Heading of the README section (also how `new` recognises a section it wrote before).
fn readme_heading(name: &str) -> String {
    format!("## How {name} is deployed")
}

fn gitops_name(org: &Org) -> &'static str {
    if org.gitops() == "flux" {
        "Flux"
    } else {
        "Argo CD"
    }
}

pub fn readme_section(ans: &Answers, org: &Org) -> String {
    let name = &ans.name;
    let url = crate::redact::url(&org.spec.deploy_repository.url);
    let branch = deploy_branch(org);
    let mut s = String::new();
    let _ = writeln!(s, "{}\n", readme_heading(name));
    let _ = writeln!(
        s,
        "`platform.yaml` tells the platform what {name} is ({kind}, owned by `{owner}`) and what it needs. \
         pctl compiles it into the deploy repository ({url}, branch `{branch}`), which {gitops} syncs to the clusters; \
         nobody writes Kubernetes manifests or Terraform by hand.\n",
        kind = ans.kind.as_str(),
        owner = ans.owner,
        gitops = gitops_name(org),
    );
    let _ = writeln!(
        s,
        "- **Pull request**: `.github/workflows/platform.yml` validates `platform.yaml` and shows the change to the deploy repository as a diff."
    );
    let _ = writeln!(
        s,
        "- **Merge**: the workflow publishes that change as one commit: `apps/<env>/{name}/` (Kubernetes){}.",
        if ans.resources.is_empty() {
            String::new()
        } else {
            format!(" and `terraform/<env>/{name}/` (the cloud resources)")
        }
    );
    let _ = writeln!(
        s,
        "- **Locally**: `pctl validate` checks `platform.yaml`; `pctl render` prints the generated files."
    );
    let _ = writeln!(
        s,
        "- The workflow needs the repository secret `DEPLOY_REPO_TOKEN`, a token that can push to the deploy repository.\n"
    );
    s.push_str("| environment | cluster | deploy repository path |");
    if ans.kind == Kind::Service {
        s.push_str(" URL |");
    }
    s.push_str("\n| --- | --- | --- |");
    if ans.kind == Kind::Service {
        s.push_str(" --- |");
    }
    s.push('\n');
    for e in &org.spec.environments {
        let _ = write!(
            s,
            "| {}{} | {} | `apps/{}/{name}/` |",
            e.name,
            if e.protected { " (protected)" } else { "" },
            e.cluster,
            e.name
        );
        if ans.kind == Kind::Service {
            let _ = write!(s, " https://{name}.{}/ |", e.domain);
        }
        s.push('\n');
    }
    s
}

/// Writes the files (refusing to overwrite unless `force`) and prints the next steps.
fn write_service(
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

    // The organisation config as the workflow sees it: a path inside the application repository.
    let org_config = org.file.as_deref().and_then(|f| {
        let f = std::path::absolute(f).ok()?;
        let d = std::path::absolute(dir).ok()?;
        let rel = f.strip_prefix(&d).ok()?;
        Some(rel.to_string_lossy().replace('\\', "/"))
    });
    let platform = platform_yaml(ans, &org.org);
    let workflow = workflow_yaml(ans, &org.org, org_config.as_deref());

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
    let warnings = diags;

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
    let section = readme_section(ans, &org.org);
    let readme = match &existing_readme {
        _ if readme_done => None,
        None => Some(format!("# {}\n\n{section}", ans.name)),
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

fn summary(
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

fn next_steps(
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
    for e in &o.spec.environments {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn org() -> Org {
        let file = SourceFile::new("org", schema::default_org());
        validate::check_org(&file).0.unwrap().model
    }

    #[test]
    fn names_are_dns_labels() {
        assert!(valid_name("payment-api"));
        assert!(valid_name("a"));
        for bad in ["", "Payment", "1abc", "a-", "a_b", "a.b", &"a".repeat(41)] {
            assert!(!valid_name(bad), "{bad}");
        }
        assert_eq!(
            name_suggestion("Payment_API").as_deref(),
            Some("payment-api")
        );
        assert_eq!(name_suggestion("--").as_deref(), None);
    }

    #[test]
    fn yaml_strings_cannot_change_the_structure() {
        assert_eq!(yaml_str("team-payments"), "team-payments");
        assert_eq!(yaml_str("no"), "\"no\"");
        assert_eq!(yaml_str("a: b\n- c"), "\"a: b\\n- c\"");
        assert_eq!(yaml_str("#x"), "\"#x\"");
        assert_eq!(yaml_str(""), "\"\"");
    }

    #[test]
    fn unknown_owner_suggests_a_team() {
        let d = owner_problem("team-payment", &org()).unwrap();
        assert_eq!(d.help.as_deref(), Some("did you mean `team-payments`?"));
        assert!(owner_problem("team-payments", &org()).is_none());
    }

    #[test]
    fn prompts_take_numbers_names_and_defaults() {
        let mut p = Prompter {
            input: std::io::Cursor::new("x\n9\nworker\n\ny\n"),
            out: Vec::new(),
        };
        let items = ["Service a".to_string(), "Worker b".to_string()];
        assert_eq!(p.choose("Kind", &items, None).unwrap(), 1);
        assert_eq!(p.choose("Kind", &items, Some(0)).unwrap(), 0);
        assert!(p.confirm("ok?", false).unwrap());
        assert!(p.confirm("ok?", false).is_err(), "end of input is an error");
        let text = String::from_utf8(p.out).unwrap();
        assert!(text.contains("answer with a number from 1 to 2"), "{text}");
    }

    #[test]
    fn the_workflow_names_the_deploy_repository_without_credentials() {
        let mut o = org();
        o.spec.deploy_repository.url = "https://bot:s3/cr3t@github.com/acme/deploy".into();
        let ans = Answers {
            name: "svc".into(),
            kind: Kind::Service,
            owner: "team-a".into(),
            schedule: None,
            resources: Vec::new(),
        };
        for text in [workflow_yaml(&ans, &o, None), readme_section(&ans, &o)] {
            assert!(!text.contains("cr3t"), "{text}");
            assert!(text.contains("https://github.com/acme/deploy"), "{text}");
        }
    }
}
