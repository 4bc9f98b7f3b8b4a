//! The service catalog: `catalog/<service>/catalog-info.yaml` and the root `catalog-info.yaml`
//! (Backstage entities, checked here against Backstage's entity rules, as the deploy-tree
//! oracle also does with Backstage's own code), `catalog/index.json` and `catalog/systems.yaml`
//! (only from runs over the whole organisation, owned by the catalog's own record), and
//! `pctl catalog <service>`.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const SHA: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c";
const TAG: &str = "1.4.2";

fn pctl() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_pctl"));
    c.current_dir(ROOT).env("NO_COLOR", "1");
    c
}

fn render(args: &[&str], out: &Path) {
    let o = pctl()
        .arg("render")
        .args(args)
        .args(["--source-sha", SHA, "--image-tag", TAG, "--out"])
        .arg(out)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "render {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn files_below(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut v: Vec<(String, PathBuf)> = walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let rel = e
                .path()
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            (rel, e.path().to_path_buf())
        })
        .collect();
    v.sort();
    v
}

// ---------------------------------------------------------------------------------------------
// Backstage's entity rules (backstage/packages/catalog-model: EntityPolicies, the JSON schemas of
// Entity, EntityMeta, Component, API, Resource, System, and the entity reference format)

/// `^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$`, at most 63 characters.
fn is_entity_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b"-_.".contains(c))
}

/// Tags: `^[a-z0-9:+#]+(\-[a-z0-9:+#]+)*$`, at most 63 characters.
fn is_tag(s: &str) -> bool {
    s.len() <= 63
        && s.split('-').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b":+#".contains(&c))
        })
}

/// Annotation and label keys: an optional DNS-subdomain prefix and `/`, then a name
/// (`[a-zA-Z0-9]([-_.a-zA-Z0-9]*[a-zA-Z0-9])?`, at most 63).
fn is_annotation_key(k: &str) -> bool {
    let (prefix, name) = match k.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, k),
    };
    let prefix_ok = prefix.is_none_or(|p| {
        p.len() <= 253
            && p.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && l.bytes()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
                    && !l.starts_with('-')
                    && !l.ends_with('-')
            })
    });
    prefix_ok && is_entity_name(name)
}

/// `kind:[namespace/]name`, with a kind, as pctl always writes them. Returns (kind, name).
fn parse_ref(r: &str) -> Option<(String, String)> {
    let (kind, rest) = r.split_once(':')?;
    if kind.is_empty() || !kind.bytes().all(|c| c.is_ascii_alphabetic()) {
        return None;
    }
    let name = match rest.split_once('/') {
        Some((ns, n)) if is_entity_name(ns) => n,
        Some(_) => return None,
        None => rest,
    };
    is_entity_name(name).then(|| (kind.to_ascii_lowercase(), name.to_string()))
}

fn string_at<'a>(v: &'a Value, pointer: &str, problems: &mut Vec<String>, at: &str) -> &'a str {
    match v.pointer(pointer) {
        Some(Value::String(s)) if !s.is_empty() => s,
        other => {
            problems.push(format!(
                "{at}: `{pointer}` must be a non-empty string, is {other:?}"
            ));
            ""
        }
    }
}

