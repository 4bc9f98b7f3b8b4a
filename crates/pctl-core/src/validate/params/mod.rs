//! Resource types: what a resource blueprint's manifest declares about the resources it builds
//! (`resource:` its type, `port`, `sized`, `category`, and `parameters`, a JSON Schema fragment),
//! and the platform schema of a run composed from them. pctl has no per-type code: a platform
//! team adds a type (MySQL, a bucket...) with a blueprint folder, no Rust.
//!
//! The composed schema (`pctl schema`) gives `$defs/resource` one `if type == T then
//! $defs/resource-T` branch per type; `resource-T` is closed (`additionalProperties: false`) over
//! the generic fields and T's parameters, so the usual schema diagnostics (unknown field with
//! "did you mean", enum, pattern, type, required) apply to parameters, located in platform.yaml.
//! An environment's override cannot name its type (it is the base resource's), so it is checked
//! against `resourceOverride-T` by the platform schema (`schema.rs`).

pub mod connection;
use crate::diag::{Diagnostic, Span};
use crate::load::Document;
use crate::source::SourceFile;
use indexmap::IndexMap;
use serde_json::{Map, Value, json};

/// Fields every resource has in platform.yaml, whatever its type.
pub const GENERIC_FIELDS: &[&str] = &["type", "size"];
/// Names the template context gives every resource: parameters cannot take them.
pub const RESERVED: &[&str] = &[
    "type",
    "size",
    "name",
    "class",
    "usd_month",
    "identifier",
    "secret_key",
    "secret_name",
    "port",
    "category",
    "placement",
    "image",
    "compute",
    "env",
    "host",
    "companion",
    "connection",
];
/// The port of a resource type whose manifest declares none: an HTTPS API (SQS, S3, ...).
pub const DEFAULT_PORT: u16 = 443;
/// `$defs` prefixes of the composed schema's per-type definitions.
pub const RESOURCE_DEF: &str = "resource-";
pub const OVERRIDE_DEF: &str = "resourceOverride-";

/// One resource type, from its blueprint's manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceType {
    /// The type name: `resource:` of the manifest, `type:` in platform.yaml.
    pub name: String,
    /// The blueprint (folder) that declares it.
    pub blueprint: String,
    pub description: String,
    /// The port workloads connect to (their egress NetworkPolicy allows it).
    pub port: u16,
    /// Whether resources take a `size` from the organisation's `sizes.<type>` table.
    pub sized: bool,
    /// What kind of thing it is (`database`, `cache`, `queue`, ...): `pctl new service`
    /// offers it for `--database` / `--cache` / `--queue`.
    pub category: Option<String>,
    /// Parameter name -> JSON Schema, in the manifest's order.
    pub parameters: Map<String, Value>,
    /// Parameters platform.yaml must give.
    pub required: Vec<String>,
    /// Connection property -> description: what `env` templates of a resource may name
    /// (`{host}`); empty: the type takes no `env` (see connection.rs).
    pub connection: Map<String, Value>,
    /// Whether (and how) it can run in the service's namespace (`placement: in-cluster`).
    pub in_cluster: Option<connection::InCluster>,
}

/// The resource fields of a manifest as written (see blueprints/README.md).
#[derive(Debug, Default)]
pub struct ManifestFields<'a> {
    pub port: Option<u16>,
    pub sized: Option<bool>,
    pub category: Option<&'a str>,
    pub parameters: Option<&'a Value>,
    pub connection: Option<&'a Value>,
    pub in_cluster: Option<&'a Value>,
}

