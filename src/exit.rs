//! Exit codes and the one value every command hands back: what to report and how to exit.
//! `cli::run` renders it; no command prints diagnostics or chooses a process exit on its own.

use pctl_core::diag::Diagnostic;
use pctl_core::source::SourceMap;

/// Success (warnings allowed).
pub const OK: u8 = 0;
/// Invalid input or a refused change: the user's files need fixing.
pub const INVALID: u8 = 1;
/// Usage or environment: wrong arguments, unreachable repository, unwritable folder.
pub const USAGE: u8 = 2;

/// What a command produced, rendered once by `cli::run`: diagnostics (with the sources their
/// snippets quote), the JSON summary, text for stdout and stderr, a closing line, the exit code.
pub struct Report {
    pub diags: Vec<Diagnostic>,
    pub sources: SourceMap,
    /// `summary` of the `--format json` document.
    pub summary: serde_json::Value,
    /// Printed on stdout after the diagnostics, as is (files, tables, JSON, markdown).
    pub stdout: String,
    /// `stdout` carries ANSI styles (a coloured diff): stripped when stdout is not a terminal.
    pub styled: bool,
    /// Lines for people on stderr, after the diagnostics (not with `--format json`).
    pub notes: Vec<String>,
    /// The last line for people (not with `--format json`).
    pub closing: Option<String>,
    pub exit: u8,
    /// Render the diagnostics in this format instead of the command's `--format` (graph, whose
    /// `--format` chooses the graph's notation).
    pub diag_format: Option<crate::report::Format>,
    /// The command reported everything itself (see [`Report::exit_only`]).
    pub reported: bool,
}

impl Report {
    pub fn new(diags: Vec<Diagnostic>, sources: SourceMap, exit: u8) -> Report {
        Report {
            diags,
            sources,
            summary: serde_json::Value::Null,
            stdout: String::new(),
            styled: false,
            notes: Vec::new(),
            closing: None,
            exit,
            diag_format: None,
            reported: false,
        }
    }

    /// A run that stopped before writing anything: its problems, counted, and "nothing was
    /// written".
    pub fn failed(diags: Vec<Diagnostic>, sources: SourceMap, exit: u8) -> Report {
        let (errors, warnings) = counts(&diags);
        let mut r = Report::new(diags, sources, exit);
        r.summary = serde_json::json!({"errors": errors, "warnings": warnings, "written": false});
        r.closing = Some(format!(
            "error: {}; nothing was written",
            problems(errors, warnings)
        ));
        r
    }

    /// A command that reported for itself (see `new`): only its exit code.
    pub fn exit_only(exit: u8) -> Report {
        let mut r = Report::new(Vec::new(), SourceMap::default(), exit);
        r.reported = true;
        r
    }

    pub fn summary(mut self, summary: serde_json::Value) -> Report {
        self.summary = summary;
        self
    }

    pub fn closing(mut self, line: impl Into<String>) -> Report {
        self.closing = Some(line.into());
        self
    }

    pub fn stdout(mut self, text: impl Into<String>) -> Report {
        self.stdout = text.into();
        self
    }
}

/// (errors, warnings and notes) of a list of diagnostics.
pub fn counts(diags: &[Diagnostic]) -> (usize, usize) {
    let errors = diags.iter().filter(|d| d.is_error()).count();
    // Notes (an applied guardrail exemption) are information, not warnings.
    let warnings = diags
        .iter()
        .filter(|d| d.severity == pctl_core::diag::Severity::Warning)
        .count();
    (errors, warnings)
}

/// "2 errors, 1 warning".
pub fn problems(errors: usize, warnings: usize) -> String {
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
