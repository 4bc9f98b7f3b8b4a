//! Semantic checks of what a service provides and needs, on its intent alone: ports and
//! endpoints, probes, metrics, the dependency entries (docs/dependencies.md), resource
//! connection templates and placements, guardrail exemptions and exposure. Checks that need
//! the callees' contracts run at compile time (`super::dependencies`).

use super::Capabilities;
use crate::contract::{DEPENDENCY_PLACEHOLDERS, parse_template, ports_of};
use crate::diag::{Diagnostic, Span, join_pointer, one_of};
use crate::load::Document;
use crate::model::{DependencyEnv, Intent, MetricsSetting, Org, PortRef};
use crate::source::SourceFile;
use std::collections::{BTreeMap, BTreeSet};

struct At<'a> {
    file: &'a SourceFile,
    doc: &'a Document,
    diags: Vec<Diagnostic>,
}

impl At<'_> {
    fn span(&self, pointer: &str, key: bool) -> Option<Span> {
        if key {
            self.doc.spans.locate_key(self.file, pointer)
        } else {
            self.doc.spans.locate(self.file, pointer)
        }
    }
    fn diag(&self, d: Diagnostic, pointer: &str, key: bool) -> Diagnostic {
        d.in_file(&self.file.name)
            .at(self.span(pointer, key))
            .pointer(pointer)
    }
    fn error(&mut self, code: &'static str, msg: String, pointer: &str, help: String) {
        let d = self
            .diag(Diagnostic::error(code, msg), pointer, false)
            .help(help);
        self.diags.push(d);
    }
    fn error_key(&mut self, code: &'static str, msg: String, pointer: &str, help: String) {
        let d = self
            .diag(Diagnostic::error(code, msg), pointer, true)
            .help(help);
        self.diags.push(d);
    }
    fn exists(&self, pointer: &str) -> bool {
        self.doc.spans.get(pointer).is_some()
    }
}

pub fn check_intent(
    file: &SourceFile,
    doc: &Document,
    intent: &Intent,
    org: &Org,
    caps: &Capabilities,
) -> Vec<Diagnostic> {
    let mut c = At {
        file,
        doc,
        diags: Vec::new(),
    };
    ports(&mut c, intent);
    health(&mut c, intent);
    metrics(&mut c, intent);
    dependencies(&mut c, intent);
    resources(&mut c, intent, org, caps);
    exemptions(&mut c, intent, org);
    exposure(&mut c, intent, org);
    c.diags
}

fn ports(c: &mut At<'_>, intent: &Intent) {
    let spec = &intent.spec;
    let kind = intent.kind.as_str();
    let has_port = spec.port.is_some() || c.exists("/spec/port");
    let has_ports = !spec.ports.is_empty() || c.exists("/spec/ports");
    if !spec.endpoints.is_empty() && kind != "Service" && !kind.is_empty() {
        c.error_key(
            "semantic/endpoints-not-service",
            format!("a {kind} receives no inbound traffic, so it cannot have `endpoints`"),
            "/spec/endpoints",
            "remove `endpoints`, or set `kind: Service`".into(),
        );
    } else if (!spec.endpoints.is_empty() || kind == "Service") && !has_port && !has_ports {
        let (what, at) = if spec.endpoints.is_empty() {
            ("a Service needs", "/spec")
        } else {
            ("endpoints need", "/spec/endpoints")
        };
        let d = c
            .diag(
                Diagnostic::error(
                    "semantic/missing-port",
                    format!("{what} a `port` to receive traffic on"),
                ),
                at,
                true,
            )
            .pointer("/spec/port")
            .help("add `port: 8080` (the port your process listens on) under `spec`, or `ports: [{name: grpc, port: 50051, protocol: grpc}]`");
        c.diags.push(d);
    }
    for (field, present) in [("port", has_port), ("ports", has_ports)] {
        if present && (kind == "Worker" || kind == "CronJob") {
            c.error_key(
                "semantic/port-not-service",
                format!("a {kind} receives no inbound traffic, so `{field}` has no effect"),
                &format!("/spec/{field}"),
                format!("remove `{field}`, or set `kind: Service`"),
            );
        }
    }
    if has_port && has_ports {
        c.error_key(
            "semantic/port-and-ports",
            "`port` and `ports` are both set".into(),
            "/spec/ports",
            "keep `ports` (named ports with protocols) and remove `port`".into(),
        );
    }
    let mut seen: [BTreeMap<String, usize>; 3] = Default::default();
    for (i, p) in spec.ports.iter().enumerate() {
        let values = [
            ("name", p.name.clone()),
            ("port", p.port.map(|x| x.to_string()).unwrap_or_default()),
            (
                "service_port",
                p.service_port
                    .or(p.port)
                    .map(|x| x.to_string())
                    .unwrap_or_default(),
            ),
        ];
        for (k, (field, value)) in values.into_iter().enumerate() {
            if value.is_empty() {
                continue;
            }
            if let Some(first) = seen[k].insert(value.clone(), i) {
                let at = format!("/spec/ports/{i}/{field}");
                let at = if c.exists(&at) {
                    at
                } else {
                    format!("/spec/ports/{i}")
                };
                c.error(
                    "semantic/duplicate-port",
                    format!(
                        "ports {} and {} have the same {field} `{value}`",
                        first + 1,
                        i + 1
                    ),
                    &at,
                    format!("each port needs its own {field}"),
                );
            }
        }
    }
}

