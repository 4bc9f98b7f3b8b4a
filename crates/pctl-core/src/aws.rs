//! AWS settings of the organisation (`spec.aws`, `teams[].alerts`) and what the Terraform
//! blueprints derive from them for each service and environment: the workload identity (an IAM
//! role bound to the service's ServiceAccount), the security group data stores admit, the
//! data-store profile (monitoring, availability, retention), customer-managed KMS keys and
//! where alarms go, plus alarm thresholds per resource. Pure: no I/O. The context shapes are
//! specified in docs/contract.md (`org.aws`, `deployment.aws`, `resource.alarms`).

use crate::diag::{Diagnostic, join_pointer, one_of};
use crate::load::Document;
use crate::model::aws::{Aws, Thresholds};
use crate::model::{Environment, Org};
use crate::source::SourceFile;
use serde_json::{Value, json};

fn aws(org: &Org) -> Aws {
    org.spec.aws.clone().unwrap_or_default()
}

pub fn identity_mode(org: &Org) -> &str {
    org.spec
        .aws
        .as_ref()
        .and_then(|a| a.identity.as_deref())
        .unwrap_or("pod-identity")
}

/// `org.aws`: the organisation-wide choices.
pub fn org_context(org: &Org) -> Value {
    let a = aws(org);
    json!({
        "identity": identity_mode(org),
        "workload_network": a.workload_network.as_deref().unwrap_or("node-security-group"),
        "node_security_group_tags": a.node_security_group_tags,
        "permissions_boundary": a.permissions_boundary,
        "kms": {
            "customer_managed": a.kms.customer_managed.as_deref().unwrap_or("protected"),
            "service_tags": service_tags(&a),
        },
    })
}

fn service_tags(a: &Aws) -> Vec<String> {
    a.kms
        .service_tags
        .clone()
        .unwrap_or_else(|| vec!["pci".into()])
}

/// ARN partition of a region: `aws-cn` in China, `aws-us-gov` in GovCloud, else `aws`.
fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// What one service needs to know about the cloud side of one environment.
pub struct Workload<'a> {
    pub service: &'a str,
    pub owner: &'a str,
    pub tags: &'a [String],
    pub namespace: &'a str,
}

/// `deployment.aws`: the workload identity, the data-store profile, the key decision and the
/// alarm destination of one service in one environment.
pub fn deployment_context(org: &Org, env: &Environment, w: &Workload) -> Value {
    let a = aws(org);
    let e = a.environments.get(&env.name).cloned().unwrap_or_default();
    let p = env.protected;
    let part = partition(&env.region);
    let role_name = crate::digest::cloud_name(&format!("{}-{}", w.service, env.name));
    let role_arn = e
        .account_id
        .as_ref()
        .map(|acct| format!("arn:{part}:iam::{acct}:role/pctl/{role_name}"));
    let tags = service_tags(&a);
    let tagged: Vec<&String> = w.tags.iter().filter(|t| tags.contains(t)).collect();
    let policy = a.kms.customer_managed.as_deref().unwrap_or("protected");
    let (cmk, why) = if let Some(t) = tagged.first() {
        (true, format!("the service is tagged `{t}`"))
    } else {
        match policy {
            "always" => (true, "the organisation asks for it everywhere".to_string()),
            "protected" if p => (
                true,
                "the organisation asks for it in protected environments".to_string(),
            ),
            "protected" => (
                false,
                "the organisation asks for customer-managed keys in protected environments and for tagged services only (spec.aws.kms)".to_string(),
            ),
            _ => (
                false,
                "the organisation does not ask for customer-managed keys (spec.aws.kms)"
                    .to_string(),
            ),
        }
    };
    let topic = org
        .team(w.owner)
        .and_then(|t| t.alerts.as_ref())
        .and_then(|al| al.sns_topic.clone())
        .or_else(|| a.alarms.sns_topic.clone())
        .unwrap_or_else(|| "pctl-alarms".into());
    let (topic_arn, topic_name) = if topic.starts_with("arn:") {
        (Some(topic), None)
    } else {
        (None, Some(topic))
    };
    let boundary = a.permissions_boundary.as_ref().map(|b| {
        if b.starts_with("arn:") {
            json!({"arn": b, "name": null})
        } else {
            json!({"arn": null, "name": b})
        }
    });
    json!({
        "account_id": e.account_id,
        "partition": part,
        "eks_cluster": e.eks_cluster.unwrap_or_else(|| env.cluster.clone()),
        "identity": {
            "mode": identity_mode(org),
            "role_name": role_name,
            "role_path": "/pctl/",
            "role_arn": role_arn,
            "namespace": w.namespace,
            "service_account": w.service,
            "permissions_boundary": boundary,
        },
        "profile": {
            "multi_az": e.multi_az.unwrap_or(p),
            "deletion_protection": e.deletion_protection.unwrap_or(p),
            "monitoring_interval": e.monitoring_interval.unwrap_or(if p { 30 } else { 60 }),
            "performance_insights_days": e.performance_insights_days.unwrap_or(7),
            "log_retention_days": e.log_retention_days.unwrap_or(365),
            "cache_snapshot_days": e.cache_snapshot_days.unwrap_or(if p { 7 } else { 0 }),
        },
        "kms": {"customer_managed": cmk, "why": why},
        "alarms": {
            "sns_topic_arn": topic_arn,
            "sns_topic_name": topic_name,
            "severity": if p { "critical" } else { "warning" },
        },
    })
}

