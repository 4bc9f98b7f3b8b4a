//! Teams as the platform runs them: who may act in a service's namespaces (a RoleBinding for
//! the team's group: `edit` where the environment is not protected, `view` where it is), how
//! much the namespace may hold (a ResourceQuota sized from the declared compute and the most
//! pods a rollout runs, with the organisation's headroom, and LimitRange defaults), where its
//! alerts go (an AlertmanagerConfig to the team's PagerDuty or Slack, pages and tickets apart),
//! and what Backstage and Argo CD know of it (`entities`: Group and System entities, one
//! AppProject per team and environment).
//!
//! The organisation config fields (`teams[].group`, `oncall`, `systems`, `alerts.pagerduty`,
//! `alerts.slack`, `spec.quota`) and the context they give blueprints are here; docs:
//! docs/teams.md. Pure: no I/O.

pub mod entities;

use crate::diag::{Diagnostic, join_pointer};
use crate::load::Document;
use crate::model::{Environment, Intent, Org, Team};
use crate::source::SourceFile;
use serde_json::{Value, json};
use std::collections::BTreeMap;

pub use crate::model::teams::{Quota, Receivers, SecretRef, Slack, TeamFields};

/// The default of `spec.quota.headroom_percent`.
pub const HEADROOM_PERCENT: u32 = 50;

/// The team's group in the identity provider.
pub fn group_of(name: &str, team: Option<&Team>) -> String {
    team.and_then(|t| t.fields.group.clone())
        .unwrap_or_else(|| name.to_string())
}

fn receivers(team: Option<&Team>) -> Receivers {
    team.and_then(|t| t.alerts.as_ref())
        .map(|a| a.receivers.clone())
        .unwrap_or_default()
}

/// What `team` gains in every scope: `group`, `oncall`, `systems`, and `alerts` (`pagerduty`
/// {secret, property}, `slack` {secret, property, channel}, each none when not configured).
pub fn extend_team(ctx: &mut Value, org: &Org, owner: &str) {
    let team = org.team(owner);
    let r = receivers(team);
    ctx["group"] = json!(group_of(owner, team));
    ctx["oncall"] = json!(team.and_then(|t| t.fields.oncall.clone()));
    ctx["systems"] = json!(team.map(|t| t.fields.systems.clone()).unwrap_or_default());
    ctx["alerts"] = json!({"pagerduty": r.pagerduty, "slack": r.slack});
}

/// `org.teams`: every team with its contact, group, on-call and systems.
pub fn org_context(org: &Org) -> Value {
    Value::Array(
        org.spec
            .teams
            .iter()
            .map(|t| {
                let mut v =
                    json!({"name": t.name, "contact": t.contact, "cost_center": t.cost_center});
                extend_team(&mut v, org, &t.name);
                v
            })
            .collect(),
    )
}

/// The most pods a workload runs at once: its replicas (or the autoscaler's maximum) plus
/// the 25% surge of a rolling update; a progressive rollout runs a second full copy beside the
/// stable one: Argo Rollouts scales a canary up to the stable's size (with a surge), and runs
/// a blue-green preview at full size beside the active ReplicaSet (the old one lingers after
/// promotion only while the preview has become the active one); Flagger's primary and canary
/// Deployments each roll with a surge, for either strategy. A CronJob runs one Job at a time.
pub fn max_pods(kind: &str, controller: &str, strategy: &str, replicas: u32) -> u32 {
    let n = replicas.max(1);
    let surge = n.div_ceil(4);
    match (kind, controller, strategy) {
        ("CronJob", _, _) => 1,
        (_, "flagger", _) => 2 * (n + surge),
        (_, "argo-rollouts", "blue-green") => 2 * n,
        (_, "argo-rollouts", _) => 2 * n + surge,
        _ => n + surge,
    }
}

/// `pods` scaled by the headroom, rounded up.
fn with_headroom(pods: u64, headroom: u32) -> u64 {
    (pods * (100 + headroom as u64)).div_ceil(100)
}

fn cpu_text(milli: u64) -> String {
    if milli % 1000 == 0 {
        (milli / 1000).to_string()
    } else {
        format!("{milli}m")
    }
}