/// The port probes and metrics refer to by name: (name, protocol), primary first.
fn declared(intent: &Intent) -> Vec<(String, String, u16)> {
    ports_of(&intent.spec)
        .into_iter()
        .map(|p| (p.name, p.protocol, p.port))
        .collect()
}

fn health(c: &mut At<'_>, intent: &Intent) {
    let ports = declared(intent);
    let Some(h) = &intent.spec.health else {
        // A Service without health checks gets a probe from its primary port's protocol: a
        // gRPC health check is one, a TCP connect only sees an open port.
        if intent.kind == "Service" && !c.exists("/spec/health") {
            if let Some((name, _, _)) = ports.first().filter(|p| p.1 != "grpc") {
                let d = c
                    .diag(
                        Diagnostic::warning(
                            "semantic/no-health",
                            format!(
                                "{} declares no health checks: its pods get TCP probes on port `{name}`, which only see that the port is open",
                                match intent.metadata.name.as_str() {
                                    "" => "the service".to_string(),
                                    n => format!("`{n}`"),
                                }
                            ),
                        ),
                        "/spec",
                        true,
                    )
                    .pointer("/spec/health")
                    .help("add the paths your application answers, e.g. `health: {liveness: /healthz, readiness: /readyz}`; or `health: {probe: tcp}` to keep the TCP probe on purpose");
                c.diags.push(d);
            }
        }
        return;
    };
    let port = match &h.port {
        Some(name) => {
            match ports.iter().find(|p| &p.0 == name) {
                Some(p) => Some(p),
                None => {
                    let names: Vec<&str> = ports.iter().map(|p| p.0.as_str()).collect();
                    let d = c
                    .diag(
                        Diagnostic::error(
                            "semantic/health-port",
                            format!("health checks probe port `{name}`, which `ports` does not declare"),
                        ),
                        "/spec/health/port",
                        false,
                    )
                    .expected(one_of(&names))
                    .suggest(name, names.iter().copied(), "name a port of `ports`");
                    c.diags.push(d);
                    None
                }
            }
        }
        None => ports.first(),
    };
    let paths = h.path.is_some() || h.liveness.is_some() || h.readiness.is_some();
    let probe = h
        .probe
        .clone()
        .or_else(|| paths.then(|| "http".to_string()))
        .or_else(|| {
            port.map(|p| {
                if p.1 == "grpc" {
                    "grpc".into()
                } else {
                    "tcp".into()
                }
            })
        });
    let probe = probe.as_deref().unwrap_or("tcp");
    if let Some((name, protocol, _)) = port {
        let fits = match probe {
            "grpc" => protocol == "grpc",
            "http" => protocol == "http",
            _ => true,
        };
        if !fits {
            c.error(
                "semantic/health-protocol",
                format!("a {probe} probe on port `{name}`, which speaks {protocol}"),
                if c.exists("/spec/health/probe") {
                    "/spec/health/probe"
                } else {
                    "/spec/health"
                },
                format!("probe a port that speaks {probe}, or use `probe: tcp` (any port)"),
            );
        }
    }
    let only_http: [(&str, bool); 4] = [
        ("path", h.path.is_some()),
        ("liveness", h.liveness.is_some()),
        ("readiness", h.readiness.is_some()),
        ("headers", !h.headers.is_empty()),
    ];
    for (field, set) in only_http {
        if set && probe != "http" {
            c.error_key(
                "semantic/health-protocol",
                format!("`{field}` is for HTTP probes, not `probe: {probe}`"),
                &format!("/spec/health/{field}"),
                format!("remove `{field}`, or use `probe: http`"),
            );
        }
    }
    if h.path.is_some() && (h.liveness.is_some() || h.readiness.is_some()) {
        c.error_key(
            "semantic/health-path",
            "`path` sets both probes: it cannot go with `liveness` or `readiness`".into(),
            "/spec/health/path",
            "keep `path`, or `liveness` and `readiness`".into(),
        );
    }
    for (name, value) in &h.headers {
        if value.contains(['\r', '\n']) {
            c.error(
                "semantic/health-header",
                format!("the value of header `{name}` spans several lines"),
                &join_pointer("/spec/health/headers", name),
                "write the header value on one line".into(),
            );
        }
    }
    if h.service.is_some() && probe != "grpc" {
        c.error_key(
            "semantic/health-protocol",
            "`service` is for gRPC probes".into(),
            "/spec/health/service",
            "remove `service`, or use `probe: grpc`".into(),
        );
    }
    if let Some(s) = &h.startup {
        if crate::quantity::parse_duration_ms(s).is_none() {
            c.error(
                "semantic/duration",
                format!("`{s}` is not a duration"),
                "/spec/health/startup",
                "write a number followed by s or m, e.g. `60s`".into(),
            );
        }
    }
}

