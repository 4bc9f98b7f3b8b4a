//! The service catalog: who owns a service, how to reach them, what it depends on and what
//! depends on it, its endpoints, SLA and monthly cost — from the same intents as the deploys.
//!
//! - `catalog/<service>/catalog-info.yaml` (Backstage entities) is a blueprint
//!   (`blueprints/catalog/`), owned by its service like any other output.
//! - `catalog/index.json` and `catalog/systems.yaml` (systems no team declares) depend on
//!   *every* service (dependents, shared systems), so they are built here, only by runs that
//!   see the whole organisation (`--all`, nothing failed), and belong to [`Owner::Catalog`]
//!   with its own record `.pctl/catalog.json`: a single service's run never renders, changes
//!   or deletes them. So do the teams' Argo CD projects (`crate::teams::entities`).
//! - Groups and the systems teams declare come from the organisation config alone: the root
//!   `catalog-info.yaml`, an organisation file (`crate::teams::entities::org_catalog`).
//! - [`entry`] is one service's record, shared by `index.json` and `pctl catalog`.

use crate::diag::Diagnostic;
use crate::expand::{Owner, RenderedFile, Tree};
use crate::model::{Intent, Org};
use crate::resolve::{self, Source};
use crate::source::SourceMap;
use crate::validate::{Capabilities, Checked};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

pub use crate::links::{pagerduty_service_id, repository_url};

pub const INDEX_PATH: &str = "catalog/index.json";
pub const SYSTEMS_PATH: &str = "catalog/systems.yaml";

/// Resolves an intent for the catalog. Nothing here depends on the source commit or image tag,
/// so neither a git repository nor a tag is needed: the repository is the declared one.
pub fn resolve_for_catalog(intent: &Intent, org: &Org, caps: &Capabilities) -> resolve::Service {
    resolve_with(intent, org, caps, &resolve::org_context(org))
}

/// [`resolve_for_catalog`] with the organisation's context computed once by the caller.
fn resolve_with(
    intent: &Intent,
    org: &Org,
    caps: &Capabilities,
    org_ctx: &Value,
) -> resolve::Service {
    let source = Source {
        repository: intent.metadata.repository.clone().unwrap_or_default(),
        sha: "0".repeat(40),
        image_tag: "catalog".into(),
        image_digest: None,
    };
    // Addresses of dependencies are not catalog data: no contracts needed.
    resolve::resolve(intent, org, caps, org_ctx, &source, &Default::default())
}

fn opt(v: &Value) -> Value {
    match v {
        Value::String(s) if s.is_empty() => Value::Null,
        other => other.clone(),
    }
}