fn memory_text(bytes: u64) -> String {
    const MI: u64 = 1 << 20;
    if bytes % MI == 0 {
        format!("{}Mi", bytes / MI)
    } else if bytes % 1024 == 0 {
        format!("{}Ki", bytes / 1024)
    } else {
        bytes.to_string()
    }
}

/// What `deployment` gains: `access` {group, role (edit | view), binding (the RoleBinding's
/// name, which names the role: a roleRef cannot change)}, `quota` {pods, cpu, memory,
/// headroom_percent, max_pods}|none, `alerting` (see [`alerting`])|none.
pub fn extend_deployment(d: &mut Value, org: &Org, intent: &Intent, env: &Environment) {
    let owner = &intent.metadata.owner;
    let team = org.team(owner);
    let role = if env.protected { "view" } else { "edit" };
    d["access"] = json!({
        "group": group_of(owner, team),
        "role": role,
        "binding": format!("pctl-team-{role}"),
    });
    let strategy = intent.spec.deploy.strategy.as_deref().unwrap_or("rolling");
    let controller = match strategy {
        "canary" | "blue-green" => org.progressive_delivery(),
        _ => "none",
    };
    let replicas = d["autoscale"]["max"]
        .as_u64()
        .or(d["replicas"].as_u64())
        .unwrap_or(1) as u32;
    let most = max_pods(&intent.kind, controller, strategy, replicas);
    let headroom = org
        .spec
        .quota
        .as_ref()
        .and_then(|q| q.headroom_percent)
        .unwrap_or(HEADROOM_PERCENT);
    let compute = |c: &Value| {
        Some((
            crate::quantity::parse_cpu(c["cpu"].as_str()?)?,
            crate::quantity::parse_memory(c["memory"].as_str()?)?,
        ))
    };
    // The service's pods, then its in-cluster companions' (one replica each, replaced with
    // `Recreate`: never two at once), each with the headroom.
    let mut pods = with_headroom(most as u64, headroom);
    let mut total = compute(&d["compute"]).map(|(c, m)| (c * pods, m * pods));
    for r in d["resources"].as_array().into_iter().flatten() {
        let companion = &r["companion"];
        if companion.is_null() {
            continue;
        }
        let n = with_headroom(1, headroom);
        pods += n;
        total = match (total, compute(&companion["compute"])) {
            (Some((c, m)), Some((cc, cm))) => Some((c + cc * n, m + cm * n)),
            _ => None,
        };
    }
    d["quota"] = match total {
        Some((c, m)) => json!({
            "pods": pods,
            "cpu": cpu_text(c),
            "memory": memory_text(m),
            "max_pods": most,
            "headroom_percent": headroom,
        }),
        None => Value::Null,
    };
    d["alerting"] = alerting(org, intent);
}

/// Where a service's alerts go, when it has `oncall` and its team a receiver: the Secret the
/// namespace gets from the secret store (`secret_name`, with `pagerduty` {remote_key,
/// property, key} and `slack` {remote_key, property, key, channel}, each none when absent) and
/// the receiver of pages (`page`: PagerDuty, else Slack) and of tickets (`ticket`: Slack,
/// else PagerDuty), named `<team>-page` / `<team>-ticket`.
pub fn alerting(org: &Org, intent: &Intent) -> Value {
    let m = &intent.metadata;
    if m.oncall.is_none() {
        return Value::Null;
    }
    let r = receivers(org.team(&m.owner));
    if r.pagerduty.is_none() && r.slack.is_none() {
        return Value::Null;
    }
    let pagerduty = r.pagerduty.as_ref().map(
        |p| json!({"remote_key": p.secret, "property": p.property, "key": "pagerduty-routing-key"}),
    );
    let slack = r.slack.as_ref().map(|s| {
        json!({"remote_key": s.secret, "property": s.property, "key": "slack-webhook-url", "channel": s.channel})
    });
    let (page, ticket) = match (&pagerduty, &slack) {
        (Some(_), Some(_)) => ("pagerduty", "slack"),
        (Some(_), None) => ("pagerduty", "pagerduty"),
        _ => ("slack", "slack"),
    };
    json!({
        "team": m.owner,
        "secret_name": "pctl-alerting",
        "pagerduty": pagerduty,
        "slack": slack,
        "page": {"receiver": format!("{}-page", m.owner), "via": page},
        "ticket": {"receiver": format!("{}-ticket", m.owner), "via": ticket},
    })
}