fn metrics(c: &mut At<'_>, intent: &Intent) {
    let Some(setting) = &intent.spec.metrics else {
        return;
    };
    if intent.kind == "CronJob" && !setting.off() {
        let d = c
            .diag(
                Diagnostic::error(
                    "semantic/metrics-cronjob",
                    "a CronJob is not scraped by Prometheus: remove `metrics`",
                ),
                "/spec/metrics",
                true,
            )
            .help("job alerts come from kube-state-metrics; push job metrics to a Pushgateway if you need more");
        c.diags.push(d);
        return;
    }
    let MetricsSetting::Scrape(mt) = setting else {
        return;
    };
    let ports = declared(intent);
    let on = |p: &(String, String, u16)| match &mt.port {
        Some(PortRef::Name(n)) => &p.0 == n,
        Some(PortRef::Number(n)) => p.2 == *n,
        None => false,
    };
    match (&mt.port, ports.iter().find(|p| on(p))) {
        (None, _) if c.exists("/spec/metrics/port") => {}
        (None, None) => match ports.first() {
            None => {
                let d = c
                    .diag(
                        Diagnostic::error(
                            "semantic/metrics-port",
                            "`metrics` needs a `port` when the workload has no `spec.port`",
                        ),
                        "/spec/metrics",
                        true,
                    )
                    .pointer("/spec/metrics/port")
                    .help("add the port the metrics are served on, e.g. `metrics: {port: 9090}`");
                c.diags.push(d);
            }
            Some((name, protocol, _)) if protocol != "http" => c.error_key(
                "semantic/metrics-protocol",
                format!("metrics would be scraped over HTTP from the primary port `{name}`, which speaks {protocol}"),
                "/spec/metrics",
                "name the HTTP port that serves them: `metrics: {port: 9090}`".into(),
            ),
            Some(_) => {}
        },
        (Some(PortRef::Name(n)), None) => {
            let names: Vec<&str> = ports.iter().map(|p| p.0.as_str()).collect();
            let d = c
                .diag(
                    Diagnostic::error(
                        "semantic/metrics-port",
                        format!("`metrics.port` names `{n}`, which `ports` does not declare"),
                    ),
                    "/spec/metrics/port",
                    false,
                )
                .expected(format!("a port number, or {}", one_of(&names)))
                .suggest(n, names.iter().copied(), "name a port of `ports`, or give a number");
            c.diags.push(d);
        }
        (Some(_), Some((name, protocol, _))) if protocol != "http" => c.error(
            "semantic/metrics-protocol",
            format!("Prometheus scrapes over HTTP, but port `{name}` speaks {protocol}"),
            "/spec/metrics/port",
            "serve the metrics on an HTTP port of their own, e.g. `metrics: {port: 9090}`".into(),
        ),
        _ => {}
    }
}

/// Every variable a dependency entry renders: (variable, entry index, pointer).
pub fn dependency_variables(intent: &Intent) -> Vec<(String, usize, String)> {
    let mut out = Vec::new();
    for (i, d) in intent.spec.dependencies.iter().enumerate() {
        let Some(c) = d.contract() else { continue };
        match &c.env {
            Some(DependencyEnv::Variable(v)) => {
                out.push((v.clone(), i, format!("/spec/dependencies/{i}/env")))
            }
            Some(DependencyEnv::Templates(m)) => {
                for v in m.keys() {
                    let p = join_pointer(&format!("/spec/dependencies/{i}/env"), v);
                    out.push((v.clone(), i, p));
                }
            }
            None => {}
        }
    }
    out
}

