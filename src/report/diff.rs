//! Unified diffs of a plan for people: coloured with ANSI styles (stripped by the caller when
//! stdout is not a terminal or NO_COLOR is set). pctl's own records are named, not diffed.

use pctl_core::plan::{Action, Change, STATE_DIR};
use std::fmt::Write;

/// Unified diffs of every change, styled.
pub fn unified(changes: &[Change]) -> String {
    use anstyle::{AnsiColor, Style};
    let mut out = String::new();
    let red = Style::new().fg_color(Some(AnsiColor::Red.into()));
    let green = Style::new().fg_color(Some(AnsiColor::Green.into()));
    let cyan = Style::new().fg_color(Some(AnsiColor::Cyan.into()));
    let bold = Style::new().bold();
    // pctl's own records change with every file; their diff says nothing a reviewer needs.
    let (records, changes): (Vec<_>, Vec<_>) = changes
        .iter()
        .partition(|c| c.path.starts_with(&format!("{STATE_DIR}/")));
    for c in changes {
        let old = c
            .old
            .as_deref()
            .map(String::from_utf8_lossy)
            .unwrap_or_default();
        let new = c.new.as_deref().unwrap_or("");
        // A path read from a deploy repository may hold anything too (`pctl review`).
        let path = pctl_core::diag::escape_control(&c.path);
        let (a, b) = match c.action {
            Action::Add => ("/dev/null".to_string(), format!("b/{path}")),
            Action::Delete => (format!("a/{path}"), "/dev/null".to_string()),
            Action::Change => (format!("a/{path}"), format!("b/{path}")),
        };
        let _ = writeln!(out, "{bold}--- {a}{bold:#}\n{bold}+++ {b}{bold:#}");
        if pctl_core::review::redacted(c) {
            // A Secret's values never reach a terminal or a CI log.
            let _ = writeln!(out, "(a Secret: its content is not shown)");
            continue;
        }
        let diff = similar::TextDiff::from_lines(old.as_ref(), new);
        for hunk in diff.unified_diff().context_radius(3).iter_hunks() {
            let _ = writeln!(out, "{cyan}{}{cyan:#}", hunk.header());
            for change in hunk.iter_changes() {
                let (sign, style) = match change.tag() {
                    similar::ChangeTag::Delete => ("-", red),
                    similar::ChangeTag::Insert => ("+", green),
                    similar::ChangeTag::Equal => (" ", Style::new()),
                };
                // Hand-written files may hold anything: no escape sequence reaches the terminal.
                let value = change.value();
                let (body, end) = match value.strip_suffix('\n') {
                    Some(b) => (b, "\n"),
                    None => (value, ""),
                };
                let text = format!(
                    "{}{end}",
                    pctl_core::diag::escape_control(body).replace("\\t", "\t")
                );
                let text = text.as_str();
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
    out
}
