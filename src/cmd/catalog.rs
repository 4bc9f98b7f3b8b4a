//! `pctl catalog SERVICE`: who owns a service, how to reach them, what it depends on and what
//! depends on it, its endpoints, SLA and monthly cost. Reads intents and the organisation
//! config only (no git, no rendering).

use crate::exit::{self, Report};
use crate::inputs::{Inputs, check, display};
use crate::pipeline::{fail, input_exit};
use crate::report::Format;
use pctl_core::diag::{Diagnostic, has_errors};
use pctl_core::model::Intent;
use pctl_core::validate::Checked;

pub fn run(service: &str, input: &Inputs, format: Format) -> Report {
    let run = check(input);
    if has_errors(&run.diags) {
        return fail(&run, &run.diags, input_exit(&run));
    }
    let (Some(org), Some(blueprints), intents) =
        (run.org.as_ref(), run.blueprints.as_ref(), &run.intents)
    else {
        return fail(&run, &run.diags, exit::INVALID);
    };
    let all: Vec<&Checked<Intent>> = intents.iter().map(|(_, c)| c).collect();
    let Some(found) = all.iter().find(|c| c.model.metadata.name == service) else {
        let names: Vec<&str> = all.iter().map(|c| c.model.metadata.name.as_str()).collect();
        let d = Diagnostic::error(
            "usage/unknown-service",
            format!(
                "no platform.yaml below `{}` declares a service `{service}`",
                display(&input.path)
            ),
        )
        .expected(pctl_core::diag::one_of(&names))
        .suggest(
            service,
            names.iter().copied(),
            "check the name (metadata.name), or run with --all over the organisation checkout",
        );
        return fail(&run, &[d], exit::USAGE);
    };
    let svc = pctl_core::catalog::resolve_for_catalog(
        &found.model,
        &org.model,
        &blueprints.capabilities(),
    );
    // What depends on it is only known when the run sees the whole organisation.
    let dependents = input.all.then(|| {
        pctl_core::catalog::dependents(&all)
            .remove(service)
            .unwrap_or_default()
    });
    let entry = pctl_core::catalog::entry(&svc, &org.model, dependents);
    let text = if format != Format::Json {
        pctl_core::catalog::human(&entry)
    } else {
        String::new()
    };
    Report::new(run.diags, run.sources, exit::OK)
        .summary(entry)
        .stdout(text)
}