/// One service's catalog record. `dependents`: the services that depend on it, when the run
/// sees the whole organisation (`None`: unknown, shown as `null`).
pub fn entry(svc: &resolve::Service, org: &Org, dependents: Option<Vec<String>>) -> Value {
    let s = &svc.context["service"];
    let team = &svc.context["team"];
    let lines = crate::cost::of_service(svc, org);
    let by_env = crate::cost::by(&lines, "env");
    let envs: Vec<&str> = svc.deployments.iter().map(|d| d.env.as_str()).collect();
    let endpoints: Vec<Value> = s["endpoints"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            let path = e["path"].as_str().unwrap_or_default();
            let mut urls = Map::new();
            if e["public"].as_bool() == Some(true) {
                for d in &svc.deployments {
                    let host = d.context["deployment"]["host"].as_str().unwrap_or_default();
                    urls.insert(d.env.clone(), json!(format!("https://{host}{path}")));
                }
            }
            json!({"path": path, "public": e["public"], "sla": e["sla"], "urls": urls})
        })
        .collect();
    let resources: Vec<Value> = s["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            let name = r["name"].as_str().unwrap_or_default();
            let mut sizes = Map::new();
            let mut cost = Map::new();
            for d in &svc.deployments {
                if let Some(x) = d.resources.iter().find(|x| x["name"] == name) {
                    sizes.insert(
                        d.env.clone(),
                        json!({"size": x["size"], "class": opt(&x["class"])}),
                    );
                }
                if let Some(l) = lines
                    .iter()
                    .find(|l| l.environment == d.env && l.item == name)
                {
                    cost.insert(d.env.clone(), json!(l.usd_month));
                }
            }
            json!({
                "name": name,
                "type": r["type"],
                "entity": format!("resource:{}-{name}", svc.name),
                "environments": sizes,
                "usd_month": cost,
            })
        })
        .collect();
    json!({
        "name": svc.name,
        "kind": svc.kind,
        "description": s["description"],
        "system": s["system"],
        "lifecycle": s["lifecycle"],
        "tags": s["tags"],
        "owner": s["owner"],
        "contacts": {
            "team": team["name"],
            "team_contact": team["contact"],
            "oncall": s["oncall"],
            "runbook": s["runbook"],
            "cost_center": team["cost_center"],
        },
        "repository": opt(&s["repository_url"]),
        "environments": envs,
        "endpoints": endpoints,
        "slo": s["slo"],
        "dependencies": s["dependencies"],
        "dependents": dependents,
        "resources": resources,
        "usd_month": crate::cost::total(&lines),
        "usd_month_by_environment": envs.iter().map(|e| (e.to_string(), json!(by_env.get(*e).copied().unwrap_or(0.0)))).collect::<Map<String, Value>>(),
        "catalog_file": format!("catalog/{}/catalog-info.yaml", svc.name),
    })
}

/// [`entry`] of a service resolved from its real source, as the catalog shows it: the
/// repository is the one platform.yaml declares (as [`resolve_for_catalog`] has it), and the
/// dependents are left to [`org_files`], which knows them. Nothing else of an entry depends on
/// the source or on the callees' contracts.
pub fn entry_of(svc: &resolve::Service, intent: &Intent, org: &Org) -> Value {
    let mut e = entry(svc, org, None);
    let declared = intent.metadata.repository.as_deref().unwrap_or_default();
    e["repository"] = opt(&json!(repository_url(declared)));
    e
}

/// Who depends on each service, among `intents`.
pub fn dependents(intents: &[&Checked<Intent>]) -> BTreeMap<String, Vec<String>> {
    let graph = crate::graph::Graph::new(intents);
    graph
        .services
        .iter()
        .map(|n| {
            (
                n.name.clone(),
                graph
                    .dependents(&n.name)
                    .into_iter()
                    .map(str::to_string)
                    .collect(),
            )
        })
        .collect()
}

/// The systems of the organisation: name -> (owner team, member services). A system's owner is
/// the team that owns most of its services; a tie goes to the team whose name sorts first. So
/// it depends only on the set of intents, never on their order or on which service came first.
pub fn systems(intents: &[&Checked<Intent>]) -> BTreeMap<String, (String, Vec<String>)> {
    let mut members: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    for c in intents {
        let m = &c.model.metadata;
        if let Some(system) = &m.system {
            members
                .entry(system.clone())
                .or_default()
                .entry(m.owner.clone())
                .or_default()
                .push(m.name.clone());
        }
    }
    members
        .into_iter()
        .map(|(system, by_team)| {
            let owner = by_team
                .iter()
                .max_by(|a, b| a.1.len().cmp(&b.1.len()).then(b.0.cmp(a.0)))
                .map(|(t, _)| t.clone())
                .unwrap_or_default();
            let mut services: Vec<String> = by_team.into_values().flatten().collect();
            services.sort();
            (system, (owner, services))
        })
        .collect()
}

