//! Stage 8, report: the one place diagnostics become text. Human (rustc-style snippets with a
//! caret, via annotate-snippets), JSON for machines, GitHub workflow-command annotations.

pub mod diff;
pub mod github;

use annotate_snippets::{AnnotationKind, Group, Level, Origin, Renderer, Snippet};
use pctl_core::diag::{Diagnostic, Severity, escape_control, needs_escape};
use pctl_core::source::SourceMap;
use std::io::Write;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

/// How much a run tells people on stderr (`-q`, default, `-v`). Data on stdout never changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum Verbosity {
    /// Errors and the closing line only: no warnings, notes or notices.
    Quiet,
    /// Errors in full, warnings grouped and counted per kind.
    #[default]
    Normal,
    /// Every diagnostic in full.
    Verbose,
}

/// The run's output settings, set once by `cli::run` before any command runs.
static SETTINGS: OnceLock<(Format, Verbosity)> = OnceLock::new();

pub fn configure(format: Format, verbosity: Verbosity) {
    let _ = SETTINGS.set((format, verbosity));
}

pub fn verbosity() -> Verbosity {
    SETTINGS.get().map(|s| s.1).unwrap_or_default()
}

/// One line for people on stderr, printed at most once per process (the built-in organisation
/// notice): not with `-q`, not with `--format json`.
pub fn notice_once(line: &str) {
    static DONE: AtomicBool = AtomicBool::new(false);
    let (format, verbosity) = SETTINGS.get().copied().unwrap_or_default();
    if verbosity == Verbosity::Quiet || format == Format::Json || DONE.swap(true, Ordering::Relaxed)
    {
        return;
    }
    let line = if runner_reads_output(format) {
        neutralise(line)
    } else {
        line.to_string()
    };
    let _ = writeln!(anstream::stderr(), "{line}");
}

/// How a run's output is rendered. Each subcommand accepts only the formats that mean something
/// for it (`crate::formats`, clap value enums); they map onto this one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Source snippets with carets, for people (tables for cost and metrics).
    #[default]
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

/// A diagnostic whose every text is safe to print: values from users' files keep no control
/// character, line break or bidirectional override (they are shown escaped, `\n`, `\u{1b}`).
fn printable(d: &Diagnostic) -> Diagnostic {
    let e = |s: &str| escape_control(s);
    let mut d = d.clone();
    d.message = e(&d.message);
    d.found = d.found.as_deref().map(e);
    d.expected = d.expected.as_deref().map(e);
    d.help = d.help.as_deref().map(e);
    d.file = d.file.as_deref().map(e);
    d.path = d.path.as_deref().map(e);
    // Notes may be several lines of pctl's own (a diff of a hand edit): escape within lines.
    d.notes = d
        .notes
        .iter()
        .map(|n| n.lines().map(e).collect::<Vec<_>>().join("\n"))
        .collect();
    for l in &mut d.labels {
        l.message = e(&l.message);
    }
    d
}

