//! The malformed-input corpus: every folder in fixtures/invalid/ is run through the real
//! `pctl validate --format json`; its diagnostics, one line each as
//! `file:line:column: severity[code] message`, must equal the case's `expected.txt`.
//! `PCTL_BLESS=1 cargo test --test suite corpus::` rewrites the expected files (review the diff!).

use std::path::{Path, PathBuf};
use std::process::Command;

fn pctl() -> Command {
    Command::new(env!("CARGO_BIN_EXE_pctl"))
}

fn short_lines(case: &Path, json: &serde_json::Value) -> String {
    let prefix = format!("{}/", case.display());
    let mut out = String::new();
    for d in json["diagnostics"].as_array().expect("diagnostics array") {
        let file = d["file"].as_str().unwrap_or("-").replace(&prefix, "");
        let (line, col) = (
            d["span"]["line"].as_u64().unwrap_or(0),
            d["span"]["column"].as_u64().unwrap_or(0),
        );
        out.push_str(&format!(
            "{file}:{line}:{col}: {}[{}] {}\n",
            d["severity"].as_str().unwrap_or(""),
            d["code"].as_str().unwrap_or(""),
            d["message"].as_str().unwrap_or("")
        ));
    }
    out
}

fn cases() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/invalid");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("fixtures/invalid exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    cases
}

/// Runs validate on one case folder; returns (exit code, parsed JSON).
fn validate(case: &Path) -> (i32, serde_json::Value) {
    let rel = case
        .strip_prefix(env!("CARGO_MANIFEST_DIR"))
        .unwrap_or(case);
    let out = pctl()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["validate", "--format", "json"])
        .arg(rel)
        .output()
        .expect("run pctl");
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{}: stdout is not JSON ({e}):\n{}\n{}",
            case.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), json)
}

#[test]
fn malformed_inputs_produce_the_documented_diagnostics() {
    let bless = std::env::var_os("PCTL_BLESS").is_some();
    let cases = cases();
    assert!(
        cases.len() >= 30,
        "the corpus must hold at least 30 cases, found {}",
        cases.len()
    );
    let mut failures = Vec::new();
    for case in &cases {
        let rel = case
            .strip_prefix(env!("CARGO_MANIFEST_DIR"))
            .unwrap()
            .to_path_buf();
        let (code, json) = validate(case);
        let actual = short_lines(&rel, &json);
        let expected_file = case.join("expected.txt");
        if code != 1 {
            failures.push(format!(
                "{}: exit code {code}, expected 1 (invalid input)",
                rel.display()
            ));
        }
        if actual.is_empty() {
            failures.push(format!("{}: no diagnostics at all", rel.display()));
        }
        for d in json["diagnostics"].as_array().unwrap() {
            if d["help"].is_null() {
                failures.push(format!(
                    "{}: diagnostic without a fix: {}",
                    rel.display(),
                    d["message"]
                ));
            }
        }
        if bless {
            std::fs::write(&expected_file, &actual).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&expected_file).unwrap_or_default();
        if expected != actual {
            let diff = similar::TextDiff::from_lines(&expected, &actual);
            failures.push(format!(
                "{}:\n{}",
                rel.display(),
                diff.unified_diff().header("expected.txt", "actual")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn inputs_too_large_are_refused_without_reading_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("apiVersion: pctl.dev/v1\nkind: Service\n# padding\n");
    while text.len() <= 1024 * 1024 {
        text.push_str("# ..............................................................\n");
    }
    std::fs::write(dir.path().join("platform.yaml"), text).unwrap();
    let (code, json) = validate(dir.path());
    assert_eq!(code, 1);
    assert_eq!(json["diagnostics"][0]["code"], "file/too-large", "{json}");
}

#[test]
fn deep_nesting_is_refused_not_overflowed() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "apiVersion: pctl.dev/v1\nspec: {}{}\n",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    std::fs::write(dir.path().join("platform.yaml"), text).unwrap();
    let (code, json) = validate(dir.path());
    assert_eq!(code, 1);
    assert_eq!(json["diagnostics"][0]["code"], "yaml/too-deep", "{json}");
}

#[test]
fn human_output_shows_the_line_and_a_caret() {
    let case = cases()
        .into_iter()
        .find(|c| c.ends_with("unknown-field"))
        .expect("unknown-field case");
    let out = pctl()
        .env("NO_COLOR", "1")
        .arg("validate")
        .arg(&case)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("error[schema/unknown-field]"), "{stderr}");
    assert!(stderr.contains("platform.yaml:"), "{stderr}");
    assert!(stderr.contains('^'), "{stderr}");
    assert!(stderr.contains("help: did you mean"), "{stderr}");
    assert!(
        !stderr.contains('\u{1b}'),
        "NO_COLOR must disable colour: {stderr}"
    );
}

#[test]
fn github_annotations_carry_file_line_and_column() {
    let case = cases()
        .into_iter()
        .find(|c| c.ends_with("unknown-field"))
        .expect("unknown-field case");
    let out = pctl()
        .env("GITHUB_ACTIONS", "true")
        .arg("validate")
        .arg(&case)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find(|l| l.starts_with("::error "))
        .unwrap_or_else(|| panic!("no annotation: {stdout}"));
    assert!(
        line.contains("file=fixtures/invalid/") || line.contains("platform.yaml"),
        "{line}"
    );
    assert!(line.contains(",line=") && line.contains(",col="), "{line}");
    assert_eq!(out.status.code(), Some(1));
}
