//! What pctl hands to a GitHub Actions runner besides annotations: step outputs
//! (`$GITHUB_OUTPUT`), the step summary (`$GITHUB_STEP_SUMMARY`, within GitHub's limit) and the
//! review files of `--report-dir`.

use std::io::Write;
use std::path::Path;

/// Appends `name=value` lines to `$GITHUB_OUTPUT` (when set) for the action's later steps.
pub fn set_outputs(outputs: &[(&str, String)]) {
    let Ok(path) = std::env::var("GITHUB_OUTPUT") else {
        return;
    };
    let mut lines = String::new();
    for (k, v) in outputs {
        // One line each: a value never carries a newline into a second output.
        let v: String = v.chars().filter(|c| !c.is_control()).collect();
        lines.push_str(&format!("{k}={v}\n"));
    }
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = f.write_all(lines.as_bytes());
    }
}

pub fn write_reports(
    dir: &Path,
    summary_md: &str,
    parts: &[String],
    plan: &serde_json::Value,
) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let write = |name: &str, text: &str| -> std::io::Result<()> {
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
        tmp.write_all(text.as_bytes())?;
        tmp.persist(dir.join(name)).map(|_| ()).map_err(|e| e.error)
    };
    write("summary.md", summary_md)?;
    for (i, p) in parts.iter().enumerate() {
        write(&format!("part-{}.md", i + 1), p)?;
    }
    let mut json = serde_json::to_string_pretty(plan).expect("json");
    json.push('\n');
    write("plan.json", &json)
}

/// Appends to `$GITHUB_STEP_SUMMARY` (when set) without passing GitHub's 1 MiB per step.
pub fn append_step_summary(text: &str) {
    use pctl_core::review::STEP_SUMMARY_MAX_BYTES;
    let Ok(path) = std::env::var("GITHUB_STEP_SUMMARY") else {
        return;
    };
    let path = Path::new(&path);
    let used = std::fs::metadata(path)
        .map(|m| m.len() as usize)
        .unwrap_or(0);
    let room = STEP_SUMMARY_MAX_BYTES.saturating_sub(used);
    let text = if text.len() <= room {
        text.to_string()
    } else {
        let mut cut = room.saturating_sub(200);
        while cut > 0 && !text.is_char_boundary(cut) {
            cut -= 1;
        }
        format!(
            "{}\n\n_The summary was cut at GitHub's 1 MiB step-summary limit._\n",
            &text[..cut]
        )
    };
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = f.write_all(text.as_bytes());
    }
}
