//! Guardrails and organisation policies, evaluated over each resolved service and its rendered
//! objects. Built-in guardrails are set to `deny` / `warn` / `off` in the organisation config
//! (`spec.guardrails`); organisation policies are Rego files (OPA's language, evaluated
//! in-process with regorus) whose `deny` and `warn` sets become diagnostics.
//!
//! A service with a `deny` is not rendered (like a service whose platform.yaml is invalid).

use crate::diag::{Diagnostic, Severity, join_pointer};
use crate::model::{Intent, Org};
use crate::resolve::Service;
use crate::validate::Checked;
use serde_json::{Value, json};
use std::collections::BTreeMap;

use crate::guardrails::level;

/// Rego policies, parsed once.
#[derive(Clone)]
pub struct Policies {
    engine: regorus::Engine,
    /// (display path, package) of every policy file.
    packages: Vec<(String, String)>,
    /// A hash of every policy file (path and text): what the render cache keys on.
    pub fingerprint: String,
}

impl Policies {
    /// Loads `.rego` files: (display path, text). Parse errors are diagnostics with the file.
    pub fn load(files: &[(String, String)]) -> Result<Policies, Vec<Diagnostic>> {
        let mut engine = regorus::Engine::new();
        let mut packages = Vec::new();
        let mut diags = Vec::new();
        for (path, text) in files {
            match engine.add_policy(path.clone(), text.clone()) {
                Ok(pkg) => packages.push((path.clone(), pkg)),
                Err(e) => diags.push(
                    Diagnostic::error(
                        "policy/syntax",
                        format!("invalid Rego policy: {}", first_line(&e.to_string())),
                    )
                    .in_file(path)
                    .note(e.to_string())
                    .help("fix the policy; pctl evaluates Rego v1 (the syntax of OPA 1.x)"),
                ),
            }
        }
        if diags.is_empty() {
            let mut all = String::new();
            for (path, text) in files {
                all.push_str(&format!("{}:{path}{}:{text}", path.len(), text.len()));
            }
            let fingerprint = crate::digest::sha256(&all);
            Ok(Policies {
                engine,
                packages,
                fingerprint,
            })
        } else {
            Err(diags)
        }
    }

    /// `deny` and `warn` of every package for one input.
    fn evaluate(&self, input: &Value) -> Result<Vec<(String, Severity, String)>, String> {
        let mut engine = self.engine.clone();
        let input = regorus::Value::from_json_str(&input.to_string()).map_err(|e| e.to_string())?;
        engine.set_input(input);
        let mut out = Vec::new();
        for (path, pkg) in &self.packages {
            for (rule, sev) in [("deny", Severity::Error), ("warn", Severity::Warning)] {
                let value = match engine.eval_rule(format!("{pkg}.{rule}")) {
                    Ok(v) => v,
                    Err(_) => continue, // the package has no such rule
                };
                let json: Value = value
                    .to_json_str()
                    .ok()
                    .and_then(|s| serde_json::from_str(&s).ok())
                    .unwrap_or(Value::Null);
                let messages: Vec<String> = match json {
                    Value::Array(items) => items.iter().map(message).collect(),
                    Value::String(s) => vec![s],
                    _ => Vec::new(),
                };
                out.extend(messages.into_iter().map(|m| (path.clone(), sev, m)));
            }
        }
        out.sort();
        Ok(out)
    }
}

fn message(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Object(m) => m
            .get("msg")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| v.to_string()),
        other => other.to_string(),
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}

/// A guardrail's finding at `pointer` of the service's platform.yaml, at the level the
/// organisation sets (None when it is off).
fn guardrail(
    org: &Org,
    checked: &Checked<Intent>,
    name: &'static str,
    msg: String,
    pointer: &str,
    help: String,
) -> Option<Diagnostic> {
    let sev = level(org, name)?;
    let file = &checked.file;
    Some(
        Diagnostic::new(sev, guardrail_code(name), msg)
            .in_file(&file.name)
            .at(checked.doc.spans.locate(file, pointer))
            .pointer(pointer)
            .note(format!(
                "guardrail `{name}` ({}); the organisation config sets it to deny, warn or off",
                if sev == Severity::Error {
                    "deny"
                } else {
                    "warn"
                }
            ))
            .help(help),
    )
}

