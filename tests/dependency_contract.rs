//! The dependency contract, checked on what pctl renders: from the objects of a deploy tree
//! alone, every address a workload reads resolves to a Service and port in its callee's
//! namespace, the NetworkPolicies of both sides admit the call (on the container port the
//! Service targets), and every workload a Service targets has probes that match the port's
//! protocol. Run on every golden tree (Online Boutique is the one with gRPC, a companion and
//! three exposures), plus the diagnostics a migrating team meets, and the single-application
//! runs that take their callees' contracts from records (docs/dependencies.md).
//!
//! `objects` holds small helpers over rendered objects (selectors, env sources, ports,
//! NetworkPolicy admission) meant to live with tests/cross_object.rs.

use crate::support;

use objects::{Obj, Tree};
use serde_json::Value;
use std::path::Path;
use support::{ROOT, SHA, pctl, run};

mod objects {
    use serde_json::{Map, Value};
    use std::collections::BTreeMap;
    use std::path::Path;

    /// One rendered Kubernetes object and the environment folder it is in.
    #[derive(Debug, Clone)]
    pub struct Obj {
        pub env: String,
        pub value: Value,
    }

    impl Obj {
        pub fn kind(&self) -> &str {
            self.value["kind"].as_str().unwrap_or_default()
        }
        pub fn name(&self) -> &str {
            self.value["metadata"]["name"].as_str().unwrap_or_default()
        }
        pub fn namespace(&self) -> &str {
            self.value["metadata"]["namespace"]
                .as_str()
                .unwrap_or_default()
        }
    }

    /// The Kubernetes objects of a deploy tree (`apps/<env>/...`), every document.
    pub struct Tree {
        pub objects: Vec<Obj>,
    }

    impl Tree {
        pub fn load(dir: &Path) -> Tree {
            let mut objects = Vec::new();
            for e in walkdir::WalkDir::new(dir.join("apps")).sort_by_file_name() {
                let e = e.unwrap();
                let p = e.path();
                if !e.file_type().is_file()
                    || p.extension().is_none_or(|x| x != "yaml")
                    || p.file_name().is_some_and(|n| n == "kustomization.yaml")
                {
                    continue;
                }
                let rel = p.strip_prefix(dir.join("apps")).unwrap();
                let env = rel.iter().next().unwrap().to_string_lossy().to_string();
                let text = std::fs::read_to_string(p).unwrap();
                let file = pctl_core::source::SourceFile::new(p.display().to_string(), text);
                let opts = pctl_core::load::Options {
                    no_spans: true,
                    ..Default::default()
                };
                for doc in pctl_core::load::parse_all(&file, opts).unwrap() {
                    objects.push(Obj {
                        env: env.clone(),
                        value: doc.value,
                    });
                }
            }
            Tree { objects }
        }

        pub fn envs(&self) -> Vec<String> {
            let mut e: Vec<String> = self.objects.iter().map(|o| o.env.clone()).collect();
            e.sort();
            e.dedup();
            e
        }

