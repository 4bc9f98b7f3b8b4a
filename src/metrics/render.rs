//! The metrics for people (a terminal table), for a weekly report (markdown) and for tools
//! (JSON, the `pctl.dev/metrics/v1` document).

use super::analyse::{Group, Metrics};

/// `3d 4h`, `2h 10m`, `5m 3s`, `12s`.
pub fn human_duration(s: i64) -> String {
    let (d, h, m, sec) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    if d > 0 {
        format!("{d}d {h}h")
    } else if h > 0 {
        format!("{h}h {m}m")
    } else if m > 0 {
        format!("{m}m {sec}s")
    } else {
        format!("{sec}s")
    }
}

fn opt_dur(s: Option<i64>) -> String {
    s.map(human_duration).unwrap_or_else(|| "-".into())
}

fn rows(r: &Metrics) -> (Vec<&'static str>, Vec<Vec<String>>) {
    let head = vec![
        r.by.name(),
        "deploys",
        "/day",
        "/week",
        "lead p50",
        "lead p90",
        "failed",
        "CFR",
        "restore p50",
        "restore p90",
    ];
    let row = |g: &Group| {
        vec![
            g.key.clone(),
            g.deployments.to_string(),
            format!("{:.2}", g.per_day),
            format!("{:.1}", g.per_week),
            opt_dur(g.lead_time.median_seconds),
            opt_dur(g.lead_time.p90_seconds),
            g.failed.to_string(),
            g.change_failure_rate
                .map(|x| format!("{:.1}%", x * 100.0))
                .unwrap_or_else(|| "-".into()),
            opt_dur(g.time_to_restore.median_seconds),
            opt_dur(g.time_to_restore.p90_seconds),
        ]
    };
    let mut out: Vec<Vec<String>> = r.groups.iter().map(row).collect();
    out.push(row(&r.total));
    (head, out)
}

fn adoption_lines(r: &Metrics) -> Vec<String> {
    let a = &r.adoption;
    let mut out = Vec::new();
    match &a.golden_version {
        None => out.push("no pctl version recorded".into()),
        Some(g) => out.push(format!(
            "golden path: pctl {g}: {} of {} service{} current, {} lagging",
            a.current,
            a.services,
            if a.services == 1 { "" } else { "s" },
            a.lagging
        )),
    }
    for v in &a.versions {
        out.push(format!(
            "{} ({}): {}",
            v.version,
            v.services.len(),
            v.services.join(", ")
        ));
    }
    out
}

fn onboarding_line(r: &Metrics) -> String {
    let o = &r.onboarding;
    format!(
        "{} service{} first deployed in the window; time to first prod deploy ({}): median {}, p90 {}; {} not in prod yet",
        o.services.len(),
        if o.services.len() == 1 { "" } else { "s" },
        r.settings.prod_environments.join(", "),
        opt_dur(o.time_to_prod.median_seconds),
        opt_dur(o.time_to_prod.p90_seconds),
        o.not_in_prod
    )
}

fn header(r: &Metrics) -> String {
    format!(
        "{} `{}`, {} .. {} ({} days), by {}",
        r.repository,
        r.branch,
        &r.window.since[..10],
        &r.window.until[..10],
        r.window.days,
        r.by.name()
    )
}

/// The terminal table.
pub fn table(r: &Metrics) -> String {
    let (head, rows) = rows(r);
    let mut widths: Vec<usize> = head.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (i, c) in row.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i == 0 {
                    format!("{c:<w$}", w = widths[i])
                } else {
                    format!("{c:>w$}", w = widths[i])
                }
            })
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let mut out = vec![format!("pctl metrics: {}", header(r)), String::new()];
    out.push(line(head.iter().map(|h| h.to_string()).collect()));
    let n = rows.len();
    for (i, row) in rows.into_iter().enumerate() {
        if i + 1 == n {
            out.push(
                widths
                    .iter()
                    .map(|w| "-".repeat(*w))
                    .collect::<Vec<_>>()
                    .join("  "),
            );
        }
        out.push(line(row));
    }
    out.push(String::new());
    const SHOWN: usize = 10;
    if r.failures.len() > SHOWN {
        out.push(format!(
            "failed deploys: the last {SHOWN} of {} (all with --format json)",
            r.failures.len()
        ));
    }
    for f in &r.failures[r.failures.len().saturating_sub(SHOWN)..] {
        out.push(format!(
            "failed: {} {} {} ({}) {}, restored {}",
            f.time,
            f.service,
            f.env,
            f.cause.name(),
            &f.commit[..12],
            f.restore_seconds
                .map(|s| format!("after {}", human_duration(s)))
                .unwrap_or_else(|| "not yet".into())
        ));
    }
    if !r.failures.is_empty() {
        out.push(String::new());
    }
    out.extend(adoption_lines(r));
    out.push(onboarding_line(r));
    let c = &r.commits;
    out.push(format!(
        "commits: {} walked: {} by pctl, {} revert{}, {} not by pctl (ignored), {} after --until",
        c.walked,
        c.pctl,
        c.reverts,
        if c.reverts == 1 { "" } else { "s" },
        c.ignored,
        c.after_until
    ));
    out.join("\n") + "\n"
}

/// Markdown for a weekly report.
pub fn markdown(r: &Metrics) -> String {
    let (head, rows) = rows(r);
    let mut out = vec![
        "## Platform metrics".to_string(),
        String::new(),
        header(r).replace('`', "**"),
        String::new(),
    ];
    out.push(format!("| {} |", head.join(" | ")));
    out.push(format!(
        "|{}|",
        head.iter()
            .enumerate()
            .map(|(i, _)| if i == 0 { " --- " } else { " ---: " })
            .collect::<String>()
            .trim_end_matches('|')
            .replace("  ", " | ")
    ));
    let n = rows.len();
    for (i, row) in rows.into_iter().enumerate() {
        let cells: Vec<String> = if i + 1 == n {
            row.into_iter().map(|c| format!("**{c}**")).collect()
        } else {
            row
        };
        out.push(format!("| {} |", cells.join(" | ")));
    }
    out.push(String::new());
    if !r.failures.is_empty() {
        out.push("### Failed deploys".into());
        out.push(String::new());
        out.push("| time | service | env | cause | commit | restored after |".into());
        out.push("| --- | --- | --- | --- | --- | ---: |".into());
        for f in &r.failures {
            out.push(format!(
                "| {} | {} | {} | {} | `{}` | {} |",
                f.time,
                f.service,
                f.env,
                f.cause.name(),
                &f.commit[..12],
                opt_dur(f.restore_seconds)
            ));
        }
        out.push(String::new());
    }
    out.push("### Adoption".into());
    out.push(String::new());
    for l in adoption_lines(r) {
        out.push(format!("- {l}"));
    }
    out.push(format!("- {}", onboarding_line(r)));
    out.join("\n") + "\n"
}

/// The `pctl.dev/metrics/v1` document.
pub fn json(r: &Metrics) -> String {
    serde_json::to_string_pretty(r).expect("metrics serialise") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_for_people() {
        assert_eq!(human_duration(90_061), "1d 1h");
        assert_eq!(human_duration(3_700), "1h 1m");
        assert_eq!(human_duration(61), "1m 1s");
        assert_eq!(human_duration(12), "12s");
    }
}