/// Checks one entity; returns the references it makes, as (field, kind, name).
fn check_entity(e: &Value, at: &str, problems: &mut Vec<String>) -> Vec<(String, String, String)> {
    let mut refs = Vec::new();
    let Some(obj) = e.as_object() else {
        problems.push(format!("{at}: an entity is a mapping"));
        return refs;
    };
    for k in obj.keys() {
        if !["apiVersion", "kind", "metadata", "spec"].contains(&k.as_str()) {
            problems.push(format!("{at}: unexpected top-level key `{k}`"));
        }
    }
    if e["apiVersion"] != "backstage.io/v1alpha1" {
        problems.push(format!("{at}: apiVersion {}", e["apiVersion"]));
    }
    let kind = string_at(e, "/kind", problems, at).to_string();
    let name = string_at(e, "/metadata/name", problems, at);
    if !is_entity_name(name) {
        problems.push(format!(
            "{at}: metadata.name `{name}` breaks Backstage's name rule"
        ));
    }
    let meta = &e["metadata"];
    if let Some(d) = meta.get("description") {
        if !d.is_string() {
            problems.push(format!("{at}: metadata.description must be a string"));
        }
    }
    for t in meta["tags"].as_array().into_iter().flatten() {
        if !t.as_str().is_some_and(is_tag) {
            problems.push(format!("{at}: tag {t} breaks Backstage's tag rule"));
        }
    }
    for field in ["annotations", "labels"] {
        for (k, v) in meta[field].as_object().into_iter().flatten() {
            if !is_annotation_key(k) {
                problems.push(format!("{at}: {field} key `{k}` is not a valid key"));
            }
            if !v.is_string() {
                problems.push(format!("{at}: {field} `{k}` must be a string"));
            }
        }
    }
    if let Some(loc) = meta["annotations"]["backstage.io/source-location"].as_str() {
        if !(loc.starts_with("url:https://") && loc.ends_with('/')) {
            problems.push(format!("{at}: source-location `{loc}`"));
        }
    }
    for l in meta["links"].as_array().into_iter().flatten() {
        let url = l["url"].as_str().unwrap_or_default();
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            problems.push(format!("{at}: link without an absolute url: {l}"));
        }
        for k in l.as_object().into_iter().flatten().map(|(k, _)| k) {
            if !["url", "title", "icon", "type"].contains(&k.as_str()) {
                problems.push(format!("{at}: link key `{k}`"));
            }
        }
    }
    let required: &[&str] = match kind.as_str() {
        "Component" => &["type", "lifecycle", "owner"],
        "API" => &["type", "lifecycle", "owner", "definition"],
        "Resource" => &["type", "owner"],
        "System" => &["owner"],
        "Group" => &["type"],
        "Location" => &[],
        other => {
            problems.push(format!("{at}: kind `{other}` is not one pctl emits"));
            &[]
        }
    };
    for f in required {
        string_at(e, &format!("/spec/{f}"), problems, at);
    }
    if kind == "Group" && !e["spec"]["children"].is_array() {
        problems.push(format!("{at}: a Group needs spec.children"));
    }
    if kind == "Location" && !e["spec"]["targets"].is_array() {
        problems.push(format!("{at}: the Location has no targets"));
    }
    if let Some(l) = e["spec"]["lifecycle"].as_str() {
        if !["experimental", "production", "deprecated"].contains(&l) {
            problems.push(format!("{at}: lifecycle `{l}`"));
        }
    }
    let mut add_ref = |field: &str, r: &Value, want_kind: Option<&str>| match r
        .as_str()
        .and_then(parse_ref)
    {
        Some((k, n)) if want_kind.is_none_or(|w| w == k) => refs.push((field.to_string(), k, n)),
        _ => problems.push(format!(
            "{at}: spec.{field} {r} is not a well-formed `{}:[namespace/]name` reference",
            want_kind.unwrap_or("kind")
        )),
    };
    let spec = &e["spec"];
    if let Some(o) = spec.get("owner") {
        add_ref("owner", o, None);
    }
    if let Some(s) = spec.get("system") {
        add_ref("system", s, Some("system"));
    }
    for (field, want) in [
        ("dependsOn", None),
        ("dependencyOf", None),
        ("providesApis", Some("api")),
        ("consumesApis", Some("api")),
    ] {
        if let Some(list) = spec.get(field) {
            let empty = Vec::new();
            let items = list.as_array().unwrap_or(&empty);
            if !list.is_array() {
                add_ref(field, &Value::Null, Some("list of"));
            }
            items.iter().for_each(|r| add_ref(field, r, want));
        }
    }
    if kind == "API" {
        let def: Value = serde_yaml::from_str(spec["definition"].as_str().unwrap_or_default())
            .unwrap_or(Value::Null);
        if def["openapi"] != "3.0.3"
            || !def["info"]["title"].is_string()
            || !def["info"]["version"].is_string()
            || !def["paths"]
                .as_object()
                .is_some_and(|p| !p.is_empty() && p.keys().all(|k| k.starts_with('/')))
        {
            problems.push(format!(
                "{at}: the API definition is not a minimal OpenAPI 3 document: {def}"
            ));
        }
    }
    refs
}

