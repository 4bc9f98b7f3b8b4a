//! Cross-object correctness: every file of a golden tree passes its schema (tests/oracle.rs),
//! and here the objects of a tree are checked against each other, as a cluster, Argo CD,
//! Alertmanager and Backstage would use them together:
//!
//! - selectors select what they mean to (Service, ServiceMonitor, PDB, HPA, NetworkPolicy,
//!   Rollout, Canary, Ingress), and every port they name exists;
//! - a NetworkPolicy admits every connection its service's configuration makes: DNS, the
//!   OpenTelemetry collector of `OTEL_EXPORTER_OTLP_ENDPOINT`, in-cluster addresses and
//!   declared callees, its own data stores' ports;
//! - the owning team can work in its namespaces (RoleBinding), the namespace's quota admits
//!   the workload at its largest during a rollout, and defaults exist for other pods;
//! - alerts of a service with `oncall` reach its team's receivers, pages and tickets apart;
//! - every Backstage reference resolves in the tree, no URL is empty or a placeholder;
//! - Argo CD projects confine each team to its namespaces and the deploy repository;
//! - every pod a Service sends traffic to has readiness and liveness probes on its own ports.
//!
//! The helpers (objects by kind, pods of a workload, ports, NetworkPolicy evaluation, ...) are
//! in `cross_object/tree.rs`; a new invariant is a helper there and a check here.

use crate::support;
#[path = "cross_object/tree.rs"]
mod tree;

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use tree::*;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// A golden tree with the organisation config it was rendered with.
struct Case {
    name: String,
    tree: Tree,
    org: Value,
    /// Rendered with `--all`: the organisation's whole catalog is in the tree.
    all: bool,
    /// Rendered with an organisation's blueprint folder (its add-ons may replace built-ins).
    overrides: bool,
}

impl Case {
    fn team<'a>(&'a self, name: &str) -> &'a Value {
        self.org["spec"]["teams"]
            .as_array()
            .and_then(|t| t.iter().find(|t| t["name"] == name))
            .unwrap_or(&Value::Null)
    }
    fn protected(&self, env: &str) -> bool {
        self.org["spec"]["environments"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|e| e["name"] == env && e["protected"] == true)
    }
    fn gitops(&self) -> &str {
        self.org["spec"]["gitops"].as_str().unwrap_or("argocd")
    }
}

fn cases_in(root: &Path) -> Vec<Case> {
    let mut cases = Vec::new();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("expected").is_dir())
        .collect();
    dirs.sort();
    for dir in dirs {
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        let args: Vec<String> = std::fs::read_to_string(dir.join("args"))
            .unwrap()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_string)
            .collect();
        let input = args
            .iter()
            .enumerate()
            .find(|(i, a)| !a.starts_with('-') && (*i == 0 || args[i - 1] != "--blueprints"))
            .map(|(_, a)| a.clone())
            .expect("an input path");
        // As pctl finds it: in the input's folder or a folder above it (within the checkout).
        let org_file = Path::new(ROOT)
            .join(&input)
            .ancestors()
            .take_while(|d| d.starts_with(ROOT))
            .map(|d| d.join("pctl-org.yaml"))
            .find(|f| f.exists())
            .unwrap_or_else(|| Path::new(ROOT).join("examples/pctl-org.yaml"));
        let org: Value = serde_yaml::from_str(&std::fs::read_to_string(org_file).unwrap()).unwrap();
        cases.push(Case {
            tree: Tree::load(&dir.join("expected"), &name),
            name,
            org,
            all: args.iter().any(|a| a == "--all"),
            overrides: args.iter().any(|a| a == "--blueprints"),
        });
    }
    cases
}

/// Every golden tree (`PCTL_CROSS_OBJECT_TREES=<dir of cases>` checks other trees, e.g. main's,
/// to see which checks today's output fails).
fn cases() -> Vec<Case> {
    let root = std::env::var("PCTL_CROSS_OBJECT_TREES")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(ROOT).join("golden-tests"));
    let cases = cases_in(&root);
    assert!(cases.len() >= 5, "only {} golden trees", cases.len());
    cases
}

