//! What a cloud security review checks in the Terraform pctl renders, read as HCL: every
//! service with resources has its own IAM role bound to its ServiceAccount, policies name
//! exact ARNs and actions (never `*`), data stores admit security groups (never CIDRs), no
//! password is a Terraform attribute, every data store has its alarms routed to the owning
//! team, and protected environments get the production profile. Run over every golden tree,
//! then over organisation variations (node security group tags, routing, thresholds, IRSA).

use hcl_edit::structure::{Block, Body};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// `terraform/<env>/<service>/`: its files, parsed.
struct Module {
    tree: PathBuf,
    env: String,
    service: String,
    files: BTreeMap<String, Body>,
}

impl Module {
    fn blocks<'a>(&'a self, kind: &'a str, rtype: &'a str) -> Vec<(&'a str, &'a str, &'a Body)> {
        self.files
            .iter()
            .flat_map(|(f, b)| blocks(b, kind, rtype).map(move |(n, body)| (f.as_str(), n, body)))
            .collect()
    }
    fn where_(&self) -> String {
        format!(
            "{}: terraform/{}/{}",
            self.tree.display(),
            self.env,
            self.service
        )
    }
}

fn blocks<'a>(
    body: &'a Body,
    kind: &'a str,
    rtype: &'a str,
) -> impl Iterator<Item = (&'a str, &'a Body)> + 'a {
    body.get_blocks(kind)
        .filter(move |b: &&Block| b.labels.first().map(|l| l.as_str()) == Some(rtype))
        .map(|b: &Block| (b.labels.get(1).map_or("", |l| l.as_str()), &b.body))
}

/// An attribute's expression as written (trimmed); none when absent.
fn attr(body: &Body, key: &str) -> Option<String> {
    body.get_attribute(key)
        .map(|a| a.value.to_string().trim().to_string())
}

fn modules(trees: &[PathBuf]) -> Vec<Module> {
    let mut out = Vec::new();
    for tree in trees {
        let tf = tree.join("terraform");
        let Ok(envs) = std::fs::read_dir(&tf) else {
            continue;
        };
        for env in envs {
            let env = env.unwrap().path();
            for svc in std::fs::read_dir(&env).unwrap() {
                let svc = svc.unwrap().path();
                let mut files = BTreeMap::new();
                for f in std::fs::read_dir(&svc).unwrap() {
                    let f = f.unwrap().path();
                    let text = std::fs::read_to_string(&f).unwrap();
                    let body = hcl_edit::parser::parse_body(&text)
                        .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
                    files.insert(f.file_name().unwrap().to_string_lossy().into_owned(), body);
                }
                out.push(Module {
                    tree: tree.clone(),
                    env: env.file_name().unwrap().to_string_lossy().into_owned(),
                    service: svc.file_name().unwrap().to_string_lossy().into_owned(),
                    files,
                });
            }
        }
    }
    out
}

fn golden_trees() -> Vec<PathBuf> {
    let mut trees: Vec<PathBuf> = std::fs::read_dir(Path::new(ROOT).join("golden-tests"))
        .unwrap()
        .map(|e| e.unwrap().path().join("expected"))
        .filter(|p| p.join("terraform").is_dir())
        .collect();
    trees.sort();
    trees
}