impl ManifestFields<'_> {
    /// The resource type of a manifest that serves resource type `serves`; for other blueprints,
    /// none (and these fields are errors). Problems go to `diags`, located in the manifest.
    pub fn read(
        &self,
        serves: Option<&str>,
        blueprint: &str,
        description: &str,
        file: &SourceFile,
        doc: &Document,
        diags: &mut Vec<Diagnostic>,
    ) -> Option<ResourceType> {
        let Some(name) = serves else {
            for f in self.present() {
                diags.push(
                    Diagnostic::error(
                        "blueprint/manifest",
                        format!("`{f}` is only for resource blueprints (with `resource:`)"),
                    )
                    .in_file(&file.name)
                    .at(doc.spans.locate_key(file, &format!("/{f}"))),
                );
            }
            return None;
        };
        ResourceType::from_manifest(blueprint, name, description, self, file, doc)
            .map_err(|mut d| diags.append(&mut d))
            .ok()
    }

    /// The names of the fields that are set (for "only resource blueprints take ...").
    fn present(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.port.is_some() {
            v.push("port");
        }
        if self.sized.is_some() {
            v.push("sized");
        }
        if self.category.is_some() {
            v.push("category");
        }
        if self.parameters.is_some() {
            v.push("parameters");
        }
        if self.connection.is_some() {
            v.push("connection");
        }
        if self.in_cluster.is_some() {
            v.push("in_cluster");
        }
        v
    }
}

fn is_name(s: &str, extra: char) -> bool {
    s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == extra)
        && !s.ends_with(extra)
}

impl ResourceType {
    /// Reads and checks the resource fields of a manifest; every problem is located in it.
    pub fn from_manifest(
        blueprint: &str,
        name: &str,
        description: &str,
        fields: &ManifestFields<'_>,
        file: &SourceFile,
        doc: &Document,
    ) -> Result<ResourceType, Vec<Diagnostic>> {
        let err = |msg: String, pointer: &str, key: bool| {
            let at: Option<Span> = if key {
                doc.spans.locate_key(file, pointer)
            } else {
                doc.spans.locate(file, pointer)
            };
            Diagnostic::error("blueprint/resource", msg)
                .in_file(&file.name)
                .at(at)
        };
        let mut diags = Vec::new();
        if !is_name(name, '-') || name.len() > 40 {
            diags.push(
                err(format!("resource type `{name}` is not a valid name"), "/resource", false)
                    .expected("lower-case letters, digits and `-`, starting with a letter, at most 40 characters")
                    .help("rename it, e.g. `mysql` or `object-store`: platform.yaml writes it as `type:`"),
            );
        }
        if fields.port == Some(0) {
            diags.push(
                err("`port` must be from 1 to 65535".into(), "/port", false)
                    .help("the port workloads connect to, e.g. `port: 5432`; omit it for an HTTPS API (443)"),
            );
        }
        let (parameters, required) = match fields.parameters {
            None => (Map::new(), Vec::new()),
            Some(frag) => match parameters(frag, file, doc) {
                Ok(p) => p,
                Err(mut d) => {
                    diags.append(&mut d);
                    (Map::new(), Vec::new())
                }
            },
        };
        let (connection, in_cluster) = connection::read_manifest(fields, file, doc, &mut diags);
        if !diags.is_empty() {
            return Err(diags);
        }
        Ok(ResourceType {
            name: name.to_string(),
            blueprint: blueprint.to_string(),
            description: description.to_string(),
            port: fields.port.unwrap_or(DEFAULT_PORT),
            sized: fields.sized.unwrap_or(true),
            category: fields.category.map(str::to_string),
            parameters,
            required,
            connection,
            in_cluster,
        })
    }

    /// What templates see of the parameters (`resource.<param>`): every declared one, as given,
    /// else its `default`, else none; then anything else given (not possible once validated).
    pub fn context(&self, given: &IndexMap<String, Value>) -> Vec<(String, Value)> {
        let mut out: Vec<(String, Value)> = self
            .parameters
            .iter()
            .map(|(name, schema)| {
                let v = given
                    .get(name)
                    .or_else(|| schema.get("default"))
                    .cloned()
                    .unwrap_or(Value::Null);
                (name.clone(), v)
            })
            .collect();
        for (k, v) in given {
            if !self.parameters.contains_key(k) {
                out.push((k.clone(), v.clone()));
            }
        }
        out
    }
}

/// Parameter name -> schema, and the required names.
type Parameters = (Map<String, Value>, Vec<String>);

