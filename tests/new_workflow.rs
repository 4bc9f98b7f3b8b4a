//! The workflow `pctl new` writes builds, tests, scans and signs the image before it publishes
//! it by digest, as the organisation's `spec.build` says (actionlint and checkov run on it in
//! tests/new.rs and tests/checkov.rs).

use crate::support;

use std::fs;
use std::path::Path;
use support::*;

/// `pctl new service NAME --kind Service --owner OWNER` in `cwd`; the workflow it wrote.
fn workflow(cwd: &Path, org: &Path, owner: &str) -> String {
    let mut cmd = pctl();
    cmd.current_dir(cwd)
        .args([
            "new", "service", "svc", "--kind", "Service", "--owner", owner,
        ])
        .arg("--org")
        .arg(org);
    run(cmd).expect_code(0);
    fs::read_to_string(cwd.join("svc/.github/workflows/platform.yml")).unwrap()
}

#[test]
fn the_default_workflow_builds_scans_signs_and_publishes_the_digest() {
    let tmp = tempfile::tempdir().unwrap();
    let w = workflow(tmp.path(), &Path::new(ROOT).join(ORG), "team-payments");
    for want in [
        "  IMAGE: ghcr.io/acme/svc\n",
        "uses: docker/build-push-action@53b7df96c91f9c12dcc8a07bcb9ccacbed38856a # v7.3.0",
        "cache-from: type=gha",
        "make test",
        "output-file: sbom.spdx.json",
        "uses: aquasecurity/trivy-action@",
        "severity: CRITICAL\n",
        "exit-code: \"1\"",
        "packages: write",
        "cosign sign --yes \"$IMAGE@$DIGEST\"",
        "    needs: build\n",
        "image-digest: ${{ needs.build.outputs.digest }}",
    ] {
        assert!(w.contains(want), "lacks {want:?}:\n{w}");
    }
    // Every third-party action is pinned by a full commit.
    for line in w
        .lines()
        .filter(|l| l.contains("uses: ") && !l.contains("acme/pctl@"))
    {
        let at = line.split('@').nth(1).unwrap_or_default();
        assert!(
            at.len() > 40 && at[..40].bytes().all(|b| b.is_ascii_hexdigit()),
            "not pinned by commit: {line}"
        );
    }
}

#[test]
fn spec_build_chooses_scanner_severity_and_provenance() {
    let tmp = tempfile::tempdir().unwrap();
    let base = fs::read_to_string(Path::new(ROOT).join(ORG)).unwrap();
    let org = tmp.path().join("pctl-org.yaml");
    fs::write(
        &org,
        base.replace(
            "    - ghcr.io/acme\n",
            "    - registry.example.com:5000/acme\n",
        ) + "  build: {scanner: grype, fail_on: high, provenance: github}\n",
    )
    .unwrap();
    let w = workflow(tmp.path(), &org, "team-payments");
    for want in [
        "  IMAGE: \"registry.example.com:5000/acme/svc\"\n",
        "uses: anchore/scan-action@",
        "severity-cutoff: high\n",
        "attestations: write",
        "uses: actions/attest-build-provenance@",
        "sbom-path: sbom.spdx.json",
        "registry: \"registry.example.com:5000\"",
        "password: ${{ secrets.REGISTRY_PASSWORD }}",
    ] {
        assert!(w.contains(want), "lacks {want:?}:\n{w}");
    }
    for unwanted in ["trivy", "cosign", "packages: write"] {
        assert!(!w.contains(unwanted), "{unwanted}:\n{w}");
    }
}