fn assert_none(what: &str, failures: Vec<String>) {
    assert!(
        failures.is_empty(),
        "{what}: {} problem(s)\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
}

// ---------------------------------------------------------------------------------------------
// Selectors and ports

#[test]
fn selectors_select_what_they_mean_to_and_ports_exist() {
    let mut bad = Vec::new();
    let mut checked = 0;
    for case in cases() {
        let t = &case.tree;
        for dir in t.dirs() {
            let ws = workloads(t, &dir);
            let svcs = services(t, &dir);
            let at = |o: &Obj| format!("{}: {}", case.name, o.at());
            for o in t.in_dir(&dir) {
                checked += 1;
                let spec = o.spec();
                match o.kind() {
                    "Deployment" | "Rollout" | "StatefulSet" | "DaemonSet"
                        if !selector_matches(&spec["selector"], &pod_labels(&o.v)) =>
                    {
                        bad.push(format!("{}: selector does not match its pod labels", at(o)));
                    }
                    "Service" => {
                        let sel = spec["selector"].as_object().cloned().unwrap_or_default();
                        let pods: Vec<&Workload> = ws
                            .iter()
                            .filter(|w| !sel.is_empty() && map_matches(&sel, &w.pod_labels))
                            .collect();
                        if pods.is_empty() {
                            bad.push(format!("{}: selects no pod of the folder", at(o)));
                        }
                        for p in spec["ports"].as_array().into_iter().flatten() {
                            let target = if p["targetPort"].is_null() {
                                &p["port"]
                            } else {
                                &p["targetPort"]
                            };
                            for w in &pods {
                                if resolve_port(&w.pod_spec, target).is_none_or(|n| {
                                    !pod_ports(&w.pod_spec).iter().any(|x| x.number == n)
                                }) {
                                    bad.push(format!(
                                        "{}: targetPort {target} is not a port of {}",
                                        at(o),
                                        w.name
                                    ));
                                }
                            }
                        }
                    }
                    "ServiceMonitor" => {
                        let namespaces: Vec<String> = spec["namespaceSelector"]["matchNames"]
                            .as_array()
                            .map(|a| {
                                a.iter()
                                    .filter_map(|x| x.as_str().map(String::from))
                                    .collect()
                            })
                            .unwrap_or_else(|| vec![o.namespace().to_string()]);
                        let mut selected = Vec::new();
                        for ns in namespaces {
                            let d = Dir {
                                env: dir.env.clone(),
                                service: ns,
                            };
                            for s in services(t, &d) {
                                if selector_matches(&spec["selector"], &s.labels) {
                                    selected.push((d.clone(), s));
                                }
                            }
                        }
                        if selected.is_empty() {
                            bad.push(format!("{}: selects no Service", at(o)));
                        }
                        for ep in spec["endpoints"].as_array().into_iter().flatten() {
                            for (d, s) in &selected {
                                let ok = if let Some(name) = ep["port"].as_str() {
                                    s.ports.iter().any(|p| p["name"] == name)
                                } else {
                                    workloads(t, d)
                                        .iter()
                                        .filter(|w| map_matches(&s.selector, &w.pod_labels))
                                        .any(|w| {
                                            resolve_port(&w.pod_spec, &ep["targetPort"])
                                                .is_some_and(|n| {
                                                    pod_ports(&w.pod_spec)
                                                        .iter()
                                                        .any(|x| x.number == n)
                                                })
                                        })
                                };
                                if !ok {
                                    bad.push(format!(
                                        "{}: endpoint {} is not a port of Service {}",
                                        at(o),
                                        ep,
                                        s.name
                                    ));
                                }
                            }
                        }
                    }
                    "PodDisruptionBudget"
                        if !ws
                            .iter()
                            .any(|w| selector_matches(&spec["selector"], &w.pod_labels)) =>
                    {
                        bad.push(format!("{}: selects no pod of the folder", at(o)));
                    }
                    "HorizontalPodAutoscaler" => {
                        let r = &spec["scaleTargetRef"];
                        let target = ws.iter().find(|w| {
                            !w.synthesized
                                && r["kind"] == w.kind.as_str()
                                && r["name"] == w.name.as_str()
                        });
                        match target {
                            None => bad.push(format!(
                                "{}: scales {}/{}, which is not in the folder",
                                at(o),
                                r["kind"],
                                r["name"]
                            )),
                            Some(w) if w.object["apiVersion"] != r["apiVersion"] => {
                                bad.push(format!(
                                    "{}: scaleTargetRef apiVersion {} but the {} is {}",
                                    at(o),
                                    r["apiVersion"],
                                    w.kind,
                                    w.object["apiVersion"]
                                ))
                            }
                            _ => {}
                        }
                    }
                    "NetworkPolicy"
                        if !ws
                            .iter()
                            .any(|w| selector_matches(&spec["podSelector"], &w.pod_labels)) =>
                    {
                        bad.push(format!("{}: selects no pod of the folder", at(o)));
                    }
                    "Ingress" => {
                        for rule in spec["rules"].as_array().into_iter().flatten() {
                            for p in rule["http"]["paths"].as_array().into_iter().flatten() {
                                let b = &p["backend"]["service"];
                                match svcs.iter().find(|s| b["name"] == s.name.as_str()) {
                                    None => bad.push(format!(
                                        "{}: backend Service {} does not exist",
                                        at(o),
                                        b["name"]
                                    )),
                                    Some(s) => {
                                        let ok = s.ports.iter().any(|sp| {
                                            (b["port"]["name"].is_string()
                                                && sp["name"] == b["port"]["name"])
                                                || (b["port"]["number"].is_number()
                                                    && sp["port"] == b["port"]["number"])
                                        });
                                        if !ok {
                                            bad.push(format!(
                                                "{}: backend port {} is not a port of Service {}",
                                                at(o),
                                                b["port"],
                                                s.name
                                            ));
                                        }
                                    }
                                }
                            }
                        }
                    }
                    _ => {}
                }
                if o.kind() == "Rollout" {
                    let c = &spec["strategy"]["canary"];
                    for key in ["stableService", "canaryService"] {
                        if let Some(name) = c[key].as_str() {
                            match svcs.iter().find(|s| s.name == name) {
                                None => bad.push(format!("{}: {key} {name} does not exist", at(o))),
                                Some(s) if !map_matches(&s.selector, &pod_labels(&o.v)) => bad
                                    .push(format!(
                                        "{}: {key} {name} does not select the Rollout's pods",
                                        at(o)
                                    )),
                                _ => {}
                            }
                        }
                    }
                    if let Some(ing) = c["trafficRouting"]["nginx"]["stableIngress"].as_str() {
                        if t.find(&dir, "Ingress", ing).is_none() {
                            bad.push(format!("{}: stableIngress {ing} does not exist", at(o)));
                        }
                    }
                    let mut templates = Vec::new();
                    for tpl in c["analysis"]["templates"].as_array().into_iter().flatten() {
                        templates.push(tpl["templateName"].clone());
                    }
                    for step in c["steps"].as_array().into_iter().flatten() {
                        for tpl in step["analysis"]["templates"]
                            .as_array()
                            .into_iter()
                            .flatten()
                        {
                            templates.push(tpl["templateName"].clone());
                        }
                    }
                    for name in templates {
                        if t.find(&dir, "AnalysisTemplate", name.as_str().unwrap_or_default())
                            .is_none()
                        {
                            bad.push(format!("{}: AnalysisTemplate {name} does not exist", at(o)));
                        }
                    }
                }
                if o.kind() == "Canary" {
                    for (key, kind) in [
                        ("targetRef", None),
                        ("autoscalerRef", Some("HorizontalPodAutoscaler")),
                        ("ingressRef", Some("Ingress")),
                    ] {
                        let r = &spec[key];
                        if r.is_null() {
                            continue;
                        }
                        let kind = kind.or(r["kind"].as_str()).unwrap_or_default();
                        if t.find(&dir, kind, r["name"].as_str().unwrap_or_default())
                            .is_none()
                        {
                            bad.push(format!(
                                "{}: {key} {kind}/{} does not exist",
                                at(o),
                                r["name"]
                            ));
                        }
                    }
                    for m in spec["analysis"]["metrics"].as_array().into_iter().flatten() {
                        if let Some(name) = m["templateRef"]["name"].as_str() {
                            if t.find(&dir, "MetricTemplate", name).is_none() {
                                bad.push(format!(
                                    "{}: MetricTemplate {name} does not exist",
                                    at(o)
                                ));
                            }
                        }
                    }
                }
            }
            // Every workload is covered where the folder has budgets and policies at all. A
            // budget matters only for pods that can be more than one: a Deployment fixed at one
            // replica (an in-cluster companion) can only get a budget that lets its pod go
            // (maxUnavailable 1: no effect) or one that blocks every node drain (minAvailable 1).
            let scalable = |w: &Workload| {
                w.object["spec"]["replicas"].as_u64().is_none_or(|n| n > 1)
                    || t.kind_in(&dir, "HorizontalPodAutoscaler").iter().any(|h| {
                        h.spec()["scaleTargetRef"]["name"] == w.name.trim_end_matches("-primary")
                    })
            };
            for (kind, field) in [
                ("PodDisruptionBudget", "selector"),
                ("NetworkPolicy", "podSelector"),
            ] {
                let objs = t.kind_in(&dir, kind);
                if objs.is_empty() {
                    continue;
                }
                for w in ws.iter().filter(|w| {
                    kind == "NetworkPolicy"
                        || (matches!(w.kind.as_str(), "Deployment" | "Rollout") && scalable(w))
                }) {
                    if !objs
                        .iter()
                        .any(|o| selector_matches(&o.spec()[field], &w.pod_labels))
                    {
                        bad.push(format!(
                            "{}: {}/{} {} is selected by no {kind}",
                            case.name,
                            dir.path(),
                            w.kind,
                            w.name
                        ));
                    }
                }
            }
        }
    }
    assert!(checked > 300, "only {checked} objects checked");
    assert_none("selectors and ports", bad);
}

// ---------------------------------------------------------------------------------------------
// Network policies against the service's own configuration

/// What a workload's configuration connects to, found in the rendered objects alone. A pod
/// whose configuration names no host (an in-cluster companion: Redis, PostgreSQL) resolves
/// nothing and sends no telemetry.
fn connections(case: &Case, dir: &Dir, w: &Workload) -> Vec<(String, Dest)> {
    let t = &case.tree;
    let mut out = Vec::new();
    if !names_hosts(t, dir, w) {
        return out;
    }
    let mut dns = serde_json::Map::new();
    dns.insert("k8s-app".into(), "kube-dns".into());
    for protocol in ["UDP", "TCP"] {
        out.push((
            "DNS".to_string(),
            Dest {
                peer: Peer::Pod {
                    namespace: "kube-system".into(),
                    labels: dns.clone(),
                },
                port: 53,
                protocol,
            },
        ));
    }
    let config = t.config_of(dir, w);
    if let Some(endpoint) = config.get("OTEL_EXPORTER_OTLP_ENDPOINT") {
        let peer = match in_cluster_address(endpoint) {
            Some(a) => Some((Peer::namespace(&a.namespace), a.port)),
            None => url_parts(endpoint).map(|(_, host, port)| {
                (
                    Peer::Ip(host.parse().unwrap_or("203.0.113.10".parse().unwrap())),
                    port,
                )
            }),
        };
        match peer {
            Some((peer, port)) => out.push((
                format!("the OTLP collector {endpoint}"),
                Dest {
                    peer,
                    port,
                    protocol: "TCP",
                },
            )),
            None => out.push((
                format!("OTEL_EXPORTER_OTLP_ENDPOINT `{endpoint}` (not a URL)"),
                Dest {
                    peer: Peer::Ip("0.0.0.0".parse().unwrap()),
                    port: 0,
                    protocol: "none",
                },
            )),
        }
    }
    for (what, port) in data_store_ports(t, dir) {
        out.push((
            format!("its data store {what}"),
            Dest {
                peer: Peer::AnyPrivate,
                port,
                protocol: "TCP",
            },
        ));
    }
    out
}

#[test]
fn network_policies_admit_every_connection_the_service_config_makes() {
    let mut bad = Vec::new();
    let mut checked = 0;
    for case in cases() {
        let t = &case.tree;
        for dir in t.dirs() {
            let callees: Vec<String> = t
                .kind_in(&dir, "Namespace")
                .iter()
                .flat_map(|ns| ns.labels().into_iter())
                .filter_map(|(k, v)| {
                    (v == "true")
                        .then(|| k.strip_prefix("pctl.dev/calls-").map(String::from))
                        .flatten()
                })
                .collect();
            for w in workloads(t, &dir) {
                let config = t.config_of(&dir, &w);
                for (what, dest) in &connections(&case, &dir, &w) {
                    checked += 1;
                    if !egress_admits(t, &dir, &w, dest) {
                        bad.push(format!("{}: {}/{} cannot reach {what} ({dest}): no NetworkPolicy egress rule admits it", case.name, dir.path(), w.name));
                    }
                }
                // In-cluster addresses in its configuration (dependencies' URLs, ...).
                for (var, value) in &config {
                    let Some(addr) = in_cluster_address(value) else {
                        continue;
                    };
                    if var == "OTEL_EXPORTER_OTLP_ENDPOINT" {
                        continue;
                    }
                    checked += 1;
                    // To the pods behind the Service: a rule may select them by label (in
                    // its own namespace without a namespaceSelector).
                    let ok = match backends(t, &dir.env, &addr) {
                        Some(pods) => pods.iter().any(|(port, labels)| {
                            egress_admits(
                                t,
                                &dir,
                                &w,
                                &Dest {
                                    peer: Peer::Pod {
                                        namespace: addr.namespace.clone(),
                                        labels: labels.clone(),
                                    },
                                    port: *port,
                                    protocol: "TCP",
                                },
                            )
                        }),
                        None => egress_admits_namespace(t, &dir, &w, &addr.namespace),
                    };
                    if !ok {
                        bad.push(format!("{}: {}/{} cannot reach {var}={value}: no egress rule admits namespace {}", case.name, dir.path(), w.name, addr.namespace));
                    }
                }
                let calls = names_hosts(t, &dir, &w);
                for callee in callees.iter().filter(|_| calls) {
                    checked += 1;
                    if !egress_admits_namespace(t, &dir, &w, callee) {
                        bad.push(format!("{}: {}/{} declares it calls {callee}, but no egress rule admits that namespace", case.name, dir.path(), w.name));
                    }
                }
            }
        }
    }
    assert!(checked > 100, "only {checked} connections checked");
    assert_none("egress", bad);
}

#[test]
fn the_network_policy_model_is_not_vacuous() {
    // The helpers must reject what a cluster rejects, or the checks above prove nothing.
    let case = cases()
        .into_iter()
        .find(|c| c.name == "acme-argocd")
        .unwrap();
    let dir = Dir {
        env: "prod".into(),
        service: "payment-api".into(),
    };
    let w = workloads(&case.tree, &dir).into_iter().next().unwrap();
    let dest = |ns: &str, port| Dest {
        peer: Peer::namespace(ns),
        port,
        protocol: "TCP",
    };
    assert!(!egress_admits(
        &case.tree,
        &dir,
        &w,
        &dest("observability", 9999)
    ));
    assert!(!egress_admits(
        &case.tree,
        &dir,
        &w,
        &dest("some-other-service", 8080)
    ));
    assert!(!egress_admits(
        &case.tree,
        &dir,
        &w,
        &Dest {
            peer: Peer::AnyPrivate,
            port: 3306,
            protocol: "TCP"
        }
    ));
    assert!(egress_admits(
        &case.tree,
        &dir,
        &w,
        &Dest {
            peer: Peer::Ip("8.8.8.8".parse().unwrap()),
            port: 443,
            protocol: "TCP"
        }
    ));
    assert!(!egress_admits(
        &case.tree,
        &dir,
        &w,
        &Dest {
            peer: Peer::Ip("10.1.2.3".parse().unwrap()),
            port: 8080,
            protocol: "TCP"
        }
    ));
    assert!(cidr_covers("0.0.0.0/0", "10.0.0.0/8") && !cidr_covers("10.0.0.0/8", "0.0.0.0/0"));
    assert_eq!(
        in_cluster_address("http://opentelemetry-collector.observability.svc:4317"),
        Some(ClusterAddr {
            service: "opentelemetry-collector".into(),
            namespace: "observability".into(),
            port: 4317
        })
    );
    assert_eq!(
        in_cluster_address("http://auth-service.auth-service.svc.cluster.local").map(|a| a.port),
        Some(80)
    );
    assert_eq!(in_cluster_address("a: b"), None);

    // Companions: a pod whose configuration names no host needs no egress; the service reaches
    // its companion by a podSelector in its own namespace, and only there.
    let boutique = cases().into_iter().find(|c| c.name == "boutique").unwrap();
    let dir = Dir {
        env: "dev".into(),
        service: "cartservice".into(),
    };
    let ws = workloads(&boutique.tree, &dir);
    let named = |n: &str| ws.iter().find(|w| w.name == n).unwrap();
    let (cart, redis) = (named("cartservice"), named("cartservice-cart"));
    assert!(names_hosts(&boutique.tree, &dir, cart));
    assert!(!names_hosts(&boutique.tree, &dir, redis));
    let addr = in_cluster_address("cartservice-cart.cartservice.svc.cluster.local:6379").unwrap();
    let (port, labels) = backends(&boutique.tree, "dev", &addr).unwrap().remove(0);
    let to = |namespace: &str| Dest {
        peer: Peer::Pod {
            namespace: namespace.into(),
            labels: labels.clone(),
        },
        port,
        protocol: "TCP",
    };
    assert!(egress_admits(
        &boutique.tree,
        &dir,
        cart,
        &to("cartservice")
    ));
    assert!(!egress_admits(&boutique.tree, &dir, cart, &to("elsewhere")));
    assert!(!egress_admits(
        &boutique.tree,
        &dir,
        redis,
        &to("cartservice")
    ));
}

#[test]
fn the_selector_and_port_model_is_not_vacuous() {
    let labels: serde_json::Map<String, Value> = serde_json::from_value(
        serde_json::json!({"app.kubernetes.io/name": "storefront-primary", "tier": "web"}),
    )
    .unwrap();
    let sel = |v: Value| selector_matches(&v, &labels);
    assert!(sel(serde_json::json!({"matchLabels": {"tier": "web"}})));
    assert!(!sel(serde_json::json!({"matchLabels": {"tier": "db"}})));
    assert!(sel(
        serde_json::json!({"matchExpressions": [{"key": "app.kubernetes.io/name", "operator": "In", "values": ["storefront", "storefront-primary"]}]})
    ));
    assert!(!sel(
        serde_json::json!({"matchExpressions": [{"key": "app.kubernetes.io/name", "operator": "NotIn", "values": ["storefront-primary"]}]})
    ));
    assert!(!sel(
        serde_json::json!({"matchExpressions": [{"key": "missing", "operator": "Exists"}]})
    ));
    // Flagger's copies: the primary Deployment and the Services it owns
    let flagger = cases()
        .into_iter()
        .find(|c| c.name == "acme-flagger")
        .unwrap();
    let dir = Dir {
        env: "prod".into(),
        service: "storefront".into(),
    };
    let ws = workloads(&flagger.tree, &dir);
    let primary = ws
        .iter()
        .find(|w| w.name == "storefront-primary")
        .expect("Flagger's primary");
    assert_eq!(
        primary.pod_labels["app.kubernetes.io/name"],
        "storefront-primary"
    );
    let apex = services(&flagger.tree, &dir)
        .into_iter()
        .find(|s| s.name == "storefront")
        .unwrap();
    assert!(map_matches(&apex.selector, &primary.pod_labels));
    // a dependency's Service port resolves to its container port
    let argo = cases()
        .into_iter()
        .find(|c| c.name == "acme-argocd")
        .unwrap();
    let addr = in_cluster_address("http://auth-service.auth-service.svc.cluster.local").unwrap();
    let ports =
        backend_ports(&argo.tree, "prod", &addr).expect("auth-service's Service in the tree");
    assert!(!ports.is_empty() && !ports.contains(&80), "{ports:?}");
    // a canary runs twice its replicas (and a surge); the quota model knows it
    let rollout_dir = Dir {
        env: "prod".into(),
        service: "payment-api".into(),
    };
    let rollout = workloads(&argo.tree, &rollout_dir)
        .into_iter()
        .find(|w| w.kind == "Rollout")
        .unwrap();
    assert_eq!(max_pods(&argo.tree, &rollout_dir, &rollout), 2 * 10 + 3);
}

// ---------------------------------------------------------------------------------------------
// Team access: RoleBindings, quotas, limits

/// The most pods a workload runs at once: its replicas (or its autoscaler's maximum), plus the
/// surge of a rolling update (none with `Recreate`), plus a whole canary or preview copy for
/// progressive delivery.
fn max_pods(t: &Tree, dir: &Dir, w: &Workload) -> u64 {
    let o = &w.object;
    let hpa_max = t
        .kind_in(dir, "HorizontalPodAutoscaler")
        .iter()
        .find(|h| h.spec()["scaleTargetRef"]["name"] == w.name.trim_end_matches("-primary"))
        .and_then(|h| h.spec()["maxReplicas"].as_u64());
    let n = hpa_max.or(o["spec"]["replicas"].as_u64()).unwrap_or(1);
    let surge = |s: &Value| match s {
        Value::String(p) if p.ends_with('%') => {
            let pct: u64 = p.trim_end_matches('%').parse().unwrap_or(25);
            (n * pct).div_ceil(100)
        }
        Value::Number(x) => x.as_u64().unwrap_or(0),
        _ => n.div_ceil(4),
    };
    match w.kind.as_str() {
        "CronJob" => {
            o["spec"]["jobTemplate"]["spec"]["parallelism"]
                .as_u64()
                .unwrap_or(1)
                * if o["spec"]["concurrencyPolicy"] == "Allow" {
                    2
                } else {
                    1
                }
        }
        "Rollout" => 2 * n + surge(&o["spec"]["strategy"]["canary"]["maxSurge"]),
        // the old pods are gone before the new ones start
        _ if o["spec"]["strategy"]["type"] == "Recreate" => n,
        _ => n + surge(&o["spec"]["strategy"]["rollingUpdate"]["maxSurge"]),
    }
}

#[test]
fn team_access_quotas_and_limits_fit_every_service_namespace() {
    let mut bad = Vec::new();
    for case in cases() {
        let t = &case.tree;
        for dir in t.dirs() {
            let at = format!("{}: {}", case.name, dir.path());
            let Some(ns) = t
                .kind_in(&dir, "Namespace")
                .first()
                .map(|o| o.name().to_string())
            else {
                continue;
            };
            let team = t.kind_in(&dir, "Namespace")[0]
                .labels()
                .get("pctl.dev/team")
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default();
            let group = case.team(&team)["group"]
                .as_str()
                .unwrap_or(&team)
                .to_string();
            let role = if case.protected(&dir.env) {
                "view"
            } else {
                "edit"
            };
            let bindings = t.kind_in(&dir, "RoleBinding");
            let ok = bindings.iter().any(|b| {
                b.namespace() == ns
                    && b.v["roleRef"]["kind"] == "ClusterRole"
                    && b.v["roleRef"]["name"] == role
                    && b.v["subjects"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|s| s["kind"] == "Group" && s["name"] == group.as_str())
            });
            if !ok {
                bad.push(format!("{at}: no RoleBinding gives group `{group}` (team {team}) ClusterRole `{role}` in namespace {ns}"));
            }
            for b in &bindings {
                if b.v["roleRef"]["name"] == "edit" && case.protected(&dir.env) {
                    bad.push(format!(
                        "{at}: {} grants edit in protected environment {}",
                        b.at(),
                        dir.env
                    ));
                }
            }
            for o in t.in_dir(&dir) {
                if matches!(
                    o.kind(),
                    "RoleBinding" | "ResourceQuota" | "LimitRange" | "AlertmanagerConfig"
                ) && o.namespace() != ns
                {
                    bad.push(format!(
                        "{at}: {} is in namespace `{}`, not the service's {ns}",
                        o.at(),
                        o.namespace()
                    ));
                }
            }
            let quotas = t.kind_in(&dir, "ResourceQuota");
            if quotas.is_empty() && !case.overrides {
                bad.push(format!("{at}: no ResourceQuota in namespace {ns}"));
            }
            if t.kind_in(&dir, "LimitRange").is_empty() && !case.overrides {
                bad.push(format!("{at}: no LimitRange in namespace {ns} (pods without resources would be refused by the quota)"));
            }
            // The quota admits every workload at its largest, all at once.
            let ws = workloads(t, &dir);
            let mut pods = 0;
            let mut need: BTreeMap<&str, u64> = BTreeMap::new();
            for w in &ws {
                let m = max_pods(t, &dir, w);
                pods += m;
                for c in containers(&w.pod_spec) {
                    for (key, field, parse) in [
                        (
                            "requests.cpu",
                            &c["resources"]["requests"]["cpu"],
                            cpu_milli as fn(&Value) -> Option<u64>,
                        ),
                        (
                            "requests.memory",
                            &c["resources"]["requests"]["memory"],
                            memory_bytes,
                        ),
                        ("limits.cpu", &c["resources"]["limits"]["cpu"], cpu_milli),
                        (
                            "limits.memory",
                            &c["resources"]["limits"]["memory"],
                            memory_bytes,
                        ),
                    ] {
                        *need.entry(key).or_default() += m * parse(field).unwrap_or(0);
                    }
                }
            }
            for q in &quotas {
                let hard = &q.spec()["hard"];
                if let Some(p) = hard["pods"]
                    .as_str()
                    .and_then(|p| p.parse::<u64>().ok())
                    .or(hard["pods"].as_u64())
                {
                    if p < pods {
                        bad.push(format!("{at}: {} allows {p} pods, the workloads need up to {pods} during a rollout", q.at()));
                    }
                }
                for (key, n) in &need {
                    let have = if key.ends_with("cpu") {
                        cpu_milli(&hard[*key])
                    } else {
                        memory_bytes(&hard[*key])
                    };
                    if let Some(h) = have {
                        if h < *n {
                            bad.push(format!("{at}: {} {key} {} is below what the workloads request at their largest ({n})", q.at(), hard[*key]));
                        }
                    }
                }
            }
        }
    }
    assert_none("team access", bad);
}

// ---------------------------------------------------------------------------------------------
// On-call routing

/// The receiver prometheus-operator's Alertmanager picks for an alert from the folder's
/// AlertmanagerConfig (its route gets a `namespace` matcher: alerts without that label never
/// match).
fn route_for<'a>(amc: &'a Obj, labels: &serde_json::Map<String, Value>) -> Option<&'a str> {
    fn matches(route: &Value, labels: &serde_json::Map<String, Value>) -> bool {
        route["matchers"].as_array().into_iter().flatten().all(|m| {
            let have = labels
                .get(m["name"].as_str().unwrap_or_default())
                .and_then(Value::as_str)
                .unwrap_or("");
            let want = m["value"].as_str().unwrap_or_default();
            match m["matchType"].as_str().unwrap_or("=") {
                "=" => have == want,
                "!=" => have != want,
                "=~" => want.split('|').any(|w| w == have),
                "!~" => !want.split('|').any(|w| w == have),
                _ => false,
            }
        })
    }
    let route = &amc.spec()["route"];
    if labels.get("namespace").and_then(Value::as_str) != Some(amc.namespace())
        || !matches(route, labels)
    {
        return None;
    }
    for child in route["routes"].as_array().into_iter().flatten() {
        if matches(child, labels) {
            return child["receiver"].as_str();
        }
    }
    route["receiver"].as_str()
}