/// Checks a `parameters` fragment: an object schema of `properties` (each a self-contained JSON
/// Schema with a `description`) and `required`. Returns the properties and the required names.
fn parameters(
    frag: &Value,
    file: &SourceFile,
    doc: &Document,
) -> Result<Parameters, Vec<Diagnostic>> {
    let err = |msg: String, pointer: &str, key: bool| {
        let p = format!("/parameters{pointer}");
        let at = if key {
            doc.spans.locate_key(file, &p)
        } else {
            doc.spans.locate(file, &p)
        };
        Diagnostic::error("blueprint/parameters", msg)
            .in_file(&file.name)
            .at(at)
    };
    let shape = "an object schema: `properties` (name -> JSON Schema) and `required` (names)";
    let Value::Object(m) = frag else {
        return Err(vec![
            err(format!("`parameters` must be {shape}"), "", false).help(
                "e.g. `parameters: {properties: {version: {type: string, description: ...}}}`",
            ),
        ]);
    };
    let mut diags = Vec::new();
    for key in m.keys() {
        const ALLOWED: &[&str] = &["type", "properties", "required", "description", "$comment"];
        if !ALLOWED.contains(&key.as_str()) {
            let why = if key == "additionalProperties" || key == "unevaluatedProperties" {
                "parameters are always closed: pctl rejects names the fragment does not declare"
                    .to_string()
            } else {
                format!("`parameters` is {shape}")
            };
            diags.push(
                err(
                    format!("`parameters` does not take `{key}`"),
                    &format!("/{key}"),
                    true,
                )
                .help(format!("remove `{key}`: {why}")),
            );
        }
    }
    if m.get("type").is_some_and(|t| t != "object") {
        diags.push(
            err("`parameters` is an object schema".into(), "/type", false)
                .help("write `type: object`, or leave `type` out"),
        );
    }
    let props = match m.get("properties") {
        None => Map::new(),
        Some(Value::Object(p)) => p.clone(),
        Some(_) => {
            diags.push(
                err("`parameters.properties` must map each parameter name to its JSON Schema".into(), "/properties", false)
                    .help("e.g. `properties: {engine_version: {type: string, enum: [\"8.0\", \"8.4\"], description: ...}}`"),
            );
            Map::new()
        }
    };
    for (name, schema) in &props {
        let p = format!("/properties/{name}");
        if !is_name(name, '_') {
            diags.push(
                err(
                    format!("parameter name `{name}` is not an identifier"),
                    &p,
                    true,
                )
                .expected("lower-case letters, digits and `_`, starting with a letter")
                .help("templates read it as `resource.<name>`: rename it, e.g. `engine_version`"),
            );
            continue;
        }
        if RESERVED.contains(&name.as_str()) {
            diags.push(
                err(
                    format!("parameter `{name}` would hide the resource's own `{name}`"),
                    &p,
                    true,
                )
                .note(format!(
                    "every resource has {}",
                    crate::diag::one_of(RESERVED)
                ))
                .help("give the parameter another name"),
            );
            continue;
        }
        let Value::Object(s) = schema else {
            diags.push(
                err(
                    format!("parameter `{name}` must be a JSON Schema mapping"),
                    &p,
                    false,
                )
                .help("e.g. `{type: string, description: ...}`"),
            );
            continue;
        };
        if !s.get("description").is_some_and(Value::is_string) {
            diags.push(
                err(format!("parameter `{name}` has no `description`"), &p, true).help(
                    "describe it in a sentence: editors show it, and pctl quotes it in errors",
                ),
            );
        }
        match jsonschema::draft202012::options().build(schema) {
            Err(e) => diags.push(
                err(
                    format!(
                        "parameter `{name}` is not a valid JSON Schema: {}",
                        e.masked()
                    ),
                    &format!("{p}{}", e.instance_path().as_str()),
                    false,
                )
                .help(
                    "fix the schema (JSON Schema 2020-12; a fragment is self-contained: no `$ref`)",
                ),
            ),
            Ok(v) => {
                if let Some(d) = s.get("default") {
                    if let Some(e) = v.iter_errors(d).next() {
                        diags.push(
                            err(
                                format!(
                                    "the default of `{name}` does not match its schema: {}",
                                    e.masked()
                                ),
                                &format!("{p}/default"),
                                false,
                            )
                            .help("change the default, or the schema"),
                        );
                    }
                }
            }
        }
    }
    let mut required = Vec::new();
    match m.get("required") {
        None => {}
        Some(Value::Array(a)) => {
            for (i, r) in a.iter().enumerate() {
                let at = format!("/required/{i}");
                match r.as_str() {
                    Some(n) if props.contains_key(n) => {
                        if props[n].get("default").is_some() {
                            diags.push(
                                err(format!("required parameter `{n}` has a default, which would never apply"), &at, false)
                                    .help(format!("remove `{n}` from `required`, or its `default`")),
                            );
                        }
                        required.push(n.to_string());
                    }
                    _ => diags.push(
                        err(
                            format!(
                                "`required` names `{}`, which `properties` does not declare",
                                r.as_str().map_or_else(|| r.to_string(), str::to_string)
                            ),
                            &at,
                            false,
                        )
                        .help("list declared parameter names only"),
                    ),
                }
            }
        }
        Some(_) => diags.push(
            err(
                "`required` must be a list of parameter names".into(),
                "/required",
                false,
            )
            .help("e.g. `required: [engine_version]`"),
        ),
    }
    if diags.is_empty() {
        Ok((props, required))
    } else {
        Err(diags)
    }
}

