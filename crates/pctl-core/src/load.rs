//! Stage 2, load: read a file and parse its YAML into a JSON value plus a span index
//! (JSON pointer -> position), so later stages can point at `file:line:column`.
//!
//! One parser for all input (saphyr-parser, YAML 1.2 core schema), driven event by event so that
//! the dangerous parts of YAML are refused *before* they can do harm: anchors and aliases
//! ("billion laughs"), merge keys, custom tags, complex keys, several documents, duplicate keys,
//! deep nesting. This module does not know what a platform.yaml means.

use crate::diag::{Diagnostic, join_pointer};
use crate::source::SourceFile;
use saphyr_parser::{Event, Parser, ScalarStyle, ScanError};
use serde_json::{Map, Number, Value};
use std::collections::HashMap;

/// Inputs larger than this are refused before parsing (a platform.yaml is a few KiB).
pub const MAX_INPUT_BYTES: u64 = 1024 * 1024;
/// Deeper nesting than this is refused (the platform.yaml schema needs 6 levels).
pub const MAX_DEPTH: usize = 64;

/// Where a node sits in its file, in the parser's units (1-based line, 0-based char column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
    pub len: usize,
}

#[derive(Debug, Clone, Copy)]
pub struct NodeSpans {
    pub key: Option<Pos>,
    pub value: Pos,
}

/// JSON pointer -> positions of the node (and of its key, for mapping entries).
#[derive(Debug, Clone, Default)]
pub struct SpanIndex {
    nodes: HashMap<String, NodeSpans>,
}

impl SpanIndex {
    pub fn get(&self, pointer: &str) -> Option<&NodeSpans> {
        self.nodes.get(pointer)
    }

    /// The value at `pointer`, or the closest ancestor that exists (a missing field is reported
    /// on the object that should hold it).
    pub fn locate(&self, file: &SourceFile, pointer: &str) -> Option<crate::diag::Span> {
        let mut p = pointer;
        loop {
            if let Some(n) = self.nodes.get(p) {
                let at = if p == pointer {
                    n.value
                } else {
                    n.key.unwrap_or(n.value)
                };
                return Some(file.span(at.line, at.col, at.len));
            }
            p = &p[..p.rfind('/')?];
        }
    }