/// The team budget guardrail for one service. `team_costs`: monthly cost per team over the
/// run's services. Apart from [`check`] because it depends on other services: it runs for
/// every service, also one whose files come from the render cache.
pub fn budget(
    org: &Org,
    checked: &Checked<Intent>,
    team_costs: &BTreeMap<String, f64>,
) -> Option<Diagnostic> {
    let team = &checked.model.metadata.owner;
    let budget = org.team(team).and_then(|t| t.budget_usd_month)?;
    let cost = team_costs.get(team)?;
    if *cost <= budget {
        return None;
    }
    guardrail(
        org,
        checked,
        "budget",
        format!("team `{team}` would spend {} a month, over its budget of {}", crate::cost::usd(*cost), crate::cost::usd(budget)),
        "/metadata/owner",
        "reduce sizes or replicas, or ask the platform team to raise the budget (this change then needs their approval)".into(),
    )
}

/// The guardrails on a service's intent alone (registry, latest tag, production replicas and
/// contacts, sizes): they need no rendering, so they run for every service, also one whose
/// files come from the render cache.
pub fn check_intent(org: &Org, checked: &Checked<Intent>, svc: &Service) -> Vec<Diagnostic> {
    let mut findings: Vec<crate::exemption::Finding> = Vec::new();
    let intent = &checked.model;
    let spans = &checked.doc.spans;
    // Each finding knows its environment and resource, for the service's exemptions.
    let mut found = |scope: &(Option<String>, Option<String>),
                     name: &'static str,
                     msg: String,
                     pointer: &str,
                     help: String| {
        if let Some(d) = guardrail(org, checked, name, msg, pointer, help) {
            findings.push(crate::exemption::Finding {
                guardrail: name,
                env: scope.0.clone(),
                resource: scope.1.clone(),
                diagnostic: d,
            });
        }
    };

    if svc.context["service"]["image_tag"] == "latest" {
        found(
            &(None, None),
            "latest_tag",
            format!("`{}` would deploy the `latest` tag", intent.spec.image),
            "/spec/image",
            "deploy an immutable tag: the commit sha (the default) or a version".into(),
        );
    }
    let protected = org.protected_envs();
    for d in &svc.deployments {
        let env = d.env.as_str();
        let dep = &d.context["deployment"];
        let p = join_pointer("/spec/environments", env);
        let scope = (Some(env.to_string()), None);
        if protected.contains(&env) && svc.source.image_digest.is_none() {
            found(
                &scope,
                "image_digest",
                format!(
                    "`{env}` is protected but `{}` would run `{}:{}` by tag, without a digest",
                    svc.name, intent.spec.image, svc.source.image_tag
                ),
                "/spec/image",
                "publish the digest the build produced: `--image-digest sha256:...` (the action's `image-digest` input)".into(),
            );
        }
        if protected.contains(&env) {
            if intent.kind != "CronJob" {
                let floor = dep["replicas"]
                    .as_u64()
                    .or_else(|| dep["autoscale"]["min"].as_u64())
                    .unwrap_or(1);
                // 0 is a deliberate pause, not an under-provisioned service.
                if floor == 1 {
                    found(
                        &scope,
                        "production_replicas",
                        format!(
                            "`{env}` is protected but `{}` runs a single replica there",
                            svc.name
                        ),
                        &p,
                        format!(
                            "set `replicas: 2` or more (or `autoscale: {{min: 2, ...}}`) under `environments.{env}`{}",
                            if org.exemptable("production_replicas") {
                                "; or, if one replica is right for this service, exempt it with a reason (`spec.exemptions`)"
                            } else {
                                ""
                            }
                        ),
                    );
                }
            }
            for (field, what) in [
                ("oncall", &intent.metadata.oncall),
                ("runbook", &intent.metadata.runbook),
            ] {
                if what.is_none() {
                    found(
                        &scope,
                        "production_contacts",
                        format!(
                            "`{}` runs in the protected environment `{env}` without `metadata.{field}`",
                            svc.name
                        ),
                        "/metadata",
                        format!("add `{field}: https://...` under `metadata`"),
                    );
                }
            }
        }
        // An in-cluster resource runs one replica: in a protected environment, that is the
        // production_replicas guardrail's business too.
        for r in d
            .resources
            .iter()
            .filter(|r| r["placement"] == "in-cluster")
        {
            let name = r["name"].as_str().unwrap_or_default();
            if !protected.contains(&env) {
                continue;
            }
            let over = join_pointer(&join_pointer(&format!("{p}/resources"), name), "placement");
            let pointer = if spans.get(&over).is_some() {
                over
            } else {
                join_pointer(&join_pointer("/spec/resources", name), "placement")
            };
            found(
                &(Some(env.to_string()), Some(name.to_string())),
                "production_replicas",
                format!(
                    "{} `{name}` of `{}` runs in the cluster with a single replica in the protected `{env}`",
                    r["type"].as_str().unwrap_or_default(),
                    svc.name
                ),
                &pointer,
                format!(
                    "use `placement: managed` under `environments.{env}.resources.{name}`, or exempt it with a reason (`spec.exemptions`, `resource: {name}`)"
                ),
            );
        }
        let allowed = org.spec.allowed_sizes.get(env);
        for r in d
            .resources
            .iter()
            .filter(|r| r["placement"] != "in-cluster")
        {
            let (rtype, size, name) = (
                r["type"].as_str().unwrap_or(""),
                r["size"].as_str().unwrap_or(""),
                r["name"].as_str().unwrap_or(""),
            );
            if let Some(sizes) = allowed.and_then(|a| a.get(rtype)) {
                if !sizes.iter().any(|s| s == size) {
                    let over = join_pointer(&join_pointer(&format!("{p}/resources"), name), "size");
                    let pointer = if spans.get(&over).is_some() {
                        over
                    } else {
                        join_pointer(&join_pointer("/spec/resources", name), "size")
                    };
                    found(
                        &(Some(env.to_string()), Some(name.to_string())),
                        "sizes",
                        format!("size `{size}` of {rtype} `{name}` is not allowed in `{env}`"),
                        &pointer,
                        format!("use one of {} in `{env}`", crate::diag::one_of(sizes)),
                    );
                }
            }
        }
    }
    crate::exemption::apply(checked, findings, |g| level(org, g).is_some())
}

