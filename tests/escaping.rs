//! User input that looks like YAML, Jinja, GitHub expressions or HCL must come back unchanged
//! and must never change a rendered document's structure.

use std::process::Command;

#[test]
fn tricky_values_survive_rendering_unchanged() {
    let root = env!("CARGO_MANIFEST_DIR");
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_pctl"))
        .current_dir(root)
        .args([
            "render",
            "fixtures/tricky-values",
            "--source-sha",
            "1234567890123456789012345678901234567890",
            "--out",
        ])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let intent: serde_yaml::Value = serde_yaml::from_str(
        &std::fs::read_to_string(format!("{root}/fixtures/tricky-values/platform.yaml")).unwrap(),
    )
    .unwrap();
    let configmap: serde_yaml::Value = serde_yaml::from_str(
        &std::fs::read_to_string(tmp.path().join("apps/dev/tricky/configmap.yaml")).unwrap(),
    )
    .unwrap();
    let data = configmap["data"]
        .as_mapping()
        .expect("ConfigMap data is a mapping");
    let env = intent["spec"]["env"].as_mapping().unwrap();
    let mut checked = 0;
    for (k, v) in env {
        let want = match v {
            serde_yaml::Value::String(s) => s.clone(),
            serde_yaml::Value::Number(n) => n.to_string(),
            serde_yaml::Value::Bool(b) => b.to_string(),
            other => panic!("unexpected {other:?}"),
        };
        let got = data
            .get(k)
            .and_then(|v| v.as_str())
            .unwrap_or_else(|| panic!("{k:?} missing or not a string: {data:?}"));
        assert_eq!(got, want, "{k:?}");
        checked += 1;
    }
    assert!(checked >= 10);
    assert_eq!(
        data.get("LATE").and_then(|v| v.as_str()),
        Some("override: yes")
    );
    // Exactly the declared keys (plus the OpenTelemetry settings pctl adds): nothing was
    // split into extra keys by a stray `: `.
    let declared = data
        .keys()
        .filter(|k| !k.as_str().is_some_and(|k| k.starts_with("OTEL_")))
        .count();
    assert_eq!(declared, env.len() + 1);

    // The description (with `{{ }}`, `${}`, `: ` and `#`) is not templated by anyone downstream.
    let tree = walkdir::WalkDir::new(tmp.path())
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file());
    for f in tree {
        let text = std::fs::read_to_string(f.path()).unwrap();
        assert!(
            !text.contains("\nnext: line"),
            "{}: a newline in a value broke out of its string",
            f.path().display()
        );
    }
}