    /// The key of the mapping entry at `pointer` (falls back to [`Self::locate`]).
    pub fn locate_key(&self, file: &SourceFile, pointer: &str) -> Option<crate::diag::Span> {
        match self.nodes.get(pointer).and_then(|n| n.key) {
            Some(k) => Some(file.span(k.line, k.col, k.len)),
            None => self.locate(file, pointer),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Document {
    pub value: Value,
    pub spans: SpanIndex,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Refuse plain scalars that a YAML 1.1 reader (PyYAML, Kubernetes' decoder, GitHub) would
    /// read differently from YAML 1.2: `yes`, `on`, `010`, `1:20`... Used on rendered output.
    pub strict_scalars: bool,
    /// Skip the span index (JSON pointer -> position): for rendered output, where only the
    /// values are used, it would be a third of the parse's work.
    pub no_spans: bool,
}

/// Decodes bytes as UTF-8, pointing at the first bad byte otherwise.
pub fn source_from_bytes(display: &str, bytes: Vec<u8>) -> Result<SourceFile, Diagnostic> {
    match String::from_utf8(bytes) {
        Ok(mut text) => {
            if text.starts_with('\u{feff}') {
                text.drain(..3);
            }
            Ok(SourceFile::new(display, text))
        }
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            let valid = String::from_utf8_lossy(&e.as_bytes()[..at]).into_owned();
            let prefix = SourceFile::new(display, valid);
            let span = prefix.span_at_byte(at);
            Err(
                Diagnostic::error("file/not-utf8", "file is not valid UTF-8")
                    .in_file(display)
                    .at(Some(span))
                    .found(format!(
                        "byte 0x{:02x} at line {}, column {}",
                        e.as_bytes()[at],
                        span.line,
                        span.column
                    ))
                    .expected("UTF-8 text")
                    .help("save the file as UTF-8 (most editors: \"Save with encoding\")"),
            )
        }
    }
}

enum Frame {
    Map {
        map: Map<String, Value>,
        pointer: String,
        key: Option<(String, Pos)>,
        seen: HashMap<String, Pos>,
    },
    Seq {
        items: Vec<Value>,
        pointer: String,
    },
}

struct Builder<'a> {
    file: &'a SourceFile,
    opts: Options,
    stack: Vec<Frame>,
    spans: SpanIndex,
    root: Option<Value>,
    diags: Vec<Diagnostic>,
}

fn pos_of(span: &saphyr_parser::Span, fallback_len: usize) -> Pos {
    let len = if span.end.index() > span.start.index() && span.end.line() == span.start.line() {
        span.end.index() - span.start.index()
    } else {
        fallback_len
    };
    Pos {
        line: span.start.line(),
        col: span.start.col(),
        len,
    }
}

impl Builder<'_> {
    fn err(&mut self, code: &'static str, msg: impl Into<String>, pos: Pos, help: &str) {
        let mut d = Diagnostic::error(code, msg)
            .in_file(&self.file.name)
            .at(Some(self.file.span(pos.line, pos.col, pos.len)));
        if !help.is_empty() {
            d = d.help(help);
        }
        self.diags.push(d);
    }

    /// The pointer a new node gets from its parent.
    fn child_pointer(&self) -> (String, Option<Pos>) {
        if self.opts.no_spans {
            let key = match self.stack.last() {
                Some(Frame::Map {
                    key: Some((_, kpos)),
                    ..
                }) => Some(*kpos),
                _ => None,
            };
            return (String::new(), key);
        }
        match self.stack.last() {
            None => (String::new(), None),
            Some(Frame::Map { pointer, key, .. }) => match key {
                Some((k, kpos)) => (join_pointer(pointer, k), Some(*kpos)),
                None => (pointer.clone(), None),
            },
            Some(Frame::Seq { items, pointer }) => (format!("{pointer}/{}", items.len()), None),
        }
    }

    fn expecting_key(&self) -> bool {
        matches!(self.stack.last(), Some(Frame::Map { key: None, .. }))
    }

    fn attach(&mut self, value: Value) {
        match self.stack.last_mut() {
            None => self.root = Some(value),
            Some(Frame::Map { map, key, .. }) => {
                if let Some((k, _)) = key.take() {
                    map.insert(k, value);
                }
            }
            Some(Frame::Seq { items, .. }) => items.push(value),
        }
    }

    fn scalar(
        &mut self,
        text: &str,
        style: ScalarStyle,
        tag: Option<&saphyr_parser::Tag>,
        pos: Pos,
    ) {
        let as_string = match tag {
            None => false,
            Some(t) if t.is_yaml_core_schema() && t.suffix == "str" => true,
            Some(t) if t.is_yaml_core_schema() => false,
            Some(t) => {
                let tag = format!("{}{}", t.handle, t.suffix);
                self.err(
                    "yaml/tag",
                    format!("custom YAML tag `{tag}` is not supported"),
                    pos,
                    "remove the tag; pctl reads plain YAML values only",
                );
                false
            }
        };
        if self.expecting_key() {
            self.key(text, style, pos);
            return;
        }
        let value = if as_string || style != ScalarStyle::Plain {
            Value::String(text.to_string())
        } else {
            if self.opts.strict_scalars && yaml11_differs(text) {
                self.err(
                    "yaml/ambiguous-scalar",
                    format!("plain value `{text}` means something else to a YAML 1.1 reader"),
                    pos,
                    "quote it",
                );
            }
            resolve_plain(text)
        };
        let (pointer, key) = self.child_pointer();
        // An empty value (`dev:`) has no text of its own: show its key instead.
        let pos = match key {
            Some(k) if text.is_empty() && style == ScalarStyle::Plain => k,
            _ => pos,
        };
        if !self.opts.no_spans {
            self.spans
                .nodes
                .insert(pointer, NodeSpans { key, value: pos });
        }
        self.attach(value);
    }

    fn key(&mut self, text: &str, style: ScalarStyle, pos: Pos) {
        if style == ScalarStyle::Plain && text == "<<" {
            self.err(
                "yaml/merge-key",
                "YAML merge keys (`<<`) are not supported",
                pos,
                "write the keys out in full; pctl reads each value from exactly one place",
            );
        }
        if self.opts.strict_scalars && style == ScalarStyle::Plain && yaml11_differs(text) {
            self.err(
                "yaml/ambiguous-scalar",
                format!("plain key `{text}` means something else to a YAML 1.1 reader"),
                pos,
                "quote it",
            );
        }
        let file = self.file;
        let Some(Frame::Map {
            seen, key, pointer, ..
        }) = self.stack.last_mut()
        else {
            return;
        };
        if let Some(first) = seen.get(text).copied() {
            let first_span = file.span(first.line, first.col, first.len);
            let d = Diagnostic::error("yaml/duplicate-key", format!("duplicate key `{text}`"))
                .in_file(&file.name)
                .at(Some(file.span(pos.line, pos.col, pos.len)))
                .pointer(&join_pointer(pointer, text))
                .label(&file.name, first_span, "first defined here")
                .help("a key may appear once per mapping: remove or merge one of them");
            self.diags.push(d);
            // Keep the first value; the second is parsed into a throw-away slot.
            *key = Some((format!("\u{0}dup:{text}:{}", pos.line), pos));
            return;
        }
        seen.insert(text.to_string(), pos);
        *key = Some((text.to_string(), pos));
    }

    fn start(&mut self, is_map: bool, pos: Pos) -> Result<(), ()> {
        if self.expecting_key() {
            self.err(
                "yaml/complex-key",
                "a mapping or list cannot be used as a key",
                pos,
                "keys must be plain strings",
            );
            return Err(());
        }
        if self.stack.len() >= MAX_DEPTH {
            self.err(
                "yaml/too-deep",
                format!("nesting deeper than {MAX_DEPTH} levels"),
                pos,
                "platform.yaml needs only a few levels; check for runaway indentation or brackets",
            );
            return Err(());
        }
        let (pointer, key) = self.child_pointer();
        if !self.opts.no_spans {
            self.spans.nodes.insert(
                pointer.clone(),
                NodeSpans {
                    key,
                    value: Pos { len: 1, ..pos },
                },
            );
        }
        self.stack.push(if is_map {
            Frame::Map {
                map: Map::new(),
                pointer,
                key: None,
                seen: HashMap::new(),
            }
        } else {
            Frame::Seq {
                items: Vec::new(),
                pointer,
            }
        });
        Ok(())
    }

    fn end(&mut self) {
        let value = match self.stack.pop() {
            Some(Frame::Map { mut map, .. }) => {
                map.retain(|k, _| !k.starts_with('\u{0}'));
                Value::Object(map)
            }
            Some(Frame::Seq { items, .. }) => Value::Array(items),
            None => return,
        };
        self.attach(value);
    }
}

/// Parses exactly one YAML document into a JSON value with spans. All problems found are
/// returned; a syntax error stops the parse (nothing after it can be trusted).
pub fn parse(file: &SourceFile, opts: Options) -> Result<Document, Vec<Diagnostic>> {
    parse_stream(file, opts, false).map(|mut docs| docs.remove(0))
}

/// Parses a stream of `---`-separated YAML documents (e.g. a Backstage `catalog-info.yaml`),
/// with the same refusals as [`parse`] in every document: anchors, aliases, merge keys, tags,
/// duplicate keys, deep nesting. Empty documents are skipped; at least one must have content.
/// Each document's spans are relative to its own root.
pub fn parse_all(file: &SourceFile, opts: Options) -> Result<Vec<Document>, Vec<Diagnostic>> {
    parse_stream(file, opts, true)
}

/// One document (`multi` false: a second one is an error) or several; never an empty list.
fn parse_stream(
    file: &SourceFile,
    opts: Options,
    multi: bool,
) -> Result<Vec<Document>, Vec<Diagnostic>> {
    let mut docs = Vec::new();
    let mut b = Builder {
        file,
        opts,
        stack: Vec::new(),
        spans: SpanIndex::default(),
        root: None,
        diags: Vec::new(),
    };
    let mut documents = 0usize;
    for item in Parser::new_from_str(&file.text) {
        let (event, span) = match item {
            Ok(ev) => ev,
            Err(e) => {
                b.diags.push(syntax_error(file, &e));
                return Err(b.diags);
            }
        };
        let pos = pos_of(&span, 1);
        match event {
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 && !multi {
                    b.err(
                        "yaml/multi-document",
                        "a second YAML document starts here; this file must hold exactly one",
                        pos,
                        "remove the `---` separator and everything after it, or move it to its own file",
                    );
                    return Err(b.diags);
                }
            }
            Event::Alias(_) => {
                b.err(
                    "yaml/alias",
                    "YAML aliases (`*name`) are not supported",
                    pos,
                    "write the value out in full; aliases make a value appear in several places",
                );
                return Err(b.diags);
            }
            Event::Scalar(text, style, anchor, tag) => {
                if anchor != 0 {
                    b.err(
                        "yaml/anchor",
                        "YAML anchors (`&name`) are not supported",
                        pos,
                        "remove the anchor and write values out in full",
                    );
                }
                b.scalar(&text, style, tag.as_deref(), pos);
            }
            Event::MappingStart(anchor, ref tag) | Event::SequenceStart(anchor, ref tag) => {
                let is_map = matches!(event, Event::MappingStart(..));
                if anchor != 0 {
                    b.err(
                        "yaml/anchor",
                        "YAML anchors (`&name`) are not supported",
                        pos,
                        "remove the anchor and write values out in full",
                    );
                }
                if let Some(t) = tag.as_deref().filter(|t| !t.is_yaml_core_schema()) {
                    let tag = format!("{}{}", t.handle, t.suffix);
                    b.err(
                        "yaml/tag",
                        format!("custom YAML tag `{tag}` is not supported"),
                        pos,
                        "remove the tag",
                    );
                }
                if b.start(is_map, pos).is_err() {
                    return Err(b.diags);
                }
            }
            Event::MappingEnd | Event::SequenceEnd => b.end(),
            Event::DocumentEnd if multi => {
                let spans = std::mem::take(&mut b.spans);
                match b.root.take() {
                    None | Some(Value::Null) => {}
                    Some(value) => docs.push(Document { value, spans }),
                }
            }
            Event::StreamEnd => break,
            _ => {}
        }
    }
    if !b.diags.is_empty() {
        return Err(b.diags);
    }
    if multi && !docs.is_empty() {
        return Ok(docs);
    }
    match b.root {
        None | Some(Value::Null) => {
            let msg = if file.text.trim().is_empty() {
                "the file is empty"
            } else {
                "the file holds no YAML content, only comments or blank lines"
            };
            Err(vec![
                Diagnostic::error("yaml/empty", msg)
                    .in_file(&file.name)
                    .at(Some(file.span(1, 0, 0)))
                    .help("write the document's top-level keys, starting with `apiVersion: pctl.dev/v1` and `kind:` (`pctl schema` prints the full format)"),
            ])
        }
        Some(value) => Ok(vec![Document {
            value,
            spans: b.spans,
        }]),
    }
}

