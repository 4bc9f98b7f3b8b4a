//! Where, in platform.yaml, the values a template reads come from: a template error points at
//! the field that fed the failing expression, and a path conflict at the resource that caused it.

use crate::diag::{Diagnostic, Span};
use crate::load::Document;
use crate::source::SourceFile;
use std::collections::BTreeMap;

/// Where, in platform.yaml, the values a template reads come from (best effort): used to point
/// a template error at the field that fed it.
#[derive(Debug, Clone, Default)]
pub struct Feed {
    pub file: Option<SourceFile>,
    pub doc: Option<std::sync::Arc<Document>>,
    env: Option<String>,
    resource: Option<String>,
}

impl Feed {
    pub fn new(file: SourceFile, doc: std::sync::Arc<Document>) -> Feed {
        Feed {
            file: Some(file),
            doc: Some(doc),
            env: None,
            resource: None,
        }
    }
    pub(super) fn for_env(&self, env: &str) -> Feed {
        Feed {
            env: Some(env.to_string()),
            ..self.clone()
        }
    }
    pub(super) fn for_resource(&self, r: &str) -> Feed {
        Feed {
            resource: Some(r.to_string()),
            ..self.clone()
        }
    }

    /// Where in platform.yaml the output being rendered comes from: its resource's key, else
    /// the environment's, else the document.
    pub(super) fn origin(&self) -> Option<(String, Span)> {
        let (file, doc) = (self.file.as_ref()?, self.doc.as_ref()?);
        let pointers = [
            self.resource
                .as_ref()
                .map(|r| crate::diag::join_pointer("/spec/resources", r)),
            self.env
                .as_ref()
                .map(|e| crate::diag::join_pointer("/spec/environments", e)),
            Some(String::new()),
        ];
        pointers
            .into_iter()
            .flatten()
            .find_map(|p| doc.spans.locate_key(file, &p))
            .map(|span| (file.name.clone(), span))
    }

    /// `service.health.liveness` -> `/spec/health/liveness`, located in the file.
    pub(super) fn locate(&self, expr: &str) -> Option<(String, Span, String)> {
        let (file, doc) = (self.file.as_ref()?, self.doc.as_ref()?);
        let path: Vec<&str> = expr
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
            .find(|s| s.contains('.'))?
            .split('.')
            .collect();
        const META: &[&str] = &[
            "name",
            "owner",
            "description",
            "system",
            "lifecycle",
            "oncall",
            "repository",
            "runbook",
            "tags",
        ];
        let pointer = match path.as_slice() {
            ["service", f, rest @ ..] if META.contains(f) => {
                format!("/metadata/{f}{}", suffix(rest))
            }
            ["service", "image_ref" | "image_tag", ..] => "/spec/image".to_string(),
            ["service", f, rest @ ..] => format!("/spec/{f}{}", suffix(rest)),
            ["deployment", f, rest @ ..] => format!(
                "/spec/environments/{}/{f}{}",
                self.env.as_deref()?,
                suffix(rest)
            ),
            ["resource", f, rest @ ..] => format!(
                "/spec/resources/{}/{f}{}",
                self.resource.as_deref()?,
                suffix(rest)
            ),
            _ => return None,
        };
        // The deepest part of that path the file really has.
        let mut p = pointer.as_str();
        while doc.spans.get(p).is_none() {
            p = &p[..p.rfind('/')?];
        }
        let span = doc.spans.locate_key(file, p)?;
        Some((file.name.clone(), span, crate::diag::pointer_to_path(p)))
    }
}

fn suffix(rest: &[&str]) -> String {
    rest.iter().map(|s| format!("/{s}")).collect()
}

pub(super) fn template_error(
    e: &minijinja::Error,
    display: &BTreeMap<String, (String, String)>,
    feed: Option<&Feed>,
) -> Diagnostic {
    let name = e.name().unwrap_or("template");
    let (shown, text) = display
        .get(name.split('#').next().unwrap_or(name))
        .cloned()
        .unwrap_or_else(|| (name.to_string(), String::new()));
    let detail = e.detail().map(|d| format!(": {d}")).unwrap_or_default();
    let help = match e.kind() {
        minijinja::ErrorKind::UndefinedError => {
            "the template reads a variable the context does not have (see the context reference in blueprints/README.md); guard optional values with `is not none`"
        }
        minijinja::ErrorKind::SyntaxError => "fix the template syntax at this line",
        _ => "fix the template at this line, or the platform.yaml value it reads",
    };
    let mut d = Diagnostic::error("blueprint/template", format!("{}{detail}", e.kind()))
        .in_file(&shown)
        .help(help);
    if name.contains('#') {
        // An expression inside blueprint.yaml (path or when): the manifest is the place.
        return d;
    }
    // Debug info is off (it would print the whole context), so the source comes from our copy.
    let src = e.template_source().unwrap_or(&text);
    let f = SourceFile::new(&shown, src.to_string());
    match e.range().filter(|r| r.end <= src.len()) {
        Some(range) => {
            let s = f.span_at_byte(range.start);
            d = d.at(Some(Span {
                end: range.end.max(s.start),
                ..s
            }));
            if let Some((file, span, path)) = feed.and_then(|f| f.locate(&src[range.clone()])) {
                d = d.label(file, span, format!("`{path}` feeds this value"));
            }
        }
        None => {
            if let Some(line) = e.line() {
                d = d.at(Some(f.span(line, 0, 0)));
            }
        }
    }
    d
}
