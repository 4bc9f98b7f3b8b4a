//! JSON Schema validation (schemas/*.json, embedded), with every error turned into a located
//! diagnostic that says what was found, what was expected and how to fix it.

use super::params::{self, ResourceType};
use crate::diag::{Diagnostic, join_pointer, one_of};
use crate::load::Document;
use crate::source::SourceFile;
use jsonschema::Validator;
use jsonschema::error::{TypeKind, ValidationErrorKind};
use serde_json::{Value, json};
use std::collections::BTreeMap;
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

/// The platform schema of a run: the embedded base composed with the run's resource types
/// ([`super::params::compose`]), compiled once; plus one validator per resource type for the
/// environments' overrides of such resources.
pub struct PlatformSchema {
    root: Value,
    validator: Validator,
    overrides: BTreeMap<String, Validator>,
    /// The resource types it was composed with, sorted by name.
    types: Vec<ResourceType>,
}

impl std::fmt::Debug for PlatformSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlatformSchema")
            .field("resource_types", &self.overrides.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// The embedded files: (file name, JSON text).
pub fn files() -> &'static [(&'static str, &'static str)] {
    SCHEMAS
}

/// The embedded text of a schema file. For the platform schema this is the composition with the
/// built-in blueprints (tests keep it so); a run's is [`PlatformSchema::to_json`].
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

fn compile(root: &Value) -> Result<Validator, String> {
    jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(root)
        .map_err(|e| format!("{e} (at `{}`)", e.instance_path().as_str()))
}

fn parse_embedded(kind: SchemaKind) -> Value {
    serde_json::from_str(text(kind)).expect("embedded schemas are JSON (checked by tests)")
}

impl PlatformSchema {
    /// [`Self::compile`] for a run's blueprints: an error is a diagnostic about them.
    pub fn for_types(
        mut types: Vec<ResourceType>,
    ) -> Result<std::sync::Arc<PlatformSchema>, Diagnostic> {
        types.sort_by(|a, b| a.name.cmp(&b.name));
        PlatformSchema::compile(&types).map(std::sync::Arc::new).map_err(|e| {
            Diagnostic::error("blueprint/parameters", format!("the resource blueprints' parameters do not make a valid schema: {e}"))
                .help("check the `parameters` of the resource blueprints (`pctl schema --blueprints DIR` shows the composed schema)")
        })
    }

    /// The resource types it was composed with, sorted by name.
    pub fn resource_types(&self) -> &[ResourceType] {
        &self.types
    }

    /// Composes and compiles the platform schema for these resource types.
    pub fn compile(types: &[ResourceType]) -> Result<PlatformSchema, String> {
        static BASE: OnceLock<Value> = OnceLock::new();
        let base = BASE.get_or_init(|| parse_embedded(SchemaKind::Platform));
        let root = params::compose(base, types);
        let validator = compile(&root)?;
        let mut overrides = BTreeMap::new();
        for t in types {
            // The definition at the same place as in `root`, so schema paths in errors point
            // into `root` too (parameters are self-contained: nothing else is referenced).
            let def = format!("{}{}", params::OVERRIDE_DEF, t.name);
            let doc = json!({
                "$defs": {&def: root["$defs"][&def]},
                "$ref": format!("#/$defs/{def}"),
            });
            overrides.insert(t.name.clone(), compile(&doc)?);
        }
        Ok(PlatformSchema {
            root,
            validator,
            overrides,
            types: types.to_vec(),
        })
    }

    /// The schema as `pctl schema` prints it (and `schemas/platform.schema.json` holds it).
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(&self.root).unwrap_or_default();
        s.push('\n');
        s
    }

    /// Validates a platform.yaml; returns the diagnostics and the pointers of the values the
    /// schema rejected (so they can be pruned before the lenient model is built).
    pub fn validate(&self, file: &SourceFile, doc: &Document) -> (Vec<Diagnostic>, Vec<String>) {
        let mut out = Found::default();
        // An environment's override of a resource whose base names its type is checked against
        // that type (below), not against every type's parameters; of an unknown type (reported
        // by the semantic checks), its parameters are not checked at all.
        let typed: Vec<(String, Option<&Validator>)> = overrides_of(&doc.value)
            .map(|(pointer, rtype)| (pointer, self.overrides.get(rtype)))
            .collect();
        for err in self.validator.iter_errors(&doc.value) {
            let generic_override =
                err.schema_path().as_str() == "/$defs/resourceOverride/additionalProperties";
            if generic_override && typed.iter().any(|(p, _)| p == err.instance_path().as_str()) {
                continue;
            }
            report(&self.root, &err, "", file, doc, &mut out);
        }
        for (pointer, validator) in &typed {
            let (Some(validator), Some(v)) = (validator, doc.value.pointer(pointer)) else {
                continue;
            };
            for err in validator.iter_errors(v) {
                report(&self.root, &err, pointer, file, doc, &mut out);
            }
        }
        (out.diags, out.prune)
    }
}

