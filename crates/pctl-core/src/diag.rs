//! The one diagnostics type. Every stage (load, validate, resolve, expand, plan) produces
//! [`Diagnostic`]s and keeps going where it can; only `report` renders them.

use serde::Serialize;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
    Note,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        })
    }
}

/// A location in a source file. `line` and `column` are 1-based, the column counted in
/// characters (what editors show); `start..end` is the byte range the caret underlines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Span {
    pub line: usize,
    pub column: usize,
    #[serde(skip)]
    pub start: usize,
    #[serde(skip)]
    pub end: usize,
}

/// A secondary location shown under the primary one ("first defined here").
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Label {
    pub file: String,
    pub span: Span,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    /// Stable machine-readable code, e.g. `schema/unknown-field`.
    pub code: &'static str,
    pub message: String,
    /// Display path of the file (relative to where pctl runs), if the problem has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub span: Option<Span>,
    /// JSON path into the document, dotted for humans: `spec.environments.prod.replicas`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub found: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<Label>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl Diagnostic {
    pub fn new(severity: Severity, code: &'static str, message: impl Into<String>) -> Self {
        Diagnostic {
            severity,
            code,
            message: message.into(),
            file: None,
            span: None,
            path: None,
            found: None,
            expected: None,
            help: None,
            labels: Vec::new(),
            notes: Vec::new(),
        }
    }
    pub fn error(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(Severity::Error, code, message)
    }
    pub fn warning(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(Severity::Warning, code, message)
    }
    pub fn in_file(mut self, file: impl Into<String>) -> Self {
        self.file = Some(file.into());
        self
    }
    pub fn at(mut self, span: Option<Span>) -> Self {
        self.span = span;
        self
    }
    /// Sets the JSON path from an RFC 6901 pointer (`/spec/environments/prod`).
    pub fn pointer(mut self, pointer: &str) -> Self {
        self.path = Some(pointer_to_path(pointer));
        self
    }
    pub fn found(mut self, found: impl Into<String>) -> Self {
        self.found = Some(found.into());
        self
    }
    pub fn expected(mut self, expected: impl Into<String>) -> Self {
        self.expected = Some(expected.into());
        self
    }
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }
    pub fn label(
        mut self,
        file: impl Into<String>,
        span: Span,
        message: impl Into<String>,
    ) -> Self {
        self.labels.push(Label {
            file: file.into(),
            span,
            message: message.into(),
        });
        self
    }
    /// Help with "did you mean `x`?" when a candidate is close to `word`, else `otherwise`.
    pub fn suggest<'a>(
        self,
        word: &str,
        candidates: impl IntoIterator<Item = &'a str>,
        otherwise: impl Into<String>,
    ) -> Self {
        match did_you_mean(word, candidates) {
            Some(s) => self.help(format!("did you mean `{s}`?")),
            None => self.help(otherwise),
        }
    }
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// Sort diagnostics into a stable order (file, position, code, message): reports are
/// deterministic whatever order threads finished in.
pub fn sort(diags: &mut [Diagnostic]) {
    diags.sort_by(|a, b| {
        (
            &a.file,
            a.span.map(|s| (s.line, s.column)),
            a.code,
            &a.message,
        )
            .cmp(&(
                &b.file,
                b.span.map(|s| (s.line, s.column)),
                b.code,
                &b.message,
            ))
    });
}

/// Merges diagnostics that differ only in their notes (the same template error in every
/// environment is one problem, reported once with every context).
pub fn dedupe(diags: Vec<Diagnostic>) -> Vec<Diagnostic> {
    // Indexed by what makes two diagnostics the same: linear, for runs with 10,000 warnings.
    let mut out: Vec<Diagnostic> = Vec::with_capacity(diags.len());
    let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for d in diags {
        let key = format!(
            "{}\0{}\0{:?}\0{:?}\0{:?}",
            d.code, d.message, d.file, d.span, d.labels
        );
        match index.get(&key) {
            Some(&i) => {
                let o = &mut out[i];
                for n in d.notes {
                    if !o.notes.contains(&n) {
                        o.notes.push(n);
                    }
                }
            }
            None => {
                index.insert(key, out.len());
                out.push(d);
            }
        }
    }
    out
}

