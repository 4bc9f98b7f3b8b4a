//! Stage 3, validate: JSON Schema (embedded `schemas/`) plus semantic checks, for platform.yaml
//! and for the organisation config. Reports every problem of every file; never stops at the first.

pub mod contract;
pub mod dependencies;
pub mod fixes;
pub mod params;
pub mod schema;
pub mod semantic;
pub mod trust;

use crate::diag::{Diagnostic, has_errors, join_pointer};
use crate::load::{self, Document};
use crate::model::{Intent, Org};
use crate::source::SourceFile;
pub use params::{ResourceType, connection};
use serde_json::Value;
use std::collections::BTreeMap;

/// What the loaded blueprints can build: checked against `kind`, `blueprint` and resource types.
#[derive(Debug, Clone)]
pub struct Capabilities {
    /// (kind, blueprint name) for workload blueprints.
    pub workloads: Vec<(String, String)>,
    /// Resource types that have a blueprint, sorted by name.
    pub resource_types: Vec<ResourceType>,
    /// The platform schema composed with those types, compiled once per run.
    pub schema: std::sync::Arc<schema::PlatformSchema>,
}

impl Capabilities {
    pub fn resource_type(&self, name: &str) -> Option<&ResourceType> {
        self.resource_types.iter().find(|t| t.name == name)
    }
    pub fn resource_type_names(&self) -> Vec<&str> {
        self.resource_types
            .iter()
            .map(|t| t.name.as_str())
            .collect()
    }
}

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
    schema: impl Fn(&SourceFile, &Document) -> (Vec<Diagnostic>, Vec<String>),
    is_intent: bool,
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
            .expected("a mapping with `apiVersion`, `kind`, `metadata` and `spec`")
            .help("write the top-level keys as `key: value` lines starting in column 1, without a leading `- `"),
        );
        return None;
    }
    let mut doc = doc;
    if is_intent {
        env_as_written(file, &mut doc);
    }
    let (mut found, mut prune) = schema(file, &doc);
    let (mut unsafe_text, pointers) = control_characters(file, &doc);
    prune.extend(pointers);
    found.append(&mut unsafe_text);
    let schema_ok = found.is_empty();
    diags.append(&mut found);
    let mut lenient = doc.value.clone();
    prune_paths(&mut lenient, prune);
    let model = match serde_json::from_value::<T>(lenient.clone()) {
        Ok(model) => model,
        Err(_) => {
            // The schema allowed a value the model cannot hold (a number too large for it,
            // `8080.0` for an integer): report each such value, and build the model without it.
            let mut found = unreadable_values::<T>(file, &doc, &mut lenient);
            let ok = found.is_empty();
            diags.append(&mut found);
            return Some((
                doc,
                serde_json::from_value::<T>(lenient).unwrap_or_default(),
                schema_ok && ok,
            ));
        }
    };
    Some((doc, model, schema_ok))
}

/// Environment variables are text: an unquoted number in `env` (`1.10`, `0755`, `1e3`) is kept
/// exactly as written in the file, not as the number YAML reads (`1.1`, `755`, `1000.0`).
fn env_as_written(file: &SourceFile, doc: &mut Document) {
    let mut maps: Vec<String> = vec!["/spec/env".to_string()];
    if let Some(envs) = doc
        .value
        .pointer("/spec/environments")
        .and_then(Value::as_object)
    {
        maps.extend(
            envs.keys()
                .map(|e| format!("{}/env", join_pointer("/spec/environments", e))),
        );
    }
    for map in maps {
        let keys: Vec<String> = match doc.value.pointer(&map).and_then(Value::as_object) {
            Some(m) => m
                .iter()
                .filter(|(_, v)| v.is_number())
                .map(|(k, _)| k.clone())
                .collect(),
            None => continue,
        };
        for k in keys {
            let pointer = join_pointer(&map, &k);
            let Some(at) = doc.spans.get(&pointer).map(|n| n.value) else {
                continue;
            };
            let span = file.span(at.line, at.col, at.len);
            let text = file
                .text
                .get(span.start..span.end)
                .unwrap_or_default()
                .trim();
            if !text.is_empty() {
                if let Some(v) = doc.value.pointer_mut(&pointer) {
                    *v = Value::String(text.to_string());
                }
            }
        }
    }
}

/// Characters no output format can carry safely: control characters other than tab and line
/// breaks (DEL, C1, backspace, form feed, escape...), Unicode non-characters (U+FFFE) and
/// bidirectional overrides, which make a review show something other than what is deployed.
fn unencodable(c: char) -> bool {
    crate::diag::needs_escape(c) && !matches!(c, '\t' | '\n' | '\r')
}

/// Every key or string value holding a character no blueprint can encode safely, reported at
/// its line (not later as "the blueprint produced invalid YAML"); the pointers to prune.
fn control_characters(file: &SourceFile, doc: &Document) -> (Vec<Diagnostic>, Vec<String>) {
    fn walk(v: &Value, pointer: &str, out: &mut Vec<(String, char, bool)>) {
        match v {
            Value::String(s) => {
                if let Some(c) = s.chars().find(|c| unencodable(*c)) {
                    out.push((pointer.to_string(), c, false));
                }
            }
            Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    walk(x, &format!("{pointer}/{i}"), out);
                }
            }
            Value::Object(m) => {
                for (k, x) in m {
                    let p = join_pointer(pointer, k);
                    if let Some(c) = k.chars().find(|c| unencodable(*c)) {
                        out.push((p.clone(), c, true));
                    }
                    walk(x, &p, out);
                }
            }
            _ => {}
        }
    }
    let mut found = Vec::new();
    walk(&doc.value, "", &mut found);
    let mut diags = Vec::new();
    let mut prune = Vec::new();
    for (pointer, c, is_key) in found {
        let span = if is_key {
            doc.spans.locate_key(file, &pointer)
        } else {
            doc.spans.locate(file, &pointer)
        };
        diags.push(
            Diagnostic::error(
                "input/control-character",
                format!(
                    "the {} holds U+{:04X}, a character no generated file can carry safely",
                    if is_key { "key" } else { "value" },
                    c as u32
                ),
            )
            .in_file(&file.name)
            .at(span)
            .pointer(&pointer)
            .found(format!("`{}`", crate::diag::escape_control(&c.to_string())))
            .expected("printable text (tabs and line breaks are fine)")
            .help("remove the character; binary or secret data belongs in a secret (`spec.secrets`), not in platform.yaml"),
        );
        prune.push(pointer);
    }
    (diags, prune)
}

