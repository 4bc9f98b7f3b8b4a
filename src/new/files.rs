//! The files `pctl new` writes, rendered from embedded minijinja templates (`templates/`) with
//! every value escaped by the file's format, as blueprints are: YAML values plain where that
//! reads back as the same string under YAML 1.1 and 1.2, else JSON-quoted; Markdown values as
//! text (`| code` for code spans); `| comment` for text inside a YAML comment.

use super::{Answers, DEFAULT_PORT, DEFAULT_SCHEDULE, Kind};
use minijinja::{AutoEscape, Environment, Error, Output, State, Value};
use pctl_core::expand::escape;
use pctl_core::model::Org;
use serde_json::json;
use std::sync::OnceLock;

const TEMPLATES: [(&str, &str); 3] = [
    (
        "platform.yaml.j2",
        include_str!("templates/platform.yaml.j2"),
    ),
    ("platform.yml.j2", include_str!("templates/platform.yml.j2")),
    ("readme.md.j2", include_str!("templates/readme.md.j2")),
];

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        let mut syntax = minijinja::syntax::SyntaxConfig::builder();
        syntax.keep_trailing_newline(true);
        env.set_syntax(syntax.build().expect("default syntax is valid"));
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        env.set_auto_escape_callback(escape::mode_for);
        env.set_formatter(formatter);
        env.add_filter("code", escape::code_filter);
        env.add_filter("comment", comment_filter);
        env.add_filter("action_ref", action_ref_filter);
        for (name, text) in TEMPLATES {
            env.add_template(name, text)
                .expect("pctl new's templates compile (tested)");
        }
        env
    })
}

fn render(template: &str, ctx: serde_json::Value) -> String {
    env()
        .get_template(template)
        .and_then(|t| t.render(Value::from(minijinja::value::Serde(ctx))))
        .expect("pctl new's templates render every context it builds (tested)")
}

/// Blueprints' formatter, except that a YAML string is written plain when that is safe: a
/// platform.yaml people edit reads `name: payment-api`, not `name: "payment-api"`.
fn formatter(out: &mut Output, state: &mut State, value: &Value) -> Result<(), Error> {
    if let (AutoEscape::Custom(mode), Some(s)) = (state.auto_escape(), value.as_str()) {
        if mode == escape::YAML && !value.is_safe() {
            return out.write_str(&yaml_str(s)).map_err(Error::from);
        }
    }
    escape::formatter(out, state, value)
}

/// `{{ text | comment }}`: text inside a YAML `#` comment, on one line.
fn comment_filter(value: Value) -> Value {
    let text: String = value
        .to_string()
        .chars()
        .map(|c| {
            if c.is_control() || matches!(c, '\u{85}' | '\u{2028}' | '\u{2029}') {
                ' '
            } else {
                c
            }
        })
        .collect();
    Value::from_safe_string(text)
}

/// `{{ uses | action_ref }}`: an action reference (`owner/name@v1`) plain, as people write
/// it, when it holds only the characters GitHub allows there; else quoted like any value.
fn action_ref_filter(value: Value) -> Value {
    let s = value.to_string();
    let ok = s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/' | '@'));
    Value::from_safe_string(if ok { s } else { escape::yaml_string(&s) })
}

/// A YAML scalar for a value that may contain anything: plain when that reads back as the same
/// string under YAML 1.1 and 1.2, else double-quoted (JSON escaping is valid YAML).
pub fn yaml_str(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "y" | "n" | "yes" | "no" | "on" | "off" | "true" | "false" | "null" | "nan" | "inf"
        );
    if plain {
        s.to_string()
    } else {
        escape::yaml_string(s)
    }
}

/// The GitHub owner the pctl action lives under: the deploy repository's owner on a
/// `host/owner/repo` URL, else the organisation's name.
pub fn action_owner(org: &Org) -> String {
    let url = &org.spec.deploy_repository.url;
    let path = url.split_once("://").map_or(url.as_str(), |(_, rest)| rest);
    let owner = path.split('/').nth(1).unwrap_or("");
    if github_name(owner) && path.split('/').count() >= 3 {
        owner.to_string()
    } else if github_name(&org.metadata.name) {
        org.metadata.name.clone()
    } else {
        "your-org".to_string()
    }
}

/// A GitHub owner or repository name: letters, digits, `-`, `_`, `.`.
pub fn github_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
}

