//! JSON Schema validation (schemas/*.json, embedded), with every error turned into a located
//! diagnostic that says what was found, what was expected and how to fix it.

use crate::diag::{Diagnostic, did_you_mean, join_pointer, one_of};
use crate::load::Document;
use crate::source::SourceFile;
use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::{Registry, Validator};
use serde_json::Value;
use std::sync::OnceLock;

include!(concat!(env!("OUT_DIR"), "/embedded.rs"));

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaKind {
    Platform,
    Organisation,
}

impl SchemaKind {
    pub fn file_name(self) -> &'static str {
        match self {
            SchemaKind::Platform => "platform.schema.json",
            SchemaKind::Organisation => "organisation.schema.json",
        }
    }
}

/// Compiled validators, built once per process from the embedded schema files.
pub struct Schemas {
    platform: (Value, Validator),
    organisation: (Value, Validator),
}

/// The embedded schema files: (file name, JSON text).
pub fn files() -> &'static [(&'static str, &'static str)] {
    SCHEMAS
}

pub fn text(kind: SchemaKind) -> &'static str {
    SCHEMAS
        .iter()
        .find(|(n, _)| *n == kind.file_name())
        .map(|(_, t)| *t)
        .expect("schema embedded at build time")
}

/// The example organisation config built into the binary.
pub fn default_org() -> &'static str {
    DEFAULT_ORG
}

/// Blueprint files built into the binary: (path relative to blueprints/, text).
pub fn embedded_blueprints() -> &'static [(&'static str, &'static str)] {
    BLUEPRINTS
}