#[test]
fn alerts_of_services_with_oncall_reach_the_owning_team() {
    let mut bad = Vec::new();
    let mut routed = 0;
    for case in cases() {
        let t = &case.tree;
        for dir in t.dirs() {
            let at = format!("{}: {}", case.name, dir.path());
            let objs = t.in_dir(&dir);
            if !objs
                .iter()
                .any(|o| o.annotation("pctl.dev/oncall").is_some())
            {
                continue;
            }
            let team = objs
                .iter()
                .find_map(|o| {
                    o.labels()
                        .get("pctl.dev/team")
                        .and_then(|v| v.as_str().map(String::from))
                })
                .unwrap_or_default();
            let alerts_cfg = &case.team(&team)["alerts"];
            let Some(amc) = t.kind_in(&dir, "AlertmanagerConfig").into_iter().next() else {
                bad.push(format!("{at}: the service has an on-call but no AlertmanagerConfig routes its alerts to team {team}"));
                continue;
            };
            let receivers: BTreeMap<&str, &Value> = amc.spec()["receivers"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|r| (r["name"].as_str().unwrap_or_default(), r))
                .collect();
            // Secret references must name keys of Secrets the folder makes (ExternalSecrets).
            let secrets: BTreeSet<(String, String)> = t
                .kind_in(&dir, "ExternalSecret")
                .iter()
                .flat_map(|es| {
                    let name = es.spec()["target"]["name"]
                        .as_str()
                        .unwrap_or(es.name())
                        .to_string();
                    let mut keys: Vec<String> = es.spec()["data"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|d| d["secretKey"].as_str().map(String::from))
                        .collect();
                    keys.extend(
                        es.spec()["target"]["template"]["data"]
                            .as_object()
                            .into_iter()
                            .flatten()
                            .map(|(k, _)| k.clone()),
                    );
                    keys.into_iter().map(move |k| (name.clone(), k))
                })
                .collect();
            for (name, r) in &receivers {
                for (list, field) in [
                    ("pagerdutyConfigs", "routingKey"),
                    ("slackConfigs", "apiURL"),
                ] {
                    for c in r[list].as_array().into_iter().flatten() {
                        let s = &c[field];
                        let key = (
                            s["name"].as_str().unwrap_or_default().to_string(),
                            s["key"].as_str().unwrap_or_default().to_string(),
                        );
                        if !secrets.contains(&key) {
                            bad.push(format!("{at}: receiver {name} reads secret {}/{}, which no ExternalSecret of the namespace provides", key.0, key.1));
                        }
                    }
                }
            }
            let mut by_severity: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
            for rule_obj in t.kind_in(&dir, "PrometheusRule") {
                for g in rule_obj.spec()["groups"].as_array().into_iter().flatten() {
                    for r in g["rules"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter(|r| r["alert"].is_string())
                    {
                        routed += 1;
                        let labels = r["labels"].as_object().cloned().unwrap_or_default();
                        let sev = labels
                            .get("severity")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string();
                        match route_for(amc, &labels) {
                            None => bad.push(format!("{at}: alert {} (labels {}) matches no route of {}: Alertmanager only routes alerts labelled namespace={}", r["alert"], Value::Object(labels.clone()), amc.at(), amc.namespace())),
                            Some(recv) => match receivers.get(recv) {
                                Some(rv) if rv["pagerdutyConfigs"].is_array() || rv["slackConfigs"].is_array() => {
                                    by_severity.entry(sev).or_default().insert(recv.to_string());
                                }
                                _ => bad.push(format!("{at}: alert {} goes to receiver {recv}, which notifies no one", r["alert"])),
                            },
                        }
                    }
                }
            }
            // Pages and tickets are routed apart; pages go to PagerDuty when the team has it.
            let page = by_severity.get("critical").cloned().unwrap_or_default();
            let ticket: BTreeSet<String> = by_severity
                .iter()
                .filter(|(s, _)| *s != "critical")
                .flat_map(|(_, r)| r.iter().cloned())
                .collect();
            if !page.is_disjoint(&ticket) {
                bad.push(format!(
                    "{at}: pages and tickets go to the same receiver {page:?}"
                ));
            }
            if alerts_cfg["pagerduty"].is_object() {
                for r in &page {
                    if !receivers[r.as_str()]["pagerdutyConfigs"].is_array() {
                        bad.push(format!(
                            "{at}: pages go to {r}, not to the team's PagerDuty"
                        ));
                    }
                }
            }
        }
    }
    assert_none("on-call routing", bad);
    assert!(routed > 10, "only {routed} alerts routed");
}

// ---------------------------------------------------------------------------------------------
// Catalog and URLs

#[test]
fn every_catalog_reference_resolves_and_every_team_has_a_group() {
    let mut bad = Vec::new();
    for case in cases() {
        let t = &case.tree;
        if t.entities.is_empty() {
            continue;
        }
        let mut defined: BTreeMap<(String, String, String), String> = BTreeMap::new();
        for e in &t.entities {
            if let Some(first) = defined.insert(entity_key(e), e.path.clone()) {
                bad.push(format!(
                    "{}: {} is defined twice ({first} and {}): Backstage keeps one",
                    case.name,
                    e.at(),
                    e.path
                ));
            }
        }
        for e in &t.entities {
            for (field, r, default) in entity_refs(e) {
                let Some(key) = parse_ref(&r, default) else {
                    bad.push(format!(
                        "{}: {} spec.{field} `{r}` has no kind",
                        case.name,
                        e.at()
                    ));
                    continue;
                };
                // A single service's tree may name other services' entities, never a missing
                // team or system.
                let must = case.all || matches!(key.0.as_str(), "group" | "system");
                if must && !defined.contains_key(&key) {
                    bad.push(format!(
                        "{}: {} spec.{field} `{r}` names no entity of the tree",
                        case.name,
                        e.at()
                    ));
                }
            }
        }
        if case.all {
            for team in case.org["spec"]["teams"].as_array().into_iter().flatten() {
                let name = team["name"].as_str().unwrap_or_default().to_lowercase();
                if !defined.contains_key(&("group".into(), "default".into(), name.clone())) {
                    bad.push(format!("{}: team {name} has no Group entity", case.name));
                }
            }
        }
    }
    assert_none("catalog references", bad);
}

/// Every URL-valued string of a tree that is empty or a placeholder (`unknown`), and every
/// Backstage link or source location that is not a web address.
fn url_problems(name: &str, tree: &Tree) -> (usize, Vec<String>) {
    let mut bad = Vec::new();
    let mut seen = 0;
    for o in tree.objects.iter().chain(&tree.entities) {
        let mut strings = Vec::new();
        strings_at_keys(&o.v, String::new(), &mut strings);
        for (path, key, value) in strings {
            let k = key.to_ascii_lowercase();
            if !(k.ends_with("url") || k == "target" || key == "backstage.io/source-location") {
                continue;
            }
            seen += 1;
            let v = value.strip_prefix("url:").unwrap_or(value).trim();
            // Where Backstage shows a link, it must be a web address.
            let web = path.contains(".links[") || key == "backstage.io/source-location";
            let ok = !v.is_empty()
                && !["unknown", "none", "null", "-"].contains(&v)
                && if web {
                    v.starts_with("https://") || v.starts_with("http://")
                } else {
                    v.contains("://")
                        || v.starts_with("git@")
                        || v.starts_with("./")
                        || v.starts_with('/')
                };
            if !ok {
                bad.push(format!("{name}: {}{path} is `{value}`", o.at()));
            }
        }
    }
    (seen, bad)
}

#[test]
fn no_url_is_empty_or_a_placeholder() {
    let mut bad = Vec::new();
    let mut seen = 0;
    for case in cases() {
        let (n, b) = url_problems(&case.name, &case.tree);
        seen += n;
        bad.extend(b);
    }
    assert!(seen > 50, "only {seen} URLs seen");
    assert_none("URLs", bad);
}

/// `pctl render <args> --out <tmp>/out` from the repository root, without CI variables that
/// would name a repository.
fn render(args: &[&str], tmp: &Path) -> (support::Run, Tree) {
    let out = tmp.join("out");
    let mut cmd = support::pctl();
    cmd.env_remove("GITHUB_SERVER_URL")
        .env_remove("GITHUB_REPOSITORY")
        .arg("render")
        .args(args)
        .args([
            "--source-sha",
            support::SHA,
            "--image-tag",
            support::TAG,
            "--format",
            "json",
            "--out",
        ])
        .arg(&out);
    let run = support::run(cmd);
    let tree = Tree::load(&out, "render");
    (run, tree)
}

/// `<fixture>/pctl-org.yaml` without its `deploy_repository:` block, written into `dir`.
fn org_without_deploy_repository(fixture: &str, dir: &Path) -> PathBuf {
    let text =
        std::fs::read_to_string(Path::new(ROOT).join(fixture).join("pctl-org.yaml")).unwrap();
    let mut skip = false;
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| {
            if l.trim_start().starts_with("deploy_repository:") {
                skip = true;
                return false;
            }
            if skip && l.starts_with("    ") {
                return false;
            }
            skip = false;
            true
        })
        .collect();
    assert!(
        kept.len() < text.lines().count(),
        "{fixture} names no deploy repository"
    );
    let org = dir.join("pctl-org.yaml");
    std::fs::write(&org, kept.join("\n") + "\n").unwrap();
    org
}