fn dependencies(c: &mut At<'_>, intent: &Intent) {
    let spec = &intent.spec;
    let mut names: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, d) in spec.dependencies.iter().enumerate() {
        let p = format!("/spec/dependencies/{i}");
        let name_at = if d.contract().is_some() {
            format!("{p}/name")
        } else {
            p.clone()
        };
        if d.name() == intent.metadata.name {
            c.error(
                "semantic/self-dependency",
                "a service cannot depend on itself".into(),
                &name_at,
                "remove it from `dependencies`".into(),
            );
        }
        if let Some(first) = names.insert(d.name(), i) {
            if first != i && !d.name().is_empty() {
                c.error(
                    "semantic/duplicate-dependency",
                    format!("`{}` is listed twice in `dependencies`", d.name()),
                    &name_at,
                    "list each service once; several variables go in one entry (`env` as a map)"
                        .into(),
                );
            }
        }
        let Some(dc) = d.contract() else { continue };
        match (&dc.env, &dc.form) {
            (Some(DependencyEnv::Templates(m)), Some(_)) => c.error_key(
                "semantic/dependency-form",
                "`form` applies to `env` naming one variable; templates give their own form".into(),
                &format!("{p}/form"),
                format!(
                    "remove `form`, or write the templates, e.g. {{{}: \"{{host}}:{{port}}\"}}",
                    m.keys().next().map_or("ADDR", String::as_str)
                ),
            ),
            (None, Some(_)) => c.error_key(
                "semantic/dependency-form",
                "`form` needs `env`, the variable the application reads".into(),
                &format!("{p}/form"),
                "add `env: <VARIABLE>`".into(),
            ),
            (Some(DependencyEnv::Templates(m)), None) => {
                for (var, t) in m {
                    if let Err((_, msg)) = parse_template(t, DEPENDENCY_PLACEHOLDERS) {
                        let at = join_pointer(&format!("{p}/env"), var);
                        let d = c
                            .diag(
                                Diagnostic::error(
                                    "semantic/dependency-template",
                                    format!("the template of `{var}` has {msg}"),
                                ),
                                &at,
                                false,
                            )
                            .expected(format!(
                                "text and {}",
                                placeholders(DEPENDENCY_PLACEHOLDERS)
                            ))
                            .help("e.g. `\"{host}:{port}\"` or `\"{url}/v1\"`");
                        c.diags.push(d);
                    }
                }
            }
            _ => {}
        }
    }
    // A rendered variable must not also be set by hand (or be a secret).
    let mut own: BTreeSet<String> = spec.env.keys().cloned().collect();
    for o in spec.environments.values() {
        own.extend(o.env.keys().cloned());
    }
    own.extend(spec.secrets.iter().cloned());
    let mut rendered: BTreeMap<String, String> = BTreeMap::new();
    for (var, _, pointer) in dependency_variables(intent) {
        if own.contains(&var) {
            c.error_key(
                "semantic/env-clash",
                format!("`{var}` is rendered from a dependency and also set in `env` or `secrets`"),
                &pointer,
                format!("remove `{var}` from `env`: pctl renders the address"),
            );
        }
        if let Some(first) = rendered.insert(var.clone(), pointer.clone()) {
            let _ = first;
            c.error_key(
                "semantic/env-clash",
                format!("`{var}` is rendered by two dependencies"),
                &pointer,
                "give each address its own variable".into(),
            );
        }
    }
}