pub fn has_errors(diags: &[Diagnostic]) -> bool {
    diags.iter().any(Diagnostic::is_error)
}

/// `/spec/environments/prod/replicas` -> `spec.environments.prod.replicas`;
/// array indices become `[0]`; keys that are not identifiers are quoted.
pub fn pointer_to_path(pointer: &str) -> String {
    let mut out = String::new();
    for raw in pointer.split('/').skip(1) {
        let seg = raw.replace("~1", "/").replace("~0", "~");
        if !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str(&format!("[{seg}]"));
        } else if !seg.is_empty()
            && seg
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&seg);
        } else {
            out.push_str(&format!("[{seg:?}]"));
        }
    }
    if out.is_empty() {
        "(document)".to_string()
    } else {
        out
    }
}

/// Appends `segment` to an RFC 6901 pointer, escaping `~` and `/`.
pub fn join_pointer(pointer: &str, segment: &str) -> String {
    format!(
        "{pointer}/{}",
        segment.replace('~', "~0").replace('/', "~1")
    )
}

/// Pointer of an environment's override block in platform.yaml (`/spec/environments/<env>`).
pub fn env_pointer(env: &str) -> String {
    join_pointer("/spec/environments", env)
}

/// The closest candidate by edit distance, for "did you mean" hints.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(1) + usize::from(word.len() > 6);
    candidates
        .into_iter()
        .map(|c| (edit_distance(&word.to_lowercase(), &c.to_lowercase()), c))
        .filter(|(d, _)| *d <= limit)
        .min_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(b.1)))
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    strsim::levenshtein(a, b)
}

/// A value from a user's file made safe to show in a terminal, a log or a CI runner: control
/// characters (C0, DEL, C1), line and paragraph separators, bidirectional overrides and
/// non-characters become visible escapes (`\n`, `\u{1b}`), so a value can neither move the
/// cursor, recolour the screen, start a new line (and with it a workflow command) nor reorder
/// what is shown.
pub fn escape_control(s: &str) -> String {
    if !s.chars().any(needs_escape) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if needs_escape(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// Whether a character must not reach a terminal as it is (see [`escape_control`]).
pub fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{200e}' | '\u{200f}')
        || ('\u{202a}'..='\u{202e}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
        || (c as u32 & 0xfffe) == 0xfffe
        || ('\u{fdd0}'..='\u{fdef}').contains(&c)
}

/// Formats a list of names for "expected one of: `a`, `b`, `c`".
pub fn one_of<S: AsRef<str>>(items: &[S]) -> String {
    let shown: Vec<String> = items
        .iter()
        .take(12)
        .map(|s| format!("`{}`", s.as_ref()))
        .collect();
    let more = if items.len() > 12 {
        format!(" (and {} more)", items.len() - 12)
    } else {
        String::new()
    };
    format!("one of {}{more}", shown.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_read_like_yaml() {
        assert_eq!(
            pointer_to_path("/spec/environments/prod/replicas"),
            "spec.environments.prod.replicas"
        );
        assert_eq!(
            pointer_to_path("/spec/endpoints/0/path"),
            "spec.endpoints[0].path"
        );
        assert_eq!(pointer_to_path("/spec/env/a~1b"), "spec.env[\"a/b\"]");
        assert_eq!(pointer_to_path(""), "(document)");
    }

    #[test]
    fn suggestions_pick_the_closest_name() {
        let c = [
            "replicas",
            "autoscale",
            "compute",
            "resources",
            "approvals",
            "env",
        ];
        assert_eq!(did_you_mean("replica", c), Some("replicas"));
        assert_eq!(did_you_mean("autoscaling", c), Some("autoscale"));
        assert_eq!(did_you_mean("zzz", c), None);
    }

    #[test]
    fn control_characters_are_shown_not_obeyed() {
        assert_eq!(escape_control("plain: ü"), "plain: ü");
        assert_eq!(escape_control("a\n::error::x"), "a\\n::error::x");
        assert_eq!(escape_control("\u{1b}[31mred"), "\\u{1b}[31mred");
        assert_eq!(
            escape_control("\u{7f}\u{85}\u{fffe}\u{202e}"),
            "\\u{7f}\\u{85}\\u{fffe}\\u{202e}"
        );
    }
}