#[test]
fn an_organisation_without_a_deploy_repository_renders_no_gitops_entry_point() {
    for fixture in ["fixtures/acme", "fixtures/acme-flux"] {
        let tmp = tempfile::tempdir().unwrap();
        let org = org_without_deploy_repository(fixture, tmp.path());
        let (run, tree) = render(
            &["--all", fixture, "--org", org.to_str().unwrap()],
            tmp.path(),
        );
        let (_, bad) = url_problems(fixture, &tree);
        assert!(
            bad.is_empty(),
            "{fixture}: rendered with empty URLs:\n{}",
            bad.join("\n")
        );
        assert_eq!(run.code, 1, "{fixture}: {}", run.describe());
        assert!(tree.files.is_empty(), "{fixture}: nothing may be written");
        let diags = run.json()["diagnostics"].clone();
        let located = diags.as_array().into_iter().flatten().any(|d| {
            d["code"] == "org/no-deploy-repository"
                && d["file"]
                    .as_str()
                    .is_some_and(|f| f.ends_with("pctl-org.yaml"))
                && d["span"]["line"].as_u64().is_some()
        });
        assert!(
            located,
            "{fixture}: no located diagnostic about deploy_repository: {diags:#}"
        );
    }
}

#[test]
fn publish_takes_the_gitops_source_from_deploy_repo_when_the_organisation_names_none() {
    let tmp = tempfile::tempdir().unwrap();
    let org = org_without_deploy_repository("fixtures/acme-flux", tmp.path());
    let bare = support::bare_repo(tmp.path(), "deploy.git");
    let url = support::file_url(&bare);
    let mut cmd = support::pctl();
    cmd.args([
        "publish",
        "--all",
        "fixtures/acme-flux",
        "--org",
        org.to_str().unwrap(),
    ])
    .args(["--source-sha", support::SHA, "--image-tag", support::TAG])
    .args(["--deploy-repo", &url, "--format", "json"]);
    support::run(cmd).expect_code(0);
    let source = support::show_text(&bare, "main", "clusters/prod/gitrepository.yaml");
    assert!(source.contains(&format!("url: \"{url}\"")), "{source}");
}