/// Memory of an RDS or ElastiCache instance class in GiB, from its family and size
/// (`db.m6g.large` = 8); none for classes this table does not know.
pub fn class_memory_gib(class: &str) -> Option<f64> {
    let mut parts = class.split('.');
    let (_, family, size) = (parts.next()?, parts.next()?, parts.next()?);
    let kind = family.chars().next()?;
    let burstable = |s: &str| match s {
        "micro" => Some(1.0),
        "small" => Some(2.0),
        "medium" => Some(4.0),
        "large" => Some(8.0),
        "xlarge" => Some(16.0),
        "2xlarge" => Some(32.0),
        _ => None,
    };
    let vcpus = |s: &str| -> Option<f64> {
        match s {
            "large" => Some(2.0),
            "xlarge" => Some(4.0),
            s => s
                .strip_suffix("xlarge")?
                .parse::<f64>()
                .ok()
                .map(|n| n * 4.0),
        }
    };
    match kind {
        't' => burstable(size),
        'm' => vcpus(size).map(|v| v * 4.0),
        'r' => vcpus(size).map(|v| v * 8.0),
        'x' => vcpus(size).map(|v| v * 16.0),
        _ => None,
    }
}

/// PostgreSQL's default `max_connections` on RDS: LEAST(DBInstanceClassMemory/9531392, 5000);
/// 100 (PostgreSQL's own default) for an unknown class.
fn postgres_max_connections(class: &str) -> f64 {
    class_memory_gib(class)
        .map(|g| {
            (g * 1024.0 * 1024.0 * 1024.0 / 9_531_392.0)
                .floor()
                .min(5000.0)
        })
        .unwrap_or(100.0)
}

/// Allocated storage of a database (GB) and the most storage autoscaling may grow it to.
pub const POSTGRES_STORAGE_GB: u64 = 20;
pub const POSTGRES_MAX_STORAGE_GB: u64 = 200;
/// ElastiCache's `maxclients`, the same on every node type.
const REDIS_MAX_CLIENTS: f64 = 65000.0;

