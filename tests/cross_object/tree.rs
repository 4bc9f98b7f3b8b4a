//! A rendered deploy tree read back as objects, and the questions cross-object checks ask of
//! it: objects by kind and folder, the pods a workload runs (with the copies controllers make:
//! Flagger's `-primary` Deployment and Services), label selectors, container ports, what a
//! NetworkPolicy admits, in-cluster addresses in configuration, data-store ports in Terraform,
//! Backstage references. Nothing here knows pctl's blueprints: only Kubernetes, Argo, Flagger,
//! prometheus-operator and Backstage semantics. Extend it (gRPC addresses, probes) by adding a
//! helper here and a check in `cross_object.rs`.

#![allow(dead_code)]

use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::Path;

/// One YAML document of the tree.
#[derive(Debug, Clone)]
pub struct Obj {
    pub path: String,
    /// Index of the document in its file (0 for single-document files).
    pub doc: usize,
    pub v: Value,
}

impl Obj {
    pub fn kind(&self) -> &str {
        self.v["kind"].as_str().unwrap_or_default()
    }
    pub fn api(&self) -> &str {
        self.v["apiVersion"].as_str().unwrap_or_default()
    }
    pub fn name(&self) -> &str {
        self.v["metadata"]["name"].as_str().unwrap_or_default()
    }
    pub fn namespace(&self) -> &str {
        self.v["metadata"]["namespace"].as_str().unwrap_or_default()
    }
    pub fn labels(&self) -> Map<String, Value> {
        self.v["metadata"]["labels"]
            .as_object()
            .cloned()
            .unwrap_or_default()
    }
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.v["metadata"]["annotations"][key].as_str()
    }
    pub fn spec(&self) -> &Value {
        &self.v["spec"]
    }
    /// `path (Kind/name)`, for messages.
    pub fn at(&self) -> String {
        format!("{} ({}/{})", self.path, self.kind(), self.name())
    }
}

/// A service's folder of Kubernetes objects in one environment: `apps/<env>/<service>`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Dir {
    pub env: String,
    pub service: String,
}

impl Dir {
    pub fn path(&self) -> String {
        format!("apps/{}/{}", self.env, self.service)
    }
}

/// A deploy tree: every file's text, every Kubernetes object and every Backstage entity.
pub struct Tree {
    pub name: String,
    pub files: BTreeMap<String, String>,
    /// Documents with a `kind` outside `backstage.io` (manifests, GitOps entry points).
    pub objects: Vec<Obj>,
    /// Documents with `apiVersion: backstage.io/...`.
    pub entities: Vec<Obj>,
}

impl Tree {
    pub fn load(dir: &Path, name: &str) -> Tree {
        let mut files = BTreeMap::new();
        // A folder that was never written (a failed render) is an empty tree.
        for entry in walkdir::WalkDir::new(dir)
            .sort_by_file_name()
            .into_iter()
            .flatten()
        {
            if entry.file_type().is_file() {
                let rel = entry
                    .path()
                    .strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                if let Ok(text) = std::fs::read_to_string(entry.path()) {
                    files.insert(rel, text);
                }
            }
        }
        let mut objects = Vec::new();
        let mut entities = Vec::new();
        for (path, text) in &files {
            if !(path.ends_with(".yaml") || path.ends_with(".yml")) || path.starts_with(".github/")
            {
                continue;
            }
            for (doc, de) in serde_yaml::Deserializer::from_str(text).enumerate() {
                use serde::Deserialize;
                let v = Value::deserialize(de).unwrap_or_else(|e| panic!("{name}/{path}: {e}"));
                if v.is_null() {
                    continue;
                }
                let obj = Obj {
                    path: path.clone(),
                    doc,
                    v,
                };
                if obj.api().starts_with("backstage.io/") {
                    entities.push(obj);
                } else if !obj.kind().is_empty() {
                    objects.push(obj);
                }
            }
        }
        Tree {
            name: name.to_string(),
            files,
            objects,
            entities,
        }
    }