        pub fn of<'a>(&'a self, env: &'a str, kind: &'a str) -> impl Iterator<Item = &'a Obj> {
            self.objects
                .iter()
                .filter(move |o| o.env == env && o.kind() == kind)
        }

        /// Labels of a namespace (with the `kubernetes.io/metadata.name` Kubernetes adds).
        pub fn namespace_labels(&self, env: &str, ns: &str) -> Map<String, Value> {
            let mut labels = self
                .of(env, "Namespace")
                .find(|o| o.name() == ns)
                .and_then(|o| o.value["metadata"]["labels"].as_object().cloned())
                .unwrap_or_default();
            labels.insert("kubernetes.io/metadata.name".into(), Value::from(ns));
            labels
        }

        /// The pods each workload runs: (namespace, labels, pod spec). A Flagger canary's
        /// Deployment also runs as `<name>-primary` (Flagger relabels the copy).
        pub fn pods(&self, env: &str) -> Vec<Pod> {
            let mut pods = Vec::new();
            let canaries: Vec<String> = self
                .of(env, "Canary")
                .map(|c| c.name().to_string())
                .collect();
            for o in self.objects.iter().filter(|o| o.env == env) {
                let template = match o.kind() {
                    "Deployment" | "Rollout" | "StatefulSet" => &o.value["spec"]["template"],
                    "CronJob" => &o.value["spec"]["jobTemplate"]["spec"]["template"],
                    _ => continue,
                };
                let labels = template["metadata"]["labels"]
                    .as_object()
                    .cloned()
                    .unwrap_or_default();
                let pod = Pod {
                    namespace: o.namespace().to_string(),
                    workload: o.name().to_string(),
                    labels: labels.clone(),
                    spec: template["spec"].clone(),
                };
                if canaries.iter().any(|c| c == o.name()) {
                    let mut primary = pod.clone();
                    primary.labels.insert(
                        "app.kubernetes.io/name".into(),
                        Value::from(format!("{}-primary", o.name())),
                    );
                    pods.push(primary);
                }
                pods.push(pod);
            }
            pods
        }

        /// Services as they exist in the cluster: rendered ones, and those Flagger creates for
        /// a Canary (`<name>` selecting the primary pods).
        pub fn services(&self, env: &str) -> Vec<Value> {
            let mut out: Vec<Value> = self.of(env, "Service").map(|o| o.value.clone()).collect();
            for c in self.of(env, "Canary") {
                let s = &c.value["spec"]["service"];
                out.push(serde_json::json!({
                    "metadata": {"name": c.name(), "namespace": c.namespace()},
                    "spec": {
                        "selector": {"app.kubernetes.io/name": format!("{}-primary", c.name())},
                        "ports": [{"name": s["portName"], "port": s["port"], "targetPort": s["targetPort"], "appProtocol": s["appProtocol"]}],
                    },
                }));
            }
            out
        }

        /// A container's environment: its `env` values and the ConfigMaps it loads.
        pub fn environment(
            &self,
            env: &str,
            namespace: &str,
            container: &Value,
        ) -> BTreeMap<String, String> {
            let mut vars = BTreeMap::new();
            for from in container["envFrom"].as_array().into_iter().flatten() {
                let Some(name) = from["configMapRef"]["name"].as_str() else {
                    continue;
                };
                let cm = self
                    .of(env, "ConfigMap")
                    .find(|o| o.name() == name && o.namespace() == namespace)
                    .unwrap_or_else(|| {
                        panic!("{env}: ConfigMap {namespace}/{name} is loaded but not rendered")
                    });
                for (k, v) in cm.value["data"].as_object().into_iter().flatten() {
                    vars.insert(k.clone(), v.as_str().unwrap_or_default().to_string());
                }
            }
            for e in container["env"].as_array().into_iter().flatten() {
                if let (Some(k), Some(v)) = (e["name"].as_str(), e["value"].as_str()) {
                    vars.insert(k.to_string(), v.to_string());
                }
            }
            vars
        }
    }

    #[derive(Debug, Clone)]
    pub struct Pod {
        pub namespace: String,
        pub workload: String,
        pub labels: Map<String, Value>,
        pub spec: Value,
    }

    impl Pod {
        /// The container port a Service's `targetPort` (name or number) means in this pod.
        pub fn container_port(&self, target: &Value) -> Option<u64> {
            if let Some(n) = target.as_u64() {
                return Some(n);
            }
            let name = target.as_str()?;
            self.containers()
                .flat_map(|c| c["ports"].as_array().cloned().unwrap_or_default())
                .find(|p| p["name"] == name)
                .and_then(|p| p["containerPort"].as_u64())
        }
        pub fn containers(&self) -> impl Iterator<Item = &Value> {
            self.spec["containers"].as_array().into_iter().flatten()
        }
    }

    /// Whether a LabelSelector (`matchLabels`, `matchExpressions`) selects `labels`; an empty
    /// selector selects everything.
    pub fn selects(selector: &Value, labels: &Map<String, Value>) -> bool {
        let ml = selector["matchLabels"].as_object().into_iter().flatten();
        let ok = ml.into_iter().all(|(k, v)| labels.get(k) == Some(v));
        let exprs = selector["matchExpressions"]
            .as_array()
            .into_iter()
            .flatten();
        ok && exprs.into_iter().all(|e| {
            let key = e["key"].as_str().unwrap_or_default();
            let values: Vec<&Value> = e["values"].as_array().into_iter().flatten().collect();
            match e["operator"].as_str() {
                Some("In") => labels.get(key).is_some_and(|v| values.contains(&v)),
                Some("NotIn") => labels.get(key).is_none_or(|v| !values.contains(&v)),
                Some("Exists") => labels.contains_key(key),
                Some("DoesNotExist") => !labels.contains_key(key),
                _ => false,
            }
        })
    }

    /// Whether a Service's plain `selector` map selects a pod.
    pub fn service_selects(service: &Value, pod: &Pod) -> bool {
        let sel = service["spec"]["selector"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        pod.namespace
            == service["metadata"]["namespace"]
                .as_str()
                .unwrap_or_default()
            && !sel.is_empty()
            && sel.iter().all(|(k, v)| pod.labels.get(k) == Some(v))
    }

    /// Whether the NetworkPolicies of `tree` let `from` open a TCP connection to `to` on
    /// container port `port`: egress on `from`'s side and ingress on `to`'s side. A pod no
    /// policy selects for a direction is open in it; ipBlocks are taken to match no pod.
    pub fn admitted(tree: &Tree, env: &str, from: &Pod, to: &Pod, port: u64) -> (bool, bool) {
        let side =
            |subject: &Pod, peer: &Pod, direction: &str, rules_key: &str, peers_key: &str| {
                let policies: Vec<&super::Obj> = tree
                    .of(env, "NetworkPolicy")
                    .filter(|p| p.namespace() == subject.namespace)
                    .filter(|p| selects(&p.value["spec"]["podSelector"], &subject.labels))
                    .filter(|p| {
                        p.value["spec"]["policyTypes"]
                            .as_array()
                            .is_some_and(|t| t.iter().any(|x| x == direction))
                    })
                    .collect();
                if policies.is_empty() {
                    return true;
                }
                let peer_ns = tree.namespace_labels(env, &peer.namespace);
                policies.iter().any(|p| {
                    p.value["spec"][rules_key]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|rule| {
                            let ports_ok = match rule["ports"].as_array() {
                                None => true,
                                Some(ports) if ports.is_empty() => true,
                                Some(ports) => ports.iter().any(|x| {
                                    x["protocol"].as_str().unwrap_or("TCP") == "TCP"
                                        && (x["port"].is_null()
                                            || x["port"].as_u64() == Some(port)
                                            || (x["port"].is_string()
                                                && peer_port_named(
                                                    to_or(peer, subject, direction),
                                                    &x["port"],
                                                ) == Some(port)))
                                }),
                            };
                            let peers_ok = match rule[peers_key].as_array() {
                                None => true,
                                Some(peers) if peers.is_empty() => true,
                                Some(peers) => peers.iter().any(|x| {
                                    if x.get("ipBlock").is_some() {
                                        return false;
                                    }
                                    let ns_ok = match x.get("namespaceSelector") {
                                        Some(sel) => selects(sel, &peer_ns),
                                        None => peer.namespace == subject.namespace,
                                    };
                                    let pod_ok = x
                                        .get("podSelector")
                                        .is_none_or(|sel| selects(sel, &peer.labels));
                                    ns_ok && pod_ok
                                }),
                            };
                            ports_ok && peers_ok
                        })
                })
            };
        (
            side(from, to, "Egress", "egress", "to"),
            side(to, from, "Ingress", "ingress", "from"),
        )
    }

    /// The pod whose named port a rule's `port` refers to: the destination of the connection.
    fn to_or<'a>(peer: &'a Pod, subject: &'a Pod, direction: &str) -> &'a Pod {
        if direction == "Egress" { peer } else { subject }
    }

    fn peer_port_named(pod: &Pod, name: &Value) -> Option<u64> {
        pod.container_port(name)
    }

    /// The cluster addresses in a value: `<service>.<namespace>.svc.cluster.local` with the
    /// port it names (or the scheme's default), in host:port or URL form.
    pub fn addresses(value: &str) -> Vec<(String, String, u64)> {
        let mut out = Vec::new();
        let scheme_port = |v: &str| if v.starts_with("https://") { 443 } else { 80 };
        for token in value.split(|c: char| !(c.is_ascii_alphanumeric() || "-.:".contains(c))) {
            let Some(i) = token.find(".svc.cluster.local") else {
                continue;
            };
            let host = &token[..i];
            let rest = &token[i + ".svc.cluster.local".len()..];
            let mut labels = host.split('.');
            let (Some(svc), Some(ns)) = (labels.next(), labels.next()) else {
                continue;
            };
            let port = rest
                .strip_prefix(':')
                .and_then(|p| p.parse().ok())
                .unwrap_or_else(|| scheme_port(value));
            out.push((svc.to_string(), ns.to_string(), port));
        }
        out
    }
}