/// Every entity below `catalog/` and in the root `catalog-info.yaml`: ((kind, name) ->
/// entity), after checking each; panics with every problem found.
fn check_catalog(tree: &Path) -> BTreeMap<(String, String), Value> {
    let mut entities: BTreeMap<(String, String), Value> = BTreeMap::new();
    let mut refs = Vec::new();
    let mut problems = Vec::new();
    let mut files = files_below(&tree.join("catalog"));
    files.push(("catalog-info.yaml".into(), tree.join("catalog-info.yaml")));
    for (rel, path) in files {
        if !rel.ends_with(".yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let file = pctl_core::source::SourceFile::new(&rel, text.clone());
        let docs = pctl_core::load::parse_all(
            &file,
            pctl_core::load::Options {
                strict_scalars: true,
                ..Default::default()
            },
        )
        .unwrap_or_else(|d| panic!("{rel}: {d:?}"));
        // libyaml agrees
        let other: Vec<Value> = serde_yaml::Deserializer::from_str(&text)
            .map(|d| <Value as serde::Deserialize>::deserialize(d).unwrap())
            .collect();
        assert_eq!(other.len(), docs.len(), "{rel}");
        for (i, d) in docs.iter().enumerate() {
            let at = format!("{rel}#{}", i + 1);
            for (field, k, n) in check_entity(&d.value, &at, &mut problems) {
                refs.push((at.clone(), field, k, n));
            }
            let key = (
                d.value["kind"]
                    .as_str()
                    .unwrap_or_default()
                    .to_ascii_lowercase(),
                d.value["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            );
            if entities.insert(key.clone(), d.value.clone()).is_some() {
                problems.push(format!("{at}: {key:?} is defined twice"));
            }
        }
    }
    for (at, field, kind, name) in refs {
        if kind == "user" {
            continue; // people come from the organisation's identity provider
        }
        if !entities.contains_key(&(kind.clone(), name.clone())) {
            problems.push(format!(
                "{at}: spec.{field} refers to `{kind}:{name}`, which no catalog file defines"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    entities
}

#[test]
fn organisation_run_renders_valid_backstage_entities() {
    for fixture in [
        "fixtures/acme",
        "fixtures/acme-flux",
        "fixtures/acme-flagger",
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        render(&["--all", fixture], &out);
        let entities = check_catalog(&out);
        let index: Value =
            serde_json::from_slice(&std::fs::read(out.join("catalog/index.json")).unwrap())
                .unwrap();
        for svc in index["services"].as_array().unwrap() {
            let name = svc["name"].as_str().unwrap();
            assert!(
                entities.contains_key(&("component".into(), name.into())),
                "{fixture}: {name} has no Component"
            );
            assert!(
                out.join(format!("catalog/{name}/catalog-info.yaml"))
                    .is_file()
            );
        }
    }
    // one repository's run: its own file is complete except for what lives elsewhere
    let tmp = tempfile::tempdir().unwrap();
    render(&["fixtures/tricky-values"], tmp.path());
    let text =
        std::fs::read_to_string(tmp.path().join("catalog/tricky/catalog-info.yaml")).unwrap();
    let file = pctl_core::source::SourceFile::new("t", text);
    let docs = pctl_core::load::parse_all(&file, Default::default()).unwrap();
    let mut problems = Vec::new();
    for d in &docs {
        check_entity(&d.value, "tricky", &mut problems);
    }
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(
        docs[0].value["metadata"]["description"],
        "a: b # not a comment {{ not.a.template }} ${not.hcl}"
    );
}

#[test]
fn payment_api_entities_say_what_the_intent_says() {
    let tmp = tempfile::tempdir().unwrap();
    render(&["--all", "fixtures/acme"], tmp.path());
    let e = check_catalog(tmp.path());
    let c = &e[&("component".to_string(), "payment-api".to_string())];
    assert_eq!(c["spec"]["type"], "service");
    assert_eq!(c["spec"]["lifecycle"], "production");
    assert_eq!(c["spec"]["owner"], "group:team-payments");
    assert_eq!(c["spec"]["system"], "system:checkout");
    assert_eq!(
        c["spec"]["dependsOn"],
        serde_json::json!([
            "component:auth-service",
            "resource:payment-api-db",
            "resource:payment-api-cache",
            "resource:payment-api-events"
        ])
    );
    assert_eq!(
        c["spec"]["providesApis"],
        serde_json::json!(["api:payment-api"])
    );
    let a = &c["metadata"]["annotations"];
    assert_eq!(
        a["backstage.io/source-location"],
        "url:https://github.com/acme/payment-api/"
    );
    assert_eq!(
        a["pctl.dev/oncall"],
        "https://example.pagerduty.com/service-directory/PAY1"
    );
    // what Backstage's plugins read
    assert_eq!(a["pagerduty.com/service-id"], "PAY1");
    assert_eq!(
        a["backstage.io/kubernetes-label-selector"],
        "app.kubernetes.io/name=payment-api"
    );
    assert_eq!(a["backstage.io/kubernetes-namespace"], "payment-api");
    assert!(
        a["grafana/dashboard-selector"]
            .as_str()
            .unwrap()
            .contains("title == 'payment-api (prod)'")
    );
    let links: Vec<&str> = c["metadata"]["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["title"].as_str().unwrap())
        .collect();
    assert_eq!(
        links,
        [
            "On-call",
            "Runbook",
            "Repository",
            "Dashboard (dev)",
            "Dashboard (staging)",
            "Dashboard (prod)"
        ]
    );
    let db = &e[&("resource".to_string(), "payment-api-db".to_string())];
    assert_eq!(db["spec"]["type"], "database");
    assert_eq!(
        db["spec"]["dependencyOf"],
        serde_json::json!(["component:payment-api"])
    );
    assert_eq!(
        e[&("resource".to_string(), "payment-api-cache".to_string())]["spec"]["type"],
        "cache"
    );
    let w = &e[&("component".to_string(), "ledger-worker".to_string())];
    assert_eq!(w["spec"]["type"], "worker");
    assert!(
        w["spec"].get("providesApis").is_none(),
        "no endpoints, no API"
    );
    assert!(!e.contains_key(&("api".to_string(), "ledger-worker".to_string())));
    // one System per system, owned by the team that declares it; a Group per team
    let ledger = &e[&("system".to_string(), "ledger".to_string())];
    assert_eq!(ledger["spec"]["owner"], "group:team-ledger");
    let systems: Vec<&String> = e
        .keys()
        .filter(|(k, _)| k == "system")
        .map(|(_, n)| n)
        .collect();
    assert_eq!(systems, ["checkout", "identity", "ledger"]);
    let payments = &e[&("group".to_string(), "team-payments".to_string())];
    assert_eq!(payments["spec"]["type"], "team");
    let pa = &payments["metadata"]["annotations"];
    assert_eq!(pa["pctl.dev/contact"], "#payments");
    assert_eq!(pa["pctl.dev/cost-center"], "CC-1001");
    assert_eq!(pa["pctl.dev/group"], "acme:payments");
    assert_eq!(
        payments["metadata"]["links"][0]["url"],
        "https://acme.pagerduty.com/schedules/PAYTEAM"
    );
    let groups = e.keys().filter(|(k, _)| k == "group").count();
    assert_eq!(groups, 5, "every team of the organisation, approvers too");
    assert!(!tmp.path().join("catalog/systems.yaml").exists());
}

#[test]
fn systems_no_team_declares_come_from_the_organisation_run() {
    let tmp = tempfile::tempdir().unwrap();
    let text =
        std::fs::read_to_string(Path::new(ROOT).join("fixtures/acme/pctl-org.yaml")).unwrap();
    let org: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("systems:"))
        .map(|l| format!("{l}\n"))
        .collect();
    let org_file = tmp.path().join("pctl-org.yaml");
    std::fs::write(&org_file, org).unwrap();
    let out = tmp.path().join("out");
    render(
        &[
            "--all",
            "fixtures/acme",
            "--org",
            org_file.to_str().unwrap(),
        ],
        &out,
    );
    let e = check_catalog(&out);
    let checkout = &e[&("system".to_string(), "checkout".to_string())];
    assert_eq!(checkout["spec"]["owner"], "group:team-payments");
    assert_eq!(
        checkout["metadata"]["annotations"]["pctl.dev/services"],
        "payment-api"
    );
    let root = std::fs::read_to_string(out.join("catalog-info.yaml")).unwrap();
    assert!(!root.contains("kind: \"System\""), "{root}");
    // each service naming an undeclared system is told so
    let o = pctl()
        .args([
            "validate",
            "--all",
            "fixtures/acme",
            "--org",
            org_file.to_str().unwrap(),
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let warned = v["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["code"] == "semantic/undeclared-system")
        .count();
    assert_eq!(warned, 4, "{v:#}");
}

#[test]
fn index_lists_every_service_with_owner_contacts_graph_and_cost() {
    let tmp = tempfile::tempdir().unwrap();
    render(&["--all", "fixtures/acme"], tmp.path());
    let read = |p: &str| -> Value {
        serde_json::from_slice(&std::fs::read(tmp.path().join(p)).unwrap()).unwrap()
    };
    let index = read("catalog/index.json");
    assert_eq!(index["organisation"], "acme");
    let services = index["services"].as_array().unwrap();
    let names: Vec<&str> = services
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "auth-service",
            "ledger-worker",
            "nightly-report",
            "payment-api"
        ]
    );
    let by: BTreeMap<&str, &Value> = names.iter().copied().zip(services).collect();
    let p = by["payment-api"];
    assert_eq!(p["owner"], "team-payments");
    assert_eq!(p["contacts"]["team_contact"], "#payments");
    assert_eq!(
        p["contacts"]["runbook"],
        "https://wiki.example.com/payment-api"
    );
    assert_eq!(p["dependencies"], serde_json::json!(["auth-service"]));
    assert_eq!(p["dependents"], serde_json::json!(["ledger-worker"]));
    assert_eq!(
        by["auth-service"]["dependents"],
        serde_json::json!(["payment-api"])
    );
    assert_eq!(by["nightly-report"]["dependents"], serde_json::json!([]));
    assert_eq!(p["endpoints"][0]["sla"], 99.9);
    assert_eq!(
        p["endpoints"][0]["urls"]["prod"],
        "https://payment-api.acme.example/payments"
    );
    let res: Vec<&str> = p["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(res, ["db", "cache", "events"]);
    assert_eq!(p["resources"][0]["environments"]["prod"]["size"], "large");
    // the same cost as each service's record, and the total is their sum
    let mut sum = 0.0;
    for n in &names {
        let record = read(&format!(".pctl/services/{n}.json"));
        assert_eq!(by[n]["usd_month"], record["usd_month"], "{n}");
        sum += record["usd_month"].as_f64().unwrap();
    }
    assert!((index["usd_month"].as_f64().unwrap() - sum).abs() < 0.005);
    // the organisation-wide record owns index.json, CODEOWNERS and the teams' Argo CD
    // projects, nothing else (systems.yaml only when a system is not declared)
    let record = read(".pctl/catalog.json");
    assert_eq!(record["owner"], "organisation/catalog");
    let owned: BTreeSet<&str> = record["files"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut want = BTreeSet::from([".github/CODEOWNERS", "catalog/index.json"]);
    let projects: Vec<String> = ["dev", "staging", "prod"]
        .iter()
        .flat_map(|env| {
            ["team-ledger", "team-payments", "team-platform"]
                .iter()
                .map(move |t| format!("clusters/{env}/projects/{t}.yaml"))
        })
        .collect();
    want.extend(projects.iter().map(String::as_str));
    assert_eq!(owned, want);
    let org = read(".pctl/organisation.json");
    assert!(
        org["files"]
            .as_object()
            .unwrap()
            .keys()
            .all(|k| !k.starts_with("catalog/"))
    );
}

#[test]
fn single_service_runs_never_render_or_delete_the_organisation_catalog() {
    let tmp = tempfile::tempdir().unwrap();
    let one = tmp.path().join("one");
    render(
        &[
            "fixtures/acme/payment-api",
            "--org",
            "fixtures/acme/pctl-org.yaml",
        ],
        &one,
    );
    assert!(one.join("catalog/payment-api/catalog-info.yaml").is_file());
    assert!(!one.join("catalog/index.json").exists());
    assert!(!one.join("catalog/systems.yaml").exists());
    assert!(!one.join(".pctl/catalog.json").exists());
    assert!(!one.join("clusters/prod/projects").exists());
    // the organisation's own entities are there: its owner and system resolve
    let root = std::fs::read_to_string(one.join("catalog-info.yaml")).unwrap();
    let root: Vec<Value> = serde_yaml::Deserializer::from_str(&root)
        .map(|d| <Value as serde::Deserialize>::deserialize(d).unwrap())
        .collect();
    for (kind, name) in [("Group", "team-payments"), ("System", "checkout")] {
        assert!(
            root.iter()
                .any(|e| e["kind"] == kind && e["metadata"]["name"] == name),
            "{kind} {name} is not in the root catalog-info.yaml"
        );
    }

    // publish: the whole organisation, then one service alone, then the whole organisation
    let bare = tmp.path().join("deploy.git");
    assert!(
        Command::new("git")
            .args(["init", "-q", "--bare", "-b", "main"])
            .arg(&bare)
            .status()
            .unwrap()
            .success()
    );
    let publish = |args: &[&str], tag: &str| -> Value {
        let o = pctl()
            .arg("publish")
            .args(args)
            .args([
                "--source-sha",
                SHA,
                "--image-tag",
                tag,
                "--format",
                "json",
                "--deploy-repo",
            ])
            .arg(&bare)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "publish {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let ls = || -> BTreeSet<String> {
        let o = Command::new("git")
            .arg("-C")
            .arg(&bare)
            .args(["ls-tree", "-r", "--name-only", "main"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    };
    publish(&["--all", "fixtures/acme"], TAG);
    let files = ls();
    for f in [
        "catalog/index.json",
        "clusters/prod/projects/team-payments.yaml",
        ".pctl/catalog.json",
    ] {
        assert!(files.contains(f), "{f}: {files:?}");
    }
    let single = publish(
        &[
            "fixtures/acme/payment-api",
            "--org",
            "fixtures/acme/pctl-org.yaml",
        ],
        "1.5.0",
    );
    let touched: Vec<&str> = single["summary"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["path"].as_str())
        .filter(|p| p.starts_with("catalog/") || *p == ".pctl/catalog.json")
        .collect();
    assert_eq!(
        touched,
        ["catalog/payment-api/catalog-info.yaml"],
        "{single}"
    );
    assert_eq!(ls(), files, "a single service's publish deletes nothing");
    // the organisation run again: the catalog record is read, its files are pctl's
    let again = publish(&["--all", "fixtures/acme"], "1.5.0");
    assert_eq!(again["summary"]["deleted"], 0, "{again}");
    assert!(
        again["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["severity"] != "error"),
        "{again}"
    );
}

#[test]
fn pctl_catalog_answers_the_seed_questions() {
    let o = pctl()
        .args(["catalog", "payment-api", "--all", "fixtures/acme"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    for want in [
        "payment-api (Service, production): Card payment API",
        "  owner        team-payments (cost centre CC-1001)",
        "  contact      #payments",
        "  on-call      https://example.pagerduty.com/service-directory/PAY1",
        "  depends on   auth-service",
        "  used by      ledger-worker",
        "  endpoints    /payments public, SLA 99.9% (https://payment-api.dev.acme.example/payments,",
        "  cost         $1,035.00/month (dev $177.00, staging $184.00, prod $674.00)",
        "db (postgres: dev medium, staging medium, prod large)",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
    // JSON: the same record as index.json's
    let o = pctl()
        .args([
            "catalog",
            "payment-api",
            "--all",
            "fixtures/acme",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert!(o.status.success());
    let json: Value = serde_json::from_slice(&o.stdout).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    render(&["--all", "fixtures/acme"], tmp.path());
    let index: Value =
        serde_json::from_slice(&std::fs::read(tmp.path().join("catalog/index.json")).unwrap())
            .unwrap();
    let from_index = index["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "payment-api")
        .unwrap();
    assert_eq!(&json["summary"], from_index);
    // without --all, dependents are unknown, and said to be
    let o = pctl()
        .args([
            "catalog",
            "payment-api",
            "fixtures/acme/payment-api",
            "--org",
            "fixtures/acme/pctl-org.yaml",
        ])
        .output()
        .unwrap();
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout).contains("used by      unknown: run with --all"));
    // an unknown name: usage error with a suggestion
    let o = pctl()
        .args(["catalog", "paymant-api", "--all", "fixtures/acme"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("did you mean `payment-api`?"));
}

#[test]
fn several_documents_only_under_catalog() {
    let sources = pctl_core::source::SourceMap::default();
    let two = "a: 1\n---\nb: 2\n";
    let check = |path: &str, text: &str| -> Vec<&'static str> {
        pctl_core::expand::check::check(path, text, false, &sources)
            .iter()
            .map(|d| d.code)
            .collect()
    };
    assert_eq!(
        check("catalog/x/catalog-info.yaml", two),
        Vec::<&str>::new()
    );
    assert_eq!(check("docs/x.yaml", two), ["render/invalid-yaml"]);
    assert_eq!(check("apps/dev/x/a.yaml", two), ["render/invalid-yaml"]);
    // the refusals still apply in every document
    assert_eq!(
        check("catalog/x/catalog-info.yaml", "a: 1\n---\nb: &x 1\nc: *x\n"),
        ["render/invalid-yaml", "render/invalid-yaml"]
    );
    assert_eq!(
        check("catalog/x/catalog-info.yaml", "a: 1\n---\nb: on\n"),
        ["render/invalid-yaml"]
    );
}

/// The index is made from the same resolution as the services' files (and, on a re-render,
/// from the render cache): it still shows only the repository platform.yaml declares, never
/// one taken from a checkout's `origin`, and it is the same bytes rendered, re-rendered from
/// the cache and rendered without it.
#[test]
fn the_index_is_the_same_from_the_cache_and_shows_declared_repositories_only() {
    let tmp = tempfile::tempdir().unwrap();
    let org = tmp.path().join("acme");
    for e in walkdir::WalkDir::new(Path::new(ROOT).join("fixtures/acme")) {
        let e = e.unwrap();
        let rel = e
            .path()
            .strip_prefix(Path::new(ROOT).join("fixtures/acme"))
            .unwrap();
        if e.file_type().is_dir() {
            std::fs::create_dir_all(org.join(rel)).unwrap();
        } else {
            std::fs::copy(e.path(), org.join(rel)).unwrap();
        }
    }
    // payment-api declares no repository; its checkout's origin names one.
    let intent = org.join("payment-api/platform.yaml");
    let text = std::fs::read_to_string(&intent).unwrap();
    std::fs::write(
        &intent,
        text.replace("  repository: https://github.com/acme/payment-api\n", ""),
    )
    .unwrap();
    let git = |args: &[&str]| {
        let o = Command::new("git")
            .args(args)
            .current_dir(org.join("payment-api"))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    git(&["init", "-q"]);
    git(&[
        "remote",
        "add",
        "origin",
        "https://github.com/acme/payment-api-from-origin",
    ]);
    let out = tmp.path().join("out");
    let index = |extra: &[&str]| {
        let mut args = vec!["--all", org.to_str().unwrap()];
        args.extend_from_slice(extra);
        render(&args, &out);
        std::fs::read_to_string(out.join("catalog/index.json")).unwrap()
    };
    let first = index(&[]);
    let v: Value = serde_json::from_str(&first).unwrap();
    let repo = |name: &str| {
        v["services"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap()["repository"]
            .clone()
    };
    assert_eq!(repo("payment-api"), Value::Null, "{first}");
    assert_eq!(repo("auth-service"), "https://github.com/acme/auth-service");
    // The services' own files do use the origin.
    let files = files_below(&out);
    assert!(
        files
            .iter()
            .any(|(p, f)| p.starts_with("terraform/dev/payment-api/")
                && std::fs::read_to_string(f)
                    .unwrap()
                    .contains("payment-api-from-origin")),
        "no payment-api file names its origin"
    );
    let cache = std::fs::read_to_string(out.join(".pctl/render-cache")).unwrap();
    assert!(cache.contains("\"catalog\""), "{cache}");
    assert_eq!(index(&[]), first, "re-rendered from the cache");
    assert_eq!(index(&["--no-cache"]), first, "rendered without it");
}
