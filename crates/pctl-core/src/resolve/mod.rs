//! Stage 4, resolve: intent + organisation config -> the complete model blueprints see, per
//! service and per environment (defaults applied, environment overrides merged, sizes looked
//! up, names and labels derived). Pure: no I/O. The shape is documented in blueprints/README.md.

mod deps;
mod resources;
mod workload;

use crate::contract::Directory;
use crate::model::{Environment, Intent, Org};
use crate::validate::Capabilities;
use serde_json::{Map, Value, json};

/// Where an intent came from: recorded in headers and used as the default image tag.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Source {
    pub repository: String,
    pub sha: String,
    pub image_tag: String,
    /// The image's digest (`sha256:<64 hex>`, `--image-digest`): manifests then reference
    /// `image:tag@digest`, so what runs is exactly what was built and scanned.
    pub image_digest: Option<String>,
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
    /// What it provides to callers (none without ports): recorded for single-service runs.
    pub provides: Option<crate::contract::Provides>,
    /// Its guardrail exemptions, as written.
    pub exemptions: Vec<crate::model::Exemption>,
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
        "progressive_delivery": org.progressive_delivery(),
        "cluster_domain": org.cluster_domain(),
        "exposure": {
            "default": s.exposure.as_ref().and_then(|e| e.default.as_deref()).unwrap_or("ingress"),
            "gateway": s.exposure.as_ref().and_then(|e| e.gateway.as_ref()).map(|g| json!({
                "name": g.name, "namespace": g.namespace, "section": g.section,
            })),
        },
        "observability": observability_context(org),
        "aws": crate::aws::org_context(org),
        "teams": crate::teams::org_context(org),
    })
}

/// `org.observability`: where Prometheus, the OpenTelemetry collector and Grafana live.
fn observability_context(org: &Org) -> Value {
    let o = org.spec.observability.clone().unwrap_or_default();
    json!({
        "prometheus_url": o.prometheus_url.as_deref().unwrap_or("http://prometheus-operated.monitoring.svc:9090"),
        "prometheus_namespace": o.prometheus_namespace.as_deref().unwrap_or("monitoring"),
        "otel_endpoint": o.otel_endpoint.as_deref().unwrap_or("http://opentelemetry-collector.observability.svc:4317"),
        "otel_protocol": o.otel_protocol.as_deref().unwrap_or("grpc"),
        "grafana_url": o.grafana_url.as_deref().map(|u| u.trim_end_matches('/')),
        "dashboard_folder": o.dashboard_folder.as_deref().unwrap_or("pctl"),
    })
}

/// A percentage threshold (`1%`) as a fraction (0.01); a duration (`200ms`) in seconds (0.2).
fn fraction(p: Option<&String>) -> Value {
    p.and_then(|p| crate::quantity::parse_percent(p))
        .map_or(Value::Null, |v| json!(v / 100.0))
}
fn seconds(d: Option<&String>) -> Value {
    d.and_then(|d| crate::quantity::parse_duration_ms(d))
        .map_or(Value::Null, |ms| json!(ms as f64 / 1000.0))
}