fn placeholders(list: &[&str]) -> String {
    list.iter()
        .map(|p| format!("{{{p}}}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn resources(c: &mut At<'_>, intent: &Intent, org: &Org, caps: &Capabilities) {
    let spec = &intent.spec;
    let regs = &org.spec.registries;
    let rendered: BTreeSet<String> = dependency_variables(intent)
        .into_iter()
        .map(|v| v.0)
        .collect();
    let mut seen_vars: BTreeSet<&str> = BTreeSet::new();
    for (name, r) in &spec.resources {
        let base = join_pointer("/spec/resources", name);
        let Some(rt) = r.kind.as_deref().and_then(|t| caps.resource_type(t)) else {
            continue;
        };
        let props: Vec<&str> = rt.connection.keys().map(String::as_str).collect();
        // Every environment where it runs in the cluster must have what the templates use.
        let in_cluster_envs: Vec<&str> = spec
            .environments
            .iter()
            .filter(|(_, o)| r.merged(o.resources.get(name)).in_cluster())
            .map(|(e, _)| e.as_str())
            .collect();
        let available: Vec<&str> = rt
            .in_cluster
            .as_ref()
            .map(|ic| ic.properties())
            .unwrap_or_default();
        for (var, template) in &r.env {
            let at = join_pointer(&format!("{base}/env"), var);
            if !seen_vars.insert(var)
                || rendered.contains(var)
                || spec.env.contains_key(var)
                || spec.secrets.contains(var)
            {
                c.error_key(
                    "semantic/env-clash",
                    format!(
                        "`{var}` is set twice (by a resource, a dependency, `env` or `secrets`)"
                    ),
                    &at,
                    "give each value its own variable".into(),
                );
            }
            match parse_template(template, &props) {
                Err((_, msg)) => {
                    let d = c
                        .diag(
                            Diagnostic::error(
                                "semantic/resource-placeholder",
                                format!("the template of `{var}` has {msg}"),
                            ),
                            &at,
                            false,
                        )
                        .expected(format!(
                            "text and {} (the connection of a {})",
                            placeholders(&props),
                            rt.name
                        ))
                        .help("e.g. `\"{host}:{port}\"`");
                    c.diags.push(d);
                }
                Ok(parts) => {
                    for p in parts {
                        let crate::contract::Part::Property(prop) = p else {
                            continue;
                        };
                        if let Some(env) = in_cluster_envs
                            .first()
                            .filter(|_| !available.contains(&prop.as_str()))
                        {
                            let d = c
                                .diag(
                                    Diagnostic::error(
                                        "semantic/resource-placeholder",
                                        format!("`{{{prop}}}` has no value for a {} that runs in the cluster (in `{env}`)", rt.name),
                                    ),
                                    &at,
                                    false,
                                )
                                .expected(format!("in the cluster: {}", placeholders(&available)))
                                .help(format!("use `placement: managed` where the application needs `{{{prop}}}`, or leave it out of the template"));
                            c.diags.push(d);
                        }
                    }
                }
            }
        }
        let images = std::iter::once((base.clone(), r.image.as_ref())).chain(
            spec.environments.iter().map(|(e, o)| {
                let p = join_pointer(
                    &join_pointer(&crate::diag::env_pointer(e), "resources"),
                    name,
                );
                (p, o.resources.get(name).and_then(|x| x.image.as_ref()))
            }),
        );
        for (p, image) in images {
            let Some(image) = image else { continue };
            if !regs.is_empty() && !regs.iter().any(|reg| crate::image::in_registry(image, reg)) {
                if let Some(sev) = crate::guardrails::level(org, "registry") {
                    let mut d = c
                        .diag(
                            Diagnostic::error(
                                "semantic/registry",
                                format!("image `{image}` is not from an allowed registry"),
                            ),
                            &format!("{p}/image"),
                            false,
                        )
                        .expected(format!("an image under {}", one_of(regs)))
                        .help("mirror the image into one of the organisation's registries");
                    d.severity = sev;
                    c.diags.push(d);
                }
            }
        }
    }
}

fn exemptions(c: &mut At<'_>, intent: &Intent, org: &Org) {
    let known: Vec<&str> = crate::guardrails::GUARDRAILS.iter().map(|g| g.0).collect();
    // Findings on the intent alone can be exempted (policy::check_intent); the others
    // (registry, labels, budget) are the organisation's to relax.
    const EXEMPTABLE: &[&str] = &[
        "latest_tag",
        "production_replicas",
        "production_contacts",
        "sizes",
    ];
    for (i, e) in intent.spec.exemptions.iter().enumerate() {
        let p = format!("/spec/exemptions/{i}");
        if !e.guardrail.is_empty() && !known.contains(&e.guardrail.as_str()) {
            let d = c
                .diag(
                    Diagnostic::error(
                        "semantic/unknown-guardrail",
                        format!("there is no guardrail `{}`", e.guardrail),
                    ),
                    &format!("{p}/guardrail"),
                    false,
                )
                .expected(one_of(&known))
                .suggest(
                    &e.guardrail,
                    known.iter().copied(),
                    "name a built-in guardrail",
                );
            c.diags.push(d);
        } else if !e.guardrail.is_empty()
            && (!org.exemptable(&e.guardrail) || !EXEMPTABLE.contains(&e.guardrail.as_str()))
        {
            let d = c
                .diag(
                    Diagnostic::error(
                        "semantic/not-exemptable",
                        format!("the organisation does not let services exempt themselves from `{}`", e.guardrail),
                    ),
                    &format!("{p}/guardrail"),
                    false,
                )
                .note("pctl-org.yaml `exemptable` lists the guardrails a service may exempt itself from")
                .help("meet the guardrail, or ask the platform team to make it exemptable");
            c.diags.push(d);
        }
        if !e.reason.is_empty() && e.reason.trim().chars().count() < 20 {
            c.error(
                "semantic/exemption-reason",
                "the reason of an exemption must say why, for reviewers (at least 20 characters)"
                    .into(),
                &format!("{p}/reason"),
                "e.g. `reason: Synthetic load generator: a second replica doubles the load.`"
                    .into(),
            );
        }
        for (j, env) in e.environments.iter().enumerate() {
            if !intent.spec.environments.contains_key(env) {
                let names: Vec<&str> = intent
                    .spec
                    .environments
                    .keys()
                    .map(String::as_str)
                    .collect();
                let d = c
                    .diag(
                        Diagnostic::error(
                            "semantic/exemption-environment",
                            format!(
                                "the exemption names `{env}`, where this service is not deployed"
                            ),
                        ),
                        &format!("{p}/environments/{j}"),
                        false,
                    )
                    .expected(one_of(&names))
                    .suggest(
                        env,
                        names.iter().copied(),
                        "name an environment of `environments`",
                    );
                c.diags.push(d);
            }
        }
        if let Some(r) = &e.resource {
            let in_cluster = |x: &crate::model::Resource| {
                x.in_cluster()
                    || intent
                        .spec
                        .environments
                        .values()
                        .any(|o| x.merged(o.resources.get(r)).in_cluster())
            };
            if !intent.spec.resources.get(r).is_some_and(in_cluster) {
                let names: Vec<&str> = intent.spec.resources.keys().map(String::as_str).collect();
                let d = c
                    .diag(
                        Diagnostic::error(
                            "semantic/exemption-resource",
                            format!("the exemption names resource `{r}`, which is not an in-cluster resource of this service"),
                        ),
                        &format!("{p}/resource"),
                        false,
                    )
                    .expected(one_of(&names))
                    .help("name a resource of `resources` with `placement: in-cluster`, or remove `resource` to exempt the workload");
                c.diags.push(d);
            }
        }
    }
}

fn exposure(c: &mut At<'_>, intent: &Intent, org: &Org) {
    let spec = &intent.spec;
    let public = spec.endpoints.iter().any(|e| e.public);
    let gateway = org.spec.exposure.as_ref().and_then(|e| e.gateway.as_ref());
    let default = org
        .spec
        .exposure
        .as_ref()
        .and_then(|e| e.default.as_deref());
    // Where each environment's exposure is chosen: its own, the service's, the organisation's.
    let mut gateway_at: Vec<String> = Vec::new();
    for (env, o) in &spec.environments {
        let (mode, at) = match (&o.exposure, &spec.exposure) {
            (Some(m), _) => (
                Some(m.as_str()),
                join_pointer(&crate::diag::env_pointer(env), "exposure"),
            ),
            (None, Some(m)) => (Some(m.as_str()), "/spec/exposure".to_string()),
            (None, None) => (default, "/spec/endpoints".to_string()),
        };
        if mode == Some("gateway")
            && gateway.is_none()
            && (public || at != "/spec/endpoints")
            && !gateway_at.contains(&at)
        {
            gateway_at.push(at);
        }
    }
    for at in gateway_at {
        let key = at == "/spec/endpoints";
        let d = c
            .diag(
                Diagnostic::error(
                    "semantic/no-gateway",
                    "`exposure: gateway` needs the organisation's Gateway (`exposure.gateway` in pctl-org.yaml)",
                ),
                &at,
                key,
            )
            .help("ask the platform team to set `exposure.gateway` (name, namespace), or choose `exposure: ingress`");
        c.diags.push(d);
    }
    if public && !declared(intent).iter().any(|p| p.1 == "http") {
        c.error_key(
            "semantic/exposure-port",
            "public endpoints need an HTTP port to expose".into(),
            "/spec/endpoints",
            "add a port with `protocol: http`, or make the endpoints private".into(),
        );
    }
}