/// Systems the teams declare: system -> owning team (the first team that declares it).
pub fn declared_systems(org: &Org) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for t in &org.spec.teams {
        for s in &t.fields.systems {
            out.entry(s.clone()).or_insert_with(|| t.name.clone());
        }
    }
    out
}

/// Organisation config checks: a system is declared by one team only.
pub fn check_org(file: &SourceFile, doc: &Document, org: &Org) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    let mut first: BTreeMap<&str, String> = BTreeMap::new();
    for (i, t) in org.spec.teams.iter().enumerate() {
        for (j, s) in t.fields.systems.iter().enumerate() {
            let p = format!("/spec/teams/{i}/systems/{j}");
            if let Some(prev) = first.get(s.as_str()) {
                diags.push(
                    Diagnostic::error(
                        "org/duplicate",
                        format!("system `{s}` is declared by two teams"),
                    )
                    .in_file(&file.name)
                    .at(doc.spans.locate(file, &p))
                    .pointer(&p)
                    .note(format!("first declared by team `{prev}`"))
                    .help("a system has one owner: keep it under one team's `systems`"),
                );
            } else {
                first.insert(s, t.name.clone());
            }
        }
    }
    diags
}

/// Checks of an intent against its team: alerts of a service with `oncall` must reach
/// someone, and its system should be declared (else only `--all` runs render the System).
pub fn check_intent(
    file: &SourceFile,
    doc: &Document,
    intent: &Intent,
    org: &Org,
) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    let m = &intent.metadata;
    let Some(team) = org.team(&m.owner) else {
        return diags;
    };
    let at = |p: &str| doc.spans.locate(file, p);
    if m.oncall.is_some() && alerting(org, intent).is_null() {
        let i = org
            .spec
            .teams
            .iter()
            .position(|t| t.name == team.name)
            .unwrap_or(0);
        let p = "/metadata/oncall";
        diags.push(
            Diagnostic::warning(
                "semantic/oncall-unrouted",
                format!(
                    "the alerts of `{}` reach no one: team `{}` has no on-call receiver",
                    m.name, team.name
                ),
            )
            .in_file(&file.name)
            .at(at(p))
            .pointer(p)
            .note("`oncall` routes the service's alerts (AlertmanagerConfig) to its team's PagerDuty or Slack")
            .help(format!(
                "ask the platform team to add `alerts: {{pagerduty: {{secret: ...}}}}` or `alerts: {{slack: {{secret: ...}}}}` to team `{}` ({})",
                team.name,
                join_pointer(&format!("/spec/teams/{i}"), "alerts")
            )),
        );
    }
    if let Some(system) = &m.system {
        if !declared_systems(org).contains_key(system) {
            let p = "/metadata/system";
            diags.push(
                Diagnostic::warning(
                    "semantic/undeclared-system",
                    format!("system `{system}` is not declared by a team of the organisation"),
                )
                .in_file(&file.name)
                .at(at(p))
                .pointer(p)
                .note("its Backstage System entity exists only in runs over the whole organisation (--all); a single service's catalog names it without defining it")
                .help(format!(
                    "ask the platform team to add `{system}` to `systems` of team `{}` in the organisation config",
                    team.name
                )),
            );
        }
    }
    diags
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_quota_fits_the_largest_rollout() {
        assert_eq!(max_pods("Service", "none", "rolling", 3), 4);
        assert_eq!(max_pods("Service", "argo-rollouts", "canary", 10), 23);
        assert_eq!(max_pods("Service", "argo-rollouts", "blue-green", 10), 20);
        assert_eq!(max_pods("Service", "flagger", "canary", 3), 8);
        assert_eq!(max_pods("Service", "flagger", "blue-green", 1), 4);
        assert_eq!(max_pods("CronJob", "none", "rolling", 1), 1);
        assert_eq!(max_pods("Worker", "none", "rolling", 0), 2);
        assert_eq!(with_headroom(3, 50), 5);
        assert_eq!(with_headroom(1, 0), 1);
        assert_eq!(memory_text(3 * (256 << 20)), "768Mi");
        assert_eq!(cpu_text(35000), "35");
        assert_eq!(cpu_text(1250), "1250m");
        assert_eq!(memory_text(1536), "1536");
        assert_eq!(memory_text(3 * 1000 * 1024), "3000Ki");
    }
}
