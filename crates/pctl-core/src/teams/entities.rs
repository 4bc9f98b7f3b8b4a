//! What Backstage and Argo CD know of the organisation's teams:
//!
//! - [`org_catalog`]: the deploy repository's root `catalog-info.yaml`, from the organisation
//!   config alone (an organisation file, in every run): a Location that finds every generated
//!   catalog file, one Group per team (contact, cost centre, on-call) and one System per
//!   system a team declares, so every `group:` and declared `system:` reference of a service's
//!   catalog resolves, in a single service's render too.
//! - [`app_projects`]: Argo CD AppProjects, one per team and environment, allowing only the
//!   team's namespaces on the environment's cluster and only the deploy repository; they
//!   depend on every service of the team, so only runs over the whole organisation write them.

use super::{declared_systems, group_of};
use crate::model::{Intent, Org};
use crate::validate::Checked;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// Where the organisation's own catalog entities live (see [`org_catalog`]).
pub const ORG_CATALOG_PATH: &str = "catalog-info.yaml";

fn document(v: &Value) -> String {
    crate::expand::escape::yaml_block(v, 0)
        .trim_start_matches('\n')
        .to_string()
        + "\n"
}

fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

fn is_web(s: &str) -> bool {
    (s.starts_with("https://") || s.starts_with("http://")) && !s.contains(char::is_whitespace)
}

/// The root `catalog-info.yaml` of the deploy tree (see the module documentation).
pub fn org_catalog(org: &Org) -> String {
    let name = &org.metadata.name;
    let mut docs = vec![json!({
        "apiVersion": "backstage.io/v1alpha1",
        "kind": "Location",
        "metadata": {
            "name": format!("pctl-{name}"),
            "description": format!("Every catalog entity pctl generates for organisation {name}"),
        },
        "spec": {
            "type": "url",
            "targets": ["./catalog/*/catalog-info.yaml", "./catalog/*.yaml"],
        },
    })];
    for t in &org.spec.teams {
        let mut annotations = Map::new();
        if let Some(c) = &t.contact {
            annotations.insert("pctl.dev/contact".into(), json!(c));
        }
        if let Some(cc) = &t.cost_center {
            annotations.insert("pctl.dev/cost-center".into(), json!(cc));
        }
        if let Some(b) = t.budget_usd_month {
            annotations.insert("pctl.dev/budget-usd-month".into(), json!(b.to_string()));
        }
        let group = group_of(&t.name, Some(t));
        annotations.insert("pctl.dev/group".into(), json!(group));
        if let Some(o) = &t.fields.oncall {
            annotations.insert("pctl.dev/oncall".into(), json!(o));
        }
        let r = super::receivers(Some(t));
        let via: Vec<&str> = [
            r.pagerduty.as_ref().map(|_| "pagerduty"),
            r.slack.as_ref().map(|_| "slack"),
        ]
        .into_iter()
        .flatten()
        .collect();
        if !via.is_empty() {
            annotations.insert("pctl.dev/alerts".into(), json!(via.join(",")));
        }
        let mut links = Vec::new();
        if let Some(o) = t.fields.oncall.as_deref().filter(|o| is_web(o)) {
            links.push(json!({"url": o, "title": "On-call", "icon": "warning"}));
        }
        if let Some(c) = t.contact.as_deref().filter(|c| is_web(c)) {
            links.push(json!({"url": c, "title": "Contact", "icon": "chat"}));
        }
        let mut profile = Map::new();
        profile.insert("displayName".into(), json!(t.name));
        if let Some(c) = t
            .contact
            .as_deref()
            .filter(|c| c.contains('@') && !c.contains(char::is_whitespace) && !is_web(c))
        {
            profile.insert("email".into(), json!(c.trim_start_matches("mailto:")));
        }
        let mut metadata = Map::new();
        metadata.insert("name".into(), json!(t.name));
        metadata.insert(
            "description".into(),
            json!(match &t.contact {
                Some(c) => one_line(&format!("Team {} of {name} ({c})", t.name)),
                None => format!("Team {} of {name}", t.name),
            }),
        );
        metadata.insert("annotations".into(), Value::Object(annotations));
        if !links.is_empty() {
            metadata.insert("links".into(), json!(links));
        }
        docs.push(json!({
            "apiVersion": "backstage.io/v1alpha1",
            "kind": "Group",
            "metadata": metadata,
            "spec": {"type": "team", "profile": profile, "children": []},
        }));
    }
    for (system, team) in declared_systems(org) {
        docs.push(json!({
            "apiVersion": "backstage.io/v1alpha1",
            "kind": "System",
            "metadata": {
                "name": system,
                "description": format!("System {system}, owned by {team}"),
                "annotations": {"pctl.dev/team": team},
            },
            "spec": {"owner": format!("group:{team}")},
        }));
    }
    let header = format!(
        "# generated by pctl from organisation config ({}) — do not edit\n",
        one_line(name)
    );
    header + &docs.iter().map(document).collect::<Vec<_>>().join("---\n")
}

/// Where a team's AppProject of an environment lives.
pub fn app_project_path(env: &str, team: &str) -> String {
    format!("clusters/{env}/projects/{team}.yaml")
}

/// The name of a team's AppProject in an environment (what the ApplicationSet names).
pub fn app_project_name(env: &str, team: &str) -> String {
    format!("pctl-{env}-{team}")
}

/// One AppProject per team and environment with services there (Argo CD organisations only):
/// path -> content.
pub fn app_projects(org: &Org, intents: &[&Checked<Intent>]) -> Vec<(String, String)> {
    if org.gitops() != "argocd" {
        return Vec::new();
    }
    let url = &org.spec.deploy_repository.url;
    let mut out = Vec::new();
    for env in &org.spec.environments {
        let mut by_team: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for c in intents {
            let m = &c.model;
            if m.spec.environments.contains_key(&env.name) {
                by_team
                    .entry(m.metadata.owner.as_str())
                    .or_default()
                    .insert(m.metadata.name.as_str());
            }
        }
        for (team, services) in by_team {
            let project = app_project_name(&env.name, team);
            let group = group_of(team, org.team(team));
            let mut policies = vec![format!(
                "p, proj:{project}:team, applications, get, {project}/*, allow"
            )];
            if !env.protected {
                policies.push(format!(
                    "p, proj:{project}:team, applications, sync, {project}/*, allow"
                ));
            }
            let doc = json!({
                "apiVersion": "argoproj.io/v1alpha1",
                "kind": "AppProject",
                "metadata": {
                    "name": project,
                    "namespace": "argocd",
                    "labels": {
                        "app.kubernetes.io/managed-by": "pctl",
                        "pctl.dev/environment": env.name,
                        "pctl.dev/team": team,
                    },
                },
                "spec": {
                    "description": one_line(&format!("Services of {team} in {} (generated by pctl)", env.name)),
                    "sourceRepos": [url],
                    "destinations": services.iter().map(|s| json!({"name": env.cluster, "namespace": s})).collect::<Vec<_>>(),
                    "clusterResourceWhitelist": [{"group": "", "kind": "Namespace"}],
                    "roles": [{
                        "name": "team",
                        "description": format!("{team}: {}", if env.protected { "read only (protected environment)" } else { "read and sync" }),
                        "groups": [group],
                        "policies": policies,
                    }],
                },
            });
            let header = format!(
                "# generated by pctl from the platform.yaml files of organisation {} — do not edit\n",
                one_line(&org.metadata.name)
            );
            out.push((app_project_path(&env.name, team), header + &document(&doc)));
        }
    }
    out
}
