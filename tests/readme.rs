//! The README's pull-request summary example is real output: this test renders it from a
//! fixture run and compares it with the README (`PCTL_BLESS=1` rewrites the README block).

use std::path::Path;
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const START: &str = "<!-- pr-summary:start -->\n";
const END: &str = "<!-- pr-summary:end -->";

fn pctl(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_pctl"))
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn readme_pr_summary_is_rendered_from_a_fixture_run() {
    let tmp = tempfile::tempdir().unwrap();
    let ok = Command::new("git")
        .args(["init", "-q", "--bare", "-b", "main", "deploy.git"])
        .current_dir(tmp.path())
        .status()
        .unwrap();
    assert!(ok.success());
    let fixture = |p: &str| format!("{ROOT}/{p}");
    let sha = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c";
    pctl(
        tmp.path(),
        &[
            "publish",
            "--all",
            &fixture("fixtures/acme"),
            "--source-sha",
            sha,
            "--image-tag",
            "1.4.2",
            "--deploy-repo",
            "deploy.git",
        ],
    );
    // The next change: staging dropped, a new image.
    let md = pctl(
        tmp.path(),
        &[
            "diff",
            &fixture("fixtures/publish/payment-api-no-staging"),
            "--org",
            &fixture("fixtures/acme/pctl-org.yaml"),
            "--source-sha",
            sha,
            "--image-tag",
            "1.5.0",
            "--deploy-repo",
            "deploy.git",
            "--format",
            "markdown",
        ],
    );
    // Keep the example short: the summary and the first diff.
    let first_diff_end = md
        .find("</details>")
        .map(|i| i + "</details>".len())
        .unwrap_or(md.len());
    let example = format!("````markdown\n{}\n````\n", &md[..first_diff_end]);
    let readme_path = Path::new(ROOT).join("README.md");
    let readme = std::fs::read_to_string(&readme_path).unwrap();
    let (a, rest) = readme
        .split_once(START)
        .expect("README has the pr-summary block");
    let (current, b) = rest.split_once(END).expect("block is closed");
    if std::env::var_os("PCTL_BLESS").is_some() {
        std::fs::write(&readme_path, format!("{a}{START}{example}{END}{b}")).unwrap();
        return;
    }
    assert_eq!(
        current, example,
        "README's PR summary example is stale: run PCTL_BLESS=1 cargo test --test readme"
    );
}