fn syntax_error(file: &SourceFile, e: &ScanError) -> Diagnostic {
    let m = e.marker();
    let info = e.info();
    let mut span = file.span(m.line().max(1), m.col(), 1);
    let line_text = file
        .text
        .lines()
        .nth(span.line.saturating_sub(1))
        .unwrap_or("");
    // The scanner reports where it gave up, which for a tab or an unclosed bracket is often
    // a line or more away from the cause: point at the cause instead.
    let tab = indentation_tab(&file.text, span.line);
    let is_tab = info.contains("tab") || line_text.starts_with('\t');
    // A bracket left open on an earlier line makes the scanner fail later, with a message
    // about whatever it met there.
    let unclosed = unclosed_bracket(&file.text, span.start).filter(|(at, _)| {
        info.contains("flow mapping")
            || info.contains("flow sequence")
            || file.span_at_byte(*at).line < span.line
    });
    let mut help = "check the indentation and brackets on this line and the one before".to_string();
    let mut code = "yaml/syntax";
    let mut label = None;
    let mut message = format!("invalid YAML: {info}");
    if info.contains("recursion limit") {
        // The scanner has its own nesting limit, which it may reach before the builder's.
        code = "yaml/too-deep";
        message = format!("nesting is too deep for pctl to read ({info})");
        help = "platform.yaml needs only a few levels; check for runaway indentation or brackets"
            .into();
    } else if is_tab {
        code = "yaml/tab";
        if let Some((line, col)) = tab {
            span = file.span(line, col, 1);
        }
        help = "YAML indentation must use spaces; replace the tab characters with spaces".into();
    } else if info.contains("mapping values are not allowed") {
        help = "a value containing `: ` must be quoted, e.g. `description: \"a: b\"`".into();
    } else if info.contains("quoted scalar") {
        help = "a quoted value may be missing its closing quote: end it with the same quote \
                character it starts with, on the same line"
            .into();
    } else if let Some((at, open)) = unclosed {
        let close = if open == '{' { '}' } else { ']' };
        let opener = file.span_at_byte(at);
        let opener = file.span(opener.line, opener.column - 1, 1);
        if file.text[span.start.min(file.text.len())..]
            .trim()
            .is_empty()
        {
            // The scanner ran into the end of the file: the bracket never closed is the cause.
            span = opener;
            help = format!("this `{open}` is never closed: add the matching `{close}`");
        } else {
            help = if opener.line == span.line {
                format!(
                    "add the missing `,` between entries, or the `{close}` that closes the `{open}`"
                )
            } else {
                label = Some((opener, format!("this `{open}` is still open")));
                format!(
                    "close the `{open}` on line {} with `{close}`, or add the missing `,` between its entries",
                    opener.line
                )
            };
        }
    }
    let mut d = Diagnostic::error("yaml/syntax", message)
        .in_file(&file.name)
        .at(Some(span))
        .help(help);
    if let Some((s, msg)) = label {
        d = d.label(&file.name, s, msg);
    }
    d.code = code;
    d
}

