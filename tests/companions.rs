//! In-cluster companions (`placement: in-cluster`) of a type other than Redis: PostgreSQL for
//! development, managed (RDS) elsewhere, from one connection template. Read from the golden
//! tree `golden-tests/dev-companions/` (tests/oracle.rs and tests/dependency_contract.rs check
//! it too); the guardrail that keeps a single-replica database out of protected environments
//! runs on a copy.

use crate::support;

use std::path::Path;
use support::{ROOT, SHA, pctl, run};

fn golden(path: &str) -> String {
    std::fs::read_to_string(
        Path::new(ROOT)
            .join("golden-tests/dev-companions/expected")
            .join(path),
    )
    .unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn exists(path: &str) -> bool {
    Path::new(ROOT)
        .join("golden-tests/dev-companions/expected")
        .join(path)
        .exists()
}

#[test]
fn postgres_runs_beside_the_service_in_dev_and_is_managed_elsewhere() {
    // dev: the companion, reached through its own Service; the URL carries no password.
    let cm = golden("apps/dev/ledger/configmap.yaml");
    assert!(
        cm.contains(
            r#""DATABASE_URL": "postgresql://postgres@ledger-db.ledger.svc.cluster.local:5432/postgres""#
        ),
        "{cm}"
    );
    let deploy = golden("apps/dev/ledger/deployment-db.yaml");
    assert!(deploy.contains("image: \"docker.io/library/postgres:16.4-bookworm\""));
    assert!(deploy.contains("readOnlyRootFilesystem: true"));
    assert!(deploy.contains("replicas: 1") && deploy.contains("type: Recreate"));
    let svc = golden("apps/dev/ledger/service-db.yaml");
    assert!(svc.contains("port: 5432"), "{svc}");
    // Only the service's pods may connect to it.
    let np = golden("apps/dev/ledger/networkpolicy-db.yaml");
    assert!(np.contains("egress: []"), "{np}");
    assert!(!exists("terraform/dev"), "no cloud resources in dev");
    assert!(!exists("apps/dev/ledger/externalsecret-db.yaml"));

    // staging and prod: RDS, the same variable filled from the secret store at run time.
    for env in ["staging", "prod"] {
        assert!(exists(&format!("terraform/{env}/ledger/db.tf")));
        assert!(!exists(&format!("apps/{env}/ledger/deployment-db.yaml")));
        let es = golden(&format!("apps/{env}/ledger/externalsecret-db.yaml"));
        assert!(
            es.contains(r#""DATABASE_URL": "postgresql://{{ .username }}:{{ .password }}@"#),
            "{es}"
        );
        let cm = golden(&format!("apps/{env}/ledger/configmap.yaml"));
        assert!(!cm.contains("DATABASE_URL"), "{cm}");
    }
}

#[test]
fn an_in_cluster_database_in_a_protected_environment_is_refused_where_it_is_chosen() {
    let tmp = tempfile::tempdir().unwrap();
    let fixture = Path::new(ROOT).join("fixtures/dev-companions");
    std::fs::copy(
        fixture.join("pctl-org.yaml"),
        tmp.path().join("pctl-org.yaml"),
    )
    .unwrap();
    let intent = std::fs::read_to_string(fixture.join("ledger/platform.yaml")).unwrap();
    let intent = intent.replace(
        "    prod: {replicas: 3}\n",
        "    prod:\n      replicas: 3\n      resources:\n        db: {placement: in-cluster}\n",
    );
    std::fs::create_dir_all(tmp.path().join("ledger")).unwrap();
    std::fs::write(tmp.path().join("ledger/platform.yaml"), &intent).unwrap();
    // The last one: dev's is allowed.
    let line = intent
        .lines()
        .collect::<Vec<_>>()
        .iter()
        .rposition(|l| *l == "        db: {placement: in-cluster}")
        .unwrap()
        + 1;
    let mut cmd = pctl();
    cmd.args(["render", "--format", "json", "--source-sha", SHA])
        .arg(tmp.path().join("ledger"));
    let r = run(cmd);
    r.expect_code(1);
    let d = r.diags_with_code("guardrail/production-replicas");
    assert_eq!(d.len(), 1, "{}", r.describe());
    assert_eq!(d[0]["span"]["line"], line as u64);
    assert_eq!(
        d[0]["path"],
        "spec.environments.prod.resources.db.placement"
    );
}
