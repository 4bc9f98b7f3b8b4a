//! Guardrails (deny / warn / off from the organisation config) and Rego policies.

use std::path::{Path, PathBuf};
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

struct Org {
    tmp: tempfile::TempDir,
}

impl Org {
    /// fixtures/acme's organisation config plus `extra` appended under `spec:`.
    fn new(extra: &str) -> Org {
        let tmp = tempfile::tempdir().unwrap();
        let base =
            std::fs::read_to_string(Path::new(ROOT).join("fixtures/acme/pctl-org.yaml")).unwrap();
        std::fs::write(tmp.path().join("pctl-org.yaml"), format!("{base}{extra}")).unwrap();
        Org { tmp }
    }
    /// A copy of a fixture service, with `edit` applied to its platform.yaml.
    fn app(&self, service: &str, edit: impl Fn(String) -> String) -> PathBuf {
        let dir = self.tmp.path().join(service);
        std::fs::create_dir_all(&dir).unwrap();
        let text = std::fs::read_to_string(
            Path::new(ROOT).join(format!("fixtures/acme/{service}/platform.yaml")),
        )
        .unwrap();
        std::fs::write(dir.join("platform.yaml"), edit(text)).unwrap();
        dir
    }
    fn validate(&self, app: &Path, extra: &[&str]) -> (i32, Vec<serde_json::Value>) {
        let out = Command::new(env!("CARGO_BIN_EXE_pctl"))
            .current_dir(ROOT)
            .arg("validate")
            .arg(app)
            .arg("--org")
            .arg(self.tmp.path().join("pctl-org.yaml"))
            .args(extra)
            .args(["--format", "json"])
            .output()
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        (
            out.status.code().unwrap(),
            json["diagnostics"].as_array().unwrap().clone(),
        )
    }
}

