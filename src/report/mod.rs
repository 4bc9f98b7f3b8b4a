//! Stage 8, report: the one place diagnostics become text. Human (rustc-style snippets with a
//! caret, via annotate-snippets), JSON for machines, GitHub workflow-command annotations.

pub mod diff;
pub mod github;

use annotate_snippets::{AnnotationKind, Group, Level, Origin, Renderer, Snippet};
use pctl_core::diag::{Diagnostic, Severity};
use pctl_core::source::SourceMap;
use std::io::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Source snippets with carets, for people (tables for cost and metrics).
    #[value(alias = "table")]
    Human,
    /// One JSON document on stdout, for tools.
    Json,
    /// GitHub Actions annotations (`::error file=…,line=…,col=…::`) plus the human text; diff and
    /// publish also append the review to `$GITHUB_STEP_SUMMARY`.
    Github,
    /// diff and publish: the pull-request summary (diagnostics as human text on stderr).
    Markdown,
    /// graph: a Mermaid flowchart.
    Mermaid,
    /// graph: Graphviz dot.
    Dot,
}

fn level(s: Severity) -> Level<'static> {
    match s {
        Severity::Error => Level::ERROR,
        Severity::Warning => Level::WARNING,
        Severity::Note => Level::NOTE,
    }
}

/// Renders one diagnostic as rustc-style text. `color`: with ANSI styles.
pub fn human(d: &Diagnostic, sources: &SourceMap, color: bool) -> String {
    let renderer = if color {
        Renderer::styled()
    } else {
        Renderer::plain()
    };
    let title = level(d.severity)
        .primary_title(d.message.as_str())
        .id(d.code);
    let mut group = Group::with_title(title);
    let label = match (&d.expected, &d.found) {
        (Some(e), _) => Some(format!("expected {e}")),
        (None, Some(f)) => Some(format!("found {f}")),
        (None, None) => None,
    };
    let source = d.file.as_deref().and_then(|f| sources.get(f));
    let mut in_snippet = false;
    match (&d.file, d.span, &source) {
        (Some(file), Some(span), Some(src)) => {
            let mut snippet = Snippet::source(src.text.as_ref())
                .path(file.as_str())
                .fold(true);
            let mut ann = AnnotationKind::Primary.span(span.start..span.end.max(span.start));
            if let Some(l) = &label {
                ann = ann.label(l.clone());
            }
            snippet = snippet.annotation(ann);
            for l in d.labels.iter().filter(|l| &l.file == file) {
                snippet = snippet.annotation(
                    AnnotationKind::Context
                        .span(l.span.start..l.span.end)
                        .label(l.message.as_str()),
                );
            }
            group = group.element(snippet);
            in_snippet = true;
        }
        (Some(file), span, _) => {
            let mut origin = Origin::path(file.as_str());
            if let Some(s) = span {
                origin = origin.line(s.line).char_column(s.column);
            }
            group = group.element(origin);
        }
        _ => {}
    }
    for l in &d.labels {
        if Some(&l.file) == d.file.as_ref() && source.is_some() {
            continue;
        }
        match sources.get(&l.file) {
            Some(src) => {
                group = group.element(
                    Snippet::source(src.text.to_string())
                        .path(l.file.clone())
                        .fold(true)
                        .annotation(
                            AnnotationKind::Context
                                .span(l.span.start..l.span.end)
                                .label(l.message.clone()),
                        ),
                );
            }
            None => {
                group = group.element(Level::NOTE.message(format!(
                    "{}:{}:{}: {}",
                    l.file, l.span.line, l.span.column, l.message
                )));
            }
        }
    }
    if let Some(p) = &d.path {
        group = group.element(Level::NOTE.message(format!("at `{p}`")));
    }
    if in_snippet {
        // The caret's label says what was expected (or found); the other goes in a note.
        if d.expected.is_some() {
            if let Some(f) = &d.found {
                group = group.element(Level::NOTE.message(format!("found {f}")));
            }
        }
    } else {
        if let Some(f) = &d.found {
            group = group.element(Level::NOTE.message(format!("found {f}")));
        }
        if let Some(e) = &d.expected {
            group = group.element(Level::NOTE.message(format!("expected {e}")));
        }
    }
    for n in &d.notes {
        group = group.element(Level::NOTE.message(n.as_str()));
    }
    if let Some(h) = &d.help {
        group = group.element(Level::HELP.message(h.as_str()));
    }
    renderer.render(&[group])
}