#[test]
fn a_service_without_a_known_repository_gets_no_placeholder_link() {
    let tmp = tempfile::tempdir().unwrap();
    let svc = tmp.path().join("auth-service");
    std::fs::create_dir(&svc).unwrap();
    let text =
        std::fs::read_to_string(Path::new(ROOT).join("fixtures/acme/auth-service/platform.yaml"))
            .unwrap();
    let text: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("repository:"))
        .collect();
    std::fs::write(svc.join("platform.yaml"), text.join("\n") + "\n").unwrap();
    let (run, tree) = render(
        &[
            svc.to_str().unwrap(),
            "--org",
            "fixtures/acme/pctl-org.yaml",
        ],
        tmp.path(),
    );
    assert_eq!(run.code, 0, "{}", run.describe());
    assert!(!tree.entities.is_empty(), "no catalog rendered");
    let (_, bad) = url_problems("no repository", &tree);
    assert_none("URLs of a service without a repository", bad);
}

// ---------------------------------------------------------------------------------------------
// Probes

/// Whether a probe's target port is a port of the pod (`httpGet`, `tcpSocket` or `grpc`).
fn probe_port_exists(pod_spec: &Value, probe: &Value) -> bool {
    ["httpGet", "tcpSocket", "grpc"].iter().any(|k| {
        resolve_port(pod_spec, &probe[*k]["port"])
            .is_some_and(|n| pod_ports(pod_spec).iter().any(|p| p.number == n))
    })
}

