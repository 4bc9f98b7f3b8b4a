//! The data model: what a developer wrote (`Intent`, from platform.yaml) and what the platform
//! team wrote (`Org`, from pctl-org.yaml).
//!
//! These types are deliberately lenient (every field optional or defaulted): `validate` removes
//! what the schema rejected and deserializes the rest, so that semantic checks still run and the
//! user sees every problem at once. `resolve` turns them into the complete per-environment model.

pub mod aws;
pub mod teams;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Intent {
    pub kind: String,
    pub metadata: Metadata,
    pub spec: Spec,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Metadata {
    pub name: String,
    pub owner: String,
    pub description: Option<String>,
    pub system: Option<String>,
    pub lifecycle: Option<String>,
    pub oncall: Option<String>,
    pub repository: Option<String>,
    pub runbook: Option<String>,
    pub tags: Vec<String>,
    /// Set by `pctl preview` in the intent of a preview (`<service>-pr-<N>`).
    pub preview: Option<PreviewOf>,
}

/// What a preview previews (`metadata.preview`).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct PreviewOf {
    pub of: String,
    pub pr: u64,
    pub ttl_hours: Option<u32>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Spec {
    pub image: String,
    pub port: Option<u16>,
    /// Named ports with protocols (instead of `port`); the first is the primary one.
    pub ports: Vec<Port>,
    pub health: Option<Health>,
    pub command: Option<Vec<String>>,
    pub args: Option<Vec<String>>,
    pub schedule: Option<String>,
    pub endpoints: Vec<Endpoint>,
    pub env: IndexMap<String, Value>,
    pub secrets: Vec<String>,
    pub dependencies: Vec<Dependency>,
    pub resources: IndexMap<String, Resource>,
    pub deploy: Deploy,
    pub slo: Option<Slo>,
    pub compute: Option<Compute>,
    pub metrics: Option<MetricsSetting>,
    #[serde(deserialize_with = "blank_is_default")]
    pub environments: IndexMap<String, EnvOverride>,
    pub blueprint: Option<String>,
    /// Guardrails this service is exempted from, each with its reason.
    pub exemptions: Vec<Exemption>,
    /// How public endpoints are exposed: ingress | gateway | loadbalancer.
    pub exposure: Option<String>,
}

impl Spec {
    /// The names of the services this one calls, in the order written.
    pub fn dependency_names(&self) -> Vec<String> {
        self.dependencies
            .iter()
            .map(|d| d.name().to_string())
            .collect()
    }
}

/// One port of `spec.ports`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Port {
    pub name: String,
    pub port: Option<u16>,
    /// grpc | http | tcp (default http).
    pub protocol: Option<String>,
    /// The Service's port (default: `port`).
    pub service_port: Option<u16>,
}

/// `spec.health`: HTTP paths (`liveness`, `readiness`, or `path` for both), or a gRPC or TCP
/// probe (`probe`), on a port of the service.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Health {
    pub liveness: Option<String>,
    pub readiness: Option<String>,
    pub probe: Option<String>,
    pub port: Option<String>,
    pub path: Option<String>,
    pub headers: IndexMap<String, String>,
    pub service: Option<String>,
    pub startup: Option<String>,
}

/// One entry of `spec.dependencies`: a service name, or the contract with it.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum Dependency {
    Name(String),
    Contract(DependencyContract),
}

impl Default for Dependency {
    fn default() -> Self {
        Dependency::Name(String::new())
    }
}

impl Dependency {
    pub fn name(&self) -> &str {
        match self {
            Dependency::Name(n) => n,
            Dependency::Contract(c) => &c.name,
        }
    }
    pub fn contract(&self) -> Option<&DependencyContract> {
        match self {
            Dependency::Contract(c) => Some(c),
            Dependency::Name(_) => None,
        }
    }
}

