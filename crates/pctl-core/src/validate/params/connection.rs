//! How applications connect to their resources, as resource blueprints declare it (no per-type
//! code): `connection` names the properties an application's `env` templates may use
//! (`REDIS_ADDR: "{host}:{port}"`), and `in_cluster` says the type can also run as a companion
//! in the service's namespace (`placement: in-cluster`), with its default image and compute and
//! the value of each property there (`{host}` and `{port}` are always known).
//!
//! ```yaml
//! connection:
//!   host: Host name of the cache.
//!   url: A redis:// URL.
//! in_cluster:
//!   image: docker.io/library/redis:7.2-alpine@sha256:...
//!   compute: {cpu: 125m, memory: 256Mi}
//!   connection:
//!     url: "redis://{host}:{port}"
//! ```

use super::{ManifestFields, ResourceType};
use crate::contract::parse_template;
use crate::diag::Diagnostic;
use crate::load::Document;
use crate::source::SourceFile;
use indexmap::IndexMap;
use serde_json::{Map, Value, json};

/// What a resource type needs to run in the cluster (its blueprint renders the objects).
#[derive(Debug, Clone, PartialEq)]
pub struct InCluster {
    pub image: String,
    pub cpu: String,
    pub memory: String,
    /// Property -> template over `{host}` and `{port}`: its value in the cluster.
    pub connection: IndexMap<String, String>,
}

/// Properties every in-cluster resource has.
pub const IN_CLUSTER_ALWAYS: &[&str] = &["host", "port"];

impl InCluster {
    /// The connection properties available in the cluster.
    pub fn properties(&self) -> Vec<&str> {
        let mut v: Vec<&str> = IN_CLUSTER_ALWAYS.to_vec();
        v.extend(
            self.connection
                .keys()
                .map(String::as_str)
                .filter(|k| !IN_CLUSTER_ALWAYS.contains(k)),
        );
        v
    }
}

/// Reads `connection` and `in_cluster` of a resource blueprint's manifest.
pub(super) fn read_manifest(
    fields: &ManifestFields<'_>,
    file: &SourceFile,
    doc: &Document,
    diags: &mut Vec<Diagnostic>,
) -> (Map<String, Value>, Option<InCluster>) {
    let err = |msg: String, pointer: &str| {
        Diagnostic::error("blueprint/resource", msg)
            .in_file(&file.name)
            .at(doc.spans.locate(file, pointer))
    };
    let mut connection = Map::new();
    match fields.connection {
        None => {}
        Some(Value::Object(m)) => {
            for (k, v) in m {
                let name_ok = k.starts_with(|c: char| c.is_ascii_lowercase())
                    && k.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
                if !name_ok || !v.is_string() {
                    diags.push(
                        err(
                            format!("connection property `{k}` needs an identifier name and a description"),
                            &format!("/connection/{k}"),
                        )
                        .help("write `<name>: <what it is>`, e.g. `host: Host name of the cache.`"),
                    );
                }
                connection.insert(k.clone(), v.clone());
            }
        }
        Some(_) => diags.push(
            err(
                "`connection` maps each property to its description".into(),
                "/connection",
            )
            .help("e.g. `connection: {host: Host name., port: Port.}`"),
        ),
    }
    let in_cluster = fields.in_cluster.and_then(|v| {
        let text = |key: &str| v.pointer(key).and_then(Value::as_str).map(str::to_string);
        let (Some(image), Some(cpu), Some(memory)) = (
            text("/image"),
            v.pointer("/compute/cpu").map(|c| match c {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            }),
            text("/compute/memory"),
        ) else {
            diags.push(
                err("`in_cluster` needs `image` and `compute: {cpu, memory}`".into(), "/in_cluster")
                    .help("e.g. `in_cluster: {image: docker.io/library/redis:7.2-alpine@sha256:..., compute: {cpu: 125m, memory: 256Mi}}`"),
            );
            return None;
        };
        let mut values = IndexMap::new();
        if let Some(Value::Object(m)) = v.get("connection") {
            for (k, t) in m {
                let pointer = format!("/in_cluster/connection/{k}");
                match t.as_str().map(|t| parse_template(t, IN_CLUSTER_ALWAYS)) {
                    Some(Ok(_)) if connection.contains_key(k) => {
                        values.insert(k.clone(), t.as_str().unwrap_or_default().to_string());
                    }
                    Some(Ok(_)) => diags.push(
                        err(format!("`{k}` is not a property of `connection`"), &pointer)
                            .help("declare it under `connection` too"),
                    ),
                    _ => diags.push(
                        err(format!("the in-cluster value of `{k}` must be a template over {{host}} and {{port}}"), &pointer)
                            .help("e.g. `url: \"redis://{host}:{port}\"`"),
                    ),
                }
            }
        }
        Some(InCluster {
            image,
            cpu,
            memory,
            connection: values,
        })
    });
    (connection, in_cluster)
}

/// The generic fields a type's schema definitions get from its manifest: `env` (with
/// `connection`), `placement`, `image` and `compute` (with `in_cluster`).
pub(super) fn compose_fields(
    t: &ResourceType,
    defs: &Map<String, Value>,
    props: &mut Map<String, Value>,
    over_props: &mut Map<String, Value>,
) {
    if let Some(ic) = &t.in_cluster {
        let placement = json!({
            "description": format!("Where the {} runs: `managed` (the cloud service) or `in-cluster` (a single-replica companion in the service's namespace, e.g. for development). Can differ per environment. Default: managed.", t.name),
            "enum": ["managed", "in-cluster"],
            "default": "managed",
        });
        let image = json!({
            "description": format!("In the cluster: the image, pinned with a tag and/or digest (not `latest`). Default: the organisation's `companions.{}.image`, else `{}`.", t.name, ic.image),
            "type": "string",
            "pattern": "^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)*((:(?!latest(@|$))[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})(@sha256:[a-f0-9]{64})?|@sha256:[a-f0-9]{64})$",
        });
        // Inlined: per-type definitions are compiled on their own (see schema::compile).
        let quantity = |name: &str| {
            let mut q = defs.get(name).cloned().unwrap_or_else(|| json!({}));
            if let Value::Object(m) = &mut q {
                m.shift_remove("title");
            }
            q
        };
        let compute = json!({
            "description": format!("In the cluster: CPU and memory of the companion (requests = limits). Default: the organisation's `companions.{0}.compute`, else {{cpu: {1}, memory: {2}}}.", t.name, ic.cpu, ic.memory),
            "type": "object",
            "additionalProperties": false,
            "properties": {"cpu": quantity("cpu"), "memory": quantity("memory")},
        });
        for p in [&mut *props, &mut *over_props] {
            p.insert("placement".into(), placement.clone());
            p.insert("image".into(), image.clone());
            p.insert("compute".into(), compute.clone());
        }
    }
    if !t.connection.is_empty() {
        let names: Vec<String> = t.connection.keys().map(|k| format!("{{{k}}}")).collect();
        props.insert(
            "env".into(),
            json!({
                "description": format!("The variables the application reads the connection from, each a template over {}. Without it: the type's default variables. Example: {{REDIS_ADDR: \"{{host}}:{{port}}\"}}.", names.join(", ")),
                "type": "object",
                "minProperties": 1,
                "propertyNames": {"pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
                "additionalProperties": {"type": "string", "description": "Template, e.g. \"{host}:{port}\"."},
            }),
        );
    }
}