/// The deploy branch (default `main`).
pub fn deploy_branch(org: &Org) -> String {
    org.spec
        .deploy_repository
        .branch
        .clone()
        .unwrap_or_else(|| "main".into())
}

/// The environment whose URL `new` shows: `dev` if there is one, else the first unprotected one.
pub fn dev_env(org: &Org) -> Option<&pctl_core::model::Environment> {
    let envs = &org.spec.environments;
    let previews = org.spec.previews.as_ref().map(|p| p.environment.as_str());
    envs.iter()
        .filter(|e| Some(e.name.as_str()) != previews)
        .find(|e| e.name == "dev")
        .or_else(|| envs.iter().find(|e| !e.protected))
        .or_else(|| envs.first())
}

pub fn first_size<'a>(org: &'a Org, rtype: &str) -> Option<&'a str> {
    org.spec
        .sizes
        .get(rtype)
        .and_then(|m| m.keys().next())
        .map(String::as_str)
}

pub fn gitops_name(org: &Org) -> &'static str {
    if org.gitops() == "flux" {
        "Flux"
    } else {
        "Argo CD"
    }
}

fn environments(ans: &Answers, org: &Org) -> Vec<serde_json::Value> {
    // The preview environment is `pctl preview`'s, not a service's.
    let previews = org.spec.previews.as_ref().map(|p| p.environment.as_str());
    org.spec
        .environments
        .iter()
        .filter(|e| Some(e.name.as_str()) != previews)
        .map(|e| {
            json!({
                "name": e.name,
                "protected": e.protected,
                "cluster": e.cluster,
                "url": format!("https://{}.{}/", ans.name, e.domain),
            })
        })
        .collect()
}

/// The service's image: the organisation's first registry, else GitHub's.
fn image_of(ans: &Answers, org: &Org) -> String {
    match org.spec.registries.first() {
        Some(r) => format!("{}/{}", r.trim_end_matches('/'), ans.name),
        None => format!(
            "ghcr.io/{}/{}",
            action_owner(org).to_ascii_lowercase(),
            ans.name
        ),
    }
}

/// The third-party actions of the workflow, pinned by commit (a tag can be moved; a commit
/// cannot): (key, `owner/name`, commit, release the commit is).
const ACTIONS: &[(&str, &str, &str, &str)] = &[
    (
        "checkout",
        "actions/checkout",
        "3d3c42e5aac5ba805825da76410c181273ba90b1",
        "v7.0.1",
    ),
    (
        "buildx",
        "docker/setup-buildx-action",
        "37fe631027851001ddb9b187196cc803df7f5f0e",
        "v4.3.0",
    ),
    (
        "login",
        "docker/login-action",
        "4907a6ddec9925e35a0a9e82d7399ccc52663121",
        "v4.1.0",
    ),
    (
        "build_push",
        "docker/build-push-action",
        "53b7df96c91f9c12dcc8a07bcb9ccacbed38856a",
        "v7.3.0",
    ),
    (
        "sbom",
        "anchore/sbom-action",
        "e22c389904149dbc22b58101806040fa8d37a610",
        "v0.24.0",
    ),
    (
        "trivy",
        "aquasecurity/trivy-action",
        "ed142fd0673e97e23eac54620cfb913e5ce36c25",
        "v0.36.0",
    ),
    (
        "grype",
        "anchore/scan-action",
        "e1165082ffb1fe366ebaf02d8526e7c4989ea9d2",
        "v7.4.0",
    ),
    (
        "attest_provenance",
        "actions/attest-build-provenance",
        "a2bbfa25375fe432b6a289bc6b6cd05ecd0c4c32",
        "v4.1.0",
    ),
    (
        "attest_sbom",
        "actions/attest-sbom",
        "c604332985a26aa8cf1bdc465b92731239ec6b9e",
        "v4.1.0",
    ),
    (
        "cosign",
        "sigstore/cosign-installer",
        "6f9f17788090df1f26f669e9d70d6ae9567deba6",
        "v4.1.2",
    ),
];