/// Finds the values that make `value` fail to deserialize as `T` although the schema accepted
/// them (a number too large for the model, `8080.0` for an integer). Descends from the root into
/// a child that fails on its own (every model field has a default, so a document holding only
/// the path to one value is otherwise readable). Each is reported and removed from `value`.
fn unreadable_values<T: serde::de::DeserializeOwned>(
    file: &SourceFile,
    doc: &Document,
    value: &mut Value,
) -> Vec<Diagnostic> {
    let fails = |v: &Value, p: &str| serde_json::from_value::<T>(only_path(v, p)).err();
    let mut diags = Vec::new();
    // Bounded: each round removes one value.
    for _ in 0..64 {
        if fails(value, "").is_none() {
            break;
        }
        let mut pointer = String::new();
        loop {
            let children: Vec<String> = match value.pointer(&pointer) {
                Some(Value::Object(m)) => m.keys().map(|k| join_pointer(&pointer, k)).collect(),
                Some(Value::Array(a)) => (0..a.len()).map(|i| format!("{pointer}/{i}")).collect(),
                _ => break,
            };
            match children.into_iter().find(|c| fails(value, c).is_some()) {
                Some(c) => pointer = c,
                None => break,
            }
        }
        let err = fails(value, &pointer)
            .map(|e| e.to_string())
            .unwrap_or_default();
        let found = value.pointer(&pointer).cloned().unwrap_or(Value::Null);
        let field = pointer.rsplit('/').next().unwrap_or_default().to_string();
        let whole = found
            .as_f64()
            .filter(|f| f.fract() == 0.0 && !found.is_i64() && !found.is_u64());
        let limit = ["u8", "u16", "u32", "u64", "i32", "i64"]
            .iter()
            .find(|t| err.ends_with(&format!("expected {t}")))
            .map(|t| match *t {
                "u8" => u64::from(u8::MAX),
                "u16" => u64::from(u16::MAX),
                "u32" => u64::from(u32::MAX),
                "u64" => u64::MAX,
                "i32" => i32::MAX as u64,
                _ => i64::MAX as u64,
            });
        let d = Diagnostic::error(
            "schema/unsupported-value",
            match (whole, limit) {
                (Some(_), _) => {
                    format!("`{field}` must be a whole number written without a decimal point")
                }
                (None, Some(max)) if found.is_number() => {
                    format!("`{field}` is out of the range pctl supports (0 to {max})")
                }
                _ => format!("`{field}` cannot be used as written: {err}"),
            },
        )
        .in_file(&file.name)
        .at(doc.spans.locate(file, &pointer))
        .pointer(&pointer)
        .found(schema::describe(&found))
        .help(match (whole, limit) {
            (Some(f), _) => format!("write `{field}: {}`", f as i64),
            (None, Some(_)) if found.is_number() => "use a smaller number".to_string(),
            _ => format!("check the type of `{field}` against `pctl schema`"),
        });
        diags.push(d);
        if pointer.is_empty() {
            break;
        }
        prune_paths(value, vec![pointer]);
    }
    diags
}

/// A copy of `value` holding only the path from the root to `pointer` and the subtree there.
fn only_path(value: &Value, pointer: &str) -> Value {
    let Some((parent, last)) = pointer.rsplit_once('/') else {
        return value.clone();
    };
    let child = value.pointer(pointer).cloned().unwrap_or(Value::Null);
    let mut out = only_path_shell(value, parent);
    if let Some(slot) = out.pointer_mut(parent) {
        match slot {
            Value::Object(m) => {
                m.insert(last.replace("~1", "/").replace("~0", "~"), child);
            }
            Value::Array(a) => a.push(child),
            _ => {}
        }
    }
    out
}

/// `only_path` for a container: the path to it, with the container itself emptied.
fn only_path_shell(value: &Value, pointer: &str) -> Value {
    let empty = |v: Option<&Value>| match v {
        Some(Value::Array(_)) => Value::Array(Vec::new()),
        _ => Value::Object(serde_json::Map::new()),
    };
    if pointer.is_empty() {
        return empty(Some(value));
    }
    let mut out = only_path(value, pointer);
    if let Some(slot) = out.pointer_mut(pointer) {
        *slot = empty(value.pointer(pointer));
    }
    out
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
    let Some((doc, org, _)) = check_document::<Org>(file, schema::validate_org, false, &mut diags)
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
    diags.extend(crate::aws::check_org(file, &doc, &org));
    diags.extend(crate::teams::check_org(file, &doc, &org));
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
    let Some((doc, intent, _)) =
        check_document::<Intent>(file, |f, d| caps.schema.validate(f, d), true, &mut diags)
    else {
        return (None, diags);
    };
    diags.extend(semantic::check_intent(file, &doc, &intent, org, caps));
    diags.extend(trust::check_intent(file, &doc, &intent, org));
    diags.extend(crate::teams::check_intent(file, &doc, &intent, org));
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
pub fn check_across(intents: &[&Checked<Intent>]) -> Vec<Diagnostic> {
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