/// Adds what the Terraform blueprints need beyond the intent to a resource object: alarm
/// thresholds derived from its size with the organisation's overrides (`alarms`), the queue
/// actions the workload's kind needs (`access`) and storage sizes.
pub fn extend_resource(r: &mut Value, org: &Org, kind: &str) {
    let t = aws(org).alarms.thresholds.or(Thresholds::DEFAULT);
    // Whole numbers print as integers (`80`, not `80.0`) in descriptions and HCL.
    let num = |v: Option<f64>| match v {
        Some(x) if x.fract() == 0.0 && x.abs() < 1e15 => json!(x as i64),
        Some(x) => json!(x),
        None => Value::Null,
    };
    let class = r["class"].as_str().unwrap_or_default().to_string();
    let pct = |v: Option<f64>| v.unwrap_or_default() / 100.0;
    match r["type"].as_str() {
        Some("postgres") => {
            let max = postgres_max_connections(&class);
            r["storage_gb"] = json!(POSTGRES_STORAGE_GB);
            r["max_storage_gb"] = json!(POSTGRES_MAX_STORAGE_GB);
            let free_gb = POSTGRES_STORAGE_GB as f64 * pct(t.free_storage_percent);
            r["alarms"] = json!({
                "cpu_percent": num(t.cpu_percent),
                "free_storage_gb": num(Some(free_gb)),
                "free_storage_bytes": num(Some((free_gb * 1e9).round())),
                "connections": num(Some((max * pct(t.connections_percent)).floor())),
                "max_connections": num(Some(max)),
            });
        }
        Some("redis") => {
            // A cache that evicts keeps its memory full by design: its evictions are watched;
            // one that must not evict is watched for memory instead.
            let evicts = r["eviction"].as_str() != Some("noeviction");
            r["alarms"] = json!({
                "cpu_percent": num(t.cpu_percent),
                "memory_percent": if evicts { Value::Null } else { num(t.memory_percent) },
                "evictions": if evicts { num(t.evictions) } else { Value::Null },
                "connections": num(Some((REDIS_MAX_CLIENTS * pct(t.connections_percent)).floor())),
                "replication_lag_seconds": num(t.replication_lag_seconds),
            });
        }
        Some("queue") => {
            // A Service publishes; a Worker consumes its queue and may re-enqueue; a CronJob
            // may do either.
            let (send, receive) = match kind {
                "Service" => (true, false),
                _ => (true, true),
            };
            r["access"] = json!({"send": send, "receive": receive});
            r["alarms"] = json!({
                "queue_age_seconds": num(t.queue_age_seconds),
                "dead_letter_messages": num(t.dead_letter_messages),
            });
        }
        _ => {}
    }
}

