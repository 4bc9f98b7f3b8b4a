//! `pctl new service`: the golden path. Takes what a new service is from flags (or asks for it
//! in a terminal), writes a `platform.yaml` that validates against the organisation, a GitHub
//! workflow that validates, diffs and publishes through the pctl action, and a README section on
//! how the service is deployed; then prints the next steps the way the platform sees them.
//!
//! Nothing is written unless every answer is valid and the generated platform.yaml passes the
//! same checks as `pctl validate`; existing files are never overwritten without `--force`.

//!
//! Modules: [`answers`] (flags, checks, questions), [`prompt`] (the terminal), [`files`] (the
//! files, rendered from the templates in `templates/`), [`write`] (where they go, writing, the
//! next steps).

mod answers;
mod files;
mod prompt;
mod write;

pub use answers::{gather, valid_name};
pub use files::{WorkflowOrg, platform_yaml, readme_section, workflow_yaml, yaml_str};
pub use prompt::Prompter;

use crate::discover::{self, OrgSource};
use crate::report::{self, Format};
use pctl_core::diag::Diagnostic;
use pctl_core::expand::BlueprintSet;
use pctl_core::model::Org;
use pctl_core::source::{SourceFile, SourceMap};
use pctl_core::validate::{self, schema};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use crate::exit::{INVALID as EXIT_INVALID, USAGE as EXIT_USAGE};

/// The longest service name: "<env>-<name>" must still fit a DNS label (docs/contract.md).
pub const MAX_NAME: usize = 40;
/// The schedule a new CronJob gets unless told otherwise: every day at 03:00.
pub const DEFAULT_SCHEDULE: &str = "0 3 * * *";
/// The port a new Service listens on.
pub const DEFAULT_PORT: u16 = 8080;
/// Where the workflow goes, relative to the service's folder.
pub const WORKFLOW: &str = ".github/workflows/platform.yml";

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

#[derive(clap::Args, Debug, Clone)]
pub struct ServiceArgs {
    /// Name of the service: a DNS label (lowercase letters, digits, `-`), at most 40 characters
    pub name: Option<String>,
    /// What runs [asked in a terminal; with --yes: Service]
    #[arg(long, value_enum, ignore_case = true)]
    pub kind: Option<Kind>,
    /// The owning team: a team of the organisation config [asked in a terminal]
    #[arg(long, value_name = "TEAM")]
    pub owner: Option<String>,
    /// Add a database of this resource type (`--database` alone: the type whose blueprint has `category: database`, postgres)
    #[arg(long, value_name = "TYPE", num_args = 0..=1, default_missing_value = "")]
    pub database: Option<String>,
    /// Add a cache of this resource type (`--cache` alone: the type whose blueprint has `category: cache`, redis)
    #[arg(long, value_name = "TYPE", num_args = 0..=1, default_missing_value = "")]
    pub cache: Option<String>,
    /// Add a queue (the type whose blueprint has `category: queue`)
    #[arg(long)]
    pub queue: bool,
    /// Cron schedule of a CronJob [default: "0 3 * * *"]
    #[arg(long, value_name = "CRON")]
    pub schedule: Option<String>,
    /// Folder to write into (created if missing; an existing folder is fine) [default: the
    /// current folder when it is the root of a git repository without a platform.yaml, else ./NAME]
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Organisation config: a pctl-org.yaml, or a folder holding one (a checkout of the platform
    /// repository) [default: pctl-org.yaml here or in a folder above, else the built-in example]
    #[arg(long, value_name = "PATH", env = "PCTL_ORG")]
    pub org: Option<PathBuf>,
    /// Overwrite an existing platform.yaml or .github/workflows/platform.yml
    #[arg(long)]
    pub force: bool,
    /// Ask nothing: take the defaults for everything not given as a flag
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Output format
    #[arg(long, value_enum, default_value = "human")]
    pub format: crate::formats::TextFormat,
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

impl OrgInfo {
    /// Where the teams come from, for messages about owners.
    fn teams_note(&self) -> String {
        match &self.file {
            Some(f) => format!("teams come from `spec.teams` of {}", display(f)),
            None => "teams come from pctl's built-in example organisation: pass --org with your \
                     organisation's pctl-org.yaml (or a checkout of your platform repository) to use its teams"
                .to_string(),
        }
    }
}

impl NewArgs {
    pub fn format(&self) -> Format {
        let What::Service(a) = &self.what;
        a.format.into()
    }
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
        Err(diags) => {
            let note = org.teams_note();
            let diags: Vec<Diagnostic> = diags
                .into_iter()
                .map(|d| match d.code {
                    "new/unknown-owner" | "new/missing" => d.note(note.clone()),
                    _ => d,
                })
                .collect();
            return out.fail(&diags, EXIT_USAGE);
        }
    };
    let dir = a
        .dir
        .clone()
        .unwrap_or_else(|| write::default_dir(&answers.name));
    write::write_service(&answers, &dir, &org, &caps, a.force, &out)
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

pub(crate) fn display(p: &Path) -> String {
    let s = p.display().to_string();
    s.strip_prefix("./").map(str::to_string).unwrap_or(s)
}

/// The organisation config, discovered like every other command does (`--org`, else
/// `pctl-org.yaml` in the current folder or one above, else the built-in example).
fn load_org(
    explicit: Option<&Path>,
    sources: &SourceMap,
) -> Result<OrgInfo, (Vec<Diagnostic>, u8)> {
    let (file, path) = match discover::find_org(Path::new("."), explicit) {
        OrgSource::Builtin => {
            report::notice_once(&discover::builtin_org_notice());
            (
                SourceFile::new("(built-in) examples/pctl-org.yaml", schema::default_org()),
                None,
            )
        }
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

#[cfg(test)]
mod tests {
    use super::answers::{name_suggestion, owner_problem};
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
        for text in [
            workflow_yaml(&ans, &o, &WorkflowOrg::default()),
            readme_section(&ans, &o, None),
        ] {
            assert!(!text.contains("cr3t"), "{text}");
            assert!(text.contains("https://github.com/acme/deploy"), "{text}");
        }
    }
}