/// How a caller reads a callee's address (see docs/dependencies.md).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct DependencyContract {
    pub name: String,
    /// The variable the application reads, or variable -> template (`"{host}:{port}"`).
    pub env: Option<DependencyEnv>,
    /// `host:port` or `url` (with `env` as a variable name); default from the protocol.
    pub form: Option<String>,
    /// A callee port by name; default: its primary port.
    pub port: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum DependencyEnv {
    Variable(String),
    Templates(IndexMap<String, String>),
}

/// A guardrail exemption (`spec.exemptions`).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct Exemption {
    pub guardrail: String,
    pub reason: String,
    /// Where it applies (default: every environment).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub environments: Vec<String>,
    /// An in-cluster resource it applies to, instead of the workload.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Endpoint {
    pub path: String,
    pub public: bool,
    pub sla: Option<f64>,
}

/// A resource as written: the base declaration, or an environment's partial override. Besides
/// the generic fields (`type`, `size`; `placement`, `image`, `compute` for a type that can run
/// in the cluster; `env` for a type that declares its connection properties), its fields are
/// the parameters its type's blueprint declares (`parameters` in the manifest; checked by the
/// run's schema).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Resource {
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<String>,
    /// `managed` (default) or `in-cluster`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub placement: Option<String>,
    /// In the cluster: the companion's image (pinned) and compute.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compute: Option<Compute>,
    /// Variable -> template over the type's connection properties (`"{host}:{port}"`).
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub env: IndexMap<String, String>,
    #[serde(flatten)]
    pub params: IndexMap<String, Value>,
}

impl Resource {
    /// This resource with an environment's override applied field by field.
    pub fn merged(&self, over: Option<&Resource>) -> Resource {
        let Some(o) = over else { return self.clone() };
        let mut params = self.params.clone();
        for (k, v) in o.params.iter().filter(|(_, v)| !v.is_null()) {
            params.insert(k.clone(), v.clone());
        }
        Resource {
            kind: self.kind.clone(),
            size: o.size.clone().or_else(|| self.size.clone()),
            placement: o.placement.clone().or_else(|| self.placement.clone()),
            image: o.image.clone().or_else(|| self.image.clone()),
            compute: o.compute.clone().or_else(|| self.compute.clone()),
            env: self.env.clone(),
            params,
        }
    }
    /// Whether it runs in the service's namespace (a companion) rather than as a managed service.
    pub fn in_cluster(&self) -> bool {
        self.placement.as_deref() == Some("in-cluster")
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Deploy {
    pub strategy: Option<String>,
    pub steps: Vec<Step>,
    /// Blue-green: the check the new version passes before the switch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gate: Option<Gate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollback: Option<Rollback>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Step {
    pub weight: Option<u32>,
    pub duration: Option<String>,
    pub metrics: IndexMap<String, String>,
}

/// `deploy.gate` (blue-green).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Gate {
    pub duration: Option<String>,
    pub metrics: IndexMap<String, String>,
}

/// `spec.build`: what `pctl new`'s workflow uses to scan and sign images.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Build {
    pub scanner: Option<String>,
    pub fail_on: Option<String>,
    pub provenance: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Rollback {
    pub auto: bool,
    pub on: IndexMap<String, String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Slo {
    pub availability: Option<f64>,
    pub latency_p99: Option<String>,
}

/// `spec.metrics`: `false` (not scraped) or where Prometheus scrapes the metrics.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum MetricsSetting {
    Switch(bool),
    Scrape(Metrics),
}

impl MetricsSetting {
    /// The scrape settings, unless scraping is switched off.
    pub fn scrape(&self) -> Option<&Metrics> {
        match self {
            MetricsSetting::Scrape(m) => Some(m),
            MetricsSetting::Switch(_) => None,
        }
    }
    pub fn off(&self) -> bool {
        matches!(self, MetricsSetting::Switch(false))
    }
}

/// Where Prometheus scrapes the application's metrics (`spec.metrics`).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Metrics {
    pub port: Option<PortRef>,
    pub path: Option<String>,
}