/// A source text for a snippet with every unprintable character replaced by a visible one of
/// the same UTF-8 length, so byte spans and character columns stay where they were.
fn printable_source(text: &str) -> std::borrow::Cow<'_, str> {
    if !text
        .chars()
        .any(|c| needs_escape(c) && !matches!(c, '\n' | '\t' | '\r'))
    {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if needs_escape(c) && !matches!(c, '\n' | '\t' | '\r') {
            out.push(match c.len_utf8() {
                1 => '?',
                2 => '\u{bf}',
                3 => '\u{fffd}',
                _ => '\u{1f5f5}',
            });
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Text a GitHub Actions runner reads (`--format github`, or any run inside Actions) with every
/// line that would start a workflow command (`::add-mask::`, `::error file=…::`; the runner
/// ignores leading spaces) broken by a zero-width space: pctl's own annotations are the only
/// commands it prints.
pub fn neutralise(text: &str) -> String {
    if !text.contains("::") {
        return text.to_string();
    }
    text.split_inclusive('\n')
        .map(|line| {
            let trimmed = line.trim_start();
            if trimmed.starts_with("::") {
                let indent = &line[..line.len() - trimmed.len()];
                format!("{indent}:\u{200b}{}", &trimmed[1..])
            } else {
                line.to_string()
            }
        })
        .collect()
}

/// Whether a CI runner reads pctl's output for commands.
pub fn runner_reads_output(format: Format) -> bool {
    format == Format::Github || std::env::var("GITHUB_ACTIONS").as_deref() == Ok("true")
}

/// A source span, as diagnostics carry them.
type Spanned = pctl_core::diag::Span;

/// The whole lines of a source text that hold some spans: what a snippet needs to show.
struct Window<'a> {
    text: &'a str,
    /// Byte offset of `text` in the source.
    offset: usize,
    /// Line number of its first line.
    first_line: usize,
}

impl<'a> Window<'a> {
    fn of(source: &'a str, spans: &[Spanned]) -> Window<'a> {
        let first = spans
            .iter()
            .min_by_key(|s| s.start)
            .expect("at least one span");
        let lo = first.start.min(source.len());
        let hi = spans
            .iter()
            .map(|s| s.end.max(s.start))
            .max()
            .unwrap_or(lo)
            .clamp(lo, source.len());
        let (mut lo, mut hi) = (lo, hi);
        while !source.is_char_boundary(lo) {
            lo -= 1;
        }
        while !source.is_char_boundary(hi) {
            hi += 1;
        }
        let start = source[..lo].rfind('\n').map_or(0, |i| i + 1);
        let end = source[hi..].find('\n').map_or(source.len(), |i| hi + i + 1);
        Window {
            text: &source[start..end],
            offset: start,
            first_line: first.line.max(1),
        }
    }

    /// A byte offset of the source as an offset in the window.
    fn shift(&self, at: usize) -> usize {
        at.saturating_sub(self.offset).min(self.text.len())
    }
}

/// Renders one diagnostic as rustc-style text. `color`: with ANSI styles.
pub fn human(d: &Diagnostic, sources: &SourceMap, color: bool) -> String {
    let d = &printable(d);
    let renderer = if color {
        Renderer::styled()
    } else {
        Renderer::plain()
    };
    let source = d.file.as_deref().and_then(|f| sources.get(f));
    // Only the lines the snippet shows are copied and cleaned: a run with thousands of
    // diagnostics in one large file stays linear.
    let same_file: Vec<Spanned> = d
        .span
        .into_iter()
        .chain(
            d.labels
                .iter()
                .filter(|l| Some(&l.file) == d.file.as_ref())
                .map(|l| l.span),
        )
        .collect();
    let window = source
        .as_ref()
        .filter(|_| !same_file.is_empty())
        .map(|s| Window::of(&s.text, &same_file));
    let safe_text: Option<String> = window
        .as_ref()
        .map(|w| printable_source(w.text).into_owned());
    let title = level(d.severity)
        .primary_title(d.message.as_str())
        .id(d.code);
    let mut group = Group::with_title(title);
    let label = match (&d.expected, &d.found) {
        (Some(e), _) => Some(format!("expected {e}")),
        (None, Some(f)) => Some(format!("found {f}")),
        (None, None) => None,
    };
    let mut in_snippet = false;
    match (&d.file, d.span, &source) {
        (Some(file), Some(span), Some(src)) => {
            let _ = src;
            let w = window.as_ref().expect("a snippet has a window");
            let mut snippet = Snippet::source(safe_text.as_deref().unwrap_or_default())
                .line_start(w.first_line)
                .path(file.as_str())
                .fold(true);
            let mut ann = AnnotationKind::Primary
                .span(w.shift(span.start)..w.shift(span.end.max(span.start)));
            if let Some(l) = &label {
                ann = ann.label(l.clone());
            }
            snippet = snippet.annotation(ann);
            for l in d.labels.iter().filter(|l| &l.file == file) {
                snippet = snippet.annotation(
                    AnnotationKind::Context
                        .span(w.shift(l.span.start)..w.shift(l.span.end))
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
                let w = Window::of(&src.text, &[l.span]);
                group = group.element(
                    Snippet::source(printable_source(w.text).into_owned())
                        .line_start(w.first_line)
                        .path(l.file.clone())
                        .fold(true)
                        .annotation(
                            AnnotationKind::Context
                                .span(w.shift(l.span.start)..w.shift(l.span.end))
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
            let runner = runner_reads_output(format);
            let text = for_people(diags, sources, color, verbosity());
            let text = if runner { neutralise(&text) } else { text };
            let _ = write!(err, "{text}");
        }
    }
}

/// What people read on stderr: errors first, in full; then the warnings and notes, in full
/// with `-v`, grouped and counted per kind by default, not at all with `-q`.
pub fn for_people(
    diags: &[Diagnostic],
    sources: &SourceMap,
    color: bool,
    verbosity: Verbosity,
) -> String {
    let (errors, others): (Vec<&Diagnostic>, Vec<&Diagnostic>) =
        diags.iter().partition(|d| d.is_error());
    let mut text = String::new();
    for d in &errors {
        text.push_str(&human(d, sources, color));
        text.push_str("\n\n");
    }
    match verbosity {
        Verbosity::Quiet => {}
        Verbosity::Verbose => {
            for d in &others {
                text.push_str(&human(d, sources, color));
                text.push_str("\n\n");
            }
        }
        Verbosity::Normal => text.push_str(&grouped(&others, color)),
    }
    text
}

/// At most this many places are listed per kind of warning.
const LISTED: usize = 5;

/// Warnings (and notes) one line each, grouped by kind (code) in order of first appearance:
/// `warning[code]: N warnings`, their places and messages, the first one's help.
fn grouped(diags: &[&Diagnostic], color: bool) -> String {
    if diags.is_empty() {
        return String::new();
    }
    let mut kinds: Vec<(&str, Vec<&Diagnostic>)> = Vec::new();
    for d in diags {
        match kinds.iter_mut().find(|(c, _)| *c == d.code) {
            Some((_, v)) => v.push(d),
            None => kinds.push((d.code, vec![d])),
        }
    }
    let style = |s: anstyle::Style| if color { s } else { anstyle::Style::new() };
    let bold = style(anstyle::Style::new().bold());
    let mut out = String::new();
    for (code, ds) in &kinds {
        let first = printable(ds[0]);
        let (word, colour) = match first.severity {
            Severity::Note => ("note", anstyle::AnsiColor::Green),
            _ => ("warning", anstyle::AnsiColor::Yellow),
        };
        let head = style(anstyle::Style::new().bold().fg_color(Some(colour.into())));
        let place = |d: &Diagnostic| match (&d.file, d.span) {
            (Some(f), Some(s)) => format!("{f}:{}:{}: ", s.line, s.column),
            (Some(f), None) => format!("{f}: "),
            _ => String::new(),
        };
        if ds.len() == 1 {
            out.push_str(&format!(
                "{head}{word}[{code}]{head:#}{bold}: {}{}{bold:#}\n",
                place(&first),
                first.message
            ));
        } else {
            out.push_str(&format!(
                "{head}{word}[{code}]{head:#}{bold}: {} {word}s{bold:#}\n",
                ds.len()
            ));
            for d in ds.iter().take(LISTED) {
                let d = printable(d);
                out.push_str(&format!("  {}{}\n", place(&d), d.message));
            }
            if ds.len() > LISTED {
                out.push_str(&format!("  ... and {} more\n", ds.len() - LISTED));
            }
        }
        if let Some(h) = &first.help {
            out.push_str(&format!("  = help: {h}\n"));
        }
    }
    let n = diags.len();
    out.push_str(&format!(
        "({n} warning{} above, one line each: `-v` shows them in full, `-q` hides them)\n\n",
        if n == 1 { "" } else { "s" },
    ));
    out
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