/// The platform schema of a run: `base` (the embedded `schemas/platform.schema.json`) with its
/// resource definitions rebuilt for `types`. Idempotent: the per-type parts of `base` are
/// replaced, so the committed file (composed with the built-in blueprints) is its own base.
pub fn compose(base: &Value, types: &[ResourceType]) -> Value {
    let mut root = base.clone();
    let Some(defs) = root.get_mut("$defs").and_then(Value::as_object_mut) else {
        return root;
    };
    defs.retain(|k, _| !k.starts_with(RESOURCE_DEF) && !k.starts_with(OVERRIDE_DEF));
    let names: Vec<&str> = types.iter().map(|t| t.name.as_str()).collect();

    if let Some(Value::Object(res)) = defs.get_mut("resource") {
        if let Some(Value::Object(props)) = res.get_mut("properties") {
            props.retain(|k, _| GENERIC_FIELDS.contains(&k.as_str()));
            if let Some(Value::Object(t)) = props.get_mut("type") {
                t.insert("examples".into(), json!(names));
            }
        }
        // Closed per type (below): an unknown type is reported by the semantic checks.
        res.shift_remove("additionalProperties");
        let branches: Vec<Value> = types
            .iter()
            .map(|t| {
                json!({
                    "if": {"properties": {"type": {"const": t.name}}, "required": ["type"]},
                    "then": {"$ref": format!("#/$defs/{RESOURCE_DEF}{}", t.name)},
                })
            })
            .collect();
        if branches.is_empty() {
            res.shift_remove("allOf");
        } else {
            res.insert("allOf".into(), Value::Array(branches));
        }
    }

    // An override, for editors: the size and every type's parameters (described, not checked:
    // the override's type is its base resource's, so pctl checks it against that type).
    let mut union: Map<String, Value> = Map::new();
    for t in types {
        for (p, s) in &t.parameters {
            let text = format!(
                "For {}: {}",
                t.name,
                s["description"].as_str().unwrap_or_default()
            );
            let entry = union.entry(p.clone()).or_insert_with(|| json!({}));
            let joined = match entry["description"].as_str() {
                Some(d) => format!("{d} {text}"),
                None => text,
            };
            entry["description"] = json!(joined);
        }
    }
    if let Some(Value::Object(over)) = defs.get_mut("resourceOverride") {
        if let Some(Value::Object(props)) = over.get_mut("properties") {
            props.retain(|k, _| GENERIC_FIELDS.contains(&k.as_str()));
            props.extend(union);
        }
    }

    let base_defs = defs.clone();
    for t in types {
        let defs_for_fields = &base_defs;
        let mut props = Map::new();
        props.insert("type".into(), json!({"const": t.name}));
        if t.sized {
            props.insert("size".into(), json!(true));
        }
        let mut over_props = Map::new();
        if t.sized {
            over_props.insert("size".into(), json!(true));
        }
        connection::compose_fields(t, defs_for_fields, &mut props, &mut over_props);
        for (p, s) in &t.parameters {
            props.insert(p.clone(), s.clone());
            over_props.insert(p.clone(), s.clone());
        }
        let mut required = vec![json!("type")];
        required.extend(t.required.iter().map(|r| json!(r)));
        let what = format!(
            "A `{}` resource (blueprint `{}`){}",
            t.name,
            t.blueprint,
            if t.description.is_empty() {
                ".".to_string()
            } else {
                format!(": {}.", t.description.trim_end_matches('.'))
            }
        );
        defs.insert(
            format!("{RESOURCE_DEF}{}", t.name),
            json!({
                "description": what,
                "type": "object",
                "additionalProperties": false,
                "required": required,
                "properties": props,
            }),
        );
        defs.insert(
            format!("{OVERRIDE_DEF}{}", t.name),
            json!({
                "description": format!("An environment's override of a `{}` resource.", t.name),
                "type": "object",
                "additionalProperties": false,
                "properties": over_props,
            }),
        );
    }
    root
}

