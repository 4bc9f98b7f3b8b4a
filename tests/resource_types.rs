//! Extensible resource types: a resource blueprint declares its parameters (a JSON Schema
//! fragment), port, sizing and category, and pctl validates, documents (`pctl schema`) and
//! renders resources of that type with no per-type Rust. The worked example is
//! examples/blueprints/mysql (MySQL on RDS), used through `--blueprints examples/blueprints`.

use crate::support;

use std::path::Path;
use support::{ROOT, Run, pctl, run};

const ORG: &str = "fixtures/resource-types/pctl-org.yaml";
const SHOP: &str = "fixtures/resource-types/shop";

fn pctl_run(args: &[&str]) -> Run {
    let mut cmd = pctl();
    cmd.args(args);
    run(cmd)
}

/// `pctl validate --format json` of `platform` (written into a temporary folder) against the
/// example organisation with mysql sizes and the given blueprints folder.
fn validate_text(platform: &str, blueprints: Option<&Path>) -> (tempfile::TempDir, Run) {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("platform.yaml"), platform).unwrap();
    let mut cmd = pctl();
    cmd.args(["validate", "--format", "json", "--org", ORG])
        .arg(tmp.path());
    if let Some(b) = blueprints {
        cmd.arg("--blueprints").arg(b);
    }
    let r = run(cmd);
    (tmp, r)
}