/// `service.deploy`: the intent's delivery plus what the blueprints need in numbers: each step's
/// `seconds` and its thresholds as `error_rate_max` (fraction) / `latency_p99_max` (seconds),
/// the same for `rollback`, which checks any step or rollback uses (`checks`), and the
/// `controller` that runs it (`none` for rolling updates, else the organisation's choice).
fn deploy_context(intent: &Intent, org: &Org) -> Value {
    let d = &intent.spec.deploy;
    let strategy = d.strategy.as_deref().unwrap_or("rolling");
    let steps: Vec<Value> = d
        .steps
        .iter()
        .map(|st| {
            json!({
                "weight": st.weight,
                "duration": st.duration,
                "seconds": st.duration.as_ref().and_then(|x| crate::quantity::parse_duration_ms(x)).map(|ms| ms.div_ceil(1000)),
                "metrics": st.metrics,
                "error_rate_max": fraction(st.metrics.get("error_rate_less_than")),
                "latency_p99_max": seconds(st.metrics.get("latency_p99_less_than")),
            })
        })
        .collect();
    let rollback = d.rollback.as_ref().map(|r| {
        let active = r.auto && !r.on.is_empty();
        json!({
            "auto": r.auto,
            "on": r.on,
            "active": active,
            "error_rate_max": if active { fraction(r.on.get("error_rate_greater_than")) } else { Value::Null },
            "latency_p99_max": if active { seconds(r.on.get("latency_p99_greater_than")) } else { Value::Null },
        })
    });
    // Blue-green: the new version is checked beside the old one for the gate's duration
    // (default 5 minutes), one measurement a minute, before traffic switches.
    let gate = (strategy == "blue-green").then(|| {
        let g = d.gate.clone().unwrap_or_default();
        let secs = g
            .duration
            .as_ref()
            .and_then(|x| crate::quantity::parse_duration_ms(x))
            .map_or(300, |ms| ms.div_ceil(1000))
            .max(60);
        json!({
            "duration": g.duration.as_deref().unwrap_or("5m"),
            "seconds": secs,
            "minutes": secs.div_ceil(60),
            "metrics": g.metrics,
            "error_rate_max": fraction(g.metrics.get("error_rate_less_than")),
            "latency_p99_max": seconds(g.metrics.get("latency_p99_less_than")),
        })
    });
    let in_steps = |key: &str| {
        steps.iter().any(|s| !s[key].is_null()) || gate.as_ref().is_some_and(|g| !g[key].is_null())
    };
    // Strictest threshold of each check anywhere (Flagger has one threshold per metric).
    let strictest = |key: &str| {
        steps
            .iter()
            .map(|s| &s[key])
            .chain(gate.as_ref().map(|g| &g[key]))
            .chain(rollback.as_ref().map(|r| &r[key]))
            .filter_map(Value::as_f64)
            .reduce(f64::min)
    };
    let checks = json!({
        "error_rate": in_steps("error_rate_max"),
        "latency_p99": in_steps("latency_p99_max"),
        "error_rate_max": strictest("error_rate_max"),
        "latency_p99_max": strictest("latency_p99_max"),
    });
    // One analysis "tick" (Flagger's interval): the greatest common divisor of the step
    // durations, so each step lasts a whole number of ticks.
    let gcd = |a: u64, b: u64| {
        let (mut a, mut b) = (a, b);
        while b != 0 {
            (a, b) = (b, a % b);
        }
        a
    };
    let tick = steps
        .iter()
        .filter_map(|s| s["seconds"].as_u64())
        .chain(
            gate.as_ref()
                .and_then(|g| g["seconds"].as_u64())
                .map(|_| 60),
        )
        .reduce(gcd)
        .unwrap_or(60)
        .max(1);
    let steps: Vec<Value> = steps
        .into_iter()
        .map(|mut s| {
            s["ticks"] = json!(s["seconds"].as_u64().map_or(1, |x| x.div_ceil(tick)));
            s
        })
        .collect();
    let tick_text = if tick % 60 == 0 {
        format!("{}m", tick / 60)
    } else {
        format!("{tick}s")
    };
    json!({
        "strategy": strategy,
        "controller": match strategy {
            "canary" | "blue-green" => org.progressive_delivery(),
            _ => "none",
        },
        "steps": steps,
        "gate": gate,
        "rollback": rollback,
        "analysis": !checks["error_rate_max"].is_null() || !checks["latency_p99_max"].is_null(),
        "checks": checks,
        "tick": tick_text,
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

/// The complete model of one service. The intent must have passed validation against `caps`,
/// whose resource types say what each resource's parameters and port are; `contracts` are its
/// callees' (see crate::contract), for the addresses it reads.
pub fn resolve(
    intent: &Intent,
    org: &Org,
    caps: &Capabilities,
    org_ctx: &Value,
    source: &Source,
    contracts: &Directory,
) -> Service {
    let m = &intent.metadata;
    let s = &intent.spec;
    let team = org.team(&m.owner);
    let mut team_ctx = json!({
        "name": m.owner,
        "contact": team.and_then(|t| t.contact.clone()),
        "cost_center": team.and_then(|t| t.cost_center.clone()),
        "budget_usd_month": team.and_then(|t| t.budget_usd_month),
    });
    crate::teams::extend_team(&mut team_ctx, org, &m.owner);
    let cost_center = team
        .and_then(|t| t.cost_center.clone())
        .unwrap_or_else(|| "none".into());
    // A pinned image (tag or digest in platform.yaml) is deployed as written; otherwise the
    // run's tag, by digest when the run knows it (the tag stays for people, the digest decides).
    let pinned = crate::image::Image::parse(&s.image);
    let (image, image_tag, image_digest, image_ref) =
        match pinned.version().filter(|_| pinned.pinned()) {
            Some(version) => (
                pinned.repository.to_string(),
                version,
                pinned.digest.map(str::to_string),
                s.image.clone(),
            ),
            None => (
                s.image.clone(),
                source.image_tag.clone(),
                source.image_digest.clone(),
                match &source.image_digest {
                    Some(d) => format!("{}:{}@{d}", s.image, source.image_tag),
                    None => format!("{}:{}", s.image, source.image_tag),
                },
            ),
        };
    let primary = crate::contract::ports_of(s).into_iter().next();
    let mut service_ctx = json!({
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
        "image": image,
        "image_tag": image_tag,
        "image_digest": image_digest,
        "image_ref": image_ref,
        "port": primary.as_ref().map(|p| p.port),
        "ports": workload::ports(intent),
        "http_port": workload::http_port(intent).map(|p| json!({"name": p.name, "port": p.port, "service_port": p.service_port})),
        // Declared HTTP paths (one given: the other probe uses it too), as v1 blueprints read them.
        "health": workload::health(intent),
        "probes": workload::probes(intent),
        "command": s.command,
        "args": s.args,
        "schedule": s.schedule,
        "endpoints": s.endpoints.iter().map(|e| json!({"path": e.path, "public": e.public, "sla": e.sla})).collect::<Vec<_>>(),
        "secrets": s.secrets,
        "dependencies": s.dependency_names(),
        "resources": s.resources.iter().map(|(n, r)| {
            let mut v = serde_json::to_value(r).unwrap_or_default();
            v["name"] = json!(n);
            v
        }).collect::<Vec<_>>(),
        "deploy": deploy_context(intent, org),
        "slo": s.slo.as_ref().map(|slo| json!({
            "availability": slo.availability,
            "latency_p99": slo.latency_p99,
            "latency_p99_seconds": seconds(slo.latency_p99.as_ref()),
        })),
        // Scraped by Prometheus: `spec.metrics`, defaulting to an HTTP primary port and
        // /metrics; none for CronJobs, `metrics: false` and workloads without such a port.
        "metrics": workload::metrics(intent),
        "has_resources": !s.resources.is_empty(),
        "exemptions": s.exemptions,
    });
    crate::links::extend_service(&mut service_ctx);
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
        // Variables by name, in the order first written (an environment's value replaces the
        // base value in place): linear in the number of variables.
        let mut vars: indexmap::IndexMap<String, String> = indexmap::IndexMap::new();
        for (k, v) in s.env.iter().chain(&o.env) {
            vars.insert(k.clone(), text(v));
        }
        let tags = json!({
            "service": m.name,
            "team": m.owner,
            "environment": env.name,
            "cost_center": cost_center,
            "managed_by": "pctl",
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
        if let Some(p) = &m.preview {
            // A pull request's preview: what it previews, and its time to live for a cleanup job.
            labels.insert("pctl.dev/preview-of".into(), json!(p.of));
            labels.insert(
                "pctl.dev/pull-request".into(),
                json!(format!("pr-{}", p.pr)),
            );
            if let Some(h) = p.ttl_hours {
                labels.insert("pctl.dev/preview-ttl".into(), json!(format!("{h}h")));
            }
        }
        let owner = resources::Owner {
            service: &m.name,
            env: &env.name,
            namespace: &m.name,
            labels: &labels,
        };
        let resources: Vec<Value> = s
            .resources
            .iter()
            .map(|(name, base)| {
                let rt = base.kind.as_deref().and_then(|t| caps.resource_type(t));
                let merged = base.merged(o.resources.get(name));
                let mut r = resources::context(name, &merged, rt, org, &owner);
                crate::aws::extend_resource(&mut r, org, &intent.kind);
                r
            })
            .collect();
        let managed = |r: &&Value| r["placement"] != "in-cluster";
        let public: Vec<Value> = s
            .endpoints
            .iter()
            .filter(|e| e.public)
            .map(|e| json!({"path": e.path, "sla": e.sla}))
            .collect();
        let dashboard_uid = crate::digest::cloud_name(&format!("pctl-{}-{}", env.name, m.name));
        let grafana = &org_ctx["observability"]["grafana_url"];
        let dashboard = json!({
            "uid": dashboard_uid,
            "title": format!("{} ({})", m.name, env.name),
            "url": match grafana.as_str() {
                Some(g) => format!("{g}/d/{dashboard_uid}"),
                None => format!("/d/{dashboard_uid}"),
            },
        });
        // OpenTelemetry SDK settings; a variable the intent sets itself wins.
        let obs = &org_ctx["observability"];
        let mut attributes = vec![
            format!("service.name={}", m.name),
            format!("service.version={image_tag}"),
            format!("deployment.environment={}", env.name),
            format!("team={}", m.owner),
        ];
        if let Some(system) = &m.system {
            attributes.insert(1, format!("service.namespace={system}"));
        }
        let otel_env: Vec<Value> = [
            ("OTEL_SERVICE_NAME", m.name.clone()),
            ("OTEL_RESOURCE_ATTRIBUTES", attributes.join(",")),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", text(&obs["otel_endpoint"])),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", text(&obs["otel_protocol"])),
        ]
        .into_iter()
        .filter(|(k, _)| !vars.contains_key(*k))
        .map(|(k, v)| json!({"name": k, "value": v}))
        .collect();
        // The addresses of the callees, from their contracts (resolve/deps.rs), then the
        // connection of in-cluster resources; a variable the intent sets itself wins.
        for (var, value) in deps::variables(intent, contracts, org.cluster_domain()) {
            vars.entry(var).or_insert(value);
        }
        for r in &resources {
            for e in r["env"].as_array().into_iter().flatten() {
                if let (Some(k), Some(v)) = (e["name"].as_str(), e["value"].as_str()) {
                    vars.entry(k.to_string()).or_insert_with(|| v.to_string());
                }
            }
        }
        let env_vars: Vec<Value> = vars
            .iter()
            .map(|(k, v)| json!({"name": k, "value": v}))
            .collect();
        // A digest of the environment the pods get, on the pod template: a change of the
        // ConfigMap rolls the pods (the values themselves are in the ConfigMap).
        let mut config_text = String::new();
        for e in env_vars.iter().chain(&otel_env) {
            config_text.push_str(&format!("{}={}\n", text(&e["name"]), text(&e["value"])));
        }
        let config_digest = format!("sha256:{}", crate::digest::sha256(&config_text));
        // Ports the managed resources listen on (their blueprints say), for the egress policy.
        let mut resource_ports: Vec<u64> = resources
            .iter()
            .filter(managed)
            .filter_map(|r| r["port"].as_u64())
            .collect();
        let has_managed = resources.iter().any(|r| managed(&r));
        // AWS APIs (STS, Secrets Manager, SQS) the workload identity calls, through VPC
        // endpoints when the network has them.
        if has_managed {
            resource_ports.push(443);
        }
        // In-cluster resources: reached in the namespace, pod to pod.
        let companions: Vec<Value> = resources
            .iter()
            .filter(|r| !r["companion"].is_null())
            .map(|r| json!({"name": r["companion"]["name"], "port": r["port"], "selector": r["companion"]["selector"]}))
            .collect();
        // How public endpoints are exposed here (none without any).
        let exposure = (!public.is_empty()).then(|| {
            o.exposure
                .clone()
                .or_else(|| s.exposure.clone())
                .unwrap_or_else(|| text(&org_ctx["exposure"]["default"]))
        });
        resource_ports.sort();
        resource_ports.dedup();
        // Where the pods send telemetry (the intent's own endpoint wins), for their egress.
        let otlp_endpoint = vars
            .get("OTEL_EXPORTER_OTLP_ENDPOINT")
            .cloned()
            .unwrap_or_else(|| text(&obs["otel_endpoint"]));
        let mut deployment = json!({
            "environment": env_ctx,
            "otel_env": otel_env,
            "otlp": crate::telemetry::otlp_destination(&otlp_endpoint),
            "resource_ports": resource_ports,
            "dashboard": dashboard,
            "namespace": m.name,
            "replicas": replicas,
            "autoscale": autoscale,
            "compute": {"cpu": cpu, "memory": memory},
            "env": env_vars,
            "config_digest": config_digest,
            "resources": resources,
            "companions": companions,
            "approvals": o.approvals,
            "public_endpoints": public,
            "exposure": exposure,
            "host": format!("{}.{}", m.name, env.domain),
            "secret_name": (!s.secrets.is_empty()).then(|| format!("{}-secrets", m.name)),
            "has_resources": has_managed,
            "tags": tags,
            "aws": crate::aws::deployment_context(org, env, &crate::aws::Workload {
                service: &m.name,
                owner: &m.owner,
                tags: &m.tags,
                namespace: &m.name,
            }),
        });
        // Team access, namespace quota, on-call routing.
        crate::teams::extend_deployment(&mut deployment, org, intent, env);
        // The organisation (`org`) is added by expand, converted once for every service.
        let mut ctx = Map::new();
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
        provides: crate::contract::provides(intent),
        exemptions: s.exemptions.clone(),
    }
}
