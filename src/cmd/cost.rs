//! `pctl cost`: monthly cost per service, team, environment or resource, from the
//! organisation's size catalogue and compute prices.

use crate::discover::SourceOverrides;
use crate::exit::{self, Report};
use crate::inputs::Inputs;
use crate::pipeline::{Built, build};
use crate::report::Format;
use pctl_core::diag::{Diagnostic, has_errors};
use std::fmt::Write;

/// What `pctl cost` groups by.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum By {
    Service,
    Team,
    Env,
    Resource,
}

pub fn run(input: &Inputs, by: By, format: Format) -> Report {
    // Cost does not depend on the source commit: pin it so no git repository is needed.
    let pins = SourceOverrides {
        sha: Some("0".repeat(40)),
        image_tag: Some("cost".into()),
        // Costs do not depend on the image: no `image_digest` guardrail here.
        image_digest: Some(format!("sha256:{}", "0".repeat(64))),
        review_only: false,
    };
    let input = &Inputs {
        deploy_repo: crate::inputs::DeployRepo::Unused,
        ..input.clone()
    };
    let Built {
        run,
        org,
        compiled,
        partial,
        ..
    } = match build(input, &pins, None, None) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let key = match by {
        By::Service => "service",
        By::Team => "team",
        By::Env => "env",
        By::Resource => "resource",
    };
    let groups = pctl_core::cost::by(&compiled.costs, key);
    let total = pctl_core::cost::total(&compiled.costs);
    let budget = |team: &str| org.model.team(team).and_then(|t| t.budget_usd_month);
    let mut diags = run.diags.clone();
    if matches!(by, By::Team) {
        for (team, usd) in &groups {
            if let Some(b) = budget(team).filter(|b| usd > b) {
                diags.push(
                    Diagnostic::warning("cost/over-budget", format!("team `{team}` would spend {} a month, over its budget of {}", pctl_core::cost::usd(*usd), pctl_core::cost::usd(b)))
                        .help("reduce sizes or replicas, or ask the platform team to raise the budget in pctl-org.yaml"),
                );
            }
        }
    }
    let rows: Vec<serde_json::Value> = groups
        .iter()
        .map(|(k, v)| {
            let mut row = serde_json::json!({key: k, "usd_month": v});
            if let (By::Team, Some(b)) = (by, budget(k)) {
                row["budget_usd_month"] = serde_json::json!(b);
            }
            row
        })
        .collect();
    let summary = serde_json::json!({"by": key, "total_usd_month": total, "rows": rows, "lines": compiled.costs});
    let mut out = String::new();
    match format {
        Format::Json => {}
        Format::Markdown => {
            let _ = writeln!(out, "| {key} | monthly cost |\n|---|--:|");
            for (k, v) in &groups {
                let _ = writeln!(out, "| {k} | {} |", pctl_core::cost::usd(*v));
            }
            let _ = writeln!(out, "| **total** | **{}** |", pctl_core::cost::usd(total));
        }
        _ => {
            let width = groups.keys().map(String::len).max().unwrap_or(5).max(5);
            for (k, v) in &groups {
                let extra = match (by, budget(k)) {
                    (By::Team, Some(b)) => {
                        format!("  of {} ({:.0}%)", pctl_core::cost::usd(b), v / b * 100.0)
                    }
                    _ => String::new(),
                };
                let _ = writeln!(out, "{k:<width$}  {:>14}{extra}", pctl_core::cost::usd(*v));
            }
            let _ = writeln!(
                out,
                "{:<width$}  {:>14}",
                "total",
                pctl_core::cost::usd(total)
            );
        }
    }
    let code = if partial || has_errors(&diags) {
        exit::INVALID
    } else {
        exit::OK
    };
    Report::new(diags, run.sources, code)
        .summary(summary)
        .stdout(out)
}