impl Schemas {
    pub fn get() -> &'static Schemas {
        static CELL: OnceLock<Schemas> = OnceLock::new();
        CELL.get_or_init(|| {
            Schemas::build().expect("embedded schemas are valid (checked by tests)")
        })
    }

    fn build() -> anyhow::Result<Schemas> {
        // Every schema file goes into one registry, so schemas may `$ref` each other by `$id`;
        // nothing is ever fetched (`offline`).
        let docs: Vec<(String, Value)> = SCHEMAS
            .iter()
            .map(|(name, text)| {
                let v: Value = serde_json::from_str(text)
                    .map_err(|e| anyhow::anyhow!("schemas/{name}: {e}"))?;
                let id = v["$id"].as_str().unwrap_or(name).to_string();
                Ok((id, v))
            })
            .collect::<anyhow::Result<_>>()?;
        let docs: &'static [(String, Value)] = Box::leak(docs.into_boxed_slice());
        let mut builder = Registry::new();
        for (id, v) in docs {
            builder = builder.add(id.as_str(), v)?;
        }
        let registry: &'static Registry = Box::leak(Box::new(builder.prepare()?));
        let compile = |kind: SchemaKind| -> anyhow::Result<(Value, Validator)> {
            let root: Value = serde_json::from_str(text(kind))?;
            let v = jsonschema::draft202012::options()
                .with_registry(registry)
                .should_validate_formats(true)
                .build(&root)
                .map_err(|e| anyhow::anyhow!("schemas/{}: {e}", kind.file_name()))?;
            Ok((root, v))
        };
        Ok(Schemas {
            platform: compile(SchemaKind::Platform)?,
            organisation: compile(SchemaKind::Organisation)?,
        })
    }

    /// Validates a document; returns the diagnostics and the pointers of the values the schema
    /// rejected (so they can be pruned before the lenient model is built).
    pub fn validate(
        &self,
        kind: SchemaKind,
        file: &SourceFile,
        doc: &Document,
    ) -> (Vec<Diagnostic>, Vec<String>) {
        let (root, validator) = match kind {
            SchemaKind::Platform => &self.platform,
            SchemaKind::Organisation => &self.organisation,
        };
        let mut diags = Vec::new();
        let mut prune = Vec::new();
        for err in validator.iter_errors(&doc.value) {
            let pointer = err.instance_path().as_str().to_string();
            let schema_path = err.schema_path().as_str().to_string();
            let keyword_parent = |kw: &str| {
                let p = schema_path.strip_suffix(kw).unwrap_or(&schema_path);
                root.pointer(p)
            };
            let here = doc.spans.locate(file, &pointer);
            let field = field_name(&pointer);
            let instance = doc.value.pointer(&pointer).unwrap_or(&Value::Null);
            let mk = |code: &'static str, msg: String| {
                Diagnostic::error(code, msg)
                    .in_file(&file.name)
                    .at(here)
                    .pointer(&pointer)
            };
            match err.kind() {
                ValidationErrorKind::AdditionalProperties { unexpected } => {
                    let known: Vec<String> = keyword_parent("/additionalProperties")
                        .and_then(|s| s.get("properties"))
                        .and_then(Value::as_object)
                        .map(|m| m.keys().cloned().collect())
                        .unwrap_or_default();
                    for key in unexpected {
                        let p = join_pointer(&pointer, key);
                        let mut d = Diagnostic::error(
                            "schema/unknown-field",
                            format!("unknown field `{key}` in {}", describe_parent(&pointer)),
                        )
                        .in_file(&file.name)
                        .at(doc.spans.locate_key(file, &p))
                        .pointer(&p)
                        .found(format!("`{key}`"))
                        .expected(one_of(&known));
                        d = match did_you_mean(key, known.iter().map(String::as_str)) {
                            Some(s) => d.help(format!("did you mean `{s}`?")),
                            None => d.help(format!("remove `{key}`, or check its indentation")),
                        };
                        diags.push(d);
                        prune.push(p);
                    }
                }
                ValidationErrorKind::Required { property } => {
                    let prop = property.as_str().unwrap_or_default();
                    let desc = keyword_parent("/required")
                        .and_then(|s| s.pointer(&join_pointer("/properties", prop)))
                        .and_then(|s| s.get("description"))
                        .and_then(Value::as_str)
                        .map(first_sentence);
                    let at = if pointer.is_empty() {
                        Some(file.span(1, 0, 0))
                    } else {
                        doc.spans.locate_key(file, &pointer)
                    };
                    let mut d = Diagnostic::error(
                        "schema/missing-field",
                        format!(
                            "missing required field `{prop}` in {}",
                            describe_parent(&pointer)
                        ),
                    )
                    .in_file(&file.name)
                    .at(at)
                    .pointer(&join_pointer(&pointer, prop))
                    .help(format!("add `{prop}:` here"));
                    if let Some(desc) = desc {
                        d = d.note(format!("`{prop}`: {desc}"));
                    }
                    diags.push(d);
                }
                ValidationErrorKind::Type { kind } => {
                    let expected = match kind {
                        TypeKind::Single(t) => article(&t.to_string()),
                        TypeKind::Multiple(ts) => ts
                            .iter()
                            .map(|t| article(&t.to_string()))
                            .collect::<Vec<_>>()
                            .join(" or "),
                    };
                    let mut d = mk("schema/type", format!("`{field}` has the wrong type"))
                        .found(describe(instance))
                        .expected(expected.clone());
                    if expected.contains("string")
                        && (instance.is_number() || instance.is_boolean())
                    {
                        d = d.help(format!("quote it: `{field}: \"{instance}\"`"));
                    } else if expected.contains("integer") && instance.is_string() {
                        d = d.help(format!(
                            "write the number without quotes: `{field}: {}`",
                            instance.as_str().unwrap_or_default()
                        ));
                    } else if expected.contains("array") {
                        d = d.help(format!("write a list, e.g. `{field}: [a, b]`"));
                    } else if expected.contains("object") {
                        d = d.help(format!(
                            "write a mapping under `{field}:`, indented below it"
                        ));
                    }
                    diags.push(d);
                    prune.push(pointer.clone());
                }
                ValidationErrorKind::Enum { options } => {
                    let opts: Vec<String> = options
                        .as_array()
                        .map(|a| a.iter().map(plain).collect())
                        .unwrap_or_default();
                    let found = plain(instance);
                    let mut d = mk("schema/enum", format!("`{field}` has an unsupported value"))
                        .found(format!("`{found}`"))
                        .expected(one_of(&opts));
                    if let Some(s) = did_you_mean(&found, opts.iter().map(String::as_str)) {
                        d = d.help(format!("did you mean `{s}`?"));
                    }
                    diags.push(d);
                    prune.push(pointer.clone());
                }
                ValidationErrorKind::Constant { expected_value } => {
                    diags.push(
                        mk(
                            "schema/const",
                            format!("`{field}` must be `{}`", plain(expected_value)),
                        )
                        .found(format!("`{}`", plain(instance)))
                        .expected(format!("`{}`", plain(expected_value)))
                        .help(format!("write `{field}: {}`", plain(expected_value))),
                    );
                    prune.push(pointer.clone());
                }
                ValidationErrorKind::Pattern { pattern } => {
                    let desc = keyword_parent("/pattern")
                        .and_then(|s| s.get("description"))
                        .and_then(Value::as_str)
                        .map(first_sentence);
                    let mut d = mk(
                        "schema/pattern",
                        format!("`{field}` is not in the expected format"),
                    )
                    .found(format!("`{}`", plain(instance)))
                    .expected(format!("a value matching `{pattern}`"));
                    if let Some(desc) = desc {
                        d = d.help(desc);
                    }
                    diags.push(d);
                    prune.push(pointer.clone());
                }
                ValidationErrorKind::Format { format } => {
                    diags.push(
                        mk(
                            "schema/format",
                            format!("`{field}` is not a valid {format}"),
                        )
                        .found(format!("`{}`", plain(instance)))
                        .expected(format!("a {format}")),
                    );
                    prune.push(pointer.clone());
                }
                other => {
                    let (code, help) = match other {
                        ValidationErrorKind::Minimum { .. }
                        | ValidationErrorKind::Maximum { .. }
                        | ValidationErrorKind::ExclusiveMinimum { .. }
                        | ValidationErrorKind::ExclusiveMaximum { .. } => ("schema/range", None),
                        ValidationErrorKind::MinItems { .. }
                        | ValidationErrorKind::MaxItems { .. }
                        | ValidationErrorKind::MinProperties { .. }
                        | ValidationErrorKind::MaxProperties { .. } => ("schema/size", None),
                        ValidationErrorKind::MinLength { .. }
                        | ValidationErrorKind::MaxLength { .. } => ("schema/length", None),
                        ValidationErrorKind::UniqueItems => (
                            "schema/unique",
                            Some("remove the repeated entries".to_string()),
                        ),
                        _ => ("schema/invalid", None),
                    };
                    let mut d = mk(code, format!("`{field}` is invalid: {}", err.masked()))
                        .found(describe(instance));
                    if let Some(h) = help {
                        d = d.help(h);
                    }
                    diags.push(d);
                    prune.push(pointer.clone());
                }
            }
        }
        (diags, prune)
    }
}