fn codes(d: &[serde_json::Value]) -> Vec<(String, String)> {
    d.iter()
        .map(|d| {
            (
                d["code"].as_str().unwrap().to_string(),
                d["severity"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn has(d: &[serde_json::Value], code: &str, severity: &str) -> bool {
    codes(d).contains(&(code.to_string(), severity.to_string()))
}

#[test]
fn production_replicas_and_contacts() {
    let org = Org::new("");
    let app = org.app("auth-service", |t| {
        t.replace(
            "    prod:\n      replicas: 3",
            "    prod:\n      replicas: 1",
        )
    });
    let (code, d) = org.validate(&app, &[]);
    assert_eq!(code, 1, "{d:?}");
    let r = d
        .iter()
        .find(|d| d["code"] == "guardrail/production-replicas")
        .expect("reported");
    assert_eq!(r["path"], "spec.environments.prod");
    assert!(r["span"]["line"].as_u64().unwrap() > 30);

    // The organisation can relax it, and tighten contacts.
    let org = Org::new("  guardrails: {production_replicas: warn, production_contacts: deny}\n");
    let app = org.app("auth-service", |t| {
        t.replace(
            "    prod:\n      replicas: 3",
            "    prod:\n      replicas: 1",
        )
        .replace("  runbook: https://wiki.example.com/auth-service\n", "")
    });
    let (code, d) = org.validate(&app, &[]);
    assert!(
        has(&d, "guardrail/production-replicas", "warning"),
        "{:?}",
        codes(&d)
    );
    assert!(
        has(&d, "guardrail/production-contacts", "error"),
        "{:?}",
        codes(&d)
    );
    assert_eq!(code, 1);
}

#[test]
fn registry_guardrail_levels() {
    let bad = |t: String| {
        t.replace(
            "image: ghcr.io/acme/auth-service",
            "image: docker.io/acme/auth-service",
        )
    };
    let (code, d) = Org::new("").validate(&Org::new("").app("auth-service", bad), &[]);
    assert_eq!(code, 1);
    assert!(has(&d, "semantic/registry", "error"), "{:?}", codes(&d));
    let org = Org::new("  guardrails: {registry: warn}\n");
    let (code, d) = org.validate(&org.app("auth-service", bad), &[]);
    assert_eq!(code, 0, "{:?}", codes(&d));
    assert!(has(&d, "semantic/registry", "warning"));
    let org = Org::new("  guardrails: {registry: \"off\"}\n");
    let (_, d) = org.validate(&org.app("auth-service", bad), &[]);
    assert!(!codes(&d).iter().any(|(c, _)| c == "semantic/registry"));
}

#[test]
fn sizes_allowed_per_environment_and_team_budget() {
    let org =
        Org::new("  allowed_sizes: {dev: {postgres: [small]}}\n  guardrails: {budget: deny}\n");
    let app = org.app("payment-api", |t| t);
    let (code, d) = org.validate(&app, &[]);
    assert_eq!(code, 1);
    let s = d
        .iter()
        .find(|d| d["code"] == "guardrail/sizes")
        .expect("size reported");
    assert_eq!(
        s["message"],
        "size `medium` of postgres `db` is not allowed in `dev`"
    );
    assert_eq!(s["path"], "spec.resources.db.size");
    assert!(
        !has(&d, "guardrail/budget", "error"),
        "1035/month is within 5000"
    );
    // A budget the service exceeds.
    let org = Org::new("  guardrails: {budget: deny}\n");
    let text = std::fs::read_to_string(org.tmp.path().join("pctl-org.yaml"))
        .unwrap()
        .replace("budget_usd_month: 5000", "budget_usd_month: 1000");
    std::fs::write(org.tmp.path().join("pctl-org.yaml"), text).unwrap();
    let (_, d) = org.validate(&org.app("payment-api", |t| t), &[]);
    let b = d
        .iter()
        .find(|d| d["code"] == "guardrail/budget")
        .expect("budget reported");
    assert_eq!(
        b["message"],
        "team `team-payments` would spend $1,035.00 a month, over its budget of $1,000.00"
    );
}

#[test]
fn labels_guardrail_checks_what_blueprints_render() {
    let org = Org::new("");
    let bp = org.tmp.path().join("bp/_common");
    std::fs::create_dir_all(&bp).unwrap();
    // An organisation override that forgets the labels on the ServiceAccount.
    std::fs::write(bp.join("serviceaccount.yaml.j2"), "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: {{ service.name }}\n  namespace: {{ deployment.namespace }}\n").unwrap();
    let app = org.app("auth-service", |t| t);
    let (code, d) = org.validate(
        &app,
        &["--blueprints", org.tmp.path().join("bp").to_str().unwrap()],
    );
    assert_eq!(code, 1);
    let l = d
        .iter()
        .find(|d| d["code"] == "guardrail/labels")
        .expect("labels reported");
    assert!(
        l["message"].as_str().unwrap().contains(
            "serviceaccount.yaml` lacks the labels app.kubernetes.io/name, pctl.dev/team"
        ),
        "{l}"
    );
}

#[test]
fn rego_policies_deny_and_warn() {
    let org = Org::new("");
    let app = org.app("payment-api", |t| {
        t.replace(
            "{path: /payments, public: true, sla: 99.9}",
            "{path: /payments, public: true}",
        )
        .replace("  slo: {availability: 99.9, latency_p99: 200ms}\n", "")
    });
    let (code, d) = org.validate(&app, &["--policies", "examples/policies"]);
    assert_eq!(code, 1);
    let deny = d.iter().find(|d| d["code"] == "policy/deny").expect("deny");
    assert_eq!(
        deny["message"],
        "payment-api: public endpoint /payments has no `sla`"
    );
    assert!(
        deny["notes"][0]
            .as_str()
            .unwrap()
            .contains("examples/policies/endpoints.rego")
    );
    assert!(has(&d, "policy/warn", "warning"), "{:?}", codes(&d));
    // The shipped fixtures satisfy the shipped policies.
    let (code, d) = org.validate(
        &org.app("payment-api", |t| t),
        &["--policies", "examples/policies"],
    );
    assert_eq!(code, 0, "{:?}", codes(&d));

    // Policies can also come from the organisation config, relative to it.
    let org = Org::new("  policies: [policies]\n");
    std::fs::create_dir_all(org.tmp.path().join("policies")).unwrap();
    std::fs::write(
        org.tmp.path().join("policies/broken.rego"),
        "package x\n\ndeny contains msg if {\n  msg := \n}\n",
    )
    .unwrap();
    let (code, d) = org.validate(&org.app("auth-service", |t| t), &[]);
    assert_eq!(code, 1);
    let syntax = d
        .iter()
        .find(|d| d["code"] == "policy/syntax")
        .expect("syntax error reported");
    assert!(
        syntax["file"]
            .as_str()
            .unwrap()
            .ends_with("policies/broken.rego"),
        "{syntax}"
    );
}

#[test]
fn a_denied_service_is_not_rendered_but_the_others_are() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let o = Command::new(env!("CARGO_BIN_EXE_pctl"))
        .current_dir(ROOT)
        .args([
            "render",
            "--all",
            "fixtures/acme",
            "--source-sha",
            &"a".repeat(40),
            "--image-tag",
            "latest",
            "--format",
            "json",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    // Every service is denied (`latest`): nothing but the organisation's entry points renders.
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        json["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["code"] == "guardrail/latest-tag")
    );
    assert!(!out.join("apps").exists());
}

/// `render` (and so `diff` and `publish`) evaluates Rego policies, not only `validate`: a
/// service a policy denies is not rendered, the others are.
#[test]
fn render_enforces_rego_policies_per_service() {
    let org = Org::new("");
    org.app("payment-api", |t| {
        t.replace(
            "{path: /payments, public: true, sla: 99.9}",
            "{path: /payments, public: true}",
        )
    });
    org.app("auth-service", |t| t);
    let out = org.tmp.path().join("out");
    let o = Command::new(env!("CARGO_BIN_EXE_pctl"))
        .current_dir(ROOT)
        .arg("render")
        .arg("--all")
        .arg(org.tmp.path())
        .args(["--policies", "examples/policies", "--source-sha"])
        .arg("a".repeat(40))
        .args(["--format", "json", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let d = json["diagnostics"].as_array().unwrap();
    assert!(
        d.iter().any(|d| d["code"] == "policy/deny"
            && d["message"] == "payment-api: public endpoint /payments has no `sla`"),
        "{:?}",
        codes(d)
    );
    assert!(!out.join("apps/prod/payment-api").exists());
    assert!(out.join("apps/prod/auth-service/deployment.yaml").is_file());
}

/// `--image-digest`: every manifest references `image:tag@digest`; the `image_digest`
/// guardrail (fixtures/delivery sets it to deny) refuses a protected environment by tag only.
#[test]
fn image_digest_pins_manifests_and_its_guardrail_guards_protected_environments() {
    let digest = format!("sha256:{}", "ab".repeat(32));
    let render = |extra: &[&str]| {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        let o = Command::new(env!("CARGO_BIN_EXE_pctl"))
            .current_dir(ROOT)
            .args(["render", "--all", "fixtures/delivery", "--source-sha"])
            .arg("c".repeat(40))
            .args(["--image-tag", "2.0.1", "--format", "json"])
            .args(extra)
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap();
        (tmp, out, o)
    };
    let (_t, out, o) = render(&[]);
    assert_eq!(o.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let d = json["diagnostics"].as_array().unwrap();
    let g = d
        .iter()
        .find(|d| d["code"] == "guardrail/image-digest")
        .expect("the digest guardrail fires");
    assert_eq!(g["severity"], "error");
    assert!(
        g["message"]
            .as_str()
            .unwrap()
            .contains("`prod` is protected")
    );
    assert!(!out.join("apps/prod").exists());

    let (_t, out, o) = render(&["--image-digest", &digest]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    for env in ["dev", "staging", "prod"] {
        let rollout =
            std::fs::read_to_string(out.join(format!("apps/{env}/checkout-web/rollout.yaml")))
                .unwrap();
        assert!(
            rollout.contains(&format!("ghcr.io/acme/checkout-web:2.0.1@{digest}")),
            "{env}: {rollout}"
        );
    }

    // `pctl diff` deploys nothing (a pull request's image is built, not pushed): without a
    // digest the guardrail warns and prod's diff is still shown.
    let tmp = tempfile::tempdir().unwrap();
    let deploy = tmp.path().join("deploy.git");
    let init = Command::new("git")
        .args(["init", "-q", "--bare", "-b", "main"])
        .arg(&deploy)
        .status()
        .unwrap();
    assert!(init.success());
    let o = Command::new(env!("CARGO_BIN_EXE_pctl"))
        .current_dir(ROOT)
        .args(["diff", "--all", "fixtures/delivery", "--source-sha"])
        .arg("c".repeat(40))
        .args(["--format", "json", "--deploy-repo"])
        .arg(&deploy)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let w = json["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["code"] == "guardrail/image-digest")
        .expect("the digest guardrail warns");
    assert_eq!(w["severity"], "warning");
    let text = json.to_string();
    assert!(
        text.contains("guardrail/image-digest")
            && text.contains("apps/prod/checkout-web/rollout.yaml"),
        "{text}"
    );

    // Anything but sha256 and 64 hex digits is refused before anything runs.
    for bad in ["sha256:abc", "md5:0123", &"a".repeat(64)] {
        let (_t, out, o) = render(&["--image-digest", bad]);
        assert_eq!(o.status.code(), Some(2), "{bad}");
        assert!(String::from_utf8_lossy(&o.stderr).contains("image digest"));
        assert!(!out.exists());
    }
}
