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
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Spec {
    pub image: String,
    pub port: Option<u16>,
    pub health: Option<Health>,
    pub command: Option<Vec<String>>,
    pub args: Option<Vec<String>>,
    pub schedule: Option<String>,
    pub endpoints: Vec<Endpoint>,
    pub env: IndexMap<String, Value>,
    pub secrets: Vec<String>,
    pub dependencies: Vec<String>,
    pub resources: IndexMap<String, Resource>,
    pub deploy: Deploy,
    pub slo: Option<Slo>,
    pub compute: Option<Compute>,
    pub metrics: Option<Metrics>,
    #[serde(deserialize_with = "blank_is_default")]
    pub environments: IndexMap<String, EnvOverride>,
    pub blueprint: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Health {
    pub liveness: Option<String>,
    pub readiness: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Endpoint {
    pub path: String,
    pub public: bool,
    pub sla: Option<f64>,
}

/// A resource as written: the base declaration, or an environment's partial override. Besides
/// the generic `type` and `size`, its fields are the parameters its type's blueprint declares
/// (`parameters` in the manifest; checked by the run's schema).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Resource {
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<String>,
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
            params,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Deploy {
    pub strategy: Option<String>,
    pub steps: Vec<Step>,
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

/// Where Prometheus scrapes the application's metrics (`spec.metrics`).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Metrics {
    pub port: Option<u16>,
    pub path: Option<String>,
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
    pub teams: Vec<Team>,
    pub sizes: IndexMap<String, IndexMap<String, SizeClass>>,
    pub compute_usd_month: Option<ComputePrice>,
    pub secret_store: Option<SecretStore>,
    pub ingress_class: Option<String>,
    pub progressive_delivery: Option<String>,
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
}

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
    /// The controller that runs canaries: `argo-rollouts` (default) or `flagger`.
    pub fn progressive_delivery(&self) -> &str {
        self.spec
            .progressive_delivery
            .as_deref()
            .unwrap_or("argo-rollouts")
    }
}