/// `catalog/index.json`, `catalog/systems.yaml` (when a service names a system no team
/// declares), `.github/CODEOWNERS`, the teams' AppProjects (Argo CD) and their record
/// `.pctl/catalog.json`, for a run over the whole organisation. Every file is checked like a
/// rendered one.
///
/// `known`: services' entries made already ([`entry_of`]); the others are resolved here.
pub fn org_files(
    org: &Org,
    caps: &Capabilities,
    intents: &[&Checked<Intent>],
    sources: &SourceMap,
    known: &(dyn Fn(&str) -> Option<Value> + Sync),
) -> Result<Tree, Vec<Diagnostic>> {
    let mut ordered: Vec<&Checked<Intent>> = intents.to_vec();
    ordered.sort_by(|a, b| a.model.metadata.name.cmp(&b.model.metadata.name));
    let deps = dependents(&ordered);
    let systems = systems(&ordered);
    // Systems a team declares are in the organisation's root catalog-info.yaml.
    let declared = crate::teams::declared_systems(org);
    let undeclared: BTreeMap<&String, &(String, Vec<String>)> = systems
        .iter()
        .filter(|(name, _)| !declared.contains_key(*name))
        .collect();
    let services: Vec<Value> = {
        use rayon::prelude::*;
        let org_ctx = resolve::org_context(org);
        ordered
            .par_iter()
            .map(|c| {
                let name = &c.model.metadata.name;
                // An entry made elsewhere is taken only for the service it names.
                match known(name).filter(|e| e["name"] == name.as_str()) {
                    Some(mut e) => {
                        e["dependents"] = json!(deps.get(name));
                        e
                    }
                    None => {
                        let svc = resolve_with(&c.model, org, caps, &org_ctx);
                        entry(&svc, org, deps.get(&svc.name).cloned())
                    }
                }
            })
            .collect()
    };
    // Summed in name order, whatever the threads did: the same float every run.
    let total: f64 = services
        .iter()
        .map(|e| e["usd_month"].as_f64().unwrap_or(0.0))
        .sum();
    let index = json!({
        "organisation": org.metadata.name,
        "services": services,
        "systems": systems.iter().map(|(name, (owner, members))| json!({"name": name, "owner": owner, "services": members})).collect::<Vec<_>>(),
        "usd_month": (total * 100.0_f64).round() / 100.0,
    });
    let mut files = vec![(
        INDEX_PATH.to_string(),
        serde_json::to_string_pretty(&index).expect("json") + "\n",
    )];
    if !undeclared.is_empty() {
        let header = format!(
            "# generated by pctl from the platform.yaml files of organisation {} — do not edit\n",
            org.metadata.name.replace(['\n', '\r'], " ")
        );
        let docs: Vec<String> = undeclared
            .iter()
            .map(|(name, (owner, members))| {
                let doc = json!({
                    "apiVersion": "backstage.io/v1alpha1",
                    "kind": "System",
                    "metadata": {
                        "name": name,
                        "description": format!("{name}: {}", members.join(", ")),
                        "annotations": {"pctl.dev/services": members.join(",")},
                    },
                    "spec": {"owner": format!("group:{owner}")},
                });
                crate::expand::escape::yaml_block(&doc, 0)
                    .trim_start_matches('\n')
                    .to_string()
                    + "\n"
            })
            .collect();
        files.push((SYSTEMS_PATH.to_string(), header + &docs.join("---\n")));
    }
    files.push((CODEOWNERS_PATH.to_string(), codeowners(org, &ordered)));
    files.extend(crate::teams::entities::app_projects(org, &ordered));
    let mut tree = Tree::new();
    let mut diags = Vec::new();
    for (path, content) in files {
        diags.extend(crate::expand::check::check(&path, &content, false, sources));
        tree.insert(
            path,
            RenderedFile {
                content,
                owner: Owner::Catalog,
                class: None,
            },
        );
    }
    if !diags.is_empty() {
        return Err(diags);
    }
    crate::plan::add_state(&mut tree, &[], &[], &Default::default());
    Ok(tree)
}

/// Where GitHub reads code owners in the deploy repository.
pub const CODEOWNERS_PATH: &str = ".github/CODEOWNERS";

/// `@org/team` for a team name; names that are already handles or e-mails stay as written.
fn handle(org: &Org, who: &str) -> String {
    if who.starts_with('@') || who.contains('@') || who.contains('/') {
        who.to_string()
    } else {
        format!("@{}/{who}", org.metadata.name)
    }
}