/// The first tab used as indentation at or after `from_line` (else before it): (line, 0-based column).
fn indentation_tab(text: &str, from_line: usize) -> Option<(usize, usize)> {
    let tabs: Vec<(usize, usize)> = text
        .lines()
        .enumerate()
        .filter_map(|(i, l)| {
            let indent = l.len() - l.trim_start_matches([' ', '\t']).len();
            l[..indent]
                .find('\t')
                .map(|c| (i + 1, l[..c].chars().count()))
        })
        .collect();
    tabs.iter()
        .find(|(l, _)| *l >= from_line)
        .or(tabs.last())
        .copied()
}

/// The byte offset and character of the innermost `{` or `[` still open at byte `end`
/// (brackets inside quotes and comments do not count).
fn unclosed_bracket(text: &str, end: usize) -> Option<(usize, char)> {
    let mut stack: Vec<(usize, char)> = Vec::new();
    let mut quote: Option<char> = None;
    let mut comment = false;
    let mut prev = '\n';
    let mut chars = text[..end.min(text.len())].char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match (quote, c) {
            _ if comment => comment = c != '\n',
            (Some('\''), '\'') if chars.peek().map(|x| x.1) == Some('\'') => {
                chars.next();
            }
            (Some('"'), '\\') => {
                chars.next();
            }
            (Some(q), _) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') if matches!(prev, ' ' | '\t' | '\n' | '{' | '[' | ',' | ':') => {
                quote = Some(c)
            }
            (None, '#') if matches!(prev, ' ' | '\t' | '\n') => comment = true,
            (None, '{' | '[') => stack.push((i, c)),
            (None, '}' | ']') => {
                stack.pop();
            }
            _ => {}
        }
        prev = c;
    }
    stack.pop()
}