/// Every property of one module; returns the problems found.
fn review(m: &Module, protected: bool) -> Vec<String> {
    let mut problems = Vec::new();
    let mut fail = |msg: String| problems.push(format!("{}: {msg}", m.where_()));
    let quoted = |s: &str| format!("\"{s}\"");

    // Workload identity: one role, bound to the service's ServiceAccount.
    let roles = m.blocks("resource", "aws_iam_role");
    let Some((_, _, role)) = roles.iter().find(|(_, n, _)| *n == "pctl_workload") else {
        fail("no workload role aws_iam_role.pctl_workload".into());
        return problems;
    };
    let want_name = quoted(&format!("{}-{}", m.service, m.env));
    if attr(role, "name").as_deref() != Some(&want_name)
        || attr(role, "path").as_deref() != Some("\"/pctl/\"")
    {
        fail(format!(
            "workload role is {:?} at {:?}",
            attr(role, "name"),
            attr(role, "path")
        ));
    }
    let apps = m.tree.join("apps").join(&m.env).join(&m.service);
    let sa = std::fs::read_to_string(apps.join("serviceaccount.yaml")).unwrap();
    let assoc = m.blocks("resource", "aws_eks_pod_identity_association");
    if let Some((_, _, a)) = assoc.first() {
        for key in ["namespace", "service_account"] {
            if attr(a, key) != Some(quoted(&m.service)) {
                fail(format!(
                    "pod identity association {key} is {:?}",
                    attr(a, key)
                ));
            }
        }
        if attr(a, "role_arn").as_deref() != Some("aws_iam_role.pctl_workload.arn") {
            fail("pod identity association binds another role".into());
        }
    } else {
        // IRSA: the trust names the ServiceAccount, the ServiceAccount names the role.
        let trust = m.blocks("data", "aws_iam_policy_document");
        let trust = trust.iter().find(|(_, n, _)| *n == "pctl_workload_trust");
        let sub = format!("system:serviceaccount:{0}:{0}", m.service);
        if !trust.is_some_and(|(_, _, b)| b.to_string().contains(&sub)) {
            fail(format!("IRSA trust does not name {sub}"));
        }
        let arn_tail = format!(":role/pctl/{}-{}\"", m.service, m.env);
        if !sa
            .lines()
            .any(|l| l.contains("eks.amazonaws.com/role-arn") && l.ends_with(&arn_tail))
        {
            fail(format!(
                "ServiceAccount does not name its role (…{arn_tail}):\n{sa}"
            ));
        }
    }
    let uses_sa = ["deployment.yaml", "rollout.yaml", "cronjob.yaml"]
        .iter()
        .any(|f| {
            std::fs::read_to_string(apps.join(f))
                .is_ok_and(|t| t.contains(&format!("serviceAccountName: \"{}\"", m.service)))
        });
    if !uses_sa {
        fail("no workload of the service uses its ServiceAccount".into());
    }

    // Policies: attached to the workload role, exact resources, no wildcard actions.
    for (f, n, p) in m.blocks("resource", "aws_iam_role_policy") {
        if attr(p, "role").as_deref() != Some("aws_iam_role.pctl_workload.id") {
            fail(format!(
                "{f}: aws_iam_role_policy.{n} is not on the workload role"
            ));
        }
    }
    for (f, n, doc) in m.blocks("data", "aws_iam_policy_document") {
        for st in doc.get_blocks("statement") {
            let trust = st.body.has_blocks("principals");
            let actions = attr(&st.body, "actions").unwrap_or_default();
            if actions.contains("\"*\"") || actions.contains(":*\"") {
                fail(format!("{f}: {n} allows wildcard actions {actions}"));
            }
            if trust {
                continue;
            }
            match attr(&st.body, "resources") {
                Some(r) if !r.contains('*') => {
                    // Queue actions only on the queue this file declares.
                    if actions.contains("sqs:") {
                        let own = m.files[f].get_blocks("resource").any(|b| {
                            b.labels.first().map(|l| l.as_str()) == Some("aws_sqs_queue")
                                && r == format!("[aws_sqs_queue.{}.arn]", b.labels[1].as_str())
                        });
                        if !own {
                            fail(format!("{f}: {n} grants queue actions on {r}"));
                        }
                    }
                }
                other => fail(format!("{f}: {n} statement resources {other:?}")),
            }
        }
    }

    // Network: data stores admit security groups, never address ranges.
    let rules = m.blocks("resource", "aws_vpc_security_group_ingress_rule");
    for (f, n, r) in &rules {
        for cidr in ["cidr_ipv4", "cidr_ipv6", "prefix_list_id"] {
            if r.has_attribute(cidr) {
                fail(format!("{f}: ingress rule {n} admits {cidr}"));
            }
        }
        if attr(r, "referenced_security_group_id").as_deref()
            != Some("local.pctl_workload_security_group_id")
        {
            fail(format!(
                "{f}: ingress rule {n} does not admit the workloads' group"
            ));
        }
    }
    for (f, n, _) in m.blocks("resource", "aws_security_group") {
        let sg = format!("aws_security_group.{n}.id");
        if !rules
            .iter()
            .any(|(_, _, r)| attr(r, "security_group_id") == Some(sg.clone()))
        {
            fail(format!("{f}: security group {n} has no ingress rule"));
        }
    }

    // Secrets: no password or token is a Terraform attribute.
    if !m.blocks("resource", "random_password").is_empty() {
        fail("a random_password resource keeps a password in state".into());
    }
    for (f, n, b) in m
        .blocks("resource", "aws_db_instance")
        .into_iter()
        .chain(m.blocks("resource", "aws_elasticache_replication_group"))
    {
        for key in ["password", "auth_token"] {
            if b.has_attribute(key) {
                fail(format!(
                    "{f}: {n} sets {key} (kept in state); use the write-only {key}_wo"
                ));
            }
        }
    }

    // Alarms: every data store, routed to the team.
    let alarms = m.blocks("resource", "aws_cloudwatch_metric_alarm");
    for (f, n, a) in &alarms {
        if attr(a, "alarm_actions").as_deref() != Some("local.pctl_alarm_actions") {
            fail(format!("{f}: alarm {n} goes nowhere"));
        }
    }
    let alarmed = |target: &str, metric: &str| {
        alarms.iter().any(|(_, _, a)| {
            attr(a, "metric_name").as_deref() == Some(&format!("\"{metric}\""))
                && attr(a, "dimensions").is_some_and(|d| d.contains(target))
        })
    };
    let mut want = |kind: &str, metrics: &[&str]| {
        for (f, n, b) in m.blocks("resource", kind) {
            if kind == "aws_sqs_queue" && !b.has_attribute("redrive_policy") {
                continue; // a dead-letter queue: watched through its source queue
            }
            let target = format!("{kind}.{n}.");
            for metric in metrics {
                let target = if *metric == "ApproximateNumberOfMessagesVisible" {
                    format!("aws_sqs_queue.{n}_dlq.")
                } else {
                    target.clone()
                };
                if !alarmed(&target, metric) {
                    problems.push(format!("{}: {f}: no {metric} alarm for {n}", m.where_()));
                }
            }
            if kind == "aws_elasticache_replication_group"
                && !alarmed(&target, "Evictions")
                && !alarmed(&target, "DatabaseMemoryUsagePercentage")
            {
                problems.push(format!(
                    "{}: {f}: no eviction or memory alarm for {n}",
                    m.where_()
                ));
            }
        }
    };
    want(
        "aws_db_instance",
        &["CPUUtilization", "FreeStorageSpace", "DatabaseConnections"],
    );
    want(
        "aws_elasticache_replication_group",
        &["EngineCPUUtilization", "CurrConnections"],
    );
    want(
        "aws_sqs_queue",
        &[
            "ApproximateAgeOfOldestMessage",
            "ApproximateNumberOfMessagesVisible",
        ],
    );
    let mut fail = |msg: String| problems.push(format!("{}: {msg}", m.where_()));
    if protected {
        for (f, n, db) in m.blocks("resource", "aws_db_instance") {
            for (key, ok) in [
                ("multi_az", "true"),
                ("deletion_protection", "true"),
                ("iam_database_authentication_enabled", "true"),
                ("performance_insights_enabled", "true"),
                ("storage_encrypted", "true"),
            ] {
                if attr(db, key).as_deref() != Some(ok) {
                    fail(format!(
                        "{f}: {n}.{key} is {:?} in a protected environment",
                        attr(db, key)
                    ));
                }
            }
            if attr(db, "monitoring_interval").is_none_or(|v| v == "0") {
                fail(format!("{f}: {n} has no enhanced monitoring"));
            }
            if !attr(db, "enabled_cloudwatch_logs_exports")
                .is_some_and(|v| v.contains("postgresql"))
            {
                fail(format!("{f}: {n} exports no logs"));
            }
        }
        for (f, n, rg) in m.blocks("resource", "aws_elasticache_replication_group") {
            if attr(rg, "snapshot_retention_limit").is_none_or(|v| v == "0") {
                fail(format!(
                    "{f}: {n} keeps no snapshots in a protected environment"
                ));
            }
            if attr(rg, "automatic_failover_enabled").as_deref() != Some("true") {
                fail(format!(
                    "{f}: {n} has no failover in a protected environment"
                ));
            }
        }
    }
    // A customer-managed key, when there is one, encrypts every secret.
    if !m.blocks("resource", "aws_kms_key").is_empty() {
        for (f, n, s) in m.blocks("resource", "aws_secretsmanager_secret") {
            if attr(s, "kms_key_id").as_deref() != Some("aws_kms_key.pctl_service.arn") {
                fail(format!(
                    "{f}: secret {n} is not encrypted with the service's key"
                ));
            }
        }
    }
    problems
}

