//! Guardrail exemptions (spec.exemptions): a reasoned, located exemption turns a finding into
//! a note; the organisation decides what may be exempted; a stale exemption is a warning; the
//! review of a publish shows new ones.

use crate::support;

use std::path::Path;
use support::{ROOT, SHA, pctl, run};

fn org_with(intent: &str) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy(
        Path::new(ROOT).join("fixtures/boutique/pctl-org.yaml"),
        tmp.path().join("pctl-org.yaml"),
    )
    .unwrap();
    std::fs::create_dir_all(tmp.path().join("gen")).unwrap();
    std::fs::write(tmp.path().join("gen/platform.yaml"), intent).unwrap();
    tmp
}

fn worker(exemptions: &str, prod_replicas: u32) -> String {
    format!(
        "apiVersion: pctl.dev/v1\nkind: Worker\nmetadata:\n  name: gen\n  owner: team-reliability\n  oncall: https://pager.example/gen\n  runbook: https://wiki.example/gen\nspec:\n  image: us-central1-docker.pkg.dev/online-boutique-ci/microservices-demo/gen\n  exemptions:\n{exemptions}  environments:\n    dev: {{}}\n    prod: {{replicas: {prod_replicas}}}\n"
    )
}

fn validate(dir: &Path) -> support::Run {
    let mut cmd = pctl();
    cmd.args(["validate", "--all", "--format", "json"]).arg(dir);
    run(cmd)
}

#[test]
fn an_exemption_turns_the_finding_into_a_located_note_with_its_reason() {
    let reason = "Load generator: a second replica doubles the synthetic load.";
    let tmp = org_with(&worker(
        &format!(
            "    - guardrail: production_replicas\n      environments: [prod]\n      reason: \"{reason}\"\n"
        ),
        1,
    ));
    let r = validate(tmp.path());
    r.expect_code(0);
    let notes = r.diags_with_code("exemption/applied");
    assert_eq!(notes.len(), 1, "{}", r.stdout);
    assert_eq!(notes[0]["severity"], "note");
    assert_eq!(
        notes[0]["span"]["line"], 11,
        "at the exemption: {}",
        notes[0]
    );
    assert!(notes[0]["notes"].to_string().contains(reason));
    assert!(
        r.diags_with_code("guardrail/production-replicas")
            .is_empty()
    );
    // Without the exemption, the same intent is refused.
    let tmp = org_with(&worker("    []\n", 1).replace("  exemptions:\n    []\n", ""));
    let r = validate(tmp.path());
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert_eq!(r.diags_with_code("guardrail/production-replicas").len(), 1);
}

#[test]
fn stale_unreasoned_or_forbidden_exemptions_are_reported() {
    // Stale: prod runs 2 replicas, nothing to exempt (checked when the intent is valid).
    let tmp = org_with(&worker(
        "    - {guardrail: production_replicas, environments: [prod], reason: \"Load generator: one replica is enough.\"}\n",
        2,
    ));
    let r = validate(tmp.path());
    r.expect_code(0);
    let unused = r.diags_with_code("exemption/unused");
    assert_eq!(unused.len(), 1, "{}", r.stdout);
    assert_eq!(unused[0]["span"]["line"], 11);
    let tmp = org_with(&worker(
        "    - {guardrail: production_replicas, environments: [prod], reason: \"Load generator: one replica is enough.\"}\n    - {guardrail: budget, reason: \"We are worth it, really, trust us.\"}\n    - {guardrail: production_contacts, reason: short}\n    - {guardrail: production_replica, reason: \"A typo in the guardrail name here.\"}\n",
        2,
    ));
    let r = validate(tmp.path());
    let codes: Vec<(String, u64)> = r
        .diagnostics()
        .iter()
        .map(|d| {
            (
                d["code"].as_str().unwrap().to_string(),
                d["span"]["line"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    for expected in [
        ("semantic/not-exemptable", 12),    // budget is the organisation's
        ("semantic/exemption-reason", 13),  // a reason says why
        ("semantic/unknown-guardrail", 14), // did you mean production_replicas?
    ] {
        assert!(
            codes.contains(&(expected.0.to_string(), expected.1)),
            "{expected:?} not in {codes:?}"
        );
    }
    let typo = r.diags_with_code("semantic/unknown-guardrail");
    assert!(
        typo[0]["help"]
            .as_str()
            .unwrap()
            .contains("production_replicas")
    );
}

#[test]
fn the_review_of_a_publish_shows_a_new_exemption() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = support::bare_repo(tmp.path(), "deploy.git");
    let mut cmd = pctl();
    cmd.args(["diff", "fixtures/boutique/loadgenerator"])
        .args([
            "--org",
            "fixtures/boutique/pctl-org.yaml",
            "--source-sha",
            SHA,
        ])
        .args([
            "--deploy-repo",
            &support::file_url(&bare),
            "--format",
            "markdown",
        ]);
    let r = run(cmd);
    r.expect_code(0);
    assert!(
        r.stdout.contains("### Guardrail exemptions"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("**loadgenerator**: new exemption from guardrail production\\_replicas in prod: Synthetic traffic generator"),
        "{}",
        r.stdout
    );
}
