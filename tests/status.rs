//! `pctl status SERVICE`: the version per environment, read back from a deploy repository the
//! real `pctl publish` wrote (over file:// and as a local path).

use crate::support;

use support::*;

fn status(deploy: &str, service: &str, format: &str) -> Run {
    let mut cmd = pctl();
    cmd.args([
        "status",
        service,
        "--deploy-repo",
        deploy,
        "--format",
        format,
    ]);
    run(cmd)
}

#[test]
fn status_shows_what_each_environment_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = bare_repo(tmp.path(), "deploy.git");
    let url = file_url(&repo);
    let digest = format!("sha256:{}", "5e".repeat(32));
    publish_json("fixtures/acme/payment-api", "1.0.0", &url, &[]).expect_code(0);
    let first = tip(&repo, "main").unwrap();
    publish_json(
        "fixtures/acme/payment-api",
        "1.1.0",
        &url,
        &["--image-digest", &digest],
    )
    .expect_code(0);
    let second = tip(&repo, "main").unwrap();
    assert_ne!(first, second);

    let r = status(&url, "payment-api", "json");
    r.expect_code(0);
    let doc = r.json();
    let envs = doc["environments"].as_array().unwrap();
    let names: Vec<&str> = envs
        .iter()
        .map(|e| e["environment"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["dev", "prod", "staging"]);
    for e in envs {
        assert_eq!(e["tag"], "1.1.0", "{e}");
        assert_eq!(e["digest"], digest.as_str(), "{e}");
        assert_eq!(
            e["image"],
            format!("ghcr.io/acme/payment-api:1.1.0@{digest}").as_str()
        );
        assert_eq!(e["source_sha"], SHA);
        assert_eq!(e["commit"], &second[..12], "{e}");
    }

    // The human table, from a local path.
    let r = status(repo.to_str().unwrap(), "payment-api", "human");
    r.expect_code(0);
    assert!(r.stdout.contains("ENVIRONMENT"), "{}", r.describe());
    let prod = r.stdout.lines().find(|l| l.starts_with("prod ")).unwrap();
    assert!(
        prod.contains("1.1.0") && prod.contains(&second[..12]),
        "{prod}"
    );

    // A service that runs nowhere is an error that says so.
    let r = status(&url, "nope", "human");
    r.expect_code(2);
    assert!(
        r.stderr.contains("`nope` runs in no environment"),
        "{}",
        r.describe()
    );
}
