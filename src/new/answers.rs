//! What the new service is: from the flags, checked against the organisation, or asked for in
//! a terminal.

use super::files::first_size;
use super::prompt::Prompter;
use super::{Answers, DEFAULT_SCHEDULE, Kind, MAX_NAME, ServiceArgs};
use pctl_core::diag::{Diagnostic, one_of};
use pctl_core::model::Org;
use pctl_core::validate::{Capabilities, semantic};
use std::io::{BufRead, Write};

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
pub(super) fn name_suggestion(s: &str) -> Option<String> {
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

pub(super) fn name_problem(s: &str) -> Option<Diagnostic> {
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

pub(super) fn owner_problem(owner: &str, org: &Org) -> Option<Diagnostic> {
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
    let known = caps.resource_type_names();
    let Some(rt) = caps.resource_type(rtype) else {
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
    };
    if rt.sized && first_size(org, rtype).is_none() {
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

/// Resolves the answers from the flags, asking for what is missing when `prompter` is given.
/// Without a prompter, a missing required value is an error that names its flag.
pub fn gather<R: BufRead, W: Write>(
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
    for (flag, _, category, t) in requested(a) {
        match t.or_else(|| category_type(caps, category).map(str::to_string)) {
            Some(t) => diags.extend(resource_problem(flag, &t, org, caps)),
            None => diags.push(
                Diagnostic::error(
                    "new/unknown-resource-type",
                    format!("{flag}: no resource blueprint has `category: {category}`"),
                )
                .expected(one_of(&caps.resource_type_names()))
                .help(format!("name the type: `{flag} TYPE`")),
            ),
        }
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
            resources: flag_resources(a, caps),
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
    let resources = if !requested(a).is_empty() {
        flag_resources(a, caps)
    } else {
        // One question per category a flag adds, for the type that serves it.
        let mut r = Vec::new();
        let offer = |t: &str| resource_problem("", t, org, caps).is_none();
        for (_, name, category) in RESOURCE_FLAGS {
            let Some(rtype) = category_type(caps, category).filter(|t| offer(t)) else {
                continue;
            };
            let question = if rtype == category {
                format!("Add a {category}?")
            } else {
                format!("Add a {category} ({rtype})?")
            };
            if p.confirm(&question, false).map_err(io)? {
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

/// The resource flags: (flag, resource name in platform.yaml, category). A flag without a type
/// adds the type whose blueprint declares that `category` (`category_type`).
const RESOURCE_FLAGS: [(&str, &str, &str); 3] = [
    ("--database", "db", "database"),
    ("--cache", "cache", "cache"),
    ("--queue", "queue", "queue"),
];

/// The resource type a category's flag adds: the first by name whose blueprint declares it.
fn category_type<'a>(caps: &'a Capabilities, category: &str) -> Option<&'a str> {
    caps.resource_types
        .iter()
        .find(|t| t.category.as_deref() == Some(category))
        .map(|t| t.name.as_str())
}

/// The resource flags given: (flag, resource name, category, type if the flag named one).
fn requested(a: &ServiceArgs) -> Vec<(&'static str, &'static str, &'static str, Option<String>)> {
    let given = [
        a.database.clone(),
        a.cache.clone(),
        a.queue.then(String::new),
    ];
    RESOURCE_FLAGS
        .into_iter()
        .zip(given)
        .filter_map(|((flag, name, category), t)| {
            t.map(|t| (flag, name, category, Some(t).filter(|t| !t.is_empty())))
        })
        .collect()
}

/// (resource name, type) of the resource flags given; checked by `gather` before.
fn flag_resources(a: &ServiceArgs, caps: &Capabilities) -> Vec<(String, String)> {
    requested(a)
        .into_iter()
        .filter_map(|(_, name, category, t)| {
            let t = t.or_else(|| category_type(caps, category).map(str::to_string))?;
            Some((name.to_string(), t))
        })
        .collect()
}