fn golden_trees() -> Vec<std::path::PathBuf> {
    let mut trees: Vec<_> = std::fs::read_dir(Path::new(ROOT).join("golden-tests"))
        .unwrap()
        .map(|e| e.unwrap().path().join("expected"))
        .filter(|p| p.join("apps").is_dir())
        .collect();
    trees.sort();
    trees
}

/// Every problem of one tree: addresses that resolve to nothing, calls a NetworkPolicy
/// drops, probes that do not match their port's protocol, callers without an address.
fn problems(tree: &Tree) -> (Vec<String>, usize) {
    let mut bad = Vec::new();
    let mut checked = 0;
    for env in tree.envs() {
        let pods = tree.pods(&env);
        let services = tree.services(&env);
        let service_names: Vec<String> = services
            .iter()
            .map(|s| {
                s["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect();
        for pod in &pods {
            for c in pod.containers() {
                let vars = tree.environment(&env, &pod.namespace, c);
                let mut callees = std::collections::BTreeSet::new();
                for (var, value) in &vars {
                    // A short name (`catalog:3550`, `http://catalog`) only works in its own
                    // namespace: exactly what the contract replaces.
                    for short in &service_names {
                        if value.starts_with(&format!("{short}:"))
                            || value.contains(&format!("://{short}:"))
                            || value == &format!("http://{short}")
                        {
                            bad.push(format!(
                                "{env} {}: {var}={value} addresses `{short}` by its short name",
                                pod.workload
                            ));
                        }
                    }
                    for (svc, ns, port) in objects::addresses(value) {
                        checked += 1;
                        callees.insert(ns.clone());
                        let what = format!("{env} {}: {var}={value}", pod.workload);
                        let Some(service) = services.iter().find(|s| {
                            s["metadata"]["name"] == svc.as_str()
                                && s["metadata"]["namespace"] == ns.as_str()
                        }) else {
                            bad.push(format!("{what}: no Service {ns}/{svc}"));
                            continue;
                        };
                        let Some(sp) = service["spec"]["ports"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .find(|p| p["port"].as_u64() == Some(port))
                        else {
                            bad.push(format!("{what}: Service {ns}/{svc} has no port {port}"));
                            continue;
                        };
                        let targets: Vec<&objects::Pod> = pods
                            .iter()
                            .filter(|p| objects::service_selects(service, p))
                            .collect();
                        if targets.is_empty() {
                            bad.push(format!("{what}: Service {ns}/{svc} selects no pod"));
                        }
                        for target in targets {
                            let Some(cport) = target.container_port(&sp["targetPort"]) else {
                                bad.push(format!(
                                    "{what}: {} has no container port {}",
                                    target.workload, sp["targetPort"]
                                ));
                                continue;
                            };
                            let (egress, ingress) =
                                objects::admitted(tree, &env, pod, target, cport);
                            if !egress {
                                bad.push(format!("{what}: the NetworkPolicy of {} drops the call (egress to {}:{cport})", pod.workload, target.workload));
                            }
                            if !ingress {
                                bad.push(format!("{what}: the NetworkPolicy of {} drops the call (ingress on {cport})", target.workload));
                            }
                        }
                    }
                }
                // Completeness: every declared call (`pctl.dev/calls-<callee>` on the caller's
                // namespace) left at least one address of the callee.
                let ns_labels = tree.namespace_labels(&env, &pod.namespace);
                for key in ns_labels.keys() {
                    if let Some(callee) = key.strip_prefix("pctl.dev/calls-") {
                        if !callees.contains(callee) {
                            bad.push(format!(
                                "{env} {}: calls `{callee}` but reads no address of it",
                                pod.workload
                            ));
                        }
                    }
                }
            }
        }
        // Probes: every container port a Service targets is probed in its protocol.
        for service in &services {
            for sp in service["spec"]["ports"].as_array().into_iter().flatten() {
                let protocol = sp["appProtocol"].as_str().unwrap_or("http");
                for pod in pods.iter().filter(|p| objects::service_selects(service, p)) {
                    let Some(cport) = pod.container_port(&sp["targetPort"]) else {
                        continue;
                    };
                    if sp["name"] == "metrics" {
                        continue;
                    }
                    checked += 1;
                    for c in pod.containers() {
                        for probe in ["livenessProbe", "readinessProbe"] {
                            let p = &c[probe];
                            let on = |action: &str| {
                                pod.container_port(&p[action]["port"]) == Some(cport)
                            };
                            let ok = match protocol {
                                "grpc" => on("grpc"),
                                "tcp" => on("tcpSocket"),
                                _ => on("httpGet") || on("tcpSocket"),
                            };
                            if !ok {
                                bad.push(format!(
                                    "{env} {}: {probe} does not check {protocol} port {cport} (Service {}): {p}",
                                    pod.workload, service["metadata"]["name"]
                                ));
                            }
                        }
                    }
                }
            }
        }
    }
    (bad, checked)
}

#[test]
fn addresses_resolve_calls_are_admitted_and_probes_match_in_every_golden_tree() {
    let trees = golden_trees();
    assert!(trees.iter().any(|t| t.ends_with("boutique/expected")));
    let mut all = Vec::new();
    for dir in &trees {
        let (bad, checked) = problems(&Tree::load(dir));
        assert!(checked > 0, "{}: nothing checked", dir.display());
        all.extend(bad.into_iter().map(|b| format!("{}: {b}", dir.display())));
    }
    assert!(all.is_empty(), "{}", all.join("\n"));
}

#[test]
fn the_boutique_checks_cover_grpc_http_the_companion_and_every_edge() {
    let tree = Tree::load(&Path::new(ROOT).join("golden-tests/boutique/expected"));
    let (bad, checked) = problems(&tree);
    assert!(bad.is_empty(), "{}", bad.join("\n"));
    // 3 environments x (16 gRPC/HTTP calls + loadgenerator's + cartservice's Redis) addresses,
    // and every probed Service port.
    assert!(checked >= 3 * 18, "only {checked} checks");
    let prod_env = |name: &str| {
        let pod = tree
            .pods("prod")
            .into_iter()
            .find(|p| p.workload == name)
            .unwrap();
        let c = pod.containers().next().unwrap().clone();
        tree.environment("prod", &pod.namespace, &c)
    };
    let checkout = prod_env("checkoutservice");
    assert_eq!(
        checkout["EMAIL_SERVICE_ADDR"],
        "emailservice.emailservice.svc.cluster.local:5000"
    );
    let frontend = prod_env("frontend");
    assert_eq!(
        frontend["SHOPPING_ASSISTANT_SERVICE_ADDR"],
        "shoppingassistantservice.shoppingassistantservice.svc.cluster.local:80",
        "an HTTP callee in the host:port form the application asks for"
    );
    assert_eq!(
        prod_env("cartservice")["REDIS_ADDR"],
        "cartservice-cart.cartservice.svc.cluster.local:6379"
    );
    assert_eq!(
        prod_env("loadgenerator")["FRONTEND_ADDR"],
        "frontend.frontend.svc.cluster.local:80"
    );
    // A gRPC server probed over gRPC on its container port (8080 behind Service port 5000).
    let email = tree
        .pods("prod")
        .into_iter()
        .find(|p| p.workload == "emailservice")
        .unwrap();
    let c = email.containers().next().unwrap();
    assert_eq!(c["readinessProbe"]["grpc"]["port"], 8080);
    // The public frontend, three ways.
    let has = |env: &str, kind: &str, name: &str| tree.of(env, kind).any(|o| o.name() == name);
    assert!(has("dev", "Service", "frontend-external"));
    assert!(has("staging", "Ingress", "frontend"));
    assert!(has("prod", "HTTPRoute", "frontend"));
    assert!(!has("prod", "Ingress", "frontend") && !has("dev", "Ingress", "frontend"));
    // Pinned images: --image-tag (1.4.2 in golden runs) does not apply.
    let deploy = tree
        .of("prod", "Deployment")
        .find(|o| o.name() == "adservice")
        .unwrap();
    assert!(deploy.value.to_string().contains("adservice:v0.10.6"));
}

#[test]
fn the_boutique_validates_without_a_single_warning() {
    let mut cmd = pctl();
    cmd.args(["validate", "--all", "fixtures/boutique", "--format", "json"]);
    let r = run(cmd);
    r.expect_code(0);
    let diags = r.diagnostics();
    let warnings: Vec<&Value> = diags.iter().filter(|d| d["severity"] != "note").collect();
    assert!(warnings.is_empty(), "{warnings:#?}");
    // The two single replicas in prod are exempted, with their reasons, not hidden.
    let notes: Vec<&Value> = diags
        .iter()
        .filter(|d| d["code"] == "exemption/applied")
        .collect();
    assert_eq!(notes.len(), 2, "{diags:#?}");
}

// ------------------------------------------------------------------------------------------
// A migrating team's mistakes, each a located diagnostic.

/// An organisation in a temporary folder: the boutique's config and the given intents.
fn org_with(intents: &[(&str, &str)]) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy(
        Path::new(ROOT).join("fixtures/boutique/pctl-org.yaml"),
        tmp.path().join("pctl-org.yaml"),
    )
    .unwrap();
    for (name, text) in intents {
        std::fs::create_dir_all(tmp.path().join(name)).unwrap();
        std::fs::write(tmp.path().join(name).join("platform.yaml"), text).unwrap();
    }
    tmp
}

fn intent(name: &str, kind: &str, spec: &str) -> String {
    format!(
        "apiVersion: pctl.dev/v1\nkind: {kind}\nmetadata:\n  name: {name}\n  owner: team-checkout\n  oncall: https://pager.example/x\n  runbook: https://wiki.example/x\nspec:\n  image: us-central1-docker.pkg.dev/online-boutique-ci/microservices-demo/{name}\n{spec}"
    )
}

const GRPC: &str = "  ports:\n    - {name: grpc, port: 50051, protocol: grpc}\n";
const ENVS: &str = "  environments:\n    dev: {}\n    prod: {replicas: 2}\n";

fn validate_all(dir: &Path) -> support::Run {
    let mut cmd = pctl();
    cmd.args(["validate", "--all", "--format", "json"]).arg(dir);
    run(cmd)
}

fn codes(r: &support::Run) -> Vec<(String, u64)> {
    r.diagnostics()
        .iter()
        .filter(|d| d["severity"] != "note")
        .map(|d| {
            (
                d["code"].as_str().unwrap_or_default().to_string(),
                d["span"]["line"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

#[test]
fn contract_mistakes_are_located_in_the_callers_platform_yaml() {
    let callee = intent(
        "payments",
        "Service",
        &format!("{GRPC}  health: {{probe: grpc}}\n{ENVS}"),
    );
    // Line numbers: `spec.image` is line 9 of `intent`.
    let caller = intent(
        "checkout",
        "Service",
        &format!(
            "{GRPC}  health: {{probe: grpc}}\n  env:\n    LEDGER: ledger.ledger.svc.cluster.local:80\n    PAY: payments:50051\n  dependencies:\n    - {{name: payments, env: PAYMENT_ADDR, port: admin}}\n    - {{name: reports, env: REPORTS_ADDR}}\n    - ledger\n  environments:\n    dev: {{}}\n    staging: {{}}\n    prod: {{replicas: 2}}\n"
        ),
    );
    let reports = intent(
        "reports",
        "Worker",
        "  environments:\n    dev: {}\n    staging: {}\n    prod: {replicas: 2}\n",
    );
    let ledger = intent(
        "ledger",
        "Service",
        &format!(
            "{GRPC}  health: {{probe: grpc}}\n  environments:\n    dev: {{}}\n    staging: {{}}\n    prod: {{replicas: 2}}\n"
        ),
    );
    let tmp = org_with(&[
        ("payments", &callee),
        ("checkout", &caller),
        ("reports", &reports),
        ("ledger", &ledger),
    ]);
    let r = validate_all(tmp.path());
    let found = codes(&r);
    for (code, line) in [
        ("dependency/hand-written-address", 15), // PAY: payments:50051
        ("dependency/unknown-port", 17),         // port: admin
        ("dependency/not-deployed", 17),         // payments is not in staging
        ("dependency/no-port", 18),              // a Worker cannot be called
        ("dependency/legacy-url", 19),           // `- ledger` is gRPC: LEDGER_URL is useless
        ("dependency/hand-written-address", 14), // LEDGER: ledger.ledger.svc...
    ] {
        assert!(
            found.contains(&(code.to_string(), line)),
            "expected {code} at line {line}, got {found:?}\n{}",
            r.stdout
        );
    }
    assert_eq!(r.code, 1, "unknown ports and undeployed callees are errors");
}

#[test]
fn intent_mistakes_about_ports_probes_and_templates_are_errors() {
    let bad = intent(
        "api",
        "Service",
        "  port: 8080\n  ports:\n    - {name: grpc, port: 9000, protocol: grpc}\n    - {name: grpc, port: 9001}\n  health: {probe: grpc, port: web, path: /healthz}\n  metrics: {port: grpc}\n  dependencies:\n    - {name: other, env: {X: \"{hots}:{port}\"}}\n  environments:\n    dev: {}\n",
    );
    let tmp = org_with(&[("api", &bad)]);
    let r = validate_all(tmp.path());
    let found: Vec<String> = codes(&r).into_iter().map(|(c, _)| c).collect();
    for code in [
        "semantic/port-and-ports",
        "semantic/duplicate-port",
        "semantic/health-port",
        "semantic/health-protocol",
        "semantic/metrics-protocol",
        "semantic/dependency-template",
    ] {
        assert!(found.iter().any(|c| c == code), "missing {code}: {found:?}");
    }
}

// ------------------------------------------------------------------------------------------
// One application's run: its callees' contracts come from records, never from a guess.

fn render(args: &[&str], out: &Path) -> support::Run {
    let mut cmd = pctl();
    cmd.arg("render")
        .args(args)
        .args(["--source-sha", SHA, "--format", "json", "--out"])
        .arg(out);
    run(cmd)
}

#[test]
fn a_single_application_reads_its_callees_contracts_from_the_records_it_is_rendered_beside() {
    let tmp = tempfile::tempdir().unwrap();
    let org = Path::new(ROOT).join("fixtures/boutique");
    // Alone, in an empty folder: no record says where its callees are.
    let alone = tmp.path().join("alone");
    let r = render(
        &[
            "fixtures/boutique/checkoutservice",
            "--org",
            "fixtures/boutique/pctl-org.yaml",
        ],
        &alone,
    );
    r.expect_code(0);
    let unresolved = r.diags_with_code("dependency/unresolved");
    assert_eq!(unresolved.len(), 6, "one per callee: {}", r.stdout);
    assert_eq!(
        unresolved[0]["file"],
        "fixtures/boutique/checkoutservice/platform.yaml"
    );
    let cm =
        std::fs::read_to_string(alone.join("apps/dev/checkoutservice/configmap.yaml")).unwrap();
    assert!(
        !cm.contains("EMAIL_SERVICE_ADDR"),
        "no guessed address:\n{cm}"
    );
    // Beside the organisation's records: the addresses the whole organisation would render.
    let out = tmp.path().join("out");
    render(&["--all", org.to_str().unwrap()], &out).expect_code(0);
    let whole = std::fs::read(out.join("apps/prod/checkoutservice/configmap.yaml")).unwrap();
    std::fs::remove_dir_all(out.join("apps/prod/checkoutservice")).unwrap();
    let r = render(
        &[
            "fixtures/boutique/checkoutservice",
            "--org",
            "fixtures/boutique/pctl-org.yaml",
        ],
        &out,
    );
    r.expect_code(0);
    assert!(
        r.diags_with_code("dependency/unresolved").is_empty(),
        "{}",
        r.stdout
    );
    assert_eq!(
        std::fs::read(out.join("apps/prod/checkoutservice/configmap.yaml")).unwrap(),
        whole
    );
}

#[test]
fn a_callees_port_change_rerenders_its_callers_from_the_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let org = tmp.path().join("org");
    copy_dir(&Path::new(ROOT).join("fixtures/boutique"), &org);
    let out = tmp.path().join("out");
    render(&["--all", org.to_str().unwrap()], &out).expect_code(0);
    let again = render(&["--all", org.to_str().unwrap()], &out);
    again.expect_code(0);
    assert_eq!(again.summary()["rendered"], 0, "everything from the cache");
    // emailservice's Service port moves: checkoutservice, its caller, is rendered again.
    let p = org.join("emailservice/platform.yaml");
    let text = std::fs::read_to_string(&p)
        .unwrap()
        .replace("service_port: 5000", "service_port: 5001");
    std::fs::write(&p, text).unwrap();
    let moved = render(&["--all", org.to_str().unwrap()], &out);
    moved.expect_code(0);
    assert_eq!(moved.summary()["rendered"], 2, "{}", moved.summary());
    let cm = std::fs::read_to_string(out.join("apps/dev/checkoutservice/configmap.yaml")).unwrap();
    assert!(
        cm.contains("emailservice.emailservice.svc.cluster.local:5001"),
        "{cm}"
    );
}

#[test]
fn publishing_one_application_takes_its_callees_contracts_from_the_deploy_repository() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = support::bare_repo(tmp.path(), "deploy.git");
    let url = support::file_url(&bare);
    let publish = |args: &[&str]| {
        let mut cmd = pctl();
        cmd.arg("publish")
            .args(args)
            .args([
                "--org",
                "fixtures/boutique/pctl-org.yaml",
                "--source-sha",
                SHA,
            ])
            .args(["--deploy-repo", &url, "--format", "json"]);
        run(cmd)
    };
    // Before its callees are published: a warning each, no address.
    let first = publish(&["fixtures/boutique/recommendationservice"]);
    first.expect_code(0);
    assert_eq!(
        first.diags_with_code("dependency/unresolved").len(),
        1,
        "{}",
        first.stdout
    );
    // The catalog publishes itself; then recommendationservice finds its address.
    publish(&["fixtures/boutique/productcatalogservice"]).expect_code(0);
    let second = publish(&["fixtures/boutique/recommendationservice"]);
    second.expect_code(0);
    assert!(
        second.diags_with_code("dependency/unresolved").is_empty(),
        "{}",
        second.stdout
    );
    let cm = support::show_text(
        &bare,
        "main",
        "apps/dev/recommendationservice/configmap.yaml",
    );
    assert!(
        cm.contains("\"PRODUCT_CATALOG_SERVICE_ADDR\": \"productcatalogservice.productcatalogservice.svc.cluster.local:3550\""),
        "{cm}"
    );
}

fn copy_dir(from: &Path, to: &Path) {
    for e in walkdir::WalkDir::new(from) {
        let e = e.unwrap();
        let dest = to.join(e.path().strip_prefix(from).unwrap());
        if e.file_type().is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
        } else {
            std::fs::copy(e.path(), &dest).unwrap();
        }
    }
}

#[test]
fn the_checks_catch_what_they_are_meant_to_catch() {
    // The boutique's prod tree, broken five ways: each must be reported.
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(
        &Path::new(ROOT).join("golden-tests/boutique/expected/apps/prod"),
        &tmp.path().join("apps/prod"),
    );
    let edit = |file: &str, from: &str, to: &str| {
        let p = tmp.path().join("apps/prod").join(file);
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.contains(from), "{file}: {from}");
        std::fs::write(&p, text.replacen(from, to, 1)).unwrap();
    };
    // 1. A Service port callers do not dial any more.
    edit("emailservice/service.yaml", "port: 5000", "port: 5001");
    // 2. The companion's egress rule is gone.
    edit(
        "cartservice/networkpolicy.yaml",
        "app.kubernetes.io/name: \"cartservice-cart\"",
        "app.kubernetes.io/name: \"nothing\"",
    );
    // 3. A gRPC server probed over TCP.
    edit(
        "adservice/deployment.yaml",
        "grpc:\n              port: 9555",
        "tcpSocket:\n              port: 9555",
    );
    // 4. A hand-written short name.
    edit(
        "recommendationservice/configmap.yaml",
        "\"productcatalogservice.productcatalogservice.svc.cluster.local:3550\"",
        "\"productcatalogservice:3550\"",
    );
    // 5. The frontend's namespace no longer says it calls cartservice.
    edit(
        "frontend/namespace.yaml",
        "    \"pctl.dev/calls-cartservice\": \"true\"\n",
        "",
    );
    let (bad, _) = problems(&Tree::load(tmp.path()));
    let text = bad.join("\n");
    for expected in [
        "checkoutservice: EMAIL_SERVICE_ADDR=emailservice.emailservice.svc.cluster.local:5000: Service emailservice/emailservice has no port 5000",
        "the NetworkPolicy of cartservice drops the call (egress to cartservice-cart:6379)",
        "adservice: livenessProbe does not check grpc port 9555",
        "addresses `productcatalogservice` by its short name",
        "recommendationservice: calls `productcatalogservice` but reads no address of it",
        "prod frontend: CART_SERVICE_ADDR=cartservice.cartservice.svc.cluster.local:7070: the NetworkPolicy of cartservice drops the call (ingress on 7070)",
    ] {
        assert!(text.contains(expected), "missing: {expected}\n{text}");
    }
}
