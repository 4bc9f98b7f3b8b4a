//! What a workload listens on and how it is checked: `service.ports`, `service.probes` (the
//! probes every pod gets: declared, or a default from the primary port's protocol) and
//! `service.metrics` (where Prometheus scrapes). The legacy forms (`port`, HTTP `health`,
//! `metrics: {port}`) resolve to exactly what they rendered before.

use crate::contract::{ProvidedPort, ports_of};
use crate::model::{Intent, MetricsSetting, PortRef};
use serde_json::{Value, json};

/// `service.ports`: every port with its Service port and protocol. `app_protocol` is set for
/// ports declared with `ports` (a legacy `port` keeps its Service as it was).
pub fn ports(intent: &Intent) -> Vec<Value> {
    let declared = !intent.spec.ports.is_empty();
    ports_of(&intent.spec)
        .iter()
        .map(|p| {
            json!({
                "name": p.name,
                "port": p.port,
                "service_port": p.service_port,
                "protocol": p.protocol,
                "app_protocol": declared.then_some(p.protocol.as_str()),
            })
        })
        .collect()
}

/// `service.probes`: the liveness and readiness (and startup) probes of the pods, or none for a
/// workload without ports. `default` says pctl chose them (no `health` in platform.yaml).
pub fn probes(intent: &Intent) -> Value {
    let ports = ports_of(&intent.spec);
    if intent.kind != "Service" {
        return Value::Null;
    }
    let h = intent.spec.health.clone().unwrap_or_default();
    let port: Option<&ProvidedPort> = match &h.port {
        Some(name) => ports.iter().find(|p| &p.name == name),
        None => ports.first(),
    };
    let Some(port) = port else { return Value::Null };
    let liveness = h
        .liveness
        .clone()
        .or(h.path.clone())
        .or(h.readiness.clone());
    let readiness = h
        .readiness
        .clone()
        .or(h.path.clone())
        .or(h.liveness.clone());
    let kind = h.probe.clone().unwrap_or_else(|| {
        if liveness.is_some() {
            "http".into()
        } else if port.protocol == "grpc" {
            "grpc".into()
        } else {
            "tcp".into()
        }
    });
    // A startup probe of the same kind, every 5 s, for as long as the application may start;
    // probes pctl chose get a minute, so that a slow start is not a liveness failure.
    let default = intent.spec.health.is_none();
    let startup = h
        .startup
        .as_deref()
        .and_then(crate::quantity::parse_duration_ms)
        .or(default.then_some(60_000))
        .map(|ms| json!({"period_seconds": 5, "failure_threshold": ms.div_ceil(5000).max(1)}));
    json!({
        "kind": kind,
        "port": port.name,
        "port_number": port.port,
        "liveness": liveness,
        "readiness": readiness,
        "headers": h.headers.iter().map(|(k, v)| json!({"name": k, "value": v})).collect::<Vec<_>>(),
        "service": h.service,
        "startup": startup,
        "default": default,
    })
}

/// `service.health`: the declared HTTP paths, as blueprints written for pctl v1 read them (one
/// path given: both probes use it); none for other probes.
pub fn health(intent: &Intent) -> Value {
    let Some(h) = &intent.spec.health else {
        return Value::Null;
    };
    if h.probe.as_deref().is_some_and(|p| p != "http") {
        return Value::Null;
    }
    let live = h
        .liveness
        .clone()
        .or(h.path.clone())
        .or(h.readiness.clone());
    let ready = h
        .readiness
        .clone()
        .or(h.path.clone())
        .or(h.liveness.clone());
    if live.is_none() {
        return Value::Null;
    }
    json!({"liveness": live, "readiness": ready})
}

/// `service.metrics`: where Prometheus scrapes (none for CronJobs, `metrics: false`, and
/// workloads without an HTTP port to scrape). `port_name` is the container port's name:
/// a declared port, or `metrics` for a port of its own (`own_port`).
pub fn metrics(intent: &Intent) -> Value {
    let ports = ports_of(&intent.spec);
    if intent.kind == "CronJob" {
        return Value::Null;
    }
    let (port, path) = match &intent.spec.metrics {
        Some(MetricsSetting::Switch(false)) => return Value::Null,
        Some(MetricsSetting::Scrape(m)) => (m.port.clone(), m.path.clone()),
        _ => (None, None),
    };
    let path = path.unwrap_or_else(|| "/metrics".into());
    let declared = match &port {
        Some(PortRef::Name(n)) => ports.iter().find(|p| &p.name == n),
        Some(PortRef::Number(n)) => ports.iter().find(|p| p.port == *n),
        None => ports.first().filter(|p| p.protocol == "http"),
    };
    match (declared, &port) {
        (Some(p), _) => {
            json!({"port": p.port, "path": path, "own_port": false, "port_name": p.name})
        }
        (None, Some(PortRef::Number(n))) => {
            json!({"port": n, "path": path, "own_port": true, "port_name": "metrics"})
        }
        _ => Value::Null,
    }
}

/// The name of the first HTTP port: what public endpoints expose.
pub fn http_port(intent: &Intent) -> Option<ProvidedPort> {
    ports_of(&intent.spec)
        .into_iter()
        .find(|p| p.protocol == "http")
}