/// Approval gates where GitHub enforces them: with "require review from code owners" on the
/// deploy branch, a change under these paths needs the listed teams. A service's files in a
/// protected environment need its owner and its declared `approvals`; its Terraform (stateful
/// resources) in any environment needs its owner. Paths are disjoint, so order does not matter;
/// they are sorted for stable bytes.
pub fn codeowners(org: &Org, intents: &[&Checked<Intent>]) -> String {
    let mut out = format!(
        "# generated by pctl from the platform.yaml files of organisation {} — do not edit\n\
         # Turn on \"Require review from Code Owners\" for the deploy branch to enforce these approvals.\n",
        org.metadata.name.replace(['\n', '\r'], " ")
    );
    for (path, who) in approval_rules(org, intents) {
        out.push_str(&format!("{path} {}\n", who.join(" ")));
    }
    out
}

/// Path prefix -> who must approve changes under it (see [`codeowners`]).
pub fn approval_rules(org: &Org, intents: &[&Checked<Intent>]) -> BTreeMap<String, Vec<String>> {
    let protected = org.protected_envs();
    let mut rules: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for c in intents {
        let m = &c.model;
        let name = &m.metadata.name;
        let owner = handle(org, &m.metadata.owner);
        for env in org.spec.environments.iter().map(|e| e.name.as_str()) {
            let Some(o) = m.spec.environments.get(env) else {
                continue;
            };
            let mut who = vec![owner.clone()];
            who.extend(o.approvals.iter().map(|a| handle(org, a)));
            who.dedup();
            let (manifests, terraform) = crate::layout::approval_dirs(env, name);
            if protected.contains(&env) || !o.approvals.is_empty() {
                rules.insert(manifests, who.clone());
            }
            if !m.spec.resources.is_empty() {
                let tf = if protected.contains(&env) || !o.approvals.is_empty() {
                    who.clone()
                } else {
                    vec![owner.clone()]
                };
                rules.insert(terraform, tf);
            }
        }
    }
    rules
}

