//! Progressive delivery and observability in the golden trees (which `tests/golden.rs` proves
//! are exactly what pctl renders): the Grafana dashboards are valid JSON with the panels and
//! uid the docs link to, Argo's and Prometheus' `{{ }}` survive templating, canaries point
//! the HPA / PDB at the right workload, every workload kind gets its own alerts, and the OTel
//! variables and docs pages are there.

use serde_json::Value;
use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn tree(case: &str) -> PathBuf {
    Path::new(ROOT)
        .join("golden-tests")
        .join(case)
        .join("expected")
}

fn read(case: &str, path: &str) -> String {
    let p = tree(case).join(path);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn yaml(case: &str, path: &str) -> Value {
    serde_yaml::from_str(&read(case, path)).unwrap_or_else(|e| panic!("{case}/{path}: {e}"))
}

/// Every `apps/<env>/<service>/dashboard.yaml` of every golden tree.
fn dashboards() -> Vec<(String, String, PathBuf)> {
    let mut found = Vec::new();
    for case in std::fs::read_dir(Path::new(ROOT).join("golden-tests")).unwrap() {
        let apps = case.unwrap().path().join("expected/apps");
        let Ok(envs) = std::fs::read_dir(&apps) else {
            continue;
        };
        for env in envs {
            let env = env.unwrap().path();
            for svc in std::fs::read_dir(&env).unwrap() {
                let svc = svc.unwrap().path();
                let file = svc.join("dashboard.yaml");
                if file.exists() {
                    let name = |p: &Path| p.file_name().unwrap().to_string_lossy().to_string();
                    found.push((name(&env), name(&svc), file));
                }
            }
        }
    }
    found.sort();
    found
}

#[test]
fn grafana_dashboards_are_valid_json_with_red_and_saturation_panels() {
    let all = dashboards();
    assert!(all.len() >= 20, "only {} dashboards found", all.len());
    for (env, svc, file) in all {
        let text = std::fs::read_to_string(&file).unwrap();
        let cm: Value = serde_yaml::from_str(&text).unwrap();
        let at = file.display();
        assert_eq!(cm["kind"], "ConfigMap", "{at}");
        assert_eq!(
            cm["metadata"]["labels"]["grafana_dashboard"], "1",
            "{at}: the Grafana sidecar label"
        );
        assert!(
            cm["metadata"]["annotations"]["grafana_folder"].is_string(),
            "{at}"
        );
        let data = cm["data"].as_object().expect("data");
        assert_eq!(data.len(), 1, "{at}: one dashboard per ConfigMap");
        let (key, json) = data.iter().next().unwrap();
        assert_eq!(key, &format!("{svc}.json"), "{at}");
        let dash: Value = serde_json::from_str(json.as_str().unwrap())
            .unwrap_or_else(|e| panic!("{at}: dashboard JSON is invalid: {e}"));
        let uid = dash["uid"].as_str().expect("uid");
        assert_eq!(uid, format!("pctl-{env}-{svc}"), "{at}");
        assert!(
            uid.len() <= 40,
            "{at}: Grafana uids have at most 40 characters"
        );
        assert_eq!(dash["title"], format!("{svc} ({env})"), "{at}");
        let panels = dash["panels"].as_array().expect("panels");
        let titles: Vec<&str> = panels.iter().filter_map(|p| p["title"].as_str()).collect();
        // Saturation for every kind.
        for want in ["CPU (cores", "CPU throttling", "Memory (limit"] {
            assert!(
                titles.iter().any(|t| t.starts_with(want)),
                "{at}: no `{want}` panel in {titles:?}"
            );
        }
        let mut ids = Vec::new();
        for p in panels {
            ids.push(p["id"].as_u64().expect("panel id"));
            assert!(p["gridPos"]["w"].as_u64().is_some(), "{at}: gridPos");
            let targets = p["targets"].as_array().expect("targets");
            assert!(!targets.is_empty(), "{at}: panel without queries");
            for t in targets {
                let expr = t["expr"].as_str().unwrap();
                assert!(
                    expr.contains(&format!("namespace=\"{svc}\"")),
                    "{at}: query not scoped to the service: {expr}"
                );
                assert_eq!(t["datasource"]["uid"], "${datasource}", "{at}");
            }
        }
        let n = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), n, "{at}: panel ids must be unique");
        // RED for HTTP services.
        if file.with_file_name("service.yaml").exists()
            || file.with_file_name("canary.yaml").exists()
        {
            for want in ["Request rate", "Error ratio (5xx)", "Request duration"] {
                assert!(titles.contains(&want), "{at}: no `{want}` panel");
            }
        }
    }
}

#[test]
fn dashboard_urls_in_docs_match_the_dashboards() {
    let doc = read("acme-argocd", "docs/payment-api.md");
    for env in ["dev", "staging", "prod"] {
        let url = format!("https://grafana.acme.example/d/pctl-{env}-payment-api");
        assert!(doc.contains(&url), "docs/payment-api.md lacks {url}");
    }
    // Without grafana_url the link is relative to the organisation's Grafana.
    let doc = read("acme-flux", "docs/checkout-web.md");
    assert!(doc.contains("(/d/pctl-prod-checkout-web)"), "{doc}");
}