/// The checks on what a service rendered: the labels guardrail and the Rego policies. They
/// depend only on the service's own intent, files and objects and on the organisation (so a
/// render cache hit needs none of them).
/// `org_ctx`: the organisation as blueprints see it (`resolve::org_context`), `input.org`.
pub fn check(
    org: &Org,
    org_ctx: &Value,
    checked: &Checked<Intent>,
    svc: &Service,
    files: &[(String, String)],
    objs: &[Value],
    policies: Option<&Policies>,
) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    let file = &checked.file;
    let at = |pointer: &str| checked.doc.spans.locate(file, pointer);
    let mut push = |name: &'static str, msg: String, pointer: &str, help: String| {
        diags.extend(guardrail(org, checked, name, msg, pointer, help));
    };

    // Labels and tags on what was rendered.
    const LABELS: &[&str] = &[
        "app.kubernetes.io/name",
        "pctl.dev/team",
        "pctl.dev/environment",
        "pctl.dev/cost-center",
    ];
    for o in objs {
        let path = o["path"].as_str().unwrap_or_default();
        let applied =
            crate::layout::place(path).is_some_and(|p| p.area == crate::layout::Area::Manifests);
        if !applied || o["kind"] == "Kustomization" {
            continue;
        }
        let labels = &o["object"]["metadata"]["labels"];
        let missing: Vec<&str> = LABELS
            .iter()
            .copied()
            .filter(|l| labels.get(*l).is_none())
            .collect();
        if !missing.is_empty() {
            push(
                "labels",
                format!("`{path}` lacks the labels {}", missing.join(", ")),
                "",
                "use the `labels` context variable on every object in the blueprint".into(),
            );
        }
    }
    // Every Terraform root module (the file with the `provider` block) tags what it creates.
    let terraform = files.iter().filter(|(p, _)| {
        crate::layout::place(p).is_some_and(|pl| pl.area == crate::layout::Area::Terraform)
    });
    for (path, content) in terraform {
        let Some(tags) = provider_default_tags(content) else {
            continue; // not a root module
        };
        let tagged = ["service", "team", "environment", "cost_center"]
            .iter()
            .all(|k| tags.iter().any(|t| t == k));
        if !tagged {
            push(
                "labels",
                format!(
                    "`{path}` does not tag every resource with service, team, environment and cost centre"
                ),
                "",
                "keep `default_tags` with the `deployment.tags` map in the provider block".into(),
            );
        }
    }

    if let Some(policies) = policies {
        let input = json!({
            "service": svc.context["service"],
            "team": svc.context["team"],
            "deployments": svc.deployments.iter().map(|d| d.context["deployment"].clone()).collect::<Vec<_>>(),
            "objects": objs,
            "org": org_ctx,
        });
        match policies.evaluate(&input) {
            Ok(results) => {
                for (path, sev, msg) in results {
                    diags.push(
                        Diagnostic::new(sev, if sev == Severity::Error { "policy/deny" } else { "policy/warn" }, format!("{}: {msg}", svc.name))
                            .in_file(&file.name)
                            .at(at(""))
                            .note(format!("from policy {path}"))
                            .help("change platform.yaml to satisfy the policy, or talk to the platform team that owns it"),
                    );
                }
            }
            Err(e) => diags.push(
                Diagnostic::error(
                    "policy/eval",
                    format!("policies could not be evaluated for `{}`: {e}", svc.name),
                )
                .in_file(&file.name)
                .help("check the policy files"),
            ),
        }
    }
    diags
}

