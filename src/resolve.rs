//! Stage 4, resolve: intent + organisation config -> the complete model blueprints see, per
//! service and per environment (defaults applied, environment overrides merged, sizes looked
//! up, names and labels derived). Pure: no I/O. The shape is documented in blueprints/README.md.

use crate::model::{Environment, Intent, Org, Resource};
use serde_json::{Map, Value, json};

/// Where an intent came from: recorded in headers and used as the default image tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub repository: String,
    pub sha: String,
    pub image_tag: String,
}

#[derive(Debug, Clone)]
pub struct Deployment {
    pub env: String,
    /// The `deployment` scope context: org, env, service, team, deployment, labels, selector, source.
    pub context: Map<String, Value>,
    /// One `resource` object per declared resource, overrides applied.
    pub resources: Vec<Value>,
}

#[derive(Debug, Clone)]
pub struct Service {
    pub name: String,
    pub kind: String,
    /// Workload blueprint explicitly requested by the intent, if any.
    pub blueprint: Option<String>,
    pub source: Source,
    /// The `service` scope context: org, service, team, deployments, source.
    pub context: Map<String, Value>,
    pub deployments: Vec<Deployment>,
}

pub fn org_context(org: &Org) -> Value {
    let s = &org.spec;
    json!({
        "name": org.metadata.name,
        "gitops": org.gitops(),
        "deploy_repository": {
            "url": s.deploy_repository.url,
            "branch": s.deploy_repository.branch.as_deref().unwrap_or("main"),
        },
        "registries": s.registries,
        "environments": s.environments.iter().map(env_context).collect::<Vec<_>>(),
        "secret_store": {
            "kind": s.secret_store.as_ref().and_then(|x| x.kind.as_deref()).unwrap_or("ClusterSecretStore"),
            "name": s.secret_store.as_ref().and_then(|x| x.name.as_deref()).unwrap_or("aws-secrets-manager"),
        },
        "ingress_class": s.ingress_class.as_deref().unwrap_or("nginx"),
    })
}