/// One `::error …::` line. Values are escaped as GitHub's toolkit does.
pub fn github(d: &Diagnostic) -> String {
    fn data(s: &str) -> String {
        s.replace('%', "%25")
            .replace('\r', "%0D")
            .replace('\n', "%0A")
    }
    fn prop(s: &str) -> String {
        data(s).replace(':', "%3A").replace(',', "%2C")
    }
    let cmd = match d.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Note => "notice",
    };
    let mut props = Vec::new();
    if let Some(f) = &d.file {
        props.push(format!("file={}", prop(f)));
    }
    if let Some(s) = d.span {
        props.push(format!("line={}", s.line));
        props.push(format!("col={}", s.column));
    }
    props.push(format!("title={}", prop(&format!("pctl {}", d.code))));
    let mut msg = d.message.clone();
    if let Some(e) = &d.expected {
        msg.push_str(&format!("\nexpected {e}"));
    }
    if let Some(f) = &d.found {
        msg.push_str(&format!("\nfound {f}"));
    }
    if let Some(h) = &d.help {
        msg.push_str(&format!("\nhelp: {h}"));
    }
    format!("::{cmd} {}::{}", props.join(","), data(&msg))
}

/// GitHub shows at most 10 error and 10 warning annotations per step and drops the rest
/// silently: emit the first 10 of each (in report order) and one notice that counts the others.
pub fn annotations(diags: &[Diagnostic]) -> Vec<String> {
    const PER_KIND: usize = 10;
    let mut lines = Vec::new();
    let mut left = 0;
    for sev in [Severity::Error, Severity::Warning] {
        let of_kind: Vec<&Diagnostic> = diags.iter().filter(|d| d.severity == sev).collect();
        lines.extend(of_kind.iter().take(PER_KIND).map(|d| github(d)));
        left += of_kind.len().saturating_sub(PER_KIND);
    }
    if left > 0 {
        lines.push(format!(
            "::notice title=pctl::{left} more problem{} not shown as annotations: see the job log or run `pctl validate` locally",
            if left == 1 { "" } else { "s" }
        ));
    }
    lines
}

/// Writes diagnostics in the chosen format. Human text and annotations go to stderr and stdout
/// respectively; JSON goes to stdout as one document together with `summary`.
pub fn emit(diags: &[Diagnostic], sources: &SourceMap, format: Format, summary: serde_json::Value) {
    let mut out = anstream::stdout();
    let mut err = anstream::stderr();
    let color = anstream::AutoStream::choice(&std::io::stderr()) != anstream::ColorChoice::Never;
    match format {
        Format::Json => {
            let doc = serde_json::json!({"diagnostics": diags, "summary": summary});
            let _ = writeln!(out, "{}", serde_json::to_string_pretty(&doc).expect("json"));
        }
        Format::Human | Format::Github | Format::Markdown | Format::Mermaid | Format::Dot => {
            if format == Format::Github {
                for line in annotations(diags) {
                    let _ = writeln!(out, "{line}");
                }
            }
            for d in diags {
                let _ = writeln!(err, "{}\n", human(d, sources, color));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotations_respect_githubs_per_step_caps() {
        let mut diags: Vec<Diagnostic> = (0..25)
            .map(|i| Diagnostic::error("x/y", format!("e{i}")).in_file("a.yaml"))
            .collect();
        diags.extend((0..3).map(|i| Diagnostic::warning("x/w", format!("w{i}"))));
        let lines = annotations(&diags);
        assert_eq!(
            lines.iter().filter(|l| l.starts_with("::error ")).count(),
            10
        );
        assert_eq!(
            lines.iter().filter(|l| l.starts_with("::warning ")).count(),
            3
        );
        assert!(
            lines
                .last()
                .unwrap()
                .starts_with("::notice title=pctl::15 more problems")
        );
        assert!(lines[0].contains("::e0"), "report order kept: {}", lines[0]);
    }

    #[test]
    fn annotation_data_is_escaped() {
        let d = Diagnostic::error("x/y", "a%b\nc").in_file("dir,x/a:b.yaml");
        let l = github(&d);
        assert!(l.contains("file=dir%2Cx/a%3Ab.yaml"), "{l}");
        assert!(l.ends_with("::a%25b%0Ac"), "{l}");
    }
}
