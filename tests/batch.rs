//! Organisation-wide runs: one bad repository does not block the others, and `--shard` splits
//! services into a stable partition.

use std::collections::BTreeSet;
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

fn pctl(args: &[&str]) -> (i32, serde_json::Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_pctl"))
        .current_dir(ROOT)
        .args(args)
        .args(["--format", "json"])
        .output()
        .unwrap();
    let json = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (
        out.status.code().unwrap(),
        json,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn one_bad_repository_does_not_block_the_others() {
    let tmp = tempfile::tempdir().unwrap();
    let org = tmp.path().join("org");
    copy_dir(&Path::new(ROOT).join("fixtures/acme"), &org);
    let out = tmp.path().join("out");
    let (o, out_s) = (org.to_str().unwrap(), out.to_str().unwrap());
    let (code, _, err) = pctl(&["render", "--all", o, "--source-sha", SHA, "--out", out_s]);
    assert_eq!(code, 0, "{err}");
    let payment_before =
        std::fs::read(out.join("apps/prod/payment-api/kustomization.yaml")).unwrap();

    // payment-api breaks; auth-service changes.
    let p = org.join("payment-api/platform.yaml");
    std::fs::write(
        &p,
        std::fs::read_to_string(&p)
            .unwrap()
            .replace("port: 8080", "port: eighty"),
    )
    .unwrap();
    let a = org.join("auth-service/platform.yaml");
    std::fs::write(
        &a,
        std::fs::read_to_string(&a)
            .unwrap()
            .replace("LOG_LEVEL: debug", "LOG_LEVEL: trace"),
    )
    .unwrap();
    let (code, json, err) = pctl(&["render", "--all", o, "--source-sha", SHA, "--out", out_s]);
    assert_eq!(code, 1, "the exit code says something failed: {err}");
    let diags = json["diagnostics"].as_array().unwrap();
    assert!(
        diags.iter().any(|d| d["file"]
            .as_str()
            .unwrap()
            .ends_with("payment-api/platform.yaml")),
        "{json}"
    );
    assert_eq!(
        json["summary"]["deleted"], 0,
        "nothing of the failed service is deleted: {json}"
    );
    assert_eq!(
        std::fs::read(out.join("apps/prod/payment-api/kustomization.yaml")).unwrap(),
        payment_before
    );
    let cm = std::fs::read_to_string(out.join("apps/dev/auth-service/configmap.yaml")).unwrap();
    assert!(
        cm.contains("\"trace\""),
        "the other services rendered: {cm}"
    );

    // Publish likewise: the good services land, the bad one's files are untouched.
    let deploy = tmp.path().join("deploy.git");
    assert!(
        Command::new("git")
            .args(["init", "-q", "--bare", "-b", "main"])
            .arg(&deploy)
            .status()
            .unwrap()
            .success()
    );
    let (code, json, err) = pctl(&[
        "publish",
        "--all",
        o,
        "--source-sha",
        SHA,
        "--deploy-repo",
        deploy.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(json["summary"]["commit"].is_string(), "{json}");
    let files = Command::new("git")
        .arg("-C")
        .arg(&deploy)
        .args(["ls-tree", "-r", "--name-only", "main"])
        .output()
        .unwrap();
    let files = String::from_utf8_lossy(&files.stdout);
    assert!(files.contains("apps/dev/auth-service/"), "{files}");
    assert!(!files.contains("payment-api"), "{files}");

    // Without --all, a single bad file stops everything: nothing is written.
    let (code, _, _) = pctl(&[
        "render",
        org.join("payment-api").to_str().unwrap(),
        "--org",
        org.join("pctl-org.yaml").to_str().unwrap(),
        "--source-sha",
        SHA,
        "--out",
        tmp.path().join("single").to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(!tmp.path().join("single").exists());
}

#[test]
fn shards_partition_the_services_stably() {
    let services = |json: &serde_json::Value| -> BTreeSet<String> {
        json["summary"]["services"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect()
    };
    let tmp = tempfile::tempdir().unwrap();
    let (_, all, _) = pctl(&[
        "render",
        "--all",
        "fixtures/acme",
        "--source-sha",
        SHA,
        "--out",
        tmp.path().join("all").to_str().unwrap(),
    ]);
    let all = services(&all);
    for n in [1u32, 2, 3, 5] {
        let mut union = BTreeSet::new();
        for i in 1..=n {
            let out = tmp.path().join(format!("s{n}-{i}"));
            let (code, json, err) = pctl(&[
                "render",
                "--all",
                "fixtures/acme",
                "--source-sha",
                SHA,
                "--shard",
                &format!("{i}/{n}"),
                "--out",
                out.to_str().unwrap(),
            ]);
            assert_eq!(code, 0, "{err}");
            let part = services(&json);
            assert!(
                union.is_disjoint(&part),
                "shards overlap: {union:?} {part:?}"
            );
            for s in &part {
                assert_eq!(pctl::discover::shard_of(s, n), i);
            }
            union.extend(part);
        }
        assert_eq!(union, all, "shards of {n} cover every service");
    }
    let (code, _, err) = pctl(&["render", "--all", "fixtures/acme", "--shard", "0/3"]);
    assert_eq!(code, 2, "{err}");
}

/// The partition depends on the name only (sha256), pinned here so that it never moves between
/// releases: a CI matrix keeps publishing each service from the same shard.
#[test]
fn shard_assignment_is_pinned() {
    let got: Vec<u32> = [
        "payment-api",
        "auth-service",
        "ledger-worker",
        "nightly-report",
    ]
    .iter()
    .map(|s| pctl::discover::shard_of(s, 4))
    .collect();
    assert_eq!(got, [2, 3, 3, 4]);
}

#[test]
fn dependencies_are_resolved_across_the_organisation() {
    let tmp = tempfile::tempdir().unwrap();
    let org = tmp.path().join("org");
    copy_dir(&Path::new(ROOT).join("fixtures/acme"), &org);
    let p = org.join("payment-api/platform.yaml");
    let text = std::fs::read_to_string(&p).unwrap();
    let line = text
        .lines()
        .position(|l| l.contains("dependencies: [auth-service]"))
        .unwrap()
        + 1;
    std::fs::write(
        &p,
        text.replace(
            "dependencies: [auth-service]",
            "dependencies: [auth-servce]",
        ),
    )
    .unwrap();
    let (code, json, _) = pctl(&["validate", "--all", org.to_str().unwrap()]);
    assert_eq!(code, 1);
    let d = json["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["code"] == "graph/unknown-dependency")
        .expect("reported");
    assert_eq!(d["span"]["line"], line, "{d}");
    assert_eq!(d["help"], "did you mean `auth-service`?");
    // One repository alone cannot know the others: no error there.
    let (code, _, err) = pctl(&[
        "validate",
        org.join("payment-api").to_str().unwrap(),
        "--org",
        org.join("pctl-org.yaml").to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");

    // A cycle is reported once, as a warning naming the whole loop.
    std::fs::write(&p, text).unwrap();
    let a = org.join("auth-service/platform.yaml");
    let auth = std::fs::read_to_string(&a)
        .unwrap()
        .replace("spec:\n", "spec:\n  dependencies: [ledger-worker]\n");
    std::fs::write(&a, auth).unwrap();
    let (code, json, _) = pctl(&["validate", "--all", org.to_str().unwrap()]);
    assert_eq!(code, 0, "a cycle is a warning: {json}");
    let cycles: Vec<&serde_json::Value> = json["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["code"] == "graph/cycle")
        .collect();
    assert_eq!(cycles.len(), 1, "{json}");
    assert_eq!(
        cycles[0]["message"],
        "dependency cycle: auth-service → ledger-worker → payment-api → auth-service"
    );

    // pctl graph prints the edges.
    let out = Command::new(env!("CARGO_BIN_EXE_pctl"))
        .current_dir(ROOT)
        .args(["graph", "--all", "fixtures/acme", "--format", "dot"])
        .output()
        .unwrap();
    let dot = String::from_utf8_lossy(&out.stdout);
    assert!(
        dot.contains("\"payment-api\" -> \"auth-service\";"),
        "{dot}"
    );
}

#[test]
fn both_sides_of_a_dependency_are_wired() {
    // payment-api depends on auth-service; each side is rendered from its own intent only, so a
    // single-service publish produces the same bytes as an organisation-wide one.
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let (code, _, err) = pctl(&[
        "render",
        "--all",
        "fixtures/acme",
        "--source-sha",
        SHA,
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let read = |p: &str| -> serde_yaml::Value {
        let text = std::fs::read_to_string(out.join(p)).unwrap();
        serde_yaml::from_str(&text).unwrap()
    };
    // Caller: the callee's URL, and a namespace label naming the callee.
    let cm = read("apps/prod/payment-api/configmap.yaml");
    assert_eq!(
        cm["data"]["AUTH_SERVICE_URL"].as_str(),
        Some("http://auth-service.auth-service.svc.cluster.local")
    );
    let ns = read("apps/prod/payment-api/namespace.yaml");
    assert_eq!(
        ns["metadata"]["labels"]["pctl.dev/calls-auth-service"].as_str(),
        Some("true")
    );
    // Caller egress: DNS, the dependency's namespace, no blanket access to private addresses.
    let np = read("apps/prod/payment-api/networkpolicy.yaml");
    let egress = serde_json::to_string(&np["spec"]["egress"]).unwrap();
    assert!(
        egress.contains(r#""kubernetes.io/metadata.name":"auth-service""#),
        "{egress}"
    );
    assert!(
        egress.contains(r#""except":["10.0.0.0/8","172.16.0.0/12","192.168.0.0/16"]"#),
        "{egress}"
    );
    // Callee: admits exactly the namespaces that declare they call it.
    let np = read("apps/prod/auth-service/networkpolicy.yaml");
    let ingress = serde_json::to_string(&np["spec"]["ingress"]).unwrap();
    assert!(
        ingress.contains(r#""pctl.dev/calls-auth-service":"true""#),
        "{ingress}"
    );
    // The Service listens on 80 whatever the container port, so callers need only the name.
    let svc = read("apps/prod/auth-service/service.yaml");
    assert_eq!(svc["spec"]["ports"][0]["port"].as_u64(), Some(80));
}

#[test]
fn codeowners_enforce_the_approval_gates() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let (code, _, err) = pctl(&[
        "render",
        "--all",
        "fixtures/acme",
        "--source-sha",
        SHA,
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let owners = std::fs::read_to_string(out.join(".github/CODEOWNERS")).unwrap();
    let rules: Vec<&str> = owners.lines().filter(|l| !l.starts_with('#')).collect();
    // payment-api declares approvals for prod: its owner plus the approvers.
    assert!(
        rules.contains(
            &"/apps/prod/payment-api/ @acme/team-payments @acme/security-team @acme/qa-lead"
        ),
        "{owners}"
    );
    assert!(
        rules.contains(
            &"/terraform/prod/payment-api/ @acme/team-payments @acme/security-team @acme/qa-lead"
        ),
        "{owners}"
    );
    // Protected environment: the owner; stateful resources anywhere: the owner.
    assert!(
        rules.contains(&"/apps/prod/auth-service/ @acme/team-platform"),
        "{owners}"
    );
    assert!(
        rules.contains(&"/terraform/dev/payment-api/ @acme/team-payments"),
        "{owners}"
    );
    // Non-protected workloads need no gate.
    assert!(
        !rules.iter().any(|r| r.starts_with("/apps/dev/")),
        "{owners}"
    );
    // A single service's run neither writes nor deletes the organisation-wide file.
    let single = tmp.path().join("single");
    let (code, _, err) = pctl(&[
        "render",
        "fixtures/acme/payment-api",
        "--org",
        "fixtures/acme/pctl-org.yaml",
        "--source-sha",
        SHA,
        "--out",
        single.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(!single.join(".github/CODEOWNERS").exists());
}