/// `pctl catalog <service>` for a terminal.
pub fn human(e: &Value) -> String {
    use std::fmt::Write;
    let text = |v: &Value| v.as_str().map(str::to_string);
    let list = |v: &Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect()
    };
    let mut out = String::new();
    let _ = write!(
        out,
        "{} ({}, {})",
        e["name"].as_str().unwrap_or_default(),
        e["kind"].as_str().unwrap_or_default(),
        e["lifecycle"].as_str().unwrap_or_default()
    );
    if let Some(d) = text(&e["description"]) {
        let _ = write!(out, ": {d}");
    }
    out.push('\n');
    let mut row = |k: &str, v: String| {
        let _ = writeln!(out, "  {k:<13}{v}");
    };
    let c = &e["contacts"];
    let mut owner = e["owner"].as_str().unwrap_or_default().to_string();
    if let Some(cc) = text(&c["cost_center"]) {
        owner.push_str(&format!(" (cost centre {cc})"));
    }
    row("owner", owner);
    row(
        "contact",
        text(&c["team_contact"]).unwrap_or_else(|| "none in the organisation config".into()),
    );
    row(
        "on-call",
        text(&c["oncall"]).unwrap_or_else(|| "not set (metadata.oncall)".into()),
    );
    row(
        "runbook",
        text(&c["runbook"]).unwrap_or_else(|| "not set (metadata.runbook)".into()),
    );
    if let Some(s) = text(&e["system"]) {
        row("system", s);
    }
    if let Some(r) = text(&e["repository"]) {
        row("repository", r);
    }
    let deps = list(&e["dependencies"]);
    row(
        "depends on",
        if deps.is_empty() {
            "no other service".into()
        } else {
            deps.join(", ")
        },
    );
    let dependents = match e["dependents"].as_array() {
        None => "unknown: run with --all over the organisation checkout".to_string(),
        Some(d) if d.is_empty() => "no other service".into(),
        Some(_) => list(&e["dependents"]).join(", "),
    };
    row("used by", dependents);
    let resources: Vec<String> = e["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            let sizes: Vec<String> = r["environments"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(env, s)| format!("{env} {}", s["size"].as_str().unwrap_or_default()))
                .collect();
            format!(
                "{} ({}: {})",
                r["name"].as_str().unwrap_or_default(),
                r["type"].as_str().unwrap_or_default(),
                sizes.join(", ")
            )
        })
        .collect();
    row(
        "resources",
        if resources.is_empty() {
            "none".into()
        } else {
            resources.join("; ")
        },
    );
    let endpoints: Vec<String> = e["endpoints"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|ep| {
            let mut s = ep["path"].as_str().unwrap_or_default().to_string();
            s.push_str(if ep["public"].as_bool() == Some(true) {
                " public"
            } else {
                " in-cluster"
            });
            if let Some(sla) = ep["sla"].as_f64() {
                s.push_str(&format!(", SLA {sla}%"));
            }
            let urls: Vec<&str> = ep["urls"]
                .as_object()
                .into_iter()
                .flatten()
                .filter_map(|(_, u)| u.as_str())
                .collect();
            if !urls.is_empty() {
                s.push_str(&format!(" ({})", urls.join(", ")));
            }
            s
        })
        .collect();
    row(
        "endpoints",
        if endpoints.is_empty() {
            "none".into()
        } else {
            endpoints.join("; ")
        },
    );
    let slo = &e["slo"];
    if slo.is_object() {
        let mut parts = Vec::new();
        if let Some(a) = slo["availability"].as_f64() {
            parts.push(format!("availability {a}%"));
        }
        if let Some(l) = text(&slo["latency_p99"]) {
            parts.push(format!("p99 latency {l}"));
        }
        if !parts.is_empty() {
            row("SLO", parts.join(", "));
        }
    }
    let per_env: Vec<String> = e["usd_month_by_environment"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(env, v)| format!("{env} {}", crate::cost::usd(v.as_f64().unwrap_or(0.0))))
        .collect();
    row(
        "cost",
        format!(
            "{}/month ({})",
            crate::cost::usd(e["usd_month"].as_f64().unwrap_or(0.0)),
            per_env.join(", ")
        ),
    );
    row(
        "catalog",
        e["catalog_file"].as_str().unwrap_or_default().into(),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::{pagerduty_service_id, repository_url};

    #[test]
    fn repositories_become_web_addresses_or_nothing() {
        for (repo, web) in [
            (
                "https://github.com/acme/api",
                Some("https://github.com/acme/api"),
            ),
            (
                "https://github.com/acme/api.git",
                Some("https://github.com/acme/api"),
            ),
            (
                "git@github.com:acme/api.git",
                Some("https://github.com/acme/api"),
            ),
            (
                "ssh://git@git.example.com:2222/acme/api.git",
                Some("https://git.example.com/acme/api"),
            ),
            ("unknown", None),
            ("", None),
            ("/srv/git/api", None),
            ("https://", None),
            ("https://host/a b", None),
        ] {
            assert_eq!(repository_url(repo).as_deref(), web, "{repo}");
        }
    }

    #[test]
    fn pagerduty_services_from_oncall_urls() {
        assert_eq!(
            pagerduty_service_id("https://example.pagerduty.com/service-directory/PAY1").as_deref(),
            Some("PAY1")
        );
        assert_eq!(
            pagerduty_service_id("https://acme.pagerduty.com/services/P123ABC").as_deref(),
            Some("P123ABC")
        );
        assert_eq!(
            pagerduty_service_id("https://acme.pagerduty.com/schedules/P1"),
            None
        );
        assert_eq!(
            pagerduty_service_id("https://pagerduty.com.evil/services/P1"),
            None
        );
        assert_eq!(
            pagerduty_service_id("https://wiki.example.com/oncall"),
            None
        );
    }
}