/// For an unknown field `key` of a resource of one type (its per-type definition at
/// `parent_path`): the other types that take it, named in a better message than "unknown field".
pub fn field_of_other_types(
    root: &Value,
    parent_path: &str,
    key: &str,
) -> Option<(String, String)> {
    let def = parent_path.strip_prefix("/$defs/")?;
    let this = def
        .strip_prefix(RESOURCE_DEF)
        .or_else(|| def.strip_prefix(OVERRIDE_DEF))?;
    let mut others: Vec<&str> = root["$defs"]
        .as_object()?
        .iter()
        .filter_map(|(k, v)| {
            let t = k.strip_prefix(RESOURCE_DEF)?;
            (t != this && v["properties"].get(key).is_some()).then_some(t)
        })
        .collect();
    others.sort_unstable();
    let list = match others.as_slice() {
        [] => return None,
        [one] => one.to_string(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    };
    Some((
        this.to_string(),
        format!("`{key}` applies only to {list} resources, not `{this}`"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mysql() -> ResourceType {
        ResourceType {
            name: "mysql".into(),
            blueprint: "mysql".into(),
            description: String::new(),
            port: 3306,
            sized: false,
            category: None,
            parameters: json!({
                "engine_version": {"type": "string", "description": "v"},
                "storage_gb": {"type": "integer", "default": 20, "description": "s"},
            })
            .as_object()
            .unwrap()
            .clone(),
            required: vec!["engine_version".into()],
            connection: Map::new(),
            in_cluster: None,
        }
    }

    #[test]
    fn composing_is_idempotent_and_replaces_every_per_type_part() {
        let base: Value = serde_json::from_str(super::super::schema::text(
            super::super::schema::SchemaKind::Platform,
        ))
        .unwrap();
        let once = compose(&base, &[mysql()]);
        assert_eq!(compose(&once, &[mysql()]), once);
        let defs = &once["$defs"];
        assert_eq!(
            defs["resource-mysql"]["required"],
            json!(["type", "engine_version"])
        );
        // Unsized: no `size` for this type.
        assert!(defs["resource-mysql"]["properties"].get("size").is_none());
        assert!(defs["resource-postgres"].is_null());
        let none = compose(&once, &[]);
        let keys: Vec<&String> = none["$defs"].as_object().unwrap().keys().collect();
        assert!(
            !keys.iter().any(|k| k.starts_with(RESOURCE_DEF)),
            "{keys:?}"
        );
        assert!(none["$defs"]["resource"].get("allOf").is_none());
        assert_eq!(
            none["$defs"]["resourceOverride"]["properties"]
                .as_object()
                .unwrap()
                .keys()
                .collect::<Vec<_>>(),
            ["size"]
        );
    }

    #[test]
    fn templates_see_every_declared_parameter_with_defaults() {
        let given: IndexMap<String, Value> = [("engine_version".to_string(), json!("8.4"))].into();
        assert_eq!(
            mysql().context(&given),
            [
                ("engine_version".to_string(), json!("8.4")),
                ("storage_gb".to_string(), json!(20)),
            ]
        );
        assert_eq!(mysql().context(&IndexMap::new())[0].1, Value::Null);
    }
}