#[test]
fn every_pod_a_service_sends_traffic_to_has_probes_on_its_own_ports() {
    let mut bad = Vec::new();
    let mut checked = 0;
    for case in cases() {
        let t = &case.tree;
        for dir in t.dirs() {
            // Services that carry traffic (a Worker's headless metrics Service only lets
            // Prometheus find its pods: a Worker takes no requests to be ready for)
            let svcs: Vec<Svc> = services(t, &dir)
                .into_iter()
                .filter(|s| s.ports.iter().any(|p| p["name"] != "metrics"))
                .collect();
            for w in workloads(t, &dir) {
                if matches!(w.kind.as_str(), "CronJob" | "Job")
                    || !svcs.iter().any(|s| map_matches(&s.selector, &w.pod_labels))
                {
                    continue;
                }
                for c in containers(&w.pod_spec) {
                    if container_ports(c).is_empty() {
                        continue;
                    }
                    checked += 1;
                    for key in ["readinessProbe", "livenessProbe"] {
                        if c[key].is_null() {
                            bad.push(format!("{}: {} {}: no {key}", case.name, w.path, w.name));
                        } else if !probe_port_exists(&w.pod_spec, &c[key]) {
                            bad.push(format!(
                                "{}: {} {}: {key} {} is not on a port of the pod",
                                case.name, w.path, w.name, c[key]
                            ));
                        }
                    }
                }
            }
        }
    }
    assert!(checked > 20, "only {checked} containers checked");
    assert_none("probes", bad);
}

