//! The organisation config's team fields as written (`teams[].group`, `oncall`, `systems`,
//! `alerts.pagerduty`, `alerts.slack`, `spec.quota`); what they mean is `crate::teams`.

use serde::{Deserialize, Serialize};

/// Fields of `teams[]` (flattened into [`crate::model::Team`]).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct TeamFields {
    /// The team's group in the identity provider, as the cluster's and Argo CD's
    /// authentication name it (RoleBinding subjects, AppProject roles). Default: the team name.
    pub group: Option<String>,
    /// URL of the team's on-call schedule (Backstage Group link).
    pub oncall: Option<String>,
    /// Backstage systems the team owns: their System entities are rendered from here, in every
    /// run, so a single service's catalog can name its system.
    pub systems: Vec<String>,
}

/// On-call receivers of `teams[].alerts` (flattened into [`super::aws::TeamAlerts`]).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Receivers {
    pub pagerduty: Option<SecretRef>,
    pub slack: Option<Slack>,
}

/// A value kept in the organisation's secret store (`spec.secret_store`), never in git.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct SecretRef {
    /// Key of the secret in the store (e.g. `pctl/oncall/team-payments`).
    pub secret: String,
    /// Property of a JSON secret; absent: the whole secret value.
    pub property: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Slack {
    /// The incoming-webhook URL, in the secret store.
    pub secret: String,
    pub property: Option<String>,
    /// Channel to post to (the webhook's own channel when absent).
    pub channel: Option<String>,
}

/// `spec.quota`: how the namespace quota is sized.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Quota {
    /// Room above the most the workload runs during a rollout, in percent. Default: 50.
    pub headroom_percent: Option<u32>,
}