/// A port by number, or by the name of a port of `spec.ports`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(untagged)]
pub enum PortRef {
    Number(u16),
    Name(String),
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Compute {
    #[serde(deserialize_with = "quantity")]
    pub cpu: Option<String>,
    #[serde(deserialize_with = "quantity")]
    pub memory: Option<String>,
}

/// `dev:` with no value deploys with the defaults, like `dev: {}`.
fn blank_is_default<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<IndexMap<String, EnvOverride>, D::Error> {
    let m = IndexMap::<String, Option<EnvOverride>>::deserialize(d)?;
    Ok(m.into_iter()
        .map(|(k, v)| (k, v.unwrap_or_default()))
        .collect())
}

/// Quantities may be written as YAML numbers (`cpu: 1`, `cpu: 0.5`); keep them as text.
fn quantity<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::String(s)) => Some(s),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    })
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct EnvOverride {
    pub replicas: Option<u32>,
    pub autoscale: Option<Autoscale>,
    pub compute: Option<Compute>,
    pub resources: IndexMap<String, Resource>,
    pub env: IndexMap<String, Value>,
    pub approvals: Vec<String>,
    pub exposure: Option<String>,
    /// How a new version reaches this environment, overriding the organisation's mode.
    pub promotion: Option<Promotion>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Autoscale {
    pub min: Option<u32>,
    pub max: Option<u32>,
    pub cpu_percent: Option<u32>,
}

// ---------------------------------------------------------------------------------------------
// Organisation config

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Org {
    pub metadata: OrgMetadata,
    pub spec: OrgSpec,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct OrgMetadata {
    pub name: String,
    pub description: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct OrgSpec {
    pub gitops: Option<String>,
    pub deploy_repository: DeployRepository,
    pub registries: Vec<String>,
    pub environments: Vec<Environment>,
    /// Preview environments for pull requests (`pctl preview`).
    pub previews: Option<Previews>,
    pub teams: Vec<Team>,
    pub sizes: IndexMap<String, IndexMap<String, SizeClass>>,
    pub compute_usd_month: Option<ComputePrice>,
    pub secret_store: Option<SecretStore>,
    pub ingress_class: Option<String>,
    pub progressive_delivery: Option<String>,
    /// How the workflow `pctl new` writes builds, scans and signs images.
    pub build: Option<Build>,
    pub observability: Option<Observability>,
    /// Guardrail name -> deny | warn | off (see guardrails::GUARDRAILS for names and defaults).
    pub guardrails: IndexMap<String, String>,
    /// Environment -> resource type -> sizes allowed there.
    pub allowed_sizes: IndexMap<String, IndexMap<String, Vec<String>>>,
    /// Rego policy files or folders, relative to the organisation config.
    pub policies: Vec<String>,
    /// Whether changes that reach only non-protected environments may be published straight
    /// to the deploy branch (with `--protected-via-branch`, as the action does on pushes).
    #[serde(default = "yes")]
    pub direct_publish: bool,
    /// AWS: workload identity, data-store network and profile, keys, alarm routing.
    pub aws: Option<aws::Aws>,
    /// How service namespaces' ResourceQuotas are sized (`crate::teams`).
    pub quota: Option<teams::Quota>,
    /// The clusters' DNS domain, in dependency and companion addresses (default cluster.local).
    pub cluster_domain: Option<String>,
    /// How public endpoints are exposed by default, and the shared Gateway.
    pub exposure: Option<Exposure>,
    /// Resource type -> defaults of its in-cluster companions (image, compute).
    pub companions: IndexMap<String, Companion>,
    /// Guardrails a service may exempt itself from, with a reason (`spec.exemptions`).
    pub exemptable: Option<Vec<String>>,
}

/// `spec.exposure` of the organisation.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Exposure {
    pub default: Option<String>,
    pub gateway: Option<Gateway>,
}

/// The Gateway (Gateway API) HTTPRoutes attach to.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Gateway {
    pub name: String,
    pub namespace: String,
    pub section: Option<String>,
}

/// Defaults of an in-cluster resource type (`spec.companions.<type>`).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Companion {
    pub image: Option<String>,
    pub compute: Option<Compute>,
}