/// platform.yaml for the answers: every environment of the organisation, sensible defaults.
/// `repository`: the application repository, when its git remote says so.
pub fn platform_yaml(ans: &Answers, org: &Org, repository: Option<&str>) -> String {
    let owner = action_owner(org);
    let image = image_of(ans, org);
    let resources: Vec<serde_json::Value> = ans
        .resources
        .iter()
        .map(|(name, rtype)| json!({"name": name, "type": rtype, "size": first_size(org, rtype)}))
        .collect();
    render(
        "platform.yaml.j2",
        json!({
            "schema_url": format!("https://raw.githubusercontent.com/{owner}/pctl/main/schemas/platform.schema.json"),
            "name": ans.name,
            "kind": ans.kind.as_str(),
            "owner": ans.owner,
            "repository": repository,
            "image": image,
            "port": DEFAULT_PORT,
            "schedule": ans.schedule.as_deref().unwrap_or(DEFAULT_SCHEDULE),
            "resources": resources,
            "environments": environments(ans, org),
        }),
    )
}

/// Where the workflow finds the organisation config.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WorkflowOrg {
    /// The action's `org-config` input: a path in the checkout.
    pub config: Option<String>,
    /// A GitHub repository (`owner/name`) the workflow checks out for it (the platform
    /// repository), into [`ORG_CHECKOUT`].
    pub checkout: Option<String>,
}

/// Where the workflow checks out the platform repository.
pub const ORG_CHECKOUT: &str = ".pctl-platform";

/// A value for a workflow `with:` input: never a GitHub expression.
fn input_value(s: &str) -> Option<&str> {
    (!s.contains("${{")).then_some(s)
}

/// `.github/workflows/platform.yml`: validate and diff on pull requests, publish on a push to
/// the default branch, all through the pctl action. The recommended workflow:
/// `examples/workflows/app-repo.yml` is this file for the example organisation (tests/new.rs).
pub fn workflow_yaml(ans: &Answers, org: &Org, org_ref: &WorkflowOrg) -> String {
    // Committed to the application repository: the URL goes without credentials (the action
    // takes the token from a secret).
    let deploy_url = crate::redact::url(&org.spec.deploy_repository.url);
    let image = image_of(ans, org);
    let registry = image.split('/').next().unwrap_or_default().to_string();
    let build = org.spec.build.clone().unwrap_or_default();
    let scanner = build.scanner.as_deref().unwrap_or("trivy");
    let fail_on = build.fail_on.as_deref().unwrap_or("critical");
    let provenance = build.provenance.as_deref().unwrap_or("cosign");
    let pins: serde_json::Map<String, serde_json::Value> = ACTIONS
        .iter()
        .map(|(key, name, sha, version)| {
            (key.to_string(), json!(format!("{name}@{sha} # {version}")))
        })
        .collect();
    render(
        "platform.yml.j2",
        json!({
            "image": image,
            "registry": registry,
            "ghcr": registry == "ghcr.io",
            "scanner": scanner,
            "scanner_name": if scanner == "grype" { "Grype" } else { "Trivy" },
            "fail_on": fail_on,
            "trivy_severity": match fail_on {
                "medium" => "CRITICAL,HIGH,MEDIUM",
                "high" => "CRITICAL,HIGH",
                _ => "CRITICAL",
            },
            "provenance": provenance,
            "provenance_name": if provenance == "github" { "GitHub artifact attestations" } else { "cosign, keyless" },
            "pins": pins,
            "name": ans.name,
            "action": format!("{}/pctl@v1", action_owner(org)),
            "major": env!("CARGO_PKG_VERSION_MAJOR").parse::<u64>().unwrap_or(0).max(1),
            "deploy_repository": input_value(&deploy_url),
            "org_config": org_ref.config.as_deref().and_then(input_value),
            "org_checkout": org_ref.checkout.as_deref().filter(|r| {
                r.split_once('/').is_some_and(|(o, n)| github_name(o) && github_name(n))
            }),
            "org_checkout_path": ORG_CHECKOUT,
            "concurrency_group": format!("pctl-publish-{}", ans.name),
        }),
    )
}

/// Heading of the README section (also how `new` recognises a section it wrote before).
pub fn readme_heading(name: &str) -> String {
    format!("## How {} is deployed", escape::markdown_text(name))
}

/// The README section "How NAME is deployed"; with `title`, a whole README starting with it.
pub fn readme_section(ans: &Answers, org: &Org, title: Option<&str>) -> String {
    render(
        "readme.md.j2",
        json!({
            "title": title,
            "name": ans.name,
            "kind": ans.kind.as_str(),
            "owner": ans.owner,
            "deploy_url": crate::redact::url(&org.spec.deploy_repository.url),
            "branch": deploy_branch(org),
            "gitops": gitops_name(org),
            "resources": !ans.resources.is_empty(),
            "environments": environments(ans, org),
            "service": ans.kind == Kind::Service,
        }),
    )
}