/// Semantic checks of `spec.aws`: environments it names exist, IRSA has an account per
/// environment, account ids are account ids.
pub fn check_org(file: &SourceFile, doc: &Document, org: &Org) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    let Some(a) = &org.spec.aws else {
        return diags;
    };
    let names: Vec<&str> = org
        .spec
        .environments
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    for env in a.environments.keys() {
        let p = join_pointer("/spec/aws/environments", env);
        if !names.contains(&env.as_str()) {
            diags.push(
                Diagnostic::error(
                    "org/aws-unknown-environment",
                    format!("`spec.aws.environments` names `{env}`, which is not an environment"),
                )
                .in_file(&file.name)
                .at(doc.spans.locate_key(file, &p))
                .pointer(&p)
                .expected(one_of(&names))
                .help("use the name of an environment of `spec.environments`, or remove it"),
            );
        }
    }
    if identity_mode(org) == "irsa" {
        for env in &org.spec.environments {
            let has = a
                .environments
                .get(&env.name)
                .and_then(|e| e.account_id.as_ref())
                .is_some();
            if !has {
                let p = "/spec/aws/identity";
                diags.push(
                    Diagnostic::error(
                        "org/aws-account-missing",
                        format!(
                            "identity `irsa` needs the AWS account of environment `{}`",
                            env.name
                        ),
                    )
                    .in_file(&file.name)
                    .at(doc.spans.locate(file, p))
                    .pointer(p)
                    .note("with IRSA the ServiceAccount names its role by ARN, which includes the account id")
                    .help(format!(
                        "add `spec.aws.environments.{}.account_id: \"123456789012\"`, or use `identity: pod-identity`",
                        env.name
                    )),
                );
            }
        }
    }
    diags
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_memory_follows_family_and_size() {
        assert_eq!(class_memory_gib("db.t4g.small"), Some(2.0));
        assert_eq!(class_memory_gib("db.m6g.large"), Some(8.0));
        assert_eq!(class_memory_gib("db.m6g.2xlarge"), Some(32.0));
        assert_eq!(class_memory_gib("db.r6g.4xlarge"), Some(128.0));
        assert_eq!(class_memory_gib("cache.m6g.xlarge"), Some(16.0));
        assert_eq!(class_memory_gib("sqs-standard"), None);
        assert_eq!(class_memory_gib("db.z1d.large"), None);
    }

    #[test]
    fn postgres_connections_come_from_class_memory() {
        // RDS: LEAST(memory / 9531392, 5000)
        assert_eq!(postgres_max_connections("db.t4g.small"), 225.0);
        assert_eq!(postgres_max_connections("db.m6g.large"), 901.0);
        assert_eq!(postgres_max_connections("db.r6g.16xlarge"), 5000.0);
        assert_eq!(postgres_max_connections("db.unknown"), 100.0);
    }

    fn org(yaml: &str) -> Org {
        serde_yaml::from_str(yaml).unwrap()
    }

    #[test]
    fn thresholds_take_organisation_overrides() {
        let o =
            org("spec: {aws: {alarms: {thresholds: {cpu_percent: 70, connections_percent: 50}}}}");
        let mut r = json!({"type": "postgres", "class": "db.m6g.large"});
        extend_resource(&mut r, &o, "Service");
        assert_eq!(r["alarms"]["cpu_percent"], json!(70));
        assert_eq!(r["alarms"]["connections"], json!(450));
        assert_eq!(r["alarms"]["free_storage_bytes"], json!(2_000_000_000_i64));
    }

    #[test]
    fn queue_access_follows_the_kind() {
        let o = Org::default();
        let mut r = json!({"type": "queue", "class": "sqs-standard"});
        extend_resource(&mut r, &o, "Service");
        assert_eq!(r["access"], json!({"send": true, "receive": false}));
        extend_resource(&mut r, &o, "Worker");
        assert_eq!(r["access"], json!({"send": true, "receive": true}));
    }

    #[test]
    fn customer_managed_keys_follow_protection_and_tags() {
        let o = org(
            "spec: {environments: [{name: dev, cluster: c, domain: d, region: eu-west-1}, {name: prod, cluster: p, domain: d, region: eu-west-1, protected: true}]}",
        );
        let w = |tags: &'static [String]| Workload {
            service: "api",
            owner: "team",
            tags,
            namespace: "api",
        };
        let dev = o.environment("dev").unwrap();
        let prod = o.environment("prod").unwrap();
        let none: &[String] = &[];
        assert_eq!(
            deployment_context(&o, dev, &w(none))["kms"]["customer_managed"],
            json!(false)
        );
        assert_eq!(
            deployment_context(&o, prod, &w(none))["kms"]["customer_managed"],
            json!(true)
        );
        let pci: &'static [String] = Box::leak(Box::new(["pci".to_string()]));
        assert_eq!(
            deployment_context(&o, dev, &w(pci))["kms"]["customer_managed"],
            json!(true)
        );
        let profile = &deployment_context(&o, dev, &w(none))["profile"];
        assert_eq!(profile["multi_az"], json!(false));
        assert_eq!(profile["cache_snapshot_days"], json!(0));
        let profile = &deployment_context(&o, prod, &w(none))["profile"];
        assert_eq!(profile["deletion_protection"], json!(true));
    }

    #[test]
    fn irsa_role_arn_needs_the_account() {
        let o = org(
            "spec: {environments: [{name: dev, cluster: c, domain: d, region: cn-north-1}], aws: {identity: irsa, environments: {dev: {account_id: '111122223333'}}}}",
        );
        let none: &[String] = &[];
        let w = Workload {
            service: "api",
            owner: "team",
            tags: none,
            namespace: "api",
        };
        let ctx = deployment_context(&o, o.environment("dev").unwrap(), &w);
        assert_eq!(
            ctx["identity"]["role_arn"],
            json!("arn:aws-cn:iam::111122223333:role/pctl/api-dev")
        );
    }
}