/// YAML 1.2 core-schema resolution of a plain scalar.
fn resolve_plain(s: &str) -> Value {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    let digits = |t: &str, radix: u32| !t.is_empty() && t.chars().all(|c| c.is_digit(radix));
    let unsigned = s.strip_prefix(['-', '+']).unwrap_or(s);
    if digits(unsigned, 10) {
        if let Ok(i) = s.parse::<i64>() {
            return Value::Number(i.into());
        }
    }
    if let Some(oct) = s.strip_prefix("0o").filter(|t| digits(t, 8)) {
        if let Ok(i) = i64::from_str_radix(oct, 8) {
            return Value::Number(i.into());
        }
    }
    if let Some(hex) = s.strip_prefix("0x").filter(|t| digits(t, 16)) {
        if let Ok(i) = i64::from_str_radix(hex, 16) {
            return Value::Number(i.into());
        }
    }
    if is_float(unsigned) {
        if let Some(n) = s.parse::<f64>().ok().and_then(Number::from_f64) {
            return Value::Number(n);
        }
    }
    Value::String(s.to_string())
}

/// `[0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)?` or `\.[0-9]+...` (YAML 1.2 core float, no sign).
fn is_float(s: &str) -> bool {
    let (mant, exp) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let mant_ok = match mant.split_once('.') {
        Some((a, b)) => {
            (!a.is_empty() || !b.is_empty())
                && a.chars().all(|c| c.is_ascii_digit())
                && b.chars().all(|c| c.is_ascii_digit())
        }
        None => !mant.is_empty() && mant.chars().all(|c| c.is_ascii_digit()),
    };
    let exp_ok = exp.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && e.chars().all(|c| c.is_ascii_digit())
    });
    mant_ok && exp_ok && (mant.contains('.') || exp.is_some())
}