#[test]
fn golden_terraform_passes_a_cloud_security_review() {
    let trees = golden_trees();
    let modules = modules(&trees);
    assert!(
        modules.len() >= 15,
        "only {} Terraform modules",
        modules.len()
    );
    let mut problems = Vec::new();
    for m in &modules {
        // Every fixture organisation protects `prod` and only `prod`.
        problems.extend(review(m, m.env == "prod"));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // The pci-tagged service has its own key everywhere, untagged services only in prod.
    for m in &modules {
        let keyed = !m.blocks("resource", "aws_kms_key").is_empty();
        let acme =
            m.tree.ends_with("acme-argocd/expected") || m.tree.ends_with("tricky-values/expected");
        if acme {
            assert_eq!(
                keyed,
                m.service == "payment-api" || m.env == "prod",
                "{}",
                m.where_()
            );
        }
    }
}

// ------------------------------------------------------------------ organisation variations

/// An organisation: fixtures/acme's config with its `aws:` block replaced by `aws`.
fn org_with(aws: &str) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let base =
        std::fs::read_to_string(Path::new(ROOT).join("fixtures/acme/pctl-org.yaml")).unwrap();
    let cut = base
        .find("\n  aws:\n")
        .expect("fixtures/acme has an aws block");
    let head = &base[..base[..cut].rfind("\n  #").unwrap_or(cut)];
    std::fs::write(tmp.path().join("pctl-org.yaml"), format!("{head}\n{aws}")).unwrap();
    tmp
}