/// Guardrails exemptable when the organisation does not say (`spec.exemptable`).
pub const DEFAULT_EXEMPTABLE: &[&str] = &["production_replicas", "production_contacts"];

fn yes() -> bool {
    true
}

/// Where the observability stack lives (`spec.observability`); every field has a default.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Observability {
    pub prometheus_url: Option<String>,
    pub prometheus_namespace: Option<String>,
    pub otel_endpoint: Option<String>,
    pub otel_protocol: Option<String>,
    pub grafana_url: Option<String>,
    pub dashboard_folder: Option<String>,
}

/// Where previews run and how many a team may have (`spec.previews`).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Previews {
    pub environment: String,
    pub from: Option<String>,
    pub max_per_team: Option<u32>,
    pub ttl_hours: Option<u32>,
}

/// How a new version of a service reaches an environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Promotion {
    /// Every publish from the application's pipeline deploys it.
    Auto,
    /// Only `pctl promote` deploys it: the version another environment runs.
    Manual,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct DeployRepository {
    pub url: String,
    pub branch: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Environment {
    pub name: String,
    pub cluster: String,
    pub domain: String,
    pub region: String,
    pub protected: bool,
    /// How a new version reaches this environment (default: automatic unless protected).
    pub promotion: Option<Promotion>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Team {
    pub name: String,
    pub contact: Option<String>,
    pub cost_center: Option<String>,
    pub budget_usd_month: Option<f64>,
    /// Where the team's CloudWatch alarms go (`aws`) and its on-call (`teams`).
    pub alerts: Option<aws::TeamAlerts>,
    /// Identity-provider group, on-call schedule, systems (`teams`).
    #[serde(flatten)]
    pub fields: teams::TeamFields,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct SizeClass {
    pub class: String,
    pub usd_month: Option<f64>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct ComputePrice {
    pub cpu: f64,
    pub memory_gib: f64,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct SecretStore {
    pub kind: Option<String>,
    pub name: Option<String>,
}

impl Org {
    pub fn environment(&self, name: &str) -> Option<&Environment> {
        self.spec.environments.iter().find(|e| e.name == name)
    }
    pub fn team(&self, name: &str) -> Option<&Team> {
        self.spec.teams.iter().find(|t| t.name == name)
    }
    /// Names of the protected environments, in the organisation's order.
    /// How a new version of `intent` reaches environment `env`: the service's own
    /// `spec.environments.<env>.promotion`, else the environment's, else automatic unless the
    /// environment is protected.
    pub fn promotion(&self, intent: &Intent, env: &str) -> Promotion {
        let own = intent.spec.environments.get(env).and_then(|o| o.promotion);
        let org = self.environment(env).map(|e| {
            e.promotion.unwrap_or(if e.protected {
                Promotion::Manual
            } else {
                Promotion::Auto
            })
        });
        own.or(org).unwrap_or(Promotion::Auto)
    }

    pub fn protected_envs(&self) -> Vec<&str> {
        self.spec
            .environments
            .iter()
            .filter(|e| e.protected)
            .map(|e| e.name.as_str())
            .collect()
    }
    pub fn gitops(&self) -> &str {
        self.spec.gitops.as_deref().unwrap_or("argocd")
    }
    /// The clusters' DNS domain.
    pub fn cluster_domain(&self) -> &str {
        self.spec
            .cluster_domain
            .as_deref()
            .unwrap_or("cluster.local")
    }
    /// Whether a service may exempt itself from `guardrail`.
    pub fn exemptable(&self, guardrail: &str) -> bool {
        match &self.spec.exemptable {
            Some(list) => list.iter().any(|g| g == guardrail),
            None => DEFAULT_EXEMPTABLE.contains(&guardrail),
        }
    }
    /// The controller that runs canaries: `argo-rollouts` (default) or `flagger`.
    pub fn progressive_delivery(&self) -> &str {
        self.spec
            .progressive_delivery
            .as_deref()
            .unwrap_or("argo-rollouts")
    }
}
