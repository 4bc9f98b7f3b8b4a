//! Source texts kept for diagnostics (snippets with carets) and position conversion.
//!
//! The YAML parser counts positions in characters; terminals and snippet renderers want bytes.
//! [`SourceFile::span`] converts once, at the edge.

use crate::diag::Span;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Display name: the path as the user would type it.
    pub name: String,
    pub text: Arc<str>,
    /// Byte offset of every line start, for char<->byte conversion.
    line_starts: Arc<[usize]>,
}

impl SourceFile {
    pub fn new(name: impl Into<String>, text: impl Into<Arc<str>>) -> Self {
        let text: Arc<str> = text.into();
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        SourceFile {
            name: name.into(),
            text,
            line_starts: starts.into(),
        }
    }

    /// A span from a 1-based line, a 0-based character column and a length in characters.
    pub fn span(&self, line: usize, col0: usize, len_chars: usize) -> Span {
        let line = line.clamp(1, self.line_starts.len());
        let line_start = self.line_starts[line - 1];
        let rest = &self.text[line_start..];
        let start = line_start + char_to_byte(rest, col0);
        let tail = &self.text[start..];
        // Keep the underline on one line: snippets read best that way.
        let line_len = tail.find('\n').unwrap_or(tail.len());
        let end = start + char_to_byte(tail, len_chars).min(line_len);
        Span {
            line,
            column: col0 + 1,
            start,
            end: end.max(start),
        }
    }

    /// A span from a byte offset (used for errors reported in bytes, e.g. invalid UTF-8).
    pub fn span_at_byte(&self, byte: usize) -> Span {
        let byte = byte.min(self.text.len());
        let line = match self.line_starts.binary_search(&byte) {
            Ok(i) => i + 1,
            Err(i) => i,
        };
        let line_start = self.line_starts[line - 1];
        let col0 = self.text[line_start..byte].chars().count();
        self.span(line, col0, 1)
    }
}

fn char_to_byte(s: &str, chars: usize) -> usize {
    s.char_indices().nth(chars).map_or(s.len(), |(i, _)| i)
}

/// Every source a run has read, by display name, so that `report` can show snippets.
#[derive(Debug, Default, Clone)]
pub struct SourceMap {
    files: Arc<Mutex<BTreeMap<String, SourceFile>>>,
}

impl SourceMap {
    pub fn add(&self, file: SourceFile) {
        self.files
            .lock()
            .expect("source map lock")
            .insert(file.name.clone(), file);
    }
    pub fn get(&self, name: &str) -> Option<SourceFile> {
        self.files
            .lock()
            .expect("source map lock")
            .get(name)
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_are_bytes_but_columns_are_characters() {
        let f = SourceFile::new("x", "a: 1\nnäme: \"ü\"\n");
        let s = f.span(2, 6, 3);
        assert_eq!((s.line, s.column), (2, 7));
        assert_eq!(&f.text[s.start..s.end], "\"ü\"");
        let b = f.span_at_byte(6);
        assert_eq!((b.line, b.column), (2, 2));
    }
}
