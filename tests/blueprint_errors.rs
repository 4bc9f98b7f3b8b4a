//! Blueprint mistakes are reported like input mistakes: the template file and line, and the
//! platform.yaml field that fed the failing expression. Nothing is written.

use std::path::Path;
use std::process::Command;

fn render_with(blueprints: &Path, out: &Path) -> (i32, serde_json::Value) {
    let o = Command::new(env!("CARGO_BIN_EXE_pctl"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "render",
            "fixtures/acme/payment-api",
            "--org",
            "fixtures/acme/pctl-org.yaml",
            "--source-sha",
            &"a".repeat(40),
            "--format",
            "json",
            "--blueprints",
        ])
        .arg(blueprints)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    let json = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&o.stderr)));
    (o.status.code().unwrap(), json)
}

fn blueprint(dir: &Path, manifest: &str, template: &str) {
    std::fs::create_dir_all(dir.join("web-service")).unwrap();
    std::fs::write(dir.join("web-service/blueprint.yaml"), manifest).unwrap();
    std::fs::write(dir.join("web-service/deployment.yaml.j2"), template).unwrap();
}

const MANIFEST: &str = "workload: Service\noutputs:\n  - template: deployment.yaml.j2\n    path: \"apps/{{ env.name }}/{{ service.name }}/deployment.yaml\"\n";

#[test]
fn template_errors_name_the_template_line_and_the_feeding_field() {
    let tmp = tempfile::tempdir().unwrap();
    let bp = tmp.path().join("bp");
    blueprint(
        &bp,
        MANIFEST,
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ service.name }}\nspec:\n  replicas: {{ service.port.number }}\n",
    );
    let out = tmp.path().join("out");
    let (code, json) = render_with(&bp, &out);
    assert_eq!(code, 1, "{json}");
    let d = &json["diagnostics"][0];
    assert_eq!(d["code"], "blueprint/template", "{json}");
    assert!(
        d["file"]
            .as_str()
            .unwrap()
            .ends_with("web-service/deployment.yaml.j2"),
        "{d}"
    );
    assert_eq!(d["span"]["line"], 6, "{d}");
    let label = &d["labels"][0];
    assert!(
        label["file"]
            .as_str()
            .unwrap()
            .ends_with("payment-api/platform.yaml"),
        "{d}"
    );
    assert_eq!(label["span"]["line"], 16, "spec.port is on line 16: {d}");
    assert!(
        label["message"]
            .as_str()
            .unwrap()
            .ends_with("`spec.port` feeds this value"),
        "{d}"
    );
    assert!(!out.exists(), "nothing may be written when rendering fails");
}

#[test]
fn a_template_that_breaks_yaml_is_caught_before_writing() {
    let tmp = tempfile::tempdir().unwrap();
    let bp = tmp.path().join("bp");
    // `{{ x }}-suffix` glues text to a quoted scalar: invalid YAML.
    blueprint(
        &bp,
        MANIFEST,
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ service.name }}-web\n",
    );
    let out = tmp.path().join("out");
    let (code, json) = render_with(&bp, &out);
    assert_eq!(code, 1, "{json}");
    let d = &json["diagnostics"][0];
    assert_eq!(d["code"], "render/invalid-yaml", "{json}");
    assert!(
        d["file"]
            .as_str()
            .unwrap()
            .contains("deployment.yaml (rendered)"),
        "{d}"
    );
    assert!(!out.exists());
}

#[test]
fn manifest_mistakes_point_into_blueprint_yaml() {
    let tmp = tempfile::tempdir().unwrap();
    let bp = tmp.path().join("bp");
    blueprint(
        &bp,
        "workload: Service\noutputs:\n  - template: missing.yaml.j2\n    path: x.yaml\n",
        "",
    );
    let (code, json) = render_with(&bp, &tmp.path().join("out"));
    assert_eq!(code, 1);
    let d = &json["diagnostics"][0];
    assert_eq!(d["code"], "blueprint/missing-template", "{json}");
    assert_eq!(d["span"]["line"], 3, "{d}");
}

#[test]
fn a_second_workload_blueprint_is_used_by_the_services_that_select_it() {
    // The built-in web-service stays the default for kind Service; `grpc-service` serves it
    // too, and a service picks it with `spec.blueprint` (this used to be `blueprint/conflict`).
    let tmp = tempfile::tempdir().unwrap();
    let bp = tmp.path().join("bp");
    std::fs::create_dir_all(bp.join("grpc-service")).unwrap();
    std::fs::write(
        bp.join("grpc-service/blueprint.yaml"),
        "description: a second blueprint for kind Service\nworkload: Service\noutputs:\n  - template: marker.yaml.j2\n    path: \"apps/{{ env.name }}/{{ service.name }}/marker.yaml\"\n",
    )
    .unwrap();
    std::fs::write(
        bp.join("grpc-service/marker.yaml.j2"),
        "{%- import \"_common/k8s.yaml.j2\" as k8s with context -%}\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  {{ k8s.metadata(service.name ~ \"-marker\") | indent(2) }}\ndata: {}\n",
    )
    .unwrap();
    let app = tmp.path().join("app");
    std::fs::create_dir_all(&app).unwrap();
    let intent = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/acme/payment-api/platform.yaml"),
    )
    .unwrap();
    let selecting = intent.replacen("spec:\n", "spec:\n  blueprint: grpc-service\n", 1);
    assert_ne!(selecting, intent);
    std::fs::write(app.join("platform.yaml"), selecting).unwrap();
    let out = tmp.path().join("out");
    let o = Command::new(env!("CARGO_BIN_EXE_pctl"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["render", "--org", "fixtures/acme/pctl-org.yaml"])
        .args(["--source-sha", &"a".repeat(40), "--format", "json"])
        .arg(&app)
        .arg("--blueprints")
        .arg(&bp)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&o.stderr)));
    assert_eq!(o.status.code(), Some(0), "{json}");
    assert!(out.join("apps/dev/payment-api/marker.yaml").is_file());
    assert!(
        !out.join("apps/dev/payment-api/service.yaml").exists(),
        "the selected blueprint replaces the default one"
    );
    // Another service without `spec.blueprint` keeps the default.
    let out2 = tmp.path().join("out2");
    let o = Command::new(env!("CARGO_BIN_EXE_pctl"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["render", "fixtures/acme/payment-api"])
        .args(["--org", "fixtures/acme/pctl-org.yaml"])
        .args(["--source-sha", &"a".repeat(40), "--blueprints"])
        .arg(&bp)
        .arg("--out")
        .arg(&out2)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out2.join("apps/dev/payment-api/service.yaml").is_file());
    assert!(!out2.join("apps/dev/payment-api/marker.yaml").exists());
}