/// True when a YAML 1.1 reader would resolve this plain scalar to a different type or value
/// than YAML 1.2's core schema does.
pub fn yaml11_differs(s: &str) -> bool {
    const BOOLS: &[&str] = &[
        "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "on", "On", "ON", "off", "Off",
        "OFF",
    ];
    if BOOLS.contains(&s) {
        return true;
    }
    let unsigned = s.strip_prefix(['-', '+']).unwrap_or(s);
    let all = |t: &str, f: fn(char) -> bool| !t.is_empty() && t.chars().all(f);
    // 1.1 octal `010`, binary `0b1`, underscores `1_000`, sexagesimal `1:20`, 1.2 octal `0o7`.
    (unsigned.len() > 1 && unsigned.starts_with('0') && all(unsigned, |c| c.is_ascii_digit()))
        || unsigned
            .strip_prefix("0b")
            .is_some_and(|t| all(t, |c| c == '0' || c == '1' || c == '_'))
        || unsigned.strip_prefix("0o").is_some()
        || (unsigned.contains('_') && all(unsigned, |c| c.is_ascii_digit() || c == '_' || c == '.'))
        || (unsigned.contains(':')
            && all(unsigned, |c| c.is_ascii_digit() || c == ':' || c == '.')
            && unsigned.chars().next().is_some_and(|c| c.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Document, Vec<Diagnostic>> {
        parse(&SourceFile::new("t.yaml", text), Options::default())
    }

    #[test]
    fn yaml_1_2_core_schema() {
        let d =
            load("a: no\nb: on\nc: 010\nd: 1.5\ne: ~\nf: \"1\"\ng: 0x1f\nh: 1e3\ni: .5\nj: -3\n")
                .unwrap();
        let v = d.value;
        assert_eq!(v["a"], "no");
        assert_eq!(v["b"], "on");
        assert_eq!(v["c"], 10);
        assert_eq!(v["d"], 1.5);
        assert!(v["e"].is_null());
        assert_eq!(v["f"], "1");
        assert_eq!(v["g"], 31);
        assert_eq!(v["h"], 1000.0);
        assert_eq!(v["i"], 0.5);
        assert_eq!(v["j"], -3);
    }

    #[test]
    fn spans_point_at_values_and_keys() {
        let f = SourceFile::new(
            "t.yaml",
            "spec:\n  environments:\n    prod: {replicas: three}\n",
        );
        let d = parse(&f, Options::default()).unwrap();
        let s = d
            .spans
            .locate(&f, "/spec/environments/prod/replicas")
            .unwrap();
        assert_eq!((s.line, s.column), (3, 22));
        assert_eq!(&f.text[s.start..s.end], "three");
        let k = d.spans.locate_key(&f, "/spec/environments/prod").unwrap();
        assert_eq!((k.line, k.column), (3, 5));
        // a missing child falls back to its parent's key
        let m = d
            .spans
            .locate(&f, "/spec/environments/prod/autoscale")
            .unwrap();
        assert_eq!((m.line, m.column), (3, 5));
    }

    #[test]
    fn refuses_the_dangerous_parts() {
        let codes = |t: &str| -> Vec<&'static str> {
            load(t)
                .err()
                .unwrap_or_default()
                .iter()
                .map(|d| d.code)
                .collect()
        };
        assert_eq!(codes("a: 1\na: 2\n"), ["yaml/duplicate-key"]);
        assert_eq!(codes("a: &x 1\nb: *x\n"), ["yaml/anchor", "yaml/alias"]);
        assert_eq!(codes("a: {x: 1}\nb:\n  <<: {y: 2}\n"), ["yaml/merge-key"]);
        assert_eq!(codes("a: 1\n---\nb: 2\n"), ["yaml/multi-document"]);
        assert_eq!(codes(""), ["yaml/empty"]);
        assert_eq!(codes("a: !custom 1\n"), ["yaml/tag"]);
        assert_eq!(codes(&"[".repeat(200)), ["yaml/too-deep"]);
        assert!(load("a: !!str 010\n").unwrap().value["a"] == "010");
    }

    #[test]
    fn several_documents_only_when_asked() {
        let f = SourceFile::new("t.yaml", "# c\na: 1\n---\nb: [x]\n---\n# empty\n...\n");
        let docs = parse_all(&f, Options::default()).unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1].value["b"][0], "x");
        let s = docs[1].spans.locate(&f, "/b/0").unwrap();
        assert_eq!((s.line, s.column), (4, 5));
        assert_eq!(parse_all(&f, Options::default()).unwrap()[0].value["a"], 1);
        // the same refusals in every document
        let codes = |t: &str| -> Vec<&'static str> {
            parse_all(&SourceFile::new("t.yaml", t), Options::default())
                .err()
                .unwrap_or_default()
                .iter()
                .map(|d| d.code)
                .collect()
        };
        assert_eq!(codes("a: 1\n---\nb: 1\nb: 2\n"), ["yaml/duplicate-key"]);
        assert_eq!(
            codes("a: &x 1\n---\nb: *x\n"),
            ["yaml/anchor", "yaml/alias"]
        );
        assert_eq!(codes("a: 1\n---\nb: !t 2\n"), ["yaml/tag"]);
        assert_eq!(codes("---\n---\n"), ["yaml/empty"]);
        assert_eq!(codes("a: 1\n---\nb: \"x\n"), ["yaml/syntax"]);
        // one document is still a one-element list, and `parse` still refuses two
        assert_eq!(codes("a: 1\n"), Vec::<&str>::new());
        assert!(load("a: 1\n---\nb: 2\n").is_err());
    }

    #[test]
    fn strict_scalars_catch_yaml_1_1_traps() {
        for t in [
            "yes", "No", "on", "OFF", "y", "010", "0b101", "1_000", "1:20", "0o7",
        ] {
            assert!(yaml11_differs(t), "{t}");
        }
        for t in [
            "hello", "10", "0", "1.5", "true", "null", "a:b", "v1.2.3", "12:ab",
        ] {
            assert!(!yaml11_differs(t), "{t}");
        }
    }
}