/// `(pointer, base resource type)` of every environment's resource override.
fn overrides_of(doc: &Value) -> impl Iterator<Item = (String, &str)> {
    let envs = doc.pointer("/spec/environments").and_then(Value::as_object);
    envs.into_iter().flatten().flat_map(move |(env, o)| {
        let over = o.get("resources").and_then(Value::as_object);
        over.into_iter().flatten().filter_map(move |(name, _)| {
            let rtype = doc
                .pointer("/spec/resources")?
                .get(name)?
                .get("type")?
                .as_str()?;
            let p = join_pointer(
                &join_pointer(&join_pointer("/spec/environments", env), "resources"),
                name,
            );
            Some((p, rtype))
        })
    })
}

/// Validates the organisation config (its schema does not depend on the blueprints).
pub fn validate_org(file: &SourceFile, doc: &Document) -> (Vec<Diagnostic>, Vec<String>) {
    static ORG: OnceLock<(Value, Validator)> = OnceLock::new();
    let (root, validator) = ORG.get_or_init(|| {
        let root = parse_embedded(SchemaKind::Organisation);
        let v = compile(&root).expect("embedded schemas are valid (checked by tests)");
        (root, v)
    });
    let mut out = Found::default();
    for err in validator.iter_errors(&doc.value) {
        report(root, &err, "", file, doc, &mut out);
    }
    (out.diags, out.prune)
}

#[derive(Default)]
struct Found {
    diags: Vec<Diagnostic>,
    prune: Vec<String>,
}