    pub fn of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Obj> + 'a {
        self.objects.iter().filter(move |o| o.kind() == kind)
    }

    /// The objects of one service folder (`apps/<env>/<service>/`).
    pub fn in_dir(&self, dir: &Dir) -> Vec<&Obj> {
        let prefix = format!("{}/", dir.path());
        self.objects
            .iter()
            .filter(|o| o.path.starts_with(&prefix))
            .collect()
    }

    pub fn kind_in<'a>(&'a self, dir: &Dir, kind: &str) -> Vec<&'a Obj> {
        self.in_dir(dir)
            .into_iter()
            .filter(|o| o.kind() == kind)
            .collect()
    }

    pub fn find<'a>(&'a self, dir: &Dir, kind: &str, name: &str) -> Option<&'a Obj> {
        self.in_dir(dir)
            .into_iter()
            .find(|o| o.kind() == kind && o.name() == name)
    }

    /// Every service folder of the tree.
    pub fn dirs(&self) -> Vec<Dir> {
        let mut dirs: Vec<Dir> = self
            .files
            .keys()
            .filter_map(|p| {
                let mut s = p.split('/');
                match (s.next(), s.next(), s.next(), s.next(), s.next()) {
                    (Some("apps"), Some(env), Some(svc), Some(_), None) => Some(Dir {
                        env: env.into(),
                        service: svc.into(),
                    }),
                    _ => None,
                }
            })
            .collect();
        dirs.dedup();
        dirs
    }

    /// The variables one workload's containers get (`envFrom` ConfigMaps of the folder, literal
    /// `env` values).
    pub fn config_of(&self, dir: &Dir, w: &Workload) -> BTreeMap<String, String> {
        let mut vars = BTreeMap::new();
        for c in containers(&w.pod_spec) {
            for from in c["envFrom"].as_array().into_iter().flatten() {
                if let Some(cm) = from["configMapRef"]["name"].as_str() {
                    if let Some(o) = self.find(dir, "ConfigMap", cm) {
                        for (k, v) in o.v["data"].as_object().into_iter().flatten() {
                            vars.insert(k.clone(), v.as_str().unwrap_or_default().into());
                        }
                    }
                }
            }
            for e in c["env"].as_array().into_iter().flatten() {
                if let (Some(k), Some(v)) = (e["name"].as_str(), e["value"].as_str()) {
                    vars.insert(k.into(), v.into());
                }
            }
        }
        vars
    }
}

// ---------------------------------------------------------------------------------------------
// Workloads and their pods

/// Something that runs pods: a Deployment, Rollout, CronJob, Job, StatefulSet, DaemonSet, or
/// a copy a controller makes (Flagger's `<name>-primary`).
#[derive(Debug, Clone)]
pub struct Workload {
    pub kind: String,
    pub name: String,
    pub namespace: String,
    pub path: String,
    pub pod_labels: Map<String, Value>,
    pub pod_spec: Value,
    /// Made by a controller from a rendered object, not rendered itself.
    pub synthesized: bool,
    pub object: Value,
}

pub fn pod_template(o: &Value) -> &Value {
    match o["kind"].as_str() {
        Some("CronJob") => &o["spec"]["jobTemplate"]["spec"]["template"],
        _ => &o["spec"]["template"],
    }
}

/// The labels of the pods a workload object runs.
pub fn pod_labels(o: &Value) -> Map<String, Value> {
    pod_template(o)["metadata"]["labels"]
        .as_object()
        .cloned()
        .unwrap_or_default()
}

/// The workloads of a folder, with Flagger's primary copy of every Canary's target.
pub fn workloads(tree: &Tree, dir: &Dir) -> Vec<Workload> {
    const KINDS: &[&str] = &[
        "Deployment",
        "Rollout",
        "CronJob",
        "Job",
        "StatefulSet",
        "DaemonSet",
    ];
    let objs = tree.in_dir(dir);
    let mut out: Vec<Workload> = objs
        .iter()
        .filter(|o| KINDS.contains(&o.kind()))
        .map(|o| Workload {
            kind: o.kind().into(),
            name: o.name().into(),
            namespace: o.namespace().into(),
            path: o.path.clone(),
            pod_labels: pod_labels(&o.v),
            pod_spec: pod_template(&o.v)["spec"].clone(),
            synthesized: false,
            object: o.v.clone(),
        })
        .collect();
    for canary in objs.iter().filter(|o| o.kind() == "Canary") {
        let target = canary.spec()["targetRef"]["name"].as_str().unwrap_or("");
        if let Some(t) = out.iter().find(|w| w.name == target).cloned() {
            out.push(flagger_primary(&t));
        }
    }
    out
}