fn field_name(pointer: &str) -> String {
    let last = pointer.rsplit('/').next().unwrap_or("");
    if last.is_empty() {
        "document".to_string()
    } else {
        last.replace("~1", "/").replace("~0", "~")
    }
}

fn describe_parent(pointer: &str) -> String {
    if pointer.is_empty() {
        "the top level".to_string()
    } else {
        format!("`{}`", crate::diag::pointer_to_path(pointer))
    }
}

fn article(t: &str) -> String {
    match t {
        "object" => "a mapping".to_string(),
        "array" => "a list".to_string(),
        "integer" => "an integer".to_string(),
        "null" => "null".to_string(),
        other => format!("a {other}"),
    }
}

/// Describes a value for "found": `string "three"`, `a list`, ...
pub fn describe(v: &Value) -> String {
    match v {
        Value::Null => "nothing (null)".to_string(),
        Value::Bool(b) => format!("boolean `{b}`"),
        Value::Number(n) if n.is_i64() || n.is_u64() => format!("integer `{n}`"),
        Value::Number(n) => format!("number `{n}`"),
        Value::String(s) => format!("string {}", serde_json::to_string(s).unwrap_or_default()),
        Value::Array(_) => "a list".to_string(),
        Value::Object(_) => "a mapping".to_string(),
    }
}

fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn first_sentence(s: &str) -> String {
    let end = s.find(". ").map_or(s.len(), |i| i + 1);
    s[..end].trim().to_string()
}