fn pctl(args: &[&str], org: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_pctl"))
        .current_dir(ROOT)
        .args(args)
        .arg("--org")
        .arg(org.join("pctl-org.yaml"))
        .output()
        .unwrap()
}

fn render(aws: &str, service: &str) -> (tempfile::TempDir, PathBuf) {
    let org = org_with(aws);
    let out = org.path().join("out");
    let app = format!("fixtures/acme/{service}");
    let args = [
        "render",
        &app,
        "--out",
        out.to_str().unwrap(),
        "--image-tag",
        "1.4.2",
    ];
    let o = pctl(&args, org.path());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    (org, out)
}

#[test]
fn node_security_group_found_by_tags_when_the_organisation_names_them() {
    let (_org, out) = render(
        "  aws:\n    node_security_group_tags:\n      role: eks-nodes\n",
        "ledger-worker",
    );
    let main = std::fs::read_to_string(out.join("terraform/dev/ledger-worker/main.tf")).unwrap();
    let body = hcl_edit::parser::parse_body(&main).unwrap();
    let (_, sg) = blocks(&body, "data", "aws_security_group")
        .next()
        .expect("a lookup");
    assert!(
        attr(sg, "tags").unwrap().contains("role = \"eks-nodes\""),
        "{main}"
    );
    assert!(
        main.contains("pctl_workload_security_group_id = data.aws_security_group.pctl_workload.id")
    );
    let m = &modules(std::slice::from_ref(&out));
    let problems: Vec<String> = m.iter().flat_map(|m| review(m, m.env == "prod")).collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn alarms_follow_the_team_and_the_organisation_thresholds() {
    let aws = "  aws:\n    alarms:\n      sns_topic: platform-alarms\n      thresholds:\n        cpu_percent: 65\n        connections_percent: 50\n";
    // team-payments routes its alarms itself; team-ledger gets the organisation's topic.
    let (_a, out) = render(aws, "payment-api");
    let main = std::fs::read_to_string(out.join("terraform/prod/payment-api/main.tf")).unwrap();
    assert!(main.contains("name = \"payments-oncall\""), "{main}");
    let db = std::fs::read_to_string(out.join("terraform/prod/payment-api/db.tf")).unwrap();
    assert!(db.contains("threshold           = 65\n"), "{db}");
    // db.m6g.2xlarge in prod: 32 GiB -> 3605 connections, half of it.
    assert!(db.contains("threshold           = 1802\n"), "{db}");
    let (_b, out) = render(aws, "ledger-worker");
    let main = std::fs::read_to_string(out.join("terraform/dev/ledger-worker/main.tf")).unwrap();
    assert!(main.contains("name = \"platform-alarms\""), "{main}");
}

#[test]
fn profile_overrides_and_customer_managed_keys_per_environment() {
    let aws = "  aws:\n    kms:\n      customer_managed: never\n      service_tags: []\n    environments:\n      dev:\n        multi_az: true\n        monitoring_interval: 0\n        performance_insights_days: 0\n";
    let (_org, out) = render(aws, "ledger-worker");
    let dev = std::fs::read_to_string(out.join("terraform/dev/ledger-worker/db.tf")).unwrap();
    assert!(
        dev.contains("multi_az                              = true"),
        "{dev}"
    );
    assert!(
        dev.contains("monitoring_interval                   = 0"),
        "{dev}"
    );
    assert!(!dev.contains("aws_iam_role\" \"db_monitoring"), "{dev}");
    // What the profile turns off says so, for the organisation's own checkov runs.
    assert!(dev.contains("#checkov:skip=CKV_AWS_118:"), "{dev}");
    assert!(dev.contains("#checkov:skip=CKV_AWS_353:"), "{dev}");
    assert!(!dev.contains("#checkov:skip=CKV_AWS_157:"), "{dev}");
    let prod_main =
        std::fs::read_to_string(out.join("terraform/prod/ledger-worker/main.tf")).unwrap();
    assert!(
        !prod_main.contains("aws_kms_key"),
        "never means never: {prod_main}"
    );
}

#[test]
fn irsa_needs_an_account_per_environment_and_aws_environments_must_exist() {
    let org = org_with(
        "  aws:\n    identity: irsa\n    environments:\n      prod:\n        account_id: \"111122223333\"\n      qa:\n        account_id: \"111122223333\"\n",
    );
    let o = pctl(
        &["validate", "fixtures/acme/auth-service", "--format", "json"],
        org.path(),
    );
    assert_eq!(o.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let codes: Vec<&str> = json["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes
            .iter()
            .filter(|c| **c == "org/aws-account-missing")
            .count(),
        2,
        "dev and staging lack an account: {codes:?}"
    );
    assert!(codes.contains(&"org/aws-unknown-environment"), "{codes:?}");
}