#[test]
fn without_health_paths_a_service_gets_tcp_probes_and_a_located_warning() {
    let flagger = cases()
        .into_iter()
        .find(|c| c.name == "acme-flagger")
        .unwrap();
    let probe = |service: &str| {
        let dir = Dir {
            env: "prod".into(),
            service: service.into(),
        };
        let w = workloads(&flagger.tree, &dir)
            .into_iter()
            .find(|w| w.name == service)
            .unwrap();
        containers(&w.pod_spec)[0]["readinessProbe"].clone()
    };
    // inventory-api declares no `health`: its port must accept connections
    assert_eq!(probe("inventory-api")["tcpSocket"]["port"], "http");
    // storefront declares HTTP paths: they stay
    assert_eq!(probe("storefront")["httpGet"]["path"], "/readyz");

    let mut cmd = support::pctl();
    cmd.args([
        "validate",
        "--all",
        "fixtures/acme-flagger",
        "--format",
        "json",
    ]);
    let run = support::run(cmd);
    run.expect_code(0);
    let warned: Vec<String> = run
        .diags_with_code("semantic/no-health")
        .iter()
        .map(|d| {
            assert_eq!(d["severity"], "warning", "{d:#}");
            assert_eq!(d["path"], "spec.health", "{d:#}");
            assert!(
                d["help"].as_str().is_some_and(|h| h.contains("/healthz")),
                "{d:#}"
            );
            format!(
                "{}:{}:{}",
                d["file"].as_str().unwrap_or(""),
                d["span"]["line"],
                d["span"]["column"]
            )
        })
        .collect();
    // one per service without health checks, at its `spec` (where `health` would go); none
    // for the one with paths
    assert_eq!(
        warned,
        ["fixtures/acme-flagger/inventory-api/platform.yaml:11:1"],
        "{}",
        run.describe()
    );
}

