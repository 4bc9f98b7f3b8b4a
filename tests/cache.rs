//! The render cache of an output folder: unchanged services are neither rendered nor written,
//! and every input that shapes a service's files (its platform.yaml, its source, the
//! organisation config, the blueprints) makes it render again.

use std::path::Path;
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const SHA: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c";

fn copy_dir(from: &Path, to: &Path) {
    for e in walkdir::WalkDir::new(from) {
        let e = e.unwrap();
        let dest = to.join(e.path().strip_prefix(from).unwrap());
        if e.file_type().is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
        } else {
            std::fs::copy(e.path(), &dest).unwrap();
        }
    }
}

struct Org {
    tmp: tempfile::TempDir,
    /// PCTL_RENDER_PART: compile and write in parts of this many services.
    part: &'static str,
}

impl Org {
    fn new() -> Org {
        let tmp = tempfile::tempdir().unwrap();
        copy_dir(
            &Path::new(ROOT).join("fixtures/acme"),
            &tmp.path().join("org"),
        );
        Org { tmp, part: "500" }
    }
    fn org(&self) -> std::path::PathBuf {
        self.tmp.path().join("org")
    }
    fn out(&self) -> std::path::PathBuf {
        self.tmp.path().join("out")
    }
    fn edit(&self, rel: &str, from: &str, to: &str) {
        let p = self.org().join(rel);
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.contains(from), "{rel} has no `{from}`");
        std::fs::write(&p, text.replacen(from, to, 1)).unwrap();
    }
    /// `render --all` into the output folder; the JSON summary.
    fn render(&self, extra: &[&str]) -> serde_json::Value {
        let sha: &[&str] = if extra.contains(&"--source-sha") {
            &[]
        } else {
            &["--source-sha", SHA]
        };
        let out = Command::new(env!("CARGO_BIN_EXE_pctl"))
            .current_dir(ROOT)
            .arg("render")
            .arg("--all")
            .arg(self.org())
            .args(sha)
            .env("PCTL_RENDER_PART", self.part)
            .args(["--format", "json"])
            .args(extra)
            .arg("--out")
            .arg(self.out())
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        json["summary"].clone()
    }
}

fn counts(s: &serde_json::Value) -> [u64; 4] {
    ["rendered", "added", "changed", "deleted"].map(|k| s[k].as_u64().unwrap())
}

#[test]
fn unchanged_services_come_from_the_cache_and_changed_inputs_render_again() {
    let o = Org::new();
    let first = o.render(&[]);
    let files = first["files"].as_u64().unwrap();
    assert_eq!(counts(&first), [4, files, 0, 0]);
    // Nothing changed: nothing rendered, nothing written, same file count.
    let again = o.render(&[]);
    assert_eq!(counts(&again), [0, 0, 0, 0]);
    assert_eq!(again["files"], files);
    assert_eq!(again["services"], first["services"]);
    assert_eq!(again["environments"], first["environments"]);

    // One service's platform.yaml: only it renders; its configmaps change.
    o.edit(
        "payment-api/platform.yaml",
        "LOG_LEVEL: info",
        "LOG_LEVEL: debug",
    );
    let one = o.render(&[]);
    assert_eq!(one["rendered"], 1);
    assert!(one["changed"].as_u64().unwrap() >= 1);
    assert_eq!(one["files"], files);
    assert_eq!(counts(&o.render(&[])), [0, 0, 0, 0]);

    // Another source commit: every service renders (the header of every file names it).
    let other_sha = o.render(&["--source-sha", &"1".repeat(40)]);
    assert_eq!(other_sha["rendered"], 4);
    assert!(other_sha["changed"].as_u64().unwrap() > files / 2);
    for s in [
        "auth-service",
        "ledger-worker",
        "nightly-report",
        "payment-api",
    ] {
        let record = o.out().join(format!(".pctl/services/{s}.json"));
        assert!(
            std::fs::read_to_string(record)
                .unwrap()
                .contains(&"1".repeat(40))
        );
    }

    // The organisation config: every service renders.
    let o = Org::new();
    o.render(&[]);
    let org = o.org().join("pctl-org.yaml");
    let text = std::fs::read_to_string(&org).unwrap();
    std::fs::write(&org, format!("{text}\n# a comment is a change too\n")).unwrap();
    assert_eq!(o.render(&[])["rendered"], 4);
    assert_eq!(o.render(&[])["rendered"], 0);
}

