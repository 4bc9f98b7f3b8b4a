//! The `resource` context: a resource as its type's blueprint sees it (size and class, the
//! parameters its manifest declares, names), where it runs (`placement`), and the variables the
//! application reads its connection from (`env`, see validate::connection).
//!
//! `managed` (the default): the blueprint provisions it (Terraform) and the connection comes
//! from the secret store at run time, so `env` holds the parsed templates only. `in-cluster`:
//! a companion named `<service>-<resource>` in the service's namespace, whose connection is
//! known at render time: `env` holds the values, which go to the service's ConfigMap.

use crate::contract::{Part, fill, parse_template};
use crate::model::{Org, Resource};
use crate::validate::connection::IN_CLUSTER_ALWAYS;
use crate::validate::{ResourceType, params};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// Where a resource is, for naming and labels.
pub struct Owner<'a> {
    pub service: &'a str,
    pub env: &'a str,
    pub namespace: &'a str,
    pub labels: &'a Map<String, Value>,
}

pub fn context(
    name: &str,
    r: &Resource,
    rt: Option<&ResourceType>,
    org: &Org,
    at: &Owner<'_>,
) -> Value {
    let rtype = r.kind.clone().unwrap_or_default();
    let service = at.service;
    let env = at.env;
    let sizes = org.spec.sizes.get(&rtype);
    let in_cluster = r.in_cluster() && rt.is_some_and(|t| t.in_cluster.is_some());
    // No size given: the first size the organisation lists for this type.
    let size = r
        .size
        .clone()
        .or_else(|| sizes.and_then(|m| m.keys().next().cloned()))
        .unwrap_or_default();
    let class = sizes.and_then(|m| m.get(&size));
    let mut ctx = Map::new();
    ctx.insert("name".into(), json!(name));
    ctx.insert("type".into(), json!(rtype));
    ctx.insert("size".into(), json!(size));
    ctx.insert(
        "class".into(),
        json!(class.map(|c| c.class.clone()).unwrap_or_default()),
    );
    ctx.insert("usd_month".into(), json!(class.and_then(|c| c.usd_month)));
    // The parameters its blueprint declares, defaults applied.
    let params = match rt {
        Some(rt) => rt.context(&r.params),
        None => r.params.clone().into_iter().collect(),
    };
    ctx.extend(params);
    ctx.insert(
        "identifier".into(),
        json!(crate::digest::cloud_name(&format!(
            "{service}-{env}-{name}"
        ))),
    );
    ctx.insert(
        "secret_key".into(),
        json!(format!("pctl/{env}/{service}/{name}")),
    );
    ctx.insert("secret_name".into(), json!(format!("{service}-{name}")));
    let port = rt.map_or(params::DEFAULT_PORT, |t| t.port);
    ctx.insert("port".into(), json!(port));
    ctx.insert(
        "category".into(),
        json!(rt.and_then(|t| t.category.clone())),
    );
    ctx.insert(
        "placement".into(),
        json!(if in_cluster { "in-cluster" } else { "managed" }),
    );
    let properties: Vec<&str> = rt
        .map(|t| t.connection.keys().map(String::as_str).collect())
        .unwrap_or_default();
    let templates: Vec<(String, Vec<Part>)> = r
        .env
        .iter()
        .filter_map(|(var, t)| Some((var.clone(), parse_template(t, &properties).ok()?)))
        .collect();
    let ic = rt
        .and_then(|t| t.in_cluster.as_ref())
        .filter(|_| in_cluster);
    let Some(ic) = ic else {
        ctx.insert("host".into(), Value::Null);
        ctx.insert("companion".into(), Value::Null);
        let env: Vec<Value> = templates
            .iter()
            .map(|(var, parts)| json!({"name": var, "parts": parts, "value": null}))
            .collect();
        ctx.insert("env".into(), json!(env));
        return Value::Object(ctx);
    };
    // In the cluster: a companion beside the service, reached through its own Service.
    let companion = format!("{service}-{name}");
    let host = format!("{companion}.{}.svc.{}", at.namespace, org.cluster_domain());
    let mut values: BTreeMap<&str, String> =
        BTreeMap::from([("host", host.clone()), ("port", port.to_string())]);
    for (prop, t) in &ic.connection {
        if let Ok(parts) = parse_template(t, IN_CLUSTER_ALWAYS) {
            values.insert(prop.as_str(), fill(&parts, &values));
        }
    }
    let prefix = name.to_uppercase().replace('-', "_");
    let env: Vec<Value> = if templates.is_empty() {
        ic.properties()
            .iter()
            .filter_map(|p| Some((*p, values.get(p)?)))
            .map(|(p, v)| {
                json!({"name": format!("{prefix}_{}", p.to_uppercase()), "parts": [], "value": v})
            })
            .collect()
    } else {
        templates
            .iter()
            .map(|(var, parts)| json!({"name": var, "parts": parts, "value": fill(parts, &values)}))
            .collect()
    };
    ctx.insert("env".into(), json!(env));
    ctx.insert("host".into(), json!(host));
    let defaults = org.spec.companions.get(&rtype);
    let image = r
        .image
        .clone()
        .or_else(|| defaults.and_then(|d| d.image.clone()))
        .unwrap_or_else(|| ic.image.clone());
    let compute = r
        .compute
        .clone()
        .or_else(|| defaults.and_then(|d| d.compute.clone()));
    let cpu = compute
        .as_ref()
        .and_then(|c| c.cpu.clone())
        .unwrap_or_else(|| ic.cpu.clone());
    let memory = compute
        .as_ref()
        .and_then(|c| c.memory.clone())
        .unwrap_or_else(|| ic.memory.clone());
    let mut labels = at.labels.clone();
    labels.insert("app.kubernetes.io/name".into(), json!(companion));
    labels.insert("app.kubernetes.io/component".into(), json!(rtype));
    // Priced as compute (one replica), not from the size table.
    let prices = org.spec.compute_usd_month.clone().unwrap_or_default();
    let cores = crate::quantity::parse_cpu(&cpu).unwrap_or(0) as f64 / 1000.0;
    let gib = crate::quantity::parse_memory(&memory).unwrap_or(0) as f64 / (1u64 << 30) as f64;
    ctx.insert("size".into(), json!("in-cluster"));
    ctx.insert("class".into(), json!(format!("{cpu} CPU, {memory}")));
    ctx.insert(
        "usd_month".into(),
        json!(cores * prices.cpu + gib * prices.memory_gib),
    );
    ctx.insert(
        "companion".into(),
        json!({
            "name": companion,
            "image": image,
            "compute": {"cpu": cpu, "memory": memory},
            "labels": labels,
            "selector": {"app.kubernetes.io/name": companion},
        }),
    );
    Value::Object(ctx)
}