/// Flagger's copy of a canary's target: named `<name>-primary`, every label whose value was
/// the target's name (its selector label) renamed to `<name>-primary`.
fn flagger_primary(target: &Workload) -> Workload {
    let primary = format!("{}-primary", target.name);
    let mut w = target.clone();
    w.name = primary.clone();
    w.synthesized = true;
    for v in w.pod_labels.values_mut() {
        if v.as_str() == Some(target.name.as_str()) {
            *v = Value::String(primary.clone());
        }
    }
    w
}

pub fn containers(pod_spec: &Value) -> Vec<&Value> {
    pod_spec["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .collect()
}

/// A port a container declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Port {
    pub name: Option<String>,
    pub number: u16,
    pub protocol: String,
}

pub fn container_ports(container: &Value) -> Vec<Port> {
    container["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| {
            Some(Port {
                name: p["name"].as_str().map(str::to_string),
                number: p["containerPort"].as_u64()? as u16,
                protocol: p["protocol"].as_str().unwrap_or("TCP").into(),
            })
        })
        .collect()
}

/// Every port of every container of a pod.
pub fn pod_ports(pod_spec: &Value) -> Vec<Port> {
    containers(pod_spec)
        .into_iter()
        .flat_map(container_ports)
        .collect()
}

/// A port reference (a number, or a name of a container port) resolved on a pod.
pub fn resolve_port(pod_spec: &Value, port: &Value) -> Option<u16> {
    match port {
        Value::Number(n) => n.as_u64().map(|n| n as u16),
        Value::String(s) => match s.parse::<u16>() {
            Ok(n) => Some(n),
            Err(_) => pod_ports(pod_spec)
                .into_iter()
                .find(|p| p.name.as_deref() == Some(s))
                .map(|p| p.number),
        },
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Selectors

/// A Service-style selector (a map): every pair is among the labels.
pub fn map_matches(selector: &Map<String, Value>, labels: &Map<String, Value>) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// A `LabelSelector` (`matchLabels` and `matchExpressions`). An empty selector selects all.
pub fn selector_matches(selector: &Value, labels: &Map<String, Value>) -> bool {
    if let Some(ml) = selector["matchLabels"].as_object() {
        if !map_matches(ml, labels) {
            return false;
        }
    }
    for e in selector["matchExpressions"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let key = e["key"].as_str().unwrap_or_default();
        let values: Vec<&str> = e["values"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let have = labels.get(key).and_then(Value::as_str);
        let ok = match e["operator"].as_str().unwrap_or_default() {
            "In" => have.is_some_and(|h| values.contains(&h)),
            "NotIn" => have.is_none_or(|h| !values.contains(&h)),
            "Exists" => have.is_some(),
            "DoesNotExist" => have.is_none(),
            _ => false,
        };
        if !ok {
            return false;
        }
    }
    true
}

/// A Service as the cluster will have it: rendered, or made by Flagger for a Canary.
#[derive(Debug, Clone)]
pub struct Svc {
    pub name: String,
    pub labels: Map<String, Value>,
    pub selector: Map<String, Value>,
    pub ports: Vec<Value>,
    pub synthesized: bool,
}

/// The Services of a folder, with the three Flagger makes per Canary (`<name>` and
/// `<name>-primary` select the primary pods, `<name>-canary` the target's; with port
/// discovery every container port is added).
pub fn services(tree: &Tree, dir: &Dir) -> Vec<Svc> {
    let mut out: Vec<Svc> = tree
        .kind_in(dir, "Service")
        .into_iter()
        .map(|o| Svc {
            name: o.name().into(),
            labels: o.labels(),
            selector: o.spec()["selector"]
                .as_object()
                .cloned()
                .unwrap_or_default(),
            ports: o.spec()["ports"].as_array().cloned().unwrap_or_default(),
            synthesized: false,
        })
        .collect();
    let ws = workloads(tree, dir);
    for canary in tree.kind_in(dir, "Canary") {
        let s = &canary.spec()["service"];
        let target = canary.spec()["targetRef"]["name"].as_str().unwrap_or("");
        let name = canary.name();
        let Some(t) = ws.iter().find(|w| w.name == target && !w.synthesized) else {
            continue;
        };
        let key = t
            .pod_labels
            .iter()
            .find(|(_, v)| v.as_str() == Some(target))
            .map(|(k, _)| k.clone())
            .unwrap_or_else(|| "app".into());
        let mut ports = vec![serde_json::json!({
            "name": s["portName"].as_str().unwrap_or("http"),
            "port": s["port"],
            "targetPort": if s["targetPort"].is_null() { s["port"].clone() } else { s["targetPort"].clone() },
        })];
        if s["portDiscovery"].as_bool() == Some(true) {
            for p in pod_ports(&t.pod_spec) {
                ports.push(
                    serde_json::json!({"name": p.name, "port": p.number, "targetPort": p.number}),
                );
            }
        }
        let labels = |which: &str| s[which]["labels"].as_object().cloned().unwrap_or_default();
        let sel = |v: String| {
            let mut m = Map::new();
            m.insert(key.clone(), Value::String(v));
            m
        };
        for (svc, lbl, pods) in [
            (
                name.to_string(),
                labels("apex"),
                format!("{target}-primary"),
            ),
            (
                format!("{name}-primary"),
                labels("primary"),
                format!("{target}-primary"),
            ),
            (
                format!("{name}-canary"),
                labels("canary"),
                target.to_string(),
            ),
        ] {
            out.push(Svc {
                name: svc,
                labels: lbl,
                selector: sel(pods),
                ports: ports.clone(),
                synthesized: true,
            });
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Network policies

/// Where a connection goes.
#[derive(Debug, Clone)]
pub enum Peer {
    /// A pod in the cluster: its namespace's labels and its own (an empty map when unknown:
    /// then only rules that do not select pods by label admit it).
    Pod {
        namespace: String,
        labels: Map<String, Value>,
    },
    /// An address outside the cluster.
    Ip(Ipv4Addr),
    /// Some address in the VPC, which may be in any private range (a data store): admitted
    /// when every address of every private range is.
    AnyPrivate,
    /// Every address of a CIDR.
    Cidr(String),
}

impl Peer {
    pub fn namespace(ns: &str) -> Peer {
        Peer::Pod {
            namespace: ns.into(),
            labels: Map::new(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Dest {
    pub peer: Peer,
    pub port: u16,
    pub protocol: &'static str,
}

impl std::fmt::Display for Dest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.peer {
            Peer::Pod { namespace, .. } => write!(f, "namespace {namespace}")?,
            Peer::Ip(ip) => write!(f, "{ip}")?,
            Peer::AnyPrivate => write!(f, "a private address")?,
            Peer::Cidr(c) => write!(f, "{c}")?,
        }
        write!(f, " port {}/{}", self.port, self.protocol)
    }
}

pub const PRIVATE: [&str; 3] = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"];

fn cidr(s: &str) -> Option<(u32, u32)> {
    let (ip, len) = s.split_once('/')?;
    let ip: Ipv4Addr = ip.parse().ok()?;
    let len: u32 = len.parse().ok()?;
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    Some((u32::from(ip) & mask, mask))
}

/// Whether CIDR `outer` contains all of CIDR `inner`.
pub fn cidr_covers(outer: &str, inner: &str) -> bool {
    match (cidr(outer), cidr(inner)) {
        (Some((o, om)), Some((i, im))) => om & im == om && i & om == o,
        _ => false,
    }
}

fn ip_block_admits(block: &Value, peer: &Peer) -> bool {
    let outer = block["cidr"].as_str().unwrap_or_default();
    let except: Vec<&str> = block["except"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    match peer {
        Peer::Ip(ip) => {
            let one = format!("{ip}/32");
            cidr_covers(outer, &one) && !except.iter().any(|e| cidr_covers(e, &one))
        }
        Peer::Cidr(r) => {
            cidr_covers(outer, r)
                && !except
                    .iter()
                    .any(|e| cidr_covers(e, r) || cidr_covers(r, e))
        }
        Peer::AnyPrivate => false,
        // Pod addresses are the cluster's business: an ipBlock is not meant for them.
        Peer::Pod { .. } => false,
    }
}

fn peer_admits(p: &Value, own_namespace: &str, peer: &Peer) -> bool {
    if p.get("ipBlock").is_some() {
        return ip_block_admits(&p["ipBlock"], peer);
    }
    let Peer::Pod { namespace, labels } = peer else {
        return false;
    };
    let ns_ok = match p.get("namespaceSelector") {
        Some(sel) => {
            let mut ns_labels = Map::new();
            ns_labels.insert(
                "kubernetes.io/metadata.name".into(),
                Value::String(namespace.clone()),
            );
            selector_matches(sel, &ns_labels)
        }
        None => namespace == own_namespace,
    };
    let pod_ok = match p.get("podSelector") {
        Some(sel) => selector_matches(sel, labels),
        None => true,
    };
    ns_ok && pod_ok
}

fn port_admits(rule_ports: Option<&Value>, dest: &Dest, dest_pod: Option<&Value>) -> bool {
    let Some(ports) = rule_ports.and_then(Value::as_array) else {
        return true;
    };
    if ports.is_empty() {
        return true;
    }
    ports.iter().any(|p| {
        let proto = p["protocol"].as_str().unwrap_or("TCP");
        if proto != dest.protocol {
            return false;
        }
        let Some(port) = p.get("port") else {
            return true;
        };
        let n = match (port, dest_pod) {
            (Value::String(_), Some(spec)) => resolve_port(spec, port),
            (Value::String(s), None) => s.parse().ok(),
            _ => port.as_u64().map(|n| n as u16),
        };
        match (n, p["endPort"].as_u64()) {
            (Some(n), Some(end)) => (n..=end as u16).contains(&dest.port),
            (Some(n), None) => n == dest.port,
            _ => false,
        }
    })
}

/// The NetworkPolicies of a folder that select a workload's pods and restrict `direction`
/// (`Egress` or `Ingress`). None: that direction is open.
pub fn policies_for<'a>(tree: &'a Tree, dir: &Dir, w: &Workload, direction: &str) -> Vec<&'a Obj> {
    tree.kind_in(dir, "NetworkPolicy")
        .into_iter()
        .filter(|np| selector_matches(&np.spec()["podSelector"], &w.pod_labels))
        .filter(|np| {
            np.spec()["policyTypes"]
                .as_array()
                .is_some_and(|t| t.iter().any(|x| x == direction))
        })
        .collect()
}

/// Whether the NetworkPolicies that restrict a workload's egress let it reach `dest`.
pub fn egress_admits(tree: &Tree, dir: &Dir, w: &Workload, dest: &Dest) -> bool {
    if let Peer::AnyPrivate = dest.peer {
        return PRIVATE.iter().all(|r| {
            let one = Dest {
                peer: Peer::Cidr(r.to_string()),
                ..dest.clone()
            };
            egress_admits(tree, dir, w, &one)
        });
    }
    let policies = policies_for(tree, dir, w, "Egress");
    if policies.is_empty() {
        return true;
    }
    policies.iter().any(|np| {
        np.spec()["egress"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|rule| {
                let peers_ok = match rule["to"].as_array() {
                    None => true,
                    Some(to) if to.is_empty() => true,
                    Some(to) => to.iter().any(|p| peer_admits(p, &w.namespace, &dest.peer)),
                };
                peers_ok && port_admits(rule.get("ports"), dest, None)
            })
    })
}

/// Whether any rule admits the namespace of `peer` on any port (for destinations whose port
/// is not known from the tree).
pub fn egress_admits_namespace(tree: &Tree, dir: &Dir, w: &Workload, ns: &str) -> bool {
    let policies = policies_for(tree, dir, w, "Egress");
    policies.is_empty()
        || policies.iter().any(|np| {
            np.spec()["egress"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|rule| match rule["to"].as_array() {
                    None => true,
                    Some(to) => {
                        to.is_empty()
                            || to
                                .iter()
                                .any(|p| peer_admits(p, &w.namespace, &Peer::namespace(ns)))
                    }
                })
        })
}

// ---------------------------------------------------------------------------------------------
// Addresses in configuration

/// `scheme://host[:port][/path]` -> (scheme, host, port: explicit or the scheme's default).
pub fn url_parts(value: &str) -> Option<(String, String, u16)> {
    let (scheme, rest) = value.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit('@').next()?;
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (h, p.parse().ok()?),
        None => (
            authority,
            match scheme {
                "https" | "grpcs" => 443,
                "http" | "grpc" => 80,
                _ => return None,
            },
        ),
    };
    Some((scheme.to_string(), host.to_string(), port))
}

/// An in-cluster address `http://svc.ns.svc.cluster.local[:port]`, `svc.ns.svc:port`,
/// `svc.ns:port`: (service, namespace, port).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterAddr {
    pub service: String,
    pub namespace: String,
    pub port: u16,
}

pub fn in_cluster_address(value: &str) -> Option<ClusterAddr> {
    let (host, port) = match url_parts(value) {
        Some((_, h, p)) => (h, p),
        None => {
            let (h, p) = value.rsplit_once(':')?;
            (h.to_string(), p.parse().ok()?)
        }
    };
    let host = host
        .strip_suffix(".cluster.local")
        .unwrap_or(&host)
        .to_string();
    let host = host.strip_suffix(".svc").unwrap_or(&host);
    let parts: Vec<&str> = host.split('.').collect();
    match parts.as_slice() {
        [svc, ns] if !svc.is_empty() && !ns.is_empty() && !ns.contains(':') => Some(ClusterAddr {
            service: svc.to_string(),
            namespace: ns.to_string(),
            port,
        }),
        _ => None,
    }
}

/// Whether a workload's configuration names a host it connects to (a URL or `host:port` with a
/// name, not an address) or reads a Secret (where the connections of managed data stores are):
/// a pod without (an in-cluster companion: Redis, PostgreSQL) resolves nothing and calls no one.
pub fn names_hosts(tree: &Tree, dir: &Dir, w: &Workload) -> bool {
    let named = |host: &str| !host.is_empty() && host.parse::<std::net::IpAddr>().is_err();
    let in_config = tree.config_of(dir, w).values().any(|v| {
        in_cluster_address(v).is_some() || url_parts(v).is_some_and(|(_, host, _)| named(&host))
    });
    let reads_secret = containers(&w.pod_spec).iter().any(|c| {
        c["envFrom"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|f| f["secretRef"].is_object())
            || c["env"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|e| e["valueFrom"]["secretKeyRef"].is_object())
    });
    in_config || reads_secret
}

/// The container ports behind a Service port of the tree (`apps/<env>/<ns>/`), when the tree
/// has that Service and its pods.
pub fn backend_ports(tree: &Tree, env: &str, addr: &ClusterAddr) -> Option<Vec<u16>> {
    backends(tree, env, addr).map(|b| b.into_iter().map(|(port, _)| port).collect())
}

/// The pods behind a Service port of the tree: (container port, the pods' labels) of every
/// workload the Service selects, when the tree has that Service and its pods.
pub fn backends(
    tree: &Tree,
    env: &str,
    addr: &ClusterAddr,
) -> Option<Vec<(u16, Map<String, Value>)>> {
    let dir = Dir {
        env: env.into(),
        service: addr.namespace.clone(),
    };
    let svc = services(tree, &dir)
        .into_iter()
        .find(|s| s.name == addr.service)?;
    let port = svc
        .ports
        .iter()
        .find(|p| p["port"].as_u64() == Some(addr.port as u64))?;
    let target = if port["targetPort"].is_null() {
        port["port"].clone()
    } else {
        port["targetPort"].clone()
    };
    let pods: Vec<(u16, Map<String, Value>)> = workloads(tree, &dir)
        .iter()
        .filter(|w| map_matches(&svc.selector, &w.pod_labels))
        .filter_map(|w| Some((resolve_port(&w.pod_spec, &target)?, w.pod_labels.clone())))
        .collect();
    (!pods.is_empty()).then_some(pods)
}

// ---------------------------------------------------------------------------------------------
// Terraform

/// The data stores a service's Terraform declares in an environment and the port its pods
/// connect to: (resource address, port).
pub fn data_store_ports(tree: &Tree, dir: &Dir) -> Vec<(String, u16)> {
    const DEFAULTS: &[(&str, u16)] = &[
        ("aws_db_instance", 5432),
        ("aws_rds_cluster", 5432),
        ("aws_elasticache_replication_group", 6379),
        ("aws_elasticache_cluster", 6379),
        ("aws_sqs_queue", 443),
    ];
    let prefix = format!("terraform/{}/{}/", dir.env, dir.service);
    let mut out = Vec::new();
    for (path, text) in tree.files.range(prefix.clone()..) {
        if !path.starts_with(&prefix) {
            break;
        }
        if !path.ends_with(".tf") {
            continue;
        }
        let mut current: Option<(String, u16)> = None;
        let mut depth = 0i32;
        for line in text.lines() {
            let t = line.trim();
            if depth == 0 {
                if let Some(rest) = t.strip_prefix("resource \"") {
                    let rtype = rest.split('"').next().unwrap_or_default();
                    let name = rest.split('"').nth(2).unwrap_or_default();
                    if let Some((_, port)) = DEFAULTS.iter().find(|(k, _)| *k == rtype) {
                        current = Some((format!("{rtype}.{name}"), *port));
                    }
                }
            } else if depth == 1 {
                if let (Some(cur), Some(v)) = (current.as_mut(), t.strip_prefix("port")) {
                    if let Some(n) = v
                        .trim_start()
                        .strip_prefix('=')
                        .and_then(|x| x.trim().parse().ok())
                    {
                        cur.1 = n;
                    }
                }
            }
            depth += t.matches('{').count() as i32 - t.matches('}').count() as i32;
            if depth == 0 {
                if let Some(c) = current.take() {
                    out.push(c);
                }
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Backstage

/// The entity references of an entity: (field, reference, default kind) with the defaults of
/// Backstage's `BuiltinKindsEntityProcessor`.
pub fn entity_refs(e: &Obj) -> Vec<(String, String, Option<&'static str>)> {
    const FIELDS: &[(&str, Option<&str>)] = &[
        ("owner", Some("group")),
        ("system", Some("system")),
        ("domain", Some("domain")),
        ("parent", Some("group")),
        ("children", Some("group")),
        ("memberOf", Some("group")),
        ("subcomponentOf", Some("component")),
        ("subdomainOf", Some("domain")),
        ("dependsOn", None),
        ("dependencyOf", None),
        ("providesApis", Some("api")),
        ("consumesApis", Some("api")),
    ];
    let mut out = Vec::new();
    for (field, kind) in FIELDS {
        match &e.spec()[*field] {
            Value::String(s) => out.push((field.to_string(), s.clone(), *kind)),
            Value::Array(a) => {
                for s in a.iter().filter_map(Value::as_str) {
                    out.push((field.to_string(), s.to_string(), *kind));
                }
            }
            _ => {}
        }
    }
    out
}

/// `[kind:][namespace/]name` -> (kind, namespace, name), lower case.
pub fn parse_ref(r: &str, default_kind: Option<&str>) -> Option<(String, String, String)> {
    let (kind, rest) = match r.split_once(':') {
        Some((k, rest)) => (k.to_string(), rest),
        None => (default_kind?.to_string(), r),
    };
    let (ns, name) = rest.split_once('/').unwrap_or(("default", rest));
    Some((kind.to_lowercase(), ns.to_lowercase(), name.to_lowercase()))
}

pub fn entity_key(e: &Obj) -> (String, String, String) {
    (
        e.kind().to_lowercase(),
        e.v["metadata"]["namespace"]
            .as_str()
            .unwrap_or("default")
            .to_lowercase(),
        e.name().to_lowercase(),
    )
}

/// Every string of a document at a key, with its path (`spec.links[0].url`).
pub fn strings_at_keys<'a>(v: &'a Value, path: String, out: &mut Vec<(String, &'a str, &'a str)>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if let Value::String(s) = x {
                    out.push((format!("{path}.{k}"), k.as_str(), s.as_str()));
                } else {
                    strings_at_keys(x, format!("{path}.{k}"), out);
                }
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                strings_at_keys(x, format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------------
// Quantities

/// Millicores of a CPU quantity.
pub fn cpu_milli(q: &Value) -> Option<u64> {
    let s = match q {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        _ => return None,
    };
    match s.strip_suffix('m') {
        Some(n) => n.parse().ok(),
        None => s.parse::<f64>().ok().map(|f| (f * 1000.0).round() as u64),
    }
}

/// Bytes of a memory quantity.
pub fn memory_bytes(q: &Value) -> Option<u64> {
    let s = match q {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        _ => return None,
    };
    const UNITS: &[(&str, f64)] = &[
        ("Ki", 1024.0),
        ("Mi", 1048576.0),
        ("Gi", 1073741824.0),
        ("Ti", 1099511627776.0),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
    ];
    for (u, m) in UNITS {
        if let Some(n) = s.strip_suffix(u) {
            return n.parse::<f64>().ok().map(|f| (f * m).round() as u64);
        }
    }
    s.parse::<f64>().ok().map(|f| f.round() as u64)
}