#[test]
fn a_blueprint_change_renders_every_service_again() {
    let o = Org::new();
    let bps = o.tmp.path().join("blueprints");
    copy_dir(&Path::new(ROOT).join("fixtures/blueprints-acme"), &bps);
    let args = ["--blueprints", bps.to_str().unwrap()];
    o.render(&args);
    assert_eq!(o.render(&args)["rendered"], 0);
    // Any file of the override folder.
    let some_template = walkdir::WalkDir::new(&bps)
        .sort_by_file_name()
        .into_iter()
        .flatten()
        .find(|e| e.path().extension().is_some_and(|x| x == "j2"))
        .expect("a template")
        .into_path();
    let text = std::fs::read_to_string(&some_template).unwrap();
    std::fs::write(&some_template, format!("{{# edited #}}{text}")).unwrap();
    assert_eq!(o.render(&args)["rendered"], 4);
}

#[test]
fn the_cache_trusts_records_and_no_cache_checks_every_file() {
    let o = Org::new();
    o.render(&[]);
    let deployment = o.out().join("apps/prod/auth-service/deployment.yaml");
    let original = std::fs::read_to_string(&deployment).unwrap();
    std::fs::write(&deployment, "edited by hand\n").unwrap();
    // The cache does not read the files it keeps (that is what makes it fast)...
    assert_eq!(counts(&o.render(&[])), [0, 0, 0, 0]);
    assert_eq!(
        std::fs::read_to_string(&deployment).unwrap(),
        "edited by hand\n"
    );
    // ...--no-cache renders and compares everything, and restores the file.
    let full = o.render(&["--no-cache"]);
    assert_eq!(counts(&full), [4, 0, 1, 0]);
    assert_eq!(std::fs::read_to_string(&deployment).unwrap(), original);

    // An edited record (or an unreadable cache) is a miss, never an error.
    let record = o.out().join(".pctl/services/payment-api.json");
    let text = std::fs::read_to_string(&record).unwrap();
    std::fs::write(&record, format!("{text} ")).unwrap();
    let r = o.render(&[]);
    assert_eq!(r["rendered"], 1);
    assert_eq!(r["changed"], 1, "only the record is rewritten");
    std::fs::write(o.out().join(pctl::cache::FILE), "garbage\n\0").unwrap();
    assert_eq!(counts(&o.render(&[])), [4, 0, 0, 0]);
    assert_eq!(counts(&o.render(&[])), [0, 0, 0, 0]);
}

#[test]
fn a_removed_service_is_deleted_and_warnings_survive_cache_hits() {
    removed_service(Org::new());
}

/// Written in parts of one service, deletion still sees every part.
#[test]
fn a_removed_service_is_deleted_when_rendering_in_parts() {
    removed_service(Org {
        part: "1",
        ..Org::new()
    });
}

fn removed_service(o: Org) {
    let first = o.render(&[]);
    std::fs::remove_dir_all(o.org().join("nightly-report")).unwrap();
    let after = o.render(&[]);
    assert_eq!(after["rendered"], 0);
    assert!(after["deleted"].as_u64().unwrap() > 0);
    assert!(!o.out().join(".pctl/services/nightly-report.json").exists());
    assert!(!o.out().join("apps/prod/nightly-report").exists());
    assert_eq!(
        after["files"].as_u64().unwrap() + after["deleted"].as_u64().unwrap(),
        first["files"].as_u64().unwrap()
    );
    // Guardrail warnings on intents are reported on every run, rendered or cached.
    let out = Command::new(env!("CARGO_BIN_EXE_pctl"))
        .current_dir(ROOT)
        .arg("render")
        .arg("--all")
        .arg(o.org())
        .args(["--source-sha", SHA, "--format", "json", "--out"])
        .arg(o.out())
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["summary"]["rendered"], 0);
    assert!(
        json["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["code"] == "guardrail/production-contacts"),
        "{json}"
    );
}