/// Turns one validation error into a located diagnostic (and the value to prune). `base`: the
/// pointer of the value that was validated (errors' instance paths are relative to it).
fn report(
    root: &Value,
    err: &jsonschema::ValidationError<'_>,
    base: &str,
    file: &SourceFile,
    doc: &Document,
    out: &mut Found,
) {
    let (diags, prune) = (&mut out.diags, &mut out.prune);
    let pointer = format!("{base}{}", err.instance_path().as_str());
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
            let parent_path = schema_path
                .strip_suffix("/additionalProperties")
                .unwrap_or(&schema_path);
            for key in unexpected {
                let p = join_pointer(&pointer, key);
                // A parameter of other resource types: say so, rather than "unknown".
                if let Some((this, msg)) = params::field_of_other_types(root, parent_path, key) {
                    diags.push(
                        Diagnostic::error("schema/resource-field", msg)
                            .in_file(&file.name)
                            .at(doc.spans.locate_key(file, &p))
                            .pointer(&p)
                            .found(format!("`{key}`"))
                            .expected(format!("a field of `{this}` resources: {}", one_of(&known)))
                            .help(format!("remove `{key}`")),
                    );
                    prune.push(p);
                    continue;
                }
                let mut d = Diagnostic::error(
                    "schema/unknown-field",
                    format!("unknown field `{key}` in {}", describe_parent(&pointer)),
                )
                .in_file(&file.name)
                .at(doc.spans.locate_key(file, &p))
                .pointer(&p)
                .found(format!("`{key}`"))
                .expected(one_of(&known));
                d = d.suggest(
                    key,
                    known.iter().map(String::as_str),
                    format!("remove `{key}`, or check its indentation"),
                );
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
            let d = mk("schema/type", format!("`{field}` has the wrong type"))
                .found(describe(instance))
                .help(type_help(&field, &expected, instance))
                .expected(expected);
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
            d = d.suggest(
                &found,
                opts.iter().map(String::as_str),
                format!("use {}", one_of(&opts)),
            );
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
            let title = keyword_parent("/pattern")
                .and_then(|s| s.get("title"))
                .and_then(Value::as_str);
            let d = match super::fixes::pattern(&pointer, title, pattern, &plain(instance)) {
                // In the user's words: what is wrong with this value, what to write.
                Some(f) => mk("schema/pattern", f.message)
                    .found(format!("`{}`", plain(instance)))
                    .expected(f.expected)
                    .help(f.help),
                None => mk(
                    "schema/pattern",
                    format!("`{field}` is not in the expected format"),
                )
                .found(format!("`{}`", plain(instance)))
                .expected(format!("a value matching `{pattern}`"))
                .help(
                    pattern_help(root, keyword_parent("/pattern"), pattern).unwrap_or_else(|| {
                        format!("change the value so that it matches `{pattern}`")
                    }),
                ),
            };
            diags.push(d);
            prune.push(pointer.clone());
        }
        ValidationErrorKind::PropertyNames { error } => {
            // A key of a free-form mapping (resource, environment, variable name) is
            // invalid: point at that key, and drop only that entry.
            let key = plain(error.instance());
            let p = join_pointer(&pointer, &key);
            // The schema path may go on into the name schema (`.../propertyNames/pattern`).
            let container = schema_path
                .rfind("/propertyNames")
                .and_then(|i| root.pointer(&schema_path[..i]));
            let name_schema = container.and_then(|s| s.get("propertyNames"));
            let mut d = Diagnostic::error(
                "schema/key",
                format!(
                    "`{key}` is not a valid key in {}",
                    describe_parent(&pointer)
                ),
            )
            .in_file(&file.name)
            .at(doc.spans.locate_key(file, &p))
            .pointer(&p)
            .found(format!("`{key}`"));
            d = match error.kind() {
                ValidationErrorKind::Pattern { pattern } => {
                    match super::fixes::key(&pointer, pattern, &key) {
                        Some(f) => d.expected(f.expected).help(f.help),
                        None => d.expected(format!("a key matching `{pattern}`")).help(
                            pattern_help(root, name_schema, pattern)
                                .or_else(|| container.and_then(description))
                                .unwrap_or_else(|| format!("rename `{key}` to match `{pattern}`")),
                        ),
                    }
                }
                ValidationErrorKind::MaxLength { limit } => d
                    .expected(format!("at most {limit} characters"))
                    .help(format!(
                        "shorten `{key}` to at most {limit} characters (it has {})",
                        key.chars().count()
                    )),
                _ => d.help(format!("rename `{key}`: {}", error.masked())),
            };
            diags.push(d);
            prune.push(p);
        }
        ValidationErrorKind::UniqueItems => {
            // Point at the second occurrence of the first repeated item.
            let items = instance.as_array().map(Vec::as_slice).unwrap_or_default();
            let repeat = items
                .iter()
                .enumerate()
                .find_map(|(j, v)| items[..j].iter().position(|w| w == v).map(|i| (i, j, v)));
            let (at, first, shown) = match repeat {
                Some((i, j, v)) => {
                    let p = format!("{pointer}/{j}");
                    (
                        doc.spans.locate(file, &p),
                        doc.spans.locate(file, &format!("{pointer}/{i}")),
                        plain(v),
                    )
                }
                None => (here, None, String::new()),
            };
            let mut d = Diagnostic::error(
                "schema/unique",
                format!("`{field}` lists `{shown}` more than once"),
            )
            .in_file(&file.name)
            .at(at)
            .pointer(&pointer)
            .help(format!(
                "remove the repeated `{shown}`; each entry may appear once"
            ));
            if let Some(s) = first {
                d = d.label(&file.name, s, "first listed here");
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
                .expected(format!("a {format}"))
                .help(match format.as_str() {
                    "uri" => {
                        "write a full URL including the scheme, e.g. `https://example.com/page`"
                            .to_string()
                    }
                    "hostname" => {
                        "write a host name such as `apps.example.com` (no scheme, no path)"
                            .to_string()
                    }
                    other => format!("write a valid {other}"),
                }),
            );
            prune.push(pointer.clone());
        }
        other => {
            let len = instance.as_str().map_or(0, |s| s.chars().count());
            let (code, help) = match other {
                ValidationErrorKind::Minimum { .. }
                | ValidationErrorKind::Maximum { .. }
                | ValidationErrorKind::ExclusiveMinimum { .. }
                | ValidationErrorKind::ExclusiveMaximum { .. } => {
                    let range = err
                        .schema_path()
                        .as_str()
                        .rsplit_once('/')
                        .and_then(|(p, _)| root.pointer(p))
                        .and_then(range_text);
                    let help = match range {
                        Some(r) => format!("use a value {r}"),
                        None => format!("use a value within the allowed range: {}", err.masked()),
                    };
                    ("schema/range", help)
                }
                ValidationErrorKind::MinItems { limit } => (
                    "schema/size",
                    format!(
                        "list at least {limit} item{} under `{field}`",
                        plural(*limit)
                    ),
                ),
                ValidationErrorKind::MaxItems { limit } => (
                    "schema/size",
                    format!(
                        "list at most {limit} item{} under `{field}`",
                        plural(*limit)
                    ),
                ),
                ValidationErrorKind::MinProperties { limit } => (
                    "schema/size",
                    format!(
                        "add at least {limit} entr{} under `{field}`",
                        if *limit == 1 { "y" } else { "ies" }
                    ),
                ),
                ValidationErrorKind::MaxProperties { limit } => (
                    "schema/size",
                    format!(
                        "keep at most {limit} entr{} under `{field}`",
                        if *limit == 1 { "y" } else { "ies" }
                    ),
                ),
                ValidationErrorKind::MinLength { limit } if *limit == 1 => (
                    "schema/length",
                    format!("`{field}` cannot be empty: write a value"),
                ),
                ValidationErrorKind::MinLength { limit } => (
                    "schema/length",
                    format!("write at least {limit} characters (it has {len})"),
                ),
                ValidationErrorKind::MaxLength { limit } => (
                    "schema/length",
                    format!("shorten it to at most {limit} characters (it has {len})"),
                ),
                _ => (
                    "schema/invalid",
                    format!("change `{field}` so that it conforms: {}", err.masked()),
                ),
            };
            let d = mk(code, format!("`{field}` is invalid: {}", err.masked()))
                .found(describe(instance))
                .help(help);
            diags.push(d);
            prune.push(pointer.clone());
        }
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

pub(crate) fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The first sentence of a description: up to a ". " that is followed by a capital letter and
/// does not end an abbreviation ("e.g. ", "i.e. ").
fn first_sentence(s: &str) -> String {
    let end = s
        .match_indices(". ")
        .map(|(i, _)| i)
        .find(|&i| {
            let before = &s[..i];
            !before.ends_with("e.g")
                && !before.ends_with("i.e")
                && s[i + 2..].starts_with(|c: char| c.is_ascii_uppercase())
        })
        .map_or(s.len(), |i| i + 1);
    s[..end].trim().to_string()
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// How to fix a value of the wrong type.
fn type_help(field: &str, expected: &str, instance: &Value) -> String {
    let text = instance.as_str().unwrap_or_default();
    if expected.contains("string") && (instance.is_number() || instance.is_boolean()) {
        format!("quote it: `{field}: \"{instance}\"`")
    } else if (expected.contains("integer") || expected.contains("number"))
        && !text.trim().is_empty()
        && text.trim().parse::<f64>().is_ok()
    {
        format!(
            "write the number without quotes: `{field}: {}`",
            text.trim()
        )
    } else if expected.contains("integer") {
        format!("write a whole number (digits only, no quotes), e.g. `{field}: 3`")
    } else if expected.contains("number") {
        format!("write a number (no quotes), e.g. `{field}: 99.9`")
    } else if expected.contains("boolean") {
        format!(
            "write `{field}: true` or `{field}: false` (YAML 1.2 reads `yes`/`no`/`on`/`off` as text)"
        )
    } else if expected.contains("list") {
        format!(
            "write a list, e.g. `{field}: [a, b]`, or one `- item` per line indented below `{field}:`"
        )
    } else if expected.contains("mapping") && instance.is_null() {
        format!(
            "write `{field}: {{}}` for an empty mapping, or `key: value` pairs indented below `{field}:`"
        )
    } else if expected.contains("mapping") {
        format!("write `key: value` pairs indented below `{field}:` (not a list or a single value)")
    } else {
        format!("write {expected}")
    }
}

/// Explains a pattern: a named format (a `$defs` entry with a title) describes itself; an inline
/// pattern borrows the description of the named format with the same pattern, if there is one.
fn pattern_help(root: &Value, parent: Option<&Value>, pattern: &str) -> Option<String> {
    let titled = |s: &Value| s.get("title").is_some();
    let desc = description;
    let named = root
        .get("$defs")
        .and_then(Value::as_object)
        .and_then(|defs| {
            defs.values()
                .find(|d| titled(d) && d.get("pattern").and_then(Value::as_str) == Some(pattern))
        });
    parent
        .filter(|p| titled(p))
        .and_then(desc)
        .or_else(|| named.and_then(desc))
        .or_else(|| parent.and_then(desc))
}

/// The first sentence of a schema's description.
fn description(schema: &Value) -> Option<String> {
    schema
        .get("description")
        .and_then(Value::as_str)
        .map(first_sentence)
}

/// "from 1 to 65535", "greater than 0 and at most 100"... from a schema's numeric limits.
fn range_text(schema: &Value) -> Option<String> {
    let n = |k: &str| {
        schema
            .get(k)
            .filter(|v| v.is_number())
            .map(Value::to_string)
    };
    let low = n("minimum")
        .map(|v| (v, false))
        .or_else(|| n("exclusiveMinimum").map(|v| (v, true)));
    let high = n("maximum")
        .map(|v| (v, false))
        .or_else(|| n("exclusiveMaximum").map(|v| (v, true)));
    Some(match (low, high) {
        (Some((a, false)), Some((b, false))) => format!("from {a} to {b}"),
        (Some((a, ax)), Some((b, bx))) => format!(
            "{} {a} and {} {b}",
            if ax { "greater than" } else { "at least" },
            if bx { "less than" } else { "at most" }
        ),
        (Some((a, ax)), None) => format!("{} {a}", if ax { "greater than" } else { "of at least" }),
        (None, Some((b, bx))) => format!("{} {b}", if bx { "less than" } else { "of at most" }),
        (None, None) => return None,
    })
}