// ---------------------------------------------------------------------------------------------
// Argo CD projects

#[test]
fn argo_cd_projects_confine_each_team_to_its_namespaces_and_the_deploy_repository() {
    let mut bad = Vec::new();
    let mut apps = 0;
    for case in cases().into_iter().filter(|c| c.gitops() == "argocd") {
        let t = &case.tree;
        let repo = case.org["spec"]["deploy_repository"]["url"]
            .as_str()
            .unwrap_or_default();
        for p in t.of_kind("AppProject") {
            for d in p.spec()["destinations"].as_array().into_iter().flatten() {
                let ns = d["namespace"].as_str().unwrap_or_default();
                if ns.contains('*') || ns.starts_with('!') {
                    bad.push(format!(
                        "{}: {} allows namespace pattern `{ns}`",
                        case.name,
                        p.at()
                    ));
                }
            }
            if p.spec()["sourceRepos"] != serde_json::json!([repo]) {
                bad.push(format!(
                    "{}: {} sources {} rather than only the deploy repository",
                    case.name,
                    p.at(),
                    p.spec()["sourceRepos"]
                ));
            }
        }
        if !case.all {
            continue;
        }
        for set in t.of_kind("ApplicationSet") {
            let env = set.path.split('/').nth(1).unwrap_or_default().to_string();
            let tpl = &set.spec()["template"]["spec"];
            let project = tpl["project"].as_str().unwrap_or_default();
            let cluster = tpl["destination"]["name"].as_str().unwrap_or_default();
            for dir in t.dirs().into_iter().filter(|d| d.env == env) {
                apps += 1;
                let Some(ns) = t.kind_in(&dir, "Namespace").into_iter().next() else {
                    continue;
                };
                // The project template reads the folder's Namespace (a git files generator).
                let team = ns
                    .labels()
                    .get("pctl.dev/team")
                    .and_then(|v| v.as_str().map(String::from))
                    .unwrap_or_default();
                let name = project.replace("{{ index .metadata.labels \"pctl.dev/team\" }}", &team);
                match t.of_kind("AppProject").find(|p| p.name() == name) {
                    None => bad.push(format!(
                        "{}: the Application of {} is in project `{name}`, which does not exist",
                        case.name,
                        dir.path()
                    )),
                    Some(p) => {
                        let allowed = p.spec()["destinations"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .any(|d| d["name"] == cluster && d["namespace"] == ns.name());
                        if !allowed {
                            bad.push(format!(
                                "{}: project {name} does not allow {}'s namespace {} on {cluster}",
                                case.name,
                                dir.path(),
                                ns.name()
                            ));
                        }
                    }
                }
            }
        }
    }
    assert!(apps > 5, "only {apps} applications checked");
    assert_none("Argo CD projects", bad);
}