pub fn env_context(e: &Environment) -> Value {
    json!({"name": e.name, "cluster": e.cluster, "domain": e.domain, "region": e.region, "protected": e.protected})
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn opt<T: serde::Serialize>(v: &Option<T>) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// The complete model of one service. The intent must have passed validation.
pub fn resolve(intent: &Intent, org: &Org, org_ctx: &Value, source: &Source) -> Service {
    let m = &intent.metadata;
    let s = &intent.spec;
    let team = org.team(&m.owner);
    let team_ctx = json!({
        "name": m.owner,
        "contact": team.and_then(|t| t.contact.clone()),
        "cost_center": team.and_then(|t| t.cost_center.clone()),
        "budget_usd_month": team.and_then(|t| t.budget_usd_month),
    });
    let cost_center = team
        .and_then(|t| t.cost_center.clone())
        .unwrap_or_else(|| "none".into());
    let image_ref = format!("{}:{}", s.image, source.image_tag);
    let service_ctx = json!({
        "name": m.name,
        "kind": intent.kind,
        "owner": m.owner,
        "description": m.description,
        "system": m.system,
        "lifecycle": m.lifecycle.as_deref().unwrap_or("production"),
        "oncall": m.oncall,
        "repository": source.repository,
        "runbook": m.runbook,
        "tags": m.tags,
        "image": s.image,
        "image_tag": source.image_tag,
        "image_ref": image_ref,
        "port": s.port,
        // One probe path given: the other probe uses it too.
        "health": s.health.as_ref().map(|h| {
            let live = h.liveness.clone().or_else(|| h.readiness.clone());
            let ready = h.readiness.clone().or_else(|| h.liveness.clone());
            json!({"liveness": live, "readiness": ready})
        }).filter(|h| !h["liveness"].is_null()),
        "command": s.command,
        "args": s.args,
        "schedule": s.schedule,
        "endpoints": s.endpoints.iter().map(|e| json!({"path": e.path, "public": e.public, "sla": e.sla})).collect::<Vec<_>>(),
        "secrets": s.secrets,
        "dependencies": s.dependencies,
        "resources": s.resources.iter().map(|(n, r)| {
            let mut v = serde_json::to_value(r).unwrap_or_default();
            v["name"] = json!(n);
            v
        }).collect::<Vec<_>>(),
        "deploy": {
            "strategy": s.deploy.strategy.as_deref().unwrap_or("rolling"),
            "steps": s.deploy.steps,
            "rollback": opt(&s.deploy.rollback),
        },
        "slo": opt(&s.slo),
        "has_resources": !s.resources.is_empty(),
    });
    let source_ctx = json!({"repository": source.repository, "sha": source.sha});

    // Deploy to the environments the intent names, in the organisation's order.
    let mut deployments = Vec::new();
    for env in &org.spec.environments {
        let Some(o) = s.environments.get(&env.name) else {
            continue;
        };
        let env_ctx = env_context(env);
        let compute = o.compute.as_ref().or(s.compute.as_ref());
        let cpu = compute
            .and_then(|c| c.cpu.clone())
            .unwrap_or_else(|| "100m".into());
        let memory = compute
            .and_then(|c| c.memory.clone())
            .unwrap_or_else(|| "128Mi".into());
        let replicas = if o.autoscale.is_some() {
            None
        } else {
            Some(o.replicas.unwrap_or(1))
        };
        let autoscale = o.autoscale.as_ref().map(|a| {
            let min = a.min.unwrap_or(1);
            json!({"min": min, "max": a.max.unwrap_or(min.max(1)), "cpu_percent": a.cpu_percent.unwrap_or(70)})
        });
        let mut env_vars: Vec<Value> = Vec::new();
        let mut set_var = |k: &str, v: &Value| {
            let v = text(v);
            match env_vars.iter_mut().find(|e| e["name"] == k) {
                Some(e) => e["value"] = json!(v),
                None => env_vars.push(json!({"name": k, "value": v})),
            }
        };
        for (k, v) in &s.env {
            set_var(k, v);
        }
        for (k, v) in &o.env {
            set_var(k, v);
        }
        let tags = json!({
            "service": m.name,
            "team": m.owner,
            "environment": env.name,
            "cost_center": cost_center,
            "managed_by": "pctl",
        });
        let resources: Vec<Value> = s
            .resources
            .iter()
            .map(|(name, base)| {
                resource_context(
                    name,
                    &base.merged(o.resources.get(name)),
                    org,
                    &m.name,
                    &env.name,
                )
            })
            .collect();
        let public: Vec<Value> = s
            .endpoints
            .iter()
            .filter(|e| e.public)
            .map(|e| json!({"path": e.path, "sla": e.sla}))
            .collect();
        let deployment = json!({
            "environment": env_ctx,
            "namespace": m.name,
            "replicas": replicas,
            "autoscale": autoscale,
            "compute": {"cpu": cpu, "memory": memory},
            "env": env_vars,
            "resources": resources,
            "approvals": o.approvals,
            "public_endpoints": public,
            "host": format!("{}.{}", m.name, env.domain),
            "secret_name": (!s.secrets.is_empty()).then(|| format!("{}-secrets", m.name)),
            "has_resources": !s.resources.is_empty(),
            "tags": tags,
        });
        let mut labels = Map::new();
        labels.insert("app.kubernetes.io/name".into(), json!(m.name));
        labels.insert(
            "app.kubernetes.io/part-of".into(),
            json!(m.system.clone().unwrap_or_else(|| m.name.clone())),
        );
        labels.insert("app.kubernetes.io/managed-by".into(), json!("pctl"));
        labels.insert("pctl.dev/team".into(), json!(m.owner));
        labels.insert("pctl.dev/cost-center".into(), json!(cost_center));
        labels.insert("pctl.dev/environment".into(), json!(env.name));
        let mut ctx = Map::new();
        ctx.insert("org".into(), org_ctx.clone());
        ctx.insert("env".into(), env_ctx);
        ctx.insert("service".into(), service_ctx.clone());
        ctx.insert("team".into(), team_ctx.clone());
        ctx.insert("deployment".into(), deployment);
        ctx.insert("labels".into(), Value::Object(labels));
        ctx.insert("selector".into(), json!({"app.kubernetes.io/name": m.name}));
        ctx.insert("source".into(), source_ctx.clone());
        deployments.push(Deployment {
            env: env.name.clone(),
            context: ctx,
            resources,
        });
    }
    let mut context = Map::new();
    context.insert("org".into(), org_ctx.clone());
    context.insert("service".into(), service_ctx);
    context.insert("team".into(), team_ctx);
    context.insert(
        "deployments".into(),
        Value::Array(
            deployments
                .iter()
                .map(|d| d.context["deployment"].clone())
                .collect(),
        ),
    );
    context.insert("source".into(), source_ctx);
    Service {
        name: m.name.clone(),
        kind: intent.kind.clone(),
        blueprint: s.blueprint.clone(),
        source: source.clone(),
        context,
        deployments,
    }
}

fn resource_context(name: &str, r: &Resource, org: &Org, service: &str, env: &str) -> Value {
    let rtype = r.kind.clone().unwrap_or_default();
    let sizes = org.spec.sizes.get(&rtype);
    // No size given: the first size the organisation lists for this type.
    let size = r
        .size
        .clone()
        .or_else(|| sizes.and_then(|m| m.keys().next().cloned()))
        .unwrap_or_default();
    let class = sizes.and_then(|m| m.get(&size));
    json!({
        "name": name,
        "type": rtype,
        "size": size,
        "class": class.map(|c| c.class.clone()).unwrap_or_default(),
        "usd_month": class.and_then(|c| c.usd_month),
        "version": r.version,
        "backups": r.backups,
        "eviction": r.eviction,
        "fifo": r.fifo.unwrap_or(false),
        "identifier": cloud_name(&format!("{service}-{env}-{name}")),
        "secret_key": format!("pctl/{env}/{service}/{name}"),
        "secret_name": format!("{service}-{name}"),
    })
}

/// Cloud resource names have length limits (ElastiCache: 40 characters). Longer names are cut
/// and given a hash suffix, so they stay unique and stable.
pub fn cloud_name(name: &str) -> String {
    const MAX: usize = 40;
    if name.len() <= MAX {
        return name.to_string();
    }
    let hash = crate::plan::sha256(name);
    format!("{}-{}", name[..MAX - 9].trim_end_matches('-'), &hash[..8])
}

#[cfg(test)]
mod tests {
    #[test]
    fn cloud_names_fit_and_stay_unique() {
        assert_eq!(super::cloud_name("api-dev-db"), "api-dev-db");
        let a = super::cloud_name("a-very-long-service-name-for-payments-prod-primary");
        let b = super::cloud_name("a-very-long-service-name-for-payments-prod-replica");
        assert!(a.len() <= 40 && b.len() <= 40);
        assert_ne!(a, b);
    }
}