/// The tag keys of a Terraform root module's `provider "aws" { default_tags { tags = ... } }`,
/// when the file has a provider block (empty when it has no `default_tags`).
fn provider_default_tags(hcl: &str) -> Option<Vec<String>> {
    use hcl_edit::expr::Expression;
    let body = hcl_edit::parser::parse_body(hcl).ok()?;
    let provider = body
        .iter()
        .filter_map(|s| s.as_block())
        .find(|b| b.ident.as_str() == "provider")?;
    let mut keys = Vec::new();
    for dt in provider
        .body
        .iter()
        .filter_map(|s| s.as_block())
        .filter(|b| b.ident.as_str() == "default_tags")
    {
        for attr in dt.body.iter().filter_map(|s| s.as_attribute()) {
            if attr.key.as_str() != "tags" {
                continue;
            }
            match &attr.value {
                Expression::Object(o) => {
                    for (k, _) in o.iter() {
                        let k = match k {
                            hcl_edit::expr::ObjectKey::Ident(i) => i.as_str().to_string(),
                            hcl_edit::expr::ObjectKey::Expression(e) => e.to_string(),
                        };
                        keys.push(k.trim().trim_matches('"').to_string());
                    }
                }
                // `tags = var.tags` or a function call: only Terraform can tell; trust the
                // rendered values' own check.
                other => keys.extend(
                    ["service", "team", "environment", "cost_center"]
                        .iter()
                        .filter(|k| other.to_string().contains(*k))
                        .map(|k| k.to_string()),
                ),
            }
        }
    }
    Some(keys)
}

fn guardrail_code(name: &str) -> &'static str {
    match name {
        "registry" => "guardrail/registry",
        "latest_tag" => "guardrail/latest-tag",
        "production_replicas" => "guardrail/production-replicas",
        "production_contacts" => "guardrail/production-contacts",
        "sizes" => "guardrail/sizes",
        "labels" => "guardrail/labels",
        "image_digest" => "guardrail/image-digest",
        _ => "guardrail/budget",
    }
}
