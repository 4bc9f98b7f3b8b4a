//! Stage 3, validate: JSON Schema (embedded `schemas/`) plus semantic checks, for platform.yaml
//! and for the organisation config. Reports every problem of every file; never stops at the first.

pub mod schema;
pub mod semantic;

use crate::diag::{Diagnostic, has_errors, join_pointer};
use crate::load::{self, Document};
use crate::model::{Intent, Org};
use crate::source::SourceFile;
use schema::{SchemaKind, Schemas};
pub use semantic::Capabilities;
use serde_json::Value;
use std::collections::BTreeMap;

/// A platform.yaml that was read and checked. `intent` is filled as far as the file allowed;
/// `ok` says whether it is free of errors (only then is it rendered).
#[derive(Debug, Clone)]
pub struct Checked<T> {
    pub file: SourceFile,
    pub doc: Document,
    pub model: T,
    pub ok: bool,
}

/// Parses and schema-checks one file, returning the lenient model of what was valid.
fn check_document<T: serde::de::DeserializeOwned + Default>(
    file: &SourceFile,
    kind: SchemaKind,
    diags: &mut Vec<Diagnostic>,
) -> Option<(Document, T, bool)> {
    let doc = match load::parse(file, load::Options::default()) {
        Ok(doc) => doc,
        Err(mut d) => {
            diags.append(&mut d);
            return None;
        }
    };
    if !doc.value.is_object() {
        diags.push(
            Diagnostic::error(
                "yaml/not-a-mapping",
                "the document must be a mapping of keys to values",
            )
            .in_file(&file.name)
            .at(doc.spans.locate(file, ""))
            .found(schema::describe(&doc.value))
            .expected("a mapping with `apiVersion`, `kind`, `metadata` and `spec`"),
        );
        return None;
    }
    let (mut found, prune) = Schemas::get().validate(kind, file, &doc);
    let schema_ok = found.is_empty();
    diags.append(&mut found);
    let mut lenient = doc.value.clone();
    prune_paths(&mut lenient, prune);
    let model = serde_json::from_value::<T>(lenient).unwrap_or_default();
    Some((doc, model, schema_ok))
}

/// Removes the values at `pointers` (deepest and highest index first, so indices stay valid).
fn prune_paths(value: &mut Value, mut pointers: Vec<String>) {
    fn key(p: &str) -> Vec<(u8, u64, String)> {
        p.split('/')
            .map(|s| match s.parse::<u64>() {
                Ok(n) => (0, n, String::new()),
                Err(_) => (1, 0, s.to_string()),
            })
            .collect()
    }
    pointers.sort_by_key(|p| std::cmp::Reverse(key(p)));
    pointers.dedup();
    for p in pointers {
        let Some((parent, last)) = p.rsplit_once('/') else {
            *value = Value::Null;
            continue;
        };
        let last = last.replace("~1", "/").replace("~0", "~");
        match value.pointer_mut(parent) {
            Some(Value::Object(m)) => {
                m.shift_remove(&last);
            }
            Some(Value::Array(a)) => {
                if let Ok(i) = last.parse::<usize>() {
                    if i < a.len() {
                        a.remove(i);
                    }
                }
            }
            _ => {}
        }
    }
}

/// Loads and validates the organisation config.
pub fn check_org(file: &SourceFile) -> (Option<Checked<Org>>, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    let Some((doc, org, _)) = check_document::<Org>(file, SchemaKind::Organisation, &mut diags)
    else {
        return (None, diags);
    };
    // Names that others refer to must be unique.
    let mut dup = |what: &str, list: Vec<&str>, base: &str, field: &str| {
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, name) in list.into_iter().enumerate() {
            if let Some(first) = seen.insert(name, i) {
                let p = format!("{base}/{i}/{field}");
                let first_p = format!("{base}/{first}/{field}");
                let mut d = Diagnostic::error(
                    "org/duplicate",
                    format!("{what} `{name}` is declared twice"),
                )
                .in_file(&file.name)
                .at(doc.spans.locate(file, &p))
                .pointer(&p)
                .help(format!("{what} names must be unique; remove or rename one"));
                if let Some(s) = doc.spans.locate(file, &first_p) {
                    d = d.label(&file.name, s, "first declared here");
                }
                diags.push(d);
            }
        }
    };
    dup(
        "environment",
        org.spec
            .environments
            .iter()
            .map(|e| e.name.as_str())
            .collect(),
        "/spec/environments",
        "name",
    );
    dup(
        "team",
        org.spec.teams.iter().map(|t| t.name.as_str()).collect(),
        "/spec/teams",
        "name",
    );
    let ok = !has_errors(&diags);
    (
        Some(Checked {
            file: file.clone(),
            doc,
            model: org,
            ok,
        }),
        diags,
    )
}

/// Loads and validates one platform.yaml against the organisation and the blueprints.
pub fn check_intent(
    file: &SourceFile,
    org: &Org,
    caps: &Capabilities,
) -> (Option<Checked<Intent>>, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    let Some((doc, intent, _)) = check_document::<Intent>(file, SchemaKind::Platform, &mut diags)
    else {
        return (None, diags);
    };
    diags.extend(semantic::check_intent(file, &doc, &intent, org, caps));
    let ok = !has_errors(&diags);
    (
        Some(Checked {
            file: file.clone(),
            doc,
            model: intent,
            ok,
        }),
        diags,
    )
}

/// Checks across all intents of a run: service names are unique in the organisation.
pub fn check_across(intents: &[Checked<Intent>]) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    let mut by_name: BTreeMap<&str, &Checked<Intent>> = BTreeMap::new();
    for c in intents {
        let name = c.model.metadata.name.as_str();
        if name.is_empty() {
            continue;
        }
        if let Some(first) = by_name.get(name) {
            let p = "/metadata/name";
            let mut d = Diagnostic::error(
                "semantic/duplicate-service",
                format!(
                    "service name `{name}` is already used by {}",
                    first.file.name
                ),
            )
            .in_file(&c.file.name)
            .at(c.doc.spans.locate(&c.file, p))
            .pointer(p)
            .help("service names are unique across the organisation: rename one of them");
            if let Some(s) = first.doc.spans.locate(&first.file, p) {
                d = d.label(&first.file.name, s, "first used here");
            }
            diags.push(d);
        } else {
            by_name.insert(name, c);
        }
    }
    diags
}

/// Pointer of an environment's override block, for locating resolve-time problems.
pub fn env_pointer(env: &str) -> String {
    join_pointer("/spec/environments", env)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pruning_keeps_indices_valid() {
        let mut v = serde_json::json!({"a": [0, 1, 2, 3], "b": {"c": 1, "d": 2}});
        prune_paths(&mut v, vec!["/a/1".into(), "/a/3".into(), "/b/c".into()]);
        assert_eq!(v, serde_json::json!({"a": [0, 2], "b": {"d": 2}}));
    }
}