/// (line, column, code, message) of every diagnostic.
fn located(r: &Run) -> Vec<(u64, u64, String, String)> {
    r.diagnostics()
        .iter()
        .map(|d| {
            (
                d["span"]["line"].as_u64().unwrap_or(0),
                d["span"]["column"].as_u64().unwrap_or(0),
                d["code"].as_str().unwrap_or_default().to_string(),
                d["message"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[test]
fn the_committed_schema_is_what_pctl_schema_prints() {
    let r = pctl_run(&["schema"]);
    r.expect_code(0);
    let path = Path::new(ROOT).join("schemas/platform.schema.json");
    if std::env::var_os("PCTL_BLESS").is_some() {
        std::fs::write(&path, &r.stdout).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap();
    assert!(
        committed == r.stdout,
        "schemas/platform.schema.json is not `pctl schema` (the base schema composed with the \
         built-in blueprints' parameters): edit the parameters in blueprints/*/blueprint.yaml, \
         then rewrite the file with `PCTL_BLESS=1 cargo test --test suite resource_types::`"
    );
    // Every built-in type's parameters are in it, for editors.
    let schema: serde_json::Value = serde_json::from_str(&committed).unwrap();
    let defs = &schema["$defs"];
    assert_eq!(
        defs["resource-redis"]["properties"]["eviction"]["enum"][2],
        serde_json::json!("noeviction")
    );
    assert_eq!(
        defs["resource-queue"]["properties"]["fifo"]["default"],
        false
    );
    assert!(defs["resource-mysql"].is_null());
}

#[test]
fn pctl_schema_includes_the_parameters_of_the_runs_blueprints() {
    let r = pctl_run(&["schema", "--blueprints", "examples/blueprints"]);
    r.expect_code(0);
    let schema: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let defs = &schema["$defs"];
    let mysql = &defs["resource-mysql"];
    assert_eq!(
        mysql["properties"]["engine_version"]["enum"],
        serde_json::json!(["8.0", "8.4"])
    );
    assert_eq!(
        mysql["required"],
        serde_json::json!(["type", "engine_version"])
    );
    assert_eq!(mysql["additionalProperties"], false);
    assert!(
        defs["resource"]["properties"]["type"]["examples"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("mysql"))
    );
    // The built-in types are still there.
    assert!(defs["resource-postgres"]["properties"]["backups"].is_object());
    // An environment's override may set them (editors complete them).
    assert!(defs["resourceOverride"]["properties"]["storage_gb"].is_object());
}

const GOOD: &str = "apiVersion: pctl.dev/v1
kind: Service
metadata:
  name: shop
  owner: team-payments
spec:
  image: ghcr.io/acme/shop
  port: 8080
  resources:
    db:
      type: mysql
      size: small
      engine_version: \"8.4\"
  environments:
    dev: {}
  health: {probe: tcp}
";

#[test]
fn bad_parameters_are_located_errors_with_the_expected_values_and_a_fix() {
    let (_keep, ok) = validate_text(GOOD, Some(Path::new("examples/blueprints")));
    ok.expect_code(0);

    let bad = GOOD
        .replace("engine_version: \"8.4\"", "engine_version: \"5.7\"\n      storage_gb: 10\n      eviction: lru\n      backup: daily")
        .replace("dev: {}", "dev:\n      resources:\n        db: {engine_versoin: \"8.0\"}");
    let (_keep, r) = validate_text(&bad, Some(Path::new("examples/blueprints")));
    r.expect_code(1);
    let found = located(&r);
    let expect = [
        (
            13,
            23,
            "schema/enum",
            "`engine_version` has an unsupported value",
        ),
        (
            14,
            19,
            "schema/range",
            "`storage_gb` is invalid: value is less than the minimum of 20",
        ),
        (
            15,
            7,
            "schema/resource-field",
            "`eviction` applies only to redis resources, not `mysql`",
        ),
        (
            16,
            7,
            "schema/unknown-field",
            "unknown field `backup` in `spec.resources.db`",
        ),
        (
            20,
            14,
            "schema/unknown-field",
            "unknown field `engine_versoin` in `spec.environments.dev.resources.db`",
        ),
    ];
    let expect: Vec<(u64, u64, String, String)> = expect
        .iter()
        .map(|(l, c, code, m)| (*l, *c, code.to_string(), m.to_string()))
        .collect();
    assert_eq!(found, expect, "{}", r.describe());
    let d = r.diagnostics();
    assert!(d[0]["file"].as_str().unwrap().ends_with("platform.yaml"));
    assert_eq!(d[0]["found"], "`5.7`");
    assert_eq!(d[0]["expected"], "one of `8.0`, `8.4`");
    assert_eq!(d[0]["help"], "use one of `8.0`, `8.4`");
    assert_eq!(d[1]["help"], "use a value from 20 to 6000");
    assert_eq!(d[3]["help"], "did you mean `backups`?");
    assert_eq!(d[4]["help"], "did you mean `engine_version`?");

    // A required parameter: missing, with its description as a note.
    let missing = GOOD.replace("      engine_version: \"8.4\"\n", "");
    let (_keep, r) = validate_text(&missing, Some(Path::new("examples/blueprints")));
    let d = &r.diags_with_code("schema/missing-field")[0];
    assert_eq!(
        d["message"],
        "missing required field `engine_version` in `spec.resources.db`"
    );
    assert_eq!(
        (d["span"]["line"].as_u64(), d["span"]["column"].as_u64()),
        (Some(10), Some(5))
    );
    assert!(
        d["notes"][0]
            .as_str()
            .unwrap()
            .contains("MySQL major version"),
        "{d}"
    );

    // Without the organisation's blueprints, the type itself is unknown (and nothing else).
    let (_keep, r) = validate_text(&bad, None);
    let codes: Vec<String> = located(&r).into_iter().map(|x| x.2).collect();
    assert_eq!(
        codes,
        ["semantic/unknown-resource-type"],
        "{}",
        r.describe()
    );
}

#[test]
fn a_mysql_service_renders_with_its_parameters_and_passes_the_oracle() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let r = pctl_run(&[
        "render",
        SHOP,
        "--org",
        ORG,
        "--blueprints",
        "examples/blueprints",
        "--source-sha",
        support::SHA,
        "--image-tag",
        support::TAG,
        "--out",
        out.to_str().unwrap(),
    ]);
    r.expect_code(0);
    let read = |p: &str| std::fs::read_to_string(out.join(p)).unwrap();
    let line = |text: &str, key: &str| -> String {
        text.lines()
            .find(|l| l.trim_start().starts_with(&format!("{key} ")))
            .unwrap_or_else(|| panic!("no `{key}` in\n{text}"))
            .split_once('=')
            .unwrap()
            .1
            .trim()
            .to_string()
    };
    // dev: defaults from the manifest; prod: the environment's override.
    let dev = read("terraform/dev/shop/db.tf");
    assert_eq!(line(&dev, "engine_version"), "\"8.4\"");
    assert_eq!(line(&dev, "allocated_storage"), "20");
    assert_eq!(line(&dev, "backup_retention_period"), "7");
    assert_eq!(line(&dev, "instance_class"), "\"db.t4g.small\"");
    assert_eq!(line(&dev, "port"), "3306");
    let prod = read("terraform/prod/shop/db.tf");
    assert_eq!(line(&prod, "allocated_storage"), "100");
    assert_eq!(line(&prod, "max_allocated_storage"), "1000");
    assert_eq!(line(&prod, "backup_retention_period"), "35");
    assert_eq!(line(&prod, "instance_class"), "\"db.m6g.large\"");
    // The egress policy allows the port the manifest declares.
    let policy = read("apps/dev/shop/networkpolicy.yaml");
    assert!(policy.contains("port: 3306"), "{policy}");
    assert!(!policy.contains("port: 5432"), "{policy}");
    // The catalog calls it by its category.
    assert!(
        read("catalog/shop/catalog-info.yaml").contains("type: \"database\""),
        "catalog"
    );

    let oracle = Path::new(ROOT).join("../shared/oracles/validate-deploy-tree");
    let o = std::process::Command::new("bash")
        .arg(&oracle)
        .arg("--require-all")
        .arg(&out)
        .output()
        .expect("run the oracle");
    let stdout = String::from_utf8_lossy(&o.stdout);
    let tally = stdout
        .lines()
        .rev()
        .find(|l| l.contains(" passed, "))
        .unwrap_or("");
    assert!(
        o.status.success() && tally.contains(", 0 failed"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let passed: usize = tally
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(passed > 20, "the oracle checked only {passed} files");
}

/// A blueprints folder holding one resource blueprint `bucket` with this manifest head.
fn bucket_blueprints(manifest_head: &str) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bucket");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("blueprint.yaml"),
        format!(
            "{manifest_head}outputs:\n  - template: bucket.tf.j2\n    path: \"terraform/{{{{ env.name }}}}/{{{{ service.name }}}}/{{{{ resource.name }}}}.tf\"\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("bucket.tf.j2"),
        "resource \"aws_s3_bucket\" \"{{ resource.name | safe }}\" {\n  bucket = {{ resource.identifier }}\n  force_destroy = {{ resource.force_destroy }}\n}\n",
    )
    .unwrap();
    tmp
}

#[test]
fn an_unsized_type_needs_no_sizes_and_takes_no_size() {
    let bp = bucket_blueprints(
        "description: S3 bucket\nresource: bucket\nsized: false\nparameters:\n  properties:\n    force_destroy: {type: boolean, default: false, description: Delete the objects with the bucket.}\n",
    );
    let platform = "apiVersion: pctl.dev/v1
kind: Worker
metadata:
  name: shop
  owner: team-payments
spec:
  image: ghcr.io/acme/shop
  resources:
    files: {type: bucket}
  environments:
    dev: {}
";
    // The organisation has no `sizes.bucket`, and needs none.
    let (_keep, r) = validate_text(platform, Some(bp.path()));
    r.expect_code(0);
    let sized = platform.replace("{type: bucket}", "{type: bucket, size: small}");
    let (_keep, r) = validate_text(&sized, Some(bp.path()));
    assert_eq!(
        located(&r),
        [(
            9,
            27,
            "schema/resource-field".to_string(),
            "`size` applies only to postgres, queue and redis resources, not `bucket`".to_string()
        )],
        "{}",
        r.describe()
    );
}

#[test]
fn manifest_mistakes_are_located_in_blueprint_yaml() {
    let bp = bucket_blueprints(
        "description: S3 bucket\nresource: bucket\nport: 0\nparameters:\n  additionalProperties: true\n  properties:\n    name: {type: string, description: x}\n    retention-days: {type: integer, description: x}\n    tier: {type: strng, description: x}\n    versioned: {type: boolean, default: \"yes\", description: x}\n    region: {type: string}\n  required: [versioned, owner]\n",
    );
    let (_keep, r) = validate_text(GOOD, Some(bp.path()));
    r.expect_code(1);
    let found: Vec<(u64, String)> = r
        .diagnostics()
        .iter()
        .map(|d| {
            assert!(
                d["file"]
                    .as_str()
                    .unwrap()
                    .ends_with("bucket/blueprint.yaml"),
                "{d}"
            );
            (
                d["span"]["line"].as_u64().unwrap(),
                d["message"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let lines: Vec<u64> = found.iter().map(|f| f.0).collect();
    assert_eq!(lines, [3, 5, 7, 8, 9, 10, 11, 12, 12], "{found:#?}");
    let text = |i: usize| found[i].1.as_str();
    assert_eq!(text(0), "`port` must be from 1 to 65535");
    assert_eq!(text(1), "`parameters` does not take `additionalProperties`");
    assert_eq!(
        text(2),
        "parameter `name` would hide the resource's own `name`"
    );
    assert_eq!(
        text(3),
        "parameter name `retention-days` is not an identifier"
    );
    assert!(
        text(4).starts_with("parameter `tier` is not a valid JSON Schema"),
        "{}",
        text(4)
    );
    assert!(
        text(5).starts_with("the default of `versioned` does not match its schema"),
        "{}",
        text(5)
    );
    assert_eq!(text(6), "parameter `region` has no `description`");
    assert_eq!(
        text(7),
        "required parameter `versioned` has a default, which would never apply"
    );
    assert_eq!(
        text(8),
        "`required` names `owner`, which `properties` does not declare"
    );
}

#[test]
fn only_resource_blueprints_take_resource_fields() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("audit");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("blueprint.yaml"),
        "description: an add-on\nport: 8080\noutputs: []\n",
    )
    .unwrap();
    let (_keep, r) = validate_text(GOOD, Some(tmp.path()));
    let d = &r.diagnostics()[0];
    assert_eq!(
        d["message"],
        "`port` is only for resource blueprints (with `resource:`)",
        "{}",
        r.describe()
    );
    assert_eq!(d["span"]["line"], 2);
}
