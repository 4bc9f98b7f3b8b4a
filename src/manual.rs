//! Everything generated from the clap definitions (the same source as `--help`), so none of it
//! can fall out of step with the flags: shell completions (clap_complete), the manual page
//! (clap_mangen) and the CLI reference of the book (`docs/reference/cli.md`, checked for
//! staleness by tests/docs.rs). Each takes the command definition (`Cli::command()`) from its
//! caller, so this module does not depend on the CLI module that calls it.

use crate::exit::{self, Report};
use pctl_core::diag::Diagnostic;
use std::fmt::Write as _;
use std::path::Path;

/// `pctl completions SHELL`: the completion script on stdout.
pub fn completions(mut cmd: clap::Command, shell: clap_complete::Shell) -> Report {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "pctl", &mut out);
    Report::new(Vec::new(), Default::default(), exit::OK).stdout(String::from_utf8_lossy(&out))
}

/// `pctl man`: pctl(1) on stdout; with `--out DIR`, one page per command in DIR.
pub fn man(cmd: clap::Command, out: Option<&Path>) -> Report {
    match out {
        None => {
            let mut page = Vec::new();
            match clap_mangen::Man::new(cmd).render(&mut page) {
                Ok(()) => Report::new(Vec::new(), Default::default(), exit::OK)
                    .stdout(String::from_utf8_lossy(&page)),
                Err(e) => write_failed(Path::new("-"), &e),
            }
        }
        Some(dir) => {
            let written = std::fs::create_dir_all(dir)
                .and_then(|()| clap_mangen::generate_to(cmd, dir))
                .map_err(|e| write_failed(dir, &e));
            match written {
                Ok(()) => Report::new(Vec::new(), Default::default(), exit::OK).closing(format!(
                    "wrote the manual pages (pctl.1, pctl-<command>.1) into {}",
                    crate::inputs::display(dir)
                )),
                Err(r) => r,
            }
        }
    }
}

fn write_failed(dir: &Path, e: &std::io::Error) -> Report {
    let d = Diagnostic::error(
        "man/write",
        format!(
            "cannot write the manual pages into {}: {e}",
            crate::inputs::display(dir)
        ),
    )
    .help("choose a writable --out folder");
    Report::failed(vec![d], Default::default(), exit::USAGE)
}

/// The CLI reference as markdown: every command with its usage, arguments and options, their
/// values and defaults. `docs/reference/cli.md` is this text.
pub fn markdown_reference(mut cmd: clap::Command) -> String {
    cmd.build();
    let mut out = String::from(
        "# Command-line reference\n\n<!-- Generated from pctl's clap definitions by tests/docs.rs \
         (PCTL_BLESS=1 cargo test --test suite docs:: rewrites it); edit src/cli.rs, not this page. -->\n\n",
    );
    let _ = writeln!(out, "{}\n", text(cmd.get_long_about().or(cmd.get_about())));
    global_options(&cmd, &mut out);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        command(sub, "pctl", &mut out);
    }
    out
}

fn text(s: Option<&clap::builder::StyledStr>) -> String {
    s.map(|s| s.to_string()).unwrap_or_default()
}

fn global_options(cmd: &clap::Command, out: &mut String) {
    let _ = writeln!(
        out,
        "Options for every command (before or after the command's name):\n"
    );
    for a in cmd.get_arguments().filter(|a| a.is_global_set()) {
        arg_line(a, out);
    }
    let _ = writeln!(
        out,
        "\nExit status: 0 success (warnings allowed), 1 invalid input or a refused change, 2 usage \
         or environment error (a wrong flag or value, an unreachable repository, an unwritable folder).\n"
    );
}

fn command(cmd: &clap::Command, parent: &str, out: &mut String) {
    let name = format!("{parent} {}", cmd.get_name());
    let _ = writeln!(out, "## `{name}`\n");
    let _ = writeln!(out, "{}\n", text(cmd.get_long_about().or(cmd.get_about())));
    let subs: Vec<&clap::Command> = cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
        .collect();
    let usage = cmd
        .clone()
        .bin_name(&name)
        .render_usage()
        .to_string()
        .replace("Usage: ", "");
    let _ = writeln!(out, "```text\n{usage}\n```\n");
    let args: Vec<&clap::Arg> = cmd
        .get_arguments()
        .filter(|a| !a.is_hide_set() && !a.is_global_set())
        .filter(|a| !matches!(a.get_id().as_str(), "help" | "version"))
        .collect();
    for a in &args {
        arg_line(a, out);
    }
    if !args.is_empty() {
        out.push('\n');
    }
    for sub in subs {
        command(sub, &name, out);
    }
}

fn arg_line(a: &clap::Arg, out: &mut String) {
    let shown = match (a.get_long(), a.get_short(), a.is_positional()) {
        (_, _, true) => format!(
            "`{}`",
            a.get_value_names()
                .and_then(|v| v.first())
                .map(|v| v.to_string())
                .unwrap_or_else(|| a.get_id().to_string().to_uppercase())
        ),
        (Some(l), Some(s), _) => format!("`-{s}`, `--{l}`{}", value(a)),
        (Some(l), None, _) => format!("`--{l}`{}", value(a)),
        (None, Some(s), _) => format!("`-{s}`{}", value(a)),
        (None, None, _) => format!("`{}`", a.get_id()),
    };
    let help = text(a.get_long_help().or(a.get_help())).replace('\n', " ");
    let mut extra = Vec::new();
    let values: Vec<String> = a
        .get_possible_values()
        .iter()
        .filter(|v| !v.is_hide_set())
        .map(|v| format!("`{}`", v.get_name()))
        .collect();
    if !values.is_empty() && a.get_action().takes_values() {
        extra.push(format!("one of {}", values.join(", ")));
    }
    let defaults: Vec<String> = a
        .get_default_values()
        .iter()
        .map(|v| v.to_string_lossy().into_owned())
        .collect();
    if !defaults.is_empty() && a.get_action().takes_values() {
        extra.push(format!("default `{}`", defaults.join(",")));
    }
    if let Some(env) = a.get_env() {
        extra.push(format!("environment `{}`", env.to_string_lossy()));
    }
    let extra = if extra.is_empty() {
        String::new()
    } else {
        format!(" ({})", extra.join("; "))
    };
    let _ = writeln!(out, "- {shown}: {help}{extra}");
}

fn value(a: &clap::Arg) -> String {
    if !a.get_action().takes_values() {
        return String::new();
    }
    let name = a
        .get_value_names()
        .and_then(|v| v.first())
        .map(|v| v.to_string())
        .unwrap_or_else(|| a.get_id().to_string().to_uppercase());
    let optional = a.get_num_args().is_some_and(|n| n.min_values() == 0);
    if optional {
        format!(" `[{name}]`")
    } else {
        format!(" `{name}`")
    }
}
