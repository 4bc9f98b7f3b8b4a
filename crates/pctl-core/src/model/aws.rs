//! The AWS part of the organisation config as written (`spec.aws`, `teams[].alerts`); what
//! Terraform blueprints derive from it is `crate::aws`'s.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

/// `spec.aws` of the organisation config. Every field has a default.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Aws {
    /// How pods get their IAM role: `pod-identity` (EKS Pod Identity association, default) or
    /// `irsa` (IAM roles for service accounts: a ServiceAccount annotation, needs account ids).
    pub identity: Option<String>,
    /// What data-store security groups admit: `node-security-group` (default: the cluster's
    /// node security group) or `pod-security-group` (each service's pods carry their own group).
    pub workload_network: Option<String>,
    /// Tags that find the node security group in the cluster's VPC; absent: the EKS cluster
    /// security group, which EKS attaches to managed node groups.
    pub node_security_group_tags: IndexMap<String, String>,
    /// Permissions boundary of every workload role: a policy ARN, or a policy name in the
    /// environment's account.
    pub permissions_boundary: Option<String>,
    pub kms: Kms,
    pub alarms: Alarms,
    /// Environment name -> account, cluster and data-store profile overrides.
    pub environments: IndexMap<String, AwsEnvironment>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Kms {
    /// `never`, `protected` (default: protected environments) or `always`.
    pub customer_managed: Option<String>,
    /// Services with any of these tags (`metadata.tags`) get a customer-managed key in every
    /// environment. Default: [pci].
    pub service_tags: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Alarms {
    /// SNS topic of teams without `alerts.sns_topic`: a topic name (looked up in each
    /// environment's account and region) or a topic ARN. Default: `pctl-alarms`.
    pub sns_topic: Option<String>,
    pub thresholds: Thresholds,
}

/// Organisation overrides of the alarm thresholds (defaults in [`Thresholds::DEFAULT`]).
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct Thresholds {
    pub cpu_percent: Option<f64>,
    pub free_storage_percent: Option<f64>,
    pub connections_percent: Option<f64>,
    pub memory_percent: Option<f64>,
    pub evictions: Option<f64>,
    pub replication_lag_seconds: Option<f64>,
    pub queue_age_seconds: Option<f64>,
    pub dead_letter_messages: Option<f64>,
}

/// Per-environment AWS settings: where it runs and its data-store profile. A profile field
/// not given follows the environment's `protected` flag.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct AwsEnvironment {
    pub account_id: Option<String>,
    /// EKS cluster name, when it differs from the environment's `cluster`.
    pub eks_cluster: Option<String>,
    pub multi_az: Option<bool>,
    pub deletion_protection: Option<bool>,
    pub monitoring_interval: Option<u32>,
    pub performance_insights_days: Option<u32>,
    pub log_retention_days: Option<u32>,
    pub cache_snapshot_days: Option<u32>,
}

/// `teams[].alerts` of the organisation config: where the team's alarms go.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct TeamAlerts {
    /// SNS topic name or ARN for the team's CloudWatch alarms.
    pub sns_topic: Option<String>,
    /// The team's on-call receivers (PagerDuty, Slack) for Prometheus alerts (`crate::teams`).
    #[serde(flatten)]
    pub receivers: super::teams::Receivers,
}

impl Thresholds {
    pub const DEFAULT: Thresholds = Thresholds {
        cpu_percent: Some(80.0),
        free_storage_percent: Some(10.0),
        connections_percent: Some(80.0),
        memory_percent: Some(90.0),
        evictions: Some(1000.0),
        replication_lag_seconds: Some(30.0),
        queue_age_seconds: Some(900.0),
        dead_letter_messages: Some(0.0),
    };

    pub(crate) fn or(self, d: Thresholds) -> Thresholds {
        Thresholds {
            cpu_percent: self.cpu_percent.or(d.cpu_percent),
            free_storage_percent: self.free_storage_percent.or(d.free_storage_percent),
            connections_percent: self.connections_percent.or(d.connections_percent),
            memory_percent: self.memory_percent.or(d.memory_percent),
            evictions: self.evictions.or(d.evictions),
            replication_lag_seconds: self.replication_lag_seconds.or(d.replication_lag_seconds),
            queue_age_seconds: self.queue_age_seconds.or(d.queue_age_seconds),
            dead_letter_messages: self.dead_letter_messages.or(d.dead_letter_messages),
        }
    }
}
