//! `pctl validate`: every problem of the intents and the organisation config at once. A valid
//! input is also compiled in memory (nothing written): blueprint errors, guardrails and the
//! organisation's policies are part of "is this platform.yaml OK?".

use crate::exit::{self, Report, counts, problems};
use crate::inputs::{Inputs, check};
use crate::pipeline::input_exit;
use pctl_core::diag::{has_errors, sort};
use pctl_core::model::Intent;
use pctl_core::resolve::Source;
use pctl_core::validate::Checked;

pub fn run(input: &Inputs) -> Report {
    let mut run = check(input);
    if !has_errors(&run.diags) {
        if let (Some(org), Some(blueprints)) = (&run.org, &run.blueprints) {
            let source = Source {
                repository: "validate".into(),
                sha: "0".repeat(40),
                image_tag: "validate".into(),
                // No build to know: the `image_digest` guardrail is checked where a digest
                // can be given (render, diff, publish), not here.
                image_digest: Some(format!("sha256:{}", "0".repeat(64))),
            };
            let intents: Vec<(Checked<Intent>, Source)> = run
                .intents
                .iter()
                .map(|(_, c)| (c.clone(), source.clone()))
                .collect();
            let compiled = pctl_core::compile::compile_with(
                &org.model,
                &intents,
                blueprints,
                pctl_core::compile::Options {
                    policies: run.policies.as_ref(),
                    ..pctl_core::compile::Options::NONE
                },
            );
            // A callee outside the run is unknown to validate by design: render, diff and
            // publish say so, where the address is left out.
            run.diags.extend(
                compiled
                    .diagnostics
                    .into_iter()
                    .filter(|d| d.code != "dependency/unresolved"),
            );
            sort(&mut run.diags);
        }
    }
    let (errors, warnings) = counts(&run.diags);
    let summary = serde_json::json!({"files": run.files, "services": run.intents.len(), "errors": errors, "warnings": warnings});
    let closing = if errors > 0 {
        format!(
            "error: {} (checked {} platform.yaml file{} and the organisation config)",
            problems(errors, warnings),
            run.files.saturating_sub(1),
            if run.files == 2 { "" } else { "s" }
        )
    } else {
        let w = if warnings > 0 {
            format!(" ({})", problems(0, warnings))
        } else {
            String::new()
        };
        format!(
            "ok: {} service{} valid{w}",
            run.intents.len(),
            if run.intents.len() == 1 { "" } else { "s" }
        )
    };
    let code = if errors > 0 {
        input_exit(&run)
    } else {
        exit::OK
    };
    let services = run.intents.len();
    let _ = services;
    Report::new(run.diags, run.sources, code)
        .summary(summary)
        .closing(closing)
}