#[test]
fn argo_rollouts_canary_replaces_the_deployment_and_keeps_argo_placeholders() {
    let dir = "apps/prod/payment-api";
    let base = tree("acme-argocd").join(dir);
    assert!(!base.join("deployment.yaml").exists());
    let rollout = yaml("acme-argocd", &format!("{dir}/rollout.yaml"));
    assert_eq!(rollout["apiVersion"], "argoproj.io/v1alpha1");
    let canary = &rollout["spec"]["strategy"]["canary"];
    assert_eq!(canary["stableService"], "payment-api-stable");
    assert_eq!(canary["canaryService"], "payment-api-canary");
    assert_eq!(
        canary["trafficRouting"]["nginx"]["stableIngress"],
        "payment-api"
    );
    assert_eq!(
        canary["analysis"]["templates"][0]["templateName"],
        "payment-api-rollback"
    );
    let steps = canary["steps"].as_array().unwrap();
    assert_eq!(steps[0]["setWeight"], 5);
    assert_eq!(steps[1]["analysis"]["args"][1]["value"], "10");
    assert_eq!(steps[3]["pause"]["duration"], "20m");
    // The HPA scales the Rollout; the ingress sends traffic to the stable Service.
    let hpa = yaml("acme-argocd", &format!("{dir}/hpa.yaml"));
    assert_eq!(hpa["spec"]["scaleTargetRef"]["kind"], "Rollout");
    let ingress = read("acme-argocd", &format!("{dir}/ingress.yaml"));
    assert!(ingress.contains("name: \"payment-api-stable\""));
    // Argo's placeholders come out literally, with the no-traffic guard.
    let gate = read(
        "acme-argocd",
        &format!("{dir}/analysistemplate-error-rate.yaml"),
    );
    assert!(gate.contains(r#"rollouts_pod_template_hash="{{args.canary-hash}}""#));
    assert!(gate.contains(r#"count: "{{args.count}}""#));
    assert!(gate.contains("len(result) == 0 || result[0] < {{args.error-rate-max}}"));
    assert!(gate.contains(") or vector(0)"));
    let rollback = yaml(
        "acme-argocd",
        &format!("{dir}/analysistemplate-rollback.yaml"),
    );
    assert_eq!(
        rollback["spec"]["metrics"][0]["failureCondition"],
        "len(result) > 0 && result[0] > 0.02"
    );
    // The ServiceMonitor copies the pod hash so the queries can select the canary.
    let sm = yaml("acme-argocd", &format!("{dir}/servicemonitor.yaml"));
    assert_eq!(
        sm["spec"]["podTargetLabels"][0],
        "rollouts-pod-template-hash"
    );
}

#[test]
fn flagger_canary_keeps_the_deployment_and_covers_primary_pods() {
    let dir = "apps/prod/storefront";
    let base = tree("acme-flagger").join(dir);
    assert!(base.join("deployment.yaml").exists());
    assert!(
        !base.join("service.yaml").exists(),
        "Flagger owns the Services"
    );
    let canary = yaml("acme-flagger", &format!("{dir}/canary.yaml"));
    assert_eq!(canary["apiVersion"], "flagger.app/v1beta1");
    assert_eq!(canary["spec"]["provider"], "nginx");
    assert_eq!(canary["spec"]["autoscalerRef"]["name"], "storefront");
    assert_eq!(canary["spec"]["analysis"]["interval"], "5m");
    assert_eq!(
        canary["spec"]["analysis"]["stepWeights"],
        serde_json::json!([10, 30, 30, 30])
    );
    let hpa = yaml("acme-flagger", &format!("{dir}/hpa.yaml"));
    assert_eq!(hpa["spec"]["scaleTargetRef"]["kind"], "Deployment");
    let pdb = yaml("acme-flagger", &format!("{dir}/pdb.yaml"));
    assert_eq!(
        pdb["spec"]["selector"]["matchExpressions"][0]["values"],
        serde_json::json!(["storefront", "storefront-primary"])
    );
    let mt = read(
        "acme-flagger",
        &format!("{dir}/metrictemplate-error-rate.yaml"),
    );
    assert!(mt.contains(r#"pod=~"{{ target }}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)""#));
    assert!(mt.contains("[{{ interval }}]"));
    assert!(mt.contains(") or vector(0)"));
    // Without a public nginx ingress: blue/green through the kubernetes provider.
    let internal = yaml("acme-flagger", "apps/prod/inventory-api/canary.yaml");
    assert_eq!(internal["spec"]["provider"], "kubernetes");
    assert_eq!(internal["spec"]["analysis"]["iterations"], 3);
}

#[test]
fn rolling_services_keep_a_deployment_with_surge_and_no_unavailable_pod() {
    let d = yaml("acme-argocd", "apps/prod/auth-service/deployment.yaml");
    let ru = &d["spec"]["strategy"]["rollingUpdate"];
    assert_eq!(ru["maxSurge"], "25%");
    assert_eq!(ru["maxUnavailable"], 0);
    assert!(
        !tree("acme-argocd")
            .join("apps/prod/auth-service/rollout.yaml")
            .exists()
    );
}

fn alerts(case: &str, path: &str) -> Vec<Value> {
    let rule = yaml(case, path);
    assert_eq!(rule["apiVersion"], "monitoring.coreos.com/v1");
    rule["spec"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap().clone())
        .collect()
}

fn names(rules: &[Value]) -> Vec<&str> {
    rules.iter().map(|r| r["alert"].as_str().unwrap()).collect()
}

#[test]
fn each_kind_gets_alerts_that_fit_it() {
    // Service with an availability SLO: multi-window, multi-burn-rate.
    let svc = alerts("acme-argocd", "apps/prod/payment-api/prometheusrule.yaml");
    let n = names(&svc);
    for want in [
        "ErrorBudgetBurnFast",
        "ErrorBudgetBurnHigh",
        "ErrorBudgetBurnSteady",
        "ErrorBudgetBurnSlow",
        "LatencyP99High",
        "ServiceDown",
    ] {
        assert!(n.contains(&want), "payment-api lacks {want}: {n:?}");
    }
    let fast = &svc[0]["expr"].as_str().unwrap();
    assert!(fast.contains("[1h]") && fast.contains("[5m]") && fast.contains("14.4 *"));
    for r in &svc {
        assert_eq!(r["labels"]["team"], "team-payments");
        assert!(r["labels"]["severity"].is_string());
        assert_eq!(
            r["annotations"]["runbook_url"],
            "https://wiki.example.com/payment-api"
        );
    }
    assert_eq!(svc[0]["labels"]["severity"], "critical", "prod pages");
    let dev = alerts("acme-argocd", "apps/dev/payment-api/prometheusrule.yaml");
    assert_eq!(dev[0]["labels"]["severity"], "warning", "dev never pages");
    // Worker: no HTTP rules.
    let worker = alerts("acme-argocd", "apps/prod/ledger-worker/prometheusrule.yaml");
    let n = names(&worker);
    assert!(n.contains(&"WorkerDown") && n.contains(&"WorkerRestartingOften"));
    assert!(
        !n.iter()
            .any(|a| a.starts_with("ErrorBudget") || a.contains("Latency"))
    );
    // CronJob: job failures and missed schedules from kube-state-metrics.
    let cron = alerts("acme-argocd", "apps/dev/nightly-report/prometheusrule.yaml");
    let n = names(&cron);
    assert!(n.contains(&"CronJobFailed") && n.contains(&"CronJobMissedSchedule"));
    assert!(
        cron[0]["expr"]
            .as_str()
            .unwrap()
            .contains("kube_job_failed")
    );
    // Prometheus' own template syntax survives.
    assert!(
        cron[0]["annotations"]["description"]
            .as_str()
            .unwrap()
            .contains("{{ $labels.job_name }}")
    );
}

#[test]
fn workloads_get_opentelemetry_settings() {
    let cm = yaml("acme-argocd", "apps/staging/payment-api/configmap.yaml");
    let data = &cm["data"];
    assert_eq!(data["OTEL_SERVICE_NAME"], "payment-api");
    assert_eq!(
        data["OTEL_RESOURCE_ATTRIBUTES"],
        "service.name=payment-api,service.namespace=checkout,service.version=1.4.2,deployment.environment=staging,team=team-payments"
    );
    assert_eq!(
        data["OTEL_EXPORTER_OTLP_ENDPOINT"],
        "http://opentelemetry-collector.observability.svc:4317"
    );
    // The organisation's collector; a value the intent sets itself wins.
    let cm = yaml("acme-flagger", "apps/dev/stock-sync/configmap.yaml");
    assert_eq!(cm["data"]["OTEL_SERVICE_NAME"], "stock-sync-worker");
    assert_eq!(
        cm["data"]["OTEL_EXPORTER_OTLP_ENDPOINT"],
        "http://otel-collector.telemetry.svc:4318"
    );
}

#[test]
fn every_service_has_a_docs_page() {
    for (case, svc) in [
        ("acme-argocd", "payment-api"),
        ("acme-argocd", "ledger-worker"),
        ("acme-argocd", "nightly-report"),
        ("acme-flagger", "storefront"),
    ] {
        let doc = read(case, &format!("docs/{svc}.md"));
        assert!(doc.starts_with("<!-- generated by pctl from "), "{doc}");
        for section in [
            "## Endpoints",
            "## Dependencies",
            "## Environments",
            "## Delivery",
            "## Observability",
        ] {
            assert!(doc.contains(section), "docs/{svc}.md lacks {section}");
        }
    }
    let flux = read("acme-flagger", "clusters/prod/gitrepository.yaml");
    assert!(flux.contains("/docs/"), "Flux must not apply docs/");
}
